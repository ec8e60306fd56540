//! Running one attempt of a command job (cronduct.toml(5) JOBS and RUNNING A
//! JOB).
//!
//! [`spawn`] starts the process; [`Running::wait`] supervises it to the
//! end and turns what happened into an [`ActionOutcome`].
//!
//! Contract:
//! - A string command runs as `<shell> -c <string>`; an array is executed
//!   directly. A program without a `/` is looked up in the job's `PATH`; a
//!   relative path with a `/` (`./backup.sh`) is relative to the working
//!   directory.
//! - Each attempt is the leader of its own session and process group.
//!   Timeout or cancel sends SIGTERM to the whole group; whatever is left
//!   of the group after `kill_grace` gets SIGKILL — also when the main
//!   process itself already died of the SIGTERM and a descendant ignored
//!   it. A descendant that started its own session (a daemon that called
//!   `setsid`) has left the group and is beyond reach.
//! - When the main process ends by itself, background descendants are left
//!   alone, as cron does. If they still hold stdout or stderr open, the
//!   attempt does not wait for them: it keeps reading for at most 100 ms
//!   after the main process ended, then finishes. The pipes are then
//!   drained and discarded in the background until those processes close
//!   them, so a background process is never blocked by a full pipe or
//!   killed by SIGPIPE.
//! - stdout and stderr are read concurrently from the start into bounded
//!   tails of `output_limit` bytes each (the last bytes are kept).
//! - stdin is `/dev/null`, or, for a job with `stdin` text, a pipe the
//!   text is written to and then closed. A command that exits or closes
//!   its input without reading it all is not an error (cron's rule for
//!   the `%` input of a crontab line).
//! - The environment is a clean one, like cron's, in this order (later
//!   entries override earlier ones): `PATH=/usr/local/bin:/usr/bin:/bin`,
//!   `HOME`, `USER`, `LOGNAME` of the job user, `SHELL` = the job's
//!   `shell`, `CRONDUCT_JOB`, `CRONDUCT_RUN_ID`, `CRONDUCT_ATTEMPT`,
//!   `CRONDUCT_SCHEDULED_AT` (RFC 3339 UTC with milliseconds, exactly as
//!   the run log writes `scheduled_at`, e.g. `2026-03-29T01:00:00.000Z`),
//!   `CRONDUCT_RESULT` (the attempt's result file, see `result.rs`), then
//!   the variables of the job's `env_file`s, its `inherit_env` (from the
//!   daemon's environment, where set), its `env` (defaults already merged
//!   in; values from files read here, see `environment.rs`). A file that
//!   cannot be read makes the attempt an `error` that names the path.
//! - Working directory: `working_dir`, else the job user's home; when that
//!   home does not exist (`nobody`'s `/nonexistent`), `/`. The directory
//!   is entered after switching user, so it must be accessible to the job
//!   user.
//! - Exit statuses are collected by the process-wide reaper (see
//!   `reaper.rs`): no attempt, and when cronduct is PID 1 no orphan, is
//!   ever left a zombie. When cronduct is PID 1 (or a child subreaper) the
//!   reaper owns every child of the process: no other code in the daemon
//!   may spawn children and wait for them (tokio::process included).
//! - Dropping a [`Running`] without waiting leaves the process running; it
//!   is still reaped when it exits.

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::environment;
use super::identity::{Identity, Switch};
use super::process::{Launch, Spawned};
use super::reaper::{self, WaitStatus};
use super::result::ResultDir;
use super::tail::Tail;
use super::{ActionOutcome, AttemptInfo, Stop};
use crate::config::model::{Action, Command, Job};
use crate::log::output::{AttemptOutput, OutputTx, Stream, Target};
use crate::record::Status;

/// `PATH` of every command unless the job's `env` sets another.
pub const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// How long output is still read after the main process ended, for
/// descendants that keep the pipes open.
const DRAIN_AFTER_EXIT: Duration = Duration::from_millis(100);

/// How often the process group is checked for survivors during the grace
/// period after the main process has died (there is no event for "the
/// group is empty"). Each check may scan /proc, so not too often.
const GROUP_POLL: Duration = Duration::from_millis(20);

