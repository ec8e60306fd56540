//! The journal sink through the real daemon and a real systemd-journald
//! (tests/it/support/journald.rs): `[daemon] output = "journal"` writes
//! one entry per line with the attempt's fields, `cronduct logs` and the
//! output endpoint read them back with journalctl, a flood never holds
//! the job up, and a missing journal costs the output, never the run.

use std::io::{BufRead, BufReader};
use std::time::Duration;

use crate::support::daemon::{Daemon, NEVER, SECS_20, proc_status_bytes};
use crate::support::journald::{self, JournalLock, Journald};
use cronduct::record::Status;

fn journal_daemon(jobs: &str) -> Daemon {
    let mut d = Daemon::new();
    let config = format!("{jobs}\n{}output = \"journal\"\n", d.daemon_table());
    d.write_file("jobs.toml", &config);
    d.start();
    d
}

fn matches(job: &str, run_id: &str) -> Vec<String> {
    vec![
        format!("CRONDUCT_JOB={job}"),
        format!("CRONDUCT_RUN_ID={run_id}"),
    ]
}

#[test]
fn each_line_is_an_entry_with_the_attempts_fields_and_logs_reads_them() {
    let journal = Journald::start();
    let d = journal_daemon(&format!(
        r#"
[jobs.report]
schedule = "{NEVER}"
command = "echo 'out one'; echo 'err one' >&2; printf 'no newline'"
"#
    ));
    let run_id = d.trigger("report");
    let rec = d.wait_finish(&run_id, SECS_20);
    assert_eq!(rec.status, Status::Success, "{rec:?}");
    assert_eq!(rec.output_dropped_bytes, Some(0));
    assert!(!d.path("log/output").exists(), "no output files");

    let entries = journal.wait_entries(&matches("report", &run_id), 3);
    let mut seen: Vec<(String, String)> = entries
        .iter()
        .map(|e| {
            let field = |k: &str| e.get(k).and_then(|v| v.as_str()).unwrap_or("").to_owned();
            assert_eq!(field("SYSLOG_IDENTIFIER"), "cronduct-report", "{e:?}");
            assert_eq!(field("CRONDUCT_JOB"), "report");
            assert_eq!(field("CRONDUCT_RUN_ID"), run_id);
            assert_eq!(field("CRONDUCT_ATTEMPT"), "1");
            (field("MESSAGE"), field("PRIORITY"))
        })
        .collect();
    seen.sort();
    let want = |m: &str, p: &str| (m.to_owned(), p.to_owned());
    assert_eq!(
        seen,
        [
            want("err one", "3"),
            want("no newline", "6"),
            want("out one", "6")
        ]
    );

    // Read back as an output file would show them.
    let shown = d.cli(&["logs", "report"]);
    assert_eq!(shown.code, 0, "{}", shown.stderr);
    let mut lines: Vec<&str> = shown.stdout.lines().collect();
    lines.sort_unstable();
    assert_eq!(lines, ["[stderr] err one", "no newline", "out one"]);
    let reply = d.api("GET", &format!("/api/v1/runs/{run_id}/output?attempt=1"));
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body.as_str(), Some(shown.stdout.as_str()));
    let none = d.api("GET", &format!("/api/v1/runs/{run_id}/output?attempt=2"));
    assert_eq!(none.status, 404);
}

