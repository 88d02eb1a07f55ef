//! The software "security key": enrollment and signing in safe Rust, no C types.
//!
//! The key handle carries the private key itself (see the crate docs: test-only), bound to
//! the application it was enrolled for, as a real authenticator binds a credential to its
//! relying party: a handle presented for another application is refused.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

// One `signature::Signer` trait serves both p256 and ed25519-dalek.
use ed25519_dalek::Signer as _;
use sha2::{Digest, Sha256};

use crate::abi::{
    ALG_ECDSA, ALG_ED25519, ERR_GENERAL, ERR_UNSUPPORTED, FLAG_RESIDENT_KEY, FLAG_USER_PRESENCE,
    FLAG_USER_VERIFICATION,
};

/// Marks our key handles (and says what they are to anyone who finds one in a key file).
const HANDLE_MAGIC: &[u8; 16] = b"MFA-TEST-ONLY-SK";
/// Layout version of the key handle.
const HANDLE_VERSION: u8 = 1;
/// magic, version, algorithm, SHA-256 of the application, 32-byte secret.
const HANDLE_LEN: usize = HANDLE_MAGIC.len() + 2 + 32 + 32;

/// Why a request failed, as the `SSH_SK_ERR_*` code OpenSSH understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkError {
    /// Bad input (unknown key handle, wrong application, NULL pointer, …).
    General,
    /// A feature this software key does not have (resident keys, PIN, other algorithms).
    Unsupported,
}

impl SkError {
    /// The `SSH_SK_ERR_*` value.
    pub fn code(self) -> i32 {
        match self {
            SkError::General => ERR_GENERAL,
            SkError::Unsupported => ERR_UNSUPPORTED,
        }
    }
}

/// The two algorithms OpenSSH knows for security keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    /// ECDSA P-256 / SHA-256.
    Ecdsa,
    /// Ed25519.
    Ed25519,
}

impl Alg {
    /// From `SSH_SK_ECDSA` / `SSH_SK_ED25519`.
    pub fn from_code(code: u32) -> Result<Alg, SkError> {
        match code {
            ALG_ECDSA => Ok(Alg::Ecdsa),
            ALG_ED25519 => Ok(Alg::Ed25519),
            _ => Err(SkError::Unsupported),
        }
    }

    fn code(self) -> u8 {
        match self {
            Alg::Ecdsa => ALG_ECDSA as u8,
            Alg::Ed25519 => ALG_ED25519 as u8,
        }
    }
}

/// A new credential.
#[derive(Debug)]
pub struct Enrolled {
    /// The key's flags as enrolled.
    pub flags: u8,
    /// ECDSA: SEC1 uncompressed point; Ed25519: 32 bytes.
    pub public_key: Vec<u8>,
    /// The handle OpenSSH keeps in the private key file.
    pub key_handle: Vec<u8>,
}

/// A signature as the authenticator returns it.
#[derive(Debug)]
pub struct Signed {
    /// Asserted flags.
    pub flags: u8,
    /// Signature counter.
    pub counter: u32,
    /// ECDSA: `r` (32 bytes, big-endian); Ed25519: the 64-byte signature.
    pub sig_r: Vec<u8>,
    /// ECDSA: `s` (32 bytes, big-endian); Ed25519: none.
    pub sig_s: Option<Vec<u8>>,
}

/// Creates a credential for `application` with fresh random key material.
///
/// Resident keys and user verification need state or a PIN this software key does not
/// have: refused as unsupported, as a device without them would.
pub fn enroll(alg: Alg, application: &[u8], flags: u8) -> Result<Enrolled, SkError> {
    if flags & (FLAG_RESIDENT_KEY | FLAG_USER_VERIFICATION) != 0 {
        return Err(SkError::Unsupported);
    }
    // Rejection sampling for P-256 (a random 32-byte string is a valid scalar with
    // probability 1 - 2^-32); any 32 bytes are a valid Ed25519 secret.
    for _ in 0..16 {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).map_err(|_| SkError::General)?;
        let public_key = match public_key(alg, &secret) {
            Some(pk) => pk,
            None => continue,
        };
        return Ok(Enrolled {
            flags: flags & FLAG_USER_PRESENCE,
            public_key,
            key_handle: encode_handle(alg, application, &secret),
        });
    }
    Err(SkError::General)
}

