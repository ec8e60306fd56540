//! The configuration file: TOML text → raw tables with spans (`raw`) → the
//! validated [`model::Config`] (`validate`).
//!
//! Validation collects every error before reporting; each names the file,
//! line and column, the job and the key, shows the line with a caret under
//! the value, and says what would be valid (`diagnostic`). This module
//! reads files and follows includes; it never starts anything.

mod diagnostic;
pub mod keys;
mod locate;
pub mod machine;
pub mod model;
mod raw;
mod validate;

pub use machine::Machine;
pub use model::*;
pub(crate) use validate::valid_id as valid_job_id;

use std::path::{Path, PathBuf};

use diagnostic::{Diagnostic, FileId, HELP_LIMIT, MESSAGE_LIMIT, Source, clip};
use raw::{RawFile, Sp};

/// Every problem found in a configuration: each as data
/// ([`ConfigError`]) and rendered for people.
///
/// `Display` prints each problem (blank line between them) and then a
/// summary line: `error: 3 problems in /etc/cronduct/jobs.toml; nothing
/// was changed`. There is no trailing newline.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{rendered}")]
pub struct ConfigErrors {
    /// One entry per problem, in file and position order.
    pub items: Vec<ConfigError>,
    /// `items[i]` rendered with its location (several lines: message,
    /// `--> file:line:col`, source line, caret, help).
    pub errors: Vec<String>,
    rendered: String,
}

/// How many problems are reported of a configuration: each is a few lines
/// for a person to read, and a generated file can hold millions (a
/// one-line table of a million empty jobs), which would make `check`'s
/// output, `/health` and the log line that many times larger.
pub const MAX_PROBLEMS: usize = 100;

/// One problem in a configuration, as the API reports it (documented in
/// cronduct.toml(5), ADMIN API). Rendered for people by `check`, logged
/// and answered with the caret under the value.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ConfigError {
    /// The file, as `check` names it.
    pub file: String,
    /// 1-based line and column (in characters) of the value or key at
    /// fault; `None` for a problem with the whole file.
    pub line: Option<usize>,
    pub col: Option<usize>,
    /// The job whose table holds the problem.
    pub job: Option<String>,
    /// The key at fault: its dotted path in the job table (`timeout`,
    /// `http.url`), or from the top of the file outside jobs
    /// (`daemon.listen`, `include`).
    pub key: Option<String>,
    /// The first line of the rendered error, after `error: `.
    pub message: String,
    /// What would be valid.
    pub help: Option<String>,
}

impl ConfigErrors {
    /// The problems found in the config whose main file is `main`, each
    /// with its rendering; adds the summary line.
    ///
    /// Only the first [`MAX_PROBLEMS`] are kept; the summary then says how
    /// many there were in all.
    pub fn new(main: &str, problems: Vec<(ConfigError, String)>) -> Self {
        let total = problems.len();
        Self::of(main, problems, total)
    }

    /// [`ConfigErrors::new`] for the first of `total` problems.
    fn of(main: &str, mut problems: Vec<(ConfigError, String)>, total: usize) -> Self {
        problems.truncate(MAX_PROBLEMS);
        let (items, errors): (Vec<_>, Vec<_>) = problems.into_iter().unzip();
        let n = total.max(errors.len());
        let shown = if n > errors.len() {
            format!(" (the first {} are shown)", errors.len())
        } else {
            String::new()
        };
        let summary = format!(
            "error: {n} problem{} in {main}{shown}; nothing was changed",
            if n == 1 { "" } else { "s" }
        );
        let mut rendered = errors.join("\n\n");
        rendered.push_str("\n\n");
        rendered.push_str(&summary);
        ConfigErrors {
            items,
            errors,
            rendered,
        }
    }

    /// One problem with no place in a file, like a loader that could not
    /// finish: `message` is what follows `error: `.
    pub fn whole_file(main: &str, message: String) -> Self {
        let item = ConfigError {
            file: main.to_string(),
            line: None,
            col: None,
            job: None,
            key: None,
            message: clip(&message, MESSAGE_LIMIT).into_owned(),
            help: None,
        };
        let rendered = format!("error: {}", item.message);
        ConfigErrors::new(main, vec![(item, rendered)])
    }
}

