//! The notices of cronduct.toml(5) NOTIFICATIONS against real peers on
//! 127.0.0.1: each webhook format checked the way its service parses it, a
//! healthchecks-protocol server for `notify.ping`, the SMTP sink for the
//! new events.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::smtp_sink::{Behaviour, SmtpSink};
use axum::extract::State;
use axum::http::Uri;
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, TimeZone, Utc};
use cronduct::config::model::{
    Action, Command, HeaderValue, Job, Notify, NotifyOn, SmtpSettings, SmtpTls, Webhook,
    WebhookFormat,
};
use cronduct::notify::{
    DeliveryOptions, Event, Missed, Notice, Notifier, Overdue, Skipped, SlowRun,
};
use cronduct::record::{FinishRecord, Status};
use cronduct::testkit::finish;
use serde_json::Value;
use tokio::time::Instant;

const WAIT: Duration = Duration::from_secs(10);

fn all_on() -> NotifyOn {
    NotifyOn {
        failure: true,
        recovery: true,
        success: true,
        slow: true,
        overdue: true,
        missed: true,
        skipped: true,
    }
}

fn job(notify: Notify) -> Job {
    Job {
        notify: Some(notify),
        ..Job::new(
            "db-backup",
            "0 2 * * *".parse().expect("valid schedule"),
            cronduct::zone::Zone::utc(),
            Action::Command(Command::Shell("pg_dump app".into())),
            "jobs.toml",
        )
    }
}

fn notify(email: &[&str], webhook: Option<Webhook>, ping: Option<String>) -> Notify {
    Notify {
        email: email.iter().map(|s| s.to_string()).collect(),
        webhook,
        ping,
        on: all_on(),
        after: 1,
    }
}

fn hook(url: &str, format: WebhookFormat) -> Webhook {
    Webhook {
        url: url.into(),
        format,
        headers: BTreeMap::new(),
    }
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 29, 6, 0, 0)
        .single()
        .expect("valid instant")
}

fn record(run_id: &str, status: Status, stderr: &str) -> FinishRecord {
    FinishRecord {
        attempt: 2,
        stdout: "dumping table users\n".into(),
        stderr: stderr.into(),
        host: "web1".into(),
        node: None,
        ..finish(
            "db-backup",
            run_id,
            status,
            t0() + chrono::Duration::milliseconds(5123),
            5123,
        )
    }
}

fn failure(run_id: &str, stderr: &str) -> Notice {
    Notice::Run {
        event: Event::Failure,
        record: Box::new(record(run_id, Status::Failed, stderr)),
    }
}

fn slow(run_id: &str) -> Notice {
    Notice::Slow(SlowRun {
        run_id: run_id.into(),
        attempt: 1,
        started_at: t0(),
        elapsed: Duration::from_secs(725),
        warn_after: Duration::from_secs(600),
    })
}

fn fast() -> DeliveryOptions {
    DeliveryOptions {
        retry_delays: vec![Duration::from_millis(20); 3],
        timeout: Duration::from_secs(5),
        ..DeliveryOptions::default()
    }
}

fn start(smtp_port: Option<u16>, options: DeliveryOptions) -> Notifier {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder().build().expect("http client");
    let smtp = smtp_port.map(|port| SmtpSettings {
        host: "127.0.0.1".into(),
        port,
        tls: SmtpTls::None,
        from: "cronduct@web1.example.com".into(),
        username: None,
        password_file: None,
    });
    Notifier::start(smtp, "web1".into(), http, options)
}

/// One request as the receiver got it.
#[derive(Debug, Clone)]
struct Got {
    path: String,
    headers: HeaderMap,
    body: String,
}

impl Got {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }
}

#[derive(Clone)]
struct Receiver {
    got: Arc<Mutex<Vec<Got>>>,
    statuses: Arc<Mutex<Vec<u16>>>,
}

