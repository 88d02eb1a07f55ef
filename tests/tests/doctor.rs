//! `mfactl doctor --root DIR`, the real binary, against crafted system trees.
//!
//! Every tree starts as a correctly set-up Debian host: this machine's own sshd_config and
//! PAM `common-*` files (copied, so the test follows the real files), the shipped drop-in
//! `contrib/sshd_config.d/pam_mfa.conf` with `AuthenticationMethods
//! publickey,keyboard-interactive` enabled, and the shipped PAM excerpts
//! `contrib/pam.d/mfa-{sshd,sudo,login}.example` as the services. Each test then breaks one
//! thing and checks the finding: its check, severity, file and line, and its fix. mfad is
//! asked only in the tests that start one (TestEnv); elsewhere no bus is named, so doctor
//! leaves the daemon alone.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde::Deserialize;

use mfa_tests::{CmdOutput, TestEnv, bin, run, run_as, workspace_root};

/// How long one doctor run may take before the harness kills it.
const DEADLINE: Duration = Duration::from_secs(20);

/// One finding of `mfactl doctor --json`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
struct Finding {
    check: String,
    severity: String,
    file: Option<PathBuf>,
    line: Option<usize>,
    what: String,
    fix: String,
}

/// A crafted system tree under a temporary directory.
struct Tree {
    dir: tempfile::TempDir,
}

/// Where libpam finds modules on this machine (the tree copies the layout).
fn security_dir() -> String {
    format!("/usr/lib/{}-linux-gnu/security", std::env::consts::ARCH)
}

impl Tree {
    /// A correctly set-up host.
    fn clean() -> Tree {
        let dir = tempfile::Builder::new()
            .prefix("mfa-doctor.")
            .tempdir()
            .expect("temp dir");
        // Readable by `nobody` for the non-root test; the files inside are 0644 (umask 022).
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let tree = Tree { dir };
        tree.copy_from_host("/etc/ssh/sshd_config");
        let drop_in =
            fs::read_to_string(workspace_root().join("contrib/sshd_config.d/pam_mfa.conf"))
                .expect("contrib drop-in");
        let enabled = drop_in.replace(
            "#AuthenticationMethods publickey,keyboard-interactive",
            "AuthenticationMethods publickey,keyboard-interactive",
        );
        assert_ne!(
            enabled, drop_in,
            "the drop-in's AuthenticationMethods line moved"
        );
        tree.write("/etc/ssh/sshd_config.d/pam_mfa.conf", &enabled);
        for name in [
            "common-auth",
            "common-account",
            "common-session",
            "common-session-noninteractive",
            "common-password",
            "su",
        ] {
            tree.copy_from_host(&format!("/etc/pam.d/{name}"));
        }
        for service in ["sshd", "sudo", "login"] {
            let example = workspace_root().join(format!("contrib/pam.d/mfa-{service}.example"));
            tree.write(
                &format!("/etc/pam.d/{service}"),
                &fs::read_to_string(example).expect("contrib example"),
            );
        }
        tree.write(
            "/etc/passwd",
            "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/sh\n",
        );
        tree.write(
            "/etc/shadow",
            "root:*:19000:0:99999:7:::\nalice:$y$j9T$salt$hash:19000:0:99999:7:::\n",
        );
        tree.chmod("/etc/shadow", 0o640);
        tree.write(&format!("{}/pam_permit.so", security_dir()), "");
        tree.write(&format!("{}/pam_mfa.so", security_dir()), "");
        tree.write("/var/lib/mfad/mfa.db", "");
        tree.chmod("/var/lib/mfad/mfa.db", 0o600);
        tree.chmod("/var/lib/mfad", 0o700);
        tree
    }

    /// The tree's path for the system path `abs`.
    fn path(&self, abs: &str) -> PathBuf {
        self.dir.path().join(abs.trim_start_matches('/'))
    }

