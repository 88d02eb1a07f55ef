//! Command line and start-up.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{CommandFactory, Parser};
use nix::errno::Errno;
use nix::sys::signal::{SigSet, Signal};

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

/// The signals that stop mfad cleanly (systemd's stop, Ctrl-C in a terminal).
fn stop_signals() -> SigSet {
    let mut set = SigSet::empty();
    set.add(Signal::SIGTERM);
    set.add(Signal::SIGINT);
    set
}

/// Starts the daemon and serves until SIGTERM or SIGINT, which end the process from the
/// stop thread ([`spawn_stop_thread`]) with status 0 after a final checkpoint. Returns only
/// on a start-up failure.
pub fn run(cli: Cli) -> Result<(), String> {
    // Nothing mfad creates is for other users' eyes.
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    // Blocked before any thread exists, so every thread inherits the mask and the signals
    // stay pending until the stop thread takes them with sigwait: no handler ever runs in
    // signal context, and one arriving during start-up is handled as soon as it can be.
    let stop = stop_signals();
    stop.thread_block()
        .map_err(|e| format!("cannot block SIGTERM and SIGINT: {e}"))?;
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
    let couriers = crate::couriers::from_config(&config).map_err(|m| fail(&audit, m))?;
    let daemon = Arc::new(Daemon::new(store, &config, audit).with_couriers(couriers));
    // Weak: the store lives inside the daemon, which must not keep itself alive.
    let weak = Arc::downgrade(&daemon);
    daemon.store().on_warning(move |line| {
        if let Some(d) = weak.upgrade() {
            d.audit().log(Level::Warning, line);
        }
    });
    spawn_stop_thread(daemon.clone(), stop, cli.db.clone()).map_err(|m| fail(daemon.audit(), m))?;
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
        // Serves until the stop thread ends the process.
        std::future::pending::<()>().await;
        drop(conn);
        Ok(())
    })
}

/// Starts the thread that waits for [`stop_signals`] and then ends mfad cleanly
/// ([`stop`]).
fn spawn_stop_thread(daemon: Arc<Daemon>, signals: SigSet, db: PathBuf) -> Result<(), String> {
    std::thread::Builder::new()
        .name("mfad-stop".into())
        .spawn(move || {
            let signal = loop {
                match signals.wait() {
                    Ok(signal) => break signal,
                    Err(Errno::EINTR) => continue,
                    Err(e) => {
                        // The daemon keeps serving; only a clean stop is lost (SIGKILL
                        // still works, and SQLite recovers from the WAL).
                        daemon.audit().log(
                            Level::Error,
                            &format!(
                                "cannot wait for SIGTERM/SIGINT ({e}): mfad will not checkpoint \
                                 its database when stopped"
                            ),
                        );
                        return;
                    }
                }
            };
            stop(&daemon, signal, &db)
        })
        .map(drop)
        .map_err(|e| format!("cannot start the signal thread: {e}"))
}

/// Folds the WAL into the database file (`wal_checkpoint(TRUNCATE)`), logs how it went and
/// exits: 0 when the database file holds everything (or when another process kept part of
/// the WAL, which is still safe as long as the file is kept), 1 when the checkpoint failed.
///
/// The process exits with the store lock still held, so no call being served can commit
/// anything after the checkpoint.
fn stop(daemon: &Daemon, signal: Signal, db: &Path) -> ! {
    let fin = daemon.store().final_checkpoint();
    let db = db.display();
    let (level, line, status) = match &fin.result {
        Ok(c) if c.complete() => (
            Level::Info,
            format!(
                "stopped signal={} checkpoint=done wal_frames={} db={db}",
                signal.as_str(),
                c.wal_frames.max(0)
            ),
            0,
        ),
        Ok(c) => (
            Level::Warning,
            format!(
                "stopped signal={} checkpoint=incomplete copied={} wal_frames={} db={db}: \
                 another process has the database open; the rest of the changes are only in \
                 {db}-wal: keep that file with the database",
                signal.as_str(),
                c.copied,
                c.wal_frames
            ),
            0,
        ),
        Err(e) => (
            Level::Error,
            format!(
                "stopped signal={} checkpoint=failed db={db} error={:?}: the latest changes \
                 are only in {db}-wal: keep that file with the database",
                signal.as_str(),
                e.to_string()
            ),
            1,
        ),
    };
    daemon.audit().log(level, &line);
    std::process::exit(status)
}
