//! The method chooser through the real libpam: it offers exactly the methods the user has
//! that the service allows, Enter picks the first, numbers and names pick a method, and
//! invalid answers are re-asked, then refused without counting as a failed attempt.

mod common;

use common::{call, enroll_tokens, root_conn};
use mfa_tests::manage::add_stacked_service;
use mfa_tests::{LoginOutcome, PAM_AUTH_ERR, PAM_SUCCESS, PROMPT, TestEnv};

const CHOOSER: &str = "Method [1]: ";
const RECOVERY_PROMPT: &str = "Recovery code: ";
const COMPLAINT: &str = "Please answer with a number from 1 to 2.";

fn menu() -> Vec<String> {
    vec![
        "Choose a second factor (Enter for 1):".to_owned(),
        "  1) Authenticator app (TOTP code)".to_owned(),
        "  2) Recovery code".to_owned(),
    ]
}

/// Services: `c-all` (required, every method), `c-totp` (required, TOTP only), `c-rec`
/// (required, recovery codes only), `c-opt` (optional, every method), `c-opt-rec`
/// (optional, recovery codes only); all stacked `required` before pam_permit.
fn setup() -> (TestEnv, zbus::Connection) {
    let env = TestEnv::start();
    let root = root_conn(&env);
    for (svc, mode, methods) in [
        ("c-all", "required", &[][..]),
        ("c-totp", "required", &["totp"][..]),
        ("c-rec", "required", &["recovery"][..]),
        ("c-opt", "optional", &[][..]),
        ("c-opt-rec", "optional", &["recovery"][..]),
    ] {
        add_stacked_service(&env, svc, "required");
        call(&root, async |p| {
            p.set_service_policy(svc, mode, methods).await
        })
        .unwrap_or_else(|e| panic!("{svc}: {e:?}"));
    }
    (env, root)
}

fn recovery_codes(root: &zbus::Connection, user: &str) -> Vec<String> {
    call(root, async |p| p.generate_recovery_codes(user).await)
        .unwrap_or_else(|e| panic!("generate recovery codes for {user}: {e:?}"))
}

#[track_caller]
fn assert_echo(out: &LoginOutcome, prompt: &str, echo: bool) {
    let line = format!(
        "{}: {prompt}",
        if echo {
            "PROMPT_ECHO_ON"
        } else {
            "PROMPT_ECHO_OFF"
        }
    );
    assert!(
        out.output.stdout.lines().any(|l| l == line),
        "expected {line:?}:\n{out}"
    );
}

#[test]
fn given_one_usable_method_then_no_chooser_and_straight_to_its_prompt() {
    let (env, root) = setup();
    // TOTP only.
    let t = enroll_tokens(&root, "bin", 1);
    let out = env.login_service("c-all", "bin", &[&t[0].current_code()]);
    out.assert_success();
    assert_eq!(out.prompts, vec![PROMPT], "{out}");
    assert!(out.infos.is_empty(), "{out}");
    assert_echo(&out, PROMPT, false);
    // Recovery codes only.
    let codes = recovery_codes(&root, "sys");
    let out = env.login_service("c-all", "sys", &[&codes[0]]);
    out.assert_success();
    assert_eq!(out.prompts, vec![RECOVERY_PROMPT], "{out}");
    assert_echo(&out, RECOVERY_PROMPT, false);
    assert_eq!(out.infos.len(), 1, "{out}");
    assert!(
        out.infos[0].starts_with("Recovery code accepted; 9 left."),
        "{out}"
    );
    // Both enrolled, but the service allows one of them: no chooser either.
    let t = enroll_tokens(&root, "games", 1);
    let codes = recovery_codes(&root, "games");
    let out = env.login_service("c-totp", "games", &[&t[0].current_code()]);
    out.assert_success();
    assert_eq!(out.prompts, vec![PROMPT], "{out}");
    assert!(out.infos.is_empty(), "{out}");
    let out = env.login_service("c-rec", "games", &[&codes[0]]);
    out.assert_success();
    assert_eq!(out.prompts, vec![RECOVERY_PROMPT], "{out}");
    // Status lists, per service, what the user could use there.
    let s = call(&root, async |p| p.status("games").await).unwrap();
    let methods: Vec<(String, String, Vec<String>)> = s
        .services
        .into_iter()
        .map(|p| (p.service, p.mode, p.methods))
        .collect();
    let both = vec!["totp".to_owned(), "recovery".to_owned()];
    assert_eq!(
        methods,
        vec![
            ("c-all".into(), "ask".into(), both.clone()),
            ("c-opt".into(), "ask".into(), both),
            ("c-opt-rec".into(), "not-required".into(), vec![]),
            ("c-rec".into(), "ask".into(), vec!["recovery".to_owned()]),
            ("c-totp".into(), "ask".into(), vec!["totp".to_owned()]),
        ]
    );
}

