//! Self-service over the bus as a non-root user (a connection the bus sees as that account):
//! always-require and who may turn it on, step-ups before sensitive changes (bound to the
//! connection, single use), removing one's last token, new recovery codes; and the admin-only
//! calls (lock, unlock, policy, deadlines) with their argument checks.

mod common;

use common::{assert_refused, call, conn_as, enroll_tokens, root_conn, step_up};
use mfa_tests::manage::add_stacked_service;
use mfa_tests::{PROMPT, TestEnv, no_token_headline, now};

fn always_require(root: &zbus::Connection, user: &str) -> bool {
    call(root, async |p| p.status(user).await)
        .expect("status")
        .always_require
}

fn token_count(root: &zbus::Connection, user: &str) -> usize {
    call(root, async |p| p.list_tokens(user).await)
        .expect("list")
        .len()
}

#[test]
fn given_the_permission_then_only_permitted_users_with_a_token_may_turn_always_require_on() {
    let env = TestEnv::start();
    let root = root_conn(&env);
    assert_eq!(
        call(&root, async |p| p.policy().await)
            .unwrap()
            .always_require_allow,
        "all",
        "the default"
    );
    // Without a token: NotEnrolled, even though everyone is permitted.
    let games = conn_as(&env, "games");
    let who = call(&games, async |p| p.who_am_i().await).unwrap();
    assert_eq!((who.user.as_str(), who.admin), ("games", false), "{who:?}");
    assert_refused(
        call(&games, async |p| p.set_always_require("games", true).await),
        "NotEnrolled",
    );
    assert!(!always_require(&root, "games"));
    // With a token: allowed, for oneself only.
    enroll_tokens(&root, "games", 1);
    call(&games, async |p| p.set_always_require("", true).await).expect("turn on");
    assert!(always_require(&root, "games"));
    let own = call(&games, async |p| p.status("games").await).unwrap();
    assert!(own.always_require, "{own:?}");
    enroll_tokens(&root, "daemon", 1);
    enroll_tokens(&root, "sys", 1);
    assert_refused(
        call(&games, async |p| p.set_always_require("daemon", true).await),
        "AccessDenied",
    );
    assert!(!always_require(&root, "daemon"));
    // `none`: nobody may, but an administrator may still set it for anyone.
    call(&root, async |p| {
        p.set_always_require_permission("none").await
    })
    .unwrap();
    let daemon = conn_as(&env, "daemon");
    assert_refused(
        call(&daemon, async |p| {
            p.set_always_require("daemon", true).await
        }),
        "AccessDenied",
    );
    assert!(!always_require(&root, "daemon"));
    call(&root, async |p| p.set_always_require("daemon", true).await).expect("root sets it");
    assert!(always_require(&root, "daemon"));
    call(&root, async |p| p.set_always_require("daemon", false).await).expect("root clears it");
    // `group:daemon`: the members only (daemon is, sys is not).
    call(&root, async |p| {
        p.set_always_require_permission("group:daemon").await
    })
    .unwrap();
    assert_eq!(
        call(&root, async |p| p.policy().await)
            .unwrap()
            .always_require_allow,
        "group:daemon"
    );
    call(&daemon, async |p| {
        p.set_always_require("daemon", true).await
    })
    .expect("member");
    assert!(always_require(&root, "daemon"));
    let sys = conn_as(&env, "sys");
    assert_refused(
        call(&sys, async |p| p.set_always_require("sys", true).await),
        "AccessDenied",
    );
    assert!(!always_require(&root, "sys"));
    // Only an administrator sets the permission, and only to a valid value.
    assert_refused(
        call(&sys, async |p| p.set_always_require_permission("all").await),
        "AccessDenied",
    );
    for bad in ["some", "group:", "group:no-such-group-mfa", "user:sys", ""] {
        let r = call(&root, async |p| p.set_always_require_permission(bad).await);
        assert!(
            matches!(r, Err(mfa_proto::MfaError::InvalidArgument(_))),
            "{bad:?}: {r:?}"
        );
    }
    assert_eq!(
        call(&root, async |p| p.policy().await)
            .unwrap()
            .always_require_allow,
        "group:daemon",
        "refused values change nothing"
    );
}

