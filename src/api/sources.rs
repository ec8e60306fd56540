//! Where the API's answers come from: the scheduler (through its control
//! [`Handle`]), the history index of past runs, and the log writer's health.
//!
//! This is the only file of `api` that names the history and the log types,
//! so the rest of the API is written against the method names below and
//! never against their implementation.
//!
//! MERGE NOTE: until `log::history` lands, [`HistoryStandIn`] and
//! [`LogSinkStandIn`] stand in for `log::history::HistoryHandle` and
//! `log::LogSink`, with the same method names and signatures. The swap is:
//! delete everything below the "stand-ins" marker and write
//! `pub use crate::log::history::{HistoryHandle as History, RunFilter, JobStats};`
//! `pub use crate::log::{LogSink as LogSource, LogHealth};`.
//! The API relies on `JobStats` and `LogHealth` having the public fields
//! named here, and on `Stats: Serialize`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Duration as ChronoDuration, NaiveDate, Utc};
use serde::Serialize;

use crate::clock::Clock;
use crate::daemon::control::Handle;
use crate::record::{FinishRecord, Status};

/// Everything the API needs from the rest of the daemon.
///
/// The daemon builds one at start and hands it to [`super::serve`]; the
/// API never mutates job state itself, it only sends requests on `handle`.
pub struct ApiContext {
    /// The scheduler task's request channel.
    pub handle: Handle,
    /// The index of finished runs (rebuilt from the log at start).
    pub history: History,
    /// The execution-log writer, asked only for its health.
    pub log: LogSource,
    /// The admin key every path except `/health` requires
    /// (see [`super::key::load_or_create_key`]).
    pub admin_key: String,
    /// `[daemon].listen`: requests naming it in `Host` are accepted besides
    /// the loopback names.
    pub listen: SocketAddr,
    /// The only source of "now" (uptime, `failures_24h`, `since=2h`).
    pub clock: Arc<dyn Clock>,
    /// When the daemon started, as `GET /api/v1/status` reports it.
    pub started_at: DateTime<Utc>,
}

// ---- stand-ins: replaced by `log::history` and `log::LogSink` at the merge ----

/// The history index the API reads (stand-in until the merge).
pub type History = HistoryStandIn;
/// The log writer whose health the API reports (stand-in until the merge).
pub type LogSource = LogSinkStandIn;

/// Which runs to list (same shape as `log::history::RunFilter`).
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    pub job: Option<String>,
    pub status: Option<Status>,
    /// Only records that finished at or after this instant.
    pub since: Option<DateTime<Utc>>,
    pub limit: usize,
}

/// One job's outcome counts and durations over the whole history.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobStats {
    pub total: u64,
    pub success: u64,
    pub failed: u64,
    pub timeout: u64,
    pub avg_duration_ms: Option<u64>,
    pub min_duration_ms: Option<u64>,
    pub max_duration_ms: Option<u64>,
    pub p95_duration_ms: Option<u64>,
}

/// `GET /api/v1/stats` (stand-in: counts by final status, per job and per
/// day; the real index adds rates and durations).
#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    pub period: StatsPeriod,
    pub totals: BTreeMap<&'static str, u64>,
    pub jobs: BTreeMap<String, BTreeMap<&'static str, u64>>,
    pub days: Vec<DayStats>,
}

/// The window [`Stats`] covers.
#[derive(Debug, Clone, Serialize)]
pub struct StatsPeriod {
    pub days: u32,
    #[serde(with = "crate::record::ts")]
    pub from: DateTime<Utc>,
    #[serde(with = "crate::record::ts")]
    pub to: DateTime<Utc>,
}

/// One UTC day of [`Stats`].
#[derive(Debug, Clone, Serialize)]
pub struct DayStats {
    /// `YYYY-MM-DD`.
    pub date: String,
    pub runs: BTreeMap<&'static str, u64>,
}

/// A clonable, in-memory list of finish records (stand-in for
/// `log::history::HistoryHandle`).
#[derive(Debug, Clone, Default)]
pub struct HistoryStandIn {
    records: Arc<RwLock<Vec<FinishRecord>>>,
}

impl HistoryStandIn {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a finished attempt, as the log writer would.
    pub fn record(&self, rec: FinishRecord) {
        self.records
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(rec);
    }

