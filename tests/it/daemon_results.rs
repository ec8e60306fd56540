//! Job results through the real daemon (cronduct.toml(5), JOB RESULTS):
//! what a command writes to `$CRONDUCT_RESULT`, or an HTTP job's JSON
//! answer with `http.result = true`, in the finish record, `cronduct
//! runs`, `/api/v1/stats` and `/metrics`; bad results that never fail the
//! run; the private directory of a job running as another user.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

use crate::support::daemon::{Daemon, NEVER};
use cronduct::record::{FinishRecord, Status};
use serde_json::{Value, json};

/// Triggers `job` and waits for its finish record (`?wait=true`).
fn run(d: &Daemon, job: &str) -> FinishRecord {
    let reply = d.post(&format!("/api/v1/jobs/{job}/run?wait=true"));
    serde_json::from_value(reply).expect("a finish record")
}

fn result_of(r: &FinishRecord) -> Value {
    r.result.clone().map_or(Value::Null, Value::Object)
}

#[test]
fn a_command_result_is_recorded_summed_and_exported() {
    let mut d = Daemon::new();
    // The first run removes 12 entries, every later one 8.
    let marker = d.path("ran-once");
    d.write_config(&format!(
        r#"
[jobs.cleanup]
schedule = "{NEVER}"
command = """
if [ -e '{marker}' ]; then n=8; else n=12; touch '{marker}'; fi
printf '{{"removed": %d, "hit_rate": 0.93, "ok": true, "by_dir": {{"tmp": 3}}}}' "$n" > "$CRONDUCT_RESULT"
"""
"#,
        marker = marker.display()
    ));
    d.start();

    let first = run(&d, "cleanup");
    assert_eq!(first.status, Status::Success, "{first:?}");
    assert_eq!(
        result_of(&first),
        json!({"removed": 12, "hit_rate": 0.93, "ok": true, "by_dir": {"tmp": 3}})
    );
    assert_eq!(first.result_error, None);
    // The record in the log is the one the API answered.
    let logged = d.wait_finish(&first.run_id, crate::support::daemon::SECS_20);
    assert_eq!(logged.result, first.result);
    let second = run(&d, "cleanup");
    assert_eq!(result_of(&second)["removed"], 8);

    // The history index takes the record in after the run's answer: wait
    // for the stats to count both runs.
    let stats = d.poll(
        "the stats to count both runs",
        crate::support::daemon::SECS_20,
        || {
            let stats = d.get("/api/v1/stats?days=1");
            (stats["jobs"]["cleanup"]["attempts"] == 2).then_some(stats)
        },
    );
    assert_eq!(
        stats["jobs"]["cleanup"]["results"],
        json!({
            "hit_rate": {"sum": 1.86, "avg": 0.93, "count": 2},
            "removed": {"sum": 20.0, "avg": 10.0, "count": 2},
        }),
        "numbers only: the boolean and the nested object are left out; {stats}"
    );
    assert!(
        stats["totals"].get("results").is_none(),
        "totals mix jobs, so they have no results: {stats}"
    );

    let metrics = d.api("GET", "/metrics");
    let text = metrics.body.as_str().expect("the metrics text");
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("cronduct_job_result{"))
        .collect();
    assert_eq!(
        lines,
        [
            r#"cronduct_job_result{job="cleanup",key="hit_rate"} 0.93"#,
            r#"cronduct_job_result{job="cleanup",key="removed"} 8"#,
        ],
        "the last value of each number"
    );

    let out = d.cli(&["runs", "cleanup"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let newest = out.stdout.lines().nth(1).expect("a row for the newest run");
    assert!(
        newest.starts_with(&second.run_id)
            && newest.ends_with(r#"{"by_dir":{"tmp":3},"hit_rate":0.93,"ok…"#),
        "the result, cut to its column: {}",
        out.stdout
    );
}

#[test]
fn bad_results_never_fail_the_run_and_say_why() {
    let mut d = Daemon::new();
    d.write_config(&format!(
        r#"
[jobs.not-json]
schedule = "{NEVER}"
command = "echo 'removed: 12' > \"$CRONDUCT_RESULT\""

[jobs.array]
schedule = "{NEVER}"
command = "echo '[12, 0.93]' > \"$CRONDUCT_RESULT\""

[jobs.too-large]
schedule = "{NEVER}"
command = "printf '{{\"pad\": \"%s\"}}' \"$(head -c 71680 /dev/zero | tr '\\0' x)\" > \"$CRONDUCT_RESULT\""

[jobs.silent]
schedule = "{NEVER}"
command = "true"

[jobs.failing]
schedule = "{NEVER}"
command = "echo '{{\"left\": 3}}' > \"$CRONDUCT_RESULT\"; exit 4"
"#
    ));
    d.start();
    let cases = [
        (
            "not-json",
            "the result is not valid JSON: expected value at line 1 column 1",
        ),
        ("array", "the result must be a JSON object, not an array"),
        ("too-large", "the result is larger than 64 KiB"),
    ];
    for (job, error) in cases {
        let r = run(&d, job);
        assert_eq!(r.status, Status::Success, "{job}: {r:?}");
        assert_eq!(r.result, None, "{job}");
        assert_eq!(r.result_error.as_deref(), Some(error), "{job}");
    }
    let silent = run(&d, "silent");
    assert_eq!((silent.result, silent.result_error), (None, None));
    // A failed run's result is kept all the same: it says what got done.
    let failing = run(&d, "failing");
    assert_eq!(failing.status, Status::Failed);
    assert_eq!(result_of(&failing), json!({"left": 3}));

    let out = d.cli(&["runs", "array"]);
    assert!(
        out.stdout
            .lines()
            .nth(1)
            .is_some_and(|l| l.ends_with("invalid: the result must be a JSON obje…")),
        "{}",
        out.stdout
    );
    // Every attempt's directory is gone once it has finished.
    let left: Vec<_> = std::fs::read_dir(d.state_dir().join("results"))
        .expect("the results directory")
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// A one-connection-at-a-time HTTP server on 127.0.0.1 answering every
/// request with `body` as JSON; its address.
fn json_server(body: &'static str) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for mut sock in listener.incoming().flatten() {
            let mut reader = BufReader::new(sock.try_clone().expect("clone"));
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let _ = write!(
                sock,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    addr
}

#[test]
fn an_http_job_takes_its_json_answer_as_result() {
    let addr = json_server(r#"{"queue_depth": 41, "workers": 3}"#);
    let mut d = Daemon::new();
    d.write_config(&format!(
        r#"
[jobs.queue]
schedule = "{NEVER}"
http = {{ url = "http://{addr}/stats", result = true }}

[jobs.plain]
schedule = "{NEVER}"
http = {{ url = "http://{addr}/stats" }}
"#
    ));
    d.start();
    let r = run(&d, "queue");
    assert_eq!(r.status, Status::Success, "{r:?}");
    assert_eq!(result_of(&r), json!({"queue_depth": 41, "workers": 3}));
    assert_eq!(r.stdout, r#"{"queue_depth": 41, "workers": 3}"#);
    let plain = run(&d, "plain");
    assert_eq!(plain.result, None, "only with http.result = true");
    let stats = d.get("/api/v1/stats?days=1");
    assert_eq!(
        stats["jobs"]["queue"]["results"]["queue_depth"]["sum"],
        41.0
    );
}

#[test]
fn a_job_of_another_user_owns_its_private_directory() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIPPED: running as another user needs root");
        return;
    }
    let nobody = nix::unistd::User::from_name("nobody")
        .expect("lookup")
        .expect("user nobody exists");
    let mut d = Daemon::new();
    d.write_config(&format!(
        r#"
[jobs.as-nobody]
schedule = "{NEVER}"
user = "nobody"
command = "stat -c '%u %a' \"$(dirname \"$CRONDUCT_RESULT\")\"; echo '{{\"n\": 1}}' > \"$CRONDUCT_RESULT\""
"#
    ));
    // Outside systemd the directories live under the state dir, which the
    // job's user must be able to reach (see docs/BEHAVIOUR.md).
    for dir in [d.path(""), d.state_dir()] {
        std::fs::create_dir_all(&dir).expect("create");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o711)).expect("chmod");
    }
    d.start();
    let r = run(&d, "as-nobody");
    assert_eq!(r.status, Status::Success, "{r:?}");
    assert_eq!(r.stdout, format!("{} 700\n", nobody.uid));
    assert_eq!(result_of(&r), json!({"n": 1}));
    let results = std::fs::metadata(d.state_dir().join("results")).expect("results dir");
    assert_eq!((results.uid(), results.mode() & 0o777), (0, 0o711));
}
