//! `mfactl policy service SERVICE MODE`, `mfactl policy group GROUP ACTION`, `mfactl policy
//! show` and `mfactl policy explain USER SERVICE`: which PAM services ask for a second factor,
//! and which groups' members must use one. Changing a rule is for administrators only; mfad
//! decides.

use super::Ctx;
use crate::cli::{PolicyExplainArgs, PolicyGroupArgs, PolicyMode, PolicyServiceArgs};
use crate::client::ManageApi;
use crate::error::CliError;
use crate::output::{
    ExplanationReport, GroupReport, PolicyList, PolicyReport, emit, emit_json,
    enforced_groups_line, explanation_text, one_line, policy_table,
};

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

/// Enforces (or stops enforcing) MFA for the members of `GROUP`.
pub(crate) async fn run_group(
    api: &impl ManageApi,
    args: PolicyGroupArgs,
    ctx: &mut Ctx<'_>,
) -> Result<(), CliError> {
    let enforce = args.action.enforce();
    api.set_group_enforcement(&args.group, enforce).await?;
    if ctx.json {
        emit_json(
            ctx.out,
            &GroupReport {
                group: &args.group,
                enforced: enforce,
            },
        )?;
    } else {
        let what = if enforce {
            "MFA enforced for its members"
        } else {
            "no longer enforced"
        };
        let line = format!("Group {}: {what}.\n", one_line(&args.group));
        emit(ctx.out, &line)?;
    }
    Ok(())
}

/// Shows the rules, the built-in default and the enforced groups.
pub(crate) async fn run_show(api: &impl ManageApi, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    let policies = api.service_policies().await?;
    let groups = api.enforced_groups().await?;
    if ctx.json {
        emit_json(
            ctx.out,
            &PolicyList {
                services: &policies,
                enforced_groups: &groups,
            },
        )?;
    } else {
        let mut text = policy_table(&policies);
        text.push_str(&enforced_groups_line(&groups));
        emit(ctx.out, &text)?;
    }
    Ok(())
}

/// Shows what pam_mfa would decide for `USER` logging in to `SERVICE`, and why.
pub(crate) async fn run_explain(
    api: &impl ManageApi,
    args: PolicyExplainArgs,
    ctx: &mut Ctx<'_>,
) -> Result<(), CliError> {
    let explanation = api.explain(&args.user, &args.service).await?;
    if ctx.json {
        emit_json(
            ctx.out,
            &ExplanationReport {
                user: &args.user,
                service: &args.service,
                decision: &explanation.decision,
                reasons: &explanation.reasons,
            },
        )?;
    } else {
        let text = explanation_text(&args.user, &args.service, &explanation);
        emit(ctx.out, &text)?;
    }
    Ok(())
}
