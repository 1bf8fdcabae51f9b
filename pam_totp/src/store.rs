//! The store: where enrollments live and the transactions on them, behind
//! the [`Store`] trait that the PAM shell talks to, so that another backend
//! can take the secret file's place without the shell or the core knowing.
//!
//! [`FileStore`], the secret file: finding, opening, locking, reading and
//! atomically replacing it, as the user who owns it. Every file-system rule
//! lives here.
//!
//! - File work is done with the file system identity (fsuid/fsgid) of the
//!   account the file belongs to, never as root; the previous identity is
//!   restored afterwards (`AsUser`).
//! - The file is opened with `O_NOFOLLOW` after `lstat` says it is a regular
//!   file, so a symlink, FIFO, device or directory is refused without being
//!   opened; then owner, permission bits and size are checked.
//! - A transaction ([`FileStore::update`]) first decides on a read without a
//!   lock; a decision that changes nothing ends there. One that changes the
//!   file is taken again on a fresh read under an exclusive `flock` held from
//!   read to write. The lock is on the file itself; since a write replaces the
//!   file, a waiter that wakes up on a replaced file notices (the path no
//!   longer names its inode) and retries. The wait is bounded
//!   ([`LOCK_WAIT`]): a lock someone holds on purpose makes the login fail
//!   as unavailable, not hang.
//! - A write goes to an anonymous `O_TMPFILE` in the same directory, is
//!   synced, given the old file's mode and owner, linked in under a fixed
//!   temporary name only at the last moment and renamed over the file; then
//!   the directory is synced. A kill leaves the old or the new file, and at
//!   most the linked temporary name, which the next write removes.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{AT_FDCWD, AtFlags, OFlag, openat, renameat};
use nix::sys::stat::{FileStat, Mode, SFlag, fchmod, fstat, fstatat};
use nix::unistd::{Gid, Uid, UnlinkatFlags, fchown, fsync, linkat, unlinkat};

use zeroize::Zeroizing;

use crate::decision::{self, Attempt, Gate, Outcome};
use crate::enrollment::{Enrollment, FormatError, GraceHost, MAX_FILE_SIZE};

/// How long a transaction waits for another one's lock on the same file.
pub const LOCK_WAIT: Duration = Duration::from_secs(3);

/// A local account, as the passwd database has it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: PathBuf,
}

/// Why the store could not do what was asked. Each names the path involved.
#[derive(Debug)]
pub enum StoreError {
    /// The file does not exist (the user is not enrolled).
    NotFound(PathBuf),
    /// The directory that should hold the file does not exist.
    NoDirectory(PathBuf),
    Symlink(PathBuf),
    NotRegular(PathBuf),
    Permissions {
        path: PathBuf,
        mode: u32,
        allowed: u32,
    },
    Owner {
        path: PathBuf,
        uid: u32,
        expected: u32,
    },
    TooLarge(PathBuf),
    BadPath(String),
    /// The file's contents are not a valid secret file.
    Malformed(FormatError),
    /// Another process held the file's lock for longer than [`LOCK_WAIT`].
    Busy(PathBuf),
    /// The fs identity of the account could not be taken or given back.
    Identity(String),
    Io {
        op: &'static str,
        path: PathBuf,
        errno: Errno,
    },
    /// A remote store did not answer (unreachable, refused, too slow).
    Unavailable(String),
    /// A remote store has no enrollment for the user (says where it looked).
    NotEnrolled(String),
}

impl StoreError {
    /// The errno behind an I/O failure, for the user-facing message.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            StoreError::Io { errno, .. } => Some(*errno),
            _ => None,
        }
    }

    /// Whether `create_new` failed because the file already exists.
    pub fn already_exists(&self) -> bool {
        self.errno() == Some(Errno::EEXIST)
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::NotFound(p) => write!(f, "\"{}\" does not exist", p.display()),
            StoreError::Unavailable(why) | StoreError::NotEnrolled(why) => f.write_str(why),
            StoreError::NoDirectory(p) => {
                write!(f, "directory of \"{}\" does not exist", p.display())
            }
            StoreError::Symlink(p) => write!(f, "\"{}\" is a symbolic link", p.display()),
            StoreError::NotRegular(p) => write!(f, "\"{}\" is not a regular file", p.display()),
            StoreError::Permissions {
                path,
                mode,
                allowed,
            } => write!(
                f,
                "\"{}\" has mode {mode:04o}, more than the allowed {allowed:04o}",
                path.display()
            ),
            StoreError::Owner {
                path,
                uid,
                expected,
            } => write!(
                f,
                "\"{}\" is owned by uid {uid}, not {expected}",
                path.display()
            ),
            StoreError::TooLarge(p) => write!(
                f,
                "\"{}\" is larger than {MAX_FILE_SIZE} bytes",
                p.display()
            ),
            StoreError::BadPath(s) => write!(f, "bad secret path: {s}"),
            StoreError::Malformed(e) => write!(f, "malformed secret file: {e}"),
            StoreError::Busy(p) => write!(
                f,
                "\"{}\" is locked by another process (waited {} s)",
                p.display(),
                LOCK_WAIT.as_secs()
            ),
            StoreError::Identity(s) => write!(f, "{s}"),
            StoreError::Io { op, path, errno } => {
                write!(f, "{op} \"{}\": {}", path.display(), errno.desc())
            }
        }
    }
}

