//! Schedules: a cron expression or macro, plus a time zone, to the next
//! fire instant (cronduct.toml(5) SCHEDULES).
//!
//! Pure: no clock, no I/O. Callers pass "after" and a [`Zone`] and get
//! instants in UTC. No instant lies past [`crate::zone::LAST_INSTANT`]
//! (9999-12-30T22:00:00Z): later ones cannot be written in RFC 3339, so a
//! schedule runs out there.
//! DST follows Debian cron and the `cronsim` library: fixed-time 5-field
//! jobs follow the wall clock, everything else follows elapsed time (see
//! `search.rs`).
//!
//! Choices the contract leaves open (docs/BEHAVIOUR.md lists them):
//! - `15W` (the weekday nearest the 15th) never leaves the month, as in
//!   Quartz: a Saturday 1st moves to Monday the 3rd, a Sunday last day to
//!   the Friday before. A day the month lacks (`31W` in April) never fires.
//! - `FRI-SUN` is Friday to Sunday: Sunday named at the end of a range
//!   counts as day 7. `5#n`, `5L` also accept names (`FRI#2`, `FRIL`).
//! - Macro names are case-insensitive (`@DAILY`), like field names.
//! - `@every D` needs a whole number of seconds, at least one: fire times
//!   are whole seconds everywhere else. The first run is one interval after
//!   the job is loaded, not at load time.
//! - `?` (Quartz) and a year field are refused, not silently accepted.

mod cron;
#[cfg(test)]
mod proptests;
mod search;
mod words;

use std::time::Duration;

use chrono::{DateTime, Utc};

use cron::CronExpr;

use crate::zone::Zone;

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
    Cron(CronExpr),
    Every(Duration),
    Reboot,
}

/// The macros of Debian cron and what they stand for.
const MACROS: [(&str, &str); 7] = [
    ("yearly", "0 0 1 1 *"),
    ("annually", "0 0 1 1 *"),
    ("monthly", "0 0 1 * *"),
    ("weekly", "0 0 * * 0"),
    ("daily", "0 0 * * *"),
    ("midnight", "0 0 * * *"),
    ("hourly", "0 * * * *"),
];

const MACRO_HELP: &str = "@yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly, \
                          @reboot or @every <duration> (like @every 90s)";

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

    /// Parses a cron expression or macro. Refuses, with what would be
    /// valid, anything malformed and any expression that can never fire
    /// (`0 0 30 2 *`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let source = s.trim().to_string();
        let kind = parse_kind(&source).map_err(ScheduleError)?;
        Ok(Schedule { source, kind })
    }
}

fn parse_kind(source: &str) -> Result<Kind, String> {
    if source.is_empty() {
        return Err(format!(
            "empty schedule; expected a cron expression like \"*/5 * * * *\" or one of {MACRO_HELP}"
        ));
    }
    let Some(rest) = source.strip_prefix('@') else {
        return CronExpr::parse(source).map(Kind::Cron);
    };
    let (name, arg) = match rest.split_once(char::is_whitespace) {
        Some((name, arg)) => (name, arg.trim()),
        None => (rest, ""),
    };
    let name = name.to_ascii_lowercase();
    if name == "every" {
        return parse_every(arg).map(Kind::Every);
    }
    if !arg.is_empty() {
        return Err(format!("@{name} takes no argument (found {arg:?})"));
    }
    if name == "reboot" {
        return Ok(Kind::Reboot);
    }
    match MACROS.iter().find(|(n, _)| *n == name) {
        Some((_, expr)) => CronExpr::parse(expr).map(Kind::Cron),
        None => Err(format!("unknown macro \"@{name}\"; valid: {MACRO_HELP}")),
    }
}

fn parse_every(arg: &str) -> Result<Duration, String> {
    if arg.is_empty() {
        return Err("@every needs an interval, like \"@every 90s\" or \"@every 1h30m\"".into());
    }
    let every = crate::units::parse_duration(arg).map_err(|e| format!("@every: {e}"))?;
    if every.is_zero() {
        return Err("@every needs an interval greater than zero, like \"@every 90s\"".into());
    }
    if every.subsec_nanos() != 0 {
        return Err(format!(
            "@every takes whole seconds (fire times are whole seconds); found {arg:?}"
        ));
    }
    Ok(every)
}

