//! What a notice says: one type per event, carrying only what that event
//! knows, and the short text every chat format shares.
//!
//! Pure: no I/O, no clock. The instants come from the caller (the
//! scheduler knows when a run became slow or a job overdue).

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::decide::Event;
use crate::record::{FinishRecord, Status};

/// How many missed instants a notice lists; the rest are counted.
pub const MISSED_LISTED: usize = 100;

/// One notice for one event of one job, as the scheduler hands it to
/// [`super::Notifier::send`].
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    /// A finished run: `event` is `failure`, `recovery` or `success`, as
    /// [`super::decide`] chose it; `record` is the run's final attempt.
    Run {
        event: Event,
        record: Box<FinishRecord>,
    },
    /// A run still going after `warn_after`.
    Slow(SlowRun),
    /// No successful run within `expect_success_within`.
    Overdue(Overdue),
    /// Scheduled instants that passed while the daemon was down.
    Missed(Missed),
    /// A scheduled start skipped (`concurrency = "forbid"`).
    Skipped(Skipped),
}

/// The running attempt that passed `warn_after`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlowRun {
    pub run_id: String,
    pub attempt: u32,
    pub started_at: DateTime<Utc>,
    /// How long the run had been going when it was found slow.
    pub elapsed: Duration,
    pub warn_after: Duration,
}

/// A job without a success for `window`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overdue {
    /// `None` when the job never succeeded (the window then counts from
    /// when it was loaded).
    pub last_success: Option<DateTime<Utc>>,
    /// `expect_success_within`.
    pub window: Duration,
    /// When the job became overdue: the notice's date.
    pub due_at: DateTime<Utc>,
}

/// Instants that passed unrun; at most [`MISSED_LISTED`] are listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missed {
    /// The first missed instants, oldest first.
    pub listed: Vec<DateTime<Utc>>,
    /// How many more were missed after the listed ones.
    pub more: u64,
    /// When the daemon found them (its start): the notice's date.
    pub found_at: DateTime<Utc>,
}

impl Missed {
    /// Keeps the first [`MISSED_LISTED`] of `instants` and counts the rest,
    /// so a long outage of a frequent job makes a short notice.
    pub fn new(
        instants: impl IntoIterator<Item = DateTime<Utc>>,
        found_at: DateTime<Utc>,
    ) -> Missed {
        let mut it = instants.into_iter();
        let listed = it.by_ref().take(MISSED_LISTED).collect();
        Missed {
            listed,
            more: it.count() as u64,
            found_at,
        }
    }

    /// Every missed instant, listed or not.
    pub fn total(&self) -> u64 {
        self.listed.len() as u64 + self.more
    }
}

/// A skipped scheduled start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub scheduled_at: DateTime<Utc>,
    pub reason: String,
}

impl Notice {
    /// The event, as `notify.on` and the webhook's `event` name it.
    pub fn event(&self) -> Event {
        match self {
            Notice::Run { event, .. } => *event,
            Notice::Slow(_) => Event::Slow,
            Notice::Overdue(_) => Event::Overdue,
            Notice::Missed(_) => Event::Missed,
            Notice::Skipped(_) => Event::Skipped,
        }
    }

    /// The run it is about, for log lines and mail ids.
    pub(super) fn run_id(&self) -> Option<&str> {
        match self {
            Notice::Run { record, .. } => Some(&record.run_id),
            Notice::Slow(s) => Some(&s.run_id),
            _ => None,
        }
    }

    /// When the event happened: the mail's `Date`, so a retried notice
    /// sorts where it belongs.
    pub(super) fn at(&self) -> DateTime<Utc> {
        match self {
            Notice::Run { record, .. } => record.finished_at,
            Notice::Slow(s) => {
                s.started_at + chrono::Duration::from_std(s.elapsed).unwrap_or_default()
            }
            Notice::Overdue(o) => o.due_at,
            Notice::Missed(m) => m.found_at,
            Notice::Skipped(s) => s.scheduled_at,
        }
    }

    /// The outcome in a few words, as subjects and chat titles say it;
    /// failures in capitals so one filter catches them all.
    pub(super) fn outcome(&self) -> String {
        match self {
            Notice::Run { event, record } => match event {
                Event::Recovery => "recovered".into(),
                Event::Success => "succeeded".into(),
                _ => format!("FAILED ({})", failure_detail(record)),
            },
            Notice::Slow(s) => format!("slow (running for {})", human(s.elapsed)),
            Notice::Overdue(o) => format!("OVERDUE (no success within {})", human(o.window)),
            Notice::Missed(m) => format!("missed {} scheduled run(s)", m.total()),
            Notice::Skipped(s) => format!("skipped a run ({})", s.reason),
        }
    }

