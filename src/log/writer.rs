//! The JSONL writer: one dedicated thread owns the log file, fed through a
//! channel, so a slow or failing disk never stalls the scheduler.
//!
//! Contract (cronduct.toml(5) EXECUTION LOG):
//! - each line is written whole with one `write(2)` on an `O_APPEND` fd, so
//!   lines never interleave, even with another writer on the same file,
//!   and after a crash at most the last line is partial (the next start
//!   terminates it with a newline so it stays a single garbage line);
//! - rotation happens *before* a write that would take the file past
//!   `log_max_size`, so it never drops a line; a line longer than the limit
//!   is written alone into a fresh file; if rotating fails the line goes
//!   into the current file anyway and the error is reported;
//! - if a write fails (disk full, permission denied, the directory
//!   removed), the line waits in a bounded queue ([`LogOptions`]: the
//!   oldest lines are dropped and counted beyond it), the error is logged
//!   once per distinct failure, and the queue is retried in order before
//!   every later line and every `retry_interval`;
//! - the path is checked before each write and on SIGHUP: if the file was
//!   moved or deleted behind the daemon's back, a new one is created (with
//!   its parent directories, mode 0755) instead of writing into a file
//!   nobody can see; one moved to `<log_file>.1` (logrotate) counts as a
//!   rotation, so the history index keeps finding its records;
//! - each finish line goes to the history index once it is in the file.
//!
//! `log_max_size` and `log_keep` can be changed while running
//! ([`LogSink::reconfigure`]); a new `log_file` path takes effect at the
//! next start, because the history index points into the current files.

use std::collections::VecDeque;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Seek, Write};
use std::os::unix::fs::{DirBuilderExt, FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use super::history::{HistoryHandle, Loc};
use super::{LogError, LogOptions, rotate};
use crate::config::DaemonSettings;
use crate::record::LogEvent;

/// Messages waiting for the writer thread. A burst larger than this (the
/// thread blocked on a stalled disk) is dropped and counted rather than
/// blocking the sender. Kept with a counter on a growable channel: a
/// bounded std channel allocates and touches all its slots up front,
/// about 400 KiB resident for a queue that is nearly always empty.
const CHANNEL_CAPACITY: usize = 16_384;

/// The log writer's state for `/health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogHealth {
    /// No write or rotation error is outstanding.
    pub ok: bool,
    /// The current problem, naming the file and what failed.
    pub error: Option<String>,
    /// Lines waiting in memory for the file to become writable.
    pub pending: usize,
    /// Lines dropped since start-up because the queue was full.
    pub dropped: u64,
}

/// Why a flush could not put everything on disk.
#[derive(Debug, thiserror::Error)]
pub enum FlushError {
    #[error("{pending} log line(s) are still waiting to be written: {error}")]
    Pending { pending: usize, error: String },
    #[error("syncing {path} to disk: {source}")]
    Sync { path: PathBuf, source: io::Error },
    #[error("the log writer has stopped")]
    Stopped,
}

/// A reload asked for a different `log_file`; the running one is kept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "log_file changed from {} to {}; the new path takes effect at the next restart",
    running.display(),
    configured.display()
)]
pub struct RestartRequired {
    pub running: PathBuf,
    pub configured: PathBuf,
}

enum Msg {
    Event(Box<LogEvent>),
    Flush(oneshot::Sender<Result<(), FlushError>>),
    /// Look at the path now (SIGHUP): follow a rotation done outside.
    Reopen,
}

/// What the writer thread and the handles share.
#[derive(Debug)]
struct Shared {
    max_size: AtomicU64,
    keep: AtomicU32,
    dropped: AtomicU64,
    /// Events sent to the writer thread and not yet taken by it.
    queued: AtomicUsize,
    /// A "channel full" error has been logged since the writer last found
    /// the channel empty.
    overflow_reported: AtomicBool,
    status: Mutex<(Option<String>, usize)>,
}

