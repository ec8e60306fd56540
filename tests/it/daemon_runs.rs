//! Running jobs through the real daemon (cronduct.toml(5) JOBS and RUNNING A
//! JOB): timeouts that take the whole process tree down, retries with backoff
//! under one run id, the three concurrency policies, an output flood, and the
//! clean environment of a command and its resource use.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::support::daemon::{
    Daemon, NEVER, SECS_20, alive, group_members, pgid_of, proc_status_bytes,
};
use cronduct::record::{Status, Trigger};

fn ms(d: chrono::Duration) -> i64 {
    d.num_milliseconds()
}

/// Reads the pid a job wrote into `file`, once it is there.
fn read_pid(d: &Daemon, file: &std::path::Path) -> i32 {
    d.poll("the job's pid file", Duration::from_secs(10), || {
        std::fs::read_to_string(file).ok()?.trim().parse().ok()
    })
}

#[test]
fn a_timeout_terminates_the_whole_process_tree() {
    let mut d = Daemon::new();
    let pidfile = d.path("grandchild.pid");
    d.write_config(&format!(
        r#"
[jobs.tree]
schedule = "{NEVER}"
command = "sleep 300 & echo $! > '{}'; sleep 300"
timeout = "1s"
kill_grace = "1s"
"#,
        pidfile.display()
    ));
    d.start();
    let run_id = d.trigger("tree");
    let start = d.wait_start(&run_id, 1, SECS_20);
    let grandchild = read_pid(&d, &pidfile);
    assert!(alive(grandchild), "the background sleep runs");

    let finish = d.wait_finish(&run_id, SECS_20);
    assert_eq!(finish.status, Status::Timeout, "{finish:?}");
    // SIGTERM at the timeout was enough; SIGKILL would have come a second later.
    assert_eq!(finish.signal.as_deref(), Some("SIGTERM"), "{finish:?}");
    assert!(
        finish.duration_ms >= 1000,
        "not before the timeout: {finish:?}"
    );
    let pgid = pgid_of(&start);
    d.wait_gone(
        "the grandchild and the whole group to be gone",
        pgid,
        &[grandchild],
    );
}

#[test]
fn a_job_ignoring_sigterm_is_killed_after_kill_grace() {
    let mut d = Daemon::new();
    let pidfile = d.path("stubborn.pid");
    d.write_config(&format!(
        r#"
[jobs.stubborn]
schedule = "{NEVER}"
command = "trap '' TERM; sleep 300 & echo $! > '{}'; wait"
timeout = "1s"
kill_grace = "1s"
"#,
        pidfile.display()
    ));
    d.start();
    let run_id = d.trigger("stubborn");
    let start = d.wait_start(&run_id, 1, SECS_20);
    let grandchild = read_pid(&d, &pidfile);

    let finish = d.wait_finish(&run_id, SECS_20);
    assert_eq!(finish.status, Status::Timeout, "{finish:?}");
    assert_eq!(finish.signal.as_deref(), Some("SIGKILL"), "{finish:?}");
    assert!(
        finish.duration_ms >= 2000,
        "SIGKILL only after timeout + kill_grace: {finish:?}"
    );
    let pgid = pgid_of(&start);
    d.wait_gone("the TERM-ignoring tree to be killed", pgid, &[grandchild]);
}

