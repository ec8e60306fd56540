//! The raw layer: one file's TOML tree, with every key checked against the
//! keys `keys` defines and every value against its kind. Spans
//! are kept on everything a later error may point at.
//!
//! It does not judge values (durations, schedules, zones, users…): that is
//! `validate`. The tree is walked by hand rather than derived with serde
//! because serde stops at the first unknown key or bad type of a table,
//! and `cronduct check` must report every problem at once.

use std::ops::Range;

use toml::Spanned;
use toml::de::{DeString, DeTable, DeValue};

use super::diagnostic::{Diagnostic, FileId, suggest};
pub(crate) use super::keys::{
    RawAction, RawApiKey, RawCluster, RawDaemon, RawHttp, RawNotify, RawSettings, RawSmtp,
    RawWebhook, TOP_KEYS,
};
use super::keys::{Table, example, job_key_names};

/// A value and the byte range it came from.
pub(crate) type Sp<T> = Spanned<T>;

/// How one kind of value is read: the raw type it becomes and what a
/// type error calls it. `keys` names a kind for each key.
pub(crate) trait Kind {
    type Raw;
    /// What the value must be, as "expected …" says it.
    const WHAT: &'static str;
    /// The value of `key` (as messages name it), or `None` after
    /// reporting a wrong type.
    fn read(r: &mut Reader<'_>, key: &str, v: &Sp<DeValue<'_>>) -> Option<Self::Raw>;
}

/// The kinds of values keys hold.
pub(crate) mod kind {
    use super::*;

    macro_rules! kinds {
        ($( $(#[$meta:meta])* $name:ident: $raw:ty, $what:literal, |$r:ident, $key:ident, $v:ident| $read:expr; )*) => {$(
            $(#[$meta])*
            pub(crate) struct $name;

            impl Kind for $name {
                type Raw = $raw;
                const WHAT: &'static str = $what;
                fn read($r: &mut Reader<'_>, $key: &str, $v: &Sp<DeValue<'_>>) -> Option<$raw> {
                    $read
                }
            }
        )*};
    }

    kinds! {
        Text: Sp<String>, "a string", |r, key, v| r.string(key, v);
        Flag: Sp<bool>, "true or false", |r, key, v| r.boolean(key, v);
        Integer: Sp<i64>, "a whole number", |r, key, v| r.integer(key, v);
        /// A float, or an integer taken as one (`retry_backoff = 2`).
        Number: Sp<f64>, "a number", |r, key, v| r.number(key, v);
        Duration: Sp<Amount>, "a duration", |r, key, v| r.amount(key, v, Duration::WHAT);
        Size: Sp<Amount>, "a size", |r, key, v| r.amount(key, v, Size::WHAT);
        TextList: Sp<Vec<Sp<String>>>, "an array of strings", |r, key, v| r.string_list(key, v);
        IntegerList: Sp<Vec<Sp<i64>>>, "an array of whole numbers", |r, key, v| r.integer_list(key, v);
        /// A table whose values are all strings (`env`, `headers`).
        TextMap: Vec<(Sp<String>, Sp<String>)>, "a table", |r, key, v| r.string_map(key, v);
        /// `limits`: each value a whole number, a size or "unlimited".
        AmountMap: Vec<(Sp<String>, Sp<Amount>)>, "a table", |r, key, v| r.amount_map(key, v);
        /// Webhook headers: each value a string or `{ file = "/path" }`.
        HeaderMap: Vec<(Sp<String>, Sp<RawHeaderValue>)>, "a table", |r, key, v| r.header_map(key, v);
        /// `env`: each value a string, `{ file = "/path" }` or
        /// `{ credential = "name" }`.
        EnvMap: Vec<(Sp<String>, Sp<RawEnvValue>)>, "a table", |r, key, v| r.env_map(key, v);
        Command: Sp<RawCommand>, "a string or an array of strings", |r, _key, v| r.command(v);
        Http: Sp<RawHttp>, "a table", |r, key, v| r
            .table(key, v)
            .map(|t| Sp::new(v.span(), read_table(r, t, "http.", RawHttp::default(), RawHttp::read, RawHttp::NAMES)));
        Notify: Sp<RawNotify>, "a table", |r, key, v| r
            .table(key, v)
            .map(|t| Sp::new(v.span(), read_table(r, t, "notify.", RawNotify::default(), RawNotify::read, RawNotify::NAMES)));
        Webhook: Sp<RawWebhookForm>, "a URL string or a table", |r, key, v| r.webhook(key, v);
        /// `[[daemon.keys]]`: an array of `{ name, file, role }` tables.
        ApiKeys: Sp<Vec<Sp<RawApiKey>>>, "an array of tables", |r, key, v| r.api_keys(key, v);
    }
}

/// Where in the configuration a table sits, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Scope {
    Top,
    Daemon,
    Smtp,
    Cluster,
    Defaults,
    Job(String),
}

impl Scope {
    /// The table, e.g. "job `backup`" or "[daemon]".
    pub fn name(&self) -> String {
        match self {
            Scope::Top => "the top level".to_string(),
            Scope::Daemon => "[daemon]".to_string(),
            Scope::Smtp => "[smtp]".to_string(),
            Scope::Cluster => "[cluster]".to_string(),
            Scope::Defaults => "[defaults]".to_string(),
            Scope::Job(id) => format!("job `{id}`"),
        }
    }

