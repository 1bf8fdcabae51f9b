//! The PAM layer both modules share: the guarded entry points, syslog, the
//! conversation, and the few libpam calls `pam-bindings` does not wrap
//! (setting `PAM_AUTHTOK`, the chauthtok flags, `pam_syslog`).
//!
//! Everything `unsafe` in the project's modules lives here or in a module's
//! one `ffi.rs`. Callers above this layer see safe functions over a
//! `&mut PamHandle` and plain Rust values.

#![deny(clippy::expect_used)]

use std::ffi::{CStr, CString, c_char, c_int, c_uint, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};

pub mod pq;

pub use pam;
pub use pam::constants::PamResultCode;
pub use pam::module::PamHandle;
use zeroize::Zeroizing;

/// `pam_chauthtok` runs each password module twice: first with this flag to
/// check that the change can happen at all...
pub const PAM_PRELIM_CHECK: c_uint = 0x4000;
/// ...then with this one to do it (values from `<security/_pam_types.h>`).
pub const PAM_UPDATE_AUTHTOK: c_uint = 0x2000;
pub const PAM_SILENT: c_uint = pam::constants::PAM_SILENT;

const PAM_AUTHTOK: c_int = 6;
const PAM_OLDAUTHTOK: c_int = 7;

#[link(name = "pam")]
unsafe extern "C" {
    fn pam_syslog(pamh: *const PamHandle, priority: c_int, fmt: *const c_char, ...);
    fn pam_set_item(pamh: *mut PamHandle, item_type: c_int, item: *const c_void) -> c_int;
    fn pam_get_item(pamh: *const PamHandle, item_type: c_int, item: *mut *const c_void) -> c_int;
    fn pam_get_authtok_noverify(
        pamh: *mut PamHandle,
        authtok: *mut *const c_char,
        prompt: *const c_char,
    ) -> c_int;
    fn pam_get_authtok_verify(
        pamh: *mut PamHandle,
        authtok: *mut *const c_char,
        prompt: *const c_char,
    ) -> c_int;
}

/// A module's implementation of one `pam_sm_*` entry point.
pub type Hook = fn(&mut PamHandle, &[&CStr], c_uint) -> PamResultCode;

/// Exports `pam_sm_*` entry points that run the given safe hooks.
///
/// ```ignore
/// pam_ext::export_hooks!(pam_sm_authenticate => crate::shell::authenticate);
/// ```
///
/// Only the named entry points are exported, so libpam reports a module
/// placed in a stack it does not implement instead of silently ignoring it.
#[macro_export]
macro_rules! export_hooks {
    ($($name:ident => $hook:path),+ $(,)?) => {
        $(
            /// PAM entry point; see `pam(3)`.
            ///
            /// # Safety
            /// Called by libpam with a valid handle and `argc` valid C strings in `argv`.
            #[unsafe(no_mangle)]
            pub unsafe extern "C" fn $name(
                pamh: *mut $crate::PamHandle,
                flags: ::std::ffi::c_int,
                argc: ::std::ffi::c_int,
                argv: *const *const ::std::ffi::c_char,
            ) -> ::std::ffi::c_int {
                // SAFETY: libpam passes the handle, argc and argv of this call,
                // which is the contract `dispatch` documents.
                unsafe { $crate::dispatch(stringify!($name), pamh, flags, argc, argv, $hook) }
            }
        )+
    };
}

