//! `cronduct run`: the scheduler task and everything it wires together —
//! the config watcher, signals, the run log, persisted state,
//! notifications and the admin API.
//!
//! Fatal errors here are the ones that make running pointless (the
//! config is invalid at start, the API address is taken); everything that
//! goes wrong with a single job is recorded as that job's outcome.

pub mod control;
mod hooks;
pub(crate) mod memory;
mod run;
pub mod scheduler;
pub(crate) mod systemd;
mod watch;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, watch as tokio_watch};

use crate::clock::{Clock, SystemClock};
use crate::config::Config;

/// Exit status of `cronduct run` when the configuration cannot be loaded:
/// `EX_CONFIG` from sysexits.h, which systemd shows as "CONFIG". The unit
/// lists it in `RestartPreventExitStatus=`, so a broken file fails the
/// unit at once instead of restarting it every `RestartSec=` for ever,
/// while any other failure (1: address in use, unreadable files) is
/// retried.
pub const EXIT_INVALID_CONFIG: u8 = 78;

/// Runs the daemon in the foreground until SIGTERM or SIGINT.
///
/// A fatal start-up error is reported here, as one message: at priority
/// err in the journal (where `journalctl -p err -u cronduct` finds it),
/// else on stderr.
pub fn main(config_path: &Path) -> anyhow::Result<ExitCode> {
    let hangup_held = hold_hangups();
    memory::tune_malloc();
    let journald = init_tracing();
    let fatal = |message: String| {
        if journald {
            tracing::error!("{message}");
        } else {
            eprintln!("{message}");
        }
    };
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .and_then(|runtime| runtime.block_on(serve(config_path.to_path_buf(), hangup_held)));
    match result {
        Ok(Served::Stopped) => Ok(ExitCode::SUCCESS),
        Ok(Served::InvalidConfig(errors)) => {
            fatal(format!(
                "cronduct: not starting, {} is invalid:\n{errors}",
                config_path.display()
            ));
            Ok(ExitCode::from(EXIT_INVALID_CONFIG))
        }
        Err(e) => {
            fatal(format!("cronduct: cannot start: {e:#}"));
            Ok(ExitCode::FAILURE)
        }
    }
}

/// How [`serve`] ended without a fatal error of its own.
enum Served {
    Stopped,
    InvalidConfig(String),
}

/// Diagnostics go to journald when stderr is the journal, else to stderr
/// as plain text; returns whether they go to journald. `RUST_LOG`
/// overrides the level (default `info`).
///
/// Journal priorities follow syslog's meaning rather than the crate's
/// default (which is one step more urgent): INFO is 6 (info), DEBUG and
/// TRACE are 7 (debug), so routine messages stay out of `-p notice`.
fn init_tracing() -> bool {
    use tracing_journald::{Priority, PriorityMappings};
    use tracing_subscriber::prelude::*;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    if systemd::under_journald() {
        if let Ok(journald) = tracing_journald::layer() {
            let journald = journald.with_priority_mappings(PriorityMappings {
                info: Priority::Informational,
                debug: Priority::Debug,
                ..PriorityMappings::new()
            });
            let _ = tracing_subscriber::registry()
                .with(filter)
                .with(journald)
                .try_init();
            return true;
        }
    }
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::stderr().is_terminal())
                .with_target(false),
        )
        .try_init();
    false
}

/// Blocks SIGHUP on this (the only) thread, the first thing `cronduct
/// run` does: its default action kills the process, and `systemctl
/// reload` or logrotate's postrotate may send one while the config and
/// the run log (which can be large) are still being read. A blocked
/// SIGHUP stays pending until [`catch_hangups`] has a handler for it, so
/// it is acted on (one reload once the daemon is ready), never fatal.
/// Returns whether the mask was changed (it is left alone on failure:
/// then only the short window before the handler exists is exposed).
fn hold_hangups() -> bool {
    use nix::sys::signal::{SigSet, SigmaskHow, Signal, pthread_sigmask};
    let mut hup = SigSet::empty();
    hup.add(Signal::SIGHUP);
    pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&hup), None).is_ok()
}

