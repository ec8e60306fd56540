//! The records of the execution log (cronduct.toml(5) EXECUTION LOG): one
//! JSON object per line.
//!
//! These types are the wire format that users' scripts parse, so field
//! names and order are part of the contract. This module owns only the
//! shapes and their (de)serialisation; writing them is `log`'s job.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Why a run started; the same on every attempt of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    Schedule,
    Manual,
    CatchUp,
    Reboot,
}

impl Trigger {
    /// The name used in the log and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Schedule => "schedule",
            Trigger::Manual => "manual",
            Trigger::CatchUp => "catch_up",
            Trigger::Reboot => "reboot",
        }
    }
}

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Exit code 0, or an expected HTTP status.
    Success,
    /// Non-zero exit, death by signal, or an unexpected HTTP status.
    Failed,
    /// Killed because `timeout` expired.
    Timeout,
    /// Cancelled through the API, by `concurrency = "replace"` or at shutdown.
    Cancelled,
    /// Could not start: bad user, spawn failure, connection refused...
    Error,
    /// Had a `start` line but no `finish` line when the daemon restarted.
    Lost,
}

impl Status {
    /// Every status, in the order used for stats and metrics.
    pub const ALL: [Status; 6] = [
        Status::Success,
        Status::Failed,
        Status::Timeout,
        Status::Cancelled,
        Status::Error,
        Status::Lost,
    ];

    /// The name used in the log and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Success => "success",
            Status::Failed => "failed",
            Status::Timeout => "timeout",
            Status::Cancelled => "cancelled",
            Status::Error => "error",
            Status::Lost => "lost",
        }
    }

    /// Whether a run ending with this status counts as a failure for
    /// notifications and `consecutive_failures` (cronduct.toml(5)
    /// NOTIFICATIONS).
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            Status::Failed | Status::Timeout | Status::Error | Status::Lost
        )
    }

    /// Whether an attempt ending with this status may be retried
    /// (cronduct.toml(5) RUNNING A JOB).
    pub fn is_retryable(self) -> bool {
        matches!(self, Status::Failed | Status::Timeout | Status::Error)
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Status {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| {
                format!("unknown status {s:?}; expected one of success, failed, timeout, cancelled, error, lost")
            })
    }
}

/// An attempt has begun.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StartRecord {
    #[serde(with = "ts")]
    pub ts: DateTime<Utc>,
    pub run_id: String,
    pub job: String,
    pub attempt: u32,
    pub trigger: Trigger,
    #[serde(with = "ts")]
    pub scheduled_at: DateTime<Utc>,
    /// The child's pid; null for HTTP jobs.
    pub pid: Option<u32>,
    pub host: String,
}

/// An attempt has ended. Also the record the API returns for a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinishRecord {
    #[serde(with = "ts")]
    pub ts: DateTime<Utc>,
    pub run_id: String,
    pub job: String,
    pub attempt: u32,
    pub trigger: Trigger,
    #[serde(with = "ts")]
    pub scheduled_at: DateTime<Utc>,
    #[serde(with = "ts")]
    pub started_at: DateTime<Utc>,
    #[serde(with = "ts")]
    pub finished_at: DateTime<Utc>,
    pub duration_ms: u64,
    pub status: Status,
    pub exit_code: Option<i32>,
    /// Name of the signal that ended the process (`"SIGKILL"`), if any.
    pub signal: Option<String>,
    pub http_status: Option<u16>,
    pub error: Option<String>,
    pub stdout: String,
    pub stderr: String,
    pub output_truncated: bool,
    /// CPU time the command's processes spent in user mode and in the
    /// kernel, in milliseconds, and the largest resident set of any one of
    /// them in KiB (`wait4`: the main process and the descendants it
    /// waited for). `null` for HTTP jobs, attempts that never started,
    /// lost exit statuses and logs written before they were recorded.
    #[serde(default)]
    pub cpu_user_ms: Option<u64>,
    #[serde(default)]
    pub cpu_system_ms: Option<u64>,
    #[serde(default)]
    pub max_rss_kib: Option<u64>,
    /// Bytes of output the output file missed because its writer fell
    /// behind the job (`[daemon] output = "files"`); `null` when no file
    /// was written (HTTP jobs, `output = "tail"`, no start).
    #[serde(default)]
    pub output_dropped_bytes: Option<u64>,
    /// The JSON object the attempt reported (`$CRONDUCT_RESULT`, or the
    /// body of an HTTP job with `http.result = true`); `null` when it
    /// reported none or a bad one. Absent in logs written before results
    /// existed, read as `null`.
    #[serde(default)]
    pub result: Option<serde_json::Map<String, serde_json::Value>>,
    /// Why a reported result was not kept (not JSON, not an object, too
    /// large...); `null` when there was nothing wrong with it.
    #[serde(default)]
    pub result_error: Option<String>,
    pub will_retry: bool,
    #[serde(with = "ts::option")]
    pub retry_at: Option<DateTime<Utc>>,
    pub host: String,
    /// In cluster mode, the name of the node that ran the attempt
    /// (`[cluster] node`); absent otherwise. The log writer fills it in
    /// for the records this daemon writes, so a record read from any
    /// node's log or from the cluster database says where it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

