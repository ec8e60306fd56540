//! How long `Schedule::next_after` takes per job (budget: < 10 µs
//! median, release build).
//!
//! Run with `cargo bench --bench next`. For each job (an expression in a
//! zone) it times a run of successive `next_after` calls, each starting
//! from the previous instant as the daemon does, repeats that a few times
//! and keeps the fastest run; it prints the per-call time of every job and
//! the median over jobs.

use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use cronduct::schedule::Schedule;
use cronduct::zone::{Database, Zone};

const CALLS: u32 = 2_000;
const RUNS: u32 = 5;

const JOBS: &[(&str, &str)] = &[
    ("* * * * *", "UTC"),
    ("*/5 * * * *", "Europe/Berlin"),
    ("0 * * * *", "America/New_York"),
    ("30 2 * * *", "Europe/Berlin"),
    ("0 2 * * *", "America/Santo_Domingo"),
    ("15 3 * * 1-5", "Asia/Kolkata"),
    ("0 9 * * MON-FRI", "America/Los_Angeles"),
    ("0 0 1 * *", "UTC"),
    ("0 0 L * *", "Australia/Sydney"),
    ("0 0 * * 5L", "Europe/London"),
    ("0 12 * * 5#2", "America/Santiago"),
    ("0 0 1,15 * 3", "Australia/Lord_Howe"),
    ("0 0 */2 * 1", "America/Havana"),
    ("0 4 15W * *", "Europe/Paris"),
    ("*/10 * * * * *", "UTC"),
    ("0 30 2 * * *", "Europe/Berlin"),
    ("@hourly", "Asia/Tokyo"),
    ("@daily", "America/Sao_Paulo"),
    ("@weekly", "Pacific/Chatham"),
    ("0 0 29 2 *", "UTC"),
    ("@every 90s", "UTC"),
];

fn main() {
    let start: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().expect("valid instant");
    // Zones as the daemon reads them: the system's database when there is one.
    let db = Database::global();
    println!("{}", db.describe());
    let mut per_call: Vec<(Duration, &str, &str)> = Vec::new();
    for &(expr, name) in JOBS {
        let tz: Zone = db.zone(name).expect("known zone");
        let schedule: Schedule = expr.parse().expect("valid expression");
        let best = (0..RUNS)
            .map(|_| {
                let mut after = start;
                let began = Instant::now();
                for _ in 0..CALLS {
                    after = black_box(&schedule)
                        .next_after(black_box(after), &tz, start)
                        // A rare schedule (29 February) runs out at the
                        // year-9999 end within the calls: start over.
                        .unwrap_or(start);
                }
                black_box(after);
                began.elapsed() / CALLS
            })
            .min()
            .expect("at least one run");
        per_call.push((best, expr, name));
    }
    for (t, expr, tz) in &per_call {
        println!("{:>9.3} µs  {expr:<18} {tz}", t.as_secs_f64() * 1e6);
    }
    per_call.sort_by_key(|&(t, _, _)| t);
    let median = per_call[per_call.len() / 2].0;
    let worst = per_call[per_call.len() - 1];
    println!(
        "median {:.3} µs per next_after over {} jobs; slowest {:.3} µs ({} in {})",
        median.as_secs_f64() * 1e6,
        per_call.len(),
        worst.0.as_secs_f64() * 1e6,
        worst.1,
        worst.2
    );
}
