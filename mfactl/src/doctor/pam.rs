//! PAM: the services, which of them stack pam_mfa, and the checks on the services as a
//! whole (lines libpam cannot use, services without pam_mfa, pam_mfa outside the auth
//! stack). The stacks' controls are checked in [`super::pamcontrol`], arguments in
//! [`super::pamargs`].

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};

use super::fs::{Fs, Root};
use super::pamconf::{Action, Control, PamFile, PamType, Rule, parse_file};
use super::pamstack::{Entry, EntryKind, Files, flatten};
use super::{Finding, Host, Severity, and_list};

/// Where the PAM services are.
pub(crate) const PAM_DIR: &str = "/etc/pam.d";
/// Services that should ask for a second factor: a warning when they do not stack pam_mfa.
const EXPECTED: &[&str] = &["sshd", "sudo", "login"];
/// Services always checked, even when another file includes them.
const NAMED: &[&str] = &["sshd", "sudo", "su", "login"];

/// One PAM service (a file in the PAM directory) and its stacks.
#[derive(Debug, Clone)]
pub(crate) struct Service {
    /// Its name (the file name).
    pub name: String,
    /// Its file.
    pub file: PathBuf,
    /// The flattened auth stack.
    pub auth: Vec<Entry>,
    /// pam_mfa rules in its account, password and session stacks.
    pub other_mfa: Vec<(PamType, Entry)>,
}

impl Service {
    /// Whether the auth stack has pam_mfa.
    pub fn stacks_mfa(&self) -> bool {
        self.auth.iter().any(Entry::is_mfa)
    }

    /// Every file its auth stack is built from.
    pub fn files(&self) -> BTreeSet<&Path> {
        let mut files: BTreeSet<&Path> = self.auth.iter().map(|e| e.file.as_path()).collect();
        files.insert(&self.file);
        files
    }
}

/// The PAM services doctor looked at.
#[derive(Debug, Default)]
pub(crate) struct PamSetup {
    /// The PAM directory, as read.
    pub dir: PathBuf,
    /// Why the directory could not be listed, if it could not.
    pub unreadable: Option<String>,
    /// sshd, sudo, su and login (those that exist), and every other service stacking
    /// pam_mfa; sorted by name.
    pub services: Vec<Service>,
}

impl PamSetup {
    /// The service called `name`, if it was looked at.
    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.name == name)
    }

    /// The services whose auth stack has pam_mfa.
    pub fn stacking(&self) -> impl Iterator<Item = &Service> {
        self.services.iter().filter(|s| s.stacks_mfa())
    }

    /// Whether the service stacks pam_mfa with `single_prompt`.
    pub fn single_prompt(&self, name: &str) -> bool {
        self.service(name).is_some_and(|s| {
            s.auth
                .iter()
                .any(|e| e.is_mfa() && has_arg(e, "single_prompt"))
        })
    }
}

pub(crate) fn has_arg(entry: &Entry, arg: &str) -> bool {
    entry.args().iter().any(|a| a == arg)
}

/// Loads and parses PAM files on demand, once each.
struct Loader<'a> {
    root: &'a Root,
    fs: &'a dyn Fs,
    dir: PathBuf,
    cache: BTreeMap<PathBuf, Result<PamFile, String>>,
}

