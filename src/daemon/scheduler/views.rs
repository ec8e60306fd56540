//! What the API reads of the scheduler: status, job summaries, details.

use chrono::{DateTime, Utc};

use super::Scheduler;
use super::timetable::Slot;
use crate::daemon::control::{SchedulerEvents, SchedulerStatus};
use crate::wire::{HealthSignals, JobDetail, JobSummary, NextRun};

impl Scheduler {
    pub(super) fn status(&self) -> SchedulerStatus {
        let next_run = self
            .timetable
            .slots()
            .filter(|(id, _)| !self.is_paused(id))
            .filter_map(|(id, s)| s.next.map(|p| (p.scheduled_at, id)))
            .min()
            .map(|(at, id)| NextRun {
                job: id.clone(),
                at,
            });
        SchedulerStatus {
            config: self.config.path.clone(),
            last_reload: self.last_reload.clone(),
            jobs_total: self.timetable.len(),
            jobs_enabled: self
                .timetable
                .slots()
                .filter(|(_, s)| s.job.enabled)
                .count(),
            jobs_paused: self
                .timetable
                .slots()
                .filter(|(id, _)| self.is_paused(id))
                .count(),
            runs_active: self.runs.len(),
            // The node keeps the settings it started with (its pool, its
            // row, its heartbeat): a reload cannot swap them under it.
            cluster_restart_needed: self.services.cluster.as_ref().map(|n| n.settings())
                != self.config.cluster.as_ref(),
            next_run,
            events: SchedulerEvents {
                skipped: self.skipped_total,
                missed: self.missed_total,
                slow: self.slow_total,
                overdue: self.overdue_total,
            },
        }
    }

    pub(super) fn summary(&self, slot: &Slot) -> JobSummary {
        let job = &slot.job;
        JobSummary {
            signals: HealthSignals {
                critical: job.critical,
                slow: self.is_slow(&job.id),
                overdue: self.is_overdue(&job.id, self.services.clock.now()),
            },
            id: job.id.clone(),
            description: job.description.clone(),
            schedule: job.schedule.to_string(),
            schedule_text: job.schedule.in_words(&job.timezone),
            timezone: job.timezone.name().to_string(),
            action: job.action.kind().to_string(),
            enabled: job.enabled,
            paused: self.is_paused(&job.id),
            pause: self.state.pause_of(&job.id),
            running: self.runs.of(&job.id).next().is_some(),
            next_run: slot.next.map(|p| p.scheduled_at),
            consecutive_failures: self
                .state
                .consecutive_failures
                .get(&job.id)
                .copied()
                .unwrap_or(0),
            source: match job.crontab_line {
                Some(_) => "crontab",
                None => "config",
            }
            .to_string(),
            origin: match job.crontab_line {
                Some(line) => format!("{}:{line}", job.source.display()),
                None => job.source.display().to_string(),
            },
        }
    }

    pub(super) fn detail(&self, slot: &Slot, now: DateTime<Utc>) -> JobDetail {
        let job = &slot.job;
        let next_runs = job
            .schedule
            .upcoming(now, &job.timezone, slot.anchor, 5)
            .into_iter()
            .map(|t| job.timezone.rfc3339(t))
            .collect();
        JobDetail {
            summary: self.summary(slot),
            settings: crate::api::settings::settings_json(job),
            next_runs,
        }
    }
}
