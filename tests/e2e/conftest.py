"""Fixtures of the end-to-end suite. See README.md beside this file.

Shape: `machine` (session: root, the run lock, a work directory, the client
key, the syslog capture) → `install` (session, parametrized: setup.sh | deb,
or system with --system) → sshd hosts from `sshd_hosts` (a factory: the strict
host `sshd`, the `nullok_sshd` beside it; a later fixture adds a fleet host the
same way) → per test: `users`, `enrolled`, `not_enrolled`, `pw_user`. Each
fixture undoes what it did when its scope ends. Every test gets a Record: when
it fails, its report carries the client transcript, the modules' log lines and
each sshd's log written while it ran.
"""
import fcntl
import os
import re
import shutil
import sys
import tempfile
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True

import logs  # noqa: E402
import machine as m  # noqa: E402
import record  # noqa: E402
import shipped  # noqa: E402

PRIVATE_METHODS = ("setup.sh", "deb")
LOCK = "/run/lock/pam-hardening-e2e.lock"
NEEDED = ["/usr/sbin/sshd", "ssh", "ssh-keygen", "pamtester", "passwd", "useradd", "userdel", "usermod",
          "chage", "setpriv", "unshare", "nsenter", "fail2ban-regex", "fail2ban-client", "dpkg-deb", "monit"]


def pytest_addoption(parser):
    g = parser.getgroup("pam-hardening end to end")
    g.addoption("--system", action="store_true",
                help="test the machine's own installation, sshd (127.0.0.1:22) and PAM stack (a provisioned VM)")
    g.addoption("--install", action="append", choices=PRIVATE_METHODS,
                help="only this install method (default: both; private mode)")
    g.addoption("--debs", help="directory with libpam-totp and libpam-policy .debs to install "
                               "(default: built with packaging/build-debs.sh)")
    g.addoption("--artifacts", default=os.path.join(m.REPO, "target", "release"),
                help="release artifacts (default: %(default)s)")
    g.addoption("--sshd-log", help="--system: the machine's sshd log file (default: the journal)")


def pytest_configure(config):
    config.addinivalue_line("markers", "smoke: the quick checks that prove the whole chain (run first in the VM)")
    config.addinivalue_line("markers", "install(*methods): the install methods a test applies to "
                                       "(setup.sh, deb, system); default all")


def pytest_generate_tests(metafunc):
    if "install" not in metafunc.fixturenames:
        return
    system = metafunc.config.getoption("--system")
    chosen = ["system"] if system else (metafunc.config.getoption("--install") or list(PRIVATE_METHODS))
    marker = metafunc.definition.get_closest_marker("install")
    applies = list(marker.args) if marker else ["setup.sh", "deb", "system"]
    params = [p for p in chosen if p in applies]
    if not params:
        # Not for this mode: one skipped test, so that it shows up as skipped.
        why = "only for %s%s" % (", ".join(applies), " (private mode)" if system else "")
        params = [pytest.param(applies[0], marks=pytest.mark.skip(reason=why))]
    metafunc.parametrize("install", params, indirect=True, scope="session")


# ------------------------------------------------------------------ the machine

