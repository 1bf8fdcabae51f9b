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

use std::ffi::OsString;
use std::io::{IsTerminal, Read, Write};
use std::os::unix::ffi::OsStringExt;
use std::path::Path;
use std::process::ExitCode;

use pam_policy::breach::{self, LazyBreaches, Screens};
use pam_policy::config;
use pam_policy::dict::{LazyDictionary, SortedWords, pack, write_packed};
use pam_policy::sys::{self, Gettext, SystemAccount};
use pam_policy::verdict::{Attempt, Caller, NotEnforced, Reasons, Skipped, Verdict, verdict};

const USAGE: &str = "\
Usage:
  pam-policy-check [--user NAME] [--old] [--as-root] [--expired] [MODULE-OPTION...] < password
  pam-policy-check --build-dict PREFIX WORDLIST...
  pam-policy-check --build-breach-filter OUTPUT [HIBP-LIST]

Checks the password on standard input against the policy that pam_policy.so
would apply with MODULE-OPTIONs (the words after pam_policy.so in a PAM service
file, e.g. retry=3 minlen=10 ucredit=-1 conf=/etc/security/pwquality.conf),
after reading pwquality.conf like the module does, and decides as the module
does. Prints PASS, FAIL (refused), WARN (the reasons would be shown, but the
password accepted: enforcing=0, or root without enforce_for_root) or SKIP (not
checked: local_users_only and the user is not in /etc/passwd), then every
reason, one per line. The password is the first line of input; with --old,
the second line is the old password (for difok and the similarity checks).

  --user NAME    the account the password is for (default: root); its user
                 name and passwd real-name field are checked as in PAM
  --old          read the old password from the second input line
  --as-root      decide as for root changing the password (pam_pwquality and
                 pam_policy only warn root, unless enforce_for_root)
  --expired      decide as for an expired password (PAM_CHANGE_EXPIRED_AUTHTOK:
                 enforced for root too)
  --build-dict PREFIX WORDLIST...
                 write PREFIX.pwd, PREFIX.pwi and PREFIX.hwm, a packed
                 dictionary of the words in the WORDLISTs (one per line), for
                 dictpath=PREFIX; cracklib reads it too
  --build-breach-filter OUTPUT [HIBP-LIST]
                 write a breach filter for breachlist=OUTPUT from a list in
                 Have I Been Pwned's SHA1:COUNT text format (HIBP-LIST, or
                 standard input), in bounded memory; about 4.5 bytes per hash,
                 false positives below 4 in 10^9
  -h, --help     this text

Exit status: 0 pass (also WARN and SKIP: PAM would accept), 1 fail, 2 usage
or configuration error.
";

/// More input than any password; refuse rather than read without end.
const MAX_INPUT: u64 = 1024 * 1024;

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    match run(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("pam-policy-check: {e}");
            ExitCode::from(2)
        }
    }
}

fn utf8(a: &OsString) -> Result<&str, String> {
    a.to_str()
        .ok_or_else(|| format!("argument is not valid UTF-8: {}", a.to_string_lossy()))
}

