//! The breached-password filter (`breachlist=FILE`): a compact, sorted set
//! of SHA-1 fingerprints built from the Have I Been Pwned `SHA1:COUNT` list,
//! read with `pread` and validated, never mapped.
//!
//! # Format (version 1, all integers little-endian)
//!
//! ```text
//! 0   magic "PAMBRF1\0"
//! 8   u64  N, entries
//! 16  u32  b, bucket bits
//! 20  u32  fingerprint bits (32)
//! 24  u64  offset of the bucket table
//! 32  N × u32 fingerprints, ordered by bucket, then value
//! T   (2^b + 1) × u32: the index of each bucket's first entry, then N
//! ```
//!
//! A password's key is the first 64 bits of its SHA-1. Its top `b` bits pick
//! a bucket and the next 32 bits are its fingerprint. `b` is chosen so that a
//! bucket holds 8 to 16 entries on average, so a lookup reads 8 bytes of the
//! table and about 50 bytes of fingerprints: two `pread`s.
//!
//! False positives: a password not in the list is refused when another
//! entry of its bucket has the same 32-bit fingerprint, with probability
//! (entries per bucket) / 2^32: below 16 / 2^32 ≈ 3.7 × 10^-9 (one in 270
//! million). Size: 4 bytes per entry plus 4 bytes per bucket, 4.25 to 4.5
//! bytes per entry: about 4 GB for the 900 million hashes of the full list.
//!
//! Reading: the header and the file's length must agree exactly; a bucket's
//! bounds must lie in order inside the entries and hold at most
//! [`MAX_BUCKET`] entries. Whatever else the file holds (rewritten while
//! open, truncated), a lookup reads at most a bounded number of bytes at
//! checked offsets and returns an answer or an error.

#![forbid(unsafe_code)]

use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"PAMBRF1\0";
const HEADER_LEN: u64 = 32;
const FP_BITS: u32 = 32;
/// More entries than this in one bucket means a broken (or hostile) file.
pub const MAX_BUCKET: u64 = 4096;

/// Why a breach filter cannot be used.
#[derive(Debug)]
pub enum BreachError {
    Unreadable(PathBuf, io::Error),
    Corrupt(PathBuf, &'static str),
}

impl fmt::Display for BreachError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BreachError::Unreadable(p, e) => write!(f, "cannot read {}: {e}", p.display()),
            BreachError::Corrupt(p, why) => {
                write!(f, "{} is not a valid breach filter: {why}", p.display())
            }
        }
    }
}

impl std::error::Error for BreachError {}

/// The 64-bit key of a SHA-1 digest.
fn key_of(sha1: &[u8; 20]) -> u64 {
    let mut k = [0u8; 8];
    k.copy_from_slice(&sha1[..8]);
    u64::from_be_bytes(k)
}

fn bucket_of(key: u64, bits: u32) -> u64 {
    if bits == 0 { 0 } else { key >> (64 - bits) }
}

fn fingerprint_of(key: u64, bits: u32) -> u32 {
    // The 32 bits after the bucket bits.
    ((key << bits) >> (64 - FP_BITS)) as u32
}

/// Bucket bits for `n` entries: 8 to 16 entries a bucket on average.
fn bucket_bits(n: u64) -> u32 {
    let log2 = 63 - n.max(1).leading_zeros();
    log2.saturating_sub(3).min(32)
}

/// An open breach filter.
pub struct BreachFilter {
    path: PathBuf,
    file: File,
    entries: u64,
    bits: u32,
    table: u64,
}

