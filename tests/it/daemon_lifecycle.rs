//! The daemon across its own life (cronduct-run(1)): a crash and the `lost`
//! runs it leaves, SIGTERM with and without runs outlasting the grace, what
//! survives a restart (pause flags, history), `@reboot`, and `catch_up` after
//! downtime.

use std::time::{Duration, Instant};

use crate::support::daemon::{Daemon, NEVER, SECS_20, kill_group, now, pgid_of};
use chrono::{DurationRound, TimeDelta};
use cronduct::record::{Status, Trigger};

#[test]
fn a_run_cut_off_by_a_crash_is_recorded_lost_at_the_next_start() {
    let (mut d, run_id, start) = Daemon::with_run_in_progress("sleeper", "sleep 30");
    d.crash();
    // Nobody supervises the orphan any more; it must not outlive the test.
    kill_group(pgid_of(&start));
    assert!(
        d.run_finishes(&run_id).is_empty(),
        "no finish before the restart"
    );

    d.start();
    let lost = d.wait_finish(&run_id, SECS_20);
    assert_eq!(lost.status, Status::Lost, "{lost:?}");
    assert_eq!((lost.attempt, lost.trigger), (1, Trigger::Manual));
    assert_eq!(lost.started_at, start.ts);
    assert_eq!(d.run_finishes(&run_id).len(), 1, "recorded once");

    let run = d.get(&format!("/api/v1/runs/{run_id}"));
    assert_eq!(run["job"], "sleeper");
    assert_eq!(run["attempts"][0]["status"], "lost", "{run}");
    let listed = d.get("/api/v1/runs?status=lost");
    assert_eq!(listed["runs"][0]["run_id"], run_id.as_str(), "{listed}");
    let job = d.listed_job("sleeper").expect("listed");
    assert_eq!(job["last_run"]["status"], "lost", "{job}");
    assert_eq!(job["consecutive_failures"], 1, "{job}");
}

#[test]
fn sigterm_waits_the_grace_then_cancels_runs_and_exits_0() {
    let (mut d, run_id, start) = Daemon::with_run_in_progress("long", "sleep 30");

    let asked = Instant::now();
    d.stop(Duration::from_secs(10));
    let took = asked.elapsed();
    assert!(
        took >= Duration::from_secs(1),
        "the shutdown grace (1s) was not waited for: {took:?}"
    );

    // The finish line is on disk once the daemon has exited.
    let finish = d
        .run_finishes(&run_id)
        .pop()
        .unwrap_or_else(|| panic!("no finish line after the exit\n{}", d.diagnostics()));
    assert_eq!(finish.status, Status::Cancelled, "{finish:?}");
    assert!(
        finish
            .error
            .as_deref()
            .is_some_and(|e| e.contains("shutting down")),
        "{finish:?}"
    );
    assert!(!finish.will_retry);
    d.wait_gone("the job's process group to be gone", pgid_of(&start), &[]);
}

#[test]
fn a_run_ending_within_the_grace_is_a_success_and_nothing_new_starts() {
    let mut d = Daemon::new();
    d.shutdown_grace = "10s";
    d.write_config(&format!(
        r#"
[jobs.short]
schedule = "{NEVER}"
command = "sleep 1.5; echo done"

[jobs.tick]
schedule = "* * * * * *"
command = "true"
"#
    ));
    d.start();
    let run_id = d.trigger("short");
    d.wait_start(&run_id, 1, SECS_20);
    d.wait_starts("tick", 1, SECS_20);

    let asked_at = now();
    d.stop(Duration::from_secs(15));
    let finish = d.wait_finish(&run_id, Duration::from_secs(1));
    assert_eq!(finish.status, Status::Success, "{finish:?}");
    assert_eq!(finish.stdout, "done\n");
    // The short job kept the daemon up for about a second; a per-second
    // job started during that time would have been a run after SIGTERM.
    let late: Vec<_> = d
        .starts("tick")
        .into_iter()
        .filter(|s| s.ts > asked_at + TimeDelta::milliseconds(500))
        .collect();
    assert!(late.is_empty(), "runs started after SIGTERM: {late:?}");
}

