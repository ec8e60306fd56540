//! The daemon's control surface: what the API (and signals, and the file
//! watcher) may ask of the scheduler task.
//!
//! The scheduler task alone owns job state; everyone else holds a
//! [`Handle`] and sends it requests with a oneshot reply, so no state is
//! shared behind a lock. The views it answers with ([`JobSummary`],
//! [`RunningAttempt`], …) are the API's JSON shapes, defined in
//! [`crate::wire`] and serialised as they are.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{mpsc, oneshot};

use crate::config::ConfigErrors;
use crate::record::FinishRecord;
use crate::wire::{JobDetail, JobSummary, LastReload, NextRun, Pause, ReloadDiff, RunningAttempt};

/// The scheduler's part of `GET /api/v1/status` and `/health`: a reply on
/// the channel, never serialised itself (the API builds the
/// [`crate::wire::StatusReport`] and [`crate::wire::HealthReport`] from
/// it).
#[derive(Debug, Clone, PartialEq)]
pub struct SchedulerStatus {
    pub config: PathBuf,
    pub last_reload: LastReload,
    pub jobs_total: usize,
    pub jobs_enabled: usize,
    pub jobs_paused: usize,
    pub runs_active: usize,
    /// `[cluster]` was changed by a reload since the daemon started; it
    /// takes effect at the next start.
    pub cluster_restart_needed: bool,
    pub next_run: Option<NextRun>,
    pub events: SchedulerEvents,
}

/// Alert events counted since the daemon started, for `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SchedulerEvents {
    /// `forbid` skips.
    pub skipped: u64,
    /// Scheduled instants found missed at start-up (a lower bound when a
    /// count was capped).
    pub missed: u64,
    /// Runs found slow.
    pub slow: u64,
    /// Overdue notices (the first and each reminder).
    pub overdue: u64,
}

/// Why the scheduler refused a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// No job with that id (HTTP 404).
    #[error("unknown job {0:?}")]
    UnknownJob(String),
    /// The request conflicts with the job's state (HTTP 409).
    #[error("{0}")]
    Conflict(String),
    /// The scheduler task is gone (shutting down).
    #[error("the scheduler is shutting down")]
    Stopped,
}

/// A manual run that was accepted.
#[derive(Debug)]
pub struct Triggered {
    pub run_id: String,
    /// Resolves with the run's final finish record (after retries).
    pub finished: oneshot::Receiver<FinishRecord>,
}

/// One request to the scheduler task.
#[derive(Debug)]
pub enum Request {
    Jobs(oneshot::Sender<Vec<JobSummary>>),
    Job(String, oneshot::Sender<Option<JobDetail>>),
    Pause(String, Pause, oneshot::Sender<Result<(), ControlError>>),
    Resume(String, oneshot::Sender<Result<(), ControlError>>),
    /// Answers every configured job's id.
    PauseAll(Pause, oneshot::Sender<Vec<String>>),
    /// Answers the ids of the jobs that were paused.
    ResumeAll(oneshot::Sender<Vec<String>>),
    Trigger(String, oneshot::Sender<Result<Triggered, ControlError>>),
    Cancel(String, oneshot::Sender<Result<Vec<String>, ControlError>>),
    Running(oneshot::Sender<Vec<RunningAttempt>>),
    Reload(oneshot::Sender<Result<ReloadDiff, ConfigErrors>>),
    Status(oneshot::Sender<SchedulerStatus>),
}

impl Request {
    /// Whether handling the request may change what a job's summary
    /// shows: a pause, or `running` when a manual run starts.
    /// Cancelling changes `running` only once the run's `Finished` event
    /// arrives, and a reload only once it is applied; those are announced
    /// then.
    pub fn changes_jobs(&self) -> bool {
        match self {
            Request::Pause(..)
            | Request::Resume(..)
            | Request::PauseAll(..)
            | Request::ResumeAll(_)
            | Request::Trigger(..) => true,
            Request::Jobs(_)
            | Request::Job(..)
            | Request::Cancel(..)
            | Request::Running(_)
            | Request::Reload(_)
            | Request::Status(_) => false,
        }
    }
}

