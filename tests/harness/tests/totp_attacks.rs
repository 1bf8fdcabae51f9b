//! pam_totp against what an outsider controls: the rhost, the user name,
//! replayed codes, a slow answer, a held lock, and what the client may learn
//! about an account from the prompts and messages it is shown.

use std::fs::File;
use std::time::{Duration, Instant};

use pam_harness::totp::{self, Enrollment, SECRET, code, step};
use pam_harness::{Outcome, Service};
use test_support::{now, settle};

fn service(e: &Enrollment, extra: &str) -> Service {
    Service::new(&format!("auth required {{totp}} {} {extra}", e.arg()))
}

/// What the client was shown, in order: (style, text).
fn transcript(out: &Outcome) -> Vec<(String, String)> {
    out.report
        .transcript
        .iter()
        .map(|m| (m.style.clone(), m.text.clone()))
        .collect()
}

/// An rhost with a line break would have planted a scratch code (which
/// then logs in) and options; it is not recorded and the file keeps its lines.
#[test]
fn an_rhost_cannot_write_lines_into_the_secret_file() {
    settle(4);
    let e = Enrollment::new("\" TOTP_AUTH\n");
    let svc = service(&e, "grace_period=300");
    for rhost in [
        "x\n55555555",
        "x\r\n\" WINDOW_SIZE 100",
        "x\n\" RATE_LIMIT 100 1",
    ] {
        let out = svc
            .user(&e.user)
            .rhost(rhost)
            .answer(&code(SECRET, step()))
            .authenticate()
            .run();
        out.expect("PAM_SUCCESS");
        let line = out.decision_line();
        assert!(
            line.contains("not recorded for grace_period"),
            "{rhost:?}\n{out}"
        );
        assert!(!line.contains('\n'), "the rhost is logged escaped\n{out}");
    }
    let text = e.text();
    assert!(!text.contains("55555555"), "{text}");
    assert!(
        !text.contains("WINDOW_SIZE") && !text.contains("RATE_LIMIT"),
        "{text}"
    );
    assert!(!text.contains("LAST"), "{text}");
    // The planted scratch code does not log in.
    svc.user(&e.user)
        .answer("55555555")
        .authenticate()
        .run()
        .expect("PAM_AUTH_ERR");
}

/// An rhost with a blank would have forged a grace entry for another host
/// with a time far in the future; then that host passed with any code.
#[test]
fn an_rhost_cannot_forge_a_grace_entry_for_another_host() {
    settle(4);
    let e = Enrollment::new("\" TOTP_AUTH\n");
    let svc = service(&e, "grace_period=300");
    svc.user(&e.user)
        .rhost("198.51.100.9 99999999999")
        .answer(&code(SECRET, step()))
        .authenticate()
        .run()
        .expect("PAM_SUCCESS");
    assert!(!e.text().contains("LAST"), "{}", e.text());
    let out = svc
        .user(&e.user)
        .rhost("198.51.100.9")
        .answer("000000")
        .authenticate()
        .run();
    out.expect("PAM_AUTH_ERR");
    assert_eq!(out.prompts().len(), 1, "{out}");
    // A real host name is still recorded and honoured.
    svc.user(&e.user)
        .rhost("client-1.example.org")
        .answer(&code(SECRET, step()))
        .authenticate()
        .run()
        .expect("PAM_SUCCESS");
    assert!(
        e.text().contains("\" LAST0 client-1.example.org "),
        "{}",
        e.text()
    );
}

/// A code of a step at or below the last one accepted, far outside the
/// window, is a replay: refused as reused, and it teaches nothing about the skew.
#[test]
fn replayed_old_codes_are_not_taken_for_clock_skew() {
    settle(3);
    let old = step() - 200;
    let e = Enrollment::new(&format!("\" DISALLOW_REUSE {old}\n\" TOTP_AUTH\n"));
    let svc = service(&e, "");
    for s in [old - 2, old - 1, old] {
        let out = svc
            .user(&e.user)
            .answer(&code(SECRET, s))
            .authenticate()
            .run();
        out.expect("PAM_AUTH_ERR");
        assert!(
            out.decision_line().contains("outcome=reused "),
            "step {s}\n{out}"
        );
        assert_eq!(
            out.errors(),
            ["This verification code was already used. Wait for the next code and try again."],
            "the user is told why\n{out}"
        );
    }
    let text = e.text();
    assert!(
        !text.contains("RESETTING_TIME_SKEW") && !text.contains("TIME_SKEW"),
        "{text}"
    );
    // A far-off code newer than the last used one still counts towards learning.
    let out = svc
        .user(&e.user)
        .answer(&code(SECRET, step() + 100))
        .authenticate()
        .run();
    assert!(
        out.decision_line().contains("outcome=skew-learning "),
        "{out}"
    );
}

/// With a name service that matches names case-insensitively, "ROOT" is
/// root's account: `${USER}` is the account's name, so the file is found and
/// the second factor is asked for (with `nullok` it was silently skipped).
#[test]
fn user_in_the_secret_path_is_the_accounts_passwd_name() {
    settle(3);
    let e = Enrollment::new("\" TOTP_AUTH\n");
    let svc = service(&e, "nullok");
    let shouted = e.user.to_uppercase();
    assert_ne!(shouted, e.user, "the test user's name has no letters");
    let out = svc
        .user(&shouted)
        .nss_fold_case()
        .answer("000000")
        .authenticate()
        .run();
    out.expect("PAM_AUTH_ERR");
    svc.user(&shouted)
        .nss_fold_case()
        .answer(&code(SECRET, step()))
        .authenticate()
        .run()
        .expect("PAM_SUCCESS");
}

