//! Cluster mode under faults: three real daemons on one real PostgreSQL
//! server, with a real TCP proxy (tests/it/support/proxy.rs) between a
//! node and the database that the test stalls (a partition) or closes,
//! and the server itself restarted under load.
//!
//! What is checked is what docs/CLUSTER.md promises: no instant of a
//! `run_on = "one"` job runs twice, whatever breaks; a node cut off starts
//! none, keeps its `run_on = "all"` jobs and says why; the only instants
//! that run nowhere are the ones whose claim reached the database while
//! its answer did not; a node that lost its claim records nothing over
//! the new owner's; every finish record of a log reaches the database
//! once the database is back.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::support::daemon::{Daemon, SECS_20, now};
use crate::support::poll;
use crate::support::postgres::Postgres;
use crate::support::proxy::Proxy;

/// The skip reason of an instant a node could not claim.
const UNREACHABLE: &str = "cluster database unreachable";

/// A node called `name` on the database at `url`, with `jobs`: heartbeat
/// 1 s and node_timeout 5 s, so trouble is noticed within the test.
fn node(url: &str, name: &str, jobs: &str) -> Daemon {
    let d = Daemon::new();
    d.write_config(&format!(
        "[cluster]\ndatabase = {url:?}\nnode = {name:?}\nheartbeat = \"1s\"\nnode_timeout = \"5s\"\n\n{jobs}"
    ));
    d
}

/// Two per-second jobs that run on one node and one that runs on all.
const PER_SECOND: &str = "[jobs.tick]\nschedule = \"* * * * * *\"\ncommand = \"sleep 0.3\"\n\
     [jobs.tock]\nschedule = \"* * * * * *\"\ncommand = \"true\"\n\
     [jobs.local]\nschedule = \"* * * * * *\"\ncommand = \"true\"\nrun_on = \"all\"\n";

/// The `run_on = "one"` jobs of [`PER_SECOND`].
const ONE_JOBS: [&str; 2] = ["tick", "tock"];

/// `/health` as (status, warnings as JSON text).
fn health(d: &Daemon) -> (String, String) {
    let h = d.health().body;
    (
        h["status"].as_str().unwrap_or_default().to_string(),
        h["warnings"].to_string(),
    )
}

/// Who started each instant of `job`: instant → node names.
fn started_by(nodes: &[(&str, &Daemon)], job: &str) -> BTreeMap<DateTime<Utc>, Vec<String>> {
    let mut out: BTreeMap<DateTime<Utc>, Vec<String>> = BTreeMap::new();
    for (name, d) in nodes {
        for s in d.starts(job) {
            out.entry(s.scheduled_at)
                .or_default()
                .push(name.to_string());
        }
    }
    out
}

/// The claims in the database of `job`: instant (Unix seconds) → node.
fn claims(pg: &Postgres, job: &str) -> BTreeMap<i64, String> {
    pg.column(&format!(
        "SELECT extract(epoch FROM scheduled_at)::bigint || ' ' || node
         FROM cronduct_claims WHERE job = '{job}'"
    ))
    .iter()
    .filter_map(|row| {
        let (at, node) = row.split_once(' ')?;
        Some((at.parse().ok()?, node.to_string()))
    })
    .collect()
}

/// Every finish record in the database: (run id, attempt) → (node that
/// wrote it, status, error).
fn finishes_in_db(pg: &Postgres) -> BTreeMap<(String, u32), (String, String, String)> {
    pg.column(
        "SELECT run_id || ' ' || attempt || ' ' || node || ' ' || status || ' ' || coalesce(error, '')
         FROM cronduct_finishes",
    )
    .iter()
    .filter_map(|row| {
        let mut parts = row.splitn(5, ' ');
        Some((
            (parts.next()?.to_string(), parts.next()?.parse().ok()?),
            (
                parts.next()?.to_string(),
                parts.next()?.to_string(),
                parts.next()?.to_string(),
            ),
        ))
    })
    .collect()
}

/// Whether the database's record of an attempt stands for the one `node`
/// logged: written by `node`, or — when a partition made its peers
/// declare `node` lost while the attempt ran — the survivor's `lost`
/// record naming `node` (docs/CLUSTER.md: the cluster's history keeps the
/// survivor's record).
fn stands_for(stored: &(String, String, String), node: &str) -> bool {
    let (by, status, error) = stored;
    by == node || (status == "lost" && *error == format!("node {node} lost"))
}

