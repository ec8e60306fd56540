#!/usr/bin/env python3
"""Generate tests/data/cronsim_cases.json: reference fire instants for
cronduct's schedule engine, computed with the Python `cronsim` library.

Why cronsim: cronduct.toml(5) SCHEDULES says schedules behave "exactly as Debian cron and the
`cronsim` library", including across DST changes. This script asks cronsim
for the next instants of each case and writes them with their UTC offsets,
so the Rust tests compare both the instant and the offset.

Every cronsim answer is cross-checked against a brute-force model written
here from the SCHEDULES section of cronduct.toml(5) (scan the local wall clock minute by minute or
second by second). The two agree except where cronsim contradicts cronduct.toml(5):
then the case keeps cronsim's raw answer under "cronsim", the brute-force
answer under "expected", and a "note" saying why. The script prints every
such case, and fails on any other disagreement.

Usage (outside the repository, in a throwaway venv):

    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install cronsim==2.8
    /tmp/venv/bin/python tools/gen_cronsim_cases.py > tests/data/cronsim_cases.json

The time zone data is the system's (/usr/share/zoneinfo, via zoneinfo);
its version is recorded in the output and must match chrono-tz's bundled
tzdata for the offsets to agree (both 2025b when this was generated).
"""

from __future__ import annotations

import calendar
import json
import sys
from datetime import date, datetime, time, timedelta, timezone
from importlib.metadata import version
from zoneinfo import ZoneInfo

from cronsim import CronSim

UTC = timezone.utc
N = 6  # instants per case unless a case says otherwise

# Macros as Debian cron defines them (cronsim has no macros): the case is
# computed from the expansion and stored under the macro's name.
MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


def tzdata_version() -> str:
    try:
        with open("/usr/share/zoneinfo/tzdata.zi", encoding="ascii") as f:
            return f.readline().strip().removeprefix("# version ")
    except OSError:
        return "unknown"


def parse_from(s: str, zone: ZoneInfo) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00")).astimezone(zone)


def canonical(dt: datetime, zone: ZoneInfo) -> str:
    """The instant in `zone` with its real offset. cronsim can hand back a
    wall time inside a gap; going through UTC names the real instant."""
    return dt.astimezone(UTC).astimezone(zone).isoformat()


def is_fixed_time(expr: str) -> bool:
    parts = expr.split()
    return len(parts) == 5 and not parts[0].startswith("*") and not parts[1].startswith("*")


def brute_force(expr: str, zone: ZoneInfo, start: datetime, n: int) -> list[str]:
    """The cronduct.toml(5) SCHEDULES model, by exhaustive scan. Day matching reuses cronsim's
    (it is not where DST behaviour lives); everything about time of day,
    gaps and repeats is independent of cronsim."""
    sim = CronSim(expr, start)
    start_utc = start.astimezone(UTC).replace(microsecond=0)
    out: list[datetime] = []
    day = start.date() - timedelta(days=1)
    # 400 years bound the search like the engine's own bound.
    limit = day + timedelta(days=146097)
    prev = start_utc

    def day_matches(d: date) -> bool:
        return d.month in sim.months and sim.match_day(d)

    if is_fixed_time(expr):
        # Wall clock: each scheduled local time once; a skipped one moves to
        # the first whole minute after the gap; a repeated one takes its
        # first occurrence; nothing at or before `start` or the previous one.
        while len(out) < n and day < limit:
            if day_matches(day):
                for h in sorted(sim.hours):
                    for m in sorted(sim.minutes):
                        wall = datetime.combine(day, time(h, m))
                        t = wall.replace(tzinfo=zone, fold=0)
                        while not exists(t, zone):
                            wall += timedelta(minutes=1)
                            t = wall.replace(tzinfo=zone, fold=0)
                        tu = t.astimezone(UTC)
                        if tu > prev and len(out) < n:
                            out.append(tu)
                            prev = tu
            day += timedelta(days=1)
    else:
        # Elapsed time: walk real instants; fire where the local wall clock
        # matches. Skipped wall times never show up; repeated ones twice.
        step = 60 if sim.seconds == {0} else 1
        while len(out) < n and day < limit:
            if day_matches(day):
                lo = datetime.combine(day, time(), tzinfo=UTC) - timedelta(hours=15)
                hi = lo + timedelta(hours=24 + 30)
                t = max(lo, prev + timedelta(seconds=1))
                if step == 60 and t.second:
                    t += timedelta(seconds=60 - t.second)
                while t < hi and len(out) < n:
                    local = t.astimezone(zone)
                    if (
                        local.date() == day
                        and local.hour in sim.hours
                        and local.minute in sim.minutes
                        and local.second in sim.seconds
                    ):
                        out.append(t)
                        prev = t
                    t += timedelta(seconds=step)
            day += timedelta(days=1)
    return [canonical(t, zone) for t in out]


