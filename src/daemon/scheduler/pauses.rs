//! Pauses, and the ends of timed ones: the one place a pause is made or
//! ended, so the persisted state and the index of ends never disagree.
//!
//! A timed pause ends at a planned instant, like a due job: the loop
//! sleeps until the soonest end ([`PauseEnds::next`]) and then resumes
//! every pause whose end has come, before it fires due jobs, so a job
//! paused until 12:00 runs its 12:00 instant. No timer runs while no
//! timed pause exists. At start-up the same step resumes the pauses that
//! ended while the daemon was stopped.
//!
//! In a cluster the database holds the pauses every node obeys: the API
//! writes them there before asking the scheduler, and each heartbeat's
//! read of them is applied here ([`Scheduler::sync_cluster_pauses`]), so
//! a job paused or resumed on another node is so here too.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use super::Scheduler;
use crate::cluster::ClusterPauses;
use crate::record::ts;
use crate::state::State;
use crate::wire::Pause;

/// When each timed pause ends, soonest first.
#[derive(Debug, Default)]
pub(super) struct PauseEnds(BTreeSet<(DateTime<Utc>, String)>);

impl PauseEnds {
    /// The ends of the timed pauses in `state`.
    pub(super) fn of(state: &State) -> Self {
        Self(
            state
                .pauses
                .iter()
                .filter_map(|(id, p)| Some((p.until?, id.clone())))
                .collect(),
        )
    }

    /// The soonest end, if any pause has one.
    pub(super) fn next(&self) -> Option<DateTime<Utc>> {
        self.0.first().map(|(at, _)| *at)
    }

    /// The job whose pause ends first, if that end is at or before `now`.
    fn pop_due(&mut self, now: DateTime<Utc>) -> Option<(DateTime<Utc>, String)> {
        if self.next()? > now {
            return None;
        }
        self.0.pop_first()
    }
}

impl Scheduler {
    /// Pauses `id` under `pause`, replacing the pause it was under.
    pub(super) fn pause(&mut self, id: &str, pause: Pause) {
        self.end_pause(id);
        if let Some(until) = pause.until {
            self.pause_ends.0.insert((until, id.to_string()));
        }
        self.state.pause(id, pause);
        // A paused job is never overdue.
        self.timetable.watch(id, None);
    }

    /// After `id` was resumed: its overdue window starts again from now.
    fn rewatch(&mut self, id: &str) {
        if self
            .timetable
            .job(id)
            .is_some_and(|j| j.expect_success_within.is_some())
        {
            let now = self.services.clock.now();
            self.state.watched_since.insert(id.to_string(), now);
        }
        let origin = self.watch_origin(id);
        self.timetable.watch(id, origin);
    }

    /// Ends `id`'s pause; answers the pause it ended, if it was paused.
    pub(super) fn end_pause(&mut self, id: &str) -> Option<Pause> {
        let ended = self.state.resume(id)?;
        if let Some(until) = ended.until {
            self.pause_ends.0.remove(&(until, id.to_string()));
        }
        self.rewatch(id);
        Some(ended)
    }

    /// Resumes every job whose pause has ended (also of a job a reload
    /// removed, so its pause does not outlive its end in the state file),
    /// saving the state once. Answers whether it resumed any.
    pub(super) fn resume_expired(&mut self) -> bool {
        let now = self.services.clock.now();
        let mut resumed = false;
        while let Some((until, id)) = self.pause_ends.pop_due(now) {
            self.state.resume(&id);
            self.rewatch(&id);
            tracing::info!(
                job = %id,
                "resumed by itself: its pause ended at {}",
                ts::format(&until)
            );
            resumed = true;
        }
        if resumed {
            self.services.hooks.save_state(&self.state);
        }
        resumed
    }
}

impl Scheduler {
    /// Makes this node's pauses those of the cluster: each configured job
    /// paused there is paused here under the same pause, and each paused
    /// here but not there (resumed on another node) is resumed. Saves the
    /// state once if anything changed.
    pub(super) fn sync_cluster_pauses(&mut self, pauses: &BTreeMap<String, Pause>) {
        let ids: Vec<String> = self.timetable.slots().map(|(id, _)| id.clone()).collect();
        let mut changed = false;
        for id in ids {
            match pauses.get(&id) {
                Some(p) if self.state.pause_of(&id).as_ref() != Some(p) => {
                    tracing::info!(job = %id, "paused in the cluster{}", describe(p));
                    self.pause(&id, p.clone());
                    changed = true;
                }
                None if self.is_paused(&id) => {
                    self.end_pause(&id);
                    tracing::info!(job = %id, "resumed in the cluster");
                    changed = true;
                }
                _ => {}
            }
        }
        if changed {
            self.services.hooks.save_state(&self.state);
        }
    }

    /// Takes the cluster's pause of `id` that a claim ran into.
    pub(super) fn take_cluster_pause(&mut self, id: &str, pause: Pause) {
        if self.timetable.contains(id) && self.state.pause_of(id).as_ref() != Some(&pause) {
            tracing::info!(job = %id, "paused in the cluster{}", describe(&pause));
            self.pause(id, pause);
            self.services.hooks.save_state(&self.state);
        }
    }
}

/// The cluster's pauses each time a heartbeat found them changed; never
/// returns without a node.
pub(super) async fn next_cluster_pauses(
    pauses: &mut Option<tokio::sync::watch::Receiver<ClusterPauses>>,
) -> Option<BTreeMap<String, Pause>> {
    match pauses {
        Some(rx) => {
            rx.changed().await.ok()?;
            rx.borrow_and_update().clone()
        }
        None => std::future::pending().await,
    }
}

/// How a pause reads in a log line: ` by <key> until <time> (reason:
/// <text>)`, each part only when the pause has it.
pub(super) fn describe(pause: &Pause) -> String {
    let mut text = String::new();
    if let Some(by) = &pause.by {
        text.push_str(&format!(" by {by}"));
    }
    if let Some(until) = &pause.until {
        text.push_str(&format!(" until {}", ts::format(until)));
    }
    if let Some(reason) = &pause.reason {
        text.push_str(&format!(" (reason: {reason})"));
    }
    text
}
