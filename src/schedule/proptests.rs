//! Property tests: random expressions, built from parts so that an
//! independent matcher knows what each field means, and random start
//! instants in zones with odd offsets and DST changes.
//!
//! Checked for every case: successive instants strictly increase; each
//! instant's local wall clock matches the expression, or it is the end of
//! a DST gap that swallowed a matching time of a fixed-time expression;
//! and nothing that should have fired in between was skipped.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use proptest::prelude::*;

use super::Schedule;

const ZONES: [Tz; 8] = [
    Tz::UTC,
    Tz::Europe__Berlin,
    Tz::America__New_York,
    Tz::Australia__Lord_Howe,
    Tz::America__Santiago,
    Tz::America__Havana,
    Tz::Asia__Kolkata,
    Tz::Pacific__Chatham,
];
const MONTHS: [&str; 12] = [
    "jan", "FEB", "Mar", "apr", "MAY", "jun", "Jul", "aug", "SEP", "oct", "Nov", "DEC",
];
const DAYS: [&str; 7] = ["SUN", "mon", "Tue", "WED", "thu", "Fri", "sat"];

/// One list item of a field.
#[derive(Debug, Clone)]
enum Item {
    Star,
    StarStep(u32),
    Value(u32),
    Range(u32, u32),
    RangeStep(u32, u32, u32),
    StartStep(u32, u32),
    /// `L` in day-of-month.
    Last,
    /// `LW` in day-of-month.
    LastWeekday,
    /// `15W` in day-of-month.
    Nearest(u32),
    /// `5L` in day-of-week.
    LastOf(u32),
    /// `5#2` in day-of-week.
    Nth(u32, u32),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Second,
    Minute,
    Hour,
    Dom,
    Month,
    Dow,
}

impl Kind {
    fn bounds(self) -> (u32, u32) {
        match self {
            Kind::Second | Kind::Minute => (0, 59),
            Kind::Hour => (0, 23),
            Kind::Dom => (1, 31),
            Kind::Month => (1, 12),
            Kind::Dow => (0, 7),
        }
    }
}

#[derive(Debug, Clone)]
struct FieldSpec {
    kind: Kind,
    items: Vec<Item>,
    /// Write month and day values as names.
    names: bool,
}

impl FieldSpec {
    fn render(&self) -> String {
        let v = |n: u32| match (self.names, self.kind) {
            (true, Kind::Month) => MONTHS[n as usize - 1].to_string(),
            (true, Kind::Dow) if n < 7 => DAYS[n as usize].to_string(),
            _ => n.to_string(),
        };
        let items: Vec<String> = self
            .items
            .iter()
            .map(|item| match *item {
                Item::Star => "*".into(),
                Item::StarStep(n) => format!("*/{n}"),
                Item::Value(a) => v(a),
                Item::Range(a, b) => format!("{}-{}", v(a), v(b)),
                Item::RangeStep(a, b, n) => format!("{}-{}/{n}", v(a), v(b)),
                Item::StartStep(a, n) => format!("{}/{n}", v(a)),
                Item::Last => "L".into(),
                Item::LastWeekday => "LW".into(),
                Item::Nearest(d) => format!("{d}W"),
                Item::LastOf(w) => format!("{w}L"),
                Item::Nth(w, n) => format!("{w}#{n}"),
            })
            .collect();
        items.join(",")
    }

    fn starts_with_star(&self) -> bool {
        matches!(self.items[0], Item::Star | Item::StarStep(_))
    }

    /// Whether plain value `v` is in the field (no specials).
    fn has(&self, v: u32) -> bool {
        let (lo, hi) = self.kind.bounds();
        self.items.iter().any(|item| match *item {
            Item::Star => true,
            Item::StarStep(n) => (v - lo) % n == 0,
            Item::Value(a) => v == a,
            Item::Range(a, b) => a <= v && v <= b,
            Item::RangeStep(a, b, n) => a <= v && v <= b && (v - a) % n == 0,
            Item::StartStep(a, n) => a <= v && v <= hi && (v - a) % n == 0,
            _ => false,
        })
    }
}

