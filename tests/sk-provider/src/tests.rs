//! The C entry points driven as OpenSSH drives them (pointers in, malloc'd structs out,
//! released with `free`). The real OpenSSH drives them in `tests/tests/ssh_sk.rs`.

use std::ffi::CString;
use std::ptr;

use p256::ecdsa::signature::Verifier as _;

use super::*;
use crate::abi::{ALG_ECDSA, ALG_ED25519, ERR_GENERAL, ERR_UNSUPPORTED, FLAG_USER_PRESENCE};
use crate::authenticator::signed_message;
use crate::cmem::{free_enroll_response, free_sign_response};

fn copy(p: *const u8, len: usize) -> Vec<u8> {
    assert!(!p.is_null());
    // SAFETY: the provider returned `len` bytes at `p`.
    unsafe { slice::from_raw_parts(p, len) }.to_vec()
}

/// (flags, public key, key handle) of an enrollment.
type Enrollment = (u8, Vec<u8>, Vec<u8>);
/// (flags, counter, r, s) of a signature.
type Signature = (u8, u32, Vec<u8>, Option<Vec<u8>>);

/// A new credential, through the C entry point.
fn enroll_c(alg: u32, app: &CString, options: *mut *mut SkOption) -> Result<Enrollment, c_int> {
    let challenge = [7u8; 32];
    let mut resp: *mut SkEnrollResponse = ptr::null_mut();
    // SAFETY: valid pointers for the call, as OpenSSH passes them.
    let rc = unsafe {
        sk_enroll(
            alg,
            challenge.as_ptr(),
            challenge.len(),
            app.as_ptr(),
            FLAG_USER_PRESENCE,
            ptr::null(),
            options,
            &mut resp,
        )
    };
    if rc != 0 {
        assert!(resp.is_null(), "no response on failure");
        return Err(rc);
    }
    // SAFETY: on success `resp` is a valid response the provider made.
    let r = unsafe { &*resp };
    assert!(r.signature.is_null() && r.attestation_cert.is_null() && r.authdata.is_null());
    let out = (
        r.flags,
        copy(r.public_key, r.public_key_len),
        copy(r.key_handle, r.key_handle_len),
    );
    // SAFETY: made by the provider, read above, not used again.
    unsafe { free_enroll_response(resp) };
    Ok(out)
}

/// A signature, through the C entry point.
fn sign_c(alg: u32, app: &CString, handle: &[u8], data: &[u8]) -> Result<Signature, c_int> {
    let mut resp: *mut SkSignResponse = ptr::null_mut();
    // SAFETY: valid pointers for the call, as OpenSSH passes them.
    let rc = unsafe {
        sk_sign(
            alg,
            data.as_ptr(),
            data.len(),
            app.as_ptr(),
            handle.as_ptr(),
            handle.len(),
            FLAG_USER_PRESENCE,
            ptr::null(),
            ptr::null_mut(),
            &mut resp,
        )
    };
    if rc != 0 {
        return Err(rc);
    }
    // SAFETY: on success `resp` is a valid response the provider made.
    let r = unsafe { &*resp };
    let s = (!r.sig_s.is_null()).then(|| copy(r.sig_s, r.sig_s_len));
    let out = (r.flags, r.counter, copy(r.sig_r, r.sig_r_len), s);
    // SAFETY: made by the provider, read above, not used again.
    unsafe { free_sign_response(resp) };
    Ok(out)
}

#[test]
fn the_api_version_is_the_one_openssh_9_2_accepts() {
    assert_eq!(sk_api_version() & 0xffff_0000, 0x000a_0000);
}

#[test]
fn ecdsa_enroll_then_sign_through_the_c_abi_gives_a_valid_signature() {
    let app = CString::new("ssh:").expect("app");
    let (flags, pk, handle) = enroll_c(ALG_ECDSA, &app, ptr::null_mut()).expect("enroll");
    assert_eq!(flags, FLAG_USER_PRESENCE);
    let (sflags, counter, r, s) = sign_c(ALG_ECDSA, &app, &handle, b"session data").expect("sign");
    assert_eq!(sflags, FLAG_USER_PRESENCE);
    let mut rs = r;
    rs.extend_from_slice(&s.expect("s"));
    let sig = p256::ecdsa::Signature::from_slice(&rs).expect("sig");
    let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(&pk).expect("key");
    let msg = signed_message(b"ssh:", sflags, counter, b"session data");
    assert!(vk.verify(&msg, &sig).is_ok());
    // A second signature has a larger counter.
    let (_, counter2, _, _) = sign_c(ALG_ECDSA, &app, &handle, b"x").expect("sign");
    assert!(counter2 > counter);
}

