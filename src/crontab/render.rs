//! Converted crontab lines as a `jobs.toml` a person would keep: one job
//! table per line, each under a comment naming its file and line and any
//! way cronduct's behaviour differs from cron's; `[defaults]` for what
//! every job shares; an `[smtp]` table for the local mail server when
//! some job mails.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::{Converted, DEFAULT_SHELL};

/// Where the converted jobs came from, for the header.
pub struct Header<'a> {
    pub files: &'a [String],
}

/// The whole output file for `jobs`, in the order given.
pub fn render(header: &Header<'_>, jobs: &[Converted<'_>]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Converted from cron by `cronduct import` (cronduct {}).",
        env!("CARGO_PKG_VERSION")
    );
    if !header.files.is_empty() {
        out.push_str("# From:\n");
        for file in header.files {
            let _ = writeln!(out, "#   {}", printable(file));
        }
    }
    out.push_str(
        "# Each job fires at the instants cron fires its line. Comments marked\n\
         # \"differs:\" say where cronduct behaves differently; review them.\n",
    );

    let shared = Shared::of(jobs);
    if jobs.iter().any(|j| !j.email.is_empty()) {
        out.push_str(
            "\n[smtp]\n\
             # cron hands its mail to the local mail server; so does cronduct, over SMTP.\n\
             host = \"localhost\"\n\
             port = 25\n",
        );
        if let Some(from) = &shared.mail_from {
            let _ = writeln!(out, "from = {}", string(from));
        }
    }

    out.push_str("\n[defaults]\n");
    out.push_str(
        "# cron never keeps two runs of a line from overlapping; \"forbid\" would\n\
         # skip a start while the previous run is still going.\n\
         concurrency = \"allow\"\n",
    );
    if let Some(shell) = &shared.shell {
        let _ = writeln!(out, "shell = {}", string(shell));
    }
    if let Some(env) = &shared.env {
        let _ = writeln!(out, "env = {}", table(env));
    }
    if let Some(email) = &shared.email {
        out.push_str(&mail_comment(email));
        let _ = writeln!(out, "notify = {}", notify(email));
    }

    for job in jobs {
        out.push('\n');
        let e = job.entry;
        let _ = writeln!(out, "# {}:{}", printable(&job.file), e.line);
        for note in &job.notes {
            let _ = writeln!(out, "# {}", printable(note));
        }
        if e.schedule.is_reboot() {
            out.push_str(
                "# @reboot: once per boot of the machine, when cronduct first starts after it.\n",
            );
        }
        if let Some(from) = e.mail_from.as_ref().filter(|_| !job.email.is_empty()) {
            if shared.mail_from.is_none() {
                let _ = writeln!(
                    out,
                    "# differs: MAILFROM={} is not used; cronduct's mail comes from [smtp] from.",
                    printable(from)
                );
            }
        }
        if shared.email.is_none() && !job.email.is_empty() {
            out.push_str(&mail_comment(&job.email));
        }
        let _ = writeln!(out, "[jobs.{}]", job.id);
        let _ = writeln!(out, "schedule = {}", string(&e.schedule_text));
        if let Some((_, tz)) = &e.cron_tz {
            let _ = writeln!(out, "timezone = {}", string(tz.name()));
        }
        if let Some(user) = &job.user {
            let _ = writeln!(out, "user = {}", string(user));
        }
        let _ = writeln!(out, "command = {}", string(&e.command));
        if let Some(stdin) = &e.stdin {
            let _ = writeln!(out, "stdin = {}", string(stdin));
        }
        if shared.shell.is_none() {
            let shell = e.shell.as_deref().unwrap_or(DEFAULT_SHELL);
            let _ = writeln!(out, "shell = {}", string(shell));
        }
        if shared.env.is_none() {
            let _ = writeln!(out, "env = {}", table(&e.env));
        }
        if shared.email.is_none() && !job.email.is_empty() {
            let _ = writeln!(out, "notify = {}", notify(&job.email));
        }
    }
    out
}

/// What every job has alike, written once in `[defaults]`.
struct Shared {
    shell: Option<String>,
    env: Option<BTreeMap<String, String>>,
    email: Option<Vec<String>>,
    mail_from: Option<String>,
}

