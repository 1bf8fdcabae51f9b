//! pam_policy.so through the real libpam: every rule at its boundary, the
//! chauthtok flow (prelim pass, retries, root, retype, PAM_AUTHTOK for the
//! next module), pwquality.conf, the dictionary and its fallbacks, minscore,
//! and hostile input.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use pam_harness::{Outcome, Service, flags, write_file};
use test_support::running_as_root;

const GUIDE: &str = "retry=3 minlen=10 difok=3 ucredit=-1 lcredit=-2 dcredit=-1 ocredit=-1";

fn service(line: &str) -> Service {
    let svc = Service::new(&format!(
        "password requisite {{items}} set
         password requisite {{policy}} {line}
         password required {{items}} record"
    ));
    // Unprivileged drivers (uid 65534) read the files tests put here and
    // write their captured syslog here.
    std::fs::set_permissions(svc.dir(), std::fs::Permissions::from_mode(0o1777))
        .expect("chmod the service directory");
    svc
}

/// One password, typed twice, by an unprivileged caller; returns the first
/// "BAD PASSWORD" reason, or "OK" when it was accepted and handed on.
fn verdict_for(svc: &Service, user: &str, old: Option<&str>, pw: &str) -> (String, Outcome) {
    let mut s = svc.user(user).unprivileged().answer(pw).answer(pw);
    if let Some(o) = old {
        s = s.old_authtok(o);
    }
    let out = s.chauthtok().run();
    let v = match out.errors().first() {
        Some(e) => e.strip_prefix("BAD PASSWORD: ").unwrap_or(e).to_owned(),
        None if out.code() == "PAM_SUCCESS" => {
            assert_eq!(out.env("HARNESS_SEEN_AUTHTOK"), Some(pw), "{out}");
            "OK".to_owned()
        }
        None => format!("no message, {}", out.code()),
    };
    (v, out)
}

/// The first refusal for a password typed once (for inputs too long to
/// script twice).
fn refusal_for(svc: &Service, old: Option<&str>, pw: &str) -> String {
    let mut s = svc.user("alice").unprivileged().answer(pw);
    if let Some(o) = old {
        s = s.old_authtok(o);
    }
    let out = s.chauthtok().run();
    out.errors().first().map_or_else(
        || format!("no message, {}", out.code()),
        |e| e.strip_prefix("BAD PASSWORD: ").unwrap_or(e).to_owned(),
    )
}

#[track_caller]
fn expect_all(line: &str, user: &str, old: Option<&str>, cases: &[(&str, &str)]) {
    let svc = service(line);
    for &(pw, want) in cases {
        let (got, out) = verdict_for(&svc, user, old, pw);
        assert_eq!(got, want, "password {pw:?} under `{line}`\n{out}");
    }
}

#[test]
fn the_guide_line_scenarios() {
    expect_all(
        GUIDE,
        "alice",
        None,
        &[
            ("Xk9#mQ2$v", "The password is shorter than 10 characters"),
            ("Xk9#mQ2$vL", "OK"),
            (
                "xk9#mq2$vl",
                "The password contains less than 1 uppercase letters",
            ),
            (
                "XK9#MQ2$VL",
                "The password contains less than 2 lowercase letters",
            ),
            (
                "XK9#MQ2$vL",
                "The password contains less than 2 lowercase letters",
            ),
            ("Xkz#mQw$vL", "The password contains less than 1 digits"),
            (
                "Xk9amQ2bvL",
                "The password contains less than 1 non-alphanumeric characters",
            ),
            ("password", "The password contains less than 1 digits"),
            ("short", "The password contains less than 1 digits"),
            (
                "Password1!",
                "The password fails the dictionary check - it is based on a dictionary word",
            ),
            ("Passw0rd!!", "OK"),
            ("Summer2024!", "OK"),
            (
                "Qwerty123!",
                "The password fails the dictionary check - it is based on a dictionary word",
            ),
            (
                "Aaaaaaaa1#",
                "The password fails the dictionary check - it does not contain enough DIFFERENT characters",
            ),
            (
                "Abcdefgh1#",
                "The password fails the dictionary check - it is too simplistic/systematic",
            ),
            (
                "correct horse battery staple",
                "The password contains less than 1 digits",
            ),
            ("Correct horse battery staple 9", "OK"),
            ("Tr0ub4dor&3", "OK"),
            ("Ab1#xx#1bA", "The password is a palindrome"),
            (
                "Alice#2024x",
                "The password contains the user name in some form",
            ),
            (
                "Ecila#2024x",
                "The password contains the user name in some form",
            ),
        ],
    );
}

