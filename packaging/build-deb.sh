#!/bin/sh
# Builds the Debian package pam-hardening_<version>_<arch>.deb with dpkg-deb
# from a staged tree; the modules, totp-enroll and pam-policy-check are staged
# by scripts/install.sh --destdir, so the package holds what an install does.
#
#   packaging/build-deb.sh [--from DIR] [--out DIR]
#
#   --from DIR  release artifacts (default: target/release; build them first
#               with cargo build --release --workspace)
#   --out DIR   where the .deb goes (default: target/debian)
#
# Prints the path of the .deb on its last line.
#
# Contents:
#   /lib/<multiarch>/security/pam_totp.so, pam_policy.so       0644
#   /usr/bin/totp-enroll, /usr/bin/pam-policy-check            0755
#   /usr/bin/pam-hardening (the admin command: pam-hardening doctor) 0755
#   /usr/share/pam-configs/pam-policy   (postinst/prerm run pam-auth-update)
#   /usr/share/man/man8/pam_totp.8.gz, pam_policy.8.gz, pam-policy-check.8.gz,
#     pam-hardening.8.gz
#   /usr/share/man/man1/totp-enroll.1.gz
#   /usr/share/doc/pam-hardening/{copyright,examples/...}
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
from="$repo/target/release"
out="$repo/target/debian"

die() { echo "build-deb.sh: $*" >&2; exit 1; }
while [ $# -gt 0 ]; do
    case "$1" in
        --from) from=${2:?--from needs a directory}; shift 2 ;;
        --out) out=${2:?--out needs a directory}; shift 2 ;;
        -h|--help) sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
done

for f in libpam_totp.so libpam_policy.so totp-enroll pam-policy-check pam-hardening; do
    [ -f "$from/$f" ] || die "missing $from/$f: run cargo build --release --workspace first"
done

package=pam-hardening
version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' "$repo/Cargo.toml")
[ -n "$version" ] || die "no version in Cargo.toml [workspace.package]"
arch=$(dpkg --print-architecture)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root="$stage/root"
mkdir -p "$root"

# The modules and the commands, as scripts/install.sh installs them.
sh "$repo/scripts/install.sh" --from "$from" --destdir "$root" \
    --securedir "/lib/$multiarch/security" --prefix /usr >/dev/null
[ -f "$root/usr/bin/pam-policy-check" ] ||
    install -D -m 0755 "$from/pam-policy-check" "$root/usr/bin/pam-policy-check"
install -D -m 0755 "$from/pam-hardening" "$root/usr/bin/pam-hardening"

install -D -m 0644 "$here/pam-configs/pam-policy" "$root/usr/share/pam-configs/pam-policy"

for page in pam_totp.8 pam_policy.8 pam-policy-check.8 pam-hardening.8 totp-enroll.1; do
    section=${page##*.}
    install -d "$root/usr/share/man/man$section"
    gzip -9n <"$here/man/$page" >"$root/usr/share/man/man$section/$page.gz"
    chmod 0644 "$root/usr/share/man/man$section/$page.gz"
done

doc="$root/usr/share/doc/$package"
install -D -m 0644 "$here/debian/copyright" "$doc/copyright"
install -D -m 0644 "$repo/monitoring/fail2ban/filter.d/pam-hardening.conf" \
    "$doc/examples/fail2ban/filter.d/pam-hardening.conf"
install -D -m 0644 "$repo/monitoring/fail2ban/jail.d/pam-hardening.conf" \
    "$doc/examples/fail2ban/jail.d/pam-hardening.conf"
install -m 0644 "$here/examples/pam.d-sshd" "$here/examples/pam.d-common-password" \
    "$here/examples/sshd_config.d-pam-hardening.conf" "$doc/examples/"

# Shared-library dependencies of the binaries, as dpkg-shlibdeps finds them.
depends="libc6, libpam0g"
if command -v dpkg-shlibdeps >/dev/null 2>&1; then
    mkdir -p "$stage/src/debian"
    printf 'Source: %s\n\nPackage: %s\nArchitecture: any\n' "$package" "$package" >"$stage/src/debian/control"
    found=$(cd "$stage/src" && dpkg-shlibdeps -O \
        "$root/lib/$multiarch/security/pam_totp.so" "$root/lib/$multiarch/security/pam_policy.so" \
        "$root/usr/bin/totp-enroll" "$root/usr/bin/pam-policy-check" "$root/usr/bin/pam-hardening" 2>/dev/null |
        sed -n 's/^shlibs:Depends=//p')
    [ -n "$found" ] && depends=$found
fi

install -d -m 0755 "$root/DEBIAN"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" -e "s/@DEPENDS@/$depends/" \
    "$here/debian/control.in" >"$root/DEBIAN/control"
install -m 0755 "$here/debian/postinst" "$here/debian/prerm" "$root/DEBIAN/"
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\n' | sort | xargs md5sum) \
    >"$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/md5sums"

mkdir -p "$out"
deb="$out/${package}_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"
