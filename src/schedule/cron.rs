//! Cron expressions (cronduct.toml(5) SCHEDULES): the five or six fields
//! parsed into bit sets, and the calendar questions asked of them — which
//! days of a month match, which time of day comes next.
//!
//! Owns syntax and calendar arithmetic only; it knows nothing of time
//! zones. [`super::search`] turns its wall-clock answers into instants.

use chrono::NaiveDate;

/// Days searched before an expression is declared dead: 400 Gregorian
/// years repeat exactly (146 097 days, a whole number of weeks), so a day
/// pattern that matches nothing in 400 years never matches at all.
pub(crate) const CYCLE_YEARS: i32 = 400;

const SYNTAX_HELP: &str = "each field is *, a value, a range a-b, a step */n, a-b/n or a/n, \
                           or a comma-separated list of these";
const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Field {
    Second,
    Minute,
    Hour,
    DayOfMonth,
    Month,
    DayOfWeek,
}

impl Field {
    fn name(self) -> &'static str {
        match self {
            Field::Second => "second",
            Field::Minute => "minute",
            Field::Hour => "hour",
            Field::DayOfMonth => "day-of-month",
            Field::Month => "month",
            Field::DayOfWeek => "day-of-week",
        }
    }

    /// The smallest and largest value, inclusive. Day of week runs to 7
    /// because 7 is Sunday too (POSIX): `1/2` is Mon, Wed, Fri and Sun.
    fn bounds(self) -> (u32, u32) {
        match self {
            Field::Second | Field::Minute => (0, 59),
            Field::Hour => (0, 23),
            Field::DayOfMonth => (1, 31),
            Field::Month => (1, 12),
            Field::DayOfWeek => (0, 7),
        }
    }

    /// What a value in this field may be, for error messages.
    fn valid(self) -> &'static str {
        match self {
            Field::Second | Field::Minute => "0-59",
            Field::Hour => "0-23",
            Field::DayOfMonth => {
                "1-31, L (last day), LW (last weekday) or 15W (the weekday nearest the 15th)"
            }
            Field::Month => "1-12 or JAN-DEC",
            Field::DayOfWeek => {
                "0-7 or SUN-SAT (0 and 7 are Sunday), 5L (last Friday of the month) \
                 or 5#2 (second Friday)"
            }
        }
    }
}

/// A parsed 5- or 6-field cron expression.
///
/// Bit `n` of a set means value `n` matches. Day-of-week values are 0–6
/// with Sunday 0 (a written 7 is folded into 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CronExpr {
    seconds: u64,
    minutes: u64,
    hours: u64,
    months: u64,
    dom: u64,
    /// `L`: the last day of the month.
    dom_last: bool,
    /// `LW`: the last weekday (Mon–Fri) of the month.
    dom_last_weekday: bool,
    /// `15W`: bit 15 set means "the weekday nearest the 15th".
    dom_nearest_weekday: u64,
    dow: u64,
    /// `5L`: bit 5 set means "the last Friday of the month".
    dow_last: u64,
    /// `5#2`: bit 5 of `dow_nth[1]` means "the second Friday".
    dow_nth: [u64; 5],
    /// Debian cron: day-of-month and day-of-week must both match when
    /// either field starts with `*`; otherwise either may match.
    day_and: bool,
    fixed_time: bool,
}

impl CronExpr {
    /// Parses `min hour dom month dow` or `sec min hour dom month dow`.
    /// The error names the field and item and says what would be valid.
    pub(crate) fn parse(text: &str) -> Result<CronExpr, String> {
        let parts: Vec<&str> = text.split_whitespace().collect();
        let (second, rest) = match parts.len() {
            5 => ("0", &parts[..]),
            6 => (parts[0], &parts[1..]),
            n => {
                return Err(format!(
                    "expected 5 fields (minute hour day-of-month month day-of-week), \
                     6 with a leading second field, or a macro (@hourly, @daily, @weekly, \
                     @monthly, @yearly, @reboot, @every 90s); found {n} field{}",
                    if n == 1 { "" } else { "s" }
                ));
            }
        };
        let [minute, hour, dom, month, dow] = [rest[0], rest[1], rest[2], rest[3], rest[4]];

        let mut expr = CronExpr {
            seconds: parse_plain(Field::Second, second)?,
            minutes: parse_plain(Field::Minute, minute)?,
            hours: parse_plain(Field::Hour, hour)?,
            months: parse_plain(Field::Month, month)?,
            dom: 0,
            dom_last: false,
            dom_last_weekday: false,
            dom_nearest_weekday: 0,
            dow: 0,
            dow_last: 0,
            dow_nth: [0; 5],
            day_and: dom.starts_with('*') || dow.starts_with('*'),
            fixed_time: parts.len() == 5 && !minute.starts_with('*') && !hour.starts_with('*'),
        };
        expr.parse_dom(dom)?;
        expr.parse_dow(dow)?;

        if !expr.fires_within_cycle() {
            return Err(format!(
                "this schedule never fires: no calendar date has day-of-month {dom:?} {} \
                 day-of-week {dow:?} in month {month:?}",
                if expr.day_and { "and" } else { "or" }
            ));
        }
        Ok(expr)
    }

