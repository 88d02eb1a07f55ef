//! The new `mfactl` commands, run as a non-root user (and as root): `recovery generate`,
//! `always-require on|off`, `remove` of the last token with a step-up answered on standard
//! input (one line per prompt, as when stdin is not a terminal), and the admin-only `lock`,
//! `unlock` and `policy grace|always-require|service --methods`.

mod common;

use common::{call, enroll_tokens, root_conn};
use mfa_tests::manage::{add_stacked_service, admin_locked_headline};
use mfa_tests::{CmdOutput, PROMPT, TestEnv};

const NOTICE: &str = "This change needs a fresh second factor.";

/// The recovery codes in mfactl's text output, one per line.
fn printed_codes(out: &CmdOutput) -> Vec<String> {
    out.stdout
        .lines()
        .map(str::trim)
        .filter(|l| {
            let groups: Vec<&str> = l.split('-').collect();
            groups.len() == 4
                && groups.iter().all(|g| {
                    g.len() == 4
                        && g.bytes()
                            .all(|b| b"0123456789abcdefghjkmnpqrstvwxyz".contains(&b))
                })
        })
        .map(str::to_owned)
        .collect()
}

fn as_user(env: &TestEnv, user: &str, args: &[&str], input: &str) -> CmdOutput {
    env.mfactl_as_with_input(user, args, input)
}

#[track_caller]
fn assert_failed(out: &CmdOutput) {
    assert!(
        !out.timed_out && out.code() == Some(1),
        "expected exit 1:\n{out}"
    );
}

fn status(root: &zbus::Connection, user: &str) -> mfa_proto::UserStatus {
    call(root, async |p| p.status(user).await).expect("status")
}

#[test]
fn given_mfactl_then_recovery_codes_and_always_require_off_need_a_step_up_read_from_stdin() {
    let env = TestEnv::start();
    let root = root_conn(&env);
    add_stacked_service(&env, "x-req", "required");
    let t = enroll_tokens(&root, "bin", 3);
    // No answer: nothing changes.
    let out = as_user(&env, "bin", &["recovery", "generate"], "");
    assert_failed(&out);
    assert!(out.stderr.contains(NOTICE), "{out}");
    assert!(printed_codes(&out).is_empty(), "{out}");
    assert_eq!(status(&root, "bin").recovery_codes_left, 0);
    // One line: the TOTP code (the only method).
    let out = as_user(
        &env,
        "bin",
        &["recovery", "generate"],
        &format!("{}\n", t[0].current_code()),
    );
    assert!(out.success(), "{out}");
    assert!(out.stderr.contains(NOTICE), "{out}");
    assert!(out.stderr.contains(PROMPT.trim_end()), "{out}");
    let codes = printed_codes(&out);
    assert_eq!(codes.len(), 10, "{out}");
    assert_eq!(status(&root, "bin").recovery_codes_left, 10);
    // Always-require: on needs no step-up, off does.
    let out = as_user(&env, "bin", &["always-require", "on"], "");
    assert!(out.success(), "{out}");
    assert!(status(&root, "bin").always_require);
    let out = as_user(
        &env,
        "bin",
        &["always-require", "off"],
        &format!("1\n{}\n", t[1].wrong_code()),
    );
    assert_failed(&out);
    assert!(out.stderr.contains(NOTICE), "{out}");
    let s = status(&root, "bin");
    assert!(s.always_require && s.failures == 1, "{s:?}");
    // Two methods now: the chooser's list goes to stderr, Enter picks TOTP.
    let out = as_user(
        &env,
        "bin",
        &["always-require", "off"],
        &format!("\n{}\n", t[1].current_code()),
    );
    assert!(out.success(), "{out}");
    for line in [
        "Choose a second factor (Enter for 1):",
        "  1) Authenticator app (TOTP code)",
        "  2) Recovery code",
        "Method [1]:",
    ] {
        assert!(out.stderr.contains(line), "{line:?} missing:\n{out}");
    }
    let s = status(&root, "bin");
    assert!(!s.always_require && s.failures == 0, "{s:?}");
    // A recovery code as the step-up for a new set: the old set stops working.
    let out = as_user(
        &env,
        "bin",
        &["recovery", "generate"],
        &format!("2\n{}\n", codes[0]),
    );
    assert!(out.success(), "{out}");
    let new = printed_codes(&out);
    assert_eq!(new.len(), 10, "{out}");
    assert_eq!(status(&root, "bin").recovery_codes_left, 10);
    env.login_service("x-req", "bin", &["2", &codes[1]])
        .assert_denied("x-req", "bin", "the recovery code was not accepted.");
    env.login_service("x-req", "bin", &["2", &new[0]])
        .assert_success();
    // Root needs no step-up for anyone.
    let out = env.mfactl(&["recovery", "generate", "bin"]);
    assert!(out.success(), "{out}");
    assert!(!out.stderr.contains(NOTICE), "{out}");
    assert_eq!(printed_codes(&out).len(), 10, "{out}");
}

