//! Cluster mode (cronduct.toml(5), CLUSTER): several daemons on one
//! PostgreSQL database, each `run_on = "one"` instant started by exactly
//! one of them.
//!
//! The guarantee is a unique key, not a lock or a leader: before a node
//! starts an instant it inserts the claim row keyed by (job, scheduled
//! instant), and only the node whose insert wins starts it. This module
//! owns the connection pool, the schema, the node's heartbeat and the
//! claims; it decides nothing about schedules, which stay the
//! scheduler's.

mod node;
mod schema;
mod url;

pub use node::{CLOCK_OFFSET_LIMIT_MS, Claim, LinkHandle, LinkStatus, Node};
pub use url::{DatabaseUrl, TlsMode};
