//! Recovery codes through the real libpam, bus, daemon and SQLite: ten one-time codes, each
//! accepted once, typed in any case with or without hyphens, replaced as a whole set, counted
//! on the same failure counter as TOTP codes, and never written anywhere in clear.

mod common;

use common::{call, enroll_tokens, root_conn};
use mfa_tests::manage::add_stacked_service;
use mfa_tests::{PAM_AUTH_ERR, TestEnv, contains_token, no_token_headline};

const NOT_ACCEPTED: &str = "the recovery code was not accepted.";
/// Failures happen on purpose; keep the back-off out of the way.
const LENIENT: &str = "[rate_limit]\nfree_failures = 90\nbase_delay_secs = 1\nmax_delay_secs = 1\n";

fn setup(config: Option<&str>) -> (TestEnv, zbus::Connection) {
    let env = match config {
        Some(c) => TestEnv::builder().config(c).start(),
        None => TestEnv::start(),
    };
    let root = root_conn(&env);
    add_stacked_service(&env, "r-all", "required");
    call(&root, async |p| {
        p.set_service_policy("r-all", "required", &[]).await
    })
    .unwrap();
    add_stacked_service(&env, "r-rec", "required");
    call(&root, async |p| {
        p.set_service_policy("r-rec", "required", &["recovery"])
            .await
    })
    .unwrap();
    (env, root)
}

fn generate(root: &zbus::Connection, user: &str) -> Vec<String> {
    call(root, async |p| p.generate_recovery_codes(user).await)
        .unwrap_or_else(|e| panic!("generate recovery codes for {user}: {e:?}"))
}

fn left(root: &zbus::Connection, user: &str) -> u32 {
    let n = call(root, async |p| p.recovery_codes_left(user).await).expect("codes left");
    let s = call(root, async |p| p.status(user).await).expect("status");
    assert_eq!(
        s.recovery_codes_left, n,
        "status and RecoveryCodesLeft disagree"
    );
    n
}

fn failures(root: &zbus::Connection, user: &str) -> u32 {
    call(root, async |p| p.status(user).await)
        .expect("status")
        .failures
}

/// `7k2m-q9xd-4hvc-e1rt`: four groups of four from Crockford's lowercase alphabet.
fn well_formed(code: &str) -> bool {
    let groups: Vec<&str> = code.split('-').collect();
    groups.len() == 4
        && groups.iter().all(|g| {
            g.len() == 4
                && g.bytes()
                    .all(|b| b"0123456789abcdefghjkmnpqrstvwxyz".contains(&b))
        })
}

/// Every form a code was typed or shown in must be absent from the syslog, mfad's own log
/// and the database files.
fn assert_nowhere_in_clear(env: &TestEnv, codes: &[String]) {
    let syslog = env.syslog_lines().join("\n");
    let mfad_log = env.mfad_log();
    let mut db = Vec::new();
    for suffix in ["", "-wal", "-journal"] {
        let mut p = env.db_path().into_os_string();
        p.push(suffix);
        if let Ok(bytes) = std::fs::read(&p) {
            db.extend(bytes);
        }
    }
    assert!(!db.is_empty(), "no database read");
    let db = String::from_utf8_lossy(&db);
    for code in codes {
        let bare = code.replace('-', "");
        for form in [
            code.clone(),
            code.to_uppercase(),
            bare.clone(),
            bare.to_uppercase(),
        ] {
            assert!(
                !contains_token(&syslog, &form),
                "{form} in syslog:\n{syslog}"
            );
            assert!(!contains_token(&mfad_log, &form), "{form} in mfad's log");
            assert!(
                !db.contains(&form),
                "{form} stored in clear in the database"
            );
        }
    }
}

#[test]
fn given_a_set_then_each_code_works_exactly_once_in_any_case_and_the_count_goes_down() {
    let (env, root) = setup(Some(LENIENT));
    let codes = generate(&root, "sys");
    assert_eq!(codes.len(), 10, "{codes:?}");
    assert!(codes.iter().all(|c| well_formed(c)), "{codes:?}");
    let mut distinct = codes.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 10, "{codes:?}");
    assert_eq!(left(&root, "sys"), 10);
    for (i, code) in codes.iter().enumerate() {
        // Typed as shown, in capitals, without hyphens, or both.
        let typed = match i % 4 {
            0 => code.clone(),
            1 => code.to_uppercase(),
            2 => code.replace('-', ""),
            _ => code.replace('-', "").to_uppercase(),
        };
        let out = env.login_service("r-all", "sys", &[&typed]);
        out.assert_success();
        assert_eq!(out.prompts, vec!["Recovery code: "], "{out}");
        let remaining = 9 - i;
        assert_eq!(out.infos.len(), 1, "{out}");
        assert!(
            out.infos[0].starts_with(&format!("Recovery code accepted; {remaining} left.")),
            "{out}"
        );
        assert_eq!(left(&root, "sys"), remaining as u32);
        if i < 9 {
            // The code just used is refused, however typed, and that is a failure.
            let again = env.login_service("r-all", "sys", &[&code.to_uppercase()]);
            again.assert_denied("r-all", "sys", NOT_ACCEPTED);
            assert_eq!(again.result, Some(PAM_AUTH_ERR), "{again}");
            assert_eq!(failures(&root, "sys"), 1);
            assert_eq!(left(&root, "sys"), remaining as u32);
        }
    }
    // All used: nothing left to log in with.
    let out = env.login_service("r-all", "sys", &[&codes[0]]);
    out.assert_denied("r-all", "sys", &no_token_headline("sys"));
    assert!(out.prompts.is_empty(), "{out}");
    assert_nowhere_in_clear(&env, &codes);
}

