//! The step-up conversation against the fake daemon.

use mfa_proto::{MfaError, Step, StepKind, WireStep};

use super::{MAX_PROMPTS, NOTICE, with_step_up};
use crate::client::ManageApi;
use crate::commands::fake::{
    FakeDaemon, FakeKey, ScriptedPrompter, allow_step, deny_step, prompt_step,
};
use crate::error::CliError;

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// `RemoveToken alice totp` through [`with_step_up`].
fn remove(daemon: &FakeDaemon, prompter: &mut ScriptedPrompter) -> Result<(), CliError> {
    let key = FakeKey::failing(mfa_fido_client::ClientError::NoDevice);
    zbus::block_on(with_step_up(daemon, "alice", prompter, &key, || {
        daemon.remove_token("alice", "totp")
    }))
}

#[test]
fn without_a_step_up_request_the_call_is_made_once() {
    let daemon = FakeDaemon::default();
    let mut p = ScriptedPrompter::pipe(&[]);
    remove(&daemon, &mut p).unwrap();
    assert_eq!(daemon.calls(), strings(&["Remove alice totp"]));
    assert!(p.shown.is_empty() && p.questions.is_empty());
}

#[test]
fn other_refusals_are_returned_without_a_step_up() {
    let daemon = FakeDaemon {
        refusal: Some(MfaError::AccessDenied("not yours".into())),
        ..FakeDaemon::default()
    };
    let mut p = ScriptedPrompter::pipe(&["123456"]);
    let e = remove(&daemon, &mut p).unwrap_err();
    assert!(
        matches!(e, CliError::Refused(MfaError::AccessDenied(_))),
        "{e:?}"
    );
    assert_eq!(daemon.calls(), strings(&["Remove alice totp"]));
    assert!(p.questions.is_empty());
}

#[test]
fn a_successful_step_up_retries_the_call_exactly_once() {
    let daemon = FakeDaemon::stepping_up(1, vec![prompt_step("f1", "Code: ", false), allow_step()]);
    let mut p = ScriptedPrompter::pipe(&["123456"]);
    remove(&daemon, &mut p).unwrap();
    assert_eq!(
        daemon.calls(),
        strings(&[
            "Remove alice totp",
            "StepUpRequired",
            "BeginStepUp alice",
            "AnswerStepUp f1 123456",
            "Remove alice totp",
        ])
    );
    assert_eq!(p.shown, NOTICE);
    assert_eq!(p.questions, ["Code: "]);
    // echo=false: asked hidden.
    assert_eq!(p.hidden, ["Code: "]);
}

#[test]
fn a_chooser_then_a_code_are_answered_in_turn_with_the_daemons_echo_flag() {
    let chooser = Step {
        info: strings(&["Choose a second factor:", "  1) totp", "  2) recovery"]),
        kind: StepKind::Prompt {
            flow: "f9".into(),
            text: "Method: ".into(),
            echo: true,
        },
    };
    let daemon = FakeDaemon::stepping_up(
        1,
        vec![
            chooser.into(),
            prompt_step("f9", "Code: ", false),
            allow_step(),
        ],
    );
    let mut p = ScriptedPrompter::pipe(&["1", "123456"]);
    remove(&daemon, &mut p).unwrap();
    assert_eq!(p.questions, ["Method: ", "Code: "]);
    assert_eq!(p.hidden, ["Code: "]);
    assert_eq!(
        p.shown,
        format!("{NOTICE}Choose a second factor:\n  1) totp\n  2) recovery\n")
    );
    assert_eq!(
        daemon.calls()[2..5],
        strings(&[
            "BeginStepUp alice",
            "AnswerStepUp f9 1",
            "AnswerStepUp f9 123456"
        ])
    );
    assert_eq!(daemon.calls().last().unwrap(), "Remove alice totp");
}

