//! Hostile or malformed input sent straight over D-Bus with a raw zbus client (not mfactl,
//! not the module): the daemon answers with the documented errors or a denial, never allows,
//! never crashes, and its database stays intact.

use std::process::Command;

use mfa_proto::{
    BUS_NAME, LOGIN_INTERFACE, LoginFacts, LoginProxy, MANAGE_INTERFACE, MfaError, OBJECT_PATH,
    TotpEnrollOptions, WireStep,
};
use mfa_tests::manage::call;
use mfa_tests::{TestEnv, Totp};

/// Many failures happen here on purpose; keep the rate limit out of the way.
const LENIENT: &str = "[rate_limit]\nfree_failures = 90\nbase_delay_secs = 1\nmax_delay_secs = 1\n";

fn connect(env: &TestEnv) -> zbus::Connection {
    zbus::block_on(async {
        zbus::connection::Builder::address(env.bus_address.as_str())
            .method_timeout(std::time::Duration::from_secs(10))
            .build()
            .await
    })
    .expect("connect to the test bus")
}

fn error_name(e: &zbus::Error) -> String {
    match e {
        zbus::Error::MethodError(name, _, _) => name.to_string(),
        zbus::Error::FDO(f) => zbus::DBusError::name(f.as_ref()).to_string(),
        other => format!("<not a D-Bus error reply: {other}>"),
    }
}

fn raw_call<B>(
    conn: &zbus::Connection,
    iface: &str,
    method: &str,
    body: &B,
) -> Result<zbus::Message, zbus::Error>
where
    B: serde::ser::Serialize + zbus::DynamicType,
{
    zbus::block_on(conn.call_method(Some(BUS_NAME), OBJECT_PATH, Some(iface), method, body))
}

fn facts(user: &str) -> LoginFacts {
    LoginFacts {
        user: user.into(),
        service: "raw-dbus-test".into(),
        ..LoginFacts::default()
    }
}

fn begin(conn: &zbus::Connection, f: &LoginFacts) -> Result<WireStep, MfaError> {
    zbus::block_on(async { LoginProxy::new(conn).await?.begin(f).await })
}

fn answer(conn: &zbus::Connection, flow: &str, a: &str) -> Result<WireStep, MfaError> {
    zbus::block_on(async { LoginProxy::new(conn).await?.answer(flow, a).await })
}

/// Begins a login for `user` and returns the prompt's flow id.
fn prompt_flow(conn: &zbus::Connection, user: &str) -> String {
    let step = begin(conn, &facts(user)).unwrap_or_else(|e| panic!("Begin({user}) failed: {e:?}"));
    assert_eq!(step.kind, "prompt", "{step:?}");
    assert_eq!(step.text, mfa_tests::PROMPT, "{step:?}");
    assert!(!step.echo, "the code prompt must not echo: {step:?}");
    assert!(!step.flow.is_empty(), "{step:?}");
    step.flow
}

fn assert_not_allowed(what: &str, r: &Result<WireStep, MfaError>) {
    if let Ok(step) = r {
        assert_ne!(step.kind, "allow", "{what} was allowed: {step:?}");
        assert_ne!(
            step.kind, "not-required",
            "{what} was let through: {step:?}"
        );
    }
}

fn assert_daemon_healthy(env: &TestEnv) {
    assert!(env.mfad_running(), "mfad died:\n{}", env.mfad_log());
    env.wait_ready();
    let conn = connect(env);
    let who = call(&conn, async |p| p.who_am_i().await).expect("WhoAmI after the abuse");
    assert_eq!(who.uid, 0);
    let out = Command::new("sqlite3")
        .arg(env.db_path())
        .arg("PRAGMA integrity_check;")
        .output()
        .expect("run sqlite3");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "ok",
        "integrity_check: {out:?}"
    );
}

#[test]
fn given_wrong_argument_types_when_calling_methods_then_invalid_args() {
    let env = TestEnv::start();
    let conn = connect(&env);
    let cases: Vec<(&str, &str, Result<zbus::Message, zbus::Error>)> = vec![
        (
            LOGIN_INTERFACE,
            "Begin(s)",
            raw_call(&conn, LOGIN_INTERFACE, "Begin", &("bin",)),
        ),
        (
            LOGIN_INTERFACE,
            "Begin()",
            raw_call(&conn, LOGIN_INTERFACE, "Begin", &()),
        ),
        (
            LOGIN_INTERFACE,
            "Begin(u)",
            raw_call(&conn, LOGIN_INTERFACE, "Begin", &(7u32,)),
        ),
        (
            LOGIN_INTERFACE,
            "Answer(s)",
            raw_call(&conn, LOGIN_INTERFACE, "Answer", &("flow",)),
        ),
        (
            MANAGE_INTERFACE,
            "ListTokens(u)",
            raw_call(&conn, MANAGE_INTERFACE, "ListTokens", &(0u32,)),
        ),
        (
            MANAGE_INTERFACE,
            "BeginTotpEnrollment(ss)",
            raw_call(
                &conn,
                MANAGE_INTERFACE,
                "BeginTotpEnrollment",
                &("bin", "x"),
            ),
        ),
    ];
    for (_, what, r) in cases {
        let e = r.err().unwrap_or_else(|| panic!("{what} was accepted"));
        assert_eq!(
            error_name(&e),
            "org.freedesktop.DBus.Error.InvalidArgs",
            "{what}: {e:?}"
        );
    }
    assert_daemon_healthy(&env);
}

