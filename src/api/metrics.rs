//! `GET /metrics`: the Prometheus text exposition format (version 0.0.4).
//!
//! Gauges (`cronduct_up`, `cronduct_reload_success`, `cronduct_running`,
//! `cronduct_next_run_timestamp_seconds`) come from the scheduler at
//! scrape time. The run counters, the duration histogram and the last
//! success time come from the history index's counters
//! ([`MetricsSnapshot`]), kept up to date as finish records are written, so
//! a scrape costs the same whatever the size of the history. They start
//! from the whole log at start-up and never go down within one daemon
//! process (see [`MetricsSnapshot`]).
//!
//! `cronduct_job_health{job,state}` has one gauge per state for every
//! configured job, 1 for its current state. The skip counter and the last
//! start and failure times come from the history index's counters too.
//!
//! The notification counters (`cronduct_notifications_total{channel,result}`
//! and the suppressed and dropped notices) come from the notifier; like
//! the run counters they count since the daemon started.
//!
//! `cronduct_job_result{job,key}` is the last value of each numeric
//! top-level field of the newest result a job's runs reported.
//!
//! `cronduct_runs_total{job,status}` counts runs by their final status (the
//! last attempt; attempts that will be retried are not runs yet).
//! `cronduct_run_duration_seconds{job}` observes every attempt, retried or
//! not (`lost` ones excepted). Every configured job gets all six statuses
//! and all buckets, zeros included, so `rate()` and `increase()` work from
//! a job's first run; jobs no longer configured keep their series while
//! the log still mentions them.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use chrono::{DateTime, Utc};

use crate::daemon::control::SchedulerEvents;
use crate::log::{DURATION_BUCKETS_MS, DurationHistogram, JobCounters, MetricsSnapshot};
use crate::record::Status;
use crate::wire::{Health, JobSummary, NotifyStats, RunningAttempt};

/// What a scrape reads at scrape time: the scheduler's side and the
/// notifier's counters.
pub(crate) struct Live<'a> {
    pub jobs: &'a [JobSummary],
    /// Each of `jobs`' health, in the same order.
    pub health: &'a [Health],
    pub running: &'a [RunningAttempt],
    pub reload_ok: bool,
    pub notifications: NotifyStats,
    pub events: SchedulerEvents,
}

