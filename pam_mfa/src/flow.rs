//! The login state machine: Begin → (Prompt → Answer | Fido2 → AnswerFido2)* → Allow /
//! NotRequired / Deny.
//!
//! Every decision is the daemon's; this loop shows what it is told and forwards answers (and
//! the security key's signed answers, [`fido2`]). It is generic over [`PamIo`] (the
//! conversation) and [`Daemon`] (the bus), and takes the security key as an
//! [`Authenticator`], so the tests drive it with scripted fakes, without libpam, a bus or a
//! key.
//!
//! Invariants: only [`StepKind::Allow`] becomes [`Outcome::Allow`] (`PAM_SUCCESS`), only
//! [`StepKind::NotRequired`] becomes [`Outcome::NotRequired`] (`PAM_IGNORE`). Every other path
//! ends in an error code, and [`Outcome::code`] is the one place that maps to PAM codes.

use mfa_fido_client::Authenticator;
use mfa_proto::message::access_denied;
use mfa_proto::{
    DenyReason, LoginFacts, MAX_ANSWER_LEN, MfaError, RefusedAnswer, Step, StepKind, WireStep,
};
use pamsm::PamError;
use zbus::DBusError;
use zeroize::Zeroizing;

use crate::log::{MAX_TEXT_CHARS, Severity, escape};

/// Most prompts one login may show. A daemon asking for more is treated as broken.
pub const MAX_PROMPTS: usize = 8;

/// Shown (as an error message) when the answer is not valid UTF-8.
pub const NOT_UTF8_MESSAGE: &str = RefusedAnswer::NotUtf8.hint();
/// Shown (as an error message) when the answer is longer than [`MAX_ANSWER_LEN`] bytes.
pub const TOO_LONG_MESSAGE: &str = RefusedAnswer::TooLong.hint();

/// Why a prompt got no usable answer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ConvError {
    /// The application's conversation function failed (Ctrl-C, closed connection, …), or
    /// there is none.
    Failed(PamError),
    /// The conversation succeeded but gave no answer (a NULL response).
    NoAnswer,
    /// The answer is not valid UTF-8.
    NotUtf8,
}

/// The PAM conversation, as the flow needs it.
pub trait PamIo {
    /// Asks the user; `echo` says whether the answer may be shown while typed.
    fn prompt(&mut self, text: &str, echo: bool) -> Result<Zeroizing<String>, ConvError>;
    /// Shows an informational line (`PAM_TEXT_INFO`).
    fn info(&mut self, text: &str);
    /// Shows an error message (`PAM_ERROR_MSG`).
    fn error(&mut self, text: &str);
}

/// The daemon's `org.pam_mfa.Login1` interface, as the flow needs it.
#[allow(
    async_fn_in_trait,
    reason = "used only as a generic bound inside this crate and its tests, never as dyn or across threads"
)]
pub trait Daemon {
    /// `Begin(facts)`: the first step of a login.
    async fn begin(&mut self, facts: &LoginFacts) -> Result<WireStep, MfaError>;
    /// `BeginSinglePrompt(facts)`: the first step of a single-prompt login, and how many
    /// trailing characters of the prompt's answer form the code.
    async fn begin_single_prompt(
        &mut self,
        facts: &LoginFacts,
    ) -> Result<(WireStep, u32), MfaError>;
    /// `Answer(flow, answer)`: the next step.
    async fn answer(&mut self, flow: &str, answer: &str) -> Result<WireStep, MfaError>;
    /// `Cancel(flow)`: abandon a flow. Best effort; failures are ignored.
    async fn cancel(&mut self, flow: &str);
    /// `Fido2Request(flow)`: what the security key must sign.
    async fn fido2_request(&mut self, flow: &str) -> Result<fido2::Fido2Request, MfaError>;
    /// `AnswerFido2(flow, …)`: the key's signed answer; the next step.
    async fn answer_fido2(
        &mut self,
        flow: &str,
        credential_id: &[u8],
        authenticator_data: &[u8],
        signature: &[u8],
    ) -> Result<WireStep, MfaError>;
    /// `Fido2Unavailable(flow, reason)`: no usable key; the next step.
    async fn fido2_unavailable(&mut self, flow: &str, reason: &str) -> Result<WireStep, MfaError>;
    /// `AnswerRefused(flow, reason)`: the module refused the answer itself (a
    /// [`RefusedAnswer`] code); the daemon counts a failed attempt, ends the flow and
    /// answers with a denial.
    async fn answer_refused(&mut self, flow: &str, reason: &str) -> Result<WireStep, MfaError>;
}

