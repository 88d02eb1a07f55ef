//! A scripted daemon and a scripted person, for testing commands without a bus.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io;

use clap::Parser;
use zeroize::Zeroizing;

use mfa_core::delivery::{mask_email, mask_phone};
use mfa_fido_client::{
    Authenticator, ClientError, GetAssertionRequest, GetAssertionResponse, MakeCredentialRequest,
    MakeCredentialResponse,
};
use mfa_proto::{
    CodeEnrollmentStart, DenyReason, EnrollmentStart, Fido2EnrollmentStart, MfaError,
    PolicyExplanation, PolicyOverview, Step, StepKind, TokenInfo, TotpEnrollOptions, UserStatus,
    WhoAmI, WireStep,
};

use super::{Ctx, Job};
use crate::cli::Cli;
use crate::client::{Fido2Request, ManageApi};
use crate::error::CliError;
use crate::prompt::Prompter;
use crate::qr;

pub(crate) const URI: &str = "otpauth://totp/pam_mfa%40host:alice?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&digits=6&algorithm=SHA1&issuer=pam_mfa%40host&period=30";

/// mfad as a script: accepts `good_code`, records every call.
pub(crate) struct FakeDaemon {
    pub me: WhoAmI,
    pub good_code: String,
    pub uri: String,
    pub tokens: Vec<TokenInfo>,
    /// What `Policy` returns.
    pub overview: PolicyOverview,
    /// What `GenerateRecoveryCodes` returns.
    pub recovery_codes: Vec<String>,
    /// What `RecoveryCodesLeft` returns, unless `codes_left_error` is set.
    pub codes_left: u32,
    /// Returned by `RecoveryCodesLeft` when set.
    pub codes_left_error: Option<MfaError>,
    /// How many more times the calls that need a step-up (`RemoveToken`,
    /// `SetAlwaysRequire`, `GenerateRecoveryCodes`) answer `StepUpRequired`.
    pub step_up_gate: Cell<u32>,
    /// The steps `BeginStepUp` and then each `AnswerStepUp` return, in order.
    pub step_up_script: RefCell<VecDeque<WireStep>>,
    /// What `Explain` returns.
    pub explanation: PolicyExplanation,
    /// What `Status` returns (its `user` is replaced by the user asked about).
    pub status: UserStatus,
    /// Returned by every call except `WhoAmI` and `CancelEnrollment` when set.
    pub refusal: Option<MfaError>,
    /// Returned by `ConfirmTotpEnrollment` when set (after the code check would have run).
    pub confirm_error: Option<MfaError>,
    pub calls: RefCell<Vec<String>>,
    pub options: RefCell<Option<TotpEnrollOptions>>,
    pub user: RefCell<String>,
    /// What `StepUpFido2Request` returns.
    pub fido2_request: Fido2Request,
    /// What each `BeginCodeEnrollment` answers after its checks, in order (then `Ok`): say
    /// `Undeliverable` or `RateLimited`.
    pub send_results: RefCell<VecDeque<Result<(), MfaError>>>,
    /// Codes sent so far; send N is enrollment `cN` with the code [`sent_code`]`(N)`, and
    /// only the latest is live (a new send replaces the old code, as in mfad).
    pub sends: Cell<u32>,
    /// Wrong codes the live enrollment still accepts before it is cancelled.
    pub code_tries: Cell<u32>,
}

/// The code the fake daemon sends with its `n`th `BeginCodeEnrollment`: `111111`, `222222`, …
pub(crate) fn sent_code(n: u32) -> String {
    format!("{:06}", 111_111 * n)
}

impl Default for FakeDaemon {
    fn default() -> Self {
        FakeDaemon {
            me: WhoAmI {
                uid: 1000,
                user: "alice".into(),
                admin: false,
            },
            good_code: "123456".into(),
            uri: URI.into(),
            tokens: Vec::new(),
            overview: PolicyOverview::default(),
            recovery_codes: Vec::new(),
            codes_left: 0,
            codes_left_error: None,
            step_up_gate: Cell::new(0),
            step_up_script: RefCell::default(),
            explanation: PolicyExplanation::default(),
            status: UserStatus::default(),
            refusal: None,
            confirm_error: None,
            calls: RefCell::default(),
            options: RefCell::default(),
            user: RefCell::default(),
            fido2_request: (
                "pam_mfa://host".into(),
                vec![7; 32],
                vec![vec![1, 2]],
                false,
            ),
            send_results: RefCell::default(),
            sends: Cell::new(0),
            code_tries: Cell::new(0),
        }
    }
}