#[test]
fn given_a_new_set_then_the_old_codes_stop_working() {
    let (env, root) = setup(Some(LENIENT));
    let old = generate(&root, "games");
    env.login_service("r-all", "games", &[&old[0]])
        .assert_success();
    assert_eq!(left(&root, "games"), 9);
    let new = generate(&root, "games");
    assert_eq!(left(&root, "games"), 10, "the new set replaces the old one");
    assert!(new.iter().all(|c| !old.contains(c)), "{old:?} {new:?}");
    for code in &old[1..3] {
        let out = env.login_service("r-all", "games", &[code]);
        out.assert_denied("r-all", "games", NOT_ACCEPTED);
    }
    assert_eq!(failures(&root, "games"), 2);
    let out = env.login_service("r-all", "games", &[&new[0]]);
    out.assert_success();
    assert!(
        out.infos[0].starts_with("Recovery code accepted; 9 left."),
        "{out}"
    );
    assert_eq!(
        failures(&root, "games"),
        0,
        "a success clears the failure counter"
    );
    let mut all = old;
    all.extend(new);
    assert_nowhere_in_clear(&env, &all);
}

#[test]
fn given_wrong_codes_of_either_kind_then_they_count_on_one_failure_counter() {
    let (env, root) = setup(Some(LENIENT));
    let t = enroll_tokens(&root, "man", 2);
    let codes = generate(&root, "man");
    // TOTP wrong, recovery wrong (a well-formed code of another set), recovery malformed.
    let other = generate(&root, "lp");
    env.login_service("r-all", "man", &["1", &t[0].wrong_code()])
        .assert_denied("r-all", "man", "the verification code was not accepted.");
    assert_eq!(failures(&root, "man"), 1);
    env.login_service("r-all", "man", &["2", &other[0]])
        .assert_denied("r-all", "man", NOT_ACCEPTED);
    assert_eq!(failures(&root, "man"), 2);
    env.login_service("r-rec", "man", &["not-a-code"])
        .assert_denied("r-rec", "man", NOT_ACCEPTED);
    assert_eq!(failures(&root, "man"), 3);
    env.login_service("r-all", "man", &["1", &t[0].wrong_code()])
        .assert_denied("r-all", "man", "the verification code was not accepted.");
    assert_eq!(failures(&root, "man"), 4);
    assert_eq!(left(&root, "man"), 10, "failures use no code");
    // A right recovery code clears the counter for both.
    env.login_service("r-rec", "man", &[&codes[0]])
        .assert_success();
    assert_eq!(failures(&root, "man"), 0);
    assert_eq!(left(&root, "lp"), 10, "another user's set is untouched");
}

#[test]
fn given_recovery_failures_then_the_back_off_closes_totp_too() {
    // One free failure, then a minute of back-off.
    let (env, root) = setup(Some(
        "[rate_limit]\nfree_failures = 1\nbase_delay_secs = 60\nmax_delay_secs = 60\n",
    ));
    let t = enroll_tokens(&root, "uucp", 1);
    generate(&root, "uucp");
    for _ in 0..2 {
        env.login_service("r-rec", "uucp", &["0000-0000-0000-0000"])
            .assert_denied("r-rec", "uucp", NOT_ACCEPTED);
    }
    let s = call(&root, async |p| p.status("uucp").await).unwrap();
    assert_eq!(s.failures, 2, "{s:?}");
    assert!(s.locked_until > mfa_tests::now() as i64, "{s:?}");
    // The right TOTP code is refused while the back-off runs, on any service.
    let out = env.login_service("r-all", "uucp", &["1", &t[0].current_code()]);
    assert_eq!(out.result, Some(PAM_AUTH_ERR), "{out}");
    assert!(
        out.error_text().contains(mfa_tests::TOO_MANY),
        "expected the back-off message:\n{out}"
    );
    call(&root, async |p| p.unlock("uucp").await).unwrap();
    env.login_service("r-all", "uucp", &["1", &t[0].current_code()])
        .assert_success();
}
