//! `Login1`: Begin → (chooser) → Prompt → Answer → Allow / Deny / NotRequired, and the
//! step-up conversation of `Manage1`, which runs the same prompts.

use std::time::Instant;

use mfa_core::code::parse_code;
use mfa_core::policy::{Method, MethodSet};
use mfa_core::ratelimit::{FailureState, Gate};
use mfa_core::ssh_sk::{SkFactor, SshSkPublicKey, enrolled_sk_key_used};
use mfa_core::username::loggable;
use mfa_proto::message::access_denied;
use mfa_proto::{
    DenyReason, LoginFacts, MAX_ANSWER_LEN, MAX_AUTH_INFO_LEN, MAX_FIELD_LEN, MfaError, Step,
    StepKind,
};

use super::decide::Verdict;
use super::{Daemon, authorized_account, check_field, check_service, target_user};
use crate::audit::Level;
use crate::authz::Caller;
use crate::clock;
use crate::flows::{Flow, Purpose, Stage};
use crate::store::{VerifyOutcome, hash_answer};
use crate::users::{self, LookupError};

/// The prompt for a TOTP code.
pub const TOTP_PROMPT: &str = "Verification code: ";
/// The prompt for a recovery code.
pub const RECOVERY_PROMPT: &str = "Recovery code: ";
/// Prompt for a code sent by email or SMS; Enter alone asks for a new one.
pub const SENT_CODE_PROMPT: &str = "Code (or press Enter to send a new one): ";
/// The chooser's prompt; the list of methods comes before it as informational lines.
pub const CHOOSER_PROMPT: &str = "Method [1]: ";
/// The prompt of single-prompt mode (`BeginSinglePrompt`): the module keeps the password
/// part of the answer and sends only the trailing code.
pub const SINGLE_PROMPT: &str = "Password and verification code: ";
/// The code length of single-prompt mode when the user has no token to take it from
/// (unknown users are prompted like everybody else).
const DEFAULT_CODE_DIGITS: u32 = 6;

/// How the module asks for the factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptStyle {
    /// One prompt per factor, after the password module (`Begin`).
    Separate,
    /// The password and the code in one answer, before the password module
    /// (`BeginSinglePrompt`, module argument `single_prompt`).
    Single,
}
/// The PAM service whose `SSH_AUTH_INFO_0` is trusted without the admin naming `ssh-sk` in
/// the service's methods: it is sshd's own name, and sshd sets the variable itself.
const SSHD_SERVICE: &str = "sshd";
/// Invalid chooser answers before the login is refused (not counted as failures).
const MAX_INVALID_CHOICES: u8 = 3;

fn code_prompt(m: Method) -> &'static str {
    match m {
        // SSH security keys are never prompted for (`MethodSet::promptable`); security keys
        // get a fido2 step instead of a prompt (`Daemon::code_step`).
        Method::Totp | Method::SshSk | Method::Fido2 => TOTP_PROMPT,
        Method::Email | Method::Sms => SENT_CODE_PROMPT,
        Method::Recovery => RECOVERY_PROMPT,
    }
}

/// The command that enrolls `m`, for hints.
fn enroll_command(m: Method) -> &'static str {
    match m {
        Method::Totp => "mfactl enroll totp",
        Method::Fido2 => "mfactl enroll fido2",
        Method::SshSk => "mfactl enroll ssh-sk --pubkey FILE",
        Method::Email => "mfactl enroll email --address ADDRESS",
        Method::Sms => "mfactl enroll sms --phone +NUMBER",
        Method::Recovery => "mfactl recovery generate",
    }
}

/// Reads a chooser answer: empty picks the first, a number its method, a name that method.
fn parse_choice(answer: &str, methods: MethodSet) -> Option<Method> {
    let a = answer.trim();
    if a.is_empty() {
        return methods.iter().next();
    }
    if let Ok(n) = a.parse::<usize>() {
        return n.checked_sub(1).and_then(|i| methods.iter().nth(i));
    }
    methods.iter().find(|m| m.as_str().eq_ignore_ascii_case(a))
}

pub(super) fn deny(
    service: &str,
    user: &str,
    reason: DenyReason,
    headline: &str,
    hints: &[&str],
) -> Step {
    Step::new(StepKind::Deny {
        reason,
        message: access_denied(service, user, headline, hints),
    })
}

fn wait_message(until: u64, now: u64) -> String {
    format!(
        "too many failed attempts; try again in {} seconds.",
        until.saturating_sub(now).max(1)
    )
}

