//! The middleware ABI of OpenSSH 9.2 (`sk-api.h`, API version 10), as `#[repr(C)]` Rust.
//!
//! OpenSSH `dlopen`s the provider, checks `sk_api_version()` against its own major version
//! (9.2 accepts only `0x000a....`) and then calls `sk_enroll`, `sk_sign` and
//! `sk_load_resident_keys`. Everything it receives it releases with `freezero(3)`, i.e.
//! `free(3)`: so every buffer and response struct handed over must come from libc `malloc`.
//!
//! The layouts below were written from the header's field list (names, types, order) of
//! that API version; the end-to-end tests (`tests/tests/ssh_sk.rs`) prove them against the
//! real `ssh-keygen`, `ssh` and `sshd` of the machine.

use std::ffi::c_char;

/// The API version we implement. OpenSSH compares the upper 16 bits with its own
/// (`SSH_SK_VERSION_MAJOR_MASK`) and refuses a provider that differs: 9.2 expects 10.
pub const API_VERSION: u32 = 0x000a_0000;

/// `SSH_SK_ECDSA`: ECDSA over NIST P-256 with SHA-256 (`sk-ecdsa-sha2-nistp256@openssh.com`).
pub const ALG_ECDSA: u32 = 0x00;
/// `SSH_SK_ED25519`: Ed25519 (`sk-ssh-ed25519@openssh.com`).
pub const ALG_ED25519: u32 = 0x01;

/// `SSH_SK_USER_PRESENCE_REQD`: a touch is required (and, in a signature, was given).
pub const FLAG_USER_PRESENCE: u8 = 0x01;
/// `SSH_SK_USER_VERIFICATION_REQD`: a PIN or biometric check is required.
pub const FLAG_USER_VERIFICATION: u8 = 0x04;
/// `SSH_SK_RESIDENT_KEY`: the credential is stored on the device.
pub const FLAG_RESIDENT_KEY: u8 = 0x20;

/// `SSH_SK_ERR_GENERAL`.
pub const ERR_GENERAL: i32 = -1;
/// `SSH_SK_ERR_UNSUPPORTED`.
pub const ERR_UNSUPPORTED: i32 = -2;

/// `struct sk_enroll_response`: what `sk_enroll` returns. `flags` (first, since API 9)
/// are the key's flags as the authenticator enrolled them.
#[repr(C)]
#[derive(Debug)]
pub struct SkEnrollResponse {
    /// The key's flags (`FLAG_*`).
    pub flags: u8,
    /// ECDSA: the SEC1 uncompressed point (65 bytes); Ed25519: the 32-byte public key.
    pub public_key: *mut u8,
    /// Length of `public_key`.
    pub public_key_len: usize,
    /// Opaque handle OpenSSH stores in the private key file and gives back to `sk_sign`.
    pub key_handle: *mut u8,
    /// Length of `key_handle`.
    pub key_handle_len: usize,
    /// Attestation signature (may be NULL with length 0).
    pub signature: *mut u8,
    /// Length of `signature`.
    pub signature_len: usize,
    /// Attestation certificate (may be NULL with length 0).
    pub attestation_cert: *mut u8,
    /// Length of `attestation_cert`.
    pub attestation_cert_len: usize,
    /// Authenticator data of the enrollment (may be NULL with length 0).
    pub authdata: *mut u8,
    /// Length of `authdata`.
    pub authdata_len: usize,
}

/// `struct sk_sign_response`: what `sk_sign` returns.
#[repr(C)]
#[derive(Debug)]
pub struct SkSignResponse {
    /// Flags the authenticator asserts (`FLAG_USER_PRESENCE` after a touch).
    pub flags: u8,
    /// Signature counter; sshd may be told to check that it grows.
    pub counter: u32,
    /// ECDSA: `r` as a big-endian integer; Ed25519: the whole 64-byte signature.
    pub sig_r: *mut u8,
    /// Length of `sig_r`.
    pub sig_r_len: usize,
    /// ECDSA: `s` as a big-endian integer; Ed25519: NULL.
    pub sig_s: *mut u8,
    /// Length of `sig_s`.
    pub sig_s_len: usize,
}

/// `struct sk_resident_key`: one entry of `sk_load_resident_keys` (we return none).
#[repr(C)]
#[derive(Debug)]
pub struct SkResidentKey {
    /// `ALG_*`.
    pub alg: u32,
    /// Slot on the device.
    pub slot: usize,
    /// Application (`ssh:...`), NUL-terminated.
    pub application: *mut c_char,
    /// The key as at enrollment.
    pub key: SkEnrollResponse,
    /// The key's flags.
    pub flags: u8,
    /// User id stored with the credential.
    pub user_id: *mut u8,
    /// Length of `user_id`.
    pub user_id_len: usize,
}

/// `struct sk_option`: a name/value option from OpenSSH (`device`, `user`), in a
/// NULL-terminated array.
#[repr(C)]
#[derive(Debug)]
pub struct SkOption {
    /// Option name, NUL-terminated.
    pub name: *mut c_char,
    /// Option value, NUL-terminated.
    pub value: *mut c_char,
    /// Non-zero: the middleware must fail if it does not understand the option.
    pub required: u8,
}
