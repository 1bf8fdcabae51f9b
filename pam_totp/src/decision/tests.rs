use super::*;
use crate::otp::decode_base32;

const SECRET: &str = "2SH3V3GDW7ZNMGYE";

fn file(options: &str) -> Enrollment {
    Enrollment::parse(format!("{SECRET}\n{options}").as_bytes()).unwrap()
}

fn code_at(step: u64) -> u32 {
    otp::hotp(&decode_base32(SECRET).unwrap(), step, 6)
}

const RULES: Rules = Rules {
    skew_learning: false,
    advance_hotp_on_failure: true,
    grace_period: 0,
    minimums: crate::minimums::Minimums::NONE,
};

/// Decides one bare code at `now` as the last input of a login; keeps the change.
fn login_with(
    e: &mut Enrollment,
    code: u32,
    now: u64,
    rules: Rules,
    host: Option<&GraceHost>,
) -> Outcome {
    let digits = if code >= 1_000_000 { 8 } else { 6 };
    let c = [Candidate {
        code,
        digits,
        prefix_len: 0,
    }];
    let a = Attempt {
        candidates: &c,
        rules,
        host,
        last: true,
        hotp_tried: false,
    };
    let (outcome, next) = decide(e, &a, now).unwrap();
    *e = next;
    outcome
}

fn login(e: &mut Enrollment, code: u32, now: u64, learn: bool) -> Outcome {
    login_with(
        e,
        code,
        now,
        Rules {
            skew_learning: learn,
            ..RULES
        },
        None,
    )
}

fn ok(o: Outcome) -> bool {
    matches!(o, Outcome::Accepted { .. })
}

fn how(o: Outcome) -> Option<Accepted> {
    match o {
        Outcome::Accepted { how, .. } => Some(how),
        _ => None,
    }
}

fn text(e: &Enrollment) -> String {
    String::from_utf8(e.encode().to_vec()).unwrap()
}

#[test]
fn anchor_vector_and_wrong_code() {
    let mut f = file("\" TOTP_AUTH\n");
    assert!(ok(login(&mut f, 50548, 10000 * 30, false)));
    assert_eq!(login(&mut f, 123456, 10000 * 30, false), Outcome::WrongCode);
}

/// The code for step 10000 checked with the server at each given step.
fn window_case(options: &str, step_seconds: u64, expected: &[(u64, bool)]) {
    let code = code_at(10000);
    for &(server, want) in expected {
        let mut f = file(options);
        let got = ok(login(&mut f, code, server * step_seconds, false));
        assert_eq!(got, want, "{options:?}: server step {server}");
    }
}

#[test]
fn window_checklist_of_the_anchor() {
    let one_either_side = [
        (9998, false),
        (9999, true),
        (10001, true),
        (10002, false),
        (10000, true),
    ];
    window_case("\" TOTP_AUTH\n", 30, &one_either_side);
    window_case("\" STEP_SIZE 60\n\" TOTP_AUTH\n", 60, &one_either_side);
    // WINDOW_SIZE 6: two steps back, three ahead.
    window_case(
        "\" WINDOW_SIZE 6\n\" TOTP_AUTH\n",
        30,
        &[
            (9996, false),
            (9997, true),
            (10002, true),
            (10003, false),
            (10000, true),
        ],
    );
    assert_eq!(Window::new(1).offsets(), 0..=0);
    assert_eq!(Window::new(3).offsets(), -1..=1);
    assert_eq!(Window::new(4).offsets(), -1..=2);
    assert_eq!(Window::new(17).offsets(), -8..=8);
    assert_eq!(Window::new(0).offsets(), 0..=0);
}

#[test]
fn disallow_reuse_records_steps_like_the_anchor() {
    let mut f = file("\" WINDOW_SIZE 6\n\" DISALLOW_REUSE\n\" TOTP_AUTH\n");
    assert!(ok(login(&mut f, code_at(10000), 10000 * 30, false)));
    assert_eq!(
        login(&mut f, code_at(10000), 10000 * 30, false),
        Outcome::Refused(Refused::Reused { step: 10000 })
    );
    for step in 10001..=10007 {
        assert!(
            ok(login(&mut f, code_at(step), step * 30, false)),
            "step {step}"
        );
    }
    assert_eq!(
        f.used_steps(),
        Some(&[10002, 10003, 10004, 10005, 10006, 10007][..])
    );
    assert!(text(&f).contains("\" DISALLOW_REUSE 10002 10003 10004 10005 10006 10007\n"));
}