#[test]
fn a_denied_step_up_fails_with_the_message_and_does_not_retry() {
    let daemon = FakeDaemon::stepping_up(
        1,
        vec![
            prompt_step("f1", "Code: ", false),
            deny_step("Access denied: the code did not verify."),
        ],
    );
    let mut p = ScriptedPrompter::pipe(&["000000"]);
    let e = remove(&daemon, &mut p).unwrap_err();
    assert!(matches!(e, CliError::StepUp(_)), "{e:?}");
    assert_eq!(e.exit_code(), 1);
    assert_eq!(
        e.to_string(),
        "Access denied: the code did not verify.\nThe step-up failed; nothing was changed."
    );
    assert_eq!(
        daemon.calls(),
        strings(&[
            "Remove alice totp",
            "StepUpRequired",
            "BeginStepUp alice",
            "AnswerStepUp f1 000000",
        ])
    );
}

#[test]
fn a_second_step_up_request_is_an_error_not_a_loop() {
    let daemon = FakeDaemon::stepping_up(
        2,
        vec![
            prompt_step("f1", "Code: ", false),
            allow_step(),
            prompt_step("f2", "Code: ", false),
            allow_step(),
        ],
    );
    let mut p = ScriptedPrompter::pipe(&["123456", "654321"]);
    let e = remove(&daemon, &mut p).unwrap_err();
    assert!(
        matches!(e, CliError::Refused(MfaError::StepUpRequired(_))),
        "{e:?}"
    );
    assert_eq!(e.exit_code(), 1);
    assert_eq!(
        e.to_string(),
        "this change needs a fresh second factor (BeginStepUp)"
    );
    let calls = daemon.calls();
    assert_eq!(
        calls.iter().filter(|c| *c == "Remove alice totp").count(),
        2
    );
    assert_eq!(
        calls
            .iter()
            .filter(|c| c.starts_with("BeginStepUp"))
            .count(),
        1
    );
    assert_eq!(p.questions.len(), 1);
}

#[test]
fn end_of_input_abandons_the_step_up() {
    let daemon = FakeDaemon::stepping_up(1, vec![prompt_step("f1", "Code: ", false)]);
    let mut p = ScriptedPrompter::pipe(&[]);
    let e = remove(&daemon, &mut p).unwrap_err();
    assert!(matches!(e, CliError::Input(_)), "{e:?}");
    assert_eq!(e.exit_code(), 1);
    assert!(e.to_string().contains("no answer was given"), "{e}");
    assert_eq!(
        daemon.calls(),
        strings(&["Remove alice totp", "StepUpRequired", "BeginStepUp alice"])
    );
}

#[test]
fn not_required_is_a_failure() {
    let not_required: WireStep = Step::new(StepKind::NotRequired {
        reason: "policy".into(),
    })
    .into();
    let daemon = FakeDaemon::stepping_up(1, vec![not_required]);
    let mut p = ScriptedPrompter::pipe(&[]);
    let e = remove(&daemon, &mut p).unwrap_err();
    assert_eq!(e.exit_code(), 1);
    assert!(
        e.to_string()
            .contains("the daemon did not ask for a factor"),
        "{e}"
    );
    assert_eq!(daemon.calls().len(), 3, "{:?}", daemon.calls());
}

#[test]
fn at_most_eight_prompts_are_answered() {
    let script = (0..=MAX_PROMPTS)
        .map(|_| prompt_step("f1", "Code: ", false))
        .collect();
    let daemon = FakeDaemon::stepping_up(1, script);
    let mut p = ScriptedPrompter::pipe(&["1"; 20]);
    let e = remove(&daemon, &mut p).unwrap_err();
    assert!(matches!(e, CliError::StepUp(_)), "{e:?}");
    assert!(e.to_string().contains("more than 8 questions"), "{e}");
    assert_eq!(p.questions.len(), MAX_PROMPTS);
    let answers = daemon
        .calls()
        .iter()
        .filter(|c| c.starts_with("AnswerStepUp"))
        .count();
    assert_eq!(answers, MAX_PROMPTS);
    assert_eq!(
        daemon
            .calls()
            .iter()
            .filter(|c| *c == "Remove alice totp")
            .count(),
        1
    );
}

