//! Command attempts with real child processes: statuses, timeouts and
//! cancel killing whole process trees, bounded output, the environment,
//! accounts, and reaping.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use crate::support::poll;
use crate::support::procfs::{alive, vm_rss_kib};
use chrono::TimeZone;
use cronduct::action::command::{self, DEFAULT_PATH};
use cronduct::action::{ActionOutcome, AttemptInfo};
use cronduct::config::model::{Action, Command, Job};
use cronduct::record::Status;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

fn job(command: Command) -> Job {
    Job::new(
        "test-job",
        "@hourly".parse().expect("valid schedule"),
        cronduct::zone::Zone::utc(),
        Action::Command(command),
        "jobs.toml",
    )
}

fn sh(line: &str) -> Job {
    job(Command::Shell(line.into()))
}

fn argv(args: &[&str]) -> Job {
    job(Command::Argv(args.iter().map(|s| s.to_string()).collect()))
}

/// Every attempt of these tests gets its own results directory (they run
/// in parallel and share run id and attempt), inside one temp dir.
fn results_dir() -> std::path::PathBuf {
    static ROOT: std::sync::LazyLock<tempfile::TempDir> =
        std::sync::LazyLock::new(|| tempfile::tempdir().expect("temp dir"));
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    ROOT.path().join(n.to_string())
}

fn info() -> AttemptInfo {
    AttemptInfo {
        results_dir: results_dir(),
        output: None,
        run_id: "run-1".into(),
        attempt: 2,
        scheduled_at: chrono::Utc
            .with_ymd_and_hms(2026, 3, 29, 1, 0, 0)
            .single()
            .expect("valid instant"),
    }
}

async fn run(job: &Job) -> ActionOutcome {
    let running = command::spawn(job, &info()).expect("the command starts");
    bounded(
        Duration::from_secs(60),
        running.wait(job.timeout, job.kill_grace, CancellationToken::new()),
    )
    .await
}

/// Fails the test instead of hanging it when an attempt never ends.
async fn bounded<T>(limit: Duration, attempt: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(limit, attempt)
        .await
        .unwrap_or_else(|_| panic!("the attempt did not end within {limit:?}"))
}

async fn eventually(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    poll::until_async(what, timeout, || check().then_some(())).await;
}

fn read_pid(path: &Path) -> Option<i32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

async fn pid_from_file(path: &Path) -> i32 {
    let what = format!("a pid written to {}", path.display());
    poll::until_async(&what, Duration::from_secs(10), || read_pid(path)).await
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

#[tokio::test]
async fn exit_codes_and_signals_map_to_statuses() {
    let cases: &[(&str, Status, Option<i32>, Option<&str>)] = &[
        ("exit 0", Status::Success, Some(0), None),
        ("exit 3", Status::Failed, Some(3), None),
        ("exit 255", Status::Failed, Some(255), None),
        ("kill -USR1 $$", Status::Failed, None, Some("SIGUSR1")),
        ("kill -KILL $$", Status::Failed, None, Some("SIGKILL")),
    ];
    for (line, status, code, signal) in cases {
        let out = run(&sh(line)).await;
        assert_eq!(out.status, *status, "{line}: {out:?}");
        assert_eq!(out.exit_code, *code, "{line}");
        assert_eq!(out.signal.as_deref(), *signal, "{line}");
        assert_eq!(out.error, None, "{line}");
        assert_eq!(out.http_status, None, "{line}");
    }
}

/// `success_exit_codes` replaces 0 as the code of success: listed codes
/// succeed, 0 fails when not listed, and a signal is never a success.
#[tokio::test]
async fn success_exit_codes_decide_which_exits_succeed() {
    let cases: &[(&str, &[i32], Status)] = &[
        ("exit 3", &[0, 3], Status::Success),
        ("exit 0", &[0, 3], Status::Success),
        ("exit 0", &[3], Status::Failed),
        ("exit 4", &[0, 3], Status::Failed),
        ("kill -TERM $$", &[0, 3], Status::Failed),
    ];
    for (line, codes, status) in cases {
        let job = Job {
            success_exit_codes: codes.to_vec(),
            ..sh(line)
        };
        let out = run(&job).await;
        assert_eq!(out.status, *status, "{line} with {codes:?}: {out:?}");
        assert_eq!(out.error, None, "{line}");
    }
}

#[tokio::test]
async fn timeout_kills_the_whole_process_tree() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bg = dir.path().join("bg.pid");
    let mut j = sh(&format!(
        "sleep 1000 & echo $! > {}; sleep 1000",
        bg.display()
    ));
    j.timeout = Some(Duration::from_millis(300));
    j.kill_grace = Duration::from_secs(10);
    let started = Instant::now();
    let running = command::spawn(&j, &info()).expect("starts");
    let leader = running.pid() as i32;
    let out = bounded(
        Duration::from_secs(5),
        running.wait(j.timeout, j.kill_grace, CancellationToken::new()),
    )
    .await;
    let took = started.elapsed();
    assert_eq!(out.status, Status::Timeout, "{out:?}");
    assert_eq!(out.signal.as_deref(), Some("SIGTERM"));
    assert_eq!(out.exit_code, None);
    assert_eq!(out.error.as_deref(), Some("timed out after 300ms"));
    // Everything died of SIGTERM: no need to wait out the 10 s grace.
    assert!(took < Duration::from_secs(5), "took {took:?}");
    let grandchild = pid_from_file(&bg).await;
    eventually("the grandchild is dead", Duration::from_secs(5), || {
        !alive(grandchild)
    })
    .await;
    assert!(!alive(leader));
    eprintln!(
        "timeout 300ms: tree of 3 killed, attempt over after {took:?} (kill {:?})",
        took.saturating_sub(Duration::from_millis(300))
    );
}

