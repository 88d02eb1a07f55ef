//! `SSH_AUTH_INFO_0`: which methods sshd already accepted in this connection, and whether
//! one of them was a security key enrolled for the user.
//!
//! sshd builds each line as `METHOD[/SUBMETHOD][ KEYTYPE BASE64][ INFO]\n` (auth2.c,
//! `auth2_update_session_info`): the key, when the method has one, as `sshkey_format_text`
//! writes it, then optional method details (certificate details, a signature count) that
//! sshd refuses to write if they contain a newline, so one line is one method.

use std::fmt;

use ssh_key::encoding::Decode;
use ssh_key::encoding::base64::{Base64, Encoding};
use thiserror::Error;

use super::{SkKeyType, SshKeyError, SshSkPublicKey, fingerprint, shorten};

/// Longest `SSH_AUTH_INFO_0` accepted: the limit the module and the daemon apply to the
/// forwarded value (`mfa_proto::MAX_AUTH_INFO_LEN`), so all sides agree.
pub const MAX_AUTH_INFO_LEN: usize = mfa_proto::MAX_AUTH_INFO_LEN;

/// Longest method name (`keyboard-interactive/pam` is 24 bytes).
const MAX_METHOD_LEN: usize = 64;

/// Why `SSH_AUTH_INFO_0` was not looked at.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
pub enum AuthInfoError {
    /// Longer than [`MAX_AUTH_INFO_LEN`].
    #[error("SSH_AUTH_INFO_0 is longer than {max} bytes; it was ignored")]
    TooLong {
        /// The limit.
        max: usize,
    },
}

/// A public key sshd accepted (a `publickey` line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsedPublicKey {
    algorithm: String,
    blob: Vec<u8>,
    sk: Option<SshSkPublicKey>,
}

impl UsedPublicKey {
    /// The key type as sshd wrote it (`ssh-ed25519`, `sk-ecdsa-sha2-nistp256@openssh.com`, …).
    pub fn algorithm(&self) -> &str {
        &self.algorithm
    }

    /// The key's wire blob.
    pub fn wire_blob(&self) -> &[u8] {
        &self.blob
    }

    /// `SHA256:…` as sshd logs it.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.blob)
    }

    /// The key as a security key, if it is one we accept (sk type, `ssh:` application).
    pub fn sk_key(&self) -> Option<&SshSkPublicKey> {
        self.sk.as_ref()
    }
}

/// One line of `SSH_AUTH_INFO_0`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthMethodUsed {
    /// `publickey TYPE BASE64 …`: sshd verified a signature by this key.
    PublicKey(UsedPublicKey),
    /// `keyboard-interactive` or `keyboard-interactive/DEVICE`.
    KeyboardInteractive {
        /// The device (`pam`), if named.
        device: Option<String>,
    },
    /// `password`.
    Password,
    /// Another method sshd names (`hostbased`, `gssapi-with-mic`, …); details not read.
    Other {
        /// The method name.
        method: String,
    },
    /// A line that is not what sshd writes. Its presence makes the whole value untrusted.
    Unrecognized {
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// `SSH_AUTH_INFO_0`, parsed. Build it with [`parse_auth_info`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthInfo {
    methods: Vec<AuthMethodUsed>,
}

impl AuthInfo {
    /// Every line, in order.
    pub fn methods(&self) -> &[AuthMethodUsed] {
        &self.methods
    }

    /// Every line is one sshd writes. Otherwise nothing in it may count.
    pub fn is_well_formed(&self) -> bool {
        !self
            .methods
            .iter()
            .any(|m| matches!(m, AuthMethodUsed::Unrecognized { .. }))
    }

    /// The security keys that completed public-key authentication, in order; none at all
    /// unless [`AuthInfo::is_well_formed`].
    pub fn completed_sk_keys(&self) -> Vec<&SshSkPublicKey> {
        if !self.is_well_formed() {
            return Vec::new();
        }
        self.public_keys()
            .filter_map(UsedPublicKey::sk_key)
            .collect()
    }