/// Why the module refused an answer without sending it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadAnswer {
    /// Not valid UTF-8.
    NotUtf8,
    /// Longer than [`MAX_ANSWER_LEN`] bytes.
    TooLong,
    /// Single-prompt mode: nothing before the code, so no password to hand on.
    NoPassword,
}

/// How a login ended, for the PAM code ([`Outcome::code`]) and the log ([`Outcome::describe`]).
#[must_use = "the outcome carries the PAM return code"]
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The daemon verified a factor: `PAM_SUCCESS`.
    Allow {
        /// What was verified (the daemon's words).
        reason: String,
    },
    /// Policy needs no second factor here: `PAM_IGNORE`.
    NotRequired {
        /// Which rule decided (the daemon's words).
        reason: String,
    },
    /// The daemon refused the login.
    Deny {
        /// Why.
        reason: DenyReason,
    },
    /// The daemon could not be asked or answered with an error.
    DaemonError {
        /// The error.
        error: MfaError,
    },
    /// The conversation with the user failed: `PAM_CONV_ERR`.
    Conversation {
        /// How.
        error: ConvError,
    },
    /// The module refused the user's answer without sending it: `PAM_AUTH_ERR`.
    BadAnswer {
        /// Why.
        why: BadAnswer,
    },
    /// The daemon broke the protocol (a malformed step, too many prompts):
    /// `PAM_SERVICE_ERR`.
    Protocol {
        /// What was wrong.
        detail: String,
    },
    /// libpam refused to store the password for the next module (single-prompt mode):
    /// `PAM_SERVICE_ERR`.
    PasswordItem {
        /// libpam's code.
        code: PamError,
    },
}

impl Outcome {
    /// The PAM return code: the one mapping from outcomes to codes.
    pub fn code(&self) -> PamError {
        match self {
            Outcome::Allow { .. } => PamError::SUCCESS,
            Outcome::NotRequired { .. } => PamError::IGNORE,
            Outcome::Deny { reason } => match reason {
                DenyReason::AuthFailed | DenyReason::NotEnrolled | DenyReason::Locked => {
                    PamError::AUTH_ERR
                }
                DenyReason::UserUnknown => PamError::USER_UNKNOWN,
                DenyReason::Unavailable => PamError::AUTHINFO_UNAVAIL,
            },
            Outcome::DaemonError { error } => match error_class(error) {
                ErrorClass::Unavailable => PamError::AUTHINFO_UNAVAIL,
                ErrorClass::UnknownUser => PamError::USER_UNKNOWN,
                ErrorClass::Refused => PamError::AUTH_ERR,
            },
            Outcome::Conversation { .. } => PamError::CONV_ERR,
            Outcome::BadAnswer { .. } => PamError::AUTH_ERR,
            Outcome::Protocol { .. } | Outcome::PasswordItem { .. } => PamError::SERVICE_ERR,
        }
    }

    /// How important the log line is.
    pub fn severity(&self) -> Severity {
        match self {
            Outcome::Allow { .. } | Outcome::NotRequired { .. } => Severity::Info,
            Outcome::Deny {
                reason: DenyReason::Unavailable,
            } => Severity::Error,
            Outcome::Deny { .. } | Outcome::Conversation { .. } | Outcome::BadAnswer { .. } => {
                Severity::Notice
            }
            Outcome::DaemonError { error } => match error_class(error) {
                ErrorClass::Unavailable => Severity::Error,
                ErrorClass::UnknownUser | ErrorClass::Refused => Severity::Notice,
            },
            Outcome::Protocol { .. } | Outcome::PasswordItem { .. } => Severity::Error,
        }
    }

