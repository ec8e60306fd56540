//! This daemon as a node: its pooled connections, its row in
//! `cronduct_nodes` (heartbeat, epoch) and its claims.
//!
//! The heartbeat task owns the node row (and, after each beat, reads the
//! cluster view: see `view.rs`); claims are made by the scheduler through
//! [`Node::claim`]. Every database call has a deadline, so a
//! stalled connection makes the node unreachable rather than stuck, and a
//! connection that failed or timed out is dropped from the pool, never
//! reused.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};

use tokio::sync::mpsc;

use super::DatabaseUrl;
use super::attempts::TakenOver;
use super::schema;
use super::view::{Definitions, Shared};
use crate::clock::Clock;
use crate::config::ClusterSettings;
use crate::record::Trigger;
use crate::wire::Pause;

/// The deadline of one database call (a claim, a heartbeat, getting a
/// connection). Past it the database counts as unreachable.
pub(super) const CALL_TIMEOUT: Duration = Duration::from_secs(3);

/// Connections kept: the heartbeat's and claims made at the same second.
const POOL_SIZE: usize = 4;

/// The first wait before trying an unreachable database again; it
/// doubles up to the heartbeat interval.
const FIRST_RETRY: Duration = Duration::from_millis(500);

/// A clock further than this from the database's is reported.
pub const CLOCK_OFFSET_LIMIT_MS: i64 = 1000;

/// What the node knows of its link to the database, for `/health` and
/// the cluster view.
#[derive(Debug, Clone, Default)]
pub struct LinkStatus {
    /// The last call went through.
    pub reachable: bool,
    /// Why the last call failed, while it is unreachable.
    pub error: Option<String>,
    /// The last heartbeat that went through.
    pub last_heartbeat: Option<DateTime<Utc>>,
    /// The database's clock minus ours, in milliseconds, at the last
    /// heartbeat.
    pub clock_offset_ms: i64,
}

/// How a claim ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This node inserted the row under this epoch: it starts the run,
    /// and everything it records about the run names the epoch (fencing).
    Won(i64),
    /// Another node had claimed the instant already.
    Taken,
    /// The job is paused in the cluster (from another node, since this
    /// one had not heard of it yet): nothing was claimed.
    Paused(Pause),
    /// The database could not be asked (or answered too late): the run
    /// is not started here.
    Unreachable(String),
}

/// A reader of the node's link status, for the API thread.
#[derive(Clone)]
pub struct LinkHandle(Arc<Mutex<LinkStatus>>);

