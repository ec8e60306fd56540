//! The whole output of each command attempt (cronduct.toml(5) WHOLE
//! OUTPUT): in a file of its own, `<log dir>/output/<job>/<run_id>.<attempt>.log`,
//! stdout and stderr lines interleaved as they came, stderr lines marked
//! with [`STDERR_MARK`]; or in the journal ([`super::journal`]), behind the
//! same channel. The record's tails are not this module's business.
//!
//! Contract:
//! - The job is never held up: the readers hand chunks over a bounded
//!   channel without waiting ([`OutputTx::send`]); a chunk that does not
//!   fit is dropped and counted (`output_dropped_bytes`). The daemon's
//!   memory for one attempt is bounded by the channel, whatever the job
//!   writes.
//! - A file grows to `output_max_size`: the first half is written as it
//!   comes, the rest goes into a ring of the other half on disk beside it
//!   (never in memory); at the end the ring's last lines follow one marker
//!   line that says how much was dropped.
//! - A file being written is announced in a process-wide registry, so a
//!   follower reads what is there and wakes up as it grows, and learns
//!   when the attempt is over (see [`follow`]).
//! - Files older than `output_keep` are removed by [`prune`].

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, SystemTime};

use tokio::sync::watch;

/// What starts each line a command wrote to stderr.
pub const STDERR_MARK: &str = "[stderr] ";

/// Chunks in flight between the readers and the writer: with reads of at
/// most 64 KiB, at most 2 MiB per attempt.
const CHANNEL_CHUNKS: usize = 32;

/// A line longer than this without a newline is written as one anyway,
/// so a job writing no newlines cannot grow a line buffer without bound.
pub(super) const MAX_LINE: usize = 64 * 1024;

/// Where the daemon keeps whole output (`[daemon] output`, except
/// `"tail"`, which keeps none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Store {
    /// Files under this folder.
    Files(PathBuf),
    Journal,
}

impl Store {
    /// The store of `[daemon] output`; `None` for `"tail"`.
    pub fn of(mode: crate::config::OutputMode, log_file: &Path) -> Option<Store> {
        match mode {
            crate::config::OutputMode::Files => Some(Store::Files(output_dir(log_file))),
            crate::config::OutputMode::Journal => Some(Store::Journal),
            crate::config::OutputMode::Tail => None,
        }
    }

    /// Where one attempt's output goes.
    pub fn target(&self, job: &str, run_id: &str, attempt: u32) -> Target {
        match self {
            Store::Files(dir) => Target::File(attempt_path(dir, job, run_id, attempt)),
            Store::Journal => Target::Journal(super::journal::Fields {
                job: job.to_owned(),
                run_id: run_id.to_owned(),
                attempt,
            }),
        }
    }
}

/// Where one attempt's whole output goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    File(PathBuf),
    Journal(super::journal::Fields),
}

/// The folder of all output files: `output` beside the run log.
pub fn output_dir(log_file: &Path) -> PathBuf {
    log_file
        .parent()
        .unwrap_or_else(|| Path::new("."))
        .join("output")
}

/// The file of one attempt.
pub fn attempt_path(dir: &Path, job: &str, run_id: &str, attempt: u32) -> PathBuf {
    dir.join(job).join(format!("{run_id}.{attempt}.log"))
}

/// Which stream a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

#[derive(Debug)]
pub(super) struct Chunk {
    pub(super) stream: Stream,
    pub(super) bytes: Vec<u8>,
}

/// A reader's end: hands chunks to the writer without ever waiting.
#[derive(Debug, Clone)]
pub struct OutputTx {
    tx: SyncSender<Chunk>,
    stream: Stream,
    dropped: Arc<AtomicU64>,
}

