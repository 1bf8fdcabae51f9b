//! Command-line flags. The short flags are google-authenticator's, with the
//! same meaning; the long names say what each does.

use std::path::PathBuf;

use clap::Parser;

use crate::qr::TerminalMode;

const ABOUT: &str =
    "Turn on a second factor (TOTP codes from an authenticator app) for SSH and other logins.";

const LONG_ABOUT: &str = "\
Turn on a second factor (TOTP codes from an authenticator app) for SSH and other logins.

Run it without options and answer a few questions: it shows a QR code, you
scan it with an authenticator app (Google Authenticator, Aegis, FreeOTP,
1Password, ...), type the code the app shows, and your second factor is on.
It then shows emergency scratch codes once: write them down, each one lets
you log in once without the phone.

Nothing is saved until the app's code has been checked, and an existing
enrollment is never replaced unless you ask with --force.

The file is written in pam_google_authenticator's format, which both
pam_totp.so and pam_google_authenticator.so read.";

const AFTER_HELP: &str = "\
Examples:
  totp-enroll                          enroll yourself, answering questions
  totp-enroll -t -d -W -r 3 -R 30      the same, with every answer given
  totp-enroll --new-scratch-codes      replace your scratch codes, keep the secret
  sudo totp-enroll --user alice -t -d -W -u -C --json
                                       enroll alice from a script; JSON on stdout

Exit status:
  0  enrolled (or new scratch codes saved)
  1  a file or system error; nothing was changed
  2  bad options, or a question to ask with no terminal to ask on
  3  an enrollment already exists (use --force), or none exists for --new-scratch-codes
  4  only root may enroll another user
  5  the app's code was not confirmed (wrong code or input ended); nothing was saved";

