//! Crontab files, read as Debian's cron reads them, turned into cronduct
//! jobs: for `cronduct import` (which prints them as TOML, `render`) and
//! for the `crontabs` key (which the config loader turns into jobs
//! directly).
//!
//! Pure: text in, entries and problems out. Nothing here reads files or
//! starts anything; the account database is asked through
//! [`Machine`](crate::config::Machine) only.
//!
//! The rules, from cron's crontab(5) and its source:
//! - Blank lines and lines whose first non-blank character is `#` are
//!   ignored; a `#` later in a line is part of it.
//! - `NAME = value` sets a variable for the lines below it; blanks around
//!   `=` are dropped, and the name and the value may be quoted (single or
//!   double, matching) to keep blanks. An unquoted empty value (`NAME=`)
//!   is not a variable line: cron reads it as a broken job line.
//! - A job line is five time fields (`fields`) or a macro (`@reboot`,
//!   `@yearly`, `@annually`, `@monthly`, `@weekly`, `@daily`, `@midnight`,
//!   `@hourly`, lower case as cron wants them), then in a system file the
//!   user, then the command, to the end of the line.
//! - In the command, the first `%` not escaped as `\%` ends it; what
//!   follows is the job's standard input, each further `%` a newline and
//!   `\%` a `%` (other backslashes are kept as written).
//! - `SHELL` is the shell (default `/bin/sh`), `PATH` defaults to
//!   `/usr/bin:/bin`, `MAILTO` and `MAILFROM` are for cron's mail,
//!   `CRON_TZ` is cronie's zone of the lines below it (Debian's cron
//!   ignores it: a note says so), `LOGNAME` and `USER` are set by cron
//!   whatever the file says, and every other variable, `TZ` and `HOME`
//!   included, is passed to the command.

mod fields;
mod ids;
pub mod render;

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

use crate::zone::{Database, Zone};

use crate::config::Machine;
use crate::config::machine::Account;
use crate::schedule::Schedule;

pub use ids::Ids;

/// cron's `PATH` when a file sets none (`_PATH_DEFPATH`).
pub const DEFAULT_PATH: &str = "/usr/bin:/bin";
/// cron's shell when a file sets no `SHELL`.
pub const DEFAULT_SHELL: &str = "/bin/sh";

/// The two kinds of crontab.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `/etc/crontab` and `/etc/cron.d/*`: a user field after the time.
    System,
    /// A user's own crontab: no user field; every line runs as its owner.
    User,
}

/// A line that cannot be converted, with where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line number.
    pub line: usize,
    /// Byte range in the file's text of what is at fault.
    pub span: Range<usize>,
    pub message: String,
    /// What would be valid.
    pub help: Option<String>,
}

/// Something converted whose behaviour differs from cron's, or that cron
/// itself treats specially: said to the user, never an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub line: usize,
    pub message: String,
}

/// Where a job's mail goes, from `MAILTO`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mail {
    /// No `MAILTO`: cron mails the crontab's owner.
    Owner,
    /// `MAILTO=""`: no mail.
    Off,
    /// `MAILTO=a,b`: these names or addresses.
    To(Vec<String>),
}

/// One job line, with the variables set above it.
#[derive(Debug, Clone)]
pub struct Entry {
    /// 1-based line number.
    pub line: usize,
    /// The schedule as cronduct writes it: the macro, or the five fields
    /// separated by single spaces.
    pub schedule_text: String,
    pub schedule: Schedule,
    /// The user field of a system crontab.
    pub user: Option<String>,
    /// The command, before the first unescaped `%`, `\%` made `%`.
    pub command: String,
    /// What follows the first unescaped `%`, translated; `None` when
    /// there is none or it is empty.
    pub stdin: Option<String>,
    /// The variables the command gets: `PATH` always (cron's default when
    /// the file sets none), then every variable set above the line except
    /// the ones cron keeps for itself.
    pub env: BTreeMap<String, String>,
    /// `SHELL`, when the file sets one.
    pub shell: Option<String>,
    pub mail: Mail,
    pub mail_from: Option<String>,
    /// `CRON_TZ` above the line: the name as written and the zone.
    pub cron_tz: Option<(String, Zone)>,
}

impl Entry {
    /// The addresses cron would mail this line's output to, a local name
    /// such as `root` made `root@localhost`; `owner` is the crontab's
    /// owner (the user field in a system file).
    pub fn mail_to(&self, owner: &str) -> Vec<String> {
        let names: Vec<String> = match &self.mail {
            Mail::Off => return Vec::new(),
            Mail::Owner => vec![owner.to_string()],
            Mail::To(names) => names.clone(),
        };
        names
            .into_iter()
            .map(|n| {
                if n.contains('@') {
                    n
                } else {
                    format!("{n}@localhost")
                }
            })
            .collect()
    }
}

