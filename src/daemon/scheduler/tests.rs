//! The scheduler's decisions under a virtual clock: tokio's paused time
//! lets days of schedule pass in milliseconds. Jobs run a program that
//! does not exist, so every attempt ends at once (status `error`) with
//! its `scheduled_at` recorded — exactly what these tests look at.

use std::path::PathBuf;
use std::sync::Mutex;

use super::*;
use crate::action::fake::{FakeLauncher, Script};
use crate::clock::VirtualClock;
use crate::record::Status;

/// Hooks that load the real config file and record finished runs, the
/// other notices (with the virtual time they were sent at) and pings.
struct Recorder {
    path: PathBuf,
    finished: Arc<Mutex<Vec<FinishRecord>>>,
    notices: Arc<Mutex<Vec<(Duration, Notice)>>>,
    pings: Arc<Mutex<Vec<String>>>,
    origin: tokio::time::Instant,
}

impl Hooks for Recorder {
    fn load_config(&self) -> tokio::task::JoinHandle<Result<Config, ConfigErrors>> {
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || crate::config::load(&path))
    }
    fn config_applied(&mut self, _config: &Config) {}
    fn config_refused(&mut self, _kept: &Config) {}
    fn save_state(&mut self, _state: &State) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async {})
    }
    fn run_ended(&mut self, _job: Option<&Job>, record: &FinishRecord, _notice: Option<Event>) {
        self.finished.lock().expect("lock").push(record.clone());
    }
    fn notice(&mut self, _job: &Job, notice: Notice) {
        let at = self.origin.elapsed();
        self.notices.lock().expect("lock").push((at, notice));
    }
    fn run_started(&mut self, job: &Job, run_id: &str) {
        let ping = format!("start {} {run_id}", job.id);
        self.pings.lock().expect("lock").push(ping);
    }
    fn run_finished(&mut self, job: &Job, record: &FinishRecord) {
        let ping = format!("{} {} {}", record.status, job.id, record.run_id);
        self.pings.lock().expect("lock").push(ping);
    }
}

struct Harness {
    _dir: tempfile::TempDir,
    config_path: PathBuf,
    clock: Arc<VirtualClock>,
    finished: Arc<Mutex<Vec<FinishRecord>>>,
    notices: Arc<Mutex<Vec<(Duration, Notice)>>>,
    pings: Arc<Mutex<Vec<String>>>,
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
    notices: Arc<Mutex<Vec<(Duration, Notice)>>>,
    pings: Arc<Mutex<Vec<String>>>,
    scheduler: Scheduler,
}

async fn build(jobs: &str, start: &str, state: State) -> Built {
    build_with(
        jobs,
        start,
        state,
        Arc::new(crate::action::Actions::default()),
    )
    .await
}

/// [`build`] with attempts started by `launcher`.
async fn build_with(
    jobs: &str,
    start: &str,
    state: State,
    launcher: Arc<dyn crate::action::Launcher>,
) -> Built {
    build_tuned(jobs, start, state, launcher, |_| {}).await
}

/// [`build_with`], with `tune` applied to each loaded job (for keys the
/// config file cannot set in these tests).
async fn build_tuned(
    jobs: &str,
    start: &str,
    state: State,
    launcher: Arc<dyn crate::action::Launcher>,
    tune: impl Fn(&mut Job),
) -> Built {
    let dir = tempfile::tempdir().expect("temp dir");
    let config_path = dir.path().join("jobs.toml");
    let body = format!(
        "[daemon]\nstate_dir = \"{0}/state\"\nlog_file = \"{0}/runs.jsonl\"\n\n{jobs}",
        dir.path().display()
    );
    std::fs::write(&config_path, body).expect("write config");
    let mut config = crate::config::load(&config_path).expect("valid config");
    config
        .jobs
        .values_mut()
        .for_each(|job| tune(Arc::make_mut(job)));
    let clock = Arc::new(VirtualClock::new(utc(start)));
    let opened = crate::log::open(&config.daemon, clock.clone(), "test".into())
        .await
        .expect("open log");
    let finished = Arc::new(Mutex::new(Vec::new()));
    let notices = Arc::new(Mutex::new(Vec::new()));
    let pings = Arc::new(Mutex::new(Vec::new()));
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    let services = Services {
        clock: clock.clone(),
        run: RunContext {
            clock: clock.clone(),
            log: opened.sink,
            launcher,
            host: Arc::from("test"),
            events: events_tx,
            results_dir: dir.path().join("results"),
            output: None,
            cluster: None,
        },
        cluster: None,
        hooks: Box::new(Recorder {
            path: config_path.clone(),
            finished: Arc::clone(&finished),
            notices: Arc::clone(&notices),
            pings: Arc::clone(&pings),
            origin: tokio::time::Instant::now(),
        }),
        max_sleep: MAX_SLEEP,
    };
    let scheduler = Scheduler::new(services, config, state, events_rx);
    Built {
        dir,
        config_path,
        clock,
        finished,
        notices,
        pings,
        scheduler,
    }
}

