//! The resolved settings of a job as `GET /api/v1/jobs/{id}` shows them:
//! top-level fields, durations as the config writes them (`"30m"`).

use crate::config::units::format_duration;
use crate::config::{Action, Command, Job};

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
        ]
        .into_iter()
        .filter_map(|(set, name)| set.then_some(name))
        .collect();
        serde_json::json!({ "email": n.email, "webhook": n.webhook.as_ref().map(|w| &w.url), "on": on, "after": n.after })
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
        "env": job.env,
        "output_limit": job.output_limit,
        "notify": notify,
        "source": job.source,
    }) else {
        unreachable!("json! of an object literal is an object");
    };
    if let serde_json::Value::Object(extra) = action {
        fields.extend(extra);
    }
    fields
}