/// Signs `data` for `application` with the credential in `key_handle`, as a FIDO
/// authenticator does for OpenSSH: over `SHA256(application) ‖ flags ‖ counter (BE32) ‖
/// SHA256(data)` (see [`signed_message`]). The touch is "given" at once when `flags` asks
/// for one.
pub fn sign(
    alg: Alg,
    data: &[u8],
    application: &[u8],
    key_handle: &[u8],
    flags: u8,
    counter: u32,
) -> Result<Signed, SkError> {
    if flags & FLAG_USER_VERIFICATION != 0 {
        return Err(SkError::Unsupported);
    }
    let secret = decode_handle(alg, application, key_handle)?;
    let asserted = flags & FLAG_USER_PRESENCE;
    let message = signed_message(application, asserted, counter, data);
    let (sig_r, sig_s) = match alg {
        Alg::Ecdsa => {
            let key = p256::ecdsa::SigningKey::from_slice(&secret).map_err(|_| SkError::General)?;
            // ECDSA with SHA-256 over the message, as the verifier computes it.
            let sig: p256::ecdsa::Signature = key.sign(&message);
            let (r, s) = sig.split_bytes();
            (r.to_vec(), Some(s.to_vec()))
        }
        Alg::Ed25519 => {
            let key = ed25519_dalek::SigningKey::from_bytes(&secret);
            (key.sign(&message).to_bytes().to_vec(), None)
        }
    };
    Ok(Signed {
        flags: asserted,
        counter,
        sig_r,
        sig_s,
    })
}

/// What the authenticator signs (FIDO's authenticator data, then the client data hash):
/// `SHA256(application) ‖ flags ‖ counter (big-endian u32) ‖ SHA256(data)`. OpenSSH's
/// verifier rebuilds exactly this from the signature's flags and counter.
pub fn signed_message(application: &[u8], flags: u8, counter: u32, data: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(32 + 1 + 4 + 32);
    m.extend_from_slice(&Sha256::digest(application));
    m.push(flags);
    m.extend_from_slice(&counter.to_be_bytes());
    m.extend_from_slice(&Sha256::digest(data));
    m
}

/// The next signature counter: it grows within a process and, being at least the current
/// Unix time in seconds, across the short-lived `ssh-sk-helper` processes that load us.
pub fn next_counter() -> u32 {
    static LAST: AtomicU32 = AtomicU32::new(0);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
        .unwrap_or(0);
    let update = LAST.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| {
        Some(last.saturating_add(1).max(now))
    });
    // fetch_update returns the previous value; the closure always returns Some.
    let last = update.unwrap_or_else(|v| v);
    last.saturating_add(1).max(now)
}

fn public_key(alg: Alg, secret: &[u8; 32]) -> Option<Vec<u8>> {
    match alg {
        Alg::Ecdsa => {
            let key = p256::ecdsa::SigningKey::from_slice(secret).ok()?;
            Some(key.verifying_key().to_sec1_point(false).as_bytes().to_vec())
        }
        Alg::Ed25519 => Some(
            ed25519_dalek::SigningKey::from_bytes(secret)
                .verifying_key()
                .to_bytes()
                .to_vec(),
        ),
    }
}

fn encode_handle(alg: Alg, application: &[u8], secret: &[u8; 32]) -> Vec<u8> {
    let mut h = Vec::with_capacity(HANDLE_LEN);
    h.extend_from_slice(HANDLE_MAGIC);
    h.push(HANDLE_VERSION);
    h.push(alg.code());
    h.extend_from_slice(&Sha256::digest(application));
    h.extend_from_slice(secret);
    h
}