#[test]
fn given_always_require_on_then_turning_it_off_needs_a_step_up_on_the_same_connection() {
    let env = TestEnv::start();
    let root = root_conn(&env);
    let t = enroll_tokens(&root, "bin", 3);
    let a = conn_as(&env, "bin");
    let b = conn_as(&env, "bin");
    call(&a, async |p| p.set_always_require("bin", true).await).expect("turn on");
    assert_refused(
        call(&a, async |p| p.set_always_require("bin", false).await),
        "StepUpRequired",
    );
    assert!(always_require(&root, "bin"));
    // A step-up on B: one prompt for the only method, then allow.
    let first = call(&b, async |p| p.begin_step_up("").await).unwrap();
    assert_eq!(
        (first.kind.as_str(), first.text.as_str(), first.echo),
        ("prompt", PROMPT, false),
        "{first:?}"
    );
    let code = t[0].current_code();
    let done = call(&b, async |p| p.answer_step_up(&first.flow, &code).await).unwrap();
    assert_eq!(done.kind, "allow", "{done:?}");
    // The grant belongs to B: A still cannot.
    assert_refused(
        call(&a, async |p| p.set_always_require("bin", false).await),
        "StepUpRequired",
    );
    assert!(always_require(&root, "bin"));
    call(&b, async |p| p.set_always_require("bin", false).await).expect("stepped up");
    assert!(!always_require(&root, "bin"));
    // The code of the step-up is spent: it does not log in afterwards.
    add_stacked_service(&env, "s-req", "required");
    env.login_service("s-req", "bin", &[&code]).assert_denied(
        "s-req",
        "bin",
        "the verification code was not accepted.",
    );
    call(&root, async |p| p.unlock("bin").await).unwrap();
    // Single use: on again (no step-up needed for that), off needs a new one.
    call(&b, async |p| p.set_always_require("bin", true).await).expect("on again");
    assert_refused(
        call(&b, async |p| p.set_always_require("bin", false).await),
        "StepUpRequired",
    );
    // A failed step-up grants nothing and counts as a failure.
    let denied = step_up(&b, "bin", &[&t[1].wrong_code()]);
    assert_eq!(denied.kind, "deny", "{denied:?}");
    assert_refused(
        call(&b, async |p| p.set_always_require("bin", false).await),
        "StepUpRequired",
    );
    let s = call(&root, async |p| p.status("bin").await).unwrap();
    assert_eq!(s.failures, 1, "{s:?}");
    assert!(s.always_require);
    // An administrator needs no step-up.
    call(&root, async |p| p.set_always_require("bin", false).await).expect("root");
    assert!(!always_require(&root, "bin"));
}

#[test]
fn given_a_users_last_token_then_removing_it_needs_a_step_up_and_clears_always_require() {
    let env = TestEnv::start();
    let root = root_conn(&env);
    add_stacked_service(&env, "s-req", "required");
    let t = enroll_tokens(&root, "sys", 2);
    let sys = conn_as(&env, "sys");
    call(&sys, async |p| p.set_always_require("", true).await).expect("on");
    // Not the last one: no step-up needed.
    call(&sys, async |p| p.remove_token("", "t1").await).expect("remove t1");
    assert_eq!(token_count(&root, "sys"), 1);
    // The last one: refused, nothing removed.
    assert_refused(
        call(&sys, async |p| p.remove_token("sys", "t2").await),
        "StepUpRequired",
    );
    assert_eq!(token_count(&root, "sys"), 1);
    assert!(always_require(&root, "sys"));
    // Another connection's step-up does not count for this one.
    let other = conn_as(&env, "sys");
    assert_eq!(step_up(&other, "", &[&t[1].current_code()]).kind, "allow");
    assert_refused(
        call(&sys, async |p| p.remove_token("sys", "t2").await),
        "StepUpRequired",
    );
    assert_eq!(token_count(&root, "sys"), 1);
    // On the stepped-up connection it works, and always-require goes with the last token.
    call(&other, async |p| p.remove_token("sys", "t2").await).expect("remove last");
    assert_eq!(token_count(&root, "sys"), 0);
    assert!(!always_require(&root, "sys"), "cleared with the last token");
    env.login_service("s-req", "sys", &[])
        .assert_denied("s-req", "sys", &no_token_headline("sys"));
    // Without any factor there is nothing to step up with.
    assert_refused(
        call(&sys, async |p| p.begin_step_up("").await),
        "NotEnrolled",
    );
    // An administrator removes anyone's last token without a step-up.
    enroll_tokens(&root, "games", 1);
    call(&root, async |p| p.set_always_require("games", true).await).unwrap();
    call(&root, async |p| p.remove_token("games", "t1").await).expect("root");
    assert_eq!(token_count(&root, "games"), 0);
    assert!(!always_require(&root, "games"));
}

