//! PAM service files (Linux-PAM's /etc/pam.d syntax), the auth stack they
//! add up to, and what libpam does with the modules' return codes.

#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::fmt;

/// Return codes a module can give, by the names bracket controls use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Code {
    Success,
    Ignore,
    AuthErr,
    AuthinfoUnavail,
    UserUnknown,
    ModuleUnknown,
}

impl Code {
    pub fn name(self) -> &'static str {
        match self {
            Code::Success => "success",
            Code::Ignore => "ignore",
            Code::AuthErr => "auth_err",
            Code::AuthinfoUnavail => "authinfo_unavail",
            Code::UserUnknown => "user_unknown",
            Code::ModuleUnknown => "module_unknown",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Ignore,
    Ok,
    Done,
    Bad,
    Die,
    Reset,
    Jump(usize),
}

/// A control field: the action for each return code, `default` for the rest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Control {
    pub text: String,
    actions: BTreeMap<String, Action>,
}

impl Control {
    pub fn parse(text: &str) -> Result<Control, String> {
        let pairs: &[(&str, &str)] = match text {
            "required" => &[
                ("success", "ok"),
                ("new_authtok_reqd", "ok"),
                ("ignore", "ignore"),
                ("default", "bad"),
            ],
            "requisite" => &[
                ("success", "ok"),
                ("new_authtok_reqd", "ok"),
                ("ignore", "ignore"),
                ("default", "die"),
            ],
            "sufficient" => &[
                ("success", "done"),
                ("new_authtok_reqd", "done"),
                ("default", "ignore"),
            ],
            "optional" => &[
                ("success", "ok"),
                ("new_authtok_reqd", "ok"),
                ("default", "ignore"),
            ],
            _ => &[],
        };
        let mut actions = BTreeMap::new();
        if !pairs.is_empty() {
            for (k, v) in pairs {
                actions.insert((*k).to_owned(), action(v)?);
            }
        } else {
            let inner = text
                .strip_prefix('[')
                .and_then(|t| t.strip_suffix(']'))
                .ok_or_else(|| format!("unknown control \"{text}\""))?;
            for pair in inner.split_whitespace() {
                let (k, v) = pair
                    .split_once('=')
                    .ok_or_else(|| format!("bad control value \"{pair}\""))?;
                actions.insert(k.to_ascii_lowercase(), action(v)?);
            }
        }
        Ok(Control {
            text: text.to_owned(),
            actions,
        })
    }

    /// What libpam does with `code`: its own value, else `default`, else bad.
    pub fn action(&self, code: Code) -> Action {
        self.actions
            .get(code.name())
            .or_else(|| self.actions.get("default"))
            .copied()
            .unwrap_or(Action::Bad)
    }
}

fn action(v: &str) -> Result<Action, String> {
    Ok(match v.to_ascii_lowercase().as_str() {
        "ignore" => Action::Ignore,
        "ok" => Action::Ok,
        "done" => Action::Done,
        "bad" => Action::Bad,
        "die" => Action::Die,
        "reset" => Action::Reset,
        n => Action::Jump(
            n.parse()
                .map_err(|_| format!("bad control action \"{v}\""))?,
        ),
    })
}

/// Where a line is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    pub file: String,
    pub line: usize,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// One line of a service file, as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Line {
    /// `@include NAME`
    AtInclude {
        origin: Origin,
        name: String,
    },
    /// `TYPE include|substack NAME`
    Include {
        origin: Origin,
        kind: String,
        substack: bool,
        name: String,
    },
    Module(Entry),
}

/// A module line: `[-]TYPE CONTROL MODULE ARGS...`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub origin: Origin,
    pub kind: String,
    /// `-TYPE`: a module that cannot be loaded is skipped silently.
    pub quiet: bool,
    pub control: Control,
    pub module: String,
    pub args: Vec<String>,
    /// Set when the line came from a `substack`, with the line that made it.
    pub substack: Option<Origin>,
}

impl Entry {
    /// The module's base name without `.so`: `pam_totp` for `/lib/.../pam_totp.so`.
    pub fn base(&self) -> &str {
        let name = self.module.rsplit('/').next().unwrap_or(&self.module);
        name.strip_suffix(".so").unwrap_or(name)
    }

