#!/usr/bin/env python3
"""Cluster-mode benchmark for cronduct (docs/CLUSTER.md).

Runs release daemons on one throwaway PostgreSQL server of its own
(initdb + pg_ctl on a temp dir and a free port on 127.0.0.1, as the
tests do, but with the server's default durability: fsync and
synchronous_commit on, so a claim costs what it costs in production),
and prints the figures as a markdown table.

    cargo build --release && python3 bench/cluster.py [--quick]
        [--only lateness,claims,failover] [--bin PATH] [--seconds 120]

Measures:
  lateness   100 per-second jobs (`date +%s%N`, no shell) for --seconds:
             first on one daemon without [cluster], then on 3 nodes of a
             cluster, in the same run of the script. Start lateness is the
             child's own clock reading minus the scheduled second (p50,
             p99); the cluster's extra lateness is the difference. Also
             checks every instant started exactly once across the nodes.
  trips      in the cluster window of `lateness`: the statements the
             database executed (pg_stat_statements `calls`, every
             statement the nodes sent, heartbeats included) and the
             transactions it committed (pg_stat_database xact_commit), each
             per run started; and the claim statements per run.
  claims     per-second jobs on the 3 nodes, stepping up the number of
             jobs (each node tries to claim every instant, one wins it):
             the instants claimed per second (won claims: one per run),
             the claim statements per second (all nodes' tries), the
             share of instants started, the database's CPU use (its
             processes' utime+stime from /proc) and the claim lateness.
             Each claimed instant also spawns a process (`true`), so the
             figure is what the daemon sustains end to end, spawns
             included, on this machine.
  failover   a long job (`sleep 300`, retries = 1, retry_delay = 1s) on 3
             nodes with heartbeat = 1s, node_timeout = 5s: the node running
             it is killed with SIGKILL; the time from the kill to the
             retry's `start` line on a survivor.

Log timestamps have millisecond resolution; child figures are exact.
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import daemon as single  # noqa: E402  (bench/daemon.py: the same Daemon fixture)

from daemon import Daemon, free_port, parse_ts, pct  # noqa: E402

SCENARIOS = ("lateness", "claims", "failover")
DEBIAN_BIN = "/usr/lib/postgresql"
PER_SECOND = '[jobs.{name}]\nschedule = "* * * * * *"\ncommand = {command}\n'


def server_bin():
    versions = []
    for v in os.listdir(DEBIAN_BIN) if os.path.isdir(DEBIAN_BIN) else []:
        if v.isdigit() and os.path.exists(os.path.join(DEBIAN_BIN, v, "bin", "initdb")):
            versions.append((int(v), os.path.join(DEBIAN_BIN, v, "bin")))
    if not versions:
        sys.exit("PostgreSQL is not installed: scripts/test-deps.sh installs Debian's `postgresql`")
    return max(versions)[1]


class Postgres:
    """A throwaway server; as root it runs as `nobody` (initdb refuses root)."""

    def __init__(self):
        self.bin = server_bin()
        self.dir = tempfile.mkdtemp(prefix="cronduct-bench-pg-")
        self.data = os.path.join(self.dir, "data")
        self.port = free_port()
        os.mkdir(self.data)
        if os.geteuid() == 0:
            subprocess.run(["chown", "-R", "nobody:", self.dir], check=True)
        self.run("initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "-E", "UTF8",
                 "--locale=C")
        options = (f"-c listen_addresses=127.0.0.1 -c port={self.port} "
                   f"-c unix_socket_directories={self.dir} -c max_connections=200 "
                   "-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.max=1000 "
                   "-c pg_stat_statements.track=all")
        self.run("pg_ctl", "start", "-w", "-t", "60", "-D", self.data,
                 "-l", os.path.join(self.dir, "server.log"), "-o", options)
        self.base = f"postgres://postgres@127.0.0.1:{self.port}"
        self.sql("CREATE DATABASE cronduct", db="postgres")
        self.url = f"{self.base}/cronduct"
        self.sql("CREATE EXTENSION pg_stat_statements")

    def run(self, program, *args):
        cmd = [os.path.join(self.bin, program), *args]
        if os.geteuid() == 0:
            cmd = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--", *cmd]
        subprocess.run(cmd, check=True, cwd=self.dir, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL)

    def sql(self, statement, db="cronduct"):
        out = subprocess.run(["psql", "-X", "-At", "-v", "ON_ERROR_STOP=1",
                              f"{self.base}/{db}", "-c", statement],
                             check=True, capture_output=True, text=True)
        return [line.split("|") for line in out.stdout.splitlines() if line]

    def settings(self):
        rows = self.sql("SELECT name, setting FROM pg_settings WHERE name IN "
                        "('fsync', 'synchronous_commit', 'server_version')")
        return ", ".join(f"{k}={v}" for k, v in rows)

    def cpu_seconds(self):
        """utime+stime of the postmaster and every process it started,
        plus what its exited children used (cutime+cstime)."""
        with open(os.path.join(self.data, "postmaster.pid")) as f:
            master = int(f.readline())
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            ppid = int(fields[1])
            if int(pid) == master:
                total += sum(int(x) for x in fields[11:15])
            elif ppid == master:
                total += int(fields[11]) + int(fields[12])
        return total / ticks

    def reset_stats(self):
        self.sql("SELECT pg_stat_statements_reset(), pg_stat_reset()")

    def statements(self):
        """(calls, query) of the nodes' statements since the reset: the
        benchmark's own (psql) are left out."""
        rows = self.sql(
            "SELECT s.calls, CASE WHEN s.query LIKE '%INSERT INTO cronduct_claims%' THEN 'claim: ' "
            "WHEN s.query LIKE '%INSERT INTO cronduct_finishes%' THEN 'finish: ' ELSE '' END "
            "|| regexp_replace(left(s.query, 70), '\\s+', ' ', 'g') "
            "FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid "
            "WHERE d.datname = 'cronduct' AND s.query NOT LIKE '%pg_stat%' "
            "AND s.query NOT LIKE '%cronduct_claims WHERE%count%' ORDER BY s.calls DESC")
        return [(int(c), q) for c, q in rows]

    def commits(self):
        return int(self.sql("SELECT xact_commit FROM pg_stat_database "
                            "WHERE datname = 'cronduct'")[0][0])

    def stop(self):
        try:
            self.run("pg_ctl", "stop", "-w", "-m", "fast", "-D", self.data)
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def cluster_toml(pg, name, heartbeat="1s", node_timeout="5s"):
    return (f'[cluster]\ndatabase = "{pg.url}"\nnode = "{name}"\n'
            f'heartbeat = "{heartbeat}"\nnode_timeout = "{node_timeout}"\n')


