//! What an enrollment consists of: the secret and scratch codes drawn from
//! the operating system's CSPRNG, and the otpauth URI an authenticator app
//! imports (Key URI format, with RFC 3986 percent-encoding).

use std::fmt::Write as _;

use pam_totp::otp::{self, Key};
use zeroize::{Zeroize, Zeroizing};

/// Bytes of a new secret: 160 bits, the size RFC 4226 recommends and
/// current google-authenticator writes.
pub const SECRET_BYTES: usize = 20;
/// Digits of the codes the app shows (all that pam_google_authenticator checks).
pub const DIGITS: u32 = 6;
/// Scratch codes have exactly eight digits, the first not zero.
const SCRATCH_LOW: u32 = 10_000_000;
const SCRATCH_SPAN: u32 = 90_000_000;
/// The largest multiple of `SCRATCH_SPAN` that fits in a u32: a draw at or
/// above it is thrown away, so every code is equally likely (no modulo bias).
const SCRATCH_ZONE: u64 = (1u64 << 32) / SCRATCH_SPAN as u64 * SCRATCH_SPAN as u64;

/// A source of random bytes (the OS CSPRNG, or a fixed one in tests).
pub trait Random {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), String>;
}

/// The kernel's CSPRNG (getrandom(2)).
pub struct OsRandom;

impl Random for OsRandom {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), String> {
        getrandom::fill(buf).map_err(|e| format!("cannot read the system's random source: {e}"))
    }
}

/// A new 160-bit secret.
pub fn new_key(rng: &mut dyn Random) -> Result<Key, String> {
    let mut bytes = vec![0u8; SECRET_BYTES];
    if let Err(e) = rng.fill(&mut bytes) {
        bytes.zeroize();
        return Err(e);
    }
    Ok(Key::new(bytes))
}

/// `count` distinct eight-digit scratch codes, each uniform over 10000000..=99999999.
pub fn scratch_codes(rng: &mut dyn Random, count: usize) -> Result<Zeroizing<Vec<u32>>, String> {
    let mut codes = Zeroizing::new(Vec::with_capacity(count));
    let mut draws = 0u32;
    while codes.len() < count {
        draws += 1;
        if draws > 10_000 {
            return Err("the random source keeps returning unusable values".into());
        }
        let mut raw = Zeroizing::new([0u8; 4]);
        rng.fill(&mut raw[..])?;
        let value = u64::from(u32::from_be_bytes(*raw));
        if value >= SCRATCH_ZONE {
            continue;
        }
        let code = SCRATCH_LOW + (value % u64::from(SCRATCH_SPAN)) as u32;
        if !codes.contains(&code) {
            codes.push(code);
        }
    }
    Ok(codes)
}

/// Time-based or counter-based codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// TOTP with this many seconds per step.
    Totp { period: u32 },
    /// HOTP starting at this counter.
    Hotp { counter: u64 },
}

/// Percent-encodes everything but RFC 3986's unreserved characters and `@`
/// (allowed unescaped in a path and a query, and common in account names).
/// A space becomes `%20`, never `+`.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'@') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The otpauth URI: `otpauth://TYPE/ISSUER:ACCOUNT?secret=..&issuer=..&algorithm=SHA1&digits=6`
/// and `&period=P` (TOTP) or `&counter=C` (HOTP). Every parameter is
/// written out, so apps that assume other defaults show the right codes.
pub fn uri(key: &Key, issuer: &str, account: &str, kind: Kind) -> Zeroizing<String> {
    let (kind_name, tail) = match kind {
        Kind::Totp { period } => ("totp", format!("&period={period}")),
        Kind::Hotp { counter } => ("hotp", format!("&counter={counter}")),
    };
    let issuer = escape(issuer);
    let mut out = Zeroizing::new(String::new());
    out.push_str("otpauth://");
    out.push_str(kind_name);
    out.push('/');
    out.push_str(&issuer);
    out.push(':');
    out.push_str(&escape(account));
    out.push_str("?secret=");
    out.push_str(&key.to_base32());
    out.push_str("&issuer=");
    out.push_str(&issuer);
    out.push_str("&algorithm=SHA1&digits=");
    out.push_str(&DIGITS.to_string());
    out.push_str(&tail);
    out
}

