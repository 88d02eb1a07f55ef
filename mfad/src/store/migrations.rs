//! Versioned schema migrations, tracked in `PRAGMA user_version`.
//!
//! Each entry upgrades from version `index` to `index + 1` inside one transaction, so a
//! crash mid-migration leaves the previous version intact.

use rusqlite::Connection;

use crate::error::StoreError;

const MIGRATIONS: &[&str] = &[
    // 0 → 1: TOTP tokens, failure counters, audit trail.
    "CREATE TABLE tokens (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        user        TEXT    NOT NULL,
        kind        TEXT    NOT NULL CHECK (kind IN ('totp')),
        name        TEXT    NOT NULL,
        secret      BLOB    NOT NULL,
        algorithm   TEXT    NOT NULL CHECK (algorithm IN ('SHA1', 'SHA256', 'SHA512')),
        digits      INTEGER NOT NULL CHECK (digits IN (6, 8)),
        period      INTEGER NOT NULL CHECK (period IN (30, 60)),
        last_step   INTEGER NOT NULL DEFAULT -1,
        created     INTEGER NOT NULL,
        last_used   INTEGER NOT NULL DEFAULT 0,
        UNIQUE (user, name)
     );
     CREATE INDEX tokens_user ON tokens (user);
     CREATE TABLE failures (
        user         TEXT PRIMARY KEY,
        consecutive  INTEGER NOT NULL,
        locked_until INTEGER NOT NULL,
        last_failure INTEGER NOT NULL
     );
     CREATE TABLE audit (
        id      INTEGER PRIMARY KEY,
        time    INTEGER NOT NULL,
        user    TEXT    NOT NULL,
        service TEXT    NOT NULL,
        event   TEXT    NOT NULL,
        detail  TEXT    NOT NULL
     );",
    // 1 → 2: per-service policy ('*' is the default for services without a row).
    "CREATE TABLE service_policy (
        service TEXT PRIMARY KEY,
        mode    TEXT NOT NULL CHECK (mode IN ('required', 'optional', 'off'))
     );",
    // 2 → 3: groups whose members must use MFA.
    "CREATE TABLE enforced_groups (name TEXT PRIMARY KEY);",
    // 3 → 4: allowed methods per service, per-user settings (always-require, admin lock),
    // global settings, enrollment deadlines, recovery codes (salted hashes only).
    "ALTER TABLE service_policy ADD COLUMN methods TEXT NOT NULL DEFAULT '';
     CREATE TABLE user_settings (
        user           TEXT PRIMARY KEY,
        always_require INTEGER NOT NULL DEFAULT 0 CHECK (always_require IN (0, 1)),
        locked_at      INTEGER NOT NULL DEFAULT 0,
        lock_reason    TEXT    NOT NULL DEFAULT ''
     );
     CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
     CREATE TABLE grace (
        subject TEXT PRIMARY KEY,  -- 'user:NAME' or 'group:NAME'
        until   INTEGER NOT NULL
     );
     CREATE TABLE recovery_sets (
        user    TEXT PRIMARY KEY,
        salt    BLOB    NOT NULL,
        rounds  INTEGER NOT NULL,
        created INTEGER NOT NULL
     );
     CREATE TABLE recovery_codes (
        id      INTEGER PRIMARY KEY,
        user    TEXT    NOT NULL REFERENCES recovery_sets (user) ON DELETE CASCADE,
        hash    BLOB    NOT NULL,
        used_at INTEGER NOT NULL DEFAULT 0
     );
     CREATE INDEX recovery_codes_user ON recovery_codes (user);",
];

/// The schema version this build writes.
pub const CURRENT_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database up to [`CURRENT_VERSION`].
pub fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if found > CURRENT_VERSION {
        return Err(StoreError::TooNew {
            found,
            supported: CURRENT_VERSION,
        });
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Exclusive)?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", index as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}
