//! `pam_policy.so`: password quality for the PAM password stack, taking
//! pam_pwquality's options and giving its messages.
//!
//! Layers: `ffi`/`shell` talk to libpam and `sys` to the operating system
//! (the only `unsafe`); `check`, `cracklib` and `strength` are pure policy
//! over plain values; `options` and `config` turn module arguments and
//! pwquality.conf into a typed `Policy`; `dict` finds words in a
//! dictionary read into memory.

#![deny(clippy::expect_used)]

pub mod breach;
pub mod check;
pub mod config;
pub mod cracklib;
pub mod dict;
mod ffi;
pub mod options;
mod shell;
pub mod strength;
pub mod sys;
pub mod verdict;
