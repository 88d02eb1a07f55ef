//! FIDO2 rows: the sealed record, and verification inside the store's transaction with
//! genuine assertions of the (test-only) software key.

use std::os::unix::fs::PermissionsExt;
use std::sync::{Arc, Barrier};

use mfa_core::fido2::{Expected, Fido2Error, verify_registration};
use mfa_core::ratelimit::RateLimit;
use mfa_softkey::{Algorithm, Behaviour, GetAssertionRequest, MakeCredentialRequest, SoftKey};

use super::super::Store;
use super::*;

const NOW: u64 = 1_800_000_000;
const RP: &str = "pam_mfa://test-host";

fn limits() -> RateLimit {
    RateLimit {
        free_failures: 50,
        ..RateLimit::default()
    }
}

/// A software key with one credential of `alg` registered for alice; returns the key (its
/// directory kept alive with it) and the token id.
fn enrolled(store: &Store, alg: Algorithm, require_uv: bool) -> (tempfile::TempDir, SoftKey, i64) {
    let dir = tempfile::tempdir().unwrap();
    let key = SoftKey::create(
        dir.path().join("key.json"),
        Behaviour {
            uv: require_uv,
            ..Behaviour::default()
        },
    )
    .unwrap();
    let challenge = [7u8; 32];
    let expected = Expected::for_challenge(RP, &challenge, require_uv);
    let attestation = key
        .make_credential(&MakeCredentialRequest {
            rp_id: RP,
            client_data_hash: &expected.client_data_hash,
            algorithms: &[alg],
            exclude_list: &[],
            pin: None,
            require_uv,
        })
        .unwrap();
    let registration = verify_registration(&expected, &attestation).unwrap();
    let info = store
        .insert_fido2("alice", "key", &registration, RP, require_uv, NOW)
        .unwrap();
    (dir, key, info.id.parse().unwrap())
}

struct Signed {
    credential_id: Vec<u8>,
    auth_data: Vec<u8>,
    signature: Vec<u8>,
}

fn sign(key: &SoftKey, rp_id: &str, challenge: &[u8]) -> Signed {
    let hash = mfa_core::fido2::client_data_hash(challenge);
    let a = key
        .get_assertion(&GetAssertionRequest {
            rp_id,
            client_data_hash: &hash,
            allow_list: &[],
            pin: None,
            require_uv: false,
        })
        .unwrap();
    Signed {
        credential_id: a.credential_id,
        auth_data: a.auth_data,
        signature: a.signature,
    }
}

fn verify(store: &Store, challenge: &[u8], s: &Signed) -> (VerifyOutcome, Option<Fido2Error>) {
    store
        .verify_fido2(
            "alice",
            &Fido2Assertion {
                rp_id: RP,
                challenge,
                credential_id: &s.credential_id,
                authenticator_data: &s.auth_data,
                signature: &s.signature,
            },
            NOW,
            &limits(),
        )
        .unwrap()
}

#[test]
fn the_record_round_trips_and_anything_else_is_refused() {
    let r = Fido2Record {
        credential_id: vec![1, 2, 3],
        public_key_cose: vec![0xa5; 77],
        rp_id: "pam_mfa://h".into(),
        require_uv: true,
    };
    let bytes = r.encode();
    assert_eq!(Fido2Record::decode(&bytes).unwrap(), r);
    assert!(Fido2Record::decode(&bytes[..bytes.len() - 1]).is_err());
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(Fido2Record::decode(&longer).is_err());
    let mut version = bytes.clone();
    version[0] = 2;
    assert!(Fido2Record::decode(&version).is_err());
    assert!(Fido2Record::decode(&[]).is_err());
}

#[test]
fn a_genuine_assertion_is_accepted_once_and_its_counter_stored() {
    for alg in [Algorithm::Es256, Algorithm::EdDsa] {
        let store = Store::open_in_memory().unwrap();
        let (_dir, key, id) = enrolled(&store, alg, false);
        let rows = store.fido2_credentials("alice").unwrap();
        assert_eq!((rows.len(), rows[0].id, rows[0].counter), (1, id, 0));
        let info = &store.list_tokens("alice").unwrap()[0];
        let name = if alg == Algorithm::Es256 {
            "ES256"
        } else {
            "EdDSA"
        };
        assert_eq!(info.kind, "fido2");
        assert_eq!(info.algorithm, name);
        assert_eq!(info.detail, format!("{name}, {RP}, touch"));

        let challenge = [9u8; 32];
        let s = sign(&key, RP, &challenge);
        assert_eq!(
            verify(&store, &challenge, &s),
            (VerifyOutcome::Accepted { token_id: id }, None)
        );
        assert_eq!(store.fido2_credentials("alice").unwrap()[0].counter, 1);
        // The same assertion again: the counter no longer grows.
        let (outcome, why) = verify(&store, &challenge, &s);
        assert!(matches!(outcome, VerifyOutcome::Failed(_)), "{outcome:?}");
        assert!(matches!(
            why,
            Some(Fido2Error::CounterRegression {
                stored: 1,
                received: 1
            })
        ));
    }
}

