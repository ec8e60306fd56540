//! Every configuration key, defined once.
//!
//! Each table of the file is one [`keys!`] block, and each key one row:
//! its name, its kind (how its value is read), what happens when it is not
//! written, an example and a one-line summary. The block generates the
//! raw struct the reader fills, the reader's dispatch, the known-key lists
//! that "did you mean" and "valid keys here" draw on, and the rows
//! [`keys()`] lists for the examples in type errors and for the check of
//! cronduct.toml(5) in `tests/man_pages.rs`. The job settings block also
//! names each key's model type and its check, and generates the
//! validated [`Settings`], the merge of `[defaults]` into a job, and the
//! copy of the merged values into the [`Job`](super::Job).
//!
//! Adding a job key: one row here, its field (and default) in
//! [`Job`](super::Job), and its check in `validate` if no existing check
//! fits. The page cronduct.toml(5) must document it, with its default.
//!
//! This module decides what keys exist; what their values may be is
//! `validate`'s business, and how text becomes values `raw`'s.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::zone::Zone;
use toml::de::DeValue;

use super::model::{Concurrency, EnvFile, EnvValue, Notify, RunOn};
use super::raw::{Kind, Reader, Sp, kind};
use crate::schedule::Schedule;

/// A table of the file, as a key's home.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// Above the first `[table]` header.
    Top,
    Daemon,
    /// A `[[daemon.keys]]` entry: one API key and its role.
    ApiKey,
    Smtp,
    /// `[cluster]`: the database and this node's name.
    Cluster,
    /// `[defaults]`: every job setting, no action.
    Defaults,
    /// `[jobs.ID]`.
    Job,
    /// A job's `http = { … }`.
    Http,
    /// A job's or `[defaults]`' `notify = { … }`.
    Notify,
    /// `notify.webhook = { … }`, the table form of the webhook.
    Webhook,
}

/// What a key is when it is not written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unset {
    /// It must be written (for the action: one of `command` and `http`).
    Required,
    /// This value or behaviour, as cronduct.toml(5) states it after
    /// `Default:`.
    Default(&'static str),
}

/// One configuration key.
#[derive(Debug)]
pub struct Key {
    /// The name as written in its table, like `url` in `http = { url = … }`.
    pub name: &'static str,
    /// The name as messages say it, like `http.url`.
    pub path: &'static str,
    /// The table it is written in.
    pub table: Table,
    /// The kind of value, as type errors say it: "a duration".
    pub kind: &'static str,
    pub unset: Unset,
    /// A correct line, shown as help when the value has the wrong type.
    pub example: &'static str,
    /// What it does, in one line.
    pub doc: &'static str,
}

/// Every key of every table, in the order of the file's reference.
pub fn keys() -> impl Iterator<Item = &'static Key> {
    [
        TOP,
        RawDaemon::KEYS,
        RawApiKey::KEYS,
        RawSmtp::KEYS,
        RawCluster::KEYS,
        RawAction::KEYS,
        RawSettings::KEYS,
        RawHttp::KEYS,
        RawNotify::KEYS,
        RawWebhook::KEYS,
    ]
    .into_iter()
    .flatten()
}

/// The example for the key messages call `path` in a table of `scope`.
pub(crate) fn example(scope: Table, path: &str) -> Option<&'static str> {
    let nested = |t: Table| match t {
        Table::Http => Table::Job,
        Table::ApiKey => Table::Daemon,
        Table::Notify | Table::Webhook | Table::Job => scope,
        other => other,
    };
    keys()
        .find(|k| k.path == path && (k.table == scope || nested(k.table) == scope))
        .map(|k| k.example)
}

/// The keys a job table may hold, actions first so that `[defaults]`
/// (which takes the rest) reads as a slice of it.
pub(crate) fn job_key_names() -> Vec<&'static str> {
    [RawAction::NAMES, RawSettings::NAMES].concat()
}

/// The top-level keys that are not tables.
const TOP: &[Key] = &[
    Key {
        name: "include",
        path: "include",
        table: Table::Top,
        kind: <kind::TextList as Kind>::WHAT,
        unset: Unset::Default("none"),
        example: r#"include = ["jobs.d/*.toml"]"#,
        doc: "glob patterns of further files that hold [jobs.*] tables",
    },
    Key {
        name: "crontabs",
        path: "crontabs",
        table: Table::Top,
        kind: "an array of paths or { path, user } tables",
        unset: Unset::Default("none"),
        example: r#"crontabs = ["/etc/crontab", "/etc/cron.d/*"]"#,
        doc: "crontab files read in place, as cron reads them",
    },
];

