//! One-time password arithmetic (RFC 4226 HOTP, RFC 6238 TOTP) and the
//! base32 text form of secrets. Pure functions; keys of any length work, so
//! the 80-bit secrets of older enrollments verify as well as 160-bit ones.

#![forbid(unsafe_code)]

use sha1::digest::generic_array::GenericArray;
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

    /// The key ready for computing many codes (see [`HotpKey`]).
    pub fn hotp_key(&self) -> HotpKey {
        HotpKey::new(self.as_bytes())
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes().ct_eq(other.as_bytes()).into()
    }
}

impl Eq for Key {}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Key(<{} bytes redacted>)", self.0.len())
    }
}

const SHA1_IV: [u32; 5] = [
    0x6745_2301,
    0xEFCD_AB89,
    0x98BA_DCFE,
    0x1032_5476,
    0xC3D2_E1F0,
];
const BLOCK: usize = 64;

/// HMAC-SHA1 (RFC 2104) of one key with the key's inner and outer pads
/// already hashed: a code then costs two SHA-1 compressions and no
/// allocation, which is what a skew scan over thousands of steps needs.
/// The pad states are secret-equivalent and wiped on drop.
pub struct HotpKey {
    inner: Zeroizing<[u32; 5]>,
    outer: Zeroizing<[u32; 5]>,
}

impl std::fmt::Debug for HotpKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HotpKey(<redacted>)")
    }
}

fn compress(state: &mut [u32; 5], block: &mut [u8; BLOCK]) {
    let mut blocks = [GenericArray::clone_from_slice(&block[..])];
    sha1::compress(state, &blocks);
    blocks[0].as_mut_slice().zeroize();
    block.zeroize();
}

/// SHA-1 of a whole message (for keys longer than a block, RFC 2104 §2).
fn sha1_digest(message: &[u8]) -> Zeroizing<[u8; 20]> {
    let mut state = Zeroizing::new(SHA1_IV);
    let mut chunks = message.chunks_exact(BLOCK);
    for chunk in &mut chunks {
        let mut block = Zeroizing::new([0u8; BLOCK]);
        block.copy_from_slice(chunk);
        compress(&mut state, &mut block);
    }
    let rest = chunks.remainder();
    let mut tail = Zeroizing::new([0u8; 2 * BLOCK]);
    tail[..rest.len()].copy_from_slice(rest);
    tail[rest.len()] = 0x80;
    let blocks = if rest.len() < 56 { 1 } else { 2 };
    let bits = (message.len() as u64).wrapping_mul(8);
    tail[blocks * BLOCK - 8..blocks * BLOCK].copy_from_slice(&bits.to_be_bytes());
    for i in 0..blocks {
        let mut block = Zeroizing::new([0u8; BLOCK]);
        block.copy_from_slice(&tail[i * BLOCK..(i + 1) * BLOCK]);
        compress(&mut state, &mut block);
    }
    let mut out = Zeroizing::new([0u8; 20]);
    for (i, w) in state.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&w.to_be_bytes());
    }
    out
}

impl HotpKey {
    pub fn new(key: &[u8]) -> Self {
        let mut padded = Zeroizing::new([0u8; BLOCK]);
        if key.len() > BLOCK {
            padded[..20].copy_from_slice(&sha1_digest(key)[..]);
        } else {
            padded[..key.len()].copy_from_slice(key);
        }
        let pad_state = |byte: u8| {
            let mut block = Zeroizing::new([0u8; BLOCK]);
            for (b, k) in block.iter_mut().zip(padded.iter()) {
                *b = k ^ byte;
            }
            let mut state = Zeroizing::new(SHA1_IV);
            compress(&mut state, &mut block);
            state
        };
        Self {
            inner: pad_state(0x36),
            outer: pad_state(0x5c),
        }
    }

    /// A generator of this key's codes, for computing many in a row.
    pub fn codes(&self) -> Codes<'_> {
        Codes {
            key: self,
            blocks: Default::default(),
            states: [[0; 5]; LANES],
        }
    }

    /// HOTP value at `counter` (RFC 4226 §5.3), reduced to `digits` digits.
    pub fn code(&self, counter: u64, digits: u32) -> u32 {
        self.codes().code(counter, digits)
    }
}

/// How many codes [`Codes::batch`] computes at once. SHA-1 is a chain of
/// dependent rounds; compressions of different codes do not depend on each
/// other, so the CPU overlaps them when they are issued side by side. A
/// skew search of 3,001 codes took 255 µs one code after another, 172 µs
/// two at a time, 130 µs four and 113 µs eight (SHA instructions, release
/// build, on the CI machine).
pub const LANES: usize = 8;

type Block = GenericArray<u8, sha1::digest::typenum::U64>;

/// Computes codes of one key with buffers that are reused from code to
/// code and wiped once, when the generator is dropped: a scan over
/// thousands of steps then costs two SHA-1 compressions per step.
pub struct Codes<'k> {
    key: &'k HotpKey,
    blocks: [Block; LANES],
    states: [[u32; 5]; LANES],
}

impl Drop for Codes<'_> {
    fn drop(&mut self) {
        for block in &mut self.blocks {
            block.as_mut_slice().zeroize();
        }
        self.states.zeroize();
    }
}

