//! `load` on real files in temp dirs: the values the daemon gets.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;

struct Dir(tempfile::TempDir);

impl Dir {
    fn new(files: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        for (path, content) in files {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, content).expect("write");
        }
        Dir(dir)
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.0.path().join(rel)
    }

    fn load(&self, rel: &str) -> Result<Config, ConfigErrors> {
        load(&self.path(rel))
    }
}

fn load_one(text: &str) -> Config {
    let dir = Dir::new(&[("jobs.toml", text)]);
    match dir.load("jobs.toml") {
        Ok(c) => c,
        Err(e) => panic!("should load:\n{e}"),
    }
}

/// Loads `text` as `jobs.toml` on a made-up machine where only the
/// accounts `backup` (user and group) exist and `lookup-fails` cannot be
/// looked up.
fn load_fake(text: &str, is_root: bool) -> Result<Config, ConfigErrors> {
    let dir = Dir::new(&[("jobs.toml", text)]);
    let machine = Machine::fake(is_root, |_, name| match name {
        "backup" => Ok(true),
        "lookup-fails" => Err("the directory service is down".into()),
        _ => Ok(false),
    });
    load_on(&dir.path("jobs.toml"), &machine)
}

/// `(job, key, line)` of each problem.
fn job_key_line(e: &ConfigErrors) -> Vec<(Option<&str>, Option<&str>, Option<usize>)> {
    e.items
        .iter()
        .map(|i| (i.job.as_deref(), i.key.as_deref(), i.line))
        .collect()
}

fn errors_of(text: &str) -> ConfigErrors {
    let dir = Dir::new(&[("jobs.toml", text)]);
    match dir.load("jobs.toml") {
        Ok(_) => panic!("should be refused"),
        Err(e) => e,
    }
}

#[test]
fn built_in_defaults() {
    let c = load_one("[jobs.a]\nschedule = \"@reboot\"\ncommand = \"true\"\n");
    let j = &c.jobs["a"];
    assert_eq!(j.description, "");
    assert!(j.enabled);
    assert_eq!(j.timeout, None);
    assert_eq!(j.kill_grace, Duration::from_secs(10));
    assert_eq!(j.retries, 0);
    assert_eq!(j.retry_delay, Duration::from_secs(30));
    assert_eq!(j.retry_backoff, 1.0);
    assert_eq!(j.concurrency, Concurrency::Forbid);
    assert_eq!(j.jitter, Duration::ZERO);
    assert_eq!(j.catch_up, None);
    assert_eq!((j.user.as_deref(), j.group.as_deref()), (None, None));
    assert_eq!(j.working_dir, None);
    assert!(j.env.is_empty());
    assert_eq!(j.shell, "/bin/sh");
    assert_eq!(j.output_limit, 65_536);
    assert_eq!(j.notify, None);
    assert!(!j.critical);
    assert_eq!((j.warn_after, j.expect_success_within), (None, None));
    assert_eq!(j.success_exit_codes, [0]);
    assert_eq!(j.timezone, crate::zone::Database::global().system_zone());
    assert_eq!(j.action, Action::Command(Command::Shell("true".into())));

    let d = &c.daemon;
    assert_eq!(d.listen, "127.0.0.1:9780".parse().expect("addr"));
    assert_eq!(d.log_max_size, 100 * 1024 * 1024);
    assert_eq!(d.log_keep, 10);
    assert_eq!(d.shutdown_grace, Duration::from_secs(30));
    assert_eq!(d.admin_key_file, None);
    if nix::unistd::geteuid().is_root() {
        assert_eq!(d.state_dir, Path::new("/var/lib/cronduct"));
        assert_eq!(d.log_file, Path::new("/var/log/cronduct/runs.jsonl"));
    } else {
        assert!(d.state_dir.ends_with("cronduct"), "{:?}", d.state_dir);
        assert!(d.state_dir.is_absolute());
        assert_eq!(d.log_file, d.state_dir.join("runs.jsonl"));
    }
    assert_eq!(c.smtp, None);
}

