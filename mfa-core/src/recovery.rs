//! Recovery codes: one-time look-up secrets for when the usual factor is lost.
//!
//! A code is 80 random bits written as 16 Crockford base32 characters in four groups
//! (`7k2m-q9xd-4hvc-e1rt`), so it needs no rate limit to be safe (NIST SP 800-63B §5.1.2
//! asks for 64 bits) and is still typed in once without trouble. It is stored only as
//! PBKDF2-HMAC-SHA256 with a random per-set salt ([`KDF_ROUNDS`] rounds), and a guess is
//! compared with every stored hash in constant time.

use std::fmt;

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Random bytes per code (80 bits).
pub const CODE_BYTES: usize = 10;
/// Characters per code, without separators.
pub const CODE_CHARS: usize = 16;
/// Salt bytes per set.
pub const SALT_BYTES: usize = 16;
/// PBKDF2 rounds for new sets (NIST: "typically at least 10,000").
pub const KDF_ROUNDS: u32 = 10_000;
/// Fewest rounds accepted from a stored set (a tampered row cannot weaken the hash).
pub const MIN_KDF_ROUNDS: u32 = 10_000;
/// Length of a stored hash.
pub const HASH_BYTES: usize = 32;

/// Crockford's base32 alphabet, lowercase: no i, l, o or u to misread.
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// Why a typed recovery code is not well formed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecoveryCodeError {
    /// Wrong number of characters once separators are removed.
    #[error("a recovery code has {CODE_CHARS} letters and digits")]
    Length,
    /// A character outside the alphabet.
    #[error("a recovery code has only the letters and digits it was printed with")]
    Character,
}

/// A recovery code in canonical form (16 lowercase characters). Wiped on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct RecoveryCode(Zeroizing<String>);

impl fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryCode(<redacted>)")
    }
}

impl RecoveryCode {
    /// Encodes [`CODE_BYTES`] random bytes (from the OS CSPRNG) as a code.
    pub fn from_random(bytes: &[u8; CODE_BYTES]) -> Self {
        let mut out = Zeroizing::new(String::with_capacity(CODE_CHARS));
        // 80 bits in 16 groups of 5, most significant first.
        let mut acc: u128 = 0;
        for b in bytes {
            acc = (acc << 8) | u128::from(*b);
        }
        for i in (0..CODE_CHARS).rev() {
            let idx = ((acc >> (5 * i)) & 0x1f) as usize;
            out.push(char::from(ALPHABET[idx]));
        }
        zeroize::Zeroize::zeroize(&mut acc);
        RecoveryCode(out)
    }

    /// Reads a typed code: case, spaces and hyphens do not matter, and the look-alikes
    /// `o`, `i` and `l` are read as `0`, `1` and `1` (Crockford's rule).
    pub fn parse(text: &str) -> Result<Self, RecoveryCodeError> {
        let mut out = Zeroizing::new(String::with_capacity(CODE_CHARS));
        for c in text.trim().chars() {
            let c = match c.to_ascii_lowercase() {
                '-' | ' ' => continue,
                'o' => '0',
                'i' | 'l' => '1',
                c if c.is_ascii() && ALPHABET.contains(&(c as u8)) => c,
                _ => return Err(RecoveryCodeError::Character),
            };
            if out.len() == CODE_CHARS {
                return Err(RecoveryCodeError::Length);
            }
            out.push(c);
        }
        if out.len() != CODE_CHARS {
            return Err(RecoveryCodeError::Length);
        }
        Ok(RecoveryCode(out))
    }

    /// The code as shown to the user: four groups of four, joined by hyphens.
    pub fn display(&self) -> Zeroizing<String> {
        let mut s = Zeroizing::new(String::with_capacity(CODE_CHARS + 3));
        for (i, c) in self.0.chars().enumerate() {
            if i > 0 && i % 4 == 0 {
                s.push('-');
            }
            s.push(c);
        }
        s
    }

    /// The stored form: PBKDF2-HMAC-SHA256 of the canonical code with `salt`.
    pub fn hash(&self, salt: &[u8], rounds: u32) -> [u8; HASH_BYTES] {
        let mut out = [0u8; HASH_BYTES];
        pbkdf2::pbkdf2_hmac::<sha2::Sha256>(self.0.as_bytes(), salt, rounds, &mut out);
        out
    }
}

