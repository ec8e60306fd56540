//! A document kept whole between requests (a JSON answer, or one of the
//! status page's files), served the way each client asks for it: in full, gzip-compressed (`Accept-Encoding: gzip`), or as
//! `304 Not Modified` when the client already holds it (`If-None-Match`).
//!
//! `GET /api/v1/jobs` is 400 KiB with 1,000 jobs. Copying that through
//! the kernel twice per request is what bounds how many clients it can
//! serve; compressed it is about a tenth of that, and a dashboard that
//! polls with the ETag it was given moves no body at all while nothing
//! changed. Compression runs once per document, on the first client that
//! asks for it, never per request, and off the API's thread: 4 MiB (10,000
//! jobs) takes about 50 ms, which other requests should not wait for.

use std::hash::{DefaultHasher, Hasher};
use std::io::Write;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use tokio::sync::OnceCell;

/// A serialised answer and what is needed to serve it conditionally.
pub(crate) struct Document {
    body: Bytes,
    content_type: &'static str,
    /// A hash of `body` in hex: the entity tag's opaque part.
    opaque: String,
    /// The entity tag of the full body, `"<opaque>"`.
    etag: HeaderValue,
    /// The entity tag of the gzip-compressed body, `"<opaque>-gz"`.
    etag_gz: HeaderValue,
    /// `body` gzip-compressed, made on first use (requests that come
    /// meanwhile wait for the same result); `None` if compressing failed
    /// (the full body is served then).
    gzip: OnceCell<Option<Bytes>>,
}

impl Document {
    /// A JSON document.
    pub(crate) fn new(body: Bytes) -> Document {
        Document::typed(body, "application/json")
    }

    /// A document of any media type.
    pub(crate) fn typed(body: Bytes, content_type: &'static str) -> Document {
        let mut hasher = DefaultHasher::new();
        hasher.write(&body);
        let opaque = format!("{:016x}", hasher.finish());
        Document {
            etag: tag_value(&format!("\"{opaque}\"")),
            etag_gz: tag_value(&format!("\"{opaque}-gz\"")),
            opaque,
            body,
            content_type,
            gzip: OnceCell::new(),
        }
    }

    /// The answer to a GET with these request headers.
    pub(crate) async fn respond(&self, request: &HeaderMap) -> Response {
        let gzip = if accepts_gzip(request) {
            self.gzip().await
        } else {
            None
        };
        // A compressed representation has its own strong tag (RFC 9110
        // §8.8.3); either of ours names the same content, so either one
        // sent back means the client is up to date.
        let tag = if gzip.is_some() {
            &self.etag_gz
        } else {
            &self.etag
        };
        let mut headers = HeaderMap::new();
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        headers.insert(header::ETAG, tag.clone());
        if self.is_held_by(request) {
            return (StatusCode::NOT_MODIFIED, headers).into_response();
        }
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(self.content_type),
        );
        let body = match gzip {
            Some(gz) => {
                headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                gz
            }
            None => self.body.clone(),
        };
        (headers, body).into_response()
    }

    async fn gzip(&self) -> Option<Bytes> {
        self.gzip
            .get_or_init(|| {
                let body = self.body.clone();
                async move {
                    tokio::task::spawn_blocking(move || compress(&body))
                        .await
                        .ok()
                        .flatten()
                }
            })
            .await
            .clone()
    }

    /// Whether `If-None-Match` names this document (weak comparison, as
    /// RFC 9110 §13.1.2 asks for GET).
    fn is_held_by(&self, request: &HeaderMap) -> bool {
        request
            .get_all(header::IF_NONE_MATCH)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .any(|tag| {
                if tag == "*" {
                    return true;
                }
                let tag = tag.strip_prefix("W/").unwrap_or(tag);
                let inner = tag
                    .strip_prefix('"')
                    .and_then(|t| t.strip_suffix('"'))
                    .unwrap_or("");
                inner.strip_suffix("-gz").unwrap_or(inner) == self.opaque
            })
    }
}

/// A quoted hex tag as a header value; such text is always a valid one.
fn tag_value(tag: &str) -> HeaderValue {
    HeaderValue::from_str(tag).expect("a quoted hex string is a valid header value")
}

/// Whether `Accept-Encoding` allows gzip: listed (or `*` is) with a
/// non-zero weight, and not refused by name.
fn accepts_gzip(request: &HeaderMap) -> bool {
    let mut named = None;
    let mut any = false;
    for item in request
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
    {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim();
        let weight = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .filter_map(|q| q.trim().parse::<f32>().ok())
            .next()
            .unwrap_or(1.0);
        if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
            named = Some(weight > 0.0);
        } else if coding == "*" {
            any = weight > 0.0;
        }
    }
    named.unwrap_or(any)
}

fn compress(body: &[u8]) -> Option<Bytes> {
    // The default level: JSON of many alike records shrinks to about a
    // ninth (400 KiB in a few milliseconds, once per document); level 1
    // leaves it a quarter larger, level 9 saves 7 % more at three times
    // the time.
    let mut encoder = GzEncoder::new(Vec::with_capacity(body.len() / 8), Compression::default());
    match encoder.write_all(body).and_then(|()| encoder.finish()) {
        Ok(gz) => Some(gz.into()),
        Err(e) => {
            tracing::warn!("cannot compress an API answer ({e}); serving it uncompressed");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn gzip_is_chosen_only_when_the_client_allows_it() {
        for (value, expected) in [
            ("gzip", true),
            ("GZIP", true),
            ("deflate, gzip;q=0.5", true),
            ("br, x-gzip", true),
            ("*", true),
            ("gzip;q=0", false),
            ("gzip; q=0.0, *", false),
            ("*;q=0", false),
            ("identity", false),
            ("deflate, br", false),
        ] {
            assert_eq!(
                accepts_gzip(&headers(&[("accept-encoding", value)])),
                expected,
                "Accept-Encoding: {value}"
            );
        }
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn any_tag_of_the_document_means_not_modified() {
        let doc = Document::new(Bytes::from_static(b"{\"jobs\":[]}"));
        let tag = format!("\"{}\"", doc.opaque);
        let gz = format!("\"{}-gz\"", doc.opaque);
        assert_eq!(doc.etag, tag.as_str());
        assert_eq!(doc.etag_gz, gz.as_str());
        let held = |v: &str| {
            let mut map = HeaderMap::new();
            map.insert(
                header::IF_NONE_MATCH,
                HeaderValue::from_str(v).expect("value"),
            );
            doc.is_held_by(&map)
        };
        assert!(held(&tag));
        assert!(held(&gz));
        assert!(held(&format!("W/{tag}")));
        assert!(held(&format!("\"other\", {gz}")));
        assert!(held("*"));
        assert!(!held("\"other\""));
        assert!(!held(&tag[..tag.len() - 1]));
        assert!(!doc.is_held_by(&HeaderMap::new()));
    }
}
