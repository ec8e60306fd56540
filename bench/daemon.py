#!/usr/bin/env python3
"""Daemon performance benchmark for cronduct (issue: daemon core targets).

Runs the release binary on generated configs in temp dirs and prints the
figures as a markdown table. Every figure is the median over --runs runs.

    cargo build --release && python3 bench/daemon.py [--runs 3] [--quick]
        [--only lateness,idle,rss,burst,reload] [--bin PATH]

Measures:
  lateness   start lateness of per-second jobs (one job alone, and ten
             due in the same second): the `start` line's ts minus
             scheduled_at (p50/p99), and the job's own time: each job is
             `date +%s%N` run directly (no shell), and the nanoseconds it
             printed (its finish record's stdout) minus scheduled_at. For
             the ten, "first"/"last" are the p50 of the earliest and of the
             latest start within each second (by the child's time).
  idle_cpu   CPU seconds used in 60 s by a daemon holding 1,000 yearly jobs
  rss        resident memory with 100 and with 10,000 jobs, 2 s after a
             job run at start (so the job machinery is counted); also the
             PSS, and the RSS again after a reload and a few API requests
  burst      2,000 jobs due in the same second: time from that instant
             until the last `start` line, and the p50 of all of them
  reload     POST /api/v1/reload of a 10,000-job file, round trip

--job-keys adds TOML lines to every generated job (lateness, idle, rss),
e.g. the health keys: --job-keys 'warn_after = "1h"\nexpect_success_within = "400d"'
(an older binary that lacks a key refuses the config, so compare a
binary before a key existed without it).

Log timestamps have millisecond resolution (truncated), so log figures
are whole milliseconds; child figures are exact.
"""

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timedelta, timezone

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "cronduct")
SCENARIOS = ("lateness", "idle", "rss", "burst", "reload")
KEY = "bench-key"
# TOML lines added to every job of the lateness, idle and rss scenarios.
JOB_KEYS = ""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def parse_ts(s):
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


class Daemon:
    def __init__(self, jobs_toml, extra_daemon=""):
        self.dir = tempfile.mkdtemp(prefix="cronduct-bench-")
        self.port = free_port()
        self.config = os.path.join(self.dir, "jobs.toml")
        # The log lives in the state dir, as by default (cronduct.toml(5) FILES), not next
        # to the config: the config watcher watches the config's directory
        # and would wake for every line written.
        self.log = os.path.join(self.dir, "state", "runs.jsonl")
        with open(self.config, "w") as f:
            f.write(
                f'[daemon]\nlisten = "127.0.0.1:{self.port}"\nstate_dir = "{self.dir}/state"\n'
                f'log_file = "{self.log}"\n{extra_daemon}\n'
            )
            f.write(jobs_toml)
        self.proc = None

    def start(self):
        env = dict(os.environ, CRONDUCT_ADMIN_KEY=KEY, RUST_LOG="warn")
        self.proc = subprocess.Popen(
            [BIN, "run", "-c", self.config], env=env, stderr=subprocess.DEVNULL
        )
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=1).read()
                return self
            except Exception:
                if self.proc.poll() is not None:
                    raise RuntimeError("daemon exited during start-up")
                time.sleep(0.05)
        raise RuntimeError("daemon did not answer /health")

    def request(self, method, path):
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", method=method,
            headers={"Authorization": f"Bearer {KEY}"},
        )
        return urllib.request.urlopen(req, timeout=60).read()

    def cpu_seconds(self):
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def pss_kib(self):
        """Proportional set size: shared pages (libc...) count divided by
        the number of processes mapping them."""
        with open(f"/proc/{self.proc.pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
        return 0

    def events(self):
        out = []
        if os.path.exists(self.log):
            with open(self.log) as f:
                for line in f:
                    try:
                        out.append(json.loads(line))
                    except ValueError:
                        pass
        return out

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=60)


