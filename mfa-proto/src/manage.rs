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

/// What `BeginCodeEnrollment` returns: a code was sent to the new address or number.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct CodeEnrollmentStart {
    /// Id to confirm the enrollment with (`ConfirmCodeEnrollment`).
    pub enrollment: String,
    /// Where the code went, masked (`a•••e@ex•••.org`, `+4•••••••89`).
    pub sent_to: String,
    /// Seconds the code stays valid.
    pub valid_secs: u32,
}

/// What `BeginFido2Enrollment` returns: what the security key needs for make_credential.
/// Nothing is secret here; the pending enrollment is bound to the calling connection.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct Fido2EnrollmentStart {
    /// Id to finish the enrollment with.
    pub enrollment: String,
    /// The relying-party ID to create the credential for (`pam_mfa://HOSTNAME`).
    pub rp_id: String,
    /// The challenge (its SHA-256 is the client data hash the key signs).
    pub challenge: Vec<u8>,
    /// The user handle to give the key (random; a key that stores it learns nothing).
    pub user_id: Vec<u8>,
    /// The user's existing credential IDs: a key holding one refuses to enroll twice.
    pub exclude_credential_ids: Vec<Vec<u8>>,
}

/// A token as listed: never its secret.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct TokenInfo {
    /// Stable id (decimal).
    pub id: String,
    /// The owner.
    pub user: String,
    /// `totp`, `fido2` or `ssh-sk`.
    pub kind: String,
    /// The token's name.
    pub name: String,
    /// TOTP algorithm, a FIDO2 credential's (`ES256`, `EdDSA`), or an SSH key's type
    /// (`sk-ecdsa-sha2-nistp256@openssh.com`).
    pub algorithm: String,
    /// TOTP digits (0 for other kinds).
    pub digits: u32,
    /// TOTP period in seconds (0 for other kinds).
    pub period: u32,
    /// Unix time of enrollment.
    pub created: i64,
    /// Unix time of the last successful use, 0 if never.
    pub last_used: i64,
    /// What identifies the token besides its name: an SSH key's SHA256 fingerprint; a
    /// FIDO2 credential's algorithm, relying-party ID and whether it needs the PIN; empty for
    /// TOTP.
    pub detail: String,
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
    /// Sends a code to a new email address (`method` = "email") or phone number ("sms",
    /// E.164); nothing is stored until `ConfirmCodeEnrollment` gets the code back. Calling it
    /// again for the same user and method sends a fresh code (within the send limits).
    fn begin_code_enrollment(
        &self,
        user: &str,
        method: &str,
        address: &str,
        name: &str,
    ) -> Result<CodeEnrollmentStart, MfaError>;
    /// Saves the address when `code` is the one sent, in one transaction.
    fn confirm_code_enrollment(&self, enrollment: &str, code: &str) -> Result<TokenInfo, MfaError>;
    /// Root and the admin group only: saves an address without sending a code (bulk
    /// provisioning of addresses known to be right).
    fn enroll_verified_address(
        &self,
        user: &str,
        method: &str,
        address: &str,
        name: &str,
    ) -> Result<TokenInfo, MfaError>;
    /// Lists `user`'s tokens (never their secrets).
    fn list_tokens(&self, user: &str) -> Result<Vec<TokenInfo>, MfaError>;
    /// Removes one of `user`'s tokens, by id or by name.
    fn remove_token(&self, user: &str, token: &str) -> Result<(), MfaError>;
    /// Clears `user`'s failure counter, back-off and administrative lock (admin only).
    fn unlock(&self, user: &str) -> Result<(), MfaError>;
    /// Locks `user`'s second factor: every login that would ask for one is denied until
    /// `Unlock` (admin only). `reason` is shown to admins in `Status`, never to the user.
    fn lock(&self, user: &str, reason: &str) -> Result<(), MfaError>;
    /// Sets the rule for a PAM service (`*` is the default for services without a rule):
    /// `required`, `optional` or `off`; `unset` removes the rule (admin only). `methods`
    /// lists the methods allowed there ([`METHOD_NAMES`]); empty allows every method.
    fn set_service_policy(
        &self,
        service: &str,
        mode: &str,
        methods: &[&str],
    ) -> Result<(), MfaError>;
    /// The service rules, sorted by service name (`*` first when set).
    fn service_policies(&self) -> Result<Vec<ServicePolicy>, MfaError>;
    /// The whole policy: service rules, enforced groups, who may turn on always-require,
    /// and the grace deadlines.
    fn policy(&self) -> Result<PolicyOverview, MfaError>;
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
    /// Who may turn always-require on for themselves: `all`, `none` or `group:NAME` (admin
    /// only). Admins may always set it for anyone.
    fn set_always_require_permission(&self, allow: &str) -> Result<(), MfaError>;
    /// Turns "always require MFA" on or off for `user`. Turning it on needs an enrolled
    /// token and, for non-admins, the permission. A non-admin turning it off needs a fresh
    /// step-up (`BeginStepUp`) on the same connection, else `StepUpRequired`.
    fn set_always_require(&self, user: &str, on: bool) -> Result<(), MfaError>;
    /// Gives `subject` (a user name, or `group:NAME`) until `until` (Unix time) to enroll;
    /// `until` 0 removes the deadline (admin only).
    fn set_grace(&self, subject: &str, until: i64) -> Result<(), MfaError>;
    /// Creates [`RECOVERY_CODE_COUNT`] new one-time recovery codes for `user`, replacing any
    /// earlier set, and returns them: they are shown once and stored only as salted hashes.
    /// A non-admin who already has a token needs a fresh step-up first.
    fn generate_recovery_codes(&self, user: &str) -> Result<Vec<String>, MfaError>;
    /// How many unused recovery codes `user` has.
    fn recovery_codes_left(&self, user: &str) -> Result<u32, MfaError>;
    /// Enrolls an SSH security key for `user` (empty: the caller): `public_key` is one line
    /// of an OpenSSH `.pub` file of type `sk-ecdsa-sha2-nistp256@openssh.com` or
    /// `sk-ssh-ed25519@openssh.com`; `name` empty takes the key's comment. When sshd reports
    /// (`SSH_AUTH_INFO_0`) that exactly this key authenticated the connection, no code is
    /// asked. A non-admin who already has a factor needs a fresh step-up first.
    fn enroll_ssh_sk(
        &self,
        user: &str,
        name: &str,
        public_key: &str,
    ) -> Result<TokenInfo, MfaError>;
    /// Starts enrolling a FIDO2 security key for `user` (empty: the caller) as token `name`
    /// (empty: `fido2`, `fido2-2`, …). `require_uv` makes every login with it need user
    /// verification (the key's PIN or built-in biometric) besides the touch. The caller
    /// runs make_credential on the key with what this returns, then `FinishFido2Enrollment`.
    fn begin_fido2_enrollment(
        &self,
        user: &str,
        name: &str,
        require_uv: bool,
    ) -> Result<Fido2EnrollmentStart, MfaError>;
    /// Verifies the key's attestation object (its RP ID, the touch, UV when required, the
    /// signature over the challenge) and, only then, saves the credential in one
    /// transaction. A non-admin who already has a factor needs a fresh step-up first.
    fn finish_fido2_enrollment(
        &self,
        enrollment: &str,
        attestation_object: &[u8],
    ) -> Result<TokenInfo, MfaError>;
    /// `Login1.Fido2Request` for a step-up flow.
    fn step_up_fido2_request(
        &self,
        flow: &str,
    ) -> Result<(String, Vec<u8>, Vec<Vec<u8>>, bool), MfaError>;
    /// `Login1.AnswerFido2` for a step-up flow.
    fn answer_step_up_fido2(
        &self,
        flow: &str,
        credential_id: &[u8],
        authenticator_data: &[u8],
        signature: &[u8],
    ) -> Result<crate::WireStep, MfaError>;
    /// `Login1.Fido2Unavailable` for a step-up flow.
    fn step_up_fido2_unavailable(
        &self,
        flow: &str,
        reason: &str,
    ) -> Result<crate::WireStep, MfaError>;
    /// Starts a step-up: a fresh second factor from `user` (empty: the caller), asked like
    /// a login with every method the user has. An `allow` step grants this connection one
    /// sensitive change to that user within [`STEP_UP_TTL_SECS`].
    fn begin_step_up(&self, user: &str) -> Result<crate::WireStep, MfaError>;
    /// Answers a step-up prompt.
    fn answer_step_up(&self, flow: &str, answer: &str) -> Result<crate::WireStep, MfaError>;
}

