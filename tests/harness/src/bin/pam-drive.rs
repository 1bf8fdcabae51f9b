//! `pam-drive`: runs one scripted PAM transaction through the real libpam and
//! prints a JSON report (see `pam_harness::drive`).
//!
//! Usage: `pam-drive '<spec json>'` or `pam-drive @FILE` (see `pam_harness::spec::Spec`).

fn main() -> std::process::ExitCode {
    pam_harness::drive::main()
}
