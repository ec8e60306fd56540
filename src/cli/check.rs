//! `cronduct check`: validate the configuration the daemon would load and
//! show, per job, its schedule, zone, next run and the schedule in words.
//!
//! Exit 0 when valid (with `-q`, silently but for warnings), 1 when not,
//! with every problem on stderr. Reads the clock once, for the "next run" column; changes
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
            for warning in warnings(&config) {
                eprintln!("warning: {warning}");
            }
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

/// What is valid but likely a mistake; printed on stderr, even with `-q`,
/// without failing the check.
fn warnings(config: &Config) -> Vec<String> {
    let d = &config.daemon;
    let mut out = Vec::new();
    if d.managed_dir.is_some() && d.managed_users.iter().any(|u| u == "root") {
        out.push(
            "[daemon] managed_users lists root: every admin API key can run commands as root"
                .to_string(),
        );
    }
    // Decided on this machine as the daemon would decide it, run by this
    // user: run `check` as the daemon's user for the daemon's answer.
    if config
        .jobs
        .values()
        .any(|j| j.memory_max.is_some() || j.cpu_max.is_some())
    {
        let containment = crate::action::cgroup::probe();
        out.extend(
            config
                .jobs
                .values()
                .filter_map(|job| crate::action::cgroup::unmet_limits(job, &containment)),
        );
    }
    out
}

/// One aligned line per job (id, schedule, zone, next run, the schedule
/// in words), then where the zone rules come from (the system's tz
/// database and its release, or the compiled-in copy) and
/// `N jobs OK in FILE`. The next run is RFC 3339 in the job's own zone;
/// `@reboot` jobs show "at daemon start", disabled ones "disabled", and a
/// schedule with no instant left "never".
fn summary(config: &Config, file: &str, now: DateTime<Utc>) -> String {
    let mut rows = Vec::new();
    for job in config.jobs.values() {
        let next = if !job.enabled {
            "disabled".to_string()
        } else if job.schedule.is_reboot() {
            "at daemon start".to_string()
        } else {
            match job.schedule.next_after(now, &job.timezone, now) {
                Some(at) => job.timezone.rfc3339(at),
                None => "never".to_string(),
            }
        };
        rows.push(vec![
            job.id.clone(),
            job.schedule.source().to_string(),
            job.timezone.name().to_string(),
            next,
            job.schedule.in_words(&job.timezone),
        ]);
    }
    let mut out = if rows.is_empty() {
        String::new()
    } else {
        super::format::table(&["ID", "SCHEDULE", "ZONE", "NEXT RUN", "IN WORDS"], &rows)
    };
    let n = config.jobs.len();
    let _ = writeln!(out, "{}", crate::zone::Database::global().describe());
    let _ = writeln!(out, "{n} job{} OK in {file}", if n == 1 { "" } else { "s" });
    out
}
