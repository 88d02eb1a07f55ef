use std::path::Path;

use super::*;
use crate::doctor::fs::MemFs;
use crate::doctor::pamargs::{MODULE_ARGUMENTS, check_arguments, check_nullok};
use crate::doctor::pamcontrol::{check_controls, check_order};
use crate::doctor::tests::{DEBIAN_COMMON_AUTH, host};

/// Debian's common-auth plus these files under /etc/pam.d, and an sshd_config.
fn setup(files: &[(&str, &str)]) -> MemFs {
    let mut fs = MemFs::default()
        .with("/etc/pam.d/common-auth", DEBIAN_COMMON_AUTH)
        .with("/etc/ssh/sshd_config", "UsePAM yes\n");
    for (name, text) in files {
        fs = fs.with(&format!("/etc/pam.d/{name}"), text);
    }
    fs
}

/// (check, severity, file name, line) of each finding.
fn places(findings: &[Finding]) -> Vec<(&'static str, Severity, String, Option<usize>)> {
    findings
        .iter()
        .map(|f| {
            let name = f
                .file
                .as_deref()
                .and_then(Path::file_name)
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            (f.check, f.severity, name, f.line)
        })
        .collect()
}

const GOOD_SSHD: &str = "@include common-auth\nauth required pam_mfa.so\n";

#[test]
fn services_are_the_named_ones_and_those_stacking_pam_mfa() {
    let host = host(&setup(&[
        ("sshd", GOOD_SSHD),
        ("sudo", "@include common-auth\n"),
        ("sudo-i", "@include sudo\n"),
        ("chfn", "auth required pam_mfa.so\n"),
        ("chsh", "@include common-auth\n"),
        ("vpn", "auth include sshd\n"),
    ]));
    let names: Vec<&str> = host.pam.services.iter().map(|s| s.name.as_str()).collect();
    // sshd is included by vpn but named; sudo is named; common-auth is a piece; chsh does
    // not stack pam_mfa; vpn stacks it through sshd.
    assert_eq!(names, ["chfn", "sshd", "sudo", "vpn"]);
    let stacking: Vec<&str> = host.pam.stacking().map(|s| s.name.as_str()).collect();
    assert_eq!(stacking, ["chfn", "sshd", "vpn"]);
}

#[test]
fn sshd_sudo_and_login_without_pam_mfa_are_warnings() {
    let host = host(&setup(&[
        ("sshd", GOOD_SSHD),
        ("sudo", "@include common-auth\n@include common-account\n"),
        ("login", "@include common-auth\n"),
        ("su", "@include common-auth\n"),
    ]));
    let findings = check_services_without_mfa(&host);
    assert_eq!(
        places(&findings),
        [
            ("pam-missing", Severity::Warning, "sudo".into(), None),
            ("pam-missing", Severity::Warning, "login".into(), None),
        ]
    );
    assert!(
        findings[0]
            .what
            .contains("logins through sudo ask for no second factor")
    );
    assert!(findings[0].fix.contains("auth required pam_mfa.so"));
}

#[test]
fn pam_mfa_in_common_auth_counts_for_every_service_including_it() {
    let common = format!("{DEBIAN_COMMON_AUTH}auth required pam_mfa.so\n");
    let fs = setup(&[
        ("sshd", "@include common-auth\n"),
        ("sudo", "@include common-auth\n"),
    ])
    .with("/etc/pam.d/common-auth", &common);
    let host = host(&fs);
    assert_eq!(check_services_without_mfa(&host), []);
    assert_eq!(check_controls(&host), []);
    assert_eq!(check_order(&host), []);
}

#[test]
fn optional_and_sufficient_pam_mfa_let_a_wrong_code_in() {
    for control in ["optional", "sufficient", "[success=ok default=ignore]"] {
        let sshd = format!("@include common-auth\nauth {control} pam_mfa.so\n");
        let findings = check_controls(&host(&setup(&[("sshd", &sshd)])));
        assert_eq!(
            places(&findings),
            [("pam-control", Severity::Error, "sshd".into(), Some(2))],
            "{control}"
        );
        assert!(
            findings[0].what.starts_with(&format!(
                "pam_mfa is `{control}` here: the stack ignores its failure, so a wrong code \
                 still logs in."
            )),
            "{}",
            findings[0].what
        );
        assert!(findings[0].what.ends_with("(PAM service: sshd.)"));
        assert!(findings[0].fix.starts_with("Use `required`"));
    }
}

