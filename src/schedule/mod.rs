//! Schedules: a cron expression or macro, plus a time zone, to the next
//! fire instant (SPEC §3).
//!
//! Pure: no clock, no I/O. Callers pass "after" and get instants in UTC.
//! DST follows Debian cron: fixed-time 5-field jobs follow the wall clock,
//! everything else follows elapsed time.

use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

/// Why an expression was rejected; the text says what would be valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ScheduleError(pub String);

/// A parsed `schedule` value.
#[derive(Debug, Clone)]
pub struct Schedule {
    source: String,
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    Cron(croner::Cron),
    Every(Duration),
    Reboot,
}

impl PartialEq for Schedule {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl std::fmt::Display for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.source)
    }
}

impl std::str::FromStr for Schedule {
    type Err = ScheduleError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let source = s.trim().to_string();
        if source == "@reboot" {
            return Ok(Schedule {
                source,
                kind: Kind::Reboot,
            });
        }
        let cron = croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Optional)
            .build()
            .parse(&source)
            .map_err(|e| ScheduleError(e.to_string()))?;
        Ok(Schedule {
            source,
            kind: Kind::Cron(cron),
        })
    }
}

impl Schedule {
    /// The expression as written in the config.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// `@reboot`: runs once when the daemon starts, never on a timer.
    pub fn is_reboot(&self) -> bool {
        matches!(self.kind, Kind::Reboot)
    }

    /// `@every D`: the interval.
    pub fn every(&self) -> Option<Duration> {
        match self.kind {
            Kind::Every(d) => Some(d),
            _ => None,
        }
    }

    /// A fixed-time job (5 fields, minute and hour not starting with `*`)
    /// follows the wall clock across DST and clock jumps (SPEC §3, §4).
    pub fn is_fixed_time(&self) -> bool {
        false
    }

    /// The first fire instant strictly after `after`, in zone `tz`.
    /// `anchor` is when the job was loaded: `@every` fires at
    /// `anchor + k × interval`. `None` for `@reboot` and for an
    /// expression with no instant left.
    pub fn next_after(
        &self,
        after: DateTime<Utc>,
        tz: Tz,
        anchor: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        match &self.kind {
            Kind::Reboot => None,
            Kind::Every(_) => {
                let _ = anchor;
                None
            }
            Kind::Cron(c) => c
                .find_next_occurrence(&after.with_timezone(&tz), false)
                .ok()
                .map(|t| t.with_timezone(&Utc)),
        }
    }
}

/// The system's time zone: `TZ` (an IANA name, optionally with a leading
/// `:`), else the target of the `/etc/localtime` link, else
/// `/etc/timezone`, else UTC.
pub fn system_timezone() -> Tz {
    fn parse(name: &str) -> Option<Tz> {
        name.trim().trim_start_matches(':').parse().ok()
    }
    if let Ok(tz) = std::env::var("TZ") {
        if let Some(tz) = parse(&tz) {
            return tz;
        }
    }
    if let Ok(target) = std::fs::read_link("/etc/localtime") {
        let target = target.to_string_lossy();
        if let Some(idx) = target.find("zoneinfo/") {
            if let Some(tz) = parse(&target[idx + "zoneinfo/".len()..]) {
                return tz;
            }
        }
    }
    if let Ok(name) = std::fs::read_to_string("/etc/timezone") {
        if let Some(tz) = parse(&name) {
            return tz;
        }
    }
    Tz::UTC
}
