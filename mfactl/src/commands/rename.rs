//! `mfactl rename USER TOKEN NEW_NAME`: renames one token, named by id or name.

use super::Ctx;
use crate::cli::RenameArgs;
use crate::client::ManageApi;
use crate::error::CliError;
use crate::output::{emit, emit_json, one_line};

/// Renames `TOKEN` of `USER` to `NEW_NAME`.
pub(crate) async fn run(
    api: &impl ManageApi,
    args: RenameArgs,
    ctx: &mut Ctx<'_>,
) -> Result<(), CliError> {
    let user = args.user;
    let token = api.rename_token(&user, &args.token, &args.new_name).await?;
    if ctx.json {
        emit_json(ctx.out, &token)?;
    } else {
        let line = format!(
            "Token {} renamed to {} for {}.\n",
            one_line(&args.token),
            one_line(&args.new_name),
            one_line(&user)
        );
        emit(ctx.out, &line)?;
    }
    Ok(())
}
