//! SSH security keys (`sk-` keys) as the second factor: the keys users enroll, and what sshd
//! reports about the login in `SSH_AUTH_INFO_0`.
//!
//! A touch on a FIDO key at the user's desk cannot travel through PAM over SSH, but OpenSSH
//! already verifies FIDO-backed keys (`sk-ecdsa-sha2-nistp256@openssh.com`,
//! `sk-ssh-ed25519@openssh.com`) during public-key authentication: the signature covers the
//! authenticator's user-presence flag, which sshd checks. With `AuthenticationMethods
//! publickey,keyboard-interactive`, sshd runs the PAM auth stack after the key succeeded and
//! names that key in the PAM environment variable `SSH_AUTH_INFO_0`.
//!
//! **The rule:** the second factor is satisfied by SSH only when a `publickey` line of
//! `SSH_AUTH_INFO_0` carries a key whose wire blob is byte-for-byte equal to a security key
//! enrolled for that user ([`enrolled_sk_key_used`]). Never a type, fingerprint or prefix
//! match: equality of [`SshSkPublicKey`] is equality of the canonical blob. Ordinary keys,
//! other users' keys and unenrolled sk keys count for nothing, and so does everything when
//! any line of the variable is not understood (fail closed).
//!
//! What sshd 9.2p1 (Debian 12) puts there, observed end to end (`tests/tests/ssh_sk.rs`,
//! fixture `mfa-core/tests/fixtures/ssh/sshd-auth-info-0.txt`): one line per method that
//! already succeeded in this connection, each ending in `\n`, e.g.
//!
//! ```text
//! publickey sk-ecdsa-sha2-nistp256@openssh.com AAAAInNrLWVjZHNh…c3NoOg==
//! ```
//!
//! (`publickey`, the key type, the base64 blob, no comment; the keyboard-interactive method
//! in progress is not listed yet, later ones appear as `keyboard-interactive/pam`). sshd sets
//! it in the PAM environment whatever `ExposeAuthInfo` says (that option only controls the
//! session's `$SSH_USER_AUTH` file). It must be read with `pam_getenv`, never from the
//! process environment, and only trusted for the sshd service: other PAM applications do
//! not set it, and a PAM environment module there could let a caller choose its value.
//!
//! Parsing is fuzz-friendly: any input gives a value or a typed error, never a panic, and
//! the work is bounded by the input limits below.

mod auth_info;
mod error;

pub use auth_info::{
    AuthInfo, AuthInfoError, AuthMethodUsed, MAX_AUTH_INFO_LEN, SkFactor, SkFactorMiss,
    UsedPublicKey, enrolled_sk_key_used, parse_auth_info,
};
pub use error::SshKeyError;

use std::fmt;
use std::hash::{Hash, Hasher};

use sha2::{Digest, Sha256};
use ssh_key::Algorithm;
use ssh_key::encoding::base64::{Base64, Base64Unpadded, Encoding};
use ssh_key::encoding::{Decode, Encode, Reader};
use ssh_key::public::KeyData;

/// Longest `.pub` line accepted. An sk public key line is about 230 bytes plus its comment.
pub const MAX_PUBLIC_KEY_LINE_LEN: usize = 8 * 1024;
/// Longest FIDO application string accepted (OpenSSH's default is `ssh:`).
pub const MAX_APPLICATION_LEN: usize = 256;
/// Every accepted key's application starts with this. OpenSSH makes only such keys, so that a
/// web site's FIDO credential (application = its origin) can never log in over SSH.
pub const SSH_APPLICATION_PREFIX: &str = "ssh:";

/// The two kinds of OpenSSH security keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SkKeyType {
    /// `sk-ecdsa-sha2-nistp256@openssh.com`: ECDSA over NIST P-256.
    EcdsaP256,
    /// `sk-ssh-ed25519@openssh.com`: Ed25519.
    Ed25519,
}

impl SkKeyType {
    /// The key type as OpenSSH writes it in `.pub` files, `authorized_keys` and on the wire.
    pub const fn algorithm(self) -> &'static str {
        match self {
            SkKeyType::EcdsaP256 => "sk-ecdsa-sha2-nistp256@openssh.com",
            SkKeyType::Ed25519 => "sk-ssh-ed25519@openssh.com",
        }
    }

    /// The short name `ssh-keygen -l` and sshd's log print (`ECDSA-SK`, `ED25519-SK`).
    pub const fn short_name(self) -> &'static str {
        match self {
            SkKeyType::EcdsaP256 => "ECDSA-SK",
            SkKeyType::Ed25519 => "ED25519-SK",
        }
    }

    /// The security-key type named `algorithm`, if it is one.
    pub fn from_algorithm(algorithm: &str) -> Option<SkKeyType> {
        [SkKeyType::EcdsaP256, SkKeyType::Ed25519]
            .into_iter()
            .find(|t| t.algorithm() == algorithm)
    }
}

