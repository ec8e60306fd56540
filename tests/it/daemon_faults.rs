//! Faults of the machine under a running daemon, as a sysadmin meets
//! them: a state directory that turns read-only, and a run log rotated by
//! an outside tool. The daemon must say what is wrong while it lasts,
//! lose nothing, and recover by itself once the fault is gone.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::daemon::{Daemon, NEVER, SECS_20};

/// Whether the tests run as root, which the mount tests need. When not,
/// they fail loudly (a fault test that passes without testing anything
/// would hide a regression) unless `CRONDUCT_SKIP_ROOT_TESTS=1` asks to
/// skip them, which is then printed.
fn root_or_skip(test: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    if std::env::var_os("CRONDUCT_SKIP_ROOT_TESTS").is_some_and(|v| v == "1") {
        eprintln!("!!! {test}: SKIPPED, it needs root (mount --bind); CI runs it as root !!!");
        return false;
    }
    panic!(
        "{test} needs root to bind-mount a directory read-only; run the tests as root \
         (CI does) or set CRONDUCT_SKIP_ROOT_TESTS=1 to skip it knowingly"
    );
}

/// `dir` bind-mounted on itself read-only, as a disk remounted read-only
/// after an error is; unmounted when dropped (also when the test fails).
struct ReadOnly(PathBuf);

impl ReadOnly {
    fn mount(dir: &Path) -> ReadOnly {
        run("mount", &["--bind", path_str(dir), path_str(dir)]);
        let guard = ReadOnly(dir.to_path_buf());
        run("mount", &["-o", "remount,ro,bind", path_str(dir)]);
        guard
    }
}

impl Drop for ReadOnly {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("temp paths are UTF-8")
}

fn run(program: &str, args: &[&str]) {
    let status = Command::new(program)
        .args(args)
        .status()
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    assert!(status.success(), "{program} {args:?}: {status}");
}

#[test]
fn a_read_only_state_dir_degrades_health_while_it_lasts() {
    if !root_or_skip("a_read_only_state_dir_degrades_health_while_it_lasts") {
        return;
    }
    let mut d = Daemon::new();
    d.write_config(&format!(
        "[jobs.nightly]\nschedule = {NEVER:?}\ncommand = \"true\"\n"
    ));
    d.start();
    assert_eq!(d.health().body["status"], "healthy", "{}", d.diagnostics());

    let read_only = ReadOnly::mount(&d.state_dir());
    // The pause itself is taken (the scheduler holds it), but it cannot be
    // made to last: that is what health must say.
    assert_eq!(d.post("/api/v1/jobs/nightly/pause")["paused"], true);
    let health = d.poll("/health to report the state file", SECS_20, || {
        let reply = d.health();
        (reply.body["status"] == "degraded").then_some(reply)
    });
    assert_eq!(health.status, 200);
    let warning = health.body["warnings"][0].as_str().unwrap_or_default();
    assert!(
        warning.contains("state.json") && warning.contains("Read-only file system"),
        "{}",
        health.body
    );
    let state = &d.get("/api/v1/status")["components"]["state"];
    assert_eq!(state["status"], "unavailable", "{state}");
    assert_eq!(state["ok"], false, "{state}");
    assert!(
        state["error"]
            .as_str()
            .is_some_and(|e| e.contains("state.json")),
        "{state}"
    );

    // The disk is writable again: the daemon retries by itself, with no
    // new change to save, and the warning goes.
    drop(read_only);
    d.poll("/health to be healthy again", SECS_20, || {
        (d.health().body["status"] == "healthy").then_some(())
    });
    let state = &d.get("/api/v1/status")["components"]["state"];
    assert_eq!(state["status"], "available", "{state}");
    assert!(state["error"].is_null(), "{state}");

    // And the pause made while the disk was read-only was written.
    d.stop(SECS_20);
    d.start();
    assert_eq!(
        d.listed_job("nightly").expect("listed")["paused"],
        true,
        "the pause was lost across the restart\n{}",
        d.diagnostics()
    );
}
