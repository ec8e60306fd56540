//! The client commands (`jobs`, `status`, `trigger`, `pause`, `resume`,
//! `cancel`, `runs`, `reload`): each is one call to the daemon's admin API,
//! printed as a table for people or, with `--json`, as the API's JSON.
//!
//! Where the daemon is: `--url`, else `http://<[daemon].listen>` from the
//! config (a wildcard listen address is reached through loopback). The
//! key: `CRONDUCT_ADMIN_KEY`, else what [`crate::api::read_key`] finds. The
//! config is only read when one of these needs it, so `--url` plus the
//! variable work without any config file, and only its `[daemon]` table
//! is read, so a mistake in a job does not cut the client off from the
//! daemon that refused it.
//!
//! Exit status: 0 ok; 1 when the daemon cannot be reached, answers with an
//! error (its `error` message is printed), or a `trigger --wait` run ends
//! in anything but success.

use std::fmt::Write as _;
use std::process::ExitCode;
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;

use super::{ClientArgs, JobArgs, RunsArgs, TriggerArgs};
use crate::api::types::{
    Cancelled, ErrorBody, JobList, JobView, PauseState, RunList, StatusReport, TriggerAccepted,
};
use crate::clock::{Clock, SystemClock};
use crate::daemon::control::ReloadDiff;
use crate::record::{FinishRecord, Status};

/// Longer than the server's own 30 s deadline, so its 503 arrives first.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

pub fn jobs(args: &ClientArgs) -> anyhow::Result<ExitCode> {
    let api = Api::connect(args)?;
    let reply = api.call(Method::GET, &["api", "v1", "jobs"], &[], Wait::Bounded)?;
    if args.json {
        return reply.print_json();
    }
    let list: JobList = reply.parse()?;
    print!("{}", jobs_table(&list.jobs, SystemClock.now()));
    Ok(ExitCode::SUCCESS)
}

pub fn status(args: &ClientArgs) -> anyhow::Result<ExitCode> {
    let api = Api::connect(args)?;
    let reply = api.call(Method::GET, &["api", "v1", "status"], &[], Wait::Bounded)?;
    if args.json {
        return reply.print_json();
    }
    let report: StatusReport = reply.parse()?;
    print!("{}", status_text(&report, SystemClock.now()));
    Ok(ExitCode::SUCCESS)
}

pub fn reload(args: &ClientArgs) -> anyhow::Result<ExitCode> {
    let api = Api::connect(args)?;
    let reply = api.call(Method::POST, &["api", "v1", "reload"], &[], Wait::Bounded)?;
    if args.json {
        return reply.print_json();
    }
    let diff: ReloadDiff = reply.parse()?;
    println!("{}", reload_text(&diff));
    Ok(ExitCode::SUCCESS)
}

