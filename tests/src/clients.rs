//! The real programs as a user drives them (ssh, sudo, su, login on a pty), and the checks
//! every real-login test makes of them, shared by `real_logins`, `shipped_config` and
//! `ssh_sk`. Successes are recognised by output only the logged-in side produces, denials
//! together with the code prompt having been shown, so a harness fault passes as neither.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::realenv::{PtySession, RealEnv, SshLogin, SshOutcome, TestUser, denial_block, program};
use crate::{CmdOutput, NOT_ACCEPTED, PROMPT, Totp, run};

/// How long a syslog line may take to arrive.
pub const SYSLOG_WAIT: Duration = Duration::from_secs(5);
/// How long a client (sudo, su) may take.
pub const CLIENT_WAIT: Duration = Duration::from_secs(30);
/// How long a pty session waits for each expected text.
pub const PTY_WAIT: Duration = Duration::from_secs(15);

/// Printed by [`SSH_REMOTE`] on the logged-in side (computed there, so the command line
/// alone never contains it).
pub const SSH_MARKER: &str = "SSH-SHELL-42";
/// The remote command of [`ssh_login`]: the marker, then the methods sshd recorded.
pub const SSH_REMOTE: &str = r#"echo "SSH-SHELL-$((6*7))"; cat "$SSH_USER_AUTH""#;
/// Printed by the command [`su`] runs as the target.
pub const SU_MARKER: &str = "SU-SHELL-42";

/// Waits (bounded) for a line of mfad's syslog containing all of `parts`.
#[track_caller]
pub fn assert_syslog(r: &RealEnv, parts: &[&str]) {
    let found = r
        .env
        .wait_for_syslog(SYSLOG_WAIT, |l| parts.iter().all(|p| l.contains(p)));
    assert!(
        found.is_some(),
        "no mfad syslog line with {parts:?}:\n{}",
        r.env.syslog_lines().join("\n")
    );
}

/// The `user=NAME ` field of mfad's audit lines.
pub fn user_field(u: &TestUser) -> String {
    format!("user={} ", u.name)
}

/// An ssh login as `user` answering the password and `code`, with `key` first if given.
pub fn ssh_login<'a>(
    code: &'a str,
    port: u16,
    user: &'a TestUser,
    key: Option<&'a Path>,
) -> SshLogin<'a> {
    SshLogin {
        port,
        user: &user.name,
        password: &user.password,
        code,
        key,
        remote: SSH_REMOTE,
    }
}

/// The remote command ran after a password prompt and a code prompt.
#[track_caller]
pub fn assert_ssh_success(out: &SshOutcome) {
    assert!(out.output.success(), "ssh should log in:\n{out}");
    assert!(
        out.output.stdout.lines().any(|l| l == SSH_MARKER),
        "the remote command did not run:\n{out}"
    );
    assert!(
        out.prompts.iter().any(|p| p.ends_with("Password: ")),
        "no password prompt:\n{out}"
    );
    assert!(out.saw_code_prompt(), "no code prompt:\n{out}");
}

/// Refused in time, after the code prompt, and the remote command did not run.
#[track_caller]
pub fn assert_ssh_denied(out: &SshOutcome) {
    assert!(!out.output.timed_out, "ssh hung:\n{out}");
    assert_eq!(
        out.output.code(),
        Some(255),
        "ssh should be refused:\n{out}"
    );
    assert!(
        out.output.stderr.contains("Permission denied"),
        "no refusal message:\n{out}"
    );
    assert!(
        !out.output.stdout.contains(SSH_MARKER),
        "the remote command ran:\n{out}"
    );
    assert!(
        out.saw_code_prompt(),
        "refused before the code prompt, so the module was not tested:\n{out}"
    );
}

/// `sudo -S -k id -un` as `user`, with the password and `code` on stdin.
pub fn sudo(r: &RealEnv, user: &TestUser, code: &str) -> CmdOutput {
    let mut cmd = r.as_user(&user.name, &[], &program("sudo").display().to_string());
    cmd.args(["-S", "-k", "id", "-un"]);
    run(
        cmd,
        format!("{}\n{code}\n", user.password).as_bytes(),
        CLIENT_WAIT,
    )
}

