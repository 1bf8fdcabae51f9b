//! The module's C surface: exactly the entry points it implements.
//! pam_google_authenticator implements authentication and `setcred`; so does this module.

pam_ext::export_hooks!(
    pam_sm_authenticate => crate::shell::authenticate,
    pam_sm_setcred => crate::shell::setcred,
);