/// What one crontab file held.
#[derive(Debug, Default)]
pub struct Parsed {
    pub entries: Vec<Entry>,
    pub problems: Vec<Problem>,
    pub notes: Vec<Note>,
}

/// An entry made a job: its id, whom it runs as and mails.
#[derive(Debug, Clone)]
pub struct Converted<'a> {
    pub id: String,
    /// The file, as messages name it.
    pub file: String,
    pub entry: &'a Entry,
    /// The user field, else the crontab's owner when it is known.
    pub user: Option<String>,
    /// Where a failure is mailed; empty for none.
    pub email: Vec<String>,
    /// How this job's behaviour differs from Debian cron's, for comments.
    pub notes: Vec<String>,
}

/// The jobs of one parsed file. `stem` starts their ids, `run_as` is the
/// owner of a user crontab when known, `mail_owner` whom cron would mail
/// when the file sets no `MAILTO` and the line names no user.
pub fn convert<'a>(
    parsed: &'a Parsed,
    file: &str,
    stem: &str,
    run_as: Option<&str>,
    mail_owner: &str,
    ids: &mut Ids,
) -> Vec<Converted<'a>> {
    parsed
        .entries
        .iter()
        .map(|entry| {
            let user = entry.user.clone().or_else(|| run_as.map(str::to_string));
            let email = entry.mail_to(user.as_deref().unwrap_or(mail_owner));
            let mut notes = Vec::new();
            if let Some((name, _)) = &entry.cron_tz {
                notes.push(format!(
                    "differs: CRON_TZ={name} above this line is honoured, as cronie does; \
                     Debian's cron ignores it and would run the line in the system's zone."
                ));
            }
            Converted {
                id: ids.next(stem, &entry.command),
                file: file.to_string(),
                entry,
                user,
                email,
                notes,
            }
        })
        .collect()
}

/// The macros Debian's cron knows, as it spells them.
const MACROS: &[&str] = &[
    "reboot", "yearly", "annually", "monthly", "weekly", "daily", "midnight", "hourly",
];

/// Reads crontab `text` in `format`. A user field naming an account
/// `machine` does not know is a problem of that line, as it is for cron.
pub fn parse(text: &str, format: Format, machine: &Machine) -> Parsed {
    let mut out = Parsed::default();
    let mut vars = Vars::default();
    // Thousands of lines name a handful of users: each is looked up once.
    let mut users: HashMap<String, Result<bool, String>> = HashMap::new();
    let mut user_exists = |name: &str| {
        users
            .entry(name.to_string())
            .or_insert_with(|| machine.has_account(Account::User, name))
            .clone()
    };
    let mut start = 0;
    for (index, raw_line) in text.split_inclusive('\n').enumerate() {
        let line_no = index + 1;
        let line_start = start;
        start += raw_line.len();
        let line = raw_line.strip_suffix('\n').unwrap_or(raw_line);
        let body_offset = line.len() - line.trim_start_matches([' ', '\t']).len();
        let body = &line[body_offset..];
        if body.trim().is_empty() || body.starts_with('#') {
            continue;
        }
        if !raw_line.ends_with('\n') {
            out.notes.push(Note {
                line: line_no,
                message: "the last line has no newline at its end; Debian's cron warns that \
                          such a file may be read only in part"
                    .to_string(),
            });
        }
        let at = line_start + body_offset;
        if let Some((name, value)) = env_line(body) {
            vars.set(&name, value, line_no, at..at + body.len(), &mut out);
            continue;
        }
        if let Some(name) = empty_variable(body) {
            out.problems.push(Problem {
                line: line_no,
                span: at..at + body.len(),
                message: format!(
                    "{name} has an empty value, which cron does not read as a variable"
                ),
                help: Some(format!("write {name}=\"\" for an empty value")),
            });
            continue;
        }
        match job_line(body, at, line_no, format, &mut user_exists) {
            Ok(job) => out.entries.push(vars.entry(job, line_no)),
            Err(problem) => out.problems.push(problem),
        }
    }
    out
}

/// The variables set so far in a file, as cron keeps them.
#[derive(Debug, Default, Clone)]
struct Vars {
    env: BTreeMap<String, String>,
    shell: Option<String>,
    mail: Option<Mail>,
    mail_from: Option<String>,
    cron_tz: Option<(String, Zone)>,
}

