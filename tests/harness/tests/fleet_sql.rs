//! The fleet store's SQL (pam_totp/sql/fleet.sql) on a real PostgreSQL
//! server: the RFC 6238 vectors through its HOTP, what a host's login may
//! and may not do, and one scenario table decided by both backends — the
//! Rust core on a secret file and the SQL function — with the same outcomes.

use std::path::{Path, PathBuf};

use pam_totp::decision::{self, Attempt, Candidate, Outcome, Refused, Rules};
use pam_totp::enrollment::Enrollment;
use pam_totp::minimums::Minimums;
use pam_totp::otp;
use test_support::postgres::{self, Server};
use test_support::{now, required_in_ci, settle};

fn schema() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../pam_totp/sql/fleet.sql")
}

fn server() -> Option<Server> {
    if !required_in_ci(postgres::available(), "PostgreSQL (postgresql) and openssl") {
        eprintln!("note: PostgreSQL is not installed; the fleet store's SQL is not tried");
        return None;
    }
    Some(Server::start(&schema()))
}

const RFC_SECRET_HEX: &str = "3132333435363738393031323334353637383930";

#[test]
fn rfc6238_vectors_through_the_sql_hotp() {
    let Some(pg) = server() else { return };
    for (t, eight) in [
        (59u64, "94287082"),
        (1_111_111_109, "07081804"),
        (1_111_111_111, "14050471"),
        (1_234_567_890, "89005924"),
        (2_000_000_000, "69279037"),
        (20_000_000_000, "65353130"),
    ] {
        let got = pg.psql(
            "pam_totp",
            &format!(
                "SELECT pam_totp.hotp('\\x{RFC_SECRET_HEX}'::bytea, {})",
                t / 30
            ),
        );
        let want: u32 = eight[2..].parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(got.trim().parse::<u32>().ok(), Some(want), "T={t}: {got}");
        let key = otp::Key::new(b"12345678901234567890".to_vec());
        assert_eq!(
            otp::hotp(&key, t / 30, 6),
            want,
            "the Rust core agrees, T={t}"
        );
    }
}

#[test]
fn a_host_login_can_verify_but_never_read_a_secret_or_enroll() {
    let Some(pg) = server() else { return };
    pg.host_login("host1", "pam_totp_host");
    pg.psql(
        "pam_totp",
        "SELECT pam_totp.enroll('alice', '\\x3132333435363738393031323334353637383930', ARRAY[12345678])",
    );
    for sql in [
        "SELECT secret FROM pam_totp.enrollments",
        "SELECT * FROM pam_totp.scratch_codes",
        "SELECT * FROM pam_totp.attempts",
        "SELECT * FROM pam_totp.list()",
        "SELECT pam_totp.hotp('\\x00', 1)",
        "SELECT pam_totp.enroll('mallory', '\\x00', NULL)",
        "SELECT pam_totp.remove('alice')",
        "UPDATE pam_totp.enrollments SET last_step = NULL",
    ] {
        let out = pg.psql_as("host1", sql);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains("permission denied"),
            "{sql}: {}\n{err}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    let out = pg.psql_as(
        "host1",
        "SELECT outcome FROM pam_totp.verify('alice', 0, NULL)",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "wrong-code");
}

/// One input of a scenario, relative to now.
#[derive(Clone, Copy, Debug)]
enum Input {
    /// The code of the step `n` steps from now.
    Step(i64),
    Wrong,
    Scratch,
}

const SECRET: &[u8] = b"12345678901234567890";
const SCRATCH: u32 = 12_345_678;

