//! The one transaction that decides a login: gate, verify, consume the step, count failures.

use rusqlite::{
    Connection, OptionalExtension, Savepoint, Transaction, TransactionBehavior, params,
};

use mfa_core::code::Code;
use mfa_core::ratelimit::{FailureState, Gate, RateLimit};
use mfa_core::totp::Verification;

use super::Store;
use crate::error::StoreError;

/// The result of one verification.
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyOutcome {
    /// The code was valid and its step is now consumed.
    Accepted {
        /// The token that matched.
        token_id: i64,
    },
    /// Wrong, replayed or malformed: counted as one failure.
    Failed(FailureOutcome),
    /// The gate was closed; the code was not checked and nothing was counted.
    Throttled {
        /// When the gate opens.
        until: u64,
    },
    /// Too many consecutive failures; only an admin reset reopens the account.
    LockedOut,
    /// An administrator locked the user's second factor.
    AdminLocked,
    /// The user has no token.
    NotEnrolled,
}

/// Details of a counted failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureOutcome {
    /// The code was valid but for an already used step.
    pub replayed: bool,
    /// The failure state after counting this failure.
    pub state: FailureState,
}

pub(super) fn read_state(
    conn: &rusqlite::Connection,
    user: &str,
) -> Result<FailureState, StoreError> {
    // Cached statements: these run on every login, and parsing SQL cost more than running it.
    Ok(conn
        .prepare_cached("SELECT consecutive, locked_until FROM failures WHERE user = ?1")?
        .query_row([user], |r| {
            Ok(FailureState {
                consecutive: r.get(0)?,
                locked_until: r.get::<_, i64>(1)?.max(0) as u64,
            })
        })
        .optional()?
        .unwrap_or_default())
}

/// A verifying transaction: a whole one, or one unit's savepoint in a group commit
/// ([`super::group`]). `finish` commits it (for a savepoint: RELEASE, made durable by the
/// batch's commit); dropping it unfinished rolls it back.
pub(super) trait Unit: std::ops::Deref<Target = Connection> {
    /// Keeps the writes.
    fn finish(self) -> rusqlite::Result<()>;
}

impl Unit for Transaction<'_> {
    fn finish(self) -> rusqlite::Result<()> {
        self.commit()
    }
}

impl Unit for Savepoint<'_> {
    fn finish(self) -> rusqlite::Result<()> {
        self.commit()
    }
}

/// The first step of every verifying transaction: the user's failure record if codes may be
/// checked now, else why not (back-off, hard lock-out, administrative lock).
pub(super) fn gate(
    tx: &Connection,
    user: &str,
    now: u64,
    limits: &RateLimit,
) -> Result<Result<FailureState, VerifyOutcome>, StoreError> {
    let state = read_state(tx, user)?;
    Ok(match limits.gate(state, now) {
        Gate::Wait { until } => Err(VerifyOutcome::Throttled { until }),
        Gate::LockedOut => Err(VerifyOutcome::LockedOut),
        Gate::Open if super::settings::admin_locked(tx, user)? => Err(VerifyOutcome::AdminLocked),
        Gate::Open => Ok(state),
    })
}

/// Ends a verifying transaction with success: the factor `id` was consumed, so the user's
/// failure record is cleared with it.
pub(super) fn accept<U: Unit>(tx: U, user: &str, id: i64) -> Result<VerifyOutcome, StoreError> {
    tx.prepare_cached("DELETE FROM failures WHERE user = ?1")?
        .execute([user])?;
    tx.finish()?;
    Ok(VerifyOutcome::Accepted { token_id: id })
}

/// Ends a verifying transaction with one counted failure.
pub(super) fn count_failure<U: Unit>(
    tx: U,
    user: &str,
    state: FailureState,
    now: u64,
    limits: &RateLimit,
    replayed: bool,
) -> Result<VerifyOutcome, StoreError> {
    let new_state = limits.after_failure(state, now);
    write_state(&tx, user, new_state, now)?;
    tx.finish()?;
    Ok(VerifyOutcome::Failed(FailureOutcome {
        replayed,
        state: new_state,
    }))
}

pub(super) fn write_state(
    tx: &Connection,
    user: &str,
    s: FailureState,
    now: u64,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO failures (user, consecutive, locked_until, last_failure) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (user) DO UPDATE SET consecutive = ?2, locked_until = ?3, last_failure = ?4",
    )?
    .execute(params![
        user,
        s.consecutive,
        s.locked_until.min(i64::MAX as u64) as i64,
        now as i64
    ])?;
    Ok(())
}