/// Bytes first read from a pipe at once: enough for what most jobs print,
/// and small, because every attempt has two readers and a burst of
/// attempts would otherwise churn the heap (and its page faults).
const READ_FIRST: usize = 4 * 1024;

/// Bytes read at once after a read filled the buffer (a chatty job): the
/// default pipe capacity on Linux, so a full pipe drains in one call.
const READ_CHUNK: usize = 64 * 1024;

/// A started command attempt.
#[derive(Debug)]
pub struct Running {
    pid: u32,
    started: Instant,
    exit: oneshot::Receiver<WaitStatus>,
    stdout: JoinHandle<Tail>,
    stderr: JoinHandle<Tail>,
    /// Tells the readers to stop waiting for end-of-file.
    stop_reading: CancellationToken,
    output_limit: usize,
    /// The job's `success_exit_codes`.
    success_exit_codes: Vec<i32>,
    result: ResultDir,
    /// The whole output's file, when the daemon keeps one.
    output: Option<AttemptOutput>,
}

/// Starts one attempt of a command job, blocking the calling thread for
/// the system calls that create the process.
///
/// `Err` means it could not start (unknown user, missing program or
/// working directory, no permission, ...); the message names the path or
/// the account, and the daemon records it as status `error`. Must be
/// called inside a tokio runtime with I/O enabled: the output readers run
/// on it from this moment on.
pub fn spawn(job: &Job, info: &AttemptInfo) -> Result<Running, String> {
    let prepared = prepare(job, info)?;
    let created = create(&prepared.launch).map_err(|e| prepared.describe(&e))?;
    supervise(prepared, created)
}

/// Starts one attempt of a command job like [`spawn`], but creates the
/// process on a small pool of threads that do nothing else, so the
/// caller's runtime thread never blocks on it and several attempts start
/// at the same time. With many jobs due in the same second, the runtime
/// thread meanwhile logs the starts, reads the output and collects the
/// ends of those already started.
///
/// Dropping the future does not stop a process the pool is already
/// creating: it runs unsupervised and is reaped when it ends.
pub async fn start(job: &Job, info: &AttemptInfo) -> Result<Running, String> {
    let prepared = prepare(job, info)?;
    let (reply, created) = oneshot::channel();
    let launch = Arc::clone(&prepared.launch);
    spawner()?.submit(Box::new(move || {
        // The attempt may have been dropped meanwhile; see above.
        let _ = reply.send(create(&launch));
    }))?;
    let created = match created.await {
        Ok(created) => created.map_err(|e| prepared.describe(&e))?,
        Err(_) => return Err(prepared.describe(&"the process spawner failed")),
    };
    supervise(prepared, created)
}

/// An attempt ready to be started: everything looked up and checked.
struct Prepared {
    launch: Arc<Launch>,
    program: PathBuf,
    user: String,
    workdir: PathBuf,
    output_limit: usize,
    success_exit_codes: Vec<i32>,
    result: ResultDir,
    stdin: Option<Arc<str>>,
    output: Option<Target>,
    output_max_size: u64,
}

impl Prepared {
    fn describe(&self, e: &dyn std::fmt::Display) -> String {
        start_error(&self.program, &self.user, &self.workdir, e)
    }
}

