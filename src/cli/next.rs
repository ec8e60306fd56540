//! `cronduct next`: the next fire instants of a schedule or of a
//! configured job (cronduct.toml(5) SCHEDULES), one per line on stdout, RFC
//! 3339 with the zone's offset and whole seconds.
//!
//! Behaviour the contract leaves open (docs/BEHAVIOUR.md lists it):
//! - `@reboot` has no timed instants: a note on stderr, nothing on
//!   stdout, exit 0 (the schedule is valid; there is just nothing to list).
//! - `@every D` counts from when the daemon loads the job, which `next`
//!   cannot know: it counts from `--from` (default now) and says so on
//!   stderr.
//! - A job with `enabled = false` is listed anyway, with a note on stderr.
//! - `--explain` puts the reading on the first line of stdout, before the
//!   instants, so `--explain --count 0` prints only the reading.
//! - A closed stdout (`| head -1`) ends the command quietly with exit 0.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, anyhow};
use chrono::{DateTime, Utc};

use crate::clock::{Clock, SystemClock};
use crate::schedule::Schedule;
use crate::zone::{Database, Zone, ZoneError};

/// Runs `cronduct next` against the system clock, stdout and stderr.
pub fn run(args: &super::NextArgs) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr().lock();
    match print_next(args, &SystemClock, &mut out, &mut err) {
        Err(e) if is_broken_pipe(&e) => Ok(ExitCode::SUCCESS),
        other => other.map(|()| ExitCode::SUCCESS),
    }
}

/// Resolves the schedule and zone from `args`, then writes the instants to
/// `out` and any notes to `err`. Errors are for the user (exit 1).
fn print_next(
    args: &super::NextArgs,
    clock: &dyn Clock,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<()> {
    let from = match &args.from {
        Some(text) => DateTime::parse_from_rfc3339(text)
            .map_err(|e| {
                anyhow!(
                    "invalid --from {text:?}: {e}; expected an RFC 3339 time like \
                     2026-03-29T01:30:00+01:00 or 2026-03-29T00:30:00Z"
                )
            })?
            .with_timezone(&Utc),
        None => clock.now(),
    };

    let (schedule, tz) = match (&args.schedule, &args.job) {
        (Some(expr), _) => {
            let schedule: Schedule = expr
                .parse()
                .map_err(|e| anyhow!("invalid schedule {expr:?}: {e}"))?;
            let tz = match &args.timezone {
                Some(name) => parse_timezone(name)?,
                None => Database::global().system_zone(),
            };
            (schedule, tz)
        }
        (None, Some(id)) => {
            let path = &args.config.config;
            let config = crate::config::load(path)?;
            let job = config.jobs.get(id).ok_or_else(|| {
                let known: Vec<&str> = config.jobs.keys().map(String::as_str).collect();
                anyhow!(
                    "no job {id:?} in {}; {}",
                    path.display(),
                    if known.is_empty() {
                        "it defines no jobs".to_string()
                    } else {
                        format!("its jobs are: {}", known.join(", "))
                    }
                )
            })?;
            if !job.enabled {
                writeln!(
                    err,
                    "note: job {id:?} is disabled (enabled = false); it would fire at:"
                )?;
            }
            (job.schedule.clone(), job.timezone.clone())
        }
        // clap requires one of the two.
        (None, None) => return Err(anyhow!("give a JOB or --schedule EXPR")),
    };

    if args.explain {
        writeln!(out, "{}", schedule.in_words(&tz)).context("writing to stdout")?;
    }
    if schedule.is_reboot() {
        writeln!(
            err,
            "@reboot runs once at daemon start; it has no timed instants"
        )?;
        return Ok(());
    }
    if schedule.every().is_some() {
        writeln!(
            err,
            "note: @every counts from when the daemon loads the job; shown counting from {}",
            tz.rfc3339(from)
        )?;
    }
    let times = schedule.upcoming(from, &tz, from, args.count);
    for &t in &times {
        writeln!(out, "{}", tz.rfc3339(t)).context("writing to stdout")?;
    }
    if times.len() < args.count {
        writeln!(
            err,
            "note: no more instants before the end of year 9999 (the last RFC 3339 can write)"
        )?;
    }
    Ok(())
}

fn parse_timezone(name: &str) -> anyhow::Result<Zone> {
    let db = Database::global();
    db.zone(name).map_err(|e| match e {
        ZoneError::Unknown(_) => anyhow!(
            "unknown time zone {name:?}; expected an IANA name like Europe/Berlin, \
             America/New_York or UTC (see {})",
            db.names_at()
        ),
        other => anyhow!("{other}"),
    })
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FakeClock;
    use chrono::TimeZone;
    use clap::Parser;

    fn next(argv: &[&str], clock: &FakeClock) -> (anyhow::Result<()>, String, String) {
        let cli =
            super::super::Cli::try_parse_from(["cronduct", "next"].iter().chain(argv).copied())
                .expect("valid command line");
        let super::super::Command::Next(args) = cli.command else {
            panic!("parsed as another command");
        };
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let result = print_next(&args, clock, &mut out, &mut err);
        let text = |b: Vec<u8>| String::from_utf8(b).expect("utf-8");
        (result, text(out), text(err))
    }

    #[test]
    fn counts_from_the_clock_when_no_from_is_given() {
        let clock = FakeClock::new(
            Utc.with_ymd_and_hms(2026, 3, 29, 0, 59, 30)
                .single()
                .expect("valid"),
        );
        let (result, out, err) = next(
            &[
                "--schedule",
                "30 2 * * *",
                "--timezone",
                "Europe/Berlin",
                "--count",
                "2",
            ],
            &clock,
        );
        result.expect("ok");
        assert_eq!(
            out,
            "2026-03-29T03:00:00+02:00\n2026-03-30T02:30:00+02:00\n"
        );
        assert_eq!(err, "");
    }

    #[test]
    fn every_counts_from_the_clock_and_says_so() {
        let clock = FakeClock::new(
            Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0)
                .single()
                .expect("valid"),
        );
        let (result, out, err) = next(
            &[
                "--schedule",
                "@every 90s",
                "--timezone",
                "UTC",
                "--count",
                "2",
            ],
            &clock,
        );
        result.expect("ok");
        assert_eq!(
            out,
            "2026-01-01T12:01:30+00:00\n2026-01-01T12:03:00+00:00\n"
        );
        assert!(
            err.contains("counting from 2026-01-01T12:00:00+00:00"),
            "{err}"
        );
    }

    #[test]
    fn broken_pipe_is_recognised_through_context() {
        let e = anyhow::Error::from(std::io::Error::from(std::io::ErrorKind::BrokenPipe))
            .context("writing to stdout");
        assert!(is_broken_pipe(&e));
        assert!(!is_broken_pipe(&anyhow!("invalid schedule")));
    }
}
