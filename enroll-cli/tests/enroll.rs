//! totp-enroll as a user and a script run it: what it shows (the QR code
//! decoded back to the URI it prints), what it writes, every way it refuses,
//! and the interactive flow in a pseudo-terminal.

// clippy.toml allows these inside #[test] functions only; the helpers here
// are test code too, where a panic is how a check fails.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pam_totp::enrollment::Enrollment as SecretFile;
use pam_totp::otp;
use test_support::qr::{self, Grid};
use test_support::run::{self, Run, Running, labelled, spawn};
use test_support::{Dir, Pty, now, program_present, required_in_ci, running_as_root, settle};

const BIN: &str = env!("CARGO_BIN_EXE_totp-enroll");

// ---------------------------------------------------------------- helpers

fn dir() -> Dir {
    Dir::new("totp-enroll-test-")
}

/// totp-enroll with `args` and no terminal: stdin is /dev/null.
fn command(args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args).stdin(Stdio::null());
    cmd
}

fn run(args: &[&str]) -> Run {
    run::run(&mut command(args))
}

/// The flags that answer every question, so nothing is asked.
const SCRIPTED: &[&str] = &["-t", "-D", "-W", "-u", "-C"];

fn with(base: &[&str], more: &[&str]) -> Vec<String> {
    base.iter().chain(more).map(|s| (*s).to_owned()).collect()
}

fn run_owned(args: &[String]) -> Run {
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    run(&refs)
}

/// The `URI` line of the human output.
fn uri_in(text: &str) -> String {
    labelled(text, "URI").unwrap_or_else(|| panic!("no URI line\n{text}"))
}

fn query_param(uri: &str, name: &str) -> Option<String> {
    let query = uri.split_once('?')?.1;
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
        .map(str::to_owned)
}

fn totp_now(secret: &str) -> u32 {
    let key = otp::decode_base32(secret).unwrap();
    otp::hotp(&key, now() / 30, 6)
}

/// totp-enroll on a pseudo-terminal, as a person at a terminal runs it.
fn pty(args: &[&str]) -> Pty {
    Pty::spawn(BIN, args)
}

// ------------------------------------------------------------------ tests
// ------------------------------------------------------------------ tests

#[test]
fn terminal_qr_codes_decode_to_exactly_the_printed_uri() {
    let dir = dir();
    for (mode, read) in [
        ("utf8", qr::from_utf8 as fn(&str) -> Grid),
        ("ANSI", qr::from_ansi),
    ] {
        let secret = dir.file(mode);
        let args = with(
            SCRIPTED,
            &[
                "-s",
                &secret,
                "-Q",
                mode,
                "-i",
                "ACME Co & Sons",
                "-l",
                "jörg+ops@example.org",
            ],
        );
        let out = run_owned(&args);
        out.expect(0);
        let uri = out.line("URI");
        assert!(
            uri.starts_with(
                "otpauth://totp/ACME%20Co%20%26%20Sons:j%C3%B6rg%2Bops@example.org?secret="
            ),
            "{out}"
        );
        let grid = read(&out.stdout);
        assert!(grid.len() > 21, "no QR code found in the output\n{out}");
        assert!(
            grid.iter().all(|row| row.len() == grid.len()) || mode == "utf8",
            "{out}"
        );
        let square = qr::square(&grid);
        assert!(
            qr::quiet_zone(&square) >= 4,
            "quiet zone under 4 modules\n{out}"
        );
        assert_eq!(
            qr::decode(&square),
            uri,
            "{mode}: the QR code is not the URI\n{out}"
        );
        // The secret in the URI is the one in the file, and in the grouped key line.
        let file = std::fs::read_to_string(&secret).unwrap();
        let b32 = query_param(&uri, "secret").unwrap();
        assert_eq!(file.lines().next(), Some(b32.as_str()));
        assert_eq!(b32.len(), 32, "160-bit secret expected");
        let key_line = out
            .stdout
            .lines()
            .find_map(|l| l.trim().strip_prefix("key"))
            .unwrap()
            .trim()
            .to_owned();
        assert_eq!(key_line.replace(' ', ""), b32);
        assert!(key_line.split(' ').all(|g| g.len() == 4), "{key_line}");
    }
    // And with no drawing, nothing that looks like one.
    let none = run_owned(&with(SCRIPTED, &["-s", &dir.file("none"), "-Q", "none"]));
    none.expect(0);
    assert!(!none.stdout.contains('\x1b'), "{none}");
}

#[test]
fn png_and_svg_files_decode_to_exactly_the_printed_uri() {
    let dir = dir();
    let (png, svg) = (dir.file("code.png"), dir.file("code.svg"));
    let out = run_owned(&with(
        SCRIPTED,
        &[
            "-s",
            &dir.file("secret"),
            "--qr-png",
            &png,
            "--qr-svg",
            &svg,
        ],
    ));
    out.expect(0);
    let uri = out.line("URI");
    for f in [&png, &svg] {
        let mode = std::fs::metadata(f).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{f} holds the secret: mode 0600 expected");
    }
    let grid = qr::from_svg(&std::fs::read_to_string(&svg).unwrap());
    assert!(qr::quiet_zone(&grid) >= 4);
    assert_eq!(qr::decode(&grid), uri);
    if required_in_ci(
        program_present("zbarimg", "--version"),
        "zbarimg (zbar-tools)",
    ) {
        let z = Command::new("zbarimg")
            .args(["--raw", "-q"])
            .arg(&png)
            .output()
            .unwrap();
        assert!(z.status.success(), "zbarimg failed: {z:?}");
        assert_eq!(String::from_utf8_lossy(&z.stdout).trim_end(), uri);
    }
    // The image files are new files only: an existing one is not overwritten.
    let again = run_owned(&with(
        SCRIPTED,
        &["-s", &dir.file("secret2"), "--qr-png", &png],
    ));
    again.expect_error(1, "code.png");
    assert!(!dir.path().join("secret2").exists());
}

