#!/bin/bash
# Runs the end-to-end tests in a real Debian 12 VM with Vagrant, on a Debian 12
# host that has no Vagrant box to download and possibly no working KVM. As root.
#
#   run-ci.sh                  everything below, then a timed summary
#   run-ci.sh --validate-only  host packages + `vagrant validate` (seconds)
#
# Phases: host packages (apt-get: vagrant, vagrant-libvirt, libvirt, qemu,
# debootstrap, ...) → vagrant validate → the .deb built on the host
# (build-debs.sh) → the box (build-box.sh, cached by a hash of its inputs) →
# libvirt daemons (started by hand when none runs, there may be no systemd) →
# vagrant box add → vagrant up --provider=libvirt → provisioning ("setup") →
# the suite in the VM ("e2e") → vagrant destroy -f. Whatever the run created
# is removed at the end, also on failure: the VM, its network, its storage pool
# and volumes, the daemons it started (by PID), the iptables chains those
# daemons left behind, its temporary directory. Every name carries a random
# run id, so runs cannot clash with each other or with anything else on the host.
# On failure it prints the VM's serial console, QEMU's log, the guest journal
# and the Vagrant/provisioning output. vagrant up, the provisioning and the suite
# have time limits (900, 600 and 1200 s).
#
# Environment:
#   PAM_VAGRANT_CACHE   box cache directory (default /var/cache/pam-hardening/vagrant)
#   PAM_VAGRANT_DRIVER  libvirt domain type (default: the box's, "qemu" = software emulation)
#   PAM_VAGRANT_DEBS    a directory with the two .debs to use instead of building them
#   PAM_VAGRANT_KEEP=1  keep the run directory (logs) after the run
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${PAM_VAGRANT_CACHE:-/var/cache/pam-hardening/vagrant}
validate_only=""
case "${1:-}" in
    "") ;;
    --validate-only) validate_only=1 ;;
    -h|--help) sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run-ci.sh: unknown argument: $1 (see --help)" >&2; exit 2 ;;
esac
[ "$(id -u)" -eq 0 ] || { echo "run-ci.sh: must run as root" >&2; exit 2; }

id=$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
name=pamvm-$id
run=$(mktemp -d "${TMPDIR:-/tmp}/$name.XXXX")
chmod 0755 "$run"   # qemu runs as libvirt-qemu and must reach the pool and console log
log=$run/vagrant.log
console=$run/console.log

export VAGRANT_HOME=$run/vagrant.d
export VAGRANT_DOTFILE_PATH=$run/dotfile
export VAGRANT_DEFAULT_PROVIDER=libvirt
export VAGRANT_CHECKPOINT_DISABLE=1
export VAGRANT_BOX_UPDATE_CHECK_DISABLE=1
export VAGRANT_NO_COLOR=1
export PAM_VAGRANT_SKIP_BUILD=1
export PAM_VAGRANT_PREFIX=$name-
export PAM_VAGRANT_POOL=$name
export PAM_VAGRANT_NET_NAME=$name
export PAM_VAGRANT_NET_DEVICE=vpe$id
export PAM_VAGRANT_CONSOLE_LOG=$console
export LIBVIRT_DEFAULT_URI=qemu:///system

# ---------------------------------------------------------------------------
# Phases and the summary

summary=()
run_start=$(date +%s.%N)
current=""

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

phase() {   # phase NAME COMMAND...: runs COMMAND, records its time
    local title=$1; shift
    current=$title
    echo
    echo "=== [vm] $title ($(date -u +%T))"
    local t0; t0=$(now)
    "$@"
    local secs; secs=$(elapsed "$t0")
    summary+=("$(printf '%-34s %7ss  ok' "$title" "$secs")")
    current=""
}

print_summary() {
    local verdict=$1
    echo
    echo "=== [vm] summary (run $name)"
    local line
    for line in "${summary[@]}"; do echo "  $line"; done
    printf '  %-34s %7ss  %s\n' "total" "$(elapsed "$run_start")" "$verdict"
}

