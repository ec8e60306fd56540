//! History index benchmark: 1,000 jobs × 100 finish records (100,000
//! records, ~1 KiB of output tail each, 5 % of runs retried) spread over
//! 30 days. Reports the index's memory (RSS growth across the rebuild, an
//! upper bound: it includes what the allocator keeps from parsing), the
//! rebuild time and the median time of the queries the API makes.
//!
//! Run: `cargo bench --bench history`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use cronduct::clock::FakeClock;
use cronduct::config::DaemonSettings;
use cronduct::log::{HistoryHandle, LogOptions, RunFilter};
use cronduct::record::{FinishRecord, LogEvent, Status};

const JOBS: usize = 1_000;
const PER_JOB: usize = 100;
const SPAN_DAYS: i64 = 30;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn record(
    job: usize,
    run: usize,
    attempt: u32,
    will_retry: bool,
    at: DateTime<Utc>,
) -> FinishRecord {
    let status = match (job + run) % 17 {
        _ if will_retry => Status::Failed,
        0 => Status::Failed,
        1 => Status::Timeout,
        _ => Status::Success,
    };
    let duration = 50 + ((job * 7919 + run * 104_729) % 120_000) as u64;
    FinishRecord {
        attempt,
        stdout: format!("line {run} of the job's output, with some words\n").repeat(16),
        stderr: "warning: something mildly interesting happened here\n".repeat(5),
        output_truncated: true,
        will_retry,
        retry_at: will_retry.then(|| at + chrono::Duration::seconds(30)),
        host: "bench-host".into(),
        node: None,
        ..cronduct::testkit::finish(
            &format!("job-{job:04}"),
            &format!("01J{job:05}R{run:04}XXXXXXXXXXXXXX"),
            status,
            at,
            duration,
        )
    }
}

/// Writes the log and answers how many records it holds.
fn write_log(path: &std::path::Path, now: DateTime<Utc>) -> usize {
    let file = File::create(path).expect("create log");
    let mut w = BufWriter::new(file);
    let span_ms = SPAN_DAYS * 86_400_000;
    let mut n = 0;
    // Interleave jobs in time order, as a real log is.
    for slot in 0..PER_JOB {
        for job in 0..JOBS {
            let at = now
                - chrono::Duration::milliseconds(
                    span_ms - span_ms * slot as i64 / PER_JOB as i64 - job as i64 * 1000,
                );
            // Every 20th run is a retried one: its first attempt fills this
            // slot and its second the next, keeping 100 records per job.
            let retried = slot % 20 == 0 && slot + 1 < PER_JOB;
            let (run, attempt, will_retry) = if retried {
                (slot, 1, true)
            } else if slot % 20 == 1 {
                (slot - 1, 2, false)
            } else {
                (slot, 1, false)
            };
            let rec = record(job, run, attempt, will_retry, at);
            serde_json::to_writer(&mut w, &LogEvent::Finish(rec)).expect("write");
            w.write_all(b"\n").expect("write");
            n += 1;
        }
    }
    w.flush().expect("flush");
    n
}

fn median<T>(mut f: impl FnMut() -> T, rounds: usize) -> Duration {
    let mut times: Vec<Duration> = (0..rounds)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(f());
            t.elapsed()
        })
        .collect();
    times.sort();
    times[rounds / 2]
}

fn report(name: &str, d: Duration) {
    println!("{name:<48} {:>10.3} ms", d.as_secs_f64() * 1000.0);
}

