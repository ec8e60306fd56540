//! HTTP attempts against real servers on 127.0.0.1: what is sent, how
//! statuses map, bounded bodies, deadlines and readable errors.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::support::procfs::vm_rss_kib;
use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Redirect;
use axum::routing::{any, get};
use cronduct::action::ActionOutcome;
use cronduct::action::http;
use cronduct::config::model::HttpRequest;
use cronduct::record::Status;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

fn request(url: String) -> HttpRequest {
    HttpRequest {
        url,
        method: "GET".into(),
        headers: BTreeMap::new(),
        body: String::new(),
        expect_status: Vec::new(),
        result: false,
    }
}

async fn attempt(req: &HttpRequest, timeout: Option<Duration>, limit: usize) -> ActionOutcome {
    let client = http::client().expect("client");
    let run = http::run(&client, req, timeout, limit, CancellationToken::new());
    tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("the attempt ends")
}

/// A GET of `url` that must end in an error: the error message, also
/// printed (after `label`) so the test log shows what a sysadmin reads.
async fn error_of(url: String, timeout: Duration, label: &str) -> String {
    let out = attempt(&request(url), Some(timeout), 65536).await;
    assert_eq!(out.status, Status::Error, "{out:?}");
    let error = out.error.expect("an error message");
    eprintln!("{label} reads: {error}");
    error
}

async fn echo(method: Method, headers: HeaderMap, body: String) -> String {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-")
            .to_string()
    };
    format!(
        "method={method}\nx-token={}\nuser-agent={}\ncontent-length={}\nbody={body}",
        header("x-token"),
        header("user-agent"),
        header("content-length"),
    )
}

/// A small server: `/echo` describes the request, `/status/{code}`
/// answers with that status, `/loop` redirects to itself forever.
async fn app_server() -> String {
    let app = Router::new()
        .route("/echo", any(echo))
        .route(
            "/status/{code}",
            get(|Path(code): Path<u16>| async move {
                (
                    StatusCode::from_u16(code).expect("valid status"),
                    format!("status {code}"),
                )
            }),
        )
        .route("/loop", get(|| async { Redirect::temporary("/loop") }));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// Reads a request head so the client is done sending.
async fn read_head(sock: &mut TcpStream) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match sock.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
}

/// A raw server that handles each connection with `serve`.
async fn raw_server<F, Fut>(serve: F) -> std::net::SocketAddr
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            tokio::spawn(serve(sock));
        }
    });
    addr
}

#[tokio::test]
async fn method_headers_and_body_arrive() {
    let base = app_server().await;
    let mut req = request(format!("{base}/echo"));
    req.method = "POST".into();
    req.headers.insert("X-Token".into(), "s3cret value".into());
    req.body = "{\"hello\":1}".into();
    let out = attempt(&req, Some(Duration::from_secs(10)), 65536).await;
    assert_eq!(out.status, Status::Success, "{out:?}");
    assert_eq!(out.http_status, Some(200));
    assert_eq!(
        out.stdout,
        format!(
            "method=POST\nx-token=s3cret value\nuser-agent=cronduct/{}\ncontent-length=11\nbody={{\"hello\":1}}",
            env!("CARGO_PKG_VERSION")
        )
    );
    assert_eq!((out.exit_code, out.signal, out.error), (None, None, None));
    assert!(!out.output_truncated);

    // No body configured: none is sent. The job's User-Agent wins.
    let mut req = request(format!("{base}/echo"));
    req.method = "DELETE".into();
    req.headers.insert("User-Agent".into(), "mine/1".into());
    let out = attempt(&req, None, 65536).await;
    assert_eq!(
        out.stdout,
        "method=DELETE\nx-token=-\nuser-agent=mine/1\ncontent-length=-\nbody="
    );
}

#[tokio::test]
async fn expect_status_decides_success() {
    let base = app_server().await;
    let cases: &[(u16, &[u16], Status, Option<&str>)] = &[
        (200, &[], Status::Success, None),
        (204, &[], Status::Success, None),
        (
            404,
            &[],
            Status::Failed,
            Some("unexpected HTTP status 404 (expected any 2xx)"),
        ),
        (
            500,
            &[],
            Status::Failed,
            Some("unexpected HTTP status 500 (expected any 2xx)"),
        ),
        (404, &[404], Status::Success, None),
        (
            200,
            &[201],
            Status::Failed,
            Some("unexpected HTTP status 200 (expected 201)"),
        ),
        (
            503,
            &[200, 204],
            Status::Failed,
            Some("unexpected HTTP status 503 (expected one of 200, 204)"),
        ),
    ];
    for (code, expect, status, error) in cases {
        let mut req = request(format!("{base}/status/{code}"));
        req.expect_status = expect.to_vec();
        let out = attempt(&req, Some(Duration::from_secs(10)), 65536).await;
        assert_eq!(out.status, *status, "{code} with {expect:?}: {out:?}");
        assert_eq!(out.http_status, Some(*code));
        assert_eq!(out.error.as_deref(), *error);
    }
}

