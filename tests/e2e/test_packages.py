"""The two Debian packages as an admin meets them: libpam-totp alone (no PAM
stack changes), then libpam-policy (pam_policy.so in pam_pwquality's place),
an upgrade of both to a newer version with the admin's changes kept, then
removal and purge (pam_pwquality back). /etc/pam.d/common-password and
common-auth are read before and after each step.

Also what the packages are made of: lintian (0 errors, 0 warnings), two builds
of one tree give byte-identical .debs, debian/copyright matches Cargo.lock,
the module directory is libpam's own (pkg-config).

Private mode only (deb): the journey removes the session's installation first
and installs it again at the end; the machine's own installation (--system)
is never touched.
"""
import os
import re
import shutil
import subprocess
import tempfile

import pytest

import machine as m

COMMON = ("/etc/pam.d/common-password", "/etc/pam.d/common-auth")
ADMIN_OPTIONS = "minlen=12 difok=4"


def read(path):
    with open(path) as f:
        return f.read()


def snapshot():
    return {f: read(f) for f in COMMON}


def password_lines(text):
    return [re.sub(r"\s+", " ", l).strip() for l in text.splitlines() if re.match(r"^password\s", l)]


def build_debs(out, changelog=None):
    argv = ["sh", os.path.join(m.REPO, "packaging", "build-debs.sh"), "--out", out]
    if changelog:
        argv += ["--changelog", changelog]
    p = m.run(argv, timeout=3600)
    assert p.returncode == 0, p.stdout + p.stderr
    return m.debs_in(out)


def need_build_tools():
    missing = [c for c in ("cargo", "dpkg-buildpackage", "dh") if not shutil.which(c)]
    if missing:
        pytest.skip("cannot build the packages here: no %s" % ", ".join(missing))


@pytest.fixture(scope="module")
def next_debs(machine, debs):
    """The same packages with a newer version: debian/changelog with one more
    entry (only packaging is redone; cargo's build is reused)."""
    need_build_tools()
    version = subprocess.run(["dpkg-deb", "-f", debs["libpam-totp"], "Version"], capture_output=True,
                             text=True, check=True).stdout.strip()
    newer = version + "+e2e1"
    changelog = os.path.join(machine.dir, "changelog-next")
    with open(changelog, "w") as f:
        f.write("pam-hardening (%s) unstable; urgency=medium\n\n  * Upgrade test of the end-to-end suite.\n\n"
                " -- pam-hardening maintainers <pam-hardening@example.invalid>  Thu, 03 Dec 2026 00:00:00 +0000\n\n"
                % newer)
        f.write(read(os.path.join(m.REPO, "debian", "changelog")))
    return newer, build_debs(os.path.join(machine.dir, "debs-next"), changelog)


class Journey:
    def __init__(self):
        self.states = {}
        self.results = {}
        self.versions = {}


