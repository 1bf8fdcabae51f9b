//! cracklib's check (`FascistCheck`, version 2.9.6 as Debian ships it): the
//! same steps in the same order, with the same reason texts, over Unicode
//! characters instead of bytes. Pure: the word set and the account's name and
//! GECOS field are passed in.
//!
//! The dictionary step tries the password, then its reverse, through
//! cracklib's "destructor" rules, one rule at a time: trimming one to three
//! characters at either end, purging punctuation, symbols or everything but
//! letters and digits, and undoing leet substitutions (`$`→s, 0→o, 2→a, 3→e,
//! 5→s, 1→i or l, 4→a or h) in every combination cracklib lists. A rule that
//! needs a character the password lacks yields no candidate, as in cracklib.

#![forbid(unsafe_code)]

use std::fmt;

use zeroize::Zeroizing;

use crate::dict::WordSet;

/// cracklib's hard minimum, before any policy.
const MIN_LEN: usize = 6;
/// Fewer distinct characters than this is rejected.
const MIN_DIFFERENT: usize = 5;
/// cracklib truncates what it checks to 255 characters.
const TRUNCATE: usize = 255;

/// cracklib's reason; `Display` gives its text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrackReason {
    WayTooShort,
    TooShort,
    NotEnoughDifferent,
    AllWhitespace,
    Systematic,
    NationalInsurance,
    Username,
    BasedOnEntry,
    DerivedFromEntry,
    DerivedFromEntryReversed,
    DerivableFromEntry,
    DerivableFromEntryReversed,
    DictionaryWord,
    ReversedDictionaryWord,
}

impl fmt::Display for CrackReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.msgid())
    }
}

impl CrackReason {
    /// cracklib's text, which is also its msgid in the "cracklib" domain.
    pub fn msgid(&self) -> &'static str {
        match self {
            CrackReason::WayTooShort => "it is WAY too short",
            CrackReason::TooShort => "it is too short",
            CrackReason::NotEnoughDifferent => "it does not contain enough DIFFERENT characters",
            CrackReason::AllWhitespace => "it is all whitespace",
            CrackReason::Systematic => "it is too simplistic/systematic",
            CrackReason::NationalInsurance => "it looks like a National Insurance number.",
            CrackReason::Username => "it is based on your username",
            CrackReason::BasedOnEntry => "it is based upon your password entry",
            CrackReason::DerivedFromEntry => "it is derived from your password entry",
            CrackReason::DerivedFromEntryReversed => "it's derived from your password entry",
            CrackReason::DerivableFromEntry => "it is derivable from your password entry",
            CrackReason::DerivableFromEntryReversed => "it's derivable from your password entry",
            CrackReason::DictionaryWord => "it is based on a dictionary word",
            CrackReason::ReversedDictionaryWord => "it is based on a (reversed) dictionary word",
        }
    }
}

/// The account the password is for: its login name and GECOS field.
#[derive(Clone, Copy, Debug, Default)]
pub struct Account<'a> {
    pub user: &'a str,
    pub gecos: Option<&'a str>,
}

/// Runs cracklib's checks on `password`; `None` means it passes.
pub fn fascist_check(
    password: &str,
    account: Account<'_>,
    words: &dyn WordSet,
) -> Option<CrackReason> {
    // Copies of the password are wiped when dropped, like pam_pwquality's.
    let raw: Zeroizing<Vec<char>> = Zeroizing::new(password.chars().take(TRUNCATE).collect());
    if raw.len() < 4 {
        return Some(CrackReason::WayTooShort);
    }
    if raw.len() < MIN_LEN {
        return Some(CrackReason::TooShort);
    }
    let mut distinct = raw.clone();
    distinct.sort_unstable();
    distinct.dedup();
    let distinct_count = distinct.len();
    drop(distinct);
    if distinct_count < MIN_DIFFERENT {
        return Some(CrackReason::NotEnoughDifferent);
    }
    let lowered: Zeroizing<String> =
        Zeroizing::new(raw.iter().flat_map(|c| c.to_lowercase()).collect());
    let pw: Zeroizing<Vec<char>> = Zeroizing::new(
        lowered
            .trim_end_matches(is_c_space)
            .trim_start_matches(is_c_space)
            .chars()
            .collect(),
    );
    if pw.is_empty() {
        return Some(CrackReason::AllWhitespace);
    }
    let steps = pw
        .windows(2)
        .filter(|w| (w[1] as i64 - w[0] as i64).abs() == 1)
        .count();
    // cracklib computes 3 + 0.09 * length in floating point and truncates.
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss
    )]
    let most = (3.0 + 0.09 * pw.len() as f64) as usize;
    if steps > most {
        return Some(CrackReason::Systematic);
    }
    if national_insurance(&pw) {
        return Some(CrackReason::NationalInsurance);
    }
    let forward = Zeroizing::new(destructed(&pw));
    if let Some(r) = gecos_check(&pw, &forward, account) {
        return Some(r);
    }
    if forward.iter().any(|c| found(words, c)) {
        return Some(CrackReason::DictionaryWord);
    }
    let reversed: Zeroizing<Vec<char>> = Zeroizing::new(pw.iter().rev().copied().collect());
    if Zeroizing::new(destructed(&reversed))
        .iter()
        .any(|c| found(words, c))
    {
        return Some(CrackReason::ReversedDictionaryWord);
    }
    None
}

