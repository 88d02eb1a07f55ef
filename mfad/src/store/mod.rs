//! The SQLite store: tokens, replay watermarks, failure counters, audit trail.
//!
//! One file, opened only by mfad, root-only (0600 in a 0700 directory), WAL with
//! `synchronous=FULL` so that an accepted code's watermark is on disk before the login
//! proceeds. Every write is one transaction; a used step and the acceptance that consumes it
//! commit together. TOTP secrets are sealed with a key kept in a separate file ([`seal`]).
//!
//! # The WAL file is part of the database
//!
//! In WAL mode a commit is durable once it is in `mfa.db-wal`; it reaches `mfa.db` only at a
//! checkpoint. An administrator who deletes `mfa.db-wal` after a crash (a common "fix" for
//! a database that seems stuck) loses every write since the last checkpoint. Which writes
//! may be lost that way, and which may not:
//!
//! - **Never lost: the rare writes.** A recovery code consumed, a token enrolled (TOTP, SSH
//!   or FIDO2 key), a token removed or renamed, recovery codes replaced, an administrative
//!   lock or unlock, always-require and policy changes. Losing one would reopen a used
//!   recovery code, bring back a removed token or lift a lock. Each is followed at once by a
//!   checkpoint ([`Store::checkpoint_after_commit`], `PASSIVE`), so it is in `mfa.db` before
//!   the caller is answered. They happen a few times per user per year, so the cost does
//!   not matter: on the development machine's ext4, a commit took 0.25–0.31 ms (p50) and a
//!   commit followed by the checkpoint 0.47–0.59 ms (`measure_checkpoint_cost` in the
//!   store's tests, two runs).
//! - **Left to SQLite's automatic checkpoint (every 1000 pages): the per-login writes.**
//!   TOTP `last_step`, FIDO2 signature counters, failure counters, audit rows. A checkpoint
//!   after each would roughly double the commit of every login (0.2–0.3 ms more, two more
//!   `fsync`s), and issue 7 wants Verify latency down, not up. Losing them with the WAL is harmless in practice: a TOTP step is only accepted
//!   within its window (±1 step of 30 s, so 90 s at most), which is long over by the time
//!   anyone deletes files after a crash; a FIDO2 counter that goes back only weakens clone
//!   detection for the next login, which raises it again; a lost failure count gives an
//!   attacker at most the failures of the lost minutes back.
//! - **Clean shutdown** (SIGTERM or SIGINT, mfad's `cli`) runs `wal_checkpoint(TRUNCATE)`
//!   under the store lock and exits without releasing it ([`Store::final_checkpoint`]), so a
//!   stopped mfad leaves an empty `mfa.db-wal` and everything in `mfa.db`.

pub mod fido2;
mod group;
mod migrations;
mod open;
mod policy;
mod recovery;
pub mod seal;
mod sent_codes;
mod settings;
mod tokens;
mod verify;

use std::path::Path;
use std::sync::{Mutex, MutexGuard, OnceLock};

use rusqlite::Connection;

use crate::error::StoreError;

pub use fido2::{Fido2Assertion, Fido2Record, Fido2Row};
pub use recovery::{RecoverySalt, hash_answer};
pub use sent_codes::{LiveCode, SavedAddress, SendDecision};
pub use settings::{DEFAULT_ALWAYS_REQUIRE_ALLOW, LoginSnapshot, ServiceRule, UserSettings};
pub use tokens::{NewTotpToken, Removal, StoredToken};
pub use verify::{FailureOutcome, VerifyOutcome};

/// The daemon's database. Cheap to share behind an `Arc`; calls are serialised.
pub struct Store {
    conn: Mutex<Connection>,
    key: seal::SealKey,
    /// Where warnings about incomplete checkpoints go (the daemon's syslog), once set.
    warn: OnceLock<WarningSink>,
    /// Concurrent verifications share a transaction and its fsync ([`group`]).
    group: group::GroupCommit,
}

/// Receives the store's warnings (one line each).
type WarningSink = Box<dyn Fn(&str) + Send + Sync>;