#[test]
fn defaults_apply_and_jobs_override() {
    let c = load_one(
        r#"
[smtp]
from = "cron@example.com"

[defaults]
timezone = "Asia/Tokyo"
timeout = "1h"
retries = 2
retry_delay = "5m"
retry_backoff = 2
concurrency = "allow"
shell = "/bin/bash"
output_limit = "1MiB"
stdin = "from defaults\n"
inherit_env = ["http_proxy"]
notify = { email = ["ops@example.com"] }

[jobs.inherits]
schedule = "0 2 * * *"
command = "true"

[jobs.overrides]
schedule = "0 2 * * *"
command = "true"
timezone = "UTC"
timeout = 0
retries = 0
concurrency = "replace"
stdin = ""
notify = {}
"#,
    );
    let a = &c.jobs["inherits"];
    assert_eq!(a.timezone.name(), "Asia/Tokyo");
    assert_eq!(a.timeout, Some(Duration::from_secs(3600)));
    assert_eq!(a.retries, 2);
    assert_eq!(a.retry_delay, Duration::from_secs(300));
    assert_eq!(a.retry_backoff, 2.0);
    assert_eq!(a.concurrency, Concurrency::Allow);
    assert_eq!(a.shell, "/bin/bash");
    assert_eq!(a.output_limit, 1 << 20);
    assert_eq!(a.stdin.as_deref(), Some("from defaults\n"));
    assert_eq!(a.inherit_env, ["http_proxy"]);
    assert_eq!(c.jobs["overrides"].stdin.as_deref(), Some(""));
    let notify = a.notify.as_ref().expect("notify from defaults");
    assert_eq!(notify.email, vec!["ops@example.com".to_string()]);
    assert_eq!(
        notify.on,
        NotifyOn {
            failure: true,
            ..NotifyOn::default()
        }
    );
    assert_eq!(notify.after, 1);

    let b = &c.jobs["overrides"];
    assert_eq!(b.timezone.name(), "UTC");
    assert_eq!(b.timeout, None, "timeout = 0 switches the default off");
    assert_eq!(b.retries, 0);
    assert_eq!(b.concurrency, Concurrency::Replace);
    assert_eq!(b.notify, None, "notify = {{}} switches the default off");
    assert_eq!(
        b.retry_delay,
        Duration::from_secs(300),
        "others still inherited"
    );

    let smtp = c.smtp.expect("smtp");
    assert_eq!(
        (smtp.host.as_str(), smtp.port, smtp.tls),
        ("localhost", 25, SmtpTls::None)
    );
}

#[test]
fn env_merges_defaults_then_job() {
    let c = load_one(
        r#"
[defaults]
env = { A = "from-defaults", B = "from-defaults" }

[jobs.j]
schedule = "@daily"
command = "env"
env = { B = "from-job", C = "from-job" }

[jobs.plain]
schedule = "@daily"
command = "env"
"#,
    );
    let env: Vec<(&str, EnvValue)> = c.jobs["j"]
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    assert_eq!(
        env,
        [("A", "from-defaults"), ("B", "from-job"), ("C", "from-job")]
            .map(|(k, v)| (k, EnvValue::Text(v.into())))
    );
    assert_eq!(c.jobs["plain"].env.len(), 2);
}

#[test]
fn relative_paths_resolve_against_their_file() {
    let dir = Dir::new(&[
        (
            "etc/jobs.toml",
            r#"
include = ["jobs.d/*.toml"]

[daemon]
state_dir = "state"
admin_key_file = "../secrets/admin.key"

[smtp]
username = "cron"
password_file = "smtp.pass"

[defaults]
working_dir = "work"

[jobs.main]
schedule = "@daily"
command = "pwd"
"#,
        ),
        (
            "etc/jobs.d/extra.toml",
            "[jobs.here]\nschedule = \"@daily\"\ncommand = \"pwd\"\nworking_dir = \".\"\n\n[jobs.inherited]\nschedule = \"@daily\"\ncommand = \"pwd\"\n",
        ),
    ]);
    // Loaded through a relative path from elsewhere: resolution must not
    // depend on the current directory.
    let c = dir.load("etc/jobs.toml").expect("valid");
    let etc = dir.path("etc");
    assert_eq!(c.daemon.state_dir, etc.join("state"));
    // cronduct.toml(5), FILES: the log sits in the state dir, except as root, where it
    // goes to /var/log/cronduct whatever the state dir.
    let log_file = if nix::unistd::geteuid().is_root() {
        PathBuf::from("/var/log/cronduct/runs.jsonl")
    } else {
        etc.join("state").join("runs.jsonl")
    };
    assert_eq!(c.daemon.log_file, log_file);
    assert_eq!(
        c.daemon.admin_key_file.as_deref(),
        Some(etc.join("../secrets/admin.key").as_path())
    );
    assert_eq!(
        c.smtp.expect("smtp").password_file,
        Some(etc.join("smtp.pass"))
    );
    assert_eq!(c.jobs["main"].working_dir, Some(etc.join("work")));
    assert_eq!(c.jobs["here"].working_dir, Some(etc.join("jobs.d/.")));
    // A default written in the main file is relative to the main file.
    assert_eq!(c.jobs["inherited"].working_dir, Some(etc.join("work")));
    assert_eq!(c.jobs["here"].source, etc.join("jobs.d/extra.toml"));
    assert_eq!(c.jobs["main"].source, etc.join("jobs.toml"));
}

