//! The bus adapters: identify the caller, call the daemon, convert the result.

use std::sync::Arc;

use zbus::message::Header;
use zbus::{Connection, interface};

use mfa_proto::{
    EnrollmentStart, LoginFacts, MfaError, PolicyExplanation, ServicePolicy, TokenInfo,
    TotpEnrollOptions, UserStatus, WhoAmI, WireStep,
};

use crate::authz::Caller;
use crate::daemon::Daemon;

async fn caller(d: &Daemon, conn: &Connection, hdr: &Header<'_>) -> Result<Caller, MfaError> {
    d.authorizer().caller(conn, hdr).await
}

fn logged<T>(d: &Daemon, c: &Caller, method: &str, r: Result<T, MfaError>) -> Result<T, MfaError> {
    if let Err(e) = &r {
        d.log_refusal(c, method, e);
    }
    r
}

/// `org.pam_mfa.Login1`.
#[derive(Debug, Clone)]
pub struct LoginService(pub Arc<Daemon>);

#[interface(name = "org.pam_mfa.Login1")]
impl LoginService {
    /// Starts a login conversation.
    async fn begin(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
        facts: LoginFacts,
    ) -> Result<WireStep, MfaError> {
        let c = caller(&self.0, conn, &hdr).await?;
        logged(
            &self.0,
            &c,
            "Begin",
            self.0.begin(&c, &facts).map(WireStep::from),
        )
    }

    /// Answers the current prompt of a flow.
    async fn answer(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
        flow: &str,
        answer: String,
    ) -> Result<WireStep, MfaError> {
        let answer = zeroize::Zeroizing::new(answer);
        let c = caller(&self.0, conn, &hdr).await?;
        logged(
            &self.0,
            &c,
            "Answer",
            self.0.answer(&c, flow, &answer).map(WireStep::from),
        )
    }

    /// Abandons a flow.
    async fn cancel(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
        flow: &str,
    ) -> Result<(), MfaError> {
        let c = caller(&self.0, conn, &hdr).await?;
        self.0.cancel(&c, flow);
        Ok(())
    }
}

/// `org.pam_mfa.Manage1`.
#[derive(Debug, Clone)]
pub struct ManageService(pub Arc<Daemon>);

#[interface(name = "org.pam_mfa.Manage1")]
impl ManageService {
    /// Who the daemon sees calling.
    async fn who_am_i(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
    ) -> Result<WhoAmI, MfaError> {
        let c = caller(&self.0, conn, &hdr).await?;
        Ok(self.0.who_am_i(&c))
    }

    /// Begins a TOTP enrollment.
    async fn begin_totp_enrollment(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
        user: &str,
        options: TotpEnrollOptions,
    ) -> Result<EnrollmentStart, MfaError> {
        let c = caller(&self.0, conn, &hdr).await?;
        logged(
            &self.0,
            &c,
            "BeginTotpEnrollment",
            self.0.begin_totp_enrollment(&c, user, &options),
        )
    }

    /// Confirms a TOTP enrollment with a code from the app.
    async fn confirm_totp_enrollment(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
        enrollment: &str,
        code: String,
    ) -> Result<TokenInfo, MfaError> {
        let code = zeroize::Zeroizing::new(code);
        let c = caller(&self.0, conn, &hdr).await?;
        logged(
            &self.0,
            &c,
            "ConfirmTotpEnrollment",
            self.0.confirm_totp_enrollment(&c, enrollment, &code),
        )
    }

    /// Discards a pending enrollment.
    async fn cancel_enrollment(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
        enrollment: &str,
    ) -> Result<(), MfaError> {
        let c = caller(&self.0, conn, &hdr).await?;
        logged(
            &self.0,
            &c,
            "CancelEnrollment",
            self.0.cancel_enrollment(&c, enrollment),
        )
    }

    /// Lists a user's tokens.
    async fn list_tokens(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
        user: &str,
    ) -> Result<Vec<TokenInfo>, MfaError> {
        let c = caller(&self.0, conn, &hdr).await?;
        logged(&self.0, &c, "ListTokens", self.0.list_tokens(&c, user))
    }

    /// Removes a token.
    async fn remove_token(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
        user: &str,
        token: &str,
    ) -> Result<(), MfaError> {
        let c = caller(&self.0, conn, &hdr).await?;
        logged(
            &self.0,
            &c,
            "RemoveToken",
            self.0.remove_token(&c, user, token),
        )
    }

    /// Clears a user's failures (admin).
    async fn reset_failures(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
        user: &str,
    ) -> Result<(), MfaError> {
        let c = caller(&self.0, conn, &hdr).await?;
        logged(
            &self.0,
            &c,
            "ResetFailures",
            self.0.reset_failures(&c, user),
        )
    }

    /// Sets or removes a service rule (admin).
    async fn set_service_policy(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
        service: &str,
        mode: &str,
    ) -> Result<(), MfaError> {
        let c = caller(&self.0, conn, &hdr).await?;
        logged(
            &self.0,
            &c,
            "SetServicePolicy",
            self.0.set_service_policy(&c, service, mode),
        )
    }

    /// Lists the service rules.
    async fn service_policies(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
    ) -> Result<Vec<ServicePolicy>, MfaError> {
        let c = caller(&self.0, conn, &hdr).await?;
        logged(&self.0, &c, "ServicePolicies", self.0.service_policies())
    }

    /// Enforces MFA for a group (admin).
    async fn set_group_enforcement(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
        group: &str,
        enforce: bool,
    ) -> Result<(), MfaError> {
        let c = caller(&self.0, conn, &hdr).await?;
        logged(
            &self.0,
            &c,
            "SetGroupEnforcement",
            self.0.set_group_enforcement(&c, group, enforce),
        )
    }

    /// Lists the enforced groups.
    async fn enforced_groups(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
    ) -> Result<Vec<String>, MfaError> {
        let c = caller(&self.0, conn, &hdr).await?;
        logged(&self.0, &c, "EnforcedGroups", self.0.enforced_groups())
    }

    /// Explains the policy decision for a user and service.
    async fn explain(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
        user: &str,
        service: &str,
    ) -> Result<PolicyExplanation, MfaError> {
        let c = caller(&self.0, conn, &hdr).await?;
        logged(&self.0, &c, "Explain", self.0.explain(&c, user, service))
    }

    /// Renames a token.
    async fn rename_token(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
        user: &str,
        token: &str,
        new_name: &str,
    ) -> Result<TokenInfo, MfaError> {
        let c = caller(&self.0, conn, &hdr).await?;
        logged(
            &self.0,
            &c,
            "RenameToken",
            self.0.rename_token(&c, user, token, new_name),
        )
    }

    /// A user's status.
    async fn status(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
        user: &str,
    ) -> Result<UserStatus, MfaError> {
        let c = caller(&self.0, conn, &hdr).await?;
        logged(&self.0, &c, "Status", self.0.status(&c, user))
    }
}
