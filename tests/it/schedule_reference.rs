//! The schedule engine against reference instants.
//!
//! `tests/data/cronsim_cases.json` holds the next instants of a few hundred
//! expressions computed by the Python `cronsim` library (see its header and
//! tools/gen_cronsim_cases.py); every case is checked through
//! `Schedule::next_after`, and a sample through the real `cronduct next`.
//! Syntax cronsim lacks (`15W`, `@every`) is checked against a small table
//! derived by hand below, each row saying how.

use std::process::Command;

use chrono::{DateTime, Utc};
use cronduct::schedule::Schedule;
use cronduct::zone::{Database, Zone};
use serde::Deserialize;

#[derive(Deserialize)]
struct Table {
    cronsim_version: String,
    tzdata_version: String,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    group: String,
    expr: String,
    tz: String,
    from: String,
    expected: Vec<String>,
    /// cronsim's own answer, kept where it breaks the schedule semantics of
    /// cronduct.toml(5).
    #[serde(default)]
    cronsim: Option<Vec<String>>,
}

fn table() -> Table {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/cronsim_cases.json");
    let text = std::fs::read_to_string(path).expect("read the reference table");
    serde_json::from_str(&text).expect("parse the reference table")
}

fn rfc3339(t: DateTime<Utc>, tz: &Zone) -> String {
    tz.rfc3339(t)
}

/// The next `n` instants after `from`, formatted as the table writes them.
fn run(expr: &str, tz: &str, from: &str, n: usize) -> Vec<String> {
    let schedule: Schedule = expr.parse().expect("valid expression");
    let tz = Database::global().zone(tz).expect("known zone");
    let from = DateTime::parse_from_rfc3339(from)
        .expect("RFC 3339")
        .with_timezone(&Utc);
    let mut out = Vec::new();
    let mut after = from;
    for _ in 0..n {
        let Some(t) = schedule.next_after(after, &tz, from) else {
            break;
        };
        assert!(t > after, "{expr}: {t} is not after {after}");
        out.push(rfc3339(t, &tz));
        after = t;
    }
    out
}

