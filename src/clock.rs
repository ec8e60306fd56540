//! The one place that reads the wall clock, and notices when it is set.
//!
//! Everything that needs "now" takes a [`Clock`], so schedule and runner
//! logic can be driven by a virtual clock in tests. `clippy.toml` bans
//! `Utc::now()` and `SystemTime::now()` everywhere else.
//!
//! Sleeping is done on tokio's monotonic timer; a wall-clock step (NTP,
//! `date -s`) is reported by [`watch_clock_steps`] through a `timerfd`
//! armed with `TFD_TIMER_CANCEL_ON_SET`, so the scheduler can re-plan at
//! once instead of firing late or early.

use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use nix::errno::Errno;
use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use tokio::io::unix::AsyncFd;
use tokio::sync::mpsc;

/// A source of wall-clock time.
pub trait Clock: Send + Sync + 'static {
    /// The current wall-clock instant.
    fn now(&self) -> DateTime<Utc>;

    /// A timer that wakes within microseconds of an instant of this
    /// clock, if the clock has one (`Err` if it could not be created).
    /// `None`, the default, means: sleep on tokio's timer, which counts
    /// whole milliseconds and rides on `epoll_wait`, whose timeout the
    /// kernel lets overrun by 0.1 % (a millisecond on a one-second
    /// sleep). Clocks that follow tokio's (possibly paused) time must
    /// answer `None`.
    fn precise_timer(&self) -> Option<std::io::Result<WallTimer>> {
        None
    }
}

/// The real system clock (`CLOCK_REALTIME`).
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)]
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn precise_timer(&self) -> Option<std::io::Result<WallTimer>> {
        Some(WallTimer::new())
    }
}

/// A one-shot timer on `CLOCK_REALTIME` (a `timerfd` with an absolute
/// expiry): it fires once the system wall clock reads the instant set,
/// never before, also when the clock is stepped meanwhile, and with the
/// kernel's high-resolution timer precision.
#[derive(Debug)]
pub struct WallTimer {
    fd: AsyncFd<RealtimeTimerFd>,
    /// The instant the timer is armed for; `None` when idle or fired.
    armed: Option<DateTime<Utc>>,
}

/// A non-blocking `CLOCK_REALTIME` timerfd, as tokio's reactor sees it.
#[derive(Debug)]
struct RealtimeTimerFd(TimerFd);

impl AsRawFd for RealtimeTimerFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_fd().as_raw_fd()
    }
}

/// A new, disarmed `CLOCK_REALTIME` timerfd registered with the current
/// tokio runtime (which must have I/O enabled).
fn realtime_timerfd() -> std::io::Result<AsyncFd<RealtimeTimerFd>> {
    let fd = TimerFd::new(
        ClockId::CLOCK_REALTIME,
        TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
    )?;
    // SAFETY: the TimerFd is owned by the AsyncFd for its whole life and
    // always reports the same open descriptor.
    unsafe { AsyncFd::register(RealtimeTimerFd(fd)) }.map_err(|e| e.into_parts().1)
}

/// Waits until the timerfd is readable and reads its 8-byte expiry count,
/// going back to waiting when readiness was spurious (`EAGAIN`). Answers
/// the read's result (`ECANCELED` when a cancel-on-set timer saw the
/// clock set), or `None` when the reactor is gone. Cancel-safe.
async fn read_expiry(fd: &AsyncFd<RealtimeTimerFd>) -> Option<nix::Result<usize>> {
    loop {
        let mut guard = fd.readable().await.ok()?;
        let mut buf = [0u8; 8];
        match nix::unistd::read(guard.get_inner().0.as_fd(), &mut buf) {
            Err(Errno::EAGAIN) => guard.clear_ready(),
            result => return Some(result),
        }
    }
}

impl WallTimer {
    /// An idle timer. Must be created inside a tokio runtime with I/O.
    pub fn new() -> std::io::Result<Self> {
        Ok(Self {
            fd: realtime_timerfd()?,
            armed: None,
        })
    }

    /// Makes the timer fire at `at` (at once if `at` has passed), or never
    /// when `None`. Setting the instant it is already armed for is free.
    pub fn set(&mut self, at: Option<DateTime<Utc>>) -> std::io::Result<()> {
        if at == self.armed {
            return Ok(());
        }
        match at {
            Some(at) => {
                // An instant before the epoch has passed: fire at once
                // (a zero expiry would disarm the timer).
                let (secs, nanos) = if at.timestamp() >= 0 {
                    (at.timestamp(), i64::from(at.timestamp_subsec_nanos()))
                } else {
                    (0, 1)
                };
                self.fd.get_ref().0.set(
                    Expiration::OneShot(TimeSpec::new(secs, nanos)),
                    TimerSetTimeFlags::TFD_TIMER_ABSTIME,
                )?;
            }
            None => self.fd.get_ref().0.unset()?,
        }
        self.armed = at;
        Ok(())
    }

    /// Waits until the instant set has come; never returns while the
    /// timer is idle. Cancel-safe.
    pub async fn wait(&mut self) {
        if self.armed.is_none() {
            return std::future::pending().await;
        }
        loop {
            match read_expiry(&self.fd).await {
                Some(Err(Errno::EINTR)) => {}
                // Fired (or failed, which the caller's own look at the
                // clock sorts out), or the reactor is gone: the caller
                // looks at the clock itself.
                _ => {
                    self.armed = None;
                    return;
                }
            }
        }
    }
}

