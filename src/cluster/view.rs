//! What a node publishes besides its heartbeat (its job definitions'
//! hashes, its running count) and what it reads back after each beat:
//! every node's row, for `GET /api/v1/cluster`, `/health`'s drift check
//! and the cluster's pauses, which go to the scheduler.
//!
//! The view is read once per heartbeat, never per API request: the API
//! answers from the last read, so a flood of requests costs the database
//! nothing and a node cut off from it still answers with what it knew.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Utc};
use deadpool_postgres::Object;
use tokio::sync::{Notify, watch};

use super::Node;
use super::drift;
use super::node::deadline;
use crate::wire::{ClusterNode, ClusterView, JobDrift, NodeState, Pause};

/// The cluster's pauses as last read, by job; `None` before the first
/// read, so a node that never reached the database keeps its own.
pub type ClusterPauses = Option<BTreeMap<String, Pause>>;

/// This node's job definitions and whether the database has them yet.
pub(super) struct Definitions {
    hashes: Arc<BTreeMap<String, String>>,
    /// Bumped by every change; `sent` is the one the database has.
    generation: u64,
    sent: Option<u64>,
}

impl Definitions {
    pub(super) fn new(hashes: BTreeMap<String, String>) -> Self {
        Self {
            hashes: Arc::new(hashes),
            generation: 0,
            sent: None,
        }
    }

    fn json(&self) -> String {
        serde_json::to_string(&*self.hashes).unwrap_or_else(|_| "{}".to_string())
    }
}

/// The node's state shared by the heartbeat task, the scheduler and the
/// API.
pub(super) struct Shared {
    definitions: Mutex<Definitions>,
    running: AtomicI32,
    view: Mutex<ClusterView>,
    pauses: watch::Sender<ClusterPauses>,
    /// Wakes the heartbeat task early (new definitions to publish).
    pub(super) wake: Notify,
}

impl Shared {
    pub(super) fn new(definitions: Definitions) -> Self {
        Self {
            definitions: Mutex::new(definitions),
            running: AtomicI32::new(0),
            view: Mutex::new(ClusterView::default()),
            pauses: watch::Sender::new(None),
            wake: Notify::new(),
        }
    }

    pub(super) fn running(&self) -> i32 {
        self.running.load(Ordering::Relaxed)
    }

    /// The definitions as JSON when the database lacks this generation.
    pub(super) fn unsent_definitions(&self) -> (u64, Option<String>) {
        let d = lock(&self.definitions);
        let unsent = d.sent != Some(d.generation);
        (d.generation, unsent.then(|| d.json()))
    }

    /// The definitions as JSON, sent or not (a registration writes them).
    pub(super) fn all_definitions(&self) -> (u64, String) {
        let d = lock(&self.definitions);
        (d.generation, d.json())
    }

