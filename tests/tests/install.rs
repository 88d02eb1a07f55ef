//! `make install` / `make uninstall` into a temporary DESTDIR: the exact tree with its modes,
//! a loadable module, binaries that run, man pages that render, unit and activation files
//! naming the installed mfad, completions, and nothing left after `make uninstall`.
//!
//! The tests install the build of their own profile (`PROFILE=debug` under `cargo test`), so
//! they reuse the build of `make test`; real installs use the default, `PROFILE=release`
//! (release binaries, the module in `release-small`).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use mfa_tests::workspace_root;

/// Variables of the Makefile that must not leak in from the caller's environment.
const MAKE_VARIABLES: &[&str] = &[
    "MAKEFLAGS",
    "MFLAGS",
    "MAKELEVEL",
    "DESTDIR",
    "PREFIX",
    "PAMDIR",
    "PROFILE",
    "MODULE_PROFILE",
    "BINDIR",
    "SBINDIR",
    "MANDIR",
    "SYSTEMDUNITDIR",
    "DBUSPOLICYDIR",
    "DBUSSERVICEDIR",
    "BASHCOMPDIR",
    "ZSHCOMPDIR",
    "FISHCOMPDIR",
    "PAMCONFIGDIR",
    "DOCDIR",
    "EXAMPLEDIR",
    "STAGE_DIR",
];

/// Commands `make install` must not run: stand-ins that leave a mark if called.
const MUST_NOT_RUN: &[&str] = &["systemctl", "pam-auth-update", "dbus-send", "busctl"];

/// One install/uninstall round in its own temporary directory.
struct Round {
    dir: tempfile::TempDir,
    prefix: &'static str,
    pamdir: String,
    /// Extra `VAR=value` arguments of both make runs.
    extra: Vec<String>,
}

impl Round {
    fn new(prefix: &'static str, pamdir: Option<&str>) -> Round {
        let dir = tempfile::Builder::new()
            .prefix("mfa-install-")
            .tempdir()
            .expect("temporary directory");
        let fake_bin = dir.path().join("fake-bin");
        fs::create_dir(&fake_bin).unwrap();
        for name in MUST_NOT_RUN {
            let script = fake_bin.join(name);
            let mark = dir.path().join(format!("ran-{name}"));
            fs::write(
                &script,
                format!("#!/bin/sh\necho \"$0 $*\" >>'{}'\nexit 1\n", mark.display()),
            )
            .unwrap();
            fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
        }
        let mut extra = vec![
            format!("DESTDIR={}", dir.path().join("root").display()),
            format!("PREFIX={prefix}"),
            format!("PROFILE={}", test_profile()),
            format!("STAGE_DIR={}", dir.path().join("stage").display()),
        ];
        let pamdir = match pamdir {
            Some(p) => {
                extra.push(format!("PAMDIR={p}"));
                p.to_owned()
            }
            None => default_pamdir(),
        };
        Round {
            dir,
            prefix,
            pamdir,
            extra,
        }
    }

