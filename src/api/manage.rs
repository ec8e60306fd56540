//! Job management over the API (cronduct.toml(5) ADMIN API, Managed jobs):
//! `PUT`/`DELETE /api/v1/jobs/{id}` and `enable`/`disable` write the drop-in
//! file `<managed_dir>/<id>.toml`, then reload. The file stays the source
//! of truth: the API never changes a job any other way, so what runs is
//! always what the files say, across restarts.
//!
//! Each change is checked before anything is written: the whole
//! configuration is loaded as it would be with the new file (the same
//! validation as `cronduct check`; 422 with every error otherwise), and
//! refused with 409 for a job defined in a hand-edited file, 412 when
//! `If-Match` names another definition than the current one. The write is
//! atomic (a temporary file, fsync, rename, fsync of the folder), so a
//! crash at any moment leaves the old file or the new one, never half a
//! file. Changes are applied one at a time, each with its reload.

use std::hash::{Hash, Hasher};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::ApiError;
use crate::config::ConfigErrors;
use crate::wire::{JobDetail, JobPlan, JobRemoved};

/// What the API needs to manage jobs: the main file (to validate against)
/// and `managed_dir`, both as the daemon started with them.
#[derive(Debug, Clone)]
pub struct Managed {
    pub config_path: PathBuf,
    pub dir: PathBuf,
}

/// The first line of every managed file.
const HEADER: &str = "# Written by cronduct's admin API (PUT /api/v1/jobs/ID). Edits are kept,\n\
                      # but the next PUT of this job replaces the file whole.\n";

/// The `ETag` of a job's definition: a hash of what the config says about
/// it (never of its run state), so it changes only when the definition
/// does.
pub(crate) fn definition_tag(job: &JobDetail) -> String {
    let s = &job.summary;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (
        &s.description,
        &s.schedule,
        &s.timezone,
        &s.action,
        s.enabled,
        &s.origin,
    )
        .hash(&mut h);
    // A `serde_json::Map` is ordered by key, so its text is stable.
    serde_json::Value::Object(job.settings.clone())
        .to_string()
        .hash(&mut h);
    format!("\"{:016x}\"", h.finish())
}

/// Adds the `ETag` header of `job` to `response`.
pub(crate) fn with_tag(mut response: Response, job: &JobDetail) -> Response {
    if let Ok(v) = HeaderValue::from_str(&definition_tag(job)) {
        response.headers_mut().insert(header::ETAG, v);
    }
    response
}

/// What a change does to the job's file.
enum Change {
    /// PUT: the job's keys, as JSON.
    Put(serde_json::Map<String, serde_json::Value>),
    /// PUT with `dry_run=true`: checked, answered with a [`JobPlan`], not
    /// written.
    Plan(serde_json::Map<String, serde_json::Value>),
    Delete,
    /// enable (`true`) or disable.
    Enabled(bool),
}

/// `PUT /api/v1/jobs/{id}` with a JSON object of job keys.
pub(crate) async fn put(
    s: &Arc<AppState>,
    id: String,
    headers: &HeaderMap,
    body: &Bytes,
    dry_run: bool,
) -> Response {
    if s.ctx.managed.is_none() {
        return off().into_response();
    }
    let keys = match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(map)) => map,
        Ok(_) => {
            return ApiError::bad_request("the body must be a JSON object of job keys")
                .into_response();
        }
        Err(e) => {
            return ApiError::bad_request(format!("the body is not JSON: {e}")).into_response();
        }
    };
    let change_of = if dry_run { Change::Plan } else { Change::Put };
    respond(change(s, id, headers, change_of(keys)).await)
}

/// `DELETE /api/v1/jobs/{id}`.
pub(crate) async fn delete(s: &Arc<AppState>, id: String, headers: &HeaderMap) -> Response {
    respond(change(s, id, headers, Change::Delete).await)
}

/// `POST /api/v1/jobs/{id}/enable` and `/disable`.
pub(crate) async fn set_enabled(
    s: &Arc<AppState>,
    id: String,
    headers: &HeaderMap,
    enabled: bool,
) -> Response {
    respond(change(s, id, headers, Change::Enabled(enabled)).await)
}

fn off() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "job management over the API is off: set [daemon] managed_dir to turn it on",
    )
}

