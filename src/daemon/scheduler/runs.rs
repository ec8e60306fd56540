//! The run registry: the active runs, where each stands, and the
//! concurrency policy that decides whether another may start, and the
//! `warn_after` alarms of runs not yet found slow.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::config::{Concurrency, Job};
use crate::daemon::run::Cancel;
use crate::record::FinishRecord;

pub struct ActiveRun {
    pub job: String,
    /// The definition the run was started with (a reload may change or
    /// remove the job meanwhile): its pings go where its start ping went.
    pub definition: Arc<Job>,
    /// When the first attempt started (wall, monotonic); `warn_after`
    /// counts from here, across retries.
    pub first_started: Option<(DateTime<Utc>, Instant)>,
    /// Whether the run has been found slow (it is, once and for good).
    pub slow: bool,
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
    /// Runs that will be slow at the instant unless they end first. On the
    /// monotonic clock, like `timeout`: a wall-clock step neither hastens
    /// nor delays a slow notice.
    slow_alarms: BTreeSet<(Instant, String)>,
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
        let run = self.runs.remove(run_id)?;
        if let Some(at) = self.slow_at(&run) {
            self.slow_alarms.remove(&(at, run_id.to_string()));
        }
        Some(run)
    }

    /// Records the start of run `run_id`'s first attempt and arms its
    /// `warn_after` alarm; later attempts change nothing. Answers whether
    /// this was the first attempt.
    pub fn first_started(&mut self, run_id: &str, at: DateTime<Utc>, mono: Instant) -> bool {
        let Some(run) = self.runs.get_mut(run_id) else {
            return false;
        };
        if run.first_started.is_some() {
            return false;
        }
        run.first_started = Some((at, mono));
        if let Some(at) = self.runs.get(run_id).and_then(|r| self.slow_at(r)) {
            self.slow_alarms.insert((at, run_id.to_string()));
        }
        true
    }

    /// When an armed run becomes slow.
    fn slow_at(&self, run: &ActiveRun) -> Option<Instant> {
        let (_, mono) = run.first_started?;
        (!run.slow)
            .then_some(run.definition.warn_after)
            .flatten()
            .and_then(|w| mono.checked_add(w))
    }

    /// The soonest `warn_after` alarm.
    pub fn next_slow(&self) -> Option<Instant> {
        self.slow_alarms.first().map(|(at, _)| *at)
    }

    /// Takes the soonest alarm due at `now` off the queue and marks its
    /// run slow: answers the run id.
    pub fn pop_slow(&mut self, now: Instant) -> Option<String> {
        let (at, _) = self.slow_alarms.first()?;
        if *at > now {
            return None;
        }
        let (_, id) = self.slow_alarms.pop_first()?;
        if let Some(run) = self.runs.get_mut(&id) {
            run.slow = true;
        }
        Some(id)
    }

    /// Whether a run of `job` has been found slow.
    pub fn is_slow(&self, job: &str) -> bool {
        self.of(job).any(|(_, r)| r.slow)
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
