//! HID path without hardware: error mapping, attestation object reconstruction, no device.

use ciborium::value::Value;

use super::{attestation_object, map_error};
use crate::{Authenticator, ClientError, GetAssertionRequest, HidAuthenticator};

#[test]
fn ctap2_status_names_in_library_errors_become_typed_errors() {
    // The library's messages are "response_status err = 0x2E CTAP2_ERR_NO_CREDENTIALS …".
    let cases = [
        (
            "0x2E CTAP2_ERR_NO_CREDENTIALS    No valid credentials provided.",
            ClientError::NoCredentials,
        ),
        (
            "0x22 CTAP2_ERR_INVALID_CREDENTIAL",
            ClientError::NoCredentials,
        ),
        (
            "0x19 CTAP2_ERR_CREDENTIAL_EXCLUDED",
            ClientError::CredentialExcluded,
        ),
        (
            "0x2F CTAP2_ERR_USER_ACTION_TIMEOUT   Timeout",
            ClientError::Timeout,
        ),
        ("0x3A CTAP2_ERR_ACTION_TIMEOUT", ClientError::Timeout),
        (
            "0x31 CTAP2_ERR_PIN_INVALID   PIN Invalid.",
            ClientError::PinInvalid,
        ),
        ("0x33 CTAP2_ERR_PIN_AUTH_INVALID", ClientError::PinInvalid),
        (
            "0x32 CTAP2_ERR_PIN_BLOCKED PIN Blocked.",
            ClientError::PinBlocked,
        ),
        ("0x34 CTAP2_ERR_PIN_AUTH_BLOCKED", ClientError::PinBlocked),
        ("0x35 CTAP2_ERR_PIN_NOT_SET", ClientError::PinNotSet),
        ("0x36 CTAP2_ERR_PIN_REQUIRED", ClientError::PinRequired),
        (
            "0x2B CTAP2_ERR_UNSUPPORTED_OPTION",
            ClientError::UserVerificationUnavailable,
        ),
        (
            "0x2C CTAP2_ERR_INVALID_OPTION",
            ClientError::UserVerificationUnavailable,
        ),
        (
            "0x26 CTAP2_ERR_UNSUPPORTED_ALGORITHM",
            ClientError::UnsupportedAlgorithm,
        ),
    ];
    for (message, expected) in cases {
        let full = format!("response_status err = {message}");
        assert_eq!(map_error(&full), expected, "{full}");
    }
    let other = map_error("read err = 0xFE");
    assert_eq!(other, ClientError::Device("read err = 0xFE".into()));
    let long = "x".repeat(1000);
    assert!(matches!(map_error(&long), ClientError::Device(d) if d.len() == 200));
}

fn decode(bytes: &[u8]) -> Vec<(Value, Value)> {
    match ciborium::de::from_reader(bytes).expect("CBOR") {
        Value::Map(entries) => entries,
        other => panic!("not a map: {other:?}"),
    }
}

fn text(v: &Value) -> &str {
    match v {
        Value::Text(t) => t,
        other => panic!("not text: {other:?}"),
    }
}

#[test]
fn the_attestation_object_rebuilt_from_parsed_fields_is_the_original_bytes() {
    // A genuine object from the software key (canonical CBOR, as keys emit it), taken apart
    // into the fields ctap-hid-fido2 keeps, and put back together.
    for format in [
        mfa_softkey::AttestationFormat::Packed,
        mfa_softkey::AttestationFormat::None,
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = mfa_softkey::SoftKey::create(
            dir.path().join("k.json"),
            mfa_softkey::Behaviour {
                attestation: format,
                ..Default::default()
            },
        )
        .expect("key");
        let hash = mfa_core::fido2::client_data_hash(b"challenge");
        let original = key
            .make_credential(&mfa_softkey::MakeCredentialRequest {
                rp_id: "pam_mfa://h",
                client_data_hash: &hash,
                algorithms: &[],
                exclude_list: &[],
                pin: None,
                require_uv: false,
            })
            .expect("make_credential");
        let entries = decode(&original);
        let fmt = text(&entries[0].1).to_owned();
        let Value::Map(stmt) = &entries[1].1 else {
            panic!("attStmt")
        };
        let Value::Bytes(auth_data) = &entries[2].1 else {
            panic!("authData")
        };
        let (mut alg, mut sig) = (0i32, Vec::new());
        for (k, v) in stmt {
            match (text(k), v) {
                ("alg", Value::Integer(i)) => alg = i32::try_from(*i).expect("small"),
                ("sig", Value::Bytes(b)) => sig = b.clone(),
                other => panic!("unexpected {other:?}"),
            }
        }
        let rebuilt = attestation_object(&fmt, alg, &sig, &[], auth_data);
        assert_eq!(rebuilt, original, "format {fmt}");
        let expected = mfa_core::fido2::Expected::for_challenge("pam_mfa://h", b"challenge", false);
        mfa_core::fido2::verify_registration(&expected, &rebuilt).expect("verifies");
    }
}

#[test]
fn certificates_are_kept_in_the_rebuilt_statement() {
    let object = attestation_object("packed", -7, &[1, 2], &[vec![3, 4], vec![5]], &[9; 37]);
    let entries = decode(&object);
    let Value::Map(stmt) = &entries[1].1 else {
        panic!("attStmt")
    };
    let names: Vec<&str> = stmt.iter().map(|(k, _)| text(k)).collect();
    assert_eq!(names, ["alg", "sig", "x5c"]);
    assert_eq!(
        stmt[2].1,
        Value::Array(vec![Value::Bytes(vec![3, 4]), Value::Bytes(vec![5])])
    );
    // "none" keeps an empty statement whatever the library left in its fields.
    let none = decode(&attestation_object("none", 0, &[], &[], &[9; 37]));
    assert_eq!(none[1].1, Value::Map(vec![]));
}

#[test]
fn without_a_key_plugged_in_the_answer_is_no_device() {
    let count = HidAuthenticator::device_count().expect("enumeration");
    if count > 0 {
        // A developer machine with a key: talking to it would wait for a touch.
        eprintln!("{count} FIDO key(s) plugged in: skipping the no-device check");
        return;
    }
    let request = GetAssertionRequest {
        rp_id: "pam_mfa://h".into(),
        challenge: vec![1; 32],
        allow_credentials: vec![vec![2; 16]],
        pin: None,
        require_uv: false,
    };
    for authenticator in [
        HidAuthenticator::new(),
        HidAuthenticator::with_deadline(std::time::Duration::from_secs(5)),
    ] {
        let error = authenticator.get_assertion(&request).expect_err("no key");
        assert_eq!(error, ClientError::NoDevice);
        assert!(error.is_no_device());
        assert!(error.to_string().contains("plug in"));
    }
}

#[test]
fn requests_without_rp_challenge_or_allow_list_are_refused_before_any_io() {
    let good = GetAssertionRequest {
        rp_id: "pam_mfa://h".into(),
        challenge: vec![1; 32],
        allow_credentials: vec![vec![2; 16]],
        pin: None,
        require_uv: false,
    };
    let hid = HidAuthenticator::new();
    for broken in [
        GetAssertionRequest {
            rp_id: String::new(),
            ..good.clone()
        },
        GetAssertionRequest {
            challenge: vec![],
            ..good.clone()
        },
        GetAssertionRequest {
            allow_credentials: vec![],
            ..good.clone()
        },
    ] {
        assert!(matches!(
            hid.get_assertion(&broken),
            Err(ClientError::InvalidRequest(_))
        ));
    }
}
