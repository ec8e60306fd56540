//! Noticing edits to the config file and its includes, and to the zone
//! files of the jobs' time zones (a tzdata update): either reloads the
//! configuration, which re-reads the zones.
//!
//! We watch the *directories* that hold the files, not the files: editors
//! and config-management tools write a new file and rename it over the
//! old one, after which a watch on the old inode goes silent. Events are
//! filtered to the files that matter and forwarded as a bare "something
//! changed" signal; the scheduler debounces them so a file caught halfway
//! through a write is re-read once the writer is done.
//!
//! A watched folder that is removed or moved away (`rm -rf /etc/cronduct`
//! and a fresh `mkdir`, as configuration management does) loses its watch;
//! the folder is then watched through its nearest existing ancestor until
//! it is back, and watched again once it is. Every reload re-adds each
//! folder's watch, so a SIGHUP also recovers from what inotify does not
//! report, like a bind mount replaced over the folder.
//!
//! `notify-debouncer-full` is not used: its debounce thread wakes every
//! `timeout / 4` for as long as the daemon runs, which breaks the promise of
//! zero CPU while idle. The scheduler's own timer debounces instead.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use notify::event::ModifyKind;
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;

use crate::config::Config;

/// Which paths count as the configuration.
#[derive(Debug, Default)]
struct Interest {
    files: BTreeSet<PathBuf>,
    include_dirs: BTreeSet<PathBuf>,
    /// Folders of `crontabs` globs, where a new file has no extension.
    crontab_dirs: BTreeSet<PathBuf>,
    /// The folders watched, and those wanted but missing (see
    /// [`ConfigWatcher::update`]).
    watched: BTreeSet<PathBuf>,
    missing: BTreeSet<PathBuf>,
    /// Watched folders removed or moved away since the last update: their
    /// watch is gone (or follows the moved folder), whatever now sits at
    /// their path is not watched.
    lost: BTreeSet<PathBuf>,
}

impl Interest {
    fn matches(&self, path: &Path) -> bool {
        if self.files.contains(path) || self.watched.contains(path) {
            return true;
        }
        // A missing folder, or one on the way to it, appearing.
        if self.missing.iter().any(|d| d.starts_with(path)) {
            return true;
        }
        // An include folder, or a folder on the way to one, appearing or
        // going away changes what the include globs match.
        if self
            .include_dirs
            .iter()
            .chain(&self.crontab_dirs)
            .any(|d| d.starts_with(path))
        {
            return true;
        }
        let in_dir = |dirs: &BTreeSet<PathBuf>| path.parent().is_some_and(|p| dirs.contains(p));
        let is_toml = path.extension().is_some_and(|e| e == "toml");
        // Any file whose name cron would read, so an editor's swap file
        // or a `.dpkg-new` does not reload.
        let is_crontab = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(crate::crontab::cron_d_name_ok);
        (is_toml && in_dir(&self.include_dirs)) || (is_crontab && in_dir(&self.crontab_dirs))
    }
}

/// Watches the directories of the config files; dropping it stops watching.
pub struct ConfigWatcher {
    watcher: RecommendedWatcher,
    /// Shared with the event callback, which reads it to filter events and
    /// records lost watches in it.
    interest: Arc<Mutex<Interest>>,
    changed: mpsc::Sender<()>,
}

