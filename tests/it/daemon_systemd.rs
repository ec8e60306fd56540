//! The daemon speaks systemd's notify protocol: READY=1 once it serves,
//! WATCHDOG=1 pings while the scheduler loop runs (also when it has
//! nothing to do for hours), STOPPING=1 on SIGTERM.

use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn ready_watchdog_and_stopping_are_sent_to_notify_socket() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("jobs.toml");
    std::fs::write(
        &config,
        format!(
            "[daemon]\nlisten = \"127.0.0.1:0\"\nstate_dir = \"{0}/state\"\nlog_file = \"{0}/runs.jsonl\"\n\n\
             [jobs.yearly]\nschedule = \"@yearly\"\ncommand = \"true\"\n",
            dir.path().display()
        ),
    )
    .expect("write config");
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).expect("bind notify socket");
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");

    // 1 s: the daemon must ping at least every 500 ms even though its
    // only job is a year away.
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_cronduct"))
        .args(["run", "-c"])
        .arg(&config)
        .env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", "1000000")
        .env("CRONDUCT_ADMIN_KEY", "test-key")
        .stderr(Stdio::null())
        .spawn()
        .expect("start daemon");

    let mut buf = [0u8; 256];
    let mut messages = Vec::new();
    let mut ready_at = None;
    let mut pings_after_ready = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while pings_after_ready.len() < 5 && Instant::now() < deadline {
        let n = socket.recv(&mut buf).expect("a notify message");
        let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
        if msg == "READY=1" {
            ready_at = Some(Instant::now());
        } else if msg == "WATCHDOG=1" && ready_at.is_some() {
            pings_after_ready.push(Instant::now());
        }
        messages.push(msg);
    }
    assert!(ready_at.is_some(), "no READY=1 in {messages:?}");
    assert_eq!(pings_after_ready.len(), 5, "too few pings: {messages:?}");
    // systemd kills the service when two pings are further apart than
    // WATCHDOG_USEC; allow scheduling noise but not a missed beat.
    for pair in pings_after_ready.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(gap < Duration::from_secs(1), "ping gap {gap:?}");
    }

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(daemon.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("SIGTERM");
    let mut stopping = false;
    while !stopping {
        let n = socket.recv(&mut buf).expect("STOPPING=1 before exit");
        stopping = &buf[..n] == b"STOPPING=1";
    }
    let status = daemon.wait().expect("daemon exits");
    assert!(status.success(), "{status}");
}

/// The unit's `RestartPreventExitStatus=78` relies on these statuses: a
/// configuration that cannot load is 78 (EX_CONFIG), so systemd marks the
/// unit failed at once; a taken port is 1, which systemd retries, since the
/// other holder may go away.
#[test]
fn an_invalid_config_exits_78_and_a_taken_port_exits_1() {
    let dir = tempfile::tempdir().expect("temp dir");
    let daemon_table = format!(
        "[daemon]\nstate_dir = \"{0}/state\"\nlog_file = \"{0}/runs.jsonl\"\n",
        dir.path().display()
    );
    let start = |config: &str| {
        let path = dir.path().join("jobs.toml");
        std::fs::write(&path, config).expect("write config");
        Command::new(env!("CARGO_BIN_EXE_cronduct"))
            .args(["run", "-c"])
            .arg(&path)
            .env("CRONDUCT_ADMIN_KEY", "test-key")
            .env_remove("NOTIFY_SOCKET")
            .output()
            .expect("run daemon")
    };

    let out = start(&format!(
        "{daemon_table}listen = \"127.0.0.1:0\"\n\n[jobs.broken]\nschedule = \"61 * * * *\"\ncommand = \"true\"\n"
    ));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "stderr: {stderr}");
    assert!(
        stderr.contains("not starting") && stderr.contains("61"),
        "{stderr}"
    );

    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let out = start(&format!(
        "{daemon_table}listen = \"127.0.0.1:{port}\"\n\n[jobs.fine]\nschedule = \"@yearly\"\ncommand = \"true\"\n"
    ));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(stderr.contains("cannot start"), "{stderr}");
}
