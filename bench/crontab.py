#!/usr/bin/env python3
"""Crontab benchmarks for cronduct (issue 14: migration from cron).

    cargo build --release && python3 bench/crontab.py [--runs 5] [--bin PATH]

Measures, each the median over --runs runs:
  import     `cronduct import --system FILE -o OUT` of a generated
             10,000-line system crontab (job lines with names, ranges,
             steps, lists, macros, `%` input, two users, and a variable
             line every 50 lines), wall time of the process (target ≤ 0.2 s);
             the output is checked once with `cronduct check`.
  reload     a daemon with `crontabs = ["DIR/*"]` over 100 files of 10
             lines each: one file is edited (a line added), then
             - "reload ms": the round trip of POST /api/v1/reload, which
               re-reads and converts all 100 files and applies the diff
               (target ≤ 50 ms);
             - "edit to listed ms": from the rename of the edited file
               into place until GET /api/v1/jobs lists the new job,
               through the file watcher; this includes the daemon's
               200 ms debounce, which waits for a writer to finish.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import daemon as d  # noqa: E402


def crontab_10k(path):
    days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    lines = ["SHELL=/bin/sh", "PATH=/usr/local/sbin:/usr/local/bin:/sbin:/bin:/usr/sbin:/usr/bin"]
    i = 0
    while len(lines) < 10_000:
        if i % 50 == 0:
            lines.append(f"MAILTO=ops{i % 7}")
        user = "root" if i % 3 else "nobody"
        kind = i % 6
        if kind == 0:
            when = f"{i % 60} {i % 24} * * *"
        elif kind == 1:
            when = f"*/{i % 29 + 1} * * * *"
        elif kind == 2:
            when = f"{i % 60} 9-17 * jan-jun {days[i % 5]}-fri"
        elif kind == 3:
            when = f"0,15,30,45 {i % 24} 1-15/2 * *"
        elif kind == 4:
            when = ["@daily", "@hourly", "@weekly", "@monthly", "@reboot"][i % 5]
        else:
            when = f"{i % 60} {i % 24} {i % 28 + 1} * 1"
        command = f"/usr/local/bin/task-{i} --flag {i} >> /var/log/task.log 2>&1"
        if i % 10 == 0:
            command = f"mail -s report-{i} root%line one%line \\% two"
        lines.append(f"{when} {user} {command}")
        i += 1
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def bench_import(runs):
    tmp = tempfile.mkdtemp(prefix="cronduct-bench-import-")
    src = os.path.join(tmp, "crontab")
    out = os.path.join(tmp, "jobs.toml")
    crontab_10k(src)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([d.BIN, "import", "--system", src, "-o", out], check=True)
        times.append(time.perf_counter() - t0)
    subprocess.run([d.BIN, "check", "-q", "-c", out], check=True)
    with open(out) as f:
        jobs = sum(1 for line in f if line.startswith("[jobs."))
    return {"lines": 10_000, "jobs": jobs, "import s": statistics.median(times)}


def write_atomically(path, text):
    tmp = os.path.join(os.path.dirname(path), "." + os.path.basename(path) + ".tmp")
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def listed(daemon, job):
    body = json.loads(daemon.request("GET", "/api/v1/jobs"))
    return any(j["id"] == job for j in body["jobs"])


def bench_reload(runs):
    reload_ms, edit_ms = [], []
    for run in range(runs):
        tmp = tempfile.mkdtemp(prefix="cronduct-bench-crontabs-")
        cron_d = os.path.join(tmp, "cron.d")
        os.mkdir(cron_d)
        files = []
        for f in range(100):
            path = os.path.join(cron_d, f"app{f:03d}")
            text = 'MAILTO=""\n' + "".join(
                f"{(f + n) % 60} {n % 24} * * * root /usr/local/bin/app{f}-task{n}\n" for n in range(10)
            )
            with open(path, "w") as fh:
                fh.write(text)
            files.append((path, text))
        daemon = d.Daemon("")
        # `crontabs` is a top-level key: it goes above the [daemon] table
        # the fixture writes.
        with open(daemon.config) as fh:
            body = fh.read()
        with open(daemon.config, "w") as fh:
            fh.write(f'crontabs = ["{cron_d}/*"]\n' + body)
        daemon.start()
        try:
            assert len(json.loads(daemon.request("GET", "/api/v1/jobs"))["jobs"]) == 1000
            path, text = files[run % 100]
            # Through the API: the reload itself.
            write_atomically(path, text + "0 4 * * * root /usr/local/bin/added-by-api\n")
            t0 = time.perf_counter()
            daemon.request("POST", "/api/v1/reload")
            reload_ms.append((time.perf_counter() - t0) * 1000)
            assert listed(daemon, f"app{run % 100:03d}-added-by-api")
            # Through the watcher: edit, then poll the job list.
            write_atomically(path, text + "0 5 * * * root /usr/local/bin/added-by-edit\n")
            t0 = time.perf_counter()
            while not listed(daemon, f"app{run % 100:03d}-added-by-edit"):
                if time.perf_counter() - t0 > 10:
                    raise RuntimeError("the edit was not picked up")
                time.sleep(0.002)
            edit_ms.append((time.perf_counter() - t0) * 1000)
        finally:
            daemon.stop()
    return {
        "files": 100,
        "jobs": 1000,
        "reload ms": statistics.median(reload_ms),
        "edit to listed ms": statistics.median(edit_ms),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--bin", default=d.BIN)
    args = ap.parse_args()
    d.BIN = os.path.abspath(args.bin)
    if not os.path.exists(d.BIN):
        sys.exit(f"{d.BIN} is missing: run `cargo build --release` first")
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    print(f"cronduct crontab benchmark, median of {args.runs} runs, {time.strftime('%Y-%m-%d %H:%M')}, "
          f"{os.cpu_count()} CPUs, load average before: {load}\n")
    print("| scenario | result | target |\n|---|---|---|", flush=True)
    for name, fn, target in [
        ("import of a 10,000-line crontab", bench_import, "≤ 0.2 s"),
        ("crontabs over 100 files, one edited", bench_reload, "reload ≤ 50 ms"),
    ]:
        res = fn(args.runs)
        cells = ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in res.items())
        print(f"| {name} | {cells} | {target} |", flush=True)


if __name__ == "__main__":
    main()
