//! What the module can see about the login ([`LoginFacts`]), read from PAM items and the PAM
//! environment only. The process environment is never read: under `su`/`sudo` the caller
//! controls it.
//!
//! Text is taken exactly or not at all: a non-UTF-8 or overlong value fails the login instead
//! of being converted lossily or cut (two different names must never become one). A user
//! name refused here also gets the standard "Access denied" message
//! ([`FactsError::user_message`]): the user must learn why, not just see a failure.

use std::ffi::CStr;
use std::fmt;

use mfa_proto::{LoginFacts, MAX_AUTH_INFO_LEN, MAX_FIELD_LEN, MAX_SERVICE_LEN, MAX_USER_LEN};
use pamsm::{Pam, PamError, PamLibExt, PamResult};

use crate::ffi;
use crate::log::{MAX_NAME_CHARS, MAX_TEXT_CHARS, escape, quote};

/// Why the facts could not be collected; the login fails with [`FactsError::code`].
#[derive(Debug, Clone, PartialEq)]
pub struct FactsError {
    code: PamError,
    problem: String,
    message: Option<String>,
}

impl FactsError {
    fn new(code: PamError, problem: impl Into<String>) -> Self {
        FactsError {
            code,
            problem: problem.into(),
            message: None,
        }
    }

    /// The same error, with the "Access denied" message for a refused user name: `name` as
    /// PAM gave it (shown escaped and cut), `service` likewise, `headline` the reason.
    fn with_user_message(mut self, service: &[u8], name: &[u8], headline: &str) -> Self {
        let service = escape(&String::from_utf8_lossy(service), MAX_TEXT_CHARS);
        let name = escape(&String::from_utf8_lossy(name), MAX_NAME_CHARS);
        self.message = Some(mfa_proto::message::access_denied(
            &service,
            &name,
            headline,
            &["Check the user name and try again."],
        ));
        self
    }

    /// What to show the user (`PAM_ERROR_MSG`), for the errors they can act on: a user
    /// name the module refused. Escaped, so it carries no control characters.
    pub fn user_message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// The PAM code to return. Never `SUCCESS` or `IGNORE`.
    pub fn code(&self) -> PamError {
        match self.code {
            PamError::SUCCESS | PamError::IGNORE => PamError::SERVICE_ERR,
            code => code,
        }
    }
}

impl fmt::Display for FactsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.problem)
    }
}

/// Reads user, service, tty, rhost, ruser and `SSH_AUTH_INFO_0`.
///
/// `pam_get_user` may prompt for the user name if the application did not set it.
pub fn collect(pam: &Pam) -> Result<LoginFacts, FactsError> {
    // Only for the message of a refused user name: the service is checked below.
    let service_shown = || {
        pam.get_service()
            .ok()
            .flatten()
            .map_or_else(Vec::new, |s| s.to_bytes().to_vec())
    };
    let user = match pam.get_user(None) {
        Ok(Some(user)) => user.to_bytes(),
        Ok(None) => return Err(no_user_name("no user name", &service_shown())),
        // The application's conversation is event-driven and has no answer yet: ask to be
        // called again. Nothing has been started, so starting over is safe.
        Err(PamError::CONV_AGAIN) => {
            return Err(FactsError::new(
                PamError::INCOMPLETE,
                "user name not available yet",
            ));
        }
        Err(code) => {
            return Err(FactsError::new(
                code,
                format!("could not get the user name ({code:?})"),
            ));
        }
    };
    let user = text(user, MAX_USER_LEN, "user name", PamError::USER_UNKNOWN)
        .map_err(|e| e.with_user_message(&service_shown(), user, &user_name_headline(user)))?;
    if user.is_empty() {
        return Err(no_user_name("empty user name", &service_shown()));
    }

    let service = item(pam.get_service(), "PAM_SERVICE")?
        .ok_or_else(|| FactsError::new(PamError::AUTH_ERR, "PAM_SERVICE is not set"))?;
    let service = text(
        service.to_bytes(),
        MAX_SERVICE_LEN,
        "PAM_SERVICE",
        PamError::AUTH_ERR,
    )?;

    let tty = match ffi::tty(pam) {
        Ok(tty) => tty,
        Err(code) => {
            return Err(FactsError::new(
                PamError::SERVICE_ERR,
                format!("PAM_TTY: {code:?}"),
            ));
        }
    };
    let tty = optional(tty.as_deref(), MAX_FIELD_LEN, "PAM_TTY")?;
    let rhost = item(pam.get_rhost(), "PAM_RHOST")?.map(CStr::to_bytes);
    let rhost = optional(rhost, MAX_FIELD_LEN, "PAM_RHOST")?;
    let ruser = item(pam.get_ruser(), "PAM_RUSER")?.map(CStr::to_bytes);
    let ruser = optional(ruser, MAX_FIELD_LEN, "PAM_RUSER")?;
    // pamsm's getenv is pam_getenv(3): the PAM environment, not the process's.
    let auth_info = item(pam.getenv("SSH_AUTH_INFO_0"), "SSH_AUTH_INFO_0")?.map(CStr::to_bytes);
    let ssh_auth_info = optional(auth_info, MAX_AUTH_INFO_LEN, "SSH_AUTH_INFO_0")?;

    Ok(LoginFacts {
        user,
        service,
        tty,
        rhost,
        ruser,
        ssh_auth_info,
    })
}

