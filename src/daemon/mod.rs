//! `cronduct run`: the scheduler task and everything it wires together —
//! the config watcher, signals, the run log, persisted state,
//! notifications and the admin API.
//!
//! Fatal errors here are the ones that make running pointless (the
//! config is invalid at start, the API address is taken); everything that
//! goes wrong with a single job is recorded as that job's outcome.

pub mod control;
mod hooks;
mod run;
pub mod scheduler;
mod systemd;
mod watch;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, watch as tokio_watch};

use crate::clock::{Clock, SystemClock};
use crate::config::Config;

/// Runs the daemon in the foreground until SIGTERM or SIGINT.
pub fn main(config_path: &Path) -> anyhow::Result<ExitCode> {
    init_tracing();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(config_path.to_path_buf()))
}

/// Diagnostics go to journald when stderr is the journal, else to stderr
/// as plain text. `RUST_LOG` overrides the level (default `info`).
fn init_tracing() {
    use tracing_subscriber::prelude::*;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    if systemd::under_journald() {
        if let Ok(journald) = tracing_journald::layer() {
            let _ = tracing_subscriber::registry().with(filter).with(journald).try_init();
            return;
        }
    }
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_target(false))
        .try_init();
}

async fn serve(config_path: PathBuf) -> anyhow::Result<ExitCode> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let config = match load_config(config_path.clone()).await {
        Ok(config) => config,
        Err(errors) => {
            eprintln!("{errors}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let host: Arc<str> = Arc::from(
        nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_else(|_| "localhost".to_string()),
    );
    Daemon::start(config, clock, host).await?.wait().await
}

async fn load_config(path: PathBuf) -> Result<Config, String> {
    tokio::task::spawn_blocking(move || crate::config::load(&path).map_err(|e| e.to_string()))
        .await
        .unwrap_or_else(|e| Err(format!("the config loader crashed: {e}")))
}

/// A running daemon, for `cronduct run` and for tests that drive it in
/// process.
pub struct Daemon {
    shutdown: tokio_watch::Sender<bool>,
    scheduler: tokio::task::JoinHandle<()>,
    api: tokio::task::JoinHandle<std::io::Result<()>>,
    pub handle: control::Handle,
    pub listen: std::net::SocketAddr,
}