#[test]
fn unicode_lengths_and_classes() {
    expect_all(
        GUIDE,
        "alice",
        None,
        &[
            // 8 characters, 11 bytes.
            ("Abc1#ééé", "The password is shorter than 10 characters"),
            ("Abc1#éééxy", "OK"),
            // Ü, П: upper case letters; ï, ö, é, а: lower case.
            ("Ünïcödé#1ab", "OK"),
            ("ПарольХорош1!", "OK"),
            (
                "пароль#хорош1",
                "The password contains less than 1 uppercase letters",
            ),
            // Arabic-Indic digit three is a digit.
            ("Xkq#mQw$vL٣", "OK"),
            ("Xkq#mQw$vL字", "The password contains less than 1 digits"),
        ],
    );
}

#[test]
fn length_and_credit_boundaries() {
    expect_all(
        "minlen=10 dictcheck=0",
        "alice",
        None,
        &[
            ("xkqmwzvlr", "The password is shorter than 10 characters"),
            ("xkqmwzvlrt", "OK"),
        ],
    );
    // Positive credits: up to N characters of a class count twice.
    expect_all(
        "minlen=10 dcredit=1 ucredit=1 lcredit=1 ocredit=1 dictcheck=0",
        "alice",
        None,
        &[
            ("Ab1#x", "The password is shorter than 6 characters"),
            ("Ab1#xy", "OK"),
            ("abcdxyzw", "The password is shorter than 9 characters"),
            ("abcdxyzwq", "OK"),
        ],
    );
    expect_all(
        "minlen=10 dcredit=2 dictcheck=0",
        "alice",
        None,
        &[
            ("mtbzkq12", "OK"),
            ("mtbzkq1", "The password is shorter than 9 characters"),
        ],
    );
    // minlen below the floor of 6 is raised to it.
    expect_all(
        "minlen=3 dictcheck=0",
        "alice",
        None,
        &[
            ("Xk9#m", "The password is shorter than 6 characters"),
            ("Xk9#mq", "OK"),
        ],
    );
    // Negative credits are minimums: exactly N passes.
    expect_all(
        "minlen=6 dcredit=-2 ocredit=-2 dictcheck=0",
        "alice",
        None,
        &[
            ("xkq#m1$z", "The password contains less than 2 digits"),
            (
                "xkq#m12z",
                "The password contains less than 2 non-alphanumeric characters",
            ),
            ("xk#m12$z", "OK"),
        ],
    );
}

#[test]
fn class_repeat_and_sequence_boundaries() {
    expect_all(
        "minlen=6 minclass=3 dictcheck=0",
        "alice",
        None,
        &[
            (
                "xkqmwzvlr7",
                "The password contains less than 3 character classes",
            ),
            ("xkqmwzvlR7", "OK"),
        ],
    );
    expect_all(
        "minlen=6 maxrepeat=2 dictcheck=0",
        "alice",
        None,
        &[
            ("Xk9#mQQ2$vL", "OK"),
            (
                "Xk9#mQQQ2$vL",
                "The password contains more than 2 same characters consecutively",
            ),
        ],
    );
    expect_all(
        "minlen=6 maxsequence=3 dictcheck=0",
        "alice",
        None,
        &[
            ("Xk9#mQ2$vL123", "OK"),
            (
                "Xk9#mQ2$vL1234",
                "The password contains monotonic sequence longer than 3 characters",
            ),
            ("Xk9#mQ2$vLdcb", "OK"),
            (
                "Xk9#mQ2$vLdcba",
                "The password contains monotonic sequence longer than 3 characters",
            ),
        ],
    );
    expect_all(
        "minlen=6 maxclassrepeat=3 dictcheck=0",
        "alice",
        None,
        &[
            ("Xk9#mqwQ2x", "OK"),
            (
                "Xk9#mqwzQ2",
                "The password contains more than 3 characters of the same class consecutively",
            ),
        ],
    );
}

