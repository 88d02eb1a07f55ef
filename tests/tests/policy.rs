//! Per-service policy, and return codes that cannot be misused: when no second factor is
//! needed the module returns PAM_IGNORE, never PAM_SUCCESS, so a line mistakenly stacked as
//! `sufficient` (or `requisite`) never lets anyone in on its own (the class of pam-u2f's
//! CVE-2025-23013). Only a verified code yields PAM_SUCCESS.

use mfa_proto::ManageProxy;
use mfa_tests::manage::add_stacked_service;
use mfa_tests::{PAM_AUTH_ERR, PAM_SUCCESS, PROMPT, TestEnv};

/// Runs one Manage1 call as root over the test bus; the daemon's refusal becomes `Err(message)`.
fn manage<T>(
    env: &TestEnv,
    call: impl AsyncFnOnce(&ManageProxy<'_>) -> Result<T, mfa_proto::MfaError>,
) -> Result<T, String> {
    mfa_tests::manage::manage(env, call).map_err(|e| e.message())
}

fn set_policy(env: &TestEnv, service: &str, mode: &str) {
    manage(env, async |p| {
        p.set_service_policy(service, mode, &[]).await
    })
    .unwrap_or_else(|e| panic!("set {service} {mode}: {e}"));
}

#[test]
fn given_every_mode_token_and_stacking_cell_then_the_stack_result_is_exact() {
    let env = TestEnv::builder()
        .config("[rate_limit]\nfree_failures = 90\n")
        .start();
    // One enrolled account per cell: a code is single-use, so cells must not share one.
    let mut accounts = [
        "bin", "sys", "games", "man", "lp", "mail", "news", "uucp", "proxy",
    ]
    .into_iter();
    for control in ["required", "requisite", "sufficient"] {
        for mode in ["required", "optional", "off"] {
            let user = accounts.next().expect("enough accounts");
            let with_token = env.enroll_new(user);
            let service = format!("svc-{control}-{mode}");
            add_stacked_service(&env, &service, control);
            set_policy(&env, &service, mode);
            // User with a token, right code: asked unless off; success only when verified.
            let code = with_token.current_code();
            let out = env.login_service(&service, user, &[&code]);
            let asked = mode != "off";
            assert_eq!(
                out.prompted(),
                asked,
                "{control}/{mode} with token: prompt\n{out}"
            );
            let want = match (asked, control) {
                (true, _) => PAM_SUCCESS,              // verified code
                (false, "sufficient") => PAM_AUTH_ERR, // IGNORE, then pam_deny
                (false, _) => PAM_SUCCESS,             // IGNORE, then pam_permit decides
            };
            assert_eq!(
                out.result,
                Some(want),
                "{control}/{mode} with token, right code\n{out}"
            );
            if asked {
                // The code is spent; a wrong one must not pass in any stacking.
                let out = env.login_service(&service, user, &[&with_token.wrong_code()]);
                assert_eq!(
                    out.result,
                    Some(PAM_AUTH_ERR),
                    "{control}/{mode} wrong code\n{out}"
                );
            }
            // User without a token: denied when required, not asked otherwise.
            let out = env.login_service(&service, "daemon", &["123456"]);
            assert!(
                !out.prompted(),
                "{control}/{mode} no token: must not prompt\n{out}"
            );
            let want = match (mode, control) {
                ("required", _) => PAM_AUTH_ERR,
                (_, "sufficient") => PAM_AUTH_ERR,
                _ => PAM_SUCCESS,
            };
            assert_eq!(out.result, Some(want), "{control}/{mode} no token\n{out}");
        }
    }
}

#[test]
fn given_no_rule_then_the_star_rule_applies_and_without_it_mfa_is_required() {
    let env = TestEnv::start();
    add_stacked_service(&env, "svc-unruled", "required");
    // Built-in default: required, so a user without a token is denied.
    let out = env.login_service("svc-unruled", "daemon", &[]);
    assert_eq!(out.result, Some(PAM_AUTH_ERR), "{out}");
    set_policy(&env, "*", "off");
    let out = env.login_service("svc-unruled", "daemon", &[]);
    assert_eq!(
        out.result,
        Some(PAM_SUCCESS),
        "IGNORE then pam_permit:\n{out}"
    );
    // A specific rule wins over '*'; 'unset' removes it again.
    set_policy(&env, "svc-unruled", "required");
    assert_eq!(
        env.login_service("svc-unruled", "daemon", &[]).result,
        Some(PAM_AUTH_ERR)
    );
    set_policy(&env, "svc-unruled", "unset");
    assert_eq!(
        env.login_service("svc-unruled", "daemon", &[]).result,
        Some(PAM_SUCCESS)
    );
    assert!(
        !env.login_service("svc-unruled", "daemon", &[])
            .to_string()
            .contains(PROMPT)
    );
}

#[test]
fn given_a_non_root_caller_then_the_policy_cannot_be_changed() {
    let env = TestEnv::start();
    let out = env.mfactl_as("nobody", &["policy", "service", "sshd", "off"]);
    assert!(!out.success() && !out.timed_out, "{out:?}");
    let out = env.mfactl(&["policy", "service", "sshd", "off"]);
    assert!(out.success(), "{out:?}");
    let out = env.mfactl(&["--json", "policy", "show"]);
    assert!(
        out.stdout.contains("\"sshd\"") && out.stdout.contains("\"off\""),
        "{out:?}"
    );
    let out = env.mfactl_as("nobody", &["policy", "group", "daemon", "enforce"]);
    assert!(!out.success() && !out.timed_out, "{out:?}");
    let out = env.mfactl(&["policy", "group", "daemon", "enforce"]);
    assert!(out.success(), "{out:?}");
    let out = env.mfactl(&["--json", "policy", "show"]);
    assert!(
        out.stdout.contains("\"enforced_groups\":[\"daemon\"]"),
        "{out:?}"
    );
    // Users may ask about themselves, not about others.
    let out = env.mfactl_as("nobody", &["policy", "explain", "root", "sshd"]);
    assert!(!out.success() && !out.timed_out, "{out:?}");
    let out = env.mfactl_as("nobody", &["--json", "policy", "explain", "nobody", "sshd"]);
    assert!(
        out.success() && out.stdout.contains("\"decision\":\"not-required\""),
        "{out:?}"
    );
    let out = env.mfactl(&["policy", "service", "sshd", "sometimes"]);
    assert!(!out.success() && !out.timed_out, "{out:?}");
}

fn enforce(env: &TestEnv, group: &str, on: bool) -> Result<(), String> {
    manage(env, async |p| p.set_group_enforcement(group, on).await)
}

fn explain(env: &TestEnv, user: &str, service: &str) -> mfa_proto::PolicyExplanation {
    manage(env, async |p| p.explain(user, service).await).expect("explain")
}

fn enforced(env: &TestEnv) -> Vec<String> {
    manage(env, async |p| p.enforced_groups().await).expect("list enforced groups")
}

#[test]
fn given_an_enforced_group_then_its_members_need_mfa_on_every_service_not_off() {
    let env = TestEnv::start();
    add_stacked_service(&env, "svc-opt", "required");
    add_stacked_service(&env, "svc-off", "required");
    set_policy(&env, "svc-opt", "optional");
    set_policy(&env, "svc-off", "off");
    // Before: `daemon` has no token, so an optional service does not ask (IGNORE, then permit).
    assert_eq!(
        env.login_service("svc-opt", "daemon", &[]).result,
        Some(PAM_SUCCESS)
    );
    // The account `daemon` has primary group `daemon` (NSS), `sys` does not.
    enforce(&env, "daemon", true).expect("enforce");
    assert_eq!(enforced(&env), vec!["daemon".to_owned()]);
    let out = env.login_service("svc-opt", "daemon", &[]);
    out.assert_denied("svc-opt", "daemon", &mfa_tests::no_token_headline("daemon"));
    // Explain says the same as the login did, and why.
    let e = explain(&env, "daemon", "svc-opt");
    assert_eq!(e.decision, "deny-not-enrolled", "{e:?}");
    assert!(
        e.reasons
            .iter()
            .any(|r| r.contains("member of enforced group daemon")),
        "{e:?}"
    );
    assert_eq!(explain(&env, "sys", "svc-opt").decision, "not-required");
    assert_eq!(explain(&env, "daemon", "svc-off").decision, "not-required");
    assert_eq!(
        explain(&env, "daemon", "svc-unruled").decision,
        "deny-not-enrolled"
    );
    assert!(explain(&env, "daemon", "svc-unruled").reasons[0].contains("built-in default"));
    // A required service asks whatever the groups: membership is not even looked up.
    let e = explain(&env, "daemon", "svc-unruled");
    assert!(
        e.reasons.iter().any(|r| r.contains("not consulted")),
        "{e:?}"
    );
    assert_eq!(out.result, Some(PAM_AUTH_ERR), "{out}");
    assert_eq!(
        env.login_service("svc-opt", "sys", &[]).result,
        Some(PAM_SUCCESS),
        "non-member"
    );
    assert_eq!(
        env.login_service("svc-off", "daemon", &[]).result,
        Some(PAM_SUCCESS),
        "off stays off"
    );
    // A member with a token is asked, and only the code gets them in.
    let t = env.enroll_new("daemon");
    assert_eq!(explain(&env, "daemon", "svc-opt").decision, "ask");
    let out = env.login_service("svc-opt", "daemon", &[&t.current_code()]);
    assert!(out.prompted(), "{out}");
    out.assert_success();
    // Stop enforcing: back to optional behaviour for members without a token.
    enforce(&env, "daemon", false).expect("unenforce");
    assert!(enforced(&env).is_empty());
    assert_eq!(
        env.login_service("svc-opt", "sys", &[]).result,
        Some(PAM_SUCCESS)
    );
    // A group NSS does not know cannot be enforced (it would protect nobody).
    let e = enforce(&env, "no-such-group-mfa-test", true).unwrap_err();
    assert!(e.contains("no group"), "{e}");
    let e = enforce(&env, "bad:name", true).unwrap_err();
    assert!(e.contains("group name"), "{e}");
}
