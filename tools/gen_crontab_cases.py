#!/usr/bin/env python3
"""Generate tests/data/crontab_cases.json: crontab lines, each with the
instants Debian's cron fires it at, for the tests of `cronduct import` and
of `crontabs = [...]` (tests/it/crontab_import.rs).

Two parts:

- "schedules": the time part of crontab lines, in Debian cron's syntax
  only (names, ranges, steps, lists, 0/7 Sunday, the day-of-month /
  day-of-week OR rule, the macros), in several zones and across DST
  changes. The instants come from the `cronsim` library (which models
  Debian cron, DST handling included), cross-checked against the
  brute-force model of tools/gen_cronsim_cases.py; where the two differ,
  the brute-force answer is kept only when that script explains the
  difference (cronsim's known DST deviations), else this script fails.
  Macros are expanded as Debian's cron does (entry.c: @daily = "0 0 * * *"...).

- "files": whole crontab files with what cron makes of each job line: the
  command, its standard input, the variables, the shell, the user and
  where mail goes. These rules are not cronsim's business; they are
  written here from Debian cron's crontab(5) and its source (env.c
  load_env for variable lines, do_command.c child_process for `%`,
  entry.c load_entry for the user field and the defaults PATH=/usr/bin:/bin
  and SHELL=/bin/sh), one case per rule.

Usage (outside the repository, in a throwaway venv):

    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install cronsim==2.8
    /tmp/venv/bin/python tools/gen_crontab_cases.py > tests/data/crontab_cases.json
"""

from __future__ import annotations

import json
import os
import sys
from importlib.metadata import version
from zoneinfo import ZoneInfo

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_cronsim_cases as ref  # noqa: E402

N = 6

SCHEDULES: list[tuple[str, str, str, str]] = []


def add(group: str, tz: str, start: str, *lines: str) -> None:
    for line in lines:
        SCHEDULES.append((group, tz, start, line))


T0 = "2026-01-15T10:17:23Z"  # a Thursday
add("every minute", "UTC", T0, "* * * * *")
add("values", "UTC", T0, "5 * * * *", "0 12 * * *", "15 14 1 * *", "59 23 31 12 *")
add("steps", "UTC", T0, "*/15 * * * *", "0 */3 * * *", "*/7 * * * *", "0 0 */10 * *",
    "*/100 * * * *")
add("ranges", "UTC", T0, "10-20 * * * *", "0 9-11 * * *", "0 4 8-14 * *", "0 0 * 6-8 *")
add("range steps", "UTC", T0, "10-50/15 * * * *", "23 0-23/2 * * *", "0 0 1-20/5 * *")
add("lists", "UTC", T0, "0,15,45 9,17 * * *", "0,10-12,*/25 * * * *", "0 1-3,22 * * *")
add("month names", "UTC", T0, "0 0 1 JAN,jul *", "0 0 1 jan-Mar *", "0 6 * dec *",
    "0 0 15 feb-apr/2 *")
add("day names", "UTC", T0, "0 9 * * mon-fri", "5 4 * * sun", "0 9 * * Sat,SUN",
    "0 0 * * tue-thu/2")
add("day numbers", "UTC", T0, "0 22 * * 1-5", "0 12 * * 0", "0 12 * * 7", "0 0 * * 5-7",
    "0 0 * * */2")
add("dom and dow: both must match when one starts with *", "UTC", T0,
    "0 0 */2 * 1", "0 0 * * 1", "0 0 13 * *", "0 0 */5 * fri", "0 0 1 * */3")
add("dom or dow: either may match when neither starts with *", "UTC", T0,
    "0 0 1 * 1", "0 0 1-7 * 1", "0 0 13 * 5", "0 0 1,15 * wed", "0 0 29 2 1")
add("macros", "UTC", T0, "@yearly", "@annually", "@monthly", "@weekly", "@daily",
    "@midnight", "@hourly")
add("year end", "UTC", "2026-12-31T23:59:30Z", "* * * * *", "0 0 1 1 *")
add("leap day", "UTC", "2027-06-01T00:00:00Z", "0 12 29 2 *")
add("zone offset", "America/New_York", "2026-06-10T08:00:00-04:00", "0 9 * * 1-5", "@daily")
# Europe/Berlin: 2026-03-29 02:00 -> 03:00; 2026-10-25 03:00 -> 02:00.
add("dst gap, fixed time", "Europe/Berlin", "2026-03-28T12:00:00+01:00",
    "30 2 * * *", "0 2 * * *", "15,45 2 * * *", "59 1 * * *", "0 3 * * *")
add("dst gap, elapsed time", "Europe/Berlin", "2026-03-29T01:00:00+01:00",
    "*/30 * * * *", "0 * * * *", "*/15 2 * * *", "@hourly")
add("dst repeat, fixed time", "Europe/Berlin", "2026-10-24T12:00:00+02:00",
    "30 2 * * *", "0 2 * * *", "0 1-3 * * *")
add("dst repeat, elapsed time", "Europe/Berlin", "2026-10-25T01:30:00+02:00",
    "*/30 * * * *", "0 * * * *", "20 * * * *")
