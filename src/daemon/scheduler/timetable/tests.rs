//! The timetable's decisions as tables, with no runtime: jitter is a
//! fixed function and `now` an argument.

use super::*;
use crate::config::{Action, Command};

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("valid time")
        .with_timezone(&Utc)
}

fn job(id: &str, schedule: &str, tz: &str) -> Job {
    Job::new(
        id,
        schedule.parse().expect("valid schedule"),
        crate::testkit::zone(tz),
        Action::Command(Command::Shell("true".into())),
        "jobs.toml",
    )
}

fn no_jitter(_: Duration) -> chrono::Duration {
    chrono::Duration::zero()
}

fn half_jitter(bound: Duration) -> chrono::Duration {
    chrono::Duration::from_std(bound / 2).expect("small")
}

/// The scheduled instants a timetable of `job` fires from `start` until
/// `end`, with the wall clock advancing from due time to due time.
fn fire(job: Job, start: &str, end: &str) -> Vec<String> {
    let mut t = Timetable::new(no_jitter);
    let mut last = LastScheduled::new();
    t.insert(Arc::new(job), utc(start), &last);
    let mut fired = Vec::new();
    while let Some(due) = t.next_due().filter(|d| *d <= utc(end)) {
        let f = t.pop_due(due).expect("due");
        last.insert(f.job.id.clone(), f.scheduled_at);
        fired.push(
            f.scheduled_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        );
    }
    fired
}

#[test]
fn dst_days_in_several_zones() {
    let cases: [(&str, &str, &str, &str, &[&str]); 6] = [
        // Berlin springs forward at 02:00 on 29 March: 02:30 runs at 03:00.
        (
            "30 2 * * *",
            "Europe/Berlin",
            "2026-03-28T12:00:00Z",
            "2026-03-30T12:00:00Z",
            &["2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"],
        ),
        // Berlin falls back on 25 October: the fixed time runs once.
        (
            "30 2 * * *",
            "Europe/Berlin",
            "2026-10-24T12:00:00Z",
            "2026-10-26T12:00:00Z",
            &["2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"],
        ),
        // New York springs forward at 02:00 on 8 March.
        (
            "30 2 * * *",
            "America/New_York",
            "2026-03-07T12:00:00Z",
            "2026-03-09T12:00:00Z",
            &["2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z"],
        ),
        // New York falls back on 1 November: 01:30 happens twice, runs once.
        (
            "30 1 * * *",
            "America/New_York",
            "2026-10-31T12:00:00Z",
            "2026-11-02T12:00:00Z",
            &["2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"],
        ),
        // A wildcard hour runs on each occurrence of the repeated hour.
        (
            "0 * * * *",
            "America/New_York",
            "2026-11-01T04:30:00Z",
            "2026-11-01T07:00:00Z",
            &[
                "2026-11-01T05:00:00Z",
                "2026-11-01T06:00:00Z",
                "2026-11-01T07:00:00Z",
            ],
        ),
        // Lord Howe moves by half an hour (02:00 -> 02:30 on 4 October):
        // 02:15 does not exist that day and runs at 02:30 (+11:00).
        (
            "15 2 * * *",
            "Australia/Lord_Howe",
            "2026-10-03T00:00:00Z",
            "2026-10-04T20:00:00Z",
            &["2026-10-03T15:30:00Z", "2026-10-04T15:15:00Z"],
        ),
    ];
    for (schedule, tz, start, end, want) in cases {
        assert_eq!(
            fire(job("j", schedule, tz), start, end),
            want,
            "{schedule} in {tz}"
        );
    }
}

