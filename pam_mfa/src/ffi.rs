//! The only `unsafe` code of the module: our own conversation call, and reading and setting
//! a few PAM items.
//!
//! pamsm's `conv()` neither frees the application's `pam_response` array nor wipes the typed
//! answer (valgrind: every prompt leaks the code, notes/crates.md §5), and it dereferences a
//! NULL array. [`converse`] does it the way Linux-PAM's own `pam_prompt()` does: one message,
//! copy the answer, wipe and `free()` the string, `free()` the array.
//!
//! Contracts relied on (pam_conv(3), pam_get_item(3), Linux-PAM 1.5 `pam_vprompt`):
//! - `pam_get_item(PAM_CONV)` yields a `const struct pam_conv *` owned by libpam, valid for
//!   the duration of the module call; `PAM_TTY` and `PAM_AUTHTOK` yield a NUL-terminated
//!   string or NULL.
//! - `pam_set_item(PAM_AUTHTOK)` copies the string (and wipes and frees the old one); only
//!   modules may set it.
//! - The application's `conv` callback allocates the response array and each `resp` string
//!   with `malloc(3)`-family functions, and the module owns and frees them.

use std::ffi::{CStr, c_char, c_int, c_void};
use std::mem::{size_of, transmute_copy};
use std::ptr;

use pamsm::{Pam, PamError};
use zeroize::Zeroizing;

/// `PAM_TTY` item type (`<security/_pam_types.h>`).
const PAM_TTY: c_int = 3;
/// `PAM_CONV` item type.
const PAM_CONV: c_int = 5;
/// `PAM_AUTHTOK` item type.
const PAM_AUTHTOK: c_int = 6;
/// `PAM_SUCCESS`.
const PAM_SUCCESS: c_int = 0;

/// `struct pam_message`.
#[repr(C)]
struct PamMessage {
    msg_style: c_int,
    msg: *const c_char,
}

/// `struct pam_response`.
#[repr(C)]
struct PamResponse {
    resp: *mut c_char,
    resp_retcode: c_int,
}

/// The `conv` member of `struct pam_conv`. Linux-PAM passes `msg` as an array of pointers to
/// messages; with a single message that is also what Solaris-style callers read.
type ConvFn = unsafe extern "C" fn(
    num_msg: c_int,
    msg: *mut *const PamMessage,
    resp: *mut *mut PamResponse,
    appdata_ptr: *mut c_void,
) -> c_int;

/// `struct pam_conv`.
#[repr(C)]
struct PamConv {
    conv: Option<ConvFn>,
    appdata_ptr: *mut c_void,
}

#[link(name = "pam")]
unsafe extern "C" {
    fn pam_get_item(pamh: *const c_void, item_type: c_int, item: *mut *const c_void) -> c_int;
    fn pam_set_item(pamh: *mut c_void, item_type: c_int, item: *const c_void) -> c_int;
}

/// The style of one conversation message (`PAM_PROMPT_ECHO_OFF` … `PAM_TEXT_INFO`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum MsgStyle {
    /// A prompt whose answer is not echoed (codes).
    PromptEchoOff = 1,
    /// A prompt whose answer is echoed.
    PromptEchoOn = 2,
    /// An error message for the user.
    ErrorMsg = 3,
    /// An informational message for the user.
    TextInfo = 4,
}

// pamsm 0.5.5 (pinned `=0.5.5` in Cargo.toml) declares
// `#[repr(transparent)] pub struct Pam(pub(crate) *const c_void)`; check the size so a
// different layout fails to compile instead of reading garbage.
const _: () = assert!(size_of::<Pam>() == size_of::<*const c_void>());
const _: () = assert!(std::mem::align_of::<Pam>() == std::mem::align_of::<*const c_void>());

/// The raw `pam_handle_t *` inside pamsm's handle.
fn raw_handle(pam: &Pam) -> *const c_void {
    // SAFETY: pamsm 0.5.5 (version pinned with `=`) defines `Pam` as
    // `#[repr(transparent)] struct Pam(*const c_void)`, so its bytes are exactly one raw
    // pointer; the const asserts above check size and alignment. `transmute_copy` reads those
    // bytes without taking ownership (`Pam` has no `Drop`), and a raw pointer has no invalid
    // bit patterns.
    unsafe { transmute_copy::<Pam, *const c_void>(pam) }
}

