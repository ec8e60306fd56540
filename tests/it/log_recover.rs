//! Start-up after a crash: open runs become `lost`, garbage is tolerated.

use std::fs;
use std::io::Write;

use crate::support::log::*;
use chrono::Duration as ChronoDuration;
use cronduct::log::{LOST_RUNNING, LogOptions};
use cronduct::record::{LogEvent, Status};

fn line(ev: LogEvent) -> String {
    let mut s = serde_json::to_string(&ev).expect("serialise");
    s.push('\n');
    s
}

#[tokio::test]
async fn open_runs_are_recorded_as_lost_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("runs.jsonl");
    let minutes = |m: i64| t0() - ChronoDuration::minutes(m);

    // The rotated file: A starts (finishes in the current file), D starts
    // and never finishes.
    let rotated = format!(
        "{}{}",
        line(LogEvent::Start(start("a", "A", 1, minutes(50)))),
        line(LogEvent::Start(start("d", "D", 1, minutes(45)))),
    );
    fs::write(dir.path().join("runs.jsonl.1"), rotated).expect("write .1");
    // The current file: A finishes; B starts and never finishes; C fails,
    // promises a retry, and the daemon dies before it; then a garbage
    // line and a partial last line (the crash).
    let mut current = String::new();
    current += &line(LogEvent::Finish(finish(
        "a",
        "A",
        1,
        Status::Success,
        false,
        minutes(40),
        1000,
    )));
    current += &line(LogEvent::Start(start("b", "B", 1, minutes(30))));
    current += &line(LogEvent::Start(start("c", "C", 1, minutes(20))));
    let c1 = finish("c", "C", 1, Status::Failed, true, minutes(19), 60_000);
    current += &line(LogEvent::Finish(c1.clone()));
    current += "this is not json\n";
    current += "{\"event\":\"start\",\"ts\":\"2026-03-29T11:5";
    fs::write(&log, &current).expect("write log");

    let s = settings(&log, 1 << 20, 5);
    let opened = open(&s, LogOptions::default()).await;
    let lost = &opened.lost;
    let ids: Vec<(&str, u32)> = lost
        .iter()
        .map(|r| (r.run_id.as_str(), r.attempt))
        .collect();
    assert_eq!(ids, [("D", 1), ("B", 1), ("C", 2)], "in log order");
    for r in lost {
        assert_eq!(r.status, Status::Lost);
        assert!(!r.will_retry);
        assert_eq!(r.finished_at, t0());
        assert_eq!(r.host, "testhost");
    }
    let b = &lost[1];
    assert_eq!(b.job, "b");
    assert_eq!(b.started_at, minutes(30));
    assert_eq!(b.duration_ms, 30 * 60 * 1000);
    assert_eq!(b.error.as_deref(), Some(LOST_RUNNING));
    let c = &lost[2];
    assert_eq!((c.job.as_str(), c.trigger), ("c", c1.trigger));
    assert_eq!(c.duration_ms, 0);
    assert!(c.error.as_deref().unwrap_or("").contains("retried"));

    // On disk: the partial line was terminated, so it stays one garbage
    // line, and the lost records follow as whole lines.
    let text = fs::read_to_string(&log).expect("read");
    assert!(text.starts_with(&current), "existing lines untouched");
    let appended: Vec<LogEvent> = text[current.len()..]
        .strip_prefix('\n')
        .expect("partial line terminated")
        .lines()
        .map(|l| serde_json::from_str(l).expect("whole line"))
        .collect();
    let expect: Vec<LogEvent> = lost.iter().cloned().map(LogEvent::Finish).collect();
    assert_eq!(appended, expect);

    // The API sees them.
    assert_eq!(opened.history.run("B"), Some(vec![b.clone()]));
    assert_eq!(opened.history.run("C"), Some(vec![c1, c.clone()]));
    assert_eq!(
        opened.history.last_run("d").map(|r| r.status),
        Some(Status::Lost)
    );
    assert_eq!(opened.history.job_stats("c").by_status.lost, 1);

    // A second start finds nothing open and appends nothing.
    drop(opened);
    let size = fs::metadata(&log).expect("stat").len();
    let again = open(&s, LogOptions::default()).await;
    assert!(again.lost.is_empty(), "{:?}", again.lost);
    assert_eq!(fs::metadata(&log).expect("stat").len(), size);
    assert_eq!(
        again
            .history
            .runs(&cronduct::log::RunFilter {
                job: None,
                status: Some(Status::Lost),
                since: None,
                limit: 10,
            })
            .len(),
        3
    );
}

#[tokio::test]
async fn a_clean_log_has_no_lost_runs_and_a_complete_last_line_without_newline_counts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("runs.jsonl");
    let mut f = fs::File::create(&log).expect("create");
    let rec = finish("j", "R", 1, Status::Success, false, t0(), 10);
    f.write_all(line(LogEvent::Start(start("j", "R", 1, t0()))).as_bytes())
        .expect("write");
    // The finish line made it whole except for its newline.
    f.write_all(line(LogEvent::Finish(rec.clone())).trim_end().as_bytes())
        .expect("write");
    drop(f);
    let opened = open(&settings(&log, 1 << 20, 5), LogOptions::default()).await;
    assert!(opened.lost.is_empty());
    assert_eq!(opened.history.run("R"), Some(vec![rec.clone()]));
    let next = finish("j", "S", 1, Status::Success, false, t0(), 10);
    write_all(&opened.sink, [&next]).await;
    assert_eq!(all_finishes(&log), vec![rec, next]);
}
