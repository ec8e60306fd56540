//! Creating the process of a command attempt: what to run ([`Launch`],
//! prepared in the daemon) and the system calls that start it.
//!
//! Two ways, with the same result for the job:
//! - No account switch (the common case): `posix_spawn` with
//!   `POSIX_SPAWN_SETSID`. glibc implements it with `clone(CLONE_VM |
//!   CLONE_VFORK)`, so the cost does not grow with the daemon's memory
//!   (no page tables are copied) and the caller is only held until the
//!   child has called `exec`. This is what makes many jobs due in the
//!   same second start within milliseconds of each other.
//! - An account switch (`user`/`group`), a cgroup to join, or limits
//!   (`nice`, `ionice`, `limits`): `fork`, then in the child `setsid` →
//!   join the attempt's cgroup → `setrlimit` → `setpriority` →
//!   `ioprio_set` → `setgroups` → `setgid` → `setuid` → `chdir` → `exec`
//!   (std's `Command` with `pre_exec`). `posix_spawn` can do none of
//!   these. The cgroup is joined before `exec`, so not one instruction of
//!   the job runs outside it (moving the child after the spawn would let
//!   a fast fork escape); privileged steps come before the account switch.
//!   `clone3(CLONE_INTO_CGROUP)` would spare the write, but without
//!   `CLONE_VM` it costs what `fork` costs, and with it the child would
//!   need a stack of its own that Rust cannot give it safely.
//!
//! Either way the child leads its own session and process group, has
//! stdin on `/dev/null` (or on a fresh pipe when the job has `stdin`
//! text), stdout and stderr on fresh pipes, starts in the
//! working directory, has an empty signal mask and `SIGPIPE` at its
//! default action (the Rust runtime ignores it in the daemon), and gets
//! exactly the environment of its [`Launch`]. Every other descriptor of
//! the daemon is close-on-exec, so the child inherits none of them.
//! A failure to enter the directory or to `exec` is returned as the
//! `errno` of the step that failed, and the failed child is reaped by the
//! spawning call itself.

use std::collections::BTreeMap;
use std::ffi::{CStr, CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::process::Stdio;

use super::identity::{Identity, Switch};

/// Everything needed to start one attempt, prepared before any process is
/// created so that starting it only makes system calls.
#[derive(Debug)]
pub(super) struct Launch {
    /// The resolved executable.
    program: CString,
    /// `argv`, including `argv[0]` as the job wrote it.
    argv: Vec<CString>,
    /// `KEY=value` entries, one per key.
    envp: Vec<CString>,
    cwd: CString,
    identity: Identity,
    /// Standard input is a pipe the daemon writes the job's `stdin` to,
    /// rather than `/dev/null`.
    piped_stdin: bool,
    setup: Setup,
}

/// What the child sets up for itself between `fork` and `exec`, besides
/// the account switch: prepared in the daemon, applied with plain system
/// calls.
#[derive(Debug, Default)]
pub(super) struct Setup {
    /// The attempt cgroup's `cgroup.procs`, which the child joins first.
    pub(super) cgroup_procs: Option<OwnedFd>,
    /// setrlimit(2): each limit soft and hard alike.
    pub(super) rlimits: Vec<(nix::sys::resource::Resource, u64)>,
    /// setpriority(2).
    pub(super) nice: Option<i32>,
    /// ioprio_set(2): class << 13 | level.
    pub(super) ioprio: Option<libc::c_int>,
}

impl Setup {
    fn is_empty(&self) -> bool {
        self.cgroup_procs.is_none()
            && self.rlimits.is_empty()
            && self.nice.is_none()
            && self.ioprio.is_none()
    }
}

/// [`Setup`] as the child applies it: plain values, copied into the
/// `pre_exec` closure.
#[derive(Clone)]
struct ChildSetup {
    cgroup_procs: Option<libc::c_int>,
    rlimits: Vec<(nix::sys::resource::Resource, u64)>,
    nice: Option<i32>,
    ioprio: Option<libc::c_int>,
}

impl ChildSetup {
    /// In the forked child: only async-signal-safe system calls.
    fn apply(&self) -> io::Result<()> {
        if let Some(fd) = self.cgroup_procs {
            // "0" is the writing process itself.
            // SAFETY: `fd` is open (the Launch owns it until after the
            // spawn); the buffer is a static byte.
            if unsafe { libc::write(fd, b"0".as_ptr().cast(), 1) } != 1 {
                return Err(io::Error::last_os_error());
            }
        }
        for (resource, value) in &self.rlimits {
            nix::sys::resource::setrlimit(*resource, *value, *value)?;
        }
        if let Some(nice) = self.nice {
            // SAFETY: plain system call.
            if unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, nice) } == -1 {
                return Err(io::Error::last_os_error());
            }
        }
        if let Some(prio) = self.ioprio {
            const IOPRIO_WHO_PROCESS: libc::c_long = 1;
            // SAFETY: plain system call on this process.
            if unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, prio) } == -1 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    }
}

