//! `mfactl`: the admin and self-service command line of pam_mfa.
//!
//! It never opens mfad's database: every request goes over D-Bus to mfad, which authorises
//! it by the caller's UID. The library half exists so that the command-line definition
//! ([`cli::command`]) can feed completion and man page generators, and so that each command
//! is tested against a fake daemon.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod cli;
mod client;
mod commands;
mod deadline;
mod doctor;
pub mod error;
pub mod output;
mod prompt;
pub mod qr;

use std::io::{self, IsTerminal};

use crate::cli::{Cli, Command};
use crate::commands::{Ctx, Job};
pub use crate::error::CliError;
use crate::prompt::SystemPrompter;

/// Runs one parsed command line to the end and returns the exit status of a success (always
/// 0, except for `doctor`, whose status says what it found).
///
/// Local checks come first (exit status 2 on failure, before the bus is touched); then one
/// connection to mfad is made and used for the whole command, so a pending enrollment stays
/// with the connection that began it.
pub fn run(cli: Cli) -> Result<u8, CliError> {
    if let Command::Doctor(args) = &cli.command {
        return commands::doctor::run(args, cli.bus_address.as_deref(), cli.json);
    }
    let mut prompter = SystemPrompter::new();
    let key = commands::security_key::system_key(
        #[cfg(feature = "soft-fido2")]
        cli.fido2_soft_key.as_deref(),
    );
    let job = Job::prepare(cli.command, &mut prompter)?;
    let address = client::bus_address(cli.bus_address.as_deref())?;
    let shown = address.to_string();
    let qr = (!cli.json && io::stdout().is_terminal()).then(qr::Style::from_env);
    let mut out = io::stdout().lock();
    zbus::block_on(async {
        let (connection, proxy) = client::connect(&address).await?;
        let mut ctx = Ctx {
            json: cli.json,
            out: &mut out,
            prompter: &mut prompter,
            qr,
            key: key.as_ref(),
        };
        let result = job.execute(&proxy, &mut ctx).await.map(|()| 0);
        drop(proxy);
        // Best effort: the process exits next, which closes the socket anyway.
        let _ = connection.close().await;
        result
    })
    .map_err(|e| e.at_address(&shown))
}
