//! Command line and start-up.

use std::path::PathBuf;
use std::sync::Arc;

use clap::{CommandFactory, Parser};

use mfa_core::config::{Config, DEFAULT_CONFIG_PATH};
use mfa_proto::{BUS_NAME, OBJECT_PATH, SYSTEM_BUS_ADDRESS};

use crate::audit::{Audit, Level};
use crate::daemon::Daemon;
use crate::service::{LoginService, ManageService};
use crate::store::Store;

/// Default database path.
pub const DEFAULT_DB_PATH: &str = "/var/lib/mfad/mfa.db";

/// mfad: the pam_mfa daemon. Owns tokens and failure state; serves logins over D-Bus.
#[derive(Debug, Parser)]
#[command(name = "mfad", version, about, long_about = None)]
pub struct Cli {
    /// SQLite database (created 0600 in a 0700 directory if missing).
    #[arg(long, value_name = "PATH", default_value = DEFAULT_DB_PATH)]
    pub db: PathBuf,
    /// Key file sealing the TOTP secrets in the database (XChaCha20-Poly1305), created 0600
    /// on first start [default: mfad.key beside the database]. Back it up apart from the
    /// database: a copy of the database alone reveals no secret, and without the key the
    /// tokens cannot be used.
    #[arg(long, value_name = "PATH")]
    pub key_file: Option<PathBuf>,
    /// D-Bus address to serve on (default: the system bus).
    #[arg(long, value_name = "ADDRESS")]
    pub bus_address: Option<String>,
    /// Configuration file. If not given, /etc/mfa/mfad.toml is read when it exists.
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Send syslog lines to this datagram socket instead of /dev/log.
    #[arg(long, value_name = "PATH")]
    pub syslog_socket: Option<PathBuf>,
    /// Also write log lines to stderr.
    #[arg(long)]
    pub log_stderr: bool,
}

/// The whole command-line definition, for the man page generator (`mfa-docs`).
pub fn command() -> clap::Command {
    Cli::command()
}

fn load_config(cli: &Cli) -> Result<Config, String> {
    let (path, required) = match &cli.config {
        Some(p) => (p.clone(), true),
        None => (PathBuf::from(DEFAULT_CONFIG_PATH), false),
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => Config::parse(&text).map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => Ok(Config::default()),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// Starts the daemon and serves until killed. Returns only on a start-up failure.
pub fn run(cli: Cli) -> Result<(), String> {
    // Nothing mfad creates is for other users' eyes.
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    let audit = Audit::new(cli.syslog_socket.clone(), cli.log_stderr);
    let fail = |audit: &Audit, msg: String| {
        audit.log(Level::Error, &format!("not starting: {msg}"));
        msg
    };
    let config = load_config(&cli).map_err(|m| fail(&audit, m))?;
    let key_file = cli
        .key_file
        .clone()
        .unwrap_or_else(|| crate::store::seal::default_key_path(&cli.db));
    let store = Store::open_with_key(&cli.db, &key_file)
        .map_err(|e| fail(&audit, format!("{}: {e}", cli.db.display())))?;
    let daemon = Arc::new(Daemon::new(store, &config, audit));
    let address = cli
        .bus_address
        .clone()
        .unwrap_or_else(|| SYSTEM_BUS_ADDRESS.to_owned());
    zbus::block_on(async {
        let conn = zbus::connection::Builder::address(address.as_str())
            .name(BUS_NAME)
            .serve_at(OBJECT_PATH, LoginService(daemon.clone()))
            .serve_at(OBJECT_PATH, ManageService(daemon.clone()))
            .build()
            .await
            .map_err(|e| {
                fail(
                    daemon.audit(),
                    format!("cannot serve {BUS_NAME} on {address}: {e}"),
                )
            })?;
        daemon.audit().log(
            Level::Info,
            &format!(
                "started version={} db={} schema={} bus={address}",
                env!("CARGO_PKG_VERSION"),
                cli.db.display(),
                daemon.store().schema_version().unwrap_or(-1)
            ),
        );
        std::future::pending::<()>().await;
        drop(conn);
        Ok(())
    })
}