impl std::error::Error for StoreError {}

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(Errno) -> StoreError + 'a {
    move |errno| StoreError::Io {
        op,
        path: path.to_path_buf(),
        errno,
    }
}

/// Looks up an account by name; `Ok(None)` when there is none.
pub fn account_by_name(name: &str) -> Result<Option<Account>, StoreError> {
    let user = nix::unistd::User::from_name(name)
        .map_err(|e| StoreError::Identity(format!("looking up user \"{name}\": {}", e.desc())))?;
    Ok(user.map(from_nix))
}

/// The process's effective uid.
pub fn effective_uid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

/// Looks up an account by uid; `Ok(None)` when there is none.
pub fn account_by_uid(uid: u32) -> Result<Option<Account>, StoreError> {
    let user = nix::unistd::User::from_uid(Uid::from_raw(uid))
        .map_err(|e| StoreError::Identity(format!("looking up uid {uid}: {}", e.desc())))?;
    Ok(user.map(from_nix))
}

fn from_nix(u: nix::unistd::User) -> Account {
    Account {
        name: u.name,
        uid: u.uid.as_raw(),
        gid: u.gid.as_raw(),
        home: u.dir,
    }
}

/// Expands a `secret=` template: `~` (at the start or right after `/`) and
/// `${HOME}` become the home directory, `${USER}` the user name. The result
/// must be absolute, and a user name cannot smuggle in a path.
pub fn expand_secret_path(
    template: &str,
    user: &str,
    home: Option<&Path>,
) -> Result<PathBuf, StoreError> {
    if user.is_empty() || user.contains('/') || user == "." || user == ".." {
        return Err(StoreError::BadPath(format!("unsafe user name \"{user}\"")));
    }
    let home_text = || -> Result<String, StoreError> {
        let h = home.ok_or_else(|| StoreError::BadPath("no home directory".into()))?;
        if !h.is_absolute() {
            return Err(StoreError::BadPath(format!(
                "home directory \"{}\" is not absolute",
                h.display()
            )));
        }
        Ok(h.to_string_lossy().trim_end_matches('/').to_owned())
    };
    let mut out = String::new();
    let mut rest = template;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("${HOME}") {
            out.push_str(&home_text()?);
            rest = r;
        } else if let Some(r) = rest.strip_prefix("${USER}") {
            out.push_str(user);
            rest = r;
        } else if rest.starts_with('~') && (out.is_empty() || out.ends_with('/')) {
            out.push_str(&home_text()?);
            rest = &rest[1..];
        } else {
            let c = rest.chars().next().unwrap_or_default();
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    let path = PathBuf::from(out);
    if !path.is_absolute() || path.file_name().is_none() {
        return Err(StoreError::BadPath(format!(
            "\"{}\" is not an absolute file path",
            path.display()
        )));
    }
    Ok(path)
}

/// The process's file system identity switched to an account for as long as
/// this value lives (Linux fsuid/fsgid, which only file access uses).
/// Without root, only one's own identity can be taken.
pub struct AsUser {
    previous: Option<(Uid, Gid)>,
}

impl AsUser {
    pub fn take(uid: u32, gid: u32) -> Result<AsUser, StoreError> {
        let euid = nix::unistd::geteuid();
        if !euid.is_root() {
            if euid.as_raw() == uid {
                return Ok(AsUser { previous: None });
            }
            return Err(StoreError::Identity(format!(
                "cannot act as uid {uid} without root (running as uid {euid})"
            )));
        }
        let old_gid = nix::unistd::setfsgid(Gid::from_raw(gid));
        let old_uid = nix::unistd::setfsuid(Uid::from_raw(uid));
        let guard = AsUser {
            previous: Some((old_uid, old_gid)),
        };
        // setfsuid reports only the previous value: ask again to confirm.
        let now_uid = nix::unistd::setfsuid(Uid::from_raw(uid));
        let now_gid = nix::unistd::setfsgid(Gid::from_raw(gid));
        if now_uid.as_raw() != uid || now_gid.as_raw() != gid {
            return Err(StoreError::Identity(format!(
                "could not switch file access to uid {uid} gid {gid}"
            )));
        }
        Ok(guard)
    }
}

impl Drop for AsUser {
    fn drop(&mut self) {
        if let Some((uid, gid)) = self.previous.take() {
            nix::unistd::setfsuid(uid);
            nix::unistd::setfsgid(gid);
        }
    }
}

/// What a secret file must satisfy.
#[derive(Clone, Copy, Debug)]
pub struct Rules {
    pub owner: u32,
    pub check_owner: bool,
    /// Permission bits (of 07777) the file may have.
    pub allowed_perm: u32,
}

/// A secret file, open and exclusively locked, with what it held when read.
pub struct Locked {
    path: PathBuf,
    dir: OwnedFd,
    name: OsString,
    /// Holds the flock until this value is dropped.
    _lock: File,
    stat: FileStat,
    pub contents: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for Locked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Locked({})", self.path.display())
    }
}

