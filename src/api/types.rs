//! The API's answer documents (SPEC §8), shared with the CLI client that
//! parses them back. Field names are contract; scripts read them.
//!
//! The scheduler's own views (`JobSummary`, `RunningAttempt`, …) live in
//! `daemon::control`; these types wrap them with what the history index
//! adds.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::daemon::control::{JobDetail, JobSummary, LastReload, NextRun, RunningAttempt};
use crate::log::JobStats;
use crate::record::{FinishRecord, Status, ts};

/// `{"error": "…"}`, plus every validation error for a refused reload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<String>>,
    /// The same validation errors as data, one item each.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diagnostics: Option<Vec<crate::config::ConfigError>>,
}

/// A job's newest finished run: the final attempt of its latest run. A
/// run whose retry is still pending has not finished (the job shows
/// `running: true` meanwhile) and does not replace the previous one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastRun {
    pub run_id: String,
    pub status: Status,
    #[serde(with = "ts")]
    pub started_at: DateTime<Utc>,
    #[serde(with = "ts")]
    pub finished_at: DateTime<Utc>,
    pub duration_ms: u64,
    pub exit_code: Option<i32>,
}

impl From<&FinishRecord> for LastRun {
    fn from(r: &FinishRecord) -> Self {
        Self {
            run_id: r.run_id.clone(),
            status: r.status,
            started_at: r.started_at,
            finished_at: r.finished_at,
            duration_ms: r.duration_ms,
            exit_code: r.exit_code,
        }
    }
}

/// One entry of `GET /api/v1/jobs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobView {
    #[serde(flatten)]
    pub job: JobSummary,
    pub last_run: Option<LastRun>,
}

/// `GET /api/v1/jobs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobList {
    pub jobs: Vec<JobView>,
}

/// `GET /api/v1/jobs/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobDetailView {
    #[serde(flatten)]
    pub job: JobDetail,
    pub last_run: Option<LastRun>,
    /// Over the last 90 days: `total` runs, runs by final status (all six,
    /// so that they add up to `total`), avg/min/max/p95_duration_ms.
    pub stats: JobStats,
}

/// `/health`'s verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    /// Everything works.
    Healthy,
    /// Jobs run, but something needs attention (see `warnings`).
    Degraded,
    /// The scheduler does not answer; answered with HTTP 503.
    Unhealthy,
}

/// `GET /health`. The counts and `last_reload` are `null` when the
/// scheduler did not answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthReport {
    pub status: HealthStatus,
    pub warnings: Vec<String>,
    pub jobs: Option<usize>,
    pub running: Option<usize>,
    pub last_reload: Option<LastReload>,
}

/// Job counts in `GET /api/v1/status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobCounts {
    pub total: usize,
    pub enabled: usize,
    pub paused: usize,
    /// Active runs (a job with `concurrency = "allow"` may have several).
    pub running: usize,
}

/// The execution log's health in `GET /api/v1/status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogReport {
    pub ok: bool,
    pub error: Option<String>,
    pub pending: u64,
    pub dropped: u64,
}

/// `GET /api/v1/status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusReport {
    pub version: String,
    pub pid: u32,
    #[serde(with = "ts")]
    pub started_at: DateTime<Utc>,
    pub uptime_seconds: u64,
    pub config: PathBuf,
    pub last_reload: LastReload,
    pub jobs: JobCounts,
    pub next_run: Option<NextRun>,
    /// Runs whose final status was a failure in the last 24 hours.
    pub failures_24h: usize,
    /// Resident memory from `/proc/self/status`; null where unavailable.
    pub rss_bytes: Option<u64>,
    /// User + system CPU time from `/proc/self/stat`.
    pub cpu_seconds: Option<f64>,
    pub log: LogReport,
}

/// `GET /api/v1/runs` and `GET /api/v1/jobs/{id}/runs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunList {
    pub runs: Vec<FinishRecord>,
}

/// `GET /api/v1/runs/{run_id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunAttempts {
    pub run_id: String,
    pub job: String,
    pub attempts: Vec<FinishRecord>,
}

/// `GET /api/v1/running`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunningList {
    pub running: Vec<RunningAttempt>,
}

/// `POST /api/v1/jobs/{id}/run` without `wait` (202).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TriggerAccepted {
    pub job: String,
    pub run_id: String,
}

/// `POST /api/v1/jobs/{id}/pause` and `/resume`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PauseState {
    pub job: String,
    pub paused: bool,
}

/// `POST /api/v1/jobs/{id}/cancel`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cancelled {
    pub cancelled: Vec<String>,
}
