//! A job table: its id, its action, the checks of the job settings
//! `keys` names, and the merge of `[defaults]`.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{Validator, valid_id};
use crate::config::diagnostic::FileId;
use crate::config::keys::Settings;
use crate::config::machine::Account;
use crate::config::model::{
    Action, Concurrency, EnvFile, EnvValue, IoNice, Job, Limits, RLIMIT_UNLIMITED,
};
use crate::config::raw::{Amount, RawEnvValue, RawJob, Scope, Sp};
use crate::schedule::Schedule;

/// The largest `retry_backoff`: past it the delay reaches the duration
/// limit within a couple of retries anyway, and a bound keeps the delay
/// arithmetic finite.
const MAX_BACKOFF: f64 = 100.0;

const SCHEDULE_HELP: &str = "5 fields `minute hour day-of-month month day-of-week` \
     (6 with seconds first), or a macro: @hourly, @daily, @weekly, @monthly, @yearly, \
     @reboot, @every 90s";
const ID_HELP: &str = "a job id starts with a letter or digit, followed by up to 63 letters, \
     digits, `_`, `.` or `-`";

/// The checks the rows of `keys` name for the job settings. Each takes
/// the raw value of `key` and gives the value of the `Job` field, or
/// `None` after reporting why it is not valid.
impl Validator<'_> {
    pub(crate) fn schedule(
        &mut self,
        f: FileId,
        scope: &Scope,
        key: &str,
        v: &Sp<String>,
    ) -> Option<Schedule> {
        match v.get_ref().parse::<Schedule>() {
            Ok(schedule) => Some(schedule),
            Err(e) => {
                let message = format!("{}: {e}", scope.key(key));
                self.error_help(f, v.span(), message, SCHEDULE_HELP);
                None
            }
        }
    }

    pub(crate) fn text(&mut self, _: FileId, _: &Scope, _: &str, v: &Sp<String>) -> Option<String> {
        Some(v.get_ref().clone())
    }

    pub(crate) fn flag(&mut self, _: FileId, _: &Scope, _: &str, v: &Sp<bool>) -> Option<bool> {
        Some(*v.get_ref())
    }

    /// A duration where 0 means "off", so a job can switch off a
    /// `[defaults]` value: `Some(None)`.
    pub(crate) fn duration_or_off(
        &mut self,
        f: FileId,
        scope: &Scope,
        key: &str,
        v: &Sp<Amount>,
    ) -> Option<Option<Duration>> {
        self.duration(f, scope, key, v)
            .map(|d| (!d.is_zero()).then_some(d))
    }

    pub(crate) fn retries(
        &mut self,
        f: FileId,
        scope: &Scope,
        key: &str,
        v: &Sp<i64>,
    ) -> Option<u32> {
        let n = u32::try_from(*v.get_ref()).ok();
        if n.is_none() {
            self.error_help(
                f,
                v.span(),
                format!(
                    "{}: {} is not a number of retries",
                    scope.key(key),
                    v.get_ref()
                ),
                "0 (no retry) or more extra attempts, like `retries = 3`",
            );
        }
        n
    }

    pub(crate) fn retry_backoff(
        &mut self,
        f: FileId,
        scope: &Scope,
        key: &str,
        v: &Sp<f64>,
    ) -> Option<f64> {
        let x = *v.get_ref();
        if (1.0..=MAX_BACKOFF).contains(&x) {
            return Some(x);
        }
        let problem = if x > MAX_BACKOFF {
            format!("is more than the limit of {MAX_BACKOFF}")
        } else {
            "is less than 1.0".to_string()
        };
        self.error_help(
            f,
            v.span(),
            format!("{}: {x} {problem}", scope.key(key)),
            "a multiplier from 1.0 to 100: 1.0 keeps every retry delay the same, \
             2.0 doubles it each time",
        );
        None
    }

    pub(crate) fn concurrency(
        &mut self,
        f: FileId,
        scope: &Scope,
        key: &str,
        v: &Sp<String>,
    ) -> Option<Concurrency> {
        self.one_of(
            f,
            v,
            scope.key(key),
            "policy",
            &[
                ("forbid", Concurrency::Forbid),
                ("allow", Concurrency::Allow),
                ("replace", Concurrency::Replace),
            ],
            "one of \"forbid\" (skip a run while one is active), \"allow\" \
             (let runs overlap), \"replace\" (cancel the active run)",
        )
    }

    pub(crate) fn user(
        &mut self,
        f: FileId,
        scope: &Scope,
        key: &str,
        v: &Sp<String>,
    ) -> Option<Option<String>> {
        self.account(f, scope, key, Account::User, v).map(Some)
    }

    pub(crate) fn group(
        &mut self,
        f: FileId,
        scope: &Scope,
        key: &str,
        v: &Sp<String>,
    ) -> Option<Option<String>> {
        self.account(f, scope, key, Account::Group, v).map(Some)
    }

    pub(crate) fn working_dir(
        &mut self,
        f: FileId,
        scope: &Scope,
        key: &str,
        v: &Sp<String>,
    ) -> Option<Option<PathBuf>> {
        self.path(f, scope, key, v).map(Some)
    }

    /// Variable names as systemd and the shell accept them; text values
    /// without NUL; a file path resolved against this file's folder; a
    /// credential name that is a plain file name.
    pub(crate) fn env(
        &mut self,
        f: FileId,
        scope: &Scope,
        key: &str,
        vars: &[(Sp<String>, Sp<RawEnvValue>)],
    ) -> Option<BTreeMap<String, EnvValue>> {
        let mut env = BTreeMap::new();
        for (name, value) in vars {
            let n = name.get_ref();
            let var = format!("{key}.{n}");
            if n.is_empty() || n.contains(['=', '\0']) {
                self.error_help(
                    f,
                    name.span(),
                    format!("{}: invalid variable name \"{n}\"", scope.key(key)),
                    "a variable name must not be empty or contain `=`",
                );
                continue;
            }
            let checked = match value.get_ref() {
                RawEnvValue::Text(text) if text.contains('\0') => {
                    self.error(
                        f,
                        value.span(),
                        format!("{}: a value cannot contain a NUL byte", scope.key(&var)),
                    );
                    None
                }
                RawEnvValue::Text(text) => Some(EnvValue::Text(text.clone())),
                RawEnvValue::File(path) => self
                    .path(f, scope, &format!("{var}.file"), path)
                    .map(EnvValue::File),
                RawEnvValue::Credential(c) => {
                    let c_name = c.get_ref();
                    if c_name.is_empty()
                        || c_name == "."
                        || c_name == ".."
                        || c_name.contains(['/', '\0'])
                    {
                        self.error_help(
                            f,
                            c.span(),
                            format!("{}: not a credential name", scope.key(&format!("{var}.credential"))),
                            "the name given to LoadCredential= in the daemon's unit, a plain file name",
                        );
                        None
                    } else {
                        Some(EnvValue::Credential(c_name.clone()))
                    }
                }
            };
            if let Some(v) = checked {
                env.insert(n.clone(), v);
            }
        }
        Some(env)
    }

    /// Paths, each resolved against this file's folder after the `-`
    /// that makes it optional.
    pub(crate) fn env_file(
        &mut self,
        f: FileId,
        scope: &Scope,
        key: &str,
        list: &Sp<Vec<Sp<String>>>,
    ) -> Option<Vec<EnvFile>> {
        let mut files = Vec::new();
        for entry in list.get_ref() {
            let (optional, path) = match entry.get_ref().strip_prefix('-') {
                Some(rest) => (true, rest),
                None => (false, entry.get_ref().as_str()),
            };
            let path = Sp::new(entry.span(), path.to_string());
            if let Some(path) = self.path(f, scope, key, &path) {
                files.push(EnvFile { path, optional });
            }
        }
        Some(files)
    }

    /// Used as written, not resolved against the config folder: it names
    /// a program, like `/bin/bash`.
    pub(crate) fn shell(
        &mut self,
        f: FileId,
        scope: &Scope,
        key: &str,
        v: &Sp<String>,
    ) -> Option<String> {
        if v.get_ref().trim().is_empty() || v.get_ref().contains('\0') {
            self.error_help(
                f,
                v.span(),
                format!("{}: empty shell", scope.key(key)),
                "a program that takes `-c COMMAND`, like \"/bin/bash\"",
            );
            return None;
        }
        Some(v.get_ref().clone())
    }

    pub(crate) fn output_limit(
        &mut self,
        f: FileId,
        scope: &Scope,
        key: &str,
        v: &Sp<Amount>,
    ) -> Option<usize> {
        self.size(f, scope, key, v)
            .and_then(|n| usize::try_from(n).ok())
    }

    /// At least 1 KiB: room for a head, a tail and the marker between.
    pub(crate) fn output_max_size(
        &mut self,
        f: FileId,
        scope: &Scope,
        key: &str,
        v: &Sp<Amount>,
    ) -> Option<u64> {
        match self.size(f, scope, key, v)? {
            n if n < 1024 => {
                self.error_help(
                    f,
                    v.span(),
                    format!("{}: must be at least 1KiB", scope.key(key)),
                    "the largest output file of one attempt, like \"10MiB\"",
                );
                None
            }
            n => Some(n),
        }
    }

    /// Names of environment variables: not empty, no `=` or NUL.
    pub(crate) fn inherit_env(
        &mut self,
        f: FileId,
        scope: &Scope,
        key: &str,
        list: &Sp<Vec<Sp<String>>>,
    ) -> Option<Vec<String>> {
        let mut names = Vec::new();
        for name in list.get_ref() {
            let n = name.get_ref();
            if n.is_empty() || n.contains(['=', '\0']) {
                self.error_help(
                    f,
                    name.span(),
                    format!("{}: invalid variable name \"{n}\"", scope.key(key)),
                    "a variable name must not be empty or contain `=`",
                );
            } else {
                names.push(n.clone());
            }
        }
        Some(names)
    }

    /// −20 to 19, as nice(1) takes it.
    pub(crate) fn nice(
        &mut self,
        f: FileId,
        scope: &Scope,
        key: &str,
        v: &Sp<i64>,
    ) -> Option<Option<i32>> {
        match i32::try_from(*v.get_ref()) {
            Ok(n) if (-20..=19).contains(&n) => Some(Some(n)),
            _ => {
                self.error_help(
                    f,
                    v.span(),
                    format!("{}: {} is not from -20 to 19", scope.key(key), v.get_ref()),
                    "a priority from -20 (served first; needs root) to 19 (served last), like nice = 10",
                );
                None
            }
        }
    }

    /// `idle`, `best-effort:N` or `realtime:N` with N from 0 to 7, the
    /// classes of ionice(1).
    pub(crate) fn ionice(
        &mut self,
        f: FileId,
        scope: &Scope,
        key: &str,
        v: &Sp<String>,
    ) -> Option<Option<IoNice>> {
        let text = v.get_ref().as_str();
        let level = |l: &str| l.parse::<u8>().ok().filter(|n| *n <= 7);
        let parsed = match text.split_once(':') {
            None if text == "idle" => Some(IoNice::Idle),
            Some(("best-effort", l)) => level(l).map(IoNice::BestEffort),
            Some(("realtime", l)) => level(l).map(IoNice::Realtime),
            _ => None,
        };
        if parsed.is_none() {
            self.error_help(
                f,
                v.span(),
                format!("{}: unknown I/O priority \"{text}\"", scope.key(key)),
                "\"idle\", \"best-effort:N\" or \"realtime:N\" (needs root) with a level N \
                 from 0 (served first) to 7, like ionice = \"best-effort:7\"",
            );
        }
        parsed.map(Some)
    }

    /// `nofile`, `nproc`, `core`, `fsize`: a whole number (sizes for the
    /// last two may have units) or `"unlimited"`.
    pub(crate) fn limits(
        &mut self,
        f: FileId,
        scope: &Scope,
        key: &str,
        entries: &Vec<(Sp<String>, Sp<Amount>)>,
    ) -> Option<Limits> {
        const NAMES: [&str; 4] = ["nofile", "nproc", "core", "fsize"];
        let mut limits = Limits::default();
        for (name, value) in entries {
            let full = format!("{key}.{}", name.get_ref());
            let slot = match name.get_ref().as_str() {
                "nofile" => &mut limits.nofile,
                "nproc" => &mut limits.nproc,
                "core" => &mut limits.core,
                "fsize" => &mut limits.fsize,
                other => {
                    self.error_help(
                        f,
                        name.span(),
                        format!("{}: unknown limit `{other}`", scope.key(key)),
                        &format!("the limits are {}", NAMES.join(", ")),
                    );
                    continue;
                }
            };
            let sized = matches!(name.get_ref().as_str(), "core" | "fsize");
            *slot = match value.get_ref() {
                Amount::Text(t) if t == "unlimited" => Some(RLIMIT_UNLIMITED),
                Amount::Text(_) if sized => self.size(f, scope, &full, value),
                Amount::Number(n) if *n >= 0 => Some(n.unsigned_abs()),
                _ => {
                    self.error_help(
                        f,
                        value.span(),
                        format!(
                            "{}: expected a whole number or \"unlimited\"",
                            scope.key(&full)
                        ),
                        if sized {
                            "a size like \"1GiB\", a number of bytes, or \"unlimited\""
                        } else {
                            "a count like 4096, or \"unlimited\""
                        },
                    );
                    None
                }
            };
        }
        Some(limits)
    }

    /// More than nothing: a cgroup with `memory.max` 0 cannot even start
    /// the command.
    pub(crate) fn memory_max(
        &mut self,
        f: FileId,
        scope: &Scope,
        key: &str,
        v: &Sp<Amount>,
    ) -> Option<Option<u64>> {
        match self.size(f, scope, key, v)? {
            n if n < 1 << 20 => {
                self.error_help(
                    f,
                    v.span(),
                    format!("{}: must be at least 1MiB", scope.key(key)),
                    "the memory one attempt may use, like \"512MiB\"",
                );
                None
            }
            n => Some(Some(n)),
        }
    }

    /// A fraction of one CPU: 0.5 is half of one, 2 two whole CPUs. The
    /// kernel's cpu.max needs at least 1 ms of every 100 ms period.
    pub(crate) fn cpu_max(
        &mut self,
        f: FileId,
        scope: &Scope,
        key: &str,
        v: &Sp<f64>,
    ) -> Option<Option<f64>> {
        let x = *v.get_ref();
        if x.is_finite() && (0.01..=1024.0).contains(&x) {
            return Some(Some(x));
        }
        self.error_help(
            f,
            v.span(),
            format!("{}: {x} is not from 0.01 to 1024", scope.key(key)),
            "a fraction of one CPU: 0.5 is half of one, 2 is two whole CPUs",
        );
        None
    }

    /// Any text; the command reads it on its standard input.
    pub(crate) fn stdin(
        &mut self,
        _: FileId,
        _: &Scope,
        _: &str,
        v: &Sp<String>,
    ) -> Option<Option<String>> {
        Some(Some(v.get_ref().clone()))
    }

    /// Every code from 0 to 255, and at least one: with none, no attempt
    /// could succeed.
    pub(crate) fn exit_codes(
        &mut self,
        f: FileId,
        scope: &Scope,
        key: &str,
        list: &Sp<Vec<Sp<i64>>>,
    ) -> Option<Vec<i32>> {
        if list.get_ref().is_empty() {
            self.error_help(
                f,
                list.span(),
                format!("{}: empty list", scope.key(key)),
                "list the exit codes that count as success, like [0] (the default) or [0, 3]",
            );
            return None;
        }
        let mut codes = Vec::with_capacity(list.get_ref().len());
        let mut ok = true;
        for v in list.get_ref() {
            match u8::try_from(*v.get_ref()) {
                Ok(code) => codes.push(i32::from(code)),
                Err(_) => {
                    ok = false;
                    self.error_help(
                        f,
                        v.span(),
                        format!("{}: {} is not an exit code", scope.key(key), v.get_ref()),
                        "exit codes are whole numbers from 0 to 255",
                    );
                }
            }
        }
        ok.then_some(codes)
    }

    /// One job: its own values, else `[defaults]`, else the built-in
    /// defaults. `None` when it cannot be built (already
    /// reported).
    pub(crate) fn job(
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
        let own = Settings::check(self, f, scope, &raw.settings);
        if !raw.has_schedule && !defaults_schedule {
            valid = false;
            let d = self.error(
                f,
                id.span(),
                format!("{}: missing `schedule`", scope.name()),
            );
            d.help =
                Some("every job needs a schedule, for example: schedule = \"0 2 * * *\"".into());
            d.key = Some("schedule");
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
            _ => match (&raw.action.command, &raw.action.http) {
                (Some(c), _) => self.command(f, scope, c).map(Action::Command),
                (_, Some(h)) => self.http(f, scope, h).map(Action::Http),
                // Written with a bad type: already reported.
                (None, None) => None,
            },
        };
        if !valid {
            return None;
        }
        let mut merged = own.inherit(defaults);
        let timezone = merged
            .timezone
            .take()
            .unwrap_or_else(|| self.machine.time_zone.clone());
        // What the job and `[defaults]` leave unset keeps the built-in
        // default `Job::new` gives it.
        let base = Job::new(
            id.get_ref().clone(),
            merged.schedule.take()?,
            timezone,
            action?,
            source,
        );
        Some(merged.apply(base))
    }
}

/// The later of two spans, so "both given" points at the second one written.
fn later(a: Range<usize>, b: Range<usize>) -> Range<usize> {
    if b.start > a.start { b } else { a }
}