    fn destdir(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// A path under DESTDIR, `installed` being absolute (`/usr/bin/mfactl`).
    fn path(&self, installed: &str) -> PathBuf {
        self.destdir()
            .join(installed.strip_prefix('/').expect("absolute path"))
    }

    fn make(&self, target: &str) -> String {
        let path = format!(
            "{}:{}",
            self.dir.path().join("fake-bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut cmd = Command::new("make");
        cmd.current_dir(workspace_root())
            .arg(target)
            .args(&self.extra)
            .env("PATH", path)
            .stdin(Stdio::null());
        for var in MAKE_VARIABLES {
            cmd.env_remove(var);
        }
        let out = cmd.output().expect("run make");
        let text = describe(&out);
        assert!(
            out.status.success(),
            "make {target} {} failed:\n{text}",
            self.extra.join(" ")
        );
        for name in MUST_NOT_RUN {
            let mark = self.dir.path().join(format!("ran-{name}"));
            assert!(
                !mark.exists(),
                "make {target} ran {name}: {}\n{text}",
                fs::read_to_string(&mark).unwrap_or_default()
            );
        }
        text
    }

    /// The files `make install` must have installed (installed path → mode), besides the
    /// mfactl man pages.
    fn expected_files(&self) -> BTreeMap<String, u32> {
        let p = self.prefix;
        let mut files = BTreeMap::from([
            (format!("{}/pam_mfa.so", self.pamdir), 0o644),
            (format!("{p}/sbin/mfad"), 0o755),
            (format!("{p}/bin/mfactl"), 0o755),
            (format!("{p}/lib/systemd/system/mfad.service"), 0o644),
            (
                format!("{p}/share/dbus-1/system.d/org.pam_mfa.Mfad.conf"),
                0o644,
            ),
            (
                format!("{p}/share/dbus-1/system-services/org.pam_mfa.Mfad.service"),
                0o644,
            ),
            (format!("{p}/share/man/man8/mfad.8"), 0o644),
            (format!("{p}/share/man/man8/pam_mfa.8"), 0o644),
            (
                format!("{p}/share/bash-completion/completions/mfactl"),
                0o644,
            ),
            (format!("{p}/share/zsh/vendor-completions/_mfactl"), 0o644),
            (
                format!("{p}/share/fish/vendor_completions.d/mfactl.fish"),
                0o644,
            ),
            (format!("{p}/share/pam-configs/mfa"), 0o644),
        ]);
        for example in shipped_examples() {
            let name = example.file_name().unwrap().to_str().unwrap();
            files.insert(format!("{p}/share/doc/pam_mfa/examples/{name}"), 0o644);
        }
        files
    }
}

/// The cargo profile this test binary was built with, as the Makefile's PROFILE.
fn test_profile() -> String {
    let exe = std::env::current_exe().expect("current_exe");
    let mut dir = exe.parent().expect("exe dir");
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir = dir.parent().expect("profile dir");
    }
    dir.file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("debug")
        .to_owned()
}

/// The Makefile's default PAMDIR, worked out independently.
fn default_pamdir() -> String {
    for (program, args) in [
        ("dpkg-architecture", &["-qDEB_HOST_MULTIARCH"][..]),
        ("gcc", &["-print-multiarch"][..]),
    ] {
        if let Ok(out) = Command::new(program)
            .args(args)
            .stderr(Stdio::null())
            .output()
        {
            let multiarch = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            if out.status.success() && !multiarch.is_empty() {
                return format!("/usr/lib/{multiarch}/security");
            }
        }
    }
    "/usr/lib/security".to_owned()
}

fn shipped_examples() -> Vec<PathBuf> {
    let root = workspace_root();
    let mut examples = vec![
        root.join("contrib/mfad.toml"),
        root.join("contrib/sshd_config.d/pam_mfa.conf"),
    ];
    for entry in fs::read_dir(root.join("contrib/pam.d")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "example") {
            examples.push(path);
        }
    }
    examples
}

fn describe(out: &Output) -> String {
    format!(
        "status: {}\n--- stdout\n{}--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Every entry under `root`: installed path (`/usr/bin/mfactl`) → (is a directory, mode).
fn tree(root: &Path) -> BTreeMap<String, (bool, u32)> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, (bool, u32)>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = fs::symlink_metadata(&path).unwrap();
            let name = format!("/{}", path.strip_prefix(root).unwrap().display());
            out.insert(name, (meta.is_dir(), meta.permissions().mode() & 0o7777));
            if meta.is_dir() {
                walk(root, &path, out);
            }
        }
    }
    let mut out = BTreeMap::new();
    if root.exists() {
        walk(root, root, &mut out);
    }
    out
}

/// The mfactl pages, found from mfactl.1 by following the subcommand references
/// (`mfactl\-enroll(1)`) of each page.
fn mfactl_pages(man1: &Path) -> BTreeSet<String> {
    let mut pages = BTreeSet::new();
    let mut todo = vec!["mfactl.1".to_owned()];
    while let Some(page) = todo.pop() {
        if !pages.insert(page.clone()) {
            continue;
        }
        let text = fs::read_to_string(man1.join(&page))
            .unwrap_or_else(|e| panic!("{page} (referenced by another page): {e}"));
        for (i, _) in text.match_indices("mfactl\\-") {
            let rest = &text[i..];
            let Some(end) = rest.find("(1)") else {
                continue;
            };
            let name = &rest[..end];
            if name
                .replace("\\-", "-")
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            {
                todo.push(format!("{}.1", name.replace("\\-", "-")));
            }
        }
    }
    pages
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program} >/dev/null")])
        .status()
        .is_ok_and(|s| s.success())
}

/// An ELF shared object (`ET_DYN`) that exports `pam_sm_authenticate` and `pam_sm_setcred`.
fn check_module(module: &Path) {
    let bytes = fs::read(module).unwrap();
    assert_eq!(&bytes[..4], b"\x7fELF", "{} is not ELF", module.display());
    assert_eq!(bytes[5], 1, "expected a little-endian ELF");
    assert_eq!(
        u16::from_le_bytes([bytes[16], bytes[17]]),
        3,
        "{} is not a shared object (ET_DYN)",
        module.display()
    );
    if have("nm") {
        let out = Command::new("nm")
            .args(["-D", "--defined-only"])
            .arg(module)
            .output()
            .unwrap();
        assert!(out.status.success(), "nm -D:\n{}", describe(&out));
        let symbols = String::from_utf8_lossy(&out.stdout);
        for hook in ["pam_sm_authenticate", "pam_sm_setcred"] {
            assert!(
                symbols.lines().any(|l| l.ends_with(&format!(" T {hook}"))),
                "{hook} is not exported:\n{symbols}"
            );
        }
    } else {
        let has = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
        assert!(has(b"pam_sm_authenticate"));
    }
}

