//! `bench-totp`: per-authentication latency of pam_totp against
//! pam_google_authenticator, both loaded by the same real-libpam driver in
//! one run, on the same kind of secret file:
//!
//! - a correct code without a state write (TOTP, no options that keep state);
//! - a correct code with a state write on every login (HOTP: the counter
//!   advances);
//! - a wrong code (TOTP, skew learning on as by default, i.e. without
//!   `noskewadj`): both modules then search about 3,000 steps around now
//!   for the code before refusing it. The code is one that matches no step
//!   in that range, so nothing is learnt or written.
//!
//! Two ways of counting: per transaction (`pam_start_confdir` +
//! `pam_authenticate` on a fresh handle, so the module is loaded each time,
//! as in one sshd connection), and per authentication on one handle (the
//! module loaded once: only its own work, locking and syncing included).
//! Runs alternate between the modules in chunks so drift on a shared machine
//! hits both alike. Prints p50/p99 and the ratios.
//!
//! Usage: `cargo run --release -p pam-bench --bin bench-totp [rounds]`

use std::collections::HashSet;
use std::process::ExitCode;

use pam_bench::{Percentiles, anchor_module, ratio};
use pam_harness::totp::{Enrollment, SECRET, code, key, step};
use pam_harness::{Scenario, Service};
use test_support::settle;

const CHUNKS: usize = 4;

/// What a login answers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Login {
    /// The current TOTP code; nothing is written.
    Correct,
    /// The next HOTP code; the counter is written on every login.
    CorrectWithWrite,
    /// A code no step near now has; refused after the skew search.
    Wrong,
}

struct Case {
    name: &'static str,
    login: Login,
    same_handle: bool,
}

const CASES: &[Case] = &[
    Case {
        name: "transaction, no state write",
        login: Login::Correct,
        same_handle: false,
    },
    Case {
        name: "transaction, state write",
        login: Login::CorrectWithWrite,
        same_handle: false,
    },
    Case {
        name: "transaction, wrong code",
        login: Login::Wrong,
        same_handle: false,
    },
    Case {
        name: "authentication, no state write",
        login: Login::Correct,
        same_handle: true,
    },
    Case {
        name: "authentication, state write",
        login: Login::CorrectWithWrite,
        same_handle: true,
    },
    Case {
        name: "authentication, wrong code",
        login: Login::Wrong,
        same_handle: true,
    },
];

/// A 6-digit code that no step within `reach` steps of now has, so a wrong
/// login is refused after the whole skew search, by both modules, without
/// recording a skew.
fn wrong_code(reach: u64) -> String {
    let k = key(SECRET);
    let now = step();
    let near: HashSet<u32> = (now.saturating_sub(reach)..=now + reach)
        .map(|s| pam_totp::otp::hotp(&k, s, 6))
        .collect();
    let free = (0..1_000_000u32).find(|c| !near.contains(c)).unwrap_or(0);
    format!("{free:06}")
}

/// Runs a scenario; every round must give `expected`, else the figures would
/// measure something else.
fn timings(s: Scenario<'_>, expected: &str) -> Result<Vec<u64>, String> {
    let out = s.run();
    if out.report.results.iter().all(|r| r.name == expected) {
        Ok(out.report.round_ns)
    } else {
        Err(format!(
            "a benchmark login gave {:?}, not {expected}\n{out}",
            out.codes()
        ))
    }
}

