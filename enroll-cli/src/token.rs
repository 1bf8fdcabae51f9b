//! What an enrollment consists of: the secret and scratch codes drawn from
//! the operating system's CSPRNG, and the otpauth URI an authenticator app
//! imports (Key URI format, with RFC 3986 percent-encoding).

use std::fmt::Write as _;

use pam_totp::decision::{self, Window};
use pam_totp::enrollment::ScratchCode;
use pam_totp::otp::{self, Key};
use rand::distr::{Distribution, Uniform};
use rand::rngs::{OsRng, StdRng};
use rand::{Rng, SeedableRng, TryRngCore};
use zeroize::{Zeroize, Zeroizing};

/// Bytes of a new secret: 160 bits, the size RFC 4226 recommends and
/// current google-authenticator writes.
pub const SECRET_BYTES: usize = 20;
/// Digits of the codes the app shows (all that pam_google_authenticator checks).
pub const DIGITS: u32 = decision::DIGITS;

/// A new 160-bit secret from the kernel's CSPRNG (getrandom(2)).
/// Bits of a new secret unless the admin asks for more.
pub const DEFAULT_SECRET_BITS: u32 = SECRET_BYTES as u32 * 8;

/// A new random secret of [`SECRET_BYTES`], or of at least `min_bits`.
pub fn new_key(min_bits: Option<u32>) -> Result<Key, String> {
    let len = min_bits.map_or(SECRET_BYTES, |b| SECRET_BYTES.max(b.div_ceil(8) as usize));
    let mut bytes = vec![0u8; len];
    if let Err(e) = OsRng.try_fill_bytes(&mut bytes) {
        bytes.zeroize();
        return Err(format!("cannot read the system's random source: {e}"));
    }
    Ok(Key::new(bytes))
}

/// A generator for scratch codes, seeded from the kernel's CSPRNG.
pub fn scratch_rng() -> Result<StdRng, String> {
    StdRng::try_from_os_rng().map_err(|e| format!("cannot read the system's random source: {e}"))
}

/// `count` distinct scratch codes, each uniform over 10000000..=99999999.
pub fn scratch_codes(
    rng: &mut impl Rng,
    count: usize,
) -> Result<Zeroizing<Vec<ScratchCode>>, String> {
    let range =
        Uniform::new_inclusive(ScratchCode::MIN, ScratchCode::MAX).map_err(|e| e.to_string())?;
    let mut codes = Zeroizing::new(Vec::with_capacity(count));
    while codes.len() < count {
        let Some(code) = ScratchCode::new(range.sample(rng)) else {
            continue;
        };
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

/// Where a code the user typed matches: the TOTP step or HOTP counter,
/// within the window pam_totp applies (`decision::Window`).
pub fn find_code(key: &Key, kind: Kind, window: u32, now: u64, code: u32) -> Option<u64> {
    let window = Window::new(window);
    let key = key.hotp_key();
    let mut codes = key.codes();
    match kind {
        Kind::Totp { period } => {
            window.find_totp(&mut codes, otp::time_step(now, u64::from(period)), code)
        }
        Kind::Hotp { counter } => window.find_hotp(&mut codes, counter, code),
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

    #[test]
    fn secrets_are_160_bits_and_32_base32_characters() {
        let a = new_key(None).unwrap();
        let b = new_key(None).unwrap();
        assert_eq!(a.as_bytes().len(), 20);
        assert_eq!(a.to_base32().len(), 32);
        assert_ne!(a.as_bytes(), b.as_bytes());
    }

    #[test]
    fn scratch_codes_are_unique_eight_digit_numbers() {
        let mut rng = scratch_rng().unwrap();
        for _ in 0..50 {
            let codes = scratch_codes(&mut rng, 10).unwrap();
            assert_eq!(codes.len(), 10);
            for c in codes.iter() {
                assert_eq!(c.value().to_string().len(), 8);
            }
            let mut sorted: Vec<u32> = codes.iter().map(|c| c.value()).collect();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted.len(), 10);
        }
    }

    /// Both ends of the range come up, and the first digit is spread evenly
    /// (a modulo bias would favour the low digits).
    #[test]
    fn scratch_codes_cover_the_range_evenly() {
        let mut rng = StdRng::seed_from_u64(7);
        let codes = scratch_codes(&mut rng, 90_000).unwrap();
        let mut first = [0usize; 10];
        for c in codes.iter() {
            first[(c.value() / 10_000_000) as usize] += 1;
        }
        assert_eq!(first[0], 0);
        for (d, n) in first.iter().enumerate().skip(1) {
            assert!((9_000..11_000).contains(n), "first digit {d}: {n}");
        }
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
        // The window is pam_totp's: WINDOW_SIZE 4 is one step back, two ahead.
        assert!(find_code(&key, totp, 4, 9998 * 30, 50548).is_some());
        assert!(find_code(&key, totp, 4, 10002 * 30, 50548).is_none());
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
