//! The notice as a webhook POST, in the receiver's format :
//! cronduct's JSON document, or the chat services' own shapes.
//!
//! `headers` from files are read at every try, so a rotated token needs
//! no reload; their values are secrets and appear in no log line and no
//! error text (only the header's name and the file's path do).

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName};
use serde_json::{Value, json};

use super::notice::cut;
use super::{DeliveryError, Notice, Queued, What};
use crate::action::http::{LazyClient, describe, host_port};
use crate::config::model::{HeaderValue, Webhook, WebhookFormat};
use crate::record::ts;

/// Discord refuses a `content` longer than this.
pub(super) const DISCORD_LIMIT: usize = 2000;

/// How much of the output a chat message quotes.
const EXCERPT: usize = 800;

/// The JSON document: `event`, `job`, `host`, `suppressed`, then the
/// event's own fields (documented in the parent module).
fn document(q: &Queued, n: &Notice, host: &str) -> Value {
    let mut doc = json!({
        "event": n.event(),
        "job": q.job,
        "host": host,
    });
    let extra = match n {
        Notice::Run { record, .. } => json!({
            "attempts": record.attempt,
            "suppressed": q.suppressed,
            "record": record,
        }),
        Notice::Slow(s) => json!({
            "suppressed": q.suppressed,
            "run_id": s.run_id,
            "attempt": s.attempt,
            "started_at": ts::format(&s.started_at),
            "elapsed_ms": s.elapsed.as_millis() as u64,
            "warn_after_ms": s.warn_after.as_millis() as u64,
        }),
        Notice::Overdue(o) => json!({
            "suppressed": q.suppressed,
            "last_success": o.last_success.as_ref().map(ts::format),
            "expect_success_within_ms": o.window.as_millis() as u64,
            "due_at": ts::format(&o.due_at),
        }),
        Notice::Missed(m) => json!({
            "suppressed": q.suppressed,
            "scheduled_at": m.listed.iter().take(super::MISSED_LISTED).map(ts::format).collect::<Vec<_>>(),
            "more": m.more + m.listed.len().saturating_sub(super::MISSED_LISTED) as u64,
        }),
        Notice::Skipped(s) => json!({
            "suppressed": q.suppressed,
            "scheduled_at": ts::format(&s.scheduled_at),
            "reason": s.reason,
        }),
    };
    if let (Value::Object(doc), Value::Object(extra)) = (&mut doc, extra) {
        doc.extend(extra);
    }
    doc
}

/// `db-backup on web1: FAILED (exit 1)`.
fn title(q: &Queued, n: &Notice, host: &str) -> String {
    format!("{} on {host}: {}", q.job, n.outcome())
}

/// The facts as `Name: value` lines, plus the rate-limit count.
fn fact_lines(q: &Queued, n: &Notice) -> String {
    let mut lines: Vec<String> = n
        .facts()
        .into_iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect();
    if q.suppressed > 0 {
        lines.push(format!("Suppressed by the rate limit: {}", q.suppressed));
    }
    lines.join("\n")
}

/// Markdown for Slack-like and Discord: bold title, facts, output in a
/// code block. `excerpt` bounds the quoted output.
fn markdown(q: &Queued, n: &Notice, host: &str, bold: &str, excerpt: usize) -> String {
    let mut text = format!(
        "{bold}[cronduct] {}{bold}\n{}",
        title(q, n, host),
        fact_lines(q, n)
    );
    if let Some(out) = n.excerpt(excerpt) {
        // A fence inside the output would end the block early.
        text.push_str(&format!("\n```\n{}\n```", out.replace("```", "'''")));
    }
    text
}

/// Slack's `text` is mrkdwn: `&`, `<` and `>` must be escaped.
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// An Adaptive Card 1.4 in the envelope a Teams workflow ("Post to a
/// channel when a webhook request is received") expects.
fn teams(q: &Queued, n: &Notice, host: &str) -> Value {
    let facts: Vec<Value> = n
        .facts()
        .into_iter()
        .map(|(k, v)| json!({"title": k, "value": v}))
        .collect();
    let mut body = vec![
        json!({
            "type": "TextBlock",
            "text": format!("[cronduct] {}", title(q, n, host)),
            "weight": "Bolder",
            "size": "Medium",
            "color": if n.is_alarm() { "Attention" } else { "Default" },
            "wrap": true,
        }),
        json!({"type": "FactSet", "facts": facts}),
    ];
    if q.suppressed > 0 {
        body.push(json!({
            "type": "TextBlock",
            "text": format!("{} earlier notice(s) were suppressed by the rate limit.", q.suppressed),
            "wrap": true,
            "isSubtle": true,
        }));
    }
    if let Some(out) = n.excerpt(EXCERPT) {
        body.push(json!({
            "type": "TextBlock",
            "text": out,
            "fontType": "Monospace",
            "wrap": true,
        }));
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": body,
            },
        }],
    })
}

/// ntfy's tags (emoji short codes it shows before the title).
fn ntfy_tags(n: &Notice) -> &'static str {
    match n {
        Notice::Run { event, .. } => match event {
            super::Event::Recovery => "white_check_mark,cronduct",
            super::Event::Success => "heavy_check_mark,cronduct",
            _ => "rotating_light,cronduct",
        },
        Notice::Slow(_) => "hourglass,cronduct",
        Notice::Overdue(_) => "alarm_clock,cronduct",
        Notice::Missed(_) => "calendar,cronduct",
        Notice::Skipped(_) => "fast_forward,cronduct",
    }
}

