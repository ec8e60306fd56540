#!/bin/sh
# Whole-output benchmark (issue "Whole output, resource use and limits"):
# a job writing SIZE_MB of output as fast as it can, through the file sink
# or the journal sink of the release daemon, against the same command into
# `cat > /dev/null` on the same machine (the limit: the pipe and the writer
# alone); and the start lateness of a once-a-second job in the same daemon,
# in a quiet window before the flood and during it.
#
# Usage: bench/output.sh   (from anywhere; builds target/release/cronduct
# if it is missing)
# Environment: SIZE_MB (default 1000), MAX_SIZE (output_max_size of the job,
# default 10MiB), SINK (files, the default, or journal: needs a journald on
# /run/systemd/journal/socket), QUIET (seconds of the quiet window, default
# 20), CRONDUCT_BIN.
#
# Prints, as markdown: for the baseline and for the daemon, the wall time
# and MB/s; for the daemon also its CPU time per MB of output (user +
# system of the daemon process alone, from /proc/<pid>/stat around the
# run), its RSS before, its peak RSS (VmHWM) during and its RSS after, the
# output file's size (or the journal's entries) and the record's
# output_dropped_bytes; the per-second job's lateness p50/p99 (from the
# time it printed against its scheduled second) quiet and while flooding.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
bin=${CRONDUCT_BIN:-$root/target/release/cronduct}
size_mb=${SIZE_MB:-1000}
max_size=${MAX_SIZE:-10MiB}
sink=${SINK:-files}
quiet=${QUIET:-20}
case $sink in
files) ;;
journal)
    [ -S /run/systemd/journal/socket ] || {
        echo "SINK=journal needs a journald on /run/systemd/journal/socket" >&2
        exit 1
    } ;;
*) echo "SINK is files or journal, not $sink" >&2; exit 2 ;;
esac
[ -x "$bin" ] || (cd "$root" && cargo build --release --quiet)

dir=$(mktemp -d)
trap '{ kill "$daemon" && wait "$daemon"; } 2>/dev/null || true; rm -rf "$dir"' EXIT INT TERM
bytes=$((size_mb * 1000000))
# 20-byte lines, like a chatty log.
job="yes 0123456789abcdefghi | head -c $bytes"

now() { date +%s.%N; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
status_kib() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"; }

start=$(now)
sh -c "$job" | cat > /dev/null
end=$(now)
base=$(echo "$end - $start" | bc -l)

cat > "$dir/jobs.toml" <<EOF
[jobs.flood]
schedule = "0 0 1 1 *"
command = "$job"
output_max_size = "$max_size"
timeout = "30m"

[jobs.tick]
schedule = "* * * * * *"
command = ["date", "+%s%N"]

[daemon]
listen = "127.0.0.1:0"
state_dir = "$dir/state"
log_file = "$dir/log/runs.jsonl"
output = "$sink"
EOF
CRONDUCT_ADMIN_KEY=bench "$bin" run -c "$dir/jobs.toml" 2>"$dir/daemon.stderr" &
daemon=$!
while [ ! -s "$dir/state/listen" ]; do sleep 0.1; done
addr=$(cat "$dir/state/listen")
sleep "$quiet"
flood_from=$(date -u +%Y-%m-%dT%H:%M:%S)
rss_before=$(status_kib "$daemon" VmRSS)
t0=$(ticks "$daemon")
start=$(now)
curl -s -X POST -H "Authorization: Bearer bench" \
    "http://$addr/api/v1/jobs/flood/run?wait=true" > "$dir/record.json"
end=$(now)
flood_to=$(date -u +%Y-%m-%dT%H:%M:%S)
t1=$(ticks "$daemon")
hwm=$(status_kib "$daemon" VmHWM)
rss_after=$(status_kib "$daemon" VmRSS)
took=$(echo "$end - $start" | bc -l)
hz=$(getconf CLK_TCK)
dropped=$(sed 's/.*"output_dropped_bytes":\([0-9null]*\).*/\1/' "$dir/record.json")
run_id=$(sed 's/.*"run_id":"\([^"]*\)".*/\1/' "$dir/record.json")
if [ "$sink" = files ]; then
    kept="output file: $(stat -c %s "$dir"/log/output/flood/*.log) bytes"
else
    kept="journal: $(journalctl -q --no-pager -o cat CRONDUCT_RUN_ID="$run_id" | wc -l) entries"
fi
# Lateness of the per-second job: what it printed (ns) against its
# scheduled whole second, for the starts scheduled before the flood and
# during it.
lateness=$(python3 - "$dir/log/runs.jsonl" "$flood_from" "$flood_to" <<'PY'
import json, sys
from datetime import datetime, timezone
log, start, end = sys.argv[1], sys.argv[2], sys.argv[3]
quiet, flood = [], []
for line in open(log):
    ev = json.loads(line)
    if ev.get("event") != "finish" or ev.get("job") != "tick" or ev.get("status") != "success":
        continue
    at = ev["scheduled_at"][:19]
    sched = datetime.strptime(at, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc).timestamp()
    ms = (int(ev["stdout"].strip()) / 1e9 - sched) * 1000
    (flood if start <= at <= end else quiet if at < start else []).append(ms)
def pct(v, p):
    v = sorted(v)
    return v[max(0, min(len(v) - 1, int(round(p / 100 * len(v) + 0.5)) - 1))] if v else float("nan")
for name, v in (("quiet", quiet), ("flooding", flood)):
    print(f"- per-second job lateness, {name}: p50 {pct(v, 50):.2f} ms, p99 {pct(v, 99):.2f} ms ({len(v)} starts)")
PY
)

printf '| | wall s | MB/s |\n|---|---|---|\n'
printf '| `%s \\| cat > /dev/null` | %.2f | %.0f |\n' "$job" "$base" "$(echo "$size_mb / $base" | bc -l)"
printf '| cronduct, %s sink (%s) | %.2f | %.0f |\n' "$sink" "$max_size" "$took" "$(echo "$size_mb / $took" | bc -l)"
echo
printf -- '- daemon CPU: %.1f ms per MB (%s ticks of 1/%s s for %s MB)\n' \
    "$(echo "($t1 - $t0) * 1000 / $hz / $size_mb" | bc -l)" "$((t1 - t0))" "$hz" "$size_mb"
printf -- '- daemon RSS: %s KiB before, peak (VmHWM) %s KiB, %s KiB after\n' "$rss_before" "$hwm" "$rss_after"
printf -- '- %s; output_dropped_bytes: %s\n' "$kept" "$dropped"
echo "$lateness"
printf -- '- load average after: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
