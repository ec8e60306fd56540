//! Which job and which key a byte offset of a file falls in, so that a
//! problem found anywhere (reader or validator) is reported with its job
//! and key as data, from its span alone.
//!
//! Built only when a file has problems; it reads the text again rather
//! than keeping the reader's tree alive for every valid load.

use std::ops::Range;

use toml::de::{DeTable, DeValue};

/// Every key of the file that problems are reported against, with the
/// text it covers: the key, its value and, for a table, everything in it.
pub(crate) struct KeyIndex {
    entries: Vec<Entry>,
}

struct Entry {
    range: Range<usize>,
    /// The dotted path from the top of the file: `jobs.backup.timeout`.
    path: Vec<String>,
}

impl KeyIndex {
    /// The keys of `text`; none when it is not valid TOML (its problems
    /// are syntax errors, which belong to no key).
    pub fn new(text: &str) -> KeyIndex {
        let mut entries = Vec::new();
        if let Ok(doc) = DeTable::parse(text) {
            walk(doc.get_ref(), &mut Vec::new(), &mut entries);
        }
        KeyIndex { entries }
    }

    /// The job and the key at `offset`: the innermost key whose text
    /// holds it. A job's key is its path inside the job table; outside
    /// jobs the key is its whole path (`daemon.listen`).
    pub fn find(&self, offset: usize) -> (Option<String>, Option<String>) {
        let Some(entry) = self
            .entries
            .iter()
            .filter(|e| e.range.contains(&offset) || e.range.start == offset)
            .min_by_key(|e| e.range.len())
        else {
            return (None, None);
        };
        let dotted = |parts: &[String]| (!parts.is_empty()).then(|| parts.join("."));
        match entry.path.as_slice() {
            [jobs, id, rest @ ..] if jobs == "jobs" => (Some(id.clone()), dotted(rest)),
            path => (None, dotted(path)),
        }
    }
}

/// Whether the keys inside the table at `path` are configuration keys
/// (the tables of the file, a job, its `http`, `notify` and
/// `notify.webhook`) rather than names the user chose (`env`,
/// `http.headers`, `notify.webhook.headers`).
fn has_keys(path: &[String]) -> bool {
    match path {
        [] => true,
        [table] => matches!(table.as_str(), "daemon" | "smtp" | "defaults" | "jobs"),
        [first, second] => first == "jobs" || (first == "defaults" && second == "notify"),
        [first, second, third] if first == "defaults" => second == "notify" && third == "webhook",
        [jobs, _, table] => jobs == "jobs" && matches!(table.as_str(), "http" | "notify"),
        [jobs, _, notify, webhook] => jobs == "jobs" && notify == "notify" && webhook == "webhook",
        _ => false,
    }
}

/// Records every key of `table` (at `path`) and of its keyed tables;
/// returns the text they all cover.
fn walk(table: &DeTable<'_>, path: &mut Vec<String>, out: &mut Vec<Entry>) -> Option<Range<usize>> {
    let mut covered: Option<Range<usize>> = None;
    for (key, value) in table {
        path.push(key.get_ref().to_string());
        let mut range = union(key.span(), value.span());
        if let DeValue::Table(inner) = value.get_ref() {
            if has_keys(path) {
                if let Some(inside) = walk(inner, path, out) {
                    range = union(range, inside);
                }
            }
        }
        out.push(Entry {
            range: range.clone(),
            path: path.clone(),
        });
        covered = Some(match covered {
            Some(c) => union(c, range),
            None => range,
        });
        path.pop();
    }
    covered
}

fn union(a: Range<usize>, b: Range<usize>) -> Range<usize> {
    a.start.min(b.start)..a.end.max(b.end)
}