#[derive(Debug, Clone)]
struct Expr {
    second: Option<FieldSpec>,
    minute: FieldSpec,
    hour: FieldSpec,
    dom: FieldSpec,
    month: FieldSpec,
    dow: FieldSpec,
}

impl Expr {
    fn render(&self) -> String {
        let mut parts: Vec<String> = self.second.iter().map(FieldSpec::render).collect();
        for f in [&self.minute, &self.hour, &self.dom, &self.month, &self.dow] {
            parts.push(f.render());
        }
        parts.join(" ")
    }

    fn is_fixed(&self) -> bool {
        self.second.is_none() && !self.minute.starts_with_star() && !self.hour.starts_with_star()
    }

    /// The independent matcher: does this local wall time match?
    fn matches(&self, t: NaiveDateTime) -> bool {
        let second = match &self.second {
            Some(f) => f.has(t.second()),
            None => t.second() == 0,
        };
        second
            && self.minute.has(t.minute())
            && self.hour.has(t.hour())
            && self.month.has(t.month())
            && self.day_matches(t.date())
    }

    fn day_matches(&self, d: NaiveDate) -> bool {
        let len = days_in_month(d);
        let wd = d.weekday().num_days_from_sunday();
        let is_weekday = |d: NaiveDate| !matches!(d.weekday().num_days_from_sunday(), 0 | 6);
        let dom = self.dom.has(d.day())
            || self.dom.items.iter().any(|item| match *item {
                Item::Last => d.day() == len,
                Item::LastWeekday => {
                    let mut last = d.with_day(len).expect("last day");
                    while !is_weekday(last) {
                        last = last.pred_opt().expect("date");
                    }
                    last == d
                }
                Item::Nearest(n) => {
                    let Some(target) = d.with_day(n) else {
                        return false;
                    };
                    // The weekday nearest the target within the month.
                    let nearest = [0i64, -1, 1, -2, 2]
                        .iter()
                        .filter_map(|&k| target.checked_add_signed(chrono::Duration::days(k)))
                        .find(|c| c.month() == d.month() && is_weekday(*c))
                        .expect("a weekday within two days");
                    nearest == d
                }
                _ => false,
            });
        let dow = self.dow.has(wd)
            || (wd == 0 && self.dow.has(7))
            || self.dow.items.iter().any(|item| match *item {
                Item::LastOf(w) => w % 7 == wd && d.day() + 7 > len,
                Item::Nth(w, n) => w % 7 == wd && (d.day() - 1) / 7 + 1 == n,
                _ => false,
            });
        if self.dom.starts_with_star() || self.dow.starts_with_star() {
            dom && dow
        } else {
            dom || dow
        }
    }
}

fn days_in_month(d: NaiveDate) -> u32 {
    let (y, m) = if d.month() == 12 {
        (d.year() + 1, 1)
    } else {
        (d.year(), d.month() + 1)
    };
    NaiveDate::from_ymd_opt(y, m, 1)
        .and_then(|n| n.pred_opt())
        .expect("valid month")
        .day()
}

/// A list item without a star: a value, a range, or a step on either.
fn plain_item(kind: Kind) -> BoxedStrategy<Item> {
    let (lo, hi) = kind.bounds();
    let value = lo..=hi;
    let pair = (lo..=hi, lo..=hi).prop_map(|(a, b)| (a.min(b), a.max(b)));
    prop_oneof![
        3 => value.clone().prop_map(Item::Value),
        2 => pair.clone().prop_map(|(a, b)| Item::Range(a, b)),
        1 => (pair, 1..=5u32).prop_map(|((a, b), n)| Item::RangeStep(a, b, n)),
        1 => (value, 1..=10u32).prop_map(|(a, n)| Item::StartStep(a, n)),
    ]
    .boxed()
}

