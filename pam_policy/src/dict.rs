//! Word sets for the dictionary check.
//!
//! - [`PackedDict`]: cracklib's packed dictionary (`P.pwd` + `P.pwi`, as
//!   written by `cracklib-packer`; Debian keeps it at
//!   `/var/cache/cracklib/cracklib_dict`, Fedora as `P.pwd.gz`), read into
//!   memory once, validated, and searched there: the index is built once, by
//!   the packer, never rescanned. It is never memory-mapped: cracklib-packer
//!   rewrites the same files in place, and a mapped file that shrinks or
//!   changes under a process kills it (SIGBUS) or feeds it unvalidated bytes.
//! - [`SortedWords`]: a sorted in-memory list, for a plain word list given as
//!   `dictpath=` and for the built-in list.
//! - [`builtin`]: the compact list compiled into the module, used when no
//!   dictionary can be opened, so a missing dictionary never rejects every
//!   password.
//!
//! [`pack`] writes the packed format, so an admin can turn any word list into
//! an index that both this module and cracklib read.

#![forbid(unsafe_code)]

use std::fmt;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

/// A set of lowercase words, searched by exact match.
pub trait WordSet {
    fn contains(&self, word: &str) -> bool;
}

/// The dictionary cracklib uses when none is named.
pub const DEFAULT_DICT: &str = "/var/cache/cracklib/cracklib_dict";

/// `"pwV1"`: the magic number of a packed index.
const MAGIC: u32 = 0x7077_5631;
/// Words per block in the packed data file.
const BLOCK_WORDS: usize = 16;
/// Index header: magic, word count, block length (u16), padding (u16).
const HEADER_LEN: usize = 12;
/// Bytes a packed word may take with its terminating NUL (cracklib's MAXWORDLEN).
const MAX_WORD_LEN: usize = 32;

/// Why a dictionary could not be used.
#[derive(Debug)]
pub enum DictError {
    Missing(PathBuf),
    Unreadable(PathBuf, io::Error),
    Corrupt(PathBuf, &'static str),
}

impl fmt::Display for DictError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DictError::Missing(p) => write!(f, "no dictionary at {}", p.display()),
            DictError::Unreadable(p, e) => write!(f, "cannot read {}: {e}", p.display()),
            DictError::Corrupt(p, why) => {
                write!(f, "{} is not a valid dictionary: {why}", p.display())
            }
        }
    }
}

impl std::error::Error for DictError {}

/// A cracklib packed dictionary, in memory.
pub struct PackedDict {
    data: Vec<u8>,
    index: Vec<u8>,
    words: usize,
    blocks: usize,
}

impl PackedDict {
    /// Reads `<prefix>.pwd` (or `<prefix>.pwd.gz`) and `<prefix>.pwi` and
    /// validates the index.
    pub fn open(prefix: &Path) -> Result<Self, DictError> {
        let plain = with_suffix(prefix, ".pwd");
        let gz = with_suffix(prefix, ".pwd.gz");
        let (data_path, data) = if !plain.exists() && gz.exists() {
            let data = read_gz(&gz)?;
            (gz, data)
        } else {
            let data = read_whole(&plain)?;
            (plain, data)
        };
        let index_path = with_suffix(prefix, ".pwi");
        let index = read_whole(&index_path)?;
        Self::from_bytes(data, index, &data_path, &index_path)
    }

