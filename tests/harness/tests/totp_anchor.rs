//! pam_totp beside the real thing: files from the `google-authenticator` CLI,
//! codes from `oathtool`, and pam_google_authenticator.so deciding on the
//! same files, times and codes (Debian packages libpam-google-authenticator
//! and oathtool, installed by scripts/deps.sh --test).

use std::process::Command;

use pam_harness::totp::{self, Enrollment, anchors_present, code, step};
use pam_harness::{Outcome, Service};
use pam_totp::enrollment::Enrollment as File;
use test_support::settle;

fn oathtool(secret: &str, unix_time: u64) -> String {
    totp::oathtool(&["--totp", "-N", &format!("@{unix_time}")], secret)
}

/// A fresh enrollment written by the google-authenticator CLI itself.
fn enroll_with_cli(flags: &[&str]) -> Enrollment {
    let e = Enrollment::empty();
    let out = Command::new("google-authenticator")
        .args(flags)
        .args(["-f", "-C", "-q", "-Q", "NONE", "-s"])
        .arg(e.path())
        .output()
        .unwrap_or_else(|err| panic!("google-authenticator: {err}"));
    assert!(out.status.success(), "google-authenticator failed: {out:?}");
    e
}

fn secret_of(e: &Enrollment) -> String {
    e.text().lines().next().unwrap_or_default().to_owned()
}

fn ours(e: &Enrollment, extra: &str) -> Service {
    Service::new(&format!("auth required {{totp}} {} {extra}", e.arg()))
}

fn theirs(e: &Enrollment, extra: &str) -> Service {
    Service::new(&format!(
        "auth required {{sys}}/pam_google_authenticator.so {} {extra}",
        e.arg()
    ))
}

fn login(svc: &Service, e: &Enrollment, answer: &str) -> Outcome {
    svc.user(&e.user).answer(answer).authenticate().run()
}

#[test]
fn oathtool_agrees_with_our_codes() {
    if !anchors_present() {
        return;
    }
    let secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
    for t in [
        59u64,
        1_111_111_109,
        1_234_567_890,
        2_000_000_000,
        20_000_000_000,
        test_support::now(),
    ] {
        assert_eq!(oathtool(secret, t), code(secret, t / 30), "time {t}");
    }
}

#[test]
fn a_cli_enrollment_authenticates_with_pam_totp_using_oathtool_codes() {
    if !anchors_present() {
        return;
    }
    settle(3);
    let e = enroll_with_cli(&["-t", "-d", "-r", "3", "-R", "30", "-w", "3"]);
    let secret = secret_of(&e);
    let c = oathtool(&secret, test_support::now());
    login(&ours(&e, ""), &e, &c).expect("PAM_SUCCESS");
    // Its scratch codes work once.
    let scratch = File::parse(&e.bytes())
        .map(|f| f.scratch_values())
        .unwrap_or_default();
    assert_eq!(scratch.len(), 5, "{}", e.text());
    login(&ours(&e, ""), &e, &scratch[0].to_string()).expect("PAM_SUCCESS");
    login(&ours(&e, ""), &e, &scratch[0].to_string()).expect("PAM_AUTH_ERR");
}

