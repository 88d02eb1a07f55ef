//! Audit and diagnostic logging to syslog (authpriv), with a stderr fallback.
//!
//! Lines are `key=value` pairs so they can be grepped and parsed. Nothing secret ever goes
//! in: no codes, no secrets, no otpauth URIs; user names are escaped ([`loggable`]).
//!
//! [`loggable`]: mfa_core::username::loggable

use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

use syslog::{Facility, Formatter3164, Logger, LoggerBackend};

/// Where log lines go.
pub struct Audit {
    target: Option<PathBuf>,
    logger: Mutex<Option<Logger<LoggerBackend, Formatter3164>>>,
    stderr: bool,
}

/// Severity of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Something is broken and needs an admin (storage failure, refused start).
    Error,
    /// Security-relevant refusal (lock-out, access denied, replay).
    Warning,
    /// Normal audit events (login allowed/denied, enrollment, removal).
    Notice,
    /// Start-up and housekeeping.
    Info,
}

impl Audit {
    /// Logs to `socket` if given, else to the system's /dev/log; also to stderr when
    /// `stderr` is set or when syslog is unreachable.
    pub fn new(socket: Option<PathBuf>, stderr: bool) -> Self {
        let audit = Audit {
            target: socket,
            logger: Mutex::new(None),
            stderr,
        };
        let connected = audit.connect();
        if let Ok(mut guard) = audit.logger.lock() {
            *guard = connected;
        }
        audit
    }

    /// An audit sink that only writes to stderr (tests, `--log-stderr` without syslog).
    pub fn stderr_only() -> Self {
        Audit {
            target: None,
            logger: Mutex::new(None),
            stderr: true,
        }
    }

    fn connect(&self) -> Option<Logger<LoggerBackend, Formatter3164>> {
        let formatter = Formatter3164 {
            facility: Facility::LOG_AUTHPRIV,
            hostname: None,
            process: "mfad".into(),
            pid: std::process::id(),
        };
        match &self.target {
            Some(path) => syslog::unix_custom(formatter, path).ok(),
            None => syslog::unix(formatter).ok(),
        }
    }

    /// Writes one line.
    pub fn log(&self, level: Level, line: &str) {
        let mut sent = false;
        if let Ok(mut guard) = self.logger.lock() {
            for attempt in 0..2 {
                if guard.is_none() && attempt == 1 {
                    *guard = self.connect();
                }
                if let Some(logger) = guard.as_mut() {
                    let r = match level {
                        Level::Error => logger.err(line),
                        Level::Warning => logger.warning(line),
                        Level::Notice => logger.notice(line),
                        Level::Info => logger.info(line),
                    };
                    if r.is_ok() {
                        sent = true;
                        break;
                    }
                    // The syslog daemon may have restarted: reconnect once.
                    *guard = None;
                }
            }
        }
        if self.stderr || !sent {
            let tag = match level {
                Level::Error => "error",
                Level::Warning => "warning",
                Level::Notice => "notice",
                Level::Info => "info",
            };
            let _ = writeln!(
                std::io::stderr(),
                "mfad[{}]: {tag}: {line}",
                std::process::id()
            );
        }
    }
}

impl std::fmt::Debug for Audit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Audit")
            .field("target", &self.target)
            .field("stderr", &self.stderr)
            .finish()
    }
}
