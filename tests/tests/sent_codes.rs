//! Codes sent by email and SMS (issue 9), through the real libpam, a real dbus-daemon, the
//! real mfad, a real SMTP server on loopback (aiosmtpd, Maildir) and a real HTTP server
//! standing in for an SMS gateway.

mod common;

use std::time::Duration;

use common::{call, enroll_tokens, root_conn};
use mfa_proto::{CodeEnrollmentStart, MfaError, TokenInfo};
use mfa_tests::sinks::{SmsGateway, SmtpSink, code_in};
use mfa_tests::{DEFAULT_SERVICE, LoginOutcome, PAM_SUCCESS, PROMPT, TestEnv};

const CODE_PROMPT: &str = "Code (or press Enter to send a new one): ";
const PROMPT_LINE: &str = "PROMPT_ECHO_OFF: Code (or press Enter";
const WAIT: Duration = Duration::from_secs(20);

/// An environment whose mfad sends email through `smtp`, with extra `[otp]` lines.
fn email_env(smtp: &SmtpSink, otp: &str) -> TestEnv {
    TestEnv::builder()
        .config(&format!(
            "[otp]\n{otp}\n[email]\nsmtp_url = \"{}\"\nfrom = \"Login codes <mfa@test.invalid>\"\n",
            smtp.url()
        ))
        .start()
}

/// An environment whose mfad sends text messages through `gateway`.
fn sms_env(gateway: &SmsGateway) -> TestEnv {
    TestEnv::builder()
        .config(&format!("[sms]\ngateway_url = \"{}\"\n", gateway.url()))
        .start()
}

fn enroll_verified(env: &TestEnv, user: &str, method: &str, address: &str) -> TokenInfo {
    let root = root_conn(env);
    call(&root, async |p| {
        p.enroll_verified_address(user, method, address, "").await
    })
    .unwrap_or_else(|e| panic!("enroll {method} for {user}: {e:?}"))
}

/// Asserts that `infos` is exactly the notice that a code went to `to`, valid for about
/// `secs`: the remaining time is computed when the prompt is sent, a second or two after the
/// code was made on a loaded machine.
#[track_caller]
fn assert_sent_notice(infos: &[String], to: &str, secs: u64) {
    assert_eq!(infos.len(), 1, "{infos:?}");
    let left = infos[0]
        .strip_prefix(&format!("A code was sent to {to}. It is valid for "))
        .and_then(|rest| rest.strip_suffix('.'))
        .and_then(|mss| mss.split_once(':'))
        .and_then(|(m, s)| Some(m.parse::<u64>().ok()? * 60 + s.parse::<u64>().ok()?))
        .unwrap_or_else(|| panic!("not the sent-code notice: {infos:?}"));
    assert!(left <= secs && left + 3 >= secs, "{infos:?}");
}

fn infos(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter_map(|l| l.strip_prefix("TEXT_INFO: ").map(str::to_owned))
        .collect()
}

/// Starts a login of `user` and waits for the code prompt.
fn login_until_prompt(env: &TestEnv, user: &str) -> mfa_tests::InteractiveLogin {
    let mut login = env.spawn_pam_login(DEFAULT_SERVICE, user);
    assert!(
        login.wait_for_line(PROMPT_LINE, WAIT),
        "no code prompt; saw {:?}\nmfad: {}",
        login.seen(),
        env.mfad_log()
    );
    login
}

fn finish(login: mfa_tests::InteractiveLogin) -> LoginOutcome {
    login.finish(WAIT, None)
}