/// Hex, for call records.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A security key as a script: records each request, answers with `answer` (or the error).
#[derive(Default)]
pub(crate) struct FakeKey {
    pub error: Option<ClientError>,
    /// `make_credential rp challenge exclude pin uv` / `get_assertion rp challenge allow pin uv`.
    pub requests: RefCell<Vec<String>>,
}

impl FakeKey {
    pub(crate) fn failing(error: ClientError) -> Self {
        FakeKey {
            error: Some(error),
            ..FakeKey::default()
        }
    }

    pub(crate) fn requests(&self) -> Vec<String> {
        self.requests.borrow().clone()
    }

    fn answer<T>(&self, record: String, ok: T) -> Result<T, ClientError> {
        self.requests.borrow_mut().push(record);
        match &self.error {
            Some(e) => Err(e.clone()),
            None => Ok(ok),
        }
    }
}

impl Authenticator for FakeKey {
    fn make_credential(
        &self,
        r: &MakeCredentialRequest,
    ) -> Result<MakeCredentialResponse, ClientError> {
        let exclude: Vec<String> = r.exclude_credentials.iter().map(|c| hex(c)).collect();
        self.answer(
            format!(
                "make_credential {} {} exclude={} pin={:?} uv={}",
                r.rp_id,
                hex(&r.challenge),
                exclude.join(","),
                r.pin.as_deref().map(String::as_str),
                r.require_uv
            ),
            MakeCredentialResponse {
                attestation_object: vec![0xa3, 1, 2, 3],
            },
        )
    }

    fn get_assertion(&self, r: &GetAssertionRequest) -> Result<GetAssertionResponse, ClientError> {
        let allow: Vec<String> = r.allow_credentials.iter().map(|c| hex(c)).collect();
        self.answer(
            format!(
                "get_assertion {} {} allow={} pin={:?} uv={}",
                r.rp_id,
                hex(&r.challenge),
                allow.join(","),
                r.pin.as_deref().map(String::as_str),
                r.require_uv
            ),
            GetAssertionResponse {
                credential_id: vec![1, 2],
                auth_data: vec![0xad; 37],
                signature: vec![0x51; 8],
            },
        )
    }
}

impl FakeDaemon {
    pub(crate) fn calls(&self) -> Vec<String> {
        self.calls.borrow().clone()
    }

