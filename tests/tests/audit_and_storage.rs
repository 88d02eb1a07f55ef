//! What mfad leaves behind: audit lines on syslog (authpriv) without codes or secrets, a
//! database only root can read, and TOTP secrets sealed in it with a key kept apart.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::time::Duration;

use mfa_tests::{CmdOutput, DEFAULT_SERVICE, TestEnv, Totp, bin, contains_token};

const LOG_WAIT: Duration = Duration::from_secs(5);
/// `LOG_AUTHPRIV` (10 << 3).
const AUTHPRIV: u32 = 10;

/// The facility of an RFC 3164 line (`<PRI>…`).
fn facility(line: &str) -> Option<u32> {
    let pri: u32 = line.strip_prefix('<')?.split_once('>')?.0.parse().ok()?;
    Some(pri >> 3)
}

#[test]
fn given_logins_then_syslog_has_allow_and_deny_lines_without_codes_or_secrets() {
    let env = TestEnv::start();
    let t = env.enroll_new("bin");
    let enroll_code = t.code_at(mfa_tests::now() - 30);
    let wrong = t.wrong_code();
    env.login("bin", &[&wrong])
        .assert_denied(DEFAULT_SERVICE, "bin", mfa_tests::NOT_ACCEPTED);
    let right = t.current_code();
    env.login("bin", &[&right]).assert_success();

    let has = |l: &str, parts: &[&str]| parts.iter().all(|p| l.contains(p));
    let service = format!("service={DEFAULT_SERVICE}");
    let deny = env
        .wait_for_syslog(LOG_WAIT, |l| {
            has(
                l,
                &["user=bin", &service, "result=deny", "reason=auth-failed"],
            )
        })
        .unwrap_or_else(|| panic!("no deny line; got:\n{}", env.syslog_lines().join("\n")));
    let allow = env
        .wait_for_syslog(LOG_WAIT, |l| {
            has(l, &["user=bin", &service, "result=allow"])
        })
        .unwrap_or_else(|| panic!("no allow line; got:\n{}", env.syslog_lines().join("\n")));
    for l in [&deny, &allow] {
        assert_eq!(
            facility(l),
            Some(AUTHPRIV),
            "audit lines go to authpriv: {l}"
        );
    }

    let lines = env.syslog_lines();
    let log = env.mfad_log();
    let lower = t.secret.to_lowercase();
    for l in lines.iter().map(String::as_str).chain(log.lines()) {
        for code in [&right, &wrong, &enroll_code] {
            assert!(!contains_token(l, code), "a code ({code}) was logged: {l}");
        }
        assert!(
            !l.contains(&t.secret) && !l.contains(&lower),
            "the secret was logged: {l}"
        );
        assert!(
            !l.contains(&t.secret[..16]),
            "part of the secret was logged: {l}"
        );
    }
}

#[test]
fn given_hostile_user_names_then_syslog_lines_have_no_control_characters() {
    let env = TestEnv::start();
    env.enroll_new("daemon");
    for user in ["evil\x1b[2Jroot", "bin\nroot", "x\ry", &"z".repeat(300)] {
        let out = env.login(user, &["123456"]);
        assert!(!out.succeeded(), "{out}");
        assert!(!out.output.timed_out, "{out}");
    }
    env.login("daemon", &["000000x"]);
    // Give mfad a moment to log, then check every datagram.
    std::thread::sleep(Duration::from_millis(300));
    let lines = env.syslog_lines();
    assert!(!lines.is_empty(), "mfad logged nothing");
    for l in &lines {
        assert!(
            !l.chars().any(|c| c.is_control()),
            "control character in a syslog line: {l:?}"
        );
        assert!(l.len() <= 2048, "unbounded syslog line ({} bytes)", l.len());
    }
}