/// The secret in groups of four for typing into an app by hand.
pub fn grouped(key: &Key) -> Zeroizing<String> {
    let b32 = key.to_base32();
    let mut out = Zeroizing::new(String::with_capacity(b32.len() * 5 / 4));
    for (i, c) in b32.chars().enumerate() {
        if i > 0 && i % 4 == 0 {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

/// Checks an issuer or account name for the label: not empty, no `:` (it
/// separates the two), no control characters.
pub fn check_label_part(what: &str, text: &str) -> Result<(), String> {
    if text.trim().is_empty() {
        return Err(format!("the {what} is empty"));
    }
    if text.contains(':') {
        return Err(format!(
            "the {what} \"{text}\" contains ':', which separates issuer and account in the label"
        ));
    }
    if text.chars().any(char::is_control) {
        return Err(format!("the {what} contains a control character"));
    }
    Ok(())
}

/// Where a code the user typed matches: the TOTP step or HOTP counter.
/// TOTP looks at the steps pam_google_authenticator would accept with this
/// window (`-(w-1)/2 ..= w/2` around now); HOTP at the next `window` counters.
pub fn find_code(key: &Key, kind: Kind, window: u32, now: u64, code: u32) -> Option<u64> {
    let window = u64::from(window.max(1));
    match kind {
        Kind::Totp { period } => {
            let now_step = otp::time_step(now, u64::from(period));
            let back = (window - 1) / 2;
            let forward = window / 2;
            (now_step.saturating_sub(back)..=now_step + forward)
                .find(|&s| otp::codes_equal(otp::hotp(key, s, DIGITS), code))
        }
        Kind::Hotp { counter } => {
            (counter..counter + window).find(|&c| otp::codes_equal(otp::hotp(key, c, DIGITS), code))
        }
    }
}

/// Reads a typed code: six digits, spaces and dashes ignored.
pub fn parse_code(text: &str) -> Option<u32> {
    let digits: String = text
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    if digits.len() != DIGITS as usize || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Returns the given 32-bit values in turn.
    struct Fixed(Vec<u32>);

    impl Random for Fixed {
        fn fill(&mut self, buf: &mut [u8]) -> Result<(), String> {
            for chunk in buf.chunks_mut(4) {
                let v = if self.0.is_empty() {
                    0
                } else {
                    self.0.remove(0)
                };
                chunk.copy_from_slice(&v.to_be_bytes()[..chunk.len()]);
            }
            Ok(())
        }
    }

    #[test]
    fn secrets_are_160_bits_and_32_base32_characters() {
        let a = new_key(&mut OsRandom).unwrap();
        let b = new_key(&mut OsRandom).unwrap();
        assert_eq!(a.as_bytes().len(), 20);
        assert_eq!(a.to_base32().len(), 32);
        assert_ne!(a.as_bytes(), b.as_bytes());
    }

    #[test]
    fn scratch_codes_are_unique_eight_digit_numbers() {
        for _ in 0..50 {
            let codes = scratch_codes(&mut OsRandom, 10).unwrap();
            assert_eq!(codes.len(), 10);
            for c in codes.iter() {
                assert_eq!(c.to_string().len(), 8, "{c}");
            }
            let mut sorted = codes.to_vec();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted.len(), 10);
        }
    }

    #[test]
    fn draws_that_would_bias_the_codes_are_redrawn_and_duplicates_dropped() {
        let zone = SCRATCH_ZONE as u32;
        let mut rng = Fixed(vec![zone, u32::MAX, 5, 5, zone - 1, 90_000_000]);
        let codes = scratch_codes(&mut rng, 3).unwrap();
        assert_eq!(
            codes.as_slice(),
            &[10_000_005, 10_000_000 + (zone - 1) % 90_000_000, 10_000_000]
        );
        assert_eq!(zone, 4_230_000_000);
    }

    #[test]
    fn zero_codes_asks_nothing_of_the_random_source() {
        struct Broken;
        impl Random for Broken {
            fn fill(&mut self, _: &mut [u8]) -> Result<(), String> {
                Err("broken".into())
            }
        }
        assert!(scratch_codes(&mut Broken, 0).unwrap().is_empty());
        assert!(scratch_codes(&mut Broken, 1).is_err());
        assert!(new_key(&mut Broken).is_err());
    }

    #[test]
    fn uri_carries_every_parameter_escaped() {
        let key = otp::decode_base32("JBSWY3DPEHPK3PXP").unwrap();
        assert_eq!(
            uri(
                &key,
                "ACME Co",
                "john.doe@email.com",
                Kind::Totp { period: 30 }
            )
            .as_str(),
            "otpauth://totp/ACME%20Co:john.doe@email.com?secret=JBSWY3DPEHPK3PXP&issuer=ACME%20Co&algorithm=SHA1&digits=6&period=30"
        );
        assert_eq!(
            uri(&key, "a&b=c?d/e#f+g%h", "ü", Kind::Hotp { counter: 1 }).as_str(),
            "otpauth://hotp/a%26b%3Dc%3Fd%2Fe%23f%2Bg%25h:%C3%BC?secret=JBSWY3DPEHPK3PXP&issuer=a%26b%3Dc%3Fd%2Fe%23f%2Bg%25h&algorithm=SHA1&digits=6&counter=1"
        );
    }

    #[test]
    fn labels_refuse_colons_and_control_characters() {
        assert!(check_label_part("issuer", "ACME Co").is_ok());
        assert!(check_label_part("issuer", "a:b").is_err());
        assert!(check_label_part("account", "").is_err());
        assert!(check_label_part("account", "a\nb").is_err());
    }

    #[test]
    fn the_secret_is_grouped_by_four() {
        let key = otp::decode_base32("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP").unwrap();
        assert_eq!(
            grouped(&key).as_str(),
            "JBSW Y3DP EHPK 3PXP JBSW Y3DP EHPK 3PXP"
        );
    }

    #[test]
    fn codes_match_within_the_window_only() {
        let key = otp::decode_base32("2SH3V3GDW7ZNMGYE").unwrap();
        let totp = Kind::Totp { period: 30 };
        // 050548 is the code of step 10000.
        for (now_step, found) in [(9999, true), (10000, true), (10001, true), (10002, false)] {
            let r = find_code(&key, totp, 3, now_step * 30 + 7, 50548);
            assert_eq!(r.is_some(), found, "{now_step}");
        }
        assert_eq!(find_code(&key, totp, 1, 10001 * 30, 50548), None);
        // HOTP: 293240 is counter 1, 932068 counter 5.
        let hotp = Kind::Hotp { counter: 1 };
        assert_eq!(find_code(&key, hotp, 3, 0, 293240), Some(1));
        assert_eq!(find_code(&key, hotp, 3, 0, 932068), None);
        assert_eq!(find_code(&key, hotp, 5, 0, 932068), Some(5));
    }

    #[test]
    fn typed_codes_may_have_spaces() {
        assert_eq!(parse_code("050548"), Some(50548));
        assert_eq!(parse_code(" 050 548\n"), Some(50548));
        assert_eq!(parse_code("050-548"), Some(50548));
        assert_eq!(parse_code("50548"), None);
        assert_eq!(parse_code("12345678"), None);
        assert_eq!(parse_code("abcdef"), None);
    }
}
