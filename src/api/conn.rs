//! Connection-level limits: a cap on open connections and an idle
//! timeout, which together keep a misbehaving local client from tying up
//! the API (or the daemon's file descriptors).
//!
//! - At most `max_connections` are open at once; beyond that the listener
//!   stops accepting and new connections wait in the kernel's backlog
//!   until one closes.
//! - A connection with no request in progress is closed when it has not
//!   received a complete request within `idle_timeout` of being accepted or
//!   of its last response. Incoming bytes do not extend the deadline, so a
//!   client dribbling a header one byte at a time is cut off too. A request
//!   in progress (e.g. `run?wait=true` waiting for an hour-long job) is
//!   never cut off by this; the per-request deadline governs it.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::Request;
use axum::extract::connect_info::{ConnectInfo, Connected};
use axum::middleware::Next;
use axum::response::Response;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

/// A TCP listener that holds a permit per open connection.
pub(crate) struct GuardedListener {
    inner: TcpListener,
    permits: Arc<Semaphore>,
    idle_timeout: Duration,
}

impl GuardedListener {
    pub(crate) fn new(inner: TcpListener, max_connections: usize, idle_timeout: Duration) -> Self {
        Self {
            inner,
            permits: Arc::new(Semaphore::new(max_connections.max(1))),
            idle_timeout,
        }
    }
}

impl Listener for GuardedListener {
    type Io = GuardedStream;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
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
                    return (GuardedStream::new(stream, permit, self.idle_timeout), addr);
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

/// Errors about one failed connection, after which accepting can go on.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// How many requests a connection has in progress, shared between the
/// stream (which times out idle connections) and the request middleware.
#[derive(Debug, Default)]
pub(crate) struct Activity {
    in_flight: AtomicUsize,
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
/// timeout does not cut it off mid-request.
pub(crate) async fn track_in_flight(req: Request, next: Next) -> Response {
    let activity = req
        .extensions()
        .get::<ConnectInfo<ConnActivity>>()
        .map(|c| c.0.0.clone());
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
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// An accepted connection: releases its permit when dropped and fails
/// reads once it has been idle too long.
pub(crate) struct GuardedStream {
    inner: TcpStream,
    activity: Arc<Activity>,
    idle_timeout: Duration,
    deadline: Pin<Box<Sleep>>,
    _permit: OwnedSemaphorePermit,
}

impl GuardedStream {
    fn new(inner: TcpStream, permit: OwnedSemaphorePermit, idle_timeout: Duration) -> Self {
        Self {
            inner,
            activity: Arc::new(Activity::default()),
            idle_timeout,
            deadline: Box::pin(tokio::time::sleep(idle_timeout)),
            _permit: permit,
        }
    }

    fn rearm(&mut self) {
        let at = Instant::now() + self.idle_timeout;
        self.deadline.as_mut().reset(at);
    }
}

impl AsyncRead for GuardedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if polled.is_ready() {
            return polled;
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
