//! Every endpoint of the admin API, defined once: the router mounts these
//! and the typed client ([`super::client`]) calls them, so a path cannot
//! be spelled two ways. Parameters are `{name}` segments, in axum's
//! syntax; the client fills them in order.

/// The HTTP methods the API uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// Reads; GET also answers HEAD, as axum's `get` does.
    Get,
    /// Commands: they change something or start something.
    Post,
}

/// One endpoint: a method and a path template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    pub verb: Verb,
    pub path: &'static str,
}

const fn get(path: &'static str) -> Endpoint {
    Endpoint {
        verb: Verb::Get,
        path,
    }
}

const fn post(path: &'static str) -> Endpoint {
    Endpoint {
        verb: Verb::Post,
        path,
    }
}

/// Open (no key): for load balancers and monitoring.
pub const HEALTH: Endpoint = get("/health");
pub const METRICS: Endpoint = get("/metrics");
pub const STATUS: Endpoint = get("/api/v1/status");
pub const JOBS: Endpoint = get("/api/v1/jobs");
pub const JOB: Endpoint = get("/api/v1/jobs/{id}");
pub const PAUSE: Endpoint = post("/api/v1/jobs/{id}/pause");
pub const RESUME: Endpoint = post("/api/v1/jobs/{id}/resume");
/// Every configured job at once.
pub const PAUSE_ALL: Endpoint = post("/api/v1/pause");
pub const RESUME_ALL: Endpoint = post("/api/v1/resume");
pub const TRIGGER: Endpoint = post("/api/v1/jobs/{id}/run");
pub const CANCEL: Endpoint = post("/api/v1/jobs/{id}/cancel");
pub const JOB_RUNS: Endpoint = get("/api/v1/jobs/{id}/runs");
pub const RUNS: Endpoint = get("/api/v1/runs");
pub const RUN: Endpoint = get("/api/v1/runs/{run_id}");
pub const RUNNING: Endpoint = get("/api/v1/running");
pub const STATS: Endpoint = get("/api/v1/stats");
pub const RELOAD: Endpoint = post("/api/v1/reload");

impl Endpoint {
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
