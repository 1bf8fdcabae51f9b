"""The things the suite starts, makes and installs on the machine, each with
its own undo: commands (run and noted for the report), test users, the two
install methods and the system's own installation, and sshd hosts (a private
sshd with its own PAM service, or the machine's own sshd in --system mode).

conftest.py turns these into fixtures; nothing here knows about pytest.
"""
import dataclasses
import glob
import grp
import os
import pwd
import re
import shutil
import socket
import subprocess
import sysconfig
import tempfile
import time
import warnings

with warnings.catch_warnings():
    # Debian 12's Python 3.11 has crypt (deprecated, still there): SHA-512 hashes for /etc/shadow.
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt

import logs
import otp
import record
import shipped

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
# The two binary packages of debian/, in the order an admin installs them: the
# second factor first (it changes no PAM stack), then password quality.
PACKAGES = ("libpam-totp", "libpam-policy")
PACKAGE_DOC = "/usr/share/doc/libpam-totp"       # the examples are in libpam-totp
OLD_PACKAGE = "pam-hardening"                    # the single package these replace
TAG = os.getpid()


def run(argv, input=None, env=None, timeout=180, check=False, note=True):
    """Runs ARGV, stdout and stderr captured apart; notes the command and its
    output for the failure report. With CHECK, a non-zero exit raises with
    both streams in the message."""
    p = subprocess.run(argv, input=input, capture_output=True, text=True, env=env, timeout=timeout)
    if note:
        record.note_command(argv, p.returncode, p.stdout + p.stderr)
    if check and p.returncode != 0:
        raise AssertionError("%s exited %d\n--- stdout\n%s\n--- stderr\n%s"
                             % (" ".join(argv), p.returncode, p.stdout, p.stderr))
    return p


def package_installed(name=None):
    """NAME (default: every one of PACKAGES) is installed."""
    for package in [name] if name else PACKAGES:
        p = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True)
        if "install ok installed" not in p.stdout:
            return False
    return True


def package_present(name):
    """NAME is known to dpkg in any state but not-installed (e.g. removed, config left)."""
    p = subprocess.run(["dpkg-query", "-W", "-f=${Status}", name], capture_output=True, text=True)
    return p.returncode == 0 and "not-installed" not in p.stdout


def package_version(name):
    p = subprocess.run(["dpkg-query", "-W", "-f=${Version}", name], capture_output=True, text=True)
    return p.stdout.strip() if p.returncode == 0 else None


def debs_in(directory, version=None):
    """{package: path} of the newest (or VERSION's) .deb of each of PACKAGES in DIRECTORY."""
    out = {}
    for package in PACKAGES:
        found = sorted(glob.glob(os.path.join(directory, "%s_%s_*.deb" % (package, version or "*"))))
        if not found:
            raise FileNotFoundError("no %s .deb in %s" % (package, directory))
        out[package] = found[-1]
    return out


def security_dir():
    """Where libpam loads modules from: /lib/<multiarch>/security on Debian (no
    dpkg-dev or gcc needed: the VM has neither), else where pam_unix.so is."""
    multiarch = sysconfig.get_config_var("MULTIARCH")
    if multiarch and os.path.exists("/lib/%s/security/pam_unix.so" % multiarch):
        return "/lib/%s/security" % multiarch
    found = sorted(glob.glob("/lib/*/security/pam_unix.so") + glob.glob("/usr/lib*/security/pam_unix.so"))
    if not found:
        raise RuntimeError("cannot find the PAM module directory (no pam_unix.so)")
    return os.path.dirname(found[0])


# ------------------------------------------------------------------ users

def hash_password(password):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return crypt.crypt(password, crypt.mksalt(crypt.METHOD_SHA512))


def password_matches(stored_hash, password):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return crypt.crypt(password, stored_hash) == stored_hash


@dataclasses.dataclass
class User:
    name: str
    home: str
    uid: int
    gid: int

    @property
    def secret_file(self):
        return os.path.join(self.home, ".google_authenticator")

    def code(self, offset=0):
        return otp.code(self.secret_file, offset)

    def wrong_code(self):
        return otp.code_not_near(self.secret_file, 9)

    def scratch_codes(self):
        return otp.scratch_codes(self.secret_file)

    def shadow(self):
        p = subprocess.run(["getent", "shadow", self.name], capture_output=True, text=True)
        return p.stdout.strip()

    def password_is(self, password):
        return password_matches(self.shadow().split(":")[1], password)

    def set_password(self, password):
        run(["usermod", "-p", hash_password(password), self.name], check=True)


