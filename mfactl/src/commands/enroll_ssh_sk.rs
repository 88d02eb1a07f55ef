//! `mfactl enroll ssh-sk [USER] --pubkey FILE`: records an SSH security key (sk- public key),
//! which counts as the second factor when sshd reports that exactly this key authenticated
//! the connection. mfad checks the key; for one's own account with a factor already
//! enrolled it wants a fresh second factor first (a step-up).

use std::io::Read;

use super::step_up::with_step_up;
use super::{Ctx, report_enrolled, resolve_user};
use crate::cli::EnrollSshSkArgs;
use crate::client::ManageApi;
use crate::error::CliError;

/// Largest public key file read (an sk key line is about 250 bytes).
const MAX_KEY_FILE: u64 = 16 * 1024;

/// `enroll ssh-sk` with its key line read.
#[derive(Debug)]
pub(crate) struct Plan {
    user: Option<String>,
    name: Option<String>,
    line: String,
}

/// Reads the key file (or standard input for `-`): the first line that is not empty or a
/// comment. mfad checks the rest.
pub(crate) fn plan(args: EnrollSshSkArgs) -> Result<Plan, CliError> {
    let shown = args.pubkey.display().to_string();
    let mut text = String::new();
    let read = if shown == "-" {
        std::io::stdin()
            .take(MAX_KEY_FILE)
            .read_to_string(&mut text)
    } else {
        std::fs::File::open(&args.pubkey)
            .and_then(|f| f.take(MAX_KEY_FILE).read_to_string(&mut text))
    };
    read.map_err(|e| CliError::Input(format!("--pubkey {shown}: {e}")))?;
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .ok_or_else(|| CliError::Input(format!("--pubkey {shown}: no public key in it")))?
        .to_owned();
    Ok(Plan {
        user: args.user,
        name: args.name,
        line,
    })
}

/// Enrolls the key and prints what was saved.
pub(crate) async fn run(
    api: &impl ManageApi,
    plan: Plan,
    ctx: &mut Ctx<'_>,
) -> Result<(), CliError> {
    let user = resolve_user(api, plan.user).await?;
    let name = plan.name.unwrap_or_default();
    let token = with_step_up(api, &user, ctx.prompter, ctx.key, || {
        api.enroll_ssh_sk(&user, &name, &plan.line)
    })
    .await?;
    report_enrolled(ctx, "SSH security key", &token, &user)
}