/// Renders every metric family.
pub(crate) fn render(c: &MetricsSnapshot, live: &Live<'_>) -> String {
    let mut all_jobs: BTreeSet<&str> = live.jobs.iter().map(|j| j.id.as_str()).collect();
    all_jobs.extend(c.jobs.keys().map(String::as_str));
    // About 1.5 KiB per job.
    let mut out = String::with_capacity(1024 + all_jobs.len() * 1536);

    family(
        &mut out,
        "cronduct_up",
        "gauge",
        "1 while the daemon answers.",
    );
    out.push_str("cronduct_up 1\n");

    family(
        &mut out,
        "cronduct_reload_success",
        "gauge",
        "1 if the last configuration (re)load succeeded, 0 if it was refused.",
    );
    let _ = writeln!(out, "cronduct_reload_success {}", u8::from(live.reload_ok));

    family(
        &mut out,
        "cronduct_runs_total",
        "counter",
        "Finished runs by job and final status.",
    );
    for job in &all_jobs {
        let counters = c.jobs.get(*job);
        let job = escape(job);
        for s in Status::ALL {
            let n = counters.map_or(0, |j| j.runs.get(s));
            let _ = writeln!(
                out,
                "cronduct_runs_total{{job=\"{job}\",status=\"{}\"}} {n}",
                s.as_str()
            );
        }
    }

    family(
        &mut out,
        "cronduct_run_duration_seconds",
        "histogram",
        "Duration of each attempt, by job.",
    );
    let empty = DurationHistogram::default();
    for job in &all_jobs {
        let h = c.jobs.get(*job).map_or(&empty, |j| &j.durations);
        let job = escape(job);
        let mut cumulative = 0;
        for (i, bound) in DURATION_BUCKETS_MS.iter().enumerate() {
            cumulative += h.counts[i];
            let _ = writeln!(
                out,
                "cronduct_run_duration_seconds_bucket{{job=\"{job}\",le=\"{}\"}} {cumulative}",
                *bound as f64 / 1000.0
            );
        }
        let _ = writeln!(
            out,
            "cronduct_run_duration_seconds_bucket{{job=\"{job}\",le=\"+Inf\"}} {}",
            h.count
        );
        let _ = writeln!(
            out,
            "cronduct_run_duration_seconds_sum{{job=\"{job}\"}} {}",
            h.sum_ms as f64 / 1000.0
        );
        let _ = writeln!(
            out,
            "cronduct_run_duration_seconds_count{{job=\"{job}\"}} {}",
            h.count
        );
    }

    family(
        &mut out,
        "cronduct_last_success_timestamp_seconds",
        "gauge",
        "When the job's last successful run finished (Unix time).",
    );
    for (job, t) in c
        .jobs
        .iter()
        .filter_map(|(job, j)| j.last_success.map(|t| (job, t)))
    {
        let _ = writeln!(
            out,
            "cronduct_last_success_timestamp_seconds{{job=\"{}\"}} {}",
            escape(job),
            unix_seconds(t)
        );
    }

    for (name, help, field) in [
        (
            "cronduct_last_failure_timestamp_seconds",
            "When the job's last run whose final status is a failure finished (Unix time).",
            (|j| j.last_failure) as fn(&JobCounters) -> Option<DateTime<Utc>>,
        ),
        (
            "cronduct_last_start_timestamp_seconds",
            "When the job's last attempt started (Unix time).",
            |j| j.last_start,
        ),
    ] {
        family(&mut out, name, "gauge", help);
        for (job, t) in c
            .jobs
            .iter()
            .filter_map(|(job, j)| field(j).map(|t| (job, t)))
        {
            let _ = writeln!(out, "{name}{{job=\"{}\"}} {}", escape(job), unix_seconds(t));
        }
    }

    family(
        &mut out,
        "cronduct_skips_total",
        "counter",
        "Scheduled starts skipped because a run was still active (concurrency = \"forbid\").",
    );
    for job in &all_jobs {
        let n = c.jobs.get(*job).map_or(0, |j| j.skips);
        let _ = writeln!(out, "cronduct_skips_total{{job=\"{}\"}} {n}", escape(job));
    }

    family(
        &mut out,
        "cronduct_job_health",
        "gauge",
        "1 for the job's current health state, 0 for the others.",
    );
    for (j, health) in live.jobs.iter().zip(live.health) {
        let job = escape(&j.id);
        for state in Health::ALL {
            let _ = writeln!(
                out,
                "cronduct_job_health{{job=\"{job}\",state=\"{state}\"}} {}",
                u8::from(state == *health)
            );
        }
    }

    family(
        &mut out,
        "cronduct_job_result",
        "gauge",
        "The last value of each numeric top-level field of the job's result.",
    );
    for (job, j) in &c.jobs {
        let job = escape(job);
        for (key, value) in &j.last_result {
            let _ = writeln!(
                out,
                "cronduct_job_result{{job=\"{job}\",key=\"{}\"}} {value}",
                escape(key)
            );
        }
    }

    family(
        &mut out,
        "cronduct_next_run_timestamp_seconds",
        "gauge",
        "When the job is next scheduled to start (Unix time); absent when it is not scheduled.",
    );
    for j in live.jobs {
        if let Some(t) = j.next_run {
            let _ = writeln!(
                out,
                "cronduct_next_run_timestamp_seconds{{job=\"{}\"}} {}",
                escape(&j.id),
                unix_seconds(t)
            );
        }
    }

    family(
        &mut out,
        "cronduct_running",
        "gauge",
        "Attempts of the job running now.",
    );
    let mut running: BTreeMap<&str, u64> = live.jobs.iter().map(|j| (j.id.as_str(), 0)).collect();
    for a in live.running {
        *running.entry(a.job.as_str()).or_default() += 1;
    }
    for (job, n) in running {
        let _ = writeln!(out, "cronduct_running{{job=\"{}\"}} {n}", escape(job));
    }

    notifications(&mut out, &live.notifications);
    alert_events(&mut out, &live.events);
    out
}

