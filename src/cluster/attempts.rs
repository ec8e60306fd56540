//! Claimed runs in the database after the claim: which attempt runs
//! where, the finish records (written fenced), and the failover of the
//! attempts of a node gone silent.
//!
//! Fencing: every write a node makes about a claimed run names the epoch
//! the claim was made with, and succeeds only while the node's row still
//! has that epoch and the claim is still the node's, checked in the same
//! statement. A node declared gone has its row's epoch bumped by the
//! survivor that noticed, and its claims move to whoever takes them over,
//! so whatever it still tries to record about them is refused.

use std::time::Duration;

use chrono::{DateTime, Utc};
use deadpool_postgres::Object;

use super::node::{Node, deadline};
use crate::record::{FinishRecord, Trigger};

/// How long a finish record (or the start of a retry) is retried while
/// the database cannot be reached. Past it the record stays in the local
/// log only. A node cut off this long has been declared gone by its peers
/// anyway, and its claimed writes would be refused.
const WRITE_PATIENCE: Duration = Duration::from_secs(600);

/// How a write about a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// It is in the database (now, or from an earlier try whose answer
    /// was lost).
    Written,
    /// Refused: this node's claim (or its membership) is no longer the
    /// one the run started with.
    Fenced,
    /// The database could not be asked.
    Unreachable(String),
}

/// An attempt this node took over from a node declared gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TakenOver {
    pub job: String,
    pub scheduled_at: DateTime<Utc>,
    pub run_id: String,
    pub trigger: Trigger,
    /// The attempt the gone node had: running (it is lost) or, when
    /// `running` is false, finished and waiting for its retry.
    pub attempt: u32,
    /// When that attempt was started (claimed).
    pub attempt_at: DateTime<Utc>,
    pub running: bool,
    /// The gone node's name.
    pub from: String,
    /// This node's epoch, which the claim now carries.
    pub epoch: i64,
}

/// A write [`Node::patiently`] makes, retried as a whole.
enum Op<'a> {
    BeginAttempt {
        job: &'a str,
        scheduled_at: DateTime<Utc>,
        attempt: i32,
        epoch: i64,
    },
    /// `epoch`: the claim's, or `None` for this node's current one (an
    /// unclaimed run).
    Finish {
        record: &'a FinishRecord,
        epoch: Option<i64>,
    },
}

/// Why one try of a write did not answer.
enum CallError {
    NotRegistered,
    Db(tokio_postgres::Error),
}

impl From<tokio_postgres::Error> for CallError {
    fn from(e: tokio_postgres::Error) -> Self {
        CallError::Db(e)
    }
}

impl Node {
    /// Records that attempt `attempt` of the claimed run of `job` at
    /// `scheduled_at` starts now on this node. Refused (fenced) when the
    /// claim made under `epoch` was taken over meanwhile; retried while
    /// the database cannot be reached.
    pub async fn begin_attempt(
        &self,
        job: &str,
        scheduled_at: DateTime<Utc>,
        attempt: u32,
        epoch: i64,
    ) -> Write {
        let op = Op::BeginAttempt {
            job,
            scheduled_at,
            attempt: i32::try_from(attempt).unwrap_or(i32::MAX),
            epoch,
        };
        self.patiently("recording a retry's start", &op).await
    }

    /// Writes `record` (an attempt's finish, made on this node) into
    /// `cronduct_finishes`, with this node's name as `node`. For a
    /// claimed run (`claim` = the epoch it was claimed with) the write is
    /// fenced by the claim and moves the claim on (waiting to retry, or
    /// finished); any other run is no other node's, so its record is
    /// written under this node's current membership, waiting while the
    /// node has been declared lost and not registered again yet. Retried
    /// while the database cannot be reached.
    pub async fn record_finish(&self, record: &FinishRecord, claim: Option<i64>) -> Write {
        let op = Op::Finish {
            record,
            epoch: claim,
        };
        self.patiently("writing a finish record", &op).await
    }

