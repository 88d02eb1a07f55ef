//! Who may do what: mfad authorises by the caller's UID, and the shipped bus policy lets
//! only root own the daemon's name.

use std::process::Command;
use std::time::Duration;

use mfa_tests::{CmdOutput, TestEnv, Totp, run, run_as};

fn refused(out: &CmdOutput) -> bool {
    let text = out.all_output().to_lowercase();
    out.code() == Some(1)
        && [
            "not allowed",
            "access denied",
            "accessdenied",
            "may only act on its own account",
            "may not",
        ]
        .iter()
        .any(|m| text.contains(m))
}

fn token_count(env: &TestEnv, user: &str) -> usize {
    let out = env.mfactl(&["--json", "list", user]);
    assert!(out.success(), "{out}");
    serde_json::from_str::<Vec<serde_json::Value>>(&out.stdout)
        .unwrap_or_else(|e| panic!("not a JSON array ({e}):\n{out}"))
        .len()
}

#[test]
fn given_non_root_caller_when_listing_another_user_then_refused() {
    let env = TestEnv::start();
    env.enroll_new("bin");
    let out = env.mfactl_as("nobody", &["list", "bin"]);
    assert!(refused(&out), "nobody must not list bin's tokens:\n{out}");
    assert!(
        !out.stdout.contains("totp"),
        "nothing of bin's tokens may leak:\n{out}"
    );
}

#[test]
fn given_non_root_caller_when_listing_own_tokens_then_allowed() {
    let env = TestEnv::start();
    let out = env.mfactl_as("nobody", &["list"]);
    assert!(out.success(), "nobody may list their own tokens:\n{out}");
    let out = env.mfactl_as("nobody", &["--json", "list", "nobody"]);
    assert!(out.success(), "{out}");
    let who = env.mfactl_as("nobody", &["--json", "whoami"]);
    assert!(who.success(), "{who}");
    let v: serde_json::Value = serde_json::from_str(&who.stdout).expect("whoami JSON");
    assert_eq!(v["uid"], 65534, "{v}");
    assert_eq!(v["admin"], false, "{v}");
}

#[test]
fn given_non_root_caller_when_enrolling_another_user_then_refused_and_nothing_saved() {
    let env = TestEnv::start();
    let t = Totp::sha1();
    mfa_tests::wait_for_fresh_step(30, 6);
    let out = env.enroll_with_code(Some("nobody"), "bin", &t, &t.previous_code());
    assert!(refused(&out), "nobody must not enroll bin:\n{out}");
    assert_eq!(token_count(&env, "bin"), 0);
}

#[test]
fn given_non_root_caller_when_removing_or_unlocking_another_user_then_refused() {
    let env = TestEnv::start();
    env.enroll_new("daemon");
    let out = env.mfactl_as("nobody", &["remove", "daemon", "totp"]);
    assert!(
        refused(&out),
        "nobody must not remove daemon's token:\n{out}"
    );
    assert_eq!(token_count(&env, "daemon"), 1);
    let out = env.mfactl_as("nobody", &["unlock", "daemon"]);
    assert!(refused(&out), "nobody must not unlock daemon:\n{out}");
}

#[test]
fn given_non_root_process_when_login_flow_for_another_user_then_not_success() {
    let env = TestEnv::start();
    let t = env.enroll_new("sys");
    let code = t.current_code();
    let out = env.login_as("nobody", "sys", &[&code]);
    assert!(!out.output.timed_out, "{out}");
    assert!(out.result.is_some(), "harness fault:\n{out}");
    assert!(
        !out.succeeded(),
        "a non-root process must not authenticate another user:\n{out}"
    );
    // Positive control: the same code was valid and unused; root's login works.
    env.login("sys", &[&code]).assert_success();
}

#[test]
fn given_root_caller_when_managing_any_user_then_allowed() {
    let env = TestEnv::start();
    let t = env.enroll_new("games");
    assert_eq!(token_count(&env, "games"), 1);
    let out = env.mfactl(&["unlock", "games"]);
    assert!(out.success(), "{out}");
    let who = env.mfactl(&["--json", "whoami"]);
    assert!(who.success(), "{who}");
    let v: serde_json::Value = serde_json::from_str(&who.stdout).expect("whoami JSON");
    assert_eq!(v["uid"], 0, "{v}");
    assert_eq!(v["admin"], true, "{v}");
    env.login("games", &[&t.current_code()]).assert_success();
    let out = env.mfactl(&["remove", "games", "totp"]);
    assert!(out.success(), "{out}");
    assert_eq!(token_count(&env, "games"), 0);
}

