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
