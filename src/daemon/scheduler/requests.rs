//! The control requests, one function per verb.

use tokio::sync::oneshot;

use super::Scheduler;
use super::runs::Phase;
use crate::config::ConfigErrors;
use crate::daemon::control::{ControlError, Request, Triggered};
use crate::record::Trigger;
use crate::wire::{JobDetail, JobSummary, ReloadDiff, RunningAttempt};

impl Scheduler {
    pub(super) fn handle_request(&mut self, request: Request) {
        match request {
            Request::Jobs(reply) => {
                let _ = reply.send(self.jobs());
            }
            Request::Job(id, reply) => {
                let _ = reply.send(self.job(&id));
            }
            Request::SetPaused(id, paused, reply) => {
                let _ = reply.send(self.set_paused(id, paused));
            }
            Request::Trigger(id, reply) => {
                let _ = reply.send(self.trigger(id));
            }
            Request::Cancel(id, reply) => {
                let _ = reply.send(self.cancel(id));
            }
            Request::Running(reply) => {
                let _ = reply.send(self.running());
            }
            Request::Reload(reply) => self.reload(reply),
            Request::Status(reply) => {
                let _ = reply.send(self.status());
            }
        }
    }

    fn jobs(&self) -> Vec<JobSummary> {
        self.timetable
            .slots()
            .map(|(_, s)| self.summary(s))
            .collect()
    }

    fn job(&self, id: &str) -> Option<JobDetail> {
        let now = self.services.clock.now();
        self.timetable.get(id).map(|s| self.detail(s, now))
    }

    fn set_paused(&mut self, id: String, paused: bool) -> Result<bool, ControlError> {
        if !self.timetable.contains(&id) {
            return Err(ControlError::UnknownJob(id));
        }
        // A paused job is never overdue; resuming restarts its window.
        if paused {
            self.state.paused.insert(id.clone());
            self.timetable.watch(&id, None);
        } else if self.state.paused.remove(&id) {
            if self
                .timetable
                .job(&id)
                .is_some_and(|j| j.expect_success_within.is_some())
            {
                let now = self.services.clock.now();
                self.state.watched_since.insert(id.clone(), now);
            }
            let origin = self.watch_origin(&id);
            self.timetable.watch(&id, origin);
        }
        self.services.hooks.save_state(&self.state);
        tracing::info!(job = %id, "{}", if paused { "paused" } else { "resumed" });
        Ok(paused)
    }

    fn trigger(&mut self, id: String) -> Result<Triggered, ControlError> {
        let Some(job) = self.timetable.job(&id) else {
            return Err(ControlError::UnknownJob(id));
        };
        let (tx, rx) = oneshot::channel();
        let now = self.services.clock.now();
        self.start_run(&job, Trigger::Manual, now, Some(tx))
            .map(|run_id| Triggered {
                run_id,
                finished: rx,
            })
    }

    fn cancel(&mut self, id: String) -> Result<Vec<String>, ControlError> {
        if !self.timetable.contains(&id) && self.runs.of(&id).next().is_none() {
            return Err(ControlError::UnknownJob(id));
        }
        let mut cancelled: Vec<String> = self
            .runs
            .of(&id)
            .map(|(run_id, r)| {
                r.cancel.cancel("cancelled through the admin API");
                run_id.clone()
            })
            .collect();
        cancelled.sort();
        if cancelled.is_empty() {
            Err(ControlError::Conflict(format!(
                "job {id:?} has no active run"
            )))
        } else {
            Ok(cancelled)
        }
    }

    fn running(&self) -> Vec<RunningAttempt> {
        let mut running: Vec<RunningAttempt> = self
            .runs
            .iter()
            .filter_map(|(run_id, r)| {
                let Phase::Running {
                    pid,
                    started_at,
                    started_mono,
                    timeout_at,
                } = r.phase
                else {
                    return None;
                };
                Some(RunningAttempt {
                    run_id: run_id.clone(),
                    job: r.job.clone(),
                    attempt: r.attempt,
                    pid,
                    started_at,
                    elapsed_ms: u64::try_from(started_mono.elapsed().as_millis())
                        .unwrap_or(u64::MAX),
                    timeout_at,
                })
            })
            .collect();
        running.sort_by(|a, b| {
            a.started_at
                .cmp(&b.started_at)
                .then(a.run_id.cmp(&b.run_id))
        });
        running
    }

    fn reload(&mut self, reply: oneshot::Sender<Result<ReloadDiff, ConfigErrors>>) {
        self.reload_waiters.push(reply);
        self.begin_reload();
    }
}
