//! Durations (`500ms`, `90s`, `1h30m`, `2d`, or whole seconds) and sizes
//! (`64KiB`, `1MiB`, or bytes), as cronduct.toml(5) writes them. A leaf:
//! the config, the API's parameters, the CLI and the messages that print
//! a duration all use it, and it uses nothing of the crate.

use std::time::Duration;

const DURATION_HELP: &str =
    "a duration like \"500ms\", \"90s\", \"5m\", \"1h30m\", \"2d\" or a whole number of seconds";
const SIZE_HELP: &str = "a size like \"64KiB\", \"1MiB\", \"1GiB\" or a whole number of bytes";

/// Parses a duration string. Units may be combined, largest first
/// (`1h30m`); the error says what would be valid.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err(format!("empty duration; expected {DURATION_HELP}"));
    }
    if let Ok(secs) = t.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total = Duration::ZERO;
    let mut rest = t;
    let mut last_rank = usize::MAX;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!("invalid duration {s:?}; expected {DURATION_HELP}"));
        }
        let n: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("number too large in duration {s:?}"))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        // Ranked largest first so "30m1h" is refused as a likely typo.
        let (rank, one) = match unit {
            "d" => (0, Duration::from_secs(86_400)),
            "h" => (1, Duration::from_secs(3_600)),
            "m" => (2, Duration::from_secs(60)),
            "s" => (3, Duration::from_secs(1)),
            "ms" => (4, Duration::from_millis(1)),
            "" => {
                return Err(format!(
                    "missing unit after {n} in duration {s:?}; expected {DURATION_HELP}"
                ));
            }
            other => {
                return Err(format!(
                    "unknown unit {other:?} in duration {s:?}; units are ms, s, m, h, d"
                ));
            }
        };
        if last_rank != usize::MAX && rank <= last_rank {
            return Err(format!(
                "invalid duration {s:?}: give each unit once, largest first (\"1h30m\")"
            ));
        }
        last_rank = rank;
        let part = u32::try_from(n)
            .ok()
            .and_then(|n| one.checked_mul(n))
            .ok_or_else(|| format!("duration {s:?} is too large"))?;
        total = total
            .checked_add(part)
            .ok_or_else(|| format!("duration {s:?} is too large"))?;
    }
    Ok(total)
}

/// Parses a size string (binary units, `KiB` = 1024 bytes; `KB`, `MB`, `GB`
/// are accepted as the same binary units, as most sysadmins mean them).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    if let Ok(n) = t.parse::<u64>() {
        return Ok(n);
    }
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    if digits == 0 {
        return Err(format!("invalid size {s:?}; expected {SIZE_HELP}"));
    }
    let n: u64 = t[..digits]
        .parse()
        .map_err(|_| format!("number too large in size {s:?}"))?;
    let mult: u64 = match t[digits..].trim() {
        "B" | "b" => 1,
        "KiB" | "KB" | "K" | "k" | "kB" => 1 << 10,
        "MiB" | "MB" | "M" => 1 << 20,
        "GiB" | "GB" | "G" => 1 << 30,
        other => {
            return Err(format!(
                "unknown unit {other:?} in size {s:?}; expected {SIZE_HELP}"
            ));
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("size {s:?} is too large"))
}

/// Formats a size the way the config writes it: the largest binary unit
/// it is a whole number of (`10MiB`, `2KiB`), else bytes (`1500B`).
pub fn format_size(n: u64) -> String {
    for (unit, shift) in [("GiB", 30), ("MiB", 20), ("KiB", 10)] {
        if n != 0 && n % (1 << shift) == 0 {
            return format!("{}{unit}", n >> shift);
        }
    }
    format!("{n}B")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_format_as_written() {
        for (n, s) in [
            (10 << 20, "10MiB"),
            (2048, "2KiB"),
            (1500, "1500B"),
            (0, "0B"),
            (3 << 30, "3GiB"),
        ] {
            assert_eq!(format_size(n), s);
            assert_eq!(parse_size(s), Ok(n));
        }
    }

    #[test]
    fn durations() {
        let ok = [
            ("500ms", 500),
            ("90s", 90_000),
            ("5m", 300_000),
            ("1h30m", 5_400_000),
            ("2d", 172_800_000),
            ("45", 45_000),
            ("1m30s250ms", 90_250),
        ];
        for (s, ms) in ok {
            assert_eq!(parse_duration(s).map(|d| d.as_millis()), Ok(ms), "{s}");
        }
        for bad in ["", "5x", "m", "30m1h", "1h1h", "5 m", "-5s", "1.5h"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64KiB"), Ok(65_536));
        assert_eq!(parse_size("1MiB"), Ok(1_048_576));
        assert_eq!(parse_size("100MiB"), Ok(104_857_600));
        assert_eq!(parse_size("123"), Ok(123));
        assert!(parse_size("12XB").is_err());
        assert!(parse_size("KiB").is_err());
    }
}

/// Formats a duration the way the config writes it (`1h30m`, `500ms`,
/// `0s`), so the API shows settings as the user typed them.
pub fn format_duration(d: Duration) -> String {
    let mut ms = d.as_millis();
    if ms == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    for (unit, len) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ] {
        if ms >= len {
            out.push_str(&format!("{}{unit}", ms / len));
            ms %= len;
        }
    }
    out
}

#[cfg(test)]
mod format_tests {
    use super::*;

    #[test]
    fn formats_round_trip() {
        for s in ["500ms", "90s", "5m", "1h30m", "2d", "1d2h3m4s5ms"] {
            let d = parse_duration(s).expect("valid");
            assert_eq!(parse_duration(&format_duration(d)), Ok(d), "{s}");
        }
        assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m");
        assert_eq!(format_duration(Duration::ZERO), "0s");
    }
}
