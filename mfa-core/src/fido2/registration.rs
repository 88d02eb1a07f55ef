//! Registration (make_credential) verification: the attestation object.

use ciborium::value::Value;
use p256::pkcs8::DecodePublicKey as _;
use x509_cert::der::{Decode as _, Encode as _};

use super::assertion::{Expected, StoredCredential, check_user_flags};
use super::authdata::{AuthenticatorData, Flags};
use super::cbor;
use super::cose::{CoseAlgorithm, CredentialPublicKey};
use super::{Fido2Error, rp_id_hash};

/// How the registration was attested. None of them is trusted beyond "the statement is
/// consistent": chains are not checked against vendor CAs (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttestationType {
    /// Format `none`: no statement.
    None,
    /// Format `packed` without certificates, signed with the credential key itself.
    SelfAttestation,
    /// Format `packed` with an `x5c` chain; the signature verified with the leaf
    /// certificate's key. The chain is NOT validated.
    Basic,
}

/// A verified registration: what the daemon stores for the new credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// The credential ID (to pass in the allow list at login).
    pub credential_id: Vec<u8>,
    /// The decoded public key.
    pub public_key: CredentialPublicKey,
    /// The public key as the authenticator encoded it (COSE_Key): the form to store.
    pub public_key_cose: Vec<u8>,
    /// The initial signature counter.
    pub sign_count: u32,
    /// The signed flags.
    pub flags: Flags,
    /// The authenticator model's AAGUID (informational; all zero when hidden).
    pub aaguid: [u8; 16],
    /// How it was attested.
    pub attestation: AttestationType,
}

impl Registration {
    /// The credential as [`super::verify_assertion`] takes it.
    pub fn to_stored(&self) -> StoredCredential {
        StoredCredential::from_parts(
            self.credential_id.clone(),
            self.public_key.clone(),
            self.sign_count,
        )
    }
}

/// The three members of an attestation object.
struct AttestationObject {
    fmt: String,
    auth_data: Vec<u8>,
    att_stmt: Vec<(Value, Value)>,
}

/// Verifies the attestation object returned by make_credential.
///
/// Accepts the WebAuthn form (text keys `fmt`, `attStmt`, `authData`) and the raw CTAP2
/// response map (keys 1, 2, 3; later CTAP 2.1 members are ignored). Checks: the RP ID
/// hash, UP (and UV when `expected.require_uv`), the AT flag and the credential it carries,
/// and the statement: `none` (empty) or `packed` (see [`AttestationType`]). Never panics on
/// malformed input.
pub fn verify_registration(
    expected: &Expected<'_>,
    attestation_object: &[u8],
) -> Result<Registration, Fido2Error> {
    let object = parse_object(attestation_object)?;
    let data = AuthenticatorData::parse(&object.auth_data)?;
    if data.rp_id_hash != rp_id_hash(expected.rp_id) {
        return Err(Fido2Error::WrongRelyingParty {
            rp_id: expected.rp_id.to_owned(),
        });
    }
    check_user_flags(data.flags, expected.require_uv)?;
    let credential = data
        .attested_credential
        .ok_or(Fido2Error::MissingAttestedCredential)?;

    let mut signed = Vec::with_capacity(object.auth_data.len() + 32);
    signed.extend_from_slice(&object.auth_data);
    signed.extend_from_slice(&expected.client_data_hash);
    let attestation = match object.fmt.as_str() {
        "none" => {
            if !object.att_stmt.is_empty() {
                return Err(malformed("format \"none\" with a non-empty attStmt"));
            }
            AttestationType::None
        }
        "packed" => verify_packed(object.att_stmt, &credential.public_key, &signed)?,
        other => return Err(Fido2Error::UnsupportedAttestationFormat(other.to_owned())),
    };

    Ok(Registration {
        credential_id: credential.credential_id,
        public_key: credential.public_key,
        public_key_cose: credential.public_key_cose,
        sign_count: data.sign_count,
        flags: data.flags,
        aaguid: credential.aaguid,
        attestation,
    })
}

