"""Monitoring: the shipped fail2ban filter and jail over the module lines of
real logins and password changes. The `captured` fixture makes those lines
itself (every outcome the filter must tell apart), so these tests need nothing
else to have run.
"""
import os
import re
import shutil
import tempfile

import pytest

import machine as m
from conftest import PW_INITIAL, PW_STRONG, PW_WEAK, enroll
from sshclient import login

RATE_LIMITED = ["-t", "-d", "-W", "-r", "3", "-R", "30", "-e", "0", "-Q", "NONE", "-C"]

# The failures the filter must find, told apart here without it: a remote host
# and a failure outcome.
FAILURE = re.compile(
    r'pam_totp\([^)]*\): .* rhost=[^ ]+ outcome=(wrong-code|reused|throttled|unknown-user|skew-learning) |'
    r'pam_policy\([^)]*\): .* rhost=[^ ]+ outcome=rejected ')


class Captured:
    def __init__(self, path, lines, users, must_users, filter_file, jail_file, workdir):
        self.path = path
        self.must_users = must_users
        self.lines = lines
        self.users = users
        self.filter = filter_file
        self.jail = jail_file
        self.dir = workdir

    def regex(self, *args):
        return m.run(["fail2ban-regex", *args, self.path, self.filter]).stdout


@pytest.fixture(scope="module")
def captured(machine, install, sshd, nullok_sshd, policy, root_services):
    users = m.Users(machine.key + ".pub")
    log = machine.module_log
    mark = log.mark()
    try:
        t = users.add("t")
        enroll(install, t)
        code = t.code(0)
        assert login(sshd, t.name, key=machine.key, answers=[code], command="true").authenticated
        login(sshd, t.name, key=machine.key, answers=[t.wrong_code()])
        login(sshd, t.name, key=machine.key, answers=[code])                      # reused
        n = users.add("n")
        login(sshd, n.name, key=machine.key, answers=["123456"])                  # not enrolled
        assert login(nullok_sshd, n.name, key=machine.key, answers=[], command="true").authenticated
        r = users.add("r")
        enroll(install, r, RATE_LIMITED)
        for _ in range(4):
            login(sshd, r.name, key=machine.key, answers=[r.wrong_code()] * 2)  # the fourth is throttled
        p = users.add("p")
        p.set_password(PW_INITIAL)
        policy.talk([PW_INITIAL] + [PW_WEAK] * 4, policy.pamtester(p, as_user=True, rhost="192.0.2.10"))
        policy.talk([PW_INITIAL, PW_STRONG, PW_STRONG], policy.passwd(p))
        policy.talk([PW_WEAK] * 3, policy.pamtester(p, service=root_services[0], rhost="192.0.2.11"))
        for module, user, outcome in (("pam_totp", t.name, "reused"), ("pam_totp", n.name, "not-enrolled"),
                                      ("pam_totp", r.name, "throttled"), ("pam_policy", p.name, "accepted"),
                                      ("pam_policy", p.name, "maxtries")):
            log.wait_for(mark, module, user, outcome)
        lines = [line.text for line in log.lines(mark)]
        path = os.path.join(machine.dir, "module-lines-%s.log" % install.method)
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        # The filter includes fail2ban's common.conf from its own directory.
        fdir = tempfile.mkdtemp(prefix="fail2ban-%s." % install.method, dir=machine.dir)
        os.makedirs(os.path.join(fdir, "filter.d"))
        shutil.copy("/etc/fail2ban/filter.d/common.conf", os.path.join(fdir, "filter.d"))
        shutil.copy(os.path.join(install.fail2ban, "filter.d", "pam-hardening.conf"), os.path.join(fdir, "filter.d"))
        yield Captured(path, lines, {t.name, n.name, r.name, p.name}, {t.name, p.name},
                       os.path.join(fdir, "filter.d", "pam-hardening.conf"),
                       os.path.join(install.fail2ban, "jail.d", "pam-hardening.conf"), fdir)
    finally:
        users.remove()


def _matched(out):
    m_ = re.search(r"^\|- Matched line\(s\):\n(.*?)^`-", out, re.M | re.S)
    return [l[3:] for l in (m_.group(1).splitlines() if m_ else []) if l.startswith("|  ")]


