//! The history index: what the API answers about past runs (cronduct.toml(5)
//! ADMIN API), rebuilt from the log at start-up and fed by the writer after
//! each line reaches the file, so the API sees exactly what the log has.
//!
//! Memory stays bounded however long the daemon runs:
//! - per finish record, a compact entry (~64 bytes: job, attempt, status,
//!   finish time, a hash of the run id and where the line lies on disk),
//!   at most [`HistoryLimits::max_entries`] of them, oldest evicted first,
//!   and evicted as soon as rotation deletes the file they point into;
//! - the full records (with their output tails) only for the newest
//!   [`HistoryLimits::recent_full`] entries and for each job's latest
//!   record; any other record is read back from its file on demand;
//! - statistics as per-job, per-UTC-day aggregates ([`super::stats`]) for
//!   the last 90 days, whatever the run rate;
//! - the `/metrics` counters ([`MetricsSnapshot`]), about 200 bytes per job
//!   id the log has mentioned since start-up; they are never evicted, so
//!   that they never go down;
//! - the newest [`AUDIT_KEEP`] `admin` records (the audit trail of
//!   `/api/v1/audit`), about 200 bytes each; older ones stay in the files.
//!
//! A record read back from disk is checked against its entry (job,
//! attempt, run id); if the file was changed behind the daemon's back the
//! record is left out of the answer, with a warning, rather than a wrong
//! one returned.
//!
//! Queries hold the read lock while they read from disk so that rotation
//! (which takes the write lock) cannot move a file under them; a query of
//! 50 records costs well under a millisecond from the page cache.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fs::File;
use std::hash::{Hash, Hasher};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use chrono::{DateTime, Datelike, Utc};

use super::rotate::segment_path;
use super::stats::{
    DayAgg, DurationSum, JobCounters, MetricsSnapshot, PeriodSum, StatsError, count_runs, job_stats,
};
use crate::record::{AdminRecord, FinishRecord, LogEvent, Status};
use crate::wire::{DayStats, JobAnalysis, JobStats, Period, Stats, StatusCounts, WindowStats};

/// The longest period `stats` answers for, and how many days of
/// aggregates the index keeps.
pub const MAX_STATS_DAYS: u32 = 90;

/// How many `admin` records the index keeps for `/api/v1/audit`: weeks of
/// an operator's work in about 2 MiB. Older ones stay in the log files.
pub const AUDIT_KEEP: usize = 10_000;

/// How much the index keeps in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryLimits {
    /// Finish records that can be listed (`runs`, `run`); older ones are
    /// evicted (their statistics stay). Measured: the whole index for
    /// 100,000 records of 1,000 jobs takes 18 MiB, and each further entry
    /// about 100 bytes, so this default keeps it under about 30 MiB.
    pub max_entries: usize,
    /// How many of the newest finish records are kept whole in memory, so
    /// the common "latest runs" queries need no disk read.
    pub recent_full: usize,
}

impl Default for HistoryLimits {
    fn default() -> Self {
        HistoryLimits {
            max_entries: 200_000,
            recent_full: 1_000,
        }
    }
}

/// Where a finish line lies: in which file generation (see
/// [`segment_path`]) and at which bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Loc {
    pub(crate) seg: u32,
    pub(crate) offset: u64,
    pub(crate) len: u64,
}

/// The compact form of one finish record.
#[derive(Debug)]
struct Entry {
    loc: Loc,
    finished_ms: i64,
    run_hash: u64,
    job: Arc<str>,
    attempt: u32,
    /// Saturated at 49 days, which no window of `recent_windows` reaches.
    duration_ms: u32,
    status: Status,
    will_retry: bool,
}

#[derive(Debug, Default)]
struct JobIndex {
    /// Sequence numbers of this job's entries, oldest first.
    seqs: VecDeque<u64>,
    /// The job's latest finish record.
    last: Option<Arc<FinishRecord>>,
    /// The final attempt of the job's latest finished run (the newest
    /// record with `will_retry: false`); usually the same as `last`.
    last_final: Option<Arc<FinishRecord>>,
    /// Aggregates by UTC day (days since the Common Era).
    days: BTreeMap<i32, DayAgg>,
}

/// A listing request (`GET /api/v1/runs`, `GET /api/v1/jobs/{id}/runs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunFilter {
    pub job: Option<String>,
    /// Attempts that ended with this status.
    pub status: Option<Status>,
    /// Attempts that finished at or after this instant.
    pub since: Option<DateTime<Utc>>,
    /// At most this many records; the caller enforces the API's maximum.
    pub limit: usize,
}

