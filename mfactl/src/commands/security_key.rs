//! What enrollment and step-ups share when a security key is used: the PIN question, the
//! touch cue, and which key answers.

use std::time::Duration;

use mfa_fido_client::Authenticator;
use zeroize::Zeroizing;

use crate::error::CliError;
use crate::output::one_line;
use crate::prompt::Prompter;

/// The question for the key's PIN (hidden; Enter alone lets a key with a built-in
/// biometric verify the user itself).
pub(crate) const PIN_PROMPT: &str = "Security key PIN: ";
/// How long mfactl waits for the key (a helper thread is fine in a short-lived tool): the
/// key's own touch timeout is about 30 s.
pub(crate) const KEY_DEADLINE: Duration = Duration::from_secs(60);

/// Asks the key's PIN; `None` for an empty answer.
pub(crate) fn ask_pin(prompter: &mut dyn Prompter) -> Result<Option<Zeroizing<String>>, CliError> {
    let pin = prompter
        .ask_hidden(PIN_PROMPT)
        .map_err(|e| CliError::Input(format!("cannot read the PIN: {e}; nothing was changed")))?
        .ok_or_else(|| {
            CliError::Input("no PIN was given (end of input); nothing was changed".into())
        })?;
    Ok((!pin.is_empty()).then_some(pin))
}

/// The daemon's cue as one line for the terminal.
pub(crate) fn touch_cue(cue: &str) -> String {
    format!("{}\n", one_line(cue))
}

/// The USB security key (one call at a time, each bounded by [`KEY_DEADLINE`]), or, in the
/// TEST-ONLY `soft-fido2` build with `--fido2-soft-key`, the software authenticator.
pub(crate) fn system_key(
    #[cfg(feature = "soft-fido2")] soft_key: Option<&std::path::Path>,
) -> Box<dyn Authenticator> {
    #[cfg(feature = "soft-fido2")]
    if let Some(path) = soft_key {
        return Box::new(mfa_fido_client::SoftAuthenticator::new(path));
    }
    Box::new(mfa_fido_client::HidAuthenticator::with_deadline(
        KEY_DEADLINE,
    ))
}
