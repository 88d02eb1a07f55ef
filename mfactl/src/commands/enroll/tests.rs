use mfa_proto::MfaError;

use super::uri_digits;
use crate::commands::fake::{FakeDaemon, ScriptedPrompter, URI, run};
use crate::error::CliError;
use crate::qr;

const SECRET: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn given_a_code_flag_then_one_confirm_and_the_json_report_has_user_uri_and_token() {
    let daemon = FakeDaemon::default();
    let mut person = ScriptedPrompter::pipe(&[]);
    let out = run(
        &daemon,
        &["--json", "enroll", "totp", "--code", "123456"],
        &mut person,
        None,
    );
    out.result.unwrap();
    assert_eq!(
        daemon.calls(),
        strings(&["WhoAmI", "Begin alice", "Confirm e1 123456"])
    );
    assert_eq!(out.stdout.lines().count(), 1, "{}", out.stdout);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["user"], "alice");
    assert_eq!(v["otpauth_uri"], URI);
    assert_eq!(v["token"]["id"], "7");
    assert_eq!(v["token"]["kind"], "totp");
    assert!(person.questions.is_empty());
    assert!(
        person.shown.is_empty(),
        "nothing on the terminal with --json --code"
    );
}

#[test]
fn given_a_user_then_no_whoami_and_text_output_shows_the_uri_then_the_result() {
    let daemon = FakeDaemon::default();
    let mut person = ScriptedPrompter::pipe(&[]);
    let out = run(
        &daemon,
        &["enroll", "totp", "bob", "--code", "123456"],
        &mut person,
        None,
    );
    out.result.unwrap();
    assert_eq!(daemon.calls(), strings(&["Begin bob", "Confirm e1 123456"]));
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "Add this URI to your authenticator app:");
    assert_eq!(lines[1], URI);
    assert!(
        lines[2].ends_with("Confirm before 2024-11-23 08:25:00 UTC."),
        "{}",
        lines[2]
    );
    assert_eq!(lines.last(), Some(&"Token 7 (totp) enrolled for bob."));
}

#[test]
fn given_a_terminal_on_stdout_then_a_qr_code_precedes_the_uri() {
    let daemon = FakeDaemon::default();
    let mut person = ScriptedPrompter::terminal(&["123456"]);
    let out = run(
        &daemon,
        &["enroll", "totp"],
        &mut person,
        Some(qr::Style::Plain),
    );
    out.result.unwrap();
    assert!(out.stdout.starts_with("Scan this QR code"));
    assert!(out.stdout.contains('\u{2588}'));
    assert!(out.stdout.contains(URI));
    assert_eq!(person.questions, strings(&[super::CODE_PROMPT]));
}

#[test]
fn given_a_terminal_when_the_first_code_is_rejected_then_a_second_try_succeeds() {
    let daemon = FakeDaemon::default();
    let mut person = ScriptedPrompter::terminal(&["000000", "123456"]);
    let out = run(&daemon, &["enroll", "totp"], &mut person, None);
    out.result.unwrap();
    assert_eq!(
        daemon.calls(),
        strings(&[
            "WhoAmI",
            "Begin alice",
            "Confirm e1 000000",
            "Confirm e1 123456"
        ])
    );
    assert!(
        person.shown.contains("The code was not accepted"),
        "{}",
        person.shown
    );
    assert!(
        person.shown.contains("nothing was saved. Try again.\n"),
        "{}",
        person.shown
    );
    assert!(out.stdout.ends_with("Token 7 (totp) enrolled for alice.\n"));
}

#[test]
fn given_a_terminal_when_three_codes_are_rejected_then_the_enrollment_is_cancelled() {
    let daemon = FakeDaemon::default();
    let mut person = ScriptedPrompter::terminal(&["111111", "222222", "333333", "123456"]);
    let out = run(&daemon, &["enroll", "totp"], &mut person, None);
    let err = out.result.unwrap_err();
    assert!(
        matches!(&err, CliError::Cancelled(inner) if matches!(**inner, CliError::Refused(MfaError::CodeRejected(_)))),
        "{err:?}"
    );
    assert_eq!(err.exit_code(), 1);
    assert!(
        err.to_string().ends_with("; the enrollment was cancelled"),
        "{err}"
    );
    assert_eq!(person.questions.len(), 3);
    assert_eq!(
        person.shown.matches("Try again.").count(),
        2,
        "{}",
        person.shown
    );
    assert_eq!(daemon.calls().last().map(String::as_str), Some("Cancel e1"));
    assert!(!out.stdout.contains("enrolled for"));
}

#[test]
fn given_a_pipe_when_the_code_is_rejected_then_there_is_no_second_try() {
    let daemon = FakeDaemon::default();
    let mut person = ScriptedPrompter::pipe(&["000000", "123456"]);
    let out = run(&daemon, &["enroll", "totp"], &mut person, None);
    assert!(out.result.is_err());
    assert_eq!(
        daemon.calls(),
        strings(&["WhoAmI", "Begin alice", "Confirm e1 000000", "Cancel e1"])
    );
}

