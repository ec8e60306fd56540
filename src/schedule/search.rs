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

use chrono::{DateTime, LocalResult, NaiveDate, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::{GapInfo, Tz};

use super::cron::{CYCLE_YEARS, CronExpr};

const DAY: i64 = 86_400;

/// The first fire instant strictly after `after`.
pub(crate) fn next_after(expr: &CronExpr, after: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
    // Fire instants are whole seconds, so "after `after`" is "after its
    // whole second" (timestamp() rounds down).
    let after = after.timestamp();
    let limit = after.checked_add(i64::from(CYCLE_YEARS) * 366 * DAY)?;
    let t = if expr.is_fixed_time() {
        wall_clock(expr, after, tz, limit)?
    } else {
        elapsed(expr, after, tz, limit)?
    };
    DateTime::from_timestamp(t, 0)
}

/// Fixed-time: walk the local wall clock from the wall time of `after`.
fn wall_clock(expr: &CronExpr, after: i64, tz: Tz, limit: i64) -> Option<i64> {
    let wall = after + offset_at(tz, after)?;
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
fn resolve_wall(tz: Tz, wall: i64) -> Option<i64> {
    let local = naive(wall)?;
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => Some(t.timestamp()),
        LocalResult::None => {
            let end = GapInfo::new(&local, &tz)?.end?;
            let end_wall = end.naive_local().and_utc().timestamp();
            let minutes = (end_wall - wall + 59).div_euclid(60);
            let after_gap = naive(wall + minutes * 60)?;
            tz.from_local_datetime(&after_gap)
                .earliest()
                .map(|t| t.timestamp())
        }
    }
}

/// Elapsed time: the first real instant after `after` whose local time
/// matches. Each local day is cut into stretches of constant UTC offset;
/// in each, local time runs in step with real time, so the first matching
/// local time in the stretch is the first matching instant.
fn elapsed(expr: &CronExpr, after: i64, tz: Tz, limit: i64) -> Option<i64> {
    let start = after + 1;
    let mut day = date_of(start + offset_at(tz, start)?)?;
    loop {
        day = expr.next_day(day)?;
        let next_day = day.succ_opt()?;
        let day_end = day_start(tz, next_day)?;
        let mut from = day_start(tz, day)?.max(start);
        if from > limit {
            return None;
        }
        let base = midnight(day);
        while from < day_end {
            let offset = offset_at(tz, from)?;
            let mut until = if offset_at(tz, day_end - 1)? == offset {
                day_end
            } else {
                first_change(tz, from, day_end - 1, offset)?
            };
            // Retried only if an offset change hides between the ends of
            // the stretch (two changes in one day).
            loop {
                let local_from = (from + offset - base).clamp(0, DAY) as u32;
                let candidate = expr
                    .next_time(local_from)
                    .map(|s| base + i64::from(s) - offset)
                    .filter(|&t| t < until);
                match candidate {
                    Some(t) if offset_at(tz, t)? == offset => return Some(t),
                    Some(t) => until = first_change(tz, from, t, offset)?,
                    None => break,
                }
            }
            from = until;
        }
        day = next_day;
    }
}

/// The first instant whose local date is `day` (or later, if the whole
/// day is skipped): local midnight, its first occurrence if it repeats,
/// or the end of the gap if midnight is skipped.
fn day_start(tz: Tz, day: NaiveDate) -> Option<i64> {
    let naive = day.and_time(chrono::NaiveTime::MIN);
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => Some(t.timestamp()),
        LocalResult::None => Some(GapInfo::new(&naive, &tz)?.end?.timestamp()),
    }
}

/// The first instant in `(lo, hi]` whose UTC offset is not `offset`,
/// given that `lo` has it and `hi` does not.
fn first_change(tz: Tz, mut lo: i64, mut hi: i64, offset: i64) -> Option<i64> {
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if offset_at(tz, mid)? == offset {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Some(hi)
}

/// Seconds east of UTC in force at instant `t`.
fn offset_at(tz: Tz, t: i64) -> Option<i64> {
    let utc = DateTime::from_timestamp(t, 0)?.naive_utc();
    Some(i64::from(
        tz.offset_from_utc_datetime(&utc).fix().local_minus_utc(),
    ))
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
