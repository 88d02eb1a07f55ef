//! Why a public key line or blob is not an SSH security key we accept.

use thiserror::Error;

/// Why a public key cannot be enrolled as an SSH security key. Messages say what to give
/// instead; input is quoted only escaped and shortened.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SshKeyError {
    /// Nothing but whitespace.
    #[error(
        "no public key was given; expected the one line of the key's .pub file, e.g. `sk-ssh-ed25519@openssh.com AAAA… comment`"
    )]
    Empty,
    /// Longer than [`MAX_PUBLIC_KEY_LINE_LEN`](super::MAX_PUBLIC_KEY_LINE_LEN).
    #[error("the public key is longer than {max} bytes; give the one line of the key's .pub file")]
    TooLong {
        /// The limit.
        max: usize,
    },
    /// More than one line (e.g. a whole `authorized_keys` file).
    #[error("the input has more than one line; give exactly one key (the line of its .pub file)")]
    MultipleLines,
    /// A control character (NUL, escape, …) anywhere in the line.
    #[error("the public key line contains control characters")]
    ControlCharacter,
    /// A valid but ordinary (not security-key) key type.
    #[error(
        "this is an ordinary {kind} key; only security-key (sk-) keys can count as a second factor (create one on the FIDO key with `ssh-keygen -t ecdsa-sk` or `ssh-keygen -t ed25519-sk`)"
    )]
    NotSecurityKey {
        /// `ed25519`, `ECDSA`, `RSA` or `DSA`.
        kind: &'static str,
    },
    /// An OpenSSH certificate (`…-cert-v01@openssh.com`).
    #[error(
        "this is an SSH certificate; give the security key's own public key (its .pub file, not the -cert.pub)"
    )]
    Certificate,
    /// The first word is no key type we know (also: `authorized_keys` options in front).
    #[error(
        "`{found}` is not a security-key type; the line must start with `sk-ecdsa-sha2-nistp256@openssh.com` or `sk-ssh-ed25519@openssh.com` (no authorized_keys options in front)"
    )]
    UnknownKeyType {
        /// The first word, escaped and shortened.
        found: String,
    },
    /// A key type but nothing after it.
    #[error("the line has a key type but no key data after it")]
    MissingKeyData,
    /// The second word is not canonical, padded base64.
    #[error("the key data (second word of the line) is not valid base64; the file may be damaged")]
    BadBase64,
    /// The decoded key data does not parse as a key of its type.
    #[error("the key data is damaged: {detail}")]
    Malformed {
        /// What is wrong.
        detail: &'static str,
    },
    /// The type in the text and the type inside the key data differ.
    #[error("the line says `{declared}` but the key data inside is a `{embedded}` key")]
    TypeMismatch {
        /// The line's first word.
        declared: String,
        /// The type inside the blob, escaped and shortened.
        embedded: String,
    },
    /// Bytes after the key inside the key data.
    #[error("the key data has {extra} unexpected bytes after the key; the file may be damaged")]
    TrailingData {
        /// How many.
        extra: usize,
    },
    /// The FIDO application is not an SSH one (`ssh:…`).
    #[error(
        "the security key was made for the application `{application}`, not for SSH (`ssh:…`); create the key with ssh-keygen"
    )]
    NotSshApplication {
        /// The application, escaped and shortened.
        application: String,
    },
}