#[test]
fn uri_and_json_output_for_scripts() {
    let dir = dir();
    let secret = dir.file("uri");
    let out = run(&[
        "-t", "-d", "-w", "5", "-r", "4", "-R", "60", "-S", "60", "-e", "7", "-s", &secret,
        "--uri", "-i", "Example", "-l", "bob",
    ]);
    out.expect(0);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "--uri prints the URI only\n{out}");
    let uri = lines[0];
    let b32 = query_param(uri, "secret").unwrap();
    assert_eq!(
        uri,
        format!(
            "otpauth://totp/Example:bob?secret={b32}&issuer=Example&algorithm=SHA1&digits=6&period=60"
        )
    );
    let file = SecretFile::parse(&std::fs::read(&secret).unwrap()).unwrap();
    assert_eq!(file.scratch_values().len(), 7);
    assert_eq!(file.option_text("STEP_SIZE"), Some(&b"60"[..]));
    assert_eq!(file.option_text("RATE_LIMIT"), Some(&b"4 60"[..]));
    assert_eq!(file.option_text("WINDOW_SIZE"), Some(&b"5"[..]));
    assert_eq!(file.option_text("DISALLOW_REUSE"), Some(&b""[..]));

    let secret = dir.file("json");
    let out = run(&[
        "-c", "-W", "-u", "-s", &secret, "--json", "-i", "Example", "-l", "bob",
    ]);
    out.expect(0);
    let v: serde_json::Value =
        serde_json::from_str(out.stdout.trim()).unwrap_or_else(|e| panic!("not JSON: {e}\n{out}"));
    assert_eq!(out.stdout.lines().count(), 1);
    let b32 = v["secret"].as_str().unwrap();
    assert_eq!(v["type"], "hotp");
    assert_eq!(v["counter"], 1);
    assert!(v.get("period").is_none());
    assert_eq!(v["path"], secret.as_str());
    assert_eq!(v["replaced"], false);
    assert_eq!(v["window_size"], 1);
    assert_eq!(v["rate_limit"], serde_json::Value::Null);
    assert_eq!(
        v["uri"],
        format!(
            "otpauth://hotp/Example:bob?secret={b32}&issuer=Example&algorithm=SHA1&digits=6&counter=1"
        )
    );
    let text = std::fs::read_to_string(&secret).unwrap();
    let file = SecretFile::parse(&text.clone().into_bytes()).unwrap();
    assert_eq!(text.lines().next(), Some(b32));
    assert_eq!(file.option_text("HOTP_COUNTER"), Some(&b"1"[..]));
    assert_eq!(file.option_text("TOTP_AUTH"), None);
    let codes: Vec<String> = file
        .scratch_values()
        .iter()
        .map(|c| c.to_string())
        .collect();
    let listed: Vec<String> = v["scratch_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(codes, listed);
    assert_eq!(codes.len(), 5, "five scratch codes by default");

    // --quiet prints nothing at all.
    let out = run(&["-q", "-t", "-D", "-W", "-u", "-s", &dir.file("quiet")]);
    out.expect(0);
    assert!(out.stdout.is_empty() && out.stderr.is_empty(), "{out}");
    assert!(dir.path().join("quiet").exists());
}

#[test]
fn the_file_is_laid_out_like_google_authenticators() {
    let present = program_present("google-authenticator", "--help");
    if !required_in_ci(
        present,
        "google-authenticator (libpam-google-authenticator)",
    ) {
        return;
    }
    let dir = dir();
    for flags in [
        &[
            "-t", "-d", "-S", "60", "-w", "5", "-r", "3", "-R", "30", "-e", "4",
        ][..],
        &["-c", "-w", "7", "-u"],
        &["-t", "-D", "-W", "-u", "-e", "0"],
    ] {
        let (ours, theirs) = (dir.file("ours"), dir.file("theirs"));
        std::fs::remove_file(&ours).ok();
        std::fs::remove_file(&theirs).ok();
        let ga = Command::new("google-authenticator")
            .args(flags)
            .args(["-f", "-C", "-q", "-Q", "NONE", "-s", &theirs])
            .output()
            .unwrap();
        assert!(ga.status.success(), "{ga:?}");
        run_owned(&with(flags, &["-C", "-q", "-s", &ours])).expect(0);
        // Same lines apart from the random secret and scratch codes.
        let shape = |path: &str| -> Vec<String> {
            std::fs::read_to_string(path)
                .unwrap()
                .lines()
                .skip(1)
                .map(|l| {
                    if l.len() == 8 && l.bytes().all(|b| b.is_ascii_digit()) {
                        "<code>".to_owned()
                    } else {
                        l.to_owned()
                    }
                })
                .collect()
        };
        let mut expected = shape(&theirs);
        // google-authenticator leaves WINDOW_SIZE out when asked nothing about it;
        // with -w it writes the same line this program always writes.
        if !expected.iter().any(|l| l.starts_with("\" WINDOW_SIZE")) {
            expected.insert(0, "\" WINDOW_SIZE 3".into());
        }
        assert_eq!(shape(&ours), expected, "flags {flags:?}");
    }
}

#[test]
fn an_existing_enrollment_is_kept_without_force_and_replaced_atomically_with_it() {
    let dir = dir();
    let secret = dir.file("secret");
    run_owned(&with(SCRIPTED, &["-s", &secret])).expect(0);
    let before = std::fs::read(&secret).unwrap();
    let inode = std::fs::metadata(&secret).unwrap().ino();

    let refused = run_owned(&with(SCRIPTED, &["-s", &secret]));
    refused.expect_error(3, "--force");
    assert_eq!(std::fs::read(&secret).unwrap(), before);
    // Refused before anything was shown or generated.
    assert!(refused.stdout.is_empty());

    let out = run_owned(&with(SCRIPTED, &["-s", &secret, "-f", "--json"]));
    out.expect(0);
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(v["replaced"], true);
    let after = std::fs::read_to_string(&secret).unwrap();
    assert_ne!(after.as_bytes(), &before[..]);
    assert_eq!(after.lines().next(), v["secret"].as_str());
    let meta = std::fs::metadata(&secret).unwrap();
    assert_ne!(
        meta.ino(),
        inode,
        "a replace is a new inode renamed into place"
    );
    assert_eq!(meta.permissions().mode() & 0o7777, 0o600);
    assert_eq!(dir.list(), ["secret"], "no temporary files left");

    // A symlink or directory in the way is never replaced.
    let link = dir.file("link");
    std::os::unix::fs::symlink(&secret, &link).unwrap();
    run_owned(&with(SCRIPTED, &["-s", &link])).expect_error(3, "already exists");
    run_owned(&with(SCRIPTED, &["-s", &link, "-f"])).expect_error(1, "not a regular file");
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), after);
    // A file the modules would refuse (loose mode) is not silently replaced.
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    run_owned(&with(SCRIPTED, &["-s", &secret, "-f"])).expect_error(1, "mode 0644");
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), after);
    // A file written by google-authenticator (mode 0400) is replaced, keeping its mode.
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o400)).unwrap();
    run_owned(&with(SCRIPTED, &["-s", &secret, "-f"])).expect(0);
    assert_ne!(std::fs::read_to_string(&secret).unwrap(), after);
    let mode = std::fs::metadata(&secret).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o400);
}