#[test]
fn retries_share_one_run_id_and_back_off() {
    let mut d = Daemon::new();
    d.write_config(&format!(
        r#"
[jobs.flaky]
schedule = "{NEVER}"
command = "echo attempt $CRONDUCT_ATTEMPT; exit 3"
retries = 2
retry_delay = "1s"
retry_backoff = 2.0
"#
    ));
    d.start();
    let run_id = d.trigger("flaky");
    let last = d.wait_finish(&run_id, SECS_20);
    assert_eq!(last.attempt, 3, "{last:?}");

    let starts = d.starts("flaky");
    let finishes = d.finishes("flaky");
    assert_eq!(starts.len(), 3, "{starts:?}");
    assert_eq!(finishes.len(), 3, "{finishes:?}");
    for (n, (s, f)) in starts.iter().zip(&finishes).enumerate() {
        let attempt = u32::try_from(n + 1).expect("small");
        assert_eq!((s.run_id.as_str(), s.attempt), (run_id.as_str(), attempt));
        assert_eq!((f.run_id.as_str(), f.attempt), (run_id.as_str(), attempt));
        assert_eq!((s.trigger, f.trigger), (Trigger::Manual, Trigger::Manual));
        assert_eq!(f.status, Status::Failed);
        assert_eq!(f.exit_code, Some(3));
        assert_eq!(f.stdout, format!("attempt {attempt}\n"));
    }
    let will_retry: Vec<bool> = finishes.iter().map(|f| f.will_retry).collect();
    assert_eq!(will_retry, [true, true, false]);
    // retry_at announces the backoff: 1 s, then 1 s × 2.
    assert_eq!(
        finishes[0]
            .retry_at
            .map(|t| ms(t - finishes[0].finished_at)),
        Some(1000)
    );
    assert_eq!(
        finishes[1]
            .retry_at
            .map(|t| ms(t - finishes[1].finished_at)),
        Some(2000)
    );
    assert_eq!(finishes[2].retry_at, None);
    // ...and the retries keep to it: never early, not much late.
    let gap1 = ms(starts[1].ts - finishes[0].finished_at);
    let gap2 = ms(starts[2].ts - finishes[1].finished_at);
    assert!((1000..2500).contains(&gap1), "first retry after {gap1} ms");
    assert!((2000..3500).contains(&gap2), "second retry after {gap2} ms");
}

#[test]
fn forbid_skips_scheduled_starts_while_a_run_is_active() {
    let mut d = Daemon::new();
    d.write_config(
        r#"
[jobs.busy]
schedule = "* * * * * *"
command = "sleep 30"
concurrency = "forbid"
"#,
    );
    d.start();
    let first = d.wait_starts("busy", 1, SECS_20).remove(0);
    let skips = d.poll("two skipped starts", SECS_20, || {
        let skips = d.skips("busy");
        (skips.len() >= 2).then_some(skips)
    });
    for skip in &skips {
        assert!(
            skip.reason.starts_with("previous run still active")
                && skip.reason.contains(&first.run_id),
            "{skip:?}"
        );
        assert!(skip.scheduled_at > first.scheduled_at, "{skip:?}");
    }
    assert!(
        skips[1].scheduled_at > skips[0].scheduled_at,
        "one skip per scheduled instant: {skips:?}"
    );
    let refused = d.api("POST", "/api/v1/jobs/busy/run");
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert_eq!(d.starts("busy").len(), 1, "no second run was started");
}

#[test]
fn allow_lets_runs_overlap() {
    let mut d = Daemon::new();
    d.write_config(&format!(
        r#"
[jobs.parallel]
schedule = "{NEVER}"
command = "sleep 2"
concurrency = "allow"
"#
    ));
    d.start();
    let a = d.trigger("parallel");
    let b = d.trigger("parallel");
    assert_ne!(a, b);
    d.poll("both runs to be running at once", SECS_20, || {
        let running = d.get("/api/v1/running");
        let ids: Vec<&str> = running["running"]
            .as_array()
            .expect("running array")
            .iter()
            .filter_map(|r| r["run_id"].as_str())
            .collect();
        (ids.contains(&a.as_str()) && ids.contains(&b.as_str())).then_some(())
    });
    for run in [a, b] {
        assert_eq!(d.wait_finish(&run, SECS_20).status, Status::Success);
    }
}

#[test]
fn replace_cancels_the_active_run_and_starts_the_new_one() {
    let mut d = Daemon::new();
    d.write_config(&format!(
        r#"
[jobs.latest]
schedule = "{NEVER}"
command = "sleep 30"
concurrency = "replace"
"#
    ));
    d.start();
    let old = d.trigger("latest");
    let old_start = d.wait_start(&old, 1, SECS_20);
    let new = d.trigger("latest");

    let ended = d.wait_finish(&old, SECS_20);
    assert_eq!(ended.status, Status::Cancelled, "{ended:?}");
    assert!(
        ended
            .error
            .as_deref()
            .is_some_and(|e| e.contains("replace")),
        "{ended:?}"
    );
    let old_pgid = pgid_of(&old_start);
    d.wait_gone("the old run's processes to be gone", old_pgid, &[]);
    let new_start = d.wait_start(&new, 1, SECS_20);
    let new_pgid = pgid_of(&new_start);
    assert!(
        !group_members(new_pgid).is_empty(),
        "the new run is running"
    );
    assert!(
        d.run_finishes(&new).is_empty(),
        "the new run was not cancelled with the old one"
    );
}

