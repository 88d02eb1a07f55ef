//! Why a FIDO2 registration or assertion was refused.

use thiserror::Error;

/// Why a FIDO2 registration or assertion was refused.
///
/// Every variant is a denial: no error path yields a verified result. The messages name
/// what was refused and what an administrator can do; [`Fido2Error::reason`] gives a stable
/// short code for audit records.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum Fido2Error {
    /// The authenticator data is not valid CTAP2 authenticator data.
    #[error("malformed authenticator data from the security key: {0}")]
    MalformedAuthenticatorData(String),
    /// The credential public key (COSE_Key) is not one we can use.
    #[error("malformed credential public key (COSE_Key): {0}")]
    MalformedPublicKey(String),
    /// The credential uses a signature algorithm we do not support.
    #[error(
        "unsupported credential algorithm (COSE alg {0}): only ES256 (-7) and EdDSA (-8) \
         are accepted; enroll the key again with one of them"
    )]
    UnsupportedAlgorithm(i64),
    /// The signature bytes cannot be decoded for the credential's algorithm.
    #[error("malformed signature from the security key: {0}")]
    MalformedSignature(String),
    /// The signature does not verify with the stored public key.
    #[error(
        "the security key's signature does not verify with the registered public key \
         (another key, a different challenge, or altered data)"
    )]
    BadSignature,
    /// The signed RP ID hash is not SHA-256 of the expected RP ID.
    #[error(
        "the security key answered for another relying party, not {rp_id:?}: the credential \
         was registered for a different RP ID (was the host renamed?); enroll it again"
    )]
    WrongRelyingParty {
        /// The RP ID this host expected.
        rp_id: String,
    },
    /// The UP flag is not set in the signed authenticator data.
    #[error("user presence (UP) is not set: the security key was not touched")]
    UserNotPresent,
    /// The credential requires user verification and the UV flag is not set.
    #[error(
        "user verification (PIN or biometric) is required for this credential, but the \
         security key did not perform it"
    )]
    UserNotVerified,
    /// The signature counter did not grow although counters are in use: a cloned key.
    #[error(
        "signature counter went from {stored} to {received} instead of increasing: the \
         security key may have been cloned; check it and remove the credential \
         (mfactl remove) if in doubt"
    )]
    CounterRegression {
        /// The counter stored after the last accepted use.
        stored: u32,
        /// The counter in this assertion.
        received: u32,
    },
    /// The credential ID returned is not one of the user's registered credentials.
    #[error("the security key used a credential that is not registered for this user")]
    UnknownCredential,
    /// The attestation object is not valid CBOR of the expected shape.
    #[error("malformed attestation object from the security key: {0}")]
    MalformedAttestation(String),
    /// An attestation format other than `none` and `packed`.
    #[error("unsupported attestation format {0:?}: only \"none\" and \"packed\" are accepted")]
    UnsupportedAttestationFormat(String),
    /// A `packed` statement with a certificate uses an algorithm other than ES256.
    #[error("unsupported attestation signature algorithm (COSE alg {0}) with a certificate")]
    UnsupportedAttestationAlgorithm(i64),
    /// The attestation certificate (leaf of `x5c`) cannot be used.
    #[error("malformed attestation certificate: {0}")]
    MalformedAttestationCertificate(String),
    /// The attestation signature does not verify.
    #[error("the attestation signature does not verify: the registration was altered")]
    BadAttestationSignature,
    /// A registration without attested credential data (AT flag).
    #[error("the registration carries no credential (AT flag not set in authenticator data)")]
    MissingAttestedCredential,
}

impl Fido2Error {
    /// A stable short code for audit records and logs (never changes meaning).
    pub fn reason(&self) -> &'static str {
        match self {
            Fido2Error::MalformedAuthenticatorData(_) => "fido2-malformed-authdata",
            Fido2Error::MalformedPublicKey(_) => "fido2-malformed-public-key",
            Fido2Error::UnsupportedAlgorithm(_) => "fido2-unsupported-algorithm",
            Fido2Error::MalformedSignature(_) => "fido2-malformed-signature",
            Fido2Error::BadSignature => "fido2-bad-signature",
            Fido2Error::WrongRelyingParty { .. } => "fido2-wrong-rp",
            Fido2Error::UserNotPresent => "fido2-user-not-present",
            Fido2Error::UserNotVerified => "fido2-user-not-verified",
            Fido2Error::CounterRegression { .. } => "fido2-counter-regression",
            Fido2Error::UnknownCredential => "fido2-unknown-credential",
            Fido2Error::MalformedAttestation(_) => "fido2-malformed-attestation",
            Fido2Error::UnsupportedAttestationFormat(_) => "fido2-unsupported-attestation",
            Fido2Error::UnsupportedAttestationAlgorithm(_) => {
                "fido2-unsupported-attestation-algorithm"
            }
            Fido2Error::MalformedAttestationCertificate(_) => "fido2-malformed-attestation-cert",
            Fido2Error::BadAttestationSignature => "fido2-bad-attestation-signature",
            Fido2Error::MissingAttestedCredential => "fido2-missing-credential",
        }
    }
}
