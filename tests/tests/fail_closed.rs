//! The module fails closed, in bounded time, when the daemon or the bus is gone or hung.

use std::time::Duration;

use mfa_tests::{DEFAULT_SERVICE, NOT_REACHABLE, PAM_AUTHINFO_UNAVAIL, TestEnv};

/// `timeout=1000` plus 0.6 s for process start-up and scheduling on a loaded 2-core CI box.
const HUNG_LIMIT: Duration = Duration::from_millis(1600);

#[test]
fn given_daemon_killed_when_login_then_denied_within_1s_not_reachable() {
    let env = TestEnv::start();
    let t = env.enroll_new("bin");
    env.kill_mfad();
    let out = env.login("bin", &[&t.current_code()]);
    out.assert_denied(DEFAULT_SERVICE, "bin", NOT_REACHABLE);
    assert_eq!(out.result, Some(PAM_AUTHINFO_UNAVAIL), "{out}");
    assert!(
        out.elapsed() < Duration::from_secs(1),
        "took {:?}:\n{out}",
        out.elapsed()
    );
}

#[test]
fn given_daemon_hung_when_login_with_timeout_1000_then_denied_within_1600ms() {
    let env = TestEnv::start();
    env.add_service(
        "mfa-t1000",
        &format!("bus={} timeout=1000", env.bus_address),
    );
    let t = env.enroll_new("daemon");
    let code = t.current_code();
    env.stop_mfad();
    let out = env.login_service("mfa-t1000", "daemon", &[&code]);
    env.cont_mfad();
    out.assert_denied("mfa-t1000", "daemon", NOT_REACHABLE);
    assert_eq!(out.result, Some(PAM_AUTHINFO_UNAVAIL), "{out}");
    assert!(
        out.elapsed() >= Duration::from_millis(900),
        "denied before the daemon could time out?\n{out}"
    );
    assert!(
        out.elapsed() <= HUNG_LIMIT,
        "took {:?}, timeout=1000:\n{out}",
        out.elapsed()
    );
    // After SIGCONT the daemon serves again, and the unused code still works.
    assert!(env.mfad_running(), "mfad died:\n{}", env.mfad_log());
    env.login_service("mfa-t1000", "daemon", &[&code])
        .assert_success();
}

#[test]
fn given_bus_socket_missing_when_login_then_denied_fast_not_reachable() {
    let env = TestEnv::start();
    let t = env.enroll_new("sys");
    env.kill_bus();
    assert!(!env.bus_socket().exists());
    let out = env.login("sys", &[&t.current_code()]);
    out.assert_denied(DEFAULT_SERVICE, "sys", NOT_REACHABLE);
    assert_eq!(out.result, Some(PAM_AUTHINFO_UNAVAIL), "{out}");
    assert!(
        out.elapsed() < Duration::from_secs(1),
        "took {:?}:\n{out}",
        out.elapsed()
    );
}

#[test]
fn given_bus_daemon_hung_when_login_with_timeout_1000_then_denied_within_1600ms() {
    // The socket still accepts connections but nobody completes the handshake: the module's
    // deadline must cover connecting, not only the method call.
    let env = TestEnv::start();
    env.add_service(
        "mfa-t1000",
        &format!("bus={} timeout=1000", env.bus_address),
    );
    let t = env.enroll_new("games");
    env.stop_bus();
    let out = env.login_service("mfa-t1000", "games", &[&t.current_code()]);
    env.cont_bus();
    out.assert_denied("mfa-t1000", "games", NOT_REACHABLE);
    assert_eq!(out.result, Some(PAM_AUTHINFO_UNAVAIL), "{out}");
    assert!(
        out.elapsed() >= Duration::from_millis(900),
        "denied before the connection could time out?\n{out}"
    );
    assert!(
        out.elapsed() <= HUNG_LIMIT,
        "took {:?}, timeout=1000:\n{out}",
        out.elapsed()
    );
}