/// The index itself; shared as a [`HistoryHandle`].
#[derive(Debug)]
pub(crate) struct History {
    limits: HistoryLimits,
    /// The log file; rotated generations live next to it.
    base: PathBuf,
    /// The generation of the file at `base`.
    current_gen: u32,
    /// A handle on the file the writer appends to and its generation:
    /// records of that generation are read through it, wherever the file
    /// has been moved, so a rotation done outside the daemon loses none of
    /// them even before the writer notices it.
    live: Option<(u32, File)>,
    entries: VecDeque<Entry>,
    /// The sequence number of `entries[0]`.
    first_seq: u64,
    /// The newest records in full; the last one is the newest entry's.
    recent: VecDeque<Arc<FinishRecord>>,
    /// Run id hash → the sequence number of the run's latest entry.
    runs: HashMap<u64, u64>,
    jobs: HashMap<Arc<str>, JobIndex>,
    /// The `/metrics` counters of every job seen; never evicted.
    counters: HashMap<Arc<str>, JobCounters>,
    /// The newest day seen, for dropping aggregates older than 90 days.
    newest_day: i32,
    /// The newest `admin` records, oldest first, at most [`AUDIT_KEEP`].
    audit: VecDeque<AdminRecord>,
}

fn run_hash(run_id: &str) -> u64 {
    let mut h = DefaultHasher::new();
    run_id.hash(&mut h);
    h.finish()
}

fn day_number(t: DateTime<Utc>) -> i32 {
    t.date_naive().num_days_from_ce()
}

impl History {
    /// An empty index for the log at `base`, whose current file is
    /// generation `current_gen`.
    pub(crate) fn new(base: PathBuf, current_gen: u32, limits: HistoryLimits) -> History {
        History {
            limits,
            base,
            current_gen,
            live: None,
            entries: VecDeque::new(),
            first_seq: 0,
            recent: VecDeque::new(),
            runs: HashMap::new(),
            jobs: HashMap::new(),
            counters: HashMap::new(),
            newest_day: i32::MIN,
            audit: VecDeque::new(),
        }
    }

    /// Adds an `admin` record that has been written.
    pub(crate) fn audited(&mut self, rec: AdminRecord) {
        if self.audit.len() == AUDIT_KEEP {
            self.audit.pop_front();
        }
        self.audit.push_back(rec);
    }

    /// `admin` records at or after `since`, newest first (in log order),
    /// at most `limit`.
    pub fn audit(&self, since: Option<DateTime<Utc>>, limit: usize) -> Vec<AdminRecord> {
        self.audit
            .iter()
            .rev()
            .filter(|r| since.is_none_or(|t| r.ts >= t))
            .take(limit)
            .cloned()
            .collect()
    }

    fn end_seq(&self) -> u64 {
        self.first_seq + self.entries.len() as u64
    }

    fn entry(&self, seq: u64) -> Option<&Entry> {
        let i = seq.checked_sub(self.first_seq)?;
        self.entries.get(usize::try_from(i).ok()?)
    }

    /// Adds a finish record that has been written at `loc`.
    pub(crate) fn insert(&mut self, rec: FinishRecord, loc: Loc) {
        let seq = self.end_seq();
        let day = day_number(rec.finished_at);
        // `counters` holds every job ever seen: intern the name there.
        let job: Arc<str> = match self.counters.get_key_value(rec.job.as_str()) {
            Some((k, _)) => Arc::clone(k),
            None => Arc::from(rec.job.as_str()),
        };
        self.counters.entry(Arc::clone(&job)).or_default().count(
            rec.status,
            rec.will_retry,
            rec.duration_ms,
            (rec.started_at, rec.finished_at),
            rec.result.as_ref(),
        );
        let hash = run_hash(&rec.run_id);
        let entry = Entry {
            loc,
            finished_ms: rec.finished_at.timestamp_millis(),
            run_hash: hash,
            job: Arc::clone(&job),
            attempt: rec.attempt,
            duration_ms: u32::try_from(rec.duration_ms).unwrap_or(u32::MAX),
            status: rec.status,
            will_retry: rec.will_retry,
        };
        let oldest_kept = self.newest_day.max(day) - MAX_STATS_DAYS as i32;
        let (status, will_retry, duration) = (rec.status, rec.will_retry, rec.duration_ms);
        let rec = Arc::new(rec);
        let index = self.jobs.entry(Arc::clone(&job)).or_default();
        if day >= oldest_kept {
            let agg = index.days.entry(day).or_default();
            agg.attempts = agg.attempts.saturating_add(1);
            agg.usage
                .record(rec.cpu_user_ms, rec.cpu_system_ms, rec.max_rss_kib);
            if !will_retry {
                agg.add_run(status, duration, rec.result.as_ref());
            }
        }
        index.seqs.push_back(seq);
        if !will_retry {
            index.last_final = Some(Arc::clone(&rec));
        }
        index.last = Some(Arc::clone(&rec));
        self.entries.push_back(entry);
        self.runs.insert(hash, seq);
        self.recent.push_back(rec);
        if self.recent.len() > self.limits.recent_full {
            self.recent.pop_front();
        }
        if day > self.newest_day {
            self.newest_day = day;
            self.drop_old_days();
        }
        while self.entries.len() > self.limits.max_entries {
            self.evict_front();
        }
    }

