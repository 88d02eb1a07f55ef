//! Bad input that the other files leave out (issue 6; security.md §5 "Codes", "User names",
//! "IPC"): through PAM (the conversation answer and `PAM_USER`) and over D-Bus with a raw
//! client (not mfactl, not the module). Each gets a clear error, counts as at most one
//! failure, changes nothing else (the database passes `integrity_check`, the right code
//! still logs in), and the daemon survives.
//!
//! Already covered elsewhere: letters, fullwidth digits, a trailing letter, non-UTF-8, 64/65
//! digits and 1 MB answers through PAM (`login.rs`); wrong argument types, malformed user
//! names, unknown users, tokens, flows and enrollments, 1 MB answers and facts over D-Bus
//! (`dbus_input.rs`); non-root callers through mfactl (`authorization.rs`).

mod common;

use std::time::Duration;

use mfa_proto::{
    BUS_NAME, LOGIN_INTERFACE, LoginFacts, LoginProxy, MANAGE_INTERFACE, MfaError, OBJECT_PATH,
    TotpEnrollOptions, WireStep,
};
use mfa_tests::{
    DEFAULT_SERVICE, LoginOutcome, NOT_ACCEPTED, PAM_AUTH_ERR, PAM_SUCCESS, TestEnv,
    wait_for_fresh_step,
};

use common::{call, conn_as, root_conn};

/// `PAM_USER_UNKNOWN`.
const PAM_USER_UNKNOWN: i32 = 10;

/// No back-off in the way: every malformed answer reaches the check and is counted.
const LENIENT: &str = "[rate_limit]\nfree_failures = 90\n";

