#!/bin/bash
# The .deb under a real systemd: boots Debian 12 (debootstrap minbase, no
# ca-certificates) with systemd-nspawn, installs the package and checks
# what an admin relies on, one PASS or FAIL line each; exits 1 on any FAIL.
# Then installs the .rpm with `rpm --root` into a throwaway copy of the same
# root to check its scriptlets and owned directories.
#
#   packaging/systemd-check.sh DEB RPM
#
# Run as root. The root file system is made once (about a minute) into
# $CRONDUCT_CI_CACHE (default /var/cache/cronduct-ci) from the mirror in
# the machine's own apt sources; each run boots a throwaway copy of it.
# The container has no network (--private-network): every HTTP target is
# the daemon's own API on 127.0.0.1.
set -uo pipefail

deb=$1
rpm=$2
cache=${CRONDUCT_CI_CACHE:-/var/cache/cronduct-ci}
base="$cache/bookworm-minbase"
failures=0
passes=0

pass() { echo "PASS: $*"; passes=$((passes + 1)); }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
check() {
    local what=$1
    shift
    if "$@"; then pass "$what"; else fail "$what"; fi
}

# The first Debian mirror in the machine's apt sources (deb822 or the
# one-line format).
mirror() {
    local m
    m=$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null |
        grep -v security | head -n1)
    [ -n "$m" ] || m=$(awk '$1 == "deb" && $0 !~ /security/ { print $2; exit }' \
        /etc/apt/sources.list 2>/dev/null)
    echo "${m:-http://deb.debian.org/debian}"
}

ensure_base() {
    [ -e "$base/.cronduct-complete" ] && return
    echo "systemd-check: debootstrap bookworm into $base (once)"
    rm -rf "$base.tmp"
    mkdir -p "$cache"
    debootstrap --variant=minbase --include=systemd,systemd-sysv bookworm "$base.tmp" \
        "$(mirror)" >"$cache/debootstrap.log" 2>&1 || {
        tail -n 20 "$cache/debootstrap.log" >&2
        echo "systemd-check: debootstrap failed" >&2
        exit 1
    }
    rm -rf "$base"
    mv "$base.tmp" "$base"
    touch "$base/.cronduct-complete"
}

ensure_base
work=$(mktemp -d /var/tmp/cronduct-check.XXXXXX)
root="$work/root"
cp -a "$base" "$root"
cp "$deb" "$root/root/cronduct.deb"
nspawn_pid=
cleanup() {
    if [ -n "$nspawn_pid" ]; then
        kill "$nspawn_pid" 2>/dev/null
        wait "$nspawn_pid" 2>/dev/null
    fi
    rm -rf "$work"
}
trap cleanup EXIT

systemd-nspawn -q -D "$root" -b --register=no --keep-unit --private-network \
    --console=passive >"$work/console.log" 2>&1 &
nspawn_pid=$!

# The container's PID 1: the `systemd` process whose root is $root.
leader=
for _ in $(seq 100); do
    for p in $(pgrep -x systemd); do
        if [ "$(stat -L -c %d:%i "/proc/$p/root" 2>/dev/null)" = "$(stat -c %d:%i "$root")" ]; then
            leader=$p
        fi
    done
    [ -n "$leader" ] && break
    sleep 0.1
done
[ -n "$leader" ] || {
    cat "$work/console.log"
    echo "systemd-check: the container did not boot" >&2
    exit 1
}

# Runs a command in the container, in its namespaces and root.
c() {
    nsenter -t "$leader" -a -r -w -- /usr/bin/env -i \
        PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 SYSTEMD_PAGER= "$@"
}
prop() { c systemctl show -P "$2" "$1"; }
wait_for() { # SECONDS COMMAND...: polls every 0.5 s
    local n=$(($1 * 2))
    shift
    while [ "$n" -gt 0 ]; do
        "$@" && return 0
        sleep 0.5
        n=$((n - 1))
    done
    return 1
}
booted() {
    case "$(c systemctl is-system-running 2>/dev/null)" in
    running | degraded) return 0 ;;
    *) return 1 ;;
    esac
}
wait_for 60 booted || fail "container booted: $(c systemctl is-system-running)"

