//! Real-libpam test harness.
//!
//! A test writes a PAM service file into a temp directory ([`Service`]), then
//! runs scenarios against it ([`Scenario`]): each scenario is one child
//! process (`pam-drive`) that calls `pam_start_confdir()` on that directory
//! (no root, no /etc/pam.d), sets items, answers prompts from a script, makes
//! the PAM calls and reports every code, every conversation message, the PAM
//! environment and the syslog lines the modules wrote. [`race`] releases many
//! such processes at the same instant.
//!
//! Placeholders in a service file: `{totp}`, `{policy}` (this workspace's
//! modules), `{items}` (the test-only items module, see `tests/items-module`)
//! and `{sys}` (the directory of the system's PAM modules).

pub mod client;
pub mod drive;
pub mod spec;
pub mod totp;

use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use test_support::running_as_root;

pub use client::code_name;
pub use spec::{Answer, Message, Op, Report, Spec, Step, StepResult};

/// PAM flags an application passes (from `<security/_pam_types.h>`).
pub mod flags {
    pub const SILENT: i32 = 0x8000;
    pub const DISALLOW_NULL_AUTHTOK: i32 = 0x0001;
    pub const ESTABLISH_CRED: i32 = 0x0002;
    pub const DELETE_CRED: i32 = 0x0004;
    pub const CHANGE_EXPIRED_AUTHTOK: i32 = 0x0020;
}

/// The directory that holds a module built from this workspace: the `deps`
/// directory next to the running test binary (Cargo puts the cdylibs there),
/// unless `PAM_HARNESS_MODULE_DIR` names one (e.g. installed modules).
pub fn build_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("PAM_HARNESS_MODULE_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().unwrap_or_default();
    let mut dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.file_name().is_some_and(|n| n != "deps") {
        dir.push("deps");
    }
    dir
}

/// Path of a module built from this workspace, by crate name (e.g. `pam_totp`).
pub fn workspace_module(name: &str) -> PathBuf {
    let dir = build_dir();
    for candidate in [format!("lib{name}.so"), format!("{name}.so")] {
        let p = dir.join(&candidate);
        if p.exists() {
            return p;
        }
    }
    dir.join(format!("lib{name}.so"))
}

/// The directory of the system's PAM modules (pam_permit.so and friends).
pub fn system_module_dir() -> PathBuf {
    let multiarch = format!("{}-linux-gnu", std::env::consts::ARCH);
    let candidates = [
        format!("/lib/{multiarch}/security"),
        format!("/usr/lib/{multiarch}/security"),
        "/usr/lib64/security".to_owned(),
        "/lib64/security".to_owned(),
        "/usr/lib/security".to_owned(),
        "/lib/security".to_owned(),
    ];
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|d| d.join("pam_permit.so").exists())
        .unwrap_or_else(|| PathBuf::from(&candidates[0]))
}

/// This process's own program, when it is its own driver.
static OWN_DRIVER: OnceLock<PathBuf> = OnceLock::new();
/// Set in the environment of a driver process started from [`OWN_DRIVER`].
const AS_DRIVER: &str = "PAM_HARNESS_AS_DRIVER";

/// For a program of another crate that drives modules (the benchmarks): it
/// becomes its own driver, so it needs no `pam-drive` built beside it (`cargo
/// run` builds only the program it runs). Call it first in `main`; in the
/// driver processes the program then starts, it runs the transaction and
/// returns the code to exit with.
pub fn drive_with_this_program() -> Option<ExitCode> {
    if std::env::var_os(AS_DRIVER).is_some() {
        return Some(drive::main());
    }
    if let Ok(exe) = std::env::current_exe() {
        let _ = OWN_DRIVER.set(exe);
    }
    None
}

/// The driver program: `PAM_HARNESS_DRIVER`, else this program when it is its
/// own driver, else `pam-drive` built next to the test binaries.
fn driver() -> PathBuf {
    if let Some(p) = std::env::var_os("PAM_HARNESS_DRIVER") {
        return PathBuf::from(p);
    }
    if let Some(own) = OWN_DRIVER.get() {
        return own.clone();
    }
    let deps = build_dir();
    let profile_dir = if deps.file_name().is_some_and(|n| n == "deps") {
        deps.parent().map(Path::to_path_buf).unwrap_or(deps)
    } else {
        deps
    };
    profile_dir.join("pam-drive")
}