impl FinishRecord {
    /// The record of an attempt that never started: the run was waiting
    /// to retry when it was cancelled or the daemon stopped. No process
    /// ran, so there is no start line; this one finish line still closes
    /// the run for history, stats and notices. Started and finished at
    /// `now`, duration 0, no exit, output or retry.
    #[allow(clippy::too_many_arguments)] // the record's own fields
    pub fn never_started(
        run_id: String,
        job: String,
        attempt: u32,
        trigger: Trigger,
        scheduled_at: DateTime<Utc>,
        now: DateTime<Utc>,
        status: Status,
        error: String,
        host: String,
    ) -> FinishRecord {
        FinishRecord {
            ts: now,
            run_id,
            job,
            attempt,
            trigger,
            scheduled_at,
            started_at: now,
            finished_at: now,
            duration_ms: 0,
            status,
            exit_code: None,
            signal: None,
            http_status: None,
            error: Some(error),
            stdout: String::new(),
            stderr: String::new(),
            output_truncated: false,
            cpu_user_ms: None,
            cpu_system_ms: None,
            max_rss_kib: None,
            output_dropped_bytes: None,
            result: None,
            result_error: None,
            will_retry: false,
            retry_at: None,
            host,
            node: None,
        }
    }
}

/// A scheduled start did not happen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SkipRecord {
    #[serde(with = "ts")]
    pub ts: DateTime<Utc>,
    pub job: String,
    #[serde(with = "ts")]
    pub scheduled_at: DateTime<Utc>,
    pub reason: String,
    pub host: String,
}

/// A run still going after its job's `warn_after` (one per run). The run
/// is not stopped; its `finish` line follows as usual.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlowRecord {
    #[serde(with = "ts")]
    pub ts: DateTime<Utc>,
    pub run_id: String,
    pub job: String,
    /// The attempt in progress (or the last one, while a retry waits).
    pub attempt: u32,
    /// When the run's first attempt started: `warn_after` counts from it.
    #[serde(with = "ts")]
    pub started_at: DateTime<Utc>,
    pub elapsed_ms: u64,
    pub warn_after_ms: u64,
    pub host: String,
}

/// Scheduled instants that passed while the daemon was down, found at
/// start-up (one line per job, whatever `catch_up` then does).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MissedRecord {
    #[serde(with = "ts")]
    pub ts: DateTime<Utc>,
    pub job: String,
    /// The first missed instants, oldest first (at most 100).
    #[serde(with = "ts::list")]
    pub scheduled_at: Vec<DateTime<Utc>>,
    /// How many more instants were missed after the listed ones; a lower
    /// bound when `more_capped` is true.
    pub more: u64,
    /// The count stopped at its bound: at least `more` more were missed.
    pub more_capped: bool,
    /// The last scheduled instant before the outage, from the state file.
    #[serde(with = "ts")]
    pub last_scheduled: DateTime<Utc>,
    pub host: String,
}

/// What an admin API request asked for (cronduct.toml(5) EXECUTION LOG,
/// `admin`). Pausing or resuming every job is `pause`/`resume` with no job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdminAction {
    Pause,
    Resume,
    Run,
    Cancel,
    Reload,
    Put,
    Delete,
    Enable,
    Disable,
}

/// One request to the admin API that changes something or asked to,
/// refused ones included: the audit trail. Written when the request is
/// answered; it names the key, never its secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdminRecord {
    /// When the answer was sent.
    #[serde(with = "ts")]
    pub ts: DateTime<Utc>,
    /// The name of the key the request carried; `None` when it carried no
    /// key the daemon knows (the 401s).
    pub key: Option<String>,
    pub action: AdminAction,
    /// The job the request named; `None` for reload and for pausing or
    /// resuming every job.
    pub job: Option<String>,
    /// Whether the request was carried out (a 2xx answer).
    pub ok: bool,
    /// The HTTP status of the answer.
    pub status: u16,
    pub host: String,
}

/// One line of the execution log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[allow(
    clippy::large_enum_variant,
    reason = "finish lines are the common event; boxing them would add an allocation per line to save a few hundred bytes on the rarer ones"
)]
pub enum LogEvent {
    Start(StartRecord),
    Finish(FinishRecord),
    Skip(SkipRecord),
    Slow(SlowRecord),
    Missed(MissedRecord),
    Admin(AdminRecord),
}

/// RFC 3339 UTC timestamps with milliseconds, as cronduct.toml(5) EXECUTION
/// LOG requires: `2026-03-29T01:00:00.000Z`.
pub mod ts {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    /// Formats an instant the way the log and the API write it.
    pub fn format(t: &DateTime<Utc>) -> String {
        t.to_rfc3339_opts(SecondsFormat::Millis, true)
    }

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        DateTime::parse_from_rfc3339(&s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }

    /// The same for lists of instants.
    pub mod list {
        use super::*;

        pub fn serialize<S: Serializer>(ts: &[DateTime<Utc>], s: S) -> Result<S::Ok, S::Error> {
            s.collect_seq(ts.iter().map(format))
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Vec<DateTime<Utc>>, D::Error> {
            Vec::<std::borrow::Cow<'de, str>>::deserialize(d)?
                .iter()
                .map(|s| {
                    DateTime::parse_from_rfc3339(s)
                        .map(|t| t.with_timezone(&Utc))
                        .map_err(serde::de::Error::custom)
                })
                .collect()
        }
    }

    /// The same for optional instants (`null` when absent).
    pub mod option {
        use super::*;

        pub fn serialize<S: Serializer>(
            t: &Option<DateTime<Utc>>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match t {
                Some(t) => s.serialize_str(&format(t)),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<DateTime<Utc>>, D::Error> {
            let s = <Option<std::borrow::Cow<'de, str>>>::deserialize(d)?;
            s.map(|s| {
                DateTime::parse_from_rfc3339(&s)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(serde::de::Error::custom)
            })
            .transpose()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trigger_names_match_the_log() {
        for t in [
            Trigger::Schedule,
            Trigger::Manual,
            Trigger::CatchUp,
            Trigger::Reboot,
        ] {
            let json = serde_json::to_string(&t).expect("serialise");
            assert_eq!(json, format!("\"{}\"", t.as_str()));
        }
    }
}
