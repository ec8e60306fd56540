//! From a cron expression and a time zone to the next fire instant, with
//! the DST rules of Debian cron and `cronsim` (cronduct.toml(5) SCHEDULES).
//!
//! Two ways of reading the clock:
//! - fixed-time expressions follow the wall clock: each scheduled local
//!   time fires once; one skipped by a spring-forward gap fires at the
//!   first whole minute after the gap; one that occurs twice fires at its
//!   first occurrence;
//! - every other expression follows elapsed time: it fires at each real
//!   instant whose local time matches, so skipped times never fire and
//!   repeated ones fire on each occurrence.
//!
//! Instants are handled as whole seconds since the Unix epoch; a local
//! wall time is "seconds since the epoch as if the zone were UTC".
//!
//! Elapsed time is walked in stretches of constant UTC offset, not in
//! local days: a repeated hour that crosses midnight (America/St_Johns,
//! 2001-10-28: 00:01 back to 23:01 of the day before) shows the same
//! local day twice, and each pass is searched.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

use super::cron::{CYCLE_YEARS, CronExpr};
use crate::zone::{Local, Zone};

const DAY: i64 = 86_400;

/// The first fire instant strictly after `after`.
pub(crate) fn next_after(
    expr: &CronExpr,
    after: DateTime<Utc>,
    tz: &Zone,
) -> Option<DateTime<Utc>> {
    // Fire instants are whole seconds, so "after `after`" is "after its
    // whole second" (timestamp() rounds down).
    let after = after.timestamp();
    let limit = after
        .checked_add(i64::from(CYCLE_YEARS) * 366 * DAY)?
        .min(crate::zone::LAST_INSTANT);
    let t = if expr.is_fixed_time() {
        wall_clock(expr, after, tz, limit)?
    } else {
        elapsed(expr, after, tz, limit)?
    };
    DateTime::from_timestamp(t, 0)
}

/// Fixed-time: walk the local wall clock from the wall time of `after`.
fn wall_clock(expr: &CronExpr, after: i64, tz: &Zone, limit: i64) -> Option<i64> {
    let wall = after + tz.offset_at(after)?;
    let mut day = date_of(wall)?;
    let mut from = wall - midnight(day) + 1;
    loop {
        let next = expr.next_day(day)?;
        if next != day {
            day = next;
            from = 0;
        }
        if midnight(day) > limit {
            return None;
        }
        while from < DAY {
            let Some(s) = expr.next_time(from as u32) else {
                break;
            };
            let wall = midnight(day) + i64::from(s);
            // A time that occurs twice fires at its first occurrence, so
            // when `after` lies in the second pass the first one has
            // already passed and this time is done for the day.
            if let Some(t) = resolve_wall(tz, wall) {
                if t > limit {
                    return None;
                }
                if t > after {
                    return Some(t);
                }
            }
            from = i64::from(s) + 1;
        }
        day = day.succ_opt()?;
        from = 0;
    }
}

/// The instant a fixed-time job fires for local wall time `wall`: the
/// earlier one if the time occurs twice, and if it is skipped the first
/// whole minute after the gap (`cronsim` steps minute by minute).
fn resolve_wall(tz: &Zone, wall: i64) -> Option<i64> {
    match tz.local(wall)? {
        Local::Single(t) | Local::Fold(t, _) => Some(t),
        Local::Gap(end) => {
            let end_wall = end + tz.offset_at(end)?;
            let minutes = (end_wall - wall + 59).div_euclid(60);
            match tz.local(wall + minutes * 60)? {
                Local::Single(t) | Local::Fold(t, _) => Some(t),
                Local::Gap(_) => None,
            }
        }
    }
}

/// Elapsed time: the first real instant after `after` whose local time
/// matches. Between two offset changes local time runs in step with real
/// time, so the first matching local time in such a stretch is the first
/// matching instant in it.
fn elapsed(expr: &CronExpr, after: i64, tz: &Zone, limit: i64) -> Option<i64> {
    let mut from = after + 1;
    while from <= limit {
        let offset = tz.offset_at(from)?;
        // The stretch ends at the next change, or past `limit`.
        let until = tz
            .next_change(from)
            .map_or(limit + 1, |change| change.min(limit + 1));
        match first_match(expr, from + offset, until + offset) {
            Match::At(wall) => return Some(wall - offset),
            Match::Never => return None,
            // Skip the stretches that hold no matching day (a yearly job
            // would otherwise search every DST stretch between two runs).
            // Two days of margin: a fold may show the day before again.
            Match::NotBefore(day) => from = until.max(midnight(day) - 2 * DAY),
        }
    }
    None
}

enum Match {
    At(i64),
    /// None in the range; the first matching day is this one, at or after
    /// the end of the range.
    NotBefore(NaiveDate),
    /// No matching day is left in the calendar.
    Never,
}

/// The first local wall time in `[lo, hi)` that `expr` matches.
fn first_match(expr: &CronExpr, lo: i64, hi: i64) -> Match {
    let Some(mut day) = date_of(lo) else {
        return Match::Never;
    };
    let mut from = lo - midnight(day);
    loop {
        let Some(next) = expr.next_day(day) else {
            return Match::Never;
        };
        if next != day {
            day = next;
            from = 0;
        }
        let base = midnight(day);
        if base >= hi {
            return Match::NotBefore(day);
        }
        if let Some(s) = expr.next_time(from as u32) {
            let wall = base + i64::from(s);
            return if wall < hi {
                Match::At(wall)
            } else {
                Match::NotBefore(day)
            };
        }
        let Some(succ) = day.succ_opt() else {
            return Match::Never;
        };
        day = succ;
        from = 0;
    }
}

fn midnight(day: NaiveDate) -> i64 {
    day.and_time(chrono::NaiveTime::MIN).and_utc().timestamp()
}

fn date_of(wall: i64) -> Option<NaiveDate> {
    naive(wall).map(|n| n.date())
}

fn naive(wall: i64) -> Option<NaiveDateTime> {
    DateTime::from_timestamp(wall, 0).map(|t| t.naive_utc())
}
