//! `bench-policy`: pam_policy.so against pam_pwquality.so, through the same
//! real-libpam driver, on the same passwords, with the dictionary check on.
//!
//! ```sh
//! cargo run --release -p pam-bench --bin bench-policy [ROUNDS] [--breach-hashes N]
//! ```
//!
//! pam_policy runs with `breachlist=` on a filter of N generated hashes
//! (default 1 million), built first with the same code as `pam-policy-check
//! --build-breach-filter`; its build time, size and in-process lookup cost
//! are printed too. pam_pwquality has no such check.
//!
//! For each module and each password, `pam-drive` runs ROUNDS rounds
//! (default 300) two ways:
//! - per call: one handle, `pam_chauthtok` ROUNDS times, each call timed;
//! - per transaction: pam_start_confdir → pam_chauthtok → pam_end each
//!   round, as a `passwd` or `sshd` process does once; the first round of
//!   each process (module loaded, dictionary opened) is reported as "cold".
//!
//! Prints p50/p99 of both for each module, the ratios, and the peak RSS of
//! the driver processes. The modules take turns, password by password, so
//! load from elsewhere on a shared machine falls on all of them alike. pam_permit.so in the same stack gives the floor that
//! libpam and the driver cost by themselves. Each module is measured in its
//! own child process of this program, so the peak RSS it reports is that
//! module's.

use std::process::{Command, ExitCode};

use pam_bench::{Percentiles, anchor_module, ratio};
use pam_harness::{Service, system_module_dir};

/// The hardening guide's line. A refused password is asked again: each
/// round answers it twice, so a refused round is two checks and a failed
/// third prompt, for both modules alike.
const LINE: &str = "retry=3 minlen=10 difok=3 ucredit=-1 lcredit=-2 dcredit=-1 ocredit=-1";

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
        let (Some(module), Some(rounds), Some(pw)) = (
            args.get(2),
            args.get(3).and_then(|r| r.parse().ok()),
            args.get(5).and_then(|i| i.parse::<usize>().ok()),
        ) else {
            eprintln!("usage: bench-policy --one MODULE ROUNDS EXTRA-OPTION PASSWORD-INDEX");
            return ExitCode::from(2);
        };
        one(module, rounds, args.get(4).map_or("", String::as_str), pw);
        return ExitCode::SUCCESS;
    }
    let mut rounds: u32 = 300;
    let mut hashes: u64 = 1_000_000;
    let mut rest = args.iter().skip(1);
    while let Some(a) = rest.next() {
        if a == "--breach-hashes" {
            hashes = rest.next().and_then(|n| n.parse().ok()).unwrap_or(hashes);
        } else if let Ok(r) = a.parse() {
            rounds = r;
        }
    }
    let filter_dir = match tempfile_dir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("bench-policy: cannot make a directory for the filter: {e}");
            return ExitCode::from(2);
        }
    };
    let filter = filter_dir.join("breach.filter");
    if let Err(e) = build_filter(&filter, hashes) {
        eprintln!("bench-policy: cannot build the breach filter: {e}");
        return ExitCode::from(2);
    }
    let breach_option = format!("breachlist={}", filter.display());
    let Some(pwquality) = anchor_module("bench-policy", "pam_pwquality.so", "libpam-pwquality")
    else {
        return ExitCode::from(2);
    };
    println!(
        "bench-policy: {} passwords x {rounds} rounds, line `{LINE}`, user {USER}, dictionary check on; pam_policy also with {breach_option} ({hashes} hashes)",
        PASSWORDS.len()
    );
    let permit = system_module_dir().join("pam_permit.so");
    let theirs_path = pwquality.display().to_string();
    let permit_path = permit.display().to_string();
    let measured = measure(
        &[
            ("{policy}", &breach_option),
            (&theirs_path, ""),
            (&permit_path, ""),
        ],
        rounds,
    );
    let _ = std::fs::remove_dir_all(&filter_dir);
    let Some([ours, theirs, floor]) = measured.and_then(|m| <[Measured; 3]>::try_from(m).ok())
    else {
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
    let over = (ours.transaction.p50 - floor.transaction.p50) / 1e3;
    println!(
        "  pam_policy p50 above the pam_permit floor: {over:.1} us (target: within 30 us) -> {}",
        if over <= 30.0 { "met" } else { "NOT met" }
    );
    let p99 = ratio(theirs.transaction.p99, ours.transaction.p99);
    println!(
        "  p99 ratio {p99:.1}x (target: at least 10x) -> {}; the pam_permit floor's own is {:.1}x",
        if p99 >= 10.0 { "met" } else { "NOT met" },
        ratio(theirs.transaction.p99, floor.transaction.p99)
    );
    println!("peak RSS of the driver processes:");
    for (name, m) in rows {
        println!("  {name:<14} {:>6} KiB", m.peak_rss_kib);
    }
    let extra = ours.peak_rss_kib as i64 - theirs.peak_rss_kib as i64;
    println!(
        "  pam_policy - pam_pwquality: {extra} KiB (target: at most 1024) -> {}",
        if extra <= 1024 { "met" } else { "NOT met" }
    );
    ExitCode::SUCCESS
}

struct Measured {
    call: Percentiles,
    transaction: Percentiles,
    /// The median first transaction of a process (module load included).
    cold_p50: f64,
    peak_rss_kib: u64,
}