def exists(t: datetime, zone: ZoneInfo) -> bool:
    return t.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == t.replace(tzinfo=None)


def via_cronsim(expr: str, zone: ZoneInfo, start: datetime, n: int) -> list[str]:
    it = CronSim(expr, start)
    return [canonical(next(it), zone) for _ in range(n)]


def repeated(t: datetime, zone: ZoneInfo) -> bool:
    """Whether the wall time of `t` occurs twice in `zone`."""
    wall = t.astimezone(zone).replace(tzinfo=None)
    a = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    b = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    return a != b and exists(wall.replace(tzinfo=zone), zone)


def explain_deviation(
    expr: str, zone: ZoneInfo, start: datetime, raw: list[str], brute: list[str]
) -> str | None:
    """Why cronsim's answer breaks cronduct.toml(5), or None if it does not."""
    start_s = start.astimezone(UTC).replace(microsecond=0)
    got = [datetime.fromisoformat(s) for s in raw]
    horizon = min(got[-1], datetime.fromisoformat(brute[-1]))
    missed = [datetime.fromisoformat(s) for s in brute if s not in raw]
    missed = [t for t in missed if t <= horizon]
    if not is_fixed_time(expr) and missed and all(repeated(t, zone) for t in missed):
        return (
            "cronsim skips the second occurrence of a repeated wall time "
            f"({', '.join(t.isoformat() for t in missed)}): its jump to a single-valued minute "
            "assumes whole-hour DST shifts; cronduct.toml(5): for a non-fixed-time expression repeated "
            "times fire on each occurrence"
        )
    if got and got[0] <= start_s:
        return (
            "cronsim returns an instant at or before 'from' (it restarts the wall clock at the "
            "second pass of a repeated hour); cronduct.toml(5): strictly after 'from', and a fixed-time job "
            "whose first occurrence has passed waits for the next day"
        )
    for a, b in zip(got, got[1:]):
        if b <= a:
            return "cronsim repeats an instant; cronduct.toml(5): strictly increasing"
    if not is_fixed_time(expr):
        sim = CronSim(expr, start)
        for t in got:
            if t.hour not in sim.hours or t.minute not in sim.minutes:
                return (
                    f"cronsim fires a wall time skipped by the DST gap (as {t.isoformat()}, the real "
                    "instant of the skipped midnight); cronduct.toml(5): for a non-fixed-time expression "
                    "skipped times never happen"
                )
    return None


# (expr, tz, from[, n]) — grouped by what they cover.
CASES: list[tuple] = []


def add(group: str, tz: str, start: str, *exprs: str, n: int = N) -> None:
    for e in exprs:
        CASES.append((group, e, tz, start, n))


T0 = "2026-01-15T10:17:23Z"  # a Thursday, mid-month, off the minute

# --- basic syntax ---------------------------------------------------------
add("wildcard", "UTC", T0, "* * * * *")
add("single", "UTC", T0, "5 * * * *", "0 12 * * *", "15 14 1 * *")
add("step", "UTC", T0, "*/15 * * * *", "0 */3 * * *", "*/7 * * * *", "0 0 */10 * *")
add("range", "UTC", T0, "10-20 * * * *", "0 9-11 * * *", "0 4 8-14 * *")
add("range-step", "UTC", T0, "10-50/15 * * * *", "23 0-20/2 * * *", "0 0 1-20/5 * *")
add("start-step", "UTC", T0, "7/20 * * * *", "0 5/6 * * *", "0 0 3/10 * *", "0 0 1 2/4 *")
add("list", "UTC", T0, "0,15,45 9,17 * * *", "0 0,12 1 */2 *", "1,2,3,58,59 * * * *")
add("list-mixed", "UTC", T0, "0,10-12,*/25 * * * *", "0 1-3,22 * * *")
add("month-names", "UTC", T0, "0 0 1 JAN,JUL *", "0 0 1 jan-mar *", "0 0 15 Feb-Apr/2 *",
    "0 6 * DEC *")
