//! The fido2 step driven by a scripted conversation, daemon and security key.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use mfa_fido_client::{ClientError, GetAssertionResponse};
use mfa_proto::{DenyReason, FIDO2_TOUCH_TEXT, MfaError, Step, StepKind, WireStep};
use pamsm::PamError;

use super::super::tests::{
    Call, ScriptedDaemon, ScriptedIo, ScriptedKey, Shown, allow, deny, facts, prompt,
};
use super::super::{ConvError, MAX_PROMPTS, Outcome, run};
use super::{Fido2Request, MAX_PIN_TRIES, PIN_PROMPT};

fn fido2(flow: &str) -> Result<WireStep, MfaError> {
    Ok(Step::new(StepKind::Fido2 {
        flow: flow.into(),
        text: FIDO2_TOUCH_TEXT.into(),
    })
    .into())
}

fn request(uv: bool) -> Fido2Request {
    Fido2Request {
        rp_id: "pam_mfa://host".into(),
        challenge: vec![0x5a; 32],
        credential_ids: vec![vec![1], vec![2, 2]],
        user_verification: uv,
    }
}

fn signed() -> Result<GetAssertionResponse, ClientError> {
    Ok(GetAssertionResponse {
        credential_id: vec![2, 2],
        auth_data: vec![0xad; 37],
        signature: vec![0x30, 0x44],
    })
}

fn daemon(
    uv: bool,
    replies: impl IntoIterator<Item = Result<WireStep, MfaError>>,
) -> ScriptedDaemon {
    ScriptedDaemon {
        fido2_request: Some(request(uv)),
        ..ScriptedDaemon::replying(replies)
    }
}

fn run_with(io: &mut ScriptedIo, d: &mut ScriptedDaemon, key: &ScriptedKey) -> Outcome {
    zbus::block_on(run(&facts(), io, d, key))
}

#[test]
fn a_touch_is_sent_to_the_daemon_and_its_allow_becomes_success() {
    let mut io = ScriptedIo::default();
    let mut d = daemon(false, [fido2("k"), allow()]);
    let key = ScriptedKey::answering([signed()]);
    let outcome = run_with(&mut io, &mut d, &key);
    assert_eq!(outcome.code(), PamError::SUCCESS);
    assert_eq!(io.shown, [Shown::Info(FIDO2_TOUCH_TEXT.into())]);
    assert_eq!(
        d.calls,
        [
            Call::Begin("alice".into()),
            Call::Fido2Request("k".into()),
            Call::AnswerFido2("k".into(), vec![2, 2], vec![0xad; 37], vec![0x30, 0x44]),
        ]
    );
    let asked = key.requests.borrow();
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].rp_id, "pam_mfa://host");
    assert_eq!(asked[0].challenge, vec![0x5a; 32]);
    assert_eq!(asked[0].allow_credentials, vec![vec![1], vec![2, 2]]);
    assert!(asked[0].pin.is_none() && !asked[0].require_uv);
}

#[test]
fn with_user_verification_the_pin_is_asked_hidden_and_goes_to_the_key_only() {
    let mut io = ScriptedIo::answering([Ok("8642".into())]);
    let mut d = daemon(true, [fido2("k"), allow()]);
    let key = ScriptedKey::answering([signed()]);
    assert_eq!(run_with(&mut io, &mut d, &key).code(), PamError::SUCCESS);
    assert_eq!(
        io.shown,
        [
            Shown::Prompt(PIN_PROMPT.into(), false),
            Shown::Info(FIDO2_TOUCH_TEXT.into()),
        ]
    );
    let asked = key.requests.borrow();
    assert_eq!(asked[0].pin.as_deref().map(String::as_str), Some("8642"));
    assert!(asked[0].require_uv);
    assert!(
        !format!("{:?}", d.calls).contains("8642"),
        "the PIN reached the daemon: {:?}",
        d.calls
    );
}

#[test]
fn an_empty_pin_lets_the_key_verify_the_user_itself() {
    let mut io = ScriptedIo::answering([Ok(String::new())]);
    let mut d = daemon(true, [fido2("k"), allow()]);
    let key = ScriptedKey::answering([signed()]);
    assert_eq!(run_with(&mut io, &mut d, &key).code(), PamError::SUCCESS);
    let asked = key.requests.borrow();
    assert!(asked[0].pin.is_none() && asked[0].require_uv);
}

