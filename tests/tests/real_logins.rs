//! Real logins through the programs people use: sshd driven by the real ssh client, sudo
//! and su run by a non-root user, login on a pseudo-terminal, and su in an environment the
//! caller controls (recipes §3-§6). Each test runs in a private mount namespace (a private
//! copy of `/etc` holding our PAM services, sudoers and throw-away users; a tmpfs `/run`;
//! private login records; see `mfa_tests::realenv`), so nothing on the host changes. Needs
//! root; a missing program fails the test, naming its Debian package.
//!
//! Every denial is checked together with the code prompt having been shown (and the client
//! having finished in time), every success with output only the logged-in side produces,
//! so a harness fault cannot pass as either.

use mfa_tests::clients::{
    SSH_MARKER, SU_MARKER, assert_ssh_denied, assert_ssh_success, assert_su_denied,
    assert_su_success, assert_syslog, check_login_on_pty, ssh_login, su, sudo, user_field,
};
use mfa_tests::realenv::{
    LOGIN, RealEnv, SSH, SSH_KEYGEN, SSHD, SU, SUDO, TestUser, VISUDO, denial_block, mfa_stack,
};
use mfa_tests::{NOT_ACCEPTED, NOT_REACHABLE, PROMPT, Totp, no_token_headline};

#[test]
#[should_panic(expected = "apt-get install mfa-no-such-package")]
fn a_missing_program_fails_the_test_naming_its_package() {
    // Not skipped: a machine without sshd, sudo, … must not pass the suite silently.
    mfa_tests::realenv::require_programs(&[
        ("sh", "dash"),
        ("mfa-no-such-program", "mfa-no-such-package"),
    ]);
}

// ----- sshd -------------------------------------------------------------------------------

#[test]
fn sshd_password_and_code_over_keyboard_interactive_and_publickey_plus_code() {
    let mut r = RealEnv::start(&[SSHD, SSH, SSH_KEYGEN]);
    let alice = r.add_user();
    let bob = r.add_user();
    let args = format!("bus={} timeout=5000", r.env.bus_address);
    r.set_pam_service("sshd", &mfa_stack(&args));
    let sshd = r.start_sshd(&[&alice.name, &bob.name]);
    let [kbd_port, key_port] = sshd.ports;
    let key = r.add_client_key(&bob.name);
    let t_alice = r.env.enroll_new(&alice.name);
    let t_bob = r.env.enroll_new(&bob.name);
    let service = "service=sshd";

    // (a) Password and the right code: the remote command runs.
    let code = t_alice.current_code();
    let out = r.ssh(ssh_login(&code, kbd_port, &alice, None));
    assert_ssh_success(&out);
    assert_eq!(
        out.prompts.len(),
        2,
        "exactly the password and the code were asked:\n{out}"
    );
    assert_syslog(&r, &[&user_field(&alice), service, "result=allow"]);

    // (b) A wrong code: refused after the code prompt.
    let out = r.ssh(ssh_login(&t_alice.wrong_code(), kbd_port, &alice, None));
    assert_ssh_denied(&out);
    assert_syslog(
        &r,
        &[
            &user_field(&alice),
            service,
            "result=deny",
            "detail=wrong-code",
        ],
    );

    // (c) The code of (a) again, on a new connection: a replay, refused.
    let out = r.ssh(ssh_login(&code, kbd_port, &alice, None));
    assert_ssh_denied(&out);
    assert_syslog(
        &r,
        &[
            &user_field(&alice),
            service,
            "result=deny",
            "detail=replayed",
        ],
    );

    // (d) Second port: publickey, then keyboard-interactive (password + code).
    let out = r.ssh(ssh_login(&t_bob.current_code(), key_port, &bob, Some(&key)));
    assert_ssh_success(&out);
    let methods: Vec<&str> = out
        .output
        .stdout
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|m| *m != SSH_MARKER)
        .collect();
    assert_eq!(
        methods,
        ["publickey", "keyboard-interactive/pam"],
        "$SSH_USER_AUTH should list both methods:\n{out}"
    );
    let public = std::fs::read_to_string(format!("{}.pub", key.display())).expect("public key");
    let public: Vec<&str> = public.split_whitespace().take(2).collect();
    let want = format!("publickey {}", public.join(" "));
    assert!(
        out.output.stdout.lines().any(|l| l.trim_end() == want),
        "$SSH_USER_AUTH should name the key ({want}):\n{out}"
    );
    assert_syslog(&r, &[&user_field(&bob), service, "result=allow"]);

    // The key alone is not enough: a wrong code after it is refused.
    let out = r.ssh(ssh_login(&t_bob.wrong_code(), key_port, &bob, Some(&key)));
    assert_ssh_denied(&out);
    // And without the key that port does not even ask.
    let out = r.ssh(ssh_login(&t_bob.current_code(), key_port, &bob, None));
    assert_eq!(out.output.code(), Some(255), "{out}");
    assert!(out.prompts.is_empty(), "asked without the key:\n{out}");
    assert!(
        out.output.stderr.contains("Permission denied (publickey)"),
        "{out}"
    );
}

