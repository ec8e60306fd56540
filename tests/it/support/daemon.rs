//! The end-to-end fixture: the real `cronduct` binary, started as
//! `cronduct run -c CONFIG` on a config in a temp dir (`listen` on
//! 127.0.0.1 port 0, so the daemon binds a port nobody else holds and
//! reports it in `<state_dir>/listen`; state dir and run log inside the
//! temp dir, the admin key in `CRONDUCT_ADMIN_KEY`), and the means to
//! watch it from outside the way a sysadmin would: the run log, the admin
//! API over plain HTTP, signals, `/proc`, and the CLI.
//!
//! Every wait polls with a deadline and, when the deadline passes, fails
//! with the daemon's stderr and the tail of its run log, so a failure on
//! a loaded CI machine says what the daemon was doing.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use cronduct::record::{FinishRecord, LogEvent, MissedRecord, SkipRecord, StartRecord};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

use super::poll;
pub use super::procfs::*;

/// The admin key the daemon gets through `CRONDUCT_ADMIN_KEY`.
pub const KEY: &str = "e2e-admin-key-5f0c1d9a";

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_cronduct");

/// The usual deadline for something the daemon does promptly (a run's
/// start or end, a log line, a mail); generous for a loaded CI machine.
pub const SECS_20: Duration = Duration::from_secs(20);

/// How long the daemon may take to answer `/health` after being started.
const START_DEADLINE: Duration = Duration::from_secs(20);

/// One daemon under test and the directory it lives in. Dropping it stops
/// the daemon (SIGTERM, so its jobs' process groups are terminated too;
/// SIGKILL if it does not exit) before the directory is removed.
pub struct Daemon {
    dir: tempfile::TempDir,
    /// The port the running daemon bound (it listens on port 0 and writes
    /// the address to `<state_dir>/listen`); 0 before the first start.
    port: u16,
    /// `[daemon].shutdown_grace` written into the config.
    pub shutdown_grace: &'static str,
    /// Whether the daemon gets `CRONDUCT_ADMIN_KEY` (else it generates
    /// `<state_dir>/admin.key`).
    pub key_in_env: bool,
    /// Extra variables for the daemon process.
    pub env: Vec<(String, String)>,
    /// The config file, relative to the temp dir (`jobs.toml`).
    pub config_file: &'static str,
    child: Option<Child>,
    starts: u32,
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    /// The `ETag` header, when there is one.
    pub etag: Option<String>,
}

/// A finished CLI invocation.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Default for Daemon {
    fn default() -> Self {
        Self::new()
    }
}

impl Daemon {
    /// A temp dir; nothing is started yet.
    pub fn new() -> Daemon {
        let dir = tempfile::tempdir().expect("create temp dir");
        Daemon {
            dir,
            port: 0,
            shutdown_grace: "1s",
            key_in_env: true,
            env: Vec::new(),
            config_file: "jobs.toml",
            child: None,
            starts: 0,
        }
    }

    /// A started daemon whose only job, `job` (never due), runs `command`,
    /// triggered once: the daemon, the run's id and its first start line.
    pub fn with_run_in_progress(job: &str, command: &str) -> (Daemon, String, StartRecord) {
        let mut d = Daemon::new();
        d.write_config(&format!(
            "[jobs.{job}]\nschedule = {NEVER:?}\ncommand = {command:?}\n"
        ));
        d.start();
        let run_id = d.trigger(job);
        let start = d.wait_start(&run_id, 1, SECS_20);
        (d, run_id, start)
    }

