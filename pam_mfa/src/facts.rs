//! What the module can see about the login ([`LoginFacts`]), read from PAM items and the PAM
//! environment only. The process environment is never read: under `su`/`sudo` the caller
//! controls it.
//!
//! Text is taken exactly or not at all: a non-UTF-8 or overlong value fails the login instead
//! of being converted lossily or cut (two different names must never become one).

use std::ffi::CStr;
use std::fmt;

use mfa_proto::{LoginFacts, MAX_AUTH_INFO_LEN, MAX_FIELD_LEN, MAX_SERVICE_LEN, MAX_USER_LEN};
use pamsm::{Pam, PamError, PamLibExt, PamResult};

use crate::ffi;
use crate::log::quote;

/// Why the facts could not be collected; the login fails with [`FactsError::code`].
#[derive(Debug, Clone, PartialEq)]
pub struct FactsError {
    code: PamError,
    problem: String,
}

impl FactsError {
    fn new(code: PamError, problem: impl Into<String>) -> Self {
        FactsError {
            code,
            problem: problem.into(),
        }
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
    let user = match pam.get_user(None) {
        Ok(Some(user)) => user.to_bytes(),
        Ok(None) => return Err(FactsError::new(PamError::USER_UNKNOWN, "no user name")),
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
    let user = text(user, MAX_USER_LEN, "user name", PamError::USER_UNKNOWN)?;
    if user.is_empty() {
        return Err(FactsError::new(PamError::USER_UNKNOWN, "empty user name"));
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
