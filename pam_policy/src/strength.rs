//! `minscore=`: zxcvbn's estimate of how many guesses a password takes, as a
//! score from 0 (under 10^3 guesses) to 4 (10^10 or more), with its advice.

#![forbid(unsafe_code)]

use std::panic::{AssertUnwindSafe, catch_unwind};

/// zxcvbn's verdict on one password.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Strength {
    pub score: u8,
    pub warning: Option<String>,
    pub suggestions: Vec<String>,
}

/// Scores `password`; `user_inputs` (user name, GECOS words, badwords) count
/// as known words. zxcvbn looks at the first 100 characters only. Should the
/// estimator fail, the password scores 0 and says why, rather than passing.
pub fn estimate(password: &str, user_inputs: &[&str]) -> Strength {
    let inputs: Vec<&str> = user_inputs
        .iter()
        .copied()
        .filter(|s| !s.is_empty())
        .collect();
    match catch_unwind(AssertUnwindSafe(|| zxcvbn::zxcvbn(password, &inputs))) {
        Ok(entropy) => {
            let feedback = entropy.feedback();
            Strength {
                score: u8::from(entropy.score()),
                warning: feedback
                    .and_then(|f| f.warning())
                    .map(|w| with_stop(w.to_string())),
                suggestions: feedback
                    .map(|f| {
                        f.suggestions()
                            .iter()
                            .map(|s| with_stop(s.to_string()))
                            .collect()
                    })
                    .unwrap_or_default(),
            }
        }
        Err(_) => Strength {
            score: 0,
            warning: Some("The strength of this password could not be estimated.".to_owned()),
            suggestions: Vec::new(),
        },
    }
}

fn with_stop(mut s: String) -> String {
    if !s.ends_with(['.', '!', '?']) {
        s.push('.');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_passwords_score_low_with_advice() {
        let s = estimate("Password1!", &[]);
        assert!(s.score <= 2, "{s:?}");
        assert!(s.warning.is_some() || !s.suggestions.is_empty(), "{s:?}");
        let strong = estimate("correct horse battery staple", &[]);
        assert_eq!(strong.score, 4, "{strong:?}");
    }

    #[test]
    fn user_inputs_count_as_known_words() {
        let alone = estimate("zorblatt1983", &[]);
        let known = estimate("zorblatt1983", &["zorblatt"]);
        assert!(known.score <= alone.score, "{alone:?} {known:?}");
    }

    #[test]
    fn long_input_is_bounded() {
        let s = estimate(&"a".repeat(100 * 1024), &[]);
        assert!(s.score <= 1);
    }
}
