//! The scheduler task: the single owner of jobs, timers and active runs.
//!
//! It sleeps until the soonest due instant (no polling tick), starts runs
//! as tasks, and reacts to messages: control requests from the API,
//! events from runs, config changes, clock steps and shutdown. Nothing
//! else mutates job state, so there is no lock to contend for and no
//! instant can be started twice.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::control::{ControlError, Inbox, Request, SchedulerStatus, Triggered};
use super::run::{self, Cancel, RunContext, RunEvent, RunSpec};
use crate::clock::Clock;
use crate::config::units::format_duration;
use crate::config::{Action, Command, Concurrency, Config, ConfigErrors, Job};
use crate::record::{FinishRecord, LogEvent, SkipRecord, Trigger};
use crate::state::State;
use crate::wire::{JobDetail, JobSummary, LastReload, NextRun, ReloadDiff, RunningAttempt};

/// The longest the scheduler sleeps without looking at the wall clock.
/// Clock steps are reported at once by a timerfd; this bound catches what
/// that cannot see, such as a resume from suspend.
pub const MAX_SLEEP: Duration = Duration::from_secs(60);

/// A wall-clock move (relative to monotonic time) larger than this is
/// treated as a clock step rather than drift.
const STEP_THRESHOLD: chrono::Duration = chrono::Duration::seconds(1);

/// Debian cron's limit: a forward step shorter than this runs the
/// fixed-time jobs it skipped, once.
const CATCH_UP_STEP: chrono::Duration = chrono::Duration::hours(3);

/// How long file events must stay quiet before the config is re-read, so
/// a file caught halfway through a write is not loaded.
const RELOAD_DEBOUNCE: Duration = Duration::from_millis(200);

/// How often the state file may be rewritten for `last_scheduled` changes.
/// One and a half seconds, not one: those changes come from starts at
/// whole seconds, so the save (two fsyncs on a blocking thread) lands
/// half-way between two seconds instead of on top of the next second's
/// starts, which it would slow down.
const STATE_SAVE_DELAY: Duration = Duration::from_millis(1500);

/// The next planned start of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Planned {
    /// The instant the schedule names.
    scheduled_at: DateTime<Utc>,
    /// When to start: `scheduled_at` plus this occurrence's jitter.
    due: DateTime<Utc>,
}

struct Slot {
    job: Arc<Job>,
    /// When the job was loaded: the origin of `@every`.
    anchor: DateTime<Utc>,
    next: Option<Planned>,
}

struct ActiveRun {
    job: String,
    cancel: Cancel,
    attempt: u32,
    phase: Phase,
    waiters: Vec<oneshot::Sender<FinishRecord>>,
}

/// Where a run stands, as its events tell the scheduler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
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

/// Inputs the scheduler listens to besides its own timers.
pub struct Inputs {
    pub control: Inbox,
    /// A config file changed (from the watcher; debounced here).
    pub file_changed: mpsc::Receiver<()>,
    /// Reload now (SIGHUP).
    pub reload_now: mpsc::Receiver<()>,
    /// The wall clock was stepped.
    pub clock_steps: mpsc::Receiver<()>,
    /// Stop: finish or cancel runs, then return.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
}

/// What the scheduler needs from the rest of the daemon.
pub struct Services {
    pub clock: Arc<dyn Clock>,
    pub run: RunContext,
    pub hooks: Box<dyn Hooks>,
    /// The longest sleep between looks at the clock: [`MAX_SLEEP`], or
    /// less when a watchdog must hear from the loop more often.
    pub max_sleep: Duration,
}

/// The daemon-side effects of scheduling decisions that the scheduler
/// does not own: persisted state, notifications, config loading, the file
/// watcher. A trait so the scheduler can be tested with a recording fake
/// under a paused clock.
pub trait Hooks: Send {
    /// Loads the config again (may take a while; runs off the loop).
    fn load_config(&self) -> tokio::task::JoinHandle<Result<Config, ConfigErrors>>;
    /// A new config was applied.
    fn config_applied(&mut self, config: &Config);
    /// Persist the state (atomically) without blocking the loop; the
    /// handle resolves once this snapshot (or a newer one) is on disk.
    fn save_state(&mut self, state: &State) -> tokio::task::JoinHandle<()>;
    /// A run ended (normally, or `lost` at start-up): count it in the
    /// job's failure streak in `state` and send the notices it calls for.
    fn run_finished(&mut self, job: Option<&Job>, record: &FinishRecord, state: &mut State);
    /// The scheduler is alive (watchdog).
    fn heartbeat(&mut self) {}
}

pub struct Scheduler {
    services: Services,
    config: Arc<Config>,
    /// What survives restarts: pause flags, last scheduled instants,
    /// failure streaks. Owned here; persisted through the hooks.
    state: State,
    slots: BTreeMap<String, Slot>,
    queue: BTreeSet<(DateTime<Utc>, String)>,
    runs: HashMap<String, ActiveRun>,
    run_events: mpsc::UnboundedReceiver<RunEvent>,
    last_reload: LastReload,
    /// Pending reload: the replies waiting for it, and whether another
    /// read is needed once it completes (a change arrived meanwhile).
    reload_waiters: Vec<oneshot::Sender<Result<ReloadDiff, ConfigErrors>>>,
    reload_task: Option<tokio::task::JoinHandle<Result<Config, ConfigErrors>>>,
    reload_again: bool,
    reload_at: Option<Instant>,
    state_save_at: Option<Instant>,
    /// Wall and monotonic readings at the last look, to detect steps.
    last_wall: DateTime<Utc>,
    last_mono: Instant,
}

impl Scheduler {
    /// A scheduler for `config`; `run_events` is the receiving end of
    /// `services.run.events`.
    pub fn new(
        services: Services,
        config: Config,
        state: State,
        run_events: mpsc::UnboundedReceiver<RunEvent>,
    ) -> Self {
        let now = services.clock.now();
        let mut this = Self {
            services,
            config: Arc::new(config),
            state,
            slots: BTreeMap::new(),
            queue: BTreeSet::new(),
            runs: HashMap::new(),
            run_events,
            last_reload: LastReload {
                ok: true,
                at: now,
                error: None,
                diagnostics: Vec::new(),
            },
            reload_waiters: Vec::new(),
            reload_task: None,
            reload_again: false,
            reload_at: None,
            state_save_at: None,
            last_wall: now,
            last_mono: Instant::now(),
        };
        let jobs: Vec<Arc<Job>> = this.config.jobs.values().cloned().map(Arc::new).collect();
        for job in jobs {
            this.add_slot(job, now);
        }
        this
    }

