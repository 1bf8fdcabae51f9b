//! The QR image files hold a secret that is only enrolled once the app's
//! code is confirmed. If the user gives up with Ctrl-C (or the terminal
//! goes away) while the code is asked for, they are removed before the
//! process ends, as they are on every other way out.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

static PATHS: OnceLock<Vec<CString>> = OnceLock::new();
static KEEP: AtomicBool = AtomicBool::new(false);

const SIGNALS: [libc::c_int; 4] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT];

extern "C" fn on_signal(signal: libc::c_int) {
    if !KEEP.load(Ordering::SeqCst)
        && let Some(paths) = PATHS.get()
    {
        for path in paths {
            // SAFETY: unlink is async-signal-safe; the path is a valid C string
            // that lives in a static set before this handler was installed.
            unsafe {
                libc::unlink(path.as_ptr());
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

/// Removes `paths` if a terminating signal arrives before [`keep`]. Only
/// the first call takes effect.
pub fn remove_on_signal(paths: &[PathBuf]) {
    let c_paths = paths
        .iter()
        .filter_map(|p| CString::new(p.as_os_str().as_bytes()).ok())
        .collect();
    if PATHS.set(c_paths).is_err() {
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

/// The enrollment is saved: the files stay whatever happens now.
pub fn keep() {
    KEEP.store(true, Ordering::SeqCst);
}
