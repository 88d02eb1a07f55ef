//! `mfactl policy …`: which PAM services ask for a second factor and with which methods,
//! which groups' members must use one, who may turn always-require on, and the enrollment
//! deadlines; and `policy explain USER SERVICE`. Changing any of it is for administrators
//! only; mfad decides.

use super::Ctx;
use crate::cli::{
    PolicyAllowArgs, PolicyExplainArgs, PolicyGroupArgs, PolicyMode, PolicyServiceArgs,
};
use crate::client::ManageApi;
use crate::deadline::{now, rfc3339};
use crate::error::CliError;
use crate::output::{
    AllowReport, ExplanationReport, GraceReport, GroupReport, PolicyReport,
    always_require_allow_line, emit, emit_json, explanation_text, one_line, policy_overview_text,
};

/// The methods as mfad wants them: lower case, empty values dropped (`--methods ''` means
/// every method), each name once, in the order first given.
fn normalized_methods(given: &[String]) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for m in given.iter().map(|m| m.trim()).filter(|m| !m.is_empty()) {
        if !out.iter().any(|seen| seen.eq_ignore_ascii_case(m)) {
            out.push(m);
        }
    }
    out
}

/// Sets (or, with `unset`, removes) the rule for `SERVICE`, with the methods allowed there.
pub(crate) async fn run_service(
    api: &impl ManageApi,
    args: PolicyServiceArgs,
    ctx: &mut Ctx<'_>,
) -> Result<(), CliError> {
    let mode = args.mode.as_str();
    let methods = normalized_methods(&args.methods);
    if matches!(args.mode, PolicyMode::Unset) && !methods.is_empty() {
        return Err(CliError::Usage(
            "--methods cannot be given with unset (removing a rule removes its methods)".into(),
        ));
    }
    api.set_service_policy(&args.service, mode, &methods)
        .await?;
    if ctx.json {
        emit_json(
            ctx.out,
            &PolicyReport {
                service: &args.service,
                mode,
                methods: &methods,
            },
        )?;
    } else {
        let what = match args.mode {
            PolicyMode::Unset => "rule removed".to_owned(),
            _ if methods.is_empty() => mode.to_owned(),
            _ => format!("{mode} (methods: {})", methods.join(", ")),
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

/// Sets who may turn always-require on for themselves.
pub(crate) async fn run_allow(
    api: &impl ManageApi,
    args: PolicyAllowArgs,
    ctx: &mut Ctx<'_>,
) -> Result<(), CliError> {
    api.set_always_require_permission(&args.who).await?;
    if ctx.json {
        emit_json(
            ctx.out,
            &AllowReport {
                always_require_allow: &args.who,
            },
        )?;
    } else {
        emit(ctx.out, &always_require_allow_line(&args.who))?;
    }
    Ok(())
}

/// A grace deadline whose `UNTIL` was read (0: remove it).
#[derive(Debug)]
pub(crate) struct Grace {
    /// A user name, or `group:NAME`.
    pub subject: String,
    /// Unix time; 0 removes the deadline.
    pub until: i64,
}

/// Sets (or removes) the enrollment deadline of a user or a group.
pub(crate) async fn run_grace(
    api: &impl ManageApi,
    grace: Grace,
    ctx: &mut Ctx<'_>,
) -> Result<(), CliError> {
    api.set_grace(&grace.subject, grace.until).await?;
    let deadline = (grace.until != 0).then(|| rfc3339(grace.until));
    if ctx.json {
        emit_json(
            ctx.out,
            &GraceReport {
                subject: &grace.subject,
                until: grace.until,
                deadline,
            },
        )?;
    } else {
        let who = match grace.subject.strip_prefix("group:") {
            Some(group) => format!("the members of group {}", one_line(group)),
            None => one_line(&grace.subject).into_owned(),
        };
        let line = match deadline {
            None => format!("Enrollment deadline for {who} removed.\n"),
            Some(deadline) => format!(
                "Enrollment deadline for {who}: {deadline}. Until then, a login that needs MFA \
                 without a usable method enrolled is let in with a warning.\n"
            ),
        };
        emit(ctx.out, &line)?;
    }
    Ok(())
}

/// Shows the rules, the built-in default, the enforced groups, the always-require permission
/// and the enrollment deadlines.
pub(crate) async fn run_show(api: &impl ManageApi, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    let policy = api.policy().await?;
    if ctx.json {
        emit_json(ctx.out, &policy)?;
    } else {
        emit(ctx.out, &policy_overview_text(&policy, now()))?;
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