impl BreachFilter {
    /// Opens and validates the header against the file's length.
    pub fn open(path: &Path) -> Result<Self, BreachError> {
        let unreadable = |e| BreachError::Unreadable(path.to_owned(), e);
        let corrupt = |why| BreachError::Corrupt(path.to_owned(), why);
        let file = File::open(path).map_err(unreadable)?;
        let meta = file.metadata().map_err(unreadable)?;
        if !meta.is_file() {
            return Err(corrupt("not a regular file"));
        }
        let mut header = [0u8; HEADER_LEN as usize];
        file.read_exact_at(&mut header, 0)
            .map_err(|_| corrupt("shorter than its header"))?;
        if &header[..8] != MAGIC {
            return Err(corrupt(
                "bad magic (build it with pam-policy-check --build-breach-filter)",
            ));
        }
        let u64_at = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&header[at..at + 8]);
            u64::from_le_bytes(b)
        };
        let u32_at = |at: usize| {
            let mut b = [0u8; 4];
            b.copy_from_slice(&header[at..at + 4]);
            u32::from_le_bytes(b)
        };
        let entries = u64_at(8);
        let bits = u32_at(16);
        let table = u64_at(24);
        if u32_at(20) != FP_BITS || bits > 32 || entries > u64::from(u32::MAX) {
            return Err(corrupt("unsupported parameters"));
        }
        let expected_table = HEADER_LEN + 4 * entries;
        let expected_len = expected_table + 4 * ((1u64 << bits) + 1);
        if table != expected_table || meta.len() != expected_len {
            return Err(corrupt("length does not match its header"));
        }
        Ok(Self {
            path: path.to_owned(),
            file,
            entries,
            bits,
            table,
        })
    }

    pub fn len(&self) -> u64 {
        self.entries
    }

    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// Whether the digest's fingerprint is in the filter. An inconsistent
    /// file (changed since it was opened) is an error, never a crash.
    pub fn contains(&self, sha1: &[u8; 20]) -> Result<bool, BreachError> {
        let corrupt = |why| BreachError::Corrupt(self.path.clone(), why);
        let key = key_of(sha1);
        let bucket = bucket_of(key, self.bits);
        let mut bounds = [0u8; 8];
        self.file
            .read_exact_at(&mut bounds, self.table + 4 * bucket)
            .map_err(|_| corrupt("truncated bucket table"))?;
        let start = u64::from(u32::from_le_bytes([
            bounds[0], bounds[1], bounds[2], bounds[3],
        ]));
        let end = u64::from(u32::from_le_bytes([
            bounds[4], bounds[5], bounds[6], bounds[7],
        ]));
        if start > end || end > self.entries || end - start > MAX_BUCKET {
            return Err(corrupt("bucket bounds out of order or too large"));
        }
        if start == end {
            return Ok(false);
        }
        let count = usize::try_from(end - start).map_err(|_| corrupt("bucket too large"))?;
        let mut buf = vec![0u8; 4 * count];
        self.file
            .read_exact_at(&mut buf, HEADER_LEN + 4 * start)
            .map_err(|_| corrupt("truncated entries"))?;
        let want = fingerprint_of(key, self.bits);
        let fps: Vec<u32> = buf
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        Ok(fps.binary_search(&want).is_ok())
    }
}

/// The breach filter as a password change uses it: opened on first use,
/// with the reason it could not be used kept for the caller to report once.
/// A broken filter does not refuse every password: the check is skipped,
/// loudly, as a broken dictionary falls back.
pub struct LazyBreaches {
    path: PathBuf,
    filter: std::cell::OnceCell<Option<std::sync::Arc<BreachFilter>>>,
    problem: std::cell::RefCell<Option<String>>,
}

impl LazyBreaches {
    pub fn new(path: &str) -> Self {
        Self {
            path: PathBuf::from(path),
            filter: std::cell::OnceCell::new(),
            problem: std::cell::RefCell::new(None),
        }
    }

    /// Whether `sha1` is listed; `false` (with the reason kept) when the
    /// filter cannot be read.
    pub fn contains(&self, sha1: &[u8; 20]) -> bool {
        let filter = self.filter.get_or_init(|| match open_shared(&self.path) {
            Ok(f) => Some(f),
            Err(e) => {
                *self.problem.borrow_mut() = Some(e.to_string());
                None
            }
        });
        match filter.as_ref().map(|f| f.contains(sha1)) {
            Some(Ok(found)) => found,
            Some(Err(e)) => {
                *self.problem.borrow_mut() = Some(e.to_string());
                false
            }
            None => false,
        }
    }

    /// Why the filter could not be used, once.
    pub fn take_problem(&self) -> Option<String> {
        self.problem.borrow_mut().take()
    }
}

type Stamp = (u64, u64, u64, i64, i64);

