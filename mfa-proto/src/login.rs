//! `org.pam_mfa.Login1`: the login conversation, driven by the daemon.
//!
//! The module sends [`LoginFacts`] with `Begin`; the daemon answers with one [`Step`] at a
//! time. A [`StepKind::Prompt`] carries a flow id that the module sends back with the user's
//! answer; a [`StepKind::Fido2`] one that the module uses to fetch the challenge
//! (`Fido2Request`) and to send the security key's signed answer (`AnswerFido2`, or
//! `Fido2Unavailable` when there is no usable key). Every other kind ends the conversation. Only [`StepKind::Allow`] may ever become
//! `PAM_SUCCESS`; only [`StepKind::NotRequired`] may become `PAM_IGNORE`.

use serde::{Deserialize, Serialize};
use zbus::Type;

use crate::MfaError;

/// What the module alone can see about a login, sent with `Begin`.
///
/// Every field comes from PAM items or the PAM environment (`pam_getenv`), never from the
/// process environment, which the caller of `su`/`sudo` controls.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct LoginFacts {
    /// `PAM_USER`.
    pub user: String,
    /// `PAM_SERVICE` (sshd, sudo, login, …).
    pub service: String,
    /// `PAM_TTY`, or empty.
    pub tty: String,
    /// `PAM_RHOST`, or empty.
    pub rhost: String,
    /// `PAM_RUSER`, or empty.
    pub ruser: String,
    /// `SSH_AUTH_INFO_0` from the PAM environment, or empty.
    pub ssh_auth_info: String,
}

/// A step as it travels on the bus: `(kind, flow, info, text, echo, reason)`.
///
/// Parse it into a [`Step`] with `Step::try_from` before acting on it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct WireStep {
    /// `prompt`, `fido2`, `allow`, `not-required` or `deny`.
    pub kind: String,
    /// The flow id (prompt and fido2 only; empty otherwise).
    pub flow: String,
    /// Informational lines to show before acting on the step.
    pub info: Vec<String>,
    /// The prompt text (prompt), the cue to show (fido2) or the message for the user (deny).
    pub text: String,
    /// Whether the answer may be echoed (prompt only).
    pub echo: bool,
    /// Why the conversation ended: a [`DenyReason`] code for deny, free text otherwise.
    pub reason: String,
}

/// Why a login was denied. Each maps to one PAM return code in the module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenyReason {
    /// The factor did not verify (wrong, replayed or malformed code).
    AuthFailed,
    /// MFA is required but the user has no usable token.
    NotEnrolled,
    /// Too many failures; the back-off has not expired yet.
    Locked,
    /// The user does not exist.
    UserUnknown,
    /// The daemon could not reach its storage; nothing was decided.
    Unavailable,
}

impl DenyReason {
    /// The stable wire code.
    pub fn code(self) -> &'static str {
        match self {
            DenyReason::AuthFailed => "auth-failed",
            DenyReason::NotEnrolled => "not-enrolled",
            DenyReason::Locked => "locked",
            DenyReason::UserUnknown => "user-unknown",
            DenyReason::Unavailable => "unavailable",
        }
    }

    /// Parses a wire code. Unknown codes are `None`; callers treat that as a denial.
    pub fn from_code(code: &str) -> Option<Self> {
        Some(match code {
            "auth-failed" => DenyReason::AuthFailed,
            "not-enrolled" => DenyReason::NotEnrolled,
            "locked" => DenyReason::Locked,
            "user-unknown" => DenyReason::UserUnknown,
            "unavailable" => DenyReason::Unavailable,
            _ => return None,
        })
    }
}

/// Why the module refused the user's answer itself, without sending it: the `reason` of
/// `AnswerRefused`. The daemon counts it as one failed attempt, like a wrong code, so that
/// answers the module filters out cannot be used to probe without touching the rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusedAnswer {
    /// The answer is not valid UTF-8 (it cannot even travel on the bus).
    NotUtf8,
    /// The answer is longer than [`crate::MAX_ANSWER_LEN`] bytes.
    TooLong,
}

impl RefusedAnswer {
    /// The stable wire code.
    pub const fn code(self) -> &'static str {
        match self {
            RefusedAnswer::NotUtf8 => "not-utf8",
            RefusedAnswer::TooLong => "too-long",
        }
    }

    /// Parses a wire code; `None` for a code this version does not know.
    pub fn from_code(code: &str) -> Option<Self> {
        Some(match code {
            "not-utf8" => RefusedAnswer::NotUtf8,
            "too-long" => RefusedAnswer::TooLong,
            _ => return None,
        })
    }

    /// The line for the user, under the "not accepted" headline.
    pub const fn hint(self) -> &'static str {
        match self {
            RefusedAnswer::NotUtf8 => "The answer contains bytes that are not UTF-8.",
            RefusedAnswer::TooLong => "The answer is too long.",
        }
    }

    /// The words for the audit log ("answer refused by the module: …").
    pub const fn describe(self) -> &'static str {
        match self {
            RefusedAnswer::NotUtf8 => "not UTF-8",
            RefusedAnswer::TooLong => "longer than the 64-byte maximum",
        }
    }
}

