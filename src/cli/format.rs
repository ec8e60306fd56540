//! How the client commands show the daemon's answers to people: aligned
//! tables and `key: value` text, instants in the job's or this machine's
//! zone, spans in their largest unit. Pure functions of the answer (and
//! "now"), so their output is tested without a daemon; `--json` bypasses
//! them and prints the document itself.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Mutex, OnceLock};

use chrono::{DateTime, Utc};

use crate::health::Health;
use crate::record::FinishRecord;
use crate::wire::{ClusterView, JobPlan, JobView, NodeState, Pause, ReloadDiff, StatusReport};
use crate::zone::{Database, Zone};

/// The most of a pause's reason the `jobs` table shows.
const REASON_WIDTH: usize = 40;

/// Lays rows out in columns two spaces apart; the last column is not
/// padded, so lines carry no trailing blanks.
pub(super) fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    styled_table(headers, rows, |_, _| None)
}

/// [`table`], with the cells `style(row, column)` names wrapped in that
/// ANSI SGR code (the padding stays outside, so columns still line up).
fn styled_table(
    headers: &[&str],
    rows: &[Vec<String>],
    style: impl Fn(usize, usize) -> Option<&'static str>,
) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header_row: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
    for (r, row) in std::iter::once(&header_row).chain(rows).enumerate() {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            let painted = match r.checked_sub(1).and_then(|r| style(r, i)) {
                Some(code) => Cow::Owned(format!("\x1b[{code}m{cell}\x1b[0m")),
                None => Cow::Borrowed(cell.as_str()),
            };
            if i + 1 == row.len() {
                line.push_str(&painted);
            } else {
                let pad = widths[i] - cell.chars().count();
                let _ = write!(line, "{painted}{}  ", " ".repeat(pad));
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

/// An instant in the job's zone (UTC if the zone is unknown here). Each
/// zone is read once per command: a `runs` table has a thousand rows.
fn in_zone(t: DateTime<Utc>, zone: &str) -> String {
    static ZONES: OnceLock<Mutex<HashMap<String, Zone>>> = OnceLock::new();
    let mut zones = ZONES
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let tz = zones.entry(zone.to_string()).or_insert_with(|| {
        Database::global()
            .zone(zone)
            .unwrap_or_else(|_| Zone::utc())
    });
    zoned(t, tz)
}

fn zoned(t: DateTime<Utc>, tz: &Zone) -> String {
    format!(
        "{} {}",
        tz.to_local(t).format("%Y-%m-%d %H:%M:%S"),
        tz.abbreviation(t)
    )
}

/// An instant in this machine's zone (`TZ`, else `/etc/localtime`), named
/// by its abbreviation like the job zones. The zone is looked up once per
/// command: finding it reads the environment and up to two files, and a
/// `runs` table has a thousand rows.
fn local(t: DateTime<Utc>) -> String {
    static ZONE: OnceLock<Zone> = OnceLock::new();
    zoned(t, ZONE.get_or_init(|| Database::global().system_zone()))
}

fn seconds(ms: u64) -> String {
    if ms < 60_000 {
        format!("{:.1}s", ms as f64 / 1000.0)
    } else {
        long_span(ms / 1000)
    }
}

/// The ANSI colour of a health word: red for what needs action, yellow
/// for what may, dim for jobs an operator has stopped.
fn health_colour(h: Health) -> Option<&'static str> {
    match h {
        Health::Failing | Health::Overdue => Some("31"),
        Health::Slow => Some("33"),
        Health::Ok => Some("32"),
        Health::Paused | Health::Disabled => Some("2"),
        Health::NeverRun => None,
    }
}

/// The `jobs` table; `colour` paints the HEALTH column (the caller
/// decides: a terminal, and no `NO_COLOR`).
pub(super) fn jobs_table(jobs: &[JobView], now: DateTime<Utc>, colour: bool) -> String {
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
                v.health.to_string(),
                j.schedule.clone(),
                j.timezone.clone(),
                next,
                last,
                j.consecutive_failures.to_string(),
                match (&j.pause, j.paused) {
                    (Some(p), _) => paused_cell(p, now),
                    (None, true) => "yes".to_string(),
                    (None, false) => "no".to_string(),
                },
            ]
        })
        .collect();
    styled_table(
        &[
            "ID", "HEALTH", "SCHEDULE", "ZONE", "NEXT RUN", "LAST", "FAILS", "PAUSED",
        ],
        &rows,
        |row, column| {
            (colour && column == 1)
                .then(|| health_colour(jobs[row].health))
                .flatten()
        },
    )
}

