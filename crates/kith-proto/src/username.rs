//! Usernames: what a name is, the one form every look-alike of it shares,
//! and the two values derived from that form (the lookup the server keys
//! the name by, the key its record is sealed with). The server never sees
//! a name, only its lookup; a client and the operator's tool derive both
//! the same way.

use unicode_normalization::UnicodeNormalization;
use unicode_security::confusable_detection::skeleton;

/// Shortest username, in characters.
pub const MIN_USERNAME_CHARS: usize = 3;
/// Longest username, in characters.
pub const MAX_USERNAME_CHARS: usize = 32;
/// Largest sealed record the server keeps for a name, in bytes.
pub const MAX_NAME_RECORD_BYTES: usize = 4 * 1024;

/// Why a string is not a username.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsernameError {
    /// Shorter than [`MIN_USERNAME_CHARS`] or longer than [`MAX_USERNAME_CHARS`].
    #[error("a username has {MIN_USERNAME_CHARS} to {MAX_USERNAME_CHARS} characters")]
    Length,
    /// A character that has no look-alike among `a`-`z`, `0`-`9`, `_` and `.`.
    #[error("a username uses the letters a-z, digits, '_' and '.'; {0:?} is not one of them")]
    Character(char),
    /// A dot at either end or two dots in a row.
    #[error("a username does not start or end with '.', nor has two in a row")]
    Dots,
}

/// A username as its owner typed it (lower case) and the form every name
/// that looks like it shares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username {
    shown: String,
    canonical: String,
}

impl Username {
    /// Checks and normalises `input` (a leading `@` is dropped, case and
    /// compatibility forms folded). `A1ice`, `alice` and `аlice` with a
    /// Cyrillic `а` are one name: the canonical form is the UTS #39
    /// confusable skeleton, folded to lower case.
    pub fn parse(input: &str) -> Result<Username, UsernameError> {
        let trimmed = input.trim();
        let trimmed = trimmed.strip_prefix('@').unwrap_or(trimmed);
        let shown: String = trimmed.nfkc().flat_map(char::to_lowercase).collect();
        let count = shown.chars().count();
        if !(MIN_USERNAME_CHARS..=MAX_USERNAME_CHARS).contains(&count) {
            return Err(UsernameError::Length);
        }
        let canonical: String = skeleton(&shown).flat_map(char::to_lowercase).collect();
        // The skeleton of a name in another script may still hold letters
        // with no Latin look-alike: those names are not offered (as in
        // most messengers, usernames are a-z), and saying which character
        // is better than a silent mismatch.
        if let Some(bad) = canonical.chars().find(|c| !is_username_char(*c)) {
            let typed = shown.chars().find(|c| !is_username_char(*c)).unwrap_or(bad);
            return Err(UsernameError::Character(typed));
        }
        if canonical.starts_with('.') || canonical.ends_with('.') || canonical.contains("..") {
            return Err(UsernameError::Dots);
        }
        Ok(Username { shown, canonical })
    }

    /// The name as shown (what its owner typed, in lower case).
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// The form all of its look-alikes share.
    pub fn canonical(&self) -> &str {
        &self.canonical
    }

    /// What the server keys the name by: a hash of the canonical form.
    pub fn lookup(&self) -> [u8; 32] {
        blake3::derive_key("kith username lookup v1", self.canonical.as_bytes())
    }

    /// The key the name's record is sealed with: only someone who knows
    /// the name (or guesses it) can read whose it is.
    pub fn record_key(&self) -> [u8; 32] {
        blake3::derive_key("kith username record v1", self.canonical.as_bytes())
    }
}

fn is_username_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn look_alikes_share_one_form() {
        let alice = Username::parse("alice").unwrap();
        for same in ["Alice", "@ALICE", "A1ice", "\u{0430}lice", "ａｌｉｃｅ", " alice "] {
            let other = Username::parse(same).unwrap_or_else(|err| panic!("{same:?}: {err}"));
            assert_eq!(other.canonical(), alice.canonical(), "{same:?}");
            assert_eq!(other.lookup(), alice.lookup(), "{same:?}");
        }
        assert_ne!(Username::parse("alicia").unwrap().lookup(), alice.lookup());
        assert_eq!(Username::parse("A1ice").unwrap().shown(), "a1ice");
    }

    #[test]
    fn what_is_not_a_name_is_refused_with_a_reason() {
        assert_eq!(Username::parse("al"), Err(UsernameError::Length));
        assert_eq!(Username::parse(&"a".repeat(33)), Err(UsernameError::Length));
        assert_eq!(Username::parse("al ice"), Err(UsernameError::Character(' ')));
        assert_eq!(Username::parse("жук"), Err(UsernameError::Character('ж')));
        assert_eq!(Username::parse(".alice"), Err(UsernameError::Dots));
        assert_eq!(Username::parse("al..ice"), Err(UsernameError::Dots));
        assert!(Username::parse("bob_smith.99").is_ok());
    }
}