/// Waits until every finish line of every node's log that ended before
/// `by` has its record in the database ([`stands_for`]): none was lost
/// while the database was away.
fn wait_finishes_reach_the_database(
    pg: &Postgres,
    nodes: &[(&str, &Daemon)],
    by: DateTime<Utc>,
    within: Duration,
) {
    let mut missing = Vec::new();
    let done = poll::within(within, || {
        let logged: Vec<(String, u32, String)> = nodes
            .iter()
            .flat_map(|(name, d)| {
                d.events().into_iter().filter_map(move |e| match e {
                    cronduct::record::LogEvent::Finish(f) if f.finished_at < by => {
                        Some((f.run_id, f.attempt, name.to_string()))
                    }
                    _ => None,
                })
            })
            .collect();
        let stored = finishes_in_db(pg);
        missing = logged
            .into_iter()
            .filter(|(run_id, attempt, node)| {
                !stored
                    .get(&(run_id.clone(), *attempt))
                    .is_some_and(|s| stands_for(s, node))
            })
            .collect();
        missing.is_empty().then_some(())
    });
    assert!(
        done.is_some(),
        "{} finish record(s) of the logs never reached the database, e.g. {:?}\n{}",
        missing.len(),
        missing.iter().take(5).collect::<Vec<_>>(),
        nodes
            .iter()
            .map(|(n, d)| format!("=== {n} ===\n{}", d.diagnostics()))
            .collect::<String>()
    );
}

/// Every whole second in `first..=last` of each `one` job was started by
/// at most one node, under that node's claim (or the claim a survivor
/// took over from it, recording the attempt lost). An instant that ran
/// nowhere must be one docs/CLUSTER.md names: a claim that reached the
/// database while its answer did not (the claimant skipped it, the others
/// found it taken), or — with `outage`, when the database itself was
/// away — an instant every node skipped. Answers how many ran nowhere.
fn assert_each_instant_once(
    pg: &Postgres,
    nodes: &[(&str, &Daemon)],
    first: i64,
    last: i64,
    outage: bool,
) -> usize {
    let stored = finishes_in_db(pg);
    let mut unrun = 0;
    for job in ONE_JOBS {
        let started = started_by(nodes, job);
        let twice: Vec<_> = started.iter().filter(|(_, n)| n.len() > 1).collect();
        assert!(twice.is_empty(), "{job}: instants started twice: {twice:?}");
        let claimed = claims(pg, job);
        for (name, d) in nodes {
            for s in d.starts(job) {
                let owner = claimed.get(&s.scheduled_at.timestamp());
                let taken_over = || {
                    stored
                        .get(&(s.run_id.clone(), s.attempt))
                        .is_some_and(|r| r.0 != *name && stands_for(r, name))
                };
                assert!(
                    owner.map(String::as_str) == Some(*name) || taken_over(),
                    "{job} at {} started by {name} without its claim (claim: {owner:?})",
                    s.scheduled_at
                );
            }
        }
        let skipped: BTreeMap<i64, Vec<String>> =
            nodes.iter().fold(BTreeMap::new(), |mut acc, (name, d)| {
                for s in d.skips(job) {
                    assert_eq!(s.reason, UNREACHABLE, "{job}: {s:?}");
                    acc.entry(s.scheduled_at.timestamp())
                        .or_default()
                        .push(name.to_string());
                }
                acc
            });
        for t in first..=last {
            if started.keys().any(|k| k.timestamp() == t) {
                continue;
            }
            let owner = claimed.get(&t);
            let skipped_by = skipped.get(&t);
            let lost_answer = owner.is_some_and(|o| skipped_by.is_some_and(|s| s.contains(o)));
            let everyone_skipped =
                outage && owner.is_none() && skipped_by.is_some_and(|s| s.len() == nodes.len());
            assert!(
                lost_answer || everyone_skipped,
                "{job}: the instant {t} ran nowhere; claim: {owner:?}, skipped by: {skipped_by:?}"
            );
            unrun += 1;
        }
    }
    unrun
}

