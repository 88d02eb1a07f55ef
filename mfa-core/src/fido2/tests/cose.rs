//! COSE_Key decoding: the accepted shapes and every rejection.

use ciborium::value::Value;

use super::{TestKey, cbor, int};
use crate::fido2::{CoseAlgorithm, CredentialPublicKey, Fido2Error};

/// The entries of a valid ES256 key, to break one at a time.
fn es256_entries() -> Vec<(Value, Value)> {
    let cose = TestKey::es256(7).cose();
    match ciborium::de::from_reader::<Value, _>(cose.as_slice()).expect("decode") {
        Value::Map(entries) => entries,
        other => panic!("not a map: {other:?}"),
    }
}

fn with(entries: &[(Value, Value)], label: i64, value: Option<Value>) -> Vec<u8> {
    let mut out: Vec<(Value, Value)> = entries
        .iter()
        .filter(|(k, _)| *k != int(label))
        .cloned()
        .collect();
    if let Some(v) = value {
        out.push((int(label), v));
    }
    cbor(&Value::Map(out))
}

fn malformed(bytes: &[u8]) -> String {
    match CredentialPublicKey::from_cose(bytes) {
        Err(Fido2Error::MalformedPublicKey(detail)) => detail,
        other => panic!("expected MalformedPublicKey, got {other:?}"),
    }
}

#[test]
fn es256_and_eddsa_keys_round_trip_through_the_ctap2_encoding() {
    for key in [TestKey::es256(3), TestKey::ed25519(3)] {
        let cose = key.cose();
        let decoded = CredentialPublicKey::from_cose(&cose).expect("decodes");
        assert_eq!(decoded, key.public());
        assert_eq!(decoded.to_cose(), cose);
    }
    assert_eq!(TestKey::es256(3).public().algorithm(), CoseAlgorithm::Es256);
    assert_eq!(
        TestKey::ed25519(3).public().algorithm(),
        CoseAlgorithm::EdDsa
    );
}

#[test]
fn the_encoding_is_the_canonical_ctap2_one() {
    // CTAP2 canonical CBOR: labels 1, 3, -1, -2, -3 in that order, definite lengths.
    let cose = TestKey::es256(3).cose();
    assert_eq!(
        &cose[..10],
        &[0xA5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21, 0x58, 0x20]
    );
    assert_eq!(&cose[42..45], &[0x22, 0x58, 0x20]);
    assert_eq!(cose.len(), 77);
    let cose = TestKey::ed25519(3).cose();
    assert_eq!(
        &cose[..10],
        &[0xA4, 0x01, 0x01, 0x03, 0x27, 0x20, 0x06, 0x21, 0x58, 0x20]
    );
    assert_eq!(cose.len(), 42);
}

#[test]
fn algorithm_ids_are_the_cose_ones() {
    assert_eq!(CoseAlgorithm::Es256.cose_id(), -7);
    assert_eq!(CoseAlgorithm::EdDsa.cose_id(), -8);
    assert_eq!(CoseAlgorithm::from_cose_id(-7), Some(CoseAlgorithm::Es256));
    assert_eq!(CoseAlgorithm::from_cose_id(-8), Some(CoseAlgorithm::EdDsa));
    assert_eq!(CoseAlgorithm::from_cose_id(-257), None);
}

#[test]
fn unknown_algorithms_are_refused_with_their_id() {
    let entries = es256_entries();
    for alg in [-257, -35, -9, 0, 7] {
        assert_eq!(
            CredentialPublicKey::from_cose(&with(&entries, 3, Some(int(alg)))),
            Err(Fido2Error::UnsupportedAlgorithm(alg))
        );
    }
    let message = Fido2Error::UnsupportedAlgorithm(-257).to_string();
    assert!(
        message.contains("-257") && message.contains("ES256"),
        "{message}"
    );
}

