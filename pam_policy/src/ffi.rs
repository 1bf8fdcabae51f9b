//! The module's C surface: like pam_pwquality, only the password stack.

pam_ext::export_hooks!(pam_sm_chauthtok => crate::shell::chauthtok);