#[test]
fn given_a_code_flag_when_rejected_then_no_prompt_even_on_a_terminal() {
    let daemon = FakeDaemon::default();
    let mut person = ScriptedPrompter::terminal(&["123456"]);
    let out = run(
        &daemon,
        &["enroll", "totp", "--code", "000000"],
        &mut person,
        None,
    );
    assert_eq!(out.result.unwrap_err().exit_code(), 1);
    assert!(person.questions.is_empty());
    assert_eq!(daemon.calls().last().map(String::as_str), Some("Cancel e1"));
}

#[test]
fn malformed_codes_at_the_terminal_are_explained_and_never_sent() {
    let daemon = FakeDaemon::default();
    let mut person = ScriptedPrompter::terminal(&["12a456", "12345", "123456"]);
    let out = run(&daemon, &["enroll", "totp"], &mut person, None);
    out.result.unwrap();
    assert_eq!(
        daemon.calls(),
        strings(&["WhoAmI", "Begin alice", "Confirm e1 123456"])
    );
    assert!(
        person
            .shown
            .contains("the code must consist of the digits 0-9 only"),
        "{}",
        person.shown
    );
    assert!(
        person.shown.contains("the code must have 6 digits"),
        "{}",
        person.shown
    );
    assert!(
        !person.shown.contains("12a456"),
        "the input is never echoed"
    );
}

#[test]
fn end_of_input_at_the_prompt_cancels() {
    let daemon = FakeDaemon::default();
    let mut person = ScriptedPrompter::terminal(&[]);
    let out = run(&daemon, &["enroll", "totp"], &mut person, None);
    let err = out.result.unwrap_err();
    assert!(err.to_string().starts_with("no code was entered"), "{err}");
    assert_eq!(daemon.calls().last().map(String::as_str), Some("Cancel e1"));
}

#[test]
fn a_malformed_code_flag_is_a_usage_error_before_any_call() {
    for args in [
        &["enroll", "totp", "--code", "12 3456"][..],
        &["enroll", "totp", "--code", ""][..],
        &["enroll", "totp", "--code", "１２３４５６"][..],
        &["enroll", "totp", "--digits", "8", "--code", "123456"][..],
    ] {
        let daemon = FakeDaemon::default();
        let out = run(&daemon, args, &mut ScriptedPrompter::pipe(&[]), None);
        let err = out.result.unwrap_err();
        assert_eq!(err.exit_code(), 2, "{args:?}");
        assert!(err.to_string().starts_with("--code: "), "{err}");
        assert!(daemon.calls().is_empty(), "{args:?}");
    }
}

#[test]
fn a_code_flag_of_the_wrong_length_for_the_daemons_default_is_caught_after_begin() {
    let daemon = FakeDaemon::default();
    let out = run(
        &daemon,
        &["enroll", "totp", "--code", "12345678"],
        &mut ScriptedPrompter::pipe(&[]),
        None,
    );
    let err = out.result.unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert_eq!(
        daemon.calls(),
        strings(&["WhoAmI", "Begin alice", "Cancel e1"])
    );
}

#[test]
fn a_bad_secret_is_a_usage_error_that_does_not_quote_it() {
    for (secret, why) in [("NOT-BASE32!", "base32"), ("JBSWY3DP", "16 to 128 bytes")] {
        let daemon = FakeDaemon::default();
        let out = run(
            &daemon,
            &["enroll", "totp", "--secret", secret],
            &mut ScriptedPrompter::pipe(&[]),
            None,
        );
        let err = out.result.unwrap_err();
        assert_eq!(err.exit_code(), 2);
        let msg = err.to_string();
        assert!(msg.contains(why), "{msg}");
        assert!(!msg.contains(secret), "{msg}");
        assert!(daemon.calls().is_empty());
    }
}

#[test]
fn secret_dash_reads_the_secret_then_the_code_from_standard_input() {
    let daemon = FakeDaemon::default();
    let mut person = ScriptedPrompter::pipe(&[SECRET, "123456"]);
    let out = run(
        &daemon,
        &["enroll", "totp", "--secret", "-"],
        &mut person,
        None,
    );
    out.result.unwrap();
    assert_eq!(
        daemon.options.borrow().as_ref().unwrap().secret_base32,
        SECRET
    );
    assert_eq!(
        person.questions,
        strings(&["", super::CODE_PROMPT]),
        "no secret prompt on a pipe"
    );
}

#[test]
fn secret_dash_on_empty_input_is_a_usage_error() {
    let daemon = FakeDaemon::default();
    let out = run(
        &daemon,
        &["enroll", "totp", "--secret", "-"],
        &mut ScriptedPrompter::pipe(&[]),
        None,
    );
    assert_eq!(out.result.unwrap_err().exit_code(), 2);
    assert!(daemon.calls().is_empty());
}