fn main() -> ExitCode {
    if let Some(code) = pam_harness::drive_with_this_program() {
        return code;
    }
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2000);
    let per_chunk = rounds.div_ceil(CHUNKS);
    let Some(anchor) = anchor_module(
        "bench-totp",
        "pam_google_authenticator.so",
        "libpam-google-authenticator",
    ) else {
        return ExitCode::from(2);
    };
    // Both search 25*60 steps either side of now (at 30 s: ±12.5 h); twice
    // that keeps the code wrong however long the run takes.
    let wrong = wrong_code(2 * 25 * 60);

    let modules = [
        ("pam_totp", "{totp}".to_owned()),
        ("pam_google_authenticator", anchor.display().to_string()),
    ];
    let mut results = Vec::new();
    for case in CASES {
        let mut samples: Vec<Vec<u64>> = vec![Vec::new(), Vec::new()];
        // One enrollment per module, so each sees its own file history.
        let enrollments: Vec<Enrollment> = modules
            .iter()
            .map(|_| match case.login {
                Login::CorrectWithWrite => Enrollment::new("\" HOTP_COUNTER 1\n"),
                Login::Correct | Login::Wrong => Enrollment::new("\" TOTP_AUTH\n"),
            })
            .collect();
        let mut counters = [1u64, 1u64];
        for _ in 0..CHUNKS {
            for (m, (_, path)) in modules.iter().enumerate() {
                let e = &enrollments[m];
                let svc = Service::new(&format!("auth required {path} {}", e.arg()));
                let s = svc.user(&e.user).authenticate().repeat(per_chunk as u32);
                let s = if case.same_handle { s.same_handle() } else { s };
                let (s, expected) = match case.login {
                    Login::CorrectWithWrite => {
                        let k = key(SECRET);
                        let answers = (0..per_chunk as u64)
                            .map(|i| format!("{:06}", pam_totp::otp::hotp(&k, counters[m] + i, 6)))
                            .collect();
                        counters[m] += per_chunk as u64;
                        (s.answer_per_round(answers), "PAM_SUCCESS")
                    }
                    Login::Correct => {
                        settle(10);
                        (s.answer(&code(SECRET, step())), "PAM_SUCCESS")
                    }
                    Login::Wrong => (s.answer(&wrong), "PAM_AUTH_ERR"),
                };
                match timings(s, expected) {
                    Ok(ns) => samples[m].extend(ns),
                    Err(e) => {
                        eprintln!("bench-totp: {}: {e}", modules[m].0);
                        return ExitCode::from(1);
                    }
                }
            }
        }
        let [ours, theirs] = [&samples[0], &samples[1]].map(|s| Percentiles::of(s.clone()));
        results.push((case, ours, theirs));
    }

    let us = |ns: f64| (ns / 1e3).round();
    println!(
        "pam_totp vs pam_google_authenticator: {} authentications per module and case, one driver, one run",
        per_chunk * CHUNKS
    );
    println!(
        "{:<32} {:>14} {:>14} {:>14} {:>14} {:>9} {:>9}",
        "case",
        "pam_totp p50",
        "pam_totp p99",
        "anchor p50",
        "anchor p99",
        "p50 ratio",
        "p99 ratio"
    );
    for (case, ours, theirs) in &results {
        println!(
            "{:<32} {:>11} us {:>11} us {:>11} us {:>11} us {:>8.2}x {:>8.2}x",
            case.name,
            us(ours.p50),
            us(ours.p99),
            us(theirs.p50),
            us(theirs.p99),
            ratio(ours.p50, theirs.p50),
            ratio(ours.p99, theirs.p99),
        );
    }
    println!("(ratio = pam_totp / pam_google_authenticator; below 1 means pam_totp is faster)");
    println!(
        "transaction: pam_start + pam_authenticate on a fresh handle (module loaded each time);"
    );
    println!("authentication: pam_authenticate on one handle (module loaded once);");
    println!("state write: HOTP, the counter is saved on every login;");
    println!(
        "wrong code: TOTP with skew learning (no noskewadj), a code no step within the search has."
    );
    // The wrong-code cost, module loaded once: the skew search is all of it.
    if let Some((_, ours, theirs)) = results
        .iter()
        .find(|(c, _, _)| c.login == Login::Wrong && c.same_handle)
    {
        println!(
            "wrong code: p50 ours {} µs, anchor {} µs, ratio {:.2}× (anchor / ours; above 1 means pam_totp is faster); p99 ours {} µs, anchor {} µs, ratio {:.2}×",
            us(ours.p50),
            us(theirs.p50),
            ratio(theirs.p50, ours.p50),
            us(ours.p99),
            us(theirs.p99),
            ratio(theirs.p99, ours.p99),
        );
    }
    ExitCode::SUCCESS
}
