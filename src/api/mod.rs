//! The admin HTTP API (cronduct.toml(5) ADMIN API): JSON over HTTP/1.1 on
//! `[daemon].listen`.
//!
//! Owns the HTTP surface only: routing, the admin key, the Host check,
//! limits, and shaping answers, plus the typed [`client`] that calls it
//! (the CLI's and the tests'). The documents themselves are
//! [`crate::wire`]'s, and every path is defined once in [`paths`]. It holds
//! no job state; every question and command goes to the scheduler task
//! through [`crate::daemon::control::Handle`], and past runs come from the
//! history index (see [`ApiContext`]).
//!
//! Request pipeline, outermost first: connection cap and idle timeout
//! ([`Limits`]) → audit of commands (an `admin` log line each) → Host
//! check (403) → body limit (413, 408) → key and its role (401, 403; all
//! paths but `/health` and the status page's `/` and `/ui/…`, see [`ui`])
//! → request deadline (503) → routes (404 and 405 as JSON too).
//!
//! Choices the contract leaves open:
//! - `limit` above 1000 (or 0) is a 400, not clamped, so a script learns it
//!   asked for more than it can get. Unknown or repeated query parameters
//!   are 400s too, so typos do not pass silently.
//! - `since` takes an RFC 3339 instant or a duration back from now (`24h`);
//!   a pause's `until` an RFC 3339 instant or a duration from now (`2h`),
//!   see `api/pause.rs`.
//! - A request without `Host` (HTTP/1.0) is accepted; browsers, the DNS
//!   rebinding vector, always send one. Ports in `Host` are not compared.
//!   Two or more `Host` headers are a 400, as HTTP/1.1 requires.
//! - Unknown paths need the key too (401 before 404), so they cannot be
//!   probed without it. Cross-site pages cannot send the key header
//!   without a CORS preflight, which the API never approves.
//! - `/health` is 503 only when the scheduler does not answer; a refused
//!   reload, a failing or lossy log, or no jobs make it `degraded` (200).
//! - The scheduler being stopped, or not answering within 30 s, is a 503.
//! - `run?wait=true` has no deadline: it ends when the run ends (after
//!   retries) or the client leaves; the run goes on either way.
//! - Oversized bodies are read and discarded up to 16 MiB before the 413,
//!   so the client reads the answer instead of a connection reset.
//! - At most 256 connections; one idle for 30 s without a request in
//!   progress is closed, and a request head must arrive within 5 s of its
//!   first byte. At the cap, a new connection closes the one idle longest;
//!   when every connection is busy, 8 more are accepted for `/health`
//!   only, so monitoring still gets an answer (see `api/conn.rs`).
//! - `/api/v1/jobs` and `/api/v1/stats` reuse the serialised parts of their
//!   previous answers whose inputs are unchanged (see `api/memo.rs`):
//!   never stale, and several times cheaper for the dashboards that poll
//!   them. `/api/v1/jobs` is kept whole while the scheduler and the
//!   history report no change, and is served gzip-compressed to clients
//!   that accept it and as a 304 to clients that send its ETag back in
//!   `If-None-Match` (see `api/document.rs`).

mod audit;
mod auth;
pub mod client;
mod cluster;
mod conn;
mod document;
mod error;
mod key;
mod limits;
mod manage;
mod memo;
mod metrics;
mod params;
pub mod paths;
mod pause;
mod procstat;
mod routes;
pub mod settings;
mod sources;
mod ui;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::middleware;
use tokio::net::TcpListener;

pub use auth::KEY_HEADER;
pub use key::{KEY_ENV, KeyError, KeyRing, KeyStore, env_key, load_or_create_key, read_key};
pub use manage::Managed;
pub use sources::ApiContext;

/// `<state_dir>/listen`: the address the API is bound to, one line such
/// as `127.0.0.1:40123`. The daemon writes it once it listens; clients
/// read it when `[daemon].listen` says port 0, since only the daemon
/// knows the port the kernel chose.
pub const LISTEN_FILE_NAME: &str = "listen";

