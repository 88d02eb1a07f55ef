//! Pending enrollments ("verify & save"), held in memory.
//!
//! TOTP: a secret is generated, shown once as an otpauth URI, and only saved after the app
//! has produced a valid code for it. FIDO2: a challenge is issued, and the credential is
//! saved only once the key's attestation over it verifies. Until then the enrollment lives
//! here, bound to the connection that began it, for at most [`ENROLL_TTL`] and
//! [`MAX_CONFIRM_TRIES`] wrong codes. A crash at any point before the single INSERT leaves
//! nothing behind.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use mfa_core::totp::TotpKey;
use mfa_proto::MfaError;

use crate::flows::random_id;

/// How long a pending enrollment waits for its confirmation code.
pub const ENROLL_TTL: Duration = Duration::from_secs(600);
/// Wrong confirmation codes allowed before the pending enrollment is discarded.
pub const MAX_CONFIRM_TRIES: u32 = 5;
/// Most enrollments pending at once.
pub const MAX_PENDING: usize = 256;

/// An enrollment waiting for its confirmation: `K` is what it will save (a TOTP key) or
/// check the confirmation against (a FIDO2 challenge).
#[derive(Debug)]
pub struct Pending<K> {
    /// Unique bus name of the connection that began it.
    pub owner: String,
    /// The account being enrolled.
    pub user: String,
    /// Token name.
    pub name: String,
    /// The new TOTP key (secret zeroized on drop), or the FIDO2 challenge.
    pub key: K,
    /// When it began.
    pub started: Instant,
    /// Wrong codes so far.
    pub tries: u32,
}

/// A FIDO2 enrollment's challenge and policy.
#[derive(Debug, Clone, Copy)]
pub struct Fido2Pending {
    /// The challenge the attestation must sign (its SHA-256).
    pub challenge: [u8; mfa_core::fido2::CHALLENGE_LEN],
    /// Whether logins with the credential will need user verification.
    pub require_uv: bool,
}

/// The table of pending enrollments.
#[derive(Debug)]
pub struct PendingTable<K = TotpKey> {
    pending: Mutex<HashMap<String, Pending<K>>>,
}

impl<K> Default for PendingTable<K> {
    fn default() -> Self {
        PendingTable {
            pending: Mutex::new(HashMap::new()),
        }
    }
}

fn unknown() -> MfaError {
    MfaError::UnknownEnrollment(
        "no such enrollment in progress for this connection (it expired, was confirmed or cancelled); start again".into(),
    )
}

impl<K> PendingTable<K> {
    /// Registers a pending enrollment and returns its id.
    pub fn start(&self, p: Pending<K>) -> Result<String, MfaError> {
        let id = random_id()?;
        let mut map = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, p| p.started.elapsed() < ENROLL_TTL);
        if map.len() >= MAX_PENDING {
            return Err(MfaError::Internal(
                "too many enrollments in progress; try again shortly".into(),
            ));
        }
        map.insert(id.clone(), p);
        Ok(id)
    }

    /// Removes and returns the pending enrollment `id` owned by `sender`.
    pub fn take(&self, id: &str, sender: &str) -> Result<Pending<K>, MfaError> {
        let mut map = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(id) {
            Some(p) if p.owner == sender && p.started.elapsed() < ENROLL_TTL => {}
            _ => return Err(unknown()),
        }
        map.remove(id).ok_or_else(unknown)
    }

    /// Puts back an enrollment unchanged (refused for a reason that is not its own, such as a
    /// missing step-up).
    pub fn restore(&self, id: String, p: Pending<K>) {
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, p);
    }

    /// Puts back an enrollment after a wrong code (if it has tries left). Returns the
    /// number of tries left.
    pub fn put_back(&self, id: String, mut p: Pending<K>) -> u32 {
        p.tries += 1;
        let left = MAX_CONFIRM_TRIES.saturating_sub(p.tries);
        if left > 0 {
            self.pending
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(id, p);
        }
        left
    }
}

/// Checks a token name: 1 to 64 printable characters, no surrounding space, not all digits
/// (ids are numbers, and `remove` takes either).
pub fn check_token_name(name: &str) -> Result<(), MfaError> {
    let bad = |why: &str| {
        Err(MfaError::InvalidArgument(format!(
            "token name {name:?}: {why}"
        )))
    };
    if name.is_empty() || name.chars().count() > 64 {
        return bad("must be 1 to 64 characters");
    }
    if name.chars().any(char::is_control) || name.trim() != name {
        return bad("must not contain control characters or start/end with a space");
    }
    if name.chars().all(|c| c.is_ascii_digit()) {
        return bad("must not be a number (numbers are token ids)");
    }
    Ok(())
}

/// Checks an issuer label for otpauth URIs.
pub fn check_issuer(issuer: &str) -> Result<(), MfaError> {
    if issuer.is_empty()
        || issuer.chars().count() > 64
        || issuer.contains(':')
        || issuer.chars().any(char::is_control)
    {
        return Err(MfaError::InvalidArgument(
            "issuer must be 1 to 64 characters, without ':' or control characters".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_names() {
        assert!(check_token_name("phone").is_ok());
        assert!(check_token_name("Aegis on Pixel 8").is_ok());
        for bad in ["", " x", "x ", "12", "a\nb", &"x".repeat(65)] {
            assert!(check_token_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn issuers() {
        assert!(check_issuer("pam_mfa@host").is_ok());
        assert!(check_issuer("a:b").is_err());
        assert!(check_issuer("").is_err());
    }
}
