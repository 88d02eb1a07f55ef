//! The HTTP gateway transport: one POST per message, with ureq.

use std::fmt;
use std::io;
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use mfa_core::delivery::{BodyEncoding, GatewayUrl, SmsConfig, mask_phone};
use ureq::Agent;
use zeroize::Zeroizing;

use super::template::render;
use crate::deadline::run_bounded;
use crate::error::{Channel, DeliveryError};
use crate::redact::sanitize;
use crate::secret_file::read_header;

/// Most of a response body read for the log.
const MAX_RESPONSE_BYTES: u64 = 4096;

pub(crate) struct HttpGateway {
    agent: Agent,
    url: String,
    target: GatewayUrl,
    body: String,
    content_type: String,
    encoding: BodyEncoding,
    auth: Option<(String, Zeroizing<String>)>,
    timeout: Duration,
}

impl fmt::Debug for HttpGateway {
    // Never the auth header's value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpGateway")
            // Scheme, host and path only: a query string may hold an API key.
            .field(
                "url",
                &self.url.split(['?', '#']).next().unwrap_or_default(),
            )
            .field("content_type", &self.content_type)
            .field("auth_header", &self.auth.as_ref().map(|(name, _)| name))
            .finish_non_exhaustive()
    }
}

fn config_error(key: &'static str, why: impl Into<String>) -> DeliveryError {
    DeliveryError::Config {
        key,
        why: why.into(),
    }
}

impl HttpGateway {
    pub(crate) fn new(
        url: &str,
        cfg: &SmsConfig,
        timeout: Duration,
    ) -> Result<Self, DeliveryError> {
        let target = GatewayUrl::parse(url).map_err(|why| config_error("sms.gateway_url", why))?;
        let encoding = BodyEncoding::for_content_type(&cfg.content_type).ok_or_else(|| {
            config_error(
                "sms.content_type",
                "must be application/json or application/x-www-form-urlencoded",
            )
        })?;
        if encoding == BodyEncoding::Json {
            let sample = render(&cfg.body, encoding, "+12025550123", "a \"test\"");
            serde_json::from_str::<serde_json::Value>(&sample).map_err(|e| {
                config_error(
                    "sms.body",
                    format!("is not valid JSON once {{to}} and {{message}} are filled in ({e}); put them inside quotes"),
                )
            })?;
        }
        let auth = cfg
            .auth_header_file
            .as_deref()
            .map(read_header)
            .transpose()?;
        let agent: Agent = Agent::config_builder()
            .timeout_global(Some(timeout))
            // Every status is an answer to report, not a transport error.
            .http_status_as_error(false)
            // A redirected POST is a misconfigured URL: report the 3xx, do not follow it.
            .max_redirects(0)
            .max_redirects_will_error(false)
            // No proxy from the environment: where codes go is decided by mfad.toml only.
            .proxy(None)
            .user_agent("pam_mfa-mfad")
            .build()
            .into();
        Ok(HttpGateway {
            agent,
            url: url.to_owned(),
            target,
            body: cfg.body.clone(),
            content_type: cfg.content_type.clone(),
            encoding,
            auth,
            timeout,
        })
    }

    pub(crate) fn send(&self, to: &str, text: &str) -> Result<(), DeliveryError> {
        let body = Zeroizing::new(render(&self.body, self.encoding, to, text));
        let mut request = self
            .agent
            .post(&self.url)
            .header("Content-Type", &self.content_type);
        if let Some((name, value)) = &self.auth {
            request = request.header(name.as_str(), value.as_str());
        }
        let masked = mask_phone(to);
        match request.send(body.as_bytes()) {
            Ok(mut response) => {
                let status = response.status().as_u16();
                if (200..300).contains(&status) {
                    return Ok(());
                }
                let raw = response
                    .body_mut()
                    .with_config()
                    .limit(MAX_RESPONSE_BYTES)
                    .read_to_string()
                    .unwrap_or_default();
                Err(DeliveryError::HttpStatus {
                    status,
                    detail: sanitize(&raw, text, to, &masked),
                })
            }
            Err(e) => Err(self.classify(e, text, to, &masked)),
        }
    }

    fn classify(&self, e: ureq::Error, text: &str, to: &str, masked: &str) -> DeliveryError {
        let channel = Channel::SmsGateway;
        let detail = sanitize(&e.to_string(), text, to, masked);
        match e {
            ureq::Error::Timeout(_) => DeliveryError::TimedOut {
                channel,
                after: self.timeout,
            },
            ureq::Error::Io(io) if io.kind() == io::ErrorKind::TimedOut => {
                DeliveryError::TimedOut {
                    channel,
                    after: self.timeout,
                }
            }
            ureq::Error::HostNotFound | ureq::Error::ConnectionFailed => {
                DeliveryError::Unreachable { channel, detail }
            }
            ureq::Error::Io(io)
                if matches!(
                    io.kind(),
                    io::ErrorKind::ConnectionRefused
                        | io::ErrorKind::HostUnreachable
                        | io::ErrorKind::NetworkUnreachable
                        | io::ErrorKind::AddrNotAvailable
                ) =>
            {
                DeliveryError::Unreachable { channel, detail }
            }
            ureq::Error::Io(io)
                if matches!(
                    io.kind(),
                    io::ErrorKind::UnexpectedEof
                        | io::ErrorKind::ConnectionReset
                        | io::ErrorKind::ConnectionAborted
                        | io::ErrorKind::BrokenPipe
                ) =>
            {
                DeliveryError::ConnectionLost { channel, detail }
            }
            ureq::Error::Tls(_) | ureq::Error::Rustls(_) | ureq::Error::TlsRequired => {
                DeliveryError::Tls { channel, detail }
            }
            _ => DeliveryError::Protocol { channel, detail },
        }
    }

    /// Resolves the host and opens (then closes) a TCP connection, all within the timeout.
    pub(crate) fn check(&self) -> Result<(), DeliveryError> {
        let (target, timeout) = (self.target.clone(), self.timeout);
        run_bounded(Channel::SmsGateway, timeout, move || {
            connect(&target, timeout)
        })
    }
}

fn connect(target: &GatewayUrl, timeout: Duration) -> Result<(), DeliveryError> {
    let channel = Channel::SmsGateway;
    let unreachable = |detail: String| DeliveryError::Unreachable { channel, detail };
    let addrs: Vec<_> = (target.host.as_str(), target.port)
        .to_socket_addrs()
        .map_err(|e| unreachable(format!("{}: {e}", target.host)))?
        .collect();
    let mut last = String::from("no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                return Err(DeliveryError::TimedOut {
                    channel,
                    after: timeout,
                });
            }
            Err(e) => last = format!("{addr}: {e}"),
        }
    }
    Err(unreachable(last))
}
