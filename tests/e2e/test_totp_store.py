"""A service-owned store through sshd: `auth ... pam_totp.so user=ACCOUNT
secret=/var/lib/DIR/${USER}`, files owned by the store account that the users
cannot read, written by `totp-enroll --user NAME --owner ACCOUNT`; and an
enrollment removed by root, after which the next login is not enrolled.
"""
import os
import pwd
import shutil
import stat
import subprocess

import pytest

import machine as m
import otp
import shipped
from sshclient import login

CMD = "echo e2e-ok $(id -un)"
STORE_ACCOUNT = "pe2e-store%d" % os.getpid()
STORE_DIR = "/var/lib/pe2e-totp-store-%d" % os.getpid()
SECRET = STORE_DIR + "/${USER}"


@pytest.fixture(scope="module")
def store(machine, install):
    subprocess.run(["userdel", STORE_ACCOUNT], capture_output=True)
    m.run(["useradd", "--system", "--no-create-home", "-s", "/usr/sbin/nologin", STORE_ACCOUNT], check=True)
    pw = pwd.getpwnam(STORE_ACCOUNT)
    shutil.rmtree(STORE_DIR, ignore_errors=True)
    os.makedirs(STORE_DIR, mode=0o700)
    os.chown(STORE_DIR, pw.pw_uid, pw.pw_gid)
    yield pw
    shutil.rmtree(STORE_DIR, ignore_errors=True)
    subprocess.run(["userdel", STORE_ACCOUNT], capture_output=True)


@pytest.fixture(scope="module")
def store_sshd(sshd_hosts, install, store):
    text = shipped.sshd_pam(install.examples, nullok=False, header=[
        "Private PAM service of the end-to-end suite (tests/e2e): a store owned by %s." % STORE_ACCOUNT])
    text = text.replace("pam_totp.so", "pam_totp.so user=%s secret=%s" % (STORE_ACCOUNT, SECRET), 1)
    host = sshd_hosts.private("store", text)
    yield host
    sshd_hosts.stop(host)


def enroll_in_store(install, user):
    return m.run([install.enroll, "--user", user.name, "--owner", STORE_ACCOUNT, "--secret", SECRET,
                  "-t", "-d", "-w", "17", "-u", "-e", "2", "-Q", "NONE", "-C"])


@pytest.fixture
def stored(users, install, store):
    user = users.add("s")
    p = enroll_in_store(install, user)
    assert p.returncode == 0, p.stdout + p.stderr
    user.store_file = os.path.join(STORE_DIR, user.name)
    yield user
    if os.path.exists(user.store_file):
        os.unlink(user.store_file)


def test_store_file_is_the_store_accounts_0600_and_unreadable_by_the_user(stored, store):
    st = os.stat(stored.store_file)
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (store.pw_uid, 0o600)
    assert not os.path.exists(stored.secret_file), "nothing was written in the home"
    p = subprocess.run(["setpriv", "--reuid=%d" % stored.uid, "--regid=%d" % stored.gid, "--clear-groups",
                        "cat", stored.store_file], capture_output=True, text=True)
    assert p.returncode != 0 and "Permission denied" in p.stderr, (p.returncode, p.stdout, p.stderr)


def test_store_right_code_logs_in_through_sshd(store_sshd, machine, stored):
    r = login(store_sshd, stored.name, key=machine.key, answers=[otp.code(stored.store_file, 0)], command=CMD)
    assert r.authenticated and r.error is None, r.shown
    assert (r.exit, r.stdout) == (0, "e2e-ok %s\n" % stored.name)


def test_store_wrong_code_refused_through_sshd(store_sshd, machine, stored):
    r = login(store_sshd, stored.name, key=machine.key, answers=[otp.code_not_near(stored.store_file, 9)])
    assert not r.authenticated


def test_store_enrollment_in_the_home_is_not_what_the_store_host_reads(store_sshd, machine, users, install):
    # Enrolled the usual way (in the home): the store host finds no file and refuses.
    user = users.add("h")
    p = m.run([install.enroll, "--user", user.name, "-t", "-d", "-W", "-u", "-Q", "NONE", "-C"])
    assert p.returncode == 0, p.stdout + p.stderr
    r = login(store_sshd, user.name, key=machine.key, answers=[user.code(0)])
    assert not r.authenticated


def test_store_owner_is_refused_a_secret_in_the_home(users, install, store):
    user = users.add("s")
    p = m.run([install.enroll, "--user", user.name, "--owner", STORE_ACCOUNT,
               "-t", "-d", "-W", "-u", "-Q", "NONE", "-C"])
    assert p.returncode == 2 and "outside the user's home" in p.stderr, p.stdout + p.stderr


def test_removed_by_root_the_next_login_is_not_enrolled(store_sshd, machine, stored, install):
    mark = machine.module_log.mark()
    p = m.run(machine.prefix + [install.enroll, "--user", stored.name, "--owner", STORE_ACCOUNT,
                                "--secret", SECRET, "--remove"])
    assert p.returncode == 0 and "is no longer enrolled" in p.stdout, p.stdout + p.stderr
    assert not os.path.exists(stored.store_file)
    machine.module_log.wait_for(mark, "totp-enroll", stored.name, "remove", "removed the enrollment " + stored.store_file)
    r = login(store_sshd, stored.name, key=machine.key, answers=["123456"])
    assert not r.authenticated
    machine.module_log.wait_for(mark, "pam_totp", stored.name, "not-enrolled")
