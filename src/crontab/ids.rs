//! Job ids for crontab lines: readable, and stable as long as the file's
//! name and the line's command stay the same.
//!
//! An id is the file's name, then up to three words of the command that
//! say what it runs (`sysstat-debian-sa1-1-1`, `crontab-run-parts-cron-daily`):
//! shell keywords, options, redirections and `/dev/null` are skipped, and
//! a path counts by its last part. Characters an id may not hold become
//! `-`; the id is cut to 64 characters. A second line with the same id
//! gets `-2`, a third `-3`, in file order.

use std::collections::HashSet;

/// Words that say nothing about what a command does.
const SKIP: &[&str] = &[
    "if", "then", "else", "fi", "test", "command", "cd", "exec", "sh", "bash", "nice", "ionice",
    "true", "false", "null", "echo", "env", "sudo", "su", "for", "do", "done", "while", "in",
    // `[ -d /run/systemd/system ]`, the check of many Debian cron.d lines.
    "system",
];

/// The ids given so far: where deduplication looks.
#[derive(Debug, Default)]
pub struct Ids {
    taken: HashSet<String>,
}

impl Ids {
    pub fn new() -> Ids {
        Ids::default()
    }

    /// Marks `id` as taken (a job of the configuration itself).
    pub fn reserve(&mut self, id: &str) {
        self.taken.insert(id.to_string());
    }

    /// The id of a line of file `stem` running `command`.
    pub fn next(&mut self, stem: &str, command: &str) -> String {
        let base = base_id(stem, command);
        let mut id = base.clone();
        let mut n = 2;
        while self.taken.contains(&id) {
            let suffix = format!("-{n}");
            id = format!("{}{suffix}", cut(&base, 64 - suffix.len()));
            n += 1;
        }
        self.taken.insert(id.clone());
        id
    }
}

fn base_id(stem: &str, command: &str) -> String {
    let mut words: Vec<String> = Vec::new();
    for token in command.split(|c: char| c.is_whitespace() || ";&|()<>`$\"'=".contains(c)) {
        if words.len() == 3 {
            break;
        }
        let token = token.trim_end_matches('/');
        if token.starts_with('-') || token.is_empty() {
            continue;
        }
        let last = token.rsplit('/').next().unwrap_or(token);
        let word = clean(last);
        if word.is_empty() || SKIP.contains(&word.as_str()) || words.contains(&word) {
            continue;
        }
        words.push(word);
    }
    let mut id = clean(stem);
    if id.is_empty() || !id.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        id = format!("cron{id}");
    }
    for w in words {
        id.push('-');
        id.push_str(&w);
    }
    cut(&id, 64).to_string()
}

/// `text` with every character an id may not hold made `-`, runs of `-`
/// squeezed, and no `-` at either end.
fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let c = if c.is_ascii_alphanumeric() || c == '_' {
            c.to_ascii_lowercase()
        } else {
            '-'
        };
        if c == '-' && (out.is_empty() || out.ends_with('-')) {
            continue;
        }
        out.push(c);
    }
    out.trim_end_matches('-').to_string()
}

/// The first `n` bytes of an ASCII id, without a trailing `-`.
fn cut(id: &str, n: usize) -> &str {
    id.get(..n.min(id.len()))
        .unwrap_or(id)
        .trim_end_matches('-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readable_ids() {
        let mut ids = Ids::new();
        let cases = [
            (
                "crontab",
                "cd / && run-parts --report /etc/cron.hourly",
                "crontab-run-parts-cron-hourly",
            ),
            (
                "crontab",
                "test -x /usr/sbin/anacron || { cd / && run-parts --report /etc/cron.daily; }",
                "crontab-anacron-run-parts-cron-daily",
            ),
            (
                "sysstat",
                "command -v debian-sa1 > /dev/null && debian-sa1 1 1",
                "sysstat-debian-sa1-1",
            ),
            (
                "sysstat",
                "command -v debian-sa1 > /dev/null && debian-sa1 1 1",
                "sysstat-debian-sa1-1-2",
            ),
            (
                "Weird name.txt",
                "/opt/x/Backup.sh",
                "weird-name-txt-backup-sh",
            ),
            ("-", "echo hi", "cron-hi"),
            ("_x", "true", "cron_x"),
        ];
        for (stem, command, want) in cases {
            assert_eq!(ids.next(stem, command), want);
        }
        let long = ids.next(&"a".repeat(80), "x");
        assert_eq!(long.len(), 64);
        assert!(crate::config::valid_job_id(&long));
        let again = ids.next(&"a".repeat(80), "x");
        assert!(again.ends_with("-2") && again.len() == 64, "{again}");
    }
}
