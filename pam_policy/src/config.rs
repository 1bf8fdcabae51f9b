//! The policy from pwquality.conf and the module arguments, as pam_pwquality
//! builds it: defaults, then `<conf>.d/*.conf` in byte order, then `<conf>`,
//! then the module arguments, each overriding the one before.
//!
//! `<conf>` is /etc/security/pwquality.conf unless the `conf=FILE` argument
//! names another (an addition of ours, so a service or a test can use its
//! own file). A missing default file is no error; a missing `conf=` file, an
//! unreadable file, a malformed line, an unknown setting or a bad value is,
//! and names the file and line.

#![forbid(unsafe_code)]

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::options::{CONF_SETTINGS, OptionError, Policy};

pub const DEFAULT_CONF: &str = "/etc/security/pwquality.conf";
/// libpwquality's longest line; a longer one is malformed.
const MAX_LINE: usize = 1023;

#[derive(Debug)]
pub enum ConfigError {
    Option(OptionError),
    Unreadable(PathBuf, io::Error),
    Malformed {
        path: PathBuf,
        line: usize,
        why: String,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Option(e) => e.fmt(f),
            ConfigError::Unreadable(p, e) => write!(f, "cannot read {}: {e}", p.display()),
            ConfigError::Malformed { path, line, why } => {
                write!(f, "{}:{line}: {why}", path.display())
            }
        }
    }
}

impl std::error::Error for ConfigError {}

impl From<OptionError> for ConfigError {
    fn from(e: OptionError) -> Self {
        ConfigError::Option(e)
    }
}

/// The vendor defaults libpwquality after 1.4.5 reads when
/// /etc/security/pwquality.conf is absent, and whose `.d` files the ones of
/// the same name in /etc/security/pwquality.conf.d override.
pub const BASE_CONF: &str = "/usr/lib/security/pwquality.conf";

/// Where the shared (system) configuration lives.
#[derive(Clone, Copy, Debug)]
pub struct Shared<'a> {
    pub conf: &'a Path,
    pub base: &'a Path,
}

impl Shared<'static> {
    pub fn system() -> Self {
        Shared {
            conf: Path::new(DEFAULT_CONF),
            base: Path::new(BASE_CONF),
        }
    }
}

/// A setting of a shared file that was skipped, with where it was.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigWarning {
    pub path: PathBuf,
    pub line: usize,
    pub why: String,
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {}; ignored",
            self.path.display(),
            self.line,
            self.why
        )
    }
}

/// The policy, and what was skipped on the way to it.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub policy: Policy,
    pub warnings: Vec<ConfigWarning>,
}

/// Builds the policy for a module argument list.
pub fn load(args: &[&str]) -> Result<Loaded, ConfigError> {
    load_from(args, Shared::system())
}

/// [`load`], with `shared` standing for the system's files.
///
/// The shared files are read by libpwquality, pwscore and desktop tools too,
/// and libpwquality adds settings over time: a setting we do not know there
/// is a warning (file and line) and the rest of the file applies. A `conf=`
/// file and the module arguments are ours alone and stay strict.
pub fn load_from(args: &[&str], shared: Shared<'_>) -> Result<Loaded, ConfigError> {
    let conf = args
        .iter()
        .filter_map(|a| {
            let (n, v) = a.split_once('=')?;
            n.eq_ignore_ascii_case("conf").then_some(v)
        })
        .next_back();
    let mut reader = Reader {
        policy: Policy::default(),
        warnings: Vec::new(),
        lenient: conf.is_none(),
    };
    match conf {
        Some(path) => {
            let path = Path::new(path);
            reader.read_dir(&[dir_of(path)])?;
            reader.read_file(path, true)?;
        }
        None => {
            reader.read_dir(&[dir_of(shared.base), dir_of(shared.conf)])?;
            if !reader.read_file(shared.conf, false)? {
                reader.read_file(shared.base, false)?;
            }
        }
    }
    let policy = reader.policy.apply_args(args.iter().copied())?;
    Ok(Loaded {
        policy,
        warnings: reader.warnings,
    })
}

/// Applies `<path>.d/*.conf` and then `path` to `policy`, strictly. With
/// `required`, a missing `path` is an error.
pub fn read_config(policy: &mut Policy, path: &Path, required: bool) -> Result<(), ConfigError> {
    let mut reader = Reader {
        policy: policy.clone(),
        warnings: Vec::new(),
        lenient: false,
    };
    reader.read_dir(&[dir_of(path)])?;
    reader.read_file(path, required)?;
    *policy = reader.policy;
    Ok(())
}

fn dir_of(path: &Path) -> PathBuf {
    let mut dir = path.as_os_str().to_owned();
    dir.push(".d");
    PathBuf::from(dir)
}

