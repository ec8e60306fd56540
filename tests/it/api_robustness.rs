//! Hostile and broken HTTP clients against the real daemon's API, on real
//! sockets: slow request heads, crowds of idle keep-alive clients,
//! malformed requests. The daemon answers them with a 4xx or closes the
//! connection, keeps running, and `/health` keeps answering promptly.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::support::daemon::{Daemon, NEVER, SECS_20};

fn started() -> Daemon {
    let mut d = Daemon::new();
    d.write_config(&format!(
        "[jobs.nightly]\nschedule = {NEVER:?}\ncommand = \"true\"\n"
    ));
    d.start();
    d
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("read timeout");
    s
}

/// Reads one answer's head from a keep-alive connection; its status.
fn read_status(s: &mut TcpStream) -> std::io::Result<u16> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut buf)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        got.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&got);
    head.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line: {head:?}")))
}

/// A fresh client's `GET /health`: its status and how long the whole
/// exchange took, connecting included.
fn timed_health(addr: SocketAddr) -> (u16, Duration) {
    let t = Instant::now();
    let mut s = connect(addr);
    s.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .expect("send");
    let status = read_status(&mut s).unwrap_or_else(|e| panic!("/health: {e}"));
    (status, t.elapsed())
}

#[test]
fn slow_request_heads_do_not_lock_out_health() {
    let d = started();
    let addr = d.addr();
    // 300 clients that start a request and send its head a byte now and
    // then, never finishing it: more than the connection cap.
    let mut slow: Vec<TcpStream> = (0..300)
        .map(|_| {
            let mut s = connect(addr);
            s.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
                .expect("start a head");
            s
        })
        .collect();
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        for s in &mut slow {
            // A closed one (by the daemon) is what it should do.
            let _ = s.write_all(b"a");
        }
        let (status, took) = timed_health(addr);
        assert_eq!(status, 200, "{}", d.diagnostics());
        assert!(
            took < Duration::from_secs(1),
            "/health took {took:?} among 300 slow clients\n{}",
            d.diagnostics()
        );
    }
}

#[test]
fn a_request_head_must_arrive_within_seconds() {
    let d = started();
    let mut s = connect(d.addr());
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .expect("read timeout");
    let t = Instant::now();
    s.write_all(b"GET /health HTTP/1.1\r\nX-Slow: ")
        .expect("start a head");
    let closed_after = loop {
        assert!(
            t.elapsed() < SECS_20,
            "a dribbled head was not cut off\n{}",
            d.diagnostics()
        );
        if s.write_all(b"a").is_err() {
            break t.elapsed();
        }
        let mut buf = [0u8; 256];
        match s.read(&mut buf) {
            Ok(0) => break t.elapsed(),
            Ok(n) => panic!("an answer to half a request: {:?}", &buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break t.elapsed(),
        }
    };
    // The header deadline (5 s), well before the idle one (30 s).
    assert!(
        closed_after >= Duration::from_secs(4) && closed_after < Duration::from_secs(10),
        "closed after {closed_after:?}"
    );
}

#[test]
fn a_thousand_idle_keep_alive_clients_do_not_lock_out_a_new_one() {
    let d = started();
    let addr = d.addr();
    let mut idle = Vec::new();
    for i in 0..1000 {
        let mut s = connect(addr);
        s.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .expect("send");
        match read_status(&mut s) {
            Ok(200) => {}
            other => panic!(
                "keep-alive client {i} was not answered: {other:?}\n{}",
                d.diagnostics()
            ),
        }
        // Kept open, idle, as a keep-alive client between requests is.
        idle.push(s);
    }
    let (status, took) = timed_health(addr);
    assert_eq!(status, 200);
    assert!(took < Duration::from_secs(1), "{took:?}");
    // The API proper too, with the key, not only /health.
    assert_eq!(d.api("GET", "/api/v1/jobs").status, 200);
}

/// Sends `raw` on a fresh connection, then reads until the daemon answers
/// or closes (within 10 s). The status of the answer, if any; `None` when
/// it closed without one.
fn exchange(addr: SocketAddr, raw: &[u8]) -> Option<u16> {
    let mut s = connect(addr);
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    // The daemon may close while a large request is still being sent.
    let _ = s.write_all(raw);
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                panic!("neither an answer nor a close within 10 s")
            }
            Err(_) => break,
        }
    }
    let text = String::from_utf8_lossy(&got);
    text.strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
}