#[test]
fn pause_survives_a_restart() {
    let mut d = Daemon::new();
    d.write_config(
        r#"
[jobs.quiet]
schedule = "* * * * * *"
command = "true"

[jobs.witness]
schedule = "* * * * * *"
command = "true"
"#,
    );
    d.start();
    let reply = d.post("/api/v1/jobs/quiet/pause");
    assert_eq!(
        (&reply["job"], &reply["paused"]),
        (&"quiet".into(), &true.into()),
        "{reply}"
    );
    d.stop(Duration::from_secs(10));
    let quiet_before = d.starts("quiet").len();
    let witness_before = d.starts("witness").len();

    d.start();
    let job = d.listed_job("quiet").expect("listed");
    assert_eq!(job["paused"], true, "{job}");
    // Two seconds of the other per-second job: the paused one had its
    // chances to run and did not take them.
    d.wait_starts("witness", witness_before + 2, SECS_20);
    assert_eq!(d.starts("quiet").len(), quiet_before, "the paused job ran");
}

#[test]
fn history_survives_a_restart() {
    let mut d = Daemon::new();
    d.write_config(&format!(
        r#"
[jobs.remembered]
schedule = "{NEVER}"
command = "echo kept"
"#
    ));
    d.start();
    let reply = d.post("/api/v1/jobs/remembered/run?wait=true");
    let run_id = reply["run_id"].as_str().expect("run_id").to_string();
    d.stop(Duration::from_secs(10));

    d.start();
    let runs = d.get("/api/v1/runs");
    let run = &runs["runs"][0];
    assert_eq!(run["run_id"], run_id.as_str(), "{runs}");
    assert_eq!(run["status"], "success");
    assert_eq!(run["stdout"], "kept\n");
    let per_job = d.get("/api/v1/jobs/remembered/runs");
    assert_eq!(per_job["runs"][0]["run_id"], run_id.as_str(), "{per_job}");
    let job = d.listed_job("remembered").expect("listed");
    assert_eq!(job["last_run"]["run_id"], run_id.as_str(), "{job}");
}

#[test]
fn reboot_jobs_do_not_run_on_reload() {
    let mut d = Daemon::new();
    let config = |description: &str| {
        format!(
            r#"
[jobs.boot]
description = "{description}"
schedule = "@reboot"
command = "echo booted"

[jobs.witness]
schedule = "* * * * * *"
command = "true"
"#
        )
    };
    d.write_config(&config("first"));
    d.start();
    let boot = d.wait_finishes("boot", 1, SECS_20).remove(0);
    assert_eq!(
        (boot.trigger, boot.status),
        (Trigger::Reboot, Status::Success)
    );

    // An unchanged reload, then one that changes the @reboot job itself.
    d.post("/api/v1/reload");
    d.write_config(&config("second"));
    d.post("/api/v1/reload");
    let witness = d.starts("witness").len();
    d.wait_starts("witness", witness + 2, SECS_20);
    assert_eq!(d.starts("boot").len(), 1, "a reload ran the @reboot job");
}

#[test]
fn catch_up_runs_the_instant_missed_during_downtime_once() {
    let mut d = Daemon::new();
    d.write_config(
        r#"
[jobs.hourly-catch]
schedule = "0 * * * *"
command = "true"
catch_up = "2h"

[jobs.hourly-plain]
schedule = "0 * * * *"
command = "true"

[jobs.witness]
schedule = "@reboot"
command = "true"
"#,
    );
    // The daemon last scheduled both jobs an hour ago, so the top of the
    // current hour was missed while it was down.
    let last = now() - TimeDelta::hours(1);
    d.write_last_scheduled(&["hourly-catch", "hourly-plain"], last);
    d.start();

    let caught = d.wait_finishes("hourly-catch", 1, SECS_20).remove(0);
    assert_eq!(caught.trigger, Trigger::CatchUp, "{caught:?}");
    assert_eq!(caught.status, Status::Success);
    let missed = now()
        .duration_trunc(TimeDelta::hours(1))
        .expect("truncate to the hour");
    assert!(
        caught.scheduled_at == missed || caught.scheduled_at == missed - TimeDelta::hours(1),
        "the missed top of the hour, got {}",
        caught.scheduled_at
    );
    assert!(caught.scheduled_at > last);

    // The @reboot witness was started in the same pass at start-up; once it
    // is done, a catch-up of the job without `catch_up` would be too.
    d.wait_finishes("witness", 1, SECS_20);
    assert_eq!(d.starts("hourly-catch").len(), 1, "caught up once");
    assert!(
        d.starts("hourly-plain").is_empty(),
        "a job without catch_up ran after downtime"
    );
}

