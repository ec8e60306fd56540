//! Per-request limits: request bodies and the answer deadline.
//!
//! No endpoint takes a body, so bodies are capped small. An oversized body
//! is still read and discarded (up to [`DRAIN_CAP`]) before the 413 is
//! sent, like nginx's lingering close: closing a socket with unread data
//! makes the kernel reset the connection, and the client would then see
//! "connection reset" instead of the 413.

use std::sync::Arc;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Query, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::ApiError;
use super::params::Params;

/// The most of an oversized body read (and thrown away) so that the 413
/// reaches the client; beyond it the connection is simply closed.
pub(crate) const DRAIN_CAP: u64 = 16 << 20;

/// Buffers the request body up to `max_body` bytes; answers 413 above it
/// and 408 when the body does not arrive within the request timeout.
pub(crate) async fn limit_body(
    State(state): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Response {
    let limits = &state.limits;
    let max = limits.max_body as u64;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body larger than {max} bytes; no endpoint takes a body"),
        )
        .into_response()
    };
    // A client waiting for "100 Continue" has not sent its body yet, so it
    // can be refused before it sends anything; beyond DRAIN_CAP draining is
    // not worth it.
    let expects_continue = req
        .headers()
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    if declared.is_some_and(|n| n > DRAIN_CAP || (n > max && expects_continue)) {
        return too_large();
    }
    let (parts, body) = req.into_parts();
    match tokio::time::timeout(limits.request_timeout, read_body(body, max)).await {
        Err(_) => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "the request body did not arrive in time",
        )
        .into_response(),
        Ok(BodyRead::TooLarge) => too_large(),
        Ok(BodyRead::Broken) => ApiError::bad_request("malformed request body").into_response(),
        Ok(BodyRead::Complete(_)) if declared.is_some_and(|n| n > max) => too_large(),
        Ok(BodyRead::Complete(bytes)) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
    }
}

enum BodyRead {
    Complete(Bytes),
    TooLarge,
    Broken,
}

async fn read_body(mut body: Body, max: u64) -> BodyRead {
    let mut kept = Vec::new();
    let mut seen: u64 = 0;
    loop {
        let frame = std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await;
        match frame {
            None => break,
            Some(Err(_)) => return BodyRead::Broken,
            Some(Ok(frame)) => {
                let Ok(data) = frame.into_data() else {
                    continue; // trailers
                };
                seen += data.len() as u64;
                if seen > DRAIN_CAP {
                    return BodyRead::TooLarge;
                }
                if seen <= max {
                    kept.extend_from_slice(&data);
                }
            }
        }
    }
    if seen > max {
        BodyRead::TooLarge
    } else {
        BodyRead::Complete(Bytes::from(kept))
    }
}

/// Answers 503 when a request is not answered within `request_timeout`
/// (the scheduler is stalled). `POST …/run?wait=true` is exempt: it waits
/// for the run itself, however long the job takes, and ends when the run
/// does or the client goes away.
pub(crate) async fn deadline(
    State(state): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Response {
    if waits_for_run(&req) {
        return next.run(req).await;
    }
    let limit = state.limits.request_timeout;
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => ApiError::unavailable(format!(
            "no answer within {}s: the scheduler may be stalled",
            limit.as_secs_f64()
        ))
        .into_response(),
    }
}

/// Whether the request is a `POST …/run` whose query the handler reads as
/// `wait` = true. A query it refuses (another parameter, `wait` twice, a
/// bad value) gets a prompt 400 from the handler, so the deadline can stay.
fn waits_for_run(req: &Request) -> bool {
    req.method() == Method::POST
        && req.uri().path().ends_with("/run")
        && Query::<Vec<(String, String)>>::try_from_uri(req.uri()).is_ok_and(|Query(q)| {
            Params::new(q, &["wait"]).is_ok_and(|p| p.wait().unwrap_or(false))
        })
}
