//! The small commands against the fake daemon (enrollment has its own tests).

use mfa_proto::{
    GraceDeadline, MfaError, PolicyExplanation, PolicyOverview, ServicePolicy, UserStatus,
};

use super::fake::{FakeDaemon, ScriptedPrompter, allow_step, deny_step, prompt_step, run, token};
use super::step_up::NOTICE;
use crate::error::CliError;

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn with_tokens() -> FakeDaemon {
    FakeDaemon {
        tokens: vec![
            token("1", "alice", "totp"),
            token("2", "alice", "work-phone"),
        ],
        ..FakeDaemon::default()
    }
}

#[test]
fn list_without_a_user_lists_the_callers_tokens_as_a_table() {
    let daemon = with_tokens();
    let out = run(&daemon, &["list"], &mut ScriptedPrompter::pipe(&[]), None);
    out.result.unwrap();
    assert_eq!(
        daemon.calls(),
        strings(&["WhoAmI", "List alice", "RecoveryCodesLeft alice"])
    );
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[3], "Recovery codes: 0 unused");
    assert!(lines[0].starts_with("ID  NAME"));
    assert!(
        lines[2].starts_with("2   work-phone  totp  SHA1"),
        "{}",
        lines[2]
    );
}

#[test]
fn list_with_a_user_asks_for_that_user_only() {
    let daemon = FakeDaemon::default();
    let out = run(
        &daemon,
        &["list", "bob"],
        &mut ScriptedPrompter::pipe(&[]),
        None,
    );
    out.result.unwrap();
    assert_eq!(
        daemon.calls(),
        strings(&["List bob", "RecoveryCodesLeft bob"])
    );
    assert_eq!(
        out.stdout,
        "No tokens are enrolled for bob.\nRecovery codes: 0 unused\n"
    );
}

#[test]
fn list_json_is_an_array_even_when_empty() {
    let out = run(
        &FakeDaemon::default(),
        &["list", "--json"],
        &mut ScriptedPrompter::pipe(&[]),
        None,
    );
    assert_eq!(out.stdout, "[]\n");
    let out = run(
        &with_tokens(),
        &["--json", "list"],
        &mut ScriptedPrompter::pipe(&[]),
        None,
    );
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2);
    assert_eq!(v[1]["name"], "work-phone");
    assert_eq!(v[1]["last_used"], 0);
}

#[test]
fn remove_passes_user_and_token_through() {
    let daemon = FakeDaemon::default();
    let out = run(
        &daemon,
        &["remove", "alice", "work-phone"],
        &mut ScriptedPrompter::pipe(&[]),
        None,
    );
    out.result.unwrap();
    assert_eq!(daemon.calls(), strings(&["Remove alice work-phone"]));
    assert_eq!(out.stdout, "Token work-phone removed from alice.\n");
    let out = run(
        &daemon,
        &["remove", "--json", "alice", "2"],
        &mut ScriptedPrompter::pipe(&[]),
        None,
    );
    assert_eq!(
        out.stdout,
        "{\"user\":\"alice\",\"token\":\"2\",\"removed\":true}\n"
    );
}

#[test]
fn unlock_clears_failures_back_off_and_the_admin_lock() {
    let daemon = FakeDaemon::default();
    let out = run(
        &daemon,
        &["unlock", "bob"],
        &mut ScriptedPrompter::pipe(&[]),
        None,
    );
    out.result.unwrap();
    assert_eq!(daemon.calls(), strings(&["Unlock bob"]));
    assert_eq!(
        out.stdout,
        "Failure count, back-off and administrative lock cleared for bob.\n"
    );
    let out = run(
        &daemon,
        &["unlock", "bob", "--json"],
        &mut ScriptedPrompter::pipe(&[]),
        None,
    );
    assert_eq!(out.stdout, "{\"user\":\"bob\",\"unlocked\":true}\n");
}

#[test]
fn whoami_prints_text_or_json() {
    let daemon = FakeDaemon::default();
    let out = run(&daemon, &["whoami"], &mut ScriptedPrompter::pipe(&[]), None);
    assert_eq!(
        out.stdout,
        "alice (uid 1000), may manage only its own tokens\n"
    );
    let out = run(
        &daemon,
        &["whoami", "--json"],
        &mut ScriptedPrompter::pipe(&[]),
        None,
    );
    assert_eq!(
        out.stdout,
        "{\"uid\":1000,\"user\":\"alice\",\"admin\":false}\n"
    );
}

