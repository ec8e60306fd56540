//! The validation layer: raw tables → the [`model`](super::model) types.
//! Every value is judged here (schedules, zones, durations, accounts,
//! URLs…), `[defaults]` are applied, built-in defaults filled in and
//! relative paths resolved against the folder of the file they are
//! written in.
//!
//! Problems are collected, never returned early: one bad value costs only
//! its own diagnostic, and the rest of the file is still checked.
//!
//! Choices the spec leaves open (written down for the docs):
//! - `timeout = 0` and `catch_up = 0` mean "off", so a job can switch off a
//!   `[defaults]` timeout.
//! - `notify` replaces the `[defaults]` notify table as a whole (only `env`
//!   merges); `notify = {}` switches notifications off for one job. A
//!   notify table with `on` or `after` but no `email` and no `webhook` is
//!   refused: it would send nothing.
//! - `[smtp]`: `host` defaults to `localhost`, `tls` to `none`, `port` to
//!   25, 587 (`starttls`) or 465 (`tls`), `from` to `cronduct@<hostname>`.
//!   `username` and `password_file` come together or not at all.
//! - `log_keep` must be at least 1 and `log_max_size` more than 0: keeping
//!   no rotated file would drop lines.
//! - `shell` is used as written (not resolved against the config folder):
//!   it names a program, like `/bin/bash`.
//! - An unknown user or group is refused even when `check` is not run as
//!   root: the account must exist wherever the daemon would run the job.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono_tz::Tz;

use super::diagnostic::{Diagnostic, FileId, Source, suggest, suggest_timezones};
use super::model::{
    Action, Command, Concurrency, DaemonSettings, HttpRequest, Job, Notify, NotifyOn, SmtpSettings,
    SmtpTls,
};
use super::raw::{
    Amount, RawCommand, RawDaemon, RawFile, RawHttp, RawJob, RawNotify, RawSmtp, Scope, Sp,
};
use super::units::{parse_duration, parse_size};
use crate::schedule::Schedule;

const DEFAULT_LISTEN: &str = "127.0.0.1:9780";
const DEFAULT_LOG_MAX_SIZE: u64 = 100 << 20;
const DEFAULT_LOG_KEEP: u32 = 10;
const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

const SCHEDULE_HELP: &str = "5 fields `minute hour day-of-month month day-of-week` \
     (6 with seconds first), or a macro: @hourly, @daily, @weekly, @monthly, @yearly, \
     @reboot, @every 90s";
const ID_HELP: &str = "a job id starts with a letter or digit, followed by up to 63 letters, \
     digits, `_`, `.` or `-`";

/// What validation produced; only used when no diagnostic was recorded.
pub(crate) struct Validated {
    pub daemon: Option<DaemonSettings>,
    pub smtp: Option<SmtpSettings>,
    pub jobs: BTreeMap<String, Job>,
}

/// Validates the main file's raw content and its includes' jobs.
/// `dirs[i]` is the absolute folder and `paths[i]` the absolute path of
/// file `FileId(i)`.
pub(crate) fn validate(
    main: &RawFile,
    includes: &[RawFile],
    sources: &[Source],
    dirs: &[PathBuf],
    paths: &[PathBuf],
    diags: &mut Vec<Diagnostic>,
) -> Validated {
    let mut v = Validator::new(main, dirs, diags);
    let daemon = v.daemon(main.daemon.as_ref());
    let smtp = main.smtp.as_ref().and_then(|s| v.smtp(s));
    let defaults = main
        .defaults
        .as_ref()
        .map(|d| v.settings(d))
        .unwrap_or_default();
    let defaults_schedule = main.defaults.as_ref().is_some_and(|d| d.has_schedule);

    let mut jobs = BTreeMap::new();
    let mut first_seen: HashMap<&str, (FileId, Range<usize>)> = HashMap::new();
    for (id, raw) in std::iter::once(main)
        .chain(includes)
        .flat_map(|f| f.jobs.iter())
    {
        if let Some((file, span)) = first_seen.get(id.get_ref().as_str()) {
            let first = &sources[file.0];
            let d = Diagnostic::at(
                raw.file,
                id.span(),
                format!("job `{}` is defined twice", id.get_ref()),
            )
            .note(format!("first defined at {}", first.location(span.start)))
            .help(format!(
                "job ids must be unique across {} and every file it includes; rename one",
                sources[0].display
            ));
            v.diags.push(d);
            continue;
        }
        first_seen.insert(id.get_ref(), (raw.file, id.span()));
        if let Some(job) = v.job(id, raw, &defaults, defaults_schedule, &paths[raw.file.0]) {
            jobs.insert(job.id.clone(), job);
        }
    }
    Validated { daemon, smtp, jobs }
}

/// Validates only the main file's `[daemon]` table, as [`validate`] does.
/// `dirs[0]` is the absolute folder of the main file.
pub(crate) fn daemon_settings(
    main: &RawFile,
    dirs: &[PathBuf],
    diags: &mut Vec<Diagnostic>,
) -> Option<DaemonSettings> {
    let mut v = Validator::new(main, dirs, diags);
    v.daemon(main.daemon.as_ref())
}

