//! Configuration problems and how they are shown: `error: …`, the file,
//! line and column, the source line with a caret under the span, notes and
//! a help line, in the style of rustc and just.
//!
//! Owns only rendering and "did you mean" suggestions; it decides nothing
//! about what is valid.

use std::fmt::Write as _;
use std::ops::Range;

/// Which source file a problem is in: an index into the loader's list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct FileId(pub usize);

/// One file's text, kept so problems can quote the offending line.
#[derive(Debug)]
pub(crate) struct Source {
    /// The path as the user would recognise it: relative paths stay
    /// relative to where `cronduct` was started.
    pub display: String,
    pub text: String,
    /// Byte offset of the start of each line.
    line_starts: Vec<usize>,
}

impl Source {
    pub fn new(display: String, text: String) -> Self {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Source {
            display,
            text,
            line_starts,
        }
    }

    /// 0-based line index and 0-based char column of byte `offset`.
    pub(crate) fn position(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s <= offset) - 1;
        let start = self.line_starts[line];
        let col = self
            .text
            .get(start..offset)
            .map_or(0, |prefix| prefix.chars().count());
        (line, col)
    }

    /// The text of 0-based line `line`, without its line break.
    fn line(&self, line: usize) -> &str {
        let start = self.line_starts[line];
        let end = self
            .line_starts
            .get(line + 1)
            .map_or(self.text.len(), |&next| next - 1);
        self.text
            .get(start..end)
            .unwrap_or("")
            .trim_end_matches('\r')
    }

    /// `file:line:col` (1-based) of byte `offset`, for notes that point at
    /// a second place.
    pub fn location(&self, offset: usize) -> String {
        let (line, col) = self.position(offset);
        format!("{}:{}:{}", self.display, line + 1, col + 1)
    }
}

/// One problem in a configuration.
#[derive(Debug)]
pub(crate) struct Diagnostic {
    pub file: FileId,
    /// Byte range in the file's text; `None` for a whole-file problem (an
    /// unreadable file).
    pub span: Option<Range<usize>>,
    /// The first line, after `error: `: names the job and the key.
    pub message: String,
    pub notes: Vec<String>,
    /// What would be valid.
    pub help: Option<String>,
    /// The key the problem is about, when its span is not on that key
    /// (a missing `schedule` points at the job's id); else the key is
    /// found from the span.
    pub key: Option<&'static str>,
}

impl Diagnostic {
    pub fn at(file: FileId, span: Range<usize>, message: impl Into<String>) -> Self {
        Diagnostic {
            file,
            span: Some(span),
            message: message.into(),
            notes: Vec::new(),
            help: None,
            key: None,
        }
    }

