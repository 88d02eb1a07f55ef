//! The FIDO2 verifier (`mfa_core::fido2`) cross-checked against two independent ones, on
//! genuine CTAP2 output of the software authenticator (`mfa-softkey`, real P-256 and
//! Ed25519 keys): libfido2's `fido2-assert -V` / `fido2-cred -V` (C, Yubico) and
//! python-fido2 (Debian's `python3-fido2`, only importable by `/usr/bin/python3`).
//!
//! Every case is judged by all three and they must agree with the expected verdict: the
//! valid assertions pass everywhere, and tampered signatures, tampered authenticator data,
//! another challenge, another RP ID, a missing UP or UV flag fail everywhere. The
//! registrations (packed self-attestation) are verified by both tools too, and python-fido2
//! must extract the same credential ID and COSE key as we do.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use mfa_core::fido2::{
    CredentialPublicKey, Expected, Registration, client_data_hash, verify_assertion,
    verify_registration,
};
use mfa_softkey::{Algorithm, Behaviour, GetAssertionRequest, MakeCredentialRequest, SoftKey};
use mfa_tests::{CmdOutput, run};

const RP: &str = "pam_mfa://crosscheck";
const PYTHON: &str = "/usr/bin/python3";
const FIDO2_ASSERT: &str = "/usr/bin/fido2-assert";
const FIDO2_CRED: &str = "/usr/bin/fido2-cred";
const TOOL_TIMEOUT: Duration = Duration::from_secs(30);

/// Reads a JSON request on stdin, answers a JSON verdict list. Assertions: "ok", "invalid"
/// (a check or the signature failed) or "error: …" (the script itself went wrong, which
/// fails the test instead of passing a should-fail case).
const PY_VERIFIER: &str = r#"
import hashlib, json, sys
from cryptography.exceptions import InvalidSignature as CryptoInvalidSignature
from fido2 import cbor
from fido2.cose import CoseKey
from fido2.ctap2 import AttestationObject, AuthenticatorData
from fido2.attestation import Attestation, InvalidSignature

req = json.load(sys.stdin)
out = {"assertions": [], "registrations": []}
for c in req["assertions"]:
    try:
        ad = AuthenticatorData(bytes.fromhex(c["auth_data"]))
        key = CoseKey.parse(cbor.decode(bytes.fromhex(c["cose"])))
        cdh = hashlib.sha256(bytes.fromhex(c["challenge"])).digest()
        try:
            key.verify(bytes(ad) + cdh, bytes.fromhex(c["signature"]))
            signed = True
        except CryptoInvalidSignature:
            signed = False
        ok = (signed
              and ad.rp_id_hash == hashlib.sha256(c["rp_id"].encode()).digest()
              and ad.is_user_present()
              and (ad.is_user_verified() or not c["require_uv"]))
        out["assertions"].append("ok" if ok else "invalid")
    except Exception as e:
        out["assertions"].append("error: %r" % (e,))
for r in req["registrations"]:
    try:
        att = AttestationObject(bytes.fromhex(r["object"]))
        cdh = hashlib.sha256(bytes.fromhex(r["challenge"])).digest()
        cred = att.auth_data.credential_data
        entry = {
            "fmt": att.fmt,
            "credential_id": cred.credential_id.hex(),
            "cose": cbor.encode(dict(cred.public_key)).hex(),
            "rp_ok": att.auth_data.rp_id_hash == hashlib.sha256(r["rp_id"].encode()).digest(),
        }
        try:
            result = Attestation.for_type(att.fmt)().verify(att.att_statement, att.auth_data, cdh)
            entry["verdict"] = "ok:" + result.attestation_type.name
        except InvalidSignature:
            entry["verdict"] = "invalid"
        out["registrations"].append(entry)
    except Exception as e:
        out["registrations"].append({"verdict": "error: %r" % (e,)})
json.dump(out, sys.stdout)
"#;

/// One credential on the software key, as registered.
struct Credential {
    algorithm: Algorithm,
    registration: Registration,
    attestation_object: Vec<u8>,
    /// SubjectPublicKeyInfo PEM, for fido2-assert.
    pem_path: std::path::PathBuf,
}

