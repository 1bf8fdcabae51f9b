//! The PAM shell for the password stack: pam_pwquality's chauthtok flow
//! (prelim pass, prompts through libpam, retries, PAM_AUTHTOK for the next
//! module), with the decision made by `check`.

use std::ffi::{CStr, c_uint};

use pam_ext::{
    Conversation, PAM_PRELIM_CHECK, PAM_UPDATE_AUTHTOK, PamConversation, PamHandle, PamResultCode,
    Priority, StrItem,
};

use crate::check::check;
use crate::options::{OptionError, Policy};

pub(crate) fn chauthtok(pamh: &mut PamHandle, args: &[&CStr], flags: c_uint) -> PamResultCode {
    let policy = match pam_ext::args_utf8(args)
        .map_err(OptionError::NotUtf8)
        .and_then(|a| Policy::default().apply_args(a.iter().copied()))
    {
        Ok(p) => p,
        Err(e) => {
            log(pamh, Priority::Err, None, "config-error", &e.to_string());
            return PamResultCode::PAM_SERVICE_ERR;
        }
    };
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
    let root = pam_ext::real_uid() == 0;
    for _ in 0..policy.retry {
        let new = match pam_ext::new_authtok_noverify(pamh) {
            Ok(t) => t,
            Err(_) => {
                log(
                    pamh,
                    Priority::Notice,
                    Some(&user),
                    "aborted",
                    "user aborted password change",
                );
                return PamResultCode::PAM_AUTHTOK_ERR;
            }
        };
        let text = String::from_utf8_lossy(&new);
        if let Err(reason) = check(&policy, &text, None, &user) {
            PamConversation::new(pamh, flags).error(&format!("BAD PASSWORD: {reason}"));
            if policy.enforcing && (!root || policy.enforce_for_root) {
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
        }
        match pam_ext::new_authtok_verify(pamh) {
            Ok(_) => {
                log(
                    pamh,
                    Priority::Info,
                    Some(&user),
                    "accepted",
                    "new password meets the policy",
                );
                return PamResultCode::PAM_SUCCESS;
            }
            Err(PamResultCode::PAM_TRY_AGAIN) => {
                pam_ext::clear_authtok(pamh);
                continue;
            }
            Err(_) => return PamResultCode::PAM_AUTHTOK_ERR,
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

fn log(pamh: &PamHandle, priority: Priority, user: Option<&str>, outcome: &str, reason: &str) {
    let service = pam_ext::item_string(pamh, StrItem::Service).unwrap_or_default();
    let rhost = pam_ext::item_string(pamh, StrItem::RHost).unwrap_or_default();
    pam_ext::syslog(
        pamh,
        priority,
        &format!(
            "service={service} user={} rhost={rhost} outcome={outcome} reason=\"{reason}\"",
            user.unwrap_or("")
        ),
    );
}
