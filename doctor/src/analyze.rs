//! From what was read to findings and the predicted logins. No I/O here:
//! the caller reads the files and checks the module files and secret files.

#![forbid(unsafe_code)]

use serde_json::{Value, json};

use crate::pam::{Action, Code, Entry, Run, Stack, run};
use crate::sshd::SshdConfig;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Finding {
    pub id: &'static str,
    pub severity: Severity,
    /// `file:line`, or the sshd keyword for sshd settings.
    pub location: String,
    pub effect: String,
    pub fix: String,
}

impl Finding {
    pub fn json(&self) -> Value {
        json!({"id": self.id, "severity": self.severity.name(), "location": self.location,
               "effect": self.effect, "fix": self.fix})
    }
}

/// What the caller found out about a module file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModuleFile {
    Loadable,
    Missing(String),
    NotLoadable(String),
    Unknown(String),
}

/// Secret files the module would refuse, by user name, with why.
#[derive(Clone, Debug, Default)]
pub struct Users {
    pub refused: Vec<(String, String)>,
    pub checked: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Clock {
    Synchronised,
    NotSynchronised(String),
    Unknown,
}

pub struct Inputs<'a> {
    pub sshd: &'a SshdConfig,
    /// Where the sshd settings came from, for the locations.
    pub sshd_source: &'a str,
    pub stack: &'a Stack,
    /// Same order as `stack.entries`.
    pub modules: &'a [ModuleFile],
    pub users: Option<&'a Users>,
    pub clock: &'a Clock,
}

/// The person at the keyboard in a predicted login.
#[derive(Clone, Copy, Debug)]
struct Person {
    enrolled: bool,
    right_code: bool,
    knows_password: bool,
}

const KEY_AND_CODE: Person = Person {
    enrolled: true,
    right_code: true,
    knows_password: false,
};
const NOT_ENROLLED: Person = Person {
    enrolled: false,
    right_code: false,
    knows_password: false,
};
const PASSWORD_ONLY: Person = Person {
    enrolled: true,
    right_code: false,
    knows_password: true,
};
const NOBODY: Person = Person {
    enrolled: true,
    right_code: false,
    knows_password: false,
};

fn simulate(inp: &Inputs, p: Person) -> Run {
    run(&inp.stack.entries, &|i, e: &Entry| {
        if !matches!(inp.modules.get(i), Some(ModuleFile::Loadable) | None) {
            return if e.quiet {
                None
            } else {
                Some(Code::ModuleUnknown)
            };
        }
        Some(match e.base() {
            _ if e.is_totp() => {
                if p.enrolled {
                    if p.right_code {
                        Code::Success
                    } else {
                        Code::AuthErr
                    }
                } else if e.has_arg("nullok") {
                    Code::Ignore
                } else {
                    Code::AuthinfoUnavail
                }
            }
            "pam_unix" | "pam_unix2" | "pam_sss" | "pam_ldap" | "pam_krb5" | "pam_winbind" => {
                if p.knows_password {
                    Code::Success
                } else {
                    Code::AuthErr
                }
            }
            "pam_deny" => Code::AuthErr,
            "pam_permit" => Code::Success,
            _ => Code::Ignore,
        })
    })
}

fn asks_password(inp: &Inputs, r: &Run) -> bool {
    r.ran.iter().any(|&i| {
        matches!(
            inp.stack.entries[i].base(),
            "pam_unix" | "pam_unix2" | "pam_sss" | "pam_ldap" | "pam_krb5" | "pam_winbind"
        )
    })
}

