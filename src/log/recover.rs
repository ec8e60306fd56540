//! Reading the log back at start-up: the history index is rebuilt from the
//! rotated files (oldest first) and the current one, and the attempts a
//! crash left open are found (cronduct-run(1): recorded as `lost`).
//!
//! Reading never fails: a garbage line (a partial last line after a crash,
//! a line edited by hand) is skipped with a warning, and an unreadable
//! file is skipped with a warning.
//!
//! Two kinds of run are left open by a crash and both get a `lost` finish
//! record, so that the run has a final status, is counted in the stats and
//! gets its failure notice:
//! - an attempt with a `start` line but no `finish` line: the record has
//!   the start line's `started_at`, `finished_at` = now, the duration
//!   between them;
//! - a run whose last finish line said `will_retry: true` but whose next
//!   attempt never started (the daemon stopped during the retry delay):
//!   the record is the next attempt number, never started, duration 0.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use chrono::{DateTime, Utc};

use super::history::{History, HistoryLimits, Loc};
use super::rotate::{count_rotated, rotated_path};
use crate::record::{FinishRecord, LogEvent, StartRecord, Status, Trigger, ts};

/// The `error` of a `lost` record for an attempt that was running.
pub const LOST_RUNNING: &str =
    "the daemon stopped while this attempt was running (crash or kill -9)";

/// The log as found at start-up.
pub(crate) struct Scanned {
    pub(crate) history: History,
    /// The generation of the current file.
    pub(crate) current_gen: u32,
    pub(crate) open: OpenRuns,
}

/// Runs the log leaves unfinished, in log order.
#[derive(Default)]
pub(crate) struct OpenRuns {
    order: u64,
    /// run id → when it was last opened, and how.
    runs: HashMap<String, (u64, Open)>,
}

/// How a run is left open.
enum Open {
    /// A start line with no finish line yet.
    Running(StartRecord),
    /// The last finish line promised a retry: only what the never-started
    /// next attempt's record needs.
    Retrying {
        job: String,
        /// The attempt that promised the retry.
        attempt: u32,
        trigger: Trigger,
        scheduled_at: DateTime<Utc>,
        retry_at: Option<DateTime<Utc>>,
    },
}

impl OpenRuns {
    fn start(&mut self, s: StartRecord) {
        self.order += 1;
        self.runs
            .insert(s.run_id.clone(), (self.order, Open::Running(s)));
    }

    fn finish(&mut self, f: &FinishRecord) {
        self.order += 1;
        if f.will_retry {
            let open = Open::Retrying {
                job: f.job.clone(),
                attempt: f.attempt,
                trigger: f.trigger,
                scheduled_at: f.scheduled_at,
                retry_at: f.retry_at,
            };
            self.runs.insert(f.run_id.clone(), (self.order, open));
        } else {
            self.runs.remove(&f.run_id);
        }
    }

    /// The `lost` finish records to append, in the order the runs appear in
    /// the log.
    pub(crate) fn into_lost(self, now: DateTime<Utc>, host: &str) -> Vec<FinishRecord> {
        let mut out: Vec<(u64, FinishRecord)> = self
            .runs
            .into_iter()
            .map(|(run_id, (order, open))| {
                let rec = match open {
                    Open::Running(s) => lost_running(s, now, host),
                    Open::Retrying {
                        job,
                        attempt,
                        trigger,
                        scheduled_at,
                        retry_at,
                    } => {
                        let due = retry_at
                            .map(|t| format!(" (it was due at {})", ts::format(&t)))
                            .unwrap_or_default();
                        FinishRecord::never_started(
                            run_id,
                            job,
                            attempt.saturating_add(1),
                            trigger,
                            scheduled_at,
                            now,
                            Status::Lost,
                            format!(
                                "the daemon stopped while this attempt was waiting to be retried{due}; it never started"
                            ),
                            host.to_string(),
                        )
                    }
                };
                (order, rec)
            })
            .collect();
        out.sort_by_key(|(order, _)| *order);
        out.into_iter().map(|(_, r)| r).collect()
    }
}

/// The `lost` record of an attempt that has a start line and no finish
/// line: it ran from the start line's time until `now`.
fn lost_running(s: StartRecord, now: DateTime<Utc>, host: &str) -> FinishRecord {
    let duration = (now - s.ts).num_milliseconds().max(0);
    FinishRecord {
        ts: now,
        run_id: s.run_id,
        job: s.job,
        attempt: s.attempt,
        trigger: s.trigger,
        scheduled_at: s.scheduled_at,
        started_at: s.ts,
        finished_at: now,
        duration_ms: u64::try_from(duration).unwrap_or_default(),
        status: Status::Lost,
        exit_code: None,
        signal: None,
        http_status: None,
        error: Some(LOST_RUNNING.to_string()),
        stdout: String::new(),
        stderr: String::new(),
        output_truncated: false,
        cpu_user_ms: None,
        cpu_system_ms: None,
        max_rss_kib: None,
        output_dropped_bytes: None,
        result: None,
        result_error: None,
        will_retry: false,
        retry_at: None,
        host: host.to_string(),
        node: None,
    }
}