#[test]
fn an_ignored_unavailable_daemon_fails_open() {
    let sshd =
        "@include common-auth\nauth [success=ok authinfo_unavail=ignore default=bad] pam_mfa.so\n";
    let findings = check_controls(&host(&setup(&[("sshd", sshd)])));
    assert_eq!(
        places(&findings),
        [("pam-control", Severity::Error, "sshd".into(), Some(2))]
    );
    assert!(
        findings[0].what.contains("fails open"),
        "{}",
        findings[0].what
    );
}

#[test]
fn sufficient_before_the_password_lets_a_code_alone_in() {
    let sshd = "auth sufficient pam_mfa.so\n@include common-auth\n";
    let findings = check_controls(&host(&setup(&[("sshd", sshd)])));
    let whats: Vec<&str> = findings.iter().map(|f| f.what.as_str()).collect();
    assert_eq!(
        places(&findings),
        [
            ("pam-control", Severity::Error, "sshd".into(), Some(1)),
            ("pam-control", Severity::Error, "sshd".into(), Some(1)),
        ],
        "{whats:#?}"
    );
    // A failure is ignored too (the password then decides): both holes are named.
    assert!(whats[0].contains("a wrong code still logs in"));
    assert!(whats[1].contains("a verified code alone logs in"));
}

#[test]
fn an_optional_password_module_lets_a_code_alone_in_and_is_blamed() {
    let sshd = "auth optional pam_unix.so\nauth required pam_mfa.so\n";
    let findings = check_controls(&host(&setup(&[("sshd", sshd)])));
    assert_eq!(
        places(&findings),
        [("pam-control", Severity::Error, "sshd".into(), Some(1))]
    );
    assert!(
        findings[0]
            .what
            .starts_with("`optional pam_unix.so` lets a wrong password through")
    );
}

#[test]
fn a_password_module_ending_the_stack_before_pam_mfa_is_an_error_at_its_line() {
    let system_auth = "auth required pam_env.so\nauth sufficient pam_unix.so try_first_pass nullok\n\
                       auth required pam_deny.so\n";
    let sshd = "auth include system-auth\nauth required pam_mfa.so\n";
    let findings = check_controls(&host(&setup(&[
        ("sshd", sshd),
        ("system-auth", system_auth),
    ])));
    assert_eq!(
        places(&findings),
        [(
            "pam-control",
            Severity::Error,
            "system-auth".into(),
            Some(2)
        )]
    );
    assert!(
        findings[0]
            .what
            .contains("pam_mfa (/etc/pam.d/sshd:2) runs: pam_mfa is never asked")
    );
    assert!(findings[0].fix.contains("`substack` instead of `include`"));
}

#[test]
fn pam_permit_before_pam_mfa_is_an_error_and_other_skips_are_notes() {
    let sshd = "auth sufficient pam_permit.so\n@include common-auth\nauth required pam_mfa.so\n";
    let findings = check_controls(&host(&setup(&[("sshd", sshd)])));
    assert_eq!(
        places(&findings),
        [("pam-control", Severity::Error, "sshd".into(), Some(1))]
    );
    assert!(
        findings[0]
            .what
            .contains("anyone logs in without a password or a code")
    );

    let login = "@include common-auth\nauth [success=1 default=ignore] pam_succeed_if.so uid eq 0\n\
                 auth required pam_mfa.so\n";
    let findings = check_controls(&host(&setup(&[("login", login)])));
    assert_eq!(
        places(&findings),
        [("pam-exemption", Severity::Note, "login".into(), Some(2))]
    );
    assert!(
        findings[0]
            .what
            .starts_with("When pam_succeed_if.so succeeds")
    );
}

#[test]
fn su_skipping_root_through_pam_rootok_is_normal() {
    let su = "auth sufficient pam_rootok.so\n@include common-auth\nauth required pam_mfa.so\n";
    let host = host(&setup(&[("su", su)]));
    assert_eq!(check_controls(&host), []);
    assert_eq!(check_order(&host), []);
}

#[test]
fn pam_mfa_before_the_password_is_a_warning() {
    let sudo = "auth required pam_mfa.so\n@include common-auth\n";
    let findings = check_order(&host(&setup(&[("sudo", sudo)])));
    assert_eq!(
        places(&findings),
        [("pam-order", Severity::Warning, "sudo".into(), Some(1))]
    );
    assert!(
        findings[0]
            .what
            .contains("before the password check (pam_unix.so at /etc/pam.d/common-auth:1)"),
        "{}",
        findings[0].what
    );
}