/// A cheap, clonable handle for writing to the execution log. Writing
/// never blocks: the line is handed to the writer thread.
#[derive(Debug, Clone)]
pub struct LogSink {
    tx: Sender<Msg>,
    shared: Arc<Shared>,
    path: PathBuf,
}

impl LogSink {
    /// Queues `ev` to be appended to the log. Never blocks and never fails:
    /// problems show in [`LogSink::health`] and in the daemon's own log.
    pub fn write(&self, ev: LogEvent) {
        let queued = &self.shared.queued;
        let why = if queued.fetch_add(1, Ordering::Relaxed) >= CHANNEL_CAPACITY {
            queued.fetch_sub(1, Ordering::Relaxed);
            "the log writer is falling behind (is the disk stalled?)"
        } else if self.tx.send(Msg::Event(Box::new(ev))).is_err() {
            queued.fetch_sub(1, Ordering::Relaxed);
            "the log writer has stopped"
        } else {
            return;
        };
        self.shared.dropped.fetch_add(1, Ordering::Relaxed);
        if !self.shared.overflow_reported.swap(true, Ordering::Relaxed) {
            tracing::error!(path = %self.path.display(), "{why}; dropping log lines");
        }
    }

    /// Resolves once every line sent before it is written and synced to
    /// disk (`fdatasync`), or says why not. Waits as long as a stalled disk
    /// does: wrap it in a timeout at shutdown.
    pub async fn flush(&self) -> Result<(), FlushError> {
        let (reply, answer) = oneshot::channel();
        if self.tx.send(Msg::Flush(reply)).is_err() {
            return Err(FlushError::Stopped);
        }
        answer.await.unwrap_or(Err(FlushError::Stopped))
    }

    /// Makes the writer look at `log_file` now, as daemons do on SIGHUP
    /// after logrotate moved their log: a file moved away is followed
    /// (see [`Writer::ensure_open`]) and a new one started at once rather
    /// than at the next line.
    pub fn reopen(&self) {
        let _ = self.tx.send(Msg::Reopen);
    }

    /// The writer's state for `/health`.
    pub fn health(&self) -> LogHealth {
        let (error, pending) = self
            .shared
            .status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        LogHealth {
            ok: error.is_none(),
            error,
            pending,
            dropped: self.shared.dropped.load(Ordering::Relaxed),
        }
    }

    /// Applies a reloaded `[daemon]`: `log_max_size` and `log_keep` take
    /// effect from the next line; a changed `log_file` needs a restart.
    pub fn reconfigure(&self, settings: &DaemonSettings) -> Result<(), RestartRequired> {
        self.shared
            .max_size
            .store(settings.log_max_size, Ordering::Relaxed);
        self.shared.keep.store(settings.log_keep, Ordering::Relaxed);
        if settings.log_file == self.path {
            Ok(())
        } else {
            Err(RestartRequired {
                running: self.path.clone(),
                configured: settings.log_file.clone(),
            })
        }
    }
}

struct Current {
    file: File,
    dev: u64,
    ino: u64,
    size: u64,
}

struct Pending {
    line: Vec<u8>,
    /// What the line costs against `queue_bytes`.
    cost: usize,
    event: LogEvent,
}

struct Writer {
    path: PathBuf,
    /// The generation of the file at `path` (see `rotate`).
    gen_: u32,
    current: Option<Current>,
    pending: VecDeque<Pending>,
    pending_bytes: usize,
    options: LogOptions,
    history: HistoryHandle,
    shared: Arc<Shared>,
    write_error: Option<String>,
    rotate_error: Option<String>,
    drop_reported: bool,
}

/// Adds `"node"` to a serialised record other than a finish record
/// (which has the field). Every record's last field is `host`, so the
/// name lands next to it, where cronduct.toml(5)
/// EXECUTION LOG puts it.
fn with_node(line: &mut Vec<u8>, node: &str) {
    if line.last() != Some(&b'}') {
        return;
    }
    line.pop();
    line.extend_from_slice(b",\"node\":");
    // A string always serialises.
    line.extend_from_slice(&serde_json::to_vec(node).unwrap_or_else(|_| b"null".to_vec()));
    line.push(b'}');
}

