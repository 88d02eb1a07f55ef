//! Email and SMS transports: the `[email]` and `[sms]` sections of mfad.toml.
//!
//! A section that is not configured raises nothing (its method is simply not offered). A
//! configured one is checked for what makes mfad refuse to start or a send fail: a secret
//! file (SMTP login, gateway auth header) that is missing or not root's alone, a CA file
//! that is missing or others can change, an `sms.command` program that is missing, not
//! executable or changeable by others, and a send timeout that pam_mfa's `timeout=` cuts
//! short. On the running host (`--root /`, as root) the transport is also tried: the mail
//! server is greeted (TLS and login included, no mail sent), the gateway connected to.

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use mfa_core::config::{Config, DEFAULT_CONFIG_PATH};
use mfa_core::delivery::{EmailConfig, GatewayUrl, SmsConfig};
use mfa_deliver::{DeliveryError, Mailer, SmsSender};

use super::fs::Root;
use super::pam::merged;
use super::{Finding, Host, Severity};

/// pam_mfa's `timeout=` when none is given, in milliseconds (pam_mfa/src/args.rs).
const DEFAULT_MODULE_TIMEOUT_MS: u64 = 10_000;

/// Which section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    /// `[email]`.
    Email,
    /// `[sms]`.
    Sms,
}

impl Transport {
    /// The section's name, which starts its keys.
    fn key(self) -> &'static str {
        match self {
            Transport::Email => "email",
            Transport::Sms => "sms",
        }
    }

    /// How the code travels, in words.
    fn by(self) -> &'static str {
        match self {
            Transport::Email => "by email",
            Transport::Sms => "by text message",
        }
    }
}

/// What a file named in a section is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// A secret only root may read (`credentials_file`, `auth_header_file`).
    Secret,
    /// Certificates trusted for the mail server (`tls_ca_file`).
    Trust,
    /// The program `sms.command` runs.
    Program,
}

/// Owner, mode and type of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileMeta {
    /// Owner uid.
    pub uid: u32,
    /// Permission bits (`0o7777`).
    pub mode: u32,
    /// A regular file (after following symbolic links).
    pub regular: bool,
}

/// A file a section names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NamedFile {
    /// The key naming it (`email.credentials_file`).
    pub key: &'static str,
    /// What it is for.
    pub role: Role,
    /// Where it is, as read (under `--root`).
    pub path: PathBuf,
    /// Its owner, mode and type, or why they are unknown.
    pub meta: Result<FileMeta, io::ErrorKind>,
}

/// The outcome of trying the transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Live {
    /// Not tried: another system (`--root`), a file problem already reported, or a command
    /// transport (its checks are the file checks).
    NotTried,
    /// Not tried: doctor is not root, so it cannot read what mfad would use.
    NotRoot,
    /// The mail server or gateway answered.
    Reached,
    /// It did not: what goes wrong and the fix.
    Failed {
        /// What will go wrong.
        what: String,
        /// What to do.
        fix: String,
    },
}

/// A configured section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Section {
    /// Which one.
    pub transport: Transport,
    /// Its `timeout_secs`.
    pub timeout_secs: u64,
    /// The files it names.
    pub files: Vec<NamedFile>,
    /// Trying it.
    pub live: Live,
}

/// The configured sections of mfad.toml; none when it is missing, or invalid (that is
/// [`super::files::check_mfad_config`]'s finding).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct DeliveryFacts {
    /// mfad.toml, as read.
    pub config: PathBuf,
    /// `[email]` and `[sms]`, those configured.
    pub sections: Vec<Section>,
}

fn meta_of(path: &Path) -> Result<FileMeta, io::ErrorKind> {
    let m = std::fs::metadata(path).map_err(|e| e.kind())?;
    Ok(FileMeta {
        uid: m.uid(),
        mode: m.mode() & 0o7777,
        regular: m.is_file(),
    })
}

