//! The flow driven by a scripted conversation and a scripted daemon.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use std::collections::VecDeque;

use mfa_fido_client::{Authenticator, ClientError, GetAssertionRequest, GetAssertionResponse};
use mfa_proto::{DenyReason, LoginFacts, MAX_ANSWER_LEN, MfaError, Step, StepKind, WireStep};
use pamsm::PamError;
use zeroize::Zeroizing;

use super::*;

/// What the user saw and typed.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Shown {
    Prompt(String, bool),
    Info(String),
    Error(String),
}

#[derive(Default)]
pub(super) struct ScriptedIo {
    pub(super) answers: VecDeque<Result<String, ConvError>>,
    pub(super) shown: Vec<Shown>,
    /// `PAM_AUTHTOK` (single-prompt mode).
    pub(super) authtok: Option<Result<String, ConvError>>,
    /// Whether storing `PAM_AUTHTOK` fails.
    pub(super) authtok_refused: bool,
}

impl ScriptedIo {
    pub(super) fn answering(answers: impl IntoIterator<Item = Result<String, ConvError>>) -> Self {
        ScriptedIo {
            answers: answers.into_iter().collect(),
            ..ScriptedIo::default()
        }
    }

    pub(super) fn errors(&self) -> Vec<&str> {
        self.shown
            .iter()
            .filter_map(|s| match s {
                Shown::Error(t) => Some(t.as_str()),
                _ => None,
            })
            .collect()
    }
}

impl single::PasswordItem for ScriptedIo {
    fn password(&mut self) -> Result<Option<Zeroizing<String>>, ConvError> {
        match &self.authtok {
            None => Ok(None),
            Some(Ok(text)) => Ok(Some(Zeroizing::new(text.clone()))),
            Some(Err(e)) => Err(*e),
        }
    }

    fn set_password(&mut self, password: &str) -> Result<(), PamError> {
        if self.authtok_refused {
            return Err(PamError::BUF_ERR);
        }
        self.authtok = Some(Ok(password.to_owned()));
        Ok(())
    }
}

impl PamIo for ScriptedIo {
    fn prompt(&mut self, text: &str, echo: bool) -> Result<Zeroizing<String>, ConvError> {
        self.shown.push(Shown::Prompt(text.to_owned(), echo));
        let answer = self
            .answers
            .pop_front()
            .expect("the flow prompted more than scripted");
        answer.map(Zeroizing::new)
    }

    fn info(&mut self, text: &str) {
        self.shown.push(Shown::Info(text.to_owned()));
    }

    fn error(&mut self, text: &str) {
        self.shown.push(Shown::Error(text.to_owned()));
    }
}

/// What the daemon was asked.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Call {
    Begin(String),
    BeginSinglePrompt(String),
    Answer(String, String),
    Cancel(String),
    Fido2Request(String),
    /// Flow, credential ID, authenticator data, signature.
    AnswerFido2(String, Vec<u8>, Vec<u8>, Vec<u8>),
    Fido2Unavailable(String, String),
    /// Flow, reason code.
    AnswerRefused(String, String),
}

#[derive(Default)]
pub(super) struct ScriptedDaemon {
    pub(super) replies: VecDeque<Result<WireStep, MfaError>>,
    pub(super) calls: Vec<Call>,
    /// The code length `BeginSinglePrompt` returns.
    pub(super) code_chars: u32,
    /// What `Fido2Request` returns (an error when `None`).
    pub(super) fido2_request: Option<fido2::Fido2Request>,
    /// What `AnswerRefused` returns; `None`: a denial whose message names the reason.
    pub(super) refused_reply: Option<Result<WireStep, MfaError>>,
}

impl ScriptedDaemon {
    pub(super) fn replying(replies: impl IntoIterator<Item = Result<WireStep, MfaError>>) -> Self {
        ScriptedDaemon {
            replies: replies.into_iter().collect(),
            ..ScriptedDaemon::default()
        }
    }

    fn next(&mut self) -> Result<WireStep, MfaError> {
        self.replies
            .pop_front()
            .expect("the flow called the daemon more than scripted")
    }

    pub(super) fn cancels(&self) -> Vec<&str> {
        self.calls
            .iter()
            .filter_map(|c| match c {
                Call::Cancel(f) => Some(f.as_str()),
                _ => None,
            })
            .collect()
    }
}