/// Validates the raw arguments of an entry point, runs `hook` and turns a
/// panic into `PAM_SYSTEM_ERR` with a syslog line, so no unwind ever reaches C.
///
/// # Safety
/// `pamh` is null or the live handle of this PAM call; when `argc > 0`, `argv`
/// points to `argc` pointers, each null or a NUL-terminated string that lives
/// for the duration of the call.
pub unsafe fn dispatch(
    entry: &'static str,
    pamh: *mut PamHandle,
    flags: c_int,
    argc: c_int,
    argv: *const *const c_char,
    hook: Hook,
) -> c_int {
    // SAFETY: per this function's contract, a non-null `pamh` is the live handle.
    let Some(handle) = (unsafe { pamh.as_mut() }) else {
        return PamResultCode::PAM_SYSTEM_ERR as c_int;
    };
    let count = usize::try_from(argc).unwrap_or(0);
    let raw: &[*const c_char] = if count == 0 || argv.is_null() {
        &[]
    } else {
        // SAFETY: argv holds `argc` pointers (contract above) and is non-null.
        unsafe { std::slice::from_raw_parts(argv, count) }
    };
    let mut args = Vec::with_capacity(raw.len());
    for &p in raw {
        if p.is_null() {
            return PamResultCode::PAM_SYSTEM_ERR as c_int;
        }
        // SAFETY: each non-null element is a NUL-terminated string valid for this call.
        args.push(unsafe { CStr::from_ptr(p) });
    }
    #[allow(clippy::cast_sign_loss)]
    let flags = flags as c_uint;
    match catch_unwind(AssertUnwindSafe(|| hook(handle, &args, flags))) {
        Ok(code) => code as c_int,
        Err(_) => {
            let _ = catch_unwind(AssertUnwindSafe(|| {
                syslog(
                    handle,
                    Priority::Crit,
                    &format!("internal error in {entry}; refusing"),
                )
            }));
            PamResultCode::PAM_SYSTEM_ERR as c_int
        }
    }
}

/// Syslog priorities the modules use (facility is always LOG_AUTHPRIV).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Priority {
    Crit,
    Err,
    Warning,
    Notice,
    Info,
    Debug,
}

impl Priority {
    fn level(self) -> c_int {
        match self {
            Priority::Crit => libc::LOG_CRIT,
            Priority::Err => libc::LOG_ERR,
            Priority::Warning => libc::LOG_WARNING,
            Priority::Notice => libc::LOG_NOTICE,
            Priority::Info => libc::LOG_INFO,
            Priority::Debug => libc::LOG_DEBUG,
        }
    }
}

/// Writes one line to syslog through `pam_syslog`, which prefixes it with
/// `module(service:stack)` and uses LOG_AUTHPRIV. The text is passed as a
/// `%s` argument, never as the format, so user-controlled names cannot
/// inject conversions. NUL bytes are replaced.
pub fn syslog(pamh: &PamHandle, priority: Priority, message: &str) {
    let text = CString::new(message.replace('\0', "\\0")).unwrap_or_default();
    // SAFETY: `pamh` is a live handle; the format is a static "%s" and its one
    // argument is a NUL-terminated string that outlives the call.
    unsafe {
        pam_syslog(
            pamh,
            priority.level() | libc::LOG_AUTHPRIV,
            c"%s".as_ptr(),
            text.as_ptr(),
        )
    }
}

/// Sets `PAM_AUTHTOK` for the modules stacked after this one (e.g.
/// `pam_unix.so use_authtok`). libpam copies the string.
pub fn set_authtok(pamh: &mut PamHandle, token: &[u8]) -> Result<(), PamResultCode> {
    set_secret_item(pamh, PAM_AUTHTOK, token)
}

/// Sets `PAM_OLDAUTHTOK`; only a module may do this.
pub fn set_old_authtok(pamh: &mut PamHandle, token: &[u8]) -> Result<(), PamResultCode> {
    set_secret_item(pamh, PAM_OLDAUTHTOK, token)
}

fn set_secret_item(pamh: &mut PamHandle, item: c_int, token: &[u8]) -> Result<(), PamResultCode> {
    if token.contains(&0) {
        return Err(PamResultCode::PAM_BUF_ERR);
    }
    let mut owned = Zeroizing::new(Vec::with_capacity(token.len() + 1));
    owned.extend_from_slice(token);
    owned.push(0);
    // SAFETY: `pamh` is a live handle; `owned` is NUL-terminated with no
    // interior NUL and outlives the call; libpam copies string items.
    let rc = unsafe { pam_set_item(pamh, item, owned.as_ptr().cast()) };
    code(rc)
}

