//! `pam_totp.so`: a TOTP (RFC 6238) second factor for PAM that reads and
//! writes pam_google_authenticator's secret files and takes its options.
//!
//! Layers, each knowing only the one below: `ffi`/`shell` talk to libpam;
//! `store` holds enrollments and runs transactions on them; the core —
//! `enrollment` (the secret file's typed content), `decision` (what an
//! attempt does) and `otp` (the arithmetic) — is pure. `options` turns module
//! arguments into a typed value at the edge.

#![deny(clippy::expect_used)]

pub mod config;
pub mod decision;
pub mod enrollment;
mod ffi;
pub mod fleet;
pub mod minimums;
pub mod options;
pub mod otp;
mod shell;
pub mod store;

pub use shell::messages;