impl Vars {
    fn set(
        &mut self,
        name: &str,
        value: String,
        line: usize,
        span: Range<usize>,
        out: &mut Parsed,
    ) {
        match name {
            "SHELL" => self.shell = Some(value),
            "MAILTO" => {
                let names: Vec<String> = value
                    .split([',', ' ', '\t'])
                    .filter(|n| !n.is_empty())
                    .map(str::to_string)
                    .collect();
                self.mail = Some(if names.is_empty() {
                    Mail::Off
                } else {
                    Mail::To(names)
                });
            }
            "MAILFROM" => self.mail_from = Some(value),
            "CRON_TZ" => match Database::global().zone(value.trim_start_matches(':')) {
                Ok(tz) => {
                    out.notes.push(Note {
                        line,
                        message: format!(
                            "CRON_TZ={value}: the lines below run in that zone, as cronie reads \
                             it; Debian's cron ignores CRON_TZ and runs them in the system's zone"
                        ),
                    });
                    self.cron_tz = Some((value, tz));
                }
                Err(_) => out.problems.push(Problem {
                    line,
                    span,
                    message: format!("CRON_TZ={value}: unknown time zone"),
                    help: Some("an IANA zone name, like CRON_TZ=Europe/Berlin".to_string()),
                }),
            },
            "LOGNAME" | "USER" => out.notes.push(Note {
                line,
                message: format!(
                    "{name}={value} is not passed on: cron sets {name} to the job's user \
                     whatever the file says, and so does cronduct"
                ),
            }),
            _ => {
                self.env.insert(name.to_string(), value);
            }
        }
    }

    fn entry(&self, job: JobLine, line: usize) -> Entry {
        let mut env = self.env.clone();
        env.entry("PATH".to_string())
            .or_insert_with(|| DEFAULT_PATH.to_string());
        Entry {
            line,
            schedule_text: job.schedule_text,
            schedule: job.schedule,
            user: job.user,
            command: job.command,
            stdin: job.stdin,
            env,
            shell: self.shell.clone(),
            mail: self.mail.clone().unwrap_or(Mail::Owner),
            mail_from: self.mail_from.clone(),
            cron_tz: self.cron_tz.clone(),
        }
    }
}

/// `NAME = value` as cron reads it (its `load_env`), or `None` when the
/// line is not a variable line. `line` starts at its first non-blank.
fn env_line(line: &str) -> Option<(String, String)> {
    let (name, rest) = quoted_or(line, |c| c == '=' || c == ' ' || c == '\t')?;
    if name.is_empty() {
        return None;
    }
    let rest = rest.trim_start_matches([' ', '\t']).strip_prefix('=')?;
    let rest = rest.trim_start_matches([' ', '\t']);
    if rest.starts_with(['"', '\'']) {
        let (value, after) = quoted_or(rest, |_| false)?;
        if !after.trim().is_empty() {
            return None;
        }
        return Some((name, value));
    }
    let value = rest.trim_end_matches([' ', '\t', '\r']);
    // An unquoted empty value is not a variable line for cron.
    if value.is_empty() {
        return None;
    }
    Some((name, value.to_string()))
}

/// `NAME=` with nothing after it: the name, for a clearer message than
/// the broken job line cron takes it for.
fn empty_variable(line: &str) -> Option<&str> {
    let (name, rest) = line.split_once('=')?;
    let name = name.trim_end_matches([' ', '\t']);
    let word = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    (word && rest.trim().is_empty()).then_some(name)
}

/// A quoted string at the start of `s` (its content, and what follows
/// the closing quote), or the text up to the first character `end`
/// accepts. `None` for an unclosed quote.
fn quoted_or(s: &str, end: impl Fn(char) -> bool) -> Option<(String, &str)> {
    match s.chars().next() {
        Some(q @ ('"' | '\'')) => {
            let inner = &s[1..];
            let close = inner.find(q)?;
            Some((inner[..close].to_string(), &inner[close + 1..]))
        }
        _ => {
            let stop = s.find(&end).unwrap_or(s.len());
            Some((s[..stop].to_string(), &s[stop..]))
        }
    }
}

/// A job line, before the variables are added.
struct JobLine {
    schedule_text: String,
    schedule: Schedule,
    user: Option<String>,
    command: String,
    stdin: Option<String>,
}

/// The next blank-separated word of `s` from byte `from`: its range.
fn word(s: &str, from: usize) -> Option<Range<usize>> {
    let rest = &s[from..];
    let skip = rest.len() - rest.trim_start_matches([' ', '\t']).len();
    let start = from + skip;
    let len = s[start..].find([' ', '\t']).unwrap_or(s.len() - start);
    (len > 0).then_some(start..start + len)
}