/// What the module must do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepKind {
    /// Ask the user and send the answer back with `Answer(flow, answer)`.
    Prompt {
        /// The flow id to answer.
        flow: String,
        /// The prompt text.
        text: String,
        /// Whether the answer may be echoed.
        echo: bool,
    },
    /// Use the local security key: fetch the challenge with `Fido2Request(flow)`, run
    /// get_assertion on the key, and send its answer with `AnswerFido2` (or say why there is
    /// none with `Fido2Unavailable`).
    Fido2 {
        /// The flow id.
        flow: String,
        /// The cue to show first ("Touch your security key").
        text: String,
    },
    /// A factor was verified: the only step that may become `PAM_SUCCESS`.
    Allow {
        /// What was verified, for the log.
        reason: String,
    },
    /// Policy needs no second factor here: becomes `PAM_IGNORE`, never `PAM_SUCCESS`.
    NotRequired {
        /// Which rule decided, for the log.
        reason: String,
    },
    /// The login is refused.
    Deny {
        /// Why, as a stable code.
        reason: DenyReason,
        /// The message to show the user (multi-line, "Access denied …").
        message: String,
    },
}

/// One parsed step: informational lines, then an action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Lines to show (PAM_TEXT_INFO) before acting.
    pub info: Vec<String>,
    /// The action.
    pub kind: StepKind,
}

impl Step {
    /// A step with no informational lines.
    pub fn new(kind: StepKind) -> Self {
        Step {
            info: Vec::new(),
            kind,
        }
    }
}

impl TryFrom<WireStep> for Step {
    type Error = String;

    fn try_from(w: WireStep) -> Result<Self, Self::Error> {
        let kind = match w.kind.as_str() {
            "prompt" => {
                if w.flow.is_empty() {
                    return Err("prompt step without a flow id".into());
                }
                StepKind::Prompt {
                    flow: w.flow,
                    text: w.text,
                    echo: w.echo,
                }
            }
            "fido2" => {
                if w.flow.is_empty() {
                    return Err("fido2 step without a flow id".into());
                }
                StepKind::Fido2 {
                    flow: w.flow,
                    text: w.text,
                }
            }
            "allow" => StepKind::Allow { reason: w.reason },
            "not-required" => StepKind::NotRequired { reason: w.reason },
            "deny" => StepKind::Deny {
                // An unknown code is still a denial.
                reason: DenyReason::from_code(&w.reason).unwrap_or(DenyReason::AuthFailed),
                message: w.text,
            },
            other => return Err(format!("unknown step kind {other:?}")),
        };
        Ok(Step { info: w.info, kind })
    }
}

impl From<Step> for WireStep {
    fn from(s: Step) -> Self {
        let mut w = WireStep {
            info: s.info,
            ..WireStep::default()
        };
        match s.kind {
            StepKind::Prompt { flow, text, echo } => {
                w.kind = "prompt".into();
                w.flow = flow;
                w.text = text;
                w.echo = echo;
            }
            StepKind::Fido2 { flow, text } => {
                w.kind = "fido2".into();
                w.flow = flow;
                w.text = text;
            }
            StepKind::Allow { reason } => {
                w.kind = "allow".into();
                w.reason = reason;
            }
            StepKind::NotRequired { reason } => {
                w.kind = "not-required".into();
                w.reason = reason;
            }
            StepKind::Deny { reason, message } => {
                w.kind = "deny".into();
                w.reason = reason.code().into();
                w.text = message;
            }
        }
        w
    }
}