#[test]
fn given_a_token_then_new_recovery_codes_need_a_single_use_step_up() {
    let env = TestEnv::start();
    let root = root_conn(&env);
    // Nothing enrolled yet: a first set needs no step-up.
    let lp = conn_as(&env, "lp");
    let first = call(&lp, async |p| p.generate_recovery_codes("").await).expect("first set");
    assert_eq!(first.len(), 10);
    // With a token, it does.
    let man = conn_as(&env, "man");
    let t = enroll_tokens(&root, "man", 2);
    assert_refused(
        call(&man, async |p| p.generate_recovery_codes("man").await),
        "StepUpRequired",
    );
    assert_eq!(
        call(&man, async |p| p.recovery_codes_left("man").await).unwrap(),
        0
    );
    assert_eq!(step_up(&man, "", &[&t[0].current_code()]).kind, "allow");
    let codes = call(&man, async |p| p.generate_recovery_codes("man").await).expect("stepped up");
    assert_eq!(codes.len(), 10);
    // Used up by that call.
    assert_refused(
        call(&man, async |p| p.generate_recovery_codes("man").await),
        "StepUpRequired",
    );
    // A step-up with both methods goes through the chooser; a recovery code does it.
    let choose = call(&man, async |p| p.begin_step_up("").await).unwrap();
    assert_eq!(
        (choose.kind.as_str(), choose.text.as_str(), choose.echo),
        ("prompt", "Method [1]: ", true),
        "{choose:?}"
    );
    assert_eq!(
        choose.info,
        vec![
            "Choose a second factor (Enter for 1):",
            "  1) Authenticator app (TOTP code)",
            "  2) Recovery code"
        ]
    );
    let ask = call(&man, async |p| p.answer_step_up(&choose.flow, "2").await).unwrap();
    assert_eq!(
        (ask.kind.as_str(), ask.text.as_str()),
        ("prompt", "Recovery code: ")
    );
    let ok = call(&man, async |p| p.answer_step_up(&ask.flow, &codes[0]).await).unwrap();
    assert_eq!(ok.kind, "allow", "{ok:?}");
    assert_eq!(
        call(&man, async |p| p.recovery_codes_left("").await).unwrap(),
        9
    );
    // Bound to the connection: another one of man's gets nothing from it.
    let man2 = conn_as(&env, "man");
    assert_refused(
        call(&man2, async |p| p.generate_recovery_codes("man").await),
        "StepUpRequired",
    );
    let fresh = call(&man, async |p| p.generate_recovery_codes("man").await).expect("granted");
    assert_eq!(
        call(&root, async |p| p.recovery_codes_left("man").await).unwrap(),
        10
    );
    assert!(fresh.iter().all(|c| !codes.contains(c)));
    // Others' codes are none of man's business, nor their step-ups.
    assert_refused(
        call(&man, async |p| p.generate_recovery_codes("lp").await),
        "AccessDenied",
    );
    assert_refused(
        call(&man, async |p| p.recovery_codes_left("lp").await),
        "AccessDenied",
    );
    assert_refused(
        call(&man, async |p| p.begin_step_up("lp").await),
        "AccessDenied",
    );
    // An administrator needs no step-up.
    call(&root, async |p| p.generate_recovery_codes("man").await).expect("root");
}

#[test]
fn given_a_locked_user_then_a_step_up_is_denied_too() {
    let env = TestEnv::start();
    let root = root_conn(&env);
    let t = enroll_tokens(&root, "news", 1);
    call(&root, async |p| p.lock("news", "").await).unwrap();
    let news = conn_as(&env, "news");
    let step = call(&news, async |p| p.begin_step_up("").await).unwrap();
    assert_eq!(step.kind, "deny", "{step:?}");
    assert!(
        step.text
            .contains("the second factor of news is locked by an administrator."),
        "{step:?}"
    );
    call(&root, async |p| p.unlock("news").await).unwrap();
    assert_eq!(step_up(&news, "", &[&t[0].current_code()]).kind, "allow");
}

