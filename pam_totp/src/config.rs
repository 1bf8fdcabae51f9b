//! Reading the admin's minimums file ([`DEFAULT_CONF`]): only a file that
//! an ordinary user cannot have written counts, since it decides how strict
//! every login is. pam_totp.so and totp-enroll both read it through here.

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{OFlag, open};
use nix::sys::stat::{Mode, SFlag, fstat};

use crate::minimums::{self, DEFAULT_CONF, FileError, Minimums};

/// The largest minimums file read.
const MAX_CONF_SIZE: i64 = 64 * 1024;

/// Which file: the default one, which may be absent (no minimums), or one
/// named by `conf=` / `--config`, which must exist.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    Default,
    Named(PathBuf),
}

impl Source {
    pub fn path(&self) -> &Path {
        match self {
            Source::Default => Path::new(DEFAULT_CONF),
            Source::Named(p) => p,
        }
    }
}

/// Why the minimums could not be read; each names the file.
#[derive(Debug)]
pub enum ConfigError {
    Io(PathBuf, Errno),
    NotRegular(PathBuf),
    /// Owned by someone other than root (or the user running the program).
    Owner(PathBuf, u32),
    /// Permission bits it may not have (its mode, the forbidden bits).
    Mode(PathBuf, u32, u32),
    TooLarge(PathBuf),
    NotUtf8(PathBuf),
    Line(PathBuf, FileError),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Io(p, e) => write!(f, "cannot read {}: {}", p.display(), e.desc()),
            ConfigError::NotRegular(p) => write!(f, "{} is not a regular file", p.display()),
            ConfigError::Owner(p, uid) => write!(
                f,
                "{} is owned by uid {uid}, not root; it is not trusted",
                p.display()
            ),
            ConfigError::Mode(p, mode, forbidden) => write!(
                f,
                "{} is {} by group or others (mode {mode:04o}); it is not trusted",
                p.display(),
                if mode & forbidden & 0o022 != 0 {
                    "writable"
                } else {
                    "readable"
                }
            ),
            ConfigError::TooLarge(p) => write!(f, "{} is larger than 64 KiB", p.display()),
            ConfigError::NotUtf8(p) => write!(f, "{} is not UTF-8 text", p.display()),
            ConfigError::Line(p, e) => write!(f, "{} {e}", p.display()),
        }
    }
}

impl std::error::Error for ConfigError {}

/// The minimums in `source`, then `extra` (module arguments) on top.
pub fn read(source: &Source, extra: &[minimums::Setting]) -> Result<Minimums, ConfigError> {
    let path = source.path();
    let Some(text) = read_trusted(path, *source == Source::Default, 0o022)? else {
        return Ok(Minimums::default().with(extra));
    };
    let settings =
        minimums::parse_file(&text).map_err(|e| ConfigError::Line(path.to_owned(), e))?;
    Ok(Minimums::default().with(&settings).with(extra))
}

/// The text of a file only root (or this program's user) can have written:
/// a regular file, not a symlink, owned by root or the effective uid, with
/// none of the `forbidden` permission bits, at most 64 KiB of UTF-8.
/// `Ok(None)` when it does not exist and `may_be_absent`.
pub fn read_trusted(
    path: &Path,
    may_be_absent: bool,
    forbidden: u32,
) -> Result<Option<String>, ConfigError> {
    let io = |e: Errno| ConfigError::Io(path.to_owned(), e);
    let fd = match open(
        path,
        OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) if may_be_absent => return Ok(None),
        Err(Errno::ELOOP) => return Err(ConfigError::NotRegular(path.to_owned())),
        Err(e) => return Err(io(e)),
    };
    let st = fstat(&fd).map_err(io)?;
    if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT != SFlag::S_IFREG {
        return Err(ConfigError::NotRegular(path.to_owned()));
    }
    let euid = nix::unistd::geteuid().as_raw();
    if st.st_uid != 0 && st.st_uid != euid {
        return Err(ConfigError::Owner(path.to_owned(), st.st_uid));
    }
    if st.st_mode & forbidden != 0 {
        return Err(ConfigError::Mode(
            path.to_owned(),
            st.st_mode & 0o7777,
            forbidden,
        ));
    }
    if st.st_size > MAX_CONF_SIZE {
        return Err(ConfigError::TooLarge(path.to_owned()));
    }
    let mut bytes = Vec::new();
    File::from(fd)
        .take(MAX_CONF_SIZE as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| {
            io(Errno::from_raw(
                e.raw_os_error().unwrap_or(Errno::EIO as i32),
            ))
        })?;
    if bytes.len() as i64 > MAX_CONF_SIZE {
        return Err(ConfigError::TooLarge(path.to_owned()));
    }
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| ConfigError::NotUtf8(path.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn write(dir: &Path, name: &str, text: &str, mode: u32) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    fn temp() -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "pam_totp-config-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn reads_a_file_and_arguments_come_after_it() {
        let d = temp();
        let p = write(&d, "ok.conf", "max_window_size = 5\nrefuse_hotp\n", 0o644);
        let m = read(&Source::Named(p), &[minimums::Setting::MaxWindowSize(3)]).unwrap();
        assert_eq!(m.max_window_size, Some(3));
        assert!(m.refuse_hotp);
    }

    #[test]
    fn an_absent_default_is_no_minimums_but_an_absent_named_file_is_an_error() {
        let d = temp();
        let missing = d.join("missing.conf");
        assert!(matches!(
            read(&Source::Named(missing), &[]),
            Err(ConfigError::Io(_, Errno::ENOENT))
        ));
    }

    #[test]
    fn writable_symlinked_malformed_and_oversize_files_are_refused() {
        let d = temp();
        let loose = write(&d, "loose.conf", "refuse_hotp\n", 0o666);
        let e = read(&Source::Named(loose), &[]).unwrap_err();
        assert!(matches!(e, ConfigError::Mode(..)), "{e}");
        let good = write(&d, "good.conf", "refuse_hotp\n", 0o600);
        let link = d.join("link.conf");
        std::os::unix::fs::symlink(&good, &link).unwrap();
        assert!(matches!(
            read(&Source::Named(link), &[]),
            Err(ConfigError::NotRegular(_))
        ));
        let bad = write(&d, "bad.conf", "# ok\nrefuse_hotp\nwindow=3\n", 0o600);
        let e = read(&Source::Named(bad.clone()), &[]).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("{} line 3: unknown setting \"window\"", bad.display())
        );
        let big = write(&d, "big.conf", &"#".repeat(70_000), 0o600);
        assert!(matches!(
            read(&Source::Named(big), &[]),
            Err(ConfigError::TooLarge(_))
        ));
        let dir = d.join("dir.conf");
        std::fs::create_dir(&dir).unwrap();
        assert!(matches!(
            read(&Source::Named(dir), &[]),
            Err(ConfigError::NotRegular(_))
        ));
    }
}
