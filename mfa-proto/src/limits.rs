//! Input limits shared by every side, checked before any work is done.

/// Longest user name accepted anywhere (Linux `LOGIN_NAME_MAX` is 256 including the NUL).
pub const MAX_USER_LEN: usize = 255;
/// Longest PAM service name accepted.
pub const MAX_SERVICE_LEN: usize = 128;
/// Longest answer to a prompt the module forwards to the daemon. A TOTP code is 6 or 8
/// digits; anything much longer is cut by the module and refused by the daemon.
pub const MAX_ANSWER_LEN: usize = 64;
/// Longest free-text field (token name, issuer, tty, rhost).
pub const MAX_FIELD_LEN: usize = 256;
/// Longest `SSH_AUTH_INFO_0` value forwarded (it lists public keys).
pub const MAX_AUTH_INFO_LEN: usize = 16 * 1024;
/// Longest FIDO2 credential ID (WebAuthn: at most 1023 bytes).
pub const MAX_CREDENTIAL_ID_LEN: usize = 1023;
/// Longest authenticator data accepted in an assertion (37 bytes plus extensions).
pub const MAX_AUTHENTICATOR_DATA_LEN: usize = 1024;
/// Longest signature accepted (a DER ES256 signature is at most 72 bytes, EdDSA 64).
pub const MAX_SIGNATURE_LEN: usize = 256;
/// Longest attestation object accepted at enrollment (a certificate chain fits).
pub const MAX_ATTESTATION_LEN: usize = 16 * 1024;
/// Longest reason code of `Fido2Unavailable`.
pub const MAX_REASON_LEN: usize = 64;
