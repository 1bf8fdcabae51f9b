//! The enrollment: the typed content of a pam_google_authenticator secret
//! file, parsed and encoded here, side by side, and nowhere else.
//!
//! ```text
//! JBSWY3DPEHPK3PXP               line 1: base32 secret
//! " RATE_LIMIT 3 30 1795421121   options: `" NAME value`, first occurrence wins
//! " WINDOW_SIZE 17
//! " DISALLOW_REUSE 59847369
//! " TOTP_AUTH
//! 12345678                       scratch codes, one per line
//! ```
//!
//! Lines are separated by runs of CR/LF, so CRLF files read like LF files.
//! An enrollment remembers its file line by line, so that encoding it again
//! gives the same bytes, and a change edits the file the way
//! pam_google_authenticator edits it (an option rewritten in place, or
//! inserted right after line 1; later duplicates dropped; a used scratch
//! code's line removed). Lines this module does not know are kept byte for
//! byte. Every value written comes from a type that cannot hold a line break,
//! a NUL or a blank where a field ends (numbers, [`ScratchCode`],
//! [`GraceHost`]), and [`Enrollment::encode`] checks each line it writes.

#![forbid(unsafe_code)]

use std::fmt;

use zeroize::Zeroizing;

use crate::otp::{self, HotpKey, Key};

/// Largest file accepted (the anchor's limit).
pub const MAX_FILE_SIZE: usize = 64 * 1024;
/// Number of `LASTn` grace-period entries.
pub const GRACE_SLOTS: usize = 10;
/// Option names of the grace-period slots.
const LAST_NAMES: [&str; GRACE_SLOTS] = [
    "LAST0", "LAST1", "LAST2", "LAST3", "LAST4", "LAST5", "LAST6", "LAST7", "LAST8", "LAST9",
];

/// Why a secret file cannot be used; the text names the offending option.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FormatError {
    Empty,
    TooLarge(usize),
    NulByte,
    Secret(otp::Base32Error),
    /// A malformed option value. The value is not shown: a damaged file can
    /// hold a scratch code on an option line, and messages reach syslog.
    BadOption {
        name: &'static str,
    },
    /// A value that cannot be written (out of range); a program error.
    Unwritable {
        name: &'static str,
    },
    /// New scratch codes would be hidden by a line before them.
    ScratchHidden,
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormatError::Empty => f.write_str("the file is empty"),
            FormatError::TooLarge(n) => write!(f, "the file is too large ({n} bytes)"),
            FormatError::NulByte => f.write_str("the file contains a NUL byte"),
            FormatError::Secret(otp::Base32Error::Empty) => f.write_str("line 1 holds no secret"),
            FormatError::Secret(otp::Base32Error::BadCharacter(i)) => {
                write!(f, "line 1 is not base32 (character {})", i + 1)
            }
            FormatError::BadOption { name } => write!(f, "invalid {name} option"),
            FormatError::Unwritable { name } => write!(f, "refusing to write an invalid {name}"),
            FormatError::ScratchHidden => f.write_str(
                "a line that is neither an option nor a scratch code comes before the scratch codes",
            ),
        }
    }
}

impl std::error::Error for FormatError {}

/// An eight-digit scratch code (10000000..=99999999). Never printed by `Debug`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ScratchCode(u32);

impl ScratchCode {
    pub const MIN: u32 = 10_000_000;
    pub const MAX: u32 = 99_999_999;

    pub fn new(value: u32) -> Option<Self> {
        (Self::MIN..=Self::MAX)
            .contains(&value)
            .then_some(Self(value))
    }

    pub fn value(self) -> u32 {
        self.0
    }
}

impl zeroize::Zeroize for ScratchCode {
    fn zeroize(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for ScratchCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ScratchCode(<redacted>)")
    }
}

/// A remote host that may be recorded for `grace_period=`: a host name or an
/// IP literal, at most 255 bytes of `[A-Za-z0-9.:_%-]`. Anything else
/// (blanks, line breaks, other bytes) is not a host and is never recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GraceHost(String);

impl GraceHost {
    pub const MAX_LEN: usize = 255;

    pub fn parse(text: &str) -> Option<Self> {
        let ok = !text.is_empty()
            && text.len() <= Self::MAX_LEN
            && text.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'.' | b':' | b'_' | b'%' | b'-')
            });
        ok.then(|| Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A grace-period entry `LASTn <rhost> <unix time>` as read. The host is
/// kept as bytes: files written by pam_google_authenticator may hold any rhost.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LastLogin {
    pub host: Vec<u8>,
    pub when: u64,
}

/// `RATE_LIMIT attempts interval [timestamps...]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateLimit {
    pub attempts: u32,
    pub interval: u64,
    pub stamps: Vec<u64>,
}

impl RateLimit {
    pub const ATTEMPTS: std::ops::RangeInclusive<u32> = 1..=100;
    pub const INTERVAL: std::ops::RangeInclusive<u64> = 1..=3600;
}

/// How codes are made: from the time (`TOTP_AUTH`) or a counter (`HOTP_COUNTER` ≥ 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Totp,
    Hotp {
        counter: u64,
    },
    /// Neither: only scratch codes work (as in the anchor).
    ScratchOnly,
}

