//! The one error type of the crate: a short reason for the user, detail for the log.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use mfa_core::delivery::RecipientError;
use thiserror::Error;

/// Which transport an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// The SMTP server of `[email]`.
    MailServer,
    /// The HTTP gateway of `[sms]`.
    SmsGateway,
    /// The program of `sms.command`.
    SmsCommand,
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Channel::MailServer => "mail server",
            Channel::SmsGateway => "SMS gateway",
            Channel::SmsCommand => "SMS command",
        })
    }
}

/// Why a code could not be sent, or a transport not be set up.
///
/// `Display` is a short plain reason that reads well after "The code could not be sent: "
/// (e.g. `mail server unreachable`, `timed out`, `SMS gateway answered HTTP 503`).
/// [`DeliveryError::detail`] adds what the admin needs in syslog. Neither holds the code,
/// credentials or an unmasked recipient. The `File` and `Config` variants come only from
/// `from_config` (at daemon start) and name the file or key and the fix.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum DeliveryError {
    /// No connection: refused, no route, name not resolved.
    #[error("{channel} unreachable")]
    Unreachable {
        /// The transport.
        channel: Channel,
        /// The system's reason.
        detail: String,
    },
    /// The send did not finish within the configured timeout.
    #[error("timed out")]
    TimedOut {
        /// The transport.
        channel: Channel,
        /// The configured timeout.
        after: Duration,
    },
    /// The connection broke off in the middle of the exchange.
    #[error("connection to the {channel} was lost")]
    ConnectionLost {
        /// The transport.
        channel: Channel,
        /// The system's reason.
        detail: String,
    },
    /// TLS could not be set up (certificate not trusted, wrong name, no STARTTLS offered).
    #[error("secure connection to the {channel} failed")]
    Tls {
        /// The transport.
        channel: Channel,
        /// The TLS library's reason.
        detail: String,
    },
    /// The mail server refused the login from `email.credentials_file`.
    #[error("mail server refused the login ({code})")]
    LoginRefused {
        /// SMTP reply code, e.g. `535`.
        code: String,
        /// The server's reply (recipient masked).
        detail: String,
    },
    /// The mail server refused the message (or the sender or recipient).
    #[error("mail server refused the message ({code})")]
    MessageRefused {
        /// SMTP reply code, e.g. `550`.
        code: String,
        /// The server's reply (recipient masked).
        detail: String,
    },
    /// The gateway answered with a status other than 2xx.
    #[error("SMS gateway answered HTTP {status}")]
    HttpStatus {
        /// HTTP status code.
        status: u16,
        /// First line of the response body, sanitised.
        detail: String,
    },
    /// The command ran but did not exit with status 0 (or was killed).
    #[error("SMS command failed ({outcome})")]
    CommandFailed {
        /// `exit 1`, `signal 9`.
        outcome: String,
        /// First line of its standard error, sanitised and truncated.
        stderr: String,
    },
    /// The command could not be started.
    #[error("SMS command could not be started")]
    CommandStart {
        /// `sms.command`'s program.
        program: PathBuf,
        /// The system's reason.
        detail: String,
    },
    /// Anything else the transport reported (a protocol error, a bad reply).
    #[error("{channel} error")]
    Protocol {
        /// The transport.
        channel: Channel,
        /// What happened.
        detail: String,
    },
    /// The address or phone number is not one this crate sends to.
    #[error("invalid recipient: {0}")]
    Recipient(#[from] RecipientError),
    /// A file named in the configuration is missing, unreadable, unsafe or malformed.
    #[error("{}: {why}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong and how to fix it.
        why: String,
    },
    /// A configuration value the transport cannot use.
    #[error("{key}: {why}")]
    Config {
        /// The key, e.g. `email.from`.
        key: &'static str,
        /// What is wrong with it.
        why: String,
    },
}

impl DeliveryError {
    /// The reason with the detail the admin needs, for syslog (never the code, a password
    /// or an unmasked recipient).
    pub fn detail(&self) -> String {
        let extra = match self {
            DeliveryError::Unreachable { detail, .. }
            | DeliveryError::ConnectionLost { detail, .. }
            | DeliveryError::Tls { detail, .. }
            | DeliveryError::LoginRefused { detail, .. }
            | DeliveryError::MessageRefused { detail, .. }
            | DeliveryError::HttpStatus { detail, .. }
            | DeliveryError::Protocol { detail, .. } => detail.clone(),
            DeliveryError::TimedOut { channel, after } => {
                format!("no answer from the {channel} within {} s", after.as_secs())
            }
            DeliveryError::CommandFailed { stderr, .. } => stderr.clone(),
            DeliveryError::CommandStart { program, detail } => {
                format!("{}: {detail}", program.display())
            }
            DeliveryError::Recipient(_)
            | DeliveryError::File { .. }
            | DeliveryError::Config { .. } => String::new(),
        };
        if extra.is_empty() {
            self.to_string()
        } else {
            format!("{self}: {extra}")
        }
    }
}

impl From<mfa_core::config::ConfigError> for DeliveryError {
    fn from(e: mfa_core::config::ConfigError) -> Self {
        match e {
            mfa_core::config::ConfigError::Invalid { key, why } => {
                DeliveryError::Config { key, why }
            }
            other => DeliveryError::Config {
                key: "config",
                why: other.to_string(),
            },
        }
    }
}
