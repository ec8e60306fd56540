//! The validation layer: raw tables → the [`model`](super::model) types.
//! Every value is judged here (schedules, zones, durations, accounts,
//! URLs…), `[defaults]` are applied, built-in defaults filled in and
//! relative paths resolved against the folder of the file they are
//! written in.
//!
//! Problems are collected, never returned early: one bad value costs only
//! its own diagnostic, and the rest of the file is still checked. One
//! module per table (`daemon`, `smtp`, `job`, `action`, `notify`), and
//! `values` for the checks they share. Nothing here asks the machine
//! anything except through [`Machine`].
//!
//! Choices the spec leaves open (written down for the docs):
//! - `timeout = 0`, `catch_up = 0`, `warn_after = 0` and
//!   `expect_success_within = 0` mean "off", so a job can switch off a
//!   `[defaults]` value.
//! - A webhook header `{ file = "…" }` is resolved, never read: the file
//!   holds a secret, read when sending. `success_exit_codes` may not be
//!   empty (no attempt could succeed) and is accepted on HTTP jobs, which
//!   ignore it, since `[defaults]` gives it to every job.
//! - `notify` replaces the `[defaults]` notify table as a whole (only `env`
//!   merges); `notify = {}` switches notifications off for one job. A
//!   notify table with `on` or `after` but no `email` and no `webhook` is
//!   refused: it would send nothing.
//! - `[smtp]`: `host` defaults to `localhost`, `tls` to `none`, `port` to
//!   25, 587 (`starttls`) or 465 (`tls`), `from` to `cronduct@<hostname>`.
//!   `username` and `password_file` come together or not at all.
//! - `[cluster]`: `database` and `database_file` exclude each other
//!   (neither: the daemon reads `CRONDUCT_DATABASE_URL`); a written URL
//!   is checked but never quoted in a message, since it may hold a
//!   password. `heartbeat` must be more than 0 and `node_timeout` at
//!   least twice `heartbeat`, so one late beat never declares a node
//!   gone. `run_on` is accepted without `[cluster]` and changes nothing.
//! - `log_keep` must be at least 1 and `log_max_size` more than 0: keeping
//!   no rotated file would drop lines.
//! - `shell` is used as written (not resolved against the config folder):
//!   it names a program, like `/bin/bash`.
//! - An unknown user or group is refused even when `check` is not run as
//!   root: the account must exist wherever the daemon would run the job.

mod action;
mod cluster;
mod crontab;
mod daemon;
mod job;
mod notify;
mod smtp;
mod values;

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::path::{Path, PathBuf};

use super::diagnostic::{Diagnostic, FileId, Source};
use super::keys::Settings;
use super::machine::Machine;
use super::model::{ClusterSettings, DaemonSettings, Job, SmtpSettings, SmtpTls};
use super::raw::{RawFile, Sp};
use crate::zone::{Zone, ZoneError};
pub(crate) use crontab::CrontabFile;

/// What validation produced; only used when no diagnostic was recorded.
pub(crate) struct Validated {
    pub daemon: Option<DaemonSettings>,
    pub smtp: Option<SmtpSettings>,
    pub cluster: Option<ClusterSettings>,
    pub jobs: BTreeMap<String, Job>,
}

/// What the loader read besides the main file.
pub(crate) struct Read<'a> {
    pub includes: &'a [RawFile],
    pub crontabs: &'a [CrontabFile],
}

