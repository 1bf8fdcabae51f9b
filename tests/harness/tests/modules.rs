//! Our modules as libpam loads them: exported symbols, option parsing at the
//! edge, panics never crossing into C, and a first end-to-end answer.

use std::process::Command;

use pam_harness::{LOG_AUTHPRIV, Service, workspace_module};

fn exported_symbols(module: &str) -> Vec<String> {
    let path = workspace_module(module);
    let out = Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(&path)
        .output()
        .unwrap_or_else(|e| panic!("cannot run nm on {}: {e}", path.display()));
    assert!(
        out.status.success(),
        "nm -D {} failed: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (_, kind, name) = (f.next()?, f.next()?, f.next()?);
            // Code symbols only; data symbols of the Rust runtime are not entry points.
            (kind == "T").then(|| name.to_owned())
        })
        .collect();
    names.sort();
    names
}

#[test]
fn pam_totp_exports_exactly_its_entry_points() {
    assert_eq!(
        exported_symbols("pam_totp"),
        ["pam_sm_authenticate", "pam_sm_setcred"]
    );
}

#[test]
fn pam_policy_exports_exactly_its_entry_point() {
    assert_eq!(exported_symbols("pam_policy"), ["pam_sm_chauthtok"]);
}

#[test]
fn pam_totp_refuses_an_unknown_option_and_names_it_in_syslog() {
    let svc = Service::new("auth required {totp} nullok windw=3");
    let out = svc.user("alice").authenticate().run();
    out.expect("PAM_SERVICE_ERR");
    assert!(
        out.prompts().is_empty(),
        "no prompt on a config error\n{out}"
    );
    let lines = out.logged("windw=3");
    assert_eq!(lines.len(), 1, "{out}");
    assert_eq!(lines[0].facility, LOG_AUTHPRIV);
    assert!(lines[0].message.contains("outcome=config-error"), "{out}");
}

#[test]
fn pam_totp_asks_for_a_verification_code() {
    let svc = Service::new("auth required {totp} secret=/nonexistent/${USER}");
    let out = svc.user("alice").answer("123456").authenticate().run();
    assert_ne!(out.code(), "PAM_SUCCESS", "{out}");
    assert_eq!(
        out.messages("PROMPT_ECHO_OFF"),
        ["Verification code: "],
        "{out}"
    );
    assert!(
        !out.syslog.iter().any(|l| l.message.contains("123456")),
        "a code reached syslog\n{out}"
    );
}

#[test]
fn pam_totp_in_a_stack_it_does_not_implement_is_reported_by_libpam() {
    // Only auth is exported, so libpam cannot resolve a password entry point.
    let svc = Service::new("password required {totp}");
    let out = svc.user("alice").chauthtok().run();
    assert_ne!(out.code(), "PAM_SUCCESS", "{out}");
}

#[test]
fn pam_totp_setcred_succeeds() {
    let svc = Service::new("auth required {totp}");
    svc.user("alice").setcred().run().expect("PAM_SUCCESS");
}

#[test]
fn pam_policy_runs_the_chauthtok_flow() {
    let svc = Service::new(
        "password requisite {policy} retry=2 minlen=10
         password required {items} record",
    );
    // A short password is refused with pam_pwquality's message, then a good one is confirmed.
    let out = svc
        .user("alice")
        .unprivileged()
        .answer("short")
        .answer("long enough pass")
        .answer("long enough pass")
        .chauthtok()
        .run();
    out.expect("PAM_SUCCESS");
    assert_eq!(
        out.prompts(),
        ["New password: ", "New password: ", "Retype new password: "],
        "{out}"
    );
    assert_eq!(
        out.errors(),
        ["BAD PASSWORD: The password is shorter than 10 characters"],
        "{out}"
    );
    // The accepted password is left in PAM_AUTHTOK for the next module.
    assert_eq!(
        out.env("HARNESS_SEEN_AUTHTOK"),
        Some("long enough pass"),
        "{out}"
    );
}

#[test]
fn pam_policy_refuses_an_unknown_option() {
    let svc = Service::new("password requisite {policy} minlenn=10");
    let out = svc.user("alice").answer("whatever1234").chauthtok().run();
    out.expect("PAM_SERVICE_ERR");
    assert_eq!(out.logged("minlenn=10").len(), 1, "{out}");
}

#[test]
fn pam_policy_gives_up_after_retry_attempts() {
    let svc = Service::new("password requisite {policy} retry=2 minlen=10");
    let out = svc
        .user("alice")
        .unprivileged()
        .answer("short")
        .answer("short")
        .chauthtok()
        .run();
    out.expect("PAM_MAXTRIES");
    assert_eq!(out.errors().len(), 2, "{out}");
}

#[test]
fn a_panic_in_a_module_is_a_pam_error_not_a_crash() {
    // The items module uses the same entry-point guard (pam_ext) as ours.
    let svc = Service::new("auth required {items} panic");
    let out = svc.user("alice").authenticate().run();
    out.expect("PAM_SYSTEM_ERR");
    assert_eq!(
        out.logged("internal error in pam_sm_authenticate").len(),
        1,
        "{out}"
    );
}

/// The module links no libm (its one use, zxcvbn's log10, is satisfied
/// inside it): loading libm.so.6 would cost every host process about
/// 500 KiB of resident memory.
#[test]
fn pam_policy_links_only_libpam_and_libc() {
    let path = workspace_module("pam_policy");
    let out = Command::new("readelf")
        .args(["-d", "-W"])
        .arg(&path)
        .output()
        .unwrap_or_else(|e| panic!("cannot run readelf on {}: {e}", path.display()));
    let text = String::from_utf8_lossy(&out.stdout);
    let needed: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("(NEEDED)"))
        .filter_map(|l| l.split('[').nth(1)?.split(']').next())
        .collect();
    assert!(
        needed.iter().all(|n| !n.starts_with("libm.")),
        "{} needs {needed:?}",
        path.display()
    );
    assert!(
        needed.iter().any(|n| n.starts_with("libpam.")),
        "{needed:?}"
    );
}
