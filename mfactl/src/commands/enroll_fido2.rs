//! `mfactl enroll fido2 [USER] [--name N] [--pin] [--uv]`: registers the security key plugged
//! into this host. mfad issues the challenge and verifies the key's attestation before
//! saving anything; mfactl only carries bytes between them (make_credential on the key).

use mfa_fido_client::{Algorithm, MakeCredentialRequest};

use super::security_key::ask_pin;
use super::step_up::with_step_up;
use super::{Ctx, report_enrolled, resolve_user};
use crate::cli::EnrollFido2Args;
use crate::client::ManageApi;
use crate::error::CliError;

/// Shown (terminal or standard error) when the key must be touched.
pub(crate) const TOUCH_NOW: &str = "Touch your security key now.\n";

/// Enrolls the key and prints what was saved.
pub(crate) async fn run(
    api: &impl ManageApi,
    args: EnrollFido2Args,
    ctx: &mut Ctx<'_>,
) -> Result<(), CliError> {
    let user = resolve_user(api, args.user).await?;
    let name = args.name.unwrap_or_default();
    // A PIN given now is a PIN asked at every login: the user chose PIN-protected use.
    let require_uv = args.pin || args.uv;
    let start = with_step_up(api, &user, ctx.prompter, ctx.key, || {
        api.begin_fido2_enrollment(&user, &name, require_uv)
    })
    .await?;
    let cancel = async |e: CliError| {
        // Best effort: the pending enrollment also expires by itself.
        let _ = api.cancel_enrollment(&start.enrollment).await;
        Err(CliError::Cancelled(Box::new(e)))
    };
    let pin = if args.pin {
        match ask_pin(ctx.prompter) {
            Ok(pin) => pin,
            Err(e) => return cancel(e).await,
        }
    } else {
        None
    };
    if let Err(e) = ctx.prompter.show(TOUCH_NOW) {
        return cancel(CliError::Input(format!(
            "cannot write to the terminal: {e}"
        )))
        .await;
    }
    let made = ctx.key.make_credential(&MakeCredentialRequest {
        rp_id: start.rp_id.clone(),
        challenge: start.challenge.clone(),
        algorithms: vec![Algorithm::Es256, Algorithm::EdDsa],
        exclude_credentials: start.exclude_credential_ids.clone(),
        pin,
        require_uv,
    });
    let attestation = match made {
        Ok(made) => made.attestation_object,
        Err(e) => return cancel(CliError::SecurityKey(e)).await,
    };
    let token = with_step_up(api, &user, ctx.prompter, ctx.key, || {
        api.finish_fido2_enrollment(&start.enrollment, &attestation)
    })
    .await?;
    report_enrolled(ctx, "Security key", &token, &user)
}

#[cfg(test)]
mod tests;
