//! The `fido2` step: the local security key signs the daemon's challenge.
//!
//! 1. `Fido2Request(flow)` gives the relying-party ID, the challenge, the user's credential
//!    IDs and whether user verification is required;
//! 2. when it is, the key's PIN is asked (echo off; Enter alone lets a key with a built-in
//!    biometric verify the user itself). The PIN goes to the key only, never to the daemon,
//!    and is wiped after use;
//! 3. the cue ("Touch your security key") is shown and get_assertion runs, in a child
//!    process of the module ([`crate::fork_key`]; no thread is started: nothing may outlive
//!    `pam_end`);
//! 4. the key's answer goes back with `AnswerFido2`; when there is none (no key, several
//!    keys, timeout, wrong key, PIN trouble) the user is told why and the daemon hears
//!    `Fido2Unavailable`: it offers the user's other methods, or denies.
//!
//! Device I/O has a deadline, `fido2_timeout=` (30 s by default): ctap-hid-fido2 offers
//! none and its reads block, so the key is driven from a forked child, which the module
//! kills and reaps when the deadline passes ([`mfa_fido_client::ClientError::NoAnswer`],
//! reason `no-answer`). The key itself also gives up waiting for a touch after about 30 s
//! (`CTAP2_ERR_USER_ACTION_TIMEOUT`), and the daemon's challenge expires, so a late answer
//! is refused anyway.

use mfa_fido_client::{Authenticator, ClientError, GetAssertionRequest, GetAssertionResponse};
use mfa_proto::{LoginFacts, MfaError, WireStep};

use super::{BadAnswer, ConvError, Daemon, Outcome, PamIo, daemon_failed};
use crate::log::{MAX_TEXT_CHARS, escape};

/// The prompt for the security key's PIN.
pub const PIN_PROMPT: &str = "Security key PIN: ";
/// PIN attempts within one step before giving up (the key counts its own, and blocks
/// after 8 in a row).
pub const MAX_PIN_TRIES: usize = 3;
/// Longest PIN a key accepts (CTAP 2.1: 63 bytes of UTF-8).
pub const MAX_PIN_LEN: usize = 63;
/// Shown when a typed PIN cannot be a PIN (never sent to the key).
pub const PIN_TOO_LONG_MESSAGE: &str = "A security key PIN has at most 63 bytes.";

/// What the daemon asks the key to sign (`Fido2Request`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fido2Request {
    /// The relying-party ID.
    pub rp_id: String,
    /// The challenge (the key signs its SHA-256).
    pub challenge: Vec<u8>,
    /// The user's credential IDs.
    pub credential_ids: Vec<Vec<u8>>,
    /// Whether user verification (PIN or built-in) is required.
    pub user_verification: bool,
}

impl From<(String, Vec<u8>, Vec<Vec<u8>>, bool)> for Fido2Request {
    fn from(
        (rp_id, challenge, credential_ids, user_verification): (
            String,
            Vec<u8>,
            Vec<Vec<u8>>,
            bool,
        ),
    ) -> Self {
        Fido2Request {
            rp_id,
            challenge,
            credential_ids,
            user_verification,
        }
    }
}

/// Runs the `fido2` step of `flow` and returns the daemon's next step, or how the login
/// ended when it cannot go on.
pub(super) async fn run_step<I: PamIo, D: Daemon>(
    facts: &LoginFacts,
    io: &mut I,
    daemon: &mut D,
    key: &dyn Authenticator,
    flow: &str,
    cue: &str,
) -> Result<WireStep, Outcome> {
    let request = match daemon.fido2_request(flow).await {
        Ok(request) => request,
        Err(error) => return Err(daemon_failed(facts, io, error)),
    };
    let mut tries = 0;
    let result = loop {
        let pin = if request.user_verification {
            match io.prompt(PIN_PROMPT, false) {
                Ok(pin) if pin.is_empty() => None,
                Ok(pin) if pin.len() > MAX_PIN_LEN => {
                    drop(pin);
                    io.error(PIN_TOO_LONG_MESSAGE);
                    tries += 1;
                    if tries < MAX_PIN_TRIES {
                        continue;
                    }
                    break Err(ClientError::PinInvalid);
                }
                Ok(pin) => Some(pin),
                Err(ConvError::NotUtf8) => {
                    daemon.cancel(flow).await;
                    return Err(Outcome::BadAnswer {
                        why: BadAnswer::NotUtf8,
                    });
                }
                Err(error) => {
                    daemon.cancel(flow).await;
                    return Err(Outcome::Conversation { error });
                }
            }
        } else {
            None
        };
        io.info(cue);
        let result = key.get_assertion(&GetAssertionRequest {
            rp_id: request.rp_id.clone(),
            challenge: request.challenge.clone(),
            allow_credentials: request.credential_ids.clone(),
            pin,
            require_uv: request.user_verification,
        });
        match result {
            Err(ClientError::PinInvalid) if tries + 1 < MAX_PIN_TRIES => {
                tries += 1;
                io.error(&ClientError::PinInvalid.to_string());
            }
            other => break other,
        }
    };
    let next = match result {
        Ok(GetAssertionResponse {
            credential_id,
            auth_data,
            signature,
        }) => {
            daemon
                .answer_fido2(flow, &credential_id, &auth_data, &signature)
                .await
        }
        Err(error) => {
            io.error(&escape(&error.to_string(), MAX_TEXT_CHARS));
            daemon.fido2_unavailable(flow, error.code()).await
        }
    };
    next.map_err(|error: MfaError| daemon_failed(facts, io, error))
}

#[cfg(test)]
mod tests;
