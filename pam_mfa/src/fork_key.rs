//! A hard deadline on the security key: get_assertion runs in a forked child process of the
//! module, which the module kills when `fido2_timeout=` passes (as pam_exec forks).
//!
//! Why a process: ctap-hid-fido2 has no timeout and its HID reads block. A thread given up on
//! would stay blocked inside the host (sshd, sudo, login) after `pam_end`, and those hosts
//! fork later; a process can be killed. So the module keeps no thread, and after each call
//! no process either: the child is always reaped, by its own PID only.
//!
//! The exchange: a pipe (close-on-exec) and `fork`. The child runs the inner key's
//! get_assertion, writes one length-prefixed message with the result (the answer, or the
//! error with its kind intact, so `PinInvalid` or `NoDevice` drive the flow as before) and
//! `_exit`s. The parent `poll`s the pipe until the message is complete or the deadline
//! passes, then reaps the child, killing it (SIGKILL) first if it is still running. A missed
//! deadline is [`ClientError::NoAnswer`]; a child that ends without a complete, well-formed
//! message is a [`ClientError::Device`] error, never an answer. At most
//! [`MAX_MESSAGE_LEN`] bytes are read.
//!
//! Caveats, all bounded by the deadline:
//! - The host may have other threads. The child holds only the forking thread; a lock
//!   another thread held at `fork` stays locked in the child (glibc's malloc is prepared for
//!   fork; other libraries may not be). The child therefore does nothing but the device call,
//!   one write and `_exit`: no atexit handlers, no destructors, no stdio flush, and it never
//!   touches the parent's D-Bus connection (its copy of the socket is only closed by the
//!   exit). A child stuck on such a lock is killed at the deadline like a silent key.
//! - The host receives SIGCHLD when the child ends, as with pam_exec. A host that reaps
//!   every child itself (a SIGCHLD handler calling `waitpid(-1)`, or SIGCHLD ignored) makes
//!   our `waitpid` fail with ECHILD: that is accepted, the answer came through the pipe.
//! - The child asks for SIGKILL if the forking thread dies (`PR_SET_PDEATHSIG`), so a host
//!   killed during the wait leaves no key process behind.
//! - The PIN: the parent makes no copy of it (the request is borrowed; the caller's
//!   `Zeroizing` wipes it). The child's copy-on-write copy dies with the child, and the PIN
//!   never travels through the pipe.

use std::fs::File;
use std::io::{self, Read as _, Write as _};
use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use mfa_fido_client::{
    Authenticator, ClientError, GetAssertionRequest, GetAssertionResponse, MakeCredentialRequest,
    MakeCredentialResponse,
};

/// Largest message accepted from the child. An answer is a credential ID (at most 1023
/// bytes), authenticator data (37 bytes plus extensions) and a signature (at most 72 bytes).
pub const MAX_MESSAGE_LEN: usize = 16 * 1024;
/// Longest error detail the child sends, in bytes (cut at a character boundary).
const MAX_DETAIL_LEN: usize = 512;
/// How long a child whose message is in may take to exit before it is killed.
const EXIT_GRACE: Duration = Duration::from_millis(500);

/// Child exit statuses, for the message when it sent no answer.
const EXIT_WRITE_FAILED: i32 = 1;
const EXIT_PANICKED: i32 = 2;
const EXIT_ORPHANED: i32 = 3;

/// A security key whose get_assertion runs in a child process and is abandoned (the child
/// killed) after a deadline. It only signs: the module never enrolls, and leaving
/// make_credential unreachable keeps the enrollment half of the FIDO2 library (attestation
/// parsing) out of the `.so`.
#[derive(Debug, Clone)]
pub struct ForkedKey<K> {
    key: K,
    deadline: Duration,
}

impl<K> ForkedKey<K> {
    /// Wraps `key`; each get_assertion gets at most `deadline`.
    pub fn new(key: K, deadline: Duration) -> Self {
        ForkedKey { key, deadline }
    }
}

impl<K: Authenticator> Authenticator for ForkedKey<K> {
    fn make_credential(
        &self,
        _: &MakeCredentialRequest,
    ) -> Result<MakeCredentialResponse, ClientError> {
        Err(ClientError::InvalidRequest(
            "the PAM module does not enroll keys; use mfactl enroll fido2".into(),
        ))
    }

