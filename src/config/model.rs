//! The validated configuration: what the daemon runs on.
//!
//! Every value here has been checked and every default resolved, so the
//! daemon never re-validates. Nothing here touches the file system.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::zone::Zone;

use crate::schedule::Schedule;

/// A whole, valid configuration: the main file and its includes.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The main file, as given (made absolute).
    pub path: PathBuf,
    /// The main file, every include that matched, every crontab read and
    /// every crontab path written without wildcards (read or not yet
    /// there), for the file watcher.
    pub files: Vec<PathBuf>,
    /// The directories whose changes may add or remove an include.
    pub include_dirs: Vec<PathBuf>,
    /// The directories whose changes may add or remove a crontab of the
    /// `crontabs` key: any file whose name cron would read counts.
    pub crontab_dirs: Vec<PathBuf>,
    pub daemon: DaemonSettings,
    pub smtp: Option<SmtpSettings>,
    /// `[cluster]`: set when this daemon is one node of several.
    pub cluster: Option<ClusterSettings>,
    /// Jobs by id, in id order; the scheduler shares them.
    pub jobs: BTreeMap<String, Arc<Job>>,
}

impl Config {
    /// The TZif files the jobs' zones were read from: a tzdata update
    /// that rewrites one changes the jobs' next runs, so the daemon
    /// watches them like the config files.
    pub fn zone_files(&self) -> impl Iterator<Item = &std::path::Path> {
        self.jobs.values().filter_map(|job| job.timezone.file())
    }
}

/// `[daemon]`, with per-user defaults filled in (cronduct.toml(5), FILES).
#[derive(Debug, Clone, PartialEq)]
pub struct DaemonSettings {
    pub listen: SocketAddr,
    /// `admin_key_file`; when `None` the key comes from `CRONDUCT_ADMIN_KEY`
    /// or is generated into `<state_dir>/admin.key`.
    pub admin_key_file: Option<PathBuf>,
    pub state_dir: PathBuf,
    pub log_file: PathBuf,
    pub log_max_size: u64,
    pub log_keep: u32,
    pub shutdown_grace: Duration,
    /// Where the whole output of each attempt goes.
    pub output: OutputMode,
    /// How long output files are kept.
    pub output_keep: Duration,
    /// `[[daemon.keys]]`, in the order written; names are unique and never
    /// `default`, the name of the `admin_key_file` key.
    pub keys: Vec<ApiKeySpec>,
    /// `managed_dir`, absolute: where `PUT /api/v1/jobs/{id}` writes
    /// `<id>.toml`; its `*.toml` files are included. `None`: job management
    /// over the API is off.
    pub managed_dir: Option<PathBuf>,
    /// `managed_users`: the accounts a managed job may name in `user` when
    /// the daemon runs as root.
    pub managed_users: Vec<String>,
}

/// `[daemon] output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputMode {
    /// `<log dir>/output/<job>/<run_id>.<attempt>.log`.
    Files,
    /// One journal entry per line, through journald's socket.
    Journal,
    /// Only the record's tails.
    Tail,
}

impl OutputMode {
    pub fn as_str(self) -> &'static str {
        match self {
            OutputMode::Files => "files",
            OutputMode::Journal => "journal",
            OutputMode::Tail => "tail",
        }
    }
}

/// What a key may do over the admin API (cronduct.toml(5) API KEYS). Each
/// role includes the ones before it, so the order is the derived one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Reads only.
    Read,
    /// Also pause, resume, run, cancel and reload.
    Operate,
    /// Also manages job definitions.
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Read, Role::Operate, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Operate => "operate",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One `[[daemon.keys]]` entry. The key itself stays in its file until
/// the daemon (or the CLI) reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeySpec {
    pub name: String,
    pub file: PathBuf,
    pub role: Role,
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    None,
    StartTls,
    Tls,
}

/// `[smtp]`.
#[derive(Debug, Clone, PartialEq)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub from: String,
    pub username: Option<String>,
    /// Read at send time, so a rotated password needs no reload.
    pub password_file: Option<PathBuf>,
}

/// `[cluster]` (cronduct.toml(5), CLUSTER).
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterSettings {
    /// Where the database URL comes from; the URL itself is read when
    /// the daemon starts, never kept in a printable form.
    pub database: DatabaseSource,
    /// This node's name, unique in the cluster.
    pub node: String,
    pub heartbeat: Duration,
    pub node_timeout: Duration,
}

/// Where the cluster's database URL is written. The URL may hold a
/// password, so it is wrapped in [`Secret`] and never shown.
#[derive(Debug, Clone, PartialEq)]
pub enum DatabaseSource {
    /// `database = "postgres://…"`.
    Url(Secret),
    /// `database_file`: a file holding the URL, read at start.
    File(PathBuf),
    /// Neither: the `CRONDUCT_DATABASE_URL` variable of the daemon.
    Env,
}

