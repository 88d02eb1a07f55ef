//! The bus adapters: identify the caller, call the daemon, convert the result.

use std::sync::Arc;

use zbus::message::Header;
use zbus::{Connection, interface};

use mfa_proto::{
    CodeEnrollmentStart, EnrollmentStart, Fido2EnrollmentStart, LoginFacts, MfaError,
    PolicyExplanation, PolicyOverview, ServicePolicy, Step, TokenInfo, TotpEnrollOptions,
    UserStatus, WhoAmI, WireStep,
};

use crate::authz::Caller;
use crate::daemon::Daemon;
use crate::flows::Purpose;

async fn caller(d: &Daemon, conn: &Connection, hdr: &Header<'_>) -> Result<Caller, MfaError> {
    d.authorizer().caller(conn, hdr).await
}

/// Sends the code a step announces (email/SMS) on the blocking pool, then converts the
/// step for the wire: a slow mail server delays this call only, not the bus.
async fn settled(
    d: &Daemon,
    c: &Caller,
    step: Result<Step, MfaError>,
) -> Result<WireStep, MfaError> {
    match step {
        Ok(step) => d.settle(c, step).await.map(WireStep::from),
        Err(e) => Err(e),
    }
}

/// Runs `work` (NSS lookups, SQLite, the fsync of an accepted code) on zruntime's blocking
/// pool: the bus executor is one thread, and every login waiting behind another's disk
/// write would cap mfad at one login per write. The daemon's state is behind its own locks.
async fn off_executor<T: Send + 'static>(
    d: &Arc<Daemon>,
    work: impl FnOnce(&Daemon) -> T + Send + 'static,
) -> T {
    // A few threads are enough to overlap NSS, SQLite and a shared fsync (group commit);
    // more would only add threads (and malloc arenas) under a burst of logins.
    let _permit = BLOCKING_WORKERS.acquire().await;
    let d = Arc::clone(d);
    zruntime::unblock(move || work(&d)).await
}

