//! `bench-policy`: pam_policy.so against pam_pwquality.so, through the same
//! real-libpam driver, on the same passwords, with the dictionary check on.
//!
//! ```sh
//! cargo run --release -p pam-bench --bin bench-policy [ROUNDS]
//! ```
//!
//! For each module and each password, `pam-drive` runs ROUNDS rounds
//! (default 300) two ways:
//! - per call: one handle, `pam_chauthtok` ROUNDS times, each call timed;
//! - per transaction: pam_start_confdir → pam_chauthtok → pam_end each
//!   round, as a `passwd` or `sshd` process does once; the first round of
//!   each process (module loaded, dictionary opened) is reported as "cold".
//!
//! Prints p50/p99 of both for each module, the ratios, and the peak RSS of
//! the driver processes. pam_permit.so in the same stack gives the floor that
//! libpam and the driver cost by themselves. Each module is measured in its
//! own child process of this program, so the peak RSS it reports is that
//! module's.

use std::process::{Command, ExitCode};

use pam_bench::{Percentiles, anchor_module, ratio};
use pam_harness::{Service, system_module_dir};

/// The hardening guide's line with one try, so a round is one check.
const LINE: &str = "retry=1 minlen=10 difok=3 ucredit=-1 lcredit=-2 dcredit=-1 ocredit=-1";

/// An account in /etc/passwd, as the users changing passwords have; the
/// unprivileged driver runs as this uid, so pam_pwquality's cracklib looks up
/// the same entry.
const USER: &str = "nobody";

/// Passwords that pass the composition rules, so every one reaches the
/// dictionary check: dictionary hits, near misses and strong ones.
const PASSWORDS: &[&str] = &[
    "Password1!",
    "Qwerty123!",
    "Dragon12#x",
    "Passw0rd!!",
    "P@ssw0rd12",
    "Summer2024!",
    "Welcome1!23",
    "Qwerty12#$",
    "Tr0ub4dor&3",
    "xPassword1!",
    "Xk9#mQ2$vL",
    "Correct horse battery staple 9",
    "Zw7!pR4&tNq",
    "Monkey#2024a",
    "Aaaaaaaa1#",
    "Abcdefgh1#",
];

fn main() -> ExitCode {
    if let Some(code) = pam_harness::drive_with_this_program() {
        return code;
    }
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--one") {
        let (Some(module), Some(rounds)) = (args.get(2), args.get(3).and_then(|r| r.parse().ok()))
        else {
            eprintln!("usage: bench-policy --one MODULE ROUNDS");
            return ExitCode::from(2);
        };
        one(module, rounds);
        return ExitCode::SUCCESS;
    }
    let rounds: u32 = args.get(1).and_then(|r| r.parse().ok()).unwrap_or(300);
    let Some(pwquality) = anchor_module("bench-policy", "pam_pwquality.so", "libpam-pwquality")
    else {
        return ExitCode::from(2);
    };
    println!(
        "bench-policy: {} passwords x {rounds} rounds, line `{LINE}`, user {USER}, dictionary check on",
        PASSWORDS.len()
    );
    let permit = system_module_dir().join("pam_permit.so");
    let ours = measure("{policy}", rounds);
    let theirs = measure(&pwquality.display().to_string(), rounds);
    let floor = measure(&permit.display().to_string(), rounds);
    let (Some(ours), Some(theirs), Some(floor)) = (ours, theirs, floor) else {
        return ExitCode::from(1);
    };
    let rows = [
        ("pam_policy", &ours),
        ("pam_pwquality", &theirs),
        ("pam_permit", &floor),
    ];
    println!("per pam_chauthtok call (one handle, module loaded once):");
    for (name, m) in rows {
        println!(
            "  {name:<14} p50 {:>7.1} us   p99 {:>7.1} us   ({} calls)",
            m.call.p50 / 1e3,
            m.call.p99 / 1e3,
            m.call.samples
        );
    }
    println!(
        "  ratio pam_pwquality / pam_policy: p50 {:.1}x   p99 {:.1}x",
        ratio(theirs.call.p50, ours.call.p50),
        ratio(theirs.call.p99, ours.call.p99)
    );
    println!("per transaction (pam_start_confdir, pam_chauthtok, pam_end):");
    for (name, m) in rows {
        println!(
            "  {name:<14} p50 {:>7.1} us   p99 {:>7.1} us   cold p50 {:>7.1} us   ({} rounds)",
            m.transaction.p50 / 1e3,
            m.transaction.p99 / 1e3,
            m.cold_p50 / 1e3,
            m.transaction.samples
        );
    }
    println!(
        "  ratio pam_pwquality / pam_policy: p50 {:.1}x   p99 {:.1}x   cold p50 {:.1}x",
        ratio(theirs.transaction.p50, ours.transaction.p50),
        ratio(theirs.transaction.p99, ours.transaction.p99),
        ratio(theirs.cold_p50, ours.cold_p50)
    );
    println!("peak RSS of the driver processes:");
    for (name, m) in rows {
        println!("  {name:<14} {:>6} KiB", m.peak_rss_kib);
    }
    ExitCode::SUCCESS
}

