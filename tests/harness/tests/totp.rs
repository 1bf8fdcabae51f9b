//! pam_totp through the real libpam: codes, options, the secret file and
//! every kind of bad input. Codes are computed for the current time, as an
//! authenticator app would; `settle` keeps a test away from step boundaries.

use pam_harness::totp::{Enrollment, SECRET, code, step};
use pam_harness::{Outcome, Service};
use test_support::settle;

fn service(e: &Enrollment, extra: &str) -> Service {
    Service::new(&format!("auth required {{totp}} {} {extra}", e.arg()))
}

fn login(e: &Enrollment, extra: &str, answer: &str) -> Outcome {
    service(e, extra)
        .user(&e.user)
        .answer(answer)
        .authenticate()
        .run()
}

/// No syslog line may carry a code, the secret or a scratch code.
#[track_caller]
fn assert_no_secrets(out: &Outcome, secrets: &[&str]) {
    for line in &out.syslog {
        for s in secrets.iter().chain([&SECRET]) {
            assert!(!line.message.contains(s), "secret {s:?} in syslog\n{out}");
        }
    }
}

/// Exactly one pam_totp decision line, with its outcome.
#[track_caller]
fn assert_decision(out: &Outcome, outcome: &str) {
    let lines: Vec<_> = out.logged("outcome=");
    assert_eq!(lines.len(), 1, "one decision line expected\n{out}");
    assert!(
        lines[0].message.contains(&format!("outcome={outcome} ")),
        "outcome {outcome} expected\n{out}"
    );
    assert_eq!(lines[0].facility, pam_harness::LOG_AUTHPRIV);
}

#[test]
fn current_code_is_accepted_and_the_prompt_is_the_anchors() {
    settle(3);
    let e = Enrollment::new("\" TOTP_AUTH\n");
    let c = code(SECRET, step());
    let out = login(&e, "", &c);
    out.expect("PAM_SUCCESS");
    assert_eq!(
        out.messages("PROMPT_ECHO_OFF"),
        ["Verification code: "],
        "{out}"
    );
    assert_decision(&out, "success");
    assert_no_secrets(&out, &[&c]);
    let line = &out.logged("outcome=")[0].message;
    assert!(line.contains(&format!("user={}", e.user)), "{out}");
    // No option needs state, so nothing is written.
    assert_eq!(e.text(), format!("{SECRET}\n\" TOTP_AUTH\n"));
}

#[test]
fn window_is_one_step_either_side() {
    settle(4);
    let e = Enrollment::new("\" TOTP_AUTH\n");
    let s = step();
    for (offset, want) in [
        (-2i64, "PAM_AUTH_ERR"),
        (-1, "PAM_SUCCESS"),
        (1, "PAM_SUCCESS"),
        (2, "PAM_AUTH_ERR"),
    ] {
        let c = code(SECRET, s.checked_add_signed(offset).unwrap_or(0));
        let out = login(&e, "noskewadj", &c);
        assert_eq!(out.code(), want, "offset {offset}\n{out}");
    }
}

#[test]
fn bad_codes_are_refused_and_change_nothing() {
    settle(3);
    let e = Enrollment::new("\" TOTP_AUTH\n\" DISALLOW_REUSE\n12345678\n");
    let before = e.bytes();
    let good = code(SECRET, step());
    let wrong = format!("{:06}", (good.parse::<u32>().unwrap_or(0) + 1) % 1_000_000);
    let long = "1".repeat(10_000);
    for bad in [
        wrong.as_str(),
        &good[..5],
        &format!("{good}0"),
        long.as_str(),
        "abcdef",
        "12345a",
        "123 456",
        " 123456",
        "",
        "1234567",
        "87654321",
        "\u{8}\n\r\u{7f}INCORRECT",
    ] {
        let out = login(&e, "noskewadj", bad);
        out.expect("PAM_AUTH_ERR");
        assert_no_secrets(&out, &[&good, "12345678"]);
        assert_eq!(e.bytes(), before, "file changed for input {bad:?}");
    }
}

#[test]
fn echo_and_custom_prompt_reach_the_conversation() {
    settle(3);
    let e = Enrollment::new("\" TOTP_AUTH\n");
    let c = code(SECRET, step());
    let svc = Service::new(&format!(
        "auth required {{totp}} {} echo_verification_code [authtok_prompt=Your code, please: ]",
        e.arg()
    ));
    let out = svc.user(&e.user).answer(&c).authenticate().run();
    out.expect("PAM_SUCCESS");
    assert_eq!(
        out.messages("PROMPT_ECHO_ON"),
        ["Your code, please: "],
        "{out}"
    );
}