/// Node A reaches the database through a proxy, B and C directly. A is
/// cut off twice — a partition (the proxy stalls: silence) long enough to
/// be declared lost, then a closed link (reset, refused) — and each time
/// it starts no `one` instant (skip lines with the reason), keeps its
/// `all` job, and is degraded; B and C carry on without it. After each
/// heal it is healthy and claims again. Across the whole test every
/// instant of the `one` jobs ran exactly once (logs and claims agree), and
/// every finish record of the three logs reached the database, A's
/// partition-time `all` runs included.
#[test]
fn a_node_cut_off_from_the_database_runs_no_one_job_and_nothing_runs_twice() {
    let pg = Postgres::start();
    let (proxy, a_url) = Proxy::to_database(&pg.url);
    let mut a = node(&a_url, "nodeA", PER_SECOND);
    let mut b = node(&pg.url, "nodeB", PER_SECOND);
    let mut c = node(&pg.url, "nodeC", PER_SECOND);
    for d in [&mut a, &mut b, &mut c] {
        d.start();
    }
    let all_up = now();
    let nodes = [("nodeA", &a), ("nodeB", &b), ("nodeC", &c)];
    let ran_after = |job: &str, after: DateTime<Utc>| -> usize {
        started_by(&nodes, job)
            .keys()
            .filter(|at| **at > after)
            .count()
    };
    poll::until("three instants with all nodes up", SECS_20, || {
        (ran_after("tick", all_up) >= 3).then_some(())
    });

    let mut cut_windows = Vec::new();
    for cut_off in [Proxy::stall as fn(&Proxy), Proxy::close] {
        let cut = now();
        cut_off(&proxy);
        // A says why it starts nothing.
        let skips = a.poll("A's skip lines", SECS_20, || {
            let s: Vec<_> = ONE_JOBS
                .iter()
                .flat_map(|j| a.skips(j))
                .filter(|s| s.scheduled_at > cut)
                .collect();
            (s.len() >= 4).then_some(s)
        });
        assert!(skips.iter().all(|s| s.reason == UNREACHABLE), "{skips:?}");
        let (status, warnings) = a.poll("A degraded", SECS_20, || {
            let h = health(&a);
            (h.0 == "degraded").then_some(h)
        });
        assert_eq!(status, "degraded");
        assert!(
            warnings.contains("cluster database is unreachable"),
            "{warnings}"
        );
        // A's own job goes on; so do B and C.
        a.poll("A's run_on = all job while cut off", SECS_20, || {
            (a.starts("local")
                .iter()
                .filter(|s| s.scheduled_at > cut)
                .count()
                >= 3)
                .then_some(())
        });
        let others = now();
        poll::until("B and C carry on", SECS_20, || {
            (ran_after("tick", others) >= 3 && ran_after("tock", others) >= 3).then_some(())
        });
        if cut_windows.is_empty() {
            // The partition outlasts node_timeout: the others declare A
            // lost, and A must come back under a new epoch.
            b.poll("B sees A gone", SECS_20, || {
                b.get("/api/v1/cluster")["nodes"]
                    .as_array()?
                    .iter()
                    .any(|n| n["name"] == "nodeA" && n["state"] == "gone")
                    .then_some(())
            });
        }
        proxy.heal();
        let healed = now();
        cut_windows.push((cut, healed));
        a.poll("A healthy again", SECS_20, || {
            (health(&a).0 == "healthy").then_some(())
        });
        // Claiming again: three instants of each job with no skip on A.
        let back = now();
        poll::until("three instants after A is back", SECS_20, || {
            (ran_after("tick", back) >= 3 && ran_after("tock", back) >= 3).then_some(())
        });
        let late: Vec<_> = ONE_JOBS
            .iter()
            .flat_map(|j| a.skips(j))
            .filter(|s| s.scheduled_at > back)
            .collect();
        assert!(late.is_empty(), "A still skips after it is back: {late:?}");
    }
    let before_stop = now();
    assert!(
        a.stderr().contains("registering again"),
        "A was not fenced by the partition:\n{}",
        a.diagnostics()
    );

    // A started no `one` instant while cut off: a claim answered just
    // before the cut may start at once, none later.
    for job in ONE_JOBS {
        for s in a.starts(job) {
            for (cut, healed) in &cut_windows {
                assert!(
                    s.ts < *cut + chrono::Duration::seconds(1) || s.ts > *healed,
                    "A started {job} at {} while cut off ({cut}..{healed})",
                    s.ts
                );
            }
        }
    }
    let unrun = assert_each_instant_once(
        &pg,
        &nodes,
        all_up.timestamp() + 1,
        before_stop.timestamp() - 1,
        false,
    );
    // Lost answers happen only at the moment of a cut: a handful at most.
    assert!(
        unrun <= 2 * ONE_JOBS.len() * 3,
        "{unrun} instants ran nowhere"
    );
    wait_finishes_reach_the_database(
        &pg,
        &nodes,
        before_stop - chrono::Duration::seconds(1),
        SECS_20,
    );
    // The database's records agree with the logs: one per started
    // instant of a `one` job.
    for job in ONE_JOBS {
        let rows = pg.column(&format!(
            "SELECT count(*) - count(DISTINCT scheduled_at) FROM cronduct_finishes WHERE job = '{job}'"
        ));
        assert_eq!(rows, vec!["0"], "{job}: an instant has two finish records");
    }
}

