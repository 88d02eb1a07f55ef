//! The `email` and `sms` steps: mfad sends a code, the user types it back.
//!
//! Entering the step reuses a live code (a login retried a minute later must not send
//! another one) or makes a new one. A new code is committed (as a keyed hash) before it is
//! sent; the send itself runs on a blocking pool, off the bus executor, so a slow mail
//! server delays only this login ([`crate::service`] awaits it with [`Daemon::settle`]).
//! An empty answer asks for a new code, after the resend interval. A failed delivery
//! discards the code, counts nothing, and goes back to the chooser when the user has other
//! methods.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use zeroize::Zeroizing;

use mfa_core::delivery::{email_subject, format_validity, mask_email, mask_phone, message_text};
use mfa_core::policy::{Method, MethodSet};
use mfa_core::username::loggable;
use mfa_proto::{DenyReason, MfaError, Step, StepKind};

use super::Daemon;
use super::login::{SENT_CODE_PROMPT, deny};
use crate::audit::Level;
use crate::authz::Caller;
use crate::clock;
use crate::error::StoreError;
use crate::flows::{Flow, Stage};
use crate::store::{SendDecision, VerifyOutcome};

/// Why a code could not be delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryFailure {
    /// A short reason the user may see after "The code could not be sent: " (no secret,
    /// no server detail beyond what helps them).
    pub reason: String,
    /// More for the administrator's log (still no code, no credential).
    pub detail: String,
}

/// Something that delivers a message to an address: the SMTP mailer, the SMS gateway or
/// command. Called on a blocking pool thread; it must bound its own time.
pub trait Courier: Send + Sync + fmt::Debug {
    /// Sends `text` (and `subject`, where the medium has one) to `to`.
    fn send(&self, to: &str, subject: &str, text: &str) -> Result<(), DeliveryFailure>;
}

/// The configured couriers: a method without one is not offered.
#[derive(Debug, Clone, Default)]
pub struct Couriers {
    /// Email (`[email]`).
    pub email: Option<Arc<dyn Courier>>,
    /// SMS (`[sms]`).
    pub sms: Option<Arc<dyn Courier>>,
}

impl Couriers {
    /// The courier for `method`.
    pub fn get(&self, method: Method) -> Option<&Arc<dyn Courier>> {
        match method {
            Method::Email => self.email.as_ref(),
            Method::Sms => self.sms.as_ref(),
            _ => None,
        }
    }

    /// The methods that can be offered: every method but email and SMS without a courier.
    pub fn offerable(&self) -> MethodSet {
        MethodSet::all()
            .iter()
            .filter(|m| !m.is_sent_code() || self.get(*m).is_some())
            .collect()
    }
}

/// How an address is shown: masked.
pub fn masked(method: Method, address: &str) -> String {
    match method {
        Method::Sms => mask_phone(address),
        _ => mask_email(address),
    }
}

/// Six digits, uniform, from the OS generator.
pub fn new_code() -> Result<Zeroizing<String>, MfaError> {
    // Rejection sampling: 4,294,000,000 is the largest multiple of 10^6 below 2^32.
    loop {
        let mut b = [0u8; 4];
        getrandom::fill(&mut b)
            .map_err(|e| MfaError::Internal(format!("the OS random generator failed: {e}")))?;
        let n = u32::from_le_bytes(b);
        if n < 4_294_000_000 {
            return Ok(Zeroizing::new(format!("{:06}", n % 1_000_000)));
        }
    }
}

/// A code waiting to be sent once the step that announces it is on its way back.
pub struct SendJob {
    courier: Arc<dyn Courier>,
    /// Where to (clear).
    to: Zeroizing<String>,
    subject: String,
    text: Zeroizing<String>,
    /// The code, to discard it if delivery fails.
    code: Zeroizing<String>,
    /// Whose, and how.
    pub user: String,
    /// Email or SMS.
    pub method: Method,
    /// The address, masked.
    pub masked_to: String,
    /// When the code expires.
    pub expires_at: u64,
}

impl fmt::Debug for SendJob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendJob")
            .field("user", &self.user)
            .field("method", &self.method)
            .field("to", &self.masked_to)
            .finish_non_exhaustive()
    }
}

impl SendJob {
    /// Delivers the message (blocking; run it on a pool thread).
    pub fn run(self) -> (SendJob, Result<(), DeliveryFailure>) {
        let result = self.courier.send(&self.to, &self.subject, &self.text);
        (self, result)
    }
}

/// Sends waiting for their step to be returned, by flow id (or enrollment id).
#[derive(Debug, Default)]
pub struct PendingSends(Mutex<HashMap<String, SendJob>>);

