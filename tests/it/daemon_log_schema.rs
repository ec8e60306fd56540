//! The execution log as scripts read it (cronduct.toml(5) EXECUTION LOG): one
//! line of each kind the real daemon writes — `start`, `finish` (a final one
//! and one that announces a retry) and `skip` — snapshotted verbatim, field
//! names and order included, with only the values that change from run to run
//! (times, ids, pids, the host name) redacted.

use crate::support::daemon::{Daemon, NEVER, SECS_20};
use serde_json::Value;

const TIMES: [&str; 5] = [
    "ts",
    "scheduled_at",
    "started_at",
    "finished_at",
    "retry_at",
];
const VARYING: [&str; 7] = [
    "run_id",
    "duration_ms",
    "pid",
    "host",
    "cpu_user_ms",
    "cpu_system_ms",
    "max_rss_kib",
];

/// Checks the time format, then replaces each varying value by
/// `"[name]"` in the line as written (so key order is kept) and every
/// run id in `run_ids` wherever it appears (a skip's reason names the
/// active run).
fn redact(line: &str, run_ids: &[&str]) -> String {
    let parsed: Value = serde_json::from_str(line).expect("a JSON line");
    let mut out = line.to_string();
    for key in TIMES.into_iter().chain(VARYING) {
        let Some(value) = parsed.get(key).filter(|v| !v.is_null()) else {
            continue;
        };
        if TIMES.contains(&key) {
            let text = value.as_str().expect("a time is a string");
            assert!(
                is_rfc3339_utc_millis(text),
                "{key} is not RFC 3339 UTC with milliseconds: {text}"
            );
        }
        let written = format!("\"{key}\":{}", serde_json::to_string(value).expect("json"));
        assert!(out.contains(&written), "{written} not in {line}");
        out = out.replace(&written, &format!("\"{key}\":\"[{key}]\""));
    }
    for id in run_ids {
        out = out.replace(id, "[run_id]");
    }
    out
}

/// `2026-03-29T01:00:00.000Z`.
fn is_rfc3339_utc_millis(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    b.len() == 24
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && b[19] == b'.'
        && digits(20..23)
        && b[23] == b'Z'
}

/// The raw log line of the first event matching `pick`.
fn line_where(d: &Daemon, what: &str, pick: impl Fn(&Value) -> bool) -> String {
    d.poll(what, SECS_20, || {
        d.log_lines().into_iter().find(|l| {
            let v: Value = serde_json::from_str(l).expect("a JSON line");
            pick(&v)
        })
    })
}

#[test]
fn each_kind_of_log_line_has_exactly_the_documented_fields() {
    let mut d = Daemon::new();
    d.write_config(&format!(
        r#"
[jobs.busy]
schedule = "* * * * * *"
command = "sleep 1.5; echo out; echo err >&2"

[jobs.retrying]
schedule = "{NEVER}"
command = "echo no; exit 3"
retries = 1
retry_delay = "200ms"
"#
    ));
    d.start();
    let retry_run = d.trigger("retrying");
    d.wait_finish(&retry_run, SECS_20);

    let start = line_where(&d, "a start of busy", |v| {
        v["event"] == "start" && v["job"] == "busy"
    });
    let finish = line_where(&d, "a finish of busy", |v| {
        v["event"] == "finish" && v["job"] == "busy"
    });
    let skip = line_where(&d, "a skip of busy", |v| v["event"] == "skip");
    let retried = line_where(&d, "a finish that retries", |v| {
        v["event"] == "finish" && v["will_retry"] == true
    });
    let busy_run: Value = serde_json::from_str(&start).expect("json");
    let busy_run = busy_run["run_id"].as_str().expect("run_id").to_string();
    let ids = [busy_run.as_str(), retry_run.as_str()];

    insta::assert_snapshot!("start", redact(&start, &ids));
    insta::assert_snapshot!("finish", redact(&finish, &ids));
    insta::assert_snapshot!("finish_with_retry", redact(&retried, &ids));
    insta::assert_snapshot!("skip", redact(&skip, &ids));
}
