//! Sending one-time codes by email and SMS, for `mfad`'s delivery workers.
//!
//! Three transports, each built from its section of mfad.toml and each call bounded by the
//! configured timeout:
//! - [`Mailer`]: SMTP through lettre (plain, STARTTLS, implicit TLS; rustls, no OpenSSL),
//!   with an optional login from a root-only credentials file;
//! - [`SmsSender`] with an HTTP gateway: a POST of a body template (ureq, rustls), with an
//!   optional header read from a root-only file;
//! - [`SmsSender`] with a command: a program run without a shell, the recipient as its last
//!   argument and the message on its standard input.
//!
//! The API is blocking on purpose: mfad calls it from worker threads, off the D-Bus request
//! path, so a slow mail server delays one delivery, not other logins. Errors are
//! [`DeliveryError`]s whose `Display` is a short reason fit for the user and whose
//! [`DeliveryError::detail`] is for the admin's log; neither ever holds the code, a
//! password or an unmasked recipient.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod deadline;
mod error;
mod mail;
mod redact;
mod secret_file;
mod sms;

pub use error::{Channel, DeliveryError};
pub use mail::Mailer;
pub use sms::SmsSender;