/// A started child: its pid and the daemon's ends of its output pipes.
#[derive(Debug)]
pub(super) struct Spawned {
    pub(super) pid: libc::pid_t,
    pub(super) stdout: OwnedFd,
    pub(super) stderr: OwnedFd,
    /// The write end of the child's standard input, when piped.
    pub(super) stdin: Option<OwnedFd>,
}

impl Launch {
    /// Checks and converts the pieces of a launch. `env` is applied in
    /// order, a later entry replacing an earlier one with the same key.
    /// `Err` names the piece that contains a NUL byte.
    pub(super) fn new<'a>(
        program: &OsStr,
        argv: impl IntoIterator<Item = &'a str>,
        env: impl IntoIterator<Item = (&'a OsStr, &'a OsStr)>,
        cwd: &OsStr,
        identity: Identity,
        piped_stdin: bool,
        setup: Setup,
    ) -> Result<Launch, String> {
        let program = c_string(program.as_bytes(), "the program path")?;
        let argv = argv
            .into_iter()
            .map(|arg| c_string(arg.as_bytes(), "an argument"))
            .collect::<Result<Vec<_>, _>>()?;
        let mut vars: BTreeMap<&[u8], &[u8]> = BTreeMap::new();
        for (key, value) in env {
            vars.insert(key.as_bytes(), value.as_bytes());
        }
        let envp = vars
            .into_iter()
            .map(|(key, value)| {
                let mut entry = Vec::with_capacity(key.len() + value.len() + 1);
                entry.extend_from_slice(key);
                entry.push(b'=');
                entry.extend_from_slice(value);
                c_string(&entry, "an environment variable")
            })
            .collect::<Result<Vec<_>, _>>()?;
        let cwd = c_string(cwd.as_bytes(), "the working directory")?;
        Ok(Launch {
            program,
            argv,
            envp,
            cwd,
            identity,
            piped_stdin,
            setup,
        })
    }

    /// Starts the process. Blocks until the child has called `exec` (or
    /// failed to); the caller must make the child known to the reaper.
    pub(super) fn start(&self) -> io::Result<Spawned> {
        match self.identity.switch {
            Switch::None if self.setup.is_empty() => self.posix_spawn(),
            _ => self.fork_exec(),
        }
    }

    fn posix_spawn(&self) -> io::Result<Spawned> {
        let (out_r, out_w) = pipe()?;
        let (err_r, err_w) = pipe()?;
        let input = self.piped_stdin.then(pipe).transpose()?;
        let mut actions = FileActions::new()?;
        actions.chdir(&self.cwd)?;
        match &input {
            Some((in_r, _)) => actions.dup2(in_r, libc::STDIN_FILENO)?,
            None => actions.open(libc::STDIN_FILENO, c"/dev/null", libc::O_RDONLY)?,
        }
        actions.dup2(&out_w, libc::STDOUT_FILENO)?;
        actions.dup2(&err_w, libc::STDERR_FILENO)?;
        let attr = SpawnAttr::new()?;
        let argv = null_terminated(&self.argv);
        let envp = null_terminated(&self.envp);
        let mut pid: libc::pid_t = 0;
        // SAFETY: every pointer is valid for the call: the file actions and
        // attributes are initialised, `argv` and `envp` are NULL-terminated
        // arrays of pointers into CStrings that outlive the call.
        let r = unsafe {
            libc::posix_spawn(
                &mut pid,
                self.program.as_ptr(),
                &actions.0,
                &attr.0,
                argv.as_ptr(),
                envp.as_ptr(),
            )
        };
        if r != 0 {
            return Err(io::Error::from_raw_os_error(r));
        }
        Ok(Spawned {
            pid,
            stdout: out_r,
            stderr: err_r,
            stdin: input.map(|(_, in_w)| in_w),
        })
    }

    fn fork_exec(&self) -> io::Result<Spawned> {
        // std's Command sets up the pipes and reports a failure of the
        // child; the closure below execs by itself with `execve`, as
        // posix_spawn does, so that a file the kernel cannot execute fails
        // with ENOEXEC instead of being run by /bin/sh (what the execvp
        // std ends with does), and the environment is exactly the launch's.
        let mut cmd = std::process::Command::new(OsStr::from_bytes(self.program.as_bytes()));
        cmd.env_clear();
        let exec = Exec {
            program: self.program.as_ptr(),
            argv: null_terminated(&self.argv),
            envp: null_terminated(&self.envp),
        };
        let input = self.piped_stdin.then(pipe).transpose()?;
        let (stdin, in_w) = match input {
            Some((in_r, in_w)) => (Stdio::from(in_r), Some(in_w)),
            None => (Stdio::null(), None),
        };
        cmd.stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let identity = self.identity.clone();
        let cwd = self.cwd.clone();
        let setup = ChildSetup {
            cgroup_procs: self.setup.cgroup_procs.as_ref().map(AsRawFd::as_raw_fd),
            rlimits: self.setup.rlimits.clone(),
            nice: self.setup.nice,
            ioprio: self.setup.ioprio,
        };
        // SAFETY: the closure runs between fork and exec and only makes
        // async-signal-safe system calls (setsid, write, setrlimit,
        // setpriority, ioprio_set, setgroups, setgid, setuid, chdir,
        // execve) on data prepared before the fork; it allocates nothing.
        // The pointers of `exec` point into `self`, which outlives the
        // spawn.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setsid() == -1 {
                    return Err(io::Error::last_os_error());
                }
                setup.apply()?;
                identity.apply_in_child()?;
                if libc::chdir(cwd.as_ptr()) == -1 {
                    return Err(io::Error::last_os_error());
                }
                Err(exec.run())
            });
        }
        let mut child = cmd.spawn()?;
        let pid = libc::pid_t::try_from(child.id()).map_err(io::Error::other)?;
        match (child.stdout.take(), child.stderr.take()) {
            (Some(out), Some(err)) => Ok(Spawned {
                pid,
                stdout: out.into(),
                stderr: err.into(),
                stdin: in_w,
            }),
            _ => Err(io::Error::other("the output pipes are missing")),
        }
    }
}