    /// A 5-field expression whose minute and hour fields both do not
    /// start with `*`: it follows the wall clock across DST changes.
    pub(crate) fn is_fixed_time(&self) -> bool {
        self.fixed_time
    }

    fn parse_dom(&mut self, text: &str) -> Result<(), String> {
        let field = Field::DayOfMonth;
        for item in items(field, text)? {
            let upper = item.to_ascii_uppercase();
            if upper == "L" {
                self.dom_last = true;
            } else if upper == "LW" {
                self.dom_last_weekday = true;
            } else if let Some(day) = upper.strip_suffix('W') {
                let day = parse_value(field, item, day)?;
                self.dom_nearest_weekday |= 1 << day;
            } else {
                self.dom |= parse_item(field, item)?;
            }
        }
        Ok(())
    }

    fn parse_dow(&mut self, text: &str) -> Result<(), String> {
        let field = Field::DayOfWeek;
        for item in items(field, text)? {
            let upper = item.to_ascii_uppercase();
            if let Some((day, nth)) = upper.split_once('#') {
                let day = parse_value(field, item, day)? % 7;
                let nth = match digits(nth) {
                    Some(n @ 1..=5) => n as usize,
                    _ => {
                        return Err(format!(
                            "invalid {} item {item:?}: the number after # must be 1-5 \
                             (5#2 is the second Friday)",
                            field.name()
                        ));
                    }
                };
                self.dow_nth[nth - 1] |= 1 << day;
            } else if let Some(day) = upper.strip_suffix('L') {
                if day.is_empty() {
                    return Err(format!(
                        "invalid {} item {item:?}: L needs a day before it (5L is the last \
                         Friday); valid: {}",
                        field.name(),
                        field.valid()
                    ));
                }
                let day = parse_value(field, item, day)? % 7;
                self.dow_last |= 1 << day;
            } else {
                self.dow |= parse_item(field, item)?;
            }
        }
        // 7 is Sunday as well as 0.
        if self.dow & (1 << 7) != 0 {
            self.dow = (self.dow | 1) & !(1 << 7);
        }
        Ok(())
    }

    /// Whether any date matches the day and month fields. The Gregorian
    /// calendar repeats every 400 years, so one cycle decides it for good.
    fn fires_within_cycle(&self) -> bool {
        (2000..2000 + CYCLE_YEARS).any(|y| (1..=12).any(|m| self.month_mask(y, m) != 0))
    }

    /// The days of month `m` of year `y` that the day-of-month,
    /// day-of-week and month fields select: bit `d` for day `d`.
    fn month_mask(&self, y: i32, m: u32) -> u64 {
        if self.months & (1 << m) == 0 {
            return 0;
        }
        let len = days_in_month(y, m);
        let valid = ((1u64 << (len + 1)) - 1) & !1;
        let first = weekday(y, m, 1);
        // Weekday of day d is (first + d - 1) % 7.
        let wd = |d: u32| (first + d - 1) % 7;

        let mut dom = self.dom & valid;
        if self.dom_last {
            dom |= 1 << len;
        }
        if self.dom_last_weekday {
            let last = match wd(len) {
                6 => len - 1,
                0 => len - 2,
                _ => len,
            };
            dom |= 1 << last;
        }
        let mut nearest = self.dom_nearest_weekday & valid;
        while nearest != 0 {
            let d = nearest.trailing_zeros();
            nearest &= nearest - 1;
            // The nearest weekday, never leaving the month (Quartz): a
            // Saturday 1st moves to Monday 3rd, a Sunday last day to Friday.
            let day = match wd(d) {
                6 if d == 1 => 3,
                6 => d - 1,
                0 if d == len => d - 2,
                0 => d + 1,
                _ => d,
            };
            dom |= 1 << day;
        }

        // Rotate the weekday set so bit k means "day k+1", then repeat it
        // for each week of the month.
        let rotated = ((self.dow >> first) | (self.dow << (7 - first))) & 0x7f;
        let mut dow = (rotated | rotated << 7 | rotated << 14 | rotated << 21 | rotated << 28) << 1;
        dow &= valid;
        for w in 0..7 {
            let first_w = 1 + (w + 7 - first) % 7;
            if self.dow_last & (1 << w) != 0 {
                dow |= 1 << (first_w + 7 * ((len - first_w) / 7));
            }
            for (n, set) in self.dow_nth.iter().enumerate() {
                let day = first_w + 7 * n as u32;
                if set & (1 << w) != 0 && day <= len {
                    dow |= 1 << day;
                }
            }
        }

        if self.day_and { dom & dow } else { dom | dow }
    }

