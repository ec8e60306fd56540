//! Who may talk to the API: the `Host` check against DNS rebinding and the
//! key check with its roles (cronduct.toml(5) ADMIN API and API KEYS).
//!
//! The Host check runs first and on every path, `/health` included, so a
//! web page that rebinds its own name to 127.0.0.1 learns nothing. The key
//! check covers every path except `/health` and the status page's shell
//! and files (`/`, `/ui/…`, which hold no data), unknown paths included
//! (an unauthenticated caller cannot probe which paths exist).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::ApiError;
use super::key::KeyRing;
use super::paths::Endpoint;
use crate::config::Role;

/// The custom header that carries the key, for clients that cannot set
/// `Authorization`.
pub const KEY_HEADER: &str = "x-admin-key";

/// Who made a request: the name of the key it was accepted with, put in
/// the request's extensions by [`require_key`] for the handlers that
/// record who did something (a pause's `by`), and in the answer's for the
/// audit trail (also when the key's role was too low). Never the key
/// itself.
#[derive(Debug, Clone)]
pub(crate) struct KeyName(pub(crate) Arc<str>);

/// Refuses requests whose `Host` (or absolute-form request target) names
/// anything but a loopback name or the configured listen address, with
/// 403. The port is not compared: it does not matter for rebinding, and a
/// proxy or an SSH tunnel may change it.
///
/// A request with no `Host` at all is let through: only HTTP/1.0 clients
/// omit it, and browsers (the rebinding vector) always send one.
pub(crate) async fn check_host(
    State(state): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Response {
    let listen = state.ctx.listen;
    let from_header = req
        .headers()
        .get(header::HOST)
        .map(|v| v.to_str().ok().is_some_and(|h| host_allowed(h, listen)));
    let from_target = req
        .uri()
        .authority()
        .map(|a| host_allowed(a.as_str(), listen));
    if from_header == Some(false) || from_target == Some(false) {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "Host header names neither localhost nor the configured listen address",
        )
        .into_response();
    }
    next.run(req).await
}

/// Whether a `Host` value (`name`, `name:port`, `[v6]:port`, or a bare
/// IPv6 address) names this machine's loopback or `listen`'s address.
pub(crate) fn host_allowed(host: &str, listen: SocketAddr) -> bool {
    let Some(name) = host_name(host) else {
        return false;
    };
    if name.eq_ignore_ascii_case("localhost") {
        return true;
    }
    match name.parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback() || ip == listen.ip(),
        Err(_) => false,
    }
}

/// The host part of a `Host` value, brackets removed; `None` when the
/// value is malformed (e.g. a non-numeric port).
fn host_name(host: &str) -> Option<&str> {
    let host = host.trim();
    let port_ok = |p: &str| p.is_empty() || p.bytes().all(|b| b.is_ascii_digit());
    if let Some(rest) = host.strip_prefix('[') {
        let (name, after) = rest.split_once(']')?;
        let port = match after {
            "" => "",
            a => a.strip_prefix(':')?,
        };
        return port_ok(port).then_some(name);
    }
    if host.matches(':').count() > 1 {
        // A bare IPv6 address cannot carry a port.
        return Some(host);
    }
    match host.split_once(':') {
        Some((name, port)) => port_ok(port).then_some(name),
        None => Some(host),
    }
}

/// Requires a key on every path but the open ones ([`super::paths::OPEN`]), as `Authorization: Bearer
/// KEY` or `X-Admin-Key: KEY`: 401 without one or with an unknown one, 403
/// naming the role needed when the key's role is below the endpoint's.
/// Unknown paths and methods need any key (then 404, 405), so they cannot
/// be probed without one.
pub(crate) async fn require_key(
    State(state): State<Arc<AppState>>,
    mut req: Request,
    next: Next,
) -> Response {
    let endpoint = Endpoint::find(req.method(), req.uri().path());
    if endpoint.is_some_and(|e| super::paths::OPEN.contains(&e)) {
        return next.run(req).await;
    }
    let (name, role) = match key_verdict(req.headers(), &state.ctx.keys.current()) {
        Verdict::Accepted(name, role) => (name, role),
        Verdict::Missing => {
            return ApiError::new(
                StatusCode::UNAUTHORIZED,
                "missing admin key: send \"Authorization: Bearer KEY\" or \"X-Admin-Key: KEY\"",
            )
            .into_response();
        }
        Verdict::Wrong => {
            return ApiError::new(StatusCode::UNAUTHORIZED, "wrong admin key").into_response();
        }
    };
    let needed = endpoint.map_or(Role::Read, |e| e.role);
    // The answer carries the key's name too, for the audit trail.
    let mut response = if role < needed {
        ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "key {name:?} has role {role}; {} {} needs role {needed} or higher",
                req.method(),
                req.uri().path()
            ),
        )
        .into_response()
    } else {
        req.extensions_mut().insert(KeyName(name.clone()));
        next.run(req).await
    };
    response.extensions_mut().insert(KeyName(name));
    response
}

