//! Local FIDO2 security keys end to end: `mfactl enroll fido2`, then logins through the real
//! libpam, the real module and the real mfad, with the TEST-ONLY software authenticator
//! (`mfa-softkey`: genuine CTAP2 output, real P-256 keys) standing in for the USB key. The
//! module and mfactl are the `soft-fido2` builds the harness makes (`fido2_soft_key=PATH`,
//! `--fido2-soft-key PATH`); the last test checks that the shipped build has none of it.
//!
//! Each login checks the PAM result, what the user saw and the daemon's syslog line. Replay,
//! expiry, unknown credentials and a wrong relying party are driven over D-Bus as the module
//! would, with assertions the software key signs for the daemon's real challenges.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use mfa_proto::{LoginFacts, LoginProxy, MfaError, WireStep};
use mfa_softkey::{Behaviour, GetAssertionRequest, SoftKey};
use mfa_tests::manage::{manage, root_conn};
use mfa_tests::{CmdOutput, PAM_AUTH_ERR, PROMPT, TestEnv, bin, bin_dir, pam_module, run};

/// The PAM service whose module uses the software key at `<env>/key.json`.
const SERVICE: &str = "mfa-fido2";
const TOUCH: &str = "Touch your security key";
const PIN_PROMPT: &str = "Security key PIN: ";
const NOT_ACCEPTED: &str = "the security key's answer was not accepted.";
const USER: &str = "bin";

fn hostname() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .expect("hostname")
        .trim()
        .to_owned()
}

fn rp_id() -> String {
    format!("pam_mfa://{}", hostname())
}

/// The key file of `env` (created on first use with `behaviour`).
fn key_path(env: &TestEnv) -> PathBuf {
    env.path().join("key.json")
}

fn new_key(path: &Path, behaviour: Behaviour) -> SoftKey {
    SoftKey::create(path, behaviour).expect("create the software key")
}

/// Adds [`SERVICE`], whose module uses the key file `key`.
fn add_key_service(env: &TestEnv, key: &Path) {
    add_key_service_with(env, key, "");
}

/// Adds [`SERVICE`], whose module uses the key file `key`, with `extra` module arguments.
fn add_key_service_with(env: &TestEnv, key: &Path, extra: &str) {
    env.add_service(
        SERVICE,
        &format!(
            "bus={} timeout=3000 fido2_soft_key={} {extra}",
            env.bus_address,
            key.display()
        ),
    );
}

/// `mfactl --fido2-soft-key KEY ARGS` as root, `input` on standard input.
fn mfactl_key(env: &TestEnv, key: &Path, args: &[&str], input: &str) -> CmdOutput {
    let mut cmd = Command::new(bin("mfactl"));
    cmd.arg("--bus-address")
        .arg(&env.bus_address)
        .arg("--fido2-soft-key")
        .arg(key)
        .args(args);
    run(cmd, input.as_bytes(), Duration::from_secs(20))
}

/// Enrolls the key file `key` for `user` (as root, `extra` options); panics unless it worked.
fn enroll(env: &TestEnv, key: &Path, user: &str, extra: &[&str], input: &str) -> String {
    let mut args = vec!["enroll", "fido2", user];
    args.extend_from_slice(extra);
    let out = mfactl_key(env, key, &args, input);
    assert!(
        out.success(),
        "enroll fido2 failed:\n{out}\n{}",
        env.mfad_log()
    );
    out.stdout
}

/// The one syslog line about `user`'s login with `needle` in it (waits a little).
fn syslog_with(env: &TestEnv, needle: &str) -> String {
    env.wait_for_syslog(Duration::from_secs(5), |l| l.contains(needle))
        .unwrap_or_else(|| {
            panic!(
                "no syslog line with {needle:?}:\n{}",
                env.syslog_lines().join("\n")
            )
        })
}

fn set_behaviour(key: &Path, f: impl FnOnce(&mut Behaviour)) {
    let key = SoftKey::open(key).expect("open the software key");
    let mut b = key.behaviour().expect("behaviour");
    f(&mut b);
    key.set_behaviour(b).expect("set behaviour");
}