#[test]
fn given_mfactl_remove_of_the_last_token_then_only_a_right_code_removes_it() {
    let env = TestEnv::start();
    let root = root_conn(&env);
    let t = enroll_tokens(&root, "sys", 1);
    call(&root, async |p| p.set_always_require("sys", true).await).unwrap();
    let out = as_user(
        &env,
        "sys",
        &["remove", "t1"],
        &format!("{}\n", t[0].wrong_code()),
    );
    assert_failed(&out);
    assert!(out.stderr.contains(NOTICE), "{out}");
    assert_eq!(status(&root, "sys").tokens.len(), 1);
    let out = as_user(
        &env,
        "sys",
        &["remove", "t1"],
        &format!("{}\n", t[0].current_code()),
    );
    assert!(out.success(), "{out}");
    let s = status(&root, "sys");
    assert!(s.tokens.is_empty() && !s.always_require, "{s:?}");
}

#[test]
fn given_mfactl_admin_commands_then_a_user_is_refused_and_root_changes_the_policy() {
    let env = TestEnv::start();
    let root = root_conn(&env);
    add_stacked_service(&env, "x-req", "required");
    let t = enroll_tokens(&root, "bin", 2);
    enroll_tokens(&root, "daemon", 1);
    enroll_tokens(&root, "sys", 1);
    for args in [
        &["lock", "bin"][..],
        &["lock", "nobody"][..],
        &["unlock", "nobody"][..],
        &["policy", "grace", "nobody", "14d"][..],
        &["policy", "grace", "group:daemon", "14d"][..],
        &["policy", "always-require", "allow", "none"][..],
        &["policy", "service", "sshd", "required", "--methods", "totp"][..],
    ] {
        let out = as_user(&env, "nobody", args, "");
        assert_failed(&out);
    }
    let pol = call(&root, async |p| p.policy().await).unwrap();
    assert!(
        pol.services.is_empty() && pol.grace.is_empty() && pol.always_require_allow == "all",
        "{pol:?}"
    );
    assert!(!status(&root, "bin").admin_locked);
    // Lock and unlock.
    let out = env.mfactl(&["lock", "bin", "--reason", "lost phone"]);
    assert!(out.success(), "{out}");
    let s = status(&root, "bin");
    assert!(s.admin_locked && s.lock_reason == "lost phone", "{s:?}");
    env.login_service("x-req", "bin", &[&t[0].current_code()])
        .assert_denied("x-req", "bin", &admin_locked_headline("bin"));
    let out = env.mfactl(&["unlock", "bin"]);
    assert!(out.success(), "{out}");
    env.login_service("x-req", "bin", &[&t[0].current_code()])
        .assert_success();
    // Deadlines: a date is the end of that day in UTC; a passed one is refused; none removes.
    let out = env.mfactl(&["policy", "grace", "group:daemon", "2099-12-31"]);
    assert!(out.success(), "{out}");
    let out = env.mfactl(&["policy", "grace", "nobody", "2020-01-01"]);
    assert!(
        !out.success() && !out.timed_out && matches!(out.code(), Some(1 | 2)),
        "{out}"
    );
    let grace = call(&root, async |p| p.policy().await).unwrap().grace;
    assert_eq!(grace.len(), 1, "{grace:?}");
    assert_eq!(
        (grace[0].subject.as_str(), grace[0].until),
        ("group:daemon", 4_102_444_799)
    );
    let out = env.mfactl(&["policy", "grace", "group:daemon", "none"]);
    assert!(out.success(), "{out}");
    assert!(
        call(&root, async |p| p.policy().await)
            .unwrap()
            .grace
            .is_empty()
    );
    // Who may turn always-require on.
    let out = env.mfactl(&["policy", "always-require", "allow", "group:daemon"]);
    assert!(out.success(), "{out}");
    let out = as_user(&env, "sys", &["always-require", "on"], "");
    assert_failed(&out);
    assert!(!status(&root, "sys").always_require);
    let out = as_user(&env, "daemon", &["always-require", "on"], "");
    assert!(out.success(), "{out}");
    assert!(status(&root, "daemon").always_require);
    // Service rules with methods.
    let out = env.mfactl(&[
        "policy",
        "service",
        "x-req",
        "required",
        "--methods",
        "recovery",
    ]);
    assert!(out.success(), "{out}");
    let services = call(&root, async |p| p.policy().await).unwrap().services;
    assert_eq!(services.len(), 1, "{services:?}");
    assert_eq!(
        (services[0].mode.as_str(), services[0].methods.clone()),
        ("required", vec!["recovery".to_owned()])
    );
    env.login_service("x-req", "bin", &[]).assert_denied(
        "x-req",
        "bin",
        "none of bin's methods (totp) is allowed on x-req, which accepts: recovery.",
    );
}
