#!/bin/bash
# A throwaway demo of both modules: builds the release artifacts, creates a
# demo user, starts an sshd on 127.0.0.1:2222 whose PAM service uses
# pam_totp.so (key + code) and pam_policy.so (the demo user's password has
# expired, so the first login sets a new one through pam_policy), enrolls the
# user with totp-enroll (QR code on screen), prints the ssh command to log in
# with, and waits. Ctrl-C (or SIGTERM) stops sshd and removes the user, the
# PAM service file and every other file it made; also when stdin is no
# terminal (e.g. `timeout 60 scripts/demo.sh`).
#
#   scripts/demo.sh [--no-build] [--port N]
#
# Needs root for the user, the PAM service file and sshd; run as another user
# it builds, then re-runs itself with sudo. It does not touch /etc/pam.d/sshd,
# /etc/ssh or the PAM modules installed on the machine: the modules are loaded
# from a private copy of target/release.
set -u
cd "$(dirname "$0")/.."
repo=$(pwd)

port=2222
build=1
while [ $# -gt 0 ]; do
    case "$1" in
        --no-build) build=""; shift ;;
        --port) port=${2:?--port needs a number}; shift 2 ;;
        -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "demo.sh: unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done

say() { printf '%s\n' "$*"; }
die() { say "demo.sh: $*" >&2; exit 1; }