    /// The table of the key reference this scope is.
    pub fn table(&self) -> Table {
        match self {
            Scope::Top => Table::Top,
            Scope::Daemon => Table::Daemon,
            Scope::Smtp => Table::Smtp,
            Scope::Cluster => Table::Cluster,
            Scope::Defaults => Table::Defaults,
            Scope::Job(_) => Table::Job,
        }
    }

    /// A key of the table, e.g. "job `backup`, key `timeout`".
    pub fn key(&self, key: &str) -> String {
        match self {
            Scope::Top => format!("key `{key}`"),
            _ => format!("{}, key `{key}`", self.name()),
        }
    }
}

/// A duration or size, written either as text (`"90s"`, `"64KiB"`) or as
/// a bare integer (seconds, bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Amount {
    Text(String),
    Number(i64),
}

#[derive(Debug)]
pub(crate) enum RawCommand {
    Shell(String),
    Argv(Vec<Sp<String>>),
}

/// `notify.webhook`: a URL alone, or the table with format and headers.
#[derive(Debug)]
pub(crate) enum RawWebhookForm {
    Url(Sp<String>),
    Table(RawWebhook),
}

/// A webhook header's value: text, or `{ file = "…" }` with the path as
/// written (the file is read only when sending).
#[derive(Debug)]
pub(crate) enum RawHeaderValue {
    Text(String),
    File(Sp<String>),
}

/// The help for a number or flag where text is wanted.
fn quote_it(name: &str, value: &str) -> String {
    format!("values here are text; quote it: {name} = \"{value}\"")
}

/// An `env` value: text, or where to read it at each start.
#[derive(Debug)]
pub(crate) enum RawEnvValue {
    Text(String),
    File(Sp<String>),
    Credential(Sp<String>),
}

/// A job table, or `[defaults]` (which has no action).
#[derive(Debug)]
pub(crate) struct RawJob {
    pub file: FileId,
    pub scope: Scope,
    /// Whether `schedule` was written at all, and where the `command` and
    /// `http` keys are, even with a bad type, so a type error is not also
    /// reported as missing.
    pub has_schedule: bool,
    pub command_key: Option<Range<usize>>,
    pub http_key: Option<Range<usize>>,
    pub action: RawAction,
    pub settings: RawSettings,
}

impl RawJob {
    fn new(file: FileId, scope: Scope) -> Self {
        RawJob {
            file,
            scope,
            has_schedule: false,
            command_key: None,
            http_key: None,
            action: RawAction::default(),
            settings: RawSettings::default(),
        }
    }
}

/// One file's content, every value of the expected type.
/// One entry of `crontabs`: a glob of system crontabs (a string), or a
/// user crontab (a table) and its owner.
#[derive(Debug)]
pub(crate) struct RawCrontab {
    pub path: Sp<String>,
    /// Written as a table: a user crontab, whose lines have no user field.
    pub table: bool,
    pub user: Option<Sp<String>>,
}

