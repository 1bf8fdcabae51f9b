#!/bin/bash
# Runs `pytest tests/e2e --system` on a host that is not provisioned for it (a
# CI host, a container), to check that mode without a VM: the package is
# installed with dpkg, and the provisioning of tests/e2e/README.md (the files
# the package ships, applied by shipped.py as vagrant/provision.sh applies
# them) is applied inside a private mount namespace only: copies of
# /etc/pam.d/sshd and /etc/ssh/sshd_config.d are bind-mounted over the
# originals, /var/log is a tmpfs holding auth.log (fed by syslog_sink.py on
# /dev/log), and the machine's sshd binary runs on 127.0.0.1:22 with the
# machine's /etc/ssh/sshd_config. Afterwards the package is purged and the PAM
# configuration that pam-auth-update changed is put back.
#
#   sudo tests/e2e/simulate-system.sh DEB [pytest arguments]
#
# Refuses to run when anything listens on port 22, /dev/log exists, or the
# package is installed already.
set -u
here=$(cd "$(dirname "$0")" && pwd)
deb=${1:?usage: simulate-system.sh DEB [pytest arguments]}
shift
package=pam-hardening
examples=/usr/share/doc/$package/examples
shipped() { /usr/bin/python3 "$here/shipped.py" --examples "$examples" "$@"; }

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
# The admin's policy line, as the package's example has it.
grep -q pam_policy.so /etc/pam.d/common-password || die "pam-auth-update did not add pam_policy.so"
shipped apply-policy /etc/pam.d/common-password || die "could not set the policy options"

cp /etc/pam.d/sshd "$work/pam.d-sshd"
shipped apply-sshd-pam "$work/pam.d-sshd" || die "could not edit the copy of /etc/pam.d/sshd"
mkdir "$work/sshd_config.d"
cp -a /etc/ssh/sshd_config.d/. "$work/sshd_config.d/" 2>/dev/null
install -m 0644 "$examples/sshd_config.d-pam-hardening.conf" "$work/sshd_config.d/50-pam-hardening.conf"
# Only here, not in a VM: the machine's sshd must not listen beyond 127.0.0.1.
echo "ListenAddress 127.0.0.1" >"$work/sshd_config.d/49-e2e-listen.conf"

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
    shift 2
    (cd "$here/../.." && PYTHONDONTWRITEBYTECODE=1 /usr/bin/python3 -m pytest tests/e2e --system \
        --sshd-log "$work/sshd.log" "$@")
    rc=$?
    kill "$sshd"; wait "$sshd"
    kill "$sink"; wait "$sink"
    [ -n "$made_run" ] && rmdir /run/sshd
    exit "$rc"
' sh "$work" "$here" "$@"
