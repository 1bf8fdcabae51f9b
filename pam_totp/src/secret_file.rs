//! The pam_google_authenticator secret file: its bytes, edited the way that
//! module edits them (so a file stays byte-compatible and an admin can switch
//! back), and a typed, validated view of what it says.
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
//! Option lines this module does not know are kept as they are.

use std::fmt;

use zeroize::Zeroizing;

use crate::otp::{self, Key};

/// Largest file accepted (the anchor's limit).
pub const MAX_FILE_SIZE: usize = 64 * 1024;
/// Number of `LASTn` grace-period entries.
pub const GRACE_SLOTS: usize = 10;

/// The raw file, edited in place. Wiped from memory on drop; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretFile {
    bytes: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for SecretFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretFile(<{} bytes redacted>)", self.bytes.len())
    }
}

fn is_eol(b: u8) -> bool {
    b == b'\r' || b == b'\n'
}

impl SecretFile {
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self {
            bytes: Zeroizing::new(bytes),
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Start offsets of lines, the way the anchor walks them: each line ends
    /// at the first CR or LF, and the next starts after the run of CR/LF.
    fn line_starts(&self) -> Vec<usize> {
        let b = &self.bytes;
        let mut starts = Vec::new();
        let mut i = 0;
        while i < b.len() {
            starts.push(i);
            while i < b.len() && !is_eol(b[i]) {
                i += 1;
            }
            while i < b.len() && is_eol(b[i]) {
                i += 1;
            }
        }
        starts
    }

    fn line_end(&self, start: usize) -> usize {
        self.bytes[start..]
            .iter()
            .position(|&b| is_eol(b))
            .map_or(self.bytes.len(), |p| start + p)
    }

    /// End of the line including its run of CR/LF.
    fn line_end_with_eol(&self, start: usize) -> usize {
        let mut end = self.line_end(start);
        while end < self.bytes.len() && is_eol(self.bytes[end]) {
            end += 1;
        }
        end
    }

    fn is_option_line(&self, start: usize, name: &str) -> bool {
        let b = &self.bytes[start..];
        let n = name.as_bytes();
        b.len() >= 2 + n.len()
            && b[0] == b'"'
            && b[1] == b' '
            && &b[2..2 + n.len()] == n
            && b.get(2 + n.len())
                .is_none_or(|&c| matches!(c, b' ' | b'\t' | b'\r' | b'\n'))
    }

    fn find_option(&self, name: &str) -> Option<usize> {
        self.line_starts()
            .into_iter()
            .find(|&s| self.is_option_line(s, name))
    }

    /// The value of option `name` (first occurrence), leading blanks skipped.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        let start = self.find_option(name)?;
        let mut v = start + 2 + name.len();
        while v < self.bytes.len() && matches!(self.bytes[v], b' ' | b'\t') {
            v += 1;
        }
        Some(&self.bytes[v..self.line_end(v)])
    }

    /// Sets option `name`: rewrites its first line in place, or inserts it
    /// right after line 1, and removes any later duplicates.
    pub fn set(&mut self, name: &str, value: &str) {
        let (start, stop) = match self.find_option(name) {
            Some(s) => (s, self.line_end_with_eol(s)),
            None => {
                let mut after_first = if self.bytes.is_empty() {
                    0
                } else {
                    self.line_end_with_eol(0)
                };
                // Line 1 ends at the first LF: without one (a last line, or a
                // bare CR), an inserted option would run into the secret.
                if !self.bytes[..after_first].contains(&b'\n') {
                    self.bytes.insert(after_first, b'\n');
                    after_first += 1;
                }
                (after_first, after_first)
            }
        };
        let line = format!("\" {name} {value}\n");
        let mut new = Zeroizing::new(Vec::with_capacity(self.bytes.len() + line.len()));
        new.extend_from_slice(&self.bytes[..start]);
        new.extend_from_slice(line.as_bytes());
        let resume = new.len();
        new.extend_from_slice(&self.bytes[stop..]);
        self.bytes = new;
        // Remove duplicates after the line just written.
        loop {
            let dup = self
                .line_starts()
                .into_iter()
                .find(|&s| s >= resume && self.is_option_line(s, name));
            let Some(s) = dup else { break };
            let e = self.line_end_with_eol(s);
            self.bytes.drain(s..e);
        }
    }