    /// Starts what is due at daemon start: runs lost in a crash are
    /// reported, `@reboot` jobs start, and `catch_up` jobs run once for
    /// an instant missed while the daemon was down.
    pub fn start(&mut self, lost: Vec<FinishRecord>) {
        for record in lost {
            // A lost scheduled (or caught-up) run proves its instant was
            // started, even if the crash came before the delayed save of
            // `last_scheduled` did: never catch it up again.
            if matches!(record.trigger, Trigger::Schedule | Trigger::CatchUp) {
                let last = self
                    .state
                    .last_scheduled
                    .entry(record.job.clone())
                    .or_insert(record.scheduled_at);
                *last = (*last).max(record.scheduled_at);
            }
            self.run_ended(&record);
        }
        let now = self.services.clock.now();
        let jobs: Vec<Arc<Job>> = self.slots.values().map(|s| Arc::clone(&s.job)).collect();
        for job in jobs {
            if !job.enabled || self.is_paused(&job.id) {
                continue;
            }
            if job.schedule.is_reboot() {
                let _ = self.start_run(&job, Trigger::Reboot, now, None);
            } else if let Some(missed) = self.missed_instant(&job, now) {
                tracing::info!(job = %job.id, "catching up the run missed at {missed}");
                self.state.last_scheduled.insert(job.id.clone(), missed);
                let _ = self.start_run(&job, Trigger::CatchUp, missed, None);
            }
        }
        self.services.hooks.save_state(&self.state);
    }

    /// The latest scheduled instant missed during downtime that still
    /// lies within the job's `catch_up` window.
    fn missed_instant(&self, job: &Job, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let window = chrono::Duration::from_std(job.catch_up?).ok()?;
        let last = *self.state.last_scheduled.get(&job.id)?;
        let slot = self.slots.get(&job.id)?;
        let mut cursor = last.max(now - window - chrono::Duration::milliseconds(1));
        let mut missed = None;
        while let Some(t) = job.schedule.next_after(cursor, job.timezone, slot.anchor) {
            if t > now {
                break;
            }
            missed = Some(t);
            cursor = t;
        }
        missed
    }

    fn is_paused(&self, id: &str) -> bool {
        self.state.paused.contains(id)
    }

    fn add_slot(&mut self, job: Arc<Job>, now: DateTime<Utc>) {
        let id = job.id.clone();
        let slot = Slot {
            job,
            anchor: now,
            next: None,
        };
        self.slots.insert(id.clone(), slot);
        self.retime(&id, now);
    }

    /// Where to search for the next instant from: now, but never at or
    /// before an instant already scheduled for a fixed-time job, so a
    /// clock set back never repeats a daily job.
    fn plan_from(&self, job: &Job, now: DateTime<Utc>) -> DateTime<Utc> {
        match self.state.last_scheduled.get(&job.id) {
            Some(&last) if job.schedule.is_fixed_time() => now.max(last),
            _ => now,
        }
    }

    /// Plans job `id`'s next start afresh from `now` (see [`Self::plan_from`]).
    fn retime(&mut self, id: &str, now: DateTime<Utc>) {
        let Some(slot) = self.slots.get(id) else {
            return;
        };
        let from = self.plan_from(&slot.job, now);
        self.replan(id, from);
    }

    /// Replaces job `id`'s planned start with the next one strictly after
    /// `after`.
    fn replan(&mut self, id: &str, after: DateTime<Utc>) {
        let Some(slot) = self.slots.get_mut(id) else {
            return;
        };
        if let Some(p) = slot.next.take() {
            self.queue.remove(&(p.due, id.to_string()));
        }
        slot.next = plan(slot, after);
        if let Some(p) = slot.next {
            self.queue.insert((p.due, id.to_string()));
        }
    }

    /// Runs until shutdown is requested and every run has ended.
    pub async fn run(mut self, mut inputs: Inputs) {
        let mut shutting_down: Option<Instant> = None;
        let mut forced = false;
        // Due instants are waited for on the clock's precise timer when it
        // has one, so a job due at second S starts within a fraction of a
        // millisecond of S rather than one or two milliseconds later.
        let mut due_timer = match self.services.clock.precise_timer() {
            Some(Ok(timer)) => Some(timer),
            Some(Err(e)) => {
                tracing::warn!(
                    "cannot create a precise timer ({e}); starts may be a millisecond or two late"
                );
                None
            }
            None => None,
        };
        loop {
            self.services.hooks.heartbeat();
            // Changes made here are announced before the loop yields: runs
            // started now are seen by others (their `start` lines, the
            // API) only once it has.
            let mut changed = self.check_clock();
            if shutting_down.is_none() {
                changed |= self.fire_due();
            }
            if changed {
                inputs.control.note_change();
            }
            if let Some(deadline) = shutting_down {
                if self.runs.is_empty() {
                    break;
                }
                if !forced && Instant::now() >= deadline {
                    forced = true;
                    tracing::warn!(
                        "{} run(s) still active after the shutdown grace; terminating them",
                        self.runs.len()
                    );
                    for run in self.runs.values() {
                        run.cancel.cancel("cancelled: the daemon was shutting down");
                    }
                }
            }
            let due = self.queue.first().map(|(due, _)| *due);
            if let Some(timer) = &mut due_timer {
                let due = due.filter(|_| shutting_down.is_none());
                if let Err(e) = timer.set(due) {
                    tracing::warn!(
                        "cannot arm the precise timer ({e}); starts may be a millisecond or two late"
                    );
                    due_timer = None;
                }
            }
            let wake = self.next_wake(due.filter(|_| due_timer.is_none()), shutting_down, forced);
            // What may change a job's summary is announced before it is
            // handled, so whoever hears of the change (a request's reply, a
            // `run?wait=true` waiter) never reads the old version after it.
            // Wake-ups change nothing themselves: the next pass's
            // `fire_due` and `check_clock` do, and say so.
            tokio::select! {
                () = tokio::time::sleep_until(wake) => {}
                () = wait_due(&mut due_timer) => {}
                Some(request) = inputs.control.recv() => {
                    if request.changes_jobs() {
                        inputs.control.note_change();
                    }
                    self.handle_request(request);
                }
                Some(event) = self.run_events.recv() => {
                    // Only a run's end changes a summary (`running`, and
                    // `consecutive_failures` through the hooks); attempt
                    // starts and retry waits touch nothing it shows.
                    if matches!(event, RunEvent::Finished { .. }) {
                        inputs.control.note_change();
                    }
                    self.handle_run_event(event);
                }
                Some(()) = inputs.file_changed.recv() => {
                    self.reload_at = Some(Instant::now() + RELOAD_DEBOUNCE);
                }
                Some(()) = inputs.reload_now.recv() => self.begin_reload(),
                Some(()) = inputs.clock_steps.recv() => {}
                result = wait_reload(&mut self.reload_task) => {
                    inputs.control.note_change();
                    self.finish_reload(result);
                }
                changed = inputs.shutdown.changed(), if shutting_down.is_none() => {
                    if changed.is_err() || *inputs.shutdown.borrow() {
                        inputs.control.note_change();
                        shutting_down = Some(self.begin_shutdown());
                    }
                }
            }
            if self.reload_at.is_some_and(|at| Instant::now() >= at) {
                self.reload_at = None;
                self.begin_reload();
            }
            if self.state_save_at.is_some_and(|at| Instant::now() >= at) {
                self.state_save_at = None;
                self.services.hooks.save_state(&self.state);
            }
        }
        let _ = self.services.hooks.save_state(&self.state).await;
    }