#[test]
fn after_pam_totp_updates_a_file_pam_google_authenticator_still_accepts_it() {
    if !anchors_present() {
        return;
    }
    settle(4);
    let e = enroll_with_cli(&["-t", "-d", "-r", "10", "-R", "30", "-w", "3"]);
    let secret = secret_of(&e);
    let scratch = File::parse(&e.bytes())
        .map(|f| f.scratch_values())
        .unwrap_or_default();
    let s = step();
    // pam_totp: a code for this step and a scratch code.
    login(&ours(&e, ""), &e, &code(&secret, s)).expect("PAM_SUCCESS");
    login(&ours(&e, ""), &e, &scratch[0].to_string()).expect("PAM_SUCCESS");
    // pam_google_authenticator reads what we wrote: it refuses the step we
    // recorded as used, accepts the next one and another scratch code, and
    // does not accept the scratch code we spent.
    let ga = theirs(&e, "");
    login(&ga, &e, &code(&secret, s)).expect("PAM_AUTH_ERR");
    login(&ga, &e, &code(&secret, s + 1)).expect("PAM_SUCCESS");
    login(&ga, &e, &scratch[1].to_string()).expect("PAM_SUCCESS");
    login(&ga, &e, &scratch[0].to_string()).expect("PAM_AUTH_ERR");
    // And back: what the anchor wrote (mode 0400) works with pam_totp.
    let left = File::parse(&e.bytes())
        .map(|f| f.scratch_values())
        .unwrap_or_default();
    assert_eq!(left.len(), 3);
    login(&ours(&e, ""), &e, &left[0].to_string()).expect("PAM_SUCCESS");
}

/// Copies of one file, one for each module, so each sees the same state.
struct Pair {
    ours: Enrollment,
    theirs: Enrollment,
}

impl Pair {
    fn new(text: &str) -> Self {
        Self {
            ours: Enrollment::with_text(text),
            theirs: Enrollment::with_text(text),
        }
    }

    fn decide(&self, extra: &str, answer: &str) -> (String, String) {
        let a = login(&ours(&self.ours, extra), &self.ours, answer);
        let b = login(&theirs(&self.theirs, extra), &self.theirs, answer);
        (a.code().to_owned(), b.code().to_owned())
    }
}

#[test]
fn both_modules_decide_alike_on_the_same_file_time_and_code() {
    if !anchors_present() {
        return;
    }
    let secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
    let files = [
        format!("{secret}\n\" TOTP_AUTH\n11111111\n"),
        format!("{secret}\n\" WINDOW_SIZE 5\n\" TOTP_AUTH\n"),
        format!("{secret}\n\" DISALLOW_REUSE\n\" TOTP_AUTH\n12345678\n"),
        format!("{secret}\n\" STEP_SIZE 60\n\" TOTP_AUTH\n"),
        format!("{secret}\n\" WINDOW_SIZE 1\n\" TOTP_AUTH\n"),
    ];
    let mut compared = 0;
    for text in &files {
        settle(5);
        let s = step();
        let step60 = test_support::now() / 60;
        let inputs = [
            code(secret, s),
            code(secret, s + 1),
            code(secret, s - 1),
            code(secret, s + 2),
            code(secret, s - 3),
            code(secret, step60),
            "000000".to_owned(),
            "11111111".to_owned(),
            "12345678".to_owned(),
            "1234567".to_owned(),
            "12345".to_owned(),
            "abcdef".to_owned(),
            String::new(),
        ];
        for input in &inputs {
            // One fresh pair per input: no state carried between inputs.
            let pair = Pair::new(text);
            let (a, b) = pair.decide("noskewadj", input);
            assert_eq!(
                a, b,
                "file {text:?} input {input:?}: pam_totp {a}, pam_google_authenticator {b}"
            );
            compared += 1;
        }
        // The same code twice: with DISALLOW_REUSE both refuse the second use.
        let pair = Pair::new(text);
        let c = code(secret, s);
        let first = pair.decide("", &c);
        let second = pair.decide("", &c);
        assert_eq!(first.0, first.1, "{text:?}");
        assert_eq!(second.0, second.1, "{text:?} second use");
        compared += 2;
    }
    assert!(compared > 60);
}