fn found(words: &dyn WordSet, candidate: &[char]) -> bool {
    let word: Zeroizing<String> = Zeroizing::new(candidate.iter().collect());
    words.contains(&word)
}

/// C's `isspace` in the C locale.
fn is_c_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r')
}

/// Two letters, six digits, one letter (a UK National Insurance number).
fn national_insurance(pw: &[char]) -> bool {
    pw.len() == 9
        && pw.iter().enumerate().all(|(i, c)| match i {
            0 | 1 | 8 => c.is_alphabetic(),
            _ => c.is_ascii_digit(),
        })
}

/// cracklib's punctuation class (`?p`).
fn is_punct(c: char) -> bool {
    ".`,:;'!?\"".contains(c)
}

/// cracklib's symbol class (`?s`).
fn is_symbol(c: char) -> bool {
    "$%^&*()-_+=|\\[]{}#@/~".contains(c)
}

/// Leet substitutions cracklib undoes, always all occurrences of one character.
const LEET_FIXED: [(char, char); 5] = [('$', 's'), ('0', 'o'), ('2', 'a'), ('3', 'e'), ('5', 's')];
const LEET_ONE: [Option<char>; 3] = [None, Some('i'), Some('l')];
const LEET_FOUR: [Option<char>; 3] = [None, Some('a'), Some('h')];

/// Every candidate cracklib's destructor rules make from `pw`, the password
/// itself first.
fn destructed(pw: &[char]) -> Vec<Vec<char>> {
    let n = pw.len();
    let mut out: Vec<Vec<char>> = Vec::with_capacity(16);
    for (front, back) in [(0, 0), (1, 0), (0, 1), (2, 0), (0, 2), (3, 0), (0, 3)] {
        let start = front.min(n);
        let end = n.saturating_sub(back).max(start);
        out.push(pw[start..end].to_vec());
    }
    let purges: [fn(char) -> bool; 3] = [is_punct, is_symbol, |c| !c.is_alphanumeric()];
    for class in purges {
        if pw.iter().any(|&c| class(c)) {
            out.push(pw.iter().copied().filter(|&c| !class(c)).collect());
        }
    }
    // Leet rules only yield a candidate when every character they replace is
    // present, so only combinations of present characters are built.
    let fixed: Vec<(char, char)> = LEET_FIXED
        .into_iter()
        .filter(|(from, _)| pw.contains(from))
        .collect();
    let ones: &[Option<char>] = if pw.contains(&'1') {
        &LEET_ONE
    } else {
        &LEET_ONE[..1]
    };
    let fours: &[Option<char>] = if pw.contains(&'4') {
        &LEET_FOUR
    } else {
        &LEET_FOUR[..1]
    };
    for mask in 0..(1u32 << fixed.len()) {
        for one in ones {
            for four in fours {
                if mask == 0 && one.is_none() && four.is_none() {
                    continue; // the identity, already tried
                }
                let sub = |c: char| -> char {
                    if let Some((_, to)) = fixed
                        .iter()
                        .enumerate()
                        .find(|(i, (from, _))| mask & (1 << i) != 0 && *from == c)
                        .map(|(_, p)| p)
                    {
                        return *to;
                    }
                    match (c, one, four) {
                        ('1', Some(to), _) | ('4', _, Some(to)) => *to,
                        _ => c,
                    }
                };
                out.push(pw.iter().map(|&c| sub(c)).collect());
            }
        }
    }
    out
}

/// C's `strncmp(a, b, n) == 0`, with the end of a slice as its NUL.
fn strn_eq(a: &[char], b: &[char], n: usize) -> bool {
    for k in 0..n {
        let (x, y) = (a.get(k), b.get(k));
        if x != y {
            return false;
        }
        if x.is_none() {
            return true;
        }
    }
    true
}

/// cracklib's `GTry`: whether the password is a mangled form of `raw`.
fn derived_from(raw: &[char], pw: &[char], candidates: &[Vec<char>]) -> bool {
    let n = pw.len();
    for mp in candidates {
        if strn_eq(mp, raw, n) {
            return true;
        }
        let rev: Zeroizing<Vec<char>> = Zeroizing::new(mp.iter().rev().copied().collect());
        if strn_eq(&rev, raw, n) {
            return true;
        }
    }
    let rev_raw: Vec<char> = raw.iter().rev().copied().collect();
    let constructed: [Vec<char>; 6] = [
        raw.to_vec(),
        rev_raw.clone(),
        [raw, raw].concat(),
        [raw, &rev_raw].concat(),
        [&rev_raw[..], &rev_raw[..]].concat(),
        [&rev_raw[..], raw].concat(),
    ];
    constructed.iter().any(|mp| strn_eq(mp, pw, n))
}