/// `message` at byte range `span` of file `display` holding `text`,
/// rendered as every configuration error is: `error: …`, `--> file:line:col`,
/// the line with a caret under the span, and the help. For problems that
/// are not the config file's own, like `cronduct import`'s.
pub fn render_problem(
    display: &str,
    text: &str,
    span: std::ops::Range<usize>,
    message: &str,
    help: Option<&str>,
) -> String {
    let source = Source::new(display.to_string(), text.to_string());
    Diagnostic::at(FileId(0), span, message)
        .help_opt(help.map(str::to_string))
        .render(&source)
}

/// Reads, parses and validates the configuration at `path` and its includes.
///
/// `include` globs are relative to the folder of the main file (or
/// absolute) and are expanded in name order. A glob that matches nothing
/// is fine, like an empty `/etc/cron.d`. Matches that start with a dot
/// (editor lock and backup files) and directories are skipped, and so is
/// the main file itself, so `include = ["*.toml"]` next to `jobs.toml`
/// works. An included file may only hold `[jobs.*]` tables; job ids are
/// unique across the main file and every include.
///
/// Every relative path in a file resolves against that file's folder. On
/// success `Config.files` lists the main file and every include read, and
/// `Config.include_dirs` the folders whose changes may add or remove an
/// include, both absolute, for the file watcher.
///
/// Blocking: it reads files and the account database (for `user` and
/// `group`), so async callers should run it on a blocking thread. It
/// changes nothing; on error, the caller keeps whatever it had.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    load_on(path, &Machine::this())
}

/// [`load`], judged against `machine` rather than the one this process
/// runs on: its accounts, host name, time zone and whether it is root.
pub fn load_on(path: &Path, machine: &Machine) -> Result<Config, ConfigErrors> {
    load_replacing(path, machine, None)
}

/// [`load`] as it would be with the include `file` holding `text` instead
/// of what it holds now (`None`: without `file`), whether `file` exists
/// or not: how the admin API checks a managed job file before writing it.
pub fn load_with(path: &Path, file: &Path, text: Option<String>) -> Result<Config, ConfigErrors> {
    load_replacing(path, &Machine::this(), Some((file.to_path_buf(), text)))
}

fn load_replacing(
    path: &Path,
    machine: &Machine,
    replace: Option<(PathBuf, Option<String>)>,
) -> Result<Config, ConfigErrors> {
    let mut loader = Loader {
        replace,
        ..Loader::default()
    };
    let result = loader.load(path, machine);
    if loader.diags.is_empty() {
        if let Some(config) = result {
            return Ok(config);
        }
    }
    Err(loader.errors(path))
}

/// Reads only what a client command needs to reach the daemon: the main
/// file's `[daemon]` table, resolved exactly as [`load`] resolves it.
///
/// Problems elsewhere in the file (a job with a typo, an include that does
/// not validate) are not this function's business: the running daemon
/// keeps its previous jobs when it refuses such a file, and `cronduct
/// status` or `cronduct reload` must still reach it to say so. Only a file
/// that cannot be read, is not valid TOML, or whose `[daemon]` values are
/// invalid is an error. Blocking, like [`load`].
pub fn load_daemon_settings(path: &Path) -> Result<DaemonSettings, ConfigErrors> {
    let mut loader = Loader::default();
    let result = loader.daemon_settings(path, &Machine::this());
    if loader.diags.is_empty() {
        if let Some(settings) = result {
            return Ok(settings);
        }
    }
    Err(loader.errors(path))
}

impl Loader {
    /// Every diagnostic recorded, as items and rendered, in file and
    /// position order.
    fn errors(mut self, path: &Path) -> ConfigErrors {
        let display = path.display().to_string();
        let mut diags = std::mem::take(&mut self.diags);
        diags.sort_by_key(|d| (d.file, d.span.as_ref().map_or(0, |s| s.start)));
        // Each file with problems is parsed once more to find the job and
        // the key of each: only on this path, so a valid file costs
        // nothing for it.
        let mut keys: Vec<Option<locate::KeyIndex>> = Vec::new();
        keys.resize_with(self.sources.len(), || None);
        let total = diags.len();
        let problems = diags
            .iter()
            .take(MAX_PROBLEMS)
            .map(|d| match self.sources.get(d.file.0) {
                Some(source) => {
                    let index =
                        keys[d.file.0].get_or_insert_with(|| locate::KeyIndex::new(&source.text));
                    (item(d, source, index), d.render(source))
                }
                None => {
                    let item = ConfigError {
                        file: display.clone(),
                        line: None,
                        col: None,
                        job: None,
                        key: d.key.map(str::to_string),
                        message: clip(&d.message, MESSAGE_LIMIT).into_owned(),
                        help: d.help.as_deref().map(|h| clip(h, HELP_LIMIT).into_owned()),
                    };
                    let rendered = format!("error: {}", item.message);
                    (item, rendered)
                }
            })
            .collect();
        ConfigErrors::of(&display, problems, total)
    }
}