/// `^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$` (SPEC §2).
pub(crate) fn valid_id(id: &str) -> bool {
    let b = id.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && b[0].is_ascii_alphanumeric()
        && b[1..]
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// One table's values (a job's or `[defaults]`'), each `None` when not
/// written (or not valid, which has already been reported).
#[derive(Debug, Default, Clone)]
struct Settings {
    schedule: Option<Schedule>,
    description: Option<String>,
    enabled: Option<bool>,
    timezone: Option<Tz>,
    /// `Some(None)`: written as 0, i.e. no timeout.
    timeout: Option<Option<Duration>>,
    kill_grace: Option<Duration>,
    retries: Option<u32>,
    retry_delay: Option<Duration>,
    retry_backoff: Option<f64>,
    concurrency: Option<Concurrency>,
    jitter: Option<Duration>,
    catch_up: Option<Option<Duration>>,
    user: Option<String>,
    group: Option<String>,
    working_dir: Option<PathBuf>,
    env: BTreeMap<String, String>,
    shell: Option<String>,
    output_limit: Option<usize>,
    /// `Some(None)`: `notify = {}`, notifications switched off.
    notify: Option<Option<Notify>>,
}

struct Validator<'a> {
    diags: &'a mut Vec<Diagnostic>,
    dirs: &'a [PathBuf],
    /// Account lookups by name: `Ok(exists)` or the lookup's error. Cached
    /// because thousands of jobs usually share a handful of accounts.
    users: HashMap<String, Result<bool, String>>,
    groups: HashMap<String, Result<bool, String>>,
    has_smtp: bool,
    /// Looked up once, and only if some job needs it.
    system_timezone: Option<Tz>,
}

impl<'a> Validator<'a> {
    /// A validator for the files of `main`, recording problems in `diags`.
    fn new(main: &RawFile, dirs: &'a [PathBuf], diags: &'a mut Vec<Diagnostic>) -> Self {
        Validator {
            diags,
            dirs,
            users: HashMap::new(),
            groups: HashMap::new(),
            has_smtp: main.smtp.is_some(),
            system_timezone: None,
        }
    }

    fn error(&mut self, file: FileId, span: Range<usize>, message: String) -> &mut Diagnostic {
        self.diags.push(Diagnostic::at(file, span, message));
        let last = self.diags.len() - 1;
        &mut self.diags[last]
    }

    fn error_help(&mut self, file: FileId, span: Range<usize>, message: String, help: &str) {
        self.error(file, span, message).help = Some(help.to_string());
    }

    /// The option `v` names, or an error `KEY: unknown WHAT "v"` whose help
    /// is the nearest name, else `choices` (what each option means).
    fn one_of<T: Copy>(
        &mut self,
        file: FileId,
        v: &Sp<String>,
        key: String,
        what: &str,
        options: &[(&str, T)],
        choices: &str,
    ) -> Option<T> {
        let given = v.get_ref().as_str();
        if let Some(&(_, value)) = options.iter().find(|(name, _)| *name == given) {
            return Some(value);
        }
        let names: Vec<&str> = options.iter().map(|&(name, _)| name).collect();
        let help = match suggest(given, &names) {
            Some(near) => format!("did you mean \"{near}\"?"),
            None => choices.to_string(),
        };
        self.error(file, v.span(), format!("{key}: unknown {what} \"{given}\""))
            .help = Some(help);
        None
    }

    fn duration(
        &mut self,
        file: FileId,
        scope: &Scope,
        key: &str,
        v: &Sp<Amount>,
    ) -> Option<Duration> {
        let help = "a duration like \"90s\", \"5m\", \"1h30m\" or a whole number of seconds";
        let parse = |n: u64| Duration::from_secs(n);
        self.amount(
            file,
            scope,
            key,
            v,
            ("duration", help),
            parse,
            parse_duration,
        )
    }

    fn size(&mut self, file: FileId, scope: &Scope, key: &str, v: &Sp<Amount>) -> Option<u64> {
        let help = "a size like \"64KiB\", \"1MiB\" or a whole number of bytes";
        self.amount(file, scope, key, v, ("size", help), |n| n, parse_size)
    }

    /// A duration or a size: a whole number in its base unit (seconds,
    /// bytes), or text with units for `parse`. `what` names the kind and
    /// what a valid value looks like, for the error.
    #[allow(clippy::too_many_arguments)]
    fn amount<T>(
        &mut self,
        file: FileId,
        scope: &Scope,
        key: &str,
        v: &Sp<Amount>,
        (kind, help): (&str, &str),
        from_number: impl FnOnce(u64) -> T,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let result = match v.get_ref() {
            Amount::Number(n) => u64::try_from(*n).map(from_number).map_err(|_| {
                let message = format!("{}: a {kind} cannot be negative", scope.key(key));
                self.error_help(file, v.span(), message, help);
            }),
            Amount::Text(s) => parse(s).map_err(|e| {
                self.error(file, v.span(), format!("{}: {e}", scope.key(key)));
            }),
        };
        result.ok()
    }

