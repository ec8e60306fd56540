//! Running a command attempt: spawn in its own session, drain output into
//! bounded tails, time out or cancel by signalling the whole process group.
//!
//! Interface (to be implemented):
//! - `spawn(job: &Job, info: &AttemptInfo) -> Result<Running, String>`
//!   (`Err` = could not start → status `error` with that message)
//! - `Running::pid(&self) -> u32`
//! - `Running::wait(self, timeout: Option<Duration>, kill_grace: Duration,
//!   cancel: CancellationToken) -> ActionOutcome`