/// Reads mfad.toml under `root`, looks at the files its sections name, and, on the running
/// host as root, tries each transport whose files raised nothing.
pub(crate) fn inspect(root: &Root, as_root: bool) -> DeliveryFacts {
    let config = root.path(DEFAULT_CONFIG_PATH);
    let parsed = std::fs::read_to_string(&config)
        .ok()
        .and_then(|text| Config::parse(&text).ok());
    let mut sections = Vec::new();
    if let Some(cfg) = parsed {
        let file = |key, role, path: &Path| NamedFile {
            key,
            role,
            path: root.path(path),
            meta: meta_of(&root.path(path)),
        };
        if cfg.email.is_configured() {
            let mut files = Vec::new();
            if let Some(p) = &cfg.email.credentials_file {
                files.push(file("email.credentials_file", Role::Secret, p));
            }
            if let Some(p) = &cfg.email.tls_ca_file {
                files.push(file("email.tls_ca_file", Role::Trust, p));
            }
            sections.push(section(Transport::Email, cfg.email.timeout_secs, files));
        }
        if cfg.sms.is_configured() {
            let mut files = Vec::new();
            if let Some(p) = &cfg.sms.auth_header_file {
                files.push(file("sms.auth_header_file", Role::Secret, p));
            }
            if let Some(program) = cfg.sms.command.as_ref().and_then(|argv| argv.first()) {
                files.push(file("sms.command", Role::Program, Path::new(program)));
            }
            sections.push(section(Transport::Sms, cfg.sms.timeout_secs, files));
        }
        for s in &mut sections {
            let tryable = s.files.iter().all(|f| file_problem(f).is_none())
                && !(s.transport == Transport::Sms && cfg.sms.command.is_some());
            s.live = match (root.is_host(), as_root, tryable) {
                (true, true, true) => try_transport(s.transport, &cfg.email, &cfg.sms),
                (true, false, true) => Live::NotRoot,
                _ => Live::NotTried,
            };
        }
    }
    DeliveryFacts { config, sections }
}

fn section(transport: Transport, timeout_secs: u64, files: Vec<NamedFile>) -> Section {
    Section {
        transport,
        timeout_secs,
        files,
        live: Live::NotTried,
    }
}

/// Builds the transport as mfad does and tries it (bounded by its `timeout_secs`).
pub(crate) fn try_transport(transport: Transport, email: &EmailConfig, sms: &SmsConfig) -> Live {
    let (tried, place, timeout_secs) = match transport {
        Transport::Email => {
            // The URL holds no secret (mfa-core refuses a password in it).
            let place = email.smtp_url.clone().unwrap_or_default();
            match Mailer::from_config(email) {
                Ok(Some(m)) => (m.check(), m.server(), email.timeout_secs),
                Ok(None) => return Live::NotTried,
                Err(e) => (Err(e), place, email.timeout_secs),
            }
        }
        Transport::Sms => {
            // Only host and port: a gateway URL may carry an API key in its query.
            let place = sms
                .gateway_url
                .as_deref()
                .and_then(|u| GatewayUrl::parse(u).ok())
                .map(|u| format!("{}:{}", u.host, u.port))
                .unwrap_or_default();
            match SmsSender::from_config(sms) {
                Ok(Some(s)) => (s.check(), place, sms.timeout_secs),
                Ok(None) => return Live::NotTried,
                Err(e) => (Err(e), place, sms.timeout_secs),
            }
        }
    };
    match tried {
        Ok(()) => Live::Reached,
        Err(e) => failed(transport, &e, &place, timeout_secs),
    }
}

