//! The QR image files hold a secret that is only enrolled once the app's
//! code is confirmed. If the user gives up with Ctrl-C (or the terminal
//! goes away) while the code is asked for, they are removed before the
//! process ends, as they are on every other way out. Removal is by name
//! within a handle on the file's directory, with the owner's file-system
//! identity, also from the signal handler.

use std::ffi::{CString, OsStr};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

/// A file by name within an open directory.
pub struct Placed {
    dir: OwnedFd,
    name: CString,
}

impl Placed {
    pub fn new(dir: OwnedFd, name: &OsStr) -> Option<Self> {
        let name = CString::new(name.as_bytes()).ok()?;
        Some(Placed { dir, name })
    }

    /// Removes the file (with the caller's current file-system identity).
    pub fn remove(&self) {
        let _ = nix::unistd::unlinkat(
            &self.dir,
            self.name.as_c_str(),
            nix::unistd::UnlinkatFlags::NoRemoveDir,
        );
    }
}

struct Guarded {
    files: Vec<Placed>,
    owner: (u32, u32),
}

static GUARDED: OnceLock<Guarded> = OnceLock::new();
static KEEP: AtomicBool = AtomicBool::new(false);

const SIGNALS: [libc::c_int; 4] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT];

extern "C" fn on_signal(signal: libc::c_int) {
    if !KEEP.load(Ordering::SeqCst)
        && let Some(g) = GUARDED.get()
    {
        // SAFETY: setfsgid, setfsuid and unlinkat are async-signal-safe system
        // calls; the descriptors and names live in a static set before this
        // handler was installed and are never freed.
        unsafe {
            libc::setfsgid(g.owner.1);
            libc::setfsuid(g.owner.0);
            for f in &g.files {
                libc::unlinkat(f.dir.as_raw_fd(), f.name.as_ptr(), 0);
            }
        }
    }
    // SAFETY: signal and raise are async-signal-safe; with the default
    // action restored, the process ends as the signal would have ended it.
    unsafe {
        libc::signal(signal, libc::SIG_DFL);
        libc::raise(signal);
    }
}

/// Removes `files` as `owner` (uid, gid) if a terminating signal arrives
/// before [`keep`]. Only the first call takes effect.
pub fn remove_on_signal(files: Vec<Placed>, owner: (u32, u32)) {
    if GUARDED.set(Guarded { files, owner }).is_err() {
        return;
    }
    let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    for signal in SIGNALS {
        // SAFETY: installs a handler that only makes async-signal-safe calls.
        unsafe {
            libc::signal(signal, handler);
        }
    }
}

/// Removes the guarded files now (the caller holds the owner's identity).
pub fn remove_now() {
    if !KEEP.load(Ordering::SeqCst)
        && let Some(g) = GUARDED.get()
    {
        for f in &g.files {
            f.remove();
        }
    }
}

/// The enrollment is saved: the files stay whatever happens now.
pub fn keep() {
    KEEP.store(true, Ordering::SeqCst);
}