#[test]
fn refusals_exit_one_with_the_daemons_message_and_print_nothing() {
    let daemon = FakeDaemon {
        refusal: Some(MfaError::AccessDenied(
            "only administrators may reset failures".into(),
        )),
        ..FakeDaemon::default()
    };
    for args in [
        &["unlock", "bob"][..],
        &["lock", "bob", "--reason", "lost laptop"][..],
        &["lock", "bob", "--json"][..],
        &["remove", "bob", "1"][..],
        &["remove", "1", "--json"][..],
        &["always-require", "on", "bob"][..],
        &["always-require", "off", "--json"][..],
        &["recovery", "generate", "bob"][..],
        &["recovery", "generate", "--json"][..],
        &["list", "bob"][..],
        &["policy", "always-require", "allow", "all"][..],
        &["policy", "always-require", "allow", "group:wheel", "--json"][..],
        &["policy", "grace", "bob", "14d"][..],
        &["policy", "grace", "group:staff", "none", "--json"][..],
        &["policy", "service", "sshd", "required", "--methods", "totp"][..],
        &["rename", "bob", "1", "phone"][..],
        &["rename", "bob", "1", "phone", "--json"][..],
        &["status", "bob"][..],
        &["status", "--json"][..],
        &["list", "bob", "--json"][..],
        &["policy", "service", "sshd", "off"][..],
        &["policy", "service", "*", "unset", "--json"][..],
        &["policy", "show"][..],
        &["policy", "show", "--json"][..],
        &["policy", "group", "wheel", "enforce"][..],
        &["policy", "group", "wheel", "unenforce", "--json"][..],
        &["policy", "explain", "bob", "sshd"][..],
        &["policy", "explain", "bob", "sshd", "--json"][..],
    ] {
        let out = run(&daemon, args, &mut ScriptedPrompter::pipe(&[]), None);
        let err = out.result.unwrap_err();
        assert_eq!(err.exit_code(), 1);
        assert_eq!(err.to_string(), "only administrators may reset failures");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn policy_service_sets_or_removes_a_rule() {
    let daemon = FakeDaemon::default();
    let out = run(
        &daemon,
        &["policy", "service", "sshd", "optional"],
        &mut ScriptedPrompter::pipe(&[]),
        None,
    );
    out.result.unwrap();
    assert_eq!(out.stdout, "Service sshd: optional.\n");
    let out = run(
        &daemon,
        &["policy", "service", "*", "unset"],
        &mut ScriptedPrompter::pipe(&[]),
        None,
    );
    out.result.unwrap();
    assert_eq!(out.stdout, "Service *: rule removed.\n");
    let out = run(
        &daemon,
        &["--json", "policy", "service", "login", "off"],
        &mut ScriptedPrompter::pipe(&[]),
        None,
    );
    out.result.unwrap();
    assert_eq!(
        out.stdout,
        "{\"service\":\"login\",\"mode\":\"off\",\"methods\":[]}\n"
    );
    assert_eq!(
        daemon.calls(),
        strings(&[
            "SetPolicy sshd optional []",
            "SetPolicy * unset []",
            "SetPolicy login off []"
        ])
    );
}

fn overview() -> PolicyOverview {
    PolicyOverview {
        services: vec![
            ServicePolicy {
                service: "*".into(),
                mode: "off".into(),
                methods: Vec::new(),
            },
            ServicePolicy {
                service: "sshd".into(),
                mode: "required".into(),
                methods: strings(&["totp"]),
            },
        ],
        enforced_groups: strings(&["admins", "wheel"]),
        always_require_allow: "group:wheel".into(),
        grace: vec![
            GraceDeadline {
                subject: "alice".into(),
                until: 253_402_300_799,
            },
            GraceDeadline {
                subject: "group:staff".into(),
                until: 1_000_000_000,
            },
        ],
    }
}

#[test]
fn policy_show_prints_every_part_of_the_policy() {
    let daemon = FakeDaemon {
        overview: overview(),
        ..FakeDaemon::default()
    };
    let out = run(
        &daemon,
        &["policy", "show"],
        &mut ScriptedPrompter::pipe(&[]),
        None,
    );
    out.result.unwrap();
    assert_eq!(
        out.stdout,
        "SERVICE  MODE      METHODS\n\
         *        off       all\n\
         sshd     required  totp\n\
         Services without a rule and no '*' rule: required.\n\
         Groups whose members must use MFA (on every service that is not off): admins, wheel\n\
         Always-require: members of group wheel may turn it on for themselves; administrators \
         for anyone.\n\
         Enrollment deadlines (until then, a user who must use MFA but has no usable method is \
         let in with a warning):\n\
         \x20 alice        9999-12-31T23:59:59Z\n\
         \x20 group:staff  2001-09-09T01:46:40Z (passed)\n"
    );
    assert_eq!(daemon.calls(), strings(&["Policy"]));
}

#[test]
fn policy_show_json_is_the_policy_overview() {
    let daemon = FakeDaemon {
        overview: overview(),
        ..FakeDaemon::default()
    };
    let out = run(
        &daemon,
        &["policy", "show", "--json"],
        &mut ScriptedPrompter::pipe(&[]),
        None,
    );
    out.result.unwrap();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        v,
        serde_json::json!({
            "services": [
                {"service": "*", "mode": "off", "methods": []},
                {"service": "sshd", "mode": "required", "methods": ["totp"]},
            ],
            "enforced_groups": ["admins", "wheel"],
            "always_require_allow": "group:wheel",
            "grace": [
                {"subject": "alice", "until": 253_402_300_799_i64},
                {"subject": "group:staff", "until": 1_000_000_000},
            ],
        })
    );
}

#[test]
fn an_empty_policy_says_so_in_every_part() {
    let daemon = FakeDaemon {
        overview: PolicyOverview {
            always_require_allow: "all".into(),
            ..PolicyOverview::default()
        },
        ..FakeDaemon::default()
    };
    let out = run(
        &daemon,
        &["policy", "show"],
        &mut ScriptedPrompter::pipe(&[]),
        None,
    );
    out.result.unwrap();
    assert_eq!(
        out.stdout,
        "No service rules are set.\n\
         Services without a rule and no '*' rule: required.\n\
         No group enforcement.\n\
         Always-require: every user may turn it on for themselves.\n\
         No enrollment deadlines.\n"
    );
    let out = run(
        &daemon,
        &["--json", "policy", "show"],
        &mut ScriptedPrompter::pipe(&[]),
        None,
    );
    assert_eq!(
        out.stdout,
        "{\"services\":[],\"enforced_groups\":[],\"always_require_allow\":\"all\",\"grace\":[]}\n"
    );
}

#[test]
fn policy_group_enforces_or_stops_enforcing() {
    let daemon = FakeDaemon::default();
    let out = run(
        &daemon,
        &["policy", "group", "wheel", "enforce"],
        &mut ScriptedPrompter::pipe(&[]),
        None,
    );
    out.result.unwrap();
    assert_eq!(out.stdout, "Group wheel: MFA enforced for its members.\n");
    let out = run(
        &daemon,
        &["policy", "group", "wheel", "unenforce"],
        &mut ScriptedPrompter::pipe(&[]),
        None,
    );
    out.result.unwrap();
    assert_eq!(out.stdout, "Group wheel: no longer enforced.\n");
    for (action, enforced) in [("enforce", true), ("unenforce", false)] {
        let out = run(
            &daemon,
            &["--json", "policy", "group", "admins@example.com", action],
            &mut ScriptedPrompter::pipe(&[]),
            None,
        );
        out.result.unwrap();
        let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"group": "admins@example.com", "enforced": enforced})
        );
    }
    assert_eq!(
        daemon.calls(),
        strings(&[
            "SetGroup wheel true",
            "SetGroup wheel false",
            "SetGroup admins@example.com true",
            "SetGroup admins@example.com false",
        ])
    );
}

