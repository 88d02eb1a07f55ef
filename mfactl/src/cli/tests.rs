use clap::Parser;
use clap::error::ErrorKind;

use super::*;

fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
    Cli::try_parse_from(std::iter::once("mfactl").chain(args.iter().copied()))
}

fn enroll_totp(args: &[&str]) -> EnrollTotpArgs {
    let mut all = vec!["enroll", "totp"];
    all.extend_from_slice(args);
    match parse(&all).unwrap().command {
        Command::Enroll(EnrollCommand::Totp(a)) => a,
        other => panic!("parsed as {other:?}"),
    }
}

fn error_kind(args: &[&str]) -> ErrorKind {
    parse(args).unwrap_err().kind()
}

#[test]
fn the_command_definition_is_consistent() {
    command().debug_assert();
}

#[test]
fn global_flags_default_to_the_system_bus_and_text() {
    let cli = parse(&["whoami"]).unwrap();
    assert_eq!(cli.bus_address, None);
    assert!(!cli.json);
    assert!(matches!(cli.command, Command::WhoAmI));
}

#[test]
fn global_flags_are_accepted_before_and_after_the_subcommand() {
    for args in [
        &["--json", "--bus-address", "unix:path=/tmp/s", "list"][..],
        &["list", "--json", "--bus-address", "unix:path=/tmp/s"][..],
        &["list", "--bus-address=unix:path=/tmp/s", "--json"][..],
    ] {
        let cli = parse(args).unwrap();
        assert!(cli.json, "{args:?}");
        assert_eq!(
            cli.bus_address.as_deref(),
            Some("unix:path=/tmp/s"),
            "{args:?}"
        );
    }
}

#[test]
fn enroll_totp_defaults_leave_every_choice_to_the_daemon() {
    let a = enroll_totp(&[]);
    assert_eq!(a.user, None);
    assert_eq!(a.name, None);
    assert_eq!(a.issuer, None);
    assert_eq!(a.secret, None);
    assert_eq!(a.digits, None);
    assert_eq!(a.algorithm, None);
    assert_eq!(a.period, None);
    assert!(a.code.is_none());
}

#[test]
fn enroll_totp_takes_every_option() {
    let a = enroll_totp(&[
        "alice",
        "--name",
        "phone",
        "--issuer",
        "Example Corp",
        "--secret",
        "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
        "--digits",
        "8",
        "--algorithm",
        "sha256",
        "--period",
        "60",
        "--code",
        "12345678",
    ]);
    assert_eq!(a.user.as_deref(), Some("alice"));
    assert_eq!(a.name.as_deref(), Some("phone"));
    assert_eq!(a.issuer.as_deref(), Some("Example Corp"));
    assert_eq!(
        a.secret,
        Some(SecretArg::Inline(Zeroizing::new(
            "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP".into()
        )))
    );
    assert_eq!(a.digits, Some(Digits::Eight));
    assert_eq!(a.digits.map(Digits::count), Some(8));
    assert_eq!(a.algorithm, Some(Algorithm::Sha256));
    assert_eq!(a.period.map(Period::seconds), Some(60));
    assert_eq!(a.code.as_deref().map(String::as_str), Some("12345678"));
}

#[test]
fn secret_dash_means_standard_input() {
    assert_eq!(
        enroll_totp(&["--secret", "-"]).secret,
        Some(SecretArg::Stdin)
    );
}

#[test]
fn the_secret_never_shows_in_debug_output() {
    let a = enroll_totp(&["--secret", "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"]);
    assert!(!format!("{a:?}").contains("JBSWY3DP"));
}

#[test]
fn algorithm_names_ignore_case_and_map_to_the_wire_names() {
    for (given, want) in [("SHA1", "SHA1"), ("sha256", "SHA256"), ("Sha512", "SHA512")] {
        let alg = enroll_totp(&["--algorithm", given]).algorithm.unwrap();
        assert_eq!(TotpAlgorithm::from(alg).as_str(), want);
    }
}

