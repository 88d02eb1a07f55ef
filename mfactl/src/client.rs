//! The connection to mfad, and the one seam the commands are tested through.

use std::time::Duration;

use zbus::proxy::CacheProperties;
use zbus::{Address, Connection};

use mfa_proto::{
    CodeEnrollmentStart, EnrollmentStart, Fido2EnrollmentStart, ManageProxy, MfaError,
    PolicyExplanation, PolicyOverview, TokenInfo, TotpEnrollOptions, UserStatus, WhoAmI, WireStep,
};

/// What `StepUpFido2Request` answers: RP ID, challenge, credential IDs, UV required.
pub(crate) type Fido2Request = (String, Vec<u8>, Vec<Vec<u8>>, bool);

use crate::error::{CliError, from_zbus};

/// How long to wait for mfad's answer to one call: libdbus's default reply timeout. A person
/// typing a code is not inside a call, so this never cuts an enrollment short.
pub(crate) const METHOD_TIMEOUT: Duration = Duration::from_secs(25);

/// The bus to use: `--bus-address`, else `DBUS_SYSTEM_BUS_ADDRESS`, else the system bus.
///
/// The environment is fine here, unlike in the PAM module: mfactl acts with its caller's own
/// rights, and mfad authorises every call by the caller's UID as the bus reports it.
pub(crate) fn bus_address(given: Option<&str>) -> Result<Address, CliError> {
    match given {
        Some(text) => text
            .parse()
            .map_err(|e| CliError::Usage(format!("invalid --bus-address {text:?}: {e}"))),
        None => Address::system()
            .map_err(|e| CliError::Usage(format!("invalid DBUS_SYSTEM_BUS_ADDRESS: {e}"))),
    }
}

/// Connects to the bus at `address` and makes a proxy for mfad's `Manage1` interface.
pub(crate) async fn connect(
    address: &Address,
) -> Result<(Connection, ManageProxy<'static>), CliError> {
    let shown = address.to_string();
    let connection = zbus::connection::Builder::address(address.clone())
        .method_timeout(METHOD_TIMEOUT)
        .build()
        .await
        .map_err(|e| from_zbus(e, &shown))?;
    // No property cache: the interface has no properties, and a cache would subscribe to
    // signals that nobody reads while the person types.
    let proxy = ManageProxy::builder(&connection)
        .cache_properties(CacheProperties::No)
        .build()
        .await
        .map_err(|e| from_zbus(e, &shown))?;
    Ok((connection, proxy))
}