    pub fn is_totp(&self) -> bool {
        matches!(self.base(), "pam_totp" | "pam_google_authenticator")
    }

    pub fn has_arg(&self, a: &str) -> bool {
        self.args.iter().any(|x| x == a)
    }
}

/// Splits a line into fields; `[...]` (with spaces inside) is one field.
fn fields(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut depth = 0usize;
    for c in line.chars() {
        match c {
            '[' => {
                depth += 1;
                cur.push(c);
            }
            ']' if depth > 0 => {
                depth -= 1;
                cur.push(c);
            }
            c if c.is_whitespace() && depth == 0 => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// A parsed service file; lines it could not read are errors with their place.
pub fn parse_service(file: &str, text: &str) -> (Vec<Line>, Vec<(Origin, String)>) {
    let mut lines = Vec::new();
    let mut errors = Vec::new();
    let mut pending = String::new();
    let mut start = 0;
    for (i, raw) in text.lines().enumerate() {
        if pending.is_empty() {
            start = i + 1;
        }
        if let Some(head) = raw.strip_suffix('\\') {
            pending.push_str(head);
            pending.push(' ');
            continue;
        }
        pending.push_str(raw);
        let logical = std::mem::take(&mut pending);
        let content = logical.split('#').next().unwrap_or("").trim();
        if content.is_empty() {
            continue;
        }
        let origin = Origin {
            file: file.to_owned(),
            line: start,
        };
        let f = fields(content);
        if f[0] == "@include" {
            match f.get(1) {
                Some(name) => lines.push(Line::AtInclude {
                    origin,
                    name: name.clone(),
                }),
                None => errors.push((origin, "@include without a file".to_owned())),
            }
            continue;
        }
        if f.len() < 3 {
            errors.push((origin, format!("too few fields: \"{content}\"")));
            continue;
        }
        let (quiet, kind) = match f[0].strip_prefix('-') {
            Some(k) => (true, k.to_ascii_lowercase()),
            None => (false, f[0].to_ascii_lowercase()),
        };
        if f[1] == "include" || f[1] == "substack" {
            lines.push(Line::Include {
                origin,
                kind,
                substack: f[1] == "substack",
                name: f[2].clone(),
            });
            continue;
        }
        match Control::parse(&f[1]) {
            Ok(control) => lines.push(Line::Module(Entry {
                origin,
                kind,
                quiet,
                control,
                module: f[2].clone(),
                args: f[3..].to_vec(),
                substack: None,
            })),
            Err(e) => errors.push((origin, e)),
        }
    }
    (lines, errors)
}

/// The auth stack of a service, includes followed.
#[derive(Clone, Debug, Default)]
pub struct Stack {
    pub entries: Vec<Entry>,
    /// Files included, with the line that included them (for common-auth).
    pub included: Vec<(String, Origin)>,
    pub errors: Vec<(Origin, String)>,
}

/// Follows `@include`, `include` and `substack` for the `auth` lines of
/// `service`; `read(name)` returns a file's text (names are relative to pam.d).
pub fn auth_stack(service: &str, read: &dyn Fn(&str) -> Result<String, String>) -> Stack {
    let mut stack = Stack::default();
    add(service, None, None, read, &mut stack, 0);
    stack
}

fn add(
    name: &str,
    from: Option<Origin>,
    substack: Option<Origin>,
    read: &dyn Fn(&str) -> Result<String, String>,
    stack: &mut Stack,
    depth: usize,
) {
    let here = || {
        from.clone().unwrap_or(Origin {
            file: name.to_owned(),
            line: 0,
        })
    };
    if depth > 16 {
        stack
            .errors
            .push((here(), format!("includes nested too deep at \"{name}\"")));
        return;
    }
    let text = match read(name) {
        Ok(t) => t,
        Err(e) => {
            stack.errors.push((here(), e));
            return;
        }
    };
    if let Some(o) = &from {
        stack.included.push((name.to_owned(), o.clone()));
    }
    let (lines, errors) = parse_service(name, &text);
    stack.errors.extend(errors);
    for line in lines {
        match line {
            Line::AtInclude { origin, name } => add(
                &name,
                Some(origin),
                substack.clone(),
                read,
                stack,
                depth + 1,
            ),
            Line::Include {
                origin,
                kind,
                substack: sub,
                name,
            } if kind == "auth" => {
                let s = if sub {
                    Some(origin.clone())
                } else {
                    substack.clone()
                };
                add(&name, Some(origin), s, read, stack, depth + 1)
            }
            Line::Module(mut e) if e.kind == "auth" => {
                e.substack = substack.clone();
                stack.entries.push(e)
            }
            _ => {}
        }
    }
}

/// The result of running a stack, as libpam's dispatcher decides it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Run {
    pub success: bool,
    /// Indexes of the entries that ran, in order.
    pub ran: Vec<usize>,
    /// The entry whose action ended the stack early, if one did.
    pub ended_by: Option<usize>,
}

/// Runs the stack with `code(i, entry)` standing in for each module, following
/// libpam's `_pam_dispatch_aux` (impression, status, done/die, jumps, reset).
/// A substack is run flat: its done and die end the whole stack here, which
/// is stricter than libpam and said in the finding.
pub fn run(entries: &[Entry], code: &dyn Fn(usize, &Entry) -> Option<Code>) -> Run {
    #[derive(PartialEq)]
    enum Impression {
        Undef,
        Good,
        Bad,
    }
    let mut impression = Impression::Undef;
    let mut status_ok = false;
    let mut ran = Vec::new();
    let mut ended_by = None;
    let mut i = 0;
    while i < entries.len() {
        let e = &entries[i];
        // None: a `-type` module that is not there, skipped.
        let Some(c) = code(i, e) else {
            i += 1;
            continue;
        };
        ran.push(i);
        let act = e.control.action(c);
        let mut next = i + 1;
        match act {
            Action::Ignore => {}
            Action::Reset => {
                impression = Impression::Undef;
                status_ok = false;
            }
            Action::Ok | Action::Done | Action::Jump(_) => {
                if impression == Impression::Undef || (impression == Impression::Good && status_ok)
                {
                    impression = Impression::Good;
                    status_ok = c == Code::Success;
                }
                if let Action::Jump(n) = act {
                    next = i + 1 + n;
                } else if act == Action::Done && impression != Impression::Bad {
                    ended_by = Some(i);
                    break;
                }
            }
            Action::Bad | Action::Die => {
                if impression != Impression::Bad {
                    impression = Impression::Bad;
                    status_ok = false;
                }
                if act == Action::Die {
                    ended_by = Some(i);
                    break;
                }
            }
        }
        i = next;
    }
    Run {
        success: impression == Impression::Good && status_ok,
        ran,
        ended_by,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack(text: &str) -> Vec<Entry> {
        let (lines, errors) = parse_service("t", text);
        assert!(errors.is_empty(), "{errors:?}");
        lines
            .into_iter()
            .filter_map(|l| match l {
                Line::Module(e) => Some(e),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn guide_line_turns_ignore_into_refusal() {
        let s = stack(
            "auth [success=done new_authtok_reqd=done default=die] pam_google_authenticator.so nullok\n@include common-auth\n",
        );
        assert_eq!(s.len(), 1);
        let r = run(&s, &|_, _| Some(Code::Ignore));
        assert!(!r.success);
        assert_eq!(r.ended_by, Some(0));
        assert!(run(&s, &|_, _| Some(Code::Success)).success);
    }

    #[test]
    fn shipped_lines_let_ignore_through_to_permit() {
        let s = stack("auth required pam_totp.so nullok\nauth required pam_permit.so\n");
        let r = run(&s, &|_, e| {
            Some(if e.is_totp() {
                Code::Ignore
            } else {
                Code::Success
            })
        });
        assert!(r.success);
        let r = run(&s, &|_, e| {
            Some(if e.is_totp() {
                Code::AuthErr
            } else {
                Code::Success
            })
        });
        assert!(!r.success);
    }

    #[test]
    fn continuation_comments_and_jumps() {
        let s = stack(
            "# c\nauth [success=1 default=ignore] \\\n  pam_unix.so nullok # x\nauth requisite pam_deny.so\nauth required pam_permit.so\n",
        );
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].origin.line, 2);
        assert_eq!(s[0].args, vec!["nullok".to_owned()]);
        assert!(run(&s, &|_, _| Some(Code::Success)).success);
        assert!(
            !run(&s, &|i, _| Some(if i <= 1 {
                Code::AuthErr
            } else {
                Code::Success
            }))
            .success
        );
    }
}
