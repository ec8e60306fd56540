//! Connection-level limits, which keep a misbehaving local client from
//! tying up the API (or the daemon's file descriptors), and keep `/health`
//! answering whatever other clients do.
//!
//! - At most `max_connections` are open at once. A connection accepted at
//!   the cap closes the connection that has been idle longest (no request
//!   in progress: a keep-alive client between requests, or one still
//!   sending a request head), so idle clients cannot lock out a new one.
//! - When every open connection has a request in progress (nothing to
//!   close), up to [`RESERVE`] more are accepted, and they are answered for
//!   `/health` only (503 otherwise), so a monitor still hears from the
//!   daemon. Beyond that, new connections wait in the kernel's backlog.
//! - A connection with no request in progress is closed when it has not
//!   received a complete request within `idle_timeout` of being accepted or
//!   of its last response, or within `header_timeout` of the first byte of
//!   a request head. Incoming bytes do not extend either deadline, so a
//!   client dribbling a header one byte at a time is cut off. A request in
//!   progress (e.g. `run?wait=true` waiting for an hour-long job) is never
//!   cut off by this; the per-request deadline governs it.

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::Request;
use axum::extract::connect_info::{ConnectInfo, Connected};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

use super::error::ApiError;

/// Connections accepted beyond `max_connections` when none can be closed
/// to make room; they serve `/health` only.
pub(crate) const RESERVE: usize = 8;

/// A TCP listener that holds a permit per open connection and closes idle
/// ones to make room (see the module's header).
pub(crate) struct GuardedListener {
    inner: TcpListener,
    /// `max_connections + RESERVE` permits: the hard bound on open sockets.
    permits: Arc<Semaphore>,
    max_connections: usize,
    timeouts: Timeouts,
    open: Arc<Registry>,
}

/// The two deadlines of a connection without a request in progress.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    pub(crate) idle: Duration,
    pub(crate) header: Duration,
}

impl GuardedListener {
    pub(crate) fn new(inner: TcpListener, max_connections: usize, timeouts: Timeouts) -> Self {
        let max_connections = max_connections.max(1);
        Self {
            inner,
            permits: Arc::new(Semaphore::new(max_connections + RESERVE)),
            max_connections,
            timeouts,
            open: Arc::new(Registry::default()),
        }
    }
}