/// A stale claim: node X runs attempt 1 of a long `run_on = "one"` job and
/// is then partitioned from the database (its proxy stalls; X and the
/// job's process stay alive) past node_timeout. A survivor declares X
/// lost, records the attempt `lost` and runs the retry. When the link
/// heals and X's attempt finishes (failed, so X would retry it), X's
/// finish record is refused by the database — the survivor's records
/// stand — X logs that it kept it locally, and X does not retry.
#[test]
fn a_node_back_from_a_partition_records_nothing_over_the_new_owner() {
    let pg = Postgres::start();
    let gate = tempfile::tempdir().expect("temp dir");
    let go = gate.path().join("go");
    // One instant, a few seconds ahead, so every node is up first.
    let at = now() + chrono::Duration::seconds(6);
    let schedule = format!(
        "{} {} {} * * *",
        at.format("%S"),
        at.format("%M"),
        at.format("%H")
    );
    // Attempt 1 waits for the test's go and then fails; the retry succeeds.
    let jobs = format!(
        "[jobs.long]\nschedule = {schedule:?}\ntimezone = \"UTC\"\nretries = 1\nretry_delay = \"1s\"\n\
         command = 'if [ \"$CRONDUCT_ATTEMPT\" = 1 ]; then while [ ! -e {go:?} ]; do sleep 0.1; done; exit 3; fi'\n"
    );
    let names = ["nodeA", "nodeB", "nodeC"];
    let mut proxies = Vec::new();
    let mut nodes: Vec<Daemon> = names
        .iter()
        .map(|name| {
            let (proxy, url) = Proxy::to_database(&pg.url);
            proxies.push(proxy);
            node(&url, name, &jobs)
        })
        .collect();
    for d in nodes.iter_mut() {
        d.start();
    }
    let (x, first) = poll::until("the first attempt", Duration::from_secs(30), || {
        nodes
            .iter()
            .enumerate()
            .find_map(|(i, d)| d.starts("long").into_iter().next().map(|s| (i, s)))
    });
    let x_name = names[x];
    proxies[x].stall();
    let rows_of = |run_id: &str| {
        pg.column(&format!(
            "SELECT attempt || ' ' || status || ' ' || coalesce(error, '') || ' by ' || node
             FROM cronduct_finishes WHERE run_id = '{run_id}' ORDER BY attempt"
        ))
    };
    let rows = poll::until(
        "the lost attempt and the survivor's retry",
        Duration::from_secs(40),
        || {
            let rows = rows_of(&first.run_id);
            (rows.len() == 2).then_some(rows)
        },
    );
    let survivor = (0..3)
        .find(|i| *i != x && !nodes[*i].run_starts(&first.run_id).is_empty())
        .expect("a survivor ran the retry");
    let y_name = names[survivor];
    let survivors_rows = vec![
        format!("1 lost node {x_name} lost by {y_name}"),
        format!("2 success  by {y_name}"),
    ];
    assert_eq!(rows, survivors_rows);
    // At least once: X's attempt was still running all along.
    assert!(
        nodes[x].run_finishes(&first.run_id).is_empty(),
        "X's attempt ended early:\n{}",
        nodes[x].diagnostics()
    );
    assert!(crate::support::daemon::alive(
        crate::support::daemon::pgid_of(&first)
    ));

    proxies[x].heal();
    nodes[x].poll("X back in the cluster", SECS_20, || {
        (health(&nodes[x]).0 == "healthy").then_some(())
    });
    std::fs::write(&go, "").expect("write the go file");
    let kept = nodes[x].poll("X's fenced finish", SECS_20, || {
        let e = nodes[x].stderr();
        e.contains("the finish record is kept in the local log only: this node was declared lost")
            .then_some(e)
    });
    // X's own log keeps what happened there; the database keeps the
    // survivor's records only.
    let local: Vec<_> = nodes[x]
        .run_finishes(&first.run_id)
        .iter()
        .map(|f| (f.attempt, f.status.as_str().to_string(), f.exit_code))
        .collect();
    assert_eq!(local, vec![(1, "failed".to_string(), Some(3))], "{kept}");
    assert_eq!(rows_of(&first.run_id), survivors_rows);
    // X does not retry what the survivor owns: no attempt 2 on X, ever.
    // Its run has ended: the API lists nothing running.
    nodes[x].poll("X's run ended", SECS_20, || {
        nodes[x].get("/api/v1/running")["running"]
            .as_array()?
            .is_empty()
            .then_some(())
    });
    let starts: Vec<u32> = nodes[x]
        .run_starts(&first.run_id)
        .iter()
        .map(|s| s.attempt)
        .collect();
    assert_eq!(starts, vec![1], "X retried a run it no longer owns");
    let claim = pg.column(&format!(
        "SELECT node || ' ' || state || ' ' || attempt FROM cronduct_claims WHERE run_id = '{}'",
        first.run_id
    ));
    assert_eq!(claim, vec![format!("{y_name} finished 2")]);
}