#[test]
fn an_enrolled_key_touched_logs_in_and_list_status_and_explain_show_it() {
    let env = TestEnv::start();
    let key = key_path(&env);
    new_key(&key, Behaviour::default());
    add_key_service(&env, &key);
    let printed = enroll(&env, &key, USER, &["--name", "desk"], "");
    let detail = format!("ES256, {}, touch", rp_id());
    assert!(
        printed.contains(&format!("(desk, {detail}) enrolled for {USER}")),
        "{printed}"
    );
    syslog_with(&env, "enroll user=bin by_uid=0 kind=fido2");

    for round in 1..=2 {
        let out = env.login_service(SERVICE, USER, &[]);
        out.assert_success();
        assert!(
            out.prompts.is_empty(),
            "no prompt for a touch-only key:\n{out}"
        );
        assert_eq!(out.infos, [TOUCH], "{out}");
        let line = syslog_with(
            &env,
            &format!("login result=allow user={USER} service={SERVICE} method=fido2"),
        );
        assert!(!line.contains("fido2-"), "{line}");
        // The counter moved with each login.
        let counter = SoftKey::open(&key).unwrap().credentials().unwrap()[0].counter;
        assert_eq!(counter, round);
    }

    let list = env.mfactl(&["list", USER]);
    assert!(list.success(), "{list}");
    let row = list
        .stdout
        .lines()
        .find(|l| l.contains("desk"))
        .unwrap_or_else(|| panic!("{list}"));
    assert!(row.contains("fido2") && row.contains(&detail), "{row}");
    let status = env.mfactl(&["--json", "status", USER]);
    let json: serde_json::Value = serde_json::from_str(&status.stdout).expect("status JSON");
    assert_eq!(json["tokens"][0]["kind"], "fido2", "{status}");
    assert_eq!(json["tokens"][0]["algorithm"], "ES256", "{status}");
    let explain = env.mfactl(&["policy", "explain", USER, SERVICE]);
    assert!(
        explain.stdout.contains("1 FIDO2 security key(s)")
            && explain.stdout.contains("asked for: fido2"),
        "{explain}"
    );

    // A service may forbid the method, or allow only it.
    let set = env.mfactl(&[
        "policy",
        "service",
        SERVICE,
        "required",
        "--methods",
        "totp",
    ]);
    assert!(set.success(), "{set}");
    let out = env.login_service(SERVICE, USER, &[]);
    out.assert_denied(
        SERVICE,
        USER,
        "none of bin's methods (fido2) is allowed on mfa-fido2, which accepts: totp.",
    );
    let set = env.mfactl(&[
        "policy",
        "service",
        SERVICE,
        "required",
        "--methods",
        "fido2",
    ]);
    assert!(set.success(), "{set}");
    env.login_service(SERVICE, USER, &[]).assert_success();
}

#[test]
fn a_key_without_an_enrolled_credential_and_no_key_at_all_are_denied_clearly() {
    let env = TestEnv::start();
    let enrolled = key_path(&env);
    new_key(&enrolled, Behaviour::default());
    enroll(&env, &enrolled, USER, &[], "");
    // Another key, holding a credential of another account of this host.
    let other = env.path().join("other.json");
    new_key(&other, Behaviour::default());
    enroll(&env, &other, "daemon", &[], "");
    add_key_service(&env, &other);
    let out = env.login_service(SERVICE, USER, &[]);
    assert_eq!(out.result, Some(PAM_AUTH_ERR), "{out}");
    assert!(
        out.error_text()
            .contains("this security key is not enrolled for this account on this host"),
        "{out}"
    );
    out.assert_denied(
        SERVICE,
        USER,
        "no security key could be used (no-credentials), and it is bin's only method here.",
    );
    syslog_with(
        &env,
        "login result=fido2-unavailable user=bin service=mfa-fido2 reason=no-credentials back_to_chooser=false",
    );
    // The key unplugged (no key file).
    add_key_service(&env, &env.path().join("unplugged.json"));
    let out = env.login_service(SERVICE, USER, &[]);
    out.assert_denied(
        SERVICE,
        USER,
        "no security key could be used (no-device), and it is bin's only method here.",
    );
    assert!(
        out.error_text()
            .contains("no security key found: plug in your key and try again"),
        "{out}"
    );
    syslog_with(&env, "reason=no-device back_to_chooser=false");
}