/// Text that must never appear in logs, answers or `check` output: its
/// `Debug` shows only that something is there.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(text: String) -> Secret {
        Secret(text)
    }

    /// The secret itself, for the one place that uses it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// Where a job runs in a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOn {
    /// Each scheduled instant runs on exactly one node.
    One,
    /// Every node runs every instant (node-local work).
    All,
}

impl RunOn {
    pub fn as_str(self) -> &'static str {
        match self {
            RunOn::One => "one",
            RunOn::All => "all",
        }
    }
}

/// What to do when two runs of one job would overlap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Concurrency {
    /// Skip the new run while one is active (logged as a `skip` event).
    Forbid,
    /// Let runs overlap.
    Allow,
    /// Cancel the active run, then start the new one.
    Replace,
}

impl Concurrency {
    pub fn as_str(self) -> &'static str {
        match self {
            Concurrency::Forbid => "forbid",
            Concurrency::Allow => "allow",
            Concurrency::Replace => "replace",
        }
    }
}

/// A command to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// A string, run as `<shell> -c <string>`.
    Shell(String),
    /// An array, executed directly without a shell.
    Argv(Vec<String>),
}

/// An HTTP request to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// Validated: absolute `http` or `https` URL.
    pub url: String,
    /// Upper-case method name.
    pub method: String,
    pub headers: BTreeMap<String, String>,
    pub body: String,
    /// Statuses that count as success; empty means any 2xx.
    pub expect_status: Vec<u16>,
    /// `result`: the response body is the attempt's JSON result.
    pub result: bool,
}

/// What a job does: exactly one action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Command(Command),
    Http(HttpRequest),
}

impl Action {
    /// `"command"` or `"http"`, as the API reports it.
    pub fn kind(&self) -> &'static str {
        match self {
            Action::Command(_) => "command",
            Action::Http(_) => "http",
        }
    }
}

/// The outcomes that trigger a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NotifyOn {
    pub failure: bool,
    pub recovery: bool,
    pub success: bool,
    /// A run still going after `warn_after`.
    pub slow: bool,
    /// No successful run within `expect_success_within`.
    pub overdue: bool,
    /// Scheduled instants that passed while the daemon was down.
    pub missed: bool,
    /// A `forbid` skip.
    pub skipped: bool,
}

/// What a webhook's body looks like (cronduct.toml(5) NOTIFICATIONS).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WebhookFormat {
    /// cronduct's own JSON document.
    #[default]
    Json,
    /// `{"text": …}`: Slack, Mattermost, Rocket.Chat.
    Slack,
    /// `{"content": …}`, at most 2000 characters.
    Discord,
    /// An Adaptive Card in a Teams workflow message.
    Teams,
    /// A plain-text body with `Title`, `Priority` and `Tags` headers.
    Ntfy,
}

/// A value of a job's `env`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvValue {
    Text(String),
    /// `{ file = "/path" }`: the file's contents, one trailing newline
    /// removed, read at each start. A secret: never logged or shown.
    File(PathBuf),
    /// `{ credential = "name" }`: `$CREDENTIALS_DIRECTORY/name`, as
    /// systemd's `LoadCredential=` provides it; read like `File`.
    Credential(String),
}

impl From<&str> for EnvValue {
    fn from(text: &str) -> Self {
        EnvValue::Text(text.to_string())
    }
}

impl From<String> for EnvValue {
    fn from(text: String) -> Self {
        EnvValue::Text(text)
    }
}

/// One entry of `env_file`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvFile {
    pub path: PathBuf,
    /// Written with a leading `-`: a missing file is no error.
    pub optional: bool,
}

/// A webhook header's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderValue {
    Text(String),
    /// `{ file = "/path" }`: read at send time, one trailing newline
    /// removed, so a token stays out of the config. A secret: never logged.
    File(PathBuf),
}

/// `notify.webhook`: a string is `{ url, format = "json" }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub url: String,
    pub format: WebhookFormat,
    pub headers: BTreeMap<String, HeaderValue>,
}

impl Webhook {
    /// The string form: today's JSON document, no extra headers.
    pub fn json(url: impl Into<String>) -> Webhook {
        Webhook {
            url: url.into(),
            format: WebhookFormat::Json,
            headers: BTreeMap::new(),
        }
    }
}

/// `notify = { ... }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notify {
    pub email: Vec<String>,
    pub webhook: Option<Webhook>,
    /// A healthchecks.io-protocol URL, pinged once per run whatever `on`
    /// says.
    pub ping: Option<String>,
    pub on: NotifyOn,
    /// Consecutive failed runs before the first failure notice (>= 1).
    pub after: u32,
}

