//! Why totp-enroll stopped, as one line and an exit status.

use std::fmt;

use pam_totp::store::StoreError;

/// Exit statuses (documented in `--help` and the README).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// A file or system error; nothing was changed.
    System = 1,
    /// Bad options, or a question to ask with no terminal.
    Usage = 2,
    /// An enrollment exists (without --force), or none does for --new-scratch-codes.
    Exists = 3,
    /// Only root may enroll another user.
    Permission = 4,
    /// The app's code was not confirmed; nothing was saved.
    NotConfirmed = 5,
    /// Below the admin's minimums in a way only a new enrollment fixes.
    BelowMinimum = 6,
}

/// What went wrong, for the one line on stderr.
#[derive(Debug)]
pub struct Failure {
    pub exit: Exit,
    pub message: String,
}

impl Failure {
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        Failure {
            exit,
            message: message.into(),
        }
    }

    pub fn system(message: impl fmt::Display) -> Self {
        Failure::new(Exit::System, message.to_string())
    }

    pub fn usage(message: impl fmt::Display) -> Self {
        Failure::new(Exit::Usage, message.to_string())
    }

    /// A store error; a held lock reads as what it means to the user.
    pub fn store(e: StoreError) -> Self {
        match e {
            StoreError::Busy(path) => Failure::system(format!(
                "the enrollment in {} is busy: a login or another totp-enroll holds its lock; \
                 nothing was changed, try again",
                path.display()
            )),
            e => Failure::system(e),
        }
    }
}

/// An I/O error as words, without Rust's "(os error N)" suffix.
pub fn describe(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}
