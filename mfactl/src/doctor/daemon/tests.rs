use mfa_proto::{GraceDeadline, ServicePolicy};

use super::*;
use crate::doctor::fs::MemFs;
use crate::doctor::tests::{DEBIAN_COMMON_AUTH, host};

const NOW: i64 = 1_700_000_000;

/// sshd, sudo and login stacking pam_mfa (or none of them), and these daemon facts.
fn with_daemon(stacked: bool, daemon: DaemonFacts) -> Host {
    let line = if stacked {
        "auth required pam_mfa.so\n"
    } else {
        ""
    };
    let service = format!("@include common-auth\n{line}");
    let fs = MemFs::default()
        .with("/etc/pam.d/common-auth", DEBIAN_COMMON_AUTH)
        .with("/etc/pam.d/sshd", &service)
        .with("/etc/pam.d/sudo", &service)
        .with("/etc/pam.d/login", &service);
    let mut host = host(&fs);
    host.daemon = daemon;
    host.now = NOW;
    host
}

fn me(uid: u32) -> WhoAmI {
    WhoAmI {
        uid,
        user: "root".into(),
        admin: uid == 0,
    }
}

fn reachable(policy: Result<PolicyOverview, String>) -> DaemonFacts {
    DaemonFacts::Reachable {
        bus: "the system bus".into(),
        owner_uid: Some(0),
        caller: me(0),
        policy,
    }
}

fn rule(service: &str, mode: &str) -> ServicePolicy {
    ServicePolicy {
        service: service.into(),
        mode: mode.into(),
        methods: Vec::new(),
    }
}

#[test]
fn an_unreachable_daemon_is_an_error_when_pam_mfa_is_stacked() {
    let unreachable = DaemonFacts::Unreachable {
        bus: "the system bus".into(),
        detail: "The name org.pam_mfa.Mfad was not provided by any .service files".into(),
    };
    let findings = check_reachable(&with_daemon(true, unreachable.clone()));
    assert_eq!(findings.len(), 1);
    assert_eq!(
        (findings[0].check, findings[0].severity, &findings[0].file),
        ("daemon-reachable", Severity::Error, &None)
    );
    assert_eq!(
        findings[0].what,
        "mfad is not reachable on the system bus (The name org.pam_mfa.Mfad was not provided \
         by any .service files): every login through pam_mfa is refused until it runs."
    );
    assert!(findings[0].fix.contains("systemctl enable --now mfad"));
    // Nothing stacks pam_mfa yet: logins are not affected.
    let findings = check_reachable(&with_daemon(false, unreachable));
    assert_eq!(findings[0].severity, Severity::Warning);
    assert!(findings[0].what.contains("logins are not affected"));
}

#[test]
fn a_daemon_that_answers_raises_nothing_unless_its_owner_is_not_root() {
    let host = with_daemon(true, reachable(Ok(PolicyOverview::default())));
    assert_eq!(check_reachable(&host), []);
    assert_eq!(check_policy(&host), []);
    let host = with_daemon(
        true,
        DaemonFacts::Reachable {
            bus: "the bus at unix:path=/tmp/x".into(),
            owner_uid: Some(1000),
            caller: me(0),
            policy: Ok(PolicyOverview::default()),
        },
    );
    let findings = check_reachable(&host);
    assert_eq!(findings.len(), 1);
    assert_eq!(
        (findings[0].check, findings[0].severity),
        ("daemon-owner", Severity::Error)
    );
    assert!(
        findings[0]
            .what
            .contains("owned by a process of uid 1000, not root")
    );
}

#[test]
fn not_asking_the_daemon_is_said() {
    let findings = check_reachable(&with_daemon(true, DaemonFacts::Skipped));
    assert_eq!(findings.len(), 1);
    assert_eq!(
        (findings[0].check, findings[0].severity),
        ("daemon-skipped", Severity::Note)
    );
    assert_eq!(check_policy(&with_daemon(true, DaemonFacts::Skipped)), []);
}

