//! What users type: TOTP codes (`parse_code`), recovery codes (the normaliser of
//! `RecoveryCode::parse`), base32 secrets (`TotpKey::from_base32`) and user names
//! (`check_user_name`, `loggable`).
//!
//! Checked: no panic; an accepted code is 1 to 10 ASCII digits equal to the input without
//! its surrounding ASCII whitespace; an accepted recovery code reads back the same from its
//! displayed form; an accepted secret is 16 to 128 bytes; an accepted user name has no
//! separator or control character; a logged name has no control character.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mfa_core::code::parse_code;
use mfa_core::recovery::RecoveryCode;
use mfa_core::totp::{MAX_SECRET_BYTES, MIN_SECRET_BYTES, TotpKey, TotpParams};
use mfa_core::username::{check_user_name, loggable};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(code) = parse_code(text) {
        let s = code.as_str();
        assert!((1..=10).contains(&s.len()), "{s:?}");
        assert!(s.bytes().all(|b| b.is_ascii_digit()), "{s:?}");
        assert_eq!(s, text.trim_matches(|c: char| c.is_ascii_whitespace()));
    }
    if let Ok(rc) = RecoveryCode::parse(text) {
        let shown = rc.display();
        assert!(RecoveryCode::parse(&shown).ok() == Some(rc), "{shown:?}");
    }
    if let Ok(key) = TotpKey::from_base32(text, TotpParams::default()) {
        assert!((MIN_SECRET_BYTES..=MAX_SECRET_BYTES).contains(&key.secret().len()));
    }
    if check_user_name(text).is_ok() {
        assert!(!text.is_empty() && text.len() <= mfa_proto::MAX_USER_LEN);
        assert!(
            !text
                .chars()
                .any(|c| c.is_control() || c.is_whitespace() || matches!(c, '/' | ':' | '\\')),
            "{text:?}"
        );
    }
    let logged = loggable(text);
    assert!(!logged.chars().any(char::is_control), "{logged:?}");
});
