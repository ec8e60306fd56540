//! Answers kept between requests while their inputs stay the same, for the
//! two large documents that dashboards poll: `GET /api/v1/jobs` (400 KiB
//! with 1,000 jobs) and `GET /api/v1/stats` (200 KiB). Serialising them is
//! most of their cost, and their inputs rarely change between two polls.
//! Also the parts of `GET /api/v1/status` that walk the history: each
//! job's runs over the last 24 h and 7 days, and the failures of the last
//! 24 h.
//!
//! No memo serves a stale answer: each keeps what its inputs were
//! and checks them on every request.
//! - Jobs: the whole answer, served as it is while the scheduler's
//!   [`jobs_version`](crate::daemon::control::Handle::jobs_version) and
//!   the history's generation are those it was made at (the scheduler is
//!   not asked then). When either has moved, the scheduler is asked, and
//!   each job's JSON fragment is reused while its summary is equal and its
//!   last finished run is the same record.
//! - Stats: everything but `period`, reused while the history index has
//!   taken no new record ([`HistoryHandle::generation`]) and the UTC date and
//!   `days` are the same; `period` (whose `to` is now) is written fresh.
//! - Status: `jobs_analysis` (serialised) and `failures_24h`, reused within
//!   the same second while the scheduler's `jobs_version` and the history's
//!   generation are those it was made at (the scheduler is not asked for
//!   the jobs then). The windows end now, so a kept answer is at most a
//!   second behind the clock, never behind the jobs or the history.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::value::RawValue;

use super::document::Document;
use crate::log::{HistoryHandle, StatsError};
use crate::record::FinishRecord;
use crate::wire::{DayStats, Health, JobSummary, JobsAnalysis, LastRun, Period, PeriodStats};

/// How many `days` values the stats memo keeps answers for; a dashboard
/// uses one or two.
const STATS_KEPT: usize = 4;

/// A [`crate::wire::JobView`] that borrows its summary, serialised the same.
#[derive(Serialize)]
struct JobViewRef<'a> {
    #[serde(flatten)]
    job: &'a JobSummary,
    health: Health,
    last_run: Option<LastRun>,
}

/// One job's part of the last `/jobs` answer.
struct JobFragment {
    job: JobSummary,
    last: Option<Arc<FinishRecord>>,
    /// A slice of the whole answer it was last part of, so the kept
    /// answer and its fragments are one copy in memory.
    json: Bytes,
}

impl JobFragment {
    fn new(job: JobSummary, last: Option<Arc<FinishRecord>>) -> serde_json::Result<JobFragment> {
        #[cfg(test)]
        tests::SERIALISED.with(|n| n.set(n.get() + 1));
        let json = serde_json::to_vec(&JobViewRef {
            job: &job,
            health: job.health(last.as_deref().map(|r| r.status)),
            last_run: last.as_deref().map(LastRun::from),
        })?;
        Ok(JobFragment {
            job,
            last,
            json: Bytes::from(json),
        })
    }

    fn is_for(&self, job: &JobSummary, last: &Option<Arc<FinishRecord>>) -> bool {
        let same_run = match (&self.last, last) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        same_run && self.job == *job
    }
}

/// The inputs a `/jobs` answer was made from: the scheduler's
/// [`jobs_version`](crate::daemon::control::Handle::jobs_version) and the
/// history's [`generation`](HistoryHandle::generation), both read before asking.
pub(crate) type JobsKey = (u64, u64);

/// The last `/jobs` answer: whole, and in fragments per job, in its order.
#[derive(Default)]
pub(crate) struct JobsMemo {
    last: Mutex<Vec<JobFragment>>,
    whole: Mutex<Option<(JobsKey, Arc<Document>)>>,
}

impl JobsMemo {
    /// The last answer, if it was made from inputs at `key`: nothing it
    /// shows can have changed since, so it is served without asking the
    /// scheduler.
    pub(crate) fn current(&self, key: JobsKey) -> Option<Arc<Document>> {
        match &*self.whole.lock().unwrap_or_else(|e| e.into_inner()) {
            Some((k, doc)) if *k == key => Some(Arc::clone(doc)),
            _ => None,
        }
    }

