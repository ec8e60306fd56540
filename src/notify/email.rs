//! The notice as an email: subject and plain-text body, sent over SMTP
//! with lettre (rustls, never OpenSSL).
//!
//! The subject names the job, the host and the outcome, with `FAILED`
//! always in capitals so one mail filter catches every kind of failure:
//! `[cronduct] db-backup on web1: FAILED (exit 1)`, `… FAILED (timeout)`,
//! `… recovered`, `… succeeded`. The body is plain text: the job and run
//! facts, then the stdout and stderr tails inline (not as attachments, so
//! they show in every client and in `mail` on the server).

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use crate::zone::Zone;
use chrono::{DateTime, Utc};
use lettre::message::Mailbox;
use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::notice::{human, human_ms};
use super::{DeliveryError, Notice, Queued, What, error_chain};
use crate::config::model::{SmtpSettings, SmtpTls};

/// `[cronduct] <job> on <host>: <outcome>`.
pub(super) fn subject(q: &Queued, n: &Notice, host: &str) -> String {
    format!("[cronduct] {} on {host}: {}", q.job, n.outcome())
}

/// The plain-text body.
pub(super) fn body(q: &Queued, n: &Notice, host: &str) -> String {
    let tz = &q.timezone;
    let mut b = String::new();
    // `write!` into a String cannot fail; the results are ignored.
    let _ = writeln!(b, "Job {} on {host}: {}.", q.job, n.outcome());
    b.push('\n');
    let mut field = |name: &str, value: &str| {
        let _ = writeln!(b, "{:<13} {value}", format!("{name}:"));
    };
    field("Job", &q.job);
    if !q.description.is_empty() {
        field("Description", &q.description);
    }
    field("Host", host);
    field(if q.is_http { "Request" } else { "Command" }, &q.action);
    field("Schedule", &format!("{} ({tz})", q.schedule));
    let r = match n {
        Notice::Run { record, .. } => record,
        Notice::Slow(s) => {
            field("Run id", &s.run_id);
            field("Attempt", &s.attempt.to_string());
            field("Started", &local(s.started_at, tz));
            field("Running for", &human(s.elapsed));
            field("Warn after", &human(s.warn_after));
            return finish(b, q);
        }
        Notice::Overdue(o) => {
            let last = o
                .last_success
                .map_or_else(|| "never".into(), |t| local(t, tz));
            field("Last success", &last);
            field("Expected", &format!("a success within {}", human(o.window)));
            field("Overdue at", &local(o.due_at, tz));
            return finish(b, q);
        }
        Notice::Skipped(s) => {
            field("Scheduled", &local(s.scheduled_at, tz));
            field("Reason", &s.reason);
            return finish(b, q);
        }
        Notice::Missed(m) => {
            field("Missed", &m.total().to_string());
            b.push_str("\nScheduled instants that did not run:\n");
            for t in m.listed.iter().take(super::MISSED_LISTED) {
                let _ = writeln!(b, "  {}", local(*t, tz));
            }
            if m.more > 0 {
                let _ = writeln!(b, "  ... and {} more", m.more);
            }
            return finish(b, q);
        }
    };
    field("Trigger", r.trigger.as_str());
    field("Run id", &r.run_id);
    field("Attempts", &r.attempt.to_string());
    field("Status", r.status.as_str());
    field("Scheduled", &local(r.scheduled_at, tz));
    // The record is the last attempt's; say so when there were several.
    let which = if r.attempt > 1 {
        format!(" (attempt {})", r.attempt)
    } else {
        String::new()
    };
    field("Started", &format!("{}{which}", local(r.started_at, tz)));
    field("Finished", &local(r.finished_at, tz));
    field("Duration", &format!("{}{which}", human_ms(r.duration_ms)));
    if let Some(code) = r.exit_code {
        field("Exit code", &code.to_string());
    }
    if let Some(sig) = &r.signal {
        field("Signal", sig);
    }
    if let Some(status) = r.http_status {
        field("HTTP status", &status.to_string());
    }
    if let Some(error) = &r.error {
        field("Error", error);
    }
    let mut b = finish(b, q);
    let first = if q.is_http { "response body" } else { "stdout" };
    for (name, tail) in [(first, &r.stdout), ("stderr", &r.stderr)] {
        b.push('\n');
        if tail.is_empty() {
            let _ = writeln!(b, "--- {name}: (empty) ---");
            continue;
        }
        let cut = if r.output_truncated {
            ", earlier output was dropped"
        } else {
            ""
        };
        let _ = writeln!(b, "--- {name} (tail{cut}) ---");
        b.push_str(tail);
        if !tail.ends_with('\n') {
            b.push('\n');
        }
        let _ = writeln!(b, "--- end of {name} ---");
    }
    b
}

