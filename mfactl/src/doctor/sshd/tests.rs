use std::path::{Path, PathBuf};

use super::*;
use crate::doctor::fs::MemFs;
use crate::doctor::sshdconf::split_line;
use crate::doctor::tests::{DEBIAN_SSHD_CONFIG, host};

const MAIN: &str = "/etc/ssh/sshd_config";

/// A host with this sshd_config (plus `extra` files) and a pam_mfa sshd service.
fn with_config(main: &str, extra: &[(&str, &str)]) -> Host {
    with_pam(
        main,
        extra,
        "@include common-auth\nauth required pam_mfa.so\n",
    )
}

fn with_pam(main: &str, extra: &[(&str, &str)], sshd_pam: &str) -> Host {
    let mut fs = MemFs::default()
        .with(MAIN, main)
        .with("/etc/pam.d/sshd", sshd_pam)
        .with("/etc/pam.d/common-auth", "auth required pam_unix.so\n");
    for (path, text) in extra {
        fs = fs.with(path, text);
    }
    host(&fs)
}

/// (check, severity, file, line) of each finding.
fn summary(findings: &[Finding]) -> Vec<(&'static str, Severity, String, Option<usize>)> {
    findings
        .iter()
        .map(|f| {
            let file = f.file.as_deref().map(|p| p.display().to_string());
            (f.check, f.severity, file.unwrap_or_default(), f.line)
        })
        .collect()
}

const GOOD: &str = "UsePAM yes\nKbdInteractiveAuthentication yes\nPasswordAuthentication no\n\
                    AuthenticationMethods publickey,keyboard-interactive\n";

fn all_checks(host: &Host) -> Vec<Finding> {
    [
        check_installed,
        check_problems,
        check_use_pam,
        check_keyboard_interactive,
        check_authentication_methods,
        check_password_authentication,
    ]
    .iter()
    .flat_map(|check| check(host))
    .collect()
}

#[test]
fn lines_split_like_sshd_splits_them() {
    assert_eq!(split_line("  # comment"), None);
    assert_eq!(split_line("   "), None);
    assert_eq!(
        split_line("UsePAM yes # trailing comment"),
        Some(("UsePAM".into(), vec!["yes".into()]))
    );
    assert_eq!(
        split_line("PasswordAuthentication=no"),
        Some(("PasswordAuthentication".into(), vec!["no".into()]))
    );
    assert_eq!(
        split_line("Banner = \"/etc/my banner\""),
        Some(("Banner".into(), vec!["/etc/my banner".into()]))
    );
    assert_eq!(
        split_line("AuthorizedKeysFile 'a b' c\\ d\r"),
        Some((
            "AuthorizedKeysFile".into(),
            vec!["a b".into(), "c d".into()]
        ))
    );
}

#[test]
fn a_correct_configuration_gives_nothing() {
    assert_eq!(all_checks(&with_config(GOOD, &[])), []);
}

#[test]
fn no_sshd_config_is_one_note_and_nothing_else() {
    let host = host(&MemFs::default());
    assert_eq!(
        summary(&all_checks(&host)),
        [("sshd-missing", Severity::Note, MAIN.to_owned(), None)]
    );
}

#[test]
fn use_pam_no_is_an_error_at_its_line() {
    let host = with_config(&GOOD.replace("UsePAM yes", "usepam No"), &[]);
    let findings = check_use_pam(&host);
    assert_eq!(
        summary(&findings),
        [("sshd-use-pam", Severity::Error, MAIN.to_owned(), Some(1))]
    );
    assert!(
        findings[0]
            .what
            .starts_with("`usepam No`: sshd never runs the PAM stack")
    );
    assert!(findings[0].fix.contains("Set `UsePAM yes`"));
}

#[test]
fn missing_use_pam_means_no_and_names_the_main_file() {
    let host = with_config(&GOOD.replace("UsePAM yes\n", ""), &[]);
    let findings = check_use_pam(&host);
    assert_eq!(
        summary(&findings),
        [("sshd-use-pam", Severity::Error, MAIN.to_owned(), None)]
    );
    assert!(findings[0].what.contains("sshd's default is no"));
}

#[test]
fn the_first_value_wins_and_includes_count_where_they_stand() {
    // Debian: the drop-in directory is included at the top, before `KbdInteractive no`.
    let drop_in = (
        "/etc/ssh/sshd_config.d/pam_mfa.conf",
        "KbdInteractiveAuthentication yes\n",
    );
    let host = with_config(DEBIAN_SSHD_CONFIG, &[drop_in]);
    assert_eq!(check_keyboard_interactive(&host), []);

    // Without the drop-in, Debian's own line decides.
    let host = with_config(DEBIAN_SSHD_CONFIG, &[]);
    let findings = check_keyboard_interactive(&host);
    assert_eq!(
        summary(&findings),
        [(
            "sshd-keyboard-interactive",
            Severity::Error,
            MAIN.to_owned(),
            Some(2)
        )]
    );
    assert!(
        findings[0]
            .what
            .contains("cannot ask for the verification code")
    );
}