    /// [`JobsMemo::render`], kept as the answer for inputs at `key`.
    pub(crate) fn render_at(
        &self,
        key: JobsKey,
        jobs: Vec<JobSummary>,
        last: Vec<Option<Arc<FinishRecord>>>,
    ) -> serde_json::Result<Arc<Document>> {
        let doc = Arc::new(Document::new(self.render(jobs, last)?));
        *self.whole.lock().unwrap_or_else(|e| e.into_inner()) = Some((key, Arc::clone(&doc)));
        Ok(doc)
    }

    /// The `/jobs` document for `jobs` (the scheduler's list, in its order)
    /// and their last finished runs (same order), serialising only the
    /// jobs whose summary or last run changed since the previous answer.
    pub(crate) fn render(
        &self,
        jobs: Vec<JobSummary>,
        last: Vec<Option<Arc<FinishRecord>>>,
    ) -> serde_json::Result<Bytes> {
        // Taken out for the duration: a concurrent request (there is none
        // on the daemon's single-threaded runtime) would only miss.
        let previous = std::mem::take(&mut *self.last.lock().unwrap_or_else(|e| e.into_inner()));
        // Usually the list is the same as last time, job for job; an index
        // by id is built only when it is not.
        let mut by_id: Option<HashMap<&str, &JobFragment>> = None;
        let mut fragments = Vec::with_capacity(jobs.len());
        for (i, (job, last)) in jobs.into_iter().zip(last).enumerate() {
            let old = match previous.get(i) {
                Some(f) if f.job.id == job.id => Some(f),
                _ => by_id
                    .get_or_insert_with(|| {
                        previous.iter().map(|f| (f.job.id.as_str(), f)).collect()
                    })
                    .get(job.id.as_str())
                    .copied(),
            };
            let kept = old
                .filter(|f| f.is_for(&job, &last))
                .map(|f| f.json.clone());
            fragments.push(match kept {
                Some(json) => JobFragment { job, last, json },
                None => JobFragment::new(job, last)?,
            });
        }
        let size = 12 + fragments.iter().map(|f| f.json.len() + 1).sum::<usize>();
        let mut out = Vec::with_capacity(size);
        let mut spans = Vec::with_capacity(fragments.len());
        out.extend_from_slice(b"{\"jobs\":[");
        for (i, f) in fragments.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            spans.push(out.len()..out.len() + f.json.len());
            out.extend_from_slice(&f.json);
        }
        out.extend_from_slice(b"]}");
        let out = Bytes::from(out);
        // Point the fragments into the new answer, letting the previous
        // one (which the reused fragments pointed into) go.
        for (f, span) in fragments.iter_mut().zip(spans) {
            f.json = out.slice(span);
        }
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = fragments;
        Ok(out)
    }
}

/// Everything of a [`Stats`] but `period`, in the same order.
#[derive(Serialize)]
struct StatsTail<'a> {
    totals: &'a PeriodStats,
    jobs: &'a BTreeMap<String, PeriodStats>,
    days: &'a [DayStats],
}

struct StatsEntry {
    generation: u64,
    days: u32,
    today: NaiveDate,
    /// `StatsTail` serialised, without its opening brace.
    tail: Bytes,
}

/// The last few `/stats` answers, least recently used first.
#[derive(Default)]
pub(crate) struct StatsMemo {
    entries: Mutex<Vec<StatsEntry>>,
}

