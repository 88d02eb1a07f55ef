use super::*;

fn token(id: &str, name: &str, last_used: i64) -> TokenInfo {
    TokenInfo {
        id: id.into(),
        user: "alice".into(),
        kind: "totp".into(),
        name: name.into(),
        algorithm: "SHA1".into(),
        digits: 6,
        period: 30,
        created: 1_700_000_000,
        last_used,
        detail: String::new(),
    }
}

#[test]
fn utc_formats_known_instants() {
    for (t, want) in [
        (0, "1970-01-01 00:00:00"),
        (-1, "1969-12-31 23:59:59"),
        (951_782_400, "2000-02-29 00:00:00"),
        (1_700_000_000, "2023-11-14 22:13:20"),
        (2_147_483_648, "2038-01-19 03:14:08"),
        (4_102_444_799, "2099-12-31 23:59:59"),
        (19_880_000_000, "2599-12-21 14:13:20"),
        (-62_135_596_800, "0001-01-01 00:00:00"),
    ] {
        assert_eq!(utc(t), want, "{t}");
    }
}

#[test]
fn utc_survives_the_extremes() {
    // No overflow panic (debug builds check arithmetic).
    assert!(!utc(i64::MAX).is_empty());
    assert!(!utc(i64::MIN).is_empty());
}

#[test]
fn zero_last_use_reads_never() {
    assert_eq!(last_used(0), "never");
    assert_eq!(last_used(1_732_350_000), "2024-11-23 08:20:00");
}

#[test]
fn the_table_has_a_header_and_aligned_columns() {
    let table = token_table(&[
        token("1", "totp", 0),
        token("12", "work-phone", 1_732_350_000),
    ]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(
        lines,
        [
            "ID  NAME        KIND  ALGORITHM  DIGITS  PERIOD  CREATED              LAST USED",
            "1   totp        totp  SHA1       6       30s     2023-11-14 22:13:20  never",
            "12  work-phone  totp  SHA1       6       30s     2023-11-14 22:13:20  2024-11-23 08:20:00",
        ]
    );
}

#[test]
fn an_empty_list_is_just_the_header() {
    assert_eq!(token_table(&[]).lines().count(), 1);
}

#[test]
fn hostile_names_cannot_escape_their_cell() {
    let table = token_table(&[token("1", "evil\u{1b}[2J\nname\u{202e}", 0)]);
    assert_eq!(table.lines().count(), 2);
    assert!(!table.contains('\u{1b}'));
    assert!(!table.contains('\u{202e}'));
    assert!(table.contains("evil\\u{1b}[2J\\nname\\u{202e}"), "{table}");
}

#[test]
fn printable_keeps_ordinary_text_and_newlines() {
    assert!(matches!(
        printable("Jörg's phone ✓\nline 2"),
        Cow::Borrowed(_)
    ));
    assert_eq!(printable("a\tb\u{7}"), "a\\u{9}b\\u{7}");
}

#[test]
fn json_list_is_an_array_of_token_info() {
    let mut out = Vec::new();
    emit_json(&mut out, &[token("1", "totp", 0)][..]).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        v,
        serde_json::json!([{
            "id": "1", "user": "alice", "kind": "totp", "name": "totp", "algorithm": "SHA1",
            "digits": 6, "period": 30, "created": 1_700_000_000, "last_used": 0, "detail": ""
        }])
    );
    assert!(out.ends_with(b"\n"));
    assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1, "one line");
}

#[test]
fn json_enrollment_report_nests_the_token() {
    let t = token("3", "phone", 0);
    let mut out = Vec::new();
    let report = EnrollmentReport {
        user: "alice",
        otpauth_uri: "otpauth://totp/x:alice?secret=AB",
        token: &t,
    };
    emit_json(&mut out, &report).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["user"], "alice");
    assert_eq!(v["otpauth_uri"], "otpauth://totp/x:alice?secret=AB");
    assert_eq!(v["token"]["id"], "3");
    assert_eq!(v["token"]["name"], "phone");
    assert_eq!(v.as_object().unwrap().len(), 3);
}

#[test]
fn json_whoami_has_uid_user_admin() {
    let mut out = Vec::new();
    emit_json(
        &mut out,
        &WhoAmI {
            uid: 0,
            user: "root".into(),
            admin: true,
        },
    )
    .unwrap();
    assert_eq!(out, b"{\"uid\":0,\"user\":\"root\",\"admin\":true}\n");
}

