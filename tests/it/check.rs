//! `cronduct check` as a user runs it: the real binary on real files in a
//! temp dir. Error output is snapshotted (tests/it/snapshots/), since people
//! read it; paths in it are relative to the temp dir, so the snapshots are
//! the same on every machine.

use std::path::Path;
use std::process::Command;

use insta::assert_snapshot;

struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Writes `files` (path, content) into a fresh temp dir and runs
/// `cronduct check -c <config>` there, in UTC and with a private state dir.
fn check_in(files: &[(&str, &str)], config: &str, extra: &[&str]) -> Outcome {
    let dir = tempfile::tempdir().expect("temp dir");
    for (path, content) in files {
        let path = dir.path().join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create folder");
        }
        std::fs::write(&path, content).expect("write config");
    }
    run_check(dir.path(), config, extra)
}

fn run_check(dir: &Path, config: &str, extra: &[&str]) -> Outcome {
    let out = Command::new(env!("CARGO_BIN_EXE_cronduct"))
        .arg("check")
        .arg("-c")
        .arg(config)
        .args(extra)
        .current_dir(dir)
        .env("TZ", "UTC")
        .env("XDG_STATE_HOME", dir.join("state"))
        .env_remove("CRONDUCT_CONFIG")
        .output()
        .expect("run cronduct");
    Outcome {
        code: out.status.code().expect("exit code"),
        stdout: String::from_utf8(out.stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(out.stderr).expect("utf-8 stderr"),
    }
}

fn check(config: &str) -> Outcome {
    check_in(&[("jobs.toml", config)], "jobs.toml", &[])
}

/// Runs `check` on an invalid config and returns what it printed to
/// stderr, after asserting it failed properly.
fn errors(config: &str) -> String {
    let out = check(config);
    assert_eq!(out.code, 1, "should be invalid; stdout:\n{}", out.stdout);
    assert_eq!(out.stdout, "", "nothing on stdout when invalid");
    out.stderr
}

/// The wording of schedule errors belongs to the schedule parser; here
/// only the location, job, key and help are checked, so the text after
/// "key `schedule`: " is replaced.
fn redact_schedule_errors(stderr: &str) -> String {
    stderr
        .lines()
        .map(|line| match line.find("key `schedule`: ") {
            Some(i) if line.starts_with("error: ") => {
                format!("{}[schedule error]", &line[..i + "key `schedule`: ".len()])
            }
            _ => line.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn unknown_keys_suggest_the_near_name() {
    assert_snapshot!(errors(
        r#"
timout = "1h"

[daemon]
listn = "127.0.0.1:9780"

[jobs.backup]
schedule = "0 2 * * *"
comand = "backup.sh"
http = { url = "http://127.0.0.1/", methd = "POST" }
notify = { webhook = "http://127.0.0.1/hook", onn = ["failure"] }
frobnicate = true
"#
    ));
}

#[test]
fn bad_types_say_what_would_be_valid() {
    assert_snapshot!(errors(
        r#"
[jobs.backup]
schedule = 5
command = "backup.sh"
retries = "3"
enabled = "yes"
timeout = 1.5
env = { PORT = 8080 }
"#
    ));
}

#[test]
fn bad_schedule_points_at_the_value() {
    assert_snapshot!(redact_schedule_errors(&errors(
        r#"
[jobs.backup]
schedule = "61 * * * *"
command = "backup.sh"
"#
    )));
}

/// The wording depends on the schedule parser (redacted); what matters
/// here is that a schedule that can never fire is refused at its place.
#[test]
fn schedule_that_never_fires_is_refused() {
    assert_snapshot!(redact_schedule_errors(&errors(
        r#"
[jobs.leap]
schedule = "0 0 30 2 *"
command = "echo never"
"#
    )));
}

#[test]
fn unknown_time_zone_suggests_near_names() {
    assert_snapshot!(errors(
        r#"
[defaults]
timezone = "Europe/Berln"

[jobs.backup]
schedule = "0 2 * * *"
timezone = "Santo_Domingo"
command = "backup.sh"

[jobs.other]
schedule = "0 3 * * *"
timezone = "Mars/Olympus_Mons"
command = "true"
"#
    ));
}

/// A 1 MB `timezone` is refused at once and with no "did you mean": far
/// longer than any zone name, it cannot be a misspelling of one. (The
/// search used to compare it with every zone name: minutes.)
#[test]
fn a_huge_time_zone_is_refused_fast_without_a_suggestion() {
    let config = format!(
        "[jobs.a]\nschedule = \"0 0 * * *\"\ncommand = \"true\"\ntimezone = \"{}\"\n",
        "y".repeat(1 << 20)
    );
    let started = std::time::Instant::now();
    let stderr = errors(&config);
    let took = started.elapsed();
    assert!(
        took < std::time::Duration::from_secs(10),
        "check took {took:?}"
    );
    assert!(
        stderr.contains("unknown time zone"),
        "{}",
        &stderr[..200.min(stderr.len())]
    );
    assert!(!stderr.contains("did you mean"));
}

#[test]
fn a_job_needs_exactly_one_action() {
    assert_snapshot!(errors(
        r#"
[jobs.nothing]
schedule = "0 2 * * *"

[jobs.both]
schedule = "0 2 * * *"
command = "backup.sh"
http = { url = "http://127.0.0.1:8080/health" }
"#
    ));
}

#[test]
fn schedule_is_required() {
    assert_snapshot!(errors(
        r#"
[jobs.backup]
command = "backup.sh"
"#
    ));
}

#[test]
fn job_ids_are_checked() {
    assert_snapshot!(errors(
        r#"
[jobs."has space"]
schedule = "@daily"
command = "true"

[jobs._hidden]
schedule = "@daily"
command = "true"

[jobs.x1234567890123456789012345678901234567890123456789012345678901234]
schedule = "@daily"
command = "true"
"#
    ));
}

#[test]
fn duplicate_id_across_files_names_both() {
    let out = check_in(
        &[
            (
                "conf/jobs.toml",
                "include = [\"jobs.d/*.toml\"]\n\n[jobs.backup]\nschedule = \"@daily\"\ncommand = \"true\"\n",
            ),
            (
                "conf/jobs.d/a.toml",
                "[jobs.cleanup]\nschedule = \"@daily\"\ncommand = \"true\"\n",
            ),
            (
                "conf/jobs.d/b.toml",
                "# second copy\n[jobs.cleanup]\nschedule = \"@hourly\"\ncommand = \"true\"\n\n[jobs.backup]\nschedule = \"@hourly\"\ncommand = \"true\"\n",
            ),
        ],
        "conf/jobs.toml",
        &[],
    );
    assert_eq!(out.code, 1);
    assert_snapshot!(out.stderr);
}

#[test]
fn unknown_user_and_group() {
    assert_snapshot!(errors(
        r#"
[defaults]
group = "no-such-group-cronduct"

[jobs.backup]
schedule = "@daily"
command = "true"
user = "no-such-user-cronduct"

[jobs.again]
schedule = "@daily"
command = "true"
user = "no-such-user-cronduct"
"#
    ));
}

#[test]
fn email_needs_smtp() {
    assert_snapshot!(errors(
        r#"
[jobs.backup]
schedule = "@daily"
command = "true"
notify = { email = ["admin@example.com"], on = ["failure", "recovery"] }
"#
    ));
}

#[test]
fn malformed_urls() {
    assert_snapshot!(errors(
        r#"
[jobs.relative]
schedule = "@daily"
http = { url = "/health" }

[jobs.ftp]
schedule = "@daily"
http = { url = "ftp://example.com/file", method = "GET" }

[jobs.hook]
schedule = "@daily"
command = "true"
notify = { webhook = "http://exa mple.com/hook" }

[jobs.no-url]
schedule = "@daily"
http = { method = "POST" }
"#
    ));
}

#[test]
fn bad_durations_and_sizes() {
    assert_snapshot!(errors(
        r#"
[daemon]
log_max_size = "100XB"
shutdown_grace = "30 seconds"

[jobs.backup]
schedule = "@daily"
command = "true"
timeout = "30m1h"
retry_delay = -5
jitter = "5x"
output_limit = "lots"
"#
    ));
}

#[test]
fn retries_backoff_and_concurrency() {
    assert_snapshot!(errors(
        r#"
[jobs.negative]
schedule = "@daily"
command = "true"
retries = -1
retry_backoff = 0.5
concurrency = "forbidd"

[jobs.words]
schedule = "@daily"
command = "true"
retries = "three"
retry_backoff = "double"
concurrency = "queue"
"#
    ));
}

#[test]
fn empty_commands() {
    assert_snapshot!(errors(
        r#"
[jobs.blank]
schedule = "@daily"
command = "   "

[jobs.no-argv]
schedule = "@daily"
command = []

[jobs.no-program]
schedule = "@daily"
command = ["", "--flag"]
"#
    ));
}

#[test]
fn notify_settings() {
    assert_snapshot!(errors(
        r#"
[smtp]
from = "not an address"
tls = "startls"

[jobs.backup]
schedule = "@daily"
command = "true"
notify = { email = ["admin"], on = ["failure", "recover"], after = 0 }

[jobs.nowhere]
schedule = "@daily"
command = "true"
notify = { on = ["success"] }
"#
    ));
}

/// The health keys and the webhook's table form: a near name for a
/// format, a bad header name or file value, an empty list of exit codes,
/// a malformed ping URL.
#[test]
fn health_and_webhook_settings() {
    assert_snapshot!(errors(
        r#"
[jobs.backup]
schedule = "@daily"
command = "backup.sh"
success_exit_codes = []
warn_after = "20min"

[jobs.backup.notify]
ping = "hc-ping.com/5f2c"
on = ["failure", "overdu"]
webhook = { url = "https://hooks.slack.com/services/T/B/X", format = "slak", headers = { "X Token" = "a", Authorization = { path = "token" } } }
"#
    ));
}

#[test]
fn daemon_settings() {
    assert_snapshot!(errors(
        r#"
[daemon]
listen = "localhost:9780"
log_keep = 0
state_dir = ""
"#
    ));
}

#[test]
fn toml_syntax_error_has_its_place() {
    assert_snapshot!(errors(
        r#"
[jobs.backup]
schedule = "0 2 * * *
command = "backup.sh"
"#
    ));
}

#[test]
fn unreadable_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = run_check(dir.path(), "missing.toml", &[]);
    assert_eq!(out.code, 1);
    assert_snapshot!(out.stderr);
}

#[test]
fn includes_hold_only_jobs() {
    let out = check_in(
        &[
            ("jobs.toml", "include = [\"jobs.d/*.toml\"]\n"),
            (
                "jobs.d/extra.toml",
                "[daemon]\nlisten = \"0.0.0.0:80\"\n\n[jobs.ok]\nschedule = \"@daily\"\ncommand = \"true\"\n",
            ),
        ],
        "jobs.toml",
        &[],
    );
    assert_eq!(out.code, 1);
    assert_snapshot!(out.stderr);
}

/// Every problem is reported at once, in file order, and counted.
#[test]
fn all_problems_are_reported_together() {
    let stderr = errors(
        r#"
[defaults]
timeout = "forever"

[jobs.a]
schedule = "0 2 * * *"
command = ""
retries = -2

[jobs.b]
schedule = "0 2 * * *"
command = "true"
timezone = "Nowhere/Special"
concurency = "allow"

[jobs.c]
schedule = "@daily"
http = { url = "nope" }
"#,
    );
    assert!(stderr.ends_with("error: 6 problems in jobs.toml; nothing was changed\n"));
    assert_snapshot!(stderr);
}

#[test]
fn valid_file_summary() {
    let out = check(
        r#"
[defaults]
timezone = "Asia/Tokyo"

[jobs.at-start]
schedule = "@reboot"
command = "echo started"

[jobs.old-report]
schedule = "0 3 * * 0"
enabled = false
command = ["/bin/echo", "report"]

[jobs.berlin-boot]
schedule = "@reboot"
timezone = "Europe/Berlin"
http = { url = "http://127.0.0.1:9780/health" }
"#,
    );
    assert_eq!(out.code, 0, "stderr:\n{}", out.stderr);
    assert_eq!(out.stderr, "");
    // Where zones come from depends on the machine; the line must be there.
    let tz_line = cronduct::zone::Database::global().describe();
    assert!(out.stdout.contains(&tz_line), "{}", out.stdout);
    assert_snapshot!(
        out.stdout
            .replace(&tz_line, "[time zones from ... (tzdata ...)]")
    );
}

/// The next run is shown in the job's own zone, with its offset, and the
/// schedule in words.
#[test]
fn summary_shows_next_run_in_the_job_zone() {
    let out = check(
        r#"
[jobs.new-year]
schedule = "0 0 1 1 *"
timezone = "Asia/Kolkata"
command = "echo happy new year"
"#,
    );
    assert_eq!(out.code, 0, "stderr:\n{}", out.stderr);
    let line = out
        .stdout
        .lines()
        .find(|l| l.starts_with("new-year"))
        .expect("a line for the job");
    assert!(line.contains("Asia/Kolkata"), "{line}");
    assert!(line.contains("-01-01T00:00:00+05:30  "), "{line}");
    assert!(
        line.ends_with("At 00:00 on day 1 of the month in January, Asia/Kolkata"),
        "the schedule in words ends the line: {line}"
    );
}

#[test]
fn quiet_prints_nothing_on_success() {
    let out = check_in(
        &[(
            "jobs.toml",
            "[jobs.a]\nschedule = \"@reboot\"\ncommand = \"true\"\n",
        )],
        "jobs.toml",
        &["-q"],
    );
    assert_eq!(
        (out.code, out.stdout.as_str(), out.stderr.as_str()),
        (0, "", "")
    );
    let out = check_in(
        &[("jobs.toml", "[jobs.a]\ncommand = 1\n")],
        "jobs.toml",
        &["-q"],
    );
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("key `command`"), "{}", out.stderr);
}

/// An include pattern that matches nothing is fine, like an empty
/// /etc/cron.d; and jobs in includes are checked and listed.
#[test]
fn includes_are_followed_and_empty_globs_are_fine() {
    let out = check_in(
        &[
            (
                "etc/jobs.toml",
                "include = [\"jobs.d/*.toml\", \"none.d/*.toml\"]\n\n[jobs.main-job]\nschedule = \"@reboot\"\ncommand = \"true\"\n",
            ),
            (
                "etc/jobs.d/extra.toml",
                "[jobs.extra-job]\nschedule = \"@reboot\"\ncommand = \"true\"\n",
            ),
            ("etc/jobs.d/.#extra.toml", "not toml at all ["),
        ],
        "etc/jobs.toml",
        &[],
    );
    assert_eq!(out.code, 0, "stderr:\n{}", out.stderr);
    assert!(out.stdout.contains("\nextra-job "), "{}", out.stdout);
    assert!(out.stdout.contains("\nmain-job "), "{}", out.stdout);
    assert!(
        out.stdout.ends_with("2 jobs OK in etc/jobs.toml\n"),
        "{}",
        out.stdout
    );
}

/// docs/INSTALL.md: the shipped example shows every feature and passes `check`
/// as an ordinary user.
#[test]
fn example_config_passes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = run_check(root, "examples/jobs.toml", &["-q"]);
    assert_eq!(out.code, 0, "stderr:\n{}", out.stderr);
    let listed = run_check(root, "examples/jobs.toml", &[]);
    assert!(
        listed.stdout.contains("\ndisk-report "),
        "the drop-in job is listed"
    );
    assert!(
        listed.stdout.contains("\ncrontab-cat "),
        "the line of examples/crontab is listed: {}",
        listed.stdout
    );
}

/// A generated 10 MB line is quoted as a window around the caret and the
/// message is clipped: `check` prints a few kilobytes, not the line twice
/// over, and still names the line and column. Both a value refused by
/// validation (quoted in the message) and a syntax error at the line's
/// far end.
#[test]
fn a_10_mb_line_is_reported_in_a_few_kilobytes() {
    let huge = "x".repeat(10 << 20);
    for (config, location) in [
        (
            format!("[jobs.a]\nschedule = \"@daily\"\ncommand = \"true\"\ntimeout = \"1{huge}\"\n"),
            "jobs.toml:4:11".to_string(),
        ),
        (
            format!("[jobs.a]\nschedule = \"@daily\"\ncommand = \"{huge}\" !\n"),
            format!("jobs.toml:3:{}", "command = \"\" !".len() + huge.len()),
        ),
    ] {
        let err = errors(&config);
        assert!(err.len() < 16 << 10, "{} bytes", err.len());
        assert!(err.contains(&location), "no {location} in:\n{err}");
        assert!(err.contains('…'), "{err}");
    }
}
