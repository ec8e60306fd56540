//! The admin API over real HTTP: every endpoint and every error status,
//! served by `api::serve_with` on 127.0.0.1 in front of a fake scheduler,
//! with the real execution log and history index in a temp dir.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

use crate::support::api_fake::{Fixture, KEY, at, finish};
use crate::support::poll;
use chrono::SubsecRound;
use cronduct::api::Limits;
use cronduct::clock::{Clock, SystemClock};
use cronduct::record::Status;
use cronduct::wire::PauseRequest;
use reqwest::{Method, StatusCode, header};
use serde_json::Value;

fn client() -> reqwest::Client {
    // reqwest is built without a default TLS provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

struct Answer {
    status: StatusCode,
    headers: header::HeaderMap,
    body: Value,
}

async fn send(req: reqwest::RequestBuilder) -> Answer {
    let resp = req.send().await.expect("request");
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.expect("body");
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("answer is not JSON ({e}): {status} {text:?}"));
    Answer {
        status,
        headers,
        body,
    }
}

async fn call(fx: &Fixture, method: Method, path: &str) -> Answer {
    send(
        client()
            .request(method, format!("{}{path}", fx.url))
            .bearer_auth(KEY),
    )
    .await
}

async fn get(fx: &Fixture, path: &str) -> Answer {
    call(fx, Method::GET, path).await
}

async fn post(fx: &Fixture, path: &str) -> Answer {
    call(fx, Method::POST, path).await
}

fn error_of(a: &Answer) -> &str {
    a.body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error message in {}", a.body))
}

#[tokio::test]
async fn health_is_open_and_counts_jobs_and_runs() {
    let fx = Fixture::start();
    let a = send(client().get(format!("{}/health", fx.url))).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body["status"], "healthy");
    assert_eq!(a.body["warnings"], serde_json::json!([]));
    assert_eq!(a.body["jobs"], 4);
    assert_eq!(a.body["running"], 1);
    assert_eq!(a.body["last_reload"]["ok"], true);
}

