# cronduct %postun: reload unit files; after an upgrade ($1 >= 1) restart
# the daemon on the new binary if it runs, as %systemd_postun_with_restart
# does, but once no job is running (restart-when-idle, docs/INSTALL.md) and
# without holding the transaction. State and the execution log under
# /var/lib/cronduct and /var/log/cronduct are kept on erase: RPM has no
# purge, and the run history is the admin's.
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
    if [ "$1" -ge 1 ]; then
        systemd-run --quiet --no-block --collect \
            --unit=cronduct-restart-after-upgrade \
            --description="Restart cronduct once no job is running" \
            /usr/lib/cronduct/restart-when-idle >/dev/null 2>&1 || :
    fi
fi
exit 0
