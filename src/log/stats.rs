//! Run statistics: the compact per-day aggregates the history index keeps,
//! the duration histogram behind avg/p95, and the `/metrics` counters.
//! The shapes `GET /api/v1/stats` and `GET /api/v1/jobs/{id}` serialise
//! are [`crate::wire`]'s; this module fills them.
//!
//! Counting rules, the same everywhere:
//! - a *run* is counted once, by its final status — the status of its last
//!   attempt, the finish record with `will_retry: false` — on the UTC date
//!   that attempt finished; a run whose retry is still pending is not
//!   counted yet;
//! - every finish record counts as one *attempt*, on its own finish date;
//! - durations are those of the final attempts, except `lost` ones (their
//!   "duration" measures how long the daemon was down, not the job);
//! - resource use (CPU time, the largest resident set) is that of every
//!   attempt that reports it (commands), retried ones included: each
//!   attempt is a process that used the machine;
//! - job results are those of the final attempts too: each numeric
//!   top-level field is summed and counted per key (integers and floats;
//!   booleans, strings and nested values are not numbers here).
//!
//! Percentiles come from a log-linear histogram: exact below 64 ms, and
//! above that 32 buckets per power of two, reported at the bucket's
//! midpoint and clamped to the observed min/max, so a reported p95 is
//! within 1/64 (1.6 %) of the true nearest-rank p95. The histogram makes
//! the memory per job and day independent of how often the job runs.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::action::result::{JobResult, numbers};
use crate::record::Status;
use crate::wire::{CpuStats, JobStats, PeriodStats, ResultStats, StatusCounts};

/// log2 of the buckets per power of two.
const SUB_BITS: u32 = 5;
/// Buckets per power of two.
const SUB: u64 = 1 << SUB_BITS;
/// Values below this have a bucket each (exact).
const EXACT: u64 = 2 * SUB;
/// The number of buckets: `bucket_of(u64::MAX) + 1`.
const BUCKETS: usize = 1920;

/// The histogram bucket of a duration in milliseconds. The cluster's
/// statistics compute the same in SQL (`cluster/history.rs`).
fn bucket_of(ms: u64) -> u16 {
    if ms < EXACT {
        return ms as u16;
    }
    let msb = u64::from(63 - ms.leading_zeros());
    let shift = msb - u64::from(SUB_BITS);
    let sub = (ms >> shift) - SUB;
    // At most 64 + 57 * 32 + 31 = 1919: fits in u16.
    (EXACT + (msb - u64::from(SUB_BITS) - 1) * SUB + sub) as u16
}

/// The value reported for a bucket: the midpoint of the integers it holds.
fn bucket_value(bucket: u16) -> u64 {
    let b = u64::from(bucket);
    if b < EXACT {
        return b;
    }
    let k = b - EXACT;
    let shift = k / SUB + 1;
    let lower = (SUB + k % SUB) << shift;
    let width = 1u64 << shift;
    lower + (width - 1) / 2
}

/// Durations of a set of runs: count, sum, min, max and a sparse
/// histogram (sorted `(bucket, count)` pairs).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Durations {
    count: u64,
    sum: u64,
    min: u64,
    max: u64,
    buckets: Vec<(u16, u32)>,
}

impl Durations {
    /// Adds `count` durations (summing to `sum`, between `min` and `max`)
    /// that fall in histogram bucket `bucket`: what a database grouped by
    /// bucket answers.
    pub(crate) fn record_bucket(&mut self, bucket: u16, count: u32, sum: u64, min: u64, max: u64) {
        if count == 0 {
            return;
        }
        if self.count == 0 {
            self.min = min;
            self.max = max;
        } else {
            self.min = self.min.min(min);
            self.max = self.max.max(max);
        }
        self.count += u64::from(count);
        self.sum = self.sum.saturating_add(sum);
        match self.buckets.binary_search_by_key(&bucket, |&(k, _)| k) {
            Ok(i) => self.buckets[i].1 = self.buckets[i].1.saturating_add(count),
            Err(i) => self.buckets.insert(i, (bucket, count)),
        }
    }