/// Runs with the file size limit at `bytes`: writes past it fail (EFBIG),
/// as they would on a full disk.
fn run_with_file_size_limit(args: &[String], bytes: u64) -> Run {
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut cmd = command(&refs);
    // SAFETY: between fork and exec only async-signal-safe calls are made
    // (setrlimit, signal), on values prepared before the fork.
    unsafe {
        cmd.pre_exec(move || {
            let limit = libc::rlimit {
                rlim_cur: bytes,
                rlim_max: bytes,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // Without this, exceeding the limit kills the process.
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            Ok(())
        });
    }
    run::run(&mut cmd)
}

#[test]
fn a_failed_write_leaves_the_old_enrollment_and_no_new_file() {
    let dir = dir();
    let secret = dir.file("secret");
    // No file yet: a write that fails leaves none.
    let out = run_with_file_size_limit(&with(SCRIPTED, &["-s", &secret, "--json"]), 20);
    out.expect_error(1, "File too large");
    assert!(dir.list().is_empty(), "{:?}", dir.list());

    run_owned(&with(SCRIPTED, &["-s", &secret])).expect(0);
    let before = std::fs::read(&secret).unwrap();
    let out = run_with_file_size_limit(&with(SCRIPTED, &["-s", &secret, "--force"]), 20);
    out.expect(1);
    assert!(out.stderr.contains("File too large"), "{out}");
    assert_eq!(
        std::fs::read(&secret).unwrap(),
        before,
        "the old file must be intact"
    );
    assert_eq!(dir.list(), ["secret"]);
}

#[test]
fn a_directory_that_takes_no_new_files_is_refused_before_anything_is_shown() {
    let dir = dir();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let locked = dir.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o555)).unwrap();
    let secret = locked.join("secret").display().to_string();
    let mut args = with(SCRIPTED, &["-s", &secret]);
    if running_as_root() {
        // Root writes anywhere; nobody may not write in a root-owned 0555 directory.
        args.extend(["--user".to_owned(), "nobody".to_owned()]);
    }
    let out = run_owned(&args);
    out.expect_error(1, "cannot write in");
    assert!(out.stderr.contains("Permission denied"), "{out}");
    assert_eq!(std::fs::read_dir(&locked).unwrap().count(), 0);

    let missing = dir.file("missing/secret");
    run_owned(&with(SCRIPTED, &["-s", &missing])).expect_error(1, "does not exist");

    if running_as_root() {
        // A directory nobody cannot even look into.
        let closed = dir.path().join("closed");
        std::fs::create_dir(&closed).unwrap();
        std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o700)).unwrap();
        let secret = closed.join("secret").display().to_string();
        run_owned(&with(SCRIPTED, &["-s", &secret, "--user", "nobody"]))
            .expect_error(1, "cannot examine");
        assert_eq!(std::fs::read_dir(&closed).unwrap().count(), 0);
    }
}

/// Runs `sh -c script` with `args` in a private mount namespace, where the
/// script may mount file systems that vanish with it; `None` (with a note)
/// where that is not possible (it needs root).
fn in_mount_namespace(script: &str, args: &[&str]) -> Option<Run> {
    let possible = running_as_root()
        && Command::new("unshare")
            .args(["-m", "true"])
            .status()
            .is_ok_and(|s| s.success());
    if !possible {
        eprintln!("skipped: needs root and unshare(1) for a private mount namespace");
        return None;
    }
    let mut all = vec!["-m", "sh", "-c", script, "sh"];
    all.extend(args);
    let mut out = run::run(Command::new("unshare").args(&all));
    // Its error lines are totp-enroll's.
    out.name = "totp-enroll".to_owned();
    Some(out)
}

#[test]
fn a_read_only_file_system_is_refused_and_the_old_file_kept() {
    let dir = dir();
    let secret = dir.file("secret");
    run_owned(&with(SCRIPTED, &["-s", &secret])).expect(0);
    let before = std::fs::read(&secret).unwrap();
    let d = dir.path().display().to_string();
    // The directory, bind-mounted read-only onto itself.
    let read_only =
        r#"mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@""#;
    for (name, force) in [("new", false), ("secret", true)] {
        let path = dir.file(name);
        let mut args = vec![d.as_str(), BIN, "-s", &path];
        args.extend(SCRIPTED);
        if force {
            args.push("--force");
        }
        let Some(out) = in_mount_namespace(read_only, &args) else {
            return;
        };
        out.expect_error(1, "Read-only file system");
    }
    assert_eq!(std::fs::read(&secret).unwrap(), before);
    assert_eq!(dir.list(), ["secret"]);
}