fn assert_private(env: &TestEnv) {
    let dir = env.db_path().parent().expect("state dir").to_path_buf();
    let dm = fs::metadata(&dir).expect("state dir exists");
    assert_eq!(dm.permissions().mode() & 0o7777, 0o700, "state dir mode");
    assert_eq!((dm.uid(), dm.gid()), (0, 0), "state dir owner");
    let fm = fs::metadata(env.db_path()).expect("db exists");
    assert_eq!(fm.permissions().mode() & 0o7777, 0o600, "db file mode");
    assert_eq!(fm.uid(), 0, "db file owner");
    // Journal/WAL files, if any, must be as private as the database.
    for e in fs::read_dir(&dir).expect("read state dir") {
        let e = e.expect("entry");
        let m = e.metadata().expect("metadata");
        assert_eq!(
            m.permissions().mode() & 0o077,
            0,
            "{} is readable by others",
            e.path().display()
        );
        assert_eq!(m.uid(), 0, "{} owner", e.path().display());
    }
}

#[test]
fn given_daemon_started_then_database_is_0600_in_a_0700_dir_owned_by_root() {
    let env = TestEnv::start();
    assert_private(&env);
    env.enroll_new("sys");
    assert_private(&env);
}

#[test]
fn given_umask_000_when_daemon_starts_then_database_is_still_private() {
    let env = TestEnv::builder().umask(0o000).start();
    assert_private(&env);
    env.enroll_new("games");
    assert_private(&env);
    let out = std::process::Command::new("sqlite3")
        .arg(env.db_path())
        .arg("PRAGMA integrity_check;")
        .output()
        .expect("sqlite3");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok");
}

#[test]
fn given_enrolled_token_when_non_root_reads_the_database_then_refused() {
    let env = TestEnv::start();
    env.enroll_new("man");
    let out = mfa_tests::run(
        {
            let mut c = mfa_tests::run_as("nobody", std::path::Path::new("/bin/cat"));
            c.arg(env.db_path());
            c
        },
        b"",
        Duration::from_secs(5),
    );
    assert!(!out.success(), "nobody could read the database:\n{out}");
}

// ----- secrets at rest ----------------------------------------------------------------------

/// RFC 6238's test secret, "12345678901234567890" in ASCII.
const RFC_SECRET_B32: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
const RFC_SECRET: &[u8] = b"12345678901234567890";

fn key_path(env: &TestEnv) -> std::path::PathBuf {
    env.db_path().with_file_name("mfad.key")
}

/// Runs mfad on `env`'s database and bus (the test's mfad must be stopped), expecting a
/// start-up failure.
fn mfad_start_failure(env: &TestEnv) -> CmdOutput {
    let mut cmd = std::process::Command::new(bin("mfad"));
    cmd.arg("--db")
        .arg(env.db_path())
        .arg("--bus-address")
        .arg(&env.bus_address)
        .arg("--syslog-socket")
        .arg(env.path().join("unused-syslog.sock"))
        .arg("--log-stderr");
    let out = mfa_tests::run(cmd, b"", Duration::from_secs(5));
    assert!(!out.timed_out, "mfad started and served:\n{out}");
    assert!(!out.success(), "mfad exited 0:\n{out}");
    out
}

#[test]
fn given_enrolled_token_then_the_database_file_holds_no_secret_and_the_key_is_apart() {
    let env = TestEnv::start();
    let t = Totp::with_secret(RFC_SECRET_B32);
    assert!(env.enroll("bin", &t).success());
    env.login("bin", &[&t.current_code()]).assert_success();

    // Neither the database nor its WAL contains the secret, in any column.
    for f in [env.db_path(), env.db_path().with_extension("db-wal")] {
        if let Ok(bytes) = fs::read(&f) {
            assert!(
                !bytes.windows(RFC_SECRET.len()).any(|w| w == RFC_SECRET),
                "{} holds the secret in clear",
                f.display()
            );
        }
    }
    let out = std::process::Command::new("sqlite3")
        .arg(env.db_path())
        .arg("SELECT hex(secret) FROM tokens;")
        .output()
        .expect("sqlite3");
    let sealed = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    // version, 24-byte nonce, the 20 secret bytes encrypted, 16-byte tag.
    assert_eq!(sealed.len(), 2 * (1 + 24 + 20 + 16), "{sealed}");
    assert!(!sealed.contains("3132333435363738393031323334353637383930"));

    let meta = fs::metadata(key_path(&env)).expect("key file");
    assert_eq!(meta.permissions().mode() & 0o7777, 0o600);
    assert_eq!((meta.uid(), meta.len()), (0, 32));
}

