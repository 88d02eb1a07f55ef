//! Enrolling an email address or phone number: a code is sent to it, and the address is
//! saved only when the code comes back (`BeginCodeEnrollment` → `ConfirmCodeEnrollment`).
//! Root and the admin group may save an address they vouch for without the round trip
//! (`EnrollVerifiedAddress`), for bulk provisioning.

use std::time::Instant;

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use mfa_core::delivery::{check_email_address, check_phone_e164};
use mfa_core::policy::Method;
use mfa_proto::{CodeEnrollmentStart, MfaError, TokenInfo};

use super::sent_code::{DeliveryFailure, SendJob, masked, new_code};
use super::{Daemon, authorized_account, target_user};
use crate::authz::Caller;
use crate::clock;
use crate::enroll::{Pending, check_token_name};
use crate::store::SendDecision;

/// A pending email/SMS enrollment: where the code went, and the code.
pub struct CodePending {
    /// Email or SMS.
    pub method: Method,
    /// The address or number (wiped on drop).
    pub address: Zeroizing<String>,
    /// The code sent (wiped on drop).
    pub code: Zeroizing<String>,
    /// When the code expires (Unix time).
    pub expires_at: u64,
}

impl std::fmt::Debug for CodePending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the code, never the address in clear.
        f.debug_struct("CodePending")
            .field("method", &self.method)
            .field("to", &masked(self.method, &self.address))
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Parses the method argument: only the sent-code methods.
fn sent_code_method(method: &str) -> Result<Method, MfaError> {
    match method {
        "email" => Ok(Method::Email),
        "sms" => Ok(Method::Sms),
        other => Err(MfaError::InvalidArgument(format!(
            "method {:?}: expected email or sms",
            other.chars().take(32).collect::<String>()
        ))),
    }
}

/// Checks an address for `method`.
fn check_address(method: Method, address: &str) -> Result<(), MfaError> {
    let checked = match method {
        Method::Sms => check_phone_e164(address),
        _ => check_email_address(address),
    };
    checked.map_err(|e| MfaError::InvalidArgument(e.to_string()))
}

impl Daemon {
    /// Checks everything `BeginCodeEnrollment` and `EnrollVerifiedAddress` share, and
    /// returns the user's account name, the method and the token name.
    fn code_enrollment_target(
        &self,
        caller: &Caller,
        user: &str,
        method: &str,
        address: &str,
        name: &str,
    ) -> Result<(String, Method, String), MfaError> {
        let user = target_user(caller, user)?;
        let account = authorized_account(caller, user)?;
        let method = sent_code_method(method)?;
        check_address(method, address)?;
        let name = if name.is_empty() {
            self.default_token_name(&account.name, method.as_str())?
        } else {
            name.to_owned()
        };
        check_token_name(&name)?;
        if self.store.token_name_taken(&account.name, &name)? {
            return Err(MfaError::AlreadyExists(format!(
                "{} already has a token named {name:?}",
                account.name
            )));
        }
        Ok((account.name, method, name))
    }

    /// Starts an email/SMS enrollment: a code is generated and the returned job sends it
    /// (the bus adapter runs it off the executor, then calls
    /// [`Daemon::code_enrollment_sent`]). Nothing is stored but the send record.
    pub fn begin_code_enrollment(
        &self,
        caller: &Caller,
        user: &str,
        method: &str,
        address: &str,
        name: &str,
    ) -> Result<(String, SendJob), MfaError> {
        let (user, method, name) =
            self.code_enrollment_target(caller, user, method, address, name)?;
        if self.couriers.get(method).is_none() {
            return Err(MfaError::InvalidArgument(format!(
                "{method} codes are not configured on this host: set up [{method}] in \
                 mfad.toml first (see mfad(8))"
            )));
        }
        // A new way in needs a fresh factor from a user who already has one; checked now
        // (nothing is sent otherwise) and used up when the address is saved.
        self.check_new_factor(
            caller,
            &user,
            &format!("adding an {method} address for {user}"),
        )?;
        let now = clock::now();
        let expires_at = match self
            .store
            .reserve_send(&user, method, None, now, &self.otp)?
        {
            SendDecision::Send { expires_at } => expires_at,
            SendDecision::TooSoon { wait_secs } => {
                return Err(MfaError::RateLimited(format!(
                    "a code was sent to {user} moments ago; a new one can be sent in \
                     {wait_secs} seconds"
                )));
            }
            SendDecision::HourlyLimit { until } => {
                return Err(MfaError::RateLimited(format!(
                    "too many {method} codes were sent for {user} in the last hour; try again \
                     after {}",
                    clock::format_utc(until)
                )));
            }
            SendDecision::GlobalLimit => {
                return Err(MfaError::RateLimited(
                    "too many codes are being sent from this host right now; try again in a \
                     minute"
                        .into(),
                ));
            }
        };
        let code = new_code()?;
        let address = Zeroizing::new(address.to_owned());
        let job = self.send_job(&user, method, address.clone(), code.clone(), expires_at)?;
        let id = self.code_pending.start(Pending {
            owner: caller.sender.clone(),
            user: user.clone(),
            name,
            key: CodePending {
                method,
                address,
                code,
                expires_at,
            },
            started: Instant::now(),
            tries: 0,
        })?;
        self.audit_admin(
            caller,
            "enroll-begin",
            &user,
            &format!("kind={method} to={}", job.masked_to),
        );
        Ok((id, job))
    }