#[test]
fn includes_files_and_watch_dirs() {
    let dir = Dir::new(&[
        (
            "jobs.toml",
            "include = [\"jobs.d/*.toml\", \"*.toml\", \"empty.d/*.toml\"]\n[jobs.a]\nschedule = \"@daily\"\ncommand = \"true\"\n",
        ),
        (
            "jobs.d/2.toml",
            "[jobs.c]\nschedule = \"@daily\"\ncommand = \"true\"\n",
        ),
        (
            "jobs.d/1.toml",
            "[jobs.b]\nschedule = \"@daily\"\ncommand = \"true\"\n",
        ),
        ("jobs.d/.#1.toml", "broken ["),
        ("jobs.d/sub.toml/x.toml", "broken ["),
    ]);
    let c = dir.load("jobs.toml").expect("valid");
    assert_eq!(
        c.files,
        [
            dir.path("jobs.toml"),
            dir.path("jobs.d/1.toml"),
            dir.path("jobs.d/2.toml"),
        ],
        "the main file once, includes in name order, dot files and folders skipped"
    );
    assert_eq!(
        c.include_dirs,
        [dir.path("jobs.d"), dir.path(""), dir.path("empty.d")]
    );
    assert_eq!(c.path, dir.path("jobs.toml"));
    assert_eq!(c.jobs.keys().collect::<Vec<_>>(), ["a", "b", "c"]);
}

#[test]
fn http_and_command_forms() {
    let c = load_one(
        r#"
[jobs.get]
schedule = "@daily"
http = { url = "http://127.0.0.1:8080/health" }

[jobs.post]
schedule = "@daily"
http = { url = "https://example.com/hook", method = "post", headers = { X-Token = "abc" }, body = "{}", expect_status = [200, 204] }

[jobs.argv]
schedule = "@daily"
command = ["/bin/echo", "a b"]
"#,
    );
    let Action::Http(get) = &c.jobs["get"].action else {
        panic!("http action")
    };
    assert_eq!(get.method, "GET");
    assert!(get.expect_status.is_empty());
    assert_eq!(get.body, "");
    let Action::Http(post) = &c.jobs["post"].action else {
        panic!("http action")
    };
    assert_eq!(post.method, "POST");
    assert_eq!(post.url, "https://example.com/hook");
    assert_eq!(post.headers["X-Token"], "abc");
    assert_eq!(post.expect_status, [200, 204]);
    assert_eq!(
        c.jobs["argv"].action,
        Action::Command(Command::Argv(vec!["/bin/echo".into(), "a b".into()]))
    );
}

#[test]
fn every_problem_is_collected_and_counted() {
    let e = errors_of(
        "[jobs.a]\nschedule = \"@daily\"\ncommand = \"\"\ntimeout = \"x\"\n\n[jobs.b]\nretries = -1\n",
    );
    // empty command, bad timeout, b: bad retries, no schedule, no action
    assert_eq!(e.errors.len(), 5, "{e}");
    assert_eq!(
        job_key_line(&e),
        [
            (Some("a"), Some("command"), Some(3)),
            (Some("a"), Some("timeout"), Some(4)),
            (Some("b"), Some("schedule"), Some(6)),
            (Some("b"), None, Some(6)),
            (Some("b"), Some("retries"), Some(7)),
        ],
        "{e}"
    );
    assert_eq!(e.items[0].col, Some(11));
    assert_eq!(e.items.len(), e.errors.len());
    assert!(e.errors.iter().all(|m| m.starts_with("error: ")));
    assert!(e.errors[0].contains("jobs.toml:3:11"), "{}", e.errors[0]);
    let text = e.to_string();
    assert!(text.contains("\n\nerror: 5 problems in "), "{text}");
    assert!(e.to_string().ends_with("; nothing was changed"));
}