fn sql(env: &TestEnv, query: &str) -> String {
    let out = std::process::Command::new("sqlite3")
        .arg(env.db_path())
        .arg(query)
        .output()
        .expect("run sqlite3");
    assert!(out.status.success(), "sqlite3 {query}: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn failures(env: &TestEnv, user: &str) -> u32 {
    sql(
        env,
        &format!("SELECT consecutive FROM failures WHERE user = '{user}';"),
    )
    .parse()
    .unwrap_or(0)
}

#[track_caller]
fn assert_intact(env: &TestEnv) {
    assert!(env.mfad_running(), "mfad died:\n{}", env.mfad_log());
    assert_eq!(sql(env, "PRAGMA integrity_check;"), "ok");
}

/// `code` with its digits replaced by the digits of another script (`zero` = that script's
/// digit zero), the `every`-th digit only (1: all).
fn other_digits(code: &str, zero: u32, every: usize) -> String {
    code.chars()
        .enumerate()
        .map(|(i, c)| {
            if i % every == 0 {
                char::from_u32(zero + c.to_digit(10).expect("digit")).expect("char")
            } else {
                c
            }
        })
        .collect()
}

/// Malformed forms of `code` not covered by login.rs and dbus_input.rs.
fn malformed(code: &str) -> Vec<(&'static str, String)> {
    vec![
        ("whitespace only", "  \t ".into()),
        ("inner space", format!("{} {}", &code[..3], &code[3..])),
        ("inner tab", format!("{}\t{}", &code[..3], &code[3..])),
        ("inner CR", format!("{}\r{}", &code[..3], &code[3..])),
        ("minus sign", format!("-{code}")),
        ("hex", format!("0x{}", &code[..4])),
        ("exponent", "1e5".into()),
        ("5 digits", code[..5].into()),
        ("7 digits", format!("{code}7")),
        ("9 digits", format!("{code}987")),
        ("Arabic-Indic digits", other_digits(code, 0x0660, 1)),
        ("mixed-width digits", other_digits(code, 0xFF10, 2)),
        ("Devanagari digits", other_digits(code, 0x0966, 1)),
    ]
}

/// The standard denial through PAM, for a code that was refused.
#[track_caller]
fn assert_not_accepted(out: &LoginOutcome, what: &str) {
    assert!(out.prompted(), "{what}: no prompt:\n{out}");
    assert_eq!(out.result, Some(PAM_AUTH_ERR), "{what}:\n{out}");
    out.assert_denied(DEFAULT_SERVICE, "news", NOT_ACCEPTED);
}

#[test]
fn given_malformed_codes_through_pam_then_each_is_refused_and_counted_exactly_once() {
    let env = TestEnv::builder().config(LENIENT).start();
    let t = env.enroll_new("news");
    wait_for_fresh_step(30, 12);
    let code = t.current_code();
    let cases = malformed(&code);
    for (i, (what, answer)) in cases.iter().enumerate() {
        let mut line = answer.clone().into_bytes();
        line.push(b'\n');
        let out = env.pam_login(None, DEFAULT_SERVICE, "news", &line, &[]);
        assert_not_accepted(&out, what);
        assert_eq!(
            failures(&env, "news"),
            i as u32 + 1,
            "{what}: not counted once"
        );
    }
    // A NUL ends a C string: libpam hands the module what comes before it. Before the code
    // that is an empty answer, refused like any other.
    let out = env.pam_login(
        None,
        DEFAULT_SERVICE,
        "news",
        format!("\0{code}\n").as_bytes(),
        &[],
    );
    assert_not_accepted(&out, "NUL before the code");
    assert_intact(&env);
    // ASCII whitespace at the ends is dropped (apps add it), so this is the right code, once.
    let padded = format!(" \t{code}  ");
    env.login("news", &[&padded]).assert_success();
    assert_eq!(failures(&env, "news"), 0, "a success resets the counter");
    env.login("news", &[&code])
        .assert_denied(DEFAULT_SERVICE, "news", NOT_ACCEPTED);
}

#[test]
fn given_hostile_user_names_through_pam_then_refused_clearly_and_nothing_is_stored() {
    let env = TestEnv::start();
    let t = env.enroll_new("mail");
    let long = "u".repeat(4096);
    let names = [
        "mail:x",
        "../mail",
        "mail/x",
        "mail\nroot",
        " mail",
        "mail ",
        "-mail",
        "mail\u{202e}",
        long.as_str(),
    ];
    for name in names {
        let out = env.login(name, &["123456"]);
        assert!(!out.output.timed_out, "{name:.20?} hung:\n{out}");
        assert!(out.result.is_some(), "{name:.20?}: no PAM result:\n{out}");
        assert_ne!(out.result, Some(PAM_SUCCESS), "{name:.20?}:\n{out}");
        if name.len() > mfa_proto::MAX_USER_LEN {
            // The module refuses it before asking mfad: PAM_USER_UNKNOWN, the reason in
            // syslog, and the standard message with the name cut to 64 characters.
            assert_eq!(out.result, Some(PAM_USER_UNKNOWN), "{name:.20?}:\n{out}");
            assert!(!out.prompted(), "{out}");
            let shown = format!("{}…", &name[..64]);
            out.assert_denied(
                DEFAULT_SERVICE,
                &shown,
                &format!(
                    "the user name is too long ({} bytes; at most {}).\n    Check the user name and try again.",
                    name.len(),
                    mfa_proto::MAX_USER_LEN
                ),
            );
            assert_eq!(out.errors.len(), 1, "{out}");
            assert!(out.errors[0].len() < 400, "{out}");
        } else {
            assert!(
                !out.errors.is_empty(),
                "{name:.20?}: refused without a message:\n{out}"
            );
        }
    }
    // Refused names leave no trace: no failure record, no token.
    assert_eq!(
        sql(
            &env,
            "SELECT COUNT(*) FROM failures WHERE user != 'mail' AND user != 'no-such-user-xyz';"
        ),
        "0"
    );
    assert_eq!(
        sql(&env, "SELECT COUNT(*) FROM tokens WHERE user != 'mail';"),
        "0"
    );
    assert_intact(&env);
    wait_for_fresh_step(30, 6);
    env.login("mail", &[&t.current_code()]).assert_success();
}

/// Answers the module refuses itself (not UTF-8, longer than 64 bytes): each is reported to
/// mfad (`AnswerRefused`) and counted as exactly one failure, like a wrong code, so they cannot
/// be used to probe without touching the rate limit; after `lockout_after` of them the
/// account is locked.
#[test]
fn given_answers_the_module_refuses_then_each_counts_one_failure_and_the_lockout_engages() {
    const LOCKOUT_AFTER: u32 = 4;
    let env = TestEnv::builder()
        .config(&format!(
            "[rate_limit]\nfree_failures = 90\nlockout_after = {LOCKOUT_AFTER}\n"
        ))
        .start();
    let t = env.enroll_new("daemon");
    let refused: [(&str, Vec<u8>, &str, &str); LOCKOUT_AFTER as usize] = [
        (
            "not UTF-8",
            b"\xff\xfe123456".to_vec(),
            "not-utf8",
            "The answer contains bytes that are not UTF-8.",
        ),
        (
            "65 digits",
            "1".repeat(65).into_bytes(),
            "too-long",
            "The answer is too long.",
        ),
        (
            "a 4 KiB answer",
            "7".repeat(4096).into_bytes(),
            "too-long",
            "The answer is too long.",
        ),
        (
            "the right code, then a stray byte",
            [t.current_code().as_bytes(), b"\xc0"].concat(),
            "not-utf8",
            "The answer contains bytes that are not UTF-8.",
        ),
    ];
    for (i, (what, answer, code, hint)) in refused.iter().enumerate() {
        let mut line = answer.clone();
        line.push(b'\n');
        let out = env.pam_login(None, DEFAULT_SERVICE, "daemon", &line, &[]);
        assert!(out.prompted(), "{what}: no prompt:\n{out}");
        assert_eq!(out.result, Some(PAM_AUTH_ERR), "{what}:\n{out}");
        out.assert_denied(
            DEFAULT_SERVICE,
            "daemon",
            &format!("{NOT_ACCEPTED}\n    {hint}"),
        );
        assert_eq!(out.errors.len(), 1, "{what}: one message:\n{out}");
        assert_eq!(
            failures(&env, "daemon"),
            i as u32 + 1,
            "{what}: not counted exactly once"
        );
        let audit = env
            .wait_for_syslog(Duration::from_secs(5), |l| {
                l.contains("user=daemon ")
                    && l.contains(&format!("failures={}", i + 1))
                    && l.contains("reason=answer-refused")
            })
            .unwrap_or_else(|| panic!("{what}: no audit line:\n{}", env.syslog_lines().join("\n")));
        assert!(audit.contains(&format!("detail={code} ")), "{audit}");
        assert!(audit.contains("answer refused by the module: "), "{audit}");
    }
    // Locked now: neither a refused answer nor the right code is counted or accepted.
    wait_for_fresh_step(30, 6);
    let code = t.current_code();
    for (what, line) in [
        ("not UTF-8", b"\xff\n".to_vec()),
        ("the right code", format!("{code}\n").into_bytes()),
    ] {
        let out = env.pam_login(None, DEFAULT_SERVICE, "daemon", &line, &[]);
        out.assert_denied(
            DEFAULT_SERVICE,
            "daemon",
            "the account is locked after too many failed attempts.",
        );
        assert_eq!(failures(&env, "daemon"), LOCKOUT_AFTER, "{what}");
    }
    assert_intact(&env);
    let unlock = env.mfactl(&["unlock", "daemon"]);
    assert!(unlock.success(), "{unlock}");
    env.login("daemon", &[&code]).assert_success();
}

// ----- over D-Bus, with a raw client -------------------------------------------------------

fn error_name(e: &zbus::Error) -> String {
    match e {
        zbus::Error::MethodError(name, _, _) => name.to_string(),
        zbus::Error::FDO(f) => zbus::DBusError::name(f.as_ref()).to_string(),
        other => format!("<not a D-Bus error reply: {other}>"),
    }
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

#[test]
fn given_malformed_codes_over_dbus_then_each_is_denied_and_counted_exactly_once() {
    let env = TestEnv::builder().config(LENIENT).start();
    let t = env.enroll_new("sys");
    wait_for_fresh_step(30, 12);
    let code = t.current_code();
    let mut cases = malformed(&code);
    cases.push((
        "right code, LF inside",
        format!("{}\n{}", &code[..3], &code[3..]),
    ));
    cases.push(("NUL only", "\0".into()));
    cases.push((
        "right code, NUL inside",
        format!("{}\0{}", &code[..3], &code[3..]),
    ));
    let mut counted = 0;
    for (what, a) in &cases {
        // A connection per case: a client that sends an invalid string is cut off by the bus.
        let conn = root_conn(&env);
        let step = begin(&conn, &facts("sys")).expect("Begin");
        assert_eq!(step.kind, "prompt", "{step:?}");
        match answer(&conn, &step.flow, a) {
            Ok(step) => {
                assert_eq!(step.kind, "deny", "{what}: {step:?}");
                assert_eq!(step.reason, "auth-failed", "{what}: {step:?}");
                assert!(
                    step.text.contains(NOT_ACCEPTED),
                    "{what}: unclear message {:?}",
                    step.text
                );
                counted += 1;
                assert_eq!(failures(&env, "sys"), counted, "{what}: not counted once");
            }
            // A string with a NUL is not valid D-Bus: refused before mfad, or by it.
            Err(e) => assert!(a.contains('\0'), "{what}: {e:?}"),
        }
    }
    assert_intact(&env);
    let conn = root_conn(&env);
    let step = begin(&conn, &facts("sys")).expect("Begin");
    let step = answer(&conn, &step.flow, &code).expect("Answer");
    assert_eq!(
        step.kind, "allow",
        "the right code after the abuse: {step:?}"
    );
}

#[test]
fn given_unknown_methods_interfaces_and_objects_then_the_standard_dbus_errors() {
    let env = TestEnv::start();
    let t = env.enroll_new("games");
    let conn = root_conn(&env);
    let call_raw = |path: &str, iface: &str, method: &str| {
        zbus::block_on(conn.call_method(Some(BUS_NAME), path, Some(iface), method, &()))
            .err()
            .map(|e| error_name(&e))
            .unwrap_or_else(|| panic!("{iface}.{method} on {path} answered"))
    };
    // Unknown members of mfad's interfaces reach mfad, which says so; other interfaces are
    // stopped by the shipped bus policy before they reach it.
    for (path, iface, method, want) in [
        (OBJECT_PATH, LOGIN_INTERFACE, "Verify", "UnknownMethod"),
        (OBJECT_PATH, LOGIN_INTERFACE, "begin", "UnknownMethod"),
        (
            OBJECT_PATH,
            MANAGE_INTERFACE,
            "DropDatabase",
            "UnknownMethod",
        ),
        (OBJECT_PATH, "org.pam_mfa.Login2", "Begin", "AccessDenied"),
        (OBJECT_PATH, "org.pam_mfa.Debug", "Dump", "AccessDenied"),
        (
            "/org/pam_mfa/Mfad/tokens",
            LOGIN_INTERFACE,
            "Begin",
            "Unknown",
        ),
        ("/", MANAGE_INTERFACE, "ListTokens", "Unknown"),
    ] {
        let name = call_raw(path, iface, method);
        assert!(
            name.starts_with("org.freedesktop.DBus.Error.") && name.contains(want),
            "{iface}.{method} on {path}: {name}, expected {want}"
        );
    }
    assert_intact(&env);
    wait_for_fresh_step(30, 6);
    env.login("games", &[&t.current_code()]).assert_success();
}

#[test]
fn given_a_non_utf8_string_on_the_bus_then_the_sender_is_cut_off_and_mfad_is_untouched() {
    let env = TestEnv::builder().config(LENIENT).start();
    let t = env.enroll_new("lp");
    wait_for_fresh_step(30, 8);
    let code = t.current_code();
    let conn = root_conn(&env);
    let step = begin(&conn, &facts("lp")).expect("Begin");
    // Answer(flow, <the code's digits followed by 0xff 0xfe>) built by hand: zbus refuses
    // to encode such a string, a hostile client need not.
    let mut body = Vec::new();
    for s in [
        step.flow.as_bytes(),
        &[code.as_bytes(), b"\xff\xfe"].concat(),
    ] {
        while body.len() % 4 != 0 {
            body.push(0);
        }
        body.extend_from_slice(&(s.len() as u32).to_le_bytes());
        body.extend_from_slice(s);
        body.push(0);
    }
    let msg = zbus::Message::method_call(OBJECT_PATH, "Answer")
        .destination(BUS_NAME)
        .interface(LOGIN_INTERFACE);
    // SAFETY: deliberately an invalid message (the point of the test); it only goes to the
    // test's private bus, and `body` is a plain byte buffer.
    let msg = unsafe { msg.build_raw_body(&body, "ss", Vec::new()) }.expect("raw message");
    let sent = zbus::block_on(conn.send(&msg));
    // The bus validates every message: the sender is disconnected (or the send fails).
    let after = call(&conn, async |p| p.who_am_i().await);
    assert!(
        sent.is_err() || after.is_err(),
        "the bus kept a connection that sent invalid UTF-8 (send {sent:?}, then {after:?})"
    );
    assert_intact(&env);
    assert_eq!(
        failures(&env, "lp"),
        0,
        "the invalid answer reached the check"
    );
    env.login("lp", &[&code]).assert_success();
}

#[test]
fn given_a_non_root_raw_client_acting_on_another_user_then_access_denied_and_nothing_changes() {
    let env = TestEnv::start();
    let t = env.enroll_new("bin");
    let before = sql(&env, "SELECT id, name, last_step FROM tokens;");
    let conn = conn_as(&env, "nobody");
    let id = call(&root_conn(&env), async |p| p.list_tokens("bin").await).expect("list")[0]
        .id
        .clone();
    let denied = |what: &str, r: Result<(), MfaError>| {
        assert!(
            matches!(r, Err(MfaError::AccessDenied(_))),
            "{what} as nobody: {r:?}"
        );
    };
    denied(
        "ListTokens",
        call(&conn, async |p| p.list_tokens("bin").await).map(|_| ()),
    );
    denied(
        "RemoveToken",
        call(&conn, async |p| p.remove_token("bin", &id).await),
    );
    denied(
        "RenameToken",
        call(&conn, async |p| p.rename_token("bin", &id, "pwned").await).map(|_| ()),
    );
    denied(
        "BeginTotpEnrollment",
        call(&conn, async |p| {
            p.begin_totp_enrollment("bin", &TotpEnrollOptions::default())
                .await
        })
        .map(|_| ()),
    );
    denied("Unlock", call(&conn, async |p| p.unlock("bin").await));
    denied("Lock", call(&conn, async |p| p.lock("bin", "x").await));
    denied(
        "Status",
        call(&conn, async |p| p.status("bin").await).map(|_| ()),
    );
    denied(
        "SetAlwaysRequire",
        call(&conn, async |p| p.set_always_require("bin", false).await),
    );
    denied(
        "GenerateRecoveryCodes",
        call(&conn, async |p| p.generate_recovery_codes("bin").await).map(|_| ()),
    );
    denied(
        "Login1.Begin",
        zbus::block_on(async { LoginProxy::new(&conn).await?.begin(&facts("bin")).await })
            .map(|_| ()),
    );
    assert_eq!(
        sql(&env, "SELECT id, name, last_step FROM tokens;"),
        before,
        "a refused call changed the tokens"
    );
    assert_eq!(failures(&env, "bin"), 0);
    assert_eq!(sql(&env, "SELECT COUNT(*) FROM recovery_codes;"), "0");
    assert_intact(&env);
    wait_for_fresh_step(30, 6);
    env.login("bin", &[&t.current_code()]).assert_success();
}