/// The uid of `nobody`.
pub const NOBODY: u32 = 65534;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A PAM service file in its own temp directory, removed on drop.
pub struct Service {
    dir: tempfile::TempDir,
    name: String,
    text: String,
}

impl Service {
    /// Writes `stack` (service-file lines, with the placeholders above) as a
    /// service named `svc` in a fresh directory.
    pub fn new(stack: &str) -> Self {
        Self::named("harness-svc", stack)
    }

    pub fn named(name: &str, stack: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("pam-harness-")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a temp dir: {e}"));
        let text = expand(stack);
        std::fs::write(dir.path().join(name), &text)
            .unwrap_or_else(|e| panic!("cannot write the service file: {e}"));
        // Readable by a driver that runs as another uid (`as_uid`, `unprivileged`).
        set_mode(dir.path(), 0o755);
        Self {
            dir,
            name: name.to_owned(),
            text,
        }
    }

    /// The directory holding the service file; tests may keep their own files here too.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// A scenario on this service, for `user` (`None`: no user given to pam_start).
    pub fn scenario(&self, user: Option<&str>) -> Scenario<'_> {
        Scenario {
            service: self,
            spec: Spec {
                confdir: self.dir.path().display().to_string(),
                service: self.name.clone(),
                user: user.map(str::to_owned),
                ..Spec::default()
            },
        }
    }

    /// Shorthand: a scenario for `user`.
    pub fn user(&self, user: &str) -> Scenario<'_> {
        self.scenario(Some(user))
    }
}

fn expand(stack: &str) -> String {
    let mut text = stack
        .replace(
            "{totp}",
            &workspace_module("pam_totp").display().to_string(),
        )
        .replace(
            "{policy}",
            &workspace_module("pam_policy").display().to_string(),
        )
        .replace(
            "{items}",
            &workspace_module("pam_harness_items").display().to_string(),
        )
        .replace("{sys}", &system_module_dir().display().to_string());
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    text = lines.join("\n");
    text.push('\n');
    text
}

/// One PAM transaction to run in a `pam-drive` process.
#[derive(Clone)]
pub struct Scenario<'s> {
    service: &'s Service,
    pub spec: Spec,
}

