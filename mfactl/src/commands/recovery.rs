//! `mfactl recovery generate [USER]`: a new set of one-time recovery codes, printed once. For
//! one's own account, with a token already enrolled, mfad wants a fresh second factor first
//! (a step-up).

use zeroize::Zeroizing;

use super::step_up::with_step_up;
use super::{Ctx, resolve_user};
use crate::cli::RecoveryGenerateArgs;
use crate::client::ManageApi;
use crate::error::CliError;
use crate::output::{RecoveryCodesReport, emit, emit_json, one_line};

/// Replaces `USER`'s recovery codes (default: the caller) and prints the new ones.
pub(crate) async fn run_generate(
    api: &impl ManageApi,
    args: RecoveryGenerateArgs,
    ctx: &mut Ctx<'_>,
) -> Result<(), CliError> {
    let user = resolve_user(api, args.user).await?;
    let codes = Zeroizing::new(
        with_step_up(api, &user, ctx.prompter, ctx.key, || {
            api.generate_recovery_codes(&user)
        })
        .await?,
    );
    if ctx.json {
        emit_json(
            ctx.out,
            &RecoveryCodesReport {
                user: &user,
                codes: &codes,
            },
        )?;
    } else {
        emit(ctx.out, &codes_text(&user, &codes))?;
    }
    Ok(())
}

/// The header, then one code per line. It holds the codes.
pub(crate) fn codes_text(user: &str, codes: &[String]) -> Zeroizing<String> {
    let mut text = Zeroizing::new(String::with_capacity(512 + 64 * codes.len()));
    text.push_str(&format!(
        "New recovery codes for {}; the earlier codes no longer work.\n",
        one_line(user)
    ));
    text.push_str(
        "They are shown only this once: store them offline (printed, or in a password \
         manager).\nEach code works for one login only.\n\n",
    );
    for code in codes {
        text.push_str(&one_line(code));
        text.push('\n');
    }
    text
}
