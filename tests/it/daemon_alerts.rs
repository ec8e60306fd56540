//! Health alerts from the real daemon, received by a real webhook on
//! 127.0.0.1: a slow run gets one notice and keeps running; a job with no
//! success in its window turns overdue (and a critical one degrades
//! `/health`) until a success; instants that passed while the daemon was
//! down are reported once, as one log line and one notice per job.

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use serde_json::Value;

use crate::support::daemon::{Daemon, NEVER, SECS_20, now};
use crate::support::webhook::webhook_receiver;
use cronduct::record::{LogEvent, SlowRecord, Status, Trigger};

/// The JSON documents the receiver got for `event`, in arrival order.
fn docs_of(
    received: &std::sync::Mutex<Vec<crate::support::webhook::Hook>>,
    event: &str,
) -> Vec<Value> {
    received
        .lock()
        .expect("lock")
        .iter()
        .filter(|h| h.body["event"] == event)
        .map(|h| h.body.clone())
        .collect()
}

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .unwrap_or_else(|| panic!("an RFC 3339 time, got {v}"))
        .with_timezone(&Utc)
}

#[test]
fn a_slow_run_gets_one_notice_and_is_not_stopped() {
    let (port, received) = webhook_receiver();
    let mut d = Daemon::new();
    let go = d.path("go");
    d.write_config(&format!(
        r#"
[jobs.slowpoke]
schedule = "{NEVER}"
command = "while [ ! -e '{go}' ]; do sleep 0.05; done; echo done"
warn_after = "1s"
notify = {{ webhook = "http://127.0.0.1:{port}/hook", on = ["slow"] }}
"#,
        go = go.display()
    ));
    d.start();
    let run_id = d.trigger("slowpoke");

    let doc = d.poll("the slow notice", SECS_20, || {
        docs_of(&received, "slow").into_iter().next()
    });
    assert_eq!(doc["job"], "slowpoke", "{doc}");
    assert_eq!(doc["run_id"], run_id.as_str(), "{doc}");
    assert_eq!(doc["warn_after_ms"], 1000, "{doc}");
    assert!(
        doc["elapsed_ms"].as_u64().expect("elapsed_ms") >= 1000,
        "{doc}"
    );
    // The run waits for the file this test has not made yet: it is still
    // going, and the job says so.
    assert!(
        d.run_finishes(&run_id).is_empty(),
        "the slow run was stopped"
    );
    let job = d.listed_job("slowpoke").expect("listed");
    assert_eq!(job["health"], "slow", "{job}");

    std::fs::write(&go, "").expect("let the job finish");
    let fin = d.wait_finish(&run_id, SECS_20);
    assert_eq!(
        (fin.status, fin.stdout.as_str()),
        (Status::Success, "done\n")
    );
    let slow: Vec<SlowRecord> = d.records(|e| match e {
        LogEvent::Slow(s) => Some(s),
        _ => None,
    });
    assert_eq!(slow.len(), 1, "one slow line per run: {slow:?}");
    assert_eq!(
        (slow[0].run_id.as_str(), slow[0].warn_after_ms),
        (run_id.as_str(), 1000)
    );
    assert!(slow[0].ts < fin.ts, "the slow line comes before the finish");
    assert_eq!(
        docs_of(&received, "slow").len(),
        1,
        "one slow notice per run"
    );
    let job = d.listed_job("slowpoke").expect("listed");
    assert_eq!(job["health"], "ok", "a finished success is ok: {job}");
}

