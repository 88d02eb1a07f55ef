//! Registration verification: attestation objects of format none and packed.

use ciborium::value::Value;
use p256::ecdsa::signature::Signer as _;

use super::{CHALLENGE, RP, TestKey, auth_data, auth_data_attested, cbor, hex, int, text};
use crate::fido2::{
    AttestationType, CoseAlgorithm, Expected, Fido2Error, Flags, client_data_hash,
    verify_assertion, verify_registration,
};

const UP: u8 = Flags::USER_PRESENT;
const UV: u8 = Flags::USER_VERIFIED;
const AT: u8 = Flags::ATTESTED_CREDENTIAL;
const CRED_ID: &[u8] = b"a-new-credential-id";

/// A self-signed attestation certificate made with `openssl req -x509` for these tests, and
/// its P-256 private key.
const ATTESTATION_CERT: &[u8] = include_bytes!("attestation-cert.der");
const ATTESTATION_KEY: &str = "a4e55ce3b05778fa732d8f3ba1bc2c07063ce082222c540ebe4e97407382cc99";

fn expected(require_uv: bool) -> Expected<'static> {
    Expected::for_challenge(RP, CHALLENGE, require_uv)
}

fn new_auth_data(key: &TestKey, flags: u8) -> Vec<u8> {
    auth_data_attested(RP, flags, 0, CRED_ID, &key.cose())
}

/// An attestation object in the WebAuthn form (canonical order: fmt, attStmt, authData).
fn object(fmt: &str, att_stmt: Vec<(Value, Value)>, auth_data: &[u8]) -> Vec<u8> {
    cbor(&Value::Map(vec![
        (text("fmt"), text(fmt)),
        (text("attStmt"), Value::Map(att_stmt)),
        (text("authData"), Value::Bytes(auth_data.to_vec())),
    ]))
}

fn signed_part(auth_data: &[u8]) -> Vec<u8> {
    let mut out = auth_data.to_vec();
    out.extend_from_slice(&client_data_hash(CHALLENGE));
    out
}

/// A packed self-attestation by the credential key.
fn packed_self(key: &TestKey, auth_data: &[u8]) -> Vec<u8> {
    let sig = key.sign(&signed_part(auth_data));
    let alg = key.public().algorithm().cose_id();
    object(
        "packed",
        vec![(text("alg"), int(alg)), (text("sig"), Value::Bytes(sig))],
        auth_data,
    )
}

/// A packed basic attestation signed with the test certificate's key.
fn packed_x5c(auth_data: &[u8], cert: &[u8], alg: i64) -> Vec<u8> {
    let attestation_key = p256::ecdsa::SigningKey::from_slice(&hex(ATTESTATION_KEY)).expect("key");
    let sig: p256::ecdsa::Signature = attestation_key.sign(&signed_part(auth_data));
    object(
        "packed",
        vec![
            (text("alg"), int(alg)),
            (text("sig"), Value::Bytes(sig.to_der().as_bytes().to_vec())),
            (text("x5c"), Value::Array(vec![Value::Bytes(cert.to_vec())])),
        ],
        auth_data,
    )
}

fn malformed(result: Result<impl std::fmt::Debug, Fido2Error>) -> String {
    match result {
        Err(Fido2Error::MalformedAttestation(detail)) => detail,
        other => panic!("expected MalformedAttestation, got {other:?}"),
    }
}

#[test]
fn format_none_yields_the_credential_to_store() {
    for key in [TestKey::es256(5), TestKey::ed25519(5)] {
        let data = auth_data_attested(RP, UP | AT, 3, CRED_ID, &key.cose());
        let reg = verify_registration(&expected(false), &object("none", vec![], &data))
            .expect("valid registration");
        assert_eq!(reg.credential_id, CRED_ID);
        assert_eq!(reg.public_key, key.public());
        assert_eq!(reg.public_key_cose, key.cose());
        assert_eq!(reg.sign_count, 3);
        assert_eq!(reg.aaguid, [0xAA; 16]);
        assert_eq!(reg.attestation, AttestationType::None);
        assert_eq!(reg.flags, Flags::from_bits(UP | AT));
        let stored = reg.to_stored();
        assert_eq!(stored.credential_id(), CRED_ID);
        assert_eq!(stored.sign_count(), 3);
    }
}