    /// The outcome for a log line (escaped; never an answer or a code).
    pub fn describe(&self) -> String {
        let text = |s: &str| escape(s, MAX_TEXT_CHARS);
        match self {
            Outcome::Allow { reason } => format!("allowed ({})", text(reason)),
            Outcome::NotRequired { reason } => format!("not required ({})", text(reason)),
            Outcome::Deny { reason } => format!("denied by mfad ({})", reason.code()),
            Outcome::DaemonError { error } => match error_class(error) {
                ErrorClass::Unavailable => {
                    format!(
                        "the MFA service (mfad) is not usable: {}",
                        text(&error_text(error))
                    )
                }
                ErrorClass::UnknownUser | ErrorClass::Refused => {
                    format!("refused by mfad: {}", text(&error_text(error)))
                }
            },
            Outcome::Conversation { error } => match error {
                ConvError::Failed(code) => format!("conversation failed ({code:?})"),
                ConvError::NoAnswer => "conversation returned no answer".to_owned(),
                ConvError::NotUtf8 => "answer is not UTF-8".to_owned(),
            },
            Outcome::BadAnswer {
                why: BadAnswer::NotUtf8,
            } => "answer refused: not UTF-8 (not sent; reported to mfad as a failed attempt)"
                .to_owned(),
            Outcome::BadAnswer {
                why: BadAnswer::TooLong,
            } => format!(
                "answer refused: longer than {MAX_ANSWER_LEN} bytes (not sent; reported to mfad \
                 as a failed attempt)"
            ),
            Outcome::BadAnswer {
                why: BadAnswer::NoPassword,
            } => "answer refused: no password before the code (not sent)".to_owned(),
            Outcome::Protocol { detail } => format!("protocol error: {}", text(detail)),
            Outcome::PasswordItem { code } => {
                format!("could not store the password for the next module ({code:?})")
            }
        }
    }
}

/// Every code `pam_sm_authenticate` returns and when, for pam_mfa(8) (generated by
/// `mfa-docs`). A unit test checks it against [`Outcome::code`].
pub const RETURN_CODES: &[(PamError, &str)] = &[
    (
        PamError::SUCCESS,
        "mfad verified a second factor. Never returned otherwise, whatever the control flag.",
    ),
    (
        PamError::IGNORE,
        "mfad's policy needs no second factor for this login: the module does not count. \
         Never PAM_SUCCESS, so the rest of the stack decides.",
    ),
    (
        PamError::AUTH_ERR,
        "A wrong, replayed or malformed code; too many failures (back-off or lock); no token \
         enrolled; mfad refused the request; or, with single_prompt, nothing before the code.",
    ),
    (
        PamError::AUTHINFO_UNAVAIL,
        "mfad is unreachable, did not answer within timeout=, or cannot use its database. \
         There is no fallback to password-only.",
    ),
    (
        PamError::USER_UNKNOWN,
        "No user name, or one that is not valid or not known to the system.",
    ),
    (
        PamError::CONV_ERR,
        "The conversation failed (no answer, Ctrl-C, application error).",
    ),
    (
        PamError::SERVICE_ERR,
        "Bad module arguments, a protocol error from mfad, libpam refusing to store the \
         password (single_prompt), or an internal fault. Also returned by the account, \
         session and password hooks.",
    ),
];

/// The three families of daemon errors.
enum ErrorClass {
    /// Nothing was decided: transport failure, timeout, daemon absent, storage or internal
    /// fault. `PAM_AUTHINFO_UNAVAIL`.
    Unavailable,
    /// The user is unknown or the name invalid. `PAM_USER_UNKNOWN`.
    UnknownUser,
    /// The daemon refused the request. `PAM_AUTH_ERR`.
    Refused,
}

fn error_class(error: &MfaError) -> ErrorClass {
    match error {
        MfaError::ZBus(_) | MfaError::Storage(_) | MfaError::Internal(_) => {
            ErrorClass::Unavailable
        }
        MfaError::UnknownUser(_) | MfaError::InvalidUser(_) => ErrorClass::UnknownUser,
        MfaError::AccessDenied(_)
        | MfaError::InvalidArgument(_)
        | MfaError::UnknownToken(_)
        | MfaError::UnknownEnrollment(_)
        | MfaError::UnknownFlow(_)
        | MfaError::CodeRejected(_)
        | MfaError::AlreadyExists(_)
        | MfaError::RateLimited(_)
        // A code that could not be sent is a refusal, never "unavailable": whoever can make
        // sends fail (use up the limits) must not reach a stack that ignores AUTHINFO_UNAVAIL.
        | MfaError::Undeliverable(_)
        | MfaError::StepUpRequired(_)
        | MfaError::NotEnrolled(_) => ErrorClass::Refused,
    }
}

