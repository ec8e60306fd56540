# cronduct %post: prepare the state directory and the admin API key, then
# enable and start the service on a first install ($1 = 1). Upgrades
# ($1 > 1) are restarted by %postun, after the old files are gone.

STATE_DIR=/var/lib/cronduct
KEY="$STATE_DIR/admin.key"

# The daemon would generate the key itself at first start; creating it here
# means `cronduct` client commands and curl work right after installation.
# 32 bytes from /dev/urandom as 64 hex digits, no trailing newline; the
# file is never replaced, so a key already handed out stays valid.
install -d -m 0750 "$STATE_DIR"
if [ ! -e "$KEY" ]; then
    tmp="$KEY.tmp.$$"
    (umask 077 && od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"$tmp")
    chmod 0600 "$tmp"
    mv "$tmp" "$KEY"
fi

if [ -d /run/systemd/system ]; then
    systemctl daemon-reload || :
    if [ "$1" -eq 1 ]; then
        # A failed start (say, the API port is taken) must not fail the
        # transaction; systemctl has printed why.
        systemctl enable --now cronduct.service ||
            echo "cronduct: the service did not start; see: journalctl -u cronduct" >&2
    fi
elif [ "$1" -eq 1 ] && command -v systemctl >/dev/null 2>&1; then
    # Installed into an image or a chroot: enable it for the next boot.
    systemctl enable cronduct.service >/dev/null 2>&1 || :
fi
exit 0