    /// A path; a relative one is taken from the folder of the file it is
    /// written in (SPEC §1).
    fn path(&mut self, file: FileId, scope: &Scope, key: &str, v: &Sp<String>) -> Option<PathBuf> {
        let s = v.get_ref();
        if s.is_empty() || s.contains('\0') {
            self.error_help(
                file,
                v.span(),
                format!("{}: not a usable path", scope.key(key)),
                "an absolute path, or one relative to the folder of this file",
            );
            return None;
        }
        Some(self.dirs[file.0].join(s))
    }

    fn timezone(&mut self, file: FileId, scope: &Scope, v: &Sp<String>) -> Option<Tz> {
        let name = v.get_ref();
        if let Ok(tz) = name.parse::<Tz>() {
            return Some(tz);
        }
        let near = suggest_timezones(name);
        let help = if near.is_empty() {
            "an IANA zone name like \"UTC\", \"Europe/Berlin\" or \"America/New_York\" \
             (see /usr/share/zoneinfo)"
                .to_string()
        } else {
            let near: Vec<String> = near.iter().map(|n| format!("`{n}`")).collect();
            format!("did you mean {}?", near.join(" or "))
        };
        self.error(
            file,
            v.span(),
            format!("{}: unknown time zone \"{name}\"", scope.key("timezone")),
        )
        .help = Some(help);
        None
    }

    fn account(
        &mut self,
        file: FileId,
        scope: &Scope,
        key: &str,
        v: &Sp<String>,
    ) -> Option<String> {
        let name = v.get_ref();
        let is_user = key == "user";
        let cache = if is_user {
            &mut self.users
        } else {
            &mut self.groups
        };
        let found = cache
            .entry(name.clone())
            .or_insert_with(|| {
                let found = if is_user {
                    nix::unistd::User::from_name(name).map(|u| u.is_some())
                } else {
                    nix::unistd::Group::from_name(name).map(|g| g.is_some())
                };
                found.map_err(|e| e.to_string())
            })
            .clone();
        let what = if is_user { "user" } else { "group" };
        match found {
            Ok(true) => Some(name.clone()),
            Ok(false) => {
                let help = if is_user {
                    "the account must exist on this machine (`getent passwd NAME`)"
                } else {
                    "the group must exist on this machine (`getent group NAME`)"
                };
                self.error_help(
                    file,
                    v.span(),
                    format!("{}: unknown {what} \"{name}\"", scope.key(key)),
                    help,
                );
                None
            }
            Err(e) => {
                self.error(
                    file,
                    v.span(),
                    format!("{}: cannot look up {what} \"{name}\": {e}", scope.key(key)),
                );
                None
            }
        }
    }

    fn url(&mut self, file: FileId, scope: &Scope, key: &str, v: &Sp<String>) -> Option<String> {
        let problem = match reqwest::Url::parse(v.get_ref()) {
            Ok(url) if !matches!(url.scheme(), "http" | "https") => {
                format!("unsupported scheme `{}`", url.scheme())
            }
            Ok(url) if url.host_str().is_none_or(str::is_empty) => "no host".to_string(),
            Ok(url) => return Some(url.to_string()),
            Err(e) => e.to_string(),
        };
        self.error_help(
            file,
            v.span(),
            format!(
                "{}: malformed URL \"{}\": {problem}",
                scope.key(key),
                v.get_ref()
            ),
            "an absolute http:// or https:// URL, like \"http://127.0.0.1:8080/health\"",
        );
        None
    }

