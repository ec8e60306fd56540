//! Pauses with a reason and an end  in the real daemon: a timed
//! pause ends by itself, on time and across a restart; every job pauses
//! and resumes at once, also from the CLI; bad bodies are refused.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::support::daemon::{Daemon, NEVER, SECS_20, now};

const TEN_SECS: Duration = Duration::from_secs(10);

fn instant(v: &Value) -> DateTime<Utc> {
    let text = v.as_str().unwrap_or_else(|| panic!("not a time: {v}"));
    DateTime::parse_from_rfc3339(text)
        .expect("RFC 3339")
        .with_timezone(&Utc)
}

/// `POST path` with `body`, which must answer 200; the answer.
fn post_body(d: &Daemon, path: &str, body: &str) -> Value {
    let reply = d.post_body(path, body);
    assert_eq!(reply.status, 200, "POST {path} {body}: {}", reply.body);
    reply.body
}

fn per_second_jobs() -> &'static str {
    r#"
[jobs.tick]
schedule = "* * * * * *"
command = "true"

[jobs.tock]
schedule = "* * * * * *"
command = "true"
"#
}

#[test]
fn a_timed_pause_ends_by_itself_and_says_so() {
    let mut d = Daemon::new();
    d.write_config(per_second_jobs());
    d.start();
    let reply = post_body(
        &d,
        "/api/v1/jobs/tick/pause",
        r#"{"reason": "a short break", "until": "2s"}"#,
    );
    let until = instant(&reply["pause"]["until"]);
    let at = instant(&reply["pause"]["at"]);
    let listed = d.listed_job("tick").expect("listed");
    assert_eq!(listed["paused"], true, "{listed}");
    assert_eq!(listed["pause"]["reason"], "a short break", "{listed}");
    assert_eq!(listed["pause"]["by"], "default", "{listed}");

    let resumed = d.poll("tick to resume by itself", TEN_SECS, || {
        let job = d.listed_job("tick")?;
        (job["paused"] == false).then_some(job)
    });
    assert!(resumed["pause"].is_null(), "{resumed}");
    assert!(now() >= until, "resumed before its end");
    let line = d
        .stderr()
        .lines()
        .find(|l| l.contains("resumed by itself"))
        .map(str::to_string)
        .unwrap_or_else(|| panic!("no log line for the resume\n{}", d.diagnostics()));
    assert!(line.contains("tick"), "{line}");
    // It runs again, and ran no instant inside its pause.
    d.poll("tick to run after its pause", TEN_SECS, || {
        d.starts("tick")
            .iter()
            .any(|s| s.scheduled_at >= until)
            .then_some(())
    });
    let inside: Vec<_> = d
        .starts("tick")
        .into_iter()
        .filter(|s| s.scheduled_at > at && s.scheduled_at < until)
        .collect();
    assert!(inside.is_empty(), "runs during the pause: {inside:?}");
}

#[test]
fn a_timed_pause_survives_a_restart() {
    let mut d = Daemon::new();
    d.write_config(per_second_jobs());
    d.start();
    let reply = post_body(
        &d,
        "/api/v1/jobs/tick/pause",
        r#"{"reason": "disk swap", "until": "1h"}"#,
    );
    d.stop(TEN_SECS);
    let tick_before = d.starts("tick").len();
    let tock_before = d.starts("tock").len();

    d.start();
    let job = d.listed_job("tick").expect("listed");
    assert_eq!(job["paused"], true, "{job}");
    assert_eq!(job["pause"], reply["pause"], "the pause came back whole");
    // Two seconds of the other per-second job: still paused.
    d.wait_starts("tock", tock_before + 2, SECS_20);
    assert_eq!(d.starts("tick").len(), tick_before, "the paused job ran");
}

#[test]
fn a_pause_that_ends_while_the_daemon_is_stopped_is_over_at_start() {
    let mut d = Daemon::new();
    d.write_config(per_second_jobs());
    d.start();
    post_body(&d, "/api/v1/jobs/tick/pause", r#"{"until": "1h"}"#);
    d.stop(TEN_SECS);
    // The end passes while the daemon is down: moved a minute into the
    // past in the state file, rather than waited for.
    let path = d.state_dir().join("state.json");
    let text = std::fs::read_to_string(&path).expect("read the state");
    let mut state: Value = serde_json::from_str(&text).expect("state is JSON");
    assert_eq!(state["paused"], serde_json::json!(["tick"]), "{state}");
    let ended = now() - chrono::Duration::minutes(1);
    state["pauses"]["tick"]["until"] = cronduct::record::ts::format(&ended).into();
    std::fs::write(&path, state.to_string()).expect("write the state");

    d.start();
    let job = d.listed_job("tick").expect("listed");
    assert_eq!(job["paused"], false, "{job}");
    assert!(job["pause"].is_null(), "{job}");
    assert!(
        d.stderr().contains("resumed by itself"),
        "{}",
        d.diagnostics()
    );
    let restarted = now();
    d.poll("tick to run again", TEN_SECS, || {
        d.starts("tick")
            .iter()
            .any(|s| s.ts >= restarted)
            .then_some(())
    });
}

#[test]
fn the_cli_pauses_and_resumes_every_job() {
    let mut d = Daemon::new();
    d.write_config(&format!(
        "[jobs.a]\nschedule = \"{NEVER}\"\ncommand = \"true\"\n\n\
         [jobs.b]\nschedule = \"{NEVER}\"\ncommand = \"true\"\n"
    ));
    d.start();
    let out = d.cli(&["pause", "--all", "--for", "1h", "--reason", "maintenance"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.starts_with("paused 2 jobs until ") && out.stdout.ends_with(": maintenance\n"),
        "{}",
        out.stdout
    );
    for id in ["a", "b"] {
        let job = d.listed_job(id).expect("listed");
        assert_eq!(job["paused"], true, "{job}");
        assert_eq!(job["pause"]["reason"], "maintenance", "{job}");
        let left = instant(&job["pause"]["until"]) - instant(&job["pause"]["at"]);
        assert_eq!(left, chrono::Duration::hours(1), "{job}");
    }
    let out = d.cli(&["resume", "--all"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(out.stdout, "resumed 2 jobs: a, b\n");
    for id in ["a", "b"] {
        let job = d.listed_job(id).expect("listed");
        assert_eq!(
            (&job["paused"], &job["pause"]),
            (&false.into(), &Value::Null)
        );
    }
}

#[test]
fn bad_pause_bodies_are_refused_with_400() {
    let mut d = Daemon::new();
    d.write_config(&format!(
        "[jobs.a]\nschedule = \"{NEVER}\"\ncommand = \"true\"\n"
    ));
    d.start();
    for (body, says) in [
        ("{\"until\": ", "invalid pause request body"),
        (r#"{"until": "yesterday"}"#, "invalid until"),
        (r#"{"until": "0s"}"#, "is not in the future"),
        (
            r#"{"until": "2001-01-01T00:00:00Z"}"#,
            "is not in the future",
        ),
        (r#"{"for": "2h"}"#, "unknown field `for`"),
    ] {
        for path in ["/api/v1/jobs/a/pause", "/api/v1/pause"] {
            let reply = d.post_body(path, body);
            assert_eq!(reply.status, 400, "{path} {body}: {}", reply.body);
            let error = reply.body["error"].as_str().unwrap_or_default();
            assert!(error.contains(says), "{path} {body}: {}", reply.body);
        }
    }
    assert_eq!(d.listed_job("a").expect("listed")["paused"], false);
}