/// The fixed name a new version is linked under just before it replaces the file.
fn temp_name(name: &OsStr) -> OsString {
    let mut t = OsString::from(".");
    t.push(name);
    t.push(".pam_totp-new");
    t
}

fn split(path: &Path) -> Result<(&Path, &OsStr), StoreError> {
    match (path.parent(), path.file_name()) {
        (Some(dir), Some(name)) if !dir.as_os_str().is_empty() => Ok((dir, name)),
        _ => Err(StoreError::BadPath(format!(
            "\"{}\" has no directory part",
            path.display()
        ))),
    }
}

fn open_dir(dir: &Path, file: &Path) -> Result<OwnedFd, StoreError> {
    openat(
        AT_FDCWD,
        dir,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| match e {
        Errno::ENOENT | Errno::ENOTDIR => StoreError::NoDirectory(file.to_path_buf()),
        e => io("opening the directory of", file)(e),
    })
}

fn is_kind(stat: &FileStat, kind: SFlag) -> bool {
    SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT == kind
}

/// Opens, locks (waiting at most `wait`), checks and reads the secret file
/// at `path`, for a read-modify-write.
fn open_locked(path: &Path, rules: &Rules, wait: Duration) -> Result<Locked, StoreError> {
    open_checked(path, rules, Some(wait))
}

/// Checks and reads the secret file at `path` without locking it.
fn read(path: &Path, rules: &Rules) -> Result<Zeroizing<Vec<u8>>, StoreError> {
    open_checked(path, rules, None).map(|l| l.contents)
}

/// Takes the flock on `file`, polling until `wait` has passed.
fn lock_within(file: &File, path: &Path, wait: Duration) -> Result<(), StoreError> {
    let deadline = Instant::now() + wait;
    let mut pause = Duration::from_millis(2);
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(()),
            Err(std::fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(pause.min(deadline.saturating_duration_since(Instant::now())));
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(StoreError::Busy(path.to_path_buf()));
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(StoreError::Io {
                    op: "locking",
                    path: path.to_path_buf(),
                    errno: Errno::from_raw(e.raw_os_error().unwrap_or(0)),
                });
            }
        }
    }
}