#[test]
fn step_rules() {
    let cases = [
        (chrono::Duration::milliseconds(900), StepRule::Ignore),
        (chrono::Duration::milliseconds(-900), StepRule::Ignore),
        (chrono::Duration::minutes(5), StepRule::RunSkippedFixed),
        (
            chrono::Duration::hours(3) - chrono::Duration::seconds(1),
            StepRule::RunSkippedFixed,
        ),
        (chrono::Duration::hours(3), StepRule::PlanAll),
        (chrono::Duration::hours(5), StepRule::PlanAll),
        (chrono::Duration::minutes(-5), StepRule::PlanAll),
    ];
    for (step, want) in cases {
        assert_eq!(StepRule::of(step), want, "{step}");
    }
}

#[test]
fn clock_steps_replan_by_rule() {
    // (step from 13:00, the next planned instant of a fixed-time job at
    // 13:30 and of a wildcard job every 10 minutes, after the step)
    let cases = [
        (chrono::Duration::hours(1), "13:30", "14:10"),
        (chrono::Duration::hours(5), "13:30+1d", "18:10"),
        (-chrono::Duration::hours(1), "13:30", "12:10"),
    ];
    for (step, fixed, wild) in cases {
        let start = utc("2026-06-01T13:00:00Z");
        let mut t = Timetable::new(no_jitter);
        let last = LastScheduled::new();
        t.insert(Arc::new(job("fixed", "30 13 * * *", "UTC")), start, &last);
        t.insert(Arc::new(job("wild", "*/10 * * * *", "UTC")), start, &last);
        assert!(t.clock_step(step, start + step, &last), "{step}");
        let next = |id: &str| {
            let at = t
                .get(id)
                .and_then(|s| s.next)
                .expect("planned")
                .scheduled_at;
            let days = (at.date_naive() - start.date_naive()).num_days();
            let hm = at.format("%H:%M").to_string();
            if days == 0 {
                hm
            } else {
                format!("{hm}+{days}d")
            }
        };
        assert_eq!(
            (next("fixed"), next("wild")),
            (fixed.into(), wild.into()),
            "{step}"
        );
    }
    // A backward step never re-plans a fixed time at or before the one
    // last started.
    let start = utc("2026-06-01T13:45:00Z");
    let mut t = Timetable::new(no_jitter);
    let last = LastScheduled::from([("fixed".to_string(), utc("2026-06-01T13:30:00Z"))]);
    t.insert(Arc::new(job("fixed", "30 13 * * *", "UTC")), start, &last);
    assert!(t.clock_step(
        -chrono::Duration::hours(1),
        start - chrono::Duration::hours(1),
        &last
    ));
    assert_eq!(
        t.get("fixed").and_then(|s| s.next).map(|p| p.scheduled_at),
        Some(utc("2026-06-02T13:30:00Z"))
    );
}

#[test]
fn catch_up_windows() {
    // (catch_up, last started, now, missed instant of an hourly job)
    let cases = [
        (
            Some("2h"),
            Some("2026-06-01T10:00:00Z"),
            "2026-06-01T13:30:00Z",
            Some("2026-06-01T13:00:00Z"),
        ),
        (
            Some("20m"),
            Some("2026-06-01T10:00:00Z"),
            "2026-06-01T13:30:00Z",
            None,
        ),
        (
            Some("2h"),
            Some("2026-06-01T13:00:00Z"),
            "2026-06-01T13:30:00Z",
            None,
        ),
        (Some("2h"), None, "2026-06-01T13:30:00Z", None),
        (
            None,
            Some("2026-06-01T10:00:00Z"),
            "2026-06-01T13:30:00Z",
            None,
        ),
    ];
    for (window, last, now, want) in cases {
        let mut j = job("hourly", "0 * * * *", "UTC");
        j.catch_up = window.map(|w| crate::units::parse_duration(w).expect("valid"));
        let mut t = Timetable::new(no_jitter);
        t.insert(Arc::new(j), utc(now), &LastScheduled::new());
        assert_eq!(
            t.missed("hourly", utc(now), last.map(utc)),
            want.map(utc),
            "{window:?} {last:?}"
        );
    }
}

