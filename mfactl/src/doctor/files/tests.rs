use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::*;
use crate::doctor::daemon::DaemonFacts;
use crate::doctor::database::{check_database, check_privileges};
use crate::doctor::fs::MemFs;
use crate::doctor::tests::{clean_files, host};

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

fn with_files(files: FileFacts) -> Host {
    let mut host = host(&MemFs::default());
    host.files = files;
    host
}

fn meta(uid: u32, mode: u32) -> Result<Meta, io::ErrorKind> {
    Ok(Meta { uid, mode })
}

#[test]
fn a_private_database_raises_nothing() {
    assert_eq!(check_database(&with_files(clean_files())), []);
    assert_eq!(check_privileges(&with_files(clean_files())), []);
}

#[test]
fn a_database_others_can_read_or_write_is_an_error() {
    for (mode, how) in [
        (0o644, "is readable by other users (mode 0644)"),
        (0o620, "is writable by other users (mode 0620)"),
        (0o666, "is readable and writable by other users (mode 0666)"),
    ] {
        let mut files = clean_files();
        files.db.meta = meta(0, mode);
        let findings = check_database(&with_files(files));
        assert_eq!(findings.len(), 1, "{mode:o}");
        let f = &findings[0];
        assert_eq!((f.check, f.severity), ("database", Severity::Error));
        assert_eq!(f.file.as_deref(), Some(Path::new("/var/lib/mfad/mfa.db")));
        assert!(f.what.contains(how), "{}", f.what);
        assert!(f.what.contains("every user's TOTP secrets"));
        assert!(
            f.fix
                .starts_with("`chown root:root /var/lib/mfad/mfa.db && chmod 600")
        );
    }
    let mut files = clean_files();
    files.db.meta = meta(1000, 0o600);
    let findings = check_database(&with_files(files));
    assert!(findings[0].what.contains("is owned by uid 1000, not root"));
}

#[test]
fn journals_and_the_key_are_held_to_the_same_rule() {
    let mut files = clean_files();
    files.db_sidecars = vec![
        (
            Inspected {
                path: "/var/lib/mfad/mfa.db-wal".into(),
                meta: meta(0, 0o644),
            },
            JOURNAL,
        ),
        (
            Inspected {
                path: "/var/lib/mfad/mfad.key".into(),
                meta: meta(0, 0o640),
            },
            KEY,
        ),
        (
            Inspected {
                path: "/var/lib/mfad/mfa.db-shm".into(),
                meta: meta(0, 0o600),
            },
            JOURNAL,
        ),
    ];
    let findings = check_database(&with_files(files));
    let files: Vec<&Path> = findings.iter().filter_map(|f| f.file.as_deref()).collect();
    assert_eq!(
        files,
        [
            Path::new("/var/lib/mfad/mfa.db-wal"),
            Path::new("/var/lib/mfad/mfad.key")
        ]
    );
    assert!(
        findings[1]
            .what
            .contains("the key that unseals the TOTP secrets")
    );
}

#[test]
fn a_database_directory_others_can_change_is_an_error() {
    let mut files = clean_files();
    files.db_dir.meta = meta(0, 0o777);
    let findings = check_database(&with_files(files));
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].check, "database-directory");
    assert!(
        findings[0]
            .what
            .contains("can be changed by its group and every user")
    );
    assert_eq!(
        findings[0].fix,
        "`chown root:root /var/lib/mfad && chmod 700 /var/lib/mfad`."
    );
}

#[test]
fn a_missing_database_is_a_note_while_mfad_is_down_and_a_warning_when_it_answers() {
    let mut files = clean_files();
    files.db.meta = Err(io::ErrorKind::NotFound);
    let mut host = with_files(files.clone());
    assert_eq!(check_database(&host)[0].severity, Severity::Note);
    host.daemon = DaemonFacts::Reachable {
        bus: "the system bus".into(),
        owner_uid: Some(0),
        caller: mfa_proto::WhoAmI::default(),
        policy: Ok(Default::default()),
    };
    let findings = check_database(&host);
    assert_eq!(findings[0].severity, Severity::Warning);
    assert!(findings[0].fix.contains("mfactl doctor --db THAT_PATH"));
    // Without root the directory hides it: no finding, check_privileges says so.
    files.db.meta = Err(io::ErrorKind::PermissionDenied);
    files.as_root = false;
    let host = with_files(files);
    assert_eq!(check_database(&host), []);
    assert_eq!(check_privileges(&host)[0].check, "privileges");
}

fn module(meta: Result<Meta, io::ErrorKind>, quiet: bool) -> ModuleFile {
    ModuleFile {
        file: Inspected {
            path: "/usr/lib/x86_64-linux-gnu/security/pam_mfa.so".into(),
            meta,
        },
        users: vec![ModuleUse {
            file: "/etc/pam.d/sshd".into(),
            line: 4,
            services: vec!["sshd".into(), "vpn".into()],
            quiet,
        }],
    }
}