    fn snapshot(&self) -> Vec<FinishRecord> {
        self.records
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Finish records matching `f`, newest first.
    pub fn runs(&self, f: RunFilter) -> Vec<FinishRecord> {
        let mut out: Vec<FinishRecord> = self
            .snapshot()
            .into_iter()
            .filter(|r| f.job.as_deref().is_none_or(|j| r.job == j))
            .filter(|r| f.status.is_none_or(|s| r.status == s))
            .filter(|r| f.since.is_none_or(|t| r.finished_at >= t))
            .collect();
        out.sort_by_key(|r| std::cmp::Reverse(r.finished_at));
        out.truncate(f.limit);
        out
    }

    /// Every attempt of one run, in attempt order; `None` if unknown.
    pub fn run(&self, run_id: &str) -> Option<Vec<FinishRecord>> {
        let mut attempts: Vec<FinishRecord> = self
            .snapshot()
            .into_iter()
            .filter(|r| r.run_id == run_id)
            .collect();
        attempts.sort_by_key(|r| r.attempt);
        (!attempts.is_empty()).then_some(attempts)
    }

    /// The final attempt of the job's newest finished run.
    pub fn last_run(&self, job: &str) -> Option<FinishRecord> {
        self.snapshot()
            .into_iter()
            .filter(|r| r.job == job && !r.will_retry)
            .max_by_key(|r| r.finished_at)
    }

    pub fn job_stats(&self, job: &str) -> JobStats {
        let finals: Vec<FinishRecord> = self
            .snapshot()
            .into_iter()
            .filter(|r| r.job == job && !r.will_retry)
            .collect();
        let mut durations: Vec<u64> = finals.iter().map(|r| r.duration_ms).collect();
        durations.sort_unstable();
        let count = |s: Status| finals.iter().filter(|r| r.status == s).count() as u64;
        let n = durations.len();
        JobStats {
            total: n as u64,
            success: count(Status::Success),
            failed: count(Status::Failed),
            timeout: count(Status::Timeout),
            avg_duration_ms: (n > 0).then(|| durations.iter().sum::<u64>() / n as u64),
            min_duration_ms: durations.first().copied(),
            max_duration_ms: durations.last().copied(),
            p95_duration_ms: (n > 0).then(|| durations[(n * 95).div_ceil(100) - 1]),
        }
    }

    pub fn stats(&self, days: u32, now: DateTime<Utc>) -> Stats {
        let from = now - ChronoDuration::days(i64::from(days));
        let zero = || Status::ALL.iter().map(|s| (s.as_str(), 0)).collect();
        let mut totals: BTreeMap<&'static str, u64> = zero();
        let mut jobs: BTreeMap<String, BTreeMap<&'static str, u64>> = BTreeMap::new();
        let mut by_day: BTreeMap<NaiveDate, BTreeMap<&'static str, u64>> = BTreeMap::new();
        for r in self.snapshot() {
            if r.will_retry || r.finished_at < from || r.finished_at > now {
                continue;
            }
            let s = r.status.as_str();
            *totals.entry(s).or_default() += 1;
            *jobs
                .entry(r.job.clone())
                .or_insert_with(zero)
                .entry(s)
                .or_default() += 1;
            *by_day
                .entry(r.finished_at.date_naive())
                .or_insert_with(zero)
                .entry(s)
                .or_default() += 1;
        }
        Stats {
            period: StatsPeriod {
                days,
                from,
                to: now,
            },
            totals,
            jobs,
            days: by_day
                .into_iter()
                .map(|(date, runs)| DayStats {
                    date: date.format("%Y-%m-%d").to_string(),
                    runs,
                })
                .collect(),
        }
    }

    /// How many runs ended as a failure at or after `t`.
    pub fn failures_since(&self, t: DateTime<Utc>) -> usize {
        self.snapshot()
            .iter()
            .filter(|r| !r.will_retry && r.status.is_failure() && r.finished_at >= t)
            .count()
    }
}

/// Whether the execution log is being written (stand-in for
/// `log::LogHealth`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogHealth {
    pub ok: bool,
    /// Why the last write failed, when `ok` is false.
    pub error: Option<String>,
    /// Records queued but not yet written.
    pub pending: usize,
    /// Records lost because the queue was full.
    pub dropped: u64,
}

/// Stand-in for `log::LogSink`: reports whatever health it was last set to.
#[derive(Debug, Clone)]
pub struct LogSinkStandIn {
    health: Arc<RwLock<LogHealth>>,
}

impl Default for LogSinkStandIn {
    fn default() -> Self {
        Self::new()
    }
}

impl LogSinkStandIn {
    /// A healthy log.
    pub fn new() -> Self {
        Self {
            health: Arc::new(RwLock::new(LogHealth {
                ok: true,
                ..LogHealth::default()
            })),
        }
    }

    /// Makes later [`Self::health`] calls answer `h`.
    pub fn set_health(&self, h: LogHealth) {
        *self.health.write().unwrap_or_else(|e| e.into_inner()) = h;
    }

    pub fn health(&self) -> LogHealth {
        self.health
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}