#[test]
fn malformed_requests_get_a_4xx_or_a_close_and_the_daemon_carries_on() {
    let d = started();
    let addr = d.addr();
    let auth = format!("Authorization: Bearer {}\r\n", d.key());
    let many_headers: String = (0..2_000).map(|i| format!("X-H{i}: v\r\n")).collect();
    let huge_header = format!("X-Big: {}\r\n", "a".repeat(2 << 20));
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("garbage", b"\x00\x01\x02 not http at all\r\n\r\n".to_vec()),
        ("no version", b"GET /health\r\n\r\n".to_vec()),
        ("bad method", b"G\x7fT /health HTTP/1.1\r\nHost: localhost\r\n\r\n".to_vec()),
        ("bad version", b"GET /health HTTP/9.9\r\nHost: localhost\r\n\r\n".to_vec()),
        ("space in target", b"GET /hea lth HTTP/1.1\r\nHost: localhost\r\n\r\n".to_vec()),
        ("bare LF header", b"GET /health HTTP/1.1\nHost: localhost\nX: \x01\n\n".to_vec()),
        ("header without colon", b"GET /health HTTP/1.1\r\nHost localhost\r\n\r\n".to_vec()),
        ("HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec()),
        (
            "header flood",
            format!("GET /health HTTP/1.1\r\nHost: localhost\r\n{many_headers}\r\n").into_bytes(),
        ),
        (
            "huge header",
            format!("GET /health HTTP/1.1\r\nHost: localhost\r\n{huge_header}\r\n").into_bytes(),
        ),
        (
            "huge request line",
            format!("GET /{} HTTP/1.1\r\nHost: localhost\r\n\r\n", "a".repeat(2 << 20)).into_bytes(),
        ),
        (
            "bad chunk size",
            format!(
                "POST /api/v1/reload HTTP/1.1\r\nHost: localhost\r\n{auth}Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"
            )
            .into_bytes(),
        ),
        (
            "chunk longer than said",
            format!(
                "POST /api/v1/jobs/nightly/pause HTTP/1.1\r\nHost: localhost\r\n{auth}Transfer-Encoding: chunked\r\n\r\n2\r\nhello\r\n0\r\n\r\n"
            )
            .into_bytes(),
        ),
        (
            "chunk size overflow",
            format!(
                "POST /api/v1/jobs/nightly/pause HTTP/1.1\r\nHost: localhost\r\n{auth}Transfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\nx\r\n0\r\n\r\n"
            )
            .into_bytes(),
        ),
        (
            "two content-lengths",
            format!(
                "POST /api/v1/jobs/nightly/pause HTTP/1.1\r\nHost: localhost\r\n{auth}Content-Length: 2\r\nContent-Length: 30\r\n\r\n{{}}"
            )
            .into_bytes(),
        ),
        (
            "negative content-length",
            format!(
                "POST /api/v1/jobs/nightly/pause HTTP/1.1\r\nHost: localhost\r\n{auth}Content-Length: -5\r\n\r\n{{}}"
            )
            .into_bytes(),
        ),
        (
            "body shorter than its length",
            format!(
                "POST /api/v1/jobs/nightly/pause HTTP/1.1\r\nHost: localhost\r\n{auth}Content-Length: 100\r\n\r\n{{\"reason\""
            )
            .into_bytes(),
        ),
        (
            "invalid JSON body",
            format!(
                "POST /api/v1/jobs/nightly/pause HTTP/1.1\r\nHost: localhost\r\n{auth}Content-Length: 5\r\n\r\n{{{{{{{{{{"
            )
            .into_bytes(),
        ),
    ];
    for (what, raw) in &cases {
        let answer = exchange(addr, raw);
        assert!(
            answer.is_none_or(|code| (400..500).contains(&code)),
            "{what}: answered {answer:?}\n{}",
            d.diagnostics()
        );
    }
    // Still up, promptly, and nothing was acted on.
    let (status, took) = timed_health(addr);
    assert_eq!(status, 200, "{}", d.diagnostics());
    assert!(took < Duration::from_secs(1), "{took:?}");
    assert_eq!(
        d.listed_job("nightly").expect("listed")["paused"],
        false,
        "a malformed request paused the job"
    );
    assert!(d.finishes("nightly").is_empty());
}
