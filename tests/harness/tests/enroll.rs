//! Files written by totp-enroll log in through the real libpam: with
//! pam_totp.so and with pam_google_authenticator.so, using codes computed by
//! `oathtool` (an implementation independent of ours). As root, also an
//! enrollment made for another user (`nobody`).
//!
//! totp-enroll is found next to the test binaries (target/<profile>/), where
//! `cargo build` or `cargo test -p totp-enroll` puts it, or at $TOTP_ENROLL.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use pam_harness::totp::{Enrollment, anchors_present, oathtool};
use pam_harness::{Outcome, Service};
use pam_totp::enrollment::Enrollment as File;
use test_support::{Run, now, settle};

fn totp_enroll() -> PathBuf {
    if let Some(p) = std::env::var_os("TOTP_ENROLL") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("{e}"));
    // target/<profile>/deps/enroll-<hash> -> target/<profile>/totp-enroll
    let path = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("totp-enroll"))
        .unwrap_or_default();
    assert!(
        path.exists(),
        "{} is missing: build it first (cargo build -p totp-enroll), or set TOTP_ENROLL",
        path.display()
    );
    path
}

/// Runs totp-enroll with no terminal; fails with everything it printed unless it exits 0.
fn enroll(args: &[&str]) -> serde_json::Value {
    let out = run_enroll(args);
    out.expect(0);
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e})\n{out}"))
}

fn run_enroll(args: &[&str]) -> Run {
    test_support::run(Command::new(totp_enroll()).args(args))
}

/// The TOTP code `oathtool` computes for `unix_time`.
fn totp(secret: &str, step: u64, unix_time: u64) -> String {
    oathtool(
        &[
            "--totp",
            "-s",
            &format!("{step}s"),
            "-N",
            &format!("@{unix_time}"),
        ],
        secret,
    )
}

fn ours(dir: &Path) -> Service {
    Service::new(&format!(
        "auth required {{totp}} secret={}/${{USER}}",
        dir.display()
    ))
}

fn theirs(dir: &Path) -> Service {
    Service::new(&format!(
        "auth required {{sys}}/pam_google_authenticator.so secret={}/${{USER}}",
        dir.display()
    ))
}

fn login(svc: &Service, user: &str, answer: &str) -> Outcome {
    svc.user(user).answer(answer).authenticate().run()
}

fn secret_of(v: &serde_json::Value) -> String {
    v["secret"].as_str().unwrap_or_default().to_owned()
}