/// The time is read when the answer arrives: a code typed after it expired
/// is refused, however early the prompt opened.
#[test]
fn the_clock_is_read_when_the_answer_arrives() {
    // One-second steps, window 1: a code is good for the second it is made in.
    let e = Enrollment::new("\" STEP_SIZE 1\n\" WINDOW_SIZE 1\n\" TOTP_AUTH\n");
    let svc = service(&e, "noskewadj");
    let prompt_opens = now() + 1;
    while now() < prompt_opens {
        std::thread::sleep(Duration::from_millis(20));
    }
    let c = {
        let key = totp::key(SECRET);
        format!("{:06}", pam_totp::otp::hotp(&key, now(), 6))
    };
    let out = svc.user(&e.user).answer_late(&c, 2500).authenticate().run();
    out.expect("PAM_AUTH_ERR");
}

/// A lock held on the file (by the user, or a stuck process) does not hang
/// a login that writes: after a bounded wait it fails as unavailable, logged.
#[test]
fn a_held_lock_makes_the_login_unavailable_not_hang() {
    settle(8);
    let e = Enrollment::new("\" DISALLOW_REUSE\n\" TOTP_AUTH\n");
    let holder = File::open(e.path()).unwrap_or_else(|err| panic!("{err}"));
    holder.lock().unwrap_or_else(|err| panic!("{err}"));
    let started = Instant::now();
    let out = service(&e, "")
        .user(&e.user)
        .answer(&code(SECRET, step()))
        .authenticate()
        .run();
    let waited = started.elapsed();
    out.expect("PAM_AUTHINFO_UNAVAIL");
    let line = out.decision_line();
    assert!(line.contains("outcome=store-error "), "{out}");
    assert!(line.contains("locked by another process"), "{out}");
    assert!(waited < Duration::from_secs(10), "waited {waited:?}");
    drop(holder);
    assert!(
        !e.text().contains(&step().to_string()),
        "nothing was written"
    );
}

/// An unknown user, a user who is not enrolled (without `nullok`) and a
/// broken secret file are shown exactly what a wrong code is shown.
#[test]
fn the_client_cannot_tell_accounts_apart() {
    let e = Enrollment::new("\" TOTP_AUTH\n");
    let missing = Enrollment::empty();
    let broken = Enrollment::with_text("not base32!\n");
    for extra in [
        "",
        "try_first_pass",
        "forward_pass",
        "echo_verification_code",
    ] {
        let wrong = service(&e, extra)
            .user(&e.user)
            .answer("000000")
            .authenticate()
            .run();
        wrong.expect("PAM_AUTH_ERR");
        let seen = transcript(&wrong);
        assert_eq!(seen.len(), 1, "{wrong}");
        for (what, out) in [
            (
                "unknown user",
                service(&e, extra)
                    .user("no-such-user-pam-totp")
                    .answer("000000")
                    .authenticate()
                    .run(),
            ),
            (
                "not enrolled",
                service(&missing, extra)
                    .user(&missing.user)
                    .answer("000000")
                    .authenticate()
                    .run(),
            ),
            (
                "broken file",
                service(&broken, extra)
                    .user(&broken.user)
                    .answer("000000")
                    .authenticate()
                    .run(),
            ),
        ] {
            assert_eq!(transcript(&out), seen, "{what} with [{extra}]\n{out}");
            assert_ne!(out.code(), "PAM_SUCCESS", "{what}\n{out}");
        }
    }
}

/// A rate-limited login is asked for its code like any other, and told why
/// it is refused only after answering.
#[test]
fn a_rate_limited_client_is_asked_first_and_told_after() {
    settle(3);
    let e = Enrollment::new("\" RATE_LIMIT 2 60\n\" TOTP_AUTH\n");
    let svc = service(&e, "");
    svc.user(&e.user)
        .answer("000000")
        .authenticate()
        .run()
        .expect("PAM_AUTH_ERR");
    svc.user(&e.user)
        .answer("000000")
        .authenticate()
        .run()
        .expect("PAM_AUTH_ERR");
    let out = svc
        .user(&e.user)
        .answer(&code(SECRET, step()))
        .authenticate()
        .run();
    out.expect("PAM_MAXTRIES");
    let seen = transcript(&out);
    assert_eq!(seen.len(), 2, "{out}");
    assert_eq!(seen[0].1, "Verification code: ", "{out}");
    assert_eq!(seen[1].0, "ERROR_MSG", "{out}");
    assert!(
        seen[1]
            .1
            .starts_with("Too many login attempts. Please try again in "),
        "{out}"
    );
    assert!(out.decision_line().contains("outcome=throttled "), "{out}");
}

/// A user name or rhost with characters that reorder text (bidirectional
/// overrides, isolates, line and paragraph separators) is logged escaped.
#[test]
fn log_fields_cannot_reorder_what_an_admin_reads() {
    let e = Enrollment::empty();
    let svc = Service::new(&format!("auth required {{totp}} {}", e.arg()));
    let out = svc
        .user("mallory\u{202e}nimda")
        .rhost("10.0.0.1\u{2066}x\u{2028}y\u{200f}")
        .answer("000000")
        .authenticate()
        .run();
    let line = out.decision_line();
    for c in ['\u{202e}', '\u{2066}', '\u{2028}', '\u{200f}'] {
        assert!(!line.contains(c), "{c:?} unescaped\n{out}");
    }
    assert!(line.contains("user=mallory\\xe2\\x80\\xaenimda "), "{out}");
}