fn open_checked(path: &Path, rules: &Rules, lock: Option<Duration>) -> Result<Locked, StoreError> {
    let (dir_path, name) = split(path)?;
    let dir = open_dir(dir_path, path)?;
    let mut attempts = 0;
    let (file, stat) = loop {
        attempts += 1;
        // Look before opening: never open a FIFO, device or symlink.
        let seen = fstatat(&dir, name, AtFlags::AT_SYMLINK_NOFOLLOW).map_err(|e| match e {
            Errno::ENOENT => StoreError::NotFound(path.to_path_buf()),
            e => io("examining", path)(e),
        })?;
        if is_kind(&seen, SFlag::S_IFLNK) {
            return Err(StoreError::Symlink(path.to_path_buf()));
        }
        if !is_kind(&seen, SFlag::S_IFREG) {
            return Err(StoreError::NotRegular(path.to_path_buf()));
        }
        let fd = openat(
            &dir,
            name,
            OFlag::O_RDONLY
                | OFlag::O_NOFOLLOW
                | OFlag::O_NONBLOCK
                | OFlag::O_NOCTTY
                | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| match e {
            Errno::ELOOP => StoreError::Symlink(path.to_path_buf()),
            Errno::ENOENT => StoreError::NotFound(path.to_path_buf()),
            e => io("opening", path)(e),
        })?;
        let stat = fstat(&fd).map_err(io("examining", path))?;
        if !is_kind(&stat, SFlag::S_IFREG) {
            return Err(StoreError::NotRegular(path.to_path_buf()));
        }
        let file = File::from(fd);
        let Some(wait) = lock else {
            break (file, stat);
        };
        lock_within(&file, path, wait)?;
        // While we waited, the file may have been replaced: then lock the new one.
        match fstatat(&dir, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(now) if now.st_ino == stat.st_ino && now.st_dev == stat.st_dev => {
                break (file, stat);
            }
            Ok(_) | Err(Errno::ENOENT) if attempts < 100 => continue,
            Ok(_) => {
                return Err(StoreError::Identity(format!(
                    "\"{}\" keeps being replaced",
                    path.display()
                )));
            }
            Err(e) => return Err(io("examining", path)(e)),
        }
    };

    let mode = stat.st_mode & 0o7777;
    if mode & !rules.allowed_perm != 0 {
        return Err(StoreError::Permissions {
            path: path.to_path_buf(),
            mode,
            allowed: rules.allowed_perm,
        });
    }
    if rules.check_owner && stat.st_uid != rules.owner {
        return Err(StoreError::Owner {
            path: path.to_path_buf(),
            uid: stat.st_uid,
            expected: rules.owner,
        });
    }
    if stat.st_size > MAX_FILE_SIZE as i64 {
        return Err(StoreError::TooLarge(path.to_path_buf()));
    }
    // Room for the file as stat saw it and one byte more, reserved before
    // reading: the buffer never grows, so no reallocation leaves an unwiped
    // copy of the secret behind. A file that grew meanwhile is read again
    // into room for the largest file (the first buffer is wiped).
    let mut room = usize::try_from(stat.st_size)
        .unwrap_or(MAX_FILE_SIZE)
        .min(MAX_FILE_SIZE)
        + 1;
    let (mut contents, len) = loop {
        let mut buf = Zeroizing::new(vec![0u8; room]);
        let mut len = 0;
        while len < buf.len() {
            match std::os::unix::fs::FileExt::read_at(&file, &mut buf[len..], len as u64) {
                Ok(0) => break,
                Ok(n) => len += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(StoreError::Io {
                        op: "reading",
                        path: path.to_path_buf(),
                        errno: Errno::from_raw(e.raw_os_error().unwrap_or(0)),
                    });
                }
            }
        }
        if len == room && room <= MAX_FILE_SIZE {
            room = MAX_FILE_SIZE + 1;
            continue;
        }
        break (buf, len);
    };
    if len > MAX_FILE_SIZE {
        return Err(StoreError::TooLarge(path.to_path_buf()));
    }
    contents.truncate(len);
    Ok(Locked {
        path: path.to_path_buf(),
        dir,
        name: name.to_os_string(),
        _lock: file,
        stat,
        contents,
    })
}

impl Locked {
    /// Replaces the file with `contents`, keeping its mode and owner, so that
    /// a crash at any instant leaves either the old or the new file. The
    /// temporary name a killed write may have left is removed first: we hold
    /// the lock, so no other write is under way.
    pub fn replace(&self, contents: &[u8]) -> Result<(), StoreError> {
        let (path, tmp) = (&self.path, temp_name(&self.name));
        let _ = unlinkat(&self.dir, tmp.as_os_str(), UnlinkatFlags::NoRemoveDir);
        let result = Draft::start(&self.dir, &tmp, path).and_then(|mut draft| {
            draft.fill(
                contents,
                self.stat.st_mode & 0o7777,
                Some((self.stat.st_uid, self.stat.st_gid)),
                path,
            )?;
            if !draft.named {
                draft.link(&self.dir, &tmp, &tmp, path)?;
            }
            renameat(&self.dir, tmp.as_os_str(), &self.dir, self.name.as_os_str())
                .map_err(io("replacing", path))
        });
        if result.is_err() {
            let _ = unlinkat(&self.dir, tmp.as_os_str(), UnlinkatFlags::NoRemoveDir);
        }
        result?;
        fsync(&self.dir).map_err(io("syncing the directory of", path))
    }
}