pub fn trigger(args: &TriggerArgs) -> anyhow::Result<ExitCode> {
    check_job_id(&args.job)?;
    let api = Api::connect(&args.client)?;
    let path = ["api", "v1", "jobs", args.job.as_str(), "run"];
    if !args.wait {
        let reply = api.call(Method::POST, &path, &[], Wait::Bounded)?;
        if args.client.json {
            return reply.print_json();
        }
        let t: TriggerAccepted = reply.parse()?;
        println!("started {} run {}", t.job, t.run_id);
        return Ok(ExitCode::SUCCESS);
    }
    let reply = api.call(
        Method::POST,
        &path,
        &[("wait", "true".to_string())],
        Wait::Unbounded,
    )?;
    let record: FinishRecord = reply.parse()?;
    if args.client.json {
        reply.print_json()?;
    } else {
        print!("{}", finish_text(&record));
    }
    Ok(if record.status == Status::Success {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub fn pause(args: &JobArgs, paused: bool) -> anyhow::Result<ExitCode> {
    check_job_id(&args.job)?;
    let api = Api::connect(&args.client)?;
    let verb = if paused { "pause" } else { "resume" };
    let reply = api.call(
        Method::POST,
        &["api", "v1", "jobs", args.job.as_str(), verb],
        &[],
        Wait::Bounded,
    )?;
    if args.client.json {
        return reply.print_json();
    }
    let p: PauseState = reply.parse()?;
    println!("{} {}", if p.paused { "paused" } else { "resumed" }, p.job);
    Ok(ExitCode::SUCCESS)
}

pub fn cancel(args: &JobArgs) -> anyhow::Result<ExitCode> {
    check_job_id(&args.job)?;
    let api = Api::connect(&args.client)?;
    let reply = api.call(
        Method::POST,
        &["api", "v1", "jobs", args.job.as_str(), "cancel"],
        &[],
        Wait::Bounded,
    )?;
    if args.client.json {
        return reply.print_json();
    }
    let c: Cancelled = reply.parse()?;
    println!(
        "cancelling {} run{} of {}: {}",
        c.cancelled.len(),
        if c.cancelled.len() == 1 { "" } else { "s" },
        args.job,
        c.cancelled.join(", ")
    );
    Ok(ExitCode::SUCCESS)
}

pub fn runs(args: &RunsArgs) -> anyhow::Result<ExitCode> {
    let api = Api::connect(&args.client)?;
    let mut query = vec![("limit", args.limit.to_string())];
    if let Some(s) = &args.status {
        query.push(("status", s.clone()));
    }
    let reply = match &args.job {
        Some(job) => {
            check_job_id(job)?;
            api.call(
                Method::GET,
                &["api", "v1", "jobs", job.as_str(), "runs"],
                &query,
                Wait::Bounded,
            )?
        }
        None => api.call(Method::GET, &["api", "v1", "runs"], &query, Wait::Bounded)?,
    };
    if args.client.json {
        return reply.print_json();
    }
    let list: RunList = reply.parse()?;
    if list.runs.is_empty() {
        println!("no runs");
    } else {
        print!("{}", runs_table(&list.runs));
    }
    Ok(ExitCode::SUCCESS)
}

/// Refuses ids that could not name a job (SPEC §2) before they become
/// part of a URL, where `..` or `/` would address another endpoint.
fn check_job_id(id: &str) -> anyhow::Result<()> {
    if crate::config::valid_job_id(id) {
        Ok(())
    } else {
        bail!(
            "invalid job id {id:?}: ids are a letter or digit followed by up to 63 letters, digits, '_', '.' or '-'"
        )
    }
}

/// How long a call may take.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Wait {
    Bounded,
    /// `trigger --wait`: as long as the job runs.
    Unbounded,
}

/// A connection to the daemon's API.
struct Api {
    base: Url,
    key: String,
    http: reqwest::Client,
    rt: tokio::runtime::Runtime,
}

impl Api {
    fn connect(args: &ClientArgs) -> anyhow::Result<Api> {
        // Read at most once, and only if --url or the key variable is missing.
        // Only `[daemon]` is read: a typo in a job must not stop `status` or
        // `reload` from reaching the daemon that refused it.
        let mut daemon: Option<crate::config::DaemonSettings> = None;
        let mut settings = || -> anyhow::Result<crate::config::DaemonSettings> {
            if let Some(d) = &daemon {
                return Ok(d.clone());
            }
            let path = &args.config.config;
            let loaded = crate::config::load_daemon_settings(path).with_context(|| {
                format!(
                    "cannot read {} to find the daemon (or give --url and set {})",
                    path.display(),
                    crate::api::KEY_ENV
                )
            })?;
            daemon = Some(loaded.clone());
            Ok(loaded)
        };
        let base = match &args.url {
            Some(u) => parse_base_url(u)?,
            None => listen_url(settings()?.listen)?,
        };
        let key = match crate::api::key::env_key()? {
            Some(k) => k,
            None => crate::api::read_key(&settings()?)?,
        };
        // reqwest is built without a default TLS provider; plain http needs
        // none, but an https --url must not panic.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .no_proxy()
            .user_agent(concat!("cronduct/", env!("CARGO_PKG_VERSION")));
        // Plain http (the local daemon) needs no trust store: without this
        // the build fails where ca-certificates is not installed.
        if base.scheme() == "http" {
            http = http.tls_certs_only(std::iter::empty());
        }
        let http = http.build().context("cannot set up the HTTP client")?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the I/O runtime")?;
        Ok(Api {
            base,
            key,
            http,
            rt,
        })
    }

    /// Calls `segments` (percent-encoded as path segments) and returns a
    /// successful answer; an error answer becomes an `Err` carrying the
    /// server's message.
    fn call(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, String)],
        wait: Wait,
    ) -> anyhow::Result<Reply> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|_| anyhow!("--url {} cannot have a path", self.base))?
            .pop_if_empty()
            .extend(segments);
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        let mut req = self.http.request(method, url).bearer_auth(&self.key);
        if wait == Wait::Bounded {
            req = req.timeout(REQUEST_TIMEOUT);
        }
        let base = &self.base;
        let (status, body) = self
            .rt
            .block_on(async {
                let resp = req.send().await?;
                let status = resp.status();
                let body = resp.text().await?;
                Ok::<_, reqwest::Error>((status, body))
            })
            .map_err(|e| {
                if e.is_connect() {
                    anyhow!("cannot reach cronduct at {base}: is the daemon running?")
                } else if e.is_timeout() {
                    anyhow!("cronduct at {base} did not answer in time")
                } else {
                    anyhow!("request to cronduct at {base} failed: {e}")
                }
            })?;
        let reply = Reply { body };
        if status.is_success() {
            Ok(reply)
        } else {
            Err(reply.into_error(status))
        }
    }
}

