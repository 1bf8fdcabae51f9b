//! The enrollment: decide the options (flags, else questions), make the
//! secret, show it, check a code from the app, and only then save the file,
//! as the user it belongs to.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use pam_totp::config::{self, Source};
use pam_totp::enrollment::{self, Enrollment, NewEnrollment, ScratchCode};
use pam_totp::minimums::Minimums;
use pam_totp::options;
use pam_totp::otp::Key;
use pam_totp::store::{self, Account, AsUser, Enrollments, FileStore, Rules, StoreError, Target};
use zeroize::Zeroizing;

use crate::cli::Args;
use crate::cli::StoreArg;
use crate::failure::{Exit, Failure, describe};
use crate::fleet::{self, Fleet};
use crate::interrupt;
use crate::lifecycle;
use crate::qr::{Matrix, TerminalMode};
use crate::terminal::{self, Terminal};
use crate::token::{self, Kind};

/// The file pam_google_authenticator (and pam_totp) read by default.
const DEFAULT_SECRET: &str = "~/.google_authenticator";
const DEFAULT_SCRATCH_CODES: u8 = 5;
/// Tries at typing the app's code before giving up.
const CONFIRM_TRIES: u32 = 3;
/// Pixels per module in a PNG.
const PNG_SCALE: usize = 8;

/// The options of the new enrollment, once every question is answered.
struct Settings {
    kind: Kind,
    disallow_reuse: bool,
    step_given: bool,
    window: u32,
    rate_limit: Option<(u32, u64)>,
}

/// What stdout shows.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Output {
    Human,
    Quiet,
    Uri,
    Json,
}

/// The admin's minimums and the file they came from (for what is shown).
pub struct Admin {
    pub minimums: Minimums,
    pub path: PathBuf,
}

impl Admin {
    fn read(args: &Args) -> Result<Admin, Failure> {
        let source = args.config.clone().map_or(Source::Default, Source::Named);
        let minimums = config::read(&source, &[]).map_err(Failure::system)?;
        Ok(Admin {
            minimums,
            path: source.path().to_owned(),
        })
    }

    /// A flag that asks for less than the admin allows.
    fn refuses(&self, flag: &str, what: &str) -> Failure {
        Failure::usage(format!(
            "{flag}: {what} (the administrator's minimum, in {})",
            self.path.display()
        ))
    }
}

