//! Notifications end to end: real SMTP conversations with a local sink,
//! real webhook POSTs to a local axum server, all on 127.0.0.1.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::poll;
use crate::support::smtp_sink::{Behaviour, Mail, SmtpSink};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::{TimeZone, Utc};
use cronduct::config::model::{
    Action, Command, Job, Notify, NotifyOn, SmtpSettings, SmtpTls, Webhook,
};
use cronduct::notify::{DeliveryOptions, Event, Notice, Notifier, NotifyState, decide};
use cronduct::record::{FinishRecord, Status};
use tokio::time::Instant;

const WAIT: Duration = Duration::from_secs(10);

fn notify(email: &[&str], webhook: Option<String>, on: &[Event], after: u32) -> Notify {
    Notify {
        email: email.iter().map(|s| s.to_string()).collect(),
        webhook: webhook.map(Webhook::json),
        ping: None,
        on: NotifyOn {
            failure: on.contains(&Event::Failure),
            recovery: on.contains(&Event::Recovery),
            success: on.contains(&Event::Success),
            ..NotifyOn::default()
        },
        after,
    }
}

fn job(id: &str, notify: Notify) -> Job {
    Job {
        description: "Nightly dump of the main database".into(),
        retries: 2,
        notify: Some(notify),
        ..Job::new(
            id,
            "0 2 * * *".parse().expect("valid schedule"),
            cronduct::testkit::zone("America/Santo_Domingo"),
            Action::Command(Command::Shell(
                "pg_dump app | gzip > /backups/app.sql.gz".into(),
            )),
            "jobs.toml",
        )
    }
}

/// A job that mails admin@example.com on failure, from the first one.
fn mailed(id: &str) -> Job {
    job(
        id,
        notify(&["admin@example.com"], None, &[Event::Failure], 1),
    )
}

/// A job that posts to `hook` on failure, from the first one.
fn hooked(id: &str, hook: &Hook) -> Job {
    job(
        id,
        notify(&[], Some(hook.url.clone()), &[Event::Failure], 1),
    )
}

/// Decides each of `runs` (run id, status) in turn as the scheduler would,
/// from a fresh `NotifyState`, and sends what is decided; the decisions.
fn decide_and_send(notifier: &Notifier, job: &Job, runs: &[(&str, Status)]) -> Vec<Option<Event>> {
    let settings = job.notify.clone().expect("notify");
    let mut state = NotifyState::default();
    runs.iter()
        .map(|&(run, status)| {
            let event = decide(&settings, status, &mut state);
            if let Some(event) = event {
                notifier.send(
                    job,
                    Notice::Run {
                        event,
                        record: Box::new(one_attempt(&job.id, run, status)),
                    },
                );
            }
            event
        })
        .collect()
}

/// The first line of `text` that contains `needle`.
fn line_with<'a>(text: &'a str, needle: &str) -> &'a str {
    text.lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| {
            panic!(
                "no line with {needle:?} in:
{text}"
            )
        })
}

/// Reports run `run_id` of `job` as its first failure.
fn send_failure(notifier: &Notifier, job: &Job, run_id: &str) {
    notifier.send(
        job,
        Notice::Run {
            event: Event::Failure,
            record: Box::new(one_attempt(&job.id, run_id, Status::Failed)),
        },
    );
}

fn record(job: &str, run_id: &str, status: Status) -> FinishRecord {
    let t = Utc
        .with_ymd_and_hms(2026, 3, 29, 6, 0, 0)
        .single()
        .expect("valid instant");
    let failed = status == Status::Failed;
    FinishRecord {
        ts: t,
        attempt: 3,
        exit_code: Some(if failed { 1 } else { 0 }),
        stdout: "dumping table users\ndumping table orders\n".into(),
        stderr: if failed {
            "pg_dump: error: connection to server failed\n".into()
        } else {
            String::new()
        },
        host: "web1".into(),
        node: None,
        ..cronduct::testkit::finish(
            job,
            run_id,
            status,
            t + chrono::Duration::milliseconds(5123),
            5123,
        )
    }
}