#[test]
fn reused_code_is_refused_and_the_user_is_told() {
    settle(3);
    let e = Enrollment::new("\" DISALLOW_REUSE\n\" TOTP_AUTH\n");
    let c = code(SECRET, step());
    login(&e, "", &c).expect("PAM_SUCCESS");
    assert!(
        e.text()
            .contains(&format!("\" DISALLOW_REUSE {}\n", step())),
        "{}",
        e.text()
    );
    let out = login(&e, "", &c);
    out.expect("PAM_AUTH_ERR");
    assert_decision(&out, "reused");
    assert_eq!(out.errors().len(), 1, "{out}");
    assert!(out.errors()[0].contains("already used"), "{out}");
    // Monotonic: an earlier step is refused too once a later one was used.
    let earlier = code(SECRET, step() - 1);
    login(&e, "", &earlier).expect("PAM_AUTH_ERR");
}

#[test]
fn scratch_code_works_once_and_leaves_the_file() {
    settle(3);
    let e = Enrollment::new("\" TOTP_AUTH\n11111111\n22222222\n");
    let out = login(&e, "", "22222222");
    out.expect("PAM_SUCCESS");
    assert_no_secrets(&out, &["22222222", "11111111"]);
    assert_eq!(e.text(), format!("{SECRET}\n\" TOTP_AUTH\n11111111\n"));
    assert_eq!(e.mode(), 0o600, "mode kept");
    assert!(e.strays().is_empty(), "{:?}", e.strays());
    login(&e, "", "22222222").expect("PAM_AUTH_ERR");
}

#[test]
fn nullok_lets_unenrolled_users_through_without_a_prompt() {
    let e = Enrollment::empty();
    // The module ignores; with nothing else in the stack libpam denies.
    let out = login(&e, "nullok", "123456");
    out.expect("PAM_PERM_DENIED");
    assert!(out.prompts().is_empty(), "{out}");
    assert_decision(&out, "not-enrolled");
    // Without nullok the user is asked anyway and refused.
    let out = login(&e, "", "123456");
    out.expect("PAM_AUTH_ERR");
    assert_eq!(out.prompts().len(), 1, "{out}");
    // The usual roll-out stack: ignored, then the next module decides.
    let svc = Service::new(&format!(
        "auth [success=done ignore=ignore default=die] {{totp}} {} nullok
         auth required {{sys}}/pam_permit.so",
        e.arg()
    ));
    svc.user(&e.user).authenticate().run().expect("PAM_SUCCESS");
}

#[test]
fn a_missing_directory_is_not_taken_for_not_enrolled() {
    // An unmounted home must not switch the second factor off under nullok.
    let e = Enrollment::empty();
    let svc = Service::new(&format!(
        "auth required {{totp}} secret={}/gone/${{USER}} nullok",
        e.dir.path().display()
    ));
    let out = svc.user(&e.user).answer("123456").authenticate().run();
    out.expect("PAM_AUTHINFO_UNAVAIL");
    assert_decision(&out, "store-error");
}

#[test]
fn broken_secret_files_are_store_errors_and_stay_unchanged() {
    let big = format!("{SECRET}\n{}", "\" X\n".repeat(20_000));
    let unavailable = "PAM_AUTHINFO_UNAVAIL";
    // A truncated file can still be well-formed: then it simply has no usable
    // code (as with the anchor), which is a refusal, not a store error.
    let refused = "PAM_AUTH_ERR";
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", vec![], unavailable),
        ("binary", vec![0xff, 0x00, 0x13, 0x37, b'\n'], unavailable),
        (
            "bad base32",
            b"JBSWY3DP!!!!\n\" TOTP_AUTH\n".to_vec(),
            unavailable,
        ),
        (
            "padded base32",
            b"JBSWY3DPEHPK3PXP====\n\" TOTP_AUTH\n".to_vec(),
            unavailable,
        ),
        ("oversize", big.into_bytes(), unavailable),
        (
            "bad window",
            format!("{SECRET}\n\" WINDOW_SIZE 0\n\" TOTP_AUTH\n").into_bytes(),
            unavailable,
        ),
        (
            "bad rate limit",
            format!("{SECRET}\n\" RATE_LIMIT 3 30 \n\" TOTP_AUTH\n").into_bytes(),
            unavailable,
        ),
        (
            "truncated in an option",
            format!("{SECRET}\n\" RATE_LIMIT 3").into_bytes(),
            unavailable,
        ),
        ("truncated in the secret", b"JBSWY".to_vec(), refused),
        (
            "truncated in TOTP_AUTH",
            format!("{SECRET}\n\" TOTP_AU").into_bytes(),
            refused,
        ),
    ];
    for (what, bytes, want) in cases {
        let e = Enrollment::empty();
        e.write(&bytes);
        let out = login(&e, "", "123456");
        assert_eq!(out.code(), want, "{what}\n{out}");
        assert_eq!(out.prompts().len(), 1, "{what}: still asked\n{out}");
        if want == unavailable {
            assert_decision(&out, "store-error");
        }
        assert_no_secrets(&out, &["12345678", "JBSWY"]);
        assert_eq!(e.bytes(), bytes, "{what}: file changed");
    }
}