/// A generated file with thousands of problems reports the first
/// [`MAX_PROBLEMS`] and says how many there were: a one-line table of
/// empty jobs would otherwise make `check` and `/health` megabytes long.
#[test]
fn only_the_first_problems_are_reported_with_the_count_of_all() {
    let jobs: Vec<String> = (0..1000).map(|i| format!("j{i:04} = {{}}")).collect();
    let e = errors_of(&format!("jobs = {{ {} }}\n", jobs.join(", ")));
    assert_eq!(e.items.len(), MAX_PROBLEMS, "{e}");
    assert_eq!(e.errors.len(), MAX_PROBLEMS);
    // Each empty job lacks a schedule and an action: two problems each.
    assert!(
        e.to_string().ends_with(&format!(
            " problems in {} (the first 100 are shown); nothing was changed",
            e.items[0].file
        )) && e.to_string().contains("error: 2000 problems in "),
        "{}",
        &e.to_string()[e.to_string().len().saturating_sub(300)..]
    );
    assert_eq!(e.items[0].job.as_deref(), Some("j0000"));
}

#[test]
fn a_user_that_exists_is_accepted() {
    let me = nix::unistd::User::from_uid(nix::unistd::getuid())
        .expect("lookup")
        .expect("current user has a passwd entry");
    let c = load_one(&format!(
        "[jobs.a]\nschedule = \"@daily\"\ncommand = \"true\"\nuser = \"{}\"\n",
        me.name
    ));
    assert_eq!(c.jobs["a"].user.as_deref(), Some(me.name.as_str()));
}

/// What a client command reads: `[daemon]` alone. A broken job elsewhere
/// does not stop it; a wrong `[daemon]` value does, whichever layer
/// finds it (a type error while reading, a bad value while validating).
#[test]
fn daemon_settings_for_clients_ignore_jobs_but_not_daemon_errors() {
    let read = |text: &str| {
        let dir = Dir::new(&[("jobs.toml", text)]);
        load_daemon_settings(&dir.path("jobs.toml"))
    };
    let broken_job = "[daemon]\nlisten = \"127.0.0.1:9999\"\n\n[jobs.x]\nschedule = 5\n";
    let settings = read(broken_job).expect("the job's error is not the client's business");
    assert_eq!(settings.listen.port(), 9999);

    for (text, key, line) in [
        (
            "[daemon]\nlisten = 9780\n\n[jobs.x]\nschedule = 5\n",
            "daemon.listen",
            2,
        ),
        (
            "[jobs.x]\nschedule = 5\n\n[daemon]\nstate_dir = 5\n",
            "daemon.state_dir",
            5,
        ),
        ("daemon = 5\n", "daemon", 1),
        ("[daemon]\nlog_keep = 0\n", "daemon.log_keep", 2),
    ] {
        let err = read(text).expect_err(text);
        assert_eq!(
            job_key_line(&err),
            [(None, Some(key), Some(line))],
            "{text:?} gave:\n{err}"
        );
    }
}

#[test]
fn root_and_users_get_their_own_default_paths() {
    let job = "[jobs.a]\nschedule = \"@daily\"\ncommand = \"true\"\n";
    let root = load_fake(job, true).expect("valid");
    assert_eq!(root.daemon.state_dir, Path::new("/var/lib/cronduct"));
    assert_eq!(
        root.daemon.log_file,
        Path::new("/var/log/cronduct/runs.jsonl")
    );
    let user = load_fake(job, false).expect("valid");
    assert_eq!(
        user.daemon.state_dir,
        Path::new("/home/test/.local/state/cronduct")
    );
    assert_eq!(
        user.daemon.log_file,
        user.daemon.state_dir.join("runs.jsonl")
    );
}