/// The item of diagnostic `d` in `source`, its job and key found from its
/// span in `index`.
fn item(d: &Diagnostic, source: &Source, index: &locate::KeyIndex) -> ConfigError {
    let position = d.span.as_ref().map(|s| source.position(s.start));
    let (job, key) = match &d.span {
        Some(span) => index.find(span.start),
        None => (None, None),
    };
    ConfigError {
        file: source.display.clone(),
        line: position.map(|(line, _)| line + 1),
        col: position.map(|(_, col)| col + 1),
        job: job.map(|job| clip(&job, MESSAGE_LIMIT).into_owned()),
        key: d
            .key
            .map(str::to_string)
            .or(key)
            .map(|key| clip(&key, MESSAGE_LIMIT).into_owned()),
        message: clip(&d.message, MESSAGE_LIMIT).into_owned(),
        help: d.help.as_deref().map(|h| clip(h, HELP_LIMIT).into_owned()),
    }
}

/// The files read so far, indexed by [`FileId`], and the problems found.
#[derive(Default)]
struct Loader {
    sources: Vec<Source>,
    /// Absolute path of each file.
    paths: Vec<PathBuf>,
    /// Absolute folder of each file: where its relative paths point.
    dirs: Vec<PathBuf>,
    diags: Vec<Diagnostic>,
    /// An include read from memory instead of its file (see [`load_with`]).
    replace: Option<(PathBuf, Option<String>)>,
}

impl Loader {
    fn add(&mut self, display: String, absolute: PathBuf, text: String) -> FileId {
        let id = FileId(self.sources.len());
        self.sources.push(Source::new(display, text));
        self.dirs.push(
            absolute
                .parent()
                .map_or_else(|| PathBuf::from("/"), Path::to_path_buf),
        );
        self.paths.push(absolute);
        id
    }