impl Daemon {
    pub(super) fn audit_login(
        &self,
        level: Level,
        user: &str,
        service: &str,
        result: &str,
        extra: &str,
    ) {
        self.audit.log(
            level,
            format!(
                "login result={result} user={} service={service} {extra}",
                loggable(user)
            )
            .trim_end(),
        );
    }

    pub(super) fn unavailable(&self, user: &str, service: &str, what: &str) -> Step {
        self.audit.log(
            Level::Error,
            &format!(
                "login result=deny reason=unavailable user={} service={service} error={what:?}",
                loggable(user)
            ),
        );
        deny(
            service,
            user,
            DenyReason::Unavailable,
            "the MFA service cannot read its database.",
            &["Try again later or contact an administrator."],
        )
    }

    /// The refusal for a closed gate (back-off or hard lock), or `None` when open. Storage
    /// failures refuse too.
    pub(super) fn closed_gate(&self, user: &str, service: &str, now: u64) -> Option<Step> {
        match self.store.failure_state(user) {
            Err(e) => Some(self.unavailable(user, service, &e.to_string())),
            Ok(state) => self.gate_refusal(state, user, service, now),
        }
    }

    /// The refusal for a closed gate given the failure record already read.
    fn gate_refusal(
        &self,
        state: FailureState,
        user: &str,
        service: &str,
        now: u64,
    ) -> Option<Step> {
        match self.limits.gate(state, now) {
            Gate::Open => None,
            Gate::Wait { until } => Some(self.throttled(user, service, until, now)),
            Gate::LockedOut => Some(self.locked_out(user, service)),
        }
    }

    pub(super) fn admin_locked(&self, user: &str, service: &str) -> Step {
        self.audit_login(Level::Warning, user, service, "deny", "reason=admin-locked");
        deny(
            service,
            user,
            DenyReason::Locked,
            &format!("the second factor of {user} is locked by an administrator."),
            &[&format!(
                "Ask an administrator to run `mfactl unlock {user}`."
            )],
        )
    }

    pub(super) fn throttled(&self, user: &str, service: &str, until: u64, now: u64) -> Step {
        self.audit_login(
            Level::Warning,
            user,
            service,
            "deny",
            &format!("reason=throttled until={until}"),
        );
        deny(
            service,
            user,
            DenyReason::Locked,
            &wait_message(until, now),
            &[],
        )
    }

    pub(super) fn locked_out(&self, user: &str, service: &str) -> Step {
        self.audit_login(Level::Warning, user, service, "deny", "reason=locked-out");
        deny(
            service,
            user,
            DenyReason::Locked,
            "the account is locked after too many failed attempts.",
            &[&format!(
                "Ask an administrator to run `mfactl unlock {user}`."
            )],
        )
    }

    /// Starts a login for `facts.user` on `facts.service`.
    pub fn begin(&self, caller: &Caller, facts: &LoginFacts) -> Result<Step, MfaError> {
        self.begin_login(caller, facts, PromptStyle::Separate)
            .map(|(step, _)| step)
    }

    /// Starts a single-prompt login: like [`Daemon::begin`], but a factor is asked for as
    /// one TOTP prompt whose answer ends with the code. Also returns the number of trailing
    /// characters that form the code (0 unless the step is a prompt); the module sends only
    /// those, and hands the rest (the password) to the next module.
    pub fn begin_single_prompt(
        &self,
        caller: &Caller,
        facts: &LoginFacts,
    ) -> Result<(Step, u32), MfaError> {
        self.begin_login(caller, facts, PromptStyle::Single)
    }

