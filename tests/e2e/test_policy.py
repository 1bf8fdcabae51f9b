"""pam_policy through pamtester, passwd and an expired password at ssh login,
with pam_unix.so use_authtok after it. The expected BAD PASSWORD message is
what pam-policy-check says for the same password under the same options.
"""
import pytest

from conftest import PW_INITIAL, PW_STRONG, PW_STRONG2, PW_WEAK, Policy, enroll, write_service
from sshclient import login


@pytest.fixture
def weak_reason(policy, install, pw_user):
    reasons = policy.expected_reasons(install, pw_user, PW_WEAK)
    assert reasons, "pam-policy-check does not find %r weak under %s" % (PW_WEAK, policy.options)
    return reasons[0]


# ------------------------------------------------------------------ pamtester as the user

def _pamtester_weak(policy, user):
    # pam_unix asks for the current password, pam_policy for the new one.
    return policy.talk([PW_INITIAL] + [PW_WEAK] * 4, policy.pamtester(user, as_user=True, rhost="192.0.2.10"))


def test_pamtester_as_user_refuses_weak_password_with_message(policy, pw_user, weak_reason):
    status, out = _pamtester_weak(policy, pw_user)
    assert weak_reason in out
    assert "successfully" not in out and status != 0


def test_pamtester_as_user_weak_password_leaves_shadow(policy, pw_user):
    before = pw_user.shadow()
    _pamtester_weak(policy, pw_user)
    assert pw_user.shadow() == before


def test_pamtester_as_user_weak_password_logged_rejected(policy, machine, pw_user):
    mark = machine.module_log.mark()
    _pamtester_weak(policy, pw_user)
    line = machine.module_log.wait_for(mark, "pam_policy", pw_user.name, "rejected")
    assert line.rhost == "192.0.2.10"


# ------------------------------------------------------------------ passwd as the user
# passwd is setuid root, run with the user's real uid; private mode binds the
# private stack over /etc/pam.d/passwd for that one command.

def _passwd(policy, user, answers):
    return policy.talk(answers, policy.passwd(user))


def _passwd_weak(policy, user):
    return _passwd(policy, user, [PW_INITIAL] + [PW_WEAK] * 5)


def test_passwd_refuses_weak_password_at_every_try(policy, pw_user, weak_reason):
    status, out = _passwd_weak(policy, pw_user)
    assert out.count(weak_reason) >= 1
    assert "password unchanged" in out and status != 0


def test_passwd_weak_password_leaves_shadow(policy, pw_user):
    before = pw_user.shadow()
    _passwd_weak(policy, pw_user)
    assert pw_user.shadow() == before


def test_passwd_weak_password_logged_rejected(policy, machine, pw_user):
    mark = machine.module_log.mark()
    _passwd_weak(policy, pw_user)
    machine.module_log.wait_for(mark, "pam_policy", pw_user.name, "rejected")


def _passwd_strong(policy, user):
    return _passwd(policy, user, [PW_INITIAL, PW_STRONG, PW_STRONG])


def test_passwd_accepts_strong_password(policy, pw_user):
    status, out = _passwd_strong(policy, pw_user)
    assert "password updated successfully" in out and status == 0


def test_passwd_strong_password_stored(policy, pw_user):
    _passwd_strong(policy, pw_user)
    assert pw_user.password_is(PW_STRONG)


def test_passwd_strong_password_logged_accepted(policy, machine, pw_user):
    mark = machine.module_log.mark()
    _passwd_strong(policy, pw_user)
    machine.module_log.wait_for(mark, "pam_policy", pw_user.name, "accepted")


# ------------------------------------------------------------------ pamtester as root

def _pamtester_root_strong(policy, user):
    return policy.talk([PW_STRONG2, PW_STRONG2], policy.pamtester(user))


@pytest.mark.smoke
def test_pamtester_as_root_accepts_strong_password(policy, pw_user):
    status, out = _pamtester_root_strong(policy, pw_user)
    assert "successfully" in out and status == 0