    fn public_keys(&self) -> impl Iterator<Item = &UsedPublicKey> {
        self.methods.iter().filter_map(|m| match m {
            AuthMethodUsed::PublicKey(k) => Some(k),
            _ => None,
        })
    }
}

/// Parses `SSH_AUTH_INFO_0` (as read with `pam_getenv`). Lines sshd would not write become
/// [`AuthMethodUsed::Unrecognized`]; only an oversized value is an error. Never panics.
pub fn parse_auth_info(ssh_auth_info_0: &str) -> Result<AuthInfo, AuthInfoError> {
    if ssh_auth_info_0.len() > MAX_AUTH_INFO_LEN {
        return Err(AuthInfoError::TooLong {
            max: MAX_AUTH_INFO_LEN,
        });
    }
    // sshd ends every line, the last one too, with a newline.
    let body = ssh_auth_info_0
        .strip_suffix('\n')
        .unwrap_or(ssh_auth_info_0);
    if body.is_empty() {
        return Ok(AuthInfo::default());
    }
    let methods = body
        .split('\n')
        .enumerate()
        .map(|(i, line)| {
            parse_line(line).unwrap_or_else(|reason| AuthMethodUsed::Unrecognized {
                line: i + 1,
                reason,
            })
        })
        .collect();
    Ok(AuthInfo { methods })
}

fn parse_line(line: &str) -> Result<AuthMethodUsed, &'static str> {
    if line.is_empty() {
        return Err("empty line");
    }
    if line.chars().any(char::is_control) {
        return Err("control character");
    }
    let mut words = line.split(' ');
    let method = words.next().unwrap_or_default();
    if method.is_empty()
        || method.len() > MAX_METHOD_LEN
        || !method
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-/@._".contains(&b))
    {
        return Err("not a method name");
    }
    Ok(match method {
        "publickey" => {
            let (algorithm, base64) = match (words.next(), words.next()) {
                (Some(a), Some(b)) if !a.is_empty() && !b.is_empty() => (a, b),
                _ => return Err("publickey without `TYPE BASE64`"),
            };
            // Any further words are method details (e.g. a certificate's): not read.
            AuthMethodUsed::PublicKey(parse_key(algorithm, base64)?)
        }
        "password" => AuthMethodUsed::Password,
        "keyboard-interactive" => AuthMethodUsed::KeyboardInteractive { device: None },
        m => match m.strip_prefix("keyboard-interactive/") {
            Some(device) => AuthMethodUsed::KeyboardInteractive {
                device: Some(device.to_owned()),
            },
            None => AuthMethodUsed::Other {
                method: m.to_owned(),
            },
        },
    })
}

fn parse_key(algorithm: &str, base64: &str) -> Result<UsedPublicKey, &'static str> {
    let blob = Base64::decode_vec(base64).map_err(|_| "key data is not base64")?;
    let mut reader = blob.as_slice();
    match String::decode(&mut reader) {
        Ok(embedded) if embedded == algorithm => {}
        _ => return Err("key type and key data differ"),
    }
    let sk = if SkKeyType::from_algorithm(algorithm).is_some() {
        match SshSkPublicKey::from_wire_blob(&blob) {
            Ok(k) => Some(k),
            // A real sk key made for another application: understood, never counted.
            Err(SshKeyError::NotSshApplication { .. }) => None,
            Err(_) => return Err("damaged security key"),
        }
    } else {
        None
    };
    Ok(UsedPublicKey {
        algorithm: algorithm.to_owned(),
        blob,
        sk,
    })
}

/// Whether SSH already gave the second factor, see [`enrolled_sk_key_used`].
#[must_use]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkFactor<'a> {
    /// This enrolled security key completed public-key authentication in this connection.
    Satisfied(&'a SshSkPublicKey),
    /// It did not; the reason is for the log.
    NotSatisfied(SkFactorMiss),
}