    /// When tokio's timer must wake the loop: for `due` (the next job,
    /// unless the precise timer waits for it), the shutdown deadline, a
    /// pending reload or state save, and at the latest after `MAX_SLEEP`.
    fn next_wake(
        &self,
        due: Option<DateTime<Utc>>,
        shutting_down: Option<Instant>,
        forced: bool,
    ) -> Instant {
        let now_mono = Instant::now();
        let mut wake = now_mono + self.services.max_sleep;
        if shutting_down.is_none() {
            if let Some(due) = due {
                let now = self.services.clock.now();
                let until = (due - now).to_std().unwrap_or(Duration::ZERO);
                wake = wake.min(now_mono + until);
            }
        }
        if let (Some(deadline), false) = (shutting_down, forced) {
            wake = wake.min(deadline);
        }
        for at in [self.reload_at, self.state_save_at].into_iter().flatten() {
            wake = wake.min(at);
        }
        wake
    }

    /// Starts every job whose due time has come. tokio's timer never wakes
    /// early, but the wall clock may lag the monotonic one by a hair, so a
    /// job is only started once the wall clock itself says it is due.
    /// Answers whether it took any instant off the queue.
    fn fire_due(&mut self) -> bool {
        let mut fired = false;
        loop {
            let now = self.services.clock.now();
            let Some((due, id)) = self.queue.first().cloned() else {
                return fired;
            };
            if due > now {
                return fired;
            }
            self.queue.pop_first();
            fired = true;
            let Some(slot) = self.slots.get_mut(&id) else {
                continue;
            };
            let Some(planned) = slot.next.take() else {
                continue;
            };
            let job = Arc::clone(&slot.job);
            // Plan the next occurrence after both the instant just fired and
            // now: if the daemon fell behind, missed instants are skipped
            // rather than started in a burst.
            self.replan(&id, planned.scheduled_at.max(now));
            self.state
                .last_scheduled
                .insert(id.clone(), planned.scheduled_at);
            self.schedule_state_save();
            if self.is_paused(&id) {
                continue;
            }
            let _ = self.start_run(&job, Trigger::Schedule, planned.scheduled_at, None);
        }
    }

    fn schedule_state_save(&mut self) {
        if self.state_save_at.is_none() {
            self.state_save_at = Some(Instant::now() + STATE_SAVE_DELAY);
        }
    }

    /// Notices a wall-clock step and applies Debian cron's rule: a forward
    /// step under three hours runs the fixed-time jobs it skipped (they
    /// are simply due now); every other job, and every job after a larger
    /// or backward step, is re-planned from the new time.
    /// Answers whether it re-planned anything.
    fn check_clock(&mut self) -> bool {
        let now = self.services.clock.now();
        let mono = Instant::now();
        let elapsed =
            chrono::Duration::from_std(mono - self.last_mono).unwrap_or(chrono::Duration::zero());
        let expected = self.last_wall + elapsed;
        self.last_wall = now;
        self.last_mono = mono;
        let step = now - expected;
        if step.abs() <= STEP_THRESHOLD {
            return false;
        }
        tracing::warn!(
            "the wall clock moved by {}s; re-planning the schedule",
            step.num_seconds()
        );
        let run_skipped_fixed = step > chrono::Duration::zero() && step < CATCH_UP_STEP;
        let ids: Vec<String> = self.slots.keys().cloned().collect();
        for id in ids {
            let Some(slot) = self.slots.get(&id) else {
                continue;
            };
            let fixed = slot.job.schedule.is_fixed_time();
            if run_skipped_fixed && fixed {
                // Due instants inside the skipped span fire once on the next
                // pass of `fire_due`; later ones are already planned right.
                continue;
            }
            self.retime(&id, now);
        }
        true
    }