/// The error for a missing or empty user name, with its message.
fn no_user_name(problem: &str, service: &[u8]) -> FactsError {
    FactsError::new(PamError::USER_UNKNOWN, problem).with_user_message(
        service,
        b"",
        "no user name was given.",
    )
}

/// Why `name` (refused by [`text`]) is not a user name, for the user.
fn user_name_headline(name: &[u8]) -> String {
    if name.len() > MAX_USER_LEN {
        format!(
            "the user name is too long ({} bytes; at most {MAX_USER_LEN}).",
            name.len()
        )
    } else {
        "the user name is not valid (it is not UTF-8 text).".to_owned()
    }
}

/// An item lookup's result, with lookup failures as errors.
fn item<'a>(
    result: PamResult<Option<&'a CStr>>,
    name: &str,
) -> Result<Option<&'a CStr>, FactsError> {
    result.map_err(|code| FactsError::new(PamError::SERVICE_ERR, format!("{name}: {code:?}")))
}

/// An optional field: empty when unset.
fn optional(bytes: Option<&[u8]>, max: usize, name: &str) -> Result<String, FactsError> {
    match bytes {
        Some(bytes) => text(bytes, max, name, PamError::AUTH_ERR),
        None => Ok(String::new()),
    }
}

/// `bytes` as text of at most `max` bytes, else an error with `code` that names the field.
fn text(bytes: &[u8], max: usize, name: &str, code: PamError) -> Result<String, FactsError> {
    if bytes.len() > max {
        return Err(FactsError::new(
            code,
            format!("{name} is longer than {max} bytes"),
        ));
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok(s.to_owned()),
        Err(_) => {
            let shown = quote(&String::from_utf8_lossy(bytes));
            Err(FactsError::new(
                code,
                format!("{name} is not valid UTF-8 (lossy: {shown})"),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn text_is_taken_exactly_or_refused() {
        assert_eq!(
            text(b"alice", 255, "user name", PamError::USER_UNKNOWN).unwrap(),
            "alice"
        );
        let e = text(b"al\xffice", 255, "user name", PamError::USER_UNKNOWN).unwrap_err();
        assert_eq!(e.code(), PamError::USER_UNKNOWN);
        assert!(e.to_string().contains("not valid UTF-8"), "{e}");
        let e = text(&[b'a'; 256], 255, "user name", PamError::USER_UNKNOWN).unwrap_err();
        assert_eq!(e.to_string(), "user name is longer than 255 bytes");
    }

    #[test]
    fn a_refused_user_name_gets_the_standard_message_escaped_and_cut() {
        let long = [b'u'; 4096];
        let e = text(&long, MAX_USER_LEN, "user name", PamError::USER_UNKNOWN)
            .unwrap_err()
            .with_user_message(b"sshd", &long, &user_name_headline(&long));
        let m = e.user_message().unwrap();
        assert!(
            m.starts_with(
                "Access denied\nService: sshd\nUser: uuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuu…\n"
            ),
            "{m}"
        );
        assert!(
            m.contains(
                "the user name is too long (4096 bytes; at most 255).\n    Check the user name"
            ),
            "{m}"
        );
        assert!(m.len() < 400, "{} bytes", m.len());
        assert_eq!(e.code(), PamError::USER_UNKNOWN);
        // Control characters and bytes that are not UTF-8 cannot reach the terminal.
        let bad = b"ali\x1b[2Jce\xff";
        let e = FactsError::new(PamError::USER_UNKNOWN, "x").with_user_message(
            b"su\n-l",
            bad,
            &user_name_headline(bad),
        );
        let m = e.user_message().unwrap();
        assert!(
            !m.contains('\x1b') && m.contains("ali\\u{1b}[2Jce\u{fffd}"),
            "{m}"
        );
        assert!(m.contains("Service: su\\n-l\n"), "{m}");
        assert!(
            m.contains("the user name is not valid (it is not UTF-8 text)."),
            "{m}"
        );
        // Other errors have nothing to show.
        assert_eq!(
            FactsError::new(PamError::AUTH_ERR, "x").user_message(),
            None
        );
    }

    #[test]
    fn unset_optional_fields_are_empty() {
        assert_eq!(optional(None, 10, "PAM_TTY").unwrap(), "");
        assert_eq!(optional(Some(b"pts/1"), 10, "PAM_TTY").unwrap(), "pts/1");
        assert_eq!(
            optional(Some(b"\xc0"), 10, "PAM_RHOST").unwrap_err().code(),
            PamError::AUTH_ERR
        );
    }

    #[test]
    fn an_error_never_maps_to_success_or_ignore() {
        assert_eq!(
            FactsError::new(PamError::SUCCESS, "x").code(),
            PamError::SERVICE_ERR
        );
        assert_eq!(
            FactsError::new(PamError::IGNORE, "x").code(),
            PamError::SERVICE_ERR
        );
    }
}