#[test]
fn given_a_missing_or_foreign_key_file_then_mfad_refuses_to_start_and_says_how_to_fix_it() {
    let env = TestEnv::start();
    let t = env.enroll_new("daemon");
    env.kill_mfad();
    let key = key_path(&env);
    let saved = fs::read(&key).unwrap();

    fs::remove_file(&key).unwrap();
    let out = mfad_start_failure(&env);
    assert!(
        out.stderr.contains("is missing") && out.stderr.contains("restore the key file"),
        "{out}"
    );
    assert!(!key.exists(), "mfad replaced a lost key");

    fs::write(&key, [7u8; 32]).unwrap();
    fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
    let out = mfad_start_failure(&env);
    assert!(out.stderr.contains("does not belong"), "{out}");

    fs::write(&key, &saved).unwrap();
    fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
    let out = mfad_start_failure(&env);
    assert!(out.stderr.contains("chmod 600"), "{out}");

    fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
    env.restart_mfad();
    env.login("daemon", &[&t.current_code()]).assert_success();
}

// ----- secrets never leak ---------------------------------------------------------------------

/// Recovery codes as `mfactl recovery generate` prints them (`xxxx-xxxx-xxxx-xxxx`).

#[test]
fn given_enrollment_logins_recovery_step_up_and_errors_then_no_secret_code_or_uri_leaks() {
    use mfa_proto::{MfaError, TotpEnrollOptions};
    use mfa_tests::manage::{call, root_conn};

    let env = TestEnv::builder()
        .config("[rate_limit]\nfree_failures = 90\n")
        .start();
    let root = root_conn(&env);
    let t = Totp::sha1();
    // Everything that must never show up in a log line or an error message.
    let mut secrets = vec![t.secret.clone()];
    let mut codes = Vec::new();
    // Error messages and diagnostics to search (never the one place a secret belongs: the
    // enrolling person's own stdout).
    let mut messages = Vec::new();
    mfa_tests::wait_for_fresh_step(30, 15);

    // Enrollments that fail: a wrong confirmation code, a secret too short (80 bits).
    let wrong = t.wrong_code();
    let out = env.enroll_with_code(None, "proxy", &t, &wrong);
    assert!(!out.success(), "{out}");
    messages.push(out.stderr.clone());
    codes.push(wrong);
    let short = Totp::with_secret("JBSWY3DPEHPK3PXPJBSWY3DP");
    secrets.push(short.secret.clone());
    let out = env.enroll_with_code(None, "proxy", &short, &short.current_code());
    assert!(!out.success(), "{out}");
    messages.push(out.stderr.clone());
    // The same over raw D-Bus: the error texts must not echo what was sent.
    let opts = |secret: &str| TotpEnrollOptions {
        name: "leak".into(),
        secret_base32: secret.into(),
        digits: 6,
        algorithm: "sha1".into(),
        period: 30,
        issuer: String::new(),
    };
    let err = call(&root, async |p| {
        p.begin_totp_enrollment("proxy", &opts(&short.secret)).await
    })
    .expect_err("a short secret was accepted");
    messages.push(format!("{err:?} {}", err.message()));
    let other = Totp::sha1();
    secrets.push(other.secret.clone());
    let start = call(&root, async |p| {
        p.begin_totp_enrollment("proxy", &opts(&other.secret)).await
    })
    .expect("BeginTotpEnrollment");
    let bad = other.wrong_code();
    let err: MfaError = call(&root, async |p| {
        p.confirm_totp_enrollment(&start.enrollment, &bad).await
    })
    .expect_err("a wrong code confirmed");
    messages.push(format!("{err:?} {}", err.message()));
    codes.push(bad);
    let _ = call(&root, async |p| {
        p.cancel_enrollment(&start.enrollment).await
    });

    // The real enrollment, then logins: wrong, right, replayed.
    let enrolled = env.enroll("proxy", &t);
    codes.push(t.previous_code());
    assert!(enrolled.stdout.contains("otpauth://"), "{enrolled}");
    messages.push(enrolled.stderr.clone());
    let wrong = t.wrong_code();
    let right = t.current_code();
    for (answer, ok) in [(&wrong, false), (&right, true), (&right, false)] {
        let out = env.login("proxy", &[answer]);
        assert_eq!(out.succeeded(), ok, "{out}");
        messages.extend(out.errors.iter().chain(&out.infos).cloned());
        messages.push(out.output.stderr.clone());
    }
    codes.extend([wrong, right]);

    // Recovery codes: generated (shown once, on stdout), used, mistyped.
    let out = env.mfactl(&["recovery", "generate", "proxy"]);
    assert!(out.success(), "{out}");
    messages.push(out.stderr.clone());
    let recovery = mfa_tests::printed_recovery_codes(&out.stdout);
    assert_eq!(recovery.len(), 10, "{out}");
    let login = env.login("proxy", &["2", &recovery[0]]);
    login.assert_success();
    messages.extend(login.errors.iter().chain(&login.infos).cloned());
    let login = env.login("proxy", &["2", "zzzz-zzzz-zzzz-zzzz"]);
    assert!(!login.succeeded(), "{login}");
    messages.extend(login.errors.iter().chain(&login.infos).cloned());

    // Step-ups as the user: a wrong code, then a recovery code.
    let out = env.mfactl_as_with_input("proxy", &["always-require", "on"], "");
    assert!(out.success(), "{out}");
    let step_wrong = t.wrong_code();
    let out = env.mfactl_as_with_input(
        "proxy",
        &["always-require", "off"],
        &format!("1\n{step_wrong}\n"),
    );
    assert!(!out.success(), "{out}");
    messages.push(out.all_output());
    codes.push(step_wrong);
    let out = env.mfactl_as_with_input(
        "proxy",
        &["always-require", "off"],
        &format!("2\n{}\n", recovery[1]),
    );
    assert!(out.success(), "{out}");
    messages.push(out.all_output());

    // What administrators read back.
    for args in [
        &["list", "proxy"][..],
        &["status", "proxy"],
        &["--json", "list", "proxy"],
    ] {
        let out = env.mfactl(args);
        assert!(out.success(), "{out}");
        messages.push(out.all_output());
    }

    std::thread::sleep(Duration::from_millis(300));
    let syslog = env.syslog_lines();
    let mfad_log = env.mfad_log();
    let haystacks: Vec<(&str, &str)> = syslog
        .iter()
        .map(|l| ("syslog", l.as_str()))
        .chain(mfad_log.lines().map(|l| ("mfad stdout/stderr", l)))
        .chain(
            messages
                .iter()
                .map(|m| ("an error message or output", m.as_str())),
        )
        .collect();
    assert!(syslog.len() > 5, "too little was logged to judge");
    for (where_, text) in &haystacks {
        let upper = text.to_uppercase();
        for s in &secrets {
            assert!(!upper.contains(&s[..16]), "a secret in {where_}: {text}");
        }
        assert!(
            !text.contains("otpauth://"),
            "an otpauth URI in {where_}: {text}"
        );
        for c in &codes {
            assert!(!contains_token(text, c), "code {c} in {where_}: {text}");
        }
        let squeezed = upper.replace('-', "");
        for r in &recovery {
            let r = r.to_uppercase();
            assert!(
                !upper.contains(&r) && !squeezed.contains(&r.replace('-', "")),
                "a recovery code in {where_}: {text}"
            );
        }
    }
}