/// Settings as a secret file's option lines, the same as enroll() arguments,
/// and the inputs with the outcome each must have.
type Scenario = (&'static str, &'static str, Vec<(Input, &'static str)>);

fn scenarios() -> Vec<Scenario> {
    use Input::*;
    vec![
        (
            "\" DISALLOW_REUSE\n\" WINDOW_SIZE 3\n\" TOTP_AUTH\n",
            "window_size => 3, disallow_reuse => true",
            vec![
                (Step(0), "accepted"),
                (Step(0), "reused"),
                (Step(-1), "reused"),
                (Step(1), "accepted"),
                (Wrong, "wrong-code"),
                (Step(5), "wrong-code"),
                (Scratch, "scratch"),
                (Scratch, "wrong-code"),
            ],
        ),
        (
            "\" RATE_LIMIT 3 30\n\" DISALLOW_REUSE\n\" TOTP_AUTH\n",
            "disallow_reuse => true, rate_attempts => 3, rate_interval => 30",
            vec![
                (Wrong, "wrong-code"),
                (Wrong, "wrong-code"),
                (Step(0), "accepted"),
                (Wrong, "throttled"),
                (Step(1), "throttled"),
            ],
        ),
        (
            "\" WINDOW_SIZE 5\n\" TOTP_AUTH\n",
            "window_size => 5, disallow_reuse => false",
            vec![
                (Step(0), "accepted"),
                (Step(0), "accepted"),
                (Step(-2), "accepted"),
                (Step(3), "wrong-code"),
            ],
        ),
    ]
}

fn code_of(input: Input, now: u64) -> u32 {
    let key = otp::Key::new(SECRET.to_vec());
    match input {
        Input::Step(n) => otp::hotp(&key, (now / 30).saturating_add_signed(n), 6),
        Input::Wrong => (otp::hotp(&key, now / 30, 6) + 500_000) % 1_000_000,
        Input::Scratch => SCRATCH,
    }
}

/// The Rust core's word for an outcome, in the SQL function's terms.
fn word(o: &Outcome) -> &'static str {
    match o {
        Outcome::Accepted {
            how: decision::Accepted::Scratch,
            ..
        } => "scratch",
        Outcome::Accepted { .. } => "accepted",
        Outcome::Refused(Refused::Reused { .. }) => "reused",
        Outcome::Refused(_) => "refused",
        Outcome::Throttled { .. } => "throttled",
        Outcome::WrongCode | Outcome::TryNext { .. } => "wrong-code",
    }
}

#[test]
fn one_scenario_table_gives_the_same_outcomes_in_both_backends() {
    let Some(pg) = server() else { return };
    pg.host_login("host1", "pam_totp_host");
    let b32 = otp::encode_base32(SECRET);
    for (i, (options, sql_settings, steps)) in scenarios().into_iter().enumerate() {
        settle(12);
        let user = format!("user{i}");
        let mut file =
            Enrollment::parse(format!("{}\n{options}{SCRATCH}\n", b32.as_str()).as_bytes())
                .unwrap_or_else(|e| panic!("{e}"));
        pg.psql(
            "pam_totp",
            &format!(
                "SELECT pam_totp.enroll('{user}', '\\x{}'::bytea, ARRAY[{SCRATCH}], {sql_settings})",
                SECRET.iter().map(|b| format!("{b:02x}")).collect::<String>()
            ),
        );
        for (input, expected) in steps {
            let t = now();
            let code = code_of(input, t);
            let digits = if code >= 1_000_000 { 8 } else { 6 };
            let c = [Candidate {
                code,
                digits,
                prefix_len: 0,
            }];
            let attempt = Attempt {
                candidates: &c,
                rules: Rules {
                    skew_learning: false,
                    advance_hotp_on_failure: false,
                    grace_period: 0,
                    minimums: Minimums::NONE,
                },
                host: None,
                last: true,
                hotp_tried: false,
            };
            let (outcome, next) =
                decision::decide(&file, &attempt, t).unwrap_or_else(|e| panic!("{e}"));
            file = next;
            let (code6, code8) = if digits == 6 {
                (code.to_string(), "NULL".to_owned())
            } else {
                ("NULL".to_owned(), code.to_string())
            };
            let out = pg.psql_as(
                "host1",
                &format!("SELECT outcome FROM pam_totp.verify('{user}', {code6}, {code8})"),
            );
            let sql = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(
                (word(&outcome), sql.as_str()),
                (expected, expected),
                "scenario {i}, {input:?}: (file, SQL)"
            );
        }
    }
}