#[test]
fn disallow_reuse_is_monotonic() {
    let mut f = file("\" DISALLOW_REUSE\n\" TOTP_AUTH\n");
    let now = 20000 * 30;
    assert!(ok(login(&mut f, code_at(20001), now, false)));
    assert!(matches!(
        login(&mut f, code_at(20000), now, false),
        Outcome::Refused(Refused::Reused { .. })
    ));
    assert!(matches!(
        login(&mut f, code_at(19999), now, false),
        Outcome::Refused(Refused::Reused { .. })
    ));
    let mut g = file("\" TOTP_AUTH\n");
    let before = g.clone();
    assert!(ok(login(&mut g, code_at(20000), now, false)));
    assert!(ok(login(&mut g, code_at(20000), now, false)));
    assert_eq!(g, before, "no state written");
}

#[test]
fn rate_limit_checklist() {
    // RATE_LIMIT 4 120: steps 20000..20004 → 4 counted, the 5th refused, 20006 counted again.
    let mut f = file("\" RATE_LIMIT 4 120\n\" TOTP_AUTH\n");
    for (i, step) in (20000u64..=20004).enumerate() {
        let o = login(&mut f, code_at(step), step * 30, false);
        if i < 4 {
            assert!(ok(o), "attempt {i}: {o:?}");
        } else {
            assert!(matches!(o, Outcome::Throttled { .. }), "attempt {i}: {o:?}");
        }
    }
    assert!(ok(login(&mut f, code_at(20006), 20006 * 30, false)));
    assert!(
        text(&f).contains("\" RATE_LIMIT 4 120 600060 600090 600120 600180\n"),
        "{}",
        text(&f)
    );
}

#[test]
fn throttled_tells_when_to_retry_and_refuses_a_right_code() {
    let mut f = file("\" RATE_LIMIT 1 30 1000\n\" TOTP_AUTH\n");
    assert_eq!(
        login(&mut f, code_at(1010 / 30), 1010, false),
        Outcome::Throttled { retry_after: 30 }
    );
}

#[test]
fn skew_learning_checklist() {
    // Server step 12000+i, code for 11000+i: i=0,1 refused; i=2 sets the skew; i=3 works.
    let mut f = file("\" TOTP_AUTH\n");
    for i in 0..4u64 {
        let result = login(&mut f, code_at(11000 + i), (12000 + i) * 30, true);
        match i {
            0 | 1 => assert_eq!(result, Outcome::Refused(Refused::SkewLearning), "i={i}"),
            2 => assert_eq!(how(result), Some(Accepted::SkewReset { skew: -1000 })),
            _ => assert_eq!(how(result), Some(Accepted::Totp { step: 11003 })),
        }
    }
    assert_eq!(f.time_skew(), -1000);
    let mut g = file("\" TOTP_AUTH\n");
    let before = g.clone();
    assert_eq!(
        login(&mut g, code_at(11010), 12020 * 30, false),
        Outcome::WrongCode
    );
    assert_eq!(g, before);
}

#[test]
fn the_skew_search_goes_nearest_first() {
    let order: Vec<i64> = (0..7).map(skew_search_offset).collect();
    assert_eq!(order, [0, -1, 1, -2, 2, -3, 3]);
    assert_eq!(
        skew_search_offset(2 * SKEW_SEARCH_STEPS as usize),
        SKEW_SEARCH_STEPS as i64
    );
    // Near step 0 the steps before it are not searched, and nothing breaks.
    let mut f = file("\" TOTP_AUTH\n");
    assert_eq!(
        login(&mut f, code_at(900), 30, true),
        Outcome::Refused(Refused::SkewLearning)
    );
}

#[test]
fn repeating_the_same_far_code_learns_nothing() {
    let mut f = file("\" TOTP_AUTH\n");
    assert_eq!(
        login(&mut f, code_at(11000), 12000 * 30, true),
        Outcome::Refused(Refused::SkewLearning)
    );
    let before = f.clone();
    assert_eq!(
        login(&mut f, code_at(11000), 12000 * 30, true),
        Outcome::Refused(Refused::SkewRepeat)
    );
    assert_eq!(f, before);
}