pub fn run(args: &Args) -> Result<(), Failure> {
    let admin = Admin::read(args)?;
    let target = target_account(args.user.as_deref())?;
    let path = secret_path(args.secret.as_deref(), &target)?;
    let store_target = store_target(args, &target, path.clone())?;
    let mut fleet = match args.store {
        StoreArg::File => None,
        StoreArg::Postgres => {
            let conf = args
                .store_conf
                .clone()
                .unwrap_or_else(|| PathBuf::from(fleet::DEFAULT_ADMIN_CONF));
            let as_admin = store::effective_uid() == 0;
            Some(Fleet::open(&conf, as_admin)?)
        }
    };
    if let Some(f) = fleet.as_mut() {
        if args.list {
            for line in f.list()? {
                print(&format!("{line}\n"))?;
            }
            return Ok(());
        }
        if args.show || args.upgrade || args.new_scratch_codes {
            return Err(fleet::unsupported(if args.show {
                "--show"
            } else if args.upgrade {
                "--upgrade"
            } else {
                "--new-scratch-codes"
            }));
        }
        if args.remove {
            if !f.remove(&target.name)? {
                return Err(Failure::new(
                    Exit::Exists,
                    format!("{} is not enrolled in the fleet store", target.name),
                ));
            }
            lifecycle::log(
                &store_target,
                "remove",
                "removed the enrollment from the fleet store",
            );
            if !args.quiet {
                print(&format!(
                    "Removed {}'s enrollment from the fleet store: no host accepts its codes now.\n",
                    target.name
                ))?;
            }
            return Ok(());
        }
        if let Some(file) = &args.import {
            return import(args, f, &target, file);
        }
    } else if args.list || args.import.is_some() {
        return Err(Failure::usage(
            "--list and --import are for the fleet store: add --store postgres",
        ));
    }
    if args.new_scratch_codes {
        if admin.minimums.refuse_scratch_codes {
            return Err(admin.refuses("--new-scratch-codes", "scratch codes are not allowed"));
        }
        return new_scratch_codes(args, &store_target);
    }
    if args.show {
        return lifecycle::show(args, &store_target, &admin);
    }
    if args.remove {
        return lifecycle::remove(args, &store_target, &admin);
    }
    if args.upgrade {
        return lifecycle::upgrade(args, &store_target, &admin);
    }
    let output = if args.quiet {
        Output::Quiet
    } else if args.uri {
        Output::Uri
    } else if args.json {
        Output::Json
    } else {
        Output::Human
    };
    let hostname = hostname();
    let issuer = args.issuer.clone().unwrap_or_else(|| hostname.clone());
    let account = args
        .label
        .clone()
        .unwrap_or_else(|| format!("{}@{hostname}", target.name));
    token::check_label_part("issuer", &issuer).map_err(Failure::usage)?;
    token::check_label_part("account name", &account).map_err(Failure::usage)?;

    // -d, -D and -S only make sense for time-based codes: they imply -t.
    let time_based =
        if args.time_based || args.disallow_reuse || args.allow_reuse || args.step_size.is_some() {
            Some(true)
        } else if args.counter_based {
            Some(false)
        } else {
            None
        };
    let confirm = output == Output::Human && !args.no_confirm;
    let open = open_questions(args, time_based, confirm, &admin.minimums);
    if !open.is_empty() && !terminal::interactive() {
        return Err(Failure::usage(format!(
            "standard input is not a terminal, so nothing can be asked; give {}",
            open.join(", ")
        )));
    }

    // Look before asking anything: no point scanning a code that cannot be saved.
    match fleet.as_mut() {
        Some(f) => {
            if !args.force && f.enrolled(&target.name)? {
                return Err(Failure::new(
                    Exit::Exists,
                    format!(
                        "{} is enrolled in the fleet store; use --force to replace the enrollment",
                        target.name
                    ),
                ));
            }
        }
        None => check_target(&store_target, args.force)?,
    }

    let mut term = Terminal;
    let (settings, fixed) = ask_settings(args, time_based, &mut term, &admin)?;
    if !fixed.is_empty() && output == Output::Human {
        term.say(&format!(
            "\nSet by your administrator ({}):\n{}",
            admin.path.display(),
            fixed
                .iter()
                .map(|f| format!("  - {f}\n"))
                .collect::<String>()
        ));
    }

    let key = token::new_key(admin.minimums.min_secret_bits).map_err(Failure::system)?;
    let scratch_count = if admin.minimums.refuse_scratch_codes {
        0
    } else {
        args.emergency_codes.unwrap_or(DEFAULT_SCRATCH_CODES)
    };
    let scratch = token::scratch_codes(
        &mut token::scratch_rng().map_err(Failure::system)?,
        usize::from(scratch_count),
    )
    .map_err(Failure::system)?;
    let uri = token::uri(&key, &issuer, &account, settings.kind);
    // Only an issuer or account name of thousands of characters does not fit.
    let matrix = Matrix::encode(&uri).map_err(Failure::usage)?;

    let mut images = Images::new(&target);
    if let Some(png) = &args.qr_png {
        images.write(png, &matrix.to_png(PNG_SCALE))?;
    }
    if let Some(svg) = &args.qr_svg {
        images.write(svg, matrix.to_svg().as_bytes())?;
    }
    images.guard_against_signals();
    if output == Output::Human {
        let mode = args.qr_mode.unwrap_or(TerminalMode::Utf8);
        print(&for_a_person(
            &matrix,
            mode,
            &issuer,
            &account,
            &key,
            settings.kind,
            &uri,
        ))?;
    }
    let confirmed = if confirm {
        let label = format!("{issuer} ({account})");
        Some(confirm_code(
            &mut term,
            &key,
            settings.kind,
            settings.window,
            &label,
        )?)
    } else {
        None
    };

    let file = secret_file(&key, &settings, confirmed, &scratch)?;
    let (replaced, saved_in) = match fleet.as_mut() {
        Some(f) => {
            let existed = f.enrolled(&target.name)?;
            f.save(&target.name, &file)?;
            (existed, "the fleet store".to_owned())
        }
        None => (
            write_secret(&store_target, &file, args.force)?,
            path.display().to_string(),
        ),
    };
    images.keep();

    match output {
        Output::Quiet => Ok(()),
        Output::Uri => print(&format!("{}\n", uri.as_str())),
        Output::Human => {
            let mut text = Zeroizing::new(format!(
                "Saved {}{}.\n",
                saved_in,
                if replaced {
                    ", replacing the previous enrollment"
                } else {
                    ""
                }
            ));
            text.push_str(&scratch_text(&scratch));
            print(&text)
        }
        Output::Json => {
            let mut summary = serde_json::json!({
                "user": target.name,
                "uid": target.uid,
                "path": saved_in,
                "replaced": replaced,
                "issuer": issuer,
                "account": account,
                "secret": key.to_base32().as_str(),
                "uri": uri.as_str(),
                "algorithm": "SHA1",
                "digits": token::DIGITS,
                "window_size": settings.window,
                "disallow_reuse": settings.disallow_reuse,
                "rate_limit": settings.rate_limit
                    .map(|(n, m)| serde_json::json!({"attempts": n, "seconds": m})),
                "scratch_codes": scratch.iter().map(|c| format!("{:08}", c.value())).collect::<Vec<_>>(),
                "fixed_by_admin": fixed,
            });
            match settings.kind {
                Kind::Totp { period } => {
                    summary["type"] = "totp".into();
                    summary["period"] = period.into();
                }
                Kind::Hotp { counter } => {
                    summary["type"] = "hotp".into();
                    summary["counter"] = counter.into();
                }
            }
            print(&format!("{summary}\n"))
        }
    }
}