#[test]
fn jitter_delays_the_due_time_only() {
    let mut j = job("j", "*/5 * * * *", "UTC");
    j.jitter = Duration::from_secs(120);
    let mut t = Timetable::new(half_jitter);
    t.insert(
        Arc::new(j),
        utc("2026-06-01T13:00:00Z"),
        &LastScheduled::new(),
    );
    let p = t.get("j").and_then(|s| s.next).expect("planned");
    assert_eq!(p.scheduled_at, utc("2026-06-01T13:05:00Z"));
    assert_eq!(p.due, utc("2026-06-01T13:06:00Z"));
    assert_eq!(
        t.pop_due(utc("2026-06-01T13:05:30Z"))
            .map(|f| f.scheduled_at),
        None
    );
    assert_eq!(
        t.pop_due(utc("2026-06-01T13:06:00Z"))
            .map(|f| f.scheduled_at),
        Some(p.scheduled_at)
    );
}

#[test]
fn reload_diffs() {
    let now = utc("2026-06-01T13:00:00Z");
    let later = utc("2026-06-01T13:00:50Z");
    let last = LastScheduled::new();
    let base = [
        job("keep", "@every 100s", "UTC"),
        job("gone", "@hourly", "UTC"),
        job("retimed", "@every 100s", "UTC"),
        job("described", "@every 100s", "UTC"),
    ];
    let mut t = Timetable::new(no_jitter);
    for j in &base {
        t.insert(Arc::new(j.clone()), now, &last);
    }
    let mut jobs: BTreeMap<String, Job> = base.into_iter().map(|j| (j.id.clone(), j)).collect();
    jobs.remove("gone");
    jobs.insert("new".into(), job("new", "@hourly", "UTC"));
    jobs.get_mut("retimed").expect("job").schedule = "@every 60s".parse().expect("valid");
    jobs.get_mut("described").expect("job").description = "words".into();
    let jobs = jobs.into_iter().map(|(id, j)| (id, Arc::new(j))).collect();
    let diff = t.reload(&jobs, later, &last);
    assert_eq!(
        (diff.added, diff.removed, diff.changed),
        (
            vec!["new".to_string()],
            vec!["gone".to_string()],
            vec!["described".to_string(), "retimed".to_string()]
        )
    );
    let next = |id: &str| t.get(id).and_then(|s| s.next).map(|p| p.scheduled_at);
    // Unchanged timing keeps the original anchor; changed timing is
    // anchored at the reload.
    assert_eq!(next("keep"), Some(utc("2026-06-01T13:01:40Z")));
    assert_eq!(next("described"), Some(utc("2026-06-01T13:01:40Z")));
    assert_eq!(next("retimed"), Some(utc("2026-06-01T13:01:50Z")));
    assert_eq!(next("gone"), None);
    assert_eq!(t.len(), 4);
}

