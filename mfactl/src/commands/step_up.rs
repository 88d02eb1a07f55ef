//! Step-up: a fresh second factor before a sensitive change to one's own account.
//!
//! Some changes (removing a token, turning always-require off, replacing the recovery codes)
//! are refused with `StepUpRequired` until the caller proves, on the same connection, that
//! they still hold a factor. [`with_step_up`] makes the call; on that refusal it runs the
//! daemon's step-up conversation (`BeginStepUp`, then one `AnswerStepUp` per prompt) and, once
//! the daemon allows, makes the call again, exactly once.
//!
//! Prompts are answered at the terminal (hidden when the daemon says not to echo), or with one
//! line of standard input each, so a script can pipe the answers in:
//! `printf '1\n123456\n' | mfactl remove totp`. A security key step is answered by the key
//! plugged into this host (its PIN asked like a hidden prompt when the daemon wants user
//! verification).

use std::future::Future;

use mfa_fido_client::{Authenticator, GetAssertionRequest};
use mfa_proto::{MfaError, Step, StepKind, WireStep};

use super::security_key::{ask_pin, touch_cue};
use crate::client::ManageApi;
use crate::error::CliError;
use crate::output::{one_line, printable};
use crate::prompt::Prompter;

/// Shown (on the terminal, or standard error) before the step-up starts.
pub(crate) const NOTICE: &str = "This change needs a fresh second factor.\n";
/// The most prompts one step-up may ask; a daemon that asks more is not followed further.
pub(crate) const MAX_PROMPTS: usize = 8;

/// Runs `call`; if mfad answers `StepUpRequired`, runs a step-up for `user` (empty: the
/// caller) and runs `call` once more. Any other outcome of the first call is returned as is,
/// and so is the outcome of the second, even another `StepUpRequired`.
pub(crate) async fn with_step_up<T, F, Fut>(
    api: &impl ManageApi,
    user: &str,
    prompter: &mut dyn Prompter,
    key: &dyn Authenticator,
    mut call: F,
) -> Result<T, CliError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, MfaError>>,
{
    match call().await {
        Err(MfaError::StepUpRequired(_)) => {}
        other => return Ok(other?),
    }
    step_up(api, user, prompter, key).await?;
    Ok(call().await?)
}

/// The step-up conversation for `user`: `Ok` once mfad allows, an error otherwise (denied,
/// no answer, too many prompts, a step mfactl does not understand).
pub(crate) async fn step_up(
    api: &impl ManageApi,
    user: &str,
    prompter: &mut dyn Prompter,
    key: &dyn Authenticator,
) -> Result<(), CliError> {
    show(prompter, NOTICE)?;
    let mut wire = api.begin_step_up(user).await?;
    let mut prompts = 0;
    loop {
        let step = Step::try_from(wire).map_err(|e| {
            CliError::Bus(format!(
                "mfad sent a step-up step mfactl does not understand ({e}); nothing was changed"
            ))
        })?;
        for line in &step.info {
            show(prompter, &format!("{}\n", one_line(line)))?;
        }
        if matches!(step.kind, StepKind::Prompt { .. } | StepKind::Fido2 { .. }) {
            if prompts == MAX_PROMPTS {
                return Err(CliError::StepUp(format!(
                    "mfad asked more than {MAX_PROMPTS} questions; the step-up was \
                     abandoned and nothing was changed"
                )));
            }
            prompts += 1;
        }
        match step.kind {
            StepKind::Fido2 { flow, text } => {
                wire = security_key_step(api, prompter, key, &flow, &text).await?;
            }
            StepKind::Prompt { flow, text, echo } => {
                let question = printable(&text);
                let answer = if echo {
                    prompter.ask(&question)
                } else {
                    prompter.ask_hidden(&question)
                }
                .map_err(|e| {
                    CliError::Input(format!("cannot read the answer: {e}; nothing was changed"))
                })?
                .ok_or_else(|| {
                    CliError::Input(
                        "no answer was given (end of input); the step-up was abandoned and \
                         nothing was changed"
                            .into(),
                    )
                })?;
                wire = api.answer_step_up(&flow, &answer).await?;
            }
            StepKind::Allow { .. } => return Ok(()),
            StepKind::Deny { message, .. } => {
                let message = message.trim_end();
                let message = if message.is_empty() {
                    "The second factor was not accepted."
                } else {
                    message
                };
                return Err(CliError::StepUp(format!(
                    "{message}\nThe step-up failed; nothing was changed."
                )));
            }
            StepKind::NotRequired { .. } => {
                return Err(CliError::StepUp(
                    "the daemon did not ask for a factor, so the change cannot be confirmed; \
                     nothing was changed"
                        .into(),
                ));
            }
        }
    }
}

/// Answers a step-up's security key step with `key`; the daemon's next step.
async fn security_key_step(
    api: &impl ManageApi,
    prompter: &mut dyn Prompter,
    key: &dyn Authenticator,
    flow: &str,
    cue: &str,
) -> Result<WireStep, CliError> {
    let (rp_id, challenge, allow_credentials, require_uv) = api.step_up_fido2_request(flow).await?;
    let pin = if require_uv { ask_pin(prompter)? } else { None };
    show(prompter, &touch_cue(cue))?;
    let answer = key.get_assertion(&GetAssertionRequest {
        rp_id,
        challenge,
        allow_credentials,
        pin,
        require_uv,
    });
    Ok(match answer {
        Ok(a) => {
            api.answer_step_up_fido2(flow, &a.credential_id, &a.auth_data, &a.signature)
                .await?
        }
        Err(e) => {
            show(prompter, &format!("{}\n", one_line(&e.to_string())))?;
            api.step_up_fido2_unavailable(flow, e.code()).await?
        }
    })
}

fn show(prompter: &mut dyn Prompter, text: &str) -> Result<(), CliError> {
    prompter
        .show(text)
        .map_err(|e| CliError::Input(format!("cannot write to the terminal: {e}")))
}

#[cfg(test)]
mod tests;
