//! The status page's first load and refresh with 1,000 jobs and 100,000
//! history records (bench/api_gen.py), in headless Chromium on loopback,
//! each run in a fresh browser profile (cold cache). Prints a report; fails
//! when a target is missed:
//! - first load to the jobs table ≤ 300 ms: from the navigation's start to
//!   the page's `cronduct:jobs-painted` mark, the end of the first frame
//!   painted with the table's first 50 rows (more than the 1280 × 900
//!   screen shows; checked) with their values, the overview's job counts
//!   and next run above them. The other 950 rows are added right after that
//!   frame (mark `cronduct:jobs-all`, printed; every row must be there);
//!   rows off screen are laid out only when scrolled near
//!   (`content-visibility: auto`);
//! - everything transferred on first load ≤ 150 KiB (heads and compressed
//!   bodies, both directions);
//! - a refresh while nothing changed: one request of ≤ 1 KiB.
//!
//!     cargo bench --bench ui            # RUNS=5 by default
//!
//! The key is put into sessionStorage before the page's scripts run, so the
//! time measured is the page's and the daemon's, not a person's typing.
//! Where the time goes is read from the browser's own timeline (Navigation
//! and Resource Timing, the page's marks) and printed as medians: each
//! file's and API answer's request start, server wait and end, and the
//! table's build and paint. The load average is printed with it: on a
//! busy machine the figures say more about the machine than the page.

// The test suite's browser and polling fixtures; the benchmark uses only
// part of them.
#[path = "../tests/it/support/browser.rs"]
#[allow(dead_code)]
mod browser;
#[path = "../tests/it/support/poll.rs"]
#[allow(dead_code)]
mod poll;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const KEY: &str = "bench-ui-key-3b9d";
const JOBS: usize = 1000;

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.0.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.0.wait();
    }
}

fn healthy(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.starts_with("HTTP/1.1 200")
}

/// The browser's timeline of the first load, in ms from the navigation's
/// start: the document, each first request by path as [start, server
/// wait, end], and the page's marks.
const TIMELINE: &str = "(() => {
  const n = performance.getEntriesByType('navigation')[0];
  const res = {};
  for (const e of performance.getEntriesByType('resource')) {
    const p = new URL(e.name).pathname;
    if (!(p in res)) res[p] = [e.startTime, e.responseStart - e.requestStart, e.responseEnd];
  }
  const mark = (m) => performance.getEntriesByName(m)[0]?.startTime;
  return { document: [n.requestStart, n.responseStart - n.requestStart, n.responseEnd],
    domContentLoaded: n.domContentLoadedEventEnd, resources: res,
    rendered: mark('cronduct:jobs-rendered'), painted: mark('cronduct:jobs-painted'),
    all: mark('cronduct:jobs-all') };
})()";

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|e| format!("unknown ({e})"))
}

