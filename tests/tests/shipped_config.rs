//! The files we ship in `contrib/`, used the way README "Install on a host" tells a
//! sysadmin to: the PAM excerpts (`contrib/pam.d/*.example`) merged into Debian's own
//! `/etc/pam.d` files, the sshd drop-in (`contrib/sshd_config.d/pam_mfa.conf`) included by
//! sshd, and the pam-auth-update profile (`contrib/pam-configs/mfa`) applied by the real
//! `pam-auth-update`. The module is named as shipped (`pam_mfa.so`, found in the system
//! module directory) and reaches mfad on the default bus path, with no `bus=` argument (see
//! `RealEnv::install_module_system_wide`). The files are read from the source tree, never
//! copied into the tests, so a shipped file that does not work fails here.
//!
//! Each test has its own private mount namespace (`mfa_tests::realenv`): the module
//! directory, `/etc`, `/run` and pam-auth-update's state are private copies, so nothing on
//! the host changes. Needs root. Every denial is checked together with the code prompt
//! having been shown, every success with output only the logged-in side produces.

use std::fs;
use std::path::Path;
use std::process::Command;

use mfa_tests::clients::{
    CLIENT_WAIT, SSH_MARKER, SU_MARKER, assert_ssh_denied, assert_ssh_success, assert_syslog,
    check_login_on_pty, ssh_login, su, sudo, user_field,
};
use mfa_tests::realenv::{
    LOGIN, PAM_AUTH_UPDATE, RealEnv, SSH, SSH_KEYGEN, SSHD, SU, SUDO, SshLogin, SshdAuth, TestUser,
    VISUDO, apply_pam_example, contrib_file, denial_block, program,
};
use mfa_tests::{NOT_ACCEPTED, PROMPT, run};

fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

fn is_common_auth(line: &str) -> bool {
    words(line) == ["@include", "common-auth"]
}

/// Asserts that `stack` is `debian` with exactly `auth required pam_mfa.so` added right
/// after `@include common-auth` (README step 5).
#[track_caller]
fn assert_added_after_common_auth(debian: &str, stack: &str) {
    let lines: Vec<&str> = stack.lines().collect();
    let at = lines
        .iter()
        .position(|l| is_common_auth(l))
        .unwrap_or_else(|| panic!("no @include common-auth left:\n{stack}"));
    assert_eq!(
        words(lines.get(at + 1).copied().unwrap_or_default()),
        ["auth", "required", "pam_mfa.so"],
        "the pam_mfa line should follow @include common-auth:\n{stack}"
    );
    let mut rest = lines.clone();
    rest.remove(at + 1);
    assert_eq!(
        rest,
        debian.lines().collect::<Vec<_>>(),
        "nothing but the pam_mfa line should change"
    );
}

// ----- the excerpts fit Debian's files ------------------------------------------------------

#[test]
fn every_shipped_pam_excerpt_fits_debians_own_service_file() {
    for (service, example) in [
        ("sshd", "mfa-sshd.example"),
        ("sudo", "mfa-sudo.example"),
        ("login", "mfa-login.example"),
        ("sshd", "mfa-sshd-single-prompt.example"),
    ] {
        let debian = fs::read_to_string(Path::new("/etc/pam.d").join(service))
            .unwrap_or_else(|e| panic!("/etc/pam.d/{service}: {e}"));
        let text = fs::read_to_string(contrib_file(&format!("pam.d/{example}"))).unwrap();
        let stack = apply_pam_example(&debian, &text)
            .unwrap_or_else(|e| panic!("{example} does not fit /etc/pam.d/{service}: {e}"));
        if example.contains("single-prompt") {
            // Its comment says: replace `@include common-auth` by its auth lines.
            assert!(!stack.lines().any(is_common_auth), "{example}:\n{stack}");
            let auth: Vec<Vec<&str>> = stack
                .lines()
                .filter(|l| l.split_whitespace().next() == Some("auth"))
                .map(words)
                .collect();
            assert_eq!(
                auth[..2],
                [
                    vec!["auth", "required", "pam_mfa.so", "single_prompt"],
                    vec![
                        "auth",
                        "[success=1",
                        "default=ignore]",
                        "pam_unix.so",
                        "try_first_pass"
                    ],
                ],
                "pam_mfa must come before the password module:\n{stack}"
            );
        } else {
            assert_added_after_common_auth(&debian, &stack);
        }
    }
}