/// What a checkpoint did: `PRAGMA wal_checkpoint`'s three numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    /// Another connection kept the checkpoint from finishing (SQLITE_BUSY).
    pub busy: bool,
    /// Frames in the WAL file (-1 if the database is not in WAL mode).
    pub wal_frames: i64,
    /// Frames copied into the main database file.
    pub copied: i64,
}

impl Checkpoint {
    /// Whether every committed change is now in the main database file.
    pub fn complete(&self) -> bool {
        !self.busy && self.copied >= self.wal_frames
    }
}

/// The result of [`Store::final_checkpoint`], holding the store lock: no write can happen
/// while it lives, so a process that exits before dropping it commits nothing after the
/// checkpoint.
#[must_use = "the store stays locked only while this lives"]
pub struct FinalCheckpoint<'a> {
    /// What the checkpoint did, or why it failed.
    pub result: Result<Checkpoint, StoreError>,
    _hold: MutexGuard<'a, Connection>,
}

fn run_checkpoint(conn: &Connection, mode: &str) -> Result<Checkpoint, StoreError> {
    Ok(
        conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
            Ok(Checkpoint {
                busy: r.get::<_, i64>(0)? != 0,
                wal_frames: r.get(1)?,
                copied: r.get(2)?,
            })
        })?,
    )
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
        // Every statement of a login is prepared once (`prepare_cached`); rusqlite's default
        // of 16 would evict some of them each login.
        conn.set_prepared_statement_cache_capacity(64);
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
            warn: OnceLock::new(),
            group: group::GroupCommit::default(),
        })
    }

    /// Sends warnings about checkpoints that could not finish to `sink` (set once; later
    /// calls are ignored). Without a sink they are dropped.
    pub fn on_warning(&self, sink: impl Fn(&str) + Send + Sync + 'static) {
        let _ = self.warn.set(Box::new(sink));
    }

    /// Folds the WAL into the main file right after the commit of a write that must survive
    /// the loss of `mfa.db-wal` (see the module docs for which ones). `what` names the write
    /// for the warning.
    ///
    /// `PASSIVE`, not `FULL`: with mfad as the only connection (its calls are serialised by
    /// the store lock) both copy every frame, and they measured alike (commit + checkpoint
    /// 0.47–0.59 ms p50 either way, against 0.25–0.31 ms for the commit alone). They differ only when another process reads the
    /// file (an administrator's `sqlite3`, a backup): `FULL` would then wait for it, up to the
    /// busy timeout, with the store lock held and every login waiting too; `PASSIVE` copies
    /// what it can at once. The change is committed either way; if frames are left, a
    /// warning says so, and the next checkpoint (the next rare write, SQLite's automatic one,
    /// or shutdown) completes it. Errors are reported the same way and never undo or fail
    /// the committed write.
    pub(super) fn checkpoint_after_commit(&self, conn: &Connection, what: &str) {
        let problem = match run_checkpoint(conn, "PASSIVE") {
            Ok(c) if c.complete() => return,
            Ok(c) => format!(
                "{} of {} WAL frames copied (another process has the database open)",
                c.copied, c.wal_frames
            ),
            Err(e) => e.to_string(),
        };
        if let Some(warn) = self.warn.get() {
            warn(&format!(
                "checkpoint after {what} incomplete: {problem}; the change is committed but \
                 only in the -wal file until the next checkpoint: never delete that file"
            ));
        }
    }

    /// The shutdown checkpoint: `wal_checkpoint(TRUNCATE)` (every frame copied into the main
    /// file, then the WAL file emptied), under the store lock, which the result keeps.
    pub fn final_checkpoint(&self) -> FinalCheckpoint<'_> {
        let hold = self.lock();
        FinalCheckpoint {
            result: run_checkpoint(&hold, "TRUNCATE"),
            _hold: hold,
        }
    }

    /// Opens the sealed value of token `id` (`what` it holds, for the message). A value that
    /// does not open is a storage fault, never skipped: a skipped row could hide a tampered one.
    fn unseal(
        &self,
        aad: &[u8],
        id: i64,
        what: &str,
        sealed: &[u8],
    ) -> Result<zeroize::Zeroizing<Vec<u8>>, StoreError> {
        self.key
            .open(aad, sealed)
            .map_err(|e| StoreError::BadRow(format!("token {id}: the {what} {e}")))
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
#[cfg(test)]
mod wal_tests;