/// Opens the log for appending and starts the writer thread. Fails only if
/// the log cannot be opened at all now: a wrong path or permission should
/// stop `cronduct run` at once, not be discovered in `/health` later.
pub(crate) fn spawn(
    settings: &DaemonSettings,
    current_gen: u32,
    history: HistoryHandle,
    options: LogOptions,
) -> Result<LogSink, LogError> {
    let shared = Arc::new(Shared {
        max_size: AtomicU64::new(settings.log_max_size),
        keep: AtomicU32::new(settings.log_keep),
        dropped: AtomicU64::new(0),
        queued: AtomicUsize::new(0),
        overflow_reported: AtomicBool::new(false),
        status: Mutex::new((None, 0)),
    });
    let mut writer = Writer {
        path: settings.log_file.clone(),
        gen_: current_gen,
        current: None,
        pending: VecDeque::new(),
        pending_bytes: 0,
        options,
        history,
        shared: Arc::clone(&shared),
        write_error: None,
        rotate_error: None,
        drop_reported: false,
    };
    writer.ensure_open().map_err(|source| LogError::Open {
        path: settings.log_file.clone(),
        source,
    })?;
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("cronduct-log".into())
        .spawn(move || writer.run(rx))
        .map_err(LogError::Spawn)?;
    Ok(LogSink {
        tx,
        shared,
        path: settings.log_file.clone(),
    })
}

/// Retries a syscall interrupted by a signal.
fn retry_eintr<T>(mut f: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    loop {
        match f() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => return r,
        }
    }
}

fn create_parent(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => {
            DirBuilder::new().recursive(true).mode(0o755).create(dir)
        }
        _ => Ok(()),
    }
}

impl Writer {
    fn run(mut self, rx: Receiver<Msg>) {
        loop {
            let msg = match rx.try_recv() {
                Ok(msg) => Ok(msg),
                Err(TryRecvError::Disconnected) => Err(RecvTimeoutError::Disconnected),
                Err(TryRecvError::Empty) => {
                    // Caught up: a later overflow is a new episode to report.
                    self.shared
                        .overflow_reported
                        .store(false, Ordering::Relaxed);
                    if self.pending.is_empty() {
                        rx.recv().map_err(|_| RecvTimeoutError::Disconnected)
                    } else {
                        rx.recv_timeout(self.options.retry_interval)
                    }
                }
            };
            match msg {
                Ok(Msg::Event(ev)) => {
                    self.shared.queued.fetch_sub(1, Ordering::Relaxed);
                    self.enqueue(*ev);
                    self.drain();
                }
                Ok(Msg::Flush(reply)) => {
                    self.drain();
                    // The flusher may have given up waiting; nothing to do then.
                    let _ = reply.send(self.sync());
                }
                Ok(Msg::Reopen) => {
                    if let Err(e) = self.ensure_open() {
                        tracing::error!(path = %self.path.display(), "cannot reopen the execution log: {e}");
                    }
                    self.drain();
                }
                Err(RecvTimeoutError::Timeout) => self.drain(),
                Err(RecvTimeoutError::Disconnected) => {
                    self.drain();
                    if let Err(e) = self.sync() {
                        tracing::error!("closing the execution log: {e}");
                    }
                    return;
                }
            }
            self.publish();
        }
    }

