//! A typed client of the admin API: one method per endpoint, each
//! answering the endpoint's [`crate::wire`] document. The CLI's client
//! commands are written on it, and so are the tests that drive a daemon
//! over HTTP; every path comes from [`super::paths`], which the router
//! mounts too.
//!
//! It sends the admin key with every request (`/health` ignores it), and
//! turns an error answer into [`ClientError::Refused`] carrying the
//! server's message, so callers print what the daemon said.
//!
//! Requests give up after [`REQUEST_TIMEOUT`], longer than the server's
//! own 30 s deadline so that its 503 arrives first; waiting for a run
//! ([`Client::trigger_and_wait`]) has no deadline, since the run may take
//! hours.

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;

use super::cluster::HISTORY_HEADER;
use super::paths::{self, Endpoint, Segment, Verb};
use crate::record::{FinishRecord, Status, ts};
use crate::wire::{
    Cancelled, ErrorBody, HealthReport, JobDetailView, JobList, JobPlan, JobRemoved, PauseRequest,
    PauseState, PausedAll, ReloadDiff, ResumedAll, RunAttempts, RunList, RunningList, Stats,
    StatusReport, TriggerAccepted,
};

/// How long a request may take, except [`Client::trigger_and_wait`].
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a call did not get the answer it asked for.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach cronduct at {base}: is the daemon running?")]
    Unreachable { base: Url },
    #[error("cronduct at {base} did not answer in time")]
    Timeout { base: Url },
    #[error("request to cronduct at {base} failed: {error}")]
    Request { base: Url, error: reqwest::Error },
    /// The daemon refused the request with `{"error": …}` (and, for a
    /// refused reload, every validation error).
    #[error("{}", refusal_text(.message, .errors))]
    Refused {
        status: StatusCode,
        message: String,
        errors: Vec<String>,
    },
    /// An error status whose body is not the API's error document (a
    /// proxy's page, say).
    #[error("the daemon answered {status}: {body}")]
    Unexpected { status: StatusCode, body: String },
    #[error("unexpected answer from the daemon: {0}")]
    Decode(serde_json::Error),
    #[error("cannot encode the request: {0}")]
    Encode(serde_json::Error),
    /// Refused before sending: in a URL, `..` or `/` would address another
    /// endpoint.
    #[error(
        "invalid job id {0:?}: ids are a letter or digit followed by up to 63 letters, digits, '_', '.' or '-'"
    )]
    InvalidJobId(String),
    #[error("invalid run id {0:?}")]
    InvalidRunId(String),
    #[error("{0} cannot be the daemon's address: it is not an http or https URL")]
    InvalidBase(Url),
    #[error("cannot set up the HTTP client: {0}")]
    Setup(reqwest::Error),
}

impl ClientError {
    /// The HTTP status of a refused request.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            ClientError::Refused { status, .. } | ClientError::Unexpected { status, .. } => {
                Some(*status)
            }
            _ => None,
        }
    }
}

fn refusal_text(message: &str, errors: &[String]) -> String {
    if errors.is_empty() {
        message.to_string()
    } else {
        format!("{message}:\n{}", errors.join("\n\n"))
    }
}

/// Which runs [`Client::runs`] lists; `None` leaves the server's default
/// (all jobs and statuses, no lower bound, 50 runs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunQuery {
    pub job: Option<String>,
    pub status: Option<Status>,
    /// Only runs that finished at or after this instant.
    pub since: Option<DateTime<Utc>>,
    /// 1 to 1000.
    pub limit: Option<u32>,
}

/// How long one call may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Deadline {
    Bounded,
    /// As long as a run takes.
    None,
}

/// A connection to one daemon's admin API. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Client {
    base: Url,
    key: String,
    http: reqwest::Client,
}

