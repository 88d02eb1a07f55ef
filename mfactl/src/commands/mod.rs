//! The subcommands, one file each. A command is prepared first (local checks, reading an
//! imported secret), so bad input fails fast with exit status 2 before the bus is touched,
//! then executed against mfad.

use std::io::Write;

use crate::cli::{
    AlwaysRequireArgs, Command, EnrollCommand, EnrollFido2Args, ListArgs, LockArgs,
    PolicyAllowArgs, PolicyAlwaysRequireCommand, PolicyCommand, PolicyExplainArgs, PolicyGroupArgs,
    PolicyMode, PolicyServiceArgs, RecoveryCommand, RecoveryGenerateArgs, RemoveArgs, RenameArgs,
    StatusArgs, UnlockArgs,
};
use crate::client::ManageApi;
use crate::deadline::{now, parse_deadline};
use crate::error::CliError;
use crate::prompt::Prompter;
use crate::qr;

mod always_require;
pub(crate) mod doctor;
pub(crate) mod enroll;
mod enroll_code;
mod enroll_fido2;
mod enroll_ssh_sk;
mod list;
mod lock;
mod policy;
mod recovery;
mod remove;
mod rename;
pub(crate) mod security_key;
mod status;
mod step_up;
mod unlock;
mod whoami;

#[cfg(test)]
mod fake;

/// What a command may use besides the daemon.
pub(crate) struct Ctx<'a> {
    /// `--json`: one JSON value on `out`, nothing else there.
    pub json: bool,
    /// Standard output.
    pub out: &'a mut dyn Write,
    /// The person answering questions (terminal or standard input).
    pub prompter: &'a mut dyn Prompter,
    /// How to draw QR codes; `None` when `out` is not a terminal or with `--json`.
    pub qr: Option<qr::Style>,
    /// The security key for `enroll fido2` and for step-ups answered with a key.
    pub key: &'a dyn mfa_fido_client::Authenticator,
}

/// A command whose local checks passed.
pub(crate) enum Job {
    /// `enroll totp`.
    EnrollTotp(enroll::Plan),
    /// `enroll ssh-sk`, its key file read.
    EnrollSshSk(enroll_ssh_sk::Plan),
    /// `enroll fido2`.
    EnrollFido2(EnrollFido2Args),
    /// `enroll email` or `enroll sms`.
    EnrollCode(enroll_code::Plan),
    /// `list`.
    List(ListArgs),
    /// `remove`.
    Remove(RemoveArgs),
    /// `rename`.
    Rename(RenameArgs),
    /// `status`.
    Status(StatusArgs),
    /// `unlock`.
    Unlock(UnlockArgs),
    /// `lock`.
    Lock(LockArgs),
    /// `always-require`.
    AlwaysRequire(AlwaysRequireArgs),
    /// `recovery generate`.
    RecoveryGenerate(RecoveryGenerateArgs),
    /// `policy service`, its methods checked and deduplicated.
    PolicyService(PolicyServiceArgs),
    /// `policy group`.
    PolicyGroup(PolicyGroupArgs),
    /// `policy always-require allow`.
    PolicyAllow(PolicyAllowArgs),
    /// `policy grace`, its deadline read.
    PolicyGrace(policy::Grace),
    /// `policy show`.
    PolicyShow,
    /// `policy explain`.
    PolicyExplain(PolicyExplainArgs),
    /// `whoami`.
    WhoAmI,
}

impl Job {
    /// Checks what can be checked without mfad, and reads `--secret -`.
    pub(crate) fn prepare(command: Command, prompter: &mut dyn Prompter) -> Result<Job, CliError> {
        Ok(match command {
            Command::Enroll(EnrollCommand::Totp(args)) => {
                Job::EnrollTotp(enroll::plan(args, prompter)?)
            }
            Command::Enroll(EnrollCommand::SshSk(args)) => {
                Job::EnrollSshSk(enroll_ssh_sk::plan(args)?)
            }
            Command::Enroll(EnrollCommand::Fido2(args)) => Job::EnrollFido2(args),
            Command::Enroll(EnrollCommand::Email(args)) => Job::EnrollCode(args.into()),
            Command::Enroll(EnrollCommand::Sms(args)) => Job::EnrollCode(args.into()),
            Command::List(args) => Job::List(args),
            Command::Remove(args) => Job::Remove(args),
            Command::Rename(args) => Job::Rename(args),
            Command::Status(args) => Job::Status(args),
            Command::Unlock(args) => Job::Unlock(args),
            Command::Lock(args) => Job::Lock(args),
            Command::AlwaysRequire(args) => Job::AlwaysRequire(args),
            Command::Recovery(RecoveryCommand::Generate(args)) => Job::RecoveryGenerate(args),
            Command::Policy(PolicyCommand::Service(args)) => {
                Job::PolicyService(plan_service(args)?)
            }
            Command::Policy(PolicyCommand::Group(args)) => Job::PolicyGroup(args),
            Command::Policy(PolicyCommand::AlwaysRequire(PolicyAlwaysRequireCommand::Allow(
                args,
            ))) => Job::PolicyAllow(args),
            Command::Policy(PolicyCommand::Grace(args)) => {
                let until = parse_deadline(&args.until, now())
                    .map_err(|e| CliError::Usage(format!("UNTIL: {e}")))?;
                Job::PolicyGrace(policy::Grace {
                    subject: args.subject,
                    until,
                })
            }
            Command::Policy(PolicyCommand::Show) => Job::PolicyShow,
            Command::Policy(PolicyCommand::Explain(args)) => Job::PolicyExplain(args),
            Command::WhoAmI => Job::WhoAmI,
            // doctor runs without a daemon connection of its own: `crate::run` calls
            // `doctor::run` before any Job is prepared.
            Command::Doctor(_) => {
                return Err(CliError::Doctor(
                    "doctor is not a daemon request; run it with `mfactl doctor`".into(),
                ));
            }
        })
    }