    fn get_assertion(
        &self,
        request: &GetAssertionRequest,
    ) -> Result<GetAssertionResponse, ClientError> {
        in_child(self.deadline, || self.key.get_assertion(request)).answer
    }
}

/// What get_assertion returns.
type Answer = Result<GetAssertionResponse, ClientError>;

/// One call run in a child process: its answer, and the child's PID when it was started
/// (for tests: by then it has been reaped).
struct ChildCall {
    answer: Answer,
    #[cfg_attr(
        not(test),
        expect(dead_code, reason = "the tests check that this PID was reaped")
    )]
    pid: Option<libc::pid_t>,
}

/// Runs `call` in a forked child and waits at most `deadline` for its answer.
fn in_child(deadline: Duration, call: impl FnOnce() -> Answer) -> ChildCall {
    let not_started = |what: &str, e: io::Error| ChildCall {
        answer: Err(ClientError::Device(format!(
            "cannot start the process that talks to the security key ({what}: {e})"
        ))),
        pid: None,
    };
    let (read_end, write_end) = match pipe() {
        Ok(ends) => ends,
        Err(e) => return not_started("pipe", e),
    };
    let parent = std::process::id();
    let started = Instant::now();
    // SAFETY: fork(2) has no memory-safety preconditions of its own. What makes its use
    // sound in a possibly multi-threaded host is what the child does: it runs only
    // `child_main`, which never returns into the caller's code (it ends with `_exit`), and
    // only the forking thread exists in it (see the module docs for locks held elsewhere).
    let pid = unsafe { libc::fork() };
    match pid {
        -1 => not_started("fork", io::Error::last_os_error()),
        0 => {
            drop(read_end);
            child_main(write_end, parent, call)
        }
        pid => {
            // Our copy of the write end must go, or the child's exit would not end the read.
            drop(write_end);
            let (message, end) = read_message(&File::from(read_end), started + deadline);
            // A child that sent its message or closed the pipe is exiting: give it a moment
            // to finish. Any other is killed now.
            let kill_after = match end {
                End::Complete | End::Closed => Instant::now() + EXIT_GRACE,
                End::Deadline | End::TooLong | End::Failed => Instant::now(),
            };
            let exit = reap(pid, kill_after);
            let answer = match (end, decode(&message)) {
                (End::Complete, Some(answer)) => answer,
                (End::Complete, None) => Err(ClientError::Device(
                    "the process that talks to the security key sent a malformed answer".into(),
                )),
                (End::Deadline, _) => Err(ClientError::NoAnswer {
                    millis: u64::try_from(deadline.as_millis()).unwrap_or(u64::MAX),
                }),
                (End::Closed | End::TooLong | End::Failed, _) => Err(ClientError::Device(format!(
                    "the process that talks to the security key ended without an answer ({exit})"
                ))),
            };
            ChildCall {
                answer,
                pid: Some(pid),
            }
        }
    }
}

/// The child: the call, one message, `_exit`. Never returns, never unwinds.
fn child_main(out: OwnedFd, parent: u32, call: impl FnOnce() -> Answer) -> ! {
    let status = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: prctl(PR_SET_PDEATHSIG) takes plain integers and changes only this
        // process's own death signal.
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) };
        // The parent may have died before the line above took effect: nobody is waiting.
        if std::os::unix::process::parent_id() != parent {
            return EXIT_ORPHANED;
        }
        let answer = catch_unwind(AssertUnwindSafe(call)).unwrap_or(Err(ClientError::Panicked));
        match File::from(out).write_all(&encode(&answer)) {
            Ok(()) => 0,
            Err(_) => EXIT_WRITE_FAILED,
        }
    }))
    .unwrap_or(EXIT_PANICKED);
    // SAFETY: _exit(2) ends this process at once and is always sound to call. It is the
    // point: no atexit handlers or destructors of the host run twice, and no stdio buffer
    // the host had not flushed yet is written a second time.
    unsafe { libc::_exit(status) }
}

