//! Time zones: the rules of one zone, read from a TZif file of the
//! system's tz database (or the compiled-in copy where the system has
//! none), and the database they come from (`db`).
//!
//! Owns the answers the schedule engine needs from a zone: the UTC offset
//! at an instant, the next offset change, and the instants of a local wall
//! time (once, twice in a fold, none in a gap). Rules past the last
//! transition listed in a file come from its POSIX TZ footer, so years
//! like 2100 follow the zone's current rule. Instants are whole seconds
//! since the Unix epoch; a "wall" time is the local time counted as if the
//! zone were UTC. Nothing here reads a clock.
//!
//! Instants outside years 0001–9999 (in UTC and in every zone's local
//! time) have no answer: they cannot be written in RFC 3339, so the
//! engine treats them as the end of the calendar.

pub mod db;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, FixedOffset, Offset as _, Utc};
use jiff::Timestamp;
use jiff::tz::{AmbiguousOffset, Offset, TimeZone};

pub use db::{Database, Source, ZoneError};

/// The last instant the engine answers for, 9999-12-30T22:00:00Z: every
/// zone's local time still shows year 9999 there (offsets stay within
/// ±26 hours).
pub const LAST_INSTANT: i64 = 253_402_207_200;
/// The first: the start of year 0001 in the zone furthest west (UTC−12).
pub const FIRST_INSTANT: i64 = -62_135_596_800 + 12 * 3600;

/// One time zone's rules, cheap to clone. Two zones are equal when they
/// have the same name and were read from the same bytes, so a reload
/// after a tzdata update sees the jobs of a changed zone as changed.
#[derive(Clone)]
pub struct Zone {
    inner: Arc<Inner>,
}

struct Inner {
    name: String,
    tz: TimeZone,
    /// A hash of the TZif bytes (0 for UTC and POSIX TZ strings).
    digest: u64,
    /// The file the rules were read from; `None` for the compiled-in copy,
    /// UTC and a POSIX TZ string.
    file: Option<PathBuf>,
}

/// How a local wall time maps to instants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Local {
    /// The time occurs once.
    Single(i64),
    /// The time occurs twice (a fall-back fold): the earlier, then the
    /// later instant.
    Fold(i64, i64),
    /// The time is skipped by a spring-forward gap, which ends at this
    /// instant (the moment the new offset takes effect).
    Gap(i64),
}

impl Zone {
    /// Coordinated Universal Time: always available, with or without a
    /// database.
    pub fn utc() -> Zone {
        Zone::new("UTC".to_string(), TimeZone::UTC, 0, None)
    }

    fn new(name: String, tz: TimeZone, digest: u64, file: Option<PathBuf>) -> Zone {
        Zone {
            inner: Arc::new(Inner {
                name,
                tz,
                digest,
                file,
            }),
        }
    }

    /// A zone from the bytes of a TZif file; `file` is where they were
    /// read (for the file watch), if anywhere.
    pub fn from_tzif(name: &str, bytes: &[u8], file: Option<PathBuf>) -> Result<Zone, String> {
        let tz = TimeZone::tzif(name, bytes).map_err(|e| e.to_string())?;
        Ok(Zone::new(name.to_string(), tz, digest(bytes), file))
    }

    /// A zone from a POSIX TZ string like `CET-1CEST,M3.5.0,M10.5.0/3`
    /// (what `TZ` may hold instead of a zone name).
    pub fn from_posix(text: &str) -> Option<Zone> {
        let tz = TimeZone::posix(text).ok()?;
        Some(Zone::new(text.to_string(), tz, 0, None))
    }

    /// The name jobs and the API show: an IANA name, or what `TZ` said.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The TZif file the rules come from, if any.
    pub fn file(&self) -> Option<&Path> {
        self.inner.file.as_deref()
    }

    /// Seconds east of UTC in force at instant `t`; `None` outside the
    /// calendar (see [`LAST_INSTANT`]).
    pub fn offset_at(&self, t: i64) -> Option<i64> {
        if !(FIRST_INSTANT..=LAST_INSTANT).contains(&t) {
            return None;
        }
        let ts = Timestamp::from_second(t).ok()?;
        Some(i64::from(self.inner.tz.to_offset(ts).seconds()))
    }

    /// The first instant after `t` at which the zone's rules change
    /// (usually its offset); `None` when none is left in the calendar.
    pub fn next_change(&self, t: i64) -> Option<i64> {
        let ts = Timestamp::from_second(t).ok()?;
        let next = self.inner.tz.following(ts).next()?.timestamp().as_second();
        (next <= LAST_INSTANT).then_some(next)
    }

    /// The instants at which the local clock shows `wall`.
    pub fn local(&self, wall: i64) -> Option<Local> {
        let civil = Offset::UTC.to_datetime(Timestamp::from_second(wall).ok()?);
        let at = |offset: Offset| wall - i64::from(offset.seconds());
        let local = match self.inner.tz.to_ambiguous_timestamp(civil).offset() {
            AmbiguousOffset::Unambiguous { offset } => Local::Single(at(offset)),
            AmbiguousOffset::Fold { before, after } => Local::Fold(at(before), at(after)),
            // The change lies after the instant `wall` would be under the
            // new offset and at or before the one under the old.
            AmbiguousOffset::Gap { after, .. } => Local::Gap(self.next_change(at(after))?),
        };
        match local {
            Local::Single(t) | Local::Fold(t, _) | Local::Gap(t) => {
                (FIRST_INSTANT..=LAST_INSTANT).contains(&t).then_some(local)
            }
        }
    }

    /// The zone's abbreviation at `t` (`CET`, `EDT`; `+0530` where the
    /// data has none), for display.
    pub fn abbreviation(&self, t: DateTime<Utc>) -> String {
        match Timestamp::from_second(t.timestamp()) {
            Ok(ts) => self.inner.tz.to_offset_info(ts).abbreviation().to_string(),
            Err(_) => "UTC".to_string(),
        }
    }

    /// `t` as RFC 3339 in this zone, whole seconds, with the offset
    /// (`2026-03-29T03:00:00+02:00`): how `next`, `check` and the API
    /// show instants.
    pub fn rfc3339(&self, t: DateTime<Utc>) -> String {
        self.to_local(t)
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
    }

    /// `t` in this zone's local time, for display.
    pub fn to_local(&self, t: DateTime<Utc>) -> DateTime<FixedOffset> {
        let offset = self
            .offset_at(t.timestamp())
            .and_then(|s| FixedOffset::east_opt(s as i32))
            .unwrap_or_else(|| Utc.fix());
        t.with_timezone(&offset)
    }
}

fn digest(bytes: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

impl PartialEq for Zone {
    fn eq(&self, other: &Self) -> bool {
        self.inner.name == other.inner.name && self.inner.digest == other.inner.digest
    }
}

impl std::fmt::Debug for Zone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Zone({})", self.inner.name)
    }
}

impl std::fmt::Display for Zone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.inner.name)
    }
}