    fn begin_login(
        &self,
        caller: &Caller,
        facts: &LoginFacts,
        style: PromptStyle,
    ) -> Result<(Step, u32), MfaError> {
        mfa_core::username::check_user_name(&facts.user)
            .map_err(|e| MfaError::InvalidUser(e.to_string()))?;
        check_service(&facts.service)?;
        check_field("tty", &facts.tty, MAX_FIELD_LEN)?;
        check_field("rhost", &facts.rhost, MAX_FIELD_LEN)?;
        check_field("ruser", &facts.ruser, MAX_FIELD_LEN)?;
        if facts.ssh_auth_info.len() > MAX_AUTH_INFO_LEN {
            return Err(MfaError::InvalidArgument(format!(
                "ssh_auth_info is longer than {MAX_AUTH_INFO_LEN} bytes"
            )));
        }
        caller.may_act_on(&facts.user)?;
        let (user, service) = (facts.user.as_str(), facts.service.as_str());
        let account = match users::lookup(user) {
            Ok(a) => Some(a),
            Err(LookupError::Unknown) => None,
            Err(LookupError::Invalid(e)) => return Err(MfaError::InvalidUser(e.to_string())),
            Err(LookupError::Nss(e)) => {
                self.audit.log(
                    Level::Error,
                    &format!(
                        "login result=deny reason=nss user={} error={e:?}",
                        loggable(user)
                    ),
                );
                return Ok((
                    deny(
                        service,
                        user,
                        DenyReason::Unavailable,
                        "the user database could not be read.",
                        &["Try again later or contact an administrator."],
                    ),
                    0,
                ));
            }
        };
        let user_exists = account.is_some();
        let now = clock::now();
        let d = match self.decide(account.as_ref(), user, service, now) {
            Err(e) => return Ok((self.unavailable(user, service, &e.to_string()), 0)),
            Ok(d) => d,
        };
        let (mode, rule) = (d.mode, &d.rule);
        let methods = match d.verdict {
            Verdict::NotRequired => {
                self.audit_login(
                    Level::Info,
                    user,
                    service,
                    "not-required",
                    &format!("mode={mode} rule={rule:?}"),
                );
                return Ok((
                    Step::new(StepKind::NotRequired {
                        reason: format!("service {service} is {mode} (rule {rule})"),
                    }),
                    0,
                ));
            }
            Verdict::Grace(until) => {
                let date = clock::format_utc(until);
                let from = d.grace.as_ref().map_or("user", |g| g.0.as_str());
                self.audit_login(
                    Level::Warning,
                    user,
                    service,
                    "grace",
                    &format!("reason=not-enrolled until={until} deadline_from={from:?}"),
                );
                let hint = enroll_command(d.allowed.iter().next().unwrap_or(Method::Totp));
                let mut step = Step::new(StepKind::NotRequired {
                    reason: format!("no token yet; enrollment deadline {date}"),
                });
                step.info = vec![
                    format!(
                        "Multi-factor authentication (MFA) will be required for {user} from {date}, and no token is enrolled yet."
                    ),
                    format!("Run `{hint}` now to keep access after that date."),
                ];
                return Ok((step, 0));
            }
            Verdict::DenyNoMethod(expired) => {
                return Ok((self.not_enrolled(&d, user, service, expired), 0));
            }
            Verdict::DenyLocked => return Ok((self.admin_locked(user, service), 0)),
            Verdict::Ask(methods) => methods,
        };
        // The gate applies to unknown names too: they are throttled exactly like real
        // accounts, so being prompted or refused reveals nothing about existence.
        if let Some(refusal) = self.gate_refusal(d.failures, user, service, now) {
            return Ok((refusal, 0));
        }
        // Without SSH_AUTH_INFO_0 (every login that is not sshd after a key) nothing to check.
        if methods.contains(Method::SshSk) && !facts.ssh_auth_info.is_empty() {
            // Trusted from sshd only, or where the admin named the method for the service.
            let trusted = service == SSHD_SERVICE
                || (d.allowed != MethodSet::all() && d.allowed.contains(Method::SshSk));
            if trusted
                && let Some(step) = self.ssh_sk_used(user, service, &facts.ssh_auth_info, now)
            {
                return Ok((step, 0));
            }
        }
        let methods = methods.promptable();
        if methods.is_empty() {
            return Ok((self.only_ssh_sk(user, service), 0));
        }
        match style {
            PromptStyle::Separate => self
                .prompt_for(caller, Purpose::Login, user, service, user_exists, methods)
                .map(|step| (step, 0)),
            PromptStyle::Single => {
                self.single_prompt_for(caller, user, service, user_exists, methods)
            }
        }
    }

