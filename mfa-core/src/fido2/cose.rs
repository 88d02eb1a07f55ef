//! Credential public keys: COSE_Key (RFC 9052/9053) decoding and signature verification.

use ciborium::value::Value;
use p256::ecdsa::signature::Verifier as _;

use super::Fido2Error;
use super::cbor;

/// COSE key type OKP (octet key pair, RFC 9053 §7.2).
const KTY_OKP: i64 = 1;
/// COSE key type EC2 (elliptic curve with x and y, RFC 9053 §7.1).
const KTY_EC2: i64 = 2;
/// COSE curve P-256.
const CRV_P256: i64 = 1;
/// COSE curve Ed25519.
const CRV_ED25519: i64 = 6;
/// COSE_Key labels.
const LABEL_KTY: i64 = 1;
const LABEL_ALG: i64 = 3;
const LABEL_CRV: i64 = -1;
const LABEL_X: i64 = -2;
const LABEL_Y: i64 = -3;

/// A credential signature algorithm we accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CoseAlgorithm {
    /// ECDSA with SHA-256 on P-256 (COSE -7): every FIDO2 key supports it.
    Es256,
    /// EdDSA, here Ed25519 (COSE -8): offered by many newer keys.
    EdDsa,
}

impl CoseAlgorithm {
    /// The COSE algorithm identifier (-7 or -8).
    pub const fn cose_id(self) -> i64 {
        match self {
            CoseAlgorithm::Es256 => -7,
            CoseAlgorithm::EdDsa => -8,
        }
    }

    /// The algorithm for a COSE identifier, if we support it.
    pub const fn from_cose_id(id: i64) -> Option<Self> {
        match id {
            -7 => Some(CoseAlgorithm::Es256),
            -8 => Some(CoseAlgorithm::EdDsa),
            _ => None,
        }
    }

    /// The usual name ("ES256", "EdDSA").
    pub const fn name(self) -> &'static str {
        match self {
            CoseAlgorithm::Es256 => "ES256",
            CoseAlgorithm::EdDsa => "EdDSA",
        }
    }
}

/// A credential's public key, decoded and checked (point on the curve, right key type).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialPublicKey {
    /// ES256: an uncompressed P-256 point.
    Es256(p256::ecdsa::VerifyingKey),
    /// EdDSA: an Ed25519 public key.
    Ed25519(ed25519_dalek::VerifyingKey),
}

impl CredentialPublicKey {
    /// Decodes a COSE_Key that fills `bytes` exactly (the stored form, see the module docs).
    ///
    /// Strict: `kty`, `alg` and `crv` must be present and agree, coordinates must have
    /// their exact length, no other label may appear and no label may repeat.
    pub fn from_cose(bytes: &[u8]) -> Result<Self, Fido2Error> {
        let (key, used) = Self::from_cose_prefix(bytes)?;
        if used != bytes.len() {
            return Err(malformed(format!(
                "{} trailing byte(s) after the key",
                bytes.len() - used
            )));
        }
        Ok(key)
    }

    /// Decodes the COSE_Key at the start of `bytes`; returns it and the bytes it used.
    pub(crate) fn from_cose_prefix(bytes: &[u8]) -> Result<(Self, usize), Fido2Error> {
        let (value, rest) = cbor::decode_prefix(bytes).map_err(malformed)?;
        let used = bytes.len() - rest.len();
        let mut entries = cbor::small_map(value, "the key").map_err(malformed)?;
        let alg = take_int(&mut entries, LABEL_ALG, "alg (3)")?;
        let kty = take_int(&mut entries, LABEL_KTY, "kty (1)")?;
        let algorithm =
            CoseAlgorithm::from_cose_id(alg).ok_or(Fido2Error::UnsupportedAlgorithm(alg))?;
        let crv = take_int(&mut entries, LABEL_CRV, "crv (-1)")?;
        let x = take_bytes(&mut entries, LABEL_X, "x (-2)")?;
        let key = match algorithm {
            CoseAlgorithm::Es256 => {
                expect_param(kty, KTY_EC2, "kty", "ES256 needs kty 2 (EC2)")?;
                expect_param(crv, CRV_P256, "crv", "ES256 needs crv 1 (P-256)")?;
                // CTAP2 requires uncompressed points: y is a byte string, never a sign bit.
                let y = take_bytes(&mut entries, LABEL_Y, "y (-3)")?;
                if x.len() != 32 || y.len() != 32 {
                    return Err(malformed(format!(
                        "P-256 coordinates must be 32 bytes each (x {}, y {})",
                        x.len(),
                        y.len()
                    )));
                }
                let mut point = Vec::with_capacity(65);
                point.push(0x04);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(&point)
                    .map_err(|_| malformed("the P-256 point is not on the curve".to_owned()))?;
                CredentialPublicKey::Es256(key)
            }
            CoseAlgorithm::EdDsa => {
                expect_param(kty, KTY_OKP, "kty", "EdDSA needs kty 1 (OKP)")?;
                expect_param(crv, CRV_ED25519, "crv", "EdDSA needs crv 6 (Ed25519)")?;
                let x: [u8; 32] = x.as_slice().try_into().map_err(|_| {
                    malformed(format!("Ed25519 keys are 32 bytes, not {}", x.len()))
                })?;
                let key = ed25519_dalek::VerifyingKey::from_bytes(&x)
                    .map_err(|_| malformed("not a valid Ed25519 point".to_owned()))?;
                CredentialPublicKey::Ed25519(key)
            }
        };
        if let Some((label, _)) = entries.first() {
            return Err(malformed(format!(
                "unexpected label {} in a {} key",
                cbor::describe_key(label),
                algorithm.name()
            )));
        }
        Ok((key, used))
    }

