//! pam_policy.so against pam_pwquality.so (Debian libpam-pwquality 1.4.5, with
//! the system cracklib dictionary), both loaded by the real libpam from the
//! same service text, on the same generated ASCII passwords, under several
//! option lines: the same prompts, the same "BAD PASSWORD: ..." messages, the
//! same result code and the same PAM_AUTHTOK handed to the next module.
//!
//! Intended differences are listed at the end and asserted as differences.

use std::path::Path;
use std::thread;

use pam_harness::{Gen, Outcome, Service, system_module_dir};

const GUIDE: &str = "retry=3 minlen=10 difok=3 ucredit=-1 lcredit=-2 dcredit=-1 ocredit=-1";
const OLD: &str = "Xk9#mQ2$vL";

/// Whether the anchor is installed. `scripts/deps.sh --test` installs it
/// (libpam-pwquality, cracklib-runtime); without it these tests fail, unless
/// PAM_POLICY_SKIP_ANCHOR=1 says to skip them.
fn pwquality_present() -> bool {
    let present = system_module_dir().join("pam_pwquality.so").exists()
        && Path::new("/var/cache/cracklib/cracklib_dict.pwd").exists();
    if !present {
        assert!(
            std::env::var_os("PAM_POLICY_SKIP_ANCHOR").is_some_and(|v| v == "1"),
            "pam_pwquality.so or the cracklib dictionary is missing: run scripts/deps.sh --test \
             (or set PAM_POLICY_SKIP_ANCHOR=1 to skip the comparison)"
        );
        eprintln!("SKIPPED: pam_pwquality.so or the cracklib dictionary is not installed");
    }
    present
}

/// What a caller can observe of one chauthtok.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Observed {
    code: String,
    prompts: Vec<String>,
    errors: Vec<String>,
    authtok: Option<String>,
}

fn observe(o: &Outcome) -> Observed {
    Observed {
        code: o.code().to_owned(),
        prompts: o.prompts().iter().map(|s| s.to_string()).collect(),
        errors: o.errors().iter().map(|s| s.to_string()).collect(),
        authtok: o.env("HARNESS_SEEN_AUTHTOK").map(str::to_owned),
    }
}

fn stack(module: &str, line: &str) -> String {
    format!(
        "password requisite {{items}} set
         password requisite {module} {line}
         password required {{items}} record"
    )
}

/// Runs `inputs` through both modules (two threads: one per module) and
/// returns the pairs that differ, with the input.
fn compare(
    line: &str,
    user: &str,
    old: Option<&str>,
    inputs: &[String],
) -> Vec<(String, Observed, Observed)> {
    compare_with_reference(line, user, old, inputs).0
}

/// Like `compare`, also returning what pam_pwquality did for every input.
fn compare_with_reference(
    line: &str,
    user: &str,
    old: Option<&str>,
    inputs: &[String],
) -> (Vec<(String, Observed, Observed)>, Vec<Observed>) {
    let ours = Service::new(&stack("{policy}", line));
    let theirs = Service::new(&stack("{sys}/pam_pwquality.so", line));
    let run_all = |svc: &Service| -> Vec<Observed> {
        inputs
            .iter()
            .map(|pw| {
                let mut s = svc.user(user).unprivileged().answer(pw).answer(pw);
                if let Some(o) = old {
                    s = s.old_authtok(o);
                }
                observe(&s.chauthtok().run())
            })
            .collect()
    };
    let (a, b) = thread::scope(|scope| {
        let a = scope.spawn(|| run_all(&ours));
        let b = run_all(&theirs);
        (a.join().unwrap_or_default(), b)
    });
    assert_eq!(a.len(), inputs.len(), "a run of pam_policy panicked");
    let diffs = inputs
        .iter()
        .zip(a.into_iter().zip(b.iter()))
        .filter(|(_, (a, b))| a != *b)
        .map(|(i, (a, b))| (i.clone(), a, Observed { ..(*b).clone() }))
        .collect();
    (diffs, b)
}

