//! Assertion verification: a valid login for each algorithm, and every refusal.

use super::{CHALLENGE, RP, TestKey, auth_data};
use crate::fido2::{
    Expected, Fido2Error, Flags, StoredCredential, Verified, select_credential, verify_assertion,
};

const UP: u8 = Flags::USER_PRESENT;
const UV: u8 = Flags::USER_VERIFIED;
const CRED_ID: &[u8] = b"credential-one";

fn stored(key: &TestKey, counter: u32) -> StoredCredential {
    StoredCredential::new(CRED_ID.to_vec(), &key.cose(), counter).expect("stored key decodes")
}

fn expected(require_uv: bool) -> Expected<'static> {
    Expected::for_challenge(RP, CHALLENGE, require_uv)
}

/// Signs fresh authenticator data with `key` and verifies it against `stored`.
fn login(
    key: &TestKey,
    stored: &StoredCredential,
    rp_id: &str,
    flags: u8,
    counter: u32,
    require_uv: bool,
) -> Result<Verified, Fido2Error> {
    let data = auth_data(rp_id, flags, counter);
    let sig = key.sign_assertion(&data, CHALLENGE);
    verify_assertion(stored, &expected(require_uv), &data, &sig)
}

#[test]
fn a_valid_touch_verifies_for_es256_and_eddsa_and_returns_the_new_counter() {
    for key in [TestKey::es256(1), TestKey::ed25519(1)] {
        let cred = stored(&key, 41);
        let verified = login(&key, &cred, RP, UP, 42, false).expect("valid assertion");
        assert_eq!(verified.new_counter, 42);
        assert_eq!(verified.flags, Flags::from_bits(UP));
        let verified = login(&key, &cred, RP, UP | UV, 100, true).expect("valid with UV");
        assert_eq!(verified.new_counter, 100);
        assert!(verified.flags.user_verified());
    }
}

#[test]
fn the_expected_challenge_hash_is_sha256_of_the_challenge() {
    let e = Expected::for_challenge(RP, b"abc", true);
    assert_eq!(e.client_data_hash, crate::fido2::client_data_hash(b"abc"));
    assert_eq!(e.rp_id, RP);
    assert!(e.require_uv);
}

#[test]
fn another_challenge_is_a_bad_signature() {
    let key = TestKey::es256(1);
    let data = auth_data(RP, UP, 1);
    let sig = key.sign_assertion(&data, b"a different challenge");
    assert_eq!(
        verify_assertion(&stored(&key, 0), &expected(false), &data, &sig),
        Err(Fido2Error::BadSignature)
    );
}

#[test]
fn a_signature_by_another_credential_is_refused() {
    for (signer, registered) in [
        (TestKey::es256(1), TestKey::es256(2)),
        (TestKey::ed25519(1), TestKey::ed25519(2)),
        (TestKey::ed25519(1), TestKey::es256(1)),
    ] {
        let result = login(&signer, &stored(&registered, 0), RP, UP, 1, false);
        assert!(
            matches!(
                result,
                Err(Fido2Error::BadSignature | Fido2Error::MalformedSignature(_))
            ),
            "{result:?}"
        );
    }
}

#[test]
fn an_unregistered_credential_id_is_unknown() {
    let creds = vec![
        stored(&TestKey::es256(1), 0),
        StoredCredential::new(b"credential-two".to_vec(), &TestKey::ed25519(1).cose(), 0)
            .expect("decodes"),
    ];
    assert_eq!(
        select_credential(&creds, b"credential-two").map(StoredCredential::credential_id),
        Ok(&b"credential-two"[..])
    );
    assert_eq!(
        select_credential(&creds, b"credential-3"),
        Err(Fido2Error::UnknownCredential)
    );
    assert_eq!(
        select_credential(&[], CRED_ID),
        Err(Fido2Error::UnknownCredential)
    );
}

#[test]
fn altered_authenticator_data_or_signature_is_refused() {
    let key = TestKey::es256(1);
    let data = auth_data(RP, UP, 5);
    let sig = key.sign_assertion(&data, CHALLENGE);
    // Raising the counter or setting UV after signing breaks the signature.
    for (index, bit) in [(36, 0x01), (32, Flags::USER_VERIFIED), (0, 0x80)] {
        let mut altered = data.clone();
        altered[index] ^= bit;
        assert_eq!(
            verify_assertion(&stored(&key, 0), &expected(false), &altered, &sig),
            Err(Fido2Error::BadSignature)
        );
    }
    let mut bad_sig = sig.clone();
    let last = bad_sig.len() - 1;
    bad_sig[last] ^= 0x01;
    assert_eq!(
        verify_assertion(&stored(&key, 0), &expected(false), &data, &bad_sig),
        Err(Fido2Error::BadSignature)
    );
    assert!(matches!(
        verify_assertion(&stored(&key, 0), &expected(false), &data, &[0x30, 0x00]),
        Err(Fido2Error::MalformedSignature(_))
    ));
    assert!(matches!(
        verify_assertion(&stored(&key, 0), &expected(false), &data[..36], &sig),
        Err(Fido2Error::MalformedAuthenticatorData(_))
    ));
}

