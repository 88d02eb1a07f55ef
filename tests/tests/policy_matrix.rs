//! The whole policy matrix through the real libpam, module, bus, daemon and SQLite:
//! service mode (required / optional / off) × member of an enforced group (yes / no) ×
//! always-require (on / off) × enrollment deadline (none / future / passed) × has a token
//! (yes / no), each cell under four stackings of the module:
//!
//! - `raw` (`[success=ok default=bad]`, nothing else): the stack returns what the module
//!   returned. libpam never returns `PAM_IGNORE` (25) from `pam_authenticate`: a stack whose
//!   only module ignored ends in `PAM_PERM_DENIED` (6, pam_dispatch.c "Don't return with
//!   PAM_IGNORE as status"), a code the module itself never returns. So 6 here means 25
//!   from the module;
//! - `required` and `requisite`, followed by pam_permit: IGNORE lets pam_permit decide (0);
//! - `sufficient`, followed by pam_deny: only a verified code may let anyone in, never
//!   "not required" nor a grace period (CVE-2025-23013's class).
//!
//! Cells that ask are answered with a correct code. Every cell also checks the messages
//! (the denial headline, the two grace lines, or nothing) and what `Explain` says.
//!
//! Always-require needs a token, so "always-require on, no token" cannot exist: it is
//! checked that the daemon refuses to create it.

mod common;

use common::{assert_refused, call, enroll_tokens, root_conn, wait_until_past};
use mfa_tests::manage::{
    STACKINGS, add_stacked_service, admin_locked_headline, deadline_passed_headline, grace_infos,
};
use mfa_tests::{
    PAM_AUTH_ERR, PAM_PERM_DENIED, PAM_SUCCESS, PROMPT, TestEnv, Totp, no_token_headline, now,
};

/// What the stack returns when the module alone returned PAM_IGNORE (see the file docs).
const MODULE_IGNORED: i32 = PAM_PERM_DENIED;

const MODES: [&str; 3] = ["required", "optional", "off"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Deadline {
    None,
    Future,
    Passed,
}

/// One account per (group membership, deadline) pair. Members are made members by
/// enforcing their primary group (same name as the account on Debian-like systems).
const SUBJECTS: [(&str, bool, Deadline); 6] = [
    ("daemon", true, Deadline::None),
    ("bin", true, Deadline::Future),
    ("sys", true, Deadline::Passed),
    ("games", false, Deadline::None),
    ("man", false, Deadline::Future),
    ("lp", false, Deadline::Passed),
];

/// What the module must do in one cell.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Want {
    /// Ask for a TOTP code (and succeed with a right one).
    Asked,
    /// PAM_IGNORE, with these informational lines.
    Ignored(Vec<String>),
    /// PAM_AUTH_ERR with this headline.
    Denied(String),
}

impl Want {
    fn explain_code(&self) -> &'static str {
        match self {
            Want::Asked => "ask",
            Want::Ignored(infos) if infos.is_empty() => "not-required",
            Want::Ignored(_) => "grace",
            Want::Denied(_) => "deny-not-enrolled",
        }
    }

    /// The stack's result for this stacking.
    fn stack_result(&self, stacking: &str) -> i32 {
        match (self, stacking) {
            (Want::Asked, _) => PAM_SUCCESS,
            (Want::Denied(_), _) => PAM_AUTH_ERR,
            (Want::Ignored(_), "raw") => MODULE_IGNORED,
            (Want::Ignored(_), "sufficient") => PAM_AUTH_ERR,
            (Want::Ignored(_), _) => PAM_SUCCESS,
        }
    }
}

struct Deadlines {
    future: u64,
    passed: u64,
}

#[allow(clippy::too_many_arguments)]
fn want(
    user: &str,
    member: bool,
    deadline: Deadline,
    token: bool,
    always: bool,
    mode: &str,
    d: &Deadlines,
) -> Want {
    let needed = always
        || match mode {
            "required" => true,
            "optional" => token || member,
            _ => false,
        };
    if !needed {
        return Want::Ignored(Vec::new());
    }
    if token {
        return Want::Asked;
    }
    match deadline {
        Deadline::None => Want::Denied(no_token_headline(user)),
        Deadline::Future => Want::Ignored(grace_infos(user, d.future).to_vec()),
        Deadline::Passed => Want::Denied(deadline_passed_headline(user, d.passed)),
    }
}

fn service(mode: &str, stacking: &str) -> String {
    format!("m-{mode}-{stacking}")
}