/// Names of the second-factor methods, in the order the chooser offers them.
pub const METHOD_NAMES: &[&str] = &["totp", "fido2", "email", "sms", "ssh-sk", "recovery"];
/// How many recovery codes a set holds.
pub const RECOVERY_CODE_COUNT: usize = 10;
/// How long a successful step-up stays usable, in seconds.
pub const STEP_UP_TTL_SECS: u64 = 120;

/// The answer of `Policy`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct PolicyOverview {
    /// The service rules (`*` first when set).
    pub services: Vec<ServicePolicy>,
    /// Groups whose members must use MFA on every service that is not off.
    pub enforced_groups: Vec<String>,
    /// Who may turn on always-require: `all`, `none` or `group:NAME`.
    pub always_require_allow: String,
    /// Enrollment deadlines, sorted by subject.
    pub grace: Vec<GraceDeadline>,
}

/// One enrollment deadline.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct GraceDeadline {
    /// A user name, or `group:NAME`.
    pub subject: String,
    /// Unix time until which a user without a token is let in with a warning.
    pub until: i64,
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
    /// Whether only an admin unlock reopens the account (too many failures).
    pub locked_out: bool,
    /// For each service with a rule (and `*`), the `Explain` decision code as `mode` and
    /// the methods the user could use there as `methods`.
    pub services: Vec<ServicePolicy>,
    /// Whether the user asked to be asked on every service.
    pub always_require: bool,
    /// Whether an administrator locked the user's second factor (`Lock`).
    pub admin_locked: bool,
    /// The reason given with `Lock` (empty when not locked).
    pub lock_reason: String,
    /// Unused recovery codes.
    pub recovery_codes_left: u32,
    /// The enrollment deadline that applies to the user (0: none).
    pub grace_until: i64,
}

/// The answer of `Explain`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct PolicyExplanation {
    /// `ask` (a factor will be asked), `deny-not-enrolled` (needed, but no usable method:
    /// denied), `grace` (needed, no usable method, let in with a warning until the
    /// deadline), `deny-locked` (an administrator locked the user) or `not-required` (the
    /// module returns PAM_IGNORE).
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
    /// The methods allowed there; empty means every method.
    pub methods: Vec<String>,
}
