//! What a job does: run a command or make an HTTP request.
//!
//! An action reports its end as an [`ActionOutcome`]; it never returns an
//! `Err` for a job that failed — a failing job is data, not an error.

pub mod command;
mod environment;
#[cfg(test)]
pub mod fake;
pub mod http;
mod identity;
mod process;
mod reaper;
pub mod result;
mod tail;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::config::{Action, Job};
use crate::record::Status;

/// Why an attempt could not start; recorded as status `error` with the
/// message as its `error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StartError {
    /// The command's account, working directory or program could not be
    /// resolved, or its process could not be created.
    #[error("{0}")]
    Command(String),
    /// The shared HTTP client could not be built (no trust store, ...).
    #[error("{0}")]
    HttpClient(String),
}

/// The rest of a started attempt: resolves when it has ended.
pub type Ending = Pin<Box<dyn Future<Output = ActionOutcome> + Send>>;

/// A started attempt.
pub struct Started {
    /// The process (and process group) of a command attempt.
    pub pid: Option<u32>,
    pub ending: Ending,
}

/// Starts attempts of any action the same way, so a run does not care
/// whether it runs a command, makes a request, or (in tests) follows a
/// script under paused time.
pub trait Launcher: Send + Sync {
    /// Starts one attempt of `job`. Once started, the attempt honours the
    /// job's `timeout` (and `kill_grace`) and ends soon after `cancel`.
    fn start<'a>(
        &'a self,
        job: &'a Job,
        info: &'a AttemptInfo,
        cancel: CancellationToken,
    ) -> Pin<Box<dyn Future<Output = Result<Started, StartError>> + Send + 'a>>;
}

/// The production [`Launcher`]: commands and HTTP requests.
#[derive(Debug, Clone, Default)]
pub struct Actions {
    pub http: http::LazyClient,
}

impl Launcher for Actions {
    fn start<'a>(
        &'a self,
        job: &'a Job,
        info: &'a AttemptInfo,
        cancel: CancellationToken,
    ) -> Pin<Box<dyn Future<Output = Result<Started, StartError>> + Send + 'a>> {
        Box::pin(async move {
            match &job.action {
                Action::Command(_) => {
                    let running = command::start(job, info)
                        .await
                        .map_err(StartError::Command)?;
                    let (timeout, grace) = (job.timeout, job.kill_grace);
                    Ok(Started {
                        pid: Some(running.pid()),
                        ending: Box::pin(running.wait(timeout, grace, cancel)),
                    })
                }
                Action::Http(request) => {
                    let client = self.http.get().map_err(StartError::HttpClient)?;
                    let (request, timeout, limit) =
                        (request.clone(), job.timeout, job.output_limit);
                    Ok(Started {
                        pid: None,
                        ending: Box::pin(async move {
                            http::run(&client, &request, timeout, limit, cancel).await
                        }),
                    })
                }
            }
        })
    }
}

/// What a command attempt's processes used (cronduct.toml(5), FINISH
/// RECORDS: `cpu_user_ms`, `cpu_system_ms`, `max_rss_kib`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub cpu_user_ms: u64,
    pub cpu_system_ms: u64,
    /// The largest resident set of any one process, in KiB.
    pub max_rss_kib: u64,
}

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
    /// The result the attempt reported, or why it was refused.
    pub result: result::Reported,
    /// What a command's processes used; `None` for HTTP requests, for
    /// attempts that never started and when the exit status was lost.
    pub usage: Option<Usage>,
    /// Bytes the output file missed (see [`crate::log::output`]); `None`
    /// when no file was written.
    pub output_dropped_bytes: Option<u64>,
}

impl ActionOutcome {
    /// An attempt that could not start (status `error`), e.g. from a
    /// [`command::spawn`] failure.
    pub fn error(message: impl Into<String>) -> Self {
        ActionOutcome {
            status: Status::Error,
            exit_code: None,
            signal: None,
            http_status: None,
            error: Some(message.into()),
            stdout: String::new(),
            stderr: String::new(),
            output_truncated: false,
            result: result::Reported::default(),
            usage: None,
            output_dropped_bytes: None,
        }
    }
}

/// Why an attempt was stopped before it ended by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Timeout(std::time::Duration),
    Cancelled,
}

impl Stop {
    fn status(self) -> Status {
        match self {
            Stop::Timeout(_) => Status::Timeout,
            Stop::Cancelled => Status::Cancelled,
        }
    }

    /// The `error` sentence of a stopped attempt.
    fn message(self) -> String {
        match self {
            Stop::Timeout(limit) => {
                format!("timed out after {}", crate::units::format_duration(limit))
            }
            Stop::Cancelled => "cancelled".to_string(),
        }
    }
}

/// `from + d`, saturating at about 30 years ahead: a duration no config
/// accepts cannot overflow the clock and panic the run or the daemon.
pub(crate) fn saturating_after(from: tokio::time::Instant, d: Duration) -> tokio::time::Instant {
    const FAR: Duration = Duration::from_secs(30 * 365 * 86_400);
    from.checked_add(d)
        .or_else(|| from.checked_add(FAR))
        .unwrap_or(from)
}

/// Resolves at `deadline` (tokio's monotonic clock), or never when there
/// is none: the timeout branch of an attempt's `select!`.
async fn until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Which attempt of which run an action belongs to; commands see it as
/// `CRONDUCT_RUN_ID`, `CRONDUCT_ATTEMPT` and `CRONDUCT_SCHEDULED_AT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptInfo {
    pub run_id: String,
    pub attempt: u32,
    pub scheduled_at: chrono::DateTime<chrono::Utc>,
    /// Where the attempt's private `CRONDUCT_RESULT` directory is made
    /// (the daemon's results directory).
    pub results_dir: std::path::PathBuf,
    /// Where a command attempt's whole output goes; `None` with
    /// `[daemon] output = "tail"`.
    pub output: Option<crate::log::output::Target>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// The timeout message quotes the limit as the config writes it.
    #[test]
    fn durations_read_like_the_config() {
        let cases = [
            (Duration::from_secs(30), "30s"),
            (Duration::from_secs(90), "1m30s"),
            (Duration::from_secs(5400), "1h30m"),
            (Duration::from_secs(2 * 86_400), "2d"),
            (Duration::from_millis(500), "500ms"),
            (Duration::from_millis(1500), "1s500ms"),
            (Duration::ZERO, "0s"),
        ];
        for (d, want) in cases {
            assert_eq!(
                Stop::Timeout(d).message(),
                format!("timed out after {want}")
            );
            assert_eq!(crate::units::parse_duration(want), Ok(d));
        }
    }
}
