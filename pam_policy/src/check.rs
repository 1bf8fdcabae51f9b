//! The policy decision: pure functions over the new password, the old one
//! and the user, no I/O.

use std::fmt;

use crate::options::Policy;

/// Why a password was refused; `Display` gives pam_pwquality's reason text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rejection {
    Empty,
    TooShort(i64),
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::Empty => f.write_str("No password supplied"),
            Rejection::TooShort(n) => write!(f, "The password is shorter than {n} characters"),
        }
    }
}

/// Checks `new` against `policy`. Lengths count Unicode characters.
pub fn check(policy: &Policy, new: &str, _old: Option<&str>, _user: &str) -> Result<(), Rejection> {
    if new.is_empty() {
        return Err(Rejection::Empty);
    }
    let length = i64::try_from(new.chars().count()).unwrap_or(i64::MAX);
    if length < policy.minlen {
        return Err(Rejection::TooShort(policy.minlen));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_counts_characters_not_bytes() {
        let p = Policy::default();
        assert_eq!(check(&p, "", None, "u"), Err(Rejection::Empty));
        assert_eq!(check(&p, "abcdefg", None, "u"), Err(Rejection::TooShort(8)));
        assert_eq!(check(&p, "abcdefgh", None, "u"), Ok(()));
        // 7 characters, 14 bytes: too short.
        assert_eq!(
            check(&p, "ääääääää".get(..14).unwrap_or(""), None, "u"),
            Err(Rejection::TooShort(8))
        );
    }

    #[test]
    fn messages_are_pam_pwquality_texts() {
        assert_eq!(Rejection::Empty.to_string(), "No password supplied");
        assert_eq!(
            Rejection::TooShort(10).to_string(),
            "The password is shorter than 10 characters"
        );
    }
}
