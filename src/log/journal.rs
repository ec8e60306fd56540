//! The journal sink (cronduct.toml(5) WHOLE OUTPUT): each line a command
//! writes becomes one journal entry, sent with journald's native protocol
//! to its socket (no `systemd-cat` child), and read back with `journalctl`.
//!
//! Contract:
//! - Fields: `MESSAGE` (the line without its newline), `PRIORITY` (6 for
//!   stdout, 3 for stderr), `SYSLOG_IDENTIFIER=cronduct-<job>`,
//!   `CRONDUCT_JOB`, `CRONDUCT_RUN_ID`, `CRONDUCT_ATTEMPT`.
//! - The writer runs on a thread of its own behind the same bounded
//!   channel as the file sink, so the job is never held up. While
//!   journald is slow its socket blocks the writer (never the job) and
//!   the channel fills; what does not fit is dropped and counted. A socket
//!   that stays full for [`SEND_TIMEOUT`] puts the writer in "stalled"
//!   mode, where lines that journald cannot take at once are dropped, so
//!   an attempt's end never waits on a hung journald.
//! - A journal that is missing or refuses is logged once (and once again
//!   when it is back), never per line; its lines count as dropped.
//! - An entry too large for one datagram goes in a sealed memfd passed
//!   with `SCM_RIGHTS`, as journald documents for its native protocol.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStderr, ChildStdout};
use tokio::sync::watch;

use super::output::{Chunk, MAX_LINE, STDERR_MARK, Stream};

/// journald's socket for the native protocol.
pub const SOCKET: &str = "/run/systemd/journal/socket";

/// How long one entry may wait for room in the socket before the writer
/// stops waiting for a journald that does not read.
const SEND_TIMEOUT: Duration = Duration::from_secs(1);

/// How often a writer without a journal tries to reach it again.
const RETRY: Duration = Duration::from_secs(1);

/// How long a follower waits for the last entries of a finished attempt
/// to come out of journald, after the last new one.
const SETTLE: Duration = Duration::from_secs(2);

/// Whether the journal was found missing or refusing, so that is logged
/// once, not for every line or attempt.
static DOWN: AtomicBool = AtomicBool::new(false);

/// The entries that name one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fields {
    pub job: String,
    pub run_id: String,
    pub attempt: u32,
}

impl Fields {
    fn key(&self) -> String {
        format!("{}.{}", self.run_id, self.attempt)
    }

    /// The fields every entry of the attempt carries besides its message
    /// and priority, encoded once.
    fn encoded(&self) -> Vec<u8> {
        let mut buf = Vec::new();
        field(
            &mut buf,
            "SYSLOG_IDENTIFIER",
            format!("cronduct-{}", self.job).as_bytes(),
        );
        field(&mut buf, "CRONDUCT_JOB", self.job.as_bytes());
        field(&mut buf, "CRONDUCT_RUN_ID", self.run_id.as_bytes());
        field(
            &mut buf,
            "CRONDUCT_ATTEMPT",
            self.attempt.to_string().as_bytes(),
        );
        buf
    }

    /// The `journalctl` matches of this attempt's entries.
    fn matches(&self) -> [String; 3] {
        [
            format!("CRONDUCT_JOB={}", self.job),
            format!("CRONDUCT_RUN_ID={}", self.run_id),
            format!("CRONDUCT_ATTEMPT={}", self.attempt),
        ]
    }
}

/// Appends one field in the native protocol: `KEY=value\n`, or, for a
/// value with a newline, `KEY\n`, its length as 64-bit little-endian, the
/// bytes and `\n`.
pub fn field(buf: &mut Vec<u8>, key: &str, value: &[u8]) {
    buf.extend_from_slice(key.as_bytes());
    if value.contains(&b'\n') {
        buf.push(b'\n');
        buf.extend_from_slice(&(value.len() as u64).to_le_bytes());
    } else {
        buf.push(b'=');
    }
    buf.extend_from_slice(value);
    buf.push(b'\n');
}

/// Attempts whose writer is still sending: the number of entries sent
/// once it is done, so a follower knows how many to wait for.
type Live = HashMap<String, watch::Receiver<Option<u64>>>;