impl LinkHandle {
    pub fn get(&self) -> LinkStatus {
        self.0.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

/// This daemon's membership of the cluster.
#[derive(Clone)]
pub struct Node {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    pool: Pool,
    pub(super) name: String,
    /// This life's epoch (`cronduct_nodes.epoch`), 0 until registered.
    epoch: AtomicI64,
    status: Arc<Mutex<LinkStatus>>,
    pub(super) settings: ClusterSettings,
    /// Where the attempts taken over from gone nodes go (the scheduler).
    takeovers: mpsc::UnboundedSender<TakenOver>,
    pub(super) clock: Arc<dyn Clock>,
    address: String,
    started_at: DateTime<Utc>,
    /// What this node publishes and what it last read of the others.
    pub(super) shared: Shared,
}

impl Node {
    /// Sets the node up on `url`, joins the cluster (migrating the schema
    /// if need be) publishing `definitions` (each job's definition hash),
    /// and starts its heartbeat task on the current runtime. An
    /// unreachable database is no error: the node runs degraded, and the
    /// heartbeat task keeps trying.
    /// The attempts this node takes over from nodes that went silent
    /// are sent to `takeovers`.
    pub async fn start(
        settings: &ClusterSettings,
        url: &DatabaseUrl,
        clock: Arc<dyn Clock>,
        address: String,
        takeovers: mpsc::UnboundedSender<TakenOver>,
        definitions: BTreeMap<String, String>,
    ) -> Result<Node, String> {
        let mut config = url.config.clone();
        config.connect_timeout(CALL_TIMEOUT);
        config.keepalives_idle(Duration::from_secs(10));
        let manager = Manager::from_config(
            config,
            url.connector()?,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(CALL_TIMEOUT))
            .create_timeout(Some(CALL_TIMEOUT))
            .recycle_timeout(Some(CALL_TIMEOUT))
            .build()
            .map_err(|e| format!("cannot set up the database pool: {e}"))?;
        let node = Node {
            inner: Arc::new(Inner {
                pool,
                name: settings.node.clone(),
                epoch: AtomicI64::new(0),
                status: Arc::new(Mutex::new(LinkStatus {
                    error: Some("not connected yet".to_string()),
                    ..LinkStatus::default()
                })),
                settings: settings.clone(),
                takeovers,
                started_at: clock.now(),
                clock,
                address,
                shared: Shared::new(Definitions::new(definitions)),
            }),
        };
        // The first beat is awaited so that a node whose database answers
        // has joined before its scheduler claims the first instant.
        let mut migrated = false;
        let first = node.beat(&mut migrated).await;
        if let Err(e) = &first {
            node.unreachable(e);
        }
        tokio::spawn(node.clone().heartbeats(migrated, first.is_ok()));
        Ok(node)
    }

    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// This life's epoch; 0 until the node has joined.
    pub(super) fn epoch(&self) -> i64 {
        self.inner.epoch.load(Ordering::Acquire)
    }

    /// `[cluster]` as the node started with it: a reload that changes it
    /// needs a restart.
    pub fn settings(&self) -> &ClusterSettings {
        &self.inner.settings
    }

    /// The link status, readable from any thread.
    pub fn link(&self) -> LinkHandle {
        LinkHandle(Arc::clone(&self.inner.status))
    }

    /// Claims `job`'s instant `scheduled_at` for this node, for its run
    /// `run_id` (first attempt, running). Only a
    /// registered node whose epoch is still current can win: a node that
    /// was declared gone and fenced claims nothing until it registers
    /// again.
    ///
    /// A job paused in the cluster at this node's `now` is not claimed,
    /// so a pause made on another node holds here before this node's next
    /// heartbeat has brought it.
    pub async fn claim(
        &self,
        job: &str,
        scheduled_at: DateTime<Utc>,
        run_id: &str,
        trigger: Trigger,
    ) -> Claim {
        let epoch = self.inner.epoch.load(Ordering::Acquire);
        if epoch == 0 {
            return Claim::Unreachable(self.link().get().error.unwrap_or_default());
        }
        let name = self.inner.name.as_str();
        let client = match self.connection().await {
            Ok(c) => c,
            Err(e) => {
                self.unreachable(&e);
                return Claim::Unreachable(e);
            }
        };
        let now = self.inner.clock.now();
        let inserted = deadline("claiming a run", async {
            let statement = client
                .prepare_cached(
                    "WITH paused AS (
                         SELECT reason, until, paused_by, paused_at FROM cronduct_pauses
                         WHERE job = $1 AND (until IS NULL OR until > $5)),
                     claimed AS (
                         INSERT INTO cronduct_claims
                             (job, scheduled_at, node, epoch, run_id, trigger, attempt, state)
                         SELECT $1, $2, $3, $4, $6, $7, 1, 'running' WHERE EXISTS (
                             SELECT 1 FROM cronduct_nodes WHERE name = $3 AND epoch = $4)
                           AND NOT EXISTS (SELECT 1 FROM paused)
                         ON CONFLICT (job, scheduled_at) DO NOTHING
                         RETURNING 1)
                     SELECT (SELECT count(*) FROM claimed), p.reason, p.until,
                            p.paused_by, p.paused_at, p.paused_at IS NOT NULL
                     FROM (SELECT 1) AS one LEFT JOIN paused AS p ON true",
                )
                .await?;
            client
                .query_one(
                    &statement,
                    &[
                        &job,
                        &scheduled_at,
                        &name,
                        &epoch,
                        &now,
                        &run_id,
                        &trigger.as_str(),
                    ],
                )
                .await
        })
        .await
        .and_then(|r| r.map_err(|e| format!("claiming a run: {e}")));
        match inserted {
            Ok(row) if row.get::<_, i64>(0) == 1 => Claim::Won(epoch),
            Ok(row) if row.get::<_, bool>(5) => Claim::Paused(Pause {
                reason: row.get(1),
                until: row.get(2),
                by: row.get(3),
                at: row.get(4),
            }),
            Ok(_) => Claim::Taken,
            Err(e) => {
                // The connection may be stalled mid-answer: never reuse it.
                let _ = Object::take(client);
                self.unreachable(&e);
                Claim::Unreachable(e)
            }
        }
    }

    /// The heartbeat task: connects, migrates the schema, registers the
    /// node, then beats every `heartbeat`; after a failure it tries again
    /// with a doubling delay (up to `heartbeat`). Each beat also looks
    /// for silent nodes to fail over, once this node's own link has been
    /// up for `node_timeout`: after an outage of the database every node
    /// has that long to beat again before anyone is declared gone.
    async fn heartbeats(self, mut migrated: bool, ok: bool) {
        let every = self.inner.settings.heartbeat;
        let mut retry = FIRST_RETRY.min(every);
        let now = tokio::time::Instant::now();
        let mut up_since = ok.then_some(now);
        tokio::time::sleep(if ok { every } else { retry }).await;
        loop {
            let result = self.beat(&mut migrated).await;
            let wait = match result {
                Ok(()) => {
                    retry = FIRST_RETRY.min(every);
                    let since = *up_since.get_or_insert_with(tokio::time::Instant::now);
                    if since.elapsed() >= self.inner.settings.node_timeout {
                        self.look_for_silent_nodes().await;
                    }
                    every
                }
                Err(e) => {
                    up_since = None;
                    self.unreachable(&e);
                    let wait = retry;
                    retry = (retry * 2).min(every);
                    wait
                }
            };
            // A reload publishes its definitions at once, not a heartbeat
            // later.
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = self.inner.shared.wake.notified() => {}
            }
        }
    }

