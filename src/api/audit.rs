//! The audit trail (cronduct.toml(5) EXECUTION LOG, `admin`): one `admin`
//! line in the execution log for every request to a command endpoint,
//! refused ones included, with the name of the key (never the key), the
//! action, the job and the answer's status.
//!
//! It wraps every other layer but the connection bookkeeping, so a request
//! refused by the Host check, the body limit or the key check is recorded
//! like one the handler answered. It records only; it never changes an
//! answer.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use super::AppState;
use super::auth::KeyName;
use super::error::ApiError;
use super::paths::Endpoint;
use crate::record::{AdminRecord, LogEvent};

/// Records each command request once it is answered. The rest of the
/// pipeline runs as a task of its own, so a client that hangs up early
/// (a `run?wait=true` it tires of) still gets its request recorded, with
/// the answer it would have had.
pub(crate) async fn audit(
    State(state): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Response {
    let Some(endpoint) = Endpoint::find(req.method(), req.uri().path()) else {
        return next.run(req).await;
    };
    let Some(action) = endpoint.audit else {
        return next.run(req).await;
    };
    let job = endpoint.param(req.uri().path(), "id").map(str::to_string);
    let answered = tokio::spawn(next.run(req));
    let response = match answered.await {
        Ok(response) => response,
        Err(e) => axum::response::IntoResponse::into_response(ApiError::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            format!("the request handler failed: {e}"),
        )),
    };
    let status = response.status();
    state.ctx.log.write(LogEvent::Admin(AdminRecord {
        ts: state.ctx.clock.now(),
        key: response
            .extensions()
            .get::<KeyName>()
            .map(|k| k.0.to_string()),
        action,
        job,
        ok: status.is_success(),
        status: status.as_u16(),
        host: state.ctx.host.to_string(),
    }));
    response
}