#[test]
fn no_key_with_totp_too_goes_back_to_the_chooser_and_totp_works() {
    let env = TestEnv::start();
    let key = key_path(&env);
    new_key(&key, Behaviour::default());
    enroll(&env, &key, USER, &[], "");
    let totp = env.enroll_new(USER);
    add_key_service(&env, &env.path().join("unplugged.json"));
    let out = env.login_service(SERVICE, USER, &["2", "", &totp.current_code()]);
    out.assert_success();
    assert_eq!(
        out.prompts,
        ["Method [1]: ", "Method [1]: ", PROMPT],
        "{out}"
    );
    assert!(
        out.infos
            .iter()
            .any(|i| i == "  2) Security key (FIDO2 touch)"),
        "{out}"
    );
    assert!(
        out.infos
            .iter()
            .any(|i| i == "The security key could not be used (no-device); choose another method."),
        "{out}"
    );
    assert!(out.error_text().contains("no security key found"), "{out}");
    syslog_with(&env, "reason=no-device back_to_chooser=true");
    syslog_with(
        &env,
        "login result=allow user=bin service=mfa-fido2 method=totp",
    );
}

#[test]
fn a_key_that_was_not_touched_is_denied() {
    let env = TestEnv::start();
    let key = key_path(&env);
    new_key(&key, Behaviour::default());
    enroll(&env, &key, USER, &[], "");
    add_key_service(&env, &key);
    set_behaviour(&key, |b| b.up = false);
    let out = env.login_service(SERVICE, USER, &[]);
    out.assert_denied(SERVICE, USER, NOT_ACCEPTED);
    let line = syslog_with(&env, "reason=fido2-user-not-present");
    assert!(
        line.contains("result=deny user=bin") && line.contains("failures=1"),
        "{line}"
    );
}

#[test]
fn user_verification_is_required_when_enrolled_so_and_the_pin_provides_it() {
    let env = TestEnv::start();
    let key = key_path(&env);
    new_key(
        &key,
        Behaviour {
            pin: Some("2468".into()),
            ..Behaviour::default()
        },
    );
    let printed = enroll(&env, &key, USER, &["--pin"], "2468\n");
    assert!(printed.contains(", PIN/UV)"), "{printed}");
    add_key_service(&env, &key);
    // The PIN: user verified, allowed.
    let out = env.login_service(SERVICE, USER, &["2468"]);
    out.assert_success();
    assert_eq!(out.prompts, [PIN_PROMPT], "{out}");
    syslog_with(
        &env,
        "login result=allow user=bin service=mfa-fido2 method=fido2",
    );
    // A key that signs without verifying the user (no PIN set, no built-in UV): denied.
    set_behaviour(&key, |b| b.pin = None);
    let out = env.login_service(SERVICE, USER, &[""]);
    out.assert_denied(SERVICE, USER, NOT_ACCEPTED);
    syslog_with(&env, "reason=fido2-user-not-verified");
    // The PIN never reaches the daemon or its log.
    assert!(
        !env.syslog_lines().iter().any(|l| l.contains("2468")) && !env.mfad_log().contains("2468")
    );
}