#[test]
fn given_methods_the_service_does_not_allow_then_denied_naming_both_sides() {
    let (env, root) = setup();
    enroll_tokens(&root, "bin", 1);
    let out = env.login_service("c-rec", "bin", &["123456"]);
    out.assert_denied(
        "c-rec",
        "bin",
        "none of bin's methods (totp) is allowed on c-rec, which accepts: recovery.",
    );
    assert_eq!(out.result, Some(PAM_AUTH_ERR), "{out}");
    assert!(out.prompts.is_empty(), "{out}");
    let e = call(&root, async |p| p.explain("bin", "c-rec").await).unwrap();
    assert_eq!(e.decision, "deny-not-enrolled", "{e:?}");
    recovery_codes(&root, "sys");
    let out = env.login_service("c-totp", "sys", &[]);
    out.assert_denied(
        "c-totp",
        "sys",
        "none of sys's methods (recovery) is allowed on c-totp, which accepts: totp.",
    );
    assert_eq!(out.result, Some(PAM_AUTH_ERR), "{out}");
}

#[test]
fn given_recovery_codes_but_no_usable_token_then_an_optional_service_does_not_ask() {
    let (env, root) = setup();
    // Recovery codes alone do not opt a user in.
    let codes = recovery_codes(&root, "sys");
    let out = env.login_service("c-opt", "sys", &[&codes[0]]);
    assert_eq!(
        out.result,
        Some(PAM_SUCCESS),
        "IGNORE, then pam_permit:\n{out}"
    );
    assert!(out.prompts.is_empty() && out.infos.is_empty(), "{out}");
    // Nor does a token the service does not accept.
    let t = enroll_tokens(&root, "games", 1);
    recovery_codes(&root, "games");
    let out = env.login_service("c-opt-rec", "games", &[]);
    assert_eq!(out.result, Some(PAM_SUCCESS), "{out}");
    assert!(out.prompts.is_empty(), "{out}");
    assert_eq!(
        call(&root, async |p| p.explain("games", "c-opt-rec").await)
            .unwrap()
            .decision,
        "not-required"
    );
    // The unused code still works where it is asked.
    let out = env.login_service("c-all", "sys", &[&codes[0]]);
    out.assert_success();
    // A usable token does opt in: both methods are offered.
    let out = env.login_service("c-opt", "games", &["", &t[0].current_code()]);
    out.assert_success();
    assert_eq!(out.prompts, vec![CHOOSER, PROMPT], "{out}");
}

