//! `sshd -T` output: one `keyword value` per line, keywords in lower case.

#![forbid(unsafe_code)]

use std::collections::BTreeMap;

/// sshd's effective settings, the first value of each keyword.
#[derive(Clone, Debug, Default)]
pub struct SshdConfig {
    values: BTreeMap<String, String>,
}

impl SshdConfig {
    pub fn parse(text: &str) -> SshdConfig {
        let mut values = BTreeMap::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (key, value) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            values
                .entry(key.to_ascii_lowercase())
                .or_insert_with(|| value.trim().to_owned());
        }
        SshdConfig { values }
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    /// A yes/no keyword, with sshd's own default when `sshd -T` did not print it.
    pub fn yes(&self, key: &str, default: bool) -> bool {
        match self.get(key) {
            Some(v) => v.eq_ignore_ascii_case("yes"),
            None => default,
        }
    }

    pub fn use_pam(&self) -> bool {
        self.yes("usepam", false)
    }

    /// KbdInteractiveAuthentication; OpenSSH before 8.7 printed the old name.
    pub fn kbd_interactive(&self) -> bool {
        match self.get("kbdinteractiveauthentication") {
            Some(v) => v.eq_ignore_ascii_case("yes"),
            None => self.yes("challengeresponseauthentication", true),
        }
    }

    pub fn password(&self) -> bool {
        self.yes("passwordauthentication", true)
    }

    pub fn pubkey(&self) -> bool {
        self.yes("pubkeyauthentication", true)
    }

    /// AuthenticationMethods as lists of methods; `None` for `any`.
    pub fn auth_methods(&self) -> Option<Vec<Vec<String>>> {
        let v = self.get("authenticationmethods")?;
        if v.trim() == "any" || v.trim().is_empty() {
            return None;
        }
        Some(
            v.split_whitespace()
                .map(|list| {
                    list.split(',')
                        .map(|m| m.split(':').next().unwrap_or(m).to_owned())
                        .collect()
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_value_wins_and_lists_split() {
        let c = SshdConfig::parse(
            "usepam yes\nauthenticationmethods publickey,keyboard-interactive:pam password\nusepam no\n",
        );
        assert!(c.use_pam());
        assert_eq!(
            c.auth_methods(),
            Some(vec![
                vec!["publickey".to_owned(), "keyboard-interactive".to_owned()],
                vec!["password".to_owned()]
            ])
        );
        assert!(
            SshdConfig::parse("authenticationmethods any")
                .auth_methods()
                .is_none()
        );
    }
}
