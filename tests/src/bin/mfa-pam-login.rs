//! A minimal PAM application for the tests: one `pam_authenticate` through the real libpam,
//! with the stack read from a private directory (`pam_start_confdir`, Linux-PAM >= 1.4), so
//! nothing in /etc is touched and no LD_PRELOAD is needed.
//!
//! Usage: `mfa-pam-login [--resources] CONFDIR SERVICE USER`
//!
//! Each prompt (echo on or off) is answered with the next line of standard input (without
//! its newline, cut at a NUL byte as C would). Every conversation message is printed on one
//! line, `\` and newlines escaped as `\\` and `\n`:
//!
//! ```text
//! PROMPT_ECHO_OFF: Verification code:
//! ERROR_MSG: Access denied\nService: mfa-test\n…
//! TEXT_INFO: …
//! NO_ANSWER                       (a prompt came after the input ran out: PAM_CONV_ERR)
//! PAM_RESULT=7 Authentication failure
//! RESOURCES threads_before=1 fds_before=3 threads_after=1 fds_after=3   (--resources)
//! ```
//!
//! Exit status 0 only for `PAM_SUCCESS`, else 1; 2 for a usage error.

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::io::{BufRead, Write};
use std::ptr;

const PAM_SUCCESS: c_int = 0;
const PAM_BUF_ERR: c_int = 5;
const PAM_CONV_ERR: c_int = 19;
const PAM_PROMPT_ECHO_OFF: c_int = 1;
const PAM_PROMPT_ECHO_ON: c_int = 2;
const PAM_ERROR_MSG: c_int = 3;
const PAM_TEXT_INFO: c_int = 4;
const PAM_MAX_NUM_MSG: c_int = 32;

#[repr(C)]
struct PamMessage {
    msg_style: c_int,
    msg: *const c_char,
}

#[repr(C)]
struct PamResponse {
    resp: *mut c_char,
    resp_retcode: c_int,
}

type ConvFn =
    extern "C" fn(c_int, *mut *const PamMessage, *mut *mut PamResponse, *mut c_void) -> c_int;

#[repr(C)]
struct PamConv {
    conv: Option<ConvFn>,
    appdata_ptr: *mut c_void,
}

#[repr(C)]
struct PamHandle {
    _opaque: [u8; 0],
}