fn parse_object(bytes: &[u8]) -> Result<AttestationObject, Fido2Error> {
    let value = cbor::decode_exact(bytes).map_err(Fido2Error::MalformedAttestation)?;
    let mut entries = cbor::small_map(value, "the attestation object")
        .map_err(Fido2Error::MalformedAttestation)?;
    let ctap_form = matches!(entries.first(), Some((Value::Integer(_), _)));
    let (fmt, auth_data, att_stmt) = if ctap_form {
        let fmt = cbor::take_int_key(&mut entries, 1);
        let auth_data = cbor::take_int_key(&mut entries, 2);
        let att_stmt = cbor::take_int_key(&mut entries, 3);
        // CTAP 2.1 adds epAtt (4), largeBlobKey (5), unsignedExtensionOutputs (6): not signed
        // and not needed here.
        if let Some((key, _)) = entries
            .iter()
            .find(|(k, _)| !matches!(cbor::as_int(k), Some(4..=6)))
        {
            return Err(malformed(&format!(
                "unexpected member {}",
                cbor::describe_key(key)
            )));
        }
        (fmt, auth_data, att_stmt)
    } else {
        let fmt = cbor::take_text_key(&mut entries, "fmt");
        let auth_data = cbor::take_text_key(&mut entries, "authData");
        let att_stmt = cbor::take_text_key(&mut entries, "attStmt");
        if let Some((key, _)) = entries.first() {
            return Err(malformed(&format!(
                "unexpected member {}",
                cbor::describe_key(key)
            )));
        }
        (fmt, auth_data, att_stmt)
    };
    let fmt = match fmt {
        Some(Value::Text(t)) => t,
        Some(_) => return Err(malformed("fmt is not a text string")),
        None => return Err(malformed("no fmt")),
    };
    let auth_data = match auth_data {
        Some(Value::Bytes(b)) => b,
        Some(_) => return Err(malformed("authData is not a byte string")),
        None => return Err(malformed("no authData")),
    };
    let att_stmt = match att_stmt {
        Some(v) => cbor::small_map(v, "attStmt").map_err(Fido2Error::MalformedAttestation)?,
        None => return Err(malformed("no attStmt")),
    };
    Ok(AttestationObject {
        fmt,
        auth_data,
        att_stmt,
    })
}

/// `packed` (WebAuthn §8.2): `alg`, `sig`, and optionally `x5c`.
fn verify_packed(
    mut att_stmt: Vec<(Value, Value)>,
    credential_key: &CredentialPublicKey,
    signed: &[u8],
) -> Result<AttestationType, Fido2Error> {
    let alg = match cbor::take_text_key(&mut att_stmt, "alg") {
        Some(v) => cbor::int_i64(&v).ok_or_else(|| malformed("packed alg is not an integer"))?,
        None => return Err(malformed("packed attStmt without alg")),
    };
    let sig = match cbor::take_text_key(&mut att_stmt, "sig") {
        Some(Value::Bytes(b)) => b,
        Some(_) => return Err(malformed("packed sig is not a byte string")),
        None => return Err(malformed("packed attStmt without sig")),
    };
    let x5c = cbor::take_text_key(&mut att_stmt, "x5c");
    if let Some((key, _)) = att_stmt.first() {
        return Err(malformed(&format!(
            "unexpected member {} in packed attStmt",
            cbor::describe_key(key)
        )));
    }
    let Some(x5c) = x5c else {
        // Self-attestation: signed with the credential key, whose algorithm must match.
        if CoseAlgorithm::from_cose_id(alg) != Some(credential_key.algorithm()) {
            return Err(malformed(&format!(
                "self-attestation alg {alg} does not match the credential's {}",
                credential_key.algorithm().name()
            )));
        }
        return match credential_key.verify(signed, &sig) {
            Ok(()) => Ok(AttestationType::SelfAttestation),
            Err(Fido2Error::BadSignature) => Err(Fido2Error::BadAttestationSignature),
            Err(e) => Err(e),
        };
    };
    let leaf = match x5c {
        Value::Array(certs) => match certs.into_iter().next() {
            Some(Value::Bytes(der)) => der,
            Some(_) => return Err(malformed("x5c holds something other than a certificate")),
            None => return Err(malformed("x5c is empty")),
        },
        _ => return Err(malformed("x5c is not an array")),
    };
    if alg != CoseAlgorithm::Es256.cose_id() {
        return Err(Fido2Error::UnsupportedAttestationAlgorithm(alg));
    }
    let attestation_key = leaf_key(&leaf)?;
    match attestation_key.verify(signed, &sig) {
        Ok(()) => Ok(AttestationType::Basic),
        Err(Fido2Error::BadSignature) => Err(Fido2Error::BadAttestationSignature),
        Err(e) => Err(e),
    }
}

/// The P-256 key of an attestation certificate.
fn leaf_key(der: &[u8]) -> Result<CredentialPublicKey, Fido2Error> {
    let cert = x509_cert::Certificate::from_der(der)
        .map_err(|e| Fido2Error::MalformedAttestationCertificate(format!("not X.509 DER: {e}")))?;
    let spki = cert
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .map_err(|e| Fido2Error::MalformedAttestationCertificate(e.to_string()))?;
    let key = p256::ecdsa::VerifyingKey::from_public_key_der(&spki).map_err(|_| {
        Fido2Error::MalformedAttestationCertificate(
            "the certificate's key is not a P-256 key".to_owned(),
        )
    })?;
    Ok(CredentialPublicKey::Es256(key))
}

fn malformed(detail: &str) -> Fido2Error {
    Fido2Error::MalformedAttestation(detail.to_owned())
}