    /// Declares gone the nodes silent for `node_timeout` (by the
    /// database's clock), bumping their epoch so that nothing they still
    /// write is accepted, and takes over the open claims whose owner is
    /// no longer a member: the attempts of those nodes, and of earlier
    /// lives of restarted ones. Each claim moves to exactly one survivor
    /// (row locks; the others skip it).
    pub(super) async fn fail_over(&self, client: &Object) -> Result<Vec<TakenOver>, String> {
        let epoch = self.epoch();
        if epoch == 0 {
            return Ok(Vec::new());
        }
        let timeout = self.settings().node_timeout.as_secs_f64();
        let name = self.name();
        deadline("failing over silent nodes", async {
            let fence = client
                .prepare_cached(
                    "UPDATE cronduct_nodes SET epoch = epoch + 1, state = 'gone', gone_at = now()
                     WHERE state = 'up' AND name <> $1
                       AND last_seen < now() - make_interval(secs => $2)
                       AND EXISTS (SELECT 1 FROM cronduct_nodes me WHERE me.name = $1 AND me.epoch = $3)
                     RETURNING name",
                )
                .await?;
            for row in client.query(&fence, &[&name, &timeout, &epoch]).await? {
                let gone: String = row.get(0);
                tracing::warn!(
                    "cluster node {gone:?} silent for {}s: declared lost; its attempts are taken over",
                    self.settings().node_timeout.as_secs()
                );
            }
            let take = client
                .prepare_cached(
                    "UPDATE cronduct_claims c SET node = $1, epoch = $2
                     FROM (SELECT o.job, o.scheduled_at, o.node AS from_node
                           FROM cronduct_claims o
                           WHERE o.state <> 'finished' AND o.run_id IS NOT NULL
                             AND NOT EXISTS (SELECT 1 FROM cronduct_nodes n
                                             WHERE n.name = o.node AND n.epoch = o.epoch)
                           FOR UPDATE SKIP LOCKED) old
                     WHERE c.job = old.job AND c.scheduled_at = old.scheduled_at
                       AND EXISTS (SELECT 1 FROM cronduct_nodes me WHERE me.name = $1 AND me.epoch = $2)
                     RETURNING c.job, c.scheduled_at, c.run_id, c.trigger, c.attempt,
                               c.attempt_at, c.state, old.from_node",
                )
                .await?;
            let rows = client.query(&take, &[&name, &epoch]).await?;
            Ok::<_, tokio_postgres::Error>(
                rows.iter()
                    .map(|row| TakenOver {
                        job: row.get(0),
                        scheduled_at: row.get(1),
                        run_id: row.get(2),
                        trigger: trigger_of(row.get(3)),
                        attempt: u32::try_from(row.get::<_, i32>(4)).unwrap_or(1),
                        attempt_at: row.get(5),
                        running: row.get::<_, &str>(6) == "running",
                        from: row.get(7),
                        epoch,
                    })
                    .collect(),
            )
        })
        .await?
        .map_err(|e| format!("failing over silent nodes: {e}"))
    }

    /// Makes `op` until the database answers, retrying with back-off
    /// (up to the heartbeat interval) while it cannot be reached, for at
    /// most [`WRITE_PATIENCE`].
    async fn patiently(&self, what: &str, op: &Op<'_>) -> Write {
        let give_up = tokio::time::Instant::now() + WRITE_PATIENCE;
        let every = self.settings().heartbeat;
        let mut wait = Duration::from_millis(250).min(every);
        loop {
            let error = match self.connection().await {
                Ok(client) => match deadline(what, self.once(&client, op)).await {
                    Ok(Ok(accepted)) => {
                        return if accepted {
                            Write::Written
                        } else {
                            Write::Fenced
                        };
                    }
                    Ok(Err(CallError::NotRegistered)) => {
                        "this node has not joined (or rejoined) the cluster yet".to_string()
                    }
                    Ok(Err(CallError::Db(e))) => {
                        // The connection may be broken: never reuse it.
                        let _ = Object::take(client);
                        format!("{what}: {e}")
                    }
                    Err(e) => {
                        let _ = Object::take(client);
                        e
                    }
                },
                Err(e) => e,
            };
            if tokio::time::Instant::now() + wait > give_up {
                return Write::Unreachable(error);
            }
            tracing::debug!("{error}; trying again in {} ms", wait.as_millis());
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(every);
        }
    }