#[test]
fn packed_self_attestation_is_verified_with_the_credential_key() {
    for key in [TestKey::es256(5), TestKey::ed25519(5)] {
        let data = new_auth_data(&key, UP | UV | AT);
        let reg = verify_registration(&expected(true), &packed_self(&key, &data))
            .expect("valid self-attestation");
        assert_eq!(reg.attestation, AttestationType::SelfAttestation);
        assert_eq!(reg.public_key.algorithm(), key.public().algorithm());

        // The registered credential then logs in.
        let login = auth_data(RP, UP, 1);
        let sig = key.sign_assertion(&login, CHALLENGE);
        let verified =
            verify_assertion(&reg.to_stored(), &expected(false), &login, &sig).expect("login");
        assert_eq!(verified.new_counter, 1);
    }
}

#[test]
fn packed_with_a_certificate_is_verified_with_the_leaf_key_but_not_trusted() {
    let key = TestKey::ed25519(5);
    let data = new_auth_data(&key, UP | AT);
    let reg = verify_registration(&expected(false), &packed_x5c(&data, ATTESTATION_CERT, -7))
        .expect("valid basic attestation");
    assert_eq!(reg.attestation, AttestationType::Basic);
    assert_eq!(reg.public_key, key.public());
}

#[test]
fn altered_attestation_signatures_are_refused() {
    let key = TestKey::es256(5);
    let data = new_auth_data(&key, UP | AT);
    // Signed over another challenge.
    let other = Expected::for_challenge(RP, b"other challenge", false);
    assert_eq!(
        verify_registration(&other, &packed_self(&key, &data)),
        Err(Fido2Error::BadAttestationSignature)
    );
    assert_eq!(
        verify_registration(&other, &packed_x5c(&data, ATTESTATION_CERT, -7)),
        Err(Fido2Error::BadAttestationSignature)
    );
    // Signed by another key than the one registered.
    let impostor = TestKey::es256(6);
    let sig = impostor.sign(&signed_part(&data));
    let forged = object(
        "packed",
        vec![(text("alg"), int(-7)), (text("sig"), Value::Bytes(sig))],
        &data,
    );
    assert_eq!(
        verify_registration(&expected(false), &forged),
        Err(Fido2Error::BadAttestationSignature)
    );
}

#[test]
fn self_attestation_must_use_the_credential_algorithm() {
    let key = TestKey::ed25519(5);
    let data = new_auth_data(&key, UP | AT);
    let sig = key.sign(&signed_part(&data));
    let mismatched = object(
        "packed",
        vec![(text("alg"), int(-7)), (text("sig"), Value::Bytes(sig))],
        &data,
    );
    assert!(malformed(verify_registration(&expected(false), &mismatched)).contains("EdDSA"));
}

#[test]
fn certificate_attestation_checks_its_algorithm_and_certificate() {
    let key = TestKey::es256(5);
    let data = new_auth_data(&key, UP | AT);
    assert_eq!(
        verify_registration(&expected(false), &packed_x5c(&data, ATTESTATION_CERT, -8)),
        Err(Fido2Error::UnsupportedAttestationAlgorithm(-8))
    );
    assert!(matches!(
        verify_registration(
            &expected(false),
            &packed_x5c(&data, b"not a certificate", -7)
        ),
        Err(Fido2Error::MalformedAttestationCertificate(_))
    ));
    let empty_chain = object(
        "packed",
        vec![
            (text("alg"), int(-7)),
            (text("sig"), Value::Bytes(vec![0x30, 0x00])),
            (text("x5c"), Value::Array(vec![])),
        ],
        &data,
    );
    assert!(malformed(verify_registration(&expected(false), &empty_chain)).contains("empty"));
}

#[test]
fn rp_flags_and_credential_are_checked() {
    let key = TestKey::es256(5);
    let other_rp = auth_data_attested("pam_mfa://elsewhere", UP | AT, 0, CRED_ID, &key.cose());
    assert_eq!(
        verify_registration(&expected(false), &object("none", vec![], &other_rp)),
        Err(Fido2Error::WrongRelyingParty { rp_id: RP.into() })
    );
    let no_up = new_auth_data(&key, AT);
    assert_eq!(
        verify_registration(&expected(false), &packed_self(&key, &no_up)),
        Err(Fido2Error::UserNotPresent)
    );
    let no_uv = new_auth_data(&key, UP | AT);
    assert_eq!(
        verify_registration(&expected(true), &packed_self(&key, &no_uv)),
        Err(Fido2Error::UserNotVerified)
    );
    let no_credential = auth_data(RP, UP, 0);
    assert_eq!(
        verify_registration(&expected(false), &object("none", vec![], &no_credential)),
        Err(Fido2Error::MissingAttestedCredential)
    );
}

