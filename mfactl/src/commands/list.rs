//! `mfactl list [USER]`: a table of the user's tokens, or a JSON array of `TokenInfo`.

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
        emit_json(ctx.out, &tokens)?;
    } else if tokens.is_empty() {
        emit(
            ctx.out,
            &format!("No tokens are enrolled for {}.\n", one_line(&user)),
        )?;
    } else {
        emit(ctx.out, &token_table(&tokens))?;
    }
    Ok(())
}