#[test]
fn the_emailed_code_logs_in_and_the_message_holds_only_code_host_and_validity() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpSink::start(dir.path());
    let env = email_env(&smtp, "");
    let token = enroll_verified(&env, "bin", "email", "binary.user@example.org");
    assert_eq!(
        (token.kind.as_str(), token.detail.as_str()),
        ("email", "b•••r@ex•••.org")
    );

    let mut login = login_until_prompt(&env, "bin");
    let shown = infos(login.seen());
    assert_sent_notice(&shown, "b•••r@ex•••.org", 300);
    let mail = smtp.wait_for_message(1);
    assert!(mail.contains("To: binary.user@example.org"), "{mail}");
    assert!(
        mail.contains("From: \"Login codes\" <mfa@test.invalid>")
            && mail.contains(&format!("Subject: Login code for {}", nix_hostname())),
        "{mail}"
    );
    let code = code_in(mail.split("\n\n").nth(1).unwrap_or_default()).expect("a code in the body");
    let host = nix_hostname();
    let body = mail
        .split_once("\n\n")
        .map(|x| x.1)
        .unwrap_or_default()
        .trim()
        .to_owned();
    assert_eq!(
        body,
        format!("Your login code for {host} is {code}. It is valid for 5:00.")
    );
    login.answer(&code);
    let out = finish(login);
    out.assert_success();
    assert_eq!(out.prompts, [CODE_PROMPT]);

    // Masked in syslog and mfad's log; the address and the code never appear.
    let logs = format!("{}\n{}", env.syslog_lines().join("\n"), env.mfad_log());
    assert!(
        logs.contains("code-sent method=email user=bin to=b•••r@ex•••.org"),
        "{logs}"
    );
    assert!(
        logs.contains("allow user=bin") || logs.contains("result=allow"),
        "{logs}"
    );
    assert!(!logs.contains("binary.user@example.org"), "{logs}");
    assert!(!logs.contains(&code), "the code reached a log:\n{logs}");
}

fn nix_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_owned()
}

#[test]
fn a_wrong_code_is_refused_and_a_used_code_does_not_work_twice() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpSink::start(dir.path());
    let env = email_env(&smtp, "");
    enroll_verified(&env, "daemon", "email", "d@example.org");

    let mut login = login_until_prompt(&env, "daemon");
    let code = code_in(&smtp.wait_for_message(1)).unwrap();
    let wrong = format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000);
    login.answer(&wrong);
    finish(login).assert_denied(
        DEFAULT_SERVICE,
        "daemon",
        "the verification code was not accepted.",
    );

    // The live code survives a wrong guess: the next login asks for it without a new mail.
    let mut login = login_until_prompt(&env, "daemon");
    let shown = infos(login.seen());
    assert!(
        shown[0].starts_with("A code was sent to d•••@ex•••.org ")
            && shown[0].contains(" ago. It is valid for 4:")
            || shown[0].contains(" ago. It is valid for 5:00."),
        "{shown:?}"
    );
    login.answer(&code);
    finish(login).assert_success();
    assert_eq!(smtp.messages().len(), 1, "no second mail was needed");

    // Used: a new login has no live code, so a new one is sent, and the old one is refused.
    let mut login = login_until_prompt(&env, "daemon");
    assert_sent_notice(&infos(login.seen()), "d•••@ex•••.org", 300);
    let second = code_in(&smtp.wait_for_message(2)).unwrap();
    assert_ne!(second, code);
    login.answer(&code);
    finish(login).assert_denied(
        DEFAULT_SERVICE,
        "daemon",
        "the verification code was not accepted.",
    );
}

#[test]
fn enter_within_the_resend_interval_says_how_long_and_after_it_sends_a_new_code() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpSink::start(dir.path());
    let env = email_env(&smtp, "resend_after_secs = 3");
    enroll_verified(&env, "sys", "email", "sys@example.org");

    let mut login = login_until_prompt(&env, "sys");
    let first = code_in(&smtp.wait_for_message(1)).unwrap();
    // Too soon: asked again, told the seconds left, nothing sent.
    let seen = login.seen().len();
    login.answer("");
    assert!(login.wait_for_line(PROMPT_LINE, WAIT), "{:?}", login.seen());
    let shown = infos(&login.seen()[seen..]);
    assert!(
        shown[0].starts_with("A new code can be sent in ")
            && shown[0].ends_with(" seconds; press Enter then."),
        "{shown:?}"
    );
    let left: u64 = shown[0]
        .trim_start_matches("A new code can be sent in ")
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=3).contains(&left), "{left}");
    assert!(
        shown[1].starts_with("The code sent to s•••s@ex•••.org is valid for "),
        "{shown:?}"
    );
    assert_eq!(smtp.messages().len(), 1);

    // After the interval: a new code, and the old one no longer works.
    std::thread::sleep(Duration::from_secs(left + 1));
    let seen = login.seen().len();
    login.answer("");
    assert!(login.wait_for_line(PROMPT_LINE, WAIT), "{:?}", login.seen());
    assert_sent_notice(&infos(&login.seen()[seen..]), "s•••s@ex•••.org", 300);
    let second = code_in(&smtp.wait_for_message(2)).unwrap();
    login.answer(&first);
    let out = finish(login);
    assert_ne!(
        out.result,
        Some(PAM_SUCCESS),
        "the replaced code still worked:\n{out}"
    );

    let mut login = login_until_prompt(&env, "sys");
    login.answer(&second);
    finish(login).assert_success();
}