impl Shared {
    fn of(jobs: &[Converted<'_>]) -> Shared {
        fn same<T: PartialEq + Clone>(mut values: impl Iterator<Item = T>) -> Option<T> {
            let first = values.next()?;
            values.all(|v| v == first).then_some(first)
        }
        let shell = same(
            jobs.iter()
                .map(|j| j.entry.shell.as_deref().unwrap_or(DEFAULT_SHELL)),
        );
        let mailing = jobs.iter().filter(|j| !j.email.is_empty());
        Shared {
            shell: shell.map(str::to_string),
            env: same(jobs.iter().map(|j| &j.entry.env)).cloned(),
            email: same(jobs.iter().map(|j| &j.email))
                .filter(|e| !e.is_empty())
                .cloned(),
            mail_from: same(mailing.map(|j| &j.entry.mail_from)).and_then(Clone::clone),
        }
    }
}

fn mail_comment(email: &[String]) -> String {
    format!(
        "# differs: cron mails {} whatever a run prints; cronduct mails when a run\n\
         # fails (non-zero exit), with the tail of its output.\n",
        printable(&email.join(", "))
    )
}

/// `s` for a comment: TOML comments may not hold control characters but
/// tab (a `MAILTO` or a file name may), so each is written as `\uXXXX`,
/// as in a string; a line break would end the comment.
fn printable(s: &str) -> std::borrow::Cow<'_, str> {
    let control = |c: char| c.is_control() && c != '\t';
    if !s.chars().any(control) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if control(c) {
            let _ = write!(out, "\\u{:04X}", c as u32);
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

fn notify(email: &[String]) -> String {
    let list: Vec<String> = email.iter().map(|e| string(e)).collect();
    format!("{{ email = [{}], on = [\"failure\"] }}", list.join(", "))
}

/// An inline table of strings.
fn table(map: &BTreeMap<String, String>) -> String {
    let pairs: Vec<String> = map
        .iter()
        .map(|(k, v)| format!("{} = {}", key(k), string(v)))
        .collect();
    if pairs.is_empty() {
        "{}".to_string()
    } else {
        format!("{{ {} }}", pairs.join(", "))
    }
}

/// A key, bare when TOML allows it.
fn key(k: &str) -> String {
    let bare = !k.is_empty()
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if bare { k.to_string() } else { string(k) }
}

/// A TOML basic string.
pub(crate) fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `crontab` fuzz target: `MAILTO=` holding a NUL was
    /// copied into the "differs: cron mails …" comment, and the output was
    /// not TOML ("invalid comment character").
    #[test]
    fn control_characters_in_comments_keep_the_output_toml() {
        let machine = crate::config::Machine::this();
        let text = "MAILTO=\0ps\nMAILFROM=a\x01b\n0 0 1 1 * root true\n";
        let parsed = crate::crontab::parse(text, crate::crontab::Format::System, &machine);
        let mut ids = crate::crontab::Ids::new();
        let jobs = crate::crontab::convert(&parsed, "cron\nd", "x", None, "root", &mut ids);
        assert_eq!(jobs.len(), 1, "{:?}", parsed.problems);
        let files = ["cron\u{7}tab".to_string()];
        let out = render(&Header { files: &files }, &jobs);
        let doc: toml::Table = toml::from_str(&out).unwrap_or_else(|e| panic!("{e}\n{out}"));
        assert!(out.contains("cron mails \\u0000ps@localhost"), "{out}");
        let email = &doc["defaults"]["notify"]["email"][0];
        assert_eq!(email.as_str(), Some("\0ps@localhost"), "{out}");
    }

    #[test]
    fn strings_round_trip_through_toml() {
        for s in ["plain", "a \"q\" \\ b", "l1\nl2\t%\r", "\u{1}\u{7f}é"] {
            let doc = format!("v = {}", string(s));
            let parsed: toml::Table = toml::from_str(&doc).expect(&doc);
            assert_eq!(parsed["v"].as_str(), Some(s), "{doc}");
        }
        assert_eq!(key("PATH"), "PATH");
        assert_eq!(printable("a\tb"), "a\tb");
        assert_eq!(printable("a\0b\nc\u{7f}"), "a\\u0000b\\u000Ac\\u007F");
        assert_eq!(key("A B"), "\"A B\"");
    }
}