#[test]
fn every_cronsim_case_matches() {
    let table = table();
    // The engine reads zones as the binary does (the system's database);
    // a release other than the table's can move some instants.
    let version = Database::global().version();
    assert!(table.cases.len() >= 150, "{} cases", table.cases.len());
    let mut failures = Vec::new();
    for c in &table.cases {
        let got = run(&c.expr, &c.tz, &c.from, c.expected.len());
        if got != c.expected {
            failures.push(format!(
                "[{}] {:?} in {} from {}\n  expected {:?}\n  got      {:?}",
                c.group, c.expr, c.tz, c.from, c.expected, got
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from cronsim {} (table made with tzdata {}, zones read from \
         tzdata {version:?}):\n{}",
        failures.len(),
        table.cases.len(),
        table.cronsim_version,
        table.tzdata_version,
        failures.join("\n")
    );
}

#[test]
fn the_table_covers_what_the_spec_lists() {
    let table = table();
    let has = |pred: &dyn Fn(&Case) -> bool| table.cases.iter().any(pred);
    for needle in [
        "L ", "LW", "5L", "#", "*/2 * 1", "MON-FRI", "mon-fri", "JAN", " 7", "-7", "/", ",",
    ] {
        assert!(has(&|c| c.expr.contains(needle)), "no case with {needle:?}");
    }
    for m in [
        "@yearly",
        "@annually",
        "@monthly",
        "@weekly",
        "@daily",
        "@midnight",
        "@hourly",
    ] {
        assert!(has(&|c| c.expr == m), "no case for {m}");
    }
    assert!(
        has(&|c| c.expr.split_whitespace().count() == 6),
        "no 6-field case"
    );
    for zone in [
        "Europe/Berlin",
        "America/New_York",
        "Australia/Lord_Howe",
        "America/Santiago",
        "America/Havana",
    ] {
        for group in [
            "dst-gap fixed-time",
            "dst-gap elapsed-time",
            "dst-repeat fixed-time",
            "dst-repeat elapsed-time",
        ] {
            assert!(
                has(&|c| c.tz == zone && c.group == group),
                "no {group} case in {zone}"
            );
        }
    }
    // The cases where cronsim breaks cronduct.toml(5)'s semantics stay visible in the table.
    assert!(has(&|c| c.cronsim.is_some()));
}

/// Syntax cronsim does not support, derived by hand.
#[test]
fn hand_derived_cases() {
    let cases: &[(&str, &str, &str, &[&str], &str)] = &[
        (
            "0 9 15W * *",
            "UTC",
            "2026-01-01T00:00:00Z",
            &[
                "2026-01-15T09:00:00+00:00",
                "2026-02-16T09:00:00+00:00",
                "2026-03-16T09:00:00+00:00",
                "2026-04-15T09:00:00+00:00",
                "2026-05-15T09:00:00+00:00",
                "2026-06-15T09:00:00+00:00",
                "2026-07-15T09:00:00+00:00",
                "2026-08-14T09:00:00+00:00",
            ],
            "15th is Thu (Jan), Sun (Feb, Mar: Monday 16th), Wed, Fri, Mon, Wed, Sat (Aug: Friday 14th)",
        ),
        (
            "0 0 1W * *",
            "UTC",
            "2026-07-15T00:00:00Z",
            &[
                "2026-08-03T00:00:00+00:00",
                "2026-09-01T00:00:00+00:00",
                "2026-10-01T00:00:00+00:00",
                "2026-11-02T00:00:00+00:00",
            ],
            "Aug 1 is Sat: the nearest weekday in the month is Mon 3 (not Fri Jul 31); Nov 1 is Sun: Mon 2",
        ),
        (
            "0 0 31W * *",
            "UTC",
            "2026-04-01T00:00:00Z",
            &[
                "2026-05-29T00:00:00+00:00",
                "2026-07-31T00:00:00+00:00",
                "2026-08-31T00:00:00+00:00",
                "2026-10-30T00:00:00+00:00",
            ],
            "April and June have no 31st; May 31 is Sun: Fri 29 (never Jun 1); Oct 31 is Sat: Fri 30",
        ),
        (
            "30 8 1W,15W * *",
            "Europe/Berlin",
            "2026-03-01T00:00:00+01:00",
            &[
                "2026-03-02T08:30:00+01:00",
                "2026-03-16T08:30:00+01:00",
                "2026-04-01T08:30:00+02:00",
                "2026-04-15T08:30:00+02:00",
            ],
            "Mar 1 is Sun: Mon 2; Mar 15 is Sun: Mon 16; April 1 and 15 are Wednesdays, in summer time",
        ),
        (
            "0 0 15W * 1",
            "UTC",
            "2026-02-01T00:00:00Z",
            &[
                "2026-02-02T00:00:00+00:00",
                "2026-02-09T00:00:00+00:00",
                "2026-02-16T00:00:00+00:00",
                "2026-02-23T00:00:00+00:00",
                "2026-03-02T00:00:00+00:00",
            ],
            "neither field starts with *, so Mondays OR the weekday nearest the 15th (Mon 16, already a Monday)",
        ),
    ];
    for (expr, tz, from, want, how) in cases {
        assert_eq!(run(expr, tz, from, want.len()), *want, "{expr} ({how})");
    }
}

/// `@every` counts whole intervals from when the job was loaded,
/// whatever the zone or DST: derived by adding the interval by hand.
#[test]
fn every_is_elapsed_time_from_the_anchor() {
    let anchor: DateTime<Utc> = "2026-03-29T00:30:00Z".parse().expect("valid");
    let s: Schedule = "@every 45m".parse().expect("valid");
    let tz = cronduct::testkit::zone("Europe/Berlin");
    let got: Vec<String> = s
        .upcoming(anchor, &tz, anchor, 3)
        .into_iter()
        .map(|t| rfc3339(t, &tz))
        .collect();
    // 00:30Z + 45m = 01:15Z = 03:15+02:00 (just after the gap), then
    // 02:00Z and 02:45Z: the gap changes the offset, not the spacing.
    assert_eq!(
        got,
        [
            "2026-03-29T03:15:00+02:00",
            "2026-03-29T04:00:00+02:00",
            "2026-03-29T04:45:00+02:00"
        ]
    );
    // 2026-03-30T05:00Z is 00:30Z the day before + 38 × 45m, on the grid:
    // strictly after it comes the 39th, 05:45Z.
    let later: DateTime<Utc> = "2026-03-30T05:00:00Z".parse().expect("valid");
    assert_eq!(
        s.next_after(later, &tz, anchor)
            .map(|t| rfc3339(t, &Zone::utc())),
        Some("2026-03-30T05:45:00+00:00".to_string())
    );
}

/// A sample of the table through the real binary: the CLI must print
/// exactly the instants the library computes, with the zone's offset.
#[test]
fn cronduct_next_agrees_on_a_sample() {
    let table = table();
    let sample = table
        .cases
        .iter()
        .enumerate()
        .filter(|(i, c)| i % 8 == 0 || c.cronsim.is_some() || c.group.starts_with("dst-gap"))
        .map(|(_, c)| c);
    let mut checked = 0;
    for c in sample {
        let out = Command::new(env!("CARGO_BIN_EXE_cronduct"))
            .args([
                "next",
                "--schedule",
                &c.expr,
                "--timezone",
                &c.tz,
                "--from",
                &c.from,
            ])
            .args(["--count", &c.expected.len().to_string()])
            .output()
            .expect("run cronduct");
        assert!(
            out.status.success(),
            "{}: {}",
            c.expr,
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8(out.stdout).expect("utf-8");
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(
            lines, c.expected,
            "cronduct next --schedule {:?} --timezone {} --from {}",
            c.expr, c.tz, c.from
        );
        checked += 1;
    }
    assert!(checked >= 40, "only {checked} cases sampled");
}