/// `execve`'s arguments for the forked child, pointing into a [`Launch`].
struct Exec {
    program: *const libc::c_char,
    argv: Vec<*mut libc::c_char>,
    envp: Vec<*mut libc::c_char>,
}

impl Exec {
    /// Replaces the process; returns only on failure, with its errno.
    /// Called as a method, so that the closure captures the whole struct
    /// (which is Send + Sync), not its raw pointer fields.
    fn run(&self) -> io::Error {
        // SAFETY: NULL-terminated arrays of pointers into live CStrings.
        unsafe {
            libc::execve(
                self.program,
                self.argv.as_ptr().cast(),
                self.envp.as_ptr().cast(),
            )
        };
        io::Error::last_os_error()
    }
}

// SAFETY: the pointers are only read, in the forked child, while the
// Launch they point into is alive (std's Command needs a Send + Sync
// closure).
unsafe impl Send for Exec {}
// SAFETY: as above.
unsafe impl Sync for Exec {}

fn c_string(bytes: &[u8], what: &str) -> Result<CString, String> {
    CString::new(bytes).map_err(|_| format!("{what} contains a NUL byte"))
}

fn null_terminated(strings: &[CString]) -> Vec<*mut libc::c_char> {
    strings
        .iter()
        .map(|s| s.as_ptr().cast_mut())
        .chain(std::iter::once(std::ptr::null_mut()))
        .collect()
}