@pytest.mark.smoke
def test_pamtester_as_root_strong_password_stored(policy, pw_user):
    _pamtester_root_strong(policy, pw_user)
    assert pw_user.password_is(PW_STRONG2)


# ------------------------------------------------------------------ root with enforce_for_root, beside pam_pwquality

SHORT = "BAD PASSWORD: The password is shorter than 10 characters"


def _root_weak(policy, user, service):
    return policy.talk([PW_WEAK] * 3, policy.pamtester(user, service=service, rhost="192.0.2.11"))


@pytest.mark.smoke
def test_enforce_for_root_refuses_weak_password_three_times(policy, root_services, pw_user):
    status, out = _root_weak(policy, pw_user, root_services[0])
    assert out.count(SHORT) == 3, out
    assert "successfully" not in out and status != 0


def test_enforce_for_root_weak_password_leaves_shadow(policy, root_services, pw_user):
    before = pw_user.shadow()
    _root_weak(policy, pw_user, root_services[0])
    assert pw_user.shadow() == before


def test_enforce_for_root_logged_maxtries(policy, root_services, machine, pw_user):
    mark = machine.module_log.mark()
    _root_weak(policy, pw_user, root_services[0])
    machine.module_log.wait_for(mark, "pam_policy", pw_user.name, "maxtries")


def test_enforce_for_root_same_messages_as_pam_pwquality(policy, root_services, pw_user):
    import os
    import machine as m
    if not os.path.exists(os.path.join(m.security_dir(), "pam_pwquality.so")):
        pytest.skip("pam_pwquality.so is not installed (libpam-pwquality)")
    _, ours = _root_weak(policy, pw_user, root_services[0])
    _, theirs = _root_weak(policy, pw_user, root_services[1])
    bad = lambda text: [l for l in text.splitlines() if "BAD PASSWORD" in l]  # noqa: E731
    assert bad(ours) and bad(ours) == bad(theirs)


# ------------------------------------------------------------------ expired password at ssh login
# After the code, sshd runs the PAM password stack inside the keyboard-interactive
# exchange: pam_unix asks for the current password, pam_policy refuses the weak
# new one and accepts the strong one.

EXPIRED_ENROLL = ["-t", "-D", "-w", "17", "-u", "-e", "0", "-Q", "NONE", "-C"]


@pytest.fixture
def expired(pw_user, install):
    import machine as m
    m.run(["chage", "-d", "0", pw_user.name], check=True)
    p = enroll(install, pw_user, EXPIRED_ENROLL)
    assert p.returncode == 0, p.stdout + p.stderr
    return pw_user


def _expired_login(sshd, machine, user):
    return login(sshd, user.name, key=machine.key,
                 answers=[user.code(0), PW_INITIAL, PW_WEAK, PW_STRONG, PW_STRONG], command="true")


def test_expired_password_user_enrolls(pw_user, install):
    p = enroll(install, pw_user, EXPIRED_ENROLL)
    assert p.returncode == 0, p.stdout + p.stderr


def test_expired_password_login_refuses_weak_then_accepts_strong(sshd, machine, policy, install, expired):
    reason = policy.expected_reasons(install, expired, PW_WEAK)[0]
    r = _expired_login(sshd, machine, expired)
    assert r.authenticated and r.exit == 0
    text = r.shown_text
    assert "required to change your password" in text
    first = text.find("New password")
    # The message comes before pam_policy asks again.
    assert first >= 0 and first < text.find(reason, first) < text.find("New password", first + 1), r.shown


def test_expired_password_login_stores_new_password(sshd, machine, expired):
    assert _expired_login(sshd, machine, expired).authenticated
    assert expired.password_is(PW_STRONG)


def test_expired_password_login_logged_rejected(sshd, machine, expired):
    mark = machine.module_log.mark()
    _expired_login(sshd, machine, expired)
    line = machine.module_log.wait_for(mark, "pam_policy", expired.name, "rejected")
    assert line.rhost == "127.0.0.1"


def test_expired_password_login_logged_accepted(sshd, machine, expired):
    mark = machine.module_log.mark()
    _expired_login(sshd, machine, expired)
    machine.module_log.wait_for(mark, "pam_policy", expired.name, "accepted")