#[test]
fn a_full_file_system_fails_the_write_and_keeps_the_old_file() {
    let dir = dir();
    let d = dir.path().display().to_string();
    // A small tmpfs: enroll, fill it up, then try to replace the enrollment.
    let script = r#"
        set -e
        mount -t tmpfs -o size=64k tmpfs "$1"
        "$2" -t -D -W -u -C -q -s "$1/secret"
        before=$(cat "$1/secret")
        dd if=/dev/zero of="$1/fill" bs=4096 2>/dev/null || true
        set +e
        "$2" -t -D -W -u -C --json --force -s "$1/secret"
        echo "exit=$?"
        [ "$(cat "$1/secret")" = "$before" ] && echo "old file intact"
        rm "$1/fill"
        echo "left: $(ls -A "$1" | tr '\n' ' ')"
    "#;
    let Some(out) = in_mount_namespace(script, &[&d, BIN]) else {
        return;
    };
    out.expect(0);
    assert!(out.stdout.contains("exit=1\n"), "{out}");
    assert!(out.stdout.contains("old file intact\n"), "{out}");
    assert!(out.stdout.contains("left: secret \n"), "{out}");
    assert!(
        !out.stdout.contains('{'),
        "no JSON for a failed enrollment\n{out}"
    );
    let errors: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(errors.len(), 1, "{out}");
    assert!(
        errors[0].starts_with("totp-enroll: ") && errors[0].contains("No space left on device"),
        "{out}"
    );
}

#[test]
fn bad_options_are_one_line_and_exit_2_and_write_nothing() {
    let dir = dir();
    let secret = dir.file("secret");
    let long_issuer = "x".repeat(3000);
    for (args, words) in [
        (&["-t", "-c"][..], "cannot be used with"),
        (&["-c", "-d"], "cannot be used with"),
        (&["-c", "-S", "30"], "cannot be used with"),
        (&["-d", "-D"], "cannot be used with"),
        (&["-r", "3"], "--rate-time"),
        (&["-R", "30"], "--rate-limit"),
        (&["-u", "-r", "3", "-R", "30"], "cannot be used with"),
        (&["-w", "0"], "1..=21"),
        (&["-w", "22"], "1..=21"),
        (&["-w", "3", "-W"], "cannot be used with"),
        (&["-r", "11", "-R", "30"], "1..=10"),
        (&["-r", "3", "-R", "14"], "15..=600"),
        (&["-S", "61"], "1..=60"),
        (&["-e", "11"], "0..=10"),
        (&["-Q", "sixel"], "unknown QR mode"),
        (&["--uri", "--json"], "cannot be used with"),
        (&["-q", "--json"], "cannot be used with"),
        (&["--new-scratch-codes", "-t"], "cannot be used with"),
        (&["--bogus"], "--bogus"),
        (&["-t", "-t"], "multiple times"),
        (&["-l", "a:b"], "':'"),
        (&["-i", ""], "empty"),
        (&["--user", "no-such-user-here"], "no user named"),
        (&["-s", ""], "does not name a file"),
        (&["-s", "/tmp/"], "does not name a file"),
        (
            &["-t", "-D", "-W", "-u", "-i", &long_issuer],
            "does not fit in a QR code",
        ),
    ] {
        let mut all = with(args, &[]);
        if !args.contains(&"-s") {
            all.extend(with(&["-s", &secret], &[]));
        }
        // So that the refusal is not about the missing confirmation terminal:
        all.push("-C".to_owned());
        let out = run_owned(&all);
        out.expect_error(2, words);
        assert!(dir.list().is_empty(), "{out}");
    }
}

#[test]
fn without_a_terminal_open_questions_fail_at_once_instead_of_waiting() {
    let dir = dir();
    let secret = dir.file("secret");
    // stdin is a pipe that stays open: a program that waited for it would hang.
    for (args, missing) in [
        (vec![], "--time-based or --counter-based"),
        (vec!["-t", "-d", "-W", "-u"], "--no-confirm"),
        (
            vec!["-t", "-W", "-u", "-C"],
            "--disallow-reuse or --allow-reuse",
        ),
        (vec!["-c", "-u", "-C"], "--window-size or --minimal-window"),
        (
            vec!["-t", "-D", "-W", "-C"],
            "--rate-limit and --rate-time, or --no-rate-limit",
        ),
    ] {
        let mut all = args.clone();
        all.extend(["-s", &secret]);
        let mut running = spawn(command(&all).stdin(Stdio::piped()));
        let stdin = running.child.stdin.take();
        let out = running.finish();
        drop(stdin);
        out.expect_error(2, "not a terminal");
        assert!(out.stderr.contains(missing), "{out}");
        assert!(dir.list().is_empty());
    }
}

#[test]
fn only_root_enrolls_someone_else() {
    let dir = dir();
    let secret = dir.file("secret");
    let args = [
        "--user", "root", "-s", &secret, "-t", "-D", "-W", "-u", "-C",
    ];
    let out = if running_as_root() {
        // Run as nobody: from a copy of the program nobody can reach, in a
        // directory nobody may write, so the refusal is the only thing in the way.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let copy = dir.path().join("totp-enroll");
        std::fs::copy(BIN, &copy).unwrap();
        let mut cmd = Command::new(&copy);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .uid(65534)
            .gid(65534);
        run::run(&mut cmd)
    } else {
        run(&args)
    };
    out.expect_error(4, "only root");
    assert!(!Path::new(&secret).exists());
}

