//! `enroll fido2` against the fake daemon and a scripted security key.

use mfa_fido_client::ClientError;
use mfa_proto::MfaError;

use crate::commands::fake::{FakeDaemon, FakeKey, ScriptedPrompter, run_with_key};
use crate::error::CliError;

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn the_key_signs_the_daemons_challenge_and_the_attestation_goes_back_unchanged() {
    let daemon = FakeDaemon::default();
    let key = FakeKey::default();
    let mut p = ScriptedPrompter::pipe(&[]);
    let out = run_with_key(&daemon, &["enroll", "fido2"], &mut p, None, &key);
    out.result.unwrap();
    assert_eq!(
        daemon.calls(),
        strings(&[
            "WhoAmI",
            "BeginFido2Enrollment alice \"\" uv=false",
            "FinishFido2Enrollment e2 a3010203",
        ])
    );
    assert_eq!(
        key.requests(),
        ["make_credential pam_mfa://host cccccccc exclude=eeee pin=None uv=false"]
    );
    assert_eq!(p.shown, super::TOUCH_NOW);
    assert!(p.questions.is_empty());
    assert_eq!(
        out.stdout,
        "Security key 12 (fido2, ES256, pam_mfa://host, touch) enrolled for alice.\n"
    );
}

#[test]
fn pin_asks_the_pin_hidden_and_requires_user_verification() {
    let daemon = FakeDaemon::default();
    let key = FakeKey::default();
    let mut p = ScriptedPrompter::pipe(&["123456"]);
    let out = run_with_key(
        &daemon,
        &["--json", "enroll", "fido2", "bob", "--name", "yk", "--pin"],
        &mut p,
        None,
        &key,
    );
    out.result.unwrap();
    assert_eq!(p.hidden, ["Security key PIN: "]);
    assert_eq!(daemon.calls()[0], "BeginFido2Enrollment bob \"yk\" uv=true");
    assert!(key.requests()[0].ends_with("pin=Some(\"123456\") uv=true"));
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(json["kind"], "fido2");
    // --uv alone: verification required, no PIN asked (a built-in biometric may do it).
    let key = FakeKey::default();
    let mut p = ScriptedPrompter::pipe(&[]);
    let daemon = FakeDaemon::default();
    run_with_key(&daemon, &["enroll", "fido2", "--uv"], &mut p, None, &key)
        .result
        .unwrap();
    assert!(p.questions.is_empty());
    assert!(key.requests()[0].ends_with("pin=None uv=true"));
}

#[test]
fn a_key_error_cancels_the_enrollment_and_saves_nothing() {
    let daemon = FakeDaemon::default();
    let key = FakeKey::failing(ClientError::NoDevice);
    let mut p = ScriptedPrompter::pipe(&[]);
    let out = run_with_key(&daemon, &["enroll", "fido2"], &mut p, None, &key);
    let e = out.result.unwrap_err();
    assert!(
        matches!(&e, CliError::Cancelled(inner) if matches!(**inner, CliError::SecurityKey(ClientError::NoDevice))),
        "{e:?}"
    );
    assert_eq!(e.exit_code(), 1);
    assert!(e.to_string().contains("no security key found"), "{e}");
    assert_eq!(daemon.calls().last().unwrap(), "Cancel e2");
    assert!(out.stdout.is_empty());
}

#[test]
fn a_refused_attestation_is_reported_as_the_daemon_said() {
    let daemon = FakeDaemon {
        confirm_error: Some(MfaError::CodeRejected(
            "the security key's registration was refused".into(),
        )),
        ..FakeDaemon::default()
    };
    let key = FakeKey::default();
    let mut p = ScriptedPrompter::pipe(&[]);
    let e = run_with_key(&daemon, &["enroll", "fido2"], &mut p, None, &key)
        .result
        .unwrap_err();
    assert!(e.to_string().contains("registration was refused"), "{e}");
}

#[test]
fn a_step_up_comes_before_the_touch() {
    let daemon = FakeDaemon::stepping_up(
        1,
        vec![
            crate::commands::fake::prompt_step("f1", "Verification code: ", false),
            crate::commands::fake::allow_step(),
        ],
    );
    let key = FakeKey::default();
    let mut p = ScriptedPrompter::pipe(&["123456"]);
    run_with_key(&daemon, &["enroll", "fido2"], &mut p, None, &key)
        .result
        .unwrap();
    assert_eq!(
        daemon.calls()[1..6],
        strings(&[
            "BeginFido2Enrollment alice \"\" uv=false",
            "StepUpRequired",
            "BeginStepUp alice",
            "AnswerStepUp f1 123456",
            "BeginFido2Enrollment alice \"\" uv=false",
        ])
    );
    assert_eq!(key.requests().len(), 1);
}
