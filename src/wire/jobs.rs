//! Jobs: the list, one job in detail, and the answers to the commands
//! that act on a job (pause, resume, run, cancel).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::JobStats;
use crate::record::{FinishRecord, Status, ts};

/// A job as the scheduler describes it, in `GET /api/v1/jobs` (the API
/// adds `last_run` from the history index).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSummary {
    pub id: String,
    pub description: String,
    pub schedule: String,
    pub timezone: String,
    /// `"command"` or `"http"`.
    pub action: String,
    pub enabled: bool,
    pub paused: bool,
    /// Whether a run (an attempt, or a retry being waited for) is active.
    pub running: bool,
    #[serde(with = "ts::option")]
    pub next_run: Option<DateTime<Utc>>,
    pub consecutive_failures: u32,
    /// A run is past the job's `warn_after`.
    #[serde(default)]
    pub slow: bool,
    /// No success within `expect_success_within` (never while paused or
    /// disabled).
    #[serde(default)]
    pub overdue: bool,
}

/// A job as the scheduler describes it in `GET /api/v1/jobs/{id}` (the
/// API adds `last_run` and `stats`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobDetail {
    #[serde(flatten)]
    pub summary: JobSummary,
    /// The resolved settings, as top-level fields (`timeout`, `retries`,
    /// `retry_delay`, `concurrency`, `notify`, the action...): durations
    /// as config strings (`"30m"`).
    #[serde(flatten)]
    pub settings: serde_json::Map<String, serde_json::Value>,
    /// The next five fire instants.
    pub next_runs: Vec<String>,
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

/// `POST /api/v1/jobs/{id}/run` without `wait` (202); with it, the answer
/// is the run's final [`FinishRecord`].
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