/// The scheduler's alert events since the daemon started: skips, missed
/// instants, slow runs, overdue notices; all four always, zeros included.
fn alert_events(out: &mut String, e: &SchedulerEvents) {
    for (name, help, n) in [
        (
            "cronduct_skips_total",
            "Scheduled starts skipped because a run was still active (concurrency = \"forbid\").",
            e.skipped,
        ),
        (
            "cronduct_missed_total",
            "Scheduled instants found missed at start-up (passed while the daemon was down).",
            e.missed,
        ),
        (
            "cronduct_slow_runs_total",
            "Runs found still going after their job's warn_after.",
            e.slow,
        ),
        (
            "cronduct_overdue_total",
            "Overdue notices: a job without a success within expect_success_within, and each reminder.",
            e.overdue,
        ),
    ] {
        family(out, name, "counter", help);
        let _ = writeln!(out, "{name} {n}");
    }
}

/// The notifier's counters: deliveries by channel and result (both
/// channels and both results always, zeros included, so a first failure
/// is an increase, not a new series), and the notices that never became
/// deliveries.
fn notifications(out: &mut String, n: &NotifyStats) {
    family(
        out,
        "cronduct_notifications_total",
        "counter",
        "Notification deliveries by channel and result (a failed one was given up after its retries).",
    );
    for (channel, c) in [
        ("email", &n.email),
        ("webhook", &n.webhook),
        ("ping", &n.ping),
    ] {
        for (result, count) in [("delivered", c.delivered), ("failed", c.failed)] {
            let _ = writeln!(
                out,
                "cronduct_notifications_total{{channel=\"{channel}\",result=\"{result}\"}} {count}"
            );
        }
    }
    family(
        out,
        "cronduct_notifications_suppressed_total",
        "counter",
        "Notices held back by the per-job rate limit.",
    );
    let _ = writeln!(
        out,
        "cronduct_notifications_suppressed_total {}",
        n.suppressed
    );
    family(
        out,
        "cronduct_notifications_dropped_total",
        "counter",
        "Notices lost because the notification queue was full.",
    );
    let _ = writeln!(out, "cronduct_notifications_dropped_total {}", n.dropped);
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn unix_seconds(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

/// Escapes a label value as the exposition format requires; borrows it
/// when nothing needs escaping (job ids seldom do).
fn escape(v: &str) -> Cow<'_, str> {
    if !v.contains(['\\', '"', '\n']) {
        return Cow::Borrowed(v);
    }
    let mut s = String::with_capacity(v.len() + 8);
    for ch in v.chars() {
        match ch {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    Cow::Owned(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live_none() -> Live<'static> {
        Live {
            jobs: &[],
            health: &[],
            running: &[],
            reload_ok: true,
            notifications: NotifyStats::default(),
            events: SchedulerEvents::default(),
        }
    }

    #[test]
    fn the_histogram_is_rendered_cumulatively_in_seconds() {
        let mut durations = DurationHistogram::default();
        durations.counts[0] = 1; // 0.1 s
        durations.counts[1] = 1; // 0.2 s
        durations.counts[3] = 1; // 5 s
        durations.counts[DURATION_BUCKETS_MS.len()] = 1; // beyond a day
        durations.count = 4;
        durations.sum_ms = 100_000_000 + 5_300;
        let snapshot = MetricsSnapshot {
            jobs: [(
                "j".to_string(),
                JobCounters {
                    durations,
                    ..JobCounters::default()
                },
            )]
            .into(),
        };
        let text = render(&snapshot, &live_none());
        for line in [
            "cronduct_run_duration_seconds_bucket{job=\"j\",le=\"0.1\"} 1\n",
            "cronduct_run_duration_seconds_bucket{job=\"j\",le=\"0.5\"} 2\n",
            "cronduct_run_duration_seconds_bucket{job=\"j\",le=\"1\"} 2\n",
            "cronduct_run_duration_seconds_bucket{job=\"j\",le=\"5\"} 3\n",
            "cronduct_run_duration_seconds_bucket{job=\"j\",le=\"86400\"} 3\n",
            "cronduct_run_duration_seconds_bucket{job=\"j\",le=\"+Inf\"} 4\n",
            "cronduct_run_duration_seconds_sum{job=\"j\"} 100005.3\n",
            "cronduct_run_duration_seconds_count{job=\"j\"} 4\n",
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape(r#"a"b\c"#.to_string().as_str()), r#"a\"b\\c"#);
        assert_eq!(escape("x\ny"), "x\\ny");
        assert!(matches!(
            escape("db-backup.nightly"),
            Cow::Borrowed("db-backup.nightly")
        ));
    }
}
