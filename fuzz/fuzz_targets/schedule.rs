//! The schedule parser and the next-instant search: any text parses or is
//! refused with a message; a schedule that parses gives, in zones with odd
//! offsets and DST rules, instants strictly after the one asked about, in
//! order, and its description in words, without a panic.
#![no_main]

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use cronduct::schedule::Schedule;
use cronduct::zone::{Database, Zone};
use libfuzzer_sys::fuzz_target;

/// UTC, a usual DST zone, a half-hour offset with DST at midnight, a
/// half-hour DST shift, and one that skipped a whole day (2011-12-30).
static ZONES: LazyLock<Vec<Zone>> = LazyLock::new(|| {
    let db = Database::compiled_in();
    [
        "UTC",
        "Europe/Berlin",
        "America/St_Johns",
        "Australia/Lord_Howe",
        "Pacific/Apia",
    ]
    .iter()
    .map(|name| db.zone(name).expect("a compiled-in zone"))
    .collect()
});

/// Instants to search from: the epoch, a spring-forward night in Europe,
/// a fall-back night in North America, and the end of the calendar.
const AFTER: [i64; 4] = [0, 1_743_292_800, 1_762_063_200, 253_402_300_000];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(schedule) = text.parse::<Schedule>() else {
        return;
    };
    for zone in ZONES.iter() {
        let _ = schedule.in_words(zone);
        for after in AFTER {
            let Some(after) = DateTime::<Utc>::from_timestamp(after, 0) else {
                continue;
            };
            let upcoming = schedule.upcoming(after, zone, after, 4);
            let mut previous = after;
            for t in upcoming {
                assert!(
                    t > previous,
                    "{text:?} in {}: {t} after {previous}",
                    zone.name()
                );
                previous = t;
            }
        }
    }
});
