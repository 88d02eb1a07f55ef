//! SSH security keys (`sk-` keys) end to end, phase 1: genuine sk keys and signatures,
//! verified by the real sshd, and what sshd then tells PAM.
//!
//! Keys come from the real `ssh-keygen -w` with the TEST-ONLY middleware `tests/sk-provider`
//! (a software P-256/Ed25519 "security key"); the real `ssh` signs through it
//! (`-o SecurityKeyProvider=`); the real sshd on loopback (in the private mount namespace of
//! `mfa_tests::realenv`, with throw-away users) verifies the signature and its user-presence
//! flag. sshd's PAM auth stack starts with `pam_exec.so`, which runs a script with the PAM
//! environment (exactly what `pam_getenv` shows a module), so the test sees `SSH_AUTH_INFO_0`
//! as `pam_mfa.so` would, during keyboard-interactive after `publickey`.
//!
//! What is checked: the sk key authorised for the user logs in, and `SSH_AUTH_INFO_0` names
//! exactly that key (`mfa_core::ssh_sk` parses the same key from `KEY.pub` and from the
//! variable, with ssh-keygen's and sshd's fingerprint); an unauthorised sk key is refused
//! before PAM runs; an ordinary ed25519 key, another sk key of the same user and another
//! user's key are reported as such and do not count. Then with `pam_mfa.so` in the stack:
//! an enrolled sk key is the second factor (no prompt); any other key is asked for a code.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use mfa_core::ssh_sk::{
    AuthMethodUsed, SkFactor, SkFactorMiss, SkKeyType, SshKeyError, SshSkPublicKey,
    enrolled_sk_key_used, parse_auth_info,
};
use mfa_tests::realenv::{
    CLIENT_TIMEOUT, RealEnv, SSH, SSH_KEYGEN, SSHD, SshLogin, SshOutcome, TestUser, program,
};
use mfa_tests::{run, sk_provider};

const MARKER: &str = "SK-SHELL-42";
const REMOTE: &str = r#"echo "SK-SHELL-$((6*7))""#;

/// A key pair made by the real ssh-keygen: `kind` is `ecdsa-sk`, `ed25519-sk` (through the
/// test middleware) or an ordinary type.
struct Key {
    private: PathBuf,
    public_line: String,
}

fn keygen(dir: &Path, name: &str, kind: &str) -> Key {
    let private = dir.join(name);
    let mut cmd = Command::new(program("ssh-keygen"));
    cmd.args(["-q", "-t", kind, "-N", "", "-C", name, "-f"])
        .arg(&private);
    if kind.ends_with("-sk") {
        cmd.arg("-w").arg(sk_provider());
    }
    let out = run(cmd, b"", CLIENT_TIMEOUT);
    assert!(out.success(), "ssh-keygen -t {kind} failed:\n{out}");
    let public_line = fs::read_to_string(private.with_extension("pub")).expect("read .pub");
    Key {
        private,
        public_line,
    }
}

/// The fingerprint `ssh-keygen -lf` prints for a `.pub` file.
fn keygen_fingerprint(key: &Key) -> String {
    let mut cmd = Command::new(program("ssh-keygen"));
    cmd.arg("-lf").arg(key.private.with_extension("pub"));
    let out = run(cmd, b"", CLIENT_TIMEOUT);
    assert!(out.success(), "ssh-keygen -lf failed:\n{out}");
    out.stdout
        .split(' ')
        .nth(1)
        .expect("fingerprint word")
        .to_owned()
}

fn sk(key: &Key) -> SshSkPublicKey {
    SshSkPublicKey::parse_openssh(&key.public_line)
        .unwrap_or_else(|e| panic!("{}: {e}", key.public_line))
}