    pub(crate) fn record(&mut self, ms: u64) {
        if self.count == 0 {
            self.min = ms;
            self.max = ms;
        } else {
            self.min = self.min.min(ms);
            self.max = self.max.max(ms);
        }
        self.count += 1;
        self.sum = self.sum.saturating_add(ms);
        let b = bucket_of(ms);
        match self.buckets.binary_search_by_key(&b, |&(k, _)| k) {
            Ok(i) => self.buckets[i].1 = self.buckets[i].1.saturating_add(1),
            Err(i) => self.buckets.insert(i, (b, 1)),
        }
    }
}

/// Durations being summed over several days (and jobs) for one answer.
///
/// The histogram is kept as `(bucket, count)` pairs while it is small (one
/// job over a few weeks: a few hundred pairs), then as a dense array of
/// counts by bucket (all jobs together: 100,000 pairs would take
/// milliseconds to sort, the array a single pass).
#[derive(Debug, Default)]
pub(crate) struct DurationSum {
    count: u64,
    sum: u64,
    min: u64,
    max: u64,
    /// Each added histogram's pairs, in bucket order: sorted runs.
    pairs: Vec<(u16, u64)>,
    /// Counts by bucket once there are more than [`BUCKETS`] pairs; empty
    /// before.
    dense: Vec<u64>,
}

impl DurationSum {
    pub(crate) fn add(&mut self, d: &Durations) {
        if d.count == 0 {
            return;
        }
        if self.count == 0 {
            self.min = d.min;
            self.max = d.max;
        } else {
            self.min = self.min.min(d.min);
            self.max = self.max.max(d.max);
        }
        self.count += d.count;
        self.sum = self.sum.saturating_add(d.sum);
        if self.dense.is_empty() && self.pairs.len() + d.buckets.len() > BUCKETS {
            self.dense = vec![0; BUCKETS];
            for (b, n) in self.pairs.drain(..) {
                self.dense[usize::from(b)] += n;
            }
        }
        if self.dense.is_empty() {
            self.pairs
                .extend(d.buckets.iter().map(|&(b, n)| (b, u64::from(n))));
        } else {
            for &(b, n) in &d.buckets {
                self.dense[usize::from(b)] += u64::from(n);
            }
        }
    }

    pub(crate) fn avg(&self) -> Option<u64> {
        (self.count > 0).then(|| self.sum / self.count)
    }

    pub(crate) fn min(&self) -> Option<u64> {
        (self.count > 0).then_some(self.min)
    }

    pub(crate) fn max(&self) -> Option<u64> {
        (self.count > 0).then_some(self.max)
    }

    /// The nearest-rank 95th percentile: the smallest duration that at
    /// least 95 % of the runs did not exceed.
    pub(crate) fn p95(&mut self) -> Option<u64> {
        if self.count == 0 {
            return None;
        }
        // ceil(0.95 * count) without floating point.
        let rank = (self.count * 95).div_ceil(100).max(1);
        if rank == self.count {
            // Fewer than 20 runs: the p95 is the largest, known exactly.
            return Some(self.max);
        }
        let mut seen = 0u64;
        let at_rank = |(b, n): (u16, u64), seen: &mut u64| {
            *seen += n;
            (*seen >= rank).then(|| bucket_value(b).clamp(self.min, self.max))
        };
        if self.dense.is_empty() {
            // A stable sort merges the sorted runs instead of sorting anew.
            self.pairs.sort_by_key(|&(b, _)| b);
            self.pairs.iter().find_map(|&pair| at_rank(pair, &mut seen))
        } else {
            (0u16..)
                .zip(self.dense.iter().copied())
                .find_map(|pair| at_rank(pair, &mut seen))
        }
        .or(Some(self.max))
    }
}

/// What one job did on one UTC day.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct DayAgg {
    /// Runs by final status, in [`Status::ALL`] order.
    pub(crate) runs: [u32; 6],
    pub(crate) attempts: u32,
    pub(crate) durations: Durations,
    pub(crate) usage: UsageSum,
    /// The numeric result fields of the day's runs, by key; empty (and
    /// allocating nothing) for a job that reports no results.
    pub(crate) results: BTreeMap<Box<str>, NumSum>,
}