/// One job, with `[defaults]` applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: String,
    pub description: String,
    pub schedule: Schedule,
    pub timezone: Zone,
    pub action: Action,
    pub enabled: bool,
    pub timeout: Option<Duration>,
    pub kill_grace: Duration,
    pub retries: u32,
    pub retry_delay: Duration,
    pub retry_backoff: f64,
    pub concurrency: Concurrency,
    pub jitter: Duration,
    pub catch_up: Option<Duration>,
    pub user: Option<String>,
    pub group: Option<String>,
    pub working_dir: Option<PathBuf>,
    /// `[defaults].env` merged with the job's `env` (the job wins).
    pub env: BTreeMap<String, EnvValue>,
    /// Files of `NAME=value` lines read at each start, under `env`.
    pub env_file: Vec<EnvFile>,
    /// Names copied from the daemon's environment at each start, under
    /// `env` (which wins).
    pub inherit_env: Vec<String>,
    pub shell: String,
    pub output_limit: usize,
    /// The largest output file of one attempt (head and tail halves).
    pub output_max_size: u64,
    pub notify: Option<Notify>,
    /// Failing or overdue turns `/health` `degraded`.
    pub critical: bool,
    /// A run still going after this long is `slow` (not killed).
    pub warn_after: Option<Duration>,
    /// No successful run for this long makes the job `overdue`.
    pub expect_success_within: Option<Duration>,
    /// The exit codes that make a command attempt a success; never empty.
    pub success_exit_codes: Vec<i32>,
    /// Text written to a command's standard input, which is `/dev/null`
    /// without it.
    pub stdin: Option<String>,
    /// With `[cluster]`: whether one node or every node runs each
    /// instant. Without one, every instant runs here whatever it says.
    pub run_on: RunOn,
    /// The file the job was defined in.
    pub source: PathBuf,
    /// The line of a job read from a crontab (the `crontabs` key), which
    /// `source` names; `None` for a job of the configuration's own.
    pub crontab_line: Option<usize>,
}

impl Job {
    /// A job with every optional key at its default (the `Unset` of its row in
    /// [`keys`](super::keys), checked by a test): what the
    /// loader starts from before applying `[defaults]` and the job's own
    /// keys.
    pub fn new(
        id: impl Into<String>,
        schedule: Schedule,
        timezone: Zone,
        action: Action,
        source: impl Into<PathBuf>,
    ) -> Job {
        Job {
            id: id.into(),
            description: String::new(),
            schedule,
            timezone,
            action,
            enabled: true,
            timeout: None,
            kill_grace: Duration::from_secs(10),
            retries: 0,
            retry_delay: Duration::from_secs(30),
            retry_backoff: 1.0,
            concurrency: Concurrency::Forbid,
            jitter: Duration::ZERO,
            catch_up: None,
            user: None,
            group: None,
            working_dir: None,
            env: BTreeMap::new(),
            env_file: Vec::new(),
            inherit_env: Vec::new(),
            shell: "/bin/sh".to_string(),
            output_limit: 64 << 10,
            output_max_size: 10 << 20,
            notify: None,
            critical: false,
            warn_after: None,
            expect_success_within: None,
            success_exit_codes: vec![0],
            stdin: None,
            run_on: RunOn::One,
            source: source.into(),
            crontab_line: None,
        }
    }

    /// The delay before retry number `n` (1-based):
    /// `retry_delay × retry_backoff^(n-1)` (cronduct.toml(5), RUNNING A JOB),
    /// capped at a day so a large backoff cannot overflow.
    pub fn retry_delay_for(&self, n: u32) -> Duration {
        // 0 × ∞ is NaN, which `from_secs_f64` refuses with a panic.
        if self.retry_delay.is_zero() {
            return Duration::ZERO;
        }
        let factor = self
            .retry_backoff
            .powi(i32::try_from(n.saturating_sub(1)).unwrap_or(i32::MAX));
        let secs = self.retry_delay.as_secs_f64() * factor;
        Duration::try_from_secs_f64(secs.clamp(0.0, 86_400.0))
            .unwrap_or(Duration::from_secs(86_400))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(delay: u64, backoff: f64) -> Job {
        Job {
            retries: 3,
            retry_delay: Duration::from_secs(delay),
            retry_backoff: backoff,
            ..Job::new(
                "j",
                "@hourly".parse().expect("valid"),
                Zone::utc(),
                Action::Command(Command::Shell("true".into())),
                "jobs.toml",
            )
        }
    }

    #[test]
    fn retry_delay_grows_by_backoff() {
        let j = job(30, 2.0);
        let got: Vec<u64> = (1..=4).map(|n| j.retry_delay_for(n).as_secs()).collect();
        assert_eq!(got, vec![30, 60, 120, 240]);
        assert_eq!(job(30, 1.0).retry_delay_for(5).as_secs(), 30);
        assert_eq!(job(30, 1e9).retry_delay_for(9).as_secs(), 86_400);
    }

    /// A zero delay times an infinite factor is NaN: it must mean no
    /// wait, never a panic in the run task.
    #[test]
    fn retry_delay_never_panics_on_extreme_factors() {
        for backoff in [1e300, f64::MAX, 100.0] {
            for n in [1, 2, 60, u32::MAX] {
                assert_eq!(job(0, backoff).retry_delay_for(n), Duration::ZERO);
                assert!(
                    job(u64::MAX / 4, backoff).retry_delay_for(n) <= Duration::from_secs(86_400)
                );
            }
        }
    }
}
