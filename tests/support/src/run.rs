//! A program run under a deadline, and what it did. Every failed check on a
//! [`Run`] prints the command line, its exit status, the files in the
//! directories its arguments name, and both output streams.

use std::fmt;
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// No run may take longer than this: a program must never wait for input it
/// cannot get, and a hang is a failure, not a stuck test.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// One finished run: the command line and everything it printed.
pub struct Run {
    /// The name its error lines start with (`name: ...`): the program's file name.
    pub name: String,
    /// The command line, program first.
    pub command: Vec<String>,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    /// The files next to the paths in its arguments when it ended.
    pub files: String,
}

impl fmt::Display for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "--- command: {}", self.command.join(" "))?;
        writeln!(f, "--- status: {}", self.status)?;
        if !self.files.is_empty() {
            write!(f, "--- files:\n{}", self.files)?;
        }
        writeln!(f, "--- stdout:\n{}", self.stdout)?;
        write!(f, "--- stderr:\n{}", self.stderr)
    }
}

impl fmt::Debug for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Run {
    /// The exit code; -1 for a program ended by a signal.
    pub fn code(&self) -> i32 {
        self.status.code().unwrap_or(-1)
    }

    #[track_caller]
    pub fn expect(&self, code: i32) -> &Self {
        assert_eq!(self.code(), code, "unexpected exit status\n{self}");
        self
    }

    /// A failure is exactly one line on stderr, `name: ...` saying `words`,
    /// and nothing on stdout.
    #[track_caller]
    pub fn expect_error(&self, code: i32, words: &str) -> &Self {
        self.expect(code);
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "expected one line on stderr\n{self}");
        assert!(
            lines[0].starts_with(&format!("{}: ", self.name)),
            "the error line does not start with \"{}: \"\n{self}",
            self.name
        );
        assert!(
            lines[0].contains(words),
            "stderr does not say \"{words}\"\n{self}"
        );
        assert!(self.stdout.is_empty(), "stdout should be empty\n{self}");
        self
    }

    /// The first stdout line that starts (after blanks) with `label`, the label taken off.
    #[track_caller]
    pub fn line(&self, label: &str) -> String {
        labelled(&self.stdout, label).unwrap_or_else(|| panic!("no {label} line\n{self}"))
    }
}

/// The first line of `text` that starts (after blanks) with `label`, without
/// the label and the blanks around the rest.
pub fn labelled(text: &str, label: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.trim().strip_prefix(label))
        .map(|rest| rest.trim().to_owned())
}

/// A started program, to finish with [`Running::finish`].
pub struct Running {
    pub child: Child,
    name: String,
    command: Vec<String>,
}

/// Starts `cmd` with stdout and stderr piped; stdin is what the caller set
/// (a `Command` inherits it by default: set it).
#[track_caller]
pub fn spawn(cmd: &mut Command) -> Running {
    let command: Vec<String> = std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let name = Path::new(cmd.get_program())
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", command.join(" ")));
    Running {
        child,
        name,
        command,
    }
}

/// Runs `cmd` (stdin /dev/null unless set) to its end, at most [`DEADLINE`].
#[track_caller]
pub fn run(cmd: &mut Command) -> Run {
    cmd.stdin(Stdio::null());
    spawn(cmd).finish()
}

/// Runs `cmd` with `input` on its stdin, at most [`DEADLINE`].
#[track_caller]
pub fn run_with_input(cmd: &mut Command, input: &[u8]) -> Run {
    cmd.stdin(Stdio::piped());
    let mut running = spawn(cmd);
    let stdin = running.child.stdin.take();
    let bytes = input.to_vec();
    // A writer of its own, so a program that prints before it reads cannot block on us.
    let writer = std::thread::spawn(move || {
        if let Some(mut stdin) = stdin {
            let _ = stdin.write_all(&bytes);
        }
    });
    let run = running.finish();
    writer.join().ok();
    run
}

