//! The admin's minimums: what every login applies whatever the user's
//! secret file says, and what totp-enroll never writes below. Settable as
//! module arguments and in one file ([`DEFAULT_CONF`]), with the same
//! names and syntax in both:
//!
//! ```text
//! require_disallow_reuse     a code is accepted once (as DISALLOW_REUSE)
//! max_window_size=N          at most N codes around now (WINDOW_SIZE capped)
//! require_rate_limit=N/S     at most N attempts per S seconds (RATE_LIMIT no looser)
//! refuse_hotp                counter-based (HOTP) enrollments are refused
//! refuse_scratch_codes       scratch codes are not accepted
//! min_secret_bits=N          secrets shorter than N bits are refused
//! ```
//!
//! A login never rewrites a user's settings to meet them: it applies them.
//! The two that keep state in the file, reuse and the rate limit, record
//! it the way the options themselves do (the used step on the
//! `DISALLOW_REUSE` line, the attempt times on the `RATE_LIMIT` line,
//! which is added with the admin's numbers when the file has none).

#![forbid(unsafe_code)]

use std::fmt;

use crate::enrollment::{Enrollment, Kind, RateLimit};

/// The file both pam_totp.so and totp-enroll read the minimums from.
pub const DEFAULT_CONF: &str = "/etc/security/pam_totp.conf";

/// The largest `max_window_size` (the file format's largest `WINDOW_SIZE`).
const MAX_WINDOW: u32 = 100;
/// The largest `min_secret_bits` (a 128-byte secret).
const MAX_SECRET_BITS: u32 = 1024;

/// One minimum, as written on a PAM line or in the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Setting {
    RequireDisallowReuse,
    MaxWindowSize(u32),
    RequireRateLimit { attempts: u32, interval: u64 },
    RefuseHotp,
    RefuseScratchCodes,
    MinSecretBits(u32),
}

/// A minimum with a value it cannot take; names the setting and the value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadSetting {
    pub name: &'static str,
    pub value: String,
    pub reason: &'static str,
}

impl fmt::Display for BadSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "bad value \"{}\" for {}: {}",
            self.value, self.name, self.reason
        )
    }
}

impl Setting {
    /// The setting `name` (with `value` after `=`, if any); `Ok(None)` when
    /// `name` is not a minimum's name.
    pub fn parse(name: &str, value: Option<&str>) -> Result<Option<Setting>, BadSetting> {
        let flag = |s: Setting, n: &'static str| match value {
            None => Ok(Some(s)),
            Some(v) => Err(bad(n, v, "takes no value")),
        };
        let needs = |n: &'static str| value.ok_or_else(|| bad(n, "", "needs a value (name=value)"));
        match name {
            "require_disallow_reuse" => {
                flag(Setting::RequireDisallowReuse, "require_disallow_reuse")
            }
            "refuse_hotp" => flag(Setting::RefuseHotp, "refuse_hotp"),
            "refuse_scratch_codes" => flag(Setting::RefuseScratchCodes, "refuse_scratch_codes"),
            "max_window_size" => {
                let v = needs("max_window_size")?;
                let n = number(v).ok_or_else(|| bad("max_window_size", v, "not a number"))?;
                if !(1..=MAX_WINDOW).contains(&n) {
                    return Err(bad("max_window_size", v, "must be between 1 and 100"));
                }
                Ok(Some(Setting::MaxWindowSize(n)))
            }
            "require_rate_limit" => {
                let v = needs("require_rate_limit")?;
                let shape = "must be ATTEMPTS/SECONDS, e.g. 3/30";
                let (a, s) = v
                    .split_once('/')
                    .ok_or_else(|| bad("require_rate_limit", v, shape))?;
                let (Some(attempts), Some(interval)) = (number(a), number(s)) else {
                    return Err(bad("require_rate_limit", v, shape));
                };
                let interval = u64::from(interval);
                if !RateLimit::ATTEMPTS.contains(&attempts)
                    || !RateLimit::INTERVAL.contains(&interval)
                {
                    return Err(bad(
                        "require_rate_limit",
                        v,
                        "attempts must be 1-100 and seconds 1-3600",
                    ));
                }
                Ok(Some(Setting::RequireRateLimit { attempts, interval }))
            }
            "min_secret_bits" => {
                let v = needs("min_secret_bits")?;
                let n = number(v).ok_or_else(|| bad("min_secret_bits", v, "not a number"))?;
                if !(8..=MAX_SECRET_BITS).contains(&n) {
                    return Err(bad("min_secret_bits", v, "must be between 8 and 1024"));
                }
                Ok(Some(Setting::MinSecretBits(n)))
            }
            _ => Ok(None),
        }
    }
}