struct Measured {
    call: Percentiles,
    transaction: Percentiles,
    /// The median first transaction of a process (module load included).
    cold_p50: f64,
    peak_rss_kib: u64,
}

/// Runs `--one` in a child and reads back its figures.
fn measure(module: &str, rounds: u32) -> Option<Measured> {
    let exe = std::env::current_exe().ok()?;
    let out = Command::new(exe)
        .args(["--one", module, &rounds.to_string()])
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!(
            "bench-policy: measuring {module} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let (mut call, mut transaction, mut cold) = (Vec::new(), Vec::new(), Vec::new());
    let mut peak = 0;
    for line in text.lines() {
        let Some((key, values)) = line.split_once(' ') else {
            continue;
        };
        let numbers = values.split(' ').filter_map(|x| x.parse::<u64>().ok());
        match key {
            "call" => call.extend(numbers),
            "transaction" => transaction.extend(numbers),
            "cold" => cold.extend(numbers),
            "maxrss_kib" => peak = numbers.max().unwrap_or(0),
            _ => {}
        }
    }
    if call.is_empty() || transaction.is_empty() {
        eprintln!("bench-policy: no timings for {module}");
        return None;
    }
    cold.sort_unstable();
    Some(Measured {
        call: Percentiles::of(call),
        transaction: Percentiles::of(transaction),
        cold_p50: cold.get(cold.len() / 2).map_or(0.0, |&c| c as f64),
        peak_rss_kib: peak,
    })
}

/// In the child: every password through `module`, both ways, then this
/// process's children's peak RSS.
fn one(module: &str, rounds: u32) {
    let svc = Service::new(&format!("password requisite {module} {LINE}"));
    // The unprivileged driver reads the service file from here.
    let _ = std::fs::set_permissions(
        svc.dir(),
        std::os::unix::fs::PermissionsExt::from_mode(0o1777),
    );
    let print = |key: &str, ns: &[u64]| {
        let v: Vec<String> = ns.iter().map(u64::to_string).collect();
        println!("{key} {}", v.join(" "));
    };
    for pw in PASSWORDS {
        let scenario = || {
            svc.user(USER)
                .unprivileged()
                .answer(pw)
                .answer(pw)
                .chauthtok()
                .repeat(rounds)
        };
        // One handle: the first call opens the dictionary; the rest are
        // what a long-lived process pays per password change.
        let out = scenario().same_handle().run();
        print("call", out.report.round_ns.get(1..).unwrap_or_default());
        // A fresh transaction per round; the first is the cold one.
        let out = scenario().run();
        print(
            "transaction",
            out.report.round_ns.get(1..).unwrap_or_default(),
        );
        print("cold", out.report.round_ns.get(..1).unwrap_or_default());
        eprintln!("{pw:?}: {} {:?}", out.code(), out.errors());
    }
    // SAFETY: getrusage writes into the zeroed struct we pass and has no other effect.
    let usage = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut u);
        u
    };
    println!("maxrss_kib {}", usage.ru_maxrss);
}
