//! Runs: past ones (the execution log's finish records, as they are) and
//! the attempts in progress.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::record::{FinishRecord, ts};

/// `GET /api/v1/runs` and `GET /api/v1/jobs/{id}/runs`, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunList {
    pub runs: Vec<FinishRecord>,
}

/// `GET /api/v1/runs/{run_id}`: every attempt of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunAttempts {
    pub run_id: String,
    pub job: String,
    pub attempts: Vec<FinishRecord>,
}

/// An attempt in progress, as the scheduler describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunningAttempt {
    pub run_id: String,
    pub job: String,
    pub attempt: u32,
    pub pid: Option<u32>,
    #[serde(with = "ts")]
    pub started_at: DateTime<Utc>,
    pub elapsed_ms: u64,
    #[serde(with = "ts::option")]
    pub timeout_at: Option<DateTime<Utc>>,
}

/// `GET /api/v1/running`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunningList {
    pub running: Vec<RunningAttempt>,
}
