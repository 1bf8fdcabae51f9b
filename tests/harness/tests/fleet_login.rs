//! pam_totp with `store=postgres` through the real libpam, against a real
//! PostgreSQL server over TLS with two host logins (two "hosts"): one code
//! or scratch code accepted once however many logins race for it across
//! both, the rate limit shared, re-enrollment, and a database that is
//! stopped or paused (refused in time, or the local file with `on_store_error=local`).
//!
//! `PAM_TOTP_FLEET_ROUNDS` (default 200) sets the race rounds.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use pam_harness::totp::{Enrollment, SECRET, code, current_user, step};
use pam_harness::{Service, assert_one_winner, race};
use test_support::postgres::{self, Server};
use test_support::{required_in_ci, settle};

const RACERS: usize = 32;
/// `SECRET` (JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP) as bytes.
const SECRET_HEX: &str = "48656c6c6f21deadbeef48656c6c6f21deadbeef";

fn schema() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../pam_totp/sql/fleet.sql")
}

/// A server, and for each host its connection file (mode 0600).
struct Fleet {
    pg: Server,
    confs: Vec<PathBuf>,
}

fn fleet(hosts: usize) -> Option<Fleet> {
    if !required_in_ci(postgres::available(), "PostgreSQL (postgresql) and openssl") {
        eprintln!("note: PostgreSQL is not installed; the fleet store is not tried");
        return None;
    }
    let pg = Server::start(&schema());
    let confs = (1..=hosts)
        .map(|i| {
            let name = format!("host{i}");
            let (crt, key) = pg.host_login(&name, "pam_totp_host");
            let conf = pg.dir.join(format!("{name}.conf"));
            std::fs::write(
                &conf,
                format!(
                    "connection = {}\nconnect_timeout = 2\nstatement_timeout = 1000\n",
                    pg.conninfo(&name, &crt, &key)
                ),
            )
            .unwrap_or_else(|e| panic!("{e}"));
            std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o600))
                .unwrap_or_else(|e| panic!("{e}"));
            conf
        })
        .collect();
    Some(Fleet { pg, confs })
}

impl Fleet {
    fn enroll(&self, settings: &str) {
        self.pg.psql(
            "pam_totp",
            &format!(
                "SELECT pam_totp.enroll('{}', '\\x{SECRET_HEX}'::bytea, ARRAY[12345678, 87654321]{settings})",
                current_user()
            ),
        );
    }

    fn service(&self, host: usize, extra: &str) -> Service {
        Service::new(&format!(
            "auth required {{totp}} store=postgres store_conf={} {extra}",
            self.confs[host].display()
        ))
    }
}

