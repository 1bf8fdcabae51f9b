#!/usr/bin/python3
"""Smoke checks of the installed package through the VM's real sshd and PAM.

Run as root inside the VM after provision.sh. Proves the whole chain: the .deb
installed the modules where libpam finds them, sshd asks for a key and then a
TOTP code through pam_totp, and passwd-style changes go through pam_policy.
Each check prints one PASS/FAIL line; the last line is "smoke: N passed, N failed".
Creates and removes its own user; changes nothing else.
"""

import os
import pwd
import shutil
import subprocess
import sys
import time
import traceback

import paramiko

USER = "e2e-smoke"
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
SCRATCH = "31415926"
POLICY_SERVICE = "/etc/pam.d/e2e-smoke-policy"

results = []


def check(name):
    def wrap(fn):
        start = time.monotonic()
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - every failure is reported, not raised
            detail = "".join(traceback.format_exception_only(type(e), e)).strip()
            results.append((name, False))
            print(f"FAIL {name} ({time.monotonic() - start:.1f}s): {detail}", flush=True)
        else:
            results.append((name, True))
            print(f"PASS {name} ({time.monotonic() - start:.1f}s)", flush=True)
        return fn
    return wrap


def run(*args, input=None, check=True):
    p = subprocess.run(args, input=input, capture_output=True, text=True)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(args)} exited {p.returncode}\nstdout: {p.stdout}\nstderr: {p.stderr}")
    return p


def totp(offset_steps=0):
    now = int(time.time()) + 30 * offset_steps
    return run("oathtool", "--totp", "-b", f"--now=@{now}", SECRET).stdout.strip()


def remove_user():
    subprocess.run(["userdel", "-r", USER], capture_output=True)


def make_user():
    remove_user()
    run("useradd", "--create-home", "--shell", "/bin/sh", USER)
    pw = pwd.getpwnam(USER)
    ssh = os.path.join(pw.pw_dir, ".ssh")
    os.makedirs(ssh, mode=0o700, exist_ok=True)
    keyfile = "/root/e2e-smoke-key"
    for f in (keyfile, keyfile + ".pub"):
        if os.path.exists(f):
            os.remove(f)
    run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", keyfile)
    shutil.copy(keyfile + ".pub", os.path.join(ssh, "authorized_keys"))
    # pam_google_authenticator's secret file format: secret, options, scratch codes.
    ga = os.path.join(pw.pw_dir, ".google_authenticator")
    with open(ga, "w") as f:
        f.write(f'{SECRET}\n" WINDOW_SIZE 3\n" TOTP_AUTH\n{SCRATCH}\n')
    os.chmod(ga, 0o400)
    for path in (ssh, os.path.join(ssh, "authorized_keys"), ga, pw.pw_dir):
        os.chown(path, pw.pw_uid, pw.pw_gid)
    return keyfile


def ssh_login(keyfile, answer):
    """Key, then keyboard-interactive answered by `answer(prompt)`; returns the
    authenticated transport, or raises paramiko.AuthenticationException."""
    t = paramiko.Transport(("127.0.0.1", 22))
    t.start_client(timeout=30)
    remaining = t.auth_publickey(USER, paramiko.Ed25519Key.from_private_key_file(keyfile))
    if remaining != ["keyboard-interactive"]:
        t.close()
        raise AssertionError(f"after the key, sshd asks for {remaining}, not keyboard-interactive")
    prompts_seen = []

    def handler(title, instructions, prompts):
        prompts_seen.extend(p for p, _ in prompts)
        return [answer(p) for p, _ in prompts]

    try:
        t.auth_interactive(USER, handler)
    except paramiko.AuthenticationException:
        t.close()
        raise
    if not prompts_seen:
        raise AssertionError("keyboard-interactive asked nothing")
    return t


def remote(t, command):
    ch = t.open_session()
    ch.exec_command(command)
    out = ch.makefile().read().decode().strip()
    return ch.recv_exit_status(), out


keyfile = None


@check("the package installed both modules and totp-enroll")
def installed():
    for m in ("pam_totp.so", "pam_policy.so"):
        path = f"/lib/x86_64-linux-gnu/security/{m}"
        if not os.path.isfile(path):
            raise AssertionError(f"missing {path}")
    run("totp-enroll", "--help")


@check("sshd configuration is valid and asks for key + keyboard-interactive")
def sshd_config():
    out = run("sshd", "-T", "-C", f"user={USER},host=localhost,addr=127.0.0.1").stdout
    want = {"usepam yes", "kbdinteractiveauthentication yes",
            "authenticationmethods publickey,keyboard-interactive"}
    lines = set(out.splitlines())
    missing = want - lines
    if missing:
        raise AssertionError(f"sshd -T lacks {sorted(missing)}")


@check("ssh: key + current TOTP code logs in")
def ssh_good_code():
    global keyfile
    keyfile = make_user()
    t = ssh_login(keyfile, lambda prompt: totp())
    status, out = remote(t, "id -un")
    t.close()
    if (status, out) != (0, USER):
        raise AssertionError(f"remote id -un gave {status} {out!r}")


@check("ssh: key + wrong code is refused")
def ssh_wrong_code():
    good = {totp(-1), totp(), totp(1)}
    wrong = next(c for c in ("000000", "111111", "222222") if c not in good)
    try:
        t = ssh_login(keyfile, lambda prompt: wrong)
    except paramiko.AuthenticationException:
        return
    t.close()
    raise AssertionError("logged in with a wrong code")


@check("ssh: key + scratch code logs in once")
def ssh_scratch():
    t = ssh_login(keyfile, lambda prompt: SCRATCH)
    t.close()
    try:
        t = ssh_login(keyfile, lambda prompt: SCRATCH)
    except paramiko.AuthenticationException:
        return
    t.close()
    raise AssertionError("the scratch code was accepted twice")


def chauthtok(password):
    # As root, pam_unix asks for no current password: New, then Retype.
    return run("pamtester", "-v", "e2e-smoke-policy", USER, "chauthtok",
               input=f"{password}\n{password}\n", check=False)


@check("pam_policy: a short password is refused with pam_pwquality's message")
def policy_rejects():
    with open(POLICY_SERVICE, "w") as f:
        f.write("password requisite pam_policy.so retry=1 minlen=12 enforce_for_root\n"
                "password required pam_unix.so use_authtok yescrypt\n")
    p = chauthtok("Sh0rt!x")
    out = p.stdout + p.stderr
    if p.returncode == 0:
        raise AssertionError(f"a 7-character password was accepted:\n{out}")
    if "BAD PASSWORD" not in out or "shorter than" not in out:
        raise AssertionError(f"no BAD PASSWORD ... shorter than message:\n{out}")


@check("pam_policy: a good password is set through pam_unix")
def policy_accepts():
    before = run("getent", "shadow", USER).stdout
    p = chauthtok("correct-Horse-7-battery")
    if p.returncode != 0:
        raise AssertionError(f"refused:\n{p.stdout}{p.stderr}")
    if run("getent", "shadow", USER).stdout == before:
        raise AssertionError("/etc/shadow did not change")


# The checks ran as they were defined, in order; now undo what they made.
remove_user()
for f in (POLICY_SERVICE, "/root/e2e-smoke-key", "/root/e2e-smoke-key.pub"):
    if os.path.exists(f):
        os.remove(f)

passed = sum(1 for _, ok in results if ok)
failed = len(results) - passed
print(f"smoke: {passed} passed, {failed} failed", flush=True)
sys.exit(1 if failed else 0)
