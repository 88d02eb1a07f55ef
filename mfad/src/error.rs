//! Errors inside the daemon, and how they become bus errors.

use thiserror::Error;

use mfa_proto::MfaError;

/// Storage failures. Every one leaves the database as it was (the transaction rolled back).
#[derive(Debug, Error)]
pub enum StoreError {
    /// SQLite reported an error.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The database file or its directory is unsafe to use.
    #[error("{0}")]
    Unsafe(String),
    /// The database is corrupt.
    #[error("database integrity check failed: {0}")]
    Corrupt(String),
    /// The database was written by a newer mfad.
    #[error(
        "database schema version {found} is newer than this mfad supports ({supported}); upgrade mfad"
    )]
    TooNew {
        /// Version in the file.
        found: i64,
        /// Newest version this build knows.
        supported: i64,
    },
    /// A file-system operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// NSS could not say which groups a user is in.
    #[error("{0}")]
    Groups(#[from] crate::users::GroupLookupError),
    /// The thing to store is already there.
    #[error("{0}")]
    Duplicate(String),
    /// The key file does not open the database's sealed secrets.
    #[error("the key file does not belong to this database")]
    WrongKey,
    /// A stored row cannot be used (e.g. a secret of the wrong length).
    #[error("stored data is invalid: {0}")]
    BadRow(String),
}

impl From<StoreError> for MfaError {
    fn from(e: StoreError) -> Self {
        MfaError::Storage(format!(
            "the request could not be stored or read; nothing was changed ({e})"
        ))
    }
}