#[test]
fn the_machine_gives_the_zone_and_the_sender() {
    let c = load_fake(
        "[smtp]\n\n[jobs.a]\nschedule = \"@daily\"\ncommand = \"true\"\n",
        false,
    )
    .expect("valid");
    assert_eq!(c.jobs["a"].timezone.name(), "UTC");
    assert_eq!(c.smtp.expect("smtp").from, "cronduct@testhost");
}

#[test]
fn accounts_are_those_of_the_machine() {
    let c = load_fake(
        "[jobs.a]\nschedule = \"@daily\"\ncommand = \"true\"\nuser = \"backup\"\ngroup = \"backup\"\n",
        false,
    )
    .expect("valid");
    assert_eq!(c.jobs["a"].user.as_deref(), Some("backup"));
    assert_eq!(c.jobs["a"].group.as_deref(), Some("backup"));

    let e = load_fake(
        "[defaults]\nuser = \"nobody-here\"\n\n[jobs.a]\nschedule = \"@daily\"\ncommand = \"true\"\ngroup = \"lookup-fails\"\n",
        false,
    )
    .expect_err("unknown accounts");
    assert_eq!(
        job_key_line(&e),
        [
            (None, Some("defaults.user"), Some(2)),
            (Some("a"), Some("group"), Some(7)),
        ],
        "{e}"
    );
    assert_eq!(
        e.items[0].message,
        "[defaults], key `user`: unknown user \"nobody-here\""
    );
    assert!(
        e.items[1].message.contains("the directory service is down"),
        "{e}"
    );
}

/// Problems inside nested tables and outside any key carry what they can.
#[test]
fn items_name_nested_keys_and_missing_ones() {
    let e = errors_of(
        "[jobs.h]\nschedule = \"@daily\"\nhttp = { url = \"ftp://x\", method = 5 }\nenv = { \"A=B\" = \"x\" }\n\n[jobs.n]\ncommand = \"true\"\n\n[jobs.n.notify]\nafter = 0\nwebhook = \"https://example.com\"\n",
    );
    assert_eq!(
        job_key_line(&e),
        [
            (Some("h"), Some("http.url"), Some(3)),
            (Some("h"), Some("http.method"), Some(3)),
            (Some("h"), Some("env"), Some(4)),
            (Some("n"), Some("schedule"), Some(6)),
            (Some("n"), Some("notify.after"), Some(10)),
        ],
        "{e}"
    );
    assert!(e.items.iter().all(|i| i.file.ends_with("jobs.toml")));
    assert_eq!(
        e.items[0].help.as_deref(),
        Some("an absolute http:// or https:// URL, like \"http://127.0.0.1:8080/health\"")
    );
}

/// The default each job setting's row states is what a job gets when the
/// key is not written: writing the stated value changes nothing. Rows
/// whose default is a behaviour rather than a value ("none", "the
/// daemon's own user") are not values to write.
#[test]
fn stated_defaults_are_the_built_in_ones() {
    let base = "[jobs.a]\nschedule = \"@daily\"\ncommand = \"true\"\n";
    let unset = load_fake(base, false).expect("valid").jobs["a"]
        .as_ref()
        .clone();
    let mut checked = Vec::new();
    for key in keys::RawSettings::KEYS {
        let keys::Unset::Default(value) = key.unset else {
            continue;
        };
        if value.contains(' ') || matches!(value, "none" | "off" | "empty") {
            continue;
        }
        let quoted = matches!(key.kind, "a string" | "a duration" | "a size")
            && !value.bytes().all(|b| b.is_ascii_digit());
        let line = if quoted {
            format!("{} = \"{value}\"\n", key.name)
        } else {
            format!("{} = {value}\n", key.name)
        };
        let written = load_fake(&format!("{base}{line}"), false)
            .unwrap_or_else(|e| panic!("{line}: {e}"))
            .jobs["a"]
            .as_ref()
            .clone();
        let source = unset.source.clone();
        assert_eq!(Job { source, ..written }, unset, "{line}");
        checked.push(key.name);
    }
    assert_eq!(
        checked,
        [
            "enabled",
            "kill_grace",
            "retries",
            "retry_delay",
            "retry_backoff",
            "concurrency",
            "jitter",
            "shell",
            "output_limit",
            "output_max_size",
            "critical",
            "success_exit_codes",
            "run_on",
        ]
    );
}

