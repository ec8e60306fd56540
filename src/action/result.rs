//! Job results (cronduct.toml(5), JOB RESULTS): the one JSON object an
//! attempt may report, through the `CRONDUCT_RESULT` file of a command or
//! the response body of an HTTP job with `http.result = true`.
//!
//! Contract:
//! - A result is one JSON object of at most [`MAX_RESULT`] bytes. Anything
//!   else (not JSON, another JSON value, too large, a file that is not a
//!   regular file of the job's user) is no result, with an error saying
//!   why; it never changes the attempt's status.
//! - Each command attempt gets its own directory, created empty before the
//!   process starts (mode 0700, owned by the job's user when the job runs
//!   as another account) and removed with everything in it when the
//!   attempt's outcome is built, or when the attempt is dropped.
//! - The file is read without following a symbolic link and without
//!   blocking on a FIFO, so a job running as another user cannot make the
//!   daemon read (and log) a file that user may not read.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

/// The largest result kept, in bytes.
pub const MAX_RESULT: usize = 64 << 10;

/// The file's name inside an attempt's directory.
const FILE_NAME: &str = "result.json";

/// The directory under which each command attempt gets its result
/// directory: `$RUNTIME_DIRECTORY/results` when systemd provides a runtime
/// directory (`RuntimeDirectory=` in the unit: a tmpfs that the job users
/// can reach, emptied when the service stops), else `<state_dir>/results`.
pub fn results_dir(state_dir: &Path) -> PathBuf {
    // systemd lists several directories separated by colons when the unit
    // names several; the first is the service's own.
    match std::env::var_os("RUNTIME_DIRECTORY") {
        Some(dirs) if !dirs.is_empty() => {
            let dirs = dirs.to_string_lossy().into_owned();
            let first = dirs.split(':').next().unwrap_or_default();
            PathBuf::from(first).join("results")
        }
        _ => state_dir.join("results"),
    }
}

/// Removes what a previous daemon left in the results directory (the
/// directories of attempts it never finished); called once at start-up,
/// before any attempt starts.
pub fn clear_results_dir(dir: &Path) -> Result<(), String> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!(
            "cannot clear the result directory {}: {e}",
            dir.display()
        )),
    }
}

/// A JSON object an attempt reported.
pub type JobResult = Map<String, Value>;

/// What came of an attempt's result: the object, or why there is none.
/// Both `None` when the attempt reported nothing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reported {
    pub result: Option<JobResult>,
    pub error: Option<String>,
}

impl Reported {
    fn error(message: String) -> Reported {
        Reported {
            result: None,
            error: Some(message),
        }
    }
}

/// Reads a result from what the job wrote or the server answered.
pub fn parse(bytes: &[u8]) -> Reported {
    if bytes.len() > MAX_RESULT {
        return Reported::error(format!(
            "the result is larger than {} KiB",
            MAX_RESULT >> 10
        ));
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Reported {
            result: Some(map),
            error: None,
        },
        Ok(other) => Reported::error(format!(
            "the result must be a JSON object, not {}",
            kind(&other)
        )),
        Err(e) => Reported::error(format!("the result is not valid JSON: {e}")),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The numeric top-level fields of a result, the ones stats and metrics
/// count: integers and floats; booleans, strings, arrays and nested
/// objects are left out.
pub fn numbers(result: &JobResult) -> impl Iterator<Item = (&str, f64)> {
    result
        .iter()
        .filter_map(|(k, v)| Some((k.as_str(), v.as_f64()?)))
}

/// An attempt's private result directory; removed when dropped.
#[derive(Debug)]
pub(super) struct ResultDir {
    dir: PathBuf,
    file: PathBuf,
    /// The uid that must own the file: the job's user when it is not the
    /// daemon's own.
    owner: Option<u32>,
}

impl ResultDir {
    /// Creates `<base>/<run_id>.<attempt>`, owned by `owner` (uid, gid)
    /// when given. `base` is created too (mode 0711: the job users can
    /// reach their own directory but not list the others).
    pub(super) fn create(
        base: &Path,
        run_id: &str,
        attempt: u32,
        owner: Option<(u32, u32)>,
    ) -> Result<ResultDir, String> {
        let describe = |what: &str, path: &Path, e: &dyn std::fmt::Display| {
            format!(
                "cannot create the result directory {}: {what}: {e}",
                path.display()
            )
        };
        let dir = base.join(format!("{run_id}.{attempt}"));
        let make = || std::fs::DirBuilder::new().mode(0o700).create(&dir);
        // Usually `base` is there and the attempt's directory is not: one
        // mkdir, on the way to the job's start (each syscall here delays it).
        match make() {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o711)
                    .create(base)
                    .map_err(|e| describe("creating it", base, &e))?;
                make().map_err(|e| describe("creating it", &dir, &e))?;
            }
            // A directory left by a crashed daemon for the same attempt is
            // not reused: its content is not this attempt's.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                std::fs::remove_dir_all(&dir)
                    .map_err(|e| describe("removing an old one", &dir, &e))?;
                make().map_err(|e| describe("creating it", &dir, &e))?;
            }
            Err(e) => return Err(describe("creating it", &dir, &e)),
        }
        let made = ResultDir {
            file: dir.join(FILE_NAME),
            dir,
            owner: owner.map(|(uid, _)| uid),
        };
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(&made.dir, Some(uid), Some(gid))
                .map_err(|e| describe("giving it to the job's user", &made.dir, &e))?;
        }
        Ok(made)
    }

    /// The path the job sees as `CRONDUCT_RESULT`.
    pub(super) fn file(&self) -> &Path {
        &self.file
    }

    /// Reads what the attempt left, then removes the directory.
    pub(super) fn take(self) -> Reported {
        match self.open() {
            Ok(None) => Reported::default(),
            Ok(Some(bytes)) => parse(&bytes),
            Err(message) => Reported::error(message),
        }
    }

    fn open(&self) -> Result<Option<Vec<u8>>, String> {
        let file = match File::options()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(&self.file)
        {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                return Err("the result file is a symbolic link".to_string());
            }
            Err(e) => return Err(format!("cannot read the result file: {e}")),
        };
        let meta = file
            .metadata()
            .map_err(|e| format!("cannot read the result file: {e}"))?;
        if !meta.is_file() {
            return Err("the result file is not a regular file".to_string());
        }
        if self.owner.is_some_and(|uid| meta.uid() != uid) {
            return Err("the result file is not owned by the job's user".to_string());
        }
        // One byte more than allowed tells "too large" without reading a
        // huge file into memory.
        let mut bytes = Vec::new();
        file.take(MAX_RESULT as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| format!("cannot read the result file: {e}"))?;
        Ok(Some(bytes))
    }
}

