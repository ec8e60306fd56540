//! Waiting for a condition with a deadline, the one way tests wait: look,
//! and if it does not hold yet, look again shortly, until `within` has
//! passed. Never a fixed sleep that hopes the machine is fast enough.

use std::time::Duration;

/// How long to wait between looks: short against the deadlines (seconds),
/// long enough not to busy-spin the two cores CI shares.
const EVERY: Duration = Duration::from_millis(10);

/// Looks until `check` returns `Some` (its value) or `within` has passed
/// (`None`), blocking the thread in between.
pub fn within<T>(limit: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(found) = check() {
            return Some(found);
        }
        if std::time::Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(EVERY);
    }
}

/// [`within`], failing the test with `what` when the deadline passes.
pub fn until<T>(what: &str, limit: Duration, check: impl FnMut() -> Option<T>) -> T {
    within(limit, check).unwrap_or_else(|| panic!("timed out after {limit:?} waiting for {what}"))
}

/// [`within`] for async tests: sleeps on tokio's timer, so the runtime
/// keeps serving the tasks the condition waits for (on a paused clock the
/// deadline is in tokio's time too).
pub async fn within_async<T>(limit: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(found) = check() {
            return Some(found);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(EVERY).await;
    }
}

/// [`within_async`], failing the test with `what` when the deadline
/// passes.
pub async fn until_async<T>(what: &str, limit: Duration, check: impl FnMut() -> Option<T>) -> T {
    within_async(limit, check)
        .await
        .unwrap_or_else(|| panic!("timed out after {limit:?} waiting for {what}"))
}