    /// The values of one job table or of `[defaults]`.
    fn settings(&mut self, raw: &RawJob) -> Settings {
        let f = raw.file;
        let scope = &raw.scope;
        let mut s = Settings::default();
        if let Some(v) = &raw.schedule {
            match v.get_ref().parse::<Schedule>() {
                Ok(schedule) => s.schedule = Some(schedule),
                Err(e) => {
                    self.error_help(
                        f,
                        v.span(),
                        format!("{}: {e}", scope.key("schedule")),
                        SCHEDULE_HELP,
                    );
                }
            }
        }
        s.description = raw.description.as_ref().map(|v| v.get_ref().clone());
        s.enabled = raw.enabled.as_ref().map(|v| *v.get_ref());
        s.timezone = raw
            .timezone
            .as_ref()
            .and_then(|v| self.timezone(f, scope, v));
        s.timeout = raw
            .timeout
            .as_ref()
            .and_then(|v| self.duration(f, scope, "timeout", v))
            .map(|d| (!d.is_zero()).then_some(d));
        s.kill_grace = raw
            .kill_grace
            .as_ref()
            .and_then(|v| self.duration(f, scope, "kill_grace", v));
        if let Some(v) = &raw.retries {
            match u32::try_from(*v.get_ref()) {
                Ok(n) => s.retries = Some(n),
                Err(_) => self.error_help(
                    f,
                    v.span(),
                    format!(
                        "{}: {} is not a number of retries",
                        scope.key("retries"),
                        v.get_ref()
                    ),
                    "0 (no retry) or more extra attempts, like `retries = 3`",
                ),
            }
        }
        s.retry_delay = raw
            .retry_delay
            .as_ref()
            .and_then(|v| self.duration(f, scope, "retry_delay", v));
        if let Some(v) = &raw.retry_backoff {
            let x = *v.get_ref();
            if x.is_finite() && x >= 1.0 {
                s.retry_backoff = Some(x);
            } else {
                self.error_help(
                    f,
                    v.span(),
                    format!("{}: {x} is less than 1.0", scope.key("retry_backoff")),
                    "a multiplier of at least 1.0: 1.0 keeps every retry delay the same, \
                     2.0 doubles it each time",
                );
            }
        }
        if let Some(v) = &raw.concurrency {
            s.concurrency = self.one_of(
                f,
                v,
                scope.key("concurrency"),
                "policy",
                &[
                    ("forbid", Concurrency::Forbid),
                    ("allow", Concurrency::Allow),
                    ("replace", Concurrency::Replace),
                ],
                "one of \"forbid\" (skip a run while one is active), \"allow\" \
                 (let runs overlap), \"replace\" (cancel the active run)",
            );
        }
        s.jitter = raw
            .jitter
            .as_ref()
            .and_then(|v| self.duration(f, scope, "jitter", v));
        s.catch_up = raw
            .catch_up
            .as_ref()
            .and_then(|v| self.duration(f, scope, "catch_up", v))
            .map(|d| (!d.is_zero()).then_some(d));
        s.user = raw
            .user
            .as_ref()
            .and_then(|v| self.account(f, scope, "user", v));
        s.group = raw
            .group
            .as_ref()
            .and_then(|v| self.account(f, scope, "group", v));
        s.working_dir = raw
            .working_dir
            .as_ref()
            .and_then(|v| self.path(f, scope, "working_dir", v));
        for (name, value) in &raw.env {
            let n = name.get_ref();
            if n.is_empty() || n.contains(['=', '\0']) {
                self.error_help(
                    f,
                    name.span(),
                    format!("{}: invalid variable name \"{n}\"", scope.key("env")),
                    "a variable name must not be empty or contain `=`",
                );
            } else if value.get_ref().contains('\0') {
                self.error(
                    f,
                    value.span(),
                    format!(
                        "{}: a value cannot contain a NUL byte",
                        scope.key(&format!("env.{n}"))
                    ),
                );
            } else {
                s.env.insert(n.clone(), value.get_ref().clone());
            }
        }
        if let Some(v) = &raw.shell {
            if v.get_ref().trim().is_empty() || v.get_ref().contains('\0') {
                self.error_help(
                    f,
                    v.span(),
                    format!("{}: empty shell", scope.key("shell")),
                    "a program that takes `-c COMMAND`, like \"/bin/bash\"",
                );
            } else {
                s.shell = Some(v.get_ref().clone());
            }
        }
        if let Some(v) = &raw.output_limit {
            s.output_limit = self
                .size(f, scope, "output_limit", v)
                .and_then(|n| usize::try_from(n).ok());
        }
        s.notify = raw.notify.as_ref().and_then(|n| self.notify(f, scope, n));
        s
    }