/// Records the bound address in `<state_dir>/listen`, through a temp file
/// renamed over the old one, so a client never reads half an address.
pub fn write_bound_address(
    state_dir: &std::path::Path,
    addr: std::net::SocketAddr,
) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    // The daemon may be writing to a fresh state dir before anything else
    // has created it; 0700 like the state and key files it will hold.
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(state_dir)?;
    let temp = state_dir.join(format!(".{LISTEN_FILE_NAME}.tmp"));
    std::fs::write(&temp, format!("{addr}\n"))?;
    std::fs::rename(&temp, state_dir.join(LISTEN_FILE_NAME))
}

/// The address a running daemon wrote to `<state_dir>/listen`.
pub fn read_bound_address(state_dir: &std::path::Path) -> anyhow::Result<std::net::SocketAddr> {
    use anyhow::Context;
    let path = state_dir.join(LISTEN_FILE_NAME);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "cannot read {} to find the daemon's port (listen says port 0; is the daemon running?)",
            path.display()
        )
    })?;
    text.trim()
        .parse()
        .with_context(|| format!("{} holds no address: {:?}", path.display(), text.trim()))
}

/// Bounds on what one client can make the API do.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Open connections at once; at the cap, the connection idle longest
    /// is closed for a new one (see `api/conn.rs`).
    pub max_connections: usize,
    /// How long a connection may sit without a request in progress before
    /// it is closed.
    pub idle_timeout: Duration,
    /// How long a request head may take to arrive, from its first byte.
    pub header_timeout: Duration,
    /// Deadline for reading a request's body and for answering it
    /// (503 after it); `POST …/run?wait=true` is exempt from the latter.
    pub request_timeout: Duration,
    /// Largest accepted request body (413 above it).
    pub max_body: usize,
    /// How long `/health` waits for the scheduler before calling it
    /// stalled (503 "unhealthy").
    pub health_deadline: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 256,
            idle_timeout: Duration::from_secs(30),
            header_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            max_body: 64 << 10,
            health_deadline: Duration::from_secs(2),
        }
    }
}

/// What every handler and middleware shares.
pub(crate) struct AppState {
    ctx: ApiContext,
    limits: Limits,
    jobs_memo: memo::JobsMemo,
    stats_memo: memo::StatsMemo,
    analysis_memo: memo::AnalysisMemo,
    /// Held through each change of a managed job, its reload included.
    manage_lock: tokio::sync::Mutex<()>,
}

/// Serves the admin API on `listener` with the default [`Limits`] until
/// `shutdown` completes, then stops accepting, lets requests in progress
/// finish (a `run?wait=true` one ends when its run does, and the scheduler
/// cancels runs at shutdown) and returns.
pub async fn serve(
    listener: TcpListener,
    ctx: ApiContext,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, ctx, Limits::default(), shutdown).await
}

/// [`serve`] with explicit limits.
pub async fn serve_with(
    listener: TcpListener,
    ctx: ApiContext,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = conn::GuardedListener::new(
        listener,
        limits.max_connections,
        conn::Timeouts {
            idle: limits.idle_timeout,
            header: limits.header_timeout,
        },
    );
    if let Some(node) = &ctx.cluster {
        tokio::spawn(
            node.clone()
                .serve_requests(cluster::start_for_peer(ctx.handle.clone())),
        );
    }
    let state = Arc::new(AppState {
        ctx,
        limits,
        jobs_memo: memo::JobsMemo::default(),
        stats_memo: memo::StatsMemo::default(),
        analysis_memo: memo::AnalysisMemo::default(),
        manage_lock: tokio::sync::Mutex::new(()),
    });
    // `layer` wraps what is already there, so the last one added runs first.
    let app = routes::router(state.clone())
        .layer(middleware::from_fn_with_state(
            state.clone(),
            limits::deadline,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_key,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            limits::limit_body,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::check_host,
        ))
        .layer(middleware::from_fn_with_state(state, audit::audit))
        .layer(middleware::from_fn(conn::track_in_flight));
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<conn::ConnActivity>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
