//! Module arguments, parsed into a typed policy. Names and meanings are
//! pam_pwquality's (and pam_cracklib's where they differ only in spelling),
//! so an existing `password requisite ...` line carries over. Unlike
//! pam_pwquality, an unknown option or a malformed value is an error that
//! names it, never silently ignored.

#![forbid(unsafe_code)]

use std::fmt;

/// The shortest `minlen` pam_pwquality honours; smaller values are raised to it.
pub const MIN_LENGTH_FLOOR: i64 = 6;
/// Character classes: digits, upper, lower, other.
pub const NUM_CLASSES: i64 = 4;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pub retry: u32,
    pub minlen: i64,
    pub difok: i64,
    pub dcredit: i64,
    pub ucredit: i64,
    pub lcredit: i64,
    pub ocredit: i64,
    pub minclass: i64,
    pub maxrepeat: i64,
    pub maxsequence: i64,
    pub maxclassrepeat: i64,
    pub gecoscheck: bool,
    pub dictcheck: bool,
    pub dictpath: Option<String>,
    /// `breachlist=`: a breach filter built by `pam-policy-check
    /// --build-breach-filter`; passwords whose SHA-1 is in it are refused.
    pub breachlist: Option<String>,
    pub usercheck: bool,
    pub usersubstr: i64,
    pub enforcing: bool,
    pub badwords: Vec<String>,
    pub enforce_for_root: bool,
    pub local_users_only: bool,
    /// `minscore=`: the least zxcvbn score (0-4) accepted; 0 is off.
    pub minscore: u8,
    pub debug: bool,
    /// `type=`: the word libpam puts in its prompts ("New UNIX password: ").
    pub authtok_type: Option<String>,
}

impl Default for Policy {
    /// pam_pwquality's defaults.
    fn default() -> Self {
        Self {
            retry: 1,
            minlen: 8,
            difok: 1,
            dcredit: 0,
            ucredit: 0,
            lcredit: 0,
            ocredit: 0,
            minclass: 0,
            maxrepeat: 0,
            maxsequence: 0,
            maxclassrepeat: 0,
            gecoscheck: false,
            dictcheck: true,
            dictpath: None,
            breachlist: None,
            usercheck: true,
            usersubstr: 0,
            enforcing: true,
            badwords: Vec::new(),
            enforce_for_root: false,
            local_users_only: false,
            minscore: 0,
            debug: false,
            authtok_type: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OptionError {
    Unknown(String),
    BadValue {
        option: String,
        value: String,
        reason: &'static str,
    },
    NotUtf8(String),
}

impl fmt::Display for OptionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OptionError::Unknown(o) => write!(f, "unknown option \"{o}\""),
            OptionError::BadValue {
                option,
                value,
                reason,
            } => write!(f, "bad value \"{value}\" for option {option}: {reason}"),
            OptionError::NotUtf8(o) => write!(f, "option is not valid UTF-8: \"{o}\""),
        }
    }
}

impl std::error::Error for OptionError {}

/// Arguments libpam itself interprets in `pam_get_authtok` (or pam_pwquality
/// accepts and ignores); they are valid here and change nothing in the policy.
const PASSED_TO_LIBPAM: &[&str] = &["use_authtok", "use_first_pass", "try_first_pass"];
/// Valued arguments that set nothing in the policy: `authtok_type=` (libpam
/// reads it), `difignore=` (ignored, as pam_pwquality does) and `conf=` (read
/// before the other arguments, see `config::load`).
const VALUED_OUTSIDE_POLICY: &[&str] = &["authtok_type", "difignore", "conf"];

/// The names pwquality.conf may set: libpwquality's settings, and `minscore`.
pub const CONF_SETTINGS: &[&str] = &[
    "difok",
    "minlen",
    "dcredit",
    "ucredit",
    "lcredit",
    "ocredit",
    "minclass",
    "maxrepeat",
    "maxclassrepeat",
    "maxsequence",
    "gecoscheck",
    "dictcheck",
    "usercheck",
    "usersubstr",
    "enforcing",
    "badwords",
    "dictpath",
    "retry",
    "enforce_for_root",
    "local_users_only",
    "minscore",
    "breachlist",
];