#[test]
fn new_scratch_codes_replace_the_old_ones_and_keep_the_secret() {
    let dir = dir();
    let secret = dir.file("secret");
    run(&[
        "-t", "-d", "-w", "5", "-r", "3", "-R", "30", "-e", "3", "-C", "-q", "-s", &secret,
    ])
    .expect(0);
    let before = std::fs::read_to_string(&secret).unwrap();
    let old = SecretFile::parse(&before.clone().into_bytes())
        .unwrap()
        .scratch_values();
    assert_eq!(old.len(), 3);

    let out = run(&["--new-scratch-codes", "-e", "7", "-s", &secret, "--json"]);
    out.expect(0);
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    let after = std::fs::read_to_string(&secret).unwrap();
    let file = SecretFile::parse(&after.clone().into_bytes()).unwrap();
    let listed: Vec<u32> = v["scratch_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(file.scratch_values(), listed);
    assert_eq!(listed.len(), 7);
    assert!(listed.iter().all(|c| !old.contains(c)));
    // Everything but the codes is as it was.
    let keep = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| !(l.len() == 8 && l.bytes().all(|b| b.is_ascii_digit())))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(keep(&after), keep(&before));
    assert_eq!(dir.list(), ["secret"]);

    // The human form shows them; with none enrolled it is refused.
    let out = run(&["--new-scratch-codes", "-s", &secret]);
    out.expect(0);
    let shown: Vec<u32> = out
        .stdout
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    assert_eq!(
        shown,
        SecretFile::parse(&std::fs::read(&secret).unwrap())
            .unwrap()
            .scratch_values()
    );
    assert_eq!(shown.len(), 5);
    run(&["--new-scratch-codes", "-s", &dir.file("nobody-here")]).expect_error(3, "not enrolled");
    // A file that is not a secret file is left alone.
    std::fs::write(dir.file("junk"), "!!\n").unwrap();
    std::fs::set_permissions(dir.file("junk"), std::fs::Permissions::from_mode(0o600)).unwrap();
    run(&["--new-scratch-codes", "-s", &dir.file("junk")])
        .expect_error(1, "not a valid secret file");
    assert_eq!(std::fs::read_to_string(dir.file("junk")).unwrap(), "!!\n");
    // Nor is one whose scratch codes come after a line the modules stop at.
    let odd = "JBSWY3DPEHPK3PXP\n\" TOTP_AUTH\nnote to self\n11111111\n";
    std::fs::write(dir.file("odd"), odd).unwrap();
    std::fs::set_permissions(dir.file("odd"), std::fs::Permissions::from_mode(0o600)).unwrap();
    run(&["--new-scratch-codes", "-s", &dir.file("odd")]).expect_error(1, "neither an option nor");
    assert_eq!(std::fs::read_to_string(dir.file("odd")).unwrap(), odd);
}

#[test]
fn help_names_every_flag_and_the_exit_codes() {
    let out = run(&["--help"]);
    out.expect(0);
    for flag in [
        "-t, --time-based",
        "-c, --counter-based",
        "-d, --disallow-reuse",
        "-D, --allow-reuse",
        "-f, --force",
        "-l, --label",
        "-i, --issuer",
        "-q, --quiet",
        "-Q, --qr-mode",
        "-r, --rate-limit",
        "-R, --rate-time",
        "-u, --no-rate-limit",
        "-s, --secret",
        "-S, --step-size",
        "-w, --window-size",
        "-W, --minimal-window",
        "-e, --emergency-codes",
        "-C, --no-confirm",
        "--user",
        "--qr-png",
        "--qr-svg",
        "--uri",
        "--json",
        "--new-scratch-codes",
        "--show",
        "--remove",
        "--upgrade",
        "--owner",
        "--config",
        "Exit status",
    ] {
        assert!(out.stdout.contains(flag), "--help lacks {flag}\n{out}");
    }
    let v = run(&["--version"]);
    v.expect(0);
    assert!(v.stdout.starts_with("totp-enroll "), "{v}");
}

#[test]
fn interactive_enrollment_asks_checks_the_code_then_saves() {
    settle(8);
    let dir = dir();
    let secret = dir.file("secret");
    let mut t = pty(&["-s", &secret, "-i", "Example", "-l", "carol"]);
    t.expect("time-based (what authenticator apps show)? [Y/n]");
    t.send("\n"); // Enter: yes
    t.expect("Refuse codes that were already used? [Y/n]");
    t.send("y\n");
    t.expect("Accept codes up to 240 seconds off? [y/N]");
    t.send("y\n"); // the wider window
    t.expect("3 login attempts every 30 seconds? [Y/n]");
    t.send("maybe\n");
    t.expect("Please answer y or n.");
    t.send("yes\n");
    let shown = t.expect("code the app shows: ");
    assert!(
        !dir.path().join("secret").exists(),
        "nothing is saved before the code"
    );
    let uri = uri_in(&shown);
    let b32 = query_param(&uri, "secret").unwrap();
    assert_eq!(qr::decode(&qr::square(&qr::from_utf8(&shown))), uri);
    let right = totp_now(&b32);
    t.send("12345\n");
    t.expect("not a 6-digit code (2 tries left)");
    t.send(&format!("{:06}\n", (right + 500_000) % 1_000_000));
    t.expect("does not match (1 try left)");
    t.send(&format!("{:03} {:03}\n", right / 1000, right % 1000));
    t.expect("Code confirmed.");
    let (code, text) = t.wait();
    assert_eq!(code, 0, "{text}");
    let file = SecretFile::parse(&std::fs::read(&secret).unwrap()).unwrap();
    assert_eq!(file.option_text("WINDOW_SIZE"), Some(&b"17"[..]));
    assert_eq!(file.option_text("RATE_LIMIT"), Some(&b"3 30"[..]));
    assert!(file.option_text("TOTP_AUTH").is_some());
    // The confirmed code's step is spent: it cannot be replayed for a login.
    let step = String::from_utf8(file.option_text("DISALLOW_REUSE").unwrap().to_vec()).unwrap();
    assert_eq!(step, (now() / 30).to_string(), "{text}");
    // The scratch codes shown are those saved, shown once, after saving.
    let after_saved = text
        .split("Saved ")
        .nth(1)
        .unwrap_or_else(|| panic!("{text}"));
    let shown: Vec<u32> = after_saved
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    assert_eq!(shown, file.scratch_values());
    assert_eq!(shown.len(), 5);
    let mode = std::fs::metadata(&secret).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o600);
}