impl Codes<'_> {
    /// HMAC-SHA1 of the 8-byte big-endian counters (at most [`LANES`]), one
    /// per lane, into `self.states`.
    fn macs(&mut self, counters: &[u64]) {
        let n = counters.len().min(LANES);
        // Inner hash: the pad block is done; one block holds the counter,
        // the padding and the length of pad + counter in bits.
        for (block, counter) in self.blocks.iter_mut().zip(counters) {
            let block = block.as_mut_slice();
            block[..8].copy_from_slice(&counter.to_be_bytes());
            block[8] = 0x80;
            block[9..56].fill(0);
            block[56..].copy_from_slice(&(((BLOCK + 8) * 8) as u64).to_be_bytes());
        }
        for (state, block) in self.states.iter_mut().zip(&self.blocks).take(n) {
            *state = *self.key.inner;
            sha1::compress(state, std::slice::from_ref(block));
        }
        // Outer hash over the inner digest.
        for (block, state) in self.blocks.iter_mut().zip(&self.states).take(n) {
            let block = block.as_mut_slice();
            for (i, w) in state.iter().enumerate() {
                block[i * 4..i * 4 + 4].copy_from_slice(&w.to_be_bytes());
            }
            block[20] = 0x80;
            block[21..56].fill(0);
            block[56..].copy_from_slice(&(((BLOCK + 20) * 8) as u64).to_be_bytes());
        }
        for (state, block) in self.states.iter_mut().zip(&self.blocks).take(n) {
            *state = *self.key.outer;
            sha1::compress(state, std::slice::from_ref(block));
        }
    }

    /// RFC 4226 §5.3 dynamic truncation of a digest held as SHA-1 state words.
    fn truncate(state: &[u32; 5], digits: u32) -> u32 {
        let byte = |i: usize| state[i / 4].to_be_bytes()[i % 4];
        let offset = usize::from(byte(19) & 0x0f);
        let binary = u32::from_be_bytes([
            byte(offset),
            byte(offset + 1),
            byte(offset + 2),
            byte(offset + 3),
        ]) & 0x7fff_ffff;
        binary % 10u32.pow(digits.min(9))
    }

    /// HOTP values at `LANES` counters at once.
    pub fn batch(&mut self, counters: &[u64; LANES], digits: u32) -> [u32; LANES] {
        self.macs(counters);
        let mut out = [0u32; LANES];
        for (o, state) in out.iter_mut().zip(&self.states) {
            *o = Self::truncate(state, digits);
        }
        out
    }

    /// HOTP value at `counter` (RFC 4226 §5.3), reduced to `digits` digits.
    pub fn code(&mut self, counter: u64, digits: u32) -> u32 {
        self.macs(&[counter]);
        Self::truncate(&self.states[0], digits)
    }
}

/// HOTP value of `key` at `counter` (RFC 4226 §5.3), reduced to `digits` digits.
pub fn hotp(key: &Key, counter: u64, digits: u32) -> u32 {
    key.hotp_key().code(counter, digits)
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

/// Encodes bytes as unpadded RFC 4648 base32, into a buffer reserved at its
/// final size so no reallocation leaves a copy of a secret behind. (The
/// base32 crate's encoder reserves `(n + 3) / 4 * 5` bytes for the
/// `8 * ceil(n / 5)` it writes, 25 for a 32-character secret, and grows.)
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

    /// The same codes as the `hmac` crate's HMAC-SHA1 for keys of every
    /// length around the block size (shorter, equal, hashed first).
    #[test]
    fn precomputed_pads_agree_with_the_hmac_crate() {
        use hmac::{Hmac, Mac};
        for len in [0usize, 1, 10, 20, 55, 56, 63, 64, 65, 100, 128, 129, 200] {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 131 + len) as u8).collect();
            let ours = HotpKey::new(&bytes);
            for counter in [0u64, 1, 59, 1 << 32, u64::MAX] {
                let mut mac = Hmac::<sha1::Sha1>::new_from_slice(&bytes).unwrap();
                mac.update(&counter.to_be_bytes());
                let theirs: [u8; 20] = mac.finalize().into_bytes().into();
                let mut codes = ours.codes();
                codes.macs(&[counter, !counter, 7, counter]);
                let digest: Vec<u8> = codes.states[0]
                    .iter()
                    .flat_map(|w| w.to_be_bytes())
                    .collect();
                assert_eq!(digest, theirs, "key length {len}, counter {counter}");
                assert_eq!(codes.states[0], codes.states[3]);
            }
        }
    }

    /// totp-rs, an independent implementation, shows the same codes (it
    /// takes short keys through its unchecked constructor).
    #[test]
    fn codes_agree_with_totp_rs() {
        use totp_rs::{Algorithm, TOTP};
        for secret in [
            "JBSWY3DPEHPK3PXP",
            "2SH3V3GDW7ZNMGYE",
            "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
        ] {
            let key = decode_base32(secret).unwrap();
            let oracle = TOTP::new_unchecked(Algorithm::SHA1, 6, 1, 30, key.as_bytes().to_vec());
            for time in [0u64, 59, 1_111_111_109, 2_000_000_000, 20_000_000_000] {
                let want: u32 = oracle.generate(time).parse().unwrap();
                assert_eq!(
                    hotp(&key, time_step(time, 30), 6),
                    want,
                    "{secret} at {time}"
                );
            }
        }
    }

    #[test]
    fn base32_agrees_with_the_base32_crate() {
        for len in 1..48usize {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 71 + 3) as u8).collect();
            let theirs = base32::encode(base32::Alphabet::Rfc4648 { padding: false }, &bytes);
            assert_eq!(encode_base32(&bytes).as_str(), theirs);
        }
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
