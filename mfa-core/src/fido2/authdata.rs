//! Authenticator data (WebAuthn §6.1): the bytes the authenticator signs.

use super::cbor;
use super::cose::CredentialPublicKey;
use super::{Fido2Error, MAX_CREDENTIAL_ID_LEN};

/// Length of the fixed part: rpIdHash (32) ‖ flags (1) ‖ signCount (4).
const FIXED_LEN: usize = 37;
/// Length of the AAGUID at the start of attested credential data.
const AAGUID_LEN: usize = 16;

/// The flags byte of authenticator data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Flags(u8);

impl Flags {
    /// UP: the user was present (touched the key).
    pub const USER_PRESENT: u8 = 0x01;
    /// UV: the user was verified (PIN or biometric).
    pub const USER_VERIFIED: u8 = 0x04;
    /// BE: the credential may be backed up (synced passkey).
    pub const BACKUP_ELIGIBLE: u8 = 0x08;
    /// BS: the credential is backed up.
    pub const BACKED_UP: u8 = 0x10;
    /// AT: attested credential data follows.
    pub const ATTESTED_CREDENTIAL: u8 = 0x40;
    /// ED: an extensions map follows.
    pub const EXTENSION_DATA: u8 = 0x80;

    /// The flags of a raw byte.
    pub const fn from_bits(bits: u8) -> Self {
        Flags(bits)
    }

    /// The raw byte.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// UP is set.
    pub const fn user_present(self) -> bool {
        self.0 & Self::USER_PRESENT != 0
    }

    /// UV is set.
    pub const fn user_verified(self) -> bool {
        self.0 & Self::USER_VERIFIED != 0
    }

    /// BE is set.
    pub const fn backup_eligible(self) -> bool {
        self.0 & Self::BACKUP_ELIGIBLE != 0
    }

    /// BS is set.
    pub const fn backed_up(self) -> bool {
        self.0 & Self::BACKED_UP != 0
    }

    /// AT is set.
    pub const fn attested_credential(self) -> bool {
        self.0 & Self::ATTESTED_CREDENTIAL != 0
    }

    /// ED is set.
    pub const fn extension_data(self) -> bool {
        self.0 & Self::EXTENSION_DATA != 0
    }
}

/// The credential part of authenticator data, present after registration (AT flag).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestedCredentialData {
    /// The authenticator model's AAGUID (all zero when the key hides it).
    pub aaguid: [u8; 16],
    /// The credential ID (1 to [`MAX_CREDENTIAL_ID_LEN`] bytes).
    pub credential_id: Vec<u8>,
    /// The decoded public key.
    pub public_key: CredentialPublicKey,
    /// The public key exactly as the authenticator encoded it (COSE_Key), for storage.
    pub public_key_cose: Vec<u8>,
}

/// Parsed authenticator data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticatorData {
    /// SHA-256 of the RP ID the authenticator used.
    pub rp_id_hash: [u8; 32],
    /// The flags.
    pub flags: Flags,
    /// The signature counter (0 for authenticators without one).
    pub sign_count: u32,
    /// The credential, when AT is set.
    pub attested_credential: Option<AttestedCredentialData>,
    /// The extensions map (raw CBOR), when ED is set. Not interpreted: we request none.
    pub extensions: Option<Vec<u8>>,
}

impl AuthenticatorData {
    /// Parses authenticator data, strictly.
    ///
    /// Refused: fewer than 37 bytes; AT set without a complete credential (or a credential
    /// without AT); a credential ID empty or over [`MAX_CREDENTIAL_ID_LEN`]; a public key
    /// that is not a supported COSE_Key; ED set without a CBOR map (or a map without ED);
    /// BS set without BE; any byte left over.
    pub fn parse(bytes: &[u8]) -> Result<Self, Fido2Error> {
        let Some((fixed, mut rest)) = bytes.split_first_chunk::<FIXED_LEN>() else {
            return Err(malformed(format!(
                "{} bytes, shorter than the 37-byte minimum",
                bytes.len()
            )));
        };
        let mut rp_id_hash = [0u8; 32];
        rp_id_hash.copy_from_slice(&fixed[..32]);
        let flags = Flags(fixed[32]);
        let sign_count = u32::from_be_bytes([fixed[33], fixed[34], fixed[35], fixed[36]]);
        if flags.backed_up() && !flags.backup_eligible() {
            // WebAuthn §6.1: BS may only be set when BE is.
            return Err(malformed(
                "backed up (BS) without backup eligible (BE)".to_owned(),
            ));
        }

        let attested_credential = if flags.attested_credential() {
            let (credential, after) = parse_attested(rest)?;
            rest = after;
            Some(credential)
        } else {
            None
        };

        let extensions = if flags.extension_data() {
            let (value, after) = cbor::decode_prefix(rest)
                .map_err(|e| malformed(format!("extensions (ED flag): {e}")))?;
            if !matches!(value, ciborium::value::Value::Map(_)) {
                return Err(malformed(
                    "extensions (ED flag) are not a CBOR map".to_owned(),
                ));
            }
            let used = rest.len() - after.len();
            let raw = rest[..used].to_vec();
            rest = after;
            Some(raw)
        } else {
            None
        };

        if !rest.is_empty() {
            return Err(malformed(format!(
                "{} unexpected byte(s) at the end{}",
                rest.len(),
                if flags.attested_credential() || flags.extension_data() {
                    ""
                } else {
                    " (AT and ED flags are not set)"
                }
            )));
        }
        Ok(AuthenticatorData {
            rp_id_hash,
            flags,
            sign_count,
            attested_credential,
            extensions,
        })
    }
}

fn parse_attested(bytes: &[u8]) -> Result<(AttestedCredentialData, &[u8]), Fido2Error> {
    let Some((aaguid, rest)) = bytes.split_first_chunk::<AAGUID_LEN>() else {
        return Err(malformed(
            "AT flag set but attested credential data is missing or cut short".to_owned(),
        ));
    };
    let Some((len, rest)) = rest.split_first_chunk::<2>() else {
        return Err(malformed("credential ID length is missing".to_owned()));
    };
    let id_len = usize::from(u16::from_be_bytes(*len));
    if id_len == 0 || id_len > MAX_CREDENTIAL_ID_LEN {
        return Err(malformed(format!(
            "credential ID length {id_len} is outside 1..={MAX_CREDENTIAL_ID_LEN}"
        )));
    }
    if rest.len() < id_len {
        return Err(malformed(format!(
            "credential ID of {id_len} bytes is cut short ({} left)",
            rest.len()
        )));
    }
    let (credential_id, rest) = rest.split_at(id_len);
    let (public_key, used) = CredentialPublicKey::from_cose_prefix(rest)?;
    Ok((
        AttestedCredentialData {
            aaguid: *aaguid,
            credential_id: credential_id.to_vec(),
            public_key,
            public_key_cose: rest[..used].to_vec(),
        },
        &rest[used..],
    ))
}

fn malformed(detail: String) -> Fido2Error {
    Fido2Error::MalformedAuthenticatorData(detail)
}