class Machine:
    """The run: work directory, client key, syslog capture, the log sources a
    failure report reads."""

    def __init__(self, config):
        self.config = config
        self.system = config.getoption("--system")
        self.undo = []
        self.sources = []
        self.prefix = []          # runs a command where the modules' syslog lines are captured
        self.dir = tempfile.mkdtemp(prefix="pam-e2e.")
        os.chmod(self.dir, 0o711)
        self.undo.append(lambda: shutil.rmtree(self.dir, ignore_errors=True))
        self.key = os.path.join(self.dir, "id_ed25519")
        m.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "pam-e2e-client", "-f", self.key],
              check=True, note=False)
        self._syslog()

    def _syslog(self):
        # pam_syslog(3) writes to /dev/log.
        if self.system:
            if os.path.exists("/var/log/auth.log"):
                src = logs.LogFile("/var/log/auth.log", "module log (/var/log/auth.log)",
                                   module_lines_only=True, from_now=True)
            else:
                src = logs.Journal(["SYSLOG_FACILITY=10"], "module log (journal, authpriv)", module_lines_only=True)
        else:
            out = os.path.join(self.dir, "syslog")
            if not os.path.exists("/dev/log"):
                # Nothing listens there (containers, CI): listen on /dev/log for the run.
                sink = logs.SyslogSink("/dev/log", out)
            else:
                # A syslog daemon owns /dev/log: the suite's programs run in a mount
                # namespace in which our receiver's socket is bound over it.
                sink = logs.SyslogSink(os.path.join(self.dir, "log.sock"), out)
                ns = logs.MountNamespace(sink.socket_path, self.dir)
                self.undo.append(ns.stop)
                self.prefix = ns.prefix()
            self.undo.insert(1, sink.stop)
            src = logs.LogFile(out, "module log (%s)" % out, module_lines_only=True)
        self.sources.append(src)
        self.module_log = logs.ModuleLog(src)

    def close(self):
        for fn in reversed(self.undo):
            try:
                fn()
            except Exception as e:  # noqa: BLE001 - the rest must still be undone
                print("tests/e2e: cleanup step failed: %s" % e, file=sys.stderr)


@pytest.fixture(scope="session")
def machine(request):
    if os.geteuid() != 0:
        pytest.skip("the end-to-end suite must run as root (it installs the modules, adds users and "
                    "starts sshd); e.g. sudo scripts/e2e.sh")
    missing = [c for c in NEEDED if not shutil.which(c)]
    try:
        import paramiko  # noqa: F401
    except ImportError:
        missing.append("python3-paramiko (for %s)" % sys.executable)
    if missing:
        pytest.fail("missing: %s (install them with: scripts/deps.sh --e2e)" % ", ".join(missing), pytrace=False)
    os.makedirs(os.path.dirname(LOCK), exist_ok=True)
    lock = open(LOCK, "w")
    deadline = time.monotonic() + 1800
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() > deadline:
                pytest.fail("another end-to-end run holds %s" % LOCK, pytrace=False)
            time.sleep(1)
    mach = Machine(request.config)
    yield mach
    mach.close()
    lock.close()


@pytest.fixture(autouse=True)
def _record(request):
    """The evidence of one test (see record.py); the report hook reads it."""
    if os.geteuid() != 0:
        yield None
        return
    mach = request.getfixturevalue("machine")
    rec = record.Record(mach.sources)
    record.Record.current = rec
    request.node.stash[RECORD] = (rec, mach)
    yield rec
    record.Record.current = None


RECORD = pytest.StashKey()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed and report.when in ("setup", "call"):
        rec, mach = item.stash.get(RECORD, (None, None))
        if rec is not None:
            for title, text in rec.sections(mach.sources):
                report.sections.append((title, text))


# ------------------------------------------------------------------ install

@pytest.fixture(scope="session")
def artifacts(request):
    path = request.config.getoption("--artifacts")
    for f in ("libpam_totp.so", "libpam_policy.so", "totp-enroll", "pam-policy-check"):
        if not os.path.isfile(os.path.join(path, f)):
            pytest.fail("missing %s/%s: build first (cargo build --release -p pam_totp -p pam_policy "
                        "-p totp-enroll), or run scripts/e2e.sh" % (path, f), pytrace=False)
    return path


@pytest.fixture(scope="session")
def debs(request, machine):
    """{package: .deb} of the two packages: --debs DIR, or built now."""
    given = request.config.getoption("--debs")
    if given:
        return m.debs_in(given)
    out = os.path.join(machine.dir, "debs")
    p = m.run(["sh", os.path.join(m.REPO, "packaging", "build-debs.sh"), "--out", out], check=True, timeout=3600)
    built = p.stdout.strip().splitlines()
    return {pkg: next(d for d in built if os.path.basename(d).startswith(pkg + "_")) for pkg in m.PACKAGES}