    fn enqueue(&mut self, mut event: LogEvent) {
        // A finish record carries its node as a field, so the history
        // index and the API see it too; other lines get it appended.
        if let (LogEvent::Finish(f), Some(node)) = (&mut event, &self.options.node) {
            f.node.get_or_insert_with(|| node.to_string());
        }
        let mut line = match serde_json::to_vec(&event) {
            Ok(line) => line,
            Err(e) => {
                tracing::error!("cannot serialise a log event, dropping it: {e}");
                self.shared.dropped.fetch_add(1, Ordering::Relaxed);
                return;
            }
        };
        if let (Some(node), false) = (&self.options.node, matches!(event, LogEvent::Finish(_))) {
            with_node(&mut line, node);
        }
        line.push(b'\n');
        let cost = line.len()
            + match &event {
                LogEvent::Finish(f) => f.stdout.len() + f.stderr.len(),
                _ => 0,
            };
        self.pending_bytes += cost;
        self.pending.push_back(Pending { line, cost, event });
        while self.pending.len() > self.options.queue_lines
            || (self.pending_bytes > self.options.queue_bytes && self.pending.len() > 1)
        {
            let Some(old) = self.pending.pop_front() else {
                break;
            };
            self.pending_bytes -= old.cost;
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            if !self.drop_reported {
                self.drop_reported = true;
                tracing::error!(
                    path = %self.path.display(),
                    "the queue of unwritten log lines is full; dropping the oldest"
                );
            }
        }
    }

    /// Writes queued lines in order until the queue is empty or a write
    /// fails.
    fn drain(&mut self) {
        while let Some(next) = self.pending.pop_front() {
            match self.write_line(&next.line) {
                Ok(loc) => {
                    self.pending_bytes -= next.cost;
                    match next.event {
                        LogEvent::Finish(rec) => self.history.write().insert(rec, loc),
                        LogEvent::Start(s) => self.history.write().started(&s.job, s.ts),
                        LogEvent::Skip(s) => self.history.write().skipped(&s.job),
                        LogEvent::Admin(a) => self.history.write().audited(a),
                        LogEvent::Slow(_) | LogEvent::Missed(_) => {}
                    }
                }
                Err(msg) => {
                    self.pending.push_front(next);
                    if self.write_error.as_ref() != Some(&msg) {
                        tracing::error!(
                            "{msg}; keeping {} line(s) in memory and retrying",
                            self.pending.len()
                        );
                        self.write_error = Some(msg);
                    }
                    return;
                }
            }
        }
        if let Some(was) = self.write_error.take() {
            tracing::info!(path = %self.path.display(), "the execution log is writable again (after: {was})");
        }
        self.drop_reported = false;
        self.shared
            .overflow_reported
            .store(false, Ordering::Relaxed);
    }

    fn publish(&self) {
        let error = self.write_error.clone().or(self.rotate_error.clone());
        *self.shared.status.lock().unwrap_or_else(|e| e.into_inner()) = (error, self.pending.len());
    }