#[tokio::test]
async fn a_term_ignoring_tree_gets_sigkill_after_the_grace() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bg = dir.path().join("bg.pid");
    let mut j = sh(&format!(
        "trap '' TERM; sleep 1000 & echo $! > {}; wait",
        bg.display()
    ));
    j.timeout = Some(Duration::from_millis(200));
    j.kill_grace = Duration::from_millis(500);
    let started = Instant::now();
    let out = run(&j).await;
    let took = started.elapsed();
    assert_eq!(out.status, Status::Timeout, "{out:?}");
    assert_eq!(out.signal.as_deref(), Some("SIGKILL"));
    assert!(took >= Duration::from_millis(700), "took {took:?}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    let grandchild = pid_from_file(&bg).await;
    eventually("the grandchild is dead", Duration::from_secs(5), || {
        !alive(grandchild)
    })
    .await;
    eprintln!(
        "TERM ignored: SIGKILL after timeout 200ms + grace 500ms, attempt over after {took:?}"
    );
}

#[tokio::test]
async fn a_descendant_ignoring_term_is_killed_even_after_the_main_process_died() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bg = dir.path().join("bg.pid");
    let mut j = sh(&format!(
        "(trap '' TERM; exec sleep 1000) & echo $! > {}; sleep 1000",
        bg.display()
    ));
    j.timeout = Some(Duration::from_millis(200));
    j.kill_grace = Duration::from_millis(400);
    let started = Instant::now();
    let out = run(&j).await;
    let took = started.elapsed();
    // The shell itself died of the SIGTERM...
    assert_eq!(out.status, Status::Timeout, "{out:?}");
    assert_eq!(out.signal.as_deref(), Some("SIGTERM"));
    // ...but the grace was still given to the rest of the group.
    assert!(took >= Duration::from_millis(600), "took {took:?}");
    let grandchild = pid_from_file(&bg).await;
    eventually(
        "the TERM-ignoring grandchild is dead",
        Duration::from_secs(5),
        || !alive(grandchild),
    )
    .await;
}

