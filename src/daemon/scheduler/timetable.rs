//! The timetable: which job starts when. Pure: every decision takes `now`
//! (and the instants last started) as arguments and draws jitter from
//! the function it was built with, so it is tested without a runtime.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::Job;
use crate::wire::ReloadDiff;

/// The scheduled instant each job last started, from the state file.
pub type LastScheduled = BTreeMap<String, DateTime<Utc>>;

/// Draws an occurrence's delay, at least zero and below the bound.
pub type Jitter = fn(Duration) -> chrono::Duration;

/// A wall-clock move (relative to monotonic time) larger than this is
/// treated as a clock step rather than drift.
const STEP_THRESHOLD: chrono::Duration = chrono::Duration::seconds(1);

/// Debian cron's limit: a forward step shorter than this runs the
/// fixed-time jobs it skipped, once.
const CATCH_UP_STEP: chrono::Duration = chrono::Duration::hours(3);

/// The production [`Jitter`]: uniform over `[0, bound)` milliseconds.
pub fn random_jitter(bound: Duration) -> chrono::Duration {
    if bound.is_zero() {
        return chrono::Duration::zero();
    }
    let ms = u64::try_from(bound.as_millis()).unwrap_or(u64::MAX);
    chrono::Duration::milliseconds(i64::try_from(rand::random_range(0..ms)).unwrap_or(i64::MAX))
}

/// The next planned start of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Planned {
    /// The instant the schedule names.
    pub scheduled_at: DateTime<Utc>,
    /// When to start: `scheduled_at` plus this occurrence's jitter.
    pub due: DateTime<Utc>,
}

/// A loaded job and its next planned start.
pub struct Slot {
    pub job: Arc<Job>,
    /// When the job was loaded: the origin of `@every`.
    pub anchor: DateTime<Utc>,
    pub next: Option<Planned>,
    /// The `expect_success_within` alarm, for a watched job.
    pub watch: Option<Watch>,
}

/// A job's dead man's switch: overdue at `origin + expect_success_within`,
/// and again after each further window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watch {
    /// The start of the window: the last success, or when the job was
    /// first loaded or last resumed.
    pub origin: DateTime<Utc>,
    /// The next overdue notice.
    pub due: DateTime<Utc>,
}

impl Watch {
    /// Whether the job is overdue at `now`: its first alarm has passed.
    pub fn is_overdue(&self, window: Duration, now: DateTime<Utc>) -> bool {
        chrono::Duration::from_std(window).is_ok_and(|w| self.origin + w <= now)
    }
}

/// An overdue alarm whose time has come.
#[derive(Debug)]
pub struct OverdueAlarm {
    pub job: Arc<Job>,
    pub due_at: DateTime<Utc>,
}

/// How many missed instants [`Timetable::missed_instants`] walks at most
/// per job: a per-second job down for a day and a bit is counted exactly,
/// a longer outage is reported as "at least".
pub const MISSED_COUNT_LIMIT: u64 = 100_000;

/// The instants a job missed while the daemon was down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissedInstants {
    /// The first [`crate::notify::MISSED_LISTED`], oldest first.
    pub listed: Vec<DateTime<Utc>>,
    /// How many more after them.
    pub more: u64,
    /// The count stopped at [`MISSED_COUNT_LIMIT`]: `more` is a lower bound.
    pub capped: bool,
    /// The newest missed instant (`now` when the count was capped): what
    /// has been reported, so a later start-up reports only what follows.
    pub newest: DateTime<Utc>,
}

/// A planned start whose due time has come.
#[derive(Debug)]
pub struct Fired {
    pub job: Arc<Job>,
    pub scheduled_at: DateTime<Utc>,
}

/// How the timetable answers a wall-clock step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepRule {
    /// Drift, not a step: nothing changes.
    Ignore,
    /// A forward step under three hours: fixed-time jobs keep their plan,
    /// so the instants they skipped are due at once and run once; the
    /// other jobs are planned from the new time.
    RunSkippedFixed,
    /// A large forward step, or any backward one: every job is planned
    /// from the new time.
    PlanAll,
}

impl StepRule {
    /// The rule for a wall clock found `step` away from where monotonic
    /// time says it should be.
    pub fn of(step: chrono::Duration) -> StepRule {
        if step.abs() <= STEP_THRESHOLD {
            StepRule::Ignore
        } else if step > chrono::Duration::zero() && step < CATCH_UP_STEP {
            StepRule::RunSkippedFixed
        } else {
            StepRule::PlanAll
        }
    }
}