#[test]
fn old_password_rules() {
    let old = Some("Xk9#mQ2$vL");
    expect_all(
        GUIDE,
        "alice",
        old,
        &[
            ("Xk9#mQ2$vL", "The password is the same as the old one"),
            ("xK9#Mq2$Vl", "The password differs with case changes only"),
            ("Xk9#mQ2$vLa", "The password is too similar to the old one"),
            ("Yk9#mQ2$vM", "The password is too similar to the old one"),
            // Distance 3 = difok: different enough.
            ("Yk8#mQ2$vM", "OK"),
            ("mQ2$vLXk9#", "The password is just rotated old one"),
            // Twice as long: the similarity check is skipped, rotation is not.
            (
                "Xk9#mQ2$vLXk9#mQ2$vL",
                "The password is just rotated old one",
            ),
        ],
    );
    expect_all(
        "minlen=10 difok=0 dictcheck=0",
        "alice",
        old,
        &[
            ("xK9#Mq2$Vl", "OK"),
            ("Xk9#mQ2$vL", "The password is the same as the old one"),
        ],
    );
}

#[test]
fn user_name_gecos_and_badwords() {
    expect_all(
        "minlen=6",
        "bob",
        None,
        // Names shorter than four characters are not looked for.
        &[("Bob#2024xyz", "OK")],
    );
    expect_all(
        "minlen=6",
        "xk9#",
        None,
        &[(
            "Xk9#mQ2$vL",
            "The password contains the user name in some form",
        )],
    );
    expect_all(
        "minlen=6 usersubstr=4 dictcheck=0",
        "johnsmith",
        None,
        &[
            (
                "Xk9#smitQ2",
                "The password contains the user name in some form",
            ),
            (
                "Xk9#tims2Q",
                "The password contains the user name in some form",
            ),
            ("Xk9#smiQ2t", "OK"),
        ],
    );
    expect_all(
        "minlen=6 [badwords=acme corp abc] dictcheck=0",
        "alice",
        None,
        &[
            (
                "Xk9#ACMEQ2",
                "The password contains forbidden words in some form",
            ),
            (
                "Xk9#emcaQ2",
                "The password contains forbidden words in some form",
            ),
            (
                "Xk9#corpQ2",
                "The password contains forbidden words in some form",
            ),
            ("Xk9#abcQ2z", "OK"),
        ],
    );
    expect_all(
        "minlen=6 gecoscheck=1 usercheck=0 dictcheck=0",
        "root",
        None,
        &[
            (
                "Xk9#rootQ2",
                "The password contains words from the real name of the user in some form",
            ),
            ("Xk9#rotoQ2", "OK"),
        ],
    );
    // pam_cracklib's spelling of the user check.
    expect_all(
        "minlen=6 usercheck=0 reject_username",
        "alice",
        None,
        &[(
            "Alice#2024x",
            "The password contains the user name in some form",
        )],
    );
}

#[test]
fn minscore_shows_zxcvbns_warning_and_suggestions() {
    let svc = service("minlen=6 minscore=3");
    let (v, out) = verdict_for(&svc, "alice", None, "Summer2024!");
    assert!(
        v.starts_with("The password is too easy to guess (strength ")
            && v.contains("3 required) - "),
        "{v}\n{out}"
    );
    let advice = v.split(" - ").nth(1).unwrap_or("");
    assert!(advice.len() > 10, "no advice in {v:?}");
    assert_eq!(
        verdict_for(&svc, "alice", None, "Correct horse battery staple 9").0,
        "OK"
    );
    // Dictionary and rule checks still come first.
    assert_eq!(
        verdict_for(&svc, "alice", None, "Password1!").0,
        "The password fails the dictionary check - it is based on a dictionary word"
    );
}

#[test]
fn retries_messages_and_codes() {
    let svc = service(GUIDE);
    // Three refusals: three messages, each followed by a new prompt, never a retype.
    let out = svc
        .user("alice")
        .unprivileged()
        .answer("short")
        .answer("Password1!")
        .answer("xk9#mq2$vl")
        .chauthtok()
        .run();
    out.expect("PAM_MAXTRIES");
    assert_eq!(out.prompts(), ["New password: "; 3], "{out}");
    assert_eq!(
        out.errors(),
        [
            "BAD PASSWORD: The password contains less than 1 digits",
            "BAD PASSWORD: The password fails the dictionary check - it is based on a dictionary word",
            "BAD PASSWORD: The password contains less than 1 uppercase letters",
        ],
        "{out}"
    );
    assert_eq!(
        out.env("HARNESS_SEEN_AUTHTOK"),
        None,
        "a refused password was handed on\n{out}"
    );
    assert_eq!(out.logged("outcome=rejected").len(), 3, "{out}");
    assert!(
        !out.syslog.iter().any(|l| l.message.contains("Password1!")),
        "a password reached syslog\n{out}"
    );

    // A retype mismatch costs a try and says so (libpam's words).
    let out = svc
        .user("alice")
        .unprivileged()
        .answer("Xk9#mQ2$vL")
        .answer("Xk9#mQ2$vX")
        .answer("Xk9#mQ2$vL")
        .answer("Xk9#mQ2$vL")
        .chauthtok()
        .run();
    out.expect("PAM_SUCCESS");
    assert_eq!(
        out.prompts(),
        [
            "New password: ",
            "Retype new password: ",
            "New password: ",
            "Retype new password: "
        ],
        "{out}"
    );
    assert_eq!(out.errors(), ["Sorry, passwords do not match."], "{out}");
    assert_eq!(out.env("HARNESS_SEEN_AUTHTOK"), Some("Xk9#mQ2$vL"), "{out}");

    // retry=1: the real reason, PAM_AUTHTOK_ERR.
    let svc1 = service("minlen=10");
    let out = svc1
        .user("alice")
        .unprivileged()
        .answer("short")
        .chauthtok()
        .run();
    out.expect("PAM_AUTHTOK_ERR");
    assert_eq!(out.errors().len(), 1, "{out}");

    // The user gives up (the conversation fails): PAM_AUTHTOK_ERR.
    let out = svc
        .user("alice")
        .unprivileged()
        .fail_conversation()
        .chauthtok()
        .run();
    out.expect("PAM_AUTHTOK_ERR");
    assert_eq!(out.logged("outcome=aborted").len(), 1, "{out}");
}

