//! Module arguments, parsed into a typed value. The option names and their
//! meanings are pam_google_authenticator's, so an existing PAM line keeps
//! working when only the module name changes.

#![forbid(unsafe_code)]

use std::fmt;

use crate::minimums::{BadSetting, Setting};

/// The default prompt, as pam_google_authenticator shows it.
pub const DEFAULT_PROMPT: &str = "Verification code: ";
/// The prompt with `forward_pass`, where password and code come in one answer.
pub const FORWARD_PASS_PROMPT: &str = "Password & verification code: ";
/// The default secret file, relative to the user's home.
pub const DEFAULT_SECRET: &str = "~/.google_authenticator";

/// Where enrollments live (`store=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreKind {
    /// The secret file (the default).
    File,
    /// The fleet store on PostgreSQL (`store=postgres`).
    Postgres,
}

/// What a login does when the fleet store does not answer (`on_store_error=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnStoreError {
    /// Refuse (`PAM_AUTHINFO_UNAVAIL`), the default.
    Fail,
    /// Use the local secret file instead, logged as degraded.
    Local,
}

/// Whose identity the secret file is read and written as (`user=`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreOwner {
    /// The user who is logging in (the default).
    TargetUser,
    /// A fixed account, by name or number, e.g. for a root-owned store.
    Name(String),
    Uid(u32),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// `secret=`: path template with `~`, `${HOME}` and `${USER}`.
    pub secret: String,
    pub owner: StoreOwner,
    /// `allowed_perm=`: permission bits the file may have (default 0600).
    pub allowed_perm: u32,
    pub no_strict_owner: bool,
    pub nullok: bool,
    pub echo_verification_code: bool,
    pub forward_pass: bool,
    pub try_first_pass: bool,
    pub use_first_pass: bool,
    pub noskewadj: bool,
    pub no_increment_hotp: bool,
    /// `grace_period=`: seconds; 0 is off.
    pub grace_period: u64,
    pub allow_readonly: bool,
    /// `authtok_prompt=`; `None` means the default for the mode.
    pub authtok_prompt: Option<String>,
    pub debug: bool,
    /// `conf=`: the minimums file; `None` is the default file, which may be absent.
    pub conf: Option<String>,
    /// The minimums given as arguments, in order; they apply after the file's.
    pub minimums: Vec<Setting>,
    pub store: StoreKind,
    /// `store_conf=`: the fleet store's connection file.
    pub store_conf: String,
    pub on_store_error: OnStoreError,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            secret: DEFAULT_SECRET.to_owned(),
            owner: StoreOwner::TargetUser,
            allowed_perm: 0o600,
            no_strict_owner: false,
            nullok: false,
            echo_verification_code: false,
            forward_pass: false,
            try_first_pass: false,
            use_first_pass: false,
            noskewadj: false,
            no_increment_hotp: false,
            grace_period: 0,
            allow_readonly: false,
            authtok_prompt: None,
            debug: false,
            conf: None,
            minimums: Vec::new(),
            store: StoreKind::File,
            store_conf: crate::fleet::DEFAULT_CONF.to_owned(),
            on_store_error: OnStoreError::Fail,
        }
    }
}

/// Why a module argument was refused; the message names the offending text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OptionError {
    Unknown(String),
    BadValue {
        option: &'static str,
        value: String,
        reason: &'static str,
    },
    NotUtf8(String),
    /// `~` or `${HOME}` in `secret=` together with `user=`, which the anchor also refuses.
    HomeWithUser,
    Minimum(BadSetting),
}

