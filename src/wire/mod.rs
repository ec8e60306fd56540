//! The admin API's JSON documents (cronduct.toml(5) ADMIN API), in one place:
//! what the server serialises and what the typed client
//! ([`crate::api::client`]) parses back, so the two cannot drift apart. Field
//! names and order are contract; scripts read them.
//!
//! A crate-level module rather than part of `api`, because most of these
//! shapes are filled far from HTTP: the scheduler answers with
//! [`JobSummary`], [`JobDetail`], [`RunningAttempt`] and [`ReloadDiff`],
//! the history index with [`Stats`] and [`JobStats`], the notifier with
//! [`NotifyStats`]. Here they depend on nothing but [`crate::record`] (the
//! execution log's own format, whose finish records the run listings
//! carry as they are) and [`crate::health`] (a pure function), so neither the daemon nor the log depends on the
//! HTTP layer, and the CLI reads the daemon's answers without depending
//! on the daemon.
//!
//! This module owns the shapes only: no I/O, and no rules beyond the
//! little arithmetic a shape implies (a total of counts, a period's
//! bounds). Each type has one public path, `crate::wire::Name`.

mod audit;
mod cluster;
mod jobs;
mod runs;
mod stats;
mod status;

pub use crate::health::Health;
pub use audit::AuditList;
pub use cluster::{ClusterNode, ClusterView, JobDrift, NodeState};
pub use jobs::{
    Cancelled, HealthSignals, JobDetail, JobDetailView, JobList, JobPlan, JobRemoved, JobSummary,
    JobView, LastRun, Pause, PauseRequest, PauseState, PausedAll, ResumedAll, TriggerAccepted,
};
pub use runs::{RunAttempts, RunList, RunningAttempt, RunningList};
pub use stats::{
    CpuStats, DayStats, JobStats, Period, PeriodStats, ResultStats, Stats, StatusCounts,
};
pub use status::{
    Availability, ChannelStats, Component, Components, FsSpace, HealthReport, HealthStatus,
    JobAnalysis, JobCounts, JobsAnalysis, LastDelivery, LastReload, LoadAverage, LogReport,
    NextRun, NotifyStats, ReloadDiff, SchedulerReport, StatusReport, SystemReport, TzdataReport,
    TzdataSource, WindowStats,
};

use serde::{Deserialize, Serialize};

/// Every error answer: `{"error": "…"}`, plus every validation error for
/// a refused reload (422).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<String>>,
    /// The same validation errors as data, one item each.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diagnostics: Option<Vec<crate::config::ConfigError>>,
}