#[test]
fn a_step_mfactl_does_not_understand_is_a_failure() {
    let bogus = WireStep {
        kind: "allow-all".into(),
        ..WireStep::default()
    };
    let daemon = FakeDaemon::stepping_up(1, vec![bogus]);
    let e = remove(&daemon, &mut ScriptedPrompter::pipe(&[])).unwrap_err();
    assert!(matches!(e, CliError::Bus(_)), "{e:?}");
    assert_eq!(e.exit_code(), 1);
    assert_eq!(daemon.calls().len(), 3);
}

#[test]
fn a_refused_begin_is_reported_with_the_daemons_message() {
    // The script is empty: the fake's BeginStepUp fails with UnknownFlow.
    let daemon = FakeDaemon::stepping_up(1, vec![]);
    let e = remove(&daemon, &mut ScriptedPrompter::pipe(&[])).unwrap_err();
    assert!(
        matches!(e, CliError::Refused(MfaError::UnknownFlow(_))),
        "{e:?}"
    );
    assert_eq!(e.exit_code(), 1);
}

#[test]
fn hostile_info_and_prompt_text_cannot_escape() {
    let step = Step {
        info: strings(&["a\u{1b}[2J\nb"]),
        kind: StepKind::Prompt {
            flow: "f".into(),
            text: "Code\u{1b}[2J: ".into(),
            echo: true,
        },
    };
    let daemon = FakeDaemon::stepping_up(1, vec![step.into(), allow_step()]);
    let mut p = ScriptedPrompter::pipe(&["1"]);
    remove(&daemon, &mut p).unwrap();
    assert!(!p.shown.contains('\u{1b}'), "{}", p.shown);
    assert_eq!(p.shown, format!("{NOTICE}a\\u{{1b}}[2J\\nb\n"));
    assert!(!p.questions[0].contains('\u{1b}'));
}

fn fido2_step(flow: &str) -> WireStep {
    Step::new(StepKind::Fido2 {
        flow: flow.into(),
        text: "Touch your security key".into(),
    })
    .into()
}

#[test]
fn a_security_key_step_is_answered_by_the_key_and_its_pin_asked_hidden() {
    let mut daemon = FakeDaemon::stepping_up(1, vec![fido2_step("k1"), allow_step()]);
    daemon.fido2_request = ("pam_mfa://h".into(), vec![0xab; 2], vec![vec![1, 2]], true);
    let key = FakeKey::default();
    let mut p = ScriptedPrompter::pipe(&["4242"]);
    zbus::block_on(with_step_up(&daemon, "alice", &mut p, &key, || {
        daemon.remove_token("alice", "totp")
    }))
    .unwrap();
    assert_eq!(p.hidden, ["Security key PIN: "]);
    assert_eq!(
        key.requests(),
        ["get_assertion pam_mfa://h abab allow=0102 pin=Some(\"4242\") uv=true"]
    );
    assert!(
        p.shown.ends_with("Touch your security key\n"),
        "{:?}",
        p.shown
    );
    assert_eq!(
        daemon.calls()[2..5],
        strings(&[
            "BeginStepUp alice",
            "StepUpFido2Request k1",
            "AnswerStepUpFido2 k1 0102 37 5151515151515151",
        ])
    );
    assert_eq!(daemon.calls().last().unwrap(), "Remove alice totp");
}

#[test]
fn no_security_key_is_reported_to_the_daemon_which_may_offer_another_method() {
    let daemon = FakeDaemon::stepping_up(
        1,
        vec![
            fido2_step("k1"),
            prompt_step("k1", "Code: ", false),
            allow_step(),
        ],
    );
    let key = FakeKey::failing(mfa_fido_client::ClientError::NoDevice);
    let mut p = ScriptedPrompter::pipe(&["123456"]);
    zbus::block_on(with_step_up(&daemon, "alice", &mut p, &key, || {
        daemon.remove_token("alice", "totp")
    }))
    .unwrap();
    // No PIN asked (not required), the key's error shown, the code asked next.
    assert_eq!(p.questions, ["Code: "]);
    assert!(p.shown.contains("no security key found"), "{:?}", p.shown);
    assert_eq!(
        daemon.calls()[3..6],
        strings(&[
            "StepUpFido2Request k1",
            "StepUpFido2Unavailable k1 no-device",
            "AnswerStepUp k1 123456",
        ])
    );
}
