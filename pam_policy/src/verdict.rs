//! The one decision both the PAM shell and `pam-policy-check` use: given the
//! policy, the bytes typed, the account and who is asking, accept, warn,
//! reject or skip, with every reason. Pure: the account's lookups and the
//! word lists are passed in.

#![forbid(unsafe_code)]

use zeroize::Zeroizing;

use crate::check::{self, Catalog, Gecos, Lists, Rejection, Request};
use crate::options::Policy;

/// What the module knows of the account whose password changes.
pub trait Account {
    /// The user name as the checks see it (lossy UTF-8 for a name that is
    /// not UTF-8: the user-name checks then compare its valid parts).
    fn name(&self) -> &str;
    /// The passwd real-name field, when the user has an entry.
    fn gecos(&self) -> Option<String>;
    /// Whether the user has a line in /etc/passwd (`local_users_only`).
    fn is_local(&self) -> bool;
}

/// Who asks for the change: pam_pwquality enforces for root only with
/// `enforce_for_root` or when the password has expired.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Caller {
    /// The caller's real uid is 0.
    pub root: bool,
    /// The application passed PAM_CHANGE_EXPIRED_AUTHTOK.
    pub expired: bool,
}

/// How many reasons to find: the module shows the first, the checker all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reasons {
    First,
    All,
}

/// What is decided on.
pub struct Attempt<'a> {
    /// The new password as typed: bytes, which need not be UTF-8.
    pub new: &'a [u8],
    /// PAM_OLDAUTHTOK, when an earlier module collected it.
    pub old: Option<&'a [u8]>,
    pub account: &'a dyn Account,
    pub caller: Caller,
    pub reasons: Reasons,
}

/// Why a failing password is only warned about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotEnforced {
    /// The caller is root, without `enforce_for_root` or an expired password.
    Root,
    /// `enforcing=0`.
    EnforcingOff,
}

/// Why a password is not checked at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Skipped {
    /// `local_users_only` and the user is not in /etc/passwd.
    NotLocal,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    /// The reasons are shown, but the password is accepted.
    Warn(Vec<Rejection>, NotEnforced),
    Reject(Vec<Rejection>),
    Skip(Skipped),
}

impl Verdict {
    /// The syslog `outcome=` word of this verdict.
    pub fn outcome(&self) -> &'static str {
        match self {
            Verdict::Accept => "accepted",
            Verdict::Warn(..) => "warned",
            Verdict::Reject(_) => "rejected",
            Verdict::Skip(_) => "accepted",
        }
    }

    /// The reasons, in check order (none for accept and skip).
    pub fn reasons(&self) -> &[Rejection] {
        match self {
            Verdict::Warn(r, _) | Verdict::Reject(r) => r,
            Verdict::Accept | Verdict::Skip(_) => &[],
        }
    }

    /// The lines shown to the user ("BAD PASSWORD: ..."), translated.
    pub fn messages(&self, cat: &dyn Catalog) -> Vec<String> {
        self.reasons().iter().map(|r| r.message(cat)).collect()
    }

    /// For the log and the checker: why the verdict is what it is.
    pub fn explanation(&self) -> String {
        match self {
            Verdict::Accept => "new password meets the policy".to_owned(),
            Verdict::Skip(Skipped::NotLocal) => {
                "not in /etc/passwd and local_users_only is set; not checked".to_owned()
            }
            Verdict::Reject(r) => r.first().map(ToString::to_string).unwrap_or_default(),
            Verdict::Warn(r, why) => format!(
                "{} ({})",
                r.first().map(ToString::to_string).unwrap_or_default(),
                match why {
                    NotEnforced::Root => "not enforced for root",
                    NotEnforced::EnforcingOff => "enforcing=0",
                }
            ),
        }
    }
}