#[test]
fn each_refusal_counts_one_failure_and_names_its_reason() {
    let store = Store::open_in_memory().unwrap();
    let (_dir, key, _) = enrolled(&store, Algorithm::Es256, true);
    let challenge = [3u8; 32];
    // Wrong challenge, wrong RP, UV missing, unknown credential.
    let other_challenge = sign(&key, RP, &[4u8; 32]);
    let (_, why) = verify(&store, &challenge, &other_challenge);
    assert_eq!(why, Some(Fido2Error::BadSignature));
    key.set_behaviour(Behaviour::default()).unwrap(); // no built-in UV any more
    let no_uv = sign(&key, RP, &challenge);
    let (_, why) = verify(&store, &challenge, &no_uv);
    assert_eq!(why, Some(Fido2Error::UserNotVerified));
    let mut unknown = sign(&key, RP, &challenge);
    unknown.credential_id = vec![0; 16];
    let (outcome, why) = verify(&store, &challenge, &unknown);
    assert_eq!(why, Some(Fido2Error::UnknownCredential));
    let VerifyOutcome::Failed(f) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(f.state.consecutive, 3);
    assert!(store.fido2_credentials("bob").unwrap().is_empty());
    let (outcome, _) = store
        .verify_fido2(
            "bob",
            &Fido2Assertion {
                rp_id: RP,
                challenge: &challenge,
                credential_id: &no_uv.credential_id,
                authenticator_data: &no_uv.auth_data,
                signature: &no_uv.signature,
            },
            NOW,
            &limits(),
        )
        .unwrap();
    assert_eq!(outcome, VerifyOutcome::NotEnrolled);
}

#[test]
fn a_credential_moved_to_another_user_or_altered_does_not_open() {
    let store = Store::open_in_memory().unwrap();
    let _enrolled = enrolled(&store, Algorithm::Es256, false);
    store
        .lock()
        .execute("UPDATE tokens SET user = 'bob' WHERE kind = 'fido2'", [])
        .unwrap();
    assert!(matches!(
        store.fido2_credentials("bob"),
        Err(StoreError::BadRow(_))
    ));
}

#[test]
fn the_same_credential_cannot_be_registered_twice() {
    let store = Store::open_in_memory().unwrap();
    let (_dir, key, _) = enrolled(&store, Algorithm::Es256, false);
    let row = store.fido2_credentials("alice").unwrap().remove(0);
    let registration = mfa_core::fido2::Registration {
        credential_id: row.record.credential_id.clone(),
        public_key: mfa_core::fido2::CredentialPublicKey::from_cose(&row.record.public_key_cose)
            .unwrap(),
        public_key_cose: row.record.public_key_cose.clone(),
        sign_count: 0,
        flags: mfa_core::fido2::AuthenticatorData::parse(&sign(&key, RP, &[1; 32]).auth_data)
            .unwrap()
            .flags,
        aaguid: [0; 16],
        attestation: mfa_core::fido2::AttestationType::None,
    };
    assert!(matches!(
        store.insert_fido2("alice", "again", &registration, RP, false, NOW),
        Err(StoreError::Duplicate(_))
    ));
}

#[test]
fn racing_assertions_with_one_counter_value_give_exactly_one_success() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let path = dir.path().join("mfa.db");
    let (_keydir, key, id) = enrolled(&Store::open(&path).unwrap(), Algorithm::Es256, false);
    // Eight different challenges signed with the same counter (a cloned key used in
    // parallel): only one may pass.
    key.set_behaviour(Behaviour {
        force_counter: Some(5),
        ..Behaviour::default()
    })
    .unwrap();
    let signed: Vec<([u8; 32], Signed)> = (0..8u8)
        .map(|i| {
            let c = [i; 32];
            let s = sign(&key, RP, &c);
            (c, s)
        })
        .collect();
    let barrier = Arc::new(Barrier::new(signed.len()));
    let handles: Vec<_> = signed
        .into_iter()
        .map(|(challenge, s)| {
            let (path, barrier) = (path.clone(), barrier.clone());
            std::thread::spawn(move || {
                let store = Store::open(&path).unwrap();
                barrier.wait();
                verify(&store, &challenge, &s).0
            })
        })
        .collect();
    let outcomes: Vec<VerifyOutcome> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let wins = outcomes
        .iter()
        .filter(|o| **o == VerifyOutcome::Accepted { token_id: id })
        .count();
    assert_eq!(wins, 1, "{outcomes:?}");
}
