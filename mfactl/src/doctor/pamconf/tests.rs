use super::*;

fn rule(file: &PamFile, index: usize) -> &Rule {
    &file.lines[index].rule
}

#[test]
fn rules_controls_and_arguments_are_read() {
    let file = parse_file(
        "# comment\n\
         auth\t[success=1 default=ignore]\tpam_unix.so nullok\n\
         -auth  optional   pam_cap.so   # trailing comment\n\
         AUTH Required /usr/lib/x86_64-linux-gnu/security/pam_mfa.so bus=unix:path=/x \\\n\
         \x20   timeout=3000\n\
         auth required pam_succeed_if.so [user in a b] quiet\n\
         @include common-account\n\
         session include common-session\n",
    );
    assert_eq!(file.problems, []);
    let lines: Vec<usize> = file.lines.iter().map(|l| l.line).collect();
    assert_eq!(lines, [2, 3, 4, 6, 7, 8]);
    let Rule::Module {
        kind,
        quiet,
        control: Control::Actions { text, actions },
        module,
        args,
    } = rule(&file, 0)
    else {
        panic!("{:?}", rule(&file, 0));
    };
    assert_eq!((*kind, *quiet), (PamType::Auth, false));
    assert_eq!(text, "[success=1 default=ignore]");
    assert_eq!(actions.action("success"), Action::Jump(1));
    assert_eq!(actions.action("auth_err"), Action::Ignore);
    assert_eq!(
        (module.as_str(), args.as_slice()),
        ("pam_unix.so", &["nullok".to_owned()][..])
    );
    assert!(
        matches!(rule(&file, 1), Rule::Module { quiet: true, module, .. } if module == "pam_cap.so")
    );
    // Types and controls in any case; a continued line keeps its first line number.
    let Rule::Module {
        module,
        args,
        control,
        ..
    } = rule(&file, 2)
    else {
        panic!();
    };
    assert!(is_mfa(module));
    assert_eq!(args, &["bus=unix:path=/x", "timeout=3000"]);
    assert!(
        matches!(control, Control::Actions { actions, .. } if actions.action("auth_err") == Action::Bad)
    );
    let Rule::Module { args, .. } = rule(&file, 3) else {
        panic!();
    };
    assert_eq!(args, &["user in a b", "quiet"]);
    assert_eq!(rule(&file, 4), &Rule::IncludeAll("common-account".into()));
    assert!(matches!(
        rule(&file, 5),
        Rule::Module { kind: PamType::Session, control: Control::Include, module, .. } if module == "common-session"
    ));
}

#[test]
fn simple_controls_mean_what_pam_conf_5_says() {
    let actions = |text: &str| match Control::parse(text).unwrap() {
        Control::Actions { actions, .. } => actions,
        other => panic!("{other:?}"),
    };
    let required = actions("required");
    assert_eq!(required.action("success"), Action::Ok);
    assert_eq!(required.action("auth_err"), Action::Bad);
    assert_eq!(required.action("ignore"), Action::Ignore);
    assert_eq!(actions("requisite").action("auth_err"), Action::Die);
    let sufficient = actions("sufficient");
    assert_eq!(sufficient.action("success"), Action::Done);
    assert_eq!(sufficient.action("auth_err"), Action::Ignore);
    let optional = actions("optional");
    assert_eq!(optional.action("success"), Action::Ok);
    assert_eq!(optional.action("authinfo_unavail"), Action::Ignore);
    // Without `default`, unlisted results are bad.
    assert_eq!(actions("[success=ok]").action("auth_err"), Action::Bad);
    assert_eq!(Control::parse("include"), Ok(Control::Include));
    assert_eq!(Control::parse("SUBSTACK"), Ok(Control::Substack));
}

#[test]
fn lines_libpam_rejects_are_problems_with_their_line() {
    let file = parse_file(
        "auth requird pam_unix.so\n\
         authentication required pam_unix.so\n\
         auth [success=foo] pam_unix.so\n\
         auth [sucess=ok] pam_unix.so\n\
         auth required\n\
         @include\n\
         account required pam_unix.so\n",
    );
    let problems: Vec<(usize, Option<PamType>)> =
        file.problems.iter().map(|p| (p.line, p.kind)).collect();
    assert_eq!(
        problems,
        [
            (1, Some(PamType::Auth)),
            (2, None),
            (3, Some(PamType::Auth)),
            (4, Some(PamType::Auth)),
            (5, Some(PamType::Auth)),
            (6, None),
        ]
    );
    assert!(file.problems[0].what.contains("unknown control `requird`"));
    assert!(
        file.problems[3]
            .what
            .contains("unknown PAM result `sucess`")
    );
    assert_eq!(file.lines.len(), 1);
}

#[test]
fn only_pam_mfa_so_or_an_absolute_path_to_it_is_pam_mfa() {
    assert!(is_mfa("pam_mfa.so"));
    assert!(is_mfa("/lib/security/pam_mfa.so"));
    assert!(!is_mfa("security/pam_mfa.so"));
    assert!(!is_mfa("/lib/security/not_pam_mfa.so"));
    assert!(!is_mfa("pam_mfa.so.1"));
    assert_eq!(module_name("/lib/security/pam_unix.so"), "pam_unix.so");
}