/// PostgreSQL restarted under three nodes running per-second jobs, once
/// quickly and once down until every node is degraded: no instant runs
/// twice, the only ones that run nowhere are skipped with
/// the reason (or lost answers), every node is healthy again, and every
/// finish record the logs hold — the ones written while the server was
/// down included — is in the database afterwards.
#[test]
fn postgres_restarted_under_load_loses_no_finish_and_doubles_no_start() {
    let pg = Postgres::start();
    if pg.server_dir().is_none() {
        // An external server is not ours to restart.
        return;
    }
    let mut a = node(&pg.url, "nodeA", PER_SECOND);
    let mut b = node(&pg.url, "nodeB", PER_SECOND);
    let mut c = node(&pg.url, "nodeC", PER_SECOND);
    for d in [&mut a, &mut b, &mut c] {
        d.start();
    }
    let all_up = now();
    let nodes = [("nodeA", &a), ("nodeB", &b), ("nodeC", &c)];
    let ran_after = |after: DateTime<Utc>| -> usize {
        started_by(&nodes, "tick")
            .keys()
            .filter(|at| **at > after)
            .count()
    };
    poll::until("three instants with all nodes up", SECS_20, || {
        (ran_after(all_up) >= 3).then_some(())
    });
    let mut restarts = Vec::new();
    for quick in [true, false] {
        let began = now();
        if quick {
            // As `pg_ctl restart` does: down for about a second.
            pg.restart();
        } else {
            // Down until every node has noticed, while runs of the `all`
            // job go on and finish: their records must wait for the
            // server.
            pg.stop();
            for (name, d) in &nodes {
                d.poll(&format!("{name} degraded"), SECS_20, || {
                    (health(d).0 == "degraded").then_some(())
                });
            }
            let down = now();
            a.poll("runs while the server is down", SECS_20, || {
                (a.finishes("local")
                    .iter()
                    .filter(|f| f.started_at > down)
                    .count()
                    >= 2)
                    .then_some(())
            });
            pg.start_again();
        }
        restarts.push((began, now()));
        for (name, d) in &nodes {
            d.poll(
                &format!("{name} healthy after the restart"),
                SECS_20,
                || (health(d).0 == "healthy").then_some(()),
            );
        }
        let back = now();
        poll::until("three instants after the restart", SECS_20, || {
            (ran_after(back) >= 3).then_some(())
        });
    }
    let before_stop = now();
    // Instants run nowhere only around a restart.
    assert_each_instant_once(
        &pg,
        &nodes,
        all_up.timestamp() + 1,
        before_stop.timestamp() - 1,
        true,
    );
    for job in ONE_JOBS {
        for (name, d) in &nodes {
            for s in d.skips(job) {
                assert!(
                    restarts.iter().any(|(began, ended)| s.scheduled_at
                        >= *began - chrono::Duration::seconds(1)
                        && s.scheduled_at <= *ended + chrono::Duration::seconds(5)),
                    "{name} skipped {job} at {} away from a restart ({restarts:?})",
                    s.scheduled_at
                );
            }
        }
    }
    wait_finishes_reach_the_database(
        &pg,
        &nodes,
        before_stop - chrono::Duration::seconds(1),
        SECS_20,
    );
}
