//! The daemon's side effects of scheduling: loading the config, following
//! its files, persisting state and sending notices. Only I/O: the
//! scheduler decides (failure streaks included), these carry it out.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;

use super::scheduler::Hooks;
use super::watch::ConfigWatcher;
use crate::api::KeyStore;
use crate::config::{Config, ConfigErrors, Job};
use crate::notify::{Event, Notice, Notifier};
use crate::record::FinishRecord;
use crate::state::{SaveHealth, State};

/// The production [`Hooks`].
pub struct DaemonHooks {
    pub config_path: PathBuf,
    /// The API's keys, re-read with every config that loads.
    pub keys: Arc<KeyStore>,
    pub notifier: Notifier,
    pub watcher: Option<ConfigWatcher>,
    /// Pinged from the scheduler loop, so a stalled loop stops the pings
    /// and systemd's watchdog restarts the daemon.
    pub heartbeat: Option<mpsc::Sender<()>>,
    /// Writes the state snapshots, and retries a failed one.
    pub state: Arc<StateWriter>,
}

/// How long a failed state save waits before it is tried again (with the
/// newest snapshot), so that the error clears by itself once the disk is
/// writable again, even when nothing else changes the state.
pub const STATE_RETRY: Duration = Duration::from_secs(5);

/// The state file's writer: snapshots are numbered so that writes finishing
/// out of order never put an older one over a newer one, and the newest
/// snapshot that failed is kept and retried every [`STATE_RETRY`] until a
/// write succeeds.
pub struct StateWriter {
    dir: PathBuf,
    /// The number of the latest snapshot handed to [`StateWriter::save`].
    generation: AtomicU64,
    /// The number of the latest snapshot on disk (the lock also
    /// serialises writes).
    saved: Mutex<u64>,
    /// The newest snapshot whose write failed, waiting for a retry.
    failed: Mutex<Option<(u64, State)>>,
    /// A retry task is waiting; at most one is.
    retrying: AtomicBool,
    health: SaveHealth,
}

impl StateWriter {
    pub fn new(dir: PathBuf, health: SaveHealth) -> StateWriter {
        StateWriter {
            dir,
            generation: AtomicU64::new(0),
            saved: Mutex::new(0),
            failed: Mutex::new(None),
            retrying: AtomicBool::new(false),
            health,
        }
    }

    /// Writes `snapshot` off the caller's thread (the write syncs to
    /// disk); the handle resolves after this attempt.
    fn save(self: &Arc<Self>, snapshot: State) -> tokio::task::JoinHandle<()> {
        let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        let this = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            if !this.write(generation, snapshot) {
                this.retry_later();
            }
        })
    }

    /// One blocking write of snapshot `generation`; false if it failed.
    /// A snapshot older than what is on disk is not written (and counts
    /// as written).
    fn write(&self, generation: u64, snapshot: State) -> bool {
        let mut saved = self.saved.lock().unwrap_or_else(|e| e.into_inner());
        if *saved >= generation {
            return true;
        }
        match snapshot.save(&self.dir) {
            Ok(()) => {
                *saved = generation;
                let mut failed = self.failed.lock().unwrap_or_else(|e| e.into_inner());
                if failed.as_ref().is_some_and(|(g, _)| *g <= generation) {
                    *failed = None;
                }
                if let Some(was) = self.health.succeeded() {
                    tracing::info!("the daemon state is saved again (after: {was})");
                }
                true
            }
            Err(e) => {
                let path = self.dir.join(crate::state::STATE_FILE);
                let msg = format!("cannot save the daemon state to {}: {e}", path.display());
                if self.health.failed(msg.clone()) {
                    tracing::error!(
                        "{msg}; pauses and last scheduled times changed since will not survive a restart until it can be written (retrying every {}s)",
                        STATE_RETRY.as_secs()
                    );
                }
                let mut failed = self.failed.lock().unwrap_or_else(|e| e.into_inner());
                if failed.as_ref().is_none_or(|(g, _)| *g < generation) {
                    *failed = Some((generation, snapshot));
                }
                false
            }
        }
    }

    /// Starts the retry task unless one is waiting already. Called from a
    /// blocking-pool thread, which is inside the runtime.
    fn retry_later(self: &Arc<Self>) {
        if self.retrying.swap(true, Ordering::SeqCst) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.retrying.store(false, Ordering::SeqCst);
            return;
        };
        let this = Arc::clone(self);
        runtime.spawn(async move {
            loop {
                tokio::time::sleep(STATE_RETRY).await;
                let next = this.failed.lock().unwrap_or_else(|e| e.into_inner()).take();
                let Some((generation, snapshot)) = next else {
                    break;
                };
                let writer = Arc::clone(&this);
                let written =
                    tokio::task::spawn_blocking(move || writer.write(generation, snapshot))
                        .await
                        .unwrap_or(false);
                if written {
                    break;
                }
            }
            this.retrying.store(false, Ordering::SeqCst);
            // A failure that came in between the last look and now.
            if this
                .failed
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .is_some()
            {
                this.retry_later();
            }
        });
    }
}

impl Hooks for DaemonHooks {
    fn load_config(&self) -> tokio::task::JoinHandle<Result<Config, ConfigErrors>> {
        let path = self.config_path.clone();
        let keys = Arc::clone(&self.keys);
        // The keys are read with the config, off the loop, and swapped in
        // before the reload is answered: a client told "reloaded" can use
        // its new key at once. An invalid config changes no key.
        tokio::task::spawn_blocking(move || {
            let config = crate::config::load(&path)?;
            keys.reload(&config.daemon);
            Ok(config)
        })
    }

    fn config_applied(&mut self, config: &Config) {
        if let Some(watcher) = &mut self.watcher {
            watcher.update(config);
        }
        self.notifier.set_smtp(config.smtp.clone());
    }

    fn config_refused(&mut self, kept: &Config) {
        if let Some(watcher) = &mut self.watcher {
            watcher.update(kept);
        }
    }

    fn save_state(&mut self, state: &State) -> tokio::task::JoinHandle<()> {
        self.state.save(state.clone())
    }

    fn run_ended(&mut self, job: Option<&Job>, record: &FinishRecord, notice: Option<Event>) {
        if let (Some(event), Some(job)) = (notice, job) {
            self.notifier.send(
                job,
                Notice::Run {
                    event,
                    record: Box::new(record.clone()),
                },
            );
        }
    }

    fn notice(&mut self, job: &Job, notice: Notice) {
        self.notifier.send(job, notice);
    }

    fn run_started(&mut self, job: &Job, run_id: &str) {
        self.notifier.run_started(job, run_id);
    }

    fn run_finished(&mut self, job: &Job, record: &FinishRecord) {
        self.notifier.run_finished(job, record);
    }

    fn heartbeat(&mut self) {
        if let Some(tx) = &self.heartbeat {
            let _ = tx.try_send(());
        }
    }
}
