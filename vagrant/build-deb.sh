#!/bin/sh
# Builds the project's Debian package on the host and puts it, alone, in
# vagrant/dist/, where the VM finds it (/vagrant/vagrant/dist/*.deb).
#
#   build-deb.sh
#
# Environment:
#   PAM_VAGRANT_DEB=FILE    use this .deb as it is (no build)
#
# Builds with `cargo build --release --workspace --locked`, then packages with
# packaging/build-deb.sh. In a checkout without it, a minimal package is staged
# with scripts/install.sh (modules in /lib/x86_64-linux-gnu/security,
# totp-enroll in /usr/bin) and built with dpkg-deb.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
dist=$root/vagrant/dist
say() { echo "build-deb: $*"; }

rm -rf "$dist"
mkdir -p "$dist"

if [ -n "${PAM_VAGRANT_DEB:-}" ]; then
    [ -f "$PAM_VAGRANT_DEB" ] || { echo "build-deb.sh: no such file: $PAM_VAGRANT_DEB" >&2; exit 1; }
    cp "$PAM_VAGRANT_DEB" "$dist/"
    say "using $PAM_VAGRANT_DEB"
    exit 0
fi

cd "$root"
say "cargo build --release --workspace --locked"
cargo build --release --workspace --locked

if [ -f packaging/build-deb.sh ]; then
    say "packaging/build-deb.sh --out vagrant/dist"
    out=$(sh packaging/build-deb.sh --out "$dist" 2>&1) || { echo "$out" >&2; exit 1; }
else
    say "packaging/build-deb.sh not found: staging a minimal package with scripts/install.sh"
    version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' Cargo.toml)
    stage=$(mktemp -d)
    chmod 0755 "$stage"
    trap 'rm -rf "$stage"' EXIT
    sh scripts/install.sh --from target/release --destdir "$stage" \
        --securedir /lib/x86_64-linux-gnu/security --prefix /usr >/dev/null
    mkdir -p "$stage/DEBIAN"
    cat > "$stage/DEBIAN/control" <<EOF
Package: pam-hardening
Version: ${version:-0.0.0}
Architecture: amd64
Maintainer: pam-hardening developers <root@localhost>
Depends: libc6, libpam0g, libpam-runtime
Section: admin
Priority: optional
Description: TOTP second factor and password quality PAM modules
 pam_totp.so, pam_policy.so and totp-enroll (minimal test package).
EOF
    dpkg-deb --root-owner-group --build "$stage" "$dist/pam-hardening_${version:-0.0.0}_amd64.deb" >/dev/null
fi

n=$(find "$dist" -name '*.deb' | wc -l)
[ "$n" -gt 0 ] || { echo "build-deb.sh: no .deb was produced" >&2; exit 1; }
for deb in "$dist"/*.deb; do say "$(basename "$deb") ($(du -h "$deb" | cut -f1))"; done
