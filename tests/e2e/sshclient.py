"""The two SSH clients as Python code: paramiko driven directly (publickey, then
keyboard-interactive answers) and OpenSSH's ssh answering the
keyboard-interactive prompt through SSH_ASKPASS. Both return what happened as
values, and note a transcript for the failure report.
"""
import dataclasses
import os
import socket
import subprocess
import tempfile

import record


@dataclasses.dataclass
class Login:
    """One paramiko login. `shown` is everything the server showed the user
    (keyboard-interactive titles, instructions and prompts), in order."""
    user: str
    publickey: str = None            # "accepted", "partial", "not-allowed", "refused: ..."
    methods_after_key: list = None
    keyboard_interactive: str = None  # "accepted", "not-allowed (...)", "refused: ..."
    prompts: list = dataclasses.field(default_factory=list)    # prompt texts, in order
    messages: list = dataclasses.field(default_factory=list)   # title/instructions, in order
    shown: list = dataclasses.field(default_factory=list)      # both, in the order shown
    authenticated: bool = False
    stdout: str = None
    stderr: str = None
    exit: int = None
    error: str = None

    @property
    def shown_text(self):
        return "\n".join(self.shown)

    def was_shown(self, text):
        return any(text in s for s in self.shown)

    def transcript(self):
        lines = ["user %s: publickey %s (then: %s); keyboard-interactive %s; authenticated %s"
                 % (self.user, self.publickey, self.methods_after_key, self.keyboard_interactive,
                    self.authenticated)]
        lines += ["  shown: %r" % s for s in self.shown]
        if self.exit is not None:
            lines.append("  command exit %s, stdout %r, stderr %r" % (self.exit, self.stdout, self.stderr))
        if self.error:
            lines.append("  error: %s" % self.error)
        return "\n".join(lines)


def _load_key(path):
    import paramiko
    if hasattr(paramiko.PKey, "from_path"):
        return paramiko.PKey.from_path(path)
    return paramiko.Ed25519Key.from_private_key_file(path)


def login(host, user, key=None, answers=None, command=None, timeout=15):
    """Logs in to HOST (an sshd fixture) as USER: KEY (a private key file)
    first, then keyboard-interactive with ANSWERS, one per prompt in order
    (None: keyboard-interactive is not tried; [] answers nothing). Runs COMMAND
    when authenticated."""
    import paramiko
    result = Login(user=user)
    t = None
    try:
        sock = socket.create_connection((host.address, host.port), timeout=timeout)
        t = paramiko.Transport(sock)
        t.start_client(timeout=timeout)
        server_key = t.get_remote_server_key()
        offered = (server_key.get_name(), server_key.get_base64())
        if offered not in host.host_key_pairs():
            raise RuntimeError("host key %s of %s is not one of %s" % (offered[0], host.name, host.host_keys))
        if key:
            try:
                rest = t.auth_publickey(user, _load_key(key))
                result.publickey = "partial" if rest else "accepted"
                result.methods_after_key = list(rest or [])
            except paramiko.BadAuthenticationType as e:
                result.publickey = "not-allowed"
                result.methods_after_key = list(e.allowed_types)
            except paramiko.AuthenticationException as e:
                result.publickey = "refused: %s" % e
        if answers is not None and not t.is_authenticated():
            pending = list(answers)

            def handler(title, instructions, prompts):
                text = (title + "\n" + instructions).strip()
                if text:
                    result.messages.append(text)
                    result.shown.append(text)
                replies = []
                for prompt, _echo in prompts:
                    result.prompts.append(prompt)
                    result.shown.append(prompt)
                    replies.append(pending.pop(0) if pending else "")
                return replies

            try:
                t.auth_interactive(user, handler)
                result.keyboard_interactive = "accepted"
            except paramiko.BadAuthenticationType as e:
                result.keyboard_interactive = "not-allowed (%s)" % ",".join(e.allowed_types)
            except paramiko.AuthenticationException as e:
                result.keyboard_interactive = "refused: %s" % e
        result.authenticated = t.is_authenticated()
        if result.authenticated and command:
            chan = t.open_session(timeout=timeout)
            chan.settimeout(30)
            chan.exec_command(command)
            result.stdout = chan.makefile("rb").read().decode("utf-8", "replace")
            result.stderr = chan.makefile_stderr("rb").read().decode("utf-8", "replace")
            result.exit = chan.recv_exit_status()
    except Exception as e:  # noqa: BLE001 - every failure is part of the result
        result.error = "%s: %s" % (type(e).__name__, e)
    finally:
        if t is not None:
            t.close()
    record.note("paramiko login to %s:%s" % (host.address, host.port), result.transcript())
    return result


@dataclasses.dataclass
class SshRun:
    """One run of OpenSSH's ssh."""
    argv: list
    status: int
    stdout: str
    stderr: str
    prompts: list   # what ssh asked SSH_ASKPASS, in order


class OpenSSH:
    """OpenSSH's ssh against one host, with the suite's client key, a known_hosts
    file holding exactly the host's keys, and SSH_ASKPASS answering the
    keyboard-interactive prompt."""

    def __init__(self, host, key, workdir):
        self.host = host
        self.key = key
        self.dir = tempfile.mkdtemp(prefix="openssh.", dir=workdir)
        self.known_hosts = os.path.join(self.dir, "known_hosts")
        name = self.host.address if self.host.port == 22 else "[%s]:%d" % (self.host.address, self.host.port)
        with open(self.known_hosts, "w") as f:
            for kind, data in self.host.host_key_pairs():
                f.write("%s %s %s\n" % (name, kind, data))

    def run(self, user, answer=None, command="true", options=()):
        answer_file = os.path.join(self.dir, "answer")
        prompts_file = os.path.join(self.dir, "prompts")
        askpass = os.path.join(self.dir, "askpass")
        with open(answer_file, "w") as f:
            f.write((answer or "") + "\n")
        open(prompts_file, "w").close()
        with open(askpass, "w") as f:
            f.write("#!/bin/sh\nprintf '%%s\\n' \"$*\" >>'%s'\ncat '%s'\n" % (prompts_file, answer_file))
        os.chmod(askpass, 0o700)
        argv = ["ssh", "-F", "/dev/null", "-p", str(self.host.port), "-i", self.key,
                "-o", "IdentitiesOnly=yes", "-o", "UserKnownHostsFile=" + self.known_hosts,
                "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=no",
                "-o", "NumberOfPasswordPrompts=1", "-o", "ConnectTimeout=15", "-o", "LogLevel=ERROR",
                *options, "%s@%s" % (user, self.host.address), command]
        env = dict(os.environ, SSH_ASKPASS=askpass, SSH_ASKPASS_REQUIRE="force", DISPLAY="none")
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env, timeout=60)
        with open(prompts_file) as f:
            prompts = [line for line in f.read().splitlines() if line]
        run = SshRun(argv, p.returncode, p.stdout, p.stderr, prompts)
        record.note("OpenSSH ssh", "$ %s\nanswer: %r\nasked: %r\nstdout: %r\nstderr: %r\nexit %d"
                    % (" ".join(argv), answer, prompts, p.stdout, p.stderr, p.returncode))
        return run
