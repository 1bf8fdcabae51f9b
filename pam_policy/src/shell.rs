//! The PAM shell for the password stack: pam_pwquality's chauthtok flow
//! (prelim pass, prompts through libpam, retries, PAM_AUTHTOK for the next
//! module), with the decision made by `check`.

use std::cell::OnceCell;
use std::ffi::{CStr, c_uint};

use pam_ext::{
    Conversation, PAM_PRELIM_CHECK, PAM_UPDATE_AUTHTOK, PamConversation, PamHandle, PamResultCode,
    Priority,
};
use zeroize::Zeroizing;

use crate::check::{Gecos, Rejection, Request, check};
use crate::config;
use crate::dict::{Dictionary, WordSet};
use crate::options::{OptionError, Policy};
use crate::sys;

/// `pam_chauthtok` flag: the password has expired; enforce even for root.
const PAM_CHANGE_EXPIRED_AUTHTOK: c_uint = 0x0020;
const PASSWD_FILE: &str = "/etc/passwd";

pub(crate) fn chauthtok(pamh: &mut PamHandle, args: &[&CStr], flags: c_uint) -> PamResultCode {
    let policy = match pam_ext::args_utf8(args)
        .map_err(|a| config::ConfigError::Option(OptionError::NotUtf8(a)))
        .and_then(|a| config::load(&a))
    {
        Ok(p) => p,
        Err(e) => {
            log(pamh, Priority::Err, None, "config-error", &e.to_string());
            return PamResultCode::PAM_SERVICE_ERR;
        }
    };
    if let Some(word) = &policy.authtok_type {
        let _ = pam_ext::set_authtok_type(pamh, word);
    }
    if flags & PAM_PRELIM_CHECK != 0 {
        return PamResultCode::PAM_SUCCESS;
    }
    if flags & PAM_UPDATE_AUTHTOK == 0 {
        log(
            pamh,
            Priority::Err,
            None,
            "bad-flags",
            &format!("unknown flags {flags:#x}"),
        );
        return PamResultCode::PAM_SERVICE_ERR;
    }
    let user = match pamh.get_user(None) {
        Ok(u) => u,
        Err(_) => {
            log(
                pamh,
                Priority::Err,
                None,
                "no-user",
                "could not get the user name",
            );
            return PamResultCode::PAM_AUTHTOK_ERR;
        }
    };
    // Only set when an earlier module (pam_unix in the prelim pass) asked for it.
    let old: Option<Zeroizing<String>> = pam_ext::get_authtok(pamh, true)
        .ok()
        .flatten()
        .map(|o| Zeroizing::new(String::from_utf8_lossy(&o).into_owned()));
    let lookup = || sys::gecos(&user);
    let skip_checks = policy.local_users_only && !sys::is_local_user(&user, PASSWD_FILE);
    let enforce = policy.enforcing
        && (pam_ext::real_uid() != 0
            || policy.enforce_for_root
            || flags & PAM_CHANGE_EXPIRED_AUTHTOK != 0);
    let dict = LazyDictionary::new(policy.dictpath.clone());
    for _ in 0..policy.retry {
        let new = match pam_ext::new_authtok_noverify(pamh) {
            Ok(t) => t,
            Err(_) => return aborted(pamh, &user),
        };
        let verdict = if skip_checks {
            Ok(())
        } else {
            decide(
                &policy,
                &new,
                old.as_deref().map(String::as_str),
                &user,
                Gecos::Lookup(&lookup),
                &dict,
            )
        };
        if let Some(why) = dict.take_fallback() {
            log(
                pamh,
                Priority::Warning,
                Some(&user),
                "dictionary-fallback",
                &why,
            );
        }
        if let Err(reason) = verdict {
            // Shown even under PAM_SILENT, as pam_pwquality does: a refusal
            // without its reason leaves the user guessing.
            PamConversation::new(pamh, flags & !pam_ext::PAM_SILENT)
                .error(&format!("BAD PASSWORD: {reason}"));
            if enforce {
                log(
                    pamh,
                    Priority::Notice,
                    Some(&user),
                    "rejected",
                    &reason.to_string(),
                );
                pam_ext::clear_authtok(pamh);
                continue;
            }
            log(
                pamh,
                Priority::Notice,
                Some(&user),
                "warned",
                &reason.to_string(),
            );
        }
        match pam_ext::new_authtok_verify(pamh) {
            Ok(_) => {
                log(
                    pamh,
                    Priority::Info,
                    Some(&user),
                    "accepted",
                    if skip_checks {
                        "not a local user; not checked"
                    } else {
                        "new password meets the policy"
                    },
                );
                return PamResultCode::PAM_SUCCESS;
            }
            Err(PamResultCode::PAM_TRY_AGAIN) => {
                pam_ext::clear_authtok(pamh);
                continue;
            }
            Err(_) => {
                pam_ext::clear_authtok(pamh);
                return aborted(pamh, &user);
            }
        }
    }
    pam_ext::clear_authtok(pamh);
    log(
        pamh,
        Priority::Notice,
        Some(&user),
        "maxtries",
        "no acceptable password given",
    );
    if policy.retry > 1 {
        PamResultCode::PAM_MAXTRIES
    } else {
        PamResultCode::PAM_AUTHTOK_ERR
    }
}