#[test]
fn whoami_text_names_the_rights() {
    let me = WhoAmI {
        uid: 1000,
        user: "alice".into(),
        admin: false,
    };
    assert_eq!(
        who_am_i_text(&me),
        "alice (uid 1000), may manage only its own tokens\n"
    );
    let me = WhoAmI {
        uid: 4242,
        user: String::new(),
        admin: true,
    };
    assert!(who_am_i_text(&me).starts_with("(no user name) (uid 4242), administrator"));
}

fn rule(service: &str, mode: &str) -> ServicePolicy {
    ServicePolicy {
        service: service.into(),
        mode: mode.into(),
        methods: Vec::new(),
    }
}

fn rule_with(service: &str, mode: &str, methods: &[&str]) -> ServicePolicy {
    ServicePolicy {
        methods: methods.iter().map(|m| m.to_string()).collect(),
        ..rule(service, mode)
    }
}

#[test]
fn the_policy_table_lists_rules_then_the_built_in_default() {
    let text = policy_table(&[
        rule("*", "optional"),
        rule_with("sshd", "required", &["totp"]),
        rule_with("sudo", "required", &["totp", "recovery"]),
        rule("systemd-user", "off"),
    ]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        [
            "SERVICE       MODE      METHODS",
            "*             optional  all",
            "sshd          required  totp",
            "sudo          required  totp,recovery",
            "systemd-user  off       all",
            "Services without a rule and no '*' rule: required.",
        ]
    );
}

#[test]
fn an_empty_policy_says_so_and_names_the_default() {
    assert_eq!(
        policy_table(&[]),
        "No service rules are set.\nServices without a rule and no '*' rule: required.\n"
    );
}

#[test]
fn hostile_policy_cells_cannot_escape() {
    let text = policy_table(&[rule("ss\u{1b}[2Jhd\n", "off")]);
    assert_eq!(text.lines().count(), 3);
    assert!(!text.contains('\u{1b}'));
}

#[test]
fn json_policy_show_is_the_policy_overview() {
    let overview = PolicyOverview {
        services: vec![rule("*", "off"), rule_with("sshd", "required", &["totp"])],
        enforced_groups: vec!["admins".into(), "wheel".into()],
        always_require_allow: "group:wheel".into(),
        grace: vec![GraceDeadline {
            subject: "alice".into(),
            until: 1_798_761_599,
        }],
    };
    let mut out = Vec::new();
    emit_json(&mut out, &overview).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "{\"services\":[{\"service\":\"*\",\"mode\":\"off\",\"methods\":[]},\
         {\"service\":\"sshd\",\"mode\":\"required\",\"methods\":[\"totp\"]}],\
         \"enforced_groups\":[\"admins\",\"wheel\"],\"always_require_allow\":\"group:wheel\",\
         \"grace\":[{\"subject\":\"alice\",\"until\":1798761599}]}\n"
    );
}

#[test]
fn json_policy_service_names_the_methods() {
    let mut out = Vec::new();
    emit_json(
        &mut out,
        &PolicyReport {
            service: "sshd",
            mode: "unset",
            methods: &[],
        },
    )
    .unwrap();
    assert_eq!(
        out,
        b"{\"service\":\"sshd\",\"mode\":\"unset\",\"methods\":[]}\n"
    );
    let mut out = Vec::new();
    emit_json(
        &mut out,
        &PolicyReport {
            service: "*",
            mode: "required",
            methods: &["totp", "recovery"],
        },
    )
    .unwrap();
    assert_eq!(
        out,
        b"{\"service\":\"*\",\"mode\":\"required\",\"methods\":[\"totp\",\"recovery\"]}\n"
    );
}

#[test]
fn methods_read_all_when_empty() {
    assert_eq!(methods_text(&[]), "all");
    assert_eq!(
        methods_text(&["totp".into(), "recovery".into()]),
        "totp,recovery"
    );
    assert_eq!(methods_text(&["a\u{1b}b\n".into()]), "a\\u{1b}b\\n");
}

#[test]
fn the_always_require_permission_is_said_in_words() {
    assert_eq!(
        always_require_allow_line("all"),
        "Always-require: every user may turn it on for themselves.\n"
    );
    assert_eq!(
        always_require_allow_line("none"),
        "Always-require: only administrators may turn it on (for anyone).\n"
    );
    assert_eq!(
        always_require_allow_line("group:wheel"),
        "Always-require: members of group wheel may turn it on for themselves; administrators \
         for anyone.\n"
    );
    assert_eq!(
        always_require_allow_line("some\u{1b}thing"),
        "Always-require: who may turn it on: some\\u{1b}thing.\n"
    );
}