#[tokio::test]
async fn cancel_terminates_the_attempt() {
    let dir = tempfile::tempdir().expect("temp dir");
    let marker = dir.path().join("started");
    let j = sh(&format!("echo $$ > {}; sleep 1000", marker.display()));
    let running = command::spawn(&j, &info()).expect("starts");
    let cancel = CancellationToken::new();
    let waiting = tokio::spawn(running.wait(None, Duration::from_secs(10), cancel.clone()));
    pid_from_file(&marker).await;
    let started = Instant::now();
    cancel.cancel();
    let out = bounded(Duration::from_secs(5), waiting)
        .await
        .expect("wait task");
    assert_eq!(out.status, Status::Cancelled, "{out:?}");
    assert_eq!(out.signal.as_deref(), Some("SIGTERM"));
    assert_eq!(out.error.as_deref(), Some("cancelled"));
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn output_keeps_the_last_bytes_of_each_stream() {
    let mut j = sh("head -c 100000 /dev/zero | tr '\\0' a; printf END; printf 'warn\\n' >&2");
    j.output_limit = 1000;
    let out = run(&j).await;
    assert_eq!(out.status, Status::Success);
    assert_eq!(out.stdout.len(), 1000);
    assert!(out.stdout.ends_with("aaaEND"), "{:?}", &out.stdout[990..]);
    assert!(out.stdout.starts_with('a'));
    assert_eq!(out.stderr, "warn\n");
    assert!(out.output_truncated);

    let mut j = sh("printf hello; printf oops >&2");
    j.output_limit = 1000;
    let out = run(&j).await;
    assert_eq!(
        (out.stdout.as_str(), out.stderr.as_str()),
        ("hello", "oops")
    );
    assert!(!out.output_truncated);

    // Only stderr overflows: still truncated.
    let mut j = sh("printf ok; head -c 5000 /dev/zero >&2");
    j.output_limit = 1000;
    let out = run(&j).await;
    assert_eq!(out.stdout, "ok");
    assert_eq!(out.stderr.len(), 1000);
    assert!(out.output_truncated);
}

#[tokio::test]
async fn the_tail_does_not_start_with_half_a_character() {
    // 1001 bytes of "é" (2 bytes each) cut at an odd length.
    let mut j = sh("i=0; while [ $i -lt 600 ]; do printf 'é'; i=$((i+1)); done");
    j.output_limit = 1001;
    let out = run(&j).await;
    assert!(out.output_truncated);
    assert_eq!(out.stdout, "é".repeat(500));
}

#[tokio::test]
async fn a_flood_of_output_neither_blocks_nor_grows_memory() {
    let j = sh("head -c 500M /dev/zero & head -c 500M /dev/zero >&2; wait; printf END");
    let before = vm_rss_kib();
    let sampling = CancellationToken::new();
    let sampler = tokio::spawn({
        let sampling = sampling.clone();
        async move {
            let mut peak = vm_rss_kib();
            while !sampling.is_cancelled() {
                peak = peak.max(vm_rss_kib());
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            peak
        }
    });
    let started = Instant::now();
    let out = run(&j).await;
    let took = started.elapsed();
    sampling.cancel();
    let peak = sampler.await.expect("sampler").max(vm_rss_kib());
    assert_eq!(out.status, Status::Success, "{:?}", out.error);
    assert!(out.output_truncated);
    assert_eq!(out.stdout.len(), 65536);
    assert!(out.stdout.ends_with("END"));
    assert_eq!(out.stderr.len(), 65536);
    let growth = peak.saturating_sub(before);
    eprintln!(
        "flood: 2 x 500 MiB drained in {took:?}; VmRSS {before} KiB before, peak {peak} KiB (+{growth} KiB)"
    );
    assert!(growth < 8 * 1024, "RSS grew by {growth} KiB");
}

fn env_lines(out: &ActionOutcome) -> BTreeSet<String> {
    out.stdout.lines().map(str::to_string).collect()
}

#[tokio::test]
async fn the_environment_is_clean_and_complete() {
    let me = nix::unistd::User::from_uid(nix::unistd::geteuid())
        .expect("passwd lookup")
        .expect("the test user has a passwd entry");
    let mut j = argv(&["env"]);
    j.env.insert("GREETING".into(), "hello world".into());
    j.env.insert("CRONDUCT_JOB".into(), "overridden".into());
    let out = run(&j).await;
    assert_eq!(out.status, Status::Success, "{out:?}");
    let result_file = env_lines(&out)
        .into_iter()
        .find_map(|l| l.strip_prefix("CRONDUCT_RESULT=").map(str::to_string))
        .expect("CRONDUCT_RESULT is set");
    assert!(
        result_file.ends_with("/run-1.2/result.json"),
        "{result_file}"
    );
    assert!(
        !Path::new(&result_file).parent().expect("a folder").exists(),
        "the attempt's result directory is removed after it"
    );
    let want: BTreeSet<String> = [
        format!("PATH={DEFAULT_PATH}"),
        format!("HOME={}", me.dir.display()),
        format!("USER={}", me.name),
        format!("LOGNAME={}", me.name),
        "SHELL=/bin/sh".to_string(),
        "CRONDUCT_JOB=overridden".to_string(),
        "CRONDUCT_RUN_ID=run-1".to_string(),
        "CRONDUCT_ATTEMPT=2".to_string(),
        "CRONDUCT_SCHEDULED_AT=2026-03-29T01:00:00.000Z".to_string(),
        format!("CRONDUCT_RESULT={result_file}"),
        "GREETING=hello world".to_string(),
    ]
    .into_iter()
    .collect();
    assert_eq!(env_lines(&out), want);

    // A job's PATH replaces the default, also for finding the program.
    let dir = tempfile::tempdir().expect("temp dir");
    let tool = dir.path().join("mytool");
    std::fs::write(&tool, "#!/bin/sh\necho \"found via $PATH\"\n").expect("write tool");
    std::fs::set_permissions(&tool, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let mut j = argv(&["mytool"]);
    let path = format!("{}:/usr/bin:/bin", dir.path().display());
    j.env.insert("PATH".into(), path.clone().into());
    let out = run(&j).await;
    assert_eq!(out.stdout, format!("found via {path}\n"), "{out:?}");
}

#[tokio::test]
async fn array_arguments_reach_the_program_verbatim() {
    let out = run(&argv(&[
        "printf", "%s|", "a b", "it's", "\"q\"", "$HOME", "*", "", "x\ny",
    ]))
    .await;
    assert_eq!(out.stdout, "a b|it's|\"q\"|$HOME|*||x\ny|");
}

#[tokio::test]
async fn string_commands_run_in_the_job_shell() {
    let mut j = sh("echo \"$0 ${BASH_VERSION:+is bash}\"; echo \"$SHELL\"; echo $((6*7))");
    j.shell = "/bin/bash".into();
    let out = run(&j).await;
    assert_eq!(out.stdout, "/bin/bash is bash\n/bin/bash\n42\n", "{out:?}");
}

#[tokio::test]
async fn could_not_start_is_an_error_naming_the_culprit() {
    let dir = tempfile::tempdir().expect("temp dir");
    let not_exec = dir.path().join("data.txt");
    std::fs::write(&not_exec, "x").expect("write");
    let not_exec = not_exec.display().to_string();
    let dir_path = dir.path().display().to_string();

    let with = |f: &dyn Fn(&mut Job)| {
        let mut j = sh("true");
        f(&mut j);
        j
    };
    let cases: Vec<(Job, String)> = vec![
        (
            argv(&["no-such-program-xyz"]),
            format!("command not found: no-such-program-xyz (searched PATH={DEFAULT_PATH})"),
        ),
        (
            argv(&["/nonexistent/prog"]),
            "cannot run /nonexistent/prog".into(),
        ),
        (
            argv(&[&not_exec]),
            format!("cannot run {not_exec}: it is not executable"),
        ),
        (
            argv(&[&dir_path]),
            format!("cannot run {dir_path}: it is a directory"),
        ),
        (
            with(&|j| j.shell = "/bin/no-such-shell".into()),
            "cannot run /bin/no-such-shell".into(),
        ),
        (
            with(&|j| j.working_dir = Some("/nonexistent-dir".into())),
            "working directory /nonexistent-dir".into(),
        ),
        (
            with(&|j| j.working_dir = Some(not_exec.clone().into())),
            format!("working directory {not_exec} is not a directory"),
        ),
        (
            with(&|j| j.user = Some("no-such-user-xyz".into())),
            "unknown user \"no-such-user-xyz\"".into(),
        ),
        (
            with(&|j| j.group = Some("no-such-group-xyz".into())),
            "unknown group \"no-such-group-xyz\"".into(),
        ),
    ];
    for (j, want) in cases {
        match command::spawn(&j, &info()) {
            Ok(_) => panic!("{:?} should not start", j.action),
            Err(e) => assert!(e.contains(&want), "{e:?} does not contain {want:?}"),
        }
    }
}

#[tokio::test]
async fn working_dir_is_where_the_command_starts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let real = dir.path().canonicalize().expect("canonical");
    std::fs::write(
        real.join("script.sh"),
        "#!/bin/sh\necho script ran in \"$(pwd)\"\n",
    )
    .expect("write script");
    std::fs::set_permissions(
        real.join("script.sh"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    let mut j = sh("pwd");
    j.working_dir = Some(real.clone());
    assert_eq!(run(&j).await.stdout, format!("{}\n", real.display()));

    // A relative program path is relative to the working directory.
    let mut j = argv(&["./script.sh"]);
    j.working_dir = Some(real.clone());
    assert_eq!(
        run(&j).await.stdout,
        format!("script ran in {}\n", real.display())
    );

    // Without working_dir: the user's home.
    let me = nix::unistd::User::from_uid(nix::unistd::geteuid())
        .expect("passwd lookup")
        .expect("passwd entry");
    if me.dir.is_dir() {
        let home = me.dir.canonicalize().expect("canonical home");
        assert_eq!(
            run(&sh("pwd -P")).await.stdout,
            format!("{}\n", home.display())
        );
    }
}

#[tokio::test]
async fn attempts_leave_no_zombies() {
    for i in 0..20 {
        let j = sh(&format!("exit {}", i % 3));
        let running = command::spawn(&j, &info()).expect("starts");
        let pid = running.pid();
        let out = running
            .wait(None, Duration::from_secs(1), CancellationToken::new())
            .await;
        assert_eq!(out.exit_code, Some(i % 3));
        // Reaped before the outcome is delivered: not even a zombie is left.
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "pid {pid} still exists after its attempt ended"
        );
    }
}

#[tokio::test]
async fn other_children_of_the_process_are_not_stolen() {
    for _ in 0..30 {
        let attempt = tokio::spawn(async { run(&sh("true")).await });
        let own = tokio::task::spawn_blocking(|| std::process::Command::new("true").status());
        let own = own
            .await
            .expect("join")
            .expect("std waits for its own child");
        assert!(own.success());
        assert_eq!(attempt.await.expect("join").status, Status::Success);
    }
}

#[tokio::test]
async fn a_background_process_holding_the_pipes_does_not_hang_the_attempt() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bg = dir.path().join("bg.pid");
    let j = sh(&format!(
        "sleep 30 & echo $! > {}; echo done; echo bye >&2",
        bg.display()
    ));
    let started = Instant::now();
    let out = run(&j).await;
    let took = started.elapsed();
    assert_eq!(out.status, Status::Success);
    assert_eq!(
        (out.stdout.as_str(), out.stderr.as_str()),
        ("done\n", "bye\n")
    );
    assert!(took < Duration::from_secs(3), "took {took:?}");
    let pid = pid_from_file(&bg).await;
    // Left alone, like cron does.
    assert!(alive(pid), "the background process was killed");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("clean up the background sleep");
}

#[tokio::test]
async fn the_attempt_is_a_session_leader_with_stdin_closed() {
    let out = run(&sh("ps -o pid=,pgid=,sid= -p $$; wc -c")).await;
    let line = out.stdout.lines().next().unwrap_or_default().to_string();
    let ids: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(ids.len(), 3, "{out:?}");
    assert!(
        ids[0] == ids[1] && ids[1] == ids[2],
        "pid, pgid, sid: {line}"
    );
    assert_eq!(out.stdout.lines().nth(1), Some("0"));
}

#[tokio::test]
async fn runs_as_another_user_with_its_groups_and_home() {
    if !is_root() {
        eprintln!("SKIPPED: switching users needs root");
        return;
    }
    let nobody = nix::unistd::User::from_name("nobody")
        .expect("lookup")
        .expect("user nobody exists");
    let mut j = sh("id -u; id -g; id -G; pwd; echo \"$HOME $USER $LOGNAME\"");
    j.user = Some("nobody".into());
    let out = run(&j).await;
    assert_eq!(out.status, Status::Success, "{out:?}");
    let home = if nobody.dir.is_dir() {
        nobody.dir.display().to_string()
    } else {
        "/".to_string()
    };
    assert_eq!(
        out.stdout,
        format!(
            "{uid}\n{gid}\n{gid}\n{home}\n{dir} nobody nobody\n",
            uid = nobody.uid,
            gid = nobody.gid,
            dir = nobody.dir.display()
        )
    );
}

/// A user other than root that /etc/group lists as a member of some group,
/// and all the gids it should run with.
fn user_with_supplementary_groups() -> Option<(String, BTreeSet<u32>)> {
    let groups = std::fs::read_to_string("/etc/group").ok()?;
    let member_of = |user: &str| -> BTreeSet<u32> {
        groups
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() == 4 && f[3].split(',').any(|m| m == user))
                    .then(|| f[2].parse().ok())
                    .flatten()
            })
            .collect()
    };
    groups.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        let user = f
            .get(3)?
            .split(',')
            .find(|m| !m.is_empty() && *m != "root")?;
        let account = nix::unistd::User::from_name(user).ok()??;
        let mut gids = member_of(user);
        gids.insert(account.gid.as_raw());
        Some((user.to_string(), gids))
    })
}