async fn receive(
    State(r): State<Receiver>,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> StatusCode {
    r.got.lock().expect("lock").push(Got {
        path: uri.path().to_string(),
        headers,
        body,
    });
    let mut statuses = r.statuses.lock().expect("lock");
    let code = if statuses.is_empty() {
        200
    } else {
        statuses.remove(0)
    };
    StatusCode::from_u16(code).expect("valid status")
}

/// A local HTTP server taking every POST; answers `statuses` in turn,
/// then 200.
struct Server {
    base: String,
    r: Receiver,
}

impl Server {
    async fn start(statuses: &[u16]) -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("address").port();
        let r = Receiver {
            got: Arc::default(),
            statuses: Arc::new(Mutex::new(statuses.to_vec())),
        };
        let app = axum::Router::new()
            .fallback(axum::routing::post(receive))
            .with_state(r.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Server {
            base: format!("http://127.0.0.1:{port}"),
            r,
        }
    }

    fn got(&self) -> Vec<Got> {
        self.r.got.lock().expect("lock").clone()
    }

    async fn wait_for(&self, n: usize) -> Vec<Got> {
        let deadline = Instant::now() + WAIT;
        while self.got().len() < n {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {n} requests"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.got()
    }
}

async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Checks an Adaptive Card the way the Teams workflow's schema does: the
/// envelope, then the card's required `type`/`version`, then each body
/// element's type and the properties that type requires.
fn check_teams_card(doc: &Value) {
    assert_eq!(doc["type"], "message", "{doc}");
    let attachments = doc["attachments"].as_array().expect("attachments array");
    assert_eq!(attachments.len(), 1, "{doc}");
    let a = &attachments[0];
    assert_eq!(a["contentType"], "application/vnd.microsoft.card.adaptive");
    let card = &a["content"];
    assert_eq!(card["type"], "AdaptiveCard", "{card}");
    let version = card["version"].as_str().expect("version is a string");
    let (major, minor) = version.split_once('.').expect("version is major.minor");
    assert_eq!(major, "1");
    assert!(
        minor.parse::<u32>().expect("numeric minor") <= 5,
        "Teams renders up to 1.5"
    );
    assert!(
        card["$schema"]
            .as_str()
            .is_some_and(|s| s.contains("adaptivecards.io")),
        "{card}"
    );
    let body = card["body"].as_array().expect("body array");
    assert!(!body.is_empty());
    for el in body {
        match el["type"].as_str().expect("element type") {
            "TextBlock" => {
                assert!(el["text"].is_string(), "TextBlock needs text: {el}");
                for (key, allowed) in [
                    ("weight", &["Default", "Lighter", "Bolder"][..]),
                    (
                        "size",
                        &["Default", "Small", "Medium", "Large", "ExtraLarge"],
                    ),
                    (
                        "color",
                        &[
                            "Default",
                            "Dark",
                            "Light",
                            "Accent",
                            "Good",
                            "Warning",
                            "Attention",
                        ],
                    ),
                    ("fontType", &["Default", "Monospace"]),
                ] {
                    if let Some(v) = el.get(key) {
                        assert!(
                            allowed.contains(&v.as_str().expect("string")),
                            "{key}: {el}"
                        );
                    }
                }
            }
            "FactSet" => {
                let facts = el["facts"].as_array().expect("FactSet needs facts");
                for f in facts {
                    assert!(f["title"].is_string() && f["value"].is_string(), "{f}");
                }
            }
            other => panic!("unexpected element type {other}"),
        }
    }
}

#[tokio::test]
async fn each_format_posts_what_its_service_parses() {
    let server = Server::start(&[]).await;
    let notifier = start(
        None,
        DeliveryOptions {
            rate_limit: 0,
            ..fast()
        },
    );
    let long = "x".repeat(5000);
    let formats = [
        WebhookFormat::Json,
        WebhookFormat::Slack,
        WebhookFormat::Discord,
        WebhookFormat::Teams,
        WebhookFormat::Ntfy,
    ];
    for (i, format) in formats.into_iter().enumerate() {
        let url = format!("{}/f{i}", server.base);
        let j = job(notify(&[], Some(hook(&url, format)), None));
        notifier.send(
            &j,
            failure("r1", &format!("pg_dump: connection refused <db> & {long}")),
        );
    }
    let mut got = server.wait_for(formats.len()).await;
    got.sort_by(|a, b| a.path.cmp(&b.path));

    let doc = got[0].json();
    assert_eq!(doc["event"], "failure");
    assert_eq!(doc["job"], "db-backup");
    assert_eq!(doc["host"], "web1");
    assert_eq!(doc["attempts"], 2);
    assert_eq!(doc["record"]["run_id"], "r1");

    // Slack (and Mattermost, Rocket.Chat): `text`, a string, mrkdwn-escaped.
    let text = got[1].json()["text"]
        .as_str()
        .expect("text is a string")
        .to_string();
    assert!(
        text.contains("db-backup on web1: FAILED (exit 1)"),
        "{text}"
    );
    assert!(
        text.contains("Attempts: 2") && text.contains("Duration: 5.1s"),
        "{text}"
    );
    assert!(
        text.contains("pg_dump: connection refused &lt;db&gt; &amp;"),
        "{text}"
    );

    // Discord: `content` within its 2000-character limit.
    let content = got[2].json()["content"]
        .as_str()
        .expect("content")
        .to_string();
    assert!(
        content.chars().count() <= 2000,
        "{} chars",
        content.chars().count()
    );
    assert!(
        content.contains("**[cronduct] db-backup on web1: FAILED (exit 1)**"),
        "{content}"
    );
    assert!(content.contains("pg_dump: connection refused"), "{content}");

    let card = got[3].json();
    check_teams_card(&card);
    let card_text = card.to_string();
    assert!(
        card_text.contains("db-backup on web1: FAILED (exit 1)"),
        "{card_text}"
    );
    assert_eq!(got[3].header("content-type"), Some("application/json"));

    // ntfy: plain text, the title and priority in headers.
    let n = &got[4];
    assert!(
        n.header("content-type")
            .is_some_and(|c| c.starts_with("text/plain"))
    );
    assert_eq!(
        n.header("title"),
        Some("[cronduct] db-backup on web1: FAILED (exit 1)")
    );
    assert_eq!(n.header("priority"), Some("high"));
    assert!(
        n.header("tags")
            .is_some_and(|t| t.contains("rotating_light"))
    );
    assert!(
        n.body.contains("Attempts: 2") && n.body.contains("pg_dump: connection"),
        "{}",
        n.body
    );
    assert!(
        serde_json::from_str::<Value>(&n.body).is_err(),
        "ntfy gets plain text"
    );
}

#[tokio::test]
async fn new_events_have_their_own_json_fields_and_chat_text() {
    let server = Server::start(&[]).await;
    let notifier = start(
        None,
        DeliveryOptions {
            rate_limit: 0,
            ..fast()
        },
    );
    let json = job(notify(
        &[],
        Some(hook(&format!("{}/json", server.base), WebhookFormat::Json)),
        None,
    ));
    let ntfy = job(notify(
        &[],
        Some(hook(&format!("{}/ntfy", server.base), WebhookFormat::Ntfy)),
        None,
    ));
    let missed = Missed::new((0..130).map(|i| t0() + chrono::Duration::minutes(i)), t0());
    let notices = [
        slow("r9"),
        Notice::Overdue(Overdue {
            last_success: None,
            window: Duration::from_secs(7200),
            due_at: t0(),
        }),
        Notice::Missed(missed),
        Notice::Skipped(Skipped {
            scheduled_at: t0(),
            reason: "a run is still active".into(),
        }),
    ];
    for n in &notices {
        notifier.send(&json, n.clone());
    }
    // ntfy's priority follows the alarm: high for overdue, default for slow.
    notifier.send(&ntfy, notices[0].clone());
    notifier.send(&ntfy, notices[1].clone());
    let got = server.wait_for(6).await;
    let docs: Vec<Value> = got
        .iter()
        .filter(|g| g.path == "/json")
        .map(Got::json)
        .collect();
    assert_eq!(docs.len(), 4);
    assert_eq!(docs[0]["event"], "slow");
    assert_eq!(docs[0]["run_id"], "r9");
    assert_eq!(docs[0]["elapsed_ms"], 725_000);
    assert_eq!(docs[0]["warn_after_ms"], 600_000);
    assert_eq!(docs[0]["started_at"], "2026-03-29T06:00:00.000Z");
    assert_eq!(docs[1]["event"], "overdue");
    assert_eq!(docs[1]["last_success"], Value::Null);
    assert_eq!(docs[1]["expect_success_within_ms"], 7_200_000);
    assert_eq!(docs[2]["event"], "missed");
    assert_eq!(docs[2]["scheduled_at"].as_array().expect("list").len(), 100);
    assert_eq!(docs[2]["more"], 30);
    assert_eq!(docs[3]["event"], "skipped");
    assert_eq!(docs[3]["reason"], "a run is still active");
    let ntfy: Vec<&Got> = got.iter().filter(|g| g.path == "/ntfy").collect();
    let priorities: Vec<_> = ntfy.iter().map(|g| g.header("priority")).collect();
    assert_eq!(priorities, vec![Some("default"), Some("high")]);
    assert!(
        ntfy[0]
            .header("title")
            .is_some_and(|t| t.contains("slow (running for 12m05s)"))
    );
}

#[tokio::test]
async fn a_header_from_a_file_reaches_the_receiver_and_never_the_log() {
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::DEBUG)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let dir = tempfile::tempdir().expect("temp dir");
    let token = dir.path().join("token");
    std::fs::write(&token, "Bearer s3cret-t0ken\n").expect("write token");
    // The first answer is a refusal, so the retry path logs too.
    let server = Server::start(&[500]).await;
    let notifier = start(None, fast());
    let mut h = hook(&format!("{}/slack", server.base), WebhookFormat::Slack);
    h.headers
        .insert("Authorization".into(), HeaderValue::File(token.clone()));
    h.headers
        .insert("X-Team".into(), HeaderValue::Text("ops".into()));
    notifier.send(&job(notify(&[], Some(h), None)), failure("r1", ""));
    let got = server.wait_for(2).await;
    assert_eq!(got[1].header("authorization"), Some("Bearer s3cret-t0ken"));
    assert_eq!(got[1].header("x-team"), Some("ops"));
    until("the delivery", || notifier.stats().delivered == 1).await;

    // A value that cannot be a header is reported by name, not by value.
    std::fs::write(&token, "s3cret\nsecond-line-s3cret\n").expect("write token");
    let mut bad = hook(&format!("{}/slack", server.base), WebhookFormat::Slack);
    bad.headers
        .insert("Authorization".into(), HeaderValue::File(token));
    notifier.send(&job(notify(&[], Some(bad), None)), failure("r2", ""));
    until("the bad header to be given up", || {
        notifier.stats().failed == 1
    })
    .await;
    let text = logs.text();
    assert!(text.contains("webhook header Authorization"), "{text}");
    assert!(!text.contains("s3cret"), "{text}");
}

#[tokio::test]
async fn ping_speaks_the_healthchecks_protocol_in_order() {
    let server = Server::start(&[]).await;
    // Nothing in `on`: pings go out whatever it says.
    let mut n = notify(&[], None, Some(format!("{}/ping/abc-123", server.base)));
    n.on = NotifyOn::default();
    let j = job(n);
    let notifier = start(None, fast());

    notifier.run_started(&j, "r1");
    notifier.run_finished(&j, &record("r1", Status::Success, ""));
    let big = format!("{}END-OF-OUTPUT", "e".repeat(20 << 10));
    notifier.run_started(&j, "r2");
    notifier.run_finished(&j, &record("r2", Status::Failed, &big));
    // A cancelled run signals nothing.
    notifier.run_started(&j, "r3");
    notifier.run_finished(&j, &record("r3", Status::Cancelled, ""));
    notifier.clone().shutdown(Instant::now() + WAIT).await;
    let all = server.wait_for(5).await;
    let paths: Vec<&str> = all.iter().map(|g| g.path.as_str()).collect();
    assert_eq!(
        paths,
        vec![
            "/ping/abc-123/start",
            "/ping/abc-123",
            "/ping/abc-123/start",
            "/ping/abc-123/fail",
            "/ping/abc-123/start",
        ]
    );
    assert!(all[0].body.is_empty());
    assert_eq!(all[1].body, "dumping table users\n");
    let fail = &all[3].body;
    assert!(fail.len() <= 10 << 10, "{} bytes", fail.len());
    assert!(fail.ends_with("END-OF-OUTPUT"), "the tail is kept");
    // Pings are not notices: the rate limit and the counters of notices
    // are untouched by them, and no notice was sent.
    assert_eq!(notifier.stats().suppressed, 0);
}

#[tokio::test]
async fn a_start_ping_retried_still_arrives_before_the_outcome() {
    let server = Server::start(&[503]).await;
    let j = job(notify(&[], None, Some(format!("{}/p", server.base))));
    let notifier = start(None, fast());
    notifier.run_started(&j, "r1");
    notifier.run_finished(&j, &record("r1", Status::Success, ""));
    let got = server.wait_for(3).await;
    let paths: Vec<&str> = got.iter().map(|g| g.path.as_str()).collect();
    assert_eq!(paths, vec!["/p/start", "/p/start", "/p"]);
}

#[tokio::test]
async fn new_events_are_mailed() {
    let sink = SmtpSink::start(Behaviour::default()).await;
    let notifier = start(
        Some(sink.port),
        DeliveryOptions {
            rate_limit: 0,
            ..fast()
        },
    );
    let j = job(notify(&["admin@example.com"], None, None));
    notifier.send(&j, slow("r5"));
    notifier.send(
        &j,
        Notice::Overdue(Overdue {
            last_success: Some(t0()),
            window: Duration::from_secs(3600),
            due_at: t0() + chrono::Duration::hours(1),
        }),
    );
    notifier.send(&j, Notice::Missed(Missed::new([t0()], t0())));
    notifier.send(
        &j,
        Notice::Skipped(Skipped {
            scheduled_at: t0(),
            reason: "a run is still active".into(),
        }),
    );
    let mails = sink.wait_for(4, WAIT).await;
    let subjects: Vec<String> = mails
        .iter()
        .map(|m| m.header("subject").expect("subject"))
        .collect();
    assert_eq!(
        subjects,
        vec![
            "[cronduct] db-backup on web1: slow (running for 12m05s)",
            "[cronduct] db-backup on web1: OVERDUE (no success within 1h00m00s)",
            "[cronduct] db-backup on web1: missed 1 scheduled run(s)",
            "[cronduct] db-backup on web1: skipped a run (a run is still active)",
        ]
    );
    assert!(
        mails[0].body().contains("Run id:       r5"),
        "{}",
        mails[0].body()
    );
    assert!(
        mails[1]
            .body()
            .contains("Last success: 2026-03-29 06:00:00 +00:00"),
        "{}",
        mails[1].body()
    );
    assert!(
        mails[2].body().contains("  2026-03-29 06:00:00 +00:00"),
        "{}",
        mails[2].body()
    );
}

#[tokio::test]
async fn new_events_obey_the_rate_limit_and_notify_on() {
    let server = Server::start(&[]).await;
    let notifier = start(
        None,
        DeliveryOptions {
            rate_limit: 2,
            ..fast()
        },
    );
    let mut n = notify(
        &[],
        Some(hook(&format!("{}/h", server.base), WebhookFormat::Json)),
        None,
    );
    n.on.skipped = false;
    let j = job(n);
    // Not in `on`: never sent, not even counted against the cap.
    notifier.send(
        &j,
        Notice::Skipped(Skipped {
            scheduled_at: t0(),
            reason: "busy".into(),
        }),
    );
    for i in 0..4 {
        notifier.send(&j, slow(&format!("r{i}")));
    }
    until("the flood to be sorted", || {
        let s = notifier.stats();
        s.delivered == 2 && s.suppressed == 2
    })
    .await;
    let events: Vec<Value> = server
        .got()
        .iter()
        .map(|g| g.json()["event"].clone())
        .collect();
    assert_eq!(events, vec!["slow", "slow"]);
}

/// The log lines, captured for this test's thread.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("lock")).into_owned()
    }
}
