//! The plain-English reading of a schedule: "At 02:30 on Monday to
//! Friday, Europe/Berlin" (cronduct.toml(5) SCHEDULES). Shown by
//! `cronduct check`, `cronduct next --explain`, the job detail's
//! `schedule_text` and the status page.
//!
//! Read from the text of an expression that already parsed, so it says
//! what the user wrote: `*/15` is "every 15 minutes", not a list of four
//! minutes. Pure: no clock, no I/O. Choices (docs/BEHAVIOUR.md lists
//! them):
//! - Times are 24-hour `HH:MM` (`HH:MM:SS` when a second is not 0), a
//!   few fixed times are listed ("At 08:00 and 18:00").
//! - An hour value under a minute step is the whole hour ("every 15
//!   minutes, from 09:00 to 09:59").
//! - Day-of-month and day-of-week both restricted read "or" (Debian cron
//!   fires on either); when one of them starts with `*` both must match,
//!   read "but only on".

/// At most this many fixed times are listed one by one; more read as
/// the separate minute and hour fields.
const MAX_LISTED_TIMES: usize = 12;

const MONTH_NAMES: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAY_NAMES: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

use super::cron::Field;

impl Field {
    fn unit(self) -> (&'static str, &'static str) {
        match self {
            Field::Second => ("second", "seconds"),
            Field::Minute => ("minute", "minutes"),
            Field::Hour => ("hour", "hours"),
            Field::DayOfMonth | Field::DayOfWeek => ("day", "days"),
            Field::Month => ("month", "months"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Base {
    Star,
    Value(u32),
    Range(u32, u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Item {
    Plain {
        base: Base,
        step: Option<u32>,
    },
    /// `L` in day-of-month.
    LastDay,
    /// `LW`.
    LastWeekday,
    /// `15W`.
    NearestWeekday(u32),
    /// `5L` in day-of-week.
    LastOf(u32),
    /// `5#2`.
    Nth(u32, u32),
}

/// Reads a 5- or 6-field expression that [`super::cron::CronExpr::parse`]
/// accepted; the time zone is the caller's to add.
pub(super) fn cron_in_words(text: &str) -> String {
    let parts: Vec<&str> = text.split_whitespace().collect();
    let (second, rest) = match parts.len() {
        6 => (Some(parts[0]), &parts[1..]),
        _ => (None, &parts[..]),
    };
    let [minute, hour, dom, month, dow] = match rest {
        [a, b, c, d, e] => [*a, *b, *c, *d, *e],
        // Unreachable for a parsed expression; say what it is rather than guess.
        _ => return format!("The cron expression {text}"),
    };
    // A second field of 0 is what five fields mean anyway.
    let second = second.filter(|s| *s != "0");
    let seconds = second.map(|s| items(Field::Second, s));
    let minutes = items(Field::Minute, minute);
    let hours = items(Field::Hour, hour);

    let (time, listed) = match listed_times(seconds.as_deref(), &minutes, &hours) {
        Some(times) => (format!("at {}", join_and(&times)), true),
        None => (time_phrases(seconds.as_deref(), &minutes, &hours), false),
    };

    let mut out = time;
    let days = day_phrase(dom, dow);
    match days {
        Some(days) => {
            out.push(' ');
            out.push_str(&days);
        }
        None if listed => out.push_str(" every day"),
        None => {}
    }
    if let Some(months) = month_phrase(month) {
        out.push(' ');
        out.push_str(&months);
    }
    capitalise(&out)
}

/// `@every`: the interval in words, from when the job is loaded.
pub(super) fn every_in_words(every: std::time::Duration) -> String {
    let mut secs = every.as_secs();
    let mut parts = Vec::new();
    for (size, one, many) in [
        (86_400, "day", "days"),
        (3_600, "hour", "hours"),
        (60, "minute", "minutes"),
        (1, "second", "seconds"),
    ] {
        let n = secs / size;
        secs %= size;
        if n > 0 {
            parts.push(format!("{n} {}", if n == 1 { one } else { many }));
        }
    }
    let interval = match parts.as_slice() {
        [one] if one.starts_with("1 ") => one["1 ".len()..].to_string(),
        _ => parts.join(" "),
    };
    format!("Every {interval}, counted from when the daemon loads the job")
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn items(field: Field, text: &str) -> Vec<Item> {
    text.split(',')
        .map(|item| parse_item(field, item))
        .collect()
}

fn parse_item(field: Field, item: &str) -> Item {
    let upper = item.to_ascii_uppercase();
    if field == Field::DayOfMonth {
        if upper == "L" {
            return Item::LastDay;
        }
        if upper == "LW" {
            return Item::LastWeekday;
        }
        if let Some(day) = upper.strip_suffix('W') {
            return Item::NearestWeekday(value(field, day));
        }
    }
    if field == Field::DayOfWeek {
        if let Some((day, nth)) = upper.split_once('#') {
            return Item::Nth(value(field, day) % 7, nth.parse().unwrap_or(1));
        }
        if let Some(day) = upper.strip_suffix('L') {
            return Item::LastOf(value(field, day) % 7);
        }
    }
    let (base, step) = match upper.split_once('/') {
        Some((base, step)) => (base, step.parse().ok()),
        None => (upper.as_str(), None),
    };
    let base = if base == "*" {
        Base::Star
    } else if let Some((a, b)) = base.split_once('-') {
        let start = value(field, a);
        let mut end = value(field, b);
        // `FRI-SUN`: a Sunday ending a range is day 7 (as the parser has it).
        if field == Field::DayOfWeek && end == 0 && start > 0 {
            end = 7;
        }
        Base::Range(start, end)
    } else {
        Base::Value(value(field, base))
    };
    Item::Plain { base, step }
}

/// A number or a month or day name; names were checked by the parser.
fn value(field: Field, text: &str) -> u32 {
    let names: &[&str] = match field {
        Field::Month => &MONTH_NAMES,
        Field::DayOfWeek => &DAY_NAMES,
        _ => &[],
    };
    if let Some(i) = names.iter().position(|n| n[..3].eq_ignore_ascii_case(text)) {
        return i as u32 + u32::from(field == Field::Month);
    }
    text.parse().unwrap_or(0)
}

/// The plain values of a field, when it is nothing but values.
fn values(items: &[Item]) -> Option<Vec<u32>> {
    items
        .iter()
        .map(|i| match i {
            Item::Plain {
                base: Base::Value(v),
                step: None,
            } => Some(*v),
            _ => None,
        })
        .collect()
}

/// "02:30", "08:00:15": every combination of listed seconds, minutes and
/// hours, when there are few enough to read.
fn listed_times(seconds: Option<&[Item]>, minutes: &[Item], hours: &[Item]) -> Option<Vec<String>> {
    let secs = match seconds {
        Some(s) => values(s)?,
        None => vec![0],
    };
    let (mins, hrs) = (values(minutes)?, values(hours)?);
    if secs.len() * mins.len() * hrs.len() > MAX_LISTED_TIMES {
        return None;
    }
    let mut all = Vec::new();
    for &h in &hrs {
        for &m in &mins {
            all.extend(secs.iter().map(|&s| (h, m, s)));
        }
    }
    all.sort_unstable();
    all.dedup();
    let with_seconds = all.iter().any(|t| t.2 != 0);
    Some(
        all.into_iter()
            .map(|(h, m, s)| {
                if with_seconds {
                    format!("{h:02}:{m:02}:{s:02}")
                } else {
                    format!("{h:02}:{m:02}")
                }
            })
            .collect(),
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// "at minute 5": a point; a coarser `*` field reads "of every hour".
    At,
    /// "every 5 minutes", "from 09:00 to 17:59": a span; a coarser `*`
    /// field adds nothing.
    Every,
}

/// The second, minute and hour fields read one by one, finest first.
fn time_phrases(seconds: Option<&[Item]>, minutes: &[Item], hours: &[Item]) -> String {
    let mut fields: Vec<(Field, &[Item])> = Vec::new();
    if let Some(s) = seconds {
        fields.push((Field::Second, s));
    }
    fields.push((Field::Minute, minutes));
    fields.push((Field::Hour, hours));

    let mut phrases: Vec<String> = Vec::new();
    let mut finer: Option<Kind> = None;
    for (field, items) in fields {
        let star = matches!(
            items,
            [Item::Plain {
                base: Base::Star,
                step: None
            }]
        );
        if star {
            match finer {
                None => {
                    phrases.push(format!("every {}", field.unit().0));
                    finer = Some(Kind::Every);
                }
                Some(Kind::At) => {
                    if let Some(last) = phrases.last_mut() {
                        last.push_str(&format!(" of every {}", field.unit().0));
                    }
                    finer = Some(Kind::Every);
                }
                Some(Kind::Every) => {}
            }
            continue;
        }
        let (phrase, kind) = if field == Field::Hour {
            (hour_phrase(items), Kind::Every)
        } else {
            unit_phrase(field, items)
        };
        phrases.push(phrase);
        finer = Some(kind);
    }
    phrases.join(", ")
}

/// Seconds or minutes: "every 5 minutes", "at minutes 0 and 30",
/// "every minute from minute 10 to 20".
fn unit_phrase(field: Field, items: &[Item]) -> (String, Kind) {
    let (one, many) = field.unit();
    if let Some(vals) = values(items) {
        let list: Vec<String> = vals.iter().map(u32::to_string).collect();
        let name = if vals.len() == 1 { one } else { many };
        return (format!("at {name} {}", join_and(&list)), Kind::At);
    }
    let parts: Vec<String> = items
        .iter()
        .map(|item| match *item {
            Item::Plain { base, step } => {
                let every = match step {
                    Some(n) if n > 1 => format!("every {n} {many}"),
                    _ => format!("every {one}"),
                };
                match base {
                    Base::Star => every,
                    Base::Value(v) if step.is_some() => format!("{every} from {one} {v}"),
                    Base::Value(v) => format!("{one} {v}"),
                    Base::Range(a, b) => format!("{every} from {one} {a} to {b}"),
                }
            }
            _ => String::new(),
        })
        .collect();
    (join_and(&parts), Kind::Every)
}

/// Hours as spans of the clock: "from 09:00 to 17:59", "every 2 hours".
fn hour_phrase(items: &[Item]) -> String {
    let parts: Vec<String> = items
        .iter()
        .map(|item| match *item {
            Item::Plain { base, step } => {
                let every = match step {
                    Some(n) if n > 1 => format!("every {n} hours"),
                    _ => "every hour".to_string(),
                };
                match (base, step) {
                    (Base::Star, _) => every,
                    (Base::Value(v), None) => format!("from {v:02}:00 to {v:02}:59"),
                    (Base::Value(v), Some(_)) => format!("{every} from {v:02}:00"),
                    (Base::Range(a, b), None) => format!("from {a:02}:00 to {b:02}:59"),
                    (Base::Range(a, b), Some(_)) => {
                        format!("{every} from {a:02}:00 to {b:02}:00")
                    }
                }
            }
            _ => String::new(),
        })
        .collect();
    join_and(&parts)
}

/// The day-of-month and day-of-week fields together; `None` for every day.
fn day_phrase(dom: &str, dow: &str) -> Option<String> {
    let dom_phrase = (dom != "*").then(|| dom_words(&items(Field::DayOfMonth, dom)));
    let dow_phrase = (dow != "*").then(|| dow_words(&items(Field::DayOfWeek, dow)));
    match (dom_phrase, dow_phrase) {
        (None, None) => None,
        (Some(d), None) | (None, Some(d)) => Some(d),
        // Debian cron: when either field starts with `*`, both must match.
        (Some(d), Some(w)) if dom.starts_with('*') || dow.starts_with('*') => {
            Some(format!("{d}, but only {w}"))
        }
        (Some(d), Some(w)) => Some(format!("{d} or {w}")),
    }
}

fn dom_words(items: &[Item]) -> String {
    if let Some(vals) = values(items) {
        let list: Vec<String> = vals.iter().map(u32::to_string).collect();
        let name = if vals.len() == 1 { "day" } else { "days" };
        return format!("on {name} {} of the month", join_and(&list));
    }
    let parts: Vec<String> = items
        .iter()
        .map(|item| match *item {
            Item::LastDay => "the last day".to_string(),
            Item::LastWeekday => "the last weekday".to_string(),
            Item::NearestWeekday(d) => format!("the weekday nearest day {d}"),
            Item::Plain { base, step } => {
                let every = match step {
                    Some(n) if n > 1 => format!("every {} day", ordinal(n)),
                    _ => "every day".to_string(),
                };
                match (base, step) {
                    (Base::Star, _) => every,
                    (Base::Value(v), None) => format!("day {v}"),
                    (Base::Value(v), Some(_)) => format!("{every} from day {v}"),
                    (Base::Range(a, b), None) => format!("days {a} to {b}"),
                    (Base::Range(a, b), Some(_)) => format!("{every} from day {a} to {b}"),
                }
            }
            Item::LastOf(_) | Item::Nth(..) => String::new(),
        })
        .collect();
    format!("on {} of the month", join_and(&parts))
}

fn day_name(d: u32) -> &'static str {
    DAY_NAMES[(d % 7) as usize]
}

fn dow_words(items: &[Item]) -> String {
    let parts: Vec<String> = items
        .iter()
        .map(|item| match *item {
            Item::LastOf(d) => format!("the last {} of the month", day_name(d)),
            Item::Nth(d, n) => format!("the {} {} of the month", nth_word(n), day_name(d)),
            Item::Plain { base, step } => {
                let every = match step {
                    Some(n) if n > 1 => format!("every {} day of the week", ordinal(n)),
                    _ => "every day of the week".to_string(),
                };
                match (base, step) {
                    (Base::Star, _) => every,
                    (Base::Value(v), None) => day_name(v).to_string(),
                    (Base::Value(v), Some(_)) => format!("{every} from {}", day_name(v)),
                    (Base::Range(a, b), None) => {
                        format!("{} to {}", day_name(a), day_name(b))
                    }
                    (Base::Range(a, b), Some(_)) => {
                        format!("{every} from {} to {}", day_name(a), day_name(b))
                    }
                }
            }
            Item::LastDay | Item::LastWeekday | Item::NearestWeekday(_) => String::new(),
        })
        .collect();
    format!("on {}", join_and(&parts))
}

fn month_phrase(month: &str) -> Option<String> {
    if month == "*" {
        return None;
    }
    let name = |m: u32| MONTH_NAMES[(m.clamp(1, 12) - 1) as usize];
    let parts: Vec<String> = items(Field::Month, month)
        .iter()
        .map(|item| match *item {
            Item::Plain { base, step } => {
                let every = match step {
                    Some(n) if n > 1 => format!("every {} month", ordinal(n)),
                    _ => "every month".to_string(),
                };
                match (base, step) {
                    (Base::Star, _) => every,
                    (Base::Value(v), None) => name(v).to_string(),
                    (Base::Value(v), Some(_)) => format!("{every} from {}", name(v)),
                    (Base::Range(a, b), None) => format!("{} to {}", name(a), name(b)),
                    (Base::Range(a, b), Some(_)) => {
                        format!("{every} from {} to {}", name(a), name(b))
                    }
                }
            }
            _ => String::new(),
        })
        .collect();
    Some(format!("in {}", join_and(&parts)))
}

/// "a", "a and b", "a, b and c".
fn join_and(parts: &[String]) -> String {
    match parts {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

fn ordinal(n: u32) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

fn nth_word(n: u32) -> &'static str {
    match n {
        1 => "first",
        2 => "second",
        3 => "third",
        4 => "fourth",
        _ => "fifth",
    }
}

#[cfg(test)]
mod tests {
    use crate::schedule::Schedule;
    use crate::zone::Database;

    fn read(expr: &str, tz: &str) -> String {
        let zone = Database::global().zone(tz).expect("a known zone");
        expr.parse::<Schedule>()
            .unwrap_or_else(|e| panic!("{expr:?}: {e}"))
            .in_words(&zone)
    }

    #[test]
    fn every_syntax_element_reads_as_written() {
        let utc = "UTC";
        for (expr, want) in [
            // Stars and single values.
            ("* * * * *", "Every minute, UTC"),
            ("30 2 * * *", "At 02:30 every day, UTC"),
            ("0 0 * * *", "At 00:00 every day, UTC"),
            // Steps: */n, a/n, a-b/n.
            ("*/15 * * * *", "Every 15 minutes, UTC"),
            ("5/15 * * * *", "Every 15 minutes from minute 5, UTC"),
            (
                "10-40/10 * * * *",
                "Every 10 minutes from minute 10 to 40, UTC",
            ),
            ("0 */2 * * *", "At minute 0, every 2 hours, UTC"),
            ("0 8/4 * * *", "At minute 0, every 4 hours from 08:00, UTC"),
            (
                "0 9-17/2 * * *",
                "At minute 0, every 2 hours from 09:00 to 17:00, UTC",
            ),
            // Ranges and lists.
            ("10-20 * * * *", "Every minute from minute 10 to 20, UTC"),
            ("0,30 * * * *", "At minutes 0 and 30 of every hour, UTC"),
            ("0 * * * *", "At minute 0 of every hour, UTC"),
            (
                "0 8,12,18 * * *",
                "At 08:00, 12:00 and 18:00 every day, UTC",
            ),
            (
                "0,30 9,17 * * *",
                "At 09:00, 09:30, 17:00 and 17:30 every day, UTC",
            ),
            (
                "*/15 9-17 * * *",
                "Every 15 minutes, from 09:00 to 17:59, UTC",
            ),
            ("*/5 9 * * *", "Every 5 minutes, from 09:00 to 09:59, UTC"),
            (
                "* 9,17 * * *",
                "Every minute, from 09:00 to 09:59 and from 17:00 to 17:59, UTC",
            ),
            // Too many fixed times to list: the fields one by one.
            (
                "0,10,20,30,40,50 1,2,3 * * *",
                "At minutes 0, 10, 20, 30, 40 and 50, from 01:00 to 01:59, from 02:00 to 02:59 and from 03:00 to 03:59, UTC",
            ),
            // Day of week: numbers, names in any case, 0 and 7 as Sunday.
            ("30 2 * * 1-5", "At 02:30 on Monday to Friday, UTC"),
            ("30 2 * * mon-fri", "At 02:30 on Monday to Friday, UTC"),
            ("0 12 * * 0", "At 12:00 on Sunday, UTC"),
            ("0 12 * * 7", "At 12:00 on Sunday, UTC"),
            ("0 12 * * FRI-SUN", "At 12:00 on Friday to Sunday, UTC"),
            (
                "0 12 * * 1,3,5",
                "At 12:00 on Monday, Wednesday and Friday, UTC",
            ),
            ("0 12 * * */2", "At 12:00 on every 2nd day of the week, UTC"),
            (
                "0 12 * * 1/2",
                "At 12:00 on every 2nd day of the week from Monday, UTC",
            ),
            // L, W and # items.
            ("0 0 L * *", "At 00:00 on the last day of the month, UTC"),
            (
                "0 0 LW * *",
                "At 00:00 on the last weekday of the month, UTC",
            ),
            (
                "0 0 15W * *",
                "At 00:00 on the weekday nearest day 15 of the month, UTC",
            ),
            (
                "0 0 * * 5L",
                "At 00:00 on the last Friday of the month, UTC",
            ),
            (
                "0 0 * * 5#2",
                "At 00:00 on the second Friday of the month, UTC",
            ),
            (
                "0 0 * * FRI#1",
                "At 00:00 on the first Friday of the month, UTC",
            ),
            // Day of month.
            ("0 0 1 * *", "At 00:00 on day 1 of the month, UTC"),
            (
                "0 0 1,15 * *",
                "At 00:00 on days 1 and 15 of the month, UTC",
            ),
            ("0 0 1-7 * *", "At 00:00 on days 1 to 7 of the month, UTC"),
            ("0 0 */2 * *", "At 00:00 on every 2nd day of the month, UTC"),
            (
                "0 0 1,L * *",
                "At 00:00 on day 1 and the last day of the month, UTC",
            ),
            // Both day fields: Debian cron's "either", and "both" after a `*`.
            (
                "0 0 1 * 1",
                "At 00:00 on day 1 of the month or on Monday, UTC",
            ),
            (
                "0 0 */2 * 1",
                "At 00:00 on every 2nd day of the month, but only on Monday, UTC",
            ),
            // Months.
            (
                "0 0 1 1 *",
                "At 00:00 on day 1 of the month in January, UTC",
            ),
            (
                "0 0 * jan-mar *",
                "At 00:00 every day in January to March, UTC",
            ),
            (
                "0 0 1 */3 *",
                "At 00:00 on day 1 of the month in every 3rd month, UTC",
            ),
            (
                "0 0 1 1,7 *",
                "At 00:00 on day 1 of the month in January and July, UTC",
            ),
            (
                "0 0 13 * 5",
                "At 00:00 on day 13 of the month or on Friday, UTC",
            ),
            ("*/10 * * 12 *", "Every 10 minutes in December, UTC"),
        ] {
            assert_eq!(read(expr, utc), want, "{expr}");
        }
    }

    #[test]
    fn six_fields_read_the_second() {
        for (expr, want) in [
            ("* * * * * *", "Every second, UTC"),
            ("*/10 * * * * *", "Every 10 seconds, UTC"),
            ("15 * * * * *", "At second 15 of every minute, UTC"),
            ("0,30 * * * * *", "At seconds 0 and 30 of every minute, UTC"),
            ("15 30 2 * * *", "At 02:30:15 every day, UTC"),
            ("0 30 2 * * 1-5", "At 02:30 on Monday to Friday, UTC"),
            (
                "*/20 * 9 * * *",
                "Every 20 seconds, from 09:00 to 09:59, UTC",
            ),
            (
                "10-20 */5 * * * *",
                "Every second from second 10 to 20, every 5 minutes, UTC",
            ),
        ] {
            assert_eq!(read(expr, "UTC"), want, "{expr}");
        }
    }

    #[test]
    fn macros_read_as_what_they_stand_for() {
        for (expr, want) in [
            ("@yearly", "At 00:00 on day 1 of the month in January, UTC"),
            (
                "@annually",
                "At 00:00 on day 1 of the month in January, UTC",
            ),
            ("@monthly", "At 00:00 on day 1 of the month, UTC"),
            ("@weekly", "At 00:00 on Sunday, UTC"),
            ("@daily", "At 00:00 every day, UTC"),
            ("@MIDNIGHT", "At 00:00 every day, UTC"),
            ("@hourly", "At minute 0 of every hour, UTC"),
            (
                "@reboot",
                "Once per boot of the machine, when the daemon first starts after it",
            ),
            (
                "@every 90s",
                "Every 1 minute 30 seconds, counted from when the daemon loads the job",
            ),
            (
                "@every 1h",
                "Every hour, counted from when the daemon loads the job",
            ),
            (
                "@every 2d",
                "Every 2 days, counted from when the daemon loads the job",
            ),
            (
                "@every 45",
                "Every 45 seconds, counted from when the daemon loads the job",
            ),
        ] {
            assert_eq!(read(expr, "UTC"), want, "{expr}");
        }
    }

    #[test]
    fn zones_are_named_where_they_matter() {
        assert_eq!(
            read("30 2 * * 1-5", "Europe/Berlin"),
            "At 02:30 on Monday to Friday, Europe/Berlin"
        );
        assert_eq!(
            read("0 9 * * *", "America/Santo_Domingo"),
            "At 09:00 every day, America/Santo_Domingo"
        );
        // An interval is the same in every zone.
        assert_eq!(
            read("@every 5m", "Asia/Tokyo"),
            "Every 5 minutes, counted from when the daemon loads the job"
        );
    }

    #[test]
    fn ordinals() {
        for (n, want) in [
            (1, "1st"),
            (2, "2nd"),
            (3, "3rd"),
            (4, "4th"),
            (11, "11th"),
            (12, "12th"),
            (13, "13th"),
            (21, "21st"),
            (22, "22nd"),
        ] {
            assert_eq!(super::ordinal(n), want);
        }
    }
}
