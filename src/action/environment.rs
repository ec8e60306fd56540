//! The variables of a command that come from files: `env_file` entries
//! (systemd `EnvironmentFile=` syntax) and `env` values written as
//! `{ file = … }` or `{ credential = … }` (cronduct.toml(5) ENVIRONMENT
//! OF A COMMAND).
//!
//! Everything here is read at each attempt's start, so a rotated token is
//! picked up by the next run without a reload. What a file holds is a
//! secret: no message made here quotes it (not even a line of an env
//! file), only paths, line numbers and variable names.

use std::ffi::OsString;
use std::io;
use std::os::unix::ffi::OsStringExt;
use std::path::Path;

use crate::config::{EnvFile, EnvValue};

/// The variable holding the folder of systemd's `LoadCredential=` files.
const CREDENTIALS_DIRECTORY: &str = "CREDENTIALS_DIRECTORY";

/// One variable an env file sets, and the line it starts on.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Assignment {
    pub name: String,
    pub value: String,
    pub line: usize,
}

/// The variables of every `env_file`, in order (a later one replaces an
/// earlier one of the same name when the environment is put together).
/// A missing file is an error unless it is optional (`-` prefix); an
/// unreadable one or one that is not UTF-8 text is always one.
pub(crate) fn read_env_files(files: &[EnvFile]) -> Result<Vec<(String, OsString)>, String> {
    let mut vars = Vec::new();
    for file in files {
        let text = match std::fs::read(&file.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound && file.optional => continue,
            Err(e) => return Err(read_error("env_file", &file.path, &e)),
        };
        let Ok(text) = String::from_utf8(text) else {
            return Err(format!("env_file {}: not UTF-8 text", file.path.display()));
        };
        let (assignments, ignored) = parse(&text);
        for line in ignored {
            // systemd ignores them too; saying so keeps a typo from being
            // a silent no-op. The line itself may hold a secret.
            tracing::warn!(
                "env_file {}:{line}: not a valid assignment, ignored",
                file.path.display()
            );
        }
        vars.extend(
            assignments
                .into_iter()
                .map(|a| (a.name, OsString::from(a.value))),
        );
    }
    Ok(vars)
}

/// The value of one `env` entry: the text, or what the file or
/// credential holds with one trailing newline removed.
pub(crate) fn value_of(name: &str, value: &EnvValue) -> Result<OsString, String> {
    let (path, what) = match value {
        EnvValue::Text(text) => return Ok(OsString::from(text)),
        EnvValue::File(path) => (path.clone(), format!("env.{name}: file")),
        EnvValue::Credential(credential) => {
            let Some(dir) = std::env::var_os(CREDENTIALS_DIRECTORY) else {
                return Err(format!(
                    "env.{name}: credential {credential:?}: ${CREDENTIALS_DIRECTORY} is not \
                     set (the daemon's unit needs LoadCredential={credential}:…)"
                ));
            };
            (
                Path::new(&dir).join(credential),
                format!("env.{name}: credential"),
            )
        }
    };
    let mut bytes = std::fs::read(&path).map_err(|e| read_error(&what, &path, &e))?;
    if bytes.ends_with(b"\n") {
        bytes.pop();
        if bytes.ends_with(b"\r") {
            bytes.pop();
        }
    }
    if bytes.contains(&0) {
        return Err(format!(
            "{what} {}: holds a NUL byte, which no environment variable can",
            path.display()
        ));
    }
    Ok(OsString::from_vec(bytes))
}

fn read_error(what: &str, path: &Path, e: &io::Error) -> String {
    format!("{what} {}: cannot read: {e}", path.display())
}