impl Store {
    /// Verifies `code` for `user` at `now` against all their TOTP tokens, in one immediate
    /// transaction: the gate is checked, every token is tried (no early exit), and either the
    /// matched step is consumed and the failure counter cleared, or one failure is counted.
    ///
    /// `code` is `None` when the answer was not even a well-formed code: that is a failure
    /// too, counted the same way.
    pub fn verify_totp(
        &self,
        user: &str,
        code: Option<&Code>,
        now: u64,
        window: u32,
        limits: &RateLimit,
    ) -> Result<VerifyOutcome, StoreError> {
        let (user, code, limits) = (user.to_owned(), code.cloned(), *limits);
        // Concurrent logins share the commit (and its fsync): see `group`.
        self.batched(move |store, unit| {
            store.verify_totp_in(unit, &user, code.as_ref(), now, window, &limits)
        })
    }

    fn verify_totp_in<U: Unit>(
        &self,
        tx: U,
        user: &str,
        code: Option<&Code>,
        now: u64,
        window: u32,
        limits: &RateLimit,
    ) -> Result<VerifyOutcome, StoreError> {
        let state = match gate(&tx, user, now, limits)? {
            Ok(state) => state,
            Err(refusal) => return Ok(refusal),
        };
        let tokens = self.load_totp_keys(&tx, user)?;
        if tokens.is_empty() {
            return Ok(VerifyOutcome::NotEnrolled);
        }
        let mut accepted: Option<(i64, u64)> = None;
        let mut replayed = false;
        for t in &tokens {
            let result = match code {
                Some(c) => t.key.verify(c, now, t.last_step, window),
                None => Verification::Rejected,
            };
            match result {
                Verification::Accepted { step } if accepted.is_none() => {
                    accepted = Some((t.id, step))
                }
                Verification::Accepted { .. } => {}
                Verification::Replayed => replayed = true,
                Verification::Rejected => {}
            }
        }
        if let Some((token_id, step)) = accepted {
            // The condition makes the consumption itself the proof: if another writer had
            // consumed this step, no row changes and this is a replay.
            let changed = tx
                .prepare_cached(
                    "UPDATE tokens SET last_step = ?1, last_used = ?2 WHERE id = ?3 AND last_step < ?1",
                )?
                .execute(params![step as i64, now as i64, token_id])?;
            if changed == 1 {
                return accept(tx, user, token_id);
            }
            replayed = true;
        }
        count_failure(tx, user, state, now, limits, replayed)
    }

    /// Counts one failure for `user` for an answer that was never checked because the PAM
    /// module refused it (not UTF-8, too long): one immediate transaction behind the same
    /// gate as [`Store::verify_totp`], so it is throttled and counted exactly like a wrong
    /// code (a closed gate or an administrative lock refuses without counting).
    pub fn refuse_answer(
        &self,
        user: &str,
        now: u64,
        limits: &RateLimit,
    ) -> Result<VerifyOutcome, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let state = match gate(&tx, user, now, limits)? {
            Ok(state) => state,
            Err(refusal) => return Ok(refusal),
        };
        count_failure(tx, user, state, now, limits, false)
    }

    /// Counts one failure for `user` without checking a code: the unknown-user path, so that
    /// names NSS does not know are throttled exactly like real accounts. Returns the new state.
    pub fn record_failure(
        &self,
        user: &str,
        now: u64,
        limits: &RateLimit,
    ) -> Result<FailureState, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let state = read_state(&tx, user)?;
        let new_state = limits.after_failure(state, now);
        write_state(&tx, user, new_state, now)?;
        // Unknown names must not fill the disk: forget idle records of names without
        // tokens once their back-off is long over.
        tx.execute(
            "DELETE FROM failures WHERE last_failure < ?1 AND locked_until < ?1
               AND user NOT IN (SELECT user FROM tokens)",
            [now.saturating_sub(86_400) as i64],
        )?;
        tx.commit()?;
        Ok(new_state)
    }

    /// `user`'s current failure record.
    pub fn failure_state(&self, user: &str) -> Result<FailureState, StoreError> {
        read_state(&self.lock(), user)
    }
}