/// Three captured codes of consecutive old steps, replayed later at
/// consecutive steps: with DISALLOW_REUSE they are refused and move nothing.
#[test]
fn replayed_codes_never_teach_the_skew() {
    let mut f = file("\" DISALLOW_REUSE\n\" TOTP_AUTH\n");
    for s in 11000..11003u64 {
        assert!(ok(login(&mut f, code_at(s), s * 30, true)), "step {s}");
    }
    let before_skew = f.time_skew();
    for i in 0..3u64 {
        let o = login(&mut f, code_at(11000 + i), (12000 + i) * 30, true);
        assert_eq!(
            o,
            Outcome::Refused(Refused::Reused { step: 11000 + i }),
            "replay {i}"
        );
    }
    assert_eq!(f.time_skew(), before_skew);
    assert!(f.resetting_skew().is_empty());
    // Codes newer than the last used still teach it.
    for i in 0..3u64 {
        let o = login(&mut f, code_at(11100 + i), (12100 + i) * 30, true);
        assert_eq!(ok(o), i == 2, "fresh far code {i}: {o:?}");
    }
    assert_eq!(f.time_skew(), -1000);
}

#[test]
fn scratch_codes_work_once() {
    let mut f = file("\" TOTP_AUTH\n");
    assert_eq!(login(&mut f, 12345678, 300000, false), Outcome::WrongCode);
    let mut f = file("\" TOTP_AUTH\n12345678\n");
    assert_eq!(
        how(login(&mut f, 12345678, 300000, false)),
        Some(Accepted::Scratch)
    );
    assert_eq!(login(&mut f, 12345678, 300000, false), Outcome::WrongCode);
    assert!(f.scratch_codes().is_empty());
}

#[test]
fn hotp_checklist() {
    let mut f = file("\" HOTP_COUNTER 1\n");
    assert_eq!(
        how(login(&mut f, 293240, 0, false)),
        Some(Accepted::Hotp { counter: 1 })
    );
    assert!(text(&f).contains("\" HOTP_COUNTER 2\n"));
    // The same code again does not match, and the failed attempt advances the counter.
    assert_eq!(login(&mut f, 293240, 0, false), Outcome::WrongCode);
    assert!(text(&f).contains("\" HOTP_COUNTER 3\n"));
    // Look-ahead within the window: counter 3, code for 5.
    assert_eq!(
        how(login(&mut f, 932068, 0, false)),
        Some(Accepted::Hotp { counter: 5 })
    );
    assert!(text(&f).contains("\" HOTP_COUNTER 6\n"));
    // no_increment_hotp
    let rules = Rules {
        advance_hotp_on_failure: false,
        ..RULES
    };
    assert_eq!(
        login_with(&mut f, 111111, 0, rules, None),
        Outcome::WrongCode
    );
    assert!(text(&f).contains("\" HOTP_COUNTER 6\n"));
}

#[test]
fn an_input_that_may_be_followed_by_another_changes_nothing() {
    let f = file("\" HOTP_COUNTER 1\n\" RATE_LIMIT 3 30\n");
    let c = [Candidate {
        code: 111111,
        digits: 6,
        prefix_len: 0,
    }];
    let a = Attempt {
        candidates: &c,
        rules: RULES,
        host: None,
        last: false,
        hotp_tried: false,
    };
    let (o, next) = decide(&f, &a, 1000).unwrap();
    assert_eq!(o, Outcome::TryNext { hotp_tried: true });
    assert_eq!(next, f);
    // The last input then counts the attempt and advances the counter.
    let a = Attempt {
        candidates: &[],
        last: true,
        hotp_tried: true,
        ..a
    };
    let (o, next) = decide(&f, &a, 1000).unwrap();
    assert_eq!(o, Outcome::WrongCode);
    assert!(
        text(&next).contains("\" HOTP_COUNTER 2\n")
            && text(&next).contains("\" RATE_LIMIT 3 30 1000\n")
    );
}

#[test]
fn candidates_follow_the_anchor_parsing() {
    let c = |s: &str, bare| candidates(s.as_bytes(), bare).to_vec();
    assert_eq!(
        c("050548", true),
        vec![Candidate {
            code: 50548,
            digits: 6,
            prefix_len: 0
        }]
    );
    assert_eq!(
        c("12345678", true),
        vec![Candidate {
            code: 12345678,
            digits: 8,
            prefix_len: 0
        }]
    );
    assert_eq!(c("12345678", false).len(), 2);
    for bad in [
        "",
        "12345",
        "1234567",
        "123 456",
        " 123456",
        "123456 ",
        "12345a",
        "01234567",
        "１２３４５６",
    ] {
        assert!(c(bad, true).is_empty(), "{bad:?}");
    }
    assert_eq!(
        c("hunter2123456", false),
        vec![Candidate {
            code: 123456,
            digits: 6,
            prefix_len: 7
        }]
    );
    assert!(c(&"9".repeat(10_000), true).is_empty());
}