/// The settings of a new enrollment (what `totp-enroll` asks for).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewEnrollment {
    pub kind: Kind,
    /// `Some(step)` writes `STEP_SIZE`.
    pub step: Option<u64>,
    pub window: u32,
    /// `Some(steps already used)` turns `DISALLOW_REUSE` on.
    pub disallow_reuse: Option<Vec<u64>>,
    pub rate_limit: Option<(u32, u64)>,
}

/// The known options, by the name the file uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Name {
    StepSize,
    WindowSize,
    HotpCounter,
    TotpAuth,
    TimeSkew,
    DisallowReuse,
    RateLimit,
    ResettingTimeSkew,
    Last(usize),
}

impl Name {
    const ALL: [Name; 18] = [
        Name::StepSize,
        Name::WindowSize,
        Name::HotpCounter,
        Name::TotpAuth,
        Name::TimeSkew,
        Name::DisallowReuse,
        Name::RateLimit,
        Name::ResettingTimeSkew,
        Name::Last(0),
        Name::Last(1),
        Name::Last(2),
        Name::Last(3),
        Name::Last(4),
        Name::Last(5),
        Name::Last(6),
        Name::Last(7),
        Name::Last(8),
        Name::Last(9),
    ];

    fn text(self) -> &'static str {
        match self {
            Name::StepSize => "STEP_SIZE",
            Name::WindowSize => "WINDOW_SIZE",
            Name::HotpCounter => "HOTP_COUNTER",
            Name::TotpAuth => "TOTP_AUTH",
            Name::TimeSkew => "TIME_SKEW",
            Name::DisallowReuse => "DISALLOW_REUSE",
            Name::RateLimit => "RATE_LIMIT",
            Name::ResettingTimeSkew => "RESETTING_TIME_SKEW",
            Name::Last(i) => LAST_NAMES[i],
        }
    }

    /// The option a line sets: `" NAME` followed by a blank or the line end.
    fn of_line(line: &[u8]) -> Option<Name> {
        let rest = line.strip_prefix(b"\" ")?;
        Name::ALL.into_iter().find(|n| {
            let n_bytes = n.text().as_bytes();
            rest.starts_with(n_bytes)
                && rest
                    .get(n_bytes.len())
                    .is_none_or(|&c| matches!(c, b' ' | b'\t' | b'\r' | b'\n'))
        })
    }
}

/// One line of the file with its run of line ends, as read or as written.
#[derive(Clone, PartialEq, Eq)]
enum Line {
    /// The first line of a known option (the one readers use).
    Option(Name, Zeroizing<Vec<u8>>),
    /// A later line of a known option: ignored, dropped when it is rewritten.
    Duplicate(Name, Zeroizing<Vec<u8>>),
    Scratch(ScratchCode, Zeroizing<Vec<u8>>),
    /// Unknown options and anything else, kept as they are.
    Other(Zeroizing<Vec<u8>>),
}

impl Line {
    fn bytes(&self) -> &[u8] {
        match self {
            Line::Option(_, b) | Line::Duplicate(_, b) | Line::Scratch(_, b) | Line::Other(b) => b,
        }
    }
}

/// A parsed secret file. Never printed by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Enrollment {
    key: Key,
    /// Line 1 as read (the secret), with its line ends.
    secret_line: Zeroizing<Vec<u8>>,
    lines: Vec<Line>,
    step: u64,
    window: u32,
    totp: bool,
    hotp_counter: Option<u64>,
    used_steps: Option<Vec<u64>>,
    rate_limit: Option<RateLimit>,
    time_skew: i64,
    resetting_skew: Vec<(u64, i64)>,
    last: [Option<LastLogin>; GRACE_SLOTS],
    scratch: Zeroizing<Vec<ScratchCode>>,
}

impl fmt::Debug for Enrollment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Enrollment")
            .field("key", &self.key)
            .field("kind", &self.kind())
            .field("window", &self.window)
            .field("scratch_codes", &self.scratch.len())
            .finish_non_exhaustive()
    }
}

fn is_eol(b: u8) -> bool {
    b == b'\r' || b == b'\n'
}

fn words(v: &[u8]) -> impl Iterator<Item = &[u8]> {
    v.split(|&c| c == b' ' || c == b'\t')
        .filter(|w| !w.is_empty())
}

fn number<T: std::str::FromStr>(w: &[u8]) -> Option<T> {
    if w.is_empty() || !w.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(w).ok()?.parse().ok()
}

fn signed(w: &[u8]) -> Option<i64> {
    match w.first() {
        Some(b'-') => number::<i64>(&w[1..]).map(|n| -n),
        Some(b'+') => number::<i64>(&w[1..]),
        _ => number::<i64>(w),
    }
}

/// A line's text without its line ends.
fn content(line: &[u8]) -> &[u8] {
    let end = line.iter().position(|&b| is_eol(b)).unwrap_or(line.len());
    &line[..end]
}

