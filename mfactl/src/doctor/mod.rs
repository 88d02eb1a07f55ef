//! `mfactl doctor`: reads this host's sshd, PAM and mfad set-up and says, in plain words,
//! what will go wrong, naming the file and line and the fix.
//!
//! Two phases. [`gather`] reads everything once (files under `--root`, one short
//! conversation with mfad) into a [`Host`]. Then every function in [`CHECKS`] turns those
//! facts into [`Finding`]s without any I/O, so each check is unit-tested with crafted text.
//! A new check is one more `fn(&Host) -> Vec<Finding>` in that list (the email and SMS
//! transports' are in [`delivery`]).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::CliError;
use crate::output::{emit, emit_json, printable};

mod daemon;
mod database;
mod delivery;
mod files;
mod fs;
mod pam;
mod pamargs;
mod pamconf;
mod pamcontrol;
mod pamstack;
mod pamwalk;
mod sshd;
mod sshdconf;

pub(crate) use daemon::BusChoice;
pub(crate) use fs::Root;

/// Exit status: no errors and no warnings (notes may be there).
pub const EXIT_CLEAN: u8 = 0;
/// Exit status: warnings, but no errors.
pub const EXIT_WARNINGS: u8 = 1;
/// Exit status: at least one error.
pub const EXIT_ERRORS: u8 = 2;
/// Exit status: doctor could not run its checks (say, `--root` is not a directory).
pub const EXIT_CANNOT_CHECK: u8 = 3;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Severity {
    /// Logins are refused, or get in without the second factor, or the secrets are exposed.
    Error,
    /// A gap to close: some logins can skip the second factor, or a risky arrangement.
    Warning,
    /// Worth knowing; nothing to fix unless it is not what was meant.
    Note,
}

impl Severity {
    /// The word that starts a finding's first line.
    fn label(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        }
    }
}

/// One thing doctor found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Finding {
    /// A stable name of the check that found it (`sshd-use-pam`, `pam-control`, …), for
    /// scripts; the texts may change between versions.
    pub check: &'static str,
    /// How bad it is.
    pub severity: Severity,
    /// The file at fault, as read (under `--root`); in JSON as a string, bytes that are not
    /// UTF-8 replaced.
    #[serde(serialize_with = "lossy_path")]
    pub file: Option<PathBuf>,
    /// The line in `file` (1-based).
    pub line: Option<usize>,
    /// What will go wrong, in plain words.
    pub what: String,
    /// What to do about it.
    pub fix: String,
}

fn lossy_path<S: serde::Serializer>(path: &Option<PathBuf>, s: S) -> Result<S::Ok, S::Error> {
    match path {
        Some(path) => s.serialize_some(&path.to_string_lossy()),
        None => s.serialize_none(),
    }
}

impl Finding {
    /// A finding without a place.
    pub fn new(
        check: &'static str,
        severity: Severity,
        what: impl Into<String>,
        fix: impl Into<String>,
    ) -> Finding {
        Finding {
            check,
            severity,
            file: None,
            line: None,
            what: what.into(),
            fix: fix.into(),
        }
    }

    /// The same finding, at `file` (and `line`, when known).
    pub fn at(mut self, file: &Path, line: Option<usize>) -> Finding {
        self.file = Some(file.to_path_buf());
        self.line = line;
        self
    }
}

/// Everything the checks look at, read once.
pub(crate) struct Host {
    /// Where the files were read.
    pub root: Root,
    /// sshd's configuration; `None` when there is no `/etc/ssh/sshd_config`.
    pub sshd: Option<sshdconf::SshdConfig>,
    /// The PAM services and their auth stacks.
    pub pam: pam::PamSetup,
    /// Accounts without a password, from `/etc/shadow` and `/etc/passwd`.
    pub empty_passwords: pam::EmptyPasswords,
    /// What mfad said, if it was asked.
    pub daemon: daemon::DaemonFacts,
    /// Ownership and modes of the database, the module and the configuration files.
    pub files: files::FileFacts,
    /// mfad's email and SMS transports.
    pub delivery: delivery::DeliveryFacts,
    /// The Unix time the facts were read at.
    pub now: i64,
}

/// A check: facts in, findings out, no I/O.
pub(crate) type Check = fn(&Host) -> Vec<Finding>;

/// Every check, in the order their findings are listed (before sorting by severity).
pub(crate) const CHECKS: &[Check] = &[
    sshd::check_installed,
    sshd::check_problems,
    sshd::check_use_pam,
    sshd::check_keyboard_interactive,
    sshd::check_authentication_methods,
    sshd::check_password_authentication,
    pam::check_problems,
    pam::check_services_without_mfa,
    pamcontrol::check_controls,
    pamcontrol::check_order,
    pamargs::check_nullok,
    pamargs::check_arguments,
    pam::check_types,
    daemon::check_reachable,
    daemon::check_policy,
    database::check_privileges,
    database::check_database,
    files::check_module,
    files::check_config_files,
    files::check_mfad_config,
    delivery::check_files,
    delivery::check_timeouts,
    delivery::check_live,
];