def start_all(daemons):
    for d in daemons:
        d.start()
    return daemons


def stop_all(daemons):
    for d in daemons:
        d.stop()


def clean(daemons):
    """Removes the daemons' temp dirs (their logs hold 100s of MB)."""
    for d in daemons:
        shutil.rmtree(d.dir, ignore_errors=True)


def child_lateness(events, since, until):
    """ms from the scheduled second to the child's own clock reading, for
    the instants in [since, until)."""
    out = []
    for ev in events:
        if ev.get("event") == "finish" and ev.get("status") == "success":
            sched = parse_ts(ev["scheduled_at"])
            if since <= sched < until:
                ns = int(ev["stdout"].strip())
                out.append((ns - int(sched.timestamp()) * 1_000_000_000) / 1e6)
    return out


def starts(events, since, until):
    return [ev for ev in events if ev.get("event") == "start"
            and since <= parse_ts(ev["scheduled_at"]) < until]


def window(seconds, settle=3):
    """Sleeps `settle` s, then `seconds`; answers the whole seconds of the
    window [since, until) whose instants all fell inside it."""
    time.sleep(settle)
    since = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=1)
    time.sleep(seconds + 1)
    until = datetime.now(timezone.utc).replace(microsecond=0)
    time.sleep(2)  # let the last instants finish
    return since, until