    fn write(&self, abs: &str, text: &str) {
        let path = self.path(abs);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, text).unwrap();
    }

    fn read(&self, abs: &str) -> String {
        fs::read_to_string(self.path(abs)).unwrap()
    }

    fn copy_from_host(&self, abs: &str) {
        let text = fs::read_to_string(abs).unwrap_or_else(|e| panic!("this host's {abs}: {e}"));
        self.write(abs, &text);
    }

    /// Replaces `from` (which must be there) by `to` in the file.
    fn edit(&self, abs: &str, from: &str, to: &str) {
        let text = self.read(abs);
        assert!(text.contains(from), "{abs} has no {from:?}:\n{text}");
        self.write(abs, &text.replacen(from, to, 1));
    }

    fn chmod(&self, abs: &str, mode: u32) {
        fs::set_permissions(self.path(abs), fs::Permissions::from_mode(mode)).unwrap();
    }

    /// The number of the first line of the file containing all of `needles`.
    fn line_of(&self, abs: &str, needles: &[&str]) -> usize {
        let text = self.read(abs);
        let index = text
            .lines()
            .position(|l| !l.trim_start().starts_with('#') && needles.iter().all(|n| l.contains(n)))
            .unwrap_or_else(|| panic!("{abs} has no line with {needles:?}:\n{text}"));
        index + 1
    }

    fn root(&self) -> &str {
        self.dir.path().to_str().expect("UTF-8 temp dir")
    }

    /// `mfactl doctor --root TREE ARGS` as root, no bus named.
    fn doctor(&self, args: &[&str]) -> CmdOutput {
        let mut cmd = Command::new(bin("mfactl"));
        cmd.env_remove("DBUS_SYSTEM_BUS_ADDRESS")
            .args(["doctor", "--root", self.root()])
            .args(args);
        run(cmd, b"", DEADLINE)
    }

    /// The findings of `doctor --json`, and its exit code.
    fn findings(&self) -> (Vec<Finding>, Option<i32>) {
        parse(&self.doctor(&["--json"]))
    }
}

fn parse(out: &CmdOutput) -> (Vec<Finding>, Option<i32>) {
    assert!(!out.timed_out, "{out}");
    let findings: Vec<Finding> =
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{out}"));
    (findings, out.code())
}

/// The findings of one check.
fn of<'a>(findings: &'a [Finding], check: &str) -> Vec<&'a Finding> {
    findings.iter().filter(|f| f.check == check).collect()
}

/// Asserts exactly one finding of `check`, with this severity, file and line; returns it.
#[track_caller]
fn one<'a>(
    findings: &'a [Finding],
    check: &str,
    severity: &str,
    file: &Path,
    line: Option<usize>,
) -> &'a Finding {
    let found = of(findings, check);
    assert_eq!(found.len(), 1, "{check}: {findings:#?}");
    let f = found[0];
    assert_eq!(
        (f.severity.as_str(), f.file.as_deref(), f.line),
        (severity, Some(file), line),
        "{f:#?}"
    );
    f
}

/// Nothing but notes.
#[track_caller]
fn no_errors_or_warnings(findings: &[Finding]) {
    let serious: Vec<&Finding> = findings.iter().filter(|f| f.severity != "note").collect();
    assert!(serious.is_empty(), "{serious:#?}");
}

#[test]
fn a_correctly_set_up_host_has_no_errors_or_warnings() {
    let tree = Tree::clean();
    let (findings, code) = tree.findings();
    no_errors_or_warnings(&findings);
    assert_eq!(code, Some(0));
    let checks: Vec<&str> = findings.iter().map(|f| f.check.as_str()).collect();
    assert_eq!(checks, ["daemon-skipped"], "{findings:#?}");
    let text = tree.doctor(&[]);
    assert_eq!(text.code(), Some(0), "{text}");
    assert!(
        text.stdout
            .ends_with("No errors or warnings (0 errors, 0 warnings, 1 note).\n"),
        "{text}"
    );
}