#[tokio::test]
async fn supplementary_groups_of_the_user_are_set() {
    if !is_root() {
        eprintln!("SKIPPED: switching users needs root");
        return;
    }
    let Some((user, want)) = user_with_supplementary_groups() else {
        eprintln!("SKIPPED: no user in /etc/group has supplementary groups");
        return;
    };
    let mut j = sh("id -G");
    j.user = Some(user.clone());
    let out = run(&j).await;
    let got: BTreeSet<u32> = out
        .stdout
        .split_whitespace()
        .map(|g| g.parse().expect("numeric gid"))
        .collect();
    assert_eq!(got, want, "groups of {user}");
    assert!(want.len() > 1);
}

#[tokio::test]
async fn group_alone_changes_only_the_gid() {
    if !is_root() {
        eprintln!("SKIPPED: switching groups needs root");
        return;
    }
    let nogroup = nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(65534))
        .expect("lookup")
        .expect("gid 65534 has a name");
    let mut j = sh("id -u; id -g");
    j.group = Some(nogroup.name.clone());
    let out = run(&j).await;
    assert_eq!(out.stdout, "0\n65534\n", "{out:?}");

    let mut j = sh("id -u; id -g");
    j.user = Some("nobody".into());
    j.group = Some("root".into());
    let out = run(&j).await;
    assert_eq!(out.stdout, "65534\n0\n", "{out:?}");
}

