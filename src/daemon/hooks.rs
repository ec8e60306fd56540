//! The daemon's side effects of scheduling: loading the config, following
//! its files, persisting state and sending notices. Kept apart from the
//! scheduler so its decisions can be tested with a recording fake.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use super::scheduler::Hooks;
use super::watch::ConfigWatcher;
use crate::config::{Config, ConfigErrors, Job, Notify, NotifyOn};
use crate::notify::{Notifier, NotifyState, decide};
use crate::record::FinishRecord;
use crate::state::State;

/// The production [`Hooks`].
pub struct DaemonHooks {
    pub config_path: PathBuf,
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

impl Hooks for DaemonHooks {
    fn load_config(&self) -> tokio::task::JoinHandle<Result<Config, ConfigErrors>> {
        let path = self.config_path.clone();
        tokio::task::spawn_blocking(move || crate::config::load(&path))
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

    fn run_finished(&mut self, job: Option<&Job>, record: &FinishRecord, state: &mut State) {
        let id = &record.job;
        let mut notify_state = NotifyState {
            consecutive_failures: state.consecutive_failures.get(id).copied().unwrap_or(0),
            failure_notified: state.failure_notified.contains(id),
        };
        let settings = job.and_then(|j| j.notify.as_ref()).unwrap_or(&SILENT);
        let event = decide(settings, record.status, &mut notify_state);
        if notify_state.consecutive_failures == 0 {
            state.consecutive_failures.remove(id);
        } else {
            state
                .consecutive_failures
                .insert(id.clone(), notify_state.consecutive_failures);
        }
        if notify_state.failure_notified {
            state.failure_notified.insert(id.clone());
        } else {
            state.failure_notified.remove(id);
        }
        if let (Some(event), Some(job)) = (event, job) {
            self.notifier.send(job, event, record);
        }
    }

    fn heartbeat(&mut self) {
        if let Some(tx) = &self.heartbeat {
            let _ = tx.try_send(());
        }
    }
}
