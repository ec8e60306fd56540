//! Which notice, if any, a finished run deserves (cronduct.toml(5)
//! NOTIFICATIONS, `notify.on` and `notify.after`).
//!
//! Pure: no clock, no I/O. The daemon keeps each job's [`NotifyState`]
//! in its state file (as the `consecutive_failures` and
//! `failure_notified` entries for the job) and calls [`decide`] once per
//! run, with the run's final status, after its last attempt.
//!
//! The rules, as a careful sysadmin would expect them:
//!
//! - A run is *failed* when its final status is `failed`, `timeout`,
//!   `error` or `lost`. Consecutive failed runs form a *streak*.
//! - `failure`: sent for the run that brings the streak to `after`, **and
//!   for every further failed run of the same streak**. We chose one
//!   notice per failed run over "only the first" because the notify.on
//!   documentation calls `after` the threshold of the *first* failure notice
//!   (so more follow), because cron itself mails every failing run, and
//!   because each run's notice carries that run's own exit code and output
//!   tails; a lone first mail that was missed or deleted leaves a broken job
//!   silent for days. Floods from frequent jobs are capped by the delivery
//!   rate limit (see [`super::DeliveryOptions::rate_limit`]), not here.
//! - `recovery`: the first successful run after a streak that reached
//!   `after` — i.e. one for which a failure notice was due (sent, or due
//!   but not sent because `on` lacks `failure`). A streak shorter than
//!   `after` ends silently: `after` suppresses both the failure and its
//!   recovery, so a flaky job that fails once and then succeeds mails
//!   nobody. The flag is kept (not recomputed from `after`) so that a
//!   reload changing `after` mid-streak still answers a mailed failure
//!   with its recovery, and never announces a recovery nobody was warned
//!   about.
//! - `success`: every successful run. When a run is both a recovery and a
//!   success and `on` has both, one notice goes out: `recovery` (one notice
//!   per run, never two). When `on` has `success` but not `recovery`, a
//!   recovering run is announced as a plain `success`.
//! - `cancelled` runs are neither failures nor successes: someone (or a
//!   reload, or shutdown) stopped them on purpose. They send nothing and
//!   leave the streak as it was, so a cancelled run between two failures
//!   does not hide the second one.

use serde::{Deserialize, Serialize};

use crate::config::model::{Notify, NotifyOn};
use crate::record::Status;

/// The kind of notice, as `notify.on` and the webhook's `event` name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    Failure,
    Recovery,
    Success,
    Slow,
    Overdue,
    Missed,
    Skipped,
}

impl Event {
    /// The name used in `notify.on` and in the webhook document.
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Failure => "failure",
            Event::Recovery => "recovery",
            Event::Success => "success",
            Event::Slow => "slow",
            Event::Overdue => "overdue",
            Event::Missed => "missed",
            Event::Skipped => "skipped",
        }
    }

    /// Whether `on` lists this event.
    pub fn wanted(self, on: &NotifyOn) -> bool {
        match self {
            Event::Failure => on.failure,
            Event::Recovery => on.recovery,
            Event::Success => on.success,
            Event::Slow => on.slow,
            Event::Overdue => on.overdue,
            Event::Missed => on.missed,
            Event::Skipped => on.skipped,
        }
    }

    /// Whether this is the outcome of a finished run.
    pub(super) fn is_run_outcome(self) -> bool {
        matches!(self, Event::Failure | Event::Recovery | Event::Success)
    }
}

impl std::fmt::Display for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A job's notification history: all [`decide`] needs to remember between
/// runs. The daemon builds it from its state file's per-job
/// `consecutive_failures` and `failure_notified` entries and stores it
/// back there after each run (`daemon::hooks`), so a restart neither
/// re-announces a failure streak nor forgets to announce its recovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NotifyState {
    /// Failed runs in a row, ending with the latest run; 0 once a run
    /// succeeds. Cancelled runs neither count nor reset it.
    pub consecutive_failures: u32,
    /// Whether the current streak reached `after`, i.e. a failure notice
    /// was due for it; the next success is then a recovery.
    pub failure_notified: bool,
}

