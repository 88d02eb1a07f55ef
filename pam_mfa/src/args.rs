//! Module arguments (`/etc/pam.d/*`) → [`Options`].
//!
//! The arguments are the only configuration the module has: they come from root-owned PAM
//! files, never from the process environment (see notes/security.md §4). Anything unknown,
//! repeated or malformed is an error, and the module then fails closed.

use std::fmt;
use std::time::Duration;

use zbus::Address;
use zbus::address::transport::{Transport, UnixSocket};

/// Default per-call deadline, in milliseconds.
pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;
/// Largest accepted `timeout=`, in milliseconds (security.md §2: 30 s at most).
pub const MAX_TIMEOUT_MS: u64 = 30_000;

/// The module's configuration, parsed from its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Bus to reach `mfad` on: `bus=`, else [`mfa_proto::SYSTEM_BUS_ADDRESS`]. Always a unix
    /// socket given by an absolute path or an abstract name.
    pub bus: Address,
    /// Deadline for the connection set-up and for each daemon call (`timeout=MS`).
    pub timeout: Duration,
    /// Whether `debug` was given: log detail lines (never codes or answers).
    pub debug: bool,
}

/// Why the arguments were refused. The module logs it and returns `PAM_SERVICE_ERR`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgError {
    /// The offending argument as written (or the built-in default that failed).
    pub argument: String,
    /// What is wrong with it.
    pub problem: &'static str,
}

impl fmt::Display for ArgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "module argument {:?}: {}", self.argument, self.problem)
    }
}

impl std::error::Error for ArgError {}

impl TryFrom<&[String]> for Options {
    type Error = ArgError;

    fn try_from(args: &[String]) -> Result<Self, Self::Error> {
        let mut bus = None;
        let mut timeout = None;
        let mut debug = false;

        for arg in args {
            let error = |problem| ArgError {
                argument: arg.clone(),
                problem,
            };
            let (key, value) = match arg.split_once('=') {
                Some((key, value)) => (key, Some(value)),
                None => (arg.as_str(), None),
            };
            match (key, value) {
                ("debug", None) => {
                    if debug {
                        return Err(error("given twice"));
                    }
                    debug = true;
                }
                ("debug", Some(_)) => return Err(error("`debug` takes no value")),
                ("bus", Some(value)) => {
                    if bus.is_some() {
                        return Err(error("given twice"));
                    }
                    bus = Some(parse_bus(value).map_err(error)?);
                }
                ("timeout", Some(value)) => {
                    if timeout.is_some() {
                        return Err(error("given twice"));
                    }
                    timeout = Some(parse_timeout(value).map_err(error)?);
                }
                ("bus" | "timeout", None) => return Err(error("needs a value (key=value)")),
                _ => return Err(error("unknown argument")),
            }
        }

        let bus = match bus {
            Some(bus) => bus,
            None => parse_bus(mfa_proto::SYSTEM_BUS_ADDRESS).map_err(|problem| ArgError {
                argument: mfa_proto::SYSTEM_BUS_ADDRESS.to_owned(),
                problem,
            })?,
        };
        Ok(Options {
            bus,
            timeout: timeout.unwrap_or(Duration::from_millis(DEFAULT_TIMEOUT_MS)),
            debug,
        })
    }
}

/// A bus address the module may use: one `unix:` address naming an absolute socket path or
/// an abstract socket. Relative paths would resolve against the caller's working directory
/// (under `su` that is the invoking user's), and `unix:runtime=`, `tcp:`, `unixexec:` or
/// address lists would make the target depend on something other than this argument.
fn parse_bus(value: &str) -> Result<Address, &'static str> {
    if !value.starts_with("unix:") {
        return Err("the bus address must start with `unix:`");
    }
    if value.contains(';') {
        return Err("only one bus address may be given");
    }
    let address = Address::try_from(value).map_err(|_| "not a valid D-Bus address")?;
    match address.transport() {
        Transport::Unix(unix) => match unix.path() {
            UnixSocket::File(path) if path.is_absolute() => Ok(address),
            UnixSocket::File(_) => Err("the socket path must be absolute"),
            UnixSocket::Abstract(_) => Ok(address),
            _ => Err("the address must name a socket (`path=` or `abstract=`)"),
        },
        _ => Err("the bus address must start with `unix:`"),
    }
}

/// Milliseconds, `1..=MAX_TIMEOUT_MS`, plain decimal digits.
fn parse_timeout(value: &str) -> Result<Duration, &'static str> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err("the timeout must be a number of milliseconds");
    }
    match value.parse::<u64>() {
        Ok(ms @ 1..=MAX_TIMEOUT_MS) => Ok(Duration::from_millis(ms)),
        _ => Err("the timeout must be between 1 and 30000 milliseconds"),
    }
}

#[cfg(test)]
mod tests;
