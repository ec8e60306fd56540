//! The endpoints of cronduct.toml(5) ADMIN API, mounted at the paths of
//! [`paths`]. Each handler asks the scheduler (through its control handle),
//! the history index, the log and the notifier, and shapes the answer; none
//! holds state of its own.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::handler::Handler;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, on};
use axum::{Extension, Json, Router};

use super::AppState;
use super::auth::KeyName;
use super::cluster::{self, Source};
use super::document::Document;
use super::error::ApiError;
use super::manage;
use super::memo::StatsRenderError;
use super::metrics::{self, Live};
use super::params::Params;
use super::paths::{self, Endpoint, Verb};
use super::pause::pause_from_body;
use super::procstat;
use crate::log::RunFilter;
use crate::wire::{
    AuditList, Availability, Cancelled, Component, Components, ContainmentMode, ContainmentReport,
    Health, HealthReport, HealthStatus, JobCounts, JobDetailView, JobSummary, LastDelivery,
    LastRun, LogReport, PauseState, PausedAll, ResumedAll, RunAttempts, RunList, RunningList,
    SchedulerReport, StatusReport, SystemReport, TriggerAccepted,
};

type Shared = State<Arc<AppState>>;
type Answer = Result<Response, ApiError>;
pub(super) type RawQuery = Result<Query<Vec<(String, String)>>, QueryRejection>;
type RawPath = Result<Path<String>, PathRejection>;

pub(crate) fn router(state: Arc<AppState>) -> Router {
    Routes(Router::new())
        .at(paths::HEALTH, health)
        .at(paths::METRICS, metrics)
        .at(paths::STATUS, status)
        .at(paths::JOBS, jobs)
        .at(paths::JOB, job)
        .at(paths::PAUSE, pause)
        .at(paths::RESUME, resume)
        .at(paths::PAUSE_ALL, pause_all)
        .at(paths::RESUME_ALL, resume_all)
        .at(paths::TRIGGER, run)
        .at(paths::CANCEL, cancel)
        .at(paths::JOB_RUNS, job_runs)
        .at(paths::RUNS, runs)
        .at(paths::RUN, run_attempts)
        .at(paths::RUN_OUTPUT, run_output)
        .at(paths::RUNNING, running)
        .at(paths::STATS, stats)
        .at(paths::AUDIT, audit)
        .at(paths::CLUSTER, super::cluster::view)
        .at(paths::RELOAD, reload)
        .at(paths::PUT_JOB, put_job)
        .at(paths::DELETE_JOB, delete_job)
        .at(paths::ENABLE, enable)
        .at(paths::DISABLE, disable)
        .at(paths::PAGE, super::ui::page)
        .at(paths::UI_ASSET, super::ui::asset)
        .0
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

/// The router being built, one [`Endpoint`] at a time, so each route's
/// path and method come from [`paths`], as the client's do.
struct Routes(Router<Arc<AppState>>);

impl Routes {
    fn at<H, T>(self, endpoint: Endpoint, handler: H) -> Routes
    where
        H: Handler<T, Arc<AppState>>,
        T: 'static,
    {
        let method = match endpoint.verb {
            Verb::Get => MethodFilter::GET,
            Verb::Post => MethodFilter::POST,
            Verb::Put => MethodFilter::PUT,
            Verb::Delete => MethodFilter::DELETE,
        };
        Routes(self.0.route(endpoint.path, on(method, handler)))
    }
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::not_found(format!("no such endpoint: {}", uri.path()))
}

async fn method_not_allowed(method: axum::http::Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{method} is not allowed on {}", uri.path()),
    )
}

pub(super) fn params(q: RawQuery, allowed: &[&str]) -> Result<Params, ApiError> {
    let Query(pairs) =
        q.map_err(|e| ApiError::bad_request(format!("malformed query string: {e}")))?;
    Params::new(pairs, allowed)
}

fn path_id(p: RawPath) -> Result<String, ApiError> {
    p.map(|Path(id)| id)
        .map_err(|e| ApiError::bad_request(format!("malformed path: {e}")))
}

/// A 200 answer with `body` as JSON. Serialised into a plain `Vec`, a
/// faster writer than the `BytesMut` axum's `Json` uses (a list of 50 runs
/// is 70 KiB).
pub(super) fn ok<T: serde::Serialize>(body: T) -> Answer {
    let mut buf = Vec::with_capacity(512);
    serde_json::to_writer(&mut buf, &body).map_err(serialise_error)?;
    Ok(json_bytes(buf))
}