#[test]
fn where_pam_totp_is_deliberately_stricter() {
    if !anchors_present() {
        return;
    }
    // Monotonic replay protection: after step s+1, a code for step s.
    settle(4);
    let secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
    let pair = Pair::new(&format!("{secret}\n\" DISALLOW_REUSE\n\" TOTP_AUTH\n"));
    let s = step();
    let first = pair.decide("", &code(secret, s + 1));
    assert_eq!(first, ("PAM_SUCCESS".into(), "PAM_SUCCESS".into()));
    let (ours_code, theirs_code) = pair.decide("", &code(secret, s));
    assert_eq!(
        ours_code, "PAM_AUTH_ERR",
        "pam_totp refuses an earlier step"
    );
    assert_eq!(
        theirs_code, "PAM_SUCCESS",
        "pam_google_authenticator accepts it"
    );

    // A symlinked secret file: the anchor follows it, pam_totp refuses it.
    let target = Enrollment::with_text(&format!("{secret}\n\" TOTP_AUTH\n"));
    let link = Enrollment::empty();
    std::os::unix::fs::symlink(target.path(), link.path()).unwrap_or_else(|e| panic!("{e}"));
    let c = code(secret, step());
    login(&ours(&link, ""), &link, &c).expect("PAM_AUTHINFO_UNAVAIL");
    login(&theirs(&link, ""), &link, &c).expect("PAM_SUCCESS");
}

/// The anchor's own test runs every case in eight stacking modes and counts
/// the prompts; both modules run the same matrix here and must agree on the
/// result, the number of prompts and the password passed on.
#[test]
fn stacking_modes_match_the_anchor_case_by_case() {
    if !anchors_present() {
        return;
    }
    let secret = "2SH3V3GDW7ZNMGYE";
    let text = format!("{secret}\n\" TOTP_AUTH\n");
    settle(5);
    let good = code(secret, step());
    let c = good.as_str();
    // (options, PAM_AUTHTOK set by an earlier module, prompt answer)
    let modes: Vec<(&str, Option<String>, Option<String>)> = vec![
        ("", None, Some(c.to_owned())),
        ("forward_pass", None, Some(format!("pw{c}"))),
        ("use_first_pass", Some(c.to_owned()), None),
        ("use_first_pass forward_pass", Some(format!("pw{c}")), None),
        // As in the anchor's test, the conversation always has an answer ready.
        ("try_first_pass", Some(c.to_owned()), Some(c.to_owned())),
        (
            "try_first_pass forward_pass",
            Some(format!("pw{c}")),
            Some(format!("pw{c}")),
        ),
        ("try_first_pass", Some("junk".into()), Some(c.to_owned())),
        (
            "try_first_pass forward_pass",
            Some("junk".into()),
            Some(format!("pw{c}")),
        ),
    ];
    let wrong = format!("{:06}", (c.parse::<u32>().unwrap_or(0) + 1) % 1_000_000);
    let short = c[1..].to_owned();
    let variants = [
        c.to_owned(),
        wrong,
        short,
        format!("0{c}"),
        format!("00{c}"),
        String::new(),
    ];
    let mut compared = 0;
    for (opts, authtok, answer) in &modes {
        for variant in &variants {
            let subst = |s: &String| s.replace(c, variant);
            let run = |e: &Enrollment, module: &str| {
                let svc = Service::new(&format!(
                    "auth required {{items}} set
                     auth required {module} {} {opts}
                     auth required {{items}} record",
                    e.arg()
                ));
                let mut s = svc.user(&e.user);
                if let Some(t) = authtok {
                    s = s.authtok(&subst(t));
                }
                if let Some(a) = answer {
                    s = s.answer(&subst(a));
                }
                let out = s.authenticate().run();
                (
                    out.code().to_owned(),
                    out.prompts().len(),
                    out.env("HARNESS_SEEN_AUTHTOK").map(str::to_owned),
                )
            };
            let pair = Pair::new(&text);
            let a = run(&pair.ours, "{totp}");
            let b = run(&pair.theirs, "{sys}/pam_google_authenticator.so");
            assert_eq!(
                a, b,
                "options {opts:?}, authtok {authtok:?}, answer {answer:?}, code {variant:?}: pam_totp {a:?}, pam_google_authenticator {b:?}"
            );
            if variant == c {
                assert_eq!(a.0, "PAM_SUCCESS", "{opts:?} {authtok:?} {answer:?}");
            }
            compared += 1;
        }
    }
    assert_eq!(compared, modes.len() * variants.len());
}