#[derive(Debug, Default)]
pub(crate) struct RawFile {
    pub include: Vec<Sp<String>>,
    pub crontabs: Vec<RawCrontab>,
    pub daemon: Option<RawDaemon>,
    /// Where the `daemon` table is in the text: its header and every key
    /// and value in it.
    pub daemon_span: Option<Range<usize>>,
    pub smtp: Option<RawSmtp>,
    pub cluster: Option<RawCluster>,
    pub defaults: Option<RawJob>,
    /// Jobs with their id (the table key) and its span.
    pub jobs: Vec<(Sp<String>, RawJob)>,
}

/// The text a value covers. A `[table]` value's own span is its header
/// only, so its keys and values are added.
fn extent(value: &Sp<DeValue<'_>>) -> Range<usize> {
    let mut range = value.span();
    if let DeValue::Table(table) = value.get_ref() {
        for (k, v) in table {
            range.start = range.start.min(k.span().start);
            range.end = range.end.max(v.span().end);
        }
    }
    range
}

/// Parses `text` and checks keys and types. The main file may hold every
/// top-level key; an include (`included_from` names the main file) only
/// `[jobs.*]`, so that a drop-in can never change the daemon, the mail
/// server or the defaults every other file relies on.
///
/// Returns `None` when the text is not valid TOML: what a broken document
/// would mean is a guess, so its problems are only the syntax errors.
pub(crate) fn read_file(
    file: FileId,
    text: &str,
    included_from: Option<&str>,
    diags: &mut Vec<Diagnostic>,
) -> Option<RawFile> {
    let (doc, errors) = DeTable::parse_recoverable(text);
    if !errors.is_empty() {
        for e in errors {
            let message = format!("invalid TOML: {}", e.message().replace('\n', "; "));
            let d = match e.span() {
                Some(span) => Diagnostic::at(file, span, message),
                None => Diagnostic::whole_file(file, message),
            };
            diags.push(if e.message().starts_with("duplicate key") {
                d.help("a key, and a [table], may appear only once in a file")
            } else {
                d
            });
        }
        return None;
    }
    let mut raw = RawFile::default();
    let mut r = Reader {
        file,
        scope: Scope::Top,
        diags,
    };
    for (key, value) in doc.get_ref() {
        let name: &str = key.get_ref();
        if let (Some(main), "include" | "crontabs" | "daemon" | "smtp" | "cluster" | "defaults") =
            (included_from, name)
        {
            r.diags.push(
                Diagnostic::at(
                    file,
                    key.span(),
                    format!("`{name}` is only allowed in the main file"),
                )
                .help(format!(
                    "an included file holds only [jobs.*] tables; move `{name}` to {main}"
                )),
            );
            continue;
        }
        match name {
            "include" => {
                if let Some(list) = r.string_list("include", value) {
                    raw.include = list.into_inner();
                }
            }
            "crontabs" => raw.crontabs = r.crontabs(value),
            "daemon" => {
                raw.daemon_span = Some(extent(value));
                raw.daemon = r.table("daemon", value).map(|t| {
                    let r = &mut r.with_scope(Scope::Daemon);
                    read_table(
                        r,
                        t,
                        "",
                        RawDaemon::default(),
                        RawDaemon::read,
                        RawDaemon::NAMES,
                    )
                });
            }
            "smtp" => {
                raw.smtp = r.table("smtp", value).map(|t| {
                    let r = &mut r.with_scope(Scope::Smtp);
                    read_table(r, t, "", RawSmtp::default(), RawSmtp::read, RawSmtp::NAMES)
                });
            }
            "cluster" => {
                raw.cluster = r.table("cluster", value).map(|t| {
                    let r = &mut r.with_scope(Scope::Cluster);
                    read_table(
                        r,
                        t,
                        "",
                        RawCluster::default(),
                        RawCluster::read,
                        RawCluster::NAMES,
                    )
                });
            }
            "defaults" => {
                if let Some(t) = r.table("defaults", value) {
                    let mut job = RawJob::new(file, Scope::Defaults);
                    read_job(&mut r.with_scope(Scope::Defaults), t, &mut job);
                    raw.defaults = Some(job);
                }
            }
            "jobs" => {
                let Some(jobs) = r.table("jobs", value) else {
                    continue;
                };
                for (id, body) in jobs {
                    let id = Sp::new(id.span(), id.get_ref().to_string());
                    let scope = Scope::Job(id.get_ref().clone());
                    let mut job_reader = r.with_scope(scope.clone());
                    let Some(t) = body.get_ref().as_table() else {
                        job_reader.diags.push(
                            Diagnostic::at(
                                file,
                                body.span(),
                                format!(
                                    "{}: expected a table of job settings, found {}",
                                    scope.name(),
                                    found(body.get_ref())
                                ),
                            )
                            .help(format!(
                                "write [jobs.{}] followed by `schedule = …` and `command = …` lines",
                                id.get_ref()
                            )),
                        );
                        continue;
                    };
                    let mut job = RawJob::new(file, scope);
                    read_job(&mut job_reader, t, &mut job);
                    raw.jobs.push((id, job));
                }
            }
            _ => r.unknown(key, "", TOP_KEYS),
        }
    }
    Some(raw)
}