#[test]
fn crlf_files_work() {
    settle(3);
    let e = Enrollment::with_text(&format!(
        "{SECRET}\r\n\" DISALLOW_REUSE\r\n\" TOTP_AUTH\r\n12345678\r\n"
    ));
    login(&e, "", &code(SECRET, step())).expect("PAM_SUCCESS");
    login(&e, "", "12345678").expect("PAM_SUCCESS");
    let text = e.text();
    assert!(
        text.contains("\" TOTP_AUTH\r\n") && !text.contains("12345678"),
        "{text:?}"
    );
}

#[test]
fn symlinks_fifos_and_directories_are_refused() {
    let target = Enrollment::new("\" TOTP_AUTH\n");
    let e = Enrollment::empty();
    std::os::unix::fs::symlink(target.path(), e.path()).unwrap_or_else(|err| panic!("{err}"));
    let out = login(&e, "", &code(SECRET, step()));
    out.expect("PAM_AUTHINFO_UNAVAIL");
    assert!(out.logged("symbolic link").len() == 1, "{out}");
    assert!(std::fs::symlink_metadata(e.path()).is_ok_and(|m| m.file_type().is_symlink()));

    let e = Enrollment::empty();
    let status = std::process::Command::new("mkfifo").arg(e.path()).status();
    assert!(status.is_ok_and(|s| s.success()));
    login(&e, "", "123456").expect("PAM_AUTHINFO_UNAVAIL");

    let e = Enrollment::empty();
    std::fs::create_dir(e.path()).unwrap_or_else(|err| panic!("{err}"));
    login(&e, "", "123456").expect("PAM_AUTHINFO_UNAVAIL");
}

#[test]
fn loose_permissions_are_refused_unless_allowed() {
    settle(3);
    let e = Enrollment::new("\" TOTP_AUTH\n");
    let c = code(SECRET, step());
    for mode in [0o644, 0o640, 0o602, 0o2600, 0o4600] {
        e.chmod(mode);
        let out = login(&e, "", &c);
        out.expect("PAM_AUTHINFO_UNAVAIL");
        assert!(out.logged("mode").len() == 1, "{mode:o}\n{out}");
    }
    e.chmod(0o400);
    login(&e, "", &c).expect("PAM_SUCCESS");
    e.chmod(0o640);
    login(&e, "allowed_perm=0640", &c).expect("PAM_SUCCESS");
}

#[test]
fn unknown_user_is_asked_and_refused() {
    let e = Enrollment::empty();
    let svc = Service::new(&format!("auth required {{totp}} {}", e.arg()));
    let out = svc
        .user("no-such-user-pam-totp")
        .answer("123456")
        .authenticate()
        .run();
    out.expect("PAM_USER_UNKNOWN");
    assert_eq!(out.prompts().len(), 1, "{out}");
    assert_decision(&out, "unknown-user");
}

#[test]
fn a_failing_conversation_is_a_failure() {
    let e = Enrollment::new("\" TOTP_AUTH\n");
    let svc = service(&e, "");
    let out = svc.user(&e.user).fail_conversation().authenticate().run();
    out.expect("PAM_AUTH_ERR");
    let out = svc.user(&e.user).null_answer().authenticate().run();
    out.expect("PAM_AUTH_ERR");
}

#[test]
fn rate_limit_refuses_a_right_code_and_says_why() {
    settle(3);
    let e = Enrollment::new("\" RATE_LIMIT 2 60\n\" TOTP_AUTH\n");
    login(&e, "", "000000").expect("PAM_AUTH_ERR");
    login(&e, "", "000000").expect("PAM_AUTH_ERR");
    let out = login(&e, "", &code(SECRET, step()));
    out.expect("PAM_MAXTRIES");
    // Asked like any login, then told (see totp_attacks.rs for the order).
    assert_eq!(out.prompts().len(), 1, "{out}");
    assert_eq!(out.errors().len(), 1, "{out}");
    assert!(
        out.errors()[0].starts_with("Too many login attempts"),
        "{out}"
    );
    assert_decision(&out, "throttled");
}