#[tokio::test]
async fn a_huge_body_keeps_only_its_tail() {
    const SIZE: usize = 100 * 1024 * 1024;
    let addr = raw_server(|mut sock| async move {
        read_head(&mut sock).await;
        let head =
            format!("HTTP/1.1 200 OK\r\nContent-Length: {SIZE}\r\nConnection: close\r\n\r\n");
        let chunk = vec![b'x'; 64 * 1024];
        let mut left = SIZE - 7;
        if sock.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        while left > 0 {
            let n = left.min(chunk.len());
            if sock.write_all(&chunk[..n]).await.is_err() {
                return;
            }
            left -= n;
        }
        let _ = sock.write_all(b"THE-END").await;
    })
    .await;
    let before = vm_rss_kib();
    let started = Instant::now();
    let out = attempt(&request(format!("http://{addr}/big")), None, 1000).await;
    let took = started.elapsed();
    let after = vm_rss_kib();
    assert_eq!(out.status, Status::Success, "{:?}", out.error);
    assert_eq!(out.stdout.len(), 1000);
    assert!(out.stdout.ends_with("xxxTHE-END"));
    assert!(out.output_truncated);
    let growth = after.saturating_sub(before);
    eprintln!(
        "{} MiB body streamed in {took:?}; VmRSS {before} KiB → {after} KiB",
        SIZE >> 20
    );
    assert!(growth < 16 * 1024, "RSS grew by {growth} KiB");
}

/// A server that answers every request with `status` and `body`.
async fn body_server(status: u16, body: Vec<u8>) -> std::net::SocketAddr {
    let body = std::sync::Arc::new(body);
    raw_server(move |mut sock| {
        let body = std::sync::Arc::clone(&body);
        async move {
            read_head(&mut sock).await;
            let head = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = sock.write_all(head.as_bytes()).await;
            let _ = sock.write_all(&body).await;
        }
    })
    .await
}