#[test]
fn an_expired_code_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpSink::start(dir.path());
    let env = email_env(&smtp, "validity_secs = 30\nresend_after_secs = 5");
    enroll_verified(&env, "man", "email", "man@example.org");
    let mut login = login_until_prompt(&env, "man");
    assert_sent_notice(&infos(login.seen()), "m•••n@ex•••.org", 30);
    let code = code_in(&smtp.wait_for_message(1)).unwrap();
    std::thread::sleep(Duration::from_secs(31));
    login.answer(&code);
    finish(login).assert_denied(DEFAULT_SERVICE, "man", "the code has expired.");
}

#[test]
fn the_send_limit_engages_and_is_not_a_failed_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpSink::start(dir.path());
    let env = email_env(&smtp, "resend_after_secs = 1\nmax_sends_per_hour = 2");
    enroll_verified(&env, "lp", "email", "lp@example.org");
    let mut login = login_until_prompt(&env, "lp");
    smtp.wait_for_message(1);
    std::thread::sleep(Duration::from_millis(1100));
    login.answer("");
    assert!(login.wait_for_line(PROMPT_LINE, WAIT));
    smtp.wait_for_message(2);
    std::thread::sleep(Duration::from_millis(1100));
    login.answer("");
    let out = finish(login);
    out.assert_denied(
        DEFAULT_SERVICE,
        "lp",
        "the code could not be sent: too many codes were sent to l•••p@ex•••.org in the last hour; the next can be sent after ",
    );
    assert_eq!(smtp.messages().len(), 2);
    // PAM_AUTH_ERR, never PAM_AUTHINFO_UNAVAIL: a stack that ignores an unreachable mfad
    // must not let in a user whose sends somebody else used up.
    assert_eq!(out.result, Some(mfa_tests::PAM_AUTH_ERR), "{out}");
    let root = root_conn(&env);
    let status = call(&root, async |p| p.status("lp").await).unwrap();
    assert_eq!(status.failures, 0, "a refused send counted as a failure");
}

#[test]
fn a_mail_server_that_is_down_gets_a_clear_message_no_failure_and_totp_still_works() {
    let dir = tempfile::tempdir().unwrap();
    let mut smtp = SmtpSink::start(dir.path());
    let env = email_env(&smtp, "");
    let root = root_conn(&env);
    let totp = enroll_tokens(&root, "mail", 1);
    enroll_verified(&env, "mail", "email", "mail@example.org");
    smtp.stop();

    let mut login = env.spawn_pam_login(DEFAULT_SERVICE, "mail");
    assert!(
        login.wait_for_line("PROMPT_ECHO_ON: Method [1]: ", WAIT),
        "{:?}",
        login.seen()
    );
    assert!(
        login
            .seen()
            .iter()
            .any(|l| l == "TEXT_INFO:   2) Code sent by email"),
        "{:?}",
        login.seen()
    );
    let seen = login.seen().len();
    login.answer("2");
    assert!(
        login.wait_for_line("PROMPT_ECHO_ON: Method [1]: ", WAIT),
        "{:?}",
        login.seen()
    );
    let shown = infos(&login.seen()[seen..]);
    assert_eq!(
        shown[0],
        "The code could not be sent: mail server unreachable. Choose another method or contact an administrator."
    );
    assert_eq!(shown[2], "  1) Authenticator app (TOTP code)");
    assert_eq!(shown.len(), 3, "{shown:?}");
    login.answer("1");
    assert!(login.wait_for_line(&format!("PROMPT_ECHO_OFF: {PROMPT}"), WAIT));
    login.answer(&totp[0].current_code());
    finish(login).assert_success();
    let status = call(&root, async |p| p.status("mail").await).unwrap();
    assert_eq!(status.failures, 0);
    assert!(
        env.syslog_lines()
            .iter()
            .any(|l| l.contains("code-not-sent method=email user=mail to=m•••l@ex•••.org reason=\"mail server unreachable\"")),
        "{:?}",
        env.syslog_lines()
    );
}

#[test]
fn a_method_without_a_transport_is_not_offered() {
    // No [email] section: the user's address is kept but not offered.
    let env = TestEnv::start();
    let root = root_conn(&env);
    let totp = enroll_tokens(&root, "news", 1);
    enroll_verified(&env, "news", "email", "news@example.org");
    let out = env.login("news", &[&totp[0].current_code()]);
    out.assert_success();
    assert_eq!(out.prompts, [PROMPT], "{out}");
    let why = call(&root, async |p| p.explain("news", DEFAULT_SERVICE).await).unwrap();
    assert!(
        why.reasons.iter().any(
            |r| r.contains("has an email address for codes, but mfad has no [email] transport")
        ),
        "{:?}",
        why.reasons
    );
}

