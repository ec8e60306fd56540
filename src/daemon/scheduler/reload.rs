//! Reload orchestration: one config read at a time, off the loop; a read
//! overtaken by a file change is redone before anyone is answered.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::Scheduler;
use crate::config::{Config, ConfigErrors, DaemonSettings};
use crate::wire::{LastReload, ReloadDiff};

pub(super) type ReloadResult = Result<Result<Config, ConfigErrors>, tokio::task::JoinError>;

impl Scheduler {
    pub(super) fn begin_reload(&mut self) {
        // A read that begins now sees every change made so far: a file
        // change waiting out its debounce (the API's own write, say) needs
        // no read of its own.
        self.reload_at = None;
        if self.reload_task.is_some() {
            self.reload_again = true;
            return;
        }
        self.reload_task = Some(self.services.hooks.load_config());
    }

    pub(super) fn finish_reload(&mut self, result: ReloadResult) {
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
                crate::daemon::memory::trim_heap();
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
                self.services.hooks.config_refused(&self.config);
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

    /// Applies a new valid config as a diff (see
    /// [`super::timetable::Timetable::reload`]). Running attempts are left
    /// alone whatever happens to their job (a removed job's run finishes
    /// under its old definition). `log_max_size` and `log_keep` take
    /// effect at once; other `[daemon]` changes and `[cluster]` at the
    /// next start. In a cluster the new definitions are published.
    fn apply(&mut self, config: Config, now: chrono::DateTime<chrono::Utc>) -> ReloadDiff {
        for (zone, jobs) in rezoned(&self.config, &config) {
            tracing::info!(
                "time zone {zone}: its rules changed (tz database updated); re-planned {} job{}: {}",
                jobs.len(),
                if jobs.len() == 1 { "" } else { "s" },
                jobs.join(", ")
            );
        }
        let diff = self
            .timetable
            .reload(&config.jobs, now, &self.state.last_scheduled);
        super::watch_unwatched(&mut self.timetable, &mut self.state, now);
        if config.daemon != self.config.daemon {
            if let Err(e) = self.services.run.log.reconfigure(&config.daemon) {
                tracing::warn!("{e}");
            }
            if restart_needed(&self.config.daemon, &config.daemon) {
                tracing::warn!(
                    "changes to [daemon] other than log_max_size, log_keep, admin_key_file, keys and managed_users take effect when the daemon restarts"
                );
            }
        }
        if config.cluster != self.config.cluster {
            tracing::warn!(
                "[cluster] changed: the new settings take effect when the daemon restarts; until then it keeps those it started with"
            );
        }
        if let Some(node) = &self.services.cluster {
            node.set_definitions(crate::cluster::definitions(&config));
        }
        self.services.hooks.config_applied(&config);
        self.config = Arc::new(config);
        diff
    }
}

/// Whether `new` changes a `[daemon]` setting that only a restart applies;
/// the log limits, the API keys (read with each config) and
/// `managed_users` (a rule of the validation) apply at once.
fn restart_needed(old: &DaemonSettings, new: &DaemonSettings) -> bool {
    let applied_at_once = |d: &DaemonSettings| DaemonSettings {
        log_max_size: 0,
        log_keep: 0,
        admin_key_file: None,
        keys: Vec::new(),
        managed_users: Vec::new(),
        ..d.clone()
    };
    applied_at_once(old) != applied_at_once(new)
}

/// The zones whose rules differ between two configs, each with the jobs
/// that keep that zone and so are re-planned for the new rules.
fn rezoned<'a>(old: &Config, new: &'a Config) -> BTreeMap<&'a str, Vec<&'a str>> {
    let mut zones: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (id, job) in &new.jobs {
        if let Some(before) = old.jobs.get(id) {
            if before.timezone.name() == job.timezone.name() && before.timezone != job.timezone {
                zones.entry(job.timezone.name()).or_default().push(id);
            }
        }
    }
    zones
}

/// Waits for the pending config read; never returns without one.
pub(super) async fn wait_reload(
    task: &mut Option<tokio::task::JoinHandle<Result<Config, ConfigErrors>>>,
) -> ReloadResult {
    match task {
        Some(handle) => handle.await,
        None => std::future::pending().await,
    }
}