add("day-names", "UTC", T0, "0 9 * * MON-FRI", "0 9 * * mon-fri", "0 9 * * Sat,Sun",
    "5 4 * * sun", "0 0 * * TUE/3")
add("dow-numbers", "UTC", T0, "0 9 * * 1-5", "0 22 * * 1-5", "0 0 * * 6,0", "0 0 * * */2",
    "0 0 * * 1/2")
add("sunday-0-7", "UTC", T0, "0 12 * * 0", "0 12 * * 7", "0 12 * * SUN", "0 0 * * 5-7",
    "0 0 * * 0,7")
add("months", "UTC", T0, "0 0 1 */3 *", "30 6 * 6-8 *", "0 0 * 2 *")
add("dom-edge", "UTC", T0, "0 0 31 * *", "0 0 30 1-3 *", "0 0 29 2 *", "0 0 L 2 *")
add("dom-dow-and", "UTC", T0, "0 0 */2 * 1", "0 0 * * 1", "0 0 */5 * FRI", "0 0 1 * *",
    "0 0 13 * */3", "0 0 */2 * 1-5")
add("dom-dow-or", "UTC", T0, "0 0 1 * 1", "0 0 1-7 * 1", "0 0 13 * 5", "0 0 1,15 * 3",
    "0 0 L * 5", "0 0 29 2 1")
add("last-day", "UTC", T0, "0 0 L * *", "30 23 L * *", "0 0 L 4,6 *")
add("last-weekday", "UTC", T0, "0 0 LW * *", "0 18 LW 5,8 *")
add("last-dow", "UTC", T0, "0 0 * * 5L", "0 0 * * 0L", "0 0 * * 7L", "0 9 * * 1L")
add("nth-dow", "UTC", T0, "0 0 * * 5#2", "0 0 * * MON#1", "0 0 * * 2#5", "0 0 * 2 1#5",
    "0 0 * * 1#1,5L")
add("seconds", "UTC", T0, "*/10 * * * * *", "30 0 12 * * *", "0 0 0 1 1 *",
    "15,45 */2 * * * *", "0-5 * * * * *", "0 */30 9-10 * * MON-FRI")
add("macro", "UTC", T0, *MACROS)

# boundaries of year, month, leap day; a sub-second "from"
add("year-end", "UTC", "2026-12-31T23:59:30Z", "* * * * *", "0 0 1 1 *", "59 23 31 12 *")
add("leap", "UTC", "2027-06-01T00:00:00Z", "0 12 29 2 *", "0 0 L 2 *", n=4)
add("exact-from", "UTC", "2026-01-15T12:00:00Z", "0 12 * * *", "0 * * * *")
add("subsecond-from", "UTC", "2026-01-15T12:00:00.500Z", "* * * * * *", "0 12 * * *")

# the same expressions in a zone with an offset, away from DST changes
add("zone-offset", "Europe/Berlin", "2026-06-10T08:00:00+02:00",
    "0 9 * * *", "*/20 * * * *", "0 0 L * *", "@weekly", "0 0 * * 5#2")
add("zone-offset", "America/New_York", "2026-06-10T08:00:00-04:00", "0 9 * * 1-5", "@daily")

# --- DST: spring forward (gap) and fall back (repeat) ---------------------
FIXED = "fixed-time"
WILD = "elapsed-time"

# Europe/Berlin: 2026-03-29 02:00 -> 03:00; 2026-10-25 03:00 -> 02:00.
add(f"dst-gap {FIXED}", "Europe/Berlin", "2026-03-28T12:00:00+01:00",
    "30 2 * * *", "0 2 * * *", "15,45 2 * * *", "0,30 2 * * *", "0 1-3 * * *", "59 1 * * *",
    "30 2 29 3 *", "0 3 * * *", "0 2 * * 0")
add(f"dst-gap {WILD}", "Europe/Berlin", "2026-03-29T01:00:00+01:00",
    "*/30 * * * *", "0 * * * *", "*/15 2 * * *", "30 * * * *", "0 */2 * * *", "@hourly",
    "0 30 2 * * *", "*/20 1-3 * * *", "* 2 * * *")
