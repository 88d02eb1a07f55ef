//! `enroll email` and `enroll sms` against the fake daemon: it sends code `111111` with the
//! first `BeginCodeEnrollment` (enrollment `c1`), `222222` with the second (`c2`), and
//! accepts only the live enrollment's code.

use clap::Parser;
use clap::error::ErrorKind;
use mfa_proto::MfaError;

use super::CODE_PROMPT;
use crate::cli::Cli;
use crate::commands::fake::{
    FakeDaemon, ScriptedPrompter, allow_step, prompt_step, run, sent_code,
};
use crate::error::CliError;

const EMAIL: [&str; 4] = ["enroll", "email", "--address", "alice@example.org"];
const SENT_EMAIL: &str = "A code was sent to a•••e@ex•••.org. It is valid for 5:00.\n";

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

const BEGIN: &str = "BeginCode alice email alice@example.org \"\"";

#[test]
fn the_code_typed_back_enrolls_the_address_and_the_report_names_it_masked() {
    assert_eq!(sent_code(1), "111111");
    let daemon = FakeDaemon::default();
    let mut person = ScriptedPrompter::pipe(&["111111"]);
    let out = run(&daemon, &EMAIL, &mut person, None);
    out.result.unwrap();
    assert_eq!(
        daemon.calls(),
        strings(&["WhoAmI", BEGIN, "ConfirmCode c1 111111"])
    );
    assert_eq!(person.shown, SENT_EMAIL);
    assert_eq!(person.questions, [CODE_PROMPT]);
    assert_eq!(
        out.stdout,
        "Email address 15 (email, a•••e@ex•••.org) enrolled for alice.\n"
    );
}

#[test]
fn with_json_the_instructions_stay_off_standard_output() {
    let daemon = FakeDaemon::default();
    let mut person = ScriptedPrompter::pipe(&[" 111111 "]);
    let mut args = vec!["--json"];
    args.extend(EMAIL);
    let out = run(&daemon, &args, &mut person, None);
    out.result.unwrap();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["kind"], "email");
    assert_eq!(v["detail"], "a•••e@ex•••.org");
    assert_eq!(person.shown, SENT_EMAIL);
}

#[test]
fn sms_sends_to_the_phone_number_and_shows_it_masked() {
    let daemon = FakeDaemon::default();
    let mut person = ScriptedPrompter::terminal(&["111111"]);
    let out = run(
        &daemon,
        &[
            "enroll",
            "sms",
            "bob",
            "--phone",
            "+4912345689",
            "--name",
            "mobile",
        ],
        &mut person,
        None,
    );
    out.result.unwrap();
    assert_eq!(
        daemon.calls(),
        strings(&[
            "BeginCode bob sms +4912345689 \"mobile\"",
            "ConfirmCode c1 111111"
        ])
    );
    assert_eq!(
        person.shown,
        "A code was sent to +4•••••••89. It is valid for 5:00.\n"
    );
}

#[test]
fn given_a_wrong_code_with_tries_left_then_it_asks_again_and_the_right_one_enrolls() {
    let daemon = FakeDaemon::default();
    let mut person = ScriptedPrompter::terminal(&["000000", "111111"]);
    let out = run(&daemon, &EMAIL, &mut person, None);
    out.result.unwrap();
    assert_eq!(
        daemon.calls(),
        strings(&[
            "WhoAmI",
            BEGIN,
            "ConfirmCode c1 000000",
            "ConfirmCode c1 111111"
        ])
    );
    assert_eq!(
        person.shown,
        format!(
            "{SENT_EMAIL}The code was not accepted: the code does not match; nothing was saved \
             (2 tries left). Try again, or press Enter for a new code.\n"
        )
    );
    assert_eq!(person.questions, [CODE_PROMPT, CODE_PROMPT]);
    assert!(out.stdout.ends_with("enrolled for alice.\n"));
}

#[test]
fn given_a_pipe_when_input_ends_after_a_wrong_code_then_it_fails_with_mfads_message() {
    let daemon = FakeDaemon::default();
    let mut person = ScriptedPrompter::pipe(&["000000"]);
    let out = run(&daemon, &EMAIL, &mut person, None);
    let e = out.result.unwrap_err();
    assert!(
        matches!(&e, CliError::Cancelled(inner) if matches!(**inner, CliError::Refused(MfaError::CodeRejected(_)))),
        "{e:?}"
    );
    assert_eq!(e.exit_code(), 1);
    assert_eq!(
        e.to_string(),
        "the code does not match; nothing was saved (2 tries left); the enrollment was cancelled"
    );
    assert_eq!(daemon.calls().last().map(String::as_str), Some("Cancel c1"));
    assert!(out.stdout.is_empty());
}