#[test]
fn policy_explain_prints_the_decision_and_reasons_or_json() {
    let daemon = FakeDaemon {
        explanation: PolicyExplanation {
            decision: "ask".into(),
            reasons: strings(&["rule sshd: optional", "bob has 1 token"]),
        },
        ..FakeDaemon::default()
    };
    let out = run(
        &daemon,
        &["policy", "explain", "bob", "sshd"],
        &mut ScriptedPrompter::pipe(&[]),
        None,
    );
    out.result.unwrap();
    assert_eq!(
        out.stdout,
        "Login of bob on sshd: a verification code is asked.\n\
         \x20 - rule sshd: optional\n\
         \x20 - bob has 1 token\n"
    );
    let out = run(
        &daemon,
        &["--json", "policy", "explain", "bob", "login"],
        &mut ScriptedPrompter::pipe(&[]),
        None,
    );
    out.result.unwrap();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        v,
        serde_json::json!({
            "user": "bob",
            "service": "login",
            "decision": "ask",
            "reasons": ["rule sshd: optional", "bob has 1 token"],
        })
    );
    assert_eq!(
        daemon.calls(),
        strings(&["Explain bob sshd", "Explain bob login"])
    );
}

#[test]
fn rename_passes_user_token_and_name_through() {
    let daemon = FakeDaemon::default();
    let out = run(
        &daemon,
        &["rename", "alice", "2", "work-phone"],
        &mut ScriptedPrompter::pipe(&[]),
        None,
    );
    out.result.unwrap();
    assert_eq!(daemon.calls(), strings(&["Rename alice 2 work-phone"]));
    assert_eq!(out.stdout, "Token 2 renamed to work-phone for alice.\n");
    let out = run(
        &daemon,
        &["rename", "--json", "alice", "totp", "phone"],
        &mut ScriptedPrompter::pipe(&[]),
        None,
    );
    out.result.unwrap();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["user"], "alice");
    assert_eq!(v["name"], "phone");
    assert_eq!(v["id"], "2");
}

