#!/bin/sh
# Refresh tests/data/debian/: /etc/crontab and /etc/cron.d files exactly
# as Debian packages ship them, for the import and `crontabs` tests
# (tests/it/crontab_import.rs). Taken from the packages themselves with
# apt-get download + dpkg-deb -x, never typed by hand.
#
# Usage, on a Debian machine with apt sources (no root needed for
# download into a writable folder):
#     sh tools/gen_debian_crontabs.sh
set -eu
PACKAGES="cron-daemon-common anacron certbot e2fsprogs mdadm php-common sysstat"
repo=$(cd "$(dirname "$0")/.." && pwd)
out="$repo/tests/data/debian"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
for p in $PACKAGES; do
    apt-get download "$p" >/dev/null
done
rm -rf "$out"
mkdir -p "$out/etc/cron.d"
: >"$out/MANIFEST"
for deb in *.deb; do
    dpkg-deb -x "$deb" root
    echo "$(dpkg-deb -f "$deb" Package) $(dpkg-deb -f "$deb" Version)" >>"$out/MANIFEST"
done
cp root/etc/crontab "$out/etc/crontab"
# Every file, the .placeholder too: Debian's cron skips it by its name.
cp -a root/etc/cron.d/. "$out/etc/cron.d/"
sort -o "$out/MANIFEST" "$out/MANIFEST"
ls -A "$out/etc/cron.d"
