//! The SQLite store: tokens, replay watermarks, failure counters, audit trail.
//!
//! One file, opened only by mfad, root-only (0600 in a 0700 directory), WAL with
//! `synchronous=FULL` so that an accepted code's watermark is on disk before the login
//! proceeds. Every write is one transaction; a used step and the acceptance that consumes it
//! commit together. TOTP secrets are sealed with a key kept in a separate file ([`seal`]).

pub mod fido2;
mod migrations;
mod open;
mod policy;
mod recovery;
pub mod seal;
mod settings;
mod tokens;
mod verify;

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::Connection;

use crate::error::StoreError;

pub use fido2::{Fido2Assertion, Fido2Record, Fido2Row};
pub use recovery::{RecoverySalt, hash_answer};
pub use settings::{DEFAULT_ALWAYS_REQUIRE_ALLOW, LoginSnapshot, ServiceRule, UserSettings};
pub use tokens::{NewTotpToken, Removal, StoredToken};
pub use verify::{FailureOutcome, VerifyOutcome};

/// The daemon's database. Cheap to share behind an `Arc`; calls are serialised.
pub struct Store {
    conn: Mutex<Connection>,
    key: seal::SealKey,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Store")
    }
}

impl Store {
    /// Opens (creating if needed) the database at `path`, after checking that the file and
    /// its directory are safe, running an integrity check and applying migrations.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with_key(path, &seal::default_key_path(path))
    }

    /// Opens (or creates) the database at `path`, sealing secrets with the key in
    /// `key_path`. The key file is created on first use; it is never replaced when the
    /// database already holds secrets sealed with a key, and a key that does not match
    /// the database is refused: both say how to fix it. A damaged file is refused too
    /// (never repaired behind the administrator's back), naming the way out.
    pub fn open_with_key(path: &Path, key_path: &Path) -> Result<Self, StoreError> {
        Self::open_with_key_unchecked_damage(path, key_path).map_err(|e| corruption(path, e))
    }

    fn open_with_key_unchecked_damage(path: &Path, key_path: &Path) -> Result<Self, StoreError> {
        let conn = open::open_checked(path)?;
        let key = match std::fs::symlink_metadata(key_path) {
            Ok(_) => seal::read_key(key_path)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if has_sealed_secrets(&conn)? {
                    return Err(StoreError::Unsafe(format!(
                        "the key file {} is missing, but {} holds secrets sealed with it; \
                         restore the key file from backup (without it every token must be \
                         enrolled again: move the database away to start empty)",
                        key_path.display(),
                        path.display()
                    )));
                }
                seal::create_key(key_path)?
            }
            Err(e) => {
                return Err(StoreError::Io {
                    path: key_path.display().to_string(),
                    source: e,
                });
            }
        };
        Self::from_connection(conn, key).map_err(|e| match e {
            StoreError::WrongKey => StoreError::Unsafe(format!(
                "the key file {} does not belong to {}: its secrets cannot be opened with it; \
                 restore the right key file",
                key_path.display(),
                path.display()
            )),
            other => other,
        })
    }

    /// An in-memory store with a random key, for unit tests.
    pub fn open_in_memory() -> Result<Self, StoreError> {
        let conn = Connection::open_in_memory()?;
        Self::from_connection(conn, seal::SealKey::generate()?)
    }

    fn from_connection(mut conn: Connection, key: seal::SealKey) -> Result<Self, StoreError> {
        conn.busy_timeout(std::time::Duration::from_millis(2000))?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // WAL + FULL: a committed watermark survives power loss (security.md §6).
        let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        if mode != "wal" && mode != "memory" {
            return Err(StoreError::Unsafe(format!(
                "could not switch the database to WAL mode (got {mode})"
            )));
        }
        conn.pragma_update(None, "synchronous", "FULL")?;
        let check: String = conn.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
        if check != "ok" {
            return Err(StoreError::Corrupt(check));
        }
        // A wrong key is refused before any migration could seal more under it.
        if has_sealed_secrets(&conn)? {
            check_key(&conn, &key)?;
        }
        migrations::migrate(&mut conn, &key)?;
        check_key(&conn, &key)?;
        Ok(Store {
            conn: Mutex::new(conn),
            key,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a half-done transaction behind
        // (rusqlite rolls back on drop), so a poisoned lock is safe to reuse.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Schema version of the open database.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(self
            .lock()
            .query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }

    /// Records an audit event in the database (mirrored to syslog by the caller).
    pub fn audit(
        &self,
        now: u64,
        user: &str,
        service: &str,
        event: &str,
        detail: &str,
    ) -> Result<(), StoreError> {
        self.lock().execute(
            "INSERT INTO audit (time, user, service, event, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
            rusqlite::params![now as i64, user, service, event, detail],
        )?;
        Ok(())
    }
}

/// Turns SQLite's "malformed" and "not a database" (damage found before or by the start-up
/// `quick_check`) into [`StoreError::Corrupt`] with the only safe fix: a backup.
fn corruption(path: &Path, e: StoreError) -> StoreError {
    use rusqlite::ErrorCode::{DatabaseCorrupt, NotADatabase};
    let detail = match e {
        StoreError::Corrupt(detail) => detail,
        StoreError::Sqlite(ref s)
            if matches!(s.sqlite_error_code(), Some(DatabaseCorrupt | NotADatabase)) =>
        {
            s.to_string()
        }
        other => return other,
    };
    StoreError::Corrupt(format!(
        "{detail}; {} is damaged: stop mfad and restore it from a backup (keep the key file)",
        path.display()
    ))
}

/// Whether the database has the key check value, i.e. secrets sealed with some key.
fn has_sealed_secrets(conn: &Connection) -> Result<bool, StoreError> {
    let table: i64 = conn.query_row(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'seal'",
        [],
        |r| r.get(0),
    )?;
    if table == 0 {
        return Ok(false);
    }
    let rows: i64 = conn.query_row("SELECT COUNT(*) FROM seal", [], |r| r.get(0))?;
    Ok(rows > 0)
}

/// Checks that `key` opens the database's key check value.
fn check_key(conn: &Connection, key: &seal::SealKey) -> Result<(), StoreError> {
    let value: Vec<u8> = conn.query_row("SELECT check_value FROM seal WHERE id = 1", [], |r| {
        r.get(0)
    })?;
    match key.open(seal::CHECK_AAD, &value) {
        Ok(plain) if plain.as_slice() == seal::CHECK_PLAINTEXT => Ok(()),
        _ => Err(StoreError::WrongKey),
    }
}

#[cfg(test)]
mod tests;
