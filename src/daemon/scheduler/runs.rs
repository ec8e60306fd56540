//! The run registry: the active runs, where each stands, and the
//! concurrency policy that decides whether another may start.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::config::Concurrency;
use crate::daemon::run::Cancel;
use crate::record::FinishRecord;

pub struct ActiveRun {
    pub job: String,
    pub cancel: Cancel,
    pub attempt: u32,
    pub phase: Phase,
    pub waiters: Vec<oneshot::Sender<FinishRecord>>,
}

/// Where a run stands, as its events tell the scheduler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Spawned; its first attempt has not reported starting yet (its
    /// process may be being created right now).
    Starting,
    /// An attempt is in progress.
    Running {
        pid: Option<u32>,
        started_at: DateTime<Utc>,
        started_mono: Instant,
        timeout_at: Option<DateTime<Utc>>,
    },
    /// An attempt failed and the run waits to retry: no process exists.
    Retrying,
}

/// What the concurrency policy says to a new run of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// No run is active, or `allow`: start it.
    Start,
    /// `forbid` and these runs are active: do not start it.
    Refuse(Vec<String>),
    /// `replace`: cancel these runs, then start it.
    Replace(Vec<String>),
}

/// The active runs by run id.
#[derive(Default)]
pub struct Runs {
    runs: HashMap<String, ActiveRun>,
}

impl Runs {
    /// The active runs of job `job`, with their run ids.
    pub fn of<'a>(&'a self, job: &'a str) -> impl Iterator<Item = (&'a String, &'a ActiveRun)> {
        self.runs.iter().filter(move |(_, r)| r.job == job)
    }

    /// Whether a new run of `job` may start under `concurrency`.
    pub fn admit(&self, job: &str, concurrency: Concurrency) -> Admission {
        let mut active: Vec<String> = self.of(job).map(|(id, _)| id.clone()).collect();
        active.sort();
        match concurrency {
            _ if active.is_empty() => Admission::Start,
            Concurrency::Allow => Admission::Start,
            Concurrency::Forbid => Admission::Refuse(active),
            Concurrency::Replace => Admission::Replace(active),
        }
    }

    pub fn insert(&mut self, run_id: String, run: ActiveRun) {
        self.runs.insert(run_id, run);
    }

    pub fn get(&self, run_id: &str) -> Option<&ActiveRun> {
        self.runs.get(run_id)
    }

    pub fn get_mut(&mut self, run_id: &str) -> Option<&mut ActiveRun> {
        self.runs.get_mut(run_id)
    }

    pub fn remove(&mut self, run_id: &str) -> Option<ActiveRun> {
        self.runs.remove(run_id)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &ActiveRun)> {
        self.runs.iter()
    }

    pub fn len(&self) -> usize {
        self.runs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// Cancels every active run for `reason`.
    pub fn cancel_all(&self, reason: &str) {
        for run in self.runs.values() {
            run.cancel.cancel(reason);
        }
    }

    /// Cancels the runs waiting to retry for `reason`.
    pub fn cancel_retrying(&self, reason: &str) {
        for run in self.runs.values().filter(|r| r.phase == Phase::Retrying) {
            run.cancel.cancel(reason);
        }
    }
}
