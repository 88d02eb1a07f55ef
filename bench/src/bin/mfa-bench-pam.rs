//! The in-process PAM application of `make bench`: one process running many
//! `pam_start_confdir` → `pam_authenticate` → `pam_end` in a row through the real libpam,
//! as a long-lived PAM application (or an sshd child) would.
//!
//! Usage: `mfa-bench-pam CONFDIR PLAN`
//!
//! Each line of PLAN is `SERVICE USER CODE` (CODE `-`: none expected); every prompt of that
//! login is answered with CODE. Output, one line per login, after a first line
//! `BASELINE threads=N`:
//!
//! ```text
//! RESULT rc=0 ns=812345 prompts=1 threads=1
//! ```
//!
//! `ns` spans `pam_start_confdir` to the return of `pam_end`; `threads` is this process's
//! thread count right after `pam_end` (a module must leave none behind). Exit status 0 when
//! every line ran (whatever the PAM results, which the caller checks), 2 on bad usage.

use std::ffi::{CString, c_char, c_int, c_void};
use std::io::{BufWriter, Write};
use std::ptr;
use std::time::Instant;

const PAM_SUCCESS: c_int = 0;
const PAM_BUF_ERR: c_int = 5;
const PAM_CONV_ERR: c_int = 19;
const PAM_PROMPT_ECHO_OFF: c_int = 1;
const PAM_PROMPT_ECHO_ON: c_int = 2;
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
}

/// What the conversation answers, and how often it was asked.
struct Answer {
    code: CString,
    prompts: u32,
}

/// Answers every prompt with the login's code; messages are ignored (they cost the module
/// the same whatever we do with them).
extern "C" fn conversation(
    num_msg: c_int,
    msg: *mut *const PamMessage,
    resp: *mut *mut PamResponse,
    appdata: *mut c_void,
) -> c_int {
    if num_msg <= 0
        || num_msg > PAM_MAX_NUM_MSG
        || msg.is_null()
        || resp.is_null()
        || appdata.is_null()
    {
        return PAM_CONV_ERR;
    }
    let n = num_msg as usize;
    // SAFETY: `appdata` is the `Answer` that main() passed to pam_start_confdir through
    // `appdata_ptr`; it outlives the handle and nothing else touches it during the call.
    let answer = unsafe { &mut *appdata.cast::<Answer>() };
    // SAFETY: calloc with a non-zero count; the module frees the array with free().
    let replies =
        unsafe { libc::calloc(n, std::mem::size_of::<PamResponse>()) }.cast::<PamResponse>();
    if replies.is_null() {
        return PAM_BUF_ERR;
    }
    for i in 0..n {
        // SAFETY: Linux-PAM passes `num_msg` valid message pointers (the msg[i] convention).
        let style = unsafe { (**msg.add(i)).msg_style };
        if style == PAM_PROMPT_ECHO_OFF || style == PAM_PROMPT_ECHO_ON {
            answer.prompts += 1;
            // SAFETY: strdup of a valid C string; the copy (or NULL) is stored in our own
            // calloc'd array at index i < n, which the module frees with free().
            let dup = unsafe { libc::strdup(answer.code.as_ptr()) };
            if dup.is_null() {
                for j in 0..i {
                    // SAFETY: entries before i are NULL or strdup'd by us.
                    unsafe { libc::free((*replies.add(j)).resp.cast()) };
                }
                // SAFETY: the array is ours and no longer referenced.
                unsafe { libc::free(replies.cast()) };
                return PAM_BUF_ERR;
            }
            // SAFETY: i < n, inside the array.
            unsafe { (*replies.add(i)).resp = dup };
        }
    }
    // SAFETY: `resp` is the caller's non-null out-parameter.
    unsafe { *resp = replies };
    PAM_SUCCESS
}

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|d| d.count())
        .unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [confdir, plan] = &args[..] else {
        eprintln!("usage: mfa-bench-pam CONFDIR PLAN");
        std::process::exit(2);
    };
    let Ok(confdir) = CString::new(confdir.as_str()) else {
        eprintln!("CONFDIR contains NUL");
        std::process::exit(2);
    };
    let plan = match std::fs::read_to_string(plan) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("cannot read {plan}: {e}");
            std::process::exit(2);
        }
    };
    let mut logins = Vec::new();
    for line in plan.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [service, user, code] = fields[..] else {
            eprintln!("bad plan line {line:?}");
            std::process::exit(2);
        };
        let (Ok(s), Ok(u), Ok(c)) = (
            CString::new(service),
            CString::new(user),
            CString::new(if code == "-" { "" } else { code }),
        ) else {
            eprintln!("bad plan line {line:?}");
            std::process::exit(2);
        };
        logins.push((s, u, c));
    }
    let mut out = BufWriter::new(std::io::stdout().lock());
    let _ = writeln!(out, "BASELINE threads={}", threads());
    for (service, user, code) in logins {
        let mut answer = Answer { code, prompts: 0 };
        let conv = PamConv {
            conv: Some(conversation),
            appdata_ptr: (&mut answer as *mut Answer).cast(),
        };
        let mut pamh: *mut PamHandle = ptr::null_mut();
        let start = Instant::now();
        // SAFETY: valid C strings that outlive the handle; `conv` and `answer` live until
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
        let rc = if rc != PAM_SUCCESS || pamh.is_null() {
            1000 + rc
        } else {
            // SAFETY: `pamh` is the live handle returned above.
            let rc = unsafe { pam_authenticate(pamh, 0) };
            // SAFETY: `pamh` is live and not used after this call.
            unsafe { pam_end(pamh, rc) };
            rc
        };
        let ns = start.elapsed().as_nanos();
        let _ = writeln!(
            out,
            "RESULT rc={rc} ns={ns} prompts={} threads={}",
            answer.prompts,
            threads()
        );
    }
    let _ = out.flush();
}