#[test]
fn interactive_wrong_codes_or_end_of_input_save_nothing() {
    let dir = dir();
    let secret = dir.file("secret");
    let png = dir.file("code.png");
    let mut t = pty(&["-t", "-D", "-W", "-u", "-s", &secret, "--qr-png", &png]);
    let shown = t.expect("code the app shows: ");
    assert!(
        Path::new(&png).exists(),
        "the PNG is there to scan while the code is asked"
    );
    let right = totp_now(&query_param(&uri_in(&shown), "secret").unwrap());
    for _ in 0..3 {
        t.send(&format!("{:06}\n", (right + 500_000) % 1_000_000));
    }
    let (code, text) = t.wait();
    assert_eq!(code, 5, "{text}");
    assert!(
        text.contains("not confirmed in 3 tries; nothing was saved"),
        "{text}"
    );
    assert!(
        dir.list().is_empty(),
        "nothing saved, the PNG removed: {:?}",
        dir.list()
    );

    // Ctrl-C at the code prompt: the PNG goes too.
    let mut t = pty(&["-t", "-D", "-W", "-u", "-s", &secret, "--qr-png", &png]);
    t.expect("code the app shows: ");
    assert!(Path::new(&png).exists());
    t.send("\x03");
    let (code, text) = t.wait();
    assert_eq!(code, -1, "ended by SIGINT expected\n{text}");
    assert!(dir.list().is_empty(), "{:?}", dir.list());

    // End of input (Ctrl-D) at a question, and at the code prompt.
    let mut t = pty(&["-s", &secret]);
    t.expect("time-based");
    t.send("\x04");
    let (code, text) = t.wait();
    assert_eq!(code, 5, "{text}");
    assert!(text.contains("input ended"), "{text}");
    let mut t = pty(&["-c", "-W", "-u", "-s", &secret]);
    t.expect("Press the app's button");
    t.send("\x04");
    let (code, text) = t.wait();
    assert_eq!(code, 5, "{text}");
    assert!(dir.list().is_empty());
}

#[test]
fn interactive_counter_based_confirmation_moves_the_counter_past_the_code() {
    let dir = dir();
    let secret = dir.file("secret");
    let mut t = pty(&["-c", "-u", "-s", &secret]);
    t.expect("Accept the next 17 codes? [y/N]");
    t.send("\n"); // Enter: no, the next 3
    let shown = t.expect("Press the app's button");
    let uri = uri_in(&shown);
    assert!(uri.contains("&counter=1"), "{uri}");
    let key = otp::decode_base32(&query_param(&uri, "secret").unwrap()).unwrap();
    // An app that counts from 1 before showing its first code shows counter 2's.
    t.send(&format!("{:06}\n", otp::hotp(&key, 2, 6)));
    t.expect("Code confirmed.");
    let (code, text) = t.wait();
    assert_eq!(code, 0, "{text}");
    let file = SecretFile::parse(&std::fs::read(&secret).unwrap()).unwrap();
    assert_eq!(file.option_text("HOTP_COUNTER"), Some(&b"3"[..]));
    assert_eq!(file.option_text("WINDOW_SIZE"), Some(&b"3"[..]));
}

#[test]
fn secret_paths_expand_like_the_modules_secret_option() {
    let dir = dir();
    let user = pam_totp::store::account_by_uid(std::fs::metadata("/proc/self").unwrap().uid())
        .unwrap()
        .unwrap()
        .name;
    let template = format!("{}/${{USER}}.totp", dir.path().display());
    let out = run_owned(&with(SCRIPTED, &["-s", &template, "--json"]));
    out.expect(0);
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(
        v["path"],
        dir.file(&format!("{user}.totp")).as_str(),
        "{out}"
    );
    // A relative path is taken from the current directory.
    let mut cmd = command(&["-t", "-D", "-W", "-u", "-C", "-s", "relative", "--json"]);
    cmd.current_dir(dir.path());
    let out = run::run(&mut cmd);
    out.expect(0);
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(v["path"], dir.file("relative").as_str(), "{out}");
}

#[test]
fn concurrent_enrollments_never_replace_each_other_without_force() {
    let dir = dir();
    let secret = dir.file("secret");
    let runs: Vec<Running> = (0..6)
        .map(|_| {
            spawn(&mut command(&[
                "-t", "-D", "-W", "-u", "-C", "-s", &secret, "--json",
            ]))
        })
        .collect();
    let outs: Vec<Run> = runs.into_iter().map(Running::finish).collect();
    let winners: Vec<&Run> = outs.iter().filter(|o| o.code() == 0).collect();
    assert_eq!(winners.len(), 1, "exactly one enrollment may win");
    for o in outs.iter().filter(|o| o.code() != 0) {
        o.expect_error(3, "already exists");
    }
    let v: serde_json::Value = serde_json::from_str(winners[0].stdout.trim()).unwrap();
    let file = std::fs::read_to_string(&secret).unwrap();
    assert_eq!(file.lines().next(), v["secret"].as_str());

    // With --force they all succeed, one after another; the file is whole and one of theirs.
    let runs: Vec<Running> = (0..6)
        .map(|_| {
            spawn(&mut command(&[
                "-t", "-D", "-W", "-u", "-C", "-s", &secret, "--json", "-f",
            ]))
        })
        .collect();
    let secrets: Vec<String> = runs
        .into_iter()
        .map(|c| {
            let o = c.finish();
            o.expect(0);
            let v: serde_json::Value = serde_json::from_str(o.stdout.trim()).unwrap();
            v["secret"].as_str().unwrap().to_owned()
        })
        .collect();
    let file = SecretFile::parse(&std::fs::read(&secret).unwrap()).unwrap();
    let text = String::from_utf8(file.encode().to_vec()).unwrap();
    assert!(
        secrets.iter().any(|s| text.starts_with(&format!("{s}\n"))),
        "{text}"
    );
    assert_eq!(file.scratch_values().len(), 5, "{text}");
    assert_eq!(dir.list(), ["secret"]);
}