/// The final record of a run that took a single attempt.
fn one_attempt(job: &str, run_id: &str, status: Status) -> FinishRecord {
    FinishRecord {
        attempt: 1,
        ..record(job, run_id, status)
    }
}

fn smtp(port: u16) -> SmtpSettings {
    SmtpSettings {
        host: "127.0.0.1".into(),
        port,
        tls: SmtpTls::None,
        from: "cronduct@web1.example.com".into(),
        username: None,
        password_file: None,
    }
}

fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().build().expect("http client")
}

/// Production shape, test speed.
fn fast() -> DeliveryOptions {
    DeliveryOptions {
        retry_delays: vec![Duration::from_millis(20); 3],
        timeout: Duration::from_secs(5),
        ..DeliveryOptions::default()
    }
}

fn start(smtp: Option<SmtpSettings>, options: DeliveryOptions) -> Notifier {
    Notifier::start(smtp, "web1".into(), http_client(), options)
}

/// The log lines the notifier writes, captured for this test's thread
/// (the test runtime is single-threaded, so its tasks log here too).
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
    fn capture() -> (Logs, tracing::subscriber::DefaultGuard) {
        let logs = Logs::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .finish();
        (logs, tracing::subscriber::set_default(subscriber))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("lock")).into_owned()
    }
}

/// Polls `cond` every 10 ms; panics with `what` after `within`.
async fn until(what: &str, within: Duration, mut cond: impl FnMut() -> bool) {
    poll::until_async(what, within, || cond().then_some(())).await;
}

/// A local webhook receiver: answers with `statuses` in turn, then 200.
struct Hook {
    url: String,
    received: Arc<Mutex<Vec<(HeaderMap, String)>>>,
}

#[derive(Clone)]
struct HookState {
    received: Arc<Mutex<Vec<(HeaderMap, String)>>>,
    statuses: Arc<Mutex<Vec<u16>>>,
}

async fn hook_handler(State(s): State<HookState>, headers: HeaderMap, body: String) -> StatusCode {
    s.received.lock().expect("lock").push((headers, body));
    let mut statuses = s.statuses.lock().expect("lock");
    let code = if statuses.is_empty() {
        200
    } else {
        statuses.remove(0)
    };
    StatusCode::from_u16(code).expect("valid status")
}

impl Hook {
    async fn start(statuses: &[u16]) -> Hook {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind hook");
        let port = listener.local_addr().expect("hook address").port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let state = HookState {
            received: Arc::clone(&received),
            statuses: Arc::new(Mutex::new(statuses.to_vec())),
        };
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(hook_handler))
            .with_state(state);
        tokio::spawn(async move { axum::serve(listener, app).await });
        Hook {
            url: format!("http://127.0.0.1:{port}/hook"),
            received,
        }
    }

    fn received(&self) -> Vec<(HeaderMap, String)> {
        self.received.lock().expect("lock").clone()
    }
}

/// A port on which nothing listens: bound, then released.
async fn closed_port() -> u16 {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    l.local_addr().expect("address").port()
}