class Users:
    """Test users pe2e-<role><pid>-<n>, each with the client key in
    authorized_keys; remove() deletes them with their homes."""

    def __init__(self, client_pub):
        self.client_pub = client_pub
        self.made = []
        self.serial = 0

    def add(self, role):
        self.serial += 1
        name = "pe2e-%s%d-%d" % (role, TAG, self.serial)
        subprocess.run(["userdel", "-r", name], capture_output=True)
        run(["useradd", "-m", "-s", "/bin/sh", "-c", "pam e2e test user", name], check=True)
        self.made.append(name)
        pw = pwd.getpwnam(name)
        ssh = os.path.join(pw.pw_dir, ".ssh")
        os.makedirs(ssh, mode=0o700, exist_ok=True)
        keys = os.path.join(ssh, "authorized_keys")
        shutil.copy(self.client_pub, keys)
        os.chmod(keys, 0o600)
        for path in (ssh, keys):
            os.chown(path, pw.pw_uid, pw.pw_gid)
        return User(name, pw.pw_dir, pw.pw_uid, pw.pw_gid)

    def remove(self):
        for name in reversed(self.made):
            # A login's session may still be closing; userdel refuses while it runs.
            for _ in range(50):
                p = subprocess.run(["userdel", "-r", name], capture_output=True, text=True)
                if p.returncode in (0, 6):   # 6: no such user
                    break
                time.sleep(0.2)
        self.made = []


# ------------------------------------------------------------------ installs

class Install:
    """One way the modules got onto the machine. `examples` holds the shipped
    configuration files this installation reads its sshd and PAM lines from;
    `enroll` and `checker` are the installed totp-enroll and pam-policy-check."""
    method = None
    examples = shipped.CHECKOUT_EXAMPLES
    fail2ban = os.path.join(REPO, "monitoring", "fail2ban")
    monit = os.path.join(REPO, "monitoring", "monit")
    enroll = None
    checker = None

    def setup(self):
        pass

    def teardown(self):
        pass


class SetupShInstall(Install):
    """README's way: scripts/setup.sh (deps, release build, scripts/install.sh),
    or scripts/install.sh --from ARTIFACTS when there is no cargo or the
    artifacts are elsewhere. What was installed before is put back afterwards."""
    method = "setup.sh"
    enroll = "/usr/local/bin/totp-enroll"
    checker = "/usr/local/bin/pam-policy-check"

    def __init__(self, artifacts, workdir):
        self.artifacts = artifacts
        self.backup = os.path.join(workdir, "backup-setup.sh")
        self.saved = {}
        self.output = None

    def targets(self):
        p = run(["sh", os.path.join(REPO, "scripts/install.sh"), "--dry-run", "--from", self.artifacts],
                check=True, note=False)
        return [line.split()[-1] for line in p.stdout.splitlines() if line.startswith("+ install ")]

    def setup(self):
        os.makedirs(self.backup, exist_ok=True)
        for f in self.targets():
            if os.path.exists(f):
                keep = os.path.join(self.backup, f.strip("/").replace("/", "_"))
                shutil.copy2(f, keep)
                self.saved[f] = keep
            else:
                self.saved[f] = None
        self.install()

    def install(self):
        release = os.path.join(REPO, "target", "release")
        if shutil.which("cargo") and os.path.isdir(release) and os.path.samefile(self.artifacts, release):
            self.output = run([os.path.join(REPO, "scripts/setup.sh")], check=True, timeout=1800).stdout
        else:
            self.output = run(["sh", os.path.join(REPO, "scripts/install.sh"), "--from", self.artifacts],
                              check=True).stdout

    def uninstall(self):
        return run(["sh", os.path.join(REPO, "scripts/install.sh"), "--uninstall", "--from", self.artifacts])

    def teardown(self):
        self.uninstall()
        for f, keep in self.saved.items():
            if keep:
                shutil.copy2(keep, f)


