//! Fixtures shared by the `log_*` integration tests: settings for a log in
//! a temp dir, record builders, and readers for the files on disk.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use cronduct::clock::FakeClock;
use cronduct::config::DaemonSettings;
use cronduct::log::{LogOptions, LogSink, OpenedLog};
use cronduct::record::{FinishRecord, LogEvent, StartRecord, Status, Trigger};

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 29, 12, 0, 0)
        .single()
        .expect("valid instant")
}

pub fn settings(log_file: &Path, max_size: u64, keep: u32) -> DaemonSettings {
    DaemonSettings {
        listen: "127.0.0.1:0".parse().expect("addr"),
        admin_key_file: None,
        state_dir: log_file.parent().expect("parent").to_path_buf(),
        log_file: log_file.to_path_buf(),
        log_max_size: max_size,
        log_keep: keep,
        shutdown_grace: Duration::from_secs(1),
        keys: Vec::new(),
        managed_dir: None,
        managed_users: Vec::new(),
    }
}

/// Writes each record's finish line, then flushes (which must succeed).
pub async fn write_all<'a>(sink: &LogSink, recs: impl IntoIterator<Item = &'a FinishRecord>) {
    for r in recs {
        sink.write(LogEvent::Finish(r.clone()));
    }
    sink.flush().await.expect("flush");
}

pub async fn open(settings: &DaemonSettings, options: LogOptions) -> OpenedLog {
    cronduct::log::open_with(
        settings,
        Arc::new(FakeClock::new(t0())),
        "testhost".into(),
        options,
    )
    .await
    .expect("open the log")
}

pub fn start(job: &str, run_id: &str, attempt: u32, at: DateTime<Utc>) -> StartRecord {
    StartRecord {
        ts: at,
        run_id: run_id.into(),
        job: job.into(),
        attempt,
        trigger: Trigger::Schedule,
        scheduled_at: at,
        pid: Some(4242),
        host: "testhost".into(),
    }
}

/// A finish record that ended at `finished_at` after `duration_ms`, with
/// an output tail that names it (so a record read back from disk can be
/// told apart from a reconstructed one).
pub fn finish(
    job: &str,
    run_id: &str,
    attempt: u32,
    status: Status,
    will_retry: bool,
    finished_at: DateTime<Utc>,
    duration_ms: u64,
) -> FinishRecord {
    FinishRecord {
        attempt,
        stdout: format!("{run_id}/{attempt} stdout tail\n").repeat(20),
        stderr: format!("{run_id}/{attempt} stderr\n"),
        will_retry,
        retry_at: will_retry.then(|| finished_at + chrono::Duration::seconds(30)),
        ..cronduct::testkit::finish(job, run_id, status, finished_at, duration_ms)
    }
}

/// `base.N` … `base.1`, `base`: the existing files, oldest first.
pub fn log_files(base: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = (1..100)
        .map(|i| PathBuf::from(format!("{}.{i}", base.display())))
        .take_while(|p| p.exists())
        .collect();
    files.reverse();
    if base.exists() {
        files.push(base.to_path_buf());
    }
    files
}

/// Every line of `path`, each parsed (panics on a line that does not).
pub fn events(path: &Path) -> Vec<LogEvent> {
    fs::read_to_string(path)
        .expect("read log")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l:?}: {e}")))
        .collect()
}

/// The finish records of every log file, oldest first.
pub fn all_finishes(base: &Path) -> Vec<FinishRecord> {
    log_files(base)
        .iter()
        .flat_map(|p| events(p))
        .filter_map(|e| match e {
            LogEvent::Finish(f) => Some(f),
            _ => None,
        })
        .collect()
}
