//! The software authenticator through the [`Authenticator`] trait, checked by the daemon's
//! verifier (mfa_core::fido2): make_credential → verify_registration → get_assertion →
//! verify_assertion, for ES256 and EdDSA, and each way a login must be refused.

use zeroize::Zeroizing;

use mfa_core::fido2::{
    Expected, Fido2Error, StoredCredential, Verified, select_credential, verify_assertion,
    verify_registration,
};
use mfa_fido_client::{
    Algorithm, Authenticator, ClientError, GetAssertionRequest, MakeCredentialRequest,
    SoftAuthenticator,
};
use mfa_softkey::{Behaviour, SoftKey};

const RP: &str = "pam_mfa://roundtrip";

struct Fixture {
    _dir: tempfile::TempDir,
    key: SoftKey,
    authenticator: SoftAuthenticator,
}

fn fixture(behaviour: Behaviour) -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("softkey.json");
    let key = SoftKey::create(&path, behaviour).expect("key file");
    Fixture {
        _dir: dir,
        key,
        authenticator: SoftAuthenticator::new(path),
    }
}

fn enroll(f: &Fixture, alg: Algorithm, rp_id: &str) -> StoredCredential {
    let challenge = b"enrollment challenge, 32 bytes!!".to_vec();
    let response = f
        .authenticator
        .make_credential(&MakeCredentialRequest {
            rp_id: rp_id.into(),
            challenge: challenge.clone(),
            algorithms: vec![alg],
            exclude_credentials: vec![],
            pin: None,
            require_uv: false,
        })
        .expect("make_credential");
    let reg = verify_registration(
        &Expected::for_challenge(rp_id, &challenge, false),
        &response.attestation_object,
    )
    .expect("verify_registration");
    assert_eq!(reg.public_key.algorithm().cose_id(), alg.cose_id());
    reg.to_stored()
}

fn request(stored: &[&StoredCredential], challenge: &[u8]) -> GetAssertionRequest {
    GetAssertionRequest {
        rp_id: RP.into(),
        challenge: challenge.to_vec(),
        allow_credentials: stored.iter().map(|c| c.credential_id().to_vec()).collect(),
        pin: None,
        require_uv: false,
    }
}

/// One login as the daemon will run it: issue, assert, select, verify.
fn login(
    f: &Fixture,
    allowed: &[StoredCredential],
    require_uv: bool,
) -> Result<Verified, Fido2Error> {
    let challenge = b"login challenge, thirty-two byte".to_vec();
    let refs: Vec<&StoredCredential> = allowed.iter().collect();
    let answer = f
        .authenticator
        .get_assertion(&request(&refs, &challenge))
        .expect("get_assertion");
    let stored = select_credential(allowed, &answer.credential_id)?;
    verify_assertion(
        stored,
        &Expected::for_challenge(RP, &challenge, require_uv),
        &answer.auth_data,
        &answer.signature,
    )
}

fn with_counter(c: &StoredCredential, counter: u32) -> StoredCredential {
    StoredCredential::new(
        c.credential_id().to_vec(),
        &c.public_key().to_cose(),
        counter,
    )
    .expect("stored")
}

#[test]
fn es256_and_eddsa_round_trip_through_the_trait_and_the_verifier() {
    for alg in [Algorithm::Es256, Algorithm::EdDsa] {
        let f = fixture(Behaviour::default());
        let mut stored = enroll(&f, alg, RP);
        for expected in 1..=3 {
            let verified = login(&f, std::slice::from_ref(&stored), false).expect("valid touch");
            assert_eq!(verified.new_counter, expected);
            assert!(verified.flags.user_present());
            stored = with_counter(&stored, verified.new_counter);
        }
    }
}

#[test]
fn a_key_holding_none_of_the_allowed_credentials_says_so() {
    let f = fixture(Behaviour::default());
    enroll(&f, Algorithm::Es256, RP);
    let other = fixture(Behaviour::default());
    let foreign = enroll(&other, Algorithm::Es256, RP);
    let result = f
        .authenticator
        .get_assertion(&request(&[&foreign], b"challenge"));
    assert_eq!(result, Err(ClientError::NoCredentials));
}

#[test]
fn an_assertion_by_a_credential_not_in_the_users_list_is_unknown_or_bad() {
    let f = fixture(Behaviour::default());
    let mine = enroll(&f, Algorithm::EdDsa, RP);
    let other = fixture(Behaviour::default());
    let theirs = enroll(&other, Algorithm::EdDsa, RP);
    let challenge = b"login challenge";
    let answer = f
        .authenticator
        .get_assertion(&request(&[&mine], challenge))
        .expect("assertion");
    // The daemon looks the returned ID up among this user's credentials only.
    assert_eq!(
        select_credential(std::slice::from_ref(&theirs), &answer.credential_id).err(),
        Some(Fido2Error::UnknownCredential)
    );
    // And a signature checked against someone else's key fails.
    assert_eq!(
        verify_assertion(
            &theirs,
            &Expected::for_challenge(RP, challenge, false),
            &answer.auth_data,
            &answer.signature
        ),
        Err(Fido2Error::BadSignature)
    );
}