#[tokio::test]
async fn failure_mail_reaches_every_recipient_with_the_output_tails() {
    let sink = SmtpSink::start(Behaviour::default()).await;
    let notifier = start(Some(smtp(sink.port)), fast());
    let j = job(
        "db-backup",
        notify(
            &["admin@example.com", "oncall@example.com"],
            None,
            &[Event::Failure],
            1,
        ),
    );
    let rec = record("db-backup", "run-42", Status::Failed);
    notifier.send(
        &j,
        Notice::Run {
            event: Event::Failure,
            record: Box::new(rec.clone()),
        },
    );

    let mails = sink.wait_for(1, WAIT).await;
    assert_eq!(mails.len(), 1, "one mail for all recipients");
    let m = &mails[0];
    assert_eq!(m.mail_from, "cronduct@web1.example.com");
    assert_eq!(m.rcpt_to, vec!["admin@example.com", "oncall@example.com"]);
    assert_eq!(
        m.header("subject").as_deref(),
        Some("[cronduct] db-backup on web1: FAILED (exit 1)")
    );
    let to = m.header("to").expect("To header");
    assert!(
        to.contains("admin@example.com") && to.contains("oncall@example.com"),
        "{to}"
    );
    assert_eq!(
        m.header("auto-submitted").as_deref(),
        Some("auto-generated")
    );
    assert_eq!(
        m.header("message-id").as_deref(),
        Some("<run-42.failure.db-backup@web1>")
    );
    let body = m.body();
    for want in [
        "Nightly dump of the main database",
        "Schedule:     0 2 * * * (America/Santo_Domingo)",
        "Run id:       run-42",
        "Attempts:     3",
        "Started:      2026-03-29 02:00:00 -04:00 (attempt 3)",
        "Duration:     5.1s",
        "Exit code:    1",
        "dumping table users\ndumping table orders\n",
        "pg_dump: error: connection to server failed",
    ] {
        assert!(body.contains(want), "missing {want:?} in body:\n{body}");
    }
    until("the delivery to be counted", WAIT, || {
        notifier.stats().delivered == 1
    })
    .await;
}

/// Runs `runs` of job `id`, which mails failures and recoveries to one
/// address once `after` runs in a row failed, through a notifier and a
/// local sink: what `decide` chose for each run, and the mails the sink
/// holds once the notifier has shut down.
async fn failure_and_recovery_mails(
    id: &str,
    after: u32,
    runs: &[(&str, Status)],
) -> (Vec<Option<Event>>, Vec<Mail>) {
    let sink = SmtpSink::start(Behaviour::default()).await;
    let notifier = start(Some(smtp(sink.port)), fast());
    let on = [Event::Failure, Event::Recovery];
    let j = job(id, notify(&["admin@example.com"], None, &on, after));
    let decided = decide_and_send(&notifier, &j, runs);
    notifier.clone().shutdown(Instant::now() + WAIT).await;
    (decided, sink.mails())
}

#[tokio::test]
async fn a_failure_then_a_success_mails_failed_then_recovered() {
    let runs = [
        ("r1", Status::Failed),
        ("r2", Status::Success),
        ("r3", Status::Success),
    ];
    let (decided, mails) = failure_and_recovery_mails("db-backup", 1, &runs).await;
    assert_eq!(
        decided,
        vec![Some(Event::Failure), Some(Event::Recovery), None]
    );

    let subjects: Vec<String> = mails
        .iter()
        .map(|m| m.header("subject").expect("subject"))
        .collect();
    assert_eq!(
        subjects,
        vec![
            "[cronduct] db-backup on web1: FAILED (exit 1)",
            "[cronduct] db-backup on web1: recovered",
        ]
    );
    let recovered = mails[1].body();
    assert!(recovered.contains("Run id:       r2"), "{recovered}");
    assert!(recovered.contains("Status:       success"), "{recovered}");
}

#[tokio::test]
async fn after_three_mails_only_from_the_third_failed_run() {
    let runs = [
        ("r1", Status::Failed),
        ("r2", Status::Failed),
        ("r3", Status::Failed),
    ];
    let (decided, mails) = failure_and_recovery_mails("flaky", 3, &runs).await;
    assert_eq!(decided, vec![None, None, Some(Event::Failure)]);
    assert_eq!(mails.len(), 1, "no mail for the first two failed runs");
    assert!(mails[0].body().contains("Run id:       r3"));
}

