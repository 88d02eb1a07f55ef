//! Email through SMTP with lettre.

use std::error::Error as _;
use std::fmt;
use std::io;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::{self, SmtpTransport};
use lettre::{Address, Transport};
use mfa_core::delivery::{EmailConfig, SmtpSecurity, SmtpUrl, check_email_address, mask_email};

use crate::deadline::run_bounded;
use crate::error::{Channel, DeliveryError};
use crate::redact::sanitize;
use crate::secret_file::read_credentials;

/// Sends code emails through the server of `[email]`.
#[derive(Clone)]
pub struct Mailer {
    transport: SmtpTransport,
    from: Mailbox,
    url: SmtpUrl,
    timeout: Duration,
}

impl fmt::Debug for Mailer {
    // The transport holds the password: show where we send, nothing else.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mailer")
            .field("url", &self.url)
            .field("from", &self.from.to_string())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

fn config_error(key: &'static str, why: impl Into<String>) -> DeliveryError {
    DeliveryError::Config {
        key,
        why: why.into(),
    }
}

impl Mailer {
    /// Builds the transport from `[email]`, or None when `smtp_url` is not set.
    ///
    /// Reads `credentials_file` (refused unless owned by root with mode 0600 or stricter) and
    /// `tls_ca_file` (PEM, trusted in addition to the system store). Connects to nothing:
    /// see [`Mailer::check`].
    pub fn from_config(cfg: &EmailConfig) -> Result<Option<Mailer>, DeliveryError> {
        // The same rules as the config file's, also for a section built in code.
        cfg.check()?;
        let Some(url) = cfg.parsed_url() else {
            return Ok(None);
        };
        let url = url.map_err(|why| config_error("email.smtp_url", why))?;
        let from_text = cfg
            .from
            .as_deref()
            .ok_or_else(|| config_error("email.from", "is required with email.smtp_url"))?;
        let from: Mailbox = from_text
            .parse()
            .map_err(|e| config_error("email.from", format!("is not a mailbox: {e}")))?;
        let timeout = Duration::from_secs(cfg.timeout_secs);

        let tls = if url.security == SmtpSecurity::Plain {
            Tls::None
        } else {
            let mut params = TlsParameters::builder(url.host.clone());
            if let Some(path) = &cfg.tls_ca_file {
                let pem = std::fs::read(path).map_err(|e| DeliveryError::File {
                    path: path.clone(),
                    why: format!("cannot be read: {e}"),
                })?;
                let cert = Certificate::from_pem(&pem).map_err(|e| DeliveryError::File {
                    path: path.clone(),
                    why: format!("is not a PEM certificate: {e}"),
                })?;
                params = params.add_root_certificate(cert);
            }
            let params = params.build_rustls().map_err(|e| DeliveryError::Tls {
                channel: Channel::MailServer,
                detail: e.to_string(),
            })?;
            match url.security {
                SmtpSecurity::ImplicitTls => Tls::Wrapper(params),
                SmtpSecurity::StartTlsRequired => Tls::Required(params),
                _ => Tls::Opportunistic(params),
            }
        };
        let mut builder = SmtpTransport::builder_dangerous(url.host.as_str())
            .port(url.port)
            .tls(tls)
            .timeout(Some(timeout));
        if let Some(path) = &cfg.credentials_file {
            let (user, password) = read_credentials(path)?;
            builder = builder.credentials(Credentials::new(user, password.to_string()));
        }
        Ok(Some(Mailer {
            transport: builder.build(),
            from,
            url,
            timeout,
        }))
    }

    /// Sends one plain-text message to `to`, within the configured timeout.
    pub fn send(&self, to: &str, subject: &str, text: &str) -> Result<(), DeliveryError> {
        check_email_address(to)?;
        let to_address: Address = to.parse().map_err(|e| DeliveryError::Protocol {
            channel: Channel::MailServer,
            detail: format!("lettre refused the address: {e}"),
        })?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(None, to_address))
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(text.to_owned())
            .map_err(|e| DeliveryError::Protocol {
                channel: Channel::MailServer,
                detail: format!("could not build the message: {e}"),
            })?;
        let transport = self.transport.clone();
        let (to, text, timeout) = (to.to_owned(), text.to_owned(), self.timeout);
        run_bounded(Channel::MailServer, self.timeout, move || {
            transport
                .send(&message)
                .map(drop)
                .map_err(|e| classify(&e, timeout, &text, &to))
        })
    }

    /// Connects, greets, sets up TLS and logs in as a send would, then quits without
    /// sending: for `mfactl doctor`.
    pub fn check(&self) -> Result<(), DeliveryError> {
        let transport = self.transport.clone();
        let timeout = self.timeout;
        run_bounded(Channel::MailServer, self.timeout, move || {
            match transport.test_connection() {
                Ok(true) => Ok(()),
                Ok(false) => Err(DeliveryError::Protocol {
                    channel: Channel::MailServer,
                    detail: "the server did not answer NOOP".into(),
                }),
                Err(e) => Err(classify(&e, timeout, "", "")),
            }
        })
    }

    /// Where mail goes, for logs: `smtps://host:port`.
    pub fn server(&self) -> String {
        let scheme = if self.url.security == SmtpSecurity::ImplicitTls {
            "smtps"
        } else {
            "smtp"
        };
        format!("{scheme}://{}:{}", self.url.host, self.url.port)
    }
}

/// Turns lettre's error into ours; `text` and `to` are kept out of the detail.
fn classify(e: &smtp::Error, timeout: Duration, text: &str, to: &str) -> DeliveryError {
    let channel = Channel::MailServer;
    let detail = sanitize(&full_chain(e), text, to, &mask_email(to));
    if let Some(code) = e.status() {
        let code = code.to_string();
        // 534 mechanism too weak, 535 bad login, 538 encryption needed for the mechanism.
        // (530 may also mean "STARTTLS first", so it stays a refusal of the message.)
        if matches!(code.as_str(), "534" | "535" | "538") {
            return DeliveryError::LoginRefused { code, detail };
        }
        return DeliveryError::MessageRefused { code, detail };
    }
    let io_kind = io_error_kind(e);
    if e.is_timeout()
        || matches!(
            io_kind,
            Some(io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock)
        )
    {
        return DeliveryError::TimedOut {
            channel,
            after: timeout,
        };
    }
    // lettre reports a server without STARTTLS (with `tls=required`) as a client error.
    if e.is_tls()
        || io_kind == Some(io::ErrorKind::InvalidData)
        || (e.is_client() && detail.contains("STARTTLS"))
    {
        return DeliveryError::Tls { channel, detail };
    }
    match io_kind {
        Some(
            io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe,
        ) => DeliveryError::ConnectionLost { channel, detail },
        Some(_) => DeliveryError::Unreachable { channel, detail },
        None => DeliveryError::Protocol { channel, detail },
    }
}

fn io_error_kind(e: &smtp::Error) -> Option<io::ErrorKind> {
    let mut source = e.source();
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<io::Error>() {
            return Some(io.kind());
        }
        source = err.source();
    }
    None
}

/// The error and its sources on one line.
fn full_chain(e: &smtp::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(err) = source {
        let part = err.to_string();
        if !s.contains(&part) {
            s.push_str(": ");
            s.push_str(&part);
        }
        source = err.source();
    }
    s
}
