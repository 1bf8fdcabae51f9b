//! The PAM shell: reads items and options, talks to the user, runs the store
//! and the decision, maps the outcome to one PAM code (in `Outcome::code`)
//! and writes one syslog line per decision. Never a code, a secret or a
//! scratch code in a log line.
//!
//! The store's lock is not held while the user types: the file is read once
//! before the prompt (grace period, rate limit) and again, under the lock,
//! for the check and the update, so two logins can never both spend one code.

use std::ffi::{CStr, c_uint};
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use pam_ext::{Conversation, PamConversation, PamHandle, PamResultCode, Priority, StrItem};
use zeroize::Zeroizing;

use crate::options::{OptionError, Options, StoreOwner};
use crate::secret_file::{Config, SecretFile};
use crate::store::{self, Account, AsUser, Locked, Rules, StoreError};
use crate::verify::{self, Accepted, Candidate, Check, Gate, Refused};

/// What was decided; `code` is the one place outcomes become PAM codes.
#[derive(Debug)]
enum Outcome {
    Success(&'static str),
    /// Wrong, reused or missing code, skew learning, not enrolled without nullok.
    Failure(&'static str, String),
    /// Not enrolled and `nullok`.
    Ignore,
    UnknownUser,
    /// The secret file cannot be read, parsed or saved.
    StoreUnavailable(&'static str, String),
    Throttled(u64),
    ConfigError(String),
}

impl Outcome {
    fn code(&self) -> PamResultCode {
        match self {
            Outcome::Success(_) => PamResultCode::PAM_SUCCESS,
            Outcome::Failure(..) => PamResultCode::PAM_AUTH_ERR,
            Outcome::Ignore => PamResultCode::PAM_IGNORE,
            Outcome::UnknownUser => PamResultCode::PAM_USER_UNKNOWN,
            Outcome::StoreUnavailable(..) => PamResultCode::PAM_AUTHINFO_UNAVAIL,
            Outcome::Throttled(_) => PamResultCode::PAM_MAXTRIES,
            Outcome::ConfigError(_) => PamResultCode::PAM_SERVICE_ERR,
        }
    }

    /// (outcome word for the log line, reason).
    fn describe(&self) -> (&'static str, String) {
        match self {
            Outcome::Success(how) => ("success", (*how).to_owned()),
            Outcome::Failure(word, why) => (word, why.clone()),
            Outcome::Ignore => ("not-enrolled", "no secret file; nullok".to_owned()),
            Outcome::UnknownUser => ("unknown-user", "no such user".to_owned()),
            Outcome::StoreUnavailable(word, why) => (word, why.clone()),
            Outcome::Throttled(s) => ("throttled", format!("rate limit reached; retry in {s}s")),
            Outcome::ConfigError(why) => ("config-error", why.clone()),
        }
    }
}

pub(crate) fn authenticate(pamh: &mut PamHandle, args: &[&CStr], flags: c_uint) -> PamResultCode {
    let options = pam_ext::args_utf8(args)
        .map_err(OptionError::NotUtf8)
        .and_then(|a| Options::parse(a.iter().copied()));
    let (user, outcome) = match options {
        Err(e) => (None, Outcome::ConfigError(e.to_string())),
        Ok(options) => match pamh.get_user(None) {
            Err(_) => (
                None,
                Outcome::Failure("no-user", "could not get the user name".into()),
            ),
            Ok(user) => {
                let outcome = Login::new(pamh, flags, &options, &user).run();
                (Some(user), outcome)
            }
        },
    };
    log_decision(pamh, user.as_deref(), &outcome);
    outcome.code()
}

pub(crate) fn setcred(_pamh: &mut PamHandle, _args: &[&CStr], _flags: c_uint) -> PamResultCode {
    PamResultCode::PAM_SUCCESS
}

/// One login attempt.
struct Login<'a> {
    pamh: &'a mut PamHandle,
    flags: c_uint,
    options: &'a Options,
    user: &'a str,
    rhost: Option<String>,
    now: u64,
}

/// Where the secret is and as whom it is read and written.
struct Target {
    path: PathBuf,
    owner: Account,
}

impl<'a> Login<'a> {
    fn new(pamh: &'a mut PamHandle, flags: c_uint, options: &'a Options, user: &'a str) -> Self {
        let rhost = pam_ext::item_string(pamh, StrItem::RHost).filter(|h| !h.is_empty());
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Self {
            pamh,
            flags,
            options,
            user,
            rhost,
            now,
        }
    }

    fn conv(&self) -> PamConversation<'_> {
        PamConversation::new(self.pamh, self.flags)
    }

    fn debug(&self, text: &str) {
        if self.options.debug {
            pam_ext::syslog(self.pamh, Priority::Debug, &format!("debug: {text}"));
        }
    }

    fn run(&mut self) -> Outcome {
        let target = match self.target() {
            Ok(Some(t)) => t,
            Ok(None) => {
                // Ask anyway, so an unknown name looks like a known one.
                let _ = self.read_input();
                return Outcome::UnknownUser;
            }
            Err(outcome) => return outcome,
        };
        self.debug(&format!("secret file \"{}\"", target.path.display()));
        match self.before_prompt(&target) {
            Ok(Gate::Proceed) => {}
            Ok(Gate::Grace) => return Outcome::Success("within grace period"),
            Ok(Gate::Throttled { retry_after }) => {
                self.conv().error(&format!(
                    "Too many login attempts. Please try again in {retry_after} seconds."
                ));
                return Outcome::Throttled(retry_after);
            }
            Err(StoreError::NotFound(_)) if self.options.nullok => return Outcome::Ignore,
            Err(e) => {
                let _ = self.read_input();
                return match e {
                    StoreError::NotFound(p) => Outcome::Failure(
                        "not-enrolled",
                        format!("no secret file \"{}\"", p.display()),
                    ),
                    e => Outcome::StoreUnavailable("store-error", e.to_string()),
                };
            }
        }
        self.check_input(&target)
    }

    /// Resolves the account and the secret path; `Ok(None)` for an unknown user.
    fn target(&self) -> Result<Option<Target>, Outcome> {
        let store_err = |e: StoreError| Outcome::StoreUnavailable("store-error", e.to_string());
        let Some(account) = store::account_by_name(self.user).map_err(store_err)? else {
            return Ok(None);
        };
        let owner = match &self.options.owner {
            StoreOwner::TargetUser => account.clone(),
            StoreOwner::Name(n) => store::account_by_name(n)
                .map_err(store_err)?
                .ok_or_else(|| Outcome::ConfigError(format!("user=\"{n}\": no such user")))?,
            StoreOwner::Uid(u) => store::account_by_uid(*u)
                .map_err(store_err)?
                .ok_or_else(|| Outcome::ConfigError(format!("user={u}: no such uid")))?,
        };
        let path = store::expand_secret_path(&self.options.secret, self.user, Some(&account.home))
            .map_err(store_err)?;
        Ok(Some(Target { path, owner }))
    }

    fn rules(&self, target: &Target) -> Rules {
        Rules {
            owner: target.owner.uid,
            check_owner: !self.options.no_strict_owner,
            allowed_perm: self.options.allowed_perm,
        }
    }

    /// Opens the file as its owner and runs `work` on it under the lock.
    fn with_file<T>(
        &self,
        target: &Target,
        work: impl FnOnce(&Locked) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let _identity = AsUser::take(target.owner.uid, target.owner.gid)?;
        let locked = store::open_locked(&target.path, &self.rules(target))?;
        work(&locked)
    }

    /// Grace period and rate limit, under the lock; saves the recorded attempt.
    fn before_prompt(&self, target: &Target) -> Result<Gate, StoreError> {
        let (rhost, now, grace) = (self.rhost.as_deref(), self.now, self.options.grace_period);
        let (gate, save) = self.with_file(target, |locked| {
            let mut file = locked.contents.clone();
            let cfg = Config::parse(&file).map_err(|e| StoreError::BadPath(e.to_string()))?;
            let gate = verify::before_prompt(&mut file, &cfg, now, rhost, grace);
            let save = if gate != Gate::Grace && file != locked.contents {
                Some(locked.replace(file.as_bytes()))
            } else {
                None
            };
            Ok((gate, save))
        })?;
        match save {
            Some(Err(e)) if !self.options.allow_readonly => {
                self.tell_save_failed(&e);
                Err(e)
            }
            _ => Ok(gate),
        }
    }

    fn tell_save_failed(&self, e: &StoreError) {
        let why = e
            .errno()
            .map_or_else(|| e.to_string(), |n| n.desc().to_owned());
        self.conv()
            .error(&format!("Could not save the login state: {why}."));
    }

    /// Asks for the code (or takes it from PAM_AUTHTOK per the options).
    fn read_input(&mut self) -> Option<Zeroizing<Vec<u8>>> {
        if self.options.use_first_pass {
            return None;
        }
        let prompt = self.options.prompt().to_owned();
        let echo = self.options.echo_verification_code;
        let answer = self.conv().prompt(&prompt, echo).ok()?;
        if answer.first() == Some(&0x08) {
            pam_ext::syslog(
                self.pamh,
                Priority::Info,
                "dummy password supplied by PAM: did OpenSSH 'PermitRootLogin' or another setting block this login?",
            );
        }
        (!answer.is_empty()).then_some(answer)
    }

    fn check_input(&mut self, target: &Target) -> Outcome {
        let mut hotp_attempted = false;
        let first_pass = self.options.try_first_pass || self.options.use_first_pass;
        if first_pass && let Ok(Some(token)) = pam_ext::get_authtok(self.pamh, false) {
            let found = verify::candidates(&token, false);
            let last = self.options.use_first_pass;
            if let Some(outcome) =
                self.check_candidates(target, &token, &found, last, &mut hotp_attempted)
            {
                return outcome;
            }
        }
        if self.options.use_first_pass {
            return self.finish_without_match(
                target,
                hotp_attempted,
                "no usable code in PAM_AUTHTOK",
            );
        }
        let Some(input) = self.read_input() else {
            return self.finish_without_match(target, hotp_attempted, "no code received");
        };
        let found = verify::candidates(&input, !self.options.forward_pass);
        self.check_candidates(target, &input, &found, true, &mut hotp_attempted)
            .unwrap_or_else(|| Outcome::Failure("wrong-code", "no code matched".into()))
    }

    /// A failed attempt may still need saving (HOTP counter).
    fn finish_without_match(
        &mut self,
        target: &Target,
        hotp_attempted: bool,
        why: &str,
    ) -> Outcome {
        let mut attempted = hotp_attempted;
        if attempted
            && let Some(outcome @ Outcome::StoreUnavailable(..)) =
                self.check_candidates(target, &[], &[], true, &mut attempted)
        {
            return outcome;
        }
        Outcome::Failure("wrong-code", why.to_owned())
    }

    /// Checks the candidates under the lock and saves what changed. `None`
    /// when nothing matched and more input may be tried (`last` is false).
    fn check_candidates(
        &mut self,
        target: &Target,
        input: &[u8],
        found: &[Candidate],
        last: bool,
        hotp_attempted: &mut bool,
    ) -> Option<Outcome> {
        let options = self.options;
        let (now, rhost) = (self.now, self.rhost.clone());
        let result = self.with_file(target, |locked| {
            let mut file: SecretFile = locked.contents.clone();
            let cfg = Config::parse(&file).map_err(|e| StoreError::BadPath(e.to_string()))?;
            let mut verdict = Check::NoMatch;
            let mut used = None;
            for c in found {
                verdict = verify::check_code(&mut file, &cfg, c.code, now, !options.noskewadj);
                if verdict == Check::NoMatch && cfg.is_hotp() && c.code < 1_000_000 {
                    *hotp_attempted = true;
                }
                if verdict != Check::NoMatch {
                    used = Some(*c);
                    break;
                }
            }
            let accepted = matches!(verdict, Check::Accepted(_));
            if !accepted && verdict == Check::NoMatch && !last {
                return Ok((verdict, used, None));
            }
            let grace = (accepted && options.grace_period > 0)
                .then_some(rhost.as_deref())
                .flatten()
                .map(|h| (h, now));
            verify::after_check(
                &mut file,
                &cfg,
                accepted,
                *hotp_attempted,
                !options.no_increment_hotp,
                grace,
            );
            let save = (file != locked.contents).then(|| locked.replace(file.as_bytes()));
            Ok((verdict, used, save))
        });
        let (verdict, used, save) = match result {
            Ok(r) => r,
            Err(e) => return Some(Outcome::StoreUnavailable("store-error", e.to_string())),
        };
        if let Some(Err(e)) = &save {
            self.tell_save_failed(e);
            if !self.options.allow_readonly {
                return Some(Outcome::StoreUnavailable("save-error", e.to_string()));
            }
        }
        match verdict {
            Check::NoMatch if !last => None,
            Check::NoMatch => Some(Outcome::Failure("wrong-code", "no code matched".into())),
            Check::Refused(Refused::Reused { .. }) => {
                self.conv().error(
                    "This verification code was already used. Wait for the next code and try again.",
                );
                Some(Outcome::Failure("reused", "code already used".into()))
            }
            Check::Refused(Refused::SkewLearning) => Some(Outcome::Failure(
                "skew-learning",
                "code far outside the window; learning the clock skew".into(),
            )),
            Check::Refused(Refused::SkewRepeat) => Some(Outcome::Failure(
                "skew-learning",
                "same out-of-window code repeated".into(),
            )),
            Check::Accepted(how) => {
                if self.options.forward_pass
                    && let Some(c) = used
                {
                    let password = &input[..c.prefix_len];
                    if pam_ext::set_authtok(self.pamh, password).is_err() {
                        return Some(Outcome::Failure(
                            "forward-pass-error",
                            "could not pass the password on".into(),
                        ));
                    }
                }
                Some(Outcome::Success(match how {
                    Accepted::Totp { .. } => "time-based code accepted",
                    Accepted::Hotp { .. } => "counter-based code accepted",
                    Accepted::Scratch => "scratch code accepted",
                    Accepted::SkewReset { .. } => "clock skew learned; code accepted",
                }))
            }
        }
    }
}

/// One line per decision: service, user, rhost, outcome and reason.
fn log_decision(pamh: &PamHandle, user: Option<&str>, outcome: &Outcome) {
    let service = pam_ext::item_string(pamh, StrItem::Service).unwrap_or_default();
    let rhost = pam_ext::item_string(pamh, StrItem::RHost).unwrap_or_default();
    let (word, reason) = outcome.describe();
    let priority = match outcome {
        Outcome::Success(_) => Priority::Info,
        Outcome::Ignore => Priority::Notice,
        _ => Priority::Err,
    };
    pam_ext::syslog(
        pamh,
        priority,
        &format!(
            "service={} user={} rhost={} outcome={} reason=\"{}\"",
            clean(&service),
            clean(user.unwrap_or("")),
            clean(&rhost),
            word,
            reason.replace('"', "'")
        ),
    );
}

/// Keeps a log field on one line and one token (names come from the network).
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() || c == ' ' { '?' } else { c })
        .collect()
}