/// A 200 answer of JSON already serialised.
fn json_bytes(body: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn serialise_error(e: serde_json::Error) -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("cannot serialise the answer: {e}"),
    )
}

/// `GET /health`: open (no key), for load balancers and monitoring.
/// Degraded: the last reload was refused or kept the previous API keys,
/// the log cannot be written or has dropped records, the state file
/// cannot be written, no job is configured, a `critical` job is failing
/// or overdue, or the latest delivery over a notification channel failed.
/// Unhealthy (503): the scheduler does not answer within
/// `health_deadline` or is stopping.
async fn health(State(s): Shared) -> Response {
    let asked = tokio::time::timeout(s.limits.health_deadline, async {
        let status = s.ctx.handle.status().await?;
        let jobs = s.ctx.handle.jobs().await?;
        Ok::<_, crate::daemon::control::ControlError>((status, jobs))
    })
    .await;
    let (sched, jobs) = match asked {
        Ok(Ok(answers)) => answers,
        Ok(Err(e)) => return unhealthy(e.to_string()),
        Err(_) => {
            return unhealthy(format!(
                "the scheduler did not answer within {}s",
                s.limits.health_deadline.as_secs_f64()
            ));
        }
    };
    let mut warnings = Vec::new();
    if !sched.last_reload.ok {
        warnings.push(format!(
            "the last configuration reload was refused: {}",
            sched
                .last_reload
                .error
                .as_deref()
                .unwrap_or("unknown error")
        ));
    }
    if let Some(problem) = s.ctx.keys.problem() {
        warnings.push(format!(
            "the API keys were not reloaded, the previous ones stay valid: {problem}"
        ));
    }
    let log = s.ctx.log.health();
    if !log.ok {
        warnings.push(format!(
            "the execution log cannot be written: {}",
            log.error.as_deref().unwrap_or("unknown error")
        ));
    }
    if log.dropped > 0 {
        warnings.push(format!(
            "{} execution log records were dropped",
            log.dropped
        ));
    }
    if let Some(error) = s.ctx.state_health.error() {
        warnings.push(format!(
            "{error}; pauses and last scheduled times changed since will be lost at a restart"
        ));
    }
    if sched.jobs_total == 0 {
        warnings.push("no jobs are configured".to_string());
    }
    if let Some(node) = &s.ctx.cluster {
        let link = node.link().get();
        if !link.reachable {
            warnings.push(format!(
                "the cluster database is unreachable ({}): run_on = \"one\" jobs do not start on this node",
                link.error.as_deref().unwrap_or("unknown error")
            ));
        }
        warnings.extend(super::cluster::drift_warnings(&node.view()));
    }
    if sched.cluster_restart_needed {
        warnings.push(
            "[cluster] was changed by a reload: restart needed to apply it (the daemon keeps the settings it started with)"
                .to_string(),
        );
    }
    let critical: Vec<&JobSummary> = jobs.iter().filter(|j| j.signals.critical).collect();
    let last = last_finished_runs(&s, critical.iter().map(|j| j.id.clone()).collect())
        .await
        .0;
    for (job, last) in critical.iter().zip(&last) {
        let health = job.health(last.as_deref().map(|r| r.status));
        if health.alarms_when_critical() {
            warnings.push(format!("critical job {:?} is {health}", job.id));
        }
    }
    for (channel, last) in [
        ("email", s.ctx.notifications.last_email()),
        ("webhook", s.ctx.notifications.last_webhook()),
    ] {
        if let Some(LastDelivery {
            ok: false, error, ..
        }) = last
        {
            warnings.push(format!(
                "the last {channel} notification could not be delivered: {}",
                error.as_deref().unwrap_or("unknown error")
            ));
        }
    }
    let status = if warnings.is_empty() {
        HealthStatus::Healthy
    } else {
        HealthStatus::Degraded
    };
    Json(HealthReport {
        status,
        warnings,
        jobs: Some(sched.jobs_total),
        running: Some(sched.runs_active),
        last_reload: Some(sched.last_reload),
    })
    .into_response()
}

fn unhealthy(why: String) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(HealthReport {
            status: HealthStatus::Unhealthy,
            warnings: vec![why],
            jobs: None,
            running: None,
            last_reload: None,
        }),
    )
        .into_response()
}