/// Validates the main file's raw content, its includes' jobs and the
/// crontabs' lines. `dirs[i]` is the absolute folder and `paths[i]` the
/// absolute path of file `FileId(i)`.
pub(crate) fn validate(
    main: &RawFile,
    read: Read<'_>,
    sources: &[Source],
    dirs: &[PathBuf],
    paths: &[PathBuf],
    machine: &Machine,
    diags: &mut Vec<Diagnostic>,
) -> Validated {
    let mut v = Validator::new(main, dirs, machine, diags);
    let daemon = v.daemon(main.daemon.as_ref());
    let smtp = main.smtp.as_ref().and_then(|s| v.smtp(s));
    let cluster = main.cluster.as_ref().and_then(|c| v.cluster(c));
    let defaults = main
        .defaults
        .as_ref()
        .map(|d| Settings::check(&mut v, d.file, &d.scope, &d.settings))
        .unwrap_or_default();
    let defaults_schedule = main.defaults.as_ref().is_some_and(|d| d.has_schedule);

    let mut jobs = BTreeMap::new();
    let mut first_seen: HashMap<&str, (FileId, Range<usize>)> = HashMap::new();
    for (id, raw) in std::iter::once(main)
        .chain(read.includes)
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
            if let Some(d) = &daemon {
                v.managed_user(d, id, raw.file, &job, &paths[raw.file.0]);
            }
            jobs.insert(job.id.clone(), job);
        }
    }
    let mails = v.crontab_jobs(
        &main.crontabs,
        read.crontabs,
        sources,
        paths,
        &defaults,
        &mut jobs,
    );
    // cron hands its mail to the local mail server: crontab jobs that
    // mail need no [smtp] table, they get the local one.
    let smtp = match smtp {
        None if mails && main.smtp.is_none() => Some(SmtpSettings {
            host: "localhost".to_string(),
            port: 25,
            tls: SmtpTls::None,
            from: format!("cronduct@{}", machine.host_name),
            username: None,
            password_file: None,
        }),
        smtp => smtp,
    };
    Validated {
        daemon,
        smtp,
        cluster,
        jobs,
    }
}

impl Validator<'_> {
    /// cronduct.toml(5) `managed_users`: when the daemon runs as root, a job
    /// in `managed_dir` must run as one of the listed accounts, so that an
    /// API key is not a root shell.
    fn managed_user(
        &mut self,
        daemon: &DaemonSettings,
        id: &Sp<String>,
        file: FileId,
        job: &Job,
        path: &Path,
    ) {
        let Some(dir) = &daemon.managed_dir else {
            return;
        };
        let canonical = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
        if !self.machine.is_root || path.parent().map(canonical) != Some(canonical(dir)) {
            return;
        }
        if job
            .user
            .as_ref()
            .is_some_and(|u| daemon.managed_users.contains(u))
        {
            return;
        }
        let message = match &job.user {
            Some(u) => format!(
                "job `{}`: user {u:?} is not in [daemon] managed_users",
                id.get_ref()
            ),
            None => format!(
                "job `{}`: a managed job must set `user` when the daemon runs as root",
                id.get_ref()
            ),
        };
        let listed = if daemon.managed_users.is_empty() {
            "none are listed".to_string()
        } else {
            format!("listed: {}", daemon.managed_users.join(", "))
        };
        let d = self.error(file, id.span(), message);
        d.help = Some(format!(
            "jobs written over the API run as one of [daemon] managed_users ({listed})"
        ));
        d.key = Some("user");
    }
}

/// Validates only the main file's `[daemon]` table, as [`validate`] does.
/// `dirs[0]` is the absolute folder of the main file.
pub(crate) fn daemon_settings(
    main: &RawFile,
    dirs: &[PathBuf],
    machine: &Machine,
    diags: &mut Vec<Diagnostic>,
) -> Option<DaemonSettings> {
    let mut v = Validator::new(main, dirs, machine, diags);
    v.daemon(main.daemon.as_ref())
}

/// `^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`: what cronduct.toml(5) allows.
pub(crate) fn valid_id(id: &str) -> bool {
    let b = id.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && b[0].is_ascii_alphanumeric()
        && b[1..]
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// The checks of every table's values, with what they share: where
/// problems go, the folders relative paths start from, the machine.
pub(crate) struct Validator<'a> {
    diags: &'a mut Vec<Diagnostic>,
    dirs: &'a [PathBuf],
    machine: &'a Machine,
    /// Account lookups by name: `Ok(exists)` or the lookup's error. Cached
    /// because thousands of jobs usually share a handful of accounts.
    users: HashMap<String, Result<bool, String>>,
    groups: HashMap<String, Result<bool, String>>,
    /// Zone lookups by name, for the same reason: each reads a file.
    zones: HashMap<String, Result<Zone, ZoneError>>,
    /// Every zone name, listed at the first unknown one (for suggestions).
    zone_names: Option<Vec<String>>,
    has_smtp: bool,
}

impl<'a> Validator<'a> {
    /// A validator for the files of `main`, recording problems in `diags`.
    fn new(
        main: &RawFile,
        dirs: &'a [PathBuf],
        machine: &'a Machine,
        diags: &'a mut Vec<Diagnostic>,
    ) -> Self {
        Validator {
            diags,
            dirs,
            machine,
            users: HashMap::new(),
            groups: HashMap::new(),
            zones: HashMap::new(),
            zone_names: None,
            has_smtp: main.smtp.is_some(),
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