/// The daemon calls mfactl makes: the D-Bus proxy in production, a scripted fake in tests.
pub(crate) trait ManageApi {
    /// `WhoAmI`.
    async fn who_am_i(&self) -> Result<WhoAmI, MfaError>;
    /// `BeginTotpEnrollment`.
    async fn begin_totp_enrollment(
        &self,
        user: &str,
        options: &TotpEnrollOptions,
    ) -> Result<EnrollmentStart, MfaError>;
    /// `ConfirmTotpEnrollment`.
    async fn confirm_totp_enrollment(
        &self,
        enrollment: &str,
        code: &str,
    ) -> Result<TokenInfo, MfaError>;
    /// `CancelEnrollment`.
    async fn cancel_enrollment(&self, enrollment: &str) -> Result<(), MfaError>;
    /// `BeginCodeEnrollment`: sends a code to the address (may take as long as the mail
    /// server or gateway does, within mfad's send timeout).
    async fn begin_code_enrollment(
        &self,
        user: &str,
        method: &str,
        address: &str,
        name: &str,
    ) -> Result<CodeEnrollmentStart, MfaError>;
    /// `ConfirmCodeEnrollment`.
    async fn confirm_code_enrollment(
        &self,
        enrollment: &str,
        code: &str,
    ) -> Result<TokenInfo, MfaError>;
    /// `EnrollVerifiedAddress`.
    async fn enroll_verified_address(
        &self,
        user: &str,
        method: &str,
        address: &str,
        name: &str,
    ) -> Result<TokenInfo, MfaError>;
    /// `ListTokens`.
    async fn list_tokens(&self, user: &str) -> Result<Vec<TokenInfo>, MfaError>;
    /// `RemoveToken`.
    async fn remove_token(&self, user: &str, token: &str) -> Result<(), MfaError>;
    /// `RenameToken`.
    async fn rename_token(
        &self,
        user: &str,
        token: &str,
        new_name: &str,
    ) -> Result<TokenInfo, MfaError>;
    /// `Status`.
    async fn status(&self, user: &str) -> Result<UserStatus, MfaError>;
    /// `Unlock`.
    async fn unlock(&self, user: &str) -> Result<(), MfaError>;
    /// `Lock`.
    async fn lock(&self, user: &str, reason: &str) -> Result<(), MfaError>;
    /// `SetServicePolicy`.
    async fn set_service_policy(
        &self,
        service: &str,
        mode: &str,
        methods: &[&str],
    ) -> Result<(), MfaError>;
    /// `Policy`.
    async fn policy(&self) -> Result<PolicyOverview, MfaError>;
    /// `SetGroupEnforcement`.
    async fn set_group_enforcement(&self, group: &str, enforce: bool) -> Result<(), MfaError>;
    /// `SetAlwaysRequirePermission`.
    async fn set_always_require_permission(&self, allow: &str) -> Result<(), MfaError>;
    /// `SetAlwaysRequire`.
    async fn set_always_require(&self, user: &str, on: bool) -> Result<(), MfaError>;
    /// `SetGrace`.
    async fn set_grace(&self, subject: &str, until: i64) -> Result<(), MfaError>;
    /// `GenerateRecoveryCodes`.
    async fn generate_recovery_codes(&self, user: &str) -> Result<Vec<String>, MfaError>;
    /// `RecoveryCodesLeft`.
    async fn recovery_codes_left(&self, user: &str) -> Result<u32, MfaError>;
    /// `EnrollSshSk`.
    async fn enroll_ssh_sk(
        &self,
        user: &str,
        name: &str,
        public_key: &str,
    ) -> Result<TokenInfo, MfaError>;
    /// `BeginFido2Enrollment`.
    async fn begin_fido2_enrollment(
        &self,
        user: &str,
        name: &str,
        require_uv: bool,
    ) -> Result<Fido2EnrollmentStart, MfaError>;
    /// `FinishFido2Enrollment`.
    async fn finish_fido2_enrollment(
        &self,
        enrollment: &str,
        attestation_object: &[u8],
    ) -> Result<TokenInfo, MfaError>;
    /// `StepUpFido2Request`.
    async fn step_up_fido2_request(&self, flow: &str) -> Result<Fido2Request, MfaError>;
    /// `AnswerStepUpFido2`.
    async fn answer_step_up_fido2(
        &self,
        flow: &str,
        credential_id: &[u8],
        authenticator_data: &[u8],
        signature: &[u8],
    ) -> Result<WireStep, MfaError>;
    /// `StepUpFido2Unavailable`.
    async fn step_up_fido2_unavailable(
        &self,
        flow: &str,
        reason: &str,
    ) -> Result<WireStep, MfaError>;
    /// `BeginStepUp`.
    async fn begin_step_up(&self, user: &str) -> Result<WireStep, MfaError>;
    /// `AnswerStepUp`.
    async fn answer_step_up(&self, flow: &str, answer: &str) -> Result<WireStep, MfaError>;
    /// `Explain`.
    async fn explain(&self, user: &str, service: &str) -> Result<PolicyExplanation, MfaError>;
}

