//! totp-enroll with `--store postgres` against a real PostgreSQL server over
//! TLS: root with an admin login enrolls, imports a google-authenticator
//! file, lists and removes; a user with their own database login enrolls
//! and removes their own; a host login then verifies what was saved.

#![allow(clippy::unwrap_used, clippy::panic)]

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use pam_totp::otp;
use test_support::postgres::{self, Server};
use test_support::run::{self, Run};
use test_support::{now, required_in_ci, running_as_root, settle};

const BIN: &str = env!("CARGO_BIN_EXE_totp-enroll");

fn schema() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../pam_totp/sql/fleet.sql")
}

fn server() -> Option<Server> {
    if !required_in_ci(postgres::available(), "PostgreSQL (postgresql) and openssl") {
        eprintln!("note: PostgreSQL is not installed; --store postgres is not tried");
        return None;
    }
    if !running_as_root() {
        eprintln!("note: not root; --store postgres for another user is not tried");
        return None;
    }
    Some(Server::start(&schema()))
}

/// A connection file for login `name` in `role`, mode 0600, owned by `uid`.
fn conf_for(pg: &Server, name: &str, role: &str, uid: u32) -> String {
    let (crt, key) = pg.host_login(name, role);
    let conf = pg.dir.join(format!("{name}.conf"));
    std::fs::write(
        &conf,
        format!("connection = {}\n", pg.conninfo(name, &crt, &key)),
    )
    .unwrap();
    for p in [&conf, &crt, &key] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::os::unix::fs::chown(p, Some(uid), None).unwrap();
    }
    conf.display().to_string()
}

fn enroll(args: &[&str]) -> Run {
    run::run(Command::new(BIN).args(args).stdin(Stdio::null()))
}

/// What a host's verify says of `code6` / `code8` for `user`.
fn verify(pg: &Server, user: &str, code6: Option<u32>, code8: Option<u32>) -> String {
    let n = |c: Option<u32>| c.map_or("NULL".to_owned(), |c| c.to_string());
    let out = pg.psql_as(
        "host1",
        &format!(
            "SELECT outcome FROM pam_totp.verify('{user}', {}, {})",
            n(code6),
            n(code8)
        ),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn totp_now(b32: &str) -> u32 {
    otp::hotp(&otp::decode_base32(b32).unwrap(), now() / 30, 6)
}

#[test]
fn root_enrolls_imports_lists_and_removes_in_the_fleet_store() {
    let Some(pg) = server() else { return };
    settle(10);
    let admin = conf_for(&pg, "admin1", "pam_totp_admin", 0);
    pg.host_login("host1", "pam_totp_host");
    let store = ["--store", "postgres", "--store-conf", admin.as_str()];
    let out = enroll(
        &[
            &store[..],
            &[
                "--user", "root", "-t", "-d", "-W", "-u", "-e", "2", "-C", "--json",
            ],
        ]
        .concat(),
    );
    out.expect(0);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(json["path"], "the fleet store", "{out}");
    let b32 = json["secret"].as_str().unwrap().to_owned();
    let scratch: u32 = json["scratch_codes"][0].as_str().unwrap().parse().unwrap();
    assert_eq!(verify(&pg, "root", Some(totp_now(&b32)), None), "accepted");
    assert_eq!(verify(&pg, "root", None, Some(scratch)), "scratch");
    assert_eq!(verify(&pg, "root", None, Some(scratch)), "wrong-code");
    // Enrolled: not replaced without --force.
    enroll(
        &[
            &store[..],
            &["--user", "root", "-t", "-d", "-W", "-u", "-C", "-q"],
        ]
        .concat(),
    )
    .expect_error(3, "--force");
    // The listing has the user and no secret.
    let list = enroll(&[&store[..], &["--list"]].concat());
    list.expect(0);
    assert!(
        list.stdout
            .starts_with("root\tstep 30s\twindow 3\treuse refused"),
        "{list}"
    );
    assert!(!list.stdout.contains(&b32), "{list}");
    // Import a google-authenticator file: its secret, window and scratch codes.
    let dir = test_support::Dir::new("totp-enroll-fleet-");
    let file = dir.path().join("ga");
    std::fs::write(
        &file,
        "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP\n\" WINDOW_SIZE 5\n\" TOTP_AUTH\n44445555\n",
    )
    .unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let file = file.display().to_string();
    enroll(&[&store[..], &["--user", "root", "--import", &file]].concat())
        .expect_error(3, "--force");
    let out = enroll(
        &[
            &store[..],
            &["--user", "root", "--import", &file, "--force"],
        ]
        .concat(),
    );
    out.expect(0);
    assert!(out.stdout.contains("1 scratch codes"), "{out}");
    let old = otp::hotp(&otp::decode_base32(&b32).unwrap(), now() / 30, 6);
    let imported = otp::decode_base32("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP").unwrap();
    assert_eq!(
        verify(&pg, "root", Some(old), None),
        "wrong-code",
        "the old secret is gone"
    );
    assert_eq!(
        verify(
            &pg,
            "root",
            Some(otp::hotp(&imported, now() / 30 + 2, 6)),
            None
        ),
        "accepted",
        "WINDOW_SIZE 5 came along"
    );
    assert_eq!(verify(&pg, "root", None, Some(44_445_555)), "scratch");
    // --show has nothing to show: the store never gives a secret back.
    enroll(&[&store[..], &["--user", "root", "--show"]].concat())
        .expect_error(2, "never gives a secret back");
    // Removed: every host says not enrolled.
    let out = enroll(&[&store[..], &["--user", "root", "--remove"]].concat());
    out.expect(0);
    assert_eq!(verify(&pg, "root", Some(0), None), "not-enrolled");
    enroll(&[&store[..], &["--user", "root", "--remove"]].concat()).expect_error(3, "not enrolled");
}

#[test]
fn a_user_with_a_database_login_enrolls_and_removes_only_their_own() {
    let Some(pg) = server() else { return };
    // nobody (65534) with a login named like the account, in pam_totp_user.
    let conf = conf_for(&pg, "nobody", "pam_totp_user", 65534);
    pg.host_login("host1", "pam_totp_host");
    std::fs::set_permissions(&pg.dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let as_nobody = |args: &[&str]| {
        let mut cmd = Command::new(BIN);
        cmd.args(["--store", "postgres", "--store-conf", &conf])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .current_dir("/")
            .uid(65534)
            .gid(65534);
        run::run(&mut cmd)
    };
    let out = as_nobody(&["-t", "-d", "-W", "-u", "-e", "0", "-C", "--json"]);
    out.expect(0);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let b32 = json["secret"].as_str().unwrap().to_owned();
    settle(3);
    assert_eq!(
        verify(&pg, "nobody", Some(totp_now(&b32)), None),
        "accepted"
    );
    // Their login cannot list, or touch another user's enrollment.
    let out = pg.psql_as("nobody", "SELECT * FROM pam_totp.list()");
    assert!(String::from_utf8_lossy(&out.stderr).contains("permission denied"));
    let out = pg.psql_as("nobody", "SELECT pam_totp.remove('root')");
    assert!(String::from_utf8_lossy(&out.stderr).contains("permission denied"));
    as_nobody(&["--remove"]).expect(0);
    assert_eq!(verify(&pg, "nobody", Some(0), None), "not-enrolled");
}
