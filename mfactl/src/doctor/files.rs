//! Files: what doctor reads of mfad's database (checked in [`super::database`]), the module
//! file, the configuration files pam_mfa's safety rests on, and mfad's own configuration.

use std::collections::BTreeSet;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use mfa_core::config::{Config, DEFAULT_CONFIG_PATH};

use super::fs::Root;
use super::pam::PamSetup;
use super::sshdconf::SshdConfig;
use super::{Finding, Host, Severity, and_list};

/// mfad's default database (its `--db`; mfad/src/cli.rs `DEFAULT_DB_PATH`).
pub(crate) const DEFAULT_DB_PATH: &str = "/var/lib/mfad/mfa.db";

/// mfad's key sealing the secrets in the database, beside it (mfad's default `--key-file`).
const KEY_FILE_NAME: &str = "mfad.key";
/// What the database holds.
pub(crate) const SECRETS: &str = "every user's TOTP secrets";
/// What SQLite's journal files hold.
const JOURNAL: &str = "recent changes to the database, secrets included";
/// What the key file holds.
const KEY: &str = "the key that unseals the TOTP secrets in the database";

/// Owner and mode of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Meta {
    /// Owner uid.
    pub uid: u32,
    /// Permission bits (`0o7777`).
    pub mode: u32,
}

impl Meta {
    fn of(path: &Path) -> Result<Meta, io::ErrorKind> {
        let m = std::fs::metadata(path).map_err(|e| e.kind())?;
        Ok(Meta {
            uid: m.uid(),
            mode: m.mode() & 0o7777,
        })
    }

    /// Whether someone other than root can change it.
    pub(crate) fn writable_by_others(&self) -> bool {
        self.uid != 0 || self.mode & 0o022 != 0
    }
}

/// A file doctor looked at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Inspected {
    /// Where it is, as read.
    pub path: PathBuf,
    /// Its owner and mode, or why they are unknown.
    pub meta: Result<Meta, io::ErrorKind>,
}

impl Inspected {
    fn new(path: PathBuf) -> Inspected {
        let meta = Meta::of(&path);
        Inspected { path, meta }
    }
}

/// A pam_mfa module file and the rules that load it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ModuleFile {
    /// The file.
    pub file: Inspected,
    /// The rules naming it: file, line, services, whether the type had a `-`.
    pub users: Vec<ModuleUse>,
}

/// One rule loading the module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ModuleUse {
    /// The PAM file.
    pub file: PathBuf,
    /// Its line.
    pub line: usize,
    /// The services whose auth stacks have it.
    pub services: Vec<String>,
    /// A `-auth` line: libpam skips it without a word when the module is missing.
    pub quiet: bool,
}

/// mfad's configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MfadConfig {
    /// The file.
    pub file: Inspected,
    /// `None` when it is missing or unreadable; else whether mfad accepts it.
    pub parsed: Option<Result<(), String>>,
}

/// What the file checks look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileFacts {
    /// doctor runs as root (else the database directory and /etc/shadow are closed to it).
    pub as_root: bool,
    /// The database.
    pub db: Inspected,
    /// Its directory.
    pub db_dir: Inspected,
    /// SQLite's journal files and mfad's sealing key next to it, where they exist, each
    /// with what it holds.
    pub db_sidecars: Vec<(Inspected, &'static str)>,
    /// The module files named by the PAM stacks.
    pub modules: Vec<ModuleFile>,
    /// The configuration files: sshd's and those of the PAM stacks with pam_mfa (and of
    /// sshd, sudo, su, login), and mfad's.
    pub config_files: Vec<Inspected>,
    /// mfad's configuration.
    pub mfad_config: MfadConfig,
}

/// The multiarch triplet of this machine's libraries (Debian's `DEB_HOST_MULTIARCH`).
fn multiarch() -> String {
    let arch = std::env::consts::ARCH;
    match arch {
        "arm" => "arm-linux-gnueabihf".to_owned(),
        "x86" => "i386-linux-gnu".to_owned(),
        "powerpc64" if cfg!(target_endian = "little") => "powerpc64le-linux-gnu".to_owned(),
        _ => format!("{arch}-linux-gnu"),
    }
}

