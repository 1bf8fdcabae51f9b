//! Command-line flags. The short flags are google-authenticator's, with the
//! same meaning; the long names say what each does.

use std::path::PathBuf;

use clap::Parser;

use crate::qr::TerminalMode;

const ABOUT: &str = "Turn on a second factor for your logins: codes from an authenticator app.";

const LONG_ABOUT: &str = "\
Turn on a second factor for your logins: codes from an authenticator app.

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
  totp-enroll --new-scratch-codes      new scratch codes, same secret
  sudo totp-enroll --user alice -t -d -W -u -C --json
                                       enroll alice from a script
  totp-enroll --show                   the QR code again, for a new phone
  totp-enroll --upgrade                raise your settings to the admin's minimums
  totp-enroll --remove                 turn the second factor off
  sudo totp-enroll --user alice --owner totp --secret '/var/lib/totp/${USER}'
                                       alice's file in a store owned by the totp account

The admin's minimums (/etc/security/pam_totp.conf, see pam_totp(8)) fix
some answers: they are not asked, a flag that goes below them is refused,
and what they fixed is shown.

Exit status:
  0  enrolled (or new scratch codes saved)
  1  a file or system error; nothing was changed
  2  bad options, or a question to ask with no terminal to ask on
  3  already enrolled (see --force), or not enrolled (--new-scratch-codes,
     --show, --remove, --upgrade)
  4  only root may enroll another user, or use --owner
  5  the app's code was not confirmed; nothing was saved
  6  the enrollment is below the admin's minimums in a way only a new
     enrollment fixes (--upgrade)";

/// Where the enrollment is kept (`--store`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum StoreArg {
    /// The secret file (~/.google_authenticator or --secret).
    File,
    /// The fleet store on PostgreSQL, as pam_totp's store=postgres.
    Postgres,
}