/// Resolves the account, the working directory, the program and the
/// environment, and creates the attempt's result directory. Otherwise
/// only reads (the user database, file metadata).
fn prepare(job: &Job, info: &AttemptInfo) -> Result<Prepared, String> {
    let Action::Command(command) = &job.action else {
        return Err(format!("job {:?} has no command to run", job.id));
    };
    if tokio::runtime::Handle::try_current().is_err() {
        return Err("commands can only be started inside a tokio runtime".to_string());
    }
    let identity = Identity::resolve(job.user.as_deref(), job.group.as_deref())?;
    let workdir = working_dir(job, &identity)?;
    // Everything is read at each start: a value the daemon's environment
    // lacks is simply not set (never an empty one), and a rotated secret
    // reaches the next run without a reload.
    let mut vars: Vec<(String, std::ffi::OsString)> = environment::read_env_files(&job.env_file)?;
    vars.extend(
        job.inherit_env
            .iter()
            .filter_map(|name| Some((name.clone(), std::env::var_os(name)?))),
    );
    for (name, value) in &job.env {
        vars.push((name.clone(), environment::value_of(name, value)?));
    }
    // The program is looked up on the PATH the command will have.
    let path_var = vars
        .iter()
        .rev()
        .find(|(k, _)| k == "PATH")
        .and_then(|(_, v)| v.to_str())
        .unwrap_or(DEFAULT_PATH);
    let (arg0, args): (&str, Vec<&str>) = match command {
        Command::Shell(line) => (job.shell.as_str(), vec!["-c", line.as_str()]),
        Command::Argv(argv) => match argv.split_first() {
            Some((first, rest)) => (first.as_str(), rest.iter().map(String::as_str).collect()),
            None => return Err("the command is an empty array".to_string()),
        },
    };
    let program = resolve_program(arg0, path_var, &workdir)?;
    let owner = match identity.switch {
        Switch::User { uid, gid, .. } => Some((uid, gid)),
        Switch::None | Switch::Group(_) => None,
    };
    let result = ResultDir::create(&info.results_dir, &info.run_id, info.attempt, owner)?;
    let attempt = info.attempt.to_string();
    let scheduled_at = crate::record::ts::format(&info.scheduled_at);
    let fixed: [(&str, &OsStr); 10] = [
        ("PATH", DEFAULT_PATH.as_ref()),
        ("HOME", identity.home.as_os_str()),
        ("USER", identity.name.as_ref()),
        ("LOGNAME", identity.name.as_ref()),
        ("SHELL", job.shell.as_ref()),
        ("CRONDUCT_JOB", job.id.as_ref()),
        ("CRONDUCT_RUN_ID", info.run_id.as_ref()),
        ("CRONDUCT_ATTEMPT", attempt.as_ref()),
        ("CRONDUCT_SCHEDULED_AT", scheduled_at.as_ref()),
        ("CRONDUCT_RESULT", result.file().as_os_str()),
    ];
    let env = fixed
        .into_iter()
        .map(|(k, v)| (OsStr::new(k), v))
        .chain(vars.iter().map(|(k, v)| (OsStr::new(k), v.as_os_str())));
    let launch = Launch::new(
        program.as_os_str(),
        std::iter::once(arg0).chain(args),
        env,
        workdir.as_os_str(),
        identity.clone(),
        job.stdin.is_some(),
    )
    .map_err(|e| start_error(&program, &identity.name, &workdir, &e))?;
    Ok(Prepared {
        launch: Arc::new(launch),
        program,
        user: identity.name,
        workdir,
        output_limit: job.output_limit,
        success_exit_codes: job.success_exit_codes.clone(),
        result,
        stdin: job.stdin.as_deref().map(Arc::from),
        output: info.output.clone(),
        output_max_size: job.output_max_size,
    })
}

/// The message for a failed start.
fn start_error(program: &Path, user: &str, workdir: &Path, e: &dyn std::fmt::Display) -> String {
    format!(
        "cannot start {} as user {user:?} in {}: {e}",
        program.display(),
        workdir.display()
    )
}

type Created = (Spawned, oneshot::Receiver<WaitStatus>);

/// Creates the process and registers it with the reaper. Blocks until the
/// child has called `exec`.
fn create(launch: &Launch) -> Result<Created, reaper::SpawnError> {
    reaper::spawn(|| {
        let spawned = launch.start()?;
        Ok((spawned.pid, spawned))
    })
}

