//! Where the API's answers come from: the scheduler (through its control
//! [`Handle`]), the history index of past runs, the log writer's health
//! and the notifier's counters. The API reads them and never changes
//! them; only requests sent on `handle` act on jobs.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::key::KeyStore;
use crate::clock::Clock;
use crate::daemon::control::Handle;
use crate::log::{HistoryHandle, LogSink};
use crate::notify::NotifyCounters;
use crate::state::SaveHealth;

/// Everything the API needs from the rest of the daemon.
///
/// The daemon builds one at start and hands it to [`super::serve`]; the
/// API never mutates job state itself, it only sends requests on `handle`.
pub struct ApiContext {
    /// The scheduler task's request channel.
    pub handle: Handle,
    /// The index of finished runs (rebuilt from the log at start).
    pub history: HistoryHandle,
    /// The execution-log writer, asked only for its health.
    pub log: LogSink,
    /// The notifier's delivery counters (`notifications` in the status,
    /// `cronduct_notifications_*` in the metrics).
    pub notifications: NotifyCounters,
    /// The keys every path except `/health` requires, with their roles
    /// (see [`super::key::KeyRing::load`]); the daemon replaces the ring
    /// at each reload.
    pub keys: Arc<KeyStore>,
    /// Job management (`managed_dir`); `None` when it is off.
    pub managed: Option<super::Managed>,
    /// This machine's name, for the `host` of the audit trail's lines.
    pub host: Arc<str>,
    /// `[daemon].listen`: requests naming it in `Host` are accepted besides
    /// the loopback names.
    pub listen: SocketAddr,
    /// The only source of "now" (uptime, `failures_24h`, `since=2h`).
    pub clock: Arc<dyn Clock>,
    /// When the daemon started, as `GET /api/v1/status` reports it.
    pub started_at: DateTime<Utc>,
    /// `[daemon].state_dir` and `log_file`: the status reports the space
    /// left on their file systems.
    pub state_dir: PathBuf,
    pub log_file: PathBuf,
    /// Where whole output is kept (`[daemon] output`; `None` for
    /// `"tail"`), and how long files are kept, for the answer when one is
    /// gone.
    pub output: Option<crate::log::output::Store>,
    pub output_keep: std::time::Duration,
    /// Whether the state file (`<state_dir>/state.json`) can be written.
    pub state_health: SaveHealth,
    /// With `[cluster]`: this node, for `/health` (its link to the
    /// database, drift), `GET /api/v1/cluster` and cluster-wide pauses.
    pub cluster: Option<crate::cluster::Node>,
}