add("dst, southern hemisphere", "Australia/Sydney", "2026-10-03T12:00:00+10:00",
    "30 2 * * *", "*/30 * * * *")


def instants(line: str, tz: str, start: str) -> list[str]:
    zone = ZoneInfo(tz)
    expr = ref.MACROS.get(line, line)
    begin = ref.parse_from(start, zone)
    brute = ref.brute_force(expr, zone, begin, N)
    raw = ref.via_cronsim(expr, zone, begin, N)
    if raw != brute:
        why = ref.explain_deviation(expr, zone, begin, raw, brute)
        if why is None:
            sys.exit(f"cronsim and the brute-force model disagree on {line!r} in {tz}")
        print(f"note: {line!r} in {tz}: {why}", file=sys.stderr)
    return brute


# Whole files: text, format, and for each job line (by line number) what
# cron makes of it. "env" is every variable the command gets from the
# file (PATH always: cron's default when the file sets none); "mail" the
# addresses a run's mail goes to ([] for none).
FILES = [
    {
        "name": "env-rules",
        "format": "user",
        "owner": "root",
        "text": (
            "# a comment, then a blank line\n"
            "\n"
            "0 1 * * * echo defaults\n"
            "SHELL=/bin/bash\n"
            "PATH = /opt/bin:/usr/bin:/bin\n"
            "  GREETING = hello  world   \n"
            "QUOTED=\" keep blanks \"\n"
            "SINGLE='single'\n"
            "\"SPACED NAME\"=x\n"
            "HASH=a # not a comment\n"
            "TZ=Asia/Tokyo\n"
            "MAILTO=ops,dev@example.com\n"
            "0 2 * * * echo vars\n"
            "MAILTO=\"\"\n"
            "EMPTY=''\n"
            "0 3 * * * echo nomail\n"
        ),
        "jobs": {
            "3": {"command": "echo defaults", "stdin": None, "shell": "/bin/sh",
                  "env": {"PATH": "/usr/bin:/bin"}, "mail": ["root@localhost"]},
            "13": {"command": "echo vars", "stdin": None, "shell": "/bin/bash",
                   "env": {"PATH": "/opt/bin:/usr/bin:/bin", "GREETING": "hello  world",
                           "QUOTED": " keep blanks ", "SINGLE": "single", "SPACED NAME": "x",
                           "HASH": "a # not a comment", "TZ": "Asia/Tokyo"},
                   "mail": ["ops@localhost", "dev@example.com"]},
            "16": {"command": "echo nomail", "stdin": None, "shell": "/bin/bash",
                   "env": {"PATH": "/opt/bin:/usr/bin:/bin", "GREETING": "hello  world",
                           "QUOTED": " keep blanks ", "SINGLE": "single", "SPACED NAME": "x",
                           "HASH": "a # not a comment", "TZ": "Asia/Tokyo", "EMPTY": ""},
                   "mail": []},
        },
    },
    {
        "name": "percent",
        "format": "user",
        "owner": "root",
        "text": (
            "0 1 * * * date +\\%Y-\\%m-\\%d\n"
            "0 2 * * * mail -s hi joe%Joe,%%Where are you?%\n"
            "0 3 * * * cat%50\\% done\n"
            "0 4 * * * printf 'a\\\\b'\n"
        ),
        "jobs": {
            "1": {"command": "date +%Y-%m-%d", "stdin": None},
            "2": {"command": "mail -s hi joe", "stdin": "Joe,\n\nWhere are you?\n"},
            "3": {"command": "cat", "stdin": "50% done"},
            "4": {"command": "printf 'a\\\\b'", "stdin": None},
        },
    },
    {
        "name": "system",
        "format": "system",
        "owner": "root",
        "text": (
            "SHELL=/bin/sh\n"
            "PATH=/usr/local/sbin:/usr/local/bin:/sbin:/bin:/usr/sbin:/usr/bin\n"
            "17 *\t* * *\troot\tcd / && run-parts --report /etc/cron.hourly\n"
            "@reboot nobody echo booted\n"
            "*/5 * * * * nobody   echo as nobody\n"
        ),
        "jobs": {
            "3": {"command": "cd / && run-parts --report /etc/cron.hourly", "user": "root",
                  "mail": ["root@localhost"]},
            "4": {"command": "echo booted", "user": "nobody", "mail": ["nobody@localhost"]},
            "5": {"command": "echo as nobody", "user": "nobody",
                  "mail": ["nobody@localhost"]},
        },
    },
]


def main() -> None:
    cases = [
        {"group": g, "zone": tz, "from": start, "schedule": line,
         "next": instants(line, tz, start)}
        for g, tz, start, line in SCHEDULES
    ]
    json.dump(
        {
            "generator": "tools/gen_crontab_cases.py",
            "cronsim": version("cronsim"),
            "tzdata": ref.tzdata_version(),
            "schedules": cases,
            "files": FILES,
        },
        sys.stdout,
        indent=1,
        ensure_ascii=False,
    )
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