/// `GET /api/v1/status`, gzip-compressed to clients that accept it: with
/// `jobs_analysis` it is about 250 bytes per job, most of what the status
/// page loads first with 1,000 jobs.
async fn status(State(s): Shared, headers: HeaderMap, q: RawQuery) -> Answer {
    params(q, &[])?;
    // Read before asking: a kept analysis is at least this fresh.
    let (version, generation) = (s.ctx.handle.jobs_version(), s.ctx.history.generation());
    let sched = s.ctx.handle.status().await?;
    let now = s.ctx.clock.now();
    let key = (version, generation, now.timestamp());
    let analysis = match s.analysis_memo.current(key) {
        Some(kept) => kept,
        None => {
            let jobs = s.ctx.handle.jobs().await?;
            s.analysis_memo
                .render_at(key, &s.ctx.history, &jobs, now)
                .map_err(serialise_error)?
        }
    };
    let log = s.ctx.log.health();
    let components = Components {
        scheduler: Component {
            // Running on an older config is working, with a caveat.
            status: if sched.last_reload.ok {
                Availability::Available
            } else {
                Availability::Degraded
            },
            ok: Some(sched.last_reload.ok),
            at: Some(sched.last_reload.at),
            error: sched.last_reload.error.clone(),
        },
        log: Component {
            status: match (log.ok, log.dropped) {
                (false, _) => Availability::Unavailable,
                (true, 0) => Availability::Available,
                (true, _) => Availability::Degraded,
            },
            ok: Some(log.ok),
            at: None,
            error: log.error.clone(),
        },
        state: {
            let error = s.ctx.state_health.error();
            Component {
                status: if error.is_none() {
                    Availability::Available
                } else {
                    Availability::Unavailable
                },
                ok: Some(error.is_none()),
                at: None,
                error,
            }
        },
        smtp: delivery_component(s.ctx.notifications.last_email()),
        webhook: delivery_component(s.ctx.notifications.last_webhook()),
    };
    let (memory_total_bytes, memory_available_bytes) = procstat::memory();
    let log_dir = s
        .ctx
        .log_file
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let system = SystemReport {
        load_average: procstat::load_average(),
        memory_total_bytes,
        memory_available_bytes,
        state_dir_fs: procstat::fs_space(&s.ctx.state_dir),
        log_fs: procstat::fs_space(log_dir),
        threads: procstat::threads(),
        open_fds: procstat::open_fds(),
    };
    let containment = crate::action::cgroup::containment();
    let containment = ContainmentReport {
        mode: match containment.mode {
            crate::action::cgroup::Mode::Cgroup => ContainmentMode::Cgroup,
            crate::action::cgroup::Mode::ProcessGroup => ContainmentMode::ProcessGroup,
        },
        reason: containment.reason.clone(),
    };
    let report = StatusReport {
        version: env!("CARGO_PKG_VERSION").to_string(),
        pid: std::process::id(),
        started_at: s.ctx.started_at,
        uptime_seconds: (now - s.ctx.started_at).num_seconds().max(0) as u64,
        config: sched.config,
        last_reload: sched.last_reload,
        jobs: JobCounts {
            total: sched.jobs_total,
            enabled: sched.jobs_enabled,
            paused: sched.jobs_paused,
            running: sched.runs_active,
        },
        next_run: sched.next_run,
        failures_24h: analysis.failures_24h,
        rss_bytes: procstat::rss_bytes(),
        cpu_seconds: procstat::cpu_seconds(),
        log: LogReport {
            ok: log.ok,
            error: log.error,
            pending: log.pending as u64,
            dropped: log.dropped,
        },
        notifications: s.ctx.notifications.stats(),
        scheduler: SchedulerReport {
            running: true,
            timezone: crate::zone::Database::global()
                .system_zone()
                .name()
                .to_string(),
            tzdata: tzdata_report(crate::zone::Database::global()),
        },
        jobs_analysis: &*analysis.json,
        components,
        system,
        containment,
    };
    let mut body = Vec::with_capacity(16 << 10);
    serde_json::to_writer(&mut body, &report).map_err(serialise_error)?;
    Ok(Document::new(body.into()).respond(&headers).await)
}

