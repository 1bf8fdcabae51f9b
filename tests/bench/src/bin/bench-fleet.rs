//! `bench-fleet`: a login through the fleet store (`store=postgres`, TLS
//! with full verification on 127.0.0.1, a client certificate) beside the
//! same login on the secret file, both through the same real-libpam driver
//! in one run, on a PostgreSQL server the benchmark starts and stops.
//!
//! - a correct code (no reuse protection, so the same code is accepted each
//!   round; nothing is written in either store);
//! - a wrong code with a rate limit (each attempt is recorded: the file is
//!   rewritten, the database commits a transaction; past 100 a second the
//!   limit refuses, which records the attempt too).
//!
//! Each login is a fresh transaction (`pam_start_confdir` +
//! `pam_authenticate`), as one sshd connection is: the fleet store connects
//! (TCP, TLS, certificate authentication) every time. Also prints what the
//! client library adds: libpq is loaded at run time only with
//! `store=postgres`, so the module's file is unchanged; the libraries it
//! brings that sshd does not already have, their size, and the time to load
//! them into a process.
//!
//! Usage: `cargo run --release -p pam-bench --bin bench-fleet [rounds]`

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use pam_bench::{Percentiles, ratio};
use pam_harness::totp::{Enrollment, SECRET, code, current_user, step};
use pam_harness::{Scenario, Service};
use test_support::postgres::{self, Server};
use test_support::settle;

const CHUNKS: usize = 4;
/// `SECRET` as bytes.
const SECRET_HEX: &str = "48656c6c6f21deadbeef48656c6c6f21deadbeef";

/// Runs a scenario; every round must give one of `expected` (`|`-separated).
fn timings(s: Scenario<'_>, expected: &str) -> Result<Vec<u64>, String> {
    let out = s.run();
    if out
        .report
        .results
        .iter()
        .all(|r| expected.split('|').any(|e| r.name == e))
    {
        Ok(out.report.round_ns)
    } else {
        Err(format!(
            "a benchmark login gave {:?}, not {expected}\n{out}",
            out.codes()
        ))
    }
}

/// The shared libraries `path` needs (ldd), by resolved path.
fn libraries(path: &Path) -> BTreeSet<PathBuf> {
    let out = Command::new("ldd").arg(path).output();
    let text = out
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    text.lines()
        .filter_map(|l| l.split("=>").nth(1))
        .filter_map(|r| r.split_whitespace().next())
        .filter(|p| p.starts_with('/'))
        .map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| PathBuf::from(p)))
        .collect()
}