fn respond(result: Result<Response, ApiError>) -> Response {
    result.unwrap_or_else(IntoResponse::into_response)
}

async fn change(
    s: &Arc<AppState>,
    id: String,
    headers: &HeaderMap,
    change: Change,
) -> Result<Response, ApiError> {
    let Some(managed) = s.ctx.managed.clone() else {
        return Err(off());
    };
    if !crate::config::valid_job_id(&id) {
        return Err(ApiError::bad_request(format!(
            "invalid job id {id:?}: letters, digits, `_`, `.` and `-`, starting with a letter or digit"
        )));
    }
    // One change at a time: each is validated against the files the
    // previous one left, and reloaded before the next starts.
    let _turn = s.manage_lock.lock().await;
    let file = managed.dir.join(format!("{id}.toml"));
    let current = match s.ctx.handle.job(&id).await {
        Ok(job) => Some(job),
        Err(crate::daemon::control::ControlError::UnknownJob(_)) => None,
        Err(e) => return Err(e.into()),
    };
    if let Some(job) = &current {
        if !same_file(Path::new(&job.summary.origin), &file) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!(
                    "job {id:?} is defined in {}, not by the API; edit that file instead",
                    hand_written_location(&job.summary.origin, &id)
                ),
            ));
        }
    }
    check_if_match(headers, current.as_ref())?;
    let created = current.is_none();
    let dry_run = matches!(change, Change::Plan(_));
    let (before, text) = {
        let file = file.clone();
        let id = id.clone();
        let absent = current.is_none();
        let managed = managed.clone();
        tokio::task::spawn_blocking(move || prepare(&managed, &file, &id, absent, change))
            .await
            .map_err(|e| internal(format!("the change was not prepared: {e}")))??
    };
    if dry_run {
        let after = text.unwrap_or_default();
        let change = match &before {
            None => "create",
            Some(b) if *b == after => "unchanged",
            Some(_) => "replace",
        };
        return Ok(super::routes::json_answer(&JobPlan {
            job: id,
            change: change.to_string(),
            before,
            after,
        }));
    }
    let written = {
        let file = file.clone();
        let text = text.clone();
        tokio::task::spawn_blocking(move || commit(&file, text.as_deref()))
            .await
            .map_err(|e| internal(format!("the file was not written: {e}")))?
    };
    written.map_err(internal)?;
    match s.ctx.handle.reload().await? {
        Ok(_) => {}
        Err(errors) => {
            // Something else changed between the check and the reload (a
            // hand edit): put the file back as it was, so a refused change
            // leaves nothing behind.
            let restored = tokio::task::spawn_blocking(move || commit(&file, before.as_deref()))
                .await
                .map_err(|e| internal(format!("the file was not restored: {e}")))?;
            if let Err(e) = restored {
                tracing::error!("{e}");
            }
            return Err(ApiError::invalid_config(errors));
        }
    }
    if text.is_none() {
        return Ok(super::routes::json_answer(&JobRemoved {
            job: id,
            removed: true,
        }));
    }
    let job = s.ctx.handle.job(&id).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let mut response = super::routes::job_detail_answer(s, job.clone()).await?;
    *response.status_mut() = status;
    Ok(with_tag(response, &job))
}

/// 412 when `If-Match` is sent and names neither the job's current tag nor
/// `*` for an existing job.
fn check_if_match(headers: &HeaderMap, current: Option<&JobDetail>) -> Result<(), ApiError> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(());
    };
    let wanted = value.to_str().unwrap_or_default();
    let matched = current.is_some_and(|job| {
        let tag = definition_tag(job);
        wanted
            .split(',')
            .map(str::trim)
            .any(|w| w == "*" || w == tag || w.strip_prefix("W/") == Some(tag.as_str()))
    });
    if matched {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::PRECONDITION_FAILED,
            match current {
                Some(job) => format!(
                    "the job changed since it was read (its ETag is now {}); read it again",
                    definition_tag(job)
                ),
                None => "the job does not exist, so it cannot match If-Match".to_string(),
            },
        ))
    }
}

/// A managed file's text before and after a change; `None`: no file.
type BeforeAfter = (Option<String>, Option<String>);