struct Reader {
    policy: Policy,
    warnings: Vec<ConfigWarning>,
    /// Unknown settings are warnings (the shared files), not errors.
    lenient: bool,
}

impl Reader {
    /// The `*.conf` files of `dirs`, in byte order of their names; a name in
    /// a later directory replaces the same name in an earlier one.
    fn read_dir(&mut self, dirs: &[PathBuf]) -> Result<(), ConfigError> {
        let mut files: std::collections::BTreeMap<Vec<u8>, PathBuf> = Default::default();
        for dir in dirs {
            match std::fs::read_dir(dir) {
                Ok(entries) => {
                    for e in entries.filter_map(Result::ok) {
                        let name = e.file_name().as_encoded_bytes().to_vec();
                        if name.len() > 5 && name.ends_with(b".conf") {
                            files.insert(name, e.path());
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) if e.kind() == io::ErrorKind::NotADirectory => {}
                Err(e) => return Err(ConfigError::Unreadable(dir.clone(), e)),
            }
        }
        for file in files.values() {
            self.read_file(file, true)?;
        }
        Ok(())
    }

    /// Applies one file; `Ok(false)` when it is missing and not `required`.
    fn read_file(&mut self, path: &Path, required: bool) -> Result<bool, ConfigError> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound && !required => return Ok(false),
            Err(e) => return Err(ConfigError::Unreadable(path.to_owned(), e)),
        };
        let warnings = apply_lines(&mut self.policy, &bytes, path, self.lenient)?;
        self.warnings.extend(warnings);
        Ok(true)
    }
}

/// Applies one file's text: `name = value` or `name value` or `name`, `#`
/// comments, blank lines. Strict: an unknown setting is an error.
pub fn apply_text(policy: &mut Policy, bytes: &[u8], path: &Path) -> Result<(), ConfigError> {
    apply_lines(policy, bytes, path, false).map(drop)
}

