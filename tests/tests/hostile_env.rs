//! The module never takes its bus address from the process environment: under `su` the
//! calling user controls it (security.md §4). The full `su` attack is in the real-login
//! suite; this is the cheap in-process check with the real module and libpam.

use mfa_tests::{PAM_SUCCESS, TestEnv};

#[test]
fn given_bus_variables_pointing_at_the_daemon_and_no_bus_argument_then_not_used() {
    let env = TestEnv::start();
    let t = env.enroll_new("bin");
    // No `bus=`: the module must use the fixed system socket, which has no mfad here.
    env.add_service("mfa-nobus", "timeout=2000");
    let addr = env.bus_address.clone();
    let vars = [
        ("DBUS_SYSTEM_BUS_ADDRESS", addr.as_str()),
        ("DBUS_SESSION_BUS_ADDRESS", addr.as_str()),
        ("DBUS_STARTER_ADDRESS", addr.as_str()),
        ("DBUS_STARTER_BUS_TYPE", "system"),
        ("MFA_BUS_ADDRESS", addr.as_str()),
    ];
    let code = t.current_code();
    let out = env.pam_login_with_env("mfa-nobus", "bin", format!("{code}\n").as_bytes(), &vars);
    assert_ne!(
        out.result,
        Some(PAM_SUCCESS),
        "the environment chose the bus:\n{out}"
    );
    assert!(out.result.is_some(), "the client did not finish:\n{out}");
    // Control: the same code through the configured bus does log in, so the denial above
    // came from ignoring the environment, not from a bad code.
    let out = env.login("bin", &[&code]);
    out.assert_success();
}
