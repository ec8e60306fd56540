//! Every endpoint of the admin API, defined once: the router mounts these
//! and the typed client ([`super::client`]) calls them, so a path cannot
//! be spelled two ways. Parameters are `{name}` segments, in axum's
//! syntax; the client fills them in order.

use crate::config::Role;
use crate::record::AdminAction;

/// The HTTP methods the API uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// Reads; GET also answers HEAD, as axum's `get` does.
    Get,
    /// Commands: they change something or start something.
    Post,
    /// Creates or replaces a managed job's file.
    Put,
    /// Removes a managed job's file.
    Delete,
}

/// One endpoint: a method, a path template and the least role a key needs
/// to call it (cronduct.toml(5) API KEYS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    pub verb: Verb,
    pub path: &'static str,
    pub role: Role,
    /// What the audit trail calls a request to it; `None` for reads, which
    /// are not audited.
    pub audit: Option<AdminAction>,
}

/// Reads need any key.
const fn get(path: &'static str) -> Endpoint {
    Endpoint {
        verb: Verb::Get,
        path,
        role: Role::Read,
        audit: None,
    }
}

/// Commands on jobs and the daemon (pause, resume, run, cancel, reload),
/// each audited as `action`.
const fn operate(path: &'static str, action: AdminAction) -> Endpoint {
    Endpoint {
        verb: Verb::Post,
        path,
        role: Role::Operate,
        audit: Some(action),
    }
}

/// Job management: writes the files of `managed_dir`.
const fn admin(verb: Verb, path: &'static str, action: AdminAction) -> Endpoint {
    Endpoint {
        verb,
        path,
        role: Role::Admin,
        audit: Some(action),
    }
}

/// Open (no key): for load balancers and monitoring.
pub const HEALTH: Endpoint = get("/health");
pub const METRICS: Endpoint = get("/metrics");
pub const STATUS: Endpoint = get("/api/v1/status");
pub const JOBS: Endpoint = get("/api/v1/jobs");
pub const JOB: Endpoint = get("/api/v1/jobs/{id}");
pub const PAUSE: Endpoint = operate("/api/v1/jobs/{id}/pause", AdminAction::Pause);
pub const RESUME: Endpoint = operate("/api/v1/jobs/{id}/resume", AdminAction::Resume);
/// Every configured job at once.
pub const PAUSE_ALL: Endpoint = operate("/api/v1/pause", AdminAction::Pause);
pub const RESUME_ALL: Endpoint = operate("/api/v1/resume", AdminAction::Resume);
pub const TRIGGER: Endpoint = operate("/api/v1/jobs/{id}/run", AdminAction::Run);
pub const CANCEL: Endpoint = operate("/api/v1/jobs/{id}/cancel", AdminAction::Cancel);
pub const JOB_RUNS: Endpoint = get("/api/v1/jobs/{id}/runs");
pub const RUNS: Endpoint = get("/api/v1/runs");
pub const RUN: Endpoint = get("/api/v1/runs/{run_id}");
/// The whole output of one attempt, text; chunked while following.
pub const RUN_OUTPUT: Endpoint = get("/api/v1/runs/{run_id}/output");
pub const RUNNING: Endpoint = get("/api/v1/running");
pub const STATS: Endpoint = get("/api/v1/stats");
/// The audit trail, open to every role: who did what is no secret from
/// those who may look.
pub const AUDIT: Endpoint = get("/api/v1/audit");
/// The cluster's nodes and drift, as this node last read them.
pub const CLUSTER: Endpoint = get("/api/v1/cluster");
pub const RELOAD: Endpoint = operate("/api/v1/reload", AdminAction::Reload);
pub const PUT_JOB: Endpoint = admin(Verb::Put, "/api/v1/jobs/{id}", AdminAction::Put);
pub const DELETE_JOB: Endpoint = admin(Verb::Delete, "/api/v1/jobs/{id}", AdminAction::Delete);
pub const ENABLE: Endpoint = admin(Verb::Post, "/api/v1/jobs/{id}/enable", AdminAction::Enable);
pub const DISABLE: Endpoint = admin(
    Verb::Post,
    "/api/v1/jobs/{id}/disable",
    AdminAction::Disable,
);
/// The status page's shell and its static files: open (no key), since
/// they hold no data; the page asks for the key and sends it to the rest.
pub const PAGE: Endpoint = get("/");
pub const UI_ASSET: Endpoint = get("/ui/{file}");

/// The endpoints that need no key.
pub const OPEN: &[Endpoint] = &[HEALTH, PAGE, UI_ASSET];