/// Updates `state` with a finished run's final `status` and says which
/// notice to send, if any (the rules are in the module docs).
pub fn decide(notify: &Notify, status: Status, state: &mut NotifyState) -> Option<Event> {
    if status.is_failure() {
        state.consecutive_failures = state.consecutive_failures.saturating_add(1);
        // Validation guarantees `after >= 1`; treat 0 as 1 rather than
        // announcing a streak of zero failures.
        if state.consecutive_failures >= notify.after.max(1) {
            state.failure_notified = true;
            return notify.on.failure.then_some(Event::Failure);
        }
        return None;
    }
    if status != Status::Success {
        return None;
    }
    let recovering = state.failure_notified;
    *state = NotifyState::default();
    if recovering && notify.on.recovery {
        Some(Event::Recovery)
    } else if notify.on.success {
        Some(Event::Success)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notify(on: &str, after: u32) -> Notify {
        Notify {
            email: vec!["admin@example.com".into()],
            webhook: None,
            ping: None,
            on: NotifyOn {
                failure: on.contains('F'),
                recovery: on.contains('R'),
                success: on.contains('S'),
                ..NotifyOn::default()
            },
            after,
        }
    }

    const OK: Status = Status::Success;
    const FAIL: Status = Status::Failed;

    /// Feeds `runs` through `decide` from a fresh state; returns the events.
    fn run(on: &str, after: u32, runs: &[Status]) -> Vec<Option<Event>> {
        let n = notify(on, after);
        let mut state = NotifyState::default();
        runs.iter().map(|&s| decide(&n, s, &mut state)).collect()
    }

    use Event::{Failure as F, Recovery as R, Success as S};

    /// A named scenario: `on` letters, `after`, the runs, the expected events.
    type Case = (
        &'static str,
        &'static str,
        u32,
        &'static [Status],
        &'static [Option<Event>],
    );

    #[test]
    fn decision_table() {
        #[rustfmt::skip]
        let cases: &[Case] = &[
            ("every failed run notifies at after=1", "FR", 1,
             &[FAIL, FAIL, OK], &[Some(F), Some(F), Some(R)]),
            ("after=3: silent until the third failure, then every run", "FR", 3,
             &[FAIL, FAIL, FAIL, FAIL, OK], &[None, None, Some(F), Some(F), Some(R)]),
            ("after=3: a short streak ends without a recovery", "FR", 3,
             &[FAIL, FAIL, OK, FAIL], &[None, None, None, None]),
            ("a success resets the streak count", "FR", 2,
             &[FAIL, OK, FAIL, FAIL], &[None, None, None, Some(F)]),
            ("recovery is sent once, then successes are quiet", "FR", 1,
             &[FAIL, OK, OK], &[Some(F), Some(R), None]),
            ("no recovery without a failure first", "FR", 1,
             &[OK, OK], &[None, None]),
            ("success on every success; a recovery replaces it", "FRS", 1,
             &[OK, FAIL, OK, OK], &[Some(S), Some(F), Some(R), Some(S)]),
            ("success without recovery: a recovering run is a success", "FS", 1,
             &[FAIL, OK], &[Some(F), Some(S)]),
            ("recovery only: due failures are remembered, not sent", "R", 2,
             &[FAIL, FAIL, FAIL, OK], &[None, None, None, Some(R)]),
            ("success only: failures are silent", "S", 1,
             &[FAIL, OK], &[None, Some(S)]),
            ("timeout, error and lost are failures", "F", 1,
             &[Status::Timeout, Status::Error, Status::Lost], &[Some(F), Some(F), Some(F)]),
            ("cancelled neither counts nor resets", "FR", 2,
             &[FAIL, Status::Cancelled, FAIL, Status::Cancelled, OK],
             &[None, None, Some(F), None, Some(R)]),
            ("after=0 behaves as after=1", "F", 0,
             &[FAIL], &[Some(F)]),
        ];
        for (name, on, after, runs, want) in cases {
            assert_eq!(&run(on, *after, runs), want, "{name}");
        }
    }

    #[test]
    fn state_tracks_the_streak() {
        let n = notify("FR", 2);
        let mut state = NotifyState::default();
        decide(&n, FAIL, &mut state);
        assert_eq!(
            state,
            NotifyState {
                consecutive_failures: 1,
                failure_notified: false
            }
        );
        decide(&n, Status::Timeout, &mut state);
        assert_eq!(
            state,
            NotifyState {
                consecutive_failures: 2,
                failure_notified: true
            }
        );
        decide(&n, OK, &mut state);
        assert_eq!(state, NotifyState::default());
    }

    #[test]
    fn raising_after_mid_streak_still_announces_the_recovery() {
        let mut state = NotifyState::default();
        assert_eq!(decide(&notify("FR", 1), FAIL, &mut state), Some(F));
        // A reload raised `after`; the mailed failure still gets its recovery.
        assert_eq!(decide(&notify("FR", 5), OK, &mut state), Some(R));
    }

    #[test]
    fn event_names_match_the_config_and_webhook() {
        for (e, name) in [
            (F, "failure"),
            (R, "recovery"),
            (S, "success"),
            (Event::Slow, "slow"),
            (Event::Overdue, "overdue"),
            (Event::Missed, "missed"),
            (Event::Skipped, "skipped"),
        ] {
            assert_eq!(e.as_str(), name);
            assert_eq!(
                serde_json::to_string(&e).expect("serialise"),
                format!("\"{name}\"")
            );
        }
    }
}
