//! `pam_mfa.so`: asks for a second factor, as decided by `mfad` over D-Bus.
//!
//! The module only wires things together: module arguments ([`args`]), facts about the login
//! ([`facts`]), the conversation ([`conv`] over [`ffi`]), the daemon client ([`client`]) and
//! the state machine ([`flow`]), which holds every rule about return codes. List it under
//! `auth` only; `setcred` succeeds, every other hook returns `PAM_SERVICE_ERR`.
//!
//! No hook ever unwinds into C: each body runs under `catch_unwind`, and a panic becomes
//! `PAM_SERVICE_ERR`. Nothing is printed (stdout may be the user's terminal); diagnostics go
//! to syslog (authpriv) through `pam_syslog`.
#![deny(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod args;
pub mod client;
pub mod conv;
pub mod facts;
#[allow(
    unsafe_code,
    reason = "the FFI module is the one place allowed unsafe code"
)]
pub mod ffi;
pub mod flow;
#[allow(
    unsafe_code,
    reason = "fork, pipe, poll, kill and waitpid for the security key's child process"
)]
pub mod fork_key;
pub mod log;

use std::panic::{AssertUnwindSafe, catch_unwind};

use pamsm::{Pam, PamError, PamFlags, PamServiceModule, pam_module};

use crate::args::Options;
use crate::conv::PamConversation;
use crate::log::{Log, Severity, quote};

/// The module type given to pamsm's `pam_module!`.
pub struct PamMfa;

impl PamServiceModule for PamMfa {
    // PAM_SILENT is not honoured for messages: see conv::PamConversation.
    fn authenticate(pam: Pam, _flags: PamFlags, args: Vec<String>) -> PamError {
        guarded(|| authenticate(&pam, &args))
    }

    /// sshd, sudo, su and runuser call `pam_setcred` after authentication; this module has
    /// no credentials to set.
    fn setcred(_pam: Pam, _flags: PamFlags, _args: Vec<String>) -> PamError {
        guarded(|| PamError::SUCCESS)
    }
}

pam_module!(PamMfa);

/// Runs a hook body, turning a panic into `PAM_SERVICE_ERR` (never success).
pub fn guarded(body: impl FnOnce() -> PamError) -> PamError {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(PamError::SERVICE_ERR)
}

/// `pam_sm_authenticate`: arguments → facts → one login over one bus connection.
fn authenticate(pam: &Pam, args: &[String]) -> PamError {
    let opts = match Options::try_from(args) {
        Ok(opts) => opts,
        Err(e) => {
            Log::new(pam, false).line(Severity::Error, &format!("refusing to run: {e}"));
            return PamError::SERVICE_ERR;
        }
    };
    let log = Log::new(pam, opts.debug);
    let facts = match facts::collect(pam) {
        Ok(facts) => facts,
        Err(e) => {
            log.line(Severity::Notice, &format!("cannot start the login: {e}"));
            // A refused user name: the user is told why (as for every other denial).
            if let Some(message) = e.user_message() {
                flow::PamIo::error(&mut PamConversation::new(pam), message);
            }
            return e.code();
        }
    };
    log.debug(&format!(
        "user {} service {} tty {} rhost {}: asking mfad",
        quote(&facts.user),
        quote(&facts.service),
        quote(&facts.tty),
        quote(&facts.rhost),
    ));

    let mut io = PamConversation::new(pam);
    let single_prompt = opts.single_prompt;
    let key = security_key(&opts);
    let outcome = client::with_daemon(&opts, &log, async |daemon| {
        if single_prompt {
            flow::single::run(&facts, &mut io, daemon).await
        } else {
            flow::run(&facts, &mut io, daemon, key.as_ref()).await
        }
    });

    log.line(
        outcome.severity(),
        &format!(
            "user {} service {}: {}",
            quote(&facts.user),
            quote(&facts.service),
            outcome.describe()
        ),
    );
    outcome.code()
}

/// The security key for `fido2` steps: the one USB key plugged in (opened only when a step
/// asks for it), or, in the TEST-ONLY `soft-fido2` build with `fido2_soft_key=PATH`, the
/// software authenticator. Either way each get_assertion runs in a child process killed
/// after `fido2_timeout=` ([`fork_key`]): the wait is bounded and no thread is left behind.
fn security_key(opts: &Options) -> Box<dyn mfa_fido_client::Authenticator> {
    #[cfg(feature = "soft-fido2")]
    if let Some(path) = &opts.fido2_soft_key {
        return Box::new(fork_key::ForkedKey::new(
            mfa_fido_client::SoftAuthenticator::new(path),
            opts.fido2_timeout,
        ));
    }
    Box::new(fork_key::ForkedKey::new(
        mfa_fido_client::HidAuthenticator::new(),
        opts.fido2_timeout,
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::panic, reason = "tests")]

    use super::*;

    #[test]
    fn a_panicking_hook_body_returns_service_err_never_success() {
        assert_eq!(guarded(|| panic!("boom")), PamError::SERVICE_ERR);
        assert_eq!(guarded(|| PamError::SUCCESS), PamError::SUCCESS);
    }
}