# A configuration with an HTTP job on the daemon's own API, a short job,
# and a 2 s shutdown_grace so that the stop test is quick.
config() {
    cat <<'TOML'
[daemon]
shutdown_grace = "2s"

[jobs.uptime]
schedule = "@hourly"
command = ["/usr/bin/uptime"]

[jobs.api-health]
schedule = "@hourly"
http = { url = "http://127.0.0.1:9780/health" }
timeout = "10s"

[jobs.long]
schedule = "@yearly"
command = ["/bin/sleep", "300"]

[jobs.brief]
schedule = "@yearly"
command = ["/bin/sleep", "6"]
TOML
}
put_config() { c sh -c 'cat >/etc/cronduct/jobs.toml'; }
since() { c date '+%Y-%m-%d %H:%M:%S'; }
err_lines() { c journalctl -q -u cronduct -p err --since "$1" --no-pager; }
main_pid() { prop cronduct.service MainPID; }
active() { [ "$(c systemctl is-active cronduct.service)" = active ]; }
inactive() { ! active; }
# check's `bash -c` conditions use these.
export leader
export -f c prop wait_for active inactive err_lines main_pid since

check "minimal system: no ca-certificates installed" test ! -e "$root/etc/ssl/certs/ca-certificates.crt"
check "dpkg -i on a minimal system" c dpkg -i /root/cronduct.deb
check "enabled after install" test "$(c systemctl is-enabled cronduct.service)" = enabled
check "active after install (Type=notify: READY=1 received)" wait_for 10 active
check "STATUS= shown by systemctl status" bash -c "c systemctl status cronduct.service | grep -q 'Status: \"Scheduling; admin API'"
check "INFO messages at journal priority 6" bash -c \
    "c journalctl -u cronduct -o json --no-pager | grep '\"MESSAGE\":\"cronduct [^ ]* started' | grep -q '\"PRIORITY\":\"6\"'"
logdir=$(c stat -c '%U:%G %a' /var/log/cronduct)
check "/var/log/cronduct is root:adm 2750 (is $logdir)" test "$logdir" = "root:adm 2750"
check "client works without ca-certificates (cronduct jobs)" c cronduct jobs

t=$(since)
config | put_config
check "reload by editing the file" wait_for 10 bash -c "c cronduct jobs | grep -q api-health"
check "http job without ca-certificates succeeds" c cronduct trigger api-health --wait
check "systemctl reload with a valid config: exit 0" c systemctl reload cronduct.service
printf '[jobs.broken]\nschedule = "not cron"\ncommand = "true"\n' | c sh -c 'cat >>/etc/cronduct/jobs.toml'
sleep 2
check "systemctl reload with a broken config: fails" bash -c "! c systemctl reload cronduct.service"
check "broken edit refused, old jobs kept" bash -c "active && c cronduct jobs | grep -q api-health"
check "broken edit logged at err" bash -c "err_lines '$t' | grep -q ."
config | put_config
wait_for 10 bash -c "c cronduct status | grep -q 'last reload *ok'" || true

# The watchdog, with a 3 s timeout instead of 30 s to keep this quick.
c mkdir -p /etc/systemd/system/cronduct.service.d
printf '[Service]\nWatchdogSec=3s\n' | c sh -c 'cat >/etc/systemd/system/cronduct.service.d/watchdog.conf'
c systemctl daemon-reload
c systemctl restart cronduct.service
t=$(since)
pid=$(main_pid)
restarts=$(prop cronduct.service NRestarts)
c sh -c "kill -STOP $pid"
check "watchdog kills a hung daemon and systemd restarts it" wait_for 30 bash -c \
    "[ \"\$(c systemctl show -P NRestarts cronduct.service)\" -gt $restarts ] && [ \"\$(c systemctl is-active cronduct.service)\" = active ]"
c rm -r /etc/systemd/system/cronduct.service.d
c systemctl daemon-reload
c systemctl restart cronduct.service

t=$(since)
c cronduct trigger long >/dev/null
sleep 1
start=$(date +%s)
c systemctl stop cronduct.service
took=$(($(date +%s) - start))
check "stop within TimeoutStopSec (took ${took}s)" test "$took" -lt 60
check "stop records the running job as cancelled" bash -c \
    "c grep '\"job\":\"long\"' /var/log/cronduct/runs.jsonl | grep -q '\"status\":\"cancelled\"'"
c systemctl start cronduct.service
c systemctl restart cronduct.service
check "clean stop and restart log nothing at err" bash -c "[ -z \"\$(err_lines '$t')\" ]"

# Upgrade (the same version again: postinst configure with the old
# version) with a modified conffile and a job running.
c cronduct trigger brief >/dev/null
sleep 1
pid=$(main_pid)
start=$(date +%s)
c dpkg -i --force-confold /root/cronduct.deb >/dev/null
took=$(($(date +%s) - start))
check "upgrade: dpkg -i does not wait for the running job (took ${took}s)" test "$took" -lt 5
check "upgrade keeps the edited conffile" c grep -q api-health /etc/cronduct/jobs.toml
check "upgrade does not restart while a job runs" test "$(main_pid)" = "$pid"
check "upgrade restarts once the job is done" wait_for 30 bash -c "[ \"\$(c systemctl show -P MainPID cronduct.service)\" != $pid ] && [ \"\$(c systemctl is-active cronduct.service)\" = active ]"
check "the running job finished (success, not cancelled)" bash -c \
    "c grep '\"job\":\"brief\"' /var/log/cronduct/runs.jsonl | grep '\"event\":\"finish\"' | grep -q '\"status\":\"success\"'"

