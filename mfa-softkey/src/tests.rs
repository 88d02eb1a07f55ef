//! Tests of the software key: its file, its behaviours, and that its output passes the
//! daemon's verifier (mfa-core) for both algorithms.

use std::os::unix::fs::PermissionsExt as _;

use mfa_core::fido2::{
    AttestationType, Expected, Fido2Error, StoredCredential, verify_assertion, verify_registration,
};

use crate::{
    Algorithm, AttestationFormat, Behaviour, GetAssertionRequest, MARKER, MakeCredentialRequest,
    SoftKey, SoftKeyError,
};

const RP: &str = "pam_mfa://softhost";
const CHALLENGE: &[u8] = b"a challenge of thirty-two bytes!";

fn cdh() -> [u8; 32] {
    mfa_core::fido2::client_data_hash(CHALLENGE)
}

fn new_key(dir: &tempfile::TempDir, behaviour: Behaviour) -> SoftKey {
    SoftKey::create(dir.path().join("key.json"), behaviour).expect("create key file")
}

fn enroll(key: &SoftKey, alg: Algorithm) -> StoredCredential {
    let hash = cdh();
    let object = key
        .make_credential(&MakeCredentialRequest {
            rp_id: RP,
            client_data_hash: &hash,
            algorithms: &[alg],
            exclude_list: &[],
            pin: None,
            require_uv: false,
        })
        .expect("make_credential");
    let reg = verify_registration(&Expected::for_challenge(RP, CHALLENGE, false), &object)
        .expect("the verifier accepts the soft key's registration");
    reg.to_stored()
}

fn assert_with(key: &SoftKey, allow: &[Vec<u8>], pin: Option<&str>, uv: bool) -> crate::Assertion {
    let hash = cdh();
    key.get_assertion(&GetAssertionRequest {
        rp_id: RP,
        client_data_hash: &hash,
        allow_list: allow,
        pin,
        require_uv: uv,
    })
    .expect("get_assertion")
}

fn check(
    stored: &StoredCredential,
    a: &crate::Assertion,
    require_uv: bool,
) -> Result<mfa_core::fido2::Verified, Fido2Error> {
    verify_assertion(
        stored,
        &Expected::for_challenge(RP, CHALLENGE, require_uv),
        &a.auth_data,
        &a.signature,
    )
}

#[test]
fn credentials_of_both_algorithms_register_and_log_in_with_growing_counters() {
    for alg in [Algorithm::Es256, Algorithm::EdDsa] {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = new_key(&dir, Behaviour::default());
        let mut stored = enroll(&key, alg);
        let info = key.credentials().expect("credentials");
        assert_eq!(info.len(), 1);
        assert_eq!(info[0].algorithm, alg);
        assert_eq!(info[0].rp_id, RP);
        assert_eq!(info[0].credential_id, stored.credential_id());
        for expected_counter in 1..=3 {
            let a = assert_with(&key, &[stored.credential_id().to_vec()], None, false);
            assert_eq!(a.credential_id, stored.credential_id());
            let verified = check(&stored, &a, false).expect("verifies");
            assert_eq!(verified.new_counter, expected_counter);
            stored = StoredCredential::new(
                stored.credential_id().to_vec(),
                &stored.public_key().to_cose(),
                verified.new_counter,
            )
            .expect("stored");
        }
        assert_eq!(key.credentials().expect("credentials")[0].counter, 3);
    }
}

#[test]
fn the_file_is_private_marked_and_replaced_atomically() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = new_key(&dir, Behaviour::default());
    enroll(&key, Algorithm::Es256);
    let mode = std::fs::metadata(key.path())
        .expect("stat")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let text = std::fs::read_to_string(key.path()).expect("read");
    assert!(text.contains(MARKER));
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .expect("readdir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.contains(".tmp")), "{names:?}");
    assert!(matches!(
        SoftKey::create(key.path(), Behaviour::default()),
        Err(SoftKeyError::Io { .. })
    ));
}

