//! `mfactl enroll totp`: begin, show the otpauth URI (and a QR code), read a code from the
//! app, confirm. Nothing is stored until mfad verifies that code; on any failure after the
//! start the pending enrollment is cancelled.

use zeroize::Zeroizing;

use mfa_core::code::{Code, CodeError, parse_code};
use mfa_core::totp::{TotpKey, TotpParams};
use mfa_proto::{EnrollmentStart, MfaError, TokenInfo, TotpAlgorithm, TotpEnrollOptions};

use super::step_up::with_step_up;
use super::{Ctx, resolve_user};
use crate::cli::{Digits, EnrollTotpArgs, Period, SecretArg};
use crate::client::ManageApi;
use crate::error::CliError;
use crate::output::{EnrollmentReport, emit, emit_json, one_line, printable, utc};
use crate::prompt::Prompter;
use crate::qr;

/// The question asked for the confirmation code.
pub const CODE_PROMPT: &str = "Enter the code shown by your authenticator app: ";
/// The question asked for `--secret -` on a terminal.
pub const SECRET_PROMPT: &str = "Base32 secret to import: ";
/// Codes a person at a terminal may try before the enrollment is cancelled.
pub const MAX_TRIES: u32 = 3;

/// An enrollment whose arguments passed the local checks.
pub(crate) struct Plan {
    /// `USER`, or `None` for the caller.
    user: Option<String>,
    /// What `BeginTotpEnrollment` gets (zeros and empty strings leave the choice to mfad).
    options: TotpEnrollOptions,
    /// `--code`, syntax already checked.
    code: Option<Code>,
}

/// Checks the arguments (secret, code syntax) and reads `--secret -`. Never quotes the secret
/// or the code in an error.
pub(crate) fn plan(args: EnrollTotpArgs, prompter: &mut dyn Prompter) -> Result<Plan, CliError> {
    let params = TotpParams {
        algorithm: args.algorithm.map(TotpAlgorithm::from).unwrap_or_default(),
        digits: args.digits.map_or(6, Digits::count),
        period: args.period.map_or(30, Period::seconds),
    };
    let mut secret = match args.secret {
        None => None,
        Some(SecretArg::Inline(secret)) => Some(secret),
        Some(SecretArg::Stdin) => Some(read_secret(prompter)?),
    };
    if let Some(secret) = &secret {
        TotpKey::from_base32(secret, params)
            .map_err(|e| CliError::Usage(format!("--secret: {e}")))?;
    }
    let code = match &args.code {
        Some(text) => Some(
            check_code(text, args.digits.map(Digits::count))
                .map_err(|e| CliError::Usage(format!("--code: {e}")))?,
        ),
        None => None,
    };
    let options = TotpEnrollOptions {
        name: args.name.unwrap_or_default(),
        issuer: args.issuer.unwrap_or_default(),
        // Moved, not copied: the options wipe it when dropped.
        secret_base32: secret
            .as_mut()
            .map(|s| std::mem::take(&mut **s))
            .unwrap_or_default(),
        digits: args.digits.map_or(0, Digits::count),
        algorithm: args
            .algorithm
            .map(|a| TotpAlgorithm::from(a).as_str().to_owned())
            .unwrap_or_default(),
        period: args.period.map_or(0, Period::seconds),
    };
    Ok(Plan {
        user: args.user,
        options,
        code,
    })
}

fn read_secret(prompter: &mut dyn Prompter) -> Result<Zeroizing<String>, CliError> {
    let question = if prompter.is_interactive() {
        SECRET_PROMPT
    } else {
        ""
    };
    prompter
        .ask(question)
        .map_err(|e| CliError::Input(format!("cannot read the secret: {e}")))?
        .ok_or_else(|| CliError::Usage("--secret -: standard input is empty".into()))
}

/// Parses a code and, when the token's length is known, checks it.
fn check_code(text: &str, digits: Option<u32>) -> Result<Code, CodeError> {
    let code = parse_code(text)?;
    match digits {
        Some(expected) if code.len() != expected as usize => {
            Err(CodeError::WrongLength { expected })
        }
        _ => Ok(code),
    }
}

/// The `digits` parameter of an otpauth URI: 6 when absent (the key URI format's default),
/// `None` when unreadable (the daemon then checks the length alone).
fn uri_digits(uri: &str) -> Option<u32> {
    let (_, query) = uri.split_once('?')?;
    match query
        .split('&')
        .find_map(|pair| pair.strip_prefix("digits="))
    {
        Some(value) => value.parse().ok(),
        None => Some(6),
    }
}

/// Runs a planned enrollment.
pub(crate) async fn run(
    api: &impl ManageApi,
    plan: Plan,
    ctx: &mut Ctx<'_>,
) -> Result<(), CliError> {
    let Plan {
        user,
        options,
        code,
    } = plan;
    let user = resolve_user(api, user).await?;
    // A user who already has a factor proves it before the new secret is shown.
    let start = with_step_up(api, &user, ctx.prompter, ctx.key, || {
        api.begin_totp_enrollment(&user, &options)
    })
    .await?;
    drop(options);
    match show_and_confirm(api, &user, &start, code, ctx).await {
        Ok(token) => report(&user, &start, &token, ctx),
        Err(e) => {
            // An unknown (expired) enrollment has nothing left to cancel. A failed cancel is
            // not reported: the daemon discards the enrollment at `expires_at` anyway.
            if matches!(e, CliError::Refused(MfaError::UnknownEnrollment(_))) {
                return Err(e);
            }
            match api.cancel_enrollment(&start.enrollment).await {
                Ok(()) => Err(CliError::Cancelled(Box::new(e))),
                Err(_) => Err(e),
            }
        }
    }
}

