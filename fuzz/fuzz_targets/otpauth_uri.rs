//! otpauth URIs (`TotpKey::otpauth_uri`, what `mfactl enroll totp` shows and puts in the QR
//! code) for arbitrary secrets, parameters, issuers and account names, read back by an
//! independent parser (totp-rs's `from_url`, as an authenticator app would).
//!
//! Checked: no panic; whenever a URI is produced, it parses back to the same secret (same
//! codes at a fuzzed time), digits, period, issuer and account.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mfa_core::totp::{TotpKey, TotpParams};
use mfa_proto::TotpAlgorithm;
use zeroize::Zeroizing;

fuzz_target!(|data: &[u8]| {
    if data.len() < 12 {
        return;
    }
    let (head, rest) = data.split_at(12);
    let algorithm = match head[0] % 3 {
        0 => TotpAlgorithm::Sha1,
        1 => TotpAlgorithm::Sha256,
        _ => TotpAlgorithm::Sha512,
    };
    let params = TotpParams {
        algorithm,
        digits: if head[1] & 1 == 0 { 6 } else { 8 },
        period: if head[1] & 2 == 0 { 30 } else { 60 },
    };
    let secret_len = 16 + usize::from(head[2]) % 113;
    let time = u64::from_le_bytes(head[4..12].try_into().expect("8 bytes")) >> 1;
    if rest.len() < secret_len {
        return;
    }
    let (secret, labels) = rest.split_at(secret_len);
    let labels = String::from_utf8_lossy(labels);
    let (issuer, account) = labels
        .split_once('\u{0}')
        .unwrap_or(("pam_mfa@host", &labels));
    let key = TotpKey::new(Zeroizing::new(secret.to_vec()), params).expect("valid key");
    let Ok(uri) = key.otpauth_uri(issuer, account) else {
        return;
    };
    let parsed = totp_rs::Totp::from_url(uri.as_str())
        .unwrap_or_else(|e| panic!("our URI does not parse back: {e}: {:?}", uri.as_str()));
    assert_eq!(u32::from(parsed.digits()), params.digits);
    assert_eq!(parsed.step(), u64::from(params.period));
    assert_eq!(parsed.account_name(), account);
    assert_eq!(parsed.issuer(), Some(issuer));
    assert_eq!(
        parsed.generate(time).to_string(),
        key.code_at(time).as_str()
    );
});
