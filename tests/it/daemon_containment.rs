//! Containment and limits through the real daemon (cronduct.toml(5),
//! RUNNING A JOB, Containment; JOBS: nice, ionice, limits, memory_max,
//! cpu_max): a job that double-forks and calls `setsid` no longer survives
//! its timeout or a cancel where the daemon makes cgroups, and its cgroup
//! is removed; `/api/v1/status` says which containment is in use; `nice`,
//! `ionice` and `limits` are what the command's process has; limits the
//! machine cannot apply are warned about by `check` and by the daemon.
//!
//! The cgroup tests need root and a cgroup v2 hierarchy (`.ci/run` runs
//! as root on such a machine); elsewhere they print `SKIPPED` with the
//! daemon's reason on stderr and check only that process-group mode says
//! why.

use std::path::PathBuf;
use std::time::Duration;

use crate::support::daemon::{Daemon, NEVER, SECS_20, alive};
use cronduct::record::{FinishRecord, Status};

/// The double fork: the job's shell starts a subshell that starts, in a
/// new session (`setsid`), a sleeper that writes its pid and the cgroup
/// it is in, then sleeps; the job itself then sleeps too.
const ESCAPE: &str = r#"( setsid sh -c 'cat /proc/self/cgroup > "$0/cgroup.tmp"; mv "$0/cgroup.tmp" "$0/cgroup"; echo $$ > "$0/pid.tmp"; mv "$0/pid.tmp" "$0/pid"; exec sleep 300' "$PWD" & ); exec sleep 300"#;

/// The mount point of the cgroup v2 hierarchy, as the daemon finds it.
fn hierarchy() -> Option<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines().find_map(|l| {
        let (mount, rest) = l.split_once(" - ")?;
        (rest.split_whitespace().next()? == "cgroup2")
            .then(|| mount.split_whitespace().nth(4).map(PathBuf::from))?
    })
}

/// The daemon's `containment` from `/api/v1/status`: (mode, reason).
fn containment(d: &Daemon) -> (String, String) {
    let status = d.get("/api/v1/status");
    let c = &status["containment"];
    (
        c["mode"].as_str().expect("containment.mode").to_string(),
        c["reason"]
            .as_str()
            .expect("containment.reason")
            .to_string(),
    )
}

/// Whether the cgroup tests can run here; when not, says so loudly and
/// checks that the daemon names its reason.
fn cgroups_or_skip(d: &Daemon, test: &str) -> bool {
    let (mode, reason) = containment(d);
    let usable = nix::unistd::geteuid().is_root() && hierarchy().is_some();
    if usable {
        assert_eq!(mode, "cgroup", "root with cgroup v2 mounted: {reason}");
        assert!(reason.starts_with("cgroup v2 at "), "{reason}");
        return true;
    }
    assert_eq!(mode, "process-group");
    assert!(!reason.is_empty());
    eprintln!("SKIPPED {test}: cgroups cannot be made here (daemon says: {reason})");
    false
}

/// A daemon with one never-due job running [`ESCAPE`] in its own folder.
fn escaping_daemon(timeout: &str) -> (Daemon, PathBuf) {
    let mut d = Daemon::new();
    let dir = d.path("work");
    std::fs::create_dir(&dir).expect("work dir");
    d.write_config(&format!(
        "[jobs.escape]\nschedule = {NEVER:?}\ncommand = {ESCAPE:?}\nworking_dir = {:?}\n{timeout}kill_grace = \"1s\"\n",
        dir.display().to_string(),
    ));
    d.start();
    (d, dir)
}

/// Waits for the grandchild's pid and cgroup; checks it runs in a cgroup
/// of its own that exists.
fn grandchild(d: &Daemon, dir: &std::path::Path) -> (i32, PathBuf) {
    let pid = d.poll("the grandchild's pid", SECS_20, || {
        std::fs::read_to_string(dir.join("pid"))
            .ok()?
            .trim()
            .parse::<i32>()
            .ok()
    });
    let cgroup = std::fs::read_to_string(dir.join("cgroup")).expect("the grandchild's cgroup");
    let own = cgroup
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .expect("a cgroup v2 line");
    assert!(
        own.contains("/escape-"),
        "the grandchild is in the attempt's cgroup: {own}"
    );
    let path = hierarchy()
        .expect("cgroup v2")
        .join(own.trim_start_matches('/'));
    assert!(
        path.is_dir(),
        "{} exists while the job runs",
        path.display()
    );
    assert!(alive(pid), "the grandchild {pid} runs");
    (pid, path)
}

fn assert_all_gone(d: &Daemon, pid: i32, cgroup: &std::path::Path, rec: &FinishRecord) {
    // The record is written once the cgroup is empty.
    assert!(
        !alive(pid),
        "the setsid grandchild {pid} survived the end of its attempt: {rec:?}"
    );
    d.poll(
        "the attempt's cgroup removed",
        Duration::from_secs(5),
        || (!cgroup.exists()).then_some(()),
    );
}

