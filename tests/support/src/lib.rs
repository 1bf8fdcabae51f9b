//! What the workspace's tests share.
//!
//! - [`run`]: a program run under a deadline; a failed check on its result
//!   prints the command line, the files it was pointed at and both output
//!   streams.
//! - [`pty`]: a program on a pseudo-terminal, as a person at a terminal runs it.
//! - [`qr`]: a QR code read back from a terminal drawing or an SVG file.
//! - The clock and the environment a test runs in: [`now`], [`settle`],
//!   [`running_as_root`], [`in_ci`], [`required_in_ci`].

pub mod postgres;
pub mod pty;
pub mod qr;
pub mod run;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use pty::Pty;
pub use run::{Run, run, run_with_input};

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Waits, if needed, until at least `margin` seconds remain in the current
/// 30-second step, so codes computed now are still current when checked.
pub fn settle(margin: u64) {
    let into = now() % 30;
    if 30 - into < margin {
        std::thread::sleep(Duration::from_secs(30 - into) + Duration::from_millis(200));
    }
}

/// The effective uid of this process (the owner of /proc/self).
pub fn euid() -> u32 {
    std::fs::metadata("/proc/self").map_or(u32::MAX, |m| m.uid())
}

/// Whether this process runs as root.
pub fn running_as_root() -> bool {
    euid() == 0
}

/// Whether the tests run in CI (`CI` set), where nothing may be skipped.
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some()
}

/// For a check that needs `what` (a program, a module): in CI its absence
/// fails the test; elsewhere the caller skips the check, and a note says so.
/// Returns `present`.
#[track_caller]
pub fn required_in_ci(present: bool, what: &str) -> bool {
    assert!(
        present || !in_ci(),
        "{what} is required in CI (scripts/deps.sh --test)"
    );
    if !present {
        eprintln!("{what} is not installed: not checked here");
    }
    present
}

/// Whether `program` can be started (with `arg`, e.g. `--version`).
pub fn program_present(program: &str, arg: &str) -> bool {
    std::process::Command::new(program)
        .arg(arg)
        .stdin(std::process::Stdio::null())
        .output()
        .is_ok()
}

/// The names in `dir`, sorted (empty when it cannot be read).
pub fn list(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// A fresh temporary directory, removed on drop.
pub struct Dir(tempfile::TempDir);

impl Dir {
    /// A directory whose name starts with `prefix`.
    pub fn new(prefix: &str) -> Dir {
        Dir(tempfile::Builder::new()
            .prefix(prefix)
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a temporary directory: {e}")))
    }

    pub fn path(&self) -> &Path {
        self.0.path()
    }

    /// The path of `name` in this directory, as an argument for a program.
    pub fn file(&self, name: &str) -> String {
        self.join(name).display().to_string()
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.path().join(name)
    }

    /// The names in this directory, sorted.
    pub fn list(&self) -> Vec<String> {
        list(self.path())
    }
}