fn request_name_as(env: &TestEnv, user: Option<&str>) -> CmdOutput {
    let prog = std::path::Path::new("/usr/bin/dbus-send");
    let mut cmd = match user {
        Some(u) => run_as(u, prog),
        None => Command::new(prog),
    };
    cmd.arg(format!("--bus={}", env.bus_address)).args([
        "--print-reply",
        "--dest=org.freedesktop.DBus",
        "/org/freedesktop/DBus",
        "org.freedesktop.DBus.RequestName",
        "string:org.pam_mfa.Mfad",
        "uint32:4", // DBUS_NAME_FLAG_DO_NOT_QUEUE
    ]);
    run(cmd, b"", Duration::from_secs(10))
}

#[test]
fn given_shipped_bus_policy_when_non_root_requests_the_daemon_name_then_access_denied() {
    let env = TestEnv::start();
    let out = request_name_as(&env, Some("nobody"));
    assert!(
        !out.success(),
        "nobody must not own org.pam_mfa.Mfad:\n{out}"
    );
    assert!(
        out.all_output().contains("AccessDenied") || out.all_output().contains("not allowed"),
        "{out}"
    );
    // Root may own it (here it is already owned by mfad: reply 3, EXISTS, not an AccessDenied error).
    let out = request_name_as(&env, None);
    assert!(out.success(), "root may request the name:\n{out}");
    assert!(
        out.stdout.contains("uint32 3"),
        "expected DBUS_REQUEST_NAME_REPLY_EXISTS:\n{out}"
    );
    // And mfad still owns it.
    env.wait_ready();
}

#[test]
fn given_shipped_bus_policy_when_non_root_calls_an_unlisted_interface_then_refused_by_the_bus() {
    let env = TestEnv::start();
    let prog = std::path::Path::new("/usr/bin/dbus-send");
    let mut cmd = run_as("nobody", prog);
    cmd.arg(format!("--bus={}", env.bus_address)).args([
        "--print-reply",
        "--dest=org.pam_mfa.Mfad",
        "/org/pam_mfa/Mfad",
        "org.example.NotOurs.Method",
    ]);
    let out = run(cmd, b"", Duration::from_secs(10));
    assert!(!out.success(), "{out}");
    assert!(
        out.all_output().contains("AccessDenied"),
        "the bus policy, not mfad, should refuse:\n{out}"
    );
}

#[test]
fn given_shipped_activation_file_then_it_names_root_mfad() {
    let text = std::fs::read_to_string(
        mfa_tests::workspace_root().join("contrib/dbus/org.pam_mfa.Mfad.service"),
    )
    .expect("read .service");
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    for want in [
        "[D-BUS Service]",
        "Name=org.pam_mfa.Mfad",
        "Exec=/usr/sbin/mfad",
        "User=root",
        "SystemdService=mfad.service",
    ] {
        assert!(lines.contains(&want), "missing {want:?} in:\n{text}");
    }
}

#[test]
fn given_non_root_user_when_self_enrolling_and_logging_in_as_themselves_then_allowed() {
    let env = TestEnv::start();
    let t = Totp::sha1();
    mfa_tests::wait_for_fresh_step(30, 6);
    // No USER argument: mfactl enrolls the caller.
    let mut args: Vec<String> = vec!["enroll".into(), "totp".into()];
    args.extend(t.mfactl_options());
    args.extend(["--code".into(), t.previous_code()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = env.mfactl_as("nobody", &args);
    assert!(out.success(), "nobody may enroll their own token:\n{out}");
    assert_eq!(token_count(&env, "nobody"), 1);
    // A non-root process authenticating its own user may use the daemon.
    env.login_as("nobody", "nobody", &[&t.current_code()])
        .assert_success();
    // Removing their own last token needs a fresh second factor in the same command.
    let out = env.mfactl_as("nobody", &["remove", "nobody", "totp"]);
    assert!(
        !out.success(),
        "removed the last token without a step-up:\n{out}"
    );
    assert!(out.stderr.contains("fresh second factor"), "{out}");
    assert_eq!(token_count(&env, "nobody"), 1);
    // The login consumed this step; the next one is inside the ±1 window.
    mfa_tests::wait_for_fresh_step(30, 6);
    let code = format!("{}\n", t.code_at(mfa_tests::now() + 30));
    let out = env.mfactl_as_with_input("nobody", &["remove", "nobody", "totp"], &code);
    assert!(out.success(), "{out}");
    assert_eq!(token_count(&env, "nobody"), 0);
}
