//! No copy of a secret is left in freed heap memory: an allocator that
//! looks into every block as it is freed (or moved by a reallocation) for
//! the secret's bytes, its base32 text and the scratch codes, while the
//! module's own code reads, decides, encodes and drops an enrollment.

#![allow(clippy::unwrap_used, clippy::panic, unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Mutex;

use pam_totp::decision::{self, Attempt, Candidate, Rules};
use pam_totp::enrollment::{Enrollment, GraceHost, Kind, NewEnrollment, ScratchCode};
use pam_totp::otp;

const SECRET: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
const SCRATCH: [u32; 2] = [48213977, 73560124];

thread_local! {
    /// Whether this thread's frees are looked into: only the watched test's
    /// own thread, so the test runner's other threads neither add findings
    /// nor contend for the locks below. Const-initialised: reading it never allocates.
    static ARMED: Cell<bool> = const { Cell::new(false) };
}
/// What was found in freed memory (a description; empty when clean).
static FOUND: Mutex<Vec<String>> = Mutex::new(Vec::new());
/// The needles; filled before arming.
static NEEDLES: Mutex<Vec<(String, Vec<u8>)>> = Mutex::new(Vec::new());

struct Checking;

fn inspect(ptr: *mut u8, size: usize) {
    if !ARMED.with(Cell::get) {
        return;
    }
    // What we allocate while looking is not looked into: disarm, look, re-arm.
    ARMED.with(|a| a.set(false));
    // SAFETY: the allocator is handing back this block of `size` bytes,
    // which is still ours to read until it is passed to System.
    let block = unsafe { std::slice::from_raw_parts(ptr, size) };
    if let (Ok(needles), Ok(mut found)) = (NEEDLES.lock(), FOUND.lock()) {
        for (what, needle) in needles.iter() {
            if !needle.is_empty() && block.windows(needle.len()).any(|w| w == &needle[..]) {
                found.push(format!("{what} in a freed block of {size} bytes"));
            }
        }
    }
    ARMED.with(|a| a.set(true));
}

// SAFETY: every call is passed on to the System allocator unchanged; freed
// and moved blocks are only read before they are handed back.
unsafe impl GlobalAlloc for Checking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        inspect(ptr, layout.size());
        // SAFETY: forwarded with the caller's pointer and layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // Always move, so the old block is inspected as it is freed: a
        // growing buffer leaves its old contents behind.
        // SAFETY: `new_size` is non-zero and, rounded to `layout.align()`,
        // does not overflow (the caller's contract for realloc).
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: a valid, non-zero-sized layout.
        let new = unsafe { System.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: both blocks are valid for the smaller size and distinct.
            unsafe { std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size)) };
            // SAFETY: `ptr` was allocated with `layout` and is no longer used.
            unsafe { self.dealloc(ptr, layout) };
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Checking = Checking;

fn needles() -> Vec<(String, Vec<u8>)> {
    let key = otp::decode_base32(SECRET).unwrap();
    let mut v = vec![
        ("the key".to_owned(), key.as_bytes().to_vec()),
        ("the base32 secret".to_owned(), SECRET.as_bytes().to_vec()),
    ];
    for c in SCRATCH {
        v.push((format!("scratch code {c}"), c.to_string().into_bytes()));
    }
    v
}

/// One watched test at a time (the needles and findings are shared).
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `work` on this thread with the allocator watching its frees, and
/// returns what it found; call with [`serial`] held.
fn watched(work: impl FnOnce()) -> Vec<String> {
    *NEEDLES.lock().unwrap() = needles();
    FOUND.lock().unwrap().clear();
    ARMED.with(|a| a.set(true));
    work();
    ARMED.with(|a| a.set(false));
    std::mem::take(&mut *FOUND.lock().unwrap())
}

#[test]
fn the_allocator_does_find_an_unwiped_copy() {
    let _one = serial();
    let found = watched(|| {
        let copy = format!("{SECRET}\n");
        drop(copy);
    });
    assert!(!found.is_empty(), "the check cannot fail");
}

#[test]
fn reading_deciding_encoding_and_dropping_leave_no_copy() {
    let _one = serial();
    let text = format!(
        "{SECRET}\n\" RATE_LIMIT 3 30 100\n\" DISALLOW_REUSE\n\" TOTP_AUTH\n{}\n{}\n",
        SCRATCH[0], SCRATCH[1]
    );
    let bytes = zeroize::Zeroizing::new(text.into_bytes());
    let host = GraceHost::parse("192.0.2.7").unwrap();
    let found = watched(|| {
        let e = Enrollment::parse(&bytes).unwrap();
        for (code, now) in [
            (SCRATCH[0], 1_000_000u64),
            (123_456, 1_000_030),
            (SCRATCH[1], 1_000_060),
        ] {
            let digits = if code >= 1_000_000 { 8 } else { 6 };
            let c = [Candidate {
                code,
                digits,
                prefix_len: 0,
            }];
            let a = Attempt {
                candidates: &c,
                rules: Rules {
                    skew_learning: true,
                    advance_hotp_on_failure: true,
                    grace_period: 60,
                    minimums: pam_totp::minimums::Minimums::NONE,
                },
                host: Some(&host),
                last: true,
                hotp_tried: false,
            };
            let (_, next) = decision::decide(&e, &a, now).unwrap();
            drop(next.encode());
            drop(next);
        }
        drop(e);
    });
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn a_new_enrollment_and_new_scratch_codes_leave_no_copy() {
    let _one = serial();
    let key = otp::decode_base32(SECRET).unwrap();
    let codes: Vec<ScratchCode> = SCRATCH
        .iter()
        .map(|&c| ScratchCode::new(c).unwrap())
        .collect();
    let found = watched(|| {
        let settings = NewEnrollment {
            kind: Kind::Totp,
            step: None,
            window: 3,
            disallow_reuse: Some(vec![]),
            rate_limit: Some((3, 30)),
        };
        let mut e = Enrollment::new(key.clone(), &settings, &codes).unwrap();
        drop(e.encode());
        e.replace_scratch_codes(&codes).unwrap();
        drop(e.encode());
        drop(e);
    });
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn the_file_store_leaves_no_copy() {
    let _one = serial();
    use pam_totp::store::{self, FileStore, Store, Target};
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let me = store::account_by_uid(store::effective_uid())
        .unwrap()
        .unwrap();
    let path = dir.path().join("secret");
    std::fs::write(
        &path,
        format!(
            "{SECRET}\n\" DISALLOW_REUSE\n\" TOTP_AUTH\n{}\n{}\n",
            SCRATCH[0], SCRATCH[1]
        ),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let template = path.display().to_string();
    let target = Target::new(me.clone(), me, &template, true, 0o600).unwrap();
    let found = watched(|| {
        let fs = FileStore::default();
        let _ = fs.before_prompt(&target, None, 0, 1_000_000).unwrap();
        let c = [Candidate {
            code: SCRATCH[0],
            digits: 8,
            prefix_len: 0,
        }];
        let a = Attempt {
            candidates: &c,
            rules: Rules {
                skew_learning: true,
                advance_hotp_on_failure: true,
                grace_period: 0,
                minimums: pam_totp::minimums::Minimums::NONE,
            },
            host: None,
            last: true,
            hotp_tried: false,
        };
        let decided = fs.attempt(&target, &a, 1_000_000).unwrap();
        assert!(decided.unsaved.is_none());
        drop(fs);
    });
    assert!(found.is_empty(), "{found:#?}");
    assert!(
        !std::fs::read_to_string(&path)
            .unwrap()
            .contains(&SCRATCH[0].to_string())
    );
}
