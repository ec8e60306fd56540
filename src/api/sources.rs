//! Where the API's answers come from: the scheduler (through its control
//! [`Handle`]), the history index of past runs, and the log writer's health.
//!
//! This is the only file of `api` that names the history and the log types,
//! so the rest of the API is written against the method names below and
//! never against their implementation.

use std::net::SocketAddr;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::clock::Clock;
use crate::daemon::control::Handle;

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

/// The history index the API reads.
pub use crate::log::HistoryHandle as History;
/// The log writer whose health the API reports.
pub use crate::log::LogSink as LogSource;
pub use crate::log::{
    DURATION_BUCKETS_MS, DayStats, DurationHistogram, JobStats, LogHealth, MetricsSnapshot, Period,
    PeriodStats, RunFilter, StatsError,
};
