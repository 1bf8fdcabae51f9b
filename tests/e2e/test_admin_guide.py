"""The admin guide's exemptions (docs/admin-guide.md, the blocks marked
`<!-- example: NAME -->`), taken from the guide as written and logged in
through with a real sshd: a member of the exempt group, and a client from the
exempt network, get in with the key alone; everyone else is asked for a code.
The guide's group name, access file path and network are replaced by the
test's own (a unique group, a temp file, the clients' 127.0.0.0/8), and the
network as written (192.168.0.0/16) is shown not to exempt 127.0.0.1.
"""
import grp
import os
import re
import subprocess

import pytest

import machine as m
from conftest import enroll
from sshclient import login

GUIDE = os.path.join(m.REPO, "docs", "admin-guide.md")
TAIL = "account required pam_unix.so\nsession required pam_unix.so\n"


def example(name):
    with open(GUIDE) as f:
        text = f.read()
    found = re.search(r"<!-- example: %s -->\n```[^\n]*\n(.*?)```" % re.escape(name), text, re.S)
    assert found, "no example %s in %s" % (name, GUIDE)
    return found.group(1)


@pytest.fixture(scope="module")
def exempt_group():
    name = "pe2e-x%d" % m.TAG
    subprocess.run(["groupdel", name], capture_output=True)
    m.run(["groupadd", name], check=True)
    yield name
    subprocess.run(["groupdel", name], capture_output=True)


@pytest.fixture(scope="module")
def group_host(sshd_hosts, exempt_group):
    lines = example("exempt-group").replace("ingroup totp-exempt", "ingroup " + exempt_group)
    return sshd_hosts.private("guide-group", "# tests/e2e/test_admin_guide.py: exempt-group\n" + lines + TAIL)


def lan_host(sshd_hosts, machine, name, network):
    access = os.path.join(machine.dir, "access-%s.conf" % name)
    with open(access, "w") as f:
        f.write(example("access-totp-exempt.conf").replace("192.168.0.0/16", network))
    lines = example("exempt-lan").replace("/etc/security/access-totp-exempt.conf", access)
    return sshd_hosts.private(name, "# tests/e2e/test_admin_guide.py: exempt-lan\n" + lines + TAIL)


@pytest.fixture(scope="module")
def lan_exempt_host(sshd_hosts, machine):
    return lan_host(sshd_hosts, machine, "guide-lan", "127.0.0.0/8")


@pytest.fixture(scope="module")
def lan_as_written_host(sshd_hosts, machine):
    return lan_host(sshd_hosts, machine, "guide-lan-written", "192.168.0.0/16")


def test_group_member_gets_in_with_the_key_alone(group_host, users, install, machine, exempt_group):
    u = users.add("x")
    enroll(install, u)
    m.run(["usermod", "-a", "-G", exempt_group, u.name], check=True)
    r = login(group_host, u.name, key=machine.key, answers=[], command="true")
    assert r.authenticated, r


def test_non_member_is_asked_for_the_code(group_host, users, install, machine):
    u = users.add("y")
    enroll(install, u)
    assert not login(group_host, u.name, key=machine.key, answers=[]).authenticated
    assert not login(group_host, u.name, key=machine.key, answers=[u.wrong_code()]).authenticated
    assert login(group_host, u.name, key=machine.key, answers=[u.code(0)], command="true").authenticated


def test_group_member_still_needs_the_key(group_host, users, install, machine, exempt_group):
    u = users.add("z")
    enroll(install, u)
    m.run(["usermod", "-a", "-G", exempt_group, u.name], check=True)
    assert not login(group_host, u.name, key=None, answers=[]).authenticated


def test_client_from_the_exempt_network_gets_in_with_the_key_alone(lan_exempt_host, users, install, machine):
    u = users.add("l")
    enroll(install, u)
    r = login(lan_exempt_host, u.name, key=machine.key, answers=[], command="true")
    assert r.authenticated, r


def test_client_from_another_network_is_asked_for_the_code(lan_as_written_host, users, install, machine):
    u = users.add("o")
    enroll(install, u)
    assert not login(lan_as_written_host, u.name, key=machine.key, answers=[]).authenticated
    assert login(lan_as_written_host, u.name, key=machine.key, answers=[u.code(0)], command="true").authenticated


def test_guide_names_the_re_enrollment_command():
    with open(GUIDE) as f:
        text = f.read()
    assert "totp-enroll --user alice --force" in text
    assert "pamtester" in text and "root shell open" in text.lower().replace("**", "")
