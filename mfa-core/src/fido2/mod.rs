//! FIDO2 (CTAP2) server-side verification: registration and assertion checks, pure.
//!
//! The daemon issues the challenge and keeps the credentials; this module decides whether
//! what an authenticator returned is acceptable. It does no I/O, reads no clock and draws
//! no randomness: challenge issuance, single use and expiry stay with the caller.
//!
//! What is checked, and why it is done here rather than by ctap-hid-fido2's helpers (which
//! check neither the flags nor the counter, and take the RP ID hash from an unsigned field):
//!
//! - `rpIdHash` is read from the **signed** authenticator data and compared with
//!   SHA-256 of the expected RP ID ([`rp_id_hash`]);
//! - UP (user present) must be set, UV (user verified) too when the credential requires it,
//!   both from the signed flags;
//! - the signature covers `authenticatorData ‖ clientDataHash`, with ES256 (DER-encoded
//!   ECDSA P-256/SHA-256, as CTAP2 returns it) or EdDSA (64-byte raw Ed25519, verified
//!   strictly);
//! - the signature counter must grow whenever it is in use (see [`verify_assertion`]).
//!
//! # Client data hash
//!
//! CTAP2 signs a 32-byte `clientDataHash`. WebAuthn clients hash a clientDataJSON; here
//! there is no browser and no origin, and ctap-hid-fido2 computes `SHA-256(challenge)`
//! itself before talking to the key. So the daemon issues a random [`CHALLENGE_LEN`]-byte
//! challenge and the client data hash is [`client_data_hash`]`(challenge)`: the same value
//! the hardware path sends to the key, and the one the software authenticator signs.
//!
//! # Storage encoding
//!
//! A credential's public key is stored as the authenticator's own COSE_Key bytes
//! ([`Registration::public_key_cose`]), decoded again with the same strict checks when it is
//! loaded ([`StoredCredential::new`]). COSE_Key is what WebAuthn servers and libfido2 keep,
//! it carries its algorithm, it stays correct for algorithms added later, and it needs no
//! second encoding of our own that could drift from the one that was verified.
//!
//! # Attestation
//!
//! `none` and `packed` attestation are accepted. A `packed` statement's signature is
//! verified (with the credential key for self-attestation, with the leaf certificate's key
//! when an `x5c` chain is present), which proves the statement is consistent. Whether the
//! certificate chains to a trusted vendor CA is **not** checked: trust in attestation CAs
//! (FIDO metadata service) is out of scope, so attestation never makes a key more trusted
//! than "the user touched it during enrollment".

mod assertion;
mod authdata;
mod cbor;
mod cose;
mod error;
mod registration;

#[cfg(test)]
mod tests;

pub use assertion::{Expected, StoredCredential, Verified, select_credential, verify_assertion};
pub use authdata::{AttestedCredentialData, AuthenticatorData, Flags};
pub use cose::{CoseAlgorithm, CredentialPublicKey};
pub use error::Fido2Error;
pub use registration::{AttestationType, Registration, verify_registration};

use sha2::{Digest, Sha256};

/// Length of the challenges the daemon issues: 256 bits from the OS RNG, well above the
/// 64 bits NIST SP 800-63B asks for and the 128 bits of the issue.
pub const CHALLENGE_LEN: usize = 32;

/// Longest credential ID accepted (WebAuthn Level 3: at most 1023 bytes).
pub const MAX_CREDENTIAL_ID_LEN: usize = 1023;

/// `SHA-256(rp_id)`: the `rpIdHash` an authenticator puts in its authenticator data.
pub fn rp_id_hash(rp_id: &str) -> [u8; 32] {
    Sha256::digest(rp_id.as_bytes()).into()
}

/// `SHA-256(challenge)`: the client data hash signed by the key (see the module docs).
pub fn client_data_hash(challenge: &[u8]) -> [u8; 32] {
    Sha256::digest(challenge).into()
}

/// The relying-party ID for a host, `pam_mfa://HOSTNAME`: scoped to one machine, so a
/// credential enrolled here is useless for another host (or a website) and vice versa.
pub fn host_rp_id(hostname: &str) -> String {
    format!("pam_mfa://{hostname}")
}