/// A new version of a file, being written in its directory: an anonymous
/// `O_TMPFILE` where the file system has them, else a file under the
/// temporary name.
struct Draft {
    file: File,
    named: bool,
}

impl Draft {
    fn start(dir: &OwnedFd, tmp: &OsStr, path: &Path) -> Result<Draft, StoreError> {
        let mode = Mode::from_bits_truncate(0o600);
        let flags = OFlag::O_WRONLY | OFlag::O_CLOEXEC;
        match openat(dir, ".", flags | OFlag::O_TMPFILE, mode) {
            Ok(fd) => Ok(Draft {
                file: File::from(fd),
                named: false,
            }),
            Err(Errno::EOPNOTSUPP | Errno::EISDIR | Errno::EINVAL) => {
                let named = flags | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW;
                let fd = openat(dir, tmp, named, mode)
                    .map_err(io("creating a temporary file beside", path))?;
                Ok(Draft {
                    file: File::from(fd),
                    named: true,
                })
            }
            Err(e) => Err(io("creating a temporary file beside", path)(e)),
        }
    }

    /// Writes `contents`, sets `mode` and (when it differs) the owner, and syncs.
    fn fill(
        &mut self,
        contents: &[u8],
        mode: u32,
        owner: Option<(u32, u32)>,
        path: &Path,
    ) -> Result<(), StoreError> {
        self.file.write_all(contents).map_err(|e| StoreError::Io {
            op: "writing a new version of",
            path: path.to_path_buf(),
            errno: Errno::from_raw(e.raw_os_error().unwrap_or(0)),
        })?;
        let fd = self.file.as_fd();
        fchmod(fd, Mode::from_bits_truncate(mode))
            .map_err(io("setting the mode of a new version of", path))?;
        if let Some((uid, gid)) = owner {
            let now = fstat(fd).map_err(io("examining a new version of", path))?;
            if now.st_uid != uid || now.st_gid != gid {
                fchown(fd, Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)))
                    .map_err(io("keeping the owner of", path))?;
            }
        }
        fsync(fd).map_err(io("syncing a new version of", path))
    }

    /// Gives the draft the name `to` in `dir`; never replaces an existing
    /// name (EEXIST). A named draft is linked from `tmp`.
    fn link(&self, dir: &OwnedFd, tmp: &OsStr, to: &OsStr, path: &Path) -> Result<(), StoreError> {
        let linked = if self.named {
            linkat(dir, tmp, dir, to, AtFlags::empty())
        } else {
            let proc_path = format!("/proc/self/fd/{}", self.file.as_raw_fd());
            linkat(
                AT_FDCWD,
                proc_path.as_str(),
                dir,
                to,
                AtFlags::AT_SYMLINK_FOLLOW,
            )
        };
        linked.map_err(io("linking a new version of", path))
    }
}

/// Creates a new secret file at `path` that must not exist yet, mode 0600,
/// owned by the current fs identity. Appears whole or not at all, and never
/// replaces a file (`already_exists()` then).
pub fn create_new(path: &Path, contents: &[u8]) -> Result<(), StoreError> {
    let (dir_path, name) = split(path)?;
    let dir = open_dir(dir_path, path)?;
    let tmp = temp_name(name);
    let mut draft = Draft::start(&dir, &tmp, path)?;
    let result = draft
        .fill(contents, 0o600, None, path)
        .and_then(|()| draft.link(&dir, &tmp, name, path));
    if draft.named {
        let _ = unlinkat(&dir, tmp.as_os_str(), UnlinkatFlags::NoRemoveDir);
    }
    result?;
    fsync(&dir).map_err(io("syncing the directory of", path))
}

/// Removes the secret file at `path` under its lock, so no transaction is
/// half-way through it, and syncs the directory.
fn remove_locked(path: &Path, rules: &Rules, wait: Duration) -> Result<(), StoreError> {
    let locked = open_locked(path, rules, wait)?;
    unlinkat(
        &locked.dir,
        locked.name.as_os_str(),
        UnlinkatFlags::NoRemoveDir,
    )
    .map_err(io("removing", path))?;
    fsync(&locked.dir).map_err(io("syncing the directory of", path))
}