    /// The active runs of job `job`, with their run ids.
    fn runs_of<'a>(&'a self, job: &'a str) -> impl Iterator<Item = (&'a String, &'a ActiveRun)> {
        self.runs.iter().filter(move |(_, r)| r.job == job)
    }

    /// Starts a run of `job` unless its concurrency policy forbids it.
    fn start_run(
        &mut self,
        job: &Arc<Job>,
        trigger: Trigger,
        scheduled_at: DateTime<Utc>,
        waiter: Option<oneshot::Sender<FinishRecord>>,
    ) -> Result<String, ControlError> {
        let active: Vec<String> = self.runs_of(&job.id).map(|(id, _)| id.clone()).collect();
        if !active.is_empty() {
            match job.concurrency {
                Concurrency::Forbid => {
                    let reason = format!("previous run still active ({})", active.join(", "));
                    if trigger != Trigger::Manual {
                        self.services.run.log.write(LogEvent::Skip(SkipRecord {
                            ts: self.services.clock.now(),
                            job: job.id.clone(),
                            scheduled_at,
                            reason: reason.clone(),
                            host: self.services.run.host.to_string(),
                        }));
                        tracing::info!(job = %job.id, "skipped: {reason}");
                    }
                    return Err(ControlError::Conflict(format!(
                        "job {:?} has a run in progress ({}) and concurrency is \"forbid\"",
                        job.id,
                        active.join(", ")
                    )));
                }
                Concurrency::Replace => {
                    for id in &active {
                        if let Some(run) = self.runs.get(id) {
                            run.cancel.cancel(
                                "cancelled: replaced by a newer run (concurrency = \"replace\")",
                            );
                        }
                    }
                }
                Concurrency::Allow => {}
            }
        }
        let run_id = run::new_run_id(self.services.clock.now());
        let cancel = Cancel::default();
        self.runs.insert(
            run_id.clone(),
            ActiveRun {
                job: job.id.clone(),
                cancel: cancel.clone(),
                attempt: 1,
                phase: Phase::Starting,
                waiters: waiter.into_iter().collect(),
            },
        );
        let spec = RunSpec {
            job: Arc::clone(job),
            run_id: run_id.clone(),
            trigger,
            scheduled_at,
            cancel,
        };
        tokio::spawn(run::perform(self.services.run.clone(), spec));
        Ok(run_id)
    }

    fn handle_run_event(&mut self, event: RunEvent) {
        match event {
            RunEvent::AttemptStarted {
                run_id,
                attempt,
                pid,
                started_at,
                timeout_at,
            } => {
                if let Some(run) = self.runs.get_mut(&run_id) {
                    run.attempt = attempt;
                    run.phase = Phase::Running {
                        pid,
                        started_at,
                        started_mono: Instant::now(),
                        timeout_at,
                    };
                }
            }
            RunEvent::Waiting { run_id } => {
                if let Some(run) = self.runs.get_mut(&run_id) {
                    run.phase = Phase::Retrying;
                }
            }
            RunEvent::Finished { run_id, record } => {
                let Some(run) = self.runs.remove(&run_id) else {
                    return;
                };
                self.run_ended(&record);
                for waiter in run.waiters {
                    let _ = waiter.send((*record).clone());
                }
            }
        }
    }

    /// Lets the hooks count the run in the job's failure streak and send
    /// the notices it calls for. The job may have been removed or changed
    /// by a reload; the current definition is used when there is one.
    fn run_ended(&mut self, record: &FinishRecord) {
        let job = self.slots.get(&record.job).map(|s| Arc::clone(&s.job));
        self.services
            .hooks
            .run_finished(job.as_deref(), record, &mut self.state);
        self.schedule_state_save();
    }

    fn begin_shutdown(&mut self) -> Instant {
        let grace = self.config.daemon.shutdown_grace;
        tracing::info!(
            "shutting down: no new runs; waiting up to {} for {} active run(s)",
            format_duration(grace),
            self.runs.len()
        );
        self.queue.clear();
        for slot in self.slots.values_mut() {
            slot.next = None;
        }
        // A run waiting to retry has no process to wait for; the retry
        // would be started after the shutdown anyway, so end it now. A run
        // still starting is about to have a process, which gets its grace
        // like any other.
        for run in self.runs.values() {
            if run.phase == Phase::Retrying {
                run.cancel.cancel("cancelled: the daemon was shutting down");
            }
        }
        Instant::now() + grace
    }

    fn begin_reload(&mut self) {
        if self.reload_task.is_some() {
            self.reload_again = true;
            return;
        }
        self.reload_task = Some(self.services.hooks.load_config());
    }

    fn finish_reload(
        &mut self,
        result: Result<Result<Config, ConfigErrors>, tokio::task::JoinError>,
    ) {
        self.reload_task = None;
        let result = result.unwrap_or_else(|e| {
            let main = self.config.path.display().to_string();
            Err(ConfigErrors::whole_file(
                &main,
                format!("the config loader crashed: {e}"),
            ))
        });
        let now = self.services.clock.now();
        let outcome = match result {
            Ok(config) => {
                let diff = self.apply(config, now);
                // The previous jobs and the parser's buffers are freed now.
                super::trim_heap();
                tracing::info!(
                    "configuration reloaded: {} added, {} removed, {} changed",
                    diff.added.len(),
                    diff.removed.len(),
                    diff.changed.len()
                );
                self.last_reload = LastReload {
                    ok: true,
                    at: now,
                    error: None,
                    diagnostics: Vec::new(),
                };
                Ok(diff)
            }
            Err(errors) => {
                tracing::error!("configuration refused; the previous jobs keep running:\n{errors}");
                self.last_reload = LastReload {
                    ok: false,
                    at: now,
                    error: Some(errors.to_string()),
                    diagnostics: errors.items.clone(),
                };
                Err(errors)
            }
        };
        if self.reload_again {
            // The files changed while they were being read; read them again
            // and answer the waiters with that fresher result.
            self.reload_again = false;
            self.begin_reload();
            return;
        }
        for waiter in self.reload_waiters.drain(..) {
            let _ = waiter.send(outcome.clone());
        }
    }

    /// Applies a new valid config as a diff. Unchanged jobs keep their
    /// timing; running attempts are left alone whatever happens to their
    /// job (a removed job's run finishes under its old definition).
    fn apply(&mut self, config: Config, now: DateTime<Utc>) -> ReloadDiff {
        let mut diff = ReloadDiff {
            ok: true,
            added: Vec::new(),
            removed: Vec::new(),
            changed: Vec::new(),
        };
        let old_ids: Vec<String> = self.slots.keys().cloned().collect();
        for id in old_ids {
            if !config.jobs.contains_key(&id) {
                if let Some(slot) = self.slots.remove(&id) {
                    if let Some(p) = slot.next {
                        self.queue.remove(&(p.due, id.clone()));
                    }
                }
                diff.removed.push(id);
            }
        }
        for (id, job) in &config.jobs {
            match self.slots.get_mut(id) {
                None => {
                    self.add_slot(Arc::new(job.clone()), now);
                    diff.added.push(id.clone());
                }
                Some(slot) if *slot.job != *job => {
                    let retime = slot.job.schedule != job.schedule
                        || slot.job.timezone != job.timezone
                        || slot.job.jitter != job.jitter
                        || slot.job.enabled != job.enabled;
                    slot.job = Arc::new(job.clone());
                    if retime {
                        slot.anchor = now;
                        self.retime(id, now);
                    }
                    diff.changed.push(id.clone());
                }
                Some(_) => {}
            }
        }
        if config.daemon != self.config.daemon {
            tracing::warn!("changes to [daemon] take effect when the daemon restarts");
        }
        self.services.hooks.config_applied(&config);
        self.config = Arc::new(config);
        diff
    }

    fn handle_request(&mut self, request: Request) {
        let now = self.services.clock.now();
        match request {
            Request::Jobs(reply) => {
                let jobs = self.slots.values().map(|s| self.summary(s)).collect();
                let _ = reply.send(jobs);
            }
            Request::Job(id, reply) => {
                let _ = reply.send(self.slots.get(&id).map(|s| self.detail(s, now)));
            }
            Request::SetPaused(id, paused, reply) => {
                let answer = if self.slots.contains_key(&id) {
                    if paused {
                        self.state.paused.insert(id.clone());
                    } else {
                        self.state.paused.remove(&id);
                    }
                    self.services.hooks.save_state(&self.state);
                    tracing::info!(job = %id, "{}", if paused { "paused" } else { "resumed" });
                    Ok(paused)
                } else {
                    Err(ControlError::UnknownJob(id))
                };
                let _ = reply.send(answer);
            }
            Request::Trigger(id, reply) => {
                let answer = match self.slots.get(&id).map(|s| Arc::clone(&s.job)) {
                    None => Err(ControlError::UnknownJob(id)),
                    Some(job) => {
                        let (tx, rx) = oneshot::channel();
                        self.start_run(&job, Trigger::Manual, now, Some(tx))
                            .map(|run_id| Triggered {
                                run_id,
                                finished: rx,
                            })
                    }
                };
                let _ = reply.send(answer);
            }
            Request::Cancel(id, reply) => {
                let answer = if !self.slots.contains_key(&id) && self.runs_of(&id).next().is_none()
                {
                    Err(ControlError::UnknownJob(id))
                } else {
                    let mut cancelled: Vec<String> = self
                        .runs_of(&id)
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
                };
                let _ = reply.send(answer);
            }
            Request::Running(reply) => {
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
                let _ = reply.send(running);
            }
            Request::Reload(reply) => {
                self.reload_waiters.push(reply);
                self.begin_reload();
            }
            Request::Status(reply) => {
                let _ = reply.send(self.status());
            }
        }
    }

    fn status(&self) -> SchedulerStatus {
        let next_run = self
            .slots
            .iter()
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
            jobs_total: self.slots.len(),
            jobs_enabled: self.slots.values().filter(|s| s.job.enabled).count(),
            jobs_paused: self.slots.keys().filter(|id| self.is_paused(id)).count(),
            runs_active: self.runs.len(),
            next_run,
        }
    }

    fn summary(&self, slot: &Slot) -> JobSummary {
        let job = &slot.job;
        JobSummary {
            id: job.id.clone(),
            description: job.description.clone(),
            schedule: job.schedule.to_string(),
            timezone: job.timezone.name().to_string(),
            action: job.action.kind().to_string(),
            enabled: job.enabled,
            paused: self.is_paused(&job.id),
            running: self.runs_of(&job.id).next().is_some(),
            next_run: slot.next.map(|p| p.scheduled_at),
            consecutive_failures: self
                .state
                .consecutive_failures
                .get(&job.id)
                .copied()
                .unwrap_or(0),
        }
    }

    fn detail(&self, slot: &Slot, now: DateTime<Utc>) -> JobDetail {
        let job = &slot.job;
        let next_runs = job
            .schedule
            .upcoming(now, job.timezone, slot.anchor, 5)
            .into_iter()
            .map(|t| {
                t.with_timezone(&job.timezone)
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
            })
            .collect();
        JobDetail {
            summary: self.summary(slot),
            settings: settings_json(job),
            next_runs,
        }
    }
}

