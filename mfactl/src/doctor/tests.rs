//! Shared test helpers (a [`Host`] from files held in memory), the rendering, the exit
//! status, and a clean set-up built from the shipped examples.

use std::path::Path;

use super::daemon::DaemonFacts;
use super::files::{FileFacts, Inspected, Meta, MfadConfig};
use super::fs::MemFs;
use super::*;

/// Debian 12's /etc/pam.d/common-auth as pam-auth-update writes it (comments left out).
pub(crate) const DEBIAN_COMMON_AUTH: &str = "\
auth\t[success=1 default=ignore]\tpam_unix.so nullok
auth\trequisite\t\t\tpam_deny.so
auth\trequired\t\t\tpam_permit.so
auth\toptional\t\t\tpam_cap.so
";

/// Debian 12's /etc/pam.d/common-account (comments left out).
const DEBIAN_COMMON_ACCOUNT: &str = "\
account\t[success=1 new_authtok_reqd=done default=ignore]\tpam_unix.so
account\trequisite\t\t\tpam_deny.so
account\trequired\t\t\tpam_permit.so
";

/// Debian 12's /etc/pam.d/common-session-noninteractive (comments left out).
const DEBIAN_COMMON_SESSION_NONINTERACTIVE: &str = "\
session\t[default=1]\t\t\tpam_permit.so
session\trequisite\t\t\tpam_deny.so
session\trequired\t\t\tpam_permit.so
session\trequired\tpam_unix.so
";

/// The start of Debian 12's /etc/ssh/sshd_config, the lines that matter here.
pub(crate) const DEBIAN_SSHD_CONFIG: &str = "\
Include /etc/ssh/sshd_config.d/*.conf
KbdInteractiveAuthentication no
UsePAM yes
X11Forwarding yes
PrintMotd no
AcceptEnv LANG LC_*
Subsystem\tsftp\t/usr/lib/openssh/sftp-server
";

/// Files whose owners and modes raise nothing.
pub(crate) fn clean_files() -> FileFacts {
    let root_only = |path: &str, mode: u32| Inspected {
        path: PathBuf::from(path),
        meta: Ok(Meta { uid: 0, mode }),
    };
    FileFacts {
        as_root: true,
        db: root_only("/var/lib/mfad/mfa.db", 0o600),
        db_dir: root_only("/var/lib/mfad", 0o700),
        db_sidecars: Vec::new(),
        modules: Vec::new(),
        config_files: Vec::new(),
        mfad_config: MfadConfig {
            file: Inspected {
                path: PathBuf::from("/etc/mfa/mfad.toml"),
                meta: Err(std::io::ErrorKind::NotFound),
            },
            parsed: None,
        },
    }
}

/// A host whose configuration is `fs` (paths as on the host, root `/`), mfad not asked.
pub(crate) fn host(fs: &MemFs) -> Host {
    let root = Root::new(Path::new("/")).expect("/ is absolute");
    Host {
        sshd: sshdconf::read(&root, fs),
        pam: pam::read(&root, fs),
        empty_passwords: pam::read_empty_passwords(&root, fs),
        root,
        daemon: DaemonFacts::Skipped,
        files: clean_files(),
        delivery: delivery::DeliveryFacts::default(),
        now: 1_700_000_000,
    }
}