impl Daemon for ScriptedDaemon {
    async fn begin(&mut self, facts: &LoginFacts) -> Result<WireStep, MfaError> {
        self.calls.push(Call::Begin(facts.user.clone()));
        self.next()
    }

    async fn begin_single_prompt(
        &mut self,
        facts: &LoginFacts,
    ) -> Result<(WireStep, u32), MfaError> {
        self.calls.push(Call::BeginSinglePrompt(facts.user.clone()));
        self.next().map(|step| (step, self.code_chars))
    }

    async fn answer(&mut self, flow: &str, answer: &str) -> Result<WireStep, MfaError> {
        self.calls
            .push(Call::Answer(flow.to_owned(), answer.to_owned()));
        self.next()
    }

    async fn cancel(&mut self, flow: &str) {
        self.calls.push(Call::Cancel(flow.to_owned()));
    }

    async fn fido2_request(&mut self, flow: &str) -> Result<fido2::Fido2Request, MfaError> {
        self.calls.push(Call::Fido2Request(flow.to_owned()));
        self.fido2_request
            .clone()
            .ok_or_else(|| MfaError::UnknownFlow("expired".into()))
    }

    async fn answer_fido2(
        &mut self,
        flow: &str,
        credential_id: &[u8],
        authenticator_data: &[u8],
        signature: &[u8],
    ) -> Result<WireStep, MfaError> {
        self.calls.push(Call::AnswerFido2(
            flow.to_owned(),
            credential_id.to_vec(),
            authenticator_data.to_vec(),
            signature.to_vec(),
        ));
        self.next()
    }

    async fn fido2_unavailable(&mut self, flow: &str, reason: &str) -> Result<WireStep, MfaError> {
        self.calls
            .push(Call::Fido2Unavailable(flow.to_owned(), reason.to_owned()));
        self.next()
    }

    async fn answer_refused(&mut self, flow: &str, reason: &str) -> Result<WireStep, MfaError> {
        self.calls
            .push(Call::AnswerRefused(flow.to_owned(), reason.to_owned()));
        self.refused_reply
            .clone()
            .unwrap_or_else(|| deny(DenyReason::AuthFailed, &format!("counted: {reason}")))
    }
}

/// A security key as a script: answers each get_assertion with the next result, and
/// records what it was asked (the PIN included, to check where it went).
#[derive(Default)]
pub(super) struct ScriptedKey {
    pub(super) results: std::cell::RefCell<VecDeque<Result<GetAssertionResponse, ClientError>>>,
    pub(super) requests: std::cell::RefCell<Vec<GetAssertionRequest>>,
}

impl ScriptedKey {
    pub(super) fn answering(
        results: impl IntoIterator<Item = Result<GetAssertionResponse, ClientError>>,
    ) -> Self {
        ScriptedKey {
            results: std::cell::RefCell::new(results.into_iter().collect()),
            ..ScriptedKey::default()
        }
    }
}

impl Authenticator for ScriptedKey {
    fn make_credential(
        &self,
        _: &mfa_fido_client::MakeCredentialRequest,
    ) -> Result<mfa_fido_client::MakeCredentialResponse, ClientError> {
        panic!("the module never enrolls")
    }

    fn get_assertion(
        &self,
        request: &GetAssertionRequest,
    ) -> Result<GetAssertionResponse, ClientError> {
        self.requests.borrow_mut().push(request.clone());
        self.results
            .borrow_mut()
            .pop_front()
            .expect("the flow used the key more than scripted")
    }
}

pub(super) fn facts() -> LoginFacts {
    LoginFacts {
        user: "alice".into(),
        service: "sshd".into(),
        ..LoginFacts::default()
    }
}

pub(super) fn prompt(flow: &str, text: &str) -> Result<WireStep, MfaError> {
    Ok(Step::new(StepKind::Prompt {
        flow: flow.into(),
        text: text.into(),
        echo: false,
    })
    .into())
}

pub(super) fn allow() -> Result<WireStep, MfaError> {
    Ok(Step::new(StepKind::Allow {
        reason: "totp".into(),
    })
    .into())
}

pub(super) fn deny(reason: DenyReason, message: &str) -> Result<WireStep, MfaError> {
    Ok(Step::new(StepKind::Deny {
        reason,
        message: message.into(),
    })
    .into())
}

