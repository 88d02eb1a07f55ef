//! `org.pam_mfa.Manage1`: enrollment and administration.
//!
//! Every method is authorised by the caller's UID as the bus reports it: root and members of
//! the configured admin group may act on anyone; other users only on their own account.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use zbus::Type;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::MfaError;

/// HMAC algorithm of a TOTP token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TotpAlgorithm {
    /// HMAC-SHA1, what every authenticator app supports (the default).
    #[default]
    Sha1,
    /// HMAC-SHA256.
    Sha256,
    /// HMAC-SHA512.
    Sha512,
}

impl TotpAlgorithm {
    /// The name used on the wire and in otpauth URIs (`SHA1`, `SHA256`, `SHA512`).
    pub fn as_str(self) -> &'static str {
        match self {
            TotpAlgorithm::Sha1 => "SHA1",
            TotpAlgorithm::Sha256 => "SHA256",
            TotpAlgorithm::Sha512 => "SHA512",
        }
    }
}

impl fmt::Display for TotpAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TotpAlgorithm {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_uppercase().as_str() {
            "SHA1" => Ok(TotpAlgorithm::Sha1),
            "SHA256" => Ok(TotpAlgorithm::Sha256),
            "SHA512" => Ok(TotpAlgorithm::Sha512),
            _ => Err(format!(
                "unknown TOTP algorithm {s:?} (expected sha1, sha256 or sha512)"
            )),
        }
    }
}

/// Options for a new TOTP token. Empty strings and zeros mean "the default".
#[derive(
    Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Type, Zeroize, ZeroizeOnDrop,
)]
pub struct TotpEnrollOptions {
    /// Token name, unique per user (default `totp`, then `totp-2`, …).
    pub name: String,
    /// Issuer shown by the authenticator app (default: the daemon's configured issuer).
    pub issuer: String,
    /// Base32 secret to import; empty to let the daemon generate 160 random bits.
    pub secret_base32: String,
    /// 6 or 8; 0 for the default (6).
    pub digits: u32,
    /// `SHA1`, `SHA256` or `SHA512`; empty for the default (SHA1).
    pub algorithm: String,
    /// Period in seconds, 30 or 60; 0 for the default (30).
    pub period: u32,
}

/// What `BeginTotpEnrollment` returns. The URI holds the secret: it is shown once, to the
/// enrolling caller only, and never again.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Type, Zeroize, ZeroizeOnDrop,
)]
pub struct EnrollmentStart {
    /// Id to confirm the enrollment with.
    pub enrollment: String,
    /// The `otpauth://totp/…` URI to show as a QR code.
    pub otpauth_uri: String,
    /// Unix time after which the pending enrollment is discarded.
    pub expires_at: i64,
}

/// A token as listed: never its secret.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct TokenInfo {
    /// Stable id (decimal).
    pub id: String,
    /// The owner.
    pub user: String,
    /// `totp` (later: `fido2`, `ssh-sk`, …).
    pub kind: String,
    /// The token's name.
    pub name: String,
    /// TOTP algorithm.
    pub algorithm: String,
    /// TOTP digits.
    pub digits: u32,
    /// TOTP period in seconds.
    pub period: u32,
    /// Unix time of enrollment.
    pub created: i64,
    /// Unix time of the last successful use, 0 if never.
    pub last_used: i64,
}

/// Who the daemon thinks the caller is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct WhoAmI {
    /// The caller's UID as reported by the bus.
    pub uid: u32,
    /// The user name for that UID, or empty if NSS has none.
    pub user: String,
    /// Whether the caller may act on any account (root or the admin group).
    pub admin: bool,
}

/// Client side of `org.pam_mfa.Manage1`.
#[zbus::proxy(
    interface = "org.pam_mfa.Manage1",
    default_service = "org.pam_mfa.Mfad",
    default_path = "/org/pam_mfa/Mfad"
)]
pub trait Manage {
    /// Who the daemon sees calling.
    fn who_am_i(&self) -> Result<WhoAmI, MfaError>;
    /// Generates (or imports) a TOTP secret for `user` and returns the otpauth URI. Nothing is
    /// stored until `ConfirmTotpEnrollment` verifies a code from the app.
    fn begin_totp_enrollment(
        &self,
        user: &str,
        options: &TotpEnrollOptions,
    ) -> Result<EnrollmentStart, MfaError>;
    /// Verifies `code` against the pending secret and, only then, saves the token in one
    /// transaction. The code's time step is consumed: it cannot be used again to log in.
    fn confirm_totp_enrollment(&self, enrollment: &str, code: &str) -> Result<TokenInfo, MfaError>;
    /// Discards a pending enrollment.
    fn cancel_enrollment(&self, enrollment: &str) -> Result<(), MfaError>;
    /// Lists `user`'s tokens (never their secrets).
    fn list_tokens(&self, user: &str) -> Result<Vec<TokenInfo>, MfaError>;
    /// Removes one of `user`'s tokens, by id or by name.
    fn remove_token(&self, user: &str, token: &str) -> Result<(), MfaError>;
    /// Clears `user`'s failure counter and back-off (admin only).
    fn reset_failures(&self, user: &str) -> Result<(), MfaError>;
    /// Sets the rule for a PAM service (`*` is the default for services without a rule):
    /// `required`, `optional` or `off`; `unset` removes the rule (admin only).
    fn set_service_policy(&self, service: &str, mode: &str) -> Result<(), MfaError>;
    /// The service rules, sorted by service name (`*` first when set).
    fn service_policies(&self) -> Result<Vec<ServicePolicy>, MfaError>;
    /// Enforces (or stops enforcing) MFA for the members of a Unix group, on every service
    /// whose rule is not `off` (admin only). Membership is resolved through NSS.
    fn set_group_enforcement(&self, group: &str, enforce: bool) -> Result<(), MfaError>;
    /// The groups whose members must use MFA, sorted.
    fn enforced_groups(&self) -> Result<Vec<String>, MfaError>;
    /// What a login of `user` on `service` would need, and which rules decided (root, the
    /// admin group, or the user about themselves). Changes nothing.
    fn explain(&self, user: &str, service: &str) -> Result<PolicyExplanation, MfaError>;
    /// Renames one of `user`'s tokens (by id or name) to `new_name`.
    fn rename_token(&self, user: &str, token: &str, new_name: &str) -> Result<TokenInfo, MfaError>;
    /// A user's tokens, failure state, and what each service with a rule would need.
    fn status(&self, user: &str) -> Result<UserStatus, MfaError>;
}

/// The answer of `Status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct UserStatus {
    /// The user.
    pub user: String,
    /// Their tokens (never secrets).
    pub tokens: Vec<TokenInfo>,
    /// Consecutive failed attempts.
    pub failures: u32,
    /// Unix time until which codes are refused (0: not throttled).
    pub locked_until: i64,
    /// Whether only an admin unlock reopens the account.
    pub locked_out: bool,
    /// For each service with a rule (and `*`), the `Explain` decision code.
    pub services: Vec<ServicePolicy>,
}

/// The answer of `Explain`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct PolicyExplanation {
    /// `ask` (a code will be asked), `deny-not-enrolled` (required, no token: denied) or
    /// `not-required` (the module returns PAM_IGNORE).
    pub decision: String,
    /// One line per rule consulted, in order.
    pub reasons: Vec<String>,
}

/// One service rule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct ServicePolicy {
    /// PAM service name, or `*` for the default.
    pub service: String,
    /// `required`, `optional` or `off`.
    pub mode: String,
}
