//! The body of the pause endpoints (`POST /api/v1/jobs/{id}/pause`,
//! `POST /api/v1/pause`), read strictly into the [`Pause`] the scheduler
//! keeps: every mistake is a 400 that says what would be valid, never a
//! pause other than the one asked for.
//!
//! - No body (or only white space) is a pause until resumed, as before
//!   bodies were accepted; the `Content-Type` is not looked at, so
//!   `curl -d '{"until":"2h"}'` works as it is.
//! - `until` is an RFC 3339 time (any offset) or a duration from now in
//!   the config's syntax (`"2h"`, `"1h30m"`, `"90"` seconds); it must lie
//!   in the future, so `"0s"` and past times are refused.
//! - `reason` is one line of at most [`MAX_REASON`] characters, since it
//!   is shown in tables and log lines; an empty one is no reason.

use chrono::{DateTime, Utc};

use super::error::ApiError;
use crate::record::ts;
use crate::units::parse_duration;
use crate::wire::{Pause, PauseRequest};

/// The longest `reason`, in characters.
pub(crate) const MAX_REASON: usize = 500;

/// The pause that `body` asks for, made by the key named `by` at `now`.
pub(crate) fn pause_from_body(
    body: &[u8],
    by: &str,
    now: DateTime<Utc>,
) -> Result<Pause, ApiError> {
    let body = body.trim_ascii();
    let refused = |why: String| {
        ApiError::bad_request(format!(
            "invalid pause request body ({why}); expected {{\"reason\": \"…\", \"until\": \"2h\" or an RFC 3339 time}}, both optional"
        ))
    };
    let request: PauseRequest = match body.first() {
        None => PauseRequest::default(),
        // serde would take `[]` for a request with every field left out.
        Some(b'{') => serde_json::from_slice(body).map_err(|e| refused(e.to_string()))?,
        Some(_) => return Err(refused("not a JSON object".to_string())),
    };
    Ok(Pause {
        reason: reason(request.reason)?,
        until: request.until.map(|u| until(&u, now)).transpose()?,
        by: Some(by.to_string()),
        at: Some(now),
    })
}

fn reason(given: Option<String>) -> Result<Option<String>, ApiError> {
    let Some(text) = given.map(|r| r.trim().to_string()) else {
        return Ok(None);
    };
    if text.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "invalid reason: it must be one line, without control characters",
        ));
    }
    if text.chars().count() > MAX_REASON {
        return Err(ApiError::bad_request(format!(
            "invalid reason: at most {MAX_REASON} characters"
        )));
    }
    Ok((!text.is_empty()).then_some(text))
}

fn until(given: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, ApiError> {
    let at = match DateTime::parse_from_rfc3339(given.trim()) {
        Ok(t) => t.with_timezone(&Utc),
        Err(_) => parse_duration(given)
            .ok()
            .and_then(|d| chrono::Duration::from_std(d).ok())
            .and_then(|d| now.checked_add_signed(d))
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "invalid until {given:?}; expected an RFC 3339 time like 2026-03-29T02:00:00Z or a duration like 2h"
                ))
            })?,
    };
    if at <= now {
        return Err(ApiError::bad_request(format!(
            "invalid until {given:?}: {} is not in the future (now is {})",
            ts::format(&at),
            ts::format(&now)
        )));
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-02T16:00:00.250Z")
            .expect("valid")
            .with_timezone(&Utc)
    }

    fn pause(body: &str) -> Result<Pause, String> {
        pause_from_body(body.as_bytes(), "default", now()).map_err(|e| e.message().to_string())
    }

    #[test]
    fn bodies_that_make_a_pause() {
        let t = |s: &str| {
            Some(
                DateTime::parse_from_rfc3339(s)
                    .expect("valid")
                    .with_timezone(&Utc),
            )
        };
        for (body, reason, until) in [
            ("", None, None),
            (" \n", None, None),
            ("{}", None, None),
            (r#"{"reason": "  disk swap "}"#, Some("disk swap"), None),
            (r#"{"reason": ""}"#, None, None),
            (r#"{"until": "2h"}"#, None, t("2026-12-02T18:00:00.250Z")),
            (r#"{"until": "90"}"#, None, t("2026-12-02T16:01:30.250Z")),
            (
                r#"{"reason": "r", "until": "2026-12-03T08:00:00+01:00"}"#,
                Some("r"),
                t("2026-12-03T07:00:00Z"),
            ),
        ] {
            let p = pause(body).unwrap_or_else(|e| panic!("{body:?}: {e}"));
            assert_eq!(p.reason.as_deref(), reason, "{body:?}");
            assert_eq!(p.until, until, "{body:?}");
            assert_eq!(p.by.as_deref(), Some("default"));
            assert_eq!(p.at, Some(now()));
        }
    }

    #[test]
    fn bodies_that_are_refused_say_why() {
        let long = format!(r#"{{"reason": "{}"}}"#, "x".repeat(MAX_REASON + 1));
        for (body, says) in [
            ("{", "invalid pause request body"),
            ("[]", "invalid pause request body"),
            ("null", "invalid pause request body"),
            (r#"{"untill": "2h"}"#, "unknown field `untill`"),
            (r#"{"until": 7200}"#, "invalid pause request body"),
            (r#"{"until": "2 hours"}"#, "expected an RFC 3339 time"),
            (r#"{"until": "0s"}"#, "is not in the future"),
            (
                r#"{"until": "2026-12-02T15:00:00Z"}"#,
                "2026-12-02T15:00:00.000Z is not in the future",
            ),
            (r#"{"reason": "two\nlines"}"#, "one line"),
            (&long, "at most 500 characters"),
        ] {
            let err = pause(body).expect_err(body);
            assert!(err.contains(says), "{body:?}: {err}");
        }
    }
}
