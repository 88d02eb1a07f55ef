//! `mfactl list [USER]`: a table of the user's tokens and the number of unused recovery
//! codes, or (with `--json`) a JSON array of `TokenInfo`.

use mfa_proto::MfaError;

use super::{Ctx, resolve_user};
use crate::cli::ListArgs;
use crate::client::ManageApi;
use crate::error::CliError;
use crate::output::{emit, emit_json, one_line, token_table};

/// Lists the tokens of `USER` (default: the caller).
pub(crate) async fn run(
    api: &impl ManageApi,
    args: ListArgs,
    ctx: &mut Ctx<'_>,
) -> Result<(), CliError> {
    let user = resolve_user(api, args.user).await?;
    let tokens = api.list_tokens(&user).await?;
    if ctx.json {
        // Kept a bare array of tokens, as scripts read it; `status --json` has the count of
        // recovery codes.
        emit_json(ctx.out, &tokens)?;
        return Ok(());
    }
    // A user NSS no longer knows may still have tokens to list; the count is then left out.
    let codes_left = match api.recovery_codes_left(&user).await {
        Ok(n) => Some(n),
        Err(MfaError::UnknownUser(_)) => None,
        Err(e) => return Err(e.into()),
    };
    let mut text = if tokens.is_empty() {
        format!("No tokens are enrolled for {}.\n", one_line(&user))
    } else {
        token_table(&tokens)
    };
    if let Some(n) = codes_left {
        text.push_str(&format!("Recovery codes: {n} unused\n"));
    }
    emit(ctx.out, &text)?;
    Ok(())
}