#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Accepted(Arc<str>, Role),
    Missing,
    Wrong,
}

/// Every key the request offers is compared (in constant time) against
/// every key of the ring; when several match, the first offered wins.
fn key_verdict(headers: &HeaderMap, ring: &KeyRing) -> Verdict {
    let bearer = headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .filter_map(|v| {
            let v = v.as_bytes();
            let (scheme, rest) = v.split_at_checked(7)?;
            scheme
                .eq_ignore_ascii_case(b"bearer ")
                .then(|| rest.trim_ascii())
        });
    let custom = headers
        .get_all(KEY_HEADER)
        .iter()
        .map(|v| v.as_bytes().trim_ascii());
    let mut offered = false;
    let mut accepted = None;
    for given in bearer.chain(custom) {
        offered = true;
        // No early exit: every offered key costs the same comparisons.
        let found = ring.identify(given);
        if accepted.is_none() {
            accepted = found;
        }
    }
    match (offered, accepted) {
        (_, Some((name, role))) => Verdict::Accepted(name, role),
        (true, None) => Verdict::Wrong,
        (false, None) => Verdict::Missing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn loopback_names_and_the_listen_address_pass() {
        let listen: SocketAddr = "192.0.2.7:9780".parse().expect("addr");
        for ok in [
            "localhost",
            "LOCALHOST:9780",
            "127.0.0.1",
            "127.0.0.1:1",
            "127.8.9.10:9780",
            "[::1]",
            "[::1]:9780",
            "::1",
            "192.0.2.7",
            "192.0.2.7:8080",
        ] {
            assert!(host_allowed(ok, listen), "{ok} should pass");
        }
        for bad in [
            "evil.example",
            "evil.example:9780",
            "localhost.evil.example",
            "192.0.2.8:9780",
            "[::2]:9780",
            "localhost:abc",
            "[::1]x",
            "",
        ] {
            assert!(!host_allowed(bad, listen), "{bad} should be refused");
        }
    }

    #[test]
    fn v6_listen_address_passes_in_brackets() {
        let listen: SocketAddr = "[2001:db8::5]:9780".parse().expect("addr");
        assert!(host_allowed("[2001:db8::5]:9780", listen));
        assert!(!host_allowed("[2001:db8::6]:9780", listen));
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn either_header_form_carries_the_key() {
        let ring = KeyRing::admin_only("k3y".into());
        let key = &ring;
        let admin = || Verdict::Accepted(Arc::from("default"), Role::Admin);
        assert_eq!(key_verdict(&headers(&[]), key), Verdict::Missing);
        assert_eq!(
            key_verdict(&headers(&[("authorization", "Bearer k3y")]), key),
            admin()
        );
        assert_eq!(
            key_verdict(&headers(&[("authorization", "bearer  k3y ")]), key),
            admin()
        );
        assert_eq!(
            key_verdict(&headers(&[("x-admin-key", "k3y")]), key),
            admin()
        );
        assert_eq!(
            key_verdict(&headers(&[("authorization", "Basic k3y")]), key),
            Verdict::Missing
        );
        assert_eq!(
            key_verdict(&headers(&[("authorization", "Bearer nope")]), key),
            Verdict::Wrong
        );
        assert_eq!(
            key_verdict(
                &headers(&[("authorization", "Bearer nope"), ("x-admin-key", "k3y")]),
                key
            ),
            admin()
        );
    }
}
