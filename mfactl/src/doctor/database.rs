//! mfad's database: it holds every TOTP secret, so it (with its journals and sealing key) is
//! root's alone, in a directory only root can change.

use std::io;

use super::daemon::DaemonFacts;
use super::files::{Inspected, Meta, SECRETS, writers};
use super::{Finding, Host, Severity};

/// Without root, the database directory and /etc/shadow are closed: say so once.
pub(crate) fn check_privileges(host: &Host) -> Vec<Finding> {
    if host.files.as_root {
        return Vec::new();
    }
    vec![Finding::new(
        "privileges",
        Severity::Note,
        "doctor is not running as root: it cannot look into mfad's database directory or read \
         /etc/shadow, so those checks are limited.",
        "Run `sudo mfactl doctor` for the full check.",
    )]
}

/// The database holds every TOTP secret: root's alone, in a directory only root can change.
pub(crate) fn check_database(host: &Host) -> Vec<Finding> {
    let files = &host.files;
    let db = &files.db;
    let mut out = Vec::new();
    match db.meta {
        Err(io::ErrorKind::NotFound) => {
            // With mfad down, its own finding says what that means for logins.
            let reachable = matches!(host.daemon, DaemonFacts::Reachable { .. });
            let (severity, what) = if reachable {
                (
                    Severity::Warning,
                    "mfad's database is not here, although mfad answers: it seems to run \
                     with another --db, so that file was not checked.",
                )
            } else {
                (
                    Severity::Note,
                    "mfad's database does not exist yet: mfad creates it when it first starts \
                     (unless its unit passes another --db).",
                )
            };
            out.push(
                Finding::new(
                    "database",
                    severity,
                    what,
                    "Start mfad (`systemctl enable --now mfad`); if its unit passes --db, run \
                     `mfactl doctor --db THAT_PATH`.",
                )
                .at(&db.path, None),
            );
        }
        // Without root the directory (0700) hides it; check_privileges says so.
        Err(_) => {}
        Ok(_) => {
            let sidecars = files.db_sidecars.iter().map(|(f, holds)| (f, *holds));
            for (file, holds) in std::iter::once((db, SECRETS)).chain(sidecars) {
                if let Ok(meta) = file.meta
                    && let Some(finding) = secret_file(file, meta, holds)
                {
                    out.push(finding);
                }
            }
        }
    }
    if let Ok(meta) = files.db_dir.meta
        && meta.writable_by_others()
    {
        out.push(
            Finding::new(
                "database-directory",
                Severity::Error,
                format!(
                    "mfad's database directory can be changed by {}: they can replace the \
                     database or plant its -wal/-journal files, and so every secret and rule.",
                    writers(&meta)
                ),
                format!(
                    "`chown root:root {0} && chmod 700 {0}`.",
                    files.db_dir.path.display()
                ),
            )
            .at(&files.db_dir.path, None),
        );
    }
    out
}

/// A database file (or one of its journals, or the key) readable or writable by someone but
/// root.
fn secret_file(file: &Inspected, meta: Meta, holds: &str) -> Option<Finding> {
    let mut problems = Vec::new();
    if meta.uid != 0 {
        problems.push(format!(
            "is owned by uid {}, not root: that user can read every TOTP secret and change \
             any rule",
            meta.uid
        ));
    }
    let readable = meta.mode & 0o044 != 0;
    let writable = meta.mode & 0o022 != 0;
    if readable || writable {
        let how = match (readable, writable) {
            (true, true) => "readable and writable",
            (true, false) => "readable",
            _ => "writable",
        };
        problems.push(format!(
            "is {how} by other users (mode {:04o}): it holds {holds}",
            meta.mode
        ));
    }
    if problems.is_empty() {
        return None;
    }
    let what = format!("This file {}.", problems.join(", and "));
    let fix = format!(
        "`chown root:root {0} && chmod 600 {0}`; then treat the secrets as exposed: re-enroll \
         the tokens.",
        file.path.display()
    );
    Some(Finding::new("database", Severity::Error, what, fix).at(&file.path, None))
}
