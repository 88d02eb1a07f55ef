//! Authenticator data parsing.

use ciborium::value::Value;

use super::{RP, TestKey, auth_data, auth_data_attested, cbor, int, text};
use crate::fido2::{AuthenticatorData, Fido2Error, Flags, MAX_CREDENTIAL_ID_LEN, rp_id_hash};

const UP: u8 = Flags::USER_PRESENT;
const UV: u8 = Flags::USER_VERIFIED;
const AT: u8 = Flags::ATTESTED_CREDENTIAL;
const ED: u8 = Flags::EXTENSION_DATA;

fn malformed(bytes: &[u8]) -> String {
    match AuthenticatorData::parse(bytes) {
        Err(Fido2Error::MalformedAuthenticatorData(detail)) => detail,
        other => panic!("expected MalformedAuthenticatorData, got {other:?}"),
    }
}

fn extensions() -> Vec<u8> {
    cbor(&Value::Map(vec![(text("credProtect"), int(2))]))
}

#[test]
fn the_fixed_part_is_rp_hash_flags_and_a_big_endian_counter() {
    let data = AuthenticatorData::parse(&auth_data(RP, UP | UV, 0x0102_0304)).expect("parses");
    assert_eq!(data.rp_id_hash, rp_id_hash(RP));
    assert_eq!(data.sign_count, 0x0102_0304);
    assert!(data.flags.user_present() && data.flags.user_verified());
    assert!(!data.flags.attested_credential() && !data.flags.extension_data());
    assert_eq!(data.attested_credential, None);
    assert_eq!(data.extensions, None);
}

#[test]
fn flags_name_their_bits() {
    let all = Flags::from_bits(0xFF);
    assert!(all.user_present() && all.user_verified() && all.backup_eligible());
    assert!(all.backed_up() && all.attested_credential() && all.extension_data());
    let none = Flags::from_bits(0x00);
    assert!(!none.user_present() && !none.user_verified() && !none.backup_eligible());
    assert!(!none.backed_up() && !none.attested_credential() && !none.extension_data());
    assert_eq!(Flags::from_bits(0x45).bits(), 0x45);
    // Bits 1 and 5 are reserved: ignored, as WebAuthn says.
    let reserved = Flags::from_bits(0x22);
    assert!(!reserved.user_present() && !reserved.user_verified());
}

#[test]
fn attested_credential_data_and_extensions_are_split_exactly() {
    let key = TestKey::ed25519(4);
    let id = [9u8; 48];
    let mut bytes = auth_data_attested(RP, UP | AT | ED, 0, &id, &key.cose());
    bytes.extend_from_slice(&extensions());
    let data = AuthenticatorData::parse(&bytes).expect("parses");
    let credential = data.attested_credential.expect("AT data");
    assert_eq!(credential.aaguid, [0xAA; 16]);
    assert_eq!(credential.credential_id, id);
    assert_eq!(credential.public_key, key.public());
    assert_eq!(credential.public_key_cose, key.cose());
    assert_eq!(data.extensions, Some(extensions()));

    // Extensions without a credential (an assertion with ED).
    let mut bytes = auth_data(RP, UP | ED, 3);
    bytes.extend_from_slice(&extensions());
    let data = AuthenticatorData::parse(&bytes).expect("parses");
    assert_eq!(data.extensions, Some(extensions()));
}

#[test]
fn short_input_is_refused() {
    assert!(malformed(&[]).contains("0 bytes"));
    let full = auth_data(RP, UP, 1);
    assert!(malformed(&full[..36]).contains("36 bytes, shorter than the 37-byte minimum"));
}