const CHILD_ENV: &str = "CRONDUCT_TEST_CHILD";

/// Runs one test of this file alone in a fresh process, for tests that
/// change process-wide state (credentials, subreaper flag).
fn rerun_alone(test: &str) {
    let exe = std::env::current_exe().expect("test binary path");
    // The harness names a test by its module path without the crate.
    let module = module_path!().split_once("::").map_or("", |(_, m)| m);
    let out = std::process::Command::new(exe)
        .args([
            &format!("{module}::{test}"),
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, test)
        .output()
        .expect("run the test binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{test} failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("child process test {test} passed")),
        "{test} did not run:\n{stdout}\n{stderr}"
    );
}

fn in_child(test: &str) -> bool {
    std::env::var(CHILD_ENV).as_deref() == Ok(test)
}

#[test]
fn without_root_switching_users_is_refused() {
    const NAME: &str = "without_root_switching_users_is_refused";
    if is_root() && !in_child(NAME) {
        return rerun_alone(NAME);
    }
    if is_root() {
        // Become nobody for good, in this process only.
        // SAFETY: plain system calls; glibc applies them to every thread.
        unsafe {
            assert_eq!(libc::setgroups(0, std::ptr::null()), 0);
            assert_eq!(libc::setgid(65534), 0);
            assert_eq!(libc::setuid(65534), 0);
        }
    }
    let me = nix::unistd::User::from_uid(nix::unistd::geteuid())
        .expect("lookup")
        .expect("passwd entry");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut j = sh("id -u");
        j.user = Some("root".into());
        let err = command::spawn(&j, &info()).expect_err("needs root");
        assert!(err.contains("running as user \"root\" needs root"), "{err}");

        let mut j = sh("id -u");
        j.group = Some("root".into());
        let err = command::spawn(&j, &info()).expect_err("needs root");
        assert!(
            err.contains("running as group \"root\" needs root"),
            "{err}"
        );

        // Naming oneself needs no switch.
        let mut j = sh("id -u");
        j.user = Some(me.name.clone());
        assert_eq!(run(&j).await.stdout, format!("{}\n", me.uid));
    });
    println!("child process test {NAME} passed");
}

