//! Cluster-wide pauses: rows of `cronduct_pauses`, written by the node
//! whose API was asked, before its own scheduler pauses the job.
//!
//! Every node obeys them twice over: its claims skip a paused job (see
//! [`Node::claim`]), which holds from the moment the row is written, and
//! its scheduler takes the pause into its own state when the next
//! heartbeat reads it (see `view.rs`), which is what its job list shows
//! and what stops its `run_on = "all"` jobs.

use chrono::{DateTime, DurationRound, Utc};
use deadpool_postgres::Object;

use super::Node;
use super::node::deadline;
use crate::wire::Pause;

impl Node {
    /// Pauses `jobs` in the cluster under `pause`; answers the pause as
    /// stored (its times at the database's microseconds), which is the
    /// one the caller should keep, so every node holds the same.
    pub async fn pause(&self, jobs: &[String], pause: &Pause) -> Result<Pause, String> {
        let micros = |t: Option<DateTime<Utc>>| {
            t.map(|t| {
                t.duration_trunc(chrono::Duration::microseconds(1))
                    .unwrap_or(t)
            })
        };
        let stored = Pause {
            until: micros(pause.until),
            at: micros(pause.at),
            ..pause.clone()
        };
        let node = self.inner.name.as_str();
        let now = self.inner.clock.now();
        let client = self
            .connection()
            .await
            .inspect_err(|e| self.unreachable(e))?;
        let result = deadline("pausing in the cluster", async {
            let statement = client
                .prepare_cached(
                    "WITH gone AS (DELETE FROM cronduct_pauses WHERE until <= $7)
                     INSERT INTO cronduct_pauses (job, reason, until, paused_by, paused_at, node)
                     SELECT job, $2, $3, $4, $5, $6 FROM unnest($1::text[]) AS job
                     ON CONFLICT (job) DO UPDATE SET reason = EXCLUDED.reason,
                         until = EXCLUDED.until, paused_by = EXCLUDED.paused_by,
                         paused_at = EXCLUDED.paused_at, node = EXCLUDED.node",
                )
                .await?;
            client
                .execute(
                    &statement,
                    &[
                        &jobs,
                        &stored.reason,
                        &stored.until,
                        &stored.by,
                        &stored.at,
                        &node,
                        &now,
                    ],
                )
                .await
        })
        .await;
        self.written(client, "pausing in the cluster", result)?;
        Ok(stored)
    }

    /// Resumes `jobs` in the cluster, or every paused job with `None`.
    pub async fn resume(&self, jobs: Option<&[String]>) -> Result<(), String> {
        let client = self
            .connection()
            .await
            .inspect_err(|e| self.unreachable(e))?;
        let result = deadline("resuming in the cluster", async {
            match jobs {
                Some(jobs) => {
                    let statement = client
                        .prepare_cached("DELETE FROM cronduct_pauses WHERE job = ANY($1)")
                        .await?;
                    client.execute(&statement, &[&jobs]).await
                }
                None => client.execute("DELETE FROM cronduct_pauses", &[]).await,
            }
        })
        .await;
        self.written(client, "resuming in the cluster", result)
    }

    /// The end of a write on `client`: a failed or stalled connection is
    /// dropped from the pool, as for claims, and the link marked down.
    fn written(
        &self,
        client: Object,
        what: &str,
        result: Result<Result<u64, tokio_postgres::Error>, String>,
    ) -> Result<(), String> {
        match result.and_then(|r| r.map_err(|e| format!("{what}: {e}"))) {
            Ok(_) => Ok(()),
            Err(e) => {
                let _ = Object::take(client);
                self.unreachable(&e);
                Err(e)
            }
        }
    }
}