#[test]
fn missed_instants_over_downtimes() {
    // (schedule, zone, last started, now, listed count, first, last listed, more, capped)
    type Case<'a> = (
        &'a str,
        &'a str,
        &'a str,
        &'a str,
        usize,
        Option<&'a str>,
        u64,
        bool,
    );
    let cases: [Case; 8] = [
        // Down between two instants: nothing missed.
        (
            "0 * * * *",
            "UTC",
            "2026-06-01T12:00:00Z",
            "2026-06-01T12:59:59Z",
            0,
            None,
            0,
            false,
        ),
        // The instant at `now` itself counts (it was due, the daemon was not up).
        (
            "0 * * * *",
            "UTC",
            "2026-06-01T12:00:00Z",
            "2026-06-01T13:00:00Z",
            1,
            Some("2026-06-01T13:00:00Z"),
            0,
            false,
        ),
        (
            "0 * * * *",
            "UTC",
            "2026-06-01T08:00:00Z",
            "2026-06-01T13:30:00Z",
            5,
            Some("2026-06-01T09:00:00Z"),
            0,
            false,
        ),
        // A daily job in Berlin across the spring-forward night.
        (
            "30 2 * * *",
            "Europe/Berlin",
            "2026-03-27T01:30:00Z",
            "2026-03-30T12:00:00Z",
            3,
            Some("2026-03-28T01:30:00Z"),
            0,
            false,
        ),
        // Every minute for a week: 100 listed, the rest counted.
        (
            "* * * * *",
            "UTC",
            "2026-06-01T00:00:00Z",
            "2026-06-08T00:00:00Z",
            100,
            Some("2026-06-01T00:01:00Z"),
            10_080 - 100,
            false,
        ),
        // Every second for two days: the count walk stops at its bound.
        (
            "* * * * * *",
            "UTC",
            "2026-06-01T00:00:00Z",
            "2026-06-03T00:00:00Z",
            100,
            Some("2026-06-01T00:00:01Z"),
            MISSED_COUNT_LIMIT - 100,
            true,
        ),
        // @every counts on from the last instant, in constant time, even
        // for a per-second job down a year.
        (
            "@every 1s",
            "UTC",
            "2025-06-01T00:00:00Z",
            "2026-06-01T00:00:00Z",
            100,
            Some("2025-06-01T00:00:01Z"),
            365 * 86_400 - 100,
            false,
        ),
        (
            "@every 90m",
            "UTC",
            "2026-06-01T00:00:00Z",
            "2026-06-01T04:00:00Z",
            2,
            Some("2026-06-01T01:30:00Z"),
            0,
            false,
        ),
    ];
    for (schedule, tz, last, now, listed, first, more, capped) in cases {
        let mut t = Timetable::new(no_jitter);
        t.insert(
            Arc::new(job("j", schedule, tz)),
            utc(now),
            &LastScheduled::new(),
        );
        let got = t.missed_instants("j", utc(now), utc(last));
        let what = format!("{schedule} in {tz} from {last} to {now}");
        let Some(got) = got else {
            assert_eq!((listed, first), (0, None), "{what}");
            continue;
        };
        assert_eq!(got.listed.len(), listed, "{what}");
        assert_eq!(got.listed.first().copied(), first.map(utc), "{what}");
        assert_eq!((got.more, got.capped), (more, capped), "{what}");
        assert!(got.listed.windows(2).all(|w| w[0] < w[1]), "{what}");
        assert!(
            got.listed.iter().all(|t| *t > utc(last) && *t <= utc(now)),
            "{what}"
        );
    }
}

#[test]
fn overdue_alarms_repeat_each_window_and_catch_up_once() {
    let mut j = job("j", "@yearly", "UTC");
    j.expect_success_within = Some(Duration::from_secs(600));
    let start = utc("2026-06-01T13:00:00Z");
    let mut t = Timetable::new(no_jitter);
    t.insert(Arc::new(j), start, &LastScheduled::new());
    t.watch("j", Some(start));
    assert_eq!(t.next_due(), Some(utc("2026-06-01T13:10:00Z")));
    assert!(t.pop_overdue(utc("2026-06-01T13:09:59Z")).is_none());
    let a = t.pop_overdue(utc("2026-06-01T13:10:00Z")).expect("due");
    assert_eq!(a.due_at, utc("2026-06-01T13:10:00Z"));
    assert_eq!(t.next_due(), Some(utc("2026-06-01T13:20:00Z")));
    // Found late by several windows (a daemon that was down): one alarm,
    // the next at the first window end after now.
    let a = t.pop_overdue(utc("2026-06-01T14:05:00Z")).expect("due");
    assert_eq!(a.due_at, utc("2026-06-01T13:20:00Z"));
    assert!(t.pop_overdue(utc("2026-06-01T14:05:00Z")).is_none());
    assert_eq!(t.next_due(), Some(utc("2026-06-01T14:10:00Z")));
    // Unwatching (a pause) drops the alarm.
    t.watch("j", None);
    assert_eq!(t.next_due(), Some(utc("2027-01-01T00:00:00Z")));
    assert_eq!(t.unwatched(), ["j".to_string()]);
}