#[test]
fn given_malformed_user_names_when_calling_methods_then_invalid_user() {
    let env = TestEnv::start();
    let conn = connect(&env);
    let long = "a".repeat(4096);
    let names = [
        "bin:x",
        "a/b",
        "bin\n",
        "bin\nroot",
        " bin",
        "bin ",
        "-rf",
        "..",
        "bin\u{1b}[2J",
        long.as_str(),
    ];
    // An empty name means "the caller" in Manage1 (self-service); in Begin it is invalid.
    let r = begin(&conn, &facts(""));
    assert!(
        matches!(r, Err(MfaError::InvalidUser(_))),
        "Begin(\"\"): {r:?}"
    );
    for name in names {
        let r = call(&conn, async |p| p.list_tokens(name).await);
        assert!(
            matches!(r, Err(MfaError::InvalidUser(_))),
            "ListTokens({name:.20?}): {r:?}"
        );
        let r = call(&conn, async |p| {
            p.begin_totp_enrollment(name, &TotpEnrollOptions::default())
                .await
        });
        assert!(
            matches!(r, Err(MfaError::InvalidUser(_))),
            "BeginTotpEnrollment({name:.20?}): {r:?}"
        );
        let r = call(&conn, async |p| p.unlock(name).await);
        assert!(
            matches!(r, Err(MfaError::InvalidUser(_))),
            "Unlock({name:.20?}): {r:?}"
        );
        let r = begin(&conn, &facts(name));
        assert!(
            matches!(r, Err(MfaError::InvalidUser(_))),
            "Begin({name:.20?}): {r:?}"
        );
    }
    assert_daemon_healthy(&env);
}

#[test]
fn given_unknown_user_or_token_or_flow_then_the_matching_error() {
    let env = TestEnv::start();
    env.enroll_new("bin");
    let conn = connect(&env);
    let r = call(&conn, async |p| p.list_tokens("no-such-user-xyz").await);
    assert!(
        matches!(r, Err(MfaError::UnknownUser(_))),
        "ListTokens(unknown user): {r:?}"
    );
    let r = call(&conn, async |p| p.remove_token("bin", "999999").await);
    assert!(
        matches!(r, Err(MfaError::UnknownToken(_))),
        "RemoveToken(unknown id): {r:?}"
    );
    let r = call(&conn, async |p| {
        p.remove_token("bin", "no-such-token").await
    });
    assert!(
        matches!(r, Err(MfaError::UnknownToken(_))),
        "RemoveToken(unknown name): {r:?}"
    );
    let r = call(&conn, async |p| {
        p.confirm_totp_enrollment("no-such-enrollment", "123456")
            .await
    });
    assert!(
        matches!(r, Err(MfaError::UnknownEnrollment(_))),
        "ConfirmTotpEnrollment(unknown): {r:?}"
    );
    let r = answer(&conn, "no-such-flow", "123456");
    assert!(
        matches!(r, Err(MfaError::UnknownFlow(_))),
        "Answer(unknown flow): {r:?}"
    );
    let r = answer(&conn, "", "123456");
    assert!(
        matches!(r, Err(MfaError::UnknownFlow(_))),
        "Answer(empty flow): {r:?}"
    );
    // The token is still there.
    let tokens = call(&conn, async |p| p.list_tokens("bin").await).expect("list");
    assert_eq!(tokens.len(), 1);
    assert_daemon_healthy(&env);
}

#[test]
fn given_flow_when_answered_twice_or_from_another_connection_then_unknown_flow() {
    let env = TestEnv::builder().config(LENIENT).start();
    let t = env.enroll_new("daemon");
    let conn = connect(&env);
    let other = connect(&env);
    let flow = prompt_flow(&conn, "daemon");
    let r = answer(&other, &flow, &t.current_code());
    assert!(
        matches!(r, Err(MfaError::UnknownFlow(_))),
        "a flow belongs to its connection: {r:?}"
    );
    let r = answer(&conn, &flow, &t.wrong_code());
    assert_not_allowed("wrong code", &r);
    let r = answer(&conn, &flow, &t.current_code());
    assert!(
        matches!(r, Err(MfaError::UnknownFlow(_))),
        "one answer per prompt: {r:?}"
    );
    // The right code, in a new flow, is allowed.
    let flow = prompt_flow(&conn, "daemon");
    let step = answer(&conn, &flow, &t.current_code()).expect("Answer");
    assert_eq!(step.kind, "allow", "{step:?}");
    assert_daemon_healthy(&env);
}