#[test]
fn use_pam_no_is_an_error_at_its_line() {
    let tree = Tree::clean();
    let drop_in = "/etc/ssh/sshd_config.d/pam_mfa.conf";
    tree.edit(drop_in, "UsePAM yes", "UsePAM no");
    let (findings, code) = tree.findings();
    let line = tree.line_of(drop_in, &["UsePAM no"]);
    let f = one(
        &findings,
        "sshd-use-pam",
        "error",
        &tree.path(drop_in),
        Some(line),
    );
    assert!(
        f.what.contains("sshd never runs the PAM stack"),
        "{}",
        f.what
    );
    assert!(f.fix.contains("UsePAM yes"));
    assert_eq!(code, Some(2));
    // The text form names the same place.
    let text = tree.doctor(&[]);
    let head = format!(
        "error: {}:{line}: `UsePAM no`:",
        tree.path(drop_in).display()
    );
    assert!(text.stdout.contains(&head), "{text}");
    assert!(text.stdout.contains("\n  fix: Set `UsePAM yes`"), "{text}");
}

#[test]
fn keyboard_interactive_off_is_an_error_at_the_line_sshd_reads_first() {
    let tree = Tree::clean();
    let drop_in = "/etc/ssh/sshd_config.d/pam_mfa.conf";
    tree.edit(
        drop_in,
        "KbdInteractiveAuthentication yes",
        "KbdInteractiveAuthentication no",
    );
    let (findings, code) = tree.findings();
    let line = tree.line_of(drop_in, &["KbdInteractiveAuthentication no"]);
    one(
        &findings,
        "sshd-keyboard-interactive",
        "error",
        &tree.path(drop_in),
        Some(line),
    );
    assert_eq!(code, Some(2));
    // Without the drop-in's line, Debian's own `KbdInteractiveAuthentication no` decides.
    tree.edit(drop_in, "KbdInteractiveAuthentication no", "");
    let (findings, _) = tree.findings();
    let main = "/etc/ssh/sshd_config";
    let line = tree.line_of(main, &["KbdInteractiveAuthentication no"]);
    one(
        &findings,
        "sshd-keyboard-interactive",
        "error",
        &tree.path(main),
        Some(line),
    );
}

#[test]
fn without_authentication_methods_a_public_key_alone_is_a_warning() {
    let tree = Tree::clean();
    tree.edit(
        "/etc/ssh/sshd_config.d/pam_mfa.conf",
        "\nAuthenticationMethods publickey,keyboard-interactive",
        "\n#AuthenticationMethods publickey,keyboard-interactive",
    );
    let (findings, code) = tree.findings();
    let f = one(
        &findings,
        "sshd-authentication-methods",
        "warning",
        &tree.path("/etc/ssh/sshd_config"),
        None,
    );
    assert!(f.what.contains("a public key alone logs in"), "{}", f.what);
    assert!(
        f.fix
            .contains("AuthenticationMethods publickey,keyboard-interactive")
    );
    // PasswordAuthentication (default yes) is now usable: a note, no more.
    assert_eq!(
        of(&findings, "sshd-password-authentication")[0].severity,
        "note"
    );
    assert_eq!(code, Some(1));
}

#[test]
fn a_match_block_letting_a_key_alone_in_is_an_error_at_its_line() {
    let tree = Tree::clean();
    let main = "/etc/ssh/sshd_config";
    let text = tree.read(main);
    tree.write(
        main,
        &format!("{text}\nMatch User backup\n\tAuthenticationMethods publickey\n"),
    );
    let (findings, code) = tree.findings();
    let line = tree.line_of(main, &["AuthenticationMethods publickey"]);
    let f = one(
        &findings,
        "sshd-authentication-methods",
        "error",
        &tree.path(main),
        Some(line),
    );
    assert!(
        f.what
            .starts_with("For connections matching `Match User backup`:"),
        "{}",
        f.what
    );
    assert_eq!(code, Some(2));
}

#[test]
fn no_sshd_is_a_note() {
    let tree = Tree::clean();
    fs::remove_file(tree.path("/etc/ssh/sshd_config")).unwrap();
    let (findings, code) = tree.findings();
    one(
        &findings,
        "sshd-missing",
        "note",
        &tree.path("/etc/ssh/sshd_config"),
        None,
    );
    no_errors_or_warnings(&findings);
    assert_eq!(code, Some(0));
}

