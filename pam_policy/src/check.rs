//! The policy decision: pure functions over the new password, the old one
//! and the account, no I/O (the dictionary is passed in).
//!
//! The checks and their order are pam_pwquality's (libpwquality 1.4.5
//! `pwquality_check`), and each [`Rejection`] displays its reason text. Where
//! libpwquality counts bytes and classifies them with `<ctype.h>`, this counts
//! Unicode characters and uses Unicode properties: a digit is any Unicode
//! number, upper and lower case are Unicode's, and everything else (symbols,
//! spaces, control characters, letters without case) is "other". On ASCII
//! input both give the same answers.

#![forbid(unsafe_code)]

use std::fmt;

use zeroize::Zeroizing;

use crate::cracklib::{self, Account, CrackReason};
use crate::dict::WordSet;
use crate::options::Policy;
use crate::strength;

/// Words shorter than this are not looked for (user name, GECOS, badwords).
const MIN_WORD_LENGTH: usize = 4;

/// Why a password was refused; `Display` gives pam_pwquality's reason text
/// (the module prefixes it with "BAD PASSWORD: ").
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rejection {
    Empty,
    NotUtf8,
    SameAsOld,
    CaseChangesOnly,
    TooSimilar,
    MaxClassRepeat(i64),
    MinDigits(i64),
    MinUppers(i64),
    MinLowers(i64),
    MinOthers(i64),
    TooShort(i64),
    Rotated,
    MinClasses(i64),
    Palindrome,
    MaxRepeat(i64),
    MaxSequence(i64),
    UserName,
    Gecos,
    BadWords,
    Dictionary(CrackReason),
    /// `breachlist=`: the password's SHA-1 is in the breach filter.
    Breached,
    /// `minscore=`: the zxcvbn score fell short, with zxcvbn's feedback.
    TooGuessable {
        score: u8,
        required: u8,
        warning: Option<String>,
        suggestions: Vec<String>,
    },
}

/// Where message texts are translated: libpwquality's and cracklib's
/// gettext catalogs in the module, nothing in tests. The msgids are exactly
/// libpwquality's and cracklib's, so their translations apply unchanged.
pub trait Catalog {
    /// A message of libpwquality's text domain ("libpwquality").
    fn libpwquality<'a>(&self, msgid: &'a str) -> std::borrow::Cow<'a, str>;
    /// A message of cracklib's text domain ("cracklib").
    fn cracklib<'a>(&self, msgid: &'a str) -> std::borrow::Cow<'a, str>;
}

/// The English texts, untranslated.
pub struct English;

impl Catalog for English {
    fn libpwquality<'a>(&self, msgid: &'a str) -> std::borrow::Cow<'a, str> {
        msgid.into()
    }
    fn cracklib<'a>(&self, msgid: &'a str) -> std::borrow::Cow<'a, str> {
        msgid.into()
    }
}

/// The prefix pam_pwquality puts before every reason (its msgid).
pub const BAD_PASSWORD: &str = "BAD PASSWORD: %s";

