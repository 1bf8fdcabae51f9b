//! An existing enrollment: shown again (`--show`), removed (`--remove`),
//! raised to the admin's minimums (`--upgrade`). Each first asks for a
//! current code from the app, checked as a login would check it, unless
//! root acts on someone else's enrollment (see each function).

use std::io::IsTerminal;

use pam_totp::decision::{self, Current};
use pam_totp::enrollment::{Enrollment, Kind as FileKind};
use pam_totp::minimums::{self, Minimums, Upgrade};
use pam_totp::store::{self, Enrollments, FileStore, StoreError, Target};

use crate::cli::Args;
use crate::enroll::{self, Admin};
use crate::failure::{Exit, Failure};
use crate::qr::{Matrix, TerminalMode};
use crate::terminal::{self, Terminal};
use crate::token::{self, Kind};

/// Tries at typing a current code.
const TRIES: u32 = 3;

/// `--show`: the QR code, URI and settings of the enrollment, after a
/// current code (root with `--user` and `--force`: without). Only onto a
/// terminal; the file is never changed.
pub fn show(args: &Args, t: &Target, admin: &Admin) -> Result<(), Failure> {
    if !std::io::stdout().is_terminal() {
        return Err(Failure::usage(
            "--show prints the secret, and standard output is not a terminal; \
             run it in a terminal (a secret is not printed into a pipe or a log)",
        ));
    }
    let e = load(t)?;
    let kind = match e.kind() {
        FileKind::Totp => Kind::Totp {
            period: u32::try_from(e.step()).unwrap_or(30),
        },
        FileKind::Hotp { counter } => Kind::Hotp { counter },
        FileKind::ScratchOnly => {
            return Err(Failure::system(format!(
                "{} holds no time- or counter-based setting, so there is no code to show",
                t.path.display()
            )));
        }
    };
    let root_for_other = store::effective_uid() == 0 && args.user.is_some() && args.force;
    if !root_for_other {
        confirm_current(t, &e, admin, "--show")?;
    }
    let hostname = enroll::hostname();
    let issuer = args.issuer.clone().unwrap_or_else(|| hostname.clone());
    let account = args
        .label
        .clone()
        .unwrap_or_else(|| format!("{}@{hostname}", t.user.name));
    token::check_label_part("issuer", &issuer).map_err(Failure::usage)?;
    token::check_label_part("account name", &account).map_err(Failure::usage)?;
    let uri = token::uri(e.key(), &issuer, &account, kind);
    let matrix = Matrix::encode(&uri).map_err(Failure::usage)?;
    let mode = args.qr_mode.unwrap_or(TerminalMode::Utf8);
    let mut text = enroll::for_a_person(&matrix, mode, &issuer, &account, e.key(), kind, &uri);
    text.push_str(&settings_text(&e, &admin.minimums));
    enroll::print(&text)?;
    let short = admin.minimums.shortfalls(&e);
    if !short.is_empty() {
        eprintln!(
            "Below the administrator's minimums ({}):\n{}Logins apply them anyway; totp-enroll --upgrade writes them into the file.",
            admin.path.display(),
            short
                .iter()
                .map(|s| format!("  - {s}\n"))
                .collect::<String>()
        );
    }
    Ok(())
}

/// `--remove`: after a current code; root removes another user's (or, with
/// `--force`, its own) without one. Under the file's lock, logged.
pub fn remove(args: &Args, t: &Target, admin: &Admin) -> Result<(), Failure> {
    let e = load(t)?;
    let euid = store::effective_uid();
    let by_root = euid == 0 && (t.user.uid != 0 || args.force);
    if !by_root {
        confirm_current(t, &e, admin, "--remove")?;
    }
    FileStore::default().remove(t).map_err(Failure::store)?;
    log(
        t,
        "remove",
        &format!("removed the enrollment {}, by uid {euid}", t.path.display()),
    );
    if !args.quiet {
        enroll::print(&format!(
            "Removed {}: {} is no longer enrolled.\n",
            t.path.display(),
            t.user.name
        ))?;
    }
    Ok(())
}

/// `--upgrade`: the file's settings raised to the minimums, same secret,
/// after a current code (root with `--user` and `--force`: without).
pub fn upgrade(args: &Args, t: &Target, admin: &Admin) -> Result<(), Failure> {
    let m = &admin.minimums;
    let e = load(t)?;
    if let Some(s) = m.refusal(&e) {
        return Err(needs_new(t, s));
    }
    let short = m.shortfalls(&e);
    if short.is_empty() {
        if !args.quiet {
            enroll::print(&format!(
                "{} already meets the administrator's minimums ({}); nothing was changed.\n",
                t.path.display(),
                admin.path.display()
            ))?;
        }
        return Ok(());
    }
    let root_for_other = store::effective_uid() == 0 && args.user.is_some() && args.force;
    if !root_for_other {
        confirm_current(t, &e, admin, "--upgrade")?;
    }
    // Raised again on what the file holds under the lock.
    let store = FileStore::default();
    let result = store.replace(t, |current| match m.upgrade(current) {
        Ok(next) => Ok(next),
        Err(Upgrade::Format(f)) => Err(StoreError::Malformed(f)),
        Err(Upgrade::NeedsNewEnrollment(_)) => Err(StoreError::Malformed(
            pam_totp::enrollment::FormatError::Unwritable { name: "secret" },
        )),
    });
    result.map_err(Failure::store)?;
    log(
        t,
        "upgrade",
        &format!(
            "raised the enrollment {} to the minimums ({}), by uid {}",
            t.path.display(),
            short
                .iter()
                .map(|s| s.setting())
                .collect::<Vec<_>>()
                .join(", "),
            store::effective_uid()
        ),
    );
    if !args.quiet {
        enroll::print(&format!(
            "Saved {} with the administrator's minimums; the app needs no change:\n{}",
            t.path.display(),
            short
                .iter()
                .map(|s| format!("  - was: {s}\n"))
                .collect::<String>()
        ))?;
    }
    Ok(())
}

