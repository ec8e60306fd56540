//! What a job does: run a command or make an HTTP request.
//!
//! An action reports its end as an [`ActionOutcome`]; it never returns an
//! `Err` for a job that failed — a failing job is data, not an error.

pub mod command;
pub mod http;

use crate::record::Status;

/// How one attempt of an action ended.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionOutcome {
    pub status: Status,
    pub exit_code: Option<i32>,
    /// Name of the signal that ended the process (`"SIGKILL"`).
    pub signal: Option<String>,
    pub http_status: Option<u16>,
    /// Why the action could not run or was stopped, for people.
    pub error: Option<String>,
    /// Tail of stdout (or of the HTTP response body).
    pub stdout: String,
    pub stderr: String,
    /// Whether either tail dropped bytes.
    pub output_truncated: bool,
}

/// Which attempt of which run an action belongs to; commands see it as
/// `CRONDUCT_RUN_ID`, `CRONDUCT_ATTEMPT` and `CRONDUCT_SCHEDULED_AT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptInfo {
    pub run_id: String,
    pub attempt: u32,
    pub scheduled_at: chrono::DateTime<chrono::Utc>,
}