/// The keys of job health and alerts (cronduct.toml(5), JOBS and
/// NOTIFICATIONS): read, inherited from `[defaults]`, switched off there
/// with 0, and the webhook's table form with its headers.
#[test]
fn health_keys_and_webhook_tables_load() {
    let dir = Dir::new(&[(
        "etc/jobs.toml",
        r#"
[defaults]
critical = true
warn_after = "20m"
success_exit_codes = [0, 3]
notify = { ping = "https://hc-ping.com/abc" }

[jobs.inherits]
schedule = "@daily"
command = "true"

[jobs.own]
schedule = "@daily"
command = "true"
critical = false
warn_after = 0
expect_success_within = "25h"
success_exit_codes = [1]

[jobs.own.notify]
on = ["slow", "overdue", "missed", "skipped"]
webhook = { url = "https://hooks.slack.com/services/T/B/X", format = "slack", headers = { X-Title = "cron", Authorization = { file = "secrets/hook.token" }, X-Abs = { file = "/etc/cronduct/t" } } }

[jobs.string_hook]
schedule = "@daily"
command = "true"
notify = { webhook = "https://example.com/hook" }
"#,
    )]);
    // Neither token file exists: check only resolves the path, the
    // daemon reads the secret when it sends.
    let c = dir.load("etc/jobs.toml").unwrap_or_else(|e| panic!("{e}"));
    let a = &c.jobs["inherits"];
    assert!(a.critical);
    assert_eq!(a.warn_after, Some(Duration::from_secs(20 * 60)));
    assert_eq!(a.expect_success_within, None);
    assert_eq!(a.success_exit_codes, [0, 3]);
    assert_eq!(
        a.notify,
        Some(Notify {
            email: Vec::new(),
            webhook: None,
            ping: Some("https://hc-ping.com/abc".into()),
            on: NotifyOn {
                failure: true,
                ..NotifyOn::default()
            },
            after: 1,
        }),
        "a notify table with only ping is valid"
    );

    let b = &c.jobs["own"];
    assert!(!b.critical);
    assert_eq!(
        b.warn_after, None,
        "warn_after = 0 switches the default off"
    );
    assert_eq!(
        b.expect_success_within,
        Some(Duration::from_secs(25 * 3600))
    );
    assert_eq!(b.success_exit_codes, [1]);
    let notify = b.notify.as_ref().expect("own notify");
    assert_eq!(notify.ping, None, "the job's notify replaces the default's");
    assert_eq!(
        notify.on,
        NotifyOn {
            slow: true,
            overdue: true,
            missed: true,
            skipped: true,
            ..NotifyOn::default()
        }
    );
    let headers = [
        (
            "Authorization",
            HeaderValue::File(dir.path("etc/secrets/hook.token")),
        ),
        ("X-Abs", HeaderValue::File("/etc/cronduct/t".into())),
        ("X-Title", HeaderValue::Text("cron".into())),
    ];
    assert_eq!(
        notify.webhook,
        Some(Webhook {
            url: "https://hooks.slack.com/services/T/B/X".into(),
            format: WebhookFormat::Slack,
            headers: headers
                .into_iter()
                .map(|(name, value)| (name.to_string(), value))
                .collect(),
        })
    );
    assert_eq!(
        c.jobs["string_hook"]
            .notify
            .as_ref()
            .and_then(|n| n.webhook.clone()),
        Some(Webhook::json("https://example.com/hook"))
    );
}