impl Rejection {
    /// The reason in the catalog's language. libpwquality's and cracklib's
    /// own messages go through their catalogs; ours (Unicode, strength,
    /// breach) stay English.
    pub fn render(&self, cat: &dyn Catalog) -> String {
        let pwq = |id: &'static str| cat.libpwquality(id).into_owned();
        // libpwquality formats these with snprintf("%ld"); so do we, on the
        // translated template.
        let num =
            |id: &'static str, n: i64| cat.libpwquality(id).replacen("%ld", &n.to_string(), 1);
        match self {
            Rejection::Empty => pwq("No password supplied"),
            Rejection::NotUtf8 => "The password is not valid UTF-8 text".to_owned(),
            Rejection::SameAsOld => pwq("The password is the same as the old one"),
            Rejection::CaseChangesOnly => pwq("The password differs with case changes only"),
            Rejection::TooSimilar => pwq("The password is too similar to the old one"),
            Rejection::MaxClassRepeat(n) => num(
                "The password contains more than %ld characters of the same class consecutively",
                *n,
            ),
            Rejection::MinDigits(n) => num("The password contains less than %ld digits", *n),
            Rejection::MinUppers(n) => {
                num("The password contains less than %ld uppercase letters", *n)
            }
            Rejection::MinLowers(n) => {
                num("The password contains less than %ld lowercase letters", *n)
            }
            Rejection::MinOthers(n) => num(
                "The password contains less than %ld non-alphanumeric characters",
                *n,
            ),
            Rejection::TooShort(n) => num("The password is shorter than %ld characters", *n),
            Rejection::Rotated => pwq("The password is just rotated old one"),
            Rejection::MinClasses(n) => {
                num("The password contains less than %ld character classes", *n)
            }
            Rejection::Palindrome => pwq("The password is a palindrome"),
            Rejection::MaxRepeat(n) => num(
                "The password contains more than %ld same characters consecutively",
                *n,
            ),
            Rejection::MaxSequence(n) => num(
                "The password contains monotonic sequence longer than %ld characters",
                *n,
            ),
            Rejection::UserName => pwq("The password contains the user name in some form"),
            Rejection::Gecos => {
                pwq("The password contains words from the real name of the user in some form")
            }
            Rejection::BadWords => pwq("The password contains forbidden words in some form"),
            Rejection::Dictionary(r) => format!(
                "{} - {}",
                pwq("The password fails the dictionary check"),
                cat.cracklib(r.msgid())
            ),
            Rejection::Breached => {
                "The password has appeared in a data breach; choose one that has not".to_owned()
            }
            Rejection::TooGuessable {
                score,
                required,
                warning,
                suggestions,
            } => {
                let mut text = format!(
                    "The password is too easy to guess (strength {score} of 4, {required} required)"
                );
                let advice: Vec<&str> = warning
                    .iter()
                    .map(String::as_str)
                    .chain(suggestions.iter().map(String::as_str))
                    .collect();
                if !advice.is_empty() {
                    text.push_str(" - ");
                    text.push_str(&advice.join(" "));
                }
                text
            }
        }
    }

    /// The line the user sees: "BAD PASSWORD: " and the reason, translated.
    pub fn message(&self, cat: &dyn Catalog) -> String {
        cat.libpwquality(BAD_PASSWORD)
            .replacen("%s", &self.render(cat), 1)
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(&English))
    }
}

/// What is checked: the new password, the old one (PAM_OLDAUTHTOK, if an
/// earlier module collected it) and the account.
#[derive(Clone, Copy, Debug, Default)]
pub struct Request<'a> {
    pub new: &'a str,
    pub old: Option<&'a str>,
    pub user: &'a str,
    /// The account's GECOS (real name) field, when the user has a passwd entry.
    pub gecos: Gecos<'a>,
}

/// The GECOS field, given or looked up on first need (a name-service lookup
/// costs more than most checks, and most refusals never need it).
#[derive(Clone, Copy, Default)]
pub enum Gecos<'a> {
    #[default]
    None,
    Known(&'a str),
    Lookup(&'a dyn Fn() -> Option<String>),
}

impl fmt::Debug for Gecos<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Gecos::None => f.write_str("None"),
            Gecos::Known(g) => write!(f, "Known({g:?})"),
            Gecos::Lookup(_) => f.write_str("Lookup(..)"),
        }
    }
}

/// The lists a password is looked up in: the dictionary and, with
/// `breachlist=`, the breach filter. Any word set alone is a `Lists` without
/// breaches.
pub trait Lists {
    fn words(&self) -> &dyn WordSet;
    /// Whether breach lookups are on (the SHA-1 is computed only then).
    fn checks_breaches(&self) -> bool {
        false
    }
    /// Whether the SHA-1 of a password is in the breach filter.
    fn breached(&self, _sha1: &[u8; 20]) -> bool {
        false
    }
}

impl<T: WordSet> Lists for T {
    fn words(&self) -> &dyn WordSet {
        self
    }
}

/// pam_pwquality's decision: the first failing check, in its order.
pub fn check(policy: &Policy, req: &Request<'_>, words: &dyn Lists) -> Result<(), Rejection> {
    match run(policy, req, words, false).into_iter().next() {
        Some(r) => Err(r),
        None => Ok(()),
    }
}

/// Every reason the password fails, in check order (for the admin checker).
pub fn check_all(policy: &Policy, req: &Request<'_>, words: &dyn Lists) -> Vec<Rejection> {
    run(policy, req, words, true)
}

/// Character classes, as pam_pwquality names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    Digit,
    Upper,
    Lower,
    Other,
}