#[test]
fn grace_period_is_per_host() {
    let mut f = file("\" TOTP_AUTH\n");
    let h7 = GraceHost::parse("192.0.2.7").unwrap();
    let h8 = GraceHost::parse("192.0.2.8").unwrap();
    let rules = Rules {
        grace_period: 300,
        minimums: crate::minimums::Minimums::NONE,
        ..RULES
    };
    assert!(ok(login_with(
        &mut f,
        code_at(1000 / 30),
        1000,
        rules,
        Some(&h7)
    )));
    assert_eq!(gate(&f, Some(&h7), 300, 1100), Gate::Grace);
    assert_eq!(gate(&f, Some(&h8), 300, 1100), Gate::Ask);
    assert_eq!(gate(&f, Some(&h7), 300, 1300), Gate::Ask);
    assert_eq!(gate(&f, None, 300, 1100), Gate::Ask);
    assert_eq!(gate(&f, Some(&h7), 0, 1100), Gate::Ask);
}

#[test]
fn grace_slots_fill_then_replace_the_oldest() {
    let mut f = file("\" TOTP_AUTH\n");
    let rules = Rules {
        grace_period: 300,
        minimums: crate::minimums::Minimums::NONE,
        ..RULES
    };
    for i in 0..11u64 {
        let h = GraceHost::parse(&format!("h{i}")).unwrap();
        let now = 30_000 + i * 30;
        assert!(ok(login_with(
            &mut f,
            code_at(now / 30),
            now,
            rules,
            Some(&h)
        )));
    }
    let hosts: Vec<_> = f
        .last_logins()
        .iter()
        .flatten()
        .map(|l| l.host.clone())
        .collect();
    assert_eq!(hosts.len(), 10);
    assert!(!hosts.contains(&b"h0".to_vec()) && hosts.contains(&b"h10".to_vec()));
}

#[test]
fn time_far_in_the_future_works() {
    let now = 20_000_000_000u64;
    let mut f = file("\" DISALLOW_REUSE\n\" TOTP_AUTH\n");
    let step = now / 30;
    assert!(ok(login(&mut f, code_at(step), now, false)));
    assert_eq!(f.used_steps(), Some(&[step][..]));
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever the file says, a decision never panics, and what it
        /// returns encodes to a file that parses to the same enrollment.
        #[test]
        fn decisions_keep_the_file_valid(
            options in proptest::sample::subsequence(vec![
                "\" TOTP_AUTH", "\" DISALLOW_REUSE 5 9", "\" RATE_LIMIT 2 60 100", "\" WINDOW_SIZE 17",
                "\" HOTP_COUNTER 4", "\" TIME_SKEW -3", "\" RESETTING_TIME_SKEW 10+1", "\" LAST0 h 5",
                "12345678", "\" STEP_SIZE 60", "junk",
            ], 0..8),
            code in 0u32..100_000_000,
            now in 0u64..40_000_000_000,
            learn: bool,
            host in "[a-z0-9.:]{1,20}",
        ) {
            let mut f = file(&(options.join("\n") + "\n"));
            let host = GraceHost::parse(&host);
            let rules = Rules { skew_learning: learn, advance_hotp_on_failure: true, grace_period: 60, minimums: crate::minimums::Minimums::NONE };
            let _ = login_with(&mut f, code, now, rules, host.as_ref());
            let again = Enrollment::parse(&f.encode()).unwrap();
            prop_assert_eq!(again, f);
        }

        /// With DISALLOW_REUSE, an accepted step is never accepted again, whatever came between.
        #[test]
        fn an_accepted_step_is_never_accepted_twice(steps in proptest::collection::vec(10_000u64..10_010, 1..12)) {
            let mut f = file("\" DISALLOW_REUSE\n\" WINDOW_SIZE 17\n\" TOTP_AUTH\n");
            let mut accepted = Vec::new();
            for s in steps {
                if let Outcome::Accepted { how: Accepted::Totp { step }, .. } = login(&mut f, code_at(s), 10_005 * 30, true) {
                    prop_assert!(!accepted.iter().any(|&a| a >= step));
                    accepted.push(step);
                }
            }
        }
    }
}

fn under(minimums: crate::minimums::Minimums) -> Rules {
    Rules { minimums, ..RULES }
}

