//! The bits of the systemd protocol a `Type=notify` service needs:
//! readiness, status text, stopping, and watchdog pings over
//! `$NOTIFY_SOCKET`. Without that variable every call is a no-op, so the
//! daemon behaves the same outside systemd.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

/// Sends one `sd_notify` message (e.g. `"READY=1"`). Failures are logged,
/// never fatal: a missing supervisor must not stop the jobs.
pub fn notify(message: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let path = path.to_string_lossy().into_owned();
    let result = (|| -> std::io::Result<()> {
        let addr = match path.strip_prefix('@') {
            // Abstract socket: the name without the leading '@'.
            Some(name) => SocketAddr::from_abstract_name(name.as_bytes())?,
            None => SocketAddr::from_pathname(&path)?,
        };
        let sock = UnixDatagram::unbound()?;
        sock.send_to_addr(message.as_bytes(), &addr)?;
        Ok(())
    })();
    if let Err(e) = result {
        tracing::warn!("cannot notify systemd at {path}: {e}");
    }
}

/// How often to ping the watchdog: half of `$WATCHDOG_USEC`, when the
/// variable is set for this process (`$WATCHDOG_PID` absent or ours).
pub fn watchdog_interval() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    if let Ok(pid) = std::env::var("WATCHDOG_PID") {
        if pid.parse::<u32>().ok()? != std::process::id() {
            return None;
        }
    }
    (usec > 0).then(|| Duration::from_micros(usec / 2))
}

/// Whether stderr is connected to the journal, so diagnostics should go
/// to journald with structured fields instead of plain text.
pub fn under_journald() -> bool {
    std::env::var_os("JOURNAL_STREAM").is_some()
}

/// Whether the daemon runs as a systemd service (systemd sets
/// `INVOCATION_ID` for each, and `JOURNAL_STREAM` when its output goes to
/// the journal): then whole output goes to the journal by default.
pub fn under_systemd() -> bool {
    std::env::var_os("INVOCATION_ID").is_some() || under_journald()
}

/// Starts the task that pings the watchdog every `every / 2` (see
/// [`watchdog_interval`]) for as long as the scheduler loop keeps beating
/// on the returned sender; the loop wakes at least every `every / 2`.
///
/// A loop that goes quiet for `every` is hung: the pings stop, systemd
/// kills and restarts the service, and the error says why. Once shutdown
/// is requested the task ends quietly (systemd stops watching after
/// `STOPPING=1`, and the loop may wait for jobs or end and drop the
/// sender): a clean stop must not look like a hang in `journalctl -p err`.
pub fn start_watchdog(
    every: Duration,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> tokio::sync::mpsc::Sender<()> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(1);
    tokio::spawn(async move {
        let mut last_ping: Option<tokio::time::Instant> = None;
        loop {
            let beat = tokio::select! {
                beat = tokio::time::timeout(every, rx.recv()) => beat,
                _ = shutdown.wait_for(|s| *s) => return,
            };
            match beat {
                Ok(Some(())) => {
                    if last_ping.is_none_or(|t| t.elapsed() >= every / 2) {
                        notify("WATCHDOG=1");
                        last_ping = Some(tokio::time::Instant::now());
                    }
                }
                Ok(None) => return,
                Err(_) => {
                    tracing::error!(
                        "the scheduler has not answered for {every:?}; no more watchdog pings"
                    );
                    return;
                }
            }
        }
    });
    tx
}
