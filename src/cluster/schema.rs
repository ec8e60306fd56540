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
    // 2: finish records, and what failover needs: which attempt of the
    // claimed run is where (its owner is the claim's node and epoch), and
    // whether a node was declared gone. Claims made before this version
    // count as finished, so no survivor takes them over.
    "ALTER TABLE cronduct_nodes
        ADD COLUMN state text NOT NULL DEFAULT 'up'
            CHECK (state IN ('up', 'gone', 'left')),
        ADD COLUMN gone_at timestamptz;
    ALTER TABLE cronduct_claims
        ADD COLUMN run_id text,
        ADD COLUMN trigger text NOT NULL DEFAULT 'schedule',
        ADD COLUMN attempt integer NOT NULL DEFAULT 1,
        ADD COLUMN attempt_at timestamptz NOT NULL DEFAULT now(),
        ADD COLUMN state text NOT NULL DEFAULT 'finished'
            CHECK (state IN ('running', 'retrying', 'finished'));
    ALTER TABLE cronduct_claims ALTER COLUMN state SET DEFAULT 'running';
    CREATE INDEX cronduct_claims_open ON cronduct_claims (node, epoch)
        WHERE state <> 'finished';
    CREATE TABLE cronduct_finishes (
        run_id text NOT NULL,
        attempt integer NOT NULL,
        job text NOT NULL,
        ts timestamptz NOT NULL,
        trigger text NOT NULL,
        scheduled_at timestamptz NOT NULL,
        started_at timestamptz NOT NULL,
        finished_at timestamptz NOT NULL,
        duration_ms bigint NOT NULL,
        status text NOT NULL,
        exit_code integer,
        signal text,
        http_status integer,
        error text,
        stdout text NOT NULL,
        stderr text NOT NULL,
        output_truncated boolean NOT NULL,
        cpu_user_ms bigint,
        cpu_system_ms bigint,
        max_rss_kib bigint,
        output_dropped_bytes bigint,
        result jsonb,
        result_error text,
        will_retry boolean NOT NULL,
        retry_at timestamptz,
        host text NOT NULL,
        node text NOT NULL,
        epoch bigint NOT NULL,
        written_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (run_id, attempt)
    );
    CREATE INDEX cronduct_finishes_job ON cronduct_finishes (job, finished_at);
    CREATE INDEX cronduct_finishes_finished ON cronduct_finishes (finished_at);",
    // 3: the hash of each job's definition a node runs (drift), and the
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
    // 4: manual runs asked of another node (`?node=`), taken by that node
    // at its next poll and answered with the run id or a refusal.
    "CREATE TABLE cronduct_requests (
        id bigserial PRIMARY KEY,
        node text NOT NULL,
        job text NOT NULL,
        asked_by text NOT NULL,
        asked_at timestamptz NOT NULL DEFAULT now(),
        taken_at timestamptz,
        answered_at timestamptz,
        run_id text,
        status integer,
        error text
    );
    CREATE INDEX cronduct_requests_open ON cronduct_requests (node) WHERE taken_at IS NULL;",
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
