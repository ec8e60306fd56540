#!/bin/sh
# Whole-output benchmark (issue "Whole output, resource use and limits"):
# a job writing SIZE_MB of output as fast as it can, through the file sink
# of the release daemon, against the same command into `cat > /dev/null`
# on the same machine (the limit: the pipe and the writer alone).
#
# Usage: bench/output.sh   (from anywhere; builds target/release/cronduct
# if it is missing)
# Environment: SIZE_MB (default 1000), MAX_SIZE (output_max_size of the job,
# default 10MiB), CRONDUCT_BIN.
#
# Prints, as markdown: for the baseline and for the daemon, the wall time
# and MB/s; for the daemon also its CPU time per MB of output (user +
# system of the daemon process alone, from /proc/<pid>/stat around the
# run), its RSS before, its peak RSS (VmHWM) during and its RSS after, the
# output file's size and the record's output_dropped_bytes.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
bin=${CRONDUCT_BIN:-$root/target/release/cronduct}
size_mb=${SIZE_MB:-1000}
max_size=${MAX_SIZE:-10MiB}
[ -x "$bin" ] || (cd "$root" && cargo build --release --quiet)

dir=$(mktemp -d)
trap 'kill "$daemon" 2>/dev/null || true; rm -rf "$dir"' EXIT INT TERM
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

[daemon]
listen = "127.0.0.1:0"
state_dir = "$dir/state"
log_file = "$dir/log/runs.jsonl"
EOF
CRONDUCT_ADMIN_KEY=bench "$bin" run -c "$dir/jobs.toml" 2>"$dir/daemon.stderr" &
daemon=$!
while [ ! -s "$dir/state/listen" ]; do sleep 0.1; done
addr=$(cat "$dir/state/listen")
rss_before=$(status_kib "$daemon" VmRSS)
t0=$(ticks "$daemon")
start=$(now)
curl -s -X POST -H "Authorization: Bearer bench" \
    "http://$addr/api/v1/jobs/flood/run?wait=true" > "$dir/record.json"
end=$(now)
t1=$(ticks "$daemon")
hwm=$(status_kib "$daemon" VmHWM)
rss_after=$(status_kib "$daemon" VmRSS)
took=$(echo "$end - $start" | bc -l)
hz=$(getconf CLK_TCK)
file=$(ls "$dir"/log/output/flood/*.log)
dropped=$(sed 's/.*"output_dropped_bytes":\([0-9null]*\).*/\1/' "$dir/record.json")

printf '| | wall s | MB/s |\n|---|---|---|\n'
printf '| `%s \\| cat > /dev/null` | %.2f | %.0f |\n' "$job" "$base" "$(echo "$size_mb / $base" | bc -l)"
printf '| cronduct, file sink (%s) | %.2f | %.0f |\n' "$max_size" "$took" "$(echo "$size_mb / $took" | bc -l)"
echo
printf -- '- daemon CPU: %.1f ms per MB (%s ticks of 1/%s s for %s MB)\n' \
    "$(echo "($t1 - $t0) * 1000 / $hz / $size_mb" | bc -l)" "$((t1 - t0))" "$hz" "$size_mb"
printf -- '- daemon RSS: %s KiB before, peak (VmHWM) %s KiB, %s KiB after\n' "$rss_before" "$hwm" "$rss_after"
printf -- '- output file: %s bytes; output_dropped_bytes: %s\n' "$(stat -c %s "$file")" "$dropped"
