//! `mfactl always-require on|off [USER]`: whether a user is asked for a second factor on
//! every service that stacks pam_mfa, even where its rule is off. Turning it off for oneself needs a fresh second
//! factor (a step-up).

use super::step_up::with_step_up;
use super::{Ctx, resolve_user};
use crate::cli::AlwaysRequireArgs;
use crate::client::ManageApi;
use crate::error::CliError;
use crate::output::{AlwaysRequireReport, emit, emit_json, one_line};

/// Turns always-require on or off for `USER` (default: the caller).
pub(crate) async fn run(
    api: &impl ManageApi,
    args: AlwaysRequireArgs,
    ctx: &mut Ctx<'_>,
) -> Result<(), CliError> {
    let user = resolve_user(api, args.user).await?;
    let on = args.state.is_on();
    with_step_up(api, &user, ctx.prompter, ctx.key, || {
        api.set_always_require(&user, on)
    })
    .await?;
    if ctx.json {
        emit_json(
            ctx.out,
            &AlwaysRequireReport {
                user: &user,
                always_require: on,
            },
        )?;
    } else {
        let user = one_line(&user);
        let line = if on {
            format!(
                "Always-require is on for {user}: a second factor is asked on every service \
                 that stacks pam_mfa, even where its rule is off.\n"
            )
        } else {
            format!(
                "Always-require is off for {user}: the service rules and group enforcement \
                 decide again.\n"
            )
        };
        emit(ctx.out, &line)?;
    }
    Ok(())
}