    fn notify(&mut self, f: FileId, scope: &Scope, n: &Sp<RawNotify>) -> Option<Option<Notify>> {
        let raw = n.get_ref();
        let mut ok = true;
        let mut email = Vec::new();
        if let Some(list) = &raw.email {
            for addr in list.get_ref() {
                if addr.get_ref().parse::<lettre::message::Mailbox>().is_ok() {
                    email.push(addr.get_ref().clone());
                } else {
                    ok = false;
                    self.error_help(
                        f,
                        addr.span(),
                        format!(
                            "{}: not an email address: \"{}\"",
                            scope.key("notify.email"),
                            addr.get_ref()
                        ),
                        "an address like \"admin@example.com\" or \"Ops <ops@example.com>\"",
                    );
                }
            }
            if !list.get_ref().is_empty() && !self.has_smtp {
                ok = false;
                self.error_help(
                    f,
                    list.span(),
                    format!(
                        "{}: email needs an [smtp] section",
                        scope.key("notify.email")
                    ),
                    "add [smtp] with at least `from = \"cronduct@myhost\"` to the main file \
                     (host defaults to localhost, port to 25)",
                );
            }
        }
        let webhook = match &raw.webhook {
            Some(v) => match self.url(f, scope, "notify.webhook", v) {
                Some(url) => Some(url),
                None => {
                    ok = false;
                    None
                }
            },
            None => None,
        };
        let mut on = NotifyOn {
            failure: true,
            ..NotifyOn::default()
        };
        if let Some(list) = &raw.on {
            on = NotifyOn::default();
            if list.get_ref().is_empty() {
                ok = false;
                self.error_help(
                    f,
                    list.span(),
                    format!("{}: empty list", scope.key("notify.on")),
                    "list one or more of \"failure\", \"recovery\", \"success\"",
                );
            }
            for item in list.get_ref() {
                let event = self.one_of::<fn(&mut NotifyOn)>(
                    f,
                    item,
                    scope.key("notify.on"),
                    "event",
                    &[
                        ("failure", |on| on.failure = true),
                        ("recovery", |on| on.recovery = true),
                        ("success", |on| on.success = true),
                    ],
                    "one of \"failure\", \"recovery\", \"success\"",
                );
                match event {
                    Some(set) => set(&mut on),
                    None => ok = false,
                }
            }
        }
        let mut after = 1;
        if let Some(v) = &raw.after {
            match u32::try_from(*v.get_ref()) {
                Ok(n) if n >= 1 => after = n,
                _ => {
                    ok = false;
                    self.error_help(
                        f,
                        v.span(),
                        format!("{}: must be 1 or more", scope.key("notify.after")),
                        "the number of consecutive failed runs before the first failure notice; \
                         1 = notify on the first failure",
                    );
                }
            }
        }
        if raw.email.is_none() && raw.webhook.is_none() {
            if raw.on.is_some() || raw.after.is_some() {
                self.error_help(
                    f,
                    n.span(),
                    format!("{}: nowhere to send notifications", scope.key("notify")),
                    "add `email = [\"admin@example.com\"]` or `webhook = \"https://…\"`; \
                     `notify = {}` switches notifications off",
                );
                return None;
            }
            return Some(None);
        }
        if !ok {
            return None;
        }
        if email.is_empty() && webhook.is_none() {
            return Some(None);
        }
        Some(Some(Notify {
            email,
            webhook: webhook.map(crate::config::model::Webhook::json),
            ping: None,
            on,
            after,
        }))
    }

    fn command(&mut self, f: FileId, scope: &Scope, c: &Sp<RawCommand>) -> Option<Command> {
        match c.get_ref() {
            RawCommand::Shell(s) => {
                if s.trim().is_empty() {
                    self.error_help(
                        f,
                        c.span(),
                        format!("{}: empty command", scope.key("command")),
                        "a shell command line like \"backup.sh --full\"",
                    );
                    None
                } else if s.contains('\0') {
                    self.error(
                        f,
                        c.span(),
                        format!(
                            "{}: a command cannot contain a NUL byte",
                            scope.key("command")
                        ),
                    );
                    None
                } else {
                    Some(Command::Shell(s.clone()))
                }
            }
            RawCommand::Argv(argv) => {
                let Some(program) = argv.first() else {
                    self.error_help(
                        f,
                        c.span(),
                        format!("{}: empty command", scope.key("command")),
                        "the program and its arguments, like [\"/usr/bin/backup\", \"--full\"]",
                    );
                    return None;
                };
                if program.get_ref().is_empty() {
                    self.error_help(
                        f,
                        program.span(),
                        format!("{}: empty program name", scope.key("command")),
                        "the first element is the program to run, like \"/usr/bin/backup\"",
                    );
                    return None;
                }
                if let Some(bad) = argv.iter().find(|a| a.get_ref().contains('\0')) {
                    self.error(
                        f,
                        bad.span(),
                        format!(
                            "{}: an argument cannot contain a NUL byte",
                            scope.key("command")
                        ),
                    );
                    return None;
                }
                Some(Command::Argv(
                    argv.iter().map(|a| a.get_ref().clone()).collect(),
                ))
            }
        }
    }

