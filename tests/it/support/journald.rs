//! A real systemd-journald for the journal sink's tests.
//!
//! journald and journalctl use fixed paths (`/run/systemd/journal/socket`,
//! `/run/log/journal`), so the tests that need them take a lock file
//! first: one such test at a time, also across test processes. When a
//! journald already answers on the socket (the tests run on a systemd
//! machine) that one is used; otherwise [`Journald::start`] runs Debian's
//! `/lib/systemd/systemd-journald` as a throwaway server (volatile
//! storage under `/run/log/journal`, as no flush to `/var` is ever asked
//! for), and on drop stops it and removes the folders it made. A machine
//! without it fails the test loudly, naming the package
//! (`scripts/test-deps.sh` installs it).

use std::fs::File;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use nix::fcntl::{Flock, FlockArg};
use serde_json::{Map, Value};

/// The native protocol's socket, where cronduct writes.
pub const SOCKET: &str = "/run/systemd/journal/socket";

const PROGRAMS: [&str; 2] = [
    "/lib/systemd/systemd-journald",
    "/usr/lib/systemd/systemd-journald",
];

/// The folders a throwaway journald makes, removed after it when they
/// were not there before.
const FOLDERS: [&str; 2] = ["/run/systemd/journal", "/run/log/journal"];

/// Held while a test uses the journal's fixed paths.
pub struct JournalLock {
    _lock: Flock<File>,
}

impl JournalLock {
    pub fn take() -> JournalLock {
        let file = File::create(std::env::temp_dir().join("cronduct-tests-journald.lock"))
            .expect("create the journald lock file");
        let lock = Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, e)| e)
            .expect("lock the journald lock file");
        JournalLock { _lock: lock }
    }
}

/// Whether a journald takes entries on the socket now.
pub fn answering() -> bool {
    UnixDatagram::unbound()
        .and_then(|s| s.connect(SOCKET))
        .is_ok()
}

pub struct Journald {
    child: Option<Child>,
    made: Vec<PathBuf>,
    _lock: JournalLock,
}

impl Journald {
    /// A journald to write to and read from: the machine's own, or a
    /// throwaway one.
    pub fn start() -> Journald {
        let lock = JournalLock::take();
        if answering() {
            return Journald {
                child: None,
                made: Vec::new(),
                _lock: lock,
            };
        }
        let program = PROGRAMS
            .iter()
            .find(|p| Path::new(p).exists())
            .unwrap_or_else(|| {
                panic!(
                    "systemd-journald is not installed: the journal sink's tests need it. \
                     Install Debian's `systemd` package (scripts/test-deps.sh does)"
                )
            });
        let made = FOLDERS
            .iter()
            .map(PathBuf::from)
            .filter(|p| !p.exists())
            .collect();
        let child = Command::new(program)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start systemd-journald");
        let mut journald = Journald {
            child: Some(child),
            made,
            _lock: lock,
        };
        let up = super::poll::within(Duration::from_secs(20), || answering().then_some(()));
        if up.is_none() {
            let status = journald.child.as_mut().and_then(|c| c.try_wait().ok());
            panic!("systemd-journald did not open {SOCKET} within 20 s (exit: {status:?})");
        }
        journald
    }

    /// The entries matching `matches` (`FIELD=value`), with all their
    /// fields, oldest first.
    pub fn entries(&self, matches: &[String]) -> Vec<Map<String, Value>> {
        let out = Command::new("journalctl")
            .args(["--output=json", "--all", "--no-pager", "--quiet"])
            .args(matches)
            .output()
            .expect("run journalctl");
        assert!(out.status.success(), "journalctl failed: {out:?}");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| match serde_json::from_str(l) {
                Ok(Value::Object(m)) => m,
                other => panic!("journalctl wrote {l:?}: {other:?}"),
            })
            .collect()
    }

    /// Polls until `n` entries match, then returns them.
    pub fn wait_entries(&self, matches: &[String], n: usize) -> Vec<Map<String, Value>> {
        let mut last = Vec::new();
        super::poll::within(Duration::from_secs(20), || {
            last = self.entries(matches);
            (last.len() >= n).then_some(())
        })
        .unwrap_or_else(|| panic!("{} entries of {n} for {matches:?}", last.len()));
        last
    }
}

impl Drop for Journald {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let _ = child.wait();
        }
        for folder in &self.made {
            let _ = std::fs::remove_dir_all(folder);
        }
    }
}
