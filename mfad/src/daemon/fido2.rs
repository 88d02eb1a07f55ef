//! FIDO2 security keys: the `fido2` login step (challenge, answer, no key) and enrollment.
//!
//! The module (or mfactl, for a step-up) runs get_assertion on the key; everything that
//! decides is here: a fresh random challenge per step, held in the flow (single use: the
//! answer takes the flow) and expiring after `[fido2] challenge_ttl_secs`; the assertion is
//! verified by `mfa_core::fido2` inside the store's transaction ([`Store::verify_fido2`]).
//!
//! [`Store::verify_fido2`]: crate::store::Store::verify_fido2

use std::time::Instant;

use mfa_core::fido2::{CHALLENGE_LEN, Expected, Fido2Error, verify_registration};
use mfa_core::policy::Method;
use mfa_core::username::loggable;
use mfa_proto::{
    DenyReason, FIDO2_TOUCH_TEXT, Fido2EnrollmentStart, MAX_ATTESTATION_LEN,
    MAX_AUTHENTICATOR_DATA_LEN, MAX_CREDENTIAL_ID_LEN, MAX_REASON_LEN, MAX_SIGNATURE_LEN, MfaError,
    Step, StepKind, TokenInfo,
};

use super::login::deny;
use super::{Daemon, authorized_account, target_user};
use crate::audit::Level;
use crate::authz::Caller;
use crate::clock;
use crate::enroll::{Fido2Pending, Pending, check_token_name};
use crate::flows::{Flow, Purpose, Stage};
use crate::store::{Fido2Assertion, VerifyOutcome};

/// What `Fido2Request` answers: RP ID, challenge, allowed credential IDs, UV required.
pub type Fido2Request = (String, Vec<u8>, Vec<Vec<u8>>, bool);

fn random<const N: usize>() -> Result<[u8; N], MfaError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes)
        .map_err(|e| MfaError::Internal(format!("the OS random generator failed: {e}")))?;
    Ok(bytes)
}

fn wrong_interface(purpose: Purpose) -> MfaError {
    MfaError::UnknownFlow(match purpose {
        Purpose::Login => "that flow is a step-up; use the Manage1 step-up calls".into(),
        Purpose::StepUp => "that flow is a login; use the Login1 calls".into(),
    })
}

fn not_waiting_for_a_key() -> MfaError {
    MfaError::UnknownFlow("that flow is not waiting for a security key".into())
}

/// Refuses oversized assertion parts before any work.
fn check_sizes(credential_id: &[u8], data: &[u8], signature: &[u8]) -> Result<(), MfaError> {
    for (what, len, max) in [
        ("credential_id", credential_id.len(), MAX_CREDENTIAL_ID_LEN),
        ("authenticator_data", data.len(), MAX_AUTHENTICATOR_DATA_LEN),
        ("signature", signature.len(), MAX_SIGNATURE_LEN),
    ] {
        if len == 0 || len > max {
            return Err(MfaError::InvalidArgument(format!(
                "{what} must be 1 to {max} bytes"
            )));
        }
    }
    Ok(())
}

/// A `Fido2Unavailable` reason: a short code the client chose, logged as is.
fn check_reason(reason: &str) -> Result<(), MfaError> {
    if reason.is_empty()
        || reason.len() > MAX_REASON_LEN
        || !reason
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(MfaError::InvalidArgument(format!(
            "reason must be 1 to {MAX_REASON_LEN} characters of a-z 0-9 -"
        )));
    }
    Ok(())
}

impl Daemon {
    /// Issues a challenge for `flow` (whose stage names FIDO2) and returns the fido2 step.
    pub(super) fn fido2_step(&self, mut flow: Flow) -> Result<Step, MfaError> {
        flow.stage = Stage::Fido2 {
            challenge: random::<CHALLENGE_LEN>()?,
            issued: Instant::now(),
        };
        let id = self.flows.start(flow)?;
        Ok(Step::new(StepKind::Fido2 {
            flow: id,
            text: FIDO2_TOUCH_TEXT.into(),
        }))
    }

    /// `Fido2Request` (Login1, or Manage1 for a step-up): what the key must sign.
    pub fn fido2_request(
        &self,
        caller: &Caller,
        flow: &str,
        purpose: Purpose,
    ) -> Result<Fido2Request, MfaError> {
        let f = self.flows.peek(flow, &caller.sender)?;
        if f.purpose != purpose {
            return Err(wrong_interface(purpose));
        }
        let Stage::Fido2 { challenge, issued } = f.stage else {
            return Err(not_waiting_for_a_key());
        };
        if issued.elapsed() >= self.challenge_ttl {
            return Err(MfaError::UnknownFlow(
                "the security key challenge expired; start again".into(),
            ));
        }
        let rows = self.store.fido2_credentials(&f.user)?;
        let require_uv = rows.iter().any(|r| r.record.require_uv);
        let ids = rows.into_iter().map(|r| r.record.credential_id).collect();
        Ok((self.rp_id.clone(), challenge.to_vec(), ids, require_uv))
    }

