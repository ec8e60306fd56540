//! `cronduct next` as users run it: the real binary, its stdout, stderr
//! and exit status. Output people read is snapshotted.

use std::path::Path;
use std::process::{Command, Output};

use chrono::{DateTime, Utc};
use cronduct::clock::{Clock, SystemClock};

fn cronduct(args: &[&str], envs: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cronduct"))
        .args(args)
        .env_remove("CRONDUCT_CONFIG")
        .env("TZ", "UTC")
        .envs(envs.iter().copied())
        .output()
        .expect("run cronduct")
}

/// The command line, exit status, stdout and stderr, as one text.
fn transcript(args: &[&str]) -> String {
    transcript_with(args, &[])
}

fn transcript_with(args: &[&str], envs: &[(&str, &str)]) -> String {
    let out = cronduct(args, envs);
    let quoted: Vec<String> = args
        .iter()
        .map(|a| {
            if a.contains(' ') || a.contains('*') {
                format!("'{a}'")
            } else {
                a.to_string()
            }
        })
        .collect();
    format!(
        "$ cronduct {}\nexit: {}\n--- stdout\n{}--- stderr\n{}",
        quoted.join(" "),
        out.status.code().map_or("signal".into(), |c| c.to_string()),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn spring_forward_gap() {
    insta::assert_snapshot!(transcript(&[
        "next",
        "--schedule",
        "30 2 * * *",
        "--timezone",
        "Europe/Berlin",
        "--from",
        "2026-03-28T12:00:00+01:00",
        "--count",
        "3",
    ]));
}

#[test]
fn fall_back_repeat_fires_twice_for_elapsed_time() {
    insta::assert_snapshot!(transcript(&[
        "next",
        "--schedule",
        "*/30 * * * *",
        "--timezone",
        "America/New_York",
        "--from",
        "2026-11-01T00:45:00-04:00",
        "--count",
        "6",
    ]));
}

#[test]
fn six_fields_and_from_in_another_offset() {
    // --from may use any offset; output uses the schedule's zone.
    insta::assert_snapshot!(transcript(&[
        "next",
        "--schedule",
        "*/20 59 23 31 12 *",
        "--timezone",
        "Asia/Kolkata",
        "--from",
        "2026-12-31T18:00:00Z",
    ]));
}

#[test]
fn default_count_is_five() {
    let out = cronduct(
        &[
            "next",
            "--schedule",
            "@monthly",
            "--from",
            "2026-01-15T00:00:00Z",
        ],
        &[],
    );
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 5);
}

#[test]
fn without_timezone_uses_the_system_zone() {
    let out = cronduct(
        &[
            "next",
            "--schedule",
            "0 9 * * *",
            "--from",
            "2026-01-15T00:00:00Z",
            "--count",
            "1",
        ],
        &[("TZ", "Asia/Kolkata")],
    );
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "2026-01-15T09:00:00+05:30\n"
    );
}

#[test]
fn without_from_counts_from_now() {
    let before = SystemClock.now();
    let out = cronduct(&["next", "--schedule", "* * * * *", "--count", "2"], &[]);
    let after = SystemClock.now();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let times: Vec<DateTime<Utc>> = stdout
        .lines()
        .map(|l| {
            DateTime::parse_from_rfc3339(l)
                .expect("RFC 3339")
                .with_timezone(&Utc)
        })
        .collect();
    assert_eq!(times.len(), 2, "{stdout}");
    assert!(times[0] > before, "{} is not after {before}", times[0]);
    assert!(times[0] <= after + chrono::Duration::seconds(60));
    assert_eq!(times[1] - times[0], chrono::Duration::seconds(60));
}

#[test]
fn reboot_has_nothing_to_list() {
    insta::assert_snapshot!(transcript(&[
        "next",
        "--schedule",
        "@reboot",
        "--from",
        "2026-01-15T00:00:00Z",
    ]));
}

#[test]
fn every_counts_from_from() {
    insta::assert_snapshot!(transcript(&[
        "next",
        "--schedule",
        "@every 1h30m",
        "--timezone",
        "Europe/Berlin",
        "--from",
        "2026-03-29T00:00:00+01:00",
        "--count",
        "3",
    ]));
}

#[test]
fn invalid_expression_exits_1_with_what_would_be_valid() {
    insta::assert_snapshot!(
        "bad_minute",
        transcript(&["next", "--schedule", "61 * * * *"])
    );
    insta::assert_snapshot!("bad_dow", transcript(&["next", "--schedule", "0 0 * * 8"]));
    insta::assert_snapshot!(
        "never_fires",
        transcript(&["next", "--schedule", "0 0 30 2 *"])
    );
    insta::assert_snapshot!(
        "field_count",
        transcript(&["next", "--schedule", "0 0 * *"])
    );
    insta::assert_snapshot!(
        "bad_macro",
        transcript(&["next", "--schedule", "@fortnightly"])
    );
}

