//! The control requests, one function per verb.

use tokio::sync::oneshot;

use super::runs::Phase;
use super::{Scheduler, pauses};
use crate::config::ConfigErrors;
use crate::daemon::control::{ControlError, Request, Triggered};
use crate::record::Trigger;
use crate::wire::{JobDetail, JobSummary, Pause, ReloadDiff, RunningAttempt};

impl Scheduler {
    pub(super) fn handle_request(&mut self, request: Request) {
        match request {
            Request::Jobs(reply) => {
                let _ = reply.send(self.jobs());
            }
            Request::Job(id, reply) => {
                let _ = reply.send(self.job(&id));
            }
            Request::Pause(id, pause, reply) => {
                let _ = reply.send(self.pause_job(id, pause));
            }
            Request::Resume(id, reply) => {
                let _ = reply.send(self.resume_job(id));
            }
            Request::PauseAll(pause, reply) => {
                let _ = reply.send(self.pause_all(pause));
            }
            Request::ResumeAll(reply) => {
                let _ = reply.send(self.resume_all());
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

    fn pause_job(&mut self, id: String, pause: Pause) -> Result<(), ControlError> {
        if !self.timetable.contains(&id) {
            return Err(ControlError::UnknownJob(id));
        }
        tracing::info!(job = %id, "paused{}", pauses::describe(&pause));
        self.pause(&id, pause);
        self.services.hooks.save_state(&self.state);
        Ok(())
    }

    fn resume_job(&mut self, id: String) -> Result<(), ControlError> {
        if !self.timetable.contains(&id) {
            return Err(ControlError::UnknownJob(id));
        }
        if self.end_pause(&id).is_some() {
            tracing::info!(job = %id, "resumed");
            self.services.hooks.save_state(&self.state);
        }
        Ok(())
    }

    /// Pauses every configured job, those already paused included (their
    /// pause is replaced, so they all end together).
    fn pause_all(&mut self, pause: Pause) -> Vec<String> {
        let ids: Vec<String> = self.timetable.slots().map(|(id, _)| id.clone()).collect();
        for id in &ids {
            self.pause(id, pause.clone());
        }
        tracing::info!("paused all {} jobs{}", ids.len(), pauses::describe(&pause));
        self.services.hooks.save_state(&self.state);
        ids
    }

    /// Resumes every configured job that is paused.
    fn resume_all(&mut self) -> Vec<String> {
        let ids: Vec<String> = self.timetable.slots().map(|(id, _)| id.clone()).collect();
        let resumed: Vec<String> = ids
            .into_iter()
            .filter(|id| self.end_pause(id).is_some())
            .collect();
        tracing::info!("resumed all {} paused jobs", resumed.len());
        if !resumed.is_empty() {
            self.services.hooks.save_state(&self.state);
        }
        resumed
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
