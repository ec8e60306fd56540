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
/// schema is created once (one row per migration), every node joins.
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
    // Each migration applied once, in order.
    let expected: Vec<String> = (1..=cronduct::cluster::SCHEMA_VERSION)
        .map(|v| v.to_string())
        .collect();
    assert_eq!(
        pg.column("SELECT version FROM cronduct_schema ORDER BY version"),
        expected
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
        // Overlap allowed: under a loaded machine one `true` can take
        // longer than a second, and a local "still active" skip is not
        // what this test is about.
        "[jobs.tick]\nschedule = \"* * * * * *\"\ncommand = \"true\"\nconcurrency = \"allow\"\n",
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

/// Node `d`'s view of the cluster, as `GET /api/v1/cluster` answers it.
fn view(d: &Daemon) -> serde_json::Value {
    d.get("/api/v1/cluster")
}

/// The state `name` has in `d`'s view, if listed.
fn node_state(d: &Daemon, name: &str) -> Option<String> {
    view(d)["nodes"]
        .as_array()?
        .iter()
        .find(|n| n["name"] == name)
        .and_then(|n| n["state"].as_str().map(str::to_string))
}

fn health_warnings(d: &Daemon) -> (String, String) {
    let h = d.health().body;
    (
        h["status"].as_str().unwrap_or_default().to_string(),
        h["warnings"].to_string(),
    )
}

/// Two live nodes with different definitions of one job: `/health` is
/// degraded on both, naming the job (and only it); the view and
/// `cronduct cluster` list it. A reload that makes them agree publishes
/// at once and clears it; a reload that changes `[cluster]` asks for a
/// restart instead of being ignored.
#[test]
fn nodes_that_define_a_job_differently_are_degraded_and_say_which() {
    let pg = Postgres::start();
    let same = format!("[jobs.same]\nschedule = {NEVER:?}\ncommand = \"true\"\n");
    let mut nodes = nodes(&pg.url, 2, &same);
    nodes[0].write_config(&format!(
        "{}\n{same}[jobs.backup]\nschedule = {NEVER:?}\ncommand = \"backup --full\"\n",
        cluster_table(&pg.url, "node1")
    ));
    nodes[1].write_config(&format!(
        "{}\n{same}[jobs.backup]\nschedule = {NEVER:?}\ncommand = \"backup --quick\"\n",
        cluster_table(&pg.url, "node2")
    ));
    for d in nodes.iter_mut() {
        d.start();
    }
    for d in &nodes {
        let warnings = d.poll("drift in /health", SECS_20, || {
            let (status, warnings) = health_warnings(d);
            (status == "degraded" && warnings.contains("\\\"backup\\\"")).then_some(warnings)
        });
        assert!(warnings.contains("defined differently"), "{warnings}");
        assert!(!warnings.contains("\\\"same\\\""), "{warnings}");
    }
    let v = view(&nodes[0]);
    assert_eq!(v["enabled"], true);
    assert_eq!(v["node"], "node1");
    assert_eq!(v["drift"].as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(v["drift"][0]["job"], "backup");
    let listed = v["nodes"].as_array().expect("nodes");
    assert_eq!(listed.len(), 2, "{v}");
    for n in listed {
        assert_eq!(n["state"], "alive", "{v}");
        assert_eq!(n["differing_jobs"], serde_json::json!(["backup"]), "{v}");
        assert_eq!(n["version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(n["jobs"], 2);
        assert!(
            n["address"]
                .as_str()
                .is_some_and(|a| a.starts_with("127.0.0.1:"))
        );
    }

    let out = nodes[1].cli(&["cluster"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout
            .starts_with("2 nodes (2 alive, 0 gone), as node2 read them"),
        "{}",
        out.stdout
    );
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        lines[1].starts_with("NODE   STATE  ADDRESS") && lines[1].ends_with("DIFFERING JOBS"),
        "{}",
        out.stdout
    );
    for name in ["node1", "node2"] {
        let row = lines
            .iter()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no row for {name}:\n{}", out.stdout));
        assert!(row.contains(" alive ") && row.ends_with("backup"), "{row}");
    }
    assert!(
        out.stdout
            .contains("drift: job \"backup\" is defined differently on the live nodes: node1 "),
        "{}",
        out.stdout
    );
    let json = nodes[1].cli(&["cluster", "--json"]);
    assert_eq!(json.code, 0, "{}", json.stderr);
    let parsed: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
    assert_eq!(parsed["drift"][0]["job"], "backup");

    // node2 takes node1's definition, with a [cluster] change besides.
    nodes[1].write_config(&format!(
        "{}\n{same}[jobs.backup]\nschedule = {NEVER:?}\ncommand = \"backup --full\"\n",
        cluster_table(&pg.url, "node2").replace("heartbeat = \"1s\"", "heartbeat = \"2s\"")
    ));
    let reload = nodes[1].api("POST", "/api/v1/reload");
    assert_eq!(reload.status, 200, "{}", reload.body);
    nodes[0].poll("node1 healthy once they agree", SECS_20, || {
        (health_warnings(&nodes[0]).0 == "healthy").then_some(())
    });
    let warnings = nodes[1].poll("node2's drift gone", SECS_20, || {
        let (_, w) = health_warnings(&nodes[1]);
        (!w.contains("defined differently")).then_some(w)
    });
    assert!(warnings.contains("restart needed"), "{warnings}");
    assert!(
        nodes[1].stderr().contains("[cluster] changed"),
        "no warning line:\n{}",
        nodes[1].diagnostics()
    );
}

/// A node killed with SIGKILL is shown gone after `node_timeout`, and its
/// different definition stops degrading the others.
#[test]
fn a_killed_node_is_shown_gone_and_degrades_nobody() {
    let pg = Postgres::start();
    let job =
        |command: &str| format!("[jobs.report]\nschedule = {NEVER:?}\ncommand = {command:?}\n");
    let mut nodes = nodes(&pg.url, 3, &job("report"));
    nodes[2].write_config(&format!(
        "{}\n{}",
        cluster_table(&pg.url, "node3"),
        job("report --old")
    ));
    for d in nodes.iter_mut() {
        d.start();
    }
    nodes[0].poll("drift seen", SECS_20, || {
        let v = view(&nodes[0]);
        (v["drift"].as_array().map(Vec::len) == Some(1)).then_some(())
    });
    // Three nodes, one odd: only node3 lists the job as its difference.
    let v = view(&nodes[0]);
    for n in v["nodes"].as_array().expect("nodes") {
        let expected = if n["name"] == "node3" {
            serde_json::json!(["report"])
        } else {
            serde_json::json!([])
        };
        assert_eq!(n["differing_jobs"], expected, "{v}");
    }
    let killed_at = std::time::Instant::now();
    nodes[2].crash();
    for d in &nodes[..2] {
        d.poll("node3 gone", Duration::from_secs(30), || {
            (node_state(d, "node3").as_deref() == Some("gone")).then_some(())
        });
        d.poll("healthy without node3", SECS_20, || {
            (health_warnings(d).0 == "healthy").then_some(())
        });
        assert_eq!(node_state(d, "node1").as_deref(), Some("alive"));
        assert_eq!(view(d)["drift"], serde_json::json!([]));
    }
    // Gone means silent for node_timeout (5 s here), not sooner.
    assert!(
        killed_at.elapsed() >= Duration::from_secs(4),
        "{:?}",
        killed_at.elapsed()
    );
    let out = nodes[0].cli(&["cluster"]);
    assert!(
        out.stdout.starts_with("3 nodes (2 alive, 1 gone)"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.lines().any(|l| l.starts_with("node3  gone")),
        "{}",
        out.stdout
    );
}

/// A pause made on node1 stops the job on node2 too, and node2 lists it
/// paused with its reason; a resume on node2 lets it run again on any
/// node; a timed pause ends by itself on every node.
#[test]
fn a_pause_on_one_node_holds_on_the_others() {
    let pg = Postgres::start();
    let mut nodes = nodes(
        &pg.url,
        2,
        "[jobs.tick]\nschedule = \"* * * * * *\"\ncommand = \"true\"\n\
         [jobs.clock]\nschedule = \"* * * * * *\"\ncommand = \"true\"\n",
    );
    for d in nodes.iter_mut() {
        d.start();
    }
    let started = |nodes: &[Daemon], job: &str, after: DateTime<Utc>| -> usize {
        nodes
            .iter()
            .flat_map(|d| d.starts(job))
            .filter(|s| s.scheduled_at > after)
            .count()
    };
    crate::support::poll::until("tick runs", SECS_20, || {
        (started(&nodes, "tick", now() - chrono::Duration::seconds(60)) > 0).then_some(())
    });

    let paused = nodes[0].post_body("/api/v1/jobs/tick/pause", r#"{"reason": "db migration"}"#);
    assert_eq!(paused.status, 200, "{}", paused.body);
    let paused_at = now();
    let listed = nodes[1].poll("node2 lists the pause", SECS_20, || {
        nodes[1].listed_job("tick").filter(|j| j["paused"] == true)
    });
    assert_eq!(listed["pause"]["reason"], "db migration", "{listed}");
    assert_eq!(listed["pause"]["by"], "default", "{listed}");
    // Three more seconds of the other job prove the schedule went on
    // meanwhile; an instant claimed as the pause was written may start.
    let window = now();
    crate::support::poll::until("three more seconds of clock", SECS_20, || {
        (started(&nodes, "clock", window) >= 3).then_some(())
    });
    let after = paused_at + chrono::Duration::seconds(1);
    assert_eq!(
        started(&nodes, "tick", after),
        0,
        "a paused job started:\n{}\n{}",
        nodes[0].diagnostics(),
        nodes[1].diagnostics()
    );

    // Resumed on the other node: it runs again, and node1 lists it so.
    let resumed = nodes[1].post("/api/v1/jobs/tick/resume");
    assert_eq!(resumed["paused"], false);
    let resumed_at = now();
    crate::support::poll::until("tick runs again", SECS_20, || {
        (started(&nodes, "tick", resumed_at) > 0).then_some(())
    });
    nodes[0].poll("node1 lists it resumed", SECS_20, || {
        nodes[0].listed_job("tick").filter(|j| j["paused"] == false)
    });

    // A timed pause made on node2 ends on both by itself.
    let timed = nodes[1].post_body("/api/v1/jobs/tick/pause", r#"{"until": "4s"}"#);
    assert_eq!(timed.status, 200, "{}", timed.body);
    nodes[0].poll("node1 lists the timed pause", SECS_20, || {
        nodes[0].listed_job("tick").filter(|j| j["paused"] == true)
    });
    let until: DateTime<Utc> = timed.body["pause"]["until"]
        .as_str()
        .and_then(|u| u.parse().ok())
        .expect("until in the answer");
    crate::support::poll::until("tick runs after the pause's end", SECS_20, || {
        (started(&nodes, "tick", until) > 0).then_some(())
    });
    for d in &nodes {
        d.poll("resumed by itself", SECS_20, || {
            d.listed_job("tick").filter(|j| j["paused"] == false)
        });
    }
}

/// Between heartbeats a pause made on another node already holds: the
/// claim itself finds it (heartbeats 10 s apart here, so no heartbeat's
/// read of the pauses can be what stops node2), and node2 takes the pause.
#[test]
fn a_claim_finds_a_pause_made_since_the_last_heartbeat() {
    let pg = Postgres::start();
    let slow = |name: &str| {
        format!(
            "[cluster]\ndatabase = {:?}\nnode = {name:?}\nheartbeat = \"10s\"\nnode_timeout = \"30s\"\n\
             [jobs.tick]\nschedule = \"* * * * * *\"\ncommand = \"true\"\n",
            pg.url
        )
    };
    let mut nodes: Vec<Daemon> = ["node1", "node2"]
        .iter()
        .map(|name| {
            let d = Daemon::new();
            d.write_config(&slow(name));
            d
        })
        .collect();
    for d in nodes.iter_mut() {
        d.start();
    }
    crate::support::poll::until("tick runs", SECS_20, || {
        nodes
            .iter()
            .any(|d| !d.starts("tick").is_empty())
            .then_some(())
    });
    let asked = std::time::Instant::now();
    let paused = nodes[0].post_body("/api/v1/jobs/tick/pause", r#"{"reason": "quiet"}"#);
    assert_eq!(paused.status, 200, "{}", paused.body);
    let paused_at = now();
    let listed = nodes[1].poll("node2 takes the pause from a claim", SECS_20, || {
        nodes[1].listed_job("tick").filter(|j| j["paused"] == true)
    });
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "node2 took {:?}: that was a heartbeat, not a claim",
        asked.elapsed()
    );
    assert_eq!(listed["pause"]["reason"], "quiet");
    assert!(
        nodes[1].stderr().contains("paused in the cluster"),
        "{}",
        nodes[1].diagnostics()
    );
    let after = paused_at + chrono::Duration::seconds(1);
    let late: Vec<_> = nodes
        .iter()
        .flat_map(|d| d.starts("tick"))
        .filter(|s| s.scheduled_at > after)
        .collect();
    assert!(late.is_empty(), "started while paused: {late:?}");
}

/// Failover: the node running a claimed attempt is killed with SIGKILL.
/// A survivor records the attempt as `lost` ("node <name> lost") in the
/// database and its own log, and exactly one survivor runs the retry
/// (same run id, attempt 2) within node_timeout and a few seconds; the
/// retry's finish is in the database too, written by that survivor.
#[test]
fn a_killed_nodes_attempt_is_lost_and_retried_once_on_a_survivor() {
    let pg = Postgres::start();
    // One instant, a few seconds ahead, so that every node is up first.
    let at = now() + chrono::Duration::seconds(6);
    let schedule = format!(
        "{} {} {} * * *",
        at.format("%S"),
        at.format("%M"),
        at.format("%H")
    );
    let mut nodes = nodes(
        &pg.url,
        3,
        &format!(
            "[jobs.long]\nschedule = {schedule:?}\ntimezone = \"UTC\"\nretries = 1\nretry_delay = \"1s\"\n\
             command = 'if [ \"$CRONDUCT_ATTEMPT\" = 1 ]; then sleep 300; fi'\n"
        ),
    );
    for d in nodes.iter_mut() {
        d.start();
    }
    let (owner, first) =
        crate::support::poll::until("the first attempt", Duration::from_secs(30), || {
            nodes
                .iter()
                .enumerate()
                .find_map(|(i, d)| d.starts("long").into_iter().next().map(|s| (i, s)))
        });
    let owner_name = format!("node{}", owner + 1);
    let killed_at = std::time::Instant::now();
    nodes[owner].crash();
    // The killed daemon's child lives on; it is ours to end.
    crate::support::daemon::kill_group(crate::support::daemon::pgid_of(&first));
    let query = format!(
        "SELECT attempt || ' ' || status || ' ' || coalesce(error, '') || ' by ' || node
         FROM cronduct_finishes WHERE run_id = '{}' ORDER BY attempt",
        first.run_id
    );
    let rows = crate::support::poll::until(
        "the lost attempt and the retry in the database",
        Duration::from_secs(40),
        || {
            let rows = pg.column(&query);
            (rows.len() == 2).then_some(rows)
        },
    );
    let elapsed = killed_at.elapsed();
    assert!(
        elapsed < Duration::from_secs(5 + 6),
        "the retry took {elapsed:?} after the kill"
    );
    let survivors: Vec<usize> = (0..3).filter(|i| *i != owner).collect();
    let retried: Vec<usize> = survivors
        .iter()
        .copied()
        .filter(|i| !nodes[*i].run_starts(&first.run_id).is_empty())
        .collect();
    assert_eq!(retried.len(), 1, "the retry ran on {retried:?}: {rows:?}");
    let by = format!("node{}", retried[0] + 1);
    assert_eq!(
        rows,
        vec![
            format!("1 lost node {owner_name} lost by {by}"),
            format!("2 success  by {by}"),
        ]
    );
    let starts = nodes[retried[0]].run_starts(&first.run_id);
    assert_eq!(starts.len(), 1);
    assert_eq!(starts[0].attempt, 2);
    // The survivor's own log has the lost attempt and the retry's finish.
    let finishes = nodes[retried[0]].run_finishes(&first.run_id);
    let statuses: Vec<_> = finishes
        .iter()
        .map(|f| (f.attempt, f.status.as_str()))
        .collect();
    assert_eq!(statuses, vec![(1, "lost"), (2, "success")]);
    // Every record of a cluster node names it.
    let line = nodes[retried[0]]
        .log_lines()
        .into_iter()
        .find(|l| l.contains(&first.run_id))
        .expect("a line of the run");
    assert!(line.contains(&format!(",\"node\":\"{by}\"}}")), "{line}");
    for i in survivors {
        nodes[i].stop(SECS_20);
    }
}