impl DayAgg {
    pub(crate) fn add_run(&mut self, status: Status, duration_ms: u64, result: Option<&JobResult>) {
        let slot = &mut self.runs[status_index(status)];
        *slot = slot.saturating_add(1);
        if status != Status::Lost {
            self.durations.record(duration_ms);
        }
        for (key, value) in result.into_iter().flat_map(numbers) {
            match self.results.get_mut(key) {
                Some(sum) => sum.add(value, 1),
                None => {
                    let mut sum = NumSum::default();
                    sum.add(value, 1);
                    self.results.insert(key.into(), sum);
                }
            }
        }
    }
}

/// The resource use of the attempts that reported it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct UsageSum {
    /// Attempts with figures (commands whose exit status was collected).
    measured: u64,
    /// User + system CPU time, in milliseconds.
    cpu_ms: u64,
    max_rss_kib: u64,
}

impl UsageSum {
    /// Adds one attempt's figures, if it has any.
    pub(crate) fn record(
        &mut self,
        cpu_user_ms: Option<u64>,
        cpu_system_ms: Option<u64>,
        max_rss_kib: Option<u64>,
    ) {
        if cpu_user_ms.is_none() && cpu_system_ms.is_none() && max_rss_kib.is_none() {
            return;
        }
        self.measured += 1;
        let cpu = cpu_user_ms
            .unwrap_or(0)
            .saturating_add(cpu_system_ms.unwrap_or(0));
        self.cpu_ms = self.cpu_ms.saturating_add(cpu);
        self.max_rss_kib = self.max_rss_kib.max(max_rss_kib.unwrap_or(0));
    }

    /// Adds the figures of `measured` attempts at once.
    pub(crate) fn record_many(&mut self, measured: u64, cpu_ms: u64, max_rss_kib: u64) {
        if measured == 0 {
            return;
        }
        self.add(&UsageSum {
            measured,
            cpu_ms,
            max_rss_kib,
        });
    }

    fn add(&mut self, other: &UsageSum) {
        self.measured += other.measured;
        self.cpu_ms = self.cpu_ms.saturating_add(other.cpu_ms);
        self.max_rss_kib = self.max_rss_kib.max(other.max_rss_kib);
    }

    fn cpu(&self) -> Option<CpuStats> {
        (self.measured > 0).then(|| CpuStats {
            total: self.cpu_ms,
            avg: self.cpu_ms / self.measured,
        })
    }

    fn max_rss(&self) -> Option<u64> {
        (self.measured > 0).then_some(self.max_rss_kib)
    }
}

impl DayAgg {
    /// Adds `count` runs' values of result key `key`, summing to `sum`.
    pub(crate) fn add_result_sum(&mut self, key: &str, sum: f64, count: u64) {
        match self.results.get_mut(key) {
            Some(n) => n.add(sum, count),
            None => {
                let mut n = NumSum::default();
                n.add(sum, count);
                self.results.insert(key.into(), n);
            }
        }
    }

    /// Adds `count` runs with final status `status`, counted by
    /// [`DayAgg::add_run`] one at a time elsewhere.
    pub(crate) fn add_runs(&mut self, status: Status, count: u32) {
        let slot = &mut self.runs[status_index(status)];
        *slot = slot.saturating_add(count);
    }
}

/// The sum and count of one result key's values.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct NumSum {
    sum: f64,
    count: u64,
}

impl NumSum {
    fn add(&mut self, sum: f64, count: u64) {
        self.sum += sum;
        self.count += count;
    }
}

fn status_index(status: Status) -> usize {
    Status::ALL
        .iter()
        .position(|&s| s == status)
        .unwrap_or_default()
}

/// Counts the day's runs into `counts`.
pub(crate) fn count_runs(day: &DayAgg, counts: &mut StatusCounts) {
    for (status, &n) in Status::ALL.iter().zip(&day.runs) {
        counts.add(*status, u64::from(n));
    }
}

/// A job's [`JobStats`] from its runs by final status and the durations
/// of its final attempts.
pub(crate) fn job_stats(by_status: StatusCounts, mut durations: DurationSum) -> JobStats {
    JobStats {
        total: by_status.total(),
        by_status,
        avg_duration_ms: durations.avg(),
        min_duration_ms: durations.min(),
        max_duration_ms: durations.max(),
        p95_duration_ms: durations.p95(),
    }
}