# ------------------------------------------------------------ cleanup
undo=()
on_exit() { undo+=("$*"); }
cleanup() {
    local i
    trap - EXIT INT TERM HUP
    if [ ${#undo[@]} -gt 0 ]; then
        say ""
        say "demo.sh: cleaning up"
        for ((i = ${#undo[@]} - 1; i >= 0; i--)); do
            eval "${undo[$i]}" >/dev/null 2>&1
        done
        say "demo.sh: stopped; what it started and created is gone"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# ------------------------------------------------------------ build
if [ -n "$build" ] && ! command -v cargo >/dev/null 2>&1; then
    # e.g. under sudo, whose PATH has no cargo
    [ -f target/release/libpam_totp.so ] ||
        die "no cargo on PATH and nothing built; run it as yourself (it uses sudo), or: sudo env PATH=\"\$PATH\" $0"
    say "demo.sh: no cargo on PATH; using the artifacts in target/release"
    build=""
    sh scripts/deps.sh --demo || die "scripts/deps.sh failed"
fi
if [ -n "$build" ]; then
    say "demo.sh: installing what the build and the demo need (scripts/deps.sh --demo)"
    sh scripts/deps.sh --demo || die "scripts/deps.sh failed"
    say "demo.sh: building (cargo build --release --workspace)"
    # In the background, so that Ctrl-C or SIGTERM stops it at once.
    cargo build --release --workspace --locked &
    building=$!
    on_exit '[ -n "$building" ] && kill "$building"'
    wait "$building" || { building=""; die "the build failed"; }
    building=""
fi
rel="$repo/target/release"
for f in libpam_totp.so libpam_policy.so totp-enroll; do
    [ -f "$rel/$f" ] || die "missing $rel/$f (build first, or drop --no-build)"
done

if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || die "the rest needs root (a user, a PAM service file, sshd)"
    say "demo.sh: the rest needs root: sudo $0 --no-build --port $port"
    trap - EXIT
    exec sudo "$0" --no-build --port "$port"
fi

[ -x /usr/sbin/sshd ] || die "no /usr/sbin/sshd: apt-get install openssh-server (scripts/deps.sh --demo)"
[ -x /usr/bin/python3 ] || die "no /usr/bin/python3: apt-get install python3 (scripts/deps.sh --demo)"
if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    die "127.0.0.1:$port is in use; pick another with --port"
fi

# ------------------------------------------------------------ files
work=$(mktemp -d /tmp/pam-demo.XXXXXX) || die "mktemp failed"
chmod 0711 "$work"
on_exit "rm -rf '$work'"
# Root-owned copies of the modules, loaded by absolute path.
install -m 0644 "$rel/libpam_totp.so" "$work/pam_totp.so"
install -m 0644 "$rel/libpam_policy.so" "$work/pam_policy.so"
install -m 0755 "$rel/totp-enroll" "$work/totp-enroll"

user=totpdemo
password='Demo-Start-1!'
getent passwd "$user" >/dev/null && die "a user named $user exists already; not touching it"
useradd -m -s /bin/bash -c "pam-hardening demo" "$user" || die "useradd failed"
on_exit "userdel -r $user"
home=$(getent passwd "$user" | cut -d: -f6)
hash=$(openssl passwd -6 "$password" 2>/dev/null ||
    /usr/bin/python3 -W ignore -c 'import crypt,sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_SHA512)))' "$password")
usermod -p "$hash" "$user"
chage -d 0 "$user"   # expired: the first login sets a new password through pam_policy

# A key to log in with, readable by whoever started the demo.
mkdir -p "$work/client"
ssh-keygen -q -t ed25519 -N '' -C "$user@demo" -f "$work/client/id_ed25519"
if [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ]; then
    chown -R "$SUDO_USER" "$work/client"
fi
install -d -m 0700 -o "$user" -g "$user" "$home/.ssh"
install -m 0600 -o "$user" -g "$user" "$work/client/id_ed25519.pub" "$home/.ssh/authorized_keys"

# ------------------------------------------------------------ PAM + sshd
# OpenSSH takes its PAM service name from the name it was started under.
svc="pam-demo-sshd-$$"
pam_file="/etc/pam.d/$svc"
[ -e "$pam_file" ] && die "$pam_file exists already"
on_exit "rm -f '$pam_file'"
# The lines the package ships (packaging/examples: pam_totp's auth lines without
# nullok, the hardening guide's pam_policy line), with the private module copies.
{
    echo "# PAM service of scripts/demo.sh's throwaway sshd; removed when the demo stops."
    /usr/bin/python3 "$repo/tests/e2e/shipped.py" sshd-pam --module-dir "$work"
} >"$pam_file" || die "could not write $pam_file from packaging/examples"

if [ ! -d /run/sshd ]; then
    install -d -m 0755 /run/sshd
    on_exit "rmdir /run/sshd"
fi
ssh-keygen -q -t ed25519 -N '' -C "demo-host" -f "$work/ssh_host_ed25519_key"
# The shipped sshd_config.d fragment first (the first value of a keyword wins),
# then what makes this sshd a private one.
cat >"$work/sshd_config" <<EOF
Include $repo/packaging/examples/sshd_config.d-pam-hardening.conf
ListenAddress 127.0.0.1
Port $port
HostKey $work/ssh_host_ed25519_key
PidFile $work/sshd.pid
AuthorizedKeysFile .ssh/authorized_keys
PermitRootLogin no
PrintMotd no
LogLevel VERBOSE
EOF
ln -s /usr/sbin/sshd "$work/$svc"

# The modules' syslog lines on screen, when no syslog daemon listens on /dev/log.
if [ ! -e /dev/log ] && [ -x /usr/bin/python3 ]; then
    /usr/bin/python3 "$repo/tests/e2e/syslog_sink.py" /dev/log "$work/syslog" &
    sink=$!
    on_exit "kill $sink; wait $sink; rm -f /dev/log"
    for _ in $(seq 50); do [ -e "$work/syslog.ready" ] && break; sleep 0.1; done
    tail -n 0 -F "$work/syslog" 2>/dev/null > >(grep --line-buffered -E 'pam_(totp|policy)\(' | sed -u 's/^/  log: /') &
    tailer=$!
    on_exit "kill $tailer"
    logs="the modules' log lines appear below as 'log:'"
else
    logs="the modules log to syslog (authpriv): journalctl -f, or /var/log/auth.log"
fi

"$work/$svc" -t -f "$work/sshd_config" || die "sshd refused the configuration"
"$work/$svc" -D -f "$work/sshd_config" -E "$work/sshd.log" &
sshd=$!
on_exit "kill $sshd; wait $sshd"
for _ in $(seq 50); do grep -q "Server listening" "$work/sshd.log" 2>/dev/null && break; sleep 0.1; done
grep -q "Server listening" "$work/sshd.log" || { cat "$work/sshd.log"; die "sshd did not start"; }

# ------------------------------------------------------------ enroll
say ""
say "== totp-enroll --user $user: scan this QR code with an authenticator app"
say ""
"$work/totp-enroll" --user "$user" -t -d -W -r 3 -R 30 -e 5 -Q UTF8 -C -l "$user@demo" -i "pam-hardening demo" ||
    die "totp-enroll failed"

cat <<EOF

== the demo is running: sshd on 127.0.0.1:$port (PAM service $pam_file)

Log in, from another terminal, with the key and a code from the app:

    ssh -p $port -i $work/client/id_ed25519 -o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no $user@127.0.0.1

  - "Verification code:" is pam_totp.so: type the app's code (a scratch code
    above works once; the same code twice, or a wrong one, is refused).
  - The account's password has expired, so pam_policy.so then asks for a new
    one: the current password is $password; try a weak one first (e.g.
    "password"), then e.g. "Correct-Horse-7-battery!".
  - No phone at hand? The current code:
    sudo /usr/bin/python3 $repo/tests/e2e/otp.py $home/.google_authenticator

$logs; sshd's own log: $work/sshd.log
Press Ctrl-C to stop; the demo user and everything above are removed.
EOF

wait "$sshd"
say "demo.sh: sshd exited"