impl Running {
    /// Waits at most [`DEADLINE`], killing the program and failing the test if
    /// it takes longer.
    #[track_caller]
    pub fn finish(mut self) -> Run {
        let out = self.child.stdout.take().map(read_all);
        let err = self.child.stderr.take().map(read_all);
        let start = Instant::now();
        let (status, late) = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break (status, false),
                Ok(None) if start.elapsed() <= DEADLINE => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Ok(None) => {
                    self.child.kill().ok();
                    match self.child.wait() {
                        Ok(status) => break (status, true),
                        Err(e) => panic!("waiting for {}: {e}", self.command.join(" ")),
                    }
                }
                Err(e) => panic!("waiting for {}: {e}", self.command.join(" ")),
            }
        };
        let joined = |h: Option<std::thread::JoinHandle<String>>| {
            h.and_then(|h| h.join().ok()).unwrap_or_default()
        };
        let run = Run {
            files: files_named_in(&self.command),
            name: self.name,
            command: self.command,
            status,
            stdout: joined(out),
            stderr: joined(err),
        };
        assert!(!late, "still running after {DEADLINE:?}, killed\n{run}");
        run
    }
}

fn read_all(mut stream: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        stream.read_to_end(&mut bytes).ok();
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// A directory with more names than this is not listed name by name.
const MOST_FILES: usize = 40;

/// The files (mode, owner, size, name) in each directory that holds a path
/// given as an argument, so a failure shows what the program left behind.
pub fn files_named_in(command: &[String]) -> String {
    let mut dirs: Vec<&Path> = command
        .iter()
        .skip(1)
        .map(Path::new)
        .filter(|p| p.is_absolute())
        .filter_map(|p| if p.is_dir() { Some(p) } else { p.parent() })
        .filter(|d| d.is_dir() && *d != Path::new("/") && !is_system_dir(d))
        .collect();
    dirs.sort();
    dirs.dedup();
    let mut text = String::new();
    for dir in dirs {
        text.push_str(&format!("  {}/\n", dir.display()));
        let names = crate::list(dir);
        if names.len() > MOST_FILES {
            text.push_str(&format!("    ({} names, not listed)\n", names.len()));
            continue;
        }
        for name in names {
            let path = dir.join(&name);
            match std::fs::symlink_metadata(&path) {
                Ok(m) => text.push_str(&format!(
                    "    {:04o} {}:{} {:>6} {name}\n",
                    m.mode() & 0o7777,
                    m.uid(),
                    m.gid(),
                    m.len()
                )),
                Err(e) => text.push_str(&format!("    {name}: {e}\n")),
            }
        }
    }
    text
}

/// Directories not worth listing: system ones, /tmp itself, Cargo's output.
fn is_system_dir(dir: &Path) -> bool {
    ["/bin", "/sbin", "/lib", "/etc", "/dev", "/tmp"]
        .iter()
        .any(|s| dir == Path::new(s))
        || dir.starts_with("/usr")
        || dir.starts_with("/proc")
        || dir.ends_with("target/debug")
        || dir.ends_with("target/release")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str, dir: &Path) -> Run {
        run(Command::new("sh").args(["-c", script, "sh"]).arg(dir))
    }

    #[test]
    fn a_run_shows_the_command_the_files_and_both_streams() {
        let dir = crate::Dir::new("test-support-");
        let out = sh(
            "echo out; echo err >&2; echo x > \"$1/left\"; exit 3",
            dir.path(),
        );
        assert_eq!(out.code(), 3);
        assert_eq!(
            (out.stdout.as_str(), out.stderr.as_str()),
            ("out\n", "err\n")
        );
        let shown = out.to_string();
        for part in ["--- command: sh -c echo out", "--- status: exit status: 3"] {
            assert!(shown.contains(part), "{part:?} missing from\n{shown}");
        }
        assert!(
            shown.contains("--- stdout:\nout\n\n--- stderr:\nerr\n"),
            "{shown}"
        );
        assert!(
            shown.contains(&format!("  {}/\n", dir.path().display())),
            "{shown}"
        );
        assert!(shown.contains("     2 left\n"), "{shown}");
    }

    #[test]
    fn an_error_is_one_line_that_starts_with_the_program_name() {
        let dir = crate::Dir::new("test-support-");
        sh("echo 'sh: no such thing' >&2; exit 2", dir.path()).expect_error(2, "no such thing");
        let two_lines = std::panic::catch_unwind(|| {
            sh("echo 'sh: a' >&2; echo 'b' >&2; exit 2", dir.path()).expect_error(2, "a");
        });
        assert!(two_lines.is_err());
    }

    #[test]
    fn input_reaches_stdin() {
        let out = run_with_input(&mut Command::new("cat"), b"typed\n");
        assert_eq!(out.expect(0).stdout, "typed\n");
        assert_eq!(
            labelled("  URI  otpauth://x \n", "URI").as_deref(),
            Some("otpauth://x")
        );
    }
}
