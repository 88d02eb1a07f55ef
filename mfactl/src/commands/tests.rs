//! The small commands against the fake daemon (enrollment has its own tests).

use mfa_proto::{MfaError, PolicyExplanation, ServicePolicy, UserStatus};

use super::fake::{FakeDaemon, ScriptedPrompter, run, token};

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
    assert_eq!(daemon.calls(), strings(&["WhoAmI", "List alice"]));
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 3);
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
    assert_eq!(daemon.calls(), strings(&["List bob"]));
    assert_eq!(out.stdout, "No tokens are enrolled for bob.\n");
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
fn unlock_resets_failures() {
    let daemon = FakeDaemon::default();
    let out = run(
        &daemon,
        &["unlock", "bob"],
        &mut ScriptedPrompter::pipe(&[]),
        None,
    );
    out.result.unwrap();
    assert_eq!(daemon.calls(), strings(&["Reset bob"]));
    assert_eq!(out.stdout, "Failure count and back-off cleared for bob.\n");
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
        &["remove", "bob", "1"][..],
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
    assert_eq!(out.stdout, "{\"service\":\"login\",\"mode\":\"off\"}\n");
    assert_eq!(
        daemon.calls(),
        strings(&[
            "SetPolicy sshd optional",
            "SetPolicy * unset",
            "SetPolicy login off"
        ])
    );
}

#[test]
fn policy_show_prints_the_rules_as_a_table_or_json() {
    let daemon = FakeDaemon {
        policies: vec![
            ServicePolicy {
                service: "*".into(),
                mode: "off".into(),
            },
            ServicePolicy {
                service: "sshd".into(),
                mode: "required".into(),
            },
        ],
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
        "SERVICE  MODE\n*        off\nsshd     required\n\
         Services without a rule and no '*' rule: required.\n\
         No group enforcement.\n"
    );
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
        serde_json::json!({"services": [
            {"service": "*", "mode": "off"},
            {"service": "sshd", "mode": "required"},
        ], "enforced_groups": []})
    );
    assert_eq!(
        daemon.calls(),
        strings(&["Policies", "Groups", "Policies", "Groups"])
    );
}

#[test]
fn policy_show_lists_the_enforced_groups() {
    let daemon = FakeDaemon {
        groups: strings(&["admins", "wheel"]),
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
         Groups whose members must use MFA (on every service that is not off): admins, wheel\n"
    );
    let out = run(
        &daemon,
        &["--json", "policy", "show"],
        &mut ScriptedPrompter::pipe(&[]),
        None,
    );
    out.result.unwrap();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"services": [], "enforced_groups": ["admins", "wheel"]})
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
            }],
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
            "Failed attempts: 2",
            "Locked: no",
            "Services:",
            "  sshd: code asked"
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
        "User: bob\nNo tokens are enrolled.\nFailed attempts: 9\nLocked: yes, until an \
         administrator runs mfactl unlock bob\nServices:\n  (no service rules; every service \
         requires MFA)\n"
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