fn field(kind: Kind) -> BoxedStrategy<FieldSpec> {
    let item = match kind {
        Kind::Dom => prop_oneof![
            8 => plain_item(kind),
            1 => Just(Item::Last),
            1 => Just(Item::LastWeekday),
            1 => (1..=31u32).prop_map(Item::Nearest),
        ]
        .boxed(),
        Kind::Dow => prop_oneof![
            8 => plain_item(kind),
            1 => (0..=7u32).prop_map(Item::LastOf),
            1 => (0..=7u32, 1..=5u32).prop_map(|(w, n)| Item::Nth(w, n)),
        ]
        .boxed(),
        _ => plain_item(kind),
    };
    // A star is the whole field or leads a list (`*/15,7`): a star
    // further into a list would make most fields match everything.
    let (_, hi) = kind.bounds();
    let items = prop_oneof![
        4 => Just(vec![Item::Star]),
        2 => (1..=hi / 2, prop::collection::vec(item.clone(), 0..=2)).prop_map(|(n, rest)| {
            std::iter::once(Item::StarStep(n)).chain(rest).collect()
        }),
        5 => prop::collection::vec(item, 1..=3),
    ];
    (items, any::<bool>())
        .prop_map(move |(items, names)| FieldSpec { kind, items, names })
        .boxed()
}

fn expr() -> impl Strategy<Value = Expr> {
    (
        prop::option::weighted(0.2, field(Kind::Second)),
        field(Kind::Minute),
        field(Kind::Hour),
        field(Kind::Dom),
        field(Kind::Month),
        field(Kind::Dow),
    )
        .prop_map(|(second, minute, hour, dom, month, dow)| Expr {
            second,
            minute,
            hour,
            dom,
            month,
            dow,
        })
}

/// The engine's zone of the oracle's, read from the system's database:
/// the oracle's offsets come from chrono-tz, an independent reading of
/// the same tz release (a release that moved a rule, like Havana's in
/// 2026, would make the two disagree on data, not on logic).
fn zone(tz: Tz) -> crate::zone::Zone {
    let db = crate::zone::Database::global();
    assert_eq!(
        db.version().as_deref(),
        Some(chrono_tz::IANA_TZDB_VERSION),
        "the oracle (chrono-tz) and {} must hold the same tz release",
        db.describe()
    );
    db.zone(tz.name()).expect("known zone")
}

fn local(t: DateTime<Utc>, tz: Tz) -> NaiveDateTime {
    t.with_timezone(&tz).naive_local()
}

/// Whether `t` ends a DST gap in which some wall time matching `e` lay:
/// where a fixed-time job skipped by spring-forward fires.
fn ends_gap_with_match(e: &Expr, t: DateTime<Utc>, tz: Tz) -> bool {
    let before = local(t - chrono::Duration::seconds(1), tz);
    let at = local(t, tz);
    if at - before <= chrono::Duration::seconds(1) {
        return false;
    }
    let mut wall = before + chrono::Duration::seconds(1);
    while wall < at {
        if e.matches(wall) {
            return true;
        }
        wall += chrono::Duration::minutes(1);
    }
    false
}

/// Whether instant `t` is one a correct schedule fires at, for the
/// completeness check: a matching wall time, and for a fixed-time
/// expression only its first occurrence.
fn should_fire(e: &Expr, t: DateTime<Utc>, tz: Tz) -> bool {
    let wall = local(t, tz);
    e.matches(wall)
        && (!e.is_fixed()
            || tz
                .from_local_datetime(&wall)
                .earliest()
                .is_some_and(|first| first == t))
}

/// UTC instants within 15 minutes after the 2026 DST changes of the
/// zones in [`ZONES`] that have them.
const CHANGES: [(Tz, i64); 12] = [
    (Tz::Europe__Berlin, 1_774_746_000),
    (Tz::Europe__Berlin, 1_792_890_000),
    (Tz::America__New_York, 1_772_953_200),
    (Tz::America__New_York, 1_793_512_800),
    (Tz::Australia__Lord_Howe, 1_775_314_800),
    (Tz::Australia__Lord_Howe, 1_791_041_400),
    (Tz::America__Santiago, 1_775_358_000),
    (Tz::America__Santiago, 1_788_667_200),
    (Tz::America__Havana, 1_772_946_000),
    (Tz::America__Havana, 1_793_509_200),
    (Tz::Pacific__Chatham, 1_775_311_200),
    (Tz::Pacific__Chatham, 1_790_431_200),
];