#[test]
fn the_texted_code_goes_through_the_gateway_and_logs_in() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = SmsGateway::start(dir.path(), 200);
    let env = sms_env(&gateway);
    let token = enroll_verified(&env, "uucp", "sms", "+4912345689");
    assert_eq!(token.detail, "+4•••••••89");
    let mut login = login_until_prompt(&env, "uucp");
    assert_sent_notice(&infos(login.seen()), "+4•••••••89", 300);
    let body: serde_json::Value = serde_json::from_str(&gateway.wait_for_body(1)).unwrap();
    assert_eq!(body["to"], "+4912345689");
    let text = body["text"].as_str().unwrap();
    let code = code_in(text).unwrap();
    assert_eq!(
        text,
        format!(
            "Your login code for {} is {code}. It is valid for 5:00.",
            nix_hostname()
        )
    );
    login.answer(&code);
    finish(login).assert_success();
}

#[test]
fn a_gateway_error_is_shown_plainly() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = SmsGateway::start(dir.path(), 503);
    let env = sms_env(&gateway);
    enroll_verified(&env, "proxy", "sms", "+4912345689");
    let out = env.login("proxy", &[]);
    out.assert_denied(
        DEFAULT_SERVICE,
        "proxy",
        "the code could not be sent: SMS gateway answered HTTP 503.",
    );
    assert_eq!(out.result, Some(mfa_tests::PAM_AUTH_ERR), "{out}");
}

#[test]
fn enrollment_saves_the_address_only_when_the_code_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpSink::start(dir.path());
    let env = email_env(&smtp, "resend_after_secs = 0");
    let root = root_conn(&env);
    let start: CodeEnrollmentStart = call(&root, async |p| {
        p.begin_code_enrollment("backup", "email", "backup@example.org", "work")
            .await
    })
    .unwrap();
    assert_eq!(
        (start.sent_to.as_str(), start.valid_secs),
        ("b•••p@ex•••.org", 300)
    );
    let code = code_in(&smtp.wait_for_message(1)).unwrap();
    let wrong = format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000);
    let e = call(&root, async |p| {
        p.confirm_code_enrollment(&start.enrollment, &wrong).await
    })
    .unwrap_err();
    assert!(
        matches!(&e, MfaError::CodeRejected(m) if m.contains("4 tries left")),
        "{e:?}"
    );
    let listed = call(&root, async |p| p.list_tokens("backup").await).unwrap();
    assert!(
        listed.is_empty(),
        "saved before the code came back: {listed:?}"
    );
    let info = call(&root, async |p| {
        p.confirm_code_enrollment(&start.enrollment, &code).await
    })
    .unwrap();
    assert_eq!(
        (info.kind.as_str(), info.name.as_str(), info.detail.as_str()),
        ("email", "work", "b•••p@ex•••.org")
    );
    // One address per method.
    let e = call(&root, async |p| {
        p.enroll_verified_address("backup", "email", "other@example.org", "")
            .await
    })
    .unwrap_err();
    assert!(matches!(e, MfaError::AlreadyExists(_)), "{e:?}");
    // Bad addresses are refused before anything is sent.
    for (method, bad) in [
        ("email", "no-at-sign"),
        ("sms", "0049123"),
        ("sms", "+12"),
        ("fax", "x"),
    ] {
        let e = call(&root, async |p| {
            p.begin_code_enrollment("games", method, bad, "").await
        })
        .unwrap_err();
        assert!(
            matches!(e, MfaError::InvalidArgument(_)),
            "{method} {bad}: {e:?}"
        );
    }
    assert_eq!(smtp.messages().len(), 1);
}

