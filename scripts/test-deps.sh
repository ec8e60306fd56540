#!/usr/bin/env bash
# Installs what the test suite needs beyond Rust, on Debian or Ubuntu,
# when it is missing; .ci/run calls it, and so can a developer (as root,
# or with sudo). Each step checks first, so a second run does nothing.
set -euo pipefail

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_updated=false
apt_install() {
    if ! $apt_updated; then
        as_root apt-get update -qq
        apt_updated=true
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
}

# The cluster tests start throwaway PostgreSQL servers of their own
# (initdb and pg_ctl from Debian's postgresql package), unless
# CRONDUCT_TEST_DATABASE_URL names a server to use instead.
if [ -z "${CRONDUCT_TEST_DATABASE_URL:-}" ] \
    && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
    && ! command -v initdb >/dev/null 2>&1; then
    echo "installing PostgreSQL for the cluster tests"
    apt_install postgresql
fi

# The status page's browser tests (tests/it/ui_browser.rs) drive Debian's
# headless Chromium over the DevTools protocol; without it they fail.
if [ -z "${CRONDUCT_CHROMIUM:-}" ] && [ ! -x /usr/bin/chromium ]; then
    echo "installing Chromium for the status page's browser tests"
    apt_install chromium
fi

# The journal sink's tests (tests/it/daemon_journal.rs) write to a real
# systemd-journald and read it back with journalctl: the machine's own, or
# a throwaway one from Debian's systemd package.
if [ ! -x /lib/systemd/systemd-journald ] && [ ! -x /usr/lib/systemd/systemd-journald ]; then
    echo "installing systemd-journald for the journal sink's tests"
    apt_install systemd
fi