#[test]
fn a_counter_that_goes_back_is_denied_and_logged_as_a_possible_clone() {
    let env = TestEnv::start();
    let key = key_path(&env);
    new_key(&key, Behaviour::default());
    enroll(&env, &key, USER, &[], "");
    add_key_service(&env, &key);
    env.login_service(SERVICE, USER, &[]).assert_success();
    env.login_service(SERVICE, USER, &[]).assert_success();
    // A copy of the key that stayed at counter 1.
    set_behaviour(&key, |b| b.force_counter = Some(1));
    let out = env.login_service(SERVICE, USER, &[]);
    out.assert_denied(SERVICE, USER, NOT_ACCEPTED);
    let line = syslog_with(&env, "reason=fido2-counter-regression");
    assert!(
        line.contains("from 2 to 1") && line.contains("may have been cloned"),
        "{line}"
    );
}

/// One login over D-Bus as the module makes it, up to the fido2 step: its flow.
fn fido2_flow(conn: &zbus::Connection, service: &str) -> String {
    let facts = LoginFacts {
        user: USER.into(),
        service: service.into(),
        ..LoginFacts::default()
    };
    let step: WireStep =
        zbus::block_on(async { LoginProxy::new(conn).await?.begin(&facts).await }).unwrap();
    assert_eq!(
        (step.kind.as_str(), step.text.as_str()),
        ("fido2", TOUCH),
        "{step:?}"
    );
    step.flow
}

type Request = (String, Vec<u8>, Vec<Vec<u8>>, bool);

fn request(conn: &zbus::Connection, flow: &str) -> Request {
    zbus::block_on(async { LoginProxy::new(conn).await?.fido2_request(flow).await }).unwrap()
}

struct Signed(Vec<u8>, Vec<u8>, Vec<u8>);

fn sign(key: &Path, rp_id: &str, challenge: &[u8]) -> Signed {
    let a = SoftKey::open(key)
        .unwrap()
        .get_assertion(&GetAssertionRequest {
            rp_id,
            client_data_hash: &mfa_core::fido2::client_data_hash(challenge),
            allow_list: &[],
            pin: None,
            require_uv: false,
        })
        .unwrap();
    Signed(a.credential_id, a.auth_data, a.signature)
}

fn answer(conn: &zbus::Connection, flow: &str, s: &Signed) -> Result<WireStep, MfaError> {
    zbus::block_on(async {
        LoginProxy::new(conn)
            .await?
            .answer_fido2(flow, &s.0, &s.1, &s.2)
            .await
    })
}

#[test]
fn replayed_answers_unknown_credentials_and_a_wrong_relying_party_are_refused() {
    let env = TestEnv::start();
    let key = key_path(&env);
    new_key(&key, Behaviour::default());
    enroll(&env, &key, USER, &[], "");
    let conn = root_conn(&env);
    let service = "fido2-raw";

    // A genuine answer: allowed; the same flow answered again: gone.
    let flow = fido2_flow(&conn, service);
    let (rp, challenge, ids, uv) = request(&conn, &flow);
    assert_eq!(
        (rp.as_str(), challenge.len(), ids.len(), uv),
        (rp_id().as_str(), 32, 1, false)
    );
    let first = sign(&key, &rp, &challenge);
    assert_eq!(answer(&conn, &flow, &first).unwrap().kind, "allow");
    assert!(matches!(
        answer(&conn, &flow, &first),
        Err(MfaError::UnknownFlow(_))
    ));
    // The captured answer used for a new login: a new challenge, so the signature fails.
    let flow = fido2_flow(&conn, service);
    let step = answer(&conn, &flow, &first).unwrap();
    assert_eq!(
        (step.kind.as_str(), step.reason.as_str()),
        ("deny", "auth-failed")
    );
    syslog_with(&env, "reason=fido2-bad-signature");

    // Another key's credential, genuinely signed for this challenge.
    let other = env.path().join("other.json");
    new_key(&other, Behaviour::default());
    enroll(&env, &other, "daemon", &[], "");
    let flow = fido2_flow(&conn, service);
    let (_, challenge, _, _) = request(&conn, &flow);
    let step = answer(&conn, &flow, &sign(&other, &rp, &challenge)).unwrap();
    assert_eq!(step.kind, "deny", "{step:?}");
    syslog_with(&env, "reason=fido2-unknown-credential");

    // The enrolled credential answering for another relying party (the same private key
    // filed under another RP ID in the key file).
    let mut file: serde_json::Value = serde_json::from_slice(&fs::read(&key).unwrap()).unwrap();
    let mut elsewhere = file["credentials"][0].clone();
    elsewhere["rp_id"] = "pam_mfa://elsewhere".into();
    file["credentials"].as_array_mut().unwrap().push(elsewhere);
    fs::write(&key, serde_json::to_vec(&file).unwrap()).unwrap();
    let flow = fido2_flow(&conn, service);
    let (_, challenge, _, _) = request(&conn, &flow);
    let wrong_rp = sign(&key, "pam_mfa://elsewhere", &challenge);
    assert_eq!(wrong_rp.0, first.0, "the same credential");
    let step = answer(&conn, &flow, &wrong_rp).unwrap();
    assert_eq!(step.kind, "deny", "{step:?}");
    syslog_with(&env, "reason=fido2-wrong-rp");

    // Four failures counted (bad signature, unknown credential, wrong RP); the next
    // genuine answer still passes, and clears them.
    let flow = fido2_flow(&conn, service);
    let (_, challenge, _, _) = request(&conn, &flow);
    assert_eq!(
        answer(&conn, &flow, &sign(&key, &rp, &challenge))
            .unwrap()
            .kind,
        "allow"
    );
    // A text answer to a security key step is refused (and uses the flow up).
    let flow = fido2_flow(&conn, service);
    let r = zbus::block_on(async { LoginProxy::new(&conn).await?.answer(&flow, "123456").await });
    assert!(matches!(r, Err(MfaError::InvalidArgument(_))), "{r:?}");
}

