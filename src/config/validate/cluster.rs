//! `[cluster]`: the shared database, this node's name and its timings.

use std::time::Duration;

use super::{Validator, valid_id};
use crate::cluster::DatabaseUrl;
use crate::config::diagnostic::FileId;
use crate::config::model::{ClusterSettings, DatabaseSource, RunOn, Secret};
use crate::config::raw::{RawCluster, Scope, Sp};

const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(5);
const DEFAULT_NODE_TIMEOUT: Duration = Duration::from_secs(30);

impl Validator<'_> {
    pub(crate) fn cluster(&mut self, raw: &RawCluster) -> Option<ClusterSettings> {
        let f = FileId(0);
        let scope = Scope::Cluster;
        let mut ok = true;
        let database = match (&raw.database, &raw.database_file) {
            (Some(url), Some(_)) => {
                ok = false;
                self.error_help(
                    f,
                    url.span(),
                    format!(
                        "{}: both `database` and `database_file` are set",
                        scope.key("database")
                    ),
                    "keep one: the URL itself, or the file that holds it",
                );
                DatabaseSource::Env
            }
            (Some(url), None) => match DatabaseUrl::parse(url.get_ref()) {
                Ok(_) => DatabaseSource::Url(Secret::new(url.get_ref().clone())),
                Err(e) => {
                    ok = false;
                    // The message is the parser's, never the URL: it may
                    // hold a password.
                    self.error_help(
                        f,
                        url.span(),
                        format!("{}: {e}", scope.key("database")),
                        "a URL like \"postgres://cronduct@db.internal/cronduct?sslmode=verify-full\"",
                    );
                    DatabaseSource::Env
                }
            },
            (None, Some(file)) => match self.path(f, &scope, "database_file", file) {
                Some(p) => DatabaseSource::File(p),
                None => {
                    ok = false;
                    DatabaseSource::Env
                }
            },
            (None, None) => DatabaseSource::Env,
        };
        let node = match &raw.node {
            Some(v) if !valid_id(v.get_ref()) => {
                ok = false;
                self.error_help(
                    f,
                    v.span(),
                    format!(
                        "{}: not a usable node name: {:?}",
                        scope.key("node"),
                        v.get_ref()
                    ),
                    "a letter or digit, then up to 63 letters, digits, `_`, `.` or `-`",
                );
                String::new()
            }
            Some(v) => v.get_ref().clone(),
            None => self.machine.host_name.clone(),
        };
        let mut timing = |key: &str, v: &Option<Sp<crate::config::raw::Amount>>, default| match v {
            Some(v) => match self.duration(f, &scope, key, v) {
                Some(d) if d.is_zero() => {
                    self.error_help(
                        f,
                        v.span(),
                        format!("{}: must be more than 0", scope.key(key)),
                        "a duration like \"5s\"",
                    );
                    None
                }
                d => d.map(|d| (d, Some(v.span()))),
            },
            None => Some((default, None)),
        };
        let heartbeat = timing("heartbeat", &raw.heartbeat, DEFAULT_HEARTBEAT);
        let node_timeout = timing("node_timeout", &raw.node_timeout, DEFAULT_NODE_TIMEOUT);
        let (Some((heartbeat, _)), Some((node_timeout, timeout_span))) = (heartbeat, node_timeout)
        else {
            return None;
        };
        if node_timeout < heartbeat * 2 {
            ok = false;
            let span = timeout_span
                .or_else(|| raw.heartbeat.as_ref().map(|h| h.span()))
                .unwrap_or_default();
            self.error_help(
                f,
                span,
                format!(
                    "{}: {}s is less than twice the heartbeat ({}s)",
                    scope.key("node_timeout"),
                    node_timeout.as_secs_f64(),
                    heartbeat.as_secs_f64()
                ),
                "a node is declared gone after node_timeout without a heartbeat: \
                 one late heartbeat must not be enough",
            );
        }
        ok.then_some(ClusterSettings {
            database,
            node,
            heartbeat,
            node_timeout,
        })
    }

    pub(crate) fn run_on(
        &mut self,
        f: FileId,
        scope: &Scope,
        key: &str,
        v: &Sp<String>,
    ) -> Option<RunOn> {
        self.one_of(
            f,
            v,
            scope.key(key),
            "placement",
            &[("one", RunOn::One), ("all", RunOn::All)],
            "one of \"one\" (each scheduled time runs on one node of the cluster) or \
             \"all\" (every node runs it)",
        )
    }
}
