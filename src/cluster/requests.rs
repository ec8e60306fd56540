//! Manual runs asked of another node (`POST /api/v1/jobs/{id}/run?node=`)
//! through the database: the asking node writes a row in
//! `cronduct_requests` naming the node, which takes it at its next poll
//! (every `heartbeat`), starts the run as if its own API had been asked,
//! and writes back the run id or why it refused; the asking node waits
//! for that answer and passes it on.
//!
//! The database is the only channel: it needs no address, key or route
//! between the nodes, and the row is taken by one atomic update, so a
//! request starts at most one run even if the asking node gives up and
//! the row is answered late.

use std::future::Future;
use std::time::Duration;

use deadpool_postgres::Object;

use super::node::{CALL_TIMEOUT, Node, deadline};

/// How often the asking node looks for the answer.
const ANSWER_POLL: Duration = Duration::from_millis(200);

/// Requests nobody took for this long (their asker gave up long ago) are
/// removed by the next poll of any node.
const FORGET_AFTER_SECS: f64 = 3600.0;

/// How a request to another node ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Asked {
    /// The node started the run.
    Started(String),
    /// The node refused: `status` is the HTTP status its own API would
    /// have answered (404 unknown job, 409 conflict, 503 stopping).
    Refused { status: u16, error: String },
    /// No node of that name has ever joined the cluster.
    UnknownNode,
    /// The node is gone (silent for `node_timeout`, or it left), or did
    /// not take the request in time: nothing was started.
    Gone(String),
    /// The node took the request but its answer did not come in time:
    /// the run may have started there.
    NoAnswer,
}

/// What a node answers to a request it took: the run id, or the status
/// and message of its refusal.
pub type Answer = Result<String, (u16, String)>;

impl Node {
    /// Asks node `target` to start a manual run of `job`, and waits for
    /// its answer: up to two heartbeats and a call's deadline for it to
    /// take the request.
    pub async fn ask_run(&self, target: &str, job: &str) -> Result<Asked, String> {
        let client = self.connection().await?;
        let asked = self.ask_on(&client, target, job).await;
        if asked.is_err() {
            // The connection may be stalled mid-answer: never reuse it.
            let _ = Object::take(client);
        }
        asked
    }

    async fn ask_on(&self, client: &Object, target: &str, job: &str) -> Result<Asked, String> {
        let timeout = self.settings().node_timeout.as_secs_f64();
        let found = deadline("asking another node to run a job", async {
            client
                .query_opt(
                    "SELECT state = 'up' AND last_seen >= now() - make_interval(secs => $2)
                     FROM cronduct_nodes WHERE name = $1",
                    &[&target, &timeout],
                )
                .await
        })
        .await?
        .map_err(|e| format!("asking another node to run a job: {e}"))?;
        match found.map(|r| r.get::<_, bool>(0)) {
            None => return Ok(Asked::UnknownNode),
            Some(false) => {
                return Ok(Asked::Gone(format!(
                    "cluster node {target:?} is gone: nothing was started"
                )));
            }
            Some(true) => {}
        }
        let id: i64 = deadline("asking another node to run a job", async {
            client
                .query_one(
                    "INSERT INTO cronduct_requests (node, job, asked_by) VALUES ($1, $2, $3)
                     RETURNING id",
                    &[&target, &job, &self.name()],
                )
                .await
        })
        .await?
        .map_err(|e| format!("asking another node to run a job: {e}"))?
        .get(0);
        let patience = (self.settings().heartbeat * 2 + CALL_TIMEOUT).min(Duration::from_secs(20));
        let give_up = tokio::time::Instant::now() + patience;
        loop {
            tokio::time::sleep(ANSWER_POLL).await;
            let row = deadline("waiting for another node's answer", async {
                client
                    .query_opt(
                        "SELECT taken_at IS NOT NULL, answered_at IS NOT NULL, run_id, status, error
                         FROM cronduct_requests WHERE id = $1",
                        &[&id],
                    )
                    .await
            })
            .await?
            .map_err(|e| format!("waiting for another node's answer: {e}"))?;
            let Some(row) = row else {
                return Ok(Asked::NoAnswer);
            };
            let (taken, answered): (bool, bool) = (row.get(0), row.get(1));
            if answered {
                let _ = client
                    .execute("DELETE FROM cronduct_requests WHERE id = $1", &[&id])
                    .await;
                let run_id: Option<String> = row.get(2);
                return Ok(match run_id {
                    Some(run_id) => Asked::Started(run_id),
                    None => Asked::Refused {
                        status: u16::try_from(row.get::<_, i32>(3)).unwrap_or(500),
                        error: row.get::<_, Option<String>>(4).unwrap_or_default(),
                    },
                });
            }
            if tokio::time::Instant::now() < give_up {
                continue;
            }
            if taken {
                return Ok(Asked::NoAnswer);
            }
            // Withdrawn unless the node takes it at this very moment.
            let withdrawn = client
                .execute(
                    "DELETE FROM cronduct_requests WHERE id = $1 AND taken_at IS NULL",
                    &[&id],
                )
                .await
                .map_err(|e| format!("withdrawing a request: {e}"))?;
            if withdrawn == 1 {
                return Ok(Asked::Gone(format!(
                    "cluster node {target:?} did not take the request within {}s: nothing was started",
                    patience.as_secs()
                )));
            }
        }
    }