#[test]
fn files_that_are_not_key_files_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("other.json");
    assert!(matches!(SoftKey::open(&path), Err(SoftKeyError::Io { .. })));
    std::fs::write(&path, br#"{"format": "something else"}"#).expect("write");
    assert!(matches!(
        SoftKey::open(&path),
        Err(SoftKeyError::NotAKeyFile { .. })
    ));
    std::fs::write(&path, b"not json").expect("write");
    assert!(matches!(
        SoftKey::open(&path),
        Err(SoftKeyError::Format { .. })
    ));
    std::fs::write(&path, format!(r#"{{"format": "{MARKER}", "extra": 1}}"#)).expect("write");
    assert!(matches!(
        SoftKey::open(&path),
        Err(SoftKeyError::Format { .. })
    ));
    std::fs::write(&path, format!(r#"{{"format": "{MARKER}"}}"#)).expect("write");
    let key = SoftKey::open(&path).expect("minimal key file");
    assert_eq!(key.behaviour().expect("behaviour"), Behaviour::default());
}

#[test]
fn assertions_need_a_credential_of_the_rp_in_the_allow_list() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = new_key(&dir, Behaviour::default());
    let stored = enroll(&key, Algorithm::EdDsa);
    let hash = cdh();
    let request = |rp_id, allow: &[Vec<u8>]| {
        key.get_assertion(&GetAssertionRequest {
            rp_id,
            client_data_hash: &hash,
            allow_list: allow,
            pin: None,
            require_uv: false,
        })
    };
    assert!(matches!(
        request(RP, &[b"another credential".to_vec()]),
        Err(SoftKeyError::NoCredentials)
    ));
    assert!(matches!(
        request("pam_mfa://elsewhere", &[stored.credential_id().to_vec()]),
        Err(SoftKeyError::NoCredentials)
    ));
    // An empty allow list finds the RP's credential (discoverable-credential style).
    let a = request(RP, &[]).expect("any credential of the RP");
    assert_eq!(a.credential_id, stored.credential_id());
}

#[test]
fn the_exclude_list_prevents_registering_the_same_key_twice() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = new_key(&dir, Behaviour::default());
    let stored = enroll(&key, Algorithm::Es256);
    let hash = cdh();
    let result = key.make_credential(&MakeCredentialRequest {
        rp_id: RP,
        client_data_hash: &hash,
        algorithms: &[],
        exclude_list: &[stored.credential_id().to_vec()],
        pin: None,
        require_uv: false,
    });
    assert!(matches!(result, Err(SoftKeyError::CredentialExcluded)));
}

#[test]
fn up_and_uv_flags_follow_the_behaviour_and_the_pin() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = new_key(&dir, Behaviour::default());
    let stored = enroll(&key, Algorithm::Es256);
    let allow = [stored.credential_id().to_vec()];

    // No UV: the key still answers; the verifier refuses when UV is required.
    let a = assert_with(&key, &allow, None, true);
    assert_eq!(check(&stored, &a, true), Err(Fido2Error::UserNotVerified));

    key.set_behaviour(Behaviour {
        up: false,
        ..Behaviour::default()
    })
    .expect("set");
    let a = assert_with(&key, &allow, None, false);
    assert_eq!(check(&stored, &a, false), Err(Fido2Error::UserNotPresent));

    key.set_behaviour(Behaviour {
        pin: Some("4711".into()),
        ..Behaviour::default()
    })
    .expect("set");
    let a = assert_with(&key, &allow, Some("4711"), true);
    assert!(
        check(&stored, &a, true)
            .expect("UV with PIN")
            .flags
            .user_verified()
    );
    let hash = cdh();
    let with_pin = |pin, require_uv| {
        key.get_assertion(&GetAssertionRequest {
            rp_id: RP,
            client_data_hash: &hash,
            allow_list: &allow,
            pin,
            require_uv,
        })
    };
    assert!(matches!(
        with_pin(Some("0000"), true),
        Err(SoftKeyError::PinInvalid)
    ));
    assert!(matches!(
        with_pin(None, true),
        Err(SoftKeyError::PinRequired)
    ));
    let no_uv = with_pin(None, false).expect("UP only");
    assert!(
        !check(&stored, &no_uv, false)
            .expect("UP only")
            .flags
            .user_verified()
    );

    key.set_behaviour(Behaviour::default()).expect("set");
    assert!(matches!(
        with_pin(Some("4711"), false),
        Err(SoftKeyError::PinNotSet)
    ));
    key.set_behaviour(Behaviour {
        uv: true,
        ..Behaviour::default()
    })
    .expect("set");
    let a = assert_with(&key, &allow, None, true);
    assert!(
        check(&stored, &a, true)
            .expect("built-in UV")
            .flags
            .user_verified()
    );
}

#[test]
fn a_forced_counter_plays_a_cloned_key_and_step_zero_a_key_without_counter() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = new_key(&dir, Behaviour::default());
    let stored = enroll(&key, Algorithm::EdDsa);
    let allow = [stored.credential_id().to_vec()];
    let a = assert_with(&key, &allow, None, false);
    let after_first = check(&stored, &a, false).expect("first use").new_counter;
    let stored = StoredCredential::new(
        allow[0].clone(),
        &stored.public_key().to_cose(),
        after_first,
    )
    .expect("stored");

    key.set_behaviour(Behaviour {
        force_counter: Some(after_first),
        ..Behaviour::default()
    })
    .expect("set");
    let a = assert_with(&key, &allow, None, false);
    assert_eq!(
        check(&stored, &a, false),
        Err(Fido2Error::CounterRegression {
            stored: after_first,
            received: after_first
        })
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let key = new_key(
        &dir,
        Behaviour {
            counter_step: 0,
            ..Behaviour::default()
        },
    );
    let stored = enroll(&key, Algorithm::Es256);
    let allow = [stored.credential_id().to_vec()];
    for _ in 0..2 {
        let a = assert_with(&key, &allow, None, false);
        assert_eq!(check(&stored, &a, false).expect("both zero").new_counter, 0);
    }
}

#[test]
fn attestation_none_is_an_empty_statement() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = new_key(
        &dir,
        Behaviour {
            attestation: AttestationFormat::None,
            aaguid: [7; 16],
            ..Behaviour::default()
        },
    );
    let hash = cdh();
    let object = key
        .make_credential(&MakeCredentialRequest {
            rp_id: RP,
            client_data_hash: &hash,
            algorithms: &[Algorithm::EdDsa, Algorithm::Es256],
            exclude_list: &[],
            pin: None,
            require_uv: false,
        })
        .expect("make_credential");
    let reg = verify_registration(&Expected::for_challenge(RP, CHALLENGE, false), &object)
        .expect("verifies");
    assert_eq!(reg.attestation, AttestationType::None);
    assert_eq!(reg.aaguid, [7; 16]);
    assert_eq!(
        reg.public_key.algorithm().cose_id(),
        Algorithm::EdDsa.cose_id()
    );
}