fn parse_base_url(given: &str) -> anyhow::Result<Url> {
    let with_scheme = if given.contains("://") {
        given.to_string()
    } else {
        format!("http://{given}")
    };
    let url = Url::parse(&with_scheme).with_context(|| format!("invalid --url {given:?}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        bail!("invalid --url {given:?}: the scheme must be http or https");
    }
    Ok(url)
}

/// The URL that reaches a daemon listening on `listen`: a wildcard
/// address is reached through the loopback of the same family.
fn listen_url(listen: std::net::SocketAddr) -> anyhow::Result<Url> {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
    let ip = match listen.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let addr = SocketAddr::new(ip, listen.port());
    Url::parse(&format!("http://{addr}")).with_context(|| format!("bad listen address {addr}"))
}

/// A successful answer's body.
struct Reply {
    body: String,
}

impl Reply {
    fn parse<T: DeserializeOwned>(&self) -> anyhow::Result<T> {
        serde_json::from_str(&self.body).context("unexpected answer from the daemon")
    }

    fn print_json(&self) -> anyhow::Result<ExitCode> {
        println!("{}", pretty_json(&self.body));
        Ok(ExitCode::SUCCESS)
    }

    fn into_error(self, status: StatusCode) -> anyhow::Error {
        match serde_json::from_str::<ErrorBody>(&self.body) {
            Ok(ErrorBody {
                error,
                errors: Some(errors),
            }) if !errors.is_empty() => anyhow!("{error}:\n{}", errors.join("\n\n")),
            Ok(ErrorBody { error, .. }) => anyhow!("{error}"),
            Err(_) => anyhow!("the daemon answered {status}: {}", self.body.trim()),
        }
    }
}

/// Re-indents a JSON text without reordering its keys (serde_json's
/// `Value` would sort them), so `--json` shows the API's document as sent.
/// Text that is not valid JSON is returned unchanged.
fn pretty_json(raw: &str) -> String {
    if serde_json::from_str::<serde::de::IgnoredAny>(raw).is_err() {
        return raw.to_string();
    }
    let mut out = String::with_capacity(raw.len() * 2);
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut chars = raw.chars().peekable();
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.push_str(&"  ".repeat(depth));
    };
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                while chars.peek().is_some_and(|n| n.is_ascii_whitespace()) {
                    chars.next();
                }
                if chars.peek().is_some_and(|n| matches!(n, '}' | ']')) {
                    if let Some(close) = chars.next() {
                        out.push(close);
                    }
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_ascii_whitespace() => {}
            c => out.push(c),
        }
    }
    out
}