#[test]
fn no_touch_is_refused() {
    let f = fixture(Behaviour::default());
    let stored = enroll(&f, Algorithm::Es256, RP);
    f.key
        .set_behaviour(Behaviour {
            up: false,
            ..Behaviour::default()
        })
        .expect("behaviour");
    assert_eq!(login(&f, &[stored], false), Err(Fido2Error::UserNotPresent));
}

#[test]
fn missing_user_verification_is_refused_when_required() {
    let f = fixture(Behaviour::default());
    let stored = enroll(&f, Algorithm::EdDsa, RP);
    assert_eq!(
        login(&f, std::slice::from_ref(&stored), true),
        Err(Fido2Error::UserNotVerified)
    );
    // With the key's PIN, UV is reported and the login passes.
    f.key
        .set_behaviour(Behaviour {
            pin: Some("123456".into()),
            ..Behaviour::default()
        })
        .expect("behaviour");
    let challenge = b"pin challenge";
    let mut req = request(&[&stored], challenge);
    req.require_uv = true;
    assert_eq!(
        f.authenticator.get_assertion(&req),
        Err(ClientError::PinRequired)
    );
    req.pin = Some(Zeroizing::new("654321".into()));
    assert_eq!(
        f.authenticator.get_assertion(&req),
        Err(ClientError::PinInvalid)
    );
    req.pin = Some(Zeroizing::new("123456".into()));
    let answer = f.authenticator.get_assertion(&req).expect("with PIN");
    let verified = verify_assertion(
        &stored,
        &Expected::for_challenge(RP, challenge, true),
        &answer.auth_data,
        &answer.signature,
    )
    .expect("UV by PIN");
    assert!(verified.flags.user_verified());
}

#[test]
fn a_counter_that_goes_back_is_a_cloned_key() {
    let f = fixture(Behaviour::default());
    let stored = enroll(&f, Algorithm::Es256, RP);
    let first = login(&f, std::slice::from_ref(&stored), false).expect("first login");
    let stored = with_counter(&stored, first.new_counter + 10);
    assert_eq!(
        login(&f, &[stored], false),
        Err(Fido2Error::CounterRegression {
            stored: first.new_counter + 10,
            received: first.new_counter + 1
        })
    );
}

#[test]
fn a_credential_made_for_another_rp_id_is_refused() {
    // The key is asked for the right RP ID but holds a credential scoped to another one
    // (it would not find it), and an assertion made for another RP ID fails verification.
    let f = fixture(Behaviour::default());
    let elsewhere = enroll(&f, Algorithm::Es256, "pam_mfa://elsewhere");
    let result = f.authenticator.get_assertion(&request(&[&elsewhere], b"c"));
    assert_eq!(result, Err(ClientError::NoCredentials));

    let challenge = b"rp challenge";
    let mut req = request(&[&elsewhere], challenge);
    req.rp_id = "pam_mfa://elsewhere".into();
    let answer = f.authenticator.get_assertion(&req).expect("for its own RP");
    assert_eq!(
        verify_assertion(
            &elsewhere,
            &Expected::for_challenge(RP, challenge, false),
            &answer.auth_data,
            &answer.signature
        ),
        Err(Fido2Error::WrongRelyingParty { rp_id: RP.into() })
    );
}

#[test]
fn an_assertion_over_another_challenge_is_a_bad_signature() {
    let f = fixture(Behaviour::default());
    let stored = enroll(&f, Algorithm::EdDsa, RP);
    let answer = f
        .authenticator
        .get_assertion(&request(&[&stored], b"the challenge that was signed"))
        .expect("assertion");
    assert_eq!(
        verify_assertion(
            &stored,
            &Expected::for_challenge(RP, b"the challenge that was issued", false),
            &answer.auth_data,
            &answer.signature
        ),
        Err(Fido2Error::BadSignature)
    );
}

#[test]
fn enrolling_the_same_key_twice_is_refused_by_the_key() {
    let f = fixture(Behaviour::default());
    let stored = enroll(&f, Algorithm::Es256, RP);
    let result = f.authenticator.make_credential(&MakeCredentialRequest {
        rp_id: RP.into(),
        challenge: vec![1; 32],
        algorithms: vec![],
        exclude_credentials: vec![stored.credential_id().to_vec()],
        pin: None,
        require_uv: false,
    });
    assert_eq!(result, Err(ClientError::CredentialExcluded));
}

#[test]
fn a_missing_key_file_is_an_unplugged_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let authenticator = SoftAuthenticator::new(dir.path().join("absent.json"));
    let result = authenticator.get_assertion(&GetAssertionRequest {
        rp_id: RP.into(),
        challenge: vec![1; 32],
        allow_credentials: vec![vec![1; 32]],
        pin: None,
        require_uv: false,
    });
    assert_eq!(result, Err(ClientError::NoDevice));
    assert!(result.expect_err("no device").is_no_device());
}
