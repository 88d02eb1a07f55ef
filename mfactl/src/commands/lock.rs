//! `mfactl lock USER [--reason TEXT]`: locks a user's second factor, so that every login
//! that asks for one is denied until `mfactl unlock` (administrators only; mfad decides).

use super::Ctx;
use crate::cli::LockArgs;
use crate::client::ManageApi;
use crate::error::CliError;
use crate::output::{LockReport, emit, emit_json, one_line};

/// Locks `USER`'s second factor.
pub(crate) async fn run(
    api: &impl ManageApi,
    args: LockArgs,
    ctx: &mut Ctx<'_>,
) -> Result<(), CliError> {
    let reason = args.reason.as_deref().unwrap_or_default();
    api.lock(&args.user, reason).await?;
    if ctx.json {
        emit_json(
            ctx.out,
            &LockReport {
                user: &args.user,
                locked: true,
                reason,
            },
        )?;
    } else {
        let user = one_line(&args.user);
        let line = format!(
            "Locked the second factor of {user}: every login that asks for MFA is denied until \
             `mfactl unlock {user}`.\n"
        );
        emit(ctx.out, &line)?;
    }
    Ok(())
}
