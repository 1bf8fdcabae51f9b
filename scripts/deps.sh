#!/bin/sh
# Installs the Debian packages this project needs, with apt-get.
#   deps.sh          what building and installing needs
#   deps.sh --test   also what the tests need (the reference modules they compare against,
#                    and the de_DE.UTF-8 locale the translated-message tests run in)
#   deps.sh --e2e    what the end-to-end suite needs (tests/e2e: sshd, SSH clients, fail2ban,
#                    monit, and dpkg-buildpackage and lintian for the Debian packages)
#   deps.sh --demo   what scripts/demo.sh needs (sshd, ssh)
# Runs apt-get only when something is missing; uses sudo when not root.
set -eu
need_locale=""

packages="libpam0g-dev pkg-config gcc libc6-dev binutils"
if [ "${1:-}" = "--test" ]; then
    # pam_permit/pam_deny/pam_echo/pam_warn/pam_exec come with libpam-modules;
    # pamtester, pam_pwquality, pam_google_authenticator and oathtool are the anchors.
    packages="$packages libpam-modules pamtester libpam-pwquality cracklib-runtime libpam-google-authenticator oathtool zbar-tools"
    # The fleet store's tests start their own PostgreSQL server (TLS from a
    # test CA made with openssl); the module loads libpq at run time.
    packages="$packages postgresql openssl libpq5"
    # locales: localedef and the de_DE source, for the German-message comparison
    # with pam_pwquality (the locale itself is generated below).
    packages="$packages locales"
    need_locale=de_DE.UTF-8
fi
if [ "${1:-}" = "--e2e" ]; then
    # The end-to-end suite (tests/e2e): the anchors above, plus a real sshd and SSH
    # clients (OpenSSH, paramiko for /usr/bin/python3), passwd/useradd, fail2ban-regex,
    # and pytest for /usr/bin/python3, which runs the suite.
    packages="$packages libpam-modules libpam-runtime pamtester libpam-pwquality cracklib-runtime libpam-google-authenticator oathtool locales"
    need_locale=de_DE.UTF-8
    packages="$packages openssh-server openssh-client python3 python3-paramiko python3-pytest passwd util-linux fail2ban"
    packages="$packages postgresql openssl libpq5"
    # The Debian packages (debian/, built with dpkg-buildpackage and checked with
    # lintian) and the Monit check (monitoring/monit, run by the real monit).
    packages="$packages dpkg-dev debhelper fakeroot lintian monit"
fi
if [ "${1:-}" = "--demo" ]; then
    # scripts/demo.sh: an sshd to log in to, an SSH client, and python3 for
    # tests/e2e/shipped.py (the shipped sshd and PAM lines) and the syslog sink.
    packages="$packages openssh-server openssh-client passwd python3"
fi

missing=""
for p in $packages; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done

if [ "$(id -u)" -eq 0 ]; then
    as_root=""
elif command -v sudo >/dev/null 2>&1; then
    as_root="sudo"
else
    as_root="none"
fi

# Generates $need_locale (e.g. de_DE.UTF-8) when the system lacks it.
generate_locale() {
    [ -n "$need_locale" ] || return 0
    if locale -a 2>/dev/null | grep -qix "$(echo "$need_locale" | sed 's/UTF-8/utf8/')"; then
        return 0
    fi
    if [ "$as_root" = "none" ]; then
        echo "deps.sh: need root (or sudo) to generate the $need_locale locale" >&2
        exit 1
    fi
    echo "deps.sh: generating the $need_locale locale"
    $as_root localedef -i "${need_locale%%.*}" -f UTF-8 "$need_locale"
}

if [ -z "$missing" ]; then
    generate_locale
    exit 0
fi
if [ "$as_root" = "none" ]; then
    echo "deps.sh: need root (or sudo) to install:$missing" >&2
    exit 1
fi
echo "deps.sh: installing$missing"
# Another apt-get or dpkg may hold the lock (e.g. unattended-upgrades): wait for it.
apt="apt-get -o DPkg::Lock::Timeout=600"
# shellcheck disable=SC2086
$as_root env DEBIAN_FRONTEND=noninteractive $apt update -qq
# shellcheck disable=SC2086
$as_root env DEBIAN_FRONTEND=noninteractive $apt install -y -qq --no-install-recommends $missing >/dev/null
generate_locale