#[test]
fn an_excerpt_that_cannot_be_followed_is_an_error_not_a_guess() {
    let example = "# add the pam_mfa line right after common-auth.\n\
                   @include common-auth\nauth required pam_mfa.so\n";
    let no_include = "auth required pam_unix.so\naccount required pam_unix.so\n";
    let err = apply_pam_example(no_include, example).unwrap_err();
    assert!(err.contains("`@include common-auth`"), "{err}");

    let service = "@include common-auth\n@include common-account\n";
    let no_module = "# add the pam_mfa line right after common-auth.\nauth required pam_x.so\n";
    let err = apply_pam_example(service, no_module).unwrap_err();
    assert!(err.contains("no `auth … pam_mfa.so` line"), "{err}");

    let no_place = "# somewhere\nauth required pam_mfa.so\n";
    let err = apply_pam_example(service, no_place).unwrap_err();
    assert!(err.contains("neither"), "{err}");

    let stack = apply_pam_example(service, example).unwrap();
    assert_eq!(
        stack,
        "@include common-auth\nauth required pam_mfa.so\n@include common-account\n"
    );
}

// ----- sshd -------------------------------------------------------------------------------

#[test]
fn sshd_with_the_shipped_excerpt_and_drop_in_asks_the_password_then_the_code() {
    let mut r = RealEnv::start(&[SSHD, SSH, SSH_KEYGEN]);
    let alice = r.add_user();
    let bob = r.add_user();
    r.install_module_system_wide();
    let debian = fs::read_to_string(r.path().join("etc/pam.d/sshd")).unwrap();
    let stack = r.shipped_pam_service("sshd", "mfa-sshd.example");
    assert_added_after_common_auth(&debian, &stack);
    let sshd = r.start_sshd_shipped(&[&alice.name, &bob.name]);
    let [open_port, key_port] = sshd.ports;

    // What sshd makes of the config for a connection to each port: the drop-in's settings
    // (sshd's defaults would be UsePAM no and ExposeAuthInfo no).
    for (port, methods) in [
        (open_port, "any"),
        (key_port, "publickey,keyboard-interactive"),
    ] {
        let mut check = Command::new(program("sshd"));
        check
            .arg("-T")
            .arg("-f")
            .arg(r.path().join("sshd_config"))
            .arg("-C")
            .arg(format!(
                "user={},host=localhost,addr=127.0.0.1,laddr=127.0.0.1,lport={port}",
                alice.name
            ));
        let effective = run(check, b"", CLIENT_WAIT);
        assert!(effective.success(), "sshd -T:\n{effective}");
        for setting in [
            "usepam yes",
            "kbdinteractiveauthentication yes",
            "exposeauthinfo yes",
            &format!("authenticationmethods {methods}"),
        ] {
            assert!(
                effective.stdout.lines().any(|l| l == setting),
                "sshd -T lacks `{setting}`:\n{effective}"
            );
        }
    }

    let key = r.add_client_key(&bob.name);
    let t_alice = r.env.enroll_new(&alice.name);
    let t_bob = r.env.enroll_new(&bob.name);

    // Password and the right code: the remote command runs.
    let out = r.ssh(ssh_login(&t_alice.current_code(), open_port, &alice, None));
    assert_ssh_success(&out);
    assert_eq!(out.prompts.len(), 2, "password and code only:\n{out}");
    assert_syslog(&r, &[&user_field(&alice), "service=sshd", "result=allow"]);

    // A wrong code: refused after the code prompt.
    let out = r.ssh(ssh_login(&t_alice.wrong_code(), open_port, &alice, None));
    assert_ssh_denied(&out);
    assert_syslog(
        &r,
        &[
            &user_field(&alice),
            "service=sshd",
            "result=deny",
            "detail=wrong-code",
        ],
    );

    // Second port (the drop-in's publickey,keyboard-interactive): key, password and code.
    let out = r.ssh(ssh_login(&t_bob.current_code(), key_port, &bob, Some(&key)));
    assert_ssh_success(&out);
    // $SSH_USER_AUTH exists only with the drop-in's ExposeAuthInfo.
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
    assert_syslog(&r, &[&user_field(&bob), "service=sshd", "result=allow"]);

    // The key alone is not enough: a wrong code after it is refused.
    let out = r.ssh(ssh_login(&t_bob.wrong_code(), key_port, &bob, Some(&key)));
    assert_ssh_denied(&out);
    // Without the key, that port asks nothing.
    let out = r.ssh(ssh_login(&t_bob.current_code(), key_port, &bob, None));
    assert_eq!(out.output.code(), Some(255), "{out}");
    assert!(out.prompts.is_empty(), "asked without the key:\n{out}");
    assert!(
        out.output.stderr.contains("Permission denied (publickey)"),
        "{out}"
    );
}