#[test]
fn given_a_non_admin_then_lock_unlock_and_policy_changes_are_refused() {
    let env = TestEnv::start();
    let root = root_conn(&env);
    let daemon = conn_as(&env, "daemon");
    let future = (now() + 86_400) as i64;
    assert_refused(
        call(&daemon, async |p| p.lock("daemon", "mine").await),
        "AccessDenied",
    );
    assert_refused(
        call(&daemon, async |p| p.lock("bin", "").await),
        "AccessDenied",
    );
    assert_refused(
        call(&daemon, async |p| p.unlock("daemon").await),
        "AccessDenied",
    );
    assert_refused(
        call(&daemon, async |p| p.set_grace("daemon", future).await),
        "AccessDenied",
    );
    assert_refused(
        call(&daemon, async |p| p.set_grace("group:daemon", future).await),
        "AccessDenied",
    );
    assert_refused(
        call(&daemon, async |p| {
            p.set_service_policy("sshd", "off", &[]).await
        }),
        "AccessDenied",
    );
    assert_refused(
        call(&daemon, async |p| {
            p.set_group_enforcement("daemon", true).await
        }),
        "AccessDenied",
    );
    assert_refused(
        call(&daemon, async |p| p.status("bin").await),
        "AccessDenied",
    );
    assert_refused(
        call(&daemon, async |p| p.explain("bin", "sshd").await),
        "AccessDenied",
    );
    // Nothing changed.
    let s = call(&root, async |p| p.status("daemon").await).unwrap();
    assert!(!s.admin_locked && s.grace_until == 0, "{s:?}");
    let pol = call(&root, async |p| p.policy().await).unwrap();
    assert!(
        pol.services.is_empty() && pol.grace.is_empty() && pol.enforced_groups.is_empty(),
        "{pol:?}"
    );
    // Root may lock and unlock; the user sees their own lock in their status.
    call(&root, async |p| p.lock("daemon", "under review").await).unwrap();
    let own = call(&daemon, async |p| p.status("").await).unwrap();
    assert!(own.admin_locked, "{own:?}");
    assert_refused(
        call(&daemon, async |p| p.unlock("daemon").await),
        "AccessDenied",
    );
    assert!(
        call(&root, async |p| p.status("daemon").await)
            .unwrap()
            .admin_locked
    );
    call(&root, async |p| p.unlock("daemon").await).unwrap();
    assert!(
        !call(&root, async |p| p.status("daemon").await)
            .unwrap()
            .admin_locked
    );
    assert_refused(
        call(&root, async |p| p.lock("no-such-user-mfa", "").await),
        "UnknownUser",
    );
}