fn needs_new(t: &Target, s: minimums::Shortfall) -> Failure {
    Failure::new(
        Exit::BelowMinimum,
        format!(
            "{}: {s}; only a new enrollment meets the administrator's minimums \
             (totp-enroll --force{})",
            t.path.display(),
            if store::effective_uid() == 0 {
                format!(" --user {}", t.user.name)
            } else {
                String::new()
            }
        ),
    )
}

/// The enrollment as it is; "not enrolled" when there is none.
fn load(t: &Target) -> Result<Enrollment, Failure> {
    FileStore::default().load(t).map_err(|e| match e {
        StoreError::NotFound(_) => Failure::new(
            Exit::Exists,
            format!(
                "{} does not exist: {} is not enrolled",
                t.path.display(),
                t.user.name
            ),
        ),
        StoreError::Malformed(f) => Failure::system(format!(
            "{} is not a valid secret file: {f}",
            t.path.display()
        )),
        e => Failure::store(e),
    })
}

/// Asks for the code the app shows now, a few tries; the check is a
/// login's (window and its cap, clock skew, reuse) but changes nothing.
fn confirm_current(t: &Target, e: &Enrollment, admin: &Admin, what: &str) -> Result<(), Failure> {
    if !terminal::interactive() {
        return Err(Failure::usage(format!(
            "{what} needs a current code from the app, and standard input is not a terminal"
        )));
    }
    let mut term = Terminal;
    let prompt = match e.kind() {
        FileKind::Hotp { .. } => "Press the app's button and enter the 6-digit code it shows: ",
        _ => "Enter the 6-digit code the app shows now: ",
    };
    for attempt in 1..=TRIES {
        let Some(line) = term.line(prompt)? else {
            break;
        };
        let left = TRIES - attempt;
        let now = enroll::now();
        match token::parse_code(&line).map(|c| decision::current_code(e, c, now, &admin.minimums)) {
            Some(Current::Matches(_)) => return Ok(()),
            Some(Current::Used) => term.say(&format!(
                "That code was already used; wait for the next one ({left} {} left).",
                enroll::tries(left)
            )),
            None => term.say(&format!(
                "That is not a 6-digit code ({left} {} left).",
                enroll::tries(left)
            )),
            Some(Current::NoMatch) => term.say(&format!(
                "That code does not match {} ({left} {} left).",
                t.path.display(),
                enroll::tries(left)
            )),
        }
    }
    Err(Failure::new(
        Exit::NotConfirmed,
        "no current code from the app was confirmed; nothing was changed",
    ))
}

/// The settings as a person reads them, for `--show`.
fn settings_text(e: &Enrollment, m: &Minimums) -> String {
    let mut out = String::from("Settings:\n");
    out.push_str(&format!(
        "  window   {} codes{}\n",
        e.window(),
        match m.window(e.window()) {
            w if w != e.window() => format!(" (the administrator allows {w})"),
            _ => String::new(),
        }
    ));
    out.push_str(&format!(
        "  reuse    {}\n",
        if e.used_steps().is_some() {
            "refused"
        } else {
            "allowed"
        }
    ));
    out.push_str(&match e.rate_limit() {
        Some(r) => format!(
            "  limit    {} attempts per {} seconds\n",
            r.attempts, r.interval
        ),
        None => "  limit    none\n".to_owned(),
    });
    out.push_str(&format!(
        "  scratch  {} codes left (not shown again; --new-scratch-codes makes new ones)\n",
        e.scratch_codes().len()
    ));
    out
}

/// One line to syslog (authpriv, where the modules log), in their form:
/// `totp-enroll(--remove): service=totp-enroll user=NAME rhost= outcome=WORD
/// reason="..."`, fields escaped as theirs are.
pub(crate) fn log(t: &Target, outcome: &str, reason: &str) {
    let line = format!(
        "totp-enroll(--{outcome}): service=totp-enroll user={} rhost= outcome={outcome} reason=\"{}\"",
        pam_ext::escape_field(&t.user.name, true),
        pam_ext::escape_field(reason, false)
    );
    let Ok(line) = std::ffi::CString::new(line) else {
        return;
    };
    // SAFETY: both arguments are NUL-terminated strings that outlive the
    // call, and the format "%s" takes exactly the one string given.
    unsafe {
        libc::syslog(
            libc::LOG_AUTHPRIV | libc::LOG_NOTICE,
            c"%s".as_ptr(),
            line.as_ptr(),
        );
    }
}
