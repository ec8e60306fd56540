//! The status page (cronduct.toml(5) STATUS PAGE): the files under `ui/`
//! at the top of the source tree, compiled into the binary, served at `/`
//! (the shell) and `/ui/{file}`.
//!
//! Owns serving them only. The page holds no data of its own: it asks for
//! the admin key in the browser and reads everything else from the public
//! API, so these paths are open like `/health` (the Host check still
//! applies). Each file is a [`Document`], so it is served with an ETag
//! (a reload moves no body), and gzip-compressed once, to the browsers
//! that accept it. A strict Content-Security-Policy goes with each: only
//! the daemon's own scripts, styles and API, nothing inline, no framing.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use super::document::Document;
use super::error::ApiError;

/// No inline script or style, no other host, no plugins, no framing, no
/// `<base>` and no form submitted anywhere: the page's own files and its
/// requests to the daemon are all it can use.
pub(crate) const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self'; img-src 'self'; connect-src 'self'; object-src 'none'; \
    base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The files, by the name they are served under.
const FILES: &[(&str, &str, &[u8])] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_bytes!("../../ui/index.html"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../ui/app.js"),
    ),
    (
        "api.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../ui/api.js"),
    ),
    (
        "chart.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../ui/chart.js"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_bytes!("../../ui/style.css"),
    ),
    (
        "icon.svg",
        "image/svg+xml",
        include_bytes!("../../ui/icon.svg"),
    ),
];

/// Built on first use; each holds its compressed form once asked for.
static DOCUMENTS: LazyLock<Vec<(&'static str, Document)>> = LazyLock::new(|| {
    FILES
        .iter()
        .map(|&(name, kind, body)| (name, Document::typed(Bytes::from_static(body), kind)))
        .collect()
});

/// `GET /`: the page's shell.
pub(crate) async fn page(headers: HeaderMap) -> Response {
    serve("index.html", &headers).await
}

/// `GET /ui/{file}`: one of the page's files; 404 for any other name.
pub(crate) async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    serve(&file, &headers).await
}

async fn serve(name: &str, request: &HeaderMap) -> Response {
    let Some((_, doc)) = DOCUMENTS.iter().find(|(n, _)| *n == name) else {
        return ApiError::not_found(format!("no such file of the status page: /ui/{name}"))
            .into_response();
    };
    let mut response = doc.respond(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // Asked again on every load and answered 304 while unchanged, so the
    // page a browser shows is always the running daemon's own version.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