#[tokio::test]
async fn webhook_posts_the_event_and_the_finish_record() {
    let hook = Hook::start(&[]).await;
    let notifier = start(None, fast());
    let j = hooked("gateway-health", &hook);
    let rec = record("gateway-health", "run-7", Status::Failed);
    notifier.send(
        &j,
        Notice::Run {
            event: Event::Failure,
            record: Box::new(rec.clone()),
        },
    );

    until("the webhook POST", WAIT, || !hook.received().is_empty()).await;
    let (headers, body) = hook.received().remove(0);
    assert_eq!(
        headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    let doc: serde_json::Value = serde_json::from_str(&body).expect("JSON body");
    assert_eq!(doc["event"], "failure");
    assert_eq!(doc["job"], "gateway-health");
    assert_eq!(doc["host"], "web1");
    assert_eq!(doc["attempts"], 3);
    assert_eq!(doc["suppressed"], 0);
    let sent: FinishRecord =
        serde_json::from_value(doc["record"].clone()).expect("record is a finish record");
    assert_eq!(sent, rec);
    assert_eq!(doc["record"]["status"], "failed");
}

#[tokio::test]
async fn a_webhook_answering_500_is_retried_until_it_accepts() {
    let (logs, _guard) = Logs::capture();
    let hook = Hook::start(&[500, 503]).await;
    let notifier = start(None, fast());
    // Receivers often take a secret token in the URL; the log must not.
    let url = format!("{}?token=s3cret-token", hook.url);
    let j = job("gw", notify(&[], Some(url), &[Event::Failure], 1));
    send_failure(&notifier, &j, "r1");

    until("the delivery after two retries", WAIT, || {
        notifier.stats().delivered == 1
    })
    .await;
    assert_eq!(
        hook.received().len(),
        3,
        "two refusals, then the accepted POST"
    );
    assert_eq!(notifier.stats().failed, 0);
    let text = logs.text();
    assert!(text.contains("answered HTTP 500"), "{text}");
    assert!(text.contains("retrying in"), "{text}");
    let host_port = hook
        .url
        .trim_start_matches("http://")
        .trim_end_matches("/hook");
    assert!(
        text.contains(&format!("webhook {host_port} answered")),
        "{text}"
    );
    assert!(!text.contains("s3cret-token"), "{text}");
    assert!(!text.contains("/hook"), "{text}");
}

#[tokio::test]
async fn an_unreachable_webhook_is_logged_by_host_and_port_only() {
    let (logs, _guard) = Logs::capture();
    let port = closed_port().await;
    let notifier = start(None, fast());
    let url = format!("http://127.0.0.1:{port}/hooks/s3cret-token");
    let j = job("gw", notify(&[], Some(url), &[Event::Failure], 1));
    send_failure(&notifier, &j, "r1");

    until("the delivery to be given up", WAIT, || {
        notifier.stats().failed == 1
    })
    .await;
    let text = logs.text();
    assert!(
        text.contains(&format!("webhook: cannot connect to 127.0.0.1:{port}")),
        "{text}"
    );
    assert!(!text.contains("s3cret-token"), "{text}");
}

#[tokio::test]
async fn an_unreachable_mail_server_never_blocks_send_and_is_given_up_with_an_error() {
    let (logs, _guard) = Logs::capture();
    let port = closed_port().await;
    let notifier = start(Some(smtp(port)), fast());
    let j = mailed("db-backup");

    let t = std::time::Instant::now();
    send_failure(&notifier, &j, "r1");
    let took = t.elapsed();
    assert!(took < Duration::from_millis(50), "send() took {took:?}");

    until("the delivery to be given up", WAIT, || {
        notifier.stats().failed == 1
    })
    .await;
    let text = logs.text();
    let give_up = line_with(&text, "giving up on notification");
    assert!(give_up.contains("ERROR"), "{give_up}");
    assert!(give_up.contains("job=db-backup"), "{give_up}");
    assert!(
        give_up.contains("channel=\"email\"") || give_up.contains("channel=email"),
        "{give_up}"
    );
    assert!(
        give_up.contains("tries=4"),
        "one try and three retries: {give_up}"
    );
    assert!(give_up.contains(&format!("127.0.0.1:{port}")), "{give_up}");
    assert_eq!(text.matches("retrying in").count(), 3, "{text}");
    assert_eq!(notifier.stats().delivered, 0);
}

#[tokio::test]
async fn a_mail_server_that_never_answers_times_out_without_holding_up_other_notices() {
    let (logs, _guard) = Logs::capture();
    let sink = SmtpSink::start(Behaviour {
        silent: true,
        ..Behaviour::default()
    })
    .await;
    let hook = Hook::start(&[]).await;
    let options = DeliveryOptions {
        retry_delays: vec![],
        timeout: Duration::from_secs(2),
        ..fast()
    };
    let notifier = start(Some(smtp(sink.port)), options);
    let mailer = mailed("mailer");
    let poster = hooked("poster", &hook);

    let t = std::time::Instant::now();
    send_failure(&notifier, &mailer, "m1");
    let took = t.elapsed();
    assert!(took < Duration::from_millis(50), "send() took {took:?}");
    until("the mail server to be connected", WAIT, || {
        sink.connections() == 1
    })
    .await;
    send_failure(&notifier, &poster, "p1");

    until("the webhook POST", WAIT, || notifier.stats().delivered == 1).await;
    assert_eq!(
        notifier.stats().failed,
        0,
        "the webhook went out while the mail was still waiting for a greeting"
    );
    until("the mail to time out", WAIT, || {
        notifier.stats().failed == 1
    })
    .await;
    let text = logs.text();
    assert!(text.contains("giving up on notification"), "{text}");
    assert!(text.contains("job=mailer"), "{text}");
}

#[tokio::test]
async fn a_flood_is_capped_and_the_next_notice_counts_what_was_suppressed() {
    let sink = SmtpSink::start(Behaviour::default()).await;
    let options = DeliveryOptions {
        rate_limit: 3,
        ..fast()
    };
    let notifier = start(Some(smtp(sink.port)), options);
    let j = job(
        "every-minute",
        notify(
            &["admin@example.com"],
            None,
            &[Event::Failure, Event::Recovery],
            1,
        ),
    );
    for i in 0..10 {
        let run = format!("r{i}");
        send_failure(&notifier, &j, &run);
    }
    until("the flood to be sorted", WAIT, || {
        let s = notifier.stats();
        s.delivered == 3 && s.suppressed == 7
    })
    .await;
    // The recovery answers the last failure mailed, even over the cap.
    notifier.send(
        &j,
        Notice::Run {
            event: Event::Recovery,
            record: Box::new(one_attempt("every-minute", "r10", Status::Success)),
        },
    );
    notifier.clone().shutdown(Instant::now() + WAIT).await;

    let mails = sink.mails();
    assert_eq!(mails.len(), 4, "three failures and the recovery");
    let last = &mails[3];
    assert_eq!(
        last.header("subject").as_deref(),
        Some("[cronduct] every-minute on web1: recovered")
    );
    assert!(
        last.body()
            .contains("7 earlier notice(s) for this job were suppressed by the rate limit"),
        "{}",
        last.body()
    );
}

#[tokio::test]
async fn smtp_login_uses_the_password_file_read_at_send_time() {
    let sink = SmtpSink::start(Behaviour {
        auth: true,
        ..Behaviour::default()
    })
    .await;
    let dir = tempfile::tempdir().expect("temp dir");
    let pass = dir.path().join("smtp.pass");
    std::fs::write(&pass, "old secret\n").expect("write password");
    let settings = SmtpSettings {
        username: Some("cronduct".into()),
        password_file: Some(pass.clone()),
        ..smtp(sink.port)
    };
    let notifier = start(Some(settings), fast());
    // Rotated after start: the new password must be the one used.
    std::fs::write(&pass, "s3cret pass\n").expect("rotate password");
    let j = mailed("db-backup");
    send_failure(&notifier, &j, "r1");

    let mails = sink.wait_for(1, WAIT).await;
    assert_eq!(
        mails[0].auth,
        Some(("cronduct".to_string(), "s3cret pass".to_string()))
    );
}

#[tokio::test]
async fn an_unreadable_password_file_is_logged_by_path() {
    let (logs, _guard) = Logs::capture();
    let sink = SmtpSink::start(Behaviour {
        auth: true,
        ..Behaviour::default()
    })
    .await;
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("missing.pass");
    let settings = SmtpSettings {
        username: Some("cronduct".into()),
        password_file: Some(missing.clone()),
        ..smtp(sink.port)
    };
    let notifier = start(Some(settings), fast());
    let j = mailed("db-backup");
    send_failure(&notifier, &j, "r1");

    until("the delivery to be given up", WAIT, || {
        notifier.stats().failed == 1
    })
    .await;
    let text = logs.text();
    assert!(
        text.contains(&format!(
            "cannot read the SMTP password file {}",
            missing.display()
        )),
        "{text}"
    );
    assert!(sink.mails().is_empty());
}

#[tokio::test]
async fn a_rejected_recipient_is_given_up_without_retrying() {
    let (logs, _guard) = Logs::capture();
    let sink = SmtpSink::start(Behaviour {
        reject_rcpt: true,
        ..Behaviour::default()
    })
    .await;
    let notifier = start(Some(smtp(sink.port)), fast());
    let j = job(
        "db-backup",
        notify(&["nobody@example.com"], None, &[Event::Failure], 1),
    );
    send_failure(&notifier, &j, "r1");

    until("the delivery to be given up", WAIT, || {
        notifier.stats().failed == 1
    })
    .await;
    assert_eq!(sink.connections(), 1, "a 550 will not change on retry");
    let text = logs.text();
    assert!(text.contains("tries=1"), "{text}");
    assert!(text.contains("550"), "{text}");
}

#[tokio::test]
async fn smtp_settings_replaced_on_reload_apply_to_pending_retries() {
    let sink = SmtpSink::start(Behaviour::default()).await;
    let dead = closed_port().await;
    let options = DeliveryOptions {
        retry_delays: vec![Duration::from_millis(200); 3],
        ..fast()
    };
    let (logs, _guard) = Logs::capture();
    let notifier = start(Some(smtp(dead)), options);
    let j = mailed("db-backup");
    send_failure(&notifier, &j, "r1");
    until("the first try to fail", WAIT, || {
        logs.text().contains("retrying in")
    })
    .await;
    notifier.set_smtp(Some(smtp(sink.port)));

    sink.wait_for(1, WAIT).await;
    until("the delivery to be counted", WAIT, || {
        notifier.stats().delivered == 1
    })
    .await;
    assert_eq!(notifier.stats().failed, 0);
}

#[tokio::test]
async fn shutdown_flushes_queued_mail_and_cuts_retry_waits_short() {
    let sink = SmtpSink::start(Behaviour::default()).await;
    let dead = closed_port().await;
    let hour = DeliveryOptions {
        retry_delays: vec![Duration::from_secs(3600)],
        ..fast()
    };
    // A mail queued just before exit still goes out.
    let good = start(Some(smtp(sink.port)), hour.clone());
    let j = mailed("db-backup");
    send_failure(&good, &j, "r1");
    let late = good.clone();
    good.shutdown(Instant::now() + WAIT).await;
    assert_eq!(sink.mails().len(), 1);
    // After shutdown, sends are dropped and counted, never blocking.
    send_failure(&late, &j, "r2");
    assert_eq!(late.stats().dropped, 1);

    // A delivery waiting an hour to retry gets one last try, not the hour.
    let (logs, _guard) = Logs::capture();
    let bad = start(Some(smtp(dead)), hour);
    send_failure(&bad, &j, "r3");
    until("the first try to fail", WAIT, || {
        logs.text().contains("retrying in")
    })
    .await;
    let stats = bad.clone();
    let t = std::time::Instant::now();
    bad.shutdown(Instant::now() + WAIT).await;
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "took {:?}",
        t.elapsed()
    );
    assert_eq!(stats.stats().failed, 1);
    assert!(logs.text().contains("tries=2"), "{}", logs.text());
}

