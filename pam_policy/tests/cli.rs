//! `pam-policy-check`, the admin's checker, as a user runs it.

use std::path::PathBuf;
use std::process::Command;

use test_support::{Run, run_with_input};

/// pam-policy-check with `args`, `input` on its stdin.
fn check(args: &[&str], input: &[u8]) -> Run {
    run_with_input(
        Command::new(env!("CARGO_BIN_EXE_pam-policy-check")).args(args),
        input,
    )
}

const GUIDE: &[&str] = &[
    "retry=3",
    "minlen=10",
    "difok=3",
    "ucredit=-1",
    "lcredit=-2",
    "dcredit=-1",
    "ocredit=-1",
];

#[test]
fn pass_and_fail_with_every_reason() {
    let r = check(GUIDE, b"Xk9#mQ2$vL\n");
    assert_eq!((r.code(), r.stdout.as_str()), (0, "PASS\n"), "{r}");
    let r = check(GUIDE, b"short\n");
    assert_eq!(r.code(), 1);
    assert_eq!(
        r.stdout,
        "FAIL\n\
         BAD PASSWORD: The password contains less than 1 digits\n\
         BAD PASSWORD: The password contains less than 1 uppercase letters\n\
         BAD PASSWORD: The password contains less than 1 non-alphanumeric characters\n\
         BAD PASSWORD: The password is shorter than 10 characters\n\
         BAD PASSWORD: The password fails the dictionary check - it is too short\n"
    );
    // The whole option line as one argument works the same.
    let r = check(&[&GUIDE.join(" ")], b"short");
    assert_eq!(r.stdout.lines().count(), 6, "{r}");
}

#[test]
fn old_password_and_user() {
    let r = check(&[GUIDE, &["--old"]].concat(), b"xK9#Mq2$Vl\nXk9#mQ2$vL\n");
    assert_eq!(r.code(), 1);
    assert!(
        r.stdout
            .contains("BAD PASSWORD: The password differs with case changes only\n"),
        "{r}"
    );
    let r = check(&[GUIDE, &["--user", "alice"]].concat(), b"Alice#2024x\n");
    assert!(
        r.stdout
            .contains("The password contains the user name in some form"),
        "{r}"
    );
}

#[test]
fn minscore_feedback() {
    let r = check(&["minlen=6", "minscore=4"], b"Summer2024!\n");
    assert_eq!(r.code(), 1);
    assert!(
        r.stdout
            .contains("BAD PASSWORD: The password is too easy to guess (strength "),
        "{r}"
    );
}

#[test]
fn bad_input_is_answered() {
    let r = check(GUIDE, b"");
    assert_eq!(
        (r.code(), r.stdout.as_str()),
        (1, "FAIL\nBAD PASSWORD: No password supplied\n")
    );
    let r = check(GUIDE, b"Xk9#m\xffQ2$vL\n");
    assert_eq!(r.code(), 1);
    assert_eq!(
        r.stdout,
        "FAIL\nBAD PASSWORD: The password is not valid UTF-8 text\n"
    );
    let r = check(GUIDE, b"Xk9#m\x01\x02\x1bQ2$vL\n");
    assert_eq!(r.code(), 0, "{r}");
    let long = "Xk9#mQ2$vL".repeat(10 * 1024);
    let r = check(GUIDE, long.as_bytes());
    assert_eq!((r.code(), r.stdout.as_str()), (0, "PASS\n"));
    let r = check(GUIDE, &vec![b'a'; 2 * 1024 * 1024]);
    assert_eq!(r.code(), 2);
    assert!(r.stderr.contains("input longer than"), "{r}");
}