impl OutputTx {
    /// Queues `bytes`, or drops and counts them when the writer is behind.
    pub fn send(&self, bytes: &[u8]) {
        let chunk = Chunk {
            stream: self.stream,
            bytes: bytes.to_vec(),
        };
        if let Err(TrySendError::Full(c) | TrySendError::Disconnected(c)) = self.tx.try_send(chunk)
        {
            self.dropped
                .fetch_add(c.bytes.len() as u64, Ordering::Relaxed);
        }
    }
}

/// Opens `path` empty, for writing and reading back: the output file
/// (its end checks whether the head ended a line) and its tail ring
/// (copied into the file at the end).
fn open_empty(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
}

/// The whole output of one running attempt, on its way to the sink.
#[derive(Debug)]
pub struct AttemptOutput {
    tx: SyncSender<Chunk>,
    dropped: Arc<AtomicU64>,
    done: tokio::sync::oneshot::Receiver<()>,
}

impl AttemptOutput {
    /// Starts the thread that writes the attempt's output to `target`;
    /// a file is capped at `max_size`.
    pub fn open(target: Target, max_size: u64) -> io::Result<AttemptOutput> {
        match target {
            Target::File(path) => Self::file(path, max_size),
            Target::Journal(fields) => {
                let dropped = Arc::<AtomicU64>::default();
                let writer = super::journal::Writer::new(&fields, Arc::clone(&dropped));
                Self::start(dropped, move |rx| writer.run(rx))
            }
        }
    }

    /// Creates the file (and its folder) and starts the thread that
    /// writes it.
    fn file(path: PathBuf, max_size: u64) -> io::Result<AttemptOutput> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        // Read too: the end checks whether the head ended a line.
        let file = open_empty(&path)?;
        let (grown, _) = watch::channel(0u64);
        live().insert(path.clone(), grown.subscribe());
        let writer = Writer {
            out: BufWriter::with_capacity(64 * 1024, file),
            head_limit: max_size / 2,
            head: 0,
            ring: None,
            ring_limit: max_size - max_size / 2,
            ring_pos: 0,
            path,
            max_size,
            pending: [Vec::new(), Vec::new()],
            grown,
        };
        Self::start(Arc::default(), move |rx| writer.run(rx))
    }

    /// Starts the thread that drains the attempt's bounded channel into
    /// a sink; `done` fires when the sink has taken the last chunk.
    fn start(
        dropped: Arc<AtomicU64>,
        run: impl FnOnce(Receiver<Chunk>) + Send + 'static,
    ) -> io::Result<AttemptOutput> {
        let (tx, rx) = sync_channel(CHANNEL_CHUNKS);
        let (done_tx, done) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("output".into())
            .spawn(move || {
                run(rx);
                let _ = done_tx.send(());
            })?;
        Ok(AttemptOutput { tx, dropped, done })
    }

    /// The end a reader of `stream` feeds.
    pub fn sender(&self, stream: Stream) -> OutputTx {
        OutputTx {
            tx: self.tx.clone(),
            stream,
            dropped: Arc::clone(&self.dropped),
        }
    }

    /// Waits until everything queued is written (the readers must be
    /// done); the bytes dropped because the sink was behind or missing.
    pub async fn finish(self) -> u64 {
        drop(self.tx);
        let _ = self.done.await;
        self.dropped.load(Ordering::Relaxed)
    }
}

/// Files being written, each with a counter of the bytes in it.
fn live() -> std::sync::MutexGuard<'static, HashMap<PathBuf, watch::Receiver<u64>>> {
    static LIVE: OnceLock<Mutex<HashMap<PathBuf, watch::Receiver<u64>>>> = OnceLock::new();
    LIVE.get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

struct Writer {
    out: BufWriter<File>,
    head_limit: u64,
    head: u64,
    /// The ring file beside the output, made when the head is full.
    ring: Option<(PathBuf, File)>,
    ring_limit: u64,
    /// Bytes that went into the ring, in all.
    ring_pos: u64,
    path: PathBuf,
    max_size: u64,
    /// The partial last line of stdout and of stderr.
    pending: [Vec<u8>; 2],
    grown: watch::Sender<u64>,
}

