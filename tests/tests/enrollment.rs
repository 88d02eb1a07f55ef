//! Enrollment with `mfactl`, checked against oathtool codes and real logins.

use std::io::{BufRead, BufReader, Read, Write};
use std::sync::mpsc;
use std::time::Duration;

use mfa_tests::{TestEnv, Totp, wait_for_fresh_step};

fn list_json(env: &TestEnv, user: &str) -> Vec<serde_json::Value> {
    let out = env.mfactl(&["--json", "list", user]);
    assert!(out.success(), "{out}");
    match serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{out}")) {
        serde_json::Value::Array(v) => v,
        other => panic!("expected a JSON array of tokens, got {other}"),
    }
}

/// Enrolls with the code oathtool computes for the previous step, then logs in with the
/// current step's code (no waiting for a new step), and checks the stored parameters.
fn enroll_and_login(user: &str, algorithm: &str, digits: u32, period: u64) {
    let env = TestEnv::start();
    let t = Totp::random(algorithm, digits, period);
    env.enroll(user, &t);
    let tokens = list_json(&env, user);
    assert_eq!(tokens.len(), 1, "{tokens:?}");
    let tok = &tokens[0];
    assert_eq!(
        tok["algorithm"]
            .as_str()
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some(algorithm),
        "{tok}"
    );
    assert_eq!(tok["digits"], digits, "{tok}");
    assert_eq!(tok["period"], period, "{tok}");
    assert_eq!(tok["kind"], "totp", "{tok}");
    assert!(
        !tok.to_string().contains(&t.secret),
        "list must never show the secret: {tok}"
    );
    let code = t.current_code();
    env.login(user, &[&code]).assert_success();
}

#[test]
fn given_sha1_6_digits_when_enrolled_with_oathtool_code_then_login_works() {
    enroll_and_login("bin", "sha1", 6, 30);
}

#[test]
fn given_sha1_8_digits_when_enrolled_with_oathtool_code_then_login_works() {
    enroll_and_login("daemon", "sha1", 8, 30);
}

#[test]
fn given_sha256_6_digits_when_enrolled_with_oathtool_code_then_login_works() {
    enroll_and_login("sys", "sha256", 6, 30);
}

#[test]
fn given_sha256_8_digits_when_enrolled_with_oathtool_code_then_login_works() {
    enroll_and_login("games", "sha256", 8, 30);
}

#[test]
fn given_sha512_6_digits_when_enrolled_with_oathtool_code_then_login_works() {
    enroll_and_login("man", "sha512", 6, 30);
}

#[test]
fn given_sha512_8_digits_when_enrolled_with_oathtool_code_then_login_works() {
    enroll_and_login("lp", "sha512", 8, 30);
}

#[test]
fn given_period_60_when_enrolled_with_oathtool_code_then_login_works() {
    enroll_and_login("mail", "sha1", 6, 60);
}

#[test]
fn given_wrong_confirmation_code_when_enroll_then_refused_and_nothing_saved() {
    let env = TestEnv::start();
    let t = Totp::sha1();
    let out = env.enroll_with_code(None, "bin", &t, &t.wrong_code());
    assert_eq!(
        out.code(),
        Some(1),
        "a wrong code must be refused with exit 1:\n{out}"
    );
    assert!(list_json(&env, "bin").is_empty(), "nothing may be saved");
    // And no token means the user is told so at login.
    env.login("bin", &[&t.current_code()]).assert_denied(
        mfa_tests::DEFAULT_SERVICE,
        "bin",
        &mfa_tests::no_token_headline("bin"),
    );
}

fn uri_param<'a>(uri: &'a str, key: &str) -> Option<&'a str> {
    let (_, query) = uri.split_once('?')?;
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
}

#[test]
fn given_no_secret_when_enroll_then_printed_otpauth_uri_secret_works() {
    let env = TestEnv::start();
    wait_for_fresh_step(30, 8);
    let mut child = env.mfactl_spawn(&["enroll", "totp", "daemon"]);
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            all.push_str(&line);
            all.push('\n');
            if line.contains("otpauth://") {
                let _ = tx.send(line);
            }
        }
        all
    });
    let mut stderr = child.stderr.take().expect("stderr");
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let line = match rx.recv_timeout(Duration::from_secs(15)) {
        Ok(l) => l,
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "mfactl printed no otpauth URI:\nstdout: {}\nstderr: {}",
                reader.join().unwrap_or_default(),
                err_reader.join().unwrap_or_default()
            );
        }
    };
    let start = line.find("otpauth://").expect("uri");
    let uri = line[start..]
        .split_whitespace()
        .next()
        .expect("uri")
        .to_string();
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    let secret = uri_param(&uri, "secret")
        .unwrap_or_else(|| panic!("no secret in {uri}"))
        .to_string();
    assert!(
        secret.len() >= 26,
        "at least 128 bits of secret expected: {uri}"
    );
    let t = Totp::with_secret(&secret);
    // Confirm with the previous step's code, so the current one is free for the login.
    let mut stdin = child.stdin.take().expect("stdin");
    writeln!(stdin, "{}", t.previous_code()).expect("write code");
    drop(stdin);
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("mfactl enroll hung after the code was given");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let out = reader.join().unwrap_or_default();
    let err = err_reader.join().unwrap_or_default();
    assert!(
        status.success(),
        "enrollment failed ({status}):\nstdout: {out}\nstderr: {err}"
    );
    assert_eq!(list_json(&env, "daemon").len(), 1);
    env.login("daemon", &[&t.current_code()]).assert_success();
}

#[test]
fn given_enrolled_token_when_root_removes_it_then_list_is_empty_and_login_says_no_token() {
    let env = TestEnv::start();
    let t = env.enroll_new("sys");
    let tokens = list_json(&env, "sys");
    let id = tokens[0]["id"].as_str().expect("id").to_string();
    let out = env.mfactl(&["remove", "sys", &id]);
    assert!(out.success(), "{out}");
    assert!(list_json(&env, "sys").is_empty());
    env.login("sys", &[&t.current_code()]).assert_denied(
        mfa_tests::DEFAULT_SERVICE,
        "sys",
        &mfa_tests::no_token_headline("sys"),
    );
}