/// What to read and where to ask.
pub(crate) struct Options {
    /// `--root`.
    pub root: Root,
    /// `--db`, as mfad sees it (read under `--root`).
    pub db: Option<PathBuf>,
    /// The bus mfad is asked on, or why it is not.
    pub bus: BusChoice,
}

/// Reads every fact the checks need.
pub(crate) fn gather(opts: Options) -> Host {
    let fs = fs::RealFs;
    let sshd = sshdconf::read(&opts.root, &fs);
    let pam = pam::read(&opts.root, &fs);
    let empty_passwords = pam::read_empty_passwords(&opts.root, &fs);
    let daemon = daemon::probe(&opts.bus);
    let files = files::inspect(&opts.root, opts.db.as_deref(), sshd.as_ref(), &pam);
    let delivery = delivery::inspect(&opts.root, files.as_root);
    Host {
        root: opts.root,
        sshd,
        pam,
        empty_passwords,
        daemon,
        files,
        delivery,
        now: crate::deadline::now(),
    }
}

/// Runs every check; errors first, then warnings, then notes, each in check order.
/// Identical findings (the same line reached through two services) are listed once.
pub(crate) fn run_checks(host: &Host) -> Vec<Finding> {
    let mut findings: Vec<Finding> = Vec::new();
    for check in CHECKS {
        for finding in check(host) {
            if !findings.contains(&finding) {
                findings.push(finding);
            }
        }
    }
    findings.sort_by_key(|f| f.severity);
    findings
}

/// The exit status for these findings.
pub(crate) fn exit_status(findings: &[Finding]) -> u8 {
    match findings.iter().map(|f| f.severity).min() {
        Some(Severity::Error) => EXIT_ERRORS,
        Some(Severity::Warning) => EXIT_WARNINGS,
        Some(Severity::Note) | None => EXIT_CLEAN,
    }
}

/// `FILE:LINE: `, `FILE: ` or nothing.
fn place(finding: &Finding) -> String {
    match (&finding.file, finding.line) {
        (Some(file), Some(line)) => format!("{}:{line}: ", printable(&file.to_string_lossy())),
        (Some(file), None) => format!("{}: ", printable(&file.to_string_lossy())),
        (None, _) => String::new(),
    }
}

/// The findings for people: one block per finding (`error: FILE:LINE: what`, then
/// `  fix: …`), a blank line between blocks, and a summary line.
pub(crate) fn render_text(findings: &[Finding]) -> String {
    let mut out = String::new();
    for finding in findings {
        out.push_str(&format!(
            "{}: {}{}\n  fix: {}\n\n",
            finding.severity.label(),
            place(finding),
            printable(&finding.what),
            printable(&finding.fix)
        ));
    }
    out.push_str(&summary(findings));
    out
}

/// `2 errors, 1 warning, 0 notes.` or a sentence when nothing needs doing.
fn summary(findings: &[Finding]) -> String {
    let mut counts: BTreeMap<Severity, usize> = BTreeMap::new();
    for finding in findings {
        *counts.entry(finding.severity).or_default() += 1;
    }
    let count = |s: Severity, word: &str| {
        let n = counts.get(&s).copied().unwrap_or(0);
        format!("{n} {word}{}", if n == 1 { "" } else { "s" })
    };
    let tally = format!(
        "{}, {}, {}",
        count(Severity::Error, "error"),
        count(Severity::Warning, "warning"),
        count(Severity::Note, "note")
    );
    match exit_status(findings) {
        EXIT_CLEAN => format!("No errors or warnings ({tally}).\n"),
        _ => format!("{tally}.\n"),
    }
}

/// `mfactl doctor`: gathers, checks, prints, and returns the exit status.
pub(crate) fn run(opts: Options, json: bool, out: &mut dyn Write) -> Result<u8, CliError> {
    let host = gather(opts);
    let findings = run_checks(&host);
    let written = if json {
        emit_json(out, &findings)
    } else {
        emit(out, &render_text(&findings))
    };
    written.map_err(|e| match e.kind() {
        // `mfactl doctor | head`: the reader has what it wanted.
        std::io::ErrorKind::BrokenPipe => CliError::Output(e),
        _ => CliError::Doctor(format!("cannot write the report: {e}")),
    })?;
    Ok(exit_status(&findings))
}

/// Joins service names for a sentence: `sshd`, `sshd and sudo`, `login, sshd and sudo`.
pub(crate) fn and_list<S: AsRef<str>>(items: &[S]) -> String {
    match items {
        [] => String::new(),
        [one] => one.as_ref().to_owned(),
        [rest @ .., last] => {
            let head: Vec<&str> = rest.iter().map(AsRef::as_ref).collect();
            format!("{} and {}", head.join(", "), last.as_ref())
        }
    }
}

#[cfg(test)]
mod tests;