/// The value of an option line: after `" NAME`, leading blanks skipped.
fn value_of(name: Name, line: &[u8]) -> &[u8] {
    let text = content(line);
    let mut v = 2 + name.text().len();
    while v < text.len() && matches!(text[v], b' ' | b'\t') {
        v += 1;
    }
    text.get(v..).unwrap_or_default()
}

/// A scratch code line as the anchor reads one: optional leading blanks
/// (strtoul), exactly one number of eight digits, then the line end.
fn scratch_of_line(line: &[u8]) -> Option<ScratchCode> {
    let text = content(line);
    let blanks = text
        .iter()
        .take_while(|&&b| matches!(b, b' ' | b'\t' | 0x0b | 0x0c))
        .count();
    let digits = &text[blanks..];
    if digits.is_empty() || digits.len() > 8 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    ScratchCode::new(number::<u32>(digits)?)
}

/// Splits the bytes after line 1 into lines, each with its run of CR/LF.
fn split_lines(bytes: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && !is_eol(bytes[i]) {
            i += 1;
        }
        while i < bytes.len() && is_eol(bytes[i]) {
            i += 1;
        }
        out.push(&bytes[start..i]);
    }
    out
}

/// A scratch code's line, written straight into wiped memory (no
/// formatted string holds the code on the way).
fn scratch_line(code: ScratchCode, eol: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut line = Zeroizing::new(Vec::with_capacity(8 + eol.len()));
    let mut v = code.value();
    let mut digits = Zeroizing::new([0u8; 8]);
    for d in digits.iter_mut().rev() {
        *d = b'0' + (v % 10) as u8;
        v /= 10;
    }
    line.extend_from_slice(&digits[..]);
    line.extend_from_slice(eol);
    line
}

fn raw(bytes: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut v = Zeroizing::new(Vec::with_capacity(bytes.len()));
    v.extend_from_slice(bytes);
    v
}

impl Enrollment {
    /// Parses a secret file; every malformed value is an error naming its option.
    pub fn parse(bytes: &[u8]) -> Result<Enrollment, FormatError> {
        if bytes.is_empty() {
            return Err(FormatError::Empty);
        }
        if bytes.len() > MAX_FILE_SIZE {
            return Err(FormatError::TooLarge(bytes.len()));
        }
        if bytes.contains(&0) {
            return Err(FormatError::NulByte);
        }
        // Line 1 runs to the first LF; the lines after it start past its run of line ends.
        let first_lf = bytes.iter().position(|&c| c == b'\n');
        let secret_text = &bytes[..first_lf.unwrap_or(bytes.len())];
        let mut rest = first_lf.map_or(bytes.len(), |p| p + 1);
        while rest < bytes.len() && is_eol(bytes[rest]) {
            rest += 1;
        }
        let secret_str = std::str::from_utf8(secret_text)
            .map_err(|e| FormatError::Secret(otp::Base32Error::BadCharacter(e.valid_up_to())))?;
        let key = otp::decode_base32(secret_str).map_err(FormatError::Secret)?;

        let mut lines = Vec::new();
        let mut seen: Vec<Name> = Vec::new();
        // The anchor's scratch scan: option lines skipped, stopping at the
        // first line that is not exactly one eight-digit code.
        let mut scanning = true;
        for line in split_lines(&bytes[rest..]) {
            if let Some(name) = Name::of_line(line) {
                if seen.contains(&name) {
                    lines.push(Line::Duplicate(name, raw(line)));
                } else {
                    seen.push(name);
                    lines.push(Line::Option(name, raw(line)));
                }
                continue;
            }
            if line.first() == Some(&b'"') {
                lines.push(Line::Other(raw(line)));
                continue;
            }
            match scratch_of_line(line).filter(|_| scanning) {
                Some(code) => lines.push(Line::Scratch(code, raw(line))),
                None => {
                    scanning = false;
                    lines.push(Line::Other(raw(line)));
                }
            }
        }
        let mut e = Enrollment::with_defaults(key, raw(&bytes[..rest]), lines);
        e.read_values()?;
        Ok(e)
    }

    /// An enrollment of these lines with every option at the anchor's
    /// default (30-second steps, window 3, nothing else set).
    fn with_defaults(key: Key, secret_line: Zeroizing<Vec<u8>>, lines: Vec<Line>) -> Enrollment {
        Enrollment {
            key,
            secret_line,
            lines,
            step: 30,
            window: 3,
            totp: false,
            hotp_counter: None,
            used_steps: None,
            rate_limit: None,
            time_skew: 0,
            resetting_skew: Vec::new(),
            last: Default::default(),
            scratch: Zeroizing::new(Vec::new()),
        }
    }

    fn option_value(&self, name: Name) -> Option<&[u8]> {
        self.lines.iter().find_map(|l| match l {
            Line::Option(n, b) if *n == name => Some(value_of(name, b)),
            _ => None,
        })
    }