/// A format's own headers: name (lower case) and value.
type Headers = Vec<(&'static str, String)>;

/// The body and the format's own headers.
fn render(
    hook: &Webhook,
    q: &Queued,
    n: &Notice,
    host: &str,
) -> Result<(Vec<u8>, Headers), DeliveryError> {
    let json = |v: &Value| {
        serde_json::to_vec(v)
            .map_err(|e| DeliveryError::Permanent(format!("cannot encode the webhook body: {e}")))
    };
    let json_type = ("content-type", "application/json".to_string());
    Ok(match hook.format {
        WebhookFormat::Json => (json(&document(q, n, host))?, vec![json_type]),
        WebhookFormat::Slack => {
            let text = slack_escape(&markdown(q, n, host, "*", EXCERPT));
            (json(&json!({ "text": text }))?, vec![json_type])
        }
        WebhookFormat::Discord => {
            // Shrink the quoted output first, then cut as a last resort:
            // Discord rejects the whole message over its limit.
            let mut content = markdown(q, n, host, "**", EXCERPT);
            if content.chars().count() > DISCORD_LIMIT {
                content = markdown(q, n, host, "**", 200);
            }
            let content = cut(&content, DISCORD_LIMIT);
            (json(&json!({ "content": content }))?, vec![json_type])
        }
        WebhookFormat::Teams => (json(&teams(q, n, host))?, vec![json_type]),
        WebhookFormat::Ntfy => {
            let mut text = fact_lines(q, n);
            if let Some(out) = n.excerpt(EXCERPT) {
                text.push_str("\n\n");
                text.push_str(&out);
            }
            let priority = if n.is_alarm() { "high" } else { "default" };
            (
                text.into_bytes(),
                vec![
                    ("content-type", "text/plain; charset=utf-8".to_string()),
                    ("title", format!("[cronduct] {}", title(q, n, host))),
                    ("priority", priority.to_string()),
                    ("tags", ntfy_tags(n).to_string()),
                ],
            )
        }
    })
}

/// The format's headers, then the configured ones (which win); values
/// from files are read now.
async fn headers(hook: &Webhook, own: Headers) -> Result<HeaderMap, DeliveryError> {
    let mut map = HeaderMap::new();
    for (name, value) in own {
        // Non-ASCII (a job title in another script) cannot go in a header
        // as is; ntfy reads RFC 2047 there, but a plain fallback is enough.
        let value = reqwest::header::HeaderValue::from_str(&value).unwrap_or_else(|_| {
            let ascii: String = value
                .chars()
                .map(|c| if c.is_ascii() { c } else { '?' })
                .collect();
            reqwest::header::HeaderValue::from_str(&ascii)
                .unwrap_or(reqwest::header::HeaderValue::from_static(""))
        });
        map.insert(HeaderName::from_static(name), value);
    }
    for (name, value) in &hook.headers {
        let header = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            DeliveryError::Permanent(format!("webhook header {name:?}: not a valid header name"))
        })?;
        let text = match value {
            HeaderValue::Text(t) => t.clone(),
            HeaderValue::File(path) => {
                let raw = tokio::fs::read_to_string(path).await.map_err(|e| {
                    DeliveryError::Transient(format!(
                        "cannot read the webhook header {name} file {}: {}",
                        path.display(),
                        e.kind()
                    ))
                })?;
                raw.strip_suffix("\r\n")
                    .or_else(|| raw.strip_suffix('\n'))
                    .unwrap_or(&raw)
                    .to_string()
            }
        };
        // The value is never part of the error: it may be a token.
        let mut v = reqwest::header::HeaderValue::from_str(&text).map_err(|_| {
            DeliveryError::Permanent(format!(
                "webhook header {name}: the value is not a valid HTTP header value"
            ))
        })?;
        v.set_sensitive(true);
        map.insert(header, v);
    }
    Ok(map)
}

/// One try at posting the notice to its webhook; any 2xx answer is
/// success.
pub(super) async fn post(
    http: &LazyClient,
    host: &str,
    q: &Queued,
    timeout: Duration,
) -> Result<(), DeliveryError> {
    let (Some(hook), What::Notice(n)) = (&q.webhook, &q.what) else {
        return Ok(());
    };
    let (body, own) = render(hook, q, n, host)?;
    let headers = headers(hook, own).await?;
    let url = &hook.url;
    let sent = http
        .get()
        .map_err(DeliveryError::Permanent)?
        .post(url)
        .headers(headers)
        .timeout(timeout)
        .body(body)
        .send()
        .await;
    outcome("webhook", url, sent)
}

/// What one POST of a notification channel came to: any 2xx answer is
/// success. Only host:port and the root cause are told, never the URL:
/// webhook and ping URLs carry a secret token in the path or query, and
/// this text is logged.
pub(super) fn outcome(
    channel: &str,
    url: &str,
    sent: Result<reqwest::Response, reqwest::Error>,
) -> Result<(), DeliveryError> {
    let response = sent.map_err(|e| {
        let text = format!("{channel}: {}", describe(&e, url));
        // A URL reqwest cannot even build a request for stays broken.
        if e.is_builder() {
            DeliveryError::Permanent(text)
        } else {
            DeliveryError::Transient(text)
        }
    })?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(DeliveryError::Transient(format!(
            "{channel} {} answered HTTP {status}",
            host_port(url)
        )))
    }
}