    /// Reads the main file into source 0; its absolute path and id.
    /// `None` when it cannot be read (recorded in `diags`).
    fn read_main(&mut self, path: &Path) -> Option<(PathBuf, FileId)> {
        let display = path.display().to_string();
        let absolute = match std::path::absolute(path) {
            Ok(p) => p,
            Err(e) => {
                self.whole_file_error(&display, format!("cannot read the configuration: {e}"));
                return None;
            }
        };
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) => {
                self.whole_file_error(&display, format!("cannot read the configuration: {e}"));
                return None;
            }
        };
        let main_id = self.add(display, absolute.clone(), text);
        Some((absolute, main_id))
    }

    /// The `[daemon]` settings alone; problems in the rest of the file
    /// are dropped, TOML syntax errors are kept (a broken document has no
    /// trustworthy `[daemon]` table), and so are problems inside `[daemon]`
    /// found while reading it (`listen = 9780`, a number): the client
    /// would otherwise go quietly to the default address.
    fn daemon_settings(&mut self, path: &Path, machine: &Machine) -> Option<DaemonSettings> {
        let (_, main_id) = self.read_main(path)?;
        let mut found = Vec::new();
        let Some(main) = raw::read_file(main_id, &self.sources[0].text, None, &mut found) else {
            self.diags = found;
            return None;
        };
        if let Some(table) = &main.daemon_span {
            self.diags.extend(found.into_iter().filter(|d| {
                d.span
                    .as_ref()
                    .is_some_and(|s| table.start <= s.start && s.end <= table.end)
            }));
        }
        validate::daemon_settings(&main, &self.dirs, machine, &mut self.diags)
    }

    /// `None` when there were problems (recorded in `diags`).
    fn load(&mut self, path: &Path, machine: &Machine) -> Option<Config> {
        let (absolute, main_id) = self.read_main(path)?;
        let main = raw::read_file(main_id, &self.sources[0].text, None, &mut self.diags)?;
        let mut globs = main.include.clone();
        // `managed_dir` is included without being listed, so the API's
        // files cannot be left out by an edit of `include`.
        if let Some(dir) = main.daemon.as_ref().and_then(|d| d.managed_dir.as_ref()) {
            let written = dir.get_ref().trim_end_matches('/');
            globs.push(Sp::new(
                dir.span(),
                format!("{}/*.toml", glob::Pattern::escape(written)),
            ));
        }
        let (includes, include_dirs) = self.includes(path, &globs);
        let (crontabs, crontab_dirs, crontab_paths) = self.crontabs(path, &main.crontabs);
        let validated = validate::validate(
            &main,
            validate::Read {
                includes: &includes,
                crontabs: &crontabs,
            },
            &self.sources,
            &self.dirs,
            &self.paths,
            machine,
            &mut self.diags,
        );
        if !self.diags.is_empty() {
            return None;
        }
        Some(Config {
            path: absolute,
            files: {
                let mut files = self.paths.clone();
                files.extend(
                    crontab_paths
                        .into_iter()
                        .filter(|p| !self.paths.contains(p)),
                );
                files
            },
            include_dirs,
            crontab_dirs,
            daemon: validated.daemon?,
            smtp: validated.smtp,
            cluster: validated.cluster,
            // Shared with the scheduler's timetable, so each job is one
            // copy in memory.
            jobs: validated
                .jobs
                .into_iter()
                .map(|(id, job)| (id, std::sync::Arc::new(job)))
                .collect(),
        })
    }

    /// A problem with no place in a file to point at: the main file could
    /// not be read. It is recorded as a source of its own with no text.
    fn whole_file_error(&mut self, display: &str, message: String) {
        let id = self.add(display.to_string(), PathBuf::from(display), String::new());
        self.diags.push(Diagnostic::whole_file(id, message));
    }

    /// Reads every file the main file's `include` globs match. Returns the
    /// raw files that parsed and the folders to watch.
    fn includes(&mut self, main: &Path, globs: &[Sp<String>]) -> (Vec<RawFile>, Vec<PathBuf>) {
        let main_display = self.sources[0].display.clone();
        let mut files = Vec::new();
        let mut dirs: Vec<PathBuf> = Vec::new();
        let mut seen = vec![canonical(&self.paths[0])];
        let replace = self.replace.take();
        let replaced = replace.as_ref().map(|(file, _)| canonical(file));
        for pattern in globs {
            for (found, display) in self.glob(main, "include", pattern, &mut dirs, &mut seen) {
                if replaced.as_ref() == Some(&canonical(&found)) {
                    continue;
                }
                let Some(id) = self.read_matched(pattern, "include", found, display) else {
                    continue;
                };
                if let Some(raw) = raw::read_file(
                    id,
                    &self.sources[id.0].text,
                    Some(&main_display),
                    &mut self.diags,
                ) {
                    files.push(raw);
                }
            }
        }
        if let Some((file, Some(text))) = replace {
            let absolute = std::path::absolute(&file).unwrap_or(file);
            let id = self.add(absolute.display().to_string(), absolute, text);
            if let Some(raw) = raw::read_file(
                id,
                &self.sources[id.0].text,
                Some(&main_display),
                &mut self.diags,
            ) {
                files.push(raw);
            }
        }
        (files, dirs)
    }

    /// Reads every crontab the main file's `crontabs` entries name, each
    /// as a source of its own. A glob's matches follow Debian's rule for
    /// `/etc/cron.d` (a name of letters, digits, `_` and `-` only); a
    /// path without wildcards is read whatever its name. Returns the files
    /// read, the folders of the globs to watch, and the paths written
    /// without wildcards, to watch whether they exist yet or not (watching
    /// their whole folder, `/etc` for `/etc/crontab`, would reload for
    /// every file changed there).
    fn crontabs(
        &mut self,
        main: &Path,
        entries: &[raw::RawCrontab],
    ) -> (Vec<validate::CrontabFile>, Vec<PathBuf>, Vec<PathBuf>) {
        let mut files = Vec::new();
        let mut dirs: Vec<PathBuf> = Vec::new();
        let mut literal = Vec::new();
        let mut seen = vec![canonical(&self.paths[0])];
        for entry in entries {
            let pattern = &entry.path;
            let wildcard = pattern.get_ref().contains(['*', '?', '[']);
            let mut literal_dir = Vec::new();
            let watch = if wildcard {
                &mut dirs
            } else {
                &mut literal_dir
            };
            let matched = self.glob(main, "crontabs", pattern, watch, &mut seen);
            if !wildcard {
                literal.push(self.dirs[0].join(pattern.get_ref()));
            }
            for (found, display) in matched {
                let name = found.file_name().map(|n| n.to_string_lossy().into_owned());
                if wildcard && !name.as_deref().is_some_and(crate::crontab::cron_d_name_ok) {
                    continue;
                }
                let Some(id) = self.read_matched(pattern, "crontabs", found, display) else {
                    continue;
                };
                files.push(validate::CrontabFile {
                    file: id,
                    stem: name.unwrap_or_else(|| "crontab".to_string()),
                    format: if entry.table {
                        crate::crontab::Format::User
                    } else {
                        crate::crontab::Format::System
                    },
                    user: entry.user.clone(),
                });
            }
        }
        (files, dirs, literal)
    }

    /// Reads a file a pattern of `key` matched; `None` after recording why
    /// it cannot be read.
    fn read_matched(
        &mut self,
        pattern: &Sp<String>,
        key: &str,
        found: PathBuf,
        display: String,
    ) -> Option<FileId> {
        match std::fs::read_to_string(&found) {
            Ok(text) => Some(self.add(display, found, text)),
            Err(e) => {
                self.diags.push(Diagnostic::at(
                    FileId(0),
                    pattern.span(),
                    format!("key `{key}`: cannot read {display}: {e}"),
                ));
                None
            }
        }
    }

    /// The files glob `pattern` of key `key` matches, in name order, with
    /// how messages name them; its folder is added to `dirs`. Matches that
    /// start with a dot, directories, and files already in `seen` (by
    /// canonical path, so a pattern that reaches the main file or one file
    /// twice through `..` or a symlink reads it once) are skipped.
    fn glob(
        &mut self,
        main: &Path,
        key: &str,
        pattern: &Sp<String>,
        dirs: &mut Vec<PathBuf>,
        seen: &mut Vec<PathBuf>,
    ) -> Vec<(PathBuf, String)> {
        let main_display_dir = main.parent().unwrap_or(Path::new(""));
        let main_dir = self.dirs[0].clone();
        let options = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: true,
        };
        let written = pattern.get_ref();
        let absolute = if Path::new(written).is_absolute() {
            written.clone()
        } else {
            let Some(dir) = main_dir.to_str() else {
                self.diags.push(Diagnostic::at(
                    FileId(0),
                    pattern.span(),
                    format!(
                        "key `{key}`: the folder {} is not valid UTF-8, so relative \
                         patterns cannot be used",
                        main_dir.display()
                    ),
                ));
                return Vec::new();
            };
            format!("{}/{written}", glob::Pattern::escape(dir))
        };
        let dir = static_prefix(&main_dir, written);
        if !dirs.contains(&dir) {
            dirs.push(dir);
        }
        let matches = match glob::glob_with(&absolute, options) {
            Ok(m) => m,
            Err(e) => {
                let example = match key {
                    "include" => "\"jobs.d/*.toml\"",
                    _ => "\"/etc/cron.d/*\"",
                };
                self.diags.push(
                    Diagnostic::at(
                        FileId(0),
                        pattern.span(),
                        format!("key `{key}`: invalid pattern: {e}"),
                    )
                    .help(format!("a file name pattern like {example}")),
                );
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for entry in matches {
            let found = match entry {
                Ok(p) => p,
                Err(e) => {
                    self.diags.push(Diagnostic::at(
                        FileId(0),
                        pattern.span(),
                        format!(
                            "key `{key}`: cannot read {}: {}",
                            e.path().display(),
                            e.error()
                        ),
                    ));
                    continue;
                }
            };
            let found_canonical = canonical(&found);
            if found.is_dir() || seen.contains(&found_canonical) {
                continue;
            }
            seen.push(found_canonical);
            let display = match found.strip_prefix(&main_dir) {
                Ok(rel) if !Path::new(written).is_absolute() => {
                    main_display_dir.join(rel).display().to_string()
                }
                _ => found.display().to_string(),
            };
            out.push((found, display));
        }
        out
    }
}

/// `p` with symlinks and `..` resolved, or as it is when that fails.
fn canonical(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

/// The deepest folder of an include pattern that has no wildcard in it:
/// where a new matching file would appear. `jobs.d/*.toml` → `<dir>/jobs.d`.
fn static_prefix(base: &Path, pattern: &str) -> PathBuf {
    let mut dir = base.to_path_buf();
    let components: Vec<&str> = pattern.split('/').collect();
    if pattern.starts_with('/') {
        dir = PathBuf::from("/");
    }
    for (i, part) in components.iter().enumerate() {
        let last = i + 1 == components.len();
        if last || part.contains(['*', '?', '[']) {
            break;
        }
        if !part.is_empty() {
            dir.push(part);
        }
    }
    dir
}

#[cfg(test)]
mod tests;