/// The flags that would answer the questions still open (for the error
/// when there is no terminal to ask them on).
fn open_questions(
    args: &Args,
    time_based: Option<bool>,
    confirm: bool,
    m: &Minimums,
) -> Vec<&'static str> {
    let mut open = Vec::new();
    if time_based.is_none() && !m.refuse_hotp {
        open.push("--time-based or --counter-based");
    }
    if time_based != Some(false)
        && !args.disallow_reuse
        && !args.allow_reuse
        && !m.require_disallow_reuse
    {
        open.push("--disallow-reuse or --allow-reuse");
    }
    if args.window_size.is_none() && !args.minimal_window && m.window(17) == 17 {
        open.push("--window-size or --minimal-window");
    }
    if args.rate_limit.is_none() && !args.no_rate_limit && m.require_rate_limit.is_none() {
        open.push("--rate-limit and --rate-time, or --no-rate-limit");
    }
    if confirm {
        open.push("--no-confirm");
    }
    open
}

/// The enrollment's options: from the flags, else asked (Enter = yes),
/// within the admin's minimums; also what the minimums fixed, as the user
/// is told it. A flag below a minimum is an error, not quietly raised.
fn ask_settings(
    args: &Args,
    time_based: Option<bool>,
    term: &mut Terminal,
    admin: &Admin,
) -> Result<(Settings, Vec<String>), Failure> {
    let m = &admin.minimums;
    let mut fixed = Vec::new();
    let time_based = match time_based {
        Some(false) if m.refuse_hotp => {
            return Err(admin.refuses(
                "--counter-based",
                "counter-based (HOTP) codes are not allowed",
            ));
        }
        Some(t) => t,
        None if m.refuse_hotp => {
            fixed.push("time-based codes (counter-based ones are not allowed)".to_owned());
            true
        }
        None => term.yes(
            "Make the codes time-based (what authenticator apps show)?",
            true,
        )?,
    };
    let step = args.step_size.unwrap_or(30);
    let kind = if time_based {
        Kind::Totp { period: step }
    } else {
        Kind::Hotp { counter: 1 }
    };
    let disallow_reuse = time_based
        && if args.disallow_reuse {
            true
        } else if args.allow_reuse {
            if m.require_disallow_reuse {
                return Err(admin.refuses("--allow-reuse", "a code may be used only once"));
            }
            false
        } else if m.require_disallow_reuse {
            fixed.push(format!(
                "a code is accepted only once (so one login per {step} seconds)"
            ));
            true
        } else {
            term.say(&format!(
                "\nIf a code can be used only once, you can log in only once every {step} seconds,\n\
                 but a code someone sees you type is of no use to them."
            ));
            term.yes("Refuse codes that were already used?", true)?
        };
    let cap = m.window(u32::MAX);
    let window = match (args.window_size, args.minimal_window, time_based) {
        (Some(w), _, _) if w > cap => {
            return Err(admin.refuses(
                &format!("--window-size {w}"),
                &format!("at most {cap} codes are accepted"),
            ));
        }
        (Some(w), _, _) => w,
        (None, true, true) => m.window(3),
        (None, true, false) => 1,
        (None, false, _) if cap < 17 => {
            let w = m.window(3);
            fixed.push(format!("at most {w} codes around now are accepted"));
            w
        }
        (None, false, true) => {
            term.say(&format!(
                "\nCodes up to {step} seconds early or late are accepted. If this machine's clock\n\
                 or your phone's may be off by more, up to {} seconds can be accepted instead.",
                8 * step
            ));
            let wide = term.yes(
                &format!("Accept codes up to {} seconds off?", 8 * step),
                false,
            )?;
            if wide { 17 } else { 3 }
        }
        (None, false, false) => {
            term.say(
                "\nThe next 3 codes of the app are accepted. If its button may be pressed\n\
                 without logging in, the next 17 can be accepted instead.",
            );
            let wide = term.yes("Accept the next 17 codes?", false)?;
            if wide { 17 } else { 3 }
        }
    };
    let rate_limit = match (args.rate_limit, args.rate_time, m.require_rate_limit) {
        (Some(n), Some(s), Some(required)) => {
            let given = (n, u64::from(s));
            if m.rate_limit(Some(given)) != Some(given) {
                return Err(admin.refuses(
                    &format!("--rate-limit {n} --rate-time {s}"),
                    &format!(
                        "at most {} attempts per {} seconds are allowed",
                        required.0, required.1
                    ),
                ));
            }
            Some(given)
        }
        (Some(n), Some(s), None) => Some((n, u64::from(s))),
        (_, _, Some(_)) if args.no_rate_limit => {
            return Err(admin.refuses("--no-rate-limit", "login attempts are limited"));
        }
        (_, _, Some(required)) => {
            fixed.push(format!(
                "at most {} login attempts per {} seconds",
                required.0, required.1
            ));
            Some(required)
        }
        _ if args.no_rate_limit => None,
        _ => {
            term.say("\nA limit on login attempts slows down anyone guessing codes.");
            term.yes("Allow at most 3 login attempts every 30 seconds?", true)?
                .then_some((3, 30))
        }
    };
    if m.refuse_scratch_codes {
        match args.emergency_codes {
            Some(n) if n > 0 => {
                return Err(admin.refuses(
                    &format!("--emergency-codes {n}"),
                    "scratch codes are not allowed",
                ));
            }
            _ => fixed.push("no emergency scratch codes".to_owned()),
        }
    }
    if let Some(bits) = m
        .min_secret_bits
        .filter(|&b| b > token::DEFAULT_SECRET_BITS)
    {
        fixed.push(format!("a secret of at least {bits} bits"));
    }
    let settings = Settings {
        kind,
        disallow_reuse,
        step_given: args.step_size.is_some(),
        window,
        rate_limit,
    };
    Ok((settings, fixed))
}