/// The decision for raw bytes from the conversation: text that is not UTF-8
/// is refused (its length and classes would be guesses).
fn decide(
    policy: &Policy,
    new: &[u8],
    old: Option<&str>,
    user: &str,
    gecos: Gecos<'_>,
    words: &dyn WordSet,
) -> Result<(), Rejection> {
    let Ok(new) = std::str::from_utf8(new) else {
        return Err(if new.is_empty() {
            Rejection::Empty
        } else {
            Rejection::NotUtf8
        });
    };
    let req = Request {
        new,
        old,
        user,
        gecos,
    };
    check(policy, &req, words)
}

/// The dictionary, opened on first use (most refused passwords never reach
/// the dictionary step), once per PAM call.
struct LazyDictionary {
    path: Option<String>,
    dict: OnceCell<std::sync::Arc<Dictionary>>,
    fallback: std::cell::RefCell<Option<String>>,
}

impl LazyDictionary {
    fn new(path: Option<String>) -> Self {
        Self {
            path,
            dict: OnceCell::new(),
            fallback: std::cell::RefCell::new(None),
        }
    }

    fn get(&self) -> &Dictionary {
        self.dict.get_or_init(|| {
            let (dict, why) = crate::dict::open_shared(self.path.as_deref());
            if let Some(e) = why {
                *self.fallback.borrow_mut() = Some(format!("{e}; using the {}", dict.describe()));
            }
            dict
        })
    }

    /// Why the built-in list is in use, once.
    fn take_fallback(&self) -> Option<String> {
        self.fallback.borrow_mut().take()
    }
}

impl WordSet for LazyDictionary {
    fn contains(&self, word: &str) -> bool {
        self.get().contains(word)
    }
}

/// The user gave up (the conversation failed or gave no password).
fn aborted(pamh: &PamHandle, user: &str) -> PamResultCode {
    log(
        pamh,
        Priority::Notice,
        Some(user),
        "aborted",
        "user aborted password change",
    );
    PamResultCode::PAM_AUTHTOK_ERR
}

fn log(pamh: &PamHandle, priority: Priority, user: Option<&str>, outcome: &str, reason: &str) {
    pam_ext::log_decision(pamh, priority, user, outcome, reason);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dict::SortedWords;

    #[test]
    fn bytes_from_the_conversation_are_decided_deliberately() {
        let p = Policy::default();
        let w = SortedWords::from_text("password\n");
        let d = |b: &[u8]| decide(&p, b, None, "alice", Gecos::None, &w);
        assert_eq!(d(b""), Err(Rejection::Empty));
        assert_eq!(d(b"Xk9#m\xffQ2$vL"), Err(Rejection::NotUtf8));
        assert_eq!(d(b"\xc3\x28abcdefgh"), Err(Rejection::NotUtf8));
        // Latin-1 "é" where UTF-8 was expected.
        assert_eq!(d(b"Caf\xe9#2024xyz"), Err(Rejection::NotUtf8));
        assert_eq!(d("Café#2024xyz".as_bytes()), Ok(()));
        assert_eq!(d(b"Xk9#m\x01\x02Q2$vL"), Ok(()));
    }
}