/// Sends one message through the application's conversation function.
///
/// Returns the response string, if the application gave one, copied into memory that is
/// wiped on drop; the application's copy is wiped and freed here, and so is the response
/// array. Errors: the callback's own error code, or `PAM_CONV_ERR` when there is no
/// conversation function or it returned success without a response array.
///
/// A C string cannot contain NUL, so an answer never does: it ends at the first NUL the
/// application put in it.
pub fn converse(
    pam: &Pam,
    style: MsgStyle,
    text: &CStr,
) -> Result<Option<Zeroizing<Vec<u8>>>, PamError> {
    let pamh = raw_handle(pam);
    let mut item: *const c_void = ptr::null();
    // SAFETY: `pamh` is the live handle libpam passed to the running hook; `item` is a valid
    // out-pointer. pam_get_item(3) stores a pointer owned by libpam (or NULL) and writes
    // nothing else.
    let rc = unsafe { pam_get_item(pamh, PAM_CONV, &mut item) };
    if rc != PAM_SUCCESS {
        return Err(pam_error(rc));
    }
    if item.is_null() {
        return Err(PamError::CONV_ERR);
    }
    // SAFETY: for PAM_CONV, pam_get_item(3) returns a `const struct pam_conv *`, which
    // `PamConv` mirrors with `#[repr(C)]`; libpam keeps it alive for the whole module call
    // and nothing mutates it meanwhile. We only read it.
    let conv = unsafe { &*item.cast::<PamConv>() };
    let Some(callback) = conv.conv else {
        return Err(PamError::CONV_ERR);
    };

    let message = PamMessage {
        msg_style: style as c_int,
        msg: text.as_ptr(),
    };
    let mut messages: [*const PamMessage; 1] = [&message];
    let mut responses: *mut PamResponse = ptr::null_mut();
    // SAFETY: pam_conv(3): one message, `messages` points at one valid `pam_message` whose
    // text is a NUL-terminated string; both outlive the call. `responses` is a valid
    // out-pointer initialised to NULL. `appdata_ptr` is passed back unchanged, as required.
    let rc = unsafe { callback(1, messages.as_mut_ptr(), &mut responses, conv.appdata_ptr) };

    // SAFETY: after the callback returns, `responses` is NULL or an array of `num_msg` (= 1)
    // `pam_response`s allocated by the application with malloc, whose `resp` is NULL or a
    // malloc'd NUL-terminated string; the module owns both (pam_conv(3)). They are freed
    // here exactly once, also when the callback failed: that is what libpam's own
    // `pam_vprompt` does, so applications are written against it.
    let answer = unsafe { take_response(responses) };

    if rc != PAM_SUCCESS {
        return Err(pam_error(rc));
    }
    match answer {
        // pamsm's conv() dereferences this NULL; we refuse it.
        TakenResponse::NoArray => Err(PamError::CONV_ERR),
        TakenResponse::NoText => Ok(None),
        TakenResponse::Text(bytes) => Ok(Some(bytes)),
    }
}

/// What a response array held.
enum TakenResponse {
    /// The application returned no array.
    NoArray,
    /// The array's single entry had no string.
    NoText,
    /// The string's bytes (without the NUL), in wiping memory.
    Text(Zeroizing<Vec<u8>>),
}

/// Copies the answer out of a one-entry response array, wipes and frees the string, and
/// frees the array.
///
/// # Safety
///
/// `responses` is NULL or points at one `pam_response` allocated with `malloc` whose `resp`
/// is NULL or a `malloc`'d NUL-terminated string, and nothing else uses or frees them.
unsafe fn take_response(responses: *mut PamResponse) -> TakenResponse {
    if responses.is_null() {
        return TakenResponse::NoArray;
    }
    // SAFETY: the caller guarantees `responses` points at one valid `pam_response`.
    let text = unsafe { (*responses).resp };
    let taken = if text.is_null() {
        TakenResponse::NoText
    } else {
        // SAFETY: the caller guarantees a non-NULL `resp` is a NUL-terminated string that
        // stays valid until we free it below.
        let bytes = unsafe { CStr::from_ptr(text) }.to_bytes();
        // `to_vec` allocates exactly `len` bytes, so no copy is left behind by a regrow.
        let copy = Zeroizing::new(bytes.to_vec());
        let len = bytes.len();
        // SAFETY: `text` points at `len + 1` writable bytes (the string and its NUL), owned by
        // us; explicit_bzero(3) is not optimised away. `bytes` is not used after this.
        unsafe { libc::explicit_bzero(text.cast::<c_void>(), len + 1) };
        // SAFETY: `text` was allocated with malloc by the application and is freed once.
        unsafe { libc::free(text.cast::<c_void>()) };
        TakenResponse::Text(copy)
    };
    // SAFETY: the array was allocated with malloc by the application; nothing points into it
    // any more, and it is freed once.
    unsafe { libc::free(responses.cast::<c_void>()) };
    taken
}