#[test]
fn kty_alg_and_crv_must_agree() {
    let entries = es256_entries();
    assert!(malformed(&with(&entries, 1, Some(int(1)))).contains("kty"));
    assert!(malformed(&with(&entries, -1, Some(int(6)))).contains("crv"));
    assert!(malformed(&with(&entries, 1, None)).contains("kty"));
    assert!(malformed(&with(&entries, 3, None)).contains("alg"));
    assert!(malformed(&with(&entries, -1, None)).contains("crv"));
    assert!(malformed(&with(&entries, 3, Some(text_value("ES256")))).contains("alg"));

    // An Ed25519 key claiming ES256, and an EC2 key claiming EdDSA.
    let ed = TestKey::ed25519(1).cose();
    let mut ed_as_es256 = ed.clone();
    ed_as_es256[4] = 0x26;
    assert!(malformed(&ed_as_es256).contains("kty"));
    let es_as_eddsa = with(&entries, 3, Some(int(-8)));
    assert!(malformed(&es_as_eddsa).contains("kty"));
}

fn text_value(s: &str) -> Value {
    Value::Text(s.to_owned())
}

#[test]
fn coordinates_must_be_uncompressed_with_exact_lengths_and_on_the_curve() {
    let entries = es256_entries();
    assert!(malformed(&with(&entries, -2, Some(Value::Bytes(vec![1; 31])))).contains("32 bytes"));
    assert!(malformed(&with(&entries, -3, Some(Value::Bytes(vec![1; 33])))).contains("32 bytes"));
    assert!(malformed(&with(&entries, -3, None)).contains("y"));
    // Compressed form: y as the sign bit (RFC 9053 allows it, CTAP2 does not).
    assert!(malformed(&with(&entries, -3, Some(Value::Bool(true)))).contains("byte string"));
    // x and y of another point mixed: not on the curve.
    let other = TestKey::es256(9).cose();
    let mut mixed = TestKey::es256(7).cose();
    mixed[45..77].copy_from_slice(&other[45..77]);
    assert!(malformed(&mixed).contains("not on the curve"));

    // y = 2 has no x on Ed25519 (checked independently: (y²−1)/(dy²+1) is not a square).
    let mut bad = [0u8; 32];
    bad[0] = 2;
    let ed = cbor(&Value::Map(vec![
        (int(1), int(1)),
        (int(3), int(-8)),
        (int(-1), int(6)),
        (int(-2), Value::Bytes(bad.to_vec())),
    ]));
    assert!(malformed(&ed).contains("Ed25519 point"));
    let mut short = TestKey::ed25519(1).cose();
    short.truncate(41);
    assert!(malformed(&short).contains("CBOR"));
}

#[test]
fn extra_repeated_or_trailing_data_is_refused() {
    let entries = es256_entries();
    let mut extra = entries.clone();
    extra.push((int(-4), Value::Bytes(vec![0; 32])));
    assert!(malformed(&cbor(&Value::Map(extra))).contains("unexpected label -4"));

    let mut repeated = entries.clone();
    repeated.push(entries[3].clone());
    assert!(malformed(&cbor(&Value::Map(repeated))).contains("repeats"));

    let mut trailing = TestKey::es256(7).cose();
    trailing.push(0x00);
    assert!(malformed(&trailing).contains("trailing"));

    assert!(malformed(&cbor(&Value::Array(vec![int(1)]))).contains("not a CBOR map"));
    assert!(malformed(&[]).contains("CBOR"));
    let many: Vec<(Value, Value)> = (0..17).map(|i| (int(100 + i), int(0))).collect();
    assert!(malformed(&cbor(&Value::Map(many))).contains("too many"));
}

#[test]
fn signature_encodings_are_checked_per_algorithm() {
    let es = TestKey::es256(1);
    let raw_64 = [0x11u8; 64];
    assert!(matches!(
        es.public().verify(b"m", &raw_64),
        Err(Fido2Error::MalformedSignature(_))
    ));
    let ed = TestKey::ed25519(1);
    let der = es.sign(b"m");
    assert!(matches!(
        ed.public().verify(b"m", &der),
        Err(Fido2Error::MalformedSignature(_))
    ));
    assert_eq!(ed.public().verify(b"m", &ed.sign(b"m")), Ok(()));
    assert_eq!(es.public().verify(b"m", &es.sign(b"m")), Ok(()));
    // A signature by another key of the same algorithm.
    assert_eq!(
        TestKey::es256(2).public().verify(b"m", &es.sign(b"m")),
        Err(Fido2Error::BadSignature)
    );
    assert_eq!(
        TestKey::ed25519(2).public().verify(b"m", &ed.sign(b"m")),
        Err(Fido2Error::BadSignature)
    );
}
