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

/// Writes a run log of `n` finished runs of `job`, oldest first, ending a
/// minute ago; answers their run ids in that order.
fn write_history(d: &Daemon, job: &str, n: usize) -> Vec<String> {
    let end = crate::support::daemon::now() - chrono::Duration::minutes(1);
    let mut text = String::new();
    let mut ids = Vec::new();
    for i in 0..n {
        let id = format!("old-{i:05}");
        let at = end - chrono::Duration::seconds((n - i) as i64);
        let rec = cronduct::testkit::finish(job, &id, cronduct::record::Status::Success, at, 5);
        let line = serde_json::to_string(&cronduct::record::LogEvent::Finish(rec)).expect("json");
        text.push_str(&line);
        text.push('\n');
        ids.push(id);
    }
    std::fs::create_dir_all(d.log_file().parent().expect("log dir")).expect("mkdir");
    std::fs::write(d.log_file(), text).expect("write the log");
    ids
}

/// The two answers a rotation must not change: the oldest run, which only
/// the file holds (the newest 1,000 are also kept in memory), and a full
/// page of 1,000.
fn history_intact(d: &Daemon, oldest: &str) -> bool {
    let run = d.api("GET", &format!("/api/v1/runs/{oldest}"));
    let page = d.get("/api/v1/runs?limit=1000");
    run.status == 200 && page["runs"].as_array().map(Vec::len) == Some(1000)
}

fn mv(from: &Path, to: &Path) {
    std::fs::rename(from, to)
        .unwrap_or_else(|e| panic!("mv {} {}: {e}", from.display(), to.display()));
}

#[test]
fn history_survives_an_outside_rotation_and_sighup_reopens_the_log() {
    let mut d = Daemon::new();
    d.write_config(&format!(
        "[jobs.nightly]\nschedule = {NEVER:?}\ncommand = \"true\"\n"
    ));
    let ids = write_history(&d, "nightly", 1_200);
    let oldest = &ids[0];
    d.start();
    assert!(history_intact(&d, oldest), "{}", d.diagnostics());

    // logrotate without copytruncate: the file is moved, nothing written
    // since. The index follows the file it was reading.
    let log = d.log_file();
    let first = PathBuf::from(format!("{}.1", log.display()));
    let second = PathBuf::from(format!("{}.2", log.display()));
    mv(&log, &first);
    assert!(history_intact(&d, oldest), "{}", d.diagnostics());

    // The next line goes to a new file, and the moved one is now a
    // rotated generation like the daemon's own.
    let run_id = d.trigger("nightly");
    d.poll("the run's finish in the new log", SECS_20, || {
        d.finishes("nightly")
            .iter()
            .any(|f| f.run_id == run_id)
            .then_some(())
    });
    d.poll("the run in the history", SECS_20, || {
        (d.api("GET", &format!("/api/v1/runs/{run_id}")).status == 200).then_some(())
    });
    assert!(history_intact(&d, oldest), "{}", d.diagnostics());
    let newest = &d.get("/api/v1/runs?limit=1")["runs"][0];
    assert_eq!(newest["run_id"], run_id.as_str(), "{newest}");

    // A second rotation, announced with SIGHUP as logrotate's postrotate
    // does: the daemon starts the new file at once, with no line to write,
    // and finds the older records under their shifted names.
    mv(&first, &second);
    mv(&log, &first);
    d.signal(nix::sys::signal::Signal::SIGHUP);
    d.poll("a new log file after SIGHUP", SECS_20, || {
        log.exists().then_some(())
    });
    d.poll("the history intact after SIGHUP", SECS_20, || {
        history_intact(&d, oldest).then_some(())
    });
    assert!(
        d.api("GET", &format!("/api/v1/runs/{run_id}")).status == 200,
        "{}",
        d.diagnostics()
    );
}