/// Like [`BreachFilter::open`], but a process keeps the open filter while
/// its file's device, inode, size and modification time are unchanged (the
/// module stays loaded between transactions), so a transaction pays one
/// `stat` for it, not an open and a header read. A filter replaced by rename
/// is opened anew; one rewritten in place is caught by the lookups' checks.
fn open_shared(path: &Path) -> Result<std::sync::Arc<BreachFilter>, BreachError> {
    use std::sync::{Arc, Mutex};
    static CACHE: Mutex<Option<(PathBuf, Stamp, Arc<BreachFilter>)>> = Mutex::new(None);
    let stamp = crate::dict::file_stamp(path);
    if let (Some(stamp), Ok(cache)) = (stamp, CACHE.lock())
        && let Some((p, s, f)) = cache.as_ref()
        && p == path
        && *s == stamp
    {
        return Ok(f.clone());
    }
    let f = Arc::new(BreachFilter::open(path)?);
    if let (Some(stamp), Ok(mut cache)) = (stamp, CACHE.lock()) {
        *cache = Some((path.to_owned(), stamp, f.clone()));
    }
    Ok(f)
}

/// The dictionary and the breach filter of one password change, for
/// [`crate::verdict::verdict`].
pub struct Screens<'a> {
    pub words: &'a crate::dict::LazyDictionary,
    pub breaches: Option<&'a LazyBreaches>,
}

impl crate::check::Lists for Screens<'_> {
    fn words(&self) -> &dyn crate::dict::WordSet {
        self.words
    }
    fn checks_breaches(&self) -> bool {
        self.breaches.is_some()
    }
    fn breached(&self, sha1: &[u8; 20]) -> bool {
        self.breaches.is_some_and(|b| b.contains(sha1))
    }
}

/// Parses one line of the HIBP text format: 40 hex digits (either case),
/// optionally `:COUNT`, CRLF or LF. `None` for anything else.
pub fn parse_line(line: &[u8]) -> Option<[u8; 20]> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let hex = match line.iter().position(|&b| b == b':') {
        Some(i) => &line[..i],
        None => line,
    };
    if hex.len() != 40 {
        return None;
    }
    let mut out = [0u8; 20];
    for (i, pair) in hex.chunks_exact(2).enumerate() {
        let hi = (pair[0] as char).to_digit(16)?;
        let lo = (pair[1] as char).to_digit(16)?;
        out[i] = u8::try_from(hi * 16 + lo).ok()?;
    }
    Some(out)
}

/// What a build did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BuildStats {
    pub lines: u64,
    pub skipped: u64,
    pub entries: u64,
    pub bucket_bits: u32,
    pub bytes: u64,
}

/// Progress reports during a build (a terminal line, or nothing).
pub trait Progress {
    fn reading(&mut self, _lines: u64, _bytes: u64) {}
    fn sorting(&mut self, _part: usize, _parts: usize) {}
}

/// No progress reports.
pub struct Quiet;
impl Progress for Quiet {}

