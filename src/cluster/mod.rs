//! Cluster mode (cronduct.toml(5), CLUSTER): several daemons on one
//! PostgreSQL database, each `run_on = "one"` instant started by exactly
//! one of them.
//!
//! The guarantee is a unique key, not a lock or a leader: before a node
//! starts an instant it inserts the claim row keyed by (job, scheduled
//! instant), and only the node whose insert wins starts it. This module
//! owns the connection pool, the schema, the node's heartbeat and the
//! claims, what the nodes publish to each other (versions, clock
//! offsets, job definition hashes: `view.rs`, `drift.rs`) and the
//! cluster-wide pauses (`pause.rs`); it decides nothing about schedules,
//! which stay the scheduler's.

mod attempts;
mod drift;
mod history;
mod node;
mod pause;
mod requests;
mod schema;
mod url;
mod view;

pub use attempts::{TakenOver, Write};
pub use drift::{definition_hash, definitions};
pub use node::{CLOCK_OFFSET_LIMIT_MS, Claim, LinkHandle, LinkStatus, Node};
pub use requests::{Answer as RequestAnswer, Asked};
pub use schema::VERSION as SCHEMA_VERSION;
pub use url::{DatabaseUrl, TlsMode};
pub use view::ClusterPauses;

use crate::config::DatabaseSource;

/// The variable that holds the database URL when `[cluster]` names none.
pub const DATABASE_URL_VAR: &str = "CRONDUCT_DATABASE_URL";

/// Reads the database URL from where `[cluster]` says it is. The errors
/// name the place, never the URL.
pub fn resolve_url(source: &DatabaseSource) -> anyhow::Result<DatabaseUrl> {
    let (text, place) = match source {
        DatabaseSource::Url(secret) => (
            secret.expose().to_string(),
            "[cluster] database".to_string(),
        ),
        DatabaseSource::File(path) => (
            std::fs::read_to_string(path).map_err(|e| {
                anyhow::anyhow!(
                    "cannot read [cluster] database_file {}: {e}",
                    path.display()
                )
            })?,
            format!("the database_file {}", path.display()),
        ),
        DatabaseSource::Env => match std::env::var(DATABASE_URL_VAR) {
            Ok(url) if !url.trim().is_empty() => (url, DATABASE_URL_VAR.to_string()),
            _ => anyhow::bail!(
                "[cluster] names no database: set `database` or `database_file`, or {DATABASE_URL_VAR}"
            ),
        },
    };
    DatabaseUrl::parse(&text).map_err(|e| anyhow::anyhow!("{place}: {e}"))
}
