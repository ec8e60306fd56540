//! Every endpoint of the admin API, defined once: the router mounts these
//! and the typed client ([`super::client`]) calls them, so a path cannot
//! be spelled two ways. Parameters are `{name}` segments, in axum's
//! syntax; the client fills them in order.

use crate::config::Role;

/// The HTTP methods the API uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// Reads; GET also answers HEAD, as axum's `get` does.
    Get,
    /// Commands: they change something or start something.
    Post,
}

/// One endpoint: a method, a path template and the least role a key needs
/// to call it (cronduct.toml(5) API KEYS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    pub verb: Verb,
    pub path: &'static str,
    pub role: Role,
}

/// Reads need any key.
const fn get(path: &'static str) -> Endpoint {
    Endpoint {
        verb: Verb::Get,
        path,
        role: Role::Read,
    }
}

/// Commands on jobs and the daemon (pause, resume, run, cancel, reload).
const fn operate(path: &'static str) -> Endpoint {
    Endpoint {
        verb: Verb::Post,
        path,
        role: Role::Operate,
    }
}

/// Open (no key): for load balancers and monitoring.
pub const HEALTH: Endpoint = get("/health");
pub const METRICS: Endpoint = get("/metrics");
pub const STATUS: Endpoint = get("/api/v1/status");
pub const JOBS: Endpoint = get("/api/v1/jobs");
pub const JOB: Endpoint = get("/api/v1/jobs/{id}");
pub const PAUSE: Endpoint = operate("/api/v1/jobs/{id}/pause");
pub const RESUME: Endpoint = operate("/api/v1/jobs/{id}/resume");
/// Every configured job at once.
pub const PAUSE_ALL: Endpoint = operate("/api/v1/pause");
pub const RESUME_ALL: Endpoint = operate("/api/v1/resume");
pub const TRIGGER: Endpoint = operate("/api/v1/jobs/{id}/run");
pub const CANCEL: Endpoint = operate("/api/v1/jobs/{id}/cancel");
pub const JOB_RUNS: Endpoint = get("/api/v1/jobs/{id}/runs");
pub const RUNS: Endpoint = get("/api/v1/runs");
pub const RUN: Endpoint = get("/api/v1/runs/{run_id}");
/// The whole output of one attempt, text; chunked while following.
pub const RUN_OUTPUT: Endpoint = get("/api/v1/runs/{run_id}/output");
pub const RUNNING: Endpoint = get("/api/v1/running");
pub const STATS: Endpoint = get("/api/v1/stats");
pub const RELOAD: Endpoint = operate("/api/v1/reload");

/// Every endpoint, for the key check to find a request's role.
pub const ALL: &[Endpoint] = &[
    HEALTH, METRICS, STATUS, JOBS, JOB, PAUSE, RESUME, PAUSE_ALL, RESUME_ALL, TRIGGER, CANCEL,
    JOB_RUNS, RUNS, RUN, RUN_OUTPUT, RUNNING, STATS, RELOAD,
];

impl Endpoint {
    /// The endpoint `method` and `path` address, if any; GET's also
    /// answers HEAD.
    pub fn find(method: &axum::http::Method, path: &str) -> Option<Endpoint> {
        use axum::http::Method;
        let verb = match *method {
            Method::GET | Method::HEAD => Verb::Get,
            Method::POST => Verb::Post,
            _ => return None,
        };
        ALL.iter()
            .copied()
            .find(|e| e.verb == verb && e.matches(path))
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
        assert_eq!(find(Method::POST, "/api/v1/jobs/backup"), None);
        assert_eq!(find(Method::GET, "/api/v1/jobs//runs"), None);
        assert_eq!(find(Method::DELETE, "/api/v1/jobs/backup"), None);
        assert_eq!(find(Method::GET, "/api/v1/jobs/backup/runs/x"), None);
    }
}