impl PendingSends {
    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<String, SendJob>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Parks `job` under `id`.
    pub fn put(&self, id: String, job: SendJob) {
        self.table().insert(id, job);
    }

    /// Takes the job parked under `id`.
    pub fn take(&self, id: &str) -> Option<SendJob> {
        self.table().remove(id)
    }
}

impl Daemon {
    /// The methods this daemon can offer (email and SMS only with a courier).
    pub(super) fn offerable(&self) -> MethodSet {
        self.couriers.offerable()
    }

    /// Prepares the message carrying `code` to `to` for `method`.
    pub(super) fn send_job(
        &self,
        user: &str,
        method: Method,
        to: Zeroizing<String>,
        code: Zeroizing<String>,
        expires_at: u64,
    ) -> Result<SendJob, MfaError> {
        let courier = self.couriers.get(method).cloned().ok_or_else(|| {
            MfaError::InvalidArgument(format!(
                "{method} codes are not configured on this host (see [{method}] in mfad.toml)"
            ))
        })?;
        let masked_to = masked(method, &to);
        Ok(SendJob {
            courier,
            subject: email_subject(&self.host),
            text: Zeroizing::new(message_text(&self.host, &code, self.otp.validity_secs)),
            to,
            code,
            user: user.to_owned(),
            method,
            masked_to,
            expires_at,
        })
    }

    /// The `email`/`sms` step of `flow`: a prompt for the live code, or a new code sent.
    /// `resend` is an empty answer to the previous prompt: a new code, if the interval
    /// allows.
    pub(super) fn sent_code_step(
        &self,
        mut flow: Flow,
        method: Method,
        resend: bool,
    ) -> Result<Step, MfaError> {
        let now = clock::now();
        let (user, service) = (flow.user.clone(), flow.service.clone());
        // A flow begun before a back-off or an administrative lock must not keep sending.
        if let Some(refusal) = self.closed_gate(&user, &service, now) {
            return Ok(refusal);
        }
        match self.store.user_settings(&user) {
            Ok(settings) if settings.locked_at > 0 => {
                return Ok(self.admin_locked(&user, &service));
            }
            Ok(_) => {}
            Err(e) => return Ok(self.unavailable(&user, &service, &e.to_string())),
        }
        let saved = match self.store.address(&user, method) {
            Ok(Some(saved)) => saved,
            Ok(None) => return Ok(self.no_longer_enrolled(&user, &service, method)),
            Err(e) => return Ok(self.unavailable(&user, &service, &e.to_string())),
        };
        let masked_to = masked(method, &saved.address);
        flow.stage = Stage::Code(method);
        let live = match self.store.live_code(&user, method, now) {
            Ok(live) => live,
            Err(e) => return Ok(self.unavailable(&user, &service, &e.to_string())),
        };
        if let (Some(live), false) = (live, resend) {
            let info = vec![format!(
                "A code was sent to {masked_to} {} ago. It is valid for {}.",
                format_validity(now.saturating_sub(live.sent_at)),
                format_validity(live.expires_at - now)
            )];
            return self.prompt_with(flow, info);
        }
        let code = new_code()?;
        let decision =
            self.store
                .reserve_send(&user, method, Some((saved.token_id, &code)), now, &self.otp);
        let expires_at = match decision {
            Err(e) => return Ok(self.unavailable(&user, &service, &e.to_string())),
            Ok(SendDecision::Send { expires_at }) => expires_at,
            Ok(SendDecision::TooSoon { wait_secs }) => {
                let mut info = vec![format!(
                    "A new code can be sent in {wait_secs} seconds; press Enter then."
                )];
                if let Some(live) = live {
                    info.push(format!(
                        "The code sent to {masked_to} is valid for {}.",
                        format_validity(live.expires_at - now)
                    ));
                }
                return self.prompt_with(flow, info);
            }
            Ok(SendDecision::HourlyLimit { until }) => {
                self.audit_login(
                    Level::Warning,
                    &user,
                    &service,
                    "code-not-sent",
                    &format!("method={method} to={masked_to} reason=hourly-limit"),
                );
                let why = format!(
                    "too many codes were sent to {masked_to} in the last hour; the next can \
                     be sent after {}",
                    clock::format_utc(until)
                );
                return self.send_refused(flow, method, &why);
            }
            Ok(SendDecision::GlobalLimit) => {
                self.audit_login(
                    Level::Warning,
                    &user,
                    &service,
                    "code-not-sent",
                    &format!("method={method} to={masked_to} reason=global-limit"),
                );
                return self.send_refused(
                    flow,
                    method,
                    "too many codes are being sent from this host right now; try again in a \
                     minute",
                );
            }
        };
        let job = self.send_job(&user, method, saved.address, code, expires_at)?;
        let id = self.flows.start(flow)?;
        self.pending_sends.put(id.clone(), job);
        Ok(Step::new(StepKind::Prompt {
            flow: id,
            text: SENT_CODE_PROMPT.into(),
            echo: false,
        }))
    }

