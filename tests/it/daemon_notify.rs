//! Notifications sent by the real daemon (cronduct.toml(5) NOTIFICATIONS):
//! one mail per run after its last attempt (never one per attempt), the
//! recovery mail, the webhook's JSON document, and a mail server that never
//! answers not delaying the schedule.

// Shared with the notifier's own tests; this binary uses part of it.
use crate::support::daemon::{Daemon, NEVER, SECS_20};
use crate::support::smtp_sink::{self, Behaviour, SmtpSink};
use crate::support::webhook::webhook_receiver;
use cronduct::record::{Status, Trigger};

fn start_sink(behaviour: Behaviour) -> SmtpSink {
    SmtpSink::start_on_thread(behaviour)
}

/// Waits until the sink holds at least `n` mails.
fn wait_mails(d: &Daemon, sink: &SmtpSink, n: usize) -> Vec<smtp_sink::Mail> {
    d.poll(&format!("{n} mail(s)"), SECS_20, || {
        let mails = sink.mails();
        (mails.len() >= n).then_some(mails)
    })
}

fn smtp_table(port: u16) -> String {
    format!(
        "[smtp]\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\nfrom = \"cronduct@e2e.test\"\n"
    )
}

fn hostname() -> String {
    nix::unistd::gethostname()
        .expect("hostname")
        .to_string_lossy()
        .into_owned()
}

#[test]
fn one_failure_mail_per_run_then_one_recovery_mail() {
    let sink = start_sink(Behaviour::default());
    let mut d = Daemon::new();
    let flag = d.path("healthy");
    d.write_config(&format!(
        r#"{}
[jobs.flappy]
schedule = "{NEVER}"
command = "test -e '{}'"
retries = 2
retry_delay = "500ms"
notify = {{ email = ["ops@example.com"], on = ["failure", "recovery"] }}
"#,
        smtp_table(sink.port),
        flag.display()
    ));
    d.start();
    let host = hostname();

    let failing = d.trigger("flappy");
    let last = d.wait_finish(&failing, SECS_20);
    assert_eq!((last.attempt, last.status), (3, Status::Failed));
    let mails = wait_mails(&d, &sink, 1);
    let failure = &mails[0];
    assert_eq!(failure.mail_from, "cronduct@e2e.test");
    assert_eq!(failure.rcpt_to, ["ops@example.com"]);
    assert_eq!(
        failure.header("subject").as_deref(),
        Some(format!("[cronduct] flappy on {host}: FAILED (exit 1)").as_str())
    );
    let body = failure.body();
    assert!(body.contains(&format!("Run id:       {failing}")), "{body}");
    assert!(body.contains("Attempts:     3"), "{body}");

    std::fs::write(&flag, "").expect("create the flag file");
    let recovering = d.trigger("flappy");
    assert_eq!(d.wait_finish(&recovering, SECS_20).status, Status::Success);
    let mails = wait_mails(&d, &sink, 2);
    // Had each attempt been announced, three failure mails would have been
    // queued before the recovery one.
    assert_eq!(
        mails.len(),
        2,
        "{:?}",
        mails
            .iter()
            .map(|m| m.header("subject"))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        mails[1].header("subject").as_deref(),
        Some(format!("[cronduct] flappy on {host}: recovered").as_str())
    );
    assert!(mails[1].body().contains(&recovering));
}

#[test]
fn a_webhook_receives_the_json_document() {
    let (port, received) = webhook_receiver();
    let mut d = Daemon::new();
    d.write_config(&format!(
        r#"
[jobs.hooked]
schedule = "{NEVER}"
command = "echo before; exit 2"
notify = {{ webhook = "http://127.0.0.1:{port}/hook", on = ["failure"] }}
"#
    ));
    d.start();
    let run_id = d.trigger("hooked");
    d.wait_finish(&run_id, SECS_20);
    d.poll("the webhook request", SECS_20, || {
        (!received.lock().expect("lock").is_empty()).then_some(())
    });
    let hooks = received.lock().expect("lock");
    let hook = &hooks[0];
    assert_eq!(hook.request_line, "POST /hook HTTP/1.1");
    assert_eq!(hook.content_type.as_deref(), Some("application/json"));
    let doc = &hook.body;
    assert_eq!(doc["event"], "failure", "{doc}");
    assert_eq!(doc["job"], "hooked");
    assert_eq!(doc["host"], hostname().as_str());
    assert_eq!(doc["attempts"], 1);
    let record: cronduct::record::FinishRecord =
        serde_json::from_value(doc["record"].clone()).expect("the finish record");
    assert_eq!(record.run_id, run_id);
    assert_eq!((record.status, record.exit_code), (Status::Failed, Some(2)));
    assert_eq!(record.stdout, "before\n");
}