/// `yes`, `yes (resumes in 2h)`, `yes: disk swap`: the `jobs` table's
/// PAUSED cell, its last column, so a reason may be long; it is cut at
/// [`REASON_WIDTH`] characters all the same, to keep rows on one line.
fn paused_cell(p: &Pause, now: DateTime<Utc>) -> String {
    let mut cell = "yes".to_string();
    if let Some(t) = p.until {
        let _ = write!(cell, " (resumes {})", until(t, now));
    }
    if let Some(reason) = &p.reason {
        cell.push_str(": ");
        if reason.chars().count() > REASON_WIDTH {
            cell.extend(reason.chars().take(REASON_WIDTH - 1));
            cell.push('…');
        } else {
            cell.push_str(reason);
        }
    }
    cell
}

/// What `pause` says it did: `paused db-backup until 2026-12-02 18:00:00
/// UTC: disk swap`, or for `--all` the count and the ids.
pub(super) fn paused_text(what: &str, p: &Pause) -> String {
    let mut text = format!("paused {what}");
    if let Some(t) = p.until {
        let _ = write!(text, " until {}", local(t));
    }
    if let Some(reason) = &p.reason {
        let _ = write!(text, ": {reason}");
    }
    text
}

pub(super) fn status_text(r: &StatusReport, now: DateTime<Utc>) -> String {
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

pub(super) fn reload_text(d: &ReloadDiff) -> String {
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

/// Longest job result shown in a table cell, in characters.
const RESULT_CELL: usize = 40;

/// The job result, compact: `{"hit_rate":0.93,"removed":12}`, cut to
/// `width` characters with `…`; `invalid: <why>` for a refused one, `-`
/// for none.
fn reported(r: &FinishRecord, width: usize) -> String {
    let text = match (&r.result, &r.result_error) {
        (Some(result), _) => serde_json::to_string(result).unwrap_or_default(),
        (None, Some(e)) => format!("invalid: {e}"),
        (None, None) => return "-".to_string(),
    };
    if text.chars().count() <= width {
        return text;
    }
    let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// User + system CPU time (`0.4s`), `-` when the attempt has no figures
/// (HTTP jobs, attempts that never started).
fn cpu(r: &FinishRecord) -> String {
    match (r.cpu_user_ms, r.cpu_system_ms) {
        (None, None) => "-".to_string(),
        (user, system) => seconds(user.unwrap_or(0).saturating_add(system.unwrap_or(0))),
    }
}

/// A size given in KiB, in the largest binary unit that keeps it at 1 or
/// more: `812 KiB`, `12.5 MiB`, `1.2 GiB`.
fn kib(n: u64) -> String {
    match n {
        0..1024 => format!("{n} KiB"),
        1024..1_048_576 => format!("{:.1} MiB", n as f64 / 1024.0),
        _ => format!("{:.1} GiB", n as f64 / 1_048_576.0),
    }
}

fn max_rss(r: &FinishRecord) -> String {
    r.max_rss_kib.map_or_else(|| "-".to_string(), kib)
}

/// The runs as a table; in cluster mode (records that name their node)
/// with a NODE column after JOB, saying where each attempt ran.
pub(super) fn runs_table(runs: &[FinishRecord]) -> String {
    let clustered = runs.iter().any(|r| r.node.is_some());
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            let mut row = vec![r.run_id.clone(), r.job.clone()];
            if clustered {
                row.push(r.node.clone().unwrap_or_else(|| "-".to_string()));
            }
            row.extend([
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
                cpu(r),
                max_rss(r),
                reported(r, RESULT_CELL),
            ]);
            row
        })
        .collect();
    let mut header = vec!["RUN ID", "JOB"];
    if clustered {
        header.push("NODE");
    }
    header.extend([
        "ATTEMPT", "TRIGGER", "STARTED", "DURATION", "STATUS", "OUTCOME", "CPU", "MAX RSS",
        "RESULT",
    ]);
    table(&header, &rows)
}

pub(super) fn finish_text(r: &FinishRecord) -> String {
    let mut out = format!(
        "{} run {}: {} after {} (attempt {}, {})\n",
        r.job,
        r.run_id,
        r.status,
        seconds(r.duration_ms),
        r.attempt,
        outcome(r)
    );
    if let (Some(user), Some(system)) = (r.cpu_user_ms, r.cpu_system_ms) {
        let _ = writeln!(
            out,
            "cpu: {} user, {} system; max rss {}",
            seconds(user),
            seconds(system),
            max_rss(r)
        );
    }
    if r.result.is_some() || r.result_error.is_some() {
        let _ = writeln!(out, "result: {}", reported(r, usize::MAX));
    }
    for (name, text) in [("stdout", &r.stdout), ("stderr", &r.stderr)] {
        if !text.is_empty() {
            let _ = writeln!(out, "--- {name} ---\n{}", text.trim_end_matches('\n'));
        }
    }
    out
}

/// What `apply --dry-run` shows of one job: the change, then its managed
/// file as a diff (`-` lines go, `+` lines come, the rest stays).
pub fn plan_text(plan: &JobPlan) -> String {
    let mut out = format!("{} {}\n", plan.change, plan.job);
    if plan.change != "unchanged" {
        out.push_str(&line_diff(
            plan.before.as_deref().unwrap_or(""),
            &plan.after,
        ));
    }
    out
}

/// A line diff of `before` and `after` by their longest common
/// subsequence: every line once, prefixed `- `, `+ ` or two spaces. Managed
/// files are a few dozen lines, so the quadratic table is small.
pub fn line_diff(before: &str, after: &str) -> String {
    let a: Vec<&str> = before.lines().collect();
    let b: Vec<&str> = after.lines().collect();
    // common[i][j]: the longest common subsequence of a[i..] and b[j..].
    let mut common = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            common[i][j] = if a[i] == b[j] {
                common[i + 1][j + 1] + 1
            } else {
                common[i + 1][j].max(common[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            let _ = writeln!(out, "  {}", a[i]);
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || common[i + 1][j] >= common[i][j + 1]) {
            let _ = writeln!(out, "- {}", a[i]);
            i += 1;
        } else {
            let _ = writeln!(out, "+ {}", b[j]);
            j += 1;
        }
    }
    out
}

/// `cronduct cluster`: a line saying whose view it is, the nodes' table
/// and a line per job the live nodes disagree on.
pub fn cluster_text(view: &ClusterView, now: DateTime<Utc>) -> String {
    if !view.enabled {
        return "cluster mode is off: this daemon's configuration has no [cluster] table\n"
            .to_string();
    }
    let alive = view
        .nodes
        .iter()
        .filter(|n| n.state == NodeState::Alive)
        .count();
    let mut out = format!(
        "{} node{} ({alive} alive, {} gone), as {} read {}\n",
        view.nodes.len(),
        if view.nodes.len() == 1 { "" } else { "s" },
        view.nodes.len() - alive,
        view.node.as_deref().unwrap_or("this node"),
        view.read_at.map_or_else(
            || "nothing yet".to_string(),
            |t| format!("them {}", ago(t, now))
        )
    );
    if !view.reachable {
        let _ = writeln!(
            out,
            "warning: the cluster database cannot be reached ({}); the list is as last read",
            view.error.as_deref().unwrap_or("unknown error")
        );
    }
    let rows: Vec<Vec<String>> = view
        .nodes
        .iter()
        .map(|n| {
            let clock = if n.clock_offset_ms.abs() > crate::cluster::CLOCK_OFFSET_LIMIT_MS {
                format!("{:+}ms (over 1s)", n.clock_offset_ms)
            } else {
                format!("{:+}ms", n.clock_offset_ms)
            };
            vec![
                n.name.clone(),
                n.state.as_str().to_string(),
                n.address.clone(),
                n.version.clone(),
                ago(n.last_heartbeat, now),
                n.running.to_string(),
                clock,
                n.jobs.to_string(),
                if n.differing_jobs.is_empty() {
                    "-".to_string()
                } else {
                    n.differing_jobs.join(", ")
                },
            ]
        })
        .collect();
    out.push_str(&table(
        &[
            "NODE",
            "STATE",
            "ADDRESS",
            "VERSION",
            "HEARTBEAT",
            "RUNNING",
            "CLOCK",
            "JOBS",
            "DIFFERING JOBS",
        ],
        &rows,
    ));
    for d in &view.drift {
        let by_node: Vec<String> = d
            .definitions
            .iter()
            .map(|(node, hash)| format!("{node} {}", hash.as_deref().unwrap_or("(not defined)")))
            .collect();
        let _ = writeln!(
            out,
            "drift: job {:?} is defined differently on the live nodes: {}",
            d.job,
            by_node.join(", ")
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_are_compact_and_cut_to_the_cell() {
        let mut r = crate::testkit::finish(
            "j",
            "r",
            crate::record::Status::Success,
            chrono::DateTime::UNIX_EPOCH,
            1,
        );
        assert_eq!(reported(&r, 10), "-");
        r.result = serde_json::from_str(r#"{"removed": 12, "hit_rate": 0.93}"#).ok();
        assert_eq!(reported(&r, 40), r#"{"hit_rate":0.93,"removed":12}"#);
        assert_eq!(reported(&r, 10), r#"{"hit_rat…"#);
        r.result = None;
        r.result_error = Some("the result must be a JSON object, not an array".into());
        assert_eq!(
            reported(&r, usize::MAX),
            "invalid: the result must be a JSON object, not an array"
        );
    }

    #[test]
    fn resident_sets_use_the_largest_binary_unit() {
        assert_eq!(kib(812), "812 KiB");
        assert_eq!(kib(1024), "1.0 MiB");
        assert_eq!(kib(12_800), "12.5 MiB");
        assert_eq!(kib(1_258_291), "1.2 GiB");
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
    fn paused_cells_show_the_end_and_the_start_of_the_reason() {
        let now = DateTime::parse_from_rfc3339("2026-12-02T16:00:00Z")
            .expect("valid")
            .with_timezone(&Utc);
        let pause = |until: Option<i64>, reason: Option<&str>| Pause {
            reason: reason.map(str::to_string),
            until: until.map(|h| now + chrono::Duration::hours(h)),
            by: Some("default".into()),
            at: Some(now),
        };
        for (p, cell) in [
            (pause(None, None), "yes".to_string()),
            (pause(Some(2), None), "yes (resumes in 2h)".to_string()),
            (pause(None, Some("disk swap")), "yes: disk swap".to_string()),
            (
                pause(Some(30), Some(&"x".repeat(REASON_WIDTH))),
                format!("yes (resumes in 1d): {}", "x".repeat(REASON_WIDTH)),
            ),
            (
                pause(None, Some(&"y".repeat(REASON_WIDTH + 1))),
                format!("yes: {}…", "y".repeat(REASON_WIDTH - 1)),
            ),
        ] {
            assert_eq!(paused_cell(&p, now), cell);
        }
    }

    #[test]
    fn styled_cells_keep_the_columns_aligned() {
        let rows = [
            vec!["a".into(), "ok".into(), "1".into()],
            vec!["b".into(), "failing".into(), "2".into()],
        ];
        let style = |row: usize, column: usize| (column == 1).then_some(["32", "31"][row]);
        let plain = table(&["ID", "HEALTH", "X"], &rows);
        let styled = styled_table(&["ID", "HEALTH", "X"], &rows, style);
        assert_eq!(
            styled,
            "ID  HEALTH   X\na   \x1b[32mok\x1b[0m       1\nb   \x1b[31mfailing\x1b[0m  2\n"
        );
        assert_eq!(
            styled
                .replace("\x1b[32m", "")
                .replace("\x1b[31m", "")
                .replace("\x1b[0m", ""),
            plain
        );
    }

    #[test]
    fn a_line_diff_keeps_the_common_lines() {
        assert_eq!(
            line_diff("a\nb\nc\n", "a\nB\nc\nd\n"),
            "  a\n- b\n+ B\n  c\n+ d\n"
        );
        assert_eq!(line_diff("", "x\n"), "+ x\n");
    }

    #[test]
    fn cluster_text_shows_nodes_state_clock_and_drift() {
        use crate::wire::{ClusterNode, JobDrift};
        let now: DateTime<Utc> = "2026-12-03T12:00:00Z".parse().expect("time");
        let node = |name: &str, state, offset, differing: &[&str]| ClusterNode {
            name: name.to_string(),
            address: format!("10.0.0.1:{}", name.len()),
            version: "0.1.0".to_string(),
            last_heartbeat: now - chrono::Duration::seconds(2),
            running: 1,
            clock_offset_ms: offset,
            state,
            jobs: 2,
            differing_jobs: differing.iter().map(|s| s.to_string()).collect(),
        };
        let view = ClusterView {
            enabled: true,
            node: Some("web1".to_string()),
            reachable: true,
            error: None,
            read_at: Some(now - chrono::Duration::seconds(1)),
            node_timeout_ms: 30_000,
            nodes: vec![
                node("web1", NodeState::Alive, 3, &[]),
                node("web2", NodeState::Alive, -1500, &["backup"]),
                node("web3", NodeState::Gone, 0, &[]),
            ],
            drift: vec![JobDrift {
                job: "backup".to_string(),
                definitions: [
                    ("web1".to_string(), Some("aaaa".to_string())),
                    ("web2".to_string(), None),
                ]
                .into_iter()
                .collect(),
            }],
        };
        let text = cluster_text(&view, now);
        assert_eq!(
            text,
            "3 nodes (2 alive, 1 gone), as web1 read them 1s ago\n\
             NODE  STATE  ADDRESS     VERSION  HEARTBEAT  RUNNING  CLOCK              JOBS  DIFFERING JOBS\n\
             web1  alive  10.0.0.1:4  0.1.0    2s ago     1        +3ms               2     -\n\
             web2  alive  10.0.0.1:4  0.1.0    2s ago     1        -1500ms (over 1s)  2     backup\n\
             web3  gone   10.0.0.1:4  0.1.0    2s ago     1        +0ms               2     -\n\
             drift: job \"backup\" is defined differently on the live nodes: web1 aaaa, web2 (not defined)\n"
        );
        let off = cluster_text(&ClusterView::default(), now);
        assert!(off.starts_with("cluster mode is off"), "{off}");
    }
}
