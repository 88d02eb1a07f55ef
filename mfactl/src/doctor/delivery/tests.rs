//! The transport checks: facts read from crafted trees (real files, owners and modes), the
//! checks on crafted facts, and real tries against loopback ports.

use std::fs;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use mfa_deliver::Channel;

use super::*;
use crate::doctor::fs::MemFs;
use crate::doctor::tests::host;

/// A tree whose mfad.toml is `toml`, with `files` (path, text, mode) written under it.
fn tree(toml: &str, files: &[(&str, &str, u32)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let write = |path: &str, text: &str, mode: u32| {
        let at = dir.path().join(path.trim_start_matches('/'));
        fs::create_dir_all(at.parent().unwrap()).unwrap();
        fs::write(&at, text).unwrap();
        fs::set_permissions(&at, fs::Permissions::from_mode(mode)).unwrap();
    };
    write(DEFAULT_CONFIG_PATH, toml, 0o644);
    for (path, text, mode) in files {
        write(path, text, *mode);
    }
    dir
}

fn facts(dir: &tempfile::TempDir) -> DeliveryFacts {
    // Another root than `/`: nothing is tried, whoever runs the test.
    inspect(&Root::new(dir.path()).unwrap(), true)
}

/// A host with these facts and these PAM services (name, auth stack).
fn with_facts(delivery: DeliveryFacts, services: &[(&str, &str)]) -> Host {
    let mut fs = MemFs::default().with("/etc/pam.d/common-auth", "auth required pam_unix.so\n");
    for (name, text) in services {
        fs = fs.with(&format!("/etc/pam.d/{name}"), text);
    }
    let mut host = host(&fs);
    host.delivery = delivery;
    host
}

/// (check, severity, what, fix) of each finding.
fn summary(findings: &[Finding]) -> Vec<(&'static str, Severity, &str, &str)> {
    findings
        .iter()
        .map(|f| (f.check, f.severity, f.what.as_str(), f.fix.as_str()))
        .collect()
}

const EMAIL: &str = "[email]\nsmtp_url = \"smtp://127.0.0.1:25\"\nfrom = \"mfa@host.example\"\n";

#[test]
fn without_email_or_sms_sections_nothing_is_checked_or_said() {
    for toml in [
        "",
        "[otp]\nvalidity_secs = 300\n",
        "[email]\ntimeout_secs = 5\n",
    ] {
        let dir = tree(toml, &[]);
        let facts = facts(&dir);
        assert_eq!(facts.sections, [], "{toml:?}");
        let host = with_facts(
            facts,
            &[("sshd", "auth required pam_mfa.so timeout=1000\n")],
        );
        assert_eq!(check_files(&host), []);
        assert_eq!(check_timeouts(&host), []);
        assert_eq!(check_live(&host), []);
    }
    // A missing or invalid mfad.toml: no sections (an invalid one is mfad-config's finding).
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(facts(&dir).sections, []);
    let dir = tree("[email]\nsmtp_url = 3\n", &[]);
    assert_eq!(facts(&dir).sections, []);
}

#[test]
fn a_root_only_credentials_file_and_a_safe_program_raise_nothing() {
    let toml = format!(
        "{EMAIL}credentials_file = \"/etc/mfa/smtp.cred\"\n\
         [sms]\ncommand = [\"/usr/local/sbin/send-sms\", \"--quiet\"]\ntimeout_secs = 5\n"
    );
    let dir = tree(
        &toml,
        &[
            ("/etc/mfa/smtp.cred", "mfa\nsecret\n", 0o600),
            ("/usr/local/sbin/send-sms", "#!/bin/sh\n", 0o755),
        ],
    );
    let facts = facts(&dir);
    assert_eq!(facts.sections.len(), 2);
    let email = &facts.sections[0];
    assert_eq!(
        (email.transport, email.timeout_secs, email.live.clone()),
        (Transport::Email, 8, Live::NotTried)
    );
    assert_eq!(email.files[0].key, "email.credentials_file");
    assert_eq!(email.files[0].path, dir.path().join("etc/mfa/smtp.cred"));
    let sms = &facts.sections[1];
    assert_eq!((sms.transport, sms.timeout_secs), (Transport::Sms, 5));
    assert_eq!(sms.files[0].role, Role::Program);
    let host = with_facts(facts, &[]);
    assert_eq!(check_files(&host), []);
}

#[test]
fn a_secret_file_others_can_read_is_an_error_with_chmod_600() {
    let toml = format!("{EMAIL}credentials_file = \"/etc/mfa/smtp.cred\"\n");
    for mode in [0o640, 0o604, 0o644] {
        let dir = tree(&toml, &[("/etc/mfa/smtp.cred", "mfa\nsecret\n", mode)]);
        let facts = facts(&dir);
        let config = facts.config.clone();
        let findings = check_files(&with_facts(facts, &[]));
        let path = dir.path().join("etc/mfa/smtp.cred");
        assert_eq!(findings.len(), 1, "{mode:o}");
        let f = &findings[0];
        assert_eq!((f.check, f.severity), ("delivery-file", Severity::Error));
        assert_eq!(f.file.as_deref(), Some(config.as_path()));
        assert!(
            f.what
                .contains(&format!("group or others may access it (mode {mode:04o})")),
            "{}",
            f.what
        );
        assert!(f.what.contains("mfad refuses to start"), "{}", f.what);
        assert_eq!(
            f.fix,
            format!("`chown root:root {0} && chmod 600 {0}`.", path.display())
        );
    }
}

#[test]
fn a_missing_secret_or_ca_file_stops_mfad_and_says_how_to_create_it() {
    let toml = "[email]\nsmtp_url = \"smtp://mail.example?tls=required\"\nfrom = \"mfa@host.example\"\n\
                credentials_file = \"/etc/mfa/smtp.cred\"\ntls_ca_file = \"/etc/mfa/ca.pem\"\n\
                [sms]\ngateway_url = \"https://sms.example/send\"\n\
                auth_header_file = \"/etc/mfa/sms.secret\"\n";
    let dir = tree(toml, &[]);
    let findings = check_files(&with_facts(facts(&dir), &[]));
    let whats: Vec<(&str, &str)> = findings
        .iter()
        .map(|f| (f.what.as_str(), f.fix.as_str()))
        .collect();
    assert_eq!(whats.len(), 3, "{whats:#?}");
    assert!(whats[0].0.starts_with("email.credentials_file names "));
    assert!(
        whats[0]
            .0
            .contains("which does not exist: mfad refuses to start")
    );
    assert!(whats[0].1.contains("user name on the first line"));
    assert!(whats[1].0.starts_with("email.tls_ca_file names "));
    assert!(whats[1].1.starts_with("Put the CA certificate (PEM) there"));
    assert!(whats[2].0.starts_with("sms.auth_header_file names "));
    assert!(whats[2].1.contains("`Authorization: Bearer TOKEN`"));
}

#[test]
fn a_command_that_is_missing_not_executable_or_changeable_by_others_is_an_error() {
    let toml = "[sms]\ncommand = [\"/usr/local/sbin/send-sms\"]\n";
    let program = "/usr/local/sbin/send-sms";
    let dir = tree(toml, &[]);
    let findings = check_files(&with_facts(facts(&dir), &[]));
    assert_eq!(findings.len(), 1);
    assert!(
        findings[0]
            .what
            .ends_with("which does not exist: no code can be sent by text message."),
        "{}",
        findings[0].what
    );
    for (mode, what, fix) in [
        (0o644, "which is not executable", "`chmod 755 "),
        (
            0o775,
            "group or others may change it (mode 0775)",
            "`chown root:root ",
        ),
        (
            0o757,
            "group or others may change it (mode 0757)",
            "`chown root:root ",
        ),
    ] {
        let dir = tree(toml, &[(program, "#!/bin/sh\n", mode)]);
        let findings = check_files(&with_facts(facts(&dir), &[]));
        assert_eq!(findings.len(), 1, "{mode:o}");
        assert!(findings[0].what.contains(what), "{}", findings[0].what);
        assert!(findings[0].fix.starts_with(fix), "{}", findings[0].fix);
    }
}

#[test]
fn files_not_owned_by_root_are_errors_naming_the_owner() {
    let file = |role, mode| NamedFile {
        key: "sms.command",
        role,
        path: "/usr/local/sbin/send-sms".into(),
        meta: Ok(FileMeta {
            uid: 1000,
            mode,
            regular: true,
        }),
    };
    let (what, fix) = file_problem(&file(Role::Program, 0o755)).unwrap();
    assert!(what.contains("is owned by uid 1000, not root"), "{what}");
    assert!(what.contains("reads every code sent"), "{what}");
    assert!(fix.starts_with("`chown root:root /usr/local/sbin/send-sms"));
    let (what, _) = file_problem(&file(Role::Secret, 0o600)).unwrap();
    assert!(
        what.contains("holds a secret but is owned by uid 1000"),
        "{what}"
    );
    // Unknown owner and mode (doctor not root): said elsewhere, not here.
    let mut unknown = file(Role::Secret, 0o600);
    unknown.meta = Err(io::ErrorKind::PermissionDenied);
    assert_eq!(file_problem(&unknown), None);
    let mut dir = file(Role::Trust, 0o755);
    dir.meta = Ok(FileMeta {
        uid: 0,
        mode: 0o755,
        regular: false,
    });
    assert!(file_problem(&dir).unwrap().0.contains("not a regular file"));
}

fn email_section(timeout_secs: u64) -> DeliveryFacts {
    DeliveryFacts {
        config: "/etc/mfa/mfad.toml".into(),
        sections: vec![Section {
            transport: Transport::Email,
            timeout_secs,
            files: Vec::new(),
            live: Live::NotTried,
        }],
    }
}

#[test]
fn a_send_timeout_not_below_the_modules_timeout_is_an_error_on_each_pam_line() {
    let services = [
        (
            "sshd",
            "@include common-auth\nauth required pam_mfa.so timeout=5000\n",
        ),
        (
            "sudo",
            "@include common-auth\nauth required pam_mfa.so debug\n",
        ),
        (
            "login",
            "@include common-auth\nauth required pam_mfa.so timeout=8000\n",
        ),
    ];
    // 8 s against 5000 ms and 8000 ms: errors; against the default 10000 ms: fine.
    let findings = check_timeouts(&with_facts(email_section(8), &services));
    let places: Vec<(String, Option<usize>)> = findings
        .iter()
        .map(|f| (f.file.as_ref().unwrap().display().to_string(), f.line))
        .collect();
    // Services in name order.
    assert_eq!(
        places,
        [
            ("/etc/pam.d/login".to_owned(), Some(2)),
            ("/etc/pam.d/sshd".to_owned(), Some(2))
        ]
    );
    let f = &findings[1];
    assert_eq!(
        summary(&findings)[1],
        (
            "delivery-timeout",
            Severity::Error,
            f.what.as_str(),
            "Give this line `timeout=` above 8000 (at most 30000), or lower email.timeout_secs \
             below 5 s."
        )
    );
    assert!(
        f.what.starts_with(
            "Sending a code by email may take up to email.timeout_secs = 8 s (in \
             /etc/mfa/mfad.toml), but pam_mfa waits only 5000 ms for mfad here"
        ),
        "{}",
        f.what
    );
    assert!(f.what.ends_with("(PAM service: sshd.)"), "{}", f.what);
    // 10 s reaches the default too; 5 s is below every line.
    assert_eq!(
        check_timeouts(&with_facts(email_section(10), &services)).len(),
        3
    );
    assert_eq!(check_timeouts(&with_facts(email_section(4), &services)), []);
    // A malformed timeout= is pam-arguments' finding, not this one.
    let bad = [("sshd", "auth required pam_mfa.so timeout=soon\n")];
    assert_eq!(check_timeouts(&with_facts(email_section(25), &bad)), []);
}

#[test]
fn failed_and_untried_transports_are_reported_at_mfads_configuration() {
    let mut facts = email_section(8);
    facts.sections[0].live = Live::Failed {
        what: "mail server unreachable: refused".into(),
        fix: "Start it.".into(),
    };
    facts.sections.push(Section {
        transport: Transport::Sms,
        timeout_secs: 8,
        files: Vec::new(),
        live: Live::NotRoot,
    });
    let findings = check_live(&with_facts(facts, &[]));
    assert_eq!(
        summary(&findings),
        [
            (
                "delivery-live",
                Severity::Error,
                "mail server unreachable: refused",
                "Start it."
            ),
            (
                "delivery-live",
                Severity::Note,
                "The sms transport was not tried: only root can read what mfad uses to send.",
                "Run `sudo mfactl doctor`."
            )
        ]
    );
    assert!(
        findings
            .iter()
            .all(|f| f.file.as_deref() == Some(Path::new("/etc/mfa/mfad.toml")))
    );
    let mut reached = email_section(8);
    reached.sections[0].live = Live::Reached;
    assert_eq!(check_live(&with_facts(reached, &[])), []);
}

#[test]
fn each_kind_of_failure_gets_its_own_fix() {
    let fix = |e: DeliveryError, transport| match failed(transport, &e, "smtp://h:25", 8) {
        Live::Failed { what, fix } => (what, fix),
        other => panic!("{other:?}"),
    };
    let (what, how) = fix(
        DeliveryError::Unreachable {
            channel: Channel::MailServer,
            detail: "Connection refused (os error 111)".into(),
        },
        Transport::Email,
    );
    assert_eq!(
        what,
        "mail server unreachable: Connection refused (os error 111) (smtp://h:25): codes by \
         email cannot be sent, and users who choose email at login are told so (users with no \
         other method cannot log in)."
    );
    assert!(how.starts_with("Start the mail server"), "{how}");
    let (_, how) = fix(
        DeliveryError::LoginRefused {
            code: "535".into(),
            detail: "bad login".into(),
        },
        Transport::Email,
    );
    assert!(how.contains("email.credentials_file"), "{how}");
    let (_, how) = fix(
        DeliveryError::TimedOut {
            channel: Channel::SmsGateway,
            after: std::time::Duration::from_secs(8),
        },
        Transport::Sms,
    );
    assert!(how.contains("sms.timeout_secs (8 s)"), "{how}");
    let (what, _) = fix(
        DeliveryError::File {
            path: "/etc/mfa/smtp.cred".into(),
            why: "cannot be opened".into(),
        },
        Transport::Email,
    );
    assert!(
        what.starts_with("mfad refuses to start with this [email] section"),
        "{what}"
    );
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[test]
fn trying_a_mail_server_that_is_down_says_unreachable() {
    let email = EmailConfig {
        smtp_url: Some(format!("smtp://127.0.0.1:{}", closed_port())),
        from: Some("mfa@host.example".into()),
        timeout_secs: 5,
        ..EmailConfig::default()
    };
    match try_transport(Transport::Email, &email, &SmsConfig::default()) {
        Live::Failed { what, fix } => {
            assert!(what.starts_with("mail server unreachable"), "{what}");
            assert!(what.contains("(smtp://127.0.0.1:"), "{what}");
            assert!(fix.starts_with("Start the mail server"), "{fix}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn trying_a_gateway_connects_without_sending_and_names_only_host_and_port() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let sms = |port: u16| SmsConfig {
        gateway_url: Some(format!("http://127.0.0.1:{port}/send?api_key=SECRET")),
        timeout_secs: 5,
        ..SmsConfig::default()
    };
    assert_eq!(
        try_transport(Transport::Sms, &EmailConfig::default(), &sms(port)),
        Live::Reached
    );
    drop(listener);
    match try_transport(Transport::Sms, &EmailConfig::default(), &sms(closed_port())) {
        Live::Failed { what, fix } => {
            assert!(what.starts_with("SMS gateway unreachable"), "{what}");
            assert!(what.contains("(127.0.0.1:"), "{what}");
            assert!(!what.contains("SECRET"), "{what}");
            assert!(fix.contains("sms.gateway_url"), "{fix}");
        }
        other => panic!("{other:?}"),
    }
}