impl Writer {
    fn run(mut self, rx: Receiver<Chunk>) {
        let mut failed = None;
        'outer: loop {
            let chunk = match rx.try_recv() {
                Ok(c) => c,
                Err(TryRecvError::Empty) => {
                    // Caught up: what is written becomes visible to
                    // followers before the writer waits.
                    if let Err(e) = self.out.flush() {
                        failed = Some(e);
                        break;
                    }
                    self.grown.send_replace(self.head);
                    match rx.recv() {
                        Ok(c) => c,
                        Err(_) => break 'outer,
                    }
                }
                Err(TryRecvError::Disconnected) => break,
            };
            if let Err(e) = self.take(chunk) {
                failed = Some(e);
                break;
            }
        }
        let result = match failed {
            Some(e) => Err(e),
            None => self.end(),
        };
        if let Err(e) = result {
            tracing::warn!("cannot write the output file {}: {e}", self.path.display());
        }
        if let Some((ring_path, _)) = self.ring.take() {
            let _ = std::fs::remove_file(ring_path);
        }
        // Keep draining, so the readers' sends never see a full channel
        // because of a failed disk; what they send is lost and counted
        // nowhere, as the file is incomplete anyway and says so above.
        while rx.recv().is_ok() {}
        live().remove(&self.path);
    }

    /// Splits a chunk into whole lines, marking stderr's.
    fn take(&mut self, chunk: Chunk) -> io::Result<()> {
        let i = usize::from(chunk.stream == Stream::Stderr);
        let mut data = &chunk.bytes[..];
        while let Some(nl) = data.iter().position(|&b| b == b'\n') {
            let (line, rest) = data.split_at(nl + 1);
            if chunk.stream == Stream::Stdout && self.pending[0].is_empty() {
                // The common case: whole stdout lines go through as they
                // are, every complete line of the chunk at once.
                let last = rest.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
                let (lines, tail) = rest.split_at(last);
                self.put(line)?;
                self.put(lines)?;
                data = tail;
                break;
            }
            let mut pending = std::mem::take(&mut self.pending[i]);
            pending.extend_from_slice(line);
            self.line(chunk.stream, &pending)?;
            pending.clear();
            self.pending[i] = pending;
            data = rest;
        }
        self.pending[i].extend_from_slice(data);
        if self.pending[i].len() >= MAX_LINE {
            let mut long = std::mem::take(&mut self.pending[i]);
            long.push(b'\n');
            self.line(chunk.stream, &long)?;
        }
        Ok(())
    }

    fn line(&mut self, stream: Stream, line: &[u8]) -> io::Result<()> {
        if stream == Stream::Stderr {
            self.put(STDERR_MARK.as_bytes())?;
        }
        self.put(line)
    }

    /// Appends to the head while it has room, then to the ring.
    fn put(&mut self, mut data: &[u8]) -> io::Result<()> {
        if self.head < self.head_limit {
            let room = usize::try_from(self.head_limit - self.head).unwrap_or(usize::MAX);
            let (now, rest) = data.split_at(room.min(data.len()));
            self.out.write_all(now)?;
            self.head += now.len() as u64;
            data = rest;
        }
        if data.is_empty() {
            return Ok(());
        }
        if self.ring.is_none() {
            let path = self.path.with_extension("log.tail");
            let file = open_empty(&path)?;
            self.ring = Some((path, file));
        }
        let Some((_, ring)) = &self.ring else {
            return Ok(());
        };
        while !data.is_empty() {
            let at = self.ring_pos % self.ring_limit;
            let room = usize::try_from(self.ring_limit - at).unwrap_or(usize::MAX);
            let (now, rest) = data.split_at(room.min(data.len()));
            ring.write_all_at(now, at)?;
            self.ring_pos += now.len() as u64;
            data = rest;
        }
        Ok(())
    }

    /// Writes the partial last lines, then the ring after the marker.
    fn end(&mut self) -> io::Result<()> {
        for (i, stream) in [(0, Stream::Stdout), (1, Stream::Stderr)] {
            let mut last = std::mem::take(&mut self.pending[i]);
            if !last.is_empty() {
                last.push(b'\n');
                self.line(stream, &last)?;
            }
        }
        let Some((_, ring)) = &self.ring else {
            return self.out.flush();
        };
        let mut ring = ring.try_clone()?;
        let kept = self.ring_pos.min(self.ring_limit);
        let start = self.ring_pos % self.ring_limit;
        let mut tail = Vec::new();
        // In order: from the oldest byte to the end of the file, then
        // from its start (when the ring went round).
        if self.ring_pos > self.ring_limit {
            ring.seek(SeekFrom::Start(start))?;
            (&mut ring)
                .take(self.ring_limit - start)
                .read_to_end(&mut tail)?;
        }
        ring.seek(SeekFrom::Start(0))?;
        (&mut ring)
            .take(if self.ring_pos > self.ring_limit {
                start
            } else {
                kept
            })
            .read_to_end(&mut tail)?;
        let mut dropped = self.ring_pos - kept;
        let mut from = 0;
        if dropped > 0 {
            // Start the tail at a line, as the head ends at one when it can.
            if let Some(nl) = tail.iter().position(|&b| b == b'\n') {
                from = nl + 1;
                dropped += from as u64;
            }
            let head_ends_line = self.head == 0 || self.head_ended_line()?;
            let marker = format!(
                "{}[cronduct] {dropped} bytes of output dropped here (output_max_size = {})\n",
                if head_ends_line { "" } else { "\n" },
                crate::units::format_size(self.max_size),
            );
            self.out.write_all(marker.as_bytes())?;
        }
        self.out.write_all(&tail[from..])?;
        self.out.flush()
    }

    fn head_ended_line(&mut self) -> io::Result<bool> {
        self.out.flush()?;
        let mut last = [0u8];
        self.out.get_ref().read_exact_at(&mut last, self.head - 1)?;
        Ok(last[0] == b'\n')
    }
}