fn live() -> std::sync::MutexGuard<'static, Live> {
    static LIVE: OnceLock<Mutex<Live>> = OnceLock::new();
    LIVE.get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

/// Sends one attempt's lines to the journal.
pub(super) struct Writer {
    common: Vec<u8>,
    key: String,
    socket: Option<UnixDatagram>,
    /// When a writer without a socket next tries to connect.
    retry_at: Instant,
    stalled: bool,
    /// The partial last line of stdout and of stderr.
    pending: [Vec<u8>; 2],
    entry: Vec<u8>,
    sent: u64,
    dropped: Arc<AtomicU64>,
    done: watch::Sender<Option<u64>>,
}

impl Writer {
    /// Connects (a failure is logged once and the lines are counted as
    /// dropped) and announces the attempt to followers.
    pub(super) fn new(fields: &Fields, dropped: Arc<AtomicU64>) -> Writer {
        let (done, seen) = watch::channel(None);
        live().insert(fields.key(), seen);
        let mut writer = Writer {
            common: fields.encoded(),
            key: fields.key(),
            socket: None,
            retry_at: Instant::now(),
            stalled: false,
            pending: [Vec::new(), Vec::new()],
            entry: Vec::new(),
            sent: 0,
            dropped,
            done,
        };
        writer.reconnect();
        writer
    }

    pub(super) fn run(mut self, rx: Receiver<Chunk>) {
        while let Ok(chunk) = rx.recv() {
            self.take(chunk);
        }
        for (i, stream) in [(0, Stream::Stdout), (1, Stream::Stderr)] {
            let last = std::mem::take(&mut self.pending[i]);
            if !last.is_empty() {
                self.line(stream, &last, last.len());
            }
        }
        live().remove(&self.key);
        self.done.send_replace(Some(self.sent));
    }

    /// Splits a chunk into lines; a line longer than [`MAX_LINE`] is sent
    /// in pieces of that size.
    fn take(&mut self, chunk: Chunk) {
        let i = usize::from(chunk.stream == Stream::Stderr);
        let mut data = &chunk.bytes[..];
        while let Some(nl) = data.iter().position(|&b| b == b'\n') {
            let (line, rest) = (&data[..nl], &data[nl + 1..]);
            if self.pending[i].is_empty() {
                self.line(chunk.stream, line, line.len() + 1);
            } else {
                let mut pending = std::mem::take(&mut self.pending[i]);
                pending.extend_from_slice(line);
                self.line(chunk.stream, &pending, pending.len() + 1);
                pending.clear();
                self.pending[i] = pending;
            }
            data = rest;
        }
        self.pending[i].extend_from_slice(data);
        if self.pending[i].len() >= MAX_LINE {
            let long = std::mem::take(&mut self.pending[i]);
            self.line(chunk.stream, &long, long.len());
        }
    }

    /// Sends one entry; `len` is what the job wrote for it (the line and
    /// its newline), counted as dropped when it is not sent.
    fn line(&mut self, stream: Stream, message: &[u8], len: usize) {
        if self.socket.is_none() && Instant::now() >= self.retry_at {
            self.reconnect();
        }
        let Some(socket) = &self.socket else {
            self.dropped.fetch_add(len as u64, Ordering::Relaxed);
            return;
        };
        self.entry.clear();
        field(&mut self.entry, "MESSAGE", message);
        let priority: &[u8] = match stream {
            Stream::Stdout => b"6",
            Stream::Stderr => b"3",
        };
        field(&mut self.entry, "PRIORITY", priority);
        self.entry.extend_from_slice(&self.common);
        let result = match socket.send(&self.entry) {
            Err(e) if e.raw_os_error() == Some(libc::EMSGSIZE) => {
                send_in_memfd(socket, &self.entry)
            }
            other => other.map(drop),
        };
        match result {
            Ok(()) => {
                self.sent += 1;
                if self.stalled {
                    self.stalled = false;
                    let _ = socket.set_nonblocking(false);
                }
                if DOWN.load(Ordering::Relaxed) && DOWN.swap(false, Ordering::Relaxed) {
                    tracing::info!("the journal at {SOCKET} takes output again");
                }
            }
            Err(e) => {
                self.dropped.fetch_add(len as u64, Ordering::Relaxed);
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) {
                    // journald is there but does not read: stop waiting
                    // until it takes an entry again.
                    if !self.stalled {
                        self.stalled = socket.set_nonblocking(true).is_ok();
                    }
                } else {
                    lost(&e);
                    self.socket = None;
                    self.retry_at = Instant::now() + RETRY;
                }
            }
        }
    }

    fn reconnect(&mut self) {
        match connect() {
            Ok(socket) => {
                self.socket = Some(socket);
                self.stalled = false;
            }
            Err(e) => {
                lost(&e);
                self.retry_at = Instant::now() + RETRY;
            }
        }
    }
}

