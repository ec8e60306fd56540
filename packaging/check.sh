#!/bin/bash
# CI check of everything cronduct ships: builds the .deb and .rpm
# (packaging/build.sh), checks their contents, config files and maintainer
# scripts, validates the packaged configuration with the packaged binary,
# verifies the systemd unit, and renders every man page with warnings on.
#
# Meant for a Debian 12 machine, run as root; installs what it needs with
# apt (the only network it uses besides crates.io). Safe to run again:
# everything it creates outside target/ lives in a temporary directory.
# Touches neither the host's systemd nor its dpkg database: the package is
# installed into a scratch root with `dpkg --root`.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
summary=()

die() {
    echo "check.sh: FAILED: $*" >&2
    exit 1
}

ok() {
    echo "check.sh: ok: $*"
    summary+=("ok: $*")
}

# command -> Debian package providing it.
ensure_tools() {
    local -A want=(
        [systemd-analyze]=systemd
        [systemctl]=systemd
        [rpm]=rpm
        [man]=man-db
        # groff-base is what man-db needs to render; the full `groff`
        # package would pull in X11 libraries for output devices unused here.
        [groff]=groff-base
        [dpkg-shlibdeps]=dpkg-dev
        [gzip]=gzip
    )
    local cmd missing=()
    for cmd in "${!want[@]}"; do
        command -v "$cmd" >/dev/null 2>&1 || missing+=("${want[$cmd]}")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        [ "$(id -u)" -eq 0 ] || die "missing packages ${missing[*]}; run as root to install them"
        local packages
        mapfile -t packages < <(printf '%s\n' "${missing[@]}" | sort -u)
        echo "check.sh: installing ${packages[*]}"
        apt-get update
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${packages[@]}"
    fi
    command -v cargo >/dev/null 2>&1 || die "cargo not found; install Rust first"
}

build() {
    "$root/packaging/build.sh"
    version=$(cargo metadata --no-deps --format-version 1 --manifest-path "$root/Cargo.toml" |
        sed -n 's/.*"name":"cronduct","version":"\([^"]*\)".*/\1/p')
    deb="$root/target/packages/cronduct_${version}_$(dpkg --print-architecture).deb"
    rpm="$root/target/packages/cronduct-${version}.$(uname -m).rpm"
    [ -f "$deb" ] || die "$deb not built"
    [ -f "$rpm" ] || die "$rpm not built"
}