/// What a person sees: the QR code, then the same account for typing in by hand.
pub(crate) fn for_a_person(
    matrix: &Matrix,
    mode: TerminalMode,
    issuer: &str,
    account: &str,
    key: &Key,
    kind: Kind,
    uri: &str,
) -> Zeroizing<String> {
    let mut text = Zeroizing::new(matrix.for_terminal(mode));
    if text.is_empty() {
        text.push_str("Add this account to your authenticator app:\n");
    } else {
        text.push_str(
            "\nScan the QR code with your authenticator app, or add the account by hand:\n",
        );
    }
    text.push_str(&format!(
        "  issuer   {issuer}\n  account  {account}\n  key      {}\n  type     {}\n  URI      {uri}\n\n",
        token::grouped(key).as_str(),
        describe_kind(kind),
    ));
    text
}

fn describe_kind(kind: Kind) -> String {
    match kind {
        Kind::Totp { period } => {
            format!(
                "time-based, SHA1, {} digits, a new code every {period} seconds",
                token::DIGITS
            )
        }
        Kind::Hotp { counter } => format!(
            "counter-based, SHA1, {} digits, counter starting at {counter}",
            token::DIGITS
        ),
    }
}

fn scratch_text(scratch: &[ScratchCode]) -> Zeroizing<String> {
    let mut text = Zeroizing::new(String::new());
    if scratch.is_empty() {
        return text;
    }
    text.push_str(
        "Emergency scratch codes: each lets you log in once without the app.\n\
         Write them down now; they are not shown again:\n",
    );
    for c in scratch {
        text.push_str(&format!("  {:08}\n", c.value()));
    }
    text
}

