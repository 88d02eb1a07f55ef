//! `Login1`: Begin → Prompt → Answer → Allow / Deny.
//!
//! For this release every service that stacks the module requires MFA (services that
//! should not, do not stack it); richer policy arrives with the policy issue.

use std::time::Instant;

use mfa_core::code::parse_code;
use mfa_core::policy::Requirement;
use mfa_core::ratelimit::Gate;
use mfa_core::username::loggable;
use mfa_proto::message::access_denied;
use mfa_proto::{
    DenyReason, LoginFacts, MAX_ANSWER_LEN, MAX_AUTH_INFO_LEN, MAX_FIELD_LEN, MfaError, Step,
    StepKind,
};

use super::{Daemon, check_field, check_service};
use crate::audit::Level;
use crate::authz::Caller;
use crate::clock;
use crate::flows::Flow;
use crate::store::VerifyOutcome;
use crate::users::{self, LookupError};

/// The prompt every TOTP login shows.
pub const TOTP_PROMPT: &str = "Verification code: ";

fn deny(service: &str, user: &str, reason: DenyReason, headline: &str, hints: &[&str]) -> Step {
    Step::new(StepKind::Deny {
        reason,
        message: access_denied(service, user, headline, hints),
    })
}

fn wait_message(until: u64, now: u64) -> String {
    format!(
        "too many failed attempts; try again in {} seconds.",
        until.saturating_sub(now).max(1)
    )
}

impl Daemon {
    fn audit_login(&self, level: Level, user: &str, service: &str, result: &str, extra: &str) {
        self.audit.log(
            level,
            format!(
                "login result={result} user={} service={service} {extra}",
                loggable(user)
            )
            .trim_end(),
        );
    }

    fn unavailable(&self, user: &str, service: &str, what: &str) -> Step {
        self.audit.log(
            Level::Error,
            &format!(
                "login result=deny reason=unavailable user={} service={service} error={what:?}",
                loggable(user)
            ),
        );
        deny(
            service,
            user,
            DenyReason::Unavailable,
            "the MFA service cannot read its database.",
            &["Try again later or contact an administrator."],
        )
    }

    /// The refusal for a closed gate (back-off or hard lock), or `None` when open. Storage
    /// failures refuse too.
    fn closed_gate(&self, user: &str, service: &str, now: u64) -> Option<Step> {
        match self
            .store
            .failure_state(user)
            .map(|s| self.limits.gate(s, now))
        {
            Err(e) => Some(self.unavailable(user, service, &e.to_string())),
            Ok(Gate::Open) => None,
            Ok(Gate::Wait { until }) => Some(self.throttled(user, service, until, now)),
            Ok(Gate::LockedOut) => Some(self.locked_out(user, service)),
        }
    }

    fn throttled(&self, user: &str, service: &str, until: u64, now: u64) -> Step {
        self.audit_login(
            Level::Warning,
            user,
            service,
            "deny",
            &format!("reason=throttled until={until}"),
        );
        deny(
            service,
            user,
            DenyReason::Locked,
            &wait_message(until, now),
            &[],
        )
    }

    fn locked_out(&self, user: &str, service: &str) -> Step {
        self.audit_login(Level::Warning, user, service, "deny", "reason=locked-out");
        deny(
            service,
            user,
            DenyReason::Locked,
            "the account is locked after too many failed attempts.",
            &[&format!(
                "Ask an administrator to run `mfactl unlock {user}`."
            )],
        )
    }