/// Builds a filter at `out` from HIBP text on `input`, in two passes over
/// temporary partition files beside `out`: the keys are spread by their top
/// bits into 2^p partitions (p from `size_hint`, the input's length, so each
/// holds about 4 million keys, 32 MB; 256 of them when the length is
/// unknown), then each partition is sorted in
/// memory and appended. Memory stays bounded by one partition whatever the
/// input's length and order. The result replaces `out` by rename.
pub fn build(
    input: impl BufRead,
    size_hint: Option<u64>,
    out: &Path,
    progress: &mut dyn Progress,
) -> io::Result<BuildStats> {
    let dir = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "breach".to_owned());
    let tmp = |what: &str| dir.join(format!(".{name}.{what}.{}", std::process::id()));
    let per_part: u64 = 4 << 20;
    let part_bits = match size_hint {
        Some(size) => {
            // About 45 bytes a line.
            let parts = (size / 45).div_ceil(per_part).max(1);
            (64 - (parts - 1).leading_zeros()).min(10)
        }
        // A pipe of unknown length: 256 parts, enough for the full list
        // (900 million keys, 28 MB a part).
        None => 8,
    };
    let parts = 1usize << part_bits;
    let mut cleanup: Vec<PathBuf> = Vec::new();
    let result = (|| {
        let mut writers = Vec::with_capacity(parts);
        for i in 0..parts {
            let p = tmp(&format!("part{i}"));
            cleanup.push(p.clone());
            writers.push(BufWriter::with_capacity(16 * 1024, File::create(&p)?));
        }
        let mut stats = BuildStats::default();
        let mut read_bytes = 0u64;
        let mut line = Vec::with_capacity(64);
        let mut input = input;
        loop {
            line.clear();
            let n = input.read_until(b'\n', &mut line)?;
            if n == 0 {
                break;
            }
            read_bytes += n as u64;
            stats.lines += 1;
            match parse_line(&line) {
                Some(d) => {
                    let key = key_of(&d);
                    let part = if part_bits == 0 {
                        0
                    } else {
                        (key >> (64 - part_bits)) as usize
                    };
                    writers[part].write_all(&key.to_le_bytes())?;
                }
                None => stats.skipped += 1,
            }
            if stats.lines.is_multiple_of(1 << 20) {
                progress.reading(stats.lines, read_bytes);
            }
        }
        progress.reading(stats.lines, read_bytes);
        for w in writers {
            w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        }
        let keys = stats.lines - stats.skipped;
        let bits = bucket_bits(keys);
        stats.bucket_bits = bits;

        let body = tmp("new");
        let table_path = tmp("table");
        cleanup.push(body.clone());
        cleanup.push(table_path.clone());
        let mut data = BufWriter::new(File::create(&body)?);
        data.write_all(&[0u8; HEADER_LEN as usize])?;
        let mut table = BufWriter::new(File::create(&table_path)?);
        let mut next_bucket = 0u64;
        let mut count = 0u64;
        let buckets = 1u64 << bits;
        for (i, part) in cleanup[..parts].iter().enumerate() {
            progress.sorting(i + 1, parts);
            let mut bytes = Vec::new();
            File::open(part)?.read_to_end(&mut bytes)?;
            std::fs::remove_file(part)?;
            let mut keys: Vec<u64> = bytes
                .chunks_exact(8)
                .map(|c| {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(c);
                    u64::from_le_bytes(b)
                })
                .collect();
            drop(bytes);
            keys.sort_unstable();
            // Keys equal in their bucket and fingerprint bits are one entry.
            let shift = 64 - (bits + FP_BITS);
            keys.dedup_by_key(|k| *k >> shift);
            for k in keys {
                let bucket = bucket_of(k, bits);
                while next_bucket <= bucket {
                    table.write_all(&u32_of(count)?.to_le_bytes())?;
                    next_bucket += 1;
                }
                data.write_all(&fingerprint_of(k, bits).to_le_bytes())?;
                count += 1;
            }
        }
        while next_bucket <= buckets {
            table.write_all(&u32_of(count)?.to_le_bytes())?;
            next_bucket += 1;
        }
        let table_file = table.into_inner().map_err(|e| e.into_error())?;
        drop(table_file);
        io::copy(&mut File::open(&table_path)?, &mut data)?;
        std::fs::remove_file(&table_path)?;
        let mut data = data.into_inner().map_err(|e| e.into_error())?;
        let mut header = Vec::with_capacity(HEADER_LEN as usize);
        header.extend_from_slice(MAGIC);
        header.extend_from_slice(&count.to_le_bytes());
        header.extend_from_slice(&bits.to_le_bytes());
        header.extend_from_slice(&FP_BITS.to_le_bytes());
        header.extend_from_slice(&(HEADER_LEN + 4 * count).to_le_bytes());
        data.seek(SeekFrom::Start(0))?;
        data.write_all(&header)?;
        data.sync_all()?;
        stats.entries = count;
        stats.bytes = data.metadata()?.len();
        drop(data);
        // Replaced by rename: a process reading the old file keeps reading it.
        std::fs::rename(&body, out)?;
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(stats)
    })();
    for p in &cleanup {
        let _ = std::fs::remove_file(p);
    }
    result
}