#[test]
fn pam_mfa_as_sufficient_or_optional_lets_a_wrong_code_in() {
    for control in ["sufficient", "optional"] {
        let tree = Tree::clean();
        let sshd = "/etc/pam.d/sshd";
        tree.edit(
            sshd,
            "auth    required    pam_mfa.so",
            &format!("auth {control} pam_mfa.so"),
        );
        let (findings, code) = tree.findings();
        let line = tree.line_of(sshd, &["pam_mfa.so"]);
        let f = one(
            &findings,
            "pam-control",
            "error",
            &tree.path(sshd),
            Some(line),
        );
        assert!(f.what.contains("a wrong code still logs in"), "{}", f.what);
        assert!(f.fix.starts_with("Use `required`"));
        assert_eq!(code, Some(2));
    }
}

#[test]
fn pam_permit_ending_the_stack_before_pam_mfa_is_an_error() {
    let tree = Tree::clean();
    let sudo = "/etc/pam.d/sudo";
    tree.edit(
        sudo,
        "@include common-auth",
        "auth sufficient pam_permit.so\n@include common-auth",
    );
    let (findings, _) = tree.findings();
    let line = tree.line_of(sudo, &["pam_permit.so"]);
    let f = one(
        &findings,
        "pam-control",
        "error",
        &tree.path(sudo),
        Some(line),
    );
    assert!(
        f.what
            .contains("anyone logs in without a password or a code"),
        "{}",
        f.what
    );
}

#[test]
fn pam_mfa_before_the_password_is_a_warning() {
    let tree = Tree::clean();
    let sudo = "/etc/pam.d/sudo";
    let text = tree
        .read(sudo)
        .replace("auth    required    pam_mfa.so", "");
    tree.write(
        sudo,
        &text.replacen(
            "@include common-auth",
            "auth required pam_mfa.so\n@include common-auth",
            1,
        ),
    );
    let (findings, code) = tree.findings();
    let line = tree.line_of(sudo, &["pam_mfa.so"]);
    let f = one(
        &findings,
        "pam-order",
        "warning",
        &tree.path(sudo),
        Some(line),
    );
    let unix = tree.line_of("/etc/pam.d/common-auth", &["pam_unix.so"]);
    assert!(
        f.what.contains(&format!(
            "(pam_unix.so at {}:{unix})",
            tree.path("/etc/pam.d/common-auth").display()
        )),
        "{}",
        f.what
    );
    assert_eq!(code, Some(1));
}

#[test]
fn a_service_without_pam_mfa_is_a_warning() {
    let tree = Tree::clean();
    let login = "/etc/pam.d/login";
    tree.edit(login, "auth    required    pam_mfa.so", "");
    let (findings, code) = tree.findings();
    let f = one(&findings, "pam-missing", "warning", &tree.path(login), None);
    assert!(
        f.what
            .contains("logins through login ask for no second factor")
    );
    assert_eq!(code, Some(1));
}

#[test]
fn nullok_with_an_account_without_password_is_a_warning() {
    let tree = Tree::clean();
    let common = "/etc/pam.d/common-auth";
    let line = tree.line_of(common, &["pam_unix.so", "nullok"]);
    tree.write(
        "/etc/shadow",
        "root:*:19000:0:99999:7:::\nguest::19000:0:99999:7:::\n",
    );
    let (findings, code) = tree.findings();
    let f = one(
        &findings,
        "pam-nullok",
        "warning",
        &tree.path(common),
        Some(line),
    );
    assert!(
        f.what.contains("guest would need only the code"),
        "{}",
        f.what
    );
    // sshd refuses empty passwords by itself (PermitEmptyPasswords no).
    assert!(
        f.what.ends_with("(PAM services: login and sudo.)"),
        "{}",
        f.what
    );
    assert_eq!(code, Some(1));
}