#[test]
fn when_mfad_cancels_after_too_many_wrong_codes_then_it_stops_without_asking_again() {
    let daemon = FakeDaemon::default();
    let mut person = ScriptedPrompter::terminal(&["000001", "000002", "000003", "111111"]);
    let out = run(&daemon, &EMAIL, &mut person, None);
    let e = out.result.unwrap_err();
    assert!(
        matches!(e, CliError::Refused(MfaError::CodeRejected(ref m)) if m.contains("enrollment is cancelled")),
        "{e:?}"
    );
    assert_eq!(person.questions.len(), 3);
    // mfad dropped the enrollment itself: nothing to cancel.
    assert_eq!(
        daemon.calls().last().map(String::as_str),
        Some("ConfirmCode c1 000003")
    );
}

#[test]
fn an_empty_line_sends_a_new_code_and_the_old_one_no_longer_works() {
    let daemon = FakeDaemon::default();
    let mut person = ScriptedPrompter::pipe(&["", "111111", "222222"]);
    let out = run(&daemon, &EMAIL, &mut person, None);
    out.result.unwrap();
    assert_eq!(
        daemon.calls(),
        strings(&[
            "WhoAmI",
            BEGIN,
            BEGIN,
            "Cancel c1",
            "ConfirmCode c2 111111",
            "ConfirmCode c2 222222"
        ])
    );
    assert_eq!(
        person.shown.matches(SENT_EMAIL).count(),
        2,
        "{}",
        person.shown
    );
    assert!(person.shown.contains("(2 tries left)"), "{}", person.shown);
}

#[test]
fn an_empty_line_inside_the_resend_interval_shows_the_wait_and_the_first_code_still_counts() {
    let daemon = FakeDaemon::default();
    daemon.send_results.borrow_mut().extend([
        Ok(()),
        Err(MfaError::RateLimited(
            "a code was sent to alice moments ago; a new one can be sent in 12 seconds".into(),
        )),
    ]);
    let mut person = ScriptedPrompter::terminal(&["", "111111"]);
    let out = run(&daemon, &EMAIL, &mut person, None);
    out.result.unwrap();
    assert_eq!(
        daemon.calls(),
        strings(&["WhoAmI", BEGIN, BEGIN, "ConfirmCode c1 111111"])
    );
    assert_eq!(
        person.shown,
        format!(
            "{SENT_EMAIL}No new code was sent: a code was sent to alice moments ago; a new one \
             can be sent in 12 seconds. Type the code already sent, or try again later.\n"
        )
    );
}

#[test]
fn an_undeliverable_code_fails_at_once_with_the_reason_and_nothing_to_cancel() {
    let daemon = FakeDaemon::default();
    daemon
        .send_results
        .borrow_mut()
        .push_back(Err(MfaError::Undeliverable(
            "the code could not be sent to a•••e@ex•••.org: mail server unreachable; nothing \
             was saved"
                .into(),
        )));
    let mut person = ScriptedPrompter::terminal(&["111111"]);
    let out = run(&daemon, &EMAIL, &mut person, None);
    let e = out.result.unwrap_err();
    assert!(
        matches!(e, CliError::Refused(MfaError::Undeliverable(_))),
        "{e:?}"
    );
    assert_eq!(e.exit_code(), 1);
    assert!(e.to_string().contains("mail server unreachable"), "{e}");
    assert!(e.to_string().contains("mfactl doctor"), "{e}");
    assert!(person.questions.is_empty());
    assert!(person.shown.is_empty());
    assert_eq!(daemon.calls(), strings(&["WhoAmI", BEGIN]));
}

#[test]
fn an_undeliverable_resend_cancels_the_pending_enrollment() {
    let daemon = FakeDaemon::default();
    daemon.send_results.borrow_mut().extend([
        Ok(()),
        Err(MfaError::Undeliverable(
            "the code could not be sent: timed out; nothing was saved".into(),
        )),
    ]);
    let mut person = ScriptedPrompter::pipe(&["", "111111"]);
    let out = run(&daemon, &EMAIL, &mut person, None);
    let e = out.result.unwrap_err();
    assert!(
        matches!(&e, CliError::Cancelled(inner) if matches!(**inner, CliError::Refused(MfaError::Undeliverable(_)))),
        "{e:?}"
    );
    assert_eq!(daemon.calls().last().map(String::as_str), Some("Cancel c1"));
}

#[test]
fn no_answer_at_all_cancels_the_enrollment() {
    let daemon = FakeDaemon::default();
    let mut person = ScriptedPrompter::pipe(&[]);
    let e = run(&daemon, &EMAIL, &mut person, None).result.unwrap_err();
    assert_eq!(
        e.to_string(),
        "no code was entered; the enrollment was cancelled"
    );
    assert_eq!(daemon.calls().last().map(String::as_str), Some("Cancel c1"));
}