    /// `Some(allow)` when `ssh_auth_info` (sshd's `SSH_AUTH_INFO_0`) shows that one of
    /// `user`'s enrolled SSH security keys completed public-key authentication of this
    /// connection (sshd checked its signature and the touch); `Some(deny)` when that cannot
    /// be read; `None` otherwise (the user is prompted for another method).
    fn ssh_sk_used(
        &self,
        user: &str,
        service: &str,
        ssh_auth_info: &str,
        now: u64,
    ) -> Option<Step> {
        let rows = match self.store.ssh_sk_keys(user) {
            Ok(rows) => rows,
            Err(e) => return Some(self.unavailable(user, service, &e.to_string())),
        };
        // A row that no longer parses (it was checked at enrollment) counts for nothing.
        let (ids, enrolled): (Vec<i64>, Vec<SshSkPublicKey>) = rows
            .into_iter()
            .filter_map(|(id, blob)| Some((id, SshSkPublicKey::from_wire_blob(&blob).ok()?)))
            .unzip();
        match enrolled_sk_key_used(ssh_auth_info, &enrolled) {
            SkFactor::Satisfied(key) => {
                // `key` is one of `enrolled`: its position gives its row.
                let id = ids[enrolled.iter().position(|e| std::ptr::eq(e, key))?];
                if let Err(e) = self.store.mark_used(id, now) {
                    return Some(self.unavailable(user, service, &e.to_string()));
                }
                self.audit_login(
                    Level::Notice,
                    user,
                    service,
                    "allow",
                    &format!(
                        "method=ssh-sk token={id} fingerprint={} why=\"sshd verified this enrolled security key\"",
                        key.fingerprint()
                    ),
                );
                Some(Step::new(StepKind::Allow {
                    reason: format!("ssh-sk {id}"),
                }))
            }
            SkFactor::NotSatisfied(miss) => {
                self.audit_login(
                    Level::Info,
                    user,
                    service,
                    "ssh-sk-not-used",
                    &format!("why={:?}", miss.to_string()),
                );
                None
            }
        }
    }

    /// The denial for a user whose only method is an SSH security key that this login did
    /// not use.
    fn only_ssh_sk(&self, user: &str, service: &str) -> Step {
        self.audit_login(
            Level::Notice,
            user,
            service,
            "deny",
            "reason=ssh-sk-not-used",
        );
        deny(
            service,
            user,
            DenyReason::NotEnrolled,
            &format!(
                "{user}'s second factor is an SSH security key, and this login did not use it."
            ),
            &[
                "Log in over SSH with your sk- key (sshd: AuthenticationMethods publickey,keyboard-interactive),",
                &format!(
                    "or enroll a method you can type here: `mfactl enroll totp`, or ask an administrator to run `mfactl enroll totp {user}`."
                ),
            ],
        )
    }

    /// The one prompt of single-prompt mode. It can only carry a TOTP code: a chooser or a
    /// recovery code (whose length varies with how it is typed) cannot be split off a
    /// password reliably.
    fn single_prompt_for(
        &self,
        caller: &Caller,
        user: &str,
        service: &str,
        user_exists: bool,
        methods: MethodSet,
    ) -> Result<(Step, u32), MfaError> {
        let refuse = |why: &str, headline: String, hint: &str| {
            self.audit_login(
                Level::Notice,
                user,
                service,
                "deny",
                &format!("reason={why} prompt=single"),
            );
            deny(service, user, DenyReason::NotEnrolled, &headline, &[hint])
        };
        if !methods.contains(Method::Totp) {
            let step = refuse(
                "single-prompt-needs-totp",
                format!(
                    "{service} takes the password and an authenticator code in one answer, and {user} has no TOTP token to answer with."
                ),
                "Log in through a service that asks for each factor separately, or ask an administrator.",
            );
            return Ok((step, 0));
        }
        let digits = if user_exists {
            match self.store.totp_digits(user) {
                Ok(d) => d,
                Err(e) => return Ok((self.unavailable(user, service, &e.to_string()), 0)),
            }
        } else {
            Vec::new()
        };
        let digits = match digits[..] {
            [] => DEFAULT_CODE_DIGITS,
            [one] => one,
            _ => {
                let step = refuse(
                    "single-prompt-mixed-digits",
                    format!(
                        "{user}'s TOTP tokens have codes of different lengths, so the code cannot be told apart from the password in one answer."
                    ),
                    "Keep tokens of one code length (`mfactl list`), or log in through a service that asks for each factor separately.",
                );
                return Ok((step, 0));
            }
        };
        let flow = Flow {
            owner: caller.sender.clone(),
            user: user.to_owned(),
            service: service.to_owned(),
            user_exists,
            started: Instant::now(),
            purpose: Purpose::Login,
            offered: methods,
            stage: Stage::Code(Method::Totp),
        };
        let id = self.flows.start(flow)?;
        let step = Step::new(StepKind::Prompt {
            flow: id,
            text: SINGLE_PROMPT.into(),
            echo: false,
        });
        Ok((step, digits))
    }

