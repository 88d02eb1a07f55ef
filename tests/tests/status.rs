//! `RenameToken` and `Status` through the real daemon.

use mfa_proto::MfaError;
use mfa_tests::TestEnv;
use mfa_tests::manage::manage;

#[test]
fn given_tokens_when_renamed_then_listed_under_the_new_name_and_collisions_refused() {
    let env = TestEnv::start();
    env.enroll_new("bin");
    env.enroll_new("bin");
    let tokens = manage(&env, async |p| p.list_tokens("bin").await).unwrap();
    assert_eq!(tokens.len(), 2);
    let (first, second) = (tokens[0].clone(), tokens[1].clone());
    let renamed = manage(&env, async |p| {
        p.rename_token("bin", &first.id, "phone").await
    })
    .unwrap();
    assert_eq!(
        (renamed.id.as_str(), renamed.name.as_str()),
        (first.id.as_str(), "phone")
    );
    let e = manage(&env, async |p| {
        p.rename_token("bin", &second.name, "phone").await
    })
    .unwrap_err();
    assert!(matches!(e, MfaError::AlreadyExists(_)), "{e:?}");
    let e = manage(&env, async |p| {
        p.rename_token("bin", "no-such-token", "x").await
    })
    .unwrap_err();
    assert!(matches!(e, MfaError::UnknownToken(_)), "{e:?}");
    let e = manage(&env, async |p| p.rename_token("bin", "phone", "12").await).unwrap_err();
    assert!(
        matches!(e, MfaError::InvalidArgument(_)),
        "numbers are ids: {e:?}"
    );
    let names: Vec<_> = manage(&env, async |p| p.list_tokens("bin").await)
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert!(
        names.contains(&"phone".to_owned()) && names.contains(&second.name),
        "{names:?}"
    );
    // Another user may not rename bin's tokens.
    let out = env.mfactl_as("nobody", &["rename", "bin", "phone", "mine"]);
    assert!(
        !out.success() && out.stderr.contains("may only act on its own account"),
        "{out:?}"
    );
}

#[test]
fn given_failures_and_rules_then_status_reports_them() {
    let env = TestEnv::builder()
        .config("[rate_limit]\nfree_failures = 1\nbase_delay_secs = 60\nmax_delay_secs = 60\n")
        .start();
    let t = env.enroll_new("sys");
    for _ in 0..2 {
        assert!(!env.login("sys", &[&t.wrong_code()]).succeeded());
    }
    manage(&env, async |p| {
        p.set_service_policy("sshd", "off", &[]).await
    })
    .unwrap();
    manage(&env, async |p| {
        p.set_service_policy("sudo", "required", &[]).await
    })
    .unwrap();
    let s = manage(&env, async |p| p.status("sys").await).unwrap();
    assert_eq!(s.user, "sys");
    assert_eq!(s.tokens.len(), 1);
    assert_eq!(s.failures, 2);
    assert!(s.locked_until > mfa_tests::now() as i64, "{s:?}");
    assert!(!s.locked_out);
    let decisions: Vec<(String, String)> = s
        .services
        .into_iter()
        .map(|p| (p.service, p.mode))
        .collect();
    assert_eq!(
        decisions,
        vec![
            ("sshd".to_owned(), "not-required".to_owned()),
            ("sudo".to_owned(), "ask".to_owned())
        ]
    );
    // Unlock clears it.
    manage(&env, async |p| p.unlock("sys").await).unwrap();
    let s = manage(&env, async |p| p.status("sys").await).unwrap();
    assert_eq!((s.failures, s.locked_until), (0, 0));
    // Users see their own status only.
    let out = env.mfactl_as("nobody", &["status", "sys"]);
    assert!(
        !out.success() && out.stderr.contains("may only act on its own account"),
        "{out:?}"
    );
    let out = env.mfactl(&["--json", "status", "sys"]);
    assert!(
        out.success() && out.stdout.contains("\"user\":\"sys\""),
        "{out:?}"
    );
}