fn tzdata_report(db: &crate::zone::Database) -> crate::wire::TzdataReport {
    use crate::wire::TzdataSource;
    use crate::zone::Source;
    let (source, path) = match db.source() {
        Source::System(dir) => (TzdataSource::System, Some(dir.clone())),
        Source::CompiledIn => (TzdataSource::CompiledIn, None),
    };
    crate::wire::TzdataReport {
        source,
        path,
        version: db.version(),
    }
}

/// A notification channel as a component: available until a delivery
/// over it is given up, degraded from then until one gets through.
fn delivery_component(last: Option<LastDelivery>) -> Component {
    match last {
        None => Component {
            status: Availability::Available,
            ok: None,
            at: None,
            error: None,
        },
        Some(d) => Component {
            status: if d.ok {
                Availability::Available
            } else {
                Availability::Degraded
            },
            ok: Some(d.ok),
            at: Some(d.at),
            error: d.error,
        },
    }
}

/// `GET /api/v1/jobs`: kept whole while neither the scheduler nor the
/// history has changed, so polling clients cost a copy (or, with
/// `If-None-Match`, nothing); see `api/document.rs`.
async fn jobs(State(s): Shared, q: RawQuery, request: HeaderMap) -> Answer {
    params(q, &[])?;
    if s.ctx.cluster.is_some() {
        // Other nodes' runs change the answer without this node knowing:
        // rendered afresh each time (one statement for all the jobs).
        let jobs = s.ctx.handle.jobs().await?;
        let (last, source) =
            last_finished_runs(&s, jobs.iter().map(|j| j.id.clone()).collect()).await;
        let doc = s.jobs_memo.render(jobs, last).map_err(serialise_error)?;
        let response = Document::new(doc).respond(&request).await;
        return Ok(cluster::mark(response, source));
    }
    // Read before asking: the answer is at least this fresh.
    let key = (s.ctx.handle.jobs_version(), s.ctx.history.generation());
    let doc = match s.jobs_memo.current(key) {
        Some(doc) => doc,
        None => {
            let jobs = s.ctx.handle.jobs().await?;
            let last = s
                .ctx
                .history
                .last_finished_runs(jobs.iter().map(|j| j.id.as_str()));
            s.jobs_memo
                .render_at(key, jobs, last)
                .map_err(serialise_error)?
        }
    };
    Ok(doc.respond(&request).await)
}

/// `GET /api/v1/jobs/{id}`, with the `ETag` of the job's definition (the
/// `If-Match` of a later PUT, DELETE, enable or disable).
async fn job(State(s): Shared, id: RawPath, q: RawQuery) -> Answer {
    let id = path_id(id)?;
    params(q, &[])?;
    let job = s.ctx.handle.job(&id).await?;
    let answer = job_detail_answer(&s, job.clone()).await?;
    Ok(manage::with_tag(answer, &job))
}

/// The answer of `GET /api/v1/jobs/{id}` for `job`: its last run and
/// statistics from the whole cluster in cluster mode.
pub(super) async fn job_detail_answer(s: &AppState, job: crate::wire::JobDetail) -> Answer {
    let id = job.summary.id.clone();
    let (last, from_last) = last_finished_runs(s, vec![id.clone()]).await;
    let last = last.into_iter().flatten().next();
    let (stats, from_stats) = match &s.ctx.cluster {
        Some(node) => cluster::or_local(node, node.job_stats(&id, s.ctx.clock.now()).await, || {
            s.ctx.history.job_stats(&id)
        }),
        None => (s.ctx.history.job_stats(&id), Source::Alone),
    };
    let answer = ok(JobDetailView {
        health: job.summary.health(last.as_deref().map(|r| r.status)),
        job,
        last_run: last.as_deref().map(LastRun::from),
        stats,
    })?;
    let source = if from_last == Source::Local || from_stats == Source::Local {
        Source::Local
    } else {
        from_stats
    };
    Ok(cluster::mark(answer, source))
}

/// For each of `jobs`, the final attempt of its latest finished run: on
/// any node in cluster mode.
async fn last_finished_runs(
    s: &AppState,
    jobs: Vec<String>,
) -> (Vec<Option<Arc<crate::record::FinishRecord>>>, Source) {
    let local = || {
        s.ctx
            .history
            .last_finished_runs(jobs.iter().map(String::as_str))
    };
    match &s.ctx.cluster {
        Some(node) => cluster::or_local(node, node.last_finished_runs(&jobs).await, local),
        None => (local(), Source::Alone),
    }
}