pub(crate) fn print(text: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| Failure::system(format!("cannot write to standard output: {}", describe(&e))))
}

/// The enrollment in the anchor CLI's layout (see `Enrollment::new`). A
/// confirmed time-based code's step is recorded as used, and a confirmed
/// counter-based code moves the counter past it, so the code typed here
/// cannot be replayed for a login.
fn secret_file(
    key: &Key,
    settings: &Settings,
    confirmed: Option<u64>,
    scratch: &[ScratchCode],
) -> Result<Enrollment, Failure> {
    let new = match settings.kind {
        Kind::Totp { period } => NewEnrollment {
            kind: enrollment::Kind::Totp,
            step: settings.step_given.then_some(u64::from(period)),
            window: settings.window,
            disallow_reuse: settings
                .disallow_reuse
                .then(|| confirmed.into_iter().collect()),
            rate_limit: settings.rate_limit,
        },
        Kind::Hotp { counter } => NewEnrollment {
            kind: enrollment::Kind::Hotp {
                counter: confirmed.map_or(counter, |c| c + 1),
            },
            step: None,
            window: settings.window,
            disallow_reuse: None,
            rate_limit: settings.rate_limit,
        },
    };
    Enrollment::new(key.clone(), &new, scratch).map_err(Failure::usage)
}

pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Asks for the app's code until it matches (a few tries); returns the
/// TOTP step or HOTP counter it matched.
fn confirm_code(
    term: &mut Terminal,
    key: &Key,
    kind: Kind,
    window: u32,
    label: &str,
) -> Result<u64, Failure> {
    let prompt = match kind {
        Kind::Totp { .. } => "Enter the 6-digit code the app shows: ",
        Kind::Hotp { .. } => "Press the app's button and enter the 6-digit code it shows: ",
    };
    for attempt in 1..=CONFIRM_TRIES {
        let Some(line) = term.line(prompt)? else {
            return Err(Failure::new(
                Exit::NotConfirmed,
                "input ended before the app's code was confirmed; nothing was saved",
            ));
        };
        let left = CONFIRM_TRIES - attempt;
        match token::parse_code(&line) {
            None => term.say(&format!(
                "That is not a 6-digit code ({left} {} left).",
                tries(left)
            )),
            Some(code) => match token::find_code(key, kind, window, now(), code) {
                Some(at) => {
                    term.say("Code confirmed.");
                    return Ok(at);
                }
                None => term.say(&format!(
                    "That code does not match ({left} {} left).\n\
                     Check that the app shows {label} and that the phone's clock is right.",
                    tries(left)
                )),
            },
        }
    }
    Err(Failure::new(
        Exit::NotConfirmed,
        format!("the app's code was not confirmed in {CONFIRM_TRIES} tries; nothing was saved"),
    ))
}