    /// One try of `op`; answers whether it was accepted (not fenced).
    async fn once(&self, client: &Object, op: &Op<'_>) -> Result<bool, CallError> {
        let name = self.name();
        match *op {
            Op::BeginAttempt {
                job,
                scheduled_at,
                attempt,
                epoch,
            } => {
                let statement = client
                    .prepare_cached(
                        "UPDATE cronduct_claims c
                         SET attempt = $4, state = 'running', attempt_at = now()
                         WHERE c.job = $1 AND c.scheduled_at = $2 AND c.node = $3 AND c.epoch = $5
                           AND EXISTS (SELECT 1 FROM cronduct_nodes n
                                       WHERE n.name = $3 AND n.epoch = $5)",
                    )
                    .await?;
                let n = client
                    .execute(&statement, &[&job, &scheduled_at, &name, &attempt, &epoch])
                    .await?;
                Ok(n == 1)
            }
            Op::Finish { record, epoch } => {
                let (epoch, claimed) = match epoch {
                    Some(epoch) => (epoch, true),
                    None => (self.epoch(), false),
                };
                if epoch == 0 {
                    return Err(CallError::NotRegistered);
                }
                let accepted = insert_finish(client, name, record, epoch, claimed).await?;
                if !accepted && !claimed {
                    // No other node can own an unclaimed run (`run_on =
                    // "all"`, manual): refused only because this node was
                    // declared lost and has not registered again yet. Its
                    // next heartbeat does, and the record goes in then.
                    return Err(CallError::NotRegistered);
                }
                Ok(accepted)
            }
        }
    }
}

/// The fenced insert of a finish record, and the claim's move to
/// `retrying` or `finished`, in one statement: the row goes in only if
/// `node` is still a member with `epoch` and (`claimed`) the run's claim
/// is still `node`'s under that epoch. A record already there (an earlier
/// try whose answer was lost) counts as accepted.
async fn insert_finish(
    client: &Object,
    node: &str,
    r: &FinishRecord,
    epoch: i64,
    claimed: bool,
) -> Result<bool, CallError> {
    let statement = client
        .prepare_cached(
            "WITH owner AS (
                 SELECT 1 FROM cronduct_nodes n
                 WHERE n.name = $1 AND n.epoch = $2
                   AND (NOT $3::boolean OR EXISTS (
                       SELECT 1 FROM cronduct_claims c
                       WHERE c.job = $5 AND c.scheduled_at = $8
                         AND c.node = $1 AND c.epoch = $2))
             ), inserted AS (
                 INSERT INTO cronduct_finishes (
                     run_id, attempt, job, ts, trigger, scheduled_at, started_at,
                     finished_at, duration_ms, status, exit_code, signal, http_status,
                     error, stdout, stderr, output_truncated, cpu_user_ms, cpu_system_ms,
                     max_rss_kib, output_dropped_bytes, result, result_error, will_retry,
                     retry_at, host, node, epoch)
                 SELECT $4, $6, $5, $7, $9, $8, $10, $11, $12, $13, $14, $15, $16, $17,
                        $18, $19, $20, $21, $22, $23, $24, $25::text::jsonb, $26, $27,
                        $28, $29, $1, $2
                 FROM owner
                 ON CONFLICT (run_id, attempt) DO NOTHING
             ), moved AS (
                 UPDATE cronduct_claims c
                 SET state = CASE WHEN $27 THEN 'retrying' ELSE 'finished' END
                 WHERE $3::boolean AND c.job = $5 AND c.scheduled_at = $8
                   AND c.node = $1 AND c.epoch = $2 AND c.attempt <= $6
                   AND EXISTS (SELECT 1 FROM owner)
             )
             SELECT count(*) FROM owner",
        )
        .await?;
    let int = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    let attempt = i32::try_from(r.attempt).unwrap_or(i32::MAX);
    let result = r
        .result
        .as_ref()
        .and_then(|m| serde_json::to_string(m).ok());
    let row = client
        .query_one(
            &statement,
            &[
                &node,
                &epoch,
                &claimed,
                &r.run_id,
                &r.job,
                &attempt,
                &r.ts,
                &r.scheduled_at,
                &r.trigger.as_str(),
                &r.started_at,
                &r.finished_at,
                &int(r.duration_ms),
                &r.status.as_str(),
                &r.exit_code,
                &r.signal,
                &r.http_status.map(i32::from),
                &r.error,
                &r.stdout,
                &r.stderr,
                &r.output_truncated,
                &r.cpu_user_ms.map(int),
                &r.cpu_system_ms.map(int),
                &r.max_rss_kib.map(int),
                &r.output_dropped_bytes.map(int),
                &result,
                &r.result_error,
                &r.will_retry,
                &r.retry_at,
                &r.host,
            ],
        )
        .await?;
    Ok(row.get::<_, i64>(0) > 0)
}

/// The trigger a claim row names; a claim always names one this build
/// knows, `schedule` being the safe reading of anything else.
pub(super) fn trigger_of(name: &str) -> Trigger {
    match name {
        "catch_up" => Trigger::CatchUp,
        "manual" => Trigger::Manual,
        "reboot" => Trigger::Reboot,
        _ => Trigger::Schedule,
    }
}