    fn http(&mut self, f: FileId, scope: &Scope, h: &Sp<RawHttp>) -> Option<HttpRequest> {
        let raw = h.get_ref();
        let mut ok = true;
        let url = match &raw.url {
            Some(v) => self.url(f, scope, "http.url", v),
            None => {
                self.error_help(
                    f,
                    h.span(),
                    format!("{}: missing `url`", scope.key("http")),
                    "for example: http = { url = \"http://127.0.0.1:8080/health\" }",
                );
                None
            }
        };
        let method = match &raw.method {
            Some(v) => {
                let upper = v.get_ref().to_ascii_uppercase();
                if !upper.is_empty() && reqwest::Method::from_bytes(upper.as_bytes()).is_ok() {
                    upper
                } else {
                    ok = false;
                    self.error_help(
                        f,
                        v.span(),
                        format!(
                            "{}: invalid method \"{}\"",
                            scope.key("http.method"),
                            v.get_ref()
                        ),
                        "an HTTP method like \"GET\", \"POST\", \"PUT\" or \"DELETE\"",
                    );
                    String::new()
                }
            }
            None => "GET".to_string(),
        };
        let mut headers = BTreeMap::new();
        for (name, value) in &raw.headers {
            let key = format!("http.headers.{}", name.get_ref());
            if reqwest::header::HeaderName::from_bytes(name.get_ref().as_bytes()).is_err() {
                ok = false;
                self.error_help(
                    f,
                    name.span(),
                    format!("{}: invalid header name", scope.key(&key)),
                    "a header name is letters, digits and `-`, like \"Authorization\"",
                );
            } else if reqwest::header::HeaderValue::from_str(value.get_ref()).is_err() {
                ok = false;
                self.error_help(
                    f,
                    value.span(),
                    format!("{}: invalid header value", scope.key(&key)),
                    "a header value is one line of visible ASCII text",
                );
            } else {
                headers.insert(name.get_ref().clone(), value.get_ref().clone());
            }
        }
        let mut expect_status = Vec::new();
        for v in raw.expect_status.iter().flatten() {
            match u16::try_from(*v.get_ref()) {
                Ok(code) if (100..=599).contains(&code) => expect_status.push(code),
                _ => {
                    ok = false;
                    self.error_help(
                        f,
                        v.span(),
                        format!(
                            "{}: {} is not an HTTP status",
                            scope.key("http.expect_status"),
                            v.get_ref()
                        ),
                        "status codes from 100 to 599, like [200, 204]",
                    );
                }
            }
        }
        let url = url?;
        ok.then(|| HttpRequest {
            url,
            method,
            headers,
            body: raw
                .body
                .as_ref()
                .map(|b| b.get_ref().clone())
                .unwrap_or_default(),
            expect_status,
        })
    }

    /// One job: its own values, else `[defaults]`, else the built-in
    /// defaults of SPEC §2. `None` when it cannot be built (already
    /// reported).
    fn job(
        &mut self,
        id: &Sp<String>,
        raw: &RawJob,
        defaults: &Settings,
        defaults_schedule: bool,
        source: &Path,
    ) -> Option<Job> {
        let f = raw.file;
        let scope = &raw.scope;
        let mut valid = true;
        if !valid_id(id.get_ref()) {
            valid = false;
            self.error_help(
                f,
                id.span(),
                format!("invalid job id \"{}\"", id.get_ref()),
                ID_HELP,
            );
        }
        let own = self.settings(raw);
        if !raw.has_schedule && !defaults_schedule {
            valid = false;
            self.error_help(
                f,
                id.span(),
                format!("{}: missing `schedule`", scope.name()),
                "every job needs a schedule, for example: schedule = \"0 2 * * *\"",
            );
        }
        let action = match (&raw.command_key, &raw.http_key) {
            (Some(c), Some(h)) => {
                self.error_help(
                    f,
                    later(c.clone(), h.clone()),
                    format!("{}: both `command` and `http` are given", scope.name()),
                    "a job has exactly one action; keep one and move the other to a job of its own",
                );
                None
            }
            (None, None) => {
                self.error_help(
                    f,
                    id.span(),
                    format!("{}: no action", scope.name()),
                    "give the job a `command = \"…\"` or an `http = { url = \"…\" }`",
                );
                None
            }
            _ => match (&raw.command, &raw.http) {
                (Some(c), _) => self.command(f, scope, c).map(Action::Command),
                (_, Some(h)) => self.http(f, scope, h).map(Action::Http),
                // Written with a bad type: already reported.
                (None, None) => None,
            },
        };
        let notify = own
            .notify
            .clone()
            .or_else(|| defaults.notify.clone())
            .flatten();
        let schedule = own.schedule.or_else(|| defaults.schedule.clone());
        let timezone = match own.timezone.or(defaults.timezone) {
            Some(tz) => tz,
            None => *self
                .system_timezone
                .get_or_insert_with(crate::schedule::system_timezone),
        };
        let mut env = defaults.env.clone();
        env.extend(own.env);
        if !valid {
            return None;
        }
        // Each key comes from the job, else from `[defaults]`, else it
        // keeps SPEC §2's default as `Job::new` sets it.
        let base = Job::new(id.get_ref().clone(), schedule?, timezone, action?, source);
        Some(Job {
            description: own
                .description
                .or_else(|| defaults.description.clone())
                .unwrap_or(base.description),
            enabled: own.enabled.or(defaults.enabled).unwrap_or(base.enabled),
            timeout: own.timeout.or(defaults.timeout).unwrap_or(base.timeout),
            kill_grace: own
                .kill_grace
                .or(defaults.kill_grace)
                .unwrap_or(base.kill_grace),
            retries: own.retries.or(defaults.retries).unwrap_or(base.retries),
            retry_delay: own
                .retry_delay
                .or(defaults.retry_delay)
                .unwrap_or(base.retry_delay),
            retry_backoff: own
                .retry_backoff
                .or(defaults.retry_backoff)
                .unwrap_or(base.retry_backoff),
            concurrency: own
                .concurrency
                .or(defaults.concurrency)
                .unwrap_or(base.concurrency),
            jitter: own.jitter.or(defaults.jitter).unwrap_or(base.jitter),
            catch_up: own.catch_up.or(defaults.catch_up).unwrap_or(base.catch_up),
            user: own.user.or_else(|| defaults.user.clone()).or(base.user),
            group: own.group.or_else(|| defaults.group.clone()).or(base.group),
            working_dir: own
                .working_dir
                .or_else(|| defaults.working_dir.clone())
                .or(base.working_dir),
            env,
            shell: own
                .shell
                .or_else(|| defaults.shell.clone())
                .unwrap_or(base.shell),
            output_limit: own
                .output_limit
                .or(defaults.output_limit)
                .unwrap_or(base.output_limit),
            notify,
            ..base
        })
    }