#[test]
fn single_prompt_must_come_first_and_hand_the_password_on() {
    let shipped = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../contrib/pam.d/mfa-sshd-single-prompt.example"),
    );
    // The shipped single-prompt example (when present) is correct.
    if let Ok(text) = shipped {
        let host = host(&setup(&[("sshd", &text)]));
        assert!(host.pam.single_prompt("sshd"));
        assert_eq!(check_order(&host), []);
        assert_eq!(check_controls(&host), []);
    }
    let good = "auth required pam_mfa.so single_prompt\n\
                auth [success=1 default=ignore] pam_unix.so use_first_pass\n\
                auth requisite pam_deny.so\nauth required pam_permit.so\n";
    assert_eq!(check_order(&host(&setup(&[("sshd", good)]))), []);

    let no_first_pass = good.replace(" use_first_pass", "");
    let findings = check_order(&host(&setup(&[("sshd", &no_first_pass)])));
    assert_eq!(
        places(&findings),
        [("pam-order", Severity::Error, "sshd".into(), Some(2))]
    );
    assert!(
        findings[0]
            .what
            .contains("neither use_first_pass nor try_first_pass")
    );

    let after = "@include common-auth\nauth required pam_mfa.so single_prompt\n";
    let findings = check_order(&host(&setup(&[("sshd", after)])));
    assert_eq!(
        places(&findings),
        [("pam-order", Severity::Error, "sshd".into(), Some(2))]
    );
    assert!(findings[0].what.contains("asks for the password first"));

    let alone = "auth required pam_mfa.so single_prompt\n";
    let findings = check_order(&host(&setup(&[("sshd", alone)])));
    assert_eq!(
        places(&findings),
        [("pam-order", Severity::Warning, "sshd".into(), Some(1))]
    );
}

#[test]
fn nullok_matters_only_with_accounts_without_a_password() {
    let files = [("sudo", GOOD_SSHD), ("sshd", GOOD_SSHD)];
    // No such account: nothing.
    let fs = setup(&files)
        .with("/etc/passwd", "root:x:0:0::/root:/bin/sh\n")
        .with("/etc/shadow", "root:*:1::::::\n");
    assert_eq!(check_nullok(&host(&fs)), []);
    // An account with an empty password: a warning at common-auth's pam_unix line, for sudo
    // only (sshd refuses empty passwords unless PermitEmptyPasswords is yes).
    let fs = fs.with("/etc/shadow", "root:*:1::::::\nguest::19000:0:99999:7:::\n");
    let findings = check_nullok(&host(&fs));
    assert_eq!(
        places(&findings),
        [(
            "pam-nullok",
            Severity::Warning,
            "common-auth".into(),
            Some(1)
        )]
    );
    assert!(
        findings[0]
            .what
            .contains("this account has an empty password: guest")
    );
    assert!(
        findings[0].what.ends_with("(PAM service: sudo.)"),
        "{}",
        findings[0].what
    );
    let fs = fs.with(
        "/etc/ssh/sshd_config",
        "UsePAM yes\nPermitEmptyPasswords yes\n",
    );
    let findings = check_nullok(&host(&fs));
    assert!(
        findings[0].what.ends_with("(PAM services: sshd and sudo.)"),
        "{}",
        findings[0].what
    );
    // An empty field in /etc/passwd counts too.
    let fs = setup(&files).with("/etc/passwd", "nopw::1000:1000::/home/nopw:/bin/sh\n");
    assert!(check_nullok(&host(&fs))[0].what.contains("nopw"));
}

#[test]
fn empty_passwords_are_read_from_passwd_and_shadow() {
    let root = Root::new(Path::new("/")).unwrap();
    let fs = MemFs::default()
        .with(
            "/etc/passwd",
            "a::1:1::/:/bin/sh\nb:x:2:2::/:/bin/sh\nc:x:3:3::/:/bin/sh\n",
        )
        .with("/etc/shadow", "b:!:1::::::\nc::1::::::\n");
    assert_eq!(
        read_empty_passwords(&root, &fs),
        EmptyPasswords::Known(vec!["a".into(), "c".into()])
    );
}