/// The index of the stored hash equal to `hash`, comparing with every candidate in
/// constant time and without an early exit.
pub fn matching_hash(hash: &[u8; HASH_BYTES], stored: &[[u8; HASH_BYTES]]) -> Option<usize> {
    let mut found: Option<usize> = None;
    for (i, candidate) in stored.iter().enumerate() {
        let equal: bool = candidate.ct_eq(hash).into();
        if equal && found.is_none() {
            found = Some(i);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_encode_all_80_bits_and_round_trip_through_display() {
        let zero = RecoveryCode::from_random(&[0; CODE_BYTES]);
        assert_eq!(zero.display().as_str(), "0000-0000-0000-0000");
        let ones = RecoveryCode::from_random(&[0xff; CODE_BYTES]);
        assert_eq!(ones.display().as_str(), "zzzz-zzzz-zzzz-zzzz");
        // 0x00..0x09: the low bits land in the last characters.
        let c = RecoveryCode::from_random(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0x21]);
        assert_eq!(c.display().as_str(), "0000-0000-0000-0011");
        let bytes = [0x8c, 0x3a, 0x5e, 0x01, 0xff, 0x20, 0x77, 0x9b, 0x44, 0xd2];
        let c = RecoveryCode::from_random(&bytes);
        assert_eq!(RecoveryCode::parse(&c.display()).unwrap(), c);
        assert_ne!(
            c,
            RecoveryCode::from_random(&[
                0x8d, 0x3a, 0x5e, 0x01, 0xff, 0x20, 0x77, 0x9b, 0x44, 0xd2
            ])
        );
    }

    #[test]
    fn typing_is_forgiving_about_case_separators_and_look_alikes() {
        let want = RecoveryCode::parse("0110-abcd-efgh-jkmn").unwrap();
        for typed in [
            "0110abcdefghjkmn",
            " 0110 ABCD EFGH JKMN ",
            "OILO-abcd-efgh-jkmn",
            "o1l0-ABCD-efgh-JKMN",
        ] {
            assert_eq!(RecoveryCode::parse(typed).unwrap(), want, "{typed:?}");
        }
    }

    #[test]
    fn malformed_codes_are_refused() {
        for (typed, err) in [
            ("", RecoveryCodeError::Length),
            ("0000-0000-0000-000", RecoveryCodeError::Length),
            ("0000-0000-0000-00000", RecoveryCodeError::Length),
            ("0000-0000-0000-000u", RecoveryCodeError::Character),
            ("0000-0000-0000-000\u{0}", RecoveryCodeError::Character),
            ("０000-0000-0000-0000", RecoveryCodeError::Character),
            ("123456", RecoveryCodeError::Length),
        ] {
            assert_eq!(RecoveryCode::parse(typed), Err(err), "{typed:?}");
        }
        let long = "0".repeat(1 << 20);
        assert_eq!(RecoveryCode::parse(&long), Err(RecoveryCodeError::Length));
    }

    #[test]
    fn the_hash_is_pbkdf2_hmac_sha256() {
        // RFC 7914 §11 test vector for PBKDF2-HMAC-SHA256 (P="passwd", S="salt", c=1),
        // checked through the same function with the code's canonical bytes replaced.
        let mut out = [0u8; 64];
        pbkdf2::pbkdf2_hmac::<sha2::Sha256>(b"passwd", b"salt", 1, &mut out);
        assert_eq!(
            out[..16],
            [
                0x55, 0xac, 0x04, 0x6e, 0x56, 0xe3, 0x08, 0x9f, 0xec, 0x16, 0x91, 0xc2, 0x25, 0x44,
                0xb6, 0x05
            ]
        );
        let code = RecoveryCode::parse("7k2m-q9xd-4hvc-e1rt").unwrap();
        let mut direct = [0u8; HASH_BYTES];
        pbkdf2::pbkdf2_hmac::<sha2::Sha256>(
            b"7k2mq9xd4hvce1rt",
            b"NaCl-salt-16byte",
            KDF_ROUNDS,
            &mut direct,
        );
        assert_eq!(code.hash(b"NaCl-salt-16byte", KDF_ROUNDS), direct);
        assert_ne!(
            code.hash(b"NaCl-salt-16bytf", KDF_ROUNDS),
            direct,
            "the salt matters"
        );
    }

    #[test]
    fn matching_finds_the_one_equal_hash() {
        let stored = [[1u8; HASH_BYTES], [2u8; HASH_BYTES], [3u8; HASH_BYTES]];
        assert_eq!(matching_hash(&[2u8; HASH_BYTES], &stored), Some(1));
        assert_eq!(matching_hash(&[4u8; HASH_BYTES], &stored), None);
        assert_eq!(matching_hash(&[1u8; HASH_BYTES], &[]), None);
    }

    #[test]
    fn debug_output_never_shows_the_code() {
        let code = RecoveryCode::parse("7k2m-q9xd-4hvc-e1rt").unwrap();
        assert!(!format!("{code:?}").contains("7k2m"));
    }
}