/// Reads the keys of a table that holds no tables of its own
/// (`[daemon]`, `[smtp]`, `http`, `notify`) into `raw`; `read` is the
/// table's generated reader, `names` its keys, `prefix` how messages
/// qualify them (`http.`).
fn read_table<T>(
    r: &mut Reader<'_>,
    table: &DeTable<'_>,
    prefix: &str,
    mut raw: T,
    read: fn(&mut T, &mut Reader<'_>, &str, &Sp<DeValue<'_>>) -> bool,
    names: &[&str],
) -> T {
    for (key, v) in table {
        if !read(&mut raw, r, key.get_ref(), v) {
            r.unknown(key, prefix, names);
        }
    }
    raw
}

fn read_job(r: &mut Reader<'_>, table: &DeTable<'_>, job: &mut RawJob) {
    let defaults = job.scope == Scope::Defaults;
    for (key, v) in table {
        let name: &str = key.get_ref();
        match name {
            "command" | "http" if defaults => {
                r.diags.push(
                    Diagnostic::at(
                        r.file,
                        key.span(),
                        format!("[defaults], key `{name}`: the action cannot have a default"),
                    )
                    .help("give each job its own `command` or `http`"),
                );
                continue;
            }
            "schedule" => job.has_schedule = true,
            "command" => job.command_key = Some(key.span()),
            "http" => job.http_key = Some(key.span()),
            _ => {}
        }
        let known = (!defaults && job.action.read(r, name, v)) || job.settings.read(r, name, v);
        if !known {
            let valid = if defaults {
                RawSettings::NAMES.to_vec()
            } else {
                job_key_names()
            };
            r.unknown(key, "", &valid);
        }
    }
}