add(f"dst-repeat {FIXED}", "Europe/Berlin", "2026-10-24T12:00:00+02:00",
    "30 2 * * *", "0 2 * * *", "15,45 2 * * *", "0 1-3 * * *", "0 3 * * *")
add(f"dst-repeat {WILD}", "Europe/Berlin", "2026-10-25T01:30:00+02:00",
    "*/30 * * * *", "0 * * * *", "*/15 2 * * *", "@hourly", "0 30 2 * * *", "20 * * * *")
# "from" inside the repeated hour, first pass and second pass
add("dst-repeat from-first-pass", "Europe/Berlin", "2026-10-25T02:10:00+02:00",
    "30 2 * * *", "*/20 * * * *", "45 2 * * *", n=4)
add("dst-repeat from-second-pass", "Europe/Berlin", "2026-10-25T02:10:00+01:00",
    "30 2 * * *", "*/20 * * * *", "45 2 * * *", "0 3 * * *", n=4)
add("dst-gap from-at-transition", "Europe/Berlin", "2026-03-29T03:00:00+02:00",
    "30 2 * * *", "0 3 * * *", "*/30 * * * *", n=4)

# America/New_York: 2026-03-08 02:00 -> 03:00; 2026-11-01 02:00 -> 01:00.
add(f"dst-gap {FIXED}", "America/New_York", "2026-03-07T12:00:00-05:00",
    "30 2 * * *", "0 2 * * *", "5 2 * * 0", "0 2 8 3 *", "30 1,2,3 * * *", "@daily")
add(f"dst-gap {WILD}", "America/New_York", "2026-03-08T01:00:00-05:00",
    "*/30 * * * *", "0 * * * *", "*/10 2 * * *", "0 0 2 * * *", "15 */1 * * *")
add(f"dst-repeat {FIXED}", "America/New_York", "2026-10-31T12:00:00-04:00",
    "30 1 * * *", "0 1 * * *", "0,30 1 * * *", "0 1-2 * * *", "0 2 * * *")
add(f"dst-repeat {WILD}", "America/New_York", "2026-11-01T00:30:00-04:00",
    "*/30 * * * *", "0 * * * *", "*/20 1 * * *", "0 30 1 * * *", "@hourly")
add("dst-repeat from-second-pass", "America/New_York", "2026-11-01T01:20:00-05:00",
    "30 1 * * *", "*/15 * * * *", n=4)

# Australia/Lord_Howe: half-hour shift. 2026-04-05 02:00 -> 01:30 (repeat
# 01:30-02:00); 2026-10-04 02:00 -> 02:30 (gap 02:00-02:30).
add(f"dst-gap {FIXED}", "Australia/Lord_Howe", "2026-10-03T12:00:00+10:30",
    "15 2 * * *", "0 2 * * *", "0,15,30,45 2 * * *", "29 2 * * *", "30 2 * * *", "@daily")
add(f"dst-gap {WILD}", "Australia/Lord_Howe", "2026-10-04T01:00:00+10:30",
    "*/15 * * * *", "0 * * * *", "*/10 2 * * *", "15 * * * *", "0 15 2 * * *")
add(f"dst-repeat {FIXED}", "Australia/Lord_Howe", "2026-04-04T12:00:00+11:00",
    "45 1 * * *", "30 1 * * *", "0 2 * * *", "40,50 1 * * *")
add(f"dst-repeat {WILD}", "Australia/Lord_Howe", "2026-04-05T01:00:00+11:00",
    "*/15 * * * *", "0 * * * *", "45 * * * *", "*/10 1 * * *", "0 45 1 * * *")

# America/Santiago: changes at midnight. 2026-09-06 00:00 -> 01:00 (gap is the
# first hour of Sunday); 2026-04-05 00:00 -> 2026-04-04 23:00 (Saturday's
# last hour repeats).
add(f"dst-gap {FIXED}", "America/Santiago", "2026-09-05T12:00:00-04:00",
    "0 0 * * *", "30 0 * * *", "@daily", "@midnight", "0 0 6 9 *", "0 0 * * 0", "15 0,1 * * *")
add(f"dst-gap {WILD}", "America/Santiago", "2026-09-05T22:00:00-04:00",
    "*/30 * * * *", "0 * * * *", "*/15 0 * * *", "0 0 0 * * *", "@hourly", "* 0,1 * * *")
