"""Monitoring: the shipped Monit checks (monitoring/monit/pam-hardening, after
the hardening guide's "Alerts on logins") run by the real monit over lines the
modules and sshd wrote in this run. `monit -t` accepts the file as shipped;
then a private monit (its own monitrc, `set daemon 1`, state in a temp dir)
watches a log file into which the test writes the captured lines, with each
check's `alert` turned into an `exec` that records the alert. Each alert class
fires on its own lines and nothing fires on the others.
"""
import os
import re
import stat
import subprocess
import time

import pytest

import machine as m
from conftest import enroll
from sshclient import login

CLASSES = ("ssh_logins", "ssh_scratch_code_logins", "ssh_grace_logins", "pam_hardening_errors")


def shipped_check(install):
    return os.path.join(install.monit, "pam-hardening")


def write_monitrc(path, workdir, include):
    with open(path, "w") as f:
        f.write("set daemon 1\nset logfile %s/monit.log\nset idfile %s/monit.id\nset statefile %s/monit.state\n"
                "set pidfile %s/monit.pid\ninclude %s\n" % (workdir, workdir, workdir, workdir, include))
    os.chmod(path, 0o600)


def test_monit_accepts_the_shipped_check(install, machine):
    d = os.path.join(machine.dir, "monit-syntax-%s" % install.method)
    os.makedirs(d, exist_ok=True)
    rc = os.path.join(d, "monitrc")
    write_monitrc(rc, d, shipped_check(install))
    p = m.run(["monit", "-c", rc, "-t"])
    assert p.returncode == 0 and "Control file syntax OK" in p.stdout + p.stderr, p.stdout + p.stderr


def test_monit_check_watches_auth_log_as_the_guide_does(install):
    with open(shipped_check(install)) as f:
        text = f.read()
    checks = re.findall(r"^check file (\S+) with path (\S+)$", text, re.M)
    assert checks == [(c, "/var/log/auth.log") for c in CLASSES]
    assert 'if match "Accepted keyboard-interactive/pam for " then alert' in text


GRACE_PAM = """# Private PAM service of the end-to-end suite (tests/e2e/test_monit.py): grace_period.
auth required pam_totp.so grace_period=3600
account required pam_unix.so
session required pam_unix.so
"""

BAD_OPTION_PAM = """# Private PAM service of the end-to-end suite (tests/e2e/test_monit.py): a bad option.
auth required pam_totp.so no_such_option_e2e
account required pam_unix.so
session required pam_unix.so
"""


class Lines:
    def __init__(self):
        self.by_class = {c: [] for c in CLASSES}
        self.unrelated = []


@pytest.fixture(scope="module")
def captured_lines(machine, install, sshd, sshd_hosts):
    """Real lines: sshd's and the modules', sorted into the alert class each
    should raise (or none)."""
    users = m.Users(machine.key + ".pub")
    log = machine.module_log
    mark, sshd_mark = log.mark(), sshd.log.mark()
    grace = sshd_hosts.private("monit-grace", GRACE_PAM)
    bad = sshd_hosts.private("monit-badopt", BAD_OPTION_PAM)
    grace_mark, bad_mark = grace.log.mark(), bad.log.mark()
    try:
        t = users.add("t")
        enroll(install, t)
        assert login(sshd, t.name, key=machine.key, answers=[t.code(0)], command="true").authenticated
        login(sshd, t.name, key=machine.key, answers=[t.wrong_code()])
        assert login(sshd, t.name, key=machine.key, answers=[t.scratch_codes()[0]], command="true").authenticated
        g = users.add("g")
        enroll(install, g)
        assert login(grace, g.name, key=machine.key, answers=[g.code(0)], command="true").authenticated
        assert login(grace, g.name, key=machine.key, answers=[], command="true").authenticated
        login(bad, g.name, key=machine.key, answers=["123456"])
        s = users.add("s")
        enroll(install, s)
        os.chmod(s.secret_file, 0o644)                       # refused: store-error
        login(sshd, s.name, key=machine.key, answers=[s.code(0)])
        v = users.add("v")
        enroll(install, v)
        os.chmod(v.home, 0o555)                              # the state cannot be saved: save-error
        login(sshd, v.name, key=machine.key, answers=[v.code(0)])
        os.chmod(v.home, 0o755)
        for user, outcome in ((t.name, "wrong-code"), (s.name, "store-error"), (v.name, "save-error")):
            log.wait_for(mark, "pam_totp", user, outcome)
        module = [line.text for line in log.lines(mark)]
        sshd_lines = sshd.log.lines_since(sshd_mark) + grace.log.lines_since(grace_mark) + \
            bad.log.lines_since(bad_mark)
    finally:
        users.remove()
    out = Lines()
    for line in module + sshd_lines:
        if "Accepted keyboard-interactive/pam for " in line:
            out.by_class["ssh_logins"].append(line)
        elif re.search(r'outcome=success reason="scratch code accepted', line):
            out.by_class["ssh_scratch_code_logins"].append(line)
        elif re.search(r'outcome=success reason="within grace period', line):
            out.by_class["ssh_grace_logins"].append(line)
        elif re.search(r"outcome=(store-error|save-error|config-error) ", line):
            out.by_class["pam_hardening_errors"].append(line)
        else:
            out.unrelated.append(line)
    # Lines that look close to an alert and must not raise one: a user name
    # carrying the words (the module writes its spaces as \x20), other outcomes.
    out.unrelated += [
        'sshd[1]: pam_totp(sshd:auth): service=sshd user=x\\x20outcome=success\\x20reason="scratch\\x20code'
        '\\x20accepted" rhost=192.0.2.9 outcome=wrong-code reason="wrong code"',
        'sshd[1]: pam_totp(sshd:auth): service=sshd user=x rhost=192.0.2.9 outcome=not-enrolled '
        'reason="store-error save-error"',
        "sshd[1]: Accepted publickey for x from 192.0.2.9 port 22 ssh2: ED25519 SHA256:x",
        "sshd[1]: Failed keyboard-interactive/pam for x from 192.0.2.9 port 22 ssh2",
    ]
    for c in CLASSES:
        assert out.by_class[c], "no %s line was captured:\n%s" % (c, "\n".join(module + sshd_lines))
    assert any("outcome=config-error" in l for l in out.by_class["pam_hardening_errors"])
    return out