    /// The denial for a user who must give a factor and has none usable here.
    fn not_enrolled(
        &self,
        d: &super::decide::Decision,
        user: &str,
        service: &str,
        expired: Option<u64>,
    ) -> Step {
        let hint_method = d.allowed.iter().next().unwrap_or(Method::Totp);
        let cmd = enroll_command(hint_method);
        let (why, headline) = if !d.enrolled.is_empty() {
            (
                "no-allowed-method".to_owned(),
                format!(
                    "none of {user}'s methods ({}) is allowed on {service}, which accepts: {}.",
                    d.enrolled.names().join(", "),
                    d.allowed.names().join(", ")
                ),
            )
        } else if let Some(until) = expired {
            (
                format!("not-enrolled deadline_passed={until}"),
                format!(
                    "no token is enrolled for {user}, and the deadline to enroll passed on {}.",
                    clock::format_utc(until)
                ),
            )
        } else {
            (
                "not-enrolled".to_owned(),
                format!("no token is enrolled for {user}."),
            )
        };
        let mandate = d.mandate.map_or("none", |m| m.as_str());
        self.audit_login(
            Level::Notice,
            user,
            service,
            "deny",
            &format!(
                "reason={why} mandate={mandate} mode={} rule={:?}",
                d.mode, d.rule
            ),
        );
        deny(
            service,
            user,
            DenyReason::NotEnrolled,
            &headline,
            &[&format!(
                "Run `{cmd}` or ask an administrator to run `{cmd} {user}`."
            )],
        )
    }

    /// Starts the prompts for `methods` (never empty): straight to the code with one, the
    /// chooser with several.
    fn prompt_for(
        &self,
        caller: &Caller,
        purpose: Purpose,
        user: &str,
        service: &str,
        user_exists: bool,
        methods: MethodSet,
    ) -> Result<Step, MfaError> {
        let mut flow = Flow {
            owner: caller.sender.clone(),
            user: user.to_owned(),
            service: service.to_owned(),
            user_exists,
            started: Instant::now(),
            purpose,
            offered: methods,
            stage: Stage::Choose {
                methods,
                invalid: 0,
            },
        };
        match methods.iter().next() {
            Some(only) if methods.len() == 1 => {
                flow.stage = Stage::Code(only);
                self.code_step(flow)
            }
            Some(_) => self.chooser_step(flow, None),
            None => Err(MfaError::Internal("no method to ask for".into())),
        }
    }

    pub(super) fn code_step(&self, flow: Flow) -> Result<Step, MfaError> {
        let Stage::Code(m) = flow.stage else {
            return Err(MfaError::Internal("code step without a method".into()));
        };
        if m == Method::Fido2 {
            return self.fido2_step(flow);
        }
        if m.is_sent_code() {
            return self.sent_code_step(flow, m, false);
        }
        let id = self.flows.start(flow)?;
        Ok(Step::new(StepKind::Prompt {
            flow: id,
            text: code_prompt(m).into(),
            echo: false,
        }))
    }

    pub(super) fn chooser_step(
        &self,
        flow: Flow,
        complaint: Option<String>,
    ) -> Result<Step, MfaError> {
        let Stage::Choose { methods, .. } = flow.stage else {
            return Err(MfaError::Internal("chooser step without methods".into()));
        };
        let mut info: Vec<String> = complaint.into_iter().collect();
        info.push("Choose a second factor (Enter for 1):".to_owned());
        for (i, m) in methods.iter().enumerate() {
            info.push(format!("  {}) {}", i + 1, m.label()));
        }
        let id = self.flows.start(flow)?;
        Ok(Step {
            info,
            kind: StepKind::Prompt {
                flow: id,
                text: CHOOSER_PROMPT.into(),
                echo: true,
            },
        })
    }

    /// Takes the answer to a login flow's prompt.
    pub fn answer(&self, caller: &Caller, flow: &str, answer: &str) -> Result<Step, MfaError> {
        let flow = self.flows.take(flow, &caller.sender)?;
        if flow.purpose != Purpose::Login {
            return Err(MfaError::UnknownFlow(
                "that flow is a step-up; answer it with AnswerStepUp".into(),
            ));
        }
        self.continue_flow(caller, flow, answer)
    }