    fn daemon(&mut self, raw: Option<&RawDaemon>) -> Option<DaemonSettings> {
        let empty = RawDaemon::default();
        let raw = raw.unwrap_or(&empty);
        let f = FileId(0);
        let scope = Scope::Daemon;
        let mut ok = true;
        let listen = match &raw.listen {
            Some(v) => match v.get_ref().parse::<SocketAddr>() {
                Ok(addr) => Some(addr),
                Err(_) => {
                    self.error_help(
                        f,
                        v.span(),
                        format!(
                            "{}: not an IP address and port: \"{}\"",
                            scope.key("listen"),
                            v.get_ref()
                        ),
                        "an address like \"127.0.0.1:9780\" or \"[::1]:9780\" (no host names)",
                    );
                    None
                }
            },
            None => DEFAULT_LISTEN.parse().ok(),
        };
        let mut path = |v: &Option<Sp<String>>, key: &str, this: &mut Self| match v {
            Some(v) => {
                let p = this.path(f, &scope, key, v);
                ok &= p.is_some();
                p
            }
            None => None,
        };
        let admin_key_file = path(&raw.admin_key_file, "admin_key_file", self);
        let state_dir = path(&raw.state_dir, "state_dir", self);
        let log_file = path(&raw.log_file, "log_file", self);
        let log_max_size = match &raw.log_max_size {
            Some(v) => match self.size(f, &scope, "log_max_size", v) {
                Some(0) => {
                    self.error_help(
                        f,
                        v.span(),
                        format!("{}: must be more than 0", scope.key("log_max_size")),
                        "the size at which runs.jsonl is rotated, like \"100MiB\"",
                    );
                    None
                }
                other => other,
            },
            None => Some(DEFAULT_LOG_MAX_SIZE),
        };
        let log_keep = match &raw.log_keep {
            Some(v) => match u32::try_from(*v.get_ref()) {
                Ok(n) if n >= 1 => Some(n),
                _ => {
                    self.error_help(
                        f,
                        v.span(),
                        format!("{}: must be 1 or more", scope.key("log_keep")),
                        "how many rotated files (runs.jsonl.1, .2, …) to keep, like 10",
                    );
                    None
                }
            },
            None => Some(DEFAULT_LOG_KEEP),
        };
        let shutdown_grace = match &raw.shutdown_grace {
            Some(v) => self.duration(f, &scope, "shutdown_grace", v),
            None => Some(DEFAULT_SHUTDOWN_GRACE),
        };
        let root = nix::unistd::geteuid().is_root();
        let state_dir = match state_dir {
            Some(dir) => dir,
            None if root => PathBuf::from("/var/lib/cronduct"),
            None => match user_state_dir() {
                Some(dir) => dir,
                None => {
                    self.diags.push(
                        Diagnostic::whole_file(
                            f,
                            "[daemon], key `state_dir`: no default state directory: \
                             neither XDG_STATE_HOME nor HOME is set",
                        )
                        .help("set `state_dir` in [daemon]"),
                    );
                    return None;
                }
            },
        };
        let log_file = match log_file {
            Some(file) => file,
            None if root => PathBuf::from("/var/log/cronduct/runs.jsonl"),
            None => state_dir.join("runs.jsonl"),
        };
        if !ok {
            return None;
        }
        Some(DaemonSettings {
            listen: listen?,
            admin_key_file,
            state_dir,
            log_file,
            log_max_size: log_max_size?,
            log_keep: log_keep?,
            shutdown_grace: shutdown_grace?,
        })
    }

