//! Parsing what a user typed into a one-time code.

use thiserror::Error;
use zeroize::Zeroizing;

use mfa_proto::MAX_ANSWER_LEN;

/// Why an answer is not a well-formed code. Messages never echo the input.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
pub enum CodeError {
    /// Nothing was typed.
    #[error("no code was entered")]
    Empty,
    /// Longer than any code we accept.
    #[error("the code is too long")]
    TooLong,
    /// Something other than ASCII digits (letters, signs, inner spaces, other scripts' digits).
    #[error("the code must consist of the digits 0-9 only")]
    NotDigits,
    /// The right characters but the wrong number of them.
    #[error("the code must have {expected} digits")]
    WrongLength {
        /// The token's digit count.
        expected: u32,
    },
}

/// A syntactically valid code: ASCII digits only, zeroized when dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct Code(Zeroizing<String>);

impl Code {
    /// The digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Number of digits.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always false: a parsed code has at least one digit.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Code(<{} digits>)", self.0.len())
    }
}

/// Parses an answer: ASCII whitespace at either end is dropped (apps and users add it);
/// everything else must be an ASCII digit. Length is checked against the token later.
pub fn parse_code(input: &str) -> Result<Code, CodeError> {
    if input.len() > MAX_ANSWER_LEN {
        return Err(CodeError::TooLong);
    }
    let trimmed = input.trim_matches(|c: char| c.is_ascii_whitespace());
    if trimmed.is_empty() {
        return Err(CodeError::Empty);
    }
    // `is_ascii_digit` rejects fullwidth and Arabic-Indic digits, signs and NUL.
    if !trimmed.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CodeError::NotDigits);
    }
    if trimmed.len() > 10 {
        return Err(CodeError::TooLong);
    }
    Ok(Code(Zeroizing::new(trimmed.to_owned())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn surrounding_whitespace_is_dropped() {
        assert_eq!(parse_code(" 123456\n").unwrap().as_str(), "123456");
        assert_eq!(parse_code("\t12345678 \r\n").unwrap().as_str(), "12345678");
    }

    #[test]
    fn bad_inputs_get_a_specific_error() {
        let cases: &[(&str, CodeError)] = &[
            ("", CodeError::Empty),
            ("   ", CodeError::Empty),
            ("12 3456", CodeError::NotDigits),
            ("12a456", CodeError::NotDigits),
            ("+123456", CodeError::NotDigits),
            ("-123456", CodeError::NotDigits),
            ("0x1234", CodeError::NotDigits),
            ("1e5", CodeError::NotDigits),
            ("123\u{0}456", CodeError::NotDigits),
            ("１２３４５６", CodeError::NotDigits), // fullwidth
            ("١٢٣٤٥٦", CodeError::NotDigits),       // Arabic-Indic
            ("12345678901", CodeError::TooLong),
        ];
        for (input, want) in cases {
            assert_eq!(parse_code(input).unwrap_err(), *want, "input {input:?}");
        }
        assert_eq!(
            parse_code(&"1".repeat(1 << 20)).unwrap_err(),
            CodeError::TooLong
        );
    }

    #[test]
    fn debug_output_hides_the_digits() {
        let c = parse_code("123456").unwrap();
        assert!(!format!("{c:?}").contains("123456"));
    }
}