#[test]
fn a_typo_is_refused_here_without_spending_one_of_mfads_tries() {
    let daemon = FakeDaemon::default();
    let mut person = ScriptedPrompter::terminal(&["11111", "11l111", "111111"]);
    run(&daemon, &EMAIL, &mut person, None).result.unwrap();
    assert_eq!(
        daemon.calls(),
        strings(&["WhoAmI", BEGIN, "ConfirmCode c1 111111"])
    );
    assert!(
        person
            .shown
            .contains("That is not a code: the code must have 6 digits. Try again.\n"),
        "{}",
        person.shown
    );
    assert!(
        person
            .shown
            .contains("That is not a code: the code must consist of the digits 0-9 only."),
        "{}",
        person.shown
    );
}

#[test]
fn endless_junk_on_standard_input_is_cut_off() {
    let daemon = FakeDaemon::default();
    let mut person = ScriptedPrompter::pipe(&["x"; 20]);
    let e = run(&daemon, &EMAIL, &mut person, None).result.unwrap_err();
    assert_eq!(person.questions.len(), super::MAX_ANSWERS as usize);
    assert!(matches!(e, CliError::Cancelled(_)), "{e:?}");
    assert_eq!(daemon.calls().last().map(String::as_str), Some("Cancel c1"));
}

#[test]
fn a_user_who_has_a_factor_confirms_it_first_and_the_send_is_retried_once() {
    let daemon = FakeDaemon::stepping_up(
        1,
        vec![
            prompt_step("f1", "Verification code: ", false),
            allow_step(),
        ],
    );
    let mut person = ScriptedPrompter::pipe(&["654321", "111111"]);
    run(&daemon, &EMAIL, &mut person, None).result.unwrap();
    assert_eq!(
        daemon.calls(),
        strings(&[
            "WhoAmI",
            BEGIN,
            "StepUpRequired",
            "BeginStepUp alice",
            "AnswerStepUp f1 654321",
            BEGIN,
            "ConfirmCode c1 111111"
        ])
    );
    assert_eq!(person.hidden, ["Verification code: "]);
}

#[test]
fn verified_saves_the_address_without_a_code() {
    let mut daemon = FakeDaemon::default();
    daemon.me.admin = true;
    let mut person = ScriptedPrompter::terminal(&[]);
    let out = run(
        &daemon,
        &[
            "enroll",
            "sms",
            "bob",
            "--phone",
            "+4912345689",
            "--verified",
            "--name",
            "work",
        ],
        &mut person,
        None,
    );
    out.result.unwrap();
    assert_eq!(
        daemon.calls(),
        strings(&["EnrollVerified bob sms +4912345689 \"work\""])
    );
    assert!(person.questions.is_empty());
    assert!(person.shown.is_empty());
    assert_eq!(
        out.stdout,
        "Phone number 16 (work, +4•••••••89) enrolled for bob.\n"
    );
}

#[test]
fn verified_by_a_non_administrator_is_refused_by_mfad() {
    let daemon = FakeDaemon::default();
    let mut person = ScriptedPrompter::terminal(&[]);
    let mut args = EMAIL.to_vec();
    args.push("--verified");
    let e = run(&daemon, &args, &mut person, None).result.unwrap_err();
    assert!(matches!(e, CliError::Refused(MfaError::AccessDenied(_))));
    assert_eq!(e.exit_code(), 1);
    assert_eq!(
        daemon.calls(),
        strings(&[
            "WhoAmI",
            "EnrollVerified alice email alice@example.org \"\""
        ])
    );
}

#[test]
fn bad_addresses_and_numbers_are_usage_errors_before_anything_is_sent() {
    let parse = |args: &[&str]| {
        Cli::try_parse_from(std::iter::once("mfactl").chain(args.iter().copied()))
            .map(|_| ())
            .map_err(|e| (e.kind(), e.to_string()))
    };
    assert!(parse(&EMAIL).is_ok());
    assert!(parse(&["enroll", "sms", "--phone", "+4912345689"]).is_ok());
    for (args, why) in [
        (
            &["enroll", "email", "--address", "alice"][..],
            "name@domain",
        ),
        (
            &["enroll", "email", "--address", "a b@example.org"][..],
            "the part before @",
        ),
        (
            &["enroll", "sms", "--phone", "0171 1234567"][..],
            "international form",
        ),
        (&["enroll", "sms", "--phone", "+49"][..], "8 to 15 digits"),
    ] {
        let (kind, text) = parse(args).unwrap_err();
        assert_eq!(kind, ErrorKind::ValueValidation, "{args:?}");
        assert!(text.contains(why), "{args:?}: {text}");
    }
    let (kind, _) = parse(&["enroll", "email"]).unwrap_err();
    assert_eq!(kind, ErrorKind::MissingRequiredArgument);
    let (kind, _) = parse(&["enroll", "sms", "--address", "a@example.org"]).unwrap_err();
    assert_eq!(kind, ErrorKind::UnknownArgument);
}