fn u32_of(n: u64) -> io::Result<u32> {
    u32::try_from(n).map_err(|_| io::Error::other("more than 4294967295 entries"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha1::Digest;

    fn sha1(s: &str) -> [u8; 20] {
        sha1::Sha1::digest(s.as_bytes()).into()
    }

    fn hex(d: &[u8; 20]) -> String {
        d.iter().map(|b| format!("{b:02X}")).collect()
    }

    fn tempdir() -> PathBuf {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let d = std::env::temp_dir().join(format!(
            "pam-policy-breach-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn lines_of_the_hibp_format_parse() {
        let d = sha1("password");
        let h = hex(&d);
        assert_eq!(parse_line(format!("{h}:9545824\r\n").as_bytes()), Some(d));
        assert_eq!(parse_line(format!("{h}:3\n").as_bytes()), Some(d));
        assert_eq!(parse_line(h.to_lowercase().as_bytes()), Some(d));
        for bad in ["", "xyz:1", &h[..39], &format!("{}G:1", &h[..39])] {
            assert_eq!(parse_line(bad.as_bytes()), None, "{bad:?}");
        }
    }

    #[test]
    fn built_filters_find_every_entry_and_few_others() {
        let dir = tempdir();
        for n in [0usize, 1, 17, 5000] {
            let pws: Vec<String> = (0..n).map(|i| format!("breached-{i}")).collect();
            let mut text = String::new();
            // Unsorted, with duplicates and junk, CRLF and LF.
            for (i, p) in pws.iter().enumerate().rev() {
                text.push_str(&format!("{}:{i}\r\n", hex(&sha1(p))));
                if i % 7 == 0 {
                    text.push_str(&format!("{}:1\n", hex(&sha1(p))));
                }
            }
            text.push_str("not a line\n");
            let out = dir.join(format!("f{n}"));
            let stats = build(text.as_bytes(), None, &out, &mut Quiet).unwrap();
            assert_eq!(stats.entries, n as u64);
            assert_eq!(stats.skipped, 1);
            let f = BreachFilter::open(&out).unwrap();
            assert_eq!(f.len(), n as u64);
            for p in &pws {
                assert!(f.contains(&sha1(p)).unwrap(), "{p}");
            }
            let misses = (0..20_000)
                .filter(|i| f.contains(&sha1(&format!("other-{i}"))).unwrap())
                .count();
            assert_eq!(misses, 0);
        }
        // Several partitions (a size hint as for a large file).
        let pws: Vec<String> = (0..3000).map(|i| format!("p{i}")).collect();
        let text: String = pws
            .iter()
            .map(|p| format!("{}:1\n", hex(&sha1(p))))
            .collect();
        let out = dir.join("parts");
        build(text.as_bytes(), Some(45 * (20 << 20)), &out, &mut Quiet).unwrap();
        let f = BreachFilter::open(&out).unwrap();
        assert!(pws.iter().all(|p| f.contains(&sha1(p)).unwrap()));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_replaced_filter_is_reopened_by_the_next_password_change() {
        let dir = tempdir();
        let out = dir.join("f");
        let list = |pws: &[&str]| -> String {
            pws.iter()
                .map(|p| format!("{}:1\n", hex(&sha1(p))))
                .collect()
        };
        build(list(&["alpha"]).as_bytes(), None, &out, &mut Quiet).unwrap();
        let path = out.to_str().unwrap();
        assert!(LazyBreaches::new(path).contains(&sha1("alpha")));
        std::thread::sleep(std::time::Duration::from_millis(10));
        build(
            list(&["bravo", "charlie"]).as_bytes(),
            None,
            &out,
            &mut Quiet,
        )
        .unwrap();
        let again = LazyBreaches::new(path);
        assert!(again.contains(&sha1("bravo")) && !again.contains(&sha1("alpha")));
        assert!(again.take_problem().is_none());
        let missing = LazyBreaches::new("/nonexistent/filter");
        assert!(!missing.contains(&sha1("alpha")));
        assert!(missing.take_problem().is_some());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn broken_or_rewritten_filters_are_errors_not_crashes() {
        let dir = tempdir();
        let text: String = (0..500)
            .map(|i| format!("{}:1\n", hex(&sha1(&format!("x{i}")))))
            .collect();
        let out = dir.join("f");
        build(text.as_bytes(), None, &out, &mut Quiet).unwrap();
        let good = std::fs::read(&out).unwrap();
        // Truncated, garbage, wrong magic: refused at open.
        for bytes in [
            &good[..good.len() - 1],
            &good[..10],
            b"PAMBRF1\0garbage".as_slice(),
        ] {
            std::fs::write(dir.join("bad"), bytes).unwrap();
            assert!(BreachFilter::open(&dir.join("bad")).is_err());
        }
        // Opened, then rewritten in place: lookups answer or fail, never crash.
        let f = BreachFilter::open(&out).unwrap();
        let mut junk = good.clone();
        for b in junk[32..].iter_mut() {
            *b = 0xff;
        }
        std::fs::write(&out, &junk).unwrap();
        for i in 0..200 {
            let _ = f.contains(&sha1(&format!("x{i}")));
        }
        std::fs::write(&out, b"").unwrap();
        assert!(f.contains(&sha1("x1")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