    pub fn whole_file(file: FileId, message: impl Into<String>) -> Self {
        Diagnostic {
            file,
            span: None,
            message: message.into(),
            notes: Vec::new(),
            help: None,
            key: None,
        }
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn help_opt(mut self, help: Option<String>) -> Self {
        self.help = help;
        self
    }

    /// Names the key the problem is about (see [`Diagnostic::key`]).
    pub fn about(mut self, key: &'static str) -> Self {
        self.key = Some(key);
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    /// Renders the problem against its source, without a trailing newline:
    ///
    /// ```text
    /// error: job `backup`, key `timeout`: unknown unit "x" in duration "30x"
    ///   --> jobs.toml:12:11
    ///    |
    /// 12 | timeout = "30x"
    ///    |           ^^^^^
    ///    = help: …
    /// ```
    ///
    /// A long source line is quoted as a window of [`LINE_WINDOW`] chars
    /// around the caret, and the message, notes and help are clipped (see
    /// [`clip`]), so a 10 MB one-line value costs a few hundred bytes
    /// wherever the problem is shown, not the line twice over.
    pub fn render(&self, source: &Source) -> String {
        let mut out = format!("error: {}", clip(&self.message, MESSAGE_LIMIT));
        let Some(span) = &self.span else {
            let _ = write!(out, "\n  --> {}", source.display);
            for note in &self.notes {
                let _ = write!(out, "\n   = note: {}", clip(note, HELP_LIMIT));
            }
            if let Some(help) = &self.help {
                let _ = write!(out, "\n   = help: {}", clip(help, HELP_LIMIT));
            }
            return out;
        };
        let (line, col) = source.position(span.start);
        let number = (line + 1).to_string();
        let gutter = " ".repeat(number.len());
        let text = source.line(line);
        // The caret covers the span's part of its first line, at least one
        // column (an empty span marks a position, e.g. a missing value).
        let (end_line, end_col) = source.position(span.end);
        let width = if end_line == line {
            end_col.saturating_sub(col)
        } else {
            text.chars().count().saturating_sub(col)
        }
        .max(1);
        let window = Window::around(text, col, width);
        // Tabs before the span are copied so the caret lines up however
        // the terminal expands them; the leading "…" is one column.
        let indent: String = window
            .before
            .chars()
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        let _ = write!(
            out,
            "\n{gutter}--> {}:{}:{}\n{gutter} |\n{number} | {}{}{}{}\n{gutter} | {}{indent}{}",
            source.display,
            line + 1,
            col + 1,
            if window.cut_start { ELLIPSIS } else { "" },
            window.before,
            window.rest,
            if window.cut_end { ELLIPSIS } else { "" },
            if window.cut_start { " " } else { "" },
            "^".repeat(window.caret),
        );
        for note in &self.notes {
            let _ = write!(out, "\n{gutter} = note: {}", clip(note, HELP_LIMIT));
        }
        if let Some(help) = &self.help {
            let _ = write!(out, "\n{gutter} = help: {}", clip(help, HELP_LIMIT));
        }
        out
    }
}

/// How many chars of a source line are quoted under a problem: enough for
/// the lines people write (an inline `webhook = { … }` table runs to 150),
/// so only generated or pasted lines are cut.
pub(crate) const LINE_WINDOW: usize = 160;
/// How many of the window's chars come before the caret when the line is
/// cut: enough to show the key the value belongs to.
const LEAD: usize = 60;
/// The longest message (the `error:` line) shown. Messages quote the
/// user's value, which may be megabytes long.
pub(crate) const MESSAGE_LIMIT: usize = 300;
/// The longest note or help shown: longer than a message, because a help
/// may list every valid key.
pub(crate) const HELP_LIMIT: usize = 1000;
/// Marks where text was cut.
const ELLIPSIS: &str = "…";

/// The part of a source line quoted under a problem.
struct Window<'a> {
    /// The quoted chars before the caret's column.
    before: &'a str,
    /// The quoted chars from the caret's column on.
    rest: &'a str,
    /// Carets under `rest`: the span's width, cut at the window's end.
    caret: usize,
    cut_start: bool,
    cut_end: bool,
}

impl<'a> Window<'a> {
    /// At most [`LINE_WINDOW`] chars of `line` around char column `col`,
    /// whose span is `width` chars wide. A line that fits is whole.
    fn around(line: &'a str, col: usize, width: usize) -> Self {
        let len = line.chars().count();
        let col = col.min(len);
        let (first, last) = if len <= LINE_WINDOW {
            (0, len)
        } else {
            // Start LEAD chars before the caret, but never so late that the
            // window runs past the line's end.
            let first = col.saturating_sub(LEAD).min(len - LINE_WINDOW);
            (first, first + LINE_WINDOW)
        };
        let byte = |char_index: usize| {
            line.char_indices()
                .nth(char_index)
                .map_or(line.len(), |(i, _)| i)
        };
        let (first_byte, col_byte, last_byte) = (byte(first), byte(col), byte(last));
        Window {
            before: &line[first_byte..col_byte],
            rest: &line[col_byte..last_byte],
            caret: width.min(last.saturating_sub(col)).max(1),
            cut_start: first > 0,
            cut_end: last < len,
        }
    }
}

/// `text` if it has at most `limit` chars, else its head and tail around
/// an "…", `limit` chars in all: the head names what the problem is
/// about, the tail often says what was expected.
pub(crate) fn clip(text: &str, limit: usize) -> std::borrow::Cow<'_, str> {
    let len = text.chars().count();
    if len <= limit {
        return std::borrow::Cow::Borrowed(text);
    }
    let keep = limit.saturating_sub(1);
    let head = keep - keep / 2;
    let tail = keep / 2;
    let head_end = text.char_indices().nth(head).map_or(text.len(), |(i, _)| i);
    let tail_start = text
        .char_indices()
        .nth(len - tail)
        .map_or(text.len(), |(i, _)| i);
    std::borrow::Cow::Owned(format!(
        "{}{ELLIPSIS}{}",
        &text[..head_end],
        &text[tail_start..]
    ))
}

/// Levenshtein distance between two strings, by chars.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

/// How far a misspelling may be from what was meant: one edit for very
/// short words, else about a third of the word.
fn max_distance(word: &str) -> usize {
    let len = word.chars().count();
    if len <= 3 { 1 } else { (len / 3).max(2) }
}

