//! The client side of FIDO2 in pam_mfa: run make_credential (enrollment, `mfactl`) and
//! get_assertion (login, the PAM module) on a security key, and return the authenticator's
//! bytes untouched for `mfad` to verify (`mfa_core::fido2`). Nothing here decides anything.
//!
//! # Authenticators
//!
//! - [`HidAuthenticator`] (feature `hid`, on by default): a real key over USB HID through
//!   ctap-hid-fido2. Its keep-alive message is off (nothing is printed by us), every call is
//!   inside `catch_unwind` (the library panics instead of returning errors), and its errors
//!   become a typed [`ClientError`].
//! - `SoftAuthenticator` (feature `soft`, **off** by default, TEST ONLY): the software key
//!   of `mfa-softkey`, reading a key file. Release builds never enable it.
//!
//! Both compute `clientDataHash = SHA-256(challenge)` (ctap-hid-fido2 does it for the HID
//! key), the convention `mfa_core::fido2` documents, so the daemon only ever sends the
//! challenge.
//!
//! # Keeping the software authenticator out of releases (how phase 2 wires it)
//!
//! - `pam_mfa` gets its own feature, off by default, `soft-fido2 = ["mfa-fido-client/soft"]`,
//!   and gates on **its own** feature (`#[cfg(feature = "soft-fido2")]`), never on this
//!   crate's: Cargo unifies features, so `mfa-fido-client/soft` may be on in a workspace
//!   test build without pam_mfa having asked for it. Under that feature only: the module
//!   argument `fido2_soft_key=PATH`; without it the argument is unknown, so the module
//!   refuses to run (fail closed).
//! - `mfactl` likewise: `soft-fido2 = ["mfa-fido-client/soft"]` and a hidden option
//!   (`--fido2-soft-key PATH`, `hide = true`) compiled only under it.
//! - The test harness builds the module for the FIDO2 tests with `--features soft-fido2`;
//!   `make install` and the `release-small` build (`cargo build -p pam_mfa --profile
//!   release-small`) pass no features.
//! - The release check searches the release `.so` for `mfa_softkey::MARKER` (the key file's
//!   `format` string, compiled into every binary able to read a key file) and must not
//!   find it; as a control, the test build with the feature must contain it.
//!
//! # Timeouts and threads
//!
//! ctap-hid-fido2 3.6 offers no timeout: `hidapi::HidDevice::read` blocks, and the library
//! waits for the key's answer through up to 500 keep-alive packets (≥ 100 ms apart, so at
//! least 50 s). What bounds a call in practice is the key itself: CTAP2 keys give up waiting
//! for a touch after about 30 s and answer `CTAP2_ERR_USER_ACTION_TIMEOUT`
//! ([`ClientError::Timeout`]); a key pulled out ends the read with an error. Only a key that
//! stops answering altogether could hold a call longer. See [`HidAuthenticator`] for the two
//! ways to run calls, with and without a helper thread. The PAM module adds a hard deadline
//! of its own without either: it runs each call in a forked child that it kills at
//! `fido2_timeout=` (`pam_mfa/src/fork_key.rs`).
//!
//! # Output the library may still produce
//!
//! With its log and keep-alive message off, ctap-hid-fido2 3.6.1 still has a few unguarded
//! `println!`s for response members it does not know ("Anything Extension!", "- anything
//! error", "parse_cbor_member - unknown info …"), reachable with unusual keys, and a
//! caught panic still goes through Rust's panic hook, which writes to stderr. Neither
//! carries secrets; a caller whose stdout/stderr is a user's terminal (the module under
//! sudo or su) may want a quiet panic hook, which is process-wide and so its decision.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod error;
#[cfg(feature = "hid")]
mod hid;
#[cfg(feature = "soft")]
mod soft;

pub use error::ClientError;
#[cfg(feature = "hid")]
pub use hid::HidAuthenticator;
#[cfg(feature = "soft")]
pub use soft::SoftAuthenticator;

use zeroize::Zeroizing;

/// A credential algorithm to ask the key for (COSE identifiers -7 and -8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// ECDSA P-256 with SHA-256 (COSE -7): every FIDO2 key has it.
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

/// What enrollment asks of the key.
#[derive(Debug, Clone)]
pub struct MakeCredentialRequest {
    /// This host's RP ID (`pam_mfa://HOSTNAME`).
    pub rp_id: String,
    /// The challenge from `mfad` (hashed with SHA-256 into the client data hash).
    pub challenge: Vec<u8>,
    /// Algorithms in order of preference; empty means ES256 only.
    pub algorithms: Vec<Algorithm>,
    /// The user's existing credential IDs: a key holding one refuses
    /// ([`ClientError::CredentialExcluded`]) instead of enrolling twice.
    pub exclude_credentials: Vec<Vec<u8>>,
    /// The key's PIN, when the user gave one (then the key reports UV).
    pub pin: Option<Zeroizing<String>>,
    /// Ask for user verification (built-in UV when no PIN is given).
    pub require_uv: bool,
}

/// What a login asks of the key.
#[derive(Debug, Clone)]
pub struct GetAssertionRequest {
    /// This host's RP ID.
    pub rp_id: String,
    /// The fresh challenge from `mfad`.
    pub challenge: Vec<u8>,
    /// The user's credential IDs (allow list); the key signs with one it holds.
    pub allow_credentials: Vec<Vec<u8>>,
    /// The key's PIN, when required and given.
    pub pin: Option<Zeroizing<String>>,
    /// Ask for user verification (built-in UV when no PIN is given).
    pub require_uv: bool,
}

/// The key's answer to make_credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MakeCredentialResponse {
    /// The attestation object (CBOR map `fmt`, `attStmt`, `authData`), for
    /// `mfa_core::fido2::verify_registration`.
    pub attestation_object: Vec<u8>,
}

/// The key's answer to get_assertion, for `mfa_core::fido2::verify_assertion`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetAssertionResponse {
    /// The credential the key used.
    pub credential_id: Vec<u8>,
    /// The authenticator data it signed.
    pub auth_data: Vec<u8>,
    /// The signature over `auth_data ‖ SHA-256(challenge)`.
    pub signature: Vec<u8>,
}

/// A FIDO2 authenticator: a hardware key, or the test-only software key.
pub trait Authenticator {
    /// Creates a credential (enrollment). The user touches the key.
    fn make_credential(
        &self,
        request: &MakeCredentialRequest,
    ) -> Result<MakeCredentialResponse, ClientError>;

    /// Signs a login challenge with one of the allowed credentials. The user touches the key.
    fn get_assertion(
        &self,
        request: &GetAssertionRequest,
    ) -> Result<GetAssertionResponse, ClientError>;
}

/// Checks what every authenticator needs before talking to a key.
#[cfg(any(feature = "hid", feature = "soft"))]
fn check_request(rp_id: &str, challenge: &[u8]) -> Result<(), ClientError> {
    if rp_id.is_empty() {
        return Err(ClientError::InvalidRequest("empty RP ID".into()));
    }
    if challenge.is_empty() {
        return Err(ClientError::InvalidRequest("empty challenge".into()));
    }
    Ok(())
}
