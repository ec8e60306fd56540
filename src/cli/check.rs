//! `cronduct check`: validate the configuration the daemon would load and
//! show, per job, its schedule, zone and next run.
//!
//! Exit 0 when valid (with `-q`, silently), 1 when not, with every problem
//! on stderr. Reads the clock once, for the "next run" column; changes
//! nothing.

use std::fmt::Write as _;
use std::process::ExitCode;

use chrono::{DateTime, Utc};

use crate::clock::{Clock, SystemClock};
use crate::config::{self, Config};

pub fn run(args: &super::CheckArgs) -> anyhow::Result<ExitCode> {
    let path = &args.config.config;
    match config::load(path) {
        Ok(config) => {
            if !args.quiet {
                print!(
                    "{}",
                    summary(&config, &path.display().to_string(), SystemClock.now())
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            eprintln!("{errors}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// One aligned line per job (id, schedule, zone, next run), then
/// `N jobs OK in FILE`. The next run is RFC 3339 in the job's own zone;
/// `@reboot` jobs show "at daemon start", disabled ones "disabled", and a
/// schedule with no instant left "never".
fn summary(config: &Config, file: &str, now: DateTime<Utc>) -> String {
    let mut rows = vec![[
        "ID".to_string(),
        "SCHEDULE".to_string(),
        "ZONE".to_string(),
        "NEXT RUN".to_string(),
    ]];
    for job in config.jobs.values() {
        let next = if !job.enabled {
            "disabled".to_string()
        } else if job.schedule.is_reboot() {
            "at daemon start".to_string()
        } else {
            match job.schedule.next_after(now, job.timezone, now) {
                Some(at) => at
                    .with_timezone(&job.timezone)
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
                None => "never".to_string(),
            }
        };
        rows.push([
            job.id.clone(),
            job.schedule.source().to_string(),
            job.timezone.name().to_string(),
            next,
        ]);
    }
    let mut widths = [0usize; 3];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    if !config.jobs.is_empty() {
        for [id, schedule, zone, next] in &rows {
            let _ = writeln!(
                out,
                "{id:<w0$}  {schedule:<w1$}  {zone:<w2$}  {next}",
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2]
            );
        }
    }
    let n = config.jobs.len();
    let _ = writeln!(out, "{n} job{} OK in {file}", if n == 1 { "" } else { "s" });
    out
}