/// A [`PeriodStats`] being summed.
#[derive(Debug, Default)]
pub(crate) struct PeriodSum {
    pub(crate) runs: StatusCounts,
    pub(crate) attempts: u64,
    pub(crate) durations: DurationSum,
    pub(crate) usage: UsageSum,
    pub(crate) results: BTreeMap<String, NumSum>,
}

impl PeriodSum {
    /// Adds a day's runs, attempts and durations.
    pub(crate) fn add(&mut self, day: &DayAgg) {
        count_runs(day, &mut self.runs);
        self.attempts += u64::from(day.attempts);
        self.durations.add(&day.durations);
        self.usage.add(&day.usage);
    }

    /// Adds a day's results. Only for one job's sum: the same key means
    /// different things in different jobs, so totals have no results.
    pub(crate) fn add_results(&mut self, day: &DayAgg) {
        for (key, n) in &day.results {
            self.results
                .entry(key.to_string())
                .or_default()
                .add(n.sum, n.count);
        }
    }

    pub(crate) fn finish(mut self) -> PeriodStats {
        let total = self.runs.total();
        PeriodStats {
            runs: self.runs,
            attempts: self.attempts,
            success_rate: (total > 0).then(|| self.runs.success as f64 / total as f64),
            avg_duration_ms: self.durations.avg(),
            p95_duration_ms: self.durations.p95(),
            cpu_ms: self.usage.cpu(),
            max_rss_kib: self.usage.max_rss(),
            results: self
                .results
                .into_iter()
                .map(|(key, n)| {
                    let stats = ResultStats {
                        sum: n.sum,
                        // Every key in the map has been seen at least once.
                        avg: n.sum / n.count as f64,
                        count: n.count,
                    };
                    (key, stats)
                })
                .collect(),
        }
    }
}

/// Upper bounds of the Prometheus duration histogram, in milliseconds:
/// from quick HTTP checks (100 ms) to day-long batch jobs (1 d).
pub const DURATION_BUCKETS_MS: [u64; 13] = [
    100, 500, 1_000, 5_000, 15_000, 60_000, 300_000, 900_000, 1_800_000, 3_600_000, 7_200_000,
    21_600_000, 86_400_000,
];

/// A Prometheus histogram of attempt durations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DurationHistogram {
    /// Non-cumulative count per bucket of [`DURATION_BUCKETS_MS`] (upper
    /// bound inclusive), then the count above the last bound.
    pub counts: [u64; DURATION_BUCKETS_MS.len() + 1],
    /// Sum of the observed durations, in milliseconds (exact).
    pub sum_ms: u64,
    pub count: u64,
}

impl DurationHistogram {
    pub(crate) fn observe(&mut self, ms: u64) {
        let i = DURATION_BUCKETS_MS.partition_point(|&bound| bound < ms);
        self.counts[i] += 1;
        self.sum_ms = self.sum_ms.saturating_add(ms);
        self.count += 1;
    }
}

/// What `/metrics` exposes for one job: counters that only ever grow
/// while the daemon runs (see [`MetricsSnapshot`]), and the last result.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobCounters {
    /// Runs by final status (the finish record with `will_retry: false`).
    pub runs: StatusCounts,
    /// Every attempt's duration, retried ones included, since each attempt
    /// is one process (or request) whose duration matters. `lost` attempts
    /// are left out: their "duration" measures how long the daemon was
    /// down, not the job.
    pub durations: DurationHistogram,
    /// When the newest successful run finished.
    pub last_success: Option<DateTime<Utc>>,
    /// When the newest run whose final status is a failure finished.
    pub last_failure: Option<DateTime<Utc>>,
    /// When the newest attempt started (from its start line, or its
    /// finish line when the start line is missing).
    pub last_start: Option<DateTime<Utc>>,
    /// Scheduled starts skipped (`skip` lines: `concurrency = "forbid"`
    /// with a run still active).
    pub skips: u64,
    /// The numeric fields of the newest run's result that had one
    /// (`cronduct_job_result`), in key order; a later result replaces
    /// them all, so a key it no longer reports disappears.
    pub last_result: Vec<(Box<str>, f64)>,
}

