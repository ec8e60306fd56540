//! The raw layer: one file's TOML tree, with every key checked against the
//! keys SPEC §2 defines and every value against its expected type. Spans
//! are kept on everything a later error may point at.
//!
//! It does not judge values (durations, schedules, zones, users…): that is
//! `validate`. The tree is walked by hand rather than derived with serde
//! because serde stops at the first unknown key or bad type of a table,
//! and `cronduct check` must report every problem at once.

use std::ops::Range;

use toml::Spanned;
use toml::de::{DeString, DeTable, DeValue};

use super::diagnostic::{Diagnostic, FileId, suggest};

/// A value and the byte range it came from.
pub(crate) type Sp<T> = Spanned<T>;

pub(crate) const TOP_KEYS: &[&str] = &["include", "daemon", "smtp", "defaults", "jobs"];
const DAEMON_KEYS: &[&str] = &[
    "listen",
    "admin_key_file",
    "state_dir",
    "log_file",
    "log_max_size",
    "log_keep",
    "shutdown_grace",
];
const SMTP_KEYS: &[&str] = &["host", "port", "tls", "from", "username", "password_file"];
/// The two actions come first so `[defaults]` can offer the rest.
pub(crate) const JOB_KEYS: &[&str] = &[
    "command",
    "http",
    "schedule",
    "description",
    "enabled",
    "timezone",
    "timeout",
    "kill_grace",
    "retries",
    "retry_delay",
    "retry_backoff",
    "concurrency",
    "jitter",
    "catch_up",
    "user",
    "group",
    "working_dir",
    "env",
    "shell",
    "output_limit",
    "notify",
];
const HTTP_KEYS: &[&str] = &["url", "method", "headers", "body", "expect_status"];
const NOTIFY_KEYS: &[&str] = &["email", "webhook", "on", "after"];

/// A correct way to write `key`, shown as help when its value has the wrong
/// type, so the user sees what would be valid rather than a type name.
pub(crate) fn example(key: &str) -> Option<&'static str> {
    Some(match key {
        "include" => r#"include = ["jobs.d/*.toml"]"#,
        "listen" => r#"listen = "127.0.0.1:9780""#,
        "admin_key_file" => r#"admin_key_file = "/etc/cronduct/admin.key""#,
        "state_dir" => r#"state_dir = "/var/lib/cronduct""#,
        "log_file" => r#"log_file = "/var/log/cronduct/runs.jsonl""#,
        "log_max_size" => r#"log_max_size = "100MiB""#,
        "log_keep" => "log_keep = 10",
        "shutdown_grace" => r#"shutdown_grace = "30s""#,
        "host" => r#"host = "localhost""#,
        "port" => "port = 25",
        "tls" => r#"tls = "starttls""#,
        "from" => r#"from = "cronduct@myhost""#,
        "username" => r#"username = "cronduct""#,
        "password_file" => r#"password_file = "/etc/cronduct/smtp.pass""#,
        "schedule" => r#"schedule = "0 2 * * *""#,
        "command" => r#"command = "backup.sh --full" or command = ["/usr/bin/backup", "--full"]"#,
        "http" => r#"http = { url = "http://127.0.0.1:8080/health" }"#,
        "description" => r#"description = "Nightly backup""#,
        "enabled" => "enabled = false",
        "timezone" => r#"timezone = "Europe/Berlin""#,
        "timeout" => r#"timeout = "30m""#,
        "kill_grace" => r#"kill_grace = "10s""#,
        "retries" => "retries = 3",
        "retry_delay" => r#"retry_delay = "30s""#,
        "retry_backoff" => "retry_backoff = 2.0",
        "concurrency" => r#"concurrency = "forbid""#,
        "jitter" => r#"jitter = "5m""#,
        "catch_up" => r#"catch_up = "1h""#,
        "user" => r#"user = "backup""#,
        "group" => r#"group = "backup""#,
        "working_dir" => r#"working_dir = "/srv/app""#,
        "env" => r#"env = { PGHOST = "db1" }"#,
        "shell" => r#"shell = "/bin/bash""#,
        "output_limit" => r#"output_limit = "64KiB""#,
        "notify" => r#"notify = { email = ["admin@example.com"], on = ["failure"] }"#,
        "http.url" => r#"url = "http://127.0.0.1:8080/health""#,
        "http.method" => r#"method = "POST""#,
        "http.headers" => r#"headers = { Authorization = "Bearer abc" }"#,
        "http.body" => r#"body = "{\"ping\": true}""#,
        "http.expect_status" => "expect_status = [200, 204]",
        "notify.email" => r#"email = ["admin@example.com"]"#,
        "notify.webhook" => r#"webhook = "https://hooks.example.com/cron""#,
        "notify.on" => r#"on = ["failure", "recovery"]"#,
        "notify.after" => "after = 3",
        _ => return None,
    })
}

