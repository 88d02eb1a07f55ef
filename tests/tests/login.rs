//! Logins through the real libpam, the real module, bus and daemon.

use std::sync::Barrier;
use std::time::Duration;

use mfa_tests::{
    DEFAULT_SERVICE, NOT_ACCEPTED, PAM_AUTH_ERR, PAM_SUCCESS, TOO_MANY, TestEnv, Totp,
    no_token_headline, wait_for_fresh_step,
};

#[test]
fn given_enrolled_user_when_right_code_then_success() {
    let env = TestEnv::start();
    let t = env.enroll_new("bin");
    let out = env.login("bin", &[&t.current_code()]);
    assert!(out.prompted(), "no code prompt:\n{out}");
    out.assert_success();
    assert!(out.errors.is_empty(), "no error message on success:\n{out}");
}

#[test]
fn given_enrolled_user_when_wrong_code_then_auth_err_with_message() {
    let env = TestEnv::start();
    let t = env.enroll_new("daemon");
    let out = env.login("daemon", &[&t.wrong_code()]);
    assert!(out.prompted(), "no code prompt:\n{out}");
    out.assert_denied(DEFAULT_SERVICE, "daemon", NOT_ACCEPTED);
    assert_eq!(out.result, Some(PAM_AUTH_ERR), "{out}");
}

#[test]
fn given_code_used_once_when_same_code_again_then_denied() {
    let env = TestEnv::start();
    let t = env.enroll_new("sys");
    let code = t.current_code();
    env.login("sys", &[&code]).assert_success();
    let again = env.login("sys", &[&code]);
    again.assert_denied(DEFAULT_SERVICE, "sys", NOT_ACCEPTED);
    assert_eq!(again.result, Some(PAM_AUTH_ERR), "{again}");
}

#[test]
fn given_enrolled_user_when_code_of_the_enrollment_step_then_denied() {
    // Enrollment consumed the previous step: its code must not log in.
    let env = TestEnv::start();
    let t = Totp::sha1();
    wait_for_fresh_step(30, 6);
    let enroll_code = t.previous_code();
    let out = env.enroll_with_code(None, "man", &t, &enroll_code);
    assert!(out.success(), "{out}");
    env.login("man", &[&enroll_code])
        .assert_denied(DEFAULT_SERVICE, "man", NOT_ACCEPTED);
}

#[test]
fn given_64_parallel_logins_with_one_valid_code_then_exactly_one_succeeds() {
    const N: usize = 64;
    // No throttling, so every racer gets as far as checking the code: the replay race proper.
    let env = TestEnv::builder()
        .config("[rate_limit]\nfree_failures = 90\n")
        .start();
    let t = env.enroll_new("games");
    let code = t.current_code();
    let barrier = Barrier::new(N);
    let outcomes: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..N)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    env.login("games", &[&code])
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("login thread"))
            .collect()
    });
    let successes = outcomes.iter().filter(|o| o.succeeded()).count();
    for o in &outcomes {
        assert!(!o.output.timed_out, "a racing login hung:\n{o}");
        assert!(o.prompted(), "a racing login was not prompted:\n{o}");
        assert!(o.result.is_some(), "a racing login has no PAM result:\n{o}");
        if !o.succeeded() {
            assert_ne!(o.result, Some(PAM_SUCCESS), "{o}");
        }
    }
    assert_eq!(
        successes,
        1,
        "exactly one of {N} logins with the same code may succeed; results: {:?}",
        outcomes.iter().map(|o| o.result).collect::<Vec<_>>()
    );
}

#[test]
fn given_user_without_token_when_login_then_auth_err_no_token_enrolled() {
    let env = TestEnv::start();
    let out = env.login("lp", &["123456"]);
    out.assert_denied(DEFAULT_SERVICE, "lp", &no_token_headline("lp"));
    assert_eq!(out.result, Some(PAM_AUTH_ERR), "{out}");
}

#[test]
fn given_unknown_user_when_login_then_prompted_and_denied_like_a_wrong_code() {
    let env = TestEnv::start();
    let user = "no-such-user-xyz";
    let out = env.login(user, &["123456"]);
    assert!(
        out.prompted(),
        "unknown users must be prompted too (no enumeration):\n{out}"
    );
    out.assert_denied(DEFAULT_SERVICE, user, NOT_ACCEPTED);
    assert_eq!(
        out.result,
        Some(PAM_AUTH_ERR),
        "same result as a wrong code:\n{out}"
    );
}

