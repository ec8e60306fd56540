#!/bin/sh
# Sets up and runs bench/peers.py: cronduct side by side with yacron,
# cronstable and Debian's cron (see bench/README.md).
#
# Usage, as root from anywhere:  bench/peers.sh [peers.py options]
#   bench/peers.sh                      full run, 3 runs, about 20 minutes
#   bench/peers.sh --quick              one short run, for development
#   bench/peers.sh --cronduct PATH      measure another cronduct binary
#
# Installs, when missing: Debian's cron and wrk (apt-get), and yacron,
# cronstable and matplotlib into the git-ignored bench/venv (pip). Builds
# target/release/cronduct when no --cronduct is given and it is missing.
# peers.py starts `cron -f` itself and removes its /etc/cron.d file
# afterwards; where installing the package started a cron service (a host
# with systemd), peers.py reports cron as not measured, naming its pid.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
venv=${PEERS_VENV:-$here/venv}
# Pinned so that re-runs compare like with like; override to try others.
yacron=${YACRON_VERSION:-0.19.0}
cronstable=${CRONSTABLE_VERSION:-1.2.72}

if [ "$(id -u)" -ne 0 ]; then
    echo "peers.sh: run as root (Debian's cron runs only as root and reads /etc/cron.d)" >&2
    exit 2
fi

missing=""
command -v cron >/dev/null 2>&1 || missing="$missing cron"
command -v wrk >/dev/null 2>&1 || missing="$missing wrk"
if [ -n "$missing" ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing
fi

if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q "yacron==$yacron" "cronstable==$cronstable" matplotlib

case " $* " in
    *" --cronduct "*|*" --cronduct="*) ;;
    *) [ -x "$root/target/release/cronduct" ] || (cd "$root" && cargo build --release --quiet) ;;
esac

exec "$venv/bin/python" "$here/peers.py" --venv "$venv" "$@"