    /// Validates a packed dictionary's two files, already in memory.
    fn from_bytes(
        data: Vec<u8>,
        index: Vec<u8>,
        data_path: &Path,
        index_path: &Path,
    ) -> Result<Self, DictError> {
        let corrupt = |why| DictError::Corrupt(index_path.to_owned(), why);
        let bytes = &index;
        if bytes.len() < HEADER_LEN {
            return Err(corrupt("index shorter than its header"));
        }
        if read_u32(bytes, 0) != Some(MAGIC) {
            return Err(corrupt("bad magic number (not a cracklib index)"));
        }
        let words = read_u32(bytes, 4).unwrap_or(0) as usize;
        let block_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        if block_len != BLOCK_WORDS {
            return Err(corrupt("unsupported block length"));
        }
        if words == 0 {
            return Err(corrupt("no words"));
        }
        let blocks = words.div_ceil(BLOCK_WORDS);
        if bytes.len() < HEADER_LEN + 4 * blocks {
            return Err(corrupt("index shorter than its word count says"));
        }
        let dict = Self {
            data,
            index,
            words,
            blocks,
        };
        // Every block offset must lie inside the data file and ascend, so a
        // lookup never reads out of bounds and the binary search is sound.
        let mut previous = 0usize;
        for b in 0..blocks {
            let off = dict
                .block_offset(b)
                .ok_or_else(|| corrupt("bad block offset"))?;
            if off >= dict.data.len() || (b > 0 && off <= previous) {
                return Err(DictError::Corrupt(
                    data_path.to_owned(),
                    "block offsets out of order or past the end",
                ));
            }
            previous = off;
        }
        Ok(dict)
    }

    pub fn len(&self) -> usize {
        self.words
    }

    pub fn is_empty(&self) -> bool {
        self.words == 0
    }

    fn block_offset(&self, block: usize) -> Option<usize> {
        read_u32(&self.index, HEADER_LEN + 4 * block).map(|o| o as usize)
    }

    /// The first word of a block, stored whole and NUL-terminated.
    fn first_word(&self, block: usize) -> Option<&[u8]> {
        let data = &self.data;
        let start = self.block_offset(block)?;
        let rest = data.get(start..)?;
        let end = rest.iter().position(|&b| b == 0)?;
        Some(&rest[..end])
    }

    /// Whether `block` holds `word`: later words are front-coded as
    /// `<shared prefix length byte><suffix>\0`.
    fn block_contains(&self, block: usize, word: &[u8]) -> bool {
        let data = &self.data;
        let Some(mut pos) = self.block_offset(block) else {
            return false;
        };
        let count = BLOCK_WORDS.min(self.words - block * BLOCK_WORDS);
        let mut current: Vec<u8> = Vec::with_capacity(MAX_WORD_LEN * 2);
        for i in 0..count {
            let shared = if i == 0 {
                0
            } else {
                let Some(&n) = data.get(pos) else {
                    return false;
                };
                pos += 1;
                n as usize
            };
            if shared > current.len() {
                return false;
            }
            current.truncate(shared);
            let Some(rest) = data.get(pos..) else {
                return false;
            };
            let Some(end) = rest.iter().position(|&b| b == 0) else {
                return false;
            };
            current.extend_from_slice(&rest[..end]);
            pos += end + 1;
            match current.as_slice().cmp(word) {
                std::cmp::Ordering::Equal => return true,
                std::cmp::Ordering::Greater => return false,
                std::cmp::Ordering::Less => {}
            }
        }
        false
    }
}

impl WordSet for PackedDict {
    fn contains(&self, word: &str) -> bool {
        let word = word.as_bytes();
        // The last block whose first word is <= word.
        let (mut lo, mut hi) = (0usize, self.blocks);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.first_word(mid) {
                Some(first) if first <= word => lo = mid + 1,
                Some(_) => hi = mid,
                None => return false,
            }
        }
        lo > 0 && self.block_contains(lo - 1, word)
    }
}

/// A sorted, deduplicated list of words held in memory.
pub struct SortedWords {
    words: Vec<Box<str>>,
}

impl SortedWords {
    /// Normalises like `cracklib-format`: lowercase, keep letters and digits,
    /// drop empty lines and `#` comments; then sorts and deduplicates.
    pub fn from_text(text: &str) -> Self {
        let mut words: Vec<Box<str>> = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(normalise_word)
            .filter(|w| !w.is_empty())
            .map(String::into_boxed_str)
            .collect();
        words.sort_unstable();
        words.dedup();
        Self { words }
    }