def pct(values, p):
    values = sorted(values)
    if not values:
        return float("nan")
    k = max(0, min(len(values) - 1, int(round(p / 100 * len(values) + 0.5)) - 1))
    return values[k]


def bench_lateness(seconds, jobs_per_second):
    jobs = "".join(
        f'[jobs.tick{i}]\nschedule = "* * * * * *"\ncommand = ["date", "+%s%N"]\n{JOB_KEYS}'
        for i in range(jobs_per_second)
    )
    d = Daemon(jobs).start()
    time.sleep(seconds)
    d.stop()
    late_log, late_child = [], []
    per_second = {}
    for ev in d.events():
        if ev.get("event") == "start":
            late_log.append((parse_ts(ev["ts"]) - parse_ts(ev["scheduled_at"])).total_seconds() * 1000)
        elif ev.get("event") == "finish" and ev.get("status") == "success":
            # Scheduled instants are whole seconds.
            ns = int(ev["stdout"].strip())
            sched_ns = int(parse_ts(ev["scheduled_at"]).timestamp()) * 1_000_000_000
            ms = (ns - sched_ns) / 1e6
            late_child.append(ms)
            per_second.setdefault(ev["scheduled_at"], []).append(ms)
    res = {
        "log p50 ms": pct(late_log, 50), "log p99 ms": pct(late_log, 99),
        "child p50 ms": pct(late_child, 50), "child p99 ms": pct(late_child, 99),
    }
    if jobs_per_second > 1:
        full = [sorted(v) for v in per_second.values() if len(v) == jobs_per_second]
        res["first p50 ms"] = pct([v[0] for v in full], 50)
        res["last p50 ms"] = pct([v[-1] for v in full], 50)
    res["starts"] = len(late_log)
    return res


def bench_idle(seconds):
    jobs = "".join(f'[jobs.y{i}]\nschedule = "0 0 1 1 *"\ncommand = "true"\n{JOB_KEYS}' for i in range(1000))
    d = Daemon(jobs).start()
    time.sleep(2)
    before = d.cpu_seconds()
    time.sleep(seconds)
    used = d.cpu_seconds() - before
    d.stop()
    return {"cpu s": used}


def bench_rss(n):
    # One job runs at start, so the figure includes what running a job
    # sets up (the reaper and spawner threads, their stacks and arenas).
    jobs = '[jobs.warm]\nschedule = "@reboot"\ncommand = ["true"]\n' + "".join(
        f'[jobs.h{i}]\nschedule = "{i % 60} * * * *"\ncommand = "true"\n{JOB_KEYS}' for i in range(n)
    )
    d = Daemon(jobs).start()
    deadline = time.time() + 30
    while time.time() < deadline and not any(e.get("event") == "finish" for e in d.events()):
        time.sleep(0.1)
    time.sleep(2)
    rss, pss = d.rss_kib() / 1024, d.pss_kib() / 1024
    # The API and a reload run code a quiet daemon does not: measure once
    # more after using them.
    d.request("POST", "/api/v1/reload")
    for path in ("/api/v1/status", "/api/v1/jobs", "/api/v1/runs?limit=10", "/metrics"):
        d.request("GET", path)
    time.sleep(1)
    used = d.rss_kib() / 1024
    d.stop()
    return {"rss MiB": rss, "pss MiB": pss, "rss after reload+API MiB": used}


def bench_burst(n):
    target = (datetime.now(timezone.utc) + timedelta(seconds=8)).replace(microsecond=0)
    expr = f"{target.second} {target.minute} {target.hour} * * *"
    jobs = "".join(
        f'[jobs.b{i}]\nschedule = "{expr}"\ntimezone = "UTC"\ncommand = ["true"]\n' for i in range(n)
    )
    d = Daemon(jobs).start()
    wait = (target - datetime.now(timezone.utc)).total_seconds() + 5
    time.sleep(max(wait, 1))
    deadline = time.time() + 30
    starts = []
    while time.time() < deadline:
        starts = [e for e in d.events() if e.get("event") == "start"]
        if len(starts) >= n:
            break
        time.sleep(0.2)
    d.stop()
    if len(starts) < n:
        return {"all started s": float("nan"), "p50 s": float("nan"), "started": len(starts)}
    late = [(parse_ts(e["ts"]) - target).total_seconds() for e in starts]
    return {"all started s": max(late), "p50 s": pct(late, 50), "started": len(starts)}