impl<'s> Scenario<'s> {
    pub fn item(mut self, name: &str, value: &str) -> Self {
        self.spec.items.insert(name.to_owned(), value.to_owned());
        self
    }
    pub fn rhost(self, host: &str) -> Self {
        self.item("rhost", host)
    }
    pub fn tty(self, tty: &str) -> Self {
        self.item("tty", tty)
    }
    pub fn ruser(self, ruser: &str) -> Self {
        self.item("ruser", ruser)
    }
    /// Sets a PAM environment variable before the calls.
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.spec.env.insert(name.to_owned(), value.to_owned());
        self
    }
    /// `PAM_AUTHTOK` as an earlier module would have set it (needs `{items} set` in the stack).
    pub fn authtok(self, token: &str) -> Self {
        self.env("HARNESS_AUTHTOK", token)
    }
    /// `PAM_OLDAUTHTOK`, likewise.
    pub fn old_authtok(self, token: &str) -> Self {
        self.env("HARNESS_OLDAUTHTOK", token)
    }
    /// Answers the next prompt with `text`.
    pub fn answer(mut self, text: &str) -> Self {
        self.spec.answers.push(Answer::Text(text.to_owned()));
        self
    }
    /// The user database matches names case-insensitively in this run, as
    /// SSSD or an AD backend may (the preloaded shim folds `getpwnam_r`).
    pub fn nss_fold_case(mut self) -> Self {
        self.spec
            .process_env
            .insert("PAM_HARNESS_NSS_FOLD_CASE".to_owned(), "1".to_owned());
        self
    }
    /// Answers the next prompt with `text` after `millis` milliseconds.
    pub fn answer_late(mut self, text: &str, millis: u64) -> Self {
        self.spec
            .answers
            .push(Answer::Late(text.to_owned(), millis));
        self
    }
    /// The conversation fails at the next prompt.
    pub fn fail_conversation(mut self) -> Self {
        self.spec.answers.push(Answer::Fail);
        self
    }
    /// The conversation gives no response to the next prompt.
    pub fn null_answer(mut self) -> Self {
        self.spec.answers.push(Answer::Null);
        self
    }
    /// Runs the driver as this uid (needs root).
    pub fn as_uid(mut self, uid: u32) -> Self {
        self.spec.uid = Some(uid);
        self
    }
    /// Runs as an unprivileged uid (nobody, 65534) when the tests run as root,
    /// for modules that behave differently for root (pam_pwquality only warns
    /// when the real uid is 0).
    pub fn unprivileged(self) -> Self {
        if running_as_root() {
            self.as_uid(NOBODY)
        } else {
            self
        }
    }
    pub fn step(mut self, op: Op, flags: i32) -> Self {
        self.spec.steps.push(Step { op, flags });
        self
    }
    pub fn authenticate(self) -> Self {
        self.step(Op::Authenticate, 0)
    }
    pub fn chauthtok(self) -> Self {
        self.step(Op::Chauthtok, 0)
    }
    pub fn acct_mgmt(self) -> Self {
        self.step(Op::AcctMgmt, 0)
    }
    pub fn setcred(self) -> Self {
        self.step(Op::Setcred, flags::ESTABLISH_CRED)
    }
    /// Repeats the steps `n` times on fresh handles and records each round's time.
    pub fn repeat(mut self, n: u32) -> Self {
        self.spec.repeat = Some(n);
        self
    }
    /// With `repeat`: every round on one PAM handle, so modules are loaded once.
    pub fn same_handle(mut self) -> Self {
        self.spec.same_handle = true;
        self
    }
    /// With `repeat`: one answer per round, round i answering `answers[i]`.
    pub fn answer_per_round(mut self, answers: Vec<String>) -> Self {
        self.spec.round_answers =
            Some(answers.into_iter().map(|a| vec![Answer::Text(a)]).collect());
        self
    }
    /// Starts the driver without waiting for it, e.g. to kill it at a chosen instant.
    pub fn spawn(&self) -> std::process::Child {
        let syslog = self.syslog_path();
        let mut cmd = self.command(&syslog);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        cmd.spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", driver().display()))
    }

    fn command(&self, syslog: &Path) -> Command {
        let mut cmd = Command::new(driver());
        let json = serde_json::to_string(&self.spec).unwrap_or_default();
        // The capture file is made here, writable for a driver that drops to another uid.
        write_file(syslog, b"");
        set_mode(syslog, 0o666);
        let arg = if json.len() > 64 * 1024 {
            let file = syslog.with_extension("spec.json");
            write_file(&file, json.as_bytes());
            set_mode(&file, 0o644);
            format!("@{}", file.display())
        } else {
            json
        };
        cmd.envs(&self.spec.process_env);
        if std::env::var_os("PAM_HARNESS_DRIVER").is_none() && OWN_DRIVER.get().is_some() {
            cmd.env(AS_DRIVER, "1");
        }
        cmd.arg(arg)
            .env("LD_PRELOAD", env!("PAM_HARNESS_SYSLOG_SHIM"))
            .env("PAM_HARNESS_SYSLOG", syslog)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    fn syslog_path(&self) -> PathBuf {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        self.service
            .dir()
            .join(format!("syslog-{}-{n}", std::process::id()))
    }

    /// Runs the scenario and returns what happened. A driver that runs
    /// longer than a minute is killed and the test fails: a hang is a bug.
    pub fn run(&self) -> Outcome {
        let syslog = self.syslog_path();
        let mut cmd = self.command(&syslog);
        cmd.stdin(Stdio::null());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", driver().display()));
        let mut stdout = child.stdout.take();
        let mut stderr = child.stderr.take();
        let out = std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(s) = stdout.as_mut() {
                let _ = s.read_to_end(&mut buf);
            }
            buf
        });
        let err = std::thread::spawn(move || {
            let mut buf = String::new();
            if let Some(s) = stderr.as_mut() {
                let _ = s.read_to_string(&mut buf);
            }
            buf
        });
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "pam-drive did not finish within a minute\n--- service file ---\n{}",
                        self.service.text
                    );
                }
            }
        };
        let stdout = out.join().unwrap_or_default();
        let stderr = err.join().unwrap_or_default();
        Outcome::collect(self, &syslog, status, &stdout, stderr)
    }
}

