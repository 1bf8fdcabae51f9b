#!/bin/sh
# Builds the two Debian packages, libpam-totp and libpam-policy, from this
# checkout with dpkg-buildpackage (the source package is debian/), and prints
# the paths of the .debs, one a line.
#
#   packaging/build-debs.sh [--out DIR] [--changelog FILE]
#
#   --out DIR         where the .debs go (default: target/debian)
#   --changelog FILE  build with this debian/changelog instead (e.g. a newer
#                     version, to test an upgrade)
#
# The files git knows of (committed or not) are copied to
# target/debian-build/pam-hardening (a fixed path: DEB_BUILD_DIR) and built
# there, so nothing is written into the checkout and the tree is what a clean
# clone holds. cargo's target directory is DEB_CARGO_TARGET_DIR (default:
# target/debian-build/cargo), kept between runs: a second build of the same
# tree, or of a tree that differs only in debian/, only repackages.
#
# Needs cargo (rustup's) on PATH and dpkg-dev, debhelper, libpam0g-dev, pkg-config.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
out="$repo/target/debian"
changelog=""

die() { echo "build-debs.sh: $*" >&2; exit 1; }
while [ $# -gt 0 ]; do
    case "$1" in
        --out) out=${2:?--out needs a directory}; shift 2 ;;
        --changelog) changelog=${2:?--changelog needs a file}; shift 2 ;;
        -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
done
command -v cargo >/dev/null || die "no cargo on PATH (rustup's toolchain: PATH=\$HOME/.cargo/bin:\$PATH)"
command -v dpkg-buildpackage >/dev/null || die "no dpkg-buildpackage (scripts/deps.sh installs dpkg-dev and debhelper)"
mkdir -p "$out"
out=$(cd "$out" && pwd)

work="${DEB_BUILD_DIR:-$repo/target/debian-build}"
src="$work/pam-hardening"
rm -rf "$src" "$work"/*.deb "$work"/*.changes "$work"/*.buildinfo
mkdir -p "$src"
(cd "$repo" && git ls-files -z --cached --others --exclude-standard) |
    (cd "$repo" && xargs -0 cp --parents -P --preserve=timestamps -t "$src" 2>/dev/null) || true
[ -f "$src/debian/control" ] || die "copying the tree to $src failed"
[ -z "$changelog" ] || cp "$changelog" "$src/debian/changelog"

export DEB_CARGO_TARGET_DIR="${DEB_CARGO_TARGET_DIR:-$work/cargo}"
log="$work/build.log"
if ! (cd "$src" && dpkg-buildpackage -b -us -uc) >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    die "dpkg-buildpackage failed (whole log: $log)"
fi
version=$(cd "$src" && dpkg-parsechangelog -S Version)
arch=$(dpkg --print-architecture)
for p in libpam-totp libpam-policy; do
    deb="${p}_${version}_${arch}.deb"
    [ -f "$work/$deb" ] || die "dpkg-buildpackage made no $deb"
    mv "$work/$deb" "$out/$deb"
    echo "$out/$deb"
done