    fn drop_old_days(&mut self) {
        let oldest_kept = self.newest_day - MAX_STATS_DAYS as i32;
        self.jobs.retain(|_, j| {
            j.days = j.days.split_off(&oldest_kept);
            !(j.days.is_empty() && j.seqs.is_empty())
        });
    }

    fn evict_front(&mut self) {
        let Some(e) = self.entries.pop_front() else {
            return;
        };
        let seq = self.first_seq;
        self.first_seq += 1;
        if let Some(j) = self.jobs.get_mut(&e.job) {
            if j.seqs.front() == Some(&seq) {
                j.seqs.pop_front();
            }
            if j.seqs.is_empty() && j.days.is_empty() {
                self.jobs.remove(&e.job);
            }
        }
        if self.runs.get(&e.run_hash) == Some(&seq) {
            self.runs.remove(&e.run_hash);
        }
        if self.recent.len() > self.entries.len() {
            self.recent.pop_front();
        }
    }

    /// A start line for `job` was written (or read at start-up).
    pub(crate) fn started(&mut self, job: &str, at: DateTime<Utc>) {
        self.counters_of(job).started(at);
    }

    /// A skip line for `job` was written (or read at start-up).
    pub(crate) fn skipped(&mut self, job: &str) {
        self.counters_of(job).skips += 1;
    }

    /// The job's counters, its name interned as in [`History::insert`].
    fn counters_of(&mut self, job: &str) -> &mut JobCounters {
        let key = match self.counters.get_key_value(job) {
            Some((k, _)) => Arc::clone(k),
            None => Arc::from(job),
        };
        self.counters.entry(key).or_default()
    }

    /// The log was rotated: the file at `base` is now generation
    /// `new_gen`, and only the `keep` generations before it still exist.
    pub(crate) fn rotated(&mut self, new_gen: u32, keep: u32) {
        self.current_gen = new_gen;
        let oldest = new_gen.saturating_sub(keep);
        while self.entries.front().is_some_and(|e| e.loc.seg < oldest) {
            self.evict_front();
        }
    }

    /// The writer opened `file` as generation `gen_`.
    pub(crate) fn live(&mut self, gen_: u32, file: File) {
        self.live = Some((gen_, file));
    }

    /// The full record of entry `seq`: from memory when it is recent,
    /// otherwise read back from its file.
    fn fetch(&self, seq: u64, files: &mut HashMap<u32, Option<File>>) -> Option<FinishRecord> {
        let e = self.entry(seq)?;
        let from_end = self.end_seq() - seq;
        if from_end <= self.recent.len() as u64 {
            let i = self.recent.len() - from_end as usize;
            return self.recent.get(i).map(|r| FinishRecord::clone(r));
        }
        let path = segment_path(&self.base, self.current_gen, e.loc.seg);
        let live = self
            .live
            .as_ref()
            .filter(|(g, _)| *g == e.loc.seg)
            .map(|(_, f)| f);
        let file = match live {
            Some(f) => f,
            None => files
            .entry(e.loc.seg)
            .or_insert_with(|| match File::open(&path) {
                Ok(f) => Some(f),
                Err(err) => {
                    tracing::warn!(path = %path.display(), "cannot open the log to read a past run: {err}");
                    None
                }
            })
            .as_ref()?,
        };
        match read_finish(file, e.loc) {
            Some(r)
                if r.attempt == e.attempt
                    && *r.job == *e.job
                    && run_hash(&r.run_id) == e.run_hash =>
            {
                Some(r)
            }
            _ => {
                tracing::warn!(
                    path = %path.display(),
                    offset = e.loc.offset,
                    job = %e.job,
                    "a past run is no longer where the log had it (was the file changed outside cronduct?); leaving it out"
                );
                None
            }
        }
    }

