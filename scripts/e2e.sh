#!/bin/sh
# The end-to-end run in one command: the system packages the suite needs, the
# release build, the .deb, then tests/e2e/run-suite.sh (private mode: its own
# sshd, PAM service files and users, all removed afterwards; see
# tests/e2e/README.md). Needs root; without it, says so and exits 0.
#
#   scripts/e2e.sh [run-suite.sh options]
set -eu
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
    echo "scripts/e2e.sh: SKIPPED: the end-to-end suite must run as root" \
         "(it installs the modules, adds users and starts sshd)"
    exit 0
fi

sh scripts/deps.sh --e2e
if command -v cargo >/dev/null 2>&1; then
    cargo build --release --workspace --locked
elif [ -f target/release/libpam_totp.so ]; then
    # e.g. under sudo, whose PATH has no cargo: use what was built before.
    echo "scripts/e2e.sh: no cargo on PATH; using the artifacts in target/release"
else
    echo "scripts/e2e.sh: no cargo on PATH and nothing built (try: sudo env PATH=\"\$PATH\" scripts/e2e.sh)" >&2
    exit 1
fi
deb=$(sh packaging/build-deb.sh | tail -n 1)
echo "scripts/e2e.sh: built $deb"
exec bash tests/e2e/run-suite.sh --deb "$deb" "$@"
