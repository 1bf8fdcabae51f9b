//! The driver: runs one scripted PAM transaction through the real libpam and
//! prints a JSON report. The tests (and benchmarks) start it as a child
//! process (`pam-drive`, or a program that called
//! [`crate::drive_with_this_program`]), so each run has its own process: its
//! own uid, syslog capture, and crash isolation.
//!
//! Usage: `pam-drive '<spec json>'` or `pam-drive @FILE` (see [`crate::spec::Spec`]).

use std::io::Read;
use std::process::ExitCode;
use std::time::Instant;

use crate::client::{Transaction, code_name};
use crate::spec::{Answer, Report, Spec};

/// The driver's `main`: the spec is the first argument.
pub fn main() -> ExitCode {
    // As passwd, sshd and other applications do before PAM runs: modules that
    // translate their messages see the locale the environment asks for.
    // SAFETY: called first, before any other thread exists; "" asks for the
    // environment's locale.
    unsafe {
        libc::setlocale(libc::LC_ALL, c"".as_ptr());
    }
    match drive(std::env::args().nth(1).unwrap_or_default()) {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("pam-drive: {e}");
            ExitCode::from(2)
        }
    }
}

fn drive(mut arg: String) -> Result<String, String> {
    // `@FILE`: the spec is in FILE (large answers exceed the argument size limit).
    if let Some(file) = arg.strip_prefix('@') {
        arg = std::fs::read_to_string(file).map_err(|e| format!("cannot read {file}: {e}"))?;
    }
    let spec: Spec = serde_json::from_str(&arg).map_err(|e| format!("bad spec: {e}"))?;
    if let Some(uid) = spec.uid {
        become_user(uid).map_err(|e| format!("cannot become uid {uid}: {e}"))?;
    }
    let report = run(&spec)?;
    serde_json::to_string(&report).map_err(|e| e.to_string())
}

/// Starts a transaction with the spec's items and PAM environment set;
/// `Ok(None)` when `pam_start_confdir` fails (its code is in the report).
fn start(
    spec: &Spec,
    answers: Vec<Answer>,
    report: &mut Report,
) -> Result<Option<Transaction>, String> {
    let mut tx =
        match Transaction::start(&spec.service, spec.user.as_deref(), &spec.confdir, answers) {
            Ok(tx) => tx,
            Err(code) => {
                report.start = code_name(code);
                return Ok(None);
            }
        };
    report.start = code_name(0);
    for (name, value) in &spec.items {
        tx.set_item(name, value)?;
    }
    for (name, value) in &spec.env {
        tx.putenv(name, value)?;
    }
    Ok(Some(tx))
}

fn elapsed_ns(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

fn run(spec: &Spec) -> Result<Report, String> {
    if spec.same_handle {
        return run_on_one_handle(spec);
    }
    let mut report = Report::default();
    let rounds = spec.repeat.unwrap_or(1).max(1);
    for round in 0..rounds {
        let answers = spec
            .round_answers
            .as_ref()
            .and_then(|r| r.get(round as usize).cloned())
            .unwrap_or_else(|| spec.answers.clone());
        let started = Instant::now();
        let Some(mut tx) = start(spec, answers, &mut report)? else {
            return Ok(report);
        };
        if spec.gate && round == 0 {
            // Released when the parent closes our stdin (all racers at once).
            eprintln!("ready");
            let mut sink = Vec::new();
            let _ = std::io::stdin().read_to_end(&mut sink);
        }
        let results: Vec<_> = spec.steps.iter().map(|s| tx.call(s.op, s.flags)).collect();
        report.threads_after = std::fs::read_dir("/proc/self/task").map_or(0, Iterator::count);
        report.sockets_after = open_sockets();
        if spec.repeat.is_some() {
            report.round_ns.push(elapsed_ns(started));
        }
        if round + 1 == rounds {
            report.results = results;
            report.transcript = tx.transcript().to_vec();
            report.env = tx.env();
        }
    }
    Ok(report)
}

/// With `same_handle`: one `pam_start`, then the steps `repeat` times on that
/// handle (modules stay loaded), timing each round; answers are consumed in
/// order. The reported results are the first failing round's, else the first's.
fn run_on_one_handle(spec: &Spec) -> Result<Report, String> {
    let mut report = Report::default();
    let rounds = spec.repeat.unwrap_or(1).max(1);
    let answers: Vec<_> = match &spec.round_answers {
        Some(per_round) => per_round.iter().flatten().cloned().collect(),
        None => (0..rounds).flat_map(|_| spec.answers.clone()).collect(),
    };
    let Some(mut tx) = start(spec, answers, &mut report)? else {
        return Ok(report);
    };
    let mut failed = false;
    for _ in 0..rounds {
        let started = Instant::now();
        let results: Vec<_> = spec.steps.iter().map(|s| tx.call(s.op, s.flags)).collect();
        report.round_ns.push(elapsed_ns(started));
        let fails = results.iter().any(|r| r.code != 0);
        if report.results.is_empty() || (fails && !failed) {
            failed |= fails;
            report.results = results;
        }
    }
    report.transcript = tx.transcript().to_vec();
    report.env = tx.env();
    Ok(report)
}

/// The open file descriptors that are sockets, as `/proc/self/fd` names them.
fn open_sockets() -> Vec<String> {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return Vec::new();
    };
    dir.filter_map(Result::ok)
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .map(|t| t.to_string_lossy().into_owned())
        .filter(|t| t.starts_with("socket:"))
        .collect()
}

fn become_user(uid: u32) -> Result<(), String> {
    // SAFETY: plain syscalls, in a driver process that has started no
    // thread and made no PAM call yet.
    let rc = unsafe {
        if libc::setgroups(0, std::ptr::null()) != 0 {
            -1
        } else if libc::setresgid(uid, uid, uid) != 0 {
            -2
        } else {
            libc::setresuid(uid, uid, uid)
        }
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error().to_string())
    }
}
