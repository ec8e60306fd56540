//! The client commands against the real daemon (cronduct(1) EXIT STATUS),
//! given nothing but `-c CONFIG`: the CLI finds the address in
//! `[daemon].listen` and the key in the environment or in the key file the
//! daemon generated.

use std::time::Duration;

use crate::support::daemon::{Daemon, NEVER, Out, SECS_20};
use cronduct::record::Status;
use serde_json::Value;

fn config() -> String {
    format!(
        r#"
[jobs.good]
description = "always fine"
schedule = "{NEVER}"
command = "echo fine"

[jobs.broken]
schedule = "{NEVER}"
command = "echo oops >&2; exit 4"

[jobs.slow]
schedule = "{NEVER}"
command = "sleep 30"
"#
    )
}

fn ok(d: &Daemon, args: &[&str]) -> String {
    let out = d.cli(args);
    assert_eq!(out.code, 0, "{args:?}:\n{}{}", out.stdout, out.stderr);
    assert_eq!(out.stderr, "", "{args:?}");
    out.stdout
}

fn json(d: &Daemon, args: &[&str]) -> Value {
    let mut with_json = args.to_vec();
    with_json.push("--json");
    let stdout = ok(d, &with_json);
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {stdout}"))
}

fn failed(d: &Daemon, args: &[&str]) -> Out {
    let out = d.cli(args);
    assert_eq!(out.code, 1, "{args:?}:\n{}{}", out.stdout, out.stderr);
    out
}

/// The whole tour of client commands, with `CRONDUCT_ADMIN_KEY` unset in
/// both the daemon and the CLI: the daemon generates
/// `<state_dir>/admin.key` and the CLI finds it through the config.
#[test]
fn every_client_command_finds_the_daemon_and_its_generated_key() {
    let mut d = Daemon::new();
    d.key_in_env = false;
    d.write_config(&config());
    d.start();
    assert!(d.state_dir().join("admin.key").exists());

    let table = ok(&d, &["jobs"]);
    for id in ["good", "broken", "slow"] {
        assert!(table.contains(id), "{table}");
    }
    let listed = json(&d, &["jobs"]);
    assert_eq!(listed["jobs"].as_array().map(Vec::len), Some(3), "{listed}");

    let status = json(&d, &["status"]);
    assert_eq!(status["pid"], d.pid(), "{status}");
    assert_eq!(status["jobs"]["total"], 3, "{status}");
    assert!(ok(&d, &["status"]).contains(&d.config_path().display().to_string()));

    // trigger --wait: the exit status is the run's outcome.
    let out = ok(&d, &["trigger", "good", "--wait"]);
    assert!(
        out.starts_with("good run ") && out.contains("success"),
        "{out}"
    );
    assert!(out.contains("fine"), "the output tail is shown: {out}");
    let out = failed(&d, &["trigger", "broken", "--wait"]);
    assert!(
        out.stdout.contains("failed") && out.stdout.contains("exit 4"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("oops"), "{}", out.stdout);

    // pause / resume.
    assert_eq!(ok(&d, &["pause", "good"]).trim(), "paused good");
    assert_eq!(d.listed_job("good").expect("listed")["paused"], true);
    assert_eq!(ok(&d, &["resume", "good"]).trim(), "resumed good");
    assert_eq!(d.listed_job("good").expect("listed")["paused"], false);

    // trigger without --wait, then cancel.
    let out = ok(&d, &["trigger", "slow"]);
    let run_id = out
        .trim()
        .strip_prefix("started slow run ")
        .unwrap_or_else(|| panic!("{out}"))
        .to_string();
    d.wait_start(&run_id, 1, SECS_20);
    let out = ok(&d, &["cancel", "slow"]);
    assert_eq!(out.trim(), format!("cancelling 1 run of slow: {run_id}"));
    assert_eq!(d.wait_finish(&run_id, SECS_20).status, Status::Cancelled);
    let out = failed(&d, &["cancel", "slow"]);
    assert!(out.stderr.contains("no active run"), "{}", out.stderr);

    // runs: newest first, of all jobs or one.
    let all = json(&d, &["runs"]);
    let statuses: Vec<&str> = all["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .map(|r| r["status"].as_str().expect("status"))
        .collect();
    assert_eq!(statuses, ["cancelled", "failed", "success"], "{all}");
    let table = ok(&d, &["runs", "broken"]);
    assert!(
        table.contains("broken") && !table.contains("good"),
        "{table}"
    );
    assert!(table.contains("failed"), "{table}");

    // reload: unchanged, then a broken file.
    assert_eq!(ok(&d, &["reload"]).trim(), "reloaded: no job changed");
    let diff = json(&d, &["reload"]);
    assert_eq!(diff["ok"], true, "{diff}");
}

#[test]
fn unknown_jobs_and_an_unreachable_daemon_are_failures() {
    let mut d = Daemon::new();
    d.write_config(&config());
    d.start();
    let out = failed(&d, &["trigger", "nope", "--wait"]);
    assert!(out.stderr.contains("nope"), "{}", out.stderr);
    let out = failed(&d, &["pause", "nope"]);
    assert!(out.stderr.contains("nope"), "{}", out.stderr);

    d.stop(Duration::from_secs(10));
    let out = failed(&d, &["jobs"]);
    assert!(
        out.stderr.contains("is the daemon running?"),
        "{}",
        out.stderr
    );
}

/// A typo in one job must not cut the sysadmin off from the daemon: it
/// keeps running the old jobs, and the client commands still reach it —
/// with nothing but `-c` — to say so.
#[test]
fn a_broken_job_does_not_cut_the_cli_off_from_the_daemon() {
    let mut d = Daemon::new();
    d.key_in_env = false;
    d.write_config(&config());
    d.start();
    d.write_config(&config().replace(
        "command = \"echo fine\"",
        "command = \"echo fine\"\nretries = \"many\"",
    ));

    let out = failed(&d, &["reload"]);
    assert!(
        out.stderr.contains("the old jobs keep running") && out.stderr.contains("key `retries`"),
        "{}",
        out.stderr
    );
    let status = ok(&d, &["status"]);
    assert!(
        status.contains("REFUSED") && status.contains("key `retries`"),
        "{status}"
    );
    assert!(ok(&d, &["jobs"]).contains("good"));
    let out = ok(&d, &["trigger", "good", "--wait"]);
    assert!(out.contains("success"), "{out}");
}
