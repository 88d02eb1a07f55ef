//! User name syntax, checked before any lookup.
//!
//! Existence is checked by the daemon through NSS; this only refuses names that cannot be
//! safe to handle (control characters, separators, leading/trailing space, absurd length).
//! The rule is deliberately wider than `useradd`'s, so SSSD/LDAP names such as
//! `alice@example.com` or `First.Last` pass.

use thiserror::Error;

use mfa_proto::MAX_USER_LEN;

/// Why a user name is refused.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
pub enum UserNameError {
    /// Empty.
    #[error("the user name is empty")]
    Empty,
    /// Longer than 255 bytes.
    #[error("the user name is longer than {MAX_USER_LEN} bytes")]
    TooLong,
    /// Contains whitespace, a control character, `/`, `:` or `\`, or starts with `-`, or is
    /// `.` or `..`.
    #[error(
        "the user name contains characters that are not allowed (whitespace, control characters, '/', ':', '\\' or a leading '-')"
    )]
    BadCharacters,
}

/// Checks the syntax of a user name.
pub fn check_user_name(name: &str) -> Result<(), UserNameError> {
    if name.is_empty() {
        return Err(UserNameError::Empty);
    }
    if name.len() > MAX_USER_LEN {
        return Err(UserNameError::TooLong);
    }
    // Bidi overrides and zero-width characters make a name display as another one.
    let invisible = |c: char| matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}');
    let bad_char = |c: char| {
        c.is_whitespace() || c.is_control() || invisible(c) || matches!(c, '/' | ':' | '\\')
    };
    if name.chars().any(bad_char) || name.starts_with('-') || name == "." || name == ".." {
        return Err(UserNameError::BadCharacters);
    }
    Ok(())
}

/// The name made safe for a log line: control characters are escaped, and it is cut at
/// 64 characters (sudo CVE-2023-28486 class: no terminal escapes into logs).
pub fn loggable(name: &str) -> String {
    let mut out: String = name.chars().take(64).flat_map(char::escape_debug).collect();
    if name.chars().count() > 64 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_and_directory_names_pass() {
        for n in [
            "alice",
            "svc_backup",
            "First.Last",
            "alice@example.com",
            "user$",
            "a-b",
        ] {
            assert_eq!(check_user_name(n), Ok(()), "{n}");
        }
    }

    #[test]
    fn odd_names_are_refused() {
        let cases: &[(&str, UserNameError)] = &[
            ("", UserNameError::Empty),
            (" alice", UserNameError::BadCharacters),
            ("alice ", UserNameError::BadCharacters),
            ("al ice", UserNameError::BadCharacters),
            ("ali:ce", UserNameError::BadCharacters),
            ("../etc", UserNameError::BadCharacters),
            ("a/b", UserNameError::BadCharacters),
            ("alice\n", UserNameError::BadCharacters),
            ("al\0ice", UserNameError::BadCharacters),
            ("al\x1b[2Jice", UserNameError::BadCharacters),
            ("-rf", UserNameError::BadCharacters),
            ("..", UserNameError::BadCharacters),
            ("al\u{202e}ecila", UserNameError::BadCharacters),
            ("ali\u{200b}ce", UserNameError::BadCharacters),
            ("\u{feff}alice", UserNameError::BadCharacters),
        ];
        for (n, want) in cases {
            assert_eq!(check_user_name(n), Err(*want), "{n:?}");
        }
        assert_eq!(
            check_user_name(&"a".repeat(4096)),
            Err(UserNameError::TooLong)
        );
        assert_eq!(check_user_name(&"a".repeat(255)), Ok(()));
    }

    #[test]
    fn loggable_escapes_control_characters_and_truncates() {
        assert_eq!(loggable("al\nice\x1b"), "al\\nice\\u{1b}");
        assert!(loggable(&"x".repeat(100)).ends_with('…'));
    }
}
