//! `bench-policy`: pam_policy.so against pam_pwquality.so, through the same
//! real-libpam driver, on the same passwords, with the dictionary check on.
//!
//! ```sh
//! cargo build --release -p pam-harness --bins && target/release/bench-policy [ROUNDS]
//! ```
//!
//! Each password is one `pam-drive` process that runs pam_start_confdir →
//! pam_chauthtok → pam_end ROUNDS times (default 300) and times every round.
//! Prints p50/p99 per chauthtok for each module, the ratio, and the peak RSS
//! of the driver processes; pam_permit.so in the same stack gives the floor
//! that libpam and the driver cost by themselves. Each module is measured in its own child process
//! of this program, so the peak RSS it reports is that module's.

use std::process::{Command, ExitCode};

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
    let pwquality = system_module_dir().join("pam_pwquality.so");
    if !pwquality.exists() {
        eprintln!(
            "bench-policy: {} is missing (scripts/deps.sh --test)",
            pwquality.display()
        );
        return ExitCode::from(2);
    }
    println!(
        "bench-policy: {} passwords x {rounds} rounds, line `{LINE}`, dictionary check on",
        PASSWORDS.len()
    );
    let ours = measure("{policy}", rounds);
    let theirs = measure(&pwquality.display().to_string(), rounds);
    let floor = measure(
        &system_module_dir()
            .join("pam_permit.so")
            .display()
            .to_string(),
        rounds,
    );
    let (Some(ours), Some(theirs), Some(floor)) = (ours, theirs, floor) else {
        return ExitCode::from(1);
    };
    for (name, m) in [
        ("pam_policy", &ours),
        ("pam_pwquality", &theirs),
        ("pam_permit", &floor),
    ] {
        println!(
            "{name:<14} p50 {:>7.1} us   p99 {:>7.1} us   cold p50 {:>7.1} us   peak RSS {:>5} KiB   ({} rounds)",
            m.p50 / 1e3,
            m.p99 / 1e3,
            m.cold_p50 / 1e3,
            m.peak_rss_kib,
            m.samples
        );
    }
    println!(
        "ratio (pam_pwquality / pam_policy): p50 {:.1}x   p99 {:.1}x   cold p50 {:.1}x",
        theirs.p50 / ours.p50,
        theirs.p99 / ours.p99,
        theirs.cold_p50 / ours.cold_p50
    );
    // pam_permit.so in the same place shows what libpam and the driver cost
    // by themselves (pam_start reading the service file, dlopen, pam_end).
    let own = |m: &Measured| m.p50 - floor.p50;
    let (o, t) = (own(&ours), own(&theirs));
    if o > 1_000.0 {
        println!(
            "above the pam_permit floor (p50): pam_policy {:.1} us, pam_pwquality {:.1} us ({:.1}x)",
            o / 1e3,
            t / 1e3,
            t / o
        );
    } else {
        println!(
            "above the pam_permit floor (p50): pam_policy within 1 us of it, pam_pwquality {:.1} us",
            t / 1e3
        );
    }
    ExitCode::SUCCESS
}

struct Measured {
    p50: f64,
    p99: f64,
    /// The median first transaction of a process (module load included).
    cold_p50: f64,
    peak_rss_kib: u64,
    samples: usize,
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
    let mut ns: Vec<u64> = Vec::new();
    let mut cold: Vec<u64> = Vec::new();
    let mut peak = 0;
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("ns ") {
            ns.extend(v.split(' ').filter_map(|x| x.parse::<u64>().ok()));
        } else if let Some(v) = line.strip_prefix("cold ") {
            cold.extend(v.trim().parse::<u64>().ok());
        } else if let Some(v) = line.strip_prefix("maxrss_kib ") {
            peak = v.trim().parse().unwrap_or(0);
        }
    }
    if ns.is_empty() {
        eprintln!("bench-policy: no timings for {module}");
        return None;
    }
    ns.sort_unstable();
    let pct = |p: f64| {
        let i = ((ns.len() as f64 - 1.0) * p).round() as usize;
        ns[i.min(ns.len() - 1)] as f64
    };
    cold.sort_unstable();
    Some(Measured {
        p50: pct(0.50),
        p99: pct(0.99),
        cold_p50: cold.get(cold.len() / 2).map_or(0.0, |&c| c as f64),
        peak_rss_kib: peak,
        samples: ns.len(),
    })
}

/// In the child: every password through `module`, then this process's
/// children's peak RSS.
fn one(module: &str, rounds: u32) {
    let svc = Service::new(&format!("password requisite {module} {LINE}"));
    // The unprivileged driver reads the service file from here.
    let _ = std::fs::set_permissions(
        svc.dir(),
        std::os::unix::fs::PermissionsExt::from_mode(0o1777),
    );
    for pw in PASSWORDS {
        let out = svc
            .user(USER)
            .unprivileged()
            .answer(pw)
            .answer(pw)
            .chauthtok()
            .repeat(rounds)
            .run();
        // The first round loads the module and maps the dictionary, as the one
        // transaction of a `passwd` process does: reported apart ("cold").
        let times: Vec<String> = out
            .report
            .round_ns
            .iter()
            .skip(1)
            .map(u64::to_string)
            .collect();
        println!("ns {}", times.join(" "));
        if let Some(first) = out.report.round_ns.first() {
            println!("cold {first}");
        }
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