impl fmt::Display for OptionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OptionError::Unknown(o) => write!(f, "unrecognized option \"{o}\""),
            OptionError::BadValue {
                option,
                value,
                reason,
            } => write!(f, "bad value \"{value}\" for option {option}: {reason}"),
            OptionError::NotUtf8(o) => write!(f, "option is not valid UTF-8: \"{o}\""),
            OptionError::HomeWithUser => {
                f.write_str("home directory in \"secret=\" cannot be used together with \"user=\"")
            }
            OptionError::Minimum(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for OptionError {}

impl Options {
    /// Parses module arguments; later options override earlier ones, as in the anchor.
    pub fn parse<'a>(args: impl IntoIterator<Item = &'a str>) -> Result<Self, OptionError> {
        let mut o = Options::default();
        for arg in args {
            let (name, value) = match arg.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (arg, None),
            };
            match (name, value) {
                ("secret", Some(v)) => {
                    if v.is_empty() {
                        return Err(bad("secret", v, "empty path"));
                    }
                    o.secret = v.to_owned();
                }
                ("authtok_prompt", Some(v)) => o.authtok_prompt = Some(v.to_owned()),
                ("user", Some(v)) => o.owner = parse_owner(v)?,
                ("allowed_perm", Some(v)) => o.allowed_perm = parse_perm(v)?,
                ("grace_period", Some(v)) => o.grace_period = parse_seconds(v)?,
                ("no_strict_owner", None) => o.no_strict_owner = true,
                ("nullok", None) => o.nullok = true,
                ("echo_verification_code" | "echo-verification-code", None) => {
                    o.echo_verification_code = true
                }
                ("forward_pass", None) => o.forward_pass = true,
                ("try_first_pass", None) => o.try_first_pass = true,
                ("use_first_pass", None) => o.use_first_pass = true,
                ("noskewadj", None) => o.noskewadj = true,
                ("no_increment_hotp", None) => o.no_increment_hotp = true,
                ("allow_readonly", None) => o.allow_readonly = true,
                ("debug", None) => o.debug = true,
                ("store", Some("file")) => o.store = StoreKind::File,
                ("store", Some("postgres")) => o.store = StoreKind::Postgres,
                ("store", Some(v)) => return Err(bad("store", v, "must be file or postgres")),
                ("store_conf", Some(v)) => {
                    if !v.starts_with('/') {
                        return Err(bad("store_conf", v, "not an absolute path"));
                    }
                    o.store_conf = v.to_owned();
                }
                ("on_store_error", Some("fail")) => o.on_store_error = OnStoreError::Fail,
                ("on_store_error", Some("local")) => o.on_store_error = OnStoreError::Local,
                ("on_store_error", Some(v)) => {
                    return Err(bad("on_store_error", v, "must be fail or local"));
                }
                ("conf", Some(v)) => {
                    if !v.starts_with('/') {
                        return Err(bad("conf", v, "not an absolute path"));
                    }
                    o.conf = Some(v.to_owned());
                }
                _ => match Setting::parse(name, value) {
                    Ok(Some(s)) => o.minimums.push(s),
                    Ok(None) => return Err(OptionError::Unknown(arg.to_owned())),
                    Err(e) => return Err(OptionError::Minimum(e)),
                },
            }
        }
        if o.owner != StoreOwner::TargetUser && in_home(&o.secret) {
            return Err(OptionError::HomeWithUser);
        }
        Ok(o)
    }

    /// The prompt to show, honouring `authtok_prompt=` and `forward_pass`.
    pub fn prompt(&self) -> &str {
        match (&self.authtok_prompt, self.forward_pass) {
            (Some(p), _) => p,
            (None, true) => FORWARD_PASS_PROMPT,
            (None, false) => DEFAULT_PROMPT,
        }
    }
}

/// Whether a `secret=` template names the user's home (`${HOME}`, or a
/// `~` the anchor expands: at the start or right after a `/`), which a
/// store owned by another account (`user=`) cannot use.
pub fn in_home(template: &str) -> bool {
    template.contains("${HOME}") || template.starts_with('~') || template.contains("/~")
}

fn bad(option: &'static str, value: &str, reason: &'static str) -> OptionError {
    OptionError::BadValue {
        option,
        value: value.to_owned(),
        reason,
    }
}

