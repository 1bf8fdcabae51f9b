//! The PAM shell: reads items and options, talks to the user, maps the
//! outcome to one PAM code and writes one syslog line per decision.

use std::ffi::{CStr, c_uint};

use pam_ext::{Conversation, PamConversation, PamHandle, PamResultCode, Priority, StrItem};

use crate::options::Options;

pub(crate) fn authenticate(pamh: &mut PamHandle, args: &[&CStr], flags: c_uint) -> PamResultCode {
    let options = match pam_ext::args_utf8(args)
        .map_err(crate::options::OptionError::NotUtf8)
        .and_then(|a| Options::parse(a.iter().copied()))
    {
        Ok(o) => o,
        Err(e) => {
            log_decision(pamh, None, "config-error", &e.to_string());
            return PamResultCode::PAM_SERVICE_ERR;
        }
    };
    let user = match pamh.get_user(None) {
        Ok(u) => u,
        Err(_) => {
            log_decision(pamh, None, "no-user", "could not get the user name");
            return PamResultCode::PAM_USER_UNKNOWN;
        }
    };
    let mut conv = PamConversation::new(pamh, flags);
    let answer = conv.prompt(options.prompt(), options.echo_verification_code);
    drop(answer);
    log_decision(
        pamh,
        Some(&user),
        "unavailable",
        "code verification is not available in this build",
    );
    PamResultCode::PAM_AUTHINFO_UNAVAIL
}

pub(crate) fn setcred(_pamh: &mut PamHandle, _args: &[&CStr], _flags: c_uint) -> PamResultCode {
    PamResultCode::PAM_SUCCESS
}

/// One line per decision: who, from where, what was decided and why; never a
/// code or a secret.
fn log_decision(pamh: &PamHandle, user: Option<&str>, outcome: &str, reason: &str) {
    let service = pam_ext::item_string(pamh, StrItem::Service).unwrap_or_default();
    let rhost = pam_ext::item_string(pamh, StrItem::RHost).unwrap_or_default();
    let priority = match outcome {
        "success" => Priority::Info,
        _ => Priority::Err,
    };
    pam_ext::syslog(
        pamh,
        priority,
        &format!(
            "service={} user={} rhost={} outcome={} reason=\"{}\"",
            service,
            user.unwrap_or(""),
            rhost,
            outcome,
            reason
        ),
    );
}