/// Hands the output pipes to reader tasks on the current runtime.
fn supervise(prepared: Prepared, (spawned, exit): Created) -> Result<Running, String> {
    let started = Instant::now();
    let pid = spawned.pid.unsigned_abs();
    let stop_reading = CancellationToken::new();
    let readers = pipe::Receiver::from_owned_fd(spawned.stdout)
        .and_then(|out| Ok((out, pipe::Receiver::from_owned_fd(spawned.stderr)?)));
    let (out, err) = match readers {
        Ok(r) => r,
        Err(e) => {
            // The child cannot be supervised; do not leave it running.
            let _ = killpg(pgid(pid), Signal::SIGKILL);
            return Err(format!(
                "cannot read the output of {}: {e}",
                prepared.program.display()
            ));
        }
    };
    if let (Some(input), Some(text)) = (spawned.stdin, prepared.stdin.clone()) {
        match pipe::Sender::from_owned_fd(input) {
            Ok(sender) => {
                tokio::spawn(write_input(sender, text));
            }
            Err(e) => {
                let _ = killpg(pgid(pid), Signal::SIGKILL);
                return Err(format!(
                    "cannot write the input of {}: {e}",
                    prepared.program.display()
                ));
            }
        }
    }
    let limit = prepared.output_limit;
    // A sink that cannot be opened costs the whole output, not the run:
    // the tails are still recorded.
    let output = prepared.output.and_then(|target| {
        let what = match &target {
            Target::File(path) => format!("the output file {}", path.display()),
            Target::Journal(_) => "the output to the journal".to_owned(),
        };
        AttemptOutput::open(target, prepared.output_max_size)
            .map_err(|e| tracing::warn!("cannot write {what}: {e}"))
            .ok()
    });
    let sink = |stream| output.as_ref().map(|o| o.sender(stream));
    let (out_sink, err_sink) = (sink(Stream::Stdout), sink(Stream::Stderr));
    Ok(Running {
        pid,
        started,
        exit,
        stdout: tokio::spawn(read_tail(out, limit, out_sink, stop_reading.clone())),
        stderr: tokio::spawn(read_tail(err, limit, err_sink, stop_reading.clone())),
        output,
        stop_reading,
        output_limit: limit,
        success_exit_codes: prepared.success_exit_codes,
        result: prepared.result,
    })
}

/// Writes a job's `stdin` text to its input pipe, then closes it. A
/// child that exits or closes its input early makes the write fail with
/// `EPIPE` (the daemon ignores SIGPIPE): that ends the writing, nothing
/// more; the attempt's outcome is the child's.
async fn write_input(mut sender: pipe::Sender, text: Arc<str>) {
    use tokio::io::AsyncWriteExt;
    let _ = sender.write_all(text.as_bytes()).await;
}

/// Threads that start processes. Two: while one waits for its child to
/// reach `exec` (the parent of a `vfork` sleeps until then), the other
/// starts the next. More would not help on a busy machine and cost memory.
const SPAWNER_THREADS: usize = 2;

type SpawnTask = Box<dyn FnOnce() + Send>;

struct Spawner {
    queue: std::sync::mpsc::Sender<SpawnTask>,
}

impl Spawner {
    fn submit(&self, task: SpawnTask) -> Result<(), String> {
        self.queue
            .send(task)
            .map_err(|_| "the process spawner stopped".to_string())
    }
}

/// The process-wide spawner, started on first use.
fn spawner() -> Result<&'static Spawner, String> {
    static SPAWNER: OnceLock<Result<Spawner, String>> = OnceLock::new();
    SPAWNER
        .get_or_init(|| {
            let (queue, tasks) = std::sync::mpsc::channel::<SpawnTask>();
            let tasks = Arc::new(Mutex::new(tasks));
            for n in 0..SPAWNER_THREADS {
                let tasks = Arc::clone(&tasks);
                std::thread::Builder::new()
                    .name(format!("cronduct-spawn{n}"))
                    // Spawning needs little stack: the launch is prepared
                    // on the heap and the child runs on glibc's own stack.
                    .stack_size(256 * 1024)
                    .spawn(move || {
                        loop {
                            // Only one thread waits on the queue at a time;
                            // the others wait for the lock, which is fine.
                            let task = tasks.lock().unwrap_or_else(PoisonError::into_inner).recv();
                            match task {
                                // A panic (a bug) drops the task's reply,
                                // which its attempt reports; the thread
                                // carries on with the next.
                                Ok(task) => {
                                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(
                                        task,
                                    ));
                                }
                                Err(_) => return,
                            }
                        }
                    })
                    .map_err(|e| format!("cannot start the process spawner: {e}"))?;
            }
            Ok(Spawner { queue })
        })
        .as_ref()
        .map_err(Clone::clone)
}

