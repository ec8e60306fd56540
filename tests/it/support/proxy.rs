//! A TCP proxy on 127.0.0.1 between one daemon and its PostgreSQL server,
//! for the cluster fault tests: the network between them, which the test
//! can break in the two ways networks break.
//!
//! - [`Proxy::stall`]: a partition. Nothing is forwarded either way, but
//!   every socket stays open and new connections are accepted and left
//!   hanging, so the node sees silence, not an error: only its own
//!   deadlines tell it the database is gone. What the node sent meanwhile
//!   is delivered when the link heals, as TCP delivers after a partition.
//! - [`Proxy::close`]: the far end is gone. Every connection is reset and
//!   new ones are refused (nothing listens on the port).
//! - [`Proxy::heal`]: forwarding again on the same port; stalled
//!   connections carry on where they stopped.
//!
//! The proxy runs on a runtime of its own, so the tests that use it stay
//! plain blocking tests.

use std::net::{Ipv4Addr, SocketAddr, ToSocketAddrs};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::watch;

/// What the link does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Open,
    Stalled,
    Closed,
}

/// One proxied link: listens on `addr`, forwards to the upstream server.
pub struct Proxy {
    /// Where clients connect instead of the server.
    pub addr: SocketAddr,
    mode: watch::Sender<Mode>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Proxy {
    /// A proxy to the server `database_url` names, and the same URL with
    /// the proxy's address in its place.
    pub fn to_database(database_url: &str) -> (Proxy, String) {
        let (before, host_port, after) = split_authority(database_url);
        let upstream = host_port
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .unwrap_or_else(|| panic!("cannot resolve the database's address {host_port:?}"));
        let proxy = Proxy::start(upstream);
        let url = format!("{before}{}{after}", proxy.addr);
        (proxy, url)
    }

    /// A proxy forwarding to `upstream`, open.
    pub fn start(upstream: SocketAddr) -> Proxy {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("start the proxy's runtime");
        let listener = runtime
            .block_on(async { listen(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))) })
            .expect("bind the proxy");
        let addr = listener.local_addr().expect("the proxy's address");
        let (mode, watching) = watch::channel(Mode::Open);
        runtime.spawn(serve(listener, addr, upstream, watching));
        Proxy {
            addr,
            mode,
            runtime: Some(runtime),
        }
    }

    /// Stops forwarding, keeping every connection open (a partition).
    pub fn stall(&self) {
        self.mode.send_replace(Mode::Stalled);
    }

    /// Resets every connection and refuses new ones.
    pub fn close(&self) {
        self.mode.send_replace(Mode::Closed);
    }

    /// Forwards again.
    pub fn heal(&self) {
        self.mode.send_replace(Mode::Open);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// `url` as (what comes before host:port, host:port, the rest).
fn split_authority(url: &str) -> (&str, &str, &str) {
    let start = url.find("://").map_or(0, |i| i + 3);
    let at = url[start..].find('@').map_or(start, |i| start + i + 1);
    let end = url[at..].find(['/', '?']).map_or(url.len(), |i| at + i);
    (&url[..at], &url[at..end], &url[end..])
}

fn listen(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = TcpSocket::new_v4()?;
    // The port is bound again after a close; the reset connections must
    // not keep it.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(128)
}

/// Accepts while open or stalled; while closed, nothing listens.
async fn serve(
    listener: tokio::net::TcpListener,
    addr: SocketAddr,
    upstream: SocketAddr,
    mut mode: watch::Receiver<Mode>,
) {
    let mut listener = Some(listener);
    loop {
        let current = *mode.borrow_and_update();
        if current == Mode::Closed {
            listener = None;
        } else if listener.is_none() {
            listener = match listen(addr) {
                Ok(l) => Some(l),
                Err(e) => panic!("cannot bind the proxy's port {addr} again: {e}"),
            };
        }
        tokio::select! {
            changed = mode.changed() => if changed.is_err() { return },
            accepted = accept(listener.as_ref()) => {
                if let Ok((client, _)) = accepted {
                    tokio::spawn(connection(client, upstream, mode.clone()));
                }
            }
        }
    }
}

async fn accept(
    listener: Option<&tokio::net::TcpListener>,
) -> std::io::Result<(TcpStream, SocketAddr)> {
    match listener {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

/// Forwards one connection both ways until either end closes it or the
/// proxy is closed (then both are reset).
async fn connection(client: TcpStream, upstream: SocketAddr, mut mode: watch::Receiver<Mode>) {
    // Every socket closes with a reset: a close of the proxy must look
    // like a link that broke, not like a server that said goodbye.
    let _ = client.set_zero_linger();
    if wait_open(&mut mode).await.is_err() {
        return;
    }
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = server.set_zero_linger();
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let mut closed = mode.clone();
    tokio::select! {
        _ = async {
            tokio::join!(
                pipe(client_read, server_write, mode.clone()),
                pipe(server_read, client_write, mode.clone()),
            )
        } => {}
        _ = closed.wait_for(|m| *m == Mode::Closed) => {}
    }
}

/// Copies `from` to `to`, holding what it has while the link is stalled.
async fn pipe(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, mut mode: watch::Receiver<Mode>) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if wait_open(&mut mode).await.is_err() {
            return;
        }
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => {
                let _ = to.shutdown().await;
                return;
            }
            Ok(n) => n,
        };
        if wait_open(&mut mode).await.is_err() || to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// Waits while the link is stalled; an error once it is closed.
async fn wait_open(mode: &mut watch::Receiver<Mode>) -> Result<(), ()> {
    match mode.wait_for(|m| *m != Mode::Stalled).await {
        Ok(m) if *m == Mode::Open => Ok(()),
        _ => Err(()),
    }
}
