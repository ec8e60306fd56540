//! A minimal SMTP server on 127.0.0.1 for tests: it speaks enough of
//! RFC 5321 for lettre (greeting, EHLO, optional AUTH PLAIN, MAIL, RCPT,
//! DATA, QUIT) and keeps every message it receives, so tests can check
//! what a real mail server would have been handed.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// How the sink behaves.
#[derive(Debug, Clone, Copy, Default)]
pub struct Behaviour {
    /// Advertise `AUTH PLAIN` and require it before `MAIL`.
    pub auth: bool,
    /// Accept connections and never say a word.
    pub silent: bool,
    /// Answer every `RCPT` with `550` (a permanent rejection).
    pub reject_rcpt: bool,
}

/// One message as the server received it.
#[derive(Debug, Clone, Default)]
pub struct Mail {
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    /// `(user, password)` from `AUTH PLAIN`, if the client logged in.
    pub auth: Option<(String, String)>,
    /// The raw DATA, dot-unstuffed, lines joined with `\n`.
    pub data: String,
}

impl Mail {
    fn split(&self) -> (&str, &str) {
        self.data.split_once("\n\n").unwrap_or((&self.data, ""))
    }

    /// Headers with folded lines joined, by lower-case name.
    pub fn headers(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let mut last: Option<String> = None;
        for line in self.split().0.lines() {
            if line.starts_with([' ', '\t']) {
                if let Some(name) = &last {
                    let v: &mut String = out.get_mut(name).expect("header seen");
                    v.push(' ');
                    v.push_str(line.trim());
                }
                continue;
            }
            if let Some((name, value)) = line.split_once(':') {
                let name = name.trim().to_ascii_lowercase();
                out.insert(name.clone(), value.trim().to_string());
                last = Some(name);
            }
        }
        out
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers().get(&name.to_ascii_lowercase()).cloned()
    }

    /// The body with its Content-Transfer-Encoding undone.
    pub fn body(&self) -> String {
        let raw = self.split().1;
        let cte = self
            .header("content-transfer-encoding")
            .unwrap_or_default()
            .to_ascii_lowercase();
        match cte.as_str() {
            "base64" => {
                let joined: String = raw.split_whitespace().collect();
                String::from_utf8(base64_decode(&joined)).expect("utf-8 body")
            }
            "quoted-printable" => {
                String::from_utf8(quoted_printable_decode(raw)).expect("utf-8 body")
            }
            _ => raw.to_string(),
        }
    }
}

/// A running sink; dropping it leaves the task to die with the runtime.
pub struct SmtpSink {
    pub port: u16,
    mails: Arc<Mutex<Vec<Mail>>>,
    connections: Arc<Mutex<u32>>,
}

impl SmtpSink {
    pub async fn start(behaviour: Behaviour) -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind sink");
        let port = listener.local_addr().expect("sink address").port();
        let mails = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(Mutex::new(0));
        let (m, c) = (Arc::clone(&mails), Arc::clone(&connections));
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                *c.lock().expect("lock") += 1;
                let m = Arc::clone(&m);
                tokio::spawn(async move {
                    if behaviour.silent {
                        // Hold the socket open, answering nothing.
                        let _stream = stream;
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                        return;
                    }
                    // A client hanging up mid-conversation is not a sink bug.
                    let _ = session(stream, behaviour, m).await;
                });
            }
        });
        SmtpSink {
            port,
            mails,
            connections,
        }
    }

    /// Starts a sink on a thread of its own (a current-thread runtime
    /// that drives the sink's tasks for the rest of the test), for tests
    /// that are not async.
    pub fn start_on_thread(behaviour: Behaviour) -> SmtpSink {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("start a runtime for the SMTP sink");
            rt.block_on(async move {
                tx.send(SmtpSink::start(behaviour).await)
                    .expect("hand the sink over");
                std::future::pending::<()>().await;
            });
        });
        rx.recv().expect("the SMTP sink started")
    }

    /// Every message received so far.
    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().expect("lock").clone()
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> u32 {
        *self.connections.lock().expect("lock")
    }

    /// Waits until at least `n` messages arrived; panics after `within`.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Mail> {
        let found = super::poll::within_async(within, || {
            let mails = self.mails();
            (mails.len() >= n).then_some(mails)
        })
        .await;
        found.unwrap_or_else(|| {
            panic!(
                "expected {n} mail(s) within {within:?}, got {}",
                self.mails().len()
            )
        })
    }
}