    /// Runs the command against mfad.
    pub(crate) async fn execute(
        self,
        api: &impl ManageApi,
        ctx: &mut Ctx<'_>,
    ) -> Result<(), CliError> {
        match self {
            Job::EnrollTotp(plan) => enroll::run(api, plan, ctx).await,
            Job::EnrollSshSk(plan) => enroll_ssh_sk::run(api, plan, ctx).await,
            Job::EnrollFido2(args) => enroll_fido2::run(api, args, ctx).await,
            Job::EnrollCode(plan) => enroll_code::run(api, plan, ctx).await,
            Job::List(args) => list::run(api, args, ctx).await,
            Job::Remove(args) => remove::run(api, args, ctx).await,
            Job::Rename(args) => rename::run(api, args, ctx).await,
            Job::Status(args) => status::run(api, args, ctx).await,
            Job::Unlock(args) => unlock::run(api, args, ctx).await,
            Job::Lock(args) => lock::run(api, args, ctx).await,
            Job::AlwaysRequire(args) => always_require::run(api, args, ctx).await,
            Job::RecoveryGenerate(args) => recovery::run_generate(api, args, ctx).await,
            Job::PolicyService(args) => policy::run_service(api, args, ctx).await,
            Job::PolicyGroup(args) => policy::run_group(api, args, ctx).await,
            Job::PolicyAllow(args) => policy::run_allow(api, args, ctx).await,
            Job::PolicyGrace(grace) => policy::run_grace(api, grace, ctx).await,
            Job::PolicyShow => policy::run_show(api, ctx).await,
            Job::PolicyExplain(args) => policy::run_explain(api, args, ctx).await,
            Job::WhoAmI => whoami::run(api, ctx).await,
        }
    }
}

/// Drops empty and repeated `--methods` (empty stands for every method, as no `--methods`
/// does), and refuses methods with `unset`, which removes the rule.
fn plan_service(mut args: PolicyServiceArgs) -> Result<PolicyServiceArgs, CliError> {
    let mut methods: Vec<String> = Vec::with_capacity(args.methods.len());
    for method in args.methods.drain(..) {
        if !method.is_empty() && !methods.contains(&method) {
            methods.push(method);
        }
    }
    if args.mode == PolicyMode::Unset && !methods.is_empty() {
        return Err(CliError::Usage(
            "--methods cannot be given with unset: the rule is removed, and the service \
             follows '*' (or the built-in default) with its methods"
                .into(),
        ));
    }
    args.methods = methods;
    Ok(args)
}

/// Prints a token just enrolled: as JSON, or `WHAT ID (NAME, DETAIL) enrolled for USER.`
fn report_enrolled(
    ctx: &mut Ctx<'_>,
    what: &str,
    token: &mfa_proto::TokenInfo,
    user: &str,
) -> Result<(), CliError> {
    if ctx.json {
        crate::output::emit_json(ctx.out, token)?;
    } else {
        use crate::output::one_line;
        crate::output::emit(
            ctx.out,
            &format!(
                "{what} {} ({}, {}) enrolled for {}.\n",
                one_line(&token.id),
                one_line(&token.name),
                one_line(&token.detail),
                one_line(user)
            ),
        )?;
    }
    Ok(())
}

/// The user named on the command line, else the caller as mfad sees it (self-service).
async fn resolve_user(api: &impl ManageApi, given: Option<String>) -> Result<String, CliError> {
    if let Some(user) = given {
        return Ok(user);
    }
    let me = api.who_am_i().await?;
    if me.user.is_empty() {
        return Err(CliError::Input(format!(
            "mfad knows no user name for your uid {}; name the user explicitly",
            me.uid
        )));
    }
    Ok(me.user)
}

#[cfg(test)]
mod tests;