/// A close-on-exec pipe: `(read end, write end)`. Close-on-exec, so a program the host
/// starts from another thread meanwhile does not keep the write end open.
fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds: [libc::c_int; 2] = [-1; 2];
    // SAFETY: pipe2(2) writes two descriptors into the two-element array it is given.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both descriptors were just created by pipe2 and belong to nothing else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// How reading the child's message ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// A whole message (length prefix and body) is in.
    Complete,
    /// The child closed its end before a whole message: it exited or died.
    Closed,
    /// The deadline passed first.
    Deadline,
    /// The child announced or sent more than [`MAX_MESSAGE_LEN`].
    TooLong,
    /// poll or read failed.
    Failed,
}

/// Reads one message from `pipe` until it is complete, the pipe closes, or `until`.
fn read_message(pipe: &File, until: Instant) -> (Vec<u8>, End) {
    let mut message = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match expected_len(&message) {
            Some(len) if len > MAX_MESSAGE_LEN => return (message, End::TooLong),
            Some(len) if message.len() >= len => return (message, End::Complete),
            _ => {}
        }
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return (message, End::Deadline);
        }
        // Rounded up: a deadline 0.3 ms away must not become a busy loop of 0 ms polls.
        let wait_ms =
            libc::c_int::try_from(left.as_nanos().div_ceil(1_000_000)).unwrap_or(libc::c_int::MAX);
        let mut fd = libc::pollfd {
            fd: pipe.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: poll(2) is given one pollfd that lives on this stack frame, and count 1.
        let ready = unsafe { libc::poll(&mut fd, 1, wait_ms) };
        if ready < 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return (message, End::Failed);
        }
        if ready == 0 {
            continue;
        }
        match (&*pipe).read(&mut chunk) {
            Ok(0) => return (message, End::Closed),
            Ok(n) => message.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return (message, End::Failed),
        }
    }
}

/// The whole length of a message whose prefix is in `bytes`.
fn expected_len(bytes: &[u8]) -> Option<usize> {
    let prefix: [u8; 4] = bytes.get(..4)?.try_into().ok()?;
    usize::try_from(u32::from_be_bytes(prefix))
        .ok()?
        .checked_add(4)
}

/// How the child ended, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exit {
    /// `waitpid` status.
    Status(libc::c_int),
    /// Killed by us (SIGKILL).
    Killed,
    /// Someone else reaped it (ECHILD): the host's own SIGCHLD handling.
    ReapedElsewhere,
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Exit::Status(s) if libc::WIFEXITED(s) => {
                write!(f, "exit status {}", libc::WEXITSTATUS(s))
            }
            Exit::Status(s) if libc::WIFSIGNALED(s) => {
                write!(f, "killed by signal {}", libc::WTERMSIG(s))
            }
            Exit::Status(s) => write!(f, "wait status {s}"),
            Exit::Killed => f.write_str("killed"),
            Exit::ReapedElsewhere => f.write_str("its exit status went to the application"),
        }
    }
}

/// Reaps child `pid`, killing it first if it is still running at `kill_after`. Only this
/// PID is waited for: the host's other children are not ours.
fn reap(pid: libc::pid_t, kill_after: Instant) -> Exit {
    loop {
        let mut status = 0;
        // SAFETY: waitpid(2) on our own child's PID, with a status integer we own.
        let got = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if got == pid {
            return Exit::Status(status);
        }
        if got < 0 {
            match io::Error::last_os_error().raw_os_error() {
                Some(libc::EINTR) => continue,
                _ => return Exit::ReapedElsewhere,
            }
        }
        if Instant::now() >= kill_after {
            break;
        }
        // Only after its message is in, while it exits: a millisecond or two at most.
        std::thread::sleep(Duration::from_millis(1));
    }
    // SAFETY: kill(2) on our own child, which waitpid has just reported as not yet reaped,
    // so its PID cannot have been reused (unless the host reaps it in the few instructions
    // in between and the whole PID range wraps around meanwhile).
    unsafe { libc::kill(pid, libc::SIGKILL) };
    loop {
        let mut status = 0;
        // SAFETY: as above. Blocking: SIGKILL cannot be caught, so the child ends as soon
        // as the kernel lets it.
        let got = unsafe { libc::waitpid(pid, &mut status, 0) };
        if got < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        return Exit::Killed;
    }
}

// ----- the message ------------------------------------------------------------------------
//
// message := body length (u32, big endian) ‖ body
// body    := 0x00 ‖ field(credential ID) ‖ field(authenticator data) ‖ field(signature)
//          | 0x01 ‖ error kind (u8) ‖ field(detail, UTF-8)
// field   := length (u32, big endian) ‖ bytes

