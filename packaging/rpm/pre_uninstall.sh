# cronduct %preun: on erase ($1 = 0) disable and stop the service while its
# unit file still exists, as %systemd_preun does. An upgrade ($1 = 1)
# leaves it running.
if [ "$1" -eq 0 ] && command -v systemctl >/dev/null 2>&1; then
    systemctl --no-reload disable --now cronduct.service >/dev/null 2>&1 || :
fi
exit 0