fn queries(h: &HistoryHandle, now: DateTime<Utc>) {
    let newest = RunFilter {
        job: None,
        status: None,
        since: None,
        limit: 50,
    };
    let one_job = RunFilter {
        job: Some("job-0421".into()),
        ..newest.clone()
    };
    let none_match = RunFilter {
        status: Some(Status::Lost),
        ..newest.clone()
    };
    let max_page = RunFilter {
        limit: 1000,
        ..newest.clone()
    };
    assert_eq!(h.runs(&newest).len(), 50);
    assert_eq!(h.runs(&one_job).len(), 50);
    report(
        "runs(limit 50), newest, all jobs",
        median(|| h.runs(&newest), 201),
    );
    report(
        "runs(job, limit 50), read back from disk",
        median(|| h.runs(&one_job), 201),
    );
    report(
        "runs(status=lost, limit 50), full scan",
        median(|| h.runs(&none_match), 51),
    );
    report("runs(limit 1000)", median(|| h.runs(&max_page), 21));
    let old_run = "01J00421R0040XXXXXXXXXXXXXX";
    assert_eq!(h.run(old_run).map(|a| a.len()), Some(2));
    report(
        "run(run_id) with 2 attempts",
        median(|| h.run(old_run), 201),
    );
    report(
        "last_run(job) for all 1,000 jobs",
        median(
            || {
                for j in 0..JOBS {
                    std::hint::black_box(h.last_run(&format!("job-{j:04}")));
                }
            },
            51,
        ),
    );
    report("job_stats(job)", median(|| h.job_stats("job-0421"), 201));
    assert_eq!(h.metrics_snapshot().jobs.len(), JOBS);
    report("metrics_snapshot()", median(|| h.metrics_snapshot(), 51));
    let s = h.stats(30, now).expect("stats");
    assert_eq!(s.jobs.len(), JOBS);
    report("stats(days=30)", median(|| h.stats(30, now), 51));
    report("stats(days=90)", median(|| h.stats(90, now), 51));
    report(
        "failures_since(24 h)",
        median(|| h.failures_since(now - chrono::Duration::hours(24)), 51),
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("runs.jsonl");
    let now = Utc
        .with_ymd_and_hms(2026, 3, 29, 12, 0, 0)
        .single()
        .expect("valid");
    let n = write_log(&log, now);
    let size = std::fs::metadata(&log).expect("stat").len();
    println!(
        "log: {n} finish records, {:.1} MiB ({} B/record)",
        size as f64 / (1 << 20) as f64,
        size / n as u64
    );
    let settings = DaemonSettings {
        listen: "127.0.0.1:0".parse().expect("addr"),
        admin_key_file: None,
        state_dir: dir.path().to_path_buf(),
        log_file: log.clone(),
        log_max_size: 1 << 40,
        log_keep: 10,
        shutdown_grace: Duration::from_secs(1),
        output: cronduct::config::OutputMode::Files,
        output_keep: std::time::Duration::from_secs(14 * 86_400),
        keys: Vec::new(),
        managed_dir: None,
        managed_users: Vec::new(),
    };

    let before = rss_kib();
    let t = Instant::now();
    let opened = rt
        .block_on(cronduct::log::open_with(
            &settings,
            Arc::new(FakeClock::new(now)),
            "bench-host".into(),
            LogOptions::default(),
        ))
        .expect("open");
    let rebuild = t.elapsed();
    let after = rss_kib();
    assert!(opened.lost.is_empty());
    println!(
        "index RSS growth over the rebuild: {:.1} MiB ({} B/record); rebuild {:.0} ms",
        (after.saturating_sub(before)) as f64 / 1024.0,
        after.saturating_sub(before) * 1024 / n as u64,
        rebuild.as_secs_f64() * 1000.0
    );
    queries(&opened.history, now);

    // Writer throughput: lines through the sink onto disk and into the index.
    let extra = 20_000;
    let t = Instant::now();
    for i in 0..extra {
        let rec = record(i % JOBS, 10_000 + i, 1, false, now);
        opened.sink.write(LogEvent::Finish(rec));
    }
    rt.block_on(opened.sink.flush()).expect("flush");
    let took = t.elapsed();
    println!(
        "writer: {extra} finish records written, indexed and synced in {:.0} ms ({:.1} µs/line)",
        took.as_secs_f64() * 1000.0,
        took.as_secs_f64() * 1e6 / extra as f64
    );
    println!(
        "RSS after {} records: {:.1} MiB total",
        n + extra,
        rss_kib() as f64 / 1024.0
    );
}
