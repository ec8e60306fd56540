//! Cluster mode, the read side: the API of any node answers about every
//! node's runs (from the database, each record naming its node), manual
//! runs asked of another node (`?node=`), and the answers from the local
//! log while the database is gone. Real daemons on a real PostgreSQL.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;

use crate::support::daemon::{Daemon, SECS_20};
use crate::support::postgres::Postgres;

/// `n` started daemons `node1`…, on `url`, each with `jobs`.
fn started_nodes(url: &str, n: usize, jobs: &str) -> Vec<Daemon> {
    let mut nodes: Vec<Daemon> = (1..=n)
        .map(|i| {
            let d = Daemon::new();
            d.write_config(&format!(
                "[cluster]\ndatabase = {url:?}\nnode = \"node{i}\"\nheartbeat = \"1s\"\nnode_timeout = \"5s\"\n\n{jobs}"
            ));
            d
        })
        .collect();
    std::thread::scope(|s| {
        for d in nodes.iter_mut() {
            s.spawn(move || d.start());
        }
    });
    nodes
}

/// `GET path` on `d` as raw HTTP: the status line and headers, lower-cased,
/// so the history header can be read.
fn head_of(d: &Daemon, path: &str) -> String {
    let raw = d.raw(
        format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
            d.key()
        )
        .as_bytes(),
    );
    raw.split("\r\n\r\n")
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase()
}

/// The nodes named by the records of `runs` (a `{"runs": [...]}` answer).
fn nodes_of(runs: &Value) -> BTreeSet<String> {
    runs["runs"]
        .as_array()
        .expect("runs array")
        .iter()
        .map(|r| r["node"].as_str().unwrap_or("(none)").to_string())
        .collect()
}

const HELLO: &str = "[jobs.hello]\nschedule = \"0 0 1 1 *\"\ncommand = \"echo hello\"\n";

