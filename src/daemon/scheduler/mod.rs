//! The scheduler task: the single owner of jobs, timers and active runs.
//!
//! It sleeps until the soonest due instant (no polling tick), starts runs
//! as tasks, and reacts to messages: control requests from the API,
//! events from runs, config changes, clock steps and shutdown. Nothing
//! else mutates job state, so there is no lock to contend for and no
//! instant can be started twice.
//!
//! The decisions live in pure parts: [`timetable`] (when each job starts),
//! [`runs`] (the active runs and the concurrency policy); the loop here
//! applies them, `reload` swaps configs, `requests` answers the API one
//! verb per function, `pauses` makes and ends pauses (timed ones end at a
//! planned wake) and `views` renders what it asks for.

mod pauses;
mod reload;
mod requests;
mod runs;
mod timetable;
mod views;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use self::pauses::PauseEnds;
use self::reload::wait_reload;
use self::runs::{ActiveRun, Admission, Phase, Runs};
use self::timetable::Timetable;
use super::control::{ControlError, Inbox};
use super::run::{self, Cancel, RunContext, RunEvent, RunSpec};
use crate::clock::Clock;
use crate::cluster::Claim;
use crate::config::{Config, ConfigErrors, Job, Notify, NotifyOn, RunOn};
use crate::notify::{self, Event, Notice, NotifyState, decide};
use crate::record::{
    FinishRecord, LogEvent, MissedRecord, SkipRecord, SlowRecord, Status, Trigger,
};
use crate::state::State;
use crate::units::format_duration;
use crate::wire::{LastReload, ReloadDiff};

/// The longest the scheduler sleeps without looking at the wall clock.
/// Clock steps are reported at once by a timerfd; this bound catches what
/// that cannot see, such as a resume from suspend.
pub const MAX_SLEEP: Duration = Duration::from_secs(60);

/// How long file events must stay quiet before the config is re-read, so
/// a file caught halfway through a write is not loaded.
const RELOAD_DEBOUNCE: Duration = Duration::from_millis(200);

/// How often the state file may be rewritten for `last_scheduled` changes.
/// One and a half seconds, not one: those changes come from starts at
/// whole seconds, so the save (two fsyncs on a blocking thread) lands
/// half-way between two seconds instead of on top of the next second's
/// starts, which it would slow down.
const STATE_SAVE_DELAY: Duration = Duration::from_millis(1500);

/// The `skip` reason of an instant a cluster node could not claim.
pub const CLUSTER_UNREACHABLE: &str = "cluster database unreachable";

/// A job without `notify` still has its failure streak counted (for the
/// API's `consecutive_failures`), through the same rules with no channel.
static SILENT: Notify = Notify {
    email: Vec::new(),
    webhook: None,
    ping: None,
    on: NotifyOn {
        failure: false,
        recovery: false,
        success: false,
        slow: false,
        overdue: false,
        missed: false,
        skipped: false,
    },
    after: 1,
};

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
    /// With `[cluster]`: this node, which claims each `run_on = "one"`
    /// instant before it is started.
    pub cluster: Option<crate::cluster::Node>,
}

/// The answer to a claim made for a scheduled or caught-up instant.
struct Claimed {
    job: Arc<Job>,
    trigger: Trigger,
    scheduled_at: DateTime<Utc>,
    outcome: Claim,
}

/// The effects port: the I/O that follows the scheduler's decisions
/// (config loading, the file watcher, persisted state, notices). It
/// decides nothing, so the scheduler is tested with a recording fake
/// under a paused clock.
pub trait Hooks: Send {
    /// Loads the config again (may take a while; runs off the loop).
    fn load_config(&self) -> tokio::task::JoinHandle<Result<Config, ConfigErrors>>;
    /// A new config was applied.
    fn config_applied(&mut self, config: &Config);
    /// A reload was refused and `kept` stays in force: what it was read
    /// from may have moved (a config folder removed), so watch it anew.
    fn config_refused(&mut self, kept: &Config);
    /// Persist the state (atomically) without blocking the loop; the
    /// handle resolves once this snapshot (or a newer one) is on disk.
    fn save_state(&mut self, state: &State) -> tokio::task::JoinHandle<()>;
    /// A run ended (normally, or `lost` at start-up): send `notice`, the
    /// notice the scheduler decided `job`'s settings call for, if any.
    /// `job` is the current definition (`None` once a reload removed it).
    fn run_ended(&mut self, job: Option<&Job>, record: &FinishRecord, notice: Option<Event>);
    /// Send `notice` (slow, overdue, missed, skipped) by `job`'s settings.
    fn notice(&mut self, job: &Job, notice: Notice);
    /// A run's first attempt started: ping `notify.ping`'s `/start`.
    fn run_started(&mut self, job: &Job, run_id: &str);
    /// A run is over (`record` is its final attempt): ping its outcome.
    /// `job` is the definition the run started with.
    fn run_finished(&mut self, job: &Job, record: &FinishRecord);
    /// The scheduler is alive (watchdog).
    fn heartbeat(&mut self) {}
}

