//! `totp-enroll`: turns on a user's TOTP second factor (see `--help`).

mod cli;
mod enroll;
mod failure;
mod fleet;
mod interrupt;
mod lifecycle;
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
            eprintln!("totp-enroll: {} (see --help)", one_line(&e.to_string()));
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

/// clap's message on one line: its first paragraph (which may list missing
/// arguments on lines of their own), without the "error: " prefix, the tips
/// and the usage after it.
fn one_line(text: &str) -> String {
    let paragraph: Vec<&str> = text
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect();
    let joined = paragraph.join(" ");
    joined.strip_prefix("error: ").unwrap_or(&joined).to_owned()
}