/// Clears `PAM_AUTHTOK`, e.g. after a refused new password.
pub fn clear_authtok(pamh: &mut PamHandle) {
    // SAFETY: `pamh` is a live handle; a null item clears it.
    let _ = unsafe { pam_set_item(pamh, PAM_AUTHTOK, std::ptr::null()) };
}

/// Gets the new password the way libpam's password modules do: from
/// `PAM_AUTHTOK` when the module was given `use_authtok`, otherwise by asking
/// "New password: " (honouring `authtok_type=`). Not confirmed yet.
pub fn new_authtok_noverify(pamh: &mut PamHandle) -> Result<Zeroizing<Vec<u8>>, PamResultCode> {
    let mut ptr: *const c_char = std::ptr::null();
    // SAFETY: `pamh` is a live handle, `ptr` a valid out-pointer; a null
    // prompt selects libpam's default.
    code(unsafe { pam_get_authtok_noverify(pamh, &mut ptr, std::ptr::null()) })?;
    copy_token(ptr)
}

/// Asks "Retype new password: " and compares with the pending `PAM_AUTHTOK`;
/// on a mismatch libpam tells the user and this returns `PAM_TRY_AGAIN`.
pub fn new_authtok_verify(pamh: &mut PamHandle) -> Result<Zeroizing<Vec<u8>>, PamResultCode> {
    // libpam compares the retyped answer with `*authtok`, so it must start as
    // the pending PAM_AUTHTOK (what `new_authtok_noverify` stored).
    let mut pending: *const c_void = std::ptr::null();
    // SAFETY: `pamh` is a live handle and `pending` a valid out-pointer.
    code(unsafe { pam_get_item(pamh, PAM_AUTHTOK, &mut pending) })?;
    if pending.is_null() {
        return Err(PamResultCode::PAM_AUTHTOK_ERR);
    }
    let mut ptr: *const c_char = pending.cast();
    // SAFETY: `ptr` points to the NUL-terminated PAM_AUTHTOK item, which
    // libpam reads before it replaces or clears the item.
    code(unsafe { pam_get_authtok_verify(pamh, &mut ptr, std::ptr::null()) })?;
    copy_token(ptr)
}

fn copy_token(ptr: *const c_char) -> Result<Zeroizing<Vec<u8>>, PamResultCode> {
    if ptr.is_null() {
        return Err(PamResultCode::PAM_AUTHTOK_ERR);
    }
    // SAFETY: libpam returned a NUL-terminated item string it owns; we copy it at once.
    let bytes = unsafe { CStr::from_ptr(ptr) }.to_bytes();
    Ok(Zeroizing::new(bytes.to_vec()))
}

/// Reads `PAM_AUTHTOK` (or `PAM_OLDAUTHTOK` with `old`) as owned, zeroizing bytes.
pub fn get_authtok(
    pamh: &PamHandle,
    old: bool,
) -> Result<Option<Zeroizing<Vec<u8>>>, PamResultCode> {
    let mut ptr: *const c_void = std::ptr::null();
    let item = if old { PAM_OLDAUTHTOK } else { PAM_AUTHTOK };
    // SAFETY: `pamh` is a live handle and `ptr` a valid out-pointer.
    code(unsafe { pam_get_item(pamh, item, &mut ptr) })?;
    if ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: libpam stores string items NUL-terminated; the pointer stays valid
    // until the item is changed, and we copy it out at once.
    let bytes = unsafe { CStr::from_ptr(ptr.cast::<c_char>()) }.to_bytes();
    Ok(Some(Zeroizing::new(bytes.to_vec())))
}