/// The rate-limit line, when notices were held back.
fn finish(mut b: String, q: &Queued) -> String {
    if q.suppressed > 0 {
        let _ = writeln!(
            b,
            "\n{} earlier notice(s) for this job were suppressed by the rate limit.",
            q.suppressed
        );
    }
    b
}

/// An instant in the job's zone, with the offset so it is unambiguous.
fn local(t: DateTime<Utc>, tz: &Zone) -> String {
    tz.to_local(t).format("%Y-%m-%d %H:%M:%S %:z").to_string()
}

/// `Auto-Submitted: auto-generated` (RFC 3834): tells vacation responders
/// and mailing lists not to answer a machine.
#[derive(Debug, Clone)]
struct AutoSubmitted;

impl Header for AutoSubmitted {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }

    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(AutoSubmitted)
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "auto-generated".into())
    }
}

/// Builds the message: one mail, every recipient in `To`, dated at the
/// run's finish so clients sort retried notices correctly.
fn message(
    smtp: &SmtpSettings,
    host: &str,
    q: &Queued,
    n: &Notice,
) -> Result<Message, DeliveryError> {
    let from: Mailbox = smtp.from.parse().map_err(|e| {
        DeliveryError::Permanent(format!(
            "[smtp] from address {:?} is invalid: {e}",
            smtp.from
        ))
    })?;
    let mut builder = Message::builder()
        .from(from)
        .subject(subject(q, n, host))
        .date(SystemTime::from(n.at()))
        .message_id(Some(message_id(q, n, host)))
        .header(ContentType::TEXT_PLAIN)
        .header(AutoSubmitted);
    for to in &q.email {
        let mailbox: Mailbox = to.parse().map_err(|e| {
            DeliveryError::Permanent(format!("recipient address {to:?} is invalid: {e}"))
        })?;
        builder = builder.to(mailbox);
    }
    builder
        .body(body(q, n, host))
        .map_err(|e| DeliveryError::Permanent(format!("cannot build the mail: {e}")))
}

/// A Message-ID derived from the run (or, for a notice about no run, the
/// event's instant), so every try of one notice carries the same id and a
/// mail a server accepted twice is shown once.
fn message_id(q: &Queued, n: &Notice, host: &str) -> String {
    fn atom(s: &str) -> String {
        let clean: String = s
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._-".contains(c) {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        if clean.is_empty() {
            "cronduct".into()
        } else {
            clean
        }
    }
    format!(
        "<{}.{}.{}@{}>",
        atom(
            &n.run_id()
                .map_or_else(|| n.at().timestamp_millis().to_string(), str::to_string)
        ),
        n.event(),
        atom(&q.job),
        atom(host)
    )
}

/// Reads `password_file` now, not at config load, so a rotated password
/// needs no reload. One trailing newline (`\n` or `\r\n`) is dropped, as
/// `echo secret > file` leaves one.
async fn credentials(smtp: &SmtpSettings) -> Result<Option<Credentials>, DeliveryError> {
    let Some(user) = &smtp.username else {
        return Ok(None);
    };
    let Some(path) = &smtp.password_file else {
        return Err(DeliveryError::Permanent(
            "[smtp] username is set but password_file is not; refusing to log in without a password"
                .into(),
        ));
    };
    let raw = tokio::fs::read_to_string(path).await.map_err(|e| {
        DeliveryError::Transient(format!(
            "cannot read the SMTP password file {}: {e}",
            path.display()
        ))
    })?;
    let password = raw
        .strip_suffix("\r\n")
        .or_else(|| raw.strip_suffix('\n'))
        .unwrap_or(&raw);
    Ok(Some(Credentials::new(user.clone(), password.to_string())))
}

