//! The application side of libpam, as the driver uses it: start a handle on a
//! private config directory, set items, make calls, answer the conversation
//! from a script and record every message.

use std::collections::BTreeMap;
use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::spec::{Answer, Message, Op, StepResult};

#[repr(C)]
struct PamMessage {
    msg_style: c_int,
    msg: *const c_char,
}

#[repr(C)]
struct PamResponse {
    resp: *mut c_char,
    resp_retcode: c_int,
}

type ConvFn = unsafe extern "C" fn(
    c_int,
    *mut *const PamMessage,
    *mut *mut PamResponse,
    *mut c_void,
) -> c_int;

#[repr(C)]
struct PamConv {
    conv: ConvFn,
    appdata_ptr: *mut c_void,
}

#[repr(C)]
struct RawHandle {
    _private: [u8; 0],
}

#[link(name = "pam")]
unsafe extern "C" {
    fn pam_start_confdir(
        service: *const c_char,
        user: *const c_char,
        conv: *const PamConv,
        confdir: *const c_char,
        pamh: *mut *mut RawHandle,
    ) -> c_int;
    fn pam_end(pamh: *mut RawHandle, status: c_int) -> c_int;
    fn pam_set_item(pamh: *mut RawHandle, item_type: c_int, item: *const c_void) -> c_int;
    fn pam_putenv(pamh: *mut RawHandle, name_value: *const c_char) -> c_int;
    fn pam_getenvlist(pamh: *mut RawHandle) -> *mut *mut c_char;
    fn pam_authenticate(pamh: *mut RawHandle, flags: c_int) -> c_int;
    fn pam_setcred(pamh: *mut RawHandle, flags: c_int) -> c_int;
    fn pam_acct_mgmt(pamh: *mut RawHandle, flags: c_int) -> c_int;
    fn pam_chauthtok(pamh: *mut RawHandle, flags: c_int) -> c_int;
    fn pam_open_session(pamh: *mut RawHandle, flags: c_int) -> c_int;
    fn pam_close_session(pamh: *mut RawHandle, flags: c_int) -> c_int;
}

const PAM_SUCCESS: c_int = 0;
const PAM_BUF_ERR: c_int = 5;
const PAM_CONV_ERR: c_int = 19;

/// Linux-PAM's return codes by name, 0..=31.
const CODE_NAMES: [&str; 32] = [
    "PAM_SUCCESS",
    "PAM_OPEN_ERR",
    "PAM_SYMBOL_ERR",
    "PAM_SERVICE_ERR",
    "PAM_SYSTEM_ERR",
    "PAM_BUF_ERR",
    "PAM_PERM_DENIED",
    "PAM_AUTH_ERR",
    "PAM_CRED_INSUFFICIENT",
    "PAM_AUTHINFO_UNAVAIL",
    "PAM_USER_UNKNOWN",
    "PAM_MAXTRIES",
    "PAM_NEW_AUTHTOK_REQD",
    "PAM_ACCT_EXPIRED",
    "PAM_SESSION_ERR",
    "PAM_CRED_UNAVAIL",
    "PAM_CRED_EXPIRED",
    "PAM_CRED_ERR",
    "PAM_NO_MODULE_DATA",
    "PAM_CONV_ERR",
    "PAM_AUTHTOK_ERR",
    "PAM_AUTHTOK_RECOVERY_ERR",
    "PAM_AUTHTOK_LOCK_BUSY",
    "PAM_AUTHTOK_DISABLE_AGING",
    "PAM_TRY_AGAIN",
    "PAM_IGNORE",
    "PAM_ABORT",
    "PAM_AUTHTOK_EXPIRED",
    "PAM_MODULE_UNKNOWN",
    "PAM_BAD_ITEM",
    "PAM_CONV_AGAIN",
    "PAM_INCOMPLETE",
];

/// The name of a PAM return code, e.g. 7 → "PAM_AUTH_ERR".
pub fn code_name(code: i32) -> String {
    usize::try_from(code)
        .ok()
        .and_then(|i| CODE_NAMES.get(i))
        .map_or_else(|| format!("PAM_UNKNOWN({code})"), |s| (*s).to_owned())
}