fn rounds() -> usize {
    std::env::var("PAM_TOTP_FLEET_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200)
}

#[test]
fn a_code_used_on_one_host_is_refused_on_the_other_with_the_reason() {
    let Some(f) = fleet(2) else { return };
    settle(5);
    f.enroll("");
    let c = code(SECRET, step());
    let user = current_user();
    let first = f.service(0, "").user(&user).answer(&c).authenticate().run();
    first.expect("PAM_SUCCESS");
    // sshd runs each authentication in a forked child: when the call
    // returns, no thread and no socket of the store's may be left.
    assert_eq!(first.report.threads_after, 1, "{first}");
    assert_eq!(first.report.sockets_after, Vec::<String>::new(), "{first}");
    let out = f.service(1, "").user(&user).answer(&c).authenticate().run();
    out.expect("PAM_AUTH_ERR");
    assert_eq!(out.errors(), [pam_totp::messages::REUSED], "{out}");
    assert!(out.decision_line().contains("outcome=reused"), "{out}");
    // A wrong code, and a user who is not enrolled (nullok: ignored).
    f.service(1, "")
        .user(&user)
        .answer("000000")
        .authenticate()
        .run()
        .expect("PAM_AUTH_ERR");
    f.pg.psql("pam_totp", &format!("SELECT pam_totp.remove('{user}')"));
    // nullok: PAM_IGNORE, which libpam turns into PAM_PERM_DENIED in a stack of one.
    let out = f.service(0, "nullok").user(&user).authenticate().run();
    out.expect("PAM_PERM_DENIED");
    assert!(out.prompts().is_empty(), "{out}");
    assert!(
        out.decision_line().contains("outcome=not-enrolled"),
        "{out}"
    );
    let out = f.service(0, "").user(&user).answer(&c).authenticate().run();
    out.expect("PAM_AUTH_ERR");
    assert!(
        out.decision_line().contains("outcome=not-enrolled"),
        "{out}"
    );
}

#[test]
fn one_code_is_accepted_once_across_two_hosts_however_many_race() {
    let Some(f) = fleet(2) else { return };
    let rounds = rounds();
    let user = current_user();
    let (a, b) = (f.service(0, ""), f.service(1, ""));
    for round in 0..rounds {
        settle(3);
        // A new enrollment each round: the same code is new again.
        f.enroll("");
        let c = code(SECRET, step());
        let racers: Vec<_> = (0..RACERS)
            .map(|i| if i % 2 == 0 { &a } else { &b })
            .map(|svc| svc.user(&user).answer(&c).authenticate())
            .collect();
        let outcomes = race(&racers);
        assert_one_winner(&outcomes, round);
    }
}

#[test]
fn one_scratch_code_is_accepted_once_across_two_hosts() {
    let Some(f) = fleet(2) else { return };
    let user = current_user();
    let (a, b) = (f.service(0, ""), f.service(1, ""));
    for round in 0..rounds() {
        f.enroll("");
        let racers: Vec<_> = (0..RACERS)
            .map(|i| if i % 2 == 0 { &a } else { &b })
            .map(|svc| svc.user(&user).answer("12345678").authenticate())
            .collect();
        let outcomes = race(&racers);
        assert_one_winner(&outcomes, round);
        // The other scratch code still works, once.
        a.user(&user)
            .answer("87654321")
            .authenticate()
            .run()
            .expect("PAM_SUCCESS");
        b.user(&user)
            .answer("87654321")
            .authenticate()
            .run()
            .expect("PAM_AUTH_ERR");
    }
}

#[test]
fn the_rate_limit_counts_attempts_from_every_host() {
    let Some(f) = fleet(2) else { return };
    settle(5);
    f.enroll(", rate_attempts => 3, rate_interval => 30");
    let user = current_user();
    for host in [0, 1, 0] {
        f.service(host, "")
            .user(&user)
            .answer("000000")
            .authenticate()
            .run()
            .expect("PAM_AUTH_ERR");
    }
    let out = f
        .service(1, "")
        .user(&user)
        .answer(&code(SECRET, step()))
        .authenticate()
        .run();
    out.expect("PAM_MAXTRIES");
    assert!(
        out.errors()
            .iter()
            .any(|m| m.starts_with("Too many login attempts")),
        "{out}"
    );
}

#[test]
fn a_new_enrollment_invalidates_the_old_secret_on_every_host() {
    let Some(f) = fleet(2) else { return };
    settle(5);
    f.enroll("");
    let user = current_user();
    let old = code(SECRET, step());
    // A new secret (the RFC one): the old phone's code no longer works anywhere.
    f.pg.psql(
        "pam_totp",
        &format!(
            "SELECT pam_totp.enroll('{user}', '\\x3132333435363738393031323334353637383930'::bytea, NULL)"
        ),
    );
    for host in [0, 1] {
        f.service(host, "")
            .user(&user)
            .answer(&old)
            .authenticate()
            .run()
            .expect("PAM_AUTH_ERR");
    }
    let new = code("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", step());
    f.service(1, "")
        .user(&user)
        .answer(&new)
        .authenticate()
        .run()
        .expect("PAM_SUCCESS");
}

#[test]
fn a_stopped_database_is_refused_or_with_local_fallback_uses_the_file() {
    let Some(mut f) = fleet(1) else { return };
    settle(5);
    f.enroll("");
    f.pg.stop();
    let user = current_user();
    let out = f
        .service(0, "")
        .user(&user)
        .answer(&code(SECRET, step()))
        .authenticate()
        .run();
    out.expect("PAM_AUTHINFO_UNAVAIL");
    let line = out.decision_line();
    assert!(
        line.contains("outcome=store-error") && line.contains("fleet store: cannot connect"),
        "{line}"
    );
    // With the local file behind it: the file decides, and the line says degraded.
    let e = Enrollment::new("\" TOTP_AUTH\n");
    let out = f
        .service(0, &format!("on_store_error=local {}", e.arg()))
        .user(&user)
        .answer(&code(SECRET, step()))
        .authenticate()
        .run();
    out.expect("PAM_SUCCESS");
    assert!(
        out.decision_line().contains("local file used (degraded)"),
        "{out}"
    );
}

#[test]
fn a_paused_database_is_refused_within_the_deadline() {
    let Some(f) = fleet(1) else { return };
    settle(8);
    f.enroll("");
    let user = current_user();
    // Connected before the pause, or not: both end within connect + statement deadlines.
    f.pg.signal(libc::SIGSTOP);
    let started = Instant::now();
    let out = f
        .service(0, "")
        .user(&user)
        .answer(&code(SECRET, step()))
        .authenticate()
        .run();
    let took = started.elapsed();
    f.pg.signal(libc::SIGCONT);
    out.expect("PAM_AUTHINFO_UNAVAIL");
    // connect_timeout (2 s) bounds the stalled TLS handshake.
    assert!(took < Duration::from_secs(4), "took {took:?}\n{out}");
    assert!(out.decision_line().contains("outcome=store-error"), "{out}");
}

#[test]
fn a_bad_connection_file_is_a_service_error_naming_it() {
    let Some(f) = fleet(1) else { return };
    let user = current_user();
    let dir = &f.pg.dir;
    let write = |name: &str, text: &str, mode: u32| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap_or_else(|e| panic!("{e}"));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode))
            .unwrap_or_else(|e| panic!("{e}"));
        p
    };
    let readable = write("readable.conf", "connection = host=/tmp\n", 0o644);
    let no_tls = write(
        "notls.conf",
        "connection = host=127.0.0.1 dbname=pam_totp sslmode=require\n",
        0o600,
    );
    let standby = write(
        "standby.conf",
        "connection = host=/tmp target_session_attrs=read-only\n",
        0o600,
    );
    let malformed = write("bad.conf", "connection = host='unterminated\n", 0o600);
    let unknown = write(
        "unknown.conf",
        "connection = host=/tmp\npasswd = x\n",
        0o600,
    );
    for (conf, logged) in [
        (dir.join("missing.conf"), "cannot read".to_owned()),
        (readable.clone(), "readable by group or others".to_owned()),
        (no_tls, "sslmode must be verify-full".to_owned()),
        (standby, "writes must reach the primary".to_owned()),
        (malformed, "bad connection string".to_owned()),
        (unknown, "line 2: unknown setting \"passwd\"".to_owned()),
    ] {
        let svc = Service::new(&format!(
            "auth required {{totp}} store=postgres store_conf={}",
            conf.display()
        ));
        let out = svc.user(&user).answer("123456").authenticate().run();
        out.expect("PAM_SERVICE_ERR");
        let line = out.decision_line();
        assert!(
            line.contains("outcome=config-error") && line.contains(&logged),
            "{}: {line}",
            conf.display()
        );
    }
}