/// Zombie children of this process.
fn zombie_children() -> Vec<i32> {
    let me = std::process::id().to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            let Some(close) = stat.rfind(')') else {
                return false;
            };
            let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
            fields.first() == Some(&"Z") && fields.get(1) == Some(&me.as_str())
        })
        .collect()
}

#[test]
fn orphans_are_reaped_when_cronduct_adopts_them() {
    const NAME: &str = "orphans_are_reaped_when_cronduct_adopts_them";
    if !in_child(NAME) {
        return rerun_alone(NAME);
    }
    // What PID 1 in a container gets: orphans are re-parented to us.
    // SAFETY: plain system call on this (child) process.
    assert_eq!(unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1) }, 0);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let bg = dir.path().join("bg.pid");
        let j = sh(&format!(
            "sleep 0.3 >/dev/null 2>&1 & echo $! > {}; exit 0",
            bg.display()
        ));
        let out = run(&j).await;
        assert_eq!(out.status, Status::Success);
        let orphan = pid_from_file(&bg).await;
        // The orphan exits 0.3 s later as our child; it must not stay a
        // zombie.
        eventually("the orphan is reaped", Duration::from_secs(5), || {
            !Path::new(&format!("/proc/{orphan}")).exists()
        })
        .await;
        assert_eq!(zombie_children(), Vec::<i32>::new());

        // Attempts still get their own statuses in this mode.
        assert_eq!(run(&sh("exit 7")).await.exit_code, Some(7));
    });
    println!("child process test {NAME} passed");
}