#[derive(Parser, Debug)]
#[command(
    name = "totp-enroll",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = AFTER_HELP,
    max_term_width = 100
)]
pub struct Args {
    /// Time-based codes (TOTP), the kind every authenticator app shows [asked if neither -t nor -c]
    #[arg(
        short = 't',
        long,
        help_heading = "Codes",
        conflicts_with = "counter_based"
    )]
    pub time_based: bool,

    /// Counter-based codes (HOTP): a new code each time you press the app's button
    #[arg(short = 'c', long, help_heading = "Codes")]
    pub counter_based: bool,

    /// Refuse a time-based code that was already used (at most one login per step) [asked]
    #[arg(
        short = 'd',
        long,
        help_heading = "Codes",
        conflicts_with_all = ["allow_reuse", "counter_based"]
    )]
    pub disallow_reuse: bool,

    /// Accept a time-based code more than once within its step
    #[arg(
        short = 'D',
        long,
        help_heading = "Codes",
        conflicts_with = "counter_based"
    )]
    pub allow_reuse: bool,

    /// Accept codes from N steps around now (time-based) or the next N codes (counter-based), 1-21 [asked]
    #[arg(
        short = 'w',
        long,
        value_name = "N",
        help_heading = "Codes",
        conflicts_with = "minimal_window",
        value_parser = clap::value_parser!(u32).range(1..=21)
    )]
    pub window_size: Option<u32>,

    /// The smallest window: 3 steps (one either side of now) time-based, 1 code counter-based
    #[arg(short = 'W', long, help_heading = "Codes")]
    pub minimal_window: bool,

    /// At most N login attempts every --rate-time seconds, 1-10 [asked if neither -r nor -u]
    #[arg(
        short = 'r',
        long,
        value_name = "N",
        help_heading = "Codes",
        requires = "rate_time",
        value_parser = clap::value_parser!(u32).range(1..=10)
    )]
    pub rate_limit: Option<u32>,

    /// The period of --rate-limit in seconds, 15-600
    #[arg(
        short = 'R',
        long,
        value_name = "SECONDS",
        help_heading = "Codes",
        requires = "rate_limit",
        value_parser = clap::value_parser!(u32).range(15..=600)
    )]
    pub rate_time: Option<u32>,

    /// No limit on login attempts
    #[arg(
        short = 'u',
        long,
        help_heading = "Codes",
        conflicts_with_all = ["rate_limit", "rate_time"]
    )]
    pub no_rate_limit: bool,

    /// Seconds per time-based code, 1-60 [default: 30]; most apps only do 30
    #[arg(
        short = 'S',
        long,
        value_name = "SECONDS",
        help_heading = "Codes",
        conflicts_with = "counter_based",
        value_parser = clap::value_parser!(u32).range(1..=60)
    )]
    pub step_size: Option<u32>,

    /// Number of emergency scratch codes, 0-10 [default: 5]
    #[arg(
        short = 'e',
        long,
        value_name = "N",
        help_heading = "Codes",
        value_parser = clap::value_parser!(u8).range(0..=10)
    )]
    pub emergency_codes: Option<u8>,

    /// The secret file [default: ~/.google_authenticator of the user]; ~, ${HOME} and ${USER} are expanded as pam_totp's secret= option does
    #[arg(
        short = 's',
        long,
        value_name = "PATH",
        help_heading = "Where and for whom"
    )]
    pub secret: Option<String>,

    /// Enroll this user instead of yourself (root only); the file is theirs, mode 0600
    #[arg(long, value_name = "NAME", help_heading = "Where and for whom")]
    pub user: Option<String>,

    /// Replace an existing enrollment (atomically: a failure leaves the old file as it was)
    #[arg(short = 'f', long, help_heading = "Where and for whom")]
    pub force: bool,

    /// Give the enrolled account new scratch codes (-e of them); the secret and options stay
    #[arg(
        long,
        help_heading = "Where and for whom",
        conflicts_with_all = [
            "time_based", "counter_based", "disallow_reuse", "allow_reuse", "window_size",
            "minimal_window", "rate_limit", "rate_time", "no_rate_limit", "step_size",
            "label", "issuer", "qr_png", "qr_svg", "uri", "no_confirm", "force", "qr_mode"
        ]
    )]
    pub new_scratch_codes: bool,

    /// The account name the app shows [default: USER@HOSTNAME]
    #[arg(
        short = 'l',
        long,
        value_name = "ACCOUNT",
        help_heading = "What is shown"
    )]
    pub label: Option<String>,

    /// The issuer the app shows, before the account name [default: HOSTNAME]
    #[arg(
        short = 'i',
        long,
        value_name = "ISSUER",
        help_heading = "What is shown"
    )]
    pub issuer: Option<String>,

    /// QR code in the terminal: utf8 (half blocks), ansi (colour cells) or none [default: utf8]
    #[arg(
        short = 'Q',
        long,
        value_name = "MODE",
        help_heading = "What is shown",
        value_parser = TerminalMode::parse
    )]
    pub qr_mode: Option<TerminalMode>,

    /// Also write the QR code as a PNG image (a new file, mode 0600: it holds the secret)
    #[arg(long, value_name = "FILE", help_heading = "What is shown")]
    pub qr_png: Option<PathBuf>,

    /// Also write the QR code as an SVG image (a new file, mode 0600: it holds the secret)
    #[arg(long, value_name = "FILE", help_heading = "What is shown")]
    pub qr_svg: Option<PathBuf>,

    /// Show nothing: no QR code, secret or scratch codes, and so no code to confirm
    #[arg(
        short = 'q',
        long,
        help_heading = "What is shown",
        conflicts_with_all = ["uri", "json"]
    )]
    pub quiet: bool,

    /// Save without asking for a code from the app first (for scripts)
    #[arg(short = 'C', long, help_heading = "Scripting")]
    pub no_confirm: bool,

    /// Print only the otpauth:// URI on stdout (no QR code, no confirmation)
    #[arg(long, help_heading = "Scripting", conflicts_with = "json")]
    pub uri: bool,

    /// Print a JSON summary on stdout (no QR code, no confirmation)
    #[arg(long, help_heading = "Scripting")]
    pub json: bool,
}
