//! The history index: queries, statistics, rebuild after restart, bounds.

use crate::support::log::*;
use chrono::Duration as ChronoDuration;
use cronduct::log::{HistoryHandle, HistoryLimits, LogOptions, RunFilter, StatsError};
use cronduct::record::{FinishRecord, Status};
use cronduct::wire::{CpuStats, StatusCounts};

fn filter(job: Option<&str>, status: Option<Status>, limit: usize) -> RunFilter {
    RunFilter {
        job: job.map(str::to_string),
        status,
        since: None,
        limit,
    }
}

/// Three jobs over three days, with retries.
fn scenario() -> Vec<FinishRecord> {
    let day = |d: i64, m: i64| t0() - ChronoDuration::days(d) + ChronoDuration::minutes(m);
    vec![
        // backup, 2 days ago: fails, retried, succeeds.
        finish("backup", "b1", 1, Status::Failed, true, day(2, 0), 100),
        finish("backup", "b1", 2, Status::Success, false, day(2, 1), 200),
        // backup, yesterday: times out twice.
        finish("backup", "b2", 1, Status::Timeout, true, day(1, 0), 1000),
        finish("backup", "b2", 2, Status::Timeout, false, day(1, 1), 1000),
        // health, yesterday and today.
        finish("health", "h1", 1, Status::Success, false, day(1, 2), 10),
        finish("health", "h2", 1, Status::Error, false, day(0, -30), 0),
        // report, today: cancelled; and a run whose retry is still pending.
        finish("report", "r1", 1, Status::Cancelled, false, day(0, -20), 50),
        finish("report", "r2", 1, Status::Failed, true, day(0, -10), 70),
    ]
}

#[tokio::test]
async fn stats_sum_cpu_time_and_keep_the_largest_rss_of_every_measured_attempt() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("runs.jsonl");
    let opened = open(&settings(&log, 1 << 20, 3), LogOptions::default()).await;
    let used = |mut r: FinishRecord, user: u64, system: u64, rss: u64| {
        (r.cpu_user_ms, r.cpu_system_ms, r.max_rss_kib) = (Some(user), Some(system), Some(rss));
        r
    };
    let at = t0() - ChronoDuration::minutes(30);
    write_all(
        &opened.sink,
        &[
            // A retried attempt used the machine too: it counts.
            used(
                finish("backup", "b1", 1, Status::Failed, true, at, 100),
                300,
                100,
                50_000,
            ),
            used(
                finish("backup", "b1", 2, Status::Success, false, at, 200),
                500,
                0,
                20_000,
            ),
            // No figures (an HTTP job, or a record from an older daemon).
            finish("health", "h1", 1, Status::Success, false, at, 10),
        ],
    )
    .await;
    let s = opened.history.stats(1, t0()).expect("stats");
    let backup = &s.jobs["backup"];
    assert_eq!(
        backup.cpu_ms,
        Some(CpuStats {
            total: 900,
            avg: 450
        })
    );
    assert_eq!(backup.max_rss_kib, Some(50_000));
    let health = &s.jobs["health"];
    assert_eq!((health.cpu_ms, health.max_rss_kib), (None, None));
    assert_eq!(
        s.totals.cpu_ms,
        Some(CpuStats {
            total: 900,
            avg: 450
        })
    );
    assert_eq!(s.totals.max_rss_kib, Some(50_000));
}