@pytest.fixture(scope="session")
def install(request, machine):
    method = request.param
    if method == "setup.sh":
        inst = m.SetupShInstall(request.getfixturevalue("artifacts"), machine.dir)
    elif method == "deb":
        inst = m.DebInstall(request.getfixturevalue("debs"), machine.dir)
    else:
        inst = m.SystemInstall()
    request.addfinalizer(inst.teardown)
    inst.setup()
    return inst


# ------------------------------------------------------------------ sshd hosts

class SshdHosts:
    """Starts sshd hosts and stops them when the install they belong to goes.
    private(name, pam_text, ...) starts another private sshd: a second host of a
    fleet is one more call, with its own PAM service."""

    def __init__(self, mach, inst):
        self.machine = mach
        self.install = inst
        self.hosts = []

    def private(self, name, pam_text, extra_config=()):
        host = m.PrivateSshd(name, pam_text, self.install.examples, self.machine.dir,
                             prefix=self.machine.prefix, extra_config=extra_config)
        self._add(host)
        return host

    def system(self):
        host = m.SystemSshd(self.machine.config.getoption("--sshd-log"))
        self._add(host)
        return host

    def _add(self, host):
        self.hosts.append(host)
        self.machine.sources.append(host.log)

    def stop(self, host):
        host.stop()
        if host.log in self.machine.sources:
            self.machine.sources.remove(host.log)
        self.hosts.remove(host)

    def stop_all(self):
        for host in list(reversed(self.hosts)):
            self.stop(host)


@pytest.fixture(scope="session")
def sshd_hosts(machine, install):
    hosts = SshdHosts(machine, install)
    yield hosts
    hosts.stop_all()


def sshd_pam_text(inst, nullok, header):
    return shipped.sshd_pam(inst.examples, nullok=nullok, header=header)


@pytest.fixture(scope="session")
def sshd(sshd_hosts, install):
    """The host the tests log in to: no nullok (a user who has not enrolled is
    refused). --system: the machine's sshd."""
    if install.method == "system":
        return sshd_hosts.system()
    return sshd_hosts.private("sshd", sshd_pam_text(install, False, [
        "Private PAM service of the end-to-end suite (tests/e2e), from the shipped",
        "examples; pam_totp's nullok dropped as the example says once everyone has enrolled."]))


@pytest.fixture(scope="session")
def nullok_sshd(sshd_hosts, install):
    """A second host whose PAM service has the shipped example's auth lines as
    they are, nullok included (also in --system mode: a private sshd beside the
    machine's)."""
    return sshd_hosts.private("nullok", sshd_pam_text(install, True, [
        "Private PAM service of the end-to-end suite (tests/e2e): the shipped example as it is (nullok)."]))


@pytest.fixture
def openssh(sshd, machine):
    import sshclient
    return sshclient.OpenSSH(sshd, machine.key, machine.dir)


# ------------------------------------------------------------------ users

@pytest.fixture
def users(machine):
    made = m.Users(machine.key + ".pub")
    yield made
    made.remove()


DEFAULT_ENROLL = ["-t", "-d", "-w", "17", "-u", "-e", "5", "-Q", "NONE", "-C"]


def enroll(install, user, args=DEFAULT_ENROLL):
    """totp-enroll --user as root, non-interactive. Default: time-based, reuse
    refused, a wide window (a test spends several codes in a row), no rate
    limit, five scratch codes, no QR code, no confirmation code."""
    return m.run([install.enroll, "--user", user.name, "--force", *args])


@pytest.fixture
def enrolled(users, install):
    user = users.add("t")
    p = enroll(install, user)
    assert p.returncode == 0, "totp-enroll failed:\n%s%s" % (p.stdout, p.stderr)
    return user


@pytest.fixture
def not_enrolled(users, install):
    return users.add("n")


# ------------------------------------------------------------------ pam_policy

