//! What survives a restart (cronduct-run(1)): pause flags with their reasons
//! and ends, the last scheduled instant of each job, and what notifications
//! need to know about past runs. Stored as `<state_dir>/state.json`.
//!
//! Loading never refuses to start the daemon because of the file's
//! contents: a missing file is an empty state, and a corrupt one is moved
//! aside (`state.json.corrupt-<UTC time>`) with a warning and replaced by
//! an empty state. Saving is atomic: a temporary file in the same
//! directory is written and synced, renamed over `state.json`, and the
//! directory is synced, so a crash leaves either the old or the new file.
//! Only the scheduler task saves (it owns the state), so the temporary
//! file has a fixed name, `state.json.tmp`.
//!
//! Unknown fields are ignored and missing ones take their defaults, so a
//! file written by another version loads. That is why a pause is kept in
//! two fields: `paused`, the set of paused ids that every version reads,
//! and `pauses`, the details (reason, end, who, when) of those pauses. A
//! file from a version without `pauses` loads as pauses without details;
//! an older version reading a newer file keeps the jobs paused and drops
//! the details (a timed pause then lasts until it is resumed by hand).

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::wire::Pause;

/// The file name inside the state directory.
pub const STATE_FILE: &str = "state.json";
const TEMP_FILE: &str = "state.json.tmp";
/// The format version written into the file.
const VERSION: u32 = 1;

/// The persisted state. Keyed by job id; entries of jobs that are no
/// longer configured are harmless and may be pruned by the owner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct State {
    /// The format version (1).
    pub version: u32,
    /// Jobs paused through the API or CLI. Changed only through
    /// [`State::pause`] and [`State::resume`], which keep `pauses` in step.
    pub paused: BTreeSet<String>,
    /// The details of the pauses in `paused` (a subset of its ids: a pause
    /// made by an older version has none).
    pub pauses: BTreeMap<String, Pause>,
    /// The scheduled instant of each job's last scheduled run, so a restart
    /// neither repeats it nor (with `catch_up`) misses the ones in between.
    #[serde(with = "ts_map")]
    pub last_scheduled: BTreeMap<String, DateTime<Utc>>,
    /// Failed runs in a row (final status failed, timeout, error or lost),
    /// for `notify.after` and the API; 0 or absent after a success.
    pub consecutive_failures: BTreeMap<String, u32>,
    /// Jobs whose current streak of failures has had its failure notice
    /// (the streak reached `notify.after`), so that a "recovery" notice
    /// follows only a failure that was announced.
    pub failure_notified: BTreeSet<String>,
    /// When each job's last successful run finished: the start of its
    /// `expect_success_within` window after a restart.
    #[serde(with = "ts_map")]
    pub last_success: BTreeMap<String, DateTime<Utc>>,
    /// For jobs with `expect_success_within`: when the job was first
    /// loaded, or last resumed or enabled. The window counts from the later
    /// of this and `last_success`.
    #[serde(with = "ts_map")]
    pub watched_since: BTreeMap<String, DateTime<Utc>>,
    /// The kernel's boot id (`/proc/sys/kernel/random/boot_id`) when the
    /// daemon last started: `@reboot` jobs run only at the first start
    /// under a boot id not seen before, as Debian's cron runs them once
    /// per boot, not on every restart of the daemon.
    pub boot_id: Option<String>,
}

impl Default for State {
    fn default() -> Self {
        State {
            version: VERSION,
            paused: BTreeSet::new(),
            pauses: BTreeMap::new(),
            last_scheduled: BTreeMap::new(),
            consecutive_failures: BTreeMap::new(),
            failure_notified: BTreeSet::new(),
            last_success: BTreeMap::new(),
            watched_since: BTreeMap::new(),
            boot_id: None,
        }
    }
}

/// A state file that could not be read or written; names the path and the
/// operation.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("{op} {path}: {source}", path = path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("serialising the state for {path}: {source}", path = path.display())]
    Serialize {
        path: PathBuf,
        source: serde_json::Error,
    },
}

/// Whether the state file could be written the last time it was tried,
/// shared between the writer and the API: while a save fails (a read-only
/// or full disk), `/health` is `degraded` and `GET /api/v1/status` shows
/// the error, since pauses and last scheduled times made meanwhile would
/// be lost at a restart.
#[derive(Debug, Clone, Default)]
pub struct SaveHealth(Arc<Mutex<Option<String>>>);

impl SaveHealth {
    /// A save failed with `error`; answers whether it is a new error (not
    /// the one already reported), so it is logged once.
    pub fn failed(&self, error: String) -> bool {
        let mut current = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let new = current.as_ref() != Some(&error);
        *current = Some(error);
        new
    }

