//! # TEST-ONLY OpenSSH security-key middleware. Never install it, never use it for real keys.
//!
//! OpenSSH talks to FIDO security keys through a small C ABI (`sk-api.h`): `ssh-keygen -w
//! PROVIDER` and `ssh -o SecurityKeyProvider=PROVIDER` load a shared library exporting
//! `sk_api_version`, `sk_enroll`, `sk_sign` and `sk_load_resident_keys`. This library is such
//! a provider whose "security key" is software, so the end-to-end tests can create genuine
//! `sk-ecdsa-sha2-nistp256@openssh.com` and `sk-ssh-ed25519@openssh.com` keys and signatures
//! that the real `sshd` verifies, on a machine without hardware.
//!
//! **Why it is test-only:** a real authenticator keeps the private key inside the device and
//! returns an opaque, device-encrypted key handle. Here the key handle *is* the private key
//! (plus a marker and the application's hash), so the "sk" private key file on disk holds the
//! secret in clear (or under its passphrase only): there is no second factor in it at all,
//! and no touch is ever needed. The crate is a workspace member but not a default member,
//! `publish = false`, and `make install` does not know it.
//!
//! What it does:
//! - `sk_enroll`: fresh random P-256 or Ed25519 key; the key's flags are the requested
//!   user-presence flag; no attestation. Resident keys and user verification (PIN) are
//!   refused as unsupported.
//! - `sk_sign`: signs `SHA256(application) ‖ flags ‖ counter (BE32) ‖ SHA256(data)` (FIDO
//!   authenticator data followed by the client-data hash, as OpenSSH's verifier rebuilds it)
//!   with ECDSA-SHA256 (`r` and `s` returned separately) or Ed25519 (the 64-byte signature
//!   in `sig_r`); user presence is asserted at once, without waiting; the counter grows.
//! - `sk_load_resident_keys`: unsupported (there are none).
//!
//! Every allocation handed to OpenSSH comes from libc `malloc` (OpenSSH `free`s it); no
//! panic unwinds into C (each entry point catches it and returns `SSH_SK_ERR_GENERAL`).
#![deny(missing_docs)]

mod abi;
mod authenticator;
mod cmem;

use std::ffi::{CStr, c_char, c_int};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::slice;

use abi::{API_VERSION, SkEnrollResponse, SkOption, SkResidentKey, SkSignResponse};
use authenticator::{Alg, SkError};

/// The sk-api version implemented (OpenSSH 9.2 accepts major version 10 only).
#[unsafe(no_mangle)]
pub extern "C" fn sk_api_version() -> u32 {
    API_VERSION
}

/// Enrolls a new software credential for `application`. See the crate docs.
///
/// # Safety
/// OpenSSH's contract: `application` is a NUL-terminated string, `options` NULL or a
/// NULL-terminated array of valid options, `enroll_response` a valid pointer to store into.
/// `challenge`/`pin` are not read.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_enroll(
    alg: u32,
    _challenge: *const u8,
    _challenge_len: usize,
    application: *const c_char,
    flags: u8,
    _pin: *const c_char,
    options: *mut *mut SkOption,
    enroll_response: *mut *mut SkEnrollResponse,
) -> c_int {
    guarded(|| {
        if enroll_response.is_null() {
            return Err(SkError::General);
        }
        // SAFETY: the caller's contract (see above) for `application` and `options`.
        let application = unsafe { c_str(application) }?;
        // SAFETY: as above.
        unsafe { check_options(options) }?;
        let enrolled = authenticator::enroll(Alg::from_code(alg)?, application, flags)?;
        let resp = cmem::enroll_response(&enrolled)?;
        // SAFETY: `enroll_response` is non-NULL and, per the contract, writable.
        unsafe { *enroll_response = resp };
        Ok(())
    })
}

