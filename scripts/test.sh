#!/bin/sh
# Runs every test: installs what the tests need (apt-get), then the unit
# tests, the real-libpam tests and the install tests of the whole workspace.
set -eu
cd "$(dirname "$0")/.."

sh scripts/deps.sh --test
# The install tests stage the built artifacts, so build them first.
cargo build --workspace --locked
cargo test --workspace --locked

# End to end (pytest, tests/e2e): as root, real sshd hosts, SSH clients,
# pamtester, passwd, the Debian packages, monit, fail2ban-regex; as any other user every test is
# reported skipped. See tests/e2e/README.md.
sh scripts/e2e.sh
