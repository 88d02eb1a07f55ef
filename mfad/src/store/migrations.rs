//! Versioned schema migrations, tracked in `PRAGMA user_version`.
//!
//! Each entry upgrades from version `index` to `index + 1` inside one transaction, so a
//! crash mid-migration leaves the previous version intact.

use rusqlite::Connection;
use zeroize::Zeroizing;

use super::seal::{CHECK_AAD, CHECK_PLAINTEXT, SealKey, totp_aad};

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
    // 4 → 5: secrets at rest are sealed (seal.rs); this table holds one sealed known value
    // that proves the key file belongs to this database. The existing TOTP secrets are
    // sealed by `seal_existing_secrets`, in the same transaction.
    "CREATE TABLE seal (
        id          INTEGER PRIMARY KEY CHECK (id = 1),
        check_value BLOB NOT NULL
     );",
    // 5 → 6: tokens of other kinds than TOTP. SQLite cannot change a CHECK constraint, so
    // the table is rebuilt with the same rows, ids and id sequence. Per kind:
    // - totp: secret = sealed secret; algorithm, digits, period; last_step = watermark;
    // - ssh-sk: secret = the public key's wire blob (public); algorithm = key type;
    //   detail = its SHA256 fingerprint; digits, period = 0;
    // - fido2: reserved for FIDO2 credentials (sealed like TOTP secrets).
    "CREATE TABLE tokens_v6 (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        user        TEXT    NOT NULL,
        kind        TEXT    NOT NULL CHECK (kind IN ('totp', 'ssh-sk', 'fido2')),
        name        TEXT    NOT NULL,
        secret      BLOB    NOT NULL,
        algorithm   TEXT    NOT NULL,
        digits      INTEGER NOT NULL,
        period      INTEGER NOT NULL,
        last_step   INTEGER NOT NULL DEFAULT -1,
        created     INTEGER NOT NULL,
        last_used   INTEGER NOT NULL DEFAULT 0,
        detail      TEXT    NOT NULL DEFAULT '',
        CHECK (kind <> 'totp' OR (algorithm IN ('SHA1', 'SHA256', 'SHA512')
                                  AND digits IN (6, 8) AND period IN (30, 60))),
        UNIQUE (user, name)
     );
     INSERT INTO tokens_v6 (id, user, kind, name, secret, algorithm, digits, period,
                            last_step, created, last_used)
        SELECT id, user, kind, name, secret, algorithm, digits, period, last_step, created,
               last_used FROM tokens;
     INSERT INTO sqlite_sequence (name, seq)
        SELECT 'tokens_v6', seq FROM sqlite_sequence WHERE name = 'tokens';
     DROP TABLE tokens;
     ALTER TABLE tokens_v6 RENAME TO tokens;
     CREATE INDEX tokens_user ON tokens (user);
     CREATE INDEX tokens_ssh_sk ON tokens (secret) WHERE kind = 'ssh-sk';",
    // 6 → 7: codes sent by email and SMS (sent_codes.rs). Tokens of kind email/sms hold the
    // sealed address in `secret` and the masked address in `detail`; the table is rebuilt
    // again for the CHECK constraint. `sent_codes` holds the one live code per user and
    // method, as a keyed hash only; `code_sends` remembers sends for the hourly and global
    // limits, so a restart does not reset them.
    "CREATE TABLE tokens_v7 (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        user        TEXT    NOT NULL,
        kind        TEXT    NOT NULL CHECK (kind IN ('totp', 'ssh-sk', 'fido2', 'email', 'sms')),
        name        TEXT    NOT NULL,
        secret      BLOB    NOT NULL,
        algorithm   TEXT    NOT NULL,
        digits      INTEGER NOT NULL,
        period      INTEGER NOT NULL,
        last_step   INTEGER NOT NULL DEFAULT -1,
        created     INTEGER NOT NULL,
        last_used   INTEGER NOT NULL DEFAULT 0,
        detail      TEXT    NOT NULL DEFAULT '',
        CHECK (kind <> 'totp' OR (algorithm IN ('SHA1', 'SHA256', 'SHA512')
                                  AND digits IN (6, 8) AND period IN (30, 60))),
        UNIQUE (user, name)
     );
     INSERT INTO tokens_v7 (id, user, kind, name, secret, algorithm, digits, period,
                            last_step, created, last_used, detail)
        SELECT id, user, kind, name, secret, algorithm, digits, period, last_step, created,
               last_used, detail FROM tokens;
     INSERT INTO sqlite_sequence (name, seq)
        SELECT 'tokens_v7', seq FROM sqlite_sequence WHERE name = 'tokens';
     DROP TABLE tokens;
     ALTER TABLE tokens_v7 RENAME TO tokens;
     CREATE INDEX tokens_user ON tokens (user);
     CREATE INDEX tokens_ssh_sk ON tokens (secret) WHERE kind = 'ssh-sk';
     CREATE UNIQUE INDEX tokens_one_address ON tokens (user, kind) WHERE kind IN ('email', 'sms');
     CREATE TABLE sent_codes (
        user       TEXT    NOT NULL,
        method     TEXT    NOT NULL CHECK (method IN ('email', 'sms')),
        token_id   INTEGER NOT NULL REFERENCES tokens (id) ON DELETE CASCADE,
        hash       BLOB    NOT NULL,
        sent_at    INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        PRIMARY KEY (user, method)
     );
     CREATE TABLE code_sends (
        id     INTEGER PRIMARY KEY,
        user   TEXT    NOT NULL,
        method TEXT    NOT NULL,
        at     INTEGER NOT NULL
     );
     CREATE INDEX code_sends_user ON code_sends (user, method, at);
     CREATE INDEX code_sends_at ON code_sends (at);",
];

/// The version whose migration seals the secrets stored in clear by earlier versions.
const SEALING_VERSION: i64 = 5;

/// The schema version this build writes.
pub const CURRENT_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database up to [`CURRENT_VERSION`]; `key` seals what earlier versions kept in
/// clear. Each step is one transaction: a crash leaves the previous version, intact.
pub fn migrate(conn: &mut Connection, key: &SealKey) -> Result<(), StoreError> {
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
        if index as i64 + 1 == SEALING_VERSION {
            seal_existing_secrets(&tx, key)?;
        }
        tx.pragma_update(None, "user_version", index as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

/// Seals every TOTP secret stored in clear, and records the key check value.
fn seal_existing_secrets(tx: &rusqlite::Transaction<'_>, key: &SealKey) -> Result<(), StoreError> {
    let rows: Vec<(i64, String, Zeroizing<Vec<u8>>)> = {
        let mut stmt = tx.prepare("SELECT id, user, secret FROM tokens")?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, Zeroizing::new(r.get(2)?)))
        })?;
        rows.collect::<Result<_, _>>()?
    };
    for (id, user, secret) in &rows {
        let sealed = key.seal(&totp_aad(user), secret)?;
        tx.execute(
            "UPDATE tokens SET secret = ?1 WHERE id = ?2",
            rusqlite::params![sealed, id],
        )?;
    }
    tx.execute(
        "INSERT INTO seal (id, check_value) VALUES (1, ?1)",
        [key.seal(CHECK_AAD, CHECK_PLAINTEXT)?],
    )?;
    Ok(())
}