/// Checks a race's outcomes: exactly one login won (`PAM_SUCCESS`) and every
/// other was refused (`PAM_AUTH_ERR`); a failure names the round and shows a loser.
#[track_caller]
pub fn assert_one_winner(outcomes: &[Outcome], round: usize) {
    let won = outcomes
        .iter()
        .filter(|o| o.code() == "PAM_SUCCESS")
        .count();
    assert_eq!(
        won,
        1,
        "round {round}: {won} of {} logins accepted one code\n{}",
        outcomes.len(),
        outcomes
            .iter()
            .find(|o| o.code() != "PAM_SUCCESS")
            .map_or(String::new(), |o| o.to_string())
    );
    for o in outcomes.iter().filter(|o| o.code() != "PAM_SUCCESS") {
        assert_eq!(o.code(), "PAM_AUTH_ERR", "round {round}\n{o}");
    }
}

/// Runs every scenario in its own process, all released at the same instant
/// after each has started PAM and set its items; returns the outcomes in order.
pub fn race(scenarios: &[Scenario<'_>]) -> Vec<Outcome> {
    struct Racer {
        child: Child,
        syslog: PathBuf,
        stderr: String,
    }
    let mut racers = Vec::new();
    for s in scenarios {
        let mut s = s.clone();
        s.spec.gate = true;
        let syslog = s.syslog_path();
        let mut cmd = s.command(&syslog);
        cmd.stdin(Stdio::piped());
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", driver().display()));
        racers.push(Racer {
            child,
            syslog,
            stderr: String::new(),
        });
    }
    // Wait until each driver is at its gate (it prints "ready" on stderr).
    // Byte by byte, so nothing after that line is read here and lost.
    for r in &mut racers {
        let Some(err) = r.child.stderr.as_mut() else {
            continue;
        };
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        while err.read(&mut byte).unwrap_or(0) == 1 {
            if byte[0] != b'\n' {
                line.push(byte[0]);
                continue;
            }
            if line == b"ready" {
                break;
            }
            r.stderr.push_str(&String::from_utf8_lossy(&line));
            r.stderr.push('\n');
            line.clear();
        }
    }
    // Release all at once: each sees EOF on stdin.
    for r in &mut racers {
        drop(r.child.stdin.take());
    }
    racers
        .into_iter()
        .zip(scenarios)
        .map(|(mut r, s)| {
            let mut stdout = Vec::new();
            if let Some(mut out) = r.child.stdout.take() {
                let _ = out.read_to_end(&mut stdout);
            }
            if let Some(mut err) = r.child.stderr.take() {
                let _ = err.read_to_string(&mut r.stderr);
            }
            let status = r
                .child
                .wait()
                .unwrap_or_else(|e| panic!("waiting for pam-drive: {e}"));
            Outcome::collect(s, &r.syslog, status, &stdout, r.stderr)
        })
        .collect()
}

/// One syslog record a module wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyslogLine {
    /// Facility number (LOG_AUTHPRIV is 10).
    pub facility: u32,
    /// Level (LOG_ERR is 3, LOG_INFO 6).
    pub level: u32,
    pub ident: String,
    pub message: String,
}

pub const LOG_AUTHPRIV: u32 = 10;

/// What one scenario did.
pub struct Outcome {
    pub spec: Spec,
    pub service_text: String,
    pub report: Report,
    pub status: std::process::ExitStatus,
    pub stderr: String,
    pub syslog: Vec<SyslogLine>,
}

impl Outcome {
    fn collect(
        scenario: &Scenario<'_>,
        syslog: &Path,
        status: std::process::ExitStatus,
        stdout: &[u8],
        stderr: String,
    ) -> Self {
        let lines = std::fs::read_to_string(syslog).unwrap_or_default();
        let _ = std::fs::remove_file(syslog);
        let _ = std::fs::remove_file(syslog.with_extension("spec.json"));
        let syslog = lines
            .lines()
            .filter_map(|l| {
                let mut parts = l.splitn(3, '\t');
                let (fl, ident, message) = (parts.next()?, parts.next()?, parts.next()?);
                let (f, lv) = fl.split_once('.')?;
                Some(SyslogLine {
                    facility: f.parse().ok()?,
                    level: lv.parse().ok()?,
                    ident: ident.to_owned(),
                    message: message.to_owned(),
                })
            })
            .collect();
        let report = serde_json::from_slice(stdout).unwrap_or_default();
        let out = Self {
            spec: scenario.spec.clone(),
            service_text: scenario.service.text.clone(),
            report,
            status,
            stderr,
            syslog,
        };
        if !status.success() {
            panic!("pam-drive failed\n{out}");
        }
        out
    }