/// The user and system CPU time of a process from its `/proc/<pid>/stat`,
/// in milliseconds (fields 14 and 15, in clock ticks).
fn proc_cpu_ms(stat: &str) -> (u64, u64) {
    // The command name (field 2) may hold spaces; the rest follows ')'.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).expect("a stat line");
    let fields: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .map(|f| f.parse().expect("a tick count"))
        .collect();
    // SAFETY: sysconf has no memory-safety preconditions.
    let ticks = u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) }).expect("CLK_TCK");
    (fields[0] * 1000 / ticks, fields[1] * 1000 / ticks)
}

#[tokio::test]
async fn cpu_time_is_what_the_kernel_accounted_to_the_process() {
    // The shell burns CPU, then prints what /proc says it used so far; it
    // exits right after, so wait4's figure may only be a little larger.
    let out = run(&sh(
        "i=0; while [ $i -lt 400000 ]; do i=$((i+1)); done; cat /proc/$$/stat",
    ))
    .await;
    assert_eq!(out.status, Status::Success, "{out:?}");
    let (proc_user, proc_system) = proc_cpu_ms(&out.stdout);
    let usage = out.usage.expect("a command attempt has resource use");
    assert!(
        proc_user >= 200,
        "the loop burned too little CPU to compare: {proc_user} ms"
    );
    // 20 %, and one tick either way for the clock-tick granularity of /proc.
    let slack = proc_user / 5 + 10;
    assert!(
        usage.cpu_user_ms.abs_diff(proc_user) <= slack,
        "cpu_user_ms {} vs /proc {proc_user} ms",
        usage.cpu_user_ms
    );
    assert!(
        usage.cpu_system_ms + 10 >= proc_system,
        "cpu_system_ms {} vs /proc {proc_system} ms",
        usage.cpu_system_ms
    );
}

#[tokio::test]
async fn max_rss_counts_the_largest_process_the_attempt_waited_for() {
    // dd reads 200 MiB of zeros into one buffer, touching every page; it
    // runs under the shell, which waits for it, so its peak is the
    // attempt's.
    let out = run(&sh(
        "dd if=/dev/zero of=/dev/null bs=200M count=1 2>/dev/null; echo done",
    ))
    .await;
    assert_eq!(out.status, Status::Success, "{out:?}");
    let usage = out.usage.expect("a command attempt has resource use");
    assert!(
        usage.max_rss_kib >= 200 * 1024,
        "max_rss_kib {} < 200 MiB",
        usage.max_rss_kib
    );
    // A small command stays far below: the figure is the attempt's. (Not
    // near zero: Linux counts the pages the child shared with its parent
    // before exec, so the floor is the forking process's own size.)
    let small = run(&argv(&["true"])).await.usage.expect("resource use");
    assert!(small.max_rss_kib < 100 * 1024, "{small:?}");
}