# vagrant, with the box upload's thousands of \r-separated progress lines
# removed, stopped after vg_limit seconds (default 900).
vg() {
    local status limit=${vg_limit:-900}
    set +e
    timeout -k 30 "$limit" vagrant "$@" 2>&1 | stdbuf -oL tr '\r' '\n' | grep --line-buffered -v -e 'Progress:' -e '^[[:space:]]*$' | sed -u 's/\x1b\[K//g' | tee -a "$log"
    status=${PIPESTATUS[0]}
    set -e
    if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then echo "vagrant $1: no result after $limit s, stopped"; fi
    return "$status"
}

# ---------------------------------------------------------------------------
# Cleanup: only what this run created

started_libvirtd=""
started_virtlogd=""
autostarted_nets=""
vm_created=""
ip_forward_before=$(cat /proc/sys/net/ipv4/ip_forward 2>/dev/null || echo "")

virsh_q() { timeout 60 virsh -q "$@" 2>/dev/null; }

remove_empty_libvirt_chains() {
    # libvirtd adds LIBVIRT_* chains and jumps to them and leaves them behind
    # when it stops; remove the ones that are empty (nobody else uses them).
    local tool table chain parent
    for tool in iptables ip6tables; do
        command -v "$tool" >/dev/null || continue
        for table in filter nat mangle; do
            for chain in $("$tool" -t "$table" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^LIBVIRT_/ {print $2}'); do
                [ "$("$tool" -t "$table" -S "$chain" 2>/dev/null | grep -c '^-A')" -eq 0 ] || continue
                for parent in INPUT OUTPUT FORWARD POSTROUTING PREROUTING; do
                    while "$tool" -t "$table" -D "$parent" -j "$chain" 2>/dev/null; do :; done
                done
                "$tool" -t "$table" -X "$chain" 2>/dev/null || true
            done
        done
    done
}

stop_pid() {   # stop_pid PIDFILE: TERM, wait up to 10 s, then KILL
    local pid
    pid=$(cat "$1" 2>/dev/null) || return 0
    [ -n "$pid" ] || return 0
    kill "$pid" 2>/dev/null || return 0
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    set +e
    if [ "$rc" -ne 0 ]; then
        on_failure
    fi
    if [ -n "$current" ]; then
        summary+=("$(printf '%-34s %8s  FAILED' "$current" "")")
        current=""
    fi
    echo
    echo "=== [vm] cleanup ($(date -u +%T))"
    local t0; t0=$(now)
    if [ -n "$vm_created" ]; then
        (cd "$here" && timeout 300 vagrant destroy -f >>"$log" 2>&1)
    fi
    if virsh_q version >/dev/null; then
        local d v n
        for d in $(virsh_q list --all --name | grep "^$name-" || true); do
            virsh_q destroy "$d" >/dev/null; virsh_q undefine "$d" --nvram >/dev/null || virsh_q undefine "$d" >/dev/null
        done
        for n in $(virsh_q net-list --all --name | grep -x "$name" || true) $autostarted_nets; do
            virsh_q net-destroy "$n" >/dev/null; [ "$n" = "$name" ] && virsh_q net-undefine "$n" >/dev/null
        done
        if virsh_q pool-info "$name" >/dev/null; then
            for v in $(virsh_q vol-list "$name" | awk '{print $1}'); do
                virsh_q vol-delete --pool "$name" "$v" >/dev/null
            done
            virsh_q pool-destroy "$name" >/dev/null
            virsh_q pool-undefine "$name" >/dev/null
        fi
    fi
    # What libvirt keeps about the run's VM and network after they are gone.
    rm -rf "/run/libvirt/network/$name" "/run/libvirt/network/$name.pid" \
        /var/log/libvirt/qemu/"$name"-*.log /run/libvirt/qemu/*-"$name"-*
    if [ -n "$started_libvirtd" ]; then stop_pid "$run/libvirtd.pid"; fi
    if [ -n "$started_virtlogd" ]; then stop_pid "$run/virtlogd.pid"; fi
    if [ -n "$started_libvirtd" ]; then
        remove_empty_libvirt_chains
        if [ -n "$ip_forward_before" ]; then echo "$ip_forward_before" > /proc/sys/net/ipv4/ip_forward; fi
    fi
    if [ "${PAM_VAGRANT_KEEP:-}" = 1 ]; then
        echo "kept $run"
    else
        rm -rf "$run"
    fi
    summary+=("$(printf '%-34s %7ss' "cleanup" "$(elapsed "$t0")")")
    if [ "$rc" -eq 0 ]; then print_summary PASS; else print_summary FAIL; fi
    exit "$rc"
}

on_failure() {
    echo
    echo "=== [vm] FAILED in phase: ${current:-?}"
    if [ -s "$console" ]; then
        echo "--- VM serial console ($console, last 120 lines)"
        tail -n 120 "$console" | tr -d '\r' | sed 's/\x1b\[[0-9;]*[A-Za-z]//g'
    fi
    local qlog
    for qlog in /var/log/libvirt/qemu/"$name"-*.log; do
        [ -s "$qlog" ] || continue
        echo "--- libvirt's QEMU log ($qlog, last 30 lines)"
        tail -n 30 "$qlog"
    done
    if [ -n "$vm_created" ]; then
        echo "--- guest journal (last 150 lines)"
        (cd "$here" && timeout 60 vagrant ssh -c 'sudo journalctl -b --no-pager -n 150' 2>&1) || true
    fi
    if [ -s "$log" ]; then
        echo "--- vagrant and provisioning output (last 200 lines of $log)"
        tail -n 200 "$log"
    fi
}

trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------
# Phases

host_packages() {
    local pkgs="vagrant vagrant-libvirt libvirt-daemon-system libvirt-clients qemu-system-x86 qemu-utils
                dnsmasq-base iptables debootstrap fdisk e2fsprogs rsync libarchive-tools zstd
                dpkg-dev debhelper fakeroot libpam0g-dev pkg-config"
    local missing="" p
    for p in $pkgs; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
    done
    # qemu-utils must be the same version as qemu-system-x86 (a qemu-utils from
    # backports conflicts with bookworm's qemu-system-x86): pin it to that version.
    local sysver utilsver
    sysver=$(apt-cache policy qemu-system-x86 2>/dev/null | awk '/Candidate:/ {print $2}')
    utilsver=$(dpkg-query -W -f='${Version}' qemu-utils 2>/dev/null || true)
    if [ -z "$sysver" ] || [ "$sysver" = "(none)" ]; then
        apt-get -o DPkg::Lock::Timeout=600 update -qq
        sysver=$(apt-cache policy qemu-system-x86 | awk '/Candidate:/ {print $2}')
    fi
    if dpkg-query -W -f='${Status}' qemu-system-x86 2>/dev/null | grep -q "install ok installed"; then
        sysver=$(dpkg-query -W -f='${Version}' qemu-system-x86)
    fi
    if [ "$utilsver" != "$sysver" ]; then
        missing=$(echo "$missing" | sed 's/ qemu-utils\b//')
        missing="$missing qemu-utils=$sysver"
    fi
    if [ -z "$missing" ]; then
        echo "all present"
        return
    fi
    echo "installing:$missing"
    apt-get -o DPkg::Lock::Timeout=600 update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends --allow-downgrades $missing \
        >"$run/apt.log" 2>&1 || { tail -n 40 "$run/apt.log"; return 1; }
}

validate() {
    (cd "$here" && vagrant validate)
}

build_deb() {
    sh "$here/build-debs.sh"
}

box_file=""
box() {
    local key
    key=$( { cat "$here/build-box.sh" "$here/guest-packages"; vagrant --version; } | sha256sum | cut -c1-16)
    box_file=$cache/debian-bookworm-libvirt-$key.box
    mkdir -p "$cache"
    (
        flock 9
        if [ -s "$box_file" ]; then
            echo "cached: $box_file"
        else
            echo "building $box_file"
            sh "$here/build-box.sh" "$box_file"
            # Older boxes (other input hashes) are of no further use.
            find "$cache" -maxdepth 1 -name 'debian-bookworm-libvirt-*.box' ! -name "$(basename "$box_file")" -delete
        fi
    ) 9>"$cache/.lock"
}

libvirt_daemons() {
    if virsh_q version >/dev/null; then
        echo "libvirtd already running: using it"
        return
    fi
    if ! pgrep -x virtlogd >/dev/null; then
        virtlogd -d -p "$run/virtlogd.pid"
        started_virtlogd=1
    fi
    if [ -e /dev/kvm ] && ! runuser -u libvirt-qemu -- test -r /dev/kvm -a -w /dev/kvm 2>/dev/null; then
        # /dev/kvm exists but QEMU's user cannot open it: libvirtd then probes
        # QEMU's capabilities with KVM (as root), finds KVM unusable for QEMU's
        # user, discards the result and probes again, for every API call,
        # without end. Hide /dev/kvm from this libvirtd (a private mount
        # namespace, an empty root-only file over it): both sides agree there is
        # no KVM, and the VM runs under software emulation as intended. The
        # per-VM /dev namespaces are turned off in this libvirtd's qemu.conf
        # (bound over the real one, in that namespace only), since libvirt
        # cannot carry the /dev/kvm mount into them.
        install -m 0600 /dev/null "$run/no-kvm"
        install -m 0600 /etc/libvirt/qemu.conf "$run/qemu.conf"
        sed -i '/^[[:space:]]*namespaces[[:space:]]*=/d' "$run/qemu.conf"
        echo 'namespaces = [ ]' >> "$run/qemu.conf"
        unshare --mount --propagation private sh -c '
            mount --bind "$1" /dev/kvm &&
            mount --bind "$2" /etc/libvirt/qemu.conf &&
            exec libvirtd -d -p "$3"' sh "$run/no-kvm" "$run/qemu.conf" "$run/libvirtd.pid"
        echo "/dev/kvm is not usable by libvirt-qemu: hidden from libvirtd"
    else
        libvirtd -d -p "$run/libvirtd.pid"
    fi
    started_libvirtd=1
    for _ in $(seq 100); do
        virsh_q version >/dev/null && break
        sleep 0.2
    done
    virsh_q version >/dev/null || { echo "libvirtd did not answer"; return 1; }
    # Networks that libvirtd autostarted are this run's to stop again.
    autostarted_nets=$(virsh_q net-list --name | tr '\n' ' ')
    echo "libvirtd pid $(cat "$run/libvirtd.pid")${started_virtlogd:+, virtlogd pid $(cat "$run/virtlogd.pid")}"
}

free_subnet() {   # a 192.168.N.0/24 that no interface, route or libvirt network uses
    local used n
    used=$( { ip -4 -o addr show; ip -4 route show; for x in $(virsh_q net-list --all --name); do virsh_q net-dumpxml "$x"; done; } 2>/dev/null)
    for _ in $(seq 200); do
        n=$(( 100 + $(od -An -N1 -tu1 /dev/urandom) % 150 ))
        echo "$used" | grep -q "192\.168\.$n\." || { echo "192.168.$n.0/24"; return; }
    done
    return 1
}

storage_and_box() {
    PAM_VAGRANT_NET_ADDRESS=$(free_subnet)
    export PAM_VAGRANT_NET_ADDRESS
    echo "network $PAM_VAGRANT_NET_NAME $PAM_VAGRANT_NET_ADDRESS on $PAM_VAGRANT_NET_DEVICE, pool $PAM_VAGRANT_POOL"
    mkdir -m 0755 "$run/pool"
    virsh_q pool-define-as "$name" dir --target "$run/pool" >/dev/null
    virsh_q pool-start "$name" >/dev/null
    vg box add --name debian/bookworm64 "$box_file"
}

up() {
    vm_created=1
    (cd "$here" && vg up --provider=libvirt --no-provision)
}

provision_setup() {
    (cd "$here" && vg_limit=600 vg provision --provision-with setup)
}

provision_e2e() {
    (cd "$here" && vg_limit=1200 vg provision --provision-with e2e)
}

destroy() {
    (cd "$here" && vg_limit=300 vg destroy -f)
    vm_created=""
}

phase "host packages" host_packages
phase "vagrant validate" validate
if [ -n "$validate_only" ]; then exit 0; fi
phase ".debs (build on the host)" build_deb
phase "box (cached by input hash)" box
phase "libvirt daemons" libvirt_daemons
phase "storage pool + vagrant box add" storage_and_box
phase "vagrant up" up
phase "provision: install + configure" provision_setup
phase "e2e suite in the VM" provision_e2e
phase "vagrant destroy" destroy