#[test]
fn an_answer_after_the_challenge_expired_is_denied() {
    let env = TestEnv::builder()
        .config("[fido2]\nchallenge_ttl_secs = 60\n")
        .start();
    let key = key_path(&env);
    new_key(&key, Behaviour::default());
    enroll(&env, &key, USER, &[], "");
    fs::write(
        env.path().join("mfad.toml"),
        "[fido2]\nchallenge_ttl_secs = 1\n",
    )
    .unwrap();
    env.restart_mfad();
    let conn = root_conn(&env);
    let flow = fido2_flow(&conn, "fido2-raw");
    let (rp, challenge, _, _) = request(&conn, &flow);
    let signed = sign(&key, &rp, &challenge);
    std::thread::sleep(Duration::from_millis(1100));
    let step = answer(&conn, &flow, &signed).unwrap();
    assert_eq!(step.kind, "deny", "{step:?}");
    assert!(
        step.text
            .contains("the security key answered too late (the challenge expired)."),
        "{step:?}"
    );
    syslog_with(&env, "reason=fido2-challenge-expired ttl=1");
}

#[test]
fn enrollment_refuses_a_bad_attestation_and_a_key_enrolled_twice() {
    let env = TestEnv::start();
    let key = key_path(&env);
    // A key that does not register a touch: its attestation says UP=0.
    new_key(
        &key,
        Behaviour {
            up: false,
            ..Behaviour::default()
        },
    );
    let out = mfactl_key(&env, &key, &["enroll", "fido2", USER], "");
    assert_eq!(out.code(), Some(1), "{out}");
    assert!(
        out.stderr.contains("registration was refused")
            && out.stderr.contains("user presence (UP) is not set"),
        "{out}"
    );
    syslog_with(
        &env,
        "enroll-refused user=bin by_uid=0 kind=fido2 reason=fido2-user-not-present",
    );
    // Garbage instead of an attestation object, over D-Bus.
    let conn = root_conn(&env);
    let start = mfa_tests::manage::call(&conn, async |p| {
        p.begin_fido2_enrollment(USER, "", false).await
    })
    .unwrap();
    assert_eq!(start.rp_id, rp_id());
    assert_eq!(start.challenge.len(), 32);
    let r = mfa_tests::manage::call(&conn, async |p| {
        p.finish_fido2_enrollment(&start.enrollment, b"\xa0").await
    });
    assert!(matches!(r, Err(MfaError::CodeRejected(_))), "{r:?}");
    assert!(
        manage(&env, async |p| p.list_tokens(USER).await)
            .map(|t| t.is_empty())
            .unwrap_or(true),
        "nothing saved"
    );

    // A working key: enrolled once, then refused by the key itself (exclude list).
    set_behaviour(&key, |b| b.up = true);
    enroll(&env, &key, USER, &[], "");
    let out = mfactl_key(&env, &key, &["enroll", "fido2", USER], "");
    assert_eq!(out.code(), Some(1), "{out}");
    assert!(
        out.stderr
            .contains("this security key is already enrolled for this account"),
        "{out}"
    );
    let tokens = manage(&env, async |p| p.list_tokens(USER).await).unwrap();
    assert_eq!(tokens.len(), 1, "{tokens:?}");
}

