#!/bin/bash
# Builds the release binary and the .deb and .rpm packages:
#   target/packages/cronduct_<version>-1_<arch>.deb  (Debian revision 1)
#   target/packages/cronduct-<version>-<release>.<arch>.rpm
#   target/packages/third-party-licenses.txt  (cargo-about: the crates
#     linked in, their licences and licence texts; both packages ship it)
# The .deb's contents are set in Cargo.toml, [package.metadata.deb]; the
# .rpm's in packaging/rpm/cronduct.spec.
#
# Needs cargo; installs the pinned cargo-deb and cargo-about with
# `cargo install --locked` when they are missing or at another version.
# Needs dpkg-shlibdeps (package dpkg-dev) so that the .deb gets its
# Depends: line; it stops rather than ship a package without one. Needs
# rpmbuild (Debian's package rpm).
set -euo pipefail

CARGO_DEB_VERSION=3.8.0
CARGO_ABOUT_VERSION=0.9.3

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
out="$root/target/packages"

die() {
    echo "build.sh: $*" >&2
    exit 1
}

# `cargo deb --version` prints "cargo-deb 3.8.0", `cargo about --version`
# "cargo-about 0.9.3".
ensure_tool() {
    local crate=$1 version=$2 subcommand=$3
    local have
    have=$(cargo "$subcommand" --version 2>/dev/null | awk '{print $NF}') || have=
    if [ "$have" != "$version" ]; then
        echo "build.sh: installing $crate $version (found: ${have:-none})"
        cargo install --locked "$crate" --version "$version" "${@:4}"
    fi
}

command -v cargo >/dev/null || die "cargo not found; install Rust (https://rustup.rs)"
command -v dpkg-shlibdeps >/dev/null ||
    die "dpkg-shlibdeps not found; install it: apt-get install dpkg-dev"
command -v rpmbuild >/dev/null || die "rpmbuild not found; install it: apt-get install rpm"
ensure_tool cargo-deb "$CARGO_DEB_VERSION" deb
ensure_tool cargo-about "$CARGO_ABOUT_VERSION" about --features cli

version=$(cargo metadata --no-deps --format-version 1 |
    sed -n 's/.*"name":"cronduct","version":"\([^"]*\)".*/\1/p')
[ -n "$version" ] || die "could not read the crate version from cargo metadata"

# The release profile strips the binary (strip = true in Cargo.toml).
cargo build --release --locked

# Man pages, gzipped as Debian policy and Fedora expect: -n leaves the name
# and time stamp out so that rebuilding gives identical bytes.
rm -rf "$out/man"
mkdir -p "$out/man"
for page in man/*.1 man/*.5; do
    gzip -9n -c "$page" >"$out/man/$(basename "$page").gz"
done

# The notices that the crates' licences (MIT, BSD, Apache-2.0 ...) require
# to ship with the binary. cargo-about rather than cargo-deny's listing:
# it writes the licence texts the crates carry, copyright lines included,
# not only their SPDX names.
cargo about generate --locked --fail -o "$out/third-party-licenses.txt" packaging/about.hbs

spec=packaging/rpm/cronduct.spec
release=$(sed -n 's/^Release: *\([^ ]*\)$/\1/p' "$spec")
[ -n "$release" ] || die "no Release: line in $spec"
deb_arch=$(dpkg --print-architecture)
rpm_arch=$(uname -m)
deb="$out/cronduct_${version}-1_${deb_arch}.deb"
# The release in the name, as rpmbuild names files: release 1 and 2 of one
# version must not overwrite each other.
rpm="$out/cronduct-${version}-${release}.${rpm_arch}.rpm"
rm -f "$out"/*.deb "$out"/*.rpm

cargo deb --no-build --output "$deb"
# rpmbuild's tree is throwaway: the spec takes its files from the
# repository and target/.
rpmtop=$(mktemp -d)
trap 'rm -rf "$rpmtop"' EXIT
rpmbuild -bb --quiet \
    --define "_topdir $rpmtop" \
    --define "crate_version $version" \
    --define "srcroot $root" \
    "$spec"
mv "$rpmtop/RPMS/$rpm_arch/cronduct-${version}-${release}.${rpm_arch}.rpm" "$rpm"

for f in "$deb" "$rpm"; do
    [ -s "$f" ] || die "$f was not written"
    echo "build.sh: wrote $f ($(stat -c %s "$f") bytes)"
done