impl Policy {
    /// Applies module arguments over `self` (defaults or a config file).
    /// Names are case-insensitive, as in pam_pwquality.
    pub fn apply_args<'a>(
        mut self,
        args: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, OptionError> {
        for arg in args {
            let (name, value) = match arg.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (arg, None),
            };
            self.set(&name.to_ascii_lowercase(), value, arg)?;
        }
        Ok(self)
    }

    /// Sets one option by name; `raw` is the whole argument, for messages.
    pub fn set(&mut self, name: &str, value: Option<&str>, raw: &str) -> Result<(), OptionError> {
        let int = |v: Option<&str>| -> Result<i64, OptionError> {
            let v = v.ok_or_else(|| bad(name, "", "needs a value"))?;
            let n = v
                .trim()
                .parse::<i64>()
                .map_err(|_| bad(name, v, "not an integer"))?;
            // libpwquality keeps settings in an int; beyond that, arithmetic
            // on credits and lengths could overflow.
            if i32::try_from(n).is_err() {
                return Err(bad(name, v, "out of range"));
            }
            Ok(n)
        };
        let count = |v: Option<&str>| -> Result<i64, OptionError> {
            let n = int(v)?;
            if n < 0 {
                return Err(bad(name, v.unwrap_or(""), "must not be negative"));
            }
            Ok(n)
        };
        match name {
            "retry" => self.retry = u32::try_from(int(value)?.clamp(1, 1000)).unwrap_or(1),
            "minlen" => self.minlen = int(value)?.max(MIN_LENGTH_FLOOR),
            "difok" => self.difok = count(value)?,
            "dcredit" => self.dcredit = int(value)?,
            "ucredit" => self.ucredit = int(value)?,
            "lcredit" => self.lcredit = int(value)?,
            "ocredit" => self.ocredit = int(value)?,
            "minclass" => self.minclass = count(value)?.min(NUM_CLASSES),
            "maxrepeat" => self.maxrepeat = count(value)?,
            "maxsequence" => self.maxsequence = count(value)?,
            "maxclassrepeat" => self.maxclassrepeat = count(value)?,
            "usersubstr" => self.usersubstr = count(value)?,
            // pam_cracklib spells these as flags, pam_pwquality as numbers.
            "gecoscheck" => self.gecoscheck = value.map_or(Ok(1), |v| int(Some(v)))? != 0,
            "usercheck" => self.usercheck = int(value)? != 0,
            "reject_username" if value.is_none() => self.usercheck = true,
            "dictcheck" => self.dictcheck = int(value)? != 0,
            "enforcing" => self.enforcing = int(value)? != 0,
            "dictpath" => {
                let v = value.ok_or_else(|| bad(name, "", "needs a path"))?;
                self.dictpath = (!v.is_empty()).then(|| v.to_owned());
            }
            "breachlist" => {
                let v = value.ok_or_else(|| bad(name, "", "needs a path"))?;
                self.breachlist = (!v.is_empty()).then(|| v.to_owned());
            }
            "badwords" => {
                let v = value.ok_or_else(|| bad(name, "", "needs a word list"))?;
                self.badwords = v.split_whitespace().map(str::to_owned).collect();
            }
            // Set-type options: present means on (a value, as in the config file, too).
            "enforce_for_root" => self.enforce_for_root = true,
            "local_users_only" => self.local_users_only = true,
            "debug" => self.debug = true,
            "minscore" => {
                let n = int(value)?;
                self.minscore = u8::try_from(n)
                    .ok()
                    .filter(|s| *s <= 4)
                    .ok_or_else(|| bad(name, value.unwrap_or(""), "must be 0 to 4"))?;
            }
            "type" => {
                let v = value.ok_or_else(|| bad(name, "", "needs a word"))?;
                self.authtok_type = (!v.is_empty()).then(|| v.to_owned());
            }
            n if PASSED_TO_LIBPAM.contains(&n) && value.is_none() => {}
            n if VALUED_OUTSIDE_POLICY.contains(&n) && value.is_some() => {}
            _ => return Err(OptionError::Unknown(raw.to_owned())),
        }
        Ok(())
    }
}

fn bad(option: &str, value: &str, reason: &'static str) -> OptionError {
    OptionError::BadValue {
        option: option.to_owned(),
        value: value.to_owned(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Policy, OptionError> {
        Policy::default().apply_args(args.iter().copied())
    }

    #[test]
    fn the_hardening_guide_line() {
        let p = parse(&[
            "retry=3",
            "minlen=10",
            "difok=3",
            "ucredit=-1",
            "lcredit=-2",
            "dcredit=-1",
            "ocredit=-1",
        ])
        .unwrap();
        assert_eq!(
            (
                p.retry, p.minlen, p.difok, p.ucredit, p.lcredit, p.dcredit, p.ocredit
            ),
            (3, 10, 3, -1, -2, -1, -1)
        );
    }

    #[test]
    fn clamps_follow_pam_pwquality() {
        let p = parse(&["minlen=3", "retry=0", "minclass=9", "minlen=-4"]).unwrap();
        assert_eq!((p.minlen, p.retry, p.minclass), (6, 1, 4));
    }

    #[test]
    fn names_are_case_insensitive() {
        assert_eq!(parse(&["MinLen=12"]).unwrap().minlen, 12);
    }

    #[test]
    fn libpam_and_cracklib_options_are_accepted() {
        let p = parse(&[
            "use_authtok",
            "try_first_pass",
            "authtok_type=UNIX",
            "reject_username",
            "gecoscheck",
            "enforce_for_root",
            "local_users_only",
            "badwords=acme  widget",
            "dictpath=/usr/share/dict/x",
        ])
        .unwrap();
        assert!(p.usercheck && p.gecoscheck && p.enforce_for_root && p.local_users_only);
        assert_eq!(p.badwords, vec!["acme", "widget"]);
    }

    #[test]
    fn unknown_options_and_bad_values_name_themselves() {
        for arg in [
            "minlenn=3",
            "minlen=ten",
            "minlen",
            "retry=",
            "use_authtok=1",
            "minscore=5",
            "maxrepeat=-1",
            "difok=-3",
            "dcredit=-9223372036854775808",
            "minlen=99999999999",
            "frobnicate",
        ] {
            let text = parse(&[arg]).unwrap_err().to_string();
            let shown = arg
                .split_once('=')
                .map_or(arg, |(n, v)| if v.is_empty() { n } else { v });
            assert!(text.contains(shown), "{arg:?} -> {text}");
        }
    }
}
