//! Fixtures for pam_totp tests: a secret file for the user the tests run as,
//! in a directory of its own, and the codes an authenticator app would show.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use pam_totp::otp::{self, Key};
use test_support::{euid, list, now, program_present, required_in_ci};

/// The secret every fixture uses unless told otherwise (160 bits).
pub const SECRET: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";

/// The account the tests run as (root in CI).
pub fn current_user() -> String {
    let uid = euid();
    pam_totp::store::account_by_uid(uid)
        .ok()
        .flatten()
        .map_or_else(|| panic!("uid {uid} has no passwd entry"), |a| a.name)
}

/// The 6-digit code for `step` as a string with leading zeros.
pub fn code(secret: &str, step: u64) -> String {
    let key = otp::decode_base32(secret).unwrap_or_else(|e| panic!("bad secret: {e:?}"));
    format!("{:06}", otp::hotp(&key, step, 6))
}

/// The current 30-second step.
pub fn step() -> u64 {
    now() / 30
}

pub fn key(secret: &str) -> Key {
    otp::decode_base32(secret).unwrap_or_else(|e| panic!("bad secret: {e:?}"))
}

/// A secret file in a fresh directory, named after the user, so a service
/// line `secret=<dir>/${USER}` finds it.
pub struct Enrollment {
    pub dir: tempfile::TempDir,
    pub user: String,
}

impl Enrollment {
    /// Writes `SECRET` + `options` lines + `rest` for the current user, mode 0600.
    pub fn new(options: &str) -> Self {
        Self::with_text(&format!("{SECRET}\n{options}"))
    }

    pub fn with_text(text: &str) -> Self {
        let e = Self::empty();
        e.write(text.as_bytes());
        e
    }

    /// The directory only, with no file in it.
    pub fn empty() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("pam-totp-test-")
            .tempdir()
            .unwrap_or_else(|e| panic!("{e}"));
        Self {
            dir,
            user: current_user(),
        }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().join(&self.user)
    }

    /// The module argument that points at this file.
    pub fn arg(&self) -> String {
        format!("secret={}/${{USER}}", self.dir.path().display())
    }

    pub fn write(&self, bytes: &[u8]) {
        std::fs::write(self.path(), bytes).unwrap_or_else(|e| panic!("{e}"));
        self.chmod(0o600);
    }

    pub fn chmod(&self, mode: u32) {
        std::fs::set_permissions(self.path(), std::fs::Permissions::from_mode(mode))
            .unwrap_or_else(|e| panic!("{e}"));
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes()).into_owned()
    }

    pub fn bytes(&self) -> Vec<u8> {
        std::fs::read(self.path()).unwrap_or_default()
    }

    pub fn mode(&self) -> u32 {
        std::fs::metadata(self.path()).map_or(0, |m| m.permissions().mode() & 0o7777)
    }

    /// Names in the directory other than the secret file (left-over temporaries).
    pub fn strays(&self) -> Vec<String> {
        list(self.dir.path())
            .into_iter()
            .filter(|n| *n != self.user)
            .collect()
    }
}

/// Whether pam_google_authenticator.so and oathtool, the anchors the
/// comparisons need, are installed. In CI (`CI` set) their absence fails the
/// test; elsewhere the caller skips it, and a note says so.
pub fn anchors_present() -> bool {
    let ok = crate::system_module_dir()
        .join("pam_google_authenticator.so")
        .exists()
        && program_present("oathtool", "--version");
    required_in_ci(ok, "pam_google_authenticator.so or oathtool")
}

/// Runs `oathtool ARGS -b SECRET` and returns its output line.
pub fn oathtool(args: &[&str], secret: &str) -> String {
    let out = std::process::Command::new("oathtool")
        .args(args)
        .args(["-b", secret])
        .output()
        .unwrap_or_else(|e| panic!("oathtool: {e}"));
    assert!(out.status.success(), "oathtool failed: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}