PW_INITIAL = "Initial-Pass-42!"
PW_WEAK = "Tq7#vbn"
PW_STRONG = "Correct-Horse-7-battery!"
PW_STRONG2 = "Stapled-Lantern-9-orbit?"


class Policy:
    """Where password changes go: SERVICE for pamtester, and how to run passwd.
    Private mode: a private service and a private /etc/pam.d/passwd (bind-mounted
    in a mount namespace of the one command), both from the shipped password
    lines. --system: the machine's passwd service (common-password)."""

    def __init__(self, mach, service, options, passwd_stack=None):
        self.machine = mach
        self.service = service
        self.options = options
        self.passwd_stack = passwd_stack

    def as_user(self, user, argv):
        return ["setpriv", "--reuid=%d" % user.uid, "--regid=%d" % user.gid, "--init-groups", *argv]

    def passwd(self, user):
        argv = self.as_user(user, ["passwd"])
        if self.passwd_stack:
            argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                    'mount --bind "$0" /etc/pam.d/passwd && exec "$@"', self.passwd_stack, *argv]
        return self.machine.prefix + argv

    def pamtester(self, user, service=None, as_user=False, rhost=None):
        argv = ["pamtester", *(["-I", "rhost=" + rhost] if rhost else []), service or self.service,
                user.name, "chauthtok"]
        return self.machine.prefix + (self.as_user(user, argv) if as_user else argv)

    def talk(self, answers, argv):
        import pty_talk
        status, text = pty_talk.talk(answers, argv)
        record.note_command(argv, status, text, answers)
        return status, text

    def expected_reasons(self, install, user, password, options=None):
        """pam-policy-check's BAD PASSWORD lines for PASSWORD under the same options."""
        p = m.run([install.checker, "--user", user.name, *(options or self.options)], input=password + "\n")
        return [line for line in p.stdout.splitlines() if line.startswith("BAD PASSWORD")]


def write_service(path, lines, undo):
    with open(path, "w") as f:
        f.write("# Private PAM service of the end-to-end suite (tests/e2e), from the shipped\n"
                "# password lines; removed when the suite ends.\n" + "\n".join(lines) + "\n")
    undo.append(lambda: os.path.exists(path) and os.unlink(path))


@pytest.fixture(scope="session")
def policy(machine, install):
    undo = []
    if install.method == "system":
        with open("/etc/pam.d/common-password") as f:
            line = next((l for l in f.read().splitlines() if re.match(r"^\s*password\s.*\bpam_policy\.so\b", l)),
                        None)
        if line is None:
            pytest.fail("/etc/pam.d/common-password has no pam_policy.so line (see tests/e2e/README.md)",
                        pytrace=False)
        words = line.split()
        yield Policy(machine, "passwd", words[words.index("pam_policy.so") + 1:])
        return
    service = "pam-e2e-policy-%d" % m.TAG
    write_service("/etc/pam.d/" + service, shipped.password_stack(install.examples), undo)
    stack = os.path.join(machine.dir, "passwd-stack")
    write_service(stack, shipped.password_stack(install.examples), undo)
    yield Policy(machine, service, shipped.policy_options(install.examples), stack)
    for fn in undo:
        fn()


@pytest.fixture(scope="session")
def root_services(machine, install):
    """Two private services with enforce_for_root: the shipped pam_policy line,
    and the same options on pam_pwquality.so (the anchor)."""
    undo = []
    ours = "pam-e2e-policy-root-%d" % m.TAG
    theirs = "pam-e2e-policy-anchor-%d" % m.TAG
    write_service("/etc/pam.d/" + ours, shipped.password_stack(install.examples, extra="enforce_for_root"), undo)
    write_service("/etc/pam.d/" + theirs, shipped.password_stack(install.examples, extra="enforce_for_root",
                                                                 module="pam_pwquality.so"), undo)
    yield ours, theirs
    for fn in undo:
        fn()


@pytest.fixture
def pw_user(users):
    user = users.add("p")
    user.set_password(PW_INITIAL)
    return user