    pub fn len(&self) -> usize {
        self.words.len()
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.words.iter().map(|w| &**w)
    }
}

impl WordSet for SortedWords {
    fn contains(&self, word: &str) -> bool {
        self.words.binary_search_by(|w| (**w).cmp(word)).is_ok()
    }
}

/// One word as cracklib-format stores it: lowercase, letters and digits only.
pub fn normalise_word(line: &str) -> String {
    line.chars()
        .flat_map(char::to_lowercase)
        .filter(|c| c.is_alphanumeric())
        .collect()
}

/// The built-in list: common passwords, English words and names from the
/// zxcvbn frequency lists (MIT), normalised like `cracklib-format`.
pub const BUILTIN_WORDS: &str = include_str!("../data/common-words.txt");

pub fn builtin() -> SortedWords {
    SortedWords::from_text(BUILTIN_WORDS)
}

/// The built-in list, parsed once per process.
fn shared_builtin() -> Arc<Dictionary> {
    static BUILTIN: OnceLock<Arc<Dictionary>> = OnceLock::new();
    BUILTIN
        .get_or_init(|| Arc::new(Dictionary::Builtin(builtin())))
        .clone()
}

/// What a cached dictionary was opened from: device, inode, size and
/// modification time of each file, so a replaced dictionary is reopened.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Stamp(Vec<(u64, u64, u64, i64, i64)>);

impl Stamp {
    fn of(path: &Path) -> Option<Self> {
        // One stat a file: the first of .pwd, .pwd.gz, the path itself that
        // exists, and for the packed forms the index beside it.
        let pwi = with_suffix(path, ".pwi");
        for data in [with_suffix(path, ".pwd"), with_suffix(path, ".pwd.gz")] {
            if let Some(d) = file_stamp(&data) {
                return Some(Stamp(vec![d, file_stamp(&pwi)?]));
            }
        }
        Some(Stamp(vec![file_stamp(path)?]))
    }
}

/// Device, inode, size and modification time of one file.
pub(crate) fn file_stamp(path: &Path) -> Option<(u64, u64, u64, i64, i64)> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some((m.dev(), m.ino(), m.size(), m.mtime(), m.mtime_nsec()))
}

type Cached = (PathBuf, Stamp, Arc<Dictionary>);

/// Like [`Dictionary::open_or_builtin`], but a process opens (reads and
/// validates) a dictionary once and reuses it while its files are unchanged:
/// the module stays loaded between PAM transactions (`-z nodelete`), so a
/// long-lived process such as a display manager pays for it once.
pub fn open_shared(path: Option<&str>) -> (Arc<Dictionary>, Option<DictError>) {
    static CACHE: Mutex<Option<Cached>> = Mutex::new(None);
    let path = Path::new(path.unwrap_or(DEFAULT_DICT));
    let stamp = Stamp::of(path);
    if let (Some(stamp), Ok(cache)) = (&stamp, CACHE.lock())
        && let Some((p, s, d)) = cache.as_ref()
        && p == path
        && s == stamp
    {
        return (d.clone(), None);
    }
    match Dictionary::open(path) {
        Ok(d) => {
            let d = Arc::new(d);
            if let (Some(stamp), Ok(mut cache)) = (stamp, CACHE.lock()) {
                *cache = Some((path.to_owned(), stamp, d.clone()));
            }
            (d, None)
        }
        Err(e) => (shared_builtin(), Some(e)),
    }
}

/// The dictionary as a password change uses it: opened on first use (most
/// refused passwords never reach the dictionary step), through the process's
/// cache, with the reason for a fallback to the built-in list kept for the
/// caller to report once. The module and the checker both use this.
pub struct LazyDictionary {
    path: Option<String>,
    dict: std::cell::OnceCell<Arc<Dictionary>>,
    fallback: std::cell::RefCell<Option<String>>,
}

