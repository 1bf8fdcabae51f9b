//! Test-only PAM module `pam_harness_items`. An application cannot set or read
//! `PAM_AUTHTOK` / `PAM_OLDAUTHTOK` (libpam refuses outside a module), so the
//! harness stacks this module to do it, passing values through the PAM
//! environment:
//!
//! - `set`: copies `HARNESS_AUTHTOK` / `HARNESS_OLDAUTHTOK` (PAM environment)
//!   into the items, then removes them from the environment; and
//!   `HARNESS_USER_HEX` (hex bytes) into PAM_USER, for user names that are
//!   not UTF-8, which the driver's JSON script cannot carry.
//! - `record`: copies the items (and the user) into `HARNESS_SEEN_*` PAM
//!   environment variables, which the driver reads after the call.
//!
//! - `panic`: panics, to show that the shared entry-point guard turns a panic
//!   into PAM_SYSTEM_ERR instead of unwinding into libpam.
//!
//! Otherwise it returns PAM_IGNORE, so it never changes a stack's result.

use std::ffi::{CStr, CString, c_char, c_int, c_uint};

use pam_ext::{PamHandle, PamResultCode, StrItem};

#[link(name = "pam")]
unsafe extern "C" {
    fn pam_getenv(pamh: *mut PamHandle, name: *const c_char) -> *const c_char;
    fn pam_putenv(pamh: *mut PamHandle, name_value: *const c_char) -> c_int;
    fn pam_set_item(pamh: *mut PamHandle, item_type: c_int, item: *const std::ffi::c_void)
    -> c_int;
}

const PAM_USER: c_int = 2;

pam_ext::export_hooks!(
    pam_sm_authenticate => hook,
    pam_sm_setcred => hook,
    pam_sm_acct_mgmt => hook,
    pam_sm_chauthtok => hook,
    pam_sm_open_session => hook,
    pam_sm_close_session => hook,
);

fn hook(pamh: &mut PamHandle, args: &[&CStr], flags: c_uint) -> PamResultCode {
    for arg in args {
        match arg.to_bytes() {
            b"set" => set(pamh),
            b"record" => record(pamh, flags),
            b"panic" => deliberate_panic(),
            _ => {}
        }
    }
    PamResultCode::PAM_IGNORE
}

fn getenv(pamh: &mut PamHandle, name: &CStr) -> Option<Vec<u8>> {
    // SAFETY: live handle and NUL-terminated name; the result is null or a
    // string owned by libpam that we copy at once.
    let p = unsafe { pam_getenv(pamh, name.as_ptr()) };
    // SAFETY: see above.
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_bytes().to_vec())
}

fn putenv(pamh: &mut PamHandle, entry: &[u8]) {
    if let Ok(c) = CString::new(entry) {
        // SAFETY: live handle and a NUL-terminated "NAME=value" or "NAME" (unset) string; libpam copies it.
        let _ = unsafe { pam_putenv(pamh, c.as_ptr()) };
    }
}

fn set(pamh: &mut PamHandle) {
    if let Some(tok) = getenv(pamh, c"HARNESS_AUTHTOK") {
        let _ = pam_ext::set_authtok(pamh, &tok);
        putenv(pamh, b"HARNESS_AUTHTOK");
    }
    if let Some(tok) = getenv(pamh, c"HARNESS_OLDAUTHTOK") {
        let _ = pam_ext::set_old_authtok(pamh, &tok);
        putenv(pamh, b"HARNESS_OLDAUTHTOK");
    }
    if let Some(hex) = getenv(pamh, c"HARNESS_USER_HEX") {
        let bytes: Option<Vec<u8>> = hex
            .chunks(2)
            .map(|p| u8::from_str_radix(std::str::from_utf8(p).ok()?, 16).ok())
            .collect();
        if let Some(user) = bytes.and_then(|b| CString::new(b).ok()) {
            // SAFETY: live handle; libpam copies the NUL-terminated string.
            let _ = unsafe { pam_set_item(pamh, PAM_USER, user.as_ptr().cast()) };
        }
        putenv(pamh, b"HARNESS_USER_HEX");
    }
}

fn record(pamh: &mut PamHandle, flags: c_uint) {
    let mut entries: Vec<Vec<u8>> = Vec::new();
    for (name, old) in [("AUTHTOK", false), ("OLDAUTHTOK", true)] {
        if let Ok(Some(tok)) = pam_ext::get_authtok(pamh, old) {
            entries.push([format!("HARNESS_SEEN_{name}=").as_bytes(), &tok].concat());
        }
    }
    if let Some(user) = pam_ext::item_string(pamh, StrItem::User) {
        entries.push(format!("HARNESS_SEEN_USER={user}").into_bytes());
    }
    entries.push(format!("HARNESS_SEEN_FLAGS={flags:#x}").into_bytes());
    for e in entries {
        putenv(pamh, &e);
    }
}

#[allow(clippy::panic)]
fn deliberate_panic() {
    panic!("deliberate panic requested by the test stack");
}