// ----- sudo -------------------------------------------------------------------------------

fn sudoers(users: &[&TestUser]) -> String {
    let mut s = String::from(
        "Defaults env_reset\nDefaults pam_service=mfa-sudo\nDefaults passwd_tries=1\n\
         Defaults timestamp_timeout=0\nDefaults lecture=never\nDefaults !syslog\n\
         root ALL=(ALL:ALL) ALL\n",
    );
    for u in users {
        s.push_str(&format!("{} ALL=(ALL:ALL) ALL\n", u.name));
    }
    s
}

#[test]
fn sudo_step_up_asks_password_and_code() {
    let mut r = RealEnv::start(&[SUDO, VISUDO]);
    let carol = r.add_user();
    let dave = r.add_user(); // no token
    r.set_sudoers(&sudoers(&[&carol, &dave]));
    let args = format!("bus={} timeout=5000", r.env.bus_address);
    r.set_pam_service("mfa-sudo", &mfa_stack(&args));
    let t = r.env.enroll_new(&carol.name);

    // Password and the right code: the command runs as root.
    let out = sudo(&r, &carol, &t.current_code());
    assert!(out.success(), "sudo should succeed:\n{out}");
    assert_eq!(out.stdout.trim(), "root", "{out}");
    assert!(out.stderr.contains(PROMPT), "no code prompt:\n{out}");
    assert_syslog(
        &r,
        &[&user_field(&carol), "service=mfa-sudo", "result=allow"],
    );

    // A wrong code: refused after the code prompt, with the module's message (sudo passes
    // PAM_SILENT; the module shows its messages anyway) and the daemon's audit line.
    let out = sudo(&r, &carol, &t.wrong_code());
    assert!(!out.timed_out, "sudo hung:\n{out}");
    assert_eq!(out.code(), Some(1), "sudo should refuse:\n{out}");
    assert!(out.stderr.contains(PROMPT), "no code prompt:\n{out}");
    assert!(!out.stdout.contains("root"), "{out}");
    assert!(
        out.stderr.contains("sudo: 1 incorrect password attempt"),
        "{out}"
    );
    assert_syslog(
        &r,
        &[
            &user_field(&carol),
            "service=mfa-sudo",
            "result=deny",
            "detail=wrong-code",
        ],
    );

    // No token while the service requires MFA: refused without asking for a code.
    let out = sudo(&r, &dave, "123456");
    assert!(!out.timed_out, "sudo hung:\n{out}");
    assert_eq!(out.code(), Some(1), "sudo should refuse:\n{out}");
    assert!(!out.stdout.contains("root"), "{out}");
    assert!(
        out.stderr.contains("sudo: 1 incorrect password attempt"),
        "{out}"
    );
    assert!(!out.stderr.contains(PROMPT), "asked for a code:\n{out}");
    assert_syslog(
        &r,
        &[
            &user_field(&dave),
            "service=mfa-sudo",
            "result=deny",
            "reason=not-enrolled",
        ],
    );
    // sudo passes PAM_SILENT; the module still says why and what to run.
    let block = denial_block("mfa-sudo", &dave.name, &no_token_headline(&dave.name));
    assert!(out.stderr.contains(&block), "expected\n{block}\n---\n{out}");
}

// ----- su ---------------------------------------------------------------------------------