    /// Fills the typed values from the option and scratch lines.
    fn read_values(&mut self) -> Result<(), FormatError> {
        let bad = |name: Name| FormatError::BadOption { name: name.text() };
        let single = |name: Name, lo: u64, hi: u64| -> Result<Option<u64>, FormatError> {
            match self.option_value(name) {
                None => Ok(None),
                Some(v) => {
                    let mut w = words(v);
                    match (w.next().and_then(number::<u64>), w.next()) {
                        (Some(n), None) if (lo..=hi).contains(&n) => Ok(Some(n)),
                        _ => Err(bad(name)),
                    }
                }
            }
        };
        let step = single(Name::StepSize, 1, 60)?.unwrap_or(30);
        let window = single(Name::WindowSize, 1, 100)?.unwrap_or(3) as u32;
        let hotp_counter = single(Name::HotpCounter, 0, i64::MAX as u64)?;
        let totp = self.option_value(Name::TotpAuth).is_some();
        let time_skew = match self.option_value(Name::TimeSkew) {
            None => 0,
            Some(v) => {
                let mut w = words(v);
                match (w.next().and_then(signed), w.next()) {
                    (Some(n), None) if n.abs() <= 1_000_000 => n,
                    _ => return Err(bad(Name::TimeSkew)),
                }
            }
        };
        let used_steps = match self.option_value(Name::DisallowReuse) {
            None => None,
            Some(v) => Some(
                words(v)
                    .map(number::<u64>)
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| bad(Name::DisallowReuse))?,
            ),
        };
        let rate_limit = match self.option_value(Name::RateLimit) {
            None => None,
            Some(v) => {
                let mut w = words(v);
                let attempts = w.next().and_then(number::<u32>);
                let interval = w.next().and_then(number::<u64>);
                let stamps: Option<Vec<u64>> = w.map(number::<u64>).collect();
                match (attempts, interval, stamps) {
                    (Some(a), Some(i), Some(stamps))
                        if RateLimit::ATTEMPTS.contains(&a)
                            && RateLimit::INTERVAL.contains(&i)
                            && !v.ends_with(b" ")
                            && !v.ends_with(b"\t") =>
                    {
                        Some(RateLimit {
                            attempts: a,
                            interval: i,
                            stamps,
                        })
                    }
                    _ => return Err(bad(Name::RateLimit)),
                }
            }
        };
        let resetting_skew = match self.option_value(Name::ResettingTimeSkew) {
            None => Vec::new(),
            Some(v) => words(v)
                .map(|w| {
                    let sign = w.iter().position(|&c| c == b'+' || c == b'-')?;
                    Some((number::<u64>(&w[..sign])?, signed(&w[sign..])?))
                })
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| bad(Name::ResettingTimeSkew))?,
        };
        let mut last: [Option<LastLogin>; GRACE_SLOTS] = Default::default();
        for (i, slot) in last.iter_mut().enumerate() {
            *slot = self.option_value(Name::Last(i)).and_then(|v| {
                let mut w = words(v);
                let host = w.next()?.to_vec();
                let when = w.next().and_then(number::<u64>)?;
                Some(LastLogin { host, when })
            });
        }
        self.scratch = Zeroizing::new(
            self.lines
                .iter()
                .filter_map(|l| match l {
                    Line::Scratch(c, _) => Some(*c),
                    _ => None,
                })
                .collect(),
        );
        self.step = step;
        self.window = window;
        self.totp = totp;
        self.hotp_counter = hotp_counter;
        self.used_steps = used_steps;
        self.rate_limit = rate_limit;
        self.time_skew = time_skew;
        self.resetting_skew = resetting_skew;
        self.last = last;
        Ok(())
    }

    /// A new enrollment in the anchor CLI's layout: secret, options (each
    /// inserted right after line 1, so the last written comes first: rate
    /// limit, window, step, reuse, mode), scratch codes.
    pub fn new(
        key: Key,
        settings: &NewEnrollment,
        scratch: &[ScratchCode],
    ) -> Result<Enrollment, FormatError> {
        let mut secret_line = Zeroizing::new(Vec::new());
        let text = key.to_base32();
        secret_line.reserve_exact(text.len() + 1);
        secret_line.extend_from_slice(text.as_bytes());
        secret_line.push(b'\n');
        let mut e = Enrollment {
            scratch: Zeroizing::new(scratch.to_vec()),
            ..Enrollment::with_defaults(
                key,
                secret_line,
                scratch
                    .iter()
                    .map(|&c| Line::Scratch(c, scratch_line(c, b"\n")))
                    .collect(),
            )
        };
        match settings.kind {
            Kind::Totp => {
                e.totp = true;
                e.write_option(Name::TotpAuth)?;
                if let Some(used) = &settings.disallow_reuse {
                    e.set_used_steps(used.clone())?;
                }
                if let Some(step) = settings.step {
                    e.step = step;
                    e.write_option(Name::StepSize)?;
                }
            }
            Kind::Hotp { counter } => e.set_hotp_counter(counter)?,
            Kind::ScratchOnly => {}
        }
        e.window = settings.window;
        e.write_option(Name::WindowSize)?;
        if let Some((attempts, interval)) = settings.rate_limit {
            e.rate_limit = Some(RateLimit {
                attempts,
                interval,
                stamps: Vec::new(),
            });
            e.write_option(Name::RateLimit)?;
        }
        Ok(e)
    }

    /// The file's bytes. An unchanged enrollment gives back exactly the bytes it was parsed from.
    pub fn encode(&self) -> Zeroizing<Vec<u8>> {
        let len =
            self.secret_line.len() + self.lines.iter().map(|l| l.bytes().len()).sum::<usize>();
        let mut out = Zeroizing::new(Vec::with_capacity(len));
        out.extend_from_slice(&self.secret_line);
        for line in &self.lines {
            out.extend_from_slice(line.bytes());
        }
        out
    }

    /// The canonical value text of a known option, from the typed value;
    /// `None` when the value cannot be written.
    fn encode_value(&self, name: Name) -> Option<String> {
        let join = |v: &[u64]| v.iter().map(u64::to_string).collect::<Vec<_>>().join(" ");
        Some(match name {
            Name::StepSize => (1..=60)
                .contains(&self.step)
                .then(|| self.step.to_string())?,
            Name::WindowSize => (1..=100)
                .contains(&self.window)
                .then(|| self.window.to_string())?,
            Name::HotpCounter => self
                .hotp_counter
                .filter(|&c| c <= i64::MAX as u64)?
                .to_string(),
            Name::TotpAuth => String::new(),
            Name::TimeSkew => {
                (self.time_skew.abs() <= 1_000_000).then(|| self.time_skew.to_string())?
            }
            Name::DisallowReuse => join(self.used_steps.as_deref()?),
            Name::RateLimit => {
                let r = self.rate_limit.as_ref()?;
                if !RateLimit::ATTEMPTS.contains(&r.attempts)
                    || !RateLimit::INTERVAL.contains(&r.interval)
                {
                    return None;
                }
                let mut text = format!("{} {}", r.attempts, r.interval);
                if !r.stamps.is_empty() {
                    text.push(' ');
                    text.push_str(&join(&r.stamps));
                }
                text
            }
            Name::ResettingTimeSkew => {
                let entries: Vec<String> = self
                    .resetting_skew
                    .iter()
                    .map(|(t, s)| format!("{t}{s:+}"))
                    .collect();
                // The anchor writes an emptied list as `" RESETTING_TIME_SKEW ` (one blank).
                return Some(format!(" {}", entries.join(" ")));
            }
            Name::Last(i) => {
                let l = self.last[i].as_ref()?;
                let host = std::str::from_utf8(&l.host)
                    .ok()
                    .and_then(GraceHost::parse)?;
                format!("{} {}", host.as_str(), l.when)
            }
        })
        .map(|v| if v.is_empty() { v } else { format!(" {v}") })
    }

    /// Writes option `name` from its typed value the way the anchor does:
    /// its first line rewritten in place, or a new line right after line 1;
    /// later duplicates dropped. The line is checked before it is written.
    fn write_option(&mut self, name: Name) -> Result<(), FormatError> {
        let unwritable = FormatError::Unwritable { name: name.text() };
        let value = self.encode_value(name).ok_or(unwritable.clone())?;
        let line_text = format!("\" {}{value}", name.text());
        if line_text.bytes().any(|b| b == 0 || is_eol(b))
            || Name::of_line(line_text.as_bytes()) != Some(name)
        {
            return Err(unwritable);
        }
        let mut line = Zeroizing::new(Vec::with_capacity(line_text.len() + 1));
        line.extend_from_slice(line_text.as_bytes());
        line.push(b'\n');
        self.lines
            .retain(|l| !matches!(l, Line::Duplicate(n, _) if *n == name));
        if let Some(slot) = self
            .lines
            .iter_mut()
            .find(|l| matches!(l, Line::Option(n, _) if *n == name))
        {
            *slot = Line::Option(name, line);
        } else {
            // Line 1 ends at its first LF: without one, a new line would run into the secret.
            if !self.secret_line.contains(&b'\n') {
                self.secret_line.reserve_exact(1);
                self.secret_line.push(b'\n');
            }
            self.lines.insert(0, Line::Option(name, line));
        }
        Ok(())
    }

    pub fn key(&self) -> &Key {
        &self.key
    }

    pub fn hotp_key(&self) -> HotpKey {
        self.key.hotp_key()
    }

    pub fn kind(&self) -> Kind {
        match self.hotp_counter {
            Some(c) if c >= 1 => Kind::Hotp { counter: c },
            _ if self.totp => Kind::Totp,
            _ => Kind::ScratchOnly,
        }
    }

    /// `STEP_SIZE`, seconds per code (30 unless set).
    pub fn step(&self) -> u64 {
        self.step
    }

    /// `WINDOW_SIZE` (3 unless set).
    pub fn window(&self) -> u32 {
        self.window
    }

    pub fn time_skew(&self) -> i64 {
        self.time_skew
    }

    /// `Some(used steps)` when `DISALLOW_REUSE` is on.
    pub fn used_steps(&self) -> Option<&[u64]> {
        self.used_steps.as_deref()
    }

    pub fn rate_limit(&self) -> Option<&RateLimit> {
        self.rate_limit.as_ref()
    }

    pub fn resetting_skew(&self) -> &[(u64, i64)] {
        &self.resetting_skew
    }

    pub fn last_logins(&self) -> &[Option<LastLogin>; GRACE_SLOTS] {
        &self.last
    }

    pub fn scratch_codes(&self) -> &[ScratchCode] {
        &self.scratch
    }

    /// The scratch codes as numbers (for tests and tools that compare them).
    pub fn scratch_values(&self) -> Vec<u32> {
        self.scratch.iter().map(|c| c.value()).collect()
    }

    /// The text after `" NAME` of a known option, as the file has it (for
    /// tests and diagnostics); `None` when the option is not set.
    pub fn option_text(&self, name: &str) -> Option<&[u8]> {
        let name = Name::ALL.into_iter().find(|n| n.text() == name)?;
        self.option_value(name)
    }

    pub fn set_hotp_counter(&mut self, counter: u64) -> Result<(), FormatError> {
        self.hotp_counter = Some(counter);
        self.write_option(Name::HotpCounter)
    }

    pub fn set_time_skew(&mut self, skew: i64) -> Result<(), FormatError> {
        self.time_skew = skew;
        self.write_option(Name::TimeSkew)
    }

    pub fn set_used_steps(&mut self, steps: Vec<u64>) -> Result<(), FormatError> {
        self.used_steps = Some(steps);
        self.write_option(Name::DisallowReuse)
    }

    /// Records the rate limit's timestamps (no-op without `RATE_LIMIT`).
    pub fn set_rate_stamps(&mut self, stamps: Vec<u64>) -> Result<(), FormatError> {
        let Some(limit) = self.rate_limit.as_mut() else {
            return Ok(());
        };
        limit.stamps = stamps;
        self.write_option(Name::RateLimit)
    }

    /// Sets `WINDOW_SIZE`.
    pub fn set_window(&mut self, window: u32) -> Result<(), FormatError> {
        self.window = window;
        self.write_option(Name::WindowSize)
    }

    /// Sets `RATE_LIMIT` to `attempts` per `interval` seconds, keeping the
    /// recorded attempt times (at most `attempts` of them, the newest).
    pub fn set_rate_limit(&mut self, attempts: u32, interval: u64) -> Result<(), FormatError> {
        let mut stamps = self
            .rate_limit
            .as_ref()
            .map(|r| r.stamps.clone())
            .unwrap_or_default();
        let keep = attempts as usize;
        if stamps.len() > keep {
            stamps.drain(..stamps.len() - keep);
        }
        self.rate_limit = Some(RateLimit {
            attempts,
            interval,
            stamps,
        });
        self.write_option(Name::RateLimit)
    }

    pub fn set_resetting_skew(&mut self, entries: Vec<(u64, i64)>) -> Result<(), FormatError> {
        self.resetting_skew = entries;
        self.write_option(Name::ResettingTimeSkew)
    }

    /// Records a login from `host` at `when` in grace slot `slot`.
    pub fn set_last_login(
        &mut self,
        slot: usize,
        host: &GraceHost,
        when: u64,
    ) -> Result<(), FormatError> {
        let name = Name::Last(slot.min(GRACE_SLOTS - 1));
        self.last[slot.min(GRACE_SLOTS - 1)] = Some(LastLogin {
            host: host.as_str().as_bytes().to_vec(),
            when,
        });
        self.write_option(name)
    }

    /// Removes a used scratch code (its line); `false` if it is not there.
    pub fn remove_scratch_code(&mut self, code: ScratchCode) -> bool {
        let Some(i) = self
            .lines
            .iter()
            .position(|l| matches!(l, Line::Scratch(c, _) if *c == code))
        else {
            return false;
        };
        self.lines.remove(i);
        if let Some(j) = self.scratch.iter().position(|&c| c == code) {
            self.scratch.remove(j);
        }
        true
    }

    /// Replaces every scratch code with `codes`, written at the end of the
    /// file with its line ends. Refused (nothing changed) when a line that
    /// is neither an option nor a scratch code would hide them: the anchor
    /// stops looking for codes at such a line.
    pub fn replace_scratch_codes(&mut self, codes: &[ScratchCode]) -> Result<(), FormatError> {
        let mut next = self.clone();
        next.lines.retain(|l| !matches!(l, Line::Scratch(..)));
        let crlf = self.encode().windows(2).any(|w| w == b"\r\n");
        let eol: &[u8] = if crlf { b"\r\n" } else { b"\n" };
        let last_open = match next.lines.last_mut() {
            Some(l) => !l.bytes().ends_with(b"\n"),
            None => !next.secret_line.ends_with(b"\n"),
        };
        if last_open {
            match next.lines.last_mut() {
                Some(
                    Line::Option(_, b)
                    | Line::Duplicate(_, b)
                    | Line::Scratch(_, b)
                    | Line::Other(b),
                ) => b.extend_from_slice(eol),
                None => next.secret_line.extend_from_slice(eol),
            }
        }
        for &code in codes {
            next.lines
                .push(Line::Scratch(code, scratch_line(code, eol)));
        }
        let reread = Enrollment::parse(&next.encode())?;
        if reread.scratch.as_slice() != codes {
            return Err(FormatError::ScratchHidden);
        }
        *self = reread;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Enrollment {
        Enrollment::parse(s.as_bytes()).unwrap()
    }

    fn text_of(e: &Enrollment) -> String {
        String::from_utf8(e.encode().to_vec()).unwrap()
    }

    fn codes(e: &Enrollment) -> Vec<u32> {
        e.scratch_codes().iter().map(|c| c.value()).collect()
    }

    fn sc(v: u32) -> ScratchCode {
        ScratchCode::new(v).unwrap()
    }

    const SAMPLE: &str = "JBSWY3DPEHPK3PXP\n\" RATE_LIMIT 3 30 1795421121\n\" WINDOW_SIZE 17\n\" DISALLOW_REUSE 59847369\n\" TOTP_AUTH\n12345678\n87654321\n";

    #[test]
    fn reads_the_anchor_format() {
        let e = parse(SAMPLE);
        assert_eq!(e.window(), 17);
        assert_eq!(e.step(), 30);
        assert_eq!(e.kind(), Kind::Totp);
        assert_eq!(e.used_steps(), Some(&[59847369][..]));
        assert_eq!(
            e.rate_limit(),
            Some(&RateLimit {
                attempts: 3,
                interval: 30,
                stamps: vec![1795421121]
            })
        );
        assert_eq!(codes(&e), vec![12345678, 87654321]);
        assert_eq!(
            text_of(&e),
            SAMPLE,
            "an unchanged enrollment encodes to its bytes"
        );
    }

    #[test]
    fn crlf_reads_like_lf() {
        let crlf = SAMPLE.replace('\n', "\r\n");
        let (a, b) = (parse(SAMPLE), parse(&crlf));
        assert_eq!(a.key(), b.key());
        assert_eq!((a.window(), a.used_steps()), (b.window(), b.used_steps()));
        assert_eq!(codes(&a), codes(&b));
        assert_eq!(text_of(&b), crlf);
    }

    #[test]
    fn set_rewrites_in_place_inserts_after_line_one_and_drops_duplicates() {
        let mut e = parse("JBSWY3DP\n\" WINDOW_SIZE 5\n\" X 2\n\" WINDOW_SIZE 7\n12345678\n");
        assert_eq!(e.window(), 5, "the first occurrence wins");
        e.set_time_skew(-4).unwrap();
        assert_eq!(
            text_of(&e),
            "JBSWY3DP\n\" TIME_SKEW -4\n\" WINDOW_SIZE 5\n\" X 2\n\" WINDOW_SIZE 7\n12345678\n"
        );
        e.window = 9;
        e.write_option(Name::WindowSize).unwrap();
        assert_eq!(
            text_of(&e),
            "JBSWY3DP\n\" TIME_SKEW -4\n\" WINDOW_SIZE 9\n\" X 2\n12345678\n"
        );
        // A name that is a prefix of another is a different option.
        let f = parse("JBSWY3DP\n\" LAST10 x 1\n\" TOTP_AUTHX\n");
        assert_eq!(f.kind(), Kind::ScratchOnly);
        assert!(f.last_logins().iter().all(Option::is_none));
    }

    #[test]
    fn an_option_added_to_a_file_without_a_line_end_keeps_the_secret_intact() {
        for text in ["JBSWY3DPEHPK3PXP", "JBSWY3DPEHPK3PXP\r"] {
            let mut e = parse(text);
            e.set_used_steps(vec![5]).unwrap();
            let again = Enrollment::parse(&e.encode()).unwrap();
            assert_eq!(again.used_steps(), Some(&[5][..]), "{text:?}");
            assert_eq!(again.key(), parse("JBSWY3DPEHPK3PXP").key());
        }
    }

    #[test]
    fn unknown_option_lines_are_kept() {
        let mut e = parse("JBSWY3DP\n\" FUTURE_OPTION 42\n\" TOTP_AUTH\n12345678\n");
        e.set_used_steps(vec![7]).unwrap();
        assert!(text_of(&e).contains("\" FUTURE_OPTION 42\n"));
    }

    #[test]
    fn scratch_scan_stops_at_the_first_non_code_line() {
        let e = parse("JBSWY3DP\n11111111\n\" X\n22222222\njunk\n33333333\n");
        assert_eq!(codes(&e), vec![11111111, 22222222]);
        let e = parse("JBSWY3DP\n1234567\n22222222\n");
        assert!(codes(&e).is_empty());
        let e = parse("JBSWY3DP\n  22222222\n012345678\n");
        assert_eq!(codes(&e), vec![22222222]);
    }

    #[test]
    fn removing_a_scratch_code_removes_its_line_only() {
        let mut e = parse("JBSWY3DP\r\n\" TOTP_AUTH\r\n11111111\r\n22222222\r\n");
        assert!(e.remove_scratch_code(sc(11111111)));
        assert_eq!(text_of(&e), "JBSWY3DP\r\n\" TOTP_AUTH\r\n22222222\r\n");
        assert!(!e.remove_scratch_code(sc(11111111)));
        assert!(e.remove_scratch_code(sc(22222222)));
        assert_eq!(text_of(&e), "JBSWY3DP\r\n\" TOTP_AUTH\r\n");
    }

    #[test]
    fn scratch_codes_can_be_replaced_without_touching_the_rest() {
        let mut e = parse("JBSWY3DP\r\n\" TOTP_AUTH\r\n11111111\r\n22222222\r\n");
        e.replace_scratch_codes(&[sc(33333333), sc(44444444)])
            .unwrap();
        assert_eq!(
            text_of(&e),
            "JBSWY3DP\r\n\" TOTP_AUTH\r\n33333333\r\n44444444\r\n"
        );
        let mut g = parse("JBSWY3DP\n11111111\njunk\n");
        let before = g.clone();
        assert_eq!(
            g.replace_scratch_codes(&[sc(33333333)]),
            Err(FormatError::ScratchHidden)
        );
        assert_eq!(g, before);
        let mut h = parse("JBSWY3DP");
        h.replace_scratch_codes(&[sc(55555555)]).unwrap();
        assert_eq!(text_of(&h), "JBSWY3DP\n55555555\n");
    }

    #[test]
    fn malformed_values_name_their_option() {
        for (line, name) in [
            ("\" STEP_SIZE 0", "STEP_SIZE"),
            ("\" STEP_SIZE 61", "STEP_SIZE"),
            ("\" WINDOW_SIZE 101", "WINDOW_SIZE"),
            ("\" WINDOW_SIZE x", "WINDOW_SIZE"),
            ("\" RATE_LIMIT 0 30", "RATE_LIMIT"),
            ("\" RATE_LIMIT 3 30 ", "RATE_LIMIT"),
            ("\" RATE_LIMIT 3 30 12x", "RATE_LIMIT"),
            ("\" DISALLOW_REUSE 1 2 x", "DISALLOW_REUSE"),
            ("\" HOTP_COUNTER -1", "HOTP_COUNTER"),
            ("\" TIME_SKEW 1-", "TIME_SKEW"),
            ("\" RESETTING_TIME_SKEW 12+", "RESETTING_TIME_SKEW"),
        ] {
            let err =
                Enrollment::parse(format!("JBSWY3DPEHPK3PXP\n{line}\n").as_bytes()).unwrap_err();
            assert!(err.to_string().contains(name), "{line}: {err}");
        }
    }

    #[test]
    fn bad_files_are_errors_not_panics() {
        for bytes in [
            &b""[..],
            b"\n",
            b"!!!!\n",
            b"JBSWY3DP====\n",
            b"JBSW\0Y3DP\n",
            b"\xff\xfe\n",
        ] {
            assert!(Enrollment::parse(bytes).is_err());
        }
        let big = vec![b'A'; MAX_FILE_SIZE + 1];
        assert_eq!(
            Enrollment::parse(&big).unwrap_err(),
            FormatError::TooLarge(MAX_FILE_SIZE + 1)
        );
    }

    #[test]
    fn new_lays_out_like_the_anchor_cli() {
        let key = otp::decode_base32("JBSWY3DPEHPK3PXP").unwrap();
        let e = Enrollment::new(
            key,
            &NewEnrollment {
                kind: Kind::Totp,
                step: None,
                window: 17,
                disallow_reuse: Some(vec![]),
                rate_limit: Some((3, 30)),
            },
            &[sc(11111111), sc(22222222)],
        )
        .unwrap();
        assert_eq!(
            text_of(&e),
            "JBSWY3DPEHPK3PXP\n\" RATE_LIMIT 3 30\n\" WINDOW_SIZE 17\n\" DISALLOW_REUSE\n\" TOTP_AUTH\n11111111\n22222222\n"
        );
        let again = Enrollment::parse(&e.encode()).unwrap();
        assert_eq!(again, e);
        assert_eq!(again.used_steps(), Some(&[][..]));
    }

    #[test]
    fn grace_hosts_are_host_names_or_ip_literals_only() {
        for good in [
            "example.org",
            "192.0.2.7",
            "2001:db8::1",
            "fe80::1%eth0",
            "host_1-a",
        ] {
            assert!(GraceHost::parse(good).is_some(), "{good}");
        }
        let long = "a".repeat(256);
        for bad in [
            "",
            "a b",
            "a\nb",
            "a\r",
            "x\0",
            "é",
            "a\"b",
            "a/b",
            long.as_str(),
            "a\t",
        ] {
            assert!(GraceHost::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn a_last_login_read_with_a_strange_host_is_kept_but_never_rewritten_from_it() {
        // Written by the anchor from a raw rhost; we keep its line as it is.
        let text = "JBSWY3DP\n\" LAST0 h\u{e9}st 100\n\" TOTP_AUTH\n";
        let mut e = parse(text);
        assert_eq!(e.last_logins()[0].as_ref().map(|l| l.when), Some(100));
        e.set_time_skew(1).unwrap();
        assert!(text_of(&e).contains("\" LAST0 h\u{e9}st 100\n"));
        let host = GraceHost::parse("192.0.2.1").unwrap();
        e.set_last_login(1, &host, 200).unwrap();
        assert!(text_of(&e).contains("\" LAST1 192.0.2.1 200\n"));
    }

    #[test]
    fn debug_output_is_redacted() {
        let e = parse(SAMPLE);
        let shown = format!("{e:?} {:?}", e.scratch_codes());
        assert!(
            !shown.contains("JBSW") && !shown.contains("12345678"),
            "{shown}"
        );
    }
}