/// Installs the SIGHUP handler, then lets through a SIGHUP that
/// [`hold_hangups`] kept pending: the stream then holds it, and the
/// daemon reloads once it is ready. Must run before any other thread is
/// started, so no thread is left with SIGHUP blocked (children never
/// inherit the mask: the spawn resets it).
fn catch_hangups(held: bool) -> anyhow::Result<tokio::signal::unix::Signal> {
    use nix::sys::signal::{SigSet, SigmaskHow, Signal, pthread_sigmask};
    let hangup = signal(SignalKind::hangup()).context("cannot handle SIGHUP")?;
    if held {
        let mut hup = SigSet::empty();
        hup.add(Signal::SIGHUP);
        pthread_sigmask(SigmaskHow::SIG_UNBLOCK, Some(&hup), None)
            .context("cannot unblock SIGHUP")?;
    }
    Ok(hangup)
}

async fn serve(config_path: PathBuf, hangup_held: bool) -> anyhow::Result<Served> {
    let hangup = catch_hangups(hangup_held)?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let config = match load_config(config_path.clone()).await {
        Ok(config) => config,
        Err(errors) => return Ok(Served::InvalidConfig(errors)),
    };
    let host: Arc<str> = Arc::from(
        nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_else(|_| "localhost".to_string()),
    );
    let daemon = Daemon::start(config, clock, host, hangup).await?;
    memory::release_startup_pages();
    daemon.wait().await?;
    Ok(Served::Stopped)
}

async fn load_config(path: PathBuf) -> Result<Config, String> {
    tokio::task::spawn_blocking(move || crate::config::load(&path).map_err(|e| e.to_string()))
        .await
        .unwrap_or_else(|e| Err(format!("the config loader crashed: {e}")))
}

/// A running daemon, for `cronduct run` and for tests that drive it in
/// process.
pub struct Daemon {
    shutdown: tokio_watch::Sender<bool>,
    scheduler: tokio::task::JoinHandle<()>,
    api: tokio::sync::oneshot::Receiver<std::io::Result<()>>,
    pub handle: control::Handle,
    pub listen: std::net::SocketAddr,
}

impl Daemon {
    /// Starts every part of the daemon on the current runtime: the run
    /// log (recording runs a crash left open), the state, the notifier,
    /// the config watcher, signal handlers, the admin API and the
    /// scheduler. Fails, changing nothing, when the log cannot be opened
    /// or the API address cannot be bound.
    ///
    /// `hangup` is the SIGHUP stream, made by the caller before anything
    /// slow: a SIGHUP that arrived while the daemon was starting is in it
    /// already, and becomes one reload as soon as the scheduler runs.
    pub async fn start(
        config: Config,
        clock: Arc<dyn Clock>,
        host: Arc<str>,
        mut hangup: tokio::signal::unix::Signal,
    ) -> anyhow::Result<Daemon> {
        let settings = config.daemon.clone();
        let config_path = config.path.clone();
        let opened = crate::log::open(&settings, Arc::clone(&clock), host.to_string())
            .await
            .with_context(|| format!("cannot open the run log {}", settings.log_file.display()))?;
        let state = {
            let dir = settings.state_dir.clone();
            let now = clock.now();
            tokio::task::spawn_blocking(move || crate::state::State::load(&dir, now))
                .await
                .context("the state loader crashed")??
        };
        let results_dir = crate::action::result::results_dir(&settings.state_dir);
        {
            let dir = results_dir.clone();
            // Not fatal: each attempt makes (and, if need be, replaces)
            // its own directory.
            if let Ok(Err(e)) =
                tokio::task::spawn_blocking(move || crate::action::result::clear_results_dir(&dir))
                    .await
            {
                tracing::warn!("{e}");
            }
        }
        if settings.output == crate::config::OutputMode::Files {
            let dir = crate::log::output::output_dir(&settings.log_file);
            let (keep, clock) = (settings.output_keep, Arc::clone(&clock));
            // Hourly, so files leave within an hour of turning `output_keep`
            // old; a walk of the folder, off the runtime's threads.
            tokio::spawn(async move {
                let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
                loop {
                    every.tick().await;
                    let (dir, now) = (dir.clone(), std::time::SystemTime::from(clock.now()));
                    let _ = tokio::task::spawn_blocking(move || {
                        crate::log::output::prune(&dir, keep, now)
                    })
                    .await;
                }
            });
        }
        // Built when an HTTP job or a webhook first needs it: a daemon
        // that runs only commands never loads the TLS trust store.
        let http = crate::action::http::LazyClient::new();
        let notifier = crate::notify::Notifier::start(
            config.smtp.clone(),
            host.to_string(),
            http.clone(),
            crate::notify::DeliveryOptions::default(),
        );
        let notifications = notifier.counters();

        let (file_tx, file_rx) = mpsc::channel(1);
        let watcher = match watch::ConfigWatcher::start(&config, file_tx) {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!(
                    "cannot watch the config files ({e}); reload with SIGHUP or the API"
                );
                None
            }
        };
        let clock_steps = crate::clock::watch_clock_steps().unwrap_or_else(|e| {
            tracing::warn!("cannot watch for clock steps ({e}); they are noticed within a minute");
            mpsc::channel(1).1
        });
        let (reload_tx, reload_rx) = mpsc::channel(1);
        tokio::spawn(async move {
            while hangup.recv().await.is_some() {
                tracing::info!("SIGHUP: reloading the configuration");
                let _ = reload_tx.try_send(());
            }
        });
        let (shutdown_tx, shutdown_rx) = tokio_watch::channel(false);