#[test]
fn invalid_digits_algorithm_and_period_are_usage_errors() {
    for args in [
        &["enroll", "totp", "--digits", "7"][..],
        &["enroll", "totp", "--digits", "six"][..],
        &["enroll", "totp", "--algorithm", "md5"][..],
        &["enroll", "totp", "--algorithm", "sha384"][..],
        &["enroll", "totp", "--period", "45"][..],
    ] {
        let e = parse(args).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidValue, "{args:?}");
        assert_eq!(e.exit_code(), 2, "{args:?}");
    }
}

#[test]
fn bad_user_names_are_refused_with_the_reason() {
    for args in [
        &["list", "-rf"][..],
        &["list", "al ice"][..],
        &["enroll", "totp", "../etc"][..],
        &["remove", "a/b", "1"][..],
        &["unlock", "al\u{1b}[2Jice"][..],
    ] {
        // `-rf` is taken for an unknown flag, the rest fail the user name check: both exit 2.
        let e = parse(args).unwrap_err();
        assert_eq!(e.exit_code(), 2, "{args:?}");
    }
    let msg = parse(&["list", "al:ice"]).unwrap_err().to_string();
    assert!(msg.contains("not allowed"), "{msg}");
}

#[test]
fn names_issuers_and_tokens_are_checked_for_length_and_control_characters() {
    let long = "x".repeat(MAX_FIELD_LEN + 1);
    for args in [
        &["enroll", "totp", "--name", ""][..],
        &["enroll", "totp", "--name", &long][..],
        &["enroll", "totp", "--name", "a\nb"][..],
        &["enroll", "totp", "--issuer", "a:b"][..],
        &["remove", "alice", ""][..],
        &["remove", "alice", "tok\u{7}"][..],
    ] {
        assert_eq!(error_kind(args), ErrorKind::ValueValidation, "{args:?}");
    }
    assert_eq!(
        enroll_totp(&["--name", &"x".repeat(MAX_FIELD_LEN)])
            .name
            .unwrap()
            .len(),
        256
    );
}

