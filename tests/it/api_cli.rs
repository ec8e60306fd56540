//! The client commands, run as the real binary against the real API (in
//! front of a fake scheduler): tables for people, `--json` for scripts,
//! exit codes and error messages.

use std::process::Command;

use crate::support::api_fake::{self, Fixture, KEY};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn cronduct_with_key(fx: &Fixture, key: &str, args: &[&str]) -> Out {
    let out = Command::new(env!("CARGO_BIN_EXE_cronduct"))
        .args(args)
        .args(["--url", fx.url.as_str()])
        .env("CRONDUCT_ADMIN_KEY", key)
        .env("TZ", "UTC")
        .env_remove("CRONDUCT_CONFIG")
        .output()
        .expect("run cronduct");
    Out {
        code: out.status.code().expect("exit code"),
        stdout: String::from_utf8(out.stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(out.stderr).expect("utf-8 stderr"),
    }
}

fn cronduct(fx: &Fixture, args: &[&str]) -> Out {
    cronduct_with_key(fx, KEY, args)
}

fn ok(fx: &Fixture, args: &[&str]) -> String {
    let out = cronduct(fx, args);
    assert_eq!(out.code, 0, "{args:?}: {}{}", out.stdout, out.stderr);
    assert_eq!(out.stderr, "", "{args:?}");
    out.stdout
}

/// Replaces every instant the fixture's data contains, as the CLI prints
/// it (in any zone the jobs use), by its offset from t0 padded to the same
/// width, so snapshots do not depend on when the test runs and columns
/// stay aligned.
fn redact(fx: &Fixture, text: &str) -> String {
    let mut instants: Vec<DateTime<Utc>> = [
        210,
        90,
        86_000,
        -600,
        -900,
        -7200,
        -86_400,
        -3 * 86_400,
        -3600,
        -300,
    ]
    .iter()
    .map(|s| api_fake::at(fx.t0, *s))
    .collect();
    for r in fx.history.runs(&cronduct::log::RunFilter {
        job: None,
        status: None,
        since: None,
        limit: 1000,
    }) {
        instants.extend([r.started_at, r.finished_at]);
    }
    let zones: [Tz; 3] = [Tz::UTC, Tz::America__Santo_Domingo, Tz::Europe__Berlin];
    let mut text = text.to_string();
    for t in instants {
        let label = format!("[t0{:+}s]", (t - fx.t0).num_seconds());
        for tz in zones {
            let shown = t
                .with_timezone(&tz)
                .format("%Y-%m-%d %H:%M:%S %Z")
                .to_string();
            let width = shown.chars().count();
            text = text.replace(&shown, &format!("{label:<width$}"));
        }
    }
    text
}

#[test]
fn jobs_table_for_people() {
    let fx = Fixture::start();
    let out = ok(&fx, &["jobs"]);
    insta::assert_snapshot!("jobs_table", redact(&fx, &out));
}

#[test]
fn jobs_json_is_the_api_document_in_its_own_key_order() {
    let fx = Fixture::start();
    let out = ok(&fx, &["jobs", "--json"]);
    let printed: serde_json::Value = serde_json::from_str(&out).expect("valid JSON");
    assert_eq!(printed["jobs"].as_array().expect("jobs").len(), 4);
    assert_eq!(printed["jobs"][0]["last_run"]["run_id"], "r-db-1");
    // Pretty-printed, with the API's field order (id before description),
    // not sorted.
    assert!(
        out.starts_with(
            "{\n  \"jobs\": [\n    {\n      \"id\": \"db-backup\",\n      \"description\""
        ),
        "{out}"
    );
}

#[test]
fn status_for_people() {
    let fx = Fixture::start();
    let out = ok(&fx, &["status"]);
    let redacted: String = redact(&fx, &out)
        .replace(&format!("pid {}", std::process::id()), "pid [PID]")
        .replace(env!("CARGO_PKG_VERSION"), "[VERSION]")
        .lines()
        .map(|l| {
            if l.starts_with("resources:") {
                "resources:   [RSS, CPU]\n".to_string()
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    insta::assert_snapshot!("status", redacted);
    let json = ok(&fx, &["status", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert_eq!(v["pid"], std::process::id());
}

#[test]
fn trigger_starts_or_waits_and_exits_by_the_outcome() {
    let fx = Fixture::start();
    assert_eq!(
        ok(&fx, &["trigger", "db-backup"]),
        "started db-backup run manual-1\n"
    );

    let out = ok(&fx, &["trigger", "db-backup", "--wait"]);
    assert!(
        out.starts_with("db-backup run manual-2: success after 0.0s (attempt 1, exit 0)\n"),
        "{out}"
    );
    assert!(
        out.contains("--- stdout ---\ndb-backup says hello\n"),
        "{out}"
    );

    let out = cronduct(&fx, &["trigger", "gateway-health", "--wait"]);
    assert_eq!(out.code, 1, "a failed run fails the command");
    assert!(
        out.stdout
            .starts_with("gateway-health run manual-3: failed"),
        "{}",
        out.stdout
    );

    let out = cronduct(&fx, &["trigger", "gateway-health", "--wait", "--json"]);
    assert_eq!(out.code, 1);
    let rec: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    assert_eq!(rec["status"], "failed");

    let out = cronduct(&fx, &["trigger", "long-report"]);
    assert_eq!(out.code, 1);
    assert_eq!(
        out.stderr,
        "cronduct: long-report is already running and its concurrency is \"forbid\"\n"
    );

    let out = cronduct(&fx, &["trigger", "nope"]);
    assert_eq!(out.code, 1);
    assert_eq!(out.stderr, "cronduct: unknown job \"nope\"\n");
}

#[test]
fn pause_resume_and_cancel() {
    let fx = Fixture::start();
    assert_eq!(ok(&fx, &["pause", "db-backup"]), "paused db-backup\n");
    assert!(fx.with_state(|s| s.jobs["db-backup"].summary.paused));
    assert_eq!(ok(&fx, &["resume", "db-backup"]), "resumed db-backup\n");
    assert!(!fx.with_state(|s| s.jobs["db-backup"].summary.paused));

    // A reason and an end: the daemon counts `--for` from its own clock.
    let out = ok(
        &fx,
        &[
            "pause",
            "db-backup",
            "--for",
            "1h30m",
            "--reason",
            "disk swap",
        ],
    );
    assert!(
        out.starts_with("paused db-backup until ") && out.ends_with(" UTC: disk swap\n"),
        "{out}"
    );
    let pause = fx
        .with_state(|s| s.jobs["db-backup"].summary.pause.clone())
        .expect("paused");
    assert_eq!(pause.reason.as_deref(), Some("disk swap"));
    assert_eq!(
        pause.until.zip(pause.at).map(|(u, a)| u - a),
        Some(chrono::Duration::minutes(90))
    );
    let out = ok(
        &fx,
        &["pause", "db-backup", "--until", "2999-01-01T00:00:00Z"],
    );
    assert_eq!(out, "paused db-backup until 2999-01-01 00:00:00 UTC\n");

    // Every job at once.
    let out = ok(
        &fx,
        &["pause", "--all", "--for", "1h", "--reason", "maintenance"],
    );
    assert!(
        out.starts_with("paused 4 jobs until ") && out.ends_with(": maintenance\n"),
        "{out}"
    );
    assert!(fx.with_state(|s| s.jobs.values().all(|j| {
        j.summary.pause.as_ref().and_then(|p| p.reason.as_deref()) == Some("maintenance")
    })));
    assert_eq!(
        ok(&fx, &["resume", "--all"]),
        "resumed 4 jobs: db-backup, gateway-health, long-report, old-cleanup\n"
    );
    assert_eq!(ok(&fx, &["resume", "--all"]), "no job was paused\n");
    let out = ok(&fx, &["pause", "--all", "--json"]);
    let doc: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(doc["paused"].as_array().map(Vec::len), Some(4), "{doc}");

    assert_eq!(
        ok(&fx, &["cancel", "long-report"]),
        "cancelling 1 run of long-report: r-long\n"
    );
    let out = cronduct(&fx, &["cancel", "long-report"]);
    assert_eq!(out.code, 1);
    assert_eq!(out.stderr, "cronduct: long-report has no active run\n");
}

/// Mistakes in the pause options are usage errors (exit 2), found before
/// the daemon is asked; a time that has passed is the daemon's to refuse.
#[test]
fn pause_options_are_checked() {
    let fx = Fixture::start();
    for args in [
        &["pause"][..],
        &["resume"],
        &["pause", "db-backup", "--all"],
        &["resume", "db-backup", "--all"],
        &["pause", "db-backup", "--for", "2 hours"],
        &["pause", "db-backup", "--for", "0s"],
        &["pause", "db-backup", "--until", "tomorrow"],
        &[
            "pause",
            "db-backup",
            "--for",
            "1h",
            "--until",
            "2999-01-01T00:00:00Z",
        ],
    ] {
        let out = cronduct(&fx, args);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
    }
    let out = cronduct(
        &fx,
        &["pause", "db-backup", "--until", "2020-01-01T00:00:00Z"],
    );
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("is not in the future"),
        "{}",
        out.stderr
    );
    assert!(!fx.with_state(|s| s.jobs["db-backup"].summary.paused));
}

#[test]
fn runs_table_for_people() {
    let fx = Fixture::start();
    let out = ok(&fx, &["runs"]);
    insta::assert_snapshot!("runs_table", redact(&fx, &out));
    let out = ok(
        &fx,
        &[
            "runs",
            "gateway-health",
            "--status",
            "failed",
            "--limit",
            "1",
        ],
    );
    insta::assert_snapshot!("runs_table_one_job", redact(&fx, &out));
    assert_eq!(ok(&fx, &["runs", "old-cleanup"]), "no runs\n");

    let out = cronduct(&fx, &["runs", "--limit", "5000"]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("invalid limit \"5000\""),
        "{}",
        out.stderr
    );
    let out = cronduct(&fx, &["runs", "--status", "sucess"]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("unknown status \"sucess\""),
        "{}",
        out.stderr
    );
}

#[test]
fn reload_reports_changes_or_every_error() {
    let fx = Fixture::start();
    assert_eq!(ok(&fx, &["reload"]), "reloaded: changed db-backup\n");
    fx.with_state(|s| {
        s.reload_result = Err(vec![
            "jobs.toml:3:1: unknown key `shedule`".into(),
            "jobs.toml:9:12: unknown time zone \"Mars/Base\"".into(),
        ])
    });
    let out = cronduct(&fx, &["reload"]);
    assert_eq!(out.code, 1);
    assert_eq!(
        out.stderr,
        "cronduct: invalid configuration; the old jobs keep running:\njobs.toml:3:1: unknown key `shedule`\n\njobs.toml:9:12: unknown time zone \"Mars/Base\"\n"
    );
}

#[test]
fn unreachable_daemon_and_wrong_key_are_clear_failures() {
    let fx = Fixture::start();
    let free = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = free.local_addr().expect("addr").port();
    drop(free);
    let out = Command::new(env!("CARGO_BIN_EXE_cronduct"))
        .args(["jobs", "--url", &format!("http://127.0.0.1:{port}")])
        .env("CRONDUCT_ADMIN_KEY", KEY)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "cronduct: cannot reach cronduct at http://127.0.0.1:{port}/: is the daemon running?\n"
        )
    );

    let out = cronduct_with_key(&fx, "not-the-key", &["jobs"]);
    assert_eq!(out.code, 1);
    assert_eq!(out.stderr, "cronduct: wrong admin key\n");
}

#[test]
fn a_job_argument_cannot_reach_another_endpoint() {
    let fx = Fixture::start();
    let out = cronduct(&fx, &["trigger", "../../reload"]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.starts_with("cronduct: invalid job id"),
        "{}",
        out.stderr
    );
    assert_eq!(fx.with_state(|s| s.reloads), 0);
}