/// Where a follower is: the bytes of the file it has, and whether the
/// attempt is still writing it.
pub struct Follower {
    file: File,
    grown: Option<watch::Receiver<u64>>,
}

/// Opens an output file to read it, and to follow it when it is still
/// being written. `Err` (not found) when there is no such file.
pub fn follow(path: &Path) -> io::Result<Follower> {
    // Subscribed before opening, so a write between the two is not missed.
    let grown = live().get(path).cloned();
    let file = File::open(path)?;
    Ok(Follower { file, grown })
}

impl Follower {
    /// The next bytes the file has now, without waiting; `None` at its
    /// current end.
    pub fn next_now(&mut self) -> io::Result<Option<Vec<u8>>> {
        let mut buf = vec![0u8; 64 * 1024];
        let n = self.file.read(&mut buf)?;
        buf.truncate(n);
        Ok((n > 0).then_some(buf))
    }

    /// The next bytes of the file; waits while it is still being written
    /// and has nothing new; `None` at the end.
    pub async fn next(&mut self) -> io::Result<Option<Vec<u8>>> {
        loop {
            let mut buf = vec![0u8; 64 * 1024];
            let n = self.file.read(&mut buf)?;
            if n > 0 {
                buf.truncate(n);
                return Ok(Some(buf));
            }
            match &mut self.grown {
                // The writer is gone once this fails: read what it wrote
                // last, then the end.
                Some(grown) => {
                    if grown.changed().await.is_err() {
                        self.grown = None;
                    }
                }
                None => return Ok(None),
            }
        }
    }
}