#[test]
fn ssh_keygen_makes_sk_keys_through_the_test_middleware_and_the_parser_agrees() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ecdsa = keygen(dir.path(), "ecdsa-sk", "ecdsa-sk");
    let ed = keygen(dir.path(), "ed25519-sk", "ed25519-sk");
    for (key, key_type) in [(&ecdsa, SkKeyType::EcdsaP256), (&ed, SkKeyType::Ed25519)] {
        assert!(key.private.exists(), "no private key file");
        assert!(
            key.public_line
                .starts_with(&format!("{} AAAA", key_type.algorithm())),
            "{}",
            key.public_line
        );
        let parsed = sk(key);
        assert_eq!(parsed.key_type(), key_type);
        assert_eq!(parsed.application(), "ssh:");
        assert_eq!(parsed.fingerprint(), keygen_fingerprint(key));
        assert_eq!(parsed.to_openssh(), key.public_line.trim_end());
    }
    assert_ne!(
        sk(&ecdsa),
        sk(&keygen(dir.path(), "ecdsa-sk-2", "ecdsa-sk"))
    );
    let ordinary = keygen(dir.path(), "ed25519", "ed25519");
    assert_eq!(
        SshSkPublicKey::parse_openssh(&ordinary.public_line),
        Err(SshKeyError::NotSecurityKey { kind: "ed25519" })
    );
}

/// sshd with a PAM auth stack of `pam_exec.so` (writes `SSH_AUTH_INFO_0`, as the PAM
/// environment has it, to `<dir>/authinfo.<user>`) then the password.
struct Capture {
    dir: PathBuf,
}

impl Capture {
    fn install(r: &RealEnv) -> Capture {
        let dir = r.path().join("authinfo");
        fs::create_dir(&dir).expect("authinfo dir");
        let script = r.path().join("capture-authinfo");
        fs::write(
            &script,
            format!(
                "#!/bin/sh\n\
                 # pam_exec: the environment is the PAM environment (pam_getenvlist) + PAM_*.\n\
                 out='{dir}/'\"$PAM_USER\"\n\
                 if [ -n \"${{SSH_AUTH_INFO_0+set}}\" ]; then\n\
                   printf '%s' \"$SSH_AUTH_INFO_0\" >\"$out\"\n\
                 else\n\
                   : >\"$out.unset\"\n\
                 fi\n",
                dir = dir.display()
            ),
        )
        .expect("write capture script");
        fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).expect("chmod");
        r.set_pam_service(
            "sshd",
            &format!(
                "auth     required  pam_exec.so {}\n\
                 auth     required  pam_unix.so nodelay\n\
                 account  required  pam_unix.so\n\
                 session  required  pam_permit.so\n\
                 password required  pam_deny.so\n",
                script.display()
            ),
        );
        Capture { dir }
    }

    /// Forgets earlier captures of `user`.
    fn reset(&self, user: &str) {
        for f in [user.to_owned(), format!("{user}.unset")] {
            let _ = fs::remove_file(self.dir.join(f));
        }
    }

    /// What the PAM auth stack saw for `user` (None: PAM auth did not run).
    fn seen(&self, user: &str) -> Option<String> {
        assert!(
            !self.dir.join(format!("{user}.unset")).exists(),
            "SSH_AUTH_INFO_0 was not set in the PAM environment"
        );
        fs::read_to_string(self.dir.join(user)).ok()
    }
}

#[track_caller]
fn assert_logged_in(out: &SshOutcome) {
    assert!(out.output.success(), "ssh should log in:\n{out}");
    assert!(
        out.output.stdout.lines().any(|l| l == MARKER),
        "the remote command did not run:\n{out}"
    );
    let pam_prompts: Vec<&String> = out
        .prompts
        .iter()
        .filter(|p| !p.starts_with("Confirm user presence for key "))
        .collect();
    assert!(
        pam_prompts.len() == 1 && pam_prompts[0].ends_with("Password: "),
        "keyboard-interactive should ask for the password only:\n{out}"
    );
}

/// `SSH_AUTH_INFO_0` as sshd writes it after `publickey` with `key`: one line, the key's
/// type and base64 blob, no comment.
fn expected_info(key: &Key) -> String {
    let mut words = key.public_line.split(' ');
    format!(
        "publickey {} {}\n",
        words.next().expect("type"),
        words.next().expect("base64")
    )
}