    /// A path inside the temp dir.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn config_path(&self) -> PathBuf {
        self.path(self.config_file)
    }

    pub fn state_dir(&self) -> PathBuf {
        self.path("state")
    }

    pub fn log_file(&self) -> PathBuf {
        self.path("log/runs.jsonl")
    }

    /// The `[daemon]` table every config of this fixture starts with.
    pub fn daemon_table(&self) -> String {
        format!(
            "[daemon]\nlisten = \"127.0.0.1:0\"\nstate_dir = {:?}\nlog_file = {:?}\nshutdown_grace = {:?}\n",
            self.state_dir(),
            self.log_file(),
            self.shutdown_grace
        )
    }

    /// Writes the config file: `rest` (which must not have a `[daemon]`
    /// table; top-level keys such as `include` are fine) followed by the
    /// fixture's `[daemon]` table, so line numbers in errors are those of
    /// `rest`. Written as editors do, into a temp file in the same folder
    /// renamed over the old one, so the daemon never sees half a file.
    pub fn write_config(&self, rest: &str) {
        let text = format!("{rest}\n{}", self.daemon_table());
        self.write_file(self.config_file, &text);
    }

    /// Writes `rel` atomically (temp file in the same folder, then rename);
    /// the temp name does not end in `.toml`, so include globs skip it.
    pub fn write_file(&self, rel: &str, text: &str) {
        let path = self.path(rel);
        let parent = path.parent().expect("file has a folder");
        std::fs::create_dir_all(parent).expect("create folder");
        let name = path.file_name().expect("file name").to_string_lossy();
        let temp = parent.join(format!(".{name}.tmp"));
        std::fs::write(&temp, text).expect("write temp file");
        std::fs::rename(&temp, &path).expect("rename over the file");
    }

    /// Writes the state file a daemon leaves when it last scheduled each
    /// of `jobs` at `at` and has been down since.
    pub fn write_last_scheduled(&self, jobs: &[&str], at: chrono::DateTime<chrono::Utc>) {
        let last: serde_json::Map<String, Value> = jobs
            .iter()
            .map(|job| (job.to_string(), cronduct::record::ts::format(&at).into()))
            .collect();
        let state = serde_json::json!({"version": 1, "last_scheduled": last});
        std::fs::create_dir_all(self.state_dir()).expect("create state dir");
        std::fs::write(
            self.state_dir().join("state.json"),
            serde_json::to_vec(&state).expect("json"),
        )
        .expect("write state.json");
    }

    /// Starts the daemon and waits until `/health` answers.
    pub fn start(&mut self) {
        self.launch();
        self.wait_ready();
    }

    /// Starts the daemon process and returns at once, before it has read
    /// its config or its log; [`Daemon::wait_ready`] waits for `/health`.
    pub fn launch(&mut self) {
        assert!(self.child.is_none(), "the daemon is already running");
        self.starts += 1;
        // A restart binds a new port: the address of the last life must not
        // be mistaken for this one's.
        let listen_file = self.state_dir().join(cronduct::api::LISTEN_FILE_NAME);
        let _ = std::fs::remove_file(&listen_file);
        let stderr = std::fs::File::create(self.path(&format!("daemon-{}.stderr", self.starts)))
            .expect("create stderr file");
        let mut cmd = Command::new(BIN);
        cmd.arg("run")
            .arg("-c")
            .arg(self.config_path())
            .env_remove("CRONDUCT_CONFIG")
            .env_remove("NOTIFY_SOCKET")
            // Result directories go under the temp dir's state dir, also
            // when the tests themselves run in a systemd service.
            .env_remove("RUNTIME_DIRECTORY")
            // Whole output goes to files unless a test says otherwise,
            // also when the tests run in a systemd service.
            .env_remove("INVOCATION_ID")
            .env_remove("JOURNAL_STREAM")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        if self.key_in_env {
            cmd.env("CRONDUCT_ADMIN_KEY", KEY);
        } else {
            cmd.env_remove("CRONDUCT_ADMIN_KEY");
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        self.child = Some(cmd.spawn().expect("start cronduct run"));
    }

    /// Waits until the daemon [`Daemon::launch`] started answers `/health`;
    /// fails the test if it exits first.
    pub fn wait_ready(&mut self) {
        let outcome = poll::within(START_DEADLINE, || {
            if let Some(status) = self.try_exit() {
                return Some(Err(status));
            }
            let addr = cronduct::api::read_bound_address(&self.state_dir()).ok()?;
            self.port = addr.port();
            let reply = self.try_http("GET", "/health", None).ok()?;
            (reply.status == 200).then_some(Ok(()))
        });
        match outcome {
            Some(Ok(())) => {}
            Some(Err(status)) => panic!(
                "the daemon exited at start ({status}):\n{}",
                self.diagnostics()
            ),
            None => panic!(
                "the daemon did not answer /health within {START_DEADLINE:?}:\n{}",
                self.diagnostics()
            ),
        }
    }

    /// The daemon's pid.
    pub fn pid(&self) -> i32 {
        let child = self.child.as_ref().expect("the daemon is running");
        i32::try_from(child.id()).expect("pid fits")
    }

    pub fn signal(&self, signal: Signal) {
        kill(Pid::from_raw(self.pid()), signal).expect("signal the daemon");
    }

    fn try_exit(&mut self) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        let status = child.try_wait().expect("wait for the daemon")?;
        self.child = None;
        Some(status)
    }

    /// Waits for the daemon to exit.
    pub fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        poll::within(within, || self.try_exit()).unwrap_or_else(|| {
            panic!(
                "the daemon did not exit within {within:?}:\n{}",
                self.diagnostics()
            )
        })
    }

    /// SIGTERM, and the daemon must exit 0 within `within`.
    pub fn stop(&mut self, within: Duration) {
        self.signal(Signal::SIGTERM);
        let status = self.wait_exit(within);
        assert!(
            status.success(),
            "the daemon exited with {status}:\n{}",
            self.diagnostics()
        );
    }

    /// SIGKILL: a crash, nothing gets flushed or cleaned up.
    pub fn crash(&mut self) {
        self.signal(Signal::SIGKILL);
        self.wait_exit(Duration::from_secs(10));
    }

    /// The daemon's stderr (every start) and the tail of the run log, for
    /// failure messages.
    pub fn diagnostics(&self) -> String {
        let mut out = String::new();
        for n in 1..=self.starts {
            let text = std::fs::read_to_string(self.path(&format!("daemon-{n}.stderr")))
                .unwrap_or_default();
            out.push_str(&format!(
                "--- daemon stderr (start {n}) ---\n{}",
                tail(&text, 6000)
            ));
        }
        let log = std::fs::read_to_string(self.log_file()).unwrap_or_default();
        out.push_str(&format!("--- run log (tail) ---\n{}", tail(&log, 6000)));
        out
    }

    /// What the daemon wrote to stderr (its own log) in its current or
    /// last life.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.path(&format!("daemon-{}.stderr", self.starts)))
            .unwrap_or_default()
    }

    /// Polls `check` until it returns `Some`, failing after `within` with
    /// `what` and the diagnostics.
    pub fn poll<T>(&self, what: &str, within: Duration, check: impl FnMut() -> Option<T>) -> T {
        poll::within(within, check).unwrap_or_else(|| {
            panic!(
                "timed out after {within:?} waiting for {what}\n{}",
                self.diagnostics()
            )
        })
    }

    /// Waits (up to 5 s) until process group `pgid` has no live member
    /// and none of the processes in `also` (ones that may have left the
    /// group) is alive; `what` names them in the failure message.
    pub fn wait_gone(&self, what: &str, pgid: i32, also: &[i32]) {
        self.poll(what, Duration::from_secs(5), || {
            (also.iter().all(|&pid| !alive(pid)) && group_members(pgid).is_empty()).then_some(())
        });
    }

    // ---- the run log ----

    /// Every complete line of the run log (a trailing line still being
    /// written is left out).
    pub fn log_lines(&self) -> Vec<String> {
        let text = match std::fs::read_to_string(self.log_file()) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
            Err(e) => panic!("read {}: {e}", self.log_file().display()),
        };
        let complete = text.rfind('\n').map_or("", |end| &text[..end]);
        complete
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// The run log, parsed; a line that is not a valid record fails the
    /// test.
    pub fn events(&self) -> Vec<LogEvent> {
        self.log_lines()
            .iter()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad log line ({e}): {l}")))
            .collect()
    }

    /// The records `pick` takes out of the run log, in log order.
    pub fn records<T>(&self, pick: impl FnMut(LogEvent) -> Option<T>) -> Vec<T> {
        self.events().into_iter().filter_map(pick).collect()
    }

    pub fn starts(&self, job: &str) -> Vec<StartRecord> {
        self.records(|e| match e {
            LogEvent::Start(s) if s.job == job => Some(s),
            _ => None,
        })
    }

    /// The `missed` lines of `job`.
    pub fn missed(&self, job: &str) -> Vec<MissedRecord> {
        self.records(|e| match e {
            LogEvent::Missed(m) if m.job == job => Some(m),
            _ => None,
        })
    }

    pub fn finishes(&self, job: &str) -> Vec<FinishRecord> {
        self.records(|e| match e {
            LogEvent::Finish(f) if f.job == job => Some(f),
            _ => None,
        })
    }

    pub fn skips(&self, job: &str) -> Vec<SkipRecord> {
        self.records(|e| match e {
            LogEvent::Skip(s) if s.job == job => Some(s),
            _ => None,
        })
    }

    /// Every finish line of one run, in order.
    pub fn run_finishes(&self, run_id: &str) -> Vec<FinishRecord> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                LogEvent::Finish(f) if f.run_id == run_id => Some(f),
                _ => None,
            })
            .collect()
    }

    /// Every start line of one run, in order.
    pub fn run_starts(&self, run_id: &str) -> Vec<StartRecord> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                LogEvent::Start(s) if s.run_id == run_id => Some(s),
                _ => None,
            })
            .collect()
    }

    /// Waits for the start line of attempt `attempt` of a run.
    pub fn wait_start(&self, run_id: &str, attempt: u32, within: Duration) -> StartRecord {
        self.poll(
            &format!("the start of attempt {attempt} of run {run_id}"),
            within,
            || {
                self.run_starts(run_id)
                    .into_iter()
                    .find(|s| s.attempt == attempt)
            },
        )
    }

    /// Waits for the run's last finish line (the one with no retry after it).
    pub fn wait_finish(&self, run_id: &str, within: Duration) -> FinishRecord {
        self.poll(&format!("the end of run {run_id}"), within, || {
            self.run_finishes(run_id)
                .into_iter()
                .find(|f| !f.will_retry)
        })
    }

    /// Waits until `job` has at least `n` start lines.
    pub fn wait_starts(&self, job: &str, n: usize, within: Duration) -> Vec<StartRecord> {
        self.poll(&format!("{n} start(s) of {job}"), within, || {
            let starts = self.starts(job);
            (starts.len() >= n).then_some(starts)
        })
    }

    /// Waits until `job` has at least `n` finish lines.
    pub fn wait_finishes(&self, job: &str, n: usize, within: Duration) -> Vec<FinishRecord> {
        self.poll(&format!("{n} finish line(s) of {job}"), within, || {
            let finishes = self.finishes(job);
            (finishes.len() >= n).then_some(finishes)
        })
    }

    // ---- the admin API ----

    /// The port the running daemon listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The admin key clients use: the fixed one, or the one the daemon
    /// generated into its state dir.
    pub fn key(&self) -> String {
        if self.key_in_env {
            return KEY.to_string();
        }
        let path = self.state_dir().join("admin.key");
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
            .trim()
            .to_string()
    }

    /// The address the running daemon's API listens on.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    fn try_http(&self, method: &str, path: &str, key: Option<&str>) -> std::io::Result<Reply> {
        http(self.addr(), method, path, key)
    }

    /// Sends `request` as raw bytes on a new connection and returns the
    /// whole answer, read until the daemon closes the connection (send
    /// `Connection: close`).
    pub fn raw(&self, request: &[u8]) -> String {
        let exchange = || -> std::io::Result<String> {
            let mut stream = TcpStream::connect_timeout(&self.addr(), Duration::from_secs(5))?;
            stream.set_read_timeout(Some(Duration::from_secs(60)))?;
            stream.write_all(request)?;
            let mut raw = Vec::new();
            stream.read_to_end(&mut raw)?;
            Ok(String::from_utf8_lossy(&raw).into_owned())
        };
        exchange().unwrap_or_else(|e| panic!("raw request: {e}\n{}", self.diagnostics()))
    }

    /// A request with `key` (or none); any status.
    pub fn api_as(&self, method: &str, path: &str, key: Option<&str>) -> Reply {
        self.try_http(method, path, key)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}\n{}", self.diagnostics()))
    }

    /// `POST path` with `body`, with the admin key; any status.
    pub fn post_body(&self, path: &str, body: &str) -> Reply {
        let key = self.key();
        http_with_body(
            SocketAddr::from((Ipv4Addr::LOCALHOST, self.port)),
            "POST",
            path,
            Some(&key),
            body,
        )
        .unwrap_or_else(|e| panic!("POST {path}: {e}\n{}", self.diagnostics()))
    }

    /// `method path` with `key`, more `headers` and `body`; any status.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Reply {
        http_with_headers(
            SocketAddr::from((Ipv4Addr::LOCALHOST, self.port)),
            method,
            path,
            key,
            headers,
            body,
        )
        .unwrap_or_else(|e| panic!("{method} {path}: {e}\n{}", self.diagnostics()))
    }

    /// A request with the admin key.
    pub fn api(&self, method: &str, path: &str) -> Reply {
        let key = self.key();
        self.try_http(method, path, Some(&key))
            .unwrap_or_else(|e| panic!("{method} {path}: {e}\n{}", self.diagnostics()))
    }

    /// `GET path`, which must answer 200.
    pub fn get(&self, path: &str) -> Value {
        let reply = self.api("GET", path);
        assert_eq!(reply.status, 200, "GET {path}: {}", reply.body);
        reply.body
    }

    /// `POST path`, which must answer 200; the answer's body.
    pub fn post(&self, path: &str) -> Value {
        let reply = self.api("POST", path);
        assert_eq!(reply.status, 200, "POST {path}: {}", reply.body);
        reply.body
    }

    /// `GET /health` (no key).
    pub fn health(&self) -> Reply {
        self.try_http("GET", "/health", None)
            .unwrap_or_else(|e| panic!("GET /health: {e}\n{}", self.diagnostics()))
    }

    /// `POST /api/v1/jobs/{job}/run`, which must be accepted; the run id.
    pub fn trigger(&self, job: &str) -> String {
        let reply = self.api("POST", &format!("/api/v1/jobs/{job}/run"));
        assert_eq!(reply.status, 202, "trigger {job}: {}", reply.body);
        reply.body["run_id"]
            .as_str()
            .expect("run_id in the trigger answer")
            .to_string()
    }

    /// The job as `GET /api/v1/jobs` lists it, if it is there.
    pub fn listed_job(&self, job: &str) -> Option<Value> {
        self.get("/api/v1/jobs")["jobs"]
            .as_array()
            .expect("jobs array")
            .iter()
            .find(|j| j["id"] == job)
            .cloned()
    }

    // ---- the CLI ----

    /// Runs `cronduct ARGS -c CONFIG`, with `CRONDUCT_ADMIN_KEY` set to the
    /// fixture's key only when `key_in_env`; otherwise the CLI must find
    /// the key on its own.
    pub fn cli(&self, args: &[&str]) -> Out {
        let out = self
            .cli_command(args)
            .output()
            .expect("run the cronduct CLI");
        Out {
            code: out.status.code().expect("the CLI exited"),
            stdout: String::from_utf8(out.stdout).expect("utf-8 stdout"),
            stderr: String::from_utf8(out.stderr).expect("utf-8 stderr"),
        }
    }

    /// Starts `cronduct ARGS -c CONFIG` as `cli` would, with stdout and
    /// stderr piped, for a command that keeps running (`logs -f`).
    pub fn cli_spawn(&self, args: &[&str]) -> Child {
        self.cli_command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the cronduct CLI")
    }

    fn cli_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .arg("-c")
            .arg(self.config_path())
            .env_remove("CRONDUCT_CONFIG")
            .env("TZ", "UTC");
        if self.key_in_env {
            cmd.env("CRONDUCT_ADMIN_KEY", KEY);
        } else {
            cmd.env_remove("CRONDUCT_ADMIN_KEY");
        }
        cmd
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let Some(child) = self.child.as_mut() else {
            return;
        };
        let pid = Pid::from_raw(i32::try_from(child.id()).unwrap_or(i32::MAX));
        let _ = kill(pid, Signal::SIGTERM);
        let exited = poll::within(Duration::from_secs(15), || child.try_wait().ok().flatten());
        if exited.is_some() {
            return;
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

fn tail(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

/// A minimal blocking HTTP/1.1 client: one request per connection, the
/// whole answer read until the server closes, JSON body parsed (`Null`
/// when empty, a string when it is not JSON).
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    key: Option<&str>,
) -> std::io::Result<Reply> {
    http_with_body(addr, method, path, key, "")
}

/// [`http`] with a request body (JSON, or whatever the test sends).
pub fn http_with_body(
    addr: SocketAddr,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: &str,
) -> std::io::Result<Reply> {
    http_with_headers(addr, method, path, key, &[], body)
}

/// [`http_with_body`] with more request headers (`If-Match`...).
pub fn http_with_headers(
    addr: SocketAddr,
    method: &str,
    path: &str,
    key: Option<&str>,
    headers: &[(&str, &str)],
    body: &str,
) -> std::io::Result<Reply> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let auth = key.map_or(String::new(), |k| format!("Authorization: Bearer {k}\r\n"));
    let extra: String = headers
        .iter()
        .map(|(name, value)| format!("{name}: {value}\r\n"))
        .collect();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other(format!("no header end in {text:?}")))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line in {head:?}")))?;
    let etag = head.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("etag")
            .then(|| value.trim().to_string())
    });
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked")
    });
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    let body = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&body).unwrap_or(Value::String(body))
    };
    Ok(Reply { status, body, etag })
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}

// ---- processes ----

/// The process group of a run's command: the daemon starts each command
/// as the leader of its own group, so the group id is the command's pid.
pub fn pgid_of(start: &StartRecord) -> i32 {
    i32::try_from(start.pid.expect("a command has a pid")).expect("pid fits")
}

/// Kills a leftover process group (after a simulated crash nobody else
/// will).
pub fn kill_group(pgid: i32) {
    let _ = kill(Pid::from_raw(-pgid), Signal::SIGKILL);
}

/// A schedule that does not come due during a test (midnight on New
/// Year's Day): jobs with it run only when triggered.
pub const NEVER: &str = "0 0 1 1 *";

/// The wall clock, read the way the daemon reads it.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    use cronduct::clock::Clock;
    cronduct::clock::SystemClock.now()
}