#[tokio::test]
async fn with_result_the_body_is_the_result_whatever_the_tail_keeps() {
    let mut big = br#"{"pad": ""#.to_vec();
    big.resize(70 * 1024, b'x');
    big.extend(b"\"}");
    // Status, body, the result (compact JSON) and the error wanted.
    type Case = (u16, Vec<u8>, Option<&'static str>, Option<&'static str>);
    let cases: [Case; 5] = [
        (
            200,
            br#"{"removed": 12, "hit_rate": 0.93}"#.to_vec(),
            Some(r#"{"hit_rate":0.93,"removed":12}"#),
            None,
        ),
        // A failed request's body is still what the server reported.
        (
            503,
            br#"{"queue": 7}"#.to_vec(),
            Some(r#"{"queue":7}"#),
            None,
        ),
        (
            200,
            b"<html>ok</html>".to_vec(),
            None,
            Some("the result is not valid JSON: expected value at line 1 column 1"),
        ),
        (
            200,
            b"[1, 2]".to_vec(),
            None,
            Some("the result must be a JSON object, not an array"),
        ),
        (200, big, None, Some("the result is larger than 64 KiB")),
    ];
    for (status, body, want, error) in cases {
        let addr = body_server(status, body).await;
        let mut req = request(format!("http://{addr}/stats"));
        req.result = true;
        // A tail shorter than the body: the result does not depend on it.
        let out = attempt(&req, None, 16).await;
        let got = out
            .result
            .result
            .as_ref()
            .map(|r| serde_json::to_string(r).expect("json"));
        assert_eq!(got.as_deref(), want, "{out:?}");
        assert_eq!(out.result.error.as_deref(), error);
        assert_eq!(out.http_status, Some(status));
        assert_eq!(
            out.status == Status::Success,
            status == 200,
            "a bad result does not fail the run"
        );
    }
    // Without `result`, the body is only output.
    let addr = body_server(200, br#"{"removed": 1}"#.to_vec()).await;
    let out = attempt(&request(format!("http://{addr}/")), None, 1000).await;
    assert_eq!(out.result, Default::default());
}

/// A server that reads the request, sends `prefix` and then says nothing
/// more while keeping the connection open.
async fn stalling_server(prefix: &'static str) -> std::net::SocketAddr {
    raw_server(move |mut sock| async move {
        read_head(&mut sock).await;
        let _ = sock.write_all(prefix.as_bytes()).await;
        tokio::time::sleep(Duration::from_secs(60)).await;
    })
    .await
}

#[tokio::test]
async fn the_timeout_covers_the_whole_exchange() {
    let silent = stalling_server("").await;
    let started = Instant::now();
    let out = attempt(
        &request(format!("http://{silent}/")),
        Some(Duration::from_millis(300)),
        65536,
    )
    .await;
    assert_eq!(out.status, Status::Timeout, "{out:?}");
    assert_eq!(out.error.as_deref(), Some("timed out after 300ms"));
    assert_eq!(out.http_status, None);
    assert!(started.elapsed() < Duration::from_secs(5));

    // The head arrived but the body stalls: the status and the partial body
    // are kept.
    let slow_body = stalling_server("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial").await;
    let out = attempt(
        &request(format!("http://{slow_body}/")),
        Some(Duration::from_millis(300)),
        65536,
    )
    .await;
    assert_eq!(out.status, Status::Timeout, "{out:?}");
    assert_eq!(out.http_status, Some(200));
    assert_eq!(out.stdout, "partial");
}

#[tokio::test]
async fn cancel_stops_the_request() {
    let silent = stalling_server("").await;
    let client = http::client().expect("client");
    let cancel = CancellationToken::new();
    let req = request(format!("http://{silent}/"));
    let run = tokio::spawn({
        let cancel = cancel.clone();
        async move { http::run(&client, &req, None, 65536, cancel).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    cancel.cancel();
    let out = tokio::time::timeout(Duration::from_secs(5), run)
        .await
        .expect("cancel ends the attempt")
        .expect("join");
    assert_eq!(out.status, Status::Cancelled);
    assert_eq!(out.error.as_deref(), Some("cancelled"));
}

#[tokio::test]
async fn a_closed_port_is_an_error_with_the_root_cause() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        l.local_addr().expect("addr").port()
    };
    let out = attempt(
        &request(format!("http://user:pw@127.0.0.1:{port}/health?token=abc")),
        Some(Duration::from_secs(10)),
        65536,
    )
    .await;
    assert_eq!(out.status, Status::Error, "{out:?}");
    assert_eq!(out.http_status, None);
    let error = out.error.expect("an error message");
    assert!(
        error.starts_with(&format!("cannot connect to 127.0.0.1:{port}: ")),
        "{error}"
    );
    assert!(error.contains("Connection refused"), "{error}");
    assert!(!error.contains("error sending request"), "{error}");
    assert!(!error.contains("token") && !error.contains("pw"), "{error}");
}

#[tokio::test]
async fn a_tls_failure_is_an_error_with_the_root_cause() {
    // A plain-text server answering a TLS handshake.
    let addr = raw_server(|mut sock| async move {
        let mut buf = [0u8; 512];
        let _ = sock.read(&mut buf).await;
        let _ = sock.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
    })
    .await;
    let error = error_of(
        format!("https://{addr}/"),
        Duration::from_secs(10),
        "TLS failure",
    )
    .await;
    assert!(
        error.starts_with(&format!("cannot connect to {addr}: ")),
        "{error}"
    );
    assert!(!error.contains("error sending request"), "{error}");
    assert!(!error.ends_with(": "), "{error}");
}

#[tokio::test]
async fn an_unknown_host_is_an_error() {
    let error = error_of(
        "http://no-such-host.invalid/".into(),
        Duration::from_secs(20),
        "DNS failure",
    )
    .await;
    assert!(
        error.starts_with("cannot connect to no-such-host.invalid:80: "),
        "{error}"
    );
    assert!(!error.contains("error sending request"), "{error}");
}

#[tokio::test]
async fn a_redirect_loop_ends_in_an_error() {
    let base = app_server().await;
    let error = error_of(
        format!("{base}/loop"),
        Duration::from_secs(10),
        "redirect loop",
    )
    .await;
    assert!(error.contains("redirect"), "{error}");
    assert!(error.contains("10"), "{error}");
}

#[tokio::test]
async fn an_invalid_header_is_an_error() {
    let base = app_server().await;
    let mut req = request(format!("{base}/echo"));
    req.headers.insert("Bad Header".into(), "x".into());
    let out = attempt(&req, Some(Duration::from_secs(10)), 65536).await;
    assert_eq!(out.status, Status::Error);
    assert_eq!(
        out.error.as_deref(),
        Some("invalid HTTP header name \"Bad Header\"")
    );
}