#[tokio::test]
async fn queries_answer_from_what_was_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("runs.jsonl");
    let opened = open(&settings(&log, 1 << 20, 3), LogOptions::default()).await;
    let recs = scenario();
    write_all(&opened.sink, &recs).await;
    let h = &opened.history;

    let newest_first: Vec<_> = recs.iter().rev().cloned().collect();
    assert_eq!(h.runs(&filter(None, None, 50)), newest_first);
    assert_eq!(h.runs(&filter(None, None, 2)), newest_first[..2]);
    assert_eq!(
        h.runs(&filter(Some("backup"), None, 50)),
        vec![
            recs[3].clone(),
            recs[2].clone(),
            recs[1].clone(),
            recs[0].clone()
        ]
    );
    assert_eq!(
        h.runs(&filter(None, Some(Status::Timeout), 50)),
        vec![recs[3].clone(), recs[2].clone()]
    );
    assert_eq!(h.runs(&filter(Some("nope"), None, 50)), vec![]);
    let since = RunFilter {
        since: Some(t0() - ChronoDuration::hours(1)),
        ..filter(None, None, 50)
    };
    assert_eq!(h.runs(&since), newest_first[..3]);

    assert_eq!(h.run("b1"), Some(recs[..2].to_vec()));
    assert_eq!(h.run("unknown"), None);
    assert_eq!(h.last_run("backup"), Some(recs[3].clone()));
    assert_eq!(h.last_run("report"), Some(recs[7].clone()));
    assert_eq!(h.last_run("nope"), None);

    // Final statuses only: b2 (timeout), h2 (error); r2 is still retrying
    // and b1's failed attempt was retried.
    assert_eq!(h.failures_since(t0() - ChronoDuration::days(3)), 2);
    assert_eq!(h.failures_since(t0() - ChronoDuration::hours(1)), 1);
}

#[tokio::test]
async fn stats_count_runs_by_their_final_status() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("runs.jsonl");
    let opened = open(&settings(&log, 1 << 20, 3), LogOptions::default()).await;
    write_all(&opened.sink, &scenario()).await;
    let h = &opened.history;

    let backup = h.job_stats("backup");
    assert_eq!(backup.total, 2);
    assert_eq!(
        backup.by_status,
        StatusCounts {
            success: 1,
            timeout: 1,
            ..StatusCounts::default()
        }
    );
    // Durations of the final attempts: 200 and 1000.
    assert_eq!(backup.avg_duration_ms, Some(600));
    assert_eq!(backup.min_duration_ms, Some(200));
    assert_eq!(backup.max_duration_ms, Some(1000));
    assert_eq!(backup.p95_duration_ms, Some(1000));
    // A run whose retry is pending is not a run yet.
    assert_eq!(h.job_stats("report").total, 1);

    let s = h.stats(7, t0()).expect("stats");
    assert_eq!(s.period.days, 7);
    assert_eq!(s.period.to, t0());
    assert_eq!(
        cronduct::record::ts::format(&s.period.from),
        "2026-03-23T00:00:00.000Z"
    );
    assert_eq!(
        s.totals.runs,
        StatusCounts {
            success: 2,
            timeout: 1,
            error: 1,
            cancelled: 1,
            ..StatusCounts::default()
        }
    );
    assert_eq!(s.totals.attempts, 8);
    assert_eq!(s.totals.success_rate, Some(0.4));
    let backup = &s.jobs["backup"];
    assert_eq!((backup.runs.total(), backup.attempts), (2, 4));
    assert_eq!(backup.success_rate, Some(0.5));
    let report = &s.jobs["report"];
    assert_eq!((report.runs.total(), report.attempts), (1, 2));

    assert_eq!(s.days.len(), 7);
    let dates: Vec<&str> = s.days.iter().map(|d| d.date.as_str()).collect();
    assert_eq!(dates[0], "2026-03-23");
    assert_eq!(dates[6], "2026-03-29");
    let today = &s.days[6];
    assert_eq!((today.runs.total(), today.attempts), (2, 3));
    let yesterday = &s.days[5];
    assert_eq!(
        (
            yesterday.runs.timeout,
            yesterday.runs.success,
            yesterday.attempts
        ),
        (1, 1, 3)
    );
    assert_eq!(s.days[0].attempts, 0);

    // One day: only today's runs and the jobs that ran today.
    let s = h.stats(1, t0()).expect("stats");
    assert_eq!(s.totals.runs.total(), 2);
    assert_eq!(s.jobs.keys().collect::<Vec<_>>(), ["health", "report"]);

    assert_eq!(h.stats(0, t0()), Err(StatsError::Days { days: 0, max: 90 }));
    assert!(h.stats(91, t0()).is_err());
    assert!(h.stats(90, t0()).is_ok());
}

