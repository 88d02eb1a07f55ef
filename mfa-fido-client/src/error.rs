//! What can go wrong talking to a security key.

use thiserror::Error;

/// Why make_credential or get_assertion did not return an answer from the key.
///
/// The messages are written for the person at the key (the module shows them) and say what
/// to do; [`ClientError::is_no_device`] tells the caller to fall back to other methods.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ClientError {
    /// No security key is plugged in (or none can be opened).
    #[error("no security key found: plug in your key and try again")]
    NoDevice,
    /// More than one key is plugged in; which one to use is ambiguous.
    #[error("several security keys are plugged in: leave only one and try again")]
    MultipleDevices,
    /// The key gave up waiting for a touch (or the caller's deadline passed).
    #[error("the security key was not touched in time")]
    Timeout,
    /// The key holds none of the allowed credentials: it is not a key enrolled here.
    #[error("this security key is not enrolled for this account on this host")]
    NoCredentials,
    /// The key is already enrolled for this account (it holds an excluded credential).
    #[error("this security key is already enrolled for this account")]
    CredentialExcluded,
    /// The key needs its PIN for this operation.
    #[error("the security key needs its PIN")]
    PinRequired,
    /// The PIN was wrong.
    #[error("wrong PIN for the security key")]
    PinInvalid,
    /// Too many wrong PINs: the key is locked (reset it, or re-plug it when it says so).
    #[error("the security key's PIN is blocked after too many wrong attempts")]
    PinBlocked,
    /// A PIN was given but the key has none set.
    #[error("the security key has no PIN set; set one with the key vendor's tool")]
    PinNotSet,
    /// User verification was asked for, and the key has no built-in UV nor a PIN given.
    #[error("the security key cannot verify the user (no PIN given, no built-in biometric)")]
    UserVerificationUnavailable,
    /// The key supports none of the requested algorithms.
    #[error("the security key supports neither ES256 nor EdDSA credentials")]
    UnsupportedAlgorithm,
    /// The request cannot be sent (a caller bug).
    #[error("invalid FIDO2 request: {0}")]
    InvalidRequest(String),
    /// Any other failure of the key or of the transport (details for the log).
    #[error("the security key failed: {0}")]
    Device(String),
    /// The FIDO2 library panicked; the call was abandoned safely.
    #[error("the security key library failed unexpectedly")]
    Panicked,
    /// The caller's own deadline passed with no answer from the key (the PAM module's
    /// `fido2_timeout=`): the call was abandoned, its process killed.
    #[error("the security key did not answer within {}", within(.millis))]
    NoAnswer {
        /// The deadline, in milliseconds.
        millis: u64,
    },
}

/// `1 second`, `30 seconds`, `1.5 seconds`: the deadline as the user reads it.
fn within(millis: &u64) -> String {
    match (millis / 1000, millis % 1000) {
        (1, 0) => "1 second".to_owned(),
        (s, 0) => format!("{s} seconds"),
        (s, ms) => {
            let fraction = format!("{ms:03}");
            format!("{s}.{} seconds", fraction.trim_end_matches('0'))
        }
    }
}

impl ClientError {
    /// No key to talk to: the login should offer the user's other methods, if any.
    pub fn is_no_device(&self) -> bool {
        matches!(self, ClientError::NoDevice)
    }

    /// A stable short code for the daemon and the logs (`Fido2Unavailable`'s reason).
    pub fn code(&self) -> &'static str {
        match self {
            ClientError::NoDevice => "no-device",
            ClientError::MultipleDevices => "multiple-devices",
            ClientError::Timeout => "timeout",
            ClientError::NoCredentials => "no-credentials",
            ClientError::CredentialExcluded => "credential-excluded",
            ClientError::PinRequired => "pin-required",
            ClientError::PinInvalid => "pin-invalid",
            ClientError::PinBlocked => "pin-blocked",
            ClientError::PinNotSet => "pin-not-set",
            ClientError::UserVerificationUnavailable => "uv-unavailable",
            ClientError::UnsupportedAlgorithm => "unsupported-algorithm",
            ClientError::InvalidRequest(_) => "invalid-request",
            ClientError::Device(_) => "device-error",
            ClientError::Panicked => "panicked",
            ClientError::NoAnswer { .. } => "no-answer",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ClientError;

    #[test]
    fn codes_are_distinct_short_and_plain() {
        let all = [
            ClientError::NoDevice,
            ClientError::MultipleDevices,
            ClientError::Timeout,
            ClientError::NoCredentials,
            ClientError::CredentialExcluded,
            ClientError::PinRequired,
            ClientError::PinInvalid,
            ClientError::PinBlocked,
            ClientError::PinNotSet,
            ClientError::UserVerificationUnavailable,
            ClientError::UnsupportedAlgorithm,
            ClientError::InvalidRequest("x".into()),
            ClientError::Device("x".into()),
            ClientError::Panicked,
            ClientError::NoAnswer { millis: 1000 },
        ];
        let codes: std::collections::BTreeSet<&str> = all.iter().map(ClientError::code).collect();
        assert_eq!(codes.len(), all.len());
        for c in codes {
            assert!(c.len() <= 32 && c.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'));
        }
    }

    #[test]
    fn a_missed_deadline_says_how_long_the_key_was_given() {
        let said = |millis| ClientError::NoAnswer { millis }.to_string();
        assert_eq!(
            said(1000),
            "the security key did not answer within 1 second"
        );
        assert_eq!(
            said(30_000),
            "the security key did not answer within 30 seconds"
        );
        assert_eq!(
            said(1500),
            "the security key did not answer within 1.5 seconds"
        );
        assert_eq!(
            said(2050),
            "the security key did not answer within 2.05 seconds"
        );
    }
}