fn decode_handle(alg: Alg, application: &[u8], handle: &[u8]) -> Result<[u8; 32], SkError> {
    if handle.len() != HANDLE_LEN || !handle.starts_with(HANDLE_MAGIC) {
        return Err(SkError::General);
    }
    let rest = &handle[HANDLE_MAGIC.len()..];
    if rest[0] != HANDLE_VERSION || rest[1] != alg.code() {
        return Err(SkError::General);
    }
    // A credential answers only for the application it was made for.
    if rest[2..34] != Sha256::digest(application)[..] {
        return Err(SkError::General);
    }
    let mut secret = [0u8; 32];
    secret.copy_from_slice(&rest[34..66]);
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::Verifier as _;

    const APP: &[u8] = b"ssh:";

    #[test]
    fn ecdsa_signature_verifies_over_the_openssh_message_layout() {
        let e = enroll(Alg::Ecdsa, APP, FLAG_USER_PRESENCE).expect("enroll");
        assert_eq!(e.flags, FLAG_USER_PRESENCE);
        assert_eq!(e.public_key.len(), 65);
        assert_eq!(e.public_key[0], 0x04, "uncompressed SEC1 point");
        let s = sign(
            Alg::Ecdsa,
            b"data",
            APP,
            &e.key_handle,
            FLAG_USER_PRESENCE,
            7,
        )
        .expect("sign");
        assert_eq!((s.flags, s.counter), (FLAG_USER_PRESENCE, 7));
        let sig_s = s.sig_s.expect("ECDSA has s");
        assert_eq!((s.sig_r.len(), sig_s.len()), (32, 32));
        let mut rs = s.sig_r.clone();
        rs.extend_from_slice(&sig_s);
        let sig = p256::ecdsa::Signature::from_slice(&rs).expect("r||s");
        let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(&e.public_key).expect("point");
        let msg = signed_message(APP, FLAG_USER_PRESENCE, 7, b"data");
        assert!(vk.verify(&msg, &sig).is_ok());
        // The layout is what OpenSSH rebuilds: 32 + 1 + 4 + 32 bytes, counter big-endian.
        assert_eq!(msg.len(), 69);
        assert_eq!(&msg[32..37], &[0x01, 0, 0, 0, 7]);
        assert_eq!(&msg[..32], &Sha256::digest(APP)[..]);
        assert_eq!(&msg[37..], &Sha256::digest(b"data")[..]);
        // Another message, or other flags, does not verify.
        let other = signed_message(APP, 0, 7, b"data");
        assert!(vk.verify(&other, &sig).is_err());
    }

    #[test]
    fn ed25519_signature_verifies_and_has_no_s() {
        let e = enroll(Alg::Ed25519, APP, FLAG_USER_PRESENCE).expect("enroll");
        assert_eq!(e.public_key.len(), 32);
        let s = sign(
            Alg::Ed25519,
            b"m",
            APP,
            &e.key_handle,
            FLAG_USER_PRESENCE,
            9,
        )
        .expect("sign");
        assert!(s.sig_s.is_none());
        let vk = ed25519_dalek::VerifyingKey::from_bytes(
            &e.public_key.as_slice().try_into().expect("32 bytes"),
        )
        .expect("key");
        let sig = ed25519_dalek::Signature::from_slice(&s.sig_r).expect("64 bytes");
        assert!(
            vk.verify_strict(&signed_message(APP, FLAG_USER_PRESENCE, 9, b"m"), &sig)
                .is_ok()
        );
    }

    #[test]
    fn a_handle_works_only_for_its_application_and_algorithm() {
        let e = enroll(Alg::Ecdsa, APP, FLAG_USER_PRESENCE).expect("enroll");
        let other_app = sign(Alg::Ecdsa, b"d", b"ssh:other", &e.key_handle, 1, 1);
        assert_eq!(other_app.err(), Some(SkError::General));
        let other_alg = sign(Alg::Ed25519, b"d", APP, &e.key_handle, 1, 1);
        assert_eq!(other_alg.err(), Some(SkError::General));
        let mut bad = e.key_handle.clone();
        bad[0] ^= 1;
        assert_eq!(
            sign(Alg::Ecdsa, b"d", APP, &bad, 1, 1).err(),
            Some(SkError::General)
        );
        assert_eq!(
            sign(Alg::Ecdsa, b"d", APP, &e.key_handle[..10], 1, 1).err(),
            Some(SkError::General)
        );
    }

    #[test]
    fn two_enrollments_give_different_keys() {
        let a = enroll(Alg::Ecdsa, APP, FLAG_USER_PRESENCE).expect("enroll");
        let b = enroll(Alg::Ecdsa, APP, FLAG_USER_PRESENCE).expect("enroll");
        assert_ne!(a.public_key, b.public_key);
    }

    #[test]
    fn resident_keys_and_user_verification_are_unsupported() {
        for flags in [FLAG_RESIDENT_KEY | 1, FLAG_USER_VERIFICATION | 1] {
            assert_eq!(
                enroll(Alg::Ecdsa, APP, flags).err(),
                Some(SkError::Unsupported)
            );
        }
        assert_eq!(Alg::from_code(7), Err(SkError::Unsupported));
    }

    #[test]
    fn no_touch_required_keys_sign_without_the_presence_flag() {
        let e = enroll(Alg::Ecdsa, APP, 0).expect("enroll");
        assert_eq!(e.flags, 0);
        let s = sign(Alg::Ecdsa, b"d", APP, &e.key_handle, 0, 1).expect("sign");
        assert_eq!(s.flags, 0);
    }

    #[test]
    fn the_counter_grows_and_is_not_behind_the_clock() {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_secs() as u32;
        let a = next_counter();
        let b = next_counter();
        assert!(b > a, "{a} then {b}");
        assert!(a >= now);
    }
}