pub(crate) fn tries(n: u32) -> &'static str {
    if n == 1 { "try" } else { "tries" }
}

/// The account to enroll: `--user NAME` (root only, unless it is oneself) or
/// the account of the effective uid.
fn target_account(user: Option<&str>) -> Result<Account, Failure> {
    let euid = store::effective_uid();
    match user {
        None => store::account_by_uid(euid)
            .map_err(Failure::system)?
            .ok_or_else(|| {
                Failure::system(format!("uid {euid} has no entry in the user database"))
            }),
        Some(name) => {
            let account = store::account_by_name(name)
                .map_err(Failure::system)?
                .ok_or_else(|| Failure::usage(format!("there is no user named \"{name}\"")))?;
            if euid != 0 && account.uid != euid {
                return Err(Failure::new(
                    Exit::Permission,
                    format!(
                        "only root can enroll another user (you are uid {euid}, {name} is uid {})",
                        account.uid
                    ),
                ));
            }
            Ok(account)
        }
    }
}

/// The secret file's path: `--secret` (relative to the current directory,
/// or with `~`, `${HOME}`, `${USER}` of the target user) or `~/.google_authenticator`.
fn secret_path(template: Option<&str>, target: &Account) -> Result<PathBuf, Failure> {
    let template = template.unwrap_or(DEFAULT_SECRET);
    if template.is_empty() || template.ends_with('/') {
        return Err(Failure::usage(format!(
            "--secret \"{template}\" does not name a file"
        )));
    }
    let absolute =
        if template.starts_with('/') || template.starts_with('~') || template.starts_with("${") {
            template.to_owned()
        } else {
            let cwd = std::env::current_dir().map_err(|e| {
                Failure::system(format!(
                    "cannot find the current directory: {}",
                    describe(&e)
                ))
            })?;
            cwd.join(template).to_string_lossy().into_owned()
        };
    store::expand_secret_path(&absolute, &target.name, Some(&target.home)).map_err(Failure::usage)
}

/// Checks, as the target user, that the file can be written: its directory
/// exists and takes new files, and there is no enrollment unless `force`.
fn check_target(t: &Target, force: bool) -> Result<(), Failure> {
    let (path, target) = (&t.path, &t.user);
    let _as = AsUser::take(t.owner.uid, t.owner.gid).map_err(Failure::system)?;
    match std::fs::symlink_metadata(path) {
        Ok(_) if !force => {
            return Err(Failure::new(
                Exit::Exists,
                format!(
                    "{} already exists, so {} is enrolled; use --force to replace it, or \
                     --new-scratch-codes for new scratch codes",
                    path.display(),
                    target.name
                ),
            ));
        }
        Ok(meta) if !meta.file_type().is_file() => {
            return Err(Failure::system(format!(
                "{} is not a regular file; it is not replaced",
                path.display()
            )));
        }
        Ok(_) => {
            // It will be replaced under the store's rules (owner, mode):
            // find out now whether it can be, not after the code is scanned.
            FileStore::default().examine(t).map_err(|e| {
                Failure::system(format!("the existing enrollment cannot be replaced: {e}"))
            })?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(Failure::system(format!(
                "cannot examine {} as {}: {}",
                path.display(),
                target.name,
                describe(&e)
            )));
        }
    }
    let dir = path.parent().unwrap_or(Path::new("/"));
    // An unnamed file that is never linked: proves the directory takes new
    // files for this user, and leaves nothing behind.
    let probe = OpenOptions::new()
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_TMPFILE)
        .open(dir);
    match probe {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Failure::system(format!(
            "the directory {} does not exist",
            dir.display()
        ))),
        Err(e) => Err(Failure::system(format!(
            "cannot write in {} as {}: {}",
            dir.display(),
            t.owner.name,
            describe(&e)
        ))),
    }
}

