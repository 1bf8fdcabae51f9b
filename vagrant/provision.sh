#!/bin/sh
# Guest provisioning ("setup"), as root inside the VM: installs the test
# dependencies and the project's two packages as an admin would (libpam-totp,
# then libpam-policy), then configures sshd and /etc/pam.d the way an admin
# following a hardening guide would, with the files libpam-totp ships
# (/usr/share/doc/libpam-totp/examples, applied by tests/e2e/shipped.py):
#   - sshd: the drop-in sshd_config.d-pam-hardening.conf as it is (UsePAM,
#     keyboard-interactive, no passwords, publickey,keyboard-interactive); the
#     `vagrant` user is exempt, so Vagrant keeps its key-only access;
#   - /etc/pam.d/sshd: the auth lines of pam.d-sshd in place of
#     `@include common-auth`, without nullok (the suite expects a user who has not
#     enrolled to be refused);
#   - /etc/pam.d/common-password: pam_policy.so (put there by the package's
#     pam-auth-update profile, or in pam_pwquality's place) with the options of
#     pam.d-common-password, before pam_unix.so with use_authtok.
# This is what tests/e2e/README.md says `pytest tests/e2e --system` expects.
# Safe to run again.
set -eu

src=/vagrant
debdir=$src/vagrant/dist
examples=/usr/share/doc/libpam-totp/examples
shipped() { /usr/bin/python3 "$src/tests/e2e/shipped.py" --examples "$examples" "$@"; }
# Wait for a dpkg lock another apt-get or dpkg holds.
apt="apt-get -o DPkg::Lock::Timeout=600"
say() { echo "setup: $*"; }
export DEBIAN_FRONTEND=noninteractive

# --- test dependencies (already in the locally built box) ---------------------
missing=""
for p in $(grep -v '^[[:space:]]*#' "$src/vagrant/guest-packages"); do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    say "installing$missing"
    $apt update -qq
    # shellcheck disable=SC2086
    $apt install -y -qq --no-install-recommends $missing >/dev/null
fi

# --- the project's packages, built on the host: one, then the other -----------
for p in libpam-totp libpam-policy; do
    set -- "$debdir"/${p}_*.deb
    [ -f "$1" ] || { echo "setup: no $p .deb in $debdir: run vagrant/build-debs.sh on the host" >&2; exit 1; }
    say "installing $*"
    if ! dpkg -i "$@"; then
        say "resolving the package's dependencies"
        $apt update -qq
        $apt install -y -qq -f --no-install-recommends
    fi
done
for f in pam_totp.so pam_policy.so; do
    found=$(dpkg-query -L libpam-totp libpam-policy | grep "/security/$f\$" || true)
    [ -n "$found" ] && [ -f "$found" ] || { echo "setup: the packages did not install $f" >&2; exit 1; }
done
command -v totp-enroll >/dev/null || { echo "setup: libpam-totp did not install totp-enroll" >&2; exit 1; }

# --- sshd ----------------------------------------------------------------------
# The drop-in is read first (Include at the top of sshd_config), so its values win.
install -m 0644 "$examples/sshd_config.d-pam-hardening.conf" /etc/ssh/sshd_config.d/50-pam-hardening.conf
# A Match block must come last: appended to the main file, once.
if ! grep -q '^# pam-hardening e2e: vagrant keeps key-only access' /etc/ssh/sshd_config; then
    cat >> /etc/ssh/sshd_config <<'EOF'

# pam-hardening e2e: vagrant keeps key-only access
Match User vagrant
    AuthenticationMethods publickey
EOF
fi
sshd -t
systemctl restart ssh
say "sshd: $(sshd -T -C user=nobody,host=localhost,addr=127.0.0.1 | grep -E '^(usepam|kbdinteractiveauthentication|authenticationmethods) ' | tr '\n' ' ')"

# --- /etc/pam.d/sshd -------------------------------------------------------------
shipped apply-sshd-pam /etc/pam.d/sshd
grep -q '^auth[[:space:]].*pam_totp\.so' /etc/pam.d/sshd || { echo "setup: pam_totp is not in /etc/pam.d/sshd" >&2; exit 1; }
say "/etc/pam.d/sshd auth: $(grep -E '^(auth|@include)' /etc/pam.d/sshd | tr '\n' ';')"

# --- /etc/pam.d/common-password ------------------------------------------------
cp=/etc/pam.d/common-password
# The package's pam-auth-update profile (pam-policy) conflicts with pam_pwquality's
# and pam_cracklib's; with either of those enabled, the package's own
# pam-auth-update call leaves the stack alone. Switch the way an admin would.
if ! grep -q 'pam_policy\.so' $cp && [ -f /usr/share/pam-configs/pam-policy ]; then
    remove=""
    for p in pwquality cracklib; do
        if [ -f /usr/share/pam-configs/$p ]; then remove="${remove:---remove} $p"; fi
    done
    say "pam-auth-update $remove --enable pam-policy"
    # shellcheck disable=SC2086
    pam-auth-update $remove --enable pam-policy
fi
if grep -q 'pam_policy\.so' $cp; then
    sed -i '/pam_pwquality\.so/d' $cp
elif grep -q 'pam_pwquality\.so' $cp; then
    sed -i 's/pam_pwquality\.so/pam_policy.so/' $cp
else
    sed -i '0,/^password.*pam_unix\.so/s//password\trequisite\t\t\tpam_policy.so retry=3\n&/' $cp
fi
# The admin's policy as the package's example has it (its retry=3 is what the
# suite's expired-password login needs: one weak, then one strong password),
# and use_authtok on pam_unix.so.
shipped apply-policy $cp
say "common-password: $(grep -E '^password' $cp | tr -s '\t ' ' ' | tr '\n' ';')"
say "done"