fn bad(name: &'static str, value: &str, reason: &'static str) -> BadSetting {
    BadSetting {
        name,
        value: value.to_owned(),
        reason,
    }
}

fn number(v: &str) -> Option<u32> {
    if v.is_empty() || v.len() > 9 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse().ok()
}

/// Why a line of the minimums file was refused: its number and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileError {
    pub line: usize,
    pub what: String,
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.what)
    }
}

/// The settings of a minimums file: one per line, `name` or `name = value`
/// (blanks around `=` allowed), `#` starts a comment. The file is the
/// project's own, so an unknown name is an error, not ignored.
pub fn parse_file(text: &str) -> Result<Vec<Setting>, FileError> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let at = |what: String| FileError { line: i + 1, what };
        let (name, value) = match line.split_once('=') {
            Some((n, v)) => (n.trim_end(), Some(v.trim_start())),
            None => (line, None),
        };
        match Setting::parse(name, value) {
            Ok(Some(s)) => out.push(s),
            Ok(None) => return Err(at(format!("unknown setting \"{}\"", name.escape_debug()))),
            Err(e) => return Err(at(e.to_string())),
        }
    }
    Ok(out)
}

/// A setting the user's enrollment falls short of, as the admin sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shortfall {
    /// No `DISALLOW_REUSE`.
    Reuse,
    /// `WINDOW_SIZE` above the cap.
    Window { file: u32, max: u32 },
    /// No `RATE_LIMIT`, or a looser one.
    RateLimit {
        file: Option<(u32, u64)>,
        required: (u32, u64),
    },
    /// Counter-based codes, which the admin refuses.
    Hotp,
    /// Scratch codes, which the admin refuses.
    ScratchCodes { count: usize },
    /// A secret shorter than the minimum.
    SecretBits { bits: u32, min: u32 },
}

impl Shortfall {
    /// Whether a login is refused for it (rather than the minimum applied).
    pub fn refuses_login(self) -> bool {
        matches!(self, Shortfall::Hotp | Shortfall::SecretBits { .. })
    }

    /// The setting's name in the minimums file.
    pub fn setting(self) -> &'static str {
        match self {
            Shortfall::Reuse => "require_disallow_reuse",
            Shortfall::Window { .. } => "max_window_size",
            Shortfall::RateLimit { .. } => "require_rate_limit",
            Shortfall::Hotp => "refuse_hotp",
            Shortfall::ScratchCodes { .. } => "refuse_scratch_codes",
            Shortfall::SecretBits { .. } => "min_secret_bits",
        }
    }
}

impl fmt::Display for Shortfall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Shortfall::Reuse => f.write_str("codes may be used more than once (no DISALLOW_REUSE)"),
            Shortfall::Window { file, max } => {
                write!(f, "WINDOW_SIZE {file} is above the maximum of {max}")
            }
            Shortfall::RateLimit {
                file: None,
                required: (n, s),
            } => write!(f, "no RATE_LIMIT (at most {n} per {s} seconds is required)"),
            Shortfall::RateLimit {
                file: Some((a, i)),
                required: (n, s),
            } => write!(f, "RATE_LIMIT {a} {i} is looser than {n} per {s} seconds"),
            Shortfall::Hotp => f.write_str("counter-based (HOTP) codes are not allowed"),
            Shortfall::ScratchCodes { count } => {
                write!(f, "{count} scratch codes, which are not allowed")
            }
            Shortfall::SecretBits { bits, min } => {
                write!(
                    f,
                    "the secret has {bits} bits, fewer than the minimum of {min}"
                )
            }
        }
    }
}

/// The minimums in force: the file's, then the module arguments', each
/// later setting replacing an earlier one of the same name.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Minimums {
    pub require_disallow_reuse: bool,
    pub max_window_size: Option<u32>,
    pub require_rate_limit: Option<(u32, u64)>,
    pub refuse_hotp: bool,
    pub refuse_scratch_codes: bool,
    pub min_secret_bits: Option<u32>,
}

impl Minimums {
    /// No minimums: every file's own settings apply.
    pub const NONE: Minimums = Minimums {
        require_disallow_reuse: false,
        max_window_size: None,
        require_rate_limit: None,
        refuse_hotp: false,
        refuse_scratch_codes: false,
        min_secret_bits: None,
    };

    pub fn apply(&mut self, s: Setting) {
        match s {
            Setting::RequireDisallowReuse => self.require_disallow_reuse = true,
            Setting::MaxWindowSize(n) => self.max_window_size = Some(n),
            Setting::RequireRateLimit { attempts, interval } => {
                self.require_rate_limit = Some((attempts, interval))
            }
            Setting::RefuseHotp => self.refuse_hotp = true,
            Setting::RefuseScratchCodes => self.refuse_scratch_codes = true,
            Setting::MinSecretBits(n) => self.min_secret_bits = Some(n),
        }
    }