fn run(args: &[OsString]) -> Result<ExitCode, String> {
    let mut user: Vec<u8> = b"root".to_vec();
    let mut with_old = false;
    let mut caller = Caller::default();
    let mut options: Vec<&str> = Vec::new();
    let mut i = 0;
    while i < args.len() {
        match args[i].to_str() {
            Some("-h" | "--help") => {
                print!("{USAGE}");
                return Ok(ExitCode::SUCCESS);
            }
            Some("--build-dict") => {
                let rest: Vec<String> = args[i + 1..]
                    .iter()
                    .map(|a| utf8(a).map(str::to_owned))
                    .collect::<Result<_, _>>()?;
                return build_dict(&rest);
            }
            Some("--build-breach-filter") => return build_breach_filter(&args[i + 1..]),
            Some("--user") => {
                i += 1;
                // Any bytes, as PAM may hand the module.
                user = args.get(i).ok_or("--user needs a name")?.clone().into_vec();
            }
            Some("--old") => with_old = true,
            Some("--as-root") => caller.root = true,
            Some("--expired") => caller.expired = true,
            Some(a) if a.starts_with("--") => return Err(format!("unknown flag {a}\n\n{USAGE}")),
            _ => options.push(utf8(&args[i])?),
        }
        i += 1;
    }
    sys::use_environment_locale();
    // A whole option line in one argument works too.
    let options: Vec<&str> = options.iter().flat_map(|o| o.split_whitespace()).collect();
    let loaded = config::load(&options).map_err(|e| e.to_string())?;
    for w in &loaded.warnings {
        eprintln!("note: {w}");
    }
    let policy = loaded.policy;

    let mut input = zeroize::Zeroizing::new(Vec::new());
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
    let old = if with_old { lines.next() } else { None };

    let account = SystemAccount::new(user);
    let dict = LazyDictionary::new(policy.dictpath.clone());
    let breaches = policy.breachlist.as_deref().map(LazyBreaches::new);
    let screens = Screens {
        words: &dict,
        breaches: breaches.as_ref(),
    };
    let attempt = Attempt {
        new,
        old,
        account: &account,
        caller,
        reasons: Reasons::All,
    };
    let v = verdict(&policy, &attempt, &screens);

    let out = std::io::stdout();
    let mut out = out.lock();
    let word = match v {
        Verdict::Accept => "PASS",
        Verdict::Warn(..) => "WARN",
        Verdict::Reject(_) => "FAIL",
        Verdict::Skip(_) => "SKIP",
    };
    let mut text = format!("{word}\n");
    for m in v.messages(&Gettext) {
        text.push_str(&m);
        text.push('\n');
    }
    out.write_all(text.as_bytes())
        .map_err(|e| format!("cannot write: {e}"))?;
    if let Some(why) = dict.take_fallback().filter(|_| policy.dictcheck) {
        eprintln!("note: {why}");
    }
    if let Some(why) = breaches.as_ref().and_then(LazyBreaches::take_problem) {
        eprintln!("note: {why}; the breach check was skipped");
    }
    match v {
        Verdict::Warn(_, NotEnforced::EnforcingOff) => {
            eprintln!("note: enforcing=0: PAM would show these reasons but accept the password");
        }
        Verdict::Warn(_, NotEnforced::Root) => eprintln!(
            "note: for root (without enforce_for_root), PAM would show these reasons but accept the password"
        ),
        Verdict::Skip(Skipped::NotLocal) => eprintln!(
            "note: the user is not in /etc/passwd: with local_users_only, PAM would not check this password"
        ),
        Verdict::Accept | Verdict::Reject(_) => {}
    }
    Ok(if matches!(v, Verdict::Reject(_)) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Progress on standard error when it is a terminal.
struct TerminalProgress {
    total: Option<u64>,
}

impl breach::Progress for TerminalProgress {
    fn reading(&mut self, lines: u64, bytes: u64) {
        let pct = self
            .total
            .filter(|t| *t > 0)
            .map(|t| format!(" ({}%)", bytes * 100 / t))
            .unwrap_or_default();
        eprint!("\rreading: {:.1} million lines{pct}   ", lines as f64 / 1e6);
    }
    fn sorting(&mut self, part: usize, parts: usize) {
        eprint!("\rsorting and writing: part {part} of {parts}          ");
    }
}

fn build_breach_filter(args: &[OsString]) -> Result<ExitCode, String> {
    let out = args
        .first()
        .ok_or("--build-breach-filter needs OUTPUT and a HIBP list (or standard input)")?;
    let out = Path::new(out);
    let started = std::time::Instant::now();
    let tty = std::io::stderr().is_terminal();
    let (stats, total) = match args.get(1) {
        Some(list) => {
            let f = std::fs::File::open(list)
                .map_err(|e| format!("cannot read {}: {e}", list.to_string_lossy()))?;
            let size = f.metadata().ok().map(|m| m.len());
            let mut quiet = breach::Quiet;
            let mut shown = TerminalProgress { total: size };
            let progress: &mut dyn breach::Progress = if tty { &mut shown } else { &mut quiet };
            let s = breach::build(
                std::io::BufReader::with_capacity(1 << 20, f),
                size,
                out,
                progress,
            );
            (s, size)
        }
        None => {
            let mut quiet = breach::Quiet;
            let mut shown = TerminalProgress { total: None };
            let progress: &mut dyn breach::Progress = if tty { &mut shown } else { &mut quiet };
            let stdin = std::io::stdin().lock();
            (breach::build(stdin, None, out, progress), None)
        }
    };
    let stats = stats.map_err(|e| format!("cannot build {}: {e}", out.display()))?;
    if tty {
        eprintln!();
    }
    let _ = total;
    #[allow(clippy::cast_precision_loss)]
    let per_entry = if stats.entries > 0 {
        stats.bytes as f64 / stats.entries as f64
    } else {
        0.0
    };
    println!(
        "{} hashes from {} lines ({} skipped) written to {}: {} bytes, {per_entry:.2} bytes per hash, {:.1} s",
        stats.entries,
        stats.lines,
        stats.skipped,
        out.display(),
        stats.bytes,
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
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