/// `su [-l] TARGET -c CMD` run by `caller` (non-root) with `vars` in its environment, the
/// target's password and `code` on stdin (su reads them there without a terminal).
pub fn su(
    r: &RealEnv,
    caller: &TestUser,
    target: &TestUser,
    login_shell: bool,
    vars: &[(String, String)],
    code: &str,
) -> CmdOutput {
    let mut cmd = r.as_user(&caller.name, vars, &program("su").display().to_string());
    if login_shell {
        cmd.arg("-l");
    }
    cmd.arg(&target.name)
        .args(["-c", r#"echo "SU-SHELL-$((6*7))""#]);
    run(
        cmd,
        format!("{}\n{code}\n", target.password).as_bytes(),
        CLIENT_WAIT,
    )
}

/// su ran the command as the target, after the code prompt.
#[track_caller]
pub fn assert_su_success(out: &CmdOutput) {
    assert!(out.success(), "su should succeed:\n{out}");
    assert!(
        out.stdout.lines().any(|l| l == SU_MARKER),
        "the command did not run as the target:\n{out}"
    );
    assert!(out.all_output().contains(PROMPT), "no code prompt:\n{out}");
}

/// su refused after the code prompt.
#[track_caller]
pub fn assert_su_denied(out: &CmdOutput) {
    assert!(!out.timed_out, "su hung:\n{out}");
    assert_eq!(out.code(), Some(1), "su should refuse:\n{out}");
    assert!(out.stderr.contains("su: Authentication failure"), "{out}");
    assert!(!out.stdout.contains(SU_MARKER), "the command ran:\n{out}");
    assert!(
        out.all_output().contains(PROMPT),
        "refused before the code prompt:\n{out}"
    );
}

/// `login USER` on a new pseudo-terminal, with a clean environment.
pub fn login_on_pty(user: &TestUser) -> PtySession {
    let mut cmd = Command::new(program("login"));
    cmd.arg(&user.name)
        .env_clear()
        .env("TERM", "dumb")
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .current_dir("/");
    PtySession::spawn(cmd)
}

/// Answers `login`'s password and code prompts.
#[track_caller]
pub fn answer_login(pty: &mut PtySession, user: &TestUser, code: &str) {
    assert!(
        pty.expect("Password: ", PTY_WAIT),
        "no password prompt:\n{}",
        pty.transcript()
    );
    pty.send(&format!("{}\n", user.password));
    assert!(
        pty.expect(PROMPT, PTY_WAIT),
        "no code prompt:\n{}",
        pty.transcript()
    );
    pty.send(&format!("{code}\n"));
}

/// `login` on a pty through the PAM service `service` (already set up): with the right code
/// the shell runs and exits cleanly; with a wrong one "Login incorrect", the module's
/// message and no shell; mfad's audit line for each.
pub fn check_login_on_pty(r: &RealEnv, user: &TestUser, totp: &Totp, service: &str) {
    let service_field = format!("service={service}");
    let mut pty = login_on_pty(user);
    answer_login(&mut pty, user, &totp.current_code());
    let hit = pty.expect_any(&["$ ", "Login incorrect"], PTY_WAIT);
    assert_eq!(hit, Some(0), "no shell prompt:\n{}", pty.transcript());
    pty.send("echo \"LOGIN-SHELL-$((6*7))\"\n");
    assert!(
        pty.expect("LOGIN-SHELL-42", PTY_WAIT),
        "the shell did not run:\n{}",
        pty.transcript()
    );
    pty.send("exit\n");
    let status = pty.wait(PTY_WAIT);
    assert!(
        status.is_some_and(|s| s.success()),
        "login did not end cleanly ({status:?}):\n{}",
        pty.transcript()
    );
    assert_syslog(r, &[&user_field(user), &service_field, "result=allow"]);

    // A wrong code: "Login incorrect" (after the module's message), no shell.
    let mut pty = login_on_pty(user);
    answer_login(&mut pty, user, &totp.wrong_code());
    let hit = pty.expect_any(&["Login incorrect", "$ "], PTY_WAIT);
    assert_eq!(hit, Some(0), "expected a refusal:\n{}", pty.transcript());
    pty.kill();
    let transcript = pty.transcript();
    assert!(
        transcript.contains(&denial_block(service, &user.name, NOT_ACCEPTED)),
        "no denial message:\n{transcript}"
    );
    assert_syslog(
        r,
        &[
            &user_field(user),
            &service_field,
            "result=deny",
            "detail=wrong-code",
        ],
    );
}