def bench_lateness(pg, seconds, jobs=100):
    toml = "".join(PER_SECOND.format(name=f"tick{i}", command='["date", "+%s%N"]')
                   for i in range(jobs))
    solo = Daemon(toml).start()
    since, until = window(seconds)
    solo.stop()
    solo_late = child_lateness(solo.events(), since, until)
    solo_starts = len(starts(solo.events(), since, until))
    clean([solo])

    nodes = start_all([Daemon(cluster_toml(pg, f"node{i}") + toml) for i in (1, 2, 3)])
    time.sleep(3)
    pg.reset_stats()
    reset = datetime.now(timezone.utc)
    cpu0, commits0 = pg.cpu_seconds(), pg.commits()
    since, until = window(seconds, settle=0)
    statements, commits, cpu = pg.statements(), pg.commits() - commits0, pg.cpu_seconds() - cpu0
    read = datetime.now(timezone.utc)
    stop_all(nodes)
    events = [ev for d in nodes for ev in d.events()]
    late = child_lateness(events, since, until)
    started = starts(events, since, until)
    keys = [(ev["job"], ev["scheduled_at"]) for ev in started]
    expected = jobs * int((until - since).total_seconds())
    runs = len(started)
    # The statistics cover [reset, read]: per run means per start in it.
    counted = sum(1 for ev in events if ev.get("event") == "start"
                  and reset <= parse_ts(ev["ts"]) <= read)
    calls = sum(c for c, _ in statements)
    claims = sum(c for c, q in statements if q.startswith("claim: "))
    per_node = [len(starts(d.events(), since, until)) for d in nodes]
    clean(nodes)
    res = {
        "solo p50 ms": pct(solo_late, 50), "solo p99 ms": pct(solo_late, 99),
        "cluster p50 ms": pct(late, 50), "cluster p99 ms": pct(late, 99),
        "extra p50 ms": pct(late, 50) - pct(solo_late, 50),
        "extra p99 ms": pct(late, 99) - pct(solo_late, 99),
        "solo starts": solo_starts, "cluster starts": runs, "expected": expected,
        "duplicates": len(keys) - len(set(keys)), "missed": expected - len(set(keys)),
        "per node": "/".join(str(n) for n in per_node),
        "statements per run": calls / max(counted, 1),
        "claim statements per run": claims / max(counted, 1),
        "commits per run": commits / max(counted, 1),
        "db cpu %": 100 * cpu / (read - reset).total_seconds(),
    }
    return res, statements


def bench_claims(pg, seconds, steps):
    out = []
    for jobs in steps:
        toml = "".join(PER_SECOND.format(name=f"c{i}", command='["true"]') for i in range(jobs))
        nodes = start_all([Daemon(cluster_toml(pg, f"node{i}") + toml) for i in (1, 2, 3)])
        time.sleep(3)
        pg.reset_stats()
        cpu0 = pg.cpu_seconds()
        t0 = time.time()
        since, until = window(seconds, settle=0)
        elapsed = time.time() - t0
        cpu = pg.cpu_seconds() - cpu0
        statements = pg.statements()
        stop_all(nodes)
        events = [ev for d in nodes for ev in d.events()]
        clean(nodes)
        span = (until - since).total_seconds()
        started = starts(events, since, until)
        keys = {(ev["job"], ev["scheduled_at"]) for ev in started}
        skips = [ev for ev in events if ev.get("event") == "skip"
                 and since <= parse_ts(ev["scheduled_at"]) < until]
        late = [(parse_ts(ev["ts"]) - parse_ts(ev["scheduled_at"])).total_seconds() * 1000
                for ev in started]
        claim_calls = sum(c for c, q in statements if q.startswith("claim: "))
        out.append({
            "jobs": jobs,
            "instants claimed/s": len(keys) / span,
            "claim statements/s": claim_calls / elapsed,
            "started %": 100 * len(keys) / (jobs * span),
            "duplicates": len(started) - len(keys),
            "skips": len(skips),
            "start lateness p50 ms": pct(late, 50), "p99 ms": pct(late, 99),
            "db cpu %": 100 * cpu / elapsed,
        })
        print(f"<!-- claims step {jobs}: {json.dumps(out[-1])} -->", flush=True)
    return out


