//! Query parameters: parsed strictly, so a typo (`?limt=5`, `?status=ok`)
//! is a 400 that names the problem instead of being silently ignored.

use std::fmt::Display;
use std::str::FromStr;

use chrono::{DateTime, Utc};

use super::error::ApiError;
use crate::log::MAX_STATS_DAYS;
use crate::record::Status;
use crate::units::parse_duration;

/// `limit` when none is given.
pub(crate) const DEFAULT_LIMIT: usize = 50;
/// The largest `limit` accepted. Larger values are refused (400) rather
/// than clamped, so a script asking for 5000 runs learns it got fewer.
pub(crate) const MAX_LIMIT: usize = 1000;

/// The query string of one request, checked against the names the
/// endpoint accepts.
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    /// Refuses unknown and repeated parameters.
    pub(crate) fn new(pairs: Vec<(String, String)>, allowed: &[&str]) -> Result<Self, ApiError> {
        for (i, (k, _)) in pairs.iter().enumerate() {
            if !allowed.contains(&k.as_str()) {
                let expected = if allowed.is_empty() {
                    "this endpoint takes no parameters".to_string()
                } else {
                    format!("expected {}", allowed.join(", "))
                };
                return Err(ApiError::bad_request(format!(
                    "unknown parameter {k:?}; {expected}"
                )));
            }
            if pairs[..i].iter().any(|(p, _)| p == k) {
                return Err(ApiError::bad_request(format!(
                    "parameter {k:?} given twice"
                )));
            }
        }
        Ok(Params(pairs))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// `limit`: 1 to [`MAX_LIMIT`], default [`DEFAULT_LIMIT`].
    pub(crate) fn limit(&self) -> Result<usize, ApiError> {
        self.number("limit", DEFAULT_LIMIT, MAX_LIMIT)
    }

    /// `status`: one of the run statuses.
    pub(crate) fn status(&self) -> Result<Option<Status>, ApiError> {
        self.get("status")
            .map(|v| v.parse::<Status>().map_err(ApiError::bad_request))
            .transpose()
    }

    /// `since`: an RFC 3339 instant (any offset), or a duration back from
    /// `now` (`90m`, `2d`).
    pub(crate) fn since(&self, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, ApiError> {
        let Some(v) = self.get("since") else {
            return Ok(None);
        };
        if let Ok(t) = DateTime::parse_from_rfc3339(v) {
            return Ok(Some(t.with_timezone(&Utc)));
        }
        parse_duration(v)
            .ok()
            .and_then(|d| chrono::Duration::from_std(d).ok())
            .and_then(|d| now.checked_sub_signed(d))
            .map(Some)
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "invalid since {v:?}; expected an RFC 3339 time like 2026-03-29T02:00:00Z or a duration like 24h"
                ))
            })
    }

    /// `job`: any text; an unknown job simply matches no runs.
    /// `node`: a cluster node's name.
    pub(crate) fn node(&self) -> Option<String> {
        self.get("node").map(str::to_string)
    }

    pub(crate) fn job(&self) -> Option<String> {
        self.get("job").map(str::to_string)
    }

    /// `days`: 1 to [`MAX_STATS_DAYS`], default 7.
    pub(crate) fn days(&self) -> Result<u32, ApiError> {
        self.number("days", 7, MAX_STATS_DAYS)
    }

    /// A whole number from 1 to `max`, `default` when absent; anything
    /// else is a 400 naming the parameter and the range.
    fn number<T>(&self, name: &str, default: T, max: T) -> Result<T, ApiError>
    where
        T: FromStr + PartialOrd + From<u8> + Display,
    {
        let Some(v) = self.get(name) else {
            return Ok(default);
        };
        v.parse::<T>()
            .ok()
            .filter(|n| *n >= T::from(1) && *n <= max)
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "invalid {name} {v:?}; expected a whole number from 1 to {max}"
                ))
            })
    }

    /// `wait`: `true`/`false` (also `1`/`0`, `yes`/`no`; a bare `?wait`
    /// means true), default false.
    pub(crate) fn wait(&self) -> Result<bool, ApiError> {
        self.flag("wait")
    }

    /// `follow`, read like `wait`.
    pub(crate) fn follow(&self) -> Result<bool, ApiError> {
        self.flag("follow")
    }

    /// A yes/no parameter `name`, read as [`Self::wait`] is.
    pub(crate) fn flag(&self, name: &str) -> Result<bool, ApiError> {
        match self.get(name) {
            None => Ok(false),
            Some(v) => parse_bool(v).ok_or_else(|| {
                ApiError::bad_request(format!("invalid {name} {v:?}; expected true or false"))
            }),
        }
    }

    /// `attempt`: from 1; `None` when not given.
    pub(crate) fn attempt(&self) -> Result<Option<u32>, ApiError> {
        match self.get("attempt") {
            None => Ok(None),
            Some(_) => self.number("attempt", 1, u32::MAX).map(Some),
        }
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "true" | "1" | "yes" | "" => Some(true),
        "false" | "0" | "no" => Some(false),
        _ => None,
    }
}