#[test]
fn a_mail_server_that_never_answers_does_not_delay_the_schedule() {
    let sink = start_sink(Behaviour {
        silent: true,
        ..Behaviour::default()
    });
    let mut d = Daemon::new();
    d.write_config(&format!(
        r#"{}
[jobs.chatty]
schedule = "* * * * * *"
command = "true"
notify = {{ email = ["ops@example.com"], on = ["success"] }}
"#,
        smtp_table(sink.port)
    ));
    d.start();
    let starts = d.wait_starts("chatty", 6, SECS_20);
    // The first notice hangs in the conversation with the sink; the later
    // ones queue behind it (a job's notices go out in order).
    assert!(
        sink.connections() >= 1,
        "a mail was being sent: {} connection(s)",
        sink.connections()
    );
    for s in &starts {
        assert_eq!(s.trigger, Trigger::Schedule);
        let late = (s.ts - s.scheduled_at).num_milliseconds();
        assert!(
            (0..1000).contains(&late),
            "started {late} ms after its instant: {s:?}"
        );
    }
    for pair in starts.windows(2) {
        assert!(
            pair[1].scheduled_at > pair[0].scheduled_at,
            "each instant once: {pair:?}"
        );
    }
    // Shutting down would give the hung deliveries their last try; a
    // crash is quicker and changes nothing here.
    d.crash();
}

#[test]
fn a_refused_mail_shows_in_the_status_and_the_metrics() {
    // The mail server refuses the recipient (550, not worth a retry), the
    // webhook is delivered: one failed and one delivered notification.
    let sink = start_sink(Behaviour {
        reject_rcpt: true,
        ..Behaviour::default()
    });
    let (port, received) = webhook_receiver();
    let mut d = Daemon::new();
    d.write_config(&format!(
        r#"{}
[jobs.refused]
schedule = "{NEVER}"
command = "exit 1"
notify = {{ email = ["ops@example.com"], webhook = "http://127.0.0.1:{port}/hook", on = ["failure"] }}
"#,
        smtp_table(sink.port)
    ));
    d.start();
    let before = d.get("/api/v1/status")["notifications"].clone();
    assert_eq!(before["failed"], 0, "{before}");

    let run_id = d.trigger("refused");
    d.wait_finish(&run_id, SECS_20);
    let counts = d.poll("the refused mail counted", SECS_20, || {
        let n = d.get("/api/v1/status")["notifications"].clone();
        (n["failed"] == 1 && n["delivered"] == 1).then_some(n)
    });
    assert_eq!(
        counts["email"],
        serde_json::json!({"delivered": 0, "failed": 1})
    );
    assert_eq!(
        counts["webhook"],
        serde_json::json!({"delivered": 1, "failed": 0})
    );
    assert_eq!(received.lock().expect("lock").len(), 1);
    assert!(sink.mails().is_empty(), "the mail was refused");

    // The failure lasts until a later mail gets through: a component
    // degraded and a `/health` warning meanwhile.
    let components = d.get("/api/v1/status")["components"].clone();
    assert_eq!(components["smtp"]["status"], "degraded", "{components}");
    assert_eq!(components["smtp"]["ok"], false);
    assert!(components["smtp"]["error"].is_string());
    assert!(components["smtp"]["at"].is_string());
    assert_eq!(components["webhook"]["status"], "available");
    assert_eq!(components["webhook"]["ok"], true);
    let health = d.health();
    assert_eq!(health.body["status"], "degraded", "{}", health.body);
    let warnings = health.body["warnings"].to_string();
    assert!(
        warnings.contains("the last email notification could not be delivered"),
        "{warnings}"
    );
    assert!(!warnings.contains("webhook"), "{warnings}");

    let metrics = d.api("GET", "/metrics");
    assert_eq!(metrics.status, 200);
    // Not JSON: the helper hands the text over as a string.
    let text = metrics.body.as_str().expect("the metrics text");
    for line in [
        "cronduct_notifications_total{channel=\"email\",result=\"failed\"} 1\n",
        "cronduct_notifications_total{channel=\"email\",result=\"delivered\"} 0\n",
        "cronduct_notifications_total{channel=\"webhook\",result=\"delivered\"} 1\n",
        "cronduct_notifications_total{channel=\"webhook\",result=\"failed\"} 0\n",
    ] {
        assert!(text.contains(line), "{line} in\n{text}");
    }
}
