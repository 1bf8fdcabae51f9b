#!/bin/sh
# Installs pam_totp.so and pam_policy.so where libpam loads modules from, and
# totp-enroll and pam-policy-check onto PATH. Every action is printed before it is done.
#
#   install.sh [--from DIR] [--securedir DIR] [--prefix DIR] [--destdir DIR] [--dry-run] [--uninstall]
#
#   --from DIR       built artifacts (default: target/release of this checkout)
#   --securedir DIR  PAM module directory (default: detected, see below)
#   --prefix DIR     totp-enroll and pam-policy-check go to PREFIX/bin (default: /usr/local)
#   --destdir DIR    stage everything under DIR (for packaging and tests)
#   --dry-run        print what would be done, change nothing
#   --uninstall      remove what install put there
#
# The module directory is, in order: --securedir; $(pkg-config --variable=libdir pam)/security
# (Debian: /lib/<multiarch>/security); the first of /lib/<multiarch>/security,
# /usr/lib64/security (Fedora, RHEL), /lib/security that holds pam_unix.so.
# Modules are installed 0644 and the commands 0755, owned by root when run as root.
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
from="$here/target/release"
securedir=""
prefix="/usr/local"
destdir=""
dry=""
uninstall=""

die() { echo "install.sh: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
    case "$1" in
        --from) from=${2:?--from needs a directory}; shift 2 ;;
        --securedir) securedir=${2:?--securedir needs a directory}; shift 2 ;;
        --prefix) prefix=${2:?--prefix needs a directory}; shift 2 ;;
        --destdir) destdir=${2:?--destdir needs a directory}; shift 2 ;;
        --dry-run) dry=1; shift ;;
        --uninstall) uninstall=1; shift ;;
        -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
done

detect_securedir() {
    libdir=$(pkg-config --variable=libdir pam 2>/dev/null || true)
    if [ -n "$libdir" ] && [ -d "$libdir/security" ]; then
        echo "$libdir/security"; return
    fi
    multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch 2>/dev/null || true)
    for d in ${multiarch:+/lib/$multiarch/security /usr/lib/$multiarch/security} /usr/lib64/security /lib64/security /lib/security /usr/lib/security; do
        if [ -e "$d/pam_unix.so" ]; then echo "$d"; return; fi
    done
    die "cannot find the PAM module directory; pass --securedir"
}

[ -n "$securedir" ] || securedir=$(detect_securedir)
case "$securedir" in /*) ;; *) die "--securedir must be an absolute path" ;; esac
case "$prefix" in /*) ;; *) die "--prefix must be an absolute path" ;; esac

owner=""
[ "$(id -u)" -eq 0 ] && owner="-o root -g root"

run() {
    echo "+ $*"
    [ -n "$dry" ] || "$@"
}

# source (in --from)   destination                          mode
set -- \
    "libpam_totp.so   $destdir$securedir/pam_totp.so         0644" \
    "libpam_policy.so $destdir$securedir/pam_policy.so       0644" \
    "totp-enroll      $destdir$prefix/bin/totp-enroll        0755" \
    "pam-policy-check $destdir$prefix/bin/pam-policy-check   0755"

for entry in "$@"; do
    # shellcheck disable=SC2086
    set -- $entry
    src="$from/$1" dst=$2 mode=$3
    if [ -n "$uninstall" ]; then
        if [ -e "$dst" ] || [ -n "$dry" ]; then run rm -f "$dst"; fi
        continue
    fi
    [ -f "$src" ] || die "missing $src: build first (cargo build --release) or pass --from"
    # shellcheck disable=SC2086
    run install -D -m "$mode" $owner "$src" "$dst"
done

if [ -z "$uninstall" ] && [ -z "$dry" ]; then
    echo "Installed. PAM lines use the bare names, e.g. in /etc/pam.d/sshd:"
    echo "    auth required pam_totp.so"
    echo "and in /etc/pam.d/common-password, before pam_unix.so:"
    echo "    password requisite pam_policy.so retry=3"
fi
