//! The daemon's own resource use and the machine's, read from `/proc`
//! and `statvfs(3)` for `GET /api/v1/status`. Missing or unparsable files
//! give `None` rather than an error: the numbers are informational.

use std::path::Path;

use crate::wire::{FsSpace, LoadAverage};

/// Resident set size in bytes (`VmRSS` of `/proc/self/status`).
pub(crate) fn rss_bytes() -> Option<u64> {
    parse_rss(&std::fs::read_to_string("/proc/self/status").ok()?)
}

/// User plus system CPU time in seconds (`/proc/self/stat`).
pub(crate) fn cpu_seconds() -> Option<f64> {
    let ticks = parse_cpu_ticks(&std::fs::read_to_string("/proc/self/stat").ok()?)?;
    // SAFETY: sysconf only reads a system constant; it has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (hz > 0).then(|| ticks as f64 / hz as f64)
}

/// The daemon's threads (`Threads` of `/proc/self/status`).
pub(crate) fn threads() -> Option<u64> {
    status_field(
        &std::fs::read_to_string("/proc/self/status").ok()?,
        "Threads:",
    )
}

/// The daemon's open file descriptors: the entries of `/proc/self/fd`,
/// less the one reading it.
pub(crate) fn open_fds() -> Option<u64> {
    let n = std::fs::read_dir("/proc/self/fd").ok()?.count() as u64;
    Some(n.saturating_sub(1))
}

/// The 1, 5 and 15 minute load averages (`/proc/loadavg`).
pub(crate) fn load_average() -> Option<LoadAverage> {
    parse_loadavg(&std::fs::read_to_string("/proc/loadavg").ok()?)
}

/// `MemTotal` and `MemAvailable` of `/proc/meminfo`, in bytes.
pub(crate) fn memory() -> (Option<u64>, Option<u64>) {
    match std::fs::read_to_string("/proc/meminfo") {
        Ok(info) => (
            kib_field(&info, "MemTotal:"),
            kib_field(&info, "MemAvailable:"),
        ),
        Err(_) => (None, None),
    }
}

/// Free (to an unprivileged user) and total bytes of the file system
/// holding `dir`.
pub(crate) fn fs_space(dir: &Path) -> Option<FsSpace> {
    let st = nix::sys::statvfs::statvfs(dir).ok()?;
    let unit = st.fragment_size().max(1);
    Some(FsSpace {
        path: dir.to_path_buf(),
        free_bytes: st.blocks_available().saturating_mul(unit),
        total_bytes: st.blocks().saturating_mul(unit),
    })
}

fn parse_loadavg(text: &str) -> Option<LoadAverage> {
    let mut it = text.split_whitespace().map(str::parse::<f64>);
    Some(LoadAverage {
        one: it.next()?.ok()?,
        five: it.next()?.ok()?,
        fifteen: it.next()?.ok()?,
    })
}

/// A plain number field (`Threads:\t3`).
fn status_field(text: &str, name: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(name))?;
    line[name.len()..].trim().parse().ok()
}

/// A field in kB (`MemTotal:  16384 kB`), in bytes.
fn kib_field(text: &str, name: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(name))?;
    let mut words = line[name.len()..].split_whitespace();
    let n: u64 = words.next()?.parse().ok()?;
    match words.next() {
        Some("kB") => n.checked_mul(1024),
        _ => None,
    }
}

fn parse_rss(status: &str) -> Option<u64> {
    kib_field(status, "VmRSS:")
}

/// `utime + stime` in clock ticks. The command name (field 2) is in
/// parentheses and may itself contain spaces and `)`, so fields are
/// counted from the last `)`.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state); utime is field 14, stime 15.
    let utime: u64 = fields.get(14 - 3)?.parse().ok()?;
    let stime: u64 = fields.get(15 - 3)?.parse().ok()?;
    utime.checked_add(stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rss_in_bytes() {
        let status = "Name:\tcronduct\nVmPeak:\t  9000 kB\nVmRSS:\t    5120 kB\nThreads:\t3\n";
        assert_eq!(parse_rss(status), Some(5120 * 1024));
        assert_eq!(parse_rss("Name:\tx\n"), None);
        assert_eq!(parse_rss("VmRSS:\tlots kB\n"), None);
    }

    #[test]
    fn counts_cpu_fields_after_a_tricky_command_name() {
        let stat =
            "4242 (cron duct) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 123 0 0";
        assert_eq!(parse_cpu_ticks(stat), Some(300));
        assert_eq!(parse_cpu_ticks("4242 (short) S 1"), None);
    }

    #[test]
    fn reads_load_memory_and_threads() {
        let load = parse_loadavg("0.52 1.05 2.50 1/345 6789\n").expect("load");
        assert_eq!((load.one, load.five, load.fifteen), (0.52, 1.05, 2.5));
        assert_eq!(parse_loadavg("0.5 x 1"), None);
        let info = "MemTotal:       16318172 kB\nMemFree:  1 kB\nMemAvailable:    8000000 kB\n";
        assert_eq!(kib_field(info, "MemTotal:"), Some(16_318_172 * 1024));
        assert_eq!(kib_field(info, "MemAvailable:"), Some(8_000_000 * 1024));
        assert_eq!(status_field("Name:\tx\nThreads:\t7\n", "Threads:"), Some(7));
    }

    #[test]
    fn this_process_has_some_memory_and_cpu() {
        assert!(rss_bytes().is_some_and(|b| b > 0));
        assert!(cpu_seconds().is_some_and(|s| s >= 0.0));
    }
}