#[test]
fn grace_period_skips_the_code_for_the_same_rhost() {
    settle(3);
    let e = Enrollment::new("\" TOTP_AUTH\n");
    let svc = service(&e, "grace_period=300");
    let c = code(SECRET, step());
    svc.user(&e.user)
        .rhost("192.0.2.7")
        .answer(&c)
        .authenticate()
        .run()
        .expect("PAM_SUCCESS");
    assert!(e.text().contains("\" LAST0 192.0.2.7 "), "{}", e.text());
    let out = svc.user(&e.user).rhost("192.0.2.7").authenticate().run();
    out.expect("PAM_SUCCESS");
    assert!(out.prompts().is_empty(), "{out}");
    let out = svc
        .user(&e.user)
        .rhost("192.0.2.8")
        .answer("000000")
        .authenticate()
        .run();
    out.expect("PAM_AUTH_ERR");
    assert_eq!(out.prompts().len(), 1);
}

#[test]
fn forward_pass_splits_password_and_code() {
    settle(3);
    let e = Enrollment::new("\" TOTP_AUTH\n12345678\n");
    let svc = Service::new(&format!(
        "auth required {{totp}} {} forward_pass
         auth required {{items}} record",
        e.arg()
    ));
    let c = code(SECRET, step());
    let out = svc
        .user(&e.user)
        .answer(&format!("hunter2{c}"))
        .authenticate()
        .run();
    out.expect("PAM_SUCCESS");
    assert_eq!(out.prompts(), ["Password & verification code: "], "{out}");
    assert_eq!(out.env("HARNESS_SEEN_AUTHTOK"), Some("hunter2"), "{out}");
    let out = svc
        .user(&e.user)
        .answer("hunter212345678")
        .authenticate()
        .run();
    out.expect("PAM_SUCCESS");
    assert_eq!(out.env("HARNESS_SEEN_AUTHTOK"), Some("hunter2"), "{out}");
}

#[test]
fn first_pass_options_use_the_earlier_password() {
    settle(3);
    let e = Enrollment::new("\" TOTP_AUTH\n");
    let c = code(SECRET, step());
    let stack = |opt: &str| {
        Service::new(&format!(
            "auth required {{items}} set
             auth required {{totp}} {} {opt}",
            e.arg()
        ))
    };
    // try_first_pass: a code in PAM_AUTHTOK needs no prompt; otherwise one prompt.
    let svc = stack("try_first_pass");
    let out = svc.user(&e.user).authtok(&c).authenticate().run();
    out.expect("PAM_SUCCESS");
    assert!(out.prompts().is_empty(), "{out}");
    let out = svc
        .user(&e.user)
        .authtok("password")
        .answer(&c)
        .authenticate()
        .run();
    out.expect("PAM_SUCCESS");
    assert_eq!(out.prompts().len(), 1, "{out}");
    // use_first_pass never prompts.
    let svc = stack("use_first_pass");
    let out = svc.user(&e.user).authtok(&c).authenticate().run();
    out.expect("PAM_SUCCESS");
    let out = svc
        .user(&e.user)
        .authtok("000000")
        .answer(&c)
        .authenticate()
        .run();
    out.expect("PAM_AUTH_ERR");
    assert!(out.prompts().is_empty(), "{out}");
}

#[test]
fn hotp_counter_advances() {
    let e = Enrollment::with_text("2SH3V3GDW7ZNMGYE\n\" HOTP_COUNTER 1\n");
    login(&e, "", "293240").expect("PAM_SUCCESS");
    assert!(e.text().contains("\" HOTP_COUNTER 2\n"));
    login(&e, "", "293240").expect("PAM_AUTH_ERR");
    assert!(
        e.text().contains("\" HOTP_COUNTER 3\n"),
        "a failed attempt advances"
    );
    login(&e, "no_increment_hotp", "000000").expect("PAM_AUTH_ERR");
    assert!(e.text().contains("\" HOTP_COUNTER 3\n"));
    login(&e, "", "932068").expect("PAM_SUCCESS");
    assert!(e.text().contains("\" HOTP_COUNTER 6\n"));
}

#[test]
fn old_80_bit_secrets_work() {
    settle(3);
    let e = Enrollment::with_text("2SH3V3GDW7ZNMGYE\n\" TOTP_AUTH\n");
    login(&e, "", &code("2SH3V3GDW7ZNMGYE", step())).expect("PAM_SUCCESS");
}

#[test]
fn unknown_options_fail_closed_without_a_prompt() {
    let e = Enrollment::new("\" TOTP_AUTH\n");
    let out = login(&e, "window_size=3", "123456");
    out.expect("PAM_SERVICE_ERR");
    assert!(out.prompts().is_empty());
    assert_eq!(out.logged("window_size=3").len(), 1, "{out}");
}