impl JobCounters {
    pub(crate) fn count(
        &mut self,
        status: Status,
        will_retry: bool,
        duration_ms: u64,
        (started_at, finished_at): (DateTime<Utc>, DateTime<Utc>),
        result: Option<&JobResult>,
    ) {
        if status != Status::Lost {
            self.durations.observe(duration_ms);
        }
        self.started(started_at);
        if will_retry {
            return;
        }
        if let Some(result) = result {
            self.last_result = numbers(result).map(|(k, v)| (k.into(), v)).collect();
        }
        self.runs.add(status, 1);
        let newest = match status {
            Status::Success => &mut self.last_success,
            s if s.is_failure() => &mut self.last_failure,
            _ => return,
        };
        if newest.is_none_or(|t| t < finished_at) {
            *newest = Some(finished_at);
        }
    }

    /// An attempt started at `at`.
    pub(crate) fn started(&mut self, at: DateTime<Utc>) {
        if self.last_start.is_none_or(|t| t < at) {
            self.last_start = Some(at);
        }
    }
}

/// The counters behind `/metrics`, per job id, for every job the log has
/// mentioned since the daemon started (configured or not).
///
/// They are counted as finish records reach the index — at start-up from
/// every log file that still exists, then from each new line — and are
/// never decremented: evicting old entries from the index, rotating the
/// log or a job leaving the config does not lower them, because a
/// Prometheus counter that goes down reads as a reset. A restart starts
/// them again from the log files (Prometheus sees that as the reset it
/// is). Memory: about 200 bytes per job id ever seen.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricsSnapshot {
    pub jobs: BTreeMap<String, JobCounters>,
}