#[test]
fn a_genuine_signature_for_another_rp_id_is_the_wrong_relying_party() {
    for key in [TestKey::es256(1), TestKey::ed25519(1)] {
        let result = login(&key, &stored(&key, 0), "pam_mfa://otherhost", UP, 1, false);
        assert_eq!(
            result,
            Err(Fido2Error::WrongRelyingParty {
                rp_id: RP.to_owned()
            })
        );
    }
    let message = Fido2Error::WrongRelyingParty {
        rp_id: RP.to_owned(),
    }
    .to_string();
    assert!(message.contains(RP), "{message}");
}

#[test]
fn user_presence_is_always_required() {
    for key in [TestKey::es256(1), TestKey::ed25519(1)] {
        assert_eq!(
            login(&key, &stored(&key, 0), RP, 0, 1, false),
            Err(Fido2Error::UserNotPresent)
        );
        // UV alone does not stand in for UP.
        assert_eq!(
            login(&key, &stored(&key, 0), RP, UV, 1, true),
            Err(Fido2Error::UserNotPresent)
        );
    }
}

#[test]
fn user_verification_is_required_only_when_asked_for() {
    let key = TestKey::ed25519(1);
    assert_eq!(
        login(&key, &stored(&key, 0), RP, UP, 1, true),
        Err(Fido2Error::UserNotVerified)
    );
    let verified = login(&key, &stored(&key, 0), RP, UP, 1, false).expect("UV not required");
    assert!(!verified.flags.user_verified());
}

#[test]
fn a_counter_that_does_not_grow_is_a_cloned_key() {
    let key = TestKey::es256(1);
    for (stored_count, received) in [(5, 5), (5, 4), (5, 0), (u32::MAX, u32::MAX)] {
        assert_eq!(
            login(&key, &stored(&key, stored_count), RP, UP, received, false),
            Err(Fido2Error::CounterRegression {
                stored: stored_count,
                received
            })
        );
    }
    let message = Fido2Error::CounterRegression {
        stored: 5,
        received: 4,
    }
    .to_string();
    assert!(message.contains("cloned") && message.contains('5') && message.contains('4'));
}

#[test]
fn counters_that_grow_or_stay_unused_are_accepted() {
    let key = TestKey::es256(1);
    for (stored_count, received) in [(0, 0), (0, 1), (5, 6), (5, 1_000_000), (0, u32::MAX)] {
        let verified = login(&key, &stored(&key, stored_count), RP, UP, received, false)
            .unwrap_or_else(|e| panic!("{stored_count} -> {received}: {e}"));
        assert_eq!(verified.new_counter, received);
    }
}

#[test]
fn a_stored_key_that_no_longer_decodes_is_refused_when_loaded() {
    let mut cose = TestKey::es256(1).cose();
    cose[20] ^= 0xFF;
    assert!(matches!(
        StoredCredential::new(CRED_ID.to_vec(), &cose, 0),
        Err(Fido2Error::MalformedPublicKey(_))
    ));
    let cred = stored(&TestKey::ed25519(1), 7);
    assert_eq!(cred.credential_id(), CRED_ID);
    assert_eq!(cred.sign_count(), 7);
    assert_eq!(cred.public_key(), &TestKey::ed25519(1).public());
}

#[test]
fn every_error_has_its_own_reason_code_and_a_message() {
    let all = [
        Fido2Error::MalformedAuthenticatorData("x".into()),
        Fido2Error::MalformedPublicKey("x".into()),
        Fido2Error::UnsupportedAlgorithm(-257),
        Fido2Error::MalformedSignature("x".into()),
        Fido2Error::BadSignature,
        Fido2Error::WrongRelyingParty { rp_id: RP.into() },
        Fido2Error::UserNotPresent,
        Fido2Error::UserNotVerified,
        Fido2Error::CounterRegression {
            stored: 1,
            received: 1,
        },
        Fido2Error::UnknownCredential,
        Fido2Error::MalformedAttestation("x".into()),
        Fido2Error::UnsupportedAttestationFormat("tpm".into()),
        Fido2Error::UnsupportedAttestationAlgorithm(-8),
        Fido2Error::MalformedAttestationCertificate("x".into()),
        Fido2Error::BadAttestationSignature,
        Fido2Error::MissingAttestedCredential,
    ];
    let mut reasons: Vec<&str> = all.iter().map(Fido2Error::reason).collect();
    assert!(reasons.iter().all(|r| r.starts_with("fido2-")));
    reasons.sort_unstable();
    reasons.dedup();
    assert_eq!(reasons.len(), all.len(), "reason codes must be distinct");
    assert!(all.iter().all(|e| e.to_string().len() > 20));
}
