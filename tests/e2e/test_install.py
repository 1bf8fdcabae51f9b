"""What each install method puts on the machine: scripts/setup.sh (the README's
way) and the two Debian packages (their files, man pages, pam-auth-update step).
Removal is in test_uninstall.py; one package at a time, upgrades and removal of
each in test_packages.py.
"""
import os
import re
import shutil
import stat

import pytest

import machine as m
import shipped

ARTIFACT_NAMES = ["pam_totp.so", "pam_policy.so", "totp-enroll", "pam-policy-check"]


# ------------------------------------------------------------------ every method (the smoke checks)

@pytest.mark.smoke
def test_modules_and_commands_installed(install):
    for module in ("pam_totp.so", "pam_policy.so"):
        assert os.path.isfile(os.path.join(m.security_dir(), module))
    assert m.run([install.enroll, "--help"]).returncode == 0
    assert m.run([install.checker, "--help"]).returncode == 0


@pytest.mark.smoke
def test_sshd_asks_for_key_then_code_as_shipped(sshd, install):
    want = shipped.sshd_settings(install.examples)
    got = sshd.effective_config("pe2e-nobody")
    assert {k: got.get(k) for k in want} == want
    assert got["authenticationmethods"] == "publickey,keyboard-interactive"


# ------------------------------------------------------------------ scripts/setup.sh

@pytest.mark.install("setup.sh")
@pytest.mark.parametrize("name", ARTIFACT_NAMES)
def test_setup_sh_installs(install, name):
    targets = [t for t in install.targets() if os.path.basename(t) == name]
    assert len(targets) == 1, install.targets()
    assert os.path.isfile(targets[0])


@pytest.mark.install("setup.sh")
@pytest.mark.parametrize("command", ["totp-enroll", "pam-policy-check"])
def test_setup_sh_puts_command_on_path_in_usr_local_bin(install, command):
    assert shutil.which(command) == "/usr/local/bin/" + command


# ------------------------------------------------------------------ the package

PACKAGED = pytest.mark.install("deb", "system")


@PACKAGED
@pytest.mark.parametrize("package", m.PACKAGES)
def test_package_installed(install, package):
    if install.method == "deb":
        assert install.results[package].returncode == 0
    assert m.package_installed(package)


@PACKAGED
@pytest.mark.parametrize("package, paths", [
    ("libpam-totp", ["pam_totp.so", "/usr/bin/totp-enroll", "/usr/bin/pam-hardening",
                     "/usr/share/man/man8/pam_totp.8.gz", "/usr/share/man/man1/totp-enroll.1.gz",
                     "/usr/share/man/man8/pam-hardening.8.gz"]),
    ("libpam-policy", ["pam_policy.so", "/usr/bin/pam-policy-check", "/usr/share/pam-configs/pam-policy",
                       "/usr/share/man/man8/pam_policy.8.gz", "/usr/share/man/man8/pam-policy-check.8.gz"]),
])
def test_package_owns_its_files(install, package, paths):
    listed = set(m.run(["dpkg-query", "-L", package], check=True).stdout.splitlines())
    for path in paths:
        if not path.startswith("/"):
            path = os.path.join(m.security_dir(), path)
        assert path in listed, (package, path)


@PACKAGED
def test_package_modules_in_security_dir_mode_0644(install):
    for module in ("pam_totp.so", "pam_policy.so"):
        st = os.stat(os.path.join(m.security_dir(), module))
        assert stat.S_IMODE(st.st_mode) == 0o644, module


@PACKAGED
def test_package_commands_in_usr_bin(install):
    for command in ("/usr/bin/totp-enroll", "/usr/bin/pam-policy-check"):
        assert os.access(command, os.X_OK), command


@PACKAGED
def test_package_man_pages(install):
    for page in ("man8/pam_totp.8.gz", "man8/pam_policy.8.gz", "man1/totp-enroll.1.gz", "man8/pam-policy-check.8.gz"):
        assert os.path.isfile("/usr/share/man/" + page), page


@PACKAGED
def test_package_pam_auth_update_profile(install):
    with open("/usr/share/pam-configs/pam-policy") as f:
        assert "pam_policy.so" in f.read()


@PACKAGED
def test_package_fail2ban_filter_example(install):
    assert os.path.isfile(m.PACKAGE_DOC + "/examples/fail2ban/filter.d/pam-hardening.conf")


@PACKAGED
def test_package_monit_check_example(install):
    assert os.path.isfile(m.PACKAGE_DOC + "/examples/monit/pam-hardening")


@PACKAGED
def test_package_ships_the_configuration_examples(install):
    for name in (shipped.SSHD_FRAGMENT, shipped.SSHD_PAM, shipped.COMMON_PASSWORD):
        assert os.path.isfile(os.path.join(m.PACKAGE_DOC, "examples", name)), name


@PACKAGED
def test_package_totp_enroll_on_path(install):
    assert shutil.which("totp-enroll") == "/usr/bin/totp-enroll"


def _common_password():
    with open("/etc/pam.d/common-password") as f:
        return f.read()


def _skip_if_local_changes(install):
    # pam-auth-update leaves common-* files with local changes alone, and says so.
    if install.method == "deb":
        said = install.results["libpam-policy"].stdout + install.results["libpam-policy"].stderr
        if "Local modifications" in said:
            pytest.skip("/etc/pam.d/common-password has local changes, so pam-auth-update left it alone")


@PACKAGED
def test_postinst_puts_pam_policy_into_common_password(install):
    _skip_if_local_changes(install)
    assert re.search(r"^password\s+requisite\s+pam_policy\.so", _common_password(), re.M)


@PACKAGED
def test_postinst_pam_policy_replaces_pam_pwquality(install):
    _skip_if_local_changes(install)
    assert not re.search(r"^[^#]*pam_pwquality\.so", _common_password(), re.M)