#[test]
fn parallel_assertions_get_distinct_counters() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = new_key(&dir, Behaviour::default());
    let stored = enroll(&key, Algorithm::Es256);
    let allow = [stored.credential_id().to_vec()];
    let mut counters: Vec<u32> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| {
                    let a = assert_with(&key, &allow, None, false);
                    check(&stored, &a, false).expect("verifies").new_counter
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    counters.sort_unstable();
    assert_eq!(counters, (1..=8).collect::<Vec<u32>>());
}

#[test]
fn a_stalled_key_answers_only_after_its_stall_and_the_answer_still_verifies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = new_key(&dir, Behaviour::default());
    let stored = enroll(&key, Algorithm::Es256);
    key.set_behaviour(Behaviour {
        stall_ms: 300,
        ..Behaviour::default()
    })
    .expect("set");
    // The file says so, under the documented name.
    let text = std::fs::read_to_string(key.path()).expect("read");
    assert!(text.contains("\"stall_ms\": 300"), "{text}");
    let started = std::time::Instant::now();
    let a = assert_with(&key, &[stored.credential_id().to_vec()], None, false);
    let waited = started.elapsed();
    assert!(
        waited >= std::time::Duration::from_millis(300),
        "answered after {waited:?}"
    );
    assert_eq!(check(&stored, &a, false).expect("verifies").new_counter, 1);
    // make_credential does not stall.
    let started = std::time::Instant::now();
    enroll(&key, Algorithm::EdDsa);
    assert!(started.elapsed() < std::time::Duration::from_millis(300));
}