class Monit:
    """The real monit in the foreground with the shipped checks pointed at LOG
    and each `alert` an `exec` of a recorder."""

    def __init__(self, install, workdir):
        self.dir = workdir
        self.log = os.path.join(workdir, "auth.log")
        self.records = os.path.join(workdir, "alerts")
        open(self.log, "w").close()
        recorder = os.path.join(workdir, "record-alert")
        with open(recorder, "w") as f:
            # One line per alert: the service, a tab, the description (the
            # matched lines, on one line).
            f.write('#!/bin/sh\nprintf "%%s\\t%%s\\n" "$MONIT_SERVICE" "$(printf %%s "$MONIT_DESCRIPTION" | tr "\\n" " ")"'
                    ' >> %s\n' % self.records)
        os.chmod(recorder, stat.S_IRWXU)
        with open(shipped_check(install)) as f:
            text = f.read()
        text = text.replace("with path /var/log/auth.log", "with path " + self.log)
        text = text.replace("then alert", 'then exec "%s"' % recorder)
        checks = os.path.join(workdir, "checks")
        with open(checks, "w") as f:
            f.write(text)
        rc = os.path.join(workdir, "monitrc")
        write_monitrc(rc, workdir, checks)
        m.run(["monit", "-c", rc, "-t"], check=True)
        self.proc = subprocess.Popen(["monit", "-c", rc, "-I"], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        self.wait_cycles(3)

    def monit_log(self):
        try:
            with open(os.path.join(self.dir, "monit.log")) as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def wait_cycles(self, n):
        time.sleep(n + 0.5)

    def append(self, lines):
        with open(self.log, "a") as f:
            f.write("".join(l.rstrip("\n") + "\n" for l in lines))

    def alerts(self):
        try:
            with open(self.records) as f:
                return [tuple(l.rstrip("\n").split("\t", 1)) for l in f if l.strip()]
        except FileNotFoundError:
            return []

    def wait_for(self, services, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if set(services) <= {a[0] for a in self.alerts()}:
                return
            time.sleep(0.2)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="module")
def monit_run(install, machine, captured_lines):
    workdir = os.path.join(machine.dir, "monit-run-%s" % install.method)
    os.makedirs(workdir, exist_ok=True)
    mon = Monit(install, workdir)
    try:
        mon.append(captured_lines.unrelated)
        mon.wait_cycles(3)
        quiet = mon.alerts()
        for c in CLASSES:
            mon.append(captured_lines.by_class[c])
        mon.wait_for(CLASSES)
        mon.wait_cycles(2)
        yield quiet, mon.alerts(), mon
    finally:
        mon.stop()


def test_monit_raises_nothing_on_unrelated_lines(monit_run, captured_lines):
    quiet, _, mon = monit_run
    assert quiet == [], "alerts on unrelated lines:\n%s\n--- monit log\n%s" % (quiet, mon.monit_log())


@pytest.mark.parametrize("service", CLASSES)
def test_monit_alerts_on_each_class(monit_run, captured_lines, service):
    _, alerts, mon = monit_run
    mine = [d for s, d in alerts if s == service]
    assert mine, "no %s alert; alerts: %s\n--- monit log\n%s" % (service, alerts, mon.monit_log())
    # The alert carries the matched line.
    assert any(any(l.split(": ", 1)[-1][:60] in d for l in captured_lines.by_class[service]) for d in mine), mine


def test_monit_alerts_only_the_expected_classes(monit_run):
    _, alerts, _ = monit_run
    assert {s for s, _ in alerts} == set(CLASSES), alerts