#[test]
fn sshd_verifies_sk_keys_and_names_exactly_the_key_used_in_ssh_auth_info_0() {
    let mut r = RealEnv::start(&[SSHD, SSH, SSH_KEYGEN]);
    let alice = r.add_user();
    let bob = r.add_user();
    let capture = Capture::install(&r);
    let sshd = r.start_sshd(&[&alice.name, &bob.name]);
    let port = sshd.ports[1]; // publickey,keyboard-interactive
    let dir = r.path().to_path_buf();
    let alice_sk = keygen(&dir, "alice-sk", "ecdsa-sk");
    let alice_sk_other = keygen(&dir, "alice-sk-other", "ecdsa-sk");
    let alice_ed25519_sk = keygen(&dir, "alice-ed25519-sk", "ed25519-sk");
    let alice_plain = keygen(&dir, "alice-plain", "ed25519");
    let bob_sk = keygen(&dir, "bob-sk", "ecdsa-sk");
    // What phase 2 will have enrolled: one sk key each.
    let alice_enrolled = vec![sk(&alice_sk)];
    let bob_enrolled = vec![sk(&bob_sk)];
    r.authorize_keys(
        &alice.name,
        &[&alice_sk, &alice_ed25519_sk, &alice_plain]
            .map(|k| k.public_line.as_str())
            .concat(),
    );
    // Bob may also log in with alice's key (a shared key, or one she gave him).
    r.authorize_keys(
        &bob.name,
        &[&bob_sk, &alice_sk]
            .map(|k| k.public_line.as_str())
            .concat(),
    );

    // (a) Alice's sk key: sshd verifies it (user presence included), PAM sees exactly it.
    capture.reset(&alice.name);
    let out = login_with_code(&r, port, &alice, &alice_sk, "");
    assert_logged_in(&out);
    let fingerprint = keygen_fingerprint(&alice_sk);
    assert!(
        out.prompts
            .iter()
            .any(|p| p == &format!("Confirm user presence for key ECDSA-SK {fingerprint}")),
        "ssh asked for no touch: the key was not used as a security key:\n{out}"
    );
    let info = capture.seen(&alice.name).expect("PAM auth ran");
    assert_eq!(info, expected_info(&alice_sk), "the format sshd hands PAM");
    let parsed = parse_auth_info(&info).expect("parse");
    let [AuthMethodUsed::PublicKey(used)] = parsed.methods() else {
        panic!("one publickey line expected: {parsed:?}")
    };
    assert_eq!(used.sk_key(), Some(&sk(&alice_sk)));
    assert_eq!(used.fingerprint(), fingerprint);
    let sshd_log = r.background_log(&sshd.log_name);
    assert!(
        sshd_log.lines().any(
            |l| l.starts_with(&format!("Partial publickey for {} ", alice.name))
                && l.ends_with(&format!("ssh2: ECDSA-SK {fingerprint}"))
        ),
        "sshd did not log the sk key:\n{sshd_log}"
    );
    assert_eq!(
        enrolled_sk_key_used(&info, &alice_enrolled),
        SkFactor::Satisfied(&alice_enrolled[0])
    );

    // (b) An sk key of alice's that sshd does not know: refused before PAM runs.
    capture.reset(&alice.name);
    let out = login_with_code(&r, port, &alice, &alice_sk_other, "");
    assert_eq!(out.output.code(), Some(255), "should be refused:\n{out}");
    assert!(
        out.output.stderr.contains("Permission denied (publickey)"),
        "{out}"
    );
    assert!(!out.output.stdout.contains(MARKER), "{out}");
    assert_eq!(capture.seen(&alice.name), None, "PAM ran:\n{out}");

    // (c) An ordinary ed25519 key: logs in, named in SSH_AUTH_INFO_0, never a security key.
    capture.reset(&alice.name);
    let out = login_with_code(&r, port, &alice, &alice_plain, "");
    assert_logged_in(&out);
    let info = capture.seen(&alice.name).expect("PAM auth ran");
    assert_eq!(info, expected_info(&alice_plain));
    let parsed = parse_auth_info(&info).expect("parse");
    let [AuthMethodUsed::PublicKey(used)] = parsed.methods() else {
        panic!("one publickey line expected: {parsed:?}")
    };
    assert_eq!(used.algorithm(), "ssh-ed25519");
    assert_eq!(used.sk_key(), None);
    assert_eq!(used.fingerprint(), keygen_fingerprint(&alice_plain));
    assert!(matches!(
        enrolled_sk_key_used(&info, &alice_enrolled),
        SkFactor::NotSatisfied(SkFactorMiss::NotSecurityKey { .. })
    ));

    // (d) Another sk key of the same user (ed25519-sk): a different key, not enrolled.
    capture.reset(&alice.name);
    let out = login_with_code(&r, port, &alice, &alice_ed25519_sk, "");
    assert_logged_in(&out);
    let info = capture.seen(&alice.name).expect("PAM auth ran");
    assert_eq!(info, expected_info(&alice_ed25519_sk));
    let used = parse_auth_info(&info).expect("parse").completed_sk_keys()[0].clone();
    assert_eq!(used, sk(&alice_ed25519_sk));
    assert_ne!(used, sk(&alice_sk));
    assert_eq!(
        enrolled_sk_key_used(&info, &alice_enrolled),
        SkFactor::NotSatisfied(SkFactorMiss::NotEnrolled {
            fingerprint: keygen_fingerprint(&alice_ed25519_sk)
        })
    );

    // (e) Bob with his own sk key, then with alice's enrolled one: each named exactly;
    // alice's key is not bob's.
    capture.reset(&bob.name);
    let out = login_with_code(&r, port, &bob, &bob_sk, "");
    assert_logged_in(&out);
    let info = capture.seen(&bob.name).expect("PAM auth ran");
    assert_eq!(
        enrolled_sk_key_used(&info, &bob_enrolled),
        SkFactor::Satisfied(&bob_enrolled[0])
    );
    capture.reset(&bob.name);
    let out = login_with_code(&r, port, &bob, &alice_sk, "");
    assert_logged_in(&out);
    let info = capture.seen(&bob.name).expect("PAM auth ran");
    assert_eq!(info, expected_info(&alice_sk));
    assert_eq!(
        parse_auth_info(&info).expect("parse").completed_sk_keys(),
        vec![&alice_enrolled[0]]
    );
    assert_eq!(
        enrolled_sk_key_used(&info, &bob_enrolled),
        SkFactor::NotSatisfied(SkFactorMiss::NotEnrolled { fingerprint })
    );
}