    /// Finish records matching `filter`, newest first (in log order).
    pub fn runs(&self, filter: &RunFilter) -> Vec<FinishRecord> {
        let mut out = Vec::new();
        if filter.limit == 0 {
            return out;
        }
        let since = filter.since.map(|t| t.timestamp_millis());
        let wanted = |e: &Entry| {
            filter.status.is_none_or(|s| s == e.status) && since.is_none_or(|t| e.finished_ms >= t)
        };
        let mut files = HashMap::new();
        let mut take = |seq: u64, out: &mut Vec<FinishRecord>| {
            if let Some(e) = self.entry(seq) {
                if wanted(e) {
                    if let Some(r) = self.fetch(seq, &mut files) {
                        out.push(r);
                    }
                }
            }
            out.len() >= filter.limit
        };
        match &filter.job {
            Some(job) => {
                if let Some(j) = self.jobs.get(job.as_str()) {
                    for &seq in j.seqs.iter().rev() {
                        if take(seq, &mut out) {
                            break;
                        }
                    }
                }
            }
            None => {
                for seq in (self.first_seq..self.end_seq()).rev() {
                    if take(seq, &mut out) {
                        break;
                    }
                }
            }
        }
        out
    }

    /// Every attempt of a run, in attempt order; `None` when the index does
    /// not hold the run.
    pub fn run(&self, run_id: &str) -> Option<Vec<FinishRecord>> {
        let hash = run_hash(run_id);
        let latest = *self.runs.get(&hash)?;
        let job = &self.entry(latest)?.job;
        let seqs = &self.jobs.get(job)?.seqs;
        let upto = seqs.partition_point(|&s| s <= latest);
        let mut files = HashMap::new();
        // Newest first, stopping at attempt 1: the run's first record, so
        // the rest of the job's history is not walked.
        let mut attempts = Vec::new();
        for r in seqs
            .range(..upto)
            .rev()
            .filter(|&&s| self.entry(s).is_some_and(|e| e.run_hash == hash))
            .filter_map(|&s| self.fetch(s, &mut files))
            .filter(|r| r.run_id == run_id)
        {
            let first = r.attempt <= 1;
            attempts.push(r);
            if first {
                break;
            }
        }
        if attempts.is_empty() {
            return None;
        }
        // Back to log order; the stable sort only matters for a log whose
        // lines are out of attempt order.
        attempts.reverse();
        attempts.sort_by_key(|r| r.attempt);
        Some(attempts)
    }

    /// The job's latest finish record (possibly an attempt that will be
    /// retried).
    pub fn last_run(&self, job: &str) -> Option<FinishRecord> {
        self.jobs
            .get(job)?
            .last
            .as_ref()
            .map(|r| FinishRecord::clone(r))
    }