/// A manual run on each of three nodes: every node's runs, job runs, run
/// detail, stats, job detail and `cronduct runs` include all three, each
/// record naming the node that ran it, and say they come from the
/// cluster.
#[test]
fn every_node_answers_for_the_runs_of_all_nodes() {
    let pg = Postgres::start();
    let nodes = started_nodes(&pg.url, 3, HELLO);
    let mut run_ids = Vec::new();
    for d in &nodes {
        let run_id = d.trigger("hello");
        d.wait_finish(&run_id, SECS_20);
        run_ids.push(run_id);
    }
    let all: BTreeSet<String> = ["node1", "node2", "node3"].map(String::from).into();
    for (i, d) in nodes.iter().enumerate() {
        // Each node's own log has only its own run.
        assert_eq!(d.finishes("hello").len(), 1, "node{}", i + 1);
        let runs = d.poll("every node's runs", SECS_20, || {
            let runs = d.get("/api/v1/runs?job=hello");
            (nodes_of(&runs) == all).then_some(runs)
        });
        assert_eq!(runs["runs"].as_array().map(Vec::len), Some(3), "{runs}");
        for r in runs["runs"].as_array().into_iter().flatten() {
            assert_eq!(r["status"], "success", "{r}");
            assert_eq!(r["stdout"], "hello\n", "{r}");
            assert_eq!(r["trigger"], "manual", "{r}");
        }
        assert_eq!(nodes_of(&d.get("/api/v1/jobs/hello/runs")), all);
        assert!(
            head_of(d, "/api/v1/runs").contains("\r\ncronduct-history: cluster"),
            "{}",
            head_of(d, "/api/v1/runs")
        );
        // The run made on the next node, asked here.
        let other = (i + 1) % 3;
        let run = d.get(&format!("/api/v1/runs/{}", run_ids[other]));
        assert_eq!(run["job"], "hello");
        assert_eq!(run["attempts"][0]["node"], format!("node{}", other + 1));
        let stats = d.get("/api/v1/stats?days=1");
        assert_eq!(stats["jobs"]["hello"]["runs"]["success"], 3, "{stats}");
        assert_eq!(stats["jobs"]["hello"]["attempts"], 3, "{stats}");
        assert_eq!(stats["totals"]["runs"]["success"], 3, "{stats}");
        let by_day = d.get("/api/v1/stats?days=1&job=hello");
        assert_eq!(by_day["days"][0]["runs"]["success"], 3, "{by_day}");
        let detail = d.get("/api/v1/jobs/hello");
        assert_eq!(detail["stats"]["total"], 3, "{detail}");
        assert_eq!(detail["stats"]["success"], 3, "{detail}");
        let newest = run_ids.last().expect("three runs");
        assert_eq!(detail["last_run"]["run_id"], newest.as_str(), "{detail}");
        assert_eq!(
            d.listed_job("hello").expect("hello listed")["last_run"]["run_id"],
            newest.as_str()
        );
    }
    // The durations are those of the three nodes' records together.
    let durations: Vec<u64> = nodes
        .iter()
        .flat_map(|d| d.finishes("hello"))
        .map(|r| r.duration_ms)
        .collect();
    let stats = nodes[1].get("/api/v1/stats?days=1");
    let hello = &stats["jobs"]["hello"];
    let avg = durations.iter().sum::<u64>() / 3;
    assert_eq!(hello["avg_duration_ms"], avg, "{stats}");
    // Fewer than 20 runs: the p95 is the longest, exactly.
    assert_eq!(
        hello["p95_duration_ms"],
        serde_json::json!(durations.iter().max()),
        "{stats}"
    );
    let cpu: u64 = nodes
        .iter()
        .flat_map(|d| d.finishes("hello"))
        .map(|r| r.cpu_user_ms.unwrap_or(0) + r.cpu_system_ms.unwrap_or(0))
        .sum();
    assert_eq!(hello["cpu_ms"]["total"], cpu, "{stats}");
    let detail = nodes[2].get("/api/v1/jobs/hello");
    assert_eq!(
        detail["stats"]["min_duration_ms"],
        serde_json::json!(durations.iter().min())
    );
    assert_eq!(
        detail["stats"]["max_duration_ms"],
        serde_json::json!(durations.iter().max())
    );
    let cli = nodes[1].cli(&["runs", "hello"]);
    assert_eq!(cli.code, 0, "{}", cli.stderr);
    assert!(cli.stderr.is_empty(), "{}", cli.stderr);
    let header = cli.stdout.lines().next().unwrap_or_default();
    assert!(header.contains("NODE"), "{}", cli.stdout);
    for name in ["node1", "node2", "node3"] {
        assert!(cli.stdout.contains(name), "{}", cli.stdout);
    }
}

