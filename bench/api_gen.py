#!/usr/bin/env python3
"""Generates the data set of bench/api.sh: a config of N jobs on far-future
schedules and an execution log of realistic finish records over the last
D days, in the layout the daemon writes (runs.jsonl, runs.jsonl.1 ... when
the log is larger than log_max_size).

    python3 bench/api_gen.py --dir DIR --port PORT [--jobs 1000]
        [--records 100000] [--days 30] [--empty-log]

Writes DIR/jobs.toml (state and log in DIR/state, DIR/log) and, unless
--empty-log, DIR/log/runs.jsonl*. Every finish record has its start line
before it; about 5 % of runs fail once and are retried (the retry
is the job's next record); each attempt keeps
about 1 KiB of output tail. Records are in time order, as the daemon
writes them. Deterministic (fixed seed) apart from "now".
"""

import argparse
import json
import os
import random
from datetime import datetime, timedelta, timezone

LOG_MAX_SIZE = 100 << 20  # the default log_max_size
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo", "America/Santo_Domingo"]
WORDS = (
    "backup rotated compressed uploaded checked skipped synced wrote read "
    "table rows files bytes seconds done ok warn retry index vacuum"
).split()


def ts(t):
    """RFC 3339 UTC with milliseconds, as the log writes it."""
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def write_config(path, d, port, jobs, job_keys=""):
    with open(path, "w") as f:
        f.write(
            "[daemon]\n"
            f'listen = "127.0.0.1:{port}"\n'
            f'state_dir = "{d}/state"\n'
            f'log_file = "{d}/log/runs.jsonl"\n'
            'log_max_size = "100MiB"\n'
            "log_keep = 10\n\n"
        )
        for i in range(jobs):
            # Yearly, on the first of January: nothing fires while the
            # benchmark runs (unless it runs at new year).
            f.write(
                f"[jobs.job-{i:04d}]\n"
                f'description = "generated job {i}"\n'
                f'schedule = "{i % 60} {i % 24} 1 1 *"\n'
                f'timezone = "{ZONES[i % len(ZONES)]}"\n'
            )
            if i % 4 == 3:
                f.write(f'http = {{ url = "http://127.0.0.1:9/job/{i}", expect_status = [200] }}\n')
            else:
                f.write(f'command = "echo job {i}"\n')
            f.write(f"retries = 1\n{job_keys}\n")


def tail(rng, n):
    out = []
    size = 0
    while size < n:
        line = " ".join(rng.choice(WORDS) for _ in range(8)) + f" {rng.randrange(10**6)}\n"
        out.append(line)
        size += len(line)
    return "".join(out)[-n:]


class Log:
    """Writes lines, starting a new file before one would pass the limit."""

    def __init__(self, d):
        self.dir = d
        self.chunks = []
        self.f = None
        self.size = 0
        self.new_chunk()

    def new_chunk(self):
        if self.f:
            self.f.close()
        path = os.path.join(self.dir, f"chunk{len(self.chunks)}")
        self.chunks.append(path)
        self.f = open(path, "w")
        self.size = 0

    def write(self, event):
        line = json.dumps(event, separators=(",", ":")) + "\n"
        if self.size and self.size + len(line) > LOG_MAX_SIZE:
            self.new_chunk()
        self.f.write(line)
        self.size += len(line)

    def close(self):
        """Names the chunks as rotation would: newest runs.jsonl, older .1, .2..."""
        self.f.close()
        for age, path in enumerate(reversed(self.chunks)):
            name = "runs.jsonl" if age == 0 else f"runs.jsonl.{age}"
            os.replace(path, os.path.join(self.dir, name))
        return len(self.chunks)


