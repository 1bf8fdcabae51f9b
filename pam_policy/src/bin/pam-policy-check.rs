//! `pam-policy-check`: try a password policy without changing a password.
//!
//! Reads a password on standard input and prints PASS, or FAIL with every
//! reason pam_policy.so would give for it (the module itself shows only the
//! first), under the options given on the command line exactly as they would
//! follow `pam_policy.so` in a PAM service file; pwquality.conf (or `conf=`)
//! is read first, as the module does.
//!
//! Also builds a packed dictionary (the format of cracklib and of
//! /var/cache/cracklib) from word lists, for `dictpath=`.

use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;

use pam_policy::check::{Gecos, Request, check_all};
use pam_policy::config;
use pam_policy::dict::{Dictionary, SortedWords, pack, write_packed};
use pam_policy::sys;

const USAGE: &str = "\
Usage:
  pam-policy-check [--user NAME] [--old] [MODULE-OPTION...] < password
  pam-policy-check --build-dict PREFIX WORDLIST...

Checks the password on standard input against the policy that pam_policy.so
would apply with MODULE-OPTIONs (the words after pam_policy.so in a PAM service
file, e.g. retry=3 minlen=10 ucredit=-1 conf=/etc/security/pwquality.conf),
after reading pwquality.conf like the module does. Prints PASS, or FAIL and
every reason, one per line. The password is the first line of input; with
--old, the second line is the old password (for difok and the similarity
checks).

  --user NAME    the account the password is for (default: root); its user
                 name and passwd real-name field are checked as in PAM
  --old          read the old password from the second input line
  --build-dict PREFIX WORDLIST...
                 write PREFIX.pwd, PREFIX.pwi and PREFIX.hwm, a packed
                 dictionary of the words in the WORDLISTs (one per line), for
                 dictpath=PREFIX; cracklib reads it too
  -h, --help     this text

Exit status: 0 pass, 1 fail, 2 usage or configuration error.
";

/// More input than any password; refuse rather than read without end.
const MAX_INPUT: u64 = 1024 * 1024;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("pam-policy-check: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &[String]) -> Result<ExitCode, String> {
    let mut user = "root".to_owned();
    let mut with_old = false;
    let mut options: Vec<&str> = Vec::new();
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "-h" | "--help" => {
                print!("{USAGE}");
                return Ok(ExitCode::SUCCESS);
            }
            "--build-dict" => return build_dict(&args[i + 1..]),
            "--user" => {
                i += 1;
                user = args.get(i).ok_or("--user needs a name")?.clone();
            }
            "--old" => with_old = true,
            a if a.starts_with("--") => return Err(format!("unknown flag {a}\n\n{USAGE}")),
            a => options.push(a),
        }
        i += 1;
    }
    // A whole option line in one argument works too.
    let options: Vec<&str> = options.iter().flat_map(|o| o.split_whitespace()).collect();
    let policy = config::load(&options).map_err(|e| e.to_string())?;

    let mut input = Vec::new();
    std::io::stdin()
        .take(MAX_INPUT + 1)
        .read_to_end(&mut input)
        .map_err(|e| format!("cannot read standard input: {e}"))?;
    if input.len() as u64 > MAX_INPUT {
        return Err(format!("input longer than {MAX_INPUT} bytes"));
    }
    let mut lines = input
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let new = lines.next().unwrap_or_default();
    let old = if with_old {
        lines.next().map(String::from_utf8_lossy)
    } else {
        None
    };

    let out = std::io::stdout();
    let mut out = out.lock();
    let write = |out: &mut std::io::StdoutLock<'_>, line: &str| {
        writeln!(out, "{line}").map_err(|e| format!("cannot write: {e}"))
    };
    let Ok(new) = std::str::from_utf8(new) else {
        write(&mut out, "FAIL")?;
        write(
            &mut out,
            "BAD PASSWORD: The password is not valid UTF-8 text",
        )?;
        return Ok(ExitCode::from(1));
    };
    let lookup = || sys::gecos(&user);
    let (dict, fallback) = Dictionary::open_or_builtin(policy.dictpath.as_deref());
    let req = Request {
        new,
        old: old.as_deref(),
        user: &user,
        gecos: Gecos::Lookup(&lookup),
    };
    let reasons = check_all(&policy, &req, &dict);
    if reasons.is_empty() {
        write(&mut out, "PASS")?;
    } else {
        write(&mut out, "FAIL")?;
        for r in &reasons {
            write(&mut out, &format!("BAD PASSWORD: {r}"))?;
        }
    }
    if let Some(why) = fallback.filter(|_| policy.dictcheck) {
        eprintln!("note: {why}; the {} was used", dict.describe());
    }
    if policy.local_users_only && !sys::is_local_user(&user, "/etc/passwd") {
        eprintln!(
            "note: {user} is not in /etc/passwd: with local_users_only, PAM would not check this password"
        );
    }
    if !policy.enforcing {
        eprintln!("note: enforcing=0: PAM would show these reasons but accept the password");
    }
    Ok(if reasons.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn build_dict(args: &[String]) -> Result<ExitCode, String> {
    let (prefix, lists) = args
        .split_first()
        .ok_or("--build-dict needs PREFIX and at least one WORDLIST")?;
    if lists.is_empty() {
        return Err("--build-dict needs at least one WORDLIST".to_owned());
    }
    let mut text = String::new();
    for l in lists {
        let bytes = std::fs::read(l).map_err(|e| format!("cannot read {l}: {e}"))?;
        text.push_str(&String::from_utf8_lossy(&bytes));
        text.push('\n');
    }
    let words = SortedWords::from_text(&text);
    if words.is_empty() {
        return Err("no words in the word lists".to_owned());
    }
    write_packed(Path::new(prefix), &pack(words.iter()))
        .map_err(|e| format!("cannot write {prefix}: {e}"))?;
    println!(
        "{} words written to {prefix}.pwd, {prefix}.pwi, {prefix}.hwm",
        words.len()
    );
    Ok(ExitCode::SUCCESS)
}