#[test]
fn the_at_flag_needs_complete_credential_data() {
    let key = TestKey::es256(4);
    assert!(malformed(&auth_data(RP, UP | AT, 0)).contains("AT flag set"));
    let full = auth_data_attested(RP, UP | AT, 0, &[1; 16], &key.cose());
    // Cut inside the AAGUID, the length, the ID and the key.
    assert!(malformed(&full[..37 + 10]).contains("AT flag set"));
    assert!(malformed(&full[..37 + 17]).contains("length is missing"));
    assert!(malformed(&full[..37 + 18 + 5]).contains("cut short"));
    assert!(matches!(
        AuthenticatorData::parse(&full[..full.len() - 1]),
        Err(Fido2Error::MalformedPublicKey(_))
    ));
}

#[test]
fn credential_id_lengths_outside_1_to_1023_are_refused() {
    let key = TestKey::es256(4);
    assert!(malformed(&auth_data_attested(RP, UP | AT, 0, &[], &key.cose())).contains("length 0"));
    let long = vec![1u8; MAX_CREDENTIAL_ID_LEN + 1];
    assert!(malformed(&auth_data_attested(RP, UP | AT, 0, &long, &key.cose())).contains("1024"));
    let longest = vec![1u8; MAX_CREDENTIAL_ID_LEN];
    let data = AuthenticatorData::parse(&auth_data_attested(RP, UP | AT, 0, &longest, &key.cose()))
        .expect("1023 bytes is allowed");
    assert_eq!(
        data.attested_credential.expect("AT").credential_id.len(),
        1023
    );
}

#[test]
fn an_unsupported_credential_key_is_a_typed_error() {
    let rsa = cbor(&Value::Map(vec![(int(1), int(3)), (int(3), int(-257))]));
    assert_eq!(
        AuthenticatorData::parse(&auth_data_attested(RP, UP | AT, 0, &[1; 16], &rsa)),
        Err(Fido2Error::UnsupportedAlgorithm(-257))
    );
}

#[test]
fn trailing_bytes_are_refused_whatever_the_flags() {
    let mut bytes = auth_data(RP, UP, 1);
    bytes.push(0);
    assert!(malformed(&bytes).contains("AT and ED flags are not set"));

    // A well-formed map without the ED flag is still trailing garbage.
    let mut bytes = auth_data(RP, UP, 1);
    bytes.extend_from_slice(&extensions());
    assert!(malformed(&bytes).contains("unexpected byte"));

    let key = TestKey::es256(4);
    let mut bytes = auth_data_attested(RP, UP | AT, 0, &[1; 16], &key.cose());
    bytes.push(0xA0);
    assert!(malformed(&bytes).contains("1 unexpected byte"));

    let mut bytes = auth_data(RP, UP | ED, 1);
    bytes.extend_from_slice(&extensions());
    bytes.push(0);
    assert!(malformed(&bytes).contains("1 unexpected byte"));
}

#[test]
fn the_ed_flag_needs_a_cbor_map() {
    assert!(malformed(&auth_data(RP, UP | ED, 1)).contains("extensions"));
    let mut bytes = auth_data(RP, UP | ED, 1);
    bytes.extend_from_slice(&cbor(&int(5)));
    assert!(malformed(&bytes).contains("not a CBOR map"));
}

#[test]
fn backed_up_without_backup_eligible_is_refused() {
    assert!(malformed(&auth_data(RP, UP | Flags::BACKED_UP, 1)).contains("BS"));
    let both = UP | Flags::BACKED_UP | Flags::BACKUP_ELIGIBLE;
    AuthenticatorData::parse(&auth_data(RP, both, 1)).expect("BE with BS is fine");
}

#[test]
fn hostile_cbor_lengths_and_nesting_fail_cleanly() {
    // A byte string claiming 2^63 bytes, and 10,000 nested arrays, as the extensions.
    let mut huge = auth_data(RP, UP | ED, 1);
    huge.extend_from_slice(&[
        0xBF, 0x01, 0x5B, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    ]);
    assert!(malformed(&huge).contains("extensions"));
    let mut deep = auth_data(RP, UP | ED, 1);
    deep.push(0xA1);
    deep.push(0x01);
    deep.extend(std::iter::repeat_n(0x81, 10_000));
    deep.push(0x01);
    assert!(malformed(&deep).contains("extensions"));
}