/// Reads every log file, oldest first, into a new history index and the
/// set of open runs.
pub(crate) fn scan(base: &Path, limits: HistoryLimits) -> Scanned {
    let rotated = count_rotated(base);
    let mut history = History::new(base.to_path_buf(), rotated, limits);
    let mut open = OpenRuns::default();
    for i in (0..=rotated).rev() {
        let path = rotated_path(base, i);
        match File::open(&path) {
            Ok(file) => scan_file(&path, file, rotated - i, &mut history, &mut open),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(path = %path.display(), "cannot read the log; its runs are left out of the history: {e}");
            }
        }
    }
    Scanned {
        history,
        current_gen: rotated,
        open,
    }
}

fn scan_file(path: &Path, file: File, seg: u32, history: &mut History, open: &mut OpenRuns) {
    let mut reader = BufReader::with_capacity(1 << 18, file);
    let mut line = Vec::new();
    let mut offset = 0u64;
    let mut number = 0u64;
    let mut garbage = 0u64;
    let mut first_garbage = 0u64;
    loop {
        line.clear();
        let n = match reader.read_until(b'\n', &mut line) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(path = %path.display(), line = number + 1, "reading the log stopped early: {e}");
                break;
            }
        };
        number += 1;
        let loc = Loc {
            seg,
            offset,
            len: n as u64,
        };
        offset += n as u64;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        // A last line without its newline still counts if it parses whole.
        match serde_json::from_slice::<LogEvent>(&line) {
            Ok(LogEvent::Start(s)) => {
                history.started(&s.job, s.ts);
                open.start(s);
            }
            Ok(LogEvent::Finish(f)) => {
                open.finish(&f);
                history.insert(f, loc);
            }
            Ok(LogEvent::Skip(s)) => history.skipped(&s.job),
            Ok(LogEvent::Admin(a)) => history.audited(a),
            Ok(LogEvent::Slow(_) | LogEvent::Missed(_)) => {}
            Err(_) => {
                garbage += 1;
                if first_garbage == 0 {
                    first_garbage = number;
                }
            }
        }
    }
    if garbage > 0 {
        tracing::warn!(
            path = %path.display(),
            "skipped {garbage} line(s) that are not log records (the first is line {first_garbage}; a partial last line is normal after a crash)"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).expect("valid time")
    }

    fn start(run_id: &str, attempt: u32, secs: i64) -> StartRecord {
        StartRecord {
            ts: at(secs),
            run_id: run_id.into(),
            job: format!("job-{run_id}"),
            attempt,
            trigger: Trigger::Schedule,
            scheduled_at: at(0),
            pid: Some(42),
            host: "h".into(),
        }
    }

    fn finish(s: &StartRecord, status: Status, will_retry: bool) -> FinishRecord {
        let mut f = lost_running(s.clone(), s.ts, "h");
        f.status = status;
        f.error = None;
        f.stdout = "x".repeat(100);
        f.will_retry = will_retry;
        f.retry_at = will_retry.then(|| s.ts + chrono::Duration::seconds(60));
        f
    }

    #[test]
    fn each_run_is_open_by_its_last_line_only() {
        let mut open = OpenRuns::default();
        // X: retried, the second attempt is running.
        let x1 = start("X", 1, 1);
        open.start(x1.clone());
        open.finish(&finish(&x1, Status::Failed, true));
        let x2 = start("X", 2, 3);
        open.start(x2.clone());
        // Y: retried, the second attempt finished for good.
        let y1 = start("Y", 1, 2);
        open.start(y1.clone());
        open.finish(&finish(&y1, Status::Failed, true));
        let y2 = start("Y", 2, 4);
        open.start(y2.clone());
        open.finish(&finish(&y2, Status::Success, false));
        // Z: failed, promised a retry that never started.
        let z1 = start("Z", 1, 5);
        open.start(z1.clone());
        open.finish(&finish(&z1, Status::Timeout, true));

        let now = at(100);
        let lost = open.into_lost(now, "h");
        let ids: Vec<(&str, u32)> = lost
            .iter()
            .map(|r| (r.run_id.as_str(), r.attempt))
            .collect();
        assert_eq!(ids, [("X", 2), ("Z", 2)], "in log order");
        assert_eq!(lost[0], lost_running(x2, now, "h"));
        let z = &lost[1];
        assert_eq!(
            (z.status, z.started_at, z.duration_ms),
            (Status::Lost, now, 0)
        );
        assert_eq!(z.job, "job-Z");
        assert!(z.stdout.is_empty());
        assert_eq!(
            z.error.as_deref(),
            Some(
                "the daemon stopped while this attempt was waiting to be retried (it was due at 2027-01-15T08:01:05.000Z); it never started"
            )
        );
    }
}
