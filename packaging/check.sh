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
# installed into a booted container (packaging/systemd-check.sh), whose
# debootstrapped root is cached in /var/cache/cronduct-ci.
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
        [lintian]=lintian
        [rpmlint]=rpmlint
        [debootstrap]=debootstrap
        [systemd-nspawn]=systemd-container
        [nsenter]=util-linux
        [pgrep]=procps
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
    deb="$root/target/packages/cronduct_${version}-1_$(dpkg --print-architecture).deb"
    local release
    release=$(sed -n 's/^Release: *\([^ ]*\)$/\1/p' "$root/packaging/rpm/cronduct.spec")
    rpm="$root/target/packages/cronduct-${version}-${release}.$(uname -m).rpm"
    [ -f "$deb" ] || die "$deb not built"
    [ -f "$rpm" ] || die "$rpm not built"
}

# The paths both packages must hold; the unit's folder differs.
expected_paths() {
    local unit_dir=$1 page
    echo /usr/bin/cronduct
    echo "$unit_dir/cronduct.service"
    echo /etc/cronduct/jobs.toml
    echo /usr/lib/cronduct/restart-when-idle
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
    local lib
    for lib in libc6 libgcc-s1; do
        dpkg-deb -f "$deb" Depends | grep -q "$lib" || die "the .deb has no Depends on $lib"
    done
    ok "deb contents, conffile, maintainer scripts, Depends: $(dpkg-deb -f "$deb" Depends)"
}

check_rpm() {
    local listing flags scripts
    listing=$(rpm -qlp "$rpm" 2>/dev/null)
    echo "--- rpm -qlp $(basename "$rpm")"
    echo "$listing"
    expected_paths /usr/lib/systemd/system | assert_contains "the .rpm" "$listing"
    # "<path> <fflags> <perms>"; fflags: c = %config, n = noreplace, d = %doc,
    # l = %license
    # (the field is empty for plain files, so split on single spaces).
    flags=$(rpm -qp --qf '[%{FILENAMES} %{FILEFLAGS:fflags} %{FILEMODES:perms}\n]' "$rpm" 2>/dev/null)
    awk -F'[ ]' '$1 == "/etc/cronduct/jobs.toml" && $2 ~ /c/ && $2 ~ /n/ { found = 1 }
        END { exit !found }' <<<"$flags" ||
        die "/etc/cronduct/jobs.toml is not %config(noreplace): $(grep jobs.toml <<<"$flags")"
    awk -F'[ ]' '$1 == "/usr/bin/cronduct" && $3 == "-rwxr-xr-x" { found = 1 }
        END { exit !found }' <<<"$flags" ||
        die "the .rpm's /usr/bin/cronduct is not 0755"
    local f
    for f in COPYRIGHT third-party-licenses.txt; do
        awk -F'[ ]' -v f="/usr/share/licenses/cronduct/$f" '$1 == f && $2 ~ /l/ { found = 1 }
            END { exit !found }' <<<"$flags" || die "the .rpm's $f is not %license"
    done
    awk -F'[ ]' '$1 == "/var/lib/cronduct" && $3 == "drwxr-x---" { found = 1 }
        END { exit !found }' <<<"$flags" || die "the .rpm does not own /var/lib/cronduct 0750"
    scripts=$(rpm -qp --scripts "$rpm" 2>/dev/null)
    local kind
    for kind in postinstall preuninstall postuninstall; do
        grep -q "^$kind scriptlet" <<<"$scripts" || die "the .rpm has no $kind scriptlet"
    done
    local s
    for s in "$root"/packaging/rpm/*.sh; do
        sh -n "$s" || die "$s: syntax error"
    done
    ok "rpm contents, %config(noreplace), %license, owned directories, scriptlets"
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
# man page to exist, so it runs on a copy of the unit whose Exec lines point
# at the binary extracted from the .deb, with MANPATH at the packaged pages.
check_unit() {
    local x out
    x=$(mktemp -d)
    dpkg-deb -x "$deb" "$x"
    mkdir "$x/unit"
    sed "s|^\(Exec[A-Za-z]*\)=/usr/bin/cronduct |\1=$x/usr/bin/cronduct |" \
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

# lintian and rpmlint: no errors. The warnings and notes that remain are
# listed with their reasons in packaging/README.md.
check_lint() {
    local out
    out=$(lintian --no-tag-display-limit "$deb" 2>&1)
    echo "--- lintian $(basename "$deb")"
    echo "$out"
    if grep -q '^E:' <<<"$out"; then
        die "lintian reports errors"
    fi
    out=$(rpmlint -c "$root/packaging/rpmlint.toml" "$rpm" 2>&1)
    echo "--- rpmlint $(basename "$rpm")"
    echo "$out"
    grep -qE '^ *[0-9]+ packages and [0-9]+ specfiles checked; 0 errors' <<<"$out" ||
        die "rpmlint reports errors"
    ok "lintian and rpmlint: no errors"
}

# Install, reload, watchdog, stop, upgrade, remove, purge under a real
# systemd (a booted Debian 12 container), and the .rpm's scriptlets.
check_systemd() {
    bash "$root/packaging/systemd-check.sh" "$deb" "$rpm" || die "packaging/systemd-check.sh"
    ok "the .deb under a booted systemd, the .rpm in a throwaway root"
}

main() {
    ensure_tools
    build
    check_deb
    check_rpm
    check_unit
    check_man
    check_config
    check_lint
    check_systemd
    echo
    echo "=== cronduct packaging check: all passed"
    printf '  %s\n' "${summary[@]}"
    printf '  %s  %s bytes\n' "$(basename "$deb")" "$(stat -c %s "$deb")" \
        "$(basename "$rpm")" "$(stat -c %s "$rpm")"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    main "$@"
fi