// ----- phase 2: pam_mfa takes an enrolled sk key as the second factor ------------------------

/// Logs in as `user` with `key` first (publickey), then keyboard-interactive answering the
/// password and, if asked, `code`.
fn login_with_code(r: &RealEnv, port: u16, user: &TestUser, key: &Key, code: &str) -> SshOutcome {
    let provider = format!("SecurityKeyProvider={}", sk_provider().display());
    r.ssh_with_options(
        SshLogin {
            port,
            user: &user.name,
            password: &user.password,
            code,
            key: Some(&key.private),
            remote: REMOTE,
        },
        &[&provider],
    )
}

#[track_caller]
fn assert_logged_in_after_code(out: &SshOutcome) {
    assert!(out.output.success(), "ssh should log in:\n{out}");
    assert!(out.output.stdout.lines().any(|l| l == MARKER), "{out}");
    assert!(
        out.saw_code_prompt(),
        "the code should have been asked:\n{out}"
    );
}

#[test]
fn an_enrolled_sk_key_is_the_second_factor_and_any_other_key_is_asked_for_a_code() {
    use mfa_tests::manage::manage;
    use mfa_tests::realenv::mfa_stack;

    let mut r = RealEnv::start(&[SSHD, SSH, SSH_KEYGEN]);
    let alice = r.add_user();
    let bob = r.add_user();
    let args = format!("bus={} timeout=5000", r.env.bus_address);
    r.set_pam_service("sshd", &mfa_stack(&args));
    let sshd = r.start_sshd(&[&alice.name, &bob.name]);
    let port = sshd.ports[1]; // publickey,keyboard-interactive
    let dir = r.path().to_path_buf();
    let alice_sk = keygen(&dir, "alice-sk", "ecdsa-sk");
    let alice_ed25519_sk = keygen(&dir, "alice-ed25519-sk", "ed25519-sk");
    let alice_plain = keygen(&dir, "alice-plain", "ed25519");
    r.authorize_keys(
        &alice.name,
        &[&alice_sk, &alice_ed25519_sk, &alice_plain]
            .map(|k| k.public_line.as_str())
            .concat(),
    );
    r.authorize_keys(&bob.name, &alice_sk.public_line);
    let t_alice = r.env.enroll_new(&alice.name);
    let t_bob = r.env.enroll_new(&bob.name);
    // Enrolled with mfactl from the .pub file (as root: alice has a TOTP token, so she
    // would need a step-up herself).
    let public_file = alice_sk.private.with_extension("pub");
    let out = r.env.mfactl(&[
        "enroll",
        "ssh-sk",
        &alice.name,
        "--pubkey",
        public_file.to_str().expect("utf-8 path"),
        "--json",
    ]);
    assert!(out.success(), "{out}");
    let info: mfa_proto::TokenInfo = serde_json::from_str(&out.stdout).expect("json");
    assert_eq!(
        (info.kind.as_str(), info.name.as_str()),
        ("ssh-sk", "alice-sk")
    );
    assert_eq!(info.detail, keygen_fingerprint(&alice_sk));
    let user = alice.name.clone();
    let listed = manage(&r.env, async |p| p.list_tokens(&user).await).expect("list");
    assert!(listed.iter().any(|t| t == &info), "{listed:?}");
    let out = r.env.mfactl(&["list", &alice.name]);
    assert!(
        out.stdout
            .lines()
            .any(|l| l.contains("ssh-sk") && l.contains(&info.detail)),
        "{out}"
    );

    // The enrolled sk key: sshd verified it (with a touch), so only the password is asked.
    let out = login_with_code(&r, port, &alice, &alice_sk, "");
    assert_logged_in(&out);
    assert!(!out.saw_code_prompt(), "{out}");
    assert!(
        r.env
            .wait_for_syslog(std::time::Duration::from_secs(5), |l| l
                .contains(&format!("user={} ", alice.name))
                && l.contains("result=allow")
                && l.contains("method=ssh-sk")
                && l.contains(&info.detail))
            .is_some(),
        "{}",
        r.env.syslog_lines().join("\n")
    );

    // Another sk key of alice's, an ordinary key: asked for the code, which works (one
    // token each: a code is good once per token and time step).
    let t_alice_2 = r.env.enroll_new(&alice.name);
    for (key, totp) in [(&alice_ed25519_sk, &t_alice), (&alice_plain, &t_alice_2)] {
        let out = login_with_code(&r, port, &alice, key, &totp.current_code());
        assert_logged_in_after_code(&out);
    }
    // Alice's enrolled key used by bob: not bob's factor.
    let out = login_with_code(&r, port, &bob, &alice_sk, &t_bob.current_code());
    assert_logged_in_after_code(&out);

    // Without the key, on the password-and-code port, alice is asked as before.
    let out = r.ssh(SshLogin {
        port: sshd.ports[0],
        user: &alice.name,
        password: &alice.password,
        code: &t_alice.wrong_code(),
        key: None,
        remote: REMOTE,
    });
    assert_eq!(out.output.code(), Some(255), "{out}");
    assert!(out.saw_code_prompt(), "{out}");
}

