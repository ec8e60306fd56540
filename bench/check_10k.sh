#!/bin/sh
# Times `cronduct check -q` on a generated configuration of 10,000 jobs
# (goal: under 0.5 s with a release build).
#
# Usage: bench/check_10k.sh [RUNS]   (from the repository root; builds
# target/release/cronduct first if it is missing; CRONDUCT_BIN overrides
# the binary). Uses hyperfine when it
# is installed, else RUNS timed runs (default 10) and prints the median.
set -eu

runs=${1:-10}
bin=${CRONDUCT_BIN:-target/release/cronduct}
[ -x "$bin" ] || cargo build --release --quiet

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT INT TERM
mkdir "$dir/jobs.d"

# A realistic mix: shell and argv commands, HTTP checks, several zones,
# defaults, retries, env and notify tables; a quarter of the jobs live in
# include files.
{
    printf '%s\n' 'include = ["jobs.d/*.toml"]' '' '[smtp]' 'from = "cronduct@localhost"' ''
    printf '%s\n' '[defaults]' 'timezone = "UTC"' 'timeout = "1h"' 'env = { LANG = "C.UTF-8" }' ''
} > "$dir/jobs.toml"
# ZONES=300 spreads the jobs over the first 300 zones of zone1970.tab
# (every zone read from the tz database); the default is five zones.
zonelist="UTC Europe/Berlin America/New_York Asia/Tokyo America/Santo_Domingo"
if [ -n "${ZONES:-}" ]; then
    zonelist=$(grep -v '^#' /usr/share/zoneinfo/zone1970.tab | cut -f3 | sort | head -n "$ZONES" | tr '\n' ' ')
fi
awk -v dir="$dir" -v zonelist="$zonelist" 'BEGIN {
    nzones = split(zonelist, zones, " ")
    for (i = 0; i < 10000; i++) {
        out = (i % 4 == 3) ? sprintf("%s/jobs.d/part%d.toml", dir, i % 10) : dir "/jobs.toml"
        printf "[jobs.job-%05d]\n", i >> out
        printf "description = \"generated job %d\"\n", i >> out
        printf "schedule = \"%d %d * * %d\"\n", i % 60, i % 24, i % 7 >> out
        printf "timezone = \"%s\"\n", zones[i % nzones + 1] >> out
        if (i % 3 == 0) {
            printf "command = \"echo job %d >/dev/null\"\n", i >> out
        } else if (i % 3 == 1) {
            printf "command = [\"/bin/echo\", \"job\", \"%d\"]\n", i >> out
            printf "retries = 2\nretry_delay = \"10s\"\nretry_backoff = 2.0\n" >> out
        } else {
            printf "http = { url = \"http://127.0.0.1:8080/job/%d\", expect_status = [200] }\n", i >> out
            printf "notify = { email = [\"ops@example.com\"], on = [\"failure\", \"recovery\"] }\n" >> out
        }
        printf "env = { JOB_INDEX = \"%d\" }\n\n", i >> out
    }
}'

"$bin" check -q -c "$dir/jobs.toml"
echo "config: $(cat "$dir"/jobs.toml "$dir"/jobs.d/*.toml | grep -c '^\[jobs\.') jobs, $(cat "$dir"/jobs.toml "$dir"/jobs.d/*.toml | wc -c) bytes"

if command -v hyperfine >/dev/null 2>&1; then
    hyperfine --warmup 2 --runs "$runs" "$bin check -q -c $dir/jobs.toml"
    exit 0
fi

i=0
while [ "$i" -lt "$runs" ]; do
    /usr/bin/time -f '%e %M' -a -o "$dir/times" "$bin" check -q -c "$dir/jobs.toml"
    i=$((i + 1))
done
sort -n "$dir/times" | awk '{ t[NR] = $1; if ($2 > rss) rss = $2 } END {
    m = (NR % 2) ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2
    printf "runs: %d  min: %.2f s  median: %.2f s  max: %.2f s  peak RSS: %d KiB\n", NR, t[1], m, t[NR], rss
}'