/// How a value's type is named to the user.
fn found(v: &DeValue<'_>) -> &'static str {
    match v {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "a whole number",
        DeValue::Float(_) => "a decimal number",
        DeValue::Boolean(_) => "true/false",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

/// Type checks for one table; every failure becomes a diagnostic and the
/// value `None`, so reading goes on.
pub(crate) struct Reader<'d> {
    file: FileId,
    scope: Scope,
    diags: &'d mut Vec<Diagnostic>,
}

impl Reader<'_> {
    fn with_scope(&mut self, scope: Scope) -> Reader<'_> {
        Reader {
            file: self.file,
            scope,
            diags: &mut *self.diags,
        }
    }

    fn type_error(&mut self, key: &str, span: Range<usize>, expected: &str, got: &DeValue<'_>) {
        let d = Diagnostic::at(
            self.file,
            span,
            format!(
                "{}: expected {expected}, found {}",
                self.scope.key(key),
                found(got)
            ),
        )
        .help_opt(example(self.scope.table(), key).map(|e| format!("for example: {e}")));
        self.diags.push(d);
    }

    fn unknown(&mut self, key: &Sp<DeString<'_>>, prefix: &str, valid: &[&str]) {
        let name: &str = key.get_ref();
        let what = match self.scope {
            Scope::Top => format!("unknown top-level key `{name}`"),
            _ => format!("{}: unknown key `{prefix}{name}`", self.scope.name()),
        };
        // A job setting written above the first table, or meant for every
        // job, is pointed to where it belongs.
        let job_key = match self.scope {
            Scope::Top => suggest(name, &job_key_names()),
            _ => None,
        };
        let help = match (suggest(name, valid), job_key) {
            (Some(near), _) => format!("did you mean `{prefix}{near}`?"),
            (None, Some(job_key)) => format!(
                "`{job_key}` is a job setting: put it in [defaults] or in a [jobs.ID] table"
            ),
            (None, None) => format!("valid keys here: {}", valid.join(", ")),
        };
        self.diags
            .push(Diagnostic::at(self.file, key.span(), what).help(help));
    }

    fn string(&mut self, key: &str, v: &Sp<DeValue<'_>>) -> Option<Sp<String>> {
        match v.get_ref() {
            DeValue::String(s) => Some(Sp::new(v.span(), s.to_string())),
            other => {
                self.type_error(key, v.span(), "a string", other);
                None
            }
        }
    }

    fn boolean(&mut self, key: &str, v: &Sp<DeValue<'_>>) -> Option<Sp<bool>> {
        match v.get_ref() {
            DeValue::Boolean(b) => Some(Sp::new(v.span(), *b)),
            other => {
                self.type_error(key, v.span(), "true or false", other);
                None
            }
        }
    }

    fn integer(&mut self, key: &str, v: &Sp<DeValue<'_>>) -> Option<Sp<i64>> {
        match v.get_ref() {
            DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
                Ok(n) => Some(Sp::new(v.span(), n)),
                Err(_) => {
                    self.diags.push(Diagnostic::at(
                        self.file,
                        v.span(),
                        format!("{}: number too large", self.scope.key(key)),
                    ));
                    None
                }
            },
            other => {
                self.type_error(key, v.span(), "a whole number", other);
                None
            }
        }
    }

    /// A float, or an integer taken as one (`retry_backoff = 2`).
    fn number(&mut self, key: &str, v: &Sp<DeValue<'_>>) -> Option<Sp<f64>> {
        match v.get_ref() {
            DeValue::Float(f) => match f.as_str().parse::<f64>() {
                Ok(x) => Some(Sp::new(v.span(), x)),
                Err(_) => {
                    self.diags.push(Diagnostic::at(
                        self.file,
                        v.span(),
                        format!("{}: not a number", self.scope.key(key)),
                    ));
                    None
                }
            },
            DeValue::Integer(_) => self
                .integer(key, v)
                .map(|n| Sp::new(n.span(), *n.get_ref() as f64)),
            other => {
                self.type_error(key, v.span(), "a number", other);
                None
            }
        }
    }

    /// A duration or size: text, or a bare integer of seconds or bytes.
    fn amount(&mut self, key: &str, v: &Sp<DeValue<'_>>, what: &str) -> Option<Sp<Amount>> {
        match v.get_ref() {
            DeValue::String(s) => Some(Sp::new(v.span(), Amount::Text(s.to_string()))),
            DeValue::Integer(_) => self
                .integer(key, v)
                .map(|n| Sp::new(n.span(), Amount::Number(*n.get_ref()))),
            other => {
                self.type_error(key, v.span(), what, other);
                None
            }
        }
    }

    fn table<'v, 'i>(&mut self, key: &str, v: &'v Sp<DeValue<'i>>) -> Option<&'v DeTable<'i>> {
        match v.get_ref() {
            DeValue::Table(t) => Some(t),
            other => {
                self.type_error(key, v.span(), "a table", other);
                None
            }
        }
    }

    fn array<'v, 'i>(
        &mut self,
        key: &str,
        v: &'v Sp<DeValue<'i>>,
        expected: &str,
    ) -> Option<&'v [Sp<DeValue<'i>>]> {
        match v.get_ref() {
            DeValue::Array(a) => Some(a.as_ref()),
            other => {
                self.type_error(key, v.span(), expected, other);
                None
            }
        }
    }

    /// `crontabs`: each element a path (glob) string or `{ path, user }`.
    /// A bad element is reported and the rest kept.
    fn crontabs(&mut self, v: &Sp<DeValue<'_>>) -> Vec<RawCrontab> {
        const WHAT: &str = "an array of paths or { path, user } tables";
        let Some(items) = self.array("crontabs", v, WHAT) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in items {
            match item.get_ref() {
                DeValue::String(s) => out.push(RawCrontab {
                    path: Sp::new(item.span(), s.to_string()),
                    table: false,
                    user: None,
                }),
                DeValue::Table(t) => {
                    let (mut path, mut user) = (None, None);
                    for (key, value) in t {
                        let name: &str = key.get_ref();
                        match name {
                            "path" => path = self.string("crontabs.path", value),
                            "user" => user = self.string("crontabs.user", value),
                            other => {
                                let help = match suggest(other, &["path", "user"]) {
                                    Some(near) => format!("did you mean `crontabs.{near}`?"),
                                    None => "an entry's keys are `path` and `user`".to_string(),
                                };
                                self.diags.push(
                                    Diagnostic::at(
                                        self.file,
                                        key.span(),
                                        format!("key `crontabs`: unknown key `crontabs.{other}`"),
                                    )
                                    .help(help),
                                );
                            }
                        }
                    }
                    match path {
                        Some(path) => out.push(RawCrontab {
                            path,
                            table: true,
                            user,
                        }),
                        None => self.diags.push(
                            Diagnostic::at(
                                self.file,
                                item.span(),
                                "key `crontabs`: a table entry needs a `path`",
                            )
                            .help(r#"for example: { path = "/var/spool/cron/crontabs/alice", user = "alice" }"#),
                        ),
                    }
                }
                other => self.type_error("crontabs", item.span(), WHAT, other),
            }
        }
        out
    }

    /// An array of strings. A bad element is reported and the rest kept.
    fn string_list(&mut self, key: &str, v: &Sp<DeValue<'_>>) -> Option<Sp<Vec<Sp<String>>>> {
        let items = self.array(key, v, "an array of strings")?;
        let list = items
            .iter()
            .filter_map(|item| self.string(key, item))
            .collect();
        Some(Sp::new(v.span(), list))
    }

    /// An array of whole numbers. A bad element is reported and the rest
    /// kept.
    fn integer_list(&mut self, key: &str, v: &Sp<DeValue<'_>>) -> Option<Sp<Vec<Sp<i64>>>> {
        let items = self.array(key, v, "an array of whole numbers")?;
        let list = items
            .iter()
            .filter_map(|item| self.integer(key, item))
            .collect();
        Some(Sp::new(v.span(), list))
    }

    /// `notify.webhook`: a URL string, or the table form read as
    /// [`RawWebhook`].
    fn webhook(&mut self, key: &str, v: &Sp<DeValue<'_>>) -> Option<Sp<RawWebhookForm>> {
        let form = match v.get_ref() {
            DeValue::String(s) => RawWebhookForm::Url(Sp::new(v.span(), s.to_string())),
            DeValue::Table(t) => RawWebhookForm::Table(read_table(
                self,
                t,
                "notify.webhook.",
                RawWebhook::default(),
                RawWebhook::read,
                RawWebhook::NAMES,
            )),
            other => {
                self.type_error(key, v.span(), "a URL string or a table", other);
                return None;
            }
        };
        Some(Sp::new(v.span(), form))
    }

    /// `[[daemon.keys]]`: each entry read as a [`RawApiKey`] with the span
    /// of its whole table, so a missing key can point at its entry. A bad
    /// entry is reported and the rest kept.
    fn api_keys(&mut self, key: &str, v: &Sp<DeValue<'_>>) -> Option<Sp<Vec<Sp<RawApiKey>>>> {
        let items = self.array(key, v, "an array of tables")?;
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            if let Some(t) = self.table(key, item) {
                let entry = read_table(
                    self,
                    t,
                    "keys.",
                    RawApiKey::default(),
                    RawApiKey::read,
                    RawApiKey::NAMES,
                );
                out.push(Sp::new(extent(item), entry));
            }
        }
        Some(Sp::new(v.span(), out))
    }

    /// Webhook headers: each value a string or `{ file = "/path" }`. A
    /// bad value is reported and the rest kept.
    fn header_map(
        &mut self,
        key: &str,
        v: &Sp<DeValue<'_>>,
    ) -> Option<Vec<(Sp<String>, Sp<RawHeaderValue>)>> {
        self.value_map(key, v, |r, header, name, value| match value.get_ref() {
            DeValue::String(s) => Some(RawHeaderValue::Text(s.to_string())),
            DeValue::Table(t) => r.header_file(header, value.span(), t),
            other => {
                let d = Diagnostic::at(
                    r.file,
                    value.span(),
                    format!(
                        "{}: expected a string or a file, found {}",
                        r.scope.key(header),
                        found(other)
                    ),
                )
                .help(format!(
                    "{} = \"value\" or {} = {{ file = \"/etc/cronduct/token\" }}",
                    name.get_ref(),
                    name.get_ref()
                ));
                r.diags.push(d);
                None
            }
        })
    }

    /// Reads the table `key` whose every value `read` turns into a `T`
    /// (given the value's full key as messages name it); a value it
    /// refuses (after reporting why) is left out and the rest kept.
    fn value_map<T>(
        &mut self,
        key: &str,
        v: &Sp<DeValue<'_>>,
        mut read: impl FnMut(
            &mut Self,
            &str,
            &Sp<std::borrow::Cow<'_, str>>,
            &Sp<DeValue<'_>>,
        ) -> Option<T>,
    ) -> Option<Vec<(Sp<String>, Sp<T>)>> {
        let table = self.table(key, v)?;
        let mut out = Vec::with_capacity(table.len());
        for (name, value) in table {
            let full = format!("{key}.{}", name.get_ref());
            if let Some(read) = read(self, &full, name, value) {
                let name = Sp::new(name.span(), name.get_ref().to_string());
                out.push((name, Sp::new(value.span(), read)));
            }
        }
        Some(out)
    }

    /// `{ file = "/path" }`, the header value `header` (as messages name
    /// it) that is read from a file.
    fn header_file(
        &mut self,
        header: &str,
        span: Range<usize>,
        table: &DeTable<'_>,
    ) -> Option<RawHeaderValue> {
        let mut file = None;
        let mut bad = false;
        for (k, v) in table {
            if k.get_ref() == "file" {
                file = self.string(&format!("{header}.file"), v);
                bad |= file.is_none();
            } else {
                self.unknown(k, &format!("{header}."), &["file"]);
                bad = true;
            }
        }
        match file {
            Some(path) if !bad => Some(RawHeaderValue::File(path)),
            Some(_) => None,
            None => {
                if !bad {
                    self.diags.push(
                        Diagnostic::at(
                            self.file,
                            span,
                            format!("{}: missing `file`", self.scope.key(header)),
                        )
                        .help("a header read from a file is { file = \"/etc/cronduct/token\" }"),
                    );
                }
                None
            }
        }
    }

    /// `env`: each value a string, `{ file = "/path" }` or
    /// `{ credential = "name" }`. A bad value is reported and the rest
    /// kept.
    fn env_map(
        &mut self,
        key: &str,
        v: &Sp<DeValue<'_>>,
    ) -> Option<Vec<(Sp<String>, Sp<RawEnvValue>)>> {
        self.value_map(key, v, |r, var, name, value| match value.get_ref() {
            DeValue::String(s) => Some(RawEnvValue::Text(s.to_string())),
            DeValue::Table(t) => r.env_source(var, value.span(), t),
            other => {
                let d = Diagnostic::at(
                    r.file,
                    value.span(),
                    format!(
                        "{}: expected a string, a file or a credential, found {}",
                        r.scope.key(var),
                        found(other)
                    ),
                )
                .help(match other {
                    DeValue::Integer(i) => quote_it(name.get_ref(), &i.to_string()),
                    DeValue::Float(f) => quote_it(name.get_ref(), f.as_str()),
                    DeValue::Boolean(b) => quote_it(name.get_ref(), &b.to_string()),
                    _ => format!(
                        "{n} = \"value\", {n} = {{ file = \"/etc/cronduct/token\" }} or \
                             {n} = {{ credential = \"token\" }}",
                        n = name.get_ref(),
                    ),
                });
                r.diags.push(d);
                None
            }
        })
    }

    /// `{ file = "/path" }` or `{ credential = "name" }`: exactly one.
    fn env_source(
        &mut self,
        var: &str,
        span: Range<usize>,
        table: &DeTable<'_>,
    ) -> Option<RawEnvValue> {
        const KEYS: &[&str] = &["file", "credential"];
        let mut found = Vec::new();
        let mut bad = false;
        for (k, v) in table {
            match k.get_ref().as_ref() {
                "file" => match self.string(&format!("{var}.file"), v) {
                    Some(path) => found.push(RawEnvValue::File(path)),
                    None => bad = true,
                },
                "credential" => match self.string(&format!("{var}.credential"), v) {
                    Some(name) => found.push(RawEnvValue::Credential(name)),
                    None => bad = true,
                },
                _ => {
                    self.unknown(k, &format!("{var}."), KEYS);
                    bad = true;
                }
            }
        }
        if bad {
            return None;
        }
        if found.len() != 1 {
            self.diags.push(
                Diagnostic::at(
                    self.file,
                    span,
                    format!(
                        "{}: write one of `file` and `credential`",
                        self.scope.key(var)
                    ),
                )
                .help("a value read at each start is { file = \"/etc/cronduct/token\" } or { credential = \"token\" }"),
            );
            return None;
        }
        found.pop()
    }

    /// A table whose values are whole numbers or text (`limits`); what
    /// the names and the texts may be is the validator's business.
    fn amount_map(
        &mut self,
        key: &str,
        v: &Sp<DeValue<'_>>,
    ) -> Option<Vec<(Sp<String>, Sp<Amount>)>> {
        self.value_map(key, v, |r, full, _, value| {
            r.amount(full, value, "a whole number or a string")
                .map(Sp::into_inner)
        })
    }

    /// A table whose values are all strings (`env`, `headers`).
    fn string_map(
        &mut self,
        key: &str,
        v: &Sp<DeValue<'_>>,
    ) -> Option<Vec<(Sp<String>, Sp<String>)>> {
        let table = self.table(key, v)?;
        let mut out = Vec::with_capacity(table.len());
        for (name, value) in table {
            let name = Sp::new(name.span(), name.get_ref().to_string());
            match value.get_ref() {
                DeValue::String(s) => out.push((name, Sp::new(value.span(), s.to_string()))),
                other => {
                    let d = Diagnostic::at(
                        self.file,
                        value.span(),
                        format!(
                            "{}: expected a string, found {}",
                            self.scope.key(&format!("{key}.{}", name.get_ref())),
                            found(other)
                        ),
                    )
                    .help(quote_it(
                        name.get_ref(),
                        &match other {
                            DeValue::Integer(i) => i.to_string(),
                            DeValue::Float(f) => f.as_str().to_string(),
                            DeValue::Boolean(b) => b.to_string(),
                            _ => "…".to_string(),
                        },
                    ));
                    self.diags.push(d);
                }
            }
        }
        Some(out)
    }

    fn command(&mut self, v: &Sp<DeValue<'_>>) -> Option<Sp<RawCommand>> {
        match v.get_ref() {
            DeValue::String(s) => Some(Sp::new(v.span(), RawCommand::Shell(s.to_string()))),
            DeValue::Array(items) => {
                let argv = items
                    .iter()
                    .filter_map(|item| self.string("command", item))
                    .collect();
                Some(Sp::new(v.span(), RawCommand::Argv(argv)))
            }
            other => {
                self.type_error(
                    "command",
                    v.span(),
                    "a string or an array of strings",
                    other,
                );
                None
            }
        }
    }
}