#[test]
fn ed25519_enroll_then_sign_through_the_c_abi() {
    let app = CString::new("ssh:test").expect("app");
    let (_, pk, handle) = enroll_c(ALG_ED25519, &app, ptr::null_mut()).expect("enroll");
    let (flags, counter, sig, s) = sign_c(ALG_ED25519, &app, &handle, b"d").expect("sign");
    assert!(s.is_none());
    let vk = ed25519_dalek::VerifyingKey::from_bytes(&pk.try_into().expect("32")).expect("key");
    let sig = ed25519_dalek::Signature::from_slice(&sig).expect("64");
    assert!(
        vk.verify_strict(&signed_message(b"ssh:test", flags, counter, b"d"), &sig)
            .is_ok()
    );
}

#[test]
fn a_key_handle_for_another_application_is_refused() {
    let app = CString::new("ssh:").expect("app");
    let other = CString::new("ssh:other").expect("app");
    let (_, _, handle) = enroll_c(ALG_ECDSA, &app, ptr::null_mut()).expect("enroll");
    assert_eq!(
        sign_c(ALG_ECDSA, &other, &handle, b"d").err(),
        Some(ERR_GENERAL)
    );
}

#[test]
fn an_unknown_required_option_is_refused_and_known_ones_pass() {
    let app = CString::new("ssh:").expect("app");
    let names = [
        CString::new("device").expect("n"),
        CString::new("frobnicate").expect("n"),
    ];
    let mut value = CString::new("v").expect("v").into_bytes_with_nul();
    let mut device = SkOption {
        name: names[0].as_ptr().cast_mut(),
        value: value.as_mut_ptr().cast(),
        required: 1,
    };
    let mut unknown = SkOption {
        name: names[1].as_ptr().cast_mut(),
        value: value.as_mut_ptr().cast(),
        required: 1,
    };
    let mut known: [*mut SkOption; 2] = [&mut device, ptr::null_mut()];
    assert!(enroll_c(ALG_ECDSA, &app, known.as_mut_ptr()).is_ok());
    let mut both: [*mut SkOption; 3] = [&mut device, &mut unknown, ptr::null_mut()];
    assert_eq!(
        enroll_c(ALG_ECDSA, &app, both.as_mut_ptr()).err(),
        Some(ERR_UNSUPPORTED)
    );
    // Not required: ignored.
    unknown.required = 0;
    let mut optional: [*mut SkOption; 2] = [&mut unknown, ptr::null_mut()];
    assert!(enroll_c(ALG_ECDSA, &app, optional.as_mut_ptr()).is_ok());
}

#[test]
fn null_pointers_and_unknown_algorithms_are_errors_not_crashes() {
    let mut resp: *mut SkEnrollResponse = ptr::null_mut();
    // SAFETY: NULL application: the provider must refuse it without reading.
    let rc = unsafe {
        sk_enroll(
            0,
            ptr::null(),
            0,
            ptr::null(),
            1,
            ptr::null(),
            ptr::null_mut(),
            &mut resp,
        )
    };
    assert_eq!(rc, ERR_GENERAL);
    assert!(resp.is_null());
    let app = CString::new("ssh:").expect("app");
    assert_eq!(
        enroll_c(5, &app, ptr::null_mut()).err(),
        Some(ERR_UNSUPPORTED)
    );
    let mut sresp: *mut SkSignResponse = ptr::null_mut();
    // SAFETY: NULL key handle with a non-zero length must be refused without reading.
    let rc = unsafe {
        sk_sign(
            0,
            ptr::null(),
            0,
            app.as_ptr(),
            ptr::null(),
            10,
            1,
            ptr::null(),
            ptr::null_mut(),
            &mut sresp,
        )
    };
    assert_eq!(rc, ERR_GENERAL);
    assert!(sresp.is_null());
}

#[test]
fn resident_keys_are_unsupported_and_none_are_returned() {
    // A non-NULL sentinel: the provider must overwrite it.
    let mut rks: *mut *mut SkResidentKey = ptr::dangling_mut();
    let mut n: usize = 3;
    // SAFETY: valid out-pointers.
    let rc = unsafe { sk_load_resident_keys(ptr::null(), ptr::null_mut(), &mut rks, &mut n) };
    assert_eq!(rc, ERR_UNSUPPORTED);
    assert!(rks.is_null());
    assert_eq!(n, 0);
}