/// Why [`StatsMemo::render`] failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StatsRenderError {
    #[error(transparent)]
    Days(#[from] StatsError),
    #[error("cannot serialise the answer: {0}")]
    Json(#[from] serde_json::Error),
}

impl StatsMemo {
    /// The `/api/v1/stats?days=…` document at `now`, from `history`.
    pub(crate) fn render(
        &self,
        history: &HistoryHandle,
        days: u32,
        now: DateTime<Utc>,
    ) -> Result<Vec<u8>, StatsRenderError> {
        let today = now.date_naive();
        // Read before computing: an answer stored under this generation is
        // at least that fresh.
        let generation = history.generation();
        let kept = {
            let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            entries
                .iter()
                .position(|e| e.days == days && e.generation == generation && e.today == today)
                .map(|i| {
                    // Used now: to the end of the list.
                    let entry = entries.remove(i);
                    let tail = entry.tail.clone();
                    entries.push(entry);
                    tail
                })
        };
        let tail = match kept {
            Some(tail) => tail,
            None => {
                let stats = history.stats(days, now)?;
                let full = serde_json::to_vec(&StatsTail {
                    totals: &stats.totals,
                    jobs: &stats.jobs,
                    days: &stats.days,
                })?;
                let tail = Bytes::from(full).slice(1..);
                let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
                entries.retain(|e| e.days != days);
                if entries.len() >= STATS_KEPT {
                    entries.remove(0);
                }
                entries.push(StatsEntry {
                    generation,
                    days,
                    today,
                    tail: tail.clone(),
                });
                tail
            }
        };
        // What history.stats puts in `period`, for a kept answer as well.
        let period = Period::ending(days, now);
        let mut out = Vec::with_capacity(tail.len() + 128);
        out.extend_from_slice(b"{\"period\":");
        serde_json::to_writer(&mut out, &period)?;
        out.push(b',');
        out.extend_from_slice(&tail);
        Ok(out)
    }
}

/// What [`AnalysisMemo`] keeps an answer under: the scheduler's
/// [`jobs_version`](crate::daemon::control::Handle::jobs_version) and the
/// history's [`generation`](HistoryHandle::generation), both read before
/// asking, and the second (Unix time) it was made at.
pub(crate) type AnalysisKey = (u64, u64, i64);

/// The part of `/status` that is about jobs, at one instant.
pub(crate) struct Analysis {
    /// `jobs_analysis`, serialised.
    pub(crate) json: Box<RawValue>,
    /// Failed runs over the last 24 h, of every job the index holds.
    pub(crate) failures_24h: usize,
}

/// The last `jobs_analysis` and `failures_24h` (see the module comment).
#[derive(Default)]
pub(crate) struct AnalysisMemo {
    last: Mutex<Option<(AnalysisKey, Arc<Analysis>)>>,
}

impl AnalysisMemo {
    /// The last answer, if it was made at `key`: neither the jobs, their
    /// runs nor the second have changed since, so it is served without
    /// asking the scheduler.
    pub(crate) fn current(&self, key: AnalysisKey) -> Option<Arc<Analysis>> {
        match &*self.last.lock().unwrap_or_else(|e| e.into_inner()) {
            Some((k, kept)) if *k == key => Some(Arc::clone(kept)),
            _ => None,
        }
    }

    /// The analysis of `jobs` (the scheduler's list) at `now` from
    /// `history`, kept as the answer for `key`.
    pub(crate) fn render_at(
        &self,
        key: AnalysisKey,
        history: &HistoryHandle,
        jobs: &[JobSummary],
        now: DateTime<Utc>,
    ) -> serde_json::Result<Arc<Analysis>> {
        let analysis = Arc::new(Analysis {
            json: serde_json::value::to_raw_value(&jobs_analysis(history, jobs, now))?,
            failures_24h: history.failures_since(now - chrono::Duration::hours(24)),
        });
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some((key, Arc::clone(&analysis)));
        Ok(analysis)
    }
}

/// `jobs_analysis`: the configured jobs by health and their recent runs.
fn jobs_analysis(history: &HistoryHandle, jobs: &[JobSummary], now: DateTime<Utc>) -> JobsAnalysis {
    let last = history.last_finished_runs(jobs.iter().map(|j| j.id.as_str()));
    let mut health: BTreeMap<Health, usize> = Health::ALL.iter().map(|&h| (h, 0)).collect();
    for (job, last) in jobs.iter().zip(&last) {
        *health
            .entry(job.health(last.as_deref().map(|r| r.status)))
            .or_default() += 1;
    }
    let windows = history.recent_windows(jobs.iter().map(|j| j.id.as_str()), now);
    JobsAnalysis {
        health,
        jobs_with_errors: windows.values().filter(|w| w.last_24h.errors > 0).count(),
        jobs: windows,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::TimeZone;

    use super::*;
    use crate::clock::FakeClock;
    use crate::config::DaemonSettings;
    use crate::record::{LogEvent, Status};
    use crate::wire::{JobList, JobView};

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 29, 12, 0, 0)
            .single()
            .expect("valid instant")
    }

    fn summary(id: &str) -> JobSummary {
        JobSummary {
            id: id.into(),
            description: format!("the \"{id}\" job"),
            schedule: "0 2 * * *".into(),
            schedule_text: "At 02:00 every day, UTC".into(),
            timezone: "UTC".into(),
            action: "command".into(),
            enabled: true,
            paused: false,
            pause: None,
            running: false,
            next_run: Some(t0()),
            consecutive_failures: 0,
            source: "config".into(),
            origin: "jobs.toml".into(),
            signals: Default::default(),
        }
    }

    fn record(job: &str, run_id: &str, minutes_ago: i64) -> FinishRecord {
        let at = t0() - chrono::Duration::minutes(minutes_ago);
        FinishRecord {
            scheduled_at: at,
            started_at: at,
            host: "h".into(),
            node: None,
            ..crate::testkit::finish(job, run_id, Status::Success, at, 1000 + minutes_ago as u64)
        }
    }

    /// What the answer must be: `JobList` serialised directly.
    fn direct(jobs: &[JobSummary], last: &[Option<Arc<FinishRecord>>]) -> serde_json::Value {
        let list = JobList {
            jobs: jobs
                .iter()
                .zip(last)
                .map(|(job, last)| JobView {
                    job: job.clone(),
                    health: job.health(last.as_deref().map(|r| r.status)),
                    last_run: last.as_deref().map(LastRun::from),
                })
                .collect(),
        };
        serde_json::to_value(list).expect("serialise")
    }

    thread_local! {
        /// How many job fragments this thread has serialised.
        pub(super) static SERIALISED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    #[test]
    fn the_jobs_answer_is_always_the_fresh_one() {
        let memo = JobsMemo::default();
        let run = Arc::new(record("a", "r1", 5));
        let mut jobs = vec![summary("a"), summary("b"), summary("c")];
        let mut last = vec![Some(Arc::clone(&run)), None, None];
        // Checks the answer; returns how many jobs were serialised for it.
        let check = |jobs: &[JobSummary], last: &[Option<Arc<FinishRecord>>]| {
            let before = SERIALISED.with(|n| n.get());
            let out = memo.render(jobs.to_vec(), last.to_vec()).expect("render");
            let parsed: serde_json::Value = serde_json::from_slice(&out).expect("valid JSON");
            assert_eq!(parsed, direct(jobs, last));
            SERIALISED.with(|n| n.get()) - before
        };
        assert_eq!(check(&jobs, &last), 3);
        assert_eq!(check(&jobs, &last), 0, "nothing changed");

        // One job changes: only its fragment is made anew.
        jobs[0].paused = true;
        assert_eq!(check(&jobs, &last), 1);

        // A new run (even with equal content) is a new record.
        last[0] = Some(Arc::new(record("a", "r1", 5)));
        assert_eq!(check(&jobs, &last), 1);
        last[1] = Some(Arc::new(record("b", "r2", 1)));
        assert_eq!(check(&jobs, &last), 1);

        // Jobs added and removed anywhere in the list.
        jobs.insert(0, summary("0-first"));
        last.insert(0, None);
        jobs.remove(2);
        last.remove(2);
        jobs.push(summary("d"));
        last.push(None);
        assert_eq!(check(&jobs, &last), 2, "the two new jobs");
        check(&[], &[]);
        assert_eq!(check(&jobs, &last), 4, "all anew after an empty list");
    }

    /// Writes `rec` to the log and waits until the history has it.
    async fn write(opened: &crate::log::OpenedLog, rec: FinishRecord) {
        opened.sink.write(LogEvent::Finish(rec));
        opened.sink.flush().await.expect("flush");
    }

    /// The run log in `dir`, opened at t0.
    async fn open_log(dir: &std::path::Path) -> crate::log::OpenedLog {
        let settings = DaemonSettings {
            listen: "127.0.0.1:0".parse().expect("addr"),
            admin_key_file: None,
            state_dir: dir.to_path_buf(),
            log_file: dir.join("runs.jsonl"),
            log_max_size: 1 << 20,
            log_keep: 1,
            shutdown_grace: Duration::from_secs(1),
            output: crate::config::OutputMode::Files,
            output_keep: std::time::Duration::from_secs(14 * 86_400),
            keys: Vec::new(),
            managed_dir: None,
            managed_users: Vec::new(),
        };
        crate::log::open(&settings, Arc::new(FakeClock::new(t0())), "h".into())
            .await
            .expect("open the log")
    }

    #[tokio::test]
    async fn the_stats_answer_is_recomputed_when_a_record_arrives_or_the_date_changes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let opened = open_log(dir.path()).await;
        let history = &opened.history;
        write(&opened, record("a", "r1", 60 * 30)).await;

        let memo = StatsMemo::default();
        let check = |days: u32, now: DateTime<Utc>| {
            let out = memo.render(history, days, now).expect("render");
            let parsed: serde_json::Value = serde_json::from_slice(&out).expect("valid JSON");
            let fresh = history.stats(days, now).expect("stats");
            assert_eq!(parsed, serde_json::to_value(fresh).expect("serialise"));
            parsed
        };
        let first = check(7, t0());
        // The same inputs a second later: the kept part, a fresh `to`.
        let later = check(7, t0() + chrono::Duration::seconds(1));
        assert_eq!(later["jobs"], first["jobs"]);
        assert_eq!(memo.entries.lock().expect("memo").len(), 1);
        // Another period is kept beside it.
        check(1, t0());
        assert_eq!(memo.entries.lock().expect("memo").len(), 2);

        write(&opened, record("b", "r2", 1)).await;
        let after = check(7, t0() + chrono::Duration::seconds(2));
        assert_eq!(after["totals"]["runs"]["success"], 2);
        assert_eq!(check(1, t0())["totals"]["runs"]["success"], 1);
        // Past midnight the period moves on, with no new record.
        let tomorrow = t0() + chrono::Duration::days(1);
        let moved = check(1, tomorrow);
        assert_eq!(moved["totals"]["runs"]["success"], 0);
        for days in 1..=10 {
            check(days, tomorrow);
        }
        assert!(memo.entries.lock().expect("memo").len() <= STATS_KEPT);
        // The least recently used goes first: a hit on 7 keeps it over 8.
        let kept = || -> Vec<u32> {
            memo.entries
                .lock()
                .expect("memo")
                .iter()
                .map(|e| e.days)
                .collect()
        };
        assert_eq!(kept(), [7, 8, 9, 10]);
        check(7, tomorrow);
        check(11, tomorrow);
        assert_eq!(kept(), [9, 10, 7, 11]);
        assert!(matches!(
            memo.render(history, 0, t0()),
            Err(StatsRenderError::Days(_))
        ));
    }

    #[tokio::test]
    async fn the_kept_analysis_is_served_only_for_the_same_jobs_runs_and_second() {
        let dir = tempfile::tempdir().expect("tempdir");
        let opened = open_log(dir.path()).await;
        let history = &opened.history;
        write(&opened, record("a", "r1", 30)).await;
        let memo = AnalysisMemo::default();
        let mut jobs = vec![summary("a"), summary("b")];
        // Renders at `now` and checks the answer against a fresh analysis.
        let render = |key: AnalysisKey, jobs: &[JobSummary], now: DateTime<Utc>| {
            let kept = memo.render_at(key, history, jobs, now).expect("render");
            let parsed: JobsAnalysis = serde_json::from_str(kept.json.get()).expect("valid JSON");
            assert_eq!(parsed, jobs_analysis(history, jobs, now));
            assert_eq!(
                kept.failures_24h,
                history.failures_since(now - chrono::Duration::hours(24))
            );
            parsed
        };
        let key = (1, history.generation(), t0().timestamp());
        let first = render(key, &jobs, t0());
        assert_eq!(first.jobs["a"].last_24h.runs, 1);
        assert_eq!(first.health[&Health::Ok], 1);
        assert_eq!(first.health[&Health::NeverRun], 1);
        assert!(memo.current(key).is_some(), "same inputs, same second");
        for other in [
            (2, key.1, key.2),
            (key.0, key.1 + 1, key.2),
            (key.0, key.1, key.2 + 1),
        ] {
            assert!(memo.current(other).is_none(), "{other:?}");
        }

        // A failure: a new generation, and the answer made for it shows it.
        let mut failed = record("b", "r2", 1);
        failed.status = Status::Failed;
        write(&opened, failed).await;
        let key = (1, history.generation(), t0().timestamp());
        assert!(memo.current(key).is_none());
        let after = render(key, &jobs, t0());
        assert_eq!(after.jobs_with_errors, 1);
        assert_eq!(after.health[&Health::Failing], 1);

        // A job paused (a new jobs version): counted as paused.
        jobs[0].paused = true;
        let after = render((2, key.1, key.2), &jobs, t0());
        assert_eq!(after.health[&Health::Paused], 1);
        assert!(memo.current(key).is_none(), "only the last answer is kept");
    }
}
