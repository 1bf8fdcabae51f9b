//! The PAM shell: items and options in, the conversation, the store's
//! transaction, then one PAM code (chosen in `Outcome::code`), at most one
//! message and one syslog line per decision. Never a code, a secret or a
//! scratch code in a log line.
//!
//! What the client sees does not depend on the account: an unknown user, a
//! user who is not enrolled (without `nullok`) and a broken store get the
//! same prompts as a wrong code. A rate-limited login is asked for its code
//! too, and told why it is refused after answering.

use std::ffi::{CStr, c_uint};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use pam_ext::{Conversation, PamConversation, PamHandle, PamResultCode, Priority, StrItem};
use zeroize::Zeroizing;

use crate::config::{self, Source};
use crate::decision::{self, Accepted, Attempt, Candidate, Gate, Refused, Rules};
use crate::enrollment::{Enrollment, GraceHost};
use crate::fleet::{FleetConf, FleetStore, WithFallback};
use crate::minimums::{Minimums, Shortfall};
use crate::options::{OnStoreError, OptionError, Options, StoreKind, StoreOwner};
use crate::store::{self, FileStore, Store, StoreError, Target};

/// The messages the user may be shown, each written once.
pub mod messages {
    pub const REUSED: &str =
        "This verification code was already used. Wait for the next code and try again.";

    pub fn throttled(retry_after: u64) -> String {
        format!("Too many login attempts. Please try again in {retry_after} seconds.")
    }

    pub fn save_failed(why: &str) -> String {
        format!("Could not save the login state: {why}.")
    }

    pub const SCRATCH_REFUSED: &str =
        "Scratch codes are not accepted here. Enter the code your app shows.";

    /// A right code for an enrollment the admin's minimums refuse.
    pub fn below_minimum(what: &dyn std::fmt::Display) -> String {
        format!(
            "The code is right, but your enrollment does not meet this system's requirements \
             ({what}). Ask your administrator to enroll you again."
        )
    }
}

/// What was decided; `code` is the one place outcomes become PAM codes.
#[derive(Debug)]
enum Outcome {
    Success(String),
    /// Wrong, reused or missing code, skew learning, not enrolled without nullok.
    Failure(&'static str, String),
    /// Not enrolled and `nullok`.
    Ignore,
    UnknownUser,
    /// The store cannot be read, parsed, locked or saved.
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
            Outcome::Success(how) => ("success", how.clone()),
            Outcome::Failure(word, why) => (word, why.clone()),
            Outcome::Ignore => ("not-enrolled", "no secret file; nullok".to_owned()),
            Outcome::UnknownUser => ("unknown-user", "no such user".to_owned()),
            Outcome::StoreUnavailable(word, why) => (word, why.clone()),
            Outcome::Throttled(s) => ("throttled", format!("rate limit reached; retry in {s}s")),
            Outcome::ConfigError(why) => ("config-error", why.clone()),
        }
    }
}

impl Outcome {
    /// The outcome of a login that used the local file because the fleet
    /// store did not answer: the reason says so.
    fn degraded(self, why: &str) -> Outcome {
        let note = format!("; fleet store unavailable ({why}): local file used (degraded)");
        match self {
            Outcome::Success(r) => Outcome::Success(r + &note),
            Outcome::Failure(w, r) => Outcome::Failure(w, r + &note),
            Outcome::StoreUnavailable(w, r) => Outcome::StoreUnavailable(w, r + &note),
            other => other,
        }
    }
}

fn store_error(e: &StoreError) -> Outcome {
    Outcome::StoreUnavailable("store-error", e.to_string())
}

