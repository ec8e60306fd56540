//! The per-job flood cap: at most `limit` notices per job in any sliding
//! `window` (by default 5 per hour).
//!
//! Pure: the caller passes "now" (a monotonic instant, so a wall-clock
//! step neither lifts nor extends the cap). Suppressed notices are
//! counted, and the count is handed to the next notice that goes out so
//! the reader learns how many they missed.
//!
//! One exception keeps the inbox honest: a `recovery` is sent even over
//! the cap when the last notice sent for the job was a `failure`, so the
//! latest word a reader has is never a stale "FAILED". This adds at most
//! one notice per window beyond the cap: after it, the last notice sent is
//! no longer a failure.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use tokio::time::Instant;

use super::decide::Event;

/// Whether a notice may go out now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Send it, mentioning this many notices suppressed since the last one
    /// that went out.
    Send { suppressed: u32 },
    /// Over the cap: drop it (it has been counted).
    Suppress,
}

/// Sliding-window counters for every job that sent a notice recently.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    limit: u32,
    window: Duration,
    jobs: HashMap<String, JobWindow>,
}

#[derive(Debug, Default)]
struct JobWindow {
    /// When each notice inside the window was admitted, oldest first.
    sent: VecDeque<Instant>,
    /// Notices suppressed since the last one admitted.
    suppressed: u32,
    /// The last run outcome sent (failure, recovery, success); other
    /// notices in between do not make a failure less stale.
    last_sent: Option<Event>,
}

impl JobWindow {
    fn expire(&mut self, now: Instant, window: Duration) {
        while self
            .sent
            .front()
            .is_some_and(|&t| now.saturating_duration_since(t) >= window)
        {
            self.sent.pop_front();
        }
    }
}

impl RateLimiter {
    /// A cap of `limit` notices per job per `window`; `limit = 0` lifts
    /// the cap.
    pub(crate) fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit,
            window,
            jobs: HashMap::new(),
        }
    }

    /// Decides whether `job`'s `event` notice may go out at `now`, and
    /// records the decision.
    pub(crate) fn admit(&mut self, job: &str, event: Event, now: Instant) -> Admit {
        let window = self.window;
        // Forget jobs that have nothing left to remember, so the map stays
        // as small as the set of recently noisy jobs (removed jobs too).
        self.jobs.retain(|_, w| {
            w.expire(now, window);
            !w.sent.is_empty() || w.suppressed > 0
        });
        let w = self.jobs.entry(job.to_string()).or_default();
        let exempt = event == Event::Recovery && w.last_sent == Some(Event::Failure);
        let under_cap = self.limit == 0 || w.sent.len() < self.limit as usize;
        if under_cap || exempt {
            w.sent.push_back(now);
            if event.is_run_outcome() {
                w.last_sent = Some(event);
            }
            Admit::Send {
                suppressed: std::mem::take(&mut w.suppressed),
            }
        } else {
            w.suppressed = w.suppressed.saturating_add(1);
            Admit::Suppress
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Event::{Failure as F, Recovery as R, Success as S};

    const SEND: Admit = Admit::Send { suppressed: 0 };
    const DROP: Admit = Admit::Suppress;

    #[test]
    fn caps_a_flood_and_reports_what_it_dropped() {
        let t0 = Instant::now();
        let mut rl = RateLimiter::new(3, Duration::from_secs(3600));
        let got: Vec<Admit> = (0..6)
            .map(|i| rl.admit("j", F, t0 + Duration::from_secs(i)))
            .collect();
        assert_eq!(got, vec![SEND, SEND, SEND, DROP, DROP, DROP]);
        // The first slot frees exactly one window after the first notice.
        assert_eq!(rl.admit("j", F, t0 + Duration::from_secs(3599)), DROP);
        assert_eq!(
            rl.admit("j", F, t0 + Duration::from_secs(3600)),
            Admit::Send { suppressed: 4 }
        );
        // The count was handed over once, not repeated.
        assert_eq!(rl.admit("j", F, t0 + Duration::from_secs(3601)), SEND);
    }

    #[test]
    fn jobs_are_capped_separately() {
        let t0 = Instant::now();
        let mut rl = RateLimiter::new(1, Duration::from_secs(60));
        assert_eq!(rl.admit("a", F, t0), SEND);
        assert_eq!(rl.admit("a", F, t0), DROP);
        assert_eq!(rl.admit("b", F, t0), SEND);
    }

    #[test]
    fn recovery_after_a_sent_failure_passes_the_cap_once() {
        #[rustfmt::skip]
        let cases: &[(&str, &[Event], &[Admit])] = &[
            ("recovery answers the last failure sent", &[F, F, R],
             &[SEND, SEND, Admit::Send { suppressed: 0 }]),
            ("over the cap, recovery still answers a sent failure", &[F, F, F, R],
             &[SEND, SEND, DROP, Admit::Send { suppressed: 1 }]),
            ("a flapping job gets one extra notice, not a flood", &[F, R, F, R, F, R],
             &[SEND, SEND, DROP, DROP, DROP, DROP]),
            ("success is capped like anything else", &[S, S, S],
             &[SEND, SEND, DROP]),
            ("new kinds are capped too", &[Event::Slow, Event::Overdue, Event::Missed, Event::Skipped],
             &[SEND, SEND, DROP, DROP]),
            ("a slow notice between does not cost the recovery its pass", &[F, Event::Slow, R],
             &[SEND, SEND, Admit::Send { suppressed: 0 }]),
        ];
        for (name, events, want) in cases {
            let t0 = Instant::now();
            let mut rl = RateLimiter::new(2, Duration::from_secs(3600));
            let got: Vec<Admit> = events.iter().map(|&e| rl.admit("j", e, t0)).collect();
            assert_eq!(&got, want, "{name}");
        }
    }

    #[test]
    fn zero_lifts_the_cap() {
        let t0 = Instant::now();
        let mut rl = RateLimiter::new(0, Duration::from_secs(3600));
        assert!((0..100).all(|_| rl.admit("j", F, t0) == SEND));
    }

    #[test]
    fn quiet_jobs_are_forgotten() {
        let t0 = Instant::now();
        let mut rl = RateLimiter::new(1, Duration::from_secs(60));
        rl.admit("old", F, t0);
        rl.admit("new", F, t0 + Duration::from_secs(61));
        assert!(!rl.jobs.contains_key("old"));
        assert!(rl.jobs.contains_key("new"));
    }
}