/// Every endpoint, for the key check to find a request's role.
pub const ALL: &[Endpoint] = &[
    HEALTH, METRICS, STATUS, JOBS, JOB, PAUSE, RESUME, PAUSE_ALL, RESUME_ALL, TRIGGER, CANCEL,
    JOB_RUNS, RUNS, RUN, RUN_OUTPUT, RUNNING, STATS, AUDIT, CLUSTER, RELOAD, PUT_JOB, DELETE_JOB,
    ENABLE, DISABLE, PAGE, UI_ASSET,
];

impl Endpoint {
    /// The endpoint `method` and `path` address, if any; GET's also
    /// answers HEAD.
    pub fn find(method: &axum::http::Method, path: &str) -> Option<Endpoint> {
        use axum::http::Method;
        let verb = match *method {
            Method::GET | Method::HEAD => Verb::Get,
            Method::POST => Verb::Post,
            Method::PUT => Verb::Put,
            Method::DELETE => Verb::Delete,
            _ => return None,
        };
        ALL.iter()
            .copied()
            .find(|e| e.verb == verb && e.matches(path))
    }

    /// The value of the `{name}` segment in `path`, a path this endpoint
    /// [matches](Self::find), as sent (not percent-decoded).
    pub fn param<'p>(&self, path: &'p str, name: &str) -> Option<&'p str> {
        path.trim_start_matches('/')
            .split('/')
            .zip(self.segments())
            .find_map(|(given, t)| matches!(t, Segment::Param(p) if p == name).then_some(given))
    }

    /// Whether a request path fills this template (a `{parameter}` takes
    /// any one non-empty segment).
    fn matches(&self, path: &str) -> bool {
        let mut given = path.trim_start_matches('/').split('/');
        let mut template = self.segments();
        loop {
            match (template.next(), given.next()) {
                (None, None) => return true,
                (Some(Segment::Literal(l)), Some(g)) if l == g => {}
                (Some(Segment::Param(_)), Some(g)) if !g.is_empty() => {}
                _ => return false,
            }
        }
    }

    /// The path's segments, each either literal text or a `{parameter}`.
    pub fn segments(&self) -> impl Iterator<Item = Segment> {
        self.path.trim_start_matches('/').split('/').map(|s| {
            match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => Segment::Param(name),
                None => Segment::Literal(s),
            }
        })
    }
}

/// A segment of an [`Endpoint`]'s path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segment {
    Literal(&'static str),
    Param(&'static str),
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Method;

    #[test]
    fn requests_find_their_endpoint_and_its_role() {
        let find = |m: Method, p: &str| Endpoint::find(&m, p).map(|e| (e.path, e.role));
        assert_eq!(
            find(Method::GET, "/api/v1/jobs/backup"),
            Some((JOB.path, Role::Read))
        );
        assert_eq!(
            find(Method::HEAD, "/api/v1/jobs"),
            Some((JOBS.path, Role::Read))
        );
        assert_eq!(
            find(Method::POST, "/api/v1/jobs/backup/pause"),
            Some((PAUSE.path, Role::Operate))
        );
        assert_eq!(
            find(Method::POST, "/api/v1/reload"),
            Some((RELOAD.path, Role::Operate))
        );
        assert_eq!(
            find(Method::GET, "/api/v1/audit"),
            Some((AUDIT.path, Role::Read))
        );
        assert_eq!(find(Method::POST, "/api/v1/jobs/backup"), None);
        assert_eq!(find(Method::GET, "/api/v1/jobs//runs"), None);
        assert_eq!(
            find(Method::DELETE, "/api/v1/jobs/backup"),
            Some((DELETE_JOB.path, Role::Admin))
        );
        assert_eq!(
            find(Method::PUT, "/api/v1/jobs/backup"),
            Some((PUT_JOB.path, Role::Admin))
        );
        assert_eq!(
            find(Method::POST, "/api/v1/jobs/backup/disable"),
            Some((DISABLE.path, Role::Admin))
        );
        assert_eq!(find(Method::PATCH, "/api/v1/jobs/backup"), None);
        assert_eq!(find(Method::GET, "/api/v1/jobs/backup/runs/x"), None);
    }

    #[test]
    fn commands_are_audited_and_name_their_job() {
        for e in ALL {
            assert_eq!(e.audit.is_some(), e.verb != Verb::Get, "{}", e.path);
        }
        assert_eq!(
            PAUSE.param("/api/v1/jobs/backup/pause", "id"),
            Some("backup")
        );
        assert_eq!(RELOAD.param("/api/v1/reload", "id"), None);
    }
}
