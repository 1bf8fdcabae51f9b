//! The PAM shell for the password stack: pam_pwquality's chauthtok flow
//! (prelim pass, prompts through libpam, retries, PAM_AUTHTOK for the next
//! module), with the decision made by `verdict`, which `pam-policy-check`
//! uses too.

#![forbid(unsafe_code)]

use std::ffi::{CStr, c_uint};

use pam_ext::{
    Conversation, PAM_PRELIM_CHECK, PAM_UPDATE_AUTHTOK, PamConversation, PamHandle, PamResultCode,
    Priority, StrItem,
};
use zeroize::Zeroizing;

use crate::breach::{LazyBreaches, Screens};
use crate::config;
use crate::dict::LazyDictionary;
use crate::options::OptionError;
use crate::sys::{Gettext, SystemAccount};
use crate::verdict::{Account, Attempt, Caller, Reasons, Verdict, verdict};

/// `pam_chauthtok` flag: the password has expired; enforce even for root.
const PAM_CHANGE_EXPIRED_AUTHTOK: c_uint = 0x0020;

/// Our own texts for refusals that happen before any password is checked.
const MISCONFIGURED: &str =
    "The password cannot be changed: the password policy is misconfigured (see the system log)";
const NO_USER: &str = "The password cannot be changed: no user name was given";

pub(crate) fn chauthtok(pamh: &mut PamHandle, args: &[&CStr], flags: c_uint) -> PamResultCode {
    let loaded = match pam_ext::args_utf8(args)
        .map_err(|a| config::ConfigError::Option(OptionError::NotUtf8(a)))
        .and_then(|a| config::load(&a))
    {
        Ok(l) => l,
        Err(e) => {
            log(pamh, Priority::Err, None, "config-error", &e.to_string());
            // Every refusal says why; the details are in the log.
            tell(pamh, flags, MISCONFIGURED);
            return PamResultCode::PAM_SERVICE_ERR;
        }
    };
    let policy = loaded.policy;
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
    let Some(user) = user_name(pamh) else {
        log(
            pamh,
            Priority::Err,
            None,
            "no-user",
            "could not get the user name",
        );
        tell(pamh, flags, NO_USER);
        return PamResultCode::PAM_AUTHTOK_ERR;
    };
    let account = SystemAccount::new(user);
    let user = account.name().to_owned();
    // Warned about in the update pass only, once per password change.
    for w in &loaded.warnings {
        log(
            pamh,
            Priority::Warning,
            Some(&user),
            "config-warning",
            &w.to_string(),
        );
    }
    // Only set when an earlier module (pam_unix in the prelim pass) asked for it.
    let old: Option<Zeroizing<Vec<u8>>> = pam_ext::get_authtok(pamh, true).ok().flatten();
    let caller = Caller {
        root: pam_ext::real_uid() == 0,
        expired: flags & PAM_CHANGE_EXPIRED_AUTHTOK != 0,
    };
    let dict = LazyDictionary::new(policy.dictpath.clone());
    let breaches = policy.breachlist.as_deref().map(LazyBreaches::new);
    let screens = Screens {
        words: &dict,
        breaches: breaches.as_ref(),
    };
    for _ in 0..policy.retry {
        let new = match pam_ext::new_authtok_noverify(pamh) {
            Ok(t) => t,
            Err(_) => return aborted(pamh, &user),
        };
        let attempt = Attempt {
            new: &new,
            old: old.as_deref().map(Vec::as_slice),
            account: &account,
            caller,
            reasons: Reasons::First,
        };
        let v = verdict(&policy, &attempt, &screens);
        drop(new);
        if let Some(why) = dict.take_fallback() {
            log(
                pamh,
                Priority::Warning,
                Some(&user),
                "dictionary-fallback",
                &why,
            );
        }
        if let Some(why) = breaches.as_ref().and_then(LazyBreaches::take_problem) {
            log(
                pamh,
                Priority::Warning,
                Some(&user),
                "breach-filter-error",
                &format!("{why}; the breach check was skipped"),
            );
        }
        // Shown even under PAM_SILENT, as pam_pwquality does: a refusal
        // without its reason leaves the user guessing.
        for m in v.messages(&Gettext) {
            tell(pamh, flags, &m);
        }
        match v {
            Verdict::Reject(_) => {
                log(
                    pamh,
                    Priority::Notice,
                    Some(&user),
                    v.outcome(),
                    &v.explanation(),
                );
                pam_ext::clear_authtok(pamh);
                continue;
            }
            Verdict::Warn(..) => {
                log(
                    pamh,
                    Priority::Notice,
                    Some(&user),
                    v.outcome(),
                    &v.explanation(),
                );
            }
            Verdict::Accept | Verdict::Skip(_) => {}
        }
        match pam_ext::new_authtok_verify(pamh) {
            Ok(_) => {
                if !matches!(v, Verdict::Warn(..)) {
                    log(
                        pamh,
                        Priority::Info,
                        Some(&user),
                        "accepted",
                        &v.explanation(),
                    );
                }
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

/// The user name as bytes: libpam's `pam_get_user` (which may prompt), and
/// when that name is not UTF-8 (pam-bindings refuses it), the PAM_USER item
/// it has set. pam_pwquality takes any bytes; so do we.
fn user_name(pamh: &mut PamHandle) -> Option<Vec<u8>> {
    match pamh.get_user(None) {
        Ok(u) => Some(u.into_bytes()),
        Err(_) => pam_ext::item_bytes(pamh, StrItem::User).filter(|u| !u.is_empty()),
    }
}

/// An error message to the user, even under PAM_SILENT.
fn tell(pamh: &PamHandle, flags: c_uint, text: &str) {
    PamConversation::new(pamh, flags & !pam_ext::PAM_SILENT).error(text);
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