/// One assertion to judge, with what it is judged against.
struct Case {
    name: String,
    credential: usize,
    auth_data: Vec<u8>,
    signature: Vec<u8>,
    /// The challenge the verifiers are told was issued.
    challenge: Vec<u8>,
    /// The RP ID the verifiers expect.
    rp_id: String,
    require_uv: bool,
    valid: bool,
}

const REGISTRATION_CHALLENGE: &[u8] = b"registration challenge: 32 bytes";
const LOGIN_CHALLENGE: &[u8] = b"the login challenge, thirty-two!";

fn enroll(key: &SoftKey, dir: &Path, algorithm: Algorithm) -> Credential {
    let hash = client_data_hash(REGISTRATION_CHALLENGE);
    let attestation_object = key
        .make_credential(&MakeCredentialRequest {
            rp_id: RP,
            client_data_hash: &hash,
            algorithms: &[algorithm],
            exclude_list: &[],
            pin: None,
            require_uv: false,
        })
        .expect("make_credential");
    let registration = verify_registration(
        &Expected::for_challenge(RP, REGISTRATION_CHALLENGE, false),
        &attestation_object,
    )
    .expect("our verifier accepts the registration");
    let pem = match &registration.public_key {
        CredentialPublicKey::Es256(k) => {
            use p256::pkcs8::EncodePublicKey as _;
            k.to_public_key_pem(p256::pkcs8::LineEnding::LF)
                .expect("PEM")
        }
        CredentialPublicKey::Ed25519(k) => {
            use ed25519_dalek::pkcs8::EncodePublicKey as _;
            k.to_public_key_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
                .expect("PEM")
        }
    };
    let pem_path = dir.join(format!("{algorithm:?}.pem"));
    std::fs::write(&pem_path, pem).expect("write PEM");
    Credential {
        algorithm,
        registration,
        attestation_object,
        pem_path,
    }
}

fn assert_once(key: &SoftKey, credential: &Credential) -> mfa_softkey::Assertion {
    let hash = client_data_hash(LOGIN_CHALLENGE);
    key.get_assertion(&GetAssertionRequest {
        rp_id: RP,
        client_data_hash: &hash,
        allow_list: std::slice::from_ref(&credential.registration.credential_id),
        pin: None,
        require_uv: false,
    })
    .expect("get_assertion")
}

/// The assertion cases for one credential (index `i`).
fn cases_for(key: &SoftKey, credential: &Credential, i: usize) -> Vec<Case> {
    let name = |what: &str| format!("{:?} {what}", credential.algorithm);
    let case = |what: &str, a: &mfa_softkey::Assertion, valid: bool| Case {
        name: name(what),
        credential: i,
        auth_data: a.auth_data.clone(),
        signature: a.signature.clone(),
        challenge: LOGIN_CHALLENGE.to_vec(),
        rp_id: RP.to_owned(),
        require_uv: false,
        valid,
    };
    key.set_behaviour(Behaviour::default()).expect("behaviour");
    let plain = assert_once(key, credential);
    key.set_behaviour(Behaviour {
        uv: true,
        ..Behaviour::default()
    })
    .expect("behaviour");
    let verified = assert_once(key, credential);
    key.set_behaviour(Behaviour {
        up: false,
        ..Behaviour::default()
    })
    .expect("behaviour");
    let untouched = assert_once(key, credential);

    let mut tampered_signature = case("tampered signature", &plain, false);
    let last = tampered_signature.signature.len() - 1;
    tampered_signature.signature[last] ^= 0x01;
    let mut tampered_data = case("tampered counter in authData", &plain, false);
    tampered_data.auth_data[36] ^= 0x80;
    vec![
        case("valid touch", &plain, true),
        Case {
            require_uv: true,
            ..case("valid touch with UV required and given", &verified, true)
        },
        Case {
            require_uv: true,
            ..case("UV required but missing", &plain, false)
        },
        case("UP missing", &untouched, false),
        Case {
            challenge: b"another challenge".to_vec(),
            ..case("another challenge", &plain, false)
        },
        Case {
            rp_id: "pam_mfa://otherhost".into(),
            ..case("another RP ID", &plain, false)
        },
        tampered_signature,
        tampered_data,
    ]
}

fn ours(credentials: &[Credential], case: &Case) -> bool {
    verify_assertion(
        &credentials[case.credential].registration.to_stored(),
        &Expected::for_challenge(&case.rp_id, &case.challenge, case.require_uv),
        &case.auth_data,
        &case.signature,
    )
    .is_ok()
}