#[test]
fn debug_logs_no_secrets() {
    settle(3);
    let e = Enrollment::new("\" TOTP_AUTH\n\" DISALLOW_REUSE\n12345678\n");
    let c = code(SECRET, step());
    for answer in [c.as_str(), "12345678", "000000"] {
        let out = login(&e, "debug", answer);
        assert!(out.syslog.len() >= 2, "debug lines expected\n{out}");
        assert_no_secrets(&out, &[&c, "12345678"]);
    }
}

#[test]
fn unwritable_state_is_reported_and_allow_readonly_lets_the_login_through() {
    // Needs the file work to run as another user than root, whose file
    // permissions then apply: only possible when the tests run as root.
    if !test_support::running_as_root() {
        eprintln!("skipped: needs root to act as nobody");
        return;
    }
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = dir.path().join("nobody");
    std::fs::write(
        &file,
        format!("{SECRET}\n\" TOTP_AUTH\n11111111\n22222222\n"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let chown = |p: &std::path::Path| {
        std::process::Command::new("chown")
            .args(["65534:65534"])
            .arg(p)
            .status()
            .is_ok_and(|s| s.success())
    };
    assert!(chown(&file));
    std::process::Command::new("chmod")
        .args(["0600"])
        .arg(&file)
        .status()
        .ok();
    // The directory stays root's, mode 0755: nobody can read the file but not replace it.
    std::process::Command::new("chmod")
        .args(["0755"])
        .arg(dir.path())
        .status()
        .ok();
    let svc = Service::new(&format!(
        "auth required {{totp}} secret={}/${{USER}}",
        dir.path().display()
    ));
    let out = svc.user("nobody").answer("11111111").authenticate().run();
    out.expect("PAM_AUTHINFO_UNAVAIL");
    assert_eq!(out.errors().len(), 1, "{out}");
    assert!(
        out.errors()[0].starts_with("Could not save the login state"),
        "{out}"
    );
    assert!(
        std::fs::read_to_string(&file)
            .unwrap_or_default()
            .contains("11111111")
    );

    let svc = Service::new(&format!(
        "auth required {{totp}} secret={}/${{USER}} allow_readonly",
        dir.path().display()
    ));
    svc.user("nobody")
        .answer("11111111")
        .authenticate()
        .run()
        .expect("PAM_SUCCESS");

    // With a directory nobody may write, the update works, as nobody: owner and mode kept.
    assert!(chown(dir.path()));
    let out = svc.user("nobody").answer("22222222").authenticate().run();
    out.expect("PAM_SUCCESS");
    let meta = std::fs::metadata(&file).unwrap_or_else(|e| panic!("{e}"));
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    assert_eq!((meta.uid(), meta.gid()), (65534, 65534));
    assert_eq!(meta.permissions().mode() & 0o7777, 0o600);
    assert!(
        !std::fs::read_to_string(&file)
            .unwrap_or_default()
            .contains("22222222")
    );
    assert_eq!(test_support::list(dir.path()), ["nobody"]);
}

#[test]
fn a_file_owned_by_someone_else_is_refused() {
    if !test_support::running_as_root() {
        eprintln!("skipped: needs root to create a file owned by another user");
        return;
    }
    settle(3);
    let e = Enrollment::new("\" TOTP_AUTH\n");
    std::process::Command::new("chown")
        .args(["65534"])
        .arg(e.path())
        .status()
        .ok();
    let c = code(SECRET, step());
    let out = login(&e, "", &c);
    out.expect("PAM_AUTHINFO_UNAVAIL");
    assert!(out.logged("owned by uid 65534").len() == 1, "{out}");
    login(&e, "no_strict_owner", &c).expect("PAM_SUCCESS");
}

#[test]
fn user_option_reads_a_root_owned_store() {
    if !test_support::running_as_root() {
        eprintln!("skipped: needs root");
        return;
    }
    settle(3);
    // The store belongs to root; the user logging in is nobody.
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        dir.path().join("nobody"),
        format!("{SECRET}\n\" TOTP_AUTH\n"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    std::process::Command::new("chmod")
        .args(["0600"])
        .arg(dir.path().join("nobody"))
        .status()
        .ok();
    let svc = Service::new(&format!(
        "auth required {{totp}} user=root secret={}/${{USER}}",
        dir.path().display()
    ));
    svc.user("nobody")
        .answer(&code(SECRET, step()))
        .authenticate()
        .run()
        .expect("PAM_SUCCESS");
}