/// Client side of `org.pam_mfa.Login1`.
///
/// `Begin` and `Answer` are allowed for root, and for any caller on its own account.
#[zbus::proxy(
    interface = "org.pam_mfa.Login1",
    default_service = "org.pam_mfa.Mfad",
    default_path = "/org/pam_mfa/Mfad"
)]
pub trait Login {
    /// Starts a login conversation for `facts.user` on `facts.service`.
    fn begin(&self, facts: &LoginFacts) -> Result<WireStep, MfaError>;
    /// Starts a single-prompt login (module argument `single_prompt`): the step is the same
    /// as `Begin`'s, except that a factor is asked for as one prompt whose answer is the
    /// password followed by a TOTP code. The number is how many trailing characters of that
    /// answer form the code (0 unless the step is a prompt): only those are sent with
    /// `Answer`; the password never reaches the daemon.
    fn begin_single_prompt(&self, facts: &LoginFacts) -> Result<(WireStep, u32), MfaError>;
    /// Answers the prompt of `flow`. Each prompt accepts one answer.
    fn answer(&self, flow: &str, answer: &str) -> Result<WireStep, MfaError>;
    /// Abandons `flow` (the user cancelled the conversation).
    fn cancel(&self, flow: &str) -> Result<(), MfaError>;
    /// What the security key must sign for the fido2 step of `flow`: the relying-party ID,
    /// the challenge (single use, short-lived), the IDs of the user's credentials (allow
    /// list) and whether user verification (PIN or built-in) is required. The flow stays
    /// open for its answer.
    fn fido2_request(&self, flow: &str) -> Result<(String, Vec<u8>, Vec<Vec<u8>>, bool), MfaError>;
    /// Answers the fido2 step of `flow` with the key's get_assertion response: the
    /// credential used, the authenticator data and the signature over it and SHA-256 of the
    /// challenge. The flow is used up, whatever the result.
    fn answer_fido2(
        &self,
        flow: &str,
        credential_id: &[u8],
        authenticator_data: &[u8],
        signature: &[u8],
    ) -> Result<WireStep, MfaError>;
    /// Says that the fido2 step of `flow` cannot be answered (no key, timeout, cancelled;
    /// `reason` is a short code for the log). Not a failed attempt: the next step offers the
    /// user's other methods, or denies when there are none.
    fn fido2_unavailable(&self, flow: &str, reason: &str) -> Result<WireStep, MfaError>;
    /// Says that the module refused the answer to the prompt of `flow` itself, without
    /// sending it (`reason`: a [`RefusedAnswer`] code, `not-utf8` or `too-long`). Counted as
    /// one failed attempt for the flow's user, like a wrong code; the flow ends and the step
    /// is a denial (or the refusal of a closed gate). An unknown reason is refused with
    /// `InvalidArgument` and leaves the flow as it was.
    fn answer_refused(&self, flow: &str, reason: &str) -> Result<WireStep, MfaError>;
}

/// The cue of a fido2 step.
pub const FIDO2_TOUCH_TEXT: &str = "Touch your security key";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_step_round_trips_through_the_wire_form() {
        let steps = [
            Step::new(StepKind::Prompt {
                flow: "ab".into(),
                text: "Code: ".into(),
                echo: false,
            }),
            Step::new(StepKind::Allow {
                reason: "totp".into(),
            }),
            Step::new(StepKind::Fido2 {
                flow: "cd".into(),
                text: FIDO2_TOUCH_TEXT.into(),
            }),
            Step::new(StepKind::NotRequired {
                reason: "policy".into(),
            }),
            Step {
                info: vec!["hello".into()],
                kind: StepKind::Deny {
                    reason: DenyReason::Locked,
                    message: "no".into(),
                },
            },
        ];
        for s in steps {
            assert_eq!(Step::try_from(WireStep::from(s.clone())).unwrap(), s);
        }
    }

    #[test]
    fn unknown_kinds_and_flowless_prompts_are_rejected() {
        let w = WireStep {
            kind: "allow-all".into(),
            ..Default::default()
        };
        assert!(Step::try_from(w).is_err());
        let w = WireStep {
            kind: "prompt".into(),
            ..Default::default()
        };
        assert!(Step::try_from(w).is_err());
        let w = WireStep {
            kind: "fido2".into(),
            ..Default::default()
        };
        assert!(Step::try_from(w).is_err());
    }

    #[test]
    fn an_unknown_deny_code_is_still_a_denial() {
        let w = WireStep {
            kind: "deny".into(),
            reason: "new-reason".into(),
            ..Default::default()
        };
        assert!(matches!(
            Step::try_from(w).unwrap().kind,
            StepKind::Deny {
                reason: DenyReason::AuthFailed,
                ..
            }
        ));
    }

    #[test]
    fn refused_answer_codes_round_trip_and_unknown_ones_are_none() {
        for r in [RefusedAnswer::NotUtf8, RefusedAnswer::TooLong] {
            assert_eq!(RefusedAnswer::from_code(r.code()), Some(r));
        }
        assert_eq!(RefusedAnswer::from_code("too-short"), None);
        assert_eq!(RefusedAnswer::from_code("NOT-UTF8"), None);
        assert!(
            RefusedAnswer::TooLong
                .describe()
                .contains(&crate::MAX_ANSWER_LEN.to_string())
        );
    }

    #[test]
    fn deny_codes_round_trip() {
        for r in [
            DenyReason::AuthFailed,
            DenyReason::NotEnrolled,
            DenyReason::Locked,
            DenyReason::UserUnknown,
            DenyReason::Unavailable,
        ] {
            assert_eq!(DenyReason::from_code(r.code()), Some(r));
        }
    }
}