@pytest.fixture(scope="module")
def journey(install, next_debs):
    """Runs the admin's steps once; each test reads one of them."""
    if install.method != "deb":
        pytest.skip("only for the deb install method")
    newer, next_ = next_debs
    j = Journey()
    assert install.purge().returncode == 0
    install.pam_state.restore()
    try:
        j.states["before"] = snapshot()
        j.results["totp"] = install.install_one("libpam-totp")
        j.states["totp"] = snapshot()
        j.results["policy"] = install.install_one("libpam-policy")
        j.states["policy"] = snapshot()
        # Running the maintainer script again changes nothing.
        j.results["postinst-again"] = m.run(["/var/lib/dpkg/info/libpam-policy.postinst", "configure"],
                                            env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
        j.states["postinst-again"] = snapshot()
        # The admin tightens the policy on the line pam-auth-update wrote.
        text = read(COMMON[0])
        edited = re.sub(r"^(password\s+requisite\s+pam_policy\.so retry=3)$", r"\1 " + ADMIN_OPTIONS, text,
                        count=1, flags=re.M)
        j.edited = edited != text
        with open(COMMON[0], "w") as f:
            f.write(edited)
        for package in m.PACKAGES:
            j.results["upgrade-" + package] = install.install_one(package, next_[package])
            j.versions[package] = m.package_version(package)
        j.states["upgraded"] = snapshot()
        j.newer = newer
        j.results["remove-policy"] = install.dpkg("--remove", "libpam-policy")
        j.states["policy-removed"] = snapshot()
        j.results["purge"] = install.purge()
        j.states["purged"] = snapshot()
        yield j
    finally:
        if any(m.package_present(p) for p in m.PACKAGES):
            install.purge()
        install.pam_state.restore()
        install.install()


@pytest.mark.install("deb")
def test_libpam_totp_alone_changes_no_pam_stack(journey):
    assert journey.results["totp"].returncode == 0
    assert journey.states["totp"] == journey.states["before"]


@pytest.mark.install("deb")
def test_libpam_totp_ships_no_pam_auth_update_profile(journey, debs):
    listed = m.run(["dpkg-deb", "-c", debs["libpam-totp"]], check=True).stdout
    assert "pam-configs" not in listed
    scripts = m.run(["dpkg-deb", "-I", debs["libpam-totp"]], check=True).stdout
    assert not re.search(r"\b(postinst|prerm|postrm|preinst)\b", scripts), scripts


@pytest.mark.install("deb")
def test_libpam_policy_takes_pam_pwquality_s_place(journey):
    before = password_lines(journey.states["before"][COMMON[0]])
    after = password_lines(journey.states["policy"][COMMON[0]])
    assert "password requisite pam_policy.so retry=3" in after
    assert not [l for l in after if "pam_pwquality.so" in l]
    if "password requisite pam_pwquality.so retry=3" in before:
        # Exactly in its place: the same lines, one module name changed.
        assert after == [l.replace("pam_pwquality.so", "pam_policy.so") for l in before]


@pytest.mark.install("deb")
def test_libpam_policy_leaves_common_auth_alone(journey):
    assert journey.states["policy"][COMMON[1]] == journey.states["before"][COMMON[1]]


@pytest.mark.install("deb")
def test_libpam_policy_postinst_again_changes_nothing(journey):
    assert journey.results["postinst-again"].returncode == 0
    assert journey.states["postinst-again"] == journey.states["policy"]


@pytest.mark.install("deb")
def test_upgrade_installs_the_newer_version(journey):
    for package in m.PACKAGES:
        assert journey.results["upgrade-" + package].returncode == 0
        assert journey.versions[package] == journey.newer


@pytest.mark.install("deb")
def test_upgrade_keeps_the_admin_s_options(journey):
    assert journey.edited
    lines = password_lines(journey.states["upgraded"][COMMON[0]])
    # pam-auth-update keeps added options, in its own order.
    ours = [set(l.split()) for l in lines if "pam_policy.so" in l.split()]
    assert ours and ours[0] >= set(("password requisite pam_policy.so retry=3 " + ADMIN_OPTIONS).split()), lines


@pytest.mark.install("deb")
def test_upgrade_leaves_common_auth_alone(journey):
    assert journey.states["upgraded"][COMMON[1]] == journey.states["before"][COMMON[1]]


@pytest.mark.install("deb")
def test_removing_libpam_policy_takes_it_out_of_common_password(journey):
    assert journey.results["remove-policy"].returncode == 0
    assert "pam_policy.so" not in journey.states["policy-removed"][COMMON[0]]


@pytest.mark.install("deb")
def test_removing_libpam_policy_gives_pam_pwquality_its_place_back(journey):
    if not os.path.exists("/usr/share/pam-configs/pwquality"):
        pytest.skip("libpam-pwquality is not installed")
    assert password_lines(journey.states["policy-removed"][COMMON[0]]) == \
        password_lines(journey.states["before"][COMMON[0]])


@pytest.mark.install("deb")
def test_purge_leaves_the_pam_stack_as_before_install(journey):
    assert journey.results["purge"].returncode == 0
    assert journey.states["purged"] == journey.states["before"]


# ------------------------------------------------------------------ what the packages are made of

@pytest.fixture(scope="module")
def built_debs(machine, request):
    """The packages, for the checks that read them (private mode: --system has
    no build tools and reads the machine's installation)."""
    if machine.system and not request.config.getoption("--debs"):
        pytest.skip("--system: no build tools here; lintian, reproducibility and copyright are "
                    "checked where the packages are built (the host's run of the suite)")
    return request.getfixturevalue("debs")


def lintian_findings(debs):
    if not shutil.which("lintian"):
        pytest.skip("no lintian (scripts/deps.sh --e2e installs it)")
    p = m.run(["lintian", "--fail-on", "none", *debs.values()], timeout=600)
    return [l for l in p.stdout.splitlines() if re.match(r"^[EW]: ", l)], p


def test_lintian_has_no_errors_or_warnings(machine, built_debs):
    debs = built_debs
    findings, p = lintian_findings(debs)
    assert findings == [], p.stdout + p.stderr


def test_two_builds_give_byte_identical_debs(machine, built_debs):
    debs = built_debs
    """A second dpkg-buildpackage run of the same tree (cargo's output reused,
    everything after it redone: install, strip, man pages, changelog,
    control, md5sums, the archives) gives the same bytes."""
    need_build_tools()
    again = build_debs(tempfile.mkdtemp(prefix="debs-again.", dir=machine.dir))
    for package in m.PACKAGES:
        with open(debs[package], "rb") as a, open(again[package], "rb") as b:
            same = a.read() == b.read()
        if not same:
            diff = m.run(["sh", "-c", 'cmp "$0" "$1"; dpkg-deb -c "$0" > "$0.c"; dpkg-deb -c "$1" > "$1.c";'
                                      ' diff "$0.c" "$1.c"', debs[package], again[package]]).stdout
            pytest.fail("%s differs between two builds:\n%s" % (package, diff))


def test_debian_copyright_matches_cargo_lock(machine):
    if machine.system or not shutil.which("cargo"):
        pytest.skip("needs cargo (private mode)")
    p = m.run(["python3", os.path.join(m.REPO, "scripts", "debian-copyright.py"), "--check"])
    assert p.returncode == 0, p.stdout + p.stderr


def test_packaged_copyright_is_the_generated_one(machine, built_debs):
    debs = built_debs
    want = read(os.path.join(m.REPO, "debian", "copyright"))
    for package, deb in debs.items():
        got = m.run(["sh", "-c", 'dpkg-deb --fsys-tarfile "$0" | tar -xOf - ./usr/share/doc/$1/copyright',
                     deb, package], check=True).stdout
        assert got == want, package
        # Every crate linked into this package's binaries is named in it.
        assert "cargo-registry/" in got


def test_modules_go_to_libpam_s_module_directory(machine, built_debs):
    debs = built_debs
    libdir = m.run(["pkg-config", "--variable=libdir", "pam"], check=True).stdout.strip()
    for package, module in (("libpam-totp", "pam_totp.so"), ("libpam-policy", "pam_policy.so")):
        listed = m.run(["dpkg-deb", "-c", debs[package]], check=True).stdout
        assert "." + os.path.join(libdir, "security", module) in listed, listed