#[test]
fn logs_follows_an_attempt_in_the_journal_until_it_ends() {
    let _journal = Journald::start();
    let mut d = Daemon::new();
    let go = d.path("go");
    let config = format!(
        r#"
[jobs.slow]
schedule = "{NEVER}"
command = "echo first; while [ ! -e {go} ]; do sleep 0.05; done; echo second; exit 3"

{}output = "journal"
"#,
        d.daemon_table(),
        go = go.display()
    );
    d.write_file("jobs.toml", &config);
    d.start();
    let run_id = d.trigger("slow");
    d.wait_start(&run_id, 1, SECS_20);
    let mut logs = d.cli_spawn(&["logs", "slow", "-f"]);
    let mut out = BufReader::new(logs.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("read a line");
    // Seen while the job cannot have finished: it waits for `go`.
    assert_eq!(line, "first\n");
    assert!(!go.exists());
    std::fs::write(&go, "").expect("let the job go on");
    line.clear();
    out.read_line(&mut line).expect("read a line");
    assert_eq!(line, "second\n");
    line.clear();
    out.read_line(&mut line).expect("read the end");
    assert_eq!(line, "", "ends with the attempt");
    let status = logs.wait().expect("logs exits");
    assert!(status.success(), "exit 0 though the run failed: {status}");
    assert_eq!(d.wait_finish(&run_id, SECS_20).status, Status::Failed);
}

/// 200 MB of 20-byte lines: ten million entries, far more than journald
/// takes in the time the job needs to write them.
const FLOOD_BYTES: u64 = 200_000_000;

#[test]
fn a_flood_never_holds_the_job_up_and_what_journald_cannot_take_is_counted() {
    let journal = Journald::start();
    let d = journal_daemon(&format!(
        r#"
[jobs.flood]
schedule = "{NEVER}"
command = "yes 0123456789abcdefghi | head -c {FLOOD_BYTES}"
timeout = "2m"

[jobs.after]
schedule = "{NEVER}"
command = "echo still here"
"#
    ));
    let pid = d.pid();
    let peak_before = proc_status_bytes(pid, "VmHWM");
    let run_id = d.trigger("flood");
    let rec = d.wait_finish(&run_id, Duration::from_secs(90));
    assert_eq!(rec.status, Status::Success, "{rec:?}");
    let dropped = rec.output_dropped_bytes.expect("output_dropped_bytes");
    assert!(
        dropped > 0 && dropped < FLOOD_BYTES,
        "{dropped} bytes dropped"
    );
    let growth = proc_status_bytes(pid, "VmHWM").saturating_sub(peak_before);
    assert!(
        growth < 20 << 20,
        "the daemon's peak RSS grew by {} KiB while flooding the journal",
        growth >> 10
    );
    // What the journal has (each message and its newline) is at most
    // what was not counted as dropped: journald's own rate limit may keep
    // fewer. A dropped chunk splits lines, so entries are counted by
    // their bytes, not as whole 20-byte lines; the last one may be a
    // piece that had no newline (hence the one byte more).
    let entries = journal.entries(&matches("flood", &run_id));
    let kept: u64 = entries
        .iter()
        .map(|e| e["MESSAGE"].as_str().map_or(0, |m| m.len() as u64 + 1))
        .sum();
    assert!(
        kept > 0 && kept + dropped <= FLOOD_BYTES + 1,
        "{kept} bytes in {} entries, {dropped} dropped",
        entries.len()
    );
    // The sink goes on with the next attempt.
    let next = d.trigger("after");
    assert_eq!(d.wait_finish(&next, SECS_20).output_dropped_bytes, Some(0));
    let after = journal.wait_entries(&matches("after", &next), 1);
    assert_eq!(after[0]["MESSAGE"], "still here");
}

#[test]
fn without_a_journal_the_run_goes_on_its_lines_are_counted_and_it_is_logged_once() {
    let _lock = JournalLock::take();
    if journald::answering() {
        eprintln!("skipped: a journald answers on {}", journald::SOCKET);
        return;
    }
    let d = journal_daemon(&format!(
        r#"
[jobs.lost]
schedule = "{NEVER}"
command = "echo one; echo two >&2"
"#
    ));
    for _ in 0..2 {
        let run_id = d.trigger("lost");
        let rec = d.wait_finish(&run_id, SECS_20);
        assert_eq!(rec.status, Status::Success, "{rec:?}");
        assert_eq!(rec.stdout, "one\n", "the tails are kept");
        assert_eq!(rec.output_dropped_bytes, Some(8));
        let reply = d.api("GET", &format!("/api/v1/runs/{run_id}/output"));
        assert_eq!(reply.status, 404, "{}", reply.body);
        assert!(
            reply.body.to_string().contains("the journal has no output"),
            "{}",
            reply.body
        );
    }
    let said = d.stderr();
    assert_eq!(
        said.matches("cannot write to the journal at /run/systemd/journal/socket")
            .count(),
        1,
        "{said}"
    );
}