    /// The canonical CTAP2 COSE_Key encoding of this key.
    pub fn to_cose(&self) -> Vec<u8> {
        let entries = match self {
            CredentialPublicKey::Es256(key) => {
                let point = key.to_sec1_point(false);
                let (x, y) = match (point.x(), point.y()) {
                    (Some(x), Some(y)) => (x.to_vec(), y.to_vec()),
                    // An uncompressed encoding of a valid (non-identity) key always has both.
                    _ => unreachable!("uncompressed P-256 point without coordinates"),
                };
                vec![
                    (cbor::int(LABEL_KTY), cbor::int(KTY_EC2)),
                    (
                        cbor::int(LABEL_ALG),
                        cbor::int(CoseAlgorithm::Es256.cose_id()),
                    ),
                    (cbor::int(LABEL_CRV), cbor::int(CRV_P256)),
                    (cbor::int(LABEL_X), Value::Bytes(x)),
                    (cbor::int(LABEL_Y), Value::Bytes(y)),
                ]
            }
            CredentialPublicKey::Ed25519(key) => vec![
                (cbor::int(LABEL_KTY), cbor::int(KTY_OKP)),
                (
                    cbor::int(LABEL_ALG),
                    cbor::int(CoseAlgorithm::EdDsa.cose_id()),
                ),
                (cbor::int(LABEL_CRV), cbor::int(CRV_ED25519)),
                (cbor::int(LABEL_X), Value::Bytes(key.to_bytes().to_vec())),
            ],
        };
        cbor::encode(&Value::Map(entries))
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> CoseAlgorithm {
        match self {
            CredentialPublicKey::Es256(_) => CoseAlgorithm::Es256,
            CredentialPublicKey::Ed25519(_) => CoseAlgorithm::EdDsa,
        }
    }

    /// Verifies `signature` over `message` in the encoding CTAP2 uses for the algorithm:
    /// ASN.1 DER `(r, s)` for ES256 (high-S accepted, as keys produce both), 64 raw bytes
    /// for EdDSA (verified strictly: no small-order keys, canonical `S` only).
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), Fido2Error> {
        match self {
            CredentialPublicKey::Es256(key) => {
                let sig = p256::ecdsa::Signature::from_der(signature).map_err(|_| {
                    Fido2Error::MalformedSignature(
                        "not a DER-encoded ECDSA P-256 signature".to_owned(),
                    )
                })?;
                key.verify(message, &sig)
                    .map_err(|_| Fido2Error::BadSignature)
            }
            CredentialPublicKey::Ed25519(key) => {
                let bytes: [u8; 64] = signature.try_into().map_err(|_| {
                    Fido2Error::MalformedSignature(format!(
                        "Ed25519 signatures are 64 bytes, not {}",
                        signature.len()
                    ))
                })?;
                let sig = ed25519_dalek::Signature::from_bytes(&bytes);
                key.verify_strict(message, &sig)
                    .map_err(|_| Fido2Error::BadSignature)
            }
        }
    }
}

fn malformed(detail: String) -> Fido2Error {
    Fido2Error::MalformedPublicKey(detail)
}

fn take_int(entries: &mut Vec<(Value, Value)>, label: i64, name: &str) -> Result<i64, Fido2Error> {
    let value =
        cbor::take_int_key(entries, label).ok_or_else(|| malformed(format!("no {name}")))?;
    cbor::int_i64(&value).ok_or_else(|| malformed(format!("{name} is not an integer")))
}

fn take_bytes(
    entries: &mut Vec<(Value, Value)>,
    label: i64,
    name: &str,
) -> Result<Vec<u8>, Fido2Error> {
    match cbor::take_int_key(entries, label) {
        Some(Value::Bytes(b)) => Ok(b),
        Some(_) => Err(malformed(format!("{name} is not a byte string"))),
        None => Err(malformed(format!("no {name}"))),
    }
}

fn expect_param(found: i64, wanted: i64, name: &str, rule: &str) -> Result<(), Fido2Error> {
    if found == wanted {
        Ok(())
    } else {
        Err(malformed(format!("{rule}, found {name} {found}")))
    }
}