#[test]
fn configuration_errors_exit_2_and_say_why() {
    let r = check(&["minlenn=3"], b"Xk9#mQ2$vL\n");
    assert_eq!(r.code(), 2);
    assert!(r.stderr.contains("unknown option \"minlenn=3\""), "{r}");
    let r = check(&["conf=/nonexistent/pwquality.conf"], b"Xk9#mQ2$vL\n");
    assert_eq!(r.code(), 2);
    assert!(r.stderr.contains("/nonexistent/pwquality.conf"), "{r}");
    let r = check(&["--frobnicate"], b"");
    assert_eq!(r.code(), 2);
    let r = check(&["--help"], b"");
    assert!(r.code() == 0 && r.stdout.contains("--build-dict"));
}

#[test]
fn builds_a_dictionary_the_module_reads() {
    let dir = test_support::Dir::new("pam-policy-cli-");
    let list = dir.join("words.txt");
    std::fs::write(&list, "Zorblatt\nQuux-Widget\n# comment\n").unwrap();
    let prefix: PathBuf = dir.join("site");
    let r = check(
        &[
            "--build-dict",
            prefix.to_str().unwrap(),
            list.to_str().unwrap(),
        ],
        b"",
    );
    assert_eq!(r.code(), 0, "{r}");
    assert!(r.stdout.starts_with("2 words written"), "{r}");
    let dictpath = format!("dictpath={}", prefix.display());
    let r = check(&["minlen=6", &dictpath], b"Zorblatt1!\n");
    assert_eq!(
        r.stdout,
        "FAIL\nBAD PASSWORD: The password fails the dictionary check - it is based on a dictionary word\n"
    );
    let r = check(&["minlen=6", &dictpath], b"quuxwidget#\n");
    assert_eq!(r.code(), 1, "{r}");
    // A missing dictionary: the built-in list, and a note saying so.
    let r = check(&["minlen=6", "dictpath=/nonexistent/dict"], b"Password1!\n");
    assert_eq!(r.code(), 1);
    assert!(r.stderr.contains("built-in list"), "{r}");
}

#[test]
fn warn_and_skip_say_what_pam_would_do() {
    let r = check(&["minlen=10", "enforcing=0"], b"short\n");
    assert_eq!(r.code(), 0, "{r}");
    assert!(r.stdout.starts_with("WARN\nBAD PASSWORD: "), "{r}");
    assert!(r.stderr.contains("enforcing=0"), "{r}");
    let r = check(&["minlen=10", "--as-root"], b"short\n");
    assert!(r.stdout.starts_with("WARN\n"), "{r}");
    let r = check(&["minlen=10", "--as-root", "--expired"], b"short\n");
    assert!(r.stdout.starts_with("FAIL\n") && r.code() == 1, "{r}");
    let r = check(
        &["--user", "no-such-user-9z", "local_users_only", "minlen=10"],
        b"short\n",
    );
    assert_eq!((r.code(), r.stdout.as_str()), (0, "SKIP\n"), "{r}");
}

#[test]
fn builds_a_breach_filter_from_standard_input() {
    let dir = test_support::Dir::new("pam-policy-breach-cli-");
    let out = dir.join("hibp.filter");
    // SHA-1 of "password", and of "Xk9#mQ2$vL" is not in it.
    let list = b"5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8:9545824\r\nnot a hash\r\n";
    let r = check(
        &["--build-breach-filter", out.to_str().unwrap()],
        list.as_slice(),
    );
    assert_eq!(r.code(), 0, "{r}");
    assert!(
        r.stdout.starts_with("1 hashes from 2 lines (1 skipped)"),
        "{r}"
    );
    let opt = format!("breachlist={}", out.display());
    let r = check(&["minlen=6", "dictcheck=0", &opt], b"password\n");
    assert_eq!(
        r.stdout,
        "FAIL\nBAD PASSWORD: The password has appeared in a data breach; choose one that has not\n",
        "{r}"
    );
    let r = check(&["minlen=6", &opt], b"Xk9#mQ2$vL\n");
    assert_eq!((r.code(), r.stdout.as_str()), (0, "PASS\n"), "{r}");
}