    fn prompt_with(&self, flow: Flow, info: Vec<String>) -> Result<Step, MfaError> {
        let id = self.flows.start(flow)?;
        Ok(Step {
            info,
            kind: StepKind::Prompt {
                flow: id,
                text: SENT_CODE_PROMPT.into(),
                echo: false,
            },
        })
    }

    /// No code went out (`why`): back to the chooser when the flow offered other methods,
    /// else a denial. Never a counted failure.
    fn send_refused(&self, flow: Flow, method: Method, why: &str) -> Result<Step, MfaError> {
        let others: MethodSet = flow
            .offered
            .iter()
            .filter(|m| *m != method && m.is_promptable())
            .collect();
        let complaint = format!(
            "The code could not be sent: {why}. Choose another method or contact an administrator."
        );
        if !others.is_empty() {
            let mut next = flow;
            next.offered = others;
            next.stage = Stage::Choose {
                methods: others,
                invalid: 0,
            };
            return self.chooser_step(next, Some(complaint));
        }
        // Never `Unavailable` (PAM_AUTHINFO_UNAVAIL): a stack that ignores an unreachable
        // mfad must not let in a user whose sends an attacker used up (review finding).
        Ok(deny(
            &flow.service,
            &flow.user,
            DenyReason::AuthFailed,
            &format!("the code could not be sent: {why}."),
            &["Try again later, or contact an administrator."],
        ))
    }

    /// Sends the code that `step` announces, if any, and returns the step to give the user:
    /// the same prompt with "A code was sent to …", or, when delivery failed, the chooser or
    /// a denial. Called by the bus adapter for every step it returns.
    pub async fn settle(&self, caller: &Caller, step: Step) -> Result<Step, MfaError> {
        let mut step = step;
        // A failed send can lead to another method's send (email down, then SMS): bounded.
        for _ in 0..Method::ALL.len() {
            let StepKind::Prompt { flow, .. } = &step.kind else {
                return Ok(step);
            };
            let Some(job) = self.pending_sends.take(flow) else {
                return Ok(step);
            };
            let flow = flow.clone();
            let (job, result) = zruntime::unblock(move || job.run()).await;
            step = self.after_send(caller, &flow, job, result, step)?;
        }
        Ok(step)
    }

    fn after_send(
        &self,
        caller: &Caller,
        flow_id: &str,
        job: SendJob,
        result: Result<(), DeliveryFailure>,
        mut step: Step,
    ) -> Result<Step, MfaError> {
        let now = clock::now();
        match result {
            Ok(()) => {
                self.audit.log(
                    Level::Info,
                    &format!(
                        "code-sent method={} user={} to={}",
                        job.method,
                        loggable(&job.user),
                        job.masked_to
                    ),
                );
                step.info.push(format!(
                    "A code was sent to {}. It is valid for {}.",
                    job.masked_to,
                    format_validity(job.expires_at.saturating_sub(now))
                ));
                Ok(step)
            }
            Err(failure) => {
                self.audit.log(
                    Level::Warning,
                    &format!(
                        "code-not-sent method={} user={} to={} reason={:?} detail={:?}",
                        job.method,
                        loggable(&job.user),
                        job.masked_to,
                        failure.reason,
                        failure.detail
                    ),
                );
                if let Err(e) = self.store.discard_code(&job.user, job.method, &job.code) {
                    self.audit.log(
                        Level::Error,
                        &format!("could not discard an undelivered code: {e}"),
                    );
                }
                let flow = self.flows.take(flow_id, &caller.sender)?;
                self.send_refused(flow, job.method, &failure.reason)
            }
        }
    }

    /// Checks a typed code for `method` (email or SMS): the store's verdict (and whether
    /// the code had expired), and whether the answer was malformed.
    pub(super) fn verify_sent_code(
        &self,
        user: &str,
        method: Method,
        answer: &str,
    ) -> (Result<(VerifyOutcome, bool), StoreError>, bool) {
        let code = if answer.len() > mfa_proto::MAX_ANSWER_LEN {
            None
        } else {
            mfa_core::code::parse_code(answer)
                .ok()
                .filter(|c| c.len() == 6)
        };
        let malformed = code.is_none();
        let result =
            self.store
                .verify_sent_code(user, method, code.as_ref(), clock::now(), &self.limits);
        (result, malformed)
    }
}
