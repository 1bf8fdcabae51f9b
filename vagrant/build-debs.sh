#!/bin/sh
# Puts the project's two Debian packages (libpam-totp, libpam-policy), alone,
# in vagrant/dist/, where the VM finds them (/vagrant/vagrant/dist/*.deb).
#
#   build-debs.sh
#
# Environment:
#   PAM_VAGRANT_DEBS=DIR    use the .debs in DIR as they are (no build)
#
# Otherwise builds them with packaging/build-debs.sh. That reuses the cargo
# output and staging directory of the host's own package build (scripts/e2e.sh
# builds the same packages first in CI), so after it only the packaging is
# redone, and the VM gets exactly what the host's tests installed.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
dist=$root/vagrant/dist
say() { echo "build-debs: $*"; }

rm -rf "$dist"
mkdir -p "$dist"

if [ -n "${PAM_VAGRANT_DEBS:-}" ]; then
    for p in libpam-totp libpam-policy; do
        set -- "$PAM_VAGRANT_DEBS"/${p}_*.deb
        [ -f "$1" ] || { echo "build-debs.sh: no $p .deb in $PAM_VAGRANT_DEBS" >&2; exit 1; }
        cp "$@" "$dist/"
    done
    say "using the packages in $PAM_VAGRANT_DEBS"
else
    say "packaging/build-debs.sh --out vagrant/dist"
    out=$(sh "$root/packaging/build-debs.sh" --out "$dist" 2>&1) || { echo "$out" >&2; exit 1; }
fi

n=$(find "$dist" -name '*.deb' | wc -l)
[ "$n" -eq 2 ] || { echo "build-debs.sh: expected two .debs in $dist, found $n" >&2; exit 1; }
for deb in "$dist"/*.deb; do say "$(basename "$deb") ($(du -h "$deb" | cut -f1))"; done