    /// For each of `jobs`, the final attempt of its latest finished run.
    pub fn last_finished_runs<'a>(
        &self,
        jobs: impl IntoIterator<Item = &'a str>,
    ) -> Vec<Option<Arc<FinishRecord>>> {
        jobs.into_iter()
            .map(|j| self.jobs.get(j).and_then(|i| i.last_final.clone()))
            .collect()
    }

    /// The `/metrics` counters (see [`MetricsSnapshot`]).
    pub fn metrics_snapshot(&self) -> MetricsSnapshot {
        MetricsSnapshot {
            jobs: self
                .counters
                .iter()
                .map(|(job, c)| (job.to_string(), c.clone()))
                .collect(),
        }
    }

    /// The job's statistics over the last 90 days (see [`JobStats`]).
    pub fn job_stats(&self, job: &str) -> JobStats {
        let mut runs = StatusCounts::default();
        let mut durations = DurationSum::default();
        if let Some(j) = self.jobs.get(job) {
            for agg in j.days.values() {
                count_runs(agg, &mut runs);
                durations.add(&agg.durations);
            }
        }
        job_stats(runs, durations)
    }

    /// Statistics for the `days` UTC dates ending with `now`'s (see
    /// [`super::stats`] for the counting rules).
    pub fn stats(&self, days: u32, now: DateTime<Utc>) -> Result<Stats, StatsError> {
        self.stats_of(self.jobs.iter(), days, now)
    }

    /// [`History::stats`] of one job only: its per-day buckets are the
    /// status page's outcome chart. A job without runs has all-zero days.
    pub fn job_stats_by_day(
        &self,
        job: &str,
        days: u32,
        now: DateTime<Utc>,
    ) -> Result<Stats, StatsError> {
        self.stats_of(self.jobs.get_key_value(job), days, now)
    }

    fn stats_of<'a>(
        &'a self,
        of: impl IntoIterator<Item = (&'a Arc<str>, &'a JobIndex)>,
        days: u32,
        now: DateTime<Utc>,
    ) -> Result<Stats, StatsError> {
        if !(1..=MAX_STATS_DAYS).contains(&days) {
            return Err(StatsError::Days {
                days,
                max: MAX_STATS_DAYS,
            });
        }
        let today = now.date_naive();
        let period = Period::ending(days, now);
        let first = period.first_day();
        let (lo, hi) = (first.num_days_from_ce(), today.num_days_from_ce());
        let mut totals = PeriodSum::default();
        let mut per_day = vec![(StatusCounts::default(), 0u64); days as usize];
        let mut jobs = BTreeMap::new();
        for (name, j) in of {
            let mut sum = PeriodSum::default();
            let mut any = false;
            for (&d, agg) in j.days.range(lo..=hi) {
                any = true;
                sum.add(agg);
                sum.add_results(agg);
                totals.add(agg);
                if let Some(slot) = per_day.get_mut((d - lo) as usize) {
                    count_runs(agg, &mut slot.0);
                    slot.1 += u64::from(agg.attempts);
                }
            }
            if any {
                jobs.insert(name.to_string(), sum.finish());
            }
        }
        let days_out = per_day
            .into_iter()
            .zip(first.iter_days())
            .map(|((runs, attempts), date)| DayStats {
                date: date.format("%Y-%m-%d").to_string(),
                runs,
                attempts,
            })
            .collect();
        Ok(Stats {
            period,
            totals: totals.finish(),
            jobs,
            days: days_out,
        })
    }

    /// Each of `jobs`' runs over the last 24 hours and 7 days before `now`
    /// (runs that finished in `(now - window, now]`), counted by their final
    /// status among the entries the index holds. Walks each job's newest
    /// entries only, back to the 7-day bound.
    pub fn recent_windows<'a>(
        &self,
        jobs: impl IntoIterator<Item = &'a str>,
        now: DateTime<Utc>,
    ) -> BTreeMap<String, JobAnalysis> {
        let now_ms = now.timestamp_millis();
        let day_ago = now_ms - 24 * 3600 * 1000;
        let week_ago = now_ms - 7 * 24 * 3600 * 1000;
        jobs.into_iter()
            .map(|job| {
                let (mut day, mut week) = (Window::default(), Window::default());
                let seqs = self.jobs.get(job).map(|j| &j.seqs);
                for e in seqs
                    .into_iter()
                    .flatten()
                    .rev()
                    .filter_map(|&q| self.entry(q))
                {
                    if e.finished_ms <= week_ago {
                        break;
                    }
                    if e.will_retry || e.finished_ms > now_ms {
                        continue;
                    }
                    week.add(e);
                    if e.finished_ms > day_ago {
                        day.add(e);
                    }
                }
                let analysis = JobAnalysis {
                    last_24h: day.finish(),
                    last_7d: week.finish(),
                };
                (job.to_string(), analysis)
            })
            .collect()
    }

    /// Runs whose final status is a failure (failed, timeout, error, lost)
    /// and that finished at or after `t`, among the entries the index
    /// holds.
    pub fn failures_since(&self, t: DateTime<Utc>) -> usize {
        let t = t.timestamp_millis();
        self.entries
            .iter()
            .filter(|e| !e.will_retry && e.status.is_failure() && e.finished_ms >= t)
            .count()
    }
}

/// Finish records of one job counted together elsewhere (the cluster
/// database groups them so): those that finished on one UTC day with one
/// status and `will_retry` flag.
#[derive(Debug, Clone, PartialEq)]
pub struct CountGroup {
    pub job: String,
    pub day: chrono::NaiveDate,
    pub status: Status,
    pub will_retry: bool,
    pub count: u32,
}