    /// `AnswerFido2`: verifies the key's assertion for `flow` (used up either way).
    pub fn answer_fido2(
        &self,
        caller: &Caller,
        flow: &str,
        purpose: Purpose,
        credential_id: &[u8],
        authenticator_data: &[u8],
        signature: &[u8],
    ) -> Result<Step, MfaError> {
        check_sizes(credential_id, authenticator_data, signature)?;
        let f = self.flows.take(flow, &caller.sender)?;
        if f.purpose != purpose {
            return Err(wrong_interface(purpose));
        }
        let Stage::Fido2 { challenge, issued } = f.stage else {
            return Err(not_waiting_for_a_key());
        };
        let (user, service) = (f.user.as_str(), f.service.as_str());
        let now = clock::now();
        if issued.elapsed() >= self.challenge_ttl {
            // Not counted: a slow touch is not a wrong factor; the answer is just too late.
            self.audit_login(
                Level::Notice,
                user,
                service,
                "deny",
                &format!(
                    "method=fido2 reason=fido2-challenge-expired ttl={}",
                    self.challenge_ttl.as_secs()
                ),
            );
            return Ok(deny(
                service,
                user,
                DenyReason::AuthFailed,
                "the security key answered too late (the challenge expired).",
                &["Log in again and touch the key when asked."],
            ));
        }
        let assertion = Fido2Assertion {
            rp_id: &self.rp_id,
            challenge: &challenge,
            credential_id,
            authenticator_data,
            signature,
        };
        let step = match self.store.verify_fido2(user, &assertion, now, &self.limits) {
            Err(e) => self.unavailable(user, service, &e.to_string()),
            Ok((VerifyOutcome::Accepted { token_id }, _)) => {
                self.allowed(&f, Method::Fido2, token_id, "")
            }
            Ok((VerifyOutcome::Failed(failure), why)) => {
                let why = why.unwrap_or(Fido2Error::BadSignature);
                // A counter that went back is the one sign of a cloned key: say it loudly.
                let level = match why {
                    Fido2Error::CounterRegression { .. } => Level::Warning,
                    _ => Level::Notice,
                };
                self.audit_login(
                    level,
                    user,
                    service,
                    "deny",
                    &format!(
                        "method=fido2 reason={} failures={} why={:?}",
                        why.reason(),
                        failure.state.consecutive,
                        why.to_string()
                    ),
                );
                deny(
                    service,
                    user,
                    DenyReason::AuthFailed,
                    "the security key's answer was not accepted.",
                    &[],
                )
            }
            Ok((VerifyOutcome::Throttled { until }, _)) => {
                self.throttled(user, service, until, now)
            }
            Ok((VerifyOutcome::LockedOut, _)) => self.locked_out(user, service),
            Ok((VerifyOutcome::AdminLocked, _)) => self.admin_locked(user, service),
            Ok((VerifyOutcome::NotEnrolled, _)) => {
                self.no_longer_enrolled(user, service, Method::Fido2)
            }
        };
        self.after_verification(caller, &f, &step);
        Ok(step)
    }

    /// `Fido2Unavailable`: the client has no usable key for `flow` (not a failed attempt).
    /// Back to the chooser when the flow offered other methods, else a denial.
    pub fn fido2_unavailable(
        &self,
        caller: &Caller,
        flow: &str,
        purpose: Purpose,
        reason: &str,
    ) -> Result<Step, MfaError> {
        check_reason(reason)?;
        let f = self.flows.take(flow, &caller.sender)?;
        if f.purpose != purpose {
            return Err(wrong_interface(purpose));
        }
        if !matches!(f.stage, Stage::Fido2 { .. }) {
            return Err(not_waiting_for_a_key());
        }
        let (user, service) = (f.user.as_str(), f.service.as_str());
        let others = f.offered.iter().any(|m| m != Method::Fido2);
        self.audit_login(
            Level::Notice,
            user,
            service,
            "fido2-unavailable",
            &format!("reason={reason} back_to_chooser={others}"),
        );
        if others {
            let complaint =
                format!("The security key could not be used ({reason}); choose another method.");
            let mut next = f;
            next.stage = Stage::Choose {
                methods: next.offered,
                invalid: 0,
            };
            return self.chooser_step(next, Some(complaint));
        }
        Ok(deny(
            service,
            user,
            DenyReason::AuthFailed,
            &format!(
                "no security key could be used ({reason}), and it is {user}'s only method here."
            ),
            &[
                "Plug in your enrolled security key and try again,",
                &format!(
                    "or ask an administrator for another method (`mfactl enroll totp {user}`)."
                ),
            ],
        ))
    }

    fn step_up_refusal(user: &str) -> MfaError {
        MfaError::StepUpRequired(format!(
            "adding a security key for {user} needs a fresh second factor first"
        ))
    }