fn connect() -> io::Result<UnixDatagram> {
    let socket = UnixDatagram::unbound()?;
    socket.connect(SOCKET)?;
    socket.set_write_timeout(Some(SEND_TIMEOUT))?;
    Ok(socket)
}

/// Logs, once until it is back, that the journal cannot be written.
fn lost(e: &io::Error) {
    if !DOWN.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            "cannot write to the journal at {SOCKET}: {e}; the whole output of commands is \
             dropped (counted in output_dropped_bytes) until it is back"
        );
    }
}

/// Sends an entry too large for a datagram: written to a memfd, sealed
/// so journald may map it, and passed over the socket.
fn send_in_memfd(socket: &UnixDatagram, entry: &[u8]) -> io::Result<()> {
    use nix::fcntl::{FcntlArg, SealFlag, fcntl};
    use nix::sys::memfd::{MFdFlags, memfd_create};
    let fd = memfd_create(
        c"cronduct-journal-entry",
        MFdFlags::MFD_ALLOW_SEALING | MFdFlags::MFD_CLOEXEC,
    )?;
    let mut file = File::from(fd);
    file.write_all(entry)?;
    let seals = SealFlag::F_SEAL_SEAL
        | SealFlag::F_SEAL_SHRINK
        | SealFlag::F_SEAL_GROW
        | SealFlag::F_SEAL_WRITE;
    fcntl(&file, FcntlArg::F_ADD_SEALS(seals))?;
    send_fd(socket, file.as_fd())
}

/// Sends an empty datagram carrying `fd` (`SCM_RIGHTS`).
fn send_fd(socket: &UnixDatagram, fd: BorrowedFd<'_>) -> io::Result<()> {
    let fd_len = u32::try_from(std::mem::size_of::<RawFd>()).unwrap_or(4);
    // SAFETY: CMSG_SPACE only computes a size.
    let space = unsafe { libc::CMSG_SPACE(fd_len) } as usize;
    // u64s, so the control buffer is aligned for a cmsghdr.
    let mut control = vec![0u64; space.div_ceil(8)];
    // SAFETY: an all-zero msghdr is a valid empty message.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = space as _;
    // SAFETY: the control buffer is `space` bytes, room for one cmsghdr
    // with one fd, so CMSG_FIRSTHDR is non-null and its data in bounds.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(fd_len) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>(), fd.as_raw_fd());
    }
    // SAFETY: msg points at live buffers for the duration of the call.
    let n = unsafe { libc::sendmsg(socket.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Reads an attempt's entries back with `journalctl -o json`, one line
/// of text per entry (stderr's marked as in an output file).
pub struct Reader {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
    stderr: Option<ChildStderr>,
    state: Follow,
    /// Entries read so far.
    seen: u64,
}

enum Follow {
    /// Up to what journalctl has (no `-f`).
    No,
    /// The attempt is still being written.
    Live(watch::Receiver<Option<u64>>),
    /// The attempt is over: `sent` entries to read, waiting at most
    /// [`SETTLE`] after the last one.
    Ending {
        sent: u64,
        until: tokio::time::Instant,
    },
}

/// Starts reading an attempt's entries; with `follow` and while the
/// attempt is still being written, follows them until it ends. `Err`
/// says why the journal cannot be read.
pub fn read(fields: &Fields, follow: bool) -> Result<Reader, String> {
    read_with(Path::new("journalctl"), fields, follow)
}

fn read_with(journalctl: &Path, fields: &Fields, follow: bool) -> Result<Reader, String> {
    // Looked up before journalctl starts, so an attempt ending in between
    // is seen as ending, not missed.
    let live = follow.then(|| live().get(&fields.key()).cloned()).flatten();
    let mut cmd = tokio::process::Command::new(journalctl);
    cmd.args([
        "--output=json",
        "--output-fields=MESSAGE,PRIORITY",
        "--all",
        "--no-pager",
        "--quiet",
    ]);
    if live.is_some() {
        cmd.args(["--follow", "--no-tail"]);
    }
    cmd.args(fields.matches())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => {
            "the output is kept in the journal, but journalctl is not installed to read it"
                .to_owned()
        }
        _ => format!("cannot run journalctl to read the output: {e}"),
    })?;
    let (Some(stdout), stderr) = (child.stdout.take(), child.stderr.take()) else {
        return Err("cannot read what journalctl writes".to_owned());
    };
    Ok(Reader {
        child,
        lines: BufReader::new(stdout).lines(),
        stderr,
        state: live.map_or(Follow::No, Follow::Live),
        seen: 0,
    })
}