fn code(rc: c_int) -> Result<(), PamResultCode> {
    match PamResultCode::try_from(rc) {
        Ok(PamResultCode::PAM_SUCCESS) => Ok(()),
        Ok(other) => Err(other),
        Err(_) => Err(PamResultCode::PAM_SYSTEM_ERR),
    }
}

/// The string items a module reads for its decisions and log lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StrItem {
    Service = 1,
    User = 2,
    Tty = 3,
    RHost = 4,
    RUser = 8,
}

/// Reads a string item (service, rhost, tty, ...) as lossy UTF-8; `None`
/// when it is unset.
pub fn item_string(pamh: &PamHandle, item: StrItem) -> Option<String> {
    let mut ptr: *const c_void = std::ptr::null();
    // SAFETY: `pamh` is a live handle and `ptr` a valid out-pointer.
    code(unsafe { pam_get_item(pamh, item as c_int, &mut ptr) }).ok()?;
    if ptr.is_null() {
        return None;
    }
    // SAFETY: these items are NUL-terminated strings owned by libpam, valid
    // until changed; we copy at once.
    let text = unsafe { CStr::from_ptr(ptr.cast::<c_char>()) };
    Some(text.to_string_lossy().into_owned())
}

/// Reads a string item as its raw bytes (a user name need not be UTF-8);
/// `None` when it is unset.
pub fn item_bytes(pamh: &PamHandle, item: StrItem) -> Option<Vec<u8>> {
    let mut ptr: *const c_void = std::ptr::null();
    // SAFETY: `pamh` is a live handle and `ptr` a valid out-pointer.
    code(unsafe { pam_get_item(pamh, item as c_int, &mut ptr) }).ok()?;
    if ptr.is_null() {
        return None;
    }
    // SAFETY: as in `item_string`: a NUL-terminated string owned by libpam,
    // copied at once.
    let text = unsafe { CStr::from_ptr(ptr.cast::<c_char>()) };
    Some(text.to_bytes().to_vec())
}

/// The conversation with the user, behind a trait so a module's logic can be
/// tested without libpam.
pub trait Conversation {
    /// Asks a question; `echo` says whether the answer may be shown as typed.
    fn prompt(&mut self, text: &str, echo: bool) -> Result<Zeroizing<Vec<u8>>, PamResultCode>;
    /// Shows an error message (PAM_ERROR_MSG).
    fn error(&mut self, text: &str);
    /// Shows an informational message (PAM_TEXT_INFO).
    fn info(&mut self, text: &str);
}

/// The conversation of a live PAM handle. With `silent` (PAM_SILENT),
/// informational and error messages are suppressed; prompts are not.
pub struct PamConversation<'a> {
    pamh: &'a PamHandle,
    silent: bool,
}

impl<'a> PamConversation<'a> {
    pub fn new(pamh: &'a PamHandle, flags: c_uint) -> Self {
        Self {
            pamh,
            silent: flags & PAM_SILENT != 0,
        }
    }

    fn send(&self, style: c_int, text: &str) -> Result<Option<Zeroizing<Vec<u8>>>, PamResultCode> {
        let conv = self
            .pamh
            .get_item::<pam::conv::Conv>()?
            .ok_or(PamResultCode::PAM_CONV_ERR)?;
        let reply = conv.send(style, text)?;
        Ok(reply.map(|r| Zeroizing::new(r.as_bytes().to_vec())))
    }
}

impl Conversation for PamConversation<'_> {
    fn prompt(&mut self, text: &str, echo: bool) -> Result<Zeroizing<Vec<u8>>, PamResultCode> {
        let style = if echo {
            pam::constants::PAM_PROMPT_ECHO_ON
        } else {
            pam::constants::PAM_PROMPT_ECHO_OFF
        };
        self.send(style, text)?.ok_or(PamResultCode::PAM_CONV_ERR)
    }

    fn error(&mut self, text: &str) {
        if !self.silent {
            let _ = self.send(pam::constants::PAM_ERROR_MSG, text);
        }
    }

    fn info(&mut self, text: &str) {
        if !self.silent {
            let _ = self.send(pam::constants::PAM_TEXT_INFO, text);
        }
    }
}