/// The decision.
pub fn verdict(policy: &Policy, attempt: &Attempt<'_>, lists: &dyn Lists) -> Verdict {
    if policy.local_users_only && !attempt.account.is_local() {
        return Verdict::Skip(Skipped::NotLocal);
    }
    let reasons = reasons(policy, attempt, lists);
    if reasons.is_empty() {
        return Verdict::Accept;
    }
    if !policy.enforcing {
        return Verdict::Warn(reasons, NotEnforced::EnforcingOff);
    }
    if attempt.caller.root && !policy.enforce_for_root && !attempt.caller.expired {
        return Verdict::Warn(reasons, NotEnforced::Root);
    }
    Verdict::Reject(reasons)
}

fn reasons(policy: &Policy, attempt: &Attempt<'_>, lists: &dyn Lists) -> Vec<Rejection> {
    let Ok(new) = std::str::from_utf8(attempt.new) else {
        // Its length and classes would be guesses, and the same password
        // typed on a UTF-8 terminal would be other bytes.
        return vec![Rejection::NotUtf8];
    };
    let old: Option<Zeroizing<String>> = attempt
        .old
        .map(|o| Zeroizing::new(String::from_utf8_lossy(o).into_owned()));
    let lookup = || attempt.account.gecos();
    let req = Request {
        new,
        old: old.as_deref().map(String::as_str),
        user: attempt.account.name(),
        gecos: Gecos::Lookup(&lookup),
    };
    match attempt.reasons {
        Reasons::First => check::check(policy, &req, lists)
            .err()
            .into_iter()
            .collect(),
        Reasons::All => check::check_all(policy, &req, lists),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dict::SortedWords;

    struct Acct(&'static str, bool);
    impl Account for Acct {
        fn name(&self) -> &str {
            self.0
        }
        fn gecos(&self) -> Option<String> {
            None
        }
        fn is_local(&self) -> bool {
            self.1
        }
    }

    fn decide(policy: &Policy, new: &[u8], caller: Caller, acct: &Acct) -> Verdict {
        let w = SortedWords::from_text("password\n");
        let a = Attempt {
            new,
            old: None,
            account: acct,
            caller,
            reasons: Reasons::First,
        };
        verdict(policy, &a, &w)
    }

    #[test]
    fn every_verdict_and_its_reason() {
        let p = Policy::default();
        let alice = Acct("alice", true);
        let user = Caller::default();
        let root = Caller {
            root: true,
            expired: false,
        };
        assert_eq!(decide(&p, b"Xk9#mQ2$vL", user, &alice), Verdict::Accept);
        assert_eq!(
            decide(&p, b"", user, &alice),
            Verdict::Reject(vec![Rejection::Empty])
        );
        assert_eq!(
            decide(&p, b"Caf\xe9#2024xyz", user, &alice),
            Verdict::Reject(vec![Rejection::NotUtf8])
        );
        assert_eq!(
            decide(&p, b"Password1!", root, &alice),
            Verdict::Warn(
                vec![Rejection::Dictionary(
                    crate::cracklib::CrackReason::DictionaryWord
                )],
                NotEnforced::Root
            )
        );
        let expired = Caller {
            root: true,
            expired: true,
        };
        assert!(matches!(
            decide(&p, b"Password1!", expired, &alice),
            Verdict::Reject(_)
        ));
        let mut lax = p.clone();
        lax.enforcing = false;
        assert!(matches!(
            decide(&lax, b"short", user, &alice),
            Verdict::Warn(_, NotEnforced::EnforcingOff)
        ));
        let mut local = p.clone();
        local.local_users_only = true;
        assert_eq!(
            decide(&local, b"short", user, &Acct("ldapuser", false)),
            Verdict::Skip(Skipped::NotLocal)
        );
        assert!(matches!(
            decide(&local, b"short", user, &alice),
            Verdict::Reject(_)
        ));
    }

    #[test]
    fn messages_carry_the_prefix_once() {
        let v = Verdict::Reject(vec![Rejection::Palindrome]);
        assert_eq!(
            v.messages(&check::English),
            ["BAD PASSWORD: The password is a palindrome"]
        );
    }
}
