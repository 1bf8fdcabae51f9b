//! A program on a pseudo-terminal, as a person at a terminal runs it: its
//! own session with the terminal as its controlling tty, so it can read
//! answers, turn echo off and be interrupted with Ctrl-C.

use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::run::DEADLINE;

pub struct Pty {
    master: std::fs::File,
    child: Child,
    output: Arc<Mutex<Vec<u8>>>,
    /// How much of the output earlier `expect`s matched.
    seen: usize,
    command: String,
}

impl Pty {
    /// Starts `program` with `args`, its stdin, stdout and stderr the terminal.
    #[track_caller]
    pub fn spawn(program: impl AsRef<Path>, args: &[&str]) -> Pty {
        let program = program.as_ref();
        let command = std::iter::once(program.display().to_string())
            .chain(args.iter().map(|a| (*a).to_owned()))
            .collect::<Vec<_>>()
            .join(" ");
        let (mut master, mut slave) = (0, 0);
        // SAFETY: openpty writes two fds into the given ints; the name,
        // termios and winsize pointers may be null.
        let rc = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
        // SAFETY: both fds were just opened by openpty and are owned by nobody else.
        let (master, slave) =
            unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
        let dup = |fd: &OwnedFd| {
            fd.try_clone()
                .unwrap_or_else(|e| panic!("dup of the terminal: {e}"))
        };
        let mut cmd = Command::new(program);
        cmd.args(args)
            .stdin(dup(&slave))
            .stdout(dup(&slave))
            .stderr(slave);
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {command}: {e}"));
        // Our copies of the terminal's other end go, so reads end when the child exits.
        drop(cmd);
        let master = std::fs::File::from(master);
        let mut reader = master
            .try_clone()
            .unwrap_or_else(|e| panic!("dup of the terminal: {e}"));
        let output = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&output);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                match sink.lock() {
                    Ok(mut out) => out.extend_from_slice(&buf[..n]),
                    Err(_) => break,
                }
            }
        });
        Pty {
            master,
            child,
            output,
            seen: 0,
            command,
        }
    }

    /// Everything the program wrote so far, without carriage returns.
    pub fn text(&self) -> String {
        let bytes = self.output.lock().map(|o| o.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).replace('\r', "")
    }

    /// Waits until `text` appears after what was already matched; returns all
    /// the output so far.
    #[track_caller]
    pub fn expect(&mut self, text: &str) -> String {
        let start = Instant::now();
        loop {
            let all = self.text();
            if let Some(i) = all[self.seen.min(all.len())..].find(text) {
                self.seen += i + text.len();
                return all;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "waited {DEADLINE:?} for {text:?}\n{}",
                self.show(&all)
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Types `text` (a line wants its `\n`; `\x03` is Ctrl-C, `\x04` Ctrl-D).
    #[track_caller]
    pub fn send(&mut self, text: &str) {
        if let Err(e) = self.master.write_all(text.as_bytes()) {
            panic!("cannot type {text:?}: {e}\n{}", self.show(&self.text()));
        }
    }

    /// Waits for the end, at most [`DEADLINE`]: the exit code (-1 for a
    /// signal) and everything on the terminal.
    #[track_caller]
    pub fn wait(mut self) -> (i32, String) {
        let start = Instant::now();
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    // What it wrote last is still on its way through the reader thread.
                    std::thread::sleep(Duration::from_millis(50));
                    return (status.code().unwrap_or(-1), self.text());
                }
                Ok(None) if start.elapsed() <= DEADLINE => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                other => {
                    self.child.kill().ok();
                    panic!(
                        "did not end within {DEADLINE:?} ({other:?}), killed\n{}",
                        self.show(&self.text())
                    );
                }
            }
        }
    }

    fn show(&self, terminal: &str) -> String {
        format!("--- command: {}\n--- terminal:\n{terminal}", self.command)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_program_on_the_terminal_reads_what_is_typed() {
        let mut t = Pty::spawn("/bin/sh", &["-c", "read line; echo \"got $line\"; exit 4"]);
        t.send("hello\n");
        t.expect("got hello");
        assert_eq!(t.wait().0, 4);
    }
}
