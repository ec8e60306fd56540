#!/usr/bin/env python3
"""cronduct side by side with its peers: yacron, cronstable and Debian's cron.

Run it through bench/peers.sh, which installs the peers into the git-ignored
bench/venv and Debian's cron and wrk, then calls this script with the venv's
Python. It must run as root (Debian's cron only runs as root and reads
/etc/cron.d); it installs /etc/cron.d/cronduct-bench-peers for the cron
measures and removes it again, also when interrupted.

    bench/peers.sh [--runs 3] [--quick] [--cronduct PATH] [--tools ...]

Every figure in the table is the median over --runs runs, each run giving one
value per tool. The measures (README "Side by side with the peers"):

  lateness/s  start lateness of 10 per-second jobs (each child writes
              `date +%s%N`; lateness = that minus the whole second), p50/p99
  lateness/m  start lateness of 20 `* * * * *` jobs at --minutes minute
              boundaries per run, p50/p99
  idle        CPU seconds used in 60 s by a daemon holding 1,000 jobs due
              months from now (utime+stime of the process and its threads,
              refined with the threads' schedstat below the 10 ms tick)
  rss         VmRSS with 100 and with 10,000 such jobs
  burst       last child's own start timestamp minus the instant at which
              2,000 jobs were all due
  check       wall time of the config check of 10,000 jobs
  reload      applying a 10,000-job config again
  api         wrk --latency, 100 connections, against the jobs listing and
              the cheapest endpoint

Minute boundaries are the scarce resource: one run needs six of them. A
minute-boundary experiment never shares its boundary with another CPU-heavy
one; the short experiments run in the gaps between boundaries (see
Timeline), so a full run of 3 stays near 20 minutes.
"""

import argparse
import datetime as dt
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
sys.path.insert(0, BENCH)
import daemon as cronduct_daemon  # noqa: E402  (bench/daemon.py: Daemon, pct)

TOOLS = ("cronduct", "yacron", "cronstable", "cron")
CRON_D_FILE = "/etc/cron.d/cronduct-bench-peers"
# Jobs that must never fire during a run are due on a day six months away.
FAR_MONTH = (dt.date.today().month + 5) % 12 + 1
# Python peers get their jobs as a directory of files of this many jobs:
# yacron's YAML parser is quadratic in the file size (10,000 jobs in one
# file take about four minutes to validate), so a yacron user with many
# jobs splits them like /etc/yacron.d. cronstable gets the same layout.
JOBS_PER_FILE = 100
MARGIN = 2.0  # seconds a gap experiment must leave before the next deadline

STARTED = []  # every process this script started, for the cleanup on exit
NS = 1_000_000_000


class Unsupported(Exception):
    """The tool has no such feature; the message says why (goes in the table)."""


# ---------------------------------------------------------------- helpers


def now():
    return time.time()


def sleep_until(t):
    while True:
        left = t - now()
        if left <= 0:
            return
        time.sleep(min(left, 0.5))