/// Whose enrollment, where it is, and as whom and under which rules it is
/// read and written.
#[derive(Clone, Debug)]
pub struct Target {
    /// The account logging in (its passwd name is the one `${USER}` stands for).
    pub user: Account,
    /// The account whose file-system identity reads and writes the file (`user=`).
    pub owner: Account,
    pub path: PathBuf,
    pub rules: Rules,
}

impl Target {
    /// The secret file of `user` per a `secret=` template, owned by `owner`.
    pub fn new(
        user: Account,
        owner: Account,
        template: &str,
        check_owner: bool,
        allowed_perm: u32,
    ) -> Result<Target, StoreError> {
        let path = expand_secret_path(template, &user.name, Some(&user.home))?;
        let rules = Rules {
            owner: owner.uid,
            check_owner,
            allowed_perm,
        };
        Ok(Target {
            user,
            owner,
            path,
            rules,
        })
    }
}

/// What a login asks of a store: the gate before the prompt, and one
/// attempt decided and recorded in one transaction. `Err(NotFound)` means
/// the user is not enrolled.
pub trait Store {
    fn before_prompt(
        &self,
        target: &Target,
        host: Option<&GraceHost>,
        grace_period: u64,
        now: u64,
    ) -> Result<Gate, StoreError>;

    fn attempt(
        &self,
        target: &Target,
        attempt: &Attempt<'_>,
        now: u64,
    ) -> Result<Decided, StoreError>;
}

/// What totp-enroll (and an admin) asks of a store: whole enrollments
/// created, replaced and removed, each atomically and under the store's rules.
pub trait Enrollments {
    /// Saves a new enrollment where there is none (`already_exists()` otherwise).
    fn create(&self, target: &Target, e: &Enrollment) -> Result<(), StoreError>;
    /// Replaces an existing enrollment with what `change` makes of it.
    fn replace(
        &self,
        target: &Target,
        change: impl FnOnce(&Enrollment) -> Result<Enrollment, StoreError>,
    ) -> Result<(), StoreError>;
    /// Replaces whatever is there (valid or not) with `e`.
    fn overwrite(&self, target: &Target, e: &Enrollment) -> Result<(), StoreError>;
    /// Removes the enrollment.
    fn remove(&self, target: &Target) -> Result<(), StoreError>;
}

/// The outcome of an attempt, and why its change could not be saved, if it could not.
#[derive(Debug)]
pub struct Decided {
    pub outcome: Outcome,
    pub unsaved: Option<StoreError>,
}

/// The pam_google_authenticator secret file.
#[derive(Debug)]
pub struct FileStore {
    pub lock_wait: Duration,
    /// What [`Store::before_prompt`] read, for the unlocked first decision
    /// of the attempt that follows (one read per login when nothing is
    /// written, as in pam_google_authenticator; a decision that writes is
    /// always taken again on a fresh read under the lock).
    seen: std::cell::RefCell<Option<(PathBuf, Enrollment)>>,
}

impl Default for FileStore {
    fn default() -> Self {
        Self {
            lock_wait: LOCK_WAIT,
            seen: std::cell::RefCell::new(None),
        }
    }
}

fn parse(bytes: &[u8]) -> Result<Enrollment, StoreError> {
    Enrollment::parse(bytes).map_err(StoreError::Malformed)
}

impl FileStore {
    /// The enrollment as it is now, read without a lock.
    pub fn load(&self, t: &Target) -> Result<Enrollment, StoreError> {
        let _identity = AsUser::take(t.owner.uid, t.owner.gid)?;
        parse(&read(&t.path, &t.rules)?)
    }

    /// Whether the file is there and passes the rules (owner, mode, kind,
    /// size), without parsing it; `Err(NotFound)` when there is none.
    pub fn examine(&self, t: &Target) -> Result<(), StoreError> {
        let _identity = AsUser::take(t.owner.uid, t.owner.gid)?;
        read(&t.path, &t.rules).map(drop)
    }

