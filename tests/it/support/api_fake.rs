//! A test fake of the scheduler's end of the control channel, and a
//! fixture that serves the real admin API over real TCP in front of it,
//! with the real execution log and history index in a temp dir.
//!
//! The fake owns a few jobs and answers `control::Request`s the way the
//! scheduler task would; tests reach into its state to set up conflicts,
//! refused reloads or a stall. Past runs are real finish lines in a real
//! `runs.jsonl`, written through the real `LogSink`, so the API answers
//! from the real index (and, for all but the newest two records, from the
//! file on disk). The server runs on its own thread and runtime, so tests
//! may block (e.g. on the CLI binary) while it serves.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use cronduct::action::http::LazyClient;
use cronduct::api::{ApiContext, Limits, serve_with};
use cronduct::clock::{Clock, SystemClock};
use cronduct::config::{ConfigError, ConfigErrors, DaemonSettings};
use cronduct::daemon::control::{ControlError, Handle, Inbox, Request, SchedulerStatus, Triggered};
use cronduct::log::{HistoryHandle, HistoryLimits, LogOptions, LogSink};
use cronduct::notify::{DeliveryOptions, Notifier};
use cronduct::record::{FinishRecord, LogEvent, Status, Trigger};
use cronduct::wire::{
    JobDetail, JobSummary, LastReload, NextRun, Pause, ReloadDiff, RunningAttempt,
};
use tokio::sync::oneshot;

use super::log as log_support;

pub const KEY: &str = "test-admin-key-0123456789";

/// One job the fake scheduler knows.
#[derive(Debug, Clone)]
pub struct FakeJob {
    pub summary: JobSummary,
    /// `concurrency = "forbid"`.
    pub forbid: bool,
    pub active: Vec<RunningAttempt>,
    /// How a manual run ends, and after how long.
    pub outcome: Status,
    pub run_time: Duration,
}

#[derive(Debug)]
pub struct FakeState {
    pub jobs: BTreeMap<String, FakeJob>,
    /// While set, requests are received but never answered.
    pub stalled: bool,
    pub reload_result: Result<ReloadDiff, Vec<String>>,
    pub reloads: usize,
    pub last_reload: LastReload,
    pub next_run_id: u32,
}