    /// Makes sure `current` is the file at `path`, (re)creating it if it is
    /// missing or was replaced.
    ///
    /// A file moved to `<path>.1` (logrotate's `mv runs.jsonl
    /// runs.jsonl.1`, after shifting the older ones) is a rotation like
    /// the daemon's own: the generation advances, so the index finds its
    /// records under their new names. Moved anywhere else or deleted, its
    /// records are no longer where the index can read them back, exactly
    /// as after a restart (the index is rebuilt from `<path>` and
    /// `<path>.N` only).
    fn ensure_open(&mut self) -> io::Result<()> {
        let on_disk = fs::metadata(&self.path).ok();
        if let (Some(cur), Some(m)) = (&self.current, &on_disk) {
            if cur.dev == m.dev() && cur.ino == m.ino() {
                return Ok(());
            }
        }
        if let Some(old) = self.current.take() {
            let first = rotate::rotated_path(&self.path, 1);
            let moved_to_first =
                fs::metadata(&first).is_ok_and(|m| m.dev() == old.dev && m.ino() == old.ino);
            if moved_to_first {
                tracing::info!(path = %self.path.display(), "the log file was rotated outside cronduct (moved to {}); starting a new one", first.display());
                // The generations that still have files: at least those
                // `log_keep` allows, and every one the outside tool kept.
                let keep = self
                    .shared
                    .keep
                    .load(Ordering::Relaxed)
                    .max(rotate::count_rotated(&self.path));
                let mut history = self.history.write();
                self.gen_ += 1;
                history.rotated(self.gen_, keep);
            } else {
                tracing::warn!(path = %self.path.display(), "the log file was moved or deleted outside cronduct; starting a new one");
            }
        }
        create_parent(&self.path)?;
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o640)
            .open(&self.path)?;
        let meta = file.metadata()?;
        let mut size = meta.len();
        if size > 0 {
            let mut last = [0u8];
            file.read_exact_at(&mut last, size - 1)?;
            if last[0] != b'\n' {
                tracing::warn!(path = %self.path.display(), "the log ends with a partial line (a crash while writing?); terminating it");
                retry_eintr(|| file.write_all(b"\n"))?;
                size += 1;
            }
        }
        // The index reads the current generation through this handle, so
        // it follows the file wherever it is moved until the move is seen
        // here.
        match file.try_clone() {
            Ok(reader) => self.history.write().live(self.gen_, reader),
            Err(e) => {
                tracing::warn!(path = %self.path.display(), "cannot share the log file with the history index ({e}); it reads it by name")
            }
        }
        self.current = Some(Current {
            file,
            dev: meta.dev(),
            ino: meta.ino(),
            size,
        });
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        let keep = self.shared.keep.load(Ordering::Relaxed);
        // Hold the index's write lock so no query reads a file mid-shift.
        let mut history = self.history.write();
        rotate::shift(&self.path, keep)?;
        self.current = None;
        self.gen_ += 1;
        history.rotated(self.gen_, keep);
        Ok(())
    }

    fn write_line(&mut self, line: &[u8]) -> Result<Loc, String> {
        let path = self.path.display().to_string();
        self.ensure_open()
            .map_err(|e| format!("cannot open the execution log {path}: {e}"))?;
        let size = self.current.as_ref().map_or(0, |c| c.size);
        let len = line.len() as u64;
        if size > 0 && size.saturating_add(len) > self.shared.max_size.load(Ordering::Relaxed) {
            match self.rotate() {
                Ok(()) => {
                    self.rotate_error = None;
                    self.ensure_open()
                        .map_err(|e| format!("cannot open the execution log {path}: {e}"))?;
                }
                Err(e) => {
                    let msg = format!("cannot rotate the execution log {path}: {e}");
                    if self.rotate_error.as_ref() != Some(&msg) {
                        tracing::error!("{msg}; writing past log_max_size meanwhile");
                        self.rotate_error = Some(msg);
                    }
                }
            }
        }
        let Some(cur) = self.current.as_mut() else {
            return Err(format!("the execution log {path} is not open"));
        };
        let n = retry_eintr(|| cur.file.write(line))
            .map_err(|e| format!("cannot write to the execution log {path}: {e}"))?;
        let end = cur.file.stream_position().unwrap_or(cur.size + n as u64);
        if n < line.len() {
            // Take the fragment back so the retry does not leave a broken
            // line in the middle of the file.
            if let Err(e) = cur.file.set_len(end - n as u64) {
                tracing::error!("cannot remove a partly written line from {path}: {e}");
            }
            cur.size = end - n as u64;
            return Err(format!(
                "cannot write to the execution log {path}: short write (is the disk full?)"
            ));
        }
        cur.size = end;
        Ok(Loc {
            seg: self.gen_,
            offset: end - len,
            len,
        })
    }

    fn sync(&self) -> Result<(), FlushError> {
        if !self.pending.is_empty() {
            return Err(FlushError::Pending {
                pending: self.pending.len(),
                error: self.write_error.clone().unwrap_or_default(),
            });
        }
        if let Some(cur) = &self.current {
            cur.file.sync_data().map_err(|source| FlushError::Sync {
                path: self.path.clone(),
                source,
            })?;
        }
        Ok(())
    }
}
