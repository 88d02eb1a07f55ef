//! Assertion (login) verification.

use super::authdata::{AuthenticatorData, Flags};
use super::cose::CredentialPublicKey;
use super::{Fido2Error, client_data_hash, rp_id_hash};

/// A registered credential as the daemon keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCredential {
    credential_id: Vec<u8>,
    public_key: CredentialPublicKey,
    sign_count: u32,
}

impl StoredCredential {
    /// Rebuilds a credential from its stored form: the credential ID, the COSE_Key bytes
    /// kept at registration ([`super::Registration::public_key_cose`]) and the last
    /// accepted counter. A stored key that no longer decodes is refused, never skipped.
    pub fn new(
        credential_id: Vec<u8>,
        public_key_cose: &[u8],
        sign_count: u32,
    ) -> Result<Self, Fido2Error> {
        Ok(StoredCredential {
            credential_id,
            public_key: CredentialPublicKey::from_cose(public_key_cose)?,
            sign_count,
        })
    }

    /// A credential from a key decoded moments ago (registration).
    pub(super) fn from_parts(
        credential_id: Vec<u8>,
        public_key: CredentialPublicKey,
        sign_count: u32,
    ) -> Self {
        StoredCredential {
            credential_id,
            public_key,
            sign_count,
        }
    }

    /// The credential ID.
    pub fn credential_id(&self) -> &[u8] {
        &self.credential_id
    }

    /// The public key.
    pub fn public_key(&self) -> &CredentialPublicKey {
        &self.public_key
    }

    /// The counter of the last accepted assertion (or of the registration).
    pub fn sign_count(&self) -> u32 {
        self.sign_count
    }
}

/// What the daemon expects of one login (or registration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected<'a> {
    /// This host's RP ID, e.g. `pam_mfa://host` ([`super::host_rp_id`]).
    pub rp_id: &'a str,
    /// The client data hash the key must have signed: [`client_data_hash`] of the challenge.
    pub client_data_hash: [u8; 32],
    /// Whether UV (PIN or biometric) is required, per the credential's policy.
    pub require_uv: bool,
}

impl<'a> Expected<'a> {
    /// Expectations for a challenge the daemon issued (hashed as the module docs say).
    pub fn for_challenge(rp_id: &'a str, challenge: &[u8], require_uv: bool) -> Self {
        Expected {
            rp_id,
            client_data_hash: client_data_hash(challenge),
            require_uv,
        }
    }
}

/// A verified assertion: the daemon stores `new_counter` for the credential.
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    /// The signature counter to store for the credential.
    pub new_counter: u32,
    /// The signed flags (UP is set; UV too when it was required).
    pub flags: Flags,
}

/// The credential among `allowed` whose ID the authenticator returned, or
/// [`Fido2Error::UnknownCredential`].
pub fn select_credential<'c>(
    allowed: &'c [StoredCredential],
    credential_id: &[u8],
) -> Result<&'c StoredCredential, Fido2Error> {
    allowed
        .iter()
        .find(|c| c.credential_id == credential_id)
        .ok_or(Fido2Error::UnknownCredential)
}

/// Verifies an assertion (`authenticatorData`, `signature`) made with `stored`.
///
/// In this order, so that every refusal after the first step is about data the key really
/// signed (an audit line never blames a genuine key for bytes someone else made up):
/// 1. the authenticator data parses ([`AuthenticatorData::parse`]);
/// 2. the signature over `authenticatorData ‖ clientDataHash` verifies with the stored key
///    (a different challenge or credential fails here);
/// 3. the signed `rpIdHash` is SHA-256 of `expected.rp_id`;
/// 4. UP is set, and UV when `expected.require_uv`;
/// 5. the counter: when the stored or the received counter is non-zero, the received one
///    must be strictly greater, else [`Fido2Error::CounterRegression`] (a cloned key: deny
///    and log it). Both zero is fine: that authenticator keeps no counter.
///
/// Single use and expiry of the challenge are the caller's, checked before this.
pub fn verify_assertion(
    stored: &StoredCredential,
    expected: &Expected<'_>,
    authenticator_data: &[u8],
    signature: &[u8],
) -> Result<Verified, Fido2Error> {
    let data = AuthenticatorData::parse(authenticator_data)?;

    let mut signed = Vec::with_capacity(authenticator_data.len() + 32);
    signed.extend_from_slice(authenticator_data);
    signed.extend_from_slice(&expected.client_data_hash);
    stored.public_key.verify(&signed, signature)?;

    // Public values: no need for a constant-time comparison.
    if data.rp_id_hash != rp_id_hash(expected.rp_id) {
        return Err(Fido2Error::WrongRelyingParty {
            rp_id: expected.rp_id.to_owned(),
        });
    }
    check_user_flags(data.flags, expected.require_uv)?;

    let (stored_count, received) = (stored.sign_count, data.sign_count);
    if (stored_count != 0 || received != 0) && received <= stored_count {
        return Err(Fido2Error::CounterRegression {
            stored: stored_count,
            received,
        });
    }
    Ok(Verified {
        new_counter: received,
        flags: data.flags,
    })
}

/// UP always; UV when required. Shared with registration.
pub(super) fn check_user_flags(flags: Flags, require_uv: bool) -> Result<(), Fido2Error> {
    if !flags.user_present() {
        return Err(Fido2Error::UserNotPresent);
    }
    if require_uv && !flags.user_verified() {
        return Err(Fido2Error::UserNotVerified);
    }
    Ok(())
}