fn scratch_of(v: &serde_json::Value) -> Vec<String> {
    v["scratch_codes"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| c.as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// A code that is not `code` (for the refusals).
fn other_than(code: &str) -> String {
    let n: u32 = code.parse().unwrap_or(0);
    format!("{:06}", (n + 500_000) % 1_000_000)
}

#[test]
fn a_time_based_enrollment_logs_in_through_both_modules() {
    if !anchors_present() {
        return;
    }
    settle(4);
    let e = Enrollment::empty();
    let path = e.path().display().to_string();
    let v = enroll(&[
        "-t", "-D", "-W", "-u", "-C", "-e", "3", "-s", &path, "--json",
    ]);
    let secret = secret_of(&v);
    assert_eq!(
        File::parse(&e.bytes())
            .map(|f| f.scratch_values())
            .unwrap_or_default()
            .len(),
        3
    );
    let code = totp(&secret, 30, now());
    let (ours, theirs) = (ours(e.dir.path()), theirs(e.dir.path()));
    login(&ours, &e.user, &other_than(&code)).expect("PAM_AUTH_ERR");
    login(&theirs, &e.user, &other_than(&code)).expect("PAM_AUTH_ERR");
    login(&ours, &e.user, &code).expect("PAM_SUCCESS");
    // Reuse allowed (-D): the same code again, now through the anchor.
    login(&theirs, &e.user, &code).expect("PAM_SUCCESS");
    // Scratch codes: each works once, whichever module checks it.
    let scratch = scratch_of(&v);
    login(&ours, &e.user, &scratch[0]).expect("PAM_SUCCESS");
    login(&theirs, &e.user, &scratch[1]).expect("PAM_SUCCESS");
    login(&theirs, &e.user, &scratch[0]).expect("PAM_AUTH_ERR");
    login(&ours, &e.user, &scratch[1]).expect("PAM_AUTH_ERR");
    login(&ours, &e.user, &scratch[2]).expect("PAM_SUCCESS");
}

#[test]
fn reuse_refusal_and_a_60_second_step_hold_in_both_modules() {
    if !anchors_present() {
        return;
    }
    // Stay clear of the end of a 60-second step.
    let into = now() % 60;
    if into > 54 {
        std::thread::sleep(std::time::Duration::from_secs(61 - into));
    }
    let e = Enrollment::empty();
    let path = e.path().display().to_string();
    let v = enroll(&[
        "-t", "-d", "-S", "60", "-w", "3", "-r", "10", "-R", "60", "-C", "-s", &path, "--json",
    ]);
    assert_eq!(v["period"], 60);
    assert!(
        v["uri"]
            .as_str()
            .unwrap_or_default()
            .ends_with("&period=60")
    );
    let secret = secret_of(&v);
    let t = now();
    let (ours, theirs) = (ours(e.dir.path()), theirs(e.dir.path()));
    // A 30-second code is not a 60-second one.
    let thirty = totp(&secret, 30, t);
    let sixty = totp(&secret, 60, t);
    if thirty != sixty {
        login(&ours, &e.user, &thirty).expect("PAM_AUTH_ERR");
    }
    login(&ours, &e.user, &sixty).expect("PAM_SUCCESS");
    // The step pam_totp recorded as used is refused by the anchor too.
    login(&theirs, &e.user, &sixty).expect("PAM_AUTH_ERR");
    login(&theirs, &e.user, &totp(&secret, 60, t + 60)).expect("PAM_SUCCESS");
}

#[test]
fn a_counter_based_enrollment_logs_in_through_both_modules() {
    if !anchors_present() {
        return;
    }
    let e = Enrollment::empty();
    let path = e.path().display().to_string();
    let v = enroll(&["-c", "-w", "3", "-u", "-C", "-s", &path, "--json"]);
    assert_eq!(v["counter"], 1);
    let secret = secret_of(&v);
    let hotp = |counter: u64| oathtool(&["--hotp", "-c", &counter.to_string()], &secret);
    let (ours, theirs) = (ours(e.dir.path()), theirs(e.dir.path()));
    login(&ours, &e.user, &hotp(1)).expect("PAM_SUCCESS");
    login(&theirs, &e.user, &hotp(2)).expect("PAM_SUCCESS");
    // Spent codes are refused (and each failure moves the counter on by one,
    // in both modules), later ones within the window still work.
    login(&theirs, &e.user, &hotp(2)).expect("PAM_AUTH_ERR");
    login(&ours, &e.user, &hotp(1)).expect("PAM_AUTH_ERR");
    login(&ours, &e.user, &hotp(6)).expect("PAM_SUCCESS");
}

#[test]
fn root_enrolls_another_user_whose_file_it_becomes() {
    if !test_support::running_as_root() {
        eprintln!("skipped: needs root to enroll another user (nobody)");
        return;
    }
    if !anchors_present() {
        return;
    }
    settle(4);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("nobody").display().to_string();

    // A directory nobody cannot write: refused before anything is made.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
        .unwrap_or_else(|e| panic!("{e}"));
    let args = [
        "--user", "nobody", "-t", "-D", "-W", "-u", "-C", "-s", &path,
    ];
    run_enroll(&args).expect_error(1, "cannot write in");
    assert!(!Path::new(&path).exists());
    // nobody's home (/nonexistent) has no directory for the default file.
    let default = ["--user", "nobody", "-t", "-D", "-W", "-u", "-C"];
    run_enroll(&default).expect(1);

    // Their own directory: the file is theirs, 0600, and logs them in.
    let chown = Command::new("chown")
        .args(["65534:65534"])
        .arg(dir.path())
        .status();
    assert!(chown.is_ok_and(|s| s.success()));
    let mut json = args.to_vec();
    json.push("--json");
    let v = enroll(&json);
    assert_eq!(v["user"], "nobody");
    let meta = std::fs::metadata(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((meta.uid(), meta.gid()), (65534, 65534));
    assert_eq!(meta.permissions().mode() & 0o7777, 0o600);
    let code = totp(&secret_of(&v), 30, now());
    login(&ours(dir.path()), "nobody", &code).expect("PAM_SUCCESS");
    login(&theirs(dir.path()), "nobody", &code).expect("PAM_SUCCESS");

    // New scratch codes for them: the file stays theirs and the codes work.
    let v = enroll(&[
        "--user",
        "nobody",
        "--new-scratch-codes",
        "-e",
        "2",
        "-s",
        &path,
        "--json",
    ]);
    let meta = std::fs::metadata(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((meta.uid(), meta.gid()), (65534, 65534));
    assert_eq!(meta.permissions().mode() & 0o7777, 0o600);
    let scratch = scratch_of(&v);
    assert_eq!(scratch.len(), 2);
    login(&ours(dir.path()), "nobody", &scratch[0]).expect("PAM_SUCCESS");
    login(&theirs(dir.path()), "nobody", &scratch[1]).expect("PAM_SUCCESS");
}