/// Everything that may be written at the top level, for "did you mean".
pub(crate) const TOP_KEYS: &[&str] = &[
    "include", "crontabs", "daemon", "smtp", "cluster", "defaults", "jobs",
];

/// Declares the keys of one table. For each struct: the raw struct with
/// one `Option` field per key, its `KEYS` rows and `NAMES`, and `read`,
/// which stores a key's value (type-checked by its kind) and says whether
/// the key belongs to the table.
macro_rules! keys {
    ($(
        $(#[$meta:meta])*
        struct $raw:ident in $table:ident, prefix $prefix:literal {
            $(
                $field:ident: $kind:ident, $unset:expr,
                example $example:literal,
                $doc:literal;
            )*
        }
    )*) => {$(
        $(#[$meta])*
        #[derive(Debug, Default)]
        pub(crate) struct $raw {
            $( pub $field: Option<<kind::$kind as Kind>::Raw>, )*
        }

        impl $raw {
            pub(crate) const KEYS: &[Key] = &[$(
                Key {
                    name: stringify!($field),
                    path: concat!($prefix, stringify!($field)),
                    table: Table::$table,
                    kind: <kind::$kind as Kind>::WHAT,
                    unset: $unset,
                    example: $example,
                    doc: $doc,
                },
            )*];

            pub(crate) const NAMES: &[&str] = &[$( stringify!($field) ),*];

            /// Reads the value of `key` into its field; `false` when this
            /// table has no such key.
            pub(crate) fn read(
                &mut self,
                r: &mut Reader<'_>,
                key: &str,
                v: &Sp<DeValue<'_>>,
            ) -> bool {
                match key {
                    $( stringify!($field) => {
                        self.$field = <kind::$kind as Kind>::read(
                            r,
                            concat!($prefix, stringify!($field)),
                            v,
                        );
                    } )*
                    _ => return false,
                }
                true
            }
        }
    )*};
}

// Rows read `Default("10s")` and `Required`; nothing here names the
// `Default` trait, which this shadows.
use Unset::{Default, Required};

keys! {
    /// `[daemon]`.
    struct RawDaemon in Daemon, prefix "" {
        listen: Text, Default("127.0.0.1:9780"),
            example r#"listen = "127.0.0.1:9780""#,
            "address and port of the admin HTTP API";
        admin_key_file: Text, Default("none"),
            example r#"admin_key_file = "/etc/cronduct/admin.key""#,
            "a file holding the admin API key";
        state_dir: Text, Default("/var/lib/cronduct"),
            example r#"state_dir = "/var/lib/cronduct""#,
            "where pause flags, last scheduled times and the generated key are kept";
        log_file: Text, Default("/var/log/cronduct/runs.jsonl"),
            example r#"log_file = "/var/log/cronduct/runs.jsonl""#,
            "the execution log";
        log_max_size: Size, Default("100MiB"),
            example r#"log_max_size = "100MiB""#,
            "the size at which the execution log is rotated";
        log_keep: Integer, Default("10"),
            example "log_keep = 10",
            "how many rotated logs to keep";
        output: Text, Default("files"),
            example r#"output = "files""#,
            "where the whole output of each attempt is kept: files, journal (the default under systemd), or tail for the record's tails only";
        output_keep: Duration, Default("14d"),
            example r#"output_keep = "14d""#,
            "how long output files are kept";
        shutdown_grace: Duration, Default("30s"),
            example r#"shutdown_grace = "30s""#,
            "how long running jobs get to finish on SIGTERM";
        managed_dir: Text, Default("none"),
            example r#"managed_dir = "jobs.d/managed""#,
            "a folder of job files the admin API writes (PUT /api/v1/jobs/ID), included automatically";
        managed_users: TextList, Default("none"),
            example r#"managed_users = ["app"]"#,
            "the accounts a job written over the API may run as, when the daemon runs as root";
        keys: ApiKeys, Default("none"),
            example r#"[[daemon.keys]] with name = "ci", file = "/etc/cronduct/ci.key", role = "operate""#,
            "further API keys, each with a name and a role, written as [[daemon.keys]] tables";
    }

    /// One `[[daemon.keys]]` entry.
    struct RawApiKey in ApiKey, prefix "keys." {
        name: Text, Required,
            example r#"name = "ci""#,
            "the key's name, which logs and answers show instead of the key";
        file: Text, Required,
            example r#"file = "/etc/cronduct/ci.key""#,
            "a file holding the key, re-read at each reload";
        role: Text, Required,
            example r#"role = "operate""#,
            "read, operate or admin";
    }

    /// `[smtp]`.
    struct RawSmtp in Smtp, prefix "" {
        host: Text, Default("localhost"),
            example r#"host = "localhost""#,
            "the mail server";
        port: Integer, Default("25"),
            example "port = 25",
            "the mail server's port";
        tls: Text, Default("none"),
            example r#"tls = "starttls""#,
            "none, starttls or tls";
        from: Text, Default("cronduct@hostname"),
            example r#"from = "cronduct@myhost""#,
            "the sender address";
        username: Text, Default("none"),
            example r#"username = "cronduct""#,
            "the user name for SMTP authentication";
        password_file: Text, Default("none"),
            example r#"password_file = "/etc/cronduct/smtp.pass""#,
            "a file holding the SMTP password, read at each send";
    }

    /// `[cluster]`: several daemons on one PostgreSQL database.
    struct RawCluster in Cluster, prefix "" {
        database: Text, Default("database_file, else env CRONDUCT_DATABASE_URL"),
            example r#"database = "postgres://cronduct@db.internal/cronduct?sslmode=verify-full""#,
            "the PostgreSQL URL the nodes share";
        database_file: Text, Default("none"),
            example r#"database_file = "/etc/cronduct/database.url""#,
            "a file holding the database URL (a secret), read at start";
        node: Text, Default("the host name"),
            example r#"node = "web1""#,
            "this node's name, unique in the cluster";
        heartbeat: Duration, Default("5s"),
            example r#"heartbeat = "5s""#,
            "how often the node tells the database it is alive";
        node_timeout: Duration, Default("30s"),
            example r#"node_timeout = "30s""#,
            "a node silent this long is gone and its runs are lost";
    }

    /// A job's action: exactly one of the two, never in `[defaults]`.
    struct RawAction in Job, prefix "" {
        command: Command, Required,
            example r#"command = "backup.sh --full" or command = ["/usr/bin/backup", "--full"]"#,
            "a shell command line, or a program and its arguments";
        http: Http, Required,
            example r#"http = { url = "http://127.0.0.1:8080/health" }"#,
            "an HTTP request";
    }

    /// A job's `http = { … }`.
    struct RawHttp in Http, prefix "http." {
        url: Text, Required,
            example r#"url = "http://127.0.0.1:8080/health""#,
            "an absolute http or https URL";
        method: Text, Default("GET"),
            example r#"method = "POST""#,
            "the request method";
        headers: TextMap, Default("none"),
            example r#"headers = { Authorization = "Bearer abc" }"#,
            "header names and values";
        body: Text, Default("empty"),
            example r#"body = "{\"ping\": true}""#,
            "the request body";
        expect_status: IntegerList, Default("any 2xx status"),
            example "expect_status = [200, 204]",
            "the response statuses that count as success";
        result: Flag, Default("false"),
            example "result = true",
            "take the JSON response body as the run's result";
    }

    /// `notify = { … }`, in a job or in `[defaults]`.
    struct RawNotify in Notify, prefix "notify." {
        email: TextList, Default("none"),
            example r#"email = ["admin@example.com"]"#,
            "addresses to mail (needs [smtp])";
        webhook: Webhook, Default("none"),
            example r#"webhook = "https://hooks.example.com/cron" or webhook = { url = "https://hooks.slack.com/services/…", format = "slack" }"#,
            "a URL, or a table with its format and headers, that receives a POST of each notice";
        ping: Text, Default("none"),
            example r#"ping = "https://hc-ping.com/your-check-uuid""#,
            "a healthchecks.io check URL, pinged at each run's start and end";
        on: TextList, Default("failure"),
            example r#"on = ["failure", "recovery"]"#,
            "which outcomes send a notice";
        after: Integer, Default("1"),
            example "after = 3",
            "failed runs in a row before the first failure notice";
    }

    /// `notify.webhook = { … }`.
    struct RawWebhook in Webhook, prefix "notify.webhook." {
        url: Text, Required,
            example r#"url = "https://hooks.example.com/cron""#,
            "an absolute http or https URL";
        format: Text, Default("json"),
            example r#"format = "slack""#,
            "the body: json, slack, discord, teams or ntfy";
        headers: HeaderMap, Default("none"),
            example r#"headers = { Authorization = { file = "/etc/cronduct/hook.token" } }"#,
            "extra request headers; a value is a string or { file = \"/path\" }";
    }
}

/// Declares the job settings: the keys of `[jobs.ID]` and `[defaults]`
/// other than the action. Each row adds, to what [`keys!`] generates, the
/// type of the [`Job`](super::Job) field of the same name, the
/// `Validator` method that turns the raw value into it, and optionally
/// how a job's value combines with the `[defaults]` one (else the job's
/// replaces it). It generates [`Settings`], `Settings::check`,
/// `Settings::inherit` and `Settings::apply`.
macro_rules! settings {
    (
        $(#[$meta:meta])*
        struct $raw:ident {
            $(
                $field:ident: $kind:ident => $ty:ty, check $check:ident $(merge $merge:path)?,
                $unset:expr,
                example $example:literal,
                $doc:literal;
            )*
        }
    ) => {
        keys! {
            $(#[$meta])*
            struct $raw in Job, prefix "" {
                $( $field: $kind, $unset, example $example, $doc; )*
            }
        }

        /// One table's validated settings (a job's or `[defaults]'`),
        /// each `None` when not written or not valid (already reported).
        #[derive(Debug, Default, Clone)]
        pub(crate) struct Settings {
            $( pub $field: Option<$ty>, )*
        }

        impl Settings {
            /// Checks every value written in `raw`.
            pub(crate) fn check(
                v: &mut super::validate::Validator<'_>,
                file: super::diagnostic::FileId,
                scope: &super::raw::Scope,
                raw: &$raw,
            ) -> Settings {
                Settings {
                    $( $field: raw.$field.as_ref().and_then(|value| {
                        v.$check(file, scope, stringify!($field), value)
                    }), )*
                }
            }

            /// A job's settings with `[defaults]` filled in.
            pub(crate) fn inherit(self, defaults: &Settings) -> Settings {
                Settings {
                    $( $field: merge!($($merge)?)(self.$field, &defaults.$field), )*
                }
            }

            /// `job` with every setting that is `Some` here.
            pub(crate) fn apply(self, job: super::Job) -> super::Job {
                super::Job {
                    $( $field: self.$field.unwrap_or(job.$field), )*
                    ..job
                }
            }
        }
    };
}

/// The merge a settings row names, else: the job's value wins.
macro_rules! merge {
    () => {
        or_defaults
    };
    ($merge:path) => {
        $merge
    };
}

/// The job's value when written, else the `[defaults]` one.
fn or_defaults<T: Clone>(own: Option<T>, defaults: &Option<T>) -> Option<T> {
    own.or_else(|| defaults.clone())
}

/// `env`: the `[defaults]` variables, then the job's, which win.
fn extend<K: Ord + Clone, V: Clone>(
    own: Option<BTreeMap<K, V>>,
    defaults: &Option<BTreeMap<K, V>>,
) -> Option<BTreeMap<K, V>> {
    match (own, defaults) {
        (Some(own), Some(defaults)) => {
            let mut merged = defaults.clone();
            merged.extend(own);
            Some(merged)
        }
        (own, defaults) => own.or_else(|| defaults.clone()),
    }
}

settings! {
    /// The settings of a job table or of `[defaults]`.
    struct RawSettings {
        schedule: Text => Schedule, check schedule, Required,
            example r#"schedule = "0 2 * * *""#,
            "when to run: a cron expression or a macro";
        description: Text => String, check text, Default("empty"),
            example r#"description = "Nightly backup""#,
            "free text shown by `cronduct jobs` and the API";
        enabled: Flag => bool, check flag, Default("true"),
            example "enabled = false",
            "false keeps the job defined but never schedules it";
        timezone: Text => Zone, check timezone,
            Default("the [defaults] value, else the system's zone"),
            example r#"timezone = "Europe/Berlin""#,
            "the IANA time zone the schedule is read in";
        timeout: Duration => Option<Duration>, check duration_or_off, Default("none"),
            example r#"timeout = "30m""#,
            "an attempt still running after this long is killed";
        kill_grace: Duration => Duration, check duration, Default("10s"),
            example r#"kill_grace = "10s""#,
            "the delay between SIGTERM and SIGKILL";
        retries: Integer => u32, check retries, Default("0"),
            example "retries = 3",
            "extra attempts after a failed, timed-out or unstartable one";
        retry_delay: Duration => Duration, check duration, Default("30s"),
            example r#"retry_delay = "30s""#,
            "the wait before the first retry";
        retry_backoff: Number => f64, check retry_backoff, Default("1.0"),
            example "retry_backoff = 2.0",
            "the factor each further retry delay grows by";
        concurrency: Text => Concurrency, check concurrency, Default("forbid"),
            example r#"concurrency = "forbid""#,
            "forbid, allow or replace a run while one is active";
        jitter: Duration => Duration, check duration, Default("0"),
            example r#"jitter = "5m""#,
            "a random delay in [0, jitter) added to each scheduled start";
        catch_up: Duration => Option<Duration>, check duration_or_off, Default("off"),
            example r#"catch_up = "1h""#,
            "after downtime, run once if a time within this window was missed";
        user: Text => Option<String>, check user, Default("the daemon's own user"),
            example r#"user = "backup""#,
            "the account the command runs as";
        group: Text => Option<String>, check group, Default("the primary group of user"),
            example r#"group = "backup""#,
            "the primary group the command runs with";
        working_dir: Text => Option<PathBuf>, check working_dir,
            Default("the job user's home directory"),
            example r#"working_dir = "/srv/app""#,
            "the folder the command starts in";
        env: EnvMap => BTreeMap<String, EnvValue>, check env merge extend,
            Default("none"),
            example r#"env = { PGHOST = "db1", PGPASSWORD = { credential = "pgpass" } }"#,
            "extra environment variables, merged over those of [defaults]; a value may be read from a file or a credential";
        env_file: TextList => Vec<EnvFile>, check env_file, Default("none"),
            example r#"env_file = ["/etc/cronduct/app.env", "-/etc/cronduct/local.env"]"#,
            "files of NAME=value lines read at each start (systemd EnvironmentFile syntax; - prefix: optional)";
        inherit_env: TextList => Vec<String>, check inherit_env, Default("none"),
            example r#"inherit_env = ["http_proxy", "AWS_REGION"]"#,
            "variables copied from the daemon's environment when set there";
        shell: Text => String, check shell, Default("/bin/sh"),
            example r#"shell = "/bin/bash""#,
            "the shell that runs string commands with -c";
        output_limit: Size => usize, check output_limit, Default("64KiB"),
            example r#"output_limit = "64KiB""#,
            "bytes of stdout and of stderr kept per attempt";
        output_max_size: Size => u64, check output_max_size, Default("10MiB"),
            example r#"output_max_size = "10MiB""#,
            "the largest output file of one attempt: its first and last halves are kept";
        notify: Notify => Option<Notify>, check notify, Default("none"),
            example r#"notify = { email = ["admin@example.com"], on = ["failure"] }"#,
            "who hears about which outcomes";
        critical: Flag => bool, check flag, Default("false"),
            example "critical = true",
            "failing or overdue, the job turns /health degraded";
        warn_after: Duration => Option<Duration>, check duration_or_off, Default("none"),
            example r#"warn_after = "20m""#,
            "a run still going after this long is slow: logged and notified once";
        expect_success_within: Duration => Option<Duration>, check duration_or_off,
            Default("none"),
            example r#"expect_success_within = "25h""#,
            "no successful run for this long makes the job overdue";
        success_exit_codes: IntegerList => Vec<i32>, check exit_codes, Default("[0]"),
            example "success_exit_codes = [0, 3]",
            "the exit codes that count as success for commands";
        stdin: Text => Option<String>, check stdin, Default("none"),
            example r#"stdin = "yes\n""#,
            "text fed to the command's standard input";
        run_on: Text => RunOn, check run_on, Default("one"),
            example r#"run_on = "all""#,
            "with [cluster]: one node runs each instant, or all of them do";
    }
}
