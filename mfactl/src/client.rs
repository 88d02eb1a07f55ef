//! The connection to mfad, and the one seam the commands are tested through.

use std::time::Duration;

use zbus::proxy::CacheProperties;
use zbus::{Address, Connection};

use mfa_proto::{
    EnrollmentStart, ManageProxy, MfaError, PolicyExplanation, ServicePolicy, TokenInfo,
    TotpEnrollOptions, UserStatus, WhoAmI,
};

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
    /// `ResetFailures`.
    async fn reset_failures(&self, user: &str) -> Result<(), MfaError>;
    /// `SetServicePolicy`.
    async fn set_service_policy(&self, service: &str, mode: &str) -> Result<(), MfaError>;
    /// `ServicePolicies`.
    async fn service_policies(&self) -> Result<Vec<ServicePolicy>, MfaError>;
    /// `SetGroupEnforcement`.
    async fn set_group_enforcement(&self, group: &str, enforce: bool) -> Result<(), MfaError>;
    /// `EnforcedGroups`.
    async fn enforced_groups(&self) -> Result<Vec<String>, MfaError>;
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

    async fn reset_failures(&self, user: &str) -> Result<(), MfaError> {
        ManageProxy::reset_failures(self, user).await
    }

    async fn set_service_policy(&self, service: &str, mode: &str) -> Result<(), MfaError> {
        ManageProxy::set_service_policy(self, service, mode).await
    }

    async fn service_policies(&self) -> Result<Vec<ServicePolicy>, MfaError> {
        ManageProxy::service_policies(self).await
    }

    async fn set_group_enforcement(&self, group: &str, enforce: bool) -> Result<(), MfaError> {
        ManageProxy::set_group_enforcement(self, group, enforce).await
    }

    async fn enforced_groups(&self) -> Result<Vec<String>, MfaError> {
        ManageProxy::enforced_groups(self).await
    }

    async fn explain(&self, user: &str, service: &str) -> Result<PolicyExplanation, MfaError> {
        ManageProxy::explain(self, user, service).await
    }
}