#[test]
fn invalid_zone_or_from_exits_1() {
    insta::assert_snapshot!(
        "bad_zone",
        transcript(&[
            "next",
            "--schedule",
            "@daily",
            "--timezone",
            "Mars/Olympus_Mons"
        ])
    );
    insta::assert_snapshot!(
        "bad_from",
        transcript(&["next", "--schedule", "@daily", "--from", "tomorrow"])
    );
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["next"][..],
        &["next", "--timezone", "UTC", "some-job"],
        &["next", "some-job", "--schedule", "@daily"],
        &["next", "--schedule", "@daily", "--count", "many"],
    ] {
        let out = cronduct(args, &[]);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn closed_stdout_is_not_an_error() {
    use std::io::Read;
    let mut child = Command::new(env!("CARGO_BIN_EXE_cronduct"))
        .args(["next", "--schedule", "* * * * * *", "--count", "1000000"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn cronduct");
    let mut first = [0u8; 26];
    child
        .stdout
        .take()
        .expect("piped stdout")
        .read_exact(&mut first)
        .expect("a first line");
    // Dropping the read end closes the pipe, like `| head -1`.
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("piped stderr")
        .read_to_string(&mut stderr)
        .expect("read stderr");
    let status = child.wait().expect("wait for cronduct");
    assert!(status.success(), "{status}: {stderr}");
    assert_eq!(stderr, "");
}

/// Needs `config::load` (built in parallel): run after the merge.
#[test]
fn next_for_configured_job() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("jobs.toml");
    std::fs::write(
        &config,
        r#"
[defaults]
timezone = "America/New_York"

[jobs.db-backup]
schedule = "30 2 * * *"
timezone = "Europe/Berlin"
command = "true"

[jobs.poll]
schedule = "*/30 1 * * *"
command = ["true"]
enabled = false
"#,
    )
    .expect("write config");
    let config = config.to_str().expect("UTF-8 path");
    let state = dir.path().join("state");
    let env = [("XDG_STATE_HOME", state.to_str().expect("UTF-8 path"))];
    let run = |args: &[&str]| {
        let out = cronduct(args, &env);
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let from = "2026-03-28T12:00:00Z";

    // The job's own zone, not the system's (TZ=UTC) nor --timezone.
    let (code, out, err) = run(&[
        "next",
        "db-backup",
        "-c",
        config,
        "--from",
        from,
        "--count",
        "2",
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        out,
        "2026-03-29T03:00:00+02:00\n2026-03-30T02:30:00+02:00\n"
    );

    // [defaults].timezone applies; a disabled job is listed with a note.
    let (code, out, err) = run(&["next", "poll", "-c", config, "--from", from, "--count", "3"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        out,
        "2026-03-29T01:00:00-04:00\n2026-03-29T01:30:00-04:00\n2026-03-30T01:00:00-04:00\n"
    );
    assert!(err.contains("disabled"), "{err}");

    // CRONDUCT_CONFIG works like -c.
    let out = Command::new(env!("CARGO_BIN_EXE_cronduct"))
        .args(["next", "db-backup", "--from", from, "--count", "1"])
        .env("CRONDUCT_CONFIG", config)
        .env("XDG_STATE_HOME", &state)
        .output()
        .expect("run cronduct");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "2026-03-29T03:00:00+02:00\n"
    );

    let (code, out, err) = run(&["next", "nightly", "-c", config]);
    assert_eq!(code, Some(1));
    assert_eq!(out, "");
    assert!(err.contains("no job \"nightly\""), "{err}");
    assert!(err.contains("db-backup, poll"), "{err}");

    let missing = Path::new(config).with_file_name("missing.toml");
    let (code, _, err) = run(&["next", "db-backup", "-c", missing.to_str().expect("UTF-8")]);
    assert_eq!(code, Some(1));
    assert!(err.contains("missing.toml"), "{err}");
}

/// The instants `next` prints for `args`, asserting exit 0.
fn instants(args: &[&str], envs: &[(&str, &str)]) -> Vec<String> {
    let out = cronduct(args, envs);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// St_Johns fell back at 00:01 to 23:01 of the day before (2001-10-28):
/// the repeated hour crosses midnight and each of its minutes fires again.
#[test]
fn repeated_hour_across_midnight_fires_each_minute() {
    let got = instants(
        &[
            "next",
            "--schedule",
            "* * * * *",
            "--timezone",
            "America/St_Johns",
            "--from",
            "2001-10-28T02:29:00Z",
            "--count",
            "3",
        ],
        &[],
    );
    assert_eq!(
        got,
        [
            "2001-10-28T00:00:00-02:30",
            "2001-10-27T23:01:00-03:30",
            "2001-10-27T23:02:00-03:30"
        ]
    );
}

/// Past the last listed transition the TZif footer's rule applies: July
/// 2100 in Berlin is summer time.
#[test]
fn rules_after_the_last_transition_come_from_the_footer() {
    let got = instants(
        &[
            "next",
            "--schedule",
            "0 12 1 7 *",
            "--timezone",
            "Europe/Berlin",
            "--from",
            "2099-06-01T00:00:00Z",
            "--count",
            "2",
        ],
        &[],
    );
    assert_eq!(
        got,
        ["2099-07-01T12:00:00+02:00", "2100-07-01T12:00:00+02:00"]
    );
}

/// `*/+2` is not digits, and `-1` is an expression, not an option: both
/// are refused as expressions, exit 1.
#[test]
fn signed_numbers_are_refused_as_expressions() {
    for (expr, want) in [
        ("*/+2 * * * *", "the step after / must be a whole number"),
        ("-1 12 * * *", "is not a number"),
    ] {
        let out = cronduct(&["next", "--schedule", expr], &[]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{expr}: {err}");
        assert!(
            err.contains("invalid schedule") && err.contains(want),
            "{expr}: {err}"
        );
    }
}

/// No instant after the year 9999: `next` prints what is left and says so.
#[test]
fn the_calendar_ends_in_year_9999() {
    let out = cronduct(
        &[
            "next",
            "--schedule",
            "0 0 1 1 *",
            "--from",
            "9998-06-01T00:00:00Z",
            "--count",
            "3",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "9999-01-01T00:00:00+00:00\n"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("end of year 9999"));
}

/// A tz database compiled in the test with `zic`: a zone whose rule
/// changes (DST until 2030, none after), one that falls back across
/// midnight, and one whose rules end in a POSIX footer.
#[test]
fn zones_come_from_tzdir() {
    let dir = tempfile::tempdir().expect("temp dir");
    let rules = dir.path().join("test.zi");
    std::fs::write(
        &rules,
        "# A rule change: summer time (+01 -> +02) ends for good after 2029.\n\
         Rule Chg 2020 2029 - Mar lastSun 1:00u 1:00 S\n\
         Rule Chg 2020 2029 - Oct lastSun 1:00u 0 -\n\
         Zone Test/Change 1:00 Chg +01/+02\n\
         # Falls back at 00:30 to 23:30 of the day before, each first Sunday of November.\n\
         Rule Mid 2020 max - Mar Sun>=8 0:00 1:00 D\n\
         Rule Mid 2020 max - Nov Sun>=1 0:30 0 S\n\
         Zone Test/Midnight -4:00 Mid -04/-03\n\
         # Rules to the end of time: only a footer past the listed years.\n\
         Zone Test/Footer 5:00 Chg +05/+06 2025\n\
         \t\t3:00 Mid +03/+04\n",
    )
    .expect("write rules");
    let zic = ["/usr/sbin/zic", "/usr/bin/zic", "zic"]
        .into_iter()
        .find(|z| !z.starts_with('/') || Path::new(z).exists())
        .expect("a zic");
    let status = Command::new(zic)
        .arg("-b")
        .arg("slim")
        .arg("-d")
        .arg(dir.path())
        .arg(&rules)
        .status()
        .expect("run zic (Debian: tzdata / libc-bin)");
    assert!(status.success());
    let tzdir = dir.path().to_str().expect("utf-8 path");
    let next = |expr: &str, zone: &str, from: &str, n: &str| {
        instants(
            &[
                "next",
                "--schedule",
                expr,
                "--timezone",
                zone,
                "--from",
                from,
                "--count",
                n,
            ],
            &[("TZDIR", tzdir)],
        )
    };
    // Hand-derived: noon on 1 July is +02 in 2029 (summer time), +01 in
    // 2030 (the rule ended).
    assert_eq!(
        next("0 12 1 7 *", "Test/Change", "2029-01-01T00:00:00Z", "2"),
        ["2029-07-01T12:00:00+02:00", "2030-07-01T12:00:00+01:00"]
    );
    // 2026-11-01 (a Sunday) 00:30 -03 = 03:30Z back to 23:30 -04 of
    // 31 October: 23:45 occurs at 02:45Z and again at 03:45Z, and an
    // elapsed-time job fires at both.
    assert_eq!(
        next("45 * * * *", "Test/Midnight", "2026-11-01T02:00:00Z", "3"),
        [
            "2026-10-31T23:45:00-03:00",
            "2026-10-31T23:45:00-04:00",
            "2026-11-01T00:45:00-04:00"
        ]
    );
    // Past 2025 the footer's rule: 1 July 2100 at noon is +04 (summer),
    // 1 January +03.
    assert_eq!(
        next("0 12 1 1,7 *", "Test/Footer", "2100-01-01T00:00:00Z", "2"),
        ["2100-01-01T12:00:00+03:00", "2100-07-01T12:00:00+04:00"]
    );
    // A zone the test database lacks is unknown there.
    let out = cronduct(
        &[
            "next",
            "--schedule",
            "@daily",
            "--timezone",
            "Europe/Berlin",
        ],
        &[("TZDIR", tzdir)],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("(see {tzdir})")));
}

#[test]
fn explain_reads_the_schedule_before_the_instants() {
    insta::assert_snapshot!(transcript(&[
        "next",
        "--explain",
        "--schedule",
        "30 2 * * 1-5",
        "--timezone",
        "Europe/Berlin",
        "--from",
        "2026-03-27T12:00:00+01:00",
        "--count",
        "2",
    ]));
}