#[test]
fn only_admins_may_skip_the_round_trip_and_mail_failure_saves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut smtp = SmtpSink::start(dir.path());
    let env = email_env(&smtp, "");
    let games = common::conn_as(&env, "games");
    let e = call(&games, async |p| {
        p.enroll_verified_address("games", "email", "games@example.org", "")
            .await
    })
    .unwrap_err();
    assert!(matches!(e, MfaError::AccessDenied(_)), "{e:?}");
    smtp.stop();
    let root = root_conn(&env);
    let e = call(&root, async |p| {
        p.begin_code_enrollment("games", "email", "games@example.org", "")
            .await
    })
    .unwrap_err();
    assert!(
        matches!(&e, MfaError::Undeliverable(m) if m.contains("mail server unreachable") && m.contains("nothing was saved")),
        "{e:?}"
    );
    assert!(
        call(&root, async |p| p.list_tokens("games").await)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn mfactl_enrolls_an_address_with_the_code_from_the_message_and_root_may_vouch_for_one() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpSink::start(dir.path());
    let env = email_env(&smtp, "");
    let mut child =
        env.mfactl_spawn(&["enroll", "email", "games", "--address", "games@example.org"]);
    let code = code_in(&smtp.wait_for_message(1)).unwrap();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{code}").unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let notice: Vec<String> = stderr
        .lines()
        .filter(|l| l.starts_with("A code was sent to "))
        .map(str::to_owned)
        .collect();
    assert_sent_notice(&notice, "g•••s@ex•••.org", 300);
    assert!(stdout.contains("enrolled for games"), "{stdout}");
    let listed = env.mfactl(&["list", "games"]);
    assert!(listed.stdout.contains("g•••s@ex•••.org"), "{listed}");
    assert!(!listed.stdout.contains("games@example.org"), "{listed}");

    // --verified: no message is sent (SMS is not even configured here).
    let out = env.mfactl(&[
        "enroll",
        "sms",
        "games",
        "--phone",
        "+4912345689",
        "--verified",
    ]);
    assert!(out.success(), "{out}");
    assert!(out.stdout.contains("+4•••••••89"), "{out}");
    assert_eq!(smtp.messages().len(), 1);
    // The enrolled code logs in.
    let mut login = login_until_prompt(&env, "games");
    let code = code_in(&smtp.wait_for_message(2)).unwrap();
    login.answer(&code);
    finish(login).assert_success();
}

#[test]
fn an_sms_number_is_enrolled_with_the_texted_code_and_managed_like_any_token() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = SmsGateway::start(dir.path(), 200);
    let env = sms_env(&gateway);
    let root = root_conn(&env);
    let start = call(&root, async |p| {
        p.begin_code_enrollment("list", "sms", "+4912345689", "phone")
            .await
    })
    .unwrap();
    assert_eq!(start.sent_to, "+4•••••••89");
    let body: serde_json::Value = serde_json::from_str(&gateway.wait_for_body(1)).unwrap();
    assert_eq!(body["to"], "+4912345689");
    let code = code_in(body["text"].as_str().unwrap()).unwrap();
    let info = call(&root, async |p| {
        p.confirm_code_enrollment(&start.enrollment, &code).await
    })
    .unwrap();
    assert_eq!((info.kind.as_str(), info.name.as_str()), ("sms", "phone"));

    // Renamed and listed like other tokens, never with the number in clear.
    let out = env.mfactl(&["rename", "list", "phone", "mobile"]);
    assert!(out.success(), "{out}");
    let out = env.mfactl(&["list", "list"]);
    assert!(
        out.stdout.contains("mobile") && out.stdout.contains("+4•••••••89"),
        "{out}"
    );
    assert!(!out.stdout.contains("+4912345689"), "{out}");

    // A service that allows only TOTP does not offer it: the user has nothing usable there.
    let out = env.mfactl(&[
        "policy",
        "service",
        DEFAULT_SERVICE,
        "required",
        "--methods",
        "totp",
    ]);
    assert!(out.success(), "{out}");
    let denied = env.login("list", &[]);
    assert_ne!(denied.result, Some(PAM_SUCCESS), "{denied}");
    assert!(denied.prompts.is_empty(), "{denied}");
    assert_eq!(
        gateway.bodies().len(),
        1,
        "a code was sent for a forbidden method"
    );
    let out = env.mfactl(&[
        "policy",
        "service",
        DEFAULT_SERVICE,
        "required",
        "--methods",
        "sms",
    ]);
    assert!(out.success(), "{out}");
    let mut login = login_until_prompt(&env, "list");
    let body: serde_json::Value = serde_json::from_str(&gateway.wait_for_body(2)).unwrap();
    login.answer(&code_in(body["text"].as_str().unwrap()).unwrap());
    finish(login).assert_success();

    // Removed like other tokens: its live code goes with it.
    let out = env.mfactl(&["remove", "list", "mobile"]);
    assert!(out.success(), "{out}");
    assert!(
        call(&root, async |p| p.list_tokens("list").await)
            .map(|t| t.is_empty())
            .unwrap_or(true)
    );
}
