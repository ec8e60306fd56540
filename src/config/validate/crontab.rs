//! The `crontabs` key: crontab files read in place, each line a job with
//! cron's behaviour (cronduct.toml(5), CRONTABS READ IN PLACE).
//!
//! A line is converted exactly as `cronduct import` converts it (the
//! `crontab` module does both), and then `[defaults]` fills in what cron
//! has no word for (timeout, retries, notify webhooks…). What the crontab
//! says wins over `[defaults]`: the schedule, the zone (`CRON_TZ`, else
//! the `[defaults]` or system zone), the user, the shell, the variables,
//! the input, the mail (`MAILTO`), and `concurrency = "allow"` (cron never
//! keeps runs from overlapping). A bad line is an error of its file like
//! any config error, so the whole configuration is refused.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use super::Validator;
use crate::config::diagnostic::{Diagnostic, FileId, Source};
use crate::config::keys::Settings;
use crate::config::machine::Account;
use crate::config::model::{Action, Command, Concurrency, EnvValue, Job, Notify, NotifyOn};
use crate::config::raw::{RawCrontab, Scope, Sp};
use crate::crontab::{self, Format, Ids};
use crate::zone::Zone;

/// One crontab file the loader read for the `crontabs` key.
#[derive(Debug)]
pub(crate) struct CrontabFile {
    pub file: FileId,
    /// The file's name: where its jobs' ids start.
    pub stem: String,
    /// A system crontab (a string entry) or a user crontab (a table).
    pub format: Format,
    /// The `user` of a table entry: whom a user crontab's lines run as;
    /// without it, the daemon's own user.
    pub user: Option<Sp<String>>,
}

impl Validator<'_> {
    /// Adds the jobs of every crontab to `jobs`, their ids made unique
    /// against the configuration's own jobs. Whether some job mails.
    pub(crate) fn crontab_jobs(
        &mut self,
        entries: &[RawCrontab],
        files: &[CrontabFile],
        sources: &[Source],
        paths: &[PathBuf],
        defaults: &Settings,
        jobs: &mut BTreeMap<String, Job>,
    ) -> bool {
        let mut ids = Ids::new();
        for id in jobs.keys() {
            ids.reserve(id);
        }
        // Each entry's user is judged once, whether its pattern matched
        // files or not; the files of an entry with an unknown user are
        // left out (the error is reported).
        let mut bad_users = Vec::new();
        for user in entries.iter().filter_map(|e| e.user.as_ref()) {
            let scope = &Scope::Top;
            if self
                .account(FileId(0), scope, "crontabs.user", Account::User, user)
                .is_none()
            {
                bad_users.push(user.span());
            }
        }
        let mut mails = false;
        for f in files {
            let run_as = match &f.user {
                Some(user) if bad_users.contains(&user.span()) => continue,
                Some(user) => Some(user.get_ref().clone()),
                None => None,
            };
            let format = f.format;
            let path = &paths[f.file.0];
            let source = &sources[f.file.0];
            if format == Format::System {
                self.check_owner(f.file, path, &source.display);
            }
            let parsed = crontab::parse(&source.text, format, self.machine);
            for p in &parsed.problems {
                self.diags.push(
                    Diagnostic::at(f.file, p.span.clone(), p.message.clone())
                        .help_opt(p.help.clone()),
                );
            }
            let converted = crontab::convert(
                &parsed,
                &source.display,
                &f.stem,
                run_as.as_deref(),
                &self.machine.user_name,
                &mut ids,
            );
            for c in converted {
                mails |= !c.email.is_empty();
                let job = from_crontab(&c, defaults, self.machine.time_zone.clone(), path);
                jobs.insert(job.id.clone(), job);
            }
        }
        mails
    }

    /// A system crontab may run commands as root: like Debian's cron,
    /// refuse one that others could write, or (when the daemon is root)
    /// that root does not own.
    fn check_owner(&mut self, file: FileId, path: &std::path::Path, display: &str) {
        let Ok(meta) = std::fs::metadata(path) else {
            return;
        };
        let writable = meta.mode() & 0o022 != 0;
        let foreign = self.machine.is_root && meta.uid() != 0;
        if writable || foreign {
            let why = if writable {
                "is writable by its group or others"
            } else {
                "is not owned by root"
            };
            self.diags.push(
                Diagnostic::whole_file(
                    file,
                    format!(
                        "{display} {why}: its lines name the user they run as, so anyone who \
                         can change it could run commands as root; Debian's cron ignores such \
                         a file"
                    ),
                )
                .help(format!("chown root: {display} && chmod go-w {display}")),
            );
        }
    }
}

/// The job of a converted crontab line: `[defaults]` first, then every
/// behaviour the crontab fixes.
fn from_crontab(
    c: &crontab::Converted<'_>,
    defaults: &Settings,
    system_zone: Zone,
    path: &std::path::Path,
) -> Job {
    let e = c.entry;
    let timezone = e
        .cron_tz
        .as_ref()
        .map(|(_, tz)| tz.clone())
        .or_else(|| defaults.timezone.clone())
        .unwrap_or(system_zone);
    let base = Job::new(
        c.id.clone(),
        e.schedule.clone(),
        timezone.clone(),
        Action::Command(Command::Shell(e.command.clone())),
        path,
    );
    let mut job = defaults.clone().apply(base);
    job.schedule = e.schedule.clone();
    job.timezone = timezone;
    job.user = c.user.clone();
    // cron runs a line with its user's primary group.
    job.group = None;
    job.env.extend(
        e.env
            .iter()
            .map(|(k, v)| (k.clone(), EnvValue::Text(v.clone()))),
    );
    job.shell = e
        .shell
        .clone()
        .unwrap_or_else(|| crontab::DEFAULT_SHELL.to_string());
    job.concurrency = Concurrency::Allow;
    job.stdin = e.stdin.clone();
    job.notify = match job.notify.take() {
        // MAILTO decides the mail; webhooks and pings of [defaults] stay.
        Some(mut n) => {
            n.email = c.email.clone();
            n.on.failure |= !c.email.is_empty();
            (!n.email.is_empty() || n.webhook.is_some() || n.ping.is_some()).then_some(n)
        }
        None => (!c.email.is_empty()).then(|| Notify {
            email: c.email.clone(),
            webhook: None,
            ping: None,
            on: NotifyOn {
                failure: true,
                ..NotifyOn::default()
            },
            after: 1,
        }),
    };
    job.crontab_line = Some(e.line);
    job
}
