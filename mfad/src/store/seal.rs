//! Secrets at rest: TOTP secrets are sealed with XChaCha20-Poly1305 under a 256-bit key kept
//! in its own root-only file, so a copy of the database (or of a backup of it) reveals no
//! secret without that file.
//!
//! A sealed value is `version (1) ‖ nonce (24, random) ‖ ciphertext ‖ tag (16)`. The
//! associated data names what the value is and whose (`pam_mfa totp-secret v1 user=alice`),
//! so a sealed secret moved to another user's row does not open there.
//!
//! The key file is created on first start (0600, owned by mfad's user, written and synced
//! before use) next to the database unless `--key-file` says otherwise. It is never created
//! when the database already holds sealed secrets: a lost key is reported, not replaced.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use zeroize::Zeroizing;

use crate::error::StoreError;

/// Key length in bytes.
pub const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 24;
const VERSION: u8 = 1;
/// File name of the key when `--key-file` is not given: beside the database.
pub const DEFAULT_KEY_FILE_NAME: &str = "mfad.key";

/// The key file used for the database at `db` when none is given.
pub fn default_key_path(db: &Path) -> PathBuf {
    db.with_file_name(DEFAULT_KEY_FILE_NAME)
}

/// The sealing key, wiped on drop.
pub struct SealKey(Zeroizing<[u8; KEY_LEN]>);

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealKey(<hidden>)")
    }
}

/// The associated data of a TOTP secret of `user`.
pub fn totp_aad(user: &str) -> Vec<u8> {
    format!("pam_mfa totp-secret v1 user={user}").into_bytes()
}

/// The associated data of the value that proves the key matches the database.
pub const CHECK_AAD: &[u8] = b"pam_mfa key-check v1";
/// The plaintext of that value.
pub const CHECK_PLAINTEXT: &[u8] = b"pam_mfa key check";

impl SealKey {
    /// A fresh random key.
    pub fn generate() -> Result<Self, StoreError> {
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        getrandom::fill(&mut key[..])
            .map_err(|e| StoreError::Unsafe(format!("the OS random generator failed: {e}")))?;
        Ok(SealKey(key))
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        let key: &[u8; KEY_LEN] = &self.0;
        XChaCha20Poly1305::new(key.into())
    }

    /// Seals `plaintext`, bound to `aad`.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, StoreError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce)
            .map_err(|e| StoreError::Unsafe(format!("the OS random generator failed: {e}")))?;
        let sealed = self
            .cipher()
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| StoreError::BadRow("sealing a secret failed".into()))?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// A key for another purpose derived from this one (HMAC-SHA-256 of `label`), so that
    /// the one key file protects more than sealed secrets: e.g. the keyed hashes of sent
    /// codes, which a copy of the database alone cannot brute-force.
    pub fn derive(&self, label: &[u8]) -> Zeroizing<[u8; KEY_LEN]> {
        use hmac::{KeyInit as _, Mac};
        let key: &[u8; KEY_LEN] = &self.0;
        let mut mac = <hmac::Hmac<sha2::Sha256>>::new_from_slice(key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(label);
        Zeroizing::new(mac.finalize().into_bytes().into())
    }

    /// Opens a value sealed with this key and `aad`. Fails on any other key, associated
    /// data, version or a changed byte.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, UnsealError> {
        let (&version, rest) = sealed.split_first().ok_or(UnsealError::Malformed)?;
        if version != VERSION {
            return Err(UnsealError::Version(version));
        }
        if rest.len() < NONCE_LEN + 16 {
            return Err(UnsealError::Malformed);
        }
        let (nonce, body) = rest.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| UnsealError::Malformed)?;
        self.cipher()
            .decrypt(&XNonce::from(nonce), Payload { msg: body, aad })
            .map(Zeroizing::new)
            .map_err(|_| UnsealError::WrongKeyOrTampered)
    }
}

/// Why a sealed value did not open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UnsealError {
    /// Too short to be a sealed value.
    #[error("not a sealed value")]
    Malformed,
    /// Sealed by a format this mfad does not know.
    #[error("sealed with unknown format version {0}")]
    Version(u8),
    /// Another key, another owner, or changed bytes.
    #[error("does not open with this key (another key file, or the row was altered)")]
    WrongKeyOrTampered,
}

