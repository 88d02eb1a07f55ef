//! Text messages: through an HTTP gateway or a local command.

mod command;
mod http;
mod template;

use std::time::Duration;

use mfa_core::delivery::{SmsConfig, check_phone_e164};

use crate::error::DeliveryError;
use command::CommandTransport;
use http::HttpGateway;

/// Sends code text messages as `[sms]` says.
#[derive(Debug)]
pub struct SmsSender {
    transport: Transport,
}

#[derive(Debug)]
enum Transport {
    Gateway(HttpGateway),
    Command(CommandTransport),
}

impl SmsSender {
    /// Builds the sender from `[sms]`, or None when neither `gateway_url` nor `command` is
    /// set. Reads `auth_header_file` (refused unless owned by root with mode 0600 or
    /// stricter) and checks that `body` stays valid JSON once filled in. Contacts nothing:
    /// see [`SmsSender::check`].
    pub fn from_config(cfg: &SmsConfig) -> Result<Option<SmsSender>, DeliveryError> {
        // The same rules as the config file's, also for a section built in code.
        cfg.check()?;
        let timeout = Duration::from_secs(cfg.timeout_secs);
        let transport = match (&cfg.gateway_url, &cfg.command) {
            (Some(_), Some(_)) => {
                return Err(DeliveryError::Config {
                    key: "sms.command",
                    why: "set either sms.gateway_url or sms.command, not both".into(),
                });
            }
            (Some(url), None) => Transport::Gateway(HttpGateway::new(url, cfg, timeout)?),
            (None, Some(argv)) => Transport::Command(CommandTransport::new(argv, timeout)?),
            (None, None) => return Ok(None),
        };
        Ok(Some(SmsSender { transport }))
    }

    /// Sends `text` to the E.164 number `to` (checked first), within the configured timeout.
    pub fn send(&self, to: &str, text: &str) -> Result<(), DeliveryError> {
        check_phone_e164(to)?;
        match &self.transport {
            Transport::Gateway(g) => g.send(to, text),
            Transport::Command(c) => c.send(to, text),
        }
    }

    /// Checks the transport without sending anything (gateways bill per request): the
    /// gateway's host resolves and accepts a TCP connection, or the command is an
    /// executable file only root may change. For `mfactl doctor`.
    pub fn check(&self) -> Result<(), DeliveryError> {
        match &self.transport {
            Transport::Gateway(g) => g.check(),
            Transport::Command(c) => c.check(),
        }
    }
}