    /// Takes the answer to a step-up flow's prompt. An `allow` grants the caller's
    /// connection one sensitive change to that user.
    pub fn answer_step_up(
        &self,
        caller: &Caller,
        flow: &str,
        answer: &str,
    ) -> Result<Step, MfaError> {
        let flow = self.flows.take(flow, &caller.sender)?;
        if flow.purpose != Purpose::StepUp {
            return Err(MfaError::UnknownFlow(
                "that flow is a login; answer it with Login1.Answer".into(),
            ));
        }
        self.continue_flow(caller, flow, answer)
    }

    /// Starts a step-up for `user` (empty: the caller): every method they have is offered,
    /// whatever the service policy says.
    pub fn begin_step_up(&self, caller: &Caller, user: &str) -> Result<Step, MfaError> {
        let user = target_user(caller, user)?;
        let account = authorized_account(caller, user)?;
        let user = account.name.as_str();
        let service = "mfactl";
        let snap = self.store.login_snapshot(user, service)?;
        // Email and SMS only where a transport is configured, as at login.
        let methods = snap.methods().promptable().intersect(self.offerable());
        if methods.is_empty() {
            return Err(MfaError::NotEnrolled(format!(
                "{user} has no TOTP token, security key, usable email/SMS address or recovery \
                 code to confirm the change with"
            )));
        }
        if snap.settings.locked_at > 0 {
            return Ok(self.admin_locked(user, service));
        }
        if let Some(refusal) = self.gate_refusal(snap.failures, user, service, clock::now()) {
            return Ok(refusal);
        }
        self.prompt_for(caller, Purpose::StepUp, user, service, true, methods)
    }

    fn continue_flow(&self, caller: &Caller, flow: Flow, answer: &str) -> Result<Step, MfaError> {
        match flow.stage {
            Stage::Choose { methods, invalid } => match parse_choice(answer, methods) {
                Some(m) => {
                    let mut next = flow;
                    next.stage = Stage::Code(m);
                    self.code_step(next)
                }
                None if invalid + 1 >= MAX_INVALID_CHOICES => {
                    self.audit_login(
                        Level::Notice,
                        &flow.user,
                        &flow.service,
                        "deny",
                        "reason=no-method-chosen",
                    );
                    Ok(deny(
                        &flow.service,
                        &flow.user,
                        DenyReason::AuthFailed,
                        "no second factor was chosen.",
                        &[],
                    ))
                }
                None => {
                    let complaint =
                        format!("Please answer with a number from 1 to {}.", methods.len());
                    let mut next = flow;
                    next.stage = Stage::Choose {
                        methods,
                        invalid: invalid + 1,
                    };
                    self.chooser_step(next, Some(complaint))
                }
            },
            // Enter alone at a sent code's prompt asks for a new code.
            Stage::Code(method) if method.is_sent_code() && answer.trim().is_empty() => {
                self.sent_code_step(flow, method, true)
            }
            Stage::Code(method) => {
                let step = self.verify_answer(&flow, method, answer);
                self.after_verification(caller, &flow, &step);
                Ok(step)
            }
            // The flow is used up: a typed answer to a security key step is a client bug.
            Stage::Fido2 { .. } => Err(MfaError::InvalidArgument(
                "that flow waits for a security key; answer it with AnswerFido2".into(),
            )),
        }
    }

    /// A verified step-up grants the caller's connection one change.
    pub(super) fn after_verification(&self, caller: &Caller, flow: &Flow, step: &Step) {
        if flow.purpose == Purpose::StepUp && matches!(step.kind, StepKind::Allow { .. }) {
            self.grant_step_up(caller, &flow.user);
        }
    }

    /// The allow step for a verified factor (and its audit line).
    pub(super) fn allowed(&self, flow: &Flow, method: Method, token_id: i64, extra: &str) -> Step {
        let (user, service) = (flow.user.as_str(), flow.service.as_str());
        let mut info = Vec::new();
        if method == Method::Recovery {
            let left = self.store.recovery_codes_left(user).unwrap_or(0);
            info.push(format!(
                "Recovery code accepted; {left} left. Run `mfactl recovery generate` for a new set{}.",
                if left == 0 { " now" } else { " when few remain" }
            ));
        }
        let event = match flow.purpose {
            Purpose::Login => "allow",
            Purpose::StepUp => "step-up-allow",
        };
        self.audit_login(
            Level::Notice,
            user,
            service,
            event,
            format!("method={method} token={token_id} {extra}").trim_end(),
        );
        Step {
            info,
            kind: StepKind::Allow {
                reason: format!("{method} {token_id}"),
            },
        }
    }