/// The next planned start of `slot` strictly after `after`, with a fresh
/// jitter draw. Disabled jobs are never planned.
fn plan(slot: &Slot, after: DateTime<Utc>) -> Option<Planned> {
    let job = &slot.job;
    if !job.enabled {
        return None;
    }
    let scheduled_at = job.schedule.next_after(after, job.timezone, slot.anchor)?;
    let jitter = if job.jitter.is_zero() {
        chrono::Duration::zero()
    } else {
        let ms = u64::try_from(job.jitter.as_millis()).unwrap_or(u64::MAX);
        chrono::Duration::milliseconds(i64::try_from(rand::random_range(0..ms)).unwrap_or(0))
    };
    Some(Planned {
        scheduled_at,
        due: scheduled_at + jitter,
    })
}

/// Waits for the precise due timer; never returns without one.
async fn wait_due(timer: &mut Option<crate::clock::WallTimer>) {
    match timer {
        Some(timer) => timer.wait().await,
        None => std::future::pending().await,
    }
}

async fn wait_reload(
    task: &mut Option<tokio::task::JoinHandle<Result<Config, ConfigErrors>>>,
) -> Result<Result<Config, ConfigErrors>, tokio::task::JoinError> {
    match task {
        Some(handle) => handle.await,
        None => std::future::pending().await,
    }
}