#[test]
fn optional_and_off_rules_of_stacking_services_are_named() {
    let policy = PolicyOverview {
        services: vec![
            rule("*", "off"),
            rule("sshd", "optional"),
            rule("cron", "off"),
        ],
        ..PolicyOverview::default()
    };
    let findings = check_policy(&with_daemon(true, reachable(Ok(policy))));
    let summary: Vec<(&str, Severity)> = findings.iter().map(|f| (f.check, f.severity)).collect();
    assert_eq!(
        summary,
        [
            ("policy-off", Severity::Warning),
            ("policy-optional", Severity::Note)
        ]
    );
    assert_eq!(
        findings[1].what,
        "mfad's rule for sshd is optional (its own rule): users without a token log in with \
         the password alone."
    );
    assert_eq!(
        findings[0].what,
        "login and sudo stack pam_mfa, but mfad's rule for them is off (the '*' rule): nobody \
         is asked for a code there, except users who turned on always-require."
    );
    assert!(
        findings[0]
            .fix
            .contains("mfactl policy service login required")
    );
}

#[test]
fn only_deadlines_still_running_are_noted() {
    let policy = PolicyOverview {
        grace: vec![
            GraceDeadline {
                subject: "alice".into(),
                until: NOW - 1,
            },
            GraceDeadline {
                subject: "group:staff".into(),
                until: 1_767_225_599,
            },
        ],
        ..PolicyOverview::default()
    };
    let findings = check_policy(&with_daemon(true, reachable(Ok(policy))));
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert_eq!(
        (findings[0].check, findings[0].severity),
        ("policy-grace", Severity::Note)
    );
    assert!(
        findings[0].what.starts_with(
            "Enrollment deadline for the members of group staff: 2025-12-31T23:59:59Z."
        ),
        "{}",
        findings[0].what
    );
    assert!(
        findings[0]
            .fix
            .contains("mfactl policy grace group:staff none")
    );
}

#[test]
fn a_policy_mfad_would_not_show_is_a_note_not_a_failure() {
    let host = with_daemon(
        true,
        reachable(Err("uid 1000 may not read the policy".into())),
    );
    let findings = check_policy(&host);
    assert_eq!(findings.len(), 1);
    assert_eq!(
        (findings[0].check, findings[0].severity),
        ("daemon-policy", Severity::Note)
    );
    assert!(
        findings[0]
            .what
            .contains("(uid 1000 may not read the policy)")
    );
}

#[test]
fn an_unreachable_bus_is_found_in_bounded_time() {
    let address: Address = "unix:path=/nonexistent/mfa-doctor-test-socket"
        .parse()
        .unwrap();
    let choice = BusChoice::Ask {
        shown: address.to_string(),
        address,
        system: false,
    };
    let started = std::time::Instant::now();
    let facts = probe(&choice);
    assert!(started.elapsed() < PROBE_TIMEOUT, "{:?}", started.elapsed());
    let DaemonFacts::Unreachable { bus, detail } = facts else {
        panic!("{facts:?}");
    };
    assert_eq!(
        bus,
        "the bus at unix:path=/nonexistent/mfa-doctor-test-socket"
    );
    assert!(detail.contains("No such file or directory"), "{detail}");
}

#[test]
fn with_another_root_mfad_is_asked_only_on_a_named_bus() {
    let image = Root::new(std::path::Path::new("/srv/image")).unwrap();
    let host_root = Root::new(std::path::Path::new("/")).unwrap();
    let named = BusChoice::choose(Some("unix:path=/tmp/bus"), &image).unwrap();
    assert!(matches!(named, BusChoice::Ask { system: false, .. }));
    let on_host = BusChoice::choose(Some("unix:path=/tmp/bus"), &host_root).unwrap();
    assert!(matches!(on_host, BusChoice::Ask { .. }));
    if std::env::var_os("DBUS_SYSTEM_BUS_ADDRESS").is_none() {
        assert!(matches!(
            BusChoice::choose(None, &image).unwrap(),
            BusChoice::Skip
        ));
        assert!(matches!(
            BusChoice::choose(None, &host_root).unwrap(),
            BusChoice::Ask { system: true, .. }
        ));
    }
}