# The paths both packages must hold; the unit's folder differs.
expected_paths() {
    local unit_dir=$1 page
    echo /usr/bin/cronduct
    echo "$unit_dir/cronduct.service"
    echo /etc/cronduct/jobs.toml
    for page in "$root"/man/*.1; do
        echo "/usr/share/man/man1/$(basename "$page").gz"
    done
    for page in "$root"/man/*.5; do
        echo "/usr/share/man/man5/$(basename "$page").gz"
    done
}

assert_contains() {
    local what=$1 listing=$2 path
    while read -r path; do
        grep -qxF "$path" <<<"$listing" || die "$what lacks $path"
    done
}

check_deb() {
    local listing files control
    listing=$(dpkg-deb -c "$deb")
    echo "--- dpkg-deb -c $(basename "$deb")"
    echo "$listing"
    # "-rwxr-xr-x root/root 123 2024-01-01 00:00 ./usr/bin/cronduct"
    files=$(awk '$1 !~ /^d/ { sub(/^\./, "", $6); print $6 }' <<<"$listing")
    expected_paths /lib/systemd/system | assert_contains "the .deb" "$files"
    grep -qE '^-rwxr-xr-x (root/root|0/0) .* ./usr/bin/cronduct$' <<<"$listing" ||
        die "the .deb's /usr/bin/cronduct is not root-owned 0755"

    control=$(mktemp -d)
    dpkg-deb -e "$deb" "$control"
    grep -qxF /etc/cronduct/jobs.toml "$control/conffiles" ||
        die "/etc/cronduct/jobs.toml is not a conffile"
    local script
    for script in postinst prerm postrm; do
        [ -x "$control/$script" ] || die "the .deb has no executable $script"
        sh -n "$control/$script" || die "$script: syntax error"
    done
    rm -rf "$control"
    dpkg-deb -f "$deb" Depends | grep -q libc6 || die "the .deb has no Depends on libc6"
    ok "deb contents, conffile, maintainer scripts, Depends: $(dpkg-deb -f "$deb" Depends)"
}

check_rpm() {
    local listing flags scripts
    listing=$(rpm -qlp "$rpm" 2>/dev/null)
    echo "--- rpm -qlp $(basename "$rpm")"
    echo "$listing"
    expected_paths /usr/lib/systemd/system | assert_contains "the .rpm" "$listing"
    # "<path> <fflags> <perms>"; fflags: c = %config, n = noreplace, d = %doc
    # (the field is empty for plain files, so split on single spaces).
    flags=$(rpm -qp --qf '[%{FILENAMES} %{FILEFLAGS:fflags} %{FILEMODES:perms}\n]' "$rpm" 2>/dev/null)
    awk -F'[ ]' '$1 == "/etc/cronduct/jobs.toml" && $2 ~ /c/ && $2 ~ /n/ { found = 1 }
        END { exit !found }' <<<"$flags" ||
        die "/etc/cronduct/jobs.toml is not %config(noreplace): $(grep jobs.toml <<<"$flags")"
    awk -F'[ ]' '$1 == "/usr/bin/cronduct" && $3 == "-rwxr-xr-x" { found = 1 }
        END { exit !found }' <<<"$flags" ||
        die "the .rpm's /usr/bin/cronduct is not 0755"
    scripts=$(rpm -qp --scripts "$rpm" 2>/dev/null)
    local kind
    for kind in postinstall preuninstall postuninstall; do
        grep -q "^$kind scriptlet" <<<"$scripts" || die "the .rpm has no $kind scriptlet"
    done
    local s
    for s in "$root"/packaging/rpm/*.sh; do
        sh -n "$s" || die "$s: syntax error"
    done
    ok "rpm contents, %config(noreplace), scriptlets"
}

# The packaged binary validates the packaged configuration.
check_config() {
    local x
    x=$(mktemp -d)
    dpkg-deb -x "$deb" "$x"
    "$x/usr/bin/cronduct" --version >/dev/null || die "the packaged binary does not run"
    "$x/usr/bin/cronduct" check -c "$x/etc/cronduct/jobs.toml" ||
        die "cronduct check rejects the packaged /etc/cronduct/jobs.toml"
    rm -rf "$x"
    ok "packaged jobs.toml passes cronduct check"
}

# systemd-analyze verify needs every Exec binary and every Documentation=
# man page to exist, so it runs on a copy of the unit whose ExecStart points
# at the binary extracted from the .deb, with MANPATH at the packaged pages.
check_unit() {
    local x out
    x=$(mktemp -d)
    dpkg-deb -x "$deb" "$x"
    mkdir "$x/unit"
    sed "s|^ExecStart=/usr/bin/cronduct |ExecStart=$x/usr/bin/cronduct |" \
        "$x/lib/systemd/system/cronduct.service" >"$x/unit/cronduct.service"
    grep -q "^ExecStart=$x/usr/bin/cronduct run" "$x/unit/cronduct.service" ||
        die "unexpected ExecStart line in the unit"
    out=$(MANPATH="$x/usr/share/man" SYSTEMD_LOG_LEVEL=notice \
        systemd-analyze verify "$x/unit/cronduct.service" 2>&1) ||
        die "systemd-analyze verify: $out"
    [ -z "$out" ] || die "systemd-analyze verify warns: $out"
    cmp -s "$root/systemd/cronduct.service" "$x/lib/systemd/system/cronduct.service" ||
        die "the packaged unit differs from systemd/cronduct.service"
    rm -rf "$x"
    ok "systemd-analyze verify cronduct.service"
}

check_man() {
    local page err n=0
    for page in "$root"/man/*.1 "$root"/man/*.5 "$root"/target/packages/man/*.gz; do
        err=$(MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null)
        [ -z "$err" ] || die "man --warnings $page: $err"
        n=$((n + 1))
    done
    ok "$n man pages render without warnings"
}

# Installs the .deb into a scratch root with the maintainer scripts run
# outside a chroot (they honour DPKG_ROOT), then upgrades, removes and
# purges it, checking what the scripts leave behind at each step.
check_maintainer_scripts() {
    local r log key key2 wants
    r=$(mktemp -d)
    log=$(mktemp)
    mkdir -p "$r/var/lib/dpkg/info" "$r/var/lib/dpkg/updates" "$r/var/lib/dpkg/triggers"
    touch "$r/var/lib/dpkg/status" "$r/var/lib/dpkg/available"
    wants="$r/etc/systemd/system/multi-user.target.wants/cronduct.service"
    # The scratch root has no libc6 package, hence --force-depends; dpkg's
    # complaints about it go to $log, shown only when a step fails.
    dpkg_root() {
        dpkg --root="$r" --force-script-chrootless --force-depends --log=/dev/null "$@" \
            >>"$log" 2>&1 || {
            cat "$log" >&2
            die "dpkg --root $*"
        }
    }

    dpkg_root -i "$deb"
    [ "$(stat -c %a "$r/var/lib/cronduct")" = 750 ] || die "/var/lib/cronduct is not 0750"
    [ "$(stat -c %a "$r/var/lib/cronduct/admin.key")" = 600 ] || die "admin.key is not 0600"
    key=$(cat "$r/var/lib/cronduct/admin.key")
    [[ "$key" =~ ^[0-9a-f]{64}$ ]] || die "admin.key is not 64 hex digits: $key"
    [ -L "$wants" ] || die "a fresh install did not enable cronduct.service"

    dpkg_root -i "$deb"
    key2=$(cat "$r/var/lib/cronduct/admin.key")
    [ "$key" = "$key2" ] || die "reinstalling replaced the admin key"

    dpkg_root -r cronduct
    if [ -e "$wants" ] || [ -L "$wants" ]; then
        die "removal left cronduct.service enabled"
    fi
    [ -f "$r/etc/cronduct/jobs.toml" ] || die "removal deleted the conffile"
    [ -f "$r/var/lib/cronduct/admin.key" ] || die "removal (not purge) deleted the admin key"

    dpkg_root -i "$deb"
    [ -L "$wants" ] || die "reinstalling after removal did not enable cronduct.service"

    dpkg_root -P cronduct
    [ ! -e "$r/var/lib/cronduct" ] || die "purge left /var/lib/cronduct"
    [ ! -e "$r/etc/cronduct/jobs.toml" ] || die "purge left /etc/cronduct/jobs.toml"
    [ ! -L "$wants" ] || die "purge left cronduct.service enabled"
    rm -rf "$r" "$log"
    ok "deb install, upgrade, remove, reinstall, purge in a scratch root"
}

# The scripts' paths under a running systemd, which the scratch-root install
# above cannot reach: each script runs in a private mount namespace with
# empty /var/lib, /var/log and /run (holding /run/systemd/system, the sign
# of a running systemd) and a fake systemctl that records its arguments.
# The host's systemd and state are never touched.
check_scripts_under_systemd() {
    local t calls expected
    t=$(mktemp -d)
    mkdir "$t/bin"
    printf '#!/bin/sh\necho "systemctl $*" >>"%s/calls"\n' "$t" >"$t/bin/systemctl"
    chmod 755 "$t/bin/systemctl"
    dpkg-deb -e "$deb" "$t/deb"
    cat >"$t/run.sh" <<EOF
set -eu
for d in /var/lib /var/log /run; do mount -t tmpfs tmpfs "\$d"; done
mkdir -p /run/systemd/system
export PATH="$t/bin:\$PATH"
step() { echo "# \$*" >>"$t/calls"; "\$@"; }
step $t/deb/postinst configure ""
test -f /var/lib/cronduct/admin.key
step $t/deb/postinst configure 0.0.9
step $t/deb/prerm upgrade 0.1.1
step $t/deb/prerm remove
step $t/deb/postrm remove
step $t/deb/postinst configure 0.1.0
step $t/deb/prerm remove
step $t/deb/postrm purge
test ! -e /var/lib/cronduct
step sh $root/packaging/rpm/post_install.sh 1
test -f /var/lib/cronduct/admin.key
step sh $root/packaging/rpm/post_install.sh 2
step sh $root/packaging/rpm/pre_uninstall.sh 1
step sh $root/packaging/rpm/post_uninstall.sh 1
step sh $root/packaging/rpm/pre_uninstall.sh 0
step sh $root/packaging/rpm/post_uninstall.sh 0
EOF
    unshare --mount --propagation private sh "$t/run.sh" ||
        die "maintainer scripts failed under a (simulated) running systemd"
    calls=$(sed "s|$t/deb/||; s|$root/packaging/||" "$t/calls")
    expected='# postinst configure 
systemctl daemon-reload
systemctl enable --now cronduct.service
# postinst configure 0.0.9
systemctl daemon-reload
systemctl try-restart cronduct.service
# prerm upgrade 0.1.1
# prerm remove
systemctl disable --now cronduct.service
# postrm remove
systemctl daemon-reload
# postinst configure 0.1.0
systemctl daemon-reload
systemctl enable --now cronduct.service
# prerm remove
systemctl disable --now cronduct.service
# postrm purge
systemctl daemon-reload
# sh rpm/post_install.sh 1
systemctl daemon-reload
systemctl enable --now cronduct.service
# sh rpm/post_install.sh 2
systemctl daemon-reload
# sh rpm/pre_uninstall.sh 1
# sh rpm/post_uninstall.sh 1
systemctl daemon-reload
systemctl try-restart cronduct.service
# sh rpm/pre_uninstall.sh 0
systemctl disable --now cronduct.service
# sh rpm/post_uninstall.sh 0
systemctl daemon-reload'
    [ "$calls" = "$expected" ] ||
        die "maintainer scripts called systemctl unexpectedly: $(diff <(echo "$expected") <(echo "$calls"))"
    rm -rf "$t"
    ok "deb and rpm scripts under a running systemd: enable --now, try-restart, disable --now"
}

main() {
    ensure_tools
    build
    check_deb
    check_rpm
    check_unit
    check_man
    check_maintainer_scripts
    check_scripts_under_systemd
    check_config
    echo
    echo "=== cronduct packaging check: all passed"
    printf '  %s\n' "${summary[@]}"
    printf '  %s  %s bytes\n' "$(basename "$deb")" "$(stat -c %s "$deb")" \
        "$(basename "$rpm")" "$(stat -c %s "$rpm")"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    main "$@"
fi