    /// Checks a code for `method` and decides.
    fn verify_answer(&self, flow: &Flow, method: Method, answer: &str) -> Step {
        let (user, service) = (flow.user.as_str(), flow.service.as_str());
        let not_accepted = |extra: &str| {
            self.audit_login(
                Level::Notice,
                user,
                service,
                "deny",
                &format!("method={method} {extra}"),
            );
            deny(
                service,
                user,
                DenyReason::AuthFailed,
                match method {
                    Method::Totp | Method::SshSk | Method::Email | Method::Sms => {
                        "the verification code was not accepted."
                    }
                    Method::Fido2 => "the security key's answer was not accepted.",
                    Method::Recovery => "the recovery code was not accepted.",
                },
                &[],
            )
        };
        let now = clock::now();
        if !flow.user_exists {
            // Count the failure as for a real account (same throttling, no enumeration).
            if let Some(refusal) = self.closed_gate(user, service, now) {
                return refusal;
            }
            return match self.store.record_failure(user, now, &self.limits) {
                Ok(s) => not_accepted(&format!("reason=unknown-user failures={}", s.consecutive)),
                Err(e) => self.unavailable(user, service, &e.to_string()),
            };
        }
        let oversize = answer.len() > MAX_ANSWER_LEN;
        let (result, malformed) = match method {
            Method::SshSk | Method::Fido2 => return not_accepted("reason=not-promptable"),
            Method::Email | Method::Sms => {
                let (result, malformed) = self.verify_sent_code(user, method, answer);
                match result {
                    Ok((VerifyOutcome::Failed(_), true)) => {
                        return self.expired_code(user, service, method);
                    }
                    other => (other.map(|(outcome, _)| outcome), malformed),
                }
            }
            Method::Totp => {
                let code = if oversize {
                    None
                } else {
                    parse_code(answer).ok()
                };
                (
                    self.store
                        .verify_totp(user, code.as_ref(), now, self.window, &self.limits),
                    code.is_none(),
                )
            }
            Method::Recovery => match self.store.recovery_salt(user) {
                Err(e) => (Err(e), false),
                Ok(None) => (Ok(VerifyOutcome::NotEnrolled), false),
                Ok(Some(salt)) => {
                    // The KDF runs here, without the store lock held.
                    let guess = if oversize {
                        None
                    } else {
                        hash_answer(answer, &salt)
                    };
                    (
                        self.store
                            .verify_recovery(user, &salt, guess.as_ref(), now, &self.limits),
                        guess.is_none(),
                    )
                }
            },
        };
        match result {
            Err(e) => self.unavailable(user, service, &e.to_string()),
            Ok(VerifyOutcome::Accepted { token_id }) => self.allowed(flow, method, token_id, ""),
            Ok(VerifyOutcome::Failed(f)) => {
                let detail = if malformed {
                    "malformed"
                } else if f.replayed {
                    "replayed"
                } else {
                    "wrong-code"
                };
                let mut extra = format!(
                    "reason=auth-failed detail={detail} failures={}",
                    f.state.consecutive
                );
                if f.state.locked_until > now {
                    extra.push_str(&format!(" throttled_until={}", f.state.locked_until));
                }
                not_accepted(&extra)
            }
            Ok(VerifyOutcome::Throttled { until }) => self.throttled(user, service, until, now),
            Ok(VerifyOutcome::LockedOut) => self.locked_out(user, service),
            Ok(VerifyOutcome::AdminLocked) => self.admin_locked(user, service),
            Ok(VerifyOutcome::NotEnrolled) => self.no_longer_enrolled(user, service, method),
        }
    }

    /// The denial for a sent code typed after it expired (counted like a wrong code).
    fn expired_code(&self, user: &str, service: &str, method: Method) -> Step {
        self.audit_login(
            Level::Notice,
            user,
            service,
            "deny",
            &format!("method={method} reason=auth-failed detail=expired"),
        );
        deny(
            service,
            user,
            DenyReason::AuthFailed,
            "the code has expired.",
            &["Log in again: a new code is sent when you choose the method."],
        )
    }

