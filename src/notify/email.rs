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

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use lettre::message::Mailbox;
use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::{DeliveryError, Event, Notice, error_chain};
use crate::config::model::{SmtpSettings, SmtpTls};
use crate::record::Status;

/// `[cronduct] <job> on <host>: <outcome>`.
pub(super) fn subject(notice: &Notice, host: &str) -> String {
    format!("[cronduct] {} on {host}: {}", notice.job, outcome(notice))
}

/// The outcome as the subject and the body's first line say it.
fn outcome(notice: &Notice) -> String {
    let r = &notice.record;
    match notice.event {
        Event::Recovery => "recovered".into(),
        Event::Success => "succeeded".into(),
        Event::Failure => {
            let detail = match r.status {
                Status::Failed => {
                    if let Some(code) = r.exit_code {
                        format!("exit {code}")
                    } else if let Some(sig) = &r.signal {
                        format!("signal {sig}")
                    } else if let Some(http) = r.http_status {
                        format!("HTTP {http}")
                    } else {
                        "failed".into()
                    }
                }
                other => other.as_str().into(),
            };
            format!("FAILED ({detail})")
        }
    }
}

/// The plain-text body.
pub(super) fn body(notice: &Notice, host: &str) -> String {
    let r = &notice.record;
    let tz = notice.timezone;
    let mut b = String::new();
    // `write!` into a String cannot fail; the results are ignored.
    let _ = writeln!(b, "Job {} on {host}: {}.", notice.job, outcome(notice));
    b.push('\n');
    let mut field = |name: &str, value: &str| {
        let _ = writeln!(b, "{:<13} {value}", format!("{name}:"));
    };
    field("Job", &notice.job);
    if !notice.description.is_empty() {
        field("Description", &notice.description);
    }
    field("Host", host);
    field(
        if notice.is_http { "Request" } else { "Command" },
        &notice.action,
    );
    field("Schedule", &format!("{} ({tz})", notice.schedule));
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
    field(
        "Duration",
        &format!("{}{which}", human_duration(r.duration_ms)),
    );
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
    if notice.suppressed > 0 {
        let _ = writeln!(
            b,
            "\n{} earlier notice(s) for this job were suppressed by the rate limit.",
            notice.suppressed
        );
    }
    let first = if notice.is_http {
        "response body"
    } else {
        "stdout"
    };
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

/// An instant in the job's zone, with the offset so it is unambiguous.
fn local(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz)
        .format("%Y-%m-%d %H:%M:%S %:z")
        .to_string()
}

/// `850ms`, `5.1s`, `4m05s`, `2h03m07s`.
fn human_duration(ms: u64) -> String {
    if ms < 1000 {
        return format!("{ms}ms");
    }
    if ms < 60_000 {
        return format!("{:.1}s", ms as f64 / 1000.0);
    }
    let secs = ms / 1000;
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        format!("{h}h{m:02}m{s:02}s")
    } else {
        format!("{m}m{s:02}s")
    }
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
fn message(smtp: &SmtpSettings, host: &str, notice: &Notice) -> Result<Message, DeliveryError> {
    let from: Mailbox = smtp.from.parse().map_err(|e| {
        DeliveryError::Permanent(format!(
            "[smtp] from address {:?} is invalid: {e}",
            smtp.from
        ))
    })?;
    let mut builder = Message::builder()
        .from(from)
        .subject(subject(notice, host))
        .date(SystemTime::from(notice.record.finished_at))
        .message_id(Some(message_id(notice, host)))
        .header(ContentType::TEXT_PLAIN)
        .header(AutoSubmitted);
    for to in &notice.email {
        let mailbox: Mailbox = to.parse().map_err(|e| {
            DeliveryError::Permanent(format!("recipient address {to:?} is invalid: {e}"))
        })?;
        builder = builder.to(mailbox);
    }
    builder
        .body(body(notice, host))
        .map_err(|e| DeliveryError::Permanent(format!("cannot build the mail: {e}")))
}

/// A Message-ID derived from the run, so every try of one notice carries
/// the same id and a mail a server accepted twice is shown once.
fn message_id(notice: &Notice, host: &str) -> String {
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
        atom(&notice.record.run_id),
        notice.event,
        atom(&notice.job),
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

/// One try at mailing `notice` through `smtp`, bounded by `timeout` as a
/// whole.
pub(super) async fn send(
    smtp: Option<&SmtpSettings>,
    host: &str,
    notice: &Notice,
    timeout: Duration,
) -> Result<(), DeliveryError> {
    let Some(smtp) = smtp else {
        return Err(DeliveryError::Permanent(
            "the job mails but the config has no [smtp] section".into(),
        ));
    };
    let message = message(smtp, host, notice)?;
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
    use crate::record::{FinishRecord, Trigger};
    use chrono::TimeZone;

    fn notice(event: Event, status: Status) -> Notice {
        let t = Utc
            .with_ymd_and_hms(2026, 3, 29, 6, 0, 0)
            .single()
            .expect("valid");
        Notice {
            event,
            job: "db-backup".into(),
            description: "Nightly dump".into(),
            schedule: "0 2 * * *".into(),
            timezone: chrono_tz::America::Santo_Domingo,
            action: "pg_dump app".into(),
            is_http: false,
            email: vec!["a@example.com".into()],
            webhook: None,
            record: FinishRecord {
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
                result: None,
                result_error: None,
                will_retry: false,
                retry_at: None,
                host: "web1".into(),
            },
            suppressed: 0,
        }
    }

    #[test]
    fn subjects_name_job_host_and_outcome() {
        #[rustfmt::skip]
        let cases = [
            (Event::Failure, Status::Failed, "[cronduct] db-backup on web1: FAILED (exit 3)"),
            (Event::Failure, Status::Timeout, "[cronduct] db-backup on web1: FAILED (timeout)"),
            (Event::Failure, Status::Lost, "[cronduct] db-backup on web1: FAILED (lost)"),
            (Event::Recovery, Status::Success, "[cronduct] db-backup on web1: recovered"),
            (Event::Success, Status::Success, "[cronduct] db-backup on web1: succeeded"),
        ];
        for (event, status, want) in cases {
            assert_eq!(subject(&notice(event, status), "web1"), want);
        }
        let mut killed = notice(Event::Failure, Status::Failed);
        killed.record.exit_code = None;
        killed.record.signal = Some("SIGKILL".into());
        assert!(subject(&killed, "web1").ends_with("FAILED (signal SIGKILL)"));
        let mut http = notice(Event::Failure, Status::Failed);
        http.record.exit_code = None;
        http.record.http_status = Some(503);
        assert!(subject(&http, "web1").ends_with("FAILED (HTTP 503)"));
    }

    #[test]
    fn body_shows_times_in_the_job_zone_and_the_tails() {
        let mut n = notice(Event::Failure, Status::Failed);
        n.suppressed = 7;
        let b = body(&n, "web1");
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
    fn durations_read_like_a_person_wrote_them() {
        let got: Vec<String> = [850, 5_120, 245_000, 7_387_000]
            .into_iter()
            .map(human_duration)
            .collect();
        assert_eq!(got, vec!["850ms", "5.1s", "4m05s", "2h03m07s"]);
    }
}