/// The old text of the file and its new text, after the whole
/// configuration was validated with the new one.
fn prepare(
    managed: &Managed,
    file: &Path,
    id: &str,
    absent: bool,
    change: Change,
) -> Result<BeforeAfter, ApiError> {
    let before = match std::fs::read_to_string(file) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(internal(format!("cannot read {}: {e}", file.display()))),
    };
    let text = match change {
        Change::Put(keys) | Change::Plan(keys) => Some(render(id, keys)?),
        Change::Delete if absent => {
            return Err(ApiError::not_found(format!("unknown job {id:?}")));
        }
        Change::Delete => None,
        Change::Enabled(_) if absent => {
            return Err(ApiError::not_found(format!("unknown job {id:?}")));
        }
        Change::Enabled(on) => {
            let old = before.as_deref().unwrap_or_default();
            Some(with_enabled(old, id, on).map_err(|e| {
                ApiError::new(
                    StatusCode::CONFLICT,
                    format!("{} cannot be changed: {e}", file.display()),
                )
            })?)
        }
    };
    crate::config::load_with(&managed.config_path, file, text.clone()).map_err(invalid_job)?;
    Ok((before, text))
}

/// A 422 naming every problem of the job (or of the configuration with it).
fn invalid_job(errors: ConfigErrors) -> ApiError {
    ApiError::invalid_config_with(
        "invalid job; nothing was written and the old jobs keep running",
        errors,
    )
}

fn internal(message: String) -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message)
}

/// The file text of job `id` from its keys: one `[jobs.<id>]` table.
fn render(id: &str, keys: serde_json::Map<String, serde_json::Value>) -> Result<String, ApiError> {
    let mut table = toml::Table::new();
    for (key, value) in keys {
        let value =
            to_toml(&value).map_err(|why| ApiError::bad_request(format!("key `{key}`: {why}")))?;
        table.insert(key, value);
    }
    let mut jobs = toml::Table::new();
    jobs.insert(id.to_string(), toml::Value::Table(table));
    let mut doc = toml::Table::new();
    doc.insert("jobs".to_string(), toml::Value::Table(jobs));
    let body = toml::to_string(&doc).map_err(|e| internal(format!("cannot write TOML: {e}")))?;
    Ok(format!("{HEADER}\n{body}"))
}

/// A JSON value as TOML, which has no null.
fn to_toml(v: &serde_json::Value) -> Result<toml::Value, String> {
    use serde_json::Value as J;
    Ok(match v {
        J::Null => return Err("null has no TOML form; leave the key out".to_string()),
        J::Bool(b) => toml::Value::Boolean(*b),
        J::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => toml::Value::Integer(i),
            (None, Some(f)) => toml::Value::Float(f),
            (None, None) => return Err(format!("{n} is out of range")),
        },
        J::String(s) => toml::Value::String(s.clone()),
        J::Array(items) => toml::Value::Array(items.iter().map(to_toml).collect::<Result<_, _>>()?),
        J::Object(map) => toml::Value::Table(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), to_toml(v)?)))
                .collect::<Result<_, String>>()?,
        ),
    })
}

/// `text` with `enabled` of job `id` set to `on`; the rest is kept (as
/// TOML values: comments of a hand-edited managed file are lost).
fn with_enabled(text: &str, id: &str, on: bool) -> Result<String, String> {
    let mut doc: toml::Table = text.parse().map_err(|e| format!("not valid TOML: {e}"))?;
    let job = doc
        .get_mut("jobs")
        .and_then(|j| j.as_table_mut())
        .and_then(|j| j.get_mut(id))
        .and_then(|j| j.as_table_mut())
        .ok_or_else(|| format!("it holds no [jobs.{id}] table"))?;
    job.insert("enabled".to_string(), toml::Value::Boolean(on));
    let body = toml::to_string(&doc).map_err(|e| format!("cannot write TOML: {e}"))?;
    Ok(format!("{HEADER}\n{body}"))
}