async fn show_and_confirm(
    api: &impl ManageApi,
    user: &str,
    start: &EnrollmentStart,
    given: Option<Code>,
    ctx: &mut Ctx<'_>,
) -> Result<TokenInfo, CliError> {
    let will_prompt = given.is_none();
    if !ctx.json {
        // The URI goes to standard output even without a terminal, so a script can read it.
        emit(ctx.out, &enrollment_text(start, ctx.qr))?;
    } else if will_prompt {
        // --json keeps standard output for the result; the person still needs the URI.
        ctx.prompter
            .show(&enrollment_text(start, None))
            .map_err(terminal_error)?;
    }
    let digits = uri_digits(&start.otpauth_uri);
    match given {
        Some(code) => {
            if let Err(e) = check_code(code.as_str(), digits) {
                return Err(CliError::Usage(format!("--code: {e}")));
            }
            // The step-up may have run out while the app was set up: mfad keeps the
            // enrollment, and the same code confirms it after a new one.
            with_step_up(api, user, ctx.prompter, ctx.key, || {
                api.confirm_totp_enrollment(&start.enrollment, code.as_str())
            })
            .await
        }
        None => prompt_and_confirm(api, user, start, digits, ctx.prompter, ctx.key).await,
    }
}

/// Confirms with `code`; when mfad says the step-up ran out meanwhile, runs a new one and
/// confirms again with the same code (mfad kept the enrollment). Errors are mfad's own.
async fn confirm_after_step_up(
    api: &impl ManageApi,
    user: &str,
    start: &EnrollmentStart,
    code: &Code,
    prompter: &mut dyn Prompter,
    key: &dyn mfa_fido_client::Authenticator,
) -> Result<TokenInfo, MfaError> {
    match api
        .confirm_totp_enrollment(&start.enrollment, code.as_str())
        .await
    {
        Err(MfaError::StepUpRequired(why)) => {
            if super::step_up::step_up(api, user, prompter, key)
                .await
                .is_err()
            {
                return Err(MfaError::StepUpRequired(why));
            }
            api.confirm_totp_enrollment(&start.enrollment, code.as_str())
                .await
        }
        other => other,
    }
}

/// Asks for codes until one is accepted: up to [`MAX_TRIES`] at a terminal, once otherwise.
async fn prompt_and_confirm(
    api: &impl ManageApi,
    user: &str,
    start: &EnrollmentStart,
    digits: Option<u32>,
    prompter: &mut dyn Prompter,
    key: &dyn mfa_fido_client::Authenticator,
) -> Result<TokenInfo, CliError> {
    let tries = if prompter.is_interactive() {
        MAX_TRIES
    } else {
        1
    };
    let mut attempt = 1;
    loop {
        let left = tries - attempt;
        let line = prompter
            .ask(CODE_PROMPT)
            .map_err(|e| CliError::Input(format!("cannot read the code: {e}")))?
            .ok_or_else(|| CliError::Input("no code was entered".into()))?;
        let retry_note = match check_code(&line, digits) {
            Err(e) if left == 0 => return Err(CliError::Input(e.to_string())),
            Err(e) => format!("That is not a code: {e}."),
            Ok(code) => match confirm_after_step_up(api, user, start, &code, prompter, key).await {
                Ok(token) => return Ok(token),
                // The daemon's message says why (and hints at the clock); just add "try again".
                Err(MfaError::CodeRejected(why)) if left > 0 => {
                    format!("The code was not accepted: {}.", why.trim_end_matches('.'))
                }
                Err(e) => return Err(e.into()),
            },
        };
        let note = format!("{} Try again.\n", printable(&retry_note));
        prompter.show(&note).map_err(terminal_error)?;
        attempt += 1;
    }
}

/// What the person needs to add the token to the app. It holds the secret.
fn enrollment_text(start: &EnrollmentStart, qr_style: Option<qr::Style>) -> Zeroizing<String> {
    let mut text = Zeroizing::new(String::with_capacity(16 * 1024));
    let picture = qr_style.and_then(|style| qr::render(&start.otpauth_uri, style).ok());
    match &picture {
        Some(picture) => {
            text.push_str(
                "Scan this QR code with your authenticator app, or enter the URI below:\n\n",
            );
            text.push_str(picture);
            text.push('\n');
        }
        None => text.push_str("Add this URI to your authenticator app:\n"),
    }
    text.push_str(&printable(&start.otpauth_uri));
    text.push_str("\nIt holds the secret and is not shown again. Confirm before ");
    text.push_str(&utc(start.expires_at));
    text.push_str(" UTC.\n");
    text
}

fn report(
    user: &str,
    start: &EnrollmentStart,
    token: &TokenInfo,
    ctx: &mut Ctx<'_>,
) -> Result<(), CliError> {
    let user = if token.user.is_empty() {
        user
    } else {
        &token.user
    };
    if ctx.json {
        let report = EnrollmentReport {
            user,
            otpauth_uri: &start.otpauth_uri,
            token,
        };
        emit_json(ctx.out, &report)?;
    } else {
        let line = format!(
            "Token {} ({}) enrolled for {}.\n",
            one_line(&token.id),
            one_line(&token.name),
            one_line(user)
        );
        emit(ctx.out, &line)?;
    }
    Ok(())
}

fn terminal_error(e: std::io::Error) -> CliError {
    CliError::Input(format!("cannot write to the terminal: {e}"))
}

#[cfg(test)]
mod tests;