/// The conversation script and what it recorded.
#[derive(Default)]
pub struct Script {
    answers: std::collections::VecDeque<Answer>,
    pub transcript: Vec<Message>,
}

impl Script {
    pub fn new(answers: Vec<Answer>) -> Self {
        Self {
            answers: answers.into(),
            transcript: Vec::new(),
        }
    }
}

fn style_name(style: c_int) -> String {
    match style {
        1 => "PROMPT_ECHO_OFF".into(),
        2 => "PROMPT_ECHO_ON".into(),
        3 => "ERROR_MSG".into(),
        4 => "TEXT_INFO".into(),
        5 => "RADIO_TYPE".into(),
        7 => "BINARY_PROMPT".into(),
        n => format!("STYLE_{n}"),
    }
}

/// The conversation function libpam calls. Answers prompts from the script in
/// order; records every message. Never unwinds into C.
unsafe extern "C" fn converse(
    num_msg: c_int,
    msg: *mut *const PamMessage,
    resp: *mut *mut PamResponse,
    appdata: *mut c_void,
) -> c_int {
    let result = catch_unwind(AssertUnwindSafe(|| {
        let count = usize::try_from(num_msg).unwrap_or(0);
        if count == 0 || msg.is_null() || resp.is_null() || appdata.is_null() {
            return PAM_CONV_ERR;
        }
        // SAFETY: appdata is the `Script` the driver registered with this handle;
        // libpam calls the conversation from the thread that called into it.
        let script = unsafe { &mut *appdata.cast::<Script>() };
        // SAFETY: calloc of `count` zeroed responses; freed by libpam (or below on error).
        let replies = unsafe { libc::calloc(count, std::mem::size_of::<PamResponse>()) }
            .cast::<PamResponse>();
        if replies.is_null() {
            return PAM_BUF_ERR;
        }
        for i in 0..count {
            // SAFETY: Linux-PAM passes an array of `num_msg` message pointers.
            let m = unsafe { &**msg.add(i) };
            let text = if m.msg.is_null() {
                String::new()
            } else {
                // SAFETY: message texts are NUL-terminated strings owned by libpam.
                unsafe { CStr::from_ptr(m.msg) }
                    .to_string_lossy()
                    .into_owned()
            };
            script.transcript.push(Message {
                style: style_name(m.msg_style),
                text,
            });
            if m.msg_style == 1 || m.msg_style == 2 {
                let answer = match script.answers.pop_front() {
                    Some(Answer::Late(t, ms)) => {
                        std::thread::sleep(std::time::Duration::from_millis(ms));
                        Some(Answer::Text(t))
                    }
                    other => other,
                };
                match answer {
                    Some(Answer::Text(t) | Answer::Late(t, _)) => {
                        let c = CString::new(t).unwrap_or_default();
                        // SAFETY: strdup copies into malloc'd memory that libpam frees.
                        let p = unsafe { libc::strdup(c.as_ptr()) };
                        // SAFETY: `i < count`, inside the calloc'd array.
                        unsafe { (*replies.add(i)).resp = p };
                    }
                    Some(Answer::Null) => {}
                    Some(Answer::Fail) | None => {
                        free_replies(replies, count);
                        return PAM_CONV_ERR;
                    }
                }
            }
        }
        // SAFETY: libpam takes ownership of the reply array.
        unsafe { *resp = replies };
        PAM_SUCCESS
    }));
    result.unwrap_or(PAM_CONV_ERR)
}

fn free_replies(replies: *mut PamResponse, count: usize) {
    for i in 0..count {
        // SAFETY: `replies` holds `count` entries, each null or strdup'd by us.
        unsafe { libc::free((*replies.add(i)).resp.cast()) };
    }
    // SAFETY: allocated with calloc above.
    unsafe { libc::free(replies.cast()) };
}

/// One PAM transaction, ended (`pam_end`) on drop.
pub struct Transaction {
    handle: *mut RawHandle,
    // Boxed so its address, registered with libpam, stays fixed.
    script: Box<Script>,
    _conv: Box<PamConv>,
    last: c_int,
}

