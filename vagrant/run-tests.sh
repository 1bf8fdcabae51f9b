#!/bin/sh
# Guest test run ("e2e" provisioner), as root inside the VM after provision.sh:
#   1. smoke.py: the installed package through the VM's sshd and PAM (a key + TOTP
#      login, a wrong code, a scratch code, pam_policy through pamtester);
#   2. tests/e2e/run-suite.sh --system, the end-to-end suite, when the checkout has it.
# Ends with one summary line; exits non-zero when anything failed.
set -u

src=/vagrant
status=0
summary=""

echo "=== e2e: smoke checks"
if /usr/bin/python3 "$src/vagrant/smoke.py"; then
    summary="smoke passed"
else
    summary="smoke FAILED"; status=1
fi

suite=$src/tests/e2e/run-suite.sh
if [ -f "$suite" ]; then
    echo "=== e2e: tests/e2e/run-suite.sh --system"
    start=$(date +%s)
    if (cd "$src" && bash "$suite" --system); then
        summary="$summary; suite passed"
    else
        summary="$summary; suite FAILED"; status=1
    fi
    summary="$summary ($(( $(date +%s) - start ))s)"
else
    summary="$summary; tests/e2e/run-suite.sh not in this checkout"
fi

echo "=== e2e summary: $summary"
if [ "$status" -eq 0 ]; then echo "=== e2e: PASS"; else echo "=== e2e: FAIL"; fi
exit "$status"