/// An error for the log: its D-Bus name (for daemon errors) and message.
fn error_text(error: &MfaError) -> String {
    match error {
        MfaError::ZBus(e) => e.to_string(),
        other => format!("{}: {}", other.name(), other.message()),
    }
}

/// Runs one login to its end and says how it ended. `key` answers the daemon's `fido2`
/// steps (a USB security key in production).
pub async fn run<I: PamIo, D: Daemon>(
    facts: &LoginFacts,
    io: &mut I,
    daemon: &mut D,
    key: &dyn Authenticator,
) -> Outcome {
    let mut wire = match daemon.begin(facts).await {
        Ok(wire) => wire,
        Err(error) => return daemon_failed(facts, io, error),
    };
    // The flow the daemon may still hold open for us, to cancel if we give up.
    let mut open_flow: Option<String> = None;
    let mut prompts = 0;

    loop {
        let step = match Step::try_from(wire) {
            Ok(step) => step,
            Err(detail) => {
                if let Some(flow) = &open_flow {
                    daemon.cancel(flow).await;
                }
                return Outcome::Protocol {
                    detail: format!("malformed step: {detail}"),
                };
            }
        };
        for line in &step.info {
            io.info(line);
        }
        let (flow, text, echo) = match step.kind {
            StepKind::Allow { reason } => return Outcome::Allow { reason },
            StepKind::NotRequired { reason } => return Outcome::NotRequired { reason },
            StepKind::Deny { reason, message } => {
                if !message.is_empty() {
                    io.error(&message);
                }
                return Outcome::Deny { reason };
            }
            StepKind::Prompt { flow, text, echo } => (flow, text, echo),
            StepKind::Fido2 { flow, text } => {
                prompts += 1;
                if prompts > MAX_PROMPTS {
                    daemon.cancel(&flow).await;
                    return too_many_prompts();
                }
                wire = match fido2::run_step(facts, io, daemon, key, &flow, &text).await {
                    Ok(wire) => wire,
                    Err(outcome) => return outcome,
                };
                open_flow = Some(flow);
                continue;
            }
        };

        prompts += 1;
        if prompts > MAX_PROMPTS {
            daemon.cancel(&flow).await;
            return too_many_prompts();
        }
        let answer = io.prompt(&text, echo);
        let answer = match checked_answer(facts, io, daemon, &flow, answer).await {
            Ok(answer) => answer,
            Err(outcome) => return outcome,
        };
        wire = match daemon.answer(&flow, &answer).await {
            Ok(wire) => wire,
            Err(error) => return daemon_failed(facts, io, error),
        };
        open_flow = Some(flow);
    }
}

/// The user's answer to the prompt of `flow`, or, when it is unusable, the outcome: a
/// failed conversation cancels the flow; an answer that is not UTF-8 or longer than
/// [`MAX_ANSWER_LEN`] is reported with [`refuse_answer`] (a failed attempt, like a wrong
/// code). Never cut an answer: a truncated code could still be a valid one.
pub(crate) async fn checked_answer<I: PamIo, D: Daemon>(
    facts: &LoginFacts,
    io: &mut I,
    daemon: &mut D,
    flow: &str,
    answer: Result<Zeroizing<String>, ConvError>,
) -> Result<Zeroizing<String>, Outcome> {
    let refused = match answer {
        Ok(answer) if answer.len() <= MAX_ANSWER_LEN => return Ok(answer),
        Ok(answer) => {
            drop(answer);
            RefusedAnswer::TooLong
        }
        Err(ConvError::NotUtf8) => RefusedAnswer::NotUtf8,
        Err(error) => {
            daemon.cancel(flow).await;
            return Err(Outcome::Conversation { error });
        }
    };
    Err(refuse_answer(facts, io, daemon, flow, refused).await)
}