impl ManageApi for ManageProxy<'_> {
    async fn who_am_i(&self) -> Result<WhoAmI, MfaError> {
        ManageProxy::who_am_i(self).await
    }

    async fn begin_totp_enrollment(
        &self,
        user: &str,
        options: &TotpEnrollOptions,
    ) -> Result<EnrollmentStart, MfaError> {
        ManageProxy::begin_totp_enrollment(self, user, options).await
    }

    async fn confirm_totp_enrollment(
        &self,
        enrollment: &str,
        code: &str,
    ) -> Result<TokenInfo, MfaError> {
        ManageProxy::confirm_totp_enrollment(self, enrollment, code).await
    }

    async fn cancel_enrollment(&self, enrollment: &str) -> Result<(), MfaError> {
        ManageProxy::cancel_enrollment(self, enrollment).await
    }

    async fn begin_code_enrollment(
        &self,
        user: &str,
        method: &str,
        address: &str,
        name: &str,
    ) -> Result<CodeEnrollmentStart, MfaError> {
        ManageProxy::begin_code_enrollment(self, user, method, address, name).await
    }

    async fn confirm_code_enrollment(
        &self,
        enrollment: &str,
        code: &str,
    ) -> Result<TokenInfo, MfaError> {
        ManageProxy::confirm_code_enrollment(self, enrollment, code).await
    }

    async fn enroll_verified_address(
        &self,
        user: &str,
        method: &str,
        address: &str,
        name: &str,
    ) -> Result<TokenInfo, MfaError> {
        ManageProxy::enroll_verified_address(self, user, method, address, name).await
    }

    async fn list_tokens(&self, user: &str) -> Result<Vec<TokenInfo>, MfaError> {
        ManageProxy::list_tokens(self, user).await
    }

    async fn remove_token(&self, user: &str, token: &str) -> Result<(), MfaError> {
        ManageProxy::remove_token(self, user, token).await
    }

    async fn rename_token(
        &self,
        user: &str,
        token: &str,
        new_name: &str,
    ) -> Result<TokenInfo, MfaError> {
        ManageProxy::rename_token(self, user, token, new_name).await
    }

    async fn status(&self, user: &str) -> Result<UserStatus, MfaError> {
        ManageProxy::status(self, user).await
    }

    async fn unlock(&self, user: &str) -> Result<(), MfaError> {
        ManageProxy::unlock(self, user).await
    }

    async fn lock(&self, user: &str, reason: &str) -> Result<(), MfaError> {
        ManageProxy::lock(self, user, reason).await
    }

    async fn set_service_policy(
        &self,
        service: &str,
        mode: &str,
        methods: &[&str],
    ) -> Result<(), MfaError> {
        ManageProxy::set_service_policy(self, service, mode, methods).await
    }

    async fn policy(&self) -> Result<PolicyOverview, MfaError> {
        ManageProxy::policy(self).await
    }

    async fn set_group_enforcement(&self, group: &str, enforce: bool) -> Result<(), MfaError> {
        ManageProxy::set_group_enforcement(self, group, enforce).await
    }

    async fn set_always_require_permission(&self, allow: &str) -> Result<(), MfaError> {
        ManageProxy::set_always_require_permission(self, allow).await
    }

    async fn set_always_require(&self, user: &str, on: bool) -> Result<(), MfaError> {
        ManageProxy::set_always_require(self, user, on).await
    }

    async fn set_grace(&self, subject: &str, until: i64) -> Result<(), MfaError> {
        ManageProxy::set_grace(self, subject, until).await
    }

    async fn generate_recovery_codes(&self, user: &str) -> Result<Vec<String>, MfaError> {
        ManageProxy::generate_recovery_codes(self, user).await
    }

    async fn recovery_codes_left(&self, user: &str) -> Result<u32, MfaError> {
        ManageProxy::recovery_codes_left(self, user).await
    }

    async fn enroll_ssh_sk(
        &self,
        user: &str,
        name: &str,
        public_key: &str,
    ) -> Result<TokenInfo, MfaError> {
        ManageProxy::enroll_ssh_sk(self, user, name, public_key).await
    }

    async fn begin_fido2_enrollment(
        &self,
        user: &str,
        name: &str,
        require_uv: bool,
    ) -> Result<Fido2EnrollmentStart, MfaError> {
        ManageProxy::begin_fido2_enrollment(self, user, name, require_uv).await
    }

    async fn finish_fido2_enrollment(
        &self,
        enrollment: &str,
        attestation_object: &[u8],
    ) -> Result<TokenInfo, MfaError> {
        ManageProxy::finish_fido2_enrollment(self, enrollment, attestation_object).await
    }

    async fn step_up_fido2_request(&self, flow: &str) -> Result<Fido2Request, MfaError> {
        ManageProxy::step_up_fido2_request(self, flow).await
    }

    async fn answer_step_up_fido2(
        &self,
        flow: &str,
        credential_id: &[u8],
        authenticator_data: &[u8],
        signature: &[u8],
    ) -> Result<WireStep, MfaError> {
        ManageProxy::answer_step_up_fido2(self, flow, credential_id, authenticator_data, signature)
            .await
    }

    async fn step_up_fido2_unavailable(
        &self,
        flow: &str,
        reason: &str,
    ) -> Result<WireStep, MfaError> {
        ManageProxy::step_up_fido2_unavailable(self, flow, reason).await
    }

    async fn begin_step_up(&self, user: &str) -> Result<WireStep, MfaError> {
        ManageProxy::begin_step_up(self, user).await
    }

    async fn answer_step_up(&self, flow: &str, answer: &str) -> Result<WireStep, MfaError> {
        ManageProxy::answer_step_up(self, flow, answer).await
    }

    async fn explain(&self, user: &str, service: &str) -> Result<PolicyExplanation, MfaError> {
        ManageProxy::explain(self, user, service).await
    }
}