/// A served API in front of the fake scheduler.
pub struct Fixture {
    pub url: String,
    pub addr: SocketAddr,
    /// The instant every fake time is relative to (whole seconds).
    pub t0: DateTime<Utc>,
    pub state: Arc<Mutex<FakeState>>,
    pub history: HistoryHandle,
    pub log: LogSink,
    /// The directory holding `runs.jsonl`.
    pub log_dir: PathBuf,
    _dir: tempfile::TempDir,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

pub fn at(t0: DateTime<Utc>, secs: i64) -> DateTime<Utc> {
    t0 + chrono::Duration::seconds(secs)
}

/// A finish record as the runner would write it: the log tests' builder
/// without output, and with no exit code for a command that could not
/// start.
pub fn finish(
    run_id: &str,
    job: &str,
    attempt: u32,
    status: Status,
    finished_at: DateTime<Utc>,
    duration_ms: u64,
    will_retry: bool,
) -> FinishRecord {
    FinishRecord {
        exit_code: (status != Status::Error).then_some(i32::from(status != Status::Success)),
        stdout: String::new(),
        stderr: String::new(),
        retry_at: None,
        ..log_support::finish(
            job,
            run_id,
            attempt,
            status,
            will_retry,
            finished_at,
            duration_ms,
        )
    }
}

fn summary(id: &str, schedule: &str, zone: &str, action: &str) -> JobSummary {
    JobSummary {
        id: id.into(),
        description: format!("the {id} job"),
        schedule: schedule.into(),
        schedule_text: match (
            schedule.parse::<cronduct::schedule::Schedule>(),
            cronduct::zone::Database::global().zone(zone),
        ) {
            (Ok(s), Ok(tz)) => s.in_words(&tz),
            _ => String::new(),
        },
        timezone: zone.into(),
        action: action.into(),
        enabled: true,
        paused: false,
        pause: None,
        running: false,
        next_run: None,
        consecutive_failures: 0,
        source: "config".into(),
        origin: "/etc/cronduct/jobs.toml".into(),
        signals: Default::default(),
    }
}

fn fake_job(summary: JobSummary) -> FakeJob {
    FakeJob {
        summary,
        forbid: true,
        active: Vec::new(),
        outcome: Status::Success,
        run_time: Duration::ZERO,
    }
}

/// Four jobs covering the table's cases: a healthy one, a failing HTTP
/// check, one running now (forbid), and a disabled one paused for a
/// while with a reason.
fn default_jobs(t0: DateTime<Utc>) -> BTreeMap<String, FakeJob> {
    let mut db = fake_job(summary(
        "db-backup",
        "0 2 * * *",
        "America/Santo_Domingo",
        "command",
    ));
    db.summary.next_run = Some(at(t0, 210));

    let mut gw = fake_job(summary("gateway-health", "*/5 * * * *", "UTC", "http"));
    gw.summary.next_run = Some(at(t0, 90));
    gw.summary.consecutive_failures = 2;
    gw.outcome = Status::Failed;

    let mut long = fake_job(summary("long-report", "@daily", "Europe/Berlin", "command"));
    long.summary.next_run = Some(at(t0, 86_000));
    long.summary.running = true;
    long.active.push(RunningAttempt {
        run_id: "r-long".into(),
        job: "long-report".into(),
        attempt: 1,
        pid: Some(4242),
        started_at: at(t0, -600),
        elapsed_ms: 600_000,
        timeout_at: Some(at(t0, 3000)),
    });

    let mut old = fake_job(summary("old-cleanup", "0 4 * * 0", "UTC", "command"));
    old.summary.enabled = false;
    old.summary.paused = true;
    old.summary.pause = Some(Pause {
        reason: Some("replaced by the new cleanup".into()),
        until: Some(at(t0, 7500)),
        by: Some("default".into()),
        at: Some(at(t0, -86_400)),
    });

    [db, gw, long, old]
        .into_iter()
        .map(|j| (j.summary.id.clone(), j))
        .collect()
}

/// The history the default jobs come with.
fn default_history(t0: DateTime<Utc>) -> Vec<FinishRecord> {
    let mut gw1 = finish(
        "r-gw-1",
        "gateway-health",
        1,
        Status::Failed,
        at(t0, -900),
        250,
        true,
    );
    gw1.http_status = Some(503);
    gw1.exit_code = None;
    let mut gw2 = finish(
        "r-gw-1",
        "gateway-health",
        2,
        Status::Failed,
        at(t0, -600),
        300,
        false,
    );
    gw2.http_status = Some(503);
    gw2.exit_code = None;
    let mut db = finish(
        "r-db-1",
        "db-backup",
        1,
        Status::Success,
        at(t0, -7200),
        5123,
        false,
    );
    (db.cpu_user_ms, db.cpu_system_ms, db.max_rss_kib) = (Some(4200), Some(310), Some(12_800));
    db.result = serde_json::from_str(r#"{"removed": 12, "hit_rate": 0.93}"#).ok();
    vec![
        finish(
            "r-long-0",
            "long-report",
            1,
            Status::Success,
            at(t0, -86_400),
            3_600_000,
            false,
        ),
        db,
        gw1,
        gw2,
        // A job since removed from the config; its runs stay listed.
        finish(
            "r-retired-1",
            "retired-job",
            1,
            Status::Timeout,
            at(t0, -3 * 86_400),
            60_000,
            false,
        ),
    ]
}

impl Fixture {
    pub fn start() -> Fixture {
        Fixture::start_with(Limits::default())
    }

    pub fn start_with(limits: Limits) -> Fixture {
        // Whole seconds, so that times printed to the second fall in the
        // same second relative to t0 on every run (stable snapshots).
        let t0 = SystemClock.now().trunc_subsecs(0);
        let dir = tempfile::tempdir().expect("tempdir");
        let log_dir = dir.path().join("log");
        let state = Arc::new(Mutex::new(FakeState {
            jobs: default_jobs(t0),
            stalled: false,
            reload_result: Ok(ReloadDiff {
                ok: true,
                added: vec![],
                removed: vec![],
                changed: vec!["db-backup".into()],
            }),
            reloads: 0,
            last_reload: LastReload {
                ok: true,
                at: at(t0, -300),
                error: None,
                diagnostics: Vec::new(),
            },
            next_run_id: 1,
        }));
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        std_listener.set_nonblocking(true).expect("nonblocking");
        let addr = std_listener.local_addr().expect("local addr");
        let settings = DaemonSettings {
            listen: addr,
            admin_key_file: None,
            state_dir: dir.path().to_path_buf(),
            log_file: log_dir.join("runs.jsonl"),
            log_max_size: 100 << 20,
            log_keep: 3,
            shutdown_grace: Duration::from_secs(1),
            output: cronduct::config::OutputMode::Files,
            output_keep: std::time::Duration::from_secs(14 * 86_400),
            keys: Vec::new(),
            managed_dir: None,
            managed_users: Vec::new(),
        };
        let options = LogOptions {
            // A repaired log is noticed quickly.
            retry_interval: Duration::from_millis(50),
            // Most records are read back from the file, as in a real daemon
            // with a long history.
            history: HistoryLimits {
                recent_full: 2,
                ..HistoryLimits::default()
            },
            ..LogOptions::default()
        };
        let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
        let (opened_tx, opened_rx) = std::sync::mpsc::channel();
        let fake_state = state.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let opened = cronduct::log::open_with(
                    &settings,
                    Arc::new(SystemClock),
                    "testhost".into(),
                    options,
                )
                .await
                .expect("open the log");
                // A real log is in the order the attempts finished.
                let mut history = default_history(t0);
                history.sort_by_key(|r| r.finished_at);
                for r in history {
                    opened.sink.write(LogEvent::Finish(r));
                }
                opened.sink.flush().await.expect("write the history");
                let (handle, rx) = Handle::channel();
                // A real notifier that nothing sends through: the status
                // shows its counters at zero.
                let notifier = Notifier::start(
                    None,
                    "testhost".into(),
                    LazyClient::new(),
                    DeliveryOptions::default(),
                );
                let ctx = ApiContext {
                    handle,
                    history: opened.history.clone(),
                    log: opened.sink.clone(),
                    notifications: notifier.counters(),
                    keys: std::sync::Arc::new(cronduct::api::KeyStore::new(
                        cronduct::api::KeyRing::admin_only(KEY.into()),
                    )),
                    managed: None,
                    host: std::sync::Arc::from("test-host"),
                    listen: addr,
                    clock: Arc::new(SystemClock),
                    started_at: at(t0, -3600),
                    state_dir: settings.state_dir.clone(),
                    state_health: Default::default(),
                    log_file: settings.log_file.clone(),
                    cluster: None,
                    output: None,
                    output_keep: settings.output_keep,
                };
                tokio::spawn(fake_scheduler(rx, fake_state, opened.sink.clone()));
                let _ = opened_tx.send((opened.sink, opened.history));
                let listener = tokio::net::TcpListener::from_std(std_listener)?;
                serve_with(listener, ctx, limits, async {
                    let _ = shutdown_rx.await;
                })
                .await
            })
        });
        let (log, history) = opened_rx.recv().expect("the server thread opened the log");
        Fixture {
            url: format!("http://{addr}"),
            addr,
            t0,
            state,
            history,
            log,
            log_dir,
            _dir: dir,
            shutdown: Some(shutdown_tx),
            thread: Some(thread),
        }
    }

    /// Appends a finish record to the log, as the runner does, and waits
    /// until the history index has it (it does once the line is written).
    pub fn record(&self, rec: FinishRecord) {
        let (run_id, attempt) = (rec.run_id.clone(), rec.attempt);
        self.log.write(LogEvent::Finish(rec));
        let what = format!("{run_id} to reach the index");
        super::poll::until(&what, Duration::from_secs(10), || {
            self.history
                .run(&run_id)
                .is_some_and(|a| a.iter().any(|r| r.attempt == attempt))
                .then_some(())
        });
    }

    /// Makes the log unwritable for real: its directory becomes a plain
    /// file (permission bits would not stop root).
    pub fn break_log(&self) {
        std::fs::remove_dir_all(&self.log_dir).expect("remove the log directory");
        std::fs::write(&self.log_dir, "not a directory").expect("block the log path");
    }

    /// Undoes [`Fixture::break_log`]; the writer recreates the directory.
    pub fn repair_log(&self) {
        std::fs::remove_file(&self.log_dir).expect("unblock the log path");
    }

    pub fn with_state<T>(&self, f: impl FnOnce(&mut FakeState) -> T) -> T {
        f(&mut self.state.lock().expect("fake state"))
    }

    /// Asks the server to shut down and returns what `serve` returned,
    /// once it has.
    pub fn stop(&mut self) -> std::io::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match self.thread.take() {
            Some(t) => t.join().expect("server thread"),
            None => Ok(()),
        }
    }

    /// Starts shutting down without waiting.
    pub fn begin_stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        // Unstall so in-flight requests do not keep the drain waiting.
        if let Ok(mut s) = self.state.lock() {
            s.stalled = false;
        }
        let _ = self.stop();
    }
}