#[test]
fn a_user_whose_only_factor_is_a_key_steps_up_with_it() {
    let env = TestEnv::start();
    let dir = env.path().join("bin-key");
    fs::create_dir(&dir).unwrap();
    let key = dir.join("key.json");
    new_key(&key, Behaviour::default());
    enroll(&env, &key, USER, &[], "");
    // The key file (and its lock file) belong to the user, who runs mfactl.
    let (uid, gid) = mfa_tests::user_ids(USER);
    let files = fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path());
    for p in files.chain([dir.clone()]) {
        std::os::unix::fs::chown(&p, Some(uid), Some(gid)).unwrap();
    }
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
    let mut cmd = mfa_tests::run_as(USER, &bin("mfactl"));
    cmd.arg("--bus-address")
        .arg(&env.bus_address)
        .arg("--fido2-soft-key")
        .arg(&key)
        .args(["recovery", "generate"]);
    let out = run(cmd, b"", Duration::from_secs(20));
    assert!(out.success(), "{out}\n{}", env.mfad_log());
    let codes = out
        .stdout
        .lines()
        .filter(|l| l.len() == 19 && l.matches('-').count() == 3)
        .count();
    assert_eq!(codes, 10, "{out}");
    assert!(out.stderr.contains(TOUCH), "{out}");
    syslog_with(
        &env,
        "login result=step-up-allow user=bin service=mfactl method=fido2",
    );
}

#[test]
fn the_shipped_module_has_no_software_key_and_stays_small() {
    let marker = mfa_softkey::MARKER.as_bytes();
    let has = |bytes: &[u8]| bytes.windows(marker.len()).any(|w| w == marker);
    // Control: the test build has it, so the search below can find it.
    assert!(
        has(&fs::read(pam_module()).unwrap()),
        "the soft-fido2 build lacks the marker"
    );
    // The shipped build: `make build` (release-small, no features, cdylib alone).
    let release = bin_dir().parent().unwrap().join("release-small");
    let shipped = mfa_tests::build_shipped_module(&release);
    let bytes = fs::read(&shipped).unwrap_or_else(|e| panic!("{}: {e}", shipped.display()));
    assert!(
        !has(&bytes),
        "{} contains the software authenticator",
        shipped.display()
    );
    assert!(
        !bytes.windows(14).any(|w| w == b"fido2_soft_key"),
        "the shipped module knows the test-only argument"
    );
    assert!(
        bytes.len() <= 2_000_000,
        "{} is {} bytes, over 2 MB",
        shipped.display(),
        bytes.len()
    );
    eprintln!("release-small libpam_mfa.so: {} bytes", bytes.len());
}