    /// Whether a chat service should make noise: failures and the
    /// dead man's switch.
    pub(super) fn is_alarm(&self) -> bool {
        match self {
            Notice::Run { event, .. } => *event == Event::Failure,
            Notice::Overdue(_) => true,
            _ => false,
        }
    }

    /// The facts a reader scans: name and value, in order.
    pub(super) fn facts(&self) -> Vec<(&'static str, String)> {
        let t = crate::record::ts::format;
        match self {
            Notice::Run { record, .. } => {
                let mut f = vec![
                    ("Status", record.status.as_str().to_string()),
                    ("Attempts", record.attempt.to_string()),
                    ("Duration", human_ms(record.duration_ms)),
                    ("Run id", record.run_id.clone()),
                ];
                if let Some(code) = record.exit_code {
                    f.push(("Exit code", code.to_string()));
                }
                if let Some(code) = record.http_status {
                    f.push(("HTTP status", code.to_string()));
                }
                if let Some(e) = &record.error {
                    f.push(("Error", e.clone()));
                }
                f
            }
            Notice::Slow(s) => vec![
                ("Run id", s.run_id.clone()),
                ("Attempt", s.attempt.to_string()),
                ("Started", t(&s.started_at)),
                ("Running for", human(s.elapsed)),
                ("Warn after", human(s.warn_after)),
            ],
            Notice::Overdue(o) => vec![
                (
                    "Last success",
                    o.last_success.as_ref().map_or_else(|| "never".into(), t),
                ),
                ("Expected within", human(o.window)),
                ("Overdue since", t(&o.due_at)),
            ],
            Notice::Missed(m) => {
                let mut f = vec![("Missed", m.total().to_string())];
                if let (Some(first), Some(last)) = (m.listed.first(), m.listed.last()) {
                    f.push(("First", t(first)));
                    if m.more == 0 && m.listed.len() > 1 {
                        f.push(("Last", t(last)));
                    }
                }
                f
            }
            Notice::Skipped(s) => vec![
                ("Scheduled", t(&s.scheduled_at)),
                ("Reason", s.reason.clone()),
            ],
        }
    }

    /// The start of the run's output (stderr first for a failure, where
    /// the reason usually is), at most `max` characters.
    pub(super) fn excerpt(&self, max: usize) -> Option<String> {
        let Notice::Run { record, .. } = self else {
            return None;
        };
        let (first, second) = if record.status.is_failure() {
            (&record.stderr, &record.stdout)
        } else {
            (&record.stdout, &record.stderr)
        };
        let text = if first.trim().is_empty() {
            second
        } else {
            first
        };
        let text = text.trim_end();
        if text.is_empty() {
            return None;
        }
        Some(cut(text, max))
    }
}

/// `exit 1`, `signal SIGKILL`, `HTTP 503`, `timeout`...
fn failure_detail(r: &FinishRecord) -> String {
    match r.status {
        Status::Failed => {
            if let Some(code) = r.exit_code {
                format!("exit {code}")
            } else if let Some(sig) = &r.signal {
                format!("signal {sig}")
            } else if let Some(http) = r.http_status {
                format!("HTTP {http}")
            } else {
                "failed".into()
            }
        }
        other => other.as_str().into(),
    }
}

/// At most `max` characters of `text`, with `…` when cut.
pub(super) fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut s: String = text.chars().take(max.saturating_sub(1)).collect();
    s.push('…');
    s
}

pub(super) fn human(d: Duration) -> String {
    human_ms(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// `850ms`, `5.1s`, `4m05s`, `2h03m07s`.
pub(super) fn human_ms(ms: u64) -> String {
    if ms < 1000 {
        return format!("{ms}ms");
    }
    if ms < 60_000 {
        return format!("{:.1}s", ms as f64 / 1000.0);
    }
    let secs = ms / 1000;
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        format!("{h}h{m:02}m{s:02}s")
    } else {
        format!("{m}m{s:02}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn missed_lists_a_hundred_and_counts_the_rest() {
        let t0 = Utc
            .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
            .single()
            .expect("valid");
        let all = (0..250).map(|i| t0 + chrono::Duration::minutes(i));
        let m = Missed::new(all, t0);
        assert_eq!(m.listed.len(), 100);
        assert_eq!(m.more, 150);
        assert_eq!(m.total(), 250);
        assert_eq!(Notice::Missed(m).outcome(), "missed 250 scheduled run(s)");
    }

    #[test]
    fn cut_keeps_whole_characters() {
        assert_eq!(cut("héllo", 10), "héllo");
        assert_eq!(cut("héllo", 3), "hé…");
    }
}