/// Signs `data` with the credential in `key_handle`. See the crate docs.
///
/// # Safety
/// OpenSSH's contract: `data` points to `data_len` bytes, `key_handle` to `key_handle_len`
/// bytes, `application` is NUL-terminated, `options` NULL or a NULL-terminated array,
/// `sign_response` a valid pointer to store into. `pin` is not read.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_sign(
    alg: u32,
    data: *const u8,
    data_len: usize,
    application: *const c_char,
    key_handle: *const u8,
    key_handle_len: usize,
    flags: u8,
    _pin: *const c_char,
    options: *mut *mut SkOption,
    sign_response: *mut *mut SkSignResponse,
) -> c_int {
    guarded(|| {
        if sign_response.is_null() {
            return Err(SkError::General);
        }
        // SAFETY: the caller's contract (see above) for every pointer read here.
        let (application, data, handle) = unsafe {
            (
                c_str(application)?,
                bytes(data, data_len)?,
                bytes(key_handle, key_handle_len)?,
            )
        };
        // SAFETY: as above.
        unsafe { check_options(options) }?;
        let signed = authenticator::sign(
            Alg::from_code(alg)?,
            data,
            application,
            handle,
            flags,
            authenticator::next_counter(),
        )?;
        let resp = cmem::sign_response(&signed)?;
        // SAFETY: `sign_response` is non-NULL and, per the contract, writable.
        unsafe { *sign_response = resp };
        Ok(())
    })
}

/// There are no resident keys on a software key: `SSH_SK_ERR_UNSUPPORTED`.
///
/// # Safety
/// Reads no pointer; writes `*nrks = 0` and `*rks = NULL` when they are non-NULL, which
/// OpenSSH's contract makes valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_load_resident_keys(
    _pin: *const c_char,
    _options: *mut *mut SkOption,
    rks: *mut *mut *mut SkResidentKey,
    nrks: *mut usize,
) -> c_int {
    // SAFETY: both are NULL-checked; per the contract non-NULL ones are writable.
    unsafe {
        if !rks.is_null() {
            *rks = std::ptr::null_mut();
        }
        if !nrks.is_null() {
            *nrks = 0;
        }
    }
    SkError::Unsupported.code()
}

/// Runs `f`, turning its error or a panic into an `SSH_SK_ERR_*` code (0 on success):
/// a panic must never unwind into OpenSSH.
fn guarded(f: impl FnOnce() -> Result<(), SkError>) -> c_int {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => 0,
        Ok(Err(e)) => e.code(),
        Err(_) => SkError::General.code(),
    }
}

/// The bytes of a NUL-terminated C string (NULL is an error).
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string that outlives the call.
unsafe fn c_str<'a>(p: *const c_char) -> Result<&'a [u8], SkError> {
    if p.is_null() {
        return Err(SkError::General);
    }
    // SAFETY: non-NULL and NUL-terminated per this function's contract.
    Ok(unsafe { CStr::from_ptr(p) }.to_bytes())
}

/// `len` bytes at `p` (NULL only with length 0).
///
/// # Safety
/// `p` is NULL or points to `len` readable bytes that outlive the call.
unsafe fn bytes<'a>(p: *const u8, len: usize) -> Result<&'a [u8], SkError> {
    if p.is_null() {
        return if len == 0 {
            Ok(&[])
        } else {
            Err(SkError::General)
        };
    }
    // SAFETY: non-NULL and `len` readable bytes per this function's contract.
    Ok(unsafe { slice::from_raw_parts(p, len) })
}

/// Refuses an option OpenSSH marks as required that we do not understand (as its own
/// middleware does). `device` and `user` are understood and have no effect here.
///
/// # Safety
/// `options` is NULL or a NULL-terminated array of pointers to valid `SkOption`s whose
/// `name` is NULL or NUL-terminated.
unsafe fn check_options(options: *mut *mut SkOption) -> Result<(), SkError> {
    if options.is_null() {
        return Ok(());
    }
    for i in 0.. {
        // SAFETY: the array is NULL-terminated, so every index up to the terminator is
        // readable; we stop at the terminator.
        let opt = unsafe { *options.add(i) };
        if opt.is_null() {
            return Ok(());
        }
        // SAFETY: a non-NULL entry points to a valid option.
        let (name, required) = unsafe { ((*opt).name, (*opt).required) };
        // SAFETY: `name` is NULL or NUL-terminated.
        let name = unsafe { c_str(name) }?;
        if required != 0 && name != b"device" && name != b"user" {
            return Err(SkError::Unsupported);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
