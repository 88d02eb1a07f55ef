//! The daemon's logic, independent of the bus: every method takes an identified
//! [`Caller`] and plain arguments, so it is unit-tested without a bus.

mod decide;
mod enroll_code;
mod fido2;
mod login;
mod manage;
pub mod sent_code;

pub use fido2::Fido2Request;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use mfa_core::config::Config;
use mfa_core::ratelimit::RateLimit;
use mfa_proto::{MAX_SERVICE_LEN, MfaError, STEP_UP_TTL_SECS};

use crate::audit::{Audit, Level};
use crate::authz::{Authorizer, Caller};
use crate::enroll::{Fido2Pending, PendingTable};
use crate::flows::FlowTable;
use crate::store::Store;
use crate::users::{self, Account, LookupError};

/// Everything the daemon holds.
#[derive(Debug)]
pub struct Daemon {
    store: Store,
    audit: Audit,
    authz: Authorizer,
    flows: FlowTable,
    pending: PendingTable,
    fido2_pending: PendingTable<Fido2Pending>,
    code_pending: PendingTable<enroll_code::CodePending>,
    issuer: String,
    /// The relying-party ID of this host's security keys (`[fido2] rp_id`).
    rp_id: String,
    /// How long a FIDO2 challenge stays valid (`[fido2] challenge_ttl_secs`).
    challenge_ttl: Duration,
    window: u32,
    limits: RateLimit,
    /// Fresh step-ups: (connection, user) → when. Each allows one sensitive change.
    step_ups: Mutex<HashMap<(String, String), Instant>>,
    /// This host's name, for the messages carrying codes.
    host: String,
    /// Lifetime and send limits of emailed and texted codes (`[otp]`).
    otp: mfa_core::delivery::OtpConfig,
    /// Who delivers emailed and texted codes; none configured: the methods are not offered.
    couriers: sent_code::Couriers,
    /// Codes committed and waiting to be sent with the step that announces them.
    pending_sends: sent_code::PendingSends,
}

impl Daemon {
    /// Assembles a daemon from its parts.
    pub fn new(store: Store, config: &Config, audit: Audit) -> Self {
        let host = nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_default();
        let issuer = config.daemon.issuer.clone().unwrap_or_else(|| {
            let host: String = host
                .chars()
                .filter(|c| *c != ':' && !c.is_control())
                .take(48)
                .collect();
            if host.is_empty() {
                "pam_mfa".into()
            } else {
                format!("pam_mfa@{host}")
            }
        });
        let rp_id = config.fido2.rp_id.clone().unwrap_or_else(|| {
            let host: String = host
                .chars()
                .filter(|c| !c.is_control() && !c.is_whitespace())
                .take(253)
                .collect();
            mfa_core::fido2::host_rp_id(if host.is_empty() { "localhost" } else { &host })
        });
        Daemon {
            store,
            audit,
            authz: Authorizer::new(config.daemon.admin_group.clone()),
            flows: FlowTable::default(),
            pending: PendingTable::default(),
            fido2_pending: PendingTable::default(),
            code_pending: PendingTable::default(),
            issuer,
            rp_id,
            challenge_ttl: Duration::from_secs(config.fido2.challenge_ttl_secs),
            window: config.totp.window,
            limits: config.rate_limit.sanitized(),
            step_ups: Mutex::new(HashMap::new()),
            host: if host.is_empty() {
                "localhost".to_owned()
            } else {
                host.chars().filter(|c| !c.is_control()).take(253).collect()
            },
            otp: config.otp,
            couriers: sent_code::Couriers::default(),
            pending_sends: sent_code::PendingSends::default(),
        }
    }

    /// Uses `couriers` to deliver emailed and texted codes.
    pub fn with_couriers(mut self, couriers: sent_code::Couriers) -> Self {
        self.couriers = couriers;
        self
    }

