//! Single-prompt mode (module argument `single_prompt`): the password and the code in one
//! answer, for clients that can only send a password (sshd's `password` method, VPN and
//! RADIUS front ends), like SSSD's single prompt or google-authenticator's `forward_pass`.
//!
//! The module is stacked *before* the password module, which must take the password from
//! `PAM_AUTHTOK` (`use_first_pass` or `try_first_pass`):
//!
//! 1. `BeginSinglePrompt` returns the daemon's step and the code length N;
//! 2. the answer is `PAM_AUTHTOK` when an earlier module set it, else one prompt;
//! 3. the last N characters are the code, sent with `Answer`; everything before them is the
//!    password, stored as `PAM_AUTHTOK` for the next module and never sent to the daemon.
//!
//! The invariants of [`super`] hold: only the daemon's `allow` becomes `PAM_SUCCESS`. One
//! prompt at most: a daemon asking a second question breaks the protocol.

use mfa_proto::{LoginFacts, Step, StepKind, WireStep};
use pamsm::PamError;
use zeroize::Zeroizing;

use super::{
    BadAnswer, ConvError, Daemon, Outcome, PamIo, checked_answer, daemon_failed, not_accepted,
};

/// Longest code the daemon may ask to split off (TOTP codes have 6 or 8 digits).
pub const MAX_CODE_CHARS: u32 = 10;

/// Shown when the answer holds nothing before the code.
pub const NO_PASSWORD_MESSAGE: &str =
    "Type your password and the code in one answer, the code at the end.";

/// The password item, which single-prompt mode reads and replaces.
pub trait PasswordItem {
    /// `PAM_AUTHTOK` as an earlier module left it, if any.
    fn password(&mut self) -> Result<Option<Zeroizing<String>>, ConvError>;
    /// Stores `password` as `PAM_AUTHTOK` for the next module.
    fn set_password(&mut self, password: &str) -> Result<(), PamError>;
}

/// Splits `answer` into (password, code), the code being the last `code_chars` characters.
/// `None` when nothing comes before the code.
pub fn split_answer(answer: &str, code_chars: u32) -> Option<(&str, &str)> {
    let n = usize::try_from(code_chars).ok()?.checked_sub(1)?;
    let (at, _) = answer.char_indices().rev().nth(n)?;
    (at > 0).then(|| answer.split_at(at))
}

/// Runs one single-prompt login to its end.
pub async fn run<I: PamIo + PasswordItem, D: Daemon>(
    facts: &LoginFacts,
    io: &mut I,
    daemon: &mut D,
) -> Outcome {
    let (wire, code_chars) = match daemon.begin_single_prompt(facts).await {
        Ok(reply) => reply,
        Err(error) => return daemon_failed(facts, io, error),
    };
    let step = match shown_step(io, wire) {
        Ok(step) => step,
        Err(outcome) => return outcome,
    };
    let (flow, text, echo) = match step {
        StepKind::Prompt { flow, text, echo } => (flow, text, echo),
        // One answer cannot carry a security key's: the daemon never asks for it here.
        StepKind::Fido2 { flow, .. } => {
            daemon.cancel(&flow).await;
            return Outcome::Protocol {
                detail: "a security key step in single-prompt mode".to_owned(),
            };
        }
        // Nothing to ask (policy, or a factor proven upstream): the password module asks
        // for the password itself (`try_first_pass`).
        other => return final_outcome(io, other),
    };
    if !(1..=MAX_CODE_CHARS).contains(&code_chars) {
        daemon.cancel(&flow).await;
        return Outcome::Protocol {
            detail: format!("single-prompt code length {code_chars} is not 1 to {MAX_CODE_CHARS}"),
        };
    }

    // A password an earlier module collected is used instead of asking again.
    let answer = match io.password() {
        Ok(Some(answer)) => Ok(answer),
        Ok(None) => io.prompt(&text, echo),
        Err(error) => Err(error),
    };
    // The whole answer is bounded like any other (a password has no business being 4 KiB).
    let answer = match checked_answer(facts, io, daemon, &flow, answer).await {
        Ok(answer) => answer,
        Err(outcome) => return outcome,
    };
    let Some((password, code)) = split_answer(&answer, code_chars) else {
        io.error(&not_accepted(facts, NO_PASSWORD_MESSAGE));
        daemon.cancel(&flow).await;
        return Outcome::BadAnswer {
            why: BadAnswer::NoPassword,
        };
    };
    // Stored before the code is checked, so the password module runs (and delays, and logs)
    // the same way whether or not the code was right.
    if let Err(code) = io.set_password(password) {
        daemon.cancel(&flow).await;
        return Outcome::PasswordItem { code };
    }
    let code = Zeroizing::new(code.to_owned());
    drop(answer);

    let wire = match daemon.answer(&flow, &code).await {
        Ok(wire) => wire,
        Err(error) => return daemon_failed(facts, io, error),
    };
    let step = match shown_step(io, wire) {
        Ok(step) => step,
        Err(outcome) => return outcome,
    };
    match step {
        StepKind::Prompt { flow, .. } | StepKind::Fido2 { flow, .. } => {
            daemon.cancel(&flow).await;
            Outcome::Protocol {
                detail: "a second prompt in single-prompt mode".to_owned(),
            }
        }
        StepKind::NotRequired { .. } => Outcome::Protocol {
            detail: "not-required after an answer".to_owned(),
        },
        other => final_outcome(io, other),
    }
}

/// Parses the daemon's step and shows its informational lines.
fn shown_step<I: PamIo>(io: &mut I, wire: WireStep) -> Result<StepKind, Outcome> {
    let step = Step::try_from(wire).map_err(|detail| Outcome::Protocol {
        detail: format!("malformed step: {detail}"),
    })?;
    for line in &step.info {
        io.info(line);
    }
    Ok(step.kind)
}

/// The outcome of a step that ends the login (never a prompt).
fn final_outcome<I: PamIo>(io: &mut I, kind: StepKind) -> Outcome {
    match kind {
        StepKind::Allow { reason } => Outcome::Allow { reason },
        StepKind::NotRequired { reason } => Outcome::NotRequired { reason },
        StepKind::Deny { reason, message } => {
            if !message.is_empty() {
                io.error(&message);
            }
            Outcome::Deny { reason }
        }
        StepKind::Prompt { .. } | StepKind::Fido2 { .. } => Outcome::Protocol {
            detail: "unexpected prompt".to_owned(),
        },
    }
}

#[cfg(test)]
mod tests;
