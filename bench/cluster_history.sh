#!/bin/sh
# Cluster history benchmark: how fast a node answers about past runs from
# the cluster database. A throwaway PostgreSQL server (initdb + pg_ctl on
# a temp dir, as `nobody` when run as root), RECORDS finish records of
# JOBS jobs written by three nodes over DAYS days inserted straight into
# cronduct_finishes, one daemon in cluster mode; then REQUESTS sequential
# requests per endpoint, timed from the client (loopback).
#
# Usage: bench/cluster_history.sh   (from anywhere)
# Environment: CRONDUCT_BIN (default target/release/cronduct, else
# target/debug/cronduct), JOBS (100), RECORDS (100000), DAYS (30),
# REQUESTS (50).
#
# Prints, as markdown, per endpoint: the answer size, the
# Cronduct-History header, p50, p99 and max latency.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
bin=${CRONDUCT_BIN:-$root/target/release/cronduct}
[ -x "$bin" ] || bin=$root/target/debug/cronduct
[ -x "$bin" ] || { echo "build cronduct first (cargo build)" >&2; exit 1; }
jobs=${JOBS:-100}
records=${RECORDS:-100000}
days=${DAYS:-30}
requests=${REQUESTS:-50}
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
[ -x "$pgbin/initdb" ] || { echo "install postgresql (scripts/test-deps.sh)" >&2; exit 1; }

dir=$(mktemp -d)
chmod 755 "$dir"
pid=
as_pg() { if [ "$(id -u)" = 0 ]; then setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; else "$@"; fi; }
cleanup() {
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    as_pg "$pgbin/pg_ctl" -D "$dir/pg/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
pgport=$(free_port)
port=$(free_port)
mkdir "$dir/pg"
[ "$(id -u)" = 0 ] && chown nobody "$dir/pg"
as_pg "$pgbin/initdb" -D "$dir/pg/data" -A trust -U postgres >/dev/null
as_pg "$pgbin/pg_ctl" -D "$dir/pg/data" -l "$dir/pg/log" -w \
    -o "-c listen_addresses=127.0.0.1 -c port=$pgport -c unix_socket_directories=$dir/pg -c fsync=off" start >/dev/null
psql() { "$pgbin/psql" -h 127.0.0.1 -p "$pgport" -U postgres -d cronduct -qAt "$@"; }
"$pgbin/psql" -h 127.0.0.1 -p "$pgport" -U postgres -qAt -c "CREATE DATABASE cronduct"

key=bench-admin-key-0123456789abcdef
CRONDUCT_ADMIN_KEY=$key
export CRONDUCT_ADMIN_KEY
{
    printf '[daemon]\nlisten = "127.0.0.1:%s"\nstate_dir = "%s/state"\nlog_file = "%s/log/runs.jsonl"\n\n' \
        "$port" "$dir" "$dir"
    printf '[cluster]\ndatabase = "postgres://postgres@127.0.0.1:%s/cronduct"\nnode = "node1"\nheartbeat = "1s"\nnode_timeout = "5s"\n\n' "$pgport"
    i=0
    while [ "$i" -lt "$jobs" ]; do
        printf '[jobs.job-%04d]\nschedule = "0 0 1 1 *"\ncommand = "true"\n\n' "$i"
        i=$((i + 1))
    done
} >"$dir/jobs.toml"
"$bin" run -c "$dir/jobs.toml" >>"$dir/daemon.log" 2>&1 &
pid=$!
if ! python3 - "http://127.0.0.1:$port/health" <<'EOF'
import sys, time, urllib.request
deadline = time.time() + 30
while True:
    try:
        urllib.request.urlopen(sys.argv[1], timeout=5).read()
        break
    except Exception:
        if time.time() > deadline:
            sys.exit("the daemon did not answer /health within 30 s")
        time.sleep(0.1)
EOF
then
    tail -20 "$dir/daemon.log" >&2
    exit 1
fi

# Records spread evenly over the days, a retried attempt in 5 %, failures
# in 10 %, durations from 5 ms to about 100 s, a result on every tenth.
t0=$(date +%s.%N)
psql -c "INSERT INTO cronduct_finishes (run_id, attempt, job, ts, trigger, scheduled_at,
    started_at, finished_at, duration_ms, status, exit_code, stdout, stderr, output_truncated,
    cpu_user_ms, cpu_system_ms, max_rss_kib, result, will_retry, host, node, epoch)
  SELECT 'run-' || g, 1, 'job-' || lpad((g % $jobs)::text, 4, '0'), t, 'schedule', t, t, t,
    d, CASE WHEN g % 10 = 0 THEN 'failed' ELSE 'success' END,
    CASE WHEN g % 10 = 0 THEN 1 ELSE 0 END, 'out tail', '', false, d / 4, d / 8, 2048 + g % 1000,
    CASE WHEN g % 10 = 0 THEN jsonb_build_object('rows', g % 100) END,
    g % 20 = 0, 'host' || (g % 3), 'node' || (g % 3 + 1), 1
  FROM (SELECT g, now() - make_interval(secs => g * ($days * 86400.0 / $records)) AS t,
               (5 * power(2, (g % 17)::float8 / 1.0))::bigint % 100000 + 5 AS d
        FROM generate_series(1, $records) g) s"
psql -c "ANALYZE cronduct_finishes"
t1=$(date +%s.%N)
rows=$(psql -c "SELECT count(*) FROM cronduct_finishes")

echo
echo "## cronduct cluster history: $rows finish records of $jobs jobs from 3 nodes over $days days"
echo
echo "- binary: $bin; PostgreSQL $("$pgbin/postgres" --version | awk '{print $3}'); insert + analyze: $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s"
echo "- $requests sequential requests per endpoint on loopback, after one warm-up request"
echo
echo "| endpoint | answer | Cronduct-History | p50 | p99 | max |"
echo "|---|---|---|---|---|---|"
python3 - "$port" "$key" "$requests" <<'EOF'
import sys, time, urllib.request
port, key, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
paths = [
    "/api/v1/runs?limit=50",
    "/api/v1/runs?limit=1000",
    "/api/v1/runs?job=job-0042&limit=50",
    "/api/v1/runs?status=failed&limit=50",
    "/api/v1/runs/run-4242",
    "/api/v1/jobs/job-0042/runs?limit=50",
    "/api/v1/stats?days=1",
    "/api/v1/stats?days=7",
    "/api/v1/stats?days=30",
    "/api/v1/stats?days=30&job=job-0042",
    "/api/v1/jobs",
    "/api/v1/jobs/job-0042",
]
for path in paths:
    def get():
        r = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Authorization": "Bearer " + key})
        with urllib.request.urlopen(r, timeout=60) as resp:
            return resp.read(), resp.headers.get("Cronduct-History")
    get()
    times = []
    for _ in range(n):
        t = time.perf_counter()
        body, source = get()
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    p = lambda q: times[min(len(times) - 1, int(q * len(times)))]
    print(f"| `{path}` | {len(body) / 1024:.0f} KiB | {source} | {p(0.5):.1f} ms | {p(0.99):.1f} ms | {times[-1]:.1f} ms |")
EOF
