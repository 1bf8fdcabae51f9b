//! `pam_totp.so`: a TOTP (RFC 6238) second factor for PAM that reads and
//! writes pam_google_authenticator's secret files and takes its options.
//!
//! Layers: `ffi`/`shell` talk to libpam; the options parser turns module
//! arguments into a typed value at the edge.

#![deny(clippy::expect_used)]

mod ffi;
pub mod options;
pub mod otp;
pub mod secret_file;
mod shell;
pub mod store;
pub mod verify;