#[test]
fn a_user_name_cannot_forge_syslog_fields() {
    let svc = service("minlen=10");
    let out = svc
        .user("eve outcome=accepted\nfake")
        .unprivileged()
        .answer("short")
        .chauthtok()
        .run();
    out.expect("PAM_AUTHTOK_ERR");
    let lines = out.logged("outcome=rejected");
    assert_eq!(lines.len(), 1, "{out}");
    assert!(
        lines[0]
            .message
            .contains("user=eve\\x20outcome=accepted\\x0afake rhost="),
        "{out}"
    );
    assert!(
        out.logged("outcome=accepted")
            .iter()
            .all(|l| l.message.contains("\\x20outcome=accepted"))
    );
}

#[test]
fn the_prelim_pass_asks_nothing() {
    // pam_deny fails the prelim pass, so the update pass never runs: any
    // prompt would have come from our prelim pass.
    let svc = Service::new(
        "password requisite {policy} retry=3 minlen=10
         password requisite {sys}/pam_deny.so",
    );
    let out = svc
        .user("alice")
        .unprivileged()
        .answer("x")
        .chauthtok()
        .run();
    assert_ne!(out.code(), "PAM_SUCCESS", "{out}");
    assert!(out.prompts().is_empty(), "{out}");
}

#[test]
fn root_is_warned_unless_enforced() {
    if !running_as_root() {
        eprintln!("SKIPPED: needs root to run a caller with real uid 0");
        return;
    }
    let weak = |svc: &Service, f: i32| {
        svc.user("alice")
            .answer("short")
            .answer("short")
            .answer("short")
            .answer("short")
            .answer("short")
            .answer("short")
            .step(pam_harness::Op::Chauthtok, f)
            .run()
    };
    let out = weak(&service(GUIDE), 0);
    out.expect("PAM_SUCCESS");
    assert_eq!(
        out.prompts(),
        ["New password: ", "Retype new password: "],
        "{out}"
    );
    assert_eq!(
        out.errors(),
        ["BAD PASSWORD: The password contains less than 1 digits"],
        "{out}"
    );
    assert_eq!(out.logged("outcome=warned").len(), 1, "{out}");

    let out = weak(&service(&format!("{GUIDE} enforce_for_root")), 0);
    out.expect("PAM_MAXTRIES");
    assert_eq!(out.errors().len(), 3, "{out}");
    // Set-type: any value enables it, as in pam_pwquality.
    weak(&service(&format!("{GUIDE} enforce_for_root=0")), 0).expect("PAM_MAXTRIES");
    // An expired password is enforced even for root.
    weak(&service(GUIDE), flags::CHANGE_EXPIRED_AUTHTOK).expect("PAM_MAXTRIES");
}

#[test]
fn the_reason_is_shown_even_under_pam_silent() {
    let svc = service("minlen=10");
    let out = svc
        .user("alice")
        .unprivileged()
        .answer("short")
        .step(pam_harness::Op::Chauthtok, flags::SILENT)
        .run();
    out.expect("PAM_AUTHTOK_ERR");
    assert_eq!(
        out.errors(),
        ["BAD PASSWORD: The password is shorter than 10 characters"],
        "{out}"
    );
}