/// `fido2-assert -V -p [-v] KEY TYPE`, input: cdh, rp, authData (as a CBOR byte string,
/// which libfido2 insists on), signature, all base64.
fn libfido2(credentials: &[Credential], case: &Case) -> (bool, CmdOutput) {
    let credential = &credentials[case.credential];
    let mut wrapped = vec![
        0x58,
        u8::try_from(case.auth_data.len()).expect("short authData"),
    ];
    wrapped.extend_from_slice(&case.auth_data);
    let input = format!(
        "{}\n{}\n{}\n{}\n",
        B64.encode(client_data_hash(&case.challenge)),
        case.rp_id,
        B64.encode(&wrapped),
        B64.encode(&case.signature)
    );
    let mut cmd = Command::new(FIDO2_ASSERT);
    cmd.arg("-V").arg("-p");
    if case.require_uv {
        cmd.arg("-v");
    }
    cmd.arg(&credential.pem_path)
        .arg(match credential.algorithm {
            Algorithm::Es256 => "es256",
            Algorithm::EdDsa => "eddsa",
        });
    let out = run(cmd, input.as_bytes(), TOOL_TIMEOUT);
    assert!(
        !out.timed_out && out.code().is_some_and(|c| c == 0 || c == 1),
        "fido2-assert did not run properly:\n{out}"
    );
    (out.success(), out)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn require_tools() {
    for tool in [PYTHON, FIDO2_ASSERT, FIDO2_CRED] {
        assert!(
            Path::new(tool).exists(),
            "{tool} is missing: run `make deps` (apt packages python3-fido2 fido2-tools)"
        );
    }
}

#[test]
fn given_soft_key_output_then_our_verifier_libfido2_and_python_fido2_agree() {
    require_tools();
    let dir = tempfile::tempdir().expect("tempdir");
    let key =
        SoftKey::create(dir.path().join("softkey.json"), Behaviour::default()).expect("key file");
    let credentials: Vec<Credential> = [Algorithm::Es256, Algorithm::EdDsa]
        .into_iter()
        .map(|alg| enroll(&key, dir.path(), alg))
        .collect();
    let cases: Vec<Case> = credentials
        .iter()
        .enumerate()
        .flat_map(|(i, c)| cases_for(&key, c, i))
        .collect();

    // python-fido2, all cases in one run.
    let request = serde_json::json!({
        "assertions": cases.iter().map(|c| serde_json::json!({
            "auth_data": hex(&c.auth_data),
            "signature": hex(&c.signature),
            "challenge": hex(&c.challenge),
            "rp_id": c.rp_id,
            "require_uv": c.require_uv,
            "cose": hex(&credentials[c.credential].registration.public_key_cose),
        })).collect::<Vec<_>>(),
        "registrations": credentials.iter().map(|c| serde_json::json!({
            "object": hex(&c.attestation_object),
            "challenge": hex(REGISTRATION_CHALLENGE),
            "rp_id": RP,
        })).collect::<Vec<_>>(),
    });
    let mut cmd = Command::new(PYTHON);
    cmd.arg("-c").arg(PY_VERIFIER);
    let out = run(cmd, request.to_string().as_bytes(), TOOL_TIMEOUT);
    assert!(out.success(), "python-fido2 verifier failed:\n{out}");
    let answer: serde_json::Value = serde_json::from_str(&out.stdout).expect("python JSON");

    let mut report = Vec::new();
    let mut disagreements = 0;
    for (i, case) in cases.iter().enumerate() {
        let mine = ours(&credentials, case);
        let (theirs_c, c_out) = libfido2(&credentials, case);
        let python = answer["assertions"][i]
            .as_str()
            .expect("verdict")
            .to_owned();
        assert!(
            !python.starts_with("error"),
            "{}: python: {python}",
            case.name
        );
        let theirs_py = python == "ok";
        let agree = mine == case.valid && theirs_c == case.valid && theirs_py == case.valid;
        if !agree {
            disagreements += 1;
            report.push(format!("{c_out}"));
        }
        report.push(format!(
            "{:<45} expected {:<5} ours {:<5} libfido2 {:<5} python-fido2 {:<5}{}",
            case.name,
            case.valid,
            mine,
            theirs_c,
            theirs_py,
            if agree { "" } else { "  <-- DISAGREE" }
        ));
    }
    let report = report.join("\n");
    println!("{report}");
    assert_eq!(disagreements, 0, "verifiers disagree:\n{report}");
    assert_eq!(cases.len(), 16, "8 cases per algorithm");

    // Registrations: python-fido2 verifies the packed self-attestation and reads the same
    // credential ID and COSE key as we do.
    for (i, credential) in credentials.iter().enumerate() {
        let entry = &answer["registrations"][i];
        assert_eq!(
            entry["verdict"], "ok:SELF",
            "{:?}: {entry}",
            credential.algorithm
        );
        assert_eq!(entry["fmt"], "packed");
        assert_eq!(entry["rp_ok"], true);
        assert_eq!(
            entry["credential_id"],
            hex(&credential.registration.credential_id)
        );
        assert_eq!(entry["cose"], hex(&credential.registration.public_key_cose));
    }
}

/// `fido2-cred -V`: cdh, rp, fmt, authData (CBOR byte string), credential ID, signature.
fn fido2_cred(credential: &Credential, challenge: &[u8], signature: &[u8]) -> CmdOutput {
    let (auth_data, fmt) = attestation_parts(&credential.attestation_object);
    let mut wrapped = vec![0x59];
    wrapped.extend_from_slice(&u16::try_from(auth_data.len()).expect("short").to_be_bytes());
    wrapped.extend_from_slice(&auth_data);
    let input = format!(
        "{}\n{}\n{}\n{}\n{}\n{}\n",
        B64.encode(client_data_hash(challenge)),
        RP,
        fmt,
        B64.encode(&wrapped),
        B64.encode(&credential.registration.credential_id),
        B64.encode(signature),
    );
    let mut cmd = Command::new(FIDO2_CRED);
    cmd.arg("-V").arg(match credential.algorithm {
        Algorithm::Es256 => "es256",
        Algorithm::EdDsa => "eddsa",
    });
    run(cmd, input.as_bytes(), TOOL_TIMEOUT)
}

/// The members of an attestation object (WebAuthn form), by name.
fn attestation_member(object: &[u8], name: &str) -> ciborium::value::Value {
    let value: ciborium::value::Value = ciborium::de::from_reader(object).expect("CBOR");
    let entries = value.into_map().expect("a map");
    entries
        .into_iter()
        .find(|(k, _)| k.as_text() == Some(name))
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no {name} in the attestation object"))
}

/// authData and fmt of an attestation object.
fn attestation_parts(object: &[u8]) -> (Vec<u8>, String) {
    let auth_data = attestation_member(object, "authData")
        .into_bytes()
        .expect("bytes");
    let fmt = attestation_member(object, "fmt").into_text().expect("text");
    (auth_data, fmt)
}

/// The `sig` of a packed attestation statement.
fn attestation_signature(object: &[u8]) -> Vec<u8> {
    let stmt = attestation_member(object, "attStmt")
        .into_map()
        .expect("a map");
    stmt.into_iter()
        .find(|(k, _)| k.as_text() == Some("sig"))
        .and_then(|(_, v)| v.into_bytes().ok())
        .expect("packed sig")
}

#[test]
fn given_soft_key_registrations_then_libfido2_verifies_the_self_attestation() {
    require_tools();
    let dir = tempfile::tempdir().expect("tempdir");
    let key =
        SoftKey::create(dir.path().join("softkey.json"), Behaviour::default()).expect("key file");
    for algorithm in [Algorithm::Es256, Algorithm::EdDsa] {
        let credential = enroll(&key, dir.path(), algorithm);
        let signature = attestation_signature(&credential.attestation_object);
        let out = fido2_cred(&credential, REGISTRATION_CHALLENGE, &signature);
        assert!(
            out.success(),
            "{algorithm:?}: libfido2 refused a valid registration:\n{out}"
        );

        let out = fido2_cred(&credential, b"another challenge", &signature);
        assert_eq!(
            out.code(),
            Some(1),
            "{algorithm:?}: other challenge accepted:\n{out}"
        );
        let mut tampered = signature.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 0x01;
        let out = fido2_cred(&credential, REGISTRATION_CHALLENGE, &tampered);
        assert_eq!(
            out.code(),
            Some(1),
            "{algorithm:?}: tampered signature accepted:\n{out}"
        );
    }
}