/// `?node=` starts the run on the node named, and only there; an unknown
/// node is a 404, a gone node a 409, with nothing started.
#[test]
fn a_manual_run_asked_of_another_node_runs_there() {
    let pg = Postgres::start();
    let mut nodes = started_nodes(&pg.url, 3, HELLO);
    let reply = nodes[0].api("POST", "/api/v1/jobs/hello/run?node=node3");
    assert_eq!(reply.status, 202, "{}", reply.body);
    let run_id = reply.body["run_id"].as_str().expect("run_id").to_string();
    let finish = nodes[2].wait_finish(&run_id, SECS_20);
    assert_eq!(finish.status, cronduct::record::Status::Success);
    assert_eq!(finish.node.as_deref(), Some("node3"));
    assert!(nodes[0].run_finishes(&run_id).is_empty());
    assert!(nodes[1].run_finishes(&run_id).is_empty());
    // node1 reports it, as the cluster recorded it.
    let run = nodes[0].poll("the run in the cluster", SECS_20, || {
        let r = nodes[0].api("GET", &format!("/api/v1/runs/{run_id}"));
        (r.status == 200).then_some(r.body)
    });
    assert_eq!(run["attempts"][0]["node"], "node3");

    // The same from the command line.
    let cli = nodes[0].cli(&["trigger", "hello", "--node", "node2"]);
    assert_eq!(cli.code, 0, "{}", cli.stderr);
    assert!(cli.stdout.contains("on node2"), "{}", cli.stdout);
    nodes[1].wait_finishes("hello", 1, SECS_20);
    assert_eq!(nodes[0].finishes("hello").len(), 0);

    // A job the other node refuses is refused with its status.
    let unknown_job = nodes[0].api("POST", "/api/v1/jobs/nope/run?node=node2");
    assert_eq!(unknown_job.status, 404, "{}", unknown_job.body);

    let unknown = nodes[0].api("POST", "/api/v1/jobs/hello/run?node=node9");
    assert_eq!(unknown.status, 404, "{}", unknown.body);
    assert!(
        unknown.body["error"].to_string().contains("node9"),
        "{}",
        unknown.body
    );
    let with_wait = nodes[0].api("POST", "/api/v1/jobs/hello/run?node=node2&wait=true");
    assert_eq!(with_wait.status, 400, "{}", with_wait.body);

    nodes[1].crash();
    nodes[0].poll("node2 gone", Duration::from_secs(30), || {
        let r = nodes[0].api("POST", "/api/v1/jobs/hello/run?node=node2");
        (r.status == 409).then_some(())
    });
    // Neither the refused request nor those asked of the gone node ran
    // anything there: only the one run asked from the command line.
    assert_eq!(nodes[1].finishes("hello").len(), 1);
    assert_eq!(
        pg.column("SELECT count(*) FROM cronduct_finishes WHERE node = 'node2'"),
        vec!["1"]
    );
}

/// With the database gone, the runs and stats still answer, from the
/// node's own log, and say so.
#[test]
fn without_its_database_a_node_answers_from_its_own_log() {
    let pg = Postgres::start();
    let nodes = started_nodes(&pg.url, 1, HELLO);
    let d = &nodes[0];
    let run_id = d.trigger("hello");
    d.wait_finish(&run_id, SECS_20);
    d.poll("the run in the cluster", SECS_20, || {
        (pg.column("SELECT count(*) FROM cronduct_finishes") == ["1"]).then_some(())
    });
    drop(pg);
    d.poll("the database noticed gone", SECS_20, || {
        (d.health().body["status"] == "degraded").then_some(())
    });
    let runs = d.get("/api/v1/runs");
    assert_eq!(runs["runs"][0]["run_id"], run_id.as_str(), "{runs}");
    assert_eq!(runs["runs"][0]["node"], "node1", "{runs}");
    assert!(
        head_of(d, "/api/v1/runs").contains("\r\ncronduct-history: local"),
        "{}",
        head_of(d, "/api/v1/runs")
    );
    let run = d.get(&format!("/api/v1/runs/{run_id}"));
    assert_eq!(run["attempts"][0]["status"], "success");
    let stats = d.get("/api/v1/stats?days=1");
    assert_eq!(stats["jobs"]["hello"]["runs"]["success"], 1, "{stats}");
    assert!(head_of(d, "/api/v1/stats").contains("\r\ncronduct-history: local"));
    assert_eq!(d.get("/api/v1/jobs/hello")["stats"]["total"], 1);
    // Asking another node needs the database: refused, nothing started.
    let cli = d.cli(&["runs"]);
    assert_eq!(cli.code, 0, "{}", cli.stderr);
    assert!(cli.stdout.contains(&run_id), "{}", cli.stdout);
    assert!(
        cli.stderr.contains("cannot read the cluster database"),
        "{}",
        cli.stderr
    );
    let elsewhere = d.api("POST", "/api/v1/jobs/hello/run?node=node2");
    assert_eq!(elsewhere.status, 503, "{}", elsewhere.body);
}