    /// A save succeeded; answers the error it ends, if there was one.
    pub fn succeeded(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// The error of the latest save, while saves fail.
    pub fn error(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

fn io_err(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> StateError {
    let path = path.to_path_buf();
    move |source| StateError::Io { op, path, source }
}

impl State {
    /// Pauses `id`, replacing any pause it was under.
    pub fn pause(&mut self, id: &str, pause: Pause) {
        self.paused.insert(id.to_string());
        self.pauses.insert(id.to_string(), pause);
    }

    /// Ends `id`'s pause; answers the pause it ended, if it was paused.
    pub fn resume(&mut self, id: &str) -> Option<Pause> {
        let details = self.pauses.remove(id);
        self.paused.remove(id).then(|| details.unwrap_or_default())
    }

    /// `id`'s pause, if it is paused (with empty details for a pause that
    /// an older version recorded).
    pub fn pause_of(&self, id: &str) -> Option<Pause> {
        self.paused
            .contains(id)
            .then(|| self.pauses.get(id).cloned().unwrap_or_default())
    }

    /// Loads `<state_dir>/state.json`. A missing file gives the default
    /// state; a file that does not parse is renamed to
    /// `state.json.corrupt-<now>` and the default state returned, with a
    /// warning. Errs only when the file exists but cannot be read.
    pub fn load(state_dir: &Path, now: DateTime<Utc>) -> Result<State, StateError> {
        let path = state_dir.join(STATE_FILE);
        let text = match fs::read(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(State::default()),
            Err(e) => return Err(io_err("reading", &path)(e)),
        };
        match serde_json::from_slice::<State>(&text) {
            Ok(mut state) => {
                // Details without a pause (a hand-edited file) are dropped,
                // so `pauses` stays a subset of `paused`.
                let State { paused, pauses, .. } = &mut state;
                pauses.retain(|id, _| paused.contains(id));
                Ok(state)
            }
            Err(e) => {
                let aside = state_dir.join(format!(
                    "{STATE_FILE}.corrupt-{}",
                    now.format("%Y%m%dT%H%M%S%.3fZ")
                ));
                match fs::rename(&path, &aside) {
                    Ok(()) => tracing::warn!(
                        path = %path.display(),
                        "the state file is corrupt ({e}); moved it to {} and starting with an empty state (no pauses, no last runs)",
                        aside.display()
                    ),
                    Err(re) => tracing::warn!(
                        path = %path.display(),
                        "the state file is corrupt ({e}) and could not be moved aside ({re}); starting with an empty state, which will overwrite it"
                    ),
                }
                Ok(State::default())
            }
        }
    }

    /// Writes `<state_dir>/state.json` atomically, creating the directory
    /// (mode 0755) if needed. Blocking (it syncs to disk); on error the
    /// previous file is untouched.
    pub fn save(&self, state_dir: &Path) -> Result<(), StateError> {
        DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(state_dir)
            .map_err(io_err("creating the state directory", state_dir))?;
        let path = state_dir.join(STATE_FILE);
        let temp = state_dir.join(TEMP_FILE);
        let mut body = serde_json::to_vec_pretty(self).map_err(|source| StateError::Serialize {
            path: path.clone(),
            source,
        })?;
        body.push(b'\n');
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            .open(&temp)
            .map_err(io_err("creating", &temp))?;
        file.write_all(&body).map_err(io_err("writing", &temp))?;
        file.sync_all().map_err(io_err("syncing", &temp))?;
        drop(file);
        fs::rename(&temp, &path).map_err(io_err("renaming the new state over", &path))?;
        File::open(state_dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err("syncing the state directory", state_dir))
    }
}

/// `BTreeMap<String, DateTime<Utc>>` with the log's timestamp format.
mod ts_map {
    use std::collections::BTreeMap;

    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    struct Ts(#[serde(with = "crate::record::ts")] DateTime<Utc>);

    pub fn serialize<S: Serializer>(
        map: &BTreeMap<String, DateTime<Utc>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_map(map.iter().map(|(k, v)| (k, Ts(*v))))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<String, DateTime<Utc>>, D::Error> {
        let map = BTreeMap::<String, Ts>::deserialize(d)?;
        Ok(map.into_iter().map(|(k, Ts(v))| (k, v)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 29, 1, 2, 3)
            .single()
            .expect("valid")
    }

    fn sample() -> State {
        let mut s = State::default();
        s.pause("db-backup", Pause::default());
        s.pause(
            "report",
            Pause {
                reason: Some("disk replacement".into()),
                until: Some(now() + chrono::Duration::hours(2)),
                by: Some("default".into()),
                at: Some(now()),
            },
        );
        s.last_scheduled.insert("db-backup".into(), now());
        s.consecutive_failures.insert("gateway".into(), 3);
        s.failure_notified.insert("gateway".into());
        s
    }

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state_dir = dir.path().join("nested/state");
        sample().save(&state_dir).expect("save");
        assert_eq!(State::load(&state_dir, now()).expect("load"), sample());
        let text = fs::read_to_string(state_dir.join(STATE_FILE)).expect("read");
        assert!(
            text.contains("\"db-backup\": \"2026-03-29T01:02:03.000Z\""),
            "{text}"
        );
        assert!(!state_dir.join(TEMP_FILE).exists());
    }

    #[test]
    fn pauses_stay_readable_as_the_old_set_of_ids() {
        let dir = tempfile::tempdir().expect("tempdir");
        sample().save(dir.path()).expect("save");
        let text = fs::read_to_string(dir.path().join(STATE_FILE)).expect("read");
        let doc: serde_json::Value = serde_json::from_str(&text).expect("json");
        // What an older version reads: every paused id, in the old field.
        assert_eq!(doc["paused"], serde_json::json!(["db-backup", "report"]));
        assert_eq!(
            doc["pauses"]["report"],
            serde_json::json!({
                "reason": "disk replacement",
                "until": "2026-03-29T03:02:03.000Z",
                "by": "default",
                "at": "2026-03-29T01:02:03.000Z",
            })
        );
    }

    #[test]
    fn an_old_files_pauses_load_without_details() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::write(
            dir.path().join(STATE_FILE),
            // As versions before `pauses` wrote it, plus details of a job no
            // longer paused (hand-edited), which are dropped.
            br#"{"version": 1, "paused": ["x"], "pauses": {"y": {"reason": "gone"}}}"#,
        )
        .expect("write");
        let mut s = State::load(dir.path(), now()).expect("load");
        assert_eq!(s.pause_of("x"), Some(Pause::default()));
        assert_eq!(s.pause_of("y"), None);
        assert!(s.pauses.is_empty());
        assert_eq!(s.resume("x"), Some(Pause::default()));
        assert_eq!(s.resume("x"), None);
        assert!(s.paused.is_empty());
    }

    #[test]
    fn missing_file_is_the_empty_state() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(
            State::load(dir.path(), now()).expect("load"),
            State::default()
        );
    }

    #[test]
    fn corrupt_file_is_moved_aside_and_the_state_starts_empty() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(STATE_FILE);
        fs::write(&path, b"{\"paused\": [\"a\"").expect("write");
        assert_eq!(
            State::load(dir.path(), now()).expect("load"),
            State::default()
        );
        assert!(!path.exists());
        let aside = dir.path().join("state.json.corrupt-20260329T010203.000Z");
        assert_eq!(
            fs::read(&aside).expect("moved aside"),
            b"{\"paused\": [\"a\""
        );
    }

    #[test]
    fn unknown_and_missing_fields_are_tolerated() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::write(
            dir.path().join(STATE_FILE),
            // `last_outcome` was written by earlier versions.
            br#"{"paused": ["x"], "last_outcome": {"gateway": "timeout"}, "from_the_future": 1}"#,
        )
        .expect("write");
        let s = State::load(dir.path(), now()).expect("load");
        assert!(s.paused.contains("x"));
        assert!(s.last_scheduled.is_empty());
    }

    #[test]
    fn a_failed_save_leaves_the_old_file_intact() {
        let dir = tempfile::tempdir().expect("tempdir");
        sample().save(dir.path()).expect("first save");
        let before = fs::read(dir.path().join(STATE_FILE)).expect("read");
        // A directory where the temporary file must go makes the write fail
        // even as root.
        fs::create_dir(dir.path().join(TEMP_FILE)).expect("mkdir");
        let err = State::default()
            .save(dir.path())
            .expect_err("save must fail");
        let msg = err.to_string();
        assert!(msg.contains("creating") && msg.contains(TEMP_FILE), "{msg}");
        assert_eq!(fs::read(dir.path().join(STATE_FILE)).expect("read"), before);
        assert_eq!(State::load(dir.path(), now()).expect("load"), sample());
    }

    #[test]
    fn an_unreadable_state_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::create_dir(dir.path().join(STATE_FILE)).expect("mkdir");
        let msg = State::load(dir.path(), now())
            .expect_err("a directory cannot be read")
            .to_string();
        assert!(msg.contains("reading") && msg.contains(STATE_FILE), "{msg}");
    }
}
