//! `notify.ping`: the healthchecks.io protocol. `URL/start` when a run
//! begins, `URL` when it succeeds, `URL/fail` when it fails, each a POST;
//! the outcome carries the output tail (at most [`BODY_LIMIT`] bytes).

use std::time::Duration;

use super::{DeliveryError, Queued, What};
use crate::action::http::LazyClient;
use crate::record::FinishRecord;

/// The body cap: what healthchecks.io keeps of a ping by default.
pub(super) const BODY_LIMIT: usize = 10 << 10;

/// Which signal a ping sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Start,
    Success,
    Fail,
}

impl Kind {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Kind::Start => "start",
            Kind::Success => "success",
            Kind::Fail => "fail",
        }
    }
}

#[derive(Debug, Clone)]
pub(super) struct Ping {
    pub url: String,
    pub kind: Kind,
    pub run_id: String,
    pub body: String,
}

/// The run's output as the monitor shows it: stdout, then stderr, then
/// the error, keeping the last [`BODY_LIMIT`] bytes (the end of the
/// output says why a run failed).
pub(super) fn body(r: &FinishRecord) -> String {
    let mut b = r.stdout.clone();
    if !r.stderr.is_empty() {
        if !b.is_empty() && !b.ends_with('\n') {
            b.push('\n');
        }
        b.push_str(&r.stderr);
    }
    if let Some(e) = &r.error {
        if !b.is_empty() && !b.ends_with('\n') {
            b.push('\n');
        }
        b.push_str(e);
    }
    if b.len() > BODY_LIMIT {
        let mut start = b.len() - BODY_LIMIT;
        while !b.is_char_boundary(start) {
            start += 1;
        }
        b.drain(..start);
    }
    b
}

/// `URL/start`, `URL`, `URL/fail`; a query (`?create=1`, `?rid=…`) stays
/// at the end where the monitor reads it.
fn signal_url(url: &str, kind: Kind) -> String {
    let (path, query) = match url.split_once('?') {
        Some((path, query)) => (path, format!("?{query}")),
        None => (url, String::new()),
    };
    let path = path.trim_end_matches('/');
    match kind {
        Kind::Start => format!("{path}/start{query}"),
        Kind::Success => format!("{path}{query}"),
        Kind::Fail => format!("{path}/fail{query}"),
    }
}

/// One try at a ping; any 2xx answer is success.
pub(super) async fn post(
    http: &LazyClient,
    q: &Queued,
    timeout: Duration,
) -> Result<(), DeliveryError> {
    let What::Ping(p) = &q.what else {
        return Ok(());
    };
    let url = signal_url(&p.url, p.kind);
    let sent = http
        .get()
        .map_err(DeliveryError::Permanent)?
        .post(&url)
        .header(reqwest::header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .timeout(timeout)
        .body(p.body.clone())
        .send()
        .await;
    super::webhook::outcome("ping", &url, sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_urls_keep_the_query_last() {
        #[rustfmt::skip]
        let cases = [
            ("https://hc-ping.com/abc", Kind::Start, "https://hc-ping.com/abc/start"),
            ("https://hc-ping.com/abc/", Kind::Success, "https://hc-ping.com/abc"),
            ("https://hc-ping.com/abc", Kind::Fail, "https://hc-ping.com/abc/fail"),
            ("https://hc-ping.com/key/backup?create=1", Kind::Start,
             "https://hc-ping.com/key/backup/start?create=1"),
            ("https://hc-ping.com/key/backup?create=1", Kind::Success,
             "https://hc-ping.com/key/backup?create=1"),
        ];
        for (url, kind, want) in cases {
            assert_eq!(signal_url(url, kind), want);
        }
    }
}
