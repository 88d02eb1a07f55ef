//! The subcommands, one file each. A command is prepared first (local checks, reading an
//! imported secret), so bad input fails fast with exit status 2 before the bus is touched,
//! then executed against mfad.

use std::io::Write;

use crate::cli::{
    Command, EnrollCommand, ListArgs, PolicyCommand, PolicyExplainArgs, PolicyGroupArgs,
    PolicyServiceArgs, RemoveArgs, RenameArgs, StatusArgs, UnlockArgs,
};
use crate::client::ManageApi;
use crate::error::CliError;
use crate::prompt::Prompter;
use crate::qr;

pub(crate) mod enroll;
mod list;
mod policy;
mod remove;
mod rename;
mod status;
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
}

/// A command whose local checks passed.
pub(crate) enum Job {
    /// `enroll totp`.
    EnrollTotp(enroll::Plan),
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
    /// `policy service`.
    PolicyService(PolicyServiceArgs),
    /// `policy group`.
    PolicyGroup(PolicyGroupArgs),
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
            Command::List(args) => Job::List(args),
            Command::Remove(args) => Job::Remove(args),
            Command::Rename(args) => Job::Rename(args),
            Command::Status(args) => Job::Status(args),
            Command::Unlock(args) => Job::Unlock(args),
            Command::Policy(PolicyCommand::Service(args)) => Job::PolicyService(args),
            Command::Policy(PolicyCommand::Group(args)) => Job::PolicyGroup(args),
            Command::Policy(PolicyCommand::Show) => Job::PolicyShow,
            Command::Policy(PolicyCommand::Explain(args)) => Job::PolicyExplain(args),
            Command::WhoAmI => Job::WhoAmI,
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
            Job::List(args) => list::run(api, args, ctx).await,
            Job::Remove(args) => remove::run(api, args, ctx).await,
            Job::Rename(args) => rename::run(api, args, ctx).await,
            Job::Status(args) => status::run(api, args, ctx).await,
            Job::Unlock(args) => unlock::run(api, args, ctx).await,
            Job::PolicyService(args) => policy::run_service(api, args, ctx).await,
            Job::PolicyGroup(args) => policy::run_group(api, args, ctx).await,
            Job::PolicyShow => policy::run_show(api, ctx).await,
            Job::PolicyExplain(args) => policy::run_explain(api, args, ctx).await,
            Job::WhoAmI => whoami::run(api, ctx).await,
        }
    }
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