/// A stats request the API must refuse (HTTP 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatsError {
    #[error("days must be between 1 and {max}, not {days}")]
    Days { days: u32, max: u32 },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_exact_below_64_ms() {
        for ms in 0..EXACT {
            assert_eq!(bucket_value(bucket_of(ms)), ms);
        }
    }

    #[test]
    fn bucket_error_is_bounded_across_the_whole_range() {
        let mut ms = 1u64;
        while ms < u64::MAX / 3 {
            for v in [ms, ms + ms / 3, ms * 2 - 1] {
                let got = bucket_value(bucket_of(v));
                let err = got.abs_diff(v) as f64 / v as f64;
                assert!(err <= 1.0 / 64.0, "{v} reported as {got}");
            }
            ms *= 2;
        }
        assert_eq!(usize::from(bucket_of(u64::MAX)), BUCKETS - 1);
    }

    #[test]
    fn buckets_are_monotonic() {
        let mut last = 0;
        for v in (0..100_000u64).step_by(7) {
            let b = bucket_of(v);
            assert!(b >= last);
            last = b;
        }
    }

    #[test]
    fn p95_is_the_nearest_rank() {
        let mut d = Durations::default();
        for _ in 0..95 {
            d.record(10);
        }
        for _ in 0..5 {
            d.record(10_000);
        }
        let mut sum = DurationSum::default();
        sum.add(&d);
        assert_eq!(sum.p95(), Some(10));
        assert_eq!(sum.avg(), Some(509));
        assert_eq!((sum.min(), sum.max()), (Some(10), Some(10_000)));
    }

    #[test]
    fn p95_of_a_single_value_is_that_value() {
        let mut d = Durations::default();
        d.record(123_457);
        let mut sum = DurationSum::default();
        sum.add(&d);
        assert_eq!(sum.p95(), Some(123_457));
    }

    #[test]
    fn prometheus_buckets_include_their_upper_bound() {
        let mut h = DurationHistogram::default();
        for ms in [0, 100, 101, 5_000, 86_400_000, 86_400_001, u64::MAX] {
            h.observe(ms);
        }
        let mut want = [0u64; DURATION_BUCKETS_MS.len() + 1];
        want[0] = 2; // 0 and 100 ms: le 0.1
        want[1] = 1; // 101 ms: le 0.5
        want[3] = 1; // 5 s: le 5
        want[12] = 1; // exactly a day: le 86400
        want[13] = 2; // beyond: +Inf only
        assert_eq!(h.counts, want);
        assert_eq!(h.count, 7);
        assert_eq!(h.sum_ms, u64::MAX, "the sum saturates");
    }

    #[test]
    fn counters_count_runs_by_final_status_and_every_attempt() {
        let t = |s: i64| DateTime::from_timestamp(1_800_000_000 + s, 0).expect("time");
        let result = |json: &str| serde_json::from_str::<JobResult>(json).expect("an object");
        let (retried, first, second) = (
            result(r#"{"n": 1}"#),
            result(r#"{"n": 5, "x": 2}"#),
            result(r#"{"n": 7, "s": "text"}"#),
        );
        let mut c = JobCounters::default();
        c.count(Status::Failed, true, 300, (t(0), t(0)), Some(&retried));
        c.count(Status::Success, false, 200, (t(50), t(60)), Some(&first));
        c.count(Status::Success, false, 100, (t(20), t(30)), Some(&second));
        c.count(Status::Lost, false, 9_000_000, (t(10), t(90)), None);
        assert_eq!(
            c.runs,
            StatusCounts {
                success: 2,
                lost: 1,
                ..StatusCounts::default()
            },
            "the retried attempt is not a run"
        );
        assert_eq!(c.durations.count, 3, "every attempt but the lost one");
        assert_eq!(c.durations.sum_ms, 600);
        assert_eq!(c.last_success, Some(t(60)), "the newest, not the last seen");
        assert_eq!(
            c.last_failure,
            Some(t(90)),
            "the lost run, not the retried attempt"
        );
        assert_eq!(c.last_start, Some(t(50)));
        assert_eq!(
            c.last_result,
            [("n".into(), 7.0)],
            "the last run's numbers replace the earlier ones; a run without a result keeps them"
        );
    }

    #[test]
    fn results_are_summed_per_key_over_final_runs() {
        let mut day = DayAgg::default();
        for json in [
            r#"{"removed": 12, "hit_rate": 0.9}"#,
            r#"{"removed": 3, "ok": true}"#,
        ] {
            let result: JobResult = serde_json::from_str(json).expect("an object");
            day.add_run(Status::Success, 10, Some(&result));
        }
        day.add_run(Status::Failed, 10, None);
        let mut sum = PeriodSum::default();
        sum.add(&day);
        sum.add_results(&day);
        sum.add_results(&day);
        let stats = sum.finish();
        let got: Vec<(&str, ResultStats)> = stats
            .results
            .iter()
            .map(|(k, v)| (k.as_str(), *v))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "hit_rate",
                    ResultStats {
                        sum: 1.8,
                        avg: 0.9,
                        count: 2
                    }
                ),
                (
                    "removed",
                    ResultStats {
                        sum: 30.0,
                        avg: 7.5,
                        count: 4
                    }
                ),
            ]
        );
        let mut totals = PeriodSum::default();
        totals.add(&day);
        assert!(totals.finish().results.is_empty(), "totals have no results");
    }

    #[test]
    fn a_large_sum_switches_to_dense_counts_with_the_same_answer() {
        let days: Vec<Durations> = (0..400u64)
            .map(|day| {
                let mut d = Durations::default();
                for i in 0..20 {
                    d.record((day * 7919 + i * 104_729) % 3_600_000);
                }
                d
            })
            .collect();
        let mut sparse = DurationSum::default();
        for d in &days[..50] {
            sparse.add(d);
        }
        assert!(sparse.dense.is_empty(), "few pairs stay sparse");
        let mut dense = DurationSum::default();
        let mut reference = Durations::default();
        for d in &days {
            dense.add(d);
        }
        for day in 0..400u64 {
            for i in 0..20 {
                reference.record((day * 7919 + i * 104_729) % 3_600_000);
            }
        }
        assert!(!dense.dense.is_empty(), "many pairs go dense");
        let mut one = DurationSum::default();
        one.add(&reference);
        assert_eq!(dense.p95(), one.p95());
        assert_eq!(dense.avg(), one.avg());
        assert_eq!((dense.min(), dense.max()), (one.min(), one.max()));
    }

    #[test]
    fn merged_days_give_the_same_answer_as_one_set() {
        let mut one = Durations::default();
        let mut days = vec![Durations::default(); 7];
        for v in 1..=7000u64 {
            one.record(v * 13);
            days[(v % 7) as usize].record(v * 13);
        }
        let mut a = DurationSum::default();
        a.add(&one);
        let mut b = DurationSum::default();
        for d in &days {
            b.add(d);
        }
        assert_eq!(a.p95(), b.p95());
        assert_eq!(a.avg(), b.avg());
    }
}