pub fn class_of(c: char) -> Class {
    if c.is_numeric() {
        Class::Digit
    } else if c.is_uppercase() {
        Class::Upper
    } else if c.is_lowercase() {
        Class::Lower
    } else {
        Class::Other
    }
}

fn run(policy: &Policy, req: &Request<'_>, lists: &dyn Lists, all: bool) -> Vec<Rejection> {
    let mut out = Vec::new();
    macro_rules! fail {
        ($r:expr) => {{
            out.push($r);
            if !all {
                return out;
            }
        }};
    }
    let new = req.new;
    if new.is_empty() {
        return vec![Rejection::Empty];
    }
    let gecos_cell: std::cell::OnceCell<Option<String>> = std::cell::OnceCell::new();
    let gecos = || {
        gecos_cell
            .get_or_init(|| match req.gecos {
                Gecos::None => None,
                Gecos::Known(g) => Some(g.to_owned()),
                Gecos::Lookup(f) => f(),
            })
            .as_deref()
    };
    let old = req.old.filter(|o| !o.is_empty());
    if old == Some(new) {
        fail!(Rejection::SameAsOld);
    }
    // difok=0 turns off every comparison with the old password but equality.
    let old = if policy.difok == 0 { None } else { old };
    // Copies of passwords are wiped when dropped, like pam_pwquality's.
    let new_lower = Zeroizing::new(new.to_lowercase());
    let old_lower = old.map(|o| Zeroizing::new(o.to_lowercase()));
    if let Some(o) = &old_lower {
        if **o == *new_lower {
            fail!(Rejection::CaseChangesOnly);
        } else if too_similar(policy.difok, o, &new_lower) {
            fail!(Rejection::TooSimilar);
        }
    }
    for r in simple(policy, new, all) {
        fail!(r);
    }
    if let Some(o) = &old_lower
        && Zeroizing::new(format!("{}{}", o.as_str(), o.as_str())).contains(new_lower.as_str())
    {
        fail!(Rejection::Rotated);
    }
    if count_classes(new) < policy.minclass {
        fail!(Rejection::MinClasses(policy.minclass));
    }
    if new_lower.chars().eq(new_lower.chars().rev()) {
        fail!(Rejection::Palindrome);
    }
    if policy.maxrepeat > 0 && longest_run(new, |a, b| a == b) > policy.maxrepeat {
        fail!(Rejection::MaxRepeat(policy.maxrepeat));
    }
    if policy.maxsequence > 0 && longest_sequence(new) > policy.maxsequence {
        fail!(Rejection::MaxSequence(policy.maxsequence));
    }
    let user_lower = req.user.to_lowercase();
    if !user_lower.is_empty() && policy.usercheck && user_check(policy, &new_lower, &user_lower) {
        fail!(Rejection::UserName);
    }
    if !req.user.is_empty()
        && policy.gecoscheck
        && let Some(g) = gecos()
        && contains_word(&new_lower, g.split(' '))
    {
        fail!(Rejection::Gecos);
    }
    if contains_word(&new_lower, policy.badwords.iter().map(String::as_str)) {
        fail!(Rejection::BadWords);
    }
    if policy.dictcheck {
        let account = Account {
            user: req.user,
            gecos: gecos(),
        };
        if let Some(r) = cracklib::fascist_check(new, account, lists.words()) {
            fail!(Rejection::Dictionary(r));
        }
    }
    if lists.checks_breaches() {
        use sha1::Digest;
        // The digest is the password's key in the public breach list: wiped too.
        let digest: Zeroizing<[u8; 20]> = Zeroizing::new(sha1::Sha1::digest(new.as_bytes()).into());
        if lists.breached(&digest) {
            fail!(Rejection::Breached);
        }
    }
    if policy.minscore > 0 {
        let mut inputs: Vec<&str> = vec![req.user];
        let g = gecos();
        inputs.extend(g.iter().flat_map(|g| g.split([' ', ','])));
        inputs.extend(policy.badwords.iter().map(String::as_str));
        let s = strength::estimate(new, &inputs);
        if s.score < policy.minscore {
            fail!(Rejection::TooGuessable {
                score: s.score,
                required: policy.minscore,
                warning: s.warning,
                suggestions: s.suggestions,
            });
        }
    }
    out
}