#[test]
fn grace_deadlines_are_listed_in_rfc3339_and_passed_ones_marked() {
    assert_eq!(grace_text(&[], NOW), "No enrollment deadlines.\n");
    let grace = [
        GraceDeadline {
            subject: "alice".into(),
            until: 1_798_761_599,
        },
        GraceDeadline {
            subject: "group:staff".into(),
            until: NOW - 1,
        },
    ];
    assert_eq!(
        grace_text(&grace, NOW),
        "Enrollment deadlines (until then, a user who must use MFA but has no usable method is \
         let in with a warning):\n  alice        2026-12-31T23:59:59Z\n  group:staff  \
         2023-11-14T22:13:19Z (passed)\n"
    );
    let hostile = [GraceDeadline {
        subject: "x\u{1b}[2J\ny".into(),
        until: 1,
    }];
    let text = grace_text(&hostile, NOW);
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(!text.contains('\u{1b}'));
}

#[test]
fn the_policy_overview_text_has_every_part_in_order() {
    let overview = PolicyOverview {
        services: vec![rule_with("sshd", "required", &["totp"])],
        enforced_groups: vec!["wheel".into()],
        always_require_allow: "none".into(),
        grace: vec![GraceDeadline {
            subject: "bob".into(),
            until: NOW + 86_400,
        }],
    };
    assert_eq!(
        policy_overview_text(&overview, NOW),
        "SERVICE  MODE      METHODS\n\
         sshd     required  totp\n\
         Services without a rule and no '*' rule: required.\n\
         Groups whose members must use MFA (on every service that is not off): wheel\n\
         Always-require: only administrators may turn it on (for anyone).\n\
         Enrollment deadlines (until then, a user who must use MFA but has no usable method is \
         let in with a warning):\n  bob  2023-11-15T22:13:20Z\n"
    );
}

#[test]
fn enforced_groups_are_listed_or_their_absence_said() {
    assert_eq!(enforced_groups_line(&[]), "No group enforcement.\n");
    assert_eq!(
        enforced_groups_line(&["admins".into(), "wheel".into()]),
        "Groups whose members must use MFA (on every service that is not off): admins, wheel\n"
    );
    let text = enforced_groups_line(&["wh\u{1b}[2Jeel\n".into()]);
    assert_eq!(text.lines().count(), 1);
    assert!(!text.contains('\u{1b}'));
}

#[test]
fn json_policy_group() {
    for (enforced, want) in [
        (true, &b"{\"group\":\"wheel\",\"enforced\":true}\n"[..]),
        (false, &b"{\"group\":\"wheel\",\"enforced\":false}\n"[..]),
    ] {
        let mut out = Vec::new();
        emit_json(
            &mut out,
            &GroupReport {
                group: "wheel",
                enforced,
            },
        )
        .unwrap();
        assert_eq!(out, want);
    }
}

fn explanation(decision: &str, reasons: &[&str]) -> PolicyExplanation {
    PolicyExplanation {
        decision: decision.into(),
        reasons: reasons.iter().map(|r| r.to_string()).collect(),
    }
}

#[test]
fn each_decision_is_explained_in_words_then_the_reasons() {
    for (decision, phrase) in [
        ("ask", "a verification code is asked."),
        (
            "deny-not-enrolled",
            "denied: MFA is required and no method allowed there is enrolled.",
        ),
        (
            "grace",
            "let in with a warning: MFA is required and no method allowed there is enrolled, \
             but the enrollment deadline has not passed.",
        ),
        (
            "deny-locked",
            "denied: an administrator locked this user's second factor.",
        ),
        (
            "not-required",
            "no second factor is needed (the module returns PAM_IGNORE).",
        ),
        ("something-new", "something-new"),
    ] {
        assert_eq!(
            explanation_text(
                "alice",
                "sshd",
                &explanation(decision, &["rule sshd: required", "alice has 1 token"])
            ),
            format!(
                "Login of alice on sshd: {phrase}\n  - rule sshd: required\n  - alice has 1 token\n"
            )
        );
    }
    assert_eq!(
        explanation_text("alice", "sshd", &explanation("ask", &[])),
        "Login of alice on sshd: a verification code is asked.\n"
    );
}

