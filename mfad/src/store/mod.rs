//! The SQLite store: tokens, replay watermarks, failure counters, audit trail.
//!
//! One file, opened only by mfad, root-only (0600 in a 0700 directory), WAL with
//! `synchronous=FULL` so that an accepted code's watermark is on disk before the login
//! proceeds. Every write is one transaction; a used step and the acceptance that consumes it
//! commit together.

mod migrations;
mod open;
mod policy;
mod recovery;
mod settings;
mod tokens;
mod verify;

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::Connection;

use crate::error::StoreError;

pub use recovery::{RecoverySalt, hash_answer};
pub use settings::{DEFAULT_ALWAYS_REQUIRE_ALLOW, LoginSnapshot, ServiceRule, UserSettings};
pub use tokens::{NewTotpToken, Removal, StoredToken};
pub use verify::{FailureOutcome, VerifyOutcome};

/// The daemon's database. Cheap to share behind an `Arc`; calls are serialised.
pub struct Store {
    conn: Mutex<Connection>,
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
        let conn = open::open_checked(path)?;
        Self::from_connection(conn)
    }

    /// An in-memory store, for unit tests.
    pub fn open_in_memory() -> Result<Self, StoreError> {
        let conn = Connection::open_in_memory()?;
        Self::from_connection(conn)
    }

    fn from_connection(mut conn: Connection) -> Result<Self, StoreError> {
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
        migrations::migrate(&mut conn)?;
        Ok(Store {
            conn: Mutex::new(conn),
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

#[cfg(test)]
mod tests;
