//! Running one attempt of an HTTP job (cronduct.toml(5) JOBS, `http`).
//!
//! Contract:
//! - The request is sent with the job's method, headers and body (no body
//!   at all when `body` is empty). Headers the job sets win over the
//!   client's defaults (e.g. `User-Agent`).
//! - Success is a status in `expect_status`, or any 2xx when it is empty;
//!   any other status is `failed`, with `error` saying what was expected.
//! - The job's `timeout` is a deadline for the whole exchange: connecting,
//!   the response head and the whole body. On expiry (or cancel) the
//!   connection is dropped and the attempt is `timeout` (`cancelled`),
//!   keeping the status and body received so far.
//! - The response body is streamed into a bounded tail of `output_limit`
//!   bytes, reported as `stdout`; a huge body is never held in memory.
//! - With `http.result = true`, the whole body (up to one byte more than
//!   a result may be) is also kept apart and, once it has all arrived,
//!   read as the attempt's result (`result.rs`), whatever the status.
//! - Failing to get a response (refused connection, DNS or TLS failure,
//!   too many redirects, a broken body) is `error`, with the root cause in
//!   the message. The message names host and port but never the full URL,
//!   which may carry credentials or tokens.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use reqwest::header::{HeaderName, HeaderValue};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::result::{self, MAX_RESULT, Reported};
use super::tail::Tail;
use super::{ActionOutcome, Stop};
use crate::config::model::HttpRequest;
use crate::record::Status;

/// Most redirects followed before the attempt fails.
pub const MAX_REDIRECTS: usize = 10;

/// Builds the client that every HTTP job shares.
///
/// - TLS by rustls with the ring provider (installed here as the process
///   default if none is yet) and the system's trust store.
/// - At most [`MAX_REDIRECTS`] redirects.
/// - `User-Agent: cronduct/<version>`.
/// - Proxies from the daemon's environment (`HTTPS_PROXY`, `HTTP_PROXY`,
///   `ALL_PROXY`, `NO_PROXY`, as curl reads them) are honoured: an admin
///   who sets them in the service unit means them. Under systemd the
///   environment is empty unless set, so by default nothing is proxied.
///   Loopback targets go through a proxy too unless `NO_PROXY` lists them.
/// - No idle connection pool: each attempt opens a fresh connection, as a
///   `curl` from cron would, so a health check always tests connecting and
///   never fails on a connection the server already closed.
///
/// Without a system trust store (a minimal system without ca-certificates)
/// the client is still built, with no roots, so that plain http works;
/// then every https connection fails as an unknown issuer.
pub fn client() -> Result<reqwest::Client, String> {
    Ok(build(true)?.0)
}

