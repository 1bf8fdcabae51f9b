//! The operating-system calls the shell layer needs beside libpam: reading
//! the user's passwd entry. Like `ffi.rs`,
//! this is where the crate's `unsafe` lives: gettext and setlocale, and
//! the name service.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::ffi::{CStr, CString, c_char, c_int};

use crate::check::Catalog;
use crate::verdict::Account;

/// Where `local_users_only` looks, as pam_pwquality does.
pub const PASSWD_FILE: &str = "/etc/passwd";

/// The account whose password changes, looked up through the system: the
/// name as PAM gave it (bytes; they need not be UTF-8), its GECOS field from
/// the name service (looked up once, when a check needs it) and whether
/// /etc/passwd lists it.
pub struct SystemAccount {
    raw: Vec<u8>,
    name: String,
    gecos: OnceCell<Option<String>>,
}

impl SystemAccount {
    pub fn new(raw: Vec<u8>) -> Self {
        let name = String::from_utf8_lossy(&raw).into_owned();
        Self {
            raw,
            name,
            gecos: OnceCell::new(),
        }
    }
}

impl Account for SystemAccount {
    fn name(&self) -> &str {
        &self.name
    }
    fn gecos(&self) -> Option<String> {
        self.gecos.get_or_init(|| gecos_bytes(&self.raw)).clone()
    }
    fn is_local(&self) -> bool {
        is_local_user_bytes(&self.raw, PASSWD_FILE)
    }
}

unsafe extern "C" {
    // glibc's gettext, built into libc.
    fn dgettext(domainname: *const c_char, msgid: *const c_char) -> *mut c_char;
    fn setlocale(category: c_int, locale: *const c_char) -> *mut c_char;
}

/// Messages through libpwquality's and cracklib's installed gettext
/// catalogs, in the process's locale (LC_MESSAGES, as the application set it
/// with setlocale). Without a catalog or a translation, the English text.
pub struct Gettext;

impl Catalog for Gettext {
    fn libpwquality<'a>(&self, msgid: &'a str) -> Cow<'a, str> {
        translate(c"libpwquality", msgid)
    }
    fn cracklib<'a>(&self, msgid: &'a str) -> Cow<'a, str> {
        translate(c"cracklib", msgid)
    }
}

fn translate<'a>(domain: &CStr, msgid: &'a str) -> Cow<'a, str> {
    let Ok(id) = CString::new(msgid) else {
        return Cow::Borrowed(msgid);
    };
    // SAFETY: both arguments are NUL-terminated strings that outlive the
    // call; dgettext returns either `id` itself or a string owned by the
    // loaded catalog, which stays valid while the process runs.
    let text = unsafe { dgettext(domain.as_ptr(), id.as_ptr()) };
    if text.is_null() || std::ptr::eq(text.cast_const(), id.as_ptr()) {
        return Cow::Borrowed(msgid);
    }
    // SAFETY: non-null and NUL-terminated, see above.
    let text = unsafe { CStr::from_ptr(text) };
    match text.to_str() {
        Ok(t) if t != msgid => Cow::Owned(t.to_owned()),
        // Another character set than UTF-8: the English text is safer than
        // bytes the terminal may misread.
        _ => Cow::Borrowed(msgid),
    }
}

/// zxcvbn's score calls `log10`, the module's only use of libm. Linking
/// libm.so.6 for it costs every process that loads the module about 500 KiB
/// of resident memory (the library's pages the loader touches), more than
/// the rest of the module. This hidden definition, in pure Rust, satisfies
/// the call inside the module, so libm is not linked; being hidden, it is
/// not exported and cannot stand in for anyone else's `log10`.
extern "C" fn pure_log10(x: f64) -> f64 {
    libm::log10(x)
}

#[cfg(target_arch = "x86_64")]
std::arch::global_asm!(
    ".globl log10",
    ".hidden log10",
    ".type log10, @function",
    "log10:",
    "jmp {f}",
    ".size log10, . - log10",
    f = sym pure_log10,
);

#[cfg(target_arch = "aarch64")]
std::arch::global_asm!(
    ".globl log10",
    ".hidden log10",
    ".type log10, %function",
    "log10:",
    "b {f}",
    ".size log10, . - log10",
    f = sym pure_log10,
);

/// For the checker: take the locale from the environment (LANG, LC_ALL,
/// LC_MESSAGES), as passwd and other applications do before PAM runs.
pub fn use_environment_locale() {
    // SAFETY: called once at the start of a single-threaded program; the
    // empty string asks for the environment's locale.
    unsafe {
        setlocale(libc::LC_ALL, c"".as_ptr());
    }
}

/// The GECOS (real name) field of `user` through the name service, as
/// pam_pwquality's `gecoscheck` reads it; `None` when the user is unknown.
pub fn gecos(user: &str) -> Option<String> {
    gecos_bytes(user.as_bytes())
}

fn gecos_bytes(user: &[u8]) -> Option<String> {
    let name = CString::new(user).ok()?;
    let mut buf = vec![0 as c_char; 16 * 1024];
    loop {
        // SAFETY: all-zero is a valid `passwd` (null pointers, zero ids).
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: `name` is NUL-terminated; `pwd`, `buf` (with its true length)
        // and `result` are valid for writes for the duration of the call.
        let rc = unsafe {
            libc::getpwnam_r(
                name.as_ptr(),
                &mut pwd,
                buf.as_mut_ptr(),
                buf.len(),
                &mut result,
            )
        };
        if rc == libc::ERANGE && buf.len() < 1024 * 1024 {
            buf.resize(buf.len() * 4, 0);
            continue;
        }
        if rc != 0 || result.is_null() || pwd.pw_gecos.is_null() {
            return None;
        }
        // SAFETY: on success `pw_gecos` points into `buf`, NUL-terminated.
        let text = unsafe { CStr::from_ptr(pwd.pw_gecos) };
        return Some(text.to_string_lossy().into_owned());
    }
}

/// Whether `user` has a line in /etc/passwd (not NIS, LDAP or SSSD), which
/// is what `local_users_only` means in pam_pwquality.
pub fn is_local_user(user: &str, passwd_file: &str) -> bool {
    is_local_user_bytes(user.as_bytes(), passwd_file)
}

fn is_local_user_bytes(user: &[u8], passwd_file: &str) -> bool {
    if user.is_empty() || user.contains(&b':') {
        return false;
    }
    let Ok(text) = std::fs::read(passwd_file) else {
        return false;
    };
    text.split(|&b| b == b'\n').any(|line| {
        line.strip_prefix(user)
            .is_some_and(|rest| rest.first() == Some(&b':'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_local_and_has_an_entry() {
        assert!(is_local_user("root", "/etc/passwd"));
        assert!(!is_local_user("roo", "/etc/passwd"));
        assert!(!is_local_user("no-such-user-here", "/etc/passwd"));
        assert!(gecos("root").is_some());
        assert!(gecos("no-such-user-here").is_none());
        assert!(gecos("bad\0name").is_none());
    }
}