#[test]
fn enforcing_0_only_warns() {
    let svc = service("minlen=10 enforcing=0");
    let out = svc
        .user("alice")
        .unprivileged()
        .answer("short")
        .answer("short")
        .chauthtok()
        .run();
    out.expect("PAM_SUCCESS");
    assert_eq!(
        out.errors(),
        ["BAD PASSWORD: The password is shorter than 10 characters"],
        "{out}"
    );
    assert_eq!(out.env("HARNESS_SEEN_AUTHTOK"), Some("short"), "{out}");
}

#[test]
fn local_users_only_skips_users_not_in_etc_passwd() {
    let svc = service("minlen=10 local_users_only");
    let out = svc
        .user("no-such-user-7f3a")
        .unprivileged()
        .answer("short")
        .answer("short")
        .chauthtok()
        .run();
    out.expect("PAM_SUCCESS");
    assert_eq!(
        out.prompts(),
        ["New password: ", "Retype new password: "],
        "{out}"
    );
    assert!(out.errors().is_empty(), "{out}");
    let out = svc
        .user("root")
        .unprivileged()
        .answer("short")
        .chauthtok()
        .run();
    out.expect("PAM_AUTHTOK_ERR");
}

#[test]
fn use_authtok_and_prompt_types() {
    // No token from an earlier module: refused without a prompt.
    let svc = service("minlen=10 use_authtok");
    let out = svc.user("alice").unprivileged().chauthtok().run();
    out.expect("PAM_AUTHTOK_ERR");
    assert!(out.prompts().is_empty(), "{out}");
    // A token from an earlier module is checked, not asked for; libpam asks
    // for the retype itself, since the module that set it did not verify it.
    let out = svc
        .user("alice")
        .unprivileged()
        .authtok("Xk9#mQ2$vL")
        .answer("Xk9#mQ2$vL")
        .chauthtok()
        .run();
    out.expect("PAM_SUCCESS");
    assert_eq!(out.prompts(), ["Retype new password: "], "{out}");
    let out = svc
        .user("alice")
        .unprivileged()
        .authtok("short")
        .chauthtok()
        .run();
    out.expect("PAM_AUTHTOK_ERR");
    assert_eq!(
        out.errors(),
        ["BAD PASSWORD: The password is shorter than 10 characters"],
        "{out}"
    );

    for line in ["minlen=10 authtok_type=UNIX", "minlen=10 type=UNIX"] {
        let out = service(line)
            .user("alice")
            .unprivileged()
            .answer("Xk9#mQ2$vL")
            .answer("Xk9#mQ2$vL")
            .chauthtok()
            .run();
        out.expect("PAM_SUCCESS");
        assert_eq!(
            out.prompts(),
            ["New UNIX password: ", "Retype new UNIX password: "],
            "{line}\n{out}"
        );
    }
}

#[test]
fn option_errors_are_loud() {
    for (line, named) in [
        ("minlen=10 minlenn=3", "minlenn=3"),
        ("minlen=ten", "ten"),
        ("maxrepeat=-1", "-1"),
        ("minscore=7", "7"),
        ("enforce-for-root", "enforce-for-root"),
    ] {
        let out = service(line)
            .user("alice")
            .unprivileged()
            .answer("Xk9#mQ2$vL")
            .chauthtok()
            .run();
        out.expect("PAM_SERVICE_ERR");
        assert!(out.prompts().is_empty(), "{line}\n{out}");
        let logged = out.logged("outcome=config-error");
        assert_eq!(logged.len(), 1, "{line}\n{out}");
        assert!(logged[0].message.contains(named), "{line}\n{out}");
    }
}

