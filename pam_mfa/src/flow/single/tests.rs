//! Single-prompt mode driven by a scripted conversation and a scripted daemon.
#![allow(clippy::unwrap_used, clippy::panic, reason = "tests")]

use mfa_proto::{DenyReason, MAX_ANSWER_LEN, MfaError, Step, StepKind};
use pamsm::PamError;

use super::*;
use crate::flow::tests::{Call, ScriptedDaemon, ScriptedIo, Shown, allow, deny, facts, prompt};

const SINGLE: &str = "Password and verification code: ";

fn daemon(
    replies: impl IntoIterator<Item = Result<mfa_proto::WireStep, MfaError>>,
) -> ScriptedDaemon {
    let mut d = ScriptedDaemon::replying(replies);
    d.code_chars = 6;
    d
}

fn run_single(io: &mut ScriptedIo, daemon: &mut ScriptedDaemon) -> Outcome {
    zbus::block_on(run(&facts(), io, daemon))
}

#[test]
fn the_code_is_split_off_by_characters_not_bytes() {
    assert_eq!(
        split_answer("hunter2123456", 6),
        Some(("hunter2", "123456"))
    );
    assert_eq!(
        split_answer("žluťoučký123456", 6),
        Some(("žluťoučký", "123456"))
    );
    assert_eq!(split_answer("p12345678", 8), Some(("p", "12345678")));
    // The tail is taken as it is; the daemon decides whether it is a code.
    assert_eq!(split_answer("pw12345ž", 6), Some(("pw", "12345ž")));
    assert_eq!(split_answer("123456", 6), None);
    assert_eq!(split_answer("12345", 6), None);
    assert_eq!(split_answer("", 6), None);
    assert_eq!(split_answer("abc", 0), None);
}

#[test]
fn password_and_code_in_one_answer_sends_only_the_code_and_hands_on_the_password() {
    let mut io = ScriptedIo::answering([Ok("s3cret pass123456".into())]);
    let mut d = daemon([prompt("f1", SINGLE), allow()]);
    let outcome = run_single(&mut io, &mut d);
    assert_eq!(outcome.code(), PamError::SUCCESS);
    assert_eq!(
        d.calls,
        [
            Call::BeginSinglePrompt("alice".into()),
            Call::Answer("f1".into(), "123456".into())
        ]
    );
    assert_eq!(io.shown, [Shown::Prompt(SINGLE.into(), false)]);
    assert_eq!(io.authtok, Some(Ok("s3cret pass".into())));
}

#[test]
fn a_password_set_by_an_earlier_module_is_split_instead_of_prompting() {
    let mut io = ScriptedIo {
        authtok: Some(Ok("pw87654321".into())),
        ..ScriptedIo::default()
    };
    let mut d = daemon([prompt("f1", SINGLE), allow()]);
    d.code_chars = 8;
    let outcome = run_single(&mut io, &mut d);
    assert_eq!(outcome.code(), PamError::SUCCESS);
    assert!(io.shown.is_empty(), "no prompt: {:?}", io.shown);
    assert_eq!(d.calls[1], Call::Answer("f1".into(), "87654321".into()));
    assert_eq!(io.authtok, Some(Ok("pw".into())));
}

#[test]
fn a_wrong_code_is_denied_but_the_password_is_still_handed_on() {
    let mut io = ScriptedIo::answering([Ok("pw000000".into())]);
    let mut d = daemon([
        prompt("f1", SINGLE),
        deny(DenyReason::AuthFailed, "Access denied"),
    ]);
    let outcome = run_single(&mut io, &mut d);
    assert_eq!(outcome.code(), PamError::AUTH_ERR);
    assert_eq!(io.errors(), ["Access denied"]);
    // The password module then runs (and fails or not) exactly as after a right code.
    assert_eq!(io.authtok, Some(Ok("pw".into())));
}

#[test]
fn only_a_code_and_no_password_is_refused_without_asking_the_daemon() {
    for answer in ["123456", "", "12"] {
        let mut io = ScriptedIo::answering([Ok(answer.into())]);
        let mut d = daemon([prompt("f1", SINGLE)]);
        let outcome = run_single(&mut io, &mut d);
        assert_eq!(outcome.code(), PamError::AUTH_ERR, "{answer:?}");
        assert_eq!(
            outcome,
            Outcome::BadAnswer {
                why: BadAnswer::NoPassword
            }
        );
        assert_eq!(d.cancels(), ["f1"]);
        assert!(io.errors()[0].contains(NO_PASSWORD_MESSAGE));
        assert_eq!(io.authtok, None, "nothing stored for {answer:?}");
    }
}

