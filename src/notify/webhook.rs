//! The notice as a webhook: one JSON POST (the document is described in
//! the parent module's docs).

use std::time::Duration;

use serde::Serialize;

use super::{DeliveryError, Event, Notice};
use crate::action::http::{LazyClient, describe, host_port};
use crate::record::FinishRecord;

/// The document receivers parse; field names are contract.
#[derive(Debug, Serialize)]
struct Payload<'a> {
    event: Event,
    job: &'a str,
    host: &'a str,
    attempts: u32,
    /// Notices suppressed by the rate limit since the last one sent.
    suppressed: u32,
    record: &'a FinishRecord,
}

/// One try at posting `notice` to its webhook; any 2xx answer is success.
pub(super) async fn post(
    http: &LazyClient,
    host: &str,
    notice: &Notice,
    timeout: Duration,
) -> Result<(), DeliveryError> {
    let Some(url) = &notice.webhook else {
        return Ok(());
    };
    let payload = Payload {
        event: notice.event,
        job: &notice.job,
        host,
        attempts: notice.record.attempt,
        suppressed: notice.suppressed,
        record: &notice.record,
    };
    let body = serde_json::to_vec(&payload)
        .map_err(|e| DeliveryError::Permanent(format!("cannot encode the webhook body: {e}")))?;
    let response = http
        .get()
        .map_err(DeliveryError::Permanent)?
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .timeout(timeout)
        .body(body)
        .send()
        .await
        .map_err(|e| {
            // Only host:port and the root cause: webhook URLs often carry a
            // secret token in the path or query, and this text is logged.
            let text = format!("webhook: {}", describe(&e, url));
            // A URL reqwest cannot even build a request for stays broken.
            if e.is_builder() {
                DeliveryError::Permanent(text)
            } else {
                DeliveryError::Transient(text)
            }
        })?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(DeliveryError::Transient(format!(
            "webhook {} answered HTTP {status}",
            host_port(url)
        )))
    }
}
