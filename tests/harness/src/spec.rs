//! What the test asks the driver to do, and what the driver saw: plain data,
//! passed as JSON between the test process and `pam-drive`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One run of the driver: one PAM handle, a list of calls on it.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Spec {
    pub confdir: String,
    pub service: String,
    /// `None` starts PAM without a user; modules then ask for one.
    pub user: Option<String>,
    /// PAM items the application sets: "rhost", "tty", "ruser".
    pub items: BTreeMap<String, String>,
    /// PAM environment set before the calls (the items module reads
    /// `HARNESS_AUTHTOK` / `HARNESS_OLDAUTHTOK` from here).
    pub env: BTreeMap<String, String>,
    /// Answers given to prompts, in order.
    pub answers: Vec<Answer>,
    pub steps: Vec<Step>,
    /// Wait for EOF on stdin after `pam_start`, so many drivers can be released together.
    pub gate: bool,
    /// Drop to this uid (and gid) before `pam_start`; needs root.
    pub uid: Option<u32>,
    /// Run the steps this many times on fresh handles and report the time of each round.
    pub repeat: Option<u32>,
    /// With `repeat`: the answers for each round (round i uses entry i), instead of `answers`.
    pub round_answers: Option<Vec<Vec<Answer>>>,
    /// With `repeat`: run every round on one handle (modules loaded once),
    /// instead of a fresh `pam_start` per round.
    #[serde(default)]
    pub same_handle: bool,
    /// Environment variables of the driver process itself (e.g. to switch
    /// on a behaviour of the preloaded shim).
    #[serde(default)]
    pub process_env: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum Answer {
    /// Reply with this text.
    Text(String),
    /// Reply with this text after this many milliseconds (a user who types slowly).
    Late(String, u64),
    /// The conversation function fails (PAM_CONV_ERR) at this prompt.
    Fail,
    /// The conversation succeeds but gives no response for this prompt.
    Null,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum Op {
    Authenticate,
    Setcred,
    AcctMgmt,
    Chauthtok,
    OpenSession,
    CloseSession,
}

impl Op {
    pub fn name(self) -> &'static str {
        match self {
            Op::Authenticate => "pam_authenticate",
            Op::Setcred => "pam_setcred",
            Op::AcctMgmt => "pam_acct_mgmt",
            Op::Chauthtok => "pam_chauthtok",
            Op::OpenSession => "pam_open_session",
            Op::CloseSession => "pam_close_session",
        }
    }
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Step {
    pub op: Op,
    pub flags: i32,
}

/// A message the module sent through the conversation.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Message {
    /// "PROMPT_ECHO_OFF", "PROMPT_ECHO_ON", "ERROR_MSG", "TEXT_INFO", ...
    pub style: String,
    pub text: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct StepResult {
    pub op: Op,
    pub code: i32,
    pub name: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Report {
    /// Result of `pam_start_confdir` by name.
    pub start: String,
    pub results: Vec<StepResult>,
    pub transcript: Vec<Message>,
    /// PAM environment after the last step.
    pub env: BTreeMap<String, String>,
    /// With `repeat`: nanoseconds per round.
    pub round_ns: Vec<u64>,
    /// What the process held when the last step returned (before
    /// `pam_end`): its threads, and its open sockets (`/proc/self/fd`).
    pub threads_after: usize,
    pub sockets_after: Vec<String>,
}