fn run_flow(io: &mut ScriptedIo, daemon: &mut ScriptedDaemon) -> Outcome {
    // No fido2 step in these scripts: a key that is never used.
    zbus::block_on(run(&facts(), io, daemon, &ScriptedKey::default()))
}

#[test]
fn given_a_correct_code_then_allow_becomes_success() {
    let mut io = ScriptedIo::answering([Ok("123456".into())]);
    let mut daemon = ScriptedDaemon::replying([prompt("f1", "Verification code: "), allow()]);
    let outcome = run_flow(&mut io, &mut daemon);
    assert_eq!(
        outcome,
        Outcome::Allow {
            reason: "totp".into()
        }
    );
    assert_eq!(outcome.code(), PamError::SUCCESS);
    assert_eq!(
        daemon.calls,
        [
            Call::Begin("alice".into()),
            Call::Answer("f1".into(), "123456".into())
        ]
    );
    assert_eq!(
        io.shown,
        [Shown::Prompt("Verification code: ".into(), false)]
    );
}

#[test]
fn given_an_echo_prompt_then_the_answer_may_be_echoed() {
    let mut io = ScriptedIo::answering([Ok("1".into())]);
    let step = Step::new(StepKind::Prompt {
        flow: "f".into(),
        text: "Choose: ".into(),
        echo: true,
    });
    let mut daemon = ScriptedDaemon::replying([Ok(step.into()), allow()]);
    let _ = run_flow(&mut io, &mut daemon);
    assert_eq!(io.shown, [Shown::Prompt("Choose: ".into(), true)]);
}

#[test]
fn given_not_required_then_ignore_and_no_prompt() {
    let mut io = ScriptedIo::default();
    let mut daemon = ScriptedDaemon::replying([Ok(Step::new(StepKind::NotRequired {
        reason: "service not covered".into(),
    })
    .into())]);
    let outcome = run_flow(&mut io, &mut daemon);
    assert_eq!(outcome.code(), PamError::IGNORE);
    assert!(io.shown.is_empty());
}

#[test]
fn each_deny_reason_maps_to_its_code_and_shows_the_message_as_an_error() {
    for (reason, code) in [
        (DenyReason::AuthFailed, PamError::AUTH_ERR),
        (DenyReason::NotEnrolled, PamError::AUTH_ERR),
        (DenyReason::Locked, PamError::AUTH_ERR),
        (DenyReason::UserUnknown, PamError::USER_UNKNOWN),
        (DenyReason::Unavailable, PamError::AUTHINFO_UNAVAIL),
    ] {
        let mut io = ScriptedIo::answering([Ok("000000".into())]);
        let mut daemon =
            ScriptedDaemon::replying([prompt("f", "Code: "), deny(reason, "Access denied\nWhy")]);
        let outcome = run_flow(&mut io, &mut daemon);
        assert_eq!(outcome, Outcome::Deny { reason });
        assert_eq!(outcome.code(), code, "{reason:?}");
        assert_eq!(io.errors(), ["Access denied\nWhy"], "{reason:?}");
    }
}

#[test]
fn given_a_deny_right_away_then_no_prompt_is_shown() {
    let mut io = ScriptedIo::default();
    let mut daemon = ScriptedDaemon::replying([deny(DenyReason::NotEnrolled, "no token")]);
    assert_eq!(run_flow(&mut io, &mut daemon).code(), PamError::AUTH_ERR);
    assert_eq!(io.shown, [Shown::Error("no token".into())]);
}

#[test]
fn info_lines_are_shown_before_acting_on_each_step() {
    let mut io = ScriptedIo::answering([Ok("123456".into())]);
    let first = Step {
        info: vec!["Your token expires soon.".into(), "Second line".into()],
        kind: StepKind::Prompt {
            flow: "f".into(),
            text: "Code: ".into(),
            echo: false,
        },
    };
    let last = Step {
        info: vec!["Welcome.".into()],
        kind: StepKind::Allow {
            reason: "totp".into(),
        },
    };
    let mut daemon = ScriptedDaemon::replying([Ok(first.into()), Ok(last.into())]);
    assert_eq!(run_flow(&mut io, &mut daemon).code(), PamError::SUCCESS);
    assert_eq!(
        io.shown,
        [
            Shown::Info("Your token expires soon.".into()),
            Shown::Info("Second line".into()),
            Shown::Prompt("Code: ".into(), false),
            Shown::Info("Welcome.".into()),
        ]
    );
}

