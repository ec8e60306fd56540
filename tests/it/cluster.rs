//! Cluster mode: several real daemons (own state dirs, own ports) on one
//! real PostgreSQL server.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::support::daemon::{Daemon, NEVER, SECS_20, now};
use crate::support::postgres::Postgres;

/// The `[cluster]` table of node `name` on `url`, quick to notice trouble.
fn cluster_table(url: &str, name: &str) -> String {
    format!(
        "[cluster]\ndatabase = {url:?}\nnode = {name:?}\nheartbeat = \"1s\"\nnode_timeout = \"5s\"\n"
    )
}

/// `n` daemons, `node1`…, on `url`, each with `jobs`, not started yet.
fn nodes(url: &str, n: usize, jobs: &str) -> Vec<Daemon> {
    (1..=n)
        .map(|i| {
            let d = Daemon::new();
            d.write_config(&format!(
                "{}\n{jobs}",
                cluster_table(url, &format!("node{i}"))
            ));
            d
        })
        .collect()
}

#[test]
fn the_test_server_answers_and_is_gone_afterwards() {
    let pg = Postgres::start();
    assert_eq!(pg.column("SELECT 1 + 1"), vec!["2".to_string()]);
    let dir = pg.server_dir();
    let url = pg.url.clone();
    drop(pg);
    if let Some(dir) = dir {
        assert!(!dir.exists(), "the data dir was left behind");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let gone = rt.block_on(tokio_postgres::connect(&url, tokio_postgres::NoTls));
        assert!(gone.is_err(), "the server still answers after the drop");
    }
}

/// Three nodes starting at the same moment on an empty database: the
/// schema is created once (one version row), every node joins.
#[test]
fn three_nodes_starting_at_once_migrate_the_schema_once() {
    let pg = Postgres::start();
    let mut nodes = nodes(
        &pg.url,
        3,
        &format!("[jobs.idle]\nschedule = {:?}\ncommand = \"true\"\n", NEVER),
    );
    std::thread::scope(|s| {
        for d in nodes.iter_mut() {
            s.spawn(move || d.start());
        }
    });
    assert_eq!(
        pg.column("SELECT version FROM cronduct_schema ORDER BY version"),
        vec!["1", "2"]
    );
    // Version 2's tables are there, with the key that makes a finish
    // record unique per attempt.
    assert_eq!(
        pg.column(
            "SELECT string_agg(a.attname, ',' ORDER BY k.n) FROM pg_index i
             CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
             WHERE i.indrelid = 'cronduct_finishes'::regclass AND i.indisprimary"
        ),
        vec!["run_id,attempt"]
    );
    assert_eq!(
        pg.column("SELECT name FROM cronduct_nodes ORDER BY name"),
        vec!["node1", "node2", "node3"]
    );
    for d in &nodes {
        assert_eq!(d.health().body["status"], "healthy", "{}", d.diagnostics());
    }
}

/// The core guarantee: three nodes run the same per-second job for half a
/// minute, and every second in that time is started exactly once across
/// them — no instant twice, none missed — each start backed by its claim.
#[test]
fn every_instant_runs_exactly_once_across_three_nodes() {
    let pg = Postgres::start();
    let mut nodes = nodes(
        &pg.url,
        3,
        "[jobs.tick]\nschedule = \"* * * * * *\"\ncommand = \"true\"\n",
    );
    for d in nodes.iter_mut() {
        d.start();
    }
    let all_up = now();
    // Half a minute of instants, read from the nodes' run logs as they
    // are written.
    crate::support::poll::until("30 seconds of starts", Duration::from_secs(90), || {
        let seen: std::collections::BTreeSet<_> = nodes
            .iter()
            .flat_map(|d| d.starts("tick"))
            .map(|s| s.scheduled_at)
            .filter(|at| *at > all_up)
            .collect();
        (seen.len() >= 30).then_some(())
    });
    let before_stop = now();
    for d in nodes.iter_mut() {
        d.stop(SECS_20);
    }
    let mut started: BTreeMap<DateTime<Utc>, Vec<String>> = BTreeMap::new();
    for (i, d) in nodes.iter().enumerate() {
        for s in d.starts("tick") {
            started
                .entry(s.scheduled_at)
                .or_default()
                .push(format!("node{}", i + 1));
        }
        assert!(
            d.skips("tick").is_empty(),
            "node{} skipped instants:\n{}",
            i + 1,
            d.diagnostics()
        );
    }
    let twice: Vec<_> = started.iter().filter(|(_, n)| n.len() > 1).collect();
    assert!(
        twice.is_empty(),
        "instants started more than once: {twice:?}"
    );
    // Every whole second from when all three were up to just before the
    // stop was started somewhere.
    let first = all_up.timestamp() + 1;
    let last = before_stop.timestamp() - 1;
    let missed: Vec<i64> = (first..=last)
        .filter(|t| !started.keys().any(|k| k.timestamp() == *t))
        .collect();
    assert!(missed.is_empty(), "seconds no node started: {missed:?}");
    assert!(last - first >= 20, "the test ran too short a window");
    // Each start is the claim's winner: the claims table agrees.
    let claims: Vec<String> = pg.column("SELECT count(*) FROM cronduct_claims WHERE job = 'tick'");
    assert_eq!(claims, vec![started.len().to_string()]);
}

/// A node whose database cannot be reached starts no `run_on = "one"`
/// instant (each gets a `skip` line saying why), keeps running its
/// `run_on = "all"` jobs, and is degraded in `/health`, naming the cause.
#[test]
fn a_node_without_its_database_skips_one_jobs_and_keeps_all_jobs() {
    // A port nothing listens on: connections are refused at once.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let url = format!("postgres://cronduct:hunter2@127.0.0.1:{port}/cronduct");
    let mut d = Daemon::new();
    d.write_config(&format!(
        "{}\n[jobs.shared]\nschedule = \"* * * * * *\"\ncommand = \"true\"\n\
         [jobs.local]\nschedule = \"* * * * * *\"\ncommand = \"true\"\nrun_on = \"all\"\n",
        cluster_table(&url, "alone")
    ));
    d.start();
    d.wait_starts("local", 2, SECS_20);
    let skips = d.poll("skip lines for the shared job", SECS_20, || {
        let s = d.skips("shared");
        (s.len() >= 2).then_some(s)
    });
    for s in &skips {
        assert_eq!(s.reason, "cluster database unreachable");
    }
    assert!(
        d.starts("shared").is_empty(),
        "a run_on = one job started without a claim"
    );
    let health = d.health();
    assert_eq!(health.body["status"], "degraded", "{:?}", health.body);
    let warnings = health.body["warnings"].to_string();
    assert!(
        warnings.contains("cluster database is unreachable"),
        "{warnings}"
    );
    assert!(
        !warnings.contains("hunter2"),
        "the password leaked: {warnings}"
    );
    assert!(
        !d.stderr().contains("hunter2"),
        "the password leaked into the log"
    );
}
