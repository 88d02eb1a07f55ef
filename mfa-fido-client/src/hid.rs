//! Real security keys over USB HID, through ctap-hid-fido2.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;
use std::time::Duration;

use ciborium::value::Value;
use ctap_hid_fido2::fidokey::{
    CredentialSupportedKeyType, GetAssertionArgsBuilder, MakeCredentialArgsBuilder,
};
use ctap_hid_fido2::{FidoKeyHid, LibCfg};

use crate::{
    Algorithm, Authenticator, ClientError, GetAssertionRequest, GetAssertionResponse,
    MakeCredentialRequest, MakeCredentialResponse, check_request,
};

/// A security key on USB HID (exactly one must be plugged in).
///
/// Two ways to run a call, because ctap-hid-fido2 has no timeout of its own (crate docs):
/// - [`HidAuthenticator::new`]: on the caller's thread. No thread is ever started, so
///   nothing outlives the call: the only mode for the PAM module (a thread left in sshd
///   would survive `pam_end` and make its later `fork` unsafe). The call is bounded by the
///   key's own user-presence timeout.
/// - [`HidAuthenticator::with_deadline`]: on a helper thread, waited for at most the
///   deadline. When it passes the call returns [`ClientError::Timeout`] and the thread is
///   left blocked in the device read until the key answers or is unplugged. For
///   long-lived processes or short-lived tools (mfactl, mfad), never inside the module.
#[derive(Debug, Clone, Default)]
pub struct HidAuthenticator {
    deadline: Option<Duration>,
}

impl HidAuthenticator {
    /// Calls run on the caller's thread (no threads started).
    pub fn new() -> Self {
        HidAuthenticator { deadline: None }
    }

    /// Calls run on a helper thread and give up after `deadline` (see the type docs).
    pub fn with_deadline(deadline: Duration) -> Self {
        HidAuthenticator {
            deadline: Some(deadline),
        }
    }

    /// How many FIDO keys (HID usage page 0xF1D0) are plugged in.
    pub fn device_count() -> Result<usize, ClientError> {
        guarded(|| Ok(ctap_hid_fido2::get_fidokey_devices().len()))
    }

    fn run<T: Send + 'static>(
        &self,
        op: impl FnOnce() -> Result<T, ClientError> + Send + 'static,
    ) -> Result<T, ClientError> {
        let Some(deadline) = self.deadline else {
            return guarded(op);
        };
        let (tx, rx) = mpsc::sync_channel(1);
        let handle = std::thread::Builder::new()
            .name("mfa-fido-hid".into())
            .spawn(move || {
                // The receiver may be gone after a timeout: nothing left to tell.
                let _ = tx.send(guarded(op));
            })
            .map_err(|e| ClientError::Device(format!("cannot start the device thread: {e}")))?;
        match rx.recv_timeout(deadline) {
            Ok(result) => {
                // It has sent its result, so it is finishing: joining does not block.
                let _ = handle.join();
                result
            }
            Err(mpsc::RecvTimeoutError::Timeout) => Err(ClientError::Timeout),
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(ClientError::Panicked),
        }
    }
}

impl Authenticator for HidAuthenticator {
    fn make_credential(
        &self,
        request: &MakeCredentialRequest,
    ) -> Result<MakeCredentialResponse, ClientError> {
        check_request(&request.rp_id, &request.challenge)?;
        let request = request.clone();
        self.run(move || {
            let device = open_device()?;
            let mut args = MakeCredentialArgsBuilder::new(&request.rp_id, &request.challenge);
            for alg in &request.algorithms {
                args = args.key_type(match alg {
                    Algorithm::Es256 => CredentialSupportedKeyType::Ecdsa256,
                    Algorithm::EdDsa => CredentialSupportedKeyType::Ed25519,
                });
            }
            for id in &request.exclude_credentials {
                args = args.exclude_authenticator(id);
            }
            // The builder asks for UV by default; keys without built-in UV refuse that, so
            // ask only when wanted, and send the PIN (which yields UV) when there is one.
            args = match (&request.pin, request.require_uv) {
                (Some(pin), _) => args.pin(pin),
                (None, true) => args,
                (None, false) => args.without_pin_and_uv(),
            };
            let attestation = device
                .make_credential_with_args(&args.build())
                .map_err(|e| map_error(&e.to_string()))?;
            Ok(MakeCredentialResponse {
                attestation_object: attestation_object(
                    &attestation.fmt,
                    attestation.attstmt_alg,
                    &attestation.attstmt_sig,
                    &attestation.attstmt_x5c,
                    &attestation.auth_data,
                ),
            })
        })
    }

    fn get_assertion(
        &self,
        request: &GetAssertionRequest,
    ) -> Result<GetAssertionResponse, ClientError> {
        check_request(&request.rp_id, &request.challenge)?;
        if request.allow_credentials.is_empty() {
            return Err(ClientError::InvalidRequest("empty allow list".into()));
        }
        let request = request.clone();
        self.run(move || {
            let device = open_device()?;
            let mut args = GetAssertionArgsBuilder::new(&request.rp_id, &request.challenge);
            for id in &request.allow_credentials {
                args = args.add_credential_id(id);
            }
            args = match (&request.pin, request.require_uv) {
                (Some(pin), _) => args.pin(pin),
                (None, true) => args,
                (None, false) => args.without_pin_and_uv(),
            };
            let mut assertions = device
                .get_assertion_with_args(&args.build())
                .map_err(|e| map_error(&e.to_string()))?;
            if assertions.is_empty() {
                return Err(ClientError::Device("the key returned no assertion".into()));
            }
            let assertion = assertions.swap_remove(0);
            // CTAP2 lets the key omit the credential when the allow list has one entry.
            let credential_id = match (
                assertion.credential_id.is_empty(),
                &*request.allow_credentials,
            ) {
                (true, [only]) => only.clone(),
                _ => assertion.credential_id,
            };
            Ok(GetAssertionResponse {
                credential_id,
                auth_data: assertion.auth_data,
                signature: assertion.signature,
            })
        })
    }
}