/// Where libpam loads modules named without a path from: the first usual directory that
/// holds pam_unix.so or pam_permit.so, else the Debian one.
pub(crate) fn module_dir(root: &Root) -> PathBuf {
    let triplet = multiarch();
    let candidates = [
        format!("/usr/lib/{triplet}/security"),
        format!("/lib/{triplet}/security"),
        "/usr/lib64/security".to_owned(),
        "/lib64/security".to_owned(),
        "/usr/lib/security".to_owned(),
        "/lib/security".to_owned(),
    ];
    candidates
        .iter()
        .map(|c| root.path(c))
        .find(|dir| dir.join("pam_unix.so").exists() || dir.join("pam_permit.so").exists())
        .unwrap_or_else(|| root.path(&candidates[0]))
}

/// Looks at every file the checks need.
pub(crate) fn inspect(
    root: &Root,
    db: Option<&Path>,
    sshd: Option<&SshdConfig>,
    pam: &PamSetup,
) -> FileFacts {
    let db_path = root.path(db.unwrap_or(Path::new(DEFAULT_DB_PATH)));
    let db_dir = db_path
        .parent()
        .map_or_else(|| root.path("/"), Path::to_path_buf);
    let journal = |suffix: &str| {
        let mut name = db_path.clone().into_os_string();
        name.push(suffix);
        PathBuf::from(name)
    };
    let db_sidecars = [
        (journal("-wal"), JOURNAL),
        (journal("-shm"), JOURNAL),
        (journal("-journal"), JOURNAL),
        (db_path.with_file_name(KEY_FILE_NAME), KEY),
    ]
    .into_iter()
    .map(|(path, holds)| (Inspected::new(path), holds))
    .filter(|(i, _)| i.meta != Err(io::ErrorKind::NotFound))
    .collect();

    let dir = module_dir(root);
    let mut modules: Vec<ModuleFile> = Vec::new();
    for service in pam.stacking() {
        for entry in service.auth.iter().filter(|e| e.is_mfa()) {
            let Some(module) = entry.module() else {
                continue;
            };
            let path = if module.starts_with('/') {
                root.path(module)
            } else {
                dir.join(module)
            };
            let quiet = matches!(
                entry.kind,
                super::pamstack::EntryKind::Module { quiet: true, .. }
            );
            let index = match modules.iter().position(|m| m.file.path == path) {
                Some(i) => i,
                None => {
                    modules.push(ModuleFile {
                        file: Inspected::new(path),
                        users: Vec::new(),
                    });
                    modules.len() - 1
                }
            };
            let users = &mut modules[index].users;
            match users
                .iter_mut()
                .find(|u| u.file == entry.file && u.line == entry.line)
            {
                Some(user) => {
                    if !user.services.contains(&service.name) {
                        user.services.push(service.name.clone());
                    }
                }
                None => users.push(ModuleUse {
                    file: entry.file.clone(),
                    line: entry.line,
                    services: vec![service.name.clone()],
                    quiet,
                }),
            }
        }
    }

    let mut paths: BTreeSet<PathBuf> = BTreeSet::new();
    if let Some(sshd) = sshd {
        paths.extend(sshd.files.iter().cloned());
    }
    for service in &pam.services {
        paths.extend(service.files().into_iter().map(Path::to_path_buf));
    }
    let config_path = root.path(DEFAULT_CONFIG_PATH);
    let mfad_config = MfadConfig {
        file: Inspected::new(config_path.clone()),
        parsed: std::fs::read_to_string(&config_path)
            .ok()
            .map(|text| Config::parse(&text).map(|_| ()).map_err(|e| e.to_string())),
    };
    if mfad_config.file.meta.is_ok() {
        paths.insert(config_path);
    }
    FileFacts {
        as_root: nix::unistd::geteuid().is_root(),
        db: Inspected::new(db_path),
        db_dir: Inspected::new(db_dir),
        db_sidecars,
        modules,
        config_files: paths.into_iter().map(Inspected::new).collect(),
        mfad_config,
    }
}