/// Each bad value of the health keys and of the webhook table is one
/// problem at its own place, with the key named as data, and every one is
/// reported.
#[test]
fn health_keys_and_webhook_tables_refuse_bad_values() {
    let e = errors_of(
        r#"[defaults]
notify = { webhook = { url = "https://example.com/hook", format = "teems" } }

[jobs.codes]
schedule = "@daily"
command = "true"
success_exit_codes = []
critical = "yes"
warn_after = "5x"

[jobs.range]
schedule = "@daily"
command = "true"
success_exit_codes = [0, 256, -1]
expect_success_within = -5

[jobs.hook]
schedule = "@daily"
command = "true"
[jobs.hook.notify]
ping = "hc-ping.com/abc"
on = ["failure", "slo"]
webhook = { format = "slak", headers = { "Bad Header" = "x", X-Token = { fil = "t" }, X-Empty = { file = "" }, X-Num = 5, X-Bare = {} } }

[jobs.typed]
schedule = "@daily"
command = "true"
notify = { webhook = 5 }
"#,
    );
    assert_eq!(
        job_key_line(&e),
        [
            (None, Some("defaults.notify.webhook.format"), Some(2)),
            (Some("codes"), Some("success_exit_codes"), Some(7)),
            (Some("codes"), Some("critical"), Some(8)),
            (Some("codes"), Some("warn_after"), Some(9)),
            (Some("range"), Some("success_exit_codes"), Some(14)),
            (Some("range"), Some("success_exit_codes"), Some(14)),
            (Some("range"), Some("expect_success_within"), Some(15)),
            (Some("hook"), Some("notify.ping"), Some(21)),
            (Some("hook"), Some("notify.on"), Some(22)),
            (Some("hook"), Some("notify.webhook"), Some(23)),
            (Some("hook"), Some("notify.webhook.format"), Some(23)),
            (Some("hook"), Some("notify.webhook.headers"), Some(23)),
            (Some("hook"), Some("notify.webhook.headers"), Some(23)),
            (Some("hook"), Some("notify.webhook.headers"), Some(23)),
            (Some("hook"), Some("notify.webhook.headers"), Some(23)),
            (Some("hook"), Some("notify.webhook.headers"), Some(23)),
            (Some("typed"), Some("notify.webhook"), Some(28)),
        ],
        "{e}"
    );
    let messages: Vec<(&str, Option<&str>)> = e
        .items
        .iter()
        .map(|i| (i.message.as_str(), i.help.as_deref()))
        .collect();
    assert_eq!(messages[0].1, Some("did you mean \"teams\"?"));
    assert_eq!(
        messages[1].0,
        "job `codes`, key `success_exit_codes`: empty list"
    );
    assert_eq!(
        messages[4].0,
        "job `range`, key `success_exit_codes`: 256 is not an exit code"
    );
    assert!(messages[7].0.contains("malformed URL"), "{e}");
    assert_eq!(messages[8].1, Some("did you mean \"slow\"?"));
    assert_eq!(
        messages[9].0,
        "job `hook`, key `notify.webhook`: missing `url`"
    );
    assert_eq!(messages[10].1, Some("did you mean \"slack\"?"));
    assert_eq!(
        messages[11].0,
        "job `hook`, key `notify.webhook.headers.Bad Header`: invalid header name"
    );
    assert_eq!(
        messages[12],
        (
            "job `hook`: unknown key `notify.webhook.headers.X-Token.fil`",
            Some("did you mean `notify.webhook.headers.X-Token.file`?")
        )
    );
    assert_eq!(
        messages[13].0,
        "job `hook`, key `notify.webhook.headers.X-Empty`: not a usable path"
    );
    assert_eq!(
        messages[14].0,
        "job `hook`, key `notify.webhook.headers.X-Num`: expected a string or a file, found a whole number"
    );
    assert_eq!(
        messages[15].0,
        "job `hook`, key `notify.webhook.headers.X-Bare`: missing `file`"
    );
    assert_eq!(
        messages[16].0,
        "job `typed`, key `notify.webhook`: expected a URL string or a table, found a whole number"
    );
    assert!(
        messages[16]
            .1
            .is_some_and(|h| h.starts_with("for example: webhook = ")),
        "{e}"
    );
}

#[test]
fn inherit_env_names_are_variable_names() {
    let e = errors_of(
        "[jobs.a]\nschedule = \"@daily\"\ncommand = \"true\"\ninherit_env = [\"OK\", \"A=B\", \"\"]\n",
    );
    assert_eq!(e.errors.len(), 2, "{e}");
    assert_eq!(
        job_key_line(&e),
        [
            (Some("a"), Some("inherit_env"), Some(4)),
            (Some("a"), Some("inherit_env"), Some(4)),
        ]
    );
    assert!(
        e.to_string().contains("invalid variable name \"A=B\""),
        "{e}"
    );
}

