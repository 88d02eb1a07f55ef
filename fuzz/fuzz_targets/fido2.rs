//! FIDO2 (`mfa_core::fido2`): authenticator data, COSE keys, attestation objects and the
//! assertion check, on arbitrary bytes.
//!
//! Input: a control byte, then the bytes under test.
//! Checked: no panic; a parsed COSE key re-encodes to an equal key; a registration that
//! verifies carries the key it stores; and, with the harness signing the fuzzed
//! authenticator data with a real Ed25519 key, an assertion verifies exactly when the RP ID
//! hash matches, UP (and UV when required) is set and the counter moved forward, and never
//! with a damaged signature.
#![no_main]

use ed25519_dalek::{Signer, SigningKey};
use libfuzzer_sys::fuzz_target;
use mfa_core::fido2::{
    AuthenticatorData, CredentialPublicKey, Expected, StoredCredential, rp_id_hash,
    verify_assertion, verify_registration,
};

const RP_ID: &str = "host.example";

fuzz_target!(|data: &[u8]| {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let expected = Expected::for_challenge(RP_ID, b"fuzz challenge", control & 0x10 != 0);
    match control % 4 {
        0 => {
            if let Ok(key) = CredentialPublicKey::from_cose(rest) {
                let again =
                    CredentialPublicKey::from_cose(&key.to_cose()).expect("to_cose output parses");
                assert_eq!(again, key);
            }
        }
        1 => {
            if let Ok(reg) = verify_registration(&expected, rest) {
                let key = CredentialPublicKey::from_cose(&reg.public_key_cose)
                    .expect("stored COSE key parses");
                assert_eq!(key, reg.public_key);
                assert!(reg.flags.user_present());
            }
        }
        2 => {
            let _ = AuthenticatorData::parse(rest);
        }
        _ => assertion(control, rest, &expected),
    }
});

fn assertion(control: u8, rest: &[u8], expected: &Expected<'_>) {
    let signing = SigningKey::from_bytes(&[7u8; 32]);
    let cose = CredentialPublicKey::Ed25519(signing.verifying_key()).to_cose();
    let stored_count = if control & 0x20 != 0 { 0 } else { 5 };
    let stored = StoredCredential::new(b"cred".to_vec(), &cose, stored_count).expect("stored");
    let mut auth_data = rest.to_vec();
    // Mostly give it the right RP ID hash, so the later checks are reached.
    if control & 0x40 == 0 && auth_data.len() >= 32 {
        auth_data[..32].copy_from_slice(&rp_id_hash(RP_ID));
    }
    let mut signed = auth_data.clone();
    signed.extend_from_slice(&expected.client_data_hash);
    let signature = signing.sign(&signed).to_bytes();

    let parsed = AuthenticatorData::parse(&auth_data);
    let should_pass = parsed.as_ref().is_ok_and(|d| {
        d.rp_id_hash == rp_id_hash(RP_ID)
            && d.flags.user_present()
            && (!expected.require_uv || d.flags.user_verified())
            && ((stored_count == 0 && d.sign_count == 0) || d.sign_count > stored_count)
    });
    let result = verify_assertion(&stored, expected, &auth_data, &signature);
    assert_eq!(result.is_ok(), should_pass, "{result:?} vs {parsed:?}");
    if let Ok(v) = result {
        assert_eq!(Ok(v.new_counter), parsed.map(|d| d.sign_count));
    }
    let mut bad = signature;
    bad[usize::from(control) % bad.len()] ^= 1;
    assert!(verify_assertion(&stored, expected, &auth_data, &bad).is_err());
}
