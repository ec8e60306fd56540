# cronduct %postun: reload unit files; after an upgrade ($1 >= 1) restart
# the daemon on the new binary if it was running. State and the execution
# log under /var/lib/cronduct and /var/log/cronduct are kept on erase, as
# RPM has no purge.
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload || :
    if [ "$1" -ge 1 ]; then
        systemctl try-restart cronduct.service ||
            echo "cronduct: the service did not restart; see: journalctl -u cronduct" >&2
    fi
fi
exit 0
