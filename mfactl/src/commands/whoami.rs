//! `mfactl whoami`: the caller as mfad sees it.

use super::Ctx;
use crate::client::ManageApi;
use crate::error::CliError;
use crate::output::{emit, emit_json, who_am_i_text};

/// Prints the caller's uid, user name and whether it is an administrator.
pub(crate) async fn run(api: &impl ManageApi, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    let me = api.who_am_i().await?;
    if ctx.json {
        emit_json(ctx.out, &me)?;
    } else {
        emit(ctx.out, &who_am_i_text(&me))?;
    }
    Ok(())
}