/// The shipped examples: Debian's sshd_config with the pam_mfa drop-in (its
/// `AuthenticationMethods publickey,keyboard-interactive` line enabled), Debian's
/// common-auth, and the sshd, sudo and login excerpts as the services.
pub(crate) fn shipped_setup() -> MemFs {
    let contrib = Path::new(env!("CARGO_MANIFEST_DIR")).join("../contrib");
    let read = |name: &str| {
        std::fs::read_to_string(contrib.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    let drop_in = read("sshd_config.d/pam_mfa.conf").replace(
        "#AuthenticationMethods publickey,keyboard-interactive",
        "AuthenticationMethods publickey,keyboard-interactive",
    );
    assert!(drop_in.contains("\nAuthenticationMethods publickey,keyboard-interactive"));
    MemFs::default()
        .with("/etc/ssh/sshd_config", DEBIAN_SSHD_CONFIG)
        .with("/etc/ssh/sshd_config.d/pam_mfa.conf", &drop_in)
        .with("/etc/pam.d/common-auth", DEBIAN_COMMON_AUTH)
        .with("/etc/pam.d/common-account", DEBIAN_COMMON_ACCOUNT)
        .with(
            "/etc/pam.d/common-session-noninteractive",
            DEBIAN_COMMON_SESSION_NONINTERACTIVE,
        )
        .with("/etc/pam.d/sshd", &read("pam.d/mfa-sshd.example"))
        .with("/etc/pam.d/sudo", &read("pam.d/mfa-sudo.example"))
        .with("/etc/pam.d/login", &read("pam.d/mfa-login.example"))
        .with(
            "/etc/pam.d/su",
            "auth sufficient pam_rootok.so\n@include common-auth\n",
        )
        .with("/etc/passwd", "root:x:0:0:root:/root:/bin/bash\n")
        .with("/etc/shadow", "root:$y$j9T$abc$def:19000:0:99999:7:::\n")
}

#[test]
fn the_shipped_examples_give_no_errors_and_no_warnings() {
    let host = host(&shipped_setup());
    let findings = run_checks(&host);
    let serious: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.severity != Severity::Note)
        .collect();
    assert!(serious.is_empty(), "{serious:#?}");
    assert_eq!(exit_status(&findings), EXIT_CLEAN);
    // The only note: mfad was not asked.
    let checks: Vec<&str> = findings.iter().map(|f| f.check).collect();
    assert_eq!(checks, ["daemon-skipped"]);
}

fn finding(severity: Severity, file: Option<(&str, Option<usize>)>) -> Finding {
    let f = Finding::new("test", severity, "What goes wrong.", "What to do.");
    match file {
        Some((path, line)) => f.at(Path::new(path), line),
        None => f,
    }
}

#[test]
fn the_exit_status_follows_the_worst_finding() {
    assert_eq!(exit_status(&[]), EXIT_CLEAN);
    assert_eq!(exit_status(&[finding(Severity::Note, None)]), EXIT_CLEAN);
    let warnings = [
        finding(Severity::Note, None),
        finding(Severity::Warning, None),
    ];
    assert_eq!(exit_status(&warnings), EXIT_WARNINGS);
    let errors = [
        finding(Severity::Warning, None),
        finding(Severity::Error, None),
    ];
    assert_eq!(exit_status(&errors), EXIT_ERRORS);
    assert_eq!(
        (EXIT_CLEAN, EXIT_WARNINGS, EXIT_ERRORS, EXIT_CANNOT_CHECK),
        (0, 1, 2, 3)
    );
}

#[test]
fn text_output_has_one_block_per_finding_and_a_summary() {
    let findings = [
        finding(Severity::Error, Some(("/etc/ssh/sshd_config", Some(42)))),
        finding(Severity::Warning, Some(("/etc/pam.d/sudo", None))),
        finding(Severity::Note, None),
    ];
    assert_eq!(
        render_text(&findings),
        "error: /etc/ssh/sshd_config:42: What goes wrong.\n  fix: What to do.\n\n\
         warning: /etc/pam.d/sudo: What goes wrong.\n  fix: What to do.\n\n\
         note: What goes wrong.\n  fix: What to do.\n\n\
         1 error, 1 warning, 1 note.\n"
    );
    assert_eq!(
        render_text(&[finding(Severity::Note, None), finding(Severity::Note, None)]),
        "note: What goes wrong.\n  fix: What to do.\n\nnote: What goes wrong.\n  fix: What \
         to do.\n\nNo errors or warnings (0 errors, 0 warnings, 2 notes).\n"
    );
    assert_eq!(
        render_text(&[]),
        "No errors or warnings (0 errors, 0 warnings, 0 notes).\n"
    );
}

#[test]
fn text_from_configuration_files_cannot_move_the_cursor() {
    let mut f = finding(Severity::Error, Some(("/etc/pam.d/x\u{1b}[2J", Some(1))));
    f.what = "bad \u{1b}[31m line".into();
    let text = render_text(&[f]);
    assert!(!text.contains('\u{1b}'), "{text}");
    assert!(text.contains("\\u{1b}[2J"), "{text}");
}

#[test]
fn json_output_is_one_array_with_the_documented_fields() {
    let findings = [
        finding(Severity::Error, Some(("/etc/ssh/sshd_config", Some(42)))),
        finding(Severity::Note, None),
    ];
    let mut out = Vec::new();
    emit_json(&mut out, &findings).unwrap();
    let value: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        value,
        serde_json::json!([
            {"check": "test", "severity": "error", "file": "/etc/ssh/sshd_config", "line": 42,
             "what": "What goes wrong.", "fix": "What to do."},
            {"check": "test", "severity": "note", "file": null, "line": null,
             "what": "What goes wrong.", "fix": "What to do."},
        ])
    );
}

#[test]
fn findings_are_sorted_by_severity_and_listed_once() {
    let fs = MemFs::default()
        // Two services reach the same broken common-auth line: one finding, both named.
        .with("/etc/pam.d/common-auth", "auth bogus pam_unix.so\n")
        .with(
            "/etc/pam.d/sudo",
            "@include common-auth\nauth required pam_mfa.so\n",
        )
        .with(
            "/etc/pam.d/login",
            "@include common-auth\nauth required pam_mfa.so\n",
        );
    let findings = run_checks(&host(&fs));
    let severities: Vec<Severity> = findings.iter().map(|f| f.severity).collect();
    let mut sorted = severities.clone();
    sorted.sort();
    assert_eq!(severities, sorted);
    let broken: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.check == "pam-syntax")
        .collect();
    assert_eq!(broken.len(), 1, "{broken:#?}");
    assert_eq!(
        broken[0].file.as_deref(),
        Some(Path::new("/etc/pam.d/common-auth"))
    );
    assert_eq!(broken[0].line, Some(1));
    assert!(
        broken[0].what.ends_with("(PAM services: login and sudo.)"),
        "{}",
        broken[0].what
    );
}

#[test]
fn lists_read_as_sentences() {
    assert_eq!(and_list::<&str>(&[]), "");
    assert_eq!(and_list(&["sshd"]), "sshd");
    assert_eq!(and_list(&["sshd", "sudo"]), "sshd and sudo");
    assert_eq!(and_list(&["login", "sshd", "sudo"]), "login, sshd and sudo");
}
