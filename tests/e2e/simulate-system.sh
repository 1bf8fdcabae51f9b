#!/bin/bash
# Runs `run-suite.sh --system` on a host that is not provisioned for it (a CI
# host, a container), to check that mode without a VM: the package is
# installed with dpkg, and the provisioning of tests/e2e/README.md is applied
# inside a private mount namespace only: copies of /etc/pam.d/sshd and
# /etc/ssh/sshd_config.d edited as README.md says are bind-mounted over the
# originals, /var/log is a tmpfs holding auth.log (fed by syslog_sink.py on
# /dev/log), and the machine's sshd binary runs on 127.0.0.1:22 with the
# machine's /etc/ssh/sshd_config. Afterwards the package is purged and the PAM
# configuration that pam-auth-update changed is put back.
#
#   sudo tests/e2e/simulate-system.sh DEB
#
# Refuses to run when anything listens on port 22, /dev/log exists, or the
# package is installed already.
set -u
here=$(cd "$(dirname "$0")" && pwd)
deb=${1:?usage: simulate-system.sh DEB}
package=pam-hardening

die() { echo "simulate-system.sh: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "simulate-system.sh: SKIPPED: needs root"; exit 0; }
[ -e /dev/log ] && die "/dev/log exists; this simulation needs it free"
(exec 3<>/dev/tcp/127.0.0.1/22) 2>/dev/null && die "something listens on port 22"
dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" &&
    die "$package is installed already"
ls /etc/ssh/ssh_host_*_key >/dev/null 2>&1 || die "no host keys in /etc/ssh"

work=$(mktemp -d /tmp/pam-e2e-sim.XXXXXX)
mkdir "$work/pam-state"
for f in /etc/pam.d/common-* /var/lib/pam/*; do cp -a "$f" "$work/pam-state/$(echo "$f" | tr / _)"; done
cleanup() {
    DEBIAN_FRONTEND=noninteractive dpkg --purge "$package" >/dev/null 2>&1
    for b in "$work"/pam-state/*; do
        f=$(basename "$b" | tr _ /)
        cmp -s "$b" "$f" || cp -a "$b" "$f"
    done
    rm -rf "$work"
}
trap cleanup EXIT

DEBIAN_FRONTEND=noninteractive dpkg -i "$deb" >/dev/null || die "dpkg -i $deb failed"
# The admin's policy line, as README.md shows it.
sed -i 's/^\(password[[:space:]]\+requisite[[:space:]]\+pam_policy\.so\).*/\1 retry=3 minlen=10 difok=3 ucredit=-1 lcredit=-2 dcredit=-1 ocredit=-1/' \
    /etc/pam.d/common-password
grep -q pam_policy.so /etc/pam.d/common-password || die "pam-auth-update did not add pam_policy.so"

cp /etc/pam.d/sshd "$work/pam.d-sshd"
sed -i 's/^@include common-auth$/auth required pam_totp.so/' "$work/pam.d-sshd"
mkdir "$work/sshd_config.d"
cp -a /etc/ssh/sshd_config.d/. "$work/sshd_config.d/" 2>/dev/null
cat >"$work/sshd_config.d/50-pam-hardening.conf" <<'EOF'
UsePAM yes
KbdInteractiveAuthentication yes
PasswordAuthentication no
AuthenticationMethods publickey,keyboard-interactive
ListenAddress 127.0.0.1
EOF

unshare --mount --propagation private bash -c '
    set -u
    work=$1 here=$2
    mount --bind "$work/pam.d-sshd" /etc/pam.d/sshd
    mount --bind "$work/sshd_config.d" /etc/ssh/sshd_config.d
    mount -t tmpfs tmpfs /var/log
    /usr/bin/python3 "$here/syslog_sink.py" /dev/log /var/log/auth.log &
    sink=$!
    for _ in $(seq 50); do [ -e /var/log/auth.log.ready ] && break; sleep 0.1; done
    made_run=""
    [ -d /run/sshd ] || { mkdir -m 0755 /run/sshd; made_run=1; }
    /usr/sbin/sshd -t || exit 1
    /usr/sbin/sshd -D -E "$work/sshd.log" &
    sshd=$!
    for _ in $(seq 50); do grep -q "Server listening" "$work/sshd.log" 2>/dev/null && break; sleep 0.1; done
    bash "$here/run-suite.sh" --system
    rc=$?
    kill "$sshd"; wait "$sshd"
    kill "$sink"; wait "$sink"
    [ -n "$made_run" ] && rmdir /run/sshd
    exit "$rc"
' sh "$work" "$here"