/// The message for `answer`.
fn encode(answer: &Answer) -> Vec<u8> {
    let mut body = Vec::new();
    let field = |body: &mut Vec<u8>, bytes: &[u8]| {
        // Each field is far below 4 GiB (the parent reads at most MAX_MESSAGE_LEN anyway).
        body.extend_from_slice(&u32::try_from(bytes.len()).unwrap_or(u32::MAX).to_be_bytes());
        body.extend_from_slice(bytes);
    };
    match answer {
        Ok(response) => {
            body.push(0);
            field(&mut body, &response.credential_id);
            field(&mut body, &response.auth_data);
            field(&mut body, &response.signature);
        }
        Err(error) => {
            let (kind, detail) = error_kind(error);
            body.push(1);
            body.push(kind);
            field(&mut body, cut(&detail, MAX_DETAIL_LEN).as_bytes());
        }
    }
    let mut message = u32::try_from(body.len())
        .unwrap_or(u32::MAX)
        .to_be_bytes()
        .to_vec();
    message.extend_from_slice(&body);
    message
}

/// The answer in a complete `message`, or `None` when it is malformed.
fn decode(message: &[u8]) -> Option<Answer> {
    let mut input = Fields(message);
    let body_len = input.u32()?;
    if usize::try_from(body_len).ok()? != input.0.len() {
        return None;
    }
    let answer = match input.byte()? {
        0 => Ok(GetAssertionResponse {
            credential_id: input.field()?.to_vec(),
            auth_data: input.field()?.to_vec(),
            signature: input.field()?.to_vec(),
        }),
        1 => {
            let kind = input.byte()?;
            let detail = String::from_utf8(input.field()?.to_vec()).ok()?;
            Err(error_from_kind(kind, detail)?)
        }
        _ => return None,
    };
    input.0.is_empty().then_some(answer)
}

/// The rest of a message being decoded.
struct Fields<'a>(&'a [u8]);

impl<'a> Fields<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn byte(&mut self) -> Option<u8> {
        self.take(1)?.first().copied()
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }

    fn field(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.u32()?).ok()?;
        self.take(len)
    }
}

/// The kind byte and detail of `error`. Exhaustive: a new variant must get its byte here
/// and in [`error_from_kind`].
fn error_kind(error: &ClientError) -> (u8, String) {
    match error {
        ClientError::NoDevice => (1, String::new()),
        ClientError::MultipleDevices => (2, String::new()),
        ClientError::Timeout => (3, String::new()),
        ClientError::NoCredentials => (4, String::new()),
        ClientError::CredentialExcluded => (5, String::new()),
        ClientError::PinRequired => (6, String::new()),
        ClientError::PinInvalid => (7, String::new()),
        ClientError::PinBlocked => (8, String::new()),
        ClientError::PinNotSet => (9, String::new()),
        ClientError::UserVerificationUnavailable => (10, String::new()),
        ClientError::UnsupportedAlgorithm => (11, String::new()),
        ClientError::InvalidRequest(detail) => (12, detail.clone()),
        ClientError::Device(detail) => (13, detail.clone()),
        ClientError::Panicked => (14, String::new()),
        ClientError::NoAnswer { millis } => (15, millis.to_string()),
    }
}

/// The inverse of [`error_kind`].
fn error_from_kind(kind: u8, detail: String) -> Option<ClientError> {
    Some(match kind {
        1 => ClientError::NoDevice,
        2 => ClientError::MultipleDevices,
        3 => ClientError::Timeout,
        4 => ClientError::NoCredentials,
        5 => ClientError::CredentialExcluded,
        6 => ClientError::PinRequired,
        7 => ClientError::PinInvalid,
        8 => ClientError::PinBlocked,
        9 => ClientError::PinNotSet,
        10 => ClientError::UserVerificationUnavailable,
        11 => ClientError::UnsupportedAlgorithm,
        12 => ClientError::InvalidRequest(detail),
        13 => ClientError::Device(detail),
        14 => ClientError::Panicked,
        15 => ClientError::NoAnswer {
            millis: detail.parse().ok()?,
        },
        _ => return None,
    })
}

/// `text` cut to at most `max` bytes, at a character boundary.
fn cut(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests;