#[test]
fn given_bus_address_of_nothing_when_login_then_denied_not_reachable() {
    let env = TestEnv::start();
    let t = env.enroll_new("man");
    let missing = env.path().join("nothing-here.sock");
    env.add_service(
        "mfa-nobus",
        &format!("bus=unix:path={} timeout=1000", missing.display()),
    );
    let out = env.login_service("mfa-nobus", "man", &[&t.current_code()]);
    out.assert_denied("mfa-nobus", "man", NOT_REACHABLE);
    assert_eq!(out.result, Some(PAM_AUTHINFO_UNAVAIL), "{out}");
    // The same code still works on the real bus: nothing was consumed.
    env.login("man", &[&t.current_code()]).assert_success();
}

#[test]
fn given_daemon_hung_between_prompt_and_answer_when_answering_then_denied_within_1600ms() {
    let env = TestEnv::start();
    env.add_service(
        "mfa-t1000",
        &format!("bus={} timeout=1000", env.bus_address),
    );
    let t = env.enroll_new("lp");
    let code = t.current_code();
    let mut login = env.spawn_pam_login("mfa-t1000", "lp");
    assert!(
        login.wait_for_line("PROMPT_ECHO_OFF: ", Duration::from_secs(10)),
        "no prompt"
    );
    env.stop_mfad();
    let sent = std::time::Instant::now();
    login.answer(&code);
    let out = login.finish(Duration::from_secs(10), Some(sent));
    env.cont_mfad();
    out.assert_denied("mfa-t1000", "lp", NOT_REACHABLE);
    assert_eq!(out.result, Some(PAM_AUTHINFO_UNAVAIL), "{out}");
    assert!(
        out.elapsed() >= Duration::from_millis(900),
        "denied before the call could time out?\n{out}"
    );
    assert!(
        out.elapsed() <= HUNG_LIMIT,
        "answer took {:?}, timeout=1000:\n{out}",
        out.elapsed()
    );
}

#[test]
fn given_daemon_down_when_mfactl_runs_then_exit_1_quickly_naming_the_problem() {
    let env = TestEnv::start();
    env.kill_mfad();
    let out = env.mfactl(&["list", "bin"]);
    assert_eq!(out.code(), Some(1), "{out}");
    assert!(out.elapsed < Duration::from_secs(2), "{out}");
    let text = out.all_output().to_lowercase();
    assert!(
        text.contains("mfad") && (text.contains("reach") || text.contains("running")),
        "{out}"
    );
}

#[test]
fn given_daemon_restarted_then_tokens_and_used_codes_are_remembered() {
    let env = TestEnv::start();
    let t = env.enroll_new("uucp");
    let code = t.current_code();
    env.login("uucp", &[&code]).assert_success();
    env.restart_mfad();
    // The token survived, and the used step is still used.
    env.login("uucp", &[&code])
        .assert_denied(DEFAULT_SERVICE, "uucp", mfa_tests::NOT_ACCEPTED);
    let out = env.mfactl(&["--json", "list", "uucp"]);
    assert!(out.success() && out.stdout.contains("\"totp\""), "{out}");
}

#[test]
fn given_user_answers_after_longer_than_the_timeout_then_login_still_works() {
    // `timeout=` bounds each call to the daemon, not the person typing the code.
    let env = TestEnv::start();
    env.add_service(
        "mfa-t1000",
        &format!("bus={} timeout=1000", env.bus_address),
    );
    let t = env.enroll_new("proxy");
    let code = t.current_code();
    let mut login = env.spawn_pam_login("mfa-t1000", "proxy");
    assert!(
        login.wait_for_line("PROMPT_ECHO_OFF: ", Duration::from_secs(10)),
        "no prompt"
    );
    std::thread::sleep(Duration::from_millis(2500));
    login.answer(&code);
    login.finish(Duration::from_secs(10), None).assert_success();
}