        let watchdog = systemd::watchdog_interval();
        let heartbeat = watchdog.map(|every| systemd::start_watchdog(every, shutdown_rx.clone()));

        let (handle, control_rx) = control::Handle::channel();
        let state_health = crate::state::SaveHealth::default();
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        // At start an unreadable key file is fatal: nobody is relying on
        // the API yet, and a typo must not go unnoticed.
        let keys = Arc::new(crate::api::KeyStore::new(
            crate::api::KeyRing::load(&settings).context("cannot set up the API keys")?,
        ));
        let hooks = hooks::DaemonHooks {
            config_path: config.path.clone(),
            keys: Arc::clone(&keys),
            notifier: notifier.clone(),
            watcher,
            heartbeat,
            state: Arc::new(hooks::StateWriter::new(
                settings.state_dir.clone(),
                state_health.clone(),
            )),
        };
        let listener = tokio::net::TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("cannot listen on {} for the admin API", settings.listen))?;
        let listen = listener.local_addr().context("reading the API address")?;
        // With port 0 only this process knows the port; clients and tests
        // read it from the state dir.
        crate::api::write_bound_address(&settings.state_dir, listen).with_context(|| {
            format!(
                "cannot write the API address to {}",
                settings
                    .state_dir
                    .join(crate::api::LISTEN_FILE_NAME)
                    .display()
            )
        })?;

        let cluster = match &config.cluster {
            Some(cluster) => {
                let url = crate::cluster::resolve_url(&cluster.database)?;
                let node = crate::cluster::Node::start(
                    cluster,
                    &url,
                    Arc::clone(&clock),
                    listen.to_string(),
                    crate::cluster::definitions(&config),
                )
                .await
                .map_err(anyhow::Error::msg)?;
                tracing::info!("cluster node {:?}", node.name());
                Some(node)
            }
            None => None,
        };
        let api_node = cluster.clone();
        let services = scheduler::Services {
            clock: Arc::clone(&clock),
            run: run::RunContext {
                clock: Arc::clone(&clock),
                log: opened.sink.clone(),
                launcher: Arc::new(crate::action::Actions { http }),
                host: Arc::clone(&host),
                events: events_tx,
                results_dir,
                output: crate::log::output::Store::of(settings.output, &settings.log_file),
            },
            hooks: Box::new(hooks),
            cluster,
            // The loop beats once per wake-up; it must wake often enough
            // for the watchdog task to keep pinging.
            max_sleep: watchdog.map_or(scheduler::MAX_SLEEP, |every| {
                (every / 2).min(scheduler::MAX_SLEEP)
            }),
        };
        let mut scheduler = scheduler::Scheduler::new(services, config, state, events_rx);
        let crate::log::OpenedLog {
            sink,
            history,
            lost,
        } = opened;
        scheduler.start(lost, boot_id().as_deref());
        let inputs = scheduler::Inputs {
            control: control_rx,
            file_changed: file_rx,
            reload_now: reload_rx,
            clock_steps,
            shutdown: shutdown_rx.clone(),
        };
        let log = sink.clone();
        let scheduler = tokio::spawn(async move {
            scheduler.run(inputs).await;
            if let Err(e) = log.flush().await {
                tracing::error!("the run log could not be flushed: {e}");
            }
            notifier
                .shutdown(tokio::time::Instant::now() + std::time::Duration::from_secs(10))
                .await;
        });

        let api = api_task(
            listener,
            handle.clone(),
            (sink, history),
            (notifications, keys, host, state_health),
            shutdown_rx,
            (&settings, &config_path),
            (Arc::clone(&clock), api_node),
        )?;
        systemd::notify("READY=1");
        // What `systemctl status` shows under the unit's name. It names
        // nothing that a reload changes, so it never goes stale.
        systemd::notify(&format!("STATUS=Scheduling; admin API on http://{listen}"));
        tracing::info!(
            "cronduct {} started; admin API on http://{listen}",
            env!("CARGO_PKG_VERSION")
        );
        Ok(Daemon {
            shutdown: shutdown_tx,
            scheduler,
            api,
            handle,
            listen,
        })
    }

    /// Asks the daemon to stop, as SIGTERM does.
    pub fn stop(&self) {
        let _ = self.shutdown.send(true);
    }

    /// Waits for SIGTERM or SIGINT (or [`Daemon::stop`]), then shuts down:
    /// no new runs, up to `shutdown_grace` for running ones, then they are
    /// terminated and recorded as `cancelled`, the log is flushed.
    pub async fn wait(self) -> anyhow::Result<ExitCode> {
        let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
        let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
        let mut stopped = self.shutdown.subscribe();
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received"),
            _ = int.recv() => tracing::info!("SIGINT received"),
            _ = stopped.wait_for(|s| *s) => {}
        }
        systemd::notify("STOPPING=1");
        systemd::notify("STATUS=Stopping: running jobs have shutdown_grace to finish");
        self.stop();
        if let Err(e) = self.scheduler.await {
            tracing::error!("the scheduler task failed: {e}");
        }
        match self.api.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!("the admin API failed: {e}"),
            Err(_) => tracing::error!("the admin API thread ended abnormally"),
        }
        tracing::info!("stopped");
        Ok(ExitCode::SUCCESS)
    }
}