    /// Serves the requests addressed to this node, forever: every
    /// `heartbeat` it takes them (one atomic update, so each is taken
    /// once) and answers each with what `start(job)` says. A database
    /// that cannot be reached is tried again at the next poll.
    pub async fn serve_requests<F, Fut>(self, start: F)
    where
        F: Fn(String) -> Fut,
        Fut: Future<Output = Answer>,
    {
        loop {
            tokio::time::sleep(self.settings().heartbeat).await;
            if self.epoch() == 0 || !self.link().get().reachable {
                continue;
            }
            if let Err(e) = self.serve_once(&start).await {
                tracing::debug!("run requests from other nodes: {e}");
            }
        }
    }

    async fn serve_once<F, Fut>(&self, start: &F) -> Result<(), String>
    where
        F: Fn(String) -> Fut,
        Fut: Future<Output = Answer>,
    {
        let client = self.connection().await?;
        let served = self.serve_on(&client, start).await;
        if served.is_err() {
            let _ = Object::take(client);
        }
        served
    }

    async fn serve_on<F, Fut>(&self, client: &Object, start: &F) -> Result<(), String>
    where
        F: Fn(String) -> Fut,
        Fut: Future<Output = Answer>,
    {
        let taken = deadline("taking run requests", async {
            client
                .query(
                    "WITH forgotten AS (
                         DELETE FROM cronduct_requests
                         WHERE asked_at < now() - make_interval(secs => $2))
                     UPDATE cronduct_requests SET taken_at = now()
                     WHERE node = $1 AND taken_at IS NULL
                     RETURNING id, job, asked_by",
                    &[&self.name(), &FORGET_AFTER_SECS],
                )
                .await
        })
        .await?
        .map_err(|e| format!("taking run requests: {e}"))?;
        for row in taken {
            let (id, job, by): (i64, String, String) = (row.get(0), row.get(1), row.get(2));
            let answer = start(job.clone()).await;
            match &answer {
                Ok(run_id) => {
                    tracing::info!(job = %job, run_id = %run_id, "started at the request of cluster node {by:?}")
                }
                Err((_, e)) => {
                    tracing::warn!(job = %job, "cluster node {by:?} asked for a run: refused: {e}")
                }
            }
            let (run_id, status, error) = match answer {
                Ok(run_id) => (Some(run_id), None, None),
                Err((status, error)) => (None, Some(i32::from(status)), Some(error)),
            };
            deadline("answering a run request", async {
                client
                    .execute(
                        "UPDATE cronduct_requests
                         SET answered_at = now(), run_id = $2, status = $3, error = $4
                         WHERE id = $1",
                        &[&id, &run_id, &status, &error],
                    )
                    .await
            })
            .await?
            .map_err(|e| format!("answering a run request: {e}"))?;
        }
        Ok(())
    }
}