/// Saves the enrollment as its user: a new file appears whole or not at
/// all; with `force` an existing one is replaced atomically (a failure
/// leaves it as it was). Returns whether a file was replaced.
fn write_secret(t: &Target, e: &Enrollment, force: bool) -> Result<bool, Failure> {
    let store = FileStore::default();
    match store.create(t, e) {
        Ok(()) => Ok(false),
        Err(err) if err.already_exists() => {
            if !force {
                return Err(Failure::new(
                    Exit::Exists,
                    format!(
                        "{} already exists; use --force to replace it",
                        t.path.display()
                    ),
                ));
            }
            store.overwrite(t, e).map_err(Failure::store)?;
            Ok(true)
        }
        Err(err) => Err(Failure::store(err)),
    }
}

/// Whose file, where, and as whom it is written: the user's own, or with
/// `--owner` a store account's (root only, as the module's `user=`), under
/// the rules the module applies by default (owner checked, mode 0600).
fn store_target(args: &Args, user: &Account, path: PathBuf) -> Result<Target, Failure> {
    let owner = match &args.owner {
        None => user.clone(),
        Some(name) => {
            let euid = store::effective_uid();
            if euid != 0 {
                return Err(Failure::new(
                    Exit::Permission,
                    format!("only root can use --owner (you are uid {euid})"),
                ));
            }
            let template = args.secret.as_deref().unwrap_or(DEFAULT_SECRET);
            if options::in_home(template) {
                return Err(Failure::usage(format!(
                    "--owner {name} needs a --secret outside the user's home, as user= does \
                     on the PAM line (e.g. --secret '/var/lib/totp/${{USER}}'); not \"{template}\""
                )));
            }
            store::account_by_name(name)
                .map_err(Failure::system)?
                .ok_or_else(|| {
                    Failure::usage(format!("--owner: there is no user named \"{name}\""))
                })?
        }
    };
    Ok(target_for(user, owner, path))
}

/// `user`'s file at `path`, read and written as `owner` under the rules the
/// module applies by default (owner checked, mode 0600).
fn target_for(user: &Account, owner: Account, path: PathBuf) -> Target {
    let rules = Rules {
        owner: owner.uid,
        check_owner: true,
        allowed_perm: 0o600,
    };
    Target {
        user: user.clone(),
        owner,
        path,
        rules,
    }
}

/// `--import FILE`: an existing google-authenticator file (secret, options,
/// scratch codes, the newest used step) into the fleet store, read as the
/// user it belongs to; the file itself is left as it is.
fn import(args: &Args, f: &mut Fleet, user: &Account, file: &Path) -> Result<(), Failure> {
    let t = target_for(user, user.clone(), file.to_owned());
    let e = FileStore::default().load(&t).map_err(|e| match e {
        StoreError::Malformed(m) => Failure::system(format!(
            "{} is not a valid secret file: {m}",
            file.display()
        )),
        e => Failure::store(e),
    })?;
    if !args.force && f.enrolled(&user.name)? {
        return Err(Failure::new(
            Exit::Exists,
            format!(
                "{} is enrolled in the fleet store; use --force to replace the enrollment",
                user.name
            ),
        ));
    }
    f.save(&user.name, &e)?;
    if !args.quiet {
        print(&format!(
            "Imported {} into the fleet store for {} ({} scratch codes); the file is left as it is.\n",
            file.display(),
            user.name,
            e.scratch_codes().len()
        ))?;
    }
    Ok(())
}