/// Where in the configuration a table sits, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Scope {
    Top,
    Daemon,
    Smtp,
    Defaults,
    Job(String),
}

impl Scope {
    /// The table, e.g. "job `backup`" or "[daemon]".
    pub fn name(&self) -> String {
        match self {
            Scope::Top => "the top level".to_string(),
            Scope::Daemon => "[daemon]".to_string(),
            Scope::Smtp => "[smtp]".to_string(),
            Scope::Defaults => "[defaults]".to_string(),
            Scope::Job(id) => format!("job `{id}`"),
        }
    }

    /// A key of the table, e.g. "job `backup`, key `timeout`".
    pub fn key(&self, key: &str) -> String {
        match self {
            Scope::Top => format!("key `{key}`"),
            _ => format!("{}, key `{key}`", self.name()),
        }
    }
}

/// A duration or size, written either as text (`"90s"`, `"64KiB"`) or as
/// a bare integer (seconds, bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Amount {
    Text(String),
    Number(i64),
}

#[derive(Debug, Default)]
pub(crate) struct RawDaemon {
    pub listen: Option<Sp<String>>,
    pub admin_key_file: Option<Sp<String>>,
    pub state_dir: Option<Sp<String>>,
    pub log_file: Option<Sp<String>>,
    pub log_max_size: Option<Sp<Amount>>,
    pub log_keep: Option<Sp<i64>>,
    pub shutdown_grace: Option<Sp<Amount>>,
}

#[derive(Debug, Default)]
pub(crate) struct RawSmtp {
    pub host: Option<Sp<String>>,
    pub port: Option<Sp<i64>>,
    pub tls: Option<Sp<String>>,
    pub from: Option<Sp<String>>,
    pub username: Option<Sp<String>>,
    pub password_file: Option<Sp<String>>,
}

#[derive(Debug)]
pub(crate) enum RawCommand {
    Shell(String),
    Argv(Vec<Sp<String>>),
}

#[derive(Debug, Default)]
pub(crate) struct RawHttp {
    pub url: Option<Sp<String>>,
    pub method: Option<Sp<String>>,
    pub headers: Vec<(Sp<String>, Sp<String>)>,
    pub body: Option<Sp<String>>,
    pub expect_status: Option<Vec<Sp<i64>>>,
}

#[derive(Debug, Default)]
pub(crate) struct RawNotify {
    pub email: Option<Sp<Vec<Sp<String>>>>,
    pub webhook: Option<Sp<String>>,
    pub on: Option<Sp<Vec<Sp<String>>>>,
    pub after: Option<Sp<i64>>,
}

/// A job table, or `[defaults]` (which has no action).
#[derive(Debug)]
pub(crate) struct RawJob {
    pub file: FileId,
    pub scope: Scope,
    /// Whether `schedule` was written at all, and where the `command` and
    /// `http` keys are, even with a bad type, so a type error is not also
    /// reported as missing.
    pub has_schedule: bool,
    pub command_key: Option<Range<usize>>,
    pub http_key: Option<Range<usize>>,
    pub schedule: Option<Sp<String>>,
    pub command: Option<Sp<RawCommand>>,
    pub http: Option<Sp<RawHttp>>,
    pub description: Option<Sp<String>>,
    pub enabled: Option<Sp<bool>>,
    pub timezone: Option<Sp<String>>,
    pub timeout: Option<Sp<Amount>>,
    pub kill_grace: Option<Sp<Amount>>,
    pub retries: Option<Sp<i64>>,
    pub retry_delay: Option<Sp<Amount>>,
    pub retry_backoff: Option<Sp<f64>>,
    pub concurrency: Option<Sp<String>>,
    pub jitter: Option<Sp<Amount>>,
    pub catch_up: Option<Sp<Amount>>,
    pub user: Option<Sp<String>>,
    pub group: Option<Sp<String>>,
    pub working_dir: Option<Sp<String>>,
    pub env: Vec<(Sp<String>, Sp<String>)>,
    pub shell: Option<Sp<String>>,
    pub output_limit: Option<Sp<Amount>>,
    pub notify: Option<Sp<RawNotify>>,
}