    fn record(&self, call: String) -> Result<(), MfaError> {
        self.calls.borrow_mut().push(call);
        match &self.refusal {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    /// A daemon whose step-up-guarded calls first answer `StepUpRequired` `times` times,
    /// and whose step-up follows `script`.
    pub(crate) fn stepping_up(times: u32, script: Vec<WireStep>) -> Self {
        FakeDaemon {
            step_up_gate: Cell::new(times),
            step_up_script: RefCell::new(script.into()),
            ..FakeDaemon::default()
        }
    }

    /// `StepUpRequired` while the gate is closed.
    fn gate(&self) -> Result<(), MfaError> {
        let left = self.step_up_gate.get();
        if left == 0 {
            return Ok(());
        }
        self.step_up_gate.set(left - 1);
        self.calls.borrow_mut().push("StepUpRequired".into());
        Err(MfaError::StepUpRequired(
            "this change needs a fresh second factor (BeginStepUp)".into(),
        ))
    }

    fn next_step(&self) -> Result<WireStep, MfaError> {
        self.step_up_script
            .borrow_mut()
            .pop_front()
            .ok_or_else(|| MfaError::UnknownFlow("the fake's step-up script ran out".into()))
    }
}

/// A step-up prompt.
pub(crate) fn prompt_step(flow: &str, text: &str, echo: bool) -> WireStep {
    Step::new(StepKind::Prompt {
        flow: flow.into(),
        text: text.into(),
        echo,
    })
    .into()
}

/// A step-up allowed.
pub(crate) fn allow_step() -> WireStep {
    Step::new(StepKind::Allow {
        reason: "totp".into(),
    })
    .into()
}

/// A step-up denied with `message`.
pub(crate) fn deny_step(message: &str) -> WireStep {
    Step::new(StepKind::Deny {
        reason: DenyReason::AuthFailed,
        message: message.into(),
    })
    .into()
}

pub(crate) fn token(id: &str, user: &str, name: &str) -> TokenInfo {
    TokenInfo {
        id: id.into(),
        user: user.into(),
        kind: "totp".into(),
        name: name.into(),
        algorithm: "SHA1".into(),
        digits: 6,
        period: 30,
        created: 1_700_000_000,
        last_used: 0,
        detail: String::new(),
    }
}

impl ManageApi for FakeDaemon {
    async fn who_am_i(&self) -> Result<WhoAmI, MfaError> {
        self.calls.borrow_mut().push("WhoAmI".into());
        Ok(self.me.clone())
    }

    async fn begin_totp_enrollment(
        &self,
        user: &str,
        options: &TotpEnrollOptions,
    ) -> Result<EnrollmentStart, MfaError> {
        self.record(format!("Begin {user}"))?;
        *self.options.borrow_mut() = Some(options.clone());
        *self.user.borrow_mut() = user.to_owned();
        Ok(EnrollmentStart {
            enrollment: "e1".into(),
            otpauth_uri: self.uri.clone(),
            expires_at: 1_732_350_300,
        })
    }

    async fn confirm_totp_enrollment(
        &self,
        enrollment: &str,
        code: &str,
    ) -> Result<TokenInfo, MfaError> {
        self.record(format!("Confirm {enrollment} {code}"))?;
        if let Some(e) = &self.confirm_error {
            return Err(e.clone());
        }
        if code == self.good_code {
            Ok(token("7", &self.user.borrow(), "totp"))
        } else {
            Err(MfaError::CodeRejected(
                "the code did not verify; nothing was saved".into(),
            ))
        }
    }

    async fn cancel_enrollment(&self, enrollment: &str) -> Result<(), MfaError> {
        self.calls.borrow_mut().push(format!("Cancel {enrollment}"));
        Ok(())
    }

    async fn begin_code_enrollment(
        &self,
        user: &str,
        method: &str,
        address: &str,
        name: &str,
    ) -> Result<CodeEnrollmentStart, MfaError> {
        self.record(format!("BeginCode {user} {method} {address} {name:?}"))?;
        self.gate()?;
        if let Some(result) = self.send_results.borrow_mut().pop_front() {
            result?;
        }
        let n = self.sends.get() + 1;
        self.sends.set(n);
        self.code_tries.set(3);
        *self.user.borrow_mut() = user.to_owned();
        let sent_to = match method {
            "sms" => mask_phone(address),
            _ => mask_email(address),
        };
        Ok(CodeEnrollmentStart {
            enrollment: format!("c{n}"),
            sent_to,
            valid_secs: 300,
        })
    }

    async fn confirm_code_enrollment(
        &self,
        enrollment: &str,
        code: &str,
    ) -> Result<TokenInfo, MfaError> {
        self.record(format!("ConfirmCode {enrollment} {code}"))?;
        let live = format!("c{}", self.sends.get());
        if enrollment != live || self.code_tries.get() == 0 {
            return Err(MfaError::UnknownEnrollment(format!(
                "no pending enrollment {enrollment}"
            )));
        }
        if code == sent_code(self.sends.get()) {
            let mut t = token("15", &self.user.borrow(), "email");
            t.kind = "email".into();
            t.detail = "a•••e@ex•••.org".into();
            return Ok(t);
        }
        let left = self.code_tries.get() - 1;
        self.code_tries.set(left);
        Err(MfaError::CodeRejected(if left == 0 {
            "the code does not match; nothing was saved and the enrollment is cancelled (too \
             many wrong codes)"
                .into()
        } else {
            format!("the code does not match; nothing was saved ({left} tries left)")
        }))
    }

    async fn enroll_verified_address(
        &self,
        user: &str,
        method: &str,
        address: &str,
        name: &str,
    ) -> Result<TokenInfo, MfaError> {
        self.record(format!("EnrollVerified {user} {method} {address} {name:?}"))?;
        if !self.me.admin {
            return Err(MfaError::AccessDenied(
                "only root or the admin group may save an address without a code".into(),
            ));
        }
        let mut t = token("16", user, if name.is_empty() { method } else { name });
        t.kind = method.into();
        t.detail = match method {
            "sms" => mask_phone(address),
            _ => mask_email(address),
        };
        Ok(t)
    }

    async fn list_tokens(&self, user: &str) -> Result<Vec<TokenInfo>, MfaError> {
        self.record(format!("List {user}"))?;
        Ok(self.tokens.clone())
    }

    async fn remove_token(&self, user: &str, token: &str) -> Result<(), MfaError> {
        self.record(format!("Remove {user} {token}"))?;
        self.gate()
    }

    async fn rename_token(
        &self,
        user: &str,
        which: &str,
        new_name: &str,
    ) -> Result<TokenInfo, MfaError> {
        self.record(format!("Rename {user} {which} {new_name}"))?;
        Ok(token("2", user, new_name))
    }

    async fn status(&self, user: &str) -> Result<UserStatus, MfaError> {
        self.record(format!("Status {user}"))?;
        Ok(UserStatus {
            user: user.to_owned(),
            ..self.status.clone()
        })
    }

    async fn unlock(&self, user: &str) -> Result<(), MfaError> {
        self.record(format!("Unlock {user}"))
    }

    async fn lock(&self, user: &str, reason: &str) -> Result<(), MfaError> {
        self.record(format!("Lock {user} {reason:?}"))
    }

    async fn set_service_policy(
        &self,
        service: &str,
        mode: &str,
        methods: &[&str],
    ) -> Result<(), MfaError> {
        self.record(format!("SetPolicy {service} {mode} {methods:?}"))
    }

    async fn policy(&self) -> Result<PolicyOverview, MfaError> {
        self.record("Policy".into())?;
        Ok(self.overview.clone())
    }

    async fn set_group_enforcement(&self, group: &str, enforce: bool) -> Result<(), MfaError> {
        self.record(format!("SetGroup {group} {enforce}"))
    }

    async fn set_always_require_permission(&self, allow: &str) -> Result<(), MfaError> {
        self.record(format!("SetAlwaysRequirePermission {allow}"))
    }

    async fn set_always_require(&self, user: &str, on: bool) -> Result<(), MfaError> {
        self.record(format!("SetAlwaysRequire {user} {on}"))?;
        self.gate()
    }

    async fn set_grace(&self, subject: &str, until: i64) -> Result<(), MfaError> {
        self.record(format!("SetGrace {subject} {until}"))
    }

    async fn generate_recovery_codes(&self, user: &str) -> Result<Vec<String>, MfaError> {
        self.record(format!("GenerateRecoveryCodes {user}"))?;
        self.gate()?;
        Ok(self.recovery_codes.clone())
    }

    async fn enroll_ssh_sk(
        &self,
        user: &str,
        name: &str,
        public_key: &str,
    ) -> Result<TokenInfo, MfaError> {
        self.record(format!("EnrollSshSk {user} {name:?} {public_key:?}"))?;
        self.gate()?;
        let mut t = token("9", user, if name.is_empty() { "ssh-sk" } else { name });
        t.kind = "ssh-sk".into();
        Ok(t)
    }

    async fn recovery_codes_left(&self, user: &str) -> Result<u32, MfaError> {
        self.record(format!("RecoveryCodesLeft {user}"))?;
        match &self.codes_left_error {
            Some(e) => Err(e.clone()),
            None => Ok(self.codes_left),
        }
    }

    async fn begin_fido2_enrollment(
        &self,
        user: &str,
        name: &str,
        require_uv: bool,
    ) -> Result<Fido2EnrollmentStart, MfaError> {
        self.record(format!(
            "BeginFido2Enrollment {user} {name:?} uv={require_uv}"
        ))?;
        self.gate()?;
        Ok(Fido2EnrollmentStart {
            enrollment: "e2".into(),
            rp_id: "pam_mfa://host".into(),
            challenge: vec![0xcc; 4],
            user_id: vec![0x11; 16],
            exclude_credential_ids: vec![vec![0xee, 0xee]],
        })
    }

    async fn finish_fido2_enrollment(
        &self,
        enrollment: &str,
        attestation_object: &[u8],
    ) -> Result<TokenInfo, MfaError> {
        self.record(format!(
            "FinishFido2Enrollment {enrollment} {}",
            hex(attestation_object)
        ))?;
        if let Some(e) = &self.confirm_error {
            return Err(e.clone());
        }
        let mut t = token("12", "alice", "fido2");
        t.kind = "fido2".into();
        t.algorithm = "ES256".into();
        t.detail = "ES256, pam_mfa://host, touch".into();
        Ok(t)
    }

    async fn step_up_fido2_request(&self, flow: &str) -> Result<Fido2Request, MfaError> {
        self.record(format!("StepUpFido2Request {flow}"))?;
        Ok(self.fido2_request.clone())
    }

    async fn answer_step_up_fido2(
        &self,
        flow: &str,
        credential_id: &[u8],
        authenticator_data: &[u8],
        signature: &[u8],
    ) -> Result<WireStep, MfaError> {
        self.record(format!(
            "AnswerStepUpFido2 {flow} {} {} {}",
            hex(credential_id),
            authenticator_data.len(),
            hex(signature)
        ))?;
        self.next_step()
    }

    async fn step_up_fido2_unavailable(
        &self,
        flow: &str,
        reason: &str,
    ) -> Result<WireStep, MfaError> {
        self.record(format!("StepUpFido2Unavailable {flow} {reason}"))?;
        self.next_step()
    }

    async fn begin_step_up(&self, user: &str) -> Result<WireStep, MfaError> {
        self.record(format!("BeginStepUp {user}"))?;
        self.next_step()
    }

    async fn answer_step_up(&self, flow: &str, answer: &str) -> Result<WireStep, MfaError> {
        self.record(format!("AnswerStepUp {flow} {answer}"))?;
        self.next_step()
    }

    async fn explain(&self, user: &str, service: &str) -> Result<PolicyExplanation, MfaError> {
        self.record(format!("Explain {user} {service}"))?;
        Ok(self.explanation.clone())
    }
}

/// A person (or a pipe) answering from a list.
#[derive(Default)]
pub(crate) struct ScriptedPrompter {
    pub interactive: bool,
    pub answers: VecDeque<&'static str>,
    pub questions: Vec<String>,
    /// The questions asked with [`Prompter::ask_hidden`] (also in `questions`).
    pub hidden: Vec<String>,
    pub shown: String,
}

impl ScriptedPrompter {
    pub(crate) fn terminal(answers: &[&'static str]) -> Self {
        ScriptedPrompter {
            interactive: true,
            answers: answers.iter().copied().collect(),
            ..Default::default()
        }
    }

    pub(crate) fn pipe(answers: &[&'static str]) -> Self {
        ScriptedPrompter {
            interactive: false,
            answers: answers.iter().copied().collect(),
            ..Default::default()
        }
    }
}

impl Prompter for ScriptedPrompter {
    fn is_interactive(&self) -> bool {
        self.interactive
    }

    fn show(&mut self, text: &str) -> io::Result<()> {
        self.shown.push_str(text);
        Ok(())
    }

    fn ask(&mut self, question: &str) -> io::Result<Option<Zeroizing<String>>> {
        self.questions.push(question.to_owned());
        Ok(self
            .answers
            .pop_front()
            .map(|a| Zeroizing::new(a.to_owned())))
    }

    fn ask_hidden(&mut self, question: &str) -> io::Result<Option<Zeroizing<String>>> {
        self.hidden.push(question.to_owned());
        self.ask(question)
    }
}

/// What one run produced.
pub(crate) struct Outcome {
    pub result: Result<(), CliError>,
    pub stdout: String,
}

/// Parses `args` (without the program name) and runs the command against `daemon`, with
/// no security key plugged in.
pub(crate) fn run(
    daemon: &FakeDaemon,
    args: &[&str],
    prompter: &mut ScriptedPrompter,
    qr: Option<qr::Style>,
) -> Outcome {
    run_with_key(
        daemon,
        args,
        prompter,
        qr,
        &FakeKey::failing(ClientError::NoDevice),
    )
}

/// [`run`] with `key` as the security key.
pub(crate) fn run_with_key(
    daemon: &FakeDaemon,
    args: &[&str],
    prompter: &mut ScriptedPrompter,
    qr: Option<qr::Style>,
    key: &dyn Authenticator,
) -> Outcome {
    let cli = Cli::try_parse_from(std::iter::once("mfactl").chain(args.iter().copied())).unwrap();
    let mut out = Vec::new();
    let result = match Job::prepare(cli.command, prompter) {
        Ok(job) => {
            let mut ctx = Ctx {
                json: cli.json,
                out: &mut out,
                prompter,
                qr,
                key,
            };
            zbus::block_on(job.execute(daemon, &mut ctx))
        }
        Err(e) => Err(e),
    };
    Outcome {
        result,
        stdout: String::from_utf8(out).unwrap(),
    }
}
