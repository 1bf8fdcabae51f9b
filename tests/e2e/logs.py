"""Log sources the suite reads: a file (the private sshd's -E log, the syslog
sink's output, /var/log/auth.log) or the journal; and the modules' decision
lines parsed into values.

Every source has mark() (where it stands now) and lines_since(mark); a test
takes a mark before it acts and looks only at what came after.
"""
import dataclasses
import os
import re
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


class LogFile:
    def __init__(self, path, title, module_lines_only=False, report_lines=40, from_now=False):
        self.path = path
        self.title = title
        self.module_lines_only = module_lines_only
        self.report_lines = report_lines
        self.start = self.mark() if from_now else 0

    def mark(self):
        try:
            return os.stat(self.path).st_size
        except FileNotFoundError:
            return 0

    def lines_since(self, mark):
        try:
            with open(self.path, "rb") as f:
                f.seek(mark)
                data = f.read()
        except FileNotFoundError:
            return []
        return data.decode("utf-8", "replace").splitlines()


class Journal:
    """journalctl with MATCHES (e.g. SYSLOG_FACILITY=10, or -u ssh), from a
    second before the source was made. A mark is a count of the matching lines so
    far, not a journal cursor: in the VM, --after-cursor (the cursor of the newest
    entry of the whole journal) with matches missed a line written after the mark."""

    def __init__(self, matches, title, module_lines_only=False, report_lines=40):
        self.matches = list(matches)
        self.title = title
        self.module_lines_only = module_lines_only
        self.report_lines = report_lines
        self.since = ["--since", "@%d" % int(time.time() - 1)]
        self.start = self.mark()

    def _all(self):
        p = subprocess.run(["journalctl", "-q", "--no-pager", "-o", "short", *self.since, *self.matches],
                           capture_output=True, text=True)
        return p.stdout.splitlines()

    def mark(self):
        return len(self._all())

    def lines_since(self, mark):
        return self._all()[mark:]


@dataclasses.dataclass
class ModuleLine:
    module: str      # pam_totp | pam_policy | totp-enroll (--remove, --upgrade)
    where: str       # "sshd:auth", ...
    service: str
    user: str
    rhost: str
    outcome: str
    reason: str
    text: str

    PATTERN = re.compile(r'\b(pam_totp|pam_policy|totp-enroll)\(([^)]*)\): service=(\S*) user=(\S*) rhost=(\S*) '
                         r'outcome=(\S+) reason="(.*)"\s*$')

    @classmethod
    def parse(cls, line):
        m = cls.PATTERN.search(line)
        return cls(*m.groups(), text=line) if m else None


class ModuleLog:
    """The modules' syslog lines, from SOURCE."""

    def __init__(self, source):
        self.source = source

    def mark(self):
        return self.source.mark()

    def lines(self, mark=None):
        raw = self.source.lines_since(self.source.start if mark is None else mark)
        return [p for p in map(ModuleLine.parse, raw) if p is not None]

    def wait_for(self, mark, module, user, outcome, reason=None, timeout=5.0):
        """The first decision line after MARK for USER with OUTCOME (and a
        reason starting with REASON); fails listing the lines that came instead."""
        deadline = time.monotonic() + timeout
        while True:
            for line in self.lines(mark):
                if (line.module, line.user, line.outcome) == (module, user, outcome) and \
                        (reason is None or line.reason.startswith(reason)):
                    return line
            if time.monotonic() > deadline:
                seen = "\n".join("  " + line.text for line in self.lines(mark)) or "  (none)"
                raise AssertionError("no %s line for user=%s outcome=%s%s within %.0fs; module lines since the mark:\n%s"
                                     % (module, user, outcome, "" if reason is None else " reason=%r..." % reason,
                                        timeout, seen))
            time.sleep(0.1)


class SyslogSink:
    """syslog_sink.py listening on SOCKET, writing syslog-daemon-style lines to FILE."""

    def __init__(self, socket_path, out_file):
        self.socket_path = socket_path
        self.file = out_file
        self.proc = subprocess.Popen([sys.executable, os.path.join(HERE, "syslog_sink.py"), socket_path, out_file])
        for _ in range(100):
            if os.path.exists(out_file + ".ready"):
                break
            if self.proc.poll() is not None:
                raise RuntimeError("syslog_sink.py exited with %s" % self.proc.returncode)
            time.sleep(0.05)
        else:
            self.stop()
            raise RuntimeError("syslog_sink.py did not start")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if os.path.exists(self.socket_path) and not os.path.isdir(self.socket_path):
            try:
                os.unlink(self.socket_path)
            except OSError:
                pass


class MountNamespace:
    """A process holding a private mount namespace in which SOCKET is
    bind-mounted over /dev/log; prefix() runs a command inside it."""

    def __init__(self, socket_path, workdir):
        ready = os.path.join(workdir, "ns.ready")
        self.proc = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c",
             'mount --bind "$1" /dev/log && echo ready >"$2" && exec sleep infinity',
             "sh", socket_path, ready])
        for _ in range(100):
            if os.path.exists(ready):
                break
            if self.proc.poll() is not None:
                raise RuntimeError("could not set up a mount namespace for /dev/log")
            time.sleep(0.05)
        else:
            self.stop()
            raise RuntimeError("the mount namespace for /dev/log did not come up")

    def prefix(self):
        return ["nsenter", "--mount=/proc/%d/ns/mnt" % self.proc.pid]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