/// The resolved settings of a job as `GET /api/v1/jobs/{id}` shows them.
fn settings_json(job: &Job) -> serde_json::Map<String, serde_json::Value> {
    let action = match &job.action {
        Action::Command(Command::Shell(s)) => {
            serde_json::json!({ "command": s, "shell": job.shell })
        }
        Action::Command(Command::Argv(argv)) => serde_json::json!({ "command": argv }),
        Action::Http(h) => serde_json::json!({ "http": {
            "url": h.url, "method": h.method, "headers": h.headers,
            "body": h.body, "expect_status": h.expect_status,
        }}),
    };
    let notify = job.notify.as_ref().map(|n| {
        let on: Vec<&str> = [
            (n.on.failure, "failure"),
            (n.on.recovery, "recovery"),
            (n.on.success, "success"),
        ]
        .into_iter()
        .filter_map(|(set, name)| set.then_some(name))
        .collect();
        serde_json::json!({ "email": n.email, "webhook": n.webhook, "on": on, "after": n.after })
    });
    let serde_json::Value::Object(mut fields) = serde_json::json!({
        "timeout": job.timeout.map(format_duration),
        "kill_grace": format_duration(job.kill_grace),
        "retries": job.retries,
        "retry_delay": format_duration(job.retry_delay),
        "retry_backoff": job.retry_backoff,
        "concurrency": job.concurrency.as_str(),
        "jitter": format_duration(job.jitter),
        "catch_up": job.catch_up.map(format_duration),
        "user": job.user,
        "group": job.group,
        "working_dir": job.working_dir,
        "env": job.env,
        "output_limit": job.output_limit,
        "notify": notify,
        "source": job.source,
    }) else {
        unreachable!("json! of an object literal is an object");
    };
    if let serde_json::Value::Object(extra) = action {
        fields.extend(extra);
    }
    fields
}

#[cfg(test)]
mod tests {
    //! The scheduler's decisions under a virtual clock: tokio's paused time
    //! lets days of schedule pass in milliseconds. Jobs run a program that
    //! does not exist, so every attempt ends at once (status `error`) with
    //! its `scheduled_at` recorded — exactly what these tests look at.

    use std::path::PathBuf;
    use std::sync::Mutex;

    use super::*;
    use crate::clock::VirtualClock;
    use crate::record::Status;

    /// Hooks that load the real config file and record finished runs.
    struct Recorder {
        path: PathBuf,
        finished: Arc<Mutex<Vec<FinishRecord>>>,
    }

    impl Hooks for Recorder {
        fn load_config(&self) -> tokio::task::JoinHandle<Result<Config, ConfigErrors>> {
            let path = self.path.clone();
            tokio::task::spawn_blocking(move || crate::config::load(&path))
        }
        fn config_applied(&mut self, _config: &Config) {}
        fn save_state(&mut self, _state: &State) -> tokio::task::JoinHandle<()> {
            tokio::spawn(async {})
        }
        fn run_finished(&mut self, _job: Option<&Job>, record: &FinishRecord, _state: &mut State) {
            self.finished.lock().expect("lock").push(record.clone());
        }
    }

    struct Harness {
        _dir: tempfile::TempDir,
        config_path: PathBuf,
        clock: Arc<VirtualClock>,
        finished: Arc<Mutex<Vec<FinishRecord>>>,
        steps: mpsc::Sender<()>,
        shutdown: tokio::sync::watch::Sender<bool>,
        handle: super::super::control::Handle,
        task: tokio::task::JoinHandle<()>,
        // Kept so the inputs' channels stay open.
        _file: mpsc::Sender<()>,
        _reload: mpsc::Sender<()>,
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("valid time")
            .with_timezone(&Utc)
    }

    /// A scheduler on `jobs` (TOML job tables) with the wall clock reading
    /// `start` and `state` loaded, not yet started.
    struct Built {
        dir: tempfile::TempDir,
        config_path: PathBuf,
        clock: Arc<VirtualClock>,
        finished: Arc<Mutex<Vec<FinishRecord>>>,
        scheduler: Scheduler,
    }

    async fn build(jobs: &str, start: &str, state: State) -> Built {
        let dir = tempfile::tempdir().expect("temp dir");
        let config_path = dir.path().join("jobs.toml");
        let body = format!(
            "[daemon]\nstate_dir = \"{0}/state\"\nlog_file = \"{0}/runs.jsonl\"\n\n{jobs}",
            dir.path().display()
        );
        std::fs::write(&config_path, body).expect("write config");
        let config = crate::config::load(&config_path).expect("valid config");
        let clock = Arc::new(VirtualClock::new(utc(start)));
        let opened = crate::log::open(&config.daemon, clock.clone(), "test".into())
            .await
            .expect("open log");
        let finished = Arc::new(Mutex::new(Vec::new()));
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let services = Services {
            clock: clock.clone(),
            run: RunContext {
                clock: clock.clone(),
                log: opened.sink,
                http: crate::action::http::LazyClient::new(),
                host: Arc::from("test"),
                events: events_tx,
                results_dir: dir.path().join("results"),
            },
            hooks: Box::new(Recorder {
                path: config_path.clone(),
                finished: Arc::clone(&finished),
            }),
            max_sleep: MAX_SLEEP,
        };
        let scheduler = Scheduler::new(services, config, state, events_rx);
        Built {
            dir,
            config_path,
            clock,
            finished,
            scheduler,
        }
    }

    /// Starts a scheduler on `jobs` (TOML job tables) with the wall clock
    /// reading `start`.
    async fn start(jobs: &str, start: &str) -> Harness {
        let Built {
            dir,
            config_path,
            clock,
            finished,
            mut scheduler,
        } = build(jobs, start, State::default()).await;
        let (handle, control) = super::super::control::Handle::channel();
        let (file_tx, file_changed) = mpsc::channel(1);
        let (reload_tx, reload_now) = mpsc::channel(1);
        let (steps, clock_steps) = mpsc::channel(1);
        let (shutdown, shutdown_rx) = tokio::sync::watch::channel(false);
        scheduler.start(Vec::new());
        let task = tokio::spawn(scheduler.run(Inputs {
            control,
            file_changed,
            reload_now,
            clock_steps,
            shutdown: shutdown_rx,
        }));
        Harness {
            _dir: dir,
            config_path,
            clock,
            finished,
            steps,
            shutdown,
            handle,
            task,
            _file: file_tx,
            _reload: reload_tx,
        }
    }