/// Who besides root can change a file, in words.
pub(crate) fn writers(meta: &Meta) -> String {
    let mut who = Vec::new();
    if meta.uid != 0 {
        who.push(format!("its owner (uid {})", meta.uid));
    }
    if meta.mode & 0o020 != 0 {
        who.push("its group".to_owned());
    }
    if meta.mode & 0o002 != 0 {
        who.push("every user".to_owned());
    }
    and_list(&who)
}

/// The module file must exist where libpam loads it, and only root may change it.
pub(crate) fn check_module(host: &Host) -> Vec<Finding> {
    let mut out = Vec::new();
    for module in &host.files.modules {
        let path = &module.file.path;
        match module.file.meta {
            Err(io::ErrorKind::NotFound) => {
                for user in &module.users {
                    let services = and_list(&user.services);
                    let what = if user.quiet {
                        format!(
                            "{} does not exist, and this `-auth` line makes libpam skip a \
                             missing module without a word: logins through {services} ask \
                             for no second factor.",
                            path.display()
                        )
                    } else {
                        format!(
                            "{} does not exist: libpam cannot load pam_mfa, and every login \
                             through {services} is refused.",
                            path.display()
                        )
                    };
                    out.push(
                        Finding::new(
                            "module-missing",
                            Severity::Error,
                            what,
                            format!(
                                "Install the module (`make install` puts it in {}), or correct \
                                 the path on this line.",
                                module_dir(&host.root).display()
                            ),
                        )
                        .at(&user.file, Some(user.line)),
                    );
                }
            }
            Err(_) => {}
            Ok(meta) if meta.writable_by_others() => out.push(
                Finding::new(
                    "module-writable",
                    Severity::Error,
                    format!(
                        "The PAM module can be changed by {}: whoever does can replace it and \
                         log in as anyone.",
                        writers(&meta)
                    ),
                    format!("`chown root:root {0} && chmod 644 {0}`.", path.display()),
                )
                .at(path, None),
            ),
            Ok(_) => {}
        }
    }
    out
}

/// The files that decide how logins go must be root's alone.
pub(crate) fn check_config_files(host: &Host) -> Vec<Finding> {
    let mut out = Vec::new();
    for file in &host.files.config_files {
        let Ok(meta) = file.meta else {
            continue;
        };
        if meta.writable_by_others() {
            out.push(
                Finding::new(
                    "config-writable",
                    Severity::Error,
                    format!(
                        "This file can be changed by {}: whoever does can change how logins \
                         are checked, and turn the second factor off.",
                        writers(&meta)
                    ),
                    format!(
                        "`chown root:root {0} && chmod go-w {0}`.",
                        file.path.display()
                    ),
                )
                .at(&file.path, None),
            );
        }
    }
    out
}

/// mfad refuses to start with a configuration it does not accept.
pub(crate) fn check_mfad_config(host: &Host) -> Vec<Finding> {
    let config = &host.files.mfad_config;
    match &config.parsed {
        Some(Err(why)) => {
            let (why, line) = toml_summary(why);
            vec![
                Finding::new(
                    "mfad-config",
                    Severity::Error,
                    format!(
                        "mfad refuses to start with this configuration ({why}), and while it \
                         is down every login through pam_mfa is refused."
                    ),
                    "Correct it (every key is in /usr/share/doc/pam_mfa/examples/mfad.toml), \
                     then `systemctl restart mfad`.",
                )
                .at(&config.file.path, line),
            ]
        }
        _ => Vec::new(),
    }
}

/// A TOML error on one line, and the line it names: the parser's message spans several
/// lines (a header naming line and column, a snippet, the reason).
fn toml_summary(why: &str) -> (String, Option<usize>) {
    let lines: Vec<&str> = why
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let line = lines.first().and_then(|first| {
        let rest = first.split("at line ").nth(1)?;
        rest.split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    });
    let text = match (line, lines.last()) {
        (Some(_), Some(reason)) => (*reason).to_owned(),
        _ => lines.join(" "),
    };
    (text, line)
}

#[cfg(test)]
mod tests;