def write_log(d, jobs, records, days, now):
    rng = random.Random(42)
    log = Log(d)
    span = timedelta(days=days).total_seconds()
    # Each record is one attempt; each job gets records // jobs of them, at
    # evenly spread times with a per-job offset, written in time order.
    per_job = records // jobs
    slots = []
    for j in range(jobs):
        for k in range(per_job):
            at = span * (k + (j + 0.5) / jobs) / per_job
            slots.append((at, j, k))
    slots.sort()
    start = now - timedelta(seconds=span)
    retry_next = {}  # job -> (run_id, trigger, scheduled_at) of a pending retry
    written = 0
    for at, j, k in slots:
        job = f"job-{j:04d}"
        finished = start + timedelta(seconds=at)
        duration_ms = int(rng.lognormvariate(7, 1.5))  # ~1 s median, long tail
        started = finished - timedelta(milliseconds=duration_ms)
        pending = retry_next.pop(job, None)
        if pending:
            run_id, trigger, scheduled, attempt = *pending, 2
        else:
            run_id = f"01J{j:04d}{k:05d}{rng.randrange(16**12):012X}"
            trigger = "manual" if rng.random() < 0.02 else "schedule"
            scheduled, attempt = started, 1
        roll = rng.random()
        # The last record of a job never promises a retry that is not in
        # the log (the daemon would record it as lost).
        will_retry = attempt == 1 and k + 1 < per_job and roll < 0.05
        if will_retry:
            status = "failed"
        elif roll < 0.88:
            status = "success"
        elif roll < 0.95:
            status = "failed"
        elif roll < 0.98:
            status = "timeout"
        elif roll < 0.99:
            status = "cancelled"
        else:
            status = "error"
        http = j % 4 == 3
        log.write(
            {
                "event": "start",
                "ts": ts(started),
                "run_id": run_id,
                "job": job,
                "attempt": attempt,
                "trigger": trigger,
                "scheduled_at": ts(scheduled),
                "pid": None if http else 1000 + rng.randrange(60000),
                "host": "bench-host",
            }
        )
        # The retry is the job's next record (its next slot).
        retry_at = finished + timedelta(seconds=span / per_job) if will_retry else None
        log.write(
            {
                "event": "finish",
                "ts": ts(finished),
                "run_id": run_id,
                "job": job,
                "attempt": attempt,
                "trigger": trigger,
                "scheduled_at": ts(scheduled),
                "started_at": ts(started),
                "finished_at": ts(finished),
                "duration_ms": duration_ms,
                "status": status,
                "exit_code": None if http or status in ("error", "timeout", "cancelled") else int(status != "success"),
                "signal": "SIGTERM" if status in ("timeout", "cancelled") and not http else None,
                "http_status": (200 if status == "success" else 503) if http and status in ("success", "failed") else None,
                "error": "connection refused" if status == "error" else None,
                "stdout": tail(rng, 800),
                "stderr": tail(rng, 200) if status != "success" or rng.random() < 0.3 else "",
                "output_truncated": rng.random() < 0.2,
                "will_retry": will_retry,
                "retry_at": ts(retry_at) if retry_at else None,
                "host": "bench-host",
            }
        )
        if will_retry:
            retry_next[job] = (run_id, trigger, scheduled)
        written += 1
    files = log.close()
    return written, files


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dir", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--jobs", type=int, default=1000)
    p.add_argument("--records", type=int, default=100_000)
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--empty-log", action="store_true")
    p.add_argument("--job-keys", default="",
                   help="TOML lines added to every job (e.g. the health keys)")
    a = p.parse_args()
    d = os.path.abspath(a.dir)
    os.makedirs(os.path.join(d, "log"), exist_ok=True)
    os.makedirs(os.path.join(d, "state"), exist_ok=True)
    job_keys = a.job_keys.replace("\\n", "\n")
    if job_keys and not job_keys.endswith("\n"):
        job_keys += "\n"
    write_config(os.path.join(d, "jobs.toml"), d, a.port, a.jobs, job_keys)
    if a.empty_log:
        return
    now = datetime.now(timezone.utc)
    n, files = write_log(os.path.join(d, "log"), a.jobs, a.records, a.days, now)
    size = sum(os.path.getsize(os.path.join(d, "log", f)) for f in os.listdir(os.path.join(d, "log")))
    print(f"log: {n} finish records (+ start lines) in {files} file(s), {size / (1 << 20):.1f} MiB")


if __name__ == "__main__":
    main()
