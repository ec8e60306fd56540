//! Managed jobs benchmark, on the real daemon over real HTTP:
//! - 100 PUTs of different jobs back to back: the time from sending the
//!   request to the job being live (listed by `GET /api/v1/jobs/{id}`
//!   with its next run), p50 / p99 / max;
//! - the same with 10,000 jobs in the main file (each PUT validates and
//!   reloads the whole configuration);
//! - the cost of `POST /api/v1/reload` with 10,000 jobs in the main file.
//!
//! Run: `cargo bench --bench managed`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const KEY: &str = "bench-admin-key-0123456789";
const PUTS: usize = 100;

fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, serde_json::Value) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(120)))
        .expect("timeout");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {KEY}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).expect("send");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read");
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").expect("head");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    (status, serde_json::from_str(body).unwrap_or_default())
}

struct Daemon {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

fn start(dir: &Path) -> Daemon {
    let state = dir.join("state");
    let _ = std::fs::remove_file(state.join("listen"));
    let child = Command::new(env!("CARGO_BIN_EXE_cronduct"))
        .args(["run", "-c"])
        .arg(dir.join("jobs.toml"))
        .env("CRONDUCT_ADMIN_KEY", KEY)
        .env("RUST_LOG", "warn")
        .env_remove("NOTIFY_SOCKET")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the daemon");
    // Owned at once, so that a failed start still stops the child.
    let mut d = Daemon {
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(addr) = cronduct::api::read_bound_address(&state) {
            if TcpStream::connect(addr).is_ok() {
                d.addr = addr;
                return d;
            }
        }
        assert!(Instant::now() < deadline, "the daemon did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn me() -> String {
    nix::unistd::User::from_uid(nix::unistd::geteuid())
        .ok()
        .flatten()
        .map(|u| u.name)
        .expect("own account")
}

fn config(dir: &Path, main_jobs: usize) {
    let mut text = format!(
        "[daemon]\nlisten = \"127.0.0.1:0\"\nstate_dir = {:?}\nlog_file = {:?}\nmanaged_dir = \"managed\"\nmanaged_users = [{:?}]\n\n",
        dir.join("state"),
        dir.join("runs.jsonl"),
        me()
    );
    for i in 0..main_jobs {
        text.push_str(&format!(
            "[jobs.main-{i}]\nschedule = \"{} {} * * *\"\ncommand = \"echo {i}\"\n\n",
            i % 60,
            i % 24
        ));
    }
    std::fs::write(dir.join("jobs.toml"), text).expect("write config");
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn puts(d: &Daemon, prefix: &str) -> Vec<Duration> {
    let user = me();
    let mut times = Vec::with_capacity(PUTS);
    for i in 0..PUTS {
        let id = format!("{prefix}-{i}");
        let job = serde_json::json!({
            "schedule": format!("{} * * * *", i % 60),
            "command": format!("echo {i}"),
            "user": user,
        });
        let t0 = Instant::now();
        let (status, body) = http(
            d.addr,
            "PUT",
            &format!("/api/v1/jobs/{id}"),
            &job.to_string(),
        );
        assert_eq!(status, 201, "{body}");
        let (status, body) = http(d.addr, "GET", &format!("/api/v1/jobs/{id}"), "");
        assert_eq!(status, 200, "{body}");
        assert!(!body["next_run"].is_null(), "{body}");
        times.push(t0.elapsed());
    }
    times.sort();
    times
}

fn report(what: &str, times: &[Duration]) {
    println!(
        "{what}: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (n = {})",
        percentile(times, 0.5).as_secs_f64() * 1e3,
        percentile(times, 0.99).as_secs_f64() * 1e3,
        times[times.len() - 1].as_secs_f64() * 1e3,
        times.len()
    );
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");

    config(dir.path(), 0);
    let d = start(dir.path());
    report("100 PUTs, request to live, empty main file", &puts(&d, "a"));
    drop(d);

    let _ = std::fs::remove_dir_all(dir.path().join("managed"));
    config(dir.path(), 10_000);
    let t0 = Instant::now();
    let d = start(dir.path());
    println!(
        "start with 10,000 jobs in the main file: {:.0} ms",
        t0.elapsed().as_secs_f64() * 1e3
    );
    let mut reloads: Vec<Duration> = (0..10)
        .map(|_| {
            let t0 = Instant::now();
            let (status, body) = http(d.addr, "POST", "/api/v1/reload", "");
            assert_eq!(status, 200, "{body}");
            t0.elapsed()
        })
        .collect();
    reloads.sort();
    report(
        "POST /api/v1/reload, 10,000 jobs in the main file",
        &reloads,
    );
    report(
        "100 PUTs, request to live, 10,000 jobs in the main file",
        &puts(&d, "b"),
    );
}