fn libpq_path() -> Option<PathBuf> {
    [
        "/usr/lib/x86_64-linux-gnu/libpq.so.5",
        "/usr/lib64/libpq.so.5",
        "/usr/lib/libpq.so.5",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

/// Milliseconds to load libpq (and what it needs) into this process, which
/// has not loaded it yet.
fn libpq_load_ms() -> f64 {
    let started = Instant::now();
    // SAFETY: a NUL-terminated file name; the handle is kept (never closed).
    let h = unsafe { libc::dlopen(c"libpq.so.5".as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
    let ms = started.elapsed().as_secs_f64() * 1e3;
    if h.is_null() { f64::NAN } else { ms }
}

fn main() -> ExitCode {
    if let Some(code) = pam_harness::drive_with_this_program() {
        return code;
    }
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000);
    let per_chunk = rounds.div_ceil(CHUNKS);
    if !postgres::available() {
        eprintln!("bench-fleet: PostgreSQL and openssl are needed (scripts/deps.sh --test)");
        return ExitCode::from(2);
    }
    let load_ms = libpq_load_ms();
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../pam_totp/sql/fleet.sql");
    let pg = Server::start(&schema);
    let (crt, key) = pg.host_login("bench", "pam_totp_host");
    let conf = pg.dir.join("bench.conf");
    if let Err(e) = std::fs::write(
        &conf,
        format!("connection = {}\n", pg.conninfo("bench", &crt, &key)),
    )
    .and_then(|()| std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o600)))
    {
        eprintln!("bench-fleet: {}: {e}", conf.display());
        return ExitCode::from(1);
    }
    let user = current_user();
    let cases: [(&str, &str, &str, &str); 2] = [
        (
            "correct code",
            "\" TOTP_AUTH\n",
            ", disallow_reuse => false",
            "PAM_SUCCESS",
        ),
        (
            "wrong code, attempt recorded",
            "\" RATE_LIMIT 100 1\n\" TOTP_AUTH\n",
            ", disallow_reuse => false, rate_attempts => 100, rate_interval => 1",
            // Past 100 a second the limit refuses: the attempt is recorded all the same.
            "PAM_AUTH_ERR|PAM_MAXTRIES",
        ),
    ];
    println!(
        "fleet store (store=postgres, TLS verify-full, client certificate, 127.0.0.1) vs secret file: \
         {} logins per store and case, one driver, one run",
        per_chunk * CHUNKS
    );
    println!(
        "{:<30} {:>12} {:>12} {:>12} {:>12} {:>9}",
        "case", "file p50", "file p99", "fleet p50", "fleet p99", "p50 ratio"
    );
    for (name, options, settings, expected) in cases {
        let e = Enrollment::new(options);
        pg.psql(
            "pam_totp",
            &format!("SELECT pam_totp.enroll('{user}', '\\x{SECRET_HEX}'::bytea, NULL{settings})"),
        );
        let file = Service::new(&format!("auth required {{totp}} noskewadj {}", e.arg()));
        let fleet = Service::new(&format!(
            "auth required {{totp}} store=postgres store_conf={}",
            conf.display()
        ));
        let mut samples = [Vec::new(), Vec::new()];
        for _ in 0..CHUNKS {
            settle(20);
            let answer = if expected == "PAM_SUCCESS" {
                code(SECRET, step())
            } else {
                "000000".to_owned()
            };
            for (i, svc) in [&file, &fleet].into_iter().enumerate() {
                let s = svc
                    .user(&user)
                    .answer(&answer)
                    .authenticate()
                    .repeat(per_chunk as u32);
                match timings(s, expected) {
                    Ok(ns) => samples[i].extend(ns),
                    Err(e) => {
                        eprintln!("bench-fleet: {name}: {e}");
                        return ExitCode::from(1);
                    }
                }
            }
        }
        let [f, p] = samples.map(Percentiles::of);
        let us = |ns: f64| (ns / 1e3).round();
        println!(
            "{name:<30} {:>9} us {:>9} us {:>9} us {:>9} us {:>8.2}x",
            us(f.p50),
            us(f.p99),
            us(p.p50),
            us(p.p99),
            ratio(p.p50, f.p50)
        );
        println!(
            "  fleet p50 {:.2} ms (target at most 3 ms: {})",
            p.p50 / 1e6,
            if p.p50 <= 3e6 { "met" } else { "missed" }
        );
    }
    println!(
        "(ratio = fleet / file; each login a fresh PAM transaction, the fleet store connecting each time)"
    );
    // Where a fleet login's time goes, measured on libpq directly.
    let tls = pg.conninfo("bench", &crt, &key);
    let unix = format!(
        "host={} port={} dbname=pam_totp user=postgres",
        pg.socket_dir().display(),
        pg.port
    );
    for (what, conninfo) in [("TLS on 127.0.0.1", &tls), ("Unix socket", &unix)] {
        let (mut connect, mut query) = (Vec::new(), Vec::new());
        for _ in 0..200 {
            let t0 = Instant::now();
            let Ok(mut c) = pam_ext::pq::Connection::open(conninfo, &[("gssencmode", "disable")])
            else {
                eprintln!("bench-fleet: cannot connect over the {what}");
                return ExitCode::from(1);
            };
            let t1 = Instant::now();
            let deadline = t1 + std::time::Duration::from_secs(2);
            let verify = "SELECT outcome FROM pam_totp.verify($1, 1, NULL)";
            if c.query(verify, &[Some("nobody-here")], deadline).is_err() {
                eprintln!("bench-fleet: the verify query failed over the {what}");
                return ExitCode::from(1);
            }
            connect.push(u64::try_from((t1 - t0).as_nanos()).unwrap_or(u64::MAX));
            query.push(u64::try_from(t1.elapsed().as_nanos()).unwrap_or(u64::MAX));
        }
        let (c, q) = (Percentiles::of(connect), Percentiles::of(query));
        println!(
            "  {what}: connect p50 {:.2} ms, first query on the new connection p50 {:.2} ms",
            c.p50 / 1e6,
            q.p50 / 1e6
        );
    }
    match libpq_path() {
        Some(libpq) => {
            let sshd = libraries(Path::new("/usr/sbin/sshd"));
            let mut brought: BTreeSet<PathBuf> = libraries(&libpq);
            brought.insert(std::fs::canonicalize(&libpq).unwrap_or(libpq));
            let new: Vec<_> = brought.iter().filter(|l| !sshd.contains(*l)).collect();
            let bytes: u64 = new
                .iter()
                .filter_map(|l| std::fs::metadata(l).ok())
                .map(|m| m.len())
                .sum();
            println!(
                "client library: libpq, loaded only with store=postgres (pam_totp.so itself unchanged); \
                 {} libraries sshd does not already load, {:.1} MiB on disk; first load into a process {:.1} ms",
                new.len(),
                bytes as f64 / (1024.0 * 1024.0),
                load_ms
            );
        }
        None => println!("client library: libpq.so.5 not found"),
    }
    ExitCode::SUCCESS
}
