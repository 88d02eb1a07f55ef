//! What can stop a benchmark run, with messages that say what to do about it.

use std::path::Path;

/// Why the benchmark could not run or could not trust its own numbers.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A file or process operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done (names the path or program).
        what: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Something the benchmark needs is missing or unusable (root, a package, a binary).
    #[error("{0}")]
    Setup(String),
    /// A measured operation did not do what it must (a login that should succeed did not,
    /// a denial came with the wrong code): the timings would be meaningless.
    #[error("measurement aborted: {0}")]
    Invalid(String),
    /// A D-Bus call failed outside of what was being measured.
    #[error("D-Bus: {0}")]
    Bus(String),
}

/// Results of this crate.
pub type Result<T> = std::result::Result<T, BenchError>;

impl BenchError {
    /// An I/O error about `what`.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        BenchError::Io {
            what: what.into(),
            source,
        }
    }

    /// An I/O error about `path`, prefixed by the action (`"write"`, `"read"`, …).
    pub fn path(action: &str, path: &Path, source: std::io::Error) -> Self {
        BenchError::io(format!("{action} {}", path.display()), source)
    }
}

impl From<zbus::Error> for BenchError {
    fn from(e: zbus::Error) -> Self {
        BenchError::Bus(e.to_string())
    }
}

impl From<zbus::fdo::Error> for BenchError {
    fn from(e: zbus::fdo::Error) -> Self {
        BenchError::Bus(e.to_string())
    }
}

impl From<mfa_proto::MfaError> for BenchError {
    fn from(e: mfa_proto::MfaError) -> Self {
        BenchError::Bus(e.message())
    }
}