    /// One transaction: `decide` on the enrollment (as read before the
    /// prompt, else read now without a lock); if its result differs,
    /// lock, read again, decide again, replace atomically, unlock. Returns
    /// what the (last) decision said and why its change was not saved, if
    /// saving failed (the decision stands; the caller chooses what that means).
    pub fn update<T>(
        &self,
        t: &Target,
        mut decide: impl FnMut(&Enrollment) -> Result<(T, Enrollment), StoreError>,
    ) -> Result<(T, Option<StoreError>), StoreError> {
        let seen = self.seen.borrow_mut().take().filter(|(p, _)| *p == t.path);
        let before = match seen {
            Some((_, e)) => e,
            None => {
                let _identity = AsUser::take(t.owner.uid, t.owner.gid)?;
                parse(&read(&t.path, &t.rules)?)?
            }
        };
        let (result, after) = decide(&before)?;
        if after == before {
            return Ok((result, None));
        }
        let _identity = AsUser::take(t.owner.uid, t.owner.gid)?;
        let locked = open_locked(&t.path, &t.rules, self.lock_wait)?;
        let before = parse(&locked.contents)?;
        let (result, after) = decide(&before)?;
        let bytes = after.encode();
        if *bytes == *locked.contents {
            return Ok((result, None));
        }
        Ok((result, locked.replace(&bytes).err()))
    }
}

impl Enrollments for FileStore {
    /// Saves a new enrollment where there is none (`already_exists()` otherwise).
    fn create(&self, t: &Target, e: &Enrollment) -> Result<(), StoreError> {
        let _identity = AsUser::take(t.owner.uid, t.owner.gid)?;
        create_new(&t.path, &e.encode())
    }

    /// Replaces an existing enrollment with what `change` makes of it, under the lock.
    fn replace(
        &self,
        t: &Target,
        change: impl FnOnce(&Enrollment) -> Result<Enrollment, StoreError>,
    ) -> Result<(), StoreError> {
        let _identity = AsUser::take(t.owner.uid, t.owner.gid)?;
        let locked = open_locked(&t.path, &t.rules, self.lock_wait)?;
        let next = match Enrollment::parse(&locked.contents) {
            Ok(current) => change(&current)?,
            Err(e) => return Err(StoreError::Malformed(e)),
        };
        locked.replace(&next.encode())
    }

    /// Replaces whatever the file holds (valid or not) with `e`, under the lock.
    fn overwrite(&self, t: &Target, e: &Enrollment) -> Result<(), StoreError> {
        let _identity = AsUser::take(t.owner.uid, t.owner.gid)?;
        let locked = open_locked(&t.path, &t.rules, self.lock_wait)?;
        locked.replace(&e.encode())
    }

    /// Removes the enrollment, under the lock.
    fn remove(&self, t: &Target) -> Result<(), StoreError> {
        let _identity = AsUser::take(t.owner.uid, t.owner.gid)?;
        remove_locked(&t.path, &t.rules, self.lock_wait)
    }
}

impl Store for FileStore {
    fn before_prompt(
        &self,
        t: &Target,
        host: Option<&GraceHost>,
        grace_period: u64,
        now: u64,
    ) -> Result<Gate, StoreError> {
        let e = self.load(t)?;
        let gate = decision::gate(&e, host, grace_period, now);
        *self.seen.borrow_mut() = Some((t.path.clone(), e));
        Ok(gate)
    }