#[test]
fn a_missing_module_fails_every_login_or_with_a_dash_skips_the_factor() {
    let mut files = clean_files();
    files.modules = vec![module(Err(io::ErrorKind::NotFound), false)];
    let findings = check_module(&with_files(files.clone()));
    assert_eq!(findings.len(), 1);
    let f = &findings[0];
    assert_eq!(
        (f.check, f.severity, f.line),
        ("module-missing", Severity::Error, Some(4))
    );
    assert_eq!(f.file.as_deref(), Some(Path::new("/etc/pam.d/sshd")));
    assert!(
        f.what
            .contains("every login through sshd and vpn is refused"),
        "{}",
        f.what
    );
    files.modules = vec![module(Err(io::ErrorKind::NotFound), true)];
    let findings = check_module(&with_files(files.clone()));
    assert!(
        findings[0].what.contains("ask for no second factor"),
        "{}",
        findings[0].what
    );
    files.modules = vec![module(meta(0, 0o644), false)];
    assert_eq!(check_module(&with_files(files)), []);
}

#[test]
fn a_module_others_can_change_is_an_error() {
    let mut files = clean_files();
    files.modules = vec![module(meta(0, 0o666), false)];
    let findings = check_module(&with_files(files));
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].check, "module-writable");
    assert!(
        findings[0]
            .what
            .contains("can be changed by its group and every user")
    );
}

#[test]
fn configuration_files_others_can_change_are_errors() {
    let mut files = clean_files();
    files.config_files = vec![
        Inspected {
            path: "/etc/pam.d/sshd".into(),
            meta: meta(0, 0o644),
        },
        Inspected {
            path: "/etc/pam.d/common-auth".into(),
            meta: meta(1000, 0o644),
        },
        Inspected {
            path: "/etc/ssh/sshd_config".into(),
            meta: meta(0, 0o664),
        },
    ];
    let findings = check_config_files(&with_files(files));
    let found: Vec<(&Path, &str)> = findings
        .iter()
        .map(|f| (f.file.as_deref().unwrap(), f.what.as_str()))
        .collect();
    assert_eq!(found.len(), 2, "{found:#?}");
    assert_eq!(found[0].0, Path::new("/etc/pam.d/common-auth"));
    assert!(
        found[0]
            .1
            .contains("can be changed by its owner (uid 1000)")
    );
    assert_eq!(found[1].0, Path::new("/etc/ssh/sshd_config"));
    assert!(found[1].1.contains("can be changed by its group"));
}

#[test]
fn a_configuration_mfad_refuses_names_its_line() {
    let mut files = clean_files();
    let error =
        mfa_core::config::Config::parse("[daemon]\nadmin_group = \"x\"\n[totp]\nwindw = 1\n")
            .unwrap_err()
            .to_string();
    files.mfad_config.parsed = Some(Err(error));
    let findings = check_mfad_config(&with_files(files));
    assert_eq!(findings.len(), 1);
    let f = &findings[0];
    assert_eq!(
        (f.check, f.severity, f.line),
        ("mfad-config", Severity::Error, Some(4))
    );
    assert!(f.what.contains("windw"), "{}", f.what);
    assert!(!f.what.contains('\n'), "{}", f.what);
}

#[test]
fn inspect_reads_owners_modes_and_the_module_directory() {
    let dir = tempfile::tempdir().unwrap();
    let root = Root::new(dir.path()).unwrap();
    let state = root.path("/var/lib/mfad");
    fs::create_dir_all(&state).unwrap();
    chmod(&state, 0o755);
    fs::write(state.join("mfa.db"), b"").unwrap();
    chmod(&state.join("mfa.db"), 0o640);
    fs::write(state.join("mfa.db-wal"), b"").unwrap();
    let security = root.path(format!("/usr/lib/{}/security", multiarch()));
    fs::create_dir_all(&security).unwrap();
    fs::write(security.join("pam_permit.so"), b"").unwrap();
    fs::create_dir_all(root.path("/etc/mfa")).unwrap();
    fs::write(root.path("/etc/mfa/mfad.toml"), "[totp]\nwindow = 9\n").unwrap();

    assert_eq!(module_dir(&root), security);
    let pam = PamSetup::default();
    let facts = inspect(&root, None, None, &pam);
    let uid = nix::unistd::geteuid().as_raw();
    assert_eq!(facts.db.path, state.join("mfa.db"));
    assert_eq!(facts.db.meta, Ok(Meta { uid, mode: 0o640 }));
    assert_eq!(facts.db_dir.meta.map(|m| m.mode), Ok(0o755));
    let sidecars: Vec<&Path> = facts
        .db_sidecars
        .iter()
        .map(|(i, _)| i.path.as_path())
        .collect();
    assert_eq!(sidecars, [state.join("mfa.db-wal").as_path()]);
    assert!(matches!(&facts.mfad_config.parsed, Some(Err(why)) if why.contains("totp.window")));
    assert_eq!(facts.config_files.len(), 1);
    // --db is read under the root too.
    let facts = inspect(&root, Some(Path::new("/srv/mfa.db")), None, &pam);
    assert_eq!(facts.db.path, root.path("/srv/mfa.db"));
    assert_eq!(facts.db.meta, Err(io::ErrorKind::NotFound));
}