/// cracklib's user name and GECOS checks.
fn gecos_check(pw: &[char], candidates: &[Vec<char>], account: Account<'_>) -> Option<CrackReason> {
    let derived_from = |raw: &[char], pw: &[char]| derived_from(raw, pw, candidates);
    let user: Vec<char> = account.user.chars().collect();
    if derived_from(&user, pw) {
        return Some(CrackReason::Username);
    }
    let gecos: Vec<char> = account
        .gecos
        .unwrap_or("")
        .chars()
        .flat_map(char::to_lowercase)
        .collect();
    let skip = |c: char| is_c_space(c) || (c.is_ascii_punctuation());
    // Split as cracklib does: runs of spaces and punctuation separate words,
    // and two or more trailing separators leave one empty word.
    let mut words: Vec<&[char]> = Vec::new();
    let mut i = 0;
    while i < gecos.len() {
        while i < gecos.len() && skip(gecos[i]) {
            i += 1;
        }
        let start = i;
        while i < gecos.len() && !skip(gecos[i]) {
            i += 1;
        }
        words.push(&gecos[start..i]);
        if i < gecos.len() {
            i += 1;
        }
    }
    if words.iter().any(|w| derived_from(w, pw)) {
        return Some(CrackReason::BasedOnEntry);
    }
    for j in 1..words.len() {
        for i in 0..j {
            let (a, b) = (words[i], words[j]);
            if derived_from(&[a, b].concat(), pw) {
                return Some(CrackReason::DerivedFromEntry);
            }
            if derived_from(&[b, a].concat(), pw) {
                return Some(CrackReason::DerivedFromEntryReversed);
            }
            if derived_from(&[&a[..a.len().min(1)], b].concat(), pw) {
                return Some(CrackReason::DerivableFromEntry);
            }
            if derived_from(&[&b[..b.len().min(1)], a].concat(), pw) {
                return Some(CrackReason::DerivableFromEntryReversed);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dict::SortedWords;

    fn words() -> SortedWords {
        SortedWords::from_text("password\nqwerty123\ndragon\nmonkey\nsecret\n")
    }

    fn check(pw: &str) -> Option<CrackReason> {
        fascist_check(
            pw,
            Account {
                user: "nobody",
                gecos: Some("nobody"),
            },
            &words(),
        )
    }

    #[test]
    fn length_and_variety_come_first() {
        assert_eq!(check("abc"), Some(CrackReason::WayTooShort));
        assert_eq!(check("ab1#x"), Some(CrackReason::TooShort));
        assert_eq!(check("Aaaaaaaa1#"), Some(CrackReason::NotEnoughDifferent));
        assert_eq!(check("Zz1!Zz1!Zz"), Some(CrackReason::NotEnoughDifferent));
        assert_eq!(check("Abcdefgh1#"), Some(CrackReason::Systematic));
        assert_eq!(check("ab123456c"), Some(CrackReason::Systematic));
        assert_eq!(check("ab193746c"), Some(CrackReason::NationalInsurance));
    }

    #[test]
    fn dictionary_words_are_found_through_the_rules() {
        for pw in [
            "Password1!",
            "P4ssw0rd",
            "Dragon1!",
            "Qwerty123!",
            "pa$$word",
            "#password#",
        ] {
            assert_eq!(check(pw), Some(CrackReason::DictionaryWord), "{pw}");
        }
        assert_eq!(check("drowssap"), Some(CrackReason::ReversedDictionaryWord));
        // Rules never compose: trimming and leet together are not tried.
        for pw in ["Passw0rd!!", "P@ssw0rd12", "xPassword1!", "Xk9#mQ2$vL"] {
            assert_eq!(check(pw), None, "{pw}");
        }
    }

    #[test]
    fn user_and_gecos_forms_are_found() {
        let acct = Account {
            user: "jsmith",
            gecos: Some("John Smith,,,"),
        };
        let w = SortedWords::from_text("");
        assert_eq!(
            fascist_check("jsmith", acct, &w),
            Some(CrackReason::Username)
        );
        assert_eq!(
            fascist_check("htimsj", acct, &w),
            Some(CrackReason::Username)
        );
        assert_eq!(
            fascist_check("smith!", acct, &w),
            Some(CrackReason::BasedOnEntry)
        );
        assert_eq!(
            fascist_check("johnsmith", acct, &w),
            Some(CrackReason::DerivedFromEntry)
        );
        assert_eq!(
            fascist_check("smithjohn", acct, &w),
            Some(CrackReason::DerivedFromEntryReversed)
        );
        assert_eq!(fascist_check("Xk9#mQ2$vL", acct, &w), None);
    }

    #[test]
    fn long_and_unicode_input_is_handled() {
        let long = "Xk9#mQ2$vL".repeat(10_000);
        assert_eq!(check(&long), None);
        assert_eq!(check("ПарольХорош1!"), None);
        assert_eq!(check("      "), Some(CrackReason::NotEnoughDifferent));
        assert_eq!(
            check("\u{0}\u{1}\u{2}\u{3}\u{4}\u{5}"),
            Some(CrackReason::Systematic)
        );
    }
}