/// One job's finish records over a whole period with one status,
/// `will_retry` flag and duration histogram bucket: their durations and
/// resource use.
#[derive(Debug, Clone, PartialEq)]
pub struct DurationGroup {
    pub job: String,
    pub status: Status,
    pub will_retry: bool,
    /// The bucket of their durations (see `stats::bucket_of`).
    pub bucket: u16,
    pub count: u32,
    pub duration_sum_ms: u64,
    pub duration_min_ms: u64,
    pub duration_max_ms: u64,
    /// How many reported resource use, their CPU time (user + system)
    /// and their largest resident set.
    pub measured: u64,
    pub cpu_ms: u64,
    pub max_rss_kib: u64,
}

/// One numeric result key of one job's final attempts over a period.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultGroup {
    pub job: String,
    pub key: String,
    pub sum: f64,
    pub count: u64,
}

/// Statistics from records counted elsewhere, with the same counting
/// rules, histogram and shapes as the index's own (see [`super::stats`]).
///
/// The counts go on their own days; what is only ever summed over the
/// whole period (durations, resource use, results) goes on the period's
/// first day, so that what is read is bounded by jobs × days plus jobs ×
/// buckets rather than their product. An answer only ever reports the
/// per-day counts, never per-day durations, so nothing is lost.
#[derive(Debug)]
pub struct Aggregated {
    history: History,
    first: chrono::NaiveDate,
}

impl Aggregated {
    /// Aggregates of a period starting on `first`.
    pub fn new(first: chrono::NaiveDate) -> Aggregated {
        let limits = HistoryLimits {
            max_entries: 0,
            recent_full: 0,
        };
        Aggregated {
            history: History::new(PathBuf::new(), 0, limits),
            first,
        }
    }

    fn day(&mut self, job: &str, day: chrono::NaiveDate) -> &mut DayAgg {
        let index = self.history.jobs.entry(Arc::from(job)).or_default();
        index.days.entry(day.num_days_from_ce()).or_default()
    }

    pub fn add_counts(&mut self, g: &CountGroup) {
        let agg = self.day(&g.job, g.day);
        agg.attempts = agg.attempts.saturating_add(g.count);
        if !g.will_retry {
            agg.add_runs(g.status, g.count);
        }
    }

    pub fn add_durations(&mut self, g: &DurationGroup) {
        let first = self.first;
        let agg = self.day(&g.job, first);
        agg.usage.record_many(g.measured, g.cpu_ms, g.max_rss_kib);
        if !g.will_retry && g.status != Status::Lost {
            agg.durations.record_bucket(
                g.bucket,
                g.count,
                g.duration_sum_ms,
                g.duration_min_ms,
                g.duration_max_ms,
            );
        }
    }

    pub fn add_result(&mut self, g: &ResultGroup) {
        let first = self.first;
        self.day(&g.job, first)
            .add_result_sum(&g.key, g.sum, g.count);
    }

    /// As [`History::stats`].
    pub fn stats(&self, days: u32, now: DateTime<Utc>) -> Result<Stats, StatsError> {
        self.history.stats(days, now)
    }

    /// As [`History::job_stats`], over every day added.
    pub fn job_stats(&self, job: &str) -> JobStats {
        self.history.job_stats(job)
    }
}

/// Reads and parses the finish line at `loc`.
fn read_finish(file: &File, loc: Loc) -> Option<FinishRecord> {
    let mut buf = vec![0u8; usize::try_from(loc.len).ok()?];
    file.read_exact_at(&mut buf, loc.offset).ok()?;
    match serde_json::from_slice(&buf) {
        Ok(LogEvent::Finish(r)) => Some(r),
        _ => None,
    }
}

/// A [`WindowStats`] being counted.
#[derive(Default)]
struct Window {
    runs: u64,
    errors: u64,
    measured: u64,
    sum_ms: u64,
    min_ms: Option<u64>,
    max_ms: Option<u64>,
}

impl Window {
    fn add(&mut self, e: &Entry) {
        self.runs += 1;
        self.errors += u64::from(e.status.is_failure());
        if e.status == Status::Lost {
            return;
        }
        let ms = u64::from(e.duration_ms);
        self.measured += 1;
        self.sum_ms += ms;
        self.min_ms = Some(self.min_ms.map_or(ms, |m| m.min(ms)));
        self.max_ms = Some(self.max_ms.map_or(ms, |m| m.max(ms)));
    }