    /// Fails over the nodes gone silent and hands their attempts to the
    /// scheduler. A failure here is reported and tried again at the next
    /// beat; it does not make the link unreachable (the beat went through).
    async fn look_for_silent_nodes(&self) {
        let client = match self.connection().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("{e}");
                return;
            }
        };
        match self.fail_over(&client).await {
            Ok(taken) => {
                for t in taken {
                    tracing::warn!(
                        job = %t.job,
                        run_id = %t.run_id,
                        attempt = t.attempt,
                        "took over the run due at {} from lost node {:?}",
                        t.scheduled_at,
                        t.from
                    );
                    let _ = self.inner.takeovers.send(t);
                }
            }
            Err(e) => {
                let _ = Object::take(client);
                tracing::warn!("{e}");
            }
        }
    }

    async fn beat(&self, migrated: &mut bool) -> Result<(), String> {
        let mut client = self.connection().await?;
        let result = self.beat_on(&mut client, migrated).await;
        if result.is_err() {
            // The connection may be stalled mid-answer: never reuse it.
            let _ = Object::take(client);
        }
        result
    }

    async fn beat_on(&self, client: &mut Object, migrated: &mut bool) -> Result<(), String> {
        if !*migrated {
            let applied = deadline("migrating the schema", schema::migrate(client))
                .await
                .and_then(|r| r)?;
            if !applied.is_empty() {
                tracing::info!(
                    "cluster database schema migrated to version {}",
                    schema::VERSION
                );
            }
            *migrated = true;
        }
        self.register_or_beat(client).await?;
        self.refresh(client).await
    }

    /// Writes the heartbeat, registering first (a new epoch) when this
    /// life has none yet or lost its row.
    async fn register_or_beat(&self, client: &Object) -> Result<(), String> {
        let epoch = self.inner.epoch.load(Ordering::Acquire);
        let sent = self.inner.clock.now();
        let mono = tokio::time::Instant::now();
        let db_now = if epoch == 0 {
            None
        } else {
            self.heartbeat(client, epoch).await?
        };
        let db_now = match db_now {
            Some(now) => now,
            None => {
                if epoch != 0 {
                    tracing::warn!(
                        node = %self.inner.name,
                        "this node was declared lost by a peer (or another daemon registered as node {:?}); registering again",
                        self.inner.name
                    );
                }
                let (epoch, now) = self.register(client).await?;
                self.inner.epoch.store(epoch, Ordering::Release);
                tracing::info!(node = %self.inner.name, epoch, "joined the cluster");
                now
            }
        };
        let rtt = chrono::Duration::from_std(mono.elapsed()).unwrap_or_default();
        let offset = (db_now - (sent + rtt / 2)).num_milliseconds();
        let mut status = self.lock_status();
        if !status.reachable {
            tracing::info!("the cluster database is reachable");
        }
        if offset.abs() > CLOCK_OFFSET_LIMIT_MS
            && status.clock_offset_ms.abs() <= CLOCK_OFFSET_LIMIT_MS
        {
            tracing::warn!("this node's clock is {offset} ms from the database's");
        }
        *status = LinkStatus {
            reachable: true,
            error: None,
            last_heartbeat: Some(db_now),
            clock_offset_ms: offset,
        };
        Ok(())
    }

    async fn heartbeat(
        &self,
        client: &Object,
        epoch: i64,
    ) -> Result<Option<DateTime<Utc>>, String> {
        let offset = self.lock_status().clock_offset_ms;
        let name = self.inner.name.as_str();
        let running = self.inner.shared.running();
        // The definitions go only when they changed since last sent.
        let (generation, definitions) = self.inner.shared.unsent_definitions();
        let now = deadline("writing the heartbeat", async {
            let statement = client
                .prepare_cached(
                    "UPDATE cronduct_nodes SET last_seen = now(), clock_offset_ms = $3,
                         running = $4, definitions = coalesce($5::text::jsonb, definitions)
                     WHERE name = $1 AND epoch = $2 RETURNING now()",
                )
                .await?;
            let row = client
                .query_opt(
                    &statement,
                    &[&name, &epoch, &offset, &running, &definitions],
                )
                .await?;
            Ok::<_, tokio_postgres::Error>(row.map(|r| r.get::<_, DateTime<Utc>>(0)))
        })
        .await?
        .map_err(|e| e.to_string())?;
        if now.is_some() {
            self.inner.shared.definitions_sent(generation);
        }
        Ok(now)
    }

    async fn register(&self, client: &Object) -> Result<(i64, DateTime<Utc>), String> {
        let i = &self.inner;
        let version = env!("CARGO_PKG_VERSION");
        let (generation, definitions) = i.shared.all_definitions();
        let running = i.shared.running();
        let joined = deadline("registering the node", async {
            let row = client
                .query_one(
                    "INSERT INTO cronduct_nodes (name, epoch, address, version, started_at,
                         last_seen, running, definitions)
                     VALUES ($1, 1, $2, $3, $4, now(), $5, $6::text::jsonb)
                     ON CONFLICT (name) DO UPDATE SET epoch = cronduct_nodes.epoch + 1,
                         state = 'up', gone_at = NULL,
                         address = EXCLUDED.address, version = EXCLUDED.version,
                         started_at = EXCLUDED.started_at, last_seen = now(),
                         running = EXCLUDED.running, definitions = EXCLUDED.definitions
                     RETURNING epoch, now()",
                    &[
                        &i.name,
                        &i.address,
                        &version,
                        &i.started_at,
                        &running,
                        &definitions,
                    ],
                )
                .await?;
            Ok::<_, tokio_postgres::Error>((row.get(0), row.get(1)))
        })
        .await?
        .map_err(|e| e.to_string())?;
        i.shared.definitions_sent(generation);
        Ok(joined)
    }

    pub(super) async fn connection(&self) -> Result<Object, String> {
        self.inner
            .pool
            .get()
            .await
            .map_err(|e| format!("cannot connect to the cluster database: {e}"))
    }

    pub(super) fn unreachable(&self, error: &str) {
        let mut status = self.lock_status();
        if status.reachable || status.error.as_deref() != Some(error) {
            tracing::warn!("the cluster database is unreachable: {error}");
        }
        status.reachable = false;
        status.error = Some(error.to_string());
    }

    fn lock_status(&self) -> std::sync::MutexGuard<'_, LinkStatus> {
        self.inner
            .status
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// `fut` under [`CALL_TIMEOUT`]; `what` names the call in the error.
pub(super) async fn deadline<T>(what: &str, fut: impl Future<Output = T>) -> Result<T, String> {
    tokio::time::timeout(CALL_TIMEOUT, fut)
        .await
        .map_err(|_| format!("{what}: no answer within {}s", CALL_TIMEOUT.as_secs()))
}
