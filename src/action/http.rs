//! Running an HTTP attempt.
//!
//! Interface (to be implemented):
//! - `run(client: &reqwest::Client, req: &HttpRequest, timeout: Option<Duration>,
//!   output_limit: usize, cancel: CancellationToken) -> ActionOutcome`