/// Everything found, and what each kind of login will do.
pub struct Report {
    pub findings: Vec<Finding>,
    pub logins: Vec<(&'static str, bool, String)>,
}

pub fn analyze(inp: &Inputs) -> Report {
    let mut f = Vec::new();
    let s = inp.sshd;
    let at = |k: &str| format!("{} ({k})", inp.sshd_source);
    let lists = s.auth_methods();
    let kbd_needed = lists.as_ref().is_some_and(|l| {
        l.iter()
            .all(|m| m.iter().any(|x| x == "keyboard-interactive"))
    });

    if !s.use_pam() {
        f.push(Finding {
            id: "SSHD-USEPAM-OFF",
            severity: Severity::Error,
            location: at("usepam"),
            effect: "sshd never runs the PAM stack: no login is asked for the code; with \
                     keyboard-interactive required, every login is refused"
                .into(),
            fix: "set `UsePAM yes` in sshd_config (or a sshd_config.d drop-in) and restart sshd"
                .into(),
        });
    }
    if !s.kbd_interactive() && kbd_needed {
        f.push(Finding {
            id: "SSHD-KBDINT-OFF",
            severity: Severity::Error,
            location: at("kbdinteractiveauthentication"),
            effect: "AuthenticationMethods requires keyboard-interactive but it is turned off: \
                     every SSH login is refused (admins locked out)"
                .into(),
            fix: "set `KbdInteractiveAuthentication yes` (the old name is \
                  ChallengeResponseAuthentication) and restart sshd"
                .into(),
        });
    }
    match &lists {
        None => f.push(Finding {
            id: "SSHD-AUTHMETHODS-NO-KBDINT",
            severity: Severity::Error,
            location: at("authenticationmethods"),
            effect:
                "AuthenticationMethods is `any`: a key alone logs in and the code is never asked"
                    .into(),
            fix: "set `AuthenticationMethods publickey,keyboard-interactive`".into(),
        }),
        Some(l) => {
            for m in l {
                if !m.iter().any(|x| x == "keyboard-interactive") {
                    f.push(Finding {
                        id: "SSHD-AUTHMETHODS-NO-KBDINT",
                        severity: Severity::Error,
                        location: at("authenticationmethods"),
                        effect: format!(
                            "the method list `{}` has no keyboard-interactive: a login through it \
                             never reaches the PAM module, so no code is asked",
                            m.join(",")
                        ),
                        fix: "make every list end in keyboard-interactive, e.g. \
                              `AuthenticationMethods publickey,keyboard-interactive`"
                            .into(),
                    });
                }
            }
        }
    }

    // The auth stack.
    let totp: Vec<usize> = (0..inp.stack.entries.len())
        .filter(|&i| inp.stack.entries[i].is_totp())
        .collect();
    for (o, e) in &inp.stack.errors {
        f.push(Finding {
            id: "PAM-UNREADABLE",
            severity: Severity::Error,
            location: o.to_string(),
            effect: format!("libpam cannot use this line or file: {e}"),
            fix: "correct the line, or the include it names".into(),
        });
    }
    if totp.is_empty() {
        f.push(Finding {
            id: "PAM-TOTP-MISSING",
            severity: Severity::Error,
            location: inp
                .stack
                .entries
                .first()
                .map(|e| e.origin.file.clone())
                .unwrap_or_else(|| "sshd PAM service".into()),
            effect: "no pam_totp.so (or pam_google_authenticator.so) auth line: no login is \
                     asked for a code"
                .into(),
            fix: "add `auth required pam_totp.so` in place of `@include common-auth`".into(),
        });
    }
    for &t in &totp {
        let e = &inp.stack.entries[t];
        // A line before it that can end the stack with success.
        for (j, b) in inp.stack.entries[..t].iter().enumerate() {
            let ends = [Code::Success, Code::Ignore, Code::AuthErr]
                .iter()
                .any(|&c| match b.control.action(c) {
                    Action::Done => c == Code::Success,
                    Action::Jump(n) => j + n >= t,
                    _ => false,
                });
            if ends {
                f.push(Finding {
                    id: "PAM-TOTP-UNREACHABLE",
                    severity: Severity::Error,
                    location: b.origin.to_string(),
                    effect: format!(
                        "`{} {}` at {} can end the auth stack (or jump) before {} at {} runs: \
                         a login that passes it is never asked for the code",
                        b.control.text,
                        b.module,
                        b.origin,
                        e.base(),
                        e.origin
                    ),
                    fix: format!(
                        "put the {} line first, or make this line `required`",
                        e.base()
                    ),
                });
            }
        }
        if e.has_arg("nullok") {
            match e.control.action(Code::Ignore) {
                Action::Die | Action::Bad => f.push(Finding {
                    id: "PAM-NULLOK-DIE",
                    severity: Severity::Error,
                    location: e.origin.to_string(),
                    effect: format!(
                        "nullok makes the module return PAM_IGNORE for a user who has not \
                         enrolled, and `{}` turns PAM_IGNORE into a refusal: users without a \
                         secret file cannot log in at all",
                        e.control.text
                    ),
                    fix: "use `auth required pam_totp.so nullok` followed by \
                          `auth required pam_permit.so` (the shipped example), or add \
                          `ignore=ignore` to the bracket"
                        .into(),
                }),
                a @ (Action::Ok | Action::Done | Action::Jump(_)) => f.push(Finding {
                    id: "PAM-NULLOK-SUCCESS",
                    severity: Severity::Warning,
                    location: e.origin.to_string(),
                    effect: format!(
                        "`{}` treats PAM_IGNORE (user not enrolled, nullok) like a passed code \
                         ({a:?}): the lines after it are {}",
                        e.control.text,
                        if matches!(a, Action::Done | Action::Jump(_)) {
                            "skipped"
                        } else {
                            "the only check left"
                        }
                    ),
                    fix: "let PAM_IGNORE be ignored (`ignore=ignore`, as `required` does) and \
                          decide with the lines after it"
                        .into(),
                }),
                _ => {}
            }
        }
        if let Err(err) = pam_totp::options::Options::parse(e.args.iter().map(String::as_str)) {
            f.push(Finding {
                id: "PAM-BAD-OPTION",
                severity: Severity::Error,
                location: e.origin.to_string(),
                effect: format!(
                    "the module refuses its arguments ({err}): every login through this \
                         line fails"
                ),
                fix: "remove or correct the option (see pam_totp(8))".into(),
            });
        }
        if let Some(o) = &e.substack {
            f.push(Finding {
                id: "PAM-TOTP-IN-SUBSTACK",
                severity: Severity::Info,
                location: o.to_string(),
                effect: "the module runs in a substack; done/die there end only the substack, \
                         which this analysis treats as ending the whole stack"
                    .into(),
                fix: "none needed if the predictions below are what you want".into(),
            });
        }
    }
    for (i, e) in inp.stack.entries.iter().enumerate() {
        let problem = match inp.modules.get(i) {
            Some(ModuleFile::Missing(p)) => Some(format!("{p} does not exist")),
            Some(ModuleFile::NotLoadable(p)) => Some(p.clone()),
            _ => None,
        };
        if let Some(p) = problem
            && !e.quiet
        {
            f.push(Finding {
                id: "PAM-MODULE-MISSING",
                severity: Severity::Error,
                location: e.origin.to_string(),
                effect: format!(
                    "{}: libpam fails this line (PAM_MODULE_UNKNOWN, `{}` decides what that does)",
                    p, e.control.text
                ),
                fix: format!("install the package that provides {}", e.module),
            });
        }
    }

    let key = simulate(inp, KEY_AND_CODE);
    let bare = simulate(inp, NOT_ENROLLED);
    let pw = simulate(inp, PASSWORD_ONLY);
    let none = simulate(inp, NOBODY);
    if asks_password(inp, &key) {
        let at = inp
            .stack
            .included
            .iter()
            .find(|(n, _)| n == "common-auth")
            .map(|(_, o)| o.to_string())
            .or_else(|| {
                key.ran
                    .iter()
                    .map(|&i| &inp.stack.entries[i])
                    .find(|e| e.base() == "pam_unix")
                    .map(|e| e.origin.to_string())
            })
            .unwrap_or_default();
        f.push(Finding {
            id: "PAM-COMMON-AUTH-AFTER",
            severity: Severity::Error,
            location: at,
            effect: format!(
                "a login with key and code is also asked for the Unix password{}",
                if key.success {
                    ""
                } else {
                    ": users who log in with a key and have no password are refused"
                }
            ),
            fix: "replace `@include common-auth` in the sshd PAM service with the pam_totp lines \
                  (packaging/examples/pam.d-sshd)"
                .into(),
        });
    }
    if none.success && !totp.is_empty() {
        f.push(Finding {
            id: "PAM-CODE-NOT-ENFORCED",
            severity: Severity::Error,
            location: inp.stack.entries[totp[0]].origin.to_string(),
            effect: "an enrolled user who gives a wrong code passes the auth stack".into(),
            fix: "make the pam_totp line `required` (or `requisite`)".into(),
        });
    }
    // Logins without the key: sshd's password method answers every PAM prompt
    // with the password (with UsePAM), without PAM it checks shadow directly.
    let no_key_list = |want_pw: bool| {
        lists.as_ref().is_none_or(|l| {
            l.iter().any(|m| {
                !m.iter().any(|x| x == "publickey")
                    && m.iter().all(|x| match x.as_str() {
                        "password" => want_pw,
                        "keyboard-interactive" => true,
                        _ => false,
                    })
            })
        })
    };
    let pw_method = s.password() && no_key_list(true) && (!s.use_pam() || pw.success);
    let kbd_method = s.kbd_interactive() && s.use_pam() && no_key_list(false) && pw.success;
    if pw_method || kbd_method {
        f.push(Finding {
            id: "SSHD-PASSWORD-WITHOUT-CODE",
            severity: Severity::Error,
            location: at(if pw_method {
                "passwordauthentication"
            } else {
                "authenticationmethods"
            }),
            effect: "a client with only the password (no key, no code) logs in".into(),
            fix: "`PasswordAuthentication no`, `AuthenticationMethods publickey,keyboard-interactive`, \
                  and no password module before pam_totp in the sshd PAM service"
                .into(),
        });
    }

    if let Some(u) = inp.users
        && !u.refused.is_empty()
    {
        let names: Vec<&str> = u.refused.iter().map(|(n, _)| n.as_str()).collect();
        let why: Vec<String> = u.refused.iter().map(|(n, w)| format!("{n}: {w}")).collect();
        f.push(Finding {
            id: "USERS-SECRET-REFUSED",
            severity: Severity::Error,
            location: "secret files".into(),
            effect: format!(
                "{} enrolled user(s) whose secret file the module refuses, so they cannot log in: \
                 {} ({})",
                names.len(),
                names.join(", "),
                why.join("; ")
            ),
            fix: "each file must be a regular file (no symlink) owned by its user with mode 0600 \
                  (or allowed_perm=): `chmod 600`, `chown USER`, or re-run totp-enroll"
                .into(),
        });
    }
    if let Clock::NotSynchronised(how) = inp.clock {
        f.push(Finding {
            id: "CLOCK-UNSYNCED",
            severity: Severity::Warning,
            location: "system clock".into(),
            effect: format!(
                "the clock is not synchronised ({how}): codes drift out of the window and are refused"
            ),
            fix: "install and enable a time daemon (systemd-timesyncd, chrony or ntp)".into(),
        });
    }

    // What sshd does with each kind of client, from the lists and the PAM runs.
    let pam_ok = |r: &Run| s.use_pam() && s.kbd_interactive() && r.success;
    let via = |p: &dyn Fn(&str) -> Option<bool>| -> bool {
        match &lists {
            None => ["publickey", "password", "keyboard-interactive"]
                .iter()
                .any(|m| p(m) == Some(true)),
            Some(l) => l.iter().any(|m| m.iter().all(|x| p(x) == Some(true))),
        }
    };
    let key_code = via(&|m| match m {
        "publickey" => Some(s.pubkey()),
        "keyboard-interactive" => Some(pam_ok(&key)),
        _ => None,
    });
    let key_alone = via(&|m| match m {
        "publickey" => Some(s.pubkey()),
        "keyboard-interactive" => Some(pam_ok(&bare)),
        _ => None,
    });
    let enrolled_key_alone = via(&|m| match m {
        "publickey" => Some(s.pubkey()),
        "keyboard-interactive" => Some(pam_ok(&none)),
        _ => None,
    });
    let password_alone = pw_method || kbd_method;
    let logins = vec![
        (
            "key_and_code",
            key_code,
            "an enrolled user with the key and the right code".to_owned(),
        ),
        (
            "key_alone_not_enrolled",
            key_alone,
            "a user who has not enrolled, with the key alone".to_owned(),
        ),
        (
            "key_alone_enrolled",
            enrolled_key_alone,
            "an enrolled user with the key and a wrong code".to_owned(),
        ),
        (
            "password_alone",
            password_alone,
            "a user with the password only (no key, no code)".to_owned(),
        ),
    ];
    f.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.id.cmp(b.id)));
    f.dedup_by(|a, b| a.id == b.id && a.location == b.location && a.effect == b.effect);
    Report {
        findings: f,
        logins,
    }
}
