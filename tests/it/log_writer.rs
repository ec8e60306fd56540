//! The JSONL writer against real files: whole lines, rotation, failures.

use std::collections::HashMap;
use std::fs;
use std::time::Duration;

use crate::support::log::*;
use crate::support::poll;
use cronduct::log::{FlushError, LogError, LogOptions, RunFilter};
use cronduct::record::{LogEvent, Status};

fn all_runs() -> RunFilter {
    RunFilter {
        job: None,
        status: None,
        since: None,
        limit: 100_000,
    }
}

#[tokio::test]
async fn lines_stay_whole_under_concurrent_writers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("runs.jsonl");
    let s = settings(&log, 1 << 30, 3);
    // Two independent writers on one file (two fds, as two daemons would
    // have), each fed by four threads, with lines of a few KiB.
    let a = open(&s, LogOptions::default()).await;
    let b = open(&s, LogOptions::default()).await;
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let sink = if t % 2 == 0 {
                a.sink.clone()
            } else {
                b.sink.clone()
            };
            std::thread::spawn(move || {
                for i in 0..300 {
                    let mut rec = finish(
                        &format!("job{t}"),
                        &format!("{t}-{i}"),
                        1,
                        Status::Success,
                        false,
                        t0(),
                        5,
                    );
                    rec.stdout = format!("{t}-{i}:").repeat(400);
                    sink.write(LogEvent::Finish(rec));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("writer thread");
    }
    a.sink.flush().await.expect("flush a");
    b.sink.flush().await.expect("flush b");

    // Every line parses, every record is there once, and each thread's
    // records are in the order it wrote them.
    let recs = all_finishes(&log);
    assert_eq!(recs.len(), 8 * 300);
    let mut next: HashMap<String, u32> = HashMap::new();
    for r in &recs {
        let (t, i) = r.run_id.split_once('-').expect("run id");
        let i: u32 = i.parse().expect("index");
        let want = next.entry(t.to_string()).or_default();
        assert_eq!(i, *want, "thread {t} out of order");
        *want += 1;
        assert_eq!(r.stdout, format!("{}:", r.run_id).repeat(400));
    }
}

#[tokio::test]
async fn rotation_keeps_every_line_and_deletes_beyond_keep() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("logs/runs.jsonl");
    let max = 4096;
    let s = settings(&log, max, 3);
    let mut opts = LogOptions::default();
    // Make the index read most records back from the rotated files.
    opts.history.recent_full = 2;
    let opened = open(&s, opts).await;
    let written: Vec<_> = (0..200)
        .map(|i| {
            finish(
                "rot",
                &format!("r{i:03}"),
                1,
                Status::Success,
                false,
                t0(),
                i,
            )
        })
        .collect();
    write_all(&opened.sink, &written).await;

    let files = log_files(&log);
    assert_eq!(files.len(), 4, "runs.jsonl and .1-.3: {files:?}");
    assert!(!dir.path().join("logs/runs.jsonl.4").exists());
    for f in &files {
        let size = fs::metadata(f).expect("stat").len();
        assert!(size <= max, "{} is {size} bytes", f.display());
    }
    // What is kept is exactly the newest lines, none missing in between.
    let kept = all_finishes(&log);
    assert!(kept.len() > 10 && kept.len() < 200, "{} kept", kept.len());
    assert_eq!(kept[..], written[200 - kept.len()..]);

    // The index lists what the files hold, read back in full from them.
    let mut listed = opened.history.runs(&all_runs());
    listed.reverse();
    assert_eq!(listed, kept);
    assert_eq!(opened.history.run("r000"), None);
    let oldest_kept = &kept[0];
    assert_eq!(
        opened.history.run(&oldest_kept.run_id),
        Some(vec![oldest_kept.clone()])
    );
}

#[tokio::test]
async fn a_line_larger_than_the_limit_is_written_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("runs.jsonl");
    let s = settings(&log, 1000, 5);
    let opened = open(&s, LogOptions::default()).await;
    let small = finish("j", "small1", 1, Status::Success, false, t0(), 1);
    let mut big = finish("j", "big", 1, Status::Failed, false, t0(), 1);
    big.stdout = "x".repeat(5000);
    let small2 = finish("j", "small2", 1, Status::Success, false, t0(), 1);
    write_all(&opened.sink, [&small, &big, &small2]).await;
    let files = log_files(&log);
    let per_file: Vec<Vec<String>> = files
        .iter()
        .map(|f| {
            events(f)
                .into_iter()
                .map(|e| match e {
                    LogEvent::Finish(f) => f.run_id,
                    other => panic!("unexpected {other:?}"),
                })
                .collect()
        })
        .collect();
    assert_eq!(per_file, vec![vec!["small1"], vec!["big"], vec!["small2"]]);
    assert_eq!(opened.history.run("big"), Some(vec![big]));
}

