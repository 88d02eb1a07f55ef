//! **TEST-ONLY** software FIDO2 authenticator for pam_mfa's tests. Never shipped.
//!
//! It produces genuine CTAP2 output with real keys (P-256 or Ed25519): authenticator data
//! `SHA-256(rpId) ‖ flags ‖ signCount ‖ [attested credential data]`, signatures over
//! `authenticatorData ‖ clientDataHash` (DER ECDSA or raw Ed25519), COSE_Key public keys
//! and attestation objects in canonical CBOR (`packed` self-attestation or `none`). So the
//! daemon's verifier accepts it exactly as it accepts a hardware key, and libfido2 and
//! python-fido2 verify it too (tests/tests/fido2_crosscheck.rs).
//!
//! The "device" is a JSON key file ([`SoftKey`]): its credentials (private keys in clear:
//! test keys only) and a [`Behaviour`] that tests set to play a faulty or hostile key:
//! no touch (UP=0), no user verification, a counter that stalls or goes back (a clone), a
//! key that takes its time to answer (`stall_ms`).
//! Every operation runs under an exclusive lock on `PATH.lock` and rewrites the file by
//! atomic rename, so parallel logins see consistent counters.
//!
//! How it must stay out of release builds: only `mfa-fido-client`'s optional `soft`
//! feature depends on this crate, and no shipped build enables it. Every binary that can
//! read a key file contains [`MARKER`] (the key file's `format` value), so a test can prove
//! the release module does not contain this code by searching it for that string.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod ctap;
mod error;
mod file;

#[cfg(test)]
mod tests;

pub use error::SoftKeyError;
pub use file::{AttestationFormat, Behaviour, CredentialInfo, SoftKey};

/// The key file's `format` value, checked on every load. Its presence in a binary means the
/// software authenticator is compiled in: release builds must not contain it.
pub const MARKER: &str = "mfa-softkey/TEST-ONLY-software-authenticator/v1";

/// A credential algorithm the software key can create.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    /// ECDSA P-256 with SHA-256 (COSE -7).
    Es256,
    /// Ed25519 (COSE -8).
    EdDsa,
}

impl Algorithm {
    /// The COSE algorithm identifier.
    pub const fn cose_id(self) -> i64 {
        match self {
            Algorithm::Es256 => -7,
            Algorithm::EdDsa => -8,
        }
    }
}

/// A make_credential request (CTAP2 authenticatorMakeCredential, the parts we use).
#[derive(Debug, Clone, Copy)]
pub struct MakeCredentialRequest<'a> {
    /// The relying-party ID.
    pub rp_id: &'a str,
    /// The 32-byte client data hash to sign (SHA-256 of the challenge in pam_mfa).
    pub client_data_hash: &'a [u8; 32],
    /// Acceptable algorithms in order of preference (CTAP2 pubKeyCredParams); empty means
    /// ES256, as ctap-hid-fido2 does.
    pub algorithms: &'a [Algorithm],
    /// Credentials that must not be created again (CTAP2 excludeList).
    pub exclude_list: &'a [Vec<u8>],
    /// The PIN the user typed, if any.
    pub pin: Option<&'a str>,
    /// Whether user verification was requested.
    pub require_uv: bool,
}

/// A get_assertion request (CTAP2 authenticatorGetAssertion, the parts we use).
#[derive(Debug, Clone, Copy)]
pub struct GetAssertionRequest<'a> {
    /// The relying-party ID.
    pub rp_id: &'a str,
    /// The 32-byte client data hash to sign.
    pub client_data_hash: &'a [u8; 32],
    /// Acceptable credential IDs (CTAP2 allowList); empty means any credential of `rp_id`.
    pub allow_list: &'a [Vec<u8>],
    /// The PIN the user typed, if any.
    pub pin: Option<&'a str>,
    /// Whether user verification was requested.
    pub require_uv: bool,
}

/// A get_assertion response (CTAP2 members 1, 2 and 3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assertion {
    /// The credential used.
    pub credential_id: Vec<u8>,
    /// The authenticator data that was signed.
    pub auth_data: Vec<u8>,
    /// The signature over `auth_data ‖ client_data_hash`.
    pub signature: Vec<u8>,
}
