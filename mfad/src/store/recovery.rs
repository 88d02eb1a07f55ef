//! Recovery codes: a set per user of salted PBKDF2 hashes, each consumed once.

use rusqlite::{OptionalExtension, TransactionBehavior, params};

use mfa_core::ratelimit::RateLimit;
use mfa_core::recovery::{HASH_BYTES, MIN_KDF_ROUNDS, RecoveryCode, matching_hash};

use super::Store;
use super::verify::{VerifyOutcome, accept, count_failure, gate};
use crate::error::StoreError;

/// The salt and rounds of a user's set, read before hashing a guess (the KDF runs without
/// the store lock held).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoverySalt {
    /// The set's salt.
    pub salt: Vec<u8>,
    /// PBKDF2 rounds.
    pub rounds: u32,
}

impl Store {
    /// Replaces `user`'s recovery codes with `hashes` (one transaction: the old set is gone
    /// exactly when the new one exists).
    pub fn replace_recovery_codes(
        &self,
        user: &str,
        salt: &[u8],
        rounds: u32,
        hashes: &[[u8; HASH_BYTES]],
        now: u64,
    ) -> Result<(), StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute("DELETE FROM recovery_codes WHERE user = ?1", [user])?;
        tx.execute(
            "INSERT INTO recovery_sets (user, salt, rounds, created) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (user) DO UPDATE SET salt = ?2, rounds = ?3, created = ?4",
            params![user, salt, rounds, now as i64],
        )?;
        for h in hashes {
            tx.execute(
                "INSERT INTO recovery_codes (user, hash) VALUES (?1, ?2)",
                params![user, h.as_slice()],
            )?;
        }
        tx.commit()?;
        // Losing the new set with the WAL would bring the old, possibly printed, one back.
        self.checkpoint_after_commit(&conn, "new recovery codes");
        Ok(())
    }

    /// Unused recovery codes of `user`.
    pub fn recovery_codes_left(&self, user: &str) -> Result<u32, StoreError> {
        Ok(self.lock().query_row(
            "SELECT COUNT(*) FROM recovery_codes WHERE user = ?1 AND used_at = 0",
            [user],
            |r| r.get(0),
        )?)
    }

    /// The salt of `user`'s set, if they have one.
    pub fn recovery_salt(&self, user: &str) -> Result<Option<RecoverySalt>, StoreError> {
        let row: Option<(Vec<u8>, u32)> = self
            .lock()
            .query_row(
                "SELECT salt, rounds FROM recovery_sets WHERE user = ?1",
                [user],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        match row {
            Some((_, rounds)) if rounds < MIN_KDF_ROUNDS => Err(StoreError::BadRow(format!(
                "recovery codes of {user:?} use {rounds} KDF rounds (fewer than {MIN_KDF_ROUNDS})"
            ))),
            Some((salt, rounds)) => Ok(Some(RecoverySalt { salt, rounds })),
            None => Ok(None),
        }
    }

    /// Checks a recovery code in one immediate transaction, like [`Store::verify_totp`]: the
    /// gate and the administrative lock, then every unused hash compared in constant time;
    /// a match is consumed, anything else counts one failure on the shared counter.
    ///
    /// `guess` is the hash of the typed code under `salt` (computed by the caller without the
    /// lock), or `None` when the answer was not a well-formed code.
    pub fn verify_recovery(
        &self,
        user: &str,
        salt: &RecoverySalt,
        guess: Option<&[u8; HASH_BYTES]>,
        now: u64,
        limits: &RateLimit,
    ) -> Result<VerifyOutcome, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let state = match gate(&tx, user, now, limits)? {
            Ok(state) => state,
            Err(refusal) => return Ok(refusal),
        };
        // A set replaced since the salt was read: the guess was hashed with the old salt.
        let current: Option<Vec<u8>> = tx
            .query_row(
                "SELECT salt FROM recovery_sets WHERE user = ?1",
                [user],
                |r| r.get(0),
            )
            .optional()?;
        let mut ids = Vec::new();
        let mut hashes = Vec::new();
        if current.as_deref() == Some(salt.salt.as_slice()) {
            let mut stmt = tx.prepare_cached(
                "SELECT id, hash FROM recovery_codes WHERE user = ?1 AND used_at = 0 ORDER BY id",
            )?;
            let mut rows = stmt.query([user])?;
            while let Some(r) = rows.next()? {
                let hash: Vec<u8> = r.get(1)?;
                let hash: [u8; HASH_BYTES] = hash.try_into().map_err(|_| {
                    StoreError::BadRow("a recovery code hash has the wrong length".into())
                })?;
                ids.push(r.get::<_, i64>(0)?);
                hashes.push(hash);
            }
        }
        if ids.is_empty() {
            return Ok(VerifyOutcome::NotEnrolled);
        }
        let found = guess.and_then(|g| matching_hash(g, &hashes));
        if let Some(i) = found {
            let changed = tx.execute(
                "UPDATE recovery_codes SET used_at = ?1 WHERE id = ?2 AND used_at = 0",
                params![now.max(1) as i64, ids[i]],
            )?;
            if changed == 1 {
                let accepted = accept(tx, user, ids[i])?;
                // A used recovery code must stay used even if the WAL is lost: unlike a
                // TOTP step, it never expires.
                self.checkpoint_after_commit(&conn, "a recovery code was used");
                return Ok(accepted);
            }
        }
        count_failure(tx, user, state, now, limits, false)
    }
}

/// Hashes a typed answer for [`Store::verify_recovery`]; `None` if it is not a code.
pub fn hash_answer(answer: &str, salt: &RecoverySalt) -> Option<[u8; HASH_BYTES]> {
    RecoveryCode::parse(answer)
        .ok()
        .map(|c| c.hash(&salt.salt, salt.rounds))
}
