//! `bench-totp`: per-authentication latency of pam_totp against
//! pam_google_authenticator, both loaded by the same real-libpam driver in
//! one run, on the same kind of secret file with a correct code:
//!
//! - without a state write (TOTP, no options that keep state);
//! - with a state write on every login (HOTP: the counter advances).
//!
//! Two ways of counting: per transaction (`pam_start_confdir` +
//! `pam_authenticate` on a fresh handle, so the module is loaded each time,
//! as in one sshd connection), and per authentication on one handle (the
//! module loaded once: only its own work, locking and syncing included).
//! Runs alternate between the modules in chunks so drift on a shared machine
//! hits both alike. Prints p50/p99 and the ratios.
//!
//! Usage: `cargo run --release -p pam-harness --bin bench-totp [rounds]`

use pam_harness::totp::{Enrollment, SECRET, code, key, step};
use pam_harness::{Scenario, Service, system_module_dir};
use test_support::settle;

const CHUNKS: usize = 4;

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

struct Stats {
    p50: u64,
    p99: u64,
}

fn stats(mut ns: Vec<u64>) -> Stats {
    ns.sort_unstable();
    Stats {
        p50: percentile(&ns, 0.50),
        p99: percentile(&ns, 0.99),
    }
}

fn run(s: Scenario<'_>) -> Vec<u64> {
    let out = s.run();
    let failed: Vec<_> = out.codes();
    assert!(
        out.report.results.iter().all(|r| r.name == "PAM_SUCCESS"),
        "a benchmark login failed: {failed:?}\n{out}"
    );
    out.report.round_ns
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2000);
    let per_chunk = rounds.div_ceil(CHUNKS);
    let anchor = system_module_dir().join("pam_google_authenticator.so");
    if !anchor.exists() {
        eprintln!(
            "bench-totp: {} is missing (apt-get install libpam-google-authenticator)",
            anchor.display()
        );
        std::process::exit(2);
    }

    let modules = [
        ("pam_totp", "{totp}".to_owned()),
        ("pam_google_authenticator", anchor.display().to_string()),
    ];
    let mut results = Vec::new();
    let cases = [
        ("transaction, no state write", false, false),
        ("transaction, state write", true, false),
        ("authentication, no state write", false, true),
        ("authentication, state write", true, true),
    ];
    for (case, write, same_handle) in cases {
        let mut samples: Vec<Vec<u64>> = vec![Vec::new(), Vec::new()];
        // One enrollment per module, so each sees its own file history.
        let enrollments: Vec<Enrollment> = modules
            .iter()
            .map(|_| {
                if write {
                    Enrollment::new("\" HOTP_COUNTER 1\n")
                } else {
                    Enrollment::new("\" TOTP_AUTH\n")
                }
            })
            .collect();
        let mut counters = [1u64, 1u64];
        for _ in 0..CHUNKS {
            for (m, (_, path)) in modules.iter().enumerate() {
                let e = &enrollments[m];
                let svc = Service::new(&format!("auth required {path} {}", e.arg()));
                let s = svc.user(&e.user).authenticate().repeat(per_chunk as u32);
                let s = if same_handle { s.same_handle() } else { s };
                let s = if write {
                    let k = key(SECRET);
                    let answers = (0..per_chunk as u64)
                        .map(|i| format!("{:06}", pam_totp::otp::hotp(&k, counters[m] + i, 6)))
                        .collect();
                    counters[m] += per_chunk as u64;
                    s.answer_per_round(answers)
                } else {
                    settle(10);
                    s.answer(&code(SECRET, step()))
                };
                samples[m].extend(run(s));
            }
        }
        let ours = stats(samples[0].clone());
        let theirs = stats(samples[1].clone());
        results.push((case, ours, theirs));
    }

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
            case,
            ours.p50 / 1000,
            ours.p99 / 1000,
            theirs.p50 / 1000,
            theirs.p99 / 1000,
            ours.p50 as f64 / theirs.p50.max(1) as f64,
            ours.p99 as f64 / theirs.p99.max(1) as f64,
        );
    }
    println!("(ratio = pam_totp / pam_google_authenticator; below 1 means pam_totp is faster)");
    println!(
        "transaction: pam_start + pam_authenticate on a fresh handle (module loaded each time);"
    );
    println!(
        "authentication: pam_authenticate on one handle (module loaded once). Correct code every time;"
    );
    println!("state write: HOTP, the counter is saved on every login.");
}