/// A wall clock that advances with tokio's (possibly paused) clock, for
/// tests: under `#[tokio::test(start_paused = true)]` a day of schedule
/// passes in milliseconds, and [`VirtualClock::step`] moves it like an
/// NTP step without moving tokio's monotonic time.
#[derive(Debug)]
pub struct VirtualClock {
    base: DateTime<Utc>,
    origin: tokio::time::Instant,
    offset: Mutex<chrono::Duration>,
}

impl VirtualClock {
    /// A clock reading `start` now. Must be created inside a runtime.
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            base: start,
            origin: tokio::time::Instant::now(),
            offset: Mutex::new(chrono::Duration::zero()),
        }
    }

    /// Steps the wall clock by `by` (negative = back), leaving elapsed
    /// monotonic time alone.
    pub fn step(&self, by: chrono::Duration) {
        *self.offset.lock().unwrap_or_else(|e| e.into_inner()) += by;
    }
}

impl Clock for VirtualClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = tokio::time::Instant::now() - self.origin;
        let elapsed = chrono::Duration::from_std(elapsed).unwrap_or(chrono::Duration::MAX);
        self.base + elapsed + *self.offset.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl RealtimeTimerFd {
    /// Arms the timer for a far-future absolute instant; the kernel cancels
    /// it (and `read` fails with `ECANCELED`) whenever CLOCK_REALTIME is set.
    fn arm_cancel_on_set(&self) -> nix::Result<()> {
        let far = TimeSpec::new(i64::from(i32::MAX) * 2, 0);
        self.0.set(
            Expiration::OneShot(far),
            TimerSetTimeFlags::TFD_TIMER_ABSTIME | TimerSetTimeFlags::TFD_TIMER_CANCEL_ON_SET,
        )
    }
}

/// Starts a task that sends `()` each time the system wall clock is set
/// (stepped). Must be called inside a tokio runtime. Resume from suspend
/// is not a "set"; the scheduler also bounds its sleeps to catch that.
pub fn watch_clock_steps() -> std::io::Result<mpsc::Receiver<()>> {
    let timer = realtime_timerfd()?;
    timer.get_ref().arm_cancel_on_set()?;
    let (tx, rx) = mpsc::channel(4);
    tokio::spawn(async move {
        loop {
            let Some(result) = read_expiry(&timer).await else {
                return;
            };
            match result {
                Err(Errno::ECANCELED) | Ok(_) => {
                    if let Err(e) = timer.get_ref().arm_cancel_on_set() {
                        tracing::warn!(
                            "cannot re-arm the clock-step timer: {e}; relying on bounded sleeps"
                        );
                        return;
                    }
                    // A full channel already holds a pending notice.
                    let _ = tx.try_send(());
                    if tx.is_closed() {
                        return;
                    }
                }
                Err(e) => {
                    tracing::warn!("clock-step timer failed: {e}; relying on bounded sleeps");
                    return;
                }
            }
        }
    });
    Ok(rx)
}

/// A clock that only moves when told to, for tests of code that reads the
/// time but never sleeps on it.
#[derive(Debug)]
pub struct FakeClock {
    now: Mutex<DateTime<Utc>>,
}

impl FakeClock {
    /// A fake clock standing at `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            now: Mutex::new(start),
        }
    }

    /// Moves the clock to `to` (forward or back, like an NTP step).
    pub fn set(&self, to: DateTime<Utc>) {
        *self.now.lock().unwrap_or_else(|e| e.into_inner()) = to;
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: chrono::Duration) {
        *self.now.lock().unwrap_or_else(|e| e.into_inner()) += by;
    }
}

impl Clock for FakeClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn in_ms(ms: i64) -> DateTime<Utc> {
        SystemClock.now() + chrono::Duration::milliseconds(ms)
    }

    /// Fails the test instead of hanging it.
    async fn fired(timer: &mut WallTimer) {
        tokio::time::timeout(std::time::Duration::from_secs(10), timer.wait())
            .await
            .expect("the timer fired");
    }

    #[tokio::test]
    async fn the_wall_timer_never_fires_before_its_instant() {
        let mut timer = WallTimer::new().expect("timer");
        for ms in [1, 5, 30] {
            let at = in_ms(ms);
            timer.set(Some(at)).expect("armed");
            fired(&mut timer).await;
            assert!(SystemClock.now() >= at, "fired before {at}");
        }
    }

    #[tokio::test]
    async fn a_past_instant_fires_at_once_and_a_new_instant_replaces_the_old() {
        let mut timer = WallTimer::new().expect("timer");
        timer.set(Some(in_ms(-5_000))).expect("armed");
        fired(&mut timer).await;
        // Armed for 20 ms, then moved to 80 ms: it must wait for the later.
        timer.set(Some(in_ms(20))).expect("armed");
        let later = in_ms(80);
        timer.set(Some(later)).expect("re-armed");
        fired(&mut timer).await;
        assert!(SystemClock.now() >= later);
    }
}
