//! The couriers mfad delivers emailed and texted codes with, built from `[email]` and
//! `[sms]` in mfad.toml (crate `mfa-deliver`).

use std::sync::Arc;

use mfa_core::config::Config;
use mfa_deliver::{DeliveryError, Mailer, SmsSender};

use crate::daemon::sent_code::{Courier, Couriers, DeliveryFailure};

fn failure(e: DeliveryError) -> DeliveryFailure {
    DeliveryFailure {
        reason: e.to_string(),
        detail: e.detail(),
    }
}

/// Email over SMTP.
#[derive(Debug)]
struct EmailCourier(Mailer);

impl Courier for EmailCourier {
    fn send(&self, to: &str, subject: &str, text: &str) -> Result<(), DeliveryFailure> {
        self.0.send(to, subject, text).map_err(failure)
    }
}

/// SMS through the gateway or command (a text message has no subject).
#[derive(Debug)]
struct SmsCourier(SmsSender);

impl Courier for SmsCourier {
    fn send(&self, to: &str, _subject: &str, text: &str) -> Result<(), DeliveryFailure> {
        self.0.send(to, text).map_err(failure)
    }
}

/// The couriers `config` sets up (none for a section that is not configured). A section
/// that is configured but cannot be used (unreadable or unsafe credentials file, bad CA
/// file) is a start-up error naming it: mfad must not run with a method silently missing.
pub fn from_config(config: &Config) -> Result<Couriers, String> {
    let email = Mailer::from_config(&config.email)
        .map_err(|e| format!("[email]: {}", e.detail()))?
        .map(|m| Arc::new(EmailCourier(m)) as Arc<dyn Courier>);
    let sms = SmsSender::from_config(&config.sms)
        .map_err(|e| format!("[sms]: {}", e.detail()))?
        .map(|s| Arc::new(SmsCourier(s)) as Arc<dyn Courier>);
    Ok(Couriers { email, sms })
}
