//! `GET /api/v1/cluster`, the drift warnings of `/health`, and the
//! cluster side of the pause endpoints: a pause or resume is written to
//! the database before this node's scheduler is asked, so a database
//! that cannot be reached refuses it (503) rather than pausing one node
//! of several.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::AppState;
use super::error::ApiError;
use crate::cluster::{Asked, Node, RequestAnswer};
use crate::wire::{ClusterView, Pause};

/// `GET /api/v1/cluster`: the nodes as this node read them at its last
/// heartbeat; `{"enabled": false, …}` without `[cluster]`.
pub(super) async fn view(
    State(s): State<Arc<AppState>>,
    q: super::routes::RawQuery,
) -> Result<Response, ApiError> {
    super::routes::params(q, &[])?;
    super::routes::ok(match &s.ctx.cluster {
        Some(node) => node.view(),
        None => ClusterView::default(),
    })
}

/// One `/health` warning per job the live nodes define differently,
/// naming each node's definition.
pub(super) fn drift_warnings(view: &ClusterView) -> Vec<String> {
    view.drift
        .iter()
        .map(|d| {
            let by_node: Vec<String> = d
                .definitions
                .iter()
                .map(|(node, hash)| match hash {
                    Some(h) => format!("{node} {h}"),
                    None => format!("{node} (not defined)"),
                })
                .collect();
            format!(
                "job {:?} is defined differently on the live cluster nodes ({}): give every node the same definition",
                d.job,
                by_node.join(", ")
            )
        })
        .collect()
}

/// Pauses `jobs` in the cluster; answers the pause as stored.
pub(super) async fn pause(node: &Node, jobs: &[String], pause: &Pause) -> Result<Pause, ApiError> {
    node.pause(jobs, pause)
        .await
        .map_err(|e| unreachable(&e, "paused"))
}

/// Resumes `jobs` (every job with `None`) in the cluster.
pub(super) async fn resume(node: &Node, jobs: Option<&[String]>) -> Result<(), ApiError> {
    node.resume(jobs)
        .await
        .map_err(|e| unreachable(&e, "resumed"))
}

fn unreachable(error: &str, what: &str) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        format!("the cluster database cannot be reached ({error}): nothing was {what}"),
    )
}

/// The header that says, in cluster mode, where an answer about past runs
/// comes from: `cluster` (the database: every node's records) or `local`
/// (this node's own log, while the database cannot be read).
pub(crate) const HISTORY_HEADER: &str = "cronduct-history";

/// Where an answer about past runs came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Source {
    /// Not in cluster mode: the local log is the whole history.
    Alone,
    Cluster,
    /// In cluster mode, from the local log: the database could not be read.
    Local,
}

/// `answer` from the cluster database, or, when it could not be read,
/// `local()`. A failed read of a database the node otherwise reaches (a
/// missing privilege, a broken table) is worth a warning; one the node
/// already reports unreachable (in `/health`) is not worth another.
pub(super) fn or_local<T>(
    node: &Node,
    answer: Result<T, String>,
    local: impl FnOnce() -> T,
) -> (T, Source) {
    match answer {
        Ok(v) => (v, Source::Cluster),
        Err(e) => {
            if node.link().get().reachable {
                tracing::warn!("answering from this node's log only: {e}");
            } else {
                tracing::debug!("answering from this node's log only: {e}");
            }
            (local(), Source::Local)
        }
    }
}

/// `response` with the [`HISTORY_HEADER`] of `source` (none when alone).
pub(super) fn mark(mut response: Response, source: Source) -> Response {
    let value = match source {
        Source::Alone => return response,
        Source::Cluster => "cluster",
        Source::Local => "local",
    };
    response
        .headers_mut()
        .insert(HISTORY_HEADER, axum::http::HeaderValue::from_static(value));
    response
}

/// What this node does when another node asks it for a manual run of a
/// job: what its own `POST /api/v1/jobs/{id}/run` would do, the refusal
/// carrying the status that endpoint would answer.
pub(super) fn start_for_peer(
    handle: crate::daemon::control::Handle,
) -> impl Fn(String) -> std::pin::Pin<Box<dyn std::future::Future<Output = RequestAnswer> + Send>> {
    move |job| {
        let handle = handle.clone();
        Box::pin(async move {
            handle.trigger(&job).await.map(|t| t.run_id).map_err(|e| {
                let e = ApiError::from(e);
                (e.status().as_u16(), e.message().to_string())
            })
        })
    }
}

/// `POST /api/v1/jobs/{id}/run?node=NAME` for a node other than this one:
/// 202 with the run id the node started, 404 for a node the cluster never
/// had (or a job that node does not know), 409 when it is gone or
/// refuses (`concurrency = "forbid"`), 503 when the database cannot be
/// reached or the node's answer did not come.
pub(super) async fn run_on(node: &Node, target: &str, job: &str) -> Result<String, ApiError> {
    let asked = node
        .ask_run(target, job)
        .await
        .map_err(|e| unreachable(&e, "started"))?;
    match asked {
        Asked::Started(run_id) => Ok(run_id),
        Asked::Refused { status, error } => Err(ApiError::new(
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            format!("cluster node {target:?}: {error}"),
        )),
        Asked::UnknownNode => Err(ApiError::not_found(format!(
            "unknown cluster node {target:?}"
        ))),
        Asked::Gone(why) => Err(ApiError::new(StatusCode::CONFLICT, why)),
        Asked::NoAnswer => Err(ApiError::unavailable(format!(
            "cluster node {target:?} took the request but its answer did not come: the run may have started there (see GET /api/v1/runs)"
        ))),
    }
}
