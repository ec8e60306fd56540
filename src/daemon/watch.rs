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
//! `notify-debouncer-full` is not used: its debounce thread wakes every
//! `timeout / 4` for as long as the daemon runs, which breaks the promise of
//! zero CPU while idle. The scheduler's own timer debounces instead.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

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
}

impl Interest {
    fn matches(&self, path: &Path) -> bool {
        if self.files.contains(path) {
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
    interest: Arc<Mutex<Interest>>,
    watched: BTreeSet<PathBuf>,
    /// Folders wanted but missing at the last update (a drop-in folder
    /// not created yet), watched through their nearest existing ancestor.
    missing: BTreeSet<PathBuf>,
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
            let interest = filter.lock().unwrap_or_else(|e| e.into_inner());
            if event.paths.iter().any(|p| interest.matches(p)) {
                let _ = changed.try_send(());
            }
        })?;
        let mut this = Self {
            watcher,
            interest,
            watched: BTreeSet::new(),
            missing: BTreeSet::new(),
            changed: signal,
        };
        this.update(config);
        Ok(this)
    }

    /// Follows the set of files of a newly loaded config (includes may
    /// have been added or removed). A directory that cannot be watched is
    /// logged; SIGHUP and the API still reload.
    ///
    /// A folder that does not exist yet (`include = ["jobs.d/*.toml"]`
    /// before anyone made `jobs.d`) is watched through its nearest
    /// existing ancestor, so creating it reloads the config, and this
    /// update then watches the folder itself. Files written into it before
    /// that watch was in place are caught by one more reload.
    pub fn update(&mut self, config: &Config) {
        let mut interest = Interest {
            files: config.files.iter().cloned().collect(),
            include_dirs: config.include_dirs.iter().cloned().collect(),
            crontab_dirs: config.crontab_dirs.iter().cloned().collect(),
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
        let appeared = self.missing.iter().any(|d| present.contains(d));
        let dirs: BTreeSet<PathBuf> = missing
            .iter()
            .filter_map(|d| d.ancestors().find(|a| a.is_dir()).map(Path::to_path_buf))
            .chain(present)
            .collect();
        for gone in self.watched.difference(&dirs) {
            let _ = self.watcher.unwatch(gone);
        }
        for dir in dirs.difference(&self.watched) {
            if let Err(e) = self.watcher.watch(dir, RecursiveMode::NonRecursive) {
                tracing::warn!("cannot watch {} for config changes: {e}", dir.display());
            }
        }
        self.watched = dirs;
        self.missing = missing;
        *self.interest.lock().unwrap_or_else(|e| e.into_inner()) = interest;
        if appeared {
            let _ = self.changed.try_send(());
        }
    }
}
