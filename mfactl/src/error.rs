//! Everything that can make mfactl fail, with its exit status.

use std::{fmt, io};

use mfa_proto::MfaError;
use zbus::fdo;

use crate::output::printable;

/// Exit status for a refusal or failure (mfad said no, or could not be asked).
pub const EXIT_FAILURE: u8 = 1;
/// Exit status for bad arguments, as clap uses for its own usage errors.
pub const EXIT_USAGE: u8 = 2;

/// Why a command failed. `Display` gives a message for a person, with control characters
/// escaped (names come from users and from the daemon).
#[derive(Debug)]
pub enum CliError {
    /// A bad argument, found before anything was changed.
    Usage(String),
    /// mfad could not be reached: no bus at the address, or nobody owns mfad's name on it.
    Unreachable {
        /// The bus address tried.
        address: String,
        /// What went wrong, from the bus or the OS.
        detail: String,
    },
    /// The bus connection failed in another way (timeout, lost connection, bus policy, a
    /// daemon that does not know the request).
    Bus(String),
    /// mfad refused the request or failed; its message says why.
    Refused(MfaError),
    /// The code (or an imported secret) could not be read, or the tries ran out on malformed
    /// input.
    Input(String),
    /// Standard output could not be written.
    Output(io::Error),
    /// The enrollment failed after it had started, and was cancelled: nothing was saved.
    Cancelled(Box<CliError>),
    /// The fresh second factor a change needed was not given: denied, or the daemon's
    /// conversation could not be completed. The change was not made.
    StepUp(String),
    /// `mfactl doctor` could not run its checks (exit status 3: its 1 and 2 report findings).
    Doctor(String),
    /// The security key could not do what was asked (no key, timeout, PIN, …).
    SecurityKey(mfa_fido_client::ClientError),
}

impl CliError {
    /// The process exit status for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => EXIT_USAGE,
            CliError::Doctor(_) => crate::doctor::EXIT_CANNOT_CHECK,
            CliError::Cancelled(inner) => inner.exit_code(),
            _ => EXIT_FAILURE,
        }
    }

    /// Whether standard output was closed early (`mfactl list | head -1`): not worth a
    /// message, and the request itself succeeded.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, CliError::Output(e) if e.kind() == io::ErrorKind::BrokenPipe)
    }

    /// Turns transport failures hidden in [`MfaError::ZBus`] into [`CliError::Unreachable`] or
    /// [`CliError::Bus`], naming `address`. Everything else is left alone.
    pub fn at_address(self, address: &str) -> CliError {
        match self {
            CliError::Refused(MfaError::ZBus(e)) => from_zbus(e, address),
            CliError::Cancelled(inner) => CliError::Cancelled(Box::new(inner.at_address(address))),
            other => other,
        }
    }
}

impl From<MfaError> for CliError {
    fn from(e: MfaError) -> Self {
        CliError::Refused(e)
    }
}

impl From<io::Error> for CliError {
    fn from(e: io::Error) -> Self {
        CliError::Output(e)
    }
}

/// Classifies a zbus error met while connecting to or calling mfad at `address`.
pub(crate) fn from_zbus(e: zbus::Error, address: &str) -> CliError {
    let unreachable = |detail: String| CliError::Unreachable {
        address: address.to_owned(),
        detail,
    };
    match e {
        zbus::Error::Address(why) => {
            CliError::Usage(format!("invalid bus address {address}: {why}"))
        }
        zbus::Error::Connection(io, _) => unreachable(io.to_string()),
        zbus::Error::InputOutput(io) if io.kind() == io::ErrorKind::TimedOut => {
            CliError::Bus(format!("mfad on {address} did not answer in time"))
        }
        zbus::Error::InputOutput(io) => unreachable(io.to_string()),
        zbus::Error::Handshake(why) => {
            unreachable(format!("the bus refused the connection: {why}"))
        }
        zbus::Error::FDO(fdo) => match *fdo {
            fdo::Error::ServiceUnknown(m) | fdo::Error::NameHasNoOwner(m) => unreachable(m),
            fdo::Error::NoReply(_) | fdo::Error::Timeout(_) | fdo::Error::TimedOut(_) => {
                CliError::Bus(format!("mfad on {address} did not answer in time"))
            }
            fdo::Error::AccessDenied(m) => {
                CliError::Bus(format!("the bus at {address} refused the call: {m}"))
            }
            fdo::Error::UnknownMethod(m)
            | fdo::Error::UnknownInterface(m)
            | fdo::Error::UnknownObject(m) => CliError::Bus(format!(
                "mfad on {address} does not support this request ({m}); are mfad and mfactl \
                 the same version?"
            )),
            other => CliError::Bus(format!("D-Bus call to mfad on {address} failed: {other}")),
        },
        other => CliError::Bus(format!("D-Bus call to mfad on {address} failed: {other}")),
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            CliError::Usage(m)
            | CliError::Bus(m)
            | CliError::Input(m)
            | CliError::StepUp(m)
            | CliError::Doctor(m) => m.clone(),
            CliError::Unreachable { address, detail } => {
                let detail = detail.trim_end_matches('.');
                format!("cannot reach mfad on {address}: {detail}. Is mfad running?")
            }
            // Nothing the user typed was wrong: say who can fix the transport.
            CliError::Refused(MfaError::Undeliverable(m)) => format!(
                "{}. Try again later; if it keeps failing, an administrator can check the mail \
                 server or SMS gateway with `mfactl doctor`.",
                m.trim_end_matches('.')
            ),
            CliError::Refused(e) => e.message(),
            CliError::SecurityKey(e) => format!("security key: {e}"),
            CliError::Output(e) => format!("cannot write the output: {e}"),
            CliError::Cancelled(inner) => {
                let inner = inner.to_string();
                format!(
                    "{}; the enrollment was cancelled",
                    inner.trim_end_matches('.')
                )
            }
        };
        f.write_str(&printable(&text))
    }
}

