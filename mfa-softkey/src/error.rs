//! Errors of the software authenticator, named after the CTAP2 status codes they imitate.

use std::path::PathBuf;

use thiserror::Error;

/// Why the software authenticator refused or failed.
#[derive(Debug, Error)]
pub enum SoftKeyError {
    /// The key file could not be read, written or locked.
    #[error("software key file {path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The key file is not valid JSON of the expected shape.
    #[error("software key file {path} is malformed: {detail}")]
    Format {
        /// The file concerned.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// The key file is not a software key file (its `format` is not [`crate::MARKER`]).
    #[error("{path} is not an mfa-softkey key file")]
    NotAKeyFile {
        /// The file concerned.
        path: PathBuf,
    },
    /// CTAP2_ERR_NO_CREDENTIALS: no credential matches the RP ID and allow list.
    #[error("no credential on the software key matches (CTAP2_ERR_NO_CREDENTIALS)")]
    NoCredentials,
    /// CTAP2_ERR_CREDENTIAL_EXCLUDED: the key already holds a credential of the exclude list.
    #[error("the software key is already registered (CTAP2_ERR_CREDENTIAL_EXCLUDED)")]
    CredentialExcluded,
    /// CTAP2_ERR_UNSUPPORTED_ALGORITHM: none of the requested algorithms is supported.
    #[error("none of the requested algorithms is supported (CTAP2_ERR_UNSUPPORTED_ALGORITHM)")]
    UnsupportedAlgorithm,
    /// CTAP2_ERR_PIN_REQUIRED: user verification was requested, the key has a PIN, none given.
    #[error("the software key needs its PIN (CTAP2_ERR_PIN_REQUIRED)")]
    PinRequired,
    /// CTAP2_ERR_PIN_INVALID: the PIN given is not the key's.
    #[error("wrong PIN for the software key (CTAP2_ERR_PIN_INVALID)")]
    PinInvalid,
    /// CTAP2_ERR_PIN_NOT_SET: a PIN was given but the key has none.
    #[error("the software key has no PIN set (CTAP2_ERR_PIN_NOT_SET)")]
    PinNotSet,
}