#[test]
fn the_usb_path_without_a_key_says_so_and_leaves_no_thread_or_fd_behind() {
    if fs::read_dir("/dev").unwrap().any(|e| {
        e.unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with("hidraw")
    }) {
        // A machine with HID devices: a plugged-in key would wait for a touch.
        eprintln!("/dev/hidraw* present: skipping the no-key check of the USB path");
        return;
    }
    let env = TestEnv::start();
    let key = key_path(&env);
    new_key(&key, Behaviour::default());
    enroll(&env, &key, USER, &[], "");
    // The default service has no fido2_soft_key: the module opens USB keys (hidapi, udev).
    let out = env.pam_login(
        None,
        mfa_tests::DEFAULT_SERVICE,
        USER,
        b"",
        &["--resources"],
    );
    out.assert_denied(
        mfa_tests::DEFAULT_SERVICE,
        USER,
        "no security key could be used (no-device), and it is bin's only method here.",
    );
    assert!(out.error_text().contains("no security key found"), "{out}");
    let ((threads_before, fds_before), (threads_after, fds_after)) = out
        .resources
        .unwrap_or_else(|| panic!("no RESOURCES line:\n{out}"));
    assert_eq!(threads_after, threads_before, "threads left behind:\n{out}");
    assert_eq!(fds_after, fds_before, "file descriptors left open:\n{out}");
}

// ----- fido2_timeout: a key that does not answer ------------------------------------------

/// How long the stalled software key waits: far beyond the deadline under test, so only
/// the module's deadline can end the wait (a leaked key process would still be there).
const STALL_MS: u64 = 20_000;
const NO_ANSWER: &str = "the security key did not answer within 1 second";

/// `(pid, parent pid, state)` of every process whose command line names `env`'s PAM
/// directory: the `mfa-pam-login` runs of this test and any process forked from them (a
/// forked child keeps its parent's command line).
fn login_processes(env: &TestEnv) -> Vec<(u32, u32, char)> {
    let dir = env.pam_dir().into_os_string().into_encoded_bytes();
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(cmdline) = fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        if cmdline.split(|&b| b == 0).any(|arg| arg == dir.as_slice())
            && let Some((ppid, state)) = stat_of(pid)
        {
            found.push((pid, ppid, state));
        }
    }
    found
}

/// `(parent pid, state)` of `pid` from /proc/PID/stat (None once it is gone).
fn stat_of(pid: u32) -> Option<(u32, char)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) state ppid …": comm may hold spaces and parentheses.
    let mut rest = stat[stat.rfind(')')? + 1..].split_whitespace();
    let state = rest.next()?.chars().next()?;
    Some((rest.next()?.parse().ok()?, state))
}

/// `(pid, state)` of every child of `parent`, zombies included.
fn children_of(parent: u32) -> Vec<(u32, char)> {
    fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let (ppid, state) = stat_of(pid)?;
            (ppid == parent).then_some((pid, state))
        })
        .collect()
}

/// Fails if any of `pids` exists, after killing them (by PID): a test that fails here must
/// not leave a stalled key process behind.
#[track_caller]
fn assert_none_left(what: &str, pids: &[u32]) {
    for &pid in pids {
        // SAFETY: kill(2) by PID on processes this test's login started, just listed.
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
    }
    assert!(pids.is_empty(), "{what} left behind: {pids:?}");
}

