//! Hot reload of the real daemon (cronduct-run(1), cronduct.toml(5) ADMIN
//! API): editors' rename-over writes, drop-in files, SIGHUP and `POST
//! /api/v1/reload`; a broken config is refused while the old jobs keep
//! running; a reload never kills or duplicates a running attempt.

use std::time::Duration;

use crate::support::daemon::{Daemon, NEVER, SECS_20};
use cronduct::record::{Status, Trigger};
use nix::sys::signal::Signal;
use serde_json::Value;

/// How long the file watcher (plus its debounce) may take to notice an
/// edit on a loaded machine.
const NOTICE: Duration = Duration::from_secs(10);

const TICK: &str = r#"
[jobs.tick]
schedule = "* * * * * *"
command = "true"
"#;

/// `(job, key, line)` of each item of a `diagnostics` array.
fn job_key_line(v: &Value) -> Vec<(Option<&str>, Option<&str>, u64)> {
    v.as_array()
        .unwrap_or_else(|| panic!("an array of items: {v}"))
        .iter()
        .map(|item| {
            (
                item["job"].as_str(),
                item["key"].as_str(),
                item["line"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().expect("a string"))
        .collect()
}

#[test]
fn a_config_renamed_over_the_old_one_adds_its_new_job() {
    let mut d = Daemon::new();
    d.write_config(&format!(
        "[jobs.old]\nschedule = \"{NEVER}\"\ncommand = \"true\"\n"
    ));
    d.start();
    assert!(d.listed_job("added").is_none());

    d.write_config(&format!(
        "[jobs.old]\nschedule = \"{NEVER}\"\ncommand = \"true\"\n\n[jobs.added]\nschedule = \"* * * * * *\"\ncommand = \"true\"\n"
    ));
    d.poll("the new job in /api/v1/jobs", NOTICE, || {
        d.listed_job("added")
    });
    let start = d.wait_starts("added", 1, SECS_20).remove(0);
    assert_eq!(start.trigger, Trigger::Schedule);
}

#[test]
fn an_invalid_edit_is_refused_and_a_fix_recovers() {
    let mut d = Daemon::new();
    d.write_config(TICK);
    d.start();
    assert_eq!(d.health().body["status"], "healthy");

    d.write_config("[jobs.tick]\nschedule = \"61 * * * *\"\ncomand = \"true\"\n");
    let health = d.poll("/health to turn degraded", NOTICE, || {
        let h = d.health();
        (h.body["status"] == "degraded").then_some(h)
    });
    assert_eq!(health.status, 200);
    assert_eq!(health.body["last_reload"]["ok"], false, "{}", health.body);
    let error = health.body["last_reload"]["error"]
        .as_str()
        .expect("the refused config's errors");
    assert!(
        error.contains("jobs.toml:2:12") && error.contains("did you mean `command`?"),
        "{error}"
    );
    let warnings = strings(&health.body["warnings"]);
    assert!(
        warnings.iter().any(|w| w.contains("unknown key `comand`")),
        "{warnings:?}"
    );
    let items = [
        (Some("tick"), None, 1),
        (Some("tick"), Some("schedule"), 2),
        (Some("tick"), Some("comand"), 3),
    ];
    assert_eq!(
        job_key_line(&health.body["last_reload"]["diagnostics"]),
        items,
        "no action, bad schedule, unknown key: {}",
        health.body
    );
    let status = d.get("/api/v1/status");
    assert_eq!(status["last_reload"]["ok"], false, "{status}");
    assert_eq!(
        job_key_line(&status["last_reload"]["diagnostics"]),
        items,
        "{status}"
    );

    // The old definition keeps running.
    let before = d.starts("tick").len();
    d.wait_starts("tick", before + 2, SECS_20);
    assert_eq!(
        d.listed_job("tick").expect("kept")["schedule"],
        "* * * * * *"
    );

    d.write_config(&format!(
        "{TICK}\n[jobs.fixed]\nschedule = \"{NEVER}\"\ncommand = \"true\"\n"
    ));
    let health = d.poll("/health to be healthy again", NOTICE, || {
        let h = d.health();
        (h.body["status"] == "healthy").then_some(h)
    });
    assert_eq!(health.body["last_reload"]["ok"], true, "{}", health.body);
    assert!(d.listed_job("fixed").is_some());
}

/// A generated 10 MB one-line value that is refused costs a few kilobytes
/// wherever the problem is shown: `/health`, the reload endpoint's 422 and
/// the daemon's log line quote a window of the line and a clipped message
/// (before, `/health` was 40 MB: the line twice over, and the message
/// quoting the value), and the daemon keeps its jobs.
#[test]
fn a_refused_10_mb_one_line_edit_is_reported_in_a_few_kilobytes() {
    const SMALL: usize = 16 << 10;
    let mut d = Daemon::new();
    let kept = format!("[jobs.kept]\nschedule = \"{NEVER}\"\ncommand = \"true\"\n");
    d.write_config(&kept);
    d.start();
    let before = d.stderr().len();

    let huge = "x".repeat(10 << 20);
    d.write_config(&format!(
        "{kept}\n[jobs.huge]\nschedule = \"@daily\"\ncommand = \"true\"\ntimeout = \"1{huge}\"\n"
    ));
    // Parsing 10 MB takes seconds in a debug build on a loaded machine.
    let health = d.poll("/health to turn degraded", 6 * NOTICE, || {
        let h = d.health();
        (h.body["status"] == "degraded").then_some(h)
    });
    let size = health.body.to_string().len();
    assert!(size < SMALL, "/health is {size} bytes");
    let error = health.body["last_reload"]["error"]
        .as_str()
        .expect("the error");
    assert!(
        error.contains("jobs.toml:8:11") && error.contains("job `huge`, key `timeout`"),
        "{error}"
    );
    assert!(d.listed_job("kept").is_some() && d.listed_job("huge").is_none());

    let reload = d.api("POST", "/api/v1/reload");
    assert_eq!(reload.status, 422, "{}", reload.body);
    let size = reload.body.to_string().len();
    assert!(size < SMALL, "the 422 is {size} bytes");
    assert_eq!(
        job_key_line(&reload.body["diagnostics"]),
        [(Some("huge"), Some("timeout"), 8)]
    );
    // Two refusals logged (the watcher's and the endpoint's).
    let logged = d.stderr().len() - before;
    assert!(logged < 2 * SMALL, "{logged} bytes logged");
    assert!(d.listed_job("kept").is_some() && d.listed_job("huge").is_none());
}

#[test]
fn sighup_reloads_even_an_unchanged_file() {
    let mut d = Daemon::new();
    d.write_config(TICK);
    d.start();
    let at = d.health().body["last_reload"]["at"].clone();
    d.signal(Signal::SIGHUP);
    let health = d.poll("last_reload.at to advance", NOTICE, || {
        let h = d.health();
        (h.body["last_reload"]["at"] != at).then_some(h)
    });
    assert_eq!(health.body["last_reload"]["ok"], true, "{}", health.body);
    assert_eq!(health.body["status"], "healthy");
}

/// Whether process `pid` holds `path` open.
fn holds_open(pid: i32, path: &std::path::Path) -> bool {
    std::fs::read_dir(format!("/proc/{pid}/fd")).is_ok_and(|fds| {
        fds.filter_map(Result::ok)
            .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|target| target == path))
    })
}

/// `systemctl reload` or logrotate's postrotate right after a start: a
/// SIGHUP that lands while the daemon is still reading a 20 MB run log
/// must not kill it (SIGHUP's default action, which systemd counts as a
/// clean exit and does not restart), and the reload it asks for happens
/// once the daemon is ready.
#[test]
fn sighup_while_reading_a_large_log_at_start_reloads_once_ready() {
    let mut d = Daemon::new();
    let log = d.log_file();
    std::fs::create_dir_all(log.parent().expect("log folder")).expect("create log folder");
    let mut text = String::new();
    let mut n = 0;
    while text.len() < 20 << 20 {
        let at = crate::support::log::t0() + chrono::Duration::seconds(n);
        let record = crate::support::log::finish(
            "old",
            &format!("run-{n}"),
            1,
            Status::Success,
            false,
            at,
            10,
        );
        text.push_str(
            &serde_json::to_string(&cronduct::record::LogEvent::Finish(record)).expect("json"),
        );
        text.push('\n');
        n += 1;
    }
    std::fs::write(&log, text).expect("write the large log");
    let first = format!("[jobs.first]\nschedule = \"{NEVER}\"\ncommand = \"true\"\n");
    d.write_config(&first);

    d.launch();
    // It holds the log open while it reads it: the config is read by then,
    // and the file watcher is not started yet, so only the SIGHUP can
    // bring in the job written now.
    d.poll("the daemon to open its run log", SECS_20, || {
        holds_open(d.pid(), &log).then_some(())
    });
    d.write_config(&format!(
        "{first}\n[jobs.second]\nschedule = \"{NEVER}\"\ncommand = \"true\"\n"
    ));
    d.signal(Signal::SIGHUP);

    d.wait_ready();
    d.poll("the job the SIGHUP reload adds", NOTICE, || {
        d.listed_job("second")
    });
    assert!(
        d.stderr().contains("SIGHUP: reloading"),
        "{}",
        d.diagnostics()
    );
}

#[test]
fn the_reload_endpoint_answers_the_diff_or_every_error() {
    let mut d = Daemon::new();
    let config = |round: usize| {
        let previous = if round == 0 {
            "gone".to_string()
        } else {
            format!("new-{}", round - 1)
        };
        (
            format!(
                r#"
[jobs.kept]
schedule = "{NEVER}"
command = "true"

[jobs.edited]
schedule = "{NEVER}"
command = "echo {round}"

[jobs.{previous}]
schedule = "{NEVER}"
command = "true"
"#
            ),
            format!(
                r#"
[jobs.kept]
schedule = "{NEVER}"
command = "true"

[jobs.edited]
schedule = "{NEVER}"
command = "echo {round}-edited"

[jobs.new-{round}]
schedule = "{NEVER}"
command = "true"
"#
            ),
            previous,
        )
    };
    d.write_config(&config(0).0);
    d.start();

    // The file watcher reloads the same edit on its own after a short
    // debounce; if it wins the race, the endpoint rightly reports an empty
    // diff. Each round is a fresh edit, so one of a few rounds shows what
    // the endpoint answers when it is first to see an edit.
    let mut answered = None;
    for round in 0..5 {
        let (before, after, previous) = config(round);
        if round > 0 {
            d.write_config(&before);
            d.post("/api/v1/reload");
        }
        d.write_config(&after);
        let reply = d.post("/api/v1/reload");
        if reply["added"].as_array().is_some_and(|a| !a.is_empty()) {
            answered = Some((round, previous, reply));
            break;
        }
    }
    let (round, previous, diff) = answered.expect("the endpoint saw one of five edits first");
    assert_eq!(diff["ok"], true);
    assert_eq!(strings(&diff["added"]), [format!("new-{round}")]);
    assert_eq!(strings(&diff["removed"]), [previous]);
    assert_eq!(strings(&diff["changed"]), ["edited"]);
    assert!(d.listed_job(&format!("new-{round}")).is_some());

    d.write_config("[jobs.kept]\nschedule = \"bad\"\n");
    let refused = d.api("POST", "/api/v1/reload");
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(
        refused.body["error"]
            .as_str()
            .is_some_and(|e| e.contains("old jobs keep running")),
        "{}",
        refused.body
    );
    // Every error, each in its own entry, and nothing else.
    let errors = strings(&refused.body["errors"]);
    assert_eq!(errors.len(), 2, "{errors:?}");
    let no_action = errors.iter().position(|e| e.contains("no action"));
    let schedule = errors.iter().position(|e| e.contains("key `schedule`"));
    assert!(
        no_action.is_some() && schedule.is_some() && no_action != schedule,
        "{errors:?}"
    );
    assert_eq!(
        job_key_line(&refused.body["diagnostics"]),
        [(Some("kept"), None, 1), (Some("kept"), Some("schedule"), 2)],
        "{}",
        refused.body
    );
    assert!(
        d.listed_job(&format!("new-{round}")).is_some(),
        "old jobs kept"
    );
}

#[test]
fn a_reload_never_kills_or_duplicates_a_running_attempt() {
    let mut d = Daemon::new();
    d.write_config(&format!(
        r#"
[jobs.changing]
schedule = "{NEVER}"
command = "sleep 3; echo old"

[jobs.leaving]
schedule = "{NEVER}"
command = "sleep 3; echo old"
"#
    ));
    d.start();
    let changing = d.trigger("changing");
    let leaving = d.trigger("leaving");
    d.wait_start(&changing, 1, SECS_20);
    d.wait_start(&leaving, 1, SECS_20);

    d.write_config(&format!(
        r#"
[jobs.changing]
description = "edited while running"
schedule = "{NEVER}"
command = "echo new"
"#
    ));
    d.post("/api/v1/reload");
    let running = d.get("/api/v1/running");
    assert_eq!(
        running["running"].as_array().map(Vec::len),
        Some(2),
        "both attempts still run: {running}"
    );
    assert!(d.listed_job("leaving").is_none(), "the removed job is gone");

    for run in [&changing, &leaving] {
        let finish = d.wait_finish(run, SECS_20);
        assert_eq!(finish.status, Status::Success, "{finish:?}");
        assert_eq!(finish.stdout, "old\n", "finished under its old definition");
        assert_eq!(d.run_starts(run).len(), 1, "started once");
    }
    assert_eq!(d.starts("changing").len(), 1, "the reload started nothing");
    let recorded = d.get(&format!("/api/v1/runs/{leaving}"));
    assert_eq!(recorded["attempts"][0]["status"], "success", "{recorded}");
}

#[test]
fn a_new_drop_in_file_is_picked_up() {
    let mut d = Daemon::new();
    d.write_file(
        "jobs.d/base.toml",
        &format!("[jobs.base]\nschedule = \"{NEVER}\"\ncommand = \"true\"\n"),
    );
    d.write_config("include = [\"jobs.d/*.toml\"]\n");
    d.start();
    assert!(d.listed_job("base").is_some());

    d.write_file(
        "jobs.d/extra.toml",
        "[jobs.extra]\nschedule = \"* * * * * *\"\ncommand = \"true\"\n",
    );
    d.poll("the drop-in's job in /api/v1/jobs", NOTICE, || {
        d.listed_job("extra")
    });
    d.wait_starts("extra", 1, SECS_20);
}

/// `include = ["jobs.d/*.toml"]` with no `jobs.d` yet, like a fresh
/// install: making the folder later and dropping a file in it works
/// without a restart or SIGHUP.
#[test]
fn a_drop_in_folder_created_after_the_start_is_followed() {
    let mut d = Daemon::new();
    d.write_config(&format!(
        "include = [\"jobs.d/*.toml\"]\n\n[jobs.base]\nschedule = \"{NEVER}\"\ncommand = \"true\"\n"
    ));
    d.start();
    let at = d.health().body["last_reload"]["at"].clone();
    std::fs::create_dir(d.path("jobs.d")).expect("create jobs.d");
    d.poll("the new folder to be noticed", NOTICE, || {
        (d.health().body["last_reload"]["at"] != at).then_some(())
    });

    d.write_file(
        "jobs.d/extra.toml",
        "[jobs.extra]\nschedule = \"* * * * * *\"\ncommand = \"true\"\n",
    );
    d.poll("the drop-in's job in /api/v1/jobs", NOTICE, || {
        d.listed_job("extra")
    });
    d.wait_starts("extra", 1, SECS_20);
}

/// `rm -rf` of the config folder and a fresh one made in its place, as
/// configuration management does: the new `jobs.toml` is loaded, and so
/// is every later edit (before, the watcher still believed the old folder
/// watched, and nothing after the removal was ever noticed). Twice: once
/// with the folder made again at once, once after the removal was seen.
#[test]
fn a_removed_and_recreated_config_folder_is_followed() {
    let mut d = Daemon::new();
    d.config_file = "etc/jobs.toml";
    let job = |id: &str| format!("[jobs.{id}]\nschedule = \"{NEVER}\"\ncommand = \"true\"\n");
    d.write_config(&job("first"));
    d.start();
    assert!(d.listed_job("first").is_some());

    std::fs::remove_dir_all(d.path("etc")).expect("rm -rf etc");
    d.write_config(&job("second"));
    d.poll("the recreated folder's job", NOTICE, || {
        d.listed_job("second")
    });
    d.write_config(&format!("{}{}", job("second"), job("edited")));
    d.poll("a later edit's job", NOTICE, || d.listed_job("edited"));

    std::fs::remove_dir_all(d.path("etc")).expect("rm -rf etc");
    d.poll("the missing config to be refused", NOTICE, || {
        (d.health().body["status"] == "degraded").then_some(())
    });
    std::fs::create_dir(d.path("etc")).expect("mkdir etc");
    d.write_config(&job("third"));
    d.poll("the job written after mkdir", NOTICE, || {
        d.listed_job("third")
    });
    d.write_config(&format!("{}{}", job("third"), job("fourth")));
    d.poll("a later edit's job", NOTICE, || d.listed_job("fourth"));
    assert!(d.listed_job("first").is_none() && d.listed_job("edited").is_none());
}

/// Compiles a zone `Test/Shift` at a fixed offset of `hours` with `zic`
/// into `dir`, as a tzdata update would rewrite it.
fn compile_shift_zone(dir: &std::path::Path, hours: i32) {
    let rules = dir.join(format!("shift{hours}.zi"));
    std::fs::write(&rules, format!("Zone Test/Shift {hours}:00 - +0{hours}\n"))
        .expect("write rules");
    let zic = ["/usr/sbin/zic", "/usr/bin/zic"]
        .into_iter()
        .find(|z| std::path::Path::new(z).exists())
        .unwrap_or("zic");
    let status = std::process::Command::new(zic)
        .arg("-d")
        .arg(dir)
        .arg(&rules)
        .status()
        .expect("run zic (Debian: tzdata / libc-bin)");
    assert!(status.success());
}

/// A tzdata update rewrites a job's zone file: the running daemon
/// notices, re-plans the job for the new offset and logs it.
#[test]
fn a_rewritten_zone_file_re_plans_its_jobs() {
    let mut d = Daemon::new();
    let zones = d.path("zoneinfo");
    std::fs::create_dir_all(&zones).expect("zone dir");
    compile_shift_zone(&zones, 1);
    d.env.push(("TZDIR".into(), zones.display().to_string()));
    d.write_config(
        "[jobs.noon]\nschedule = \"0 12 * * *\"\ntimezone = \"Test/Shift\"\ncommand = \"true\"\n",
    );
    d.start();
    let tzdata = &d.get("/api/v1/status")["scheduler"]["tzdata"];
    assert_eq!(tzdata["source"], "system", "{tzdata}");
    assert_eq!(tzdata["path"], zones.display().to_string(), "{tzdata}");
    let next = |d: &Daemon| {
        d.listed_job("noon").expect("listed")["next_run"]
            .as_str()
            .expect("a next run")
            .to_string()
    };
    // Noon at +01 is 11:00 UTC.
    let before = next(&d);
    assert!(before.contains("T11:00:00"), "{before}");

    compile_shift_zone(&zones, 3);
    // Noon at +03 is 09:00 UTC.
    let after = d.poll("the job re-planned for the new offset", NOTICE, || {
        let n = next(&d);
        n.contains("T09:00:00").then_some(n)
    });
    assert_ne!(before, after);
    d.poll("the re-plan in the daemon's log", NOTICE, || {
        d.stderr()
            .contains("time zone Test/Shift: its rules changed (tz database updated); re-planned 1 job: noon")
            .then_some(())
    });
}