/// Every loaded job's slot and the queue of planned starts by due time.
pub struct Timetable {
    slots: BTreeMap<String, Slot>,
    queue: BTreeSet<(DateTime<Utc>, String)>,
    /// The overdue alarms by due time (see [`Watch`]).
    alarms: BTreeSet<(DateTime<Utc>, String)>,
    jitter: Jitter,
}

impl Timetable {
    pub fn new(jitter: Jitter) -> Self {
        Timetable {
            slots: BTreeMap::new(),
            queue: BTreeSet::new(),
            alarms: BTreeSet::new(),
            jitter,
        }
    }

    pub fn get(&self, id: &str) -> Option<&Slot> {
        self.slots.get(id)
    }

    pub fn contains(&self, id: &str) -> bool {
        self.slots.contains_key(id)
    }

    /// The job `id` as loaded now.
    pub fn job(&self, id: &str) -> Option<Arc<Job>> {
        self.slots.get(id).map(|s| Arc::clone(&s.job))
    }

    pub fn slots(&self) -> impl Iterator<Item = (&String, &Slot)> {
        self.slots.iter()
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// The soonest due time: a planned start or an overdue alarm.
    pub fn next_due(&self) -> Option<DateTime<Utc>> {
        let start = self.queue.first().map(|(due, _)| *due);
        let alarm = self.alarms.first().map(|(due, _)| *due);
        start.into_iter().chain(alarm).min()
    }

    /// Watches job `id` for `expect_success_within` from `origin`, or
    /// stops watching it (`None`: paused). A disabled job, or one without
    /// the key, is never watched.
    pub fn watch(&mut self, id: &str, origin: Option<DateTime<Utc>>) {
        let Some(slot) = self.slots.get_mut(id) else {
            return;
        };
        if let Some(w) = slot.watch.take() {
            self.alarms.remove(&(w.due, id.to_string()));
        }
        let window = slot
            .job
            .expect_success_within
            .filter(|_| slot.job.enabled)
            .and_then(|w| chrono::Duration::from_std(w).ok());
        let (Some(origin), Some(window)) = (origin, window) else {
            return;
        };
        let Some(due) = origin.checked_add_signed(window) else {
            return;
        };
        slot.watch = Some(Watch { origin, due });
        self.alarms.insert((due, id.to_string()));
    }

    /// Takes the soonest overdue alarm due at `now` off the queue and sets
    /// the job's next one a window later, or, when the daemon was down
    /// for several windows, at the first window end after `now` (one
    /// notice for the outage, not one per window).
    pub fn pop_overdue(&mut self, now: DateTime<Utc>) -> Option<OverdueAlarm> {
        let (due, id) = self.alarms.first().cloned()?;
        if due > now {
            return None;
        }
        self.alarms.pop_first();
        let slot = self.slots.get_mut(&id)?;
        let watch = slot.watch.take()?;
        let window = slot
            .job
            .expect_success_within
            .and_then(|w| chrono::Duration::from_std(w).ok())
            .filter(|w| *w > chrono::Duration::zero())?;
        let behind = (now - due).num_milliseconds() / window.num_milliseconds().max(1);
        let next = i32::try_from(behind + 1)
            .ok()
            .and_then(|k| due.checked_add_signed(window * k));
        if let Some(next) = next {
            slot.watch = Some(Watch {
                origin: watch.origin,
                due: next,
            });
            self.alarms.insert((next, id.clone()));
        }
        Some(OverdueAlarm {
            job: Arc::clone(&slot.job),
            due_at: due,
        })
    }

    /// Loads `job` at `now` (the anchor of `@every`) and plans it.
    pub fn insert(&mut self, job: Arc<Job>, now: DateTime<Utc>, last: &LastScheduled) {
        let id = job.id.clone();
        let slot = Slot {
            job,
            anchor: now,
            next: None,
            watch: None,
        };
        self.slots.insert(id.clone(), slot);
        self.plan(&id, now, last);
    }

    /// Plans job `id`'s next start: the first instant after `now`, but
    /// never at or before the instant last started for a fixed-time job,
    /// so a clock set back never repeats a daily job. Disabled jobs are
    /// never planned. Each plan draws a fresh jitter.
    pub fn plan(&mut self, id: &str, now: DateTime<Utc>, last: &LastScheduled) {
        let Some(slot) = self.slots.get_mut(id) else {
            return;
        };
        if let Some(p) = slot.next.take() {
            self.queue.remove(&(p.due, id.to_string()));
        }
        let job = &slot.job;
        let after = match last.get(id) {
            Some(&last) if job.schedule.is_fixed_time() => now.max(last),
            _ => now,
        };
        slot.next = job
            .enabled
            .then(|| job.schedule.next_after(after, &job.timezone, slot.anchor))
            .flatten()
            .map(|scheduled_at| Planned {
                scheduled_at,
                due: scheduled_at
                    .checked_add_signed((self.jitter)(job.jitter))
                    .unwrap_or(scheduled_at),
            });
        if let Some(p) = slot.next {
            self.queue.insert((p.due, id.to_string()));
        }
    }

    /// Takes the soonest planned start off the queue if it is due at
    /// `now`, and plans that job's next one after `now`: a daemon that
    /// fell behind skips the instants it missed rather than starting them
    /// in a burst. The caller records `scheduled_at` as last started.
    pub fn pop_due(&mut self, now: DateTime<Utc>) -> Option<Fired> {
        loop {
            let (due, id) = self.queue.first().cloned()?;
            if due > now {
                return None;
            }
            self.queue.pop_first();
            let Some(slot) = self.slots.get_mut(&id) else {
                continue;
            };
            let Some(planned) = slot.next.take() else {
                continue;
            };
            let job = Arc::clone(&slot.job);
            let last = LastScheduled::from([(id.clone(), planned.scheduled_at)]);
            self.plan(&id, now, &last);
            return Some(Fired {
                job,
                scheduled_at: planned.scheduled_at,
            });
        }
    }

    /// Applies a wall-clock `step` found at `now` (see [`StepRule`]).
    /// Answers whether it was a step.
    pub fn clock_step(
        &mut self,
        step: chrono::Duration,
        now: DateTime<Utc>,
        last: &LastScheduled,
    ) -> bool {
        let rule = StepRule::of(step);
        if rule == StepRule::Ignore {
            return false;
        }
        let ids: Vec<String> = self
            .slots
            .iter()
            .filter(|(_, s)| rule == StepRule::PlanAll || !s.job.schedule.is_fixed_time())
            .map(|(id, _)| id.clone())
            .collect();
        for id in ids {
            self.plan(&id, now, last);
        }
        true
    }

    /// The jobs that should be watched for `expect_success_within` (enabled,
    /// with the key) and are not.
    pub fn unwatched(&self) -> Vec<String> {
        self.slots
            .iter()
            .filter(|(_, s)| {
                s.watch.is_none() && s.job.enabled && s.job.expect_success_within.is_some()
            })
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Catch-up: the latest instant of job `id` after the one last
    /// started (`last`) and at or before `now` that lies within the job's
    /// `catch_up` window — the run missed while the daemon was down.
    pub fn missed(
        &self,
        id: &str,
        now: DateTime<Utc>,
        last: Option<DateTime<Utc>>,
    ) -> Option<DateTime<Utc>> {
        let slot = self.slots.get(id)?;
        let job = &slot.job;
        let window = chrono::Duration::from_std(job.catch_up?).ok()?;
        let mut cursor = last?.max(now - window - chrono::Duration::milliseconds(1));
        let mut missed = None;
        while let Some(t) = job.schedule.next_after(cursor, &job.timezone, slot.anchor) {
            if t > now {
                break;
            }
            missed = Some(t);
            cursor = t;
        }
        missed
    }

    /// The scheduled instants of job `id` after `last` (the one last
    /// started, from the state file) and at or before `now`: what passed
    /// while the daemon was down. `None` when there are none. `@every`
    /// counts on from `last` by its interval (its anchor is not kept
    /// across restarts), in constant time; cron expressions are walked,
    /// at most [`MISSED_COUNT_LIMIT`] instants.
    pub fn missed_instants(
        &self,
        id: &str,
        now: DateTime<Utc>,
        last: DateTime<Utc>,
    ) -> Option<MissedInstants> {
        let listed_max = crate::notify::MISSED_LISTED;
        let job = &self.slots.get(id)?.job;
        if let Some(every) = job.schedule.every() {
            let step = chrono::Duration::from_std(every).ok()?.num_milliseconds();
            let total = u64::try_from((now - last).num_milliseconds() / step.max(1)).ok()?;
            if total == 0 {
                return None;
            }
            let listed: Vec<DateTime<Utc>> = (1..=total.min(listed_max as u64))
                .filter_map(|k| {
                    let k = i64::try_from(k).ok()?;
                    last.checked_add_signed(chrono::Duration::milliseconds(step.checked_mul(k)?))
                })
                .collect();
            let more = total - listed.len() as u64;
            let newest = i64::try_from(total)
                .ok()
                .and_then(|k| step.checked_mul(k))
                .and_then(|ms| last.checked_add_signed(chrono::Duration::milliseconds(ms)))
                .unwrap_or(now);
            return Some(MissedInstants {
                listed,
                more,
                capped: false,
                newest,
            });
        }
        let mut cursor = last;
        let mut listed = Vec::new();
        let mut more = 0;
        let mut walked = 0;
        while let Some(t) = job.schedule.next_after(cursor, &job.timezone, last) {
            if t > now {
                break;
            }
            if walked == MISSED_COUNT_LIMIT {
                return Some(MissedInstants {
                    listed,
                    more,
                    capped: true,
                    newest: now,
                });
            }
            walked += 1;
            if listed.len() < listed_max {
                listed.push(t);
            } else {
                more += 1;
            }
            cursor = t;
        }
        (!listed.is_empty()).then_some(MissedInstants {
            listed,
            more,
            capped: false,
            newest: cursor,
        })
    }

    /// Drops every planned start and alarm (shutdown).
    pub fn clear(&mut self) {
        self.queue.clear();
        self.alarms.clear();
        for slot in self.slots.values_mut() {
            slot.next = None;
            slot.watch = None;
        }
    }

    /// Replaces the jobs with `jobs` as a diff: unchanged jobs keep their
    /// timing; a job whose timing keys changed is loaded afresh at `now`.
    /// A job whose `expect_success_within` or `enabled` changed loses its
    /// overdue alarm, and new jobs have none: the caller watches them
    /// again (see [`Timetable::unwatched`]).
    pub fn reload(
        &mut self,
        jobs: &BTreeMap<String, Arc<Job>>,
        now: DateTime<Utc>,
        last: &LastScheduled,
    ) -> ReloadDiff {
        let mut diff = ReloadDiff {
            ok: true,
            added: Vec::new(),
            removed: Vec::new(),
            changed: Vec::new(),
        };
        let gone: Vec<String> = self
            .slots
            .keys()
            .filter(|id| !jobs.contains_key(*id))
            .cloned()
            .collect();
        for id in gone {
            if let Some(slot) = self.slots.remove(&id) {
                if let Some(p) = slot.next {
                    self.queue.remove(&(p.due, id.clone()));
                }
                if let Some(w) = slot.watch {
                    self.alarms.remove(&(w.due, id.clone()));
                }
            }
            diff.removed.push(id);
        }
        for (id, job) in jobs {
            match self.slots.get_mut(id) {
                None => {
                    self.insert(Arc::clone(job), now, last);
                    diff.added.push(id.clone());
                }
                Some(slot) if slot.job != *job => {
                    let timing_changed = slot.job.schedule != job.schedule
                        || slot.job.timezone.name() != job.timezone.name()
                        || slot.job.jitter != job.jitter
                        || slot.job.enabled != job.enabled;
                    // The same zone with new rules (a tzdata update): the
                    // next run moves, an `@every` count keeps its origin.
                    let rules_changed = slot.job.timezone != job.timezone;
                    let watch_changed = slot.job.expect_success_within != job.expect_success_within
                        || slot.job.enabled != job.enabled;
                    slot.job = Arc::clone(job);
                    if watch_changed {
                        // Re-watched by the caller, from the same origin.
                        if let Some(w) = slot.watch.take() {
                            self.alarms.remove(&(w.due, id.clone()));
                        }
                    }
                    if timing_changed {
                        slot.anchor = now;
                        self.plan(id, now, last);
                    } else if rules_changed {
                        self.plan(id, now, last);
                    }
                    diff.changed.push(id.clone());
                }
                // The same definition: the slot takes the new config's copy,
                // so the old config's jobs are freed with it.
                Some(slot) => slot.job = Arc::clone(job),
            }
        }
        diff
    }
}

#[cfg(test)]
mod tests;
