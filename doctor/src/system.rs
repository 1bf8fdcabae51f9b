//! What the doctor reads from the machine (or from a tree under `--root`):
//! service files, `sshd -T`, module files, secret files, the clock. It only
//! reads; what it could not read becomes a note, never a guess.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use nix::errno::Errno;
use pam_totp::options::{Options, StoreOwner};
use pam_totp::store::{Account, FileStore, StoreError, Target};

use crate::analyze::{Clock, ModuleFile, Users};
use crate::pam::Entry;

/// Where libpam looks for a module named without a path (Debian's multiarch first).
const MODULE_DIRS: &[&str] = &[
    "/lib/x86_64-linux-gnu/security",
    "/usr/lib/x86_64-linux-gnu/security",
    "/lib/aarch64-linux-gnu/security",
    "/usr/lib/aarch64-linux-gnu/security",
    "/lib/security",
    "/usr/lib/security",
    "/lib64/security",
];

pub struct Tree {
    pub root: PathBuf,
}

impl Tree {
    /// A path of the analysed system, under the root.
    pub fn path(&self, p: &str) -> PathBuf {
        self.root.join(p.trim_start_matches('/'))
    }

    pub fn is_live(&self) -> bool {
        self.root == Path::new("/")
    }

    /// A file of /etc/pam.d by name (or an absolute path, inside the root).
    pub fn pam_file(&self, name: &str) -> Result<String, String> {
        let p = if name.starts_with('/') {
            self.path(name)
        } else {
            self.path("/etc/pam.d").join(name)
        };
        std::fs::read_to_string(&p).map_err(|e| format!("cannot read {}: {e}", p.display()))
    }

    pub fn module(&self, e: &Entry) -> ModuleFile {
        let candidates: Vec<PathBuf> = if e.module.starts_with('/') {
            vec![self.path(&e.module)]
        } else {
            MODULE_DIRS
                .iter()
                .map(|d| self.path(d).join(&e.module))
                .collect()
        };
        let Some(found) = candidates.iter().find(|p| p.exists()) else {
            return ModuleFile::Missing(e.module.clone());
        };
        let mut magic = [0u8; 4];
        match std::fs::File::open(found).and_then(|mut f| f.read_exact(&mut magic)) {
            Ok(()) if magic == *b"\x7fELF" => ModuleFile::Loadable,
            Ok(()) => {
                ModuleFile::NotLoadable(format!("{} is not a shared object", found.display()))
            }
            Err(err) if err.kind() == std::io::ErrorKind::PermissionDenied => {
                ModuleFile::Unknown(format!("cannot read {}: {err}", found.display()))
            }
            Err(err) => ModuleFile::NotLoadable(format!("{}: {err}", found.display())),
        }
    }

    fn accounts(&self) -> Result<Vec<Account>, String> {
        let p = self.path("/etc/passwd");
        let text =
            std::fs::read_to_string(&p).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
        Ok(text
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                if f.len() < 7 {
                    return None;
                }
                Some(Account {
                    name: f[0].to_owned(),
                    uid: f[2].parse().ok()?,
                    gid: f[3].parse().ok()?,
                    home: self.path(f[5]),
                })
            })
            .collect())
    }

    /// Every account's secret file as the module (with these options) would
    /// open it: the refused ones, and notes for those that could not be checked.
    /// Secret files are read and parsed by the store as a login would (so a
    /// malformed file counts as refused too); their content is never shown.
    pub fn users(&self, options: &Options, notes: &mut Vec<String>) -> Option<Users> {
        if options.store == pam_totp::options::StoreKind::Postgres {
            notes.push(
                "enrollments are in the fleet store (store=postgres): secret files not checked"
                    .to_owned(),
            );
            return None;
        }
        let accounts = match self.accounts() {
            Ok(a) => a,
            Err(e) => {
                notes.push(format!("enrolled users not checked: {e}"));
                return None;
            }
        };
        let store = FileStore::default();
        let mut users = Users::default();
        let mut unreadable = Vec::new();
        for user in &accounts {
            let owner = match &options.owner {
                StoreOwner::TargetUser => Some(user.clone()),
                StoreOwner::Name(n) => accounts.iter().find(|a| &a.name == n).cloned(),
                StoreOwner::Uid(u) => accounts.iter().find(|a| a.uid == *u).cloned(),
            };
            let Some(owner) = owner else { continue };
            let Ok(target) = Target::new(
                user.clone(),
                owner,
                &options.secret,
                !options.no_strict_owner,
                options.allowed_perm,
            ) else {
                continue;
            };
            users.checked += 1;
            match store.load(&target).map(drop) {
                Ok(()) | Err(StoreError::NotFound(_)) | Err(StoreError::NoDirectory(_)) => {}
                Err(StoreError::Identity(_)) => unreadable.push(user.name.clone()),
                Err(StoreError::Io {
                    errno: Errno::EACCES,
                    ..
                }) => unreadable.push(user.name.clone()),
                Err(e) => users.refused.push((user.name.clone(), e.to_string())),
            }
        }
        if !unreadable.is_empty() {
            notes.push(format!(
                "secret files of {} account(s) not checked (no permission; run as root): {}",
                unreadable.len(),
                unreadable.join(", ")
            ));
        }
        Some(users)
    }
}

/// `sshd -T` of the analysed system.
pub fn sshd_t(tree: &Tree, sshd: &str) -> Result<String, String> {
    let mut cmd = Command::new(sshd);
    cmd.arg("-T");
    if !tree.is_live() {
        cmd.arg("-f").arg(tree.path("/etc/ssh/sshd_config"));
    }
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {sshd} -T: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{sshd} -T failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Whether the kernel's clock is synchronised, as systemd reports it.
pub fn clock(notes: &mut Vec<String>) -> Clock {
    let out = Command::new("timedatectl")
        .args(["show", "-p", "NTPSynchronized", "--value"])
        .output();
    match out {
        Ok(o) if o.status.success() => match String::from_utf8_lossy(&o.stdout).trim() {
            "yes" => Clock::Synchronised,
            "no" => Clock::NotSynchronised("timedatectl: NTPSynchronized=no".into()),
            other => {
                notes.push(format!("clock: timedatectl said \"{other}\""));
                Clock::Unknown
            }
        },
        _ => {
            notes.push("clock synchronisation not checked: timedatectl unavailable".into());
            Clock::Unknown
        }
    }
}