#[tokio::test]
async fn health_turns_degraded_and_says_why() {
    let fx = Fixture::start();
    // A log that cannot be written: the failure shows at the next line.
    fx.break_log();
    fx.log.write(cronduct::record::LogEvent::Finish(finish(
        "r-db-2",
        "db-backup",
        1,
        Status::Success,
        at(fx.t0, -10),
        100,
        false,
    )));
    let a = poll_health(&fx, "degraded").await;
    assert_eq!(a.status, StatusCode::OK);
    let warnings = a.body["warnings"].to_string();
    assert!(
        warnings.contains("the execution log cannot be written")
            && warnings.contains(&fx.log_dir.join("runs.jsonl").display().to_string())
            && warnings.contains("os error"),
        "{warnings}"
    );
    let status = get(&fx, "/api/v1/status").await;
    assert_eq!(status.body["log"]["ok"], false);
    assert_eq!(status.body["log"]["pending"], 1);

    // Repaired: the queued line is written and the warning goes away.
    fx.repair_log();
    poll_health(&fx, "healthy").await;
    assert_eq!(
        get(&fx, "/api/v1/runs?limit=1").await.body["runs"][0]["run_id"],
        "r-db-2"
    );
    fx.with_state(|s| s.reload_result = Err(vec!["jobs.toml:3:1: unknown key `shedule`".into()]));
    assert_eq!(
        post(&fx, "/api/v1/reload").await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let a = get(&fx, "/health").await;
    assert_eq!(a.body["status"], "degraded");
    assert!(a.body["warnings"].to_string().contains("unknown key"));
    assert_eq!(a.body["last_reload"]["ok"], false);

    fx.with_state(|s| s.jobs.clear());
    fx.with_state(|s| s.last_reload.ok = true);
    fx.with_state(|s| s.last_reload.error = None);
    let a = get(&fx, "/health").await;
    assert_eq!(a.body["status"], "degraded");
    assert_eq!(
        a.body["warnings"],
        serde_json::json!(["no jobs are configured"])
    );
}

/// Polls `/health` until its status is `want` (10 s at most).
async fn poll_health(fx: &Fixture, want: &str) -> Answer {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let a = get(fx, "/health").await;
        if a.body["status"] == want {
            return a;
        }
        assert!(
            Instant::now() < deadline,
            "health never became {want}: {}",
            a.body
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_stalled_scheduler_is_unhealthy_and_requests_time_out() {
    let fx = Fixture::start_with(Limits {
        health_deadline: Duration::from_millis(300),
        request_timeout: Duration::from_secs(1),
        ..Limits::default()
    });
    fx.with_state(|s| s.stalled = true);
    let started = Instant::now();
    let a = send(client().get(format!("{}/health", fx.url))).await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(a.body["status"], "unhealthy");
    assert!(
        a.body["warnings"][0]
            .as_str()
            .expect("warning")
            .contains("did not answer")
    );
    assert!(a.body["jobs"].is_null());
    assert!(started.elapsed() < Duration::from_secs(5));

    let a = get(&fx, "/api/v1/jobs").await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(error_of(&a).contains("stalled"), "{}", a.body);
}

#[tokio::test]
async fn the_key_is_required_in_either_header_form() {
    let fx = Fixture::start();
    let url = format!("{}/api/v1/jobs", fx.url);

    let a = send(client().get(&url)).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(error_of(&a).contains("missing admin key"));
    assert_eq!(
        a.headers.get(header::WWW_AUTHENTICATE).expect("challenge"),
        "Bearer realm=\"cronduct\""
    );

    let a = send(client().get(&url).bearer_auth("not-the-key")).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(error_of(&a), "wrong admin key");
    let a = send(client().get(&url).header("X-Admin-Key", "not-the-key")).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(error_of(&a), "wrong admin key");
    // A key that is only a prefix of the real one is wrong too.
    let a = send(client().get(&url).bearer_auth(&KEY[..10])).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);

    let a = send(client().get(&url).bearer_auth(KEY)).await;
    assert_eq!(a.status, StatusCode::OK);
    let a = send(client().get(&url).header("X-Admin-Key", KEY)).await;
    assert_eq!(a.status, StatusCode::OK);

    // Without a key, unknown paths do not reveal that they do not exist,
    // and /metrics is protected like the rest.
    let a = send(client().get(format!("{}/nope", fx.url))).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    let a = send(client().get(format!("{}/metrics", fx.url))).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
}

/// Sends raw bytes and returns the status line and the rest.
fn raw_request(fx: &Fixture, request: &str) -> (String, String) {
    let mut s = std::net::TcpStream::connect(fx.addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s.write_all(request.as_bytes()).expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    let (status, rest) = out.split_once("\r\n").expect("status line");
    (status.to_string(), rest.to_string())
}

#[tokio::test]
async fn foreign_host_names_are_refused() {
    let fx = Fixture::start();
    let port = fx.addr.port();
    for host in [
        "evil.example",
        "evil.example:9780",
        "localhost.evil.example",
    ] {
        let a = send(
            client()
                .get(format!("{}/api/v1/jobs", fx.url))
                .bearer_auth(KEY)
                .header(header::HOST, host),
        )
        .await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{host}");
        assert!(error_of(&a).contains("Host"));
    }
    // /health is open, but not to a rebound name.
    let a = send(
        client()
            .get(format!("{}/health", fx.url))
            .header(header::HOST, "evil.example"),
    )
    .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);

    for host in [
        format!("localhost:{port}"),
        "[::1]:9780".into(),
        "127.0.0.1".into(),
    ] {
        let a = send(
            client()
                .get(format!("{}/api/v1/jobs", fx.url))
                .bearer_auth(KEY)
                .header(header::HOST, host.as_str()),
        )
        .await;
        assert_eq!(a.status, StatusCode::OK, "{host}");
    }

    // The server runs on its own thread, so blocking I/O here is fine.
    let (status, _) = raw_request(&fx, "GET /health HTTP/1.0\r\n\r\n");
    assert!(
        status.contains(" 200 "),
        "no Host at all (HTTP/1.0): {status}"
    );
    let (status, body) = raw_request(
        &fx,
        &format!(
            "GET http://evil.example/api/v1/jobs HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {KEY}\r\nConnection: close\r\n\r\n"
        ),
    );
    assert!(
        status.contains(" 403 "),
        "absolute-form target: {status} {body}"
    );
}

/// HTTP/1.1 requires a 400 for a request with more than one `Host`:
/// checking only the first would let `Host: localhost` followed by
/// `Host: evil.example` reach a reader that believes the last one.
#[test]
fn a_repeated_host_header_is_a_400_on_the_real_daemon() {
    let mut d = crate::support::daemon::Daemon::new();
    d.write_config("");
    d.start();
    let key = d.key();
    for (path, hosts) in [
        ("/health", ["localhost", "evil.example"]),
        ("/health", ["evil.example", "localhost"]),
        ("/api/v1/jobs", ["localhost", "localhost"]),
    ] {
        let answer = d.raw(
            format!(
                "GET {path} HTTP/1.1\r\nHost: {}\r\nHost: {}\r\nX-Admin-Key: {key}\r\nConnection: close\r\n\r\n",
                hosts[0], hosts[1]
            )
            .as_bytes(),
        );
        let status = answer.lines().next().unwrap_or_default();
        assert!(status.contains(" 400 "), "{path} {hosts:?}: {answer}");
        assert!(
            answer.contains("Host"),
            "the error names the header: {answer}"
        );
    }
    // One Host is fine, and the daemon goes on serving.
    let answer = d.raw(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
}

#[tokio::test]
async fn unknown_things_are_json_404s() {
    let fx = Fixture::start();
    let a = get(&fx, "/api/v1/jobs/nope").await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert!(error_of(&a).contains("nope"));
    for path in [
        "/api/v1/jobs/nope/pause",
        "/api/v1/jobs/nope/resume",
        "/api/v1/jobs/nope/run",
        "/api/v1/jobs/nope/cancel",
    ] {
        let a = post(&fx, path).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{path}");
    }
    let a = get(&fx, "/api/v1/jobs/nope/runs").await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    let a = get(&fx, "/api/v1/runs/no-such-run").await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert!(error_of(&a).contains("no-such-run"));
    let a = get(&fx, "/api/v2/jobs").await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_eq!(error_of(&a), "no such endpoint: /api/v2/jobs");
}

#[tokio::test]
async fn wrong_methods_are_json_405s_with_allow() {
    let fx = Fixture::start();
    let a = get(&fx, "/api/v1/reload").await;
    assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(error_of(&a), "GET is not allowed on /api/v1/reload");
    assert_eq!(a.headers.get(header::ALLOW).expect("Allow"), "POST");
    let a = call(&fx, Method::DELETE, "/api/v1/jobs").await;
    assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED);
    let a = post(&fx, "/api/v1/jobs/db-backup").await;
    assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn an_oversized_body_is_refused_and_the_server_keeps_serving() {
    let fx = Fixture::start();
    let a = send(
        client()
            .post(format!("{}/api/v1/reload", fx.url))
            .bearer_auth(KEY)
            .body(vec![b'x'; 10 << 20]),
    )
    .await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(error_of(&a).contains("larger than 65536 bytes"));
    assert_eq!(fx.with_state(|s| s.reloads), 0, "the handler must not run");
    // Refused before the key check too: the body never reaches a handler.
    let a = send(
        client()
            .post(format!("{}/api/v1/reload", fx.url))
            .body(vec![b'x'; 100 << 10]),
    )
    .await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);

    let a = get(&fx, "/api/v1/jobs").await;
    assert_eq!(a.status, StatusCode::OK);
    // A client that asks before sending is refused before it sends.
    let (status, _) = raw_request(
        &fx,
        &format!(
            "POST /api/v1/reload HTTP/1.1\r\nHost: localhost\r\nX-Admin-Key: {KEY}\r\nContent-Length: 10485760\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n"
        ),
    );
    assert_eq!(status, "HTTP/1.1 413 Payload Too Large");
    assert_eq!(fx.with_state(|s| s.reloads), 0);
    // A small body is harmless.
    let a = send(
        client()
            .post(format!("{}/api/v1/reload", fx.url))
            .bearer_auth(KEY)
            .body("{}"),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
}

#[tokio::test]
async fn bad_parameters_are_400s_that_name_the_problem() {
    let fx = Fixture::start();
    for (path, needle) in [
        ("/api/v1/runs?limit=abc", "invalid limit \"abc\""),
        ("/api/v1/runs?limit=0", "from 1 to 1000"),
        ("/api/v1/runs?limit=1001", "from 1 to 1000"),
        ("/api/v1/runs?status=bogus", "unknown status \"bogus\""),
        ("/api/v1/runs?since=yesterday", "invalid since"),
        ("/api/v1/runs?limt=5", "unknown parameter \"limt\""),
        ("/api/v1/runs?limit=5&limit=6", "given twice"),
        ("/api/v1/jobs/db-backup/runs?status=ok", "unknown status"),
        (
            "/api/v1/jobs/db-backup/runs?since=1h",
            "unknown parameter \"since\"",
        ),
        ("/api/v1/stats?days=0", "invalid days"),
        ("/api/v1/stats?days=91", "invalid days"),
        ("/api/v1/stats?days=7d", "invalid days"),
        ("/api/v1/jobs?verbose=1", "takes no parameters"),
    ] {
        let a = get(&fx, path).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{path}");
        assert!(error_of(&a).contains(needle), "{path}: {}", a.body);
    }
    let a = post(&fx, "/api/v1/jobs/db-backup/run?wait=maybe").await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(fx.with_state(|s| s.next_run_id) == 1, "no run was started");
}

#[tokio::test]
async fn jobs_list_adds_the_last_run() {
    let fx = Fixture::start();
    let a = get(&fx, "/api/v1/jobs").await;
    assert_eq!(a.status, StatusCode::OK);
    let jobs = a.body["jobs"].as_array().expect("jobs");
    let ids: Vec<&str> = jobs.iter().map(|j| j["id"].as_str().expect("id")).collect();
    assert_eq!(
        ids,
        ["db-backup", "gateway-health", "long-report", "old-cleanup"]
    );
    let db = &jobs[0];
    for field in [
        "id",
        "description",
        "schedule",
        "timezone",
        "action",
        "enabled",
        "paused",
        "pause",
        "running",
        "next_run",
        "last_run",
        "consecutive_failures",
    ] {
        assert!(db.get(field).is_some(), "missing {field} in {db}");
    }
    assert_eq!(db["last_run"]["run_id"], "r-db-1");
    assert_eq!(db["last_run"]["status"], "success");
    assert_eq!(db["last_run"]["duration_ms"], 5123);
    assert_eq!(db["last_run"]["exit_code"], 0);
    // The failing check's last run is its final attempt, not the retried one.
    assert_eq!(jobs[1]["last_run"]["status"], "failed");
    assert_eq!(
        jobs[1]["last_run"]["finished_at"],
        cronduct::record::ts::format(&at(fx.t0, -600))
    );
    assert!(jobs[3]["last_run"].is_null());
    assert!(db["pause"].is_null());
    assert_eq!(
        jobs[3]["pause"],
        serde_json::json!({
            "reason": "replaced by the new cleanup",
            "until": cronduct::record::ts::format(&at(fx.t0, 7500)),
            "by": "default",
            "at": cronduct::record::ts::format(&at(fx.t0, -86_400)),
        })
    );
}

/// The job list comes compressed to clients that accept gzip, and as an
/// empty 304 to clients that send back the ETag of what they hold, until
/// a job changes.
#[tokio::test]
async fn jobs_list_is_compressed_and_conditional() {
    let fx = Fixture::start();
    let url = format!("{}/api/v1/jobs", fx.url);
    let raw = |accept: Option<&str>, tag: Option<&str>| {
        let mut req = client().get(&url).bearer_auth(KEY);
        if let Some(a) = accept {
            req = req.header(header::ACCEPT_ENCODING, a);
        }
        if let Some(t) = tag {
            req = req.header(header::IF_NONE_MATCH, t);
        }
        async move {
            let resp = req.send().await.expect("request");
            let status = resp.status();
            let headers = resp.headers().clone();
            (status, headers, resp.bytes().await.expect("body").to_vec())
        }
    };
    let etag = |h: &header::HeaderMap| {
        h.get(header::ETAG)
            .expect("an ETag")
            .to_str()
            .expect("ASCII")
            .to_string()
    };

    let (status, plain_headers, plain) = raw(None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(plain_headers.get(header::CONTENT_ENCODING).is_none());
    assert_eq!(plain_headers[header::VARY], "accept-encoding");
    let plain: Value = serde_json::from_slice(&plain).expect("JSON");
    let tag = etag(&plain_headers);

    let (status, gz_headers, gz) = raw(Some("br;q=1, gzip;q=0.8"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(gz_headers[header::CONTENT_ENCODING], "gzip");
    assert_eq!(gz_headers[header::CONTENT_TYPE], "application/json");
    let mut text = Vec::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_end(&mut text)
        .expect("valid gzip");
    assert_eq!(
        serde_json::from_slice::<Value>(&text).expect("JSON"),
        plain,
        "the same document"
    );
    let gz_tag = etag(&gz_headers);
    assert_ne!(gz_tag, tag, "each representation has its own strong tag");
    let (_, refused, _) = raw(Some("gzip;q=0, identity"), None).await;
    assert!(refused.get(header::CONTENT_ENCODING).is_none());

    // Either tag is proof of holding the current list.
    for held in [&tag, &gz_tag] {
        let (status, headers, body) = raw(Some("gzip"), Some(held)).await;
        assert_eq!(status, StatusCode::NOT_MODIFIED, "If-None-Match: {held}");
        assert!(body.is_empty());
        assert_eq!(etag(&headers), gz_tag);
    }
    let (status, _, _) = raw(None, Some("\"stale\", W/\"0000\"")).await;
    assert_eq!(status, StatusCode::OK);

    // A job changes: the old tag no longer matches, and the new list
    // shows the change.
    assert_eq!(
        post(&fx, "/api/v1/jobs/db-backup/pause").await.status,
        StatusCode::OK
    );
    let (status, headers, body) = raw(None, Some(&tag)).await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(etag(&headers), tag);
    let list: Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(list["jobs"][0]["id"], "db-backup");
    assert_eq!(list["jobs"][0]["paused"], true);
    let (status, _, _) = raw(None, Some(&etag(&headers))).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
}

#[tokio::test]
async fn job_detail_has_settings_next_runs_and_stats() {
    let fx = Fixture::start();
    let a = get(&fx, "/api/v1/jobs/gateway-health").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body["id"], "gateway-health");
    assert_eq!(a.body["action"], "http");
    assert_eq!(a.body["retries"], 3);
    assert_eq!(a.body["next_runs"].as_array().expect("next_runs").len(), 5);
    assert_eq!(a.body["last_run"]["run_id"], "r-gw-1");
    let stats = &a.body["stats"];
    assert_eq!(
        *stats,
        serde_json::json!({
            "total": 1,
            "success": 0,
            "failed": 1,
            "timeout": 0,
            "cancelled": 0,
            "error": 0,
            "lost": 0,
            // The final attempt's duration only (the retried one took 250).
            "avg_duration_ms": 300,
            "min_duration_ms": 300,
            "max_duration_ms": 300,
            "p95_duration_ms": 300,
        }),
        "one run, two attempts"
    );

    // Durations over several runs; a job without runs has nulls.
    for (i, ms) in [100u64, 200, 600].into_iter().enumerate() {
        fx.record(finish(
            &format!("r-db-{}", i + 2),
            "db-backup",
            1,
            Status::Success,
            at(fx.t0, -100 + i as i64),
            ms,
            false,
        ));
    }
    let stats = get(&fx, "/api/v1/jobs/db-backup").await.body["stats"].clone();
    assert_eq!(stats["total"], 4);
    assert_eq!(stats["success"], 4);
    assert_eq!(stats["avg_duration_ms"], (5123 + 100 + 200 + 600) / 4);
    assert_eq!(stats["min_duration_ms"], 100);
    assert_eq!(stats["max_duration_ms"], 5123);
    assert_eq!(stats["p95_duration_ms"], 5123);
    let a = get(&fx, "/api/v1/jobs/old-cleanup").await;
    assert_eq!(a.body["stats"]["total"], 0);
    assert!(a.body["stats"]["p95_duration_ms"].is_null());
    assert!(a.body["last_run"].is_null());
}

async fn post_body(fx: &Fixture, path: &str, body: &str) -> Answer {
    send(
        client()
            .post(format!("{}{path}", fx.url))
            .bearer_auth(KEY)
            .body(body.to_string()),
    )
    .await
}

fn instant(v: &Value) -> chrono::DateTime<chrono::Utc> {
    let text = v.as_str().unwrap_or_else(|| panic!("not a time: {v}"));
    chrono::DateTime::parse_from_rfc3339(text)
        .expect("RFC 3339")
        .with_timezone(&chrono::Utc)
}

#[tokio::test]
async fn pause_and_resume_flip_the_flag() {
    let fx = Fixture::start();
    let asked = SystemClock.now().trunc_subsecs(3);
    let a = post(&fx, "/api/v1/jobs/db-backup/pause").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(
        (&a.body["job"], &a.body["paused"]),
        (&"db-backup".into(), &true.into())
    );
    // Without a body: no reason, no end; who and when are recorded.
    let pause = &a.body["pause"];
    assert_eq!(
        (&pause["reason"], &pause["until"], &pause["by"]),
        (&Value::Null, &Value::Null, &"default".into()),
        "{pause}"
    );
    assert!(instant(&pause["at"]) >= asked, "{pause}");
    let jobs = get(&fx, "/api/v1/jobs").await.body;
    assert_eq!(jobs["jobs"][0]["paused"], true);
    assert_eq!(&jobs["jobs"][0]["pause"], pause);
    let a = post(&fx, "/api/v1/jobs/db-backup/resume").await;
    assert_eq!(
        a.body,
        serde_json::json!({"job": "db-backup", "paused": false, "pause": null})
    );
    assert!(!fx.with_state(|s| s.jobs["db-backup"].summary.paused));
    let jobs = get(&fx, "/api/v1/jobs").await.body;
    assert!(jobs["jobs"][0]["pause"].is_null(), "{}", jobs["jobs"][0]);
}

#[tokio::test]
async fn a_pause_has_a_reason_and_an_end() {
    let fx = Fixture::start();
    let a = post_body(
        &fx,
        "/api/v1/jobs/db-backup/pause",
        r#"{"reason": "disk swap", "until": "2h"}"#,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let pause = &a.body["pause"];
    assert_eq!(pause["reason"], "disk swap");
    // A duration counts from the moment of the pause.
    assert_eq!(
        instant(&pause["until"]) - instant(&pause["at"]),
        chrono::Duration::hours(2),
        "{pause}"
    );
    let detail = get(&fx, "/api/v1/jobs/db-backup").await.body;
    assert_eq!((&detail["paused"], &detail["pause"]), (&true.into(), pause));

    // An RFC 3339 end, in any offset; pausing again replaces the pause.
    let a = post_body(
        &fx,
        "/api/v1/jobs/db-backup/pause",
        r#"{"until": "2999-01-01T09:00:00+09:00"}"#,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["pause"]["until"], "2999-01-01T00:00:00.000Z");
    assert!(a.body["pause"]["reason"].is_null());
}

#[tokio::test]
async fn bad_pause_bodies_are_400s_and_pause_nothing() {
    let fx = Fixture::start();
    for (body, says) in [
        ("{\"reason\": ", "invalid pause request body"),
        (r#"{"until": "2h", "extra": 1}"#, "unknown field `extra`"),
        (r#"{"until": "soon"}"#, "invalid until \"soon\""),
        (r#"{"until": "0s"}"#, "is not in the future"),
        (
            r#"{"until": "2020-01-01T00:00:00Z"}"#,
            "is not in the future",
        ),
        (r#"{"reason": 5}"#, "invalid pause request body"),
    ] {
        for path in ["/api/v1/jobs/db-backup/pause", "/api/v1/pause"] {
            let a = post_body(&fx, path, body).await;
            assert_eq!(
                a.status,
                StatusCode::BAD_REQUEST,
                "{path} {body}: {}",
                a.body
            );
            assert!(error_of(&a).contains(says), "{path} {body}: {}", a.body);
        }
    }
    assert!(!fx.with_state(|s| s.jobs["db-backup"].summary.paused));
    // Only the job the fixture starts with paused.
    assert_eq!(
        fx.with_state(|s| s.jobs.values().filter(|j| j.summary.paused).count()),
        1
    );
}

#[tokio::test]
async fn pause_and_resume_every_job() {
    let fx = Fixture::start();
    let all = ["db-backup", "gateway-health", "long-report", "old-cleanup"];
    let a = post_body(
        &fx,
        "/api/v1/pause",
        r#"{"reason": "maintenance", "until": "1h"}"#,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["paused"], serde_json::json!(all));
    assert_eq!(a.body["pause"]["reason"], "maintenance");
    let jobs = get(&fx, "/api/v1/jobs").await.body;
    for job in jobs["jobs"].as_array().expect("jobs") {
        assert_eq!(job["paused"], true, "{job}");
        assert_eq!(job["pause"], a.body["pause"], "{job}");
    }
    let a = post(&fx, "/api/v1/resume").await;
    assert_eq!(a.body, serde_json::json!({"resumed": all}));
    // Nothing is paused any more, so nothing more is resumed.
    let a = post(&fx, "/api/v1/resume").await;
    assert_eq!(a.body, serde_json::json!({"resumed": []}));
    // No body: every job paused until it is resumed.
    let a = post(&fx, "/api/v1/pause").await;
    assert_eq!(a.body["paused"], serde_json::json!(all));
    assert!(a.body["pause"]["until"].is_null(), "{}", a.body);
}

#[tokio::test]
async fn run_accepts_waits_and_refuses_overlap() {
    let fx = Fixture::start();
    let a = post(&fx, "/api/v1/jobs/db-backup/run").await;
    assert_eq!(a.status, StatusCode::ACCEPTED);
    assert_eq!(
        a.body,
        serde_json::json!({"job": "db-backup", "run_id": "manual-1"})
    );

    let a = post(&fx, "/api/v1/jobs/gateway-health/run?wait=true").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body["run_id"], "manual-2");
    assert_eq!(a.body["job"], "gateway-health");
    assert_eq!(a.body["status"], "failed");
    assert_eq!(a.body["trigger"], "manual");
    assert_eq!(a.body["stdout"], "gateway-health says hello\n");

    let a = post(&fx, "/api/v1/jobs/long-report/run").await;
    assert_eq!(a.status, StatusCode::CONFLICT);
    assert!(error_of(&a).contains("forbid"));
}

#[tokio::test]
async fn a_waiting_run_outlives_the_request_deadline_and_idle_timeout() {
    let fx = Fixture::start_with(Limits {
        request_timeout: Duration::from_millis(400),
        idle_timeout: Duration::from_millis(300),
        ..Limits::default()
    });
    fx.with_state(|s| {
        let j = s.jobs.get_mut("db-backup").expect("job");
        j.run_time = Duration::from_millis(1200);
    });
    let started = Instant::now();
    let a = post(&fx, "/api/v1/jobs/db-backup/run?wait=true").await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["status"], "success");
    assert!(started.elapsed() >= Duration::from_millis(1200));
    // The same slow job without wait is answered at once.
    let started = Instant::now();
    let a = post(&fx, "/api/v1/jobs/db-backup/run").await;
    assert_eq!(a.status, StatusCode::ACCEPTED);
    assert!(started.elapsed() < Duration::from_millis(1000));
}

#[tokio::test]
async fn cancel_stops_active_runs_or_says_there_are_none() {
    let fx = Fixture::start();
    let a = post(&fx, "/api/v1/jobs/long-report/cancel").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body, serde_json::json!({"cancelled": ["r-long"]}));
    let a = post(&fx, "/api/v1/jobs/long-report/cancel").await;
    assert_eq!(a.status, StatusCode::CONFLICT);
    assert!(error_of(&a).contains("no active run"));
}

fn run_ids(a: &Answer) -> Vec<String> {
    a.body["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .map(|r| format!("{}#{}", r["run_id"].as_str().expect("id"), r["attempt"]))
        .collect()
}

#[tokio::test]
async fn runs_are_listed_newest_first_and_filtered() {
    let fx = Fixture::start();
    let a = get(&fx, "/api/v1/runs").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(
        run_ids(&a),
        [
            "r-gw-1#2",
            "r-gw-1#1",
            "r-db-1#1",
            "r-long-0#1",
            "r-retired-1#1"
        ]
    );
    assert_eq!(
        run_ids(&get(&fx, "/api/v1/runs?limit=2").await),
        ["r-gw-1#2", "r-gw-1#1"]
    );
    assert_eq!(
        run_ids(&get(&fx, "/api/v1/runs?job=db-backup").await),
        ["r-db-1#1"]
    );
    assert_eq!(
        run_ids(&get(&fx, "/api/v1/runs?status=timeout").await),
        ["r-retired-1#1"]
    );
    assert_eq!(
        run_ids(&get(&fx, "/api/v1/runs?since=1h").await),
        ["r-gw-1#2", "r-gw-1#1"]
    );
    let since = cronduct::record::ts::format(&at(fx.t0, -7300));
    assert_eq!(
        run_ids(&get(&fx, &format!("/api/v1/runs?since={since}")).await),
        ["r-gw-1#2", "r-gw-1#1", "r-db-1#1"]
    );
    let a = get(&fx, "/api/v1/runs?limit=1000").await;
    assert_eq!(a.status, StatusCode::OK);

    let a = get(&fx, "/api/v1/jobs/gateway-health/runs?limit=1").await;
    assert_eq!(run_ids(&a), ["r-gw-1#2"]);
    assert_eq!(a.body["runs"][0]["http_status"], 503);
    // A job removed from the config keeps its history.
    let a = get(&fx, "/api/v1/jobs/retired-job/runs").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(run_ids(&a), ["r-retired-1#1"]);
    // A configured job without runs is an empty list, not a 404.
    let a = get(&fx, "/api/v1/jobs/old-cleanup/runs").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body, serde_json::json!({"runs": []}));
}

#[tokio::test]
async fn one_run_lists_its_attempts_in_order() {
    let fx = Fixture::start();
    let a = get(&fx, "/api/v1/runs/r-gw-1").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body["run_id"], "r-gw-1");
    assert_eq!(a.body["job"], "gateway-health");
    let attempts: Vec<u64> = a.body["attempts"]
        .as_array()
        .expect("attempts")
        .iter()
        .map(|r| r["attempt"].as_u64().expect("attempt"))
        .collect();
    assert_eq!(attempts, [1, 2]);
    assert_eq!(a.body["attempts"][0]["will_retry"], true);
}

#[tokio::test]
async fn running_lists_active_attempts() {
    let fx = Fixture::start();
    let a = get(&fx, "/api/v1/running").await;
    assert_eq!(a.status, StatusCode::OK);
    let running = a.body["running"].as_array().expect("running");
    assert_eq!(running.len(), 1);
    let r = &running[0];
    assert_eq!(r["run_id"], "r-long");
    assert_eq!(r["job"], "long-report");
    assert_eq!(r["pid"], 4242);
    for field in ["attempt", "started_at", "elapsed_ms", "timeout_at"] {
        assert!(r.get(field).is_some(), "missing {field}");
    }
}

#[tokio::test]
async fn stats_cover_the_requested_days() {
    let fx = Fixture::start();
    let a = get(&fx, "/api/v1/stats").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body["period"]["days"], 7);
    let today = fx.t0.date_naive();
    assert_eq!(
        a.body["period"]["from"],
        format!("{}T00:00:00.000Z", today - chrono::Days::new(6))
    );
    let totals = &a.body["totals"];
    assert_eq!(
        totals["runs"],
        serde_json::json!({"success": 2, "failed": 1, "timeout": 1, "cancelled": 0, "error": 0, "lost": 0})
    );
    assert_eq!(totals["attempts"], 5, "the retried attempt counts here");
    assert_eq!(totals["success_rate"], 0.5);
    for field in ["avg_duration_ms", "p95_duration_ms"] {
        assert!(totals[field].is_u64(), "{field}: {totals}");
    }
    let gw = &a.body["jobs"]["gateway-health"];
    assert_eq!(gw["runs"]["failed"], 1);
    assert_eq!(gw["attempts"], 2);
    assert_eq!(gw["success_rate"], 0.0);
    assert_eq!(gw["avg_duration_ms"], 300);
    assert_eq!(gw["cpu_ms"], Value::Null, "an HTTP job uses no CPU of ours");
    let db = &a.body["jobs"]["db-backup"];
    assert_eq!(
        db["cpu_ms"],
        serde_json::json!({"total": 4510, "avg": 4510})
    );
    assert_eq!(db["max_rss_kib"], 12_800);
    assert!(
        a.body["jobs"].get("old-cleanup").is_none(),
        "only jobs that ran are listed"
    );
    let days = a.body["days"].as_array().expect("days");
    assert_eq!(days.len(), 7, "one bucket per date, empty ones included");
    assert_eq!(days[6]["date"], today.to_string());
    let per_day_runs: u64 = days
        .iter()
        .map(|d| {
            d["runs"]
                .as_object()
                .expect("runs")
                .values()
                .map(|n| n.as_u64().expect("count"))
                .sum::<u64>()
        })
        .sum();
    assert_eq!(per_day_runs, 4, "the days add up to the totals");

    let a = get(&fx, "/api/v1/stats?days=2").await;
    assert_eq!(a.body["period"]["days"], 2);
    assert_eq!(
        a.body["totals"]["runs"]["timeout"], 0,
        "the retired job ran 3 days ago"
    );
    assert!(a.body["jobs"].get("retired-job").is_none());
    assert_eq!(a.body["days"].as_array().expect("days").len(), 2);
}

#[tokio::test]
async fn reload_answers_the_diff_or_422_with_every_error() {
    let fx = Fixture::start();
    let a = post(&fx, "/api/v1/reload").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(
        a.body,
        serde_json::json!({"ok": true, "added": [], "removed": [], "changed": ["db-backup"]})
    );
    fx.with_state(|s| {
        s.reload_result = Err(vec![
            "jobs.toml:3:1: unknown key `shedule`; did you mean `schedule`?".into(),
            "jobs.toml:9:12: unknown time zone \"Mars/Base\"".into(),
        ])
    });
    let a = post(&fx, "/api/v1/reload").await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(error_of(&a).contains("old jobs keep running"));
    assert_eq!(
        a.body["errors"],
        serde_json::json!([
            "jobs.toml:3:1: unknown key `shedule`; did you mean `schedule`?",
            "jobs.toml:9:12: unknown time zone \"Mars/Base\""
        ])
    );
    assert_eq!(fx.with_state(|s| s.reloads), 2);
}

#[tokio::test]
async fn status_reports_the_process_and_the_scheduler() {
    let fx = Fixture::start();
    let a = get(&fx, "/api/v1/status").await;
    assert_eq!(a.status, StatusCode::OK);
    let b = &a.body;
    assert_eq!(b["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        b["pid"],
        std::process::id(),
        "the server runs in this process"
    );
    let uptime = b["uptime_seconds"].as_u64().expect("uptime");
    assert!((3600..3700).contains(&uptime), "{uptime}");
    assert_eq!(b["config"], "/etc/cronduct/jobs.toml");
    assert_eq!(b["last_reload"]["ok"], true);
    assert_eq!(
        b["jobs"],
        serde_json::json!({"total": 4, "enabled": 3, "paused": 1, "running": 1})
    );
    assert_eq!(b["next_run"]["job"], "gateway-health");
    assert_eq!(b["failures_24h"], 1, "the retried attempt is not a run");
    assert!(b["rss_bytes"].as_u64().expect("rss") > 1 << 20);
    assert!(b["cpu_seconds"].as_f64().expect("cpu") >= 0.0);
    assert_eq!(b["log"]["ok"], true);
}

fn scrape_text(text: &str) -> prometheus_parse::Scrape {
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("parse")
}

async fn scrape(fx: &Fixture) -> (String, prometheus_parse::Scrape) {
    let resp = client()
        .get(format!("{}/metrics", fx.url))
        .bearer_auth(KEY)
        .send()
        .await
        .expect("scrape");
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()[header::CONTENT_TYPE]
            .to_str()
            .expect("ct")
            .starts_with("text/plain; version=0.0.4")
    );
    let text = resp.text().await.expect("text");
    let parsed = scrape_text(&text);
    (text, parsed)
}

fn value(s: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    let found: Vec<&prometheus_parse::Sample> = s
        .samples
        .iter()
        .filter(|x| x.metric == name && labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v)))
        .collect();
    assert_eq!(found.len(), 1, "{name} {labels:?}: {found:?}");
    match &found[0].value {
        prometheus_parse::Value::Counter(v)
        | prometheus_parse::Value::Gauge(v)
        | prometheus_parse::Value::Untyped(v) => *v,
        other => panic!("{name}: unexpected {other:?}"),
    }
}

fn histogram(s: &prometheus_parse::Scrape, job: &str) -> (f64, HashMap<String, f64>) {
    let sample = s
        .samples
        .iter()
        .find(|x| x.metric == "cronduct_run_duration_seconds" && x.labels.get("job") == Some(job))
        .unwrap_or_else(|| panic!("no histogram for {job}"));
    match &sample.value {
        prometheus_parse::Value::Histogram(buckets) => {
            let by_le = buckets
                .iter()
                .map(|b| (b.less_than.to_string(), b.count))
                .collect();
            let count = value(s, "cronduct_run_duration_seconds_count", &[("job", job)]);
            (count, by_le)
        }
        other => panic!("not a histogram: {other:?}"),
    }
}

#[tokio::test]
async fn metrics_expose_runs_durations_and_live_gauges() {
    let fx = Fixture::start();
    let (text, s) = scrape(&fx).await;
    for family in [
        "cronduct_up",
        "cronduct_reload_success",
        "cronduct_runs_total",
        "cronduct_run_duration_seconds",
        "cronduct_last_success_timestamp_seconds",
        "cronduct_next_run_timestamp_seconds",
        "cronduct_running",
    ] {
        assert!(text.contains(&format!("# HELP {family} ")), "HELP {family}");
        assert!(text.contains(&format!("# TYPE {family} ")), "TYPE {family}");
    }
    assert_eq!(value(&s, "cronduct_up", &[]), 1.0);
    assert_eq!(value(&s, "cronduct_reload_success", &[]), 1.0);
    let runs = |s: &prometheus_parse::Scrape, job: &str, status: &str| {
        value(
            s,
            "cronduct_runs_total",
            &[("job", job), ("status", status)],
        )
    };
    assert_eq!(runs(&s, "db-backup", "success"), 1.0);
    assert_eq!(
        runs(&s, "gateway-health", "failed"),
        1.0,
        "runs, not attempts"
    );
    assert_eq!(runs(&s, "gateway-health", "success"), 0.0);
    assert_eq!(runs(&s, "old-cleanup", "lost"), 0.0, "zeros for every job");
    assert_eq!(runs(&s, "retired-job", "timeout"), 1.0);

    let (count, buckets) = histogram(&s, "gateway-health");
    assert_eq!(count, 2.0, "both attempts observed");
    assert_eq!(buckets["0.5"], 2.0);
    assert_eq!(buckets["0.1"], 0.0);
    let (_, buckets) = histogram(&s, "long-report");
    assert_eq!(buckets["1800"], 0.0);
    assert_eq!(buckets["3600"], 1.0);

    let last_ok = value(
        &s,
        "cronduct_last_success_timestamp_seconds",
        &[("job", "db-backup")],
    );
    assert_eq!(last_ok, at(fx.t0, -7200).timestamp_millis() as f64 / 1000.0);
    let next = value(
        &s,
        "cronduct_next_run_timestamp_seconds",
        &[("job", "db-backup")],
    );
    assert_eq!(next, at(fx.t0, 210).timestamp_millis() as f64 / 1000.0);
    assert_eq!(
        value(&s, "cronduct_running", &[("job", "long-report")]),
        1.0
    );
    assert_eq!(value(&s, "cronduct_running", &[("job", "db-backup")]), 0.0);

    // A new run is counted once, however often it is scraped.
    fx.record(finish(
        "r-db-2",
        "db-backup",
        1,
        Status::Success,
        at(fx.t0, -60),
        4000,
        false,
    ));
    let (_, s) = scrape(&fx).await;
    assert_eq!(runs(&s, "db-backup", "success"), 2.0);
    let (_, s) = scrape(&fx).await;
    assert_eq!(runs(&s, "db-backup", "success"), 2.0);
    assert_eq!(
        value(
            &s,
            "cronduct_last_success_timestamp_seconds",
            &[("job", "db-backup")]
        ),
        at(fx.t0, -60).timestamp_millis() as f64 / 1000.0
    );

    fx.with_state(|st| st.reload_result = Err(vec!["bad".into()]));
    post(&fx, "/api/v1/reload").await;
    let (_, s) = scrape(&fx).await;
    assert_eq!(value(&s, "cronduct_reload_success", &[]), 0.0);
}

#[test]
fn idle_and_dribbling_connections_are_closed() {
    let fx = Fixture::start_with(Limits {
        idle_timeout: Duration::from_millis(600),
        ..Limits::default()
    });
    let closed_within = |mut s: std::net::TcpStream, dribble: bool| {
        s.set_read_timeout(Some(Duration::from_millis(50)))
            .expect("timeout");
        let deadline = Instant::now() + Duration::from_secs(5);
        let started = Instant::now();
        if dribble {
            s.write_all(b"GET /health HTTP/1.1\r\n").expect("write");
        }
        let mut buf = [0u8; 64];
        while Instant::now() < deadline {
            if dribble {
                // A byte of a header line every poll keeps the socket busy
                // but never completes the request.
                if s.write_all(b"X").is_err() {
                    return started.elapsed();
                }
            }
            match s.read(&mut buf) {
                Ok(0) => return started.elapsed(),
                Ok(_) => panic!("unexpected answer"),
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(_) => return started.elapsed(),
            }
        }
        panic!("connection still open after 5s");
    };
    let idle = closed_within(
        std::net::TcpStream::connect(fx.addr).expect("connect"),
        false,
    );
    assert!(idle >= Duration::from_millis(550), "{idle:?}");
    let dribbling = closed_within(
        std::net::TcpStream::connect(fx.addr).expect("connect"),
        true,
    );
    assert!(dribbling < Duration::from_secs(3), "{dribbling:?}");

    // Keep-alive: a connection that just got an answer has a fresh idle
    // period for its next request, so four requests 200 ms apart outlive
    // one idle period.
    let mut s = std::net::TcpStream::connect(fx.addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    for _ in 0..4 {
        s.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .expect("write");
        let mut buf = [0u8; 4096];
        let n = s.read(&mut buf).expect("answer");
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[tokio::test]
async fn at_the_cap_idle_connections_make_room_and_busy_ones_leave_health() {
    let fx = Fixture::start_with(Limits {
        max_connections: 2,
        ..Limits::default()
    });
    // Two idle clients hold the cap; a third is answered (the one idle
    // longest is closed for it).
    let mut held: Vec<std::net::TcpStream> = (0..2)
        .map(|_| std::net::TcpStream::connect(fx.addr).expect("connect"))
        .collect();
    let url = format!("{}/health", fx.url);
    let a = send(client().get(&url).timeout(Duration::from_secs(2))).await;
    assert_eq!(a.status, StatusCode::OK);
    held[0]
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let mut buf = [0u8; 16];
    assert!(
        matches!(held[0].read(&mut buf), Ok(0) | Err(_)),
        "the longest idle connection was closed"
    );
    drop(held);

    // Two requests in progress hold the cap: nothing can be closed, so a
    // new connection is served for /health only.
    fx.with_state(|s| {
        let job = s.jobs.get_mut("db-backup").expect("job");
        job.run_time = Duration::from_secs(3);
        job.forbid = false;
    });
    let wait_url = format!("{}/api/v1/jobs/db-backup/run?wait=true", fx.url);
    let busy: Vec<_> = (0..2)
        .map(|_| {
            let req = client().post(&wait_url).bearer_auth(KEY);
            tokio::spawn(async move { req.send().await.map(|r| r.status()) })
        })
        .collect();
    poll::within_async(Duration::from_secs(5), || {
        (fx.with_state(|s| s.next_run_id) >= 3).then_some(())
    })
    .await
    .expect("both runs in progress");
    // One connection, kept alive: /health is answered on it, anything
    // else refused.
    let mut spare = std::net::TcpStream::connect(fx.addr).expect("connect");
    spare
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let mut ask = |path: &str| {
        spare
            .write_all(
                format!(
                    "GET {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {KEY}\r\n\r\n"
                )
                .as_bytes(),
            )
            .expect("send");
        let mut buf = [0u8; 4096];
        let n = spare.read(&mut buf).expect("an answer");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let health = ask("/health");
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    let jobs = ask("/api/v1/jobs");
    assert!(jobs.starts_with("HTTP/1.1 503"), "{jobs}");
    assert!(jobs.contains("only /health"), "{jobs}");
    for b in busy {
        assert_eq!(b.await.expect("task").expect("answer"), StatusCode::OK);
    }
}

#[test]
fn shutdown_drains_requests_in_progress() {
    let mut fx = Fixture::start();
    fx.with_state(|s| {
        s.jobs.get_mut("db-backup").expect("job").run_time = Duration::from_millis(800);
    });
    let url = format!("{}/api/v1/jobs/db-backup/run?wait=true", fx.url);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    let waiting = std::thread::spawn(move || {
        rt.block_on(async {
            let resp = client()
                .post(url)
                .bearer_auth(KEY)
                .send()
                .await
                .expect("send");
            (resp.status(), resp.text().await.expect("body"))
        })
    });
    // Shut down only once the run is in progress.
    poll::until("the run to start", Duration::from_secs(5), || {
        (fx.with_state(|s| s.next_run_id) != 1).then_some(())
    });
    fx.begin_stop();
    let (status, body) = waiting.join().expect("client thread");
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("\"status\":\"success\""));
    fx.stop().expect("serve returns Ok");
    assert!(
        std::net::TcpStream::connect(fx.addr).is_err(),
        "no longer listening"
    );
}

/// The typed client against the real server: every method reaches its
/// endpoint (the paths are the router's own) and parses the answer.
#[tokio::test]
async fn the_typed_client_speaks_every_endpoint() {
    use cronduct::api::client::{Client, ClientError, RunQuery};
    use cronduct::wire::HealthStatus;

    let fx = Fixture::start();
    let c = Client::new(fx.url.parse().expect("url"), KEY).expect("client");

    assert_eq!(
        c.health().await.expect("health").status,
        HealthStatus::Healthy
    );
    assert!(
        c.metrics()
            .await
            .expect("metrics")
            .contains("cronduct_up 1\n")
    );
    let status = c.status().await.expect("status");
    assert_eq!((status.jobs.total, status.notifications.failed), (4, 0));
    let jobs = c.jobs().await.expect("jobs");
    assert_eq!(jobs.jobs.len(), 4);
    let job = c.job("db-backup").await.expect("job");
    assert_eq!(job.job.summary.id, "db-backup");
    assert_eq!(job.job.settings["retries"], 3);
    assert_eq!(job.stats.total, 1);

    let request = PauseRequest {
        reason: Some("disk swap".into()),
        until: Some("30m".into()),
    };
    let paused = c.pause("db-backup", &request).await.expect("pause");
    let pause = paused.pause.expect("the pause");
    assert_eq!(pause.reason.as_deref(), Some("disk swap"));
    assert_eq!(
        pause.until.zip(pause.at).map(|(u, a)| u - a),
        Some(chrono::Duration::minutes(30))
    );
    assert!(!c.resume("db-backup").await.expect("resume").paused);
    let all = c
        .pause_all(&PauseRequest::default())
        .await
        .expect("pause all");
    assert_eq!(all.paused.len(), 4);
    assert_eq!(c.resume_all().await.expect("resume all").resumed.len(), 4);
    let started = c.trigger("db-backup").await.expect("trigger");
    assert_eq!(started.job, "db-backup");
    let record = c.trigger_and_wait("db-backup").await.expect("wait");
    assert_eq!(record.status, Status::Success);
    assert_eq!(
        c.cancel("long-report").await.expect("cancel").cancelled,
        ["r-long"]
    );

    let failed = c
        .job_runs("gateway-health", Some(Status::Failed), Some(1))
        .await
        .expect("job runs");
    assert_eq!(failed.runs.len(), 1);
    let recent = c
        .runs(&RunQuery {
            job: Some("gateway-health".into()),
            since: Some(at(fx.t0, -1000)),
            ..RunQuery::default()
        })
        .await
        .expect("runs");
    assert_eq!(recent.runs.len(), 2, "both attempts of r-gw-1");
    let attempts = c.run("r-gw-1").await.expect("run");
    assert_eq!(
        (attempts.job.as_str(), attempts.attempts.len()),
        ("gateway-health", 2)
    );
    assert!(c.running().await.expect("running").running.is_empty());
    assert_eq!(c.stats(7).await.expect("stats").period.days, 7);
    assert_eq!(c.reload().await.expect("reload").changed, ["db-backup"]);

    // Refusals carry the server's status and message.
    let e = c.job("nope").await.expect_err("unknown job");
    assert_eq!(e.status(), Some(StatusCode::NOT_FOUND));
    assert_eq!(e.to_string(), "unknown job \"nope\"");
    let e = c.stats(91).await.expect_err("too many days");
    assert_eq!(e.status(), Some(StatusCode::BAD_REQUEST));
    assert!(matches!(
        c.run("..").await,
        Err(ClientError::InvalidRunId(_))
    ));
    let wrong = Client::new(fx.url.parse().expect("url"), "not-the-key").expect("client");
    let e = wrong.jobs().await.expect_err("wrong key");
    assert_eq!(e.status(), Some(StatusCode::UNAUTHORIZED));
}

/// Every health state the scheduler's answers and the history can give
/// today, in the list, the detail, `/metrics` and the status counts.
#[tokio::test]
async fn each_job_has_a_health() {
    let fx = Fixture::start();
    // Before the first request: the fake does not move `jobs_version`.
    fx.with_state(|s| {
        let mut fresh = s.jobs["db-backup"].clone();
        fresh.summary.id = "fresh".into();
        s.jobs.insert("fresh".into(), fresh);
        let long = s.jobs.get_mut("long-report").expect("long-report");
        long.summary.paused = true;
    });
    let a = get(&fx, "/api/v1/jobs").await;
    let health: HashMap<&str, &str> = a.body["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .map(|j| {
            (
                j["id"].as_str().expect("id"),
                j["health"].as_str().expect("health"),
            )
        })
        .collect();
    assert_eq!(
        health,
        HashMap::from([
            ("db-backup", "ok"),
            ("gateway-health", "failing"),
            ("long-report", "paused"),
            ("old-cleanup", "disabled"),
            ("fresh", "never_run"),
        ])
    );
    let detail = get(&fx, "/api/v1/jobs/gateway-health").await;
    assert_eq!(detail.body["health"], "failing");

    let (_, s) = scrape(&fx).await;
    for (job, state) in health {
        for other in [
            "ok",
            "failing",
            "overdue",
            "slow",
            "paused",
            "disabled",
            "never_run",
        ] {
            let want = f64::from(u8::from(other == state));
            assert_eq!(
                value(&s, "cronduct_job_health", &[("job", job), ("state", other)]),
                want,
                "{job} {other}"
            );
        }
    }

    let status = get(&fx, "/api/v1/status").await;
    assert_eq!(
        status.body["jobs_analysis"]["health"],
        serde_json::json!({"disabled": 1, "paused": 1, "slow": 0, "failing": 1,
            "overdue": 0, "never_run": 1, "ok": 1})
    );
}

#[tokio::test]
async fn a_failing_critical_job_degrades_health_by_name() {
    let fx = Fixture::start();
    assert_eq!(get(&fx, "/health").await.body["status"], "healthy");
    fx.with_state(|s| {
        for id in ["gateway-health", "db-backup"] {
            s.jobs.get_mut(id).expect(id).summary.signals.critical = true;
        }
    });
    let a = get(&fx, "/health").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body["status"], "degraded");
    assert_eq!(
        a.body["warnings"],
        serde_json::json!(["critical job \"gateway-health\" is failing"]),
        "the succeeding critical job is not named"
    );
}

#[tokio::test]
async fn status_analyses_recent_runs_per_job() {
    let fx = Fixture::start();
    let a = get(&fx, "/api/v1/status").await;
    let analysis = &a.body["jobs_analysis"];
    assert_eq!(analysis["jobs_with_errors"], 1, "{analysis}");
    let gw = &analysis["jobs"]["gateway-health"];
    assert_eq!(
        gw["last_24h"],
        serde_json::json!({"runs": 1, "errors": 1, "error_rate": 1.0,
            "avg_duration_ms": 300, "min_duration_ms": 300, "max_duration_ms": 300}),
        "the retried attempt is not a run"
    );
    let long = &analysis["jobs"]["long-report"];
    assert_eq!(
        long["last_24h"]["runs"], 0,
        "finished exactly 24 h ago: {long}"
    );
    assert_eq!(long["last_24h"]["error_rate"], Value::Null);
    assert_eq!(long["last_7d"]["runs"], 1);
    assert_eq!(long["last_7d"]["max_duration_ms"], 3_600_000);
    assert!(
        analysis["jobs"].get("retired-job").is_none(),
        "only configured jobs: {analysis}"
    );

    // A new failure of db-backup moves the answer at once.
    fx.log.write(cronduct::record::LogEvent::Finish(finish(
        "r-db-2",
        "db-backup",
        1,
        Status::Timeout,
        at(fx.t0, -1),
        100,
        false,
    )));
    fx.log.flush().await.expect("flush");
    let b = get(&fx, "/api/v1/status").await;
    let db = &b.body["jobs_analysis"]["jobs"]["db-backup"]["last_24h"];
    assert_eq!(
        (db["runs"].as_u64(), db["errors"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(db["error_rate"], 0.5);
    assert_eq!(db["min_duration_ms"], 100);
    assert_eq!(b.body["jobs_analysis"]["jobs_with_errors"], 2);
}

#[tokio::test]
async fn status_names_its_components() {
    let fx = Fixture::start();
    let a = get(&fx, "/api/v1/status").await;
    let c = &a.body["components"];
    assert_eq!(c["scheduler"]["status"], "available", "{c}");
    assert_eq!(c["scheduler"]["ok"], true);
    assert_eq!(c["log"]["status"], "available");
    for channel in ["smtp", "webhook"] {
        assert_eq!(
            c[channel],
            serde_json::json!({"status": "available", "ok": null, "at": null, "error": null}),
            "nothing delivered yet"
        );
    }
    assert_eq!(a.body["scheduler"]["running"], true);
    assert!(a.body["scheduler"]["timezone"].is_string());
}

#[tokio::test]
async fn stats_of_one_job_count_only_its_runs() {
    let fx = Fixture::start();
    let a = get(&fx, "/api/v1/stats?days=7&job=gateway-health").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(
        a.body["totals"]["runs"],
        serde_json::json!({"success": 0, "failed": 1, "timeout": 0, "cancelled": 0, "error": 0, "lost": 0})
    );
    let jobs: Vec<&String> = a.body["jobs"].as_object().expect("jobs").keys().collect();
    assert_eq!(jobs, ["gateway-health"]);
    let days = a.body["days"].as_array().expect("days");
    assert_eq!(days.len(), 7);
    let failed: u64 = days
        .iter()
        .map(|d| d["runs"]["failed"].as_u64().expect("count"))
        .sum();
    assert_eq!(failed, 1, "its failure is in its day");
    let a = get(&fx, "/api/v1/stats?days=30&job=never-heard-of").await;
    assert_eq!(
        a.status,
        StatusCode::OK,
        "a job without runs has empty days"
    );
    assert_eq!(a.body["totals"]["attempts"], 0);
    assert_eq!(a.body["days"].as_array().expect("days").len(), 30);
}

/// A raw GET of one of the status page's paths (no key), with `headers`.
async fn page_get(fx: &Fixture, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut req = client().get(format!("{}{path}", fx.url));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.expect("request")
}

#[tokio::test]
async fn the_status_page_is_served_without_a_key_with_a_strict_policy() {
    let fx = Fixture::start();
    let shell = page_get(&fx, "/", &[]).await;
    assert_eq!(shell.status(), StatusCode::OK);
    let h = shell.headers().clone();
    assert_eq!(h[header::CONTENT_TYPE], "text/html; charset=utf-8");
    let csp = h[header::CONTENT_SECURITY_POLICY].to_str().expect("csp");
    assert!(csp.starts_with("default-src 'self';"), "{csp}");
    for part in [
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(part), "{part} in {csp}");
    }
    assert!(!csp.contains("unsafe"), "{csp}");
    assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    let html = shell.text().await.expect("body");
    assert!(html.contains(r#"<script type="module" src="/ui/app.js">"#));
    assert!(
        !html.contains("<script>") && !html.contains("<style") && !html.contains(" style="),
        "no inline script or style"
    );
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no other host"
    );

    for (file, kind) in [
        ("app.js", "text/javascript; charset=utf-8"),
        ("api.js", "text/javascript; charset=utf-8"),
        ("chart.js", "text/javascript; charset=utf-8"),
        ("style.css", "text/css; charset=utf-8"),
        ("icon.svg", "image/svg+xml"),
    ] {
        let a = page_get(&fx, &format!("/ui/{file}"), &[]).await;
        assert_eq!(a.status(), StatusCode::OK, "{file}");
        assert_eq!(a.headers()[header::CONTENT_TYPE], kind, "{file}");
    }
    let a = page_get(&fx, "/ui/secrets.json", &[]).await;
    assert_eq!(a.status(), StatusCode::NOT_FOUND);
    // The page is open; the data behind it is not.
    let a = page_get(&fx, "/api/v1/jobs", &[]).await;
    assert_eq!(a.status(), StatusCode::UNAUTHORIZED);
    // The Host check covers the page too (DNS rebinding).
    let a = page_get(&fx, "/", &[("host", "evil.example")]).await;
    assert_eq!(a.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_page_files_come_gzipped_and_as_304_when_unchanged() {
    use std::io::Read as _;
    let fx = Fixture::start();
    let plain = page_get(&fx, "/ui/app.js", &[]).await;
    let etag = plain.headers()[header::ETAG]
        .to_str()
        .expect("etag")
        .to_string();
    let source = plain.bytes().await.expect("body");
    let gz = page_get(&fx, "/ui/app.js", &[("accept-encoding", "gzip")]).await;
    assert_eq!(gz.headers()[header::CONTENT_ENCODING], "gzip");
    let packed = gz.bytes().await.expect("body");
    assert!(
        packed.len() * 2 < source.len(),
        "{} of {}",
        packed.len(),
        source.len()
    );
    let mut unpacked = Vec::new();
    flate2::read::GzDecoder::new(&packed[..])
        .read_to_end(&mut unpacked)
        .expect("gunzip");
    assert_eq!(unpacked, source);
    let again = page_get(&fx, "/ui/app.js", &[("if-none-match", &etag)]).await;
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert!(
        again
            .headers()
            .contains_key(header::CONTENT_SECURITY_POLICY)
    );
    assert!(again.bytes().await.expect("body").is_empty());
}
