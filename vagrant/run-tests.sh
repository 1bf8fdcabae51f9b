#!/bin/sh
# Guest test run ("e2e" provisioner), as root inside the VM after provision.sh:
# the end-to-end suite (tests/e2e, pytest) in --system mode, against the VM's
# own sshd, PAM stack and installed package: first the tests marked `smoke`
# (the whole chain, in seconds), then all the others. The same tests as on a
# CI host; those that only apply to a private install (setup.sh, removal) are
# reported as skipped.
# Ends with one summary line; exits non-zero when anything failed.
set -u

src=/vagrant
status=0
summary=""
export PYTHONDONTWRITEBYTECODE=1

suite() {   # suite NAME PYTEST-ARGS...
    name=$1; shift
    echo "=== e2e: pytest tests/e2e --system $*"
    start=$(date +%s)
    if (cd "$src" && /usr/bin/python3 -m pytest tests/e2e --system "$@"); then
        summary="$summary${summary:+; }$name passed"
    else
        summary="$summary${summary:+; }$name FAILED"; status=1
    fi
    summary="$summary ($(( $(date +%s) - start ))s)"
}

suite smoke -m smoke
suite suite -m "not smoke"

echo "=== e2e summary: $summary"
if [ "$status" -eq 0 ]; then echo "=== e2e: PASS"; else echo "=== e2e: FAIL"; fi
exit "$status"