    pub fn with(mut self, settings: &[Setting]) -> Self {
        for &s in settings {
            self.apply(s);
        }
        self
    }

    pub fn is_empty(&self) -> bool {
        *self == Minimums::default()
    }

    /// The window a login uses: the file's, capped.
    pub fn window(&self, file: u32) -> u32 {
        self.max_window_size.map_or(file, |max| file.min(max))
    }

    /// Whether a login refuses reused codes.
    pub fn disallow_reuse(&self, file: bool) -> bool {
        file || self.require_disallow_reuse
    }

    /// The rate limit a login applies: the file's and the required one
    /// combined into one at least as strict as each (fewer attempts, longer period).
    pub fn rate_limit(&self, file: Option<(u32, u64)>) -> Option<(u32, u64)> {
        match (file, self.require_rate_limit) {
            (f, None) => f,
            (None, r) => r,
            (Some((a, i)), Some((n, s))) => Some((a.min(n), i.max(s))),
        }
    }

    /// Whether a file's rate limit is at least as strict as the required one.
    fn rate_limit_met(&self, file: Option<(u32, u64)>) -> bool {
        self.require_rate_limit.is_none() || self.rate_limit(file) == file
    }

    /// What the enrollment falls short of, in the order of the table above.
    pub fn shortfalls(&self, e: &Enrollment) -> Vec<Shortfall> {
        let mut out = Vec::new();
        if self.require_disallow_reuse && e.used_steps().is_none() && e.kind() == Kind::Totp {
            out.push(Shortfall::Reuse);
        }
        if let Some(max) = self.max_window_size
            && e.window() > max
        {
            out.push(Shortfall::Window {
                file: e.window(),
                max,
            });
        }
        let file_limit = e.rate_limit().map(|r| (r.attempts, r.interval));
        if let Some(required) = self.require_rate_limit
            && !self.rate_limit_met(file_limit)
        {
            out.push(Shortfall::RateLimit {
                file: file_limit,
                required,
            });
        }
        if self.refuse_hotp && matches!(e.kind(), Kind::Hotp { .. }) {
            out.push(Shortfall::Hotp);
        }
        if self.refuse_scratch_codes && !e.scratch_codes().is_empty() {
            out.push(Shortfall::ScratchCodes {
                count: e.scratch_codes().len(),
            });
        }
        let bits = secret_bits(e);
        if let Some(min) = self.min_secret_bits
            && bits < min
        {
            out.push(Shortfall::SecretBits { bits, min });
        }
        out
    }

    /// The first shortfall a login is refused for (the enrollment must be
    /// made again), if any.
    pub fn refusal(&self, e: &Enrollment) -> Option<Shortfall> {
        if self.refuse_hotp && matches!(e.kind(), Kind::Hotp { .. }) {
            return Some(Shortfall::Hotp);
        }
        let bits = secret_bits(e);
        self.min_secret_bits
            .filter(|&min| bits < min)
            .map(|min| Shortfall::SecretBits { bits, min })
    }

    /// The enrollment with its settings raised to the minimums: the same
    /// secret, reuse refused, the window capped, the rate limit tightened,
    /// scratch codes removed. `Err` with what only a new enrollment fixes.
    pub fn upgrade(&self, e: &Enrollment) -> Result<Enrollment, Upgrade> {
        if let Some(s) = self.refusal(e) {
            return Err(Upgrade::NeedsNewEnrollment(s));
        }
        let mut next = e.clone();
        for s in self.shortfalls(e) {
            let written = match s {
                Shortfall::Reuse => next.set_used_steps(Vec::new()),
                Shortfall::Window { max, .. } => next.set_window(max),
                Shortfall::RateLimit { file, .. } => match self.rate_limit(file) {
                    Some((a, i)) => next.set_rate_limit(a, i),
                    None => Ok(()),
                },
                Shortfall::ScratchCodes { .. } => next.replace_scratch_codes(&[]),
                Shortfall::Hotp | Shortfall::SecretBits { .. } => Ok(()),
            };
            written.map_err(Upgrade::Format)?;
        }
        Ok(next)
    }
}

/// Why [`Minimums::upgrade`] could not raise an enrollment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Upgrade {
    NeedsNewEnrollment(Shortfall),
    Format(crate::enrollment::FormatError),
}