#[test]
fn given_a_conversation_error_then_conv_err_and_the_flow_is_cancelled() {
    for error in [ConvError::Failed(PamError::CONV_ERR), ConvError::NoAnswer] {
        let mut io = ScriptedIo::answering([Err(error)]);
        let mut daemon = ScriptedDaemon::replying([prompt("f9", "Code: ")]);
        let outcome = run_flow(&mut io, &mut daemon);
        assert_eq!(outcome.code(), PamError::CONV_ERR);
        assert_eq!(
            daemon.calls,
            [Call::Begin("alice".into()), Call::Cancel("f9".into())]
        );
    }
}

#[test]
fn given_a_conversation_error_on_the_second_prompt_then_the_new_flow_is_cancelled() {
    let mut io = ScriptedIo::answering([Ok("1".into()), Err(ConvError::Failed(PamError::ABORT))]);
    let mut daemon = ScriptedDaemon::replying([prompt("a", "Choose: "), prompt("b", "Code: ")]);
    assert_eq!(run_flow(&mut io, &mut daemon).code(), PamError::CONV_ERR);
    assert_eq!(daemon.cancels(), ["b"]);
}

#[test]
fn given_a_non_utf8_answer_then_it_is_reported_as_refused_not_sent_and_the_denial_shown() {
    let mut io = ScriptedIo::answering([Err(ConvError::NotUtf8)]);
    let mut daemon = ScriptedDaemon::replying([prompt("f", "Code: ")]);
    daemon.refused_reply = Some(deny(DenyReason::AuthFailed, "Access denied\nnot UTF-8"));
    let outcome = run_flow(&mut io, &mut daemon);
    assert_eq!(
        outcome,
        Outcome::BadAnswer {
            why: BadAnswer::NotUtf8
        }
    );
    assert_eq!(outcome.code(), PamError::AUTH_ERR);
    assert_eq!(io.errors(), ["Access denied\nnot UTF-8"]);
    // Reported (so mfad counts it), not answered, and not cancelled: the daemon ended it.
    assert_eq!(
        daemon.calls,
        [
            Call::Begin("alice".into()),
            Call::AnswerRefused("f".into(), "not-utf8".into())
        ]
    );
    assert!(
        outcome.describe().contains("failed attempt"),
        "{}",
        outcome.describe()
    );
}

#[test]
fn given_an_overlong_answer_then_it_is_reported_as_too_long_and_not_sent() {
    let mut io = ScriptedIo::answering([Ok("1".repeat(MAX_ANSWER_LEN + 1))]);
    let mut daemon = ScriptedDaemon::replying([prompt("f", "Code: ")]);
    let outcome = run_flow(&mut io, &mut daemon);
    assert_eq!(
        outcome,
        Outcome::BadAnswer {
            why: BadAnswer::TooLong
        }
    );
    assert_eq!(outcome.code(), PamError::AUTH_ERR);
    assert_eq!(io.errors(), ["counted: too-long"]);
    assert_eq!(
        daemon.calls,
        [
            Call::Begin("alice".into()),
            Call::AnswerRefused("f".into(), "too-long".into())
        ]
    );
}

#[test]
fn given_the_daemon_cannot_take_a_refused_answer_then_the_module_says_why_and_cancels() {
    // mfad down, or an older mfad without AnswerRefused: still AUTH_ERR, with a message.
    for (answer, hint) in [
        (Err(ConvError::NotUtf8), NOT_UTF8_MESSAGE),
        (Ok("9".repeat(MAX_ANSWER_LEN + 1)), TOO_LONG_MESSAGE),
    ] {
        let mut io = ScriptedIo::answering([answer]);
        let mut daemon = ScriptedDaemon::replying([prompt("f", "Code: ")]);
        daemon.refused_reply = Some(Err(bus_down()));
        let outcome = run_flow(&mut io, &mut daemon);
        assert_eq!(outcome.code(), PamError::AUTH_ERR, "{hint}");
        assert_eq!(io.errors().len(), 1);
        assert!(
            io.errors()[0].starts_with("Access denied\n"),
            "{:?}",
            io.errors()
        );
        assert!(io.errors()[0].contains("the verification code was not accepted."));
        assert!(io.errors()[0].ends_with(hint), "{:?}", io.errors());
        assert_eq!(daemon.cancels(), ["f"]);
    }
}