#[test]
fn su_by_a_non_root_user_asks_password_and_code() {
    let mut r = RealEnv::start(&[SU]);
    let caller = r.add_user();
    let target = r.add_user();
    let untokened = r.add_user();
    let stack = mfa_stack(&format!("bus={} timeout=5000", r.env.bus_address));
    r.set_pam_service("su", &stack);
    r.set_pam_service("su-l", &stack);
    let t = r.env.enroll_new(&target.name);

    let out = su(&r, &caller, &target, false, &[], &t.current_code());
    assert_su_success(&out);
    assert_syslog(&r, &[&user_field(&target), "service=su", "result=allow"]);

    // A wrong code, through `su -l` (service su-l): refused with the module's message.
    let out = su(&r, &caller, &target, true, &[], &t.wrong_code());
    assert_su_denied(&out);
    assert!(
        out.all_output()
            .contains(&denial_block("su-l", &target.name, NOT_ACCEPTED)),
        "no denial message:\n{out}"
    );
    assert_syslog(
        &r,
        &[
            &user_field(&target),
            "service=su-l",
            "result=deny",
            "detail=wrong-code",
        ],
    );

    // A target without a token while the service requires MFA (no policy rule): refused
    // after the password, without a code prompt, and su shows why.
    let out = su(&r, &caller, &untokened, false, &[], "123456");
    assert!(!out.timed_out, "su hung:\n{out}");
    assert_eq!(out.code(), Some(1), "su should refuse:\n{out}");
    assert!(!out.stdout.contains(SU_MARKER), "the command ran:\n{out}");
    assert!(
        !out.all_output().contains(PROMPT),
        "asked for a code:\n{out}"
    );
    let block = denial_block("su", &untokened.name, &no_token_headline(&untokened.name));
    assert!(
        out.all_output().contains(&block),
        "expected the message\n{block}\n---\n{out}"
    );
    assert_syslog(
        &r,
        &[
            &user_field(&untokened),
            "service=su",
            "result=deny",
            "reason=not-enrolled",
        ],
    );
}

// ----- login on a pty -----------------------------------------------------------------------

#[test]
fn login_on_a_pty_asks_password_and_code_then_starts_the_shell() {
    let mut r = RealEnv::start(&[LOGIN]);
    let erin = r.add_user();
    let args = format!("bus={} timeout=5000", r.env.bus_address);
    r.set_pam_service("login", &mfa_stack(&args));
    let t = r.env.enroll_new(&erin.name);
    check_login_on_pty(&r, &erin, &t, "login");
}

// ----- hostile environment ------------------------------------------------------------------

#[test]
fn su_ignores_a_bus_chosen_by_the_caller_environment() {
    let mut r = RealEnv::start(&[SU]);
    let victim = r.add_user();
    let attacker = r.add_user();
    // The real daemon is reachable only at the default path, in this namespace.
    let socket = r.env.bus_socket();
    r.bind_system_bus(&socket);
    let t_victim = r.env.enroll_new(&victim.name);

    // The attacker (knowing the victim's password) runs their own bus and mfad, in a
    // directory they own, and enrolls the victim there with the attacker's secret.
    let mut evil = r.start_attacker_bus(&attacker.name);
    let t_attacker = Totp::sha1();
    r.attacker_enroll(&evil, &victim.name, &t_attacker);
    let env = evil.hostile_environment();
    for name in ["DBUS_SYSTEM_BUS_ADDRESS", "XDG_RUNTIME_DIR"] {
        assert!(env.iter().any(|(k, _)| k == name), "{env:?}");
    }

    let production = mfa_stack("timeout=5000"); // no bus=: the default path
    let with_attacker_bus = mfa_stack(&format!("bus={} timeout=5000", evil.address));
    let set_su_stack = |r: &RealEnv, stack: &str| {
        r.set_pam_service("su", stack);
        r.set_pam_service("su-l", stack);
    };

    // A code the attacker's mfad accepts but the victim's real token does not.
    let code = t_attacker.current_code();
    let now = mfa_tests::now();
    let victim_codes: Vec<String> = (0..5)
        .map(|i| t_victim.code_at(now + i * 30 - 60))
        .collect();
    assert!(
        !victim_codes.contains(&code),
        "the two random tokens share a code right now (chance ~1e-5); run again"
    );

    // Even named explicitly (bus=), a daemon the attacker runs is refused: its owner is
    // not root. No code is asked, and the attacker's daemon is not called.
    set_su_stack(&r, &with_attacker_bus);
    let out = su(&r, &attacker, &victim, false, &env, &code);
    assert!(!out.timed_out, "su hung:\n{out}");
    assert_eq!(out.code(), Some(1), "su should refuse:\n{out}");
    assert!(!out.stdout.contains(SU_MARKER), "the command ran:\n{out}");
    let block = denial_block("su", &victim.name, NOT_REACHABLE);
    assert!(
        out.stderr.contains(&block),
        "expected the message\n{block}\n---\n{out}"
    );
    assert!(
        !r.background_log(&evil.mfad_log).contains("login result="),
        "the module called a daemon owned by a non-root user:\n{}",
        r.background_log(&evil.mfad_log)
    );

    // From here the attacker's daemon runs as root on the attacker's bus and database: a
    // stand-in for a bus that lies about UIDs, which whoever runs the bus can make it do.
    r.attacker_mfad_as_root(&mut evil);

    // Attack: production stack, every bus variable at the attacker's bus. Denied after the
    // code prompt, by the real daemon, and the attacker's daemon never hears of it.
    set_su_stack(&r, &production);
    let out = su(&r, &attacker, &victim, false, &env, &code);
    assert_su_denied(&out);
    assert!(
        out.stderr
            .contains(&denial_block("su", &victim.name, NOT_ACCEPTED)),
        "no denial message:\n{out}"
    );
    assert_syslog(
        &r,
        &[
            &user_field(&victim),
            "service=su",
            "result=deny",
            "detail=wrong-code",
        ],
    );
    let evil_log = r.background_log(&evil.mfad_log);
    assert!(
        !evil_log.contains("login result="),
        "the module talked to the attacker's mfad:\n{evil_log}"
    );

    // Control: told explicitly (bus=) to use the attacker's bus, the very same code works,
    // so the set-up is real and the denial above came from ignoring the environment.
    set_su_stack(&r, &with_attacker_bus);
    let out = su(&r, &attacker, &victim, false, &env, &code);
    assert_su_success(&out);
    let evil_log = r.background_log(&evil.mfad_log);
    assert!(
        evil_log
            .lines()
            .any(|l| l.contains("login result=allow") && l.contains(&user_field(&victim))),
        "the attacker's mfad did not see the control login:\n{evil_log}"
    );

    // Positive control: production stack, same hostile environment, the victim's real code.
    set_su_stack(&r, &production);
    let out = su(
        &r,
        &attacker,
        &victim,
        false,
        &env,
        &t_victim.current_code(),
    );
    assert_su_success(&out);
    assert_syslog(&r, &[&user_field(&victim), "service=su", "result=allow"]);
}