/// As root for a user, the QR image files are made with the user's
/// identity: a symlink the user plants in their own tree cannot aim root's
/// create (or unlink) at a directory the user could not write to.
#[test]
fn qr_image_files_are_made_as_the_target_user() {
    if !running_as_root() {
        eprintln!("skipped: needs root (totp-enroll --user)");
        return;
    }
    let dir = dir();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let nobody = pam_totp::store::account_by_name("nobody").unwrap().unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir(&home).unwrap();
    std::os::unix::fs::chown(&home, Some(nobody.uid), Some(nobody.gid)).unwrap();
    let guarded = dir.path().join("guarded");
    std::fs::create_dir(&guarded).unwrap();
    std::fs::set_permissions(&guarded, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::symlink(&guarded, home.join("link")).unwrap();

    let secret = home.join("secret").display().to_string();
    let aimed = home.join("link/qr.png").display().to_string();
    let out = run_owned(&with(
        SCRIPTED,
        &["-s", &secret, "--user", "nobody", "--qr-png", &aimed],
    ));
    out.expect_error(1, "cannot open the directory of");
    assert_eq!(std::fs::read_dir(&guarded).unwrap().count(), 0, "{out}");
    assert!(!home.join("secret").exists(), "{out}");

    let png = home.join("qr.png");
    run_owned(&with(
        SCRIPTED,
        &[
            "-s",
            &secret,
            "--user",
            "nobody",
            "--qr-png",
            &png.display().to_string(),
        ],
    ))
    .expect(0);
    let meta = std::fs::metadata(&png).unwrap();
    assert_eq!((meta.uid(), meta.mode() & 0o777), (nobody.uid, 0o600));
}

/// A lock held on the enrollment makes totp-enroll say it is busy after a
/// bounded wait, instead of hanging.
#[test]
fn a_held_lock_makes_totp_enroll_say_the_enrollment_is_busy() {
    let dir = dir();
    let secret = dir.file("secret");
    run_owned(&with(SCRIPTED, &["-s", &secret, "-Q", "NONE"])).expect(0);
    let before = std::fs::read(&secret).unwrap();
    let holder = std::fs::File::open(&secret).unwrap();
    holder.lock().unwrap();
    let started = Instant::now();
    run(&["--new-scratch-codes", "-s", &secret]).expect_error(1, "is busy");
    assert!(started.elapsed() < Duration::from_secs(10));
    drop(holder);
    assert_eq!(std::fs::read(&secret).unwrap(), before);
}

// ------------------------------------- an existing enrollment, the admin's minimums

/// A scripted time-based enrollment at `secret`; its base32 secret.
fn enroll_scripted(secret: &str, more: &[&str]) -> String {
    let mut base = vec!["-t", "-D", "-u", "-C", "--json", "-s", secret];
    if !more.contains(&"-w") {
        base.push("-W");
    }
    let out = run_owned(&with(&base, more));
    out.expect(0);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    json["secret"].as_str().unwrap().to_owned()
}

/// A minimums file (mode 0644, owned by whoever runs the test).
fn minimums_file(dir: &Dir, text: &str) -> String {
    let p = dir.file("pam_totp.conf");
    std::fs::write(&p, text).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
    p
}

/// Draws a module grid as a PGM image (4 pixels a module, 4 modules of
/// quiet zone), for zbarimg.
fn grid_to_pgm(grid: &Grid, path: &str) {
    let (scale, quiet) = (4, 4);
    let n = grid.len() + 2 * quiet;
    let side = n * scale;
    let mut img = format!("P5\n{side} {side}\n255\n").into_bytes();
    for y in 0..side {
        for x in 0..side {
            let (gy, gx) = (
                (y / scale).wrapping_sub(quiet),
                (x / scale).wrapping_sub(quiet),
            );
            let dark = grid
                .get(gy)
                .and_then(|r| r.get(gx))
                .copied()
                .unwrap_or(false);
            img.push(if dark { 0 } else { 255 });
        }
    }
    std::fs::write(path, img).unwrap();
}

#[test]
fn show_after_a_current_code_shows_the_enrolled_secret_and_changes_nothing() {
    settle(6);
    let dir = dir();
    let secret = dir.file("secret");
    let b32 = enroll_scripted(&secret, &["-i", "Example", "-l", "dave"]);
    let before = std::fs::read(&secret).unwrap();
    let mut t = pty(&["--show", "-s", &secret, "-i", "Example", "-l", "dave"]);
    t.expect("code the app shows now: ");
    let right = totp_now(&b32);
    t.send(&format!("{:06}\n", (right + 1) % 1_000_000));
    t.expect("does not match");
    t.send(&format!("{right:06}\n"));
    let (code, text) = t.wait();
    assert_eq!(code, 0, "{text}");
    let shown = text.rsplit("code the app shows now: ").next().unwrap();
    let uri = uri_in(shown);
    assert_eq!(
        query_param(&uri, "secret").as_deref(),
        Some(b32.as_str()),
        "{text}"
    );
    let grid = qr::square(&qr::from_utf8(shown));
    assert_eq!(qr::decode(&grid), uri);
    assert!(text.contains("reuse    allowed"), "{text}");
    if required_in_ci(
        program_present("zbarimg", "--version"),
        "zbarimg (zbar-tools)",
    ) {
        let pgm = dir.file("shown.pgm");
        grid_to_pgm(&grid, &pgm);
        let z = Command::new("zbarimg")
            .args(["--raw", "-q", &pgm])
            .output()
            .unwrap();
        assert!(z.status.success(), "zbarimg failed: {z:?}");
        assert_eq!(String::from_utf8_lossy(&z.stdout).trim_end(), uri);
    }
    assert_eq!(
        std::fs::read(&secret).unwrap(),
        before,
        "--show changed the file"
    );
}

#[test]
fn show_refuses_to_print_a_secret_into_a_pipe_and_needs_an_enrollment() {
    let dir = dir();
    let secret = dir.file("secret");
    let out = run(&["--show", "-s", &secret]);
    out.expect_error(2, "not a terminal");
    enroll_scripted(&secret, &[]);
    let out = run(&["--show", "-s", &secret]);
    out.expect_error(2, "not a terminal");
    assert!(!out.stdout.contains("otpauth"), "{out}");
    // On a terminal, with no enrollment: not enrolled.
    let mut t = pty(&["--show", "-s", &dir.file("none")]);
    let (code, text) = {
        t.expect("not enrolled");
        t.wait()
    };
    assert_eq!(code, 3, "{text}");
}

#[test]
fn remove_needs_a_current_code_and_then_removes_the_file() {
    settle(8);
    let dir = dir();
    let secret = dir.file("secret");
    let b32 = enroll_scripted(&secret, &[]);
    let mut t = pty(&["--remove", "-s", &secret]);
    for _ in 0..3 {
        t.expect("code the app shows now: ");
        t.send("000000\n");
    }
    let (code, text) = t.wait();
    assert_eq!(code, 5, "{text}");
    assert!(
        Path::new(&secret).exists(),
        "removed without a code\n{text}"
    );
    let mut t = pty(&["--remove", "-s", &secret]);
    t.expect("code the app shows now: ");
    t.send(&format!("{:06}\n", totp_now(&b32)));
    let (code, text) = t.wait();
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("is no longer enrolled"), "{text}");
    assert!(!Path::new(&secret).exists(), "{text}");
    assert!(dir.list().is_empty(), "{:?}", dir.list());
    // Nothing left to remove.
    let mut t = pty(&["--remove", "-s", &secret]);
    t.expect("not enrolled");
    assert_eq!(t.wait().0, 3);
}