#[test]
fn relative_includes_are_under_etc_ssh_and_globs_sorted() {
    let main = "Include extra/*.conf\nUsePAM yes\n";
    let host = with_config(
        main,
        &[
            (
                "/etc/ssh/extra/20-b.conf",
                "KbdInteractiveAuthentication yes\n",
            ),
            (
                "/etc/ssh/extra/10-a.conf",
                "ChallengeResponseAuthentication no\n",
            ),
            ("/etc/ssh/extra/.hidden.conf", "UsePAM no\n"),
        ],
    );
    let config = host.sshd.as_ref().unwrap();
    let files: Vec<&Path> = config.files.iter().map(PathBuf::as_path).collect();
    assert_eq!(
        files,
        [
            Path::new(MAIN),
            Path::new("/etc/ssh/extra/10-a.conf"),
            Path::new("/etc/ssh/extra/20-b.conf")
        ]
    );
    // The deprecated name sets the same option, and 10-a.conf comes first.
    let findings = check_keyboard_interactive(&host);
    assert_eq!(
        summary(&findings),
        [(
            "sshd-keyboard-interactive",
            Severity::Error,
            "/etc/ssh/extra/10-a.conf".to_owned(),
            Some(1)
        )]
    );
    assert!(
        findings[0]
            .what
            .starts_with("`ChallengeResponseAuthentication no`")
    );
    assert_eq!(check_use_pam(&host), []);
}

#[test]
fn a_match_block_hole_is_reported_at_its_line_for_those_connections() {
    let main = format!("{GOOD}\nMatch User backup\n    AuthenticationMethods publickey\n");
    let findings = check_authentication_methods(&with_config(&main, &[]));
    assert_eq!(
        summary(&findings),
        [(
            "sshd-authentication-methods",
            Severity::Error,
            MAIN.to_owned(),
            Some(7)
        )]
    );
    assert!(
        findings[0].what.starts_with(
            "For connections matching `Match User backup`: `AuthenticationMethods publickey`"
        ),
        "{}",
        findings[0].what
    );
}

#[test]
fn a_match_block_does_not_hide_a_global_hole() {
    let main = "UsePAM yes\nKbdInteractiveAuthentication no\nMatch Address 10.0.0.0/8\n  \
                KbdInteractiveAuthentication yes\n";
    let findings = check_keyboard_interactive(&with_config(main, &[]));
    assert_eq!(
        summary(&findings),
        [(
            "sshd-keyboard-interactive",
            Severity::Error,
            MAIN.to_owned(),
            Some(2)
        )]
    );
    assert!(!findings[0].what.starts_with("For connections"));
}

#[test]
fn a_block_turning_a_setting_on_is_blamed_at_the_block() {
    // Globally keys are off, so no AuthenticationMethods is needed; the block turns them on.
    let main = "UsePAM yes\nPubkeyAuthentication no\nPasswordAuthentication no\n\
                Match Group admins\n  PubkeyAuthentication yes\n";
    let findings = check_authentication_methods(&with_config(main, &[]));
    assert_eq!(
        summary(&findings),
        [(
            "sshd-authentication-methods",
            Severity::Warning,
            MAIN.to_owned(),
            Some(5)
        )]
    );
    assert!(
        findings[0]
            .what
            .starts_with("For connections matching `Match Group admins`")
    );
}

#[test]
fn a_match_in_an_included_file_ends_with_that_file() {
    let main = "Include /etc/ssh/sshd_config.d/*.conf\nAuthenticationMethods publickey\n\
                UsePAM yes\n";
    let drop_in = (
        "/etc/ssh/sshd_config.d/x.conf",
        "Match User alice\n  Banner none\n",
    );
    let findings = check_authentication_methods(&with_config(main, &[drop_in]));
    // Line 2 of the main file is global again: no "For connections matching".
    assert_eq!(
        summary(&findings),
        [(
            "sshd-authentication-methods",
            Severity::Error,
            MAIN.to_owned(),
            Some(2)
        )]
    );
    assert!(
        findings[0]
            .what
            .starts_with("`AuthenticationMethods publickey`: the list")
    );
}

#[test]
fn without_authentication_methods_a_key_alone_logs_in() {
    for main in [
        "UsePAM yes\n",
        "UsePAM yes\nAuthenticationMethods any\n",
        "UsePAM yes\nPubkeyAuthentication yes\n",
    ] {
        let findings = check_authentication_methods(&with_config(main, &[]));
        assert_eq!(findings.len(), 1, "{main}: {findings:#?}");
        assert_eq!(findings[0].severity, Severity::Warning);
        assert!(
            findings[0].what.contains("a public key alone logs in"),
            "{main}"
        );
        assert!(
            findings[0]
                .fix
                .contains("AuthenticationMethods publickey,keyboard-interactive")
        );
    }
    // Keys off: nothing to say.
    let host = with_config("UsePAM yes\nPubkeyAuthentication no\n", &[]);
    assert_eq!(check_authentication_methods(&host), []);
}