#[test]
fn given_rate_limit_when_failures_exceed_free_ones_then_right_code_refused_until_delay_passes_even_across_a_restart()
 {
    let env = TestEnv::builder()
        .config("[rate_limit]\nfree_failures = 2\nbase_delay_secs = 2\nmax_delay_secs = 4\nlockout_after = 100\n")
        .start();
    let t = env.enroll_new("mail");
    // Three wrong codes: two free, the third starts a 2 s delay.
    for i in 0..3 {
        let out = env.login("mail", &[&t.wrong_code()]);
        assert!(!out.succeeded(), "wrong code {i} succeeded:\n{out}");
    }
    // The back-off is stored state: a daemon restart must not reopen the gate.
    env.restart_mfad();
    let right = t.current_code();
    let refused = env.login("mail", &[&right]);
    assert!(
        !refused.succeeded(),
        "the right code must wait for the delay:\n{refused}"
    );
    assert!(
        refused.error_text().contains(TOO_MANY),
        "expected the rate-limit message:\n{refused}"
    );
    let secs: u64 = refused
        .error_text()
        .split(TOO_MANY)
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number of seconds in the message:\n{refused}"));
    assert!(
        (1..=4).contains(&secs),
        "delay {secs}s outside 1..=4:\n{refused}"
    );
    std::thread::sleep(Duration::from_secs(secs) + Duration::from_millis(1100));
    // The refused attempt was not checked, so the same (still valid) code works now.
    env.login("mail", &[&right]).assert_success();
}

#[test]
fn given_malformed_answers_via_pam_then_denied_with_the_standard_message() {
    let env = TestEnv::builder()
        .config("[rate_limit]\nfree_failures = 90\n")
        .start();
    let t = env.enroll_new("news");
    let code = t.current_code();
    let fullwidth: String = code
        .chars()
        .map(|c| char::from_u32(0xFF10 + c.to_digit(10).unwrap()).unwrap())
        .collect();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("letters", b"abcdef".to_vec()),
        ("fullwidth digits of the right code", fullwidth.into_bytes()),
        (
            "right code with a trailing letter",
            format!("{code}x").into_bytes(),
        ),
        ("not UTF-8", b"\xff\xfe1234".to_vec()),
        ("64 digits", "1".repeat(64).into_bytes()),
        ("65 digits", "1".repeat(65).into_bytes()),
        ("1 MB", "1".repeat(1024 * 1024).into_bytes()),
    ];
    let want = format!(
        "Access denied\nService: {DEFAULT_SERVICE}\nUser: news\nDetail: Additional authentication is required:\n  - Multi-factor authentication (MFA): {NOT_ACCEPTED}"
    );
    let mut wrong = Vec::new();
    for (what, answer) in &cases {
        let mut line = answer.clone();
        line.push(b'\n');
        let out = env.pam_login(None, DEFAULT_SERVICE, "news", &line, &[]);
        assert!(!out.succeeded() && !out.output.timed_out, "{what}:\n{out}");
        assert!(out.prompted(), "{what}: no prompt:\n{out}");
        if out.result != Some(PAM_AUTH_ERR) || !out.error_text().contains(&want) {
            wrong.push(format!(
                "{what}: PAM result {:?}, messages {:?}",
                out.result, out.errors
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "expected PAM_AUTH_ERR and the standard denial for every case:\n{}",
        wrong.join("\n")
    );
    // None of that consumed the right code.
    env.login("news", &[&code]).assert_success();
}

#[test]
fn given_unknown_user_when_failures_exceed_free_ones_then_treated_like_an_enrolled_user() {
    let env = TestEnv::builder()
        .config("[rate_limit]\nfree_failures = 2\nbase_delay_secs = 30\nmax_delay_secs = 60\n")
        .start();
    let t = env.enroll_new("proxy");
    let mut enrolled = None;
    let mut unknown = None;
    for _ in 0..4 {
        enrolled = Some(env.login("proxy", &[&t.wrong_code()]));
        unknown = Some(env.login("no-such-user-xyz", &[&t.wrong_code()]));
    }
    let (enrolled, unknown) = (enrolled.unwrap(), unknown.unwrap());
    assert!(enrolled.error_text().contains(TOO_MANY), "{enrolled}");
    assert_eq!(
        unknown.prompted(),
        enrolled.prompted(),
        "prompting differs:\n{enrolled}\n---\n{unknown}"
    );
    assert!(
        unknown.error_text().contains(TOO_MANY),
        "an unknown user is never throttled:\n{unknown}"
    );
}
