//! The operating-system calls the shell layer needs beside libpam: reading
//! the user's passwd entry. Like `ffi.rs`,
//! this is where the crate's `unsafe` lives.

use std::ffi::{CStr, CString, c_char};

/// The GECOS (real name) field of `user` through the name service, as
/// pam_pwquality's `gecoscheck` reads it; `None` when the user is unknown.
pub fn gecos(user: &str) -> Option<String> {
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
    let Ok(text) = std::fs::read(passwd_file) else {
        return false;
    };
    text.split(|&b| b == b'\n').any(|line| {
        line.strip_prefix(user.as_bytes())
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