impl RawJob {
    fn new(file: FileId, scope: Scope) -> Self {
        RawJob {
            file,
            scope,
            has_schedule: false,
            command_key: None,
            http_key: None,
            schedule: None,
            command: None,
            http: None,
            description: None,
            enabled: None,
            timezone: None,
            timeout: None,
            kill_grace: None,
            retries: None,
            retry_delay: None,
            retry_backoff: None,
            concurrency: None,
            jitter: None,
            catch_up: None,
            user: None,
            group: None,
            working_dir: None,
            env: Vec::new(),
            shell: None,
            output_limit: None,
            notify: None,
        }
    }
}

/// One file's content, every value of the expected type.
#[derive(Debug, Default)]
pub(crate) struct RawFile {
    pub include: Vec<Sp<String>>,
    pub daemon: Option<RawDaemon>,
    /// Where the `daemon` table is in the text: its header and every key
    /// and value in it.
    pub daemon_span: Option<Range<usize>>,
    pub smtp: Option<RawSmtp>,
    pub defaults: Option<RawJob>,
    /// Jobs with their id (the table key) and its span.
    pub jobs: Vec<(Sp<String>, RawJob)>,
}

/// Parses `text` and checks keys and types. The main file may hold every
/// top-level key; an include (`included_from` names the main file) only
/// `[jobs.*]`, so that a drop-in can never change the daemon, the mail
/// server or the defaults every other file relies on.
///
/// Returns `None` when the text is not valid TOML: what a broken document
/// would mean is a guess, so its problems are only the syntax errors.
/// The text a value covers. A `[table]` value's own span is its header
/// only, so its keys and values are added.
fn extent(value: &Sp<DeValue<'_>>) -> Range<usize> {
    let mut range = value.span();
    if let DeValue::Table(table) = value.get_ref() {
        for (k, v) in table {
            range.start = range.start.min(k.span().start);
            range.end = range.end.max(v.span().end);
        }
    }
    range
}

pub(crate) fn read_file(
    file: FileId,
    text: &str,
    included_from: Option<&str>,
    diags: &mut Vec<Diagnostic>,
) -> Option<RawFile> {
    let (doc, errors) = DeTable::parse_recoverable(text);
    if !errors.is_empty() {
        for e in errors {
            let message = format!("invalid TOML: {}", e.message().replace('\n', "; "));
            let d = match e.span() {
                Some(span) => Diagnostic::at(file, span, message),
                None => Diagnostic::whole_file(file, message),
            };
            diags.push(if e.message().starts_with("duplicate key") {
                d.help("a key, and a [table], may appear only once in a file")
            } else {
                d
            });
        }
        return None;
    }
    let mut raw = RawFile::default();
    let mut r = Reader {
        file,
        scope: Scope::Top,
        diags,
    };
    for (key, value) in doc.get_ref() {
        let name: &str = key.get_ref();
        if let (Some(main), "include" | "daemon" | "smtp" | "defaults") = (included_from, name) {
            r.diags.push(
                Diagnostic::at(
                    file,
                    key.span(),
                    format!("`{name}` is only allowed in the main file"),
                )
                .help(format!(
                    "an included file holds only [jobs.*] tables; move `{name}` to {main}"
                )),
            );
            continue;
        }
        match name {
            "include" => {
                if let Some(list) = r.string_list("include", value) {
                    raw.include = list.into_inner();
                }
            }
            "daemon" => {
                raw.daemon_span = Some(extent(value));
                raw.daemon = r.table("daemon", value).map(|t| read_daemon(&mut r, t));
            }
            "smtp" => raw.smtp = r.table("smtp", value).map(|t| read_smtp(&mut r, t)),
            "defaults" => {
                if let Some(t) = r.table("defaults", value) {
                    let mut job = RawJob::new(file, Scope::Defaults);
                    read_job(&mut r.with_scope(Scope::Defaults), t, &mut job);
                    raw.defaults = Some(job);
                }
            }
            "jobs" => {
                let Some(jobs) = r.table("jobs", value) else {
                    continue;
                };
                for (id, body) in jobs {
                    let id = Sp::new(id.span(), id.get_ref().to_string());
                    let scope = Scope::Job(id.get_ref().clone());
                    let mut job_reader = r.with_scope(scope.clone());
                    let Some(t) = body.get_ref().as_table() else {
                        job_reader.diags.push(
                            Diagnostic::at(
                                file,
                                body.span(),
                                format!(
                                    "{}: expected a table of job settings, found {}",
                                    scope.name(),
                                    found(body.get_ref())
                                ),
                            )
                            .help(format!(
                                "write [jobs.{}] followed by `schedule = …` and `command = …` lines",
                                id.get_ref()
                            )),
                        );
                        continue;
                    };
                    let mut job = RawJob::new(file, scope);
                    read_job(&mut job_reader, t, &mut job);
                    raw.jobs.push((id, job));
                }
            }
            _ => r.unknown(key, "", TOP_KEYS),
        }
    }
    Some(raw)
}

