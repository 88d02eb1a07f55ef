//! `mfactl policy service SERVICE MODE` and `mfactl policy show`: which PAM services ask for
//! a second factor. Changing a rule is for administrators only; mfad decides.

use super::Ctx;
use crate::cli::{PolicyMode, PolicyServiceArgs};
use crate::client::ManageApi;
use crate::error::CliError;
use crate::output::{PolicyList, PolicyReport, emit, emit_json, one_line, policy_table};

/// Sets (or, with `unset`, removes) the rule for `SERVICE`.
pub(crate) async fn run_service(
    api: &impl ManageApi,
    args: PolicyServiceArgs,
    ctx: &mut Ctx<'_>,
) -> Result<(), CliError> {
    let mode = args.mode.as_str();
    api.set_service_policy(&args.service, mode).await?;
    if ctx.json {
        emit_json(
            ctx.out,
            &PolicyReport {
                service: &args.service,
                mode,
            },
        )?;
    } else {
        let what = match args.mode {
            PolicyMode::Unset => "rule removed",
            _ => mode,
        };
        let line = format!("Service {}: {what}.\n", one_line(&args.service));
        emit(ctx.out, &line)?;
    }
    Ok(())
}

/// Shows the rules and the built-in default.
pub(crate) async fn run_show(api: &impl ManageApi, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    let policies = api.service_policies().await?;
    if ctx.json {
        emit_json(
            ctx.out,
            &PolicyList {
                services: &policies,
            },
        )?;
    } else {
        emit(ctx.out, &policy_table(&policies))?;
    }
    Ok(())
}