/// [`client`], saying whether it has the system's trust store.
fn build(with_roots: bool) -> Result<(reqwest::Client, bool), String> {
    // Err only means a provider is installed already, which is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let builder = reqwest::Client::builder()
        .user_agent(concat!("cronduct/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::limited(MAX_REDIRECTS))
        .pool_max_idle_per_host(0);
    let builder = if with_roots {
        builder
    } else {
        builder.tls_certs_only(std::iter::empty())
    };
    match builder.build() {
        Ok(client) => Ok((client, with_roots)),
        // The platform verifier fails the build when it finds no roots.
        Err(_) if with_roots => build(false),
        Err(e) => Err(format!("cannot set up the HTTP client: {}", root_cause(&e))),
    }
}

/// The [`client`] every HTTP job and webhook shares, built on first use.
///
/// Building it loads and parses the system's trust store and sets up TLS:
/// memory and code that a daemon running only commands never needs. A
/// client built without a trust store (see [`client`]) or a failed build
/// is not kept: the next attempt or webhook tries again, so installing
/// ca-certificates does not need a restart.
#[derive(Debug, Clone, Default)]
pub struct LazyClient(Arc<Mutex<Option<reqwest::Client>>>);

impl LazyClient {
    /// A handle whose client is built when first asked for.
    pub fn new() -> Self {
        Self::default()
    }

    /// The shared client, built now if this is the first use.
    pub fn get(&self) -> Result<reqwest::Client, String> {
        let mut slot = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(client) = &*slot {
            return Ok(client.clone());
        }
        let (built, with_roots) = build(true)?;
        if with_roots {
            *slot = Some(built.clone());
        }
        Ok(built)
    }
}

impl From<reqwest::Client> for LazyClient {
    /// A handle on a client that is already built.
    fn from(client: reqwest::Client) -> Self {
        Self(Arc::new(Mutex::new(Some(client))))
    }
}

/// Makes one attempt of an HTTP job; never fails, the outcome says how it
/// went.
pub async fn run(
    client: &reqwest::Client,
    req: &HttpRequest,
    timeout: Option<Duration>,
    output_limit: usize,
    cancel: CancellationToken,
) -> ActionOutcome {
    let deadline = timeout.map(|t| super::saturating_after(Instant::now(), t));
    let mut got = Received {
        status: None,
        body: Tail::new(output_limit),
        whole: req.result.then(Vec::new),
    };
    let ended = {
        let expired = super::until(deadline);
        // The stop conditions come first: a body that streams without
        // pause could otherwise use up the task's budget on every poll.
        tokio::select! {
            biased;
            () = cancel.cancelled() => Err(Stop::Cancelled),
            () = expired => Err(Stop::Timeout(timeout.unwrap_or_default())),
            result = exchange(client, req, &mut got) => Ok(result),
        }
    };
    let complete = matches!(ended, Ok(Ok(_)));
    let (status, error) = match ended {
        Err(stop) => (stop.status(), Some(stop.message())),
        Ok(Err(message)) => (Status::Error, Some(message)),
        Ok(Ok(code)) if expected(&req.expect_status, code) => (Status::Success, None),
        Ok(Ok(code)) => (
            Status::Failed,
            Some(format!(
                "unexpected HTTP status {code} (expected {})",
                describe_expected(&req.expect_status)
            )),
        ),
    };
    ActionOutcome {
        status,
        exit_code: None,
        signal: None,
        http_status: got.status,
        error,
        output_truncated: got.body.truncated(),
        stdout: got.body.into_string(),
        stderr: String::new(),
        result: match got.whole {
            Some(body) if complete => result::parse(&body),
            _ => Reported::default(),
        },
        usage: None,
    }
}

/// What has arrived so far; kept outside the request future so that a
/// timeout still reports it.
struct Received {
    status: Option<u16>,
    body: Tail,
    /// The start of the body, for `http.result`: at most one byte more
    /// than a result may be, enough to tell that it is too large.
    whole: Option<Vec<u8>>,
}

/// Sends the request and streams the body; returns the status code.
async fn exchange(
    client: &reqwest::Client,
    req: &HttpRequest,
    got: &mut Received,
) -> Result<u16, String> {
    let method = reqwest::Method::from_bytes(req.method.as_bytes())
        .map_err(|_| format!("invalid HTTP method {:?}", req.method))?;
    let mut builder = client.request(method, &req.url);
    for (name, value) in &req.headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("invalid HTTP header name {name:?}"))?;
        let value = HeaderValue::from_str(value)
            .map_err(|_| format!("invalid value for HTTP header {name}"))?;
        builder = builder.header(name, value);
    }
    if !req.body.is_empty() {
        builder = builder.body(req.body.clone());
    }
    let mut response = builder.send().await.map_err(|e| describe(&e, &req.url))?;
    let code = response.status().as_u16();
    got.status = Some(code);
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| format!("reading the response body failed: {}", root_cause(&e)))?
    {
        got.body.push(&chunk);
        if let Some(whole) = &mut got.whole {
            let room = (MAX_RESULT + 1).saturating_sub(whole.len());
            whole.extend_from_slice(&chunk[..chunk.len().min(room)]);
        }
    }
    Ok(code)
}

fn expected(expect: &[u16], code: u16) -> bool {
    if expect.is_empty() {
        (200..300).contains(&code)
    } else {
        expect.contains(&code)
    }
}

fn describe_expected(expect: &[u16]) -> String {
    match expect {
        [] => "any 2xx".to_string(),
        [one] => one.to_string(),
        many => {
            let list: Vec<String> = many.iter().map(u16::to_string).collect();
            format!("one of {}", list.join(", "))
        }
    }
}

/// A message for a request that got no response, led by what failed and
/// ending in the root cause (reqwest's own text, "error sending request",
/// says neither).
pub(crate) fn describe(e: &reqwest::Error, url: &str) -> String {
    let root = root_cause(e);
    if e.is_builder() {
        format!("invalid request: {root}")
    } else if e.is_redirect() {
        format!("{root} (more than {MAX_REDIRECTS})")
    } else if e.is_connect() {
        format!("cannot connect to {}: {root}", host_port(url))
    } else {
        format!("request to {} failed: {root}", host_port(url))
    }
}

/// The innermost error in the chain.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// `host:port` of a URL, without user info, path or query.
pub(crate) fn host_port(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => match (u.host_str(), u.port_or_known_default()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_string(),
            _ => "the server".to_string(),
        },
        Err(_) => "the server".to_string(),
    }
}