#[test]
fn sshd_password_method_with_the_shipped_single_prompt_excerpt_takes_password_and_code_in_one() {
    let mut r = RealEnv::start(&[SSHD, SSH, SSH_KEYGEN]);
    let alice = r.add_user();
    r.install_module_system_wide();
    r.shipped_pam_service("sshd", "mfa-sshd-single-prompt.example");
    // PasswordAuthentication yes, KbdInteractiveAuthentication no, UsePAM yes: the
    // sshd_config the excerpt's comment asks for.
    let sshd = r.start_sshd_with(&[&alice.name], SshdAuth::Password);
    let port = sshd.ports[0];
    let t = r.env.enroll_new(&alice.name);
    let remote = "echo SINGLE-PROMPT-OK";
    let ssh = |r: &RealEnv, password: &str| {
        r.ssh(SshLogin {
            port,
            user: &alice.name,
            password,
            code: "",
            key: None,
            remote,
        })
    };

    // The password with the code at its end, typed as the ssh password: logged in.
    let out = ssh(&r, &format!("{}{}", alice.password, t.current_code()));
    assert!(
        out.output.success() && out.output.stdout.contains("SINGLE-PROMPT-OK"),
        "{out}"
    );
    assert_eq!(out.prompts.len(), 1, "one password prompt:\n{out}");
    assert_syslog(&r, &[&user_field(&alice), "service=sshd", "result=allow"]);

    // The password alone, or with a wrong code: refused.
    for password in [
        alice.password.clone(),
        format!("{}{}", alice.password, t.wrong_code()),
    ] {
        let out = ssh(&r, &password);
        assert!(!out.output.timed_out, "ssh hung:\n{out}");
        assert_eq!(out.output.code(), Some(255), "{out}");
        assert!(
            out.output.stderr.contains("Permission denied (password)"),
            "{out}"
        );
        assert!(!out.output.stdout.contains("SINGLE-PROMPT-OK"), "{out}");
    }
    // The wrong code reached mfad (so the refusal was the module's).
    assert_syslog(
        &r,
        &[
            &user_field(&alice),
            "service=sshd",
            "result=deny",
            "detail=wrong-code",
        ],
    );
}

// ----- sudo -------------------------------------------------------------------------------

/// A private sudoers: no `pam_service` (sudo uses its own service, `sudo`), one try, no
/// cached success, no lecture (its record would be written outside the namespace).
fn sudoers(user: &TestUser) -> String {
    format!(
        "Defaults env_reset\nDefaults passwd_tries=1\nDefaults timestamp_timeout=0\n\
         Defaults lecture=never\nDefaults !syslog\nroot ALL=(ALL:ALL) ALL\n\
         {} ALL=(ALL:ALL) ALL\n",
        user.name
    )
}

#[test]
fn sudo_with_the_shipped_excerpt_asks_the_password_then_the_code() {
    let mut r = RealEnv::start(&[SUDO, VISUDO]);
    let carol = r.add_user();
    r.install_module_system_wide();
    let debian = fs::read_to_string(r.path().join("etc/pam.d/sudo")).unwrap();
    let stack = r.shipped_pam_service("sudo", "mfa-sudo.example");
    assert_added_after_common_auth(&debian, &stack);
    r.set_sudoers(&sudoers(&carol));
    let t = r.env.enroll_new(&carol.name);

    let out = sudo(&r, &carol, &t.current_code());
    assert!(out.success(), "sudo should succeed:\n{out}");
    assert_eq!(out.stdout.trim(), "root", "{out}");
    assert!(out.stderr.contains(PROMPT), "no code prompt:\n{out}");
    assert_syslog(&r, &[&user_field(&carol), "service=sudo", "result=allow"]);

    let out = sudo(&r, &carol, &t.wrong_code());
    assert!(!out.timed_out, "sudo hung:\n{out}");
    assert_eq!(out.code(), Some(1), "sudo should refuse:\n{out}");
    assert!(out.stderr.contains(PROMPT), "no code prompt:\n{out}");
    assert!(!out.stdout.contains("root"), "{out}");
    assert!(
        out.stderr.contains("sudo: 1 incorrect password attempt"),
        "{out}"
    );
    // sudo passes PAM_SILENT; the module shows why anyway.
    let block = denial_block("sudo", &carol.name, NOT_ACCEPTED);
    assert!(out.stderr.contains(&block), "expected\n{block}\n---\n{out}");
    assert_syslog(
        &r,
        &[
            &user_field(&carol),
            "service=sudo",
            "result=deny",
            "detail=wrong-code",
        ],
    );
}

