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
fn remove_takes_an_optional_user_and_a_token() {
    match parse(&["remove", "alice", "work-phone"]).unwrap().command {
        Command::Remove(RemoveArgs { user, token }) => {
            assert_eq!(user.as_deref(), Some("alice"));
            assert_eq!(token, "work-phone");
        }
        other => panic!("{other:?}"),
    }
    // One argument is the token: one of the caller's own.
    for args in [
        &["remove", "work-phone"][..],
        &["remove", "2", "--json"][..],
    ] {
        match parse(args).unwrap().command {
            Command::Remove(RemoveArgs { user, token }) => {
                assert_eq!(user, None, "{args:?}");
                assert_eq!(token, args[1], "{args:?}");
            }
            other => panic!("{other:?}"),
        }
    }
    // As the token, a value is only checked as a field, not as a user name.
    match parse(&["remove", "a b/c"]).unwrap().command {
        Command::Remove(RemoveArgs { user, token }) => {
            assert_eq!((user, token.as_str()), (None, "a b/c"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(error_kind(&["remove"]), ErrorKind::MissingRequiredArgument);
    assert_eq!(
        error_kind(&["remove", "a", "b", "c"]),
        ErrorKind::UnknownArgument
    );
    for args in [
        &["remove", ""][..],
        &["remove", "tok\u{7}"][..],
        &["remove", "al ice", "1"][..],
        &["remove", "", "1"][..],
    ] {
        assert_eq!(error_kind(args), ErrorKind::ValueValidation, "{args:?}");
    }
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
    assert_eq!(
        error_kind(&["enroll", "push"]),
        ErrorKind::InvalidSubcommand
    );
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
            Command::Policy(PolicyCommand::Service(PolicyServiceArgs {
                service,
                mode,
                methods,
            })) => {
                assert_eq!(service, "sshd");
                assert_eq!(mode, want);
                assert!(methods.is_empty(), "no --methods means every method");
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

#[test]
fn unlock_clears_failures_back_off_and_the_lock() {
    let cmd = command();
    let about = cmd
        .find_subcommand("unlock")
        .and_then(clap::Command::get_about)
        .map(ToString::to_string);
    assert_eq!(
        about.as_deref(),
        Some(
            "Clear a user's failure counter, back-off and administrative lock (administrators only)"
        )
    );
    assert_eq!(
        error_kind(&["unlock", "alice", "bob"]),
        ErrorKind::UnknownArgument
    );
    assert_eq!(
        error_kind(&["unlock", "alice", "--reason", "x"]),
        ErrorKind::UnknownArgument
    );
}

#[test]
fn lock_takes_a_user_and_an_optional_reason() {
    match parse(&["lock", "alice"]).unwrap().command {
        Command::Lock(LockArgs { user, reason }) => {
            assert_eq!(user, "alice");
            assert_eq!(reason, None);
        }
        other => panic!("{other:?}"),
    }
    for args in [
        &["lock", "alice", "--reason", "lost laptop"][..],
        &["lock", "--reason", "lost laptop", "alice"][..],
        &["lock", "alice", "--reason=lost laptop", "--json"][..],
    ] {
        match parse(args).unwrap().command {
            Command::Lock(LockArgs { user, reason }) => {
                assert_eq!(user, "alice", "{args:?}");
                assert_eq!(reason.as_deref(), Some("lost laptop"), "{args:?}");
            }
            other => panic!("{other:?}"),
        }
    }
    let longest = "r".repeat(MAX_FIELD_LEN);
    match parse(&["lock", "alice", "--reason", &longest])
        .unwrap()
        .command
    {
        Command::Lock(a) => assert_eq!(a.reason.as_deref(), Some(longest.as_str())),
        other => panic!("{other:?}"),
    }
}

#[test]
fn lock_refuses_a_missing_user_and_bad_reasons() {
    assert_eq!(error_kind(&["lock"]), ErrorKind::MissingRequiredArgument);
    assert_eq!(
        error_kind(&["lock", "--reason", "x"]),
        ErrorKind::MissingRequiredArgument
    );
    assert_eq!(
        error_kind(&["lock", "alice", "bob"]),
        ErrorKind::UnknownArgument
    );
    assert_eq!(
        error_kind(&["lock", "alice", "--reason"]),
        ErrorKind::InvalidValue
    );
    let long = "r".repeat(MAX_FIELD_LEN + 1);
    for args in [
        &["lock", "alice", "--reason", ""][..],
        &["lock", "alice", "--reason", &long][..],
        &["lock", "alice", "--reason", "lost\nlaptop"][..],
        &["lock", "alice", "--reason", "a\u{1b}[2Jb"][..],
    ] {
        let e = parse(args).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ValueValidation, "{args:?}");
        assert_eq!(e.exit_code(), 2, "{args:?}");
    }
}

#[test]
fn always_require_takes_on_or_off_and_an_optional_user() {
    for (args, on, want_user) in [
        (&["always-require", "on"][..], true, None),
        (&["always-require", "off"][..], false, None),
        (&["always-require", "on", "bob"][..], true, Some("bob")),
        (
            &["always-require", "off", "bob", "--json"][..],
            false,
            Some("bob"),
        ),
    ] {
        match parse(args).unwrap().command {
            Command::AlwaysRequire(AlwaysRequireArgs { state, user }) => {
                assert_eq!(state.is_on(), on, "{args:?}");
                assert_eq!(state, if on { OnOff::On } else { OnOff::Off }, "{args:?}");
                assert_eq!(user.as_deref(), want_user, "{args:?}");
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn always_require_refuses_other_states_and_extra_arguments() {
    assert_eq!(
        error_kind(&["always-require"]),
        ErrorKind::MissingRequiredArgument
    );
    // The state comes first: a user name alone is a bad state. Only lower case is accepted.
    for args in [
        &["always-require", "bob"][..],
        &["always-require", "bob", "on"][..],
        &["always-require", "On"][..],
        &["always-require", "OFF"][..],
        &["always-require", "yes"][..],
        &["always-require", "1"][..],
        &["always-require", ""][..],
    ] {
        let e = parse(args).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidValue, "{args:?}");
        assert_eq!(e.exit_code(), 2, "{args:?}");
    }
    assert_eq!(
        error_kind(&["always-require", "on", "bob", "carol"]),
        ErrorKind::UnknownArgument
    );
}

#[test]
fn recovery_generate_takes_an_optional_user() {
    match parse(&["recovery", "generate"]).unwrap().command {
        Command::Recovery(RecoveryCommand::Generate(RecoveryGenerateArgs { user })) => {
            assert_eq!(user, None);
        }
        other => panic!("{other:?}"),
    }
    match parse(&["--json", "recovery", "generate", "bob"])
        .unwrap()
        .command
    {
        Command::Recovery(RecoveryCommand::Generate(RecoveryGenerateArgs { user })) => {
            assert_eq!(user.as_deref(), Some("bob"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        error_kind(&["recovery", "generate", "bob", "carol"]),
        ErrorKind::UnknownArgument
    );
    assert_eq!(parse(&["recovery"]).unwrap_err().exit_code(), 2);
    assert_eq!(
        error_kind(&["recovery", "list"]),
        ErrorKind::InvalidSubcommand
    );
}

fn service_methods(args: &[&str]) -> Vec<String> {
    let mut all = vec!["policy", "service"];
    all.extend_from_slice(args);
    match parse(&all).unwrap().command {
        Command::Policy(PolicyCommand::Service(a)) => a.methods,
        other => panic!("parsed as {other:?}"),
    }
}

#[test]
fn policy_service_methods_default_to_every_method() {
    for mode in ["required", "optional", "off", "unset"] {
        assert!(service_methods(&["sshd", mode]).is_empty(), "{mode}");
    }
}

#[test]
fn policy_service_methods_are_comma_separated_or_repeated_in_any_case() {
    for args in [
        &["sshd", "required", "--methods", "totp,recovery"][..],
        &[
            "sshd",
            "required",
            "--methods",
            "totp",
            "--methods",
            "recovery",
        ][..],
        &["sshd", "required", "--methods=TOTP", "--methods=Recovery"][..],
        &["sshd", "required", "--methods", " Totp , RECOVERY "][..],
        &[
            "--methods",
            "totp",
            "sshd",
            "--methods",
            "recovery",
            "required",
        ][..],
    ] {
        assert_eq!(service_methods(args), ["totp", "recovery"], "{args:?}");
    }
    // The order given is kept.
    assert_eq!(
        service_methods(&["*", "optional", "--methods", "recovery,totp"]),
        ["recovery", "totp"]
    );
    assert_eq!(
        service_methods(&["sshd", "required", "--methods", "TOTP"]),
        ["totp"]
    );
}

#[test]
fn policy_service_refuses_unknown_methods_naming_the_known_ones() {
    for args in [
        &["policy", "service", "sshd", "required", "--methods", "push"][..],
        &[
            "policy",
            "service",
            "sshd",
            "required",
            "--methods",
            "totp,voice",
        ][..],
        &[
            "policy",
            "service",
            "sshd",
            "required",
            "--methods",
            "totp",
            "--methods",
            "u2f",
        ][..],
        &["policy", "service", "sshd", "required", "--methods", "all"][..],
        &[
            "policy",
            "service",
            "sshd",
            "required",
            "--methods",
            "totp;recovery",
        ][..],
        &[
            "policy",
            "service",
            "sshd",
            "required",
            "--methods",
            "t\u{1b}otp",
        ][..],
    ] {
        let e = parse(args).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ValueValidation, "{args:?}");
        assert_eq!(e.exit_code(), 2, "{args:?}");
        let msg = e.to_string();
        assert!(msg.contains("unknown method"), "{msg}");
        for known in METHOD_NAMES {
            assert!(msg.contains(known), "{known} missing from {msg}");
        }
    }
    assert_eq!(
        error_kind(&["policy", "service", "sshd", "required", "--methods"]),
        ErrorKind::InvalidValue
    );
}

/// Parsing keeps `--methods` values as given (lower-cased); `commands::policy` then drops
/// empty values, removes duplicates and refuses methods with `unset`.
#[test]
fn policy_service_methods_are_parsed_raw_and_normalized_later() {
    assert_eq!(
        service_methods(&[
            "sshd",
            "required",
            "--methods",
            "totp,TOTP",
            "--methods",
            "totp"
        ]),
        ["totp", "totp", "totp"]
    );
    assert_eq!(
        service_methods(&["sshd", "required", "--methods", ""]),
        [""]
    );
    assert_eq!(
        service_methods(&["sshd", "required", "--methods", "totp,"]),
        ["totp", ""]
    );
    assert_eq!(
        service_methods(&["sshd", "unset", "--methods", "totp"]),
        ["totp"]
    );
}

#[test]
fn policy_always_require_allow_takes_all_none_or_a_group() {
    for who in ["all", "none", "group:wheel", "group:First.Last@example.com"] {
        match parse(&["policy", "always-require", "allow", who])
            .unwrap()
            .command
        {
            Command::Policy(PolicyCommand::AlwaysRequire(PolicyAlwaysRequireCommand::Allow(
                PolicyAllowArgs { who: got },
            ))) => assert_eq!(got, who),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn policy_always_require_allow_refuses_other_values_and_bad_group_names() {
    for who in [
        "All",
        "NONE",
        "everyone",
        "wheel",
        "",
        "Group:wheel",
        "group",
    ] {
        let e = parse(&["policy", "always-require", "allow", who]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ValueValidation, "{who:?}");
        let msg = e.to_string();
        assert!(msg.contains("expected all, none or group:NAME"), "{msg}");
    }
    let long = format!("group:{}", "g".repeat(mfa_proto::MAX_USER_LEN + 1));
    for who in [
        "group:",
        "group:wh eel",
        "group:a/b",
        "group:group:wheel",
        "group:..",
        "group:-wheel",
        "group:wh\u{1b}[2Jeel",
        &long,
    ] {
        let e = parse(&["policy", "always-require", "allow", who]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ValueValidation, "{who:?}");
        assert_eq!(e.exit_code(), 2, "{who:?}");
        let msg = e.to_string();
        assert!(msg.contains("the group name"), "{msg}");
    }
    assert_eq!(
        error_kind(&["policy", "always-require", "allow"]),
        ErrorKind::MissingRequiredArgument
    );
    assert_eq!(
        error_kind(&["policy", "always-require", "allow", "all", "none"]),
        ErrorKind::UnknownArgument
    );
    assert_eq!(
        parse(&["policy", "always-require"])
            .unwrap_err()
            .exit_code(),
        2
    );
}

fn grace(args: &[&str]) -> PolicyGraceArgs {
    let mut all = vec!["policy", "grace"];
    all.extend_from_slice(args);
    match parse(&all).unwrap().command {
        Command::Policy(PolicyCommand::Grace(a)) => a,
        other => panic!("parsed as {other:?}"),
    }
}

#[test]
fn policy_grace_takes_a_user_or_a_group_and_an_unchecked_deadline() {
    for subject in ["bob", "First.Last@example.com", "group:staff"] {
        let a = grace(&[subject, "14d"]);
        assert_eq!((a.subject.as_str(), a.until.as_str()), (subject, "14d"));
    }
    // UNTIL is read later (it needs the current time), so clap passes any text through,
    // including values that start with '-' and would be refused by the deadline parser.
    for until in [
        "none",
        "2026-12-31",
        "2026-12-31 18:00:00",
        "+2weeks",
        "-5d",
        "garbage",
        "",
    ] {
        assert_eq!(grace(&["bob", until]).until, until, "{until:?}");
    }
    // A global flag after the subject stays a flag; it does not become the deadline.
    assert_eq!(
        error_kind(&["policy", "grace", "bob", "--json"]),
        ErrorKind::MissingRequiredArgument
    );
    assert!(
        parse(&["policy", "grace", "bob", "--json", "none"])
            .unwrap()
            .json
    );
}

#[test]
fn policy_grace_refuses_bad_subjects_and_missing_arguments() {
    for subject in [
        "",
        "al ice",
        "a/b",
        "a:b",
        "..",
        "group:",
        "group:st aff",
        "group:a/b",
    ] {
        let e = parse(&["policy", "grace", subject, "none"]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ValueValidation, "{subject:?}");
        assert_eq!(e.exit_code(), 2, "{subject:?}");
    }
    let msg = parse(&["policy", "grace", "group:st:aff", "none"])
        .unwrap_err()
        .to_string();
    assert!(msg.contains("the group name contains"), "{msg}");
    let msg = parse(&["policy", "grace", "b ob", "none"])
        .unwrap_err()
        .to_string();
    assert!(msg.contains("the user name contains"), "{msg}");
    assert_eq!(
        error_kind(&["policy", "grace"]),
        ErrorKind::MissingRequiredArgument
    );
    assert_eq!(
        error_kind(&["policy", "grace", "bob"]),
        ErrorKind::MissingRequiredArgument
    );
    assert_eq!(
        error_kind(&["policy", "grace", "bob", "14d", "extra"]),
        ErrorKind::UnknownArgument
    );
}

/// Every command that takes a USER, with `{}` where the user goes.
const USER_COMMANDS: &[&[&str]] = &[
    &["enroll", "totp", "{}"],
    &["list", "{}"],
    &["remove", "{}", "1"],
    &["rename", "{}", "1", "phone"],
    &["status", "{}"],
    &["unlock", "{}"],
    &["lock", "{}"],
    &["lock", "{}", "--reason", "lost laptop"],
    &["always-require", "on", "{}"],
    &["always-require", "off", "{}"],
    &["recovery", "generate", "{}"],
    &["policy", "explain", "{}", "sshd"],
    &["policy", "grace", "{}", "none"],
];

fn with_user<'a>(template: &[&'a str], user: &'a str) -> Vec<&'a str> {
    template
        .iter()
        .map(|a| if *a == "{}" { user } else { a })
        .collect()
}

#[test]
fn every_command_taking_a_user_accepts_directory_names() {
    for template in USER_COMMANDS {
        for user in ["alice", "First.Last@example.com", "user$", "svc_backup"] {
            let args = with_user(template, user);
            assert!(parse(&args).is_ok(), "{args:?}");
        }
        // Bidirectional overrides and zero-width characters are refused: they make a name
        // display as another one.
        let args = with_user(template, "al\u{202e}ice");
        assert!(parse(&args).is_err(), "{args:?}");
    }
}

#[test]
fn every_command_taking_a_user_refuses_bad_user_names() {
    let long = "u".repeat(mfa_proto::MAX_USER_LEN + 1);
    for template in USER_COMMANDS {
        for (user, why) in [
            ("", "is empty"),
            ("al ice", "not allowed"),
            ("al\tice", "not allowed"),
            ("a/b", "not allowed"),
            ("a:b", "not allowed"),
            ("a\\b", "not allowed"),
            (".", "not allowed"),
            ("..", "not allowed"),
            ("al\u{1b}[2Jice", "not allowed"),
            (long.as_str(), "longer than"),
        ] {
            let args = with_user(template, user);
            let e = parse(&args).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::ValueValidation, "{args:?}");
            assert_eq!(e.exit_code(), 2, "{args:?}");
            let msg = e.to_string();
            assert!(msg.contains(why), "{args:?}: {msg}");
        }
        // A leading '-' is taken for a flag; after `--` it reaches the user name check.
        let args = with_user(template, "-rf");
        assert_eq!(parse(&args).unwrap_err().exit_code(), 2, "{args:?}");
    }
    for args in [
        &["list", "--", "-rf"][..],
        &["status", "--", "-rf"][..],
        &["unlock", "--", "-rf"][..],
        &["lock", "--", "-rf"][..],
        &["recovery", "generate", "--", "-rf"][..],
        &["always-require", "on", "--", "-rf"][..],
    ] {
        let msg = parse(args).unwrap_err().to_string();
        assert!(msg.contains("leading '-'"), "{args:?}: {msg}");
    }
}

fn doctor(args: &[&str]) -> DoctorArgs {
    let mut all = vec!["doctor"];
    all.extend_from_slice(args);
    match parse(&all).unwrap().command {
        Command::Doctor(a) => a,
        other => panic!("parsed as {other:?}"),
    }
}

#[test]
fn doctor_reads_this_host_and_the_default_database_unless_told_otherwise() {
    let a = doctor(&[]);
    assert_eq!(a.root, PathBuf::from("/"));
    assert_eq!(a.db, None);
    let a = doctor(&["--root", "/mnt/image", "--db", "/srv/mfa.db"]);
    assert_eq!(a.root, PathBuf::from("/mnt/image"));
    assert_eq!(a.db, Some(PathBuf::from("/srv/mfa.db")));
    let cli = parse(&["doctor", "--json", "--bus-address", "unix:path=/tmp/s"]).unwrap();
    assert!(cli.json);
    assert_eq!(cli.bus_address.as_deref(), Some("unix:path=/tmp/s"));
}

#[test]
fn doctor_refuses_a_relative_database_path_and_arguments() {
    let e = parse(&["doctor", "--db", "mfa.db"]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ValueValidation);
    assert!(e.to_string().contains("must be an absolute path"), "{e}");
    assert_eq!(error_kind(&["doctor", "alice"]), ErrorKind::UnknownArgument);
}

#[test]
fn doctor_help_documents_the_severities_and_exit_status() {
    let mut cmd = command();
    let help = cmd
        .find_subcommand_mut("doctor")
        .expect("doctor subcommand")
        .render_long_help()
        .to_string();
    for words in [
        "error    logins are refused",
        "warning  a gap",
        "note     worth knowing",
        "Exit status: 0 no errors or warnings (notes allowed), 1 warnings but no errors, 2 at",
        "3 doctor could not run its checks.",
        "--root <DIR>",
    ] {
        assert!(help.contains(words), "{words:?} not in:\n{help}");
    }
}
