"""sshd + pam_totp: key + code through a real sshd, with both SSH clients.

Each test has its own users (fresh enrollment, fresh codes), so any one of
them runs alone. A code spent by a test is for a later step than the one
before (DISALLOW_REUSE refuses any step at or before the last accepted one):
offsets 0, 1, 2, ... from now, which the window of 17 (8 steps either side)
accepts.
"""
import os
import re
import stat

import pytest

from conftest import enroll
from sshclient import login

CMD = "echo e2e-ok $(id -un)"


def ok_login(sshd, user, key, code, command=CMD):
    return login(sshd, user.name, key=key, answers=[code], command=command)


# ------------------------------------------------------------------ enrollment

def test_enroll_as_root_for_user(users, install):
    user = users.add("t")
    p = enroll(install, user)
    assert p.returncode == 0, p.stdout + p.stderr


def test_secret_file_is_users_0600_google_authenticator_format(enrolled):
    st = os.stat(enrolled.secret_file)
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (enrolled.uid, 0o600)
    with open(enrolled.secret_file) as f:
        lines = f.read().splitlines()
    assert re.fullmatch(r"[A-Z2-7]{16,}", lines[0])
    assert '" TOTP_AUTH' in lines and '" DISALLOW_REUSE' in lines
    assert len([l for l in lines if re.fullmatch(r"[1-9][0-9]{7}", l)]) == 5


# ------------------------------------------------------------------ right code

@pytest.mark.smoke
def test_right_code_paramiko_logs_in_and_runs_command(sshd, machine, enrolled):
    r = ok_login(sshd, enrolled, machine.key, enrolled.code(0))
    assert r.authenticated and r.error is None
    assert (r.exit, r.stdout) == (0, "e2e-ok %s\n" % enrolled.name)


def test_right_code_paramiko_logged_success(sshd, machine, enrolled):
    mark = machine.module_log.mark()
    assert ok_login(sshd, enrolled, machine.key, enrolled.code(0)).authenticated
    machine.module_log.wait_for(mark, "pam_totp", enrolled.name, "success")


def test_right_code_openssh_logs_in_and_runs_command(openssh, enrolled):
    run = openssh.run(enrolled.name, enrolled.code(0), CMD)
    assert (run.status, run.stdout) == (0, "e2e-ok %s\n" % enrolled.name)


def test_openssh_asked_with_modules_prompt(openssh, enrolled):
    run = openssh.run(enrolled.name, enrolled.code(0), "true")
    assert run.status == 0
    assert any("Verification code" in p for p in run.prompts), run.prompts


def test_right_code_openssh_logged_success(openssh, machine, enrolled):
    mark = machine.module_log.mark()
    assert openssh.run(enrolled.name, enrolled.code(0), "true").status == 0
    machine.module_log.wait_for(mark, "pam_totp", enrolled.name, "success")


# ------------------------------------------------------------------ refusals

@pytest.mark.smoke
def test_wrong_code_refused(sshd, machine, enrolled):
    r = login(sshd, enrolled.name, key=machine.key, answers=[enrolled.wrong_code()])
    assert r.publickey == "partial" and not r.authenticated


def test_wrong_code_logged(sshd, machine, enrolled):
    mark = machine.module_log.mark()
    assert not login(sshd, enrolled.name, key=machine.key, answers=[enrolled.wrong_code()]).authenticated
    machine.module_log.wait_for(mark, "pam_totp", enrolled.name, "wrong-code")


def _reuse(sshd, machine, user):
    code = user.code(0)
    assert ok_login(sshd, user, machine.key, code, command="true").authenticated
    return login(sshd, user.name, key=machine.key, answers=[code])


def test_reused_code_refused_and_client_told_why(sshd, machine, enrolled):
    r = _reuse(sshd, machine, enrolled)
    assert not r.authenticated
    assert r.was_shown("This verification code was already used."), r.shown


def test_reused_code_logged(sshd, machine, enrolled):
    code = enrolled.code(0)
    assert ok_login(sshd, enrolled, machine.key, code, command="true").authenticated
    mark = machine.module_log.mark()
    assert not login(sshd, enrolled.name, key=machine.key, answers=[code]).authenticated
    machine.module_log.wait_for(mark, "pam_totp", enrolled.name, "reused")


def test_key_alone_paramiko_refused_keyboard_interactive_remains(sshd, machine, enrolled):
    r = login(sshd, enrolled.name, key=machine.key)
    assert not r.authenticated
    assert r.methods_after_key == ["keyboard-interactive"]


def test_key_alone_openssh_refused(openssh, enrolled):
    run = openssh.run(enrolled.name, None, "true", options=["-o", "KbdInteractiveAuthentication=no"])
    assert run.status != 0
    assert "Permission denied" in run.stderr


def test_right_code_without_key_refused(sshd, enrolled):
    r = login(sshd, enrolled.name, answers=[enrolled.code(0)])
    assert not r.authenticated


# ------------------------------------------------------------------ scratch codes

def _scratch_login(sshd, machine, user, code):
    return login(sshd, user.name, key=machine.key, answers=[code], command="true")


@pytest.mark.smoke
def test_scratch_code_logs_in(sshd, machine, enrolled):
    r = _scratch_login(sshd, machine, enrolled, enrolled.scratch_codes()[0])
    assert r.authenticated and r.exit == 0


def test_scratch_code_logged_success_scratch(sshd, machine, enrolled):
    mark = machine.module_log.mark()
    assert _scratch_login(sshd, machine, enrolled, enrolled.scratch_codes()[0]).authenticated
    machine.module_log.wait_for(mark, "pam_totp", enrolled.name, "success", reason="scratch")


