"""pam-hardening doctor against real logins: for a few configurations the doctor
reads the PAM service and the `sshd -T` of a private sshd, says what a login
will do, and a real client then logs in (key + code, key alone for a user who
has not enrolled, password alone) and must get exactly that.

Configurations: the shipped example without nullok (the `sshd` host); the
guide's two-factor line as written, `[success=done new_authtok_reqd=done
default=die] ... nullok`, with the module name changed to pam_totp.so and
Debian's `@include common-auth` after it; pam_totp after `@include common-auth`.
"""
import json
import os
import shutil

import pytest

import machine as m
from sshclient import login

GUIDE_LINE = "auth [success=done new_authtok_reqd=done default=die] pam_totp.so nullok"
REST = ["account required pam_unix.so", "session required pam_unix.so"]


def doctor_binary(install):
    if install.method == "deb":
        return "/usr/bin/pam-hardening"
    built = os.path.join(m.REPO, "target", "release", "pam-hardening")
    if os.path.isfile(built):
        return built
    found = shutil.which("pam-hardening")
    if not found:
        pytest.fail("no pam-hardening binary: build it (cargo build --release -p pam-hardening)",
                    pytrace=False)
    return found


def doctor(install, host, workdir):
    """The doctor's JSON report on HOST: its PAM service and its saved sshd -T."""
    saved = os.path.join(workdir, "sshd-T.%s" % host.name)
    p = m.run(host.sshd_argv() + ["-T"], check=True)
    with open(saved, "w") as f:
        f.write(p.stdout)
    p = m.run([doctor_binary(install), "doctor", "--service", host.pam_service,
               "--sshd-t", saved, "--no-users", "--json"])
    assert p.returncode in (0, 1), "doctor could not analyse:\n%s%s" % (p.stdout, p.stderr)
    report = json.loads(p.stdout)
    report["exit"] = p.returncode
    report["ids"] = sorted({f["id"] for f in report["findings"]})
    return report


def errors(report):
    return sorted({f["id"] for f in report["findings"] if f["severity"] == "error"})


@pytest.fixture(scope="session")
def guide_sshd(sshd_hosts, install):
    return sshd_hosts.private("doctor-guide", "\n".join(
        ["# The hardening guide's line at the top, Debian's common-auth after it."]
        + [GUIDE_LINE, "@include common-auth"] + REST) + "\n")


@pytest.fixture(scope="session")
def common_auth_sshd(sshd_hosts, install):
    return sshd_hosts.private("doctor-commonauth", "\n".join(
        ["# pam_totp after Debian's common-auth: the password is asked first."]
        + ["@include common-auth", "auth required pam_totp.so"] + REST) + "\n")


def key_and_code(host, machine, user):
    return login(host, user.name, key=machine.key, answers=[user.code(0)], command="true").authenticated


def key_alone(host, machine, user):
    return login(host, user.name, key=machine.key, answers=[], command="true").authenticated


def verdict(ok):
    return "accepted" if ok else "refused"


def test_doctor_shipped_strict_no_errors_and_logins_agree(sshd, install, machine, enrolled, not_enrolled):
    if install.method == "system":
        pytest.skip("the machine's sshd: its findings are the machine's")
    report = doctor(install, sshd, machine.dir)
    assert errors(report) == [], report
    assert report["logins"]["key_and_code"] == verdict(key_and_code(sshd, machine, enrolled))
    assert report["logins"]["key_alone_not_enrolled"] == verdict(key_alone(sshd, machine, not_enrolled))
    assert report["logins"]["key_and_code"] == "accepted"


def test_doctor_shipped_strict_password_alone_agrees(sshd, install, machine, users):
    if install.method == "system":
        pytest.skip("the machine's sshd: its findings are the machine's")
    user = users.add("dpw")
    user.set_password("Doctor-e2e-pw-1")
    report = doctor(install, sshd, machine.dir)
    r = login(sshd, user.name, key=None, answers=["Doctor-e2e-pw-1", "Doctor-e2e-pw-1"], command="true")
    assert report["logins"]["password_alone"] == verdict(r.authenticated) == "refused"


def test_doctor_guide_line_nullok_die_refuses_not_enrolled(guide_sshd, install, machine, enrolled, not_enrolled):
    report = doctor(install, guide_sshd, machine.dir)
    assert "PAM-NULLOK-DIE" in report["ids"], report
    assert report["logins"]["key_alone_not_enrolled"] == "refused"
    assert not key_alone(guide_sshd, machine, not_enrolled)
    assert report["logins"]["key_and_code"] == verdict(key_and_code(guide_sshd, machine, enrolled)) == "accepted"


def test_doctor_totp_after_common_auth_asks_password(common_auth_sshd, install, machine, enrolled):
    report = doctor(install, common_auth_sshd, machine.dir)
    assert "PAM-COMMON-AUTH-AFTER" in report["ids"], report
    r = login(common_auth_sshd, enrolled.name, key=machine.key, answers=[enrolled.code(0)], command="true")
    assert report["logins"]["key_and_code"] == verdict(r.authenticated) == "refused"
    assert r.prompts and "assword" in r.prompts[0], r.prompts