def bench_reload(n):
    jobs = "".join(f'[jobs.r{i}]\nschedule = "{i % 60} {i % 24} * * *"\ncommand = "true"\n' for i in range(n))
    d = Daemon(jobs).start()
    # Touch one job so the reload has a diff to apply.
    with open(d.config, "a") as f:
        f.write('[jobs.extra]\nschedule = "@daily"\ncommand = "true"\n')
    t0 = time.perf_counter()
    d.request("POST", "/api/v1/reload")
    ms = (time.perf_counter() - t0) * 1000
    d.stop()
    return {"reload ms": ms}


def median_of(runs, fn, *args):
    results = [fn(*args) for _ in range(runs)]
    keys = results[0].keys()
    return {k: statistics.median(r[k] for r in results) for k in keys}


def main():
    global BIN, JOB_KEYS
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="shorter windows, for a smoke run")
    ap.add_argument("--only", default=",".join(SCENARIOS),
                    help="comma-separated subset of: " + ", ".join(SCENARIOS))
    ap.add_argument("--bin", default=BIN, help="the cronduct binary to measure")
    ap.add_argument("--job-keys", default="", help="TOML lines added to every job")
    args = ap.parse_args()
    BIN = os.path.abspath(args.bin)
    JOB_KEYS = args.job_keys.replace("\\n", "\n")
    if JOB_KEYS and not JOB_KEYS.endswith("\n"):
        JOB_KEYS += "\n"
    only = set(args.only.split(","))
    if only - set(SCENARIOS):
        sys.exit(f"unknown scenario(s): {', '.join(sorted(only - set(SCENARIOS)))}")
    if not os.path.exists(BIN):
        sys.exit(f"{BIN} is missing: run `cargo build --release` first")
    window = 10 if args.quick else 30
    idle = 10 if args.quick else 60
    plan = [
        ("lateness", "lateness, 1 per-second job", bench_lateness, (window, 1), "p50 ≤ 2 ms, p99 ≤ 5 ms"),
        ("lateness", "lateness, 10 per-second jobs", bench_lateness, (window, 10), "p50 ≤ 2 ms, p99 ≤ 5 ms"),
        ("idle", f"idle CPU, 1,000 yearly jobs, {idle} s", bench_idle, (idle,), "< 0.05 s in 60 s"),
        ("rss", "RSS, 100 jobs", bench_rss, (100,), "≤ 8 MiB"),
        ("rss", "RSS, 1,000 jobs", bench_rss, (1000,), ""),
        ("rss", "RSS, 10,000 jobs", bench_rss, (10_000,), "≤ 40 MiB"),
        ("burst", "2,000 jobs due in one second", bench_burst, (2000,), "all started within 1 s"),
        ("reload", "reload, 10,000 jobs", bench_reload, (10_000,), "≤ 200 ms"),
    ]
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    print(f"cronduct daemon benchmark, median of {args.runs} runs, {time.strftime('%Y-%m-%d %H:%M')}, "
          f"{os.cpu_count()} CPUs, load average before: {load}\n")
    print("| scenario | result | target |\n|---|---|---|", flush=True)
    for key, name, fn, fargs, target in plan:
        if key not in only:
            continue
        res = median_of(args.runs, fn, *fargs)
        cells = ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in res.items())
        print(f"| {name} | {cells} | {target} |", flush=True)
    with open("/proc/loadavg") as f:
        print(f"\nload average after: {' '.join(f.read().split()[:3])}")


if __name__ == "__main__":
    main()