    /// Scratch codes with their byte spans, scanned as the anchor does:
    /// after line 1, option lines skipped, stopping at the first line that is
    /// not exactly one eight-digit code.
    fn scratch_spans(&self) -> Vec<(usize, usize, u32)> {
        let b = &self.bytes;
        let mut out = Vec::new();
        let mut p = b.iter().position(|&c| c == b'\n').unwrap_or(b.len());
        loop {
            while p < b.len() && is_eol(b[p]) {
                p += 1;
            }
            if p < b.len() && b[p] == b'"' {
                while p < b.len() && b[p] != b'\n' {
                    p += 1;
                }
                continue;
            }
            let start = p;
            let mut q = p;
            // strtoul skips leading white space.
            while q < b.len() && matches!(b[q], b' ' | b'\t' | 0x0b | 0x0c) {
                q += 1;
            }
            let digits_start = q;
            while q < b.len() && b[q].is_ascii_digit() {
                q += 1;
            }
            if q == digits_start || (q < b.len() && !is_eol(b[q])) || q - digits_start > 8 {
                break;
            }
            let Some(value) = std::str::from_utf8(&b[digits_start..q])
                .ok()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                break;
            };
            if !(10_000_000..100_000_000).contains(&value) {
                break;
            }
            let mut end = q;
            while end < b.len() && is_eol(b[end]) {
                end += 1;
            }
            out.push((start, end, value));
            p = q;
        }
        out
    }

    /// The scratch codes still in the file.
    pub fn scratch_codes(&self) -> Vec<u32> {
        self.scratch_spans()
            .into_iter()
            .map(|(_, _, v)| v)
            .collect()
    }

    /// Removes one scratch code; `false` if it is not there.
    pub fn remove_scratch_code(&mut self, code: u32) -> bool {
        let spans = self.scratch_spans();
        let Some(&(start, end, _)) = spans.iter().find(|(_, _, v)| *v == code) else {
            return false;
        };
        self.bytes.drain(start..end);
        true
    }

    /// Replaces every scratch code with `codes`, written at the end of the
    /// file with its line ends. `false` (file unchanged) when a line that is
    /// neither an option nor a scratch code would hide them: the anchor stops
    /// looking for codes at such a line.
    pub fn replace_scratch_codes(&mut self, codes: &[u32]) -> bool {
        let mut next = self.clone();
        for code in next.scratch_codes() {
            next.remove_scratch_code(code);
        }
        let eol: &[u8] = if next.bytes.windows(2).any(|w| w == b"\r\n") {
            b"\r\n"
        } else {
            b"\n"
        };
        if !next.bytes.is_empty() && !next.bytes.ends_with(b"\n") {
            next.bytes.extend_from_slice(eol);
        }
        for code in codes {
            next.bytes
                .extend_from_slice(format!("{code:08}").as_bytes());
            next.bytes.extend_from_slice(eol);
        }
        if next.scratch_codes() != codes {
            return false;
        }
        *self = next;
        true
    }

    /// Line 1, the secret in base32 (up to the first LF).
    fn secret_line(&self) -> &[u8] {
        let end = self
            .bytes
            .iter()
            .position(|&c| c == b'\n')
            .unwrap_or(self.bytes.len());
        &self.bytes[..end]
    }

    /// A new file in the anchor's layout: secret, options in the order
    /// given (each inserted right after line 1, as the anchor's CLI does, so
    /// the last given comes first), scratch codes.
    pub fn create(key: &Key, options: &[(&str, String)], scratch: &[u32]) -> Self {
        let mut text = Zeroizing::new(String::new());
        text.push_str(&key.to_base32());
        text.push('\n');
        for code in scratch {
            text.push_str(&format!("{code:08}\n"));
        }
        let mut file = SecretFile::from_bytes(text.as_bytes().to_vec());
        for (name, value) in options {
            if value.is_empty() {
                file.set_flag(name);
            } else {
                file.set(name, value);
            }
        }
        file
    }

    /// Sets a valueless option such as `TOTP_AUTH` (`" TOTP_AUTH`).
    pub fn set_flag(&mut self, name: &str) {
        self.set(name, "");
        // `set` wrote `" NAME \n`; a flag line has no trailing blank.
        if let Some(s) = self.find_option(name) {
            let e = self.line_end(s);
            if e > s && self.bytes[e - 1] == b' ' {
                self.bytes.remove(e - 1);
            }
        }
    }
}

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
            FormatError::BadOption { name } => {
                write!(f, "invalid {name} option")
            }
        }
    }
}