#[test]
fn a_wrong_pin_is_asked_again_a_bounded_number_of_times() {
    // Wrong, wrong, right.
    let mut io = ScriptedIo::answering([Ok("1".into()), Ok("2".into()), Ok("3".into())]);
    let mut d = daemon(true, [fido2("k"), allow()]);
    let key = ScriptedKey::answering([
        Err(ClientError::PinInvalid),
        Err(ClientError::PinInvalid),
        signed(),
    ]);
    assert_eq!(run_with(&mut io, &mut d, &key).code(), PamError::SUCCESS);
    assert_eq!(io.errors().len(), 2);
    // Always wrong: the daemon hears that no key could be used, and decides.
    let answers = (0..MAX_PIN_TRIES).map(|i| Ok(i.to_string()));
    let mut io = ScriptedIo::answering(answers);
    let mut d = daemon(
        true,
        [fido2("k"), deny(DenyReason::AuthFailed, "Access denied")],
    );
    let key = ScriptedKey::answering((0..MAX_PIN_TRIES).map(|_| Err(ClientError::PinInvalid)));
    assert_eq!(run_with(&mut io, &mut d, &key).code(), PamError::AUTH_ERR);
    assert_eq!(
        d.calls.last(),
        Some(&Call::Fido2Unavailable("k".into(), "pin-invalid".into()))
    );
    assert_eq!(key.requests.borrow().len(), MAX_PIN_TRIES);
}

#[test]
fn a_pin_too_long_for_any_key_is_not_sent_to_the_key() {
    let mut io = ScriptedIo::answering([Ok("9".repeat(64)), Ok("1234".into())]);
    let mut d = daemon(true, [fido2("k"), allow()]);
    let key = ScriptedKey::answering([signed()]);
    assert_eq!(run_with(&mut io, &mut d, &key).code(), PamError::SUCCESS);
    assert_eq!(key.requests.borrow().len(), 1);
    assert_eq!(io.errors(), [super::PIN_TOO_LONG_MESSAGE]);
}

#[test]
fn no_key_is_reported_and_the_daemons_chooser_offers_the_other_methods() {
    let mut io = ScriptedIo::answering([Ok("1".into()), Ok("123456".into())]);
    let chooser = Step {
        info: vec!["The security key could not be used (no-device); choose another method.".into()],
        kind: StepKind::Prompt {
            flow: "c".into(),
            text: "Method [1]: ".into(),
            echo: true,
        },
    };
    let mut d = daemon(
        false,
        [
            fido2("k"),
            Ok(chooser.into()),
            prompt("t", "Verification code: "),
            allow(),
        ],
    );
    let key = ScriptedKey::answering([Err(ClientError::NoDevice)]);
    assert_eq!(run_with(&mut io, &mut d, &key).code(), PamError::SUCCESS);
    assert_eq!(
        io.errors(),
        ["no security key found: plug in your key and try again"]
    );
    assert_eq!(
        d.calls[2],
        Call::Fido2Unavailable("k".into(), "no-device".into())
    );
    assert_eq!(d.calls[3], Call::Answer("c".into(), "1".into()));
}

#[test]
fn a_cancelled_pin_prompt_cancels_the_flow_without_touching_the_key() {
    for error in [ConvError::Failed(PamError::CONV_ERR), ConvError::NoAnswer] {
        let mut io = ScriptedIo::answering([Err(error)]);
        let mut d = daemon(true, [fido2("k")]);
        let key = ScriptedKey::default();
        assert_eq!(run_with(&mut io, &mut d, &key).code(), PamError::CONV_ERR);
        assert_eq!(d.cancels(), ["k"]);
        assert!(key.requests.borrow().is_empty());
    }
}

#[test]
fn a_refused_request_ends_the_login_without_using_the_key() {
    let mut io = ScriptedIo::default();
    let mut d = ScriptedDaemon::replying([fido2("k")]);
    let key = ScriptedKey::default();
    let outcome = run_with(&mut io, &mut d, &key);
    assert_eq!(outcome.code(), PamError::AUTH_ERR);
    assert!(matches!(outcome, Outcome::DaemonError { .. }));
    assert!(key.requests.borrow().is_empty());
    assert_eq!(io.errors().len(), 1);
}

#[test]
fn a_denied_answer_is_shown_and_never_success() {
    let mut io = ScriptedIo::default();
    let mut d = daemon(
        false,
        [
            fido2("k"),
            deny(DenyReason::AuthFailed, "Access denied\nnot accepted"),
        ],
    );
    let key = ScriptedKey::answering([signed()]);
    let outcome = run_with(&mut io, &mut d, &key);
    assert_eq!(outcome.code(), PamError::AUTH_ERR);
    assert_eq!(io.errors(), ["Access denied\nnot accepted"]);
}

#[test]
fn security_key_steps_count_as_prompts() {
    let mut replies: Vec<_> = (0..=MAX_PROMPTS).map(|i| fido2(&format!("k{i}"))).collect();
    replies.push(allow());
    let mut d = daemon(false, replies);
    let key = ScriptedKey::answering((0..MAX_PROMPTS).map(|_| signed()));
    let mut io = ScriptedIo::default();
    let outcome = run_with(&mut io, &mut d, &key);
    assert_eq!(outcome.code(), PamError::SERVICE_ERR);
    assert_eq!(key.requests.borrow().len(), MAX_PROMPTS);
    assert_eq!(d.cancels(), [format!("k{MAX_PROMPTS}")]);
}
