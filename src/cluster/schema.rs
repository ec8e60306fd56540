//! The cluster's tables, created and migrated by the daemon itself.
//!
//! Each migration is applied once, in order, inside one transaction that
//! first takes a transaction-scoped advisory lock: nodes starting at once
//! queue on the lock, and the second finds the work done. A database
//! migrated by a newer cronduct is left alone and refused.

use tokio_postgres::Client;

/// The advisory lock's key: "cronduct" in ASCII, so it is recognisable in
/// `pg_locks` and unlikely to meet another application's.
const LOCK_KEY: i64 = 0x63_72_6f_6e_64_75_63_74;

/// The migrations, the first being version 1. Never edit one that has
/// shipped: add another.
const MIGRATIONS: &[&str] = &[
    // 1: nodes and claims.
    "CREATE TABLE cronduct_nodes (
        name text PRIMARY KEY,
        epoch bigint NOT NULL,
        address text NOT NULL,
        version text NOT NULL,
        started_at timestamptz NOT NULL,
        last_seen timestamptz NOT NULL,
        clock_offset_ms bigint NOT NULL DEFAULT 0,
        running integer NOT NULL DEFAULT 0
    );
    CREATE TABLE cronduct_claims (
        job text NOT NULL,
        scheduled_at timestamptz NOT NULL,
        node text NOT NULL,
        epoch bigint NOT NULL,
        claimed_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (job, scheduled_at)
    );",
    // The hash of each job's definition a node runs (drift), and the
    // pauses every node obeys.
    "ALTER TABLE cronduct_nodes ADD COLUMN definitions jsonb NOT NULL DEFAULT '{}';
    CREATE TABLE cronduct_pauses (
        job text PRIMARY KEY,
        reason text,
        until timestamptz,
        paused_by text,
        paused_at timestamptz,
        node text NOT NULL
    );",
];

/// The schema version this build writes and reads.
pub const VERSION: i32 = MIGRATIONS.len() as i32;

/// Brings the schema to [`VERSION`]; answers the versions it applied.
pub async fn migrate(client: &mut Client) -> Result<Vec<i32>, String> {
    let tx = client
        .transaction()
        .await
        .map_err(|e| format!("cannot begin the migration: {e}"))?;
    let step = |what: &'static str| move |e: tokio_postgres::Error| format!("{what}: {e}");
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])
        .await
        .map_err(step("cannot take the migration lock"))?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS cronduct_schema (
            version integer NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now()
        )",
    )
    .await
    .map_err(step("cannot create the schema table"))?;
    let current: i32 = tx
        .query_one("SELECT coalesce(max(version), 0) FROM cronduct_schema", &[])
        .await
        .map_err(step("cannot read the schema version"))?
        .get(0);
    if current > VERSION {
        return Err(format!(
            "the database's schema is version {current}, newer than this cronduct's \
             ({VERSION}): upgrade cronduct on this node"
        ));
    }
    let mut applied = Vec::new();
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let version = i as i32 + 1;
        tx.batch_execute(sql)
            .await
            .map_err(|e| format!("migration {version} failed: {e}"))?;
        tx.execute(
            "INSERT INTO cronduct_schema (version) VALUES ($1)",
            &[&version],
        )
        .await
        .map_err(step("cannot record the schema version"))?;
        applied.push(version);
    }
    tx.commit()
        .await
        .map_err(step("cannot commit the migration"))?;
    Ok(applied)
}