#[tokio::test]
async fn a_failed_write_is_queued_and_written_when_the_directory_is_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let logs = dir.path().join("logs");
    let log = logs.join("runs.jsonl");
    let s = settings(&log, 1 << 20, 3);
    let opts = LogOptions {
        retry_interval: Duration::from_millis(50),
        ..LogOptions::default()
    };
    let opened = open(&s, opts).await;
    let first = finish("j", "first", 1, Status::Success, false, t0(), 1);
    write_all(&opened.sink, [&first]).await;
    assert!(opened.sink.health().ok);

    // Replace the log directory by a plain file: no write can succeed,
    // even as root.
    fs::remove_dir_all(&logs).expect("remove dir");
    fs::write(&logs, "not a directory").expect("block the path");
    let queued: Vec<_> = (0..3)
        .map(|i| {
            finish(
                "j",
                &format!("queued{i}"),
                1,
                Status::Failed,
                false,
                t0(),
                1,
            )
        })
        .collect();
    for r in &queued {
        opened.sink.write(LogEvent::Finish(r.clone()));
    }
    match opened.sink.flush().await {
        Err(FlushError::Pending { pending, error }) => {
            assert_eq!(pending, 3);
            assert!(error.contains("runs.jsonl"), "{error}");
        }
        other => panic!("flush should report the queued lines: {other:?}"),
    }
    let health = opened.sink.health();
    assert!(!health.ok);
    assert_eq!(health.pending, 3);
    assert!(health.error.as_deref().unwrap_or("").contains("runs.jsonl"));
    // The API only shows what the log has.
    assert_eq!(opened.history.run("queued0"), None);

    // Fix the path: the periodic retry writes the queue, in order,
    // without any new line arriving.
    fs::remove_file(&logs).expect("unblock");
    poll::until_async("the queue to be retried", Duration::from_secs(10), || {
        (opened.sink.health().pending == 0).then_some(())
    })
    .await;
    assert_eq!(all_finishes(&log), queued);
    let health = opened.sink.health();
    assert!(health.ok && health.error.is_none() && health.dropped == 0);
    assert_eq!(opened.history.run("queued2"), Some(vec![queued[2].clone()]));
    opened.sink.flush().await.expect("flush after recovery");
}

#[tokio::test]
async fn a_full_queue_drops_the_oldest_lines_and_counts_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let logs = dir.path().join("logs");
    let log = logs.join("runs.jsonl");
    let s = settings(&log, 1 << 20, 3);
    let opts = LogOptions {
        queue_lines: 5,
        retry_interval: Duration::from_secs(3600),
        ..LogOptions::default()
    };
    let opened = open(&s, opts).await;
    fs::remove_dir_all(&logs).expect("remove dir");
    fs::write(&logs, "x").expect("block the path");
    let recs: Vec<_> = (0..8)
        .map(|i| finish("j", &format!("q{i}"), 1, Status::Success, false, t0(), 1))
        .collect();
    for r in &recs {
        opened.sink.write(LogEvent::Finish(r.clone()));
    }
    assert!(opened.sink.flush().await.is_err());
    let health = opened.sink.health();
    assert_eq!((health.pending, health.dropped), (5, 3));

    fs::remove_file(&logs).expect("unblock");
    opened.sink.flush().await.expect("flush");
    assert_eq!(all_finishes(&log), recs[3..]);
    assert_eq!(opened.sink.health().dropped, 3);
}

#[tokio::test]
async fn a_log_file_moved_away_is_recreated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("runs.jsonl");
    let s = settings(&log, 1 << 20, 3);
    let opened = open(&s, LogOptions::default()).await;
    let a = finish("j", "a", 1, Status::Success, false, t0(), 1);
    write_all(&opened.sink, [&a]).await;
    let moved = dir.path().join("moved.jsonl");
    fs::rename(&log, &moved).expect("move");
    let b = finish("j", "b", 1, Status::Success, false, t0(), 1);
    write_all(&opened.sink, [&b]).await;
    assert_eq!(all_finishes(&log), vec![b]);
    assert_eq!(all_finishes(&moved), vec![a]);
}

#[tokio::test]
async fn reconfigure_applies_rotation_settings_and_refuses_a_new_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("runs.jsonl");
    let s = settings(&log, 1 << 20, 3);
    let opened = open(&s, LogOptions::default()).await;
    for i in 0..3 {
        let r = finish("j", &format!("a{i}"), 1, Status::Success, false, t0(), 1);
        opened.sink.write(LogEvent::Finish(r));
    }
    opened.sink.flush().await.expect("flush");
    assert_eq!(log_files(&log).len(), 1);

    // A limit smaller than one line: every line now starts a new file.
    opened
        .sink
        .reconfigure(&settings(&log, 10, 2))
        .expect("same path");
    for i in 0..3 {
        let r = finish("j", &format!("b{i}"), 1, Status::Success, false, t0(), 1);
        opened.sink.write(LogEvent::Finish(r));
    }
    opened.sink.flush().await.expect("flush");
    let ids: Vec<String> = all_finishes(&log).into_iter().map(|f| f.run_id).collect();
    assert_eq!(ids, ["b0", "b1", "b2"]);
    assert_eq!(log_files(&log).len(), 3);

    let other = dir.path().join("other.jsonl");
    let err = opened
        .sink
        .reconfigure(&settings(&other, 10, 2))
        .expect_err("a new path needs a restart");
    assert!(err.to_string().contains("other.jsonl"), "{err}");
}

#[tokio::test]
async fn open_fails_when_the_log_cannot_be_created() {
    let dir = tempfile::tempdir().expect("tempdir");
    let blocker = dir.path().join("file");
    fs::write(&blocker, "x").expect("write");
    let s = settings(&blocker.join("runs.jsonl"), 1 << 20, 3);
    let err = cronduct::log::open_with(
        &s,
        std::sync::Arc::new(cronduct::clock::FakeClock::new(t0())),
        "h".into(),
        LogOptions::default(),
    )
    .await
    .expect_err("the parent is a file");
    assert!(matches!(err, LogError::Open { .. }), "{err:?}");
    assert!(err.to_string().contains("file/runs.jsonl"), "{err}");
}