def test_fail2ban_filter_matches_exactly_the_failure_lines(captured):
    expected = len([line for line in captured.lines if FAILURE.search(line)])
    out = captured.regex("--print-all-matched")
    got = re.search(r"^Lines: (\d+) lines, (\d+) ignored, (\d+) matched", out, re.M)
    assert got, out
    assert (int(got.group(2)), int(got.group(3))) == (0, expected), out


def test_fail2ban_filter_matches_no_success_accepted_or_not_enrolled_line(captured):
    matched = _matched(captured.regex("--print-all-matched"))
    assert matched
    assert [l for l in matched if re.search(r"outcome=(success|accepted|not-enrolled)", l)] == []


def test_fail2ban_filter_keys_on_the_outcome_field_only():
    """No reason text in the filter's regexes: a reworded reason changes no ban."""
    path = os.path.join(m.REPO, "monitoring", "fail2ban", "filter.d", "pam-hardening.conf")
    with open(path) as f:
        text = f.read()
    regexes = re.search(r"^failregex = (.*?)^ignoreregex", text, re.M | re.S).group(1)
    assert "reason" not in regexes
    assert re.findall(r"outcome=\(\?:([^)]*)\)|outcome=(\w[\w-]*)", regexes)


def test_fail2ban_filter_ignores_a_reason_that_looks_like_a_failure(captured):
    """A success whose reason names a failure outcome is not counted."""
    forged = os.path.join(captured.dir, "forged.log")
    sample = next(l for l in captured.lines if "pam_totp(" in l and "outcome=success" in l)
    with open(forged, "w") as f:
        f.write(re.sub(r'reason=".*"$', 'reason="outcome=wrong-code rhost=192.0.2.1 "', sample) + "\n")
    out = m.run(["fail2ban-regex", forged, captured.filter]).stdout
    assert re.search(r"^Lines: 1 lines, 0 ignored, 0 matched", out, re.M), out


def test_fail2ban_filter_matches_failures_of_both_modules(captured):
    matched = "\n".join(_matched(captured.regex("--print-all-matched")))
    for pattern in (r"pam_totp\(.*outcome=wrong-code", r"pam_totp\(.*outcome=reused",
                    r"pam_totp\(.*outcome=throttled",
                    r"pam_policy\(.*outcome=rejected"):
        assert re.search(pattern, matched), pattern


@pytest.fixture(scope="module")
def jail_conf(captured):
    """A copy of the machine's fail2ban configuration with Debian's sshd jail off,
    the shipped filter and jail, and the log path pointed at the captured lines."""
    conf = os.path.join(captured.dir, "conf")
    shutil.copytree("/etc/fail2ban", conf)
    defaults = os.path.join(conf, "jail.d", "defaults-debian.conf")
    if os.path.exists(defaults):
        os.unlink(defaults)
    shutil.copy(captured.filter, os.path.join(conf, "filter.d"))
    shutil.copy(captured.jail, os.path.join(conf, "jail.d"))
    with open(os.path.join(conf, "jail.d", "zz-e2e.local"), "w") as f:
        f.write("[pam-hardening]\nlogpath = %s\n" % captured.path)
    return conf


def test_fail2ban_jail_example_is_a_valid_configuration(jail_conf):
    p = m.run(["fail2ban-client", "-c", jail_conf, "-t"])
    assert "configuration test is successful" in p.stdout + p.stderr


def test_fail2ban_jail_bans_after_5_failures_in_10_minutes_for_1_hour(jail_conf):
    p = m.run(["fail2ban-client", "-c", jail_conf, "-d"])
    jail = "\n".join(l for l in (p.stdout + p.stderr).splitlines() if "'pam-hardening'" in l)
    for want in ("'maxretry', 5", "'findtime', '10m'", "'bantime', '1h'", "'addfailregex'"):
        assert want in jail, want


def _values(captured, what):
    return {v.strip() for v in captured.regex("-o", what).splitlines() if v.strip()}


def test_fail2ban_reports_the_clients_addresses(captured):
    hosts = _values(captured, "ip")
    assert hosts <= {"127.0.0.1", "192.0.2.10", "192.0.2.11"}, hosts
    assert {"127.0.0.1", "192.0.2.10"} <= hosts


def test_fail2ban_reports_the_test_users(captured):
    users = _values(captured, "user")
    assert captured.must_users <= users <= captured.users, users