class PamState:
    """/etc/pam.d/common-* and /var/lib/pam/*, kept to be put back exactly:
    pam-auth-update rewrites them on install and removal, and does not re-enable
    pam_pwquality's profile that the package's profile replaced."""

    def __init__(self, workdir):
        self.dir = os.path.join(workdir, "pam-state")
        os.makedirs(self.dir, exist_ok=True)
        self.files = sorted(glob.glob("/etc/pam.d/common-*") + glob.glob("/var/lib/pam/*"))
        for f in self.files:
            shutil.copy2(f, self._copy(f))

    def _copy(self, f):
        return os.path.join(self.dir, f.strip("/").replace("/", "_"))

    def changed(self):
        out = []
        for f in self.files:
            with open(self._copy(f), "rb") as a:
                try:
                    with open(f, "rb") as b:
                        same = a.read() == b.read()
                except FileNotFoundError:
                    same = False
            if not same:
                out.append(f)
        return out

    def restore(self):
        for f in self.changed():
            shutil.copy2(self._copy(f), f)


class DebInstall(Install):
    """The two Debian packages, installed as an admin would: dpkg -i libpam-totp,
    then dpkg -i libpam-policy; dpkg --purge of both afterwards, and the PAM
    files put back as they were."""
    method = "deb"
    examples = PACKAGE_DOC + "/examples"
    fail2ban = PACKAGE_DOC + "/examples/fail2ban"
    monit = PACKAGE_DOC + "/examples/monit"
    enroll = "/usr/bin/totp-enroll"
    checker = "/usr/bin/pam-policy-check"

    def __init__(self, debs, workdir):
        self.debs = debs
        self.workdir = workdir
        self.pam_state = None
        self.install_result = None
        self.results = {}

    def setup(self):
        present = [p for p in PACKAGES + (OLD_PACKAGE,) if package_present(p)]
        if present:
            raise RuntimeError("%s already on this machine; not replacing it (remove it, or run with --system)"
                               % ", ".join(present))
        self.pam_state = PamState(self.workdir)
        self.install()

    def dpkg(self, *args):
        return run(["dpkg", *args], env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))

    def install_one(self, package, deb=None):
        deb = deb or self.debs[package]
        result = self.dpkg("-i", deb)
        if result.returncode != 0:
            raise AssertionError("dpkg -i %s failed:\n%s%s" % (deb, result.stdout, result.stderr))
        self.results[package] = result
        return result

    def install(self):
        for package in PACKAGES:
            self.install_one(package)
        # What a test of the pam-auth-update step reads: libpam-policy's install.
        self.install_result = self.results["libpam-policy"]

    def purge(self, packages=PACKAGES):
        return self.dpkg("--purge", *packages)

    def teardown(self):
        if any(package_present(p) for p in PACKAGES):
            self.purge()
        if self.pam_state:
            self.pam_state.restore()


class SystemInstall(Install):
    """--system: the package as the machine's provisioning installed it."""
    method = "system"
    examples = DebInstall.examples
    fail2ban = DebInstall.fail2ban
    monit = DebInstall.monit
    enroll = DebInstall.enroll
    checker = DebInstall.checker

    def setup(self):
        if not package_installed():
            raise RuntimeError("--system expects the packages %s installed (see tests/e2e/README.md)"
                               % ", ".join(PACKAGES))


# ------------------------------------------------------------------ sshd hosts

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Host:
    """What the clients need to know about an sshd."""
    name = None
    address = "127.0.0.1"
    port = None
    host_keys = ()
    pam_service = None
    log = None

    def host_key_pairs(self):
        pairs = []
        for path in self.host_keys:
            with open(path) as f:
                kind, data = f.read().split()[:2]
                pairs.append((kind, data))
        return pairs

    def effective_config(self, user):
        """`sshd -T` for a connection of USER from 127.0.0.1, as {keyword: value}."""
        p = run(self.sshd_argv() + ["-T", "-C", "user=%s,host=localhost,addr=127.0.0.1" % user], check=True)
        out = {}
        for line in p.stdout.splitlines():
            key, _, value = line.partition(" ")
            out.setdefault(key, value)
        return out

    def sshd_argv(self):
        return ["/usr/sbin/sshd"]

    def stop(self):
        pass