/// Asserts both modules behave the same on every input, and that the inputs
/// exercised the line: some accepted, and at least `reasons` different
/// refusal messages from pam_pwquality.
#[track_caller]
fn assert_same(line: &str, user: &str, old: Option<&str>, inputs: &[String], reasons: usize) {
    let (diffs, reference) = compare_with_reference(line, user, old, inputs);
    let accepted = reference.iter().filter(|o| o.code == "PAM_SUCCESS").count();
    let mut messages: Vec<&str> = reference
        .iter()
        .flat_map(|o| o.errors.iter().map(String::as_str))
        .collect();
    messages.sort_unstable();
    messages.dedup();
    eprintln!(
        "`{line}`: {} inputs, {accepted} accepted, {} distinct messages: {messages:#?}",
        inputs.len(),
        messages.len()
    );
    assert!(
        accepted > 0 && messages.len() >= reasons,
        "the inputs do not exercise `{line}`: {accepted} accepted, messages {messages:?}"
    );
    let report: Vec<String> = diffs
        .iter()
        .map(|(i, ours, theirs)| {
            format!("input {i:?}\n  pam_policy:    {ours:?}\n  pam_pwquality: {theirs:?}")
        })
        .collect();
    assert!(
        diffs.is_empty(),
        "{} of {} inputs differ under `{line}` (user {user}, old {old:?}):\n{}",
        diffs.len(),
        inputs.len(),
        report.join("\n")
    );
}

const LOWER: &str = "abcdefghijklmnopqrstuvwxyz";
const UPPER: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const DIGITS: &str = "0123456789";
const SYMBOLS: &str = "!#$%&*+-.:;=?@^_~ ";
const WORDS: &[&str] = &[
    "password", "dragon", "monkey", "sunshine", "letmein", "welcome", "qwerty", "princess",
    "football", "shadow", "master", "summer", "winter", "computer", "secret", "flower",
];

/// ASCII passwords of every shape the rules care about.
fn inputs(seed: u64, n: usize) -> Vec<String> {
    let mut g = Gen(seed);
    let mut out: Vec<String> = vec![
        "a".into(),
        "abc".into(),
        "short".into(),
        "password".into(),
        "Password1!".into(),
        "Passw0rd!!".into(),
        "P@ssw0rd12".into(),
        "Summer2024!".into(),
        "Qwerty123!".into(),
        "Aaaaaaaa1#".into(),
        "Abcdefgh1#".into(),
        "Xk9#mQ2$vL".into(),
        "Xk9#mQ2$v".into(),
        "Ab1#xx#1bA".into(),
        "correct horse battery staple".into(),
        "Correct horse battery staple 9".into(),
        "Tr0ub4dor&3".into(),
        "      ".into(),
        "ab193746c".into(),
        "Xk9#mQQQ2$vL".into(),
        "Xk9#mQ2$vL1234".into(),
        "Xk9#mQ2$vLdcba".into(),
        "xkqmwzvlr7".into(),
    ];
    let alphabets = [
        LOWER.to_owned(),
        format!("{LOWER}{DIGITS}"),
        format!("{LOWER}{UPPER}"),
        format!("{LOWER}{UPPER}{DIGITS}"),
        format!("{LOWER}{UPPER}{DIGITS}{SYMBOLS}"),
        format!("{DIGITS}{SYMBOLS}"),
        "abcAB12!".to_owned(),
    ];
    while out.len() < n {
        let pw = match g.below(6) {
            0 | 1 => {
                let a = &alphabets[g.below(alphabets.len())];
                g.from(a, 1, 16)
            }
            2 => {
                // A word, decorated the way people do.
                let mut w = g.pick(WORDS).to_owned();
                if g.below(2) == 0 {
                    w = w[..1].to_uppercase() + &w[1..];
                }
                if g.below(3) == 0 {
                    w = w.replace('o', "0").replace('a', "4").replace('e', "3");
                }
                if g.below(4) == 0 {
                    w = w.chars().rev().collect();
                }
                let tail = g.from(&format!("{DIGITS}!#$"), 0, 4);
                let head = g.from(&format!("{UPPER}{DIGITS}#"), 0, 8);
                format!("{head}{w}{tail}")
            }
            3 => {
                // Runs and sequences inside random text.
                let run = g.pick(&["aaa", "1111", "abcd", "4321", "ZZZ", "xyz", "9876", "!!!"]);
                let a = &alphabets[4];
                let left = g.from(a, 0, 8);
                format!("{left}{run}{}", g.from(a, 0, 8))
            }
            4 => {
                // Palindromes and near-palindromes.
                let half = g.from(&alphabets[4], 2, 6);
                let rev: String = half.chars().rev().collect();
                let mid = g.from(&alphabets[3], 0, 10);
                format!("{half}{mid}{rev}")
            }
            _ => {
                // Four classes, lengths around the usual minimums.
                let mut s = String::new();
                s.push_str(&g.from(UPPER, 1, 5));
                s.push_str(&g.from(LOWER, 1, 6));
                s.push_str(&g.from(DIGITS, 0, 3));
                s.push_str(&g.from("!#$%&*", 0, 3));
                s.push_str(&g.from(LOWER, 0, 3));
                s
            }
        };
        if !pw.contains("nobody") && !out.contains(&pw) {
            out.push(pw);
        }
    }
    out
}