#[test]
fn only_none_and_packed_formats_are_accepted() {
    let key = TestKey::es256(5);
    let data = new_auth_data(&key, UP | AT);
    for fmt in ["fido-u2f", "tpm", "android-key", "apple", ""] {
        assert_eq!(
            verify_registration(&expected(false), &object(fmt, vec![], &data)),
            Err(Fido2Error::UnsupportedAttestationFormat(fmt.into()))
        );
    }
    let none_with_stmt = object("none", vec![(text("sig"), Value::Bytes(vec![1]))], &data);
    assert!(malformed(verify_registration(&expected(false), &none_with_stmt)).contains("none"));
}

#[test]
fn the_raw_ctap2_response_map_is_accepted_too() {
    let key = TestKey::es256(5);
    let data = new_auth_data(&key, UP | AT);
    let sig = key.sign(&signed_part(&data));
    let stmt = Value::Map(vec![
        (text("alg"), int(-7)),
        (text("sig"), Value::Bytes(sig)),
    ]);
    let ctap = cbor(&Value::Map(vec![
        (int(1), text("packed")),
        (int(2), Value::Bytes(data.clone())),
        (int(3), stmt.clone()),
        (int(5), Value::Bytes(vec![0; 32])),
    ]));
    let reg = verify_registration(&expected(false), &ctap).expect("CTAP2 form");
    assert_eq!(reg.attestation, AttestationType::SelfAttestation);
    assert_eq!(reg.public_key.algorithm(), CoseAlgorithm::Es256);

    let unknown = cbor(&Value::Map(vec![
        (int(1), text("packed")),
        (int(2), Value::Bytes(data)),
        (int(3), stmt),
        (int(9), int(0)),
    ]));
    assert!(malformed(verify_registration(&expected(false), &unknown)).contains("member 9"));
}

#[test]
fn malformed_attestation_objects_are_refused_without_panicking() {
    let key = TestKey::es256(5);
    let data = new_auth_data(&key, UP | AT);
    let good = packed_self(&key, &data);

    let mut trailing = good.clone();
    trailing.push(0);
    assert!(malformed(verify_registration(&expected(false), &trailing)).contains("trailing"));

    let missing_fmt = cbor(&Value::Map(vec![
        (text("attStmt"), Value::Map(vec![])),
        (text("authData"), Value::Bytes(data.clone())),
    ]));
    assert!(malformed(verify_registration(&expected(false), &missing_fmt)).contains("no fmt"));
    let extra = cbor(&Value::Map(vec![
        (text("fmt"), text("none")),
        (text("attStmt"), Value::Map(vec![])),
        (text("authData"), Value::Bytes(data.clone())),
        (text("ep"), Value::Bool(true)),
    ]));
    assert!(malformed(verify_registration(&expected(false), &extra)).contains("\"ep\""));
    let wrong_types = cbor(&Value::Map(vec![
        (text("fmt"), int(1)),
        (text("attStmt"), Value::Map(vec![])),
        (text("authData"), Value::Bytes(data.clone())),
    ]));
    assert!(malformed(verify_registration(&expected(false), &wrong_types)).contains("fmt"));
    let stmt_extra = object(
        "packed",
        vec![
            (text("alg"), int(-7)),
            (text("sig"), Value::Bytes(vec![])),
            (text("ecdaaKeyId"), Value::Bytes(vec![])),
        ],
        &data,
    );
    assert!(malformed(verify_registration(&expected(false), &stmt_extra)).contains("ecdaaKeyId"));

    // Every truncation of a valid object fails with an error, never a panic.
    for len in 0..good.len() {
        assert!(
            verify_registration(&expected(false), &good[..len]).is_err(),
            "length {len}"
        );
    }
    // And every single-bit flip anywhere: every byte is either structure or signed.
    for i in 0..good.len() {
        let mut flipped = good.clone();
        flipped[i] ^= 0x04;
        assert!(
            verify_registration(&expected(false), &flipped).is_err(),
            "byte {i}"
        );
    }
}
