//! The execution log (cronduct.toml(5) EXECUTION LOG) and the history index
//! the API answers from (cronduct.toml(5) ADMIN API).
//!
//! Owns: the JSONL file and its rotated siblings (`writer`, `rotate`),
//! reading them back at start-up (`recover`: history rebuild and `lost`
//! runs), and the in-memory index (`history`, `stats`). It does not decide
//! what is logged — the daemon and the runners build the records — and it
//! never blocks its callers on disk I/O.
//!
//! The daemon makes one call at start-up, [`open`], and then holds the
//! [`LogSink`] (to write) and the [`HistoryHandle`] (for the API).

mod history;
pub mod journal;
pub mod output;
mod recover;
mod rotate;
mod stats;
mod writer;

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use history::{
    Aggregated, CountGroup, DurationGroup, HistoryHandle, HistoryLimits, MAX_STATS_DAYS,
    ResultGroup, RunFilter,
};
pub use recover::LOST_RUNNING;
pub use stats::{DURATION_BUCKETS_MS, DurationHistogram, JobCounters, MetricsSnapshot, StatsError};
pub use writer::{FlushError, LogHealth, LogSink, RestartRequired};

use crate::clock::Clock;
use crate::config::DaemonSettings;
use crate::record::{FinishRecord, LogEvent};

/// Why the log could not be opened at start-up (daemon-fatal).
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("cannot open the execution log {path}: {source}", path = path.display())]
    Open { path: PathBuf, source: io::Error },
    #[error("cannot start the log writer thread: {0}")]
    Spawn(io::Error),
    #[error("reading the execution log back failed: {0}")]
    Rebuild(String),
}

/// Tuning knobs; the defaults suit any real installation, tests shrink
/// them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogOptions {
    /// Unwritten lines kept in memory while the file cannot be written
    /// (default 10,000)...
    pub queue_lines: usize,
    /// ...and their size in bytes (default 16 MiB); beyond either the
    /// oldest are dropped and counted in [`LogHealth::dropped`].
    pub queue_bytes: usize,
    /// How often queued lines are retried when no new line arrives
    /// (default 5 s).
    pub retry_interval: Duration,
    pub history: HistoryLimits,
    /// In cluster mode, this node's name: every record gets `"node"` next
    /// to `host`.
    pub node: Option<Arc<str>>,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            queue_lines: 10_000,
            queue_bytes: 16 << 20,
            retry_interval: Duration::from_secs(5),
            history: HistoryLimits::default(),
            node: None,
        }
    }
}

/// What [`open`] hands the daemon.
#[derive(Debug)]
pub struct OpenedLog {
    pub sink: LogSink,
    pub history: HistoryHandle,
    /// The `lost` finish records just appended for runs a crash left open,
    /// in log order; the daemon sends their failure notices.
    pub lost: Vec<FinishRecord>,
}

/// Start-up: rebuilds the history index from the log files, starts the
/// writer, appends a `lost` finish record for every run a crash left open
/// and waits until those are on disk. `host` goes into the `lost` records.
///
/// Two kinds of run are left open by a crash and both get a `lost` finish
/// record, so that the run has a final status, is counted in the stats and
/// gets its failure notice:
/// - an attempt with a `start` line but no `finish` line: the record has
///   the start line's time as `started_at`, now as `finished_at`, and
///   [`LOST_RUNNING`] as `error`;
/// - a run whose last finish line said `will_retry: true` but whose next
///   attempt never started (the daemon stopped during the retry delay):
///   the record is that next attempt, never started, duration 0.
///
/// Garbage lines (a partial last line after a crash, a hand-edited line)
/// are skipped with a warning; an unreadable rotated file is skipped with
/// a warning. Fails only when the log file cannot be opened for writing.
pub async fn open(
    settings: &DaemonSettings,
    clock: Arc<dyn Clock>,
    host: String,
) -> Result<OpenedLog, LogError> {
    open_with(settings, clock, host, LogOptions::default()).await
}

/// [`open`] with non-default [`LogOptions`].
pub async fn open_with(
    settings: &DaemonSettings,
    clock: Arc<dyn Clock>,
    host: String,
    options: LogOptions,
) -> Result<OpenedLog, LogError> {
    let owned = settings.clone();
    let (sink, history, open_runs) = tokio::task::spawn_blocking(move || {
        let scanned = recover::scan(&owned.log_file, options.history);
        let history = HistoryHandle::new(scanned.history);
        let sink = writer::spawn(&owned, scanned.current_gen, history.clone(), options)?;
        Ok::<_, LogError>((sink, history, scanned.open))
    })
    .await
    .map_err(|e| LogError::Rebuild(e.to_string()))??;
    let lost = open_runs.into_lost(clock.now(), &host);
    for rec in &lost {
        tracing::warn!(job = %rec.job, run_id = %rec.run_id, attempt = rec.attempt, "recording a run as lost: {}", rec.error.as_deref().unwrap_or_default());
        sink.write(LogEvent::Finish(rec.clone()));
    }
    if !lost.is_empty() {
        if let Err(e) = sink.flush().await {
            tracing::error!("the lost-run records are not on disk yet: {e}");
        }
    }
    Ok(OpenedLog {
        sink,
        history,
        lost,
    })
}