/// What a failed try means, and the fix for that kind of failure.
pub(crate) fn failed(
    transport: Transport,
    e: &DeliveryError,
    place: &str,
    timeout_secs: u64,
) -> Live {
    let key = transport.key();
    let restart = "then `systemctl restart mfad`";
    let what = match e {
        DeliveryError::File { .. } | DeliveryError::Config { .. } => format!(
            "mfad refuses to start with this [{key}] section ({}), and while it is down every \
             login through pam_mfa is refused.",
            e.detail()
        ),
        _ => format!(
            "{} ({place}): codes {} cannot be sent, and users who choose {key} at login are \
             told so (users with no other method cannot log in).",
            e.detail(),
            transport.by()
        ),
    };
    let fix = match e {
        DeliveryError::File { .. } | DeliveryError::Config { .. } => {
            format!("Correct what the message names, {restart}.")
        }
        DeliveryError::Unreachable { .. } if transport == Transport::Email => format!(
            "Start the mail server, or let this host reach it (firewall), or correct \
             email.smtp_url in mfad.toml ({restart})."
        ),
        DeliveryError::Unreachable { .. } => format!(
            "Let this host reach the gateway (DNS, firewall, proxy), or correct \
             sms.gateway_url in mfad.toml ({restart})."
        ),
        DeliveryError::TimedOut { .. } => format!(
            "The {key} transport did not answer within {key}.timeout_secs ({timeout_secs} s): \
             check that it is up and reachable from this host."
        ),
        DeliveryError::Tls { .. } => format!(
            "The server's certificate must be valid for the host in email.smtp_url and trusted \
             (the system store, or email.tls_ca_file); or use the TLS mode the server offers \
             ({restart})."
        ),
        DeliveryError::LoginRefused { .. } => format!(
            "Correct the user name (first line) and password (second line) in \
             email.credentials_file, {restart}."
        ),
        _ => format!("Check [{key}] in mfad.toml against what the server expects, and its log."),
    };
    Live::Failed { what, fix }
}

/// What is wrong with a file a section names, and the fix; `None` when nothing is, or
/// when its owner and mode are unknown (not root: already said by other checks).
pub(crate) fn file_problem(file: &NamedFile) -> Option<(String, String)> {
    let path = file.path.display();
    let key = file.key;
    let meta = match file.meta {
        Ok(meta) => meta,
        Err(io::ErrorKind::NotFound) => {
            let what = match file.role {
                Role::Program => format!(
                    "{key} runs {path}, which does not exist: no code can be sent by text \
                     message."
                ),
                _ => format!(
                    "{key} names {path}, which does not exist: mfad refuses to start, and \
                     while it is down every login through pam_mfa is refused."
                ),
            };
            let fix = match file.role {
                Role::Secret if key == "email.credentials_file" => format!(
                    "Create it with the SMTP user name on the first line and the password on \
                     the second (`install -m 600 -o root -g root /dev/null {path}`, then edit \
                     it), or remove {key}."
                ),
                Role::Secret => format!(
                    "Create it with one header line such as `Authorization: Bearer TOKEN` \
                     (`install -m 600 -o root -g root /dev/null {path}`, then edit it), or \
                     remove {key}."
                ),
                Role::Trust => {
                    format!("Put the CA certificate (PEM) there, or remove {key}.")
                }
                Role::Program => format!("Install the program, or correct {key}."),
            };
            return Some((what, fix));
        }
        Err(_) => return None,
    };
    if !meta.regular {
        return Some((
            format!("{key} names {path}, which is not a regular file."),
            format!("Point {key} at a file."),
        ));
    }
    let mut wrong = Vec::new();
    if meta.uid != 0 {
        wrong.push(format!("is owned by uid {}, not root", meta.uid));
    }
    match file.role {
        Role::Secret => {
            if meta.mode & 0o077 != 0 {
                wrong.push(format!(
                    "group or others may access it (mode {:04o})",
                    meta.mode
                ));
            }
            (!wrong.is_empty()).then(|| {
                (
                    format!(
                        "{key} {path} holds a secret but {}: mfad refuses to start with it, \
                         and while it is down every login through pam_mfa is refused.",
                        wrong.join(" and ")
                    ),
                    format!("`chown root:root {path} && chmod 600 {path}`."),
                )
            })
        }
        Role::Trust | Role::Program => {
            if meta.mode & 0o022 != 0 {
                wrong.push(format!(
                    "group or others may change it (mode {:04o})",
                    meta.mode
                ));
            }
            let exec = file.role == Role::Program && meta.mode & 0o111 == 0;
            let why = match file.role {
                Role::Trust => {
                    "whoever changes it can make mfad trust their own mail server, \
                                and read the codes"
                }
                _ => "whoever changes it reads every code sent",
            };
            if !wrong.is_empty() {
                Some((
                    format!("{key} {path} {}: {why}.", wrong.join(" and ")),
                    format!("`chown root:root {path} && chmod go-w {path}`."),
                ))
            } else if exec {
                Some((
                    format!(
                        "{key} runs {path}, which is not executable: no code can be sent by text message."
                    ),
                    format!("`chmod 755 {path}`."),
                ))
            } else {
                None
            }
        }
    }
}