    fn attempt(&self, t: &Target, a: &Attempt<'_>, now: u64) -> Result<Decided, StoreError> {
        let (outcome, unsaved) = self.update(t, |e| {
            decision::decide(e, a, now).map_err(StoreError::Malformed)
        })?;
        Ok(Decided { outcome, unsaved })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me() -> (u32, u32) {
        (
            nix::unistd::geteuid().as_raw(),
            nix::unistd::getegid().as_raw(),
        )
    }

    fn rules() -> Rules {
        Rules {
            owner: me().0,
            check_owner: true,
            allowed_perm: 0o600,
        }
    }

    fn write(path: &Path, text: &str, mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(path, text).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    fn listing(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn expands_the_anchor_templates() {
        let home = Path::new("/home/alice");
        let x =
            |t: &str| expand_secret_path(t, "alice", Some(home)).map(|p| p.display().to_string());
        assert_eq!(
            x("~/.google_authenticator").unwrap(),
            "/home/alice/.google_authenticator"
        );
        assert_eq!(x("${HOME}/.ga").unwrap(), "/home/alice/.ga");
        assert_eq!(x("/var/lib/totp/${USER}").unwrap(), "/var/lib/totp/alice");
        assert_eq!(x("/a/~/b").unwrap(), "/a//home/alice/b");
        assert_eq!(x("/a~b/c").unwrap(), "/a~b/c");
        assert!(x("relative/${USER}").is_err());
        assert!(expand_secret_path("/x/${USER}", "../etc", Some(home)).is_err());
        assert!(expand_secret_path("/x/${USER}", "a/b", Some(home)).is_err());
        assert!(expand_secret_path("~/.ga", "alice", None).is_err());
        assert!(expand_secret_path("~/.ga", "alice", Some(Path::new("rel"))).is_err());
    }

    #[test]
    fn reads_locks_and_replaces_keeping_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        write(&path, "OLD\n", 0o400);
        let locked = open_locked(&path, &rules(), LOCK_WAIT).unwrap();
        assert_eq!(&locked.contents[..], b"OLD\n");
        locked.replace(b"NEW\n").unwrap();
        drop(locked);
        assert_eq!(std::fs::read(&path).unwrap(), b"NEW\n");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777,
            0o400
        );
        assert_eq!(listing(dir.path()), ["secret"]);
    }

    #[test]
    fn refuses_symlinks_fifos_directories_and_loose_modes() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        write(&real, "X\n", 0o600);
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert!(matches!(
            open_locked(&link, &rules(), LOCK_WAIT),
            Err(StoreError::Symlink(_))
        ));
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, Mode::from_bits_truncate(0o600)).unwrap();
        assert!(matches!(
            open_locked(&fifo, &rules(), LOCK_WAIT),
            Err(StoreError::NotRegular(_))
        ));
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        assert!(matches!(
            open_locked(&sub, &rules(), LOCK_WAIT),
            Err(StoreError::NotRegular(_))
        ));
        let loose = dir.path().join("loose");
        write(&loose, "X\n", 0o644);
        assert!(matches!(
            open_locked(&loose, &rules(), LOCK_WAIT),
            Err(StoreError::Permissions { mode: 0o644, .. })
        ));
        let missing = dir.path().join("missing");
        assert!(matches!(
            open_locked(&missing, &rules(), LOCK_WAIT),
            Err(StoreError::NotFound(_))
        ));
        let no_dir = dir.path().join("nodir/secret");
        assert!(matches!(
            open_locked(&no_dir, &rules(), LOCK_WAIT),
            Err(StoreError::NoDirectory(_))
        ));
        let mut other_owner = rules();
        other_owner.owner += 1;
        assert!(matches!(
            open_locked(&real, &other_owner, LOCK_WAIT),
            Err(StoreError::Owner { .. })
        ));
        other_owner.check_owner = false;
        assert!(open_locked(&real, &other_owner, LOCK_WAIT).is_ok());
    }

    #[test]
    fn refuses_oversize_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big");
        write(&path, &"A".repeat(MAX_FILE_SIZE + 1), 0o600);
        assert!(matches!(
            open_locked(&path, &rules(), LOCK_WAIT),
            Err(StoreError::TooLarge(_))
        ));
    }

    #[test]
    fn the_next_write_removes_a_temporary_name_left_by_a_killed_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        write(&path, "X\n", 0o600);
        write(&dir.path().join(".secret.pam_totp-new"), "STALE\n", 0o600);
        assert_eq!(&read(&path, &rules()).unwrap()[..], b"X\n");
        let locked = open_locked(&path, &rules(), LOCK_WAIT).unwrap();
        locked.replace(b"Y\n").unwrap();
        drop(locked);
        assert_eq!(listing(dir.path()), ["secret"]);
        assert_eq!(std::fs::read(&path).unwrap(), b"Y\n");
    }

    #[test]
    fn create_new_never_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        create_new(&path, b"A\n").unwrap();
        let err = create_new(&path, b"B\n").unwrap_err();
        assert!(err.already_exists());
        assert_eq!(std::fs::read(&path).unwrap(), b"A\n");
        assert_eq!(listing(dir.path()), ["secret"]);
    }

    #[test]
    fn a_held_lock_is_waited_for_a_bounded_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        write(&path, "X\n", 0o600);
        let holder = File::open(&path).unwrap();
        holder.lock().unwrap();
        let started = Instant::now();
        let err = open_locked(&path, &rules(), Duration::from_millis(300)).unwrap_err();
        assert!(matches!(err, StoreError::Busy(_)), "{err}");
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert!(
            err.to_string().contains("locked by another process"),
            "{err}"
        );
        drop(holder);
        assert!(open_locked(&path, &rules(), Duration::from_millis(300)).is_ok());
    }

    #[test]
    fn own_identity_needs_no_root() {
        let (uid, gid) = me();
        let guard = AsUser::take(uid, gid).unwrap();
        drop(guard);
        if uid != 0 {
            assert!(AsUser::take(uid + 1, gid).is_err());
        }
    }
}
