//! `mfactl remove [USER] TOKEN`: removes one token, named by id or name. Removing one's own
//! token may need a fresh second factor first (a step-up).

use super::step_up::with_step_up;
use super::{Ctx, resolve_user};
use crate::cli::RemoveArgs;
use crate::client::ManageApi;
use crate::error::CliError;
use crate::output::{RemovalReport, emit, emit_json, one_line};

/// Removes `TOKEN` from `USER` (default: the caller).
pub(crate) async fn run(
    api: &impl ManageApi,
    args: RemoveArgs,
    ctx: &mut Ctx<'_>,
) -> Result<(), CliError> {
    let user = resolve_user(api, args.user).await?;
    let token = args.token.as_str();
    with_step_up(api, &user, ctx.prompter, ctx.key, || {
        api.remove_token(&user, token)
    })
    .await?;
    if ctx.json {
        emit_json(
            ctx.out,
            &RemovalReport {
                user: &user,
                token,
                removed: true,
            },
        )?;
    } else {
        let line = format!(
            "Token {} removed from {}.\n",
            one_line(token),
            one_line(&user)
        );
        emit(ctx.out, &line)?;
    }
    Ok(())
}