impl Reader {
    /// Whether it follows an attempt still being written.
    pub fn is_live(&self) -> bool {
        !matches!(self.state, Follow::No)
    }

    /// The next entry as a line of text; `None` at the end (journalctl's
    /// end, or the attempt's when following).
    pub async fn next(&mut self) -> io::Result<Option<Vec<u8>>> {
        loop {
            let line = match &mut self.state {
                Follow::No => self.lines.next_line().await?,
                Follow::Live(done) => {
                    tokio::select! {
                        line = self.lines.next_line() => line?,
                        changed = done.changed() => {
                            let sent = match changed {
                                Ok(()) => *done.borrow(),
                                // The writer is gone without saying: wait
                                // for what comes within the settling time.
                                Err(_) => Some(u64::MAX),
                            };
                            if let Some(sent) = sent {
                                self.state = Follow::Ending {
                                    sent,
                                    until: tokio::time::Instant::now() + SETTLE,
                                };
                            }
                            continue;
                        }
                    }
                }
                Follow::Ending { sent, until } => {
                    if self.seen >= *sent {
                        return Ok(None);
                    }
                    match tokio::time::timeout_at(*until, self.lines.next_line()).await {
                        Ok(line) => {
                            *until = tokio::time::Instant::now() + SETTLE;
                            line?
                        }
                        Err(_) => return Ok(None),
                    }
                }
            };
            let Some(line) = line else {
                return Ok(None);
            };
            if let Some(text) = entry_text(&line) {
                self.seen += 1;
                return Ok(Some(text));
            }
        }
    }

    /// What journalctl said on stderr once it has ended (empty when
    /// nothing), for the reason an attempt has no entries.
    pub async fn complaint(mut self) -> String {
        let mut text = String::new();
        if let Some(mut stderr) = self.stderr.take() {
            let _ = stderr.read_to_string(&mut text).await;
        }
        let _ = self.child.wait().await;
        text.trim().to_owned()
    }
}