#[test]
fn an_unknown_module_argument_is_an_error() {
    let tree = Tree::clean();
    let sshd = "/etc/pam.d/sshd";
    tree.edit(
        sshd,
        "auth    required    pam_mfa.so",
        "auth required pam_mfa.so nullok",
    );
    let (findings, code) = tree.findings();
    let line = tree.line_of(sshd, &["pam_mfa.so"]);
    let f = one(
        &findings,
        "pam-arguments",
        "error",
        &tree.path(sshd),
        Some(line),
    );
    assert!(
        f.what
            .contains("pam_mfa does not know the argument `nullok`"),
        "{}",
        f.what
    );
    assert_eq!(code, Some(2));
}

#[test]
fn pam_mfa_under_account_is_an_error() {
    let tree = Tree::clean();
    let sudo = "/etc/pam.d/sudo";
    tree.edit(
        sudo,
        "@include common-account",
        "account required pam_mfa.so\n@include common-account",
    );
    let (findings, _) = tree.findings();
    let line = tree.line_of(sudo, &["account", "pam_mfa.so"]);
    one(&findings, "pam-type", "error", &tree.path(sudo), Some(line));
}

#[test]
fn a_missing_module_is_an_error_for_each_line_loading_it() {
    let tree = Tree::clean();
    fs::remove_file(tree.path(&format!("{}/pam_mfa.so", security_dir()))).unwrap();
    let (findings, code) = tree.findings();
    let missing = of(&findings, "module-missing");
    let mut places: Vec<(PathBuf, Option<usize>)> = missing
        .iter()
        .map(|f| (f.file.clone().unwrap(), f.line))
        .collect();
    places.sort();
    let mut expected: Vec<(PathBuf, Option<usize>)> = ["login", "sshd", "sudo"]
        .iter()
        .map(|s| {
            let file = format!("/etc/pam.d/{s}");
            (tree.path(&file), Some(tree.line_of(&file, &["pam_mfa.so"])))
        })
        .collect();
    expected.sort();
    assert_eq!(places, expected, "{findings:#?}");
    assert!(
        missing
            .iter()
            .all(|f| f.severity == "error" && f.what.contains("is refused"))
    );
    assert_eq!(code, Some(2));
}

#[test]
fn files_others_can_change_or_read_are_errors() {
    let tree = Tree::clean();
    tree.chmod("/var/lib/mfad/mfa.db", 0o644);
    let (findings, code) = tree.findings();
    let f = one(
        &findings,
        "database",
        "error",
        &tree.path("/var/lib/mfad/mfa.db"),
        None,
    );
    assert!(
        f.what.contains("is readable by other users (mode 0644)"),
        "{}",
        f.what
    );
    assert!(f.fix.contains("chmod 600"));
    assert_eq!(code, Some(2));

    let tree = Tree::clean();
    tree.chmod("/var/lib/mfad", 0o777);
    tree.chmod(&format!("{}/pam_mfa.so", security_dir()), 0o666);
    tree.chmod("/etc/pam.d/common-auth", 0o666);
    let (findings, _) = tree.findings();
    one(
        &findings,
        "database-directory",
        "error",
        &tree.path("/var/lib/mfad"),
        None,
    );
    let module = tree.path(&format!("{}/pam_mfa.so", security_dir()));
    one(&findings, "module-writable", "error", &module, None);
    one(
        &findings,
        "config-writable",
        "error",
        &tree.path("/etc/pam.d/common-auth"),
        None,
    );
}

#[test]
fn an_mfad_configuration_it_refuses_is_an_error_at_its_line() {
    let tree = Tree::clean();
    tree.write(
        "/etc/mfa/mfad.toml",
        "[daemon]\nadmin_group = \"wheel\"\n\n[totp]\nwindw = 1\n",
    );
    let (findings, code) = tree.findings();
    let f = one(
        &findings,
        "mfad-config",
        "error",
        &tree.path("/etc/mfa/mfad.toml"),
        Some(5),
    );
    assert!(f.what.contains("windw"), "{}", f.what);
    assert_eq!(code, Some(2));
}