impl LazyDictionary {
    pub fn new(path: Option<String>) -> Self {
        Self {
            path,
            dict: std::cell::OnceCell::new(),
            fallback: std::cell::RefCell::new(None),
        }
    }

    pub fn get(&self) -> &Dictionary {
        self.dict.get_or_init(|| {
            let (dict, why) = open_shared(self.path.as_deref());
            if let Some(e) = why {
                *self.fallback.borrow_mut() = Some(format!("{e}; using the {}", dict.describe()));
            }
            dict
        })
    }

    /// Why the built-in list is in use, once.
    pub fn take_fallback(&self) -> Option<String> {
        self.fallback.borrow_mut().take()
    }
}

impl WordSet for LazyDictionary {
    fn contains(&self, word: &str) -> bool {
        self.get().contains(word)
    }
}

/// The dictionary actually in use.
pub enum Dictionary {
    Packed(PackedDict),
    List(SortedWords),
    Builtin(SortedWords),
}

impl Dictionary {
    /// Opens `path`: a packed dictionary prefix (`path.pwd` exists), else a
    /// plain word list file, one word per line.
    pub fn open(path: &Path) -> Result<Self, DictError> {
        if [".pwd", ".pwi", ".pwd.gz"]
            .iter()
            .any(|s| with_suffix(path, s).exists())
        {
            return PackedDict::open(path).map(Dictionary::Packed);
        }
        match read_whole(path) {
            Ok(bytes) => {
                let text = String::from_utf8_lossy(&bytes);
                let list = SortedWords::from_text(&text);
                if list.is_empty() {
                    Err(DictError::Corrupt(path.to_owned(), "no words in the list"))
                } else {
                    Ok(Dictionary::List(list))
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Opens `path` (the system dictionary when `None`); when that fails,
    /// the built-in list, together with the reason for the fallback.
    pub fn open_or_builtin(path: Option<&str>) -> (Self, Option<DictError>) {
        let path = Path::new(path.unwrap_or(DEFAULT_DICT));
        match Self::open(path) {
            Ok(d) => (d, None),
            Err(e) => (Dictionary::Builtin(builtin()), Some(e)),
        }
    }

    /// What this dictionary is, for logs and the checker.
    pub fn describe(&self) -> String {
        match self {
            Dictionary::Packed(d) => format!("packed dictionary, {} words", d.len()),
            Dictionary::List(l) => format!("word list, {} words", l.len()),
            Dictionary::Builtin(l) => format!("built-in list, {} words", l.len()),
        }
    }
}

impl WordSet for Dictionary {
    fn contains(&self, word: &str) -> bool {
        match self {
            Dictionary::Packed(d) => d.contains(word),
            Dictionary::List(l) | Dictionary::Builtin(l) => l.contains(word),
        }
    }
}

/// The three files of a packed dictionary.
pub struct Packed {
    pub pwd: Vec<u8>,
    pub pwi: Vec<u8>,
    pub hwm: Vec<u8>,
}

/// Packs sorted, unique words into cracklib's format (what `cracklib-packer`
/// writes): words longer than 31 bytes are cut, as the packer does.
pub fn pack<'a>(words: impl IntoIterator<Item = &'a str>) -> Packed {
    let mut pwd = Vec::new();
    let mut offsets: Vec<u32> = Vec::new();
    let mut hwms = [0u32; 256];
    let mut previous: Vec<u8> = Vec::new();
    let mut count: u32 = 0;
    for word in words {
        let mut w = word.as_bytes();
        // cracklib keeps MAX_WORD_LEN bytes with the terminating NUL.
        if w.len() > MAX_WORD_LEN - 1 {
            w = &w[..MAX_WORD_LEN - 1];
        }
        if w.is_empty() || w.contains(&0) || w == previous.as_slice() {
            continue;
        }
        if (count as usize).is_multiple_of(BLOCK_WORDS) {
            offsets.push(u32::try_from(pwd.len()).unwrap_or(u32::MAX));
            pwd.extend_from_slice(w);
        } else {
            let shared = previous
                .iter()
                .zip(w)
                .take_while(|(a, b)| a == b)
                .count()
                .min(255);
            pwd.push(u8::try_from(shared).unwrap_or(u8::MAX));
            pwd.extend_from_slice(&w[shared..]);
        }
        pwd.push(0);
        hwms[usize::from(w[0])] = count;
        previous = w.to_vec();
        count += 1;
    }
    // cracklib's packer ends the last block with one NUL per empty slot, and
    // when the words fill their blocks exactly, adds a block of empty slots:
    // written the same way, the files are byte for byte the packer's.
    let filled = count as usize % BLOCK_WORDS;
    if filled == 0 {
        offsets.push(u32::try_from(pwd.len()).unwrap_or(u32::MAX));
    }
    pwd.resize(pwd.len() + (BLOCK_WORDS - filled), 0);
    let mut pwi = Vec::with_capacity(HEADER_LEN + 4 * offsets.len());
    pwi.extend_from_slice(&MAGIC.to_le_bytes());
    pwi.extend_from_slice(&count.to_le_bytes());
    pwi.extend_from_slice(&(BLOCK_WORDS as u16).to_le_bytes());
    pwi.extend_from_slice(&0u16.to_le_bytes());
    for o in offsets {
        pwi.extend_from_slice(&o.to_le_bytes());
    }
    // cracklib's high-water marks: for each first byte, the index of the last
    // word starting with it (or with an earlier byte).
    let mut hwm = Vec::with_capacity(1024);
    let mut last = 0u32;
    for h in hwms {
        last = last.max(h);
        hwm.extend_from_slice(&last.to_le_bytes());
    }
    Packed { pwd, pwi, hwm }
}

/// Writes a packed dictionary at `prefix` (`.pwd`, `.pwi`, `.hwm`).
pub fn write_packed(prefix: &Path, packed: &Packed) -> io::Result<()> {
    for (suffix, bytes) in [
        (".pwd", &packed.pwd),
        (".pwi", &packed.pwi),
        (".hwm", &packed.hwm),
    ] {
        let path = with_suffix(prefix, suffix);
        let tmp = with_suffix(prefix, &format!("{suffix}.tmp"));
        std::fs::write(&tmp, bytes)?;
        // Replace by rename, so a process that has the old file mapped keeps
        // reading the old, intact file.
        std::fs::rename(&tmp, &path)?;
    }
    Ok(())
}

fn with_suffix(prefix: &Path, suffix: &str) -> PathBuf {
    let mut s = prefix.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// The most a dictionary file may hold (Debian's is 250 KB, a large site
/// list some MB): more is refused rather than read without end.
const MAX_DICT_BYTES: u64 = 256 * 1024 * 1024;

/// Reads a whole dictionary file into memory. Whatever happens to the file
/// afterwards (rewritten, truncated, replaced) cannot touch the copy; what
/// was read while it changed is validated like any other content.
fn read_whole(path: &Path) -> Result<Vec<u8>, DictError> {
    use std::io::Read;
    let file = open_regular(path)?;
    // Sized from the file's length, so the copy is not grown by doubling
    // (a read past it still works: the file may grow while being read).
    let hint = file.metadata().map_or(0, |m| m.len().min(MAX_DICT_BYTES));
    let mut bytes = Vec::with_capacity(usize::try_from(hint).unwrap_or(0) + 1);
    file.take(MAX_DICT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| DictError::Unreadable(path.to_owned(), e))?;
    check_size(path, bytes.len())?;
    Ok(bytes)
}

/// Reads and decompresses a gzip'd file (`.pwd.gz`), within the same bound.
fn read_gz(path: &Path) -> Result<Vec<u8>, DictError> {
    use std::io::Read;
    let file = open_regular(path)?;
    let mut bytes = Vec::new();
    flate2::read::MultiGzDecoder::new(io::BufReader::new(file))
        .take(MAX_DICT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|_| DictError::Corrupt(path.to_owned(), "not a valid gzip file"))?;
    check_size(path, bytes.len())?;
    bytes.shrink_to_fit();
    Ok(bytes)
}

fn check_size(path: &Path, len: usize) -> Result<(), DictError> {
    if len == 0 {
        return Err(DictError::Corrupt(path.to_owned(), "empty file"));
    }
    if len as u64 > MAX_DICT_BYTES {
        return Err(DictError::Corrupt(path.to_owned(), "larger than 256 MiB"));
    }
    Ok(())
}

fn open_regular(path: &Path) -> Result<File, DictError> {
    let file = File::open(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => DictError::Missing(path.to_owned()),
        _ => DictError::Unreadable(path.to_owned(), e),
    })?;
    let meta = file
        .metadata()
        .map_err(|e| DictError::Unreadable(path.to_owned(), e))?;
    if meta.is_dir() {
        return Err(DictError::Corrupt(
            path.to_owned(),
            "a directory, not a dictionary",
        ));
    }
    if !meta.is_file() {
        return Err(DictError::Corrupt(path.to_owned(), "not a regular file"));
    }
    Ok(file)
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at + 4)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packed_in(dir: &Path, words: &[&str]) -> PathBuf {
        let prefix = dir.join("dict");
        let list = SortedWords::from_text(&words.join("\n"));
        write_packed(&prefix, &pack(list.iter())).unwrap();
        prefix
    }

    #[test]
    fn packed_round_trip_finds_every_word_and_nothing_else() {
        let dir = tempdir();
        let words: Vec<String> = (0..1000).map(|i| format!("word{i:04}x")).collect();
        let refs: Vec<&str> = words.iter().map(String::as_str).collect();
        let prefix = packed_in(&dir, &refs);
        let d = PackedDict::open(&prefix).unwrap();
        assert_eq!(d.len(), 1000);
        for w in &words {
            assert!(d.contains(w), "{w}");
        }
        for w in [
            "",
            "a",
            "word",
            "word0000",
            "word0999xx",
            "zzzz",
            "word0500y",
        ] {
            assert!(!d.contains(w), "{w}");
        }
    }

    #[test]
    fn the_system_dictionary_is_read_in_place_when_present() {
        let Ok(d) = PackedDict::open(Path::new(DEFAULT_DICT)) else {
            return; // no cracklib-runtime here; the harness tests cover it
        };
        assert!(d.contains("password") && d.contains("qwerty123"));
        assert!(!d.contains("xk9mq2vl"));
    }

    #[test]
    fn corrupt_and_missing_dictionaries_are_errors() {
        let dir = tempdir();
        let prefix = dir.join("bad");
        std::fs::write(with_suffix(&prefix, ".pwd"), b"password\0").unwrap();
        std::fs::write(with_suffix(&prefix, ".pwi"), b"garbage here").unwrap();
        assert!(matches!(
            Dictionary::open(&prefix),
            Err(DictError::Corrupt(..))
        ));
        // A truncated index (valid header, missing offsets).
        let good = packed_in(&dir, &["alpha", "bravo", "charlie"]);
        let pwi = std::fs::read(with_suffix(&good, ".pwi")).unwrap();
        std::fs::write(with_suffix(&prefix, ".pwi"), &pwi[..HEADER_LEN]).unwrap();
        assert!(matches!(
            Dictionary::open(&prefix),
            Err(DictError::Corrupt(..))
        ));
        assert!(matches!(
            Dictionary::open(&dir.join("nothing")),
            Err(DictError::Missing(_))
        ));
        let (d, why) = Dictionary::open_or_builtin(Some(dir.join("nothing").to_str().unwrap()));
        assert!(matches!(d, Dictionary::Builtin(_)) && why.is_some());
        assert!(d.contains("password"));
        let (d, why) = open_shared(Some(dir.join("nothing").to_str().unwrap()));
        assert!(matches!(*d, Dictionary::Builtin(_)) && why.is_some());
    }

    #[test]
    fn a_shared_dictionary_is_reopened_when_its_files_change() {
        let dir = tempdir();
        let prefix = packed_in(&dir, &["alpha", "bravo"]);
        let p = prefix.to_str().unwrap();
        let (a, _) = open_shared(Some(p));
        let (b, _) = open_shared(Some(p));
        assert!(Arc::ptr_eq(&a, &b), "unchanged files: the same mapping");
        assert!(a.contains("alpha") && !a.contains("charlie"));
        packed_in(&dir, &["alpha", "bravo", "charlie"]);
        let (c, _) = open_shared(Some(p));
        assert!(!Arc::ptr_eq(&a, &c) && c.contains("charlie"));
        // The old mapping still reads its (replaced, still open) files.
        assert!(a.contains("bravo"));
    }

    #[test]
    fn a_dictionary_rewritten_after_opening_keeps_answering_from_its_copy() {
        let dir = tempdir();
        let prefix = packed_in(&dir, &["alpha", "bravo", "charlie"]);
        let d = PackedDict::open(&prefix).unwrap();
        // In place, same inode: truncated, then garbage.
        std::fs::write(with_suffix(&prefix, ".pwd"), b"").unwrap();
        std::fs::write(with_suffix(&prefix, ".pwi"), b"xx").unwrap();
        assert!(d.contains("bravo") && !d.contains("delta"));
        assert!(matches!(
            Dictionary::open(&prefix),
            Err(DictError::Corrupt(..))
        ));
    }

    #[test]
    fn gzip_dictionaries_are_read_and_broken_ones_refused() {
        use std::io::Write;
        let dir = tempdir();
        let prefix = packed_in(&dir, &["alpha", "bravo", "charlie"]);
        let pwd = with_suffix(&prefix, ".pwd");
        let raw = std::fs::read(&pwd).unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&raw).unwrap();
        let gz = gz.finish().unwrap();
        std::fs::remove_file(&pwd).unwrap();
        std::fs::write(with_suffix(&prefix, ".pwd.gz"), &gz).unwrap();
        let d = Dictionary::open(&prefix).unwrap();
        assert!(d.contains("charlie") && !d.contains("delta"));
        // Truncated and garbage archives are corrupt dictionaries, not crashes.
        for bytes in [&gz[..gz.len() / 2], b"\x1f\x8bnot gzip at all".as_slice()] {
            std::fs::write(with_suffix(&prefix, ".pwd.gz"), bytes).unwrap();
            assert!(
                matches!(Dictionary::open(&prefix), Err(DictError::Corrupt(..))),
                "{bytes:?}"
            );
        }
    }

    #[test]
    fn plain_word_lists_are_normalised_like_cracklib_format() {
        let dir = tempdir();
        let path = dir.join("list.txt");
        std::fs::write(&path, "# comment\nHello-World\n\nZebra\n").unwrap();
        let d = Dictionary::open(&path).unwrap();
        assert!(d.contains("helloworld") && d.contains("zebra"));
        assert!(!d.contains("comment"));
    }

    #[test]
    fn the_builtin_list_is_sorted_normalised_and_compact() {
        let b = builtin();
        assert!(b.len() > 10_000 && BUILTIN_WORDS.len() < 150_000);
        assert!(b.contains("password") && b.contains("dragon") && !b.contains("xk9mq2vl"));
        assert_eq!(
            b.len(),
            BUILTIN_WORDS.lines().count(),
            "already sorted and unique"
        );
    }

    fn tempdir() -> PathBuf {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "pam-policy-dict-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
