//! The policy from pwquality.conf and the module arguments, as pam_pwquality
//! builds it: defaults, then `<conf>.d/*.conf` in byte order, then `<conf>`,
//! then the module arguments, each overriding the one before.
//!
//! `<conf>` is /etc/security/pwquality.conf unless the `conf=FILE` argument
//! names another (an addition of ours, so a service or a test can use its
//! own file). A missing default file is no error; a missing `conf=` file, an
//! unreadable file, a malformed line, an unknown setting or a bad value is,
//! and names the file and line.

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

/// Builds the policy for a module argument list.
pub fn load(args: &[&str]) -> Result<Policy, ConfigError> {
    let conf = args
        .iter()
        .filter_map(|a| {
            let (n, v) = a.split_once('=')?;
            n.eq_ignore_ascii_case("conf").then_some(v)
        })
        .next_back();
    let mut policy = Policy::default();
    match conf {
        Some(path) => read_config(&mut policy, Path::new(path), true)?,
        None => read_config(&mut policy, Path::new(DEFAULT_CONF), false)?,
    }
    Ok(policy.apply_args(args.iter().copied())?)
}

/// Applies `<path>.d/*.conf` and then `path` to `policy`. With `required`,
/// a missing `path` is an error.
pub fn read_config(policy: &mut Policy, path: &Path, required: bool) -> Result<(), ConfigError> {
    let mut dir = path.as_os_str().to_owned();
    dir.push(".d");
    let dir = PathBuf::from(dir);
    match std::fs::read_dir(&dir) {
        Ok(entries) => {
            let mut names: Vec<Vec<u8>> = entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().as_encoded_bytes().to_vec())
                .filter(|n| n.len() > 5 && n.ends_with(b".conf"))
                .collect();
            names.sort();
            for name in names {
                let file = dir.join(String::from_utf8_lossy(&name).as_ref());
                read_file(policy, &file, true)?;
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) if e.kind() == io::ErrorKind::NotADirectory => {}
        Err(e) => return Err(ConfigError::Unreadable(dir, e)),
    }
    read_file(policy, path, required)
}

fn read_file(policy: &mut Policy, path: &Path, required: bool) -> Result<(), ConfigError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound && !required => return Ok(()),
        Err(e) => return Err(ConfigError::Unreadable(path.to_owned(), e)),
    };
    apply_text(policy, &bytes, path)
}

/// Applies one file's text: `name = value` or `name value` or `name`, `#`
/// comments, blank lines.
pub fn apply_text(policy: &mut Policy, bytes: &[u8], path: &Path) -> Result<(), ConfigError> {
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
            return Err(malformed(format!("unknown setting \"{name}\"")));
        }
        policy
            .set(&lower, Some(value), line)
            .map_err(|e| malformed(e.to_string()))?;
    }
    Ok(())
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
        let p = load(&[conf.as_str(), "difok=2"]).unwrap();
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