    /// The first date on or after `from` that the day and month fields
    /// match, looking at most one 400-year cycle ahead.
    pub(crate) fn next_day(&self, from: NaiveDate) -> Option<NaiveDate> {
        use chrono::Datelike;
        let (mut y, mut m, mut d) = (from.year(), from.month(), from.day());
        for _ in 0..=CYCLE_YEARS * 12 {
            let mask = self.month_mask(y, m) & !((1u64 << d) - 1);
            if mask != 0 {
                return NaiveDate::from_ymd_opt(y, m, mask.trailing_zeros());
            }
            d = 1;
            m += 1;
            if m > 12 {
                m = 1;
                y += 1;
            }
        }
        None
    }

    /// The first time of day (seconds since midnight) at or after `from`
    /// that the second, minute and hour fields match.
    pub(crate) fn next_time(&self, from: u32) -> Option<u32> {
        let (h, m, s) = (from / 3600, from / 60 % 60, from % 60);
        let first_s = self.seconds.trailing_zeros();
        let first_m = self.minutes.trailing_zeros();
        let at = |h: u32, m: u32, s: u32| h * 3600 + m * 60 + s;
        if h >= 24 {
            return None;
        }
        if self.hours & (1 << h) != 0 {
            if self.minutes & (1 << m) != 0 {
                if let Some(s) = next_bit(self.seconds, s) {
                    return Some(at(h, m, s));
                }
            }
            if let Some(m) = next_bit(self.minutes, m + 1) {
                return Some(at(h, m, first_s));
            }
        }
        let h = next_bit(self.hours, h + 1).filter(|&h| h < 24)?;
        Some(at(h, first_m, first_s))
    }
}

/// The smallest set bit at or above `from`.
fn next_bit(set: u64, from: u32) -> Option<u32> {
    if from >= 64 {
        return None;
    }
    let rest = set >> from;
    (rest != 0).then(|| from + rest.trailing_zeros())
}

/// Splits a field on commas, refusing empty items and Quartz's `?`.
fn items(field: Field, text: &str) -> Result<impl Iterator<Item = &str>, String> {
    if text.split(',').any(str::is_empty) {
        return Err(format!(
            "invalid {} field {text:?}: empty item in the list; {SYNTAX_HELP}",
            field.name()
        ));
    }
    if text.contains('?') {
        return Err(format!(
            "invalid {} field {text:?}: ? is not supported, use * instead",
            field.name()
        ));
    }
    Ok(text.split(','))
}

/// A field without special items: seconds, minutes, hours, months.
fn parse_plain(field: Field, text: &str) -> Result<u64, String> {
    items(field, text)?.try_fold(0, |set, item| Ok(set | parse_item(field, item)?))
}