#[link(name = "pam")]
unsafe extern "C" {
    fn pam_start_confdir(
        service_name: *const c_char,
        user: *const c_char,
        pam_conversation: *const PamConv,
        confdir: *const c_char,
        pamh: *mut *mut PamHandle,
    ) -> c_int;
    fn pam_authenticate(pamh: *mut PamHandle, flags: c_int) -> c_int;
    fn pam_end(pamh: *mut PamHandle, pam_status: c_int) -> c_int;
    fn pam_strerror(pamh: *mut PamHandle, errnum: c_int) -> *const c_char;
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\n', "\\n")
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// The next stdin line, without its newline, cut at the first NUL; None at end of input.
fn next_answer() -> Option<CString> {
    let mut buf = Vec::new();
    match std::io::stdin().lock().read_until(b'\n', &mut buf) {
        Ok(0) | Err(_) => None,
        Ok(_) => {
            if buf.last() == Some(&b'\n') {
                buf.pop();
            }
            if let Some(nul) = buf.iter().position(|&b| b == 0) {
                buf.truncate(nul);
            }
            Some(CString::new(buf).expect("no NUL left"))
        }
    }
}

/// Frees a partly filled response array (answers first, then the array).
///
/// # Safety
/// `replies` must come from `calloc(n, …)` and every non-null `resp` from `strdup`.
unsafe fn free_replies(replies: *mut PamResponse, n: usize) {
    for i in 0..n {
        // SAFETY: i < n, within the calloc'd array; resp is NULL or strdup'd (caller contract).
        unsafe { libc::free((*replies.add(i)).resp.cast()) };
    }
    // SAFETY: the array itself was calloc'd (caller contract).
    unsafe { libc::free(replies.cast()) };
}

extern "C" fn conversation(
    num_msg: c_int,
    msg: *mut *const PamMessage,
    resp: *mut *mut PamResponse,
    _appdata: *mut c_void,
) -> c_int {
    if num_msg <= 0 || num_msg > PAM_MAX_NUM_MSG || msg.is_null() || resp.is_null() {
        return PAM_CONV_ERR;
    }
    let n = num_msg as usize;
    // SAFETY: calloc with a non-zero count; libpam (the module) frees the array with free().
    let replies =
        unsafe { libc::calloc(n, std::mem::size_of::<PamResponse>()) }.cast::<PamResponse>();
    if replies.is_null() {
        return PAM_BUF_ERR;
    }
    for i in 0..n {
        // SAFETY: Linux-PAM passes an array of `num_msg` pointers to messages (msg[i]
        // convention), each with a NUL-terminated text, valid for this call.
        let (style, text) = unsafe {
            let m = *msg.add(i);
            let text = if (*m).msg.is_null() {
                String::new()
            } else {
                CStr::from_ptr((*m).msg).to_string_lossy().into_owned()
            };
            ((*m).msg_style, text)
        };
        match style {
            PAM_PROMPT_ECHO_OFF | PAM_PROMPT_ECHO_ON => {
                let kind = if style == PAM_PROMPT_ECHO_OFF {
                    "PROMPT_ECHO_OFF"
                } else {
                    "PROMPT_ECHO_ON"
                };
                say(&format!("{kind}: {}", escape(&text)));
                let Some(answer) = next_answer() else {
                    say("NO_ANSWER");
                    // SAFETY: `replies` is our calloc'd array of n entries, filled by strdup.
                    unsafe { free_replies(replies, n) };
                    return PAM_CONV_ERR;
                };
                // SAFETY: `answer` is a valid C string; strdup returns a malloc'd copy (or NULL)
                // that the module frees; `replies.add(i)` is within the array.
                unsafe {
                    let dup = libc::strdup(answer.as_ptr());
                    if dup.is_null() {
                        free_replies(replies, n);
                        return PAM_BUF_ERR;
                    }
                    (*replies.add(i)).resp = dup;
                    (*replies.add(i)).resp_retcode = 0;
                }
            }
            PAM_ERROR_MSG => say(&format!("ERROR_MSG: {}", escape(&text))),
            PAM_TEXT_INFO => say(&format!("TEXT_INFO: {}", escape(&text))),
            other => {
                say(&format!("UNKNOWN_STYLE_{other}: {}", escape(&text)));
                // SAFETY: as above.
                unsafe { free_replies(replies, n) };
                return PAM_CONV_ERR;
            }
        }
    }
    // SAFETY: `resp` is non-null (checked) and points to the caller's out-parameter.
    unsafe { *resp = replies };
    PAM_SUCCESS
}

/// `(threads, open fds)` of this process.
fn resources() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let threads = status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    // read_dir holds one fd of its own while listing.
    let fds = std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count() as u64)
        .unwrap_or(1)
        .saturating_sub(1);
    (threads, fds)
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let report = args.first().is_some_and(|a| a == "--resources");
    if report {
        args.remove(0);
    }
    let [confdir, service, user] = &args[..] else {
        eprintln!("usage: mfa-pam-login [--resources] CONFDIR SERVICE USER");
        std::process::exit(2);
    };
    let (Ok(confdir), Ok(service), Ok(user)) = (
        CString::new(confdir.as_str()),
        CString::new(service.as_str()),
        CString::new(user.as_str()),
    ) else {
        eprintln!("arguments must not contain NUL");
        std::process::exit(2);
    };

    let before = resources();
    let conv = PamConv {
        conv: Some(conversation),
        appdata_ptr: ptr::null_mut(),
    };
    let mut pamh: *mut PamHandle = ptr::null_mut();
    // SAFETY: all strings are valid C strings that outlive the handle; `conv` lives until
    // after pam_end; `pamh` is a valid out-pointer.
    let rc = unsafe {
        pam_start_confdir(
            service.as_ptr(),
            user.as_ptr(),
            &conv,
            confdir.as_ptr(),
            &mut pamh,
        )
    };
    if rc != PAM_SUCCESS || pamh.is_null() {
        say(&format!("PAM_RESULT={rc} pam_start_confdir failed"));
        std::process::exit(1);
    }
    // SAFETY: `pamh` is the live handle from pam_start_confdir.
    let rc = unsafe { pam_authenticate(pamh, 0) };
    // SAFETY: `pamh` is live; pam_strerror returns a static string (or NULL).
    let text = unsafe {
        let p = pam_strerror(pamh, rc);
        if p.is_null() {
            String::new()
        } else {
            CStr::from_ptr(p).to_string_lossy().into_owned()
        }
    };
    // SAFETY: `pamh` is live and not used afterwards.
    unsafe { pam_end(pamh, rc) };
    say(&format!("PAM_RESULT={rc} {text}"));
    if report {
        let after = resources();
        say(&format!(
            "RESOURCES threads_before={} fds_before={} threads_after={} fds_after={}",
            before.0, before.1, after.0, after.1
        ));
    }
    std::process::exit(if rc == PAM_SUCCESS { 0 } else { 1 });
}