#[test]
fn pwquality_conf_and_module_arguments() {
    let svc = service("");
    let dir = svc.dir().to_owned();
    let conf = dir.join("pwquality.conf");
    write_file(
        &conf,
        b"# site policy\nminlen = 12\ndcredit = -1\nenforce_for_root\n",
    );
    write_file(
        &dir.join("pwquality.conf.d/10-local.conf"),
        b"minlen = 14\nocredit=-1\n",
    );
    write_file(&dir.join("pwquality.conf.d/README"), b"not a config file\n");
    let line = |extra: &str| format!("conf={} {extra}", conf.display());
    // The main file wins over conf.d; conf.d settings it does not repeat stay.
    expect_all(
        &line("dictcheck=0"),
        "alice",
        None,
        &[
            ("xkqmwzvl#r7", "The password is shorter than 12 characters"),
            ("xkqmwzvl#r7t", "OK"),
            (
                "xkqmwzvlrt7x",
                "The password contains less than 1 non-alphanumeric characters",
            ),
        ],
    );
    // Module arguments win over both.
    expect_all(
        &line("minlen=8 dictcheck=0"),
        "alice",
        None,
        &[("xkqm#r7t", "OK")],
    );

    let bad = dir.join("bad.conf");
    write_file(&bad, b"minlen = 12\nminlen 12 13\nmaxrepeat = 3\n");
    write_file(&dir.join("typo.conf"), b"minlen = 12\nmaxrepaet = 3\n");
    let mut cases = vec![(bad.display().to_string(), "bad.conf:2")];
    if running_as_root() {
        // Readable by root only: the unprivileged caller cannot read it.
        let secret = dir.join("secret.conf");
        write_file(&secret, b"minlen = 12\n");
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        cases.push((secret.display().to_string(), "cannot read"));
    }
    for (file, named) in cases.into_iter().chain([
        (
            dir.join("typo.conf").display().to_string(),
            "typo.conf:2: unknown setting \"maxrepaet\"",
        ),
        (
            dir.join("missing.conf").display().to_string(),
            "missing.conf",
        ),
        (
            dir.join("pwquality.conf.d").display().to_string(),
            "pwquality.conf.d",
        ),
    ]) {
        let out = service(&format!("conf={file}"))
            .user("alice")
            .unprivileged()
            .answer("Xk9#mQ2$vL")
            .chauthtok()
            .run();
        out.expect("PAM_SERVICE_ERR");
        assert!(out.prompts().is_empty(), "{out}");
        let logged = out.logged("outcome=config-error");
        assert!(
            logged.len() == 1 && logged[0].message.contains(named),
            "expected a config-error naming {named:?}\n{out}"
        );
    }
}

#[test]
fn a_missing_or_corrupt_dictionary_falls_back_to_the_built_in_list() {
    let svc = service("");
    let dir = svc.dir().to_owned();
    let corrupt = dir.join("corrupt");
    write_file(&dir.join("corrupt.pwd"), b"password\0not really\0");
    write_file(&dir.join("corrupt.pwi"), &[0xff; 40]);
    for (path, why) in [
        (
            dir.join("nowhere/dict").display().to_string(),
            "no dictionary at",
        ),
        (corrupt.display().to_string(), "not a valid dictionary"),
    ] {
        let line = format!("minlen=8 dictpath={path}");
        let svc = service(&line);
        // Not every password is refused...
        let (v, out) = verdict_for(&svc, "alice", None, "Xk9#mQ2$vL");
        assert_eq!(v, "OK", "{out}");
        let warned = out.logged("outcome=dictionary-fallback");
        assert!(
            warned.len() == 1
                && warned[0].message.contains(why)
                && warned[0].message.contains("built-in list"),
            "{out}"
        );
        // ...but common ones still are.
        for pw in ["Password1!", "Dragon12#", "Monkey123!"] {
            assert_eq!(
                verdict_for(&svc, "alice", None, pw).0,
                "The password fails the dictionary check - it is based on a dictionary word",
                "{pw} with {path}"
            );
        }
    }
}

#[test]
fn a_word_list_or_a_packed_index_as_dictpath() {
    let svc = service("");
    let dir = svc.dir().to_owned();
    let list = dir.join("words.txt");
    write_file(&list, b"Zorblatt\nquuxwidget\n");
    let words = pam_policy::dict::SortedWords::from_text("zorblatt\nquuxwidget\n");
    let prefix = dir.join("site_dict");
    pam_policy::dict::write_packed(&prefix, &pam_policy::dict::pack(words.iter()))
        .expect("packing");
    for path in [list.display().to_string(), prefix.display().to_string()] {
        let svc = service(&format!("minlen=8 dictpath={path}"));
        assert_eq!(
            verdict_for(&svc, "alice", None, "Zorblatt12!").0,
            "The password fails the dictionary check - it is based on a dictionary word",
            "{path}"
        );
        assert_eq!(
            verdict_for(&svc, "alice", None, "ttalbroz#9").0,
            "The password fails the dictionary check - it is based on a (reversed) dictionary word",
            "{path}"
        );
        // Only this list: "password" is not in it.
        assert_eq!(
            verdict_for(&svc, "alice", None, "Password1!").0,
            "OK",
            "{path}"
        );
    }
    assert!(Path::new(&format!("{}.hwm", prefix.display())).exists());
}