fn job_line(
    line: &str,
    at: usize,
    line_no: usize,
    format: Format,
    user_exists: &mut dyn FnMut(&str) -> Result<bool, String>,
) -> Result<JobLine, Problem> {
    let problem = |span: Range<usize>, message: String, help: Option<&str>| Problem {
        line: line_no,
        span: span.start + at..span.end + at,
        message,
        help: help.map(str::to_string),
    };
    let line = line.trim_end_matches('\r');
    let (schedule_text, mut pos) = if let Some(name) = line.strip_prefix('@') {
        let end = name.find([' ', '\t']).unwrap_or(name.len());
        let name = &name[..end];
        if !MACROS.contains(&name) {
            return Err(problem(
                0..end + 1,
                format!("unknown macro @{name}"),
                Some(
                    "Debian's cron knows @reboot, @yearly, @annually, @monthly, @weekly, \
                     @daily, @midnight and @hourly, in lower case",
                ),
            ));
        }
        (format!("@{name}"), end + 1)
    } else {
        let mut pos = 0;
        let mut texts = Vec::with_capacity(5);
        for field in fields::FIELDS {
            let Some(range) = word(line, pos) else {
                return Err(problem(
                    line.len()..line.len() + 1,
                    format!("the line ends before its {} field", field.name),
                    Some(
                        "a job line is five time fields (minute hour day-of-month month \
                         day-of-week) or a macro such as @daily, then the command",
                    ),
                ));
            };
            let text = &line[range.clone()];
            if let Err(e) = field.check(text) {
                return Err(problem(
                    range.start + e.span.start..range.start + e.span.end,
                    e.message,
                    Some(&e.help),
                ));
            }
            texts.push(text);
            pos = range.end;
        }
        (texts.join(" "), pos)
    };
    let schedule: Schedule = schedule_text.parse().map_err(|e| {
        problem(
            0..pos,
            format!("the schedule {schedule_text} cannot be converted: {e}"),
            None,
        )
    })?;
    let user = match format {
        Format::User => None,
        Format::System => {
            let Some(range) = word(line, pos) else {
                return Err(problem(
                    line.len()..line.len() + 1,
                    "the line ends before its user field".to_string(),
                    Some("a system crontab line names the user after the time: 0 2 * * * root cmd"),
                ));
            };
            let name = &line[range.clone()];
            match user_exists(name) {
                Ok(true) => {}
                Ok(false) => {
                    return Err(problem(
                        range,
                        format!("unknown user {name:?}"),
                        Some("the user field names an account of this machine"),
                    ));
                }
                Err(e) => {
                    return Err(problem(
                        range,
                        format!("cannot look up user {name:?}: {e}"),
                        None,
                    ));
                }
            }
            pos = range.end;
            Some(name.to_string())
        }
    };
    let command = line[pos..].trim_start_matches([' ', '\t']);
    if command.trim().is_empty() {
        return Err(problem(
            line.len()..line.len() + 1,
            "the line has no command".to_string(),
            None,
        ));
    }
    let (command, stdin) = split_percent(command);
    Ok(JobLine {
        schedule_text,
        schedule,
        user,
        command,
        stdin,
    })
}

/// The command and its standard input, as cron's `do_command` splits a
/// line's command part at `%`.
pub(crate) fn split_percent(text: &str) -> (String, Option<String>) {
    let mut command = String::with_capacity(text.len());
    let mut chars = text.chars();
    let mut input = None;
    while let Some(c) = chars.next() {
        match c {
            // A backslash escapes the character after it: `\%` is a `%`,
            // anything else stays as written, backslash included.
            '\\' => match chars.next() {
                Some('%') => command.push('%'),
                Some(next) => {
                    command.push('\\');
                    command.push(next);
                }
                None => command.push('\\'),
            },
            '%' => {
                input = Some(chars.as_str());
                break;
            }
            c => command.push(c),
        }
    }
    // cron's loop over the input, kept as it is: a backslash before a `%`
    // is dropped, any other backslash is written, and one after a
    // backslash escapes the next character again.
    let stdin = input.map(|rest| {
        let mut out = String::with_capacity(rest.len());
        let mut escaped = false;
        for c in rest.chars() {
            let c = match c {
                '%' if !escaped => '\n',
                c => {
                    if escaped && c != '%' {
                        out.push('\\');
                    }
                    c
                }
            };
            escaped = c == '\\';
            if !escaped {
                out.push(c);
            }
        }
        if escaped {
            out.push('\\');
        }
        out
    });
    (command, stdin.filter(|s| !s.is_empty()))
}

/// Debian's rule for the files of `/etc/cron.d`: a name made only of
/// letters, digits, `_` and `-`, like run-parts(8) wants; cron ignores
/// every other file (`*.dpkg-old`, `backup~`, `.placeholder`).
pub fn cron_d_name_ok(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests;