impl fmt::Display for SkKeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.algorithm())
    }
}

/// An OpenSSH security-key public key, as enrolled by a user or reported by sshd.
///
/// Equality (and hashing) is equality of the canonical wire blob, the only thing that
/// identifies a key; the comment is a label and does not take part.
#[derive(Clone)]
pub struct SshSkPublicKey {
    key_type: SkKeyType,
    blob: Vec<u8>,
    application: String,
    comment: String,
}

impl SshSkPublicKey {
    /// Parses one line of a `.pub` file: `TYPE BASE64 [comment]` (one trailing newline
    /// allowed). Checks that the type is a security-key type, that the base64 is canonical,
    /// that the type inside the blob is the same, the curve name and point format (P-256,
    /// uncompressed, on the curve), that nothing follows the key, and that the application
    /// starts with `ssh:`.
    pub fn parse_openssh(line: &str) -> Result<SshSkPublicKey, SshKeyError> {
        if line.len() > MAX_PUBLIC_KEY_LINE_LEN {
            return Err(SshKeyError::TooLong {
                max: MAX_PUBLIC_KEY_LINE_LEN,
            });
        }
        let line = match line.strip_suffix('\n') {
            Some(l) => l.strip_suffix('\r').unwrap_or(l),
            None => line,
        };
        if line.contains(['\n', '\r']) {
            return Err(SshKeyError::MultipleLines);
        }
        if line.chars().any(|c| c.is_control() && c != '\t') {
            return Err(SshKeyError::ControlCharacter);
        }
        let (declared, rest) = split_word(line.trim_matches(is_blank));
        if declared.is_empty() {
            return Err(SshKeyError::Empty);
        }
        let key_type = classify(declared)?;
        let (base64, comment) = split_word(rest.trim_start_matches(is_blank));
        if base64.is_empty() {
            return Err(SshKeyError::MissingKeyData);
        }
        let blob = Base64::decode_vec(base64).map_err(|_| SshKeyError::BadBase64)?;
        let mut key = Self::decode_blob(&blob, Some(key_type))?;
        key.comment = comment.trim_matches(is_blank).to_owned();
        Ok(key)
    }

    /// A key from its wire blob alone (as stored, or as sshd reports it), with an empty
    /// comment. Same checks as [`SshSkPublicKey::parse_openssh`].
    pub fn from_wire_blob(blob: &[u8]) -> Result<SshSkPublicKey, SshKeyError> {
        Self::decode_blob(blob, None)
    }

    /// The same key with `comment` as its label (control characters are refused).
    pub fn with_comment(mut self, comment: &str) -> Result<SshSkPublicKey, SshKeyError> {
        if comment.chars().any(char::is_control) {
            return Err(SshKeyError::ControlCharacter);
        }
        self.comment = comment.to_owned();
        Ok(self)
    }

    /// ECDSA-P256 or Ed25519.
    pub fn key_type(&self) -> SkKeyType {
        self.key_type
    }

    /// The FIDO application the key was made for (`ssh:` unless chosen otherwise).
    pub fn application(&self) -> &str {
        &self.application
    }

    /// The `.pub` file's comment (empty for keys from sshd or a bare blob).
    pub fn comment(&self) -> &str {
        &self.comment
    }

    /// The canonical wire blob: what to store, and what [`enrolled_sk_key_used`] compares.
    pub fn wire_blob(&self) -> &[u8] {
        &self.blob
    }