#[test]
fn given_a_refused_answer_when_the_daemon_denies_otherwise_then_its_reason_decides_the_code() {
    for (reason, code) in [
        (DenyReason::Locked, PamError::AUTH_ERR),
        (DenyReason::Unavailable, PamError::AUTHINFO_UNAVAIL),
    ] {
        let mut io = ScriptedIo::answering([Err(ConvError::NotUtf8)]);
        let mut daemon = ScriptedDaemon::replying([prompt("f", "Code: ")]);
        daemon.refused_reply = Some(deny(reason, "Access denied\ntoo many failed attempts"));
        let outcome = run_flow(&mut io, &mut daemon);
        assert_eq!(outcome, Outcome::Deny { reason });
        assert_eq!(outcome.code(), code);
        assert_eq!(io.errors(), ["Access denied\ntoo many failed attempts"]);
    }
    // An empty denial message: the module's own is shown instead.
    let mut io = ScriptedIo::answering([Err(ConvError::NotUtf8)]);
    let mut daemon = ScriptedDaemon::replying([prompt("f", "Code: ")]);
    daemon.refused_reply = Some(deny(DenyReason::AuthFailed, ""));
    let _ = run_flow(&mut io, &mut daemon);
    assert_eq!(io.errors().len(), 1);
    assert!(
        io.errors()[0].ends_with(NOT_UTF8_MESSAGE),
        "{:?}",
        io.errors()
    );
}

#[test]
fn given_a_refused_answer_when_the_daemon_does_not_deny_then_never_success() {
    let next = Step::new(StepKind::Prompt {
        flow: "g".into(),
        text: "Code: ".into(),
        echo: false,
    });
    let not_required = Step::new(StepKind::NotRequired { reason: "x".into() });
    for (reply, cancels) in [
        (allow(), vec![]),
        (Ok(not_required.into()), vec![]),
        (Ok(next.into()), vec!["g"]),
        (Ok(WireStep::default()), vec![]),
    ] {
        let mut io = ScriptedIo::answering([Err(ConvError::NotUtf8)]);
        let mut daemon = ScriptedDaemon::replying([prompt("f", "Code: ")]);
        daemon.refused_reply = Some(reply.clone());
        let outcome = run_flow(&mut io, &mut daemon);
        assert_eq!(outcome.code(), PamError::SERVICE_ERR, "{reply:?}");
        assert_eq!(io.errors().len(), 1, "{reply:?}: the user is told");
        // A new flow the daemon opened is cancelled; the refused one is the daemon's to end.
        assert_eq!(daemon.cancels(), cancels, "{reply:?}");
    }
}

#[test]
fn an_answer_of_exactly_the_maximum_length_is_sent() {
    let longest = "é".repeat(MAX_ANSWER_LEN / 2);
    assert_eq!(longest.len(), MAX_ANSWER_LEN);
    let mut io = ScriptedIo::answering([Ok(longest.clone())]);
    let mut daemon = ScriptedDaemon::replying([prompt("f", "Code: "), allow()]);
    assert_eq!(run_flow(&mut io, &mut daemon).code(), PamError::SUCCESS);
    assert_eq!(daemon.calls[1], Call::Answer("f".into(), longest));
}

#[test]
fn an_empty_answer_is_sent_the_daemon_decides_what_it_means() {
    let mut io = ScriptedIo::answering([Ok(String::new()), Ok("123456".into())]);
    let mut daemon =
        ScriptedDaemon::replying([prompt("f", "Code: "), prompt("g", "Code: "), allow()]);
    assert_eq!(run_flow(&mut io, &mut daemon).code(), PamError::SUCCESS);
    assert_eq!(daemon.calls[1], Call::Answer("f".into(), String::new()));
}

fn bus_down() -> MfaError {
    MfaError::ZBus(zbus::Error::InputOutput(std::sync::Arc::new(
        std::io::Error::from(std::io::ErrorKind::NotFound),
    )))
}

