//! The whole output of each attempt through the real daemon
//! (cronduct.toml(5) WHOLE OUTPUT): the file sink with its cap, bounded
//! memory under a flood, `GET /api/v1/runs/{run_id}/output` and
//! `cronduct logs`, live with `-f`.

use std::io::{BufRead, BufReader};
use std::time::Duration;

use crate::support::daemon::{Daemon, NEVER, SECS_20, proc_status_bytes};
use cronduct::record::Status;

/// 200 MB of 20-byte lines, between two stderr lines.
const FLOOD_BYTES: u64 = 200_000_000;

#[test]
fn a_flood_fills_the_file_to_its_cap_and_the_daemon_stays_flat() {
    let mut d = Daemon::new();
    d.write_config(&format!(
        r#"
[jobs.flood]
schedule = "{NEVER}"
command = "echo started >&2; yes 0123456789abcdefghi | head -c {FLOOD_BYTES}; echo finished >&2"
output_max_size = "1MiB"
timeout = "2m"
"#
    ));
    d.start();
    let pid = d.pid();
    let peak_before = proc_status_bytes(pid, "VmHWM");
    let run_id = d.trigger("flood");
    let rec = d.wait_finish(&run_id, Duration::from_secs(90));
    assert_eq!(rec.status, Status::Success, "{rec:?}");
    let growth = proc_status_bytes(pid, "VmHWM").saturating_sub(peak_before);
    assert!(
        growth < 20 << 20,
        "the daemon's peak RSS grew by {} KiB while writing 200 MB to a file",
        growth >> 10
    );

    let path = d.path(&format!("log/output/flood/{run_id}.1.log"));
    let text = std::fs::read_to_string(&path).expect("the output file");
    assert!(
        text.len() <= (1 << 20) + 200,
        "{} bytes for a 1 MiB cap",
        text.len()
    );
    // The two pipes are read by two readers, so lines come in the order
    // they were read: the stderr line first written is near the start (an
    // empty channel never drops). The last one may meet a channel full of
    // stdout and then is in the dropped count instead.
    assert!(text.starts_with("[stderr] started\n") || text.starts_with("0123456789abcdefghi\n"));
    assert!(
        text[..64 << 10].contains("[stderr] started\n"),
        "{}",
        &text[..200]
    );
    let slow = rec.output_dropped_bytes.expect("output_dropped_bytes");
    assert!(
        text.ends_with("[stderr] finished\n") || slow > 0,
        "{}",
        &text[text.len() - 200..]
    );
    let marker_at = text.find("\n[cronduct] ").expect("the marker line") + 1;
    let marker_end = marker_at + text[marker_at..].find('\n').expect("marker ends") + 1;
    let marker = &text[marker_at..marker_end];
    assert!(
        marker.ends_with(" bytes of output dropped here (output_max_size = 1MiB)\n"),
        "{marker}"
    );
    // Every byte the job wrote is in the file, counted by the marker, or
    // counted in the record as dropped for a slow disk; the file may have
    // one more: the newline that ends a head cut inside a line.
    let in_marker: u64 = marker
        .split(' ')
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("a count");
    let marks = text.matches("[stderr] ").count();
    let kept = (text.len() - marker.len() - marks * "[stderr] ".len()) as u64;
    let written = FLOOD_BYTES + "started\n".len() as u64 + "finished\n".len() as u64;
    let accounted = kept + in_marker + slow;
    assert!(
        accounted == written || accounted == written + 1,
        "{accounted} for {written}: {marker} {slow}"
    );

    // The API gives the same text.
    let reply = d.api("GET", &format!("/api/v1/runs/{run_id}/output"));
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body.as_str(), Some(text.as_str()));
}

#[test]
fn logs_follows_a_running_attempt_and_shows_finished_ones() {
    let mut d = Daemon::new();
    let go = d.path("go");
    d.write_config(&format!(
        r#"
[jobs.slow]
schedule = "{NEVER}"
command = "echo first; echo warning >&2; while [ ! -e {go} ]; do sleep 0.05; done; echo second; exit 4"
"#,
        go = go.display()
    ));
    d.start();
    let run_id = d.trigger("slow");
    d.wait_start(&run_id, 1, SECS_20);

    let mut logs = d.cli_spawn(&["logs", "slow", "-f"]);
    let mut out = BufReader::new(logs.stdout.take().expect("stdout"));
    let mut line = String::new();
    let mut read_line = |line: &mut String| {
        line.clear();
        out.read_line(line).expect("read a line");
        line.clone()
    };
    // Seen while the job cannot have finished: it waits for `go`.
    let first_two = [read_line(&mut line), read_line(&mut line)];
    assert!(!go.exists());
    assert_eq!(first_two, ["first\n", "[stderr] warning\n"]);
    std::fs::write(&go, "").expect("let the job go on");
    assert_eq!(read_line(&mut line), "second\n");
    assert_eq!(read_line(&mut line), "", "ends with the attempt");
    let status = logs.wait().expect("logs exits");
    assert!(status.success(), "exit 0 though the run failed: {status}");
    let rec = d.wait_finish(&run_id, SECS_20);
    assert_eq!((rec.status, rec.exit_code), (Status::Failed, Some(4)));

    // Finished: the latest run by default, or named, with its attempt.
    let shown = d.cli(&["logs", "slow"]);
    assert_eq!(shown.code, 0, "{}", shown.stderr);
    assert_eq!(shown.stdout, "first\n[stderr] warning\nsecond\n");
    let named = d.cli(&["logs", "slow", &run_id, "--attempt", "1"]);
    assert_eq!(named.stdout, shown.stdout);
    let none = d.cli(&["logs", "slow", &run_id, "--attempt", "2"]);
    assert_ne!(none.code, 0);
    assert!(none.stderr.contains("has no attempt 2"), "{}", none.stderr);

    // A file that is gone (as after output_keep) is a 404 with the reason.
    std::fs::remove_file(d.path(&format!("log/output/slow/{run_id}.1.log"))).expect("rm");
    let gone = d.api("GET", &format!("/api/v1/runs/{run_id}/output"));
    assert_eq!(gone.status, 404);
    assert!(
        gone.body
            .to_string()
            .contains("removed after output_keep (14d)"),
        "{}",
        gone.body
    );
}

#[test]
fn with_output_tail_no_file_is_written_and_the_api_says_why() {
    let mut d = Daemon::new();
    let config = format!(
        "[jobs.quiet]\nschedule = \"{NEVER}\"\ncommand = \"echo hello\"\n\n{}output = \"tail\"\n",
        d.daemon_table()
    );
    d.write_file("jobs.toml", &config);
    d.start();
    let run_id = d.trigger("quiet");
    let rec = d.wait_finish(&run_id, SECS_20);
    assert_eq!(rec.stdout, "hello\n");
    assert_eq!(rec.output_dropped_bytes, None);
    assert!(!d.path("log/output").exists());
    let reply = d.api("GET", &format!("/api/v1/runs/{run_id}/output"));
    assert_eq!(reply.status, 404);
    assert!(
        reply.body.to_string().contains("output = \\\"tail\\\""),
        "{}",
        reply.body
    );
    let unknown = d.api("GET", "/api/v1/runs/no-such-run/output");
    assert_eq!(unknown.status, 404);
}