impl Client {
    /// A client of the API at `base` (`http://127.0.0.1:9780`; a path, as
    /// behind a reverse proxy, is kept as a prefix), sending `key`.
    pub fn new(base: Url, key: impl Into<String>) -> Result<Client, ClientError> {
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(ClientError::InvalidBase(base));
        }
        // reqwest is built without a default TLS provider; plain http needs
        // none, but an https URL must not panic. Installing it twice is
        // harmless, so the result is ignored.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .no_proxy()
            .user_agent(concat!("cronduct/", env!("CARGO_PKG_VERSION")));
        // Plain http (the local daemon) needs no trust store: without this
        // the build fails where ca-certificates is not installed.
        if base.scheme() == "http" {
            http = http.tls_certs_only(std::iter::empty());
        }
        let http = http.build().map_err(ClientError::Setup)?;
        Ok(Client {
            base,
            key: key.into(),
            http,
        })
    }

    /// `GET /health`. An unhealthy daemon's 503 carries a report too, so
    /// it is an answer here, not an error.
    pub async fn health(&self) -> Result<HealthReport, ClientError> {
        let (status, body) = self
            .send(paths::HEALTH, &[], &[], Deadline::Bounded)
            .await?;
        if status.is_success() || status == StatusCode::SERVICE_UNAVAILABLE {
            if let Ok(report) = serde_json::from_str(&body) {
                return Ok(report);
            }
        }
        Err(error_answer(status, body))
    }

    /// `GET /metrics`: the Prometheus text, as it is.
    pub async fn metrics(&self) -> Result<String, ClientError> {
        let (status, body) = self
            .send(paths::METRICS, &[], &[], Deadline::Bounded)
            .await?;
        if status.is_success() {
            Ok(body)
        } else {
            Err(error_answer(status, body))
        }
    }

    pub async fn status(&self) -> Result<StatusReport, ClientError> {
        self.call(paths::STATUS, &[], &[], Deadline::Bounded).await
    }

    pub async fn jobs(&self) -> Result<JobList, ClientError> {
        self.call(paths::JOBS, &[], &[], Deadline::Bounded).await
    }

    pub async fn job(&self, id: &str) -> Result<JobDetailView, ClientError> {
        self.call(paths::JOB, &[job_id(id)?], &[], Deadline::Bounded)
            .await
    }

    /// Pauses a job; an empty `request` pauses it until it is resumed.
    pub async fn pause(&self, id: &str, request: &PauseRequest) -> Result<PauseState, ClientError> {
        let id = job_id(id)?;
        self.call_with(paths::PAUSE, &[id], request, Deadline::Bounded)
            .await
    }

    /// Pauses every configured job.
    pub async fn pause_all(&self, request: &PauseRequest) -> Result<PausedAll, ClientError> {
        self.call_with(paths::PAUSE_ALL, &[], request, Deadline::Bounded)
            .await
    }

    /// Resumes every paused job.
    pub async fn resume_all(&self) -> Result<ResumedAll, ClientError> {
        self.call(paths::RESUME_ALL, &[], &[], Deadline::Bounded)
            .await
    }

    pub async fn resume(&self, id: &str) -> Result<PauseState, ClientError> {
        self.call(paths::RESUME, &[job_id(id)?], &[], Deadline::Bounded)
            .await
    }

    /// Starts a run and answers as soon as the daemon accepted it (202).
    pub async fn trigger(&self, id: &str) -> Result<TriggerAccepted, ClientError> {
        self.call(paths::TRIGGER, &[job_id(id)?], &[], Deadline::Bounded)
            .await
    }

    /// Starts a run on cluster node `node` (see `?node=` in
    /// cronduct.toml(5) ADMIN API).
    pub async fn trigger_on(&self, id: &str, node: &str) -> Result<TriggerAccepted, ClientError> {
        self.call(
            paths::TRIGGER,
            &[job_id(id)?],
            &[("node", node.to_string())],
            Deadline::Bounded,
        )
        .await
    }

    /// Starts a run and waits, without a deadline, for its final finish
    /// record (after retries), whatever its status.
    pub async fn trigger_and_wait(&self, id: &str) -> Result<FinishRecord, ClientError> {
        self.call(
            paths::TRIGGER,
            &[job_id(id)?],
            &[("wait", "true".to_string())],
            Deadline::None,
        )
        .await
    }

    /// Creates (`true`) or replaces (`false`) the managed job `id` with
    /// `keys`, its TOML keys as JSON; answers once the job is live.
    pub async fn put_job(
        &self,
        id: &str,
        keys: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<(bool, JobDetailView), ClientError> {
        let body = serde_json::to_vec(keys).map_err(ClientError::Encode)?;
        let (status, answer) = self
            .send_body(
                paths::PUT_JOB,
                &[job_id(id)?],
                &[],
                Some(body),
                Deadline::Bounded,
            )
            .await?;
        let view = parse_answer(status, answer)?;
        Ok((status == StatusCode::CREATED, view))
    }

    /// What [`Client::put_job`] would do, checked the same way; nothing is
    /// written.
    pub async fn plan_job(
        &self,
        id: &str,
        keys: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<JobPlan, ClientError> {
        let body = serde_json::to_vec(keys).map_err(ClientError::Encode)?;
        let (status, answer) = self
            .send_body(
                paths::PUT_JOB,
                &[job_id(id)?],
                &[("dry_run", "true".to_string())],
                Some(body),
                Deadline::Bounded,
            )
            .await?;
        parse_answer(status, answer)
    }

    /// Removes the managed job `id` (its file).
    pub async fn delete_job(&self, id: &str) -> Result<JobRemoved, ClientError> {
        self.call(paths::DELETE_JOB, &[job_id(id)?], &[], Deadline::Bounded)
            .await
    }

    /// Cancels the job's active runs; refused (409) when none is active.
    pub async fn cancel(&self, id: &str) -> Result<Cancelled, ClientError> {
        self.call(paths::CANCEL, &[job_id(id)?], &[], Deadline::Bounded)
            .await
    }

    /// A job's runs, newest first; refused (404) only when neither the
    /// config nor the history knows the id.
    pub async fn job_runs(
        &self,
        id: &str,
        status: Option<Status>,
        limit: Option<u32>,
    ) -> Result<RunList, ClientError> {
        self.job_runs_from(id, status, limit)
            .await
            .map(|(list, _)| list)
    }

    /// Runs of every job, newest first.
    pub async fn runs(&self, q: &RunQuery) -> Result<RunList, ClientError> {
        self.runs_from(q).await.map(|(list, _)| list)
    }

    /// [`Client::runs`] and where the daemon took them from: in cluster
    /// mode `Some("cluster")`, or `Some("local")` when it could not read
    /// the cluster database and answered with its own runs only.
    pub async fn runs_from(&self, q: &RunQuery) -> Result<(RunList, Option<String>), ClientError> {
        let mut query = Vec::new();
        push(&mut query, "job", q.job.as_deref());
        push(&mut query, "status", q.status.map(Status::as_str));
        push(&mut query, "since", q.since.as_ref().map(ts::format));
        push(&mut query, "limit", q.limit);
        self.call_history(paths::RUNS, &[], &query).await
    }

    /// [`Client::job_runs`] and where the daemon took them from (see
    /// [`Client::runs_from`]).
    pub async fn job_runs_from(
        &self,
        id: &str,
        status: Option<Status>,
        limit: Option<u32>,
    ) -> Result<(RunList, Option<String>), ClientError> {
        let mut query = Vec::new();
        push(&mut query, "status", status.map(Status::as_str));
        push(&mut query, "limit", limit);
        self.call_history(paths::JOB_RUNS, &[job_id(id)?], &query)
            .await
    }

    /// Every attempt of one run; refused (404) for an unknown run.
    pub async fn run(&self, run_id: &str) -> Result<RunAttempts, ClientError> {
        if matches!(run_id, "" | "." | "..") {
            return Err(ClientError::InvalidRunId(run_id.to_string()));
        }
        self.call(paths::RUN, &[run_id], &[], Deadline::Bounded)
            .await
    }

    pub async fn running(&self) -> Result<RunningList, ClientError> {
        self.call(paths::RUNNING, &[], &[], Deadline::Bounded).await
    }

    /// Statistics over the last `days` UTC dates (1 to 90).
    /// The cluster's nodes and drift (`{"enabled": false}` without
    /// `[cluster]`).
    pub async fn cluster(&self) -> Result<crate::wire::ClusterView, ClientError> {
        self.call(paths::CLUSTER, &[], &[], Deadline::Bounded).await
    }

    pub async fn stats(&self, days: u32) -> Result<Stats, ClientError> {
        self.call(
            paths::STATS,
            &[],
            &[("days", days.to_string())],
            Deadline::Bounded,
        )
        .await
    }

    /// The output of attempt `attempt` of a run (its last by default),
    /// handed to `each` as it arrives; with `follow`, live until the
    /// attempt ends. A run whose output is not kept is an error with the
    /// daemon's reason (404).
    pub async fn run_output(
        &self,
        run_id: &str,
        attempt: Option<u32>,
        follow: bool,
        mut each: impl FnMut(&[u8]),
    ) -> Result<(), ClientError> {
        let mut query = Vec::new();
        push(&mut query, "attempt", attempt);
        if follow {
            query.push(("follow", "true".to_string()));
        }
        let url = self.url(paths::RUN_OUTPUT, &[run_id], &query)?;
        let mut req = self.http.get(url).bearer_auth(&self.key);
        if !follow {
            req = req.timeout(REQUEST_TIMEOUT);
        }
        let fail = |error| self.transport_error(error);
        let mut resp = req.send().await.map_err(fail)?;
        let status = resp.status();
        if !status.is_success() {
            let body = resp.text().await.map_err(fail)?;
            return Err(error_answer(status, body));
        }
        while let Some(chunk) = resp.chunk().await.map_err(fail)? {
            each(&chunk);
        }
        Ok(())
    }

    /// Makes the daemon re-read its config; a refused one is
    /// [`ClientError::Refused`] (422) with every validation error.
    pub async fn reload(&self) -> Result<ReloadDiff, ClientError> {
        self.call(paths::RELOAD, &[], &[], Deadline::Bounded).await
    }

    /// Calls `endpoint` and parses a successful answer as `T`.
    async fn call<T: DeserializeOwned>(
        &self,
        endpoint: Endpoint,
        params: &[&str],
        query: &[(&str, String)],
        deadline: Deadline,
    ) -> Result<T, ClientError> {
        let (status, body) = self.send(endpoint, params, query, deadline).await?;
        parse_answer(status, body)
    }

    /// Calls `endpoint` with `body` as its JSON body.
    async fn call_with<T: DeserializeOwned>(
        &self,
        endpoint: Endpoint,
        params: &[&str],
        body: &impl serde::Serialize,
        deadline: Deadline,
    ) -> Result<T, ClientError> {
        let body = serde_json::to_vec(body).map_err(ClientError::Encode)?;
        let (status, answer) = self
            .send_body(endpoint, params, &[], Some(body), deadline)
            .await?;
        parse_answer(status, answer)
    }

    /// Sends one request and reads the whole answer, whatever its status.
    async fn send(
        &self,
        endpoint: Endpoint,
        params: &[&str],
        query: &[(&str, String)],
        deadline: Deadline,
    ) -> Result<(StatusCode, String), ClientError> {
        self.send_body(endpoint, params, query, None, deadline)
            .await
    }

    /// [`Client::send`] with an optional JSON body.
    async fn send_body(
        &self,
        endpoint: Endpoint,
        params: &[&str],
        query: &[(&str, String)],
        body: Option<Vec<u8>>,
        deadline: Deadline,
    ) -> Result<(StatusCode, String), ClientError> {
        self.exchange(endpoint, params, query, body, deadline)
            .await
            .map(|(status, body, _)| (status, body))
    }

    /// Calls `endpoint` and answers the parsed body with the answer's
    /// `Cronduct-History` header (cluster mode: `cluster`, or `local`
    /// when the daemon could not read the cluster database).
    async fn call_history<T: DeserializeOwned>(
        &self,
        endpoint: Endpoint,
        params: &[&str],
        query: &[(&str, String)],
    ) -> Result<(T, Option<String>), ClientError> {
        let (status, body, history) = self
            .exchange(endpoint, params, query, None, Deadline::Bounded)
            .await?;
        Ok((parse_answer(status, body)?, history))
    }

    /// One request: the answer's status, body and history header.
    async fn exchange(
        &self,
        endpoint: Endpoint,
        params: &[&str],
        query: &[(&str, String)],
        body: Option<Vec<u8>>,
        deadline: Deadline,
    ) -> Result<(StatusCode, String, Option<String>), ClientError> {
        let url = self.url(endpoint, params, query)?;
        let method = match endpoint.verb {
            Verb::Get => Method::GET,
            Verb::Post => Method::POST,
            Verb::Put => Method::PUT,
            Verb::Delete => Method::DELETE,
        };
        let mut req = self.http.request(method, url).bearer_auth(&self.key);
        if let Some(body) = body {
            req = req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        if deadline == Deadline::Bounded {
            req = req.timeout(REQUEST_TIMEOUT);
        }
        let answer = async {
            let resp = req.send().await?;
            let status = resp.status();
            let history = resp
                .headers()
                .get(HISTORY_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            Ok::<_, reqwest::Error>((status, resp.text().await?, history))
        };
        answer.await.map_err(|error| self.transport_error(error))
    }

    /// What a failed exchange with the daemon tells the user: it is not
    /// listening, it did not answer in time, or the request itself failed.
    fn transport_error(&self, error: reqwest::Error) -> ClientError {
        let base = self.base.clone();
        if error.is_connect() {
            ClientError::Unreachable { base }
        } else if error.is_timeout() {
            ClientError::Timeout { base }
        } else {
            ClientError::Request { base, error }
        }
    }

    /// The base URL followed by `endpoint`'s path, its parameters filled
    /// in order (each percent-encoded as one segment), and the query.
    fn url(
        &self,
        endpoint: Endpoint,
        params: &[&str],
        query: &[(&str, String)],
    ) -> Result<Url, ClientError> {
        let mut url = self.base.clone();
        let mut params = params.iter();
        {
            let mut segments = url
                .path_segments_mut()
                .map_err(|()| ClientError::InvalidBase(self.base.clone()))?;
            segments.pop_if_empty();
            for segment in endpoint.segments() {
                match segment {
                    Segment::Literal(s) => segments.push(s),
                    Segment::Param(_) => segments.push(params.next().copied().unwrap_or("")),
                };
            }
        }
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        Ok(url)
    }
}

/// `id` if it can name a job (cronduct.toml(5) JOBS), before it becomes part
/// of a URL; every method taking a job id checks it, and callers may check
/// first.
pub fn job_id(id: &str) -> Result<&str, ClientError> {
    if crate::config::valid_job_id(id) {
        Ok(id)
    } else {
        Err(ClientError::InvalidJobId(id.to_string()))
    }
}

fn push(query: &mut Vec<(&str, String)>, name: &'static str, value: Option<impl ToString>) {
    if let Some(v) = value {
        query.push((name, v.to_string()));
    }
}

/// A successful answer parsed as `T`, or the error an unsuccessful one
/// stands for.
fn parse_answer<T: DeserializeOwned>(status: StatusCode, body: String) -> Result<T, ClientError> {
    if status.is_success() {
        serde_json::from_str(&body).map_err(ClientError::Decode)
    } else {
        Err(error_answer(status, body))
    }
}

/// The error an unsuccessful answer stands for.
fn error_answer(status: StatusCode, body: String) -> ClientError {
    match serde_json::from_str::<ErrorBody>(&body) {
        Ok(ErrorBody { error, errors, .. }) => ClientError::Refused {
            status,
            message: error,
            errors: errors.unwrap_or_default(),
        },
        Err(_) => ClientError::Unexpected {
            status,
            body: body.trim().to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(base: &str) -> Client {
        Client::new(Url::parse(base).expect("url"), "k").expect("client")
    }

    #[test]
    fn parameters_fill_the_shared_paths_as_single_segments() {
        let c = client("http://127.0.0.1:9780");
        let url = |e, p: &[&str], q: &[(&str, String)]| c.url(e, p, q).expect("url").to_string();
        assert_eq!(
            url(paths::JOB_RUNS, &["db.backup"], &[("limit", "5".into())]),
            "http://127.0.0.1:9780/api/v1/jobs/db.backup/runs?limit=5"
        );
        assert_eq!(
            url(paths::RUN, &["a b/c?d"], &[]),
            "http://127.0.0.1:9780/api/v1/runs/a%20b%2Fc%3Fd"
        );
        // A base path (a reverse proxy's prefix) is kept.
        let proxied = client("http://proxy.example/cronduct/");
        assert_eq!(
            proxied.url(paths::STATUS, &[], &[]).expect("url").as_str(),
            "http://proxy.example/cronduct/api/v1/status"
        );
    }

    #[test]
    fn ids_that_would_escape_the_path_are_refused() {
        for bad in ["..", ".", "a/b", "", "-x", "a?b", &"x".repeat(65)] {
            assert!(job_id(bad).is_err(), "{bad:?}");
        }
        for good in ["db-backup", "a.b_c", "9", &"x".repeat(64)] {
            assert!(job_id(good).is_ok(), "{good:?}");
        }
        assert_eq!(
            job_id("../../reload").expect_err("refused").to_string(),
            "invalid job id \"../../reload\": ids are a letter or digit followed by up to 63 letters, digits, '_', '.' or '-'"
        );
    }

    #[test]
    fn only_http_urls_can_be_the_base() {
        for bad in ["ftp://x/", "mailto:ops@example.com"] {
            let url = Url::parse(bad).expect("url");
            assert!(matches!(
                Client::new(url, "k"),
                Err(ClientError::InvalidBase(_))
            ));
        }
    }

    #[test]
    fn error_answers_carry_the_servers_message() {
        let e = error_answer(
            StatusCode::UNPROCESSABLE_ENTITY,
            r#"{"error":"invalid configuration","errors":["a:1:1: x","b:2:2: y"]}"#.into(),
        );
        assert_eq!(e.status(), Some(StatusCode::UNPROCESSABLE_ENTITY));
        assert_eq!(
            e.to_string(),
            "invalid configuration:\na:1:1: x\n\nb:2:2: y"
        );
        let e = error_answer(StatusCode::BAD_GATEWAY, "<html>bad gateway</html>\n".into());
        assert_eq!(
            e.to_string(),
            "the daemon answered 502 Bad Gateway: <html>bad gateway</html>"
        );
    }
}
