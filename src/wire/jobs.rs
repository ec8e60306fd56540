//! Jobs: the list, one job in detail, and the answers to the commands
//! that act on a job (pause, resume, run, cancel).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::JobStats;
use crate::health::{Health, HealthInputs};
use crate::record::{FinishRecord, Status, ts};

/// A job as the scheduler describes it, in `GET /api/v1/jobs` (the API
/// adds `last_run` from the history index).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSummary {
    pub id: String,
    pub description: String,
    pub schedule: String,
    /// The schedule in plain English, with its zone: "At 02:30 on Monday
    /// to Friday, Europe/Berlin".
    pub schedule_text: String,
    pub timezone: String,
    /// `"command"` or `"http"`.
    pub action: String,
    pub enabled: bool,
    pub paused: bool,
    /// Why, until when, by whom and since when the job is paused; `null`
    /// when it is not.
    pub pause: Option<Pause>,
    /// Whether a run (an attempt, or a retry being waited for) is active.
    pub running: bool,
    #[serde(with = "ts::option")]
    pub next_run: Option<DateTime<Utc>>,
    pub consecutive_failures: u32,
    /// Where the job is defined: `"config"` (a `[jobs.ID]` table) or
    /// `"crontab"` (a line of a file the `crontabs` key names).
    #[serde(default = "config_source")]
    pub source: String,
    /// The file that defines it; `file:line` for a crontab line.
    #[serde(default)]
    pub origin: String,
    /// The scheduler's inputs to `/health` and to the job's [`Health`],
    /// which the API shows instead (it joins the last run's status from
    /// the history index): not part of the JSON.
    #[serde(skip)]
    pub signals: HealthSignals,
}

fn config_source() -> String {
    "config".to_string()
}

/// What only the scheduler knows about a job's health.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HealthSignals {
    /// The job's `critical` key.
    pub critical: bool,
    /// A run is past the job's `warn_after`.
    pub slow: bool,
    /// No success within the job's `expect_success_within`.
    pub overdue: bool,
}

impl JobSummary {
    /// The job's health, given the final status of its latest finished run.
    pub fn health(&self, last: Option<Status>) -> Health {
        Health::of(HealthInputs {
            enabled: self.enabled,
            paused: self.paused,
            slow: self.signals.slow,
            overdue: self.signals.overdue,
            last,
        })
    }
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
    /// From the job's state and `last_run` (see [`Health::of`]).
    pub health: Health,
    pub last_run: Option<LastRun>,
}

/// `DELETE /api/v1/jobs/{id}`: the job's managed file is gone and the
/// job with it (a run in progress finishes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRemoved {
    pub job: String,
    pub removed: bool,
}

/// `PUT /api/v1/jobs/{id}?dry_run=true`: what the PUT would do, checked
/// like the PUT itself, with nothing written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobPlan {
    pub job: String,
    /// `"create"`, `"replace"` or `"unchanged"`.
    pub change: String,
    /// The managed file now; `null` when there is none.
    pub before: Option<String>,
    /// The managed file the PUT would write.
    pub after: String,
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
    pub health: Health,
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

/// A pause: what `POST …/pause` asked for, and who asked when. Also the
/// form the state file keeps it in.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Pause {
    pub reason: Option<String>,
    /// When the job resumes by itself; `null`: when it is resumed.
    #[serde(default, with = "ts::option")]
    pub until: Option<DateTime<Utc>>,
    /// The name of the API key that paused it; `null` (like `at`) only for
    /// a pause made by a version that did not record it.
    pub by: Option<String>,
    #[serde(default, with = "ts::option")]
    pub at: Option<DateTime<Utc>>,
}

/// The optional body of `POST /api/v1/jobs/{id}/pause` and
/// `POST /api/v1/pause`. Unknown fields are refused, so a misspelt
/// `untill` is a 400 rather than a pause without an end.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PauseRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// An RFC 3339 time, or a duration from now in the config's syntax
    /// (`"2h"`, `"1h30m"`); it must lie in the future.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
}

/// `POST /api/v1/jobs/{id}/pause` and `/resume`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PauseState {
    pub job: String,
    pub paused: bool,
    /// The pause now in force (as in the job list); `null` after a resume.
    pub pause: Option<Pause>,
}

/// `POST /api/v1/pause`: every configured job, now paused, and the pause
/// they are all under.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PausedAll {
    pub paused: Vec<String>,
    pub pause: Pause,
}

/// `POST /api/v1/resume`: the jobs that were paused and are resumed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResumedAll {
    pub resumed: Vec<String>,
}

/// `POST /api/v1/jobs/{id}/cancel`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cancelled {
    pub cancelled: Vec<String>,
}