    pub(super) fn definitions_sent(&self, generation: u64) {
        lock(&self.definitions).sent = Some(generation);
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Node {
    /// Publishes new definition hashes (after a reload) at once.
    pub fn set_definitions(&self, hashes: BTreeMap<String, String>) {
        let shared = &self.inner.shared;
        {
            let mut d = lock(&shared.definitions);
            if *d.hashes == hashes {
                return;
            }
            d.hashes = Arc::new(hashes);
            d.generation += 1;
        }
        shared.wake.notify_one();
    }

    /// The runs active on this node, sent with the next heartbeat.
    pub fn set_running(&self, runs: usize) {
        let runs = i32::try_from(runs).unwrap_or(i32::MAX);
        self.inner.shared.running.store(runs, Ordering::Relaxed);
    }

    /// The cluster's pauses, updated after each heartbeat that changed
    /// them.
    pub fn pauses(&self) -> watch::Receiver<ClusterPauses> {
        self.inner.shared.pauses.subscribe()
    }

    /// The cluster as last read, with this node's link status.
    pub fn view(&self) -> ClusterView {
        let link = self.link().get();
        ClusterView {
            reachable: link.reachable,
            error: link.error,
            ..lock(&self.inner.shared.view).clone()
        }
    }

    /// Reads every node's row and the pauses (one round trip each), after
    /// a heartbeat went through.
    pub(super) async fn refresh(&self, client: &Object) -> Result<(), String> {
        let timeout = self.inner.settings.node_timeout;
        let (rows, pauses) = deadline("reading the cluster view", async {
            let nodes = client
                .prepare_cached(
                    "SELECT name, address, version, last_seen, running, clock_offset_ms,
                         definitions::text, last_seen > now() - make_interval(secs => $1), now()
                     FROM cronduct_nodes ORDER BY name",
                )
                .await?;
            let rows = client.query(&nodes, &[&timeout.as_secs_f64()]).await?;
            let pauses = client
                .prepare_cached(
                    "SELECT job, reason, until, paused_by, paused_at FROM cronduct_pauses",
                )
                .await?;
            let pauses = client.query(&pauses, &[]).await?;
            Ok::<_, tokio_postgres::Error>((rows, pauses))
        })
        .await?
        .map_err(|e| format!("reading the cluster view: {e}"))?;
        let rows: Vec<Row> = rows
            .iter()
            .map(|r| Row {
                name: r.get(0),
                address: r.get(1),
                version: r.get(2),
                last_seen: r.get(3),
                running: r.get(4),
                clock_offset_ms: r.get(5),
                // A row another version wrote unreadably counts as no jobs.
                definitions: serde_json::from_str(r.get::<_, &str>(6)).unwrap_or_default(),
                alive: r.get(7),
                read_at: r.get(8),
            })
            .collect();
        let read_at = rows.first().map(|r| r.read_at);
        let mut view = assemble(rows);
        view.enabled = true;
        view.node = Some(self.inner.name.clone());
        view.read_at = read_at;
        view.node_timeout_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        *lock(&self.inner.shared.view) = view;
        let now = self.inner.clock.now();
        let pauses: BTreeMap<String, Pause> = pauses
            .iter()
            .map(|r| {
                (
                    r.get::<_, String>(0),
                    Pause {
                        reason: r.get(1),
                        until: r.get(2),
                        by: r.get(3),
                        at: r.get(4),
                    },
                )
            })
            // Ended by this node's clock, which also ends its own timed
            // pauses: a row a peer has not cleared yet is no pause.
            .filter(|(_, p)| p.until.is_none_or(|u| u > now))
            .collect();
        self.inner.shared.pauses.send_if_modified(|current| {
            let changed = current.as_ref() != Some(&pauses);
            if changed {
                *current = Some(pauses);
            }
            changed
        });
        Ok(())
    }
}

/// One row of `cronduct_nodes`.
struct Row {
    name: String,
    address: String,
    version: String,
    last_seen: DateTime<Utc>,
    running: i32,
    clock_offset_ms: i64,
    definitions: BTreeMap<String, String>,
    alive: bool,
    read_at: DateTime<Utc>,
}

/// The view of `rows`: each node with the jobs it differs on, and the
/// drift by job. Only live nodes count for drift.
fn assemble(rows: Vec<Row>) -> ClusterView {
    let live: BTreeMap<String, BTreeMap<String, String>> = rows
        .iter()
        .filter(|r| r.alive)
        .map(|r| (r.name.clone(), r.definitions.clone()))
        .collect();
    let differing = drift::differing(&live);
    let nodes = rows
        .into_iter()
        .map(|r| {
            let differing_jobs = if r.alive {
                differing
                    .iter()
                    .filter(|(_, by_node)| drift::is_odd_one_out(by_node, &r.name))
                    .map(|(job, _)| job.clone())
                    .collect()
            } else {
                Vec::new()
            };
            ClusterNode {
                jobs: r.definitions.len(),
                name: r.name,
                address: r.address,
                version: r.version,
                last_heartbeat: r.last_seen,
                running: u32::try_from(r.running).unwrap_or(0),
                clock_offset_ms: r.clock_offset_ms,
                state: if r.alive {
                    NodeState::Alive
                } else {
                    NodeState::Gone
                },
                differing_jobs,
            }
        })
        .collect();
    ClusterView {
        nodes,
        drift: differing
            .into_iter()
            .map(|(job, definitions)| JobDrift { job, definitions })
            .collect(),
        ..ClusterView::default()
    }
}