#[test]
fn list_defaults_to_the_caller() {
    match parse(&["list"]).unwrap().command {
        Command::List(ListArgs { user }) => assert_eq!(user, None),
        other => panic!("{other:?}"),
    }
    match parse(&["list", "bob"]).unwrap().command {
        Command::List(ListArgs { user }) => assert_eq!(user.as_deref(), Some("bob")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn remove_needs_both_user_and_token() {
    match parse(&["remove", "alice", "work-phone"]).unwrap().command {
        Command::Remove(RemoveArgs { user, token }) => {
            assert_eq!((user.as_str(), token.as_str()), ("alice", "work-phone"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        error_kind(&["remove", "alice"]),
        ErrorKind::MissingRequiredArgument
    );
    assert_eq!(error_kind(&["remove"]), ErrorKind::MissingRequiredArgument);
    assert_eq!(
        error_kind(&["remove", "a", "b", "c"]),
        ErrorKind::UnknownArgument
    );
}

#[test]
fn rename_needs_user_token_and_new_name() {
    match parse(&["rename", "alice", "2", "work-phone"])
        .unwrap()
        .command
    {
        Command::Rename(RenameArgs {
            user,
            token,
            new_name,
        }) => {
            assert_eq!(
                (user.as_str(), token.as_str(), new_name.as_str()),
                ("alice", "2", "work-phone")
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        error_kind(&["rename", "alice", "2"]),
        ErrorKind::MissingRequiredArgument
    );
    assert_eq!(error_kind(&["rename"]), ErrorKind::MissingRequiredArgument);
    assert_eq!(
        error_kind(&["rename", "a", "b", "c", "d"]),
        ErrorKind::UnknownArgument
    );
    assert_eq!(
        error_kind(&["rename", "-rf", "2", "x"]),
        ErrorKind::UnknownArgument
    );
    assert_eq!(
        error_kind(&["rename", "Bad User", "2", "x"]),
        ErrorKind::ValueValidation
    );
    assert_eq!(
        error_kind(&["rename", "alice", "2", ""]),
        ErrorKind::ValueValidation
    );
    assert_eq!(
        error_kind(&["rename", "alice", "2", "a\u{1b}b"]),
        ErrorKind::ValueValidation
    );
}

#[test]
fn status_defaults_to_the_caller() {
    match parse(&["status"]).unwrap().command {
        Command::Status(StatusArgs { user }) => assert_eq!(user, None),
        other => panic!("{other:?}"),
    }
    match parse(&["status", "bob"]).unwrap().command {
        Command::Status(StatusArgs { user }) => assert_eq!(user.as_deref(), Some("bob")),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        error_kind(&["status", "Bad User"]),
        ErrorKind::ValueValidation
    );
    assert_eq!(
        error_kind(&["status", "bob", "carol"]),
        ErrorKind::UnknownArgument
    );
}

#[test]
fn unlock_needs_a_user() {
    match parse(&["unlock", "alice"]).unwrap().command {
        Command::Unlock(UnlockArgs { user }) => assert_eq!(user, "alice"),
        other => panic!("{other:?}"),
    }
    assert_eq!(error_kind(&["unlock"]), ErrorKind::MissingRequiredArgument);
}

#[test]
fn whoami_takes_no_arguments() {
    assert_eq!(error_kind(&["whoami", "alice"]), ErrorKind::UnknownArgument);
}

#[test]
fn missing_or_unknown_subcommands_are_usage_errors() {
    assert_eq!(parse(&[]).unwrap_err().exit_code(), 2);
    assert_eq!(parse(&["enroll"]).unwrap_err().exit_code(), 2);
    assert_eq!(error_kind(&["enroll", "sms"]), ErrorKind::InvalidSubcommand);
    assert_eq!(error_kind(&["frobnicate"]), ErrorKind::InvalidSubcommand);
}

#[test]
fn help_and_version_exit_zero() {
    assert_eq!(error_kind(&["--help"]), ErrorKind::DisplayHelp);
    assert_eq!(parse(&["--help"]).unwrap_err().exit_code(), 0);
    assert_eq!(error_kind(&["--version"]), ErrorKind::DisplayVersion);
}

#[test]
fn policy_service_takes_a_service_and_a_mode() {
    for (given, want) in [
        ("required", PolicyMode::Required),
        ("optional", PolicyMode::Optional),
        ("off", PolicyMode::Off),
        ("unset", PolicyMode::Unset),
    ] {
        match parse(&["policy", "service", "sshd", given])
            .unwrap()
            .command
        {
            Command::Policy(PolicyCommand::Service(PolicyServiceArgs { service, mode })) => {
                assert_eq!(service, "sshd");
                assert_eq!(mode, want);
                assert_eq!(mode.as_str(), given);
            }
            other => panic!("{other:?}"),
        }
    }
    match parse(&["policy", "service", "*", "off", "--json"])
        .unwrap()
        .command
    {
        Command::Policy(PolicyCommand::Service(a)) => assert_eq!(a.service, "*"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn policy_service_refuses_bad_modes_and_services() {
    for args in [
        &["policy", "service", "sshd", "sometimes"][..],
        &["policy", "service", "sshd", "Required"][..],
        &["policy", "service", "sshd", ""][..],
    ] {
        let e = parse(args).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidValue, "{args:?}");
        assert_eq!(e.exit_code(), 2, "{args:?}");
    }
    let long = "s".repeat(MAX_SERVICE_LEN + 1);
    for args in [
        &["policy", "service", "", "off"][..],
        &["policy", "service", "../sshd", "off"][..],
        &["policy", "service", ".hidden", "off"][..],
        &["policy", "service", "ss hd", "off"][..],
        &["policy", "service", "ssh*", "off"][..],
        &["policy", "service", &long, "off"][..],
    ] {
        assert_eq!(error_kind(args), ErrorKind::ValueValidation, "{args:?}");
    }
    assert!(parse(&["policy", "service", &"s".repeat(MAX_SERVICE_LEN), "off"]).is_ok());
    assert!(parse(&["policy", "service", "systemd-user@1+x_y.z", "off"]).is_ok());
    assert_eq!(
        error_kind(&["policy", "service", "sshd"]),
        ErrorKind::MissingRequiredArgument
    );
}

#[test]
fn policy_show_takes_no_arguments_and_policy_needs_a_subcommand() {
    assert!(matches!(
        parse(&["policy", "show"]).unwrap().command,
        Command::Policy(PolicyCommand::Show)
    ));
    assert_eq!(
        error_kind(&["policy", "show", "sshd"]),
        ErrorKind::UnknownArgument
    );
    assert_eq!(parse(&["policy"]).unwrap_err().exit_code(), 2);
    assert_eq!(
        error_kind(&["policy", "set", "sshd", "off"]),
        ErrorKind::InvalidSubcommand
    );
}

#[test]
fn policy_group_takes_a_group_and_an_action() {
    for (given, want, enforce) in [
        ("enforce", GroupAction::Enforce, true),
        ("unenforce", GroupAction::Unenforce, false),
    ] {
        match parse(&["policy", "group", "wheel", given]).unwrap().command {
            Command::Policy(PolicyCommand::Group(PolicyGroupArgs { group, action })) => {
                assert_eq!(group, "wheel");
                assert_eq!(action, want);
                assert_eq!(action.enforce(), enforce);
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(parse(&["policy", "group", "domain users@example.com", "enforce"]).is_err());
    assert!(parse(&["policy", "group", "First.Last@example.com", "enforce"]).is_ok());
}

#[test]
fn policy_group_refuses_bad_actions_and_group_names() {
    for args in [
        &["policy", "group", "wheel", "on"][..],
        &["policy", "group", "wheel", "Enforce"][..],
        &["policy", "group", "wheel", ""][..],
    ] {
        let e = parse(args).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidValue, "{args:?}");
        assert_eq!(e.exit_code(), 2, "{args:?}");
    }
    let long = "g".repeat(mfa_proto::MAX_USER_LEN + 1);
    for args in [
        &["policy", "group", "", "enforce"][..],
        &["policy", "group", "wh eel", "enforce"][..],
        &["policy", "group", "a/b", "enforce"][..],
        &["policy", "group", "..", "unenforce"][..],
        &["policy", "group", "wh\u{1b}[2Jeel", "enforce"][..],
        &["policy", "group", &long, "enforce"][..],
    ] {
        let e = parse(args).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ValueValidation, "{args:?}");
        assert_eq!(e.exit_code(), 2, "{args:?}");
    }
    let msg = parse(&["policy", "group", "wh:eel", "enforce"])
        .unwrap_err()
        .to_string();
    assert!(msg.contains("the group name contains"), "{msg}");
    assert_eq!(
        error_kind(&["policy", "group", "wheel"]),
        ErrorKind::MissingRequiredArgument
    );
}

#[test]
fn policy_explain_takes_a_user_and_a_service() {
    match parse(&["policy", "explain", "alice", "sshd"])
        .unwrap()
        .command
    {
        Command::Policy(PolicyCommand::Explain(PolicyExplainArgs { user, service })) => {
            assert_eq!(user, "alice");
            assert_eq!(service, "sshd");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        parse(&[
            "policy",
            "explain",
            "First.Last@example.com",
            "systemd-user@1+x_y.z"
        ])
        .is_ok()
    );
    assert!(parse(&["--json", "policy", "explain", "alice", "login"]).is_ok());
}

#[test]
fn policy_explain_refuses_star_bad_services_and_bad_users() {
    for args in [
        &["policy", "explain", "alice", "*"][..],
        &["policy", "explain", "alice", ""][..],
        &["policy", "explain", "alice", "../sshd"][..],
        &["policy", "explain", "alice", "ssh*"][..],
        &["policy", "explain", "", "sshd"][..],
        &["policy", "explain", "al ice", "sshd"][..],
        &["policy", "explain", "a/b", "sshd"][..],
        &["policy", "explain", "al\u{1b}[2Jice", "sshd"][..],
    ] {
        let e = parse(args).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ValueValidation, "{args:?}");
        assert_eq!(e.exit_code(), 2, "{args:?}");
    }
    let msg = parse(&["policy", "explain", "alice", "*"])
        .unwrap_err()
        .to_string();
    assert!(msg.contains("'*' is not a service"), "{msg}");
    assert_eq!(
        error_kind(&["policy", "explain", "alice"]),
        ErrorKind::MissingRequiredArgument
    );
}