fn read_daemon(r: &mut Reader<'_>, table: &DeTable<'_>) -> RawDaemon {
    let mut r = r.with_scope(Scope::Daemon);
    let mut d = RawDaemon::default();
    for (key, v) in table {
        match key.get_ref().as_ref() {
            "listen" => d.listen = r.string("listen", v),
            "admin_key_file" => d.admin_key_file = r.string("admin_key_file", v),
            "state_dir" => d.state_dir = r.string("state_dir", v),
            "log_file" => d.log_file = r.string("log_file", v),
            "log_max_size" => d.log_max_size = r.amount("log_max_size", v, "a size"),
            "log_keep" => d.log_keep = r.integer("log_keep", v),
            "shutdown_grace" => d.shutdown_grace = r.amount("shutdown_grace", v, "a duration"),
            _ => r.unknown(key, "", DAEMON_KEYS),
        }
    }
    d
}

fn read_smtp(r: &mut Reader<'_>, table: &DeTable<'_>) -> RawSmtp {
    let mut r = r.with_scope(Scope::Smtp);
    let mut s = RawSmtp::default();
    for (key, v) in table {
        match key.get_ref().as_ref() {
            "host" => s.host = r.string("host", v),
            "port" => s.port = r.integer("port", v),
            "tls" => s.tls = r.string("tls", v),
            "from" => s.from = r.string("from", v),
            "username" => s.username = r.string("username", v),
            "password_file" => s.password_file = r.string("password_file", v),
            _ => r.unknown(key, "", SMTP_KEYS),
        }
    }
    s
}

fn read_job(r: &mut Reader<'_>, table: &DeTable<'_>, job: &mut RawJob) {
    let defaults = job.scope == Scope::Defaults;
    for (key, v) in table {
        let name: &str = key.get_ref();
        match name {
            "command" | "http" if defaults => r.diags.push(
                Diagnostic::at(
                    r.file,
                    key.span(),
                    format!("[defaults], key `{name}`: the action cannot have a default"),
                )
                .help("give each job its own `command` or `http`"),
            ),
            "schedule" => {
                job.has_schedule = true;
                job.schedule = r.string("schedule", v);
            }
            "command" => {
                job.command_key = Some(key.span());
                job.command = r.command(v);
            }
            "http" => {
                job.http_key = Some(key.span());
                job.http = r
                    .table("http", v)
                    .map(|t| Sp::new(v.span(), read_http(r, t)))
            }
            "description" => job.description = r.string("description", v),
            "enabled" => job.enabled = r.boolean("enabled", v),
            "timezone" => job.timezone = r.string("timezone", v),
            "timeout" => job.timeout = r.amount("timeout", v, "a duration"),
            "kill_grace" => job.kill_grace = r.amount("kill_grace", v, "a duration"),
            "retries" => job.retries = r.integer("retries", v),
            "retry_delay" => job.retry_delay = r.amount("retry_delay", v, "a duration"),
            "retry_backoff" => job.retry_backoff = r.number("retry_backoff", v),
            "concurrency" => job.concurrency = r.string("concurrency", v),
            "jitter" => job.jitter = r.amount("jitter", v, "a duration"),
            "catch_up" => job.catch_up = r.amount("catch_up", v, "a duration"),
            "user" => job.user = r.string("user", v),
            "group" => job.group = r.string("group", v),
            "working_dir" => job.working_dir = r.string("working_dir", v),
            "env" => job.env = r.string_map("env", v).unwrap_or_default(),
            "shell" => job.shell = r.string("shell", v),
            "output_limit" => job.output_limit = r.amount("output_limit", v, "a size"),
            "notify" => {
                job.notify = r
                    .table("notify", v)
                    .map(|t| Sp::new(v.span(), read_notify(r, t)))
            }
            _ if defaults => r.unknown(key, "", &JOB_KEYS[2..]),
            _ => r.unknown(key, "", JOB_KEYS),
        }
    }
}

