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

# Removal, as an admin would: libpam-policy first (pam_pwquality gets its place
# back in common-password), then libpam-totp; then provisioning again, so that
# the VM is as it was for another run of this provisioner.
echo "=== e2e: removal"
start=$(date +%s)
removal=passed
dpkg --remove libpam-policy || removal=FAILED
if grep -q 'pam_policy\.so' /etc/pam.d/common-password; then
    echo "e2e: pam_policy.so is still in common-password after removal"; removal=FAILED
fi
if [ -f /usr/share/pam-configs/pwquality ] && ! grep -q '^password.*pam_pwquality\.so' /etc/pam.d/common-password; then
    echo "e2e: pam_pwquality.so did not get its place back in common-password"; removal=FAILED
fi
dpkg --purge libpam-policy libpam-totp || removal=FAILED
sh "$src/vagrant/provision.sh" >/dev/null || removal=FAILED
[ "$removal" = passed ] || status=1
summary="$summary; removal $removal ($(( $(date +%s) - start ))s)"

echo "=== e2e summary: $summary"
if [ "$status" -eq 0 ]; then echo "=== e2e: PASS"; else echo "=== e2e: FAIL"; fi
exit "$status"