/// A close-on-exec pipe: (read end, write end). The Rust runtime opens
/// `/dev/null` on any of fds 0–2 that is closed at start-up, so both ends
/// are above 2 and `dup2` onto stdout/stderr always moves them.
fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 succeeded, so both are open descriptors we now own.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// `posix_spawn_file_actions_t`, destroyed on drop.
struct FileActions(libc::posix_spawn_file_actions_t);

impl FileActions {
    fn new() -> io::Result<FileActions> {
        // SAFETY: an all-zero value is a valid place for init to write to.
        let mut raw: libc::posix_spawn_file_actions_t = unsafe { std::mem::zeroed() };
        // SAFETY: `raw` is writable.
        spawn_check(unsafe { libc::posix_spawn_file_actions_init(&mut raw) })?;
        Ok(FileActions(raw))
    }

    fn chdir(&mut self, dir: &CStr) -> io::Result<()> {
        // SAFETY: initialised actions; glibc copies the path.
        spawn_check(unsafe {
            libc::posix_spawn_file_actions_addchdir_np(&mut self.0, dir.as_ptr())
        })
    }

    fn open(&mut self, fd: libc::c_int, path: &CStr, flags: libc::c_int) -> io::Result<()> {
        // SAFETY: initialised actions; glibc copies the path.
        spawn_check(unsafe {
            libc::posix_spawn_file_actions_addopen(&mut self.0, fd, path.as_ptr(), flags, 0)
        })
    }

    /// `fd` becomes `target` in the child, without close-on-exec.
    fn dup2(&mut self, fd: &OwnedFd, target: libc::c_int) -> io::Result<()> {
        // SAFETY: initialised actions; `fd` stays open until the spawn.
        spawn_check(unsafe {
            libc::posix_spawn_file_actions_adddup2(&mut self.0, fd.as_raw_fd(), target)
        })
    }
}

impl Drop for FileActions {
    fn drop(&mut self) {
        // SAFETY: initialised in `new` and destroyed only here.
        unsafe { libc::posix_spawn_file_actions_destroy(&mut self.0) };
    }
}

/// `posix_spawnattr_t` for a new session with an empty signal mask and
/// `SIGPIPE` at its default action, destroyed on drop.
struct SpawnAttr(libc::posix_spawnattr_t);

impl SpawnAttr {
    fn new() -> io::Result<SpawnAttr> {
        // SAFETY: an all-zero value is a valid place for init to write to.
        let mut raw: libc::posix_spawnattr_t = unsafe { std::mem::zeroed() };
        // SAFETY: `raw` is writable.
        spawn_check(unsafe { libc::posix_spawnattr_init(&mut raw) })?;
        let mut attr = SpawnAttr(raw);
        // SAFETY: sigset_t is plain data; sigemptyset initialises it.
        let mut empty: libc::sigset_t = unsafe { std::mem::zeroed() };
        let mut default: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: both sets are writable; the attribute is initialised and
        // copies the sets.
        unsafe {
            libc::sigemptyset(&mut empty);
            libc::sigemptyset(&mut default);
            libc::sigaddset(&mut default, libc::SIGPIPE);
            spawn_check(libc::posix_spawnattr_setsigmask(&mut attr.0, &empty))?;
            spawn_check(libc::posix_spawnattr_setsigdefault(&mut attr.0, &default))?;
        }
        let flags = libc::POSIX_SPAWN_SETSID
            | libc::POSIX_SPAWN_SETSIGMASK as libc::c_short
            | libc::POSIX_SPAWN_SETSIGDEF as libc::c_short;
        // SAFETY: initialised attribute.
        spawn_check(unsafe { libc::posix_spawnattr_setflags(&mut attr.0, flags) })?;
        Ok(attr)
    }
}

impl Drop for SpawnAttr {
    fn drop(&mut self) {
        // SAFETY: initialised in `new` and destroyed only here.
        unsafe { libc::posix_spawnattr_destroy(&mut self.0) };
    }
}

/// The posix_spawn family returns an error number instead of setting errno.
fn spawn_check(r: libc::c_int) -> io::Result<()> {
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(r))
    }
}
