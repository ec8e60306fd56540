//! Collecting the exit status of every job process, so none is left a
//! zombie — also when cronduct is PID 1 in a container.
//!
//! # Design
//!
//! One reaper thread for the whole process runs a tiny single-threaded
//! tokio runtime whose only task waits for `SIGCHLD` and then sweeps. It
//! is a thread of its own, not a task on the caller's runtime, so that it
//! outlives any one runtime (tests start many) and never competes with job
//! work for a worker.
//!
//! Attempts are started through [`spawn`], which creates the child and
//! then registers its pid with a oneshot sender. Spawns do not exclude one
//! another, so several threads may start children at the same time; the
//! registry lock is held only for map updates, never across a fork or an
//! exec. A child that exits before it is registered is not lost: right
//! after registering, [`spawn`] looks for its exit status once itself (a
//! sweep that ran in between skipped the then unknown pid, and its
//! `SIGCHLD` is spent). Every `wait4` for a registered pid happens under
//! the registry lock, so a status is never taken twice.
//!
//! What a sweep waits for depends on who gets orphans:
//! - Normally (not PID 1, not a child subreaper) orphaned grandchildren go
//!   to init, so the only children that matter are our own attempts: a
//!   sweep finds exited children with `waitid(P_ALL, WNOWAIT)`, which
//!   leaves their status in place, reaps those that are registered with
//!   `wait4(pid, WNOHANG)`, and leaves every other child of the process
//!   alone. Code elsewhere in the process that runs
//!   `std::process::Command::output()` keeps working. A sweep thus costs
//!   what exited, not what runs (with thousands of long jobs running,
//!   asking each registered pid made every exit cost thousands of calls).
//!   Each registered pid is asked only when the peek cannot tell: an
//!   exited child that is not registered hides the others from it, or
//!   `SIGCHLD` came and nothing had exited (someone else took a status,
//!   which the attempt must be told).
//! - As PID 1 (or a child subreaper, `PR_SET_CHILD_SUBREAPER`) orphans are
//!   re-parented to us and only we can reap them, so a sweep loops
//!   `wait4(-1, WNOHANG)`: statuses of registered pids go to their
//!   attempts, all others (orphans) are discarded. Such a sweep excludes
//!   spawns (a read-write gate: spawns share it, the sweep takes it
//!   alone), so it never takes the status of a child that is not yet
//!   registered, nor that of a child whose `exec` failed, which the
//!   spawning call waits for itself. In this mode **the reaper owns every
//!   child of the process**: nothing else in cronduct may spawn and wait
//!   for children itself (tokio::process included; it would race for the
//!   same statuses).

use std::collections::BTreeMap;
use std::io;
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError, RwLock};

use tokio::sync::oneshot;

use super::Usage;

/// A raw wait status, as `wait4` returns it, with the resources the
/// process used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WaitStatus {
    raw: libc::c_int,
    usage: Usage,
}

impl WaitStatus {
    /// The exit code, when the process exited by itself.
    pub(crate) fn code(self) -> Option<i32> {
        libc::WIFEXITED(self.raw).then(|| libc::WEXITSTATUS(self.raw))
    }

    /// The number of the signal that killed the process.
    pub(crate) fn signal(self) -> Option<i32> {
        libc::WIFSIGNALED(self.raw).then(|| libc::WTERMSIG(self.raw))
    }

    /// What the process and the descendants it waited for used: the
    /// kernel adds a reaped child's figures to its parent's, so a shell
    /// that runs a program and waits for it reports both. Descendants
    /// that nobody waited for (daemonised ones) are not counted.
    pub(crate) fn usage(self) -> Usage {
        self.usage
    }
}

impl From<&libc::rusage> for Usage {
    fn from(ru: &libc::rusage) -> Usage {
        let ms = |tv: libc::timeval| {
            let secs = u64::try_from(tv.tv_sec).unwrap_or(0);
            let micros = u64::try_from(tv.tv_usec).unwrap_or(0);
            secs.saturating_mul(1000).saturating_add(micros / 1000)
        };
        Usage {
            cpu_user_ms: ms(ru.ru_utime),
            cpu_system_ms: ms(ru.ru_stime),
            // Linux reports ru_maxrss in KiB.
            max_rss_kib: u64::try_from(ru.ru_maxrss).unwrap_or(0),
        }
    }
}

/// Attempts waiting for their exit status, by pid.
static WAITERS: Mutex<BTreeMap<libc::pid_t, oneshot::Sender<WaitStatus>>> =
    Mutex::new(BTreeMap::new());

/// Shared by spawns in progress; taken alone by a sweep that waits for
/// any child (`wait4(-1)`), so it never meets a child between its
/// creation and its registration.
static SPAWNING: RwLock<()> = RwLock::new(());

/// Whether the reaper thread runs (or why it could not start).
static REAPER: OnceLock<Result<(), String>> = OnceLock::new();