    fn finish(self) -> WindowStats {
        WindowStats {
            runs: self.runs,
            errors: self.errors,
            error_rate: (self.runs > 0).then(|| self.errors as f64 / self.runs as f64),
            avg_duration_ms: (self.measured > 0).then(|| self.sum_ms / self.measured),
            min_duration_ms: self.min_ms,
            max_duration_ms: self.max_ms,
        }
    }
}

/// A cheap, clonable, shared handle on the index for the API and the log
/// writer. Every query takes the lock only for its own duration.
#[derive(Debug, Clone)]
pub struct HistoryHandle {
    inner: Arc<RwLock<History>>,
}

impl HistoryHandle {
    pub(crate) fn new(history: History) -> HistoryHandle {
        HistoryHandle {
            inner: Arc::new(RwLock::new(history)),
        }
    }

    /// A poisoned lock only means a panic elsewhere; the index itself is
    /// always consistent between method calls, so keep serving it.
    fn read(&self) -> RwLockReadGuard<'_, History> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, History> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Finish records (one per attempt) matching `filter`, newest first
    /// (in log order).
    pub fn runs(&self, filter: &RunFilter) -> Vec<FinishRecord> {
        self.read().runs(filter)
    }

    /// The audit trail: `admin` records at or after `since`, newest first,
    /// at most `limit`.
    pub fn audit(&self, since: Option<DateTime<Utc>>, limit: usize) -> Vec<AdminRecord> {
        self.read().audit(since, limit)
    }

    /// Every attempt of a run, in attempt order; `None` when the index does
    /// not hold the run.
    pub fn run(&self, run_id: &str) -> Option<Vec<FinishRecord>> {
        self.read().run(run_id)
    }

    /// The job's latest finish record (possibly of an attempt that will be
    /// retried).
    pub fn last_run(&self, job: &str) -> Option<FinishRecord> {
        self.read().last_run(job)
    }

    /// For each of `jobs` (in that order), the final attempt of its latest
    /// finished run: the newest record with `will_retry: false`, so a run
    /// whose retry is still pending does not hide the previous outcome.
    /// One lock for the whole list, and no copy of the records.
    pub fn last_finished_runs<'a>(
        &self,
        jobs: impl IntoIterator<Item = &'a str>,
    ) -> Vec<Option<Arc<FinishRecord>>> {
        self.read().last_finished_runs(jobs)
    }

    /// The counters behind `/metrics`: cheap (no disk read, no scan of the
    /// index), about 200 bytes per job (see [`MetricsSnapshot`]).
    pub fn metrics_snapshot(&self) -> MetricsSnapshot {
        self.read().metrics_snapshot()
    }

    /// The job's statistics over the last 90 days (see [`JobStats`]).
    pub fn job_stats(&self, job: &str) -> JobStats {
        self.read().job_stats(job)
    }

    /// Statistics for the `days` UTC dates ending with `now`'s, `days` in
    /// 1–[`MAX_STATS_DAYS`] (see [`Stats`] for the counting rules).
    pub fn stats(&self, days: u32, now: DateTime<Utc>) -> Result<Stats, StatsError> {
        self.read().stats(days, now)
    }

    /// One job's statistics by day (see [`History::job_stats_by_day`]).
    pub fn job_stats_by_day(
        &self,
        job: &str,
        days: u32,
        now: DateTime<Utc>,
    ) -> Result<Stats, StatsError> {
        self.read().job_stats_by_day(job, days, now)
    }

    /// Runs whose final status is a failure (failed, timeout, error, lost)
    /// that finished at or after `t`, among the entries the index holds.
    pub fn failures_since(&self, t: DateTime<Utc>) -> usize {
        self.read().failures_since(t)
    }

    /// Each of `jobs`' runs over the last 24 hours and 7 days (see
    /// [`History::recent_windows`]).
    pub fn recent_windows<'a>(
        &self,
        jobs: impl IntoIterator<Item = &'a str>,
        now: DateTime<Utc>,
    ) -> BTreeMap<String, JobAnalysis> {
        self.read().recent_windows(jobs, now)
    }

    /// How many finish records the index has taken in since it was
    /// created. It grows with every record, and only then can an answer of
    /// [`HistoryHandle::stats`] change (besides the date and `period.to`),
    /// so callers may keep an answer while it stays the same.
    pub fn generation(&self) -> u64 {
        self.read().end_seq()
    }
}