#[test]
fn status_without_a_user_shows_the_callers_status() {
    let daemon = FakeDaemon {
        status: UserStatus {
            tokens: vec![token("1", "alice", "totp")],
            failures: 2,
            services: vec![ServicePolicy {
                service: "sshd".into(),
                mode: "ask".into(),
                methods: strings(&["totp", "recovery"]),
            }],
            recovery_codes_left: 10,
            ..UserStatus::default()
        },
        ..FakeDaemon::default()
    };
    let out = run(&daemon, &["status"], &mut ScriptedPrompter::pipe(&[]), None);
    out.result.unwrap();
    assert_eq!(daemon.calls(), strings(&["WhoAmI", "Status alice"]));
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "User: alice");
    assert!(lines[1].starts_with("ID  NAME"), "{}", lines[1]);
    assert!(lines[2].starts_with("1   totp  totp  SHA1"), "{}", lines[2]);
    assert_eq!(
        &lines[3..],
        [
            "Recovery codes: 10 unused",
            "Always require MFA: off",
            "Failed attempts: 2",
            "Locked: no",
            "Administrative lock: no",
            "Services:",
            "  sshd: second factor asked (methods: totp, recovery)"
        ]
    );
}

#[test]
fn status_with_a_user_asks_for_that_user_only_and_prints_json() {
    let daemon = FakeDaemon {
        status: UserStatus {
            failures: 9,
            locked_out: true,
            ..UserStatus::default()
        },
        ..FakeDaemon::default()
    };
    let out = run(
        &daemon,
        &["status", "bob"],
        &mut ScriptedPrompter::pipe(&[]),
        None,
    );
    out.result.unwrap();
    assert_eq!(daemon.calls(), strings(&["Status bob"]));
    assert_eq!(
        out.stdout,
        "User: bob\nNo tokens are enrolled.\nRecovery codes: 0 unused\nAlways require MFA: \
         off\nFailed attempts: 9\nLocked: yes, until an administrator runs mfactl unlock \
         bob\nAdministrative lock: no\nServices:\n  (no service rules; every service requires \
         MFA)\n"
    );
    let out = run(
        &daemon,
        &["status", "bob", "--json"],
        &mut ScriptedPrompter::pipe(&[]),
        None,
    );
    out.result.unwrap();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["user"], "bob");
    assert_eq!(v["failures"], 9);
    assert_eq!(v["locked_out"], true);
    assert_eq!(v["locked_until"], 0);
    assert_eq!(v["tokens"].as_array().unwrap().len(), 0);
    assert_eq!(v["services"].as_array().unwrap().len(), 0);
}

fn pipe() -> ScriptedPrompter {
    ScriptedPrompter::pipe(&[])
}

#[test]
fn lock_locks_with_or_without_a_reason() {
    let daemon = FakeDaemon::default();
    let out = run(
        &daemon,
        &["lock", "bob", "--reason", "lost laptop"],
        &mut pipe(),
        None,
    );
    out.result.unwrap();
    assert_eq!(
        out.stdout,
        "Locked the second factor of bob: every login that asks for MFA is denied until \
         `mfactl unlock bob`.\n"
    );
    let out = run(&daemon, &["--json", "lock", "bob"], &mut pipe(), None);
    out.result.unwrap();
    assert_eq!(
        out.stdout,
        "{\"user\":\"bob\",\"locked\":true,\"reason\":\"\"}\n"
    );
    let out = run(
        &daemon,
        &["lock", "carol", "--json", "--reason=left the company"],
        &mut pipe(),
        None,
    );
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"user": "carol", "locked": true, "reason": "left the company"})
    );
    assert_eq!(
        daemon.calls(),
        strings(&[
            "Lock bob \"lost laptop\"",
            "Lock bob \"\"",
            "Lock carol \"left the company\""
        ])
    );
}