/// Checks one login against `want`; returns a description of every mismatch.
#[allow(clippy::too_many_arguments)]
fn check_cell(
    env: &TestEnv,
    root: &zbus::Connection,
    label: &str,
    user: &str,
    mode: &str,
    stacking: &str,
    want: &Want,
    token: Option<&Totp>,
) -> Vec<String> {
    let svc = service(mode, stacking);
    let mut bad = Vec::new();
    let e = call(root, async |p| p.explain(user, &svc).await).expect("explain");
    if e.decision != want.explain_code() {
        bad.push(format!(
            "{label}: explain says {:?}, want {:?} ({:?})",
            e.decision,
            want.explain_code(),
            e.reasons
        ));
    }
    let code = token.map(Totp::current_code);
    let answers: Vec<&str> = code.iter().map(String::as_str).collect();
    let out = env.login_service(&svc, user, &answers);
    let expected = want.stack_result(stacking);
    if out.result != Some(expected) {
        bad.push(format!(
            "{label}: stack result {:?}, want {expected}",
            out.result
        ));
    }
    let want_prompts: Vec<String> = match want {
        Want::Asked => vec![PROMPT.to_owned()],
        _ => Vec::new(),
    };
    if out.prompts != want_prompts {
        bad.push(format!(
            "{label}: prompts {:?}, want {want_prompts:?}",
            out.prompts
        ));
    }
    let want_infos = match want {
        Want::Ignored(i) => i.clone(),
        _ => Vec::new(),
    };
    if out.infos != want_infos {
        bad.push(format!(
            "{label}: infos {:?}, want {want_infos:?}",
            out.infos
        ));
    }
    match want {
        Want::Denied(headline) => {
            let shown = format!(
                "Access denied\nService: {svc}\nUser: {user}\nDetail: Additional authentication is required:\n  - Multi-factor authentication (MFA): {headline}"
            );
            if !out.error_text().contains(&shown) {
                bad.push(format!(
                    "{label}: error message {:?}, want it to contain {shown:?}",
                    out.error_text()
                ));
            }
        }
        _ if !out.errors.is_empty() => {
            bad.push(format!("{label}: unexpected errors {:?}", out.errors));
        }
        _ => {}
    }
    bad
}