#[test]
fn hostile_reasons_and_decisions_cannot_escape_their_line() {
    let text = explanation_text(
        "alice",
        "sshd",
        &explanation("a\u{1b}[2J\nb", &["x\u{1b}[2J\ny\u{202e}z"]),
    );
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(!text.contains('\u{1b}'));
    assert!(!text.contains('\u{202e}'));
    assert!(text.contains("  - x\\u{1b}[2J\\ny\\u{202e}z\n"), "{text}");
}

#[test]
fn json_policy_explain() {
    let mut out = Vec::new();
    let reasons = ["rule sshd: required".to_owned()];
    emit_json(
        &mut out,
        &ExplanationReport {
            user: "alice",
            service: "sshd",
            decision: "deny-not-enrolled",
            reasons: &reasons,
        },
    )
    .unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "{\"user\":\"alice\",\"service\":\"sshd\",\"decision\":\"deny-not-enrolled\",\"reasons\":[\"rule sshd: required\"]}\n"
    );
}

fn status(tokens: Vec<TokenInfo>, locked_until: i64, locked_out: bool) -> UserStatus {
    UserStatus {
        user: "alice".into(),
        tokens,
        failures: 3,
        locked_until,
        locked_out,
        services: vec![
            rule("*", "not-required"),
            rule_with("sshd", "ask", &["totp", "recovery"]),
            rule("sudo", "deny-not-enrolled"),
            rule("odd", "something-new"),
        ],
        recovery_codes_left: 4,
        ..UserStatus::default()
    }
}

const NOW: i64 = 1_700_000_000;
const SERVICES: &str = "Services:\n  *: not asked\n  sshd: second factor asked (methods: totp, \
                        recovery)\n  sudo: denied (no usable method enrolled)\n  odd: \
                        something-new\n";
const SETTINGS: &str = "Recovery codes: 4 unused\nAlways require MFA: off\nFailed attempts: 3\n";

#[test]
fn status_text_without_tokens_and_not_locked() {
    assert_eq!(
        status_text(&status(vec![], 0, false), NOW),
        format!(
            "User: alice\nNo tokens are enrolled.\n{SETTINGS}Locked: no\nAdministrative lock: \
             no\n{SERVICES}"
        )
    );
    // A back-off that has already run out is not shown.
    assert_eq!(
        status_text(&status(vec![], NOW, false), NOW),
        status_text(&status(vec![], 0, false), NOW)
    );
}

#[test]
fn status_text_with_tokens_shows_the_list_table() {
    let tokens = vec![
        token("1", "totp", 0),
        token("2", "work-phone", 1_700_000_100),
    ];
    assert_eq!(
        status_text(&status(tokens.clone(), 0, false), NOW),
        format!(
            "User: alice\n{}{SETTINGS}Locked: no\nAdministrative lock: no\n{SERVICES}",
            token_table(&tokens)
        )
    );
}

#[test]
fn status_text_throttled_or_locked_out() {
    let text = status_text(&status(vec![], NOW + 60, false), NOW);
    assert!(
        text.contains("\nThrottled until 2023-11-14 22:14:20 UTC\n"),
        "{text}"
    );
    assert!(!text.contains("\nLocked"), "{text}");
    // A lock-out wins over a running back-off.
    let text = status_text(&status(vec![], NOW + 60, true), NOW);
    assert!(
        text.contains("\nLocked: yes, until an administrator runs mfactl unlock alice\n"),
        "{text}"
    );
    assert!(!text.contains("Throttled"), "{text}");
}

#[test]
fn status_text_shows_always_require_the_admin_lock_and_its_reason() {
    let mut s = status(vec![], 0, false);
    s.always_require = true;
    s.admin_locked = true;
    s.lock_reason = "lost laptop\u{1b}[2J".into();
    s.services = vec![rule("sshd", "deny-locked")];
    let text = status_text(&s, NOW);
    assert!(text.contains("\nAlways require MFA: on\n"), "{text}");
    assert!(
        text.contains(
            "\nLocked: no\nAdministrative lock: yes, until an administrator runs mfactl unlock \
             alice\nLock reason: lost laptop\\u{1b}[2J\n"
        ),
        "{text}"
    );
    assert!(
        text.ends_with("  sshd: denied (administrative lock)\n"),
        "{text}"
    );
    s.lock_reason.clear();
    let text = status_text(&s, NOW);
    assert!(!text.contains("Lock reason"), "{text}");
}