    fn smtp(&mut self, raw: &RawSmtp) -> Option<SmtpSettings> {
        let f = FileId(0);
        let scope = Scope::Smtp;
        let mut ok = true;
        let host = match &raw.host {
            Some(v) if v.get_ref().trim().is_empty() => {
                ok = false;
                self.error_help(
                    f,
                    v.span(),
                    format!("{}: empty host", scope.key("host")),
                    "the mail server's name or address, like \"localhost\"",
                );
                String::new()
            }
            Some(v) => v.get_ref().clone(),
            None => "localhost".to_string(),
        };
        let tls = match &raw.tls {
            Some(v) => self
                .one_of(
                    f,
                    v,
                    scope.key("tls"),
                    "mode",
                    &[
                        ("none", SmtpTls::None),
                        ("starttls", SmtpTls::StartTls),
                        ("tls", SmtpTls::Tls),
                    ],
                    "one of \"none\", \"starttls\", \"tls\"",
                )
                .unwrap_or_else(|| {
                    ok = false;
                    SmtpTls::None
                }),
            None => SmtpTls::None,
        };
        let port = match &raw.port {
            Some(v) => match u16::try_from(*v.get_ref()) {
                Ok(p) if p > 0 => p,
                _ => {
                    ok = false;
                    self.error_help(
                        f,
                        v.span(),
                        format!("{}: {} is not a port", scope.key("port"), v.get_ref()),
                        "a TCP port from 1 to 65535, like 25, 465 or 587",
                    );
                    0
                }
            },
            None => match tls {
                SmtpTls::None => 25,
                SmtpTls::StartTls => 587,
                SmtpTls::Tls => 465,
            },
        };
        let from = match &raw.from {
            Some(v) => {
                if v.get_ref().parse::<lettre::message::Mailbox>().is_err() {
                    ok = false;
                    self.error_help(
                        f,
                        v.span(),
                        format!(
                            "{}: not an email address: \"{}\"",
                            scope.key("from"),
                            v.get_ref()
                        ),
                        "an address like \"cronduct@myhost\" or \"Cron <cron@example.com>\"",
                    );
                }
                v.get_ref().clone()
            }
            None => format!(
                "cronduct@{}",
                nix::unistd::gethostname()
                    .ok()
                    .and_then(|h| h.into_string().ok())
                    .unwrap_or_else(|| "localhost".to_string())
            ),
        };
        let password_file = match &raw.password_file {
            Some(v) => {
                let p = self.path(f, &scope, "password_file", v);
                ok &= p.is_some();
                p
            }
            None => None,
        };
        match (&raw.username, &raw.password_file) {
            (Some(u), None) => {
                ok = false;
                self.error_help(
                    f,
                    u.span(),
                    format!(
                        "{}: a username needs a password_file",
                        scope.key("username")
                    ),
                    "add `password_file = \"/etc/cronduct/smtp.pass\"`, or remove `username`",
                );
            }
            (None, Some(p)) => {
                ok = false;
                self.error_help(
                    f,
                    p.span(),
                    format!(
                        "{}: a password_file needs a username",
                        scope.key("password_file")
                    ),
                    "add `username = \"…\"`, or remove `password_file`",
                );
            }
            _ => {}
        }
        ok.then(|| SmtpSettings {
            host,
            port,
            tls,
            from,
            username: raw.username.as_ref().map(|u| u.get_ref().clone()),
            password_file,
        })
    }
}

/// The later of two spans, so "both given" points at the second one written.
fn later(a: Range<usize>, b: Range<usize>) -> Range<usize> {
    if b.start > a.start { b } else { a }
}

/// The per-user state directory (SPEC §1): `$XDG_STATE_HOME/cronduct`
/// (only when absolute, as the XDG spec says), else
/// `~/.local/state/cronduct` with `~` from `HOME` or the password database.
fn user_state_dir() -> Option<PathBuf> {
    state_dir_from(std::env::var_os("XDG_STATE_HOME"), std::env::var_os("HOME")).or_else(|| {
        let user = nix::unistd::User::from_uid(nix::unistd::getuid()).ok()??;
        Some(user.dir.join(".local/state/cronduct"))
    })
}

fn state_dir_from(xdg_state_home: Option<OsString>, home: Option<OsString>) -> Option<PathBuf> {
    let absolute = |v: Option<OsString>| v.map(PathBuf::from).filter(|p| p.is_absolute());
    absolute(xdg_state_home)
        .map(|xdg| xdg.join("cronduct"))
        .or_else(|| absolute(home).map(|home| home.join(".local/state/cronduct")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_user_state_dir() {
        let s = |v: &str| Some(OsString::from(v));
        assert_eq!(
            state_dir_from(s("/x/state"), s("/home/u")),
            Some(PathBuf::from("/x/state/cronduct"))
        );
        assert_eq!(
            state_dir_from(None, s("/home/u")),
            Some(PathBuf::from("/home/u/.local/state/cronduct"))
        );
        // A relative XDG_STATE_HOME is ignored, as the XDG spec says.
        assert_eq!(
            state_dir_from(s("rel"), s("/home/u")),
            Some(PathBuf::from("/home/u/.local/state/cronduct"))
        );
        assert_eq!(state_dir_from(None, None), None);
    }

    #[test]
    fn job_ids() {
        for ok in ["a", "A1", "db-backup", "x.y_z", "9", &"a".repeat(64)] {
            assert!(valid_id(ok), "{ok:?} should be valid");
        }
        for bad in ["", "-a", ".a", "_a", "a b", "a/b", "é", &"a".repeat(65)] {
            assert!(!valid_id(bad), "{bad:?} should be invalid");
        }
    }
}
