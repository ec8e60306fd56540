//! `GET /metrics`: the Prometheus text exposition format (version 0.0.4).
//!
//! Gauges (`cronduct_up`, `cronduct_reload_success`, `cronduct_running`,
//! `cronduct_next_run_timestamp_seconds`) come from the scheduler at
//! scrape time. Counts of finished runs come from the history index, which
//! is rebuilt from the log at start, so they cover the runs the log still
//! holds rather than only those since the daemon started.
//!
//! The history index is bounded and may forget old runs, but a Prometheus
//! counter must never go down (a decrease reads as a reset and makes
//! `rate()` spike). So [`Counters`] accumulates: each scrape adds the
//! records it has not seen before, identified by `(run_id, attempt)`, and
//! forgetting a record never subtracts it. Within one daemon process the
//! counters only grow; a restart starts them again from the log.
//!
//! `cronduct_runs_total{job,status}` counts runs by their final status (the
//! last attempt; attempts that will be retried are not runs yet).
//! `cronduct_run_duration_seconds{job}` observes every attempt, since each
//! attempt is one process (or request) whose duration matters, retried or
//! not. Every configured job gets all six statuses and all buckets, zeros
//! included, so `rate()` and `increase()` work from a job's first run.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt::Write;

use chrono::{DateTime, Utc};

use crate::daemon::control::{JobSummary, RunningAttempt};
use crate::record::{FinishRecord, Status};

/// Upper bounds of the duration histogram, in seconds: from quick HTTP
/// checks to day-long batch jobs.
const BUCKETS: [f64; 13] = [
    0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 21600.0, 86400.0,
];

#[derive(Debug, Default, Clone)]
struct Histogram {
    /// Non-cumulative count per bucket of [`BUCKETS`], then `+Inf`.
    counts: [u64; BUCKETS.len() + 1],
    sum_seconds: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        let i = BUCKETS
            .iter()
            .position(|&b| seconds <= b)
            .unwrap_or(BUCKETS.len());
        self.counts[i] += 1;
        self.sum_seconds += seconds;
        self.count += 1;
    }
}

/// What the metrics have counted so far in this process.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// The records present in the history at the last scrape.
    seen: HashSet<(String, u32)>,
    runs: BTreeMap<String, BTreeMap<Status, u64>>,
    durations: BTreeMap<String, Histogram>,
    last_success: BTreeMap<String, DateTime<Utc>>,
}

impl Counters {
    /// Counts the records of `history` (every finish record the index
    /// holds) that earlier scrapes have not counted.
    pub(crate) fn absorb(&mut self, history: &[FinishRecord]) {
        let mut present = HashSet::with_capacity(history.len());
        for r in history {
            let key = (r.run_id.clone(), r.attempt);
            if !self.seen.contains(&key) {
                self.count(r);
            }
            present.insert(key);
        }
        self.seen = present;
    }

    fn count(&mut self, r: &FinishRecord) {
        self.durations
            .entry(r.job.clone())
            .or_default()
            .observe(r.duration_ms as f64 / 1000.0);
        if r.will_retry {
            return;
        }
        *self
            .runs
            .entry(r.job.clone())
            .or_default()
            .entry(r.status)
            .or_default() += 1;
        if r.status == Status::Success {
            let last = self
                .last_success
                .entry(r.job.clone())
                .or_insert(r.finished_at);
            *last = (*last).max(r.finished_at);
        }
    }
}

/// The scheduler's side of a scrape.
pub(crate) struct Live<'a> {
    pub jobs: &'a [JobSummary],
    pub running: &'a [RunningAttempt],
    pub reload_ok: bool,
}