#[test]
fn status_text_shows_the_enrollment_deadline_when_there_is_one() {
    let mut s = status(vec![], 0, false);
    assert!(!status_text(&s, NOW).contains("deadline"));
    s.grace_until = 1_798_761_599;
    s.services = vec![rule("sshd", "grace")];
    let text = status_text(&s, NOW);
    assert!(
        text.contains("\nEnrollment deadline: 2026-12-31T23:59:59Z\nServices:\n"),
        "{text}"
    );
    assert!(
        text.ends_with("  sshd: let in with a warning (no usable method; deadline not passed)\n"),
        "{text}"
    );
    s.grace_until = NOW - 1;
    let text = status_text(&s, NOW);
    assert!(
        text.contains("\nEnrollment deadline: 2023-11-14T22:13:19Z (passed)\n"),
        "{text}"
    );
}

#[test]
fn status_text_without_rules_and_hostile_names() {
    let mut s = status(vec![], 0, false);
    s.services.clear();
    assert!(
        status_text(&s, NOW)
            .ends_with("Services:\n  (no service rules; every service requires MFA)\n")
    );
    s.user = "a\u{1b}[2J\nb".into();
    s.services = vec![rule_with("x\ny", "ask\u{202e}", &["to\u{1b}tp"])];
    let text = status_text(&s, NOW);
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{202e}'),
        "{text}"
    );
    assert!(text.starts_with("User: a\\u{1b}[2J\\nb\n"), "{text}");
    assert!(
        text.ends_with("  x\\ny: ask\\u{202e} (methods: to\\u{1b}tp)\n"),
        "{text}"
    );
}

#[test]
fn json_status_is_the_user_status() {
    let mut out = Vec::new();
    let mut s = status(vec![token("1", "totp", 0)], NOW + 60, false);
    s.services.truncate(2);
    s.admin_locked = true;
    s.lock_reason = "lost laptop".into();
    s.grace_until = 1_798_761_599;
    emit_json(&mut out, &s).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["user"], "alice");
    assert_eq!(v["tokens"][0]["name"], "totp");
    assert_eq!(v["failures"], 3);
    assert_eq!(v["locked_until"], NOW + 60);
    assert_eq!(v["locked_out"], false);
    assert_eq!(v["services"][0]["service"], "*");
    assert_eq!(v["services"][0]["mode"], "not-required");
    assert_eq!(
        v["services"][1]["methods"],
        serde_json::json!(["totp", "recovery"])
    );
    assert_eq!(v["always_require"], false);
    assert_eq!(v["admin_locked"], true);
    assert_eq!(v["lock_reason"], "lost laptop");
    assert_eq!(v["recovery_codes_left"], 4);
    assert_eq!(v["grace_until"], 1_798_761_599);
}

#[test]
fn json_reports_of_the_new_commands() {
    let json = |value: &dyn erased::Json| {
        let mut out = Vec::new();
        value.emit(&mut out);
        String::from_utf8(out).unwrap()
    };
    assert_eq!(
        json(&LockReport {
            user: "bob",
            locked: true,
            reason: "lost laptop",
        }),
        "{\"user\":\"bob\",\"locked\":true,\"reason\":\"lost laptop\"}\n"
    );
    assert_eq!(
        json(&AlwaysRequireReport {
            user: "bob",
            always_require: false,
        }),
        "{\"user\":\"bob\",\"always_require\":false}\n"
    );
    assert_eq!(
        json(&RecoveryCodesReport {
            user: "bob",
            codes: &["a".to_owned(), "b".to_owned()],
        }),
        "{\"user\":\"bob\",\"codes\":[\"a\",\"b\"]}\n"
    );
    assert_eq!(
        json(&AllowReport {
            always_require_allow: "group:wheel",
        }),
        "{\"always_require_allow\":\"group:wheel\"}\n"
    );
    assert_eq!(
        json(&GraceReport {
            subject: "group:staff",
            until: 1_798_761_599,
            deadline: Some("2026-12-31T23:59:59Z".into()),
        }),
        "{\"subject\":\"group:staff\",\"until\":1798761599,\"deadline\":\"2026-12-31T23:59:59Z\"}\n"
    );
    assert_eq!(
        json(&GraceReport {
            subject: "alice",
            until: 0,
            deadline: None,
        }),
        "{\"subject\":\"alice\",\"until\":0,\"deadline\":null}\n"
    );
}

/// `emit_json` for values of different types in one closure.
mod erased {
    use serde::Serialize;

    pub(super) trait Json {
        fn emit(&self, out: &mut Vec<u8>);
    }

    impl<T: Serialize> Json for T {
        fn emit(&self, out: &mut Vec<u8>) {
            super::emit_json(out, self).unwrap();
        }
    }
}