#[test]
fn a_setsid_grandchild_dies_with_its_attempt_on_timeout() {
    let (d, dir) = escaping_daemon("timeout = \"2s\"\n");
    if !cgroups_or_skip(&d, "a_setsid_grandchild_dies_with_its_attempt_on_timeout") {
        return;
    }
    let run = d.trigger("escape");
    let (pid, cgroup) = grandchild(&d, &dir);
    let rec = d.wait_finish(&run, SECS_20);
    assert_eq!(rec.status, Status::Timeout, "{rec:?}");
    assert_eq!(rec.error.as_deref(), Some("timed out after 2s"));
    assert_all_gone(&d, pid, &cgroup, &rec);
}

#[test]
fn a_setsid_grandchild_dies_with_its_attempt_on_cancel() {
    let (d, dir) = escaping_daemon("");
    if !cgroups_or_skip(&d, "a_setsid_grandchild_dies_with_its_attempt_on_cancel") {
        return;
    }
    let run = d.trigger("escape");
    let (pid, cgroup) = grandchild(&d, &dir);
    d.post("/api/v1/jobs/escape/cancel");
    let rec = d.wait_finish(&run, SECS_20);
    assert_eq!(rec.status, Status::Cancelled, "{rec:?}");
    assert_all_gone(&d, pid, &cgroup, &rec);
}

/// A job that ends by itself leaves its background processes alone, as
/// cron does; its cgroup goes once they have ended.
#[test]
fn background_processes_of_a_finished_job_are_left_alone_and_their_cgroup_removed_after() {
    let mut d = Daemon::new();
    let dir = d.path("work");
    std::fs::create_dir(&dir).expect("work dir");
    let command = r#"( setsid sh -c 'cat /proc/self/cgroup > cgroup.tmp; mv cgroup.tmp cgroup; echo $$ > pid.tmp; mv pid.tmp pid; while [ ! -e stop ]; do sleep 0.1; done' > /dev/null 2>&1 & ); while [ ! -e pid ]; do sleep 0.05; done"#;
    d.write_config(&format!(
        "[jobs.leaves]\nschedule = {NEVER:?}\ncommand = {command:?}\nworking_dir = {:?}\n",
        dir.display().to_string(),
    ));
    d.start();
    if !cgroups_or_skip(
        &d,
        "background_processes_of_a_finished_job_are_left_alone_and_their_cgroup_removed_after",
    ) {
        return;
    }
    let run = d.trigger("leaves");
    let rec = d.wait_finish(&run, SECS_20);
    assert_eq!(rec.status, Status::Success, "{rec:?}");
    let pid: i32 = std::fs::read_to_string(dir.join("pid"))
        .expect("pid")
        .trim()
        .parse()
        .expect("a pid");
    let own = std::fs::read_to_string(dir.join("cgroup")).expect("cgroup");
    let own = own
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .expect("v2 line");
    let cgroup = hierarchy().expect("v2").join(own.trim_start_matches('/'));
    assert!(alive(pid), "the background process is left running");
    assert!(cgroup.is_dir(), "its cgroup stays while it runs");
    std::fs::write(dir.join("stop"), "").expect("stop file");
    d.poll("the background process's end", SECS_20, || {
        (!alive(pid)).then_some(())
    });
    // The daemon looks every 5 s.
    d.poll("the emptied cgroup removed", SECS_20, || {
        (!cgroup.exists()).then_some(())
    });
}