/// A 200 answer of `body` as JSON, or the 500 saying why it could not be
/// serialised.
pub(super) fn json_answer<T: serde::Serialize>(body: &T) -> Response {
    ok(body).unwrap_or_else(IntoResponse::into_response)
}

/// `PUT /api/v1/jobs/{id}` (see `api/manage.rs`).
async fn put_job(
    State(s): Shared,
    id: RawPath,
    q: RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let id = path_id(id)?;
    let p = params(q, &["dry_run"])?;
    Ok(manage::put(&s, id, &headers, &body, p.flag("dry_run")?).await)
}

async fn delete_job(State(s): Shared, id: RawPath, q: RawQuery, headers: HeaderMap) -> Answer {
    let id = path_id(id)?;
    params(q, &[])?;
    Ok(manage::delete(&s, id, &headers).await)
}

async fn enable(State(s): Shared, id: RawPath, q: RawQuery, headers: HeaderMap) -> Answer {
    let id = path_id(id)?;
    params(q, &[])?;
    Ok(manage::set_enabled(&s, id, &headers, true).await)
}

async fn disable(State(s): Shared, id: RawPath, q: RawQuery, headers: HeaderMap) -> Answer {
    let id = path_id(id)?;
    params(q, &[])?;
    Ok(manage::set_enabled(&s, id, &headers, false).await)
}

/// `POST /api/v1/jobs/{id}/pause` with an optional body (`reason`,
/// `until`; see `api/pause.rs`). Pausing a paused job replaces its pause.
async fn pause(
    State(s): Shared,
    Extension(key): Extension<KeyName>,
    id: RawPath,
    q: RawQuery,
    body: Bytes,
) -> Answer {
    let id = path_id(id)?;
    params(q, &[])?;
    let pause = pause_from_body(&body, &key.0, s.ctx.clock.now())?;
    let pause = match &s.ctx.cluster {
        Some(node) => {
            // An unknown job is a 404 before anything is written.
            s.ctx.handle.job(&id).await?;
            super::cluster::pause(node, std::slice::from_ref(&id), &pause).await?
        }
        None => pause,
    };
    s.ctx.handle.pause(&id, pause.clone()).await?;
    ok(PauseState {
        job: id,
        paused: true,
        pause: Some(pause),
    })
}

async fn resume(State(s): Shared, id: RawPath, q: RawQuery) -> Answer {
    let id = path_id(id)?;
    params(q, &[])?;
    if let Some(node) = &s.ctx.cluster {
        s.ctx.handle.job(&id).await?;
        super::cluster::resume(node, Some(std::slice::from_ref(&id))).await?;
    }
    s.ctx.handle.resume(&id).await?;
    ok(PauseState {
        job: id,
        paused: false,
        pause: None,
    })
}

/// `POST /api/v1/pause`: every configured job, with the same body as one
/// job's pause; answers `{"paused": [every job's id], "pause": {…}}`.
async fn pause_all(
    State(s): Shared,
    Extension(key): Extension<KeyName>,
    q: RawQuery,
    body: Bytes,
) -> Answer {
    params(q, &[])?;
    let pause = pause_from_body(&body, &key.0, s.ctx.clock.now())?;
    let pause = match &s.ctx.cluster {
        Some(node) => {
            let ids: Vec<String> = s
                .ctx
                .handle
                .jobs()
                .await?
                .into_iter()
                .map(|j| j.id)
                .collect();
            super::cluster::pause(node, &ids, &pause).await?
        }
        None => pause,
    };
    ok(PausedAll {
        paused: s.ctx.handle.pause_all(pause.clone()).await?,
        pause,
    })
}

/// `POST /api/v1/resume`: answers `{"resumed": [the jobs that were paused]}`.
async fn resume_all(State(s): Shared, q: RawQuery) -> Answer {
    params(q, &[])?;
    if let Some(node) = &s.ctx.cluster {
        super::cluster::resume(node, None).await?;
    }
    ok(ResumedAll {
        resumed: s.ctx.handle.resume_all().await?,
    })
}