#[test]
fn unknown_repeated_and_malformed_arguments_are_errors() {
    let check = |args: &str| {
        let sshd = format!("@include common-auth\nauth required pam_mfa.so {args}\n");
        check_arguments(&host(&setup(&[("sshd", &sshd)])))
    };
    assert_eq!(check(""), []);
    assert_eq!(
        check(
            "debug timeout=3000 fido2_timeout=45000 single_prompt \
             bus=unix:path=/run/dbus/system_bus_socket"
        ),
        []
    );
    for (args, why) in [
        ("nullok", "pam_mfa does not know the argument `nullok`"),
        ("debug debug", "`debug` is given twice"),
        ("debug=1", "`debug` takes no value"),
        ("timeout", "`timeout` needs a value"),
        ("timeout=0", "the timeout must be 1 to 30000 milliseconds"),
        (
            "timeout=60000",
            "the timeout must be 1 to 30000 milliseconds",
        ),
        ("bus=tcp:host=x,port=1", "only one unix: address"),
        ("fido2_timeout", "`fido2_timeout` needs a value"),
        (
            "fido2_timeout=999",
            "the FIDO2 timeout must be 1000 to 120000 milliseconds",
        ),
        (
            "fido2_timeout=30s",
            "the FIDO2 timeout must be 1000 to 120000 milliseconds",
        ),
    ] {
        let findings = check(args);
        assert_eq!(
            places(&findings),
            [("pam-arguments", Severity::Error, "sshd".into(), Some(2))],
            "{args}"
        );
        assert!(
            findings[0].what.contains(why),
            "{args}: {}",
            findings[0].what
        );
        assert!(
            findings[0]
                .what
                .contains("every login through this line fails")
        );
    }
    let findings = check("bus=unix:path=/tmp/test-bus");
    assert_eq!(
        places(&findings),
        [("pam-bus", Severity::Note, "sshd".into(), Some(2))]
    );
    assert!(
        findings[0]
            .what
            .contains("`unix:path=/tmp/test-bus`, not on the system bus")
    );
}

#[test]
fn pam_mfa_outside_the_auth_stack_fails_the_login() {
    let sshd = "@include common-auth\nauth required pam_mfa.so\naccount required pam_mfa.so\n\
                session optional pam_mfa.so\n";
    let findings = check_types(&host(&setup(&[("sshd", sshd)])));
    assert_eq!(
        places(&findings),
        [
            ("pam-type", Severity::Error, "sshd".into(), Some(3)),
            ("pam-type", Severity::Note, "sshd".into(), Some(4)),
        ]
    );
    assert!(findings[0].what.contains("listed under `account`"));
}

#[test]
fn broken_lines_in_the_stack_are_errors() {
    let fs = setup(&[("sshd", "@include common-auth\nauth requird pam_mfa.so\n")]);
    let findings = check_problems(&host(&fs));
    assert_eq!(
        places(&findings),
        [("pam-syntax", Severity::Error, "sshd".into(), Some(2))]
    );
    assert!(findings[0].what.contains("unknown control `requird`"));
    let findings = check_problems(&host(&MemFs::default()));
    assert_eq!(
        places(&findings),
        [("pam-directory", Severity::Error, "pam.d".into(), None)]
    );
}

/// The keys of `ARGUMENTS` in pam_mfa/src/args.rs and whether each takes a value, read from
/// the source (the module is a cdylib this crate cannot link).
fn module_arguments_in_source() -> Vec<(String, bool)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../pam_mfa/src/args.rs");
    let text = std::fs::read_to_string(&path).expect("pam_mfa/src/args.rs");
    let start = text
        .find("pub const ARGUMENTS")
        .expect("ARGUMENTS in args.rs");
    let table = &text[start..start + text[start..].find("\n];").expect("end of ARGUMENTS")];
    let mut out = Vec::new();
    let mut key: Option<String> = None;
    for line in table.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("key: \"") {
            key = rest.split('"').next().map(str::to_owned);
        } else if let Some(rest) = line.strip_prefix("value: ") {
            let takes_value = rest.starts_with("Some(");
            out.push((key.take().expect("key before value"), takes_value));
        }
    }
    out.sort();
    out
}

#[test]
fn the_argument_list_agrees_with_the_module() {
    let mut ours: Vec<(String, bool)> = MODULE_ARGUMENTS
        .iter()
        .map(|(k, v)| ((*k).to_owned(), *v))
        .collect();
    ours.sort();
    let theirs = module_arguments_in_source();
    assert!(theirs.len() >= 3, "{theirs:?}");
    assert_eq!(
        ours, theirs,
        "update MODULE_ARGUMENTS to match pam_mfa/src/args.rs"
    );
}