impl Listener for GuardedListener {
    type Io = GuardedStream;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        // With every slot taken, an idle connection (reserve ones too) is
        // closed to free one; only when all are busy does this wait.
        if self.permits.available_permits() == 0 {
            self.open.close_longest_idle(|_| true);
        }
        let permit = loop {
            match self.permits.clone().acquire_owned().await {
                Ok(p) => break p,
                // The semaphore is never closed; should that change, wait
                // rather than spin or accept beyond the cap.
                Err(_) => std::future::pending::<()>().await,
            }
        };
        loop {
            match self.inner.accept().await {
                Ok((stream, addr)) => {
                    let _ = stream.set_nodelay(true);
                    let reserve = self.open.normal() >= self.max_connections
                        && !self.open.close_longest_idle(|a| !a.reserve);
                    let activity = Arc::new(Activity {
                        in_flight: AtomicUsize::new(0),
                        idle_since: Mutex::new(Instant::now()),
                        fd: stream.as_raw_fd(),
                        reserve,
                    });
                    let id = self.open.add(Arc::clone(&activity));
                    let io = GuardedStream::new(
                        stream,
                        permit,
                        self.timeouts,
                        activity,
                        (Arc::clone(&self.open), id),
                    );
                    return (io, addr);
                }
                Err(e) if is_connection_error(&e) => {}
                Err(e) => {
                    // Typically EMFILE: back off instead of spinning; the
                    // condition clears as connections close.
                    tracing::warn!(error = %e, "admin API cannot accept a connection");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// The open connections, by id.
#[derive(Debug, Default)]
struct Registry {
    conns: Mutex<(u64, HashMap<u64, Arc<Activity>>)>,
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, (u64, HashMap<u64, Arc<Activity>>)> {
        self.conns.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Open connections within the cap (reserve ones left out).
    fn normal(&self) -> usize {
        self.lock().1.values().filter(|a| !a.reserve).count()
    }

    fn add(&self, activity: Arc<Activity>) -> u64 {
        let mut conns = self.lock();
        conns.0 += 1;
        let id = conns.0;
        conns.1.insert(id, activity);
        id
    }

    fn remove(&self, id: u64) {
        self.lock().1.remove(&id);
    }

    /// Shuts down the connection idle longest among those `eligible`, if
    /// one is idle: its next read sees the end of the stream and hyper
    /// closes it. It leaves the registry at once, so it no longer counts
    /// against the cap.
    fn close_longest_idle(&self, eligible: impl Fn(&Activity) -> bool) -> bool {
        let mut conns = self.lock();
        let victim = conns
            .1
            .iter()
            .filter(|(_, a)| eligible(a) && a.in_flight.load(Ordering::SeqCst) == 0)
            .min_by_key(|(_, a)| *a.idle_since.lock().unwrap_or_else(|e| e.into_inner()))
            .map(|(id, _)| *id);
        let Some(activity) = victim.and_then(|id| conns.1.remove(&id)) else {
            return false;
        };
        // The stream removes itself from the registry (under this lock)
        // before its socket is closed, so the descriptor is still that
        // connection's here and cannot have been reused.
        // SAFETY: shutdown(2) on a descriptor we know to be open; it does
        // not close or invalidate it.
        unsafe {
            libc::shutdown(activity.fd, libc::SHUT_RDWR);
        }
        true
    }
}

/// Errors about one failed connection, after which accepting can go on.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// What the listener, the stream and the request middleware know of one
/// connection.
#[derive(Debug)]
pub(crate) struct Activity {
    /// Requests in progress.
    in_flight: AtomicUsize,
    /// When the connection last became idle (accepted, or a response
    /// written): the oldest is closed first at the cap.
    idle_since: Mutex<Instant>,
    fd: RawFd,
    /// Accepted beyond the cap: only `/health` is answered.
    reserve: bool,
}

/// Per-request handle on the connection's [`Activity`].
#[derive(Debug, Clone)]
pub(crate) struct ConnActivity(Arc<Activity>);

impl Connected<IncomingStream<'_, GuardedListener>> for ConnActivity {
    fn connect_info(stream: IncomingStream<'_, GuardedListener>) -> Self {
        ConnActivity(stream.io().activity.clone())
    }
}

/// Marks the connection busy while a request is handled, so the idle
/// timeout does not cut it off mid-request; on a reserve connection,
/// answers anything but `/health` with 503.
pub(crate) async fn track_in_flight(req: Request, next: Next) -> Response {
    let activity = req
        .extensions()
        .get::<ConnectInfo<ConnActivity>>()
        .map(|c| c.0.0.clone());
    if activity.as_ref().is_some_and(|a| a.reserve) && req.uri().path() != super::paths::HEALTH.path
    {
        let mut answer = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the admin API is at its connection limit with every connection busy; only /health is answered now".to_string(),
        )
        .into_response();
        answer
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return answer;
    }
    let _busy = activity.map(Busy::new);
    next.run(req).await
}

struct Busy(Arc<Activity>);

impl Busy {
    fn new(a: Arc<Activity>) -> Self {
        a.in_flight.fetch_add(1, Ordering::SeqCst);
        Busy(a)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        // Its answer is still being written: it must be the last to be
        // closed for a new connection.
        *self.0.idle_since.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// An accepted connection: releases its permit when dropped and fails
/// reads once it has been idle, or sending a request head, too long.
pub(crate) struct GuardedStream {
    inner: TcpStream,
    activity: Arc<Activity>,
    timeouts: Timeouts,
    deadline: Pin<Box<Sleep>>,
    /// Bytes of a request head have arrived since the last response.
    head_started: bool,
    registered: (Arc<Registry>, u64),
    _permit: OwnedSemaphorePermit,
}

impl GuardedStream {
    fn new(
        inner: TcpStream,
        permit: OwnedSemaphorePermit,
        timeouts: Timeouts,
        activity: Arc<Activity>,
        registered: (Arc<Registry>, u64),
    ) -> Self {
        Self {
            inner,
            activity,
            timeouts,
            deadline: Box::pin(tokio::time::sleep(timeouts.idle)),
            head_started: false,
            registered,
            _permit: permit,
        }
    }

    /// A response went out (or a request is in progress): a fresh idle
    /// period for the next request.
    fn rearm(&mut self) {
        let now = Instant::now();
        self.head_started = false;
        *self
            .activity
            .idle_since
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = now;
        self.deadline.as_mut().reset(now + self.timeouts.idle);
    }
}

impl Drop for GuardedStream {
    fn drop(&mut self) {
        // Before `inner` closes the socket (fields drop after this).
        let (registry, id) = &self.registered;
        registry.remove(*id);
    }
}

impl AsyncRead for GuardedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(result) = polled {
            if result.is_ok()
                && buf.filled().len() > before
                && !this.head_started
                && this.activity.in_flight.load(Ordering::SeqCst) == 0
            {
                // The first bytes of a request head: it must be complete
                // within `header_timeout`, however slowly it comes.
                this.head_started = true;
                let by = Instant::now() + this.timeouts.header;
                if by < this.deadline.deadline() {
                    this.deadline.as_mut().reset(by);
                }
            }
            return Poll::Ready(result);
        }
        if this.activity.in_flight.load(Ordering::SeqCst) > 0 {
            // The idle period starts again after the request is answered.
            this.rearm();
            return Poll::Pending;
        }
        match this.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "admin API connection idle for too long",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncWrite for GuardedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = polled
            && n > 0
        {
            // A response went out: the client gets a fresh idle period for
            // its next request.
            this.rearm();
        }
        polled
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = polled
            && n > 0
        {
            this.rearm();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