/// Starts the admin API on a thread of its own, with its own runtime, so
/// a flood of API requests never delays a job start on the scheduler's
/// thread; they meet only through the control channel and the history
/// index. It drains and stops when shutdown is requested.
fn api_task(
    listener: tokio::net::TcpListener,
    handle: control::Handle,
    (log, history): (crate::log::LogSink, crate::log::HistoryHandle),
    (notifications, keys, host, state_health): (
        crate::notify::NotifyCounters,
        Arc<crate::api::KeyStore>,
        Arc<str>,
        crate::state::SaveHealth,
    ),
    mut shutdown: tokio_watch::Receiver<bool>,
    (settings, config_path): (&crate::config::DaemonSettings, &Path),
    (clock, cluster): (Arc<dyn Clock>, Option<crate::cluster::Node>),
) -> anyhow::Result<tokio::sync::oneshot::Receiver<std::io::Result<()>>> {
    let ctx = crate::api::ApiContext {
        handle,
        history,
        log,
        notifications,
        keys,
        managed: settings.managed_dir.clone().map(|dir| crate::api::Managed {
            config_path: config_path.to_path_buf(),
            dir,
        }),
        host,
        listen: settings.listen,
        started_at: clock.now(),
        clock,
        state_dir: settings.state_dir.clone(),
        state_health,
        log_file: settings.log_file.clone(),
        cluster,
        output: crate::log::output::Store::of(settings.output, &settings.log_file),
        output_keep: settings.output_keep,
    };
    let listener = listener
        .into_std()
        .context("handing the API socket to its thread")?;
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("cronduct-api".into())
        .spawn(move || {
            let result = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .and_then(|runtime| {
                    runtime.block_on(async move {
                        let listener = tokio::net::TcpListener::from_std(listener)?;
                        crate::api::serve(listener, ctx, async move {
                            let _ = shutdown.wait_for(|s| *s).await;
                        })
                        .await
                    })
                });
            let _ = done_tx.send(result);
        })
        .context("cannot start the admin API thread")?;
    Ok(done_rx)
}

/// The kernel's id of the current boot, new at every boot of the machine;
/// `None` where it cannot be read (no `/proc`).
fn boot_id() -> Option<String> {
    match std::fs::read_to_string("/proc/sys/kernel/random/boot_id") {
        Ok(id) if !id.trim().is_empty() => Some(id.trim().to_string()),
        Ok(_) => None,
        Err(e) => {
            tracing::warn!(
                "cannot read the boot id ({e}): @reboot jobs will run at every start of the daemon"
            );
            None
        }
    }
}