#[tokio::test]
async fn a_recovery_waits_for_the_retried_failure_it_answers() {
    let hook = Hook::start(&[500]).await;
    let notifier = start(None, fast());
    let j = job(
        "gw",
        notify(
            &[],
            Some(hook.url.clone()),
            &[Event::Failure, Event::Recovery],
            1,
        ),
    );
    send_failure(&notifier, &j, "r1");
    notifier.send(
        &j,
        Notice::Run {
            event: Event::Recovery,
            record: Box::new(one_attempt("gw", "r2", Status::Success)),
        },
    );

    until("both notices", WAIT, || notifier.stats().delivered == 2).await;
    let events: Vec<String> = hook
        .received()
        .iter()
        .map(|(_, body)| {
            let doc: serde_json::Value = serde_json::from_str(body).expect("JSON body");
            doc["event"].as_str().expect("event name").to_string()
        })
        .collect();
    assert_eq!(events, vec!["failure", "failure", "recovery"]);
}

#[tokio::test]
async fn shutdown_gives_up_at_its_deadline_on_a_server_that_never_answers() {
    let (logs, _guard) = Logs::capture();
    let sink = SmtpSink::start(Behaviour {
        silent: true,
        ..Behaviour::default()
    })
    .await;
    let options = DeliveryOptions {
        timeout: Duration::from_secs(30),
        ..fast()
    };
    let notifier = start(Some(smtp(sink.port)), options);
    let j = mailed("db-backup");
    send_failure(&notifier, &j, "r1");
    until("the mail server to be connected", WAIT, || {
        sink.connections() == 1
    })
    .await;

    let stats = notifier.clone();
    let t = std::time::Instant::now();
    notifier
        .shutdown(Instant::now() + Duration::from_millis(300))
        .await;
    let took = t.elapsed();
    assert!(took < Duration::from_secs(3), "shutdown took {took:?}");
    assert_eq!(stats.stats().failed, 1);
    let text = logs.text();
    assert!(
        text.contains("abandoning 1 undelivered notification"),
        "{text}"
    );
}