impl std::error::Error for CliError {}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    const ADDR: &str = "unix:path=/run/dbus/system_bus_socket";

    fn classify(e: zbus::Error) -> CliError {
        CliError::from(MfaError::ZBus(e)).at_address(ADDR)
    }

    #[test]
    fn a_missing_socket_says_the_daemon_is_unreachable() {
        let io = io::Error::from(io::ErrorKind::NotFound);
        let e = classify(zbus::Error::Connection(
            Arc::new(io),
            Box::new(ADDR.parse().unwrap()),
        ));
        let msg = e.to_string();
        assert!(
            msg.starts_with(&format!("cannot reach mfad on {ADDR}: ")),
            "{msg}"
        );
        assert!(msg.ends_with("Is mfad running?"), "{msg}");
        assert_eq!(e.exit_code(), 1);
    }

    #[test]
    fn a_bus_without_mfad_says_the_daemon_is_unreachable() {
        let fdo = fdo::Error::ServiceUnknown("The name org.pam_mfa.Mfad was not provided".into());
        let e = classify(zbus::Error::FDO(Box::new(fdo)));
        assert!(matches!(e, CliError::Unreachable { .. }));
        assert_eq!(
            e.to_string(),
            format!(
                "cannot reach mfad on {ADDR}: The name org.pam_mfa.Mfad was not provided. Is mfad running?"
            )
        );
    }

    #[test]
    fn a_timeout_is_a_failure_not_unreachable() {
        let io = io::Error::from(io::ErrorKind::TimedOut);
        let e = classify(zbus::Error::InputOutput(Arc::new(io)));
        assert!(matches!(e, CliError::Bus(_)));
        assert!(e.to_string().contains("did not answer"));
    }

    #[test]
    fn a_bad_address_is_a_usage_error() {
        let e = classify(zbus::Error::Address("unknown transport".into()));
        assert_eq!(e.exit_code(), 2);
    }

    #[test]
    fn daemon_refusals_show_the_daemons_message_and_exit_one() {
        for e in [
            MfaError::AccessDenied("uid 1000 may not manage bob's tokens".into()),
            MfaError::UnknownToken("alice has no token \"x\"".into()),
            MfaError::CodeRejected("the code did not verify; nothing was saved".into()),
            MfaError::RateLimited("try again after 10:00 UTC".into()),
            MfaError::StepUpRequired("this change needs a fresh second factor".into()),
            MfaError::NotEnrolled("alice has no token; enroll one first".into()),
        ] {
            let want = e.message();
            let e = CliError::from(e).at_address(ADDR);
            assert_eq!(e.to_string(), want);
            assert_eq!(e.exit_code(), 1);
        }
    }

    #[test]
    fn an_undeliverable_code_keeps_mfads_reason_points_to_doctor_and_exits_one() {
        let e = CliError::from(MfaError::Undeliverable(
            "the code could not be sent to a•••e@ex•••.org: mail server unreachable; nothing \
             was saved"
                .into(),
        ))
        .at_address(ADDR);
        assert_eq!(
            e.to_string(),
            "the code could not be sent to a•••e@ex•••.org: mail server unreachable; nothing \
             was saved. Try again later; if it keeps failing, an administrator can check the \
             mail server or SMS gateway with `mfactl doctor`."
        );
        assert_eq!(e.exit_code(), EXIT_FAILURE);
    }

    #[test]
    fn a_cancelled_enrollment_keeps_the_cause_and_its_exit_status() {
        let e = CliError::Cancelled(Box::new(CliError::Input("no code was entered".into())));
        assert_eq!(
            e.to_string(),
            "no code was entered; the enrollment was cancelled"
        );
        assert_eq!(e.exit_code(), 1);
        let e = CliError::Cancelled(Box::new(CliError::Usage("--code: too long".into())));
        assert_eq!(e.exit_code(), 2);
        let io = io::Error::from(io::ErrorKind::NotFound);
        let inner = CliError::from(MfaError::ZBus(zbus::Error::InputOutput(Arc::new(io))));
        let e = CliError::Cancelled(Box::new(inner)).at_address(ADDR);
        assert!(e.to_string().contains("Is mfad running?"), "{e}");
    }

    #[test]
    fn a_failed_step_up_exits_one_with_its_message() {
        let e = CliError::StepUp("Access denied.\nThe code did not verify.".into());
        assert_eq!(e.exit_code(), 1);
        assert_eq!(e.to_string(), "Access denied.\nThe code did not verify.");
        let e = CliError::StepUp("no\u{1b}[2J".into()).at_address(ADDR);
        assert!(!e.to_string().contains('\u{1b}'));
    }

    #[test]
    fn only_a_closed_stdout_counts_as_a_broken_pipe() {
        assert!(CliError::Output(io::ErrorKind::BrokenPipe.into()).is_broken_pipe());
        assert!(!CliError::Output(io::ErrorKind::PermissionDenied.into()).is_broken_pipe());
        assert!(!CliError::Input("x".into()).is_broken_pipe());
    }

    #[test]
    fn control_characters_in_messages_are_escaped() {
        let e = CliError::from(MfaError::UnknownUser("no user \u{1b}[2Jevil".into()));
        assert!(!e.to_string().contains('\u{1b}'));
    }
}
