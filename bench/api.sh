#!/bin/sh
# Admin API benchmark (issue "Admin API and the CLI client"): the release
# daemon with 1,000 jobs and 100,000 history records over 30 days, loaded
# with wrk on loopback.
#
# Targets: GET /api/v1/jobs p99 <= 5 ms and GET /api/v1/stats?days=30
# p99 <= 20 ms at 100 concurrent clients; the history index <= 30 MiB of
# RSS at 100,000 records.
#
# Usage: bench/api.sh   (from anywhere; builds target/release/cronduct if
# it is missing; installs wrk with apt-get if it is missing)
# Environment: CONNECTIONS (default 100), DURATION (10s), PACE_MS (1000),
# THREADS (wrk threads, default 1: the daemon is single-threaded, so on a
# 2-core machine one core each), JOBS (1000), RECORDS (100000), DAYS (30),
# JOB_KEYS (TOML lines added to every job, "\n" between them; e.g.
# 'warn_after = "1h"\nexpect_success_within = "400d"'), CRONDUCT_BIN, ENDPOINTS (space-separated paths; default: the targets,
# then the other GET endpoints).
#
# Prints, as markdown: the daemon's RSS with an empty log and after loading
# the generated one (and the time the rebuild took), then per endpoint the
# answer size and three loads, each for DURATION:
# - CONNECTIONS clients sending back to back (wrk's closed loop: the
#   server is saturated, so latency ~ CONNECTIONS / throughput);
# - CONNECTIONS clients each sending one request every PACE_MS on average
#   (polling dashboards and scripts: wrk's delay(), spread at random);
# - 1 client back to back: the service time without queueing;
# then the RSS after the load.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
bin=${CRONDUCT_BIN:-$root/target/release/cronduct}
connections=${CONNECTIONS:-100}
duration=${DURATION:-10s}
threads=${THREADS:-1}
jobs=${JOBS:-1000}
records=${RECORDS:-100000}
days=${DAYS:-30}
endpoints=${ENDPOINTS:-"/api/v1/jobs /api/v1/stats?days=30 /api/v1/jobs/job-0421 /api/v1/runs?limit=50 /api/v1/runs?job=job-0421&limit=50 /api/v1/status /metrics /health"}

[ -x "$bin" ] || (cd "$root" && cargo build --release --quiet)
if ! command -v wrk >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi

dir=$(mktemp -d)
pid=
cleanup() {
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url="http://127.0.0.1:$port"
CRONDUCT_ADMIN_KEY=bench-admin-key-0123456789abcdef
export CRONDUCT_ADMIN_KEY

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status"; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }

# Starts the daemon and waits until /health answers; sets `ready` to the
# seconds that took.
start_daemon() {
    t0=$(date +%s.%N)
    "$bin" run -c "$dir/jobs.toml" >>"$dir/daemon.log" 2>&1 &
    pid=$!
    python3 - "$url/health" <<'EOF'
import sys, time, urllib.request
deadline = time.time() + 300
while True:
    try:
        urllib.request.urlopen(sys.argv[1], timeout=5).read()
        break
    except Exception:
        if time.time() > deadline:
            sys.exit("the daemon did not answer /health within 300 s")
        time.sleep(0.05)
EOF
    t1=$(date +%s.%N)
    ready=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
}

stop_daemon() {
    kill -TERM "$pid"
    wait "$pid" || true
    pid=
}

python3 "$root/bench/api_gen.py" --dir "$dir" --port "$port" --jobs "$jobs" --job-keys "${JOB_KEYS:-}" --empty-log
start_daemon
empty=$(rss_kib)
stop_daemon

python3 "$root/bench/api_gen.py" --dir "$dir" --port "$port" --jobs "$jobs" --job-keys "${JOB_KEYS:-}" --records "$records" --days "$days"
start_daemon
loaded=$(rss_kib)

echo
echo "## cronduct admin API: $jobs jobs, $records history records over $days days"
echo
echo "- RSS with an empty log: $(mib "$empty")"
echo "- RSS after loading the log: $(mib "$loaded") (history index: +$(mib $((loaded - empty)))); start-up to /health: ${ready} s"
echo

pace=${PACE_MS:-1000}
# Uniform around the pace, so that the clients do not stay in lock-step
# (they all start together) and send their requests in one burst.
echo "function delay() return math.random($((pace / 2)), $((pace * 3 / 2))) end" >"$dir/paced.lua"

# wrk's figures for one endpoint: "req/s | p50 | p99"; fails on any error.
# Usage: load CONNECTIONS PATH [wrk options]
load() {
    c=$1 path=$2
    shift 2
    out=$(wrk -t"$threads" -c"$c" -d"$duration" --latency -H "Authorization: Bearer $CRONDUCT_ADMIN_KEY" "$@" "$url$path")
    if echo "$out" | grep -q -e 'Non-2xx' -e 'Socket errors'; then
        echo "$out" >&2
        echo "wrk reported errors for $path" >&2
        exit 1
    fi
    echo "$out" | awk '/^ +50%/ { p50 = $2 } /^ +99%/ { p99 = $2 } /^Requests\/sec:/ { rps = $2 }
        END { printf "%s | %s | %s", rps, p50, p99 }'
}

echo "| endpoint | answer | $connections clients: req/s | p50 | p99 | $connections clients, 1 req/${pace} ms each: req/s | p50 | p99 | 1 client: req/s | p50 | p99 |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for path in $endpoints; do
    bytes=$(python3 -c 'import os, sys, urllib.request
r = urllib.request.Request(sys.argv[1], headers={"Authorization": "Bearer " + os.environ["CRONDUCT_ADMIN_KEY"]})
print(len(urllib.request.urlopen(r).read()))' "$url$path")
    many=$(load "$connections" "$path")
    paced=$(load "$connections" "$path" -s "$dir/paced.lua")
    one=$(load 1 "$path")
    echo "| \`$path\` | $(awk -v b="$bytes" 'BEGIN { printf "%.0f KiB", b / 1024 }') | $many | $paced | $one |"
done

# The job list as most HTTP clients fetch it (browsers, curl --compressed,
# Go, Python requests ask for gzip), and as a poller that sends back the
# ETag it holds fetches it while nothing changed (an empty 304).
case " $endpoints " in *" /api/v1/jobs "*)
    path=/api/v1/jobs
    # Prints "ETAG SIZE" of the answer to a GET with the given header.
    probe() {
        python3 -c 'import os, sys, urllib.request
r = urllib.request.Request(sys.argv[1], headers={"Authorization": "Bearer " + os.environ["CRONDUCT_ADMIN_KEY"], sys.argv[2]: sys.argv[3]})
a = urllib.request.urlopen(r)
print(a.headers["ETag"], len(a.read()))' "$url$path" "$1" "$2"
    }
    set -- $(probe Accept-Encoding gzip)
    gz_bytes=$2
    set -- $(probe Accept-Encoding identity)
    etag=$1
    for variant in "Accept-Encoding: gzip" "If-None-Match: $etag"; do
        case $variant in
            Accept*) size=$(awk -v b="$gz_bytes" 'BEGIN { printf "%.0f KiB", b / 1024 }') ;;
            *) size="304, 0 KiB" ;;
        esac
        many=$(load "$connections" "$path" -H "$variant")
        paced=$(load "$connections" "$path" -s "$dir/paced.lua" -H "$variant")
        one=$(load 1 "$path" -H "$variant")
        echo "| \`$path\`, $(echo "$variant" | cut -d: -f1) | $size | $many | $paced | $one |"
    done
    ;;
esac

echo
echo "- RSS after the load: $(mib "$(rss_kib)")"
