//! `mfactl enroll email|sms [USER] --address ADDR|--phone +E164 [--name N] [--verified]`:
//! mfad sends a code to the new address or number, and saves it only when that code is typed
//! back here. An empty answer asks for a new code (within mfad's resend limits). With
//! `--verified` an administrator saves the address without the round trip.
//!
//! On any failure after a code went out, the pending enrollment is cancelled (best effort:
//! mfad also drops it when the code expires or this connection closes).

use mfa_core::code::{CodeError, parse_code};
use mfa_core::delivery::format_validity;
use mfa_proto::{CodeEnrollmentStart, MfaError, TokenInfo};

use super::step_up::with_step_up;
use super::{Ctx, report_enrolled, resolve_user};
use crate::cli::{EnrollEmailArgs, EnrollSmsArgs};
use crate::client::ManageApi;
use crate::error::CliError;
use crate::output::{one_line, printable};
use crate::prompt::Prompter;

/// The question asked for the code.
pub const CODE_PROMPT: &str = "Code from the message: ";
/// Digits in a code mfad sends (mfad/src/daemon/sent_code.rs `new_code`); a shorter or
/// longer answer is a typo, refused here rather than spending one of mfad's tries.
pub const CODE_DIGITS: u32 = 6;
/// Answers read before giving up, whatever they were (wrong codes, typos, resends): bounds
/// a script that pipes in junk. mfad allows fewer wrong codes than this anyway.
pub const MAX_ANSWERS: u32 = 10;

/// Which kind of address is enrolled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CodeMethod {
    /// `enroll email`.
    Email,
    /// `enroll sms`.
    Sms,
}

impl CodeMethod {
    /// The method name mfad expects.
    fn as_str(self) -> &'static str {
        match self {
            CodeMethod::Email => "email",
            CodeMethod::Sms => "sms",
        }
    }

    /// What the enrolled token is called in the report.
    fn what(self) -> &'static str {
        match self {
            CodeMethod::Email => "Email address",
            CodeMethod::Sms => "Phone number",
        }
    }
}

/// `enroll email` or `enroll sms`, its address already checked by clap.
#[derive(Debug)]
pub(crate) struct Plan {
    method: CodeMethod,
    user: Option<String>,
    address: String,
    name: Option<String>,
    verified: bool,
}

impl From<EnrollEmailArgs> for Plan {
    fn from(args: EnrollEmailArgs) -> Self {
        Plan {
            method: CodeMethod::Email,
            user: args.user,
            address: args.address,
            name: args.name,
            verified: args.verified,
        }
    }
}

impl From<EnrollSmsArgs> for Plan {
    fn from(args: EnrollSmsArgs) -> Self {
        Plan {
            method: CodeMethod::Sms,
            user: args.user,
            address: args.phone,
            name: args.name,
            verified: args.verified,
        }
    }
}

/// The calls that send a code, with what they need; one per command.
struct Sender<'a, A> {
    api: &'a A,
    user: &'a str,
    method: &'static str,
    address: &'a str,
    name: &'a str,
}

impl<A: ManageApi> Sender<'_, A> {
    /// `BeginCodeEnrollment`, with a step-up first when mfad wants one.
    async fn send(&self, ctx: &mut Ctx<'_>) -> Result<CodeEnrollmentStart, CliError> {
        with_step_up(self.api, self.user, ctx.prompter, ctx.key, || {
            self.api
                .begin_code_enrollment(self.user, self.method, self.address, self.name)
        })
        .await
    }
}

/// Enrolls the address and prints what was saved.
pub(crate) async fn run(
    api: &impl ManageApi,
    plan: Plan,
    ctx: &mut Ctx<'_>,
) -> Result<(), CliError> {
    let user = resolve_user(api, plan.user).await?;
    let name = plan.name.unwrap_or_default();
    let method = plan.method.as_str();
    let token = if plan.verified {
        api.enroll_verified_address(&user, method, &plan.address, &name)
            .await?
    } else {
        let sender = Sender {
            api,
            user: &user,
            method,
            address: &plan.address,
            name: &name,
        };
        let start = sender.send(ctx).await?;
        show(ctx.prompter, &sent_text(&start))?;
        confirm(&sender, start, ctx).await?
    };
    report_enrolled(ctx, plan.method.what(), &token, &user)
}

/// `A code was sent to a•••e@ex•••.org. It is valid for 5:00.`
fn sent_text(start: &CodeEnrollmentStart) -> String {
    format!(
        "A code was sent to {}. It is valid for {}.\n",
        one_line(&start.sent_to),
        format_validity(u64::from(start.valid_secs))
    )
}