#[test]
fn a_key_that_does_not_answer_is_abandoned_at_fido2_timeout_and_totp_still_works() {
    let env = TestEnv::start();
    let key = key_path(&env);
    new_key(&key, Behaviour::default());
    enroll(&env, &key, USER, &[], "");
    let totp = env.enroll_new(USER);
    add_key_service_with(&env, &key, "fido2_timeout=1000");
    set_behaviour(&key, |b| b.stall_ms = STALL_MS);

    let chooser = "PROMPT_ECHO_ON: Method [1]: ";
    let mut login = env.spawn_pam_login(SERVICE, USER);
    assert!(login.wait_for_line(chooser, Duration::from_secs(10)));
    let chosen = Instant::now();
    login.answer("2");
    let back = login.wait_for_line(chooser, Duration::from_secs(10));
    let waited = chosen.elapsed();
    // The login is waiting at the chooser again: the application is alive, and the process
    // that talked to the key is gone, not even a zombie.
    let logins = login_processes(&env);
    let alive: Vec<u32> = logins.iter().map(|l| l.0).collect();
    assert_eq!(logins.len(), 1, "one mfa-pam-login expected: {logins:?}");
    let children: Vec<u32> = children_of(logins[0].0).iter().map(|c| c.0).collect();
    assert_none_left("the key process", &children);
    assert!(back, "not back at the chooser after {waited:?}");
    eprintln!("fido2_timeout=1000, stalled key: back at the chooser after {waited:?}");
    assert!(
        waited >= Duration::from_millis(1000) && waited < Duration::from_secs(3),
        "back at the chooser after {waited:?}, fido2_timeout=1000"
    );
    login.answer("");
    login.answer(&totp.current_code());
    let out = login.finish(Duration::from_secs(10), None);
    out.assert_success();
    assert!(out.error_text().contains(NO_ANSWER), "{out}");
    assert!(
        out.infos
            .iter()
            .any(|i| i == "The security key could not be used (no-answer); choose another method."),
        "{out}"
    );
    syslog_with(
        &env,
        "login result=fido2-unavailable user=bin service=mfa-fido2 reason=no-answer back_to_chooser=true",
    );
    syslog_with(
        &env,
        "login result=allow user=bin service=mfa-fido2 method=totp",
    );
    assert_none_left(
        "mfa-pam-login",
        &login_processes(&env)
            .iter()
            .map(|l| l.0)
            .filter(|p| alive.contains(p))
            .collect::<Vec<_>>(),
    );
}

#[test]
fn a_key_that_does_not_answer_as_the_only_method_is_denied_in_about_fido2_timeout() {
    let env = TestEnv::start();
    let key = key_path(&env);
    new_key(&key, Behaviour::default());
    enroll(&env, &key, USER, &[], "");
    add_key_service_with(&env, &key, "fido2_timeout=1000");
    set_behaviour(&key, |b| b.stall_ms = STALL_MS);

    let out = env.pam_login(None, SERVICE, USER, b"", &["--resources"]);
    let left: Vec<u32> = login_processes(&env).iter().map(|l| l.0).collect();
    assert_none_left("a process of the login", &left);
    out.assert_denied(
        SERVICE,
        USER,
        "no security key could be used (no-answer), and it is bin's only method here.",
    );
    assert_eq!(out.infos, [TOUCH], "{out}");
    assert!(out.error_text().contains(NO_ANSWER), "{out}");
    eprintln!(
        "fido2_timeout=1000, stalled key, key only: denied after {:?}",
        out.elapsed()
    );
    assert!(
        out.elapsed() >= Duration::from_millis(1000) && out.elapsed() < Duration::from_secs(3),
        "denied after {:?}, fido2_timeout=1000",
        out.elapsed()
    );
    let ((threads_before, fds_before), (threads_after, fds_after)) = out
        .resources
        .unwrap_or_else(|| panic!("no RESOURCES line:\n{out}"));
    assert_eq!(threads_after, threads_before, "threads left behind:\n{out}");
    assert_eq!(fds_after, fds_before, "file descriptors left open:\n{out}");
    syslog_with(&env, "reason=no-answer back_to_chooser=false");

    // The killed key process left the key file usable: an answering key logs in.
    set_behaviour(&key, |b| b.stall_ms = 0);
    env.login_service(SERVICE, USER, &[]).assert_success();
}

#[test]
fn a_wrong_pin_comes_back_from_the_key_process_and_is_asked_again() {
    let env = TestEnv::start();
    let key = key_path(&env);
    new_key(
        &key,
        Behaviour {
            pin: Some("2468".into()),
            ..Behaviour::default()
        },
    );
    enroll(&env, &key, USER, &["--pin"], "2468\n");
    add_key_service(&env, &key);
    let out = env.login_service(SERVICE, USER, &["1357", "2468"]);
    out.assert_success();
    assert_eq!(out.prompts, [PIN_PROMPT, PIN_PROMPT], "{out}");
    assert_eq!(out.errors, ["wrong PIN for the security key"], "{out}");
    syslog_with(
        &env,
        "login result=allow user=bin service=mfa-fido2 method=fido2",
    );
}
