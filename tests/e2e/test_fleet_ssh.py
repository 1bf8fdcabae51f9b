"""The fleet store end to end: a PostgreSQL server started for the module
(TLS on 127.0.0.1 with a test CA, client certificates for two host logins and
an admin login), two sshd "hosts" whose pam_totp reads it (store=postgres),
and a user enrolled with the installed totp-enroll --store postgres. A code
used on one host is refused on the other, and the client is told why.
"""
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time

import pytest

import machine as m
import otp
import shipped
from sshclient import login

CMD = "echo e2e-ok $(id -un)"
REUSED = "This verification code was already used. Wait for the next code and try again."
SCHEMA_INSTALLED = "/usr/share/pam_totp/fleet.sql"
SCHEMA_CHECKOUT = os.path.join(m.REPO, "pam_totp", "sql", "fleet.sql")


def _bin():
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    return dirs[-1] if dirs else None


def _free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Database:
    """A throwaway PostgreSQL server with the fleet schema, run as postgres."""

    def __init__(self, schema):
        self.bin = _bin()
        self.dir = tempfile.mkdtemp(prefix="pge", dir="/tmp")
        os.chmod(self.dir, 0o755)
        self.data = os.path.join(self.dir, "data")
        self.sock = os.path.join(self.dir, "s")
        self.port = _free_port()
        pg = pwd.getpwnam("postgres")
        for d in (self.data, self.sock):
            os.mkdir(d, 0o700)
            os.chown(d, pg.pw_uid, pg.pw_gid)
        self._ssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                  "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=e2e fleet CA")
        with open(os.path.join(self.dir, "server.ext"), "w") as f:
            f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
        self._cert("server", "localhost", "server.ext")
        self._as_postgres("initdb", "-D", self.data, "-A", "trust", "-U", "postgres", "--no-sync")
        for name in ("server.crt", "server.key", "ca.crt"):
            to = os.path.join(self.data, name)
            shutil.copy(os.path.join(self.dir, name), to)
            os.chown(to, pg.pw_uid, pg.pw_gid)
            os.chmod(to, 0o600)
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write("listen_addresses = '127.0.0.1'\nport = %d\nunix_socket_directories = '%s'\n"
                    "ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n"
                    "ssl_ca_file = 'ca.crt'\nfsync = off\n" % (self.port, self.sock))
        with open(os.path.join(self.data, "pg_hba.conf"), "w") as f:
            f.write("local all all trust\nhostssl all all 127.0.0.1/32 cert\n")
        log = os.path.join(self.dir, "server.log")
        open(log, "w").close()
        os.chown(log, pg.pw_uid, pg.pw_gid)
        self._as_postgres("pg_ctl", "-D", self.data, "-l", log, "-w", "-t", "30", "start")
        self.psql("postgres", "CREATE DATABASE pam_totp")
        m.run([os.path.join(self.bin, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", self.sock,
               "-p", str(self.port), "-U", "postgres", "-d", "pam_totp", "-f", schema], check=True)

    def _ssl(self, *args):
        subprocess.run(["openssl", *args], cwd=self.dir, check=True, capture_output=True)

    def _cert(self, name, cn, ext=None):
        self._ssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                  "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + cn)
        extra = ["-extfile", ext] if ext else []
        self._ssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                  "-CAcreateserial", "-out", name + ".crt", "-days", "2", *extra)

    def _as_postgres(self, program, *args):
        m.run(["runuser", "-u", "postgres", "--", os.path.join(self.bin, program), *args], check=True)

    def psql(self, db, sql):
        p = m.run([os.path.join(self.bin, "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                   "-h", self.sock, "-p", str(self.port), "-U", "postgres", "-d", db, "-c", sql], check=True)
        return p.stdout.strip()

    def login(self, name, role):
        """A login in ROLE with a client certificate; its connection file (root's, 0600)."""
        self.psql("pam_totp", 'CREATE ROLE "%s" LOGIN IN ROLE %s' % (name, role))
        self._cert(name, name)
        conf = os.path.join(self.dir, name + ".conf")
        with open(conf, "w") as f:
            f.write("connection = host=localhost hostaddr=127.0.0.1 port=%d dbname=pam_totp user=%s "
                    "sslmode=verify-full sslrootcert=%s/ca.crt sslcert=%s/%s.crt sslkey=%s/%s.key\n"
                    % (self.port, name, self.dir, self.dir, name, self.dir, name))
        for p in (conf, os.path.join(self.dir, name + ".key")):
            os.chmod(p, 0o600)
        return conf

    def stop(self):
        try:
            self._as_postgres("pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def database(machine, install):
    if not _bin() or not shutil.which("openssl"):
        pytest.fail("PostgreSQL and openssl are needed (scripts/deps.sh --e2e)", pytrace=False)
    schema = SCHEMA_INSTALLED if install.method != "setup.sh" and os.path.exists(SCHEMA_INSTALLED) \
        else SCHEMA_CHECKOUT
    db = Database(schema)
    yield db
    db.stop()


@pytest.fixture(scope="module")
def fleet_hosts(sshd_hosts, install, database):
    hosts = []
    for i in (1, 2):
        conf = database.login("host%d" % i, "pam_totp_host")
        text = shipped.sshd_pam(install.examples, nullok=False, header=[
            "Private PAM service of the end-to-end suite (tests/e2e): fleet host %d." % i])
        text = text.replace("pam_totp.so", "pam_totp.so store=postgres store_conf=%s" % conf, 1)
        hosts.append(sshd_hosts.private("fleet%d" % i, text))
    yield hosts
    for h in hosts:
        sshd_hosts.stop(h)


@pytest.fixture
def fleet_user(users, install, database):
    user = users.add("f")
    admin = os.path.join(database.dir, "admin1.conf")
    if not os.path.exists(admin):
        database.login("admin1", "pam_totp_admin")
    # --force: a user of an earlier test may have had the same name.
    p = m.run([install.enroll, "--store", "postgres", "--store-conf", admin, "--user", user.name, "--force",
               "-t", "-d", "-W", "-u", "-e", "0", "-C", "--json"])
    assert p.returncode == 0, p.stdout + p.stderr
    import json
    user.fleet_secret = json.loads(p.stdout)["secret"]
    assert not os.path.exists(user.secret_file), "nothing was written in the home"
    return user


def fleet_code(user, offset=0):
    return otp.hotp(otp.decode(user.fleet_secret), int(time.time()) // 30 + offset)


def test_fleet_code_logs_in_on_one_host_and_is_refused_on_the_other_with_the_reason(
        fleet_hosts, machine, fleet_user):
    one, two = fleet_hosts
    code = fleet_code(fleet_user)
    r = login(one, fleet_user.name, key=machine.key, answers=[code], command=CMD)
    assert r.authenticated and (r.exit, r.stdout) == (0, "e2e-ok %s\n" % fleet_user.name), r.shown
    mark = machine.module_log.mark()
    r = login(two, fleet_user.name, key=machine.key, answers=[code])
    assert not r.authenticated
    assert r.was_shown(REUSED), r.shown
    machine.module_log.wait_for(mark, "pam_totp", fleet_user.name, "reused")


def test_fleet_next_code_logs_in_on_the_other_host(fleet_hosts, machine, fleet_user):
    one, two = fleet_hosts
    assert login(one, fleet_user.name, key=machine.key, answers=[fleet_code(fleet_user)]).authenticated
    r = login(two, fleet_user.name, key=machine.key, answers=[fleet_code(fleet_user, 1)], command=CMD)
    assert r.authenticated, r.shown


def test_fleet_user_not_enrolled_is_refused_and_logged(fleet_hosts, machine, users):
    user = users.add("n")
    mark = machine.module_log.mark()
    assert not login(fleet_hosts[0], user.name, key=machine.key, answers=["123456"]).authenticated
    machine.module_log.wait_for(mark, "pam_totp", user.name, "not-enrolled")
