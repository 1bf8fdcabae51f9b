//! `pam-hardening doctor`: what an SSH login will do with this sshd and PAM
//! configuration, and the misconfigurations that lock admins out or let a
//! login skip the second factor. Exit 0: nothing found; 1: findings; 2: could
//! not analyse.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use serde_json::json;

use pam_hardening::analyze::{Clock, Inputs, ModuleFile, Severity, analyze};
use pam_hardening::pam::auth_stack;
use pam_hardening::sshd::SshdConfig;
use pam_hardening::system::{self, Tree};

#[derive(Parser)]
#[command(name = "pam-hardening", version, about = "Admin tools for pam_totp.so")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Read sshd's effective configuration and its PAM service, say what a
    /// login will do and what is wrong. Changes nothing.
    Doctor(DoctorArgs),
}

#[derive(clap::Args)]
struct DoctorArgs {
    /// Analyse the configuration tree under DIR instead of /.
    #[arg(long, value_name = "DIR", default_value = "/")]
    root: PathBuf,
    /// Saved `sshd -T` output to use instead of running sshd.
    #[arg(long = "sshd-t", value_name = "FILE")]
    sshd_t: Option<PathBuf>,
    /// The PAM service sshd uses.
    #[arg(long, value_name = "NAME", default_value = "sshd")]
    service: String,
    /// The sshd binary to run for `sshd -T`.
    #[arg(long, value_name = "PATH", default_value = "/usr/sbin/sshd")]
    sshd: String,
    /// Do not check the enrolled users' secret files.
    #[arg(long)]
    no_users: bool,
    /// Machine-readable output (one JSON object).
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Cmd::Doctor(a) => doctor(&a),
    }
}

fn fail(a: &DoctorArgs, msg: &str) -> ExitCode {
    if a.json {
        println!("{}", json!({"analysed": false, "error": msg}));
    } else {
        eprintln!("pam-hardening doctor: cannot analyse: {msg}");
    }
    ExitCode::from(2)
}

fn doctor(a: &DoctorArgs) -> ExitCode {
    let tree = Tree {
        root: a.root.clone(),
    };
    let mut notes = Vec::new();
    let (sshd_text, sshd_source) = match &a.sshd_t {
        Some(f) => match std::fs::read_to_string(f) {
            Ok(t) => (t, f.display().to_string()),
            Err(e) => return fail(a, &format!("cannot read {}: {e}", f.display())),
        },
        None => match system::sshd_t(&tree, &a.sshd) {
            Ok(t) => (t, "sshd -T".to_owned()),
            Err(e) => {
                return fail(
                    a,
                    &format!("{e} (sshd -T needs root; or save its output and pass --sshd-t FILE)"),
                );
            }
        },
    };
    let sshd = SshdConfig::parse(&sshd_text);
    if sshd.is_empty() {
        return fail(a, &format!("{sshd_source}: no sshd settings in it"));
    }
    let service_file = tree.path("/etc/pam.d").join(&a.service);
    if let Err(e) = tree.pam_file(&a.service) {
        return fail(a, &e);
    }
    let mut stack = auth_stack(&a.service, &|n| tree.pam_file(n));
    // Locations as the admin knows them: /etc/pam.d/NAME.
    for e in &mut stack.entries {
        e.origin.file = display_pam(&e.origin.file);
        if let Some(o) = &mut e.substack {
            o.file = display_pam(&o.file);
        }
    }
    for (n, o) in &mut stack.included {
        o.file = display_pam(&o.file);
        let _ = n;
    }
    for (o, _) in &mut stack.errors {
        o.file = display_pam(&o.file);
    }
    let modules: Vec<ModuleFile> = stack.entries.iter().map(|e| tree.module(e)).collect();
    for m in &modules {
        if let ModuleFile::Unknown(why) = m {
            notes.push(format!("module not checked: {why}"));
        }
    }
    let users = if a.no_users {
        None
    } else {
        let opts = stack.entries.iter().filter(|e| e.is_totp()).find_map(|e| {
            pam_totp::options::Options::parse(e.args.iter().map(String::as_str)).ok()
        });
        opts.and_then(|o| tree.users(&o, &mut notes))
    };
    let clock = if tree.is_live() {
        system::clock(&mut notes)
    } else {
        notes.push("clock not checked: --root analyses a tree, not this machine".into());
        Clock::Unknown
    };
    let report = analyze(&Inputs {
        sshd: &sshd,
        sshd_source: &sshd_source,
        stack: &stack,
        modules: &modules,
        users: users.as_ref(),
        clock: &clock,
    });
    if a.json {
        let logins: serde_json::Map<String, serde_json::Value> = report
            .logins
            .iter()
            .map(|(k, ok, _)| {
                (
                    (*k).to_owned(),
                    json!(if *ok { "accepted" } else { "refused" }),
                )
            })
            .collect();
        println!(
            "{}",
            json!({
                "analysed": true,
                "service": service_file.display().to_string(),
                "findings": report.findings.iter().map(|f| f.json()).collect::<Vec<_>>(),
                "logins": logins,
                "notes": notes,
            })
        );
    } else {
        let count = |s: Severity| report.findings.iter().filter(|f| f.severity == s).count();
        if report.findings.is_empty() {
            println!(
                "pam-hardening doctor: no findings ({})",
                service_file.display()
            );
        } else {
            println!(
                "pam-hardening doctor: {} finding(s): {} error, {} warning, {} info ({})",
                report.findings.len(),
                count(Severity::Error),
                count(Severity::Warning),
                count(Severity::Info),
                service_file.display()
            );
        }
        for f in &report.findings {
            println!("\n{} {}  {}", f.severity.name(), f.id, f.location);
            println!("  effect: {}", f.effect);
            println!("  fix:    {}", f.fix);
        }
        println!("\nWhat an SSH login will do:");
        for (_, ok, who) in &report.logins {
            println!("  {:<9} {who}", if *ok { "accepted" } else { "refused" });
        }
        if !notes.is_empty() {
            println!("\nNot checked:");
            for n in &notes {
                println!("  {n}");
            }
        }
    }
    if report.findings.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn display_pam(name: &str) -> String {
    if name.starts_with('/') {
        name.to_owned()
    } else {
        format!("/etc/pam.d/{name}")
    }
}