impl Files for Loader<'_> {
    fn get(&mut self, path: &Path) -> Result<&PamFile, String> {
        let fs = self.fs;
        self.cache
            .entry(path.to_path_buf())
            .or_insert_with(|| match fs.read(path) {
                Ok(text) => Ok(parse_file(&text)),
                Err(e) => Err(format!("{} cannot be read: {e}", path.display())),
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    fn resolve(&self, name: &str) -> PathBuf {
        if name.starts_with('/') {
            self.root.path(name)
        } else {
            self.dir.join(name)
        }
    }
}

/// Reads the PAM directory: every service named in [`NAMED`] and every service (a file that
/// no other file includes) whose auth stack has pam_mfa.
pub(crate) fn read(root: &Root, fs: &dyn Fs) -> PamSetup {
    let dir = root.path(PAM_DIR);
    let names = match fs.file_names(&dir) {
        Ok(names) => names,
        Err(e) => {
            return PamSetup {
                unreadable: Some(e.to_string()),
                dir,
                services: Vec::new(),
            };
        }
    };
    let mut loader = Loader {
        root,
        fs,
        dir: dir.clone(),
        cache: BTreeMap::new(),
    };
    // Files that another file includes are pieces (common-auth), not services.
    let mut included: BTreeSet<PathBuf> = BTreeSet::new();
    for name in &names {
        let path = dir.join(name);
        let targets: Vec<String> = match loader.get(&path) {
            Ok(file) => file
                .lines
                .iter()
                .filter_map(|l| match &l.rule {
                    Rule::IncludeAll(target) => Some(target.clone()),
                    Rule::Module {
                        control: Control::Include | Control::Substack,
                        module,
                        ..
                    } => Some(module.clone()),
                    Rule::Module { .. } => None,
                })
                .collect(),
            Err(_) => Vec::new(),
        };
        included.extend(targets.iter().map(|t| loader.resolve(t)));
    }
    let mut services = Vec::new();
    for name in &names {
        let file = dir.join(name);
        let named = NAMED.contains(&name.as_str());
        if !named && included.contains(&file) {
            continue;
        }
        let auth = flatten(&mut loader, &file, PamType::Auth);
        let mut other_mfa = Vec::new();
        for kind in [PamType::Account, PamType::Password, PamType::Session] {
            other_mfa.extend(
                flatten(&mut loader, &file, kind)
                    .into_iter()
                    .filter(Entry::is_mfa)
                    .map(|e| (kind, e)),
            );
        }
        let service = Service {
            name: name.clone(),
            file,
            auth,
            other_mfa,
        };
        if named || service.stacks_mfa() || !service.other_mfa.is_empty() {
            services.push(service);
        }
    }
    PamSetup {
        dir,
        unreadable: None,
        services,
    }
}

/// Accounts with an empty password field, or why that could not be told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EmptyPasswords {
    /// These accounts (possibly none) have an empty password.
    Known(Vec<String>),
    /// `/etc/shadow` could not be read.
    Unknown(String),
}

/// Reads `/etc/passwd` and `/etc/shadow` for accounts whose password field is empty.
pub(crate) fn read_empty_passwords(root: &Root, fs: &dyn Fs) -> EmptyPasswords {
    let empty = |text: &str| -> Vec<String> {
        text.lines()
            .filter_map(|l| {
                let mut fields = l.split(':');
                let name = fields.next()?;
                (fields.next()?.is_empty() && !name.is_empty()).then(|| name.to_owned())
            })
            .collect()
    };
    let mut names: BTreeSet<String> = BTreeSet::new();
    if let Ok(text) = fs.read(&root.path("/etc/passwd")) {
        names.extend(empty(&text));
    }
    match fs.read(&root.path("/etc/shadow")) {
        Ok(text) => names.extend(empty(&text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return EmptyPasswords::Unknown(format!("/etc/shadow: {e}")),
    }
    EmptyPasswords::Known(names.into_iter().collect())
}

/// Findings for single services merged: the same finding reached through several services is
/// listed once, naming them all.
pub(crate) fn merged(items: Vec<(&str, Finding)>) -> Vec<Finding> {
    let mut groups: Vec<(Finding, Vec<String>)> = Vec::new();
    for (service, finding) in items {
        match groups.iter_mut().find(|(f, _)| *f == finding) {
            Some((_, names)) => {
                if !names.iter().any(|n| n == service) {
                    names.push(service.to_owned());
                }
            }
            None => groups.push((finding, vec![service.to_owned()])),
        }
    }
    groups
        .into_iter()
        .map(|(mut finding, names)| {
            let label = if names.len() == 1 {
                "service"
            } else {
                "services"
            };
            finding.what = format!("{} (PAM {label}: {}.)", finding.what, and_list(&names));
            finding
        })
        .collect()
}

/// `FILE:LINE` of an entry, for messages.
pub(crate) fn place(entry: &Entry) -> String {
    format!("{}:{}", entry.file.display(), entry.line)
}

/// The PAM directory could not be read, and lines libpam cannot use in the stacks checked.
pub(crate) fn check_problems(host: &Host) -> Vec<Finding> {
    let pam = &host.pam;
    if let Some(why) = &pam.unreadable {
        return vec![
            Finding::new(
                "pam-directory",
                Severity::Error,
                format!("The PAM directory cannot be read ({why}): no service was checked."),
                "Run doctor as root, or point --root at the system to check.",
            )
            .at(&pam.dir, None),
        ];
    }
    let mut items = Vec::new();
    for service in &pam.services {
        for entry in &service.auth {
            if let EntryKind::Broken(why) = &entry.kind {
                let finding = Finding::new(
                    "pam-syntax",
                    Severity::Error,
                    format!(
                        "libpam cannot use this line ({why}): the auth stack fails, and every \
                         login through it is refused."
                    ),
                    "Correct the line (see pam.conf(5)).",
                )
                .at(&entry.file, Some(entry.line));
                items.push((service.name.as_str(), finding));
            }
        }
    }
    merged(items)
}

/// sshd, sudo and login should ask for a second factor.
pub(crate) fn check_services_without_mfa(host: &Host) -> Vec<Finding> {
    let mut out = Vec::new();
    for name in EXPECTED {
        let Some(service) = host.pam.service(name) else {
            continue;
        };
        if service.stacks_mfa() {
            continue;
        }
        out.push(
            Finding::new(
                "pam-missing",
                Severity::Warning,
                format!(
                    "The {name} service does not stack pam_mfa (not in its auth stack, nor in \
                     the files it includes): logins through {name} ask for no second factor."
                ),
                format!(
                    "Add `auth required pam_mfa.so` right after `@include common-auth` in this \
                     file (see /usr/share/doc/pam_mfa/examples/mfa-{name}.example), or run \
                     `pam-auth-update --enable mfa` to add it to common-auth for every service. \
                     Keep a root shell open until a new login works."
                ),
            )
            .at(&service.file, None),
        );
    }
    out
}

/// pam_mfa belongs in the auth stack only: its other hooks return PAM_SERVICE_ERR.
pub(crate) fn check_types(host: &Host) -> Vec<Finding> {
    let mut items = Vec::new();
    for service in &host.pam.services {
        for (kind, entry) in &service.other_mfa {
            let fails = matches!(
                entry.actions.action("service_err"),
                Action::Bad | Action::Die
            );
            let finding = if fails {
                Finding::new(
                    "pam-type",
                    Severity::Error,
                    format!(
                        "pam_mfa is listed under `{}`, where it always fails (PAM_SERVICE_ERR): \
                         every login through this stack is refused.",
                        kind.as_str()
                    ),
                    "Delete that line: pam_mfa belongs in the auth stack only.",
                )
            } else {
                Finding::new(
                    "pam-type",
                    Severity::Note,
                    format!(
                        "pam_mfa is listed under `{}`, where it does nothing (it always \
                         fails there, and this control ignores that).",
                        kind.as_str()
                    ),
                    "Delete that line: pam_mfa belongs in the auth stack only.",
                )
            };
            items.push((
                service.name.as_str(),
                finding.at(&entry.file, Some(entry.line)),
            ));
        }
    }
    merged(items)
}

#[cfg(test)]
mod tests;