/// `nice`, `ionice` and `limits` read back by the command from its own
/// process: nice(1), ionice(1), the shell's `ulimit` and /proc/self/limits.
#[test]
fn nice_ionice_and_limits_are_what_the_command_gets() {
    let mut d = Daemon::new();
    d.write_config(&format!(
        r#"
[defaults]
limits = {{ core = 0, nproc = 4000 }}

[jobs.limited]
schedule = "{NEVER}"
nice = 7
ionice = "best-effort:6"
limits = {{ nofile = 1234, fsize = "1GiB", core = "unlimited" }}
command = "nice; ionice -p $$; ulimit -n; grep -E '^Max (core|file size|processes|open)' /proc/$$/limits"

[jobs.idle]
schedule = "{NEVER}"
ionice = "idle"
command = "ionice -p $$"

[jobs.too-many]
schedule = "{NEVER}"
limits = {{ nofile = 2000000000 }}
command = "true"
"#
    ));
    d.start();
    let run = |job: &str| -> FinishRecord {
        serde_json::from_value(d.post(&format!("/api/v1/jobs/{job}/run?wait=true")))
            .expect("a finish record")
    };
    let rec = run("limited");
    assert_eq!(rec.status, Status::Success, "{rec:?}");
    let lines: Vec<Vec<&str>> = rec
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines[0], ["7"], "nice: {}", rec.stdout);
    assert_eq!(lines[1], ["best-effort:", "prio", "6"], "{}", rec.stdout);
    assert_eq!(lines[2], ["1234"], "{}", rec.stdout);
    let limit = |name: &str| -> Vec<&str> {
        rec.stdout
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name} in {}", rec.stdout))
            .trim_start_matches(name)
            .split_whitespace()
            .take(2)
            .collect()
    };
    // Soft and hard alike; `nproc` from [defaults], `core` the job's own.
    assert_eq!(limit("Max core file size"), ["unlimited", "unlimited"]);
    assert_eq!(limit("Max file size"), ["1073741824", "1073741824"]);
    assert_eq!(limit("Max processes"), ["4000", "4000"]);
    assert_eq!(limit("Max open files"), ["1234", "1234"]);

    let rec = run("idle");
    assert_eq!(rec.stdout.trim(), "idle", "{rec:?}");

    // Refused with the reason before any process is made, not as a bare
    // "Operation not permitted" from the child.
    let rec = run("too-many");
    assert_eq!(rec.status, Status::Error, "{rec:?}");
    let error = rec.error.unwrap_or_default();
    assert!(
        error.contains("limits.nofile = 2000000000 is above the kernel's maximum of")
            && error.contains("(fs.nr_open)"),
        "{error}"
    );
}

/// Where `memory_max` and `cpu_max` cannot be applied (here: the cgroup
/// v2 hierarchy has no memory or cpu controller, or there are no cgroups
/// at all), `check` warns and exits 0, and the daemon logs it once per
/// job, also across a reload; where they can, neither says anything.
#[test]
fn limits_the_machine_cannot_apply_are_warned_about_once() {
    let mut d = Daemon::new();
    d.write_config(&format!(
        "[jobs.big]\nschedule = {NEVER:?}\ncommand = \"true\"\nmemory_max = \"256MiB\"\ncpu_max = 0.5\n\n[jobs.plain]\nschedule = {NEVER:?}\ncommand = \"true\"\n"
    ));
    d.start();
    let (_, reason) = containment(&d);
    let applicable = reason.contains("controllers for limits: ")
        && reason.contains("memory")
        && reason.contains("cpu");
    let check = d.cli(&["check", "-q"]);
    assert_eq!(check.code, 0, "{check:?}");
    let warning = "warning: job `big`: memory_max and cpu_max cannot be applied and are ignored: ";
    if applicable {
        assert!(!check.stderr.contains("cannot be applied"), "{check:?}");
    } else {
        assert!(check.stderr.contains(warning), "{check:?}");
        assert!(!check.stderr.contains("`plain`"), "{check:?}");
    }
    d.post("/api/v1/reload");
    let logged = |d: &Daemon| {
        d.stderr()
            .matches("job `big`: memory_max and cpu_max cannot be applied")
            .count()
    };
    if applicable {
        assert_eq!(logged(&d), 0, "{}", d.stderr());
    } else {
        d.poll("the daemon's warning", SECS_20, || {
            (logged(&d) > 0).then_some(())
        });
        let run: FinishRecord =
            serde_json::from_value(d.post("/api/v1/jobs/big/run?wait=true")).expect("record");
        assert_eq!(run.status, Status::Success, "the job still runs: {run:?}");
        assert_eq!(
            logged(&d),
            1,
            "once, not at each reload or run: {}",
            d.stderr()
        );
    }
}

/// An attempt the kernel's OOM killer ends in its cgroup fails with the
/// reason. Needs the memory controller in the attempts' cgroups, which
/// this test says loudly when it is missing.
#[test]
fn an_attempt_over_its_memory_max_fails_out_of_memory() {
    let mut d = Daemon::new();
    d.write_config(&format!(
        "[jobs.hog]\nschedule = {NEVER:?}\nmemory_max = \"32MiB\"\ncommand = \"dd if=/dev/zero of=/dev/null bs=200M count=1\"\n"
    ));
    d.start();
    let (mode, reason) = containment(&d);
    if mode != "cgroup"
        || !reason.contains("controllers for limits: ")
        || !reason.contains("memory")
    {
        eprintln!(
            "SKIPPED an_attempt_over_its_memory_max_fails_out_of_memory: no cgroup v2 memory \
             controller for the attempts here (daemon says: {reason})"
        );
        return;
    }
    let rec: FinishRecord =
        serde_json::from_value(d.post("/api/v1/jobs/hog/run?wait=true")).expect("record");
    assert_eq!(rec.status, Status::Failed, "{rec:?}");
    assert_eq!(
        rec.error.as_deref(),
        Some("out of memory (memory_max 32MiB)")
    );
}