fn parse_owner(v: &str) -> Result<StoreOwner, OptionError> {
    if v.is_empty() {
        return Err(bad("user", v, "empty user name"));
    }
    if v.bytes().all(|b| b.is_ascii_digit()) {
        return v
            .parse::<u32>()
            .map(StoreOwner::Uid)
            .map_err(|_| bad("user", v, "uid out of range"));
    }
    Ok(StoreOwner::Name(v.to_owned()))
}

fn parse_perm(v: &str) -> Result<u32, OptionError> {
    let perm =
        u32::from_str_radix(v, 8).map_err(|_| bad("allowed_perm", v, "not an octal number"))?;
    if perm == 0 || perm > 0o7777 {
        return Err(bad("allowed_perm", v, "must be between 1 and 07777"));
    }
    Ok(perm)
}

fn parse_seconds(v: &str) -> Result<u64, OptionError> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("grace_period", v, "not a number of seconds"));
    }
    v.parse::<u64>()
        .map_err(|_| bad("grace_period", v, "out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_anchor() {
        let o = Options::parse([]).unwrap();
        assert_eq!(o.secret, "~/.google_authenticator");
        assert_eq!(o.allowed_perm, 0o600);
        assert_eq!(o.prompt(), "Verification code: ");
        assert_eq!(o.owner, StoreOwner::TargetUser);
    }

    #[test]
    fn every_anchor_option_is_accepted() {
        let o = Options::parse([
            "secret=/var/lib/totp/${USER}",
            "user=root",
            "allowed_perm=0640",
            "no_strict_owner",
            "nullok",
            "echo_verification_code",
            "forward_pass",
            "try_first_pass",
            "use_first_pass",
            "noskewadj",
            "no_increment_hotp",
            "grace_period=300",
            "allow_readonly",
            "authtok_prompt=Code: ",
            "debug",
        ])
        .unwrap();
        assert_eq!(o.owner, StoreOwner::Name("root".into()));
        assert_eq!(o.allowed_perm, 0o640);
        assert_eq!(o.grace_period, 300);
        assert!(o.nullok && o.forward_pass && o.allow_readonly && o.debug);
        assert_eq!(o.prompt(), "Code: ");
        assert!(
            Options::parse(["echo-verification-code"])
                .unwrap()
                .echo_verification_code
        );
    }

    #[test]
    fn forward_pass_changes_the_default_prompt() {
        let o = Options::parse(["forward_pass"]).unwrap();
        assert_eq!(o.prompt(), "Password & verification code: ");
    }

    #[test]
    fn unknown_and_malformed_options_name_themselves() {
        for bad in [
            "nulok",
            "secret",
            "nullok=1",
            "debug=yes",
            "window=3",
            "allowed_perm=",
            "allowed_perm=0",
            "allowed_perm=0999",
            "allowed_perm=abc",
            "grace_period=-1",
            "grace_period=1x",
            "user=",
            "user=99999999999",
        ] {
            let err = Options::parse([bad]).unwrap_err();
            let text = err.to_string();
            let shown = bad.split_once('=').map_or(bad, |(_, v)| v);
            assert!(text.contains(shown), "{bad:?} -> {text}");
        }
    }

    #[test]
    fn numeric_user_is_a_uid() {
        assert_eq!(
            Options::parse(["user=0", "secret=/etc/totp/${USER}"])
                .unwrap()
                .owner,
            StoreOwner::Uid(0)
        );
    }

    #[test]
    fn home_in_secret_with_user_is_refused() {
        for secret in ["secret=~/.ga", "secret=${HOME}/.ga", "secret=/x/~/y"] {
            assert_eq!(
                Options::parse([secret, "user=root"]),
                Err(OptionError::HomeWithUser)
            );
        }
        // `user=` with the default secret (which uses `~`) is refused too.
        assert_eq!(
            Options::parse(["user=root"]),
            Err(OptionError::HomeWithUser)
        );
    }

    #[test]
    fn later_options_override_earlier_ones() {
        let o = Options::parse(["secret=/a", "secret=/b"]).unwrap();
        assert_eq!(o.secret, "/b");
    }
}