/// Every duration key and the backoff factor are bounded, with an error
/// that names the limit, so no accepted value can overflow the clock.
#[test]
fn durations_and_factors_beyond_the_limits_are_refused() {
    let huge = "9223372036854775807";
    let cases: &[(&str, &str)] = &[
        ("timeout", huge),
        ("kill_grace", huge),
        ("jitter", huge),
        ("retry_delay", huge),
        ("timeout", "\"3651d\""),
        ("jitter", "\"100000h\""),
    ];
    for (key, value) in cases {
        let e = errors_of(&format!(
            "[jobs.a]\nschedule = \"@daily\"\ncommand = \"true\"\n{key} = {value}\n"
        ));
        assert_eq!(job_key_line(&e), [(Some("a"), Some(*key), Some(4))], "{e}");
        assert!(e.to_string().contains("limit of 3650d"), "{e}");
    }
    let e = errors_of("[daemon]\nshutdown_grace = 9223372036854775807\n");
    assert!(e.to_string().contains("shutdown_grace"), "{e}");
    assert!(e.to_string().contains("limit of 3650d"), "{e}");
    for backoff in ["1e300", "100.5"] {
        let e = errors_of(&format!(
            "[jobs.a]\nschedule = \"@daily\"\ncommand = \"true\"\nretry_delay = 0\nretry_backoff = {backoff}\n"
        ));
        assert!(e.to_string().contains("limit of 100"), "{e}");
    }
    // The limits themselves are accepted.
    let c = load_one(
        "[jobs.a]\nschedule = \"@daily\"\ncommand = \"true\"\ntimeout = \"3650d\"\n\
         retry_backoff = 100\n",
    );
    assert_eq!(
        c.jobs["a"].timeout,
        Some(Duration::from_secs(3650 * 86_400))
    );
}

/// `env` values read from files or credentials, and `env_file` with its
/// optional `-` prefix: relative paths resolve against the file that
/// says them, and `[defaults]` merges like text values.
#[test]
fn env_values_from_files_and_env_files() {
    let dir = Dir::new(&[(
        "etc/jobs.toml",
        r#"
[defaults]
env = { FROM_DEFAULTS = { credential = "shared" }, OVERRIDDEN = { file = "x" } }
env_file = ["/etc/app.env"]

[jobs.a]
schedule = "@daily"
command = "true"
env = { TOKEN = { file = "secrets/token" }, OVERRIDDEN = "text", ABS = { file = "/run/t" } }
env_file = ["app.env", "-/etc/cronduct/local.env"]

[jobs.b]
schedule = "@daily"
command = "true"
"#,
    )]);
    let c = dir.load("etc/jobs.toml").unwrap_or_else(|e| panic!("{e}"));
    let a = &c.jobs["a"];
    assert_eq!(
        a.env,
        [
            ("ABS", EnvValue::File("/run/t".into())),
            ("FROM_DEFAULTS", EnvValue::Credential("shared".into())),
            ("OVERRIDDEN", EnvValue::Text("text".into())),
            ("TOKEN", EnvValue::File(dir.path("etc/secrets/token"))),
        ]
        .map(|(k, v)| (k.to_string(), v))
        .into()
    );
    assert_eq!(
        a.env_file,
        [
            EnvFile {
                path: dir.path("etc/app.env"),
                optional: false
            },
            EnvFile {
                path: "/etc/cronduct/local.env".into(),
                optional: true
            },
        ]
    );
    // A job without its own list takes the one of [defaults].
    assert_eq!(
        c.jobs["b"].env_file,
        [EnvFile {
            path: "/etc/app.env".into(),
            optional: false
        }]
    );
}

#[test]
fn env_sources_are_checked() {
    let e = errors_of(
        r#"[jobs.a]
schedule = "@daily"
command = "true"
env = { A = { credential = "../x" }, B = { file = "" }, C = { file = "x", credential = "y" }, D = { path = "x" }, E = 5, F = {} }
env_file = [""]
"#,
    );
    let text = e.to_string();
    for want in [
        "key `env.A.credential`: not a credential name",
        "key `env.B.file`: not a usable path",
        "key `env.C`: write one of `file` and `credential`",
        "unknown key `env.D.path`",
        "key `env.E`: expected a string, a file or a credential, found a whole number",
        "key `env.F`: write one of `file` and `credential`",
        "key `env_file`: not a usable path",
    ] {
        assert!(text.contains(want), "{want:?} missing in:\n{text}");
    }
    assert_eq!(e.errors.len(), 7, "{text}");
}