fn io_err(path: &Path, source: std::io::Error) -> StoreError {
    StoreError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Reads the key at `path`, checking that only mfad's user can read it.
pub fn read_key(path: &Path) -> Result<SealKey, StoreError> {
    let meta = fs::symlink_metadata(path).map_err(|e| io_err(path, e))?;
    if !meta.file_type().is_file() {
        return Err(StoreError::Unsafe(format!(
            "refusing to use the key file {}: not a regular file (symbolic links are not followed)",
            path.display()
        )));
    }
    let euid = nix::unistd::geteuid().as_raw();
    if meta.uid() != euid {
        return Err(StoreError::Unsafe(format!(
            "refusing to use the key file {}: owned by uid {}, not {euid}; fix: chown {euid} {}",
            path.display(),
            meta.uid(),
            path.display()
        )));
    }
    if meta.mode() & 0o077 != 0 {
        return Err(StoreError::Unsafe(format!(
            "refusing to use the key file {}: mode {:o} lets other users read it; fix: chmod 600 {} (and consider the secrets exposed)",
            path.display(),
            meta.mode() & 0o7777,
            path.display()
        )));
    }
    let bytes = Zeroizing::new(fs::read(path).map_err(|e| io_err(path, e))?);
    let key: [u8; KEY_LEN] = bytes.as_slice().try_into().map_err(|_| {
        StoreError::Unsafe(format!(
            "the key file {} is {} bytes long, not {KEY_LEN}: it is damaged; restore it from backup",
            path.display(),
            bytes.len()
        ))
    })?;
    Ok(SealKey(Zeroizing::new(key)))
}

/// Creates a new key file at `path` (0600; fails if it exists), written and synced, with
/// its directory, before the key is used.
pub fn create_key(path: &Path) -> Result<SealKey, StoreError> {
    let key = SealKey::generate()?;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| io_err(path, e))?;
    // The umask may have narrowed the mode further, never widened it; make it exact.
    f.set_permissions(fs::Permissions::from_mode(0o600))
        .map_err(|e| io_err(path, e))?;
    let written = f.write_all(&key.0[..]).and_then(|()| f.sync_all());
    if let Err(e) = written {
        // A partial key must not be mistaken for a key at the next start.
        let _ = fs::remove_file(path);
        return Err(io_err(path, e));
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io_err(dir, e))?;
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn a_sealed_value_opens_only_with_its_key_and_associated_data() {
        let key = SealKey::generate().unwrap();
        let sealed = key
            .seal(&totp_aad("alice"), b"12345678901234567890")
            .unwrap();
        assert_eq!(sealed.len(), 1 + NONCE_LEN + 20 + 16);
        assert_eq!(
            key.open(&totp_aad("alice"), &sealed).unwrap().as_slice(),
            b"12345678901234567890"
        );
        assert!(!sealed.windows(20).any(|w| w == b"12345678901234567890"));
        // Another user's row, another key, a changed byte, a truncated value.
        assert_eq!(
            key.open(&totp_aad("bob"), &sealed),
            Err(UnsealError::WrongKeyOrTampered)
        );
        let other = SealKey::generate().unwrap();
        assert_eq!(
            other.open(&totp_aad("alice"), &sealed),
            Err(UnsealError::WrongKeyOrTampered)
        );
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 1;
            assert!(key.open(&totp_aad("alice"), &bad).is_err(), "byte {i}");
        }
        assert_eq!(key.open(b"", &sealed[..10]), Err(UnsealError::Malformed));
        assert_eq!(key.open(b"", &[]), Err(UnsealError::Malformed));
    }

    #[test]
    fn each_seal_uses_a_fresh_nonce() {
        let key = SealKey::generate().unwrap();
        let a = key.seal(b"x", b"same").unwrap();
        let b = key.seal(b"x", b"same").unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn the_key_file_is_created_0600_and_read_back_and_unsafe_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let key = create_key(&path).unwrap();
        let meta = fs::metadata(&path).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o600);
        assert_eq!(meta.len(), KEY_LEN as u64);
        let sealed = key.seal(b"a", b"secret").unwrap();
        let again = read_key(&path).unwrap();
        assert_eq!(again.open(b"a", &sealed).unwrap().as_slice(), b"secret");
        // Never overwritten.
        assert!(create_key(&path).is_err());

        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        let e = read_key(&path).unwrap_err().to_string();
        assert!(e.contains("chmod 600"), "{e}");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();

        fs::write(&path, b"short").unwrap();
        let e = read_key(&path).unwrap_err().to_string();
        assert!(e.contains("damaged"), "{e}");

        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        let e = read_key(&link).unwrap_err().to_string();
        assert!(e.contains("symbolic links"), "{e}");
    }
}
