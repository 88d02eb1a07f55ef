//! CTAP2 encodings: authenticator data, COSE_Key, signatures, attestation objects.
//!
//! Written from the specifications (CTAP 2.1 §6, WebAuthn §6.1 and §8.2, RFC 9053), in
//! canonical CBOR (map keys shortest first, then bytewise), as hardware keys emit them.

use ciborium::value::Value;
use p256::ecdsa::signature::Signer as _;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::Algorithm;

/// Flag bits (WebAuthn §6.1).
pub(crate) const FLAG_UP: u8 = 0x01;
pub(crate) const FLAG_UV: u8 = 0x04;
pub(crate) const FLAG_AT: u8 = 0x40;

/// A private key of either algorithm, wiped when dropped.
pub(crate) enum PrivateKey {
    Es256(p256::ecdsa::SigningKey),
    EdDsa(ed25519_dalek::SigningKey),
}

impl PrivateKey {
    /// The key for stored secret bytes (a P-256 scalar or an Ed25519 seed).
    pub(crate) fn from_bytes(alg: Algorithm, bytes: &[u8; 32]) -> Option<Self> {
        match alg {
            Algorithm::Es256 => p256::ecdsa::SigningKey::from_slice(bytes)
                .ok()
                .map(PrivateKey::Es256),
            Algorithm::EdDsa => Some(PrivateKey::EdDsa(ed25519_dalek::SigningKey::from_bytes(
                bytes,
            ))),
        }
    }

    /// A fresh key from the OS RNG, and its secret bytes for the key file.
    pub(crate) fn generate(
        alg: Algorithm,
    ) -> Result<(Self, Zeroizing<[u8; 32]>), getrandom::Error> {
        loop {
            let mut bytes = Zeroizing::new([0u8; 32]);
            getrandom::fill(bytes.as_mut())?;
            // A P-256 scalar must be in 1..n: retry the (2^-32-likely) out-of-range draw.
            if let Some(key) = Self::from_bytes(alg, &bytes) {
                return Ok((key, bytes));
            }
        }
    }

    /// The public key as a canonical COSE_Key.
    pub(crate) fn cose_public_key(&self) -> Vec<u8> {
        let entries = match self {
            PrivateKey::Es256(k) => {
                // Uncompressed SEC1: 0x04 ‖ x (32) ‖ y (32).
                let point = k.verifying_key().to_sec1_point(false);
                let point = point.as_bytes();
                vec![
                    (int(1), int(2)),
                    (int(3), int(Algorithm::Es256.cose_id())),
                    (int(-1), int(1)),
                    (int(-2), Value::Bytes(point[1..33].to_vec())),
                    (int(-3), Value::Bytes(point[33..65].to_vec())),
                ]
            }
            PrivateKey::EdDsa(k) => vec![
                (int(1), int(1)),
                (int(3), int(Algorithm::EdDsa.cose_id())),
                (int(-1), int(6)),
                (int(-2), Value::Bytes(k.verifying_key().to_bytes().to_vec())),
            ],
        };
        encode(&Value::Map(entries))
    }

    /// Signs `auth_data ‖ client_data_hash` as CTAP2 does: DER ECDSA or raw Ed25519.
    pub(crate) fn sign(&self, auth_data: &[u8], client_data_hash: &[u8; 32]) -> Vec<u8> {
        let mut message = auth_data.to_vec();
        message.extend_from_slice(client_data_hash);
        match self {
            PrivateKey::Es256(k) => {
                let sig: p256::ecdsa::Signature = k.sign(&message);
                sig.to_der().as_bytes().to_vec()
            }
            PrivateKey::EdDsa(k) => {
                use ed25519_dalek::Signer as _;
                k.sign(&message).to_bytes().to_vec()
            }
        }
    }

    pub(crate) fn algorithm(&self) -> Algorithm {
        match self {
            PrivateKey::Es256(_) => Algorithm::Es256,
            PrivateKey::EdDsa(_) => Algorithm::EdDsa,
        }
    }
}

/// `SHA-256(rpId) ‖ flags ‖ signCount` (big endian).
pub(crate) fn auth_data(rp_id: &str, flags: u8, sign_count: u32) -> Vec<u8> {
    let mut out = Sha256::digest(rp_id.as_bytes()).to_vec();
    out.push(flags);
    out.extend_from_slice(&sign_count.to_be_bytes());
    out
}

/// Appends attested credential data: AAGUID ‖ credIdLen (BE) ‖ credId ‖ COSE_Key.
pub(crate) fn push_attested(out: &mut Vec<u8>, aaguid: &[u8; 16], cred_id: &[u8], cose: &[u8]) {
    out.extend_from_slice(aaguid);
    // Credential IDs are 32 bytes here; CTAP2 caps them far below 64 KiB.
    let len = u16::try_from(cred_id.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(cred_id);
    out.extend_from_slice(cose);
}

/// The attestation object (WebAuthn form, canonical order): `fmt`, `attStmt`, `authData`.
/// `packed_signature` is `Some((alg, sig))` for packed self-attestation, `None` for "none".
pub(crate) fn attestation_object(
    auth_data: &[u8],
    packed_signature: Option<(i64, Vec<u8>)>,
) -> Vec<u8> {
    let (fmt, stmt) = match packed_signature {
        Some((alg, sig)) => (
            "packed",
            vec![
                (Value::Text("alg".into()), int(alg)),
                (Value::Text("sig".into()), Value::Bytes(sig)),
            ],
        ),
        None => ("none", vec![]),
    };
    encode(&Value::Map(vec![
        (Value::Text("fmt".into()), Value::Text(fmt.into())),
        (Value::Text("attStmt".into()), Value::Map(stmt)),
        (
            Value::Text("authData".into()),
            Value::Bytes(auth_data.to_vec()),
        ),
    ]))
}

fn int(n: i64) -> Value {
    Value::Integer(n.into())
}

fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing a Value into a Vec cannot fail (no I/O, only CBOR-representable types).
    ciborium::ser::into_writer(value, &mut out).expect("CBOR encoding into a Vec");
    out
}