/// `POST /api/v1/jobs/{id}/run[?wait=true]`. Without `wait`: 202 as soon
/// as the run is accepted. With it: 200 and the run's final finish record
/// (after retries); the request has no deadline, and a client that gives
/// up does not stop the run.
async fn run(State(s): Shared, id: RawPath, q: RawQuery) -> Answer {
    let id = path_id(id)?;
    let p = params(q, &["wait", "node"])?;
    let wait = p.wait()?;
    let elsewhere = match (p.node(), &s.ctx.cluster) {
        (None, _) => None,
        (Some(name), Some(node)) if name == node.name() => None,
        (Some(name), Some(node)) => Some((name, node)),
        (Some(_), None) => {
            return Err(ApiError::bad_request(
                "node is for cluster mode: this daemon has no [cluster]",
            ));
        }
    };
    if let Some((name, node)) = elsewhere {
        if wait {
            return Err(ApiError::bad_request(
                "wait is not available with node: follow the run with GET /api/v1/runs/{run_id}",
            ));
        }
        let run_id = cluster::run_on(node, &name, &id).await?;
        let body = TriggerAccepted { job: id, run_id };
        return Ok((StatusCode::ACCEPTED, Json(body)).into_response());
    }
    let triggered = s.ctx.handle.trigger(&id).await?;
    if !wait {
        let body = TriggerAccepted {
            job: id,
            run_id: triggered.run_id,
        };
        return Ok((StatusCode::ACCEPTED, Json(body)).into_response());
    }
    match triggered.finished.await {
        Ok(record) => ok(record),
        Err(_) => Err(ApiError::unavailable(format!(
            "run {} was started, but the scheduler stopped before it finished",
            triggered.run_id
        ))),
    }
}

async fn cancel(State(s): Shared, id: RawPath, q: RawQuery) -> Answer {
    let id = path_id(id)?;
    params(q, &[])?;
    let cancelled = s.ctx.handle.cancel(&id).await?;
    ok(Cancelled { cancelled })
}

/// `GET /api/v1/jobs/{id}/runs`. A job removed from the config still has
/// its past runs listed; 404 only when neither the config nor the history
/// knows the id.
async fn job_runs(State(s): Shared, id: RawPath, q: RawQuery) -> Answer {
    let id = path_id(id)?;
    let p = params(q, &["limit", "status"])?;
    let filter = RunFilter {
        job: Some(id.clone()),
        status: p.status()?,
        since: None,
        limit: p.limit()?,
    };
    let (runs, source) = runs_matching(&s, &filter).await;
    if runs.is_empty() && s.ctx.history.last_run(&id).is_none() {
        // Answers 404 for an id the scheduler does not know either.
        s.ctx.handle.job(&id).await?;
    }
    Ok(cluster::mark(ok(RunList { runs })?, source))
}

/// The finish records matching `filter`: every node's in cluster mode.
async fn runs_matching(
    s: &AppState,
    filter: &RunFilter,
) -> (Vec<crate::record::FinishRecord>, Source) {
    match &s.ctx.cluster {
        Some(node) => {
            cluster::or_local(node, node.runs(filter).await, || s.ctx.history.runs(filter))
        }
        None => (s.ctx.history.runs(filter), Source::Alone),
    }
}

async fn runs(State(s): Shared, q: RawQuery) -> Answer {
    let p = params(q, &["job", "status", "since", "limit"])?;
    let filter = RunFilter {
        job: p.job(),
        status: p.status()?,
        since: p.since(s.ctx.clock.now())?,
        limit: p.limit()?,
    };
    let (runs, source) = runs_matching(&s, &filter).await;
    Ok(cluster::mark(ok(RunList { runs })?, source))
}

/// `GET /api/v1/audit?since=&limit=`: the audit trail, newest first.
async fn audit(State(s): Shared, q: RawQuery) -> Answer {
    let p = params(q, &["since", "limit"])?;
    let since = p.since(s.ctx.clock.now())?;
    ok(AuditList {
        audit: s.ctx.history.audit(since, p.limit()?),
    })
}

async fn run_attempts(State(s): Shared, run_id: RawPath, q: RawQuery) -> Answer {
    let run_id = path_id(run_id)?;
    params(q, &[])?;
    let local = || s.ctx.history.run(&run_id).unwrap_or_default();
    let (mut attempts, source) = match &s.ctx.cluster {
        Some(node) => cluster::or_local(node, node.run(&run_id).await, local),
        None => (local(), Source::Alone),
    };
    if attempts.is_empty() && source == Source::Cluster {
        // A record whose database write is still being retried (or was
        // given up) is in this node's log only.
        attempts = local();
    }
    let Some(job) = attempts.first().map(|a| a.job.clone()) else {
        return Err(ApiError::not_found(format!("unknown run {run_id:?}")));
    };
    let answer = ok(RunAttempts {
        run_id,
        job,
        attempts,
    })?;
    Ok(cluster::mark(answer, source))
}

