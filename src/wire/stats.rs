//! Run statistics: `GET /api/v1/stats` and a job's `stats` in
//! `GET /api/v1/jobs/{id}`. The history index fills them; the counting
//! rules (a run counted once, by its final status) are written in
//! `log/stats.rs`, where they are applied.

use std::collections::BTreeMap;

use chrono::{DateTime, Days, NaiveDate, NaiveTime, Utc};
use serde::{Deserialize, Serialize};

use crate::record::{Status, ts};

/// Runs counted by their final status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusCounts {
    pub success: u64,
    pub failed: u64,
    pub timeout: u64,
    pub cancelled: u64,
    pub error: u64,
    pub lost: u64,
}

impl StatusCounts {
    /// The number of runs that ended with `status`.
    pub fn get(&self, status: Status) -> u64 {
        match status {
            Status::Success => self.success,
            Status::Failed => self.failed,
            Status::Timeout => self.timeout,
            Status::Cancelled => self.cancelled,
            Status::Error => self.error,
            Status::Lost => self.lost,
        }
    }

    /// All runs, whatever their status.
    pub fn total(&self) -> u64 {
        Status::ALL.iter().map(|&s| self.get(s)).sum()
    }

    /// Counts `n` more runs that ended with `status`.
    pub fn add(&mut self, status: Status, n: u64) {
        let slot = match status {
            Status::Success => &mut self.success,
            Status::Failed => &mut self.failed,
            Status::Timeout => &mut self.timeout,
            Status::Cancelled => &mut self.cancelled,
            Status::Error => &mut self.error,
            Status::Lost => &mut self.lost,
        };
        *slot += n;
    }
}

/// A job's statistics over everything the history index holds (the last
/// 90 days): `GET /api/v1/jobs/{id}` → `stats`. Runs are counted by their
/// final status; durations are those of the final attempts, `lost` ones
/// excluded. All durations are `null` when there is no run to measure.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JobStats {
    /// Runs, whatever their final status.
    pub total: u64,
    #[serde(flatten)]
    pub by_status: StatusCounts,
    pub avg_duration_ms: Option<u64>,
    pub min_duration_ms: Option<u64>,
    pub max_duration_ms: Option<u64>,
    pub p95_duration_ms: Option<u64>,
}

/// The period a [`Stats`] answer covers: from the start (00:00 UTC) of the
/// first day to `to` (now), `days` UTC dates including today.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Period {
    #[serde(with = "ts")]
    pub from: DateTime<Utc>,
    #[serde(with = "ts")]
    pub to: DateTime<Utc>,
    pub days: u32,
}

impl Period {
    /// The `days` UTC dates ending with `now`'s, from the first one's
    /// midnight to `now`.
    pub fn ending(days: u32, now: DateTime<Utc>) -> Period {
        let first = now
            .date_naive()
            .checked_sub_days(Days::new(u64::from(days.saturating_sub(1))))
            .unwrap_or(NaiveDate::MIN);
        Period {
            from: first.and_time(NaiveTime::MIN).and_utc(),
            to: now,
            days,
        }
    }

    /// The first date of the period.
    pub fn first_day(&self) -> NaiveDate {
        self.from.date_naive()
    }
}

/// Runs of one job (or of all jobs) over a period.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PeriodStats {
    /// Runs by final status.
    pub runs: StatusCounts,
    /// Attempts, retries included.
    pub attempts: u64,
    /// Successful runs / all runs, between 0 and 1; `null` without runs.
    pub success_rate: Option<f64>,
    pub avg_duration_ms: Option<u64>,
    pub p95_duration_ms: Option<u64>,
    /// CPU time (user + system) of the attempts that report it — command
    /// attempts, retries included; `null` when none did.
    #[serde(default)]
    pub cpu_ms: Option<CpuStats>,
    /// The largest resident set of any of those attempts, in KiB; `null`
    /// when none reported one.
    #[serde(default)]
    pub max_rss_kib: Option<u64>,
    /// A job's results over the period (cronduct.toml(5), JOB RESULTS):
    /// for each numeric top-level key its runs reported, the sum, the
    /// average and the number of runs that reported it. Absent when no
    /// run reported a number, and always absent in `totals`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub results: BTreeMap<String, ResultStats>,
}

/// CPU time over a period, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuStats {
    pub total: u64,
    /// Per attempt that reported it, rounded down.
    pub avg: u64,
}

/// One numeric result key of a job over a period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ResultStats {
    pub sum: f64,
    pub avg: f64,
    pub count: u64,
}

/// One UTC day of a [`Stats`] answer, all jobs together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayStats {
    /// `YYYY-MM-DD`, UTC.
    pub date: String,
    pub runs: StatusCounts,
    pub attempts: u64,
}

/// `GET /api/v1/stats?days=N`. `jobs` lists the jobs with at least one
/// attempt in the period; `days` has one entry per date, oldest first,
/// empty days included.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub period: Period,
    pub totals: PeriodStats,
    pub jobs: BTreeMap<String, PeriodStats>,
    pub days: Vec<DayStats>,
}
