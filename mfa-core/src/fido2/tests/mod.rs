//! Tests of the FIDO2 verifier: published vectors for both signature paths, and every
//! rejection case, on authenticator output built byte by byte here (so each field can be
//! broken on purpose). The software authenticator's genuine CTAP2 output is checked against
//! this verifier in mfa-fido-client, and against libfido2 and python-fido2 in the tests crate.

mod assertion;
mod authdata;
mod cose;
mod registration;
mod vectors;

use ciborium::value::Value;
use p256::ecdsa::signature::Signer as _;

use super::{CredentialPublicKey, client_data_hash, rp_id_hash};

/// The RP ID used throughout.
const RP: &str = "pam_mfa://testhost";
/// A fixed challenge.
const CHALLENGE: &[u8; 32] = b"0123456789abcdef0123456789abcdef";

/// A test key of either algorithm.
enum TestKey {
    Es256(p256::ecdsa::SigningKey),
    Ed25519(ed25519_dalek::SigningKey),
}

impl TestKey {
    /// A P-256 key from a fixed scalar (valid for any seed byte 1..=255).
    fn es256(seed: u8) -> Self {
        TestKey::Es256(p256::ecdsa::SigningKey::from_slice(&[seed; 32]).expect("valid scalar"))
    }

    /// An Ed25519 key from a fixed seed.
    fn ed25519(seed: u8) -> Self {
        TestKey::Ed25519(ed25519_dalek::SigningKey::from_bytes(&[seed; 32]))
    }

    fn public(&self) -> CredentialPublicKey {
        match self {
            TestKey::Es256(k) => CredentialPublicKey::Es256(*k.verifying_key()),
            TestKey::Ed25519(k) => CredentialPublicKey::Ed25519(k.verifying_key()),
        }
    }

    fn cose(&self) -> Vec<u8> {
        self.public().to_cose()
    }

    /// Signs `message` the way CTAP2 returns signatures (DER for ES256, raw for EdDSA).
    fn sign(&self, message: &[u8]) -> Vec<u8> {
        match self {
            TestKey::Es256(k) => {
                let sig: p256::ecdsa::Signature = k.sign(message);
                sig.to_der().as_bytes().to_vec()
            }
            TestKey::Ed25519(k) => {
                use ed25519_dalek::Signer as _;
                k.sign(message).to_bytes().to_vec()
            }
        }
    }

    /// Signs `authData ‖ clientDataHash`, as an authenticator does.
    fn sign_assertion(&self, auth_data: &[u8], challenge: &[u8]) -> Vec<u8> {
        let mut msg = auth_data.to_vec();
        msg.extend_from_slice(&client_data_hash(challenge));
        self.sign(&msg)
    }
}

/// Authenticator data without attested credential data: rpIdHash ‖ flags ‖ counter.
fn auth_data(rp_id: &str, flags: u8, counter: u32) -> Vec<u8> {
    let mut out = rp_id_hash(rp_id).to_vec();
    out.push(flags);
    out.extend_from_slice(&counter.to_be_bytes());
    out
}

/// Authenticator data with attested credential data (AT set by the caller in `flags`).
fn auth_data_attested(
    rp_id: &str,
    flags: u8,
    counter: u32,
    cred_id: &[u8],
    cose: &[u8],
) -> Vec<u8> {
    let mut out = auth_data(rp_id, flags, counter);
    out.extend_from_slice(&[0xAA; 16]);
    out.extend_from_slice(
        &u16::try_from(cred_id.len())
            .expect("short id")
            .to_be_bytes(),
    );
    out.extend_from_slice(cred_id);
    out.extend_from_slice(cose);
    out
}

/// CBOR encoding of a value.
fn cbor(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(value, &mut out).expect("encode");
    out
}

/// A CBOR integer.
fn int(n: i64) -> Value {
    Value::Integer(n.into())
}

/// A CBOR text string.
fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}