/// Runs every (mode, stacking) cell for the six subjects, with or without tokens and with
/// always-require on or off. Subjects with a passed deadline are checked last, once it has
/// passed.
fn run_matrix(token: bool, always: bool) {
    let env = TestEnv::start();
    let root = root_conn(&env);
    // The "passed" deadline first, so the setup below eats most of the wait.
    let passed = now() + 2;
    let d = Deadlines {
        future: now() + 30 * 86_400,
        passed,
    };
    for (user, _, deadline) in SUBJECTS {
        let until = match deadline {
            Deadline::None => continue,
            Deadline::Future => d.future,
            Deadline::Passed => d.passed,
        };
        call(&root, async |p| p.set_grace(user, until as i64).await)
            .unwrap_or_else(|e| panic!("set_grace({user}): {e:?}"));
    }
    for mode in MODES {
        for stacking in STACKINGS {
            let svc = service(mode, stacking);
            add_stacked_service(&env, &svc, stacking);
            call(&root, async |p| p.set_service_policy(&svc, mode, &[]).await)
                .unwrap_or_else(|e| panic!("set_service_policy({svc}): {e:?}"));
        }
    }
    for (user, member, _) in SUBJECTS {
        if member {
            call(&root, async |p| p.set_group_enforcement(user, true).await)
                .unwrap_or_else(|e| panic!("enforce group {user}: {e:?}"));
        }
    }
    // One token per login that will be asked (a code is single-use per token and step).
    let mut tokens: Vec<Vec<Totp>> = Vec::new();
    for (user, member, deadline) in SUBJECTS {
        let asked = MODES
            .iter()
            .filter(|m| want(user, member, deadline, token, always, m, &d) == Want::Asked)
            .count()
            * STACKINGS.len();
        tokens.push(enroll_tokens(&root, user, asked));
        if always {
            call(&root, async |p| p.set_always_require(user, true).await)
                .unwrap_or_else(|e| panic!("always-require on for {user}: {e:?}"));
        }
    }
    if !token {
        // The missing cells: always-require cannot be turned on without a token, even by root.
        for (user, ..) in SUBJECTS {
            assert_refused(
                call(&root, async |p| p.set_always_require(user, true).await),
                "NotEnrolled",
            );
        }
    }
    // Status agrees with the setup.
    for (user, _, deadline) in SUBJECTS {
        let s = call(&root, async |p| p.status(user).await).expect("status");
        let want_until = match deadline {
            Deadline::None => 0,
            Deadline::Future => d.future,
            Deadline::Passed => d.passed,
        };
        assert_eq!(s.grace_until, want_until as i64, "{user}: {s:?}");
        assert_eq!(s.always_require, always, "{user}: {s:?}");
        assert_eq!(s.services.len(), MODES.len() * STACKINGS.len(), "{s:?}");
    }
    let mut bad = Vec::new();
    let mut cells = 0;
    for pass in [false, true] {
        if pass {
            wait_until_past(d.passed);
        }
        for (i, (user, member, deadline)) in SUBJECTS.into_iter().enumerate() {
            if (deadline == Deadline::Passed) != pass {
                continue;
            }
            let mut unused = tokens[i].iter();
            for mode in MODES {
                let w = want(user, member, deadline, token, always, mode, &d);
                for stacking in STACKINGS {
                    let label = format!(
                        "[{user} member={member} deadline={deadline:?} token={token} always={always} mode={mode} stacking={stacking}]"
                    );
                    let t = if w == Want::Asked {
                        Some(unused.next().expect("a token per asked login"))
                    } else {
                        None
                    };
                    bad.extend(check_cell(&env, &root, &label, user, mode, stacking, &w, t));
                    cells += 1;
                }
            }
        }
    }
    assert_eq!(cells, SUBJECTS.len() * MODES.len() * STACKINGS.len());
    assert!(
        bad.is_empty(),
        "{} of {cells} cells wrong:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

#[test]
fn given_no_token_then_each_mode_group_and_deadline_cell_has_its_exact_result() {
    run_matrix(false, false);
}

#[test]
fn given_a_token_and_always_require_off_then_each_cell_has_its_exact_result() {
    run_matrix(true, false);
}

#[test]
fn given_a_token_and_always_require_on_then_every_service_asks_even_off() {
    run_matrix(true, true);
}

#[test]
fn given_group_and_user_deadlines_then_the_users_own_wins_else_its_groups() {
    let env = TestEnv::start();
    let root = root_conn(&env);
    add_stacked_service(&env, "g-req", "required");
    call(&root, async |p| {
        p.set_service_policy("g-req", "required", &[]).await
    })
    .unwrap();
    let group_until = now() + 60 * 86_400;
    call(&root, async |p| {
        p.set_grace("group:daemon", group_until as i64).await
    })
    .unwrap();
    // A member of the group gets the group's deadline.
    let out = env.login_service("g-req", "daemon", &[]);
    assert_eq!(
        out.result,
        Some(PAM_SUCCESS),
        "IGNORE then pam_permit:\n{out}"
    );
    assert_eq!(
        out.infos,
        grace_infos("daemon", group_until).to_vec(),
        "{out}"
    );
    assert!(out.prompts.is_empty() && out.errors.is_empty(), "{out}");
    let s = call(&root, async |p| p.status("daemon").await).unwrap();
    assert_eq!(s.grace_until, group_until as i64, "{s:?}");
    let e = call(&root, async |p| p.explain("daemon", "g-req").await).unwrap();
    assert_eq!(e.decision, "grace", "{e:?}");
    // A non-member does not.
    let out = env.login_service("g-req", "sys", &[]);
    out.assert_denied("g-req", "sys", &no_token_headline("sys"));
    assert!(out.infos.is_empty(), "{out}");
    assert_eq!(
        call(&root, async |p| p.status("sys").await)
            .unwrap()
            .grace_until,
        0
    );
    // The user's own deadline wins over the group's, even an earlier one ...
    let own = now() + 10 * 86_400;
    call(&root, async |p| p.set_grace("daemon", own as i64).await).unwrap();
    let out = env.login_service("g-req", "daemon", &[]);
    assert_eq!(out.infos, grace_infos("daemon", own).to_vec(), "{out}");
    // ... and one that has passed, although the group's has not.
    let soon = now() + 2;
    call(&root, async |p| p.set_grace("daemon", soon as i64).await).unwrap();
    wait_until_past(soon);
    let out = env.login_service("g-req", "daemon", &[]);
    out.assert_denied("g-req", "daemon", &deadline_passed_headline("daemon", soon));
    assert!(out.infos.is_empty(), "{out}");
    assert_eq!(
        call(&root, async |p| p.explain("daemon", "g-req").await)
            .unwrap()
            .decision,
        "deny-not-enrolled"
    );
    // Removing the user's deadline falls back to the group's.
    call(&root, async |p| p.set_grace("daemon", 0).await).unwrap();
    let out = env.login_service("g-req", "daemon", &[]);
    assert_eq!(
        out.infos,
        grace_infos("daemon", group_until).to_vec(),
        "{out}"
    );
    // The policy lists both kinds of subject; removing the group's ends the grace.
    let grace = call(&root, async |p| p.policy().await).unwrap().grace;
    assert_eq!(
        grace
            .iter()
            .map(|g| (g.subject.as_str(), g.until))
            .collect::<Vec<_>>(),
        vec![("group:daemon", group_until as i64)],
        "{grace:?}"
    );
    call(&root, async |p| p.set_grace("group:daemon", 0).await).unwrap();
    env.login_service("g-req", "daemon", &[]).assert_denied(
        "g-req",
        "daemon",
        &no_token_headline("daemon"),
    );
}

#[test]
fn given_an_admin_lock_then_every_login_that_would_ask_is_denied_until_unlocked() {
    let env = TestEnv::start();
    let root = root_conn(&env);
    for (svc, mode) in [
        ("l-req", "required"),
        ("l-opt", "optional"),
        ("l-off", "off"),
    ] {
        add_stacked_service(&env, svc, "required");
        call(&root, async |p| p.set_service_policy(svc, mode, &[]).await).unwrap();
    }
    add_stacked_service(&env, "l-suff", "sufficient");
    let toks = enroll_tokens(&root, "bin", 2);
    call(&root, async |p| p.lock("bin", "laptop stolen").await).unwrap();
    let s = call(&root, async |p| p.status("bin").await).unwrap();
    assert!(s.admin_locked, "{s:?}");
    assert_eq!(s.lock_reason, "laptop stolen");
    let locked = admin_locked_headline("bin");
    // A valid, unused code does not help, and is not even asked for.
    let code = toks[0].current_code();
    for svc in ["l-req", "l-opt", "l-suff"] {
        let out = env.login_service(svc, "bin", &[&code]);
        out.assert_denied(svc, "bin", &locked);
        assert_eq!(out.result, Some(PAM_AUTH_ERR), "{out}");
        assert!(out.prompts.is_empty(), "{out}");
        assert_eq!(
            call(&root, async |p| p.explain("bin", svc).await)
                .unwrap()
                .decision,
            "deny-locked"
        );
    }
    // A login that would not ask is not affected.
    let out = env.login_service("l-off", "bin", &[]);
    assert_eq!(out.result, Some(PAM_SUCCESS), "{out}");
    assert!(out.errors.is_empty() && out.prompts.is_empty(), "{out}");
    // A lock that lands between prompt and answer refuses the valid answer too.
    call(&root, async |p| p.unlock("bin").await).unwrap();
    let mut login = env.spawn_pam_login("l-req", "bin");
    assert!(
        login.wait_for_line(
            "PROMPT_ECHO_OFF: Verification code:",
            std::time::Duration::from_secs(10)
        ),
        "no prompt"
    );
    call(&root, async |p| p.lock("bin", "").await).unwrap();
    login.answer(&toks[1].current_code());
    let out = login.finish(std::time::Duration::from_secs(10), None);
    out.assert_denied("l-req", "bin", &locked);
    // Unlock reopens: the same (unused) codes now work.
    call(&root, async |p| p.unlock("bin").await).unwrap();
    let s = call(&root, async |p| p.status("bin").await).unwrap();
    assert!(!s.admin_locked && s.lock_reason.is_empty(), "{s:?}");
    let out = env.login_service("l-req", "bin", &[&code]);
    out.assert_success();
    let out = env.login_service("l-suff", "bin", &[&toks[1].current_code()]);
    out.assert_success();
    // A user without any token who is locked is told about the lock, not about enrolling.
    call(&root, async |p| p.lock("sys", "").await).unwrap();
    env.login_service("l-req", "sys", &[]).assert_denied(
        "l-req",
        "sys",
        &admin_locked_headline("sys"),
    );
}

#[test]
fn given_always_require_on_an_off_service_then_explain_gives_the_reason_it_asks() {
    // Always-require applies even where the rule is off (the matrix above checks the login);
    // Explain must say why it asks, not that always-require does not apply.
    let env = TestEnv::start();
    let root = root_conn(&env);
    enroll_tokens(&root, "bin", 1);
    call(&root, async |p| p.set_always_require("bin", true).await).unwrap();
    call(&root, async |p| {
        p.set_service_policy("e-off", "off", &[]).await
    })
    .unwrap();
    let e = call(&root, async |p| p.explain("bin", "e-off").await).unwrap();
    assert_eq!(e.decision, "ask", "{e:?}");
    assert!(
        e.reasons
            .iter()
            .any(|r| r.starts_with("always-require: on")),
        "{e:#?}"
    );
    assert!(
        e.reasons
            .iter()
            .any(|r| r
                == "result: a second factor is needed because the user turned on always-require"),
        "{e:#?}"
    );
    assert!(
        !e.reasons
            .iter()
            .any(|r| r.contains("always-require do not apply") || r.contains("nobody is asked")),
        "the reasons contradict the decision: {e:#?}"
    );
}