    impl Harness {
        async fn pass(&self, hours: f64) {
            tokio::time::sleep(Duration::from_secs_f64(hours * 3600.0)).await;
        }

        /// Steps the wall clock like `date -s` and tells the scheduler, as
        /// the timerfd would.
        async fn step(&self, by: chrono::Duration) {
            self.clock.step(by);
            self.steps.send(()).await.expect("scheduler alive");
            tokio::task::yield_now().await;
        }

        /// The scheduled instants of `job`'s runs so far, checking on the
        /// way that no run started before its instant.
        fn fired(&self, job: &str) -> Vec<String> {
            let finished = self.finished.lock().expect("lock");
            finished
                .iter()
                .filter(|r| r.job == job)
                .map(|r| {
                    assert!(r.started_at >= r.scheduled_at, "{job} started early: {r:?}");
                    assert_eq!(r.status, Status::Error, "{r:?}");
                    r.scheduled_at
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                })
                .collect()
        }

        async fn stop(self) {
            let _ = self.shutdown.send(true);
            self.task.await.expect("scheduler ends");
        }
    }

    const NOPE: &str = "command = [\"/nonexistent/cronduct-test-program\"]";

    #[tokio::test(start_paused = true)]
    async fn spring_forward_runs_a_skipped_fixed_time_once_after_the_gap() {
        let h = start(
            &format!(
                "[jobs.night]\nschedule = \"30 2 * * *\"\ntimezone = \"Europe/Berlin\"\n{NOPE}\n"
            ),
            "2026-03-28T12:00:00Z",
        )
        .await;
        h.pass(60.0).await;
        // 02:30 does not exist on 29 March: it runs at 03:00+02:00.
        assert_eq!(
            h.fired("night"),
            ["2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"]
        );
        h.stop().await;
    }