/// Module arguments as UTF-8 strings; a non-UTF-8 argument is an error that
/// shows it (lossily), so it can be named in the syslog line.
pub fn args_utf8<'a>(args: &[&'a CStr]) -> Result<Vec<&'a str>, String> {
    args.iter()
        .map(|a| a.to_str().map_err(|_| a.to_string_lossy().into_owned()))
        .collect()
}

/// The caller's real uid (pam_pwquality treats uid 0 as "root is changing a password").
pub fn real_uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

const PAM_AUTHTOK_TYPE: c_int = 13;

/// Sets `PAM_AUTHTOK_TYPE`, the word libpam puts in its password prompts
/// ("New UNIX password: "), as pam_pwquality's `type=` option does.
pub fn set_authtok_type(pamh: &mut PamHandle, word: &str) -> Result<(), PamResultCode> {
    set_secret_item(pamh, PAM_AUTHTOK_TYPE, word.as_bytes())
}

/// Writes the one syslog line of a decision, the same for both modules:
/// `service=S user=U rhost=H outcome=WORD reason="TEXT"`. Whatever a user
/// name, a host or a reason contains, the line stays one line of these
/// fields: control characters and backslashes become `\xNN`, and so do
/// quotes and spaces in the unquoted fields.
pub fn log_decision(
    pamh: &PamHandle,
    priority: Priority,
    user: Option<&str>,
    outcome: &str,
    reason: &str,
) {
    let service = item_string(pamh, StrItem::Service).unwrap_or_default();
    let rhost = item_string(pamh, StrItem::RHost).unwrap_or_default();
    syslog(
        pamh,
        priority,
        &format!(
            "service={} user={} rhost={} outcome={outcome} reason=\"{}\"",
            escape_field(&service, true),
            escape_field(user.unwrap_or(""), true),
            escape_field(&rhost, true),
            escape_field(reason, false)
        ),
    );
}

/// Characters that change how the text around them is shown without being
/// control characters: bidirectional marks, embeddings, overrides and
/// isolates, and the line and paragraph separators. A user name or rhost
/// holding one could make an admin read a line in another order.
fn reorders_text(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}'
    )
}

/// A log field as [`log_decision`] writes it: control characters and
/// characters that reorder text escaped; with `unquoted`, blanks and `"` too.
pub fn escape_field(text: &str, unquoted: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control()
            || reorders_text(c)
            || c == '\\'
            || (unquoted && (c.is_whitespace() || c == '"'))
        {
            for b in c.to_string().bytes() {
                out.push_str(&format!("\\x{b:02x}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape_field;

    #[test]
    fn log_fields_cannot_forge_other_fields() {
        assert_eq!(escape_field("alice", true), "alice");
        assert_eq!(escape_field("a b\"c", true), "a\\x20b\\x22c");
        assert_eq!(
            escape_field("x\noutcome=accepted", true),
            "x\\x0aoutcome=accepted"
        );
        assert_eq!(escape_field("a b \"q\"\r", false), "a b \"q\"\\x0d");
        assert_eq!(escape_field("ß é", false), "ß é");
    }

    #[test]
    fn characters_that_reorder_text_are_escaped() {
        for c in [
            '\u{061C}', '\u{200E}', '\u{200F}', '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}',
            '\u{202E}', '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}', '\u{2028}', '\u{2029}',
        ] {
            for unquoted in [true, false] {
                let shown = escape_field(&format!("a{c}b"), unquoted);
                assert!(!shown.contains(c), "{c:?} -> {shown}");
                assert!(shown.starts_with("a\\x") && shown.ends_with('b'), "{shown}");
            }
        }
        assert_eq!(escape_field("\u{202e}", true), "\\xe2\\x80\\xae");
    }
}