    /// The send of enrollment `id` ended: its start, or why no code went out (the
    /// enrollment is then discarded).
    pub fn code_enrollment_sent(
        &self,
        caller: &Caller,
        id: String,
        job: &SendJob,
        result: Result<(), DeliveryFailure>,
    ) -> Result<CodeEnrollmentStart, MfaError> {
        match result {
            Ok(()) => {
                self.audit_admin(
                    caller,
                    "code-sent",
                    &job.user,
                    &format!("kind={} to={} purpose=enroll", job.method, job.masked_to),
                );
                Ok(CodeEnrollmentStart {
                    enrollment: id,
                    sent_to: job.masked_to.clone(),
                    valid_secs: job.expires_at.saturating_sub(clock::now()) as u32,
                })
            }
            Err(failure) => {
                let _ = self.code_pending.take(&id, &caller.sender);
                self.audit_admin(
                    caller,
                    "code-not-sent",
                    &job.user,
                    &format!(
                        "kind={} to={} purpose=enroll reason={:?} detail={:?}",
                        job.method, job.masked_to, failure.reason, failure.detail
                    ),
                );
                Err(MfaError::Undeliverable(format!(
                    "the code could not be sent to {}: {}; nothing was saved",
                    job.masked_to, failure.reason
                )))
            }
        }
    }

    /// Saves the address of enrollment `id` if `code` is the one sent to it.
    pub fn confirm_code_enrollment(
        &self,
        caller: &Caller,
        id: &str,
        code: &str,
    ) -> Result<TokenInfo, MfaError> {
        let pending = self.code_pending.take(id, &caller.sender)?;
        if pending.key.expires_at <= clock::now() {
            return Err(MfaError::CodeRejected(
                "the code has expired; nothing was saved (start the enrollment again for a new \
                 one)"
                    .into(),
            ));
        }
        let typed = code.trim();
        let matches = typed.len() == pending.key.code.len()
            && bool::from(typed.as_bytes().ct_eq(pending.key.code.as_bytes()));
        if !matches {
            let left = self.code_pending.put_back(id.to_owned(), pending);
            return Err(MfaError::CodeRejected(if left == 0 {
                "the code does not match; nothing was saved and the enrollment is cancelled \
                 (too many wrong codes)"
                    .to_owned()
            } else {
                format!("the code does not match; nothing was saved ({left} tries left)")
            }));
        }
        let (user, method) = (pending.user.as_str(), pending.key.method);
        let what = format!("adding an {method} address for {user}");
        let saved = self.add_new_factor(caller, user, &what, || {
            let masked_to = masked(method, &pending.key.address);
            let result = self.store.insert_address(
                user,
                method,
                &pending.name,
                &pending.key.address,
                &masked_to,
                clock::now(),
            );
            super::manage::token_saved(user, &pending.name, result)
        });
        let info = match saved {
            Ok(info) => info,
            // The step-up from the start ran out meanwhile: keep the enrollment, so that
            // the same code confirms it after a new step-up.
            Err(e @ MfaError::StepUpRequired(_)) => {
                self.code_pending.restore(id.to_owned(), pending);
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        self.audit_admin(
            caller,
            "enroll",
            user,
            &format!(
                "kind={method} token={} name={:?} to={} verified=code",
                info.id, info.name, info.detail
            ),
        );
        Ok(info)
    }

    /// Saves an address without sending a code: root and the admin group only.
    pub fn enroll_verified_address(
        &self,
        caller: &Caller,
        user: &str,
        method: &str,
        address: &str,
        name: &str,
    ) -> Result<TokenInfo, MfaError> {
        if !caller.admin {
            return Err(MfaError::AccessDenied(
                "only root or the admin group may save an address without a code \
                 (--verified); enroll with a code instead"
                    .into(),
            ));
        }
        let (user, method, name) =
            self.code_enrollment_target(caller, user, method, address, name)?;
        let masked_to = masked(method, address);
        let result =
            self.store
                .insert_address(&user, method, &name, address, &masked_to, clock::now());
        let info = super::manage::token_saved(&user, &name, result)?;
        self.audit_admin(
            caller,
            "enroll",
            &user,
            &format!(
                "kind={method} token={} name={:?} to={masked_to} verified=admin",
                info.id, info.name
            ),
        );
        Ok(info)
    }
}
