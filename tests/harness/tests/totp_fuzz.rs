//! Mutation fuzz of secret files: truncations, byte flips, inserted bad
//! options, huge numbers and non-UTF-8. In process through the parser and the
//! decision (an error or a decision, never a panic, and every edit leaves a
//! file that still parses), and through the real libpam (a defined PAM code,
//! no crash, no hang).

use pam_harness::totp::Enrollment;
use pam_harness::{Gen, Service};
use pam_totp::decision::{self, Attempt, Candidate, Rules};
use pam_totp::enrollment::{Enrollment as File, GraceHost};

const SEEDS: &[&str] = &[
    "JBSWY3DPEHPK3PXP\n\" RATE_LIMIT 3 30 1795421121 1795421122\n\" WINDOW_SIZE 17\n\" DISALLOW_REUSE 59847369 59847370\n\" TOTP_AUTH\n12345678\n87654321\n",
    "2SH3V3GDW7ZNMGYE\n\" HOTP_COUNTER 1\n\" WINDOW_SIZE 3\n11111111\n",
    "JBSWY3DPEHPK3PXP\r\n\" STEP_SIZE 60\r\n\" TIME_SKEW -1000\r\n\" RESETTING_TIME_SKEW 12000-1000 12001-1000\r\n\" TOTP_AUTH\r\n",
    "JBSWY3DPEHPK3PXP\n\" LAST0 192.0.2.7 1795421121\n\" LAST1 ::1 1795421000\n\" TOTP_AUTH\n\" FUTURE_OPTION x y z\n",
];

const INSERTS: &[&[u8]] = &[
    b"\n\" WINDOW_SIZE 99999999999999999999999\n",
    b"\n\" RATE_LIMIT 100 3600 18446744073709551615 0 1\n",
    b"\n\" DISALLOW_REUSE 18446744073709551615\n",
    b"\n\" HOTP_COUNTER 18446744073709551615\n",
    b"\n\" TIME_SKEW -9223372036854775808\n",
    b"\n\" STEP_SIZE 1\n",
    b"\n\" RESETTING_TIME_SKEW 18446744073709551615+9223372036854775807\n",
    b"\n\" LAST9 \xff\xfe 99999999999999999999\n",
    b"\n\" TOTP_AUTH\n",
    b"\n99999999\n",
    b"\r\r\n\n",
    b"\xc3\x28\xa0\xa1",
    b"\0",
];

fn mutate(rng: &mut Gen, input: &[u8]) -> Vec<u8> {
    let mut b = input.to_vec();
    for _ in 0..=rng.below(4) {
        match rng.below(6) {
            0 if !b.is_empty() => b.truncate(rng.below(b.len())),
            1 if !b.is_empty() => {
                let i = rng.below(b.len());
                b[i] ^= 1 << rng.below(8);
            }
            2 => {
                let at = rng.below(b.len() + 1);
                let ins = INSERTS[rng.below(INSERTS.len())];
                b.splice(at..at, ins.iter().copied());
            }
            3 if !b.is_empty() => {
                let i = rng.below(b.len());
                b[i] = rng.next_u64() as u8;
            }
            4 => {
                let from = rng.below(b.len() + 1);
                let to = (from + rng.below(64)).min(b.len());
                let copy = b[from..to].to_vec();
                b.extend_from_slice(&copy);
            }
            _ if !b.is_empty() => {
                let i = rng.below(b.len());
                b.remove(i);
            }
            _ => {}
        }
    }
    b
}

#[test]
fn mutated_secret_files_never_panic_and_edits_stay_parseable() {
    let mut rng = Gen(0x9e37_79b9_7f4a_7c15);
    let mut parsed = 0;
    let mut decided = 0;
    for i in 0..20_000 {
        let seed = SEEDS[i % SEEDS.len()].as_bytes();
        let bytes = mutate(&mut rng, seed);
        let Ok(file) = File::parse(&bytes) else {
            continue;
        };
        parsed += 1;
        let now = [
            0u64,
            59,
            1_795_421_121,
            u64::from(u32::MAX) + 7,
            20_000_000_000,
        ][rng.below(5)];
        let host = GraceHost::parse(["192.0.2.7", "::1", "host name"][rng.below(3)]);
        let _ = decision::gate(&file, host.as_ref(), 300, now);
        let code = [0u32, 123_456, 12_345_678, 87_654_321, 11_111_111, 999_999][rng.below(6)];
        let digits = if code >= 1_000_000 { 8 } else { 6 };
        let candidates = [Candidate {
            code,
            digits,
            prefix_len: 0,
        }];
        let attempt = Attempt {
            candidates: &candidates,
            // The skew search is exercised on a sample.
            rules: Rules {
                skew_learning: i % 50 == 0,
                advance_hotp_on_failure: true,
                grace_period: 300,
                minimums: pam_totp::minimums::Minimums::NONE,
            },
            host: host.as_ref(),
            last: true,
            hotp_tried: true,
        };
        let (_, next) = decision::decide(&file, &attempt, now)
            .unwrap_or_else(|e| panic!("iteration {i}: the decision could not write: {e}"));
        decided += 1;
        // Whatever the decision wrote must still be a valid file, read back the same.
        match File::parse(&next.encode()) {
            Ok(again) => assert_eq!(
                again, next,
                "iteration {i}: the file reads back differently"
            ),
            Err(e) => panic!("iteration {i}: an edit broke the file: {e}"),
        }
    }
    assert!(parsed > 2_000, "only {parsed} mutated files parsed");
    assert!(decided == parsed);
}

#[test]
fn mutated_secret_files_through_libpam_get_defined_codes() {
    let mut rng = Gen(0x1234_5678_9abc_def1);
    let e = Enrollment::empty();
    let svc = Service::new(&format!("auth required {{totp}} {} noskewadj", e.arg()));
    let defined = [
        "PAM_SUCCESS",
        "PAM_AUTH_ERR",
        "PAM_AUTHINFO_UNAVAIL",
        "PAM_MAXTRIES",
    ];
    for i in 0..150 {
        let bytes = mutate(&mut rng, SEEDS[i % SEEDS.len()].as_bytes());
        e.write(&bytes);
        let answer = ["12345678", "123456", "87654321"][i % 3];
        // `run` fails the test if the driver crashes or hangs.
        let out = svc.user(&e.user).answer(answer).authenticate().run();
        assert!(defined.contains(&out.code()), "iteration {i}\n{out}");
        if out.code() == "PAM_AUTHINFO_UNAVAIL" {
            assert_eq!(
                e.bytes(),
                bytes,
                "iteration {i}: a refused file was changed"
            );
        }
    }
}