/// `system` in the status, compared with what this test reads from /proc
/// and statvfs(3) itself while the daemon runs.
#[test]
fn status_reports_the_system_as_proc_shows_it() {
    let mut d = Daemon::new();
    d.write_config(&format!(
        "[jobs.idle]\nschedule = \"{NEVER}\"\ncommand = \"true\"\n"
    ));
    d.start();
    let status = d.get("/api/v1/status");
    let sys = &status["system"];
    let pid = d.pid();

    let proc_load: Vec<f64> = std::fs::read_to_string("/proc/loadavg")
        .expect("loadavg")
        .split_whitespace()
        .take(3)
        .map(|v| v.parse().expect("a load figure"))
        .collect();
    for (key, mine) in ["one", "five", "fifteen"].iter().zip(&proc_load) {
        let theirs = sys["load_average"][key].as_f64().expect("a load figure");
        assert!((theirs - mine).abs() <= 1.0, "{key}: {theirs} vs {mine}");
    }

    let meminfo = std::fs::read_to_string("/proc/meminfo").expect("meminfo");
    let mem_total = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("MemTotal")
        * 1024;
    assert_eq!(sys["memory_total_bytes"], mem_total);
    let available = sys["memory_available_bytes"].as_u64().expect("available");
    assert!(available > 0 && available <= mem_total, "{available}");

    let threads: i64 = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .expect("status")
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("Threads");
    let reported = sys["threads"].as_i64().expect("threads");
    assert!((reported - threads).abs() <= 2, "{reported} vs {threads}");

    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("fd dir")
        .count() as i64;
    let reported = sys["open_fds"].as_i64().expect("open_fds");
    assert!((reported - fds).abs() <= 3, "{reported} vs {fds}");

    let st = nix::sys::statvfs::statvfs(&d.state_dir()).expect("statvfs");
    let unit = st.fragment_size();
    let total = st.blocks() * unit;
    let free = st.blocks_available() * unit;
    let fs = &sys["state_dir_fs"];
    assert_eq!(fs["total_bytes"], total, "{fs}");
    let reported = fs["free_bytes"].as_u64().expect("free");
    assert!(reported.abs_diff(free) <= 64 << 20, "{reported} vs {free}");
    assert_eq!(fs["path"], d.state_dir().display().to_string());
    assert!(sys["log_fs"]["total_bytes"].as_u64().is_some_and(|t| t > 0));
    assert_eq!(status["components"]["log"]["status"], "available");
    d.stop(Duration::from_secs(10));
}

/// `@reboot` runs once per boot of the machine: at the first start, not
/// again when the daemon is restarted within the same boot (a package
/// upgrade), and again at the first start after a reboot (here: the boot
/// id remembered in the state file made a different one).
#[test]
fn reboot_jobs_run_once_per_boot_not_per_restart() {
    let mut d = Daemon::new();
    d.write_config(
        "[jobs.at-boot]\nschedule = \"@reboot\"\ncommand = \"echo booted\"\n\n\
         [jobs.marker]\nschedule = \"* * * * * *\"\ncommand = \"true\"\n",
    );
    d.start();
    let first = d.wait_finishes("at-boot", 1, SECS_20);
    assert_eq!(first[0].trigger, Trigger::Reboot);
    let boot_id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .expect("the kernel's boot id")
        .trim()
        .to_string();
    d.stop(SECS_20);
    let state_file = d.state_dir().join("state.json");
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state_file).expect("state")).expect("json");
    assert_eq!(state["boot_id"], boot_id.as_str(), "{state}");

    // Same boot: the restarted daemon runs the other job but not @reboot.
    d.start();
    let marks = d.starts("marker").len();
    d.wait_starts("marker", marks + 2, SECS_20);
    assert_eq!(d.starts("at-boot").len(), 1, "no @reboot run on a restart");
    d.stop(SECS_20);

    // A boot the state has not seen: @reboot runs once more.
    let text = std::fs::read_to_string(&state_file).expect("state");
    let faked = text.replace(&boot_id, "00000000-0000-0000-0000-000000000000");
    assert_ne!(faked, text);
    std::fs::write(&state_file, faked).expect("write state");
    d.start();
    let again = d.wait_finishes("at-boot", 2, SECS_20);
    assert_eq!(again[1].trigger, Trigger::Reboot);
}
