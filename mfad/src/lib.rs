//! `mfad`: the pam_mfa daemon.
//!
//! It owns the SQLite store of tokens, replay watermarks and failure counters, serves the
//! login conversation (`org.pam_mfa.Login1`) to the PAM module and administration
//! (`org.pam_mfa.Manage1`) to `mfactl`, authorises every call by the caller's UID as the bus
//! reports it, and audits to syslog (authpriv).
//!
//! The binary is a thin shell over [`run`]; everything else is testable without a bus.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod audit;
pub mod authz;
pub mod cli;
pub mod clock;
pub mod couriers;
pub mod daemon;
pub mod enroll;
pub mod error;
pub mod flows;
pub mod service;
pub mod store;
pub mod users;

pub use cli::{Cli, run};