impl Running {
    /// The main process's pid, which is also its process group id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Waits for the attempt to end.
    ///
    /// `timeout` counts from the spawn. When it expires, or when `cancel`
    /// fires, the process group is sent SIGTERM and, if anything of it is
    /// left after `kill_grace`, SIGKILL; the outcome is `timeout` or
    /// `cancelled` with `signal` naming what ended the main process.
    /// Otherwise an exit code in the job's `success_exit_codes` is
    /// `success` and any other end `failed`.
    pub async fn wait(
        mut self,
        timeout: Option<Duration>,
        kill_grace: Duration,
        cancel: CancellationToken,
    ) -> ActionOutcome {
        let expired = super::until(timeout.map(|t| super::saturating_after(self.started, t)));
        let stop = tokio::select! {
            biased;
            status = &mut self.exit => return self.finish(status.ok(), None).await,
            () = expired => Stop::Timeout(timeout.unwrap_or_default()),
            () = cancel.cancelled() => Stop::Cancelled,
        };
        let status = self.terminate(kill_grace).await;
        self.finish(status, Some(stop)).await
    }

    /// SIGTERM to the group, then SIGKILL to what is left after `grace`.
    async fn terminate(&mut self, grace: Duration) -> Option<WaitStatus> {
        let group = pgid(self.pid);
        let _ = killpg(group, Signal::SIGTERM);
        let grace_end = super::saturating_after(Instant::now(), grace);
        let ended = tokio::select! {
            status = &mut self.exit => Some(status.ok()),
            () = tokio::time::sleep_until(grace_end) => None,
        };
        match ended {
            Some(status) => {
                // The main process is gone, but descendants that ignore
                // SIGTERM may not be: give them the rest of the grace.
                while group_alive(group) && Instant::now() < grace_end {
                    tokio::time::sleep(GROUP_POLL).await;
                }
                if group_alive(group) {
                    let _ = killpg(group, Signal::SIGKILL);
                }
                status
            }
            None => {
                let _ = killpg(group, Signal::SIGKILL);
                (&mut self.exit).await.ok()
            }
        }
    }

    /// Collects the output tails and builds the outcome. `status` is
    /// `None` if the exit status was lost (something else reaped the pid).
    async fn finish(mut self, status: Option<WaitStatus>, stop: Option<Stop>) -> ActionOutcome {
        let drain_end = Instant::now() + DRAIN_AFTER_EXIT;
        let (out, err) = tokio::join!(
            collect(
                self.stdout,
                drain_end,
                &self.stop_reading,
                self.output_limit
            ),
            collect(
                self.stderr,
                drain_end,
                &self.stop_reading,
                self.output_limit
            ),
        );
        // The readers are done: what they queued is all there will be.
        let output_dropped_bytes = match self.output.take() {
            Some(output) => Some(output.finish().await),
            None => None,
        };
        let exit_code = status.and_then(WaitStatus::code);
        let signal = status.and_then(WaitStatus::signal).map(signal_name);
        let usage = status.map(WaitStatus::usage);
        let (status, error) = match (stop, status) {
            (Some(stop), _) => (stop.status(), Some(stop.message())),
            (None, None) => (
                Status::Failed,
                Some(format!(
                    "the exit status of pid {} was collected by someone else",
                    self.pid
                )),
            ),
            (None, Some(_))
                if exit_code.is_some_and(|code| self.success_exit_codes.contains(&code)) =>
            {
                (Status::Success, None)
            }
            (None, Some(_)) => (Status::Failed, None),
        };
        ActionOutcome {
            status,
            exit_code,
            signal,
            http_status: None,
            error,
            output_truncated: out.truncated() || err.truncated(),
            stdout: out.into_string(),
            stderr: err.into_string(),
            // Read once the process has ended and its output is in: what
            // it wrote is complete, whatever became of the attempt.
            result: self.result.take(),
            usage,
            output_dropped_bytes,
        }
    }
}