/// Issue 9: the email and SMS transports of mfad.toml. With another root nothing is
/// contacted; the files the sections name and the send timeout are checked.
#[test]
fn email_and_sms_transports_that_cannot_work_are_errors_with_the_fix() {
    let tree = Tree::clean();
    tree.write(
        "/etc/mfa/mfad.toml",
        "[email]\nsmtp_url = \"smtp://127.0.0.1:25\"\nfrom = \"mfa@host.example\"\n\
         credentials_file = \"/etc/mfa/smtp.cred\"\ntimeout_secs = 8\n\n\
         [sms]\ncommand = [\"/usr/local/sbin/send-sms\"]\ntimeout_secs = 4\n",
    );
    tree.write("/etc/mfa/smtp.cred", "mfa\nsecret\n");
    tree.chmod("/etc/mfa/smtp.cred", 0o640);
    tree.edit(
        "/etc/pam.d/sshd",
        "auth    required    pam_mfa.so",
        "auth    required    pam_mfa.so timeout=5000",
    );
    let (findings, code) = tree.findings();
    let config = tree.path("/etc/mfa/mfad.toml");
    let files = of(&findings, "delivery-file");
    assert_eq!(files.len(), 2, "{findings:#?}");
    let cred = tree.path("/etc/mfa/smtp.cred");
    assert!(
        files
            .iter()
            .all(|f| f.file.as_deref() == Some(config.as_path()))
    );
    assert!(files[0].what.contains("mode 0640"), "{:#?}", files[0]);
    assert_eq!(
        files[0].fix,
        format!("`chown root:root {0} && chmod 600 {0}`.", cred.display())
    );
    assert!(
        files[1]
            .what
            .contains("which does not exist: no code can be sent by text message"),
        "{:#?}",
        files[1]
    );
    let line = tree.line_of("/etc/pam.d/sshd", &["pam_mfa.so", "timeout=5000"]);
    let f = one(
        &findings,
        "delivery-timeout",
        "error",
        &tree.path("/etc/pam.d/sshd"),
        Some(line),
    );
    assert!(f.fix.contains("above 8000"), "{f:#?}");
    // Another root: the mail server is not contacted.
    assert!(of(&findings, "delivery-live").is_empty(), "{findings:#?}");
    assert_eq!(code, Some(2));

    // Put right, the transports raise nothing.
    tree.chmod("/etc/mfa/smtp.cred", 0o600);
    tree.write("/usr/local/sbin/send-sms", "#!/bin/sh\ncat >/dev/null\n");
    tree.chmod("/usr/local/sbin/send-sms", 0o755);
    tree.edit("/etc/pam.d/sshd", " timeout=5000", "");
    let (findings, _) = tree.findings();
    no_errors_or_warnings(&findings);
}

#[test]
fn the_json_output_matches_the_text_output() {
    let tree = Tree::clean();
    tree.edit(
        "/etc/pam.d/sshd",
        "auth    required    pam_mfa.so",
        "auth optional pam_mfa.so debug=1",
    );
    tree.chmod("/var/lib/mfad/mfa.db", 0o640);
    let (findings, json_code) = tree.findings();
    let text = tree.doctor(&[]);
    assert_eq!(text.code(), json_code);
    assert!(findings.len() >= 3, "{findings:#?}");
    for f in &findings {
        let place = match (&f.file, f.line) {
            (Some(file), Some(line)) => format!("{}:{line}: ", file.display()),
            (Some(file), None) => format!("{}: ", file.display()),
            (None, _) => String::new(),
        };
        let block = format!("{}: {place}{}\n  fix: {}\n", f.severity, f.what, f.fix);
        assert!(text.stdout.contains(&block), "missing {block:?} in\n{text}");
    }
    let errors = findings.iter().filter(|f| f.severity == "error").count();
    assert!(
        text.stdout.contains(&format!("{errors} errors, ")),
        "{text}"
    );
}

#[test]
fn a_root_that_is_not_a_directory_cannot_be_checked() {
    let mut cmd = Command::new(bin("mfactl"));
    cmd.args(["doctor", "--root", "/nonexistent/mfa-doctor-root"]);
    let out = run(cmd, b"", DEADLINE);
    assert_eq!(out.code(), Some(3), "{out}");
    assert!(
        out.stderr
            .contains("--root /nonexistent/mfa-doctor-root: not a directory"),
        "{out}"
    );
    assert_eq!(out.stdout, "");
}

