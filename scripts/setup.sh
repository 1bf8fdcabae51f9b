#!/bin/sh
# The one command for a fresh Debian machine with the Rust toolchain:
# installs the system packages, builds the release artifacts, and installs
# pam_totp.so, pam_policy.so and totp-enroll (see scripts/install.sh).
set -eu
cd "$(dirname "$0")/.."

sh scripts/deps.sh
cargo build --release --locked
if [ "$(id -u)" -eq 0 ]; then
    sh scripts/install.sh "$@"
elif command -v sudo >/dev/null 2>&1; then
    sudo sh scripts/install.sh "$@"
else
    echo "setup.sh: built; run scripts/install.sh as root to install" >&2
    exit 1
fi
