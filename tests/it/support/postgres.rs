//! A real PostgreSQL server for the cluster tests.
//!
//! [`Postgres::start`] gives each test a database of its own: on the
//! server `CRONDUCT_TEST_DATABASE_URL` names when it is set (a fresh
//! database is created there and dropped at the end), otherwise on a
//! throwaway server of the test's own — `initdb` and `pg_ctl` on a temp
//! dir and a free port on 127.0.0.1, stopped and removed when the value is
//! dropped. PostgreSQL refuses to run as root, so as root the server runs
//! as `nobody`. A machine without PostgreSQL fails the test loudly, naming
//! the package to install (`scripts/test-deps.sh` installs it).

use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The variable that names an existing server to use instead.
pub const URL_VAR: &str = "CRONDUCT_TEST_DATABASE_URL";

/// Where Debian puts the server's programs (not on `PATH`).
const DEBIAN_BIN: &str = "/usr/lib/postgresql";

/// The unprivileged user the server runs as when the tests run as root.
const UNPRIVILEGED: &str = "nobody";

/// One test's database.
pub struct Postgres {
    /// The URL daemons and the test connect with.
    pub url: String,
    server: Option<Server>,
    /// On a server named by [`URL_VAR`]: its URL and the database to drop.
    external: Option<(String, String)>,
}

/// A throwaway server: its data dir and how to run its programs.
struct Server {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
}

impl Postgres {
    /// A fresh, empty database; panics (with the reason) when no server
    /// can be had.
    pub fn start() -> Postgres {
        match std::env::var(URL_VAR) {
            Ok(url) if !url.trim().is_empty() => Self::on_external(url),
            _ => Self::throwaway(),
        }
    }

    fn on_external(base: String) -> Postgres {
        let name = format!("cronduct_test_{:08x}", rand::random::<u32>());
        sql(&base, &format!("CREATE DATABASE {name}"));
        let url = with_database(&base, &name);
        Postgres {
            url,
            server: None,
            external: Some((base, name)),
        }
    }

    fn throwaway() -> Postgres {
        let bin = server_bin().unwrap_or_else(|| {
            panic!(
                "PostgreSQL is not installed: the cluster tests need its server programs \
                 (initdb, pg_ctl). Install Debian's `postgresql` package \
                 (scripts/test-deps.sh does), or set {URL_VAR} to a server's URL"
            )
        });
        let dir = tempfile::tempdir().expect("create the database's temp dir");
        let data = dir.path().join("data");
        std::fs::create_dir(&data).expect("create the data dir");
        if is_root() {
            let out = Command::new("chown")
                .arg("-R")
                .arg(format!("{UNPRIVILEGED}:"))
                .arg(dir.path())
                .output()
                .expect("run chown");
            assert!(out.status.success(), "chown failed: {out:?}");
        }
        let server = Server { dir, bin, port: 0 };
        server.run(
            "initdb",
            &[
                "-D",
                path_str(&data),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ],
        );
        let mut server = server;
        server.port = free_port();
        server.pg_ctl_start();
        let url = format!("postgres://postgres@127.0.0.1:{}/postgres", server.port);
        sql(&url, "CREATE DATABASE cronduct");
        Postgres {
            url: with_database(&url, "cronduct"),
            server: Some(server),
            external: None,
        }
    }

    /// Stops the throwaway server and starts it again on the same port,
    /// keeping its data (clients see their connections closed).
    pub fn restart(&self) {
        let server = self.own_server("restart");
        server.pg_ctl_stop("fast");
        server.pg_ctl_start();
    }

    /// Stops the throwaway server (`pg_ctl stop -m fast`: clients see
    /// their connections closed, new ones refused), keeping its data for
    /// [`Postgres::start_again`].
    pub fn stop(&self) {
        self.own_server("stop").pg_ctl_stop("fast");
    }

    /// Starts the server [`Postgres::stop`] stopped, on the same port.
    pub fn start_again(&self) {
        self.own_server("start_again").pg_ctl_start();
    }

    fn own_server(&self, what: &str) -> &Server {
        self.server
            .as_ref()
            .unwrap_or_else(|| panic!("{what} needs the tests' own server"))
    }

    /// Runs one SQL statement on this test's database.
    #[allow(dead_code)]
    pub fn execute(&self, statement: &str) {
        sql(&self.url, statement);
    }

    /// The throwaway server's folder (`None` on an external server).
    pub fn server_dir(&self) -> Option<PathBuf> {
        self.server.as_ref().map(|s| s.dir.path().to_path_buf())
    }

    /// The first column of every row `query` answers, as text.
    pub fn column(&self, query: &str) -> Vec<String> {
        rows(&self.url, query)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some(server) = &self.server {
            server.pg_ctl_stop("immediate");
        }
        if let Some((base, name)) = &self.external {
            sql(
                base,
                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            );
        }
    }
}

impl Server {
    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn pg_ctl_start(&self) {
        let options = format!(
            "-c listen_addresses=127.0.0.1 -c port={} -c unix_socket_directories={} \
             -c fsync=off -c max_connections=200",
            self.port,
            path_str(self.dir.path())
        );
        let log = self.dir.path().join("server.log");
        let data = self.data();
        self.run(
            "pg_ctl",
            &[
                "start",
                "-w",
                "-t",
                "60",
                "-D",
                path_str(&data),
                "-l",
                path_str(&log),
                "-o",
                &options,
            ],
        );
    }

    fn pg_ctl_stop(&self, mode: &str) {
        let data = self.data();
        self.run("pg_ctl", &["stop", "-w", "-m", mode, "-D", path_str(&data)]);
    }

    /// Runs one of the server's programs, as `nobody` when we are root.
    fn run(&self, program: &str, args: &[&str]) {
        let exe = self.bin.join(program);
        let mut cmd = if is_root() {
            let mut c = Command::new("setpriv");
            c.args([
                &format!("--reuid={UNPRIVILEGED}"),
                "--regid=nogroup",
                "--clear-groups",
                "--",
            ])
            .arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        let out = cmd
            .args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", exe.display()));
        if !out.status.success() {
            let log =
                std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
            panic!(
                "{program} {args:?} failed ({}):\n{}\n{}\nserver log:\n{log}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

/// The folder of the newest installed server's programs.
fn server_bin() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(DEBIAN_BIN)
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((v, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    // Other systems put initdb on PATH.
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .find(|p| p.join("initdb").is_file() && p.join("pg_ctl").is_file())
    })
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("find a free port")
        .port()
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("temp paths are UTF-8")
}

/// `url` with its database replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_end = base
        .find("://")
        .map(|i| i + 3)
        .and_then(|start| base[start..].find('/').map(|j| start + j))
        .unwrap_or(base.len());
    let mut out = format!("{}/{name}", &base[..authority_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("start a runtime")
}

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {url}: {e}"));
    tokio::spawn(connection);
    client
}

/// Runs `statement` on the database `url` names.
pub fn sql(url: &str, statement: &str) {
    runtime().block_on(async {
        connect(url)
            .await
            .batch_execute(statement)
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
    });
}

/// The first column of each row of `query`, as text.
pub fn rows(url: &str, query: &str) -> Vec<String> {
    runtime().block_on(async {
        connect(url)
            .await
            .simple_query(query)
            .await
            .unwrap_or_else(|e| panic!("{query}: {e}"))
            .into_iter()
            .filter_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => {
                    Some(r.get(0).unwrap_or("NULL").to_string())
                }
                _ => None,
            })
            .collect()
    })
}
