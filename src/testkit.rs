//! Building blocks for tests and benchmarks, not part of the API: one
//! `FinishRecord` builder that the unit tests under `src/`, the
//! integration tests and `benches/` all start from, so a new field of the
//! record is given its test default in one place.
//!
//! Why a hidden public module rather than `cfg(test)` or a feature: the
//! integration tests and the benchmarks link the library built without
//! `cfg(test)`, so a `cfg(test)` module would be invisible to them; a
//! `testkit` feature would have to be named on every `cargo test` and
//! `cargo bench` (or enabled through a dev-dependency on the crate
//! itself). The module is a few plain functions with no dependencies of
//! its own, so compiling it always costs nothing worth a switch.

use chrono::{DateTime, Utc};

use crate::record::{FinishRecord, Status, Trigger};

/// The final (no retry) first attempt of `job`'s scheduled run `run_id`,
/// which ended with `status` at `finished_at` after `duration_ms`; it was
/// due when it started. The exit code is 0 for a success and 1 otherwise,
/// with no output, on host `testhost`. Tests change the rest with struct
/// update syntax: `FinishRecord { attempt: 2, ..finish(…) }`.
pub fn finish(
    job: &str,
    run_id: &str,
    status: Status,
    finished_at: DateTime<Utc>,
    duration_ms: u64,
) -> FinishRecord {
    let started_at = finished_at - chrono::Duration::milliseconds(duration_ms as i64);
    FinishRecord {
        ts: finished_at,
        run_id: run_id.into(),
        job: job.into(),
        attempt: 1,
        trigger: Trigger::Schedule,
        scheduled_at: started_at,
        started_at,
        finished_at,
        duration_ms,
        status,
        exit_code: Some(i32::from(status != Status::Success)),
        signal: None,
        http_status: None,
        error: None,
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
        host: "testhost".into(),
        node: None,
    }
}

/// The zone `name` from the compiled-in tz database, the same on every
/// machine.
///
/// # Panics
/// When the compiled-in copy has no such zone: a test's typo.
pub fn zone(name: &str) -> crate::zone::Zone {
    crate::zone::Database::compiled_in()
        .zone(name)
        .unwrap_or_else(|e| panic!("{e}"))
}
