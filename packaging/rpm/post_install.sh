# cronduct %post: prepare the state directory and the admin API key; on a
# first install ($1 = 1) apply the system's preset for the unit, as
# %systemd_post does: Fedora and RHEL enable (and start) a service only when
# a preset file says so, never on their own.
# Upgrades ($1 > 1) are restarted by %postun, after the old files are gone.

STATE_DIR=/var/lib/cronduct
KEY="$STATE_DIR/admin.key"

# The daemon would generate the key itself at first start; creating it here
# means `cronduct` client commands and curl work right after installation.
# 32 bytes from /dev/urandom as 64 hex digits, no trailing newline; the
# file is never replaced, so a key already handed out stays valid.
if [ ! -e "$KEY" ]; then
    tmp="$KEY.tmp.$$"
    (umask 077 && od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"$tmp")
    mv "$tmp" "$KEY"
fi

# %systemd_post, expanded.
if [ "$1" -eq 1 ] && command -v systemctl >/dev/null 2>&1; then
    systemctl --no-reload preset cronduct.service >/dev/null 2>&1 || :
fi
exit 0
