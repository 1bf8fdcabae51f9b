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
        let snapshot = match self.before_prompt(&target) {
            Ok((Gate::Proceed, snapshot)) => snapshot,
            Ok((Gate::Grace, _)) => return Outcome::Success("within grace period"),
            Ok((Gate::Throttled { retry_after }, _)) => {
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
        };
        self.check_input(&target, &snapshot)
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

    /// Reads the file (as its owner, without a lock), then applies the grace
    /// period and the rate limit; a recorded attempt is saved under the lock.
    /// Returns the gate and what the file said, for the check after the prompt.
    fn before_prompt(&self, target: &Target) -> Result<(Gate, SecretFile), StoreError> {
        let (rhost, now, grace) = (self.rhost.as_deref(), self.now, self.options.grace_period);
        let snapshot = {
            let _identity = AsUser::take(target.owner.uid, target.owner.gid)?;
            store::read(&target.path, &self.rules(target))?
        };
        let cfg = parse(&snapshot)?;
        let mut probe = snapshot.clone();
        let gate = verify::before_prompt(&mut probe, &cfg, now, rhost, grace);
        if gate == Gate::Grace || probe == snapshot {
            return Ok((gate, snapshot));
        }
        // RATE_LIMIT records this attempt: read again and save under the lock.
        let (gate, save, fresh) = self.with_file(target, |locked| {
            let mut file = locked.contents.clone();
            let cfg = parse(&file)?;
            let gate = verify::before_prompt(&mut file, &cfg, now, rhost, grace);
            let save = (file != locked.contents).then(|| locked.replace(file.as_bytes()));
            Ok((gate, save, file))
        })?;
        match save {
            Some(Err(e)) if !self.options.allow_readonly => {
                self.tell_save_failed(&e);
                Err(e)
            }
            _ => Ok((gate, fresh)),
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

    fn check_input(&mut self, target: &Target, snapshot: &SecretFile) -> Outcome {
        let mut hotp_attempted = false;
        let first_pass = self.options.try_first_pass || self.options.use_first_pass;
        if first_pass && let Ok(Some(token)) = pam_ext::get_authtok(self.pamh, false) {
            let found = verify::candidates(&token, false);
            let last = self.options.use_first_pass;
            if let Some(outcome) =
                self.check_candidates(target, snapshot, &token, &found, last, &mut hotp_attempted)
            {
                return outcome;
            }
        }
        if self.options.use_first_pass {
            return self.finish_without_match(
                target,
                snapshot,
                hotp_attempted,
                "no usable code in PAM_AUTHTOK",
            );
        }
        let Some(input) = self.read_input() else {
            return self.finish_without_match(target, snapshot, hotp_attempted, "no code received");
        };
        let found = verify::candidates(&input, !self.options.forward_pass);
        self.check_candidates(target, snapshot, &input, &found, true, &mut hotp_attempted)
            .unwrap_or_else(|| Outcome::Failure("wrong-code", "no code matched".into()))
    }

    /// A failed attempt may still need saving (HOTP counter).
    fn finish_without_match(
        &mut self,
        target: &Target,
        snapshot: &SecretFile,
        hotp_attempted: bool,
        why: &str,
    ) -> Outcome {
        let mut attempted = hotp_attempted;
        if attempted
            && let Some(outcome @ Outcome::StoreUnavailable(..)) =
                self.check_candidates(target, snapshot, &[], &[], true, &mut attempted)
        {
            return outcome;
        }
        Outcome::Failure("wrong-code", why.to_owned())
    }

    /// Checks the candidates and saves what the decision changed. A decision
    /// that changes nothing is taken on the file as read before the prompt
    /// (as pam_google_authenticator does); one that changes the file is taken
    /// again on a fresh read under the lock, so two logins can never both
    /// spend one code. `None` when nothing matched and more input may follow.
    fn check_candidates(
        &mut self,
        target: &Target,
        snapshot: &SecretFile,
        input: &[u8],
        found: &[Candidate],
        last: bool,
        hotp_attempted: &mut bool,
    ) -> Option<Outcome> {
        let options = self.options;
        let rhost = self.rhost.clone();
        let rules = verify::Rules {
            now: self.now,
            skew_learning: !options.noskewadj,
            advance_hotp_on_failure: !options.no_increment_hotp,
            grace_host: (options.grace_period > 0)
                .then_some(rhost.as_deref())
                .flatten(),
            last,
        };
        let decide = |file: &mut SecretFile, attempted: &mut bool| -> Result<_, StoreError> {
            let cfg = parse(file)?;
            Ok(verify::decide(file, &cfg, found, &rules, attempted))
        };
        let mut probe = snapshot.clone();
        let mut attempted = *hotp_attempted;
        let quick = decide(&mut probe, &mut attempted);
        let result = match quick {
            Ok((verdict, used)) if probe == *snapshot => {
                *hotp_attempted = attempted;
                Ok((verdict, used, None))
            }
            _ => self.with_file(target, |locked| {
                let mut file = locked.contents.clone();
                let (verdict, used) = decide(&mut file, hotp_attempted)?;
                let save = (file != locked.contents).then(|| locked.replace(file.as_bytes()));
                Ok((verdict, used, save))
            }),
        };
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

fn parse(file: &SecretFile) -> Result<Config, StoreError> {
    Config::parse(file).map_err(|e| StoreError::Malformed(e.to_string()))
}

/// One line per decision: service, user, rhost, outcome and reason.
fn log_decision(pamh: &PamHandle, user: Option<&str>, outcome: &Outcome) {
    let (word, reason) = outcome.describe();
    let priority = match outcome {
        Outcome::Success(_) => Priority::Info,
        Outcome::Ignore => Priority::Notice,
        _ => Priority::Err,
    };
    pam_ext::log_decision(pamh, priority, user, word, &reason);
}