/// One try at mailing the notice through `smtp`, bounded by `timeout` as a
/// whole.
pub(super) async fn send(
    smtp: Option<&SmtpSettings>,
    host: &str,
    q: &Queued,
    timeout: Duration,
) -> Result<(), DeliveryError> {
    let Some(smtp) = smtp else {
        return Err(DeliveryError::Permanent(
            "the job mails but the config has no [smtp] section".into(),
        ));
    };
    let What::Notice(n) = &q.what else {
        return Ok(());
    };
    let message = message(smtp, host, q, n)?;
    let creds = credentials(smtp).await?;
    let builder = match smtp.tls {
        SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host),
        SmtpTls::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&smtp.host)
            .map_err(|e| {
                DeliveryError::Permanent(format!("SMTP TLS setup: {}", error_chain(&e)))
            })?,
        SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&smtp.host).map_err(|e| {
            DeliveryError::Permanent(format!("SMTP TLS setup: {}", error_chain(&e)))
        })?,
    };
    let mut builder = builder.port(smtp.port).timeout(Some(timeout));
    if let Some(creds) = creds {
        builder = builder.credentials(creds);
    }
    let transport = builder.build();
    let server = format!("{}:{}", smtp.host, smtp.port);
    match tokio::time::timeout(timeout, transport.send(message)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => {
            let text = format!("SMTP server {server}: {}", error_chain(&e));
            // A 5xx answer (unknown recipient, relaying denied) will be
            // the same next time; everything else may pass later.
            if e.is_permanent() {
                Err(DeliveryError::Permanent(text))
            } else {
                Err(DeliveryError::Transient(text))
            }
        }
        Err(_) => Err(DeliveryError::Transient(format!(
            "SMTP server {server}: no answer within {timeout:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::{Event, Missed, Overdue, SlowRun};
    use crate::record::{FinishRecord, Status, Trigger};
    use chrono::{TimeZone, Utc};

    fn t0() -> chrono::DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 29, 6, 0, 0)
            .single()
            .expect("valid")
    }

    fn queued() -> Queued {
        Queued {
            job: "db-backup".into(),
            description: "Nightly dump".into(),
            schedule: "0 2 * * *".into(),
            timezone: crate::zone::Database::compiled_in()
                .zone("America/Santo_Domingo")
                .expect("compiled in"),
            action: "pg_dump app".into(),
            is_http: false,
            email: vec!["a@example.com".into()],
            webhook: None,
            what: What::Ping(crate::notify::ping::Ping {
                url: String::new(),
                kind: crate::notify::ping::Kind::Start,
                run_id: String::new(),
                body: String::new(),
            }),
            suppressed: 0,
        }
    }

    fn run(event: Event, status: Status) -> Notice {
        let t = t0();
        Notice::Run {
            event,
            record: Box::new(FinishRecord {
                ts: t,
                run_id: "r1".into(),
                job: "db-backup".into(),
                attempt: 2,
                trigger: Trigger::Schedule,
                scheduled_at: t,
                started_at: t,
                finished_at: t + chrono::Duration::milliseconds(65_400),
                duration_ms: 65_400,
                status,
                exit_code: (status == Status::Failed).then_some(3),
                signal: None,
                http_status: None,
                error: None,
                stdout: "out line\n".into(),
                stderr: String::new(),
                output_truncated: false,
                cpu_user_ms: None,
                cpu_system_ms: None,
                max_rss_kib: None,
                output_dropped_bytes: None,
                result: None,
                result_error: None,
                will_retry: false,
                retry_at: None,
                host: "web1".into(),
                node: None,
            }),
        }
    }

    fn with_record(n: Notice, f: impl FnOnce(&mut FinishRecord)) -> Notice {
        match n {
            Notice::Run { event, mut record } => {
                f(&mut record);
                Notice::Run { event, record }
            }
            other => other,
        }
    }

    #[test]
    fn subjects_name_job_host_and_outcome() {
        let q = queued();
        let secs = std::time::Duration::from_secs;
        #[rustfmt::skip]
        let cases = [
            (run(Event::Failure, Status::Failed), "[cronduct] db-backup on web1: FAILED (exit 3)"),
            (run(Event::Failure, Status::Timeout), "[cronduct] db-backup on web1: FAILED (timeout)"),
            (run(Event::Failure, Status::Lost), "[cronduct] db-backup on web1: FAILED (lost)"),
            (run(Event::Recovery, Status::Success), "[cronduct] db-backup on web1: recovered"),
            (run(Event::Success, Status::Success), "[cronduct] db-backup on web1: succeeded"),
            (with_record(run(Event::Failure, Status::Failed), |r| {
                r.exit_code = None;
                r.signal = Some("SIGKILL".into());
            }), "[cronduct] db-backup on web1: FAILED (signal SIGKILL)"),
            (with_record(run(Event::Failure, Status::Failed), |r| {
                r.exit_code = None;
                r.http_status = Some(503);
            }), "[cronduct] db-backup on web1: FAILED (HTTP 503)"),
            (Notice::Slow(SlowRun { run_id: "r1".into(), attempt: 1, started_at: t0(),
                elapsed: secs(725), warn_after: secs(600) }),
             "[cronduct] db-backup on web1: slow (running for 12m05s)"),
            (Notice::Overdue(Overdue { last_success: None, window: secs(7200), due_at: t0() }),
             "[cronduct] db-backup on web1: OVERDUE (no success within 2h00m00s)"),
            (Notice::Missed(Missed::new([t0()], t0())),
             "[cronduct] db-backup on web1: missed 1 scheduled run(s)"),
        ];
        for (n, want) in cases {
            assert_eq!(subject(&q, &n, "web1"), want);
        }
    }

    #[test]
    fn body_shows_times_in_the_job_zone_and_the_tails() {
        let mut q = queued();
        q.suppressed = 7;
        let b = body(&q, &run(Event::Failure, Status::Failed), "web1");
        for want in [
            "Job db-backup on web1: FAILED (exit 3).",
            "Schedule:     0 2 * * * (America/Santo_Domingo)",
            "Started:      2026-03-29 02:00:00 -04:00 (attempt 2)",
            "Duration:     1m05s (attempt 2)",
            "Exit code:    3",
            "7 earlier notice(s) for this job were suppressed",
            "--- stdout (tail) ---\nout line\n--- end of stdout ---",
            "--- stderr: (empty) ---",
        ] {
            assert!(b.contains(want), "missing {want:?} in:\n{b}");
        }
        assert!(!b.contains("Signal:"), "absent fields are left out:\n{b}");
    }

    #[test]
    fn a_missed_body_lists_a_hundred_instants_then_counts() {
        let all = (0..130).map(|i| t0() + chrono::Duration::hours(i));
        let b = body(&queued(), &Notice::Missed(Missed::new(all, t0())), "web1");
        assert!(b.contains("Missed:       130"), "{b}");
        assert!(b.contains("  2026-03-29 02:00:00 -04:00\n"), "{b}");
        assert_eq!(b.matches("  2026-").count(), 100, "{b}");
        assert!(b.contains("... and 30 more"), "{b}");
    }

    #[test]
    fn durations_read_like_a_person_wrote_them() {
        let got: Vec<String> = [850, 5_120, 245_000, 7_387_000]
            .into_iter()
            .map(human_ms)
            .collect();
        assert_eq!(got, vec!["850ms", "5.1s", "4m05s", "2h03m07s"]);
    }
}