/// A zone and a start: anywhere in 2020–2036, or within 40 hours of one
/// of the zone's DST changes, where the interesting cases are.
fn zone_and_start() -> impl Strategy<Value = (Tz, i64)> {
    let anywhere =
        (0..ZONES.len(), 1_577_836_800i64..2_082_758_400).prop_map(|(z, start)| (ZONES[z], start));
    let near_change = (0..CHANGES.len(), -40 * 3600i64..40 * 3600).prop_map(|(i, delta)| {
        let (tz, change) = CHANGES[i];
        (tz, change + delta)
    });
    prop_oneof![1 => anywhere, 2 => near_change]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn instants_increase_match_and_skip_nothing(
        e in expr(),
        (tz, start) in zone_and_start(),
    ) {
        let text = e.render();
        let schedule: Schedule = match text.parse() {
            Ok(s) => s,
            Err(err) => {
                // Only a day pattern that never occurs may be refused.
                prop_assert!(err.0.contains("never fires"), "{text}: {err}");
                return Ok(());
            }
        };
        prop_assert_eq!(schedule.is_fixed_time(), e.is_fixed(), "{}", text);
        let from = DateTime::from_timestamp(start, 0).expect("in range");
        let mut prev = from;
        for _ in 0..5 {
            let Some(t) = schedule.next_after(prev, &zone(tz), from) else {
                return Err(TestCaseError::fail(format!("{text} ran out after {prev}")));
            };
            prop_assert!(t > prev, "{}: {} not after {}", text, t, prev);
            let fixed_gap = e.is_fixed() && ends_gap_with_match(&e, t, tz);
            prop_assert!(
                e.matches(local(t, tz)) || fixed_gap,
                "{} in {}: {} (local {}) does not match", text, tz, t, local(t, tz)
            );
            // Completeness over spans short enough to scan.
            let step = if e.second.is_some() { 1 } else { 60 };
            if (t - prev).num_seconds() <= 2 * 86_400 / 60 * step {
                let mut probe = prev + chrono::Duration::seconds(step - prev.timestamp().rem_euclid(step));
                while probe < t {
                    prop_assert!(
                        !should_fire(&e, probe, tz),
                        "{} in {}: skipped {} (local {}) between {} and {}",
                        text, tz, probe, local(probe, tz), prev, t
                    );
                    probe += chrono::Duration::seconds(step);
                }
            }
            prev = t;
        }
    }

    /// A daily fixed-time job fires exactly once each local day: at the
    /// first occurrence of its time, or at the end of the gap that
    /// swallowed it.
    #[test]
    fn daily_fixed_time_fires_once_a_day(
        minute in prop_oneof![Just(0u32), Just(30), Just(45), 0..60u32],
        // Hours where the test zones change their clocks, and any other.
        hour in prop_oneof![Just(0u32), Just(1), Just(2), Just(23), 0..24u32],
        (tz, start) in zone_and_start(),
    ) {
        let text = format!("{minute} {hour} * * *");
        let e = Expr {
            second: None,
            minute: FieldSpec { kind: Kind::Minute, items: vec![Item::Value(minute)], names: false },
            hour: FieldSpec { kind: Kind::Hour, items: vec![Item::Value(hour)], names: false },
            dom: FieldSpec { kind: Kind::Dom, items: vec![Item::Star], names: false },
            month: FieldSpec { kind: Kind::Month, items: vec![Item::Star], names: false },
            dow: FieldSpec { kind: Kind::Dow, items: vec![Item::Star], names: false },
        };
        let schedule: Schedule = text.parse().expect("valid");
        let from = DateTime::from_timestamp(start, 0).expect("in range");
        let got = schedule.upcoming(from, &zone(tz), from, 4);
        prop_assert_eq!(got.len(), 4);
        for pair in got.windows(2) {
            let (a, b) = (local(pair[0], tz).date(), local(pair[1], tz).date());
            prop_assert_eq!(a.succ_opt(), Some(b), "{} in {}: {:?}", text, tz, got);
        }
        for &t in &got {
            let wall = local(t, tz);
            let first = tz.from_local_datetime(&wall).earliest().map(|f| f.with_timezone(&Utc));
            prop_assert!(
                (e.matches(wall) && first == Some(t)) || ends_gap_with_match(&e, t, tz),
                "{} in {}: {} (local {}) is not the first occurrence", text, tz, t, wall
            );
        }
    }
}
