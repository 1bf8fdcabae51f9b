//! One-time password arithmetic (RFC 4226 HOTP, RFC 6238 TOTP) and the
//! base32 text form of secrets. Pure functions; keys of any length work, so
//! the 80-bit secrets of older enrollments verify as well as 160-bit ones.

use hmac::{Hmac, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

/// A shared secret, wiped from memory when dropped and never printed.
#[derive(Clone)]
pub struct Key(Zeroizing<Vec<u8>>);

impl Key {
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The key as unpadded RFC 4648 base32, as secret files and otpauth URIs carry it.
    pub fn to_base32(&self) -> Zeroizing<String> {
        encode_base32(&self.0)
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Key(<{} bytes redacted>)", self.0.len())
    }
}

/// HOTP value of `key` at `counter` (RFC 4226 §5.3), reduced to `digits` digits.
pub fn hotp(key: &Key, counter: u64, digits: u32) -> u32 {
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(key.as_bytes()) else {
        // HMAC takes keys of any length; this branch cannot be taken.
        return u32::MAX;
    };
    mac.update(&counter.to_be_bytes());
    let mut bytes = mac.finalize().into_bytes();
    let digest: Zeroizing<[u8; 20]> = Zeroizing::new(bytes.into());
    bytes.as_mut_slice().zeroize();
    let offset = usize::from(digest[19] & 0x0f);
    let binary = u32::from_be_bytes([
        digest[offset],
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]) & 0x7fff_ffff;
    binary % 10u32.pow(digits.min(9))
}

/// TOTP time step of a Unix time (RFC 6238 §4, T0 = 0).
pub fn time_step(unix_time: u64, step_seconds: u64) -> u64 {
    unix_time / step_seconds.max(1)
}

/// Whether two codes are equal, in time that does not depend on where they differ.
pub fn codes_equal(a: u32, b: u32) -> bool {
    a.ct_eq(&b).into()
}

const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// Encodes bytes as unpadded RFC 4648 base32.
pub fn encode_base32(bytes: &[u8]) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity(bytes.len().div_ceil(5) * 8));
    let mut buffer: u64 = 0;
    let mut bits = 0u32;
    for &b in bytes {
        buffer = (buffer << 8) | u64::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    buffer.zeroize();
    out
}

/// Why a secret line is not a usable base32 secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Base32Error {
    /// A character outside the alphabet (its position in the line).
    BadCharacter(usize),
    /// Nothing left after the spacing characters.
    Empty,
}

/// Decodes a secret the way pam_google_authenticator reads line 1:
/// case-insensitive; spaces, tabs, CR, LF and `-` are ignored; `0`, `1`
/// and `8` are read as `O`, `L` and `B` (the look-alikes people type);
/// `=` padding is refused, as it is there.
pub fn decode_base32(text: &str) -> Result<Key, Base32Error> {
    let mut out = Zeroizing::new(Vec::with_capacity(text.len() * 5 / 8 + 1));
    let mut buffer: u64 = 0;
    let mut bits = 0u32;
    for (i, c) in text.bytes().enumerate() {
        let c = match c {
            b' ' | b'\t' | b'\r' | b'\n' | b'-' => continue,
            b'0' => b'O',
            b'1' => b'L',
            b'8' => b'B',
            c => c.to_ascii_uppercase(),
        };
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'2'..=b'7' => c - b'2' + 26,
            _ => return Err(Base32Error::BadCharacter(i)),
        };
        buffer = (buffer << 5) | u64::from(value);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(((buffer >> bits) & 0xff) as u8);
        }
    }
    buffer.zeroize();
    if out.is_empty() {
        return Err(Base32Error::Empty);
    }
    Ok(Key(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ascii_key(s: &str) -> Key {
        Key::new(s.as_bytes().to_vec())
    }

    #[test]
    fn rfc4226_appendix_d_vectors() {
        let key = ascii_key("12345678901234567890");
        let expected = [
            755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489,
        ];
        for (counter, want) in expected.iter().enumerate() {
            assert_eq!(hotp(&key, counter as u64, 6), *want, "counter {counter}");
        }
    }

    #[test]
    fn rfc6238_appendix_b_sha1_vectors() {
        let key = ascii_key("12345678901234567890");
        for (time, want) in [
            (59u64, 94287082u32),
            (1111111109, 7081804),
            (1111111111, 14050471),
            (1234567890, 89005924),
            (2000000000, 69279037),
            (20000000000, 65353130),
        ] {
            assert_eq!(hotp(&key, time_step(time, 30), 8), want, "time {time}");
            assert_eq!(hotp(&key, time_step(time, 30), 6), want % 1_000_000);
        }
    }

    #[test]
    fn google_authenticator_vectors() {
        let key = decode_base32("2SH3V3GDW7ZNMGYE").unwrap();
        assert_eq!(hotp(&key, 10000, 6), 50548);
        let hotp_codes = [293240, 445965, 464407, 374703, 932068, 687830];
        for (i, want) in hotp_codes.iter().enumerate() {
            assert_eq!(hotp(&key, i as u64 + 1, 6), *want);
        }
    }

    #[test]
    fn steps_past_2038_and_2106_are_exact() {
        assert_eq!(time_step(2u64.pow(31) + 30, 30), (2u64.pow(31) + 30) / 30);
        assert_eq!(time_step(2u64.pow(32) * 3, 30), 2u64.pow(32) * 3 / 30);
    }

    #[test]
    fn base32_round_trips_and_matches_rfc4648() {
        // RFC 4648 §10 test vectors, without padding.
        for (plain, enc) in [
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(encode_base32(plain.as_bytes()).as_str(), enc);
            assert_eq!(decode_base32(enc).unwrap().as_bytes(), plain.as_bytes());
        }
        assert_eq!(
            encode_base32(b"Hello world...\0").as_str(),
            "JBSWY3DPEB3W64TMMQXC4LQA"
        );
        for len in 0..64usize {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + len) as u8).collect();
            let enc = encode_base32(&bytes);
            if len == 0 {
                assert!(enc.is_empty());
                continue;
            }
            assert_eq!(decode_base32(&enc).unwrap().as_bytes(), &bytes[..]);
        }
    }

    #[test]
    fn base32_is_as_lenient_as_the_anchor_and_no_more() {
        let plain = decode_base32("JBSWY3DPEHPK3PXP").unwrap();
        for variant in [
            "jbswy3dpehpk3pxp",
            "JBSW Y3DP-EHPK 3PXP\r\n",
            "\tJBSWY3DPEHPK3PXP",
        ] {
            assert_eq!(decode_base32(variant).unwrap().as_bytes(), plain.as_bytes());
        }
        // Look-alike digits are read as letters.
        assert_eq!(
            decode_base32("0L8").unwrap().as_bytes(),
            decode_base32("OLB").unwrap().as_bytes()
        );
        assert_eq!(
            decode_base32("JBSWY3DP====").err(),
            Some(Base32Error::BadCharacter(8))
        );
        assert_eq!(
            decode_base32("JBSW!").err(),
            Some(Base32Error::BadCharacter(4))
        );
        assert_eq!(decode_base32(" - ").err(), Some(Base32Error::Empty));
        assert_eq!(decode_base32("A").err(), Some(Base32Error::Empty));
    }

    #[test]
    fn key_debug_is_redacted() {
        let key = ascii_key("12345678901234567890");
        let shown = format!("{key:?}");
        assert!(!shown.contains("1234"), "{shown}");
    }

    #[test]
    fn constant_time_code_comparison() {
        assert!(codes_equal(123456, 123456));
        assert!(!codes_equal(123456, 123457));
    }
}