    #[tokio::test(start_paused = true)]
    async fn fall_back_runs_fixed_times_once_and_wildcards_on_each_occurrence() {
        let h = start(
            &format!(
                "[jobs.fixed]\nschedule = \"30 2 * * *\"\ntimezone = \"Europe/Berlin\"\n{NOPE}\n\
                 [jobs.wild]\nschedule = \"*/30 2 * * *\"\ntimezone = \"Europe/Berlin\"\n{NOPE}\n"
            ),
            "2026-10-24T12:00:00Z",
        )
        .await;
        h.pass(40.0).await;
        assert_eq!(
            h.fired("fixed"),
            ["2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"]
        );
        assert_eq!(
            h.fired("wild"),
            [
                "2026-10-25T00:00:00Z",
                "2026-10-25T00:30:00Z",
                "2026-10-25T01:00:00Z",
                "2026-10-25T01:30:00Z",
                "2026-10-26T01:00:00Z",
                "2026-10-26T01:30:00Z",
            ]
        );
        h.stop().await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_small_forward_step_runs_skipped_fixed_times_once_and_replans_wildcards() {
        let h = start(
            &format!(
                "[jobs.fixed]\nschedule = \"30 13 * * *\"\ntimezone = \"UTC\"\n{NOPE}\n\
                 [jobs.hourly]\nschedule = \"15,45 13 * * *\"\ntimezone = \"UTC\"\n{NOPE}\n\
                 [jobs.wild]\nschedule = \"*/10 * * * *\"\ntimezone = \"UTC\"\n{NOPE}\n"
            ),
            "2026-06-01T13:00:00Z",
        )
        .await;
        h.pass(0.01).await;
        h.step(chrono::Duration::hours(1)).await;
        h.pass(0.2).await; // until 14:12
        // Both fixed-time jobs missed instants inside the step: each runs once.
        assert_eq!(h.fired("fixed"), ["2026-06-01T13:30:00Z"]);
        assert_eq!(h.fired("hourly").len(), 1, "{:?}", h.fired("hourly"));
        // The wildcard job follows the new time: 14:10 is its first run.
        assert_eq!(h.fired("wild"), ["2026-06-01T14:10:00Z"]);
        h.stop().await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_large_forward_step_only_replans() {
        let h = start(
            &format!("[jobs.fixed]\nschedule = \"30 13 * * *\"\ntimezone = \"UTC\"\n{NOPE}\n"),
            "2026-06-01T13:00:00Z",
        )
        .await;
        h.pass(0.01).await;
        h.step(chrono::Duration::hours(5)).await;
        h.pass(1.0).await;
        assert!(h.fired("fixed").is_empty(), "{:?}", h.fired("fixed"));
        h.pass(24.0).await;
        assert_eq!(h.fired("fixed"), ["2026-06-02T13:30:00Z"]);
        h.stop().await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_backward_step_never_repeats_a_fixed_time_instant() {
        let h = start(
            &format!(
                "[jobs.fixed]\nschedule = \"30 13 * * *\"\ntimezone = \"UTC\"\n{NOPE}\n\
                 [jobs.wild]\nschedule = \"0 * * * *\"\ntimezone = \"UTC\"\n{NOPE}\n"
            ),
            "2026-06-01T13:00:00Z",
        )
        .await;
        h.pass(0.75).await; // 13:45: the fixed job ran at 13:30
        assert_eq!(h.fired("fixed"), ["2026-06-01T13:30:00Z"]);
        h.step(-chrono::Duration::hours(1)).await; // back to 12:45
        h.pass(2.0).await; // wall clock reaches 14:45 again
        assert_eq!(h.fired("fixed"), ["2026-06-01T13:30:00Z"]);
        // The hourly wildcard job keeps its rhythm on the new time.
        assert_eq!(
            h.fired("wild"),
            ["2026-06-01T13:00:00Z", "2026-06-01T14:00:00Z"]
        );
        h.stop().await;
    }

    #[tokio::test(start_paused = true)]
    async fn every_counts_from_load_and_jitter_delays_within_its_bound() {
        let h = start(
            &format!(
                "[jobs.every]\nschedule = \"@every 90s\"\n{NOPE}\n\
                 [jobs.jittery]\nschedule = \"*/5 * * * *\"\njitter = \"2m\"\n{NOPE}\n\
                 [jobs.off]\nschedule = \"* * * * *\"\nenabled = false\n{NOPE}\n"
            ),
            "2026-06-01T13:00:00Z",
        )
        .await;
        h.pass(0.13).await; // until 13:07:48
        assert_eq!(
            h.fired("every"),
            [
                "2026-06-01T13:01:30Z",
                "2026-06-01T13:03:00Z",
                "2026-06-01T13:04:30Z",
                "2026-06-01T13:06:00Z",
                "2026-06-01T13:07:30Z"
            ]
        );
        let finished = h.finished.lock().expect("lock").clone();
        let jittery: Vec<&FinishRecord> = finished.iter().filter(|r| r.job == "jittery").collect();
        assert_eq!(jittery.len(), 1, "{jittery:?}");
        let delay = jittery[0].started_at - jittery[0].scheduled_at;
        assert!(
            delay >= chrono::Duration::zero() && delay < chrono::Duration::minutes(2),
            "{delay}"
        );
        assert!(h.fired("off").is_empty());
        h.stop().await;
    }

    #[tokio::test(start_paused = true)]
    async fn reload_keeps_the_timing_of_unchanged_jobs_and_applies_the_diff() {
        let h = start(
            &format!("[jobs.keep]\nschedule = \"@every 100s\"\n{NOPE}\n[jobs.gone]\nschedule = \"@hourly\"\n{NOPE}\n"),
            "2026-06-01T13:00:00Z",
        )
        .await;
        tokio::time::sleep(Duration::from_secs(50)).await;
        let text = std::fs::read_to_string(&h.config_path).expect("read");
        let text = text.replace(
            "[jobs.gone]\nschedule = \"@hourly\"",
            "[jobs.new]\nschedule = \"@hourly\"",
        );
        std::fs::write(&h.config_path, text).expect("write");
        let diff = h.handle.reload().await.expect("alive").expect("valid");
        assert_eq!(
            (diff.added, diff.removed, diff.changed),
            (vec!["new".to_string()], vec!["gone".to_string()], vec![])
        );
        tokio::time::sleep(Duration::from_secs(160)).await;
        // Still anchored at the original load: 13:01:40 and 13:03:20.
        assert_eq!(
            h.fired("keep"),
            ["2026-06-01T13:01:40Z", "2026-06-01T13:03:20Z"]
        );
        h.stop().await;
    }

    #[tokio::test(start_paused = true)]
    async fn an_invalid_reload_keeps_the_old_jobs() {
        let h = start(
            &format!("[jobs.keep]\nschedule = \"@every 60s\"\n{NOPE}\n"),
            "2026-06-01T13:00:00Z",
        )
        .await;
        std::fs::write(&h.config_path, "[jobs.keep]\nschedule = \"61 * * * *\"\n").expect("write");
        let refused = h.handle.reload().await.expect("alive");
        assert!(refused.is_err(), "{refused:?}");
        let status = h.handle.status().await.expect("alive");
        assert!(!status.last_reload.ok);
        assert_eq!(status.jobs_total, 1);
        tokio::time::sleep(Duration::from_secs(125)).await;
        assert_eq!(h.fired("keep").len(), 2);
        h.stop().await;
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_leaves_a_starting_run_its_grace_and_ends_a_retry_wait() {
        let Built { mut scheduler, .. } = build(
            &format!(
                "[jobs.a]\nschedule = \"@hourly\"\n{NOPE}\n\
                 [jobs.b]\nschedule = \"@hourly\"\n{NOPE}\n"
            ),
            "2026-06-01T13:00:00Z",
            State::default(),
        )
        .await;
        let a = Arc::clone(&scheduler.slots["a"].job);
        let b = Arc::clone(&scheduler.slots["b"].job);
        // Nothing has yielded to the run tasks: neither run has reported
        // its attempt starting, so both are still starting.
        let starting = scheduler
            .start_run(&a, Trigger::Manual, scheduler.services.clock.now(), None)
            .expect("started");
        let waiting = scheduler
            .start_run(&b, Trigger::Manual, scheduler.services.clock.now(), None)
            .expect("started");
        scheduler.handle_run_event(RunEvent::Waiting {
            run_id: waiting.clone(),
        });
        scheduler.begin_shutdown();
        assert!(
            !scheduler.runs[&starting].cancel.is_cancelled(),
            "a run whose process is being created must get the shutdown grace"
        );
        assert!(scheduler.runs[&waiting].cancel.is_cancelled());
    }

    /// A finish record of a run of `job` lost in a crash.
    fn lost(job: &str, trigger: Trigger, scheduled_at: DateTime<Utc>) -> FinishRecord {
        FinishRecord {
            ts: scheduled_at,
            run_id: "lost".into(),
            job: job.into(),
            attempt: 1,
            trigger,
            scheduled_at,
            started_at: scheduled_at,
            finished_at: scheduled_at,
            duration_ms: 0,
            status: Status::Lost,
            exit_code: None,
            signal: None,
            http_status: None,
            error: Some("the daemon stopped during the run".into()),
            stdout: String::new(),
            stderr: String::new(),
            output_truncated: false,
            result: None,
            result_error: None,
            will_retry: false,
            retry_at: None,
            host: "test".into(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_instant_whose_run_was_lost_is_not_caught_up_again() {
        // The daemon started the 13:00 run, then crashed before the state
        // file recorded 13:00 (it still says 12:00).
        let mut state = State::default();
        state
            .last_scheduled
            .insert("hourly".into(), utc("2026-06-01T12:00:00Z"));
        let Built { mut scheduler, .. } = build(
            &format!("[jobs.hourly]\nschedule = \"0 * * * *\"\ncatch_up = \"2h\"\n{NOPE}\n"),
            "2026-06-01T13:30:00Z",
            state,
        )
        .await;
        scheduler.start(vec![lost(
            "hourly",
            Trigger::Schedule,
            utc("2026-06-01T13:00:00Z"),
        )]);
        assert!(
            scheduler.runs.is_empty(),
            "the lost 13:00 instant was started again"
        );
        assert_eq!(
            scheduler.state.last_scheduled["hourly"],
            utc("2026-06-01T13:00:00Z")
        );
    }
}
