#!/bin/sh
# Installs the Debian packages this project needs, with apt-get.
#   deps.sh          what building and installing needs
#   deps.sh --test   also what the tests need (the reference modules they compare against)
# Runs apt-get only when something is missing; uses sudo when not root.
set -eu

packages="libpam0g-dev pkg-config gcc libc6-dev binutils"
if [ "${1:-}" = "--test" ]; then
    # pam_permit/pam_deny/pam_echo/pam_warn/pam_exec come with libpam-modules;
    # pamtester, pam_pwquality, pam_google_authenticator and oathtool are the anchors.
    packages="$packages libpam-modules pamtester libpam-pwquality cracklib-runtime libpam-google-authenticator oathtool"
fi

missing=""
for p in $packages; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
    as_root=""
elif command -v sudo >/dev/null 2>&1; then
    as_root="sudo"
else
    echo "deps.sh: need root (or sudo) to install:$missing" >&2
    exit 1
fi
echo "deps.sh: installing$missing"
$as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
# shellcheck disable=SC2086
$as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