#[tokio::test]
async fn p95_is_honest_on_a_known_distribution() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("runs.jsonl");
    let opened = open(&settings(&log, 1 << 30, 3), LogOptions::default()).await;
    // Durations 1..=1000 ms in shuffled order: nearest-rank p95 = 950,
    // while the mean is 500.
    let recs: Vec<_> = (0..1000u64)
        .map(|i| {
            let d = (i * 379) % 1000 + 1;
            finish("j", &format!("r{i}"), 1, Status::Success, false, t0(), d)
        })
        .collect();
    write_all(&opened.sink, &recs).await;
    let s = opened.history.job_stats("j");
    assert_eq!(s.total, 1000);
    assert_eq!(
        (s.min_duration_ms, s.max_duration_ms),
        (Some(1), Some(1000))
    );
    assert_eq!(s.avg_duration_ms, Some(500));
    let p95 = s.p95_duration_ms.expect("p95") as f64;
    assert!((p95 - 950.0).abs() / 950.0 <= 1.0 / 64.0, "p95 = {p95}");
    let period = opened.history.stats(1, t0()).expect("stats");
    assert_eq!(period.jobs["j"].p95_duration_ms, s.p95_duration_ms);

    // A heavy tail: 95 quick runs and 5 slow ones; p95 is the quick time.
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("runs.jsonl");
    let opened = open(&settings(&log, 1 << 30, 3), LogOptions::default()).await;
    let recs: Vec<_> = (0..100u64)
        .map(|i| {
            let d = if i % 20 == 7 { 60_000 } else { 12 };
            finish("k", &format!("r{i}"), 1, Status::Success, false, t0(), d)
        })
        .collect();
    write_all(&opened.sink, &recs).await;
    assert_eq!(opened.history.job_stats("k").p95_duration_ms, Some(12));
}

#[tokio::test]
async fn history_rebuilt_after_restart_equals_what_was_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("runs.jsonl");
    // Small files so the rebuild spans rotated files.
    let s = settings(&log, 3000, 50);
    let opened = open(&s, LogOptions::default()).await;
    let mut recs = scenario();
    // Leave no retry pending: the restart would record it as lost.
    recs.pop();
    for i in 0..40 {
        let status = if i % 3 == 0 {
            Status::Failed
        } else {
            Status::Success
        };
        let at = t0() - ChronoDuration::minutes(100 - i);
        recs.push(finish(
            "bulk",
            &format!("k{i}"),
            1,
            status,
            false,
            at,
            10 * i as u64,
        ));
    }
    write_all(&opened.sink, &recs).await;
    assert!(log_files(&log).len() > 3);
    let all = filter(None, None, 1000);
    // The same questions before and after the restart.
    let answers = |h: &HistoryHandle| {
        (
            h.runs(&all),
            h.run("b2"),
            h.last_run("bulk"),
            h.job_stats("bulk"),
            h.job_stats("backup"),
            h.stats(30, t0()).expect("stats"),
        )
    };
    let before = answers(&opened.history);
    assert_eq!(before.0, recs.iter().rev().cloned().collect::<Vec<_>>());
    drop(opened);

    let reopened = open(&s, LogOptions::default()).await;
    assert!(reopened.lost.is_empty());
    let after = answers(&reopened.history);
    assert_eq!(after, before);
}

#[tokio::test]
async fn memory_stays_bounded_while_statistics_keep_counting() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("runs.jsonl");
    let opts = LogOptions {
        history: HistoryLimits {
            max_entries: 50,
            recent_full: 5,
        },
        ..LogOptions::default()
    };
    let opened = open(&settings(&log, 1 << 30, 3), opts).await;
    let recs: Vec<_> = (0..200)
        .map(|i| {
            let at = t0() - ChronoDuration::minutes(200 - i);
            finish("j", &format!("r{i}"), 1, Status::Success, false, at, 5)
        })
        .collect();
    write_all(&opened.sink, &recs).await;
    let h = &opened.history;
    // Only the newest 50 can be listed, most of them read back from disk
    // with their full output tails.
    let listed = h.runs(&filter(None, None, 1000));
    assert_eq!(
        listed,
        recs[150..].iter().rev().cloned().collect::<Vec<_>>()
    );
    assert_eq!(h.run("r149"), None);
    assert_eq!(h.run("r150"), Some(vec![recs[150].clone()]));
    // The statistics still count every run.
    assert_eq!(h.job_stats("j").total, 200);
    assert_eq!(h.stats(1, t0()).expect("stats").totals.runs.success, 200);
}