/// One list item: `*`, `a`, `a-b`, with an optional `/n` step.
fn parse_item(field: Field, item: &str) -> Result<u64, String> {
    let (lo, hi) = field.bounds();
    let (base, step) = match item.split_once('/') {
        Some((base, step)) => match digits(step) {
            Some(n) if n >= 1 => (base, Some(n)),
            _ => {
                return Err(format!(
                    "invalid {} item {item:?}: the step after / must be a whole number of \
                     at least 1",
                    field.name()
                ));
            }
        },
        None => (item, None),
    };
    let (start, end) = if base == "*" {
        (lo, hi)
    } else if let Some((a, b)) = base.split_once('-') {
        let start = parse_value(field, item, a)?;
        let mut end = parse_value(field, item, b)?;
        // `FRI-SUN` means Friday to Sunday: a Sunday written by name at
        // the end of a range is day 7, not day 0.
        if field == Field::DayOfWeek && end == 0 && start > 0 && b.eq_ignore_ascii_case("SUN") {
            end = 7;
        }
        if start > end {
            let instead = if field == Field::DayOfWeek {
                format!("use 7 for Sunday at the end of a range ({start}-7)")
            } else {
                format!("write {start}-{hi},{lo}-{end} instead")
            };
            return Err(format!(
                "invalid {} item {item:?}: the range runs backwards and ranges do not wrap \
                 around; {instead}",
                field.name()
            ));
        }
        (start, end)
    } else {
        let start = parse_value(field, item, base)?;
        // `a/n` runs from a to the end of the field.
        (start, if step.is_some() { hi } else { start })
    };
    let step = step.unwrap_or(1);
    Ok((start..=end)
        .step_by(step as usize)
        .fold(0, |set, v| set | 1 << v))
}

/// A number written with digits only, as Debian cron reads them: `+2`
/// (which Rust's `parse` takes) and ` 2` are refused.
fn digits(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// A number or, in the month and day-of-week fields, a name.
fn parse_value(field: Field, item: &str, text: &str) -> Result<u32, String> {
    let (lo, hi) = field.bounds();
    let names: &[&str] = match field {
        Field::Month => &MONTHS,
        Field::DayOfWeek => &DAYS,
        _ => &[],
    };
    if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(text)) {
        return Ok(i as u32 + if field == Field::Month { 1 } else { 0 });
    }
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "invalid {} item {item:?}: {text:?} is not a number; valid: {}; {SYNTAX_HELP}",
            field.name(),
            field.valid()
        ));
    }
    match text.parse::<u32>() {
        Ok(v) if (lo..=hi).contains(&v) => Ok(v),
        _ => Err(format!(
            "invalid {} item {item:?}: {text} is out of range; valid: {}",
            field.name(),
            field.valid()
        )),
    }
}