#[test]
fn given_the_daemon_is_unreachable_then_authinfo_unavail_with_the_standard_message() {
    let mut io = ScriptedIo::default();
    let mut daemon = ScriptedDaemon::replying([Err(bus_down())]);
    let outcome = run_flow(&mut io, &mut daemon);
    assert_eq!(outcome.code(), PamError::AUTHINFO_UNAVAIL);
    assert_eq!(outcome.severity(), Severity::Error);
    let expected = mfa_proto::message::access_denied(
        "sshd",
        "alice",
        "the MFA service (mfad) is not reachable.",
        &["Try again later or contact an administrator."],
    );
    assert_eq!(io.errors(), [expected.as_str()]);
    assert!(
        outcome.describe().contains("not usable"),
        "{}",
        outcome.describe()
    );
}

#[test]
fn given_the_daemon_fails_after_an_answer_then_authinfo_unavail() {
    let mut io = ScriptedIo::answering([Ok("123456".into())]);
    let mut daemon = ScriptedDaemon::replying([prompt("f", "Code: "), Err(bus_down())]);
    assert_eq!(
        run_flow(&mut io, &mut daemon).code(),
        PamError::AUTHINFO_UNAVAIL
    );
    assert_eq!(io.errors().len(), 1);
}

#[test]
fn daemon_errors_never_become_success_or_ignore() {
    let cases = [
        (MfaError::Storage("db".into()), PamError::AUTHINFO_UNAVAIL),
        (MfaError::Internal("bug".into()), PamError::AUTHINFO_UNAVAIL),
        (MfaError::UnknownUser("who".into()), PamError::USER_UNKNOWN),
        (MfaError::InvalidUser("bad".into()), PamError::USER_UNKNOWN),
        (
            MfaError::AccessDenied("uid 1000".into()),
            PamError::AUTH_ERR,
        ),
        (MfaError::InvalidArgument("long".into()), PamError::AUTH_ERR),
        (MfaError::UnknownFlow("expired".into()), PamError::AUTH_ERR),
        (
            MfaError::RateLimited("try at 10:00".into()),
            PamError::AUTH_ERR,
        ),
        (MfaError::CodeRejected("no".into()), PamError::AUTH_ERR),
        (MfaError::Undeliverable("smtp".into()), PamError::AUTH_ERR),
        (MfaError::UnknownToken("x".into()), PamError::AUTH_ERR),
        (MfaError::UnknownEnrollment("x".into()), PamError::AUTH_ERR),
        (MfaError::AlreadyExists("x".into()), PamError::AUTH_ERR),
    ];
    for (error, code) in cases {
        let mut io = ScriptedIo::default();
        let mut daemon = ScriptedDaemon::replying([Err(error.clone())]);
        let outcome = run_flow(&mut io, &mut daemon);
        assert_eq!(outcome.code(), code, "{error:?}");
        assert_eq!(io.errors().len(), 1, "{error:?}: the user is told");
    }
}

#[test]
fn a_rate_limit_message_from_the_daemon_reaches_the_user() {
    let mut io = ScriptedIo::default();
    let mut daemon =
        ScriptedDaemon::replying([Err(MfaError::RateLimited("Try again at 10:00.".into()))]);
    let _ = run_flow(&mut io, &mut daemon);
    assert!(
        io.errors()[0].contains("Try again at 10:00."),
        "{:?}",
        io.errors()
    );
}

#[test]
fn given_a_malformed_first_step_then_service_err() {
    let mut io = ScriptedIo::default();
    let bogus = WireStep {
        kind: "allow-all".into(),
        ..WireStep::default()
    };
    let mut daemon = ScriptedDaemon::replying([Ok(bogus)]);
    let outcome = run_flow(&mut io, &mut daemon);
    assert_eq!(outcome.code(), PamError::SERVICE_ERR);
    assert!(io.shown.is_empty());
    assert!(daemon.cancels().is_empty());
}

#[test]
fn given_a_malformed_step_after_an_answer_then_service_err_and_the_flow_is_cancelled() {
    let mut io = ScriptedIo::answering([Ok("123456".into())]);
    let flowless = WireStep {
        kind: "prompt".into(),
        text: "Code: ".into(),
        ..WireStep::default()
    };
    let mut daemon = ScriptedDaemon::replying([prompt("f", "Code: "), Ok(flowless)]);
    let outcome = run_flow(&mut io, &mut daemon);
    assert_eq!(outcome.code(), PamError::SERVICE_ERR);
    assert_eq!(daemon.cancels(), ["f"]);
}