/// Reads a pipe into a tail until end-of-file, or until told to stop; then
/// hands the pipe to a task that discards the rest.
async fn read_tail(
    mut rx: pipe::Receiver,
    limit: usize,
    sink: Option<OutputTx>,
    stop: CancellationToken,
) -> Tail {
    let mut tail = Tail::new(limit);
    let mut buf = vec![0u8; READ_FIRST];
    loop {
        tokio::select! {
            biased;
            () = stop.cancelled() => {
                tokio::spawn(discard(rx));
                return tail;
            }
            read = rx.read(&mut buf) => match read {
                Ok(0) => return tail,
                Ok(n) => {
                    tail.push(&buf[..n]);
                    if let Some(sink) = &sink {
                        sink.send(&buf[..n]);
                    }
                    if n == buf.len() && buf.len() < READ_CHUNK {
                        buf.resize(READ_CHUNK, 0);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return tail,
            },
        }
    }
}

/// Keeps reading a pipe that a background process still holds, so it never
/// blocks on a full pipe or dies of SIGPIPE; ends when it closes the pipe.
async fn discard(mut rx: pipe::Receiver) {
    let mut buf = vec![0u8; 8 * 1024];
    loop {
        match rx.read(&mut buf).await {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

/// The tail of one reader, waiting for end-of-file until `drain_end`.
async fn collect(
    mut reader: JoinHandle<Tail>,
    drain_end: Instant,
    stop: &CancellationToken,
    limit: usize,
) -> Tail {
    let done = tokio::select! {
        done = &mut reader => done,
        () = tokio::time::sleep_until(drain_end) => {
            stop.cancel();
            reader.await
        }
    };
    // A reader only fails by panicking; there is no output to show then.
    done.unwrap_or_else(|_| Tail::new(limit))
}

fn pgid(pid: u32) -> Pid {
    // Pids fit in i32 on Linux (pid_max ≤ 2^22).
    Pid::from_raw(i32::try_from(pid).unwrap_or(i32::MAX))
}

/// Whether any process of the group is still alive. Zombies do not count:
/// an orphaned member that died waits to be reaped by init, which some
/// container inits do only every second or so, and it needs no SIGKILL.
fn group_alive(group: Pid) -> bool {
    // ESRCH: no member at all, the common case, without reading /proc.
    // EPERM also means "exists" (a member we may not signal).
    if matches!(killpg(group, None), Err(nix::errno::Errno::ESRCH)) {
        return false;
    }
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return true;
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .any(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|stat| live_member(&stat, group.as_raw()))
        })
}

/// Whether a `/proc/<pid>/stat` line is a live (not zombie) process of
/// the process group `pgid`.
fn live_member(stat: &str, pgid: i32) -> bool {
    // The command name may contain anything, so fields are counted from
    // its closing parenthesis: state, ppid, pgrp.
    let Some(close) = stat.rfind(')') else {
        return false;
    };
    let mut fields = stat[close + 1..].split_whitespace();
    let state = fields.next();
    let pgrp = fields.nth(1).and_then(|p| p.parse::<i32>().ok());
    pgrp == Some(pgid) && !matches!(state, Some("Z" | "X" | "x"))
}

/// `"SIGTERM"`, `"SIGRTMIN+3"`, or `"signal 99"` for numbers with no name.
fn signal_name(sig: i32) -> String {
    if let Ok(s) = Signal::try_from(sig) {
        return s.as_str().to_string();
    }
    let (min, max) = (libc::SIGRTMIN(), libc::SIGRTMAX());
    if (min..=max).contains(&sig) {
        format!("SIGRTMIN+{}", sig - min)
    } else {
        format!("signal {sig}")
    }
}

/// The directory the command starts in.
fn working_dir(job: &Job, identity: &Identity) -> Result<PathBuf, String> {
    match &job.working_dir {
        Some(dir) => match std::fs::metadata(dir) {
            Ok(m) if m.is_dir() => Ok(dir.clone()),
            Ok(_) => Err(format!(
                "working directory {} is not a directory",
                dir.display()
            )),
            Err(e) => Err(format!("working directory {}: {e}", dir.display())),
        },
        None if identity.home.is_dir() => Ok(identity.home.clone()),
        None => Ok(PathBuf::from("/")),
    }
}

/// Finds the program to execute, so a missing one is reported with its
/// name and the searched `PATH` rather than a bare "No such file".
fn resolve_program(program: &str, path_var: &str, workdir: &Path) -> Result<PathBuf, String> {
    if program.is_empty() {
        return Err("the command's program name is empty".to_string());
    }
    if program.contains('/') {
        let path = workdir.join(program);
        return match std::fs::metadata(&path) {
            Ok(m) if m.is_dir() => Err(format!("cannot run {program}: it is a directory")),
            Ok(m) if m.permissions().mode() & 0o111 == 0 => {
                Err(format!("cannot run {program}: it is not executable"))
            }
            Ok(_) => Ok(path),
            Err(e) => Err(format!("cannot run {program}: {e}")),
        };
    }
    path_var
        .split(':')
        // An empty PATH entry means the current directory (POSIX).
        .map(|dir| {
            workdir
                .join(if dir.is_empty() { "." } else { dir })
                .join(program)
        })
        .find(|candidate| {
            std::fs::metadata(candidate)
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
        .ok_or_else(|| format!("command not found: {program} (searched PATH={path_var})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: &str, command: Command) -> Job {
        Job::new(
            id,
            "@hourly".parse().expect("valid schedule"),
            crate::zone::Zone::utc(),
            Action::Command(command),
            "jobs.toml",
        )
    }

    static RESULTS: std::sync::LazyLock<tempfile::TempDir> =
        std::sync::LazyLock::new(|| tempfile::tempdir().expect("temp dir"));

    fn info() -> AttemptInfo {
        AttemptInfo {
            // Unique: the attempts of a test run at the same time, and
            // the result directory is named after the run.
            run_id: format!("run-{:016x}", rand::random::<u64>()),
            attempt: 1,
            scheduled_at: chrono::DateTime::UNIX_EPOCH,
            results_dir: RESULTS.path().to_path_buf(),
            output: None,
        }
    }

    #[tokio::test]
    async fn attempts_started_together_on_the_pool_each_run_their_own_command() {
        let mut set = tokio::task::JoinSet::new();
        for i in 0..40 {
            let j = job(
                &format!("job-{i}"),
                Command::Shell("echo \"$CRONDUCT_JOB $$\"".into()),
            );
            set.spawn(async move {
                let running = start(&j, &info()).await.expect("starts");
                let pid = running.pid();
                let outcome = tokio::time::timeout(
                    Duration::from_secs(60),
                    running.wait(None, Duration::from_secs(1), CancellationToken::new()),
                )
                .await
                .expect("ends");
                (i, pid, outcome)
            });
        }
        let mut pids = std::collections::BTreeSet::new();
        while let Some(done) = set.join_next().await {
            let (i, pid, outcome) = done.expect("no panic");
            assert_eq!(outcome.status, Status::Success, "{outcome:?}");
            // The shell's own pid is the attempt's pid: no wrapper process.
            assert_eq!(outcome.stdout, format!("job-{i} {pid}\n"));
            pids.insert(pid);
        }
        assert_eq!(pids.len(), 40);
    }

    #[tokio::test]
    async fn a_failed_exec_on_the_pool_is_reported_with_its_cause() {
        let dir = tempfile::tempdir().expect("temp dir");
        let program = dir.path().join("not-a-program");
        std::fs::write(&program, [0u8, 1, 2, 3]).expect("write");
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let j = job(
            "garbage",
            Command::Argv(vec![program.display().to_string()]),
        );
        let err = start(&j, &info()).await.expect_err("cannot exec");
        assert!(
            err.starts_with(&format!("cannot start {}", program.display())),
            "{err}"
        );
        assert!(err.contains("Exec format error"), "{err}");
    }

    #[test]
    fn group_members_are_read_from_proc_stat() {
        let cases = [
            ("42 (sleep) S 1 4242 4242 0 -1", true),
            ("42 (sleep) Z 1 4242 4242 0 -1", false),
            ("42 (sleep) S 1 4243 4243 0 -1", false),
            ("42 (a) b (c) R 7 4242 4242 0 -1", true),
            ("garbage", false),
        ];
        for (stat, want) in cases {
            assert_eq!(live_member(stat, 4242), want, "{stat}");
        }
    }

    #[test]
    fn signals_have_their_names() {
        assert_eq!(signal_name(libc::SIGTERM), "SIGTERM");
        assert_eq!(signal_name(libc::SIGKILL), "SIGKILL");
        assert_eq!(signal_name(libc::SIGRTMIN() + 2), "SIGRTMIN+2");
        assert_eq!(signal_name(200), "signal 200");
    }
}
