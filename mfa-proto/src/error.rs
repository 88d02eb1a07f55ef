//! The one error type of the bus API, with stable D-Bus error names.

use zbus::DBusError;

/// Errors returned by `mfad` over D-Bus.
///
/// Each variant maps to the stable name `org.pam_mfa.Error.<Variant>`; the string is a
/// message a sysadmin can act on. Clients match on the variant, never on the text.
#[derive(DBusError, Debug, Clone, PartialEq)]
#[zbus(prefix = "org.pam_mfa.Error")]
pub enum MfaError {
    /// Transport or protocol failure below the API (bus unreachable, timeout, bad reply).
    #[zbus(error)]
    ZBus(zbus::Error),
    /// The caller's UID may not do this (acting on another user, or a root-only method).
    AccessDenied(String),
    /// The user name is not valid (empty, too long, control characters, …).
    InvalidUser(String),
    /// The user does not exist on this host (NSS has no entry).
    UnknownUser(String),
    /// An argument is malformed or out of range; the message names it.
    InvalidArgument(String),
    /// No token with that id or name for that user.
    UnknownToken(String),
    /// The enrollment id is unknown, expired or belongs to another caller.
    UnknownEnrollment(String),
    /// The login flow is unknown, expired, finished or belongs to another caller.
    UnknownFlow(String),
    /// The confirmation code did not verify; nothing was saved.
    CodeRejected(String),
    /// A token with that name already exists for the user.
    AlreadyExists(String),
    /// Too many failed attempts; the message says when the user may try again.
    RateLimited(String),
    /// The change needs a fresh second factor from the user first (`BeginStepUp`).
    StepUpRequired(String),
    /// The user has no enrolled token, and the request needs one.
    NotEnrolled(String),
    /// A code could not be sent by email or SMS (mail server or gateway down, refused,
    /// timed out); nothing was saved and no failure was counted.
    Undeliverable(String),
    /// The daemon's storage failed; the request changed nothing.
    Storage(String),
    /// An internal fault; the request changed nothing.
    Internal(String),
}

impl MfaError {
    /// The message without the D-Bus error name, for showing to a person.
    pub fn message(&self) -> String {
        match self {
            MfaError::ZBus(zbus::Error::MethodError(_, Some(msg), _)) => msg.clone(),
            MfaError::ZBus(e) => e.to_string(),
            MfaError::AccessDenied(m)
            | MfaError::InvalidUser(m)
            | MfaError::UnknownUser(m)
            | MfaError::InvalidArgument(m)
            | MfaError::UnknownToken(m)
            | MfaError::UnknownEnrollment(m)
            | MfaError::UnknownFlow(m)
            | MfaError::CodeRejected(m)
            | MfaError::AlreadyExists(m)
            | MfaError::RateLimited(m)
            | MfaError::Undeliverable(m)
            | MfaError::StepUpRequired(m)
            | MfaError::NotEnrolled(m)
            | MfaError::Storage(m)
            | MfaError::Internal(m) => m.clone(),
        }
    }
}