/// Why SSH did not give the second factor (for syslog, never shown as a secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkFactorMiss {
    /// `SSH_AUTH_INFO_0` is empty or unset.
    NoAuthInfo,
    /// `SSH_AUTH_INFO_0` is too long.
    TooLong,
    /// A line of it is not what sshd writes: nothing in it counts.
    Unrecognized {
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// No public key was used.
    NoPublicKey,
    /// Public keys were used, but none is a security key we accept.
    NotSecurityKey {
        /// Type of the (last) key used.
        algorithm: String,
        /// Its fingerprint.
        fingerprint: String,
    },
    /// A security key was used, but it is not enrolled for this user.
    NotEnrolled {
        /// Its fingerprint.
        fingerprint: String,
    },
}

impl fmt::Display for SkFactorMiss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkFactorMiss::NoAuthInfo => {
                f.write_str("no SSH_AUTH_INFO_0 (not sshd, or no method completed before PAM)")
            }
            SkFactorMiss::TooLong => {
                write!(f, "SSH_AUTH_INFO_0 longer than {MAX_AUTH_INFO_LEN} bytes")
            }
            SkFactorMiss::Unrecognized { line, reason } => {
                write!(
                    f,
                    "SSH_AUTH_INFO_0 line {line} not understood ({reason}); nothing in it counts"
                )
            }
            SkFactorMiss::NoPublicKey => f.write_str("no public key was used"),
            SkFactorMiss::NotSecurityKey {
                algorithm,
                fingerprint,
            } => write!(
                f,
                "the public key used ({}, {fingerprint}) is not a security key",
                shorten(algorithm)
            ),
            SkFactorMiss::NotEnrolled { fingerprint } => write!(
                f,
                "the security key used ({fingerprint}) is not enrolled for this user"
            ),
        }
    }
}

/// The login rule: SSH gave the second factor only if a `publickey` line of
/// `ssh_auth_info_0` carries a key whose wire blob is exactly that of one of `enrolled`
/// (the user's own enrolled security keys), and every line is well formed. The caller
/// decides whether the service's policy allows this at all, and reads the variable from the
/// PAM environment of an sshd login only.
pub fn enrolled_sk_key_used<'a>(
    ssh_auth_info_0: &str,
    enrolled: &'a [SshSkPublicKey],
) -> SkFactor<'a> {
    let miss = SkFactor::NotSatisfied;
    let info = match parse_auth_info(ssh_auth_info_0) {
        Ok(info) => info,
        Err(AuthInfoError::TooLong { .. }) => return miss(SkFactorMiss::TooLong),
    };
    if info.methods().is_empty() {
        return miss(SkFactorMiss::NoAuthInfo);
    }
    if let Some(AuthMethodUsed::Unrecognized { line, reason }) = info
        .methods()
        .iter()
        .find(|m| matches!(m, AuthMethodUsed::Unrecognized { .. }))
    {
        return miss(SkFactorMiss::Unrecognized {
            line: *line,
            reason,
        });
    }
    let mut reason = SkFactorMiss::NoPublicKey;
    for used in info.public_keys() {
        match used.sk_key() {
            // Equality is equality of the canonical wire blob.
            Some(sk) => match enrolled.iter().find(|e| *e == sk) {
                Some(e) => return SkFactor::Satisfied(e),
                None => {
                    reason = SkFactorMiss::NotEnrolled {
                        fingerprint: used.fingerprint(),
                    }
                }
            },
            None if !matches!(reason, SkFactorMiss::NotEnrolled { .. }) => {
                reason = SkFactorMiss::NotSecurityKey {
                    algorithm: used.algorithm().to_owned(),
                    fingerprint: used.fingerprint(),
                }
            }
            None => {}
        }
    }
    miss(reason)
}