def bench_failover(pg):
    target = (datetime.now(timezone.utc) + timedelta(seconds=10)).replace(microsecond=0)
    toml = (f'[jobs.long]\nschedule = "{target.second} {target.minute} {target.hour} * * *"\n'
            'timezone = "UTC"\ncommand = ["sleep", "300"]\nretries = 1\nretry_delay = "1s"\n')
    nodes = start_all([Daemon(cluster_toml(pg, f"node{i}") + toml) for i in (1, 2, 3)])
    try:
        deadline = time.time() + 30
        runner = None
        while runner is None and time.time() < deadline:
            for d in nodes:
                if any(e.get("event") == "start" for e in d.events()):
                    runner = d
            time.sleep(0.02)
        if runner is None:
            raise RuntimeError("the long job did not start")
        runner.proc.send_signal(signal.SIGKILL)
        killed = datetime.now(timezone.utc)
        runner.proc.wait()
        # Its child outlives it: end that one process, by the pid its
        # start line names.
        for e in runner.events():
            if e.get("event") == "start" and e.get("pid"):
                try:
                    os.kill(e["pid"], signal.SIGKILL)
                except ProcessLookupError:
                    pass
        retry = None
        deadline = time.time() + 60
        while retry is None and time.time() < deadline:
            for d in nodes:
                if d is runner:
                    continue
                for e in d.events():
                    if e.get("event") == "start" and e.get("attempt") == 2:
                        retry = parse_ts(e["ts"])
            time.sleep(0.05)
        if retry is None:
            raise RuntimeError("no retry started within 60 s of the kill")
        return {"kill to retry start s": (retry - killed).total_seconds(),
                "settings": "heartbeat 1s, node_timeout 5s, retry_delay 1s"}
    finally:
        stop_all(nodes)
        clean(nodes)


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def cells(res):
    return ", ".join(f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}" for k, v in res.items())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="20 s windows, for a smoke run")
    ap.add_argument("--seconds", type=int, default=120, help="the lateness window")
    ap.add_argument("--steps", default="300,600,1000,1500",
                    help="per-second jobs of each claims step")
    ap.add_argument("--only", default=",".join(SCENARIOS))
    ap.add_argument("--bin", default=single.BIN)
    args = ap.parse_args()
    single.BIN = os.path.abspath(args.bin)
    if not os.path.exists(single.BIN):
        sys.exit(f"{single.BIN} is missing: run `cargo build --release` first")
    only = set(args.only.split(","))
    seconds = 20 if args.quick else args.seconds
    pg = Postgres()
    try:
        print(f"cronduct cluster benchmark, {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs, "
              f"PostgreSQL {pg.settings()}, load average before: {loadavg()}\n", flush=True)
        print("| scenario | result |\n|---|---|", flush=True)
        statements = []
        if "lateness" in only:
            res, statements = bench_lateness(pg, seconds)
            print(f"| 100 per-second jobs, {seconds} s: one node without [cluster], then 3 nodes "
                  f"| {cells(res)} |", flush=True)
            print(f"<!-- load average: {loadavg()} -->", flush=True)
        if "claims" in only:
            steps = [int(s) for s in args.steps.split(",")]
            for res in bench_claims(pg, 10 if args.quick else 20, steps):
                print(f"| claims, {res['jobs']} per-second jobs on 3 nodes | {cells(res)} |", flush=True)
            print(f"<!-- load average: {loadavg()} -->", flush=True)
        if "failover" in only:
            print(f"| failover, kill -9 of the running node | {cells(bench_failover(pg))} |", flush=True)
        if statements:
            print("\nStatements in the lateness scenario's cluster window (calls, query):\n")
            for calls, query in statements:
                print(f"    {calls:>8}  {query}")
        print(f"\nload average after: {loadavg()}")
    finally:
        pg.stop()


if __name__ == "__main__":
    main()