impl std::error::Error for FormatError {}

/// `RATE_LIMIT attempts interval [timestamps...]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateLimit {
    pub attempts: u32,
    pub interval: u64,
    pub stamps: Vec<u64>,
}

/// A grace-period entry `LASTn <rhost> <unix time>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LastLogin {
    pub host: String,
    pub when: u64,
}

/// What a secret file says, validated.
#[derive(Debug)]
pub struct Config {
    pub key: Key,
    pub step: u64,
    pub window: u32,
    pub totp: bool,
    /// `HOTP_COUNTER`: HOTP mode when at least 1.
    pub hotp_counter: Option<u64>,
    /// `DISALLOW_REUSE` and the steps already used.
    pub used_steps: Option<Vec<u64>>,
    pub rate_limit: Option<RateLimit>,
    pub time_skew: i64,
    pub resetting_skew: Vec<(u64, i64)>,
    pub last: Vec<(usize, Option<LastLogin>)>,
}

impl Config {
    pub fn is_hotp(&self) -> bool {
        self.hotp_counter.is_some_and(|c| c >= 1)
    }
}

fn text(v: &[u8]) -> String {
    String::from_utf8_lossy(v).into_owned()
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

impl Config {
    /// Validates a file; every malformed value is an error naming its option.
    pub fn parse(file: &SecretFile) -> Result<Config, FormatError> {
        let bytes = file.as_bytes();
        if bytes.is_empty() {
            return Err(FormatError::Empty);
        }
        if bytes.len() > MAX_FILE_SIZE {
            return Err(FormatError::TooLarge(bytes.len()));
        }
        if bytes.contains(&0) {
            return Err(FormatError::NulByte);
        }
        let secret_line = std::str::from_utf8(file.secret_line())
            .map_err(|e| FormatError::Secret(otp::Base32Error::BadCharacter(e.valid_up_to())))?;
        let key = otp::decode_base32(secret_line).map_err(FormatError::Secret)?;

        let bad = |name: &'static str| FormatError::BadOption { name };
        let single = |name: &'static str, lo: u64, hi: u64| -> Result<Option<u64>, FormatError> {
            match file.get(name) {
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
        let step = single("STEP_SIZE", 1, 60)?.unwrap_or(30);
        let window = single("WINDOW_SIZE", 1, 100)?.unwrap_or(3) as u32;
        let hotp_counter = single("HOTP_COUNTER", 0, i64::MAX as u64)?;
        let totp = file.get("TOTP_AUTH").is_some();

        let time_skew = match file.get("TIME_SKEW") {
            None => 0,
            Some(v) => {
                let mut w = words(v);
                match (w.next().and_then(signed), w.next()) {
                    (Some(n), None) if n.abs() <= 1_000_000 => n,
                    _ => return Err(bad("TIME_SKEW")),
                }
            }
        };

        let used_steps = match file.get("DISALLOW_REUSE") {
            None => None,
            Some(v) => Some(
                words(v)
                    .map(number::<u64>)
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| bad("DISALLOW_REUSE"))?,
            ),
        };

        let rate_limit = match file.get("RATE_LIMIT") {
            None => None,
            Some(v) => {
                let mut w = words(v);
                let attempts = w.next().and_then(number::<u32>);
                let interval = w.next().and_then(number::<u64>);
                let stamps: Option<Vec<u64>> = w.map(number::<u64>).collect();
                match (attempts, interval, stamps) {
                    (Some(a), Some(i), Some(stamps))
                        if (1..=100).contains(&a)
                            && (1..=3600).contains(&i)
                            && !v.ends_with(b" ")
                            && !v.ends_with(b"\t") =>
                    {
                        Some(RateLimit {
                            attempts: a,
                            interval: i,
                            stamps,
                        })
                    }
                    _ => return Err(bad("RATE_LIMIT")),
                }
            }
        };

        let resetting_skew = match file.get("RESETTING_TIME_SKEW") {
            None => Vec::new(),
            Some(v) => words(v)
                .map(|w| {
                    let sign = w.iter().position(|&c| c == b'+' || c == b'-')?;
                    Some((number::<u64>(&w[..sign])?, signed(&w[sign..])?))
                })
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| bad("RESETTING_TIME_SKEW"))?,
        };

        let last = (0..GRACE_SLOTS)
            .map(|i| {
                let name = LAST_NAMES[i];
                let entry = file.get(name).and_then(|v| {
                    let mut w = words(v);
                    let host = w.next()?;
                    let when = w.next().and_then(number::<u64>)?;
                    Some(LastLogin {
                        host: text(host),
                        when,
                    })
                });
                (i, entry)
            })
            .collect();

        Ok(Config {
            key,
            step,
            window,
            totp,
            hotp_counter,
            used_steps,
            rate_limit,
            time_skew,
            resetting_skew,
            last,
        })
    }
}