fn is_leap(y: i32) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i32, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Day of week, Sunday 0 (Sakamoto's method, proleptic Gregorian).
fn weekday(y: i32, m: u32, d: u32) -> u32 {
    const T: [i64; 12] = [0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4];
    let y = i64::from(y) - i64::from(m < 3);
    let w = y + y.div_euclid(4) - y.div_euclid(100)
        + y.div_euclid(400)
        + T[m as usize - 1]
        + i64::from(d);
    w.rem_euclid(7) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Datelike;

    fn days(expr: &str, y: i32, m: u32) -> Vec<u32> {
        let e = CronExpr::parse(expr).expect("valid");
        let mask = e.month_mask(y, m);
        (1..=31).filter(|d| mask & (1 << d) != 0).collect()
    }

    #[test]
    fn weekday_agrees_with_chrono() {
        let mut d = NaiveDate::from_ymd_opt(1899, 12, 25).expect("date");
        while d.year() < 2105 {
            let w = weekday(d.year(), d.month(), d.day());
            assert_eq!(w, d.weekday().num_days_from_sunday(), "{d}");
            d += chrono::Duration::days(13);
        }
    }

    #[test]
    fn day_fields() {
        // 2026-05: Friday the 1st, 31 days, Sunday the 31st.
        let cases: &[(&str, &[u32])] = &[
            ("0 0 L * *", &[31]),
            ("0 0 LW * *", &[29]),
            ("0 0 1W * *", &[1]),
            ("0 0 2W * *", &[1]),
            ("0 0 3W * *", &[4]),
            ("0 0 31W * *", &[29]),
            ("0 0 * * 5L", &[29]),
            ("0 0 * * 0L", &[31]),
            ("0 0 * * 5#1", &[1]),
            ("0 0 * * 5#5", &[29]),
            ("0 0 * * 4#5", &[]),
            ("0 0 * * 0#5", &[31]),
            ("0 0 * * 6#5", &[30]),
            ("0 0 * * 1#5", &[]),
            ("0 0 * * SAT-SUN", &[2, 3, 9, 10, 16, 17, 23, 24, 30, 31]),
            ("0 0 */10 * *", &[1, 11, 21, 31]),
            ("0 0 */10 * 1", &[11]),
            ("0 0 1,15 * 1", &[1, 4, 11, 15, 18, 25]),
        ];
        for (expr, want) in cases {
            assert_eq!(days(expr, 2026, 5), *want, "{expr}");
        }
        // 2026-08 starts on a Saturday: 1W is Monday the 3rd.
        assert_eq!(days("0 0 1W * *", 2026, 8), [3]);
        // A day the month does not have never matches, with or without W.
        assert_eq!(days("0 0 31W * *", 2026, 4), [] as [u32; 0]);
    }

    #[test]
    fn next_time_scans_fields_in_order() {
        let e = CronExpr::parse("10,40 15-16 2,5 * * *").expect("valid");
        let t = |h: u32, m: u32, s: u32| h * 3600 + m * 60 + s;
        assert_eq!(e.next_time(0), Some(t(2, 15, 10)));
        assert_eq!(e.next_time(t(2, 15, 10)), Some(t(2, 15, 10)));
        assert_eq!(e.next_time(t(2, 15, 11)), Some(t(2, 15, 40)));
        assert_eq!(e.next_time(t(2, 15, 41)), Some(t(2, 16, 10)));
        assert_eq!(e.next_time(t(2, 16, 41)), Some(t(5, 15, 10)));
        assert_eq!(e.next_time(t(5, 16, 41)), None);
        assert_eq!(e.next_time(86_400), None);
    }

    #[test]
    fn rejects_with_what_would_be_valid() {
        let cases = [
            ("* * * *", "found 4 fields"),
            ("* * * * * * *", "found 7 fields"),
            (
                "60 * * * *",
                "invalid minute item \"60\": 60 is out of range; valid: 0-59",
            ),
            ("* 24 * * *", "valid: 0-23"),
            ("* * 0 * *", "invalid day-of-month item \"0\""),
            ("* * 32 * *", "valid: 1-31, L"),
            ("* * * 13 *", "valid: 1-12 or JAN-DEC"),
            ("* * * JANUARY *", "\"JANUARY\" is not a number"),
            ("* * * * 8", "0 and 7 are Sunday"),
            ("* * * * FUN", "\"FUN\" is not a number"),
            ("5-2 * * * *", "write 5-59,0-2 instead"),
            ("* * * * 5-0", "use 7 for Sunday"),
            ("*/0 * * * *", "at least 1"),
            ("*/x * * * *", "at least 1"),
            // Digits only, as Debian cron and cronsim read steps.
            ("*/+2 * * * *", "the step after / must be a whole number"),
            ("* * * * 5#+2", "must be 1-5"),
            ("1,,2 * * * *", "empty item"),
            ("* * ? * *", "? is not supported"),
            ("* * * * 5#6", "must be 1-5"),
            ("* * * * L", "L needs a day"),
            ("* * 5L * *", "\"5L\" is not a number"),
            ("* * * * 1W", "\"1W\" is not a number"),
            ("L * * * *", "\"L\" is not a number"),
            ("-5 * * * *", "\"\" is not a number"),
            ("0 0 30 2 *", "never fires"),
            ("0 0 31 4,6,9,11 *", "never fires"),
            ("0 0 30 FEB */2", "never fires"),
        ];
        for (expr, want) in cases {
            let err = CronExpr::parse(expr).expect_err(expr);
            assert!(
                err.contains(want),
                "{expr}: {err:?} should contain {want:?}"
            );
        }
    }

    #[test]
    fn accepts_rare_but_possible_days() {
        // The fifth Monday of February: only in leap years starting on a
        // Monday, 28 years apart.
        let e = CronExpr::parse("0 0 * 2 1#5").expect("valid");
        let d = NaiveDate::from_ymd_opt(2026, 1, 1).expect("date");
        assert_eq!(e.next_day(d), NaiveDate::from_ymd_opt(2044, 2, 29));
        // Day 30 in February is fine when day-of-week may match instead.
        assert!(CronExpr::parse("0 0 30 2 1").is_ok());
    }

    #[test]
    fn fixed_time_follows_the_first_character() {
        for (expr, fixed) in [
            ("30 2 * * *", true),
            ("0,30 1-3 * * *", true),
            ("0 */2 * * *", false),
            ("*/5 2 * * *", false),
            ("0 * * * *", false),
            ("0 30 2 * * *", false),
        ] {
            let e = CronExpr::parse(expr).expect("valid");
            assert_eq!(e.is_fixed_time(), fixed, "{expr}");
        }
    }
}