#[test]
fn eight_prompts_are_allowed() {
    let mut io = ScriptedIo::answering((0..MAX_PROMPTS).map(|i| Ok(i.to_string())));
    let mut replies: Vec<_> = (0..MAX_PROMPTS)
        .map(|i| prompt(&format!("f{i}"), "Code: "))
        .collect();
    replies.push(allow());
    let mut daemon = ScriptedDaemon::replying(replies);
    assert_eq!(run_flow(&mut io, &mut daemon).code(), PamError::SUCCESS);
}

#[test]
fn given_nine_prompts_in_a_row_then_not_success_and_the_ninth_is_not_shown() {
    let mut io = ScriptedIo::answering((0..MAX_PROMPTS).map(|i| Ok(i.to_string())));
    let replies: Vec<_> = (0..=MAX_PROMPTS)
        .map(|i| prompt(&format!("f{i}"), "Code: "))
        .collect();
    let mut daemon = ScriptedDaemon::replying(replies);
    let outcome = run_flow(&mut io, &mut daemon);
    assert_eq!(outcome.code(), PamError::SERVICE_ERR);
    let prompts = io
        .shown
        .iter()
        .filter(|s| matches!(s, Shown::Prompt(..)))
        .count();
    assert_eq!(prompts, MAX_PROMPTS);
    assert_eq!(daemon.cancels(), ["f8"]);
}

#[test]
fn only_allow_is_success_and_only_not_required_is_ignore() {
    let outcomes = [
        Outcome::Deny {
            reason: DenyReason::AuthFailed,
        },
        Outcome::DaemonError { error: bus_down() },
        Outcome::Conversation {
            error: ConvError::NoAnswer,
        },
        Outcome::BadAnswer {
            why: BadAnswer::TooLong,
        },
        Outcome::Protocol { detail: "x".into() },
    ];
    for o in outcomes {
        assert!(
            ![PamError::SUCCESS, PamError::IGNORE].contains(&o.code()),
            "{o:?}"
        );
    }
}

#[test]
fn log_lines_never_contain_the_answer() {
    let secret = "987654";
    let mut io = ScriptedIo::answering([Ok(secret.into())]);
    let mut daemon =
        ScriptedDaemon::replying([prompt("f", "Code: "), deny(DenyReason::AuthFailed, "")]);
    let outcome = run_flow(&mut io, &mut daemon);
    assert!(!outcome.describe().contains(secret));
    assert!(!format!("{outcome:?}").contains(secret));
    // An empty deny message is not shown as an empty error line.
    assert!(io.errors().is_empty());
}

#[test]
fn daemon_text_in_log_lines_is_escaped() {
    let outcome = Outcome::Allow {
        reason: "totp\nFAKE LINE".into(),
    };
    assert_eq!(outcome.describe(), "allowed (totp\\nFAKE LINE)");
}

#[test]
fn the_documented_return_codes_are_exactly_the_ones_outcomes_map_to() {
    let mut outcomes = vec![
        Outcome::Allow {
            reason: "ok".into(),
        },
        Outcome::NotRequired {
            reason: "rule".into(),
        },
        Outcome::Conversation {
            error: ConvError::NoAnswer,
        },
        Outcome::BadAnswer {
            why: BadAnswer::TooLong,
        },
        Outcome::Protocol {
            detail: "bad step".into(),
        },
    ];
    for reason in [
        DenyReason::AuthFailed,
        DenyReason::NotEnrolled,
        DenyReason::Locked,
        DenyReason::UserUnknown,
        DenyReason::Unavailable,
    ] {
        outcomes.push(Outcome::Deny { reason });
    }
    for error in [
        MfaError::Storage("db".into()),
        MfaError::UnknownUser("who".into()),
        MfaError::CodeRejected("no".into()),
    ] {
        outcomes.push(Outcome::DaemonError { error });
    }
    let name = |code: PamError| format!("{code:?}");
    let produced: std::collections::BTreeSet<String> =
        outcomes.iter().map(|o| name(o.code())).collect();
    let documented: std::collections::BTreeSet<String> =
        RETURN_CODES.iter().map(|(code, _)| name(*code)).collect();
    assert_eq!(
        documented.len(),
        RETURN_CODES.len(),
        "a code is listed twice"
    );
    assert_eq!(
        documented, produced,
        "RETURN_CODES and Outcome::code disagree"
    );
}
