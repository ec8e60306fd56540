//! The daemon's side effects of scheduling: loading the config, following
//! its files, persisting state and sending notices. Only I/O: the
//! scheduler decides (failure streaks included), these carry it out.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use super::scheduler::Hooks;
use super::watch::ConfigWatcher;
use crate::api::KeyStore;
use crate::config::{Config, ConfigErrors, Job};
use crate::notify::{Event, Notice, Notifier};
use crate::record::FinishRecord;
use crate::state::State;

/// The production [`Hooks`].
pub struct DaemonHooks {
    pub config_path: PathBuf,
    /// The API's keys, re-read with every config that loads.
    pub keys: Arc<KeyStore>,
    pub state_dir: PathBuf,
    pub notifier: Notifier,
    pub watcher: Option<ConfigWatcher>,
    /// Pinged from the scheduler loop, so a stalled loop stops the pings
    /// and systemd's watchdog restarts the daemon.
    pub heartbeat: Option<mpsc::Sender<()>>,
    /// The number of the latest state snapshot handed to a writer...
    pub save_generation: u64,
    /// ...and of the latest one on disk (the lock also serialises writes).
    pub saved_generation: Arc<Mutex<u64>>,
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

    fn save_state(&mut self, state: &State) -> tokio::task::JoinHandle<()> {
        let dir = self.state_dir.clone();
        let snapshot = state.clone();
        self.save_generation += 1;
        let generation = self.save_generation;
        let written = Arc::clone(&self.saved_generation);
        // The write syncs to disk, so it runs off the scheduler's thread.
        // Writes may finish out of order; the generation check keeps an
        // older snapshot from overwriting a newer one.
        tokio::task::spawn_blocking(move || {
            let mut last = written.lock().unwrap_or_else(|e| e.into_inner());
            if *last >= generation {
                return;
            }
            match snapshot.save(&dir) {
                Ok(()) => *last = generation,
                Err(e) => tracing::error!("cannot save the daemon state: {e}"),
            }
        })
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