/// Removes output files last written more than `keep` before `now`, and
/// folders left empty. Errors are logged, never fatal.
pub fn prune(dir: &Path, keep: Duration, now: SystemTime) {
    let Some(cutoff) = now.checked_sub(keep) else {
        return;
    };
    let Ok(jobs) = std::fs::read_dir(dir) else {
        return;
    };
    for job in jobs.flatten() {
        let folder = job.path();
        let Ok(files) = std::fs::read_dir(&folder) else {
            continue;
        };
        for file in files.flatten() {
            let old = file
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t < cutoff);
            if old && let Err(e) = std::fs::remove_file(file.path()) {
                tracing::warn!(
                    "cannot remove the old output file {}: {e}",
                    file.path().display()
                );
            }
        }
        // Fails while the folder still has files, as it should.
        let _ = std::fs::remove_dir(&folder);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn write(max: u64, chunks: &[(Stream, &[u8])]) -> (String, u64) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = attempt_path(dir.path(), "j", "r", 1);
        let out = AttemptOutput::open(Target::File(path.clone()), max).expect("open");
        for (stream, bytes) in chunks {
            out.sender(*stream).send(bytes);
        }
        let dropped = out.finish().await;
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(
            !path.with_extension("log.tail").exists(),
            "the ring is removed"
        );
        (text, dropped)
    }

    #[tokio::test]
    async fn lines_interleave_and_stderr_is_marked() {
        let (text, dropped) = write(
            1 << 20,
            &[
                (Stream::Stdout, b"one\ntw"),
                (Stream::Stderr, b"oops\n"),
                (Stream::Stdout, b"o\nthree"),
                (Stream::Stderr, b"no newline"),
            ],
        )
        .await;
        assert_eq!(
            text,
            "one\n[stderr] oops\ntwo\nthree\n[stderr] no newline\n"
        );
        assert_eq!(dropped, 0);
    }

    #[tokio::test]
    async fn past_the_cap_the_head_and_tail_are_kept_with_a_marker() {
        let lines: String = (0..1000).map(|i| format!("line {i:04}\n")).collect();
        let (text, _) = write(2048, &[(Stream::Stdout, lines.as_bytes())]).await;
        let kept: Vec<&str> = text.lines().collect();
        assert_eq!(kept[0], "line 0000");
        assert_eq!(*kept.last().expect("lines"), "line 0999");
        let marker = kept
            .iter()
            .position(|l| l.starts_with("[cronduct] "))
            .expect("a marker");
        assert!(
            kept[marker].ends_with("bytes of output dropped here (output_max_size = 2KiB)"),
            "{}",
            kept[marker]
        );
        // The head is the first half as written, the tail whole lines of
        // the end, and the count is what lies between.
        let dropped: usize = kept[marker]
            .split(' ')
            .nth(1)
            .and_then(|n| n.parse().ok())
            .expect("a count");
        assert!(text.starts_with(&lines[..1024]), "{text}");
        let end = "(output_max_size = 2KiB)\n";
        let tail = &text[text.find(end).expect("marker") + end.len()..];
        assert!(lines.ends_with(tail) && tail.starts_with("line "), "{tail}");
        assert_eq!(1024 + dropped + tail.len(), lines.len());
        assert!(text.len() <= 2048 + 120, "{}", text.len());
    }

    #[test]
    fn prune_removes_only_old_files() {
        let dir = tempfile::tempdir().expect("temp dir");
        let old = attempt_path(dir.path(), "a", "r1", 1);
        let new = attempt_path(dir.path(), "b", "r2", 1);
        for p in [&old, &new] {
            std::fs::create_dir_all(p.parent().expect("folder")).expect("mkdir");
            std::fs::write(p, "x").expect("write");
        }
        let t = |p: &Path| {
            std::fs::metadata(p)
                .and_then(|m| m.modified())
                .expect("mtime")
        };
        let now = t(&new) + Duration::from_secs(60);
        let f = File::options().write(true).open(&old).expect("open");
        f.set_modified(now - Duration::from_secs(15 * 86_400))
            .expect("set mtime");
        prune(dir.path(), Duration::from_secs(14 * 86_400), now);
        assert!(!old.exists() && !old.parent().expect("folder").exists());
        assert!(new.exists());
    }
}
