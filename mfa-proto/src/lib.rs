//! The D-Bus contract of pam_mfa.
//!
//! `mfad` owns [`BUS_NAME`] on the system bus and serves two versioned interfaces at
//! [`OBJECT_PATH`]:
//! - [`LOGIN_INTERFACE`] drives a login conversation (Begin → Prompt → Answer → Allow/Deny/…).
//!   The PAM module is a thin loop over it; every decision is the daemon's.
//! - [`MANAGE_INTERFACE`] enrolls, lists and removes tokens, authorised by the caller's Unix
//!   UID as the bus reports it.
//!
//! This crate holds only names, wire types, the error enum and client proxies, so the PAM
//! module can link it without SQLite, TOTP code or an async runtime of its own.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod error;
mod limits;
mod login;
mod manage;
pub mod message;

pub use error::MfaError;
pub use limits::*;
pub use login::{
    DenyReason, FIDO2_TOUCH_TEXT, LoginFacts, LoginProxy, RefusedAnswer, Step, StepKind, WireStep,
};
pub use manage::{
    CodeEnrollmentStart, EnrollmentStart, Fido2EnrollmentStart, GraceDeadline, METHOD_NAMES,
    ManageProxy, PolicyExplanation, PolicyOverview, RECOVERY_CODE_COUNT, STEP_UP_TTL_SECS,
    ServicePolicy, TokenInfo, TotpAlgorithm, TotpEnrollOptions, UserStatus, WhoAmI,
};

/// Well-known bus name owned by `mfad`. Only root may own it (see contrib/dbus).
pub const BUS_NAME: &str = "org.pam_mfa.Mfad";
/// Object path of the daemon's single object.
pub const OBJECT_PATH: &str = "/org/pam_mfa/Mfad";
/// Interface that drives logins.
pub const LOGIN_INTERFACE: &str = "org.pam_mfa.Login1";
/// Interface for enrollment and administration.
pub const MANAGE_INTERFACE: &str = "org.pam_mfa.Manage1";
/// Prefix of every D-Bus error name the daemon returns.
pub const ERROR_PREFIX: &str = "org.pam_mfa.Error";
/// The system bus socket. Clients that must not trust their environment (the PAM module)
/// connect here unless root-owned configuration names another address.
pub const SYSTEM_BUS_ADDRESS: &str = "unix:path=/run/dbus/system_bus_socket";
/// The introspection XML of both interfaces, checked into the repository; a test compares
/// it with what the daemon serves.
pub const INTROSPECTION_XML: &str = include_str!("../org.pam_mfa.Mfad.xml");
