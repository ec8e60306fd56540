//! The daemon as a whole: `/health`, `GET /api/v1/status` and the answer
//! to `POST /api/v1/reload`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::health::Health;
use crate::record::ts;

/// The outcome of the last (re)load of the configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastReload {
    pub ok: bool,
    #[serde(with = "ts")]
    pub at: DateTime<Utc>,
    /// The rendered validation errors of a refused config.
    pub error: Option<String>,
    /// The same errors as data, one item each; empty after a success.
    #[serde(default)]
    pub diagnostics: Vec<crate::config::ConfigError>,
}

/// `POST /api/v1/reload` (200): what a successful reload changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReloadDiff {
    pub ok: bool,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<String>,
}

/// The soonest scheduled run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NextRun {
    pub job: String,
    #[serde(with = "ts")]
    pub at: DateTime<Utc>,
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

/// Deliveries over one channel (email or webhook) since the daemon
/// started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelStats {
    /// Deliveries that succeeded.
    pub delivered: u64,
    /// Deliveries given up: after their retries, at once when a retry
    /// could not help (a rejected address, no `[smtp]`), or undelivered at
    /// shutdown.
    pub failed: u64,
}

/// What the notifier did since the daemon started: `notifications` in
/// `GET /api/v1/status`, and `cronduct_notifications_*` in `/metrics`.
/// `delivered` and `failed` count deliveries, in all and by channel (a
/// notice sent by email and webhook makes two); `suppressed` and
/// `dropped` count notices.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotifyStats {
    /// `email.delivered + webhook.delivered + ping.delivered`.
    pub delivered: u64,
    /// `email.failed + webhook.failed + ping.failed`.
    pub failed: u64,
    /// Notices held back by the per-job rate limit.
    pub suppressed: u64,
    /// Notices lost because the queue was full or the notifier had shut
    /// down.
    pub dropped: u64,
    pub email: ChannelStats,
    pub webhook: ChannelStats,
    /// `notify.ping` requests (healthchecks.io protocol).
    #[serde(default)]
    pub ping: ChannelStats,
}

/// `GET /api/v1/status`. `A` is what `jobs_analysis` holds: the daemon
/// writes a copy it serialised earlier (kept for up to a second while
/// nothing changed, see `api/memo.rs`); clients read a [`JobsAnalysis`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusReport<A = JobsAnalysis> {
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
    pub notifications: NotifyStats,
    pub scheduler: SchedulerReport,
    pub jobs_analysis: A,
    pub components: Components,
    pub system: SystemReport,
    pub containment: ContainmentReport,
}

/// `containment` in `GET /api/v1/status`: how command attempts are held
/// together and killed (cronduct.toml(5), RUNNING A JOB, Containment).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainmentReport {
    pub mode: ContainmentMode,
    /// Where the cgroups are made and which limits they can apply, or
    /// why there are none.
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ContainmentMode {
    /// A cgroup v2 group per attempt, killed with `cgroup.kill`.
    Cgroup,
    /// The attempt's process group only.
    ProcessGroup,
}

/// How the latest delivery over one notification channel ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastDelivery {
    pub ok: bool,
    #[serde(with = "ts")]
    pub at: DateTime<Utc>,
    /// Why it was given up (after its retries).
    pub error: Option<String>,
}

/// `scheduler` in `GET /api/v1/status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SchedulerReport {
    /// The scheduler answered and is not stopping.
    pub running: bool,
    /// The machine's zone: the zone of jobs without a `timezone`.
    pub timezone: String,
    /// Where zone rules come from.
    pub tzdata: TzdataReport,
}

/// `scheduler.tzdata` in `GET /api/v1/status`: the tz database in use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TzdataReport {
    /// `system` (TZif files of the machine's tz database) or
    /// `compiled-in` (the copy in the binary, used where the machine has
    /// none).
    pub source: TzdataSource,
    /// The folder of the system database; null for the compiled-in copy.
    pub path: Option<PathBuf>,
    /// The tzdata release, like `2025b`; null when the database does not
    /// say.
    pub version: Option<String>,
}

/// Which copy of the tz database is in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TzdataSource {
    System,
    CompiledIn,
}

/// `jobs_analysis` in `GET /api/v1/status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobsAnalysis {
    /// Configured jobs by health; every state present, zeros included.
    pub health: BTreeMap<Health, usize>,
    /// Configured jobs with at least one failed run in the last 24 hours.
    pub jobs_with_errors: usize,
    /// Every configured job's recent runs.
    pub jobs: BTreeMap<String, JobAnalysis>,
}

/// One job's runs over the last 24 hours and the last 7 days.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JobAnalysis {
    pub last_24h: WindowStats,
    pub last_7d: WindowStats,
}

/// Runs (counted by their final status) that finished within a window
/// ending now.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WindowStats {
    pub runs: u64,
    /// Runs whose final status is a failure (failed, timeout, error, lost).
    pub errors: u64,
    /// `errors / runs`, between 0 and 1; `null` without runs.
    pub error_rate: Option<f64>,
    /// Durations of the final attempts, `lost` ones excluded; `null`
    /// without any.
    pub avg_duration_ms: Option<u64>,
    pub min_duration_ms: Option<u64>,
    pub max_duration_ms: Option<u64>,
}

/// A component's state in `components`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Availability {
    Available,
    Degraded,
    Unavailable,
}

/// One part the daemon depends on: its state and its latest outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Component {
    pub status: Availability,
    /// Whether the latest operation succeeded; `null` before any.
    pub ok: Option<bool>,
    #[serde(with = "ts::option")]
    pub at: Option<DateTime<Utc>>,
    pub error: Option<String>,
}

/// `components` in `GET /api/v1/status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Components {
    pub scheduler: Component,
    pub log: Component,
    /// The state file (`<state_dir>/state.json`): `unavailable` while it
    /// cannot be written, with the error.
    pub state: Component,
    /// The latest email delivery.
    pub smtp: Component,
    /// The latest webhook delivery.
    pub webhook: Component,
}

/// Free and total bytes of one file system.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FsSpace {
    /// The directory asked about (the state dir, the log's directory).
    pub path: PathBuf,
    /// Bytes available to the daemon's user.
    pub free_bytes: u64,
    pub total_bytes: u64,
}

/// The 1, 5 and 15 minute load averages.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LoadAverage {
    pub one: f64,
    pub five: f64,
    pub fifteen: f64,
}

/// `system` in `GET /api/v1/status`: the machine and the daemon's
/// process, each `null` where it cannot be read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SystemReport {
    pub load_average: Option<LoadAverage>,
    pub memory_total_bytes: Option<u64>,
    pub memory_available_bytes: Option<u64>,
    pub state_dir_fs: Option<FsSpace>,
    pub log_fs: Option<FsSpace>,
    pub threads: Option<u64>,
    pub open_fds: Option<u64>,
}