/// An entry of `journalctl -o json` as the line an output file would
/// have: its message (a string, or an array of bytes when not UTF-8),
/// marked when it came from stderr.
fn entry_text(json: &str) -> Option<Vec<u8>> {
    let entry: serde_json::Value = serde_json::from_str(json).ok()?;
    let mut text = Vec::new();
    if entry.get("PRIORITY").and_then(|p| p.as_str()) == Some("3") {
        text.extend_from_slice(STDERR_MARK.as_bytes());
    }
    match entry.get("MESSAGE")? {
        serde_json::Value::String(s) => text.extend_from_slice(s.as_bytes()),
        serde_json::Value::Array(bytes) => text.extend(
            bytes
                .iter()
                .filter_map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok())),
        ),
        _ => return None,
    }
    text.push(b'\n');
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes one native-protocol entry, as journald does.
    fn decode(mut data: &[u8]) -> Vec<(String, Vec<u8>)> {
        let mut fields = Vec::new();
        while !data.is_empty() {
            let end = data
                .iter()
                .position(|&b| b == b'\n' || b == b'=')
                .expect("a key");
            let key = String::from_utf8(data[..end].to_vec()).expect("key");
            if data[end] == b'=' {
                let rest = &data[end + 1..];
                let nl = rest.iter().position(|&b| b == b'\n').expect("newline");
                fields.push((key, rest[..nl].to_vec()));
                data = &rest[nl + 1..];
            } else {
                let rest = &data[end + 1..];
                let len = u64::from_le_bytes(rest[..8].try_into().expect("length"));
                let len = usize::try_from(len).expect("length");
                fields.push((key, rest[8..8 + len].to_vec()));
                assert_eq!(rest[8 + len], b'\n');
                data = &rest[9 + len..];
            }
        }
        fields
    }

    #[test]
    fn fields_with_newlines_take_the_binary_form() {
        let mut buf = Vec::new();
        field(&mut buf, "MESSAGE", b"plain");
        field(&mut buf, "OTHER", b"two\nlines");
        assert_eq!(&buf[..14], b"MESSAGE=plain\n");
        assert_eq!(&buf[14..20], b"OTHER\n");
        assert_eq!(
            decode(&buf)[1],
            ("OTHER".to_owned(), b"two\nlines".to_vec())
        );
    }

    #[test]
    fn an_entry_too_large_for_a_datagram_goes_in_a_sealed_memfd() {
        let (tx, rx) = UnixDatagram::pair().expect("socket pair");
        // A send buffer smaller than the entry, whatever the machine's
        // default (net.core.wmem_default).
        let small: libc::c_int = 64 * 1024;
        // SAFETY: setsockopt reads one c_int from a live local.
        let set = unsafe {
            libc::setsockopt(
                tx.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_SNDBUF,
                (&raw const small).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        assert_eq!(set, 0, "set SO_SNDBUF");
        let mut entry = Vec::new();
        field(&mut entry, "MESSAGE", &vec![b'x'; 300_000]);
        field(&mut entry, "PRIORITY", b"6");
        assert_eq!(
            tx.send(&entry).map_err(|e| e.raw_os_error()).err(),
            Some(Some(libc::EMSGSIZE)),
            "the entry must be too large for one datagram"
        );
        send_in_memfd(&tx, &entry).expect("send");
        // Receives the fd the way journald does.
        let mut control = vec![0u64; 8];
        let mut buf = [0u8; 16];
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        // SAFETY: an all-zero msghdr is valid; the buffers outlive recvmsg.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = control.len() * 8;
        // SAFETY: as above.
        let n = unsafe { libc::recvmsg(rx.as_raw_fd(), &mut msg, 0) };
        assert_eq!(n, 0, "an empty datagram");
        // SAFETY: recvmsg filled the control buffer with one SCM_RIGHTS.
        let fd = unsafe {
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            assert!(!cmsg.is_null());
            assert_eq!((*cmsg).cmsg_type, libc::SCM_RIGHTS);
            std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>())
        };
        // SAFETY: the fd was just received and is owned by nobody else.
        let file = unsafe { <File as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        let seals = nix::fcntl::fcntl(&file, nix::fcntl::FcntlArg::F_GET_SEALS).expect("seals");
        assert_ne!(seals & libc::F_SEAL_WRITE, 0, "sealed against writes");
        let read = std::fs::read(format!("/proc/self/fd/{}", file.as_raw_fd())).expect("read");
        let fields = decode(&read);
        assert_eq!(fields[0].1.len(), 300_000);
        assert_eq!(fields[1], ("PRIORITY".to_owned(), b"6".to_vec()));
    }

    #[test]
    fn json_entries_read_back_as_the_lines_of_a_file() {
        assert_eq!(
            entry_text(r#"{"MESSAGE":"hello","PRIORITY":"6","__CURSOR":"s=1"}"#),
            Some(b"hello\n".to_vec())
        );
        assert_eq!(
            entry_text(r#"{"MESSAGE":[111,255],"PRIORITY":"3"}"#),
            Some(b"[stderr] o\xff\n".to_vec())
        );
        assert_eq!(entry_text(r#"{"PRIORITY":"6"}"#), None);
    }

    #[tokio::test]
    async fn a_missing_journalctl_is_named_in_the_reason() {
        let fields = Fields {
            job: "j".into(),
            run_id: "r".into(),
            attempt: 1,
        };
        let err = read_with(Path::new("/nonexistent/journalctl"), &fields, false)
            .err()
            .expect("an error");
        assert!(err.contains("journalctl is not installed"), "{err}");
    }
}
