//! Single-prompt mode (module argument `single_prompt`): password and code in one answer,
//! through the real libpam, module, bus and daemon, then over a real sshd whose client can
//! only send a password.
//!
//! The password module after pam_mfa is `pam_exec expose_authtok` running a script that
//! records the `PAM_AUTHTOK` it was handed: that shows exactly what the next module gets,
//! without a real account. The sshd test uses pam_unix and a real account.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use mfa_tests::realenv::{RealEnv, SSH, SSH_KEYGEN, SSHD, SshLogin, SshdAuth};
use mfa_tests::{NOT_ACCEPTED, PAM_AUTH_ERR, PAM_SUCCESS, TestEnv, Totp, pam_module};

const SERVICE: &str = "single";
const SINGLE_PROMPT: &str = "Password and verification code: ";
const PASSWORD: &str = "correct horse battery";

/// A service whose stack is `pam_mfa single_prompt`, then `pam_exec expose_authtok` with a
/// script that saves the password it is handed and accepts only [`PASSWORD`]. Returns the
/// file the script writes.
fn single_prompt_service(env: &TestEnv, control: &str) -> PathBuf {
    let seen = env.path().join("authtok-seen");
    let script = env.path().join("check-password");
    fs::write(
        &script,
        format!(
            "#!/bin/sh\n\
             # pam_exec expose_authtok: the password on stdin (NUL-terminated).\n\
             pw=$(tr -d '\\000')\n\
             printf '%s' \"$pw\" >'{seen}'\n\
             [ \"$pw\" = '{PASSWORD}' ]\n",
            seen = seen.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    let text = format!(
        "auth     {control}  {module} single_prompt bus={bus} timeout=5000\n\
         auth     required  pam_exec.so quiet expose_authtok {script}\n\
         account  required  pam_permit.so\n",
        module = pam_module().display(),
        bus = env.bus_address,
        script = script.display(),
    );
    fs::write(env.pam_dir().join(SERVICE), text).unwrap();
    seen
}

fn seen_password(seen: &PathBuf) -> Option<String> {
    fs::read_to_string(seen).ok()
}

#[test]
fn password_and_code_in_one_answer_logs_in_and_the_password_module_gets_only_the_password() {
    let env = TestEnv::start();
    let seen = single_prompt_service(&env, "required");
    let t = env.enroll_new("bin");
    let code = t.current_code();

    let out = env.login_service(SERVICE, "bin", &[&format!("{PASSWORD}{code}")]);
    out.assert_success();
    assert_eq!(
        out.prompts,
        [SINGLE_PROMPT],
        "one prompt, for both password and code:\n{out}"
    );
    assert_eq!(seen_password(&seen).as_deref(), Some(PASSWORD));
    // The daemon saw the code only: the password is in neither its log nor syslog.
    assert!(!env.mfad_log().contains("horse"), "{}", env.mfad_log());
    assert!(
        env.syslog_lines().iter().all(|l| !l.contains("horse")),
        "{:?}",
        env.syslog_lines()
    );

    // The same code again is a replay, whatever the password.
    let again = env.login_service(SERVICE, "bin", &[&format!("{PASSWORD}{code}")]);
    again.assert_denied(SERVICE, "bin", NOT_ACCEPTED);
}

#[test]
fn a_wrong_code_or_a_wrong_password_is_denied() {
    let env = TestEnv::start();
    let seen = single_prompt_service(&env, "required");
    let t = env.enroll_new("daemon");

    let out = env.login_service(
        SERVICE,
        "daemon",
        &[&format!("{PASSWORD}{}", t.wrong_code())],
    );
    out.assert_denied(SERVICE, "daemon", NOT_ACCEPTED);
    assert_eq!(out.result, Some(PAM_AUTH_ERR), "{out}");
    // `required`: the password module still ran, with the password part.
    assert_eq!(seen_password(&seen).as_deref(), Some(PASSWORD));

    let out = env.login_service(
        SERVICE,
        "daemon",
        &[&format!("wrong password{}", t.current_code())],
    );
    assert!(
        !out.succeeded(),
        "a wrong password with a right code:\n{out}"
    );
    assert_eq!(seen_password(&seen).as_deref(), Some("wrong password"));
}

#[test]
fn an_answer_with_only_the_code_is_refused_before_the_daemon_sees_it() {
    let env = TestEnv::start();
    single_prompt_service(&env, "requisite");
    let t = env.enroll_new("sys");
    let code = t.current_code();

    let out = env.login_service(SERVICE, "sys", &[&code]);
    assert!(!out.succeeded(), "{out}");
    assert_eq!(out.result, Some(PAM_AUTH_ERR), "{out}");
    assert!(
        out.error_text()
            .contains("Type your password and the code in one answer"),
        "{out}"
    );
    // The code was never sent, so it is still good with a password in front of it.
    let out = env.login_service(SERVICE, "sys", &[&format!("{PASSWORD}{code}")]);
    out.assert_success();
}

#[test]
fn when_no_factor_is_needed_the_password_module_asks_for_the_password_itself() {
    let env = TestEnv::start();
    let seen = single_prompt_service(&env, "required");
    let out = env.mfactl(&["policy", "service", SERVICE, "optional"]);
    assert!(out.success(), "{out}");

    // No token, optional service: pam_mfa ignores the login, pam_exec prompts.
    let out = env.login_service(SERVICE, "games", &[PASSWORD]);
    out.assert_success();
    assert!(
        !out.prompts.iter().any(|p| p == SINGLE_PROMPT),
        "asked for a code:\n{out}"
    );
    assert_eq!(out.prompts.len(), 1, "{out}");
    assert_eq!(seen_password(&seen).as_deref(), Some(PASSWORD));
}

#[test]
fn eight_digit_tokens_split_off_eight_characters() {
    let env = TestEnv::start();
    let seen = single_prompt_service(&env, "required");
    let t = Totp::random("SHA1", 8, 30);
    assert!(env.enroll("lp", &t).success());
    let out = env.login_service(SERVICE, "lp", &[&format!("{PASSWORD}{}", t.current_code())]);
    out.assert_success();
    assert_eq!(seen_password(&seen).as_deref(), Some(PASSWORD));
}

#[test]
fn a_user_with_only_recovery_codes_is_told_single_prompt_needs_totp() {
    let env = TestEnv::start();
    // requisite: the stack stops there, so nothing at all is asked.
    single_prompt_service(&env, "requisite");
    let out = env.mfactl(&["recovery", "generate", "mail"]);
    assert!(out.success(), "{out}");
    let out = env.login_service(SERVICE, "mail", &[]);
    out.assert_denied(
        SERVICE,
        "mail",
        &format!(
            "{SERVICE} takes the password and an authenticator code in one answer, and mail has no TOTP token to answer with."
        ),
    );
    assert!(out.prompts.is_empty(), "{out}");
}

#[test]
fn unknown_users_are_prompted_like_everybody_else() {
    let env = TestEnv::start();
    single_prompt_service(&env, "required");
    let out = env.login_service(SERVICE, "nosuchuser1", &[&format!("{PASSWORD}123456")]);
    assert_eq!(out.prompts, [SINGLE_PROMPT], "{out}");
    assert_ne!(out.result, Some(PAM_SUCCESS), "{out}");
}

// ----- sshd, password authentication ------------------------------------------------------

/// The stack of single-prompt mode: pam_mfa before pam_unix, which takes the password from
/// PAM_AUTHTOK (`try_first_pass`: and asks itself when pam_mfa needed no code).
fn single_prompt_stack(module_args: &str) -> String {
    format!(
        "auth     required  {} single_prompt {module_args}\n\
         auth     required  pam_unix.so nodelay try_first_pass\n\
         account  required  pam_unix.so\n\
         session  required  pam_permit.so\n\
         password required  pam_deny.so\n",
        pam_module().display()
    )
}

#[test]
fn sshd_password_authentication_carries_password_and_code_in_one_answer() {
    let mut r = RealEnv::start(&[SSHD, SSH, SSH_KEYGEN]);
    let alice = r.add_user();
    let bob = r.add_user();
    let args = format!("bus={} timeout=5000", r.env.bus_address);
    r.set_pam_service("sshd", &single_prompt_stack(&args));
    let sshd = r.start_sshd_with(&[&alice.name, &bob.name], SshdAuth::Password);
    let port = sshd.ports[0];
    let t = r.env.enroll_new(&alice.name);
    let remote = "echo SINGLE-PROMPT-OK";
    let ssh = |r: &RealEnv, user: &str, password: &str| {
        r.ssh(SshLogin {
            port,
            user,
            password,
            code: "",
            key: None,
            remote,
        })
    };

    // The password and the code typed as one password: logged in.
    let code = t.current_code();
    let out = ssh(&r, &alice.name, &format!("{}{code}", alice.password));
    assert!(
        out.output.success() && out.output.stdout.contains("SINGLE-PROMPT-OK"),
        "{out}"
    );
    assert_eq!(out.prompts.len(), 1, "one password prompt:\n{out}");
    assert!(out.prompts[0].contains("password"), "{out}");

    // Replayed, wrong code, password alone, wrong password: refused.
    for password in [
        format!("{}{code}", alice.password),
        format!("{}{}", alice.password, t.wrong_code()),
        alice.password.clone(),
        format!("not-the-password{}", t.current_code()),
    ] {
        let out = ssh(&r, &alice.name, &password);
        assert_eq!(out.output.code(), Some(255), "{out}");
        assert!(
            out.output.stderr.contains("Permission denied (password)"),
            "{out}"
        );
        assert!(!out.output.stdout.contains("SINGLE-PROMPT-OK"), "{out}");
    }

    // Bob has no token: the default policy requires one, so his password alone is refused
    // (sshd's password method shows PAM messages only after a success; syslog has why).
    let out = ssh(&r, &bob.name, &bob.password);
    assert_eq!(out.output.code(), Some(255), "{out}");
    assert!(
        r.env
            .syslog_lines()
            .iter()
            .any(|l| l.contains("result=deny")
                && l.contains("reason=not-enrolled")
                && l.contains(&bob.name)),
        "{:?}",
        r.env.syslog_lines()
    );
}