#[test]
fn the_admins_minimums_fix_answers_and_refuse_flags_below_them() {
    let dir = dir();
    let conf = minimums_file(
        &dir,
        "require_disallow_reuse\nmax_window_size = 3\nrequire_rate_limit = 2/60\n\
         refuse_hotp\nrefuse_scratch_codes\nmin_secret_bits = 256\n",
    );
    for (flags, words) in [
        (&["-t", "-D", "-W", "-u", "-C"][..], "--allow-reuse"),
        (&["-t", "-d", "-w", "5", "-u", "-C"][..], "at most 3 codes"),
        (&["-t", "-d", "-W", "-u", "-C"][..], "--no-rate-limit"),
        (
            &["-t", "-d", "-W", "-r", "3", "-R", "60", "-C"][..],
            "at most 2 attempts per 60",
        ),
        (&["-c", "-W", "-u", "-C"][..], "counter-based"),
        (
            &["-t", "-d", "-W", "-e", "2", "-C"][..],
            "scratch codes are not allowed",
        ),
    ] {
        let secret = dir.file("refused");
        let out = run_owned(&with(flags, &["--config", &conf, "-s", &secret]));
        out.expect_error(2, words);
        assert!(out.stderr.contains(&conf), "the file is named\n{out}");
        assert!(!Path::new(&secret).exists());
    }
    // The questions the minimums answer are not asked: no terminal needed for them.
    let secret = dir.file("secret");
    let out = run(&["-C", "--json", "--config", &conf, "-s", &secret]);
    out.expect(0);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(json["disallow_reuse"], true, "{out}");
    assert_eq!(json["window_size"], 3, "{out}");
    assert_eq!(json["rate_limit"]["attempts"], 2, "{out}");
    assert_eq!(
        json["scratch_codes"].as_array().map(Vec::len),
        Some(0),
        "{out}"
    );
    assert!(
        json["fixed_by_admin"].as_array().unwrap().len() >= 4,
        "{out}"
    );
    let file = SecretFile::parse(&std::fs::read(&secret).unwrap()).unwrap();
    let m =
        pam_totp::config::read(&pam_totp::config::Source::Named(conf.clone().into()), &[]).unwrap();
    assert_eq!(m.shortfalls(&file), vec![], "written below the minimums");
    assert!(file.key().as_bytes().len() >= 32);
    // A broken minimums file stops totp-enroll too.
    std::fs::write(&conf, "max_window_size = lots\n").unwrap();
    run(&["-C", "--json", "--config", &conf, "-s", &dir.file("other")])
        .expect_error(1, "line 1: bad value \"lots\" for max_window_size");
}

#[test]
fn upgrade_raises_a_weak_file_to_the_minimums_keeping_the_secret() {
    settle(6);
    let dir = dir();
    let secret = dir.file("secret");
    let b32 = enroll_scripted(&secret, &["-w", "17", "-e", "2"]);
    let conf = minimums_file(
        &dir,
        "require_disallow_reuse\nmax_window_size=3\nrequire_rate_limit=3/30\nrefuse_scratch_codes\n",
    );
    let mut t = pty(&["--upgrade", "--config", &conf, "-s", &secret]);
    t.expect("code the app shows now: ");
    t.send(&format!("{:06}\n", totp_now(&b32)));
    let (code, text) = t.wait();
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("was: WINDOW_SIZE 17"), "{text}");
    let file = SecretFile::parse(&std::fs::read(&secret).unwrap()).unwrap();
    assert_eq!(file.key().to_base32().as_str(), b32);
    assert_eq!(file.window(), 3);
    assert!(file.used_steps().is_some() && file.scratch_codes().is_empty());
    assert_eq!(file.option_text("RATE_LIMIT"), Some(&b"3 30"[..]));
    // Already there: nothing to do, nothing asked.
    let out = run(&["--upgrade", "--config", &conf, "-s", &secret]);
    out.expect(0);
    assert!(out.stdout.contains("already meets"), "{out}");
    // A secret shorter than the minimum needs a new enrollment.
    std::fs::write(&conf, "min_secret_bits=512\n").unwrap();
    run(&["--upgrade", "--config", &conf, "-s", &secret]).expect_error(6, "new enrollment");
}

#[test]
fn owner_is_for_root_and_a_store_outside_homes() {
    let dir = dir();
    if running_as_root() {
        run(&["--owner", "root", "-t", "-D", "-W", "-u", "-C", "-q"])
            .expect_error(2, "outside the user's home");
        run(&[
            "--owner",
            "no-such-user-x",
            "-s",
            &dir.file("s"),
            "-t",
            "-D",
            "-W",
            "-u",
            "-C",
        ])
        .expect_error(2, "no user named");
    } else {
        run(&[
            "--owner",
            "root",
            "-s",
            &dir.file("s"),
            "-t",
            "-D",
            "-W",
            "-u",
            "-C",
        ])
        .expect_error(4, "only root");
    }
}

#[test]
fn root_shows_a_users_enrollment_with_force_without_their_code() {
    if !running_as_root() {
        eprintln!("note: not root; root's --show --user --force is not tried");
        return;
    }
    let dir = dir();
    let secret = dir.file("secret");
    let b32 = enroll_scripted(&secret, &["--user", "root"]);
    let t = pty(&["--show", "--user", "root", "--force", "-s", &secret]);
    let (code, text) = t.wait();
    assert_eq!(code, 0, "{text}");
    assert!(
        !text.contains("code the app shows"),
        "asked for a code\n{text}"
    );
    assert_eq!(
        query_param(&uri_in(&text), "secret").as_deref(),
        Some(b32.as_str())
    );
}