#[tokio::test]
async fn a_full_queue_drops_the_notice_instead_of_waiting() {
    let (logs, _guard) = Logs::capture();
    let sink = SmtpSink::start(Behaviour {
        silent: true,
        ..Behaviour::default()
    })
    .await;
    let options = DeliveryOptions {
        queue_capacity: 1,
        max_in_flight: 1,
        timeout: Duration::from_secs(30),
        ..fast()
    };
    let notifier = start(Some(smtp(sink.port)), options);
    let j = mailed("db-backup");
    // The first notice is being delivered (and hangs); the second waits in
    // the queue; the third finds the queue full.
    send_failure(&notifier, &j, "r1");
    until("the first delivery to start", WAIT, || {
        sink.connections() == 1
    })
    .await;
    send_failure(&notifier, &j, "r2");
    let t = std::time::Instant::now();
    send_failure(&notifier, &j, "r3");
    let took = t.elapsed();
    assert!(took < Duration::from_millis(50), "send() took {took:?}");
    assert_eq!(notifier.stats().dropped, 1);
    let text = logs.text();
    let line = line_with(&text, "dropping notification");
    assert!(
        line.contains("ERROR") && line.contains("queue is full"),
        "{line}"
    );
    assert!(line.contains("run_id=r3"), "{line}");
}

#[tokio::test]
async fn starttls_never_falls_back_to_plain_text() {
    let sink = SmtpSink::start(Behaviour::default()).await;
    let settings = SmtpSettings {
        tls: SmtpTls::StartTls,
        ..smtp(sink.port)
    };
    let notifier = start(Some(settings), fast());
    let j = mailed("db-backup");
    send_failure(&notifier, &j, "r1");

    until("the delivery to be given up", WAIT, || {
        notifier.stats().failed == 1
    })
    .await;
    assert!(sink.connections() >= 1, "the server was reached");
    assert!(
        sink.mails().is_empty(),
        "a server without STARTTLS must not get the mail in clear text"
    );
}