#[test]
fn hostile_input_gets_a_defined_answer() {
    let svc = service(GUIDE);
    // Empty: pam_pwquality's message.
    let (v, out) = verdict_for(&svc, "alice", None, "");
    assert_eq!(v, "No password supplied", "{out}");
    // Control characters count as "other" characters.
    assert_eq!(
        verdict_for(&svc, "alice", None, "Xk9\u{1}mQ2\u{7f}vL").0,
        "OK"
    );
    // Every control character: a run of consecutive codes, which cracklib calls systematic.
    let binary: String = (1u8..=31).map(char::from).chain("Ab3xy".chars()).collect();
    assert_eq!(
        verdict_for(&svc, "alice", None, &binary).0,
        "The password fails the dictionary check - it is too simplistic/systematic"
    );
    let scattered: String = (1u8..=31)
        .step_by(3)
        .map(char::from)
        .chain("Ab3xy".chars())
        .collect();
    assert_eq!(verdict_for(&svc, "alice", None, &scattered).0, "OK");
    // Very long input gets an answer, promptly. (The driver takes its script
    // as one argument, at most 128 KiB: a 100 KiB password fits once, a
    // 60 KiB one twice.)
    let started = std::time::Instant::now();
    assert_eq!(
        refusal_for(&svc, None, &"a".repeat(100 * 1024)),
        "The password contains less than 1 digits"
    );
    // 100 KiB that passes every rule up to the palindrome check.
    let half = "Xk9#mQ2$vL".repeat(5 * 1024);
    let palindrome = format!("{half}{}", half.chars().rev().collect::<String>());
    assert_eq!(
        refusal_for(&svc, None, &palindrome),
        "The password is a palindrome"
    );
    // ...up to the badwords check, at its very end.
    let acme = service(&format!("{GUIDE} badwords=acme"));
    let tail = format!("{}acme", "Xk9#mQ2$vL".repeat(10 * 1024));
    assert_eq!(
        refusal_for(&acme, None, &tail),
        "The password contains forbidden words in some form"
    );
    let kib60 = "Xk9#mQ2$vL".repeat(6 * 1024);
    assert_eq!(
        refusal_for(&svc, Some(&kib60[1..]), &kib60),
        "The password is too similar to the old one"
    );
    let (v, out) = verdict_for(&svc, "alice", None, &kib60);
    assert_eq!(v, "OK", "{}", out.code());
    assert!(
        started.elapsed().as_secs() < 10,
        "took {:?}",
        started.elapsed()
    );
}

/// cracklib-packer (update-cracklib, from a dpkg trigger) rewrites the
/// dictionary files in place, the same inodes. A password change that is
/// under way when that happens must not die of it (a mapped file that shrinks
/// under a process is a SIGBUS): the first try opens the dictionary, the
/// files are truncated and rewritten while the user types the second.
#[test]
fn a_dictionary_rewritten_in_place_mid_transaction_does_not_crash() {
    let svc = service("");
    let dir = svc.dir().to_owned();
    let words: Vec<String> = (0..20_000).map(|i| format!("zorb{i:05}word")).collect();
    let list = pam_policy::dict::SortedWords::from_text(&words.join("\n"));
    let prefix = dir.join("rewritten");
    pam_policy::dict::write_packed(&prefix, &pam_policy::dict::pack(list.iter())).expect("pack");
    let svc = service(&format!("retry=2 minlen=8 dictpath={}", prefix.display()));
    let pwd = dir.join("rewritten.pwd");
    let pwi = dir.join("rewritten.pwi");
    let child = svc
        .user("alice")
        .unprivileged()
        // Refused by the dictionary, so the dictionary is open...
        .answer("Zorb00001word#")
        // ...and this answer comes while the files are rewritten.
        .answer_late("Zorb19999word#", 1500)
        .answer("Zorb19999word#");
    let rewriter = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(500));
        for path in [&pwd, &pwi] {
            // Same inode: truncate, then write something shorter and different.
            let f = std::fs::OpenOptions::new()
                .write(true)
                .truncate(true)
                .open(path)
                .expect("open for rewrite");
            drop(f);
        }
        std::fs::write(&pwd, b"short\0").expect("rewrite .pwd");
    });
    let out = child.chauthtok().run();
    rewriter.join().expect("rewriter");
    assert!(
        out.code() == "PAM_MAXTRIES"
            || out.code() == "PAM_SUCCESS"
            || out.code() == "PAM_AUTHTOK_ERR",
        "the driver must finish with a PAM code, not a signal\n{out}"
    );
    let errors = out.errors();
    assert_eq!(
        errors.first().copied(),
        Some(
            "BAD PASSWORD: The password fails the dictionary check - it is based on a dictionary word"
        ),
        "{out}"
    );
}