/// `GET /api/v1/runs/{run_id}/output?attempt=&follow=`: the output file
/// of an attempt (the last one by default) as text; with `follow`, the
/// answer is chunked and ends when the attempt does. 404 says why there
/// is no file.
async fn run_output(State(s): Shared, run_id: RawPath, q: RawQuery) -> Answer {
    let run_id = path_id(run_id)?;
    let p = params(q, &["attempt", "follow"])?;
    let (asked, follow) = (p.attempt()?, p.follow()?);
    let finished = s.ctx.history.run(&run_id).unwrap_or_default();
    let running = s
        .ctx
        .handle
        .running()
        .await?
        .into_iter()
        .find(|r| r.run_id == run_id);
    let job = match (finished.first(), &running) {
        (Some(a), _) => a.job.clone(),
        (None, Some(r)) => r.job.clone(),
        (None, None) => return Err(ApiError::not_found(format!("unknown run {run_id:?}"))),
    };
    let last = running
        .as_ref()
        .map(|r| r.attempt)
        .into_iter()
        .chain(finished.iter().map(|a| a.attempt))
        .max()
        .unwrap_or(1);
    let attempt = asked.unwrap_or(last);
    if attempt > last {
        return Err(ApiError::not_found(format!(
            "run {run_id:?} has no attempt {attempt} (its last is {last})"
        )));
    }
    let dir = match &s.ctx.output {
        None => {
            return Err(ApiError::not_found(
                "output is not kept: [daemon] output = \"tail\" keeps only the record's tails",
            ));
        }
        Some(crate::log::output::Store::Journal) => {
            let fields = crate::log::journal::Fields {
                job,
                run_id,
                attempt,
            };
            return journal_output(&fields, follow).await;
        }
        Some(crate::log::output::Store::Files(dir)) => dir,
    };
    let path = crate::log::output::attempt_path(dir, &job, &run_id, attempt);
    let mut follower = match crate::log::output::follow(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ApiError::not_found(format!(
                "the output of attempt {attempt} of run {run_id:?} is not kept: files are \
                 removed after output_keep ({}), and an attempt that did not start or is \
                 an HTTP request has none",
                crate::units::format_duration(s.ctx.output_keep)
            )));
        }
        Err(e) => {
            return Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot read {}: {e}", path.display()),
            ));
        }
    };
    let text = [(header::CONTENT_TYPE, "text/plain; charset=utf-8")];
    if !follow {
        let mut body = Vec::new();
        while let Some(bytes) = follower.next_now().map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot read {}: {e}", path.display()),
            )
        })? {
            body.extend_from_slice(&bytes);
        }
        return Ok((text, body).into_response());
    }
    let stream = futures_util::stream::unfold(follower, |mut f| async move {
        match f.next().await {
            Ok(Some(bytes)) => Some((Ok::<_, std::io::Error>(Bytes::from(bytes)), f)),
            Ok(None) => None,
            Err(e) => Some((Err(e), f)),
        }
    });
    Ok((text, axum::body::Body::from_stream(stream)).into_response())
}

/// The output of an attempt kept in the journal, read with `journalctl`:
/// all of it as one answer, or chunked while following a live attempt.
async fn journal_output(fields: &crate::log::journal::Fields, follow: bool) -> Answer {
    let text = [(header::CONTENT_TYPE, "text/plain; charset=utf-8")];
    let mut reader = crate::log::journal::read(fields, follow).map_err(ApiError::not_found)?;
    let failed = |e: std::io::Error| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot read what journalctl writes: {e}"),
        )
    };
    if !reader.is_live() {
        // Read to the end first: an attempt with no entries is a 404
        // with journalctl's own words, not an empty answer.
        let mut body = Vec::new();
        while let Some(line) = reader.next().await.map_err(failed)? {
            body.extend_from_slice(&line);
        }
        if body.is_empty() {
            let said = reader.complaint().await;
            return Err(ApiError::not_found(format!(
                "the journal has no output of attempt {} of run {:?}{}: journald removes old \
                 entries by its own retention (journald.conf(5)), and an attempt that did not \
                 start, wrote nothing or is an HTTP request has none",
                fields.attempt,
                fields.run_id,
                if said.is_empty() {
                    String::new()
                } else {
                    format!(" (journalctl: {said})")
                },
            )));
        }
        return Ok((text, body).into_response());
    }
    let stream = futures_util::stream::unfold(reader, |mut r| async move {
        match r.next().await {
            Ok(Some(line)) => Some((Ok::<_, std::io::Error>(Bytes::from(line)), r)),
            Ok(None) => None,
            Err(e) => Some((Err(e), r)),
        }
    });
    Ok((text, axum::body::Body::from_stream(stream)).into_response())
}

