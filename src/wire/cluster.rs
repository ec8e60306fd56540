//! `GET /api/v1/cluster`: the nodes as the answering node last read them
//! from the database (at its last heartbeat), and the jobs they disagree
//! on.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::record::ts;

/// The cluster view. Without `[cluster]` it is `{"enabled": false, …}`
/// with no nodes, so a script can ask any daemon.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ClusterView {
    pub enabled: bool,
    /// The answering node's name.
    pub node: Option<String>,
    /// Whether the answering node's last call to the database went
    /// through; when not, `error` says why and the list is as last read.
    pub reachable: bool,
    pub error: Option<String>,
    /// When the list was read (the database's clock), `null` before the
    /// first read.
    #[serde(with = "ts::option")]
    pub read_at: Option<DateTime<Utc>>,
    /// `[cluster] node_timeout` of the answering node, in milliseconds: a
    /// node silent longer is `gone`.
    pub node_timeout_ms: u64,
    /// Every node that ever joined, by name.
    pub nodes: Vec<ClusterNode>,
    /// The jobs the live nodes define differently, by job id.
    pub drift: Vec<JobDrift>,
}

/// One node as its row in the database says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterNode {
    pub name: String,
    /// Its admin API's address.
    pub address: String,
    /// Its cronduct version.
    pub version: String,
    #[serde(with = "ts")]
    pub last_heartbeat: DateTime<Utc>,
    /// The runs it had active at that heartbeat.
    pub running: u32,
    /// The database's clock minus the node's, in milliseconds; past
    /// ±1000 the node's clock is reported.
    pub clock_offset_ms: i64,
    pub state: NodeState,
    /// How many jobs it defines.
    pub jobs: usize,
    /// The jobs whose definition on this node differs from another live
    /// node's (or that it lacks while another has them); always empty
    /// for a gone node.
    pub differing_jobs: Vec<String>,
}

/// `alive`: heard from within `node_timeout`; `gone`: not, and then it
/// degrades nobody's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeState {
    Alive,
    Gone,
}

impl NodeState {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeState::Alive => "alive",
            NodeState::Gone => "gone",
        }
    }
}

/// A job defined differently on the live nodes: each live node's
/// definition hash, `null` where the node lacks the job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobDrift {
    pub job: String,
    pub definitions: BTreeMap<String, Option<String>>,
}