impl Drop for ResultDir {
    fn drop(&mut self) {
        // Nothing to report to: a directory that cannot be removed is
        // logged, and the next attempt has its own.
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(path = %self.dir.display(), error = %e, "cannot remove a result directory");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_are_json_objects_of_at_most_64_kib() {
        let ok = parse(br#"{"removed": 12, "hit_rate": 0.93}"#);
        assert_eq!(ok.error, None);
        let map = ok.result.expect("an object");
        assert_eq!(map["removed"], 12);
        let cases: [(&[u8], &str); 4] = [
            (b"[1, 2]", "the result must be a JSON object, not an array"),
            (b"42", "the result must be a JSON object, not a number"),
            (
                b"{\"a\": ",
                "the result is not valid JSON: EOF while parsing",
            ),
            (b"", "the result is not valid JSON: EOF while parsing"),
        ];
        for (input, want) in cases {
            let got = parse(input);
            assert_eq!(got.result, None);
            let error = got.error.expect("an error");
            assert!(error.starts_with(want), "{error}");
        }
        let object = |len: usize| {
            let mut v = br#"{"pad": ""#.to_vec();
            v.resize(len - 2, b'x');
            v.extend(b"\"}");
            v
        };
        assert!(parse(&object(MAX_RESULT)).result.is_some());
        assert_eq!(
            parse(&object(MAX_RESULT + 1)).error.as_deref(),
            Some("the result is larger than 64 KiB")
        );
    }

    #[test]
    fn only_top_level_numbers_count() {
        let Some(result) = parse(
            br#"{"n": 3, "f": -0.5, "b": true, "s": "7", "o": {"x": 1}, "a": [1], "z": null}"#,
        )
        .result
        else {
            panic!("an object");
        };
        let got: Vec<(&str, f64)> = numbers(&result).collect();
        assert_eq!(got, [("f", -0.5), ("n", 3.0)]);
    }

    #[test]
    fn the_directory_is_private_and_removed_after_reading() {
        let base = tempfile::tempdir().expect("temp dir");
        let root = base.path().join("results");
        let dir = ResultDir::create(&root, "run-1", 2, None).expect("created");
        let parent = dir.file().parent().expect("a parent").to_path_buf();
        assert_eq!(parent, root.join("run-1.2"));
        let mode = |p: &Path| std::fs::metadata(p).expect("stat").mode() & 0o777;
        assert_eq!(mode(&root), 0o711);
        assert_eq!(mode(&parent), 0o700);
        std::fs::write(dir.file(), r#"{"ok": 1}"#).expect("write");
        let got = dir.take();
        assert_eq!(got.error, None);
        assert!(got.result.is_some());
        assert!(!parent.exists());
    }

    #[test]
    fn a_directory_left_for_the_same_attempt_is_replaced() {
        let base = tempfile::tempdir().expect("temp dir");
        let left = base.path().join("run-1.1");
        std::fs::create_dir(&left).expect("mkdir");
        std::fs::write(left.join(FILE_NAME), r#"{"old": 1}"#).expect("write");
        let dir = ResultDir::create(base.path(), "run-1", 1, None).expect("created");
        assert!(!dir.file().exists(), "the old result is gone");
        let got = dir.take();
        assert!(got.result.is_none());
        assert_eq!(got.error, None);
    }

    #[test]
    fn a_link_or_a_fifo_is_not_followed() {
        let base = tempfile::tempdir().expect("temp dir");
        let secret = base.path().join("secret");
        std::fs::write(&secret, r#"{"secret": 1}"#).expect("write");
        let dir = ResultDir::create(base.path(), "run-1", 1, None).expect("created");
        std::os::unix::fs::symlink(&secret, dir.file()).expect("symlink");
        assert_eq!(
            dir.take().error.as_deref(),
            Some("the result file is a symbolic link")
        );
        let dir = ResultDir::create(base.path(), "run-1", 2, None).expect("created");
        nix::unistd::mkfifo(dir.file(), nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
        assert_eq!(
            dir.take().error.as_deref(),
            Some("the result file is not a regular file")
        );
    }
}