#[test]
fn a_user_whose_only_factor_is_an_sk_key_is_told_to_use_it() {
    let r = RealEnv::start(&[SSH_KEYGEN]);
    let dir = r.path().to_path_buf();
    let key = keygen(&dir, "only-sk", "ecdsa-sk");
    let line = key.public_line.trim_end().to_owned();
    mfa_tests::manage::manage(&r.env, async |p| {
        p.enroll_ssh_sk("bin", "laptop", &line).await
    })
    .expect("enroll");
    // A login that did not use it (no SSH_AUTH_INFO_0 at all): nothing can be typed instead.
    let out = r.env.login("bin", &[]);
    out.assert_denied(
        mfa_tests::DEFAULT_SERVICE,
        "bin",
        "bin's second factor is an SSH security key, and this login did not use it.",
    );
    assert!(out.prompts.is_empty(), "{out}");
    // The same key twice, and an ordinary key, are refused at enrollment.
    let again =
        mfa_tests::manage::manage(&r.env, async |p| p.enroll_ssh_sk("bin", "", &line).await);
    assert!(
        matches!(&again, Err(e) if e.to_string().contains("already has this key")),
        "{again:?}"
    );
    let plain = keygen(&dir, "plain", "ed25519");
    let plain_line = plain.public_line.trim_end().to_owned();
    let refused = mfa_tests::manage::manage(&r.env, async |p| {
        p.enroll_ssh_sk("bin", "", &plain_line).await
    });
    assert!(
        matches!(&refused, Err(e) if e.to_string().contains("only security-key")),
        "{refused:?}"
    );
}
