"""Removal: scripts/install.sh --uninstall, and dpkg --purge of both packages
with libpam-policy's prerm step. Each fixture removes the installation, lets its tests look, and installs
it again for whatever runs next (the install fixture removes it for good at the
end). Not in --system mode: the machine's installation stays.
"""
import os
import re

import pytest

import machine as m


@pytest.fixture(scope="module")
def uninstalled(install):
    targets = install.targets()
    result = install.uninstall()
    yield result, targets
    install.install()


@pytest.mark.install("setup.sh")
def test_install_sh_uninstall_removes_the_files(uninstalled):
    result, targets = uninstalled
    assert result.returncode == 0, result.stdout + result.stderr
    assert [t for t in targets if os.path.exists(t)] == []


@pytest.fixture(scope="module")
def purged(install):
    result = install.purge()
    yield result
    install.install()


@pytest.mark.install("deb")
def test_dpkg_purge_succeeds(purged):
    assert purged.returncode == 0
    assert not re.search(r"^dpkg: error", purged.stdout + purged.stderr, re.M)
    assert not any(m.package_present(p) for p in m.PACKAGES)


@pytest.mark.install("deb")
def test_prerm_takes_pam_policy_out_of_common_password(purged):
    with open("/etc/pam.d/common-password") as f:
        assert "pam_policy.so" not in f.read()


@pytest.mark.install("deb")
def test_prerm_gives_pam_pwquality_its_place_back(purged):
    if not os.path.exists("/usr/share/pam-configs/pwquality"):
        pytest.skip("libpam-pwquality is not installed")
    with open("/etc/pam.d/common-password") as f:
        assert re.search(r"^password\s+requisite\s+pam_pwquality\.so", f.read(), re.M)


@pytest.mark.install("deb")
def test_dpkg_purge_removes_the_package_files(purged):
    for path in ("/usr/bin/totp-enroll", "/usr/bin/pam-policy-check", "/usr/bin/pam-hardening",
                 "/usr/share/pam-configs/pam-policy", m.PACKAGE_DOC,
                 os.path.join(m.security_dir(), "pam_totp.so"), os.path.join(m.security_dir(), "pam_policy.so")):
        assert not os.path.exists(path), path