fn main() {
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    let dir = tempfile::tempdir().expect("a temp dir");
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let root = env!("CARGO_MANIFEST_DIR");
    let status = Command::new("python3")
        .arg(format!("{root}/bench/api_gen.py"))
        .args(["--dir", &dir.path().display().to_string()])
        .args(["--port", &port.to_string()])
        .args(["--jobs", &JOBS.to_string(), "--records", "100000"])
        .status()
        .expect("python3 runs bench/api_gen.py");
    assert!(status.success(), "bench/api_gen.py failed");
    let _daemon = Daemon(
        Command::new(env!("CARGO_BIN_EXE_cronduct"))
            .args(["run", "-c"])
            .arg(dir.path().join("jobs.toml"))
            .env("CRONDUCT_ADMIN_KEY", KEY)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the daemon starts"),
    );
    let started = Instant::now();
    poll::until("the daemon's /health", Duration::from_secs(120), || {
        healthy(port).then_some(())
    });
    println!(
        "daemon ready with {JOBS} jobs and 100,000 records in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let load_before = load_average();
    let url = format!("http://127.0.0.1:{port}/");
    // label -> one figure per run, for the timeline's medians.
    let mut timeline: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let (mut loads, mut sizes, mut refreshes) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        let chrome = browser::Chrome::launch(1280, 900);
        chrome.before_each_document(&format!(
            "sessionStorage.setItem('cronduct.admin-key', '{KEY}')"
        ));
        chrome.goto(&url);
        let ms = chrome.wait(
            "the jobs table",
            Duration::from_secs(30),
            "performance.getEntriesByName('cronduct:jobs-painted')[0]?.startTime",
        );
        loads.push(ms.as_f64().expect("a time"));
        chrome.wait(
            "every row of the jobs table",
            Duration::from_secs(30),
            "performance.getEntriesByName('cronduct:jobs-all')[0]?.startTime",
        );
        let rows: usize = chrome.eval("document.querySelectorAll('#jobs-body tr').length");
        assert_eq!(rows, JOBS, "every job is in the table");
        // The rows drawn before the first paint reach below the screen, and
        // the table's first row is the first job with its next run.
        let first: serde_json::Value = chrome.eval(
            "(() => { const r = document.querySelectorAll('#jobs-body tr');
              return { below: r[49].getBoundingClientRect().top > innerHeight,
                id: r[0].dataset.job, next: r[0].querySelector('.next-run time').dateTime }; })()",
        );
        assert_eq!(
            first["below"], true,
            "50 rows fill the first screen: {first}"
        );
        assert_eq!(first["id"], "job-0000", "{first}");
        assert!(
            first["next"]
                .as_str()
                .is_some_and(|t| t.ends_with("-01-01T00:00:00.000Z")),
            "{first}"
        );
        let t: serde_json::Value = chrome.eval(TIMELINE);
        let mut add = |label: String, v: &serde_json::Value| {
            if let Some(v) = v.as_f64() {
                timeline.entry(label).or_default().push(v);
            }
        };
        for (name, triple) in std::iter::once(("document /", &t["document"])).chain(
            t["resources"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(p, v)| (p.as_str(), v)),
        ) {
            add(format!("{name}: request start"), &triple[0]);
            add(format!("{name}: server wait"), &triple[1]);
            add(format!("{name}: end"), &triple[2]);
        }
        add("DOMContentLoaded".into(), &t["domContentLoaded"]);
        add(
            "first 50 rows in (mark jobs-rendered)".into(),
            &t["rendered"],
        );
        add(
            "first 50 rows painted (mark jobs-painted)".into(),
            &t["painted"],
        );
        add("all 1,000 rows in (mark jobs-all)".into(), &t["all"]);
        // The table shows before the overview's answers and the icon are
        // in: the first load is over once every request it made (the icon
        // included) has been answered.
        let first = poll::until(
            "the rest of the first load",
            Duration::from_secs(30),
            || {
                let all = chrome.requests();
                (all.iter().any(|r| r.url.ends_with("/ui/icon.svg"))
                    && all.iter().all(|r| r.transferred.is_some()))
                .then_some(all)
            },
        );
        assert!(
            first.iter().all(|r| r.url.starts_with(&url)),
            "a request to another host: {first:#?}"
        );
        let bytes: f64 = first
            .iter()
            .map(|r| r.transferred.unwrap_or(0.0) + r.sent as f64)
            .sum();
        sizes.push(bytes / 1024.0);
        let before = first.len();
        let refresh = poll::until("a refresh", Duration::from_secs(20), || {
            chrome
                .requests()
                .into_iter()
                .skip(before)
                .find(|r| r.transferred.is_some())
        });
        let extra = chrome.requests().len() - before;
        assert_eq!(refresh.status, Some(304), "{refresh:?}");
        assert_eq!(
            extra,
            1,
            "one request per unchanged refresh: {:#?}",
            &chrome.requests()[before..]
        );
        refreshes.push(refresh.transferred.unwrap_or(0.0) + refresh.sent as f64);
        assert_eq!(chrome.errors(), Vec::<String>::new(), "browser errors");
    }
    let med = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        (v[v.len() / 2], v[v.len() - 1])
    };
    let (load, load_max) = med(&mut loads);
    let (size, size_max) = med(&mut sizes);
    let (refresh, refresh_max) = med(&mut refreshes);
    println!("runs: {runs}, each in a fresh headless Chromium");
    println!(
        "load average (1, 5, 15 min): {load_before} before the runs, {} after",
        load_average()
    );
    println!("timeline of the first load, medians in ms from the navigation's start:");
    for (label, mut v) in timeline {
        let (median, max) = med(&mut v);
        println!("  {label:<48} {median:>7.1}  (max {max:.1})");
    }
    println!(
        "first load to the jobs table painted (first 50 of {JOBS} rows): median {load:.0} ms, max {load_max:.0} ms (target 300 ms)"
    );
    println!("first-load transfer: median {size:.1} KiB, max {size_max:.1} KiB (target 150 KiB)");
    println!(
        "unchanged refresh: 1 request (304), median {refresh:.0} B, max {refresh_max:.0} B (target 1024 B)"
    );
    assert!(load <= 300.0, "first load over 300 ms");
    assert!(size_max <= 150.0, "first load over 150 KiB");
    assert!(refresh_max <= 1024.0, "refresh over 1 KiB");
}