pub struct Scheduler {
    services: Services,
    config: Arc<Config>,
    /// What survives restarts: pause flags, last scheduled instants,
    /// failure streaks. Owned here; persisted through the hooks.
    state: State,
    /// When the timed pauses in `state` end.
    pause_ends: PauseEnds,
    timetable: Timetable,
    runs: Runs,
    run_events: mpsc::UnboundedReceiver<RunEvent>,
    /// Claims answered by the database, sent by the claim tasks.
    claims_tx: mpsc::UnboundedSender<Claimed>,
    claims_rx: mpsc::UnboundedReceiver<Claimed>,
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
    /// Events counted since the daemon started, for `/metrics`.
    skipped_total: u64,
    missed_total: u64,
    slow_total: u64,
    overdue_total: u64,
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
        let mut timetable = Timetable::new(timetable::random_jitter);
        for job in config.jobs.values() {
            timetable.insert(Arc::clone(job), now, &state.last_scheduled);
        }
        let mut state = state;
        watch_unwatched(&mut timetable, &mut state, now);
        let (claims_tx, claims_rx) = mpsc::unbounded_channel();
        Self {
            services,
            config: Arc::new(config),
            pause_ends: PauseEnds::of(&state),
            state,
            timetable,
            runs: Runs::default(),
            run_events,
            claims_tx,
            claims_rx,
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
            skipped_total: 0,
            missed_total: 0,
            slow_total: 0,
            overdue_total: 0,
        }
    }

    /// Starts what is due at daemon start: runs lost in a crash are
    /// reported, `@reboot` jobs start when this is the first start of the
    /// daemon since the machine booted, and `catch_up` jobs run once for
    /// an instant missed while the daemon was down.
    ///
    /// `boot_id` names the machine's current boot; the state remembers the
    /// last one seen, so a restart within the same boot (a package
    /// upgrade) runs no `@reboot` job. Without one (no `/proc`), every
    /// start counts as the first of a boot.
    pub fn start(&mut self, lost: Vec<FinishRecord>, boot_id: Option<&str>) {
        let new_boot = boot_id.is_none_or(|id| self.state.boot_id.as_deref() != Some(id));
        if let Some(id) = boot_id {
            self.state.boot_id = Some(id.to_string());
        }
        if !new_boot {
            tracing::info!("started again within the same boot: @reboot jobs do not run");
        }
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
        // In a cluster the database's pauses are the ones in force, read
        // before the first start; then those that ended while the daemon
        // was stopped end, so a job whose pause is over takes its
        // `@reboot` or catch-up run.
        let cluster_pauses = self.services.cluster.as_ref().map(|n| n.pauses());
        if let Some(Some(pauses)) = cluster_pauses.map(|p| p.borrow().clone()) {
            self.sync_cluster_pauses(&pauses);
        }
        self.resume_expired();
        let now = self.services.clock.now();
        let jobs: Vec<Arc<Job>> = self
            .timetable
            .slots()
            .map(|(_, s)| Arc::clone(&s.job))
            .collect();
        for job in jobs {
            if !job.enabled || self.is_paused(&job.id) {
                continue;
            }
            let last = self.state.last_scheduled.get(&job.id).copied();
            if let Some(last) = last {
                self.report_missed(&job, now, last);
            }
            if job.schedule.is_reboot() {
                if new_boot {
                    let _ = self.start_run(&job, Trigger::Reboot, now, None);
                }
            } else if let Some(missed) = self.timetable.missed(&job.id, now, last) {
                tracing::info!(job = %job.id, "catching up the run missed at {missed}");
                self.state.last_scheduled.insert(job.id.clone(), missed);
                self.start_scheduled(&job, Trigger::CatchUp, missed);
            }
        }
        self.services.hooks.save_state(&self.state);
    }

    /// Logs and announces the instants `job` missed while the daemon was
    /// down (after `last`, the one last started), if any. They count as
    /// scheduled from now on, so a restart before the job's next instant
    /// does not report them again.
    fn report_missed(&mut self, job: &Job, now: DateTime<Utc>, last: DateTime<Utc>) {
        let Some(missed) = self.timetable.missed_instants(&job.id, now, last) else {
            return;
        };
        let reported = self
            .state
            .last_scheduled
            .entry(job.id.clone())
            .or_insert(missed.newest);
        *reported = (*reported).max(missed.newest);
        self.missed_total += missed.listed.len() as u64 + missed.more;
        tracing::warn!(
            job = %job.id,
            "{}{} scheduled run(s) missed while the daemon was down",
            missed.listed.len() as u64 + missed.more,
            if missed.capped { " or more" } else { "" }
        );
        self.services.run.log.write(LogEvent::Missed(MissedRecord {
            ts: now,
            job: job.id.clone(),
            scheduled_at: missed.listed.clone(),
            more: missed.more,
            more_capped: missed.capped,
            last_scheduled: last,
            host: self.services.run.host.to_string(),
        }));
        self.services.hooks.notice(
            job,
            Notice::Missed(notify::Missed {
                listed: missed.listed,
                more: missed.more,
                found_at: now,
            }),
        );
    }

    /// The start of job `id`'s `expect_success_within` window, or `None`
    /// while it is paused (a paused job is never overdue).
    fn watch_origin(&self, id: &str) -> Option<DateTime<Utc>> {
        if self.is_paused(id) {
            return None;
        }
        watch_origin(&self.state, id)
    }

    /// Whether a run of job `id` is past `warn_after`.
    pub(super) fn is_slow(&self, id: &str) -> bool {
        self.runs.is_slow(id)
    }

    /// Whether job `id` is overdue at `now`.
    pub(super) fn is_overdue(&self, id: &str, now: DateTime<Utc>) -> bool {
        self.timetable.get(id).is_some_and(|s| {
            s.watch
                .zip(s.job.expect_success_within)
                .is_some_and(|(w, window)| w.is_overdue(window, now))
        })
    }

    fn is_paused(&self, id: &str) -> bool {
        self.state.paused.contains(id)
    }

    /// Runs until shutdown is requested and every run has ended.
    pub async fn run(mut self, mut inputs: Inputs) {
        let mut shutting_down: Option<Instant> = None;
        let mut forced = false;
        // Due instants are waited for on the clock's precise timer when it
        // has one, so a job due at second S starts within a fraction of a
        // millisecond of S rather than one or two milliseconds later.
        let mut cluster_pauses = self.services.cluster.as_ref().map(|n| n.pauses());
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
                changed |= self.resume_expired();
                changed |= self.fire_due();
                changed |= self.fire_overdue();
            }
            changed |= self.fire_slow();
            if changed {
                inputs.control.note_change();
            }
            if let Some(node) = &self.services.cluster {
                node.set_running(self.runs.len());
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
                    self.runs
                        .cancel_all("cancelled: the daemon was shutting down");
                }
            }
            let due = self.timetable.next_due();
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
                    // Only a run's end changes a summary (`running` and
                    // `consecutive_failures`); attempt starts and retry
                    // waits touch nothing it shows.
                    if matches!(event, RunEvent::Finished { .. }) {
                        inputs.control.note_change();
                    }
                    self.handle_run_event(event);
                }
                Some(claimed) = self.claims_rx.recv() => {
                    inputs.control.note_change();
                    self.claimed(claimed, shutting_down.is_some());
                }
                Some(pauses) = pauses::next_cluster_pauses(&mut cluster_pauses) => {
                    inputs.control.note_change();
                    self.sync_cluster_pauses(&pauses);
                }
                Some(()) = inputs.file_changed.recv() => {
                    self.reload_at = Some(Instant::now() + RELOAD_DEBOUNCE);
                }
                Some(()) = inputs.reload_now.recv() => {
                    // SIGHUP is also what logrotate's postrotate sends.
                    self.services.run.log.reopen();
                    self.begin_reload();
                }
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
    /// unless the precise timer waits for it), the end of a timed pause,
    /// the shutdown deadline, a pending reload or state save, and at the
    /// latest after `MAX_SLEEP`.
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
        // A pause's end needs no precise timer: the job's next instant,
        // not the resume, is what starts a run on time.
        if let (None, Some(end)) = (shutting_down, self.pause_ends.next()) {
            let until = (end - self.services.clock.now())
                .to_std()
                .unwrap_or(Duration::ZERO);
            wake = wake.min(now_mono + until);
        }
        if let (Some(deadline), false) = (shutting_down, forced) {
            wake = wake.min(deadline);
        }
        let alarms = [self.reload_at, self.state_save_at, self.runs.next_slow()];
        for at in alarms.into_iter().flatten() {
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
        while let Some(due) = self.timetable.pop_due(self.services.clock.now()) {
            fired = true;
            let id = due.job.id.clone();
            self.state
                .last_scheduled
                .insert(id.clone(), due.scheduled_at);
            self.schedule_state_save();
            if self.is_paused(&id) {
                continue;
            }
            self.start_scheduled(&due.job, Trigger::Schedule, due.scheduled_at);
        }
        fired
    }

    /// Sends the overdue notices whose time has come. Answers whether
    /// there were any.
    fn fire_overdue(&mut self) -> bool {
        let now = self.services.clock.now();
        let mut fired = false;
        while let Some(alarm) = self.timetable.pop_overdue(now) {
            fired = true;
            self.overdue_total += 1;
            let window = alarm.job.expect_success_within.unwrap_or_default();
            tracing::warn!(
                job = %alarm.job.id,
                "overdue: no successful run within {}",
                format_duration(window)
            );
            self.services.hooks.notice(
                &alarm.job,
                Notice::Overdue(notify::Overdue {
                    last_success: self.state.last_success.get(&alarm.job.id).copied(),
                    window,
                    due_at: alarm.due_at,
                }),
            );
        }
        fired
    }

    /// Logs and announces the runs that have just passed `warn_after`.
    /// Answers whether there were any.
    fn fire_slow(&mut self) -> bool {
        let mut fired = false;
        while let Some(run_id) = self.runs.pop_slow(Instant::now()) {
            let Some(run) = self.runs.get(&run_id) else {
                continue;
            };
            let Some((started_at, started_mono)) = run.first_started else {
                continue;
            };
            fired = true;
            self.slow_total += 1;
            let warn_after = run.definition.warn_after.unwrap_or_default();
            let elapsed = started_mono.elapsed();
            let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
            let job = self
                .timetable
                .job(&run.job)
                .unwrap_or_else(|| Arc::clone(&run.definition));
            tracing::warn!(job = %run.job, run_id = %run_id, "slow: still running after {}", format_duration(warn_after));
            self.services.run.log.write(LogEvent::Slow(SlowRecord {
                ts: self.services.clock.now(),
                run_id: run_id.clone(),
                job: run.job.clone(),
                attempt: run.attempt,
                started_at,
                elapsed_ms: ms(elapsed),
                warn_after_ms: ms(warn_after),
                host: self.services.run.host.to_string(),
            }));
            let notice = Notice::Slow(notify::SlowRun {
                run_id,
                attempt: run.attempt,
                started_at,
                elapsed,
                warn_after,
            });
            self.services.hooks.notice(&job, notice);
        }
        fired
    }

    fn schedule_state_save(&mut self) {
        if self.state_save_at.is_none() {
            self.state_save_at = Some(Instant::now() + STATE_SAVE_DELAY);
        }
    }

    /// Notices a wall-clock step and lets the timetable apply Debian
    /// cron's rule ([`timetable::StepRule`]). Answers whether it
    /// re-planned anything.
    fn check_clock(&mut self) -> bool {
        let now = self.services.clock.now();
        let mono = Instant::now();
        let elapsed =
            chrono::Duration::from_std(mono - self.last_mono).unwrap_or(chrono::Duration::zero());
        let step = now - (self.last_wall + elapsed);
        self.last_wall = now;
        self.last_mono = mono;
        let stepped = self
            .timetable
            .clock_step(step, now, &self.state.last_scheduled);
        if stepped {
            tracing::warn!(
                "the wall clock moved by {}s; re-planning the schedule",
                step.num_seconds()
            );
        }
        stepped
    }

    /// Starts `job`'s instant `scheduled_at`; in a cluster, a
    /// `run_on = "one"` job's instant is claimed first and started (in
    /// [`Self::claimed`]) only when this node's claim wins.
    fn start_scheduled(&mut self, job: &Arc<Job>, trigger: Trigger, scheduled_at: DateTime<Utc>) {
        let node = match &self.services.cluster {
            Some(node) if job.run_on == RunOn::One => node.clone(),
            _ => {
                let _ = self.start_run(job, trigger, scheduled_at, None);
                return;
            }
        };
        let job = Arc::clone(job);
        let answer = self.claims_tx.clone();
        tokio::spawn(async move {
            let outcome = node.claim(&job.id, scheduled_at).await;
            let _ = answer.send(Claimed {
                job,
                trigger,
                scheduled_at,
                outcome,
            });
        });
    }

    /// Acts on a claim's answer: starts the run this node won, logs a
    /// `skip` for an instant it could not claim.
    fn claimed(&mut self, claimed: Claimed, shutting_down: bool) {
        let Claimed {
            job,
            trigger,
            scheduled_at,
            outcome,
        } = claimed;
        match outcome {
            Claim::Won if shutting_down => {
                tracing::warn!(job = %job.id, "claimed the run due at {scheduled_at}, but the daemon is shutting down: not started");
            }
            Claim::Won if self.is_paused(&job.id) => {}
            Claim::Won => {
                let _ = self.start_run(&job, trigger, scheduled_at, None);
            }
            Claim::Taken => {
                tracing::debug!(job = %job.id, "the run due at {scheduled_at} was claimed by another node");
            }
            Claim::Paused(pause) => {
                // Paused on another node since this one's last heartbeat:
                // take the pause now rather than at the next one.
                self.take_cluster_pause(&job.id, pause);
            }
            Claim::Unreachable(error) => {
                tracing::warn!(job = %job.id, "not starting the run due at {scheduled_at}: {error}");
                self.skip(&job, scheduled_at, CLUSTER_UNREACHABLE.to_string());
            }
        }
    }

    /// Logs and announces that `job`'s instant `scheduled_at` was skipped.
    fn skip(&mut self, job: &Job, scheduled_at: DateTime<Utc>, reason: String) {
        self.services.run.log.write(LogEvent::Skip(SkipRecord {
            ts: self.services.clock.now(),
            job: job.id.clone(),
            scheduled_at,
            reason: reason.clone(),
            host: self.services.run.host.to_string(),
        }));
        tracing::info!(job = %job.id, "skipped: {reason}");
        self.skipped_total += 1;
        self.services.hooks.notice(
            job,
            Notice::Skipped(notify::Skipped {
                scheduled_at,
                reason,
            }),
        );
    }

    /// Starts a run of `job` unless its concurrency policy forbids it.
    fn start_run(
        &mut self,
        job: &Arc<Job>,
        trigger: Trigger,
        scheduled_at: DateTime<Utc>,
        waiter: Option<oneshot::Sender<FinishRecord>>,
    ) -> Result<String, ControlError> {
        match self.runs.admit(&job.id, job.concurrency) {
            Admission::Start => {}
            Admission::Refuse(active) => {
                let reason = format!("previous run still active ({})", active.join(", "));
                if trigger != Trigger::Manual {
                    self.skip(job, scheduled_at, reason.clone());
                }
                return Err(ControlError::Conflict(format!(
                    "job {:?} has a run in progress ({}) and concurrency is \"forbid\"",
                    job.id,
                    active.join(", ")
                )));
            }
            Admission::Replace(active) => {
                for id in &active {
                    if let Some(run) = self.runs.get(id) {
                        run.cancel.cancel(
                            "cancelled: replaced by a newer run (concurrency = \"replace\")",
                        );
                    }
                }
            }
        }
        let run_id = run::new_run_id(self.services.clock.now());
        let cancel = Cancel::default();
        self.runs.insert(
            run_id.clone(),
            ActiveRun {
                job: job.id.clone(),
                definition: Arc::clone(job),
                first_started: None,
                slow: false,
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
                let started_mono = Instant::now();
                if let Some(run) = self.runs.get_mut(&run_id) {
                    run.attempt = attempt;
                    run.phase = Phase::Running {
                        pid,
                        started_at,
                        started_mono,
                        timeout_at,
                    };
                }
                if self.runs.first_started(&run_id, started_at, started_mono) {
                    if let Some(run) = self.runs.get(&run_id) {
                        let job = Arc::clone(&run.definition);
                        self.services.hooks.run_started(&job, &run_id);
                    }
                }
            }
            RunEvent::Retrying { run_id } => {
                if let Some(run) = self.runs.get_mut(&run_id) {
                    run.phase = Phase::Retrying;
                }
            }
            RunEvent::Finished { run_id, record } => {
                let Some(run) = self.runs.remove(&run_id) else {
                    return;
                };
                self.services.hooks.run_finished(&run.definition, &record);
                self.run_ended(&record);
                for waiter in run.waiters {
                    let _ = waiter.send((*record).clone());
                }
            }
        }
    }

    /// Counts the run in its job's failure streak and has the hooks send
    /// the notice that calls for. The job may have been removed or changed
    /// by a reload; the current definition is used when there is one.
    fn run_ended(&mut self, record: &FinishRecord) {
        let job = self.timetable.job(&record.job);
        let settings = job
            .as_ref()
            .and_then(|j| j.notify.as_ref())
            .unwrap_or(&SILENT);
        let notice = count_streak(&mut self.state, settings, record);
        if record.status == Status::Success {
            let id = &record.job;
            let last = self
                .state
                .last_success
                .entry(id.clone())
                .or_insert(record.finished_at);
            *last = (*last).max(record.finished_at);
            if self.timetable.get(id).is_some_and(|s| s.watch.is_some()) {
                let origin = self.watch_origin(id);
                self.timetable.watch(id, origin);
            }
        }
        self.services
            .hooks
            .run_ended(job.as_deref(), record, notice);
        self.schedule_state_save();
    }

    fn begin_shutdown(&mut self) -> Instant {
        let grace = self.config.daemon.shutdown_grace;
        tracing::info!(
            "shutting down: no new runs; waiting up to {} for {} active run(s)",
            format_duration(grace),
            self.runs.len()
        );
        self.timetable.clear();
        // A run waiting to retry has no process to wait for; the retry
        // would be started after the shutdown anyway, so end it now. A run
        // still starting is about to have a process, which gets its grace
        // like any other.
        self.runs
            .cancel_retrying("cancelled: the daemon was shutting down");
        crate::action::saturating_after(Instant::now(), grace)
    }
}