/// New scratch codes for an existing enrollment: the old codes are removed,
/// the new ones appended, under the store's lock, atomically.
fn new_scratch_codes(args: &Args, t: &Target) -> Result<(), Failure> {
    let (path, target) = (&t.path, &t.user);
    let count = usize::from(args.emergency_codes.unwrap_or(DEFAULT_SCRATCH_CODES));
    let codes = token::scratch_codes(&mut token::scratch_rng().map_err(Failure::system)?, count)
        .map_err(Failure::system)?;
    let result = FileStore::default().replace(t, |current| {
        let mut next = current.clone();
        next.replace_scratch_codes(&codes)
            .map_err(StoreError::Malformed)?;
        Ok(next)
    });
    result.map_err(|e| match e {
        StoreError::NotFound(_) => Failure::new(
            Exit::Exists,
            format!(
                "{} does not exist: {} is not enrolled",
                path.display(),
                target.name
            ),
        ),
        StoreError::Malformed(enrollment::FormatError::ScratchHidden) => Failure::system(format!(
            "cannot add scratch codes to {}: a line that is neither an option nor a \
             scratch code comes before them",
            path.display()
        )),
        StoreError::Malformed(e) => Failure::system(format!(
            "{} is not a valid secret file: {e}",
            path.display()
        )),
        e => Failure::store(e),
    })?;
    if args.json {
        let summary = serde_json::json!({
            "user": target.name,
            "uid": target.uid,
            "path": path.to_string_lossy(),
            "scratch_codes": codes.iter().map(|c| format!("{:08}", c.value())).collect::<Vec<_>>(),
        });
        return print(&format!("{summary}\n"));
    }
    if args.quiet {
        return Ok(());
    }
    let mut text = Zeroizing::new(format!(
        "Saved new scratch codes in {}; the old ones no longer work.\n",
        path.display()
    ));
    text.push_str(&scratch_text(&codes));
    print(&text)
}

/// The machine's name, the default issuer (as google-authenticator has it).
pub(crate) fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty() && !h.contains(':'))
        .unwrap_or_else(|| "unix".to_owned())
}

/// QR image files written for this enrollment; removed again unless the
/// enrollment is saved, since they hold the secret. They are created and
/// removed with the target user's file-system identity, by name within a
/// handle on their directory: a path in the user's own tree cannot aim
/// root's create or unlink at a file the user could not touch.
struct Images {
    owner: (u32, u32),
    files: Vec<interrupt::Placed>,
    keep: bool,
}

impl Images {
    fn new(target: &Account) -> Self {
        Images {
            owner: (target.uid, target.gid),
            files: Vec::new(),
            keep: false,
        }
    }

    fn write(&mut self, path: &Path, bytes: &[u8]) -> Result<(), Failure> {
        use nix::fcntl::{OFlag, open, openat};
        use nix::sys::stat::Mode;
        let _as = AsUser::take(self.owner.0, self.owner.1).map_err(Failure::system)?;
        let cannot = |what: &str, e: nix::errno::Errno| {
            Failure::system(format!("cannot {what} {}: {}", path.display(), e.desc()))
        };
        let (dir, name) = match (path.parent(), path.file_name()) {
            (Some(d), Some(n)) if !d.as_os_str().is_empty() => (d, n),
            (_, Some(n)) => (Path::new("."), n),
            _ => {
                return Err(Failure::usage(format!(
                    "{} does not name a file",
                    path.display()
                )));
            }
        };
        let dir_fd = open(
            dir,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| cannot("open the directory of", e))?;
        let flags =
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let fd = openat(&dir_fd, name, flags, Mode::from_bits_truncate(0o600))
            .map_err(|e| cannot("create", e))?;
        let placed = interrupt::Placed::new(dir_fd, name).ok_or_else(|| {
            Failure::usage(format!("{} is not a usable file name", path.display()))
        })?;
        self.files.push(placed);
        let mut file = std::fs::File::from(fd);
        file.write_all(bytes)
            .and_then(|()| file.sync_all())
            .map_err(|e| {
                Failure::system(format!("cannot write {}: {}", path.display(), describe(&e)))
            })
    }

    /// Removes the files if the process is ended by a signal before [`Images::keep`].
    fn guard_against_signals(&mut self) {
        if !self.files.is_empty() {
            interrupt::remove_on_signal(std::mem::take(&mut self.files), self.owner);
        }
    }

    fn keep(&mut self) {
        self.keep = true;
        interrupt::keep();
    }
}

impl Drop for Images {
    fn drop(&mut self) {
        if !self.keep
            && let Ok(_as) = AsUser::take(self.owner.0, self.owner.1)
        {
            for f in &self.files {
                f.remove();
            }
            interrupt::remove_now();
        }
    }
}
