# cronduct %preun: on erase ($1 = 0) stop and disable the service while its
# unit file still exists. On an upgrade ($1 = 1) leave it running.
if [ "$1" -eq 0 ] && command -v systemctl >/dev/null 2>&1; then
    if [ -d /run/systemd/system ]; then
        systemctl disable --now cronduct.service || :
    else
        systemctl disable cronduct.service >/dev/null 2>&1 || :
    fi
fi
exit 0
