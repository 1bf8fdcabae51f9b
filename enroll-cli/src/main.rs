//! `totp-enroll`: turns on a user's TOTP second factor (see `--help`).

mod cli;
mod enroll;
mod failure;
mod qr;
mod terminal;
mod token;

use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;

fn main() -> ExitCode {
    let args = match cli::Args::try_parse() {
        Ok(args) => args,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("totp-enroll: {} (see --help)", first_line(&e.to_string()));
            return ExitCode::from(failure::Exit::Usage as u8);
        }
    };
    match enroll::run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("totp-enroll: {}", f.message);
            ExitCode::from(f.exit as u8)
        }
    }
}

/// clap's message without its "error: " prefix and the usage lines after it.
fn first_line(text: &str) -> &str {
    let line = text.lines().next().unwrap_or_default();
    line.strip_prefix("error: ").unwrap_or(line).trim()
}