#[test]
fn remove_without_a_user_removes_the_callers_token() {
    let daemon = FakeDaemon::default();
    let out = run(&daemon, &["remove", "totp"], &mut pipe(), None);
    out.result.unwrap();
    assert_eq!(daemon.calls(), strings(&["WhoAmI", "Remove alice totp"]));
    assert_eq!(out.stdout, "Token totp removed from alice.\n");
}

#[test]
fn remove_steps_up_and_retries_once() {
    let daemon = FakeDaemon::stepping_up(1, vec![prompt_step("f1", "Code: ", false), allow_step()]);
    let mut prompter = ScriptedPrompter::pipe(&["123456"]);
    let out = run(&daemon, &["remove", "totp"], &mut prompter, None);
    out.result.unwrap();
    assert_eq!(
        daemon.calls(),
        strings(&[
            "WhoAmI",
            "Remove alice totp",
            "StepUpRequired",
            "BeginStepUp alice",
            "AnswerStepUp f1 123456",
            "Remove alice totp",
        ])
    );
    assert_eq!(out.stdout, "Token totp removed from alice.\n");
    assert_eq!(prompter.shown, NOTICE);
    assert_eq!(prompter.hidden, ["Code: "]);
}

#[test]
fn remove_json_keeps_standard_output_for_the_result_during_a_step_up() {
    let daemon = FakeDaemon::stepping_up(1, vec![prompt_step("f1", "Code: ", false), allow_step()]);
    let mut prompter = ScriptedPrompter::pipe(&["123456"]);
    let out = run(
        &daemon,
        &["--json", "remove", "alice", "2"],
        &mut prompter,
        None,
    );
    out.result.unwrap();
    assert_eq!(
        out.stdout,
        "{\"user\":\"alice\",\"token\":\"2\",\"removed\":true}\n"
    );
    assert!(prompter.shown.starts_with(NOTICE));
}

#[test]
fn a_denied_step_up_removes_nothing_and_exits_one() {
    let daemon = FakeDaemon::stepping_up(
        1,
        vec![
            prompt_step("f1", "Code: ", false),
            deny_step("Access denied: the code did not verify."),
        ],
    );
    let out = run(
        &daemon,
        &["remove", "alice", "totp"],
        &mut ScriptedPrompter::pipe(&["000000"]),
        None,
    );
    let e = out.result.unwrap_err();
    assert_eq!(e.exit_code(), 1);
    assert!(
        e.to_string()
            .starts_with("Access denied: the code did not verify.\n"),
        "{e}"
    );
    assert!(out.stdout.is_empty());
    assert_eq!(
        daemon
            .calls()
            .iter()
            .filter(|c| c.starts_with("Remove"))
            .count(),
        1
    );
}

#[test]
fn always_require_turns_on_or_off_for_the_caller_or_a_named_user() {
    let daemon = FakeDaemon::default();
    let out = run(&daemon, &["always-require", "on"], &mut pipe(), None);
    out.result.unwrap();
    assert_eq!(
        out.stdout,
        "Always-require is on for alice: a second factor is asked on every service that stacks \
         pam_mfa, even where its rule is off.\n"
    );
    let out = run(
        &daemon,
        &["always-require", "off", "bob"],
        &mut pipe(),
        None,
    );
    out.result.unwrap();
    assert_eq!(
        out.stdout,
        "Always-require is off for bob: the service rules and group enforcement decide again.\n"
    );
    let out = run(
        &daemon,
        &["--json", "always-require", "on", "bob"],
        &mut pipe(),
        None,
    );
    out.result.unwrap();
    assert_eq!(out.stdout, "{\"user\":\"bob\",\"always_require\":true}\n");
    assert_eq!(
        daemon.calls(),
        strings(&[
            "WhoAmI",
            "SetAlwaysRequire alice true",
            "SetAlwaysRequire bob false",
            "SetAlwaysRequire bob true",
        ])
    );
}

