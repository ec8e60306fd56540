//! The resolved settings of a job as `GET /api/v1/jobs/{id}` shows them:
//! top-level fields, durations as the config writes them (`"30m"`).

use crate::config::{Action, Command, EnvValue, HeaderValue, Job, Webhook, WebhookFormat};
use crate::units::format_duration;

/// The resolved settings of a job as `GET /api/v1/jobs/{id}` shows them.
pub fn settings_json(job: &Job) -> serde_json::Map<String, serde_json::Value> {
    let action = match &job.action {
        Action::Command(Command::Shell(s)) => {
            serde_json::json!({ "command": s, "shell": job.shell })
        }
        Action::Command(Command::Argv(argv)) => serde_json::json!({ "command": argv }),
        Action::Http(h) => serde_json::json!({ "http": {
            "url": h.url, "method": h.method, "headers": h.headers,
            "body": h.body, "expect_status": h.expect_status,
        }}),
    };
    let notify = job.notify.as_ref().map(|n| {
        let on: Vec<&str> = [
            (n.on.failure, "failure"),
            (n.on.recovery, "recovery"),
            (n.on.success, "success"),
            (n.on.slow, "slow"),
            (n.on.overdue, "overdue"),
            (n.on.missed, "missed"),
            (n.on.skipped, "skipped"),
        ]
        .into_iter()
        .filter_map(|(set, name)| set.then_some(name))
        .collect();
        let webhook = n.webhook.as_ref().map(webhook_json);
        serde_json::json!({
            "email": n.email, "webhook": webhook, "ping": n.ping, "on": on, "after": n.after,
        })
    });
    let serde_json::Value::Object(mut fields) = serde_json::json!({
        "timeout": job.timeout.map(format_duration),
        "kill_grace": format_duration(job.kill_grace),
        "retries": job.retries,
        "retry_delay": format_duration(job.retry_delay),
        "retry_backoff": job.retry_backoff,
        "concurrency": job.concurrency.as_str(),
        "jitter": format_duration(job.jitter),
        "catch_up": job.catch_up.map(format_duration),
        "user": job.user,
        "group": job.group,
        "working_dir": job.working_dir,
        "env": env_json(job),
        "env_file": job.env_file.iter().map(|f| {
            let mut s = if f.optional { "-".to_string() } else { String::new() };
            s.push_str(&f.path.to_string_lossy());
            s
        }).collect::<Vec<_>>(),
        "inherit_env": job.inherit_env,
        "output_limit": job.output_limit,
        "notify": notify,
        "critical": job.critical,
        "warn_after": job.warn_after.map(format_duration),
        "expect_success_within": job.expect_success_within.map(format_duration),
        "success_exit_codes": job.success_exit_codes,
        "stdin": job.stdin,
    }) else {
        unreachable!("json! of an object literal is an object");
    };
    if let serde_json::Value::Object(extra) = action {
        fields.extend(extra);
    }
    fields
}

/// A webhook as the job detail shows it: a header read from a file shows
/// its path, never what the file holds (a secret).
fn webhook_json(w: &Webhook) -> serde_json::Value {
    let format = match w.format {
        WebhookFormat::Json => "json",
        WebhookFormat::Slack => "slack",
        WebhookFormat::Discord => "discord",
        WebhookFormat::Teams => "teams",
        WebhookFormat::Ntfy => "ntfy",
    };
    let headers: serde_json::Map<String, serde_json::Value> = w
        .headers
        .iter()
        .map(|(name, value)| {
            let value = match value {
                HeaderValue::Text(text) => serde_json::json!(text),
                HeaderValue::File(path) => serde_json::json!({ "file": path }),
            };
            (name.clone(), value)
        })
        .collect();
    serde_json::json!({ "url": w.url, "format": format, "headers": headers })
}

/// `env` as the job detail shows it: a value read from a file or a
/// credential shows where it comes from, never what it is.
fn env_json(job: &Job) -> serde_json::Map<String, serde_json::Value> {
    job.env
        .iter()
        .map(|(name, value)| {
            let value = match value {
                EnvValue::Text(t) => serde_json::Value::from(t.as_str()),
                EnvValue::File(p) => serde_json::json!({ "file": p }),
                EnvValue::Credential(c) => serde_json::json!({ "credential": c }),
            };
            (name.clone(), value)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use super::*;

    /// The job detail shows the health keys and the webhook's table form;
    /// a header read from a file shows its path, never the file.
    #[test]
    fn settings_show_health_keys_and_the_webhook_without_secrets() {
        let dir = tempfile::tempdir().expect("temp dir");
        let token = dir.path().join("hook.token");
        std::fs::write(&token, "s3cret-token\n").expect("write token");
        let mut job = Job::new(
            "j",
            "@daily".parse().expect("valid"),
            crate::zone::Zone::utc(),
            Action::Command(Command::Argv(vec!["true".into()])),
            "jobs.toml",
        );
        job.critical = true;
        job.warn_after = Some(Duration::from_secs(90));
        job.success_exit_codes = vec![0, 3];
        job.notify = Some(crate::config::Notify {
            email: Vec::new(),
            webhook: Some(Webhook {
                url: "https://hooks.example.com/x".into(),
                format: WebhookFormat::Ntfy,
                headers: BTreeMap::from([
                    ("Authorization".into(), HeaderValue::File(token.clone())),
                    ("Title".into(), HeaderValue::Text("cron".into())),
                ]),
            }),
            ping: Some("https://hc-ping.com/abc".into()),
            on: crate::config::NotifyOn {
                slow: true,
                skipped: true,
                ..Default::default()
            },
            after: 1,
        });
        let settings = serde_json::Value::Object(settings_json(&job));
        assert_eq!(settings["critical"], true);
        assert_eq!(settings["warn_after"], "1m30s");
        assert_eq!(settings["expect_success_within"], serde_json::Value::Null);
        assert_eq!(settings["success_exit_codes"], serde_json::json!([0, 3]));
        assert_eq!(
            settings["notify"],
            serde_json::json!({
                "email": [],
                "webhook": {
                    "url": "https://hooks.example.com/x",
                    "format": "ntfy",
                    "headers": { "Authorization": { "file": token }, "Title": "cron" },
                },
                "ping": "https://hc-ping.com/abc",
                "on": ["slow", "skipped"],
                "after": 1,
            })
        );
        assert!(!settings.to_string().contains("s3cret"));
    }
}