#[test]
fn every_list_must_go_through_keyboard_interactive() {
    let check = |methods: &str| {
        let main = format!("UsePAM yes\nAuthenticationMethods {methods}\n");
        check_authentication_methods(&with_config(&main, &[]))
    };
    assert_eq!(check("publickey,keyboard-interactive"), []);
    assert_eq!(check("keyboard-interactive"), []);
    assert_eq!(
        check("keyboard-interactive:pam publickey,keyboard-interactive"),
        []
    );
    let findings = check("publickey,keyboard-interactive publickey");
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert!(
        findings[0]
            .what
            .contains("the list `publickey` logs in without")
    );
    assert_eq!(findings[0].line, Some(2));
    let findings = check("keyboard-interactive:bsdauth");
    assert_eq!(findings.len(), 1, "{findings:#?}");
    let findings = check("publickey password");
    let whats: Vec<&str> = findings.iter().map(|f| f.what.as_str()).collect();
    assert_eq!(findings.len(), 2, "{whats:#?}");
    assert!(whats[0].contains("the list `publickey` logs in without keyboard-interactive"));
    assert!(whats[1].contains("the list `password` reaches PAM only through sshd's password"));
    // A list naming a method that is off can never complete: not a hole.
    let main = "UsePAM yes\nPasswordAuthentication no\nAuthenticationMethods \
                publickey,keyboard-interactive password\n";
    assert_eq!(check_authentication_methods(&with_config(main, &[])), []);
}

const SINGLE_PROMPT_PAM: &str = "auth required pam_mfa.so single_prompt\n\
                                 auth [success=1 default=ignore] pam_unix.so try_first_pass\n\
                                 auth requisite pam_deny.so\nauth required pam_permit.so\n";

#[test]
fn single_prompt_takes_the_code_through_the_password_method() {
    let main = "UsePAM yes\nPasswordAuthentication yes\nKbdInteractiveAuthentication no\n\
                AuthenticationMethods publickey,password\n";
    let host = with_pam(main, &[], SINGLE_PROMPT_PAM);
    assert!(host.pam.single_prompt("sshd"));
    let findings = all_checks(&host);
    assert_eq!(
        summary(&findings),
        [(
            "sshd-keyboard-interactive",
            Severity::Note,
            MAIN.to_owned(),
            Some(3)
        )]
    );
    // The same file without single_prompt: keyboard-interactive off is an error, and
    // `publickey,password` cannot carry the code.
    let host = with_pam(main, &[], &SINGLE_PROMPT_PAM.replace(" single_prompt", ""));
    let findings = all_checks(&host);
    let checks: Vec<(&str, Severity)> = findings.iter().map(|f| (f.check, f.severity)).collect();
    assert_eq!(
        checks,
        [
            ("sshd-keyboard-interactive", Severity::Error),
            ("sshd-authentication-methods", Severity::Error),
            ("sshd-password-authentication", Severity::Note),
        ]
    );
}

#[test]
fn password_authentication_is_a_note_only_where_it_can_be_used() {
    let findings = check_password_authentication(&with_config("UsePAM yes\n", &[]));
    assert_eq!(
        summary(&findings),
        [(
            "sshd-password-authentication",
            Severity::Note,
            MAIN.to_owned(),
            None
        )]
    );
    assert!(findings[0].fix.contains("PasswordAuthentication no"));
    let main = "UsePAM yes\nPasswordAuthentication yes\n";
    assert_eq!(
        check_password_authentication(&with_config(main, &[]))[0].line,
        Some(2)
    );
    // Lists that never name password: never used.
    let main = "UsePAM yes\nAuthenticationMethods publickey,keyboard-interactive\n";
    assert_eq!(check_password_authentication(&with_config(main, &[])), []);
    let main = "UsePAM yes\nPasswordAuthentication no\n";
    assert_eq!(check_password_authentication(&with_config(main, &[])), []);
}

#[test]
fn include_loops_unreadable_files_and_bad_values_are_errors() {
    let main = "Include /etc/ssh/loop.conf\nUsePAM maybe\n";
    let host = with_config(
        main,
        &[("/etc/ssh/loop.conf", "Include /etc/ssh/sshd_config\n")],
    );
    let findings = check_problems(&host);
    assert_eq!(
        summary(&findings),
        [
            (
                "sshd-include",
                Severity::Error,
                "/etc/ssh/loop.conf".to_owned(),
                Some(1)
            ),
            ("sshd-value", Severity::Error, MAIN.to_owned(), Some(2)),
        ]
    );
    assert!(findings[0].what.contains("an Include loop"));
    assert!(
        findings[1]
            .what
            .starts_with("`UsePAM maybe`: sshd accepts only yes or no")
    );
    // The unknown value counts as sshd's default (no) for the other checks.
    assert_eq!(check_use_pam(&host).len(), 1);
}

#[test]
fn permit_empty_passwords_is_read_from_the_global_settings() {
    let host = with_config("UsePAM yes\n", &[]);
    assert!(!permits_empty_passwords(host.sshd.as_ref()));
    let host = with_config("UsePAM yes\nPermitEmptyPasswords yes\n", &[]);
    assert!(permits_empty_passwords(host.sshd.as_ref()));
    assert!(!permits_empty_passwords(None));
}