fn read_http(r: &mut Reader<'_>, table: &DeTable<'_>) -> RawHttp {
    let mut h = RawHttp::default();
    for (key, v) in table {
        match key.get_ref().as_ref() {
            "url" => h.url = r.string("http.url", v),
            "method" => h.method = r.string("http.method", v),
            "headers" => h.headers = r.string_map("http.headers", v).unwrap_or_default(),
            "body" => h.body = r.string("http.body", v),
            "expect_status" => h.expect_status = r.integer_list("http.expect_status", v),
            _ => r.unknown(key, "http.", HTTP_KEYS),
        }
    }
    h
}

fn read_notify(r: &mut Reader<'_>, table: &DeTable<'_>) -> RawNotify {
    let mut n = RawNotify::default();
    for (key, v) in table {
        match key.get_ref().as_ref() {
            "email" => n.email = r.string_list("notify.email", v),
            "webhook" => n.webhook = r.string("notify.webhook", v),
            "on" => n.on = r.string_list("notify.on", v),
            "after" => n.after = r.integer("notify.after", v),
            _ => r.unknown(key, "notify.", NOTIFY_KEYS),
        }
    }
    n
}

/// How a value's type is named to the user.
fn found(v: &DeValue<'_>) -> &'static str {
    match v {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "a whole number",
        DeValue::Float(_) => "a decimal number",
        DeValue::Boolean(_) => "true/false",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

/// Type checks for one table; every failure becomes a diagnostic and the
/// value `None`, so reading goes on.
struct Reader<'d> {
    file: FileId,
    scope: Scope,
    diags: &'d mut Vec<Diagnostic>,
}

impl Reader<'_> {
    fn with_scope(&mut self, scope: Scope) -> Reader<'_> {
        Reader {
            file: self.file,
            scope,
            diags: &mut *self.diags,
        }
    }

    fn type_error(&mut self, key: &str, span: Range<usize>, expected: &str, got: &DeValue<'_>) {
        let d = Diagnostic::at(
            self.file,
            span,
            format!(
                "{}: expected {expected}, found {}",
                self.scope.key(key),
                found(got)
            ),
        )
        .help_opt(example(key).map(|e| format!("for example: {e}")));
        self.diags.push(d);
    }

    fn unknown(&mut self, key: &Sp<DeString<'_>>, prefix: &str, valid: &[&str]) {
        let name: &str = key.get_ref();
        let what = match self.scope {
            Scope::Top => format!("unknown top-level key `{name}`"),
            _ => format!("{}: unknown key `{prefix}{name}`", self.scope.name()),
        };
        // A job setting written above the first table, or meant for every
        // job, is pointed to where it belongs.
        let job_key = match self.scope {
            Scope::Top => suggest(name, JOB_KEYS),
            _ => None,
        };
        let help = match (suggest(name, valid), job_key) {
            (Some(near), _) => format!("did you mean `{prefix}{near}`?"),
            (None, Some(job_key)) => format!(
                "`{job_key}` is a job setting: put it in [defaults] or in a [jobs.ID] table"
            ),
            (None, None) => format!("valid keys here: {}", valid.join(", ")),
        };
        self.diags
            .push(Diagnostic::at(self.file, key.span(), what).help(help));
    }

    fn string(&mut self, key: &str, v: &Sp<DeValue<'_>>) -> Option<Sp<String>> {
        match v.get_ref() {
            DeValue::String(s) => Some(Sp::new(v.span(), s.to_string())),
            other => {
                self.type_error(key, v.span(), "a string", other);
                None
            }
        }
    }

    fn boolean(&mut self, key: &str, v: &Sp<DeValue<'_>>) -> Option<Sp<bool>> {
        match v.get_ref() {
            DeValue::Boolean(b) => Some(Sp::new(v.span(), *b)),
            other => {
                self.type_error(key, v.span(), "true or false", other);
                None
            }
        }
    }

    fn integer(&mut self, key: &str, v: &Sp<DeValue<'_>>) -> Option<Sp<i64>> {
        match v.get_ref() {
            DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
                Ok(n) => Some(Sp::new(v.span(), n)),
                Err(_) => {
                    self.diags.push(Diagnostic::at(
                        self.file,
                        v.span(),
                        format!("{}: number too large", self.scope.key(key)),
                    ));
                    None
                }
            },
            other => {
                self.type_error(key, v.span(), "a whole number", other);
                None
            }
        }
    }

    /// A float, or an integer taken as one (`retry_backoff = 2`).
    fn number(&mut self, key: &str, v: &Sp<DeValue<'_>>) -> Option<Sp<f64>> {
        match v.get_ref() {
            DeValue::Float(f) => match f.as_str().parse::<f64>() {
                Ok(x) => Some(Sp::new(v.span(), x)),
                Err(_) => {
                    self.diags.push(Diagnostic::at(
                        self.file,
                        v.span(),
                        format!("{}: not a number", self.scope.key(key)),
                    ));
                    None
                }
            },
            DeValue::Integer(_) => self
                .integer(key, v)
                .map(|n| Sp::new(n.span(), *n.get_ref() as f64)),
            other => {
                self.type_error(key, v.span(), "a number", other);
                None
            }
        }
    }

    /// A duration or size: text, or a bare integer of seconds or bytes.
    fn amount(&mut self, key: &str, v: &Sp<DeValue<'_>>, what: &str) -> Option<Sp<Amount>> {
        match v.get_ref() {
            DeValue::String(s) => Some(Sp::new(v.span(), Amount::Text(s.to_string()))),
            DeValue::Integer(_) => self
                .integer(key, v)
                .map(|n| Sp::new(n.span(), Amount::Number(*n.get_ref()))),
            other => {
                self.type_error(key, v.span(), what, other);
                None
            }
        }
    }

    fn table<'v, 'i>(&mut self, key: &str, v: &'v Sp<DeValue<'i>>) -> Option<&'v DeTable<'i>> {
        match v.get_ref() {
            DeValue::Table(t) => Some(t),
            other => {
                self.type_error(key, v.span(), "a table", other);
                None
            }
        }
    }

    fn array<'v, 'i>(
        &mut self,
        key: &str,
        v: &'v Sp<DeValue<'i>>,
        expected: &str,
    ) -> Option<&'v [Sp<DeValue<'i>>]> {
        match v.get_ref() {
            DeValue::Array(a) => Some(a.as_ref()),
            other => {
                self.type_error(key, v.span(), expected, other);
                None
            }
        }
    }

    /// An array of strings. A bad element is reported and the rest kept.
    fn string_list(&mut self, key: &str, v: &Sp<DeValue<'_>>) -> Option<Sp<Vec<Sp<String>>>> {
        let items = self.array(key, v, "an array of strings")?;
        let list = items
            .iter()
            .filter_map(|item| self.string(key, item))
            .collect();
        Some(Sp::new(v.span(), list))
    }

    fn integer_list(&mut self, key: &str, v: &Sp<DeValue<'_>>) -> Option<Vec<Sp<i64>>> {
        let items = self.array(key, v, "an array of whole numbers")?;
        Some(
            items
                .iter()
                .filter_map(|item| self.integer(key, item))
                .collect(),
        )
    }

    /// A table whose values are all strings (`env`, `headers`).
    fn string_map(
        &mut self,
        key: &str,
        v: &Sp<DeValue<'_>>,
    ) -> Option<Vec<(Sp<String>, Sp<String>)>> {
        let table = self.table(key, v)?;
        let mut out = Vec::with_capacity(table.len());
        for (name, value) in table {
            let name = Sp::new(name.span(), name.get_ref().to_string());
            match value.get_ref() {
                DeValue::String(s) => out.push((name, Sp::new(value.span(), s.to_string()))),
                other => {
                    let d = Diagnostic::at(
                        self.file,
                        value.span(),
                        format!(
                            "{}: expected a string, found {}",
                            self.scope.key(&format!("{key}.{}", name.get_ref())),
                            found(other)
                        ),
                    )
                    .help(format!(
                        "values here are text; quote it: {} = \"{}\"",
                        name.get_ref(),
                        match other {
                            DeValue::Integer(i) => i.to_string(),
                            DeValue::Float(f) => f.as_str().to_string(),
                            DeValue::Boolean(b) => b.to_string(),
                            _ => "…".to_string(),
                        }
                    ));
                    self.diags.push(d);
                }
            }
        }
        Some(out)
    }

    fn command(&mut self, v: &Sp<DeValue<'_>>) -> Option<Sp<RawCommand>> {
        match v.get_ref() {
            DeValue::String(s) => Some(Sp::new(v.span(), RawCommand::Shell(s.to_string()))),
            DeValue::Array(items) => {
                let argv = items
                    .iter()
                    .filter_map(|item| self.string("command", item))
                    .collect();
                Some(Sp::new(v.span(), RawCommand::Argv(argv)))
            }
            other => {
                self.type_error(
                    "command",
                    v.span(),
                    "a string or an array of strings",
                    other,
                );
                None
            }
        }
    }
}