# A bad config at start: exit 78, failed, no restart loop, one err line.
t=$(since)
printf '[jobs.x]\nschedule = "nope"\ncommand = "true"\n' | put_config
c systemctl stop cronduct.service
c systemctl start cronduct.service
sleep 7
check "bad config at start: exit status 78" test "$(prop cronduct.service ExecMainStatus)" = 78
check "bad config at start: unit failed, not restarting" bash -c \
    "[ \"\$(c systemctl is-failed cronduct.service)\" = failed ] && [ \"\$(c systemctl show -P NRestarts cronduct.service)\" = 0 ]"
check "bad config at start: listed by systemctl --failed" bash -c "c systemctl --failed --no-legend | grep -q cronduct"
check "bad config at start: one err line says why" bash -c \
    "[ \"\$(err_lines '$t' | grep -c 'not starting')\" = 1 ] && err_lines '$t' | grep -q 'nope'"
config | put_config
c systemctl reset-failed cronduct.service
c systemctl start cronduct.service

# Remove, reinstall, and the admin's disable.
check "remove" c dpkg -r cronduct
check "remove stops the service" inactive
check "remove keeps the state and the conffile" c test -f /var/lib/cronduct/admin.key -a -f /etc/cronduct/jobs.toml
check "reinstall after remove: enabled and started again" bash -c "c dpkg -i /root/cronduct.deb >/dev/null && wait_for 10 active && [ \"\$(c systemctl is-enabled cronduct.service)\" = enabled ]"
c systemctl disable --now cronduct.service 2>/dev/null
c dpkg -r cronduct >/dev/null
c dpkg -i /root/cronduct.deb >/dev/null
check "a disabled service stays disabled after remove + reinstall" bash -c \
    "[ \"\$(c systemctl is-enabled cronduct.service)\" = disabled ] && inactive"
check "purge" c dpkg -P cronduct
check "purge removes state and log" bash -c "! c test -e /var/lib/cronduct && ! c test -e /var/log/cronduct"

printf '#!/bin/sh\nexit 101\n' | c sh -c 'cat >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d'
c dpkg -i /root/cronduct.deb >/dev/null
check "policy-rc.d 101: installed and enabled but not started" bash -c \
    "inactive && [ \"\$(c systemctl is-enabled cronduct.service)\" = enabled ]"
c rm /usr/sbin/policy-rc.d
c dpkg -P cronduct >/dev/null

# The .rpm, with its scriptlets, into a copy of the root with no systemd
# running (as in an image build): preset, not enable.
r="$work/rpmroot"
cp -a "$base" "$r"
mkdir -p "$r/etc/systemd/system-preset"
echo "disable *" >"$r/etc/systemd/system-preset/99-test.preset"
rpm --root "$r" --initdb
check "rpm -i into a throwaway root" rpm --root "$r" -i --nodeps "$rpm"
check "rpm %post follows the preset (disable *: not enabled)" test ! -e "$r/etc/systemd/system/multi-user.target.wants/cronduct.service"
check "rpm %post created admin.key 0600" test "$(stat -c %a "$r/var/lib/cronduct/admin.key" 2>/dev/null)" = 600
for f in /etc/cronduct /etc/cronduct/jobs.toml /var/lib/cronduct /var/log/cronduct /usr/lib/cronduct/restart-when-idle /usr/share/licenses/cronduct/third-party-licenses.txt; do
    check "rpm owns $f" rpm --root "$r" -qf "$f"
done
check "rpm /var/log/cronduct is root:adm 2750" test "$(stat -c '%U:%G %a' "$r/var/log/cronduct")" = "root:adm 2750"
echo "enable cronduct.service" >"$r/etc/systemd/system-preset/10-cronduct.preset"
rpm --root "$r" -e cronduct
rpm --root "$r" -i --nodeps "$rpm"
check "rpm %post follows the preset (enable: enabled)" test -L "$r/etc/systemd/system/multi-user.target.wants/cronduct.service"
check "rpm -e" rpm --root "$r" -e cronduct
check "rpm -e removes the empty /etc/cronduct it owned" test ! -e "$r/etc/cronduct"
check "rpm %preun disables the unit" test ! -e "$r/etc/systemd/system/multi-user.target.wants/cronduct.service"

echo "$passes passed, $failures failed"
[ "$failures" -eq 0 ]