class PrivateSshd(Host):
    """/usr/sbin/sshd started through a symlink named after its own PAM service
    (OpenSSH takes the service name from the name it was started under), so it
    reads /etc/pam.d/<service> with PAM_TEXT; -f with its own config: 127.0.0.1,
    a free port, its own host key and pid file, and the shipped sshd_config.d
    fragment included from EXAMPLES. /etc/ssh and /etc/pam.d/sshd are not read."""

    def __init__(self, name, pam_text, examples, workdir, prefix=(), extra_config=()):
        self.name = name
        self.pam_service = "pam-e2e-%s-%d" % (name, TAG)
        self.pam_file = "/etc/pam.d/" + self.pam_service
        self.proc = None
        self.made_run_sshd = False
        if os.path.exists(self.pam_file):
            raise RuntimeError("%s exists already" % self.pam_file)
        self.dir = tempfile.mkdtemp(prefix="sshd-%s." % name, dir=workdir)
        with open(self.pam_file, "w") as f:
            f.write(pam_text)
        try:
            self._start(examples, prefix, extra_config)
        except BaseException:
            self.stop()
            raise

    def sshd_argv(self):
        return [self.binary, "-f", self.config]

    def _start(self, examples, prefix, extra_config):
        if not os.path.isdir("/run/sshd"):
            os.makedirs("/run/sshd", mode=0o755)
            self.made_run_sshd = True
        self.binary = os.path.join(self.dir, self.pam_service)
        os.symlink("/usr/sbin/sshd", self.binary)
        key = os.path.join(self.dir, "ssh_host_ed25519_key")
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "%s-host" % self.pam_service, "-f", key],
            check=True, note=False)
        self.host_keys = [key + ".pub"]
        self.port = free_port()
        self.config = os.path.join(self.dir, "sshd_config")
        self.log_path = os.path.join(self.dir, "sshd.log")
        lines = [
            "# sshd %s of the end-to-end suite; sshd reads only this file (-f) and the" % self.name,
            "# shipped fragment. The first value of a keyword wins, so the fragment comes first.",
            "Include " + shipped.sshd_fragment_path(examples),
            "ListenAddress 127.0.0.1",
            "Port %d" % self.port,
            "HostKey " + key,
            "PidFile " + os.path.join(self.dir, "sshd.pid"),
            "PubkeyAuthentication yes",
            "AuthorizedKeysFile .ssh/authorized_keys",
            "PermitRootLogin no",
            "StrictModes yes",
            "UseDNS no",
            "PrintMotd no",
            "MaxStartups 50",
            "LogLevel VERBOSE",
            *extra_config,
        ]
        with open(self.config, "w") as f:
            f.write("\n".join(lines) + "\n")
        run([self.binary, "-t", "-f", self.config], check=True)
        self.log = logs.LogFile(self.log_path, "sshd log (%s, %s)" % (self.name, self.log_path))
        self.proc = subprocess.Popen([*prefix, self.binary, "-D", "-f", self.config, "-E", self.log_path])
        want = "Server listening on 127.0.0.1 port %d" % self.port
        for _ in range(200):
            if os.path.exists(self.log_path) and want in open(self.log_path, errors="replace").read():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError("sshd %s did not start:\n%s" % (
            self.name, open(self.log_path, errors="replace").read() if os.path.exists(self.log_path) else ""))

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if os.path.exists(self.pam_file):
            os.unlink(self.pam_file)
        if self.made_run_sshd:
            try:
                os.rmdir("/run/sshd")
            except OSError:
                pass
            self.made_run_sshd = False


class SystemSshd(Host):
    """--system: the machine's own sshd on 127.0.0.1:22 with /etc/pam.d/sshd."""
    name = "system"
    port = 22
    pam_service = "sshd"

    def __init__(self, sshd_log=None):
        self.host_keys = sorted(glob.glob("/etc/ssh/ssh_host_*_key.pub"))
        if sshd_log:
            self.log = logs.LogFile(sshd_log, "sshd log (%s)" % sshd_log, from_now=True)
        else:
            self.log = logs.Journal(["-u", "ssh", "-u", "sshd"], "sshd log (journalctl -u ssh)")
        with open("/etc/pam.d/sshd") as f:
            if not re.search(r"^\s*auth\s.*pam_totp\.so", f.read(), re.M):
                raise RuntimeError("/etc/pam.d/sshd has no pam_totp.so auth line (see tests/e2e/README.md)")


def group_name(gid):
    return grp.getgrgid(gid).gr_name