#[test]
fn given_malformed_answers_then_denied_without_crash_and_database_intact() {
    let env = TestEnv::builder().config(LENIENT).start();
    let t = env.enroll_new("sys");
    let code = t.current_code();
    let fullwidth: String = code
        .chars()
        .map(|c| char::from_u32(0xFF10 + c.to_digit(10).unwrap()).unwrap())
        .collect();
    let arabic_indic: String = code
        .chars()
        .map(|c| char::from_u32(0x0660 + c.to_digit(10).unwrap()).unwrap())
        .collect();
    let megabyte = "1".repeat(1024 * 1024);
    let answers: Vec<(&str, String)> = vec![
        ("1 MB answer", megabyte),
        ("non-digits", "abcdef".into()),
        ("digits and letters", format!("{}a", &code[..5])),
        ("fullwidth digits of the right code", fullwidth),
        ("Arabic-Indic digits of the right code", arabic_indic),
        ("right code with a sign", format!("+{code}")),
        ("too short", code[..5].to_string()),
        ("too long", format!("{code}0")),
        ("empty", String::new()),
        ("control characters", format!("{code}\x1b[2J")),
    ];
    for (what, a) in &answers {
        let conn = connect(&env);
        let flow = prompt_flow(&conn, "sys");
        let r = answer(&conn, &flow, a);
        assert_not_allowed(what, &r);
        if let Ok(step) = &r {
            assert_eq!(step.kind, "deny", "{what}: {step:?}");
        }
        assert!(
            env.mfad_running(),
            "mfad died on {what}:\n{}",
            env.mfad_log()
        );
    }
    // A NUL inside a string is not valid D-Bus: either the client refuses to send it, the bus
    // drops the connection, or the daemon denies. Never allow, never crash.
    {
        let conn = connect(&env);
        let flow = prompt_flow(&conn, "sys");
        let r = answer(&conn, &flow, &format!("{}\0{}", &code[..3], &code[3..]));
        assert_not_allowed("NUL inside", &r);
    }
    assert_daemon_healthy(&env);
    // None of that consumed the code: it still logs in.
    env.login("sys", &[&code]).assert_success();
}

#[test]
fn given_oversized_login_facts_then_no_allow_and_daemon_survives() {
    let env = TestEnv::builder().config(LENIENT).start();
    let t = env.enroll_new("games");
    let conn = connect(&env);
    let huge = "x".repeat(1024 * 1024);
    let cases = [
        LoginFacts {
            service: huge.clone(),
            ..facts("games")
        },
        LoginFacts {
            tty: huge.clone(),
            ..facts("games")
        },
        LoginFacts {
            rhost: huge.clone(),
            ..facts("games")
        },
        LoginFacts {
            ssh_auth_info: huge.clone(),
            ..facts("games")
        },
        LoginFacts {
            service: "ssh\nd".into(),
            ..facts("games")
        },
    ];
    for f in &cases {
        let r = begin(&conn, f);
        if let Ok(step) = &r {
            assert_ne!(step.kind, "allow", "{step:?}");
            if step.kind == "prompt" {
                // Answer with a wrong code so the flow ends.
                assert_not_allowed(
                    "oversized facts",
                    &answer(&conn, &step.flow, &t.wrong_code()),
                );
            }
        }
        assert!(env.mfad_running(), "mfad died:\n{}", env.mfad_log());
    }
    assert_daemon_healthy(&env);
    env.login("games", &[&t.current_code()]).assert_success();
}

#[test]
fn given_enrollment_with_bad_options_then_invalid_argument_and_nothing_saved() {
    let env = TestEnv::start();
    let conn = connect(&env);
    let opts = |f: &dyn Fn(&mut TotpEnrollOptions)| {
        let mut o = TotpEnrollOptions::default();
        f(&mut o);
        o
    };
    let bad = [
        opts(&|o| o.digits = 7),
        opts(&|o| o.digits = 1000),
        opts(&|o| o.period = 31),
        opts(&|o| o.algorithm = "MD5".into()),
        opts(&|o| o.secret_base32 = "not base32!".into()),
        opts(&|o| o.secret_base32 = "AAAA".into()),
        opts(&|o| o.name = "n".repeat(100_000)),
    ];
    for o in &bad {
        let r = call(&conn, async |p| p.begin_totp_enrollment("man", o).await);
        assert!(
            matches!(r, Err(MfaError::InvalidArgument(_))),
            "{:?}: {r:?}",
            (o.digits, o.period, &o.algorithm)
        );
    }
    // A valid import still works afterwards.
    let t = Totp::sha1();
    env.enroll("man", &t);
    assert_daemon_healthy(&env);
}
