//! `mfactl unlock USER`: clears the failure counter, back-off and administrative lock
//! (administrators only; mfad decides).

use super::Ctx;
use crate::cli::UnlockArgs;
use crate::client::ManageApi;
use crate::error::CliError;
use crate::output::{UnlockReport, emit, emit_json, one_line};

/// Clears `USER`'s failures, back-off and administrative lock.
pub(crate) async fn run(
    api: &impl ManageApi,
    args: UnlockArgs,
    ctx: &mut Ctx<'_>,
) -> Result<(), CliError> {
    api.unlock(&args.user).await?;
    if ctx.json {
        emit_json(
            ctx.out,
            &UnlockReport {
                user: &args.user,
                unlocked: true,
            },
        )?;
    } else {
        let line = format!(
            "Failure count, back-off and administrative lock cleared for {}.\n",
            one_line(&args.user)
        );
        emit(ctx.out, &line)?;
    }
    Ok(())
}