/// Renders every metric family.
pub(crate) fn render(c: &Counters, live: &Live<'_>) -> String {
    let mut all_jobs: BTreeSet<&str> = live.jobs.iter().map(|j| j.id.as_str()).collect();
    all_jobs.extend(c.runs.keys().map(String::as_str));
    all_jobs.extend(c.durations.keys().map(String::as_str));
    let mut out = String::new();

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
        let by_status = c.runs.get(*job);
        for s in Status::ALL {
            let n = by_status.and_then(|m| m.get(&s)).copied().unwrap_or(0);
            let _ = writeln!(
                out,
                "cronduct_runs_total{{job=\"{}\",status=\"{}\"}} {n}",
                escape(job),
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
    let empty = Histogram::default();
    for job in &all_jobs {
        let h = c.durations.get(*job).unwrap_or(&empty);
        let job = escape(job);
        let mut cumulative = 0;
        for (i, bound) in BUCKETS.iter().enumerate() {
            cumulative += h.counts[i];
            let _ = writeln!(
                out,
                "cronduct_run_duration_seconds_bucket{{job=\"{job}\",le=\"{bound}\"}} {cumulative}"
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
            h.sum_seconds
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
    for (job, t) in &c.last_success {
        let _ = writeln!(
            out,
            "cronduct_last_success_timestamp_seconds{{job=\"{}\"}} {}",
            escape(job),
            unix_seconds(*t)
        );
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
    out
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn unix_seconds(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

/// Escapes a label value as the exposition format requires.
fn escape(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for ch in v.chars() {
        match ch {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Trigger;

    fn rec(run: &str, attempt: u32, status: Status, will_retry: bool, ms: u64) -> FinishRecord {
        let t = DateTime::parse_from_rfc3339("2026-03-29T02:00:00Z")
            .expect("time")
            .with_timezone(&Utc)
            + chrono::Duration::seconds(i64::from(attempt));
        FinishRecord {
            ts: t,
            run_id: run.into(),
            job: "j".into(),
            attempt,
            trigger: Trigger::Schedule,
            scheduled_at: t,
            started_at: t,
            finished_at: t,
            duration_ms: ms,
            status,
            exit_code: None,
            signal: None,
            http_status: None,
            error: None,
            stdout: String::new(),
            stderr: String::new(),
            output_truncated: false,
            will_retry,
            retry_at: None,
            host: "h".into(),
        }
    }

    fn total(c: &Counters, s: Status) -> u64 {
        c.runs
            .get("j")
            .and_then(|m| m.get(&s))
            .copied()
            .unwrap_or(0)
    }

    #[test]
    fn counts_never_go_down_when_history_forgets() {
        let mut c = Counters::default();
        let a = rec("r1", 1, Status::Success, false, 200);
        let b = rec("r2", 1, Status::Failed, true, 1500);
        let b2 = rec("r2", 2, Status::Failed, false, 1500);
        c.absorb(&[a.clone(), b.clone()]);
        c.absorb(&[a.clone(), b.clone(), b2.clone()]);
        assert_eq!(total(&c, Status::Success), 1);
        assert_eq!(total(&c, Status::Failed), 1, "retried attempt is not a run");
        assert_eq!(c.durations["j"].count, 3, "every attempt is observed");
        // The index drops r1 and r2's first attempt: nothing is subtracted
        // and nothing is counted twice.
        c.absorb(std::slice::from_ref(&b2));
        c.absorb(&[b2]);
        assert_eq!(total(&c, Status::Success), 1);
        assert_eq!(total(&c, Status::Failed), 1);
        assert_eq!(c.durations["j"].count, 3);
    }

    #[test]
    fn histogram_buckets_are_cumulative_and_bounded_inclusively() {
        let mut h = Histogram::default();
        for s in [0.1, 0.2, 5.0, 100_000.0] {
            h.observe(s);
        }
        assert_eq!(h.counts[0], 1, "0.1 falls in le=0.1");
        assert_eq!(h.counts[1], 1);
        assert_eq!(h.counts[3], 1, "5.0 falls in le=5");
        assert_eq!(h.counts[BUCKETS.len()], 1, "beyond a day is +Inf only");
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape(r#"a"b\c"#.to_string().as_str()), r#"a\"b\\c"#);
        assert_eq!(escape("x\ny"), "x\\ny");
    }
}