#[test]
fn given_deadline_and_method_arguments_then_invalid_ones_are_refused() {
    let env = TestEnv::start();
    let root = root_conn(&env);
    let n = now() as i64;
    for until in [n - 10, n, -5] {
        assert_refused(
            call(&root, async |p| p.set_grace("bin", until).await),
            "InvalidArgument",
        );
        assert_refused(
            call(&root, async |p| p.set_grace("group:daemon", until).await),
            "InvalidArgument",
        );
    }
    assert_refused(
        call(&root, async |p| {
            p.set_grace("group:no-such-group-mfa", n + 3600).await
        }),
        "InvalidArgument",
    );
    assert_refused(
        call(&root, async |p| {
            p.set_grace("group:bad:name", n + 3600).await
        }),
        "InvalidArgument",
    );
    assert_refused(
        call(&root, async |p| {
            p.set_grace("no-such-user-mfa", n + 3600).await
        }),
        "UnknownUser",
    );
    // Removing a deadline that does not exist is an error, not a silent success.
    assert_refused(
        call(&root, async |p| p.set_grace("bin", 0).await),
        "InvalidArgument",
    );
    assert!(
        call(&root, async |p| p.policy().await)
            .unwrap()
            .grace
            .is_empty()
    );
    // Valid ones are listed, by subject, and removed with 0.
    call(&root, async |p| p.set_grace("bin", n + 3600).await).unwrap();
    call(&root, async |p| p.set_grace("group:daemon", n + 7200).await).unwrap();
    let mut grace: Vec<(String, i64)> = call(&root, async |p| p.policy().await)
        .unwrap()
        .grace
        .into_iter()
        .map(|g| (g.subject, g.until))
        .collect();
    grace.sort(); // the order has a test of its own
    assert_eq!(
        grace,
        vec![
            ("bin".to_owned(), n + 3600),
            ("group:daemon".to_owned(), n + 7200)
        ]
    );
    assert_eq!(
        call(&root, async |p| p.status("bin").await)
            .unwrap()
            .grace_until,
        n + 3600
    );
    call(&root, async |p| p.set_grace("bin", 0).await).unwrap();
    call(&root, async |p| p.set_grace("group:daemon", 0).await).unwrap();
    assert!(
        call(&root, async |p| p.policy().await)
            .unwrap()
            .grace
            .is_empty()
    );
    // Service methods: only known ones; the policy shows them, empty meaning every method.
    for bad in [&["voice"][..], &["totp", "webauthn"][..], &[""][..]] {
        assert_refused(
            call(&root, async |p| {
                p.set_service_policy("sshd", "required", bad).await
            }),
            "InvalidArgument",
        );
    }
    call(&root, async |p| {
        p.set_service_policy("sshd", "optional", &["recovery"])
            .await
    })
    .unwrap();
    call(&root, async |p| {
        p.set_service_policy(
            "*",
            "required",
            &["totp", "fido2", "email", "sms", "ssh-sk", "recovery"],
        )
        .await
    })
    .unwrap();
    let services: Vec<(String, String, Vec<String>)> = call(&root, async |p| p.policy().await)
        .unwrap()
        .services
        .into_iter()
        .map(|s| (s.service, s.mode, s.methods))
        .collect();
    assert_eq!(
        services,
        vec![
            ("*".to_owned(), "required".to_owned(), vec![]),
            (
                "sshd".to_owned(),
                "optional".to_owned(),
                vec!["recovery".to_owned()]
            ),
        ]
    );
}

#[test]
fn given_user_and_group_deadlines_then_the_policy_lists_them_sorted_by_subject() {
    // mfa-proto: `PolicyOverview::grace` is "Enrollment deadlines, sorted by subject", and a
    // subject is "A user name, or `group:NAME`".
    let env = TestEnv::start();
    let root = root_conn(&env);
    let n = now() as i64;
    for (subject, until) in [
        ("uucp", n + 100),
        ("group:sys", n + 200),
        ("bin", n + 300),
        ("group:daemon", n + 400),
    ] {
        call(&root, async |p| p.set_grace(subject, until).await).unwrap();
    }
    let subjects: Vec<String> = call(&root, async |p| p.policy().await)
        .unwrap()
        .grace
        .into_iter()
        .map(|g| g.subject)
        .collect();
    assert_eq!(subjects, ["bin", "group:daemon", "group:sys", "uucp"]);
}

#[test]
fn a_second_totp_token_needs_a_step_up_like_any_new_factor() {
    let env = TestEnv::start();
    let root = root_conn(&env);
    let first = enroll_tokens(&root, "games", 1);
    let games = conn_as(&env, "games");
    let second = mfa_tests::Totp::sha1();
    let opts = mfa_proto::TotpEnrollOptions {
        name: "second".into(),
        secret_base32: second.secret.clone(),
        digits: second.digits,
        algorithm: second.algorithm.clone(),
        period: second.period as u32,
        issuer: String::new(),
    };
    // A new token is a new way in: no secret is even shown without a fresh factor.
    assert_refused(
        call(&games, async |p| p.begin_totp_enrollment("", &opts).await),
        "StepUpRequired",
    );
    let step = step_up(&games, "", &[&first[0].current_code()]);
    assert_eq!(step.kind, "allow", "{step:?}");
    let start = call(&games, async |p| p.begin_totp_enrollment("", &opts).await).unwrap();
    let code = second.previous_code();
    let saved = call(&games, async |p| {
        p.confirm_totp_enrollment(&start.enrollment, &code).await
    })
    .unwrap();
    assert_eq!(saved.name, "second");
    // The grant was used up by that token: the next one needs a new step-up.
    let mut third = opts.clone();
    third.name = "third".into();
    assert_refused(
        call(&games, async |p| p.begin_totp_enrollment("", &third).await),
        "StepUpRequired",
    );
    // Root (an admin) needs none.
    call(&root, async |p| {
        p.begin_totp_enrollment("games", &third).await
    })
    .unwrap();
}