    /// The denial when the user's tokens of `method` went away during the login.
    pub(super) fn no_longer_enrolled(&self, user: &str, service: &str, method: Method) -> Step {
        self.audit_login(
            Level::Notice,
            user,
            service,
            "deny",
            &format!("reason=not-enrolled method={method}"),
        );
        deny(
            service,
            user,
            DenyReason::NotEnrolled,
            &format!(
                "{user} has no {} any more.",
                match method {
                    Method::Totp => "TOTP token",
                    Method::Fido2 => "FIDO2 security key",
                    Method::SshSk => "SSH security key",
                    Method::Email => "email address for codes",
                    Method::Sms => "phone number for codes",
                    Method::Recovery => "unused recovery code",
                }
            ),
            &[],
        )
    }

    /// Abandons `flow` (the user cancelled). Unknown flows are ignored.
    pub fn cancel(&self, caller: &Caller, flow: &str) {
        if let Ok(f) = self.flows.take(flow, &caller.sender) {
            self.audit_login(Level::Info, &f.user, &f.service, "cancel", "");
        }
    }

    /// `AnswerRefused`: the module refused the answer to `flow`'s prompt itself (`reason`, a
    /// [`mfa_proto::RefusedAnswer`] code) instead of sending it. Counted as one failure for
    /// the flow's user on the path of a wrong code (the gate first: a closed gate refuses
    /// without counting; unknown users like real ones), audited, and the flow ends with a
    /// denial. Without this, answers the module filters out would let anyone probe the
    /// prompt for free.
    pub fn answer_refused(
        &self,
        caller: &Caller,
        flow: &str,
        reason: &str,
    ) -> Result<Step, MfaError> {
        use crate::store::FailureOutcome;
        use mfa_proto::RefusedAnswer;

        // Checked before the flow is taken: a newer module's reason must not end the flow
        // uncounted (it falls back to Cancel, and the login is refused anyway).
        let why = RefusedAnswer::from_code(reason).ok_or_else(|| {
            MfaError::InvalidArgument(
                "unknown AnswerRefused reason (this mfad knows not-utf8 and too-long)".into(),
            )
        })?;
        let flow = self.flows.take(flow, &caller.sender)?;
        if flow.purpose != Purpose::Login {
            return Err(MfaError::UnknownFlow(
                "that flow is a step-up; AnswerRefused is for logins".into(),
            ));
        }
        let (user, service) = (flow.user.as_str(), flow.service.as_str());
        let (method, headline) = match flow.stage {
            Stage::Code(Method::Recovery) => ("recovery", "the recovery code was not accepted."),
            Stage::Code(m) => (m.as_str(), "the verification code was not accepted."),
            Stage::Fido2 { .. } => ("fido2", "the security key's answer was not accepted."),
            Stage::Choose { .. } => ("none", "the answer was not accepted."),
        };
        let now = clock::now();
        let result = if flow.user_exists {
            self.store.refuse_answer(user, now, &self.limits)
        } else {
            // As in `verify_answer`: throttled and counted exactly like a real account.
            if let Some(refusal) = self.closed_gate(user, service, now) {
                return Ok(refusal);
            }
            self.store
                .record_failure(user, now, &self.limits)
                .map(|state| {
                    VerifyOutcome::Failed(FailureOutcome {
                        replayed: false,
                        state,
                    })
                })
        };
        match result {
            Err(e) => Ok(self.unavailable(user, service, &e.to_string())),
            Ok(VerifyOutcome::Failed(f)) => {
                let mut extra = format!(
                    "method={method} reason=answer-refused detail={} failures={}",
                    why.code(),
                    f.state.consecutive
                );
                if f.state.locked_until > now {
                    extra.push_str(&format!(" throttled_until={}", f.state.locked_until));
                }
                extra.push_str(&format!(
                    " why=\"answer refused by the module: {}\"",
                    why.describe()
                ));
                self.audit_login(Level::Notice, user, service, "deny", &extra);
                Ok(deny(
                    service,
                    user,
                    DenyReason::AuthFailed,
                    headline,
                    &[why.hint()],
                ))
            }
            Ok(VerifyOutcome::Throttled { until }) => Ok(self.throttled(user, service, until, now)),
            Ok(VerifyOutcome::LockedOut) => Ok(self.locked_out(user, service)),
            Ok(VerifyOutcome::AdminLocked) => Ok(self.admin_locked(user, service)),
            // `refuse_answer` checks no factor: anything else is a bug, refused.
            Ok(other) => Err(MfaError::Internal(format!(
                "counting a refused answer gave {other:?}"
            ))),
        }
    }
}