/// The start of job `id`'s `expect_success_within` window by `state`: its
/// last success, or when it was first loaded or last resumed, whichever
/// is later.
fn watch_origin(state: &State, id: &str) -> Option<DateTime<Utc>> {
    let success = state.last_success.get(id).copied();
    let since = state.watched_since.get(id).copied();
    success.max(since)
}

/// Watches every job of `timetable` that should be watched and is not
/// (just loaded, or its window or `enabled` changed by a reload), from
/// its origin in `state`; a job seen for the first time (no success, no
/// origin) counts from `now`. Paused jobs stay unwatched.
fn watch_unwatched(timetable: &mut Timetable, state: &mut State, now: DateTime<Utc>) {
    for id in timetable.unwatched() {
        if state.paused.contains(&id) {
            continue;
        }
        if watch_origin(state, &id).is_none() {
            state.watched_since.insert(id.clone(), now);
        }
        timetable.watch(&id, watch_origin(state, &id));
    }
}

/// Updates `record.job`'s failure streak and notified flag in `state` by
/// the notify rules of `settings`; answers the notice they call for.
fn count_streak(state: &mut State, settings: &Notify, record: &FinishRecord) -> Option<Event> {
    let id = &record.job;
    let mut streak = NotifyState {
        consecutive_failures: state.consecutive_failures.get(id).copied().unwrap_or(0),
        failure_notified: state.failure_notified.contains(id),
    };
    let event = decide(settings, record.status, &mut streak);
    if streak.consecutive_failures == 0 {
        state.consecutive_failures.remove(id);
    } else {
        state
            .consecutive_failures
            .insert(id.clone(), streak.consecutive_failures);
    }
    if streak.failure_notified {
        state.failure_notified.insert(id.clone());
    } else {
        state.failure_notified.remove(id);
    }
    event
}

/// Waits for the precise due timer; never returns without one.
async fn wait_due(timer: &mut Option<crate::clock::WallTimer>) {
    match timer {
        Some(timer) => timer.wait().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests;