/// A primary and a synchronous standby; the host's connection string names
/// both, writes going to whichever is the primary. After the primary stops
/// and the standby is promoted, logins go on, and a code accepted just
/// before the failover is refused after it.
#[test]
fn after_a_failover_to_the_synchronous_standby_logins_go_on_and_codes_stay_spent() {
    let Some(mut f) = fleet(1) else { return };
    let standby = f.pg.start_standby();
    let (crt, key) = (f.pg.dir.join("host1.crt"), f.pg.dir.join("host1.key"));
    let both = f.pg.dir.join("both.conf");
    std::fs::write(
        &both,
        format!(
            "connection = host=localhost,localhost hostaddr=127.0.0.1,127.0.0.1 port={},{} \
             dbname=pam_totp user=host1 sslmode=verify-full sslrootcert={} sslcert={} sslkey={} \
             target_session_attrs=read-write\n",
            f.pg.port,
            standby.port,
            f.pg.ca.display(),
            crt.display(),
            key.display()
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    std::fs::set_permissions(&both, std::fs::Permissions::from_mode(0o600))
        .unwrap_or_else(|e| panic!("{e}"));
    let svc = Service::new(&format!(
        "auth required {{totp}} store=postgres store_conf={}",
        both.display()
    ));
    settle(10);
    f.enroll("");
    let user = current_user();
    let c = code(SECRET, step());
    svc.user(&user)
        .answer(&c)
        .authenticate()
        .run()
        .expect("PAM_SUCCESS");
    f.pg.stop();
    standby.promote();
    let out = svc.user(&user).answer(&c).authenticate().run();
    out.expect("PAM_AUTH_ERR");
    assert_eq!(out.errors(), [pam_totp::messages::REUSED], "{out}");
    svc.user(&user)
        .answer(&code(SECRET, step() + 1))
        .authenticate()
        .run()
        .expect("PAM_SUCCESS");
}

/// A synchronous standby that stops answering holds every commit on the
/// primary without end; the statement deadline ends the login in time,
/// refused, and logins go on once the standby is back.
#[test]
fn a_paused_synchronous_standby_is_refused_within_the_statement_deadline() {
    let Some(f) = fleet(1) else { return };
    let standby = f.pg.start_standby();
    settle(10);
    f.enroll("");
    let user = current_user();
    standby.signal_all(libc::SIGSTOP);
    let started = Instant::now();
    let out = f
        .service(0, "")
        .user(&user)
        .answer(&code(SECRET, step()))
        .authenticate()
        .run();
    let took = started.elapsed();
    standby.signal_all(libc::SIGCONT);
    out.expect("PAM_AUTHINFO_UNAVAIL");
    let line = out.decision_line();
    assert!(line.contains("no answer before the deadline"), "{line}");
    assert!(took < Duration::from_secs(3), "took {took:?}\n{out}");
    // The waiting commit went through once the standby was back: the code is spent.
    std::thread::sleep(Duration::from_millis(500));
    let out = f
        .service(0, "")
        .user(&user)
        .answer(&code(SECRET, step()))
        .authenticate()
        .run();
    out.expect("PAM_AUTH_ERR");
    assert_eq!(out.errors(), [pam_totp::messages::REUSED], "{out}");
    f.service(0, "")
        .user(&user)
        .answer(&code(SECRET, step() + 1))
        .authenticate()
        .run()
        .expect("PAM_SUCCESS");
}