def next_boundary(after):
    """The first whole minute (epoch seconds) after `after`."""
    return (int(after) // 60 + 1) * 60


def free_port():
    return cronduct_daemon.free_port()


def pct(values, p):
    return cronduct_daemon.pct(values, p)


def proc_cpu_seconds(pid):
    """utime+stime of the whole process (all its threads, not its children)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_pair(pid):
    """(utime+stime from /proc/PID/stat, sum of the threads' on-CPU ns from
    /proc/PID/task/*/schedstat). stat counts in 10 ms ticks, too coarse
    for a daemon that sleeps for a minute; schedstat is exact but forgets
    threads that exit, which stat does not."""
    ns = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                ns += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass  # the thread exited meanwhile
    return proc_cpu_seconds(pid), ns / NS


def cpu_used(before, after):
    """CPU seconds between two cpu_pair readings: the exact figure, unless
    the tick count shows more (a thread exited in between)."""
    return max(after[0] - before[0], after[1] - before[1])


def proc_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def read_marks(path):
    """The nanosecond timestamps the jobs appended to `path`, one per line."""
    out = []
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line.isdigit():
                    out.append(int(line))
    return out


def count_lines(path):
    if not os.path.exists(path):
        return 0
    with open(path, "rb") as f:
        return f.read().count(b"\n")


def wait_lines(path, n, deadline):
    while now() < deadline and count_lines(path) < n:
        time.sleep(0.05)
    return count_lines(path)


def marker(path):
    """Shell command by which a job records its own start instant."""
    return f"date +%s%N >> {path}"


def http_get(url, headers=None, timeout=2.0):
    req = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return resp.status, resp.read()


def wait_http(url, proc, timeout):
    deadline = now() + timeout
    while now() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"exited with status {proc.returncode} during start-up")
        try:
            http_get(url, timeout=2)
            return
        except (urllib.error.URLError, OSError):
            time.sleep(0.05)
    raise RuntimeError(f"no answer on {url} within {timeout} s")


def wait_cpu_settled(pid, quiet=0.5, timeout=120):
    """Until the process has used no CPU for `quiet` seconds (cron has no
    readiness signal: it has loaded its tables once it stops computing)."""
    deadline = now() + timeout
    last = proc_cpu_seconds(pid)
    while now() < deadline:
        time.sleep(quiet)
        cur = proc_cpu_seconds(pid)
        if cur == last:
            return
        last = cur


def stop_process(proc, grace=30):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def far_schedule(i):
    return f"{i % 60} {i % 24} {1 + i % 28} {FAR_MONTH} *"


def far_jobs(n, prefix="j"):
    return [(f"{prefix}{i}", ("far", i), "true") for i in range(n)]


def marked_jobs(n, spec, path, prefix="m"):
    return [(f"{prefix}{i}", spec, marker(path)) for i in range(n)]


# ------------------------------------------------------------------ tools


class Handle:
    """A running daemon of one tool."""

    def __init__(self, proc, port=None, on_stop=None):
        self.proc = proc
        self.port = port
        self.on_stop = on_stop

    @property
    def pid(self):
        return self.proc.pid

    def rss_mib(self):
        return proc_rss_kib(self.pid) / 1024

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self):
        try:
            stop_process(self.proc)
        finally:
            if self.on_stop:
                self.on_stop()


class Cronduct:
    name = "cronduct"
    seconds = True

    def __init__(self, binary, workdir):
        self.bin = binary
        self.workdir = workdir

    def unavailable(self):
        if not os.access(self.bin, os.X_OK):
            return f"{self.bin} is missing: run `cargo build --release`"
        return None

    def version(self):
        v = subprocess.run([self.bin, "--version"], capture_output=True, text=True).stdout.strip()
        built = dt.datetime.fromtimestamp(os.path.getmtime(self.bin), dt.timezone.utc)
        head = subprocess.run(["git", "-C", ROOT, "log", "-1", "--format=%h %s"], capture_output=True, text=True)
        return f"{v}, binary built {built:%Y-%m-%d %H:%M} UTC; checkout at {head.stdout.strip() or 'unknown'}"

    def schedule(self, spec):
        kind = spec[0]
        if kind == "minute":
            return "* * * * *"
        if kind == "second":
            return "* * * * * *"
        if kind == "at":
            t = spec[1]
            return f"{t.second} {t.minute} {t.hour} {t.day} {t.month} *"
        return far_schedule(spec[1])

    def toml(self, jobs):
        out = ['[defaults]\ntimezone = "UTC"\n\n']
        for name, spec, cmd in jobs:
            out.append(f'[jobs.{name}]\nschedule = "{self.schedule(spec)}"\ncommand = {json.dumps(cmd)}\n\n')
        return "".join(out)

    def start(self, jobs):
        cronduct_daemon.BIN = self.bin
        d = cronduct_daemon.Daemon(self.toml(jobs))
        try:
            d.start()
        except Exception:
            if d.proc:  # started but never answered /health
                stop_process(d.proc)
            raise
        STARTED.append(d.proc)
        h = Handle(d.proc, d.port)
        h.daemon = d
        return h

    def check_seconds(self, jobs):
        path = os.path.join(self.workdir, "cronduct-check.toml")
        with open(path, "w") as f:
            f.write(self.toml(jobs))
        t0 = time.perf_counter()
        r = subprocess.run([self.bin, "check", "-q", "-c", path], capture_output=True, text=True)
        secs = time.perf_counter() - t0
        if r.returncode != 0:
            raise RuntimeError(f"check failed: {r.stderr.strip()[:200]}")
        return secs

    def reload_ms(self, h):
        """POST /api/v1/reload round trip on the 10,000-job file. The new job
        is first picked up by the file watcher (waited for, so it cannot race
        the request); the timed reload then re-reads and re-validates the
        whole file like any reload."""
        d = h.daemon
        with open(d.config, "a") as f:
            f.write(f'[jobs.extra]\nschedule = "{far_schedule(7)}"\ncommand = "true"\n')
        headers = {"Authorization": f"Bearer {cronduct_daemon.KEY}"}
        deadline = now() + 30
        while now() < deadline:
            try:
                http_get(h.url("/api/v1/jobs/extra"), headers)
                break
            except urllib.error.HTTPError:
                time.sleep(0.01)
        t0 = time.perf_counter()
        d.request("POST", "/api/v1/reload")
        return (time.perf_counter() - t0) * 1000

    def endpoints(self):
        auth = {"Authorization": f"Bearer {cronduct_daemon.KEY}"}
        return {"health": ("/health", {}), "jobs": ("/api/v1/jobs", auth)}


def web_yaml(port):
    return f"web:\n  listen:\n    - http://127.0.0.1:{port}\n"


class PythonPeer:
    """yacron and cronstable: same YAML shape, same CLI (-c DIR, -l, -v)."""

    seconds = False

    def __init__(self, venv, workdir):
        self.exe = os.path.join(os.path.abspath(venv), "bin", self.name)
        self.workdir = workdir
        self.serial = 0

    def unavailable(self):
        if not os.access(self.exe, os.X_OK):
            return f"{self.exe} is missing: run bench/peers.sh (it installs the peers into bench/venv)"
        return None

    def version(self):
        r = subprocess.run([self.exe, "--version"], capture_output=True, text=True, cwd=self.workdir)
        return (r.stdout or r.stderr).strip().splitlines()[-1]

    def schedule(self, spec):
        kind = spec[0]
        if kind == "minute":
            return "* * * * *"
        if kind == "at":
            t = spec[1]
            if t.second == 0:
                return f"{t.minute} {t.hour} {t.day} {t.month} *"
            if not self.seconds:
                raise Unsupported(f"{self.name} has no seconds field")
            return f"{t.second} {t.minute} {t.hour} {t.day} {t.month} * *"
        if kind == "second":
            if not self.seconds:
                raise Unsupported(f"{self.name} has no seconds field")
            return "* * * * * * *"
        return far_schedule(spec[1])

    def write_jobs(self, directory, jobs, tag="part"):
        for k in range(0, len(jobs), JOBS_PER_FILE):
            lines = ["jobs:\n"]
            for name, spec, cmd in jobs[k:k + JOBS_PER_FILE]:
                lines.append(
                    f"  - name: {name}\n    command: {json.dumps(cmd)}\n"
                    f'    schedule: "{self.schedule(spec)}"\n'
                )
            with open(os.path.join(directory, f"{tag}{k // JOBS_PER_FILE:04d}.yaml"), "w") as f:
                f.write("".join(lines))

    def config_dir(self, jobs, port=None):
        self.serial += 1
        d = os.path.join(self.workdir, f"{self.name}-{self.serial}")
        os.makedirs(d)
        self.write_jobs(d, jobs)
        if port is not None:
            self.place_web(d, port)
        return d

    def place_web(self, directory, port):
        with open(os.path.join(directory, "web.yaml"), "w") as f:
            f.write(web_yaml(port))

    def start(self, jobs):
        """Start with `jobs` and the web API on a free port; return once the
        API answers (the config is then parsed and the scheduler running)."""
        port = free_port()
        d = self.config_dir(jobs, port)
        log = open(os.path.join(d, "daemon.log"), "w")
        proc = subprocess.Popen(
            [self.exe, "-c", d, "-l", "WARNING"], stdout=log, stderr=subprocess.STDOUT, cwd=d,
        )
        STARTED.append(proc)
        h = Handle(proc, port)
        h.dir = d
        try:
            wait_http(h.url("/version"), proc, timeout=600)
        except Exception:
            h.stop()
            raise RuntimeError(f"{self.name} did not start: {tail(os.path.join(d, 'daemon.log'))}")
        return h

    def check_seconds(self, jobs):
        d = self.config_dir(jobs)
        t0 = time.perf_counter()
        r = subprocess.run([self.exe, "-v", "-c", d], capture_output=True, text=True, cwd=d)
        secs = time.perf_counter() - t0
        if r.returncode != 0:
            raise RuntimeError(f"--validate-config failed: {r.stderr.strip()[-200:]}")
        return secs


class Yacron(PythonPeer):
    name = "yacron"

    def place_web(self, directory, port):
        """yacron 0.19 reading a directory keeps the `web` section of the
        last file it parses only (parse_config returns config.web_config of
        the loop's last file), so the section goes into that file: the last
        *.yaml in directory order, which appending does not change."""
        last = [e.name for e in os.scandir(directory) if e.name.endswith(".yaml")][-1]
        with open(os.path.join(directory, last), "a") as f:
            f.write(web_yaml(port))

    def endpoints(self):
        return {"health": ("/version", {}), "jobs": ("/status", {"Accept": "application/json"})}


class Cronstable(PythonPeer):
    name = "cronstable"
    seconds = True

    def reload_ms(self, h):
        """SIGHUP, then poll the API until the added job is listed."""
        self.write_jobs(h.dir, [("extra", ("far", 7), "true")], tag="extra")
        t0 = time.perf_counter()
        os.kill(h.pid, signal.SIGHUP)
        deadline = now() + 120
        while now() < deadline:
            try:
                http_get(h.url("/jobs/extra"), timeout=60)
                return (time.perf_counter() - t0) * 1000
            except urllib.error.HTTPError:
                time.sleep(0.005)
        raise RuntimeError("the added job never appeared after SIGHUP")

    def endpoints(self):
        return {"health": ("/version", {}), "jobs": ("/jobs", {})}


class Cron:
    """Debian's cron, `cron -f` in the foreground, jobs in /etc/cron.d."""

    name = "cron"
    seconds = False

    def __init__(self, workdir):
        self.workdir = workdir

    def unavailable(self):
        if shutil.which("cron") is None:
            return "Debian's cron is not installed (bench/peers.sh runs apt-get install cron)"
        if os.geteuid() != 0:
            return "needs root: cron reads /etc/cron.d and runs only as root"
        other = other_cron_pid()
        if other:
            return f"another cron daemon already runs (pid {other}); a second one would not start"
        return None

    def version(self):
        r = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "cron"], capture_output=True, text=True)
        return f"cron {r.stdout.strip()} (Debian)"

    def schedule(self, spec):
        kind = spec[0]
        if kind == "minute":
            return "* * * * *"
        if kind == "at":
            t = spec[1].astimezone()  # cron reads the system zone
            if t.second:
                raise Unsupported("cron has no seconds field")
            return f"{t.minute} {t.hour} {t.day} {t.month} *"
        if kind == "second":
            raise Unsupported("cron has no seconds field")
        return far_schedule(spec[1])

    def lines(self, jobs, user="root "):
        return "".join(f"{self.schedule(spec)} {user}{cmd.replace('%', chr(92) + '%')}\n" for _, spec, cmd in jobs)

    def install(self, jobs):
        """Replace the bench's /etc/cron.d file atomically. The temporary name
        has a dot, which cron ignores; the rename changes the directory's
        mtime, which is what cron polls once a minute."""
        tmp = CRON_D_FILE + ".tmp"
        with open(tmp, "w") as f:
            f.write('SHELL=/bin/sh\nMAILTO=""\n' + self.lines(jobs))
        os.chmod(tmp, 0o644)
        os.replace(tmp, CRON_D_FILE)

    def start(self, jobs):
        self.install(jobs)
        log = open(os.path.join(self.workdir, "cron.log"), "a")
        proc = subprocess.Popen(["cron", "-f", "-L", "0"], stdout=log, stderr=subprocess.STDOUT)
        STARTED.append(proc)
        h = Handle(proc, on_stop=remove_cron_file)
        time.sleep(0.5)
        if proc.poll() is not None:
            h.stop()
            raise RuntimeError(f"cron exited at once: {tail(os.path.join(self.workdir, 'cron.log'))}")
        wait_cpu_settled(proc.pid)
        return h

    def check_seconds(self, jobs):
        path = os.path.join(self.workdir, "cron-check.crontab")
        with open(path, "w") as f:
            f.write(self.lines(jobs, user=""))
        t0 = time.perf_counter()
        r = subprocess.run(["crontab", "-n", path], capture_output=True, text=True)
        secs = time.perf_counter() - t0
        if r.returncode != 0:
            raise RuntimeError(f"crontab -n failed: {r.stderr.strip()[:200]}")
        return secs



def other_cron_pid():
    mine = {p.pid for p in STARTED}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) not in mine:
            try:
                with open(f"/proc/{entry}/comm") as f:
                    if f.read().strip() == "cron":
                        return int(entry)
            except OSError:
                pass
    return None


def remove_cron_file():
    for path in (CRON_D_FILE, CRON_D_FILE + ".tmp"):
        if os.path.exists(path):
            os.remove(path)


def tail(path, n=300):
    try:
        with open(path) as f:
            return f.read()[-n:].strip()
    except OSError:
        return ""


# --------------------------------------------------------------- timeline


class Timeline:
    """Runs the short experiments in the gaps between minute boundaries.

    A minute-boundary experiment calls wait_until(t) before it starts its
    daemons; meanwhile the queued gap experiments that are estimated to end
    before t - MARGIN run, one at a time, longest first. `exclude` keeps
    out the ones needing a resource in use (the one cron daemon).
    Estimates start from a guess and learn each kind's longest duration.
    """

    def __init__(self, results):
        self.queue = []
        self.timers = []
        self.results = results
        self.learned = {}

    def add(self, kind, tool, guess, fn, needs=()):
        self.queue.append({"kind": kind, "tool": tool, "guess": guess, "fn": fn, "needs": set(needs)})

    def estimate(self, item):
        key = (item["kind"], item["tool"])
        return self.learned.get(key, item["guess"]) * 1.2 + 1

    def at(self, t, fn):
        """Call fn at time t, from the next wait_until that reaches t (the
        end of a window that must not grow with a minute experiment)."""
        self.timers.append((t, fn))

    def fire_due(self):
        for timer in sorted(self.timers, key=lambda x: x[0]):
            if timer[0] <= now():
                self.timers.remove(timer)
                timer[1]()

    def wait_until(self, t, exclude=()):
        while True:
            self.fire_due()
            deadline = min([t] + [x[0] for x in self.timers])
            fits = [
                i for i in self.queue
                if not (i["needs"] & set(exclude)) and now() + self.estimate(i) + MARGIN <= deadline
            ]
            if fits:
                # The longest that fits: small ones fill what is left.
                self.run(max(fits, key=self.estimate))
            elif deadline < t:
                sleep_until(deadline)
            else:
                break
        sleep_until(t)
        self.fire_due()

    def drain(self):
        while self.queue:
            self.run(self.queue[0])

    def run(self, item):
        self.queue.remove(item)
        t0 = now()
        self.results.record(item["kind"], item["tool"], item["fn"])
        key = (item["kind"], item["tool"])
        self.learned[key] = max(self.learned.get(key, 0), now() - t0)
        log(f"  {item['kind']:<10} {item['tool']:<10} {now() - t0:6.1f} s")


class Results:
    def __init__(self):
        self.values = {}   # (measure, tool) -> [dict per run]
        self.errors = {}   # (measure, tool) -> reason
        self.samples = {}  # (lateness kind, tool) -> [ms, pooled over runs]
        self.loads = []    # (label, loadavg)

    def record(self, measure, tool, fn):
        try:
            out = fn()
        except Unsupported as e:
            self.errors.setdefault((measure, tool), str(e))
            return
        except Exception as e:  # a peer failing is a finding, not a crash
            self.errors.setdefault((measure, tool), f"{type(e).__name__}: {e}")
            log(f"  ! {measure} {tool}: {e}")
            return
        if out is not None:
            self.values.setdefault((measure, tool), []).append(out)

    def median(self, measure, tool, key):
        runs = [r[key] for r in self.values.get((measure, tool), []) if r.get(key) is not None]
        return statistics.median(runs) if runs else None

    def nruns(self, measure, tool):
        return len(self.values.get((measure, tool), []))


def log(msg):
    print(f"{time.strftime('%H:%M:%S')} {msg}", flush=True)


# ------------------------------------------------------------ experiments


def start_or_note(res, measure, tool, jobs):
    """Start `tool`; on failure note why under `measure` and return None."""
    try:
        return tool.start(jobs)
    except Exception as e:  # a peer failing to start is a finding
        res.errors.setdefault((measure, tool.name), f"did not start: {e}")
        log(f"  ! {measure} {tool.name}: {e}")
        return None


def lateness_summary(ms_values, expected):
    if not ms_values:
        raise RuntimeError("no job started")
    return {"p50": pct(ms_values, 50), "p99": pct(ms_values, 99), "n": len(ms_values), "expected": expected}


def exp_per_second(tool, res, workdir, window):
    """10 per-second jobs for `window` seconds; lateness = ns past the second."""
    def run():
        path = os.path.join(workdir, f"persec-{tool.name}-{time.monotonic_ns()}")
        h = tool.start(marked_jobs(10, ("second",), path))
        try:
            time.sleep(window)
        finally:
            h.stop()
        ms = [(ns % NS) / 1e6 for ns in read_marks(path)]
        res.samples.setdefault(("second", tool.name), []).extend(ms)
        return lateness_summary(ms, 10 * window)
    return run


def exp_minute_lateness(tl, res, tools, workdir, minutes, exclude=frozenset(), m=None):
    """20 `* * * * *` jobs per tool, observed over `minutes` boundaries from
    boundary `m` (default: the next one there is time for). The daemons
    start at a random sub-second offset: yacron keeps the sub-second phase
    of its start instant in every later wake-up, as it would for a user."""
    if not tools:
        return
    lead = 12
    if m is None:
        m = next_boundary(now() + lead + 3)
    tl.wait_until(m - lead + random.random(), exclude)
    paths, handles = {}, {}
    for tool in tools:
        paths[tool.name] = os.path.join(workdir, f"minute-{tool.name}-{m}")
        h = start_or_note(res, "lat_min", tool, marked_jobs(20, ("minute",), paths[tool.name]))
        if h:
            handles[tool.name] = h
    for k in range(minutes):
        boundary = m + 60 * k
        if k:
            tl.wait_until(boundary - 12, exclude | {"cron"})
        sleep_until(boundary)
        for name in handles:
            wait_lines(paths[name], 20 * (k + 1), boundary + 15)
    for name, h in handles.items():
        h.stop()
        ms = [(ns % (60 * NS)) / 1e6 for ns in read_marks(paths[name])]
        res.samples.setdefault(("minute", name), []).extend(ms)
        res.record("lat_min", name, lambda ms=ms: lateness_summary(ms, 20 * minutes))


def exp_idle_and_lateness(tl, res, idle_tools, late_tools, workdir, idle_s, minutes):
    """Idle daemons (1,000 far-future jobs) whose window spans one minute
    boundary; the minute lateness of `late_tools` is taken at that boundary,
    because of the idle daemons only yacron does real work there (it re-reads
    its config every minute)."""
    lead = max(idle_s / 2, 15) + 12
    m = next_boundary(now() + lead + 3)
    tl.wait_until(m - lead)
    handles = {}
    for tool in idle_tools:
        h = start_or_note(res, "idle", tool, far_jobs(1000))
        if h:
            handles[tool.name] = h
    time.sleep(3)
    t0 = now()
    cpu0 = {name: cpu_pair(h.pid) for name, h in handles.items()}
    # The window covers the wake-up work at the boundary also when it is
    # short (--quick).
    t_end = max(t0 + idle_s, m + 15)

    def finish():
        elapsed = now() - t0
        for name, h in handles.items():
            used = cpu_used(cpu0[name], cpu_pair(h.pid))
            h.stop()
            # Per 60 s: a window may end late by the length of a blackout.
            res.record("idle", name, lambda u=used: {"cpu": u * 60 / elapsed, "window": elapsed})
    tl.at(t_end, finish)
    exp_minute_lateness(tl, res, late_tools, workdir, minutes, exclude={"cron"}, m=m)
    # yacron's idle daemon re-reads its 1,000 jobs after the boundary: no
    # gap experiment shares a core with that.
    sleep_until(m + 60 * (minutes - 1) + 5)
    tl.wait_until(t_end, exclude={"cron"})


def exp_minute_burst_reload(tl, res, tool, workdir, n_burst, n_reload):
    """Minute-polling peers: 2,000 jobs due at boundary m; then a config of
    10,000 jobs plus one new job due at m+60 is written at m+50, and the new
    job's start minus m+60 is the time the peer took to re-read it."""
    lead = 15 if tool.name == "yacron" else 10
    m = next_boundary(now() + lead + 3)
    tl.wait_until(m - lead + random.random())
    at = dt.datetime.fromtimestamp(m, dt.timezone.utc)
    burst = os.path.join(workdir, f"burst-{tool.name}-{m}")
    h = start_or_note(res, "burst", tool, marked_jobs(n_burst, ("at", at), burst, prefix="b"))
    if h is None:
        res.errors.setdefault(("reload", tool.name), res.errors.get(("burst", tool.name), "did not start"))
        return
    try:
        sleep_until(m)
        got = wait_lines(burst, n_burst, m + 90)
        marks = read_marks(burst)
        res.record("burst", tool.name, lambda: {
            "last": (max(marks) / NS - m) if got >= n_burst else None, "started": got})
        if got < n_burst:
            res.errors.setdefault(("burst", tool.name), f"only {got} of {n_burst} started within 90 s")
        tl.wait_until(m + 50, exclude={"cron"})
        new = os.path.join(workdir, f"reload-{tool.name}-{m}")
        at2 = dt.datetime.fromtimestamp(m + 60, dt.timezone.utc)
        jobs = far_jobs(n_reload) + [("fresh", ("at", at2), marker(new))]
        t_write = now()
        if tool.name == "cron":
            tool.install(jobs)
        else:
            for f in os.listdir(h.dir):
                if f.startswith("part"):
                    os.remove(os.path.join(h.dir, f))
            tool.write_jobs(h.dir, jobs)
            tool.place_web(h.dir, h.port)
        sleep_until(m + 60)
        wait_lines(new, 1, m + 150)
        marks = read_marks(new)
        if not marks:
            res.errors.setdefault(("reload", tool.name), "the new job did not start within 90 s of the minute")
        else:
            res.record("reload", tool.name, lambda: {
                "ms": (marks[0] / NS - (m + 60)) * 1000, "write_to_start": marks[0] / NS - t_write})
    finally:
        h.stop()


def exp_second_burst(tool, res, workdir, n):
    """Tools with a seconds field: 2,000 jobs due at one second."""
    def run():
        target = int(now()) + (15 if tool.name == "cronstable" else 8)
        at = dt.datetime.fromtimestamp(target, dt.timezone.utc)
        path = os.path.join(workdir, f"burst-{tool.name}-{target}")
        h = tool.start(marked_jobs(n, ("at", at), path, prefix="b"))
        try:
            if now() > target - 1:
                raise RuntimeError("start-up took longer than the lead time")
            sleep_until(target)
            got = wait_lines(path, n, target + 90)
        finally:
            h.stop()
        if got < n:
            raise RuntimeError(f"only {got} of {n} started within 90 s")
        return {"last": max(read_marks(path)) / NS - target, "started": got}
    return run


def exp_rss(tool, n):
    def run():
        h = tool.start(far_jobs(n))
        try:
            time.sleep(2)
            return {"mib": h.rss_mib()}
        finally:
            h.stop()
    return run


def exp_check(tool, n):
    return lambda: {"s": tool.check_seconds(far_jobs(n))}


def exp_reload(tool, n):
    def run():
        h = tool.start(far_jobs(n))
        try:
            return {"ms": tool.reload_ms(h)}
        finally:
            h.stop()
    return run


WRK_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def wrk(url, headers, seconds):
    cmd = ["wrk", "-t2", "-c100", f"-d{seconds}s", "--timeout", "10s", "--latency"]
    for k, v in headers.items():
        cmd += ["-H", f"{k}: {v}"]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, timeout=seconds + 60).stdout
    lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", out, re.M))
    if "50" not in lat:
        raise RuntimeError(f"wrk printed no latency distribution: {out[-300:]}")

    def ms(v):
        num, unit = re.match(r"([\d.]+)(\w+)", v).groups()
        return float(num) * WRK_UNITS[unit]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errs = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return {
        "p50": ms(lat["50"]), "p99": ms(lat["99"]), "rps": float(rps.group(1)) if rps else None,
        "errors": (int(bad.group(1)) if bad else 0) + (sum(map(int, errs.groups())) if errs else 0),
    }


def exp_api(tool, res, seconds, n_jobs):
    """wrk against the jobs listing and the cheapest endpoint of one daemon
    holding `n_jobs` jobs. Recorded under api_jobs and api_health."""
    def run():
        eps = tool.endpoints()
        h = tool.start(far_jobs(n_jobs))
        try:
            for label, (path, headers) in eps.items():
                # A slow daemon still answers the requests of the previous
                # wrk after it has gone: let it finish them first.
                wait_cpu_settled(h.pid, timeout=60)
                out = wrk(h.url(path), headers, seconds)
                out["path"] = path
                res.values.setdefault((f"api_{label}", tool.name), []).append(out)
        finally:
            h.stop()
    return run


# ----------------------------------------------------------------- report


def machine():
    model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = ""
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    return {
        "nproc": os.cpu_count(), "cpu": model, "kernel": os.uname().release, "memory": mem,
        "python": sys.version.split()[0],
    }


def fmt(v):
    if v is None:
        return "n/a"
    if v == 0:
        return "0"
    if abs(v) >= 100:
        return f"{v:.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    if abs(v) >= 1:
        return f"{v:.2f}"
    return f"{v:.2g}" if abs(v) >= 0.001 else f"{v:.1e}"


ROWS = [
    # (label, measure, key, unit note)
    ("start lateness, per-second jobs, p50 (ms)", "lat_sec", "p50"),
    ("start lateness, per-second jobs, p99 (ms)", "lat_sec", "p99"),
    ("start lateness at a minute boundary, p50 (ms)", "lat_min", "p50"),
    ("start lateness at a minute boundary, p99 (ms)", "lat_min", "p99"),
    ("idle CPU, 1,000 jobs, CPU s per 60 s", "idle", "cpu"),
    ("RSS, 100 jobs (MiB)", "rss100", "mib"),
    ("RSS, 10,000 jobs (MiB)", "rss10k", "mib"),
    ("2,000 jobs due at one instant: all started after (s)", "burst", "last"),
    ("config check, 10,000 jobs (s)", "check", "s"),
    ("reload, 10,000 jobs (ms)", "reload", "ms"),
    ("API, list jobs (100 jobs), 100 clients, p50 (ms)", "api_jobs", "p50"),
    ("API, list jobs (100 jobs), 100 clients, p99 (ms)", "api_jobs", "p99"),
    ("API, cheapest endpoint, 100 clients, p50 (ms)", "api_health", "p50"),
    ("API, cheapest endpoint, 100 clients, p99 (ms)", "api_health", "p99"),
]
# Minute-polling peers: the reload figure is the delay after the minute at
# which the new config was picked up; it has no cronduct counterpart to
# divide by, so it gets no ratio.
NO_RATIO = {("reload", "yacron"), ("reload", "cron")}


def report(res, tools, args, info, started, finished, out_md, plot_path):
    names = [t.name for t in tools]
    peers = [n for n in names if n != "cronduct"]
    notes = []

    def note(text):
        if text not in notes:
            notes.append(text)
        return f"[^{notes.index(text) + 1}]"

    head = "| measure | cronduct | " + " | ".join(f"{p} | ratio" for p in peers) + " |"
    lines = [head, "|---" * (2 + 2 * len(peers)) + "|"]
    for label, measure, key in ROWS:
        cd_val = res.median(measure, "cronduct", key) if "cronduct" in names else None
        cells = [label]
        cd_cell = fmt(cd_val)
        if cd_val is None and ("cronduct" in names):
            reason = res.errors.get((measure, "cronduct"))
            cd_cell = "n/a" + (note(f"cronduct: {reason}") if reason else "")
        cells.append(cd_cell)
        for p in peers:
            v = res.median(measure, p, key)
            if v is None:
                reason = res.errors.get((measure, p), "not measured")
                cells += ["n/a" + note(f"{p}: {reason}"), "—"]
                continue
            cell = fmt(v)
            if (measure, p) in NO_RATIO:
                cell += note(
                    f"{p} has no reload trigger: it notices a changed config at its next minute "
                    "wake-up (cron polls the mtime of /etc/cron.d, yacron re-reads every file each "
                    "minute), so a change waits up to 60 s (30 s on average) and then this long: the "
                    "figure is the new job's own start minus that minute, i.e. re-reading 10,000 jobs "
                    "plus the usual start lateness")
                cells += [cell, "—"]
                continue
            ratio = (cd_val / v) if (cd_val is not None and v) else None
            cells += [cell, fmt(ratio) if ratio is not None else "—"]
        lines.append("| " + " | ".join(cells) + " |")

    def runs_of(measure):
        return ", ".join(f"{n} {res.nruns(measure, n)}" for n in names if res.nruns(measure, n))

    rps = []
    for label in ("jobs", "health"):
        parts = []
        for n in names:
            r = res.values.get((f"api_{label}", n))
            if r:
                vals = [x["rps"] for x in r if x.get("rps")]
                errs = sum(x["errors"] for x in r)
                path = r[0]["path"]
                parts.append(f"{n} `{path}` {fmt(statistics.median(vals)) if vals else 'n/a'} req/s"
                             + (f" ({errs} errors)" if errs else ""))
        if parts:
            rps.append(f"- API {label}: " + "; ".join(parts) + ".")
    write_back = []
    for n in names:
        r = res.values.get(("reload", n))
        if r and r[0].get("write_to_start") is not None:
            write_back.append(f"{n} {fmt(statistics.median(x['write_to_start'] for x in r))} s")

    load_lines = "\n".join(f"| {label} | {la[0]:.2f} | {la[1]:.2f} | {la[2]:.2f} |" for label, la in res.loads)
    versions = "\n".join(f"- {n}: {info['versions'].get(n, 'n/a')}" for n in names)
    m = info["machine"]
    md = f"""# cronduct side by side with its peers

Generated by `bench/peers.sh {' '.join(args.argv)}` ({'quick mode, not for publication; ' if args.quick else ''}{args.runs} run(s)) from {started} to {finished} (UTC).
Every figure is the **median over the runs** (each run gives one value per tool; lateness percentiles are per run, then the median of those).
**ratio** = cronduct / peer: below 1 means cronduct is lower, and lower is better on every row.
How each figure is taken, and why, is in [README.md](README.md#side-by-side-with-the-peers).

## Machine

- {m['nproc']} CPUs: {m['cpu']}; {m['memory']} memory; Linux {m['kernel']}; Python {m['python']} for the Python peers
- shared with other engineers' compiles while it ran: load averages below
- cronduct binary: `{info['cronduct_bin']}`

## Versions

{versions}
- wrk: {info.get('wrk', 'n/a')}

## Results

{chr(10).join(lines)}

Runs per measure: lateness/s {runs_of('lat_sec') or '0'}; lateness/min {runs_of('lat_min') or '0'}; idle {runs_of('idle') or '0'}; burst {runs_of('burst') or '0'}; API {runs_of('api_jobs') or '0'}.

- Minute lateness: 20 jobs per tool at each of {args.minutes} minute boundary(ies) per run; cronduct, yacron and cron share a boundary (cron starts its jobs 1 s after the minute, yacron at a sub-second offset of its own), cronstable gets its own.
- 2,000-job burst: cronduct and cronstable at a whole second (they have a seconds field), yacron and cron at a minute boundary; every job runs `/bin/sh -c 'date +%s%N >> FILE'`, so the figure includes 2,000 shell starts on {m['nproc']} CPUs.
- Python peers get their jobs as a directory of {JOBS_PER_FILE}-job files (yacron needs about four minutes to validate 10,000 jobs in one file: its YAML parser is quadratic in the file size), and their web API enabled (cronduct always has its API).
{chr(10).join(rps)}
{('- Reload, file write to the new job start (written 10 s before the minute): ' + '; '.join(write_back) + '.') if write_back else ''}

![start lateness per tool]({os.path.relpath(plot_path, os.path.dirname(out_md))})

## Load average (1, 5, 15 min)

| when | 1 min | 5 min | 15 min |
|---|---|---|---|
{load_lines}

"""
    if notes:
        md += "## Notes\n\n" + "\n".join(f"[^{i + 1}]: {t}" for i, t in enumerate(notes)) + "\n"
    with open(out_md, "w") as f:
        f.write(md)


def plot(res, names, path, args):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    colours = {"cronduct": "#d62728", "yacron": "#1f77b4", "cronstable": "#2ca02c", "cron": "#7f7f7f"}
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), dpi=90)
    for ax, kind, title in (
        (axes[0], "second", "per-second jobs"),
        (axes[1], "minute", "jobs at a minute boundary"),
    ):
        for n in names:
            ms = sorted(v for v in res.samples.get((kind, n), []) if v > 0)
            if not ms:
                continue
            y = [(i + 1) / len(ms) for i in range(len(ms))]
            ax.step(ms, y, where="post", label=f"{n} (n={len(ms)})", color=colours.get(n))
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1, 2, 5)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("start lateness (ms, log scale)")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=8, loc="lower right")
    axes[0].set_ylabel("fraction of starts")
    fig.suptitle(f"Start lateness, all runs pooled ({args.runs} run(s), {time.strftime('%Y-%m-%d')})", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


# ------------------------------------------------------------------- main


def cleanup():
    for proc in STARTED:
        try:
            stop_process(proc, grace=10)
        except OSError:
            pass
    remove_cron_file()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, help="runs per measure; figures are medians (default 3, 1 with --quick)")
    ap.add_argument("--quick", action="store_true", help="short windows for development; figures not for publication")
    ap.add_argument("--cronduct", default=os.path.join(ROOT, "target", "release", "cronduct"),
                    help="the cronduct binary to measure (default target/release/cronduct)")
    ap.add_argument("--venv", default=os.path.join(BENCH, "venv"), help="venv holding yacron and cronstable")
    ap.add_argument("--tools", default=",".join(TOOLS), help=f"comma-separated subset of {','.join(TOOLS)}")
    ap.add_argument("--minutes", type=int, default=1, help="minute boundaries observed per run for minute lateness")
    ap.add_argument("--out", default=os.path.join(BENCH, "RESULTS-peers.md"))
    ap.add_argument("--plot", default=os.path.join(BENCH, "lateness.png"))
    ap.add_argument("--raw", default=os.path.join(BENCH, "out", "peers-raw.json"), help="all per-run values, as JSON")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (configs, marks, daemon logs)")
    args = ap.parse_args()
    # The command line as the results show it; the wrapper's own --venv is
    # noise there.
    argv = sys.argv[1:]
    args.argv = [a for i, a in enumerate(argv) if a != "--venv" and (i == 0 or argv[i - 1] != "--venv")]
    if args.runs is None:
        args.runs = 1 if args.quick else 3
    persec_s = 8 if args.quick else 20
    idle_s = 20 if args.quick else 60
    wrk_s = 3 if args.quick else 10

    workdir = tempfile.mkdtemp(prefix="cronduct-peers-")
    tempfile.tempdir = workdir  # bench/daemon.py's Daemon makes its dirs there
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    res = Results()
    all_tools = {
        "cronduct": Cronduct(os.path.abspath(args.cronduct), workdir),
        "yacron": Yacron(args.venv, workdir),
        "cronstable": Cronstable(args.venv, workdir),
        "cron": Cron(workdir),
    }
    wanted = [t for t in args.tools.split(",") if t]
    for t in wanted:
        if t not in all_tools:
            sys.exit(f"unknown tool {t!r}; choose from {', '.join(TOOLS)}")
    remove_cron_file()  # a stale one from an interrupted run is ours too
    tools, info = [], {"versions": {}, "machine": machine(), "cronduct_bin": os.path.abspath(args.cronduct)}
    for name in wanted:
        tool = all_tools[name]
        why = tool.unavailable()
        if why:
            log(f"{name}: not measured: {why}")
            for _, measure, _ in ROWS:
                res.errors[(measure, name)] = why
        else:
            info["versions"][name] = tool.version()
        tools.append(tool)
    if shutil.which("wrk"):
        info["wrk"] = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines()[0]
    runnable = [t for t in tools if t.name in info["versions"]]
    by = {t.name: t for t in runnable}
    started = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M")
    res.loads.append(("start", os.getloadavg()))
    log(f"work dir {workdir}; tools {', '.join(by)}; {args.runs} run(s)")
    try:
        tl = Timeline(res)
        for r in range(args.runs):
            queue_gap_experiments(tl, res, by, workdir, persec_s, wrk_s)
        for r in range(args.runs):
            res.loads.append((f"run {r + 1} start", os.getloadavg()))
            log(f"run {r + 1}/{args.runs}")
            group_a = [by[n] for n in ("cronduct", "yacron", "cron") if n in by]
            exp_minute_lateness(tl, res, group_a, workdir, args.minutes, exclude=set())
            exp_idle_and_lateness(tl, res, list(by.values()), [by[n] for n in ("cronstable",) if n in by],
                                  workdir, idle_s, args.minutes)
            for n in ("cron", "yacron"):
                if n in by:
                    exp_minute_burst_reload(tl, res, by[n], workdir, 2000, 10_000)
            res.loads.append((f"run {r + 1} end", os.getloadavg()))
        log("remaining gap experiments")
        tl.drain()
        res.loads.append(("end", os.getloadavg()))
    finally:
        cleanup()
    for t in tools:
        if t.name not in info["versions"]:
            continue
        if not t.seconds:
            res.errors.setdefault(("lat_sec", t.name), f"{t.name} has no seconds field")
    finished = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M")
    os.makedirs(os.path.dirname(args.raw), exist_ok=True)
    with open(args.raw, "w") as f:
        json.dump({
            "info": info, "loads": res.loads,
            "values": {f"{m}/{t}": v for (m, t), v in res.values.items()},
            "errors": {f"{m}/{t}": v for (m, t), v in res.errors.items()},
            "samples": {f"{k}/{t}": v for (k, t), v in res.samples.items()},
        }, f, indent=1)
    plot(res, [t.name for t in tools], args.plot, args)
    report(res, tools, args, info, started, finished, args.out, args.plot)
    log(f"wrote {args.out}, {args.plot} and {args.raw}")
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)


def queue_gap_experiments(tl, res, by, workdir, persec_s, wrk_s):
    """One run's worth of the experiments that need no minute boundary,
    each with a first guess of its duration in seconds."""
    for name in ("cronduct", "cronstable"):
        if name in by:
            tl.add("lat_sec", name, persec_s + 4, exp_per_second(by[name], res, workdir, persec_s))
    for name, tool in by.items():
        needs = {"cron"} if name == "cron" else set()
        tl.add("rss100", name, 4, exp_rss(tool, 100), needs)
    for name, tool in by.items():
        needs = {"cron"} if name == "cron" else set()
        tl.add("rss10k", name, {"yacron": 30, "cronstable": 12}.get(name, 5), exp_rss(tool, 10_000), needs)
        tl.add("check", name, {"yacron": 10, "cronstable": 6}.get(name, 2), exp_check(tool, 10_000))
    for name in ("cronduct", "cronstable"):
        if name in by:
            tl.add("reload", name, {"cronstable": 25}.get(name, 5), exp_reload(by[name], 10_000))
    if shutil.which("wrk"):
        for name in ("cronduct", "yacron", "cronstable"):
            if name in by:
                tl.add("api", name, 2 * wrk_s + 6, exp_api(by[name], res, wrk_s, 100))
    else:
        for name in ("cronduct", "yacron", "cronstable"):
            for m in ("api_jobs", "api_health"):
                res.errors[(m, name)] = "wrk is not installed"
    for name in ("cronduct", "cronstable"):
        if name in by:
            tl.add("burst", name, 30 if name == "cronstable" else 20, exp_second_burst(by[name], res, workdir, 2000))
    if "cron" in by:
        for m in ("api_jobs", "api_health"):
            res.errors.setdefault((m, "cron"), "cron has no API")


if __name__ == "__main__":
    main()