fn tempfile_dir() -> std::io::Result<std::path::PathBuf> {
    let d = std::env::temp_dir().join(format!("bench-policy-{}", std::process::id()));
    std::fs::create_dir_all(&d)?;
    // The unprivileged driver reads the filter.
    std::fs::set_permissions(&d, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    Ok(d)
}

/// Generated HIBP text: `n` pseudo-random SHA-1s (uppercase hex, `:COUNT`,
/// CRLF), streamed, never all in memory.
struct Generated {
    left: u64,
    state: u64,
    line: Vec<u8>,
    at: usize,
}

impl Generated {
    fn next_u64(&mut self) -> u64 {
        // splitmix64
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl std::io::Read for Generated {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.at >= self.line.len() {
            if self.left == 0 {
                return Ok(0);
            }
            self.left -= 1;
            let (a, b, c) = (self.next_u64(), self.next_u64(), self.next_u64());
            self.line = format!("{a:016X}{b:016X}{:08X}:{}\r\n", c as u32, c >> 48).into_bytes();
            self.at = 0;
        }
        let n = buf.len().min(self.line.len() - self.at);
        buf[..n].copy_from_slice(&self.line[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Builds the filter and prints its build time, size and lookup cost.
fn build_filter(path: &std::path::Path, n: u64) -> std::io::Result<()> {
    use pam_policy::breach;
    let started = std::time::Instant::now();
    let input = std::io::BufReader::with_capacity(
        1 << 16,
        Generated {
            left: n,
            state: 13,
            line: Vec::new(),
            at: 0,
        },
    );
    let stats = breach::build(input, Some(n * 45), path, &mut breach::Quiet)?;
    let built = started.elapsed();
    let filter = breach::BreachFilter::open(path).map_err(std::io::Error::other)?;
    let probes = 100_000u32;
    let mut found = 0u32;
    let started = std::time::Instant::now();
    for i in 0..probes {
        let mut d = [0u8; 20];
        d[..4].copy_from_slice(&i.wrapping_mul(2_654_435_761).to_be_bytes());
        d[4..8].copy_from_slice(&i.to_le_bytes());
        if filter.contains(&d).map_err(std::io::Error::other)? {
            found += 1;
        }
    }
    let per = started.elapsed().as_nanos() as f64 / f64::from(probes);
    println!(
        "breach filter: {} hashes, {} bytes ({:.2} bytes per hash), built in {:.1} s; lookup {:.2} us (pread), {found} of {probes} random misses matched",
        stats.entries,
        stats.bytes,
        stats.bytes as f64 / stats.entries.max(1) as f64,
        built.as_secs_f64(),
        per / 1e3
    );
    Ok(())
}

/// Runs `--one` in a child for every (password, module) pair, the modules
/// taking turns on each password, so a burst of load on a shared machine
/// falls on all of them alike; returns each module's figures.
fn measure(modules: &[(&str, &str)], rounds: u32) -> Option<Vec<Measured>> {
    let exe = std::env::current_exe().ok()?;
    #[derive(Default)]
    struct Acc {
        call: Vec<u64>,
        transaction: Vec<u64>,
        cold: Vec<u64>,
        peak: u64,
    }
    let mut acc: Vec<Acc> = modules.iter().map(|_| Acc::default()).collect();
    for pw in 0..PASSWORDS.len() {
        for ((module, extra), a) in modules.iter().zip(acc.iter_mut()) {
            let out = Command::new(&exe)
                .args(["--one", module, &rounds.to_string(), extra, &pw.to_string()])
                .output()
                .ok()?;
            if !out.status.success() {
                eprintln!(
                    "bench-policy: measuring {module} failed:\n{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                return None;
            }
            for line in String::from_utf8_lossy(&out.stdout).lines() {
                let Some((key, values)) = line.split_once(' ') else {
                    continue;
                };
                let numbers = values.split(' ').filter_map(|x| x.parse::<u64>().ok());
                match key {
                    "call" => a.call.extend(numbers),
                    "transaction" => a.transaction.extend(numbers),
                    "cold" => a.cold.extend(numbers),
                    "maxrss_kib" => a.peak = a.peak.max(numbers.max().unwrap_or(0)),
                    _ => {}
                }
            }
        }
    }
    let mut result = Vec::new();
    for ((module, _), mut a) in modules.iter().zip(acc) {
        if a.call.is_empty() || a.transaction.is_empty() {
            eprintln!("bench-policy: no timings for {module}");
            return None;
        }
        a.cold.sort_unstable();
        result.push(Measured {
            call: Percentiles::of(a.call),
            transaction: Percentiles::of(a.transaction),
            cold_p50: a.cold.get(a.cold.len() / 2).map_or(0.0, |&c| c as f64),
            peak_rss_kib: a.peak,
        });
    }
    Some(result)
}

/// In the child: one password through `module`, both ways, then this
/// process's children's peak RSS.
fn one(module: &str, rounds: u32, extra: &str, pw: usize) {
    let svc = Service::new(&format!("password requisite {module} {LINE} {extra}"));
    // The unprivileged driver reads the service file from here.
    let _ = std::fs::set_permissions(
        svc.dir(),
        std::os::unix::fs::PermissionsExt::from_mode(0o1777),
    );
    let print = |key: &str, ns: &[u64]| {
        let v: Vec<String> = ns.iter().map(u64::to_string).collect();
        println!("{key} {}", v.join(" "));
    };
    for pw in PASSWORDS.get(pw..=pw).unwrap_or_default() {
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