#[test]
fn no_success_within_the_window_is_overdue_until_a_success() {
    let (port, received) = webhook_receiver();
    let mut d = Daemon::new();
    d.write_config(&format!(
        r#"
[jobs.nightly]
schedule = "{NEVER}"
command = "true"
critical = true
expect_success_within = "2s"
notify = {{ webhook = "http://127.0.0.1:{port}/hook", on = ["overdue"] }}

[jobs.relaxed]
schedule = "{NEVER}"
command = "true"
"#
    ));
    let started = now();
    d.start();
    assert_eq!(
        d.listed_job("nightly").expect("listed")["health"],
        "never_run"
    );

    let doc = d.poll("the overdue notice", SECS_20, || {
        docs_of(&received, "overdue").into_iter().next()
    });
    assert_eq!(doc["job"], "nightly", "{doc}");
    assert_eq!(doc["last_success"], Value::Null, "{doc}");
    assert_eq!(doc["expect_success_within_ms"], 2000, "{doc}");
    // Never run: the window counts from when the daemon began watching.
    let due = time(&doc["due_at"]);
    assert!(
        due >= started + TimeDelta::seconds(2) && due <= now(),
        "due_at {due} for a daemon started at {started}"
    );
    assert_eq!(
        d.listed_job("nightly").expect("listed")["health"],
        "overdue"
    );
    assert_eq!(
        d.listed_job("relaxed").expect("listed")["health"],
        "never_run"
    );
    let health = d.health();
    assert_eq!(health.status, 200);
    assert_eq!(health.body["status"], "degraded", "{}", health.body);
    assert_eq!(
        health.body["warnings"],
        serde_json::json!(["critical job \"nightly\" is overdue"]),
    );

    let run_id = d.trigger("nightly");
    assert_eq!(d.wait_finish(&run_id, SECS_20).status, Status::Success);
    d.poll("nightly to be ok after its success", SECS_20, || {
        (d.listed_job("nightly")?["health"] == "ok").then_some(())
    });
    assert_eq!(d.health().body["status"], "healthy");
}

/// Every top of the hour after `after`, up to and including `until`.
fn hour_tops(after: DateTime<Utc>, until: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let hour = TimeDelta::hours(1);
    let mut t = after.duration_trunc(hour).expect("truncate") + hour;
    let mut out = Vec::new();
    while t <= until {
        out.push(t);
        t += hour;
    }
    out
}

#[test]
fn instants_missed_while_down_are_reported_once_whatever_catch_up_does() {
    let (port, received) = webhook_receiver();
    let mut d = Daemon::new();
    let hook =
        format!("notify = {{ webhook = \"http://127.0.0.1:{port}/hook\", on = [\"missed\"] }}");
    d.write_config(&format!(
        r#"
[jobs.hourly-catch]
schedule = "0 * * * *"
command = "true"
catch_up = "1d"
{hook}

[jobs.hourly-plain]
schedule = "0 * * * *"
command = "true"
{hook}

[jobs.witness]
schedule = "{NEVER}"
command = "true"
"#
    ));
    // The daemon last scheduled both jobs five and a half hours ago and
    // has been down since.
    let last = now() - TimeDelta::minutes(5 * 60 + 30);
    d.write_last_scheduled(&["hourly-catch", "hourly-plain"], last);

    d.start();
    let caught = d.wait_finishes("hourly-catch", 1, SECS_20).remove(0);
    assert_eq!(caught.trigger, Trigger::CatchUp, "{caught:?}");
    for job in ["hourly-catch", "hourly-plain"] {
        let lines = d.missed(job);
        assert_eq!(lines.len(), 1, "{job}: one missed line: {lines:?}");
        let line = &lines[0];
        assert_eq!(line.scheduled_at, hour_tops(last, line.ts), "{job}");
        assert_eq!((line.more, line.more_capped), (0, false));
        assert_eq!(
            line.last_scheduled.timestamp_millis(),
            last.timestamp_millis()
        );
        let doc = d.poll(&format!("the missed notice of {job}"), SECS_20, || {
            docs_of(&received, "missed")
                .into_iter()
                .find(|h| h["job"] == job)
        });
        let listed: Vec<DateTime<Utc>> = doc["scheduled_at"]
            .as_array()
            .expect("scheduled_at list")
            .iter()
            .map(time)
            .collect();
        assert_eq!(listed, line.scheduled_at, "{job}: {doc}");
    }
    // Catch-up ran the newest missed instant once; the job without it did
    // not run at all.
    let newest = *d.missed("hourly-catch")[0]
        .scheduled_at
        .last()
        .expect("one");
    assert_eq!(caught.scheduled_at, newest);
    assert!(d.starts("hourly-plain").is_empty());

    // Reported once: a restart reports only instants after the ones
    // already reported (none, unless an hour turned meanwhile). The
    // scheduler answers the witness's manual run only after the start-up
    // pass that writes the missed lines; once it is done, they are
    // written. (`@reboot` would not do: a restart within the same boot
    // runs none.)
    let reported = newest;
    d.stop(SECS_20);
    d.start();
    d.post("/api/v1/jobs/witness/run?wait=true");
    d.wait_finishes("witness", 1, SECS_20);
    let since = hour_tops(reported, now());
    for job in ["hourly-catch", "hourly-plain"] {
        let lines = d.missed(job);
        assert_eq!(
            lines.len(),
            1 + usize::from(!since.is_empty()),
            "{job}: {lines:?}"
        );
    }
}