/// Flags that only shape a new enrollment.
const ENROLL_ONLY: [&str; 13] = [
    "time_based",
    "counter_based",
    "disallow_reuse",
    "allow_reuse",
    "window_size",
    "minimal_window",
    "rate_limit",
    "rate_time",
    "no_rate_limit",
    "step_size",
    "emergency_codes",
    "qr_png",
    "qr_svg",
];

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
    /// Time-based codes (TOTP), what apps show [asked]
    ///
    /// Asked when neither -t nor -c is given. -d, -D and -S imply -t.
    #[arg(
        short = 't',
        long,
        help_heading = "Codes",
        conflicts_with = "counter_based"
    )]
    pub time_based: bool,

    /// Counter-based codes (HOTP), one per button press
    #[arg(short = 'c', long, help_heading = "Codes")]
    pub counter_based: bool,

    /// Refuse a code that was already used [asked]
    ///
    /// Then one login per 30 seconds (or --step-size) at most, but a code
    /// someone sees you type is of no use to them.
    #[arg(
        short = 'd',
        long,
        help_heading = "Codes",
        conflicts_with_all = ["allow_reuse", "counter_based"]
    )]
    pub disallow_reuse: bool,

    /// Accept a code more than once within its 30 seconds
    #[arg(
        short = 'D',
        long,
        help_heading = "Codes",
        conflicts_with = "counter_based"
    )]
    pub allow_reuse: bool,

    /// Accept N codes around now, or the next N (1-21) [asked]
    ///
    /// Time-based: N steps centred on now (3 = one step either side; 17 = up
    /// to 4 minutes of clock difference). Counter-based: the next N codes.
    #[arg(
        short = 'w',
        long,
        value_name = "N",
        help_heading = "Codes",
        conflicts_with = "minimal_window",
        value_parser = clap::value_parser!(u32).range(1..=21)
    )]
    pub window_size: Option<u32>,

    /// The smallest window: 3 time-based, 1 counter-based
    #[arg(short = 'W', long, help_heading = "Codes")]
    pub minimal_window: bool,

    /// At most N logins (1-10) per --rate-time [asked]
    ///
    /// Asked when neither -r/-R nor -u is given; -r and -R go together.
    #[arg(
        short = 'r',
        long,
        value_name = "N",
        help_heading = "Codes",
        requires = "rate_time",
        value_parser = clap::value_parser!(u32).range(1..=10)
    )]
    pub rate_limit: Option<u32>,

    /// The period of --rate-limit, in seconds (15-600)
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

    /// Seconds per code (1-60) [default: 30]
    ///
    /// Written to the file and the URI (period=). Many apps only do 30.
    #[arg(
        short = 'S',
        long,
        value_name = "SECONDS",
        help_heading = "Codes",
        conflicts_with = "counter_based",
        value_parser = clap::value_parser!(u32).range(1..=60)
    )]
    pub step_size: Option<u32>,

    /// Emergency scratch codes (0-10) [default: 5]
    #[arg(
        short = 'e',
        long,
        value_name = "N",
        help_heading = "Codes",
        value_parser = clap::value_parser!(u8).range(0..=10)
    )]
    pub emergency_codes: Option<u8>,

    /// The secret file [default: ~/.google_authenticator]
    ///
    /// `~`, `${HOME}` and `${USER}` mean the enrolled user's, as in pam_totp's
    /// secret= option; a relative path is taken from the current directory.
    #[arg(
        short = 's',
        long,
        value_name = "PATH",
        help_heading = "Where and for whom"
    )]
    pub secret: Option<String>,

    /// Enroll this user instead of yourself (root only)
    ///
    /// The file is written as that user: owned by them, mode 0600, in their
    /// home unless --secret says otherwise.
    #[arg(long, value_name = "NAME", help_heading = "Where and for whom")]
    pub user: Option<String>,

    /// The account that owns the secret file (root only)
    ///
    /// For a store the users cannot read, as pam_totp's user= option:
    /// `user=totp secret=/var/lib/totp/${USER}` on the PAM line, and
    /// `--owner totp --secret '/var/lib/totp/${USER}'` here. The file is
    /// written as that account, mode 0600; --secret may not be in a home.
    #[arg(long, value_name = "ACCOUNT", help_heading = "Where and for whom")]
    pub owner: Option<String>,

    /// Where the enrollment is kept: file or postgres [default: file]
    ///
    /// postgres: the fleet store that pam_totp's store=postgres reads, through
    /// the connection file --store-conf (root: an admin login; a user: their
    /// own database login, named like their account).
    #[arg(long, value_name = "STORE", value_enum, default_value_t = StoreArg::File, hide_default_value = true, help_heading = "Fleet store")]
    pub store: StoreArg,

    /// The fleet store's connection file [default: /etc/pam_totp/admin.conf]
    #[arg(long, value_name = "FILE", help_heading = "Fleet store")]
    pub store_conf: Option<PathBuf>,

    /// Move an existing google-authenticator file into the fleet store
    ///
    /// Its secret, options, scratch codes and newest used step; the file is
    /// read as its user and left as it is.
    #[arg(long, value_name = "FILE", help_heading = "Fleet store", conflicts_with_all = ENROLL_ONLY)]
    pub import: Option<PathBuf>,

    /// List the fleet store's enrollments (root), without secrets
    #[arg(long, help_heading = "Fleet store", conflicts_with_all = ENROLL_ONLY)]
    pub list: bool,

    /// The admin's minimums [default: /etc/security/pam_totp.conf]
    #[arg(long, value_name = "FILE", help_heading = "Where and for whom")]
    pub config: Option<PathBuf>,

    /// Replace an existing enrollment
    ///
    /// Atomically: the old file stays as it was until the new one is complete,
    /// and a failed write leaves it in place.
    #[arg(short = 'f', long, help_heading = "Where and for whom")]
    pub force: bool,

    /// New scratch codes (-e of them); the secret stays
    ///
    /// The old scratch codes stop working; the secret and options are kept,
    /// so the app needs no change.
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

    /// Show the enrollment again: QR code, URI, settings (for a new phone)
    ///
    /// After a current code from the app (root with --user and --force: without).
    /// Needs a terminal: a secret is never printed into a pipe or a log.
    /// Never changes the file.
    #[arg(
        long,
        help_heading = "An existing enrollment",
        conflicts_with_all = ENROLL_ONLY,
        conflicts_with_all = ["quiet", "uri", "json", "no_confirm", "new_scratch_codes"],
    )]
    pub show: bool,

    /// Remove the enrollment: the next login is not enrolled
    ///
    /// After a current code from the app; root removes anyone's without one.
    /// Logged to syslog (auth).
    #[arg(
        long,
        help_heading = "An existing enrollment",
        conflicts_with_all = ENROLL_ONLY,
        conflicts_with_all = ["show", "new_scratch_codes"],
    )]
    pub remove: bool,

    /// Raise the settings to the admin's minimums, same secret
    ///
    /// After a current code from the app (root with --user and --force:
    /// without). A secret shorter than the minimum, or counter-based codes
    /// the admin refuses, need a new enrollment (--force).
    #[arg(
        long,
        help_heading = "An existing enrollment",
        conflicts_with_all = ENROLL_ONLY,
        conflicts_with_all = ["show", "remove", "new_scratch_codes"],
    )]
    pub upgrade: bool,

    /// The account name the app shows [default: USER@HOSTNAME]
    #[arg(
        short = 'l',
        long,
        value_name = "ACCOUNT",
        help_heading = "What is shown"
    )]
    pub label: Option<String>,

    /// The issuer the app shows [default: HOSTNAME]
    #[arg(
        short = 'i',
        long,
        value_name = "ISSUER",
        help_heading = "What is shown"
    )]
    pub issuer: Option<String>,

    /// Terminal QR code: utf8, ansi or none [default: utf8]
    ///
    /// utf8 draws half blocks; ansi draws colour cells, for fonts without the
    /// block characters. google-authenticator's names (ANSI_INVERSE, UTF8_GREY,
    /// ...) are accepted; the colours are always set explicitly.
    #[arg(
        short = 'Q',
        long,
        value_name = "MODE",
        help_heading = "What is shown",
        value_parser = TerminalMode::parse
    )]
    pub qr_mode: Option<TerminalMode>,

    /// Also write the QR code to a new PNG file (mode 0600)
    ///
    /// It holds the secret; it is removed again if nothing is saved.
    #[arg(long, value_name = "FILE", help_heading = "What is shown")]
    pub qr_png: Option<PathBuf>,

    /// Also write the QR code to a new SVG file (mode 0600)
    ///
    /// It holds the secret; it is removed again if nothing is saved.
    #[arg(long, value_name = "FILE", help_heading = "What is shown")]
    pub qr_svg: Option<PathBuf>,

    /// Show nothing (so there is no code to confirm)
    #[arg(
        short = 'q',
        long,
        help_heading = "What is shown",
        conflicts_with_all = ["uri", "json"]
    )]
    pub quiet: bool,

    /// Save without checking a code from the app (for scripts)
    #[arg(short = 'C', long, help_heading = "Scripting")]
    pub no_confirm: bool,

    /// Print only the otpauth:// URI (no QR code, no confirmation)
    #[arg(long, help_heading = "Scripting", conflicts_with = "json")]
    pub uri: bool,

    /// Print a JSON summary (no QR code, no confirmation)
    #[arg(long, help_heading = "Scripting")]
    pub json: bool,
}