/// The `PAM_TTY` item's bytes, if set.
pub fn tty(pam: &Pam) -> Result<Option<Vec<u8>>, PamError> {
    let pamh = raw_handle(pam);
    let mut item: *const c_void = ptr::null();
    // SAFETY: `pamh` is the live handle of the running hook and `item` a valid out-pointer;
    // pam_get_item(3) writes a libpam-owned pointer or NULL.
    let rc = unsafe { pam_get_item(pamh, PAM_TTY, &mut item) };
    if rc != PAM_SUCCESS {
        return Err(pam_error(rc));
    }
    if item.is_null() {
        return Ok(None);
    }
    // SAFETY: for PAM_TTY, pam_get_item(3) returns a NUL-terminated string owned by libpam
    // that stays valid until the item is changed; we copy it before returning.
    let bytes = unsafe { CStr::from_ptr(item.cast::<c_char>()) }
        .to_bytes()
        .to_vec();
    Ok(Some(bytes))
}

/// The `PAM_AUTHTOK` item (the password an earlier module collected), copied into memory
/// that is wiped on drop. `None` when unset.
pub fn authtok(pam: &Pam) -> Result<Option<Zeroizing<Vec<u8>>>, PamError> {
    let pamh = raw_handle(pam);
    let mut item: *const c_void = ptr::null();
    // SAFETY: `pamh` is the live handle of the running hook and `item` a valid out-pointer;
    // pam_get_item(3) writes a libpam-owned pointer or NULL. Modules may read PAM_AUTHTOK.
    let rc = unsafe { pam_get_item(pamh, PAM_AUTHTOK, &mut item) };
    if rc != PAM_SUCCESS {
        return Err(pam_error(rc));
    }
    if item.is_null() {
        return Ok(None);
    }
    // SAFETY: for PAM_AUTHTOK, pam_get_item(3) returns a NUL-terminated string owned by
    // libpam that stays valid until the item is changed; we copy it before returning, into
    // memory allocated for exactly its length (no copy left behind by a regrow).
    let bytes = unsafe { CStr::from_ptr(item.cast::<c_char>()) }.to_bytes();
    Ok(Some(Zeroizing::new(bytes.to_vec())))
}

/// Sets `PAM_AUTHTOK` to `password` for the next module in the stack. Our temporary C copy
/// is wiped; libpam keeps (and later wipes) its own.
pub fn set_authtok(pam: &Pam, password: &str) -> Result<(), PamError> {
    if password.contains('\0') {
        // Cannot happen with answers from a conversation (C strings), but never cut one.
        return Err(PamError::BUF_ERR);
    }
    let mut c_copy = Zeroizing::new(Vec::with_capacity(password.len() + 1));
    c_copy.extend_from_slice(password.as_bytes());
    c_copy.push(0);
    let pamh = raw_handle(pam).cast_mut();
    // SAFETY: `pamh` is the live handle libpam passed to the running hook; modules may set
    // PAM_AUTHTOK, and pam_set_item(3) copies the NUL-terminated string it is given (which
    // `c_copy` is: no inner NUL, checked above, and a trailing one) before returning.
    let rc = unsafe { pam_set_item(pamh, PAM_AUTHTOK, c_copy.as_ptr().cast::<c_void>()) };
    if rc != PAM_SUCCESS {
        return Err(pam_error(rc));
    }
    Ok(())
}

/// A libpam return code as pamsm's enum. Never `SUCCESS`: callers only pass failures.
fn pam_error(rc: c_int) -> PamError {
    match rc {
        // Codes a conversation or an item lookup can return.
        5 => PamError::BUF_ERR,
        19 => PamError::CONV_ERR,
        29 => PamError::BAD_ITEM,
        30 => PamError::CONV_AGAIN,
        4 => PamError::SYSTEM_ERR,
        26 => PamError::ABORT,
        7 => PamError::AUTH_ERR,
        // Anything else (including an out-of-range code) is a conversation failure.
        _ => PamError::CONV_ERR,
    }
}
