#!/bin/bash
# End-to-end suite: pam_totp.so and pam_policy.so installed as an admin installs
# them, exercised by a real OpenSSH sshd and SSH clients, pamtester and passwd,
# with the syslog lines checked against the fail2ban filter. See README.md here.
#
#   run-suite.sh [--deb FILE] [--artifacts DIR]   private mode (CI hosts)
#   run-suite.sh --system                         the machine's own sshd and PAM (a VM)
#
# Private mode: installs with scripts/setup.sh (the README's way), then from the
# .deb (--deb); runs a private sshd on 127.0.0.1 under a unique name, so that it
# uses its own /etc/pam.d/<name>; creates and removes its own users. It never
# touches /etc/pam.d/sshd or /etc/ssh. Everything it starts it stops, and every
# user and file it creates it removes, also when interrupted.
# --system: the package is installed and provisioned as README.md describes;
# logs in through the sshd on port 22.
# Runs as root; without root it says why and exits 0 (skipped).
set -u

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
py=/usr/bin/python3
mode=private
deb=""
artifacts="$repo/target/release"
package=pam-hardening

usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
        --system) mode=system; shift ;;
        --deb) deb=${2:?--deb needs a file}; shift 2 ;;
        --artifacts) artifacts=${2:?--artifacts needs a directory}; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "run-suite.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
done

if [ "$(id -u)" -ne 0 ]; then
    echo "tests/e2e: SKIPPED: the end-to-end suite must run as root (it installs the modules," \
         "adds users and starts sshd); run it as root, e.g. sudo tests/e2e/run-suite.sh"
    exit 0
fi

# ---------------------------------------------------------------- reporting
passed=0
failed=0
failures=""
work=""
sshd_log=""
syslog_file=""
t_start=$(date +%s)

say() { printf '%s\n' "$*"; }
phase() { say ""; say "== $* ($(date +%T))"; }

# The sshd log and the module lines written since the current check began.
sshd_mark=0
syslog_mark=0
set_marks() {
    sshd_mark=0
    [ -n "$sshd_log" ] && [ -f "$sshd_log" ] && sshd_mark=$(wc -l <"$sshd_log")
    check_started=$(date +%s)
    syslog_mark=$(syslog_all | wc -l)
}
show_logs() {
    if [ -n "$sshd_log" ] && [ -s "$sshd_log" ]; then
        say "   --- sshd log ($sshd_log) since the check began (at most 40 lines)"
        tail -n +"$((sshd_mark + 1))" "$sshd_log" | tail -n 40 | sed 's/^/   | /'
    elif [ "$mode" = system ] && command -v journalctl >/dev/null; then
        say "   --- sshd log (journalctl -u ssh) since the check began"
        journalctl -u ssh -u sshd --since "@${check_started:-$t_start}" --no-pager -q 2>/dev/null |
            tail -n 40 | sed 's/^/   | /'
    fi
    say "   --- module syslog lines since the check began"
    syslog_all | tail -n +"$((syslog_mark + 1))" | grep -E 'pam_(totp|policy)\(' | tail -n 15 | sed 's/^/   | /'
}

