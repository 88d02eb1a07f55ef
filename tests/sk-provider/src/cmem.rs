//! Handing memory to OpenSSH: everything it receives is released with `free(3)`, so every
//! buffer and response struct is allocated here with libc `malloc`/`calloc`.

use std::ptr;

use crate::abi::{SkEnrollResponse, SkSignResponse};
use crate::authenticator::{Enrolled, Signed, SkError};

/// A libc-allocated copy of `bytes` (never NULL on success, even for an empty slice, since
/// OpenSSH treats NULL as "missing") and its length.
fn malloc_copy(bytes: &[u8]) -> Result<(*mut u8, usize), SkError> {
    // SAFETY: malloc(3) with a non-zero size; the result is checked for NULL.
    let p = unsafe { libc::malloc(bytes.len().max(1)) }.cast::<u8>();
    if p.is_null() {
        return Err(SkError::General);
    }
    // SAFETY: `p` is a fresh allocation of at least `bytes.len()` bytes, which cannot
    // overlap `bytes`.
    unsafe { ptr::copy_nonoverlapping(bytes.as_ptr(), p, bytes.len()) };
    Ok((p, bytes.len()))
}

/// Frees a buffer from [`malloc_copy`] (NULL is fine), wiping it first.
fn free_wiped(p: *mut u8, len: usize) {
    if p.is_null() {
        return;
    }
    // SAFETY: `p` came from `malloc_copy` with `len` bytes; volatile writes so the wipe of
    // key material is not optimised away, then free(3) of that allocation.
    unsafe {
        for i in 0..len {
            ptr::write_volatile(p.add(i), 0);
        }
        libc::free(p.cast());
    }
}

/// A zeroed `T` from `calloc`, for OpenSSH to `free`.
fn calloc_struct<T>() -> Result<*mut T, SkError> {
    // SAFETY: calloc(3) with count 1 and the struct's size; checked for NULL. An all-zero
    // value is valid for our response structs (integers and NULL pointers).
    let p = unsafe { libc::calloc(1, std::mem::size_of::<T>()) }.cast::<T>();
    if p.is_null() {
        Err(SkError::General)
    } else {
        Ok(p)
    }
}

/// `enrolled` as a `malloc`ed `struct sk_enroll_response` (no attestation: NULL, 0).
pub fn enroll_response(enrolled: &Enrolled) -> Result<*mut SkEnrollResponse, SkError> {
    let resp = calloc_struct::<SkEnrollResponse>()?;
    let filled = (|| {
        let (pk, pk_len) = malloc_copy(&enrolled.public_key)?;
        // SAFETY: `resp` is a live, zeroed, exclusively owned allocation of the struct.
        unsafe {
            (*resp).flags = enrolled.flags;
            (*resp).public_key = pk;
            (*resp).public_key_len = pk_len;
        }
        let (kh, kh_len) = malloc_copy(&enrolled.key_handle)?;
        // SAFETY: as above.
        unsafe {
            (*resp).key_handle = kh;
            (*resp).key_handle_len = kh_len;
        }
        Ok(())
    })();
    match filled {
        Ok(()) => Ok(resp),
        Err(e) => {
            // SAFETY: `resp` was made just above by `calloc_struct` and `malloc_copy`, and
            // is not handed out.
            unsafe { free_enroll_response(resp) };
            Err(e)
        }
    }
}

/// `signed` as a `malloc`ed `struct sk_sign_response`.
pub fn sign_response(signed: &Signed) -> Result<*mut SkSignResponse, SkError> {
    let resp = calloc_struct::<SkSignResponse>()?;
    let filled = (|| {
        // SAFETY: `resp` is a live, zeroed, exclusively owned allocation of the struct.
        unsafe {
            (*resp).flags = signed.flags;
            (*resp).counter = signed.counter;
        }
        let (r, r_len) = malloc_copy(&signed.sig_r)?;
        // SAFETY: as above.
        unsafe {
            (*resp).sig_r = r;
            (*resp).sig_r_len = r_len;
        }
        if let Some(s) = &signed.sig_s {
            let (s, s_len) = malloc_copy(s)?;
            // SAFETY: as above.
            unsafe {
                (*resp).sig_s = s;
                (*resp).sig_s_len = s_len;
            }
        }
        Ok(())
    })();
    match filled {
        Ok(()) => Ok(resp),
        Err(e) => {
            // SAFETY: as in `enroll_response`.
            unsafe { free_sign_response(resp) };
            Err(e)
        }
    }
}

/// Frees what [`enroll_response`] made (as OpenSSH would). For error paths and tests.
///
/// # Safety
/// `resp` is NULL or came from [`enroll_response`] and is not used afterwards.
pub unsafe fn free_enroll_response(resp: *mut SkEnrollResponse) {
    if resp.is_null() {
        return;
    }
    // SAFETY: per this function's contract `resp` came from `calloc_struct` and its buffers
    // from `malloc_copy` (or are NULL); nobody uses it afterwards.
    unsafe {
        free_wiped((*resp).public_key, (*resp).public_key_len);
        free_wiped((*resp).key_handle, (*resp).key_handle_len);
        free_wiped((*resp).signature, (*resp).signature_len);
        free_wiped((*resp).attestation_cert, (*resp).attestation_cert_len);
        free_wiped((*resp).authdata, (*resp).authdata_len);
        libc::free(resp.cast());
    }
}

/// Frees what [`sign_response`] made (as OpenSSH would). For error paths and tests.
///
/// # Safety
/// `resp` is NULL or came from [`sign_response`] and is not used afterwards.
pub unsafe fn free_sign_response(resp: *mut SkSignResponse) {
    if resp.is_null() {
        return;
    }
    // SAFETY: as in `free_enroll_response`.
    unsafe {
        free_wiped((*resp).sig_r, (*resp).sig_r_len);
        free_wiped((*resp).sig_s, (*resp).sig_s_len);
        libc::free(resp.cast());
    }
}