/// Whether `candidate` (of `candidate_len` chars) can be within `max`
/// edits of a word of `word_len` chars: the distance is at least the
/// difference in length. Checked before [`edit_distance`], whose cost is
/// the product of the lengths, so a value far longer than anything it
/// could be a misspelling of (a 1 MB `timezone`) costs one pass over its
/// length instead of seconds against every candidate.
fn within_reach(word_len: usize, candidate_len: usize, max: usize) -> bool {
    word_len.abs_diff(candidate_len) <= max
}

/// The candidate nearest to `word` (ignoring case), if it is near enough to
/// be a likely misspelling. Ties go to the earlier candidate.
pub(crate) fn suggest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let len = word.chars().count();
    let max = max_distance(word);
    let reachable: Vec<&'a str> = candidates
        .iter()
        .copied()
        .filter(|c| within_reach(len, c.chars().count(), max))
        .collect();
    if reachable.is_empty() {
        return None;
    }
    let lower = word.to_lowercase();
    reachable
        .into_iter()
        .map(|c| (edit_distance(&lower, &c.to_lowercase()), c))
        .filter(|&(d, _)| d <= max)
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

/// The IANA zone names nearest to `name` (up to three, equally near): by
/// the whole name or by its last part, so `Berlin` finds `Europe/Berlin`
/// and so does `Europe/Berln`.
pub(crate) fn suggest_timezones<'a>(name: &str, names: &'a [String]) -> Vec<&'a str> {
    let len = name.chars().count();
    let max = max_distance(name);
    // Zone names are ASCII, so byte lengths are char counts.
    let reachable: Vec<&'a str> = names
        .iter()
        .map(String::as_str)
        .filter(|c| {
            let city = c.rsplit('/').next().unwrap_or("");
            within_reach(len, c.len(), max) || within_reach(len, city.len(), max)
        })
        .collect();
    if reachable.is_empty() {
        return Vec::new();
    }
    let lower = name.to_lowercase();
    let mut scored: Vec<(usize, &'a str)> = reachable
        .into_iter()
        .map(|candidate| {
            let candidate_lower = candidate.to_lowercase();
            let city = candidate_lower.rsplit('/').next().unwrap_or("");
            let d = edit_distance(&lower, &candidate_lower).min(edit_distance(&lower, city));
            (d, candidate)
        })
        .filter(|&(d, _)| d <= max)
        .collect();
    scored.sort();
    let best = scored.first().map_or(0, |&(d, _)| d);
    scored
        .into_iter()
        .take_while(|&(d, _)| d == best)
        .take(3)
        .map(|(_, c)| c)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(edit_distance("timout", "timeout"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }

    #[test]
    fn suggestions_are_near_or_absent() {
        let keys = ["schedule", "command", "timeout", "retries", "user"];
        assert_eq!(suggest("timout", &keys), Some("timeout"));
        assert_eq!(suggest("Schedule", &keys), Some("schedule"));
        assert_eq!(suggest("comand", &keys), Some("command"));
        assert_eq!(suggest("frobnicate", &keys), None);
        assert_eq!(suggest("usr", &keys), Some("user"));
    }

    #[test]
    fn timezone_suggestions() {
        let names = crate::zone::Database::compiled_in().names();
        let suggest_timezones = |name| suggest_timezones(name, &names);
        assert_eq!(
            suggest_timezones("Europe/Berln").first(),
            Some(&"Europe/Berlin")
        );
        assert!(suggest_timezones("Berlin").contains(&"Europe/Berlin"));
        assert!(suggest_timezones("america/new_york").contains(&"America/New_York"));
        assert!(suggest_timezones("Xyzzy/Plugh").is_empty());
    }

    /// A value much longer than any zone name gets no suggestion, however
    /// much of a real name it holds, and a huge one is dismissed at once
    /// (before the bound, 1 MB took seconds: an edit distance against
    /// each of the ~600 names).
    #[test]
    fn timezone_suggestions_skip_values_far_longer_than_any_zone() {
        let names = crate::zone::Database::compiled_in().names();
        let longest = names.iter().map(String::len).max().unwrap_or(0);
        for (value, near) in [
            ("Europe/Berln".to_string(), true),
            (format!("Europe/Berlin{}", "x".repeat(3)), true),
            (format!("Europe/Berlin{}", "x".repeat(longest)), false),
            ("Europe/Berlin".repeat(4), false),
            ("y".repeat(1 << 20), false),
        ] {
            let started = std::time::Instant::now();
            let found = suggest_timezones(&value, &names);
            assert_eq!(!found.is_empty(), near, "{} chars: {found:?}", value.len());
            assert!(
                started.elapsed() < std::time::Duration::from_secs(1),
                "{} chars took {:?}",
                value.len(),
                started.elapsed()
            );
        }
    }

    #[test]
    fn key_suggestions_skip_words_far_longer_than_any_key() {
        let keys = ["schedule", "command", "timeout"];
        assert_eq!(suggest("timeoutt", &keys), Some("timeout"));
        assert_eq!(suggest(&"timeout".repeat(3), &keys), None);
        let started = std::time::Instant::now();
        assert_eq!(suggest(&"c".repeat(1 << 20), &keys), None);
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }

    #[test]
    fn renders_caret_under_span() {
        let src = Source::new("jobs.toml".into(), "a = 1\n\tkey = \"bad\"\n".into());
        let start = src.text.find("\"bad\"").expect("present");
        let d = Diagnostic::at(FileId(0), start..start + 5, "oops").help("fix it");
        assert_eq!(
            d.render(&src),
            "error: oops\n --> jobs.toml:2:8\n  |\n2 | \tkey = \"bad\"\n  | \t      ^^^^^\n  = help: fix it"
        );
    }

    /// A line longer than the window is quoted around the caret with an
    /// "…" at each cut end, the caret still under the value, and the
    /// location still its true line and column.
    #[test]
    fn a_long_line_is_quoted_as_a_window_around_the_caret() {
        let pad = "x".repeat(5000);
        for (line, value, cut_start, cut_end) in [
            // Caret near the start: cut at the end only.
            (format!("t = \"bad\" # {pad}"), "\"bad\"", false, true),
            // In the middle: cut at both ends.
            (
                format!("a = \"{pad}\", t = \"bad\", b = \"{pad}\""),
                "\"bad\"",
                true,
                true,
            ),
            // At the end: cut at the start only, the window ends with the line.
            (
                format!("a = \"{pad}\", t = \"bad\""),
                "\"bad\"",
                true,
                false,
            ),
        ] {
            let text = format!("first = 1\n{line}\n");
            let src = Source::new("f.toml".into(), text.clone());
            let start = text.find(value).expect("present");
            let d = Diagnostic::at(FileId(0), start..start + value.len(), "oops");
            let out = d.render(&src);
            let col = line.find(value).expect("present") + 1;
            let lines: Vec<&str> = out.lines().collect();
            assert_eq!(lines[1], format!(" --> f.toml:2:{col}"), "{out}");
            let quoted = lines[3].strip_prefix("2 | ").expect("the quoted line");
            let caret = lines[4].strip_prefix("  | ").expect("the caret line");
            assert_eq!(quoted.starts_with('…'), cut_start, "{quoted}");
            assert_eq!(quoted.ends_with('…'), cut_end, "{quoted}");
            let shown = quoted.chars().count();
            assert!(shown <= LINE_WINDOW + 2, "{shown} chars: {quoted}");
            // The carets sit under the value, column for column.
            let at = caret.find('^').expect("a caret");
            let under: String = quoted.chars().skip(at).take(value.len()).collect();
            assert_eq!(under, value, "{quoted}\n{caret}");
            assert_eq!(caret.trim_start(), "^".repeat(value.len()));
        }
    }

    /// A span wider than the window (a 10 MB value) gets carets to the
    /// window's end, not ten million of them.
    #[test]
    fn a_span_wider_than_the_window_is_cut_with_the_line() {
        let value = format!("\"{}\"", "v".repeat(10 << 20));
        let text = format!("t = {value}\n");
        let src = Source::new("f.toml".into(), text);
        let d = Diagnostic::at(FileId(0), 4..4 + value.len(), format!("bad value {value}"))
            .help(format!("not {value}"))
            .note(value.clone());
        let out = d.render(&src);
        assert!(out.len() < 4096, "{} bytes", out.len());
        assert!(out.contains("--> f.toml:1:5"), "{out}");
        let caret = out.lines().nth(4).expect("the caret line");
        assert_eq!(caret, format!("  |     {}", "^".repeat(LINE_WINDOW - 4)));
    }

    #[test]
    fn clipped_text_keeps_its_head_and_tail() {
        assert_eq!(clip("short", 10), "short");
        assert_eq!(clip("exactly10!", 10), "exactly10!");
        let long = format!("head{}tail", "é".repeat(1000));
        let clipped = clip(&long, 11);
        assert_eq!(clipped, "headé…étail");
        assert_eq!(clipped.chars().count(), 11);
        assert_eq!(clip(&"ü".repeat(1 << 20), 300).chars().count(), 300);
    }

    #[test]
    fn empty_span_at_end_of_file_still_points() {
        let src = Source::new("f.toml".into(), "x =".into());
        let d = Diagnostic::at(FileId(0), 3..3, "missing value");
        assert!(
            d.render(&src).ends_with("1 | x =\n  |    ^"),
            "{}",
            d.render(&src)
        );
    }
}
