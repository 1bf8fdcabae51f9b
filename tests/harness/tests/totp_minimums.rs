//! The admin's minimums through the real libpam: a user's file weaker than
//! them is held to them at login (and not rewritten to meet them), in the
//! minimums file and as module arguments alike; a file they refuse is told
//! so only after a right code; a bad minimums file or argument is loud.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use pam_harness::Service;
use pam_harness::totp::{Enrollment, SECRET, code, step};
use test_support::settle;

const WEAK: &str = "\" WINDOW_SIZE 17\n\" TOTP_AUTH\n12345678\n";
const MINIMUMS: &str = "# the admin's\nrequire_disallow_reuse\nmax_window_size = 3\n\
                        require_rate_limit = 4/30\nrefuse_scratch_codes\n";
const REUSED: &str = pam_totp::messages::REUSED;

/// A minimums file beside the secret file, mode 0644, owned by whoever runs the test.
fn conf(e: &Enrollment, text: &str) -> PathBuf {
    let p = e.dir.path().join("pam_totp.conf");
    std::fs::write(&p, text).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
    p
}

fn service(e: &Enrollment, extra: &str) -> Service {
    Service::new(&format!("auth required {{totp}} {} {extra}", e.arg()))
}

/// The same weak file under the same minimums, given in the file or as arguments.
#[test]
fn a_weak_file_is_held_to_the_minimums_and_not_rewritten() {
    settle(5);
    for how in ["file", "arguments"] {
        let e = Enrollment::new(WEAK);
        let extra = match how {
            "file" => format!("conf={}", conf(&e, MINIMUMS).display()),
            _ => "require_disallow_reuse max_window_size=3 require_rate_limit=4/30 \
                  refuse_scratch_codes"
                .to_owned(),
        };
        let svc = service(&e, &extra);
        // Four steps ahead: inside the file's window of 17, outside the admin's 3.
        let out = svc
            .user(&e.user)
            .answer(&code(SECRET, step() + 4))
            .authenticate()
            .run();
        out.expect("PAM_AUTH_ERR");
        // A scratch code is right but refused, told why, and not spent.
        let out = svc.user(&e.user).answer("12345678").authenticate().run();
        out.expect("PAM_AUTH_ERR");
        assert_eq!(
            out.errors(),
            [pam_totp::messages::SCRATCH_REFUSED],
            "{how}\n{out}"
        );
        assert!(
            out.decision_line().contains("outcome=below-minimum"),
            "{how}\n{out}"
        );
        assert!(e.text().contains("12345678"), "{how}: {}", e.text());
        // The current code logs in once; the file had no DISALLOW_REUSE.
        let now = code(SECRET, step());
        svc.user(&e.user)
            .answer(&now)
            .authenticate()
            .run()
            .expect("PAM_SUCCESS");
        let out = svc.user(&e.user).answer(&now).authenticate().run();
        out.expect("PAM_AUTH_ERR");
        assert_eq!(out.errors(), [REUSED], "{how}\n{out}");
        // Four attempts so far in 30 s: the fifth is throttled by the admin's limit.
        let out = svc.user(&e.user).answer("000000").authenticate().run();
        out.expect("PAM_MAXTRIES");
        let text = e.text();
        assert!(text.contains("\" WINDOW_SIZE 17\n"), "{how}: {text}");
        assert!(text.contains("\" DISALLOW_REUSE "), "{how}: {text}");
        assert!(text.contains("\" RATE_LIMIT 4 30 "), "{how}: {text}");
    }
}

/// Without minimums the same file takes what the minimums refused: the
/// test above fails for the minimums, not for the file.
#[test]
fn without_minimums_the_weak_file_takes_a_far_code_and_a_scratch_code() {
    settle(3);
    let e = Enrollment::new(WEAK);
    let svc = service(&e, "");
    svc.user(&e.user)
        .answer(&code(SECRET, step() + 4))
        .authenticate()
        .run()
        .expect("PAM_SUCCESS");
    svc.user(&e.user)
        .answer("12345678")
        .authenticate()
        .run()
        .expect("PAM_SUCCESS");
}

/// A counter-based file, or a short secret: a wrong code sees exactly a
/// wrong code's transcript; a right one is told why it is refused.
#[test]
fn refused_enrollments_are_told_only_after_a_right_code() {
    settle(3);
    let hotp = Enrollment::new("\" HOTP_COUNTER 1\n");
    let svc = service(&hotp, "refuse_hotp");
    let wrong = svc.user(&hotp.user).answer("000000").authenticate().run();
    wrong.expect("PAM_AUTH_ERR");
    assert!(wrong.errors().is_empty(), "{wrong}");
    let right = svc
        .user(&hotp.user)
        .answer(&code(SECRET, 1))
        .authenticate()
        .run();
    right.expect("PAM_AUTH_ERR");
    let shown = right.errors();
    assert_eq!(shown.len(), 1, "{right}");
    assert!(
        shown[0].contains("counter-based (HOTP) codes are not allowed"),
        "{right}"
    );
    assert!(
        hotp.text().contains("\" HOTP_COUNTER 1\n"),
        "{}",
        hotp.text()
    );

    let short = Enrollment::with_text("JBSWY3DPEHPK3PXP\n\" TOTP_AUTH\n");
    let svc = service(&short, "min_secret_bits=128");
    let out = svc
        .user(&short.user)
        .answer(&code("JBSWY3DPEHPK3PXP", step()))
        .authenticate()
        .run();
    out.expect("PAM_AUTH_ERR");
    assert!(
        out.errors()
            .first()
            .is_some_and(|m| m.contains("the secret has 80 bits, fewer than the minimum of 128")),
        "{out}"
    );
    assert!(out.decision_line().contains("min_secret_bits"), "{out}");
}

/// A minimums file that is malformed, missing, writable by others or a
/// symlink, and a malformed argument: PAM_SERVICE_ERR, the reason logged.
#[test]
fn a_bad_minimums_file_or_argument_is_a_service_error_naming_it() {
    let e = Enrollment::new("\" TOTP_AUTH\n");
    let bad = conf(&e, "refuse_hotp\nmax_window = 3\n");
    let loose = e.dir.path().join("loose.conf");
    std::fs::write(&loose, "refuse_hotp\n").unwrap();
    std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o666)).unwrap();
    let link = e.dir.path().join("link.conf");
    std::os::unix::fs::symlink(&bad, &link).unwrap();
    let missing = e.dir.path().join("missing.conf");
    for (extra, logged) in [
        (
            format!("conf={}", bad.display()),
            format!("{} line 2: unknown setting \"max_window\"", bad.display()),
        ),
        (
            format!("conf={}", missing.display()),
            format!("cannot read {}", missing.display()),
        ),
        (
            format!("conf={}", loose.display()),
            "writable by group or others".to_owned(),
        ),
        (
            format!("conf={}", link.display()),
            "is not a regular file".to_owned(),
        ),
        (
            "max_window_size=abc".to_owned(),
            "bad value \"abc\" for max_window_size".to_owned(),
        ),
        (
            "require_rate_limit=3".to_owned(),
            "must be ATTEMPTS/SECONDS".to_owned(),
        ),
        (
            "conf=relative.conf".to_owned(),
            "not an absolute path".to_owned(),
        ),
    ] {
        let out = service(&e, &extra)
            .user(&e.user)
            .answer(&code(SECRET, step()))
            .authenticate()
            .run();
        out.expect("PAM_SERVICE_ERR");
        let line = out.decision_line();
        assert!(
            line.contains("outcome=config-error") && line.contains(&logged),
            "{extra}: {line}\n{out}"
        );
    }
}