/// Makes `file` hold `text` (`None`: not exist), atomically and durably:
/// the text goes to a temporary file in the same folder (its name starts
/// with a dot, so no include ever matches it), which is synced, renamed
/// over `file`, and the folder synced, so the new name survives a crash.
pub(crate) fn commit(file: &Path, text: Option<&str>) -> Result<(), String> {
    let dir = file.parent().unwrap_or(Path::new("."));
    let fail = |what: &str, e: std::io::Error| format!("cannot {what} {}: {e}", file.display());
    match text {
        Some(text) => {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o750)
                .create(dir)
                .map_err(|e| fail("create the folder of", e))?;
            let name = file.file_name().map(|n| n.to_string_lossy().into_owned());
            let mut nonce = [0u8; 6];
            rand::fill(&mut nonce);
            let nonce: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
            let tmp = dir.join(format!(".{}.{nonce}.tmp", name.unwrap_or_default()));
            let written = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o640)
                .open(&tmp)
                .and_then(|mut f| {
                    f.write_all(text.as_bytes())?;
                    f.sync_all()
                })
                .and_then(|()| std::fs::rename(&tmp, file));
            if let Err(e) = written {
                let _ = std::fs::remove_file(&tmp);
                return Err(fail("write", e));
            }
        }
        None => match std::fs::remove_file(file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(fail("remove", e)),
        },
    }
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| fail("sync the folder of", e))
}

fn same_file(a: &Path, b: &Path) -> bool {
    let canonical = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    canonical(a) == canonical(b)
}

/// `file:line` of job `id`'s table in a hand-edited file (crontab jobs'
/// origins carry their line already); the file alone when the line cannot
/// be found.
fn hand_written_location(origin: &str, id: &str) -> String {
    let Ok(text) = std::fs::read_to_string(origin) else {
        return origin.to_string();
    };
    let headers = [
        format!("[jobs.{id}]"),
        format!("[jobs.{id}."),
        format!("[jobs.\"{id}\"]"),
        format!("[jobs.\"{id}\"."),
        format!("jobs.{id} "),
        format!("jobs.{id}="),
    ];
    text.lines()
        .position(|l| {
            let l = l.trim_start();
            headers.iter().any(|h| l.starts_with(h.as_str()))
        })
        .map_or_else(|| origin.to_string(), |n| format!("{origin}:{}", n + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_renders_as_one_table_and_null_is_refused() {
        let keys = serde_json::json!({
            "schedule": "*/5 * * * *",
            "command": ["echo", "hi"],
            "retries": 2,
            "retry_backoff": 1.5,
            "env": {"A": "b"},
        });
        let serde_json::Value::Object(keys) = keys else {
            panic!("an object");
        };
        let text = render("web-check", keys).expect("rendered");
        assert!(text.starts_with(HEADER), "{text}");
        let doc: toml::Table = text.parse().expect("TOML");
        let job = &doc["jobs"]["web-check"];
        assert_eq!(job["retries"].as_integer(), Some(2));
        assert_eq!(job["retry_backoff"].as_float(), Some(1.5));
        assert_eq!(job["env"]["A"].as_str(), Some("b"));
        let serde_json::Value::Object(bad) = serde_json::json!({"user": null}) else {
            panic!("an object");
        };
        assert!(render("x", bad).is_err());
    }

    #[test]
    fn enabled_is_set_in_place() {
        let text = "[jobs.a]\nschedule = \"@daily\"\ncommand = \"true\"\n";
        let out = with_enabled(text, "a", false).expect("changed");
        let doc: toml::Table = out.parse().expect("TOML");
        assert_eq!(doc["jobs"]["a"]["enabled"].as_bool(), Some(false));
        assert_eq!(doc["jobs"]["a"]["command"].as_str(), Some("true"));
        assert!(with_enabled(text, "b", true).is_err());
    }

    #[test]
    fn commit_replaces_and_removes_leaving_no_temporary_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("managed").join("a.toml");
        commit(&file, Some("one")).expect("written");
        commit(&file, Some("two")).expect("replaced");
        assert_eq!(std::fs::read_to_string(&file).expect("read"), "two");
        let names: Vec<_> = std::fs::read_dir(file.parent().expect("dir"))
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("a.toml")]);
        commit(&file, None).expect("removed");
        assert!(!file.exists());
        commit(&file, None).expect("removing twice is fine");
    }

    #[test]
    fn a_hand_written_job_is_found_at_its_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("jobs.toml");
        std::fs::write(
            &file,
            "[daemon]\n\n[jobs.other]\n\n[jobs.backup]\nschedule = 1\n",
        )
        .expect("write");
        let origin = file.display().to_string();
        assert_eq!(
            hand_written_location(&origin, "backup"),
            format!("{origin}:5")
        );
        assert_eq!(hand_written_location(&origin, "nope"), origin);
    }
}
