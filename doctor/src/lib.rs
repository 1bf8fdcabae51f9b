//! `pam-hardening`: admin tools shipped with pam_totp.so. `doctor` reads
//! sshd's effective configuration and the PAM service sshd uses and says what
//! a login will do, and which misconfigurations lock admins out or let a login
//! skip the second factor. It never changes anything.
//!
//! Layers: `sshd` and `pam` parse, `analyze` decides (all pure);
//! `system` reads the machine (files, module files, secret files, the clock).

pub mod analyze;
pub mod pam;
pub mod sshd;
pub mod system;