    /// Starts a login for `facts.user` on `facts.service`.
    pub fn begin(&self, caller: &Caller, facts: &LoginFacts) -> Result<Step, MfaError> {
        mfa_core::username::check_user_name(&facts.user)
            .map_err(|e| MfaError::InvalidUser(e.to_string()))?;
        check_service(&facts.service)?;
        check_field("tty", &facts.tty, MAX_FIELD_LEN)?;
        check_field("rhost", &facts.rhost, MAX_FIELD_LEN)?;
        check_field("ruser", &facts.ruser, MAX_FIELD_LEN)?;
        if facts.ssh_auth_info.len() > MAX_AUTH_INFO_LEN {
            return Err(MfaError::InvalidArgument(format!(
                "ssh_auth_info is longer than {MAX_AUTH_INFO_LEN} bytes"
            )));
        }
        caller.may_act_on(&facts.user)?;
        let (user, service) = (facts.user.as_str(), facts.service.as_str());
        let account = match users::lookup(user) {
            Ok(a) => Some(a),
            Err(LookupError::Unknown) => None,
            Err(LookupError::Invalid(e)) => return Err(MfaError::InvalidUser(e.to_string())),
            Err(LookupError::Nss(e)) => {
                self.audit.log(
                    Level::Error,
                    &format!(
                        "login result=deny reason=nss user={} error={e:?}",
                        loggable(user)
                    ),
                );
                return Ok(deny(
                    service,
                    user,
                    DenyReason::Unavailable,
                    "the user database could not be read.",
                    &["Try again later or contact an administrator."],
                ));
            }
        };
        let user_exists = account.is_some();
        let d = match self.decide(account.as_ref(), user, service) {
            Err(e) => return Ok(self.unavailable(user, service, &e.to_string())),
            Ok(d) => d,
        };
        let (mode, rule, tokens, enforcing_group) = (d.mode, &d.rule, d.tokens, &d.enforcing_group);
        if d.requirement == Requirement::NotRequired {
            let why = format!("service {service} is {mode} (rule {rule})");
            self.audit_login(
                Level::Info,
                user,
                service,
                "not-required",
                &format!("mode={mode} rule={rule:?}"),
            );
            return Ok(Step::new(StepKind::NotRequired { reason: why }));
        }
        if user_exists && tokens == 0 {
            let why = match enforcing_group {
                Some(g) => format!("reason=not-enrolled enforced_group={g:?}"),
                None => format!("reason=not-enrolled mode={mode} rule={rule:?}"),
            };
            self.audit_login(Level::Notice, user, service, "deny", &why);
            return Ok(deny(
                service,
                user,
                DenyReason::NotEnrolled,
                &format!("no token is enrolled for {user}."),
                &[&format!(
                    "Run `mfactl enroll totp` or ask an administrator to run `mfactl enroll totp {user}`."
                )],
            ));
        }
        // The gate applies to unknown names too: they are throttled exactly like real
        // accounts, so being prompted or refused reveals nothing about existence.
        if let Some(refusal) = self.closed_gate(user, service, clock::now()) {
            return Ok(refusal);
        }
        let flow = self.flows.start(Flow {
            owner: caller.sender.clone(),
            user: user.to_owned(),
            service: service.to_owned(),
            user_exists,
            started: Instant::now(),
        })?;
        Ok(Step::new(StepKind::Prompt {
            flow,
            text: TOTP_PROMPT.into(),
            echo: false,
        }))
    }

    /// Takes the answer to `flow`'s prompt and decides.
    pub fn answer(&self, caller: &Caller, flow: &str, answer: &str) -> Result<Step, MfaError> {
        let flow = self.flows.take(flow, &caller.sender)?;
        let (user, service) = (flow.user.as_str(), flow.service.as_str());
        // Anything that is not a well-formed code still counts as one failed attempt.
        let code = if answer.len() > MAX_ANSWER_LEN {
            None
        } else {
            parse_code(answer).ok()
        };
        let not_accepted = |extra: &str| {
            self.audit_login(Level::Notice, user, service, "deny", extra);
            deny(
                service,
                user,
                DenyReason::AuthFailed,
                "the verification code was not accepted.",
                &[],
            )
        };
        let now = clock::now();
        if !flow.user_exists {
            // Count the failure as for a real account (same throttling, no enumeration).
            if let Some(refusal) = self.closed_gate(user, service, now) {
                return Ok(refusal);
            }
            return match self.store.record_failure(user, now, &self.limits) {
                Ok(s) => Ok(not_accepted(&format!(
                    "reason=unknown-user failures={}",
                    s.consecutive
                ))),
                Err(e) => Ok(self.unavailable(user, service, &e.to_string())),
            };
        }
        match self
            .store
            .verify_totp(user, code.as_ref(), now, self.window, &self.limits)
        {
            Err(e) => Ok(self.unavailable(user, service, &e.to_string())),
            Ok(VerifyOutcome::Accepted { token_id }) => {
                self.audit_login(
                    Level::Notice,
                    user,
                    service,
                    "allow",
                    &format!("method=totp token={token_id}"),
                );
                Ok(Step::new(StepKind::Allow {
                    reason: format!("totp token {token_id}"),
                }))
            }
            Ok(VerifyOutcome::Failed(f)) => {
                let detail = if code.is_none() {
                    "malformed"
                } else if f.replayed {
                    "replayed"
                } else {
                    "wrong-code"
                };
                let mut extra = format!(
                    "reason=auth-failed detail={detail} failures={}",
                    f.state.consecutive
                );
                if f.state.locked_until > now {
                    extra.push_str(&format!(" throttled_until={}", f.state.locked_until));
                }
                Ok(not_accepted(&extra))
            }
            Ok(VerifyOutcome::Throttled { until }) => Ok(self.throttled(user, service, until, now)),
            Ok(VerifyOutcome::LockedOut) => Ok(self.locked_out(user, service)),
            Ok(VerifyOutcome::NotEnrolled) => {
                self.audit_login(Level::Notice, user, service, "deny", "reason=not-enrolled");
                Ok(deny(
                    service,
                    user,
                    DenyReason::NotEnrolled,
                    &format!("no token is enrolled for {user}."),
                    &[],
                ))
            }
        }
    }

    /// Abandons `flow` (the user cancelled). Unknown flows are ignored.
    pub fn cancel(&self, caller: &Caller, flow: &str) {
        if let Ok(f) = self.flows.take(flow, &caller.sender) {
            self.audit_login(Level::Info, &f.user, &f.service, "cancel", "");
        }
    }
}