/// Tells the daemon that the answer to `flow` was refused here (`AnswerRefused`): it counts
/// a failed attempt, so answers filtered out by the module cannot probe the prompt without
/// touching the rate limit, ends the flow and sends the denial, which is shown. If the daemon
/// cannot be told (down, or an older mfad without the method), the module shows its own
/// message and cancels the flow. Never success: a step other than a denial is a protocol
/// error.
async fn refuse_answer<I: PamIo, D: Daemon>(
    facts: &LoginFacts,
    io: &mut I,
    daemon: &mut D,
    flow: &str,
    refused: RefusedAnswer,
) -> Outcome {
    let why = match refused {
        RefusedAnswer::NotUtf8 => BadAnswer::NotUtf8,
        RefusedAnswer::TooLong => BadAnswer::TooLong,
    };
    let own_message = not_accepted(facts, refused.hint());
    let wire = match daemon.answer_refused(flow, refused.code()).await {
        Ok(wire) => wire,
        Err(_) => {
            io.error(&own_message);
            daemon.cancel(flow).await;
            return Outcome::BadAnswer { why };
        }
    };
    let step = match Step::try_from(wire) {
        Ok(step) => step,
        Err(detail) => {
            io.error(&own_message);
            return Outcome::Protocol {
                detail: format!("malformed step after AnswerRefused: {detail}"),
            };
        }
    };
    for line in &step.info {
        io.info(line);
    }
    match step.kind {
        StepKind::Deny { reason, message } => {
            io.error(if message.is_empty() {
                &own_message
            } else {
                &message
            });
            match reason {
                DenyReason::AuthFailed => Outcome::BadAnswer { why },
                // Throttled, locked or unavailable: that is what the login ends with.
                other => Outcome::Deny { reason: other },
            }
        }
        StepKind::Prompt { flow: next, .. } | StepKind::Fido2 { flow: next, .. } => {
            daemon.cancel(&next).await;
            io.error(&own_message);
            Outcome::Protocol {
                detail: "mfad answered AnswerRefused with another prompt".to_owned(),
            }
        }
        StepKind::Allow { .. } | StepKind::NotRequired { .. } => {
            io.error(&own_message);
            Outcome::Protocol {
                detail: "mfad answered AnswerRefused with an allow or not-required step".to_owned(),
            }
        }
    }
}

fn too_many_prompts() -> Outcome {
    Outcome::Protocol {
        detail: format!("more than {MAX_PROMPTS} prompts"),
    }
}

/// The standard "Access denied" block for an answer refused before it reached the daemon.
pub(crate) fn not_accepted(facts: &LoginFacts, hint: &str) -> String {
    let service = escape(&facts.service, MAX_TEXT_CHARS);
    let user = escape(&facts.user, crate::log::MAX_NAME_CHARS);
    mfa_proto::message::access_denied(
        &service,
        &user,
        "the verification code was not accepted.",
        &[hint],
    )
}

/// Tells the user that the daemon failed or refused, and returns the outcome.
///
/// No `Cancel` is sent: the call just failed, and a flow belongs to the connection that began
/// it, which is closed right after.
pub(crate) fn daemon_failed<I: PamIo>(facts: &LoginFacts, io: &mut I, error: MfaError) -> Outcome {
    let service = escape(&facts.service, MAX_TEXT_CHARS);
    let user = escape(&facts.user, crate::log::MAX_NAME_CHARS);
    let message = match (error_class(&error), &error) {
        (ErrorClass::Unavailable, MfaError::ZBus(_)) => access_denied(
            &service,
            &user,
            "the MFA service (mfad) is not reachable.",
            &["Try again later or contact an administrator."],
        ),
        (ErrorClass::Unavailable, _) => access_denied(
            &service,
            &user,
            "the MFA service (mfad) could not check the login.",
            &["Try again later or contact an administrator."],
        ),
        // The daemon's text says when the user may try again.
        (_, MfaError::RateLimited(text)) => access_denied(
            &service,
            &user,
            "too many failed attempts.",
            &[text.as_str()],
        ),
        (ErrorClass::UnknownUser | ErrorClass::Refused, _) => access_denied(
            &service,
            &user,
            "the MFA service (mfad) refused the login.",
            &[],
        ),
    };
    io.error(&message);
    Outcome::DaemonError { error }
}

pub mod fido2;
pub mod single;

#[cfg(test)]
mod tests;
