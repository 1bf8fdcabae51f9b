//! One decision, two callers: pam_policy.so through the real libpam and
//! `pam-policy-check` on the same options, user and password reach the same
//! verdict (accept, warn, reject, skip) with the same first reason. And a
//! user name that is not UTF-8 is no reason to refuse a good password.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use pam_harness::{Outcome, Service};
use test_support::running_as_root;

const GUIDE: &str = "retry=1 minlen=10 difok=3 ucredit=-1 lcredit=-2 dcredit=-1 ocredit=-1";

fn service(line: &str) -> Service {
    let svc = Service::new(&format!(
        "password requisite {{items}} set
         password requisite {{policy}} {line}
         password required {{items}} record"
    ));
    std::fs::set_permissions(svc.dir(), std::fs::Permissions::from_mode(0o1777))
        .expect("chmod the service directory");
    svc
}

/// target/<profile>/pam-policy-check, built by `cargo build --workspace`.
fn checker() -> PathBuf {
    let deps = pam_harness::build_dir();
    let dir = deps.parent().map(Path::to_path_buf).unwrap_or(deps);
    let exe = dir.join("pam-policy-check");
    assert!(
        exe.exists(),
        "{} is missing: run `cargo build --workspace` before the tests (scripts/test.sh does)",
        exe.display()
    );
    exe
}

/// The verdict word and first reason the module reached, from what the user
/// saw and the code.
fn module_verdict(out: &Outcome) -> (String, Option<String>) {
    let first = out.errors().first().map(|e| e.to_string());
    let retyped = out.prompts().iter().any(|p| p.starts_with("Retype"));
    let word = match (first.is_some(), out.code() == "PAM_SUCCESS" && retyped) {
        (false, true) if !out.logged("not checked").is_empty() => "SKIP",
        (false, true) => "PASS",
        (true, true) => "WARN",
        (true, false) => "FAIL",
        (false, false) => "ERROR",
    };
    (word.to_owned(), first)
}

fn checker_verdict(line: &str, user: &str, as_root: bool, pw: &str) -> (String, Option<String>) {
    let mut cmd = Command::new(checker());
    cmd.args(["--user", user]);
    if as_root {
        cmd.arg("--as-root");
    }
    cmd.args(line.split_whitespace())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("run pam-policy-check");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(pw.as_bytes()).expect("write the password");
    }
    let out = child.wait_with_output().expect("pam-policy-check output");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut lines = stdout.lines();
    let word = lines.next().unwrap_or("").to_owned();
    (word, lines.next().map(str::to_owned))
}

#[test]
fn the_module_and_the_checker_reach_the_same_verdict() {
    let mut cases: Vec<(&str, &str, bool, &str)> = vec![
        (GUIDE, "alice", false, "Xk9#mQ2$vL"),
        (GUIDE, "alice", false, "short"),
        (GUIDE, "alice", false, "Password1!"),
        (GUIDE, "alice", false, ""),
        ("retry=1 minlen=10 enforcing=0", "alice", false, "short"),
        (
            "retry=1 minlen=10 local_users_only",
            "no-such-user-9z",
            false,
            "short",
        ),
        ("retry=1 minlen=10 local_users_only", "root", false, "short"),
    ];
    if running_as_root() {
        cases.push((GUIDE, "alice", true, "short"));
        cases.push(("retry=1 minlen=10 enforce_for_root", "alice", true, "short"));
    }
    for (line, user, as_root, pw) in cases {
        let svc = service(line);
        let mut s = svc.user(user);
        if !as_root {
            s = s.unprivileged();
        }
        let out = s.answer(pw).answer(pw).chauthtok().run();
        let module = module_verdict(&out);
        let cli = checker_verdict(line, user, as_root, pw);
        assert_eq!(
            module, cli,
            "`{line}`, user {user}, root caller {as_root}, password {pw:?}: module (left) and checker (right) differ\n{out}"
        );
    }
}

/// A user name that is not UTF-8 (Latin-1 "jérôme"), which pam_pwquality
/// accepts: a good password is accepted, a bad one refused with its reason.
#[test]
fn a_user_name_that_is_not_utf8_does_not_block_a_good_password() {
    let svc = service(GUIDE);
    let hex = "6ae972f46d65"; // j \xe9 r \xf4 m e
    let out = svc
        .user("placeholder")
        .unprivileged()
        .env("HARNESS_USER_HEX", hex)
        .answer("Xk9#mQ2$vL")
        .answer("Xk9#mQ2$vL")
        .chauthtok()
        .run();
    out.expect("PAM_SUCCESS");
    assert_eq!(out.env("HARNESS_SEEN_AUTHTOK"), Some("Xk9#mQ2$vL"), "{out}");
    let out = svc
        .user("placeholder")
        .unprivileged()
        .env("HARNESS_USER_HEX", hex)
        .answer("short")
        .chauthtok()
        .run();
    out.expect("PAM_AUTHTOK_ERR");
    assert_eq!(
        out.errors(),
        ["BAD PASSWORD: The password contains less than 1 digits"],
        "{out}"
    );
    assert_eq!(out.logged("outcome=rejected").len(), 1, "{out}");
}

/// Every refusal says why: a broken configuration too, before any prompt.
#[test]
fn a_configuration_error_tells_the_user() {
    let out = service("minlenn=3")
        .user("alice")
        .unprivileged()
        .answer("Xk9#mQ2$vL")
        .chauthtok()
        .run();
    out.expect("PAM_SERVICE_ERR");
    assert!(out.prompts().is_empty(), "{out}");
    assert_eq!(out.errors().len(), 1, "{out}");
    assert!(out.errors()[0].contains("misconfigured"), "{out}");
}