pub(crate) fn authenticate(pamh: &mut PamHandle, args: &[&CStr], flags: c_uint) -> PamResultCode {
    let options = pam_ext::args_utf8(args)
        .map_err(OptionError::NotUtf8)
        .and_then(|a| Options::parse(a.iter().copied()));
    let configured = options.map_err(|e| e.to_string()).and_then(|o| {
        let source = o
            .conf
            .as_ref()
            .map_or(Source::Default, |p| Source::Named(p.into()));
        let minimums = config::read(&source, &o.minimums).map_err(|e| e.to_string())?;
        Ok((o, minimums))
    });
    let (user, outcome) = match configured {
        Err(e) => (None, Outcome::ConfigError(e)),
        Ok((options, minimums)) => match pamh.get_user(None) {
            Err(_) => (
                None,
                Outcome::Failure("no-user", "could not get the user name".into()),
            ),
            Ok(user) => {
                let outcome = Login::new(pamh, flags, &options, minimums).run(&user);
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

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// One input of the login: its readings as codes, the raw text (for
/// `forward_pass`), whether another follows, and what to log if nothing matched.
struct Input<'i> {
    found: Zeroizing<Vec<Candidate>>,
    raw: &'i [u8],
    last: bool,
    no_match: &'static str,
}

impl Input<'_> {
    /// No usable input: the attempt is still counted.
    fn none(why: &'static str) -> Self {
        Input {
            found: Zeroizing::new(Vec::new()),
            raw: &[],
            last: true,
            no_match: why,
        }
    }
}

/// After one input: decided, or try the next input.
enum Step {
    Done(Outcome),
    Next { hotp_tried: bool },
}

/// One login attempt.
struct Login<'a> {
    pamh: &'a mut PamHandle,
    flags: c_uint,
    options: &'a Options,
    minimums: Minimums,
    /// PAM_RHOST when it is a host name or an IP literal (the only kind recorded).
    host: Option<GraceHost>,
    /// PAM_RHOST was set but is no host name: it is not recorded.
    odd_rhost: bool,
}

impl<'a> Login<'a> {
    fn new(
        pamh: &'a mut PamHandle,
        flags: c_uint,
        options: &'a Options,
        minimums: Minimums,
    ) -> Self {
        let rhost = pam_ext::item_string(pamh, StrItem::RHost).filter(|h| !h.is_empty());
        let host = rhost.as_deref().and_then(GraceHost::parse);
        let odd_rhost = rhost.is_some() && host.is_none();
        Self {
            pamh,
            flags,
            options,
            minimums,
            host,
            odd_rhost,
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

    fn run(&mut self, user: &str) -> Outcome {
        let target = match self.target(user) {
            Ok(Some(t)) => t,
            Ok(None) => {
                self.answer_in_vain();
                return Outcome::UnknownUser;
            }
            Err(outcome) => return outcome,
        };
        self.debug(&format!("secret file \"{}\"", target.path.display()));
        let file = FileStore::default();
        if self.options.store == StoreKind::File {
            return self.with_store(&file, &target);
        }
        let conf = match FleetConf::read(Path::new(&self.options.store_conf)) {
            Ok(c) => c,
            Err(e) => return Outcome::ConfigError(e.to_string()),
        };
        let fleet = FleetStore::new(conf);
        let local = (self.options.on_store_error == OnStoreError::Local).then_some(&file);
        let store = WithFallback::new(&fleet, local);
        let outcome = self.with_store(&store, &target);
        match store.degraded() {
            Some(why) => outcome.degraded(&why),
            None => outcome,
        }
    }

    /// The login against `store`: the gate, then the code.
    fn with_store(&mut self, store: &impl Store, target: &Target) -> Outcome {
        let grace = self.options.grace_period;
        match store.before_prompt(target, self.host.as_ref(), grace, now()) {
            Ok(Gate::Grace) => return Outcome::Success("within grace period".into()),
            Ok(Gate::Ask) => {}
            Err(StoreError::NotFound(_) | StoreError::NotEnrolled(_)) if self.options.nullok => {
                return Outcome::Ignore;
            }
            Err(StoreError::NotFound(p)) => {
                self.answer_in_vain();
                return Outcome::Failure(
                    "not-enrolled",
                    format!("no secret file \"{}\"", p.display()),
                );
            }
            Err(StoreError::NotEnrolled(why)) => {
                self.answer_in_vain();
                return Outcome::Failure("not-enrolled", why);
            }
            Err(e) => {
                self.answer_in_vain();
                return store_error(&e);
            }
        }
        self.check(store, target)
    }

    /// Resolves the account, the store owner and the secret path; `Ok(None)`
    /// for an unknown user. `${USER}` is the passwd name of the account, so
    /// a name that NSS matches case-insensitively finds the same file.
    fn target(&self, user: &str) -> Result<Option<Target>, Outcome> {
        let Some(account) = store::account_by_name(user).map_err(|e| store_error(&e))? else {
            return Ok(None);
        };
        let owner = match &self.options.owner {
            StoreOwner::TargetUser => account.clone(),
            StoreOwner::Name(n) => store::account_by_name(n)
                .map_err(|e| store_error(&e))?
                .ok_or_else(|| Outcome::ConfigError(format!("user=\"{n}\": no such user")))?,
            StoreOwner::Uid(u) => store::account_by_uid(*u)
                .map_err(|e| store_error(&e))?
                .ok_or_else(|| Outcome::ConfigError(format!("user={u}: no such uid")))?,
        };
        Target::new(
            account,
            owner,
            &self.options.secret,
            !self.options.no_strict_owner,
            self.options.allowed_perm,
        )
        .map(Some)
        .map_err(|e| store_error(&e))
    }

    fn rules(&self) -> Rules {
        Rules {
            skew_learning: !self.options.noskewadj,
            advance_hotp_on_failure: !self.options.no_increment_hotp,
            grace_period: self.options.grace_period,
            minimums: self.minimums,
        }
    }

    /// Asks for the code (unless `use_first_pass`); `None` when there is no answer.
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

    fn authtok(&mut self) -> Option<Zeroizing<Vec<u8>>> {
        let first_pass = self.options.try_first_pass || self.options.use_first_pass;
        if !first_pass {
            return None;
        }
        pam_ext::get_authtok(self.pamh, false).ok().flatten()
    }

    /// The inputs a wrong code would be asked for, asked and checked against
    /// a decoy enrollment, so neither the prompts nor the time taken tell an
    /// unknown or unenrolled account from a wrong code.
    fn answer_in_vain(&mut self) {
        let _ = self.authtok();
        let Some(answer) = self.read_input() else {
            return;
        };
        let Ok(decoy) = Enrollment::parse(b"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n\" TOTP_AUTH\n")
        else {
            return;
        };
        let found = decision::candidates(&answer, !self.options.forward_pass);
        let attempt = Attempt {
            candidates: &found,
            rules: self.rules(),
            host: None,
            last: true,
            hotp_tried: false,
        };
        let _ = decision::decide(&decoy, &attempt, now());
    }

    /// The inputs in the anchor's order: PAM_AUTHTOK first with
    /// `try_first_pass`/`use_first_pass`, then the prompt (not with `use_first_pass`).
    fn check(&mut self, store: &impl Store, target: &Target) -> Outcome {
        let mut hotp_tried = false;
        if let Some(token) = self.authtok() {
            let input = Input {
                found: decision::candidates(&token, false),
                raw: &token,
                last: self.options.use_first_pass,
                no_match: "no code matched",
            };
            match self.attempt(store, target, &input, hotp_tried) {
                Step::Done(outcome) => return outcome,
                Step::Next { hotp_tried: h } => hotp_tried = h,
            }
        }
        let answer = self.read_input();
        let input = match (&answer, self.options.use_first_pass) {
            (_, true) => Input::none("no usable code in PAM_AUTHTOK"),
            (Some(a), false) => Input {
                found: decision::candidates(a, !self.options.forward_pass),
                raw: a,
                last: true,
                no_match: "no code matched",
            },
            (None, false) => Input::none("no code received"),
        };
        match self.attempt(store, target, &input, hotp_tried) {
            Step::Done(outcome) => outcome,
            // A last input is always decided.
            Step::Next { .. } => Outcome::Failure("wrong-code", input.no_match.to_owned()),
        }
    }

    /// One input through the store's transaction; the clock is read now,
    /// when the answer has arrived.
    fn attempt(
        &mut self,
        store: &impl Store,
        target: &Target,
        input: &Input<'_>,
        hotp_tried: bool,
    ) -> Step {
        let attempt = Attempt {
            candidates: &input.found,
            rules: self.rules(),
            host: self.host.as_ref(),
            last: input.last,
            hotp_tried,
        };
        let decided = match store.attempt(target, &attempt, now()) {
            Ok(d) => d,
            Err(e) => return Step::Done(store_error(&e)),
        };
        if let Some(e) = &decided.unsaved {
            let why = e
                .errno()
                .map_or_else(|| e.to_string(), |n| n.desc().to_owned());
            self.conv().error(&messages::save_failed(&why));
            if !self.options.allow_readonly {
                return Step::Done(Outcome::StoreUnavailable("save-error", e.to_string()));
            }
        }
        let outcome = match decided.outcome {
            decision::Outcome::TryNext { hotp_tried } => return Step::Next { hotp_tried },
            decision::Outcome::WrongCode => {
                Outcome::Failure("wrong-code", input.no_match.to_owned())
            }
            decision::Outcome::Throttled { retry_after } => {
                self.conv().error(&messages::throttled(retry_after));
                Outcome::Throttled(retry_after)
            }
            decision::Outcome::Refused(Refused::Reused { .. }) => {
                self.conv().error(messages::REUSED);
                Outcome::Failure("reused", "code already used".into())
            }
            decision::Outcome::Refused(Refused::SkewLearning) => Outcome::Failure(
                "skew-learning",
                "code far outside the window; learning the clock skew".into(),
            ),
            decision::Outcome::Refused(Refused::SkewRepeat) => {
                Outcome::Failure("skew-learning", "same out-of-window code repeated".into())
            }
            decision::Outcome::Refused(Refused::BelowMinimum(short)) => {
                match short {
                    Shortfall::ScratchCodes { .. } => self.conv().error(messages::SCRATCH_REFUSED),
                    _ => self.conv().error(&messages::below_minimum(&short)),
                }
                Outcome::Failure(
                    "below-minimum",
                    format!("right code refused by {}: {short}", short.setting()),
                )
            }
            decision::Outcome::Accepted { how, candidate } => {
                self.accepted(how, candidate, input.raw)
            }
        };
        Step::Done(outcome)
    }

    fn accepted(&mut self, how: Accepted, candidate: Candidate, input: &[u8]) -> Outcome {
        if self.options.forward_pass {
            let password = &input[..candidate.prefix_len.min(input.len())];
            if pam_ext::set_authtok(self.pamh, password).is_err() {
                return Outcome::Failure(
                    "forward-pass-error",
                    "could not pass the password on".into(),
                );
            }
        }
        let mut how = match how {
            Accepted::Totp { .. } => "time-based code accepted",
            Accepted::Hotp { .. } => "counter-based code accepted",
            Accepted::Scratch => "scratch code accepted",
            Accepted::SkewReset { .. } => "clock skew learned; code accepted",
        }
        .to_owned();
        if self.odd_rhost && self.options.grace_period > 0 {
            how.push_str("; rhost is not a host name, not recorded for grace_period");
        }
        Outcome::Success(how)
    }
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