#[test]
fn always_require_off_steps_up_on_the_same_daemon_then_retries() {
    let daemon = FakeDaemon::stepping_up(1, vec![prompt_step("f1", "Code: ", false), allow_step()]);
    let mut prompter = ScriptedPrompter::pipe(&["123456"]);
    let out = run(
        &daemon,
        &["--json", "always-require", "off"],
        &mut prompter,
        None,
    );
    out.result.unwrap();
    assert_eq!(
        out.stdout,
        "{\"user\":\"alice\",\"always_require\":false}\n"
    );
    assert_eq!(
        daemon.calls(),
        strings(&[
            "WhoAmI",
            "SetAlwaysRequire alice false",
            "StepUpRequired",
            "BeginStepUp alice",
            "AnswerStepUp f1 123456",
            "SetAlwaysRequire alice false",
        ])
    );
}

fn with_codes() -> FakeDaemon {
    FakeDaemon {
        recovery_codes: strings(&["abcd-efgh-ijkl", "mnop-qrst-uvwx"]),
        ..FakeDaemon::default()
    }
}

#[test]
fn recovery_generate_prints_a_header_then_one_code_per_line() {
    let daemon = with_codes();
    let out = run(&daemon, &["recovery", "generate"], &mut pipe(), None);
    out.result.unwrap();
    assert_eq!(
        out.stdout,
        "New recovery codes for alice; the earlier codes no longer work.\n\
         They are shown only this once: store them offline (printed, or in a password \
         manager).\n\
         Each code works for one login only.\n\
         \n\
         abcd-efgh-ijkl\n\
         mnop-qrst-uvwx\n"
    );
    assert_eq!(
        daemon.calls(),
        strings(&["WhoAmI", "GenerateRecoveryCodes alice"])
    );
}

#[test]
fn recovery_generate_json_has_the_user_and_the_codes() {
    let daemon = with_codes();
    let out = run(
        &daemon,
        &["recovery", "generate", "bob", "--json"],
        &mut pipe(),
        None,
    );
    out.result.unwrap();
    assert_eq!(
        out.stdout,
        "{\"user\":\"bob\",\"codes\":[\"abcd-efgh-ijkl\",\"mnop-qrst-uvwx\"]}\n"
    );
    assert_eq!(daemon.calls(), strings(&["GenerateRecoveryCodes bob"]));
}

#[test]
fn recovery_generate_steps_up_once_and_a_second_request_fails() {
    let mut daemon =
        FakeDaemon::stepping_up(1, vec![prompt_step("f1", "Code: ", false), allow_step()]);
    daemon.recovery_codes = strings(&["abcd"]);
    let out = run(
        &daemon,
        &["recovery", "generate"],
        &mut ScriptedPrompter::pipe(&["123456"]),
        None,
    );
    out.result.unwrap();
    assert!(out.stdout.ends_with("\nabcd\n"), "{}", out.stdout);
    assert_eq!(
        daemon
            .calls()
            .iter()
            .filter(|c| *c == "GenerateRecoveryCodes alice")
            .count(),
        2
    );

    let daemon = FakeDaemon::stepping_up(2, vec![prompt_step("f1", "Code: ", false), allow_step()]);
    let out = run(
        &daemon,
        &["recovery", "generate"],
        &mut ScriptedPrompter::pipe(&["123456"]),
        None,
    );
    let e = out.result.unwrap_err();
    assert!(
        matches!(e, CliError::Refused(MfaError::StepUpRequired(_))),
        "{e:?}"
    );
    assert_eq!(e.exit_code(), 1);
    assert!(out.stdout.is_empty());
}

#[test]
fn a_step_up_without_an_answer_on_standard_input_exits_one() {
    let daemon = FakeDaemon::stepping_up(1, vec![prompt_step("f1", "Code: ", false)]);
    let out = run(&daemon, &["recovery", "generate"], &mut pipe(), None);
    let e = out.result.unwrap_err();
    assert_eq!(e.exit_code(), 1);
    assert!(e.to_string().contains("end of input"), "{e}");
    assert!(out.stdout.is_empty());
}

#[test]
fn list_shows_how_many_recovery_codes_are_left() {
    let daemon = FakeDaemon {
        codes_left: 7,
        ..with_tokens()
    };
    let out = run(&daemon, &["list", "alice"], &mut pipe(), None);
    out.result.unwrap();
    assert!(
        out.stdout.ends_with("\nRecovery codes: 7 unused\n"),
        "{}",
        out.stdout
    );
}