/// A cheap, clonable way to talk to the scheduler task.
#[derive(Debug, Clone)]
pub struct Handle {
    tx: mpsc::Sender<Request>,
    changes: Arc<AtomicU64>,
}

/// The scheduler's end of a [`Handle`]: the requests, and the counter it
/// advances whenever what [`Handle::jobs`] answers may have changed.
#[derive(Debug)]
pub struct Inbox {
    rx: mpsc::Receiver<Request>,
    changes: Arc<AtomicU64>,
}

impl Inbox {
    pub async fn recv(&mut self) -> Option<Request> {
        self.rx.recv().await
    }

    /// Called by the scheduler when it may change a job's summary (a
    /// start, a finish, a pause, a reload, a re-plan...), before anyone
    /// can have heard of the change.
    pub fn note_change(&self) {
        self.changes.fetch_add(1, Ordering::Release);
    }
}

impl Handle {
    /// A handle and the receiving end the scheduler task listens on.
    pub fn channel() -> (Handle, Inbox) {
        let (tx, rx) = mpsc::channel(256);
        let changes = Arc::new(AtomicU64::new(0));
        (
            Handle {
                tx,
                changes: Arc::clone(&changes),
            },
            Inbox { rx, changes },
        )
    }

    /// A number that grows whenever what [`Handle::jobs`] answers may have
    /// changed. An answer obtained after reading version `v` stays right
    /// for as long as the version reads `v`, so callers may keep it that
    /// long instead of asking again (the API does, for `GET /api/v1/jobs`).
    pub fn jobs_version(&self) -> u64 {
        self.changes.load(Ordering::Acquire)
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Request,
    ) -> Result<T, ControlError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(make(reply))
            .await
            .map_err(|_| ControlError::Stopped)?;
        answer.await.map_err(|_| ControlError::Stopped)
    }

    pub async fn jobs(&self) -> Result<Vec<JobSummary>, ControlError> {
        self.ask(Request::Jobs).await
    }

    pub async fn job(&self, id: &str) -> Result<JobDetail, ControlError> {
        self.ask(|r| Request::Job(id.to_string(), r))
            .await?
            .ok_or_else(|| ControlError::UnknownJob(id.to_string()))
    }

    /// Pauses a job (again: `pause` replaces the one it was under). With
    /// `pause.until`, it resumes by itself then.
    pub async fn pause(&self, id: &str, pause: Pause) -> Result<(), ControlError> {
        self.ask(|r| Request::Pause(id.to_string(), pause, r))
            .await?
    }

    /// Ends a job's pause; resuming a job that is not paused is no error.
    pub async fn resume(&self, id: &str) -> Result<(), ControlError> {
        self.ask(|r| Request::Resume(id.to_string(), r)).await?
    }

    /// Pauses every configured job under `pause`; answers their ids.
    pub async fn pause_all(&self, pause: Pause) -> Result<Vec<String>, ControlError> {
        self.ask(|r| Request::PauseAll(pause, r)).await
    }

    /// Resumes every paused job; answers the ids of those it resumed.
    pub async fn resume_all(&self) -> Result<Vec<String>, ControlError> {
        self.ask(Request::ResumeAll).await
    }

    /// Starts a manual run. `Conflict` when `concurrency = "forbid"` and a
    /// run is active.
    pub async fn trigger(&self, id: &str) -> Result<Triggered, ControlError> {
        self.ask(|r| Request::Trigger(id.to_string(), r)).await?
    }

    /// Cancels the job's active runs; `Conflict` when none is active.
    pub async fn cancel(&self, id: &str) -> Result<Vec<String>, ControlError> {
        self.ask(|r| Request::Cancel(id.to_string(), r)).await?
    }

    pub async fn running(&self) -> Result<Vec<RunningAttempt>, ControlError> {
        self.ask(Request::Running).await
    }

    /// Re-reads the config. `Ok(Err(errors))` when the new file is invalid
    /// and the old jobs were kept: one rendered entry per problem.
    pub async fn reload(&self) -> Result<Result<ReloadDiff, ConfigErrors>, ControlError> {
        self.ask(Request::Reload).await
    }

    pub async fn status(&self) -> Result<SchedulerStatus, ControlError> {
        self.ask(Request::Status).await
    }
}
