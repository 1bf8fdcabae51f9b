#!/bin/sh
# The thorough reproducibility check: builds the packages twice from this tree,
# each time in its own build directory and with its own, empty cargo target
# directory (so the compiler runs twice, at two different paths), and compares
# the .debs byte for byte. Several minutes; the end-to-end suite's
# test_two_builds_give_byte_identical_debs is the quick one (second build
# reuses cargo's output and redoes the packaging).
#
#   packaging/check-reproducible.sh [WORKDIR]     (default: a new temp dir, removed at the end)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
work=${1:-}
if [ -z "$work" ]; then
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
fi
for n in a b; do
    DEB_BUILD_DIR="$work/build-$n" DEB_CARGO_TARGET_DIR="$work/cargo-$n" \
        sh "$here/build-debs.sh" --out "$work/out-$n" >/dev/null
done
status=0
for deb in "$work"/out-a/*.deb; do
    name=$(basename "$deb")
    if cmp -s "$deb" "$work/out-b/$name"; then
        echo "reproducible: $name ($(sha256sum <"$deb" | cut -c1-16))"
    else
        echo "NOT reproducible: $name" >&2
        status=1
    fi
done
exit "$status"