/// Starts a scheduler on `jobs` (TOML job tables) with the wall clock
/// reading `start`.
async fn start(jobs: &str, start: &str) -> Harness {
    start_with(jobs, start, Arc::new(crate::action::Actions::default())).await
}

/// [`start`] with attempts started by `launcher`.
async fn start_with(
    jobs: &str,
    start: &str,
    launcher: Arc<dyn crate::action::Launcher>,
) -> Harness {
    start_tuned(jobs, start, launcher, |_| {}).await
}

/// [`start_with`], with `tune` applied to each loaded job.
async fn start_tuned(
    jobs: &str,
    start: &str,
    launcher: Arc<dyn crate::action::Launcher>,
    tune: impl Fn(&mut Job),
) -> Harness {
    let Built {
        dir,
        config_path,
        clock,
        finished,
        notices,
        pings,
        mut scheduler,
    } = build_tuned(jobs, start, State::default(), launcher, tune).await;
    let (handle, control) = super::super::control::Handle::channel();
    let (file_tx, file_changed) = mpsc::channel(1);
    let (reload_tx, reload_now) = mpsc::channel(1);
    let (steps, clock_steps) = mpsc::channel(1);
    let (shutdown, shutdown_rx) = tokio::sync::watch::channel(false);
    scheduler.start(Vec::new(), None);
    let task = tokio::spawn(scheduler.run(Inputs {
        control,
        file_changed,
        reload_now,
        clock_steps,
        shutdown: shutdown_rx,
        takeovers: mpsc::unbounded_channel().1,
    }));
    Harness {
        _dir: dir,
        config_path,
        clock,
        finished,
        notices,
        pings,
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
        &format!("[jobs.night]\nschedule = \"30 2 * * *\"\ntimezone = \"Europe/Berlin\"\n{NOPE}\n"),
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
    let a = Arc::clone(&scheduler.timetable.get("a").expect("loaded").job);
    let b = Arc::clone(&scheduler.timetable.get("b").expect("loaded").job);
    // Nothing has yielded to the run tasks: neither run has reported
    // its attempt starting, so both are still starting.
    let starting = scheduler
        .start_run(&a, Trigger::Manual, scheduler.services.clock.now(), None)
        .expect("started");
    let waiting = scheduler
        .start_run(&b, Trigger::Manual, scheduler.services.clock.now(), None)
        .expect("started");
    scheduler.handle_run_event(RunEvent::Retrying {
        run_id: waiting.clone(),
    });
    scheduler.begin_shutdown();
    assert!(
        !scheduler
            .runs
            .get(&starting)
            .expect("active")
            .cancel
            .is_cancelled(),
        "a run whose process is being created must get the shutdown grace"
    );
    assert!(
        scheduler
            .runs
            .get(&waiting)
            .expect("active")
            .cancel
            .is_cancelled()
    );
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
        cpu_user_ms: None,
        cpu_system_ms: None,
        max_rss_kib: None,
        output_dropped_bytes: None,
        will_retry: false,
        retry_at: None,
        host: "test".into(),
        node: None,
        result: None,
        result_error: None,
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
    scheduler.start(
        vec![lost(
            "hourly",
            Trigger::Schedule,
            utc("2026-06-01T13:00:00Z"),
        )],
        None,
    );
    assert!(
        scheduler.runs.is_empty(),
        "the lost 13:00 instant was started again"
    );
    assert_eq!(
        scheduler.state.last_scheduled["hourly"],
        utc("2026-06-01T13:00:00Z")
    );
}

#[tokio::test(start_paused = true)]
async fn the_scheduler_counts_failure_streaks_and_a_success_ends_them() {
    let h = start(
        &format!(
            "[jobs.failing]\nschedule = \"@every 60s\"\n{NOPE}\n\
             [jobs.fine]\nschedule = \"@hourly\"\ncommand = \"exit 0\"\n"
        ),
        "2026-06-01T13:00:00Z",
    )
    .await;
    h.pass(0.06).await; // 13:03:36: three failed runs
    let streak = |jobs: &[crate::wire::JobSummary], id: &str| {
        jobs.iter()
            .find(|j| j.id == id)
            .map(|j| j.consecutive_failures)
    };
    let jobs = h.handle.jobs().await.expect("alive");
    assert_eq!(h.fired("failing").len(), 3);
    assert_eq!(streak(&jobs, "failing"), Some(3));
    assert_eq!(streak(&jobs, "fine"), Some(0));
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_lost_run_counts_in_the_streak_and_a_success_resets_it() {
    let mut state = State::default();
    state.consecutive_failures.insert("j".into(), 2);
    let Built { mut scheduler, .. } = build(
        &format!("[jobs.j]\nschedule = \"@hourly\"\n{NOPE}\n"),
        "2026-06-01T13:30:00Z",
        state,
    )
    .await;
    scheduler.start(
        vec![lost("j", Trigger::Manual, utc("2026-06-01T13:00:00Z"))],
        None,
    );
    assert_eq!(scheduler.state.consecutive_failures.get("j"), Some(&3));
    let mut ok = lost("j", Trigger::Manual, utc("2026-06-01T13:10:00Z"));
    ok.status = Status::Success;
    scheduler.run_ended(&ok);
    assert_eq!(scheduler.state.consecutive_failures.get("j"), None);
}

/// A launcher whose attempts take `takes` and end with `status`.
fn fake(takes_ms: u64, status: Status) -> Arc<dyn crate::action::Launcher> {
    Arc::new(FakeLauncher::new(
        [],
        Script::Ends(Duration::from_millis(takes_ms), status),
    ))
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[tokio::test(start_paused = true)]
async fn a_run_waiting_for_its_retry_is_active() {
    let h = start_with(
        "[jobs.patient]\nschedule = \"@yearly\"\ncommand = \"exit 1\"\n\
         retries = 1\nretry_delay = \"4s\"\n",
        "2026-06-01T13:00:00Z",
        fake(10, Status::Failed),
    )
    .await;
    let run = h.handle.trigger("patient").await.expect("started");
    tokio::time::sleep(ms(1000)).await; // the first attempt failed at 10 ms
    let refused = h.handle.trigger("patient").await;
    assert!(
        matches!(&refused, Err(ControlError::Conflict(e)) if e.contains("forbid")),
        "{:?}",
        refused.map(|t| t.run_id)
    );
    let jobs = h.handle.jobs().await.expect("alive");
    assert!(jobs[0].running, "{jobs:?}");
    assert!(h.handle.running().await.expect("alive").is_empty());
    let last = run.finished.await.expect("finished");
    assert_eq!((last.attempt, last.status), (2, Status::Failed));
    // The second attempt started 4 s after the first ended.
    assert_eq!(last.started_at, utc("2026-06-01T13:00:04.010Z"));
    // Once the run is over, a manual run is accepted again.
    h.handle.trigger("patient").await.expect("started");
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn retries_wait_by_the_backoff() {
    let h = start_with(
        "[jobs.j]\nschedule = \"@yearly\"\ncommand = \"exit 1\"\n\
         retries = 3\nretry_delay = \"1s\"\nretry_backoff = 2.0\n",
        "2026-06-01T13:00:00Z",
        fake(100, Status::Failed),
    )
    .await;
    let run = h.handle.trigger("j").await.expect("started");
    let last = run.finished.await.expect("finished");
    // Attempts at 0, 1.1, 3.2 and 7.3 s: 100 ms each, then 1, 2, 4 s.
    assert_eq!((last.attempt, last.status), (4, Status::Failed));
    assert_eq!(last.started_at, utc("2026-06-01T13:00:07.300Z"));
    assert_eq!(last.finished_at, utc("2026-06-01T13:00:07.400Z"));
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn cancelling_during_a_retry_wait_ends_the_run_at_once() {
    let h = start_with(
        "[jobs.j]\nschedule = \"@yearly\"\ncommand = \"exit 1\"\n\
         retries = 2\nretry_delay = \"1h\"\n",
        "2026-06-01T13:00:00Z",
        fake(10, Status::Failed),
    )
    .await;
    let run = h.handle.trigger("j").await.expect("started");
    tokio::time::sleep(ms(500)).await;
    assert_eq!(
        h.handle.cancel("j").await.expect("active"),
        vec![run.run_id.clone()]
    );
    let last = run.finished.await.expect("finished");
    assert_eq!((last.attempt, last.status), (2, Status::Cancelled));
    assert_eq!(last.finished_at, utc("2026-06-01T13:00:00.500Z"));
    assert_eq!(
        last.error.as_deref(),
        Some("cancelled through the admin API while waiting to retry")
    );
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn concurrency_policies() {
    // A run of 2.5 s is due every second: in 5.9 s, five instants.
    // (policy, runs started, runs cancelled by a newer one)
    let cases = [
        // 1 s runs until 3.5 s, so 2 s and 3 s are skipped; 4 s runs.
        ("forbid", 2, 0),
        ("allow", 5, 0),
        ("replace", 5, 4),
    ];
    for (policy, started, replaced) in cases {
        let h = start_with(
            &format!(
                "[jobs.j]\nschedule = \"* * * * * *\"\ncommand = \"true\"\n\
                 concurrency = \"{policy}\"\n"
            ),
            "2026-06-01T13:00:00Z",
            fake(2500, Status::Success),
        )
        .await;
        tokio::time::sleep(ms(5900)).await;
        h.shutdown.send(true).expect("alive");
        h.task.await.expect("scheduler ends");
        let records = h.finished.lock().expect("lock").clone();
        assert_eq!(records.len(), started, "{policy}: {records:?}");
        let cancelled = records
            .iter()
            .filter(|r| {
                r.error
                    .as_deref()
                    .is_some_and(|e| e.contains("replaced by a newer run"))
            })
            .count();
        assert_eq!(cancelled, replaced, "{policy}: {records:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn shutdown_waits_out_the_grace_then_cancels() {
    let h = start_with(
        "[jobs.slow]\nschedule = \"@yearly\"\ncommand = \"true\"\n",
        "2026-06-01T13:00:00Z",
        fake(3_600_000, Status::Success),
    )
    .await;
    let run = h.handle.trigger("slow").await.expect("started");
    tokio::time::sleep(ms(100)).await;
    let begun = tokio::time::Instant::now();
    h.shutdown.send(true).expect("alive");
    h.task.await.expect("scheduler ends");
    let last = run.finished.await.expect("finished");
    assert_eq!(last.status, Status::Cancelled);
    assert_eq!(
        last.error.as_deref(),
        Some("cancelled: the daemon was shutting down")
    );
    // The run was given the default shutdown grace, 30 s, to the
    // millisecond.
    assert_eq!(tokio::time::Instant::now() - begun, Duration::from_secs(30));
}

impl Harness {
    /// The notices sent so far other than run outcomes, with when (since
    /// the harness was built).
    fn notices(&self) -> Vec<(Duration, Notice)> {
        self.notices.lock().expect("lock").clone()
    }

    async fn summary(&self, id: &str) -> crate::wire::JobSummary {
        let jobs = self.handle.jobs().await.expect("alive");
        jobs.into_iter().find(|j| j.id == id).expect("job listed")
    }
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[tokio::test(start_paused = true)]
async fn a_run_past_warn_after_is_slow_once_at_the_instant() {
    let h = start_tuned(
        "[jobs.j]\nschedule = \"@yearly\"\ncommand = \"true\"\n",
        "2026-06-01T13:00:00Z",
        fake(20_000, Status::Success),
        |j| j.warn_after = Some(secs(5)),
    )
    .await;
    let run = h.handle.trigger("j").await.expect("started");
    tokio::time::sleep(ms(4_990)).await;
    assert!(h.notices().is_empty(), "{:?}", h.notices());
    assert!(!h.summary("j").await.signals.slow);
    tokio::time::sleep(ms(20)).await;
    let notices = h.notices();
    assert_eq!(notices.len(), 1, "{notices:?}");
    let (at, Notice::Slow(slow)) = &notices[0] else {
        panic!("{notices:?}");
    };
    assert_eq!(*at, secs(5), "the alarm is the wake-up, not a tick");
    assert_eq!(
        (
            slow.run_id.as_str(),
            slow.attempt,
            slow.warn_after,
            slow.elapsed
        ),
        (run.run_id.as_str(), 1, secs(5), secs(5))
    );
    assert_eq!(slow.started_at, utc("2026-06-01T13:00:00Z"));
    assert!(h.summary("j").await.signals.slow);
    // Still one when the run goes on, and it is not stopped.
    let last = run.finished.await.expect("finished");
    assert_eq!(last.status, Status::Success);
    assert_eq!(h.notices().len(), 1);
    assert!(!h.summary("j").await.signals.slow);
    let status = h.handle.status().await.expect("alive");
    assert_eq!(status.events.slow, 1);
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn warn_after_counts_from_the_first_attempt_across_retries() {
    // Attempts of 3 s, 1 s apart: the run is 7 s old during its second
    // retry wait... and warn_after = 6 s finds it slow in its third attempt.
    let h = start_tuned(
        "[jobs.j]\nschedule = \"@yearly\"\ncommand = \"exit 1\"\nretries = 2\nretry_delay = \"1s\"\n",
        "2026-06-01T13:00:00Z",
        fake(3_000, Status::Failed),
        |j| j.warn_after = Some(secs(6)),
    )
    .await;
    let run = h.handle.trigger("j").await.expect("started");
    let last = run.finished.await.expect("finished");
    assert_eq!(last.attempt, 3);
    let notices = h.notices();
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(
        matches!(&notices[0], (at, Notice::Slow(s)) if *at == secs(6) && s.attempt ==2),
        "{notices:?}"
    );
    // One start ping and one end ping for the run, not one per attempt.
    assert_eq!(
        *h.pings.lock().expect("lock"),
        [
            format!("start j {}", run.run_id),
            format!("failed j {}", run.run_id)
        ]
    );
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn overdue_after_the_window_then_each_period_but_never_while_paused() {
    let h = start_tuned(
        "[jobs.j]\nschedule = \"@yearly\"\ncommand = \"true\"\n",
        "2026-06-01T13:00:00Z",
        fake(10, Status::Success),
        |j| j.expect_success_within = Some(secs(600)),
    )
    .await;
    let overdue = |h: &Harness| -> Vec<(u64, DateTime<Utc>)> {
        h.notices()
            .into_iter()
            .filter_map(|(at, n)| match n {
                Notice::Overdue(o) => Some((at.as_secs(), o.due_at)),
                _ => None,
            })
            .collect()
    };
    // Each look is a millisecond after an instant, so the scheduler has
    // handled it.
    tokio::time::sleep(secs(599)).await;
    assert!(overdue(&h).is_empty());
    assert!(!h.summary("j").await.signals.overdue);
    tokio::time::sleep(ms(1001)).await;
    assert!(h.summary("j").await.signals.overdue);
    tokio::time::sleep(secs(1_500)).await; // 35 min
    assert_eq!(
        overdue(&h),
        [
            (600, utc("2026-06-01T13:10:00Z")),
            (1200, utc("2026-06-01T13:20:00Z")),
            (1800, utc("2026-06-01T13:30:00Z"))
        ]
    );
    h.handle
        .pause("j", crate::wire::Pause::default())
        .await
        .expect("paused");
    assert!(!h.summary("j").await.signals.overdue);
    tokio::time::sleep(secs(1_500)).await; // 60 min
    assert_eq!(overdue(&h).len(), 3, "{:?}", overdue(&h));
    // Resuming restarts the window from the resume.
    h.handle.resume("j").await.expect("resumed");
    tokio::time::sleep(secs(599)).await;
    assert_eq!(overdue(&h).len(), 3);
    tokio::time::sleep(ms(1001)).await;
    assert_eq!(overdue(&h)[3], (4200, utc("2026-06-01T14:10:00.001Z")));
    // A success ends it and restarts the window.
    let run = h.handle.trigger("j").await.expect("started");
    run.finished.await.expect("finished");
    assert!(!h.summary("j").await.signals.overdue);
    tokio::time::sleep(secs(599)).await;
    assert_eq!(overdue(&h).len(), 4);
    tokio::time::sleep(secs(2)).await;
    assert_eq!(overdue(&h).len(), 5);
    assert_eq!(h.handle.status().await.expect("alive").events.overdue, 5);
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn idle_wakes_only_for_the_bounded_sleep_and_the_alarm() {
    // No jobs due for a year, one overdue alarm at 90 s: the loop wakes at
    // its start, at the 60 s bound and at 90 s, nowhere else.
    let beats = Arc::new(std::sync::atomic::AtomicU32::new(0));
    struct Beats(Recorder, Arc<std::sync::atomic::AtomicU32>);
    impl Hooks for Beats {
        fn load_config(&self) -> tokio::task::JoinHandle<Result<Config, ConfigErrors>> {
            self.0.load_config()
        }
        fn config_applied(&mut self, c: &Config) {
            self.0.config_applied(c);
        }
        fn config_refused(&mut self, c: &Config) {
            self.0.config_refused(c);
        }
        fn save_state(&mut self, s: &State) -> tokio::task::JoinHandle<()> {
            self.0.save_state(s)
        }
        fn run_ended(&mut self, j: Option<&Job>, r: &FinishRecord, n: Option<Event>) {
            self.0.run_ended(j, r, n);
        }
        fn notice(&mut self, j: &Job, n: Notice) {
            self.0.notice(j, n);
        }
        fn run_started(&mut self, j: &Job, id: &str) {
            self.0.run_started(j, id);
        }
        fn run_finished(&mut self, j: &Job, r: &FinishRecord) {
            self.0.run_finished(j, r);
        }
        fn heartbeat(&mut self) {
            self.1.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
    let Built {
        mut scheduler,
        notices,
        ..
    } = build_tuned(
        &format!("[jobs.j]\nschedule = \"@yearly\"\n{NOPE}\n"),
        "2026-06-01T13:00:00Z",
        State::default(),
        fake(10, Status::Success),
        |j| j.expect_success_within = Some(secs(90)),
    )
    .await;
    let old = std::mem::replace(
        &mut scheduler.services.hooks,
        Box::new(Beats(
            Recorder {
                path: PathBuf::new(),
                finished: Arc::default(),
                notices: Arc::clone(&notices),
                pings: Arc::default(),
                origin: tokio::time::Instant::now(),
            },
            Arc::clone(&beats),
        )),
    );
    drop(old);
    let (_handle, control) = super::super::control::Handle::channel();
    let (_file, file_changed) = mpsc::channel(1);
    let (_reload, reload_now) = mpsc::channel(1);
    let (_steps, clock_steps) = mpsc::channel(1);
    let (shutdown, shutdown_rx) = tokio::sync::watch::channel(false);
    scheduler.start(Vec::new(), None);
    let task = tokio::spawn(scheduler.run(Inputs {
        control,
        file_changed,
        reload_now,
        clock_steps,
        shutdown: shutdown_rx,
        takeovers: mpsc::unbounded_channel().1,
    }));
    tokio::time::sleep(secs(149)).await;
    assert_eq!(notices.lock().expect("lock").len(), 1);
    // At 0, at the 60 s bound, at 90 s; the next bound counts from there.
    assert_eq!(beats.load(std::sync::atomic::Ordering::Relaxed), 3);
    shutdown.send(true).expect("alive");
    task.await.expect("ends");
}

#[tokio::test(start_paused = true)]
async fn missed_instants_are_reported_once_at_start_up() {
    let mut state = State::default();
    state
        .last_scheduled
        .insert("hourly".into(), utc("2026-06-01T08:00:00Z"));
    state
        .last_scheduled
        .insert("paused".into(), utc("2026-06-01T08:00:00Z"));
    state.pause("paused", crate::wire::Pause::default());
    let Built {
        mut scheduler,
        notices,
        ..
    } = build(
        &format!(
            "[jobs.hourly]\nschedule = \"0 * * * *\"\ncatch_up = \"2h\"\n{NOPE}\n\
             [jobs.paused]\nschedule = \"0 * * * *\"\n{NOPE}\n\
             [jobs.fresh]\nschedule = \"0 * * * *\"\n{NOPE}\n"
        ),
        "2026-06-01T13:30:00Z",
        state,
    )
    .await;
    scheduler.start(Vec::new(), None);
    let notices = notices.lock().expect("lock").clone();
    assert_eq!(notices.len(), 1, "{notices:?}");
    let Notice::Missed(m) = &notices[0].1 else {
        panic!("{notices:?}");
    };
    assert_eq!(
        m.listed,
        ["09", "10", "11", "12", "13"].map(|h| utc(&format!("2026-06-01T{h}:00:00Z")))
    );
    assert_eq!(m.more, 0);
    // ...whatever catch_up then does: it runs the last one.
    assert_eq!(scheduler.runs.len(), 1);
    assert_eq!(scheduler.status().events.missed, 5);
}

#[tokio::test(start_paused = true)]
async fn a_forbid_skip_is_announced() {
    let h = start_with(
        "[jobs.j]\nschedule = \"* * * * * *\"\ncommand = \"true\"\n",
        "2026-06-01T13:00:00Z",
        fake(2500, Status::Success),
    )
    .await;
    tokio::time::sleep(ms(3900)).await;
    let skipped: Vec<DateTime<Utc>> = h
        .notices()
        .into_iter()
        .filter_map(|(_, n)| match n {
            Notice::Skipped(s) => Some(s.scheduled_at),
            _ => None,
        })
        .collect();
    assert_eq!(
        skipped,
        [utc("2026-06-01T13:00:02Z"), utc("2026-06-01T13:00:03Z")]
    );
    assert_eq!(h.handle.status().await.expect("alive").events.skipped, 2);
    h.stop().await;
}

fn pause_until(until: &str) -> crate::wire::Pause {
    crate::wire::Pause {
        reason: Some("maintenance".into()),
        until: Some(utc(until)),
        by: Some("default".into()),
        at: None,
    }
}

async fn paused(h: &Harness, job: &str) -> bool {
    let jobs = h.handle.jobs().await.expect("alive");
    let summary = jobs.iter().find(|j| j.id == job).expect("listed");
    assert_eq!(summary.paused, summary.pause.is_some(), "{summary:?}");
    summary.paused
}

#[tokio::test(start_paused = true)]
async fn a_timed_pause_ends_at_its_instant_and_the_job_takes_that_instant() {
    let h = start(
        &format!("[jobs.minutely]\nschedule = \"* * * * *\"\n{NOPE}\n"),
        "2026-06-01T13:00:30Z",
    )
    .await;
    h.handle
        .pause("minutely", pause_until("2026-06-01T13:05:00Z"))
        .await
        .expect("known job");
    // Until 13:04:59.999 ...
    tokio::time::sleep(Duration::from_millis(269_999)).await;
    assert!(paused(&h, "minutely").await);
    assert!(h.fired("minutely").is_empty(), "{:?}", h.fired("minutely"));
    // ... and no longer a millisecond later; the 13:05 instant ran.
    tokio::time::sleep(ms(2)).await;
    assert!(!paused(&h, "minutely").await);
    assert_eq!(h.fired("minutely"), ["2026-06-01T13:05:00Z"]);
    h.pass(1.0 / 60.0).await;
    assert_eq!(
        h.fired("minutely"),
        ["2026-06-01T13:05:00Z", "2026-06-01T13:06:00Z"]
    );
    h.stop().await;
}

/// The end is a planned wake of its own: no job is due near it, and the
/// loop's longest sleep (a minute) would notice it only at 13:05.
#[tokio::test(start_paused = true)]
async fn a_timed_pause_ends_to_the_millisecond_with_nothing_else_due() {
    let h = start(
        &format!("[jobs.j]\nschedule = \"@yearly\"\n{NOPE}\n"),
        "2026-06-01T13:00:00Z",
    )
    .await;
    h.handle
        .pause("j", pause_until("2026-06-01T13:04:30.250Z"))
        .await
        .expect("known job");
    tokio::time::sleep(ms(270_249)).await;
    assert!(paused(&h, "j").await);
    tokio::time::sleep(ms(2)).await;
    assert!(!paused(&h, "j").await);
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn pausing_again_replaces_the_end() {
    let h = start(
        &format!("[jobs.j]\nschedule = \"@yearly\"\n{NOPE}\n"),
        "2026-06-01T13:00:00Z",
    )
    .await;
    h.handle
        .pause("j", pause_until("2026-06-01T13:05:00Z"))
        .await
        .expect("known job");
    h.handle
        .pause("j", crate::wire::Pause::default())
        .await
        .expect("known job");
    h.pass(1.0).await;
    assert!(paused(&h, "j").await, "the replaced end resumed the job");
    // A timed pause of every job ends for each of them.
    let all = h
        .handle
        .pause_all(pause_until("2026-06-01T15:00:00Z"))
        .await
        .expect("alive");
    assert_eq!(all, ["j"]);
    // Past the end rather than onto it: a sleep that ends on the very
    // instant of the scheduler's wake may be polled before it.
    h.pass(1.5).await;
    assert!(!paused(&h, "j").await);
    assert!(h.handle.resume_all().await.expect("alive").is_empty());
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn pauses_that_ended_while_the_daemon_was_stopped_end_at_start_up() {
    let mut state = State::default();
    // Ended an hour before this start; ends an hour after it; no end.
    state.pause("over", pause_until("2026-06-01T12:00:00Z"));
    state.pause("later", pause_until("2026-06-01T14:00:00Z"));
    state.pause("open", crate::wire::Pause::default());
    let jobs = ["over", "later", "open"]
        .map(|id| format!("[jobs.{id}]\nschedule = \"@yearly\"\n{NOPE}\n"))
        .concat();
    let mut built = build(&jobs, "2026-06-01T13:00:00Z", state).await;
    built.scheduler.start(Vec::new(), None);
    let s = &built.scheduler;
    assert!(!s.is_paused("over"));
    assert!(s.is_paused("later") && s.is_paused("open"));
    assert_eq!(
        s.state.pause_of("later"),
        Some(pause_until("2026-06-01T14:00:00Z"))
    );
    // The next wake is planned for the remaining end, and only for it.
    assert_eq!(s.pause_ends.next(), Some(utc("2026-06-01T14:00:00Z")));
}

#[tokio::test(start_paused = true)]
async fn missed_instants_of_a_job_without_catch_up_are_not_reported_again() {
    let config = format!("[jobs.plain]\nschedule = \"0 * * * *\"\n{NOPE}\n");
    let mut state = State::default();
    state
        .last_scheduled
        .insert("plain".into(), utc("2026-06-01T08:00:00Z"));
    let Built {
        mut scheduler,
        notices,
        ..
    } = build(&config, "2026-06-01T13:30:00Z", state).await;
    scheduler.start(Vec::new(), None);
    assert_eq!(notices.lock().expect("lock").len(), 1);
    assert!(scheduler.runs.is_empty(), "no catch_up: nothing runs");
    assert_eq!(
        scheduler.state.last_scheduled["plain"],
        utc("2026-06-01T13:00:00Z"),
        "the newest reported instant is persisted"
    );

    // A restart before 14:00 has nothing new to report.
    let state = scheduler.state.clone();
    let Built {
        mut scheduler,
        notices,
        ..
    } = build(&config, "2026-06-01T13:40:00Z", state).await;
    scheduler.start(Vec::new(), None);
    assert!(notices.lock().expect("lock").is_empty());
}

#[tokio::test(start_paused = true)]
async fn reboot_jobs_run_once_per_boot() {
    let jobs = format!("[jobs.boot]\nschedule = \"@reboot\"\n{NOPE}\n");
    // (boot id remembered in the state, boot id now) → whether it runs.
    let cases = [
        (None, Some("b1"), true),
        (Some("b1"), Some("b1"), false),
        (Some("b1"), Some("b2"), true),
        (Some("b1"), None, true),
    ];
    for (seen, now, runs) in cases {
        let state = State {
            boot_id: seen.map(str::to_string),
            ..State::default()
        };
        let Built { mut scheduler, .. } = build(&jobs, "2026-06-01T13:30:00Z", state).await;
        scheduler.start(Vec::new(), now);
        assert_eq!(
            scheduler.runs.len(),
            usize::from(runs),
            "{seen:?} → {now:?}"
        );
        let remembered = now.or(seen);
        assert_eq!(
            scheduler.state.boot_id.as_deref(),
            remembered,
            "{seen:?} → {now:?}"
        );
    }
}