// ----- the chooser over sshd ---------------------------------------------------------------

/// The codes `mfactl recovery generate` printed (`xxxx-xxxx-xxxx-xxxx`).

#[test]
fn sshd_chooser_offers_totp_and_recovery_codes_over_keyboard_interactive() {
    let mut r = RealEnv::start(&[SSHD, SSH, SSH_KEYGEN]);
    let alice = r.add_user();
    let args = format!("bus={} timeout=5000", r.env.bus_address);
    r.set_pam_service("sshd", &mfa_stack(&args));
    let sshd = r.start_sshd(&[&alice.name]);
    let port = sshd.ports[0];
    let t = r.env.enroll_new(&alice.name);
    let out = r.env.mfactl(&["recovery", "generate", &alice.name]);
    assert!(out.success(), "{out}");
    let codes = mfa_tests::printed_recovery_codes(&out.stdout);
    assert_eq!(codes.len(), 10, "{out}");

    // The chooser is a keyboard-interactive round trip of its own (echoed, answered
    // `recovery` by the askpass program because the code has hyphens), then the
    // recovery-code prompt.
    let out = r.ssh(ssh_login(&codes[0], port, &alice, None));
    assert!(out.output.success(), "{out}");
    assert!(out.output.stdout.lines().any(|l| l == SSH_MARKER), "{out}");
    // sshd sends the informational lines (the list) as part of the next prompt's text.
    let tail = |p: &String| p.rsplit(") ").next().unwrap_or(p).to_owned();
    let asked: Vec<String> = out
        .prompts
        .iter()
        .filter(|p| p.ends_with(": "))
        .map(tail)
        .collect();
    assert_eq!(
        asked,
        ["Password: ", "Method [1]: ", "Recovery code: "],
        "{out}"
    );
    assert!(
        out.prompts.iter().any(|p| p == "  2) Recovery code"),
        "the chooser's list was not shown:\n{out}"
    );
    assert_syslog(
        &r,
        &[&user_field(&alice), "result=allow", "method=recovery"],
    );

    // A used recovery code is refused; the TOTP code chosen by name works.
    let out = r.ssh(ssh_login(&codes[0], port, &alice, None));
    assert_eq!(out.output.code(), Some(255), "{out}");
    let out = r.ssh(ssh_login(&t.current_code(), port, &alice, None));
    assert!(out.output.success(), "{out}");
    assert!(
        out.prompts.iter().any(|p| p.ends_with("Method [1]: ")) && out.saw_code_prompt(),
        "{out}"
    );
    assert_syslog(&r, &[&user_field(&alice), "result=allow", "method=totp"]);
}