/// libpwquality's `similar()`: an edit distance below `difok`, unless the new
/// password is at least twice as long as the old.
fn too_similar(difok: i64, old: &str, new: &str) -> bool {
    let old: Zeroizing<Vec<char>> = Zeroizing::new(old.chars().collect());
    let new: Zeroizing<Vec<char>> = Zeroizing::new(new.chars().collect());
    if new.len() >= old.len() * 2 {
        return false;
    }
    let limit = usize::try_from(difok).unwrap_or(0);
    distance_below(&old, &new, limit)
}

/// Whether the Levenshtein distance of `a` and `b` is below `limit`. Only a
/// band of width `limit` around the diagonal can hold such a path, so this is
/// O(len · limit), whatever the lengths.
fn distance_below(a: &[char], b: &[char], limit: usize) -> bool {
    if limit == 0 || a.len().abs_diff(b.len()) >= limit {
        return false;
    }
    // The distance never exceeds the longer length.
    if limit > a.len().max(b.len()) {
        return true;
    }
    let band = limit; // distances >= limit are all the same to us
    let cap = |d: usize| d.min(band);
    let mut prev: Vec<usize> = (0..=b.len()).map(cap).collect();
    let mut cur = vec![band; b.len() + 1];
    for i in 1..=a.len() {
        let lo = i.saturating_sub(band).max(1);
        let hi = (i + band).min(b.len());
        // Cells left of the band still hold an older row's values; the one
        // read here must count as out of reach. Cells right of it were never
        // written and already are.
        if lo > 1 {
            cur[lo - 1] = band;
        }
        cur[0] = cap(i);
        let mut row_min = cur[0];
        for j in lo..=hi {
            let subst = prev[j - 1] + usize::from(a[i - 1] != b[j - 1]);
            let d = subst.min(prev[j] + 1).min(cur[j - 1] + 1);
            cur[j] = cap(d);
            row_min = row_min.min(cur[j]);
        }
        if row_min >= band {
            return false;
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()] < limit
}

/// libpwquality's `simple()`: the class-repeat limit, the class minimums
/// (negative credits) and the credit-adjusted length. In `all` mode every
/// failing class is reported, otherwise only the first.
fn simple(policy: &Policy, new: &str, all: bool) -> Vec<Rejection> {
    let (mut digits, mut uppers, mut lowers, mut others) = (0i64, 0i64, 0i64, 0i64);
    let mut length = 0i64;
    let mut run = 0i64;
    let mut previous = None;
    let mut out = Vec::new();
    for c in new.chars() {
        length += 1;
        let class = class_of(c);
        match class {
            Class::Digit => digits += 1,
            Class::Upper => uppers += 1,
            Class::Lower => lowers += 1,
            Class::Other => others += 1,
        }
        run = if previous == Some(class) { run + 1 } else { 1 };
        previous = Some(class);
        if policy.maxclassrepeat > 0 && run > policy.maxclassrepeat && out.is_empty() {
            out.push(Rejection::MaxClassRepeat(policy.maxclassrepeat));
            if !all {
                return out;
            }
        }
    }
    let mut size = policy.minlen;
    for (count, credit, short) in [
        (
            digits,
            policy.dcredit,
            Rejection::MinDigits as fn(i64) -> Rejection,
        ),
        (uppers, policy.ucredit, Rejection::MinUppers),
        (lowers, policy.lcredit, Rejection::MinLowers),
        (others, policy.ocredit, Rejection::MinOthers),
    ] {
        if credit >= 0 {
            size -= count.min(credit);
        } else if count < -credit {
            out.push(short(-credit));
            if !all {
                return out;
            }
        }
    }
    if length < size {
        out.push(Rejection::TooShort(size));
    }
    out
}

fn count_classes(new: &str) -> i64 {
    let mut seen = [false; 4];
    for c in new.chars() {
        seen[class_of(c) as usize] = true;
    }
    seen.iter().map(|&s| i64::from(s)).sum()
}

/// The longest run of characters where each follows the previous by `next`.
fn longest_run(s: &str, next: impl Fn(char, char) -> bool) -> i64 {
    let mut best = 0i64;
    let mut run = 0i64;
    let mut prev: Option<char> = None;
    for c in s.chars() {
        run = match prev {
            Some(p) if next(p, c) => run + 1,
            _ => 1,
        };
        best = best.max(run);
        prev = Some(c);
    }
    best
}

/// The longest run of characters each one code point up (or each one down)
/// from the previous, like libpwquality's `sequence()`.
fn longest_sequence(s: &str) -> i64 {
    let up = longest_run(s, |a, b| u32::from(b) == u32::from(a).wrapping_add(1));
    let down = longest_run(s, |a, b| u32::from(a) == u32::from(b).wrapping_add(1));
    up.max(down)
}

/// libpwquality's `usercheck()`: the user name (or, with `usersubstr=N`,
/// any N-character piece of it), forwards or reversed, inside the password.
fn user_check(policy: &Policy, new_lower: &str, user_lower: &str) -> bool {
    let user: Vec<char> = user_lower.chars().collect();
    let piece = usize::try_from(policy.usersubstr).unwrap_or(0);
    if piece >= MIN_WORD_LENGTH && user.len() > piece {
        user.windows(piece).any(|w| {
            let w: String = w.iter().collect();
            contains_word(new_lower, std::iter::once(w.as_str()))
        })
    } else {
        contains_word(new_lower, std::iter::once(user_lower))
    }
}

/// Whether any word of at least four characters (lowercased), forwards or
/// reversed, occurs in `new_lower`.
fn contains_word<'a>(new_lower: &str, words: impl IntoIterator<Item = &'a str>) -> bool {
    words.into_iter().any(|w| {
        if w.chars().count() < MIN_WORD_LENGTH {
            return false;
        }
        let w = w.to_lowercase();
        let reversed: String = w.chars().rev().collect();
        new_lower.contains(&w) || new_lower.contains(&reversed)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dict::SortedWords;

    fn guide() -> Policy {
        Policy::default()
            .apply_args(
                "retry=3 minlen=10 difok=3 ucredit=-1 lcredit=-2 dcredit=-1 ocredit=-1".split(' '),
            )
            .unwrap()
    }

    fn words() -> SortedWords {
        SortedWords::from_text("password\nqwerty123\n")
    }

    fn verdict(p: &Policy, new: &str, old: Option<&str>, user: &str) -> String {
        let req = Request {
            new,
            old,
            user,
            gecos: Gecos::None,
        };
        match check(p, &req, &words()) {
            Ok(()) => "OK".to_owned(),
            Err(r) => r.to_string(),
        }
    }

    #[test]
    fn the_guide_line_scenarios() {
        let p = guide();
        let cases = [
            ("", "No password supplied"),
            ("Xk9#mQ2$v", "The password is shorter than 10 characters"),
            ("Xk9#mQ2$vL", "OK"),
            (
                "xk9#mq2$vl",
                "The password contains less than 1 uppercase letters",
            ),
            (
                "XK9#MQ2$VL",
                "The password contains less than 2 lowercase letters",
            ),
            (
                "XK9#MQ2$vL",
                "The password contains less than 2 lowercase letters",
            ),
            ("Xkz#mQw$vL", "The password contains less than 1 digits"),
            (
                "Xk9amQ2bvL",
                "The password contains less than 1 non-alphanumeric characters",
            ),
            ("short", "The password contains less than 1 digits"),
            (
                "Password1!",
                "The password fails the dictionary check - it is based on a dictionary word",
            ),
            ("Ab1#xx#1bA", "The password is a palindrome"),
            (
                "Aaaaaaaa1#",
                "The password fails the dictionary check - it does not contain enough DIFFERENT characters",
            ),
        ];
        for (pw, want) in cases {
            assert_eq!(verdict(&p, pw, None, "u"), want, "{pw:?}");
        }
    }

    #[test]
    fn old_password_checks() {
        let p = guide();
        let old = Some("Xk9#mQ2$vL");
        let cases = [
            ("Xk9#mQ2$vL", "The password is the same as the old one"),
            ("xK9#Mq2$Vl", "The password differs with case changes only"),
            ("Xk9#mQ2$vLa", "The password is too similar to the old one"),
            ("Yk9#mQ2$vM", "The password is too similar to the old one"),
            ("Yk8#mQ2$vM", "OK"),
            ("mQ2$vLXk9#", "The password is just rotated old one"),
            (
                "Xk9#mQ2$vLXk9#mQ2$vL",
                "The password is just rotated old one",
            ),
        ];
        for (pw, want) in cases {
            assert_eq!(verdict(&p, pw, old, "u"), want, "{pw:?}");
        }
        let p0 = p.clone().apply_args(["difok=0"]).unwrap();
        assert_eq!(verdict(&p0, "xK9#Mq2$Vl", old, "u"), "OK");
        assert_eq!(
            verdict(&p0, "Xk9#mQ2$vL", old, "u"),
            "The password is the same as the old one"
        );
    }

    #[test]
    fn credits_follow_pam_pwquality_arithmetic() {
        let p = Policy::default()
            .apply_args([
                "minlen=10",
                "dcredit=1",
                "ucredit=1",
                "lcredit=1",
                "ocredit=1",
                "dictcheck=0",
            ])
            .unwrap();
        assert_eq!(verdict(&p, "Ab1#xyz", None, "u"), "OK");
        assert_eq!(
            verdict(&p, "abcdxyzw", None, "u"),
            "The password is shorter than 9 characters"
        );
        assert_eq!(verdict(&p, "abcdxyzwq", None, "u"), "OK");
        let p = Policy::default()
            .apply_args(["minlen=3", "dictcheck=0"])
            .unwrap();
        assert_eq!(
            verdict(&p, "Xk9#m", None, "u"),
            "The password is shorter than 6 characters"
        );
    }

    #[test]
    fn repeat_sequence_and_class_rules() {
        let p = Policy::default()
            .apply_args([
                "minlen=10",
                "maxrepeat=2",
                "maxsequence=3",
                "minclass=3",
                "dictcheck=0",
            ])
            .unwrap();
        let cases = [
            (
                "Xk9#mQQQ2$vL",
                "The password contains more than 2 same characters consecutively",
            ),
            ("Xk9#mQQ2$vL", "OK"),
            (
                "Xk9#mQ2$vL1234",
                "The password contains monotonic sequence longer than 3 characters",
            ),
            (
                "Xk9#mQ2$vLdcba",
                "The password contains monotonic sequence longer than 3 characters",
            ),
            ("Xk9#mQ2$vL123", "OK"),
            (
                "xkqmwzvlr7",
                "The password contains less than 3 character classes",
            ),
        ];
        for (pw, want) in cases {
            assert_eq!(verdict(&p, pw, None, "u"), want, "{pw:?}");
        }
        let p = Policy::default()
            .apply_args(["maxclassrepeat=3", "dictcheck=0"])
            .unwrap();
        assert_eq!(
            verdict(&p, "Xk9#mqwzQ2", None, "u"),
            "The password contains more than 3 characters of the same class consecutively"
        );
        assert_eq!(verdict(&p, "Xk9#mqwQ2x", None, "u"), "OK");
    }

    #[test]
    fn user_gecos_and_badwords() {
        let p = guide();
        assert_eq!(
            verdict(&p, "Alice#2024x", None, "alice"),
            "The password contains the user name in some form"
        );
        assert_eq!(
            verdict(&p, "Ecila#2024x", None, "alice"),
            "The password contains the user name in some form"
        );
        assert_eq!(verdict(&p, "Bob#2024xyz", None, "bob"), "OK");
        let p = Policy::default()
            .apply_args(["usersubstr=4", "dictcheck=0"])
            .unwrap();
        for pw in ["Xk9#smitQ2", "Xk9#ohnsQ2", "Xk9#tims2Q"] {
            assert_eq!(
                verdict(&p, pw, None, "johnsmith"),
                "The password contains the user name in some form"
            );
        }
        let p = Policy::default()
            .apply_args(["badwords=acme corp xyz", "dictcheck=0"])
            .unwrap();
        for pw in ["Xk9#acmeQ2", "Xk9#ACMEQ2", "Xk9#emcaQ2", "Xk9#corpQ2"] {
            assert_eq!(
                verdict(&p, pw, None, "u"),
                "The password contains forbidden words in some form"
            );
        }
        assert_eq!(verdict(&p, "Xk9#xyzQ2a", None, "u"), "OK");
        let p = Policy::default()
            .apply_args(["gecoscheck=1", "usercheck=0", "dictcheck=0"])
            .unwrap();
        let req = Request {
            new: "Xk9#smithQ2",
            old: None,
            user: "js",
            gecos: Gecos::Known("John Smith"),
        };
        assert_eq!(check(&p, &req, &words()), Err(Rejection::Gecos));
    }

    #[test]
    fn unicode_counts_characters_and_classes() {
        let p = guide();
        // 8 characters (11 bytes): too short here, though pam_pwquality counts bytes.
        assert_eq!(
            verdict(&p, "Abc1#ééé", None, "u"),
            "The password is shorter than 10 characters"
        );
        // Ü and П are upper case letters.
        assert_eq!(verdict(&p, "Ünïcödé#1ab", None, "u"), "OK");
        assert_eq!(verdict(&p, "ПарольХорош1!", None, "u"), "OK");
        assert_eq!(class_of('٣'), Class::Digit);
        assert_eq!(class_of('字'), Class::Other);
    }

    #[test]
    fn check_all_reports_every_reason() {
        let p = guide();
        let req = Request {
            new: "short",
            ..Request::default()
        };
        let all: Vec<String> = check_all(&p, &req, &words())
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            all,
            [
                "The password contains less than 1 digits",
                "The password contains less than 1 uppercase letters",
                "The password contains less than 1 non-alphanumeric characters",
                "The password is shorter than 10 characters",
                "The password fails the dictionary check - it is too short",
            ]
        );
    }

    #[test]
    fn hostile_input_has_a_defined_answer() {
        let p = guide();
        let long = "Xk9#mQ2$vL".repeat(10_240);
        let rotated = format!("{}{}", &long[5..], &long[..5]);
        assert_eq!(
            verdict(&p, &long, Some(&rotated), "u"),
            "The password is just rotated old one"
        );
        assert_eq!(
            verdict(&p, &long, Some(&long[1..]), "u"),
            "The password is too similar to the old one"
        );
        assert_eq!(verdict(&p, &long, Some("Yk8#mQ2$vM"), "u"), "OK");
        assert_eq!(verdict(&p, "Xk9#\u{1}\u{7}Q2$vL", None, "u"), "OK");
        let levenshtein = |a: &str, b: &str, l| {
            distance_below(
                &a.chars().collect::<Vec<_>>(),
                &b.chars().collect::<Vec<_>>(),
                l,
            )
        };
        assert!(levenshtein("kitten", "sitting", 4) && !levenshtein("kitten", "sitting", 3));
        assert!(!levenshtein("", "abc", 3) && levenshtein("", "abc", 4));
        assert!(levenshtein("abc", "abc", 1));
    }

    /// Random text and random policies: no panic, and the PAM decision is
    /// always the first of the checker's reasons.
    #[test]
    fn random_input_never_panics_and_check_agrees_with_check_all() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let pools: [&[char]; 5] = [
            &[
                'a', 'b', 'c', 'x', 'y', 'z', '1', '2', '3', '0', '4', '5', '$', '#', ' ', '!', '.',
            ],
            &['A', 'B', 'Z', 'é', 'Ü', 'ß', 'İ', 'ﬃ', 'Σ', 'ς', 'П', 'ж'],
            &[
                '\u{0}',
                '\u{1}',
                '\u{7f}',
                '\u{200b}',
                '\u{feff}',
                '\u{10ffff}',
                '\t',
                '\n',
            ],
            &['字', '٣', '½', 'Ⅻ', '🙂', '\u{301}', '\u{fffd}'],
            &['p', 'a', 's', 'w', 'o', 'r', 'd', 'q', 'e', 't'],
        ];
        let lines = [
            "retry=3 minlen=10 difok=3 ucredit=-1 lcredit=-2 dcredit=-1 ocredit=-1",
            "minlen=6 dcredit=2 ucredit=1 lcredit=1 ocredit=3 minclass=3 maxrepeat=2 maxsequence=3 maxclassrepeat=2",
            "minlen=8 usersubstr=4 gecoscheck=1 badwords=acme minscore=2",
            "difok=0 dictcheck=0 usercheck=0",
        ];
        let w = words();
        for round in 0..3000 {
            let mut text = |max: u64| -> String {
                let len = next() % max;
                (0..len)
                    .map(|_| {
                        let pool = pools[(next() % pools.len() as u64) as usize];
                        pool[(next() % pool.len() as u64) as usize]
                    })
                    .collect()
            };
            let new = text(24);
            let old = text(24);
            let user = text(10);
            let gecos = text(20);
            let p = Policy::default()
                .apply_args(lines[round % lines.len()].split(' '))
                .unwrap();
            let req = Request {
                new: &new,
                old: (round % 3 != 0).then_some(old.as_str()),
                user: &user,
                gecos: Gecos::Known(&gecos),
            };
            let first = check(&p, &req, &w).err();
            let all = check_all(&p, &req, &w);
            assert_eq!(first.as_ref(), all.first(), "{req:?}");
        }
    }
}