/// Renders a page with man(1) if present (and lints it with mandoc if present); else checks
/// the source. Returns the text to look for content in.
fn render_page(page: &Path) -> String {
    let source = read(page);
    assert!(source.contains(".TH "), "{}: no .TH", page.display());
    assert!(source.contains(".SH NAME"), "{}: no NAME", page.display());
    if have("mandoc") {
        let out = Command::new("mandoc")
            .args(["-T", "lint", "-W", "warning"])
            .arg(page)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "mandoc -T lint {}:\n{}",
            page.display(),
            describe(&out)
        );
    }
    if !have("man") {
        return source;
    }
    let out = Command::new("man")
        .arg("-l")
        .arg(page)
        .env("MANWIDTH", "100")
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .env("LC_ALL", "C.UTF-8")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && out.stderr.is_empty() && text.contains("NAME"),
        "man -l {}:\n{}",
        page.display(),
        describe(&out)
    );
    text
}

fn check_installed(round: &Round, install_log: &str) {
    let p = round.prefix;
    let man1 = round.path(&format!("{p}/share/man/man1"));

    // The exact tree: the expected files with their modes, the directories leading to them
    // (0755), nothing else (in particular nothing under /etc).
    let mut want = round.expected_files();
    for page in mfactl_pages(&man1) {
        want.insert(format!("{p}/share/man/man1/{page}"), 0o644);
    }
    let mut want_dirs = BTreeSet::new();
    for file in want.keys() {
        let mut dir = Path::new(file).parent();
        while let Some(d) = dir.filter(|d| *d != Path::new("/")) {
            want_dirs.insert(d.display().to_string());
            dir = d.parent();
        }
    }
    let got = tree(&round.destdir());
    let mut problems = Vec::new();
    for (path, (is_dir, mode)) in &got {
        match (is_dir, want.get(path)) {
            (false, Some(&m)) if m == *mode => {}
            (false, Some(&m)) => problems.push(format!("{path}: mode {mode:o}, want {m:o}")),
            (true, _) if want_dirs.contains(path) && *mode == 0o755 => {}
            (true, _) if want_dirs.contains(path) => {
                problems.push(format!("{path}/: mode {mode:o}, want 755"))
            }
            _ => problems.push(format!("{path}: not expected")),
        }
    }
    for path in want.keys().chain(want_dirs.iter()) {
        if !got.contains_key(path) {
            problems.push(format!("{path}: missing"));
        }
    }
    assert!(
        problems.is_empty(),
        "installed tree under {}:\n  {}\n--- make install\n{install_log}",
        round.destdir().display(),
        problems.join("\n  ")
    );

    check_module(&round.path(&format!("{}/pam_mfa.so", round.pamdir)));

    // The binaries run from DESTDIR.
    for (bin, word) in [
        (format!("{p}/bin/mfactl"), "enroll"),
        (format!("{p}/sbin/mfad"), "--db"),
    ] {
        let out = Command::new(round.path(&bin))
            .arg("--help")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success() && String::from_utf8_lossy(&out.stdout).contains(word),
            "{bin} --help:\n{}",
            describe(&out)
        );
    }

    // Man pages render and carry what they must.
    let pam_mfa = render_page(&round.path(&format!("{p}/share/man/man8/pam_mfa.8")));
    // The synopsis is wider than the page: compare it with the blanks of the fill collapsed.
    let synopsis = "auth required pam_mfa.so [bus=ADDRESS] [timeout=MS] [fido2_timeout=MS] \
                    [single_prompt] [debug]";
    assert!(
        pam_mfa
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .contains(synopsis),
        "pam_mfa(8) lacks {synopsis:?}:\n{pam_mfa}"
    );
    for needle in [
        "unix:path=/run/dbus/system_bus_socket",
        "10000",
        "MODULE TYPES PROVIDED",
        "PAM_SUCCESS",
        "PAM_IGNORE",
        "PAM_AUTH_ERR",
        "PAM_AUTHINFO_UNAVAIL",
        "PAM_USER_UNKNOWN",
        "PAM_CONV_ERR",
        "PAM_SERVICE_ERR",
        "pam-auth-update --enable mfa",
        "auth    required    pam_mfa.so",
        "SEE ALSO",
    ] {
        assert!(
            pam_mfa.contains(needle),
            "pam_mfa(8) lacks {needle:?}:\n{pam_mfa}"
        );
    }
    let mfad = render_page(&round.path(&format!("{p}/share/man/man8/mfad.8")));
    for needle in [
        "--db",
        "--bus-address",
        "/var/lib/mfad/mfa.db",
        "/etc/mfa/mfad.toml",
        "FILES",
        "SEE ALSO",
    ] {
        assert!(mfad.contains(needle), "mfad(8) lacks {needle:?}:\n{mfad}");
    }
    for page in mfactl_pages(&man1) {
        let text = render_page(&man1.join(&page));
        if page == "mfactl.1" {
            assert!(
                text.contains("--json") && text.contains("mfactl-enroll(1)"),
                "{text}"
            );
        }
    }

    // Unit and activation file start the installed mfad; nothing else names /usr/sbin.
    let mfad_path = format!("{p}/sbin/mfad");
    let activation = read(&round.path(&format!(
        "{p}/share/dbus-1/system-services/org.pam_mfa.Mfad.service"
    )));
    assert!(
        activation.lines().any(|l| l == format!("Exec={mfad_path}")),
        "{activation}"
    );
    let unit = read(&round.path(&format!("{p}/lib/systemd/system/mfad.service")));
    assert!(
        unit.lines().any(|l| l == format!("ExecStart={mfad_path}")),
        "{unit}"
    );
    for text in [&activation, &unit] {
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            assert!(
                !line.contains("/sbin/mfad") || line.ends_with(&format!("={mfad_path}")),
                "stale mfad path: {line}"
            );
        }
    }

    // Completions know the subcommands.
    for completion in [
        format!("{p}/share/bash-completion/completions/mfactl"),
        format!("{p}/share/zsh/vendor-completions/_mfactl"),
        format!("{p}/share/fish/vendor_completions.d/mfactl.fish"),
    ] {
        let text = read(&round.path(&completion));
        assert!(
            text.contains("enroll") && text.contains("mfactl"),
            "{completion}"
        );
    }

    // Shipped files are copied as they are.
    let root = workspace_root();
    for (shipped, installed) in [
        (
            root.join("contrib/pam-configs/mfa"),
            format!("{p}/share/pam-configs/mfa"),
        ),
        (
            root.join("contrib/dbus/org.pam_mfa.Mfad.conf"),
            format!("{p}/share/dbus-1/system.d/org.pam_mfa.Mfad.conf"),
        ),
    ] {
        assert_eq!(read(&round.path(&installed)), read(&shipped), "{installed}");
    }
    for example in shipped_examples() {
        let name = example.file_name().unwrap().to_str().unwrap();
        let installed = round.path(&format!("{p}/share/doc/pam_mfa/examples/{name}"));
        assert_eq!(read(&installed), read(&example), "{name}");
    }

    // It says what to do next, with the lock-out warning.
    for needle in [
        "systemctl daemon-reload",
        "systemctl enable --now mfad",
        "pam-auth-update --enable mfa",
        "root shell",
    ] {
        assert!(
            install_log.contains(needle),
            "make install does not say {needle:?}:\n{install_log}"
        );
    }
}

fn install_check_uninstall(round: Round, reinstall: bool) {
    let log = round.make("install");
    check_installed(&round, &log);
    if reinstall {
        // Installing again over an installed tree works and changes nothing.
        let log = round.make("install");
        check_installed(&round, &log);
    }

    let log = round.make("uninstall");
    let left: Vec<String> = tree(&round.destdir())
        .into_iter()
        .filter(|(_, (is_dir, _))| !is_dir)
        .map(|(path, _)| path)
        .collect();
    assert!(
        left.is_empty(),
        "make uninstall left files behind: {left:?}\n{log}"
    );
    assert!(
        !round
            .path(&format!("{}/share/doc/pam_mfa", round.prefix))
            .exists(),
        "make uninstall left share/doc/pam_mfa\n{log}"
    );
    assert!(log.contains("pam-auth-update --disable mfa"), "{log}");
    // Uninstalling again finds nothing to do.
    round.make("uninstall");
}

#[test]
fn make_install_into_usr_then_uninstall() {
    install_check_uninstall(Round::new("/usr", None), true);
}

#[test]
fn make_install_into_usr_local_with_pamdir_then_uninstall() {
    install_check_uninstall(Round::new("/usr/local", Some("/lib/security")), false);
}