/// Lays rows out in columns two spaces apart; the last column is not
/// padded, so lines carry no trailing blanks.
pub(super) fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header_row: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header_row).chain(rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let pad = widths[i] - cell.chars().count();
                let _ = write!(line, "{cell}{}  ", " ".repeat(pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `3m`, `2h`, `5d`: the largest whole unit of a span.
fn span(d: chrono::Duration) -> String {
    let s = d.num_seconds().max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86_400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

/// `3h 12m`: two units, for uptime.
fn long_span(secs: u64) -> String {
    let (d, h, m, s) = (
        secs / 86_400,
        secs % 86_400 / 3600,
        secs % 3600 / 60,
        secs % 60,
    );
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

fn ago(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    format!("{} ago", span(now - t))
}

fn until(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    if t <= now {
        "due".to_string()
    } else {
        format!("in {}", span(t - now))
    }
}

/// An instant in the job's zone (UTC if the zone is unknown here).
fn in_zone(t: DateTime<Utc>, zone: &str) -> String {
    let tz: Tz = zone.parse().unwrap_or(Tz::UTC);
    t.with_timezone(&tz)
        .format("%Y-%m-%d %H:%M:%S %Z")
        .to_string()
}

/// An instant in this machine's zone (`TZ`, else `/etc/localtime`), named
/// by its abbreviation like the job zones. The zone is looked up once per
/// command: finding it reads the environment and up to two files, and a
/// `runs` table has a thousand rows.
fn local(t: DateTime<Utc>) -> String {
    static ZONE: OnceLock<chrono_tz::Tz> = OnceLock::new();
    t.with_timezone(ZONE.get_or_init(crate::schedule::system_timezone))
        .format("%Y-%m-%d %H:%M:%S %Z")
        .to_string()
}

fn seconds(ms: u64) -> String {
    if ms < 60_000 {
        format!("{:.1}s", ms as f64 / 1000.0)
    } else {
        long_span(ms / 1000)
    }
}

fn jobs_table(jobs: &[JobView], now: DateTime<Utc>) -> String {
    if jobs.is_empty() {
        return "no jobs\n".to_string();
    }
    let rows: Vec<Vec<String>> = jobs
        .iter()
        .map(|v| {
            let j = &v.job;
            let next = match (j.enabled, j.next_run) {
                (false, _) => "disabled".to_string(),
                (true, Some(t)) => format!("{} ({})", in_zone(t, &j.timezone), until(t, now)),
                (true, None) => "-".to_string(),
            };
            let last = match (&v.last_run, j.running) {
                (_, true) => "running".to_string(),
                (Some(r), false) => format!("{} {}", r.status, ago(r.finished_at, now)),
                (None, false) => "-".to_string(),
            };
            vec![
                j.id.clone(),
                j.schedule.clone(),
                j.timezone.clone(),
                next,
                last,
                j.consecutive_failures.to_string(),
                if j.paused { "yes" } else { "no" }.to_string(),
            ]
        })
        .collect();
    table(
        &[
            "ID", "SCHEDULE", "ZONE", "NEXT RUN", "LAST", "FAILS", "PAUSED",
        ],
        &rows,
    )
}

fn status_text(r: &StatusReport, now: DateTime<Utc>) -> String {
    let mut lines = vec![
        (
            "daemon",
            format!(
                "cronduct {} (pid {}), up {} since {}",
                r.version,
                r.pid,
                long_span(r.uptime_seconds),
                local(r.started_at)
            ),
        ),
        ("config", r.config.display().to_string()),
    ];
    let reload = &r.last_reload;
    lines.push((
        "last reload",
        match &reload.error {
            None if reload.ok => format!("ok at {} ({})", local(reload.at), ago(reload.at, now)),
            err => format!(
                "REFUSED at {} ({}): {}",
                local(reload.at),
                ago(reload.at, now),
                err.as_deref().unwrap_or("unknown error")
            ),
        },
    ));
    lines.push((
        "jobs",
        format!(
            "{} total, {} enabled, {} paused, {} running",
            r.jobs.total, r.jobs.enabled, r.jobs.paused, r.jobs.running
        ),
    ));
    lines.push((
        "next run",
        match &r.next_run {
            Some(n) => format!("{} at {} ({})", n.job, local(n.at), until(n.at, now)),
            None => "none scheduled".to_string(),
        },
    ));
    lines.push(("failures", format!("{} in the last 24h", r.failures_24h)));
    let memory = r
        .rss_bytes
        .map(|b| format!("{:.1} MiB RSS", b as f64 / (1 << 20) as f64))
        .unwrap_or_else(|| "RSS unknown".to_string());
    let cpu = r
        .cpu_seconds
        .map(|s| format!("{s:.2}s CPU"))
        .unwrap_or_else(|| "CPU unknown".to_string());
    lines.push(("resources", format!("{memory}, {cpu}")));
    let log = &r.log;
    lines.push((
        "log",
        format!(
            "{} ({} pending, {} dropped)",
            if log.ok {
                "ok".to_string()
            } else {
                format!(
                    "FAILING: {}",
                    log.error.as_deref().unwrap_or("unknown error")
                )
            },
            log.pending,
            log.dropped
        ),
    ));
    let width = lines.iter().map(|(k, _)| k.len()).max().unwrap_or(0) + 1;
    lines
        .iter()
        .map(|(k, v)| format!("{:width$} {v}\n", format!("{k}:")))
        .collect()
}

fn reload_text(d: &ReloadDiff) -> String {
    let parts: Vec<String> = [
        ("added", &d.added),
        ("removed", &d.removed),
        ("changed", &d.changed),
    ]
    .into_iter()
    .filter(|(_, ids)| !ids.is_empty())
    .map(|(what, ids)| format!("{what} {}", ids.join(", ")))
    .collect();
    if parts.is_empty() {
        "reloaded: no job changed".to_string()
    } else {
        format!("reloaded: {}", parts.join("; "))
    }
}

/// How an attempt ended, in a few words: `exit 1`, `SIGKILL`, `HTTP 503`,
/// or the start error.
fn outcome(r: &FinishRecord) -> String {
    if let Some(sig) = &r.signal {
        sig.clone()
    } else if let Some(code) = r.exit_code {
        format!("exit {code}")
    } else if let Some(http) = r.http_status {
        format!("HTTP {http}")
    } else if let Some(e) = &r.error {
        e.clone()
    } else {
        "-".to_string()
    }
}

fn runs_table(runs: &[FinishRecord]) -> String {
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            vec![
                r.run_id.clone(),
                r.job.clone(),
                r.attempt.to_string(),
                r.trigger.as_str().to_string(),
                local(r.started_at),
                seconds(r.duration_ms),
                if r.will_retry {
                    format!("{} (will retry)", r.status)
                } else {
                    r.status.to_string()
                },
                outcome(r),
            ]
        })
        .collect();
    table(
        &[
            "RUN ID", "JOB", "ATTEMPT", "TRIGGER", "STARTED", "DURATION", "STATUS", "RESULT",
        ],
        &rows,
    )
}

fn finish_text(r: &FinishRecord) -> String {
    let mut out = format!(
        "{} run {}: {} after {} (attempt {}, {})\n",
        r.job,
        r.run_id,
        r.status,
        seconds(r.duration_ms),
        r.attempt,
        outcome(r)
    );
    for (name, text) in [("stdout", &r.stdout), ("stderr", &r.stderr)] {
        if !text.is_empty() {
            let _ = writeln!(out, "--- {name} ---\n{}", text.trim_end_matches('\n'));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pretty_json_keeps_key_order_and_matches_serde_layout() {
        let raw = r#"{"z":1,"a":{"s":"x,y:{\"q\"}","e":[],"o":{}},"l":[1,2]}"#;
        let want = "{\n  \"z\": 1,\n  \"a\": {\n    \"s\": \"x,y:{\\\"q\\\"}\",\n    \"e\": [],\n    \"o\": {}\n  },\n  \"l\": [\n    1,\n    2\n  ]\n}";
        assert_eq!(pretty_json(raw), want);
        // Same layout as serde_json's when the keys happen to be sorted.
        let sorted = r#"{"a":[{"b":null}],"c":"d"}"#;
        let v: serde_json::Value = serde_json::from_str(sorted).expect("json");
        assert_eq!(
            pretty_json(sorted),
            serde_json::to_string_pretty(&v).expect("pretty")
        );
        assert_eq!(pretty_json("not json"), "not json");
    }

    #[test]
    fn spans_use_the_largest_whole_unit() {
        let s = chrono::Duration::seconds;
        assert_eq!(span(s(45)), "45s");
        assert_eq!(span(s(3 * 60 + 30)), "3m");
        assert_eq!(span(s(2 * 3600 + 10)), "2h");
        assert_eq!(span(s(3 * 86_400)), "3d");
        assert_eq!(long_span(3 * 3600 + 12 * 60 + 5), "3h 12m");
        assert_eq!(long_span(65), "1m 5s");
        assert_eq!(seconds(5123), "5.1s");
        assert_eq!(seconds(125_000), "2m 5s");
    }

    #[test]
    fn table_aligns_columns_without_trailing_blanks() {
        let t = table(
            &["ID", "X"],
            &[
                vec!["long-id".into(), "1".into()],
                vec!["a".into(), "".into()],
            ],
        );
        assert_eq!(t, "ID       X\nlong-id  1\na\n");
    }

    #[test]
    fn job_ids_that_would_escape_the_path_are_refused() {
        for bad in ["..", ".", "a/b", "", "-x", "a?b", &"x".repeat(65)] {
            assert!(check_job_id(bad).is_err(), "{bad:?}");
        }
        for good in ["db-backup", "a.b_c", "9", &"x".repeat(64)] {
            assert!(check_job_id(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn urls_default_to_http_and_wildcards_to_loopback() {
        assert_eq!(
            parse_base_url("127.0.0.1:9780").expect("url").as_str(),
            "http://127.0.0.1:9780/"
        );
        assert!(parse_base_url("ftp://x").is_err());
        assert_eq!(
            listen_url("0.0.0.0:9780".parse().expect("addr"))
                .expect("url")
                .as_str(),
            "http://127.0.0.1:9780/"
        );
        assert_eq!(
            listen_url("[::]:9780".parse().expect("addr"))
                .expect("url")
                .as_str(),
            "http://[::1]:9780/"
        );
    }
}