#[test]
fn list_still_prints_the_tokens_of_a_user_nss_does_not_know() {
    let daemon = FakeDaemon {
        codes_left_error: Some(MfaError::UnknownUser("no user gone".into())),
        ..with_tokens()
    };
    let out = run(&daemon, &["list", "gone"], &mut pipe(), None);
    out.result.unwrap();
    assert_eq!(out.stdout.lines().count(), 3, "{}", out.stdout);
    assert!(!out.stdout.contains("Recovery codes"));
    // Any other failure of the count is a failure of the command.
    let daemon = FakeDaemon {
        codes_left_error: Some(MfaError::Storage("disk full".into())),
        ..with_tokens()
    };
    let out = run(&daemon, &["list", "gone"], &mut pipe(), None);
    assert_eq!(out.result.unwrap_err().to_string(), "disk full");
    assert!(out.stdout.is_empty());
}

#[test]
fn list_json_stays_an_array_of_tokens() {
    let daemon = FakeDaemon {
        codes_left: 7,
        ..with_tokens()
    };
    let out = run(&daemon, &["--json", "list", "alice"], &mut pipe(), None);
    out.result.unwrap();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2);
    assert_eq!(daemon.calls(), strings(&["List alice"]));
}

#[test]
fn policy_service_passes_the_methods_through() {
    let daemon = FakeDaemon::default();
    let out = run(
        &daemon,
        &[
            "policy",
            "service",
            "sshd",
            "required",
            "--methods",
            "totp,recovery",
        ],
        &mut pipe(),
        None,
    );
    out.result.unwrap();
    assert_eq!(
        out.stdout,
        "Service sshd: required (methods: totp, recovery).\n"
    );
    let out = run(
        &daemon,
        &[
            "--json",
            "policy",
            "service",
            "*",
            "optional",
            "--methods",
            "totp",
            "--methods",
            "totp",
        ],
        &mut pipe(),
        None,
    );
    out.result.unwrap();
    assert_eq!(
        out.stdout,
        "{\"service\":\"*\",\"mode\":\"optional\",\"methods\":[\"totp\"]}\n"
    );
    // An empty --methods means every method, like no --methods.
    let out = run(
        &daemon,
        &["policy", "service", "login", "required", "--methods", ""],
        &mut pipe(),
        None,
    );
    out.result.unwrap();
    assert_eq!(out.stdout, "Service login: required.\n");
    assert_eq!(
        daemon.calls(),
        strings(&[
            "SetPolicy sshd required [\"totp\", \"recovery\"]",
            "SetPolicy * optional [\"totp\"]",
            "SetPolicy login required []",
        ])
    );
}

#[test]
fn policy_service_refuses_methods_with_unset_before_calling_mfad() {
    let daemon = FakeDaemon::default();
    let out = run(
        &daemon,
        &["policy", "service", "sshd", "unset", "--methods", "totp"],
        &mut pipe(),
        None,
    );
    let e = out.result.unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(
        e.to_string()
            .starts_with("--methods cannot be given with unset"),
        "{e}"
    );
    assert!(daemon.calls().is_empty());
}

#[test]
fn policy_always_require_allow_sets_the_permission() {
    let daemon = FakeDaemon::default();
    for (who, line) in [
        (
            "all",
            "Always-require: every user may turn it on for themselves.\n",
        ),
        (
            "none",
            "Always-require: only administrators may turn it on (for anyone).\n",
        ),
        (
            "group:wheel",
            "Always-require: members of group wheel may turn it on for themselves; \
             administrators for anyone.\n",
        ),
    ] {
        let out = run(
            &daemon,
            &["policy", "always-require", "allow", who],
            &mut pipe(),
            None,
        );
        out.result.unwrap();
        assert_eq!(out.stdout, line);
        let out = run(
            &daemon,
            &["policy", "always-require", "allow", who, "--json"],
            &mut pipe(),
            None,
        );
        out.result.unwrap();
        assert_eq!(
            out.stdout,
            format!("{{\"always_require_allow\":\"{who}\"}}\n")
        );
    }
    assert_eq!(
        daemon.calls(),
        strings(&[
            "SetAlwaysRequirePermission all",
            "SetAlwaysRequirePermission all",
            "SetAlwaysRequirePermission none",
            "SetAlwaysRequirePermission none",
            "SetAlwaysRequirePermission group:wheel",
            "SetAlwaysRequirePermission group:wheel",
        ])
    );
}