/// Files named by `[email]` and `[sms]` that stop mfad or a send.
pub(crate) fn check_files(host: &Host) -> Vec<Finding> {
    let mut out = Vec::new();
    for section in &host.delivery.sections {
        for file in &section.files {
            if let Some((what, fix)) = file_problem(file) {
                out.push(
                    Finding::new("delivery-file", Severity::Error, what, fix)
                        .at(&host.delivery.config, None),
                );
            }
        }
    }
    out
}

/// A send may take `timeout_secs`; pam_mfa gives each call to mfad its `timeout=`. A send
/// that takes longer than that makes the login fail as if mfad were down.
pub(crate) fn check_timeouts(host: &Host) -> Vec<Finding> {
    let mut items = Vec::new();
    for section in &host.delivery.sections {
        let send_ms = section.timeout_secs.saturating_mul(1000);
        for service in host.pam.stacking() {
            for entry in service.auth.iter().filter(|e| e.is_mfa()) {
                let timeout_ms = match entry.args().iter().find_map(|a| a.strip_prefix("timeout="))
                {
                    // A malformed value is pam-arguments' finding.
                    Some(ms) => match ms.parse::<u64>() {
                        Ok(ms) => ms,
                        Err(_) => continue,
                    },
                    None => DEFAULT_MODULE_TIMEOUT_MS,
                };
                if send_ms < timeout_ms {
                    continue;
                }
                let key = section.transport.key();
                let finding = Finding::new(
                    "delivery-timeout",
                    Severity::Error,
                    format!(
                        "Sending a code {} may take up to {key}.timeout_secs = {} s (in {}), \
                         but pam_mfa waits only {timeout_ms} ms for mfad here: with a slow \
                         {key} transport the login fails as if mfad were down, instead of \
                         saying the code could not be sent.",
                        section.transport.by(),
                        section.timeout_secs,
                        host.delivery.config.display()
                    ),
                    format!(
                        "Give this line `timeout=` above {send_ms} (at most 30000), or lower \
                         {key}.timeout_secs below {} s.",
                        timeout_ms.div_ceil(1000)
                    ),
                )
                .at(&entry.file, Some(entry.line));
                items.push((service.name.as_str(), finding));
            }
        }
    }
    merged(items)
}

/// The transports tried on this host.
pub(crate) fn check_live(host: &Host) -> Vec<Finding> {
    let mut out = Vec::new();
    for section in &host.delivery.sections {
        match &section.live {
            Live::Failed { what, fix } => out.push(
                Finding::new("delivery-live", Severity::Error, what.clone(), fix.clone())
                    .at(&host.delivery.config, None),
            ),
            Live::NotRoot => out.push(
                Finding::new(
                    "delivery-live",
                    Severity::Note,
                    format!(
                        "The {} transport was not tried: only root can read what mfad uses \
                         to send.",
                        section.transport.key()
                    ),
                    "Run `sudo mfactl doctor`.",
                )
                .at(&host.delivery.config, None),
            ),
            Live::NotTried | Live::Reached => {}
        }
    }
    out
}

#[cfg(test)]
mod tests;
