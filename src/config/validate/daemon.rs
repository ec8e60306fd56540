//! `[daemon]`: the API address, the state folder and the log.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::Validator;
use crate::config::diagnostic::{Diagnostic, FileId};
use crate::config::model::{ApiKeySpec, DaemonSettings, OutputMode, Role};
use crate::config::raw::{RawApiKey, RawDaemon, Scope, Sp};

const DEFAULT_LISTEN: &str = "127.0.0.1:9780";
const DEFAULT_LOG_MAX_SIZE: u64 = 100 << 20;
const DEFAULT_LOG_KEEP: u32 = 10;
const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
const DEFAULT_OUTPUT_KEEP: Duration = Duration::from_secs(14 * 86_400);

impl Validator<'_> {
    pub(crate) fn daemon(&mut self, raw: Option<&RawDaemon>) -> Option<DaemonSettings> {
        let empty = RawDaemon::default();
        let raw = raw.unwrap_or(&empty);
        let f = FileId(0);
        let scope = Scope::Daemon;
        let mut ok = true;
        let listen = match &raw.listen {
            Some(v) => match v.get_ref().parse::<SocketAddr>() {
                Ok(addr) => Some(addr),
                Err(_) => {
                    self.error_help(
                        f,
                        v.span(),
                        format!(
                            "{}: not an IP address and port: \"{}\"",
                            scope.key("listen"),
                            v.get_ref()
                        ),
                        "an address like \"127.0.0.1:9780\" or \"[::1]:9780\" (no host names)",
                    );
                    None
                }
            },
            None => DEFAULT_LISTEN.parse().ok(),
        };
        let mut path = |v: &Option<Sp<String>>, key: &str, this: &mut Self| match v {
            Some(v) => {
                let p = this.path(f, &scope, key, v);
                ok &= p.is_some();
                p
            }
            None => None,
        };
        let admin_key_file = path(&raw.admin_key_file, "admin_key_file", self);
        let state_dir = path(&raw.state_dir, "state_dir", self);
        let log_file = path(&raw.log_file, "log_file", self);
        let log_max_size = match &raw.log_max_size {
            Some(v) => match self.size(f, &scope, "log_max_size", v) {
                Some(0) => {
                    self.error_help(
                        f,
                        v.span(),
                        format!("{}: must be more than 0", scope.key("log_max_size")),
                        "the size at which runs.jsonl is rotated, like \"100MiB\"",
                    );
                    None
                }
                other => other,
            },
            None => Some(DEFAULT_LOG_MAX_SIZE),
        };
        let log_keep = match &raw.log_keep {
            Some(v) => match u32::try_from(*v.get_ref()) {
                Ok(n) if n >= 1 => Some(n),
                _ => {
                    self.error_help(
                        f,
                        v.span(),
                        format!("{}: must be 1 or more", scope.key("log_keep")),
                        "how many rotated files (runs.jsonl.1, .2, …) to keep, like 10",
                    );
                    None
                }
            },
            None => Some(DEFAULT_LOG_KEEP),
        };
        let shutdown_grace = match &raw.shutdown_grace {
            Some(v) => self.duration(f, &scope, "shutdown_grace", v),
            None => Some(DEFAULT_SHUTDOWN_GRACE),
        };
        let output = match &raw.output {
            Some(v) => match v.get_ref().as_str() {
                "files" => Some(OutputMode::Files),
                "journal" => Some(OutputMode::Journal),
                "tail" => Some(OutputMode::Tail),
                other => {
                    self.error_help(
                        f,
                        v.span(),
                        format!("{}: unknown output \"{other}\"", scope.key("output")),
                        "\"files\" (each attempt's whole output in a file under the log's \
                         folder), \"journal\" (one journal entry per line) or \"tail\" (only \
                         the record's tails)",
                    );
                    None
                }
            },
            // Under systemd the journal is where a sysadmin looks first,
            // and it has its own retention.
            None => Some(if crate::daemon::systemd::under_systemd() {
                OutputMode::Journal
            } else {
                OutputMode::Files
            }),
        };
        let output_keep = match &raw.output_keep {
            Some(v) => self.duration(f, &scope, "output_keep", v),
            None => Some(DEFAULT_OUTPUT_KEEP),
        };
        let managed_dir = path(&raw.managed_dir, "managed_dir", self);
        let managed_users = raw.managed_users.as_ref().map_or_else(Vec::new, |list| {
            list.get_ref().iter().map(|u| u.get_ref().clone()).collect()
        });
        let keys = match &raw.keys {
            Some(list) => self.api_keys(list.get_ref()),
            None => Some(Vec::new()),
        };
        let root = self.machine.is_root;
        let state_dir = match state_dir {
            Some(dir) => dir,
            None if root => PathBuf::from("/var/lib/cronduct"),
            None => match self.machine.user_state_dir.clone() {
                Some(dir) => dir,
                None => {
                    self.diags.push(
                        Diagnostic::whole_file(
                            f,
                            "[daemon], key `state_dir`: no default state directory: \
                             neither XDG_STATE_HOME nor HOME is set",
                        )
                        .help("set `state_dir` in [daemon]")
                        .about("daemon.state_dir"),
                    );
                    return None;
                }
            },
        };
        let log_file = match log_file {
            Some(file) => file,
            None if root => PathBuf::from("/var/log/cronduct/runs.jsonl"),
            None => state_dir.join("runs.jsonl"),
        };
        if !ok {
            return None;
        }
        Some(DaemonSettings {
            listen: listen?,
            admin_key_file,
            state_dir,
            log_file,
            log_max_size: log_max_size?,
            log_keep: log_keep?,
            shutdown_grace: shutdown_grace?,
            output: output?,
            output_keep: output_keep?,
            keys: keys?,
            managed_dir,
            managed_users,
        })
    }

    /// `[[daemon.keys]]`: every entry complete, names unique and not the
    /// reserved `default`, roles known. Every problem is reported.
    fn api_keys(&mut self, list: &[Sp<RawApiKey>]) -> Option<Vec<ApiKeySpec>> {
        let f = FileId(0);
        let scope = Scope::Daemon;
        let mut out = Vec::with_capacity(list.len());
        let mut ok = true;
        let mut seen = std::collections::BTreeSet::new();
        for entry in list {
            let raw = entry.get_ref();
            let missing = |key: &str, this: &mut Self| {
                this.error_help(
                    f,
                    entry.span(),
                    format!("{}: this entry has no `{key}`", scope.key("keys")),
                    "each [[daemon.keys]] entry needs name, file and role",
                );
            };
            let name = match &raw.name {
                Some(n) => {
                    let text = n.get_ref();
                    if !super::valid_id(text) {
                        self.error_help(
                            f,
                            n.span(),
                            format!(
                                "{}: not a usable key name: {text:?}",
                                scope.key("keys.name")
                            ),
                            "letters, digits, `_`, `.` and `-`, starting with a letter or digit",
                        );
                        None
                    } else if text == "default" {
                        self.error_help(
                            f,
                            n.span(),
                            format!("{}: `default` is reserved", scope.key("keys.name")),
                            "`default` names the key of admin_key_file (or CRONDUCT_ADMIN_KEY); choose another name",
                        );
                        None
                    } else if !seen.insert(text.clone()) {
                        self.error_help(
                            f,
                            n.span(),
                            format!("{}: a second key named `{text}`", scope.key("keys.name")),
                            "key names are what logs and the audit show; give each key its own",
                        );
                        None
                    } else {
                        Some(text.clone())
                    }
                }
                None => {
                    missing("name", self);
                    None
                }
            };
            let file = match &raw.file {
                Some(p) => self.path(f, &scope, "keys.file", p),
                None => {
                    missing("file", self);
                    None
                }
            };
            let role = match &raw.role {
                Some(r) => match Role::parse(r.get_ref()) {
                    Some(role) => Some(role),
                    None => {
                        self.error_help(
                            f,
                            r.span(),
                            format!(
                                "{}: unknown role \"{}\"",
                                scope.key("keys.role"),
                                r.get_ref()
                            ),
                            "one of \"read\" (GET only), \"operate\" (also pause, resume, run, cancel, reload) or \"admin\"",
                        );
                        None
                    }
                },
                None => {
                    missing("role", self);
                    None
                }
            };
            match (name, file, role) {
                (Some(name), Some(file), Some(role)) => out.push(ApiKeySpec { name, file, role }),
                _ => ok = false,
            }
        }
        ok.then_some(out)
    }
}