impl Schedule {
    /// The expression as written in the config (surrounding blanks removed).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The plain-English reading, with the zone for the expressions it
    /// matters to: "At 02:30 on Monday to Friday, Europe/Berlin". `@every`
    /// and `@reboot` are the same in every zone, so they name none.
    pub fn in_words(&self, tz: &Zone) -> String {
        match &self.kind {
            Kind::Reboot => {
                "Once per boot of the machine, when the daemon first starts after it".to_string()
            }
            Kind::Every(every) => words::every_in_words(*every),
            Kind::Cron(_) => {
                let expr = self
                    .source
                    .strip_prefix('@')
                    .and_then(|name| {
                        let name = name.to_ascii_lowercase();
                        MACROS.iter().find(|(n, _)| *n == name).map(|(_, e)| *e)
                    })
                    .unwrap_or(&self.source);
                format!("{}, {}", words::cron_in_words(expr), tz.name())
            }
        }
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

    /// A fixed-time job (5 fields, minute and hour not starting with `*`;
    /// also `@daily`, `@weekly`, `@monthly`, `@yearly`) follows the wall
    /// clock across DST and clock jumps (cronduct.toml(5) SCHEDULES).
    pub fn is_fixed_time(&self) -> bool {
        match &self.kind {
            Kind::Cron(c) => c.is_fixed_time(),
            Kind::Every(_) | Kind::Reboot => false,
        }
    }

    /// The first fire instant strictly after `after`, in zone `tz`.
    /// `anchor` is when the job was loaded: `@every` fires at
    /// `anchor + k × interval` for k ≥ 1 (the first run is one interval
    /// after loading). `None` for `@reboot` and for a schedule with no
    /// instant left before the end of the calendar (year 9999).
    ///
    /// Cron instants are whole seconds; `@every` instants keep the
    /// anchor's fraction of a second.
    pub fn next_after(
        &self,
        after: DateTime<Utc>,
        tz: &Zone,
        anchor: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        match &self.kind {
            Kind::Reboot => None,
            Kind::Every(every) => next_every(*every, after, anchor),
            Kind::Cron(c) => search::next_after(c, after, tz),
        }
    }

    /// The next `n` fire instants strictly after `after`, oldest first
    /// (fewer if the schedule runs out, none for `@reboot`).
    pub fn upcoming(
        &self,
        after: DateTime<Utc>,
        tz: &Zone,
        anchor: DateTime<Utc>,
        n: usize,
    ) -> Vec<DateTime<Utc>> {
        std::iter::successors(self.next_after(after, tz, anchor), |&t| {
            self.next_after(t, tz, anchor)
        })
        .take(n)
        .collect()
    }
}

fn next_every(
    every: Duration,
    after: DateTime<Utc>,
    anchor: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let every = chrono::Duration::from_std(every).ok()?;
    let step = every.num_nanoseconds()?;
    let since = (after - anchor).num_nanoseconds()?;
    // k ≥ 1 with anchor + k × every > after.
    let k = if since < 0 { 1 } else { since / step + 1 };
    anchor
        .checked_add_signed(chrono::Duration::nanoseconds(step.checked_mul(k)?))
        .filter(|t| t.timestamp() <= crate::zone::LAST_INSTANT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn berlin() -> Zone {
        crate::zone::Database::compiled_in()
            .zone("Europe/Berlin")
            .expect("compiled in")
    }

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s)
            .single()
            .expect("valid")
    }

    #[test]
    fn macros_expand_as_debian() {
        let after = utc(2026, 1, 15, 10, 17, 23);
        for (name, expr) in MACROS {
            let m: Schedule = format!("@{name}").parse().expect("macro");
            let e: Schedule = expr.parse().expect("expr");
            assert_eq!(
                m.upcoming(after, &berlin(), after, 5),
                e.upcoming(after, &berlin(), after, 5),
                "@{name}"
            );
            assert_eq!(m.is_fixed_time(), e.is_fixed_time(), "@{name}");
        }
        let weekly: Schedule = "@WEEKLY".parse().expect("any case");
        assert_eq!(
            weekly.next_after(after, &Zone::utc(), after),
            Some(utc(2026, 1, 18, 0, 0, 0)),
            "@weekly is Sunday midnight"
        );
    }

    #[test]
    fn every_counts_whole_intervals_from_the_anchor() {
        let s: Schedule = "@every 90s".parse().expect("valid");
        assert_eq!(s.every(), Some(Duration::from_secs(90)));
        assert!(!s.is_fixed_time());
        let anchor = utc(2026, 1, 1, 0, 0, 0);
        let at = |secs: i64| anchor + chrono::Duration::seconds(secs);
        // Before or at the anchor: the first run is one interval later.
        assert_eq!(s.next_after(at(-1000), &Zone::utc(), anchor), Some(at(90)));
        assert_eq!(s.next_after(anchor, &Zone::utc(), anchor), Some(at(90)));
        assert_eq!(s.next_after(at(89), &Zone::utc(), anchor), Some(at(90)));
        // Strictly after: at an instant, the next one.
        assert_eq!(s.next_after(at(90), &Zone::utc(), anchor), Some(at(180)));
        assert_eq!(s.next_after(at(1000), &Zone::utc(), anchor), Some(at(1080)));
        let frac = anchor + chrono::Duration::milliseconds(250);
        assert_eq!(
            s.next_after(at(100), &Zone::utc(), frac),
            Some(frac + chrono::Duration::seconds(180)),
            "keeps the anchor's fraction"
        );
        let long: Schedule = "@every 1h30m".parse().expect("valid");
        assert_eq!(long.every(), Some(Duration::from_secs(5400)));
    }

    #[test]
    fn reboot_has_no_timed_instant() {
        let s: Schedule = " @reboot ".parse().expect("valid");
        assert!(s.is_reboot());
        assert_eq!(s.source(), "@reboot");
        let now = utc(2026, 1, 1, 0, 0, 0);
        assert_eq!(s.next_after(now, &Zone::utc(), now), None);
        assert!(s.upcoming(now, &Zone::utc(), now, 3).is_empty());
    }

    #[test]
    fn rejects_bad_macros_with_the_valid_ones() {
        for (text, want) in [
            ("", "empty schedule"),
            ("   ", "empty schedule"),
            (
                "@fortnightly",
                "unknown macro \"@fortnightly\"; valid: @yearly",
            ),
            ("@daily 5", "@daily takes no argument"),
            ("@reboot now", "@reboot takes no argument"),
            ("@every", "@every needs an interval"),
            ("@every 0s", "greater than zero"),
            ("@every 1500ms", "whole seconds"),
            ("@every 5x", "@every: unknown unit"),
        ] {
            let err = text.parse::<Schedule>().expect_err(text);
            assert!(
                err.0.contains(want),
                "{text:?}: {err} should contain {want:?}"
            );
        }
    }

    #[test]
    fn display_and_equality_use_the_source() {
        let a: Schedule = "  0 0 * * *".parse().expect("valid");
        let b: Schedule = "@daily".parse().expect("valid");
        assert_eq!(a.to_string(), "0 0 * * *");
        assert_ne!(a, b);
        assert_eq!(a, "0 0 * * *".parse().expect("valid"));
    }
}