#[test]
fn an_output_flood_keeps_the_tail_and_bounded_memory() {
    let mut d = Daemon::new();
    d.write_config(&format!(
        r#"
[jobs.flood]
schedule = "{NEVER}"
command = "yes 0123456789 | head -c 300000000; echo; echo the-end"
output_limit = "4KiB"
timeout = "2m"
"#
    ));
    d.start();
    let pid = d.pid();
    let peak_before = proc_status_bytes(pid, "VmHWM");
    let run_id = d.trigger("flood");
    let finish = d.wait_finish(&run_id, Duration::from_secs(90));
    assert_eq!(finish.status, Status::Success, "{}", finish.stderr);
    assert!(finish.output_truncated);
    assert!(
        finish.stdout.len() <= 4096,
        "{} bytes kept",
        finish.stdout.len()
    );
    assert!(
        finish.stdout.len() >= 4000,
        "{} bytes kept",
        finish.stdout.len()
    );
    assert!(
        finish.stdout.ends_with("\nthe-end\n"),
        "{:?}",
        finish.stdout
    );
    assert!(finish.stdout.contains("0123456789\n0123456789\n"));
    let growth = proc_status_bytes(pid, "VmHWM").saturating_sub(peak_before);
    assert!(
        growth < 20 << 20,
        "the daemon's peak RSS grew by {} KiB while draining 300 MB",
        growth >> 10
    );
}

#[test]
fn a_command_sees_a_clean_environment_and_only_that() {
    let mut d = Daemon::new();
    d.env
        .push(("CRONDUCT_E2E_LEAK".into(), "daemon-only".into()));
    d.write_config(&format!(
        r#"
[defaults]
env = {{ FROM_DEFAULTS = "d", SHARED = "from-defaults" }}

[jobs.show-env]
schedule = "{NEVER}"
command = ["/usr/bin/env"]
env = {{ SHARED = "from-job", FROM_JOB = "j" }}
"#
    ));
    d.start();
    let reply = d.post("/api/v1/jobs/show-env/run?wait=true");
    let record: cronduct::record::FinishRecord =
        serde_json::from_value(reply).expect("a finish record");
    assert_eq!(record.status, Status::Success, "{record:?}");
    let seen: BTreeMap<&str, &str> = record
        .stdout
        .lines()
        .map(|l| l.split_once('=').expect("NAME=value"))
        .collect();

    let me = nix::unistd::User::from_uid(nix::unistd::getuid())
        .expect("look up the test's user")
        .expect("the test's user exists");
    let home = me.dir.to_string_lossy().into_owned();
    let scheduled_at = cronduct::record::ts::format(&record.scheduled_at);
    // Under the state dir, as the daemon runs outside systemd here.
    let result_file = d
        .state_dir()
        .join(format!("results/{}.1/result.json", record.run_id))
        .display()
        .to_string();
    let expected: BTreeMap<&str, &str> = [
        ("PATH", "/usr/local/bin:/usr/bin:/bin"),
        ("HOME", home.as_str()),
        ("USER", me.name.as_str()),
        ("LOGNAME", me.name.as_str()),
        ("SHELL", "/bin/sh"),
        ("CRONDUCT_JOB", "show-env"),
        ("CRONDUCT_RUN_ID", record.run_id.as_str()),
        ("CRONDUCT_ATTEMPT", "1"),
        ("CRONDUCT_SCHEDULED_AT", scheduled_at.as_str()),
        ("CRONDUCT_RESULT", result_file.as_str()),
        ("FROM_DEFAULTS", "d"),
        ("FROM_JOB", "j"),
        ("SHARED", "from-job"),
    ]
    .into_iter()
    .collect();
    assert!(
        !seen.contains_key("CRONDUCT_E2E_LEAK"),
        "the daemon's own environment leaked into the job"
    );
    assert_eq!(seen, expected);
}