#[test]
fn without_root_doctor_says_its_checks_are_limited_and_still_runs() {
    let tree = Tree::clean();
    let mut cmd = run_as("nobody", &bin("mfactl"));
    cmd.env_remove("DBUS_SYSTEM_BUS_ADDRESS")
        .args(["doctor", "--json", "--root", tree.root()]);
    let out = run(cmd, b"", DEADLINE);
    let (findings, code) = parse(&out);
    assert_eq!(of(&findings, "privileges").len(), 1, "{findings:#?}");
    // /etc/shadow is 0640: whether nullok matters is unknown, which is a note.
    assert_eq!(of(&findings, "pam-nullok")[0].severity, "note");
    no_errors_or_warnings(&findings);
    assert_eq!(code, Some(0));
}

#[test]
fn a_running_mfad_is_asked_and_a_dead_one_is_an_error() {
    let env = TestEnv::start();
    let tree = Tree::clean();
    let doctor = || parse(&env.mfactl(&["doctor", "--json", "--root", tree.root()]));

    let (findings, code) = doctor();
    assert!(of(&findings, "daemon-skipped").is_empty(), "{findings:#?}");
    no_errors_or_warnings(&findings);
    assert_eq!(code, Some(0), "{findings:#?}");

    // The policy: sudo off (a warning), login optional (a note), a deadline ahead (a note).
    for args in [
        &["policy", "service", "sudo", "off"][..],
        &["policy", "service", "login", "optional"],
        &["policy", "grace", "group:staff", "2099-12-31"],
    ] {
        let out = env.mfactl(args);
        assert!(out.success(), "{out}");
    }
    let (findings, code) = doctor();
    let off = of(&findings, "policy-off");
    assert_eq!(off.len(), 1, "{findings:#?}");
    assert_eq!(off[0].severity, "warning");
    assert!(
        off[0]
            .what
            .starts_with("sudo stacks pam_mfa, but mfad's rule for it is off")
    );
    assert_eq!(of(&findings, "policy-optional")[0].severity, "note");
    let grace = of(&findings, "policy-grace");
    assert!(
        grace[0].what.contains("group staff: 2099-12-31T23:59:59Z"),
        "{grace:#?}"
    );
    assert_eq!(code, Some(1));

    env.kill_mfad();
    let out = env.mfactl(&["doctor", "--json", "--root", tree.root()]);
    let (findings, code) = parse(&out);
    let down = of(&findings, "daemon-reachable");
    assert_eq!(down.len(), 1, "{findings:#?}");
    assert_eq!((down[0].severity.as_str(), &down[0].file), ("error", &None));
    assert!(
        down[0]
            .what
            .starts_with("mfad is not reachable on the bus at unix:path=")
    );
    assert!(
        down[0]
            .what
            .ends_with("every login through pam_mfa is refused until it runs.")
    );
    assert!(down[0].fix.contains("systemctl enable --now mfad"));
    assert_eq!(code, Some(2));
    assert!(out.elapsed < Duration::from_secs(5), "{out}");
}

#[test]
fn a_hung_mfad_is_an_error_within_the_probe_deadline() {
    let env = TestEnv::start();
    let tree = Tree::clean();
    env.stop_mfad();
    let out = env.mfactl(&["doctor", "--json", "--root", tree.root()]);
    env.cont_mfad();
    let (findings, code) = parse(&out);
    let hung = of(&findings, "daemon-reachable");
    assert_eq!(hung.len(), 1, "{findings:#?}");
    assert!(
        hung[0]
            .what
            .contains("no answer within 5 seconds; mfad or the bus is hung"),
        "{}",
        hung[0].what
    );
    assert_eq!(code, Some(2));
    // doctor's own deadline (5 s), not mfactl's usual 25 s.
    assert!(out.elapsed < Duration::from_secs(8), "{out}");
}