#[test]
fn minimums_cap_the_window_of_a_file_that_allows_more() {
    let m = crate::minimums::Minimums {
        max_window_size: Some(3),
        ..crate::minimums::Minimums::NONE
    };
    let now = 10_000 * 30;
    let mut f = file("\" WINDOW_SIZE 17\n\" TOTP_AUTH\n");
    let before = text(&f);
    // Four steps early: inside the file's window, outside the admin's.
    assert!(ok(login(&mut f.clone(), code_at(10_004), now, false)));
    assert_eq!(
        login_with(&mut f, code_at(10_004), now, under(m), None),
        Outcome::WrongCode
    );
    assert!(ok(login_with(&mut f, code_at(10_001), now, under(m), None)));
    assert_eq!(text(&f), before, "the window is applied, not written");
}

#[test]
fn required_reuse_protection_refuses_a_replay_in_a_file_without_it() {
    let m = crate::minimums::Minimums {
        require_disallow_reuse: true,
        ..crate::minimums::Minimums::NONE
    };
    let now = 10_000 * 30;
    let mut f = file("\" TOTP_AUTH\n");
    assert!(ok(login_with(&mut f, code_at(10_000), now, under(m), None)));
    assert_eq!(
        login_with(&mut f, code_at(10_000), now + 1, under(m), None),
        Outcome::Refused(Refused::Reused { step: 10_000 })
    );
    // A code for an earlier step is refused too (monotonic), and the step is kept in the file.
    assert!(!ok(login_with(
        &mut f,
        code_at(9_999),
        now + 2,
        under(m),
        None
    )));
    assert!(
        text(&f).contains("\" DISALLOW_REUSE 10000\n"),
        "{}",
        text(&f)
    );
}

#[test]
fn a_required_rate_limit_counts_attempts_in_a_file_without_one() {
    let m = crate::minimums::Minimums {
        require_rate_limit: Some((2, 30)),
        ..crate::minimums::Minimums::NONE
    };
    let now = 10_000 * 30;
    // The file allows 10 attempts; the admin 2.
    for options in ["\" TOTP_AUTH\n", "\" RATE_LIMIT 10 30\n\" TOTP_AUTH\n"] {
        let mut f = file(options);
        assert_eq!(
            login_with(&mut f, 1, now, under(m), None),
            Outcome::WrongCode
        );
        assert_eq!(
            login_with(&mut f, 2, now + 1, under(m), None),
            Outcome::WrongCode
        );
        assert!(matches!(
            login_with(&mut f, code_at(10_000), now + 2, under(m), None),
            Outcome::Throttled { .. }
        ));
        assert!(text(&f).contains("\" RATE_LIMIT "), "{}", text(&f));
    }
    let mut f = file("\" TOTP_AUTH\n");
    login_with(&mut f, 1, now, under(m), None);
    assert!(
        text(&f).contains("\" RATE_LIMIT 2 30 300000\n"),
        "{}",
        text(&f)
    );
}

#[test]
fn refused_scratch_codes_and_hotp_files_are_told_only_after_a_right_code() {
    use crate::minimums::{Minimums, Shortfall};
    let now = 10_000 * 30;
    let m = Minimums {
        refuse_scratch_codes: true,
        refuse_hotp: true,
        ..Minimums::NONE
    };
    let mut f = file("\" TOTP_AUTH\n12345678\n");
    let before = text(&f);
    assert_eq!(
        login_with(&mut f, 12_345_678, now, under(m), None),
        Outcome::Refused(Refused::BelowMinimum(Shortfall::ScratchCodes { count: 1 }))
    );
    assert_eq!(text(&f), before, "the scratch code is not spent");
    assert_eq!(
        login_with(&mut f, 87_654_321, now, under(m), None),
        Outcome::WrongCode
    );

    let mut h = file("\" HOTP_COUNTER 1\n");
    let right = code_at(1);
    assert_eq!(
        login_with(&mut h, right, now, under(m), None),
        Outcome::Refused(Refused::BelowMinimum(Shortfall::Hotp))
    );
    assert_eq!(
        h.kind(),
        Kind::Hotp { counter: 1 },
        "the counter is not moved"
    );
    assert_eq!(
        login_with(&mut h, (right + 1) % 1_000_000, now, under(m), None),
        Outcome::WrongCode
    );
    // Without the minimum the same code logs in.
    assert!(ok(login(&mut h, right, now, false)));
}