/// `GET /api/v1/jobs` is kept whole between requests while nothing
/// changes (the jobs here never fire on their own, so a kept answer would
/// stay stale for good): a pause or a manual run shows in the very next
/// request, and a run's end shows as soon as the daemon has taken it in.
#[test]
fn the_job_list_shows_every_change() {
    let mut d = Daemon::new();
    d.write_config(&format!(
        r#"
[jobs.slow]
schedule = "{NEVER}"
command = "sleep 30"

[jobs.quick]
schedule = "{NEVER}"
command = "true"
"#
    ));
    d.start();
    let listed = |id: &str| d.listed_job(id).unwrap_or_else(|| panic!("{id} listed"));
    assert_eq!(listed("slow")["running"], false);
    assert_eq!(listed("slow")["last_run"], serde_json::Value::Null);

    d.post("/api/v1/jobs/quick/pause");
    assert_eq!(listed("quick")["paused"], true);
    d.post("/api/v1/jobs/quick/resume");
    assert_eq!(listed("quick")["paused"], false);

    let run = d.trigger("slow");
    assert_eq!(listed("slow")["running"], true, "active from the 202 on");
    d.wait_start(&run, 1, SECS_20);
    d.post("/api/v1/jobs/slow/cancel");
    let last = d.poll("the cancelled run in the list", SECS_20, || {
        let job = listed("slow");
        (job["running"] == false && job["last_run"]["run_id"] == run.as_str()).then_some(job)
    });
    assert_eq!(last["last_run"]["status"], "cancelled");

    let waited = d.post("/api/v1/jobs/quick/run?wait=true");
    let run_id = waited["run_id"].as_str().expect("run_id").to_string();
    d.poll("the finished run in the list", SECS_20, || {
        let job = listed("quick");
        (job["running"] == false && job["last_run"]["run_id"] == run_id.as_str()).then_some(())
    });
}

/// The finish record and `/api/v1/stats` carry the attempt's resource use.
#[test]
fn resource_use_through_the_daemon() {
    let mut d = Daemon::new();
    d.write_config(&format!(
        r#"
[jobs.reader]
schedule = "{NEVER}"
command = "dd if=/dev/zero of=/dev/null bs=64M count=1 2>/dev/null"
"#
    ));
    d.start();
    let reply = d.post("/api/v1/jobs/reader/run?wait=true");
    let rec: cronduct::record::FinishRecord =
        serde_json::from_value(reply).expect("a finish record");
    assert_eq!(rec.status, Status::Success, "{rec:?}");
    let rss = rec.max_rss_kib.expect("max_rss_kib in the record");
    assert!(rss >= 64 * 1024, "dd's 64 MiB buffer: {rss} KiB");
    assert!(
        rec.cpu_user_ms.is_some() && rec.cpu_system_ms.is_some(),
        "{rec:?}"
    );
    let cpu = rec.cpu_user_ms.unwrap_or(0) + rec.cpu_system_ms.unwrap_or(0);

    let stats = d.poll("the stats to count the run", SECS_20, || {
        let s = d.get("/api/v1/stats");
        (s["jobs"]["reader"]["attempts"] == 1).then_some(s)
    });
    let job = &stats["jobs"]["reader"];
    assert_eq!(job["cpu_ms"], serde_json::json!({"total": cpu, "avg": cpu}));
    assert_eq!(job["max_rss_kib"], rss);
}

/// `inherit_env` copies what the daemon's environment has (the fixture
/// starts it with `RUST_LOG=info`), leaves out what it lacks, and the
/// job's `env` still wins.
#[test]
fn inherit_env_copies_the_daemons_variables_under_env() {
    let mut d = Daemon::new();
    d.write_config(&format!(
        r#"
[defaults]
inherit_env = ["RUST_LOG", "CRONDUCT_TEST_NEVER_SET", "TZ"]

[jobs.printer]
schedule = "{NEVER}"
command = "echo \"log=$RUST_LOG tz=${{TZ-unset}} never=${{CRONDUCT_TEST_NEVER_SET-unset}}\""

[jobs.overridden]
schedule = "{NEVER}"
command = "echo \"log=$RUST_LOG\""
env = {{ RUST_LOG = "debug" }}
"#
    ));
    d.start();
    let run = |job: &str| -> cronduct::record::FinishRecord {
        serde_json::from_value(d.post(&format!("/api/v1/jobs/{job}/run?wait=true")))
            .expect("a finish record")
    };
    let printed = run("printer");
    assert_eq!(printed.status, Status::Success, "{printed:?}");
    let tz = std::env::var("TZ").unwrap_or_else(|_| "unset".into());
    assert_eq!(printed.stdout, format!("log=info tz={tz} never=unset\n"));
    assert_eq!(run("overridden").stdout, "log=debug\n");
}