/// Reads answers until a code is accepted; an empty answer sends a new code. On failure
/// the live enrollment is cancelled, unless mfad already dropped it.
async fn confirm<A: ManageApi>(
    sender: &Sender<'_, A>,
    start: CodeEnrollmentStart,
    ctx: &mut Ctx<'_>,
) -> Result<TokenInfo, CliError> {
    let mut enrollment = start.enrollment;
    let result = answer_loop(sender, &mut enrollment, ctx).await;
    match result {
        Ok(token) => Ok(token),
        Err(Ended::Gone(e)) => Err(e),
        Err(Ended::Live(e)) => match sender.api.cancel_enrollment(&enrollment).await {
            Ok(()) => Err(CliError::Cancelled(Box::new(e))),
            Err(_) => Err(e),
        },
    }
}

/// How the answer loop failed.
enum Ended {
    /// The enrollment is still pending at mfad: cancel it.
    Live(CliError),
    /// mfad dropped it already (too many wrong codes, expired, unknown).
    Gone(CliError),
}

async fn answer_loop<A: ManageApi>(
    sender: &Sender<'_, A>,
    enrollment: &mut String,
    ctx: &mut Ctx<'_>,
) -> Result<TokenInfo, Ended> {
    // The last refusal, reported if the input ends after it.
    let mut last: Option<CliError> = None;
    for _ in 0..MAX_ANSWERS {
        let line = ctx
            .prompter
            .ask(CODE_PROMPT)
            .map_err(|e| Ended::Live(CliError::Input(format!("cannot read the code: {e}"))))?;
        let Some(line) = line else {
            return Err(Ended::Live(
                last.unwrap_or_else(|| CliError::Input("no code was entered".into())),
            ));
        };
        let code = match check_code(&line) {
            Err(CodeError::Empty) => {
                resend(sender, enrollment, &mut last, ctx).await?;
                continue;
            }
            Err(e) => {
                let note = format!("That is not a code: {e}. Try again.\n");
                show(ctx.prompter, &note).map_err(Ended::Live)?;
                last = Some(CliError::Input(e.to_string()));
                continue;
            }
            Ok(code) => code,
        };
        match sender
            .api
            .confirm_code_enrollment(enrollment, code.as_str())
            .await
        {
            Ok(token) => return Ok(token),
            // mfad's message counts the tries left; without that phrase (too many wrong
            // codes, or the code expired) the enrollment is over and mfad dropped it. If the
            // wording ever changes, this fails closed: the command stops with mfad's message.
            Err(MfaError::CodeRejected(why)) if why.contains("tries left") => {
                let note = format!(
                    "The code was not accepted: {}. Try again, or press Enter for a new code.\n",
                    printable(why.trim_end_matches('.'))
                );
                show(ctx.prompter, &note).map_err(Ended::Live)?;
                last = Some(CliError::Refused(MfaError::CodeRejected(why)));
            }
            Err(e @ (MfaError::CodeRejected(_) | MfaError::UnknownEnrollment(_))) => {
                return Err(Ended::Gone(e.into()));
            }
            Err(e) => return Err(Ended::Live(e.into())),
        }
    }
    Err(Ended::Live(CliError::Input(format!(
        "no code was accepted in {MAX_ANSWERS} answers; nothing was saved"
    ))))
}

/// Sends a new code after an empty answer; the old enrollment is cancelled once the new
/// code is out. A refusal to send (too soon, hourly limit) is shown and the old code stays
/// valid; any other failure ends the command.
async fn resend<A: ManageApi>(
    sender: &Sender<'_, A>,
    enrollment: &mut String,
    last: &mut Option<CliError>,
    ctx: &mut Ctx<'_>,
) -> Result<(), Ended> {
    match sender.send(ctx).await {
        Ok(start) => {
            let old = std::mem::replace(enrollment, start.enrollment.clone());
            // Best effort: mfad keeps one live code per user and method anyway.
            let _ = sender.api.cancel_enrollment(&old).await;
            *last = None;
            show(ctx.prompter, &sent_text(&start)).map_err(Ended::Live)
        }
        Err(CliError::Refused(MfaError::RateLimited(why))) => {
            let note = format!(
                "No new code was sent: {}. Type the code already sent, or try again later.\n",
                printable(why.trim_end_matches('.'))
            );
            show(ctx.prompter, &note).map_err(Ended::Live)?;
            *last = Some(CliError::Refused(MfaError::RateLimited(why)));
            Ok(())
        }
        Err(e) => Err(Ended::Live(e)),
    }
}

/// A code of [`CODE_DIGITS`] digits (surrounding spaces dropped); `Empty` for a blank line.
fn check_code(text: &str) -> Result<mfa_core::code::Code, CodeError> {
    let code = parse_code(text)?;
    if code.len() != CODE_DIGITS as usize {
        return Err(CodeError::WrongLength {
            expected: CODE_DIGITS,
        });
    }
    Ok(code)
}

fn show(prompter: &mut dyn Prompter, text: &str) -> Result<(), CliError> {
    prompter
        .show(text)
        .map_err(|e| CliError::Input(format!("cannot write to the terminal: {e}")))
}

#[cfg(test)]
mod tests;