    /// `BeginFido2Enrollment`: a challenge for make_credential. A caller who will need a
    /// step-up to finish is told so now, before touching the key.
    pub fn begin_fido2_enrollment(
        &self,
        caller: &Caller,
        user: &str,
        name: &str,
        require_uv: bool,
    ) -> Result<Fido2EnrollmentStart, MfaError> {
        let user = target_user(caller, user)?;
        let account = authorized_account(caller, user)?;
        let user = account.name.as_str();
        let name = if name.is_empty() {
            self.default_token_name(user, "fido2")?
        } else {
            name.to_owned()
        };
        check_token_name(&name)?;
        if self.store.token_name_taken(user, &name)? {
            return Err(MfaError::AlreadyExists(format!(
                "{user} already has a token named {name:?}"
            )));
        }
        if self.new_factor_needs_step_up(caller, user)? {
            let fresh = self.with_step_up(caller, user, |fresh| Ok((fresh, false)))?;
            if !fresh {
                return Err(Self::step_up_refusal(user));
            }
        }
        let challenge = random::<CHALLENGE_LEN>()?;
        let exclude_credential_ids = self
            .store
            .fido2_credentials(user)?
            .into_iter()
            .map(|r| r.record.credential_id)
            .collect();
        let enrollment = self.fido2_pending.start(Pending {
            owner: caller.sender.clone(),
            user: user.to_owned(),
            name,
            key: Fido2Pending {
                challenge,
                require_uv,
            },
            started: Instant::now(),
            tries: 0,
        })?;
        self.audit.log(
            Level::Info,
            &format!(
                "enroll-begin user={} by_uid={} kind=fido2 require_uv={require_uv}",
                loggable(user),
                caller.uid
            ),
        );
        Ok(Fido2EnrollmentStart {
            enrollment,
            rp_id: self.rp_id.clone(),
            challenge: challenge.to_vec(),
            user_id: random::<16>()?.to_vec(),
            exclude_credential_ids,
        })
    }

    /// `FinishFido2Enrollment`: verifies the attestation object and saves the credential.
    pub fn finish_fido2_enrollment(
        &self,
        caller: &Caller,
        id: &str,
        attestation_object: &[u8],
    ) -> Result<TokenInfo, MfaError> {
        if attestation_object.is_empty() || attestation_object.len() > MAX_ATTESTATION_LEN {
            return Err(MfaError::InvalidArgument(format!(
                "attestation_object must be 1 to {MAX_ATTESTATION_LEN} bytes"
            )));
        }
        let pending = self.fido2_pending.take(id, &caller.sender)?;
        if pending.started.elapsed() >= self.challenge_ttl {
            return Err(MfaError::UnknownEnrollment(
                "the security key was not touched in time (the challenge expired); start again"
                    .into(),
            ));
        }
        let user = pending.user.clone();
        let Fido2Pending {
            challenge,
            require_uv,
        } = pending.key;
        let expected = Expected::for_challenge(&self.rp_id, &challenge, require_uv);
        let registration = match verify_registration(&expected, attestation_object) {
            Ok(r) => r,
            Err(e) => {
                self.audit.log(
                    Level::Notice,
                    &format!(
                        "enroll-refused user={} by_uid={} kind=fido2 reason={} why={:?}",
                        loggable(&user),
                        caller.uid,
                        e.reason(),
                        e.to_string()
                    ),
                );
                return Err(MfaError::CodeRejected(format!(
                    "the security key's registration was refused: {e}; nothing was saved"
                )));
            }
        };
        if registration.credential_id.len() > MAX_CREDENTIAL_ID_LEN {
            return Err(MfaError::CodeRejected(format!(
                "the credential ID is longer than {MAX_CREDENTIAL_ID_LEN} bytes; nothing was saved"
            )));
        }
        let needs_step_up = self.new_factor_needs_step_up(caller, &user)?;
        let name = pending.name.clone();
        let saved = self.with_step_up(caller, &user, |fresh| {
            if needs_step_up && !fresh {
                return Ok((None, false));
            }
            let saved = self.store.insert_fido2(
                &user,
                &name,
                &registration,
                &self.rp_id,
                require_uv,
                clock::now(),
            );
            Ok((
                Some(super::manage::token_saved(&user, &name, saved)?),
                needs_step_up,
            ))
        })?;
        let Some(info) = saved else {
            // Kept for the retry after the step-up (the key was touched already).
            self.fido2_pending.restore(id.to_owned(), pending);
            return Err(Self::step_up_refusal(&user));
        };
        self.audit_admin(
            caller,
            "enroll",
            &user,
            &format!(
                "kind=fido2 token={} name={:?} algorithm={} require_uv={require_uv} attestation={:?}",
                info.id, info.name, info.algorithm, registration.attestation
            ),
        );
        Ok(info)
    }
}