fn waiters() -> MutexGuard<'static, BTreeMap<libc::pid_t, oneshot::Sender<WaitStatus>>> {
    // A panic while holding the lock cannot leave the map half-updated.
    WAITERS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Why [`spawn`] failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SpawnError {
    #[error("{0}")]
    Reaper(String),
    #[error(transparent)]
    Spawn(#[from] io::Error),
}

/// Creates a child with `create`, which returns its pid and whatever else
/// the caller needs, and registers it with the reaper. The receiver yields
/// the child's wait status once it has exited and been reaped; the caller
/// must not wait for the child in any other way. `create` may run on any
/// thread, also concurrently with other spawns.
pub(crate) fn spawn<T>(
    create: impl FnOnce() -> io::Result<(libc::pid_t, T)>,
) -> Result<(T, oneshot::Receiver<WaitStatus>), SpawnError> {
    start().map_err(SpawnError::Reaper)?;
    let (pid, child, rx) = {
        let _gate = SPAWNING.read().unwrap_or_else(PoisonError::into_inner);
        let (pid, child) = create()?;
        let (tx, rx) = oneshot::channel();
        waiters().insert(pid, tx);
        (pid, child, rx)
    };
    collect(pid);
    Ok((child, rx))
}

/// Starts the reaper thread once, and waits until its `SIGCHLD` handler is
/// installed so that no exit can go unnoticed.
fn start() -> Result<(), String> {
    REAPER
        .get_or_init(|| {
            let (ready_tx, ready_rx) = std::sync::mpsc::channel();
            std::thread::Builder::new()
                .name("cronduct-reaper".into())
                .spawn(move || run(ready_tx))
                .map_err(|e| format!("cannot start the child reaper thread: {e}"))?;
            ready_rx
                .recv()
                .map_err(|_| "the child reaper thread stopped while starting".to_string())?
        })
        .clone()
}

fn run(ready: std::sync::mpsc::Sender<Result<(), String>>) {
    use tokio::signal::unix::{SignalKind, signal};

    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = ready.send(Err(format!("cannot start the child reaper: {e}")));
            return;
        }
    };
    rt.block_on(async move {
        let mut sigchld = match signal(SignalKind::child()) {
            Ok(s) => s,
            Err(e) => {
                let _ = ready.send(Err(format!("cannot watch SIGCHLD: {e}")));
                return;
            }
        };
        let _ = ready.send(Ok(()));
        // Sweep once first: children may have exited before the handler
        // was installed (only possible when something else spawned them).
        loop {
            sweep();
            if sigchld.recv().await.is_none() {
                return;
            }
        }
    });
}

/// Reaps every child that has exited and hands each status to its attempt.
fn sweep() {
    if adopts_orphans() {
        let _gate = SPAWNING.write().unwrap_or_else(PoisonError::into_inner);
        // Held across each wait, as in `collect`, so that the two never
        // both wait for the same pid.
        let mut waiters = waiters();
        while let Reaped::Exited(pid, status) = wait_nohang(-1) {
            if let Some(tx) = waiters.remove(&pid) {
                // The attempt may have been dropped; then nobody cares.
                let _ = tx.send(status);
            }
        }
    } else {
        let mut reaped = false;
        loop {
            match peek_exited() {
                Some(pid) if collect(pid) => reaped = true,
                // Not ours, or not registered yet: it hides the others.
                Some(_) => break,
                None if reaped => return,
                None => break,
            }
        }
    }
    // Also in adopting mode, so that an attempt whose status someone else
    // took is told so rather than left waiting.
    let pids: Vec<libc::pid_t> = waiters().keys().copied().collect();
    for pid in pids {
        collect(pid);
    }
}

/// Reaps `pid` if it is registered and has exited; whether it was
/// registered.
fn collect(pid: libc::pid_t) -> bool {
    let mut waiters = waiters();
    if !waiters.contains_key(&pid) {
        return false;
    }
    match wait_nohang(pid) {
        Reaped::Exited(_, status) => {
            if let Some(tx) = waiters.remove(&pid) {
                let _ = tx.send(status);
            }
        }
        Reaped::Running => {}
        // Someone else collected it; dropping the sender tells the
        // attempt its status is lost instead of leaving it hanging.
        Reaped::Gone => {
            waiters.remove(&pid);
        }
    }
    true
}

/// The pid of a child that has exited, without reaping it; `None` when no
/// child has exited (or there are none).
fn peek_exited() -> Option<libc::pid_t> {
    loop {
        // SAFETY: an all-zero siginfo_t is valid; waitid writes into it and
        // leaves si_pid zero when no child has exited.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: `info` is a valid place for waitid to write to.
        let r = unsafe {
            libc::waitid(
                libc::P_ALL,
                0,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
        };
        if r == 0 {
            // SAFETY: filled in by a successful waitid for WEXITED.
            let pid = unsafe { info.si_pid() };
            return (pid > 0).then_some(pid);
        }
        if io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            return None;
        }
    }
}

enum Reaped {
    Exited(libc::pid_t, WaitStatus),
    Running,
    /// No such child (`ECHILD`), or an unexpected error.
    Gone,
}

fn wait_nohang(pid: libc::pid_t) -> Reaped {
    loop {
        let mut status: libc::c_int = 0;
        // SAFETY: an all-zero rusage is valid; wait4 overwrites it.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: `status` and `usage` are valid places for wait4 to write
        // to.
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if r > 0 {
            let status = WaitStatus {
                raw: status,
                usage: Usage::from(&usage),
            };
            return Reaped::Exited(r, status);
        }
        if r == 0 {
            return Reaped::Running;
        }
        if io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            return Reaped::Gone;
        }
    }
}

/// Whether orphaned descendants are re-parented to this process.
fn adopts_orphans() -> bool {
    if std::process::id() == 1 {
        return true;
    }
    let mut flag: libc::c_int = 0;
    // SAFETY: PR_GET_CHILD_SUBREAPER writes one int through the pointer.
    let r = unsafe { libc::prctl(libc::PR_GET_CHILD_SUBREAPER, &mut flag as *mut libc::c_int) };
    r == 0 && flag != 0
}