async fn session(
    stream: TcpStream,
    behaviour: Behaviour,
    mails: Arc<Mutex<Vec<Mail>>>,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 sink ESMTP ready\r\n").await?;
    let mut mail = Mail::default();
    let mut authed: Option<(String, String)> = None;
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let cmd = line.trim_end().to_string();
        let upper = cmd.to_ascii_uppercase();
        let reply: String = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            if behaviour.auth {
                "250-sink\r\n250-8BITMIME\r\n250 AUTH PLAIN\r\n".into()
            } else {
                "250-sink\r\n250 8BITMIME\r\n".into()
            }
        } else if upper.starts_with("AUTH PLAIN") {
            let mut arg = cmd["AUTH PLAIN".len()..].trim().to_string();
            if arg.is_empty() {
                write.write_all(b"334 \r\n").await?;
                line.clear();
                lines.read_line(&mut line).await?;
                arg = line.trim().to_string();
            }
            let decoded = base64_decode(&arg);
            let parts: Vec<String> = decoded
                .split(|&b| b == 0)
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .collect();
            match parts.as_slice() {
                [_, user, pass] => {
                    authed = Some((user.clone(), pass.clone()));
                    "235 2.7.0 authenticated\r\n".into()
                }
                _ => "501 malformed AUTH PLAIN\r\n".into(),
            }
        } else if upper.starts_with("MAIL FROM:") {
            if behaviour.auth && authed.is_none() {
                "530 5.7.0 authentication required\r\n".into()
            } else {
                mail = Mail {
                    mail_from: angle(&cmd),
                    auth: authed.clone(),
                    ..Mail::default()
                };
                "250 ok\r\n".into()
            }
        } else if upper.starts_with("RCPT TO:") {
            if behaviour.reject_rcpt {
                "550 5.1.1 no such user\r\n".into()
            } else {
                mail.rcpt_to.push(angle(&cmd));
                "250 ok\r\n".into()
            }
        } else if upper == "DATA" {
            write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
            let mut data = Vec::new();
            loop {
                line.clear();
                if lines.read_line(&mut line).await? == 0 {
                    return Ok(());
                }
                let l = line.trim_end_matches(['\r', '\n']);
                if l == "." {
                    break;
                }
                data.push(l.strip_prefix('.').unwrap_or(l).to_string());
            }
            mail.data = data.join("\n");
            mails.lock().expect("lock").push(std::mem::take(&mut mail));
            "250 ok: queued\r\n".into()
        } else if upper == "QUIT" {
            write.write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else if upper == "RSET" || upper == "NOOP" {
            "250 ok\r\n".into()
        } else {
            "502 command not implemented\r\n".into()
        };
        write.write_all(reply.as_bytes()).await?;
    }
}

/// The address inside `<…>` of a MAIL/RCPT command.
fn angle(cmd: &str) -> String {
    let start = cmd.find('<').map_or(0, |i| i + 1);
    let end = cmd.rfind('>').unwrap_or(cmd.len());
    cmd[start..end].to_string()
}

pub fn base64_decode(s: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes() {
        let Some(v) = ALPHABET.iter().position(|&a| a == c) else {
            continue; // '=' padding and whitespace
        };
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

fn quoted_printable_decode(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut lines = s.split('\n').peekable();
    while let Some(line) = lines.next() {
        // A trailing '=' is a soft break: the next line continues this one.
        let (line, soft) = match line.strip_suffix('=') {
            Some(l) => (l, true),
            None => (line, false),
        };
        let bytes = line.as_bytes();
        let mut j = 0;
        while j < bytes.len() {
            if bytes[j] == b'=' && j + 2 < bytes.len() {
                let hex = std::str::from_utf8(&bytes[j + 1..j + 3]).expect("ascii");
                out.push(u8::from_str_radix(hex, 16).expect("hex escape"));
                j += 3;
            } else {
                out.push(bytes[j]);
                j += 1;
            }
        }
        if !soft && lines.peek().is_some() {
            out.push(b'\n');
        }
    }
    out
}