add(f"dst-repeat {FIXED}", "America/Santiago", "2026-04-04T12:00:00-03:00",
    "30 23 * * *", "0 23 * * *", "0 0 * * *", "@daily", "45 22,23 * * *")
add(f"dst-repeat {WILD}", "America/Santiago", "2026-04-04T22:30:00-03:00",
    "*/30 * * * *", "0 * * * *", "*/20 23 * * *", "0 30 23 * * *")

# America/Havana: changes at midnight the other way round. 2026-03-08
# 00:00 -> 01:00 (gap); 2026-11-01 01:00 -> 00:00 (the midnight hour repeats).
add(f"dst-gap {FIXED}", "America/Havana", "2026-03-07T12:00:00-05:00",
    "0 0 * * *", "30 0 * * *", "@daily", "@weekly", "0 0 8 3 *", "0,30 0,1 * * *")
add(f"dst-gap {WILD}", "America/Havana", "2026-03-07T23:00:00-05:00",
    "*/30 * * * *", "0 * * * *", "*/15 0 * * *", "0 0 0 * * *", "@hourly")
add(f"dst-repeat {FIXED}", "America/Havana", "2026-10-31T12:00:00-04:00",
    "0 0 * * *", "30 0 * * *", "@daily", "@monthly", "0 0 1 11 *")
add(f"dst-repeat {WILD}", "America/Havana", "2026-10-31T23:30:00-04:00",
    "*/30 * * * *", "0 * * * *", "*/20 0 * * *", "0 0 0 * * *")
add("dst-repeat from-second-pass", "America/Havana", "2026-11-01T00:10:00-05:00",
    "30 0 * * *", "*/30 * * * *", n=4)

# Whole-year walks: every transition of 2026 in each zone.
for zone_name in ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe",
                  "America/Santiago", "America/Havana"]:
    add("dst-year fixed-time", zone_name, "2026-01-01T00:00:00Z", "30 2 * * 0", n=60)
    add("dst-year elapsed-time", zone_name, "2026-01-01T00:00:00Z", "0 0 * * 0", n=60)


def main() -> int:
    cases = []
    deviations = 0
    for group, expr, tz_name, start_s, n in CASES:
        zone = ZoneInfo(tz_name)
        start = parse_from(start_s, zone)
        sim_expr = MACROS.get(expr, expr)
        raw = via_cronsim(sim_expr, zone, start, n)
        brute = brute_force(sim_expr, zone, start, n)
        case = {"group": group, "expr": expr, "tz": tz_name, "from": start_s, "expected": brute}
        if expr in MACROS:
            case["note"] = f"cronsim has no macros; computed from the Debian expansion {sim_expr!r}"
        if raw != brute:
            why = explain_deviation(sim_expr, zone, start, raw, brute)
            if why is None:
                print(f"UNEXPLAINED disagreement {expr!r} {tz_name} {start_s}\n"
                      f"  cronsim: {raw}\n  brute:   {brute}", file=sys.stderr)
                return 1
            deviations += 1
            case["cronsim"] = raw
            case["note"] = why
            print(f"deviation: {expr!r} {tz_name} from {start_s}: {why}\n"
                  f"  cronsim: {raw}\n  spec:    {brute}", file=sys.stderr)
        cases.append(case)

    doc = {
        "about": (
            "Reference fire instants for cronduct's schedule engine (cronduct.toml(5) SCHEDULES). 'expected' are "
            "the next instants strictly after 'from', RFC 3339 with the zone's offset. They come "
            "from the Python cronsim library, cross-checked by a brute-force scan of cronduct.toml(5)'s "
            "rules; where cronsim breaks cronduct.toml(5)'s semantics, its raw answer is kept under 'cronsim' with a "
            "'note'. Regenerate, never hand-edit."
        ),
        "generator": "tools/gen_cronsim_cases.py",
        "command": "/tmp/venv/bin/python tools/gen_cronsim_cases.py > tests/data/cronsim_cases.json",
        "cronsim_version": version("cronsim"),
        "python_version": sys.version.split()[0],
        "tzdata_version": tzdata_version(),
        "deviations": deviations,
        "cases": cases,
    }
    json.dump(doc, sys.stdout, indent=1, ensure_ascii=False)
    sys.stdout.write("\n")
    print(f"{len(cases)} cases, {deviations} where cronsim deviates from cronduct.toml(5)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