/// The secret's length in bits.
pub fn secret_bits(e: &Enrollment) -> u32 {
    u32::try_from(e.key().as_bytes().len().saturating_mul(8)).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> Enrollment {
        Enrollment::parse(text.as_bytes()).unwrap()
    }

    #[test]
    fn every_setting_parses_and_malformed_values_name_themselves() {
        let all = parse_file(
            "# minimums\nrequire_disallow_reuse\nmax_window_size = 3\n\
             require_rate_limit=3/30  # per host\nrefuse_hotp\nrefuse_scratch_codes\nmin_secret_bits = 160\n",
        )
        .unwrap();
        let m = Minimums::default().with(&all);
        assert_eq!(
            m,
            Minimums {
                require_disallow_reuse: true,
                max_window_size: Some(3),
                require_rate_limit: Some((3, 30)),
                refuse_hotp: true,
                refuse_scratch_codes: true,
                min_secret_bits: Some(160),
            }
        );
        for (line, shown) in [
            ("max_window_size=0", "\"0\""),
            ("max_window_size=101", "101"),
            ("max_window_size", "needs a value"),
            ("require_rate_limit=3", "ATTEMPTS/SECONDS"),
            ("require_rate_limit=0/30", "0/30"),
            ("require_rate_limit=3/3601", "3/3601"),
            ("require_rate_limit=3/-1", "3/-1"),
            ("refuse_hotp=yes", "takes no value"),
            ("min_secret_bits=79x", "79x"),
            ("min_secret_bits=99999999999", "99999999999"),
            ("max_windowsize=3", "unknown setting \"max_windowsize\""),
        ] {
            let err = parse_file(&format!("\n{line}\n")).unwrap_err();
            assert_eq!(err.line, 2, "{line}");
            assert!(err.to_string().contains(shown), "{line}: {err}");
        }
    }

    #[test]
    fn later_settings_replace_earlier_ones() {
        let m = Minimums::default().with(&[Setting::MaxWindowSize(5), Setting::MaxWindowSize(3)]);
        assert_eq!(m.max_window_size, Some(3));
    }

    #[test]
    fn a_weak_file_falls_short_and_an_upgrade_meets_every_minimum() {
        let m = Minimums {
            require_disallow_reuse: true,
            max_window_size: Some(3),
            require_rate_limit: Some((3, 30)),
            refuse_scratch_codes: true,
            min_secret_bits: Some(80),
            ..Minimums::default()
        };
        let weak = file(
            "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP\n\" RATE_LIMIT 10 30 100\n\" WINDOW_SIZE 17\n\" TOTP_AUTH\n12345678\n",
        );
        let short = m.shortfalls(&weak);
        assert_eq!(short.len(), 4, "{short:?}");
        assert_eq!(m.refusal(&weak), None);
        let up = m.upgrade(&weak).unwrap();
        assert!(m.shortfalls(&up).is_empty(), "{:?}", m.shortfalls(&up));
        assert_eq!(up.key(), weak.key());
        assert_eq!(up.window(), 3);
        let limit = up.rate_limit().unwrap();
        assert_eq!(
            (limit.attempts, limit.interval, limit.stamps.clone()),
            (3, 30, vec![100])
        );
        assert!(up.scratch_codes().is_empty());
        assert_eq!(up.used_steps(), Some(&[][..]));
    }

    #[test]
    fn a_stricter_file_is_left_alone() {
        let m = Minimums {
            require_rate_limit: Some((3, 30)),
            max_window_size: Some(5),
            ..Minimums::default()
        };
        let strict = file("JBSWY3DPEHPK3PXP\n\" RATE_LIMIT 2 60\n\" WINDOW_SIZE 3\n\" TOTP_AUTH\n");
        assert!(m.shortfalls(&strict).is_empty());
        assert_eq!(m.rate_limit(Some((2, 60))), Some((2, 60)));
        // Neither stricter: the combination takes the stricter half of each.
        assert_eq!(m.rate_limit(Some((2, 10))), Some((2, 30)));
        assert_eq!(m.upgrade(&strict).unwrap(), strict);
    }

    #[test]
    fn hotp_and_short_secrets_need_a_new_enrollment() {
        let m = Minimums {
            refuse_hotp: true,
            min_secret_bits: Some(128),
            ..Minimums::default()
        };
        let hotp = file("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP\n\" HOTP_COUNTER 4\n");
        assert_eq!(m.refusal(&hotp), Some(Shortfall::Hotp));
        let short = file("JBSWY3DPEHPK3PXP\n\" TOTP_AUTH\n");
        assert_eq!(
            m.refusal(&short),
            Some(Shortfall::SecretBits { bits: 80, min: 128 })
        );
        assert!(matches!(
            m.upgrade(&short),
            Err(Upgrade::NeedsNewEnrollment(Shortfall::SecretBits { .. }))
        ));
    }
}
