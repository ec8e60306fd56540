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
use crate::cluster::Node;
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