ok() { passed=$((passed + 1)); say "  ok    $*"; }
not_ok() {
    failed=$((failed + 1))
    failures="$failures
  - $1"
    say "  FAIL  $1"
    shift
    [ $# -gt 0 ] && printf '%s\n' "$@" | sed 's/^/   | /'
    show_logs
}

# A setup step that everything after it needs.
fatal() {
    say ""
    say "FATAL: $*"
    show_logs
    exit 1
}

# ---------------------------------------------------------------- cleanup
# Undo actions, run in reverse order on any exit.
undo_list=()
on_exit() { undo_list+=("$*"); }
cleanup() {
    local i rc=$?
    trap - EXIT INT TERM HUP
    if [ ${#undo_list[@]} -gt 0 ]; then
        say ""
        say "== cleanup"
        for ((i = ${#undo_list[@]} - 1; i >= 0; i--)); do
            say "  + ${undo_list[$i]}"
            eval "${undo_list[$i]}" >/dev/null 2>&1 || say "    (that step failed)"
        done
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT TERM HUP

# ---------------------------------------------------------------- prerequisites
missing=""
for cmd in /usr/sbin/sshd ssh ssh-keygen pamtester passwd useradd userdel usermod setpriv unshare \
    fail2ban-regex dpkg-deb; do
    command -v "$cmd" >/dev/null 2>&1 || missing="$missing $cmd"
done
"$py" -c 'import paramiko' 2>/dev/null || missing="$missing python3-paramiko(for $py)"
[ -z "$missing" ] || fatal "missing:$missing (install them with: scripts/deps.sh --e2e)"

mkdir -p /run/lock
exec 9>/run/lock/pam-hardening-e2e.lock
flock -n 9 || fatal "another run of the end-to-end suite holds /run/lock/pam-hardening-e2e.lock"

work=$(mktemp -d /tmp/pam-e2e.XXXXXX) || fatal "mktemp failed"
chmod 0711 "$work"
on_exit "rm -rf '$work'"
tag="e2e$$"
say "tests/e2e: mode=$mode work=$work tag=$tag"

# ---------------------------------------------------------------- syslog capture
# pam_syslog(3) writes to /dev/log. Private mode: where nothing listens there,
# a small receiver listens on /dev/log for the run; where a syslog daemon owns
# it, the suite's programs run in a mount namespace in which our receiver's
# socket is bind-mounted over /dev/log. System mode: read the journal or auth.log.
in_ns=()
syslog_file="$work/syslog"
: >"$syslog_file"
sink_pid=""

start_sink() { # SOCKET
    "$py" "$here/syslog_sink.py" "$1" "$syslog_file" &
    sink_pid=$!
    on_exit "kill $sink_pid; wait $sink_pid"
    for _ in $(seq 50); do [ -e "$syslog_file.ready" ] && return 0; sleep 0.1; done
    fatal "the syslog receiver did not start"
}

if [ "$mode" = private ]; then
    if [ ! -e /dev/log ]; then
        start_sink /dev/log
        on_exit "rm -f /dev/log"
        say "  syslog: receiving on /dev/log (nothing else listens there) -> $syslog_file"
    else
        start_sink "$work/log.sock"
        # A process that holds a mount namespace with our socket over /dev/log.
        unshare --mount --propagation private sh -c \
            'mount --bind "$1" /dev/log && echo ready >"$2" && exec sleep infinity' \
            sh "$work/log.sock" "$work/ns.ready" &
        ns_pid=$!
        on_exit "kill $ns_pid"
        for _ in $(seq 50); do [ -e "$work/ns.ready" ] && break; sleep 0.1; done
        [ -e "$work/ns.ready" ] || fatal "could not set up a mount namespace for /dev/log"
        in_ns=(nsenter "--mount=/proc/$ns_pid/ns/mnt")
        say "  syslog: /dev/log is in use; the suite's programs log to $work/log.sock (mount namespace)"
    fi
else
    if [ -f /var/log/auth.log ]; then
        auth_log_offset=$(stat -c %s /var/log/auth.log)
    fi
fi

# Every captured syslog line so far (system mode: from the journal or auth.log).
syslog_all() {
    if [ "$mode" = private ]; then
        cat "$syslog_file"
    elif [ -n "${auth_log_offset:-}" ]; then
        tail -c +"$((auth_log_offset + 1))" /var/log/auth.log
    else
        journalctl --since "@$t_start" --no-pager -q -o short SYSLOG_FACILITY=10 2>/dev/null
    fi
}

# Waits (up to 3 s) until a module line for USER with OUTCOME appears after
# line MARK of syslog_all; prints the lines after MARK when it does not.
mark_log() { syslog_all | wc -l; }
expect_log() { # MARK MODULE USER OUTCOME [REASON-REGEX]
    local mark=$1 module=$2 user=$3 outcome=$4 reason=${5:-}
    local re="$module\\([^)]*\\): service=[^ ]* user=$user rhost=[^ ]* outcome=$outcome reason=\"$reason"
    for _ in $(seq 30); do
        syslog_all | tail -n +"$((mark + 1))" | grep -Eq "$re" && return 0
        sleep 0.1
    done
    say "expected a syslog line matching: $re"
    say "lines since the mark:"
    syslog_all | tail -n +"$((mark + 1))" | grep -E 'pam_(totp|policy)' | sed 's/^/  /'
    return 1
}

# ---------------------------------------------------------------- users
home_of() { getent passwd "$1" | cut -d: -f6; }
add_user() { # NAME
    userdel -r "$1" >/dev/null 2>&1 || true
    useradd -m -s /bin/sh -c "pam e2e test user" "$1" || fatal "useradd $1"
    on_exit "userdel -r '$1'"
    local h
    h=$(home_of "$1")
    install -d -m 0700 -o "$1" -g "$(id -gn "$1")" "$h/.ssh"
    install -m 0600 -o "$1" -g "$(id -gn "$1")" "$work/id_ed25519.pub" "$h/.ssh/authorized_keys"
}
set_password() { # USER PASSWORD (directly, without PAM)
    local hash
    hash=$("$py" -W ignore -c 'import crypt,sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_SHA512)))' "$2")
    usermod -p "$hash" "$1"
}
shadow_line() { getent shadow "$1"; }
password_is() { # USER PASSWORD: the stored hash verifies PASSWORD
    "$py" -W ignore -c 'import crypt,sys; h=sys.argv[1]; sys.exit(0 if crypt.crypt(sys.argv[2], h) == h else 1)' \
        "$(shadow_line "$1" | cut -d: -f2)" "$2"
}

ssh-keygen -q -t ed25519 -N '' -C "$tag" -f "$work/id_ed25519" || fatal "ssh-keygen"
user_t="pe2e-t$$"      # enrolled
user_n="pe2e-n$$"      # not enrolled
user_p="pe2e-p$$"      # password changes
for u in "$user_t" "$user_n" "$user_p"; do add_user "$u"; done

# ---------------------------------------------------------------- sshd
# A private sshd: OpenSSH 9.2 takes its PAM service name from the name it was
# started under, so a symlink named $svc makes it use /etc/pam.d/$svc.
policy_opts="retry=3 minlen=10 difok=3 ucredit=-1 lcredit=-2 dcredit=-1 ocredit=-1"
svc="pam-e2e-sshd-$$"
pam_file="/etc/pam.d/$svc"
ssh_port=""
host_keys=()

write_sshd_pam() { # nullok | strict
    local opt=""
    [ "$1" = nullok ] && opt=" nullok"
    cat >"$pam_file" <<EOF
# Private PAM service of the end-to-end suite (tests/e2e/run-suite.sh),
# used only by its own sshd; removed when the suite ends.
auth     required  pam_totp.so$opt
auth     required  pam_permit.so
account  required  pam_unix.so
session  required  pam_unix.so
password requisite pam_policy.so $policy_opts
password required  pam_unix.so use_authtok yescrypt
EOF
}

free_port() {
    "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_private_sshd() {
    [ -e "$pam_file" ] && fatal "$pam_file exists already"
    write_sshd_pam strict
    on_exit "rm -f '$pam_file'"
    if [ ! -d /run/sshd ]; then
        install -d -m 0755 /run/sshd
        on_exit "rmdir /run/sshd"
    fi
    ln -s /usr/sbin/sshd "$work/$svc"
    ssh-keygen -q -t ed25519 -N '' -C "$tag-host" -f "$work/ssh_host_ed25519_key" || fatal "ssh-keygen (host key)"
    host_keys=("$work/ssh_host_ed25519_key.pub")
    ssh_port=$(free_port)
    sshd_log="$work/sshd.log"
    cat >"$work/sshd_config" <<EOF
# sshd of the end-to-end suite; sshd reads only this file (-f).
ListenAddress 127.0.0.1
Port $ssh_port
HostKey $work/ssh_host_ed25519_key
PidFile $work/sshd.pid
UsePAM yes
KbdInteractiveAuthentication yes
PasswordAuthentication no
PubkeyAuthentication yes
AuthenticationMethods publickey,keyboard-interactive
AuthorizedKeysFile .ssh/authorized_keys
PermitRootLogin no
StrictModes yes
UseDNS no
PrintMotd no
MaxStartups 50
LogLevel VERBOSE
EOF
    "$work/$svc" -t -f "$work/sshd_config" >"$work/sshd-t.out" 2>&1 ||
        fatal "sshd -t refused the config: $(cat "$work/sshd-t.out")"
    "${in_ns[@]}" "$work/$svc" -D -f "$work/sshd_config" -E "$sshd_log" &
    sshd_pid=$!
    on_exit "kill $sshd_pid; wait $sshd_pid"
    for _ in $(seq 100); do
        grep -q "Server listening on 127.0.0.1 port $ssh_port" "$sshd_log" 2>/dev/null && break
        sleep 0.1
    done
    grep -q "Server listening" "$sshd_log" 2>/dev/null || fatal "sshd did not start"
    say "  sshd: $work/$svc on 127.0.0.1:$ssh_port, PAM service $pam_file, log $sshd_log"
}

# ---------------------------------------------------------------- logins
login() { # EXPECT USER [paramiko args...]
    local expect=$1 user=$2
    shift 2
    "$py" "$here/ssh_login.py" --port "$ssh_port" --user "$user" \
        ${host_keys[@]/#/--host-key=} --expect "$expect" "$@"
}

# OpenSSH's ssh, answering the keyboard-interactive prompt through SSH_ASKPASS.
ssh_askpass() { # USER ANSWER|- [ssh options...] -- COMMAND
    local user=$1 answer=$2
    shift 2
    printf '%s\n' "$answer" >"$work/askpass.answer"
    : >"$work/askpass.prompts"
    if [ ! -e "$work/known_hosts" ]; then
        local name="[127.0.0.1]:$ssh_port"
        [ "$ssh_port" = 22 ] && name=127.0.0.1
        for k in "${host_keys[@]}"; do
            printf '%s %s\n' "$name" "$(cut -d' ' -f1,2 "$k")"
        done >"$work/known_hosts"
    fi
    cat >"$work/askpass" <<EOF
#!/bin/sh
printf '%s\n' "\$*" >>"$work/askpass.prompts"
cat "$work/askpass.answer"
EOF
    chmod 0700 "$work/askpass"
    local opts=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do opts+=("$1"); shift; done
    shift
    SSH_ASKPASS="$work/askpass" SSH_ASKPASS_REQUIRE=force DISPLAY=none \
        ssh -F /dev/null -p "$ssh_port" -i "$work/id_ed25519" -o IdentitiesOnly=yes \
        -o UserKnownHostsFile="$work/known_hosts" -o StrictHostKeyChecking=yes \
        -o BatchMode=no -o NumberOfPasswordPrompts=1 -o ConnectTimeout=15 \
        -o LogLevel=ERROR "${opts[@]}" "$user@127.0.0.1" "$@" </dev/null
}

code_for() { "$py" "$here/otp.py" "$(home_of "$1")/.google_authenticator" --offset "$2"; }

# Runs a check; on failure prints its output and the logs.
check() { # NAME COMMAND...
    local name=$1 out
    shift
    set_marks
    if out=$("$@" 2>&1); then ok "$name"; else not_ok "$name" "\$ $*" "$out"; fi
}

# Predicates for check: each prints what it saw, and fails when it does not hold.
has_all() { # TEXT EXTENDED-REGEX...
    local text=$1 re
    shift
    printf '%s\n' "$text"
    for re in "$@"; do printf '%s\n' "$text" | grep -Eq -- "$re" || { echo "(missing: $re)"; return 1; }; done
}
has_none() { # TEXT EXTENDED-REGEX...
    local text=$1 re
    shift
    printf '%s\n' "$text"
    for re in "$@"; do
        if printf '%s\n' "$text" | grep -Eq -- "$re"; then echo "(unexpected: $re)"; return 1; fi
    done
}
has_fixed() { # TEXT FIXED-STRING
    printf '%s\n' "$1"
    printf '%s\n' "$1" | grep -qF -- "$2" || { echo "(missing: $2)"; return 1; }
}

login_and_run() { # USER EXPECTED-STDOUT LOGIN-ARGS...
    local user=$1 want=$2 out
    shift 2
    out=$(login success "$user" "$@") || { echo "$out"; return 1; }
    has_fixed "$out" "\"stdout\": \"$want\\n\""
}
ssh_and_run() { # USER CODE EXPECTED-STDOUT
    local out rc
    out=$(ssh_askpass "$1" "$2" -- 'echo e2e-ok $(id -un)' 2>&1)
    rc=$?
    echo "$out (exit $rc)"
    [ "$rc" -eq 0 ] && [ "$out" = "$3" ]
}
ssh_key_alone() { # USER
    local out rc
    out=$(ssh_askpass "$1" - -o KbdInteractiveAuthentication=no -- true 2>&1)
    rc=$?
    echo "$out (exit $rc)"
    [ "$rc" -ne 0 ] && printf '%s\n' "$out" | grep -q "Permission denied"
}
refused_saying() { # USER CODE MESSAGE: refused, and the client was shown MESSAGE
    local out
    out=$(login refused "$1" --key "$work/id_ed25519" --answer "$2") || { echo "$out"; return 1; }
    has_fixed "$out" "$3"
}
key_alone() { # USER
    local out
    out=$(login refused "$1" --key "$work/id_ed25519") || { echo "$out"; return 1; }
    has_fixed "$out" '"methods_after_key": ["keyboard-interactive"]'
}
nullok_login() { # USER
    local out
    out=$(login success "$1" --key "$work/id_ed25519" --answer "" --command 'echo e2e-ok $(id -un)') ||
        { echo "$out"; return 1; }
    has_all "$out" '"prompts": \[\]' "\"stdout\": \"e2e-ok $1"
}
secret_file_ok() { # USER
    local f
    f="$(home_of "$1")/.google_authenticator"
    ls -l "$f" && [ "$(stat -c '%U %a' "$f")" = "$1 600" ] &&
        head -n1 "$f" | grep -Eq '^[A-Z2-7]{16,}$' &&
        grep -qx '" TOTP_AUTH' "$f" && grep -qx '" DISALLOW_REUSE' "$f" &&
        [ "$(grep -Ec '^[1-9][0-9]{7}$' "$f")" -eq 5 ]
}
scratch_gone() { # USER CODE
    ! grep -qx "$2" "$(home_of "$1")/.google_authenticator"
}

# ---------------------------------------------------------------- TOTP through sshd
enroll() { # USER
    local enroll_bin
    enroll_bin=$(command -v totp-enroll) || { not_ok "totp-enroll is on PATH"; return 1; }
    # As root for another user, non-interactively: time-based, reuse refused,
    # a wide window (the suite spends several codes in a row), no rate limit,
    # five scratch codes, no QR code, no confirmation code.
    check "enroll $1 with $enroll_bin --user (non-interactive)" \
        "$enroll_bin" --user "$1" --force -t -d -w 17 -u -e 5 -Q NONE -C
    check "the secret file is the user's, mode 0600, in the google-authenticator format" secret_file_ok "$1"
}

# Each successful code is for a later step than the one before (DISALLOW_REUSE
# refuses any step at or before the last accepted one): offsets 0, 1, 2, ...
# from now, which the window of 17 (8 steps either side) accepts.
next_offset=0
take_code() { code=$(code_for "$user_t" "$next_offset"); next_offset=$((next_offset + 1)); }

totp_scenarios() { # LABEL with-nullok|strict-only
    local label=$1 nullok=$2 m code used scratch wrong
    enroll "$user_t" || return
    rm -f "$(home_of "$user_n")/.google_authenticator"
    next_offset=0
    [ "$nullok" = with-nullok ] && write_sshd_pam strict

    m=$(mark_log); take_code
    check "$label: key + right code (paramiko) logs in and runs a command" \
        login_and_run "$user_t" "e2e-ok $user_t" --key "$work/id_ed25519" --answer "$code" --command 'echo e2e-ok $(id -un)'
    check "$label:   logged as outcome=success" expect_log "$m" pam_totp "$user_t" success

    m=$(mark_log); take_code; used=$code
    check "$label: key + right code (OpenSSH ssh, askpass) logs in and runs a command" \
        ssh_and_run "$user_t" "$code" "e2e-ok $user_t"
    check "$label:   ssh asked with the module's prompt" grep "Verification code" "$work/askpass.prompts"
    check "$label:   logged as outcome=success" expect_log "$m" pam_totp "$user_t" success

    m=$(mark_log)
    wrong=$("$py" "$here/otp.py" "$(home_of "$user_t")/.google_authenticator" --not-near 9)
    check "$label: key + wrong code is refused" login refused "$user_t" --key "$work/id_ed25519" --answer "$wrong"
    check "$label:   logged as outcome=wrong-code" expect_log "$m" pam_totp "$user_t" wrong-code

    m=$(mark_log)
    check "$label: key + the code just used (reused) is refused, and the client is told why" \
        refused_saying "$user_t" "$used" "This verification code was already used."
    check "$label:   logged as outcome=reused" expect_log "$m" pam_totp "$user_t" reused

    check "$label: key alone (paramiko) is refused; keyboard-interactive is what remains" key_alone "$user_t"
    check "$label: key alone (OpenSSH ssh without keyboard-interactive) is refused" ssh_key_alone "$user_t"

    take_code
    check "$label: a right code without the key is refused" login refused "$user_t" --answer "$code"

    m=$(mark_log)
    scratch=$("$py" "$here/otp.py" "$(home_of "$user_t")/.google_authenticator" --scratch | head -n1)
    check "$label: key + scratch code logs in" \
        login success "$user_t" --key "$work/id_ed25519" --answer "$scratch" --command true
    check "$label:   logged as outcome=success (scratch code)" expect_log "$m" pam_totp "$user_t" success "scratch"
    check "$label:   the scratch code is gone from the file" scratch_gone "$user_t" "$scratch"
    m=$(mark_log)
    check "$label: the same scratch code a second time is refused" \
        login refused "$user_t" --key "$work/id_ed25519" --answer "$scratch"
    check "$label:   logged as outcome=wrong-code" expect_log "$m" pam_totp "$user_t" wrong-code

    take_code
    check "$label: after the refusals, key + a new right code logs in" \
        login success "$user_t" --key "$work/id_ed25519" --answer "$code" --command true

    m=$(mark_log)
    check "$label: not enrolled, without nullok: refused" \
        login refused "$user_n" --key "$work/id_ed25519" --answer 123456
    check "$label:   logged as outcome=not-enrolled" expect_log "$m" pam_totp "$user_n" not-enrolled "no secret file "

    # RATE_LIMIT 3 30: three tries in 30 seconds, then refused without a prompt.
    check "enroll $user_n with a rate limit (-r 3 -R 30)" \
        totp-enroll --user "$user_n" --force -t -d -W -r 3 -R 30 -e 0 -Q NONE -C
    local i wrong_n
    wrong_n=$("$py" "$here/otp.py" "$(home_of "$user_n")/.google_authenticator" --not-near 9)
    for i in 1 2 3; do login refused "$user_n" --key "$work/id_ed25519" --answer "$wrong_n" >/dev/null; done
    m=$(mark_log)
    check "$label: a fourth try within 30 seconds is refused (rate limit), and the client is told why" \
        refused_saying "$user_n" "$wrong_n" "Too many login attempts. Please try again in"
    check "$label:   logged as outcome=throttled" expect_log "$m" pam_totp "$user_n" throttled
    rm -f "$(home_of "$user_n")/.google_authenticator"

    [ "$nullok" = with-nullok ] || return 0
    write_sshd_pam nullok
    m=$(mark_log)
    check "$label: not enrolled, with nullok: logs in without a code and runs a command" nullok_login "$user_n"
    check "$label:   logged as outcome=not-enrolled (nullok)" expect_log "$m" pam_totp "$user_n" not-enrolled "no secret file; nullok"
    check "$label: with nullok, an enrolled user's wrong code is still refused" \
        login refused "$user_t" --key "$work/id_ed25519" --answer "$wrong"
    take_code
    check "$label: with nullok, an enrolled user's right code logs in" \
        login success "$user_t" --key "$work/id_ed25519" --answer "$code" --command true
    write_sshd_pam strict
}

# ---------------------------------------------------------------- pam_policy
pw_initial='Initial-Pass-42!'
pw_weak='Tq7#vbn'
pw_strong='Correct-Horse-7-battery!'
pw_strong2='Stapled-Lantern-9-orbit?'
policy_svc="pam-e2e-policy-$$"

write_policy_pam() { # FILE MODULE EXTRA-OPTIONS
    cat >"$1" <<EOF
# Private PAM service of the end-to-end suite (tests/e2e/run-suite.sh); removed when it ends.
password requisite  $2 $policy_opts$3
password required   pam_unix.so use_authtok yescrypt
EOF
}

checker() { command -v pam-policy-check || echo "$artifacts/pam-policy-check"; }

# The messages pam_policy must show for PASSWORD: pam-policy-check's reasons
# under the same options.
expected_reasons() { # PASSWORD OPTIONS...
    local pw=$1
    shift
    printf '%s\n' "$pw" | "$(checker)" --user "$user_p" "$@" | grep '^BAD PASSWORD'
}

refused_with() { # TRANSCRIPT MESSAGE
    has_fixed "$1" "$2" >/dev/null && has_none "$1" "successfully"
}

policy_scenarios() { # LABEL SERVICE-FOR-PAMTESTER PASSWD-STACK-FILE|"" OPTIONS...
    local label=$1 service=$2 stack=$3 m before out reason
    shift 3
    set_password "$user_p" "$pw_initial"
    reason=$(expected_reasons "$pw_weak" "$@" | head -n1)
    [ -n "$reason" ] || { not_ok "$label: pam-policy-check finds '$pw_weak' weak under: $*"; return; }
    say "  (pam-policy-check with $*: '$pw_weak' -> $reason)"

    # pamtester as the user: pam_unix asks for the current password, pam_policy for the new one.
    before=$(shadow_line "$user_p"); m=$(mark_log)
    out=$("$py" "$here/pty_talk.py" "$pw_initial" "$pw_weak" "$pw_weak" "$pw_weak" "$pw_weak" -- \
        "${in_ns[@]}" setpriv --reuid="$user_p" --regid="$user_p" --init-groups \
        pamtester -I rhost=192.0.2.10 "$service" "$user_p" chauthtok 2>&1)
    check "$label: pamtester $service chauthtok (as the user): weak password refused: $reason" \
        refused_with "$out" "$reason"
    check "$label:   /etc/shadow unchanged" test "$(shadow_line "$user_p")" = "$before"
    check "$label:   logged as outcome=rejected with the remote host" \
        expect_log "$m" pam_policy "$user_p" rejected

    # passwd as the user (setuid root, real uid the user's): weak until the tries run out.
    local run_passwd=(setpriv --reuid="$user_p" --regid="$user_p" --init-groups passwd)
    if [ -n "$stack" ]; then
        # /etc/pam.d/passwd is the machine's: bind the private stack over it in a
        # mount namespace of this one command.
        run_passwd=(unshare --mount --propagation private sh -c \
            'mount --bind "$0" /etc/pam.d/passwd && exec "$@"' "$stack" "${run_passwd[@]}")
    fi
    before=$(shadow_line "$user_p"); m=$(mark_log)
    out=$("$py" "$here/pty_talk.py" "$pw_initial" "$pw_weak" "$pw_weak" "$pw_weak" "$pw_weak" "$pw_weak" -- \
        "${in_ns[@]}" "${run_passwd[@]}" 2>&1)
    check "$label: passwd (as the user): weak password refused at every try, password unchanged" \
        has_all "$out" "$(printf '%s' "$reason" | sed 's/[][\.*^$()+?{}|]/\\&/g')" "password unchanged"
    check "$label:   /etc/shadow unchanged" test "$(shadow_line "$user_p")" = "$before"
    check "$label:   logged as outcome=rejected" expect_log "$m" pam_policy "$user_p" rejected

    m=$(mark_log)
    out=$("$py" "$here/pty_talk.py" "$pw_initial" "$pw_strong" "$pw_strong" -- \
        "${in_ns[@]}" "${run_passwd[@]}" 2>&1)
    check "$label: passwd (as the user): strong password accepted" has_all "$out" "password updated successfully"
    check "$label:   /etc/shadow holds the new password" password_is "$user_p" "$pw_strong"
    check "$label:   logged as outcome=accepted" expect_log "$m" pam_policy "$user_p" accepted

    # pamtester as root: a strong password is set.
    out=$("$py" "$here/pty_talk.py" "$pw_strong2" "$pw_strong2" -- \
        "${in_ns[@]}" pamtester "$service" "$user_p" chauthtok 2>&1)
    check "$label: pamtester $service chauthtok (as root): strong password accepted" \
        has_all "$out" "successfully"
    check "$label:   /etc/shadow holds the new password" password_is "$user_p" "$pw_strong2"
}

# An expired password: sshd runs the PAM password stack inside the
# keyboard-interactive exchange, after the code; pam_policy refuses the weak
# password and accepts the strong one.
expired_login() { # USER CODE WEAK-REASON
    local out
    out=$(login success "$1" --key "$work/id_ed25519" --answer "$2" --answer "$pw_initial" \
        --answer "$pw_weak" --answer "$pw_strong" --answer "$pw_strong" --command true) || { echo "$out"; return 1; }
    has_fixed "$out" "$(printf '%s' "$3")\\nNew password: " >/dev/null || { echo "$out"; echo "(no '$3' before the second prompt)"; return 1; }
    has_all "$out" 'required to change your password' '"exit": 0'
}
policy_at_ssh_login() { # LABEL
    local label=$1 m reason code
    set_password "$user_p" "$pw_initial"
    chage -d 0 "$user_p"
    check "enroll $user_p too" totp-enroll --user "$user_p" --force -t -D -w 17 -u -e 0 -Q NONE -C
    reason=$(expected_reasons "$pw_weak" "${@:2}" | head -n1)
    code=$(code_for "$user_p" 0)
    m=$(mark_log)
    check "$label: ssh login with an expired password: code, then pam_policy refuses the weak one, accepts the strong one" \
        expired_login "$user_p" "$code" "$reason"
    check "$label:   /etc/shadow holds the new password" password_is "$user_p" "$pw_strong"
    check "$label:   logged as pam_policy outcome=rejected from 127.0.0.1" \
        expect_log "$m" pam_policy "$user_p" rejected
    check "$label:   logged as pam_policy outcome=accepted" expect_log "$m" pam_policy "$user_p" accepted
    rm -f "$(home_of "$user_p")/.google_authenticator"
}

# pamtester as root with enforce_for_root, and beside pam_pwquality (the anchor)
# on the same stack: the same message for the same weak password.
same_messages() { # OURS THEIRS
    local a b
    a=$(printf '%s\n' "$1" | grep "BAD PASSWORD")
    b=$(printf '%s\n' "$2" | grep "BAD PASSWORD")
    printf 'pam_policy:\n%s\npam_pwquality:\n%s\n' "$a" "$b"
    [ -n "$a" ] && [ "$a" = "$b" ]
}
policy_root_and_anchor() { # LABEL
    local label=$1 ours theirs before m sec
    sec=$(dirname "$(find /lib /usr/lib -name pam_unix.so -path '*security*' 2>/dev/null | head -n1)")
    write_policy_pam "/etc/pam.d/$policy_svc-root" pam_policy.so " enforce_for_root"
    on_exit "rm -f '/etc/pam.d/$policy_svc-root'"
    before=$(shadow_line "$user_p"); m=$(mark_log)
    ours=$("$py" "$here/pty_talk.py" "$pw_weak" "$pw_weak" "$pw_weak" -- \
        "${in_ns[@]}" pamtester -I rhost=192.0.2.11 "$policy_svc-root" "$user_p" chauthtok 2>&1)
    check "$label: pamtester chauthtok (as root, enforce_for_root): weak password refused three times" \
        refused_with "$ours" "BAD PASSWORD: The password is shorter than 10 characters"
    check "$label:   /etc/shadow unchanged" test "$(shadow_line "$user_p")" = "$before"
    check "$label:   logged as outcome=maxtries after the third" expect_log "$m" pam_policy "$user_p" maxtries
    if [ -e "$sec/pam_pwquality.so" ]; then
        write_policy_pam "/etc/pam.d/$policy_svc-anchor" pam_pwquality.so " enforce_for_root"
        on_exit "rm -f '/etc/pam.d/$policy_svc-anchor'"
        theirs=$("$py" "$here/pty_talk.py" "$pw_weak" "$pw_weak" "$pw_weak" -- \
            "${in_ns[@]}" pamtester "$policy_svc-anchor" "$user_p" chauthtok 2>&1)
        check "$label: pam_pwquality on the same stack shows the same messages" same_messages "$ours" "$theirs"
    fi
}

# ---------------------------------------------------------------- fail2ban
fail2ban_check() {
    local filter="$repo/monitoring/fail2ban/filter.d/pam-hardening.conf"
    [ -f "$filter" ] || filter=/usr/share/doc/$package/examples/fail2ban/filter.d/pam-hardening.conf
    local lines="$work/module-lines.log" out expected matched
    syslog_all | grep -E 'pam_(totp|policy)\(' >"$lines"
    # The failures the filter must find, counted here without it: a remote host
    # and a failure outcome (pam_totp: wrong-code, reused, throttled,
    # unknown-user, skew-learning, not-enrolled without nullok; pam_policy: rejected).
    expected=$(grep -Ec 'pam_totp\([^)]*\): .* rhost=[^ ]+ outcome=(wrong-code|reused|throttled|unknown-user|skew-learning|not-enrolled reason="no secret file .)|pam_policy\([^)]*\): .* rhost=[^ ]+ outcome=rejected ' "$lines")
    say "  $(wc -l <"$lines") module lines captured ($lines), $expected of them failures from a remote host"
    # The filter includes fail2ban's common.conf from its own directory.
    mkdir -p "$work/fail2ban/filter.d"
    cp /etc/fail2ban/filter.d/common.conf "$filter" "$work/fail2ban/filter.d/"
    out=$(fail2ban-regex --print-all-matched "$lines" "$work/fail2ban/filter.d/$(basename "$filter")" 2>&1)
    matched=$(printf '%s\n' "$out" | sed -n '/^|- Matched line(s):/,/^`-/p' | grep '^|  ')
    check "fail2ban-regex $(basename "$filter"): matches exactly the $expected failure lines" \
        has_all "$out" "^Lines: [0-9]+ lines, 0 ignored, $expected matched"
    check "fail2ban-regex: no success, accepted or nullok line among the matches" \
        has_none "$matched" 'outcome=(success|accepted)' 'no secret file; nullok'
    check "fail2ban-regex: failures of both modules among the matches" \
        has_all "$matched" 'pam_totp\(.*outcome=wrong-code' 'pam_totp\(.*outcome=reused' \
        'pam_totp\(.*outcome=not-enrolled' 'pam_totp\(.*outcome=throttled' 'pam_policy\(.*outcome=rejected'
    # The jail example, in a copy of the machine's fail2ban configuration (with
    # Debian's sshd jail off and the log path pointed at this run's lines).
    local jail="$repo/monitoring/fail2ban/jail.d/pam-hardening.conf"
    [ -f "$jail" ] || jail=/usr/share/doc/$package/examples/fail2ban/jail.d/pam-hardening.conf
    cp -a /etc/fail2ban "$work/fail2ban-conf"
    rm -f "$work/fail2ban-conf/jail.d/defaults-debian.conf"
    cp "$filter" "$work/fail2ban-conf/filter.d/"
    cp "$jail" "$work/fail2ban-conf/jail.d/"
    printf '[pam-hardening]\nlogpath = %s\n' "$lines" >"$work/fail2ban-conf/jail.d/zz-e2e.local"
    check "fail2ban-client -t: the jail example with the filter is a valid configuration" \
        has_all "$(fail2ban-client -c "$work/fail2ban-conf" -t 2>&1)" 'configuration test is successful'
    check "fail2ban-client -d: the jail bans after 5 failures in 10 minutes for 1 hour" \
        has_all "$(fail2ban-client -c "$work/fail2ban-conf" -d 2>&1 | grep "'pam-hardening'")" \
        "'maxretry', 5" "'findtime', '10m'" "'bantime', '1h'" "'addfailregex'"

    local hosts users
    hosts=$(fail2ban-regex -o ip "$lines" "$work/fail2ban/filter.d/$(basename "$filter")" 2>&1 | sort -u | tr '\n' ' ')
    users=$(fail2ban-regex -o user "$lines" "$work/fail2ban/filter.d/$(basename "$filter")" 2>&1 | sort -u | tr '\n' ' ')
    check "fail2ban-regex -o ip: the hosts to ban are the clients' (127.0.0.1 for sshd, 192.0.2.x for pamtester)" \
        has_all "$hosts" '^(127\.0\.0\.1|192\.0\.2\.1[01]| )+$' '127\.0\.0\.1' '192\.0\.2\.10'
    check "fail2ban-regex -o user: the users are the test users" \
        has_all "$users" "^(pe2e-[tnp]$$| )+\$" "$user_t" "$user_p"
}

# ---------------------------------------------------------------- install
# The files scripts/install.sh puts in place, from its --dry-run.
install_targets() {
    sh "$repo/scripts/install.sh" --dry-run --from "$artifacts" 2>/dev/null | awk '/^\+ install /{print $NF}'
}

# Keeps what an admin installed before the run, and puts it back at the end.
backup_installed() {
    local f
    mkdir -p "$work/backup"
    for f in $(install_targets); do
        if [ -e "$f" ]; then
            cp -a "$f" "$work/backup/$(echo "$f" | tr / _)"
            on_exit "cp -a '$work/backup/$(echo "$f" | tr / _)' '$f'"
        else
            on_exit "rm -f '$f'"
        fi
    done
}

readme_install() {
    phase "install as README.md tells an admin (scripts/setup.sh)"
    backup_installed
    local out
    if command -v cargo >/dev/null 2>&1 && [ "$artifacts" = "$repo/target/release" ]; then
        out=$(cd "$repo" && ./scripts/setup.sh 2>&1) || fatal "scripts/setup.sh failed:
$out"
    else
        out=$(sh "$repo/scripts/install.sh" --from "$artifacts" 2>&1) || fatal "scripts/install.sh failed:
$out"
    fi
    printf '%s\n' "$out" | grep '^+ ' | sed 's/^/  /'
    local f
    for f in $(install_targets); do
        check "installed $f" test -f "$f"
    done
    check "totp-enroll is on PATH at /usr/local/bin" test "$(command -v totp-enroll)" = /usr/local/bin/totp-enroll
    check "pam-policy-check is on PATH at /usr/local/bin" test "$(command -v pam-policy-check)" = /usr/local/bin/pam-policy-check
}

readme_uninstall() {
    sh "$repo/scripts/install.sh" --uninstall --from "$artifacts" >/dev/null 2>&1
    local f left=""
    for f in $(install_targets); do [ -e "$f" ] && left="$left $f"; done
    check "scripts/install.sh --uninstall removed the files" test -z "$left"
}

pam_state_files() { ls /etc/pam.d/common-* /var/lib/pam/* 2>/dev/null; }

deb_install() {
    phase "install from the package: dpkg -i $(basename "$deb")"
    if dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        not_ok "$package is already installed on this machine; not replacing it (remove it, or run --system)"
        return 1
    fi
    # pam-auth-update edits /etc/pam.d/common-*; keep them to restore exactly.
    mkdir -p "$work/pam-state"
    local f
    for f in $(pam_state_files); do cp -a "$f" "$work/pam-state/$(echo "$f" | tr / _)"; done
    on_exit "restore_pam_state"
    on_exit "DEBIAN_FRONTEND=noninteractive dpkg --purge $package"
    local out
    out=$(DEBIAN_FRONTEND=noninteractive dpkg -i "$deb" 2>&1) || { not_ok "dpkg -i $deb" "$out"; return 1; }
    ok "dpkg -i $(basename "$deb")"
    local sec
    sec="/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)/security"
    check "package: both modules in $sec, mode 0644" \
        sh -c "[ \"\$(stat -c %a $sec/pam_totp.so $sec/pam_policy.so)\" = \"644
644\" ]"
    check "package: /usr/bin/totp-enroll and /usr/bin/pam-policy-check" \
        test -x /usr/bin/totp-enroll -a -x /usr/bin/pam-policy-check
    check "package: man pages pam_totp(8), pam_policy(8), totp-enroll(1), pam-policy-check(8)" \
        test -f /usr/share/man/man8/pam_totp.8.gz -a -f /usr/share/man/man8/pam_policy.8.gz \
        -a -f /usr/share/man/man1/totp-enroll.1.gz -a -f /usr/share/man/man8/pam-policy-check.8.gz
    check "package: the pam-auth-update profile /usr/share/pam-configs/pam-policy" \
        grep -q 'pam_policy.so' /usr/share/pam-configs/pam-policy
    check "package: the fail2ban filter example" \
        test -f /usr/share/doc/$package/examples/fail2ban/filter.d/pam-hardening.conf
    check "package: totp-enroll on PATH is the package's" test "$(command -v totp-enroll)" = /usr/bin/totp-enroll
    if grep -q 'pam_policy.so' /etc/pam.d/common-password; then
        ok "postinst: pam-auth-update put pam_policy.so into /etc/pam.d/common-password"
        check "postinst: pam_policy replaced pam_pwquality there (the profile conflicts with it)" \
            sh -c '! grep -q "^[^#]*pam_pwquality.so" /etc/pam.d/common-password'
    else
        say "  note  /etc/pam.d/common-password has local changes, so pam-auth-update left it alone"
    fi
}

restore_pam_state() {
    local f b
    for b in "$work"/pam-state/*; do
        f=$(basename "$b" | tr _ /)
        cmp -s "$b" "$f" || cp -a "$b" "$f"
    done
}

deb_remove() {
    local out changed="" b f
    out=$(DEBIAN_FRONTEND=noninteractive dpkg --purge "$package" 2>&1)
    check "dpkg --purge $package" has_none "$out" '^dpkg: error'
    check "prerm: pam_policy.so is gone from /etc/pam.d/common-password" \
        sh -c '! grep -q pam_policy.so /etc/pam.d/common-password'
    check "the package's files are gone" \
        sh -c '! [ -e /usr/bin/totp-enroll ] && ! [ -e /usr/bin/pam-policy-check ] && ! [ -e /usr/share/pam-configs/pam-policy ]'
    for b in "$work"/pam-state/*; do
        f=$(basename "$b" | tr _ /)
        cmp -s "$b" "$f" || changed="$changed $f"
    done
    if [ -n "$changed" ]; then
        say "  note  putting back the PAM configuration as it was before the package:$changed"
        restore_pam_state
    fi
}

# ---------------------------------------------------------------- run
if [ "$mode" = private ]; then
    start_private_sshd
    policy_stack="$work/passwd-stack"
    write_policy_pam "$policy_stack" pam_policy.so ""
    write_policy_pam "/etc/pam.d/$policy_svc" pam_policy.so ""
    on_exit "rm -f '/etc/pam.d/$policy_svc'"

    readme_install
    phase "sshd + pam_totp, installed by scripts/setup.sh"
    totp_scenarios "setup.sh" with-nullok
    phase "pamtester and passwd + pam_policy, installed by scripts/setup.sh"
    policy_root_and_anchor "setup.sh"
    # shellcheck disable=SC2086
    policy_at_ssh_login "setup.sh" $policy_opts
    # shellcheck disable=SC2086
    policy_scenarios "setup.sh" "$policy_svc" "$policy_stack" $policy_opts
    readme_uninstall

    if [ -n "$deb" ]; then
        if deb_install; then
            phase "sshd + pam_totp, installed from the package"
            totp_scenarios "deb" with-nullok
            phase "pamtester and passwd + pam_policy, installed from the package"
            # shellcheck disable=SC2086
            policy_at_ssh_login "deb" $policy_opts
            # shellcheck disable=SC2086
            policy_scenarios "deb" "$policy_svc" "$policy_stack" $policy_opts
            phase "remove the package"
            deb_remove
        fi
    else
        phase "install from the package: skipped (no --deb FILE; scripts/e2e.sh builds one)"
    fi
else
    phase "the machine's own sshd (127.0.0.1:22) and PAM (/etc/pam.d/sshd, common-password)"
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
        fatal "--system expects the $package package installed (see tests/e2e/README.md)"
    grep -Eq '^[[:space:]]*auth[[:space:]].*pam_totp\.so' /etc/pam.d/sshd ||
        fatal "/etc/pam.d/sshd has no pam_totp.so auth line (see tests/e2e/README.md)"
    ssh_port=22
    host_keys=(/etc/ssh/ssh_host_*_key.pub)
    totp_scenarios "system" strict-only
    line=$(grep -E '^[[:space:]]*password[[:space:]].*pam_policy\.so' /etc/pam.d/common-password | head -n1)
    [ -n "$line" ] || fatal "/etc/pam.d/common-password has no pam_policy.so line (see tests/e2e/README.md)"
    opts=$(printf '%s\n' "$line" | sed 's/.*pam_policy\.so//')
    phase "pamtester and passwd + pam_policy through /etc/pam.d/passwd (common-password:$opts)"
    # shellcheck disable=SC2086
    policy_at_ssh_login "system" $opts
    # shellcheck disable=SC2086
    policy_scenarios "system" passwd "" $opts
fi

phase "monitoring: the fail2ban filter against the lines captured in this run"
fail2ban_check

phase "result"
say "$((passed + failed)) checks: $passed passed, $failed failed ($(($(date +%s) - t_start)) s)"
if [ "$failed" -gt 0 ]; then
    say "failed:$failures"
    exit 1
fi
exit 0