/// Option names of the grace-period slots.
pub const LAST_NAMES: [&str; GRACE_SLOTS] = [
    "LAST0", "LAST1", "LAST2", "LAST3", "LAST4", "LAST5", "LAST6", "LAST7", "LAST8", "LAST9",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn file(s: &str) -> SecretFile {
        SecretFile::from_bytes(s.as_bytes().to_vec())
    }

    fn text_of(f: &SecretFile) -> String {
        String::from_utf8(f.as_bytes().to_vec()).unwrap()
    }

    const SAMPLE: &str = "JBSWY3DPEHPK3PXP\n\" RATE_LIMIT 3 30 1795421121\n\" WINDOW_SIZE 17\n\" DISALLOW_REUSE 59847369\n\" TOTP_AUTH\n12345678\n87654321\n";

    #[test]
    fn reads_the_anchor_format() {
        let f = file(SAMPLE);
        let c = Config::parse(&f).unwrap();
        assert_eq!(c.window, 17);
        assert_eq!(c.step, 30);
        assert!(c.totp && !c.is_hotp());
        assert_eq!(c.used_steps, Some(vec![59847369]));
        assert_eq!(
            c.rate_limit,
            Some(RateLimit {
                attempts: 3,
                interval: 30,
                stamps: vec![1795421121]
            })
        );
        assert_eq!(f.scratch_codes(), vec![12345678, 87654321]);
    }

    #[test]
    fn crlf_reads_like_lf() {
        let crlf = SAMPLE.replace('\n', "\r\n");
        let (a, b) = (file(SAMPLE), file(&crlf));
        let (ca, cb) = (Config::parse(&a).unwrap(), Config::parse(&b).unwrap());
        assert_eq!(ca.key.as_bytes(), cb.key.as_bytes());
        assert_eq!((ca.window, ca.used_steps), (cb.window, cb.used_steps));
        assert_eq!(a.scratch_codes(), b.scratch_codes());
    }

    #[test]
    fn set_rewrites_in_place_inserts_after_line_one_and_drops_duplicates() {
        let mut f = file("SECRET\n\" A 1\n\" B 2\n\" A 3\n12345678\n");
        f.set("A", "9");
        assert_eq!(text_of(&f), "SECRET\n\" A 9\n\" B 2\n12345678\n");
        f.set("C", "x y");
        assert_eq!(text_of(&f), "SECRET\n\" C x y\n\" A 9\n\" B 2\n12345678\n");
        // A name that is a prefix of another is a different option.
        f.set("B", "5");
        assert_eq!(f.get("B"), Some(&b"5"[..]));
        assert_eq!(f.get("BB"), None);
    }

    #[test]
    fn an_option_added_to_a_file_without_a_line_end_keeps_the_secret_intact() {
        for text in ["JBSWY3DPEHPK3PXP", "JBSWY3DPEHPK3PXP\r"] {
            let mut f = file(text);
            f.set("DISALLOW_REUSE", "5");
            let c = Config::parse(&f).unwrap();
            assert_eq!(c.used_steps, Some(vec![5]), "{text:?}");
            assert_eq!(
                c.key.as_bytes(),
                otp::decode_base32("JBSWY3DPEHPK3PXP").unwrap().as_bytes()
            );
        }
    }

    #[test]
    fn unknown_option_lines_are_kept() {
        let mut f = file("SECRET\n\" FUTURE_OPTION 42\n\" TOTP_AUTH\n12345678\n");
        f.set("DISALLOW_REUSE", "7");
        assert!(text_of(&f).contains("\" FUTURE_OPTION 42\n"));
    }

    #[test]
    fn scratch_scan_stops_at_the_first_non_code_line() {
        let f = file("S\n11111111\n\" X\n22222222\njunk\n33333333\n");
        assert_eq!(f.scratch_codes(), vec![11111111, 22222222]);
        let f = file("S\n1234567\n22222222\n");
        assert!(f.scratch_codes().is_empty());
    }

    #[test]
    fn removing_a_scratch_code_removes_its_line_only() {
        let mut f = file("S\r\n\" TOTP_AUTH\r\n11111111\r\n22222222\r\n");
        assert!(f.remove_scratch_code(11111111));
        assert_eq!(text_of(&f), "S\r\n\" TOTP_AUTH\r\n22222222\r\n");
        assert!(!f.remove_scratch_code(11111111));
        assert!(f.remove_scratch_code(22222222));
        assert_eq!(text_of(&f), "S\r\n\" TOTP_AUTH\r\n");
    }

    #[test]
    fn scratch_codes_can_be_replaced_without_touching_the_rest() {
        let mut f = file("S\r\n\" TOTP_AUTH\r\n11111111\r\n22222222\r\n");
        assert!(f.replace_scratch_codes(&[33333333, 44444444]));
        assert_eq!(text_of(&f), "S\r\n\" TOTP_AUTH\r\n33333333\r\n44444444\r\n");
        let mut g = file("S\n11111111\njunk\n");
        let before = g.clone();
        assert!(!g.replace_scratch_codes(&[33333333]));
        assert_eq!(g, before);
        let mut h = file("S");
        assert!(h.replace_scratch_codes(&[55555555]));
        assert_eq!(text_of(&h), "S\n55555555\n");
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
            let f = file(&format!("JBSWY3DPEHPK3PXP\n{line}\n"));
            let err = Config::parse(&f).unwrap_err();
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
            assert!(Config::parse(&SecretFile::from_bytes(bytes.to_vec())).is_err());
        }
        let big = vec![b'A'; MAX_FILE_SIZE + 1];
        assert_eq!(
            Config::parse(&SecretFile::from_bytes(big)).unwrap_err(),
            FormatError::TooLarge(MAX_FILE_SIZE + 1)
        );
    }

    #[test]
    fn create_lays_out_like_the_anchor_cli() {
        let key = otp::decode_base32("JBSWY3DPEHPK3PXP").unwrap();
        let f = SecretFile::create(
            &key,
            &[
                ("TOTP_AUTH", String::new()),
                ("DISALLOW_REUSE", String::new()),
                ("WINDOW_SIZE", "17".into()),
                ("RATE_LIMIT", "3 30".into()),
            ],
            &[11111111, 22222222],
        );
        assert_eq!(
            text_of(&f),
            "JBSWY3DPEHPK3PXP\n\" RATE_LIMIT 3 30\n\" WINDOW_SIZE 17\n\" DISALLOW_REUSE\n\" TOTP_AUTH\n11111111\n22222222\n"
        );
        let c = Config::parse(&f).unwrap();
        assert_eq!(c.used_steps, Some(vec![]));
    }

    #[test]
    fn debug_output_is_redacted() {
        let f = file(SAMPLE);
        let shown = format!("{f:?}");
        assert!(!shown.contains("JBSW") && !shown.contains("12345678"));
    }
}