/// Fedora and RHEL ship the dictionary as PREFIX.pwd.gz beside PREFIX.pwi.
#[test]
fn a_gzip_compressed_dictionary_is_read() {
    use std::io::Write;
    let svc = service("");
    let dir = svc.dir().to_owned();
    let list = pam_policy::dict::SortedWords::from_text("zorblatt\nquuxwidget\n");
    let prefix = dir.join("pw_dict");
    pam_policy::dict::write_packed(&prefix, &pam_policy::dict::pack(list.iter())).expect("pack");
    let pwd = dir.join("pw_dict.pwd");
    let raw = std::fs::read(&pwd).expect("read .pwd");
    let gz = std::process::Command::new("gzip")
        .arg("-c")
        .arg(&pwd)
        .output()
        .expect("gzip");
    assert!(gz.status.success() && !gz.stdout.is_empty());
    let mut f = std::fs::File::create(dir.join("pw_dict.pwd.gz")).expect("create .gz");
    f.write_all(&gz.stdout).expect("write .gz");
    std::fs::remove_file(&pwd).expect("remove .pwd");
    assert!(!raw.is_empty());
    let svc = service(&format!("minlen=8 dictpath={}", prefix.display()));
    let (v, out) = verdict_for(&svc, "alice", None, "Zorblatt12!");
    assert_eq!(
        v, "The password fails the dictionary check - it is based on a dictionary word",
        "{out}"
    );
    assert!(
        out.logged("outcome=dictionary-fallback").is_empty(),
        "{out}"
    );
    assert_eq!(verdict_for(&svc, "alice", None, "Password1!").0, "OK");
}

/// `breachlist=FILE`: a password whose SHA-1 is in the filter is refused,
/// after every other check; set in pwquality.conf as well as an argument. A
/// broken filter is a logged warning, not a refusal of every password.
#[test]
fn breached_passwords_are_refused() {
    use std::fmt::Write as _;
    let svc = service("");
    let dir = svc.dir().to_owned();
    let breached = [
        "Xk9#mQ2$vL",
        "Tr0ub4dor&3",
        "Correct horse battery staple 9",
    ];
    let mut text = String::new();
    for (i, pw) in breached.iter().enumerate() {
        let out = std::process::Command::new("sha1sum")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                c.stdin.take().expect("stdin").write_all(pw.as_bytes())?;
                c.wait_with_output()
            })
            .expect("sha1sum");
        let hex = String::from_utf8_lossy(&out.stdout)[..40].to_uppercase();
        let _ = write!(text, "{hex}:{}\r\n", 100 + i);
    }
    for i in 0..5000 {
        let _ = writeln!(text, "{:040X}:1", (i as u128) * 0x9E37_79B9_7F4A_7C15_u128);
    }
    let filter = dir.join("breach.filter");
    pam_policy::breach::build(
        text.as_bytes(),
        None,
        &filter,
        &mut pam_policy::breach::Quiet,
    )
    .expect("build the filter");
    let conf = dir.join("pq.conf");
    write_file(
        &conf,
        format!("breachlist = {}\n", filter.display()).as_bytes(),
    );
    let why = "The password has appeared in a data breach; choose one that has not";
    for line in [
        format!("{GUIDE} breachlist={}", filter.display()),
        format!("{GUIDE} conf={}", conf.display()),
    ] {
        let svc = service(&line);
        for pw in &breached[..2] {
            let (v, out) = verdict_for(&svc, "alice", None, pw);
            assert_eq!(v, why, "{pw} under {line}\n{out}");
            assert!(!out.logged("outcome=rejected").is_empty(), "{out}");
        }
        assert_eq!(verdict_for(&svc, "alice", None, "Yk8#mQ2$vM").0, "OK");
        // Other rules come first.
        assert_eq!(
            verdict_for(&svc, "alice", None, "short").0,
            "The password contains less than 1 digits"
        );
    }
    // Broken: a warning, and the other checks still decide.
    write_file(&dir.join("broken.filter"), b"PAMBRF1\0not really a filter");
    let svc = service(&format!(
        "{GUIDE} breachlist={}",
        dir.join("broken.filter").display()
    ));
    let (v, out) = verdict_for(&svc, "alice", None, "Xk9#mQ2$vL");
    assert_eq!(v, "OK", "{out}");
    assert_eq!(out.logged("outcome=breach-filter-error").len(), 1, "{out}");
}