# ------------------------------------------------------------------ breachlist= through passwd
# A filter built by pam-policy-check --build-breach-filter from a generated list
# in the HIBP SHA1:COUNT format that holds PW_STRONG; the private passwd stack
# gets breachlist= on its pam_policy line.

BREACHED = "BAD PASSWORD: The password has appeared in a data breach; choose one that has not"


@pytest.fixture(scope="module")
def breach_policy(machine, install):
    import hashlib
    import os
    import random
    import shipped
    import machine as m
    if install.method == "system":
        pytest.skip("private mode only: the breach filter is set on a private passwd stack")
    rng = random.Random(13)
    lines = ["%040X:%d" % (rng.getrandbits(160), rng.randint(1, 9999)) for _ in range(20000)]
    lines.insert(rng.randint(0, len(lines)), "%s:4242" % hashlib.sha1(PW_STRONG.encode()).hexdigest().upper())
    listing = os.path.join(machine.dir, "hibp-sample.txt")
    with open(listing, "w", newline="") as f:
        f.write("\r\n".join(lines) + "\r\n")
    filt = os.path.join(machine.dir, "breach.filter")
    p = m.run([install.checker, "--build-breach-filter", filt, listing])
    assert p.returncode == 0 and "20001 hashes" in p.stdout, p.stdout + p.stderr
    undo = []
    stack = os.path.join(machine.dir, "passwd-stack-breach")
    write_service(stack, shipped.password_stack(install.examples, extra="breachlist=" + filt), undo)
    yield Policy(machine, None, shipped.policy_options(install.examples) + ["breachlist=" + filt], stack)
    for fn in undo:
        fn()


def test_passwd_refuses_a_breached_password(breach_policy, pw_user):
    before = pw_user.shadow()
    status, out = _passwd(breach_policy, pw_user, [PW_INITIAL] + [PW_STRONG] * 6)
    assert BREACHED in out, out
    assert "password unchanged" in out and status != 0
    assert pw_user.shadow() == before


def test_passwd_breached_password_logged_rejected(breach_policy, machine, pw_user):
    mark = machine.module_log.mark()
    _passwd(breach_policy, pw_user, [PW_INITIAL] + [PW_STRONG] * 6)
    machine.module_log.wait_for(mark, "pam_policy", pw_user.name, "rejected", "The password has appeared")


def test_passwd_accepts_a_password_not_in_the_breach_filter(breach_policy, pw_user):
    status, out = _passwd(breach_policy, pw_user, [PW_INITIAL, PW_STRONG2, PW_STRONG2])
    assert "password updated successfully" in out and status == 0, out
    assert pw_user.password_is(PW_STRONG2)


def test_checker_names_the_breach_like_passwd(breach_policy, install, pw_user):
    assert breach_policy.expected_reasons(install, pw_user, PW_STRONG) == [BREACHED]


# ------------------------------------------------------------------ the shared pwquality.conf.d
# libpwquality, pwscore and desktops share /etc/security/pwquality.conf(.d): a
# setting pam_policy does not know there is a logged warning, not a reason to
# fail every password change.

@pytest.fixture
def shared_unknown_key():
    import os
    import machine as m
    d = "/etc/security/pwquality.conf.d"
    made = not os.path.isdir(d)
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "zz-pam-e2e-%d.conf" % m.TAG)
    with open(path, "w") as f:
        f.write("# written by the pam-hardening end-to-end suite, removed after the test\nallowclasses = 3\n")
    yield path
    os.unlink(path)
    if made:
        os.rmdir(d)


@pytest.mark.install("setup.sh", "deb")
def test_unknown_key_in_shared_conf_is_a_warning_not_a_failure(policy, machine, pw_user, shared_unknown_key):
    mark = machine.module_log.mark()
    status, out = _passwd_strong(policy, pw_user)
    assert "password updated successfully" in out and status == 0, out
    line = machine.module_log.wait_for(mark, "pam_policy", pw_user.name, "config-warning",
                                       shared_unknown_key + ":2: unknown setting")
    assert "allowclasses" in line.reason