fn apply_lines(
    policy: &mut Policy,
    bytes: &[u8],
    path: &Path,
    lenient: bool,
) -> Result<Vec<ConfigWarning>, ConfigError> {
    let mut warnings = Vec::new();
    for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let malformed = |why: String| ConfigError::Malformed {
            path: path.to_owned(),
            line: i + 1,
            why,
        };
        if raw.len() > MAX_LINE {
            return Err(malformed(format!("line longer than {MAX_LINE} bytes")));
        }
        let Ok(line) = std::str::from_utf8(raw) else {
            return Err(malformed("not valid UTF-8".to_owned()));
        };
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let end = line
            .find(|c: char| c.is_whitespace() || c == '=')
            .unwrap_or(line.len());
        let (name, rest) = line.split_at(end);
        let rest = rest.trim_start();
        let value = rest.strip_prefix('=').unwrap_or(rest).trim_start();
        let lower = name.to_ascii_lowercase();
        if !CONF_SETTINGS.contains(&lower.as_str()) {
            let why = format!("unknown setting \"{name}\"");
            if lenient {
                warnings.push(ConfigWarning {
                    path: path.to_owned(),
                    line: i + 1,
                    why,
                });
                continue;
            }
            return Err(malformed(why));
        }
        policy
            .set(&lower, Some(value), line)
            .map_err(|e| malformed(e.to_string()))?;
    }
    Ok(warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(text: &str) -> Result<Policy, ConfigError> {
        let mut p = Policy::default();
        apply_text(&mut p, text.as_bytes(), Path::new("test.conf"))?;
        Ok(p)
    }

    #[test]
    fn pwquality_conf_syntax() {
        let p = apply(
            "# a comment\n  minlen = 12  # trailing\nucredit=-1\nlcredit -2\n\nenforce_for_root\nbadwords = acme corp\ndictpath=\n",
        )
        .unwrap();
        assert_eq!((p.minlen, p.ucredit, p.lcredit), (12, -1, -2));
        assert!(p.enforce_for_root);
        assert_eq!(p.badwords, ["acme", "corp"]);
        assert_eq!(p.dictpath, None);
    }

    #[test]
    fn errors_name_the_file_and_line() {
        for (text, needle) in [
            (
                "minlen = 8\nminlenn = 9\n",
                "test.conf:2: unknown setting \"minlenn\"",
            ),
            ("minlen = ten\n", "test.conf:1: bad value \"ten\""),
            ("use_authtok\n", "unknown setting \"use_authtok\""),
            ("maxrepeat = \n", "test.conf:1: bad value"),
        ] {
            let e = apply(text).unwrap_err().to_string();
            assert!(e.contains(needle), "{text:?} -> {e}");
        }
        let e = apply(&format!("badwords = {}\n", "x".repeat(2000))).unwrap_err();
        assert!(e.to_string().contains("longer than"), "{e}");
        let mut p = Policy::default();
        let e = apply_text(&mut p, b"minlen = 9\xff\n", Path::new("x")).unwrap_err();
        assert!(e.to_string().contains("UTF-8"), "{e}");
    }

    /// /etc/security/pwquality.conf and its .d are shared with libpwquality,
    /// pwscore and desktop tools, and libpwquality adds settings: a key we do
    /// not know there is a warning naming file and line, and the rest of the
    /// file still applies. `conf=` files and module arguments stay strict.
    #[test]
    fn an_unknown_key_in_the_shared_file_is_a_warning_and_the_rest_applies() {
        let dir = std::env::temp_dir().join(format!("pam-policy-shared-{}", std::process::id()));
        let d = dir.join("pwquality.conf.d");
        std::fs::create_dir_all(&d).unwrap();
        let shared = dir.join("pwquality.conf");
        std::fs::write(&shared, "minlen = 11\nallowclasses = 3\ndifok = 4\n").unwrap();
        std::fs::write(d.join("50-vendor.conf"), "futurekey=1\nmaxrepeat = 2\n").unwrap();
        let sh = Shared {
            conf: &shared,
            base: &dir.join("nothing.conf"),
        };
        let l = load_from(&["retry=2"], sh).expect("unknown shared keys are no error");
        let p = &l.policy;
        assert_eq!((p.minlen, p.difok, p.maxrepeat, p.retry), (11, 4, 2, 2));
        let w: Vec<String> = l.warnings.iter().map(ToString::to_string).collect();
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(
            w[0].ends_with("50-vendor.conf:1: unknown setting \"futurekey\"; ignored"),
            "{w:?}"
        );
        assert!(
            w[1].ends_with("pwquality.conf:2: unknown setting \"allowclasses\"; ignored"),
            "{w:?}"
        );
        // The same file named by conf= is strict.
        let conf = format!("conf={}", shared.display());
        let e = load_from(&[conf.as_str()], sh).unwrap_err().to_string();
        assert!(
            e.contains("50-vendor.conf:1: unknown setting \"futurekey\""),
            "{e}"
        );
        // A bad value of a known setting stays an error even there.
        std::fs::write(&shared, "minlen = ten\n").unwrap();
        assert!(load_from(&[], sh).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// libpwquality after 1.4.5: without /etc/security/pwquality.conf the
    /// vendor file in /usr/lib/security is read; `.d` files of both are
    /// merged by name, /etc's winning.
    #[test]
    fn the_vendor_base_config_is_read_as_libpwquality_now_does() {
        let dir = std::env::temp_dir().join(format!("pam-policy-base-{}", std::process::id()));
        let etc = dir.join("etc.conf");
        let base = dir.join("base.conf");
        std::fs::create_dir_all(dir.join("etc.conf.d")).unwrap();
        std::fs::create_dir_all(dir.join("base.conf.d")).unwrap();
        std::fs::write(&base, "minlen = 14\n").unwrap();
        std::fs::write(dir.join("base.conf.d/10-a.conf"), "maxrepeat = 5\n").unwrap();
        std::fs::write(dir.join("base.conf.d/20-b.conf"), "maxsequence = 5\n").unwrap();
        std::fs::write(dir.join("etc.conf.d/20-b.conf"), "difok = 7\n").unwrap();
        let sh = Shared {
            conf: &etc,
            base: &base,
        };
        let p = load_from(&[], sh).unwrap().policy;
        assert_eq!(
            (p.minlen, p.maxrepeat, p.maxsequence, p.difok),
            (14, 5, 0, 7)
        );
        std::fs::write(&etc, "minlen = 9\n").unwrap();
        assert_eq!(load_from(&[], sh).unwrap().policy.minlen, 9);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn module_arguments_override_files_and_conf_d_comes_first() {
        let dir = std::env::temp_dir().join(format!("pam-policy-conf-{}", std::process::id()));
        let d = dir.join("pq.conf.d");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(dir.join("pq.conf"), "minlen = 11\ndifok = 4\n").unwrap();
        std::fs::write(d.join("b.conf"), "minlen = 13\nmaxrepeat = 2\n").unwrap();
        std::fs::write(d.join("a.conf"), "maxrepeat = 5\nmaxsequence = 4\n").unwrap();
        std::fs::write(d.join("ignored.txt"), "bogus line\n").unwrap();
        let conf = format!("conf={}", dir.join("pq.conf").display());
        let p = load(&[conf.as_str(), "difok=2"]).unwrap().policy;
        assert_eq!(
            (p.minlen, p.maxrepeat, p.maxsequence, p.difok),
            (11, 2, 4, 2)
        );
        let missing = format!("conf={}", dir.join("nope.conf").display());
        assert!(matches!(
            load(&[missing.as_str()]),
            Err(ConfigError::Unreadable(..))
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
