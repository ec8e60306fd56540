//! Checks every table shares: durations, sizes, paths, URLs, zones,
//! accounts, and one name out of a list.

use std::path::PathBuf;
use std::time::Duration;

use crate::zone::{Zone, ZoneError};

use super::Validator;
use crate::config::diagnostic::{FileId, suggest, suggest_timezones};
use crate::config::machine::Account;
use crate::config::raw::{Amount, Scope, Sp};
use crate::units::{parse_duration, parse_size};

/// The longest duration any key takes: far beyond any real timeout, grace
/// or delay, and far enough below the clock's range that adding it to
/// "now" can never overflow.
pub(crate) const MAX_DURATION: Duration = Duration::from_secs(3650 * 86_400);

impl Validator<'_> {
    /// The option `v` names, or an error `KEY: unknown WHAT "v"` whose help
    /// is the nearest name, else `choices` (what each option means).
    pub(crate) fn one_of<T: Copy>(
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

    pub(crate) fn duration(
        &mut self,
        file: FileId,
        scope: &Scope,
        key: &str,
        v: &Sp<Amount>,
    ) -> Option<Duration> {
        let help = "a duration like \"90s\", \"5m\", \"1h30m\" or a whole number of seconds";
        let parse = |n: u64| Duration::from_secs(n);
        let d = self.amount(
            file,
            scope,
            key,
            v,
            ("duration", help),
            parse,
            parse_duration,
        )?;
        if d > MAX_DURATION {
            self.error_help(
                file,
                v.span(),
                format!(
                    "{}: {}s is longer than the limit of 3650d (10 years)",
                    scope.key(key),
                    d.as_secs()
                ),
                help,
            );
            return None;
        }
        Some(d)
    }

    pub(crate) fn size(
        &mut self,
        file: FileId,
        scope: &Scope,
        key: &str,
        v: &Sp<Amount>,
    ) -> Option<u64> {
        let help = "a size like \"64KiB\", \"1MiB\" or a whole number of bytes";
        self.amount(file, scope, key, v, ("size", help), |n| n, parse_size)
    }

    /// A duration or a size: a whole number in its base unit (seconds,
    /// bytes), or text with units for `parse`. `what` names the kind and
    /// what a valid value looks like, for the error.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn amount<T>(
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
    /// written in.
    pub(crate) fn path(
        &mut self,
        file: FileId,
        scope: &Scope,
        key: &str,
        v: &Sp<String>,
    ) -> Option<PathBuf> {
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

    pub(crate) fn timezone(
        &mut self,
        file: FileId,
        scope: &Scope,
        key: &str,
        v: &Sp<String>,
    ) -> Option<Zone> {
        let name = v.get_ref();
        let zones = &self.machine.zones;
        let found = self
            .zones
            .entry(name.clone())
            .or_insert_with(|| zones.zone(name))
            .clone();
        let e = match found {
            Ok(zone) => return Some(zone),
            Err(e) => e,
        };
        let help = match e {
            ZoneError::Unknown(_) => {
                let names = self.zone_names.get_or_insert_with(|| zones.names());
                let near = suggest_timezones(name, names);
                if near.is_empty() {
                    format!(
                        "an IANA zone name like \"UTC\", \"Europe/Berlin\" or \"America/New_York\" \
                         (see {})",
                        zones.names_at()
                    )
                } else {
                    let near: Vec<String> = near.iter().map(|n| format!("`{n}`")).collect();
                    format!("did you mean {}?", near.join(" or "))
                }
            }
            // Found but unusable: say so rather than guess at a name.
            ZoneError::NotTzif { .. } | ZoneError::Unreadable { .. } => {
                "reinstall the tz database (the tzdata package) or pick another zone".to_string()
            }
        };
        self.error(file, v.span(), format!("{}: {e}", scope.key(key)))
            .help = Some(help);
        None
    }

    /// The name of an account that exists. An unknown one is refused
    /// even when `check` is not run as root: it must exist wherever the
    /// daemon would run the job.
    pub(crate) fn account(
        &mut self,
        file: FileId,
        scope: &Scope,
        key: &str,
        account: Account,
        v: &Sp<String>,
    ) -> Option<String> {
        let name = v.get_ref();
        let is_user = account == Account::User;
        let cache = if is_user {
            &mut self.users
        } else {
            &mut self.groups
        };
        let machine = self.machine;
        let found = cache
            .entry(name.clone())
            .or_insert_with(|| machine.has_account(account, name))
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

    pub(crate) fn url(
        &mut self,
        file: FileId,
        scope: &Scope,
        key: &str,
        v: &Sp<String>,
    ) -> Option<String> {
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
}