/// Variants of the old password: case changes, edits, rotations, and fresh ones.
fn old_variants() -> Vec<String> {
    let mut v: Vec<String> = [
        OLD,
        "xK9#Mq2$Vl",
        "Xk9#mQ2$vLa",
        "Yk9#mQ2$vM",
        "Yk8#mQ2$vM",
        "Yk8#mQ3$vM",
        "mQ2$vLXk9#",
        "Xk9#mQ2$vLXk9#mQ2$vL",
        "Xk9#mQ2$vLXk9#mQ2$v",
        "2$vLXk9#mQ",
        "Xk9#",
        "Zw7!pR4&tN",
        "Xk9#mQ2$vLZZ",
        "Xk9#mQ2$",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.extend(inputs(0x0ddba11, 40));
    v
}

#[test]
fn the_hardening_guide_line() {
    if !pwquality_present() {
        return;
    }
    assert_same(GUIDE, "alice", None, &inputs(0x5eed_0001, 300), 8);
}

#[test]
fn the_hardening_guide_line_with_an_old_password() {
    if !pwquality_present() {
        return;
    }
    assert_same(GUIDE, "alice", Some(OLD), &old_variants(), 10);
}

#[test]
fn the_defaults() {
    if !pwquality_present() {
        return;
    }
    assert_same("", "alice", None, &inputs(0x5eed_0002, 200), 5);
}

#[test]
fn positive_credits() {
    if !pwquality_present() {
        return;
    }
    assert_same(
        "minlen=12 dcredit=2 ucredit=1 lcredit=1 ocredit=3 dictcheck=0",
        "alice",
        None,
        &inputs(0x5eed_0003, 100),
        4,
    );
    assert_same(
        "minlen=9 dcredit=1 ucredit=1 lcredit=1 ocredit=1",
        "alice",
        None,
        &inputs(0x5eed_0004, 60),
        5,
    );
}

#[test]
fn classes_repeats_and_sequences() {
    if !pwquality_present() {
        return;
    }
    assert_same(
        "minlen=8 minclass=3 maxrepeat=2 maxsequence=3 maxclassrepeat=3 dictcheck=0",
        "alice",
        None,
        &inputs(0x5eed_0005, 150),
        4,
    );
    assert_same(
        "minclass=4 maxrepeat=1 maxsequence=2",
        "alice",
        None,
        &inputs(0x5eed_0006, 60),
        4,
    );
}

#[test]
fn user_name_gecos_and_badwords() {
    if !pwquality_present() {
        return;
    }
    let mut pws = inputs(0x5eed_0007, 40);
    for p in [
        "Xk9#smitQ2",
        "Xk9#ohnsQ2",
        "Xk9#tims2Q",
        "Johnsmith#9",
        "htimsnhoj#9X",
        "Xk9#acmeQ2",
        "Xk9#ACMEQ2",
        "Xk9#emcaQ2",
        "Wid#get9xQ",
        "Xk9#tegdiwQ2",
        "Xk9#corpQ2",
    ] {
        pws.push(p.to_owned());
    }
    assert_same(
        "usersubstr=4 [badwords=acme widget] dictcheck=0",
        "johnsmith",
        None,
        &pws,
        3,
    );
    assert_same(
        "usercheck=1 [badwords=acme widget]",
        "johnsmith",
        None,
        &pws,
        6,
    );
    let mut root = inputs(0x5eed_0008, 30);
    for p in ["Xk9#rootQ2", "Xk9#tOoRQ2", "R00t#Xk9q2"] {
        root.push(p.to_owned());
    }
    assert_same("gecoscheck=1 usercheck=0", "root", None, &root, 5);
}

#[test]
fn dictionary_check() {
    if !pwquality_present() {
        return;
    }
    let mut g = Gen(0x5eed_0009);
    let mut pws = inputs(0x5eed_000a, 150);
    // Every cracklib rule family: trims, purges, leet, reversal.
    for w in WORDS {
        let cap = w[..1].to_uppercase() + &w[1..];
        let leet = w
            .replace('o', "0")
            .replace('a', "4")
            .replace('e', "3")
            .replace('s', "$");
        let rev: String = w.chars().rev().collect();
        for p in [
            format!("{cap}1!"),
            format!("{cap}12!"),
            format!("{cap}123!"),
            format!("x{cap}1!"),
            leet.clone(),
            format!("{leet}9"),
            rev.clone(),
            format!("!{w}."),
            format!("{w}{}", g.from(DIGITS, 4, 0)),
        ] {
            pws.push(p);
        }
    }
    assert_same("minlen=6", "alice", None, &pws, 6);
}

/// The flow around the check: retries, a retype mismatch, PAM_SILENT, an
/// expired password, a conversation that fails.
#[test]
fn the_flow_around_the_check() {
    if !pwquality_present() {
        return;
    }
    let ours = Service::new(&stack("{policy}", GUIDE));
    let theirs = Service::new(&stack("{sys}/pam_pwquality.so", GUIDE));
    type Script = fn(pam_harness::Scenario<'_>) -> pam_harness::Scenario<'_>;
    let scripts: &[(&str, Script)] = &[
        ("three refusals", |s| {
            s.answer("short")
                .answer("Password1!")
                .answer("xk9#mq2$vl")
                .chauthtok()
        }),
        ("mismatch, then good", |s| {
            s.answer("Xk9#mQ2$vL")
                .answer("Xk9#mQ2$vX")
                .answer("Xk9#mQ2$vL")
                .answer("Xk9#mQ2$vL")
                .chauthtok()
        }),
        ("silent", |s| {
            s.answer("short")
                .answer("Xk9#mQ2$vL")
                .answer("Xk9#mQ2$vL")
                .step(pam_harness::Op::Chauthtok, pam_harness::flags::SILENT)
        }),
        ("expired", |s| {
            s.answer("short")
                .answer("Xk9#mQ2$vL")
                .answer("Xk9#mQ2$vL")
                .step(
                    pam_harness::Op::Chauthtok,
                    pam_harness::flags::CHANGE_EXPIRED_AUTHTOK,
                )
        }),
        ("conversation fails", |s| s.fail_conversation().chauthtok()),
        ("fails at the retype", |s| {
            s.answer("Xk9#mQ2$vL").fail_conversation().chauthtok()
        }),
        ("empty answer", |s| {
            s.answer("").answer("").answer("").chauthtok()
        }),
    ];
    for (name, script) in scripts {
        let a = observe(&script(ours.user("alice").unprivileged()).run());
        let b = observe(&script(theirs.user("alice").unprivileged()).run());
        assert_eq!(
            a, b,
            "{name}: pam_policy (left) and pam_pwquality (right) differ"
        );
        assert!(
            !a.prompts.is_empty() || name.contains("fails"),
            "{name}: {a:?}"
        );
        if test_support::running_as_root() {
            // Root: warned, not refused (unless the password expired).
            let a = observe(&script(ours.user("alice")).run());
            let b = observe(&script(theirs.user("alice")).run());
            assert_eq!(
                a, b,
                "{name} as root: pam_policy (left) and pam_pwquality (right) differ"
            );
        }
    }
    // Options that change the flow rather than the rules.
    for (extra, user) in [
        ("use_authtok", "alice"),
        ("authtok_type=UNIX", "alice"),
        ("type=UNIX", "alice"),
        ("enforcing=0", "alice"),
        ("local_users_only", "no-such-user-7f3a"),
        ("local_users_only", "root"),
        ("enforce_for_root", "alice"),
        ("retry=1", "alice"),
    ] {
        let line = format!("{GUIDE} {extra}");
        let ours = Service::new(&stack("{policy}", &line));
        let theirs = Service::new(&stack("{sys}/pam_pwquality.so", &line));
        let run = |svc: &Service, root: bool| {
            let s = svc.user(user);
            let s = if root { s } else { s.unprivileged() };
            let s = s
                .answer("short")
                .answer("short")
                .answer("Xk9#mQ2$vL")
                .answer("Xk9#mQ2$vL");
            observe(&s.chauthtok().run())
        };
        assert_eq!(
            run(&ours, false),
            run(&theirs, false),
            "`{line}`, user {user}"
        );
        if test_support::running_as_root() {
            assert_eq!(
                run(&ours, true),
                run(&theirs, true),
                "`{line}`, user {user}, as root"
            );
        }
    }
}

/// Where we differ on purpose, each asserted as a difference, so the list
/// stays true: lengths and classes count Unicode characters, not bytes;
/// `maxclassrepeat=1` works (libpwquality 1.4.5 ignores it; later versions
/// fixed that); a missing dictionary falls back to the built-in list; an
/// unknown option is an error.
#[test]
fn intended_differences() {
    if !pwquality_present() {
        return;
    }
    let cases: &[(&str, &str, &str, &str)] = &[
        // (line, password, pam_policy says, pam_pwquality says)
        (
            GUIDE,
            "Abc1#ééé",
            "BAD PASSWORD: The password is shorter than 10 characters",
            "", // 11 bytes: long enough for pam_pwquality
        ),
        (
            GUIDE,
            "Ünïcödé#1ab",
            "",
            "BAD PASSWORD: The password contains less than 1 uppercase letters",
        ),
        (
            GUIDE,
            "ПарольХорош1!",
            "",
            "BAD PASSWORD: The password contains less than 1 uppercase letters",
        ),
        (
            "minlen=6 maxclassrepeat=1 dictcheck=0",
            "aB1#cD2$eF",
            "",
            "",
        ),
        (
            "minlen=6 maxclassrepeat=1 dictcheck=0",
            "abC1#dE2$f",
            "BAD PASSWORD: The password contains more than 1 characters of the same class consecutively",
            "",
        ),
    ];
    for &(line, pw, ours_says, theirs_says) in cases {
        let diffs = compare(line, "alice", None, &[pw.to_owned()]);
        let first = |o: &Observed| o.errors.first().cloned().unwrap_or_default();
        match diffs.first() {
            None => assert_eq!(
                ours_says, theirs_says,
                "{pw:?} under `{line}`: expected a difference, both behaved the same"
            ),
            Some((_, ours, theirs)) => {
                assert_eq!(
                    first(ours),
                    ours_says,
                    "pam_policy on {pw:?} under `{line}`: {ours:?}"
                );
                assert_eq!(
                    first(theirs),
                    theirs_says,
                    "pam_pwquality on {pw:?} under `{line}`: {theirs:?}"
                );
            }
        }
    }
    // A missing dictionary: the built-in list here, every password refused there.
    let diffs = compare(
        "minlen=6 dictpath=/nonexistent/dict",
        "alice",
        None,
        &["Xk9#mQ2$vL".into()],
    );
    let (_, ours, theirs) = diffs.first().expect("a missing dictionary is a difference");
    assert_eq!(ours.code, "PAM_SUCCESS", "{ours:?}");
    assert_eq!(
        theirs.errors,
        ["BAD PASSWORD: The password fails the dictionary check - error loading dictionary"],
        "{theirs:?}"
    );
    // A misspelt option: refused loudly here, silently ignored there.
    let diffs = compare(
        "minlen=10 enforce-for-root",
        "alice",
        None,
        &["Xk9#mQ2$vL".into()],
    );
    let (_, ours, theirs) = diffs.first().expect("an unknown option is a difference");
    assert_eq!(
        (ours.code.as_str(), ours.prompts.len()),
        ("PAM_SERVICE_ERR", 0),
        "{ours:?}"
    );
    assert_eq!(theirs.code, "PAM_SUCCESS", "{theirs:?}");
}

/// `pam-policy-check --build-dict` writes what cracklib's own tools write, byte
/// for byte, so cracklib reads our dictionaries and we read its.
#[test]
fn packed_dictionaries_are_cracklibs_format() {
    if !pwquality_present() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let source = Path::new("/usr/share/dict/cracklib-small");
    let mut lists: Vec<(String, Vec<u8>)> = vec![
        (
            "exact blocks".into(),
            (0..32)
                .map(|i| format!("word{i:03}\n"))
                .collect::<String>()
                .into(),
        ),
        (
            "partial block".into(),
            b"Zebra\nalpha\n# comment\n\nBRAVO\nalpha\nx-ray\n".to_vec(),
        ),
    ];
    if let Ok(bytes) = std::fs::read(source) {
        lists.push(("cracklib-small".into(), bytes));
    }
    for (name, bytes) in lists {
        let list = dir.path().join(format!("{name}.txt"));
        std::fs::write(&list, &bytes).expect("write the list");
        let theirs = dir.path().join(format!("{name}-cracklib"));
        let ours = dir.path().join(format!("{name}-ours"));
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg("/usr/sbin/cracklib-format \"$1\" | /usr/sbin/cracklib-packer \"$2\" >/dev/null")
            .args([
                "sh",
                &list.display().to_string(),
                &theirs.display().to_string(),
            ])
            .status()
            .expect("run cracklib-packer");
        assert!(status.success(), "cracklib-packer failed on {name}");
        let words = pam_policy::dict::SortedWords::from_text(&String::from_utf8_lossy(&bytes));
        pam_policy::dict::write_packed(&ours, &pam_policy::dict::pack(words.iter()))
            .expect("write our packed dictionary");
        for suffix in ["pwd", "pwi", "hwm"] {
            let a = std::fs::read(format!("{}.{suffix}", ours.display())).expect("ours");
            let b = std::fs::read(format!("{}.{suffix}", theirs.display())).expect("cracklib's");
            assert!(
                a == b,
                "{name}: .{suffix} differs ({} bytes here, {} from cracklib-packer)",
                a.len(),
                b.len()
            );
        }
    }
}

/// Whether the de_DE.UTF-8 locale exists (`scripts/deps.sh --test` generates it).
fn german_locale_present() -> bool {
    let out = std::process::Command::new("locale").arg("-a").output();
    let present = out.is_ok_and(|o| {
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .any(|l| l.eq_ignore_ascii_case("de_DE.utf8") || l == "de_DE.UTF-8")
    });
    if !present {
        assert!(
            std::env::var_os("PAM_POLICY_SKIP_ANCHOR").is_some_and(|v| v == "1"),
            "the de_DE.UTF-8 locale is missing: run scripts/deps.sh --test \
             (or set PAM_POLICY_SKIP_ANCHOR=1 to skip the comparison)"
        );
        eprintln!("SKIPPED: no de_DE.UTF-8 locale");
    }
    present
}

/// A German user (the application runs in de_DE.UTF-8, as passwd does after
/// setlocale) sees byte for byte the German messages pam_pwquality shows:
/// both come from libpwquality's and cracklib's catalogs.
#[test]
fn german_messages_are_pam_pwqualitys() {
    if !pwquality_present() || !german_locale_present() {
        return;
    }
    let inputs = [
        "",
        "short",
        "xk9#mq2$vl",
        "XK9#MQ2$VL",
        "Xkz#mQw$vL",
        "Xk9amQ2bvL",
        "Xk9#mQ2$v",
        "Password1!",
        "Qwerty123!",
        "Aaaaaaaa1#",
        "Abcdefgh1#",
        "Ab1#xx#1bA",
        "Alice#2024x",
        "Xk9#mQ2$vL",
        "drowssaP1!",
    ];
    let run_all = |module: &str| -> Vec<Observed> {
        let svc = Service::new(&stack(module, &format!("{GUIDE} retry=1")));
        inputs
            .iter()
            .map(|pw| {
                let mut s = svc.user("alice").unprivileged().answer(pw).answer(pw);
                for (k, v) in [
                    ("LANG", "de_DE.UTF-8"),
                    ("LC_ALL", "de_DE.UTF-8"),
                    ("LANGUAGE", "de"),
                ] {
                    s.spec.process_env.insert(k.to_owned(), v.to_owned());
                }
                observe(&s.chauthtok().run())
            })
            .collect()
    };
    let ours = run_all("{policy}");
    let theirs = run_all("{sys}/pam_pwquality.so");
    let english = [
        "The password",
        "No password supplied",
        "dictionary check",
        "it is based",
    ];
    let mut german = 0;
    for ((pw, a), b) in inputs.iter().zip(&ours).zip(&theirs) {
        assert_eq!(a, b, "password {pw:?} under de_DE.UTF-8");
        german += b
            .errors
            .iter()
            .filter(|e| !english.iter().any(|w| e.contains(w)))
            .count();
    }
    assert!(
        german >= 8,
        "pam_pwquality showed too few German messages ({german}): is libpwquality-common's catalog installed? {theirs:#?}"
    );
}