    /// `SHA256:…` exactly as `ssh-keygen -l` and sshd's log print it.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.blob)
    }

    /// The key as a `.pub` line: `TYPE BASE64[ comment]`.
    pub fn to_openssh(&self) -> String {
        let mut s = format!("{} {}", self.key_type, Base64::encode_string(&self.blob));
        if !self.comment.is_empty() {
            s.push(' ');
            s.push_str(&self.comment);
        }
        s
    }

    fn decode_blob(
        blob: &[u8],
        declared: Option<SkKeyType>,
    ) -> Result<SshSkPublicKey, SshKeyError> {
        if blob.len() > MAX_PUBLIC_KEY_LINE_LEN {
            return Err(SshKeyError::TooLong {
                max: MAX_PUBLIC_KEY_LINE_LEN,
            });
        }
        let mut reader = blob;
        let embedded = String::decode(&mut reader).map_err(|_| SshKeyError::Malformed {
            detail: "it does not start with a key type",
        })?;
        if let Some(declared) = declared
            && embedded != declared.algorithm()
        {
            return Err(SshKeyError::TypeMismatch {
                declared: declared.algorithm().to_owned(),
                embedded: shorten(&embedded),
            });
        }
        let key_type = classify(&embedded)?;
        let algorithm = Algorithm::new(&embedded).map_err(|_| SshKeyError::Malformed {
            detail: "unknown key type inside",
        })?;
        let key_data =
            KeyData::decode_as(&mut reader, algorithm).map_err(|_| SshKeyError::Malformed {
                detail: "the key fields do not parse (curve name, point or application)",
            })?;
        if !reader.is_finished() {
            return Err(SshKeyError::TrailingData {
                extra: reader.remaining_len(),
            });
        }
        let application = match &key_data {
            KeyData::SkEcdsaSha2NistP256(k) => {
                check_p256_point(k.ec_point().as_bytes())?;
                k.application()
            }
            KeyData::SkEd25519(k) => k.application(),
            _ => {
                return Err(SshKeyError::Malformed {
                    detail: "not a security key",
                });
            }
        };
        check_application(application)?;
        // Re-encoding must give the same bytes: one key, one blob, so byte equality is key
        // equality.
        match key_data.encode_vec() {
            Ok(canonical) if canonical == blob => {}
            _ => {
                return Err(SshKeyError::Malformed {
                    detail: "it is not in canonical form",
                });
            }
        }
        Ok(SshSkPublicKey {
            key_type,
            blob: blob.to_vec(),
            application: application.to_owned(),
            comment: String::new(),
        })
    }
}

impl PartialEq for SshSkPublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.blob == other.blob
    }
}

impl Eq for SshSkPublicKey {}

impl Hash for SshSkPublicKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.blob.hash(state);
    }
}

impl fmt::Debug for SshSkPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SshSkPublicKey")
            .field("type", &self.key_type.short_name())
            .field("fingerprint", &self.fingerprint())
            .field("application", &self.application)
            .field("comment", &self.comment)
            .finish()
    }
}

impl fmt::Display for SshSkPublicKey {
    /// `ECDSA-SK SHA256:… (comment)`, for messages and logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.key_type.short_name(), self.fingerprint())?;
        if !self.comment.is_empty() {
            write!(f, " ({})", self.comment)?;
        }
        Ok(())
    }
}

/// `SHA256:` and the unpadded base64 SHA-256 of a wire blob, as OpenSSH prints fingerprints.
pub(crate) fn fingerprint(blob: &[u8]) -> String {
    format!(
        "SHA256:{}",
        Base64Unpadded::encode_string(&Sha256::digest(blob))
    )
}

/// The security-key type `algorithm` names, or why it is not one.
fn classify(algorithm: &str) -> Result<SkKeyType, SshKeyError> {
    if let Some(t) = SkKeyType::from_algorithm(algorithm) {
        return Ok(t);
    }
    if algorithm.ends_with("-cert-v01@openssh.com") {
        return Err(SshKeyError::Certificate);
    }
    let kind = match algorithm {
        "ssh-ed25519" => "ed25519",
        "ssh-rsa" | "rsa-sha2-256" | "rsa-sha2-512" => "RSA",
        "ssh-dss" => "DSA",
        a if a.starts_with("ecdsa-sha2-") => "ECDSA",
        _ => {
            return Err(SshKeyError::UnknownKeyType {
                found: shorten(algorithm),
            });
        }
    };
    Err(SshKeyError::NotSecurityKey { kind })
}

fn check_p256_point(point: &[u8]) -> Result<(), SshKeyError> {
    // OpenSSH accepts only uncompressed points (0x04 ‖ X ‖ Y) for nistp256 (ssh-key has
    // already checked that the curve name is `nistp256`).
    if point.len() != 65 || point[0] != 0x04 {
        return Err(SshKeyError::Malformed {
            detail: "the P-256 point is not in uncompressed form",
        });
    }
    p256::PublicKey::from_sec1_bytes(point).map_err(|_| SshKeyError::Malformed {
        detail: "the point is not on the P-256 curve",
    })?;
    Ok(())
}

fn check_application(application: &str) -> Result<(), SshKeyError> {
    if !application.starts_with(SSH_APPLICATION_PREFIX)
        || application.len() > MAX_APPLICATION_LEN
        || application.chars().any(char::is_control)
    {
        return Err(SshKeyError::NotSshApplication {
            application: shorten(application),
        });
    }
    Ok(())
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// The first word of `s` (up to a space or tab) and the rest.
fn split_word(s: &str) -> (&str, &str) {
    match s.find(is_blank) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, ""),
    }
}

/// `s` escaped (no control characters reach a message or a log) and cut to 64 characters.
fn shorten(s: &str) -> String {
    let mut out: String = s.chars().take(64).flat_map(char::escape_debug).collect();
    if s.chars().count() > 64 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests;