impl ConfigWatcher {
    /// Starts watching `config`'s files; each relevant change sends `()`
    /// on `changed` (a full channel already holds a pending change).
    pub fn start(config: &Config, changed: mpsc::Sender<()>) -> notify::Result<Self> {
        let interest = Arc::new(Mutex::new(Interest::default()));
        let filter = Arc::clone(&interest);
        let signal = changed.clone();
        let watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            let Ok(event) = res else {
                // Overflow or a watch error: re-reading is always safe.
                let _ = changed.try_send(());
                return;
            };
            if matches!(event.kind, EventKind::Access(_)) {
                return;
            }
            let mut interest = filter.lock().unwrap_or_else(|e| e.into_inner());
            if matches!(
                event.kind,
                EventKind::Remove(_) | EventKind::Modify(ModifyKind::Name(_))
            ) {
                for path in &event.paths {
                    if interest.watched.contains(path) {
                        interest.lost.insert(path.clone());
                    }
                }
            }
            if event.paths.iter().any(|p| interest.matches(p)) {
                let _ = changed.try_send(());
            }
        })?;
        let mut this = Self {
            watcher,
            interest,
            changed: signal,
        };
        this.update(config);
        Ok(this)
    }

    /// Follows the set of files of a newly loaded config (includes may
    /// have been added or removed), or of the config kept after a refused
    /// reload (its folder may have been removed). A directory that cannot
    /// be watched is logged; SIGHUP and the API still reload.
    ///
    /// A folder that does not exist (yet, or any more: `include =
    /// ["jobs.d/*.toml"]` before anyone made `jobs.d`, a config folder
    /// removed) is watched through its nearest existing ancestor, so
    /// creating it reloads the config, and this update then watches the
    /// folder itself. Files written into it before that watch was in place
    /// are caught by one more reload. Each folder's watch is added again
    /// on every update, so one whose inode changed under it is followed.
    pub fn update(&mut self, config: &Config) {
        let mut interest = Interest {
            files: config.files.iter().cloned().collect(),
            include_dirs: config.include_dirs.iter().cloned().collect(),
            crontab_dirs: config.crontab_dirs.iter().cloned().collect(),
            ..Interest::default()
        };
        // The main file may be missing or renamed away mid-edit; keep it.
        interest.files.insert(config.path.clone());
        // The jobs' zone files, and what a link like /etc/localtime points
        // to: a tzdata update replaces the file the link leads to.
        for file in config.zone_files() {
            interest.files.insert(file.to_path_buf());
            if let Ok(target) = std::fs::canonicalize(file) {
                interest.files.insert(target);
            }
        }
        let wanted: BTreeSet<PathBuf> = interest
            .files
            .iter()
            .filter_map(|f| f.parent().map(Path::to_path_buf))
            .chain(interest.include_dirs.iter().cloned())
            .chain(interest.crontab_dirs.iter().cloned())
            .collect();
        let (present, missing): (BTreeSet<PathBuf>, BTreeSet<PathBuf>) =
            wanted.into_iter().partition(|d| d.is_dir());
        let dirs: BTreeSet<PathBuf> = missing
            .iter()
            .filter_map(|d| d.ancestors().find(|a| a.is_dir()).map(Path::to_path_buf))
            .chain(present.iter().cloned())
            .collect();
        // The lock is not held while (un)watching: the watcher waits for its
        // event thread, which may be waiting for the lock in the callback.
        let (watched, was_missing, lost) = {
            let shared = self.interest.lock().unwrap_or_else(|e| e.into_inner());
            (
                shared.watched.clone(),
                shared.missing.clone(),
                shared.lost.clone(),
            )
        };
        // A folder back at its path (made again, or first made) may have
        // received files before it was watched.
        let appeared = was_missing.iter().chain(&lost).any(|d| present.contains(d));
        for gone in watched.difference(&dirs) {
            let _ = self.watcher.unwatch(gone);
        }
        for dir in &dirs {
            // The watch of a folder moved away follows it: drop it before
            // watching what is at the path now.
            if lost.contains(dir) {
                let _ = self.watcher.unwatch(dir);
            }
            if let Err(e) = self.watcher.watch(dir, RecursiveMode::NonRecursive) {
                tracing::warn!("cannot watch {} for config changes: {e}", dir.display());
            }
        }
        interest.watched = dirs;
        interest.missing = missing;
        let mut shared = self.interest.lock().unwrap_or_else(|e| e.into_inner());
        // Folders lost while this update ran stay lost for the next one.
        interest.lost = shared.lost.difference(&lost).cloned().collect();
        *shared = interest;
        drop(shared);
        if appeared {
            let _ = self.changed.try_send(());
        }
    }
}