// ----- login on a pty -----------------------------------------------------------------------

#[test]
fn login_with_the_shipped_excerpt_asks_the_password_then_the_code() {
    let mut r = RealEnv::start(&[LOGIN]);
    let erin = r.add_user();
    r.install_module_system_wide();
    let debian = fs::read_to_string(r.path().join("etc/pam.d/login")).unwrap();
    let stack = r.shipped_pam_service("login", "mfa-login.example");
    assert_added_after_common_auth(&debian, &stack);
    let t = r.env.enroll_new(&erin.name);
    check_login_on_pty(&r, &erin, &t, "login");
}

// ----- pam-auth-update ----------------------------------------------------------------------

#[test]
fn pam_auth_update_with_the_shipped_profile_adds_the_code_to_common_auth_and_disable_removes_it() {
    let mut r = RealEnv::start(&[SU, PAM_AUTH_UPDATE]);
    let caller = r.add_user();
    let target = r.add_user();
    r.install_module_system_wide();
    r.install_pam_auth_update_profile();
    let common_auth = r.path().join("etc/pam.d/common-auth");
    let before = fs::read_to_string(&common_auth).unwrap();
    assert!(!before.contains("pam_mfa"), "{before}");
    let t = r.env.enroll_new(&target.name);

    // README step 5 (--enable implies --package: nothing is asked).
    let out = r.pam_auth_update(&["--enable", "mfa"]);
    assert!(out.success(), "pam-auth-update --enable mfa:\n{out}");
    let after = fs::read_to_string(&common_auth).unwrap();
    let lines: Vec<&str> = after.lines().collect();
    let find = |pred: &dyn Fn(&str) -> bool| {
        lines
            .iter()
            .position(|l| pred(l))
            .unwrap_or_else(|| panic!("line not found in common-auth:\n{after}"))
    };
    let active = |l: &str| !l.trim_start().starts_with('#');
    let unix = find(&|l| active(l) && words(l).contains(&"pam_unix.so"));
    let additional = find(&|l| l.contains("the \"Additional\" block"));
    let mfa = find(&|l| active(l) && words(l).contains(&"pam_mfa.so"));
    let end = find(&|l| l.starts_with("# end of pam-auth-update config"));
    assert!(
        unix < additional && additional < mfa && mfa < end,
        "pam_mfa should be in the Additional block, after pam_unix:\n{after}"
    );
    assert_eq!(words(lines[mfa]), ["auth", "required", "pam_mfa.so"]);
    let mut rest = lines.clone();
    rest.remove(mfa);
    assert_eq!(
        rest,
        before.lines().collect::<Vec<_>>(),
        "only the pam_mfa line should be added"
    );

    // Every service that includes common-auth now asks: su run by a non-root user.
    let out = su(&r, &caller, &target, false, &[], &t.current_code());
    assert!(out.success(), "su should succeed:\n{out}");
    assert!(out.stdout.lines().any(|l| l == SU_MARKER), "{out}");
    assert!(out.all_output().contains(PROMPT), "no code prompt:\n{out}");
    assert_syslog(&r, &[&user_field(&target), "service=su", "result=allow"]);

    let out = su(&r, &caller, &target, false, &[], &t.wrong_code());
    assert!(!out.timed_out, "su hung:\n{out}");
    assert_eq!(out.code(), Some(1), "su should refuse:\n{out}");
    assert!(out.stderr.contains("su: Authentication failure"), "{out}");
    assert!(!out.stdout.contains(SU_MARKER), "{out}");
    assert!(out.all_output().contains(PROMPT), "no code prompt:\n{out}");
    assert_syslog(
        &r,
        &[
            &user_field(&target),
            "service=su",
            "result=deny",
            "detail=wrong-code",
        ],
    );

    // README "To remove it": common-auth is as before, and su asks the password only.
    let out = r.pam_auth_update(&["--disable", "mfa"]);
    assert!(out.success(), "pam-auth-update --disable mfa:\n{out}");
    assert_eq!(fs::read_to_string(&common_auth).unwrap(), before);
    let out = su(&r, &caller, &target, false, &[], "");
    assert!(out.success(), "su should succeed:\n{out}");
    assert!(out.stdout.lines().any(|l| l == SU_MARKER), "{out}");
    assert!(
        !out.all_output().contains(PROMPT),
        "asked for a code:\n{out}"
    );
}