    /// The name of the last call's result, e.g. "PAM_SUCCESS".
    pub fn code(&self) -> &str {
        self.report
            .results
            .last()
            .map_or(self.report.start.as_str(), |r| r.name.as_str())
    }

    /// Every call's result by name.
    pub fn codes(&self) -> Vec<&str> {
        self.report
            .results
            .iter()
            .map(|r| r.name.as_str())
            .collect()
    }

    /// Asserts the last result, showing everything on failure.
    #[track_caller]
    pub fn expect(&self, code: &str) -> &Self {
        assert_eq!(self.code(), code, "unexpected PAM result\n{self}");
        self
    }

    /// Messages of one style ("PROMPT_ECHO_OFF", "ERROR_MSG", ...), in order.
    pub fn messages(&self, style: &str) -> Vec<&str> {
        self.report
            .transcript
            .iter()
            .filter(|m| m.style == style)
            .map(|m| m.text.as_str())
            .collect()
    }

    /// Every prompt, echoed or not, in order.
    pub fn prompts(&self) -> Vec<&str> {
        self.report
            .transcript
            .iter()
            .filter(|m| m.style.starts_with("PROMPT_"))
            .map(|m| m.text.as_str())
            .collect()
    }

    pub fn errors(&self) -> Vec<&str> {
        self.messages("ERROR_MSG")
    }

    pub fn infos(&self) -> Vec<&str> {
        self.messages("TEXT_INFO")
    }

    pub fn env(&self, name: &str) -> Option<&str> {
        self.report.env.get(name).map(String::as_str)
    }

    /// Syslog messages whose text contains `needle`.
    /// The one decision line (`outcome=...`) a module logged; fails the test
    /// unless there is exactly one.
    #[track_caller]
    pub fn decision_line(&self) -> String {
        let lines = self.logged("outcome=");
        assert_eq!(lines.len(), 1, "one decision line expected\n{self}");
        lines[0].message.clone()
    }

    pub fn logged(&self, needle: &str) -> Vec<&SyslogLine> {
        self.syslog
            .iter()
            .filter(|l| l.message.contains(needle))
            .collect()
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "--- service file ---\n{}", self.service_text)?;
        writeln!(
            f,
            "--- user {:?}, items {:?}, env {:?}, answers {:?}, uid {:?}",
            self.spec.user, self.spec.items, self.spec.env, self.spec.answers, self.spec.uid
        )?;
        writeln!(f, "--- pam_start_confdir: {}", self.report.start)?;
        for r in &self.report.results {
            writeln!(f, "--- {}: {}", r.op.name(), r.name)?;
        }
        writeln!(f, "--- conversation ---")?;
        for m in &self.report.transcript {
            writeln!(f, "  {:<16} {:?}", m.style, m.text)?;
        }
        writeln!(f, "--- syslog ---")?;
        for l in &self.syslog {
            writeln!(f, "  {}.{} {} {}", l.facility, l.level, l.ident, l.message)?;
        }
        writeln!(f, "--- pam env {:?}", self.report.env)?;
        writeln!(
            f,
            "--- driver exit {} stderr ---\n{}",
            self.status, self.stderr
        )
    }
}

impl fmt::Debug for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A small deterministic generator (xorshift), so a failing generated case reproduces.
pub struct Gen(pub u64);

impl Gen {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
    /// `min` to `min + spread - 1` characters from `alphabet` (`spread` 0: exactly `min`).
    pub fn from(&mut self, alphabet: &str, min: usize, spread: usize) -> String {
        let len = min + if spread == 0 { 0 } else { self.below(spread) };
        let chars: Vec<char> = alphabet.chars().collect();
        (0..len).map(|_| chars[self.below(chars.len())]).collect()
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode));
}

/// Writes `bytes` to `path` (creating parents); a test helper for fixture files.
pub fn write_file(path: &Path, bytes: &[u8]) {
    if let Some(parent) = path.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    let mut f = std::fs::File::create(path)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
    f.write_all(bytes)
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}