#[test]
fn policy_grace_sets_a_deadline_and_prints_it_back() {
    let daemon = FakeDaemon::default();
    let out = run(
        &daemon,
        &["policy", "grace", "alice", "9999-12-31"],
        &mut pipe(),
        None,
    );
    out.result.unwrap();
    assert_eq!(
        out.stdout,
        "Enrollment deadline for alice: 9999-12-31T23:59:59Z. Until then, a login that needs \
         MFA without a usable method enrolled is let in with a warning.\n"
    );
    let out = run(
        &daemon,
        &[
            "--json",
            "policy",
            "grace",
            "group:staff",
            "9999-12-31 18:00:00",
        ],
        &mut pipe(),
        None,
    );
    out.result.unwrap();
    assert_eq!(
        out.stdout,
        "{\"subject\":\"group:staff\",\"until\":253402279200,\"deadline\":\"9999-12-31T18:00:00Z\"}\n"
    );
    assert_eq!(
        daemon.calls(),
        strings(&[
            "SetGrace alice 253402300799",
            "SetGrace group:staff 253402279200"
        ])
    );
}

#[test]
fn policy_grace_accepts_a_duration_from_now() {
    let daemon = FakeDaemon::default();
    let before = crate::deadline::now();
    let out = run(
        &daemon,
        &["--json", "policy", "grace", "alice", "+14d"],
        &mut pipe(),
        None,
    );
    out.result.unwrap();
    let after = crate::deadline::now();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let until = v["until"].as_i64().unwrap();
    assert!(
        (before + 14 * 86_400..=after + 14 * 86_400).contains(&until),
        "{until}"
    );
    assert_eq!(
        v["deadline"].as_str().unwrap(),
        crate::deadline::rfc3339(until)
    );
}

#[test]
fn policy_grace_none_removes_the_deadline() {
    let daemon = FakeDaemon::default();
    let out = run(
        &daemon,
        &["policy", "grace", "group:staff", "none"],
        &mut pipe(),
        None,
    );
    out.result.unwrap();
    assert_eq!(
        out.stdout,
        "Enrollment deadline for the members of group staff removed.\n"
    );
    let out = run(
        &daemon,
        &["policy", "grace", "alice", "none", "--json"],
        &mut pipe(),
        None,
    );
    out.result.unwrap();
    assert_eq!(
        out.stdout,
        "{\"subject\":\"alice\",\"until\":0,\"deadline\":null}\n"
    );
    assert_eq!(
        daemon.calls(),
        strings(&["SetGrace group:staff 0", "SetGrace alice 0"])
    );
}

#[test]
fn policy_grace_refuses_a_bad_deadline_before_calling_mfad() {
    let daemon = FakeDaemon::default();
    for until in ["2026-13-01", "", "-3d", "garbage", "2020-01-01"] {
        let out = run(
            &daemon,
            &["policy", "grace", "alice", until],
            &mut pipe(),
            None,
        );
        let e = out.result.unwrap_err();
        assert_eq!(e.exit_code(), 2, "{until:?}");
        assert!(e.to_string().starts_with("UNTIL: "), "{e}");
        assert!(out.stdout.is_empty());
    }
    assert!(daemon.calls().is_empty());
}

#[test]
fn status_json_has_the_new_fields() {
    let daemon = FakeDaemon {
        status: UserStatus {
            always_require: true,
            admin_locked: true,
            lock_reason: "lost laptop".into(),
            recovery_codes_left: 3,
            grace_until: 1_798_761_599,
            ..UserStatus::default()
        },
        ..FakeDaemon::default()
    };
    let out = run(&daemon, &["status", "bob", "--json"], &mut pipe(), None);
    out.result.unwrap();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["always_require"], true);
    assert_eq!(v["admin_locked"], true);
    assert_eq!(v["lock_reason"], "lost laptop");
    assert_eq!(v["recovery_codes_left"], 3);
    assert_eq!(v["grace_until"], 1_798_761_599);
    let out = run(&daemon, &["status", "bob"], &mut pipe(), None);
    out.result.unwrap();
    for line in [
        "Recovery codes: 3 unused",
        "Always require MFA: on",
        "Administrative lock: yes, until an administrator runs mfactl unlock bob",
        "Lock reason: lost laptop",
        "Enrollment deadline: 2026-12-31T23:59:59Z",
    ] {
        assert!(
            out.stdout.lines().any(|l| l == line),
            "{line}: {}",
            out.stdout
        );
    }
}