def test_scratch_code_removed_from_file(sshd, machine, enrolled):
    code = enrolled.scratch_codes()[0]
    assert _scratch_login(sshd, machine, enrolled, code).authenticated
    assert code not in enrolled.scratch_codes()
    assert len(enrolled.scratch_codes()) == 4


@pytest.mark.smoke
def test_scratch_code_second_use_refused(sshd, machine, enrolled):
    code = enrolled.scratch_codes()[0]
    assert _scratch_login(sshd, machine, enrolled, code).authenticated
    assert not _scratch_login(sshd, machine, enrolled, code).authenticated


def test_scratch_code_second_use_logged_wrong_code(sshd, machine, enrolled):
    code = enrolled.scratch_codes()[0]
    assert _scratch_login(sshd, machine, enrolled, code).authenticated
    mark = machine.module_log.mark()
    assert not _scratch_login(sshd, machine, enrolled, code).authenticated
    machine.module_log.wait_for(mark, "pam_totp", enrolled.name, "wrong-code")


def test_new_code_logs_in_after_refusals(sshd, machine, enrolled):
    assert not login(sshd, enrolled.name, key=machine.key, answers=[enrolled.wrong_code()]).authenticated
    assert not _reuse(sshd, machine, enrolled).authenticated
    assert not login(sshd, enrolled.name, key=machine.key).authenticated
    r = ok_login(sshd, enrolled, machine.key, enrolled.code(1), command="true")
    assert r.authenticated and r.exit == 0


# ------------------------------------------------------------------ not enrolled
# pam_totp is changing so that an unknown user and a user without an enrollment
# (no nullok) see exactly the prompts and messages of a wrong code. These tests
# assert the refusal and the log line, not which prompts came first, so they hold
# before and after that change.

def test_not_enrolled_refused_without_nullok(sshd, machine, not_enrolled):
    r = login(sshd, not_enrolled.name, key=machine.key, answers=["123456"])
    assert r.publickey == "partial" and not r.authenticated


def test_not_enrolled_logged_not_enrolled(sshd, machine, not_enrolled):
    mark = machine.module_log.mark()
    assert not login(sshd, not_enrolled.name, key=machine.key, answers=["123456"]).authenticated
    machine.module_log.wait_for(mark, "pam_totp", not_enrolled.name, "not-enrolled", reason="no secret file ")


# ------------------------------------------------------------------ rate limit
# RATE_LIMIT 3 30: three tries in 30 seconds, then refused. A rate-limited
# client first gets the usual "Verification code:" prompt, and the "Too many
# login attempts..." message only after answering (what the client is shown
# does not say that the limit is reached before it answers).

RATE_LIMITED = ["-t", "-d", "-W", "-r", "3", "-R", "30", "-e", "0", "-Q", "NONE", "-C"]
THROTTLED = "Too many login attempts. Please try again in"


@pytest.fixture
def rate_limited(users, install):
    user = users.add("r")
    p = enroll(install, user, RATE_LIMITED)
    assert p.returncode == 0, p.stdout + p.stderr
    return user


def test_enroll_with_rate_limit(users, install):
    user = users.add("r")
    p = enroll(install, user, RATE_LIMITED)
    assert p.returncode == 0, p.stdout + p.stderr
    with open(user.secret_file) as f:
        assert '" RATE_LIMIT 3 30' in f.read().splitlines()


def _fourth_try(sshd, machine, user):
    wrong = user.wrong_code()
    for _ in range(3):
        assert not login(sshd, user.name, key=machine.key, answers=[wrong]).authenticated
    return login(sshd, user.name, key=machine.key, answers=[wrong, wrong])


def test_rate_limit_refuses_fourth_try_and_client_told_why(sshd, machine, rate_limited):
    r = _fourth_try(sshd, machine, rate_limited)
    assert not r.authenticated
    assert r.was_shown(THROTTLED), r.shown
    asked = next(i for i, s in enumerate(r.shown) if "Verification code:" in s)
    told = next(i for i, s in enumerate(r.shown) if THROTTLED in s)
    assert asked < told, r.shown


def test_rate_limit_logged_throttled(sshd, machine, rate_limited):
    wrong = rate_limited.wrong_code()
    for _ in range(3):
        assert not login(sshd, rate_limited.name, key=machine.key, answers=[wrong]).authenticated
    mark = machine.module_log.mark()
    assert not login(sshd, rate_limited.name, key=machine.key, answers=[wrong, wrong]).authenticated
    machine.module_log.wait_for(mark, "pam_totp", rate_limited.name, "throttled")


# ------------------------------------------------------------------ nullok (the shipped example as it is)

def test_nullok_not_enrolled_logs_in_without_code(nullok_sshd, machine, not_enrolled):
    r = login(nullok_sshd, not_enrolled.name, key=machine.key, answers=[], command=CMD)
    assert r.authenticated and r.prompts == []
    assert r.stdout == "e2e-ok %s\n" % not_enrolled.name


def test_nullok_not_enrolled_logged_nullok(nullok_sshd, machine, not_enrolled):
    mark = machine.module_log.mark()
    assert login(nullok_sshd, not_enrolled.name, key=machine.key, answers=[], command="true").authenticated
    machine.module_log.wait_for(mark, "pam_totp", not_enrolled.name, "not-enrolled", reason="no secret file; nullok")


def test_nullok_enrolled_wrong_code_refused(nullok_sshd, machine, enrolled):
    assert not login(nullok_sshd, enrolled.name, key=machine.key, answers=[enrolled.wrong_code()]).authenticated


def test_nullok_enrolled_right_code_logs_in(nullok_sshd, machine, enrolled):
    r = ok_login(nullok_sshd, enrolled, machine.key, enrolled.code(0), command="true")
    assert r.authenticated and r.exit == 0
