//! `mfactl remove USER TOKEN`: removes one token, named by id or name.

use super::Ctx;
use crate::cli::RemoveArgs;
use crate::client::ManageApi;
use crate::error::CliError;
use crate::output::{RemovalReport, emit, emit_json, one_line};

/// Removes `TOKEN` from `USER`.
pub(crate) async fn run(
    api: &impl ManageApi,
    args: RemoveArgs,
    ctx: &mut Ctx<'_>,
) -> Result<(), CliError> {
    api.remove_token(&args.user, &args.token).await?;
    if ctx.json {
        emit_json(
            ctx.out,
            &RemovalReport {
                user: &args.user,
                token: &args.token,
                removed: true,
            },
        )?;
    } else {
        let line = format!(
            "Token {} removed from {}.\n",
            one_line(&args.token),
            one_line(&args.user)
        );
        emit(ctx.out, &line)?;
    }
    Ok(())
}
