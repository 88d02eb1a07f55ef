//! `mfactl status [USER]`: a user's tokens, recovery codes, always-require, failure and lock
//! state, enrollment deadline, and what each service with a rule would ask of them; or the
//! `UserStatus` as JSON.

use super::{Ctx, resolve_user};
use crate::cli::StatusArgs;
use crate::client::ManageApi;
use crate::deadline::now;
use crate::error::CliError;
use crate::output::{emit, emit_json, status_text};

/// Shows the status of `USER` (default: the caller).
pub(crate) async fn run(
    api: &impl ManageApi,
    args: StatusArgs,
    ctx: &mut Ctx<'_>,
) -> Result<(), CliError> {
    let user = resolve_user(api, args.user).await?;
    let status = api.status(&user).await?;
    if ctx.json {
        emit_json(ctx.out, &status)?;
    } else {
        emit(ctx.out, &status_text(&status, now()))?;
    }
    Ok(())
}