#[test]
fn options_reach_the_daemon_in_wire_form() {
    let daemon = FakeDaemon {
        uri: URI.replace("digits=6", "digits=8"),
        good_code: "12345678".into(),
        ..FakeDaemon::default()
    };
    let args = [
        "enroll",
        "totp",
        "bob",
        "--name",
        "phone",
        "--issuer",
        "Corp",
        "--secret",
        SECRET,
        "--digits",
        "8",
        "--algorithm",
        "SHA512",
        "--period",
        "60",
        "--code",
        "12345678",
    ];
    run(&daemon, &args, &mut ScriptedPrompter::pipe(&[]), None)
        .result
        .unwrap();
    let options = daemon.options.borrow();
    let o = options.as_ref().unwrap();
    assert_eq!(
        (
            o.name.as_str(),
            o.issuer.as_str(),
            o.secret_base32.as_str(),
            o.digits,
            o.algorithm.as_str(),
            o.period
        ),
        ("phone", "Corp", SECRET, 8, "SHA512", 60)
    );
}

#[test]
fn defaults_leave_every_choice_to_the_daemon() {
    let daemon = FakeDaemon::default();
    run(
        &daemon,
        &["enroll", "totp", "--code", "123456"],
        &mut ScriptedPrompter::pipe(&[]),
        None,
    )
    .result
    .unwrap();
    let options = daemon.options.borrow();
    let o = options.as_ref().unwrap();
    assert_eq!(
        (o.name.as_str(), o.issuer.as_str(), o.secret_base32.as_str()),
        ("", "", "")
    );
    assert_eq!((o.digits, o.algorithm.as_str(), o.period), (0, "", 0));
}

#[test]
fn json_at_a_terminal_shows_the_uri_on_the_terminal_and_only_json_on_stdout() {
    let daemon = FakeDaemon::default();
    let mut person = ScriptedPrompter::terminal(&["123456"]);
    let out = run(&daemon, &["enroll", "totp", "--json"], &mut person, None);
    out.result.unwrap();
    assert!(person.shown.contains(URI));
    assert!(!person.shown.contains('\u{2588}'), "no QR code with --json");
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["token"]["user"], "alice");
}

#[test]
fn a_refused_begin_has_nothing_to_cancel() {
    let daemon = FakeDaemon {
        refusal: Some(MfaError::AccessDenied("uid 1000 may not enroll bob".into())),
        ..FakeDaemon::default()
    };
    let out = run(
        &daemon,
        &["enroll", "totp", "bob"],
        &mut ScriptedPrompter::terminal(&[]),
        None,
    );
    let err = out.result.unwrap_err();
    assert_eq!(err.to_string(), "uid 1000 may not enroll bob");
    assert_eq!(err.exit_code(), 1);
    assert_eq!(daemon.calls(), strings(&["Begin bob"]));
    assert!(out.stdout.is_empty());
}

#[test]
fn an_expired_enrollment_is_not_cancelled_again() {
    let daemon = FakeDaemon {
        confirm_error: Some(MfaError::UnknownEnrollment("the enrollment expired".into())),
        ..FakeDaemon::default()
    };
    let out = run(
        &daemon,
        &["enroll", "totp"],
        &mut ScriptedPrompter::terminal(&["123456"]),
        None,
    );
    assert_eq!(
        out.result.unwrap_err().to_string(),
        "the enrollment expired"
    );
    assert!(!daemon.calls().iter().any(|c| c.starts_with("Cancel")));
}

#[test]
fn a_rate_limited_confirm_stops_at_once() {
    let daemon = FakeDaemon {
        confirm_error: Some(MfaError::RateLimited("try again later".into())),
        ..FakeDaemon::default()
    };
    let mut person = ScriptedPrompter::terminal(&["123456", "123456"]);
    let out = run(&daemon, &["enroll", "totp"], &mut person, None);
    assert!(out.result.is_err());
    assert_eq!(person.questions.len(), 1);
    assert_eq!(daemon.calls().last().map(String::as_str), Some("Cancel e1"));
}

#[test]
fn a_caller_without_a_user_name_must_name_the_user() {
    let mut daemon = FakeDaemon::default();
    daemon.me.user.clear();
    let out = run(
        &daemon,
        &["enroll", "totp"],
        &mut ScriptedPrompter::terminal(&[]),
        None,
    );
    let msg = out.result.unwrap_err().to_string();
    assert!(msg.contains("uid 1000"), "{msg}");
    assert_eq!(daemon.calls(), strings(&["WhoAmI"]));
}

#[test]
fn uri_digits_reads_the_parameter_or_the_default() {
    assert_eq!(uri_digits(URI), Some(6));
    assert_eq!(uri_digits("otpauth://totp/a:b?secret=X&digits=8"), Some(8));
    assert_eq!(uri_digits("otpauth://totp/a:b?secret=X"), Some(6));
    assert_eq!(uri_digits("otpauth://totp/a:b?digits=eight"), None);
    assert_eq!(uri_digits("not a uri"), None);
}