impl Transaction {
    /// `pam_start_confdir`: reads only `confdir/<service>` (or `confdir/other`).
    pub fn start(
        service: &str,
        user: Option<&str>,
        confdir: &str,
        answers: Vec<Answer>,
    ) -> Result<Self, i32> {
        let mut script = Box::new(Script::new(answers));
        let conv = Box::new(PamConv {
            conv: converse,
            appdata_ptr: std::ptr::from_mut::<Script>(&mut *script).cast(),
        });
        let service = CString::new(service).map_err(|_| PAM_BUF_ERR)?;
        let confdir = CString::new(confdir).map_err(|_| PAM_BUF_ERR)?;
        let user = user
            .map(CString::new)
            .transpose()
            .map_err(|_| PAM_BUF_ERR)?;
        let mut handle = std::ptr::null_mut();
        // SAFETY: all strings are NUL-terminated and outlive the call; `conv`
        // and the script it points to are boxed and live as long as the handle.
        let rc = unsafe {
            pam_start_confdir(
                service.as_ptr(),
                user.as_ref().map_or(std::ptr::null(), |u| u.as_ptr()),
                &*conv,
                confdir.as_ptr(),
                &mut handle,
            )
        };
        if rc != PAM_SUCCESS || handle.is_null() {
            return Err(rc);
        }
        Ok(Self {
            handle,
            script,
            _conv: conv,
            last: PAM_SUCCESS,
        })
    }

    pub fn set_item(&mut self, name: &str, value: &str) -> Result<(), String> {
        let item = match name {
            "tty" => 3,
            "rhost" => 4,
            "ruser" => 8,
            "user" => 2,
            other => return Err(format!("unknown item {other}")),
        };
        let v = CString::new(value).map_err(|e| e.to_string())?;
        // SAFETY: live handle; libpam copies string items.
        let rc = unsafe { pam_set_item(self.handle, item, v.as_ptr().cast()) };
        if rc == PAM_SUCCESS {
            Ok(())
        } else {
            Err(format!("pam_set_item({name}) = {}", code_name(rc)))
        }
    }

    pub fn putenv(&mut self, name: &str, value: &str) -> Result<(), String> {
        let e = CString::new(format!("{name}={value}")).map_err(|e| e.to_string())?;
        // SAFETY: live handle; libpam copies the entry.
        let rc = unsafe { pam_putenv(self.handle, e.as_ptr()) };
        if rc == PAM_SUCCESS {
            Ok(())
        } else {
            Err(format!("pam_putenv({name}) = {}", code_name(rc)))
        }
    }

    pub fn call(&mut self, op: Op, flags: i32) -> StepResult {
        let f = match op {
            Op::Authenticate => pam_authenticate,
            Op::Setcred => pam_setcred,
            Op::AcctMgmt => pam_acct_mgmt,
            Op::Chauthtok => pam_chauthtok,
            Op::OpenSession => pam_open_session,
            Op::CloseSession => pam_close_session,
        };
        // SAFETY: live handle; the conversation registered at start is still valid.
        let code = unsafe { f(self.handle, flags) };
        self.last = code;
        StepResult {
            op,
            code,
            name: code_name(code),
        }
    }

    pub fn env(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        // SAFETY: live handle; returns a malloc'd, NULL-terminated array of
        // malloc'd strings that the caller frees.
        let list = unsafe { pam_getenvlist(self.handle) };
        if list.is_null() {
            return out;
        }
        let mut i = 0;
        loop {
            // SAFETY: the array is NULL-terminated.
            let p = unsafe { *list.add(i) };
            if p.is_null() {
                break;
            }
            // SAFETY: each entry is a NUL-terminated string.
            let entry = unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned();
            if let Some((k, v)) = entry.split_once('=') {
                out.insert(k.to_owned(), v.to_owned());
            } else {
                out.insert(entry, String::new());
            }
            // SAFETY: entry allocated by libpam with malloc, ours to free.
            unsafe { libc::free(p.cast()) };
            i += 1;
        }
        // SAFETY: the array itself, likewise.
        unsafe { libc::free(list.cast()) };
        out
    }

    pub fn transcript(&self) -> &[Message] {
        &self.script.transcript
    }
}

impl Drop for Transaction {
    fn drop(&mut self) {
        // SAFETY: the handle is live and ended exactly once.
        unsafe { pam_end(self.handle, self.last) };
    }
}