async fn running(State(s): Shared, q: RawQuery) -> Answer {
    params(q, &[])?;
    ok(RunningList {
        running: s.ctx.handle.running().await?,
    })
}

/// `GET /api/v1/stats?days=N[&job=ID]`: with `job`, that job's runs only
/// (the status page's per-day chart), computed afresh: one job's days are
/// cheap, and the memo is for the whole-daemon answer dashboards poll.
async fn stats(State(s): Shared, headers: HeaderMap, q: RawQuery) -> Answer {
    let p = params(q, &["days", "job"])?;
    let days = p.days()?;
    if let Some(node) = &s.ctx.cluster {
        if !(1..=crate::log::MAX_STATS_DAYS).contains(&days) {
            let e = crate::log::StatsError::Days {
                days,
                max: crate::log::MAX_STATS_DAYS,
            };
            return Err(ApiError::bad_request(e.to_string()));
        }
        let now = s.ctx.clock.now();
        let local = || match p.job() {
            Some(job) => s.ctx.history.job_stats_by_day(&job, days, now),
            None => s.ctx.history.stats(days, now),
        };
        let from_db = match p.job() {
            Some(job) => node.job_stats_by_day(&job, days, now).await,
            None => node.stats(days, now).await,
        };
        let (stats, source) = cluster::or_local(node, from_db.map(Ok), local);
        let stats = stats.map_err(|e| ApiError::bad_request(e.to_string()))?;
        let mut body = Vec::with_capacity(4096);
        serde_json::to_writer(&mut body, &stats).map_err(serialise_error)?;
        let response = Document::new(body.into()).respond(&headers).await;
        return Ok(cluster::mark(response, source));
    }
    if let Some(job) = p.job() {
        let stats = s
            .ctx
            .history
            .job_stats_by_day(&job, days, s.ctx.clock.now())
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        let mut body = Vec::with_capacity(4096);
        serde_json::to_writer(&mut body, &stats).map_err(serialise_error)?;
        return Ok(Document::new(body.into()).respond(&headers).await);
    }
    let body = s
        .stats_memo
        .render(&s.ctx.history, days, s.ctx.clock.now())
        .map_err(|e| match e {
            StatsRenderError::Days(e) => ApiError::bad_request(e.to_string()),
            StatsRenderError::Json(e) => serialise_error(e),
        })?;
    Ok(json_bytes(body))
}

/// `POST /api/v1/reload`: 200 with what changed, or 422 with each
/// validation error, each rendered with its location.
async fn reload(State(s): Shared, q: RawQuery) -> Answer {
    params(q, &[])?;
    match s.ctx.handle.reload().await? {
        Ok(diff) => ok(diff),
        Err(errors) => Err(ApiError::invalid_config(errors)),
    }
}

async fn metrics(State(s): Shared, q: RawQuery) -> Answer {
    params(q, &[])?;
    let jobs = s.ctx.handle.jobs().await?;
    let running = s.ctx.handle.running().await?;
    let status = s.ctx.handle.status().await?;
    let last = s
        .ctx
        .history
        .last_finished_runs(jobs.iter().map(|j| j.id.as_str()));
    let health: Vec<Health> = jobs
        .iter()
        .zip(&last)
        .map(|(j, last)| j.health(last.as_deref().map(|r| r.status)))
        .collect();
    let body = metrics::render(
        &s.ctx.history.metrics_snapshot(),
        &Live {
            jobs: &jobs,
            health: &health,
            running: &running,
            reload_ok: status.last_reload.ok,
            notifications: s.ctx.notifications.stats(),
            events: status.events,
        },
    );
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response())
}