#[tokio::test]
async fn statistics_older_than_90_days_are_dropped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("runs.jsonl");
    let opened = open(&settings(&log, 1 << 30, 3), LogOptions::default()).await;
    let old = finish(
        "j",
        "old",
        1,
        Status::Failed,
        false,
        t0() - ChronoDuration::days(100),
        5,
    );
    let mid = finish(
        "j",
        "mid",
        1,
        Status::Failed,
        false,
        t0() - ChronoDuration::days(80),
        5,
    );
    let new = finish("j", "new", 1, Status::Success, false, t0(), 5);
    write_all(&opened.sink, &[old.clone(), mid, new]).await;
    let stats = opened.history.job_stats("j");
    assert_eq!(
        (stats.total, stats.by_status.failed, stats.by_status.success),
        (2, 1, 1)
    );
    // The record itself is still listed: listing is bounded by count.
    assert_eq!(opened.history.run("old"), Some(vec![old]));
}

#[tokio::test]
async fn metrics_counters_never_go_down_and_are_rebuilt_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("runs.jsonl");
    // Files of a few records and few entries: rotation deletes files and
    // the index evicts entries while the counters keep counting.
    let small = settings(&log, 4000, 2);
    let opts = LogOptions {
        history: HistoryLimits {
            max_entries: 5,
            recent_full: 2,
        },
        ..LogOptions::default()
    };
    let opened = open(&small, opts.clone()).await;
    let mut recs = Vec::new();
    for i in 0..30i64 {
        let at = t0() - ChronoDuration::minutes(60 - i);
        if i % 3 == 0 {
            // Fails once, then succeeds: one run, two attempts.
            recs.push(finish(
                "j",
                &format!("r{i}"),
                1,
                Status::Failed,
                true,
                at,
                1500,
            ));
            recs.push(finish(
                "j",
                &format!("r{i}"),
                2,
                Status::Success,
                false,
                at,
                200,
            ));
        } else {
            recs.push(finish(
                "j",
                &format!("r{i}"),
                1,
                Status::Timeout,
                false,
                at,
                90,
            ));
        }
    }
    write_all(&opened.sink, &recs).await;
    let h = &opened.history;
    assert!(
        h.runs(&filter(None, None, 1000)).len() <= 5,
        "entries evicted"
    );
    assert!(log_files(&log).len() <= 3, "files deleted");
    let m = h.metrics_snapshot();
    let j = &m.jobs["j"];
    assert_eq!(
        j.runs,
        StatusCounts {
            success: 10,
            timeout: 20,
            ..StatusCounts::default()
        }
    );
    assert_eq!(j.durations.count, 40, "every attempt");
    assert_eq!(j.durations.sum_ms, 10 * 1500 + 10 * 200 + 20 * 90);
    // 90 and 200 ms fall in le=0.1 and le=0.5, 1500 ms in le=5.
    assert_eq!(j.durations.counts[..4], [20, 10, 0, 10]);
    assert_eq!(j.last_success, Some(t0() - ChronoDuration::minutes(33)));

    write_all(
        &opened.sink,
        &[finish("j", "r-next", 1, Status::Success, false, t0(), 5)],
    )
    .await;
    let next = &h.metrics_snapshot().jobs["j"];
    assert_eq!(next.runs.success, 11);
    assert_eq!(next.durations.count, 41);
    assert_eq!(next.last_success, Some(t0()));
    drop(opened);

    // A restart counts again from the files that are left, the same way.
    let kept = all_finishes(&log);
    let reopened = open(&small, opts).await;
    let rebuilt = &reopened.history.metrics_snapshot().jobs["j"];
    let finals = kept.iter().filter(|r| !r.will_retry);
    assert_eq!(rebuilt.runs.total(), finals.count() as u64);
    assert_eq!(rebuilt.durations.count, kept.len() as u64);
    assert_eq!(rebuilt.last_success, Some(t0()));
}