/// Runs `op`, turning a panic of the library into [`ClientError::Panicked`].
fn guarded<T>(op: impl FnOnce() -> Result<T, ClientError>) -> Result<T, ClientError> {
    // The closure owns its inputs and nothing it touched is used after a panic.
    catch_unwind(AssertUnwindSafe(op)).unwrap_or(Err(ClientError::Panicked))
}

/// The library settings: no traces, no keep-alive message (nothing printed to the terminal
/// of the person logging in, or to a daemon's stdout).
fn quiet_config() -> LibCfg {
    let mut cfg = LibCfg::init();
    cfg.enable_log = false;
    cfg.enable_keep_alive_msg = false;
    cfg.keep_alive_msg = String::new();
    cfg
}

/// Opens the only FIDO key plugged in.
fn open_device() -> Result<FidoKeyHid, ClientError> {
    let mut devices = ctap_hid_fido2::get_fidokey_devices();
    let device = match devices.len() {
        0 => return Err(ClientError::NoDevice),
        1 => devices.swap_remove(0),
        _ => return Err(ClientError::MultipleDevices),
    };
    // An enumerated key that cannot be opened (permissions, unplugged meanwhile) is as good
    // as absent for the person at the keyboard; the detail goes to the log via Device.
    FidoKeyHid::new(&[device.param], &quiet_config()).map_err(|e| {
        if e.to_string().contains("Failed to open device") {
            ClientError::NoDevice
        } else {
            ClientError::Device(e.to_string())
        }
    })
}

/// Rebuilds the attestation object from ctap-hid-fido2's parsed fields (it does not keep
/// the raw response). `authData`, the signed part, is the key's own bytes; the statement
/// members it keeps (`alg`, `sig`, `x5c`) are all that formats none, packed and fido-u2f
/// have. Canonical CBOR order.
pub(crate) fn attestation_object(
    fmt: &str,
    alg: i32,
    sig: &[u8],
    x5c: &[Vec<u8>],
    auth_data: &[u8],
) -> Vec<u8> {
    let mut stmt = Vec::new();
    if fmt != "none" {
        if alg != 0 {
            stmt.push((Value::Text("alg".into()), Value::Integer(alg.into())));
        }
        if !sig.is_empty() {
            stmt.push((Value::Text("sig".into()), Value::Bytes(sig.to_vec())));
        }
        if !x5c.is_empty() {
            let certs = x5c.iter().map(|c| Value::Bytes(c.clone())).collect();
            stmt.push((Value::Text("x5c".into()), Value::Array(certs)));
        }
    }
    let object = Value::Map(vec![
        (Value::Text("fmt".into()), Value::Text(fmt.into())),
        (Value::Text("attStmt".into()), Value::Map(stmt)),
        (
            Value::Text("authData".into()),
            Value::Bytes(auth_data.to_vec()),
        ),
    ]);
    let mut out = Vec::new();
    // Writing a Value into a Vec cannot fail (no I/O, only CBOR-representable types).
    ciborium::ser::into_writer(&object, &mut out).expect("CBOR encoding into a Vec");
    out
}

/// Maps a ctap-hid-fido2 error (anyhow text carrying the CTAP2 status name) to our type.
pub(crate) fn map_error(message: &str) -> ClientError {
    const TABLE: &[(&str, ClientError)] = &[
        ("CTAP2_ERR_NO_CREDENTIALS", ClientError::NoCredentials),
        ("CTAP2_ERR_INVALID_CREDENTIAL", ClientError::NoCredentials),
        (
            "CTAP2_ERR_CREDENTIAL_EXCLUDED",
            ClientError::CredentialExcluded,
        ),
        ("CTAP2_ERR_USER_ACTION_TIMEOUT", ClientError::Timeout),
        ("CTAP2_ERR_ACTION_TIMEOUT", ClientError::Timeout),
        ("CTAP1_ERR_TIMEOUT", ClientError::Timeout),
        ("CTAP2_ERR_PIN_INVALID", ClientError::PinInvalid),
        ("CTAP2_ERR_PIN_AUTH_INVALID", ClientError::PinInvalid),
        ("CTAP2_ERR_PIN_BLOCKED", ClientError::PinBlocked),
        ("CTAP2_ERR_PIN_AUTH_BLOCKED", ClientError::PinBlocked),
        ("CTAP2_ERR_PIN_NOT_SET", ClientError::PinNotSet),
        ("CTAP2_ERR_PIN_REQUIRED", ClientError::PinRequired),
        ("CTAP2_ERR_PUAT_REQUIRED", ClientError::PinRequired),
        (
            "CTAP2_ERR_UNSUPPORTED_OPTION",
            ClientError::UserVerificationUnavailable,
        ),
        (
            "CTAP2_ERR_INVALID_OPTION",
            ClientError::UserVerificationUnavailable,
        ),
        (
            "CTAP2_ERR_UV_BLOCKED",
            ClientError::UserVerificationUnavailable,
        ),
        (
            "CTAP2_ERR_UNSUPPORTED_ALGORITHM",
            ClientError::UnsupportedAlgorithm,
        ),
    ];
    TABLE
        .iter()
        .find(|(name, _)| message.contains(name))
        .map(|(_, error)| error.clone())
        .unwrap_or_else(|| ClientError::Device(message.chars().take(200).collect()))
}

#[cfg(test)]
mod tests;