/// Parses an env file as systemd's `EnvironmentFile=` does: `NAME=value`
/// lines; `#` or `;` starts a comment line; blanks around the name and the
/// value are dropped; `'…'` keeps everything literally, `"…"` honours
/// `\"`, `\\`, `` \` `` and `\$`; outside quotes a backslash keeps the
/// next character; a backslash before a newline continues the line.
/// Returns the assignments and the lines of those ignored: no `=`, or a
/// name that is not letters, digits and `_` (not starting with a digit),
/// or a value holding a NUL byte.
pub(crate) fn parse(text: &str) -> (Vec<Assignment>, Vec<usize>) {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        PreKey,
        Key,
        PreValue,
        Value,
        ValueEscape,
        Single,
        Double,
        DoubleEscape,
        Comment,
        CommentEscape,
    }
    use State::*;
    let mut out = Vec::new();
    let mut ignored = Vec::new();
    let mut state = PreKey;
    let mut key = String::new();
    let mut value = String::new();
    // Length of `value` before its trailing blanks, when it has some.
    let mut value_end: Option<usize> = None;
    let mut line = 1;
    let mut key_line = 1;
    // Ends the assignment of `key` (its trailing blanks dropped) to
    // `value` (cut at `end`, before its trailing blanks, when given).
    let mut push = |ignored: &mut Vec<usize>,
                    key: &mut String,
                    value: &mut String,
                    end: Option<usize>,
                    at: usize| {
        if let Some(end) = end {
            value.truncate(end);
        }
        let name = key.trim_end();
        if valid_name(name) && !value.contains('\0') {
            out.push(Assignment {
                name: name.to_string(),
                value: std::mem::take(value),
                line: at,
            });
        } else {
            ignored.push(at);
        }
        key.clear();
        value.clear();
    };
    for c in text.chars() {
        let newline = c == '\n' || c == '\r';
        match state {
            PreKey => {
                if c == '#' || c == ';' {
                    state = Comment;
                } else if !c.is_ascii_whitespace() {
                    state = Key;
                    key_line = line;
                    key.push(c);
                }
            }
            Key => {
                if newline {
                    ignored.push(key_line);
                    key.clear();
                    state = PreKey;
                } else if c == '=' {
                    state = PreValue;
                    value_end = None;
                } else {
                    key.push(c);
                }
            }
            PreValue => {
                if newline {
                    push(&mut ignored, &mut key, &mut value, None, key_line);
                    state = PreKey;
                } else if c == '\'' {
                    state = Single;
                } else if c == '"' {
                    state = Double;
                } else if c == '\\' {
                    state = ValueEscape;
                } else if !c.is_ascii_whitespace() {
                    state = Value;
                    value.push(c);
                }
            }
            Value => {
                if newline {
                    push(&mut ignored, &mut key, &mut value, value_end, key_line);
                    state = PreKey;
                } else if c == '\\' {
                    state = ValueEscape;
                    value_end = None;
                } else {
                    if !c.is_ascii_whitespace() {
                        value_end = None;
                    } else if value_end.is_none() {
                        value_end = Some(value.len());
                    }
                    value.push(c);
                }
            }
            ValueEscape => {
                state = Value;
                if !newline {
                    value.push(c);
                }
            }
            Single => {
                if c == '\'' {
                    state = PreValue;
                } else {
                    value.push(c);
                }
            }
            Double => {
                if c == '"' {
                    state = PreValue;
                } else if c == '\\' {
                    state = DoubleEscape;
                } else {
                    value.push(c);
                }
            }
            DoubleEscape => {
                state = Double;
                if matches!(c, '"' | '\\' | '`' | '$') {
                    value.push(c);
                } else if c != '\n' {
                    value.push('\\');
                    value.push(c);
                }
            }
            Comment => {
                if c == '\\' {
                    state = CommentEscape;
                } else if newline {
                    state = PreKey;
                }
            }
            CommentEscape => {
                state = if newline { PreKey } else { Comment };
            }
        }
        if c == '\n' {
            line += 1;
        }
    }
    match state {
        Value => push(&mut ignored, &mut key, &mut value, value_end, key_line),
        PreValue | ValueEscape | Single | Double | DoubleEscape => {
            push(&mut ignored, &mut key, &mut value, None, key_line)
        }
        Key => ignored.push(key_line),
        PreKey | Comment | CommentEscape => {}
    }
    (out, ignored)
}

/// What systemd accepts as a variable name: letters, digits and `_`, not
/// starting with a digit.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(text: &str) -> Vec<(String, String)> {
        parse(text)
            .0
            .into_iter()
            .map(|a| (a.name, a.value))
            .collect()
    }

    fn one(text: &str) -> String {
        let v = vars(text);
        assert_eq!(v.len(), 1, "{text:?} gave {v:?}");
        v[0].1.clone()
    }

    /// Each row: what the file says, the value systemd gives `A`.
    #[test]
    fn values_as_systemd_reads_them() {
        let cases: &[(&str, &str)] = &[
            ("A=plain", "plain"),
            ("A=plain\n", "plain"),
            ("  A  =   spaced out   \n", "spaced out"),
            ("A=", ""),
            ("A=\n", ""),
            ("A='single $HOME \\n \"x\"'", "single $HOME \\n \"x\""),
            ("A=\"double \\\" \\\\ \\$ \\` \\n\"", "double \" \\ $ ` \\n"),
            ("A=\"keeps # and ;\"", "keeps # and ;"),
            ("A=value # not a comment", "value # not a comment"),
            ("A=con\\\ntinued", "continued"),
            ("A=\"multi\nline\"", "multi\nline"),
            ("A=es\\caped\\ ", "escaped "),
            // Quotes count only where the value starts.
            ("A=pre\"quoted part\"post", "pre\"quoted part\"post"),
            ("A='a' 'b'", "ab"),
            ("A=x=y=z", "x=y=z"),
            ("A=crlf\r\n", "crlf"),
            ("A=tab\tinside\t\n", "tab\tinside"),
        ];
        for (text, want) in cases {
            assert_eq!(one(text), *want, "{text:?}");
        }
    }

    #[test]
    fn comments_blank_lines_and_invalid_lines() {
        let text = "# comment\n; also\n\n   \nGOOD=1\nno equals sign\nexport X=1\n\
                    9LIVES=x\nBAD-NAME=x\nLAST=2";
        let (assignments, ignored) = parse(text);
        let names: Vec<_> = assignments.iter().map(|a| (&a.name[..], a.line)).collect();
        assert_eq!(names, [("GOOD", 5), ("LAST", 10)]);
        assert_eq!(ignored, [6, 7, 8, 9]);
        // A key left without `=` at the end of the file is one too.
        assert_eq!(parse("A=1\nDANGLING").1, [2]);
    }

    #[test]
    fn a_later_line_comes_later() {
        assert_eq!(
            vars("A=1\nB=2\nA=3\n"),
            [("A", "1"), ("B", "2"), ("A", "3")].map(|(k, v)| (k.to_string(), v.to_string()))
        );
    }

    #[test]
    fn a_comment_ends_at_its_newline_even_after_a_backslash() {
        assert_eq!(vars("# note \\\nA=1\n"), [("A".into(), "1".into())]);
    }
}
