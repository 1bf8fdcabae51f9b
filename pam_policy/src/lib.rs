//! `pam_policy.so`: password quality for the PAM password stack, taking
//! pam_pwquality's options and giving its messages.
//!
//! Layers: `ffi`/`shell` talk to libpam; `check` is pure policy over plain
//! values; `options` turns module arguments into a typed `Policy`.

#![deny(clippy::expect_used)]

pub mod check;
mod ffi;
pub mod options;
mod shell;
