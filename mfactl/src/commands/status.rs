//! `mfactl status [USER]`: a user's tokens, failure and lock state, and what each service
//! with a rule would ask of them; or the `UserStatus` as JSON.

use std::time::{SystemTime, UNIX_EPOCH};

use super::{Ctx, resolve_user};
use crate::cli::StatusArgs;
use crate::client::ManageApi;
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

/// The current Unix time; a clock before 1970 reads as 0.
fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