async fn fake_scheduler(mut rx: Inbox, state: Arc<Mutex<FakeState>>, log: LogSink) {
    // Requests received while stalled: kept, so their reply channels stay
    // open and the API sees silence rather than a shutdown.
    let mut held = Vec::new();
    while let Some(req) = rx.recv().await {
        if state.lock().expect("fake state").stalled {
            held.push(req);
            continue;
        }
        // Tests change the fake's jobs behind its back, so no answer may
        // be kept: every request counts as a change (announced before the
        // reply, as the scheduler does).
        rx.note_change();
        answer(req, &state, &log);
    }
}

fn answer(req: Request, state: &Arc<Mutex<FakeState>>, log: &LogSink) {
    let mut s = state.lock().expect("fake state");
    match req {
        Request::Jobs(reply) => {
            let _ = reply.send(s.jobs.values().map(|j| j.summary.clone()).collect());
        }
        Request::Job(id, reply) => {
            let detail = s.jobs.get(&id).map(|j| JobDetail {
                summary: j.summary.clone(),
                settings: serde_json::json!({
                    "timeout": "30m",
                    "retries": 3,
                    "retry_delay": "5m",
                    "concurrency": if j.forbid { "forbid" } else { "allow" },
                    "notify": null,
                })
                .as_object()
                .cloned()
                .unwrap_or_default(),
                next_runs: (1..=5)
                    .map(|n| format!("2030-01-0{n}T02:00:00-04:00"))
                    .collect(),
            });
            let _ = reply.send(detail);
        }
        Request::Pause(id, pause, reply) => {
            let r = match s.jobs.get_mut(&id) {
                Some(j) => {
                    j.summary.paused = true;
                    j.summary.pause = Some(pause);
                    Ok(())
                }
                None => Err(ControlError::UnknownJob(id)),
            };
            let _ = reply.send(r);
        }
        Request::Resume(id, reply) => {
            let r = match s.jobs.get_mut(&id) {
                Some(j) => {
                    j.summary.paused = false;
                    j.summary.pause = None;
                    Ok(())
                }
                None => Err(ControlError::UnknownJob(id)),
            };
            let _ = reply.send(r);
        }
        Request::PauseAll(pause, reply) => {
            for j in s.jobs.values_mut() {
                j.summary.paused = true;
                j.summary.pause = Some(pause.clone());
            }
            let _ = reply.send(s.jobs.keys().cloned().collect());
        }
        Request::ResumeAll(reply) => {
            let mut resumed = Vec::new();
            for (id, j) in &mut s.jobs {
                if j.summary.paused {
                    j.summary.paused = false;
                    j.summary.pause = None;
                    resumed.push(id.clone());
                }
            }
            let _ = reply.send(resumed);
        }
        Request::Trigger(id, reply) => {
            let n = s.next_run_id;
            let Some(job) = s.jobs.get(&id).cloned() else {
                let _ = reply.send(Err(ControlError::UnknownJob(id)));
                return;
            };
            if job.forbid && !job.active.is_empty() {
                let _ = reply.send(Err(ControlError::Conflict(format!(
                    "{id} is already running and its concurrency is \"forbid\""
                ))));
                return;
            }
            s.next_run_id += 1;
            let run_id = format!("manual-{n}");
            let (done_tx, done_rx) = oneshot::channel();
            let _ = reply.send(Ok(Triggered {
                run_id: run_id.clone(),
                finished: done_rx,
            }));
            let log = log.clone();
            tokio::spawn(async move {
                tokio::time::sleep(job.run_time).await;
                let mut rec = finish(
                    &run_id,
                    &id,
                    1,
                    job.outcome,
                    SystemClock.now(),
                    job.run_time.as_millis() as u64,
                    false,
                );
                rec.trigger = Trigger::Manual;
                rec.stdout = format!("{id} says hello\n");
                // The finish line goes to the log as the runner writes it;
                // waiting until it is written keeps the tests independent
                // of the writer thread's timing.
                log.write(LogEvent::Finish(rec.clone()));
                if let Err(e) = log.flush().await {
                    panic!("the finish line was not written: {e}");
                }
                let _ = done_tx.send(rec);
            });
        }
        Request::Cancel(id, reply) => {
            let r = match s.jobs.get_mut(&id) {
                None => Err(ControlError::UnknownJob(id)),
                Some(j) if j.active.is_empty() => {
                    Err(ControlError::Conflict(format!("{id} has no active run")))
                }
                Some(j) => {
                    j.summary.running = false;
                    Ok(j.active.drain(..).map(|a| a.run_id).collect())
                }
            };
            let _ = reply.send(r);
        }
        Request::Running(reply) => {
            let _ = reply.send(s.jobs.values().flat_map(|j| j.active.clone()).collect());
        }
        Request::Reload(reply) => {
            s.reloads += 1;
            // Each rendered error stands for an item with only a message.
            let result = s.reload_result.clone().map_err(|errors| {
                let items = errors.iter().map(|e| ConfigError {
                    file: "jobs.toml".into(),
                    line: None,
                    col: None,
                    job: None,
                    key: None,
                    message: e.clone(),
                    help: None,
                });
                ConfigErrors::new("jobs.toml", items.zip(errors.clone()).collect())
            });
            s.last_reload = LastReload {
                ok: result.is_ok(),
                at: SystemClock.now(),
                error: result.as_ref().err().map(|e| e.errors.join("\n\n")),
                diagnostics: result
                    .as_ref()
                    .err()
                    .map_or_else(Vec::new, |e| e.items.clone()),
            };
            let _ = reply.send(result);
        }
        Request::Status(reply) => {
            let jobs: Vec<&FakeJob> = s.jobs.values().collect();
            let next_run = jobs
                .iter()
                .filter(|j| j.summary.enabled && !j.summary.paused)
                .filter_map(|j| j.summary.next_run.map(|at| (at, j.summary.id.clone())))
                .min()
                .map(|(at, job)| NextRun { job, at });
            let _ = reply.send(SchedulerStatus {
                config: PathBuf::from("/etc/cronduct/jobs.toml"),
                last_reload: s.last_reload.clone(),
                jobs_total: jobs.len(),
                jobs_enabled: jobs.iter().filter(|j| j.summary.enabled).count(),
                jobs_paused: jobs.iter().filter(|j| j.summary.paused).count(),
                runs_active: jobs.iter().map(|j| j.active.len()).sum(),
                cluster_restart_needed: false,
                next_run,
                events: Default::default(),
            });
        }
    }
}