    fn step_up_table(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Instant>> {
        self.step_ups.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a verified step-up of `caller`'s connection for `user`.
    fn grant_step_up(&self, caller: &Caller, user: &str) {
        let mut t = self.step_up_table();
        t.retain(|_, at| at.elapsed() < Duration::from_secs(STEP_UP_TTL_SECS));
        // Bounded like flows: one entry per connection and user, expiring in minutes.
        if t.len() < crate::flows::MAX_FLOWS {
            t.insert((caller.sender.clone(), user.to_owned()), Instant::now());
        }
    }

    /// Runs a sensitive change to `user`. `act` is told whether `caller`'s connection holds
    /// a fresh step-up for `user` and answers whether the change relied on it; a grant relied
    /// on is used up. The table stays locked throughout, so one grant allows exactly one
    /// change even when calls on the same connection race. A failed `act` (nothing changed)
    /// keeps the grant.
    fn with_step_up<T>(
        &self,
        caller: &Caller,
        user: &str,
        act: impl FnOnce(bool) -> Result<(T, bool), MfaError>,
    ) -> Result<T, MfaError> {
        let mut table = self.step_up_table();
        let key = (caller.sender.clone(), user.to_owned());
        let fresh = table
            .get(&key)
            .is_some_and(|at| at.elapsed() < Duration::from_secs(STEP_UP_TTL_SECS));
        let (value, used) = act(fresh)?;
        if used {
            table.remove(&key);
        }
        Ok(value)
    }

    /// The authoriser, for the bus adapter.
    pub fn authorizer(&self) -> &Authorizer {
        &self.authz
    }

    /// The audit sink.
    pub fn audit(&self) -> &Audit {
        &self.audit
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Logs a refused call (access denied, bad input) so admins see probing.
    pub fn log_refusal(&self, caller: &Caller, method: &str, err: &MfaError) {
        let level = match err {
            MfaError::AccessDenied(_) => Level::Warning,
            MfaError::Storage(_) | MfaError::Internal(_) => Level::Error,
            _ => Level::Info,
        };
        self.audit.log(
            level,
            &format!(
                "refused method={method} uid={} error={:?}",
                caller.uid,
                mfa_core::username::loggable(&err.message())
            ),
        );
    }
}

/// Resolves the target of a management call: empty means the caller's own account.
fn target_user<'a>(caller: &'a Caller, user: &'a str) -> Result<&'a str, MfaError> {
    if user.is_empty() {
        caller.own_name().ok_or_else(|| {
            MfaError::InvalidUser(format!(
                "no user was given and uid {} has no account name",
                caller.uid
            ))
        })
    } else {
        Ok(user)
    }
}

/// Checks a name's syntax, then the caller's right to act on it, then NSS: in that order, so
/// a non-admin learns nothing about other accounts.
fn authorized_account(caller: &Caller, user: &str) -> Result<Account, MfaError> {
    mfa_core::username::check_user_name(user).map_err(|e| MfaError::InvalidUser(e.to_string()))?;
    caller.may_act_on(user)?;
    users::lookup(user).map_err(|e| lookup_error(user, e))
}

fn lookup_error(user: &str, e: LookupError) -> MfaError {
    match e {
        LookupError::Invalid(e) => MfaError::InvalidUser(e.to_string()),
        LookupError::Unknown => MfaError::UnknownUser(format!(
            "there is no user {:?} on this host",
            mfa_core::username::loggable(user)
        )),
        LookupError::Nss(e) => MfaError::Internal(format!("the user database (NSS) failed: {e}")),
    }
}

/// Checks a token reference (an id or a name) given to remove or rename.
fn check_token_ref(token: &str) -> Result<(), MfaError> {
    if token.is_empty() || token.len() > 256 {
        return Err(MfaError::InvalidArgument(
            "token must be an id or a name of 1 to 256 bytes".into(),
        ));
    }
    Ok(())
}

/// Checks a free-text field from the module (tty, rhost, …).
fn check_field(name: &str, value: &str, max: usize) -> Result<(), MfaError> {
    if value.len() > max {
        return Err(MfaError::InvalidArgument(format!(
            "{name} is longer than {max} bytes"
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(MfaError::InvalidArgument(format!(
            "{name} contains control characters"
        )));
    }
    Ok(())
}

/// Checks a PAM service name: it is a file name under /etc/pam.d.
fn check_service(service: &str) -> Result<(), MfaError> {
    if service.is_empty()
        || service.len() > MAX_SERVICE_LEN
        || !service
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@' | b'+'))
        || service.starts_with('.')
    {
        return Err(MfaError::InvalidArgument(format!(
            "service must be 1 to {MAX_SERVICE_LEN} characters of A-Z a-z 0-9 - _ . @ +"
        )));
    }
    Ok(())
}