#[test]
fn not_required_and_deny_at_begin_never_prompt_and_never_touch_the_password() {
    let not_required = Ok(Step::new(StepKind::NotRequired {
        reason: "optional".into(),
    })
    .into());
    let mut io = ScriptedIo::default();
    let mut d = daemon([not_required]);
    assert_eq!(run_single(&mut io, &mut d).code(), PamError::IGNORE);
    assert!(io.shown.is_empty());
    assert_eq!(io.authtok, None);

    let mut io = ScriptedIo::default();
    let mut d = daemon([deny(DenyReason::NotEnrolled, "no token")]);
    assert_eq!(run_single(&mut io, &mut d).code(), PamError::AUTH_ERR);
    assert_eq!(io.errors(), ["no token"]);
    assert_eq!(io.authtok, None);
}

#[test]
fn a_second_prompt_or_not_required_after_the_answer_breaks_the_protocol() {
    let mut io = ScriptedIo::answering([Ok("pw123456".into())]);
    let mut d = daemon([prompt("f1", SINGLE), prompt("f2", "More: ")]);
    let outcome = run_single(&mut io, &mut d);
    assert_eq!(outcome.code(), PamError::SERVICE_ERR);
    assert_eq!(d.cancels(), ["f2"]);

    let not_required = Ok(Step::new(StepKind::NotRequired { reason: "x".into() }).into());
    let mut io = ScriptedIo::answering([Ok("pw123456".into())]);
    let mut d = daemon([prompt("f1", SINGLE), not_required]);
    assert_eq!(run_single(&mut io, &mut d).code(), PamError::SERVICE_ERR);
}

#[test]
fn a_code_length_out_of_range_breaks_the_protocol_before_asking() {
    for n in [0, MAX_CODE_CHARS + 1, u32::MAX] {
        let mut io = ScriptedIo::default();
        let mut d = daemon([prompt("f1", SINGLE)]);
        d.code_chars = n;
        assert_eq!(run_single(&mut io, &mut d).code(), PamError::SERVICE_ERR);
        assert!(io.shown.is_empty());
        assert_eq!(d.cancels(), ["f1"]);
    }
}

#[test]
fn bad_answers_are_refused_and_end_the_flow() {
    let long = "x".repeat(MAX_ANSWER_LEN + 1);
    // Answers the module refuses are reported (mfad counts a failed attempt and ends the
    // flow); a failed conversation cancels the flow.
    let cases = [
        (Ok(long), PamError::AUTH_ERR, Some("too-long")),
        (
            Err(ConvError::NotUtf8),
            PamError::AUTH_ERR,
            Some("not-utf8"),
        ),
        (Err(ConvError::NoAnswer), PamError::CONV_ERR, None),
        (
            Err(ConvError::Failed(PamError::CONV_ERR)),
            PamError::CONV_ERR,
            None,
        ),
    ];
    for (answer, code, refused) in cases {
        let mut io = ScriptedIo::answering([answer]);
        let mut d = daemon([prompt("f1", SINGLE)]);
        assert_eq!(run_single(&mut io, &mut d).code(), code);
        match refused {
            Some(reason) => assert_eq!(
                d.calls.last(),
                Some(&Call::AnswerRefused("f1".into(), reason.into()))
            ),
            None => assert_eq!(d.cancels(), ["f1"]),
        }
        assert_eq!(io.authtok, None);
    }
    // A non-UTF-8 PAM_AUTHTOK is refused the same way.
    let mut io = ScriptedIo {
        authtok: Some(Err(ConvError::NotUtf8)),
        ..ScriptedIo::default()
    };
    let mut d = daemon([prompt("f1", SINGLE)]);
    assert_eq!(run_single(&mut io, &mut d).code(), PamError::AUTH_ERR);
}

#[test]
fn a_password_libpam_will_not_store_fails_closed_without_sending_the_code() {
    let mut io = ScriptedIo::answering([Ok("pw123456".into())]);
    io.authtok_refused = true;
    let mut d = daemon([prompt("f1", SINGLE)]);
    let outcome = run_single(&mut io, &mut d);
    assert_eq!(outcome.code(), PamError::SERVICE_ERR);
    assert_eq!(
        d.calls,
        [
            Call::BeginSinglePrompt("alice".into()),
            Call::Cancel("f1".into())
        ]
    );
}

#[test]
fn a_daemon_failure_at_begin_is_unavailable_and_never_success() {
    let mut io = ScriptedIo::default();
    let mut d = daemon([Err(MfaError::Internal("boom".into()))]);
    let outcome = run_single(&mut io, &mut d);
    assert_eq!(outcome.code(), PamError::AUTHINFO_UNAVAIL);
    assert_eq!(io.authtok, None);
}

#[test]
fn a_security_key_step_cannot_be_answered_in_single_prompt_mode() {
    let step = Ok(Step::new(StepKind::Fido2 {
        flow: "k".into(),
        text: "Touch your security key".into(),
    })
    .into());
    let mut io = ScriptedIo::default();
    let mut d = daemon([step]);
    let outcome = run_single(&mut io, &mut d);
    assert_eq!(outcome.code(), PamError::SERVICE_ERR);
    assert_eq!(d.cancels(), ["k"]);
    assert!(io.shown.is_empty());
}