#[test]
fn given_both_methods_then_the_chooser_offers_both_and_each_answer_picks_its_method() {
    let (env, root) = setup();
    let t = enroll_tokens(&root, "games", 3);
    let codes = recovery_codes(&root, "games");
    // Enter picks the first: TOTP.
    let out = env.login_service("c-all", "games", &["", &t[0].current_code()]);
    out.assert_success();
    assert_eq!(out.infos, menu(), "{out}");
    assert_eq!(out.prompts, vec![CHOOSER, PROMPT], "{out}");
    assert_echo(&out, CHOOSER, true);
    assert_echo(&out, PROMPT, false);
    // "1" and "totp" too.
    for (i, choice) in ["1", "totp"].into_iter().enumerate() {
        let out = env.login_service("c-all", "games", &[choice, &t[i + 1].current_code()]);
        out.assert_success();
        assert_eq!(out.prompts, vec![CHOOSER, PROMPT], "{choice}:\n{out}");
    }
    // "2" and "recovery" pick the recovery code.
    for (i, choice) in ["2", "recovery"].into_iter().enumerate() {
        let out = env.login_service("c-all", "games", &[choice, &codes[i]]);
        out.assert_success();
        assert_eq!(
            out.prompts,
            vec![CHOOSER, RECOVERY_PROMPT],
            "{choice}:\n{out}"
        );
        let mut want = menu();
        want.push(format!("Recovery code accepted; {} left.", 9 - i));
        assert_eq!(out.infos.len(), 4, "{out}");
        assert_eq!(out.infos[..3], want[..3], "{out}");
        assert!(out.infos[3].starts_with(&want[3]), "{out}");
    }
    // The chooser does not let a TOTP code through the recovery prompt, nor the reverse.
    let out = env.login_service("c-all", "games", &["2", &t[0].current_code()]);
    out.assert_denied("c-all", "games", "the recovery code was not accepted.");
    let out = env.login_service("c-all", "games", &["1", &codes[5]]);
    out.assert_denied("c-all", "games", "the verification code was not accepted.");
}

#[test]
fn given_invalid_choices_then_reasked_and_the_third_refuses_without_counting_a_failure() {
    let (env, root) = setup();
    let t = enroll_tokens(&root, "games", 1);
    recovery_codes(&root, "games");
    let out = env.login_service("c-all", "games", &["3", "voice", "0", "1"]);
    out.assert_denied("c-all", "games", "no second factor was chosen.");
    assert_eq!(out.result, Some(PAM_AUTH_ERR), "{out}");
    assert_eq!(out.prompts, vec![CHOOSER; 3], "{out}");
    let mut want = menu();
    for _ in 0..2 {
        want.push(COMPLAINT.to_owned());
        want.extend(menu());
    }
    assert_eq!(out.infos, want, "{out}");
    let s = call(&root, async |p| p.status("games").await).unwrap();
    assert_eq!(
        s.failures, 0,
        "an unchosen method is not a failed attempt: {s:?}"
    );
    // Two invalid answers, then a valid one: the login goes on.
    let out = env.login_service("c-all", "games", &["x", "7", "", &t[0].current_code()]);
    out.assert_success();
    assert_eq!(
        out.prompts,
        vec![CHOOSER, CHOOSER, CHOOSER, PROMPT],
        "{out}"
    );
    assert_eq!(
        out.infos.iter().filter(|i| *i == COMPLAINT).count(),
        2,
        "{out}"
    );
    let s = call(&root, async |p| p.status("games").await).unwrap();
    assert_eq!((s.failures, s.recovery_codes_left), (0, 10), "{s:?}");
}

#[test]
fn given_an_unknown_user_then_the_prompt_is_the_one_a_real_user_of_that_service_gets() {
    let (env, _root) = setup();
    // Recovery codes only: a real user is asked for one, so an unknown name is too.
    let out = env.login_service("c-rec", "no-such-user-mfa-x", &["0000-0000-0000-0000"]);
    assert_eq!(out.prompts, [RECOVERY_PROMPT], "{out}");
    assert_eq!(out.result, Some(PAM_AUTH_ERR), "{out}");
    // TOTP allowed: the code prompt.
    let out = env.login_service("c-all", "no-such-user-mfa-x", &["123456"]);
    assert_eq!(out.prompts, [PROMPT], "{out}");
    assert_eq!(out.result, Some(PAM_AUTH_ERR), "{out}");
}
