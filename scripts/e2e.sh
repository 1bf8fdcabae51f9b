#!/bin/sh
# The end-to-end run in one command: the system packages the suite needs, the
# release build, the two Debian packages (packaging/build-debs.sh, into
# target/debian), then the pytest suite in tests/e2e (private mode: its own sshd
# hosts, PAM service files and users, all removed afterwards; both install
# methods, scripts/setup.sh and the packages; see tests/e2e/README.md).
#
#   scripts/e2e.sh [pytest arguments, e.g. -k reused_code, --install deb, -x]
#
# Needs root. Run as another user it builds and installs nothing; the suite then
# reports every test as skipped (or, without pytest, says SKIPPED). The exit
# status is pytest's.
set -eu
cd "$(dirname "$0")/.."
py=/usr/bin/python3
export PYTHONDONTWRITEBYTECODE=1

if [ "$(id -u)" -ne 0 ]; then
    if "$py" -c 'import pytest' 2>/dev/null; then
        exec "$py" -m pytest tests/e2e "$@"
    fi
    echo "scripts/e2e.sh: SKIPPED: the end-to-end suite must run as root" \
         "(it installs the modules, adds users and starts sshd), and $py has no pytest"
    exit 0
fi

sh scripts/deps.sh --e2e
if command -v cargo >/dev/null 2>&1; then
    cargo build --release --locked -p pam_totp -p pam_policy -p totp-enroll -p pam-hardening
elif [ -f target/release/libpam_totp.so ]; then
    # e.g. under sudo, whose PATH has no cargo: use what was built before.
    echo "scripts/e2e.sh: no cargo on PATH; using the artifacts in target/release"
else
    echo "scripts/e2e.sh: no cargo on PATH and nothing built (try: sudo env PATH=\"\$PATH\" scripts/e2e.sh)" >&2
    exit 1
fi
debs=target/debian
if command -v cargo >/dev/null 2>&1; then
    sh packaging/build-debs.sh --out "$debs"
else
    echo "scripts/e2e.sh: no cargo on PATH; using the packages in $debs"
fi
exec "$py" -m pytest tests/e2e --debs "$debs" "$@"
