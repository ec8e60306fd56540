//! Reading the log back at start-up: the history index is rebuilt from the
//! rotated files (oldest first) and the current one, and the attempts a
//! crash left open are found (SPEC §4: recorded as `lost`).
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
use crate::record::{FinishRecord, LogEvent, StartRecord, Status, ts};

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
    /// (run id, attempt) → a start line with no finish line yet.
    started: HashMap<(String, u32), (u64, StartRecord)>,
    /// run id → its last finish line, which promised a retry.
    retrying: HashMap<String, (u64, FinishRecord)>,
}

impl OpenRuns {
    fn start(&mut self, s: StartRecord) {
        self.order += 1;
        self.retrying.remove(&s.run_id);
        self.started
            .insert((s.run_id.clone(), s.attempt), (self.order, s));
    }

    fn finish(&mut self, f: &FinishRecord) {
        self.order += 1;
        self.started.remove(&(f.run_id.clone(), f.attempt));
        if f.will_retry {
            let mut pending = f.clone();
            // Only the identity and timing are needed; drop the tails.
            pending.stdout.clear();
            pending.stderr.clear();
            self.retrying
                .insert(f.run_id.clone(), (self.order, pending));
        } else {
            self.retrying.remove(&f.run_id);
        }
    }

    /// The `lost` finish records to append, in the order the runs appear in
    /// the log.
    pub(crate) fn into_lost(self, now: DateTime<Utc>, host: &str) -> Vec<FinishRecord> {
        let lost = |s: StartRecord| {
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
                will_retry: false,
                retry_at: None,
                host: host.to_string(),
            }
        };
        let mut out: Vec<(u64, FinishRecord)> = self
            .started
            .into_values()
            .map(|(order, s)| (order, lost(s)))
            .collect();
        out.extend(self.retrying.into_values().map(|(order, f)| {
            let due = f
                .retry_at
                .map(|t| format!(" (it was due at {})", ts::format(&t)))
                .unwrap_or_default();
            let error = format!(
                "the daemon stopped while this attempt was waiting to be retried{due}; it never started"
            );
            let rec = FinishRecord::never_started(
                f.run_id,
                f.job,
                f.attempt.saturating_add(1),
                f.trigger,
                f.scheduled_at,
                now,
                Status::Lost,
                error,
                host.to_string(),
            );
            (order, rec)
        }));
        out.sort_by_key(|(order, _)| *order);
        out.into_iter().map(|(_, r)| r).collect()
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
            Ok(LogEvent::Start(s)) => open.start(s),
            Ok(LogEvent::Finish(f)) => {
                open.finish(&f);
                history.insert(f, loc);
            }
            Ok(LogEvent::Skip(_)) => {}
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