/// Logins running on the blocking pool at once.
static BLOCKING_WORKERS: zruntime::lock::Semaphore = zruntime::lock::Semaphore::new(16);

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
        let who = c.clone();
        let step = off_executor(&self.0, move |d| d.begin(&who, &facts)).await;
        logged(&self.0, &c, "Begin", settled(&self.0, &c, step).await)
    }

    /// Starts a single-prompt login: the step, and how many trailing characters of the
    /// answer to its prompt form the code.
    async fn begin_single_prompt(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
        facts: LoginFacts,
    ) -> Result<(WireStep, u32), MfaError> {
        let c = caller(&self.0, conn, &hdr).await?;
        let who = c.clone();
        let started = off_executor(&self.0, move |d| d.begin_single_prompt(&who, &facts)).await;
        logged(
            &self.0,
            &c,
            "BeginSinglePrompt",
            started.map(|(step, digits)| (WireStep::from(step), digits)),
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
        let (who, flow) = (c.clone(), flow.to_owned());
        let step = off_executor(&self.0, move |d| d.answer(&who, &flow, &answer)).await;
        logged(&self.0, &c, "Answer", settled(&self.0, &c, step).await)
    }

    /// What the security key must sign for a flow's fido2 step.
    async fn fido2_request(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
        flow: &str,
    ) -> Result<(String, Vec<u8>, Vec<Vec<u8>>, bool), MfaError> {
        let c = caller(&self.0, conn, &hdr).await?;
        logged(
            &self.0,
            &c,
            "Fido2Request",
            self.0.fido2_request(&c, flow, Purpose::Login),
        )
    }

    /// Answers a flow's fido2 step with the key's assertion.
    async fn answer_fido2(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
        flow: &str,
        credential_id: Vec<u8>,
        authenticator_data: Vec<u8>,
        signature: Vec<u8>,
    ) -> Result<WireStep, MfaError> {
        let c = caller(&self.0, conn, &hdr).await?;
        logged(
            &self.0,
            &c,
            "AnswerFido2",
            self.0
                .answer_fido2(
                    &c,
                    flow,
                    Purpose::Login,
                    &credential_id,
                    &authenticator_data,
                    &signature,
                )
                .map(WireStep::from),
        )
    }

    /// No usable security key for a flow's fido2 step.
    async fn fido2_unavailable(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
        flow: &str,
        reason: &str,
    ) -> Result<WireStep, MfaError> {
        let c = caller(&self.0, conn, &hdr).await?;
        logged(
            &self.0,
            &c,
            "Fido2Unavailable",
            settled(
                &self.0,
                &c,
                self.0.fido2_unavailable(&c, flow, Purpose::Login, reason),
            )
            .await,
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

    /// The module refused the answer to a flow's prompt itself (not UTF-8, too long):
    /// counted as one failure, and the flow ends with a denial.
    async fn answer_refused(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
        flow: &str,
        reason: &str,
    ) -> Result<WireStep, MfaError> {
        let c = caller(&self.0, conn, &hdr).await?;
        logged(
            &self.0,
            &c,
            "AnswerRefused",
            self.0.answer_refused(&c, flow, reason).map(WireStep::from),
        )
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

    /// Sends a code to a new email address or phone number; saved on confirmation.
    async fn begin_code_enrollment(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
        user: &str,
        method: &str,
        address: &str,
        name: &str,
    ) -> Result<CodeEnrollmentStart, MfaError> {
        let c = caller(&self.0, conn, &hdr).await?;
        let started = match self
            .0
            .begin_code_enrollment(&c, user, method, address, name)
        {
            Ok((id, job)) => {
                // Off the executor: a slow mail server must not hold up other logins.
                let (job, result) = zruntime::unblock(move || job.run()).await;
                self.0.code_enrollment_sent(&c, id, &job, result)
            }
            Err(e) => Err(e),
        };
        logged(&self.0, &c, "BeginCodeEnrollment", started)
    }

    /// Saves the address of an email/SMS enrollment when the code matches.
    async fn confirm_code_enrollment(
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
            "ConfirmCodeEnrollment",
            self.0.confirm_code_enrollment(&c, enrollment, &code),
        )
    }

    /// Saves an address without a code (root and the admin group).
    async fn enroll_verified_address(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
        user: &str,
        method: &str,
        address: &str,
        name: &str,
    ) -> Result<TokenInfo, MfaError> {
        let c = caller(&self.0, conn, &hdr).await?;
        logged(
            &self.0,
            &c,
            "EnrollVerifiedAddress",
            self.0
                .enroll_verified_address(&c, user, method, address, name),
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

    /// Clears a user's failures, back-off and administrative lock (admin).
    async fn unlock(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
        user: &str,
    ) -> Result<(), MfaError> {
        let c = caller(&self.0, conn, &hdr).await?;
        logged(&self.0, &c, "Unlock", self.0.unlock(&c, user))
    }

    /// Locks a user's second factor (admin).
    async fn lock(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
        user: &str,
        reason: &str,
    ) -> Result<(), MfaError> {
        let c = caller(&self.0, conn, &hdr).await?;
        logged(&self.0, &c, "Lock", self.0.lock(&c, user, reason))
    }

    /// Sets or removes a service rule (admin).
    async fn set_service_policy(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
        service: &str,
        mode: &str,
        methods: Vec<String>,
    ) -> Result<(), MfaError> {
        let c = caller(&self.0, conn, &hdr).await?;
        logged(
            &self.0,
            &c,
            "SetServicePolicy",
            self.0.set_service_policy(&c, service, mode, &methods),
        )
    }

    /// The whole policy.
    async fn policy(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
    ) -> Result<PolicyOverview, MfaError> {
        let c = caller(&self.0, conn, &hdr).await?;
        logged(&self.0, &c, "Policy", self.0.policy())
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

    /// Who may turn always-require on for themselves (admin).
    async fn set_always_require_permission(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
        allow: &str,
    ) -> Result<(), MfaError> {
        let c = caller(&self.0, conn, &hdr).await?;
        logged(
            &self.0,
            &c,
            "SetAlwaysRequirePermission",
            self.0.set_always_require_permission(&c, allow),
        )
    }

    /// Turns always-require on or off.
    async fn set_always_require(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
        user: &str,
        on: bool,
    ) -> Result<(), MfaError> {
        let c = caller(&self.0, conn, &hdr).await?;
        logged(
            &self.0,
            &c,
            "SetAlwaysRequire",
            self.0.set_always_require(&c, user, on),
        )
    }

    /// Sets or removes an enrollment deadline (admin).
    async fn set_grace(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
        subject: &str,
        until: i64,
    ) -> Result<(), MfaError> {
        let c = caller(&self.0, conn, &hdr).await?;
        logged(
            &self.0,
            &c,
            "SetGrace",
            self.0.set_grace(&c, subject, until),
        )
    }

    /// Creates a new set of recovery codes.
    async fn generate_recovery_codes(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
        user: &str,
    ) -> Result<Vec<String>, MfaError> {
        let c = caller(&self.0, conn, &hdr).await?;
        logged(
            &self.0,
            &c,
            "GenerateRecoveryCodes",
            self.0.generate_recovery_codes(&c, user),
        )
    }

    /// Enrolls an SSH security key.
    async fn enroll_ssh_sk(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
        user: &str,
        name: &str,
        public_key: &str,
    ) -> Result<TokenInfo, MfaError> {
        let c = caller(&self.0, conn, &hdr).await?;
        logged(
            &self.0,
            &c,
            "EnrollSshSk",
            self.0.enroll_ssh_sk(&c, user, name, public_key),
        )
    }

    /// Begins a FIDO2 security key enrollment.
    async fn begin_fido2_enrollment(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
        user: &str,
        name: &str,
        require_uv: bool,
    ) -> Result<Fido2EnrollmentStart, MfaError> {
        let c = caller(&self.0, conn, &hdr).await?;
        logged(
            &self.0,
            &c,
            "BeginFido2Enrollment",
            self.0.begin_fido2_enrollment(&c, user, name, require_uv),
        )
    }

    /// Finishes a FIDO2 enrollment with the key's attestation object.
    async fn finish_fido2_enrollment(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
        enrollment: &str,
        attestation_object: Vec<u8>,
    ) -> Result<TokenInfo, MfaError> {
        let c = caller(&self.0, conn, &hdr).await?;
        logged(
            &self.0,
            &c,
            "FinishFido2Enrollment",
            self.0
                .finish_fido2_enrollment(&c, enrollment, &attestation_object),
        )
    }

    /// What the security key must sign for a step-up's fido2 step.
    async fn step_up_fido2_request(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
        flow: &str,
    ) -> Result<(String, Vec<u8>, Vec<Vec<u8>>, bool), MfaError> {
        let c = caller(&self.0, conn, &hdr).await?;
        logged(
            &self.0,
            &c,
            "StepUpFido2Request",
            self.0.fido2_request(&c, flow, Purpose::StepUp),
        )
    }

    /// Answers a step-up's fido2 step with the key's assertion.
    async fn answer_step_up_fido2(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
        flow: &str,
        credential_id: Vec<u8>,
        authenticator_data: Vec<u8>,
        signature: Vec<u8>,
    ) -> Result<WireStep, MfaError> {
        let c = caller(&self.0, conn, &hdr).await?;
        logged(
            &self.0,
            &c,
            "AnswerStepUpFido2",
            self.0
                .answer_fido2(
                    &c,
                    flow,
                    Purpose::StepUp,
                    &credential_id,
                    &authenticator_data,
                    &signature,
                )
                .map(WireStep::from),
        )
    }

    /// No usable security key for a step-up's fido2 step.
    async fn step_up_fido2_unavailable(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
        flow: &str,
        reason: &str,
    ) -> Result<WireStep, MfaError> {
        let c = caller(&self.0, conn, &hdr).await?;
        logged(
            &self.0,
            &c,
            "StepUpFido2Unavailable",
            settled(
                &self.0,
                &c,
                self.0.fido2_unavailable(&c, flow, Purpose::StepUp, reason),
            )
            .await,
        )
    }

    /// Unused recovery codes of a user.
    async fn recovery_codes_left(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
        user: &str,
    ) -> Result<u32, MfaError> {
        let c = caller(&self.0, conn, &hdr).await?;
        logged(
            &self.0,
            &c,
            "RecoveryCodesLeft",
            self.0.recovery_codes_left(&c, user),
        )
    }

    /// Starts a step-up.
    async fn begin_step_up(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
        user: &str,
    ) -> Result<WireStep, MfaError> {
        let c = caller(&self.0, conn, &hdr).await?;
        logged(
            &self.0,
            &c,
            "BeginStepUp",
            settled(&self.0, &c, self.0.begin_step_up(&c, user)).await,
        )
    }

    /// Answers a step-up prompt.
    async fn answer_step_up(
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
            "AnswerStepUp",
            settled(&self.0, &c, self.0.answer_step_up(&c, flow, &answer)).await,
        )
    }
}
