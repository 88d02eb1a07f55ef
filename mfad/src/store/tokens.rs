//! Token rows: insert (at enrollment), list, remove.

use rusqlite::{OptionalExtension, params};

use mfa_core::ssh_sk::SshSkPublicKey;
use mfa_core::totp::{TotpKey, TotpParams};
use mfa_proto::{TokenInfo, TotpAlgorithm};

use super::Store;
use crate::error::StoreError;

/// A TOTP token about to be saved: its key and the step its confirmation code used.
#[derive(Debug)]
pub struct NewTotpToken<'a> {
    /// Owner.
    pub user: &'a str,
    /// Name, unique per user.
    pub name: &'a str,
    /// The key.
    pub key: &'a TotpKey,
    /// The step consumed by the confirmation code (becomes the watermark).
    pub confirmed_step: u64,
}

/// What [`Store::remove_token`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removal {
    /// The token is gone.
    Removed {
        /// The removed token.
        info: TokenInfo,
        /// It was the user's last token.
        last: bool,
        /// Always-require was on and was turned off with it.
        cleared_always_require: bool,
    },
    /// No such token.
    NotFound,
    /// It is the last token and `allow_last` was false; nothing changed.
    WouldRemoveLast,
}

/// A token as stored, with its key, for verification.
#[derive(Debug)]
pub struct StoredToken {
    /// Row id.
    pub id: i64,
    /// The key.
    pub key: TotpKey,
    /// Last accepted step, if any.
    pub last_step: Option<u64>,
}

pub(super) fn row_to_info(r: &rusqlite::Row<'_>) -> rusqlite::Result<TokenInfo> {
    Ok(TokenInfo {
        id: r.get::<_, i64>(0)?.to_string(),
        user: r.get(1)?,
        kind: r.get(2)?,
        name: r.get(3)?,
        algorithm: r.get(4)?,
        digits: r.get(5)?,
        period: r.get(6)?,
        created: r.get(7)?,
        last_used: r.get(8)?,
        detail: r.get(9)?,
    })
}

const INFO_COLUMNS: &str =
    "id, user, kind, name, algorithm, digits, period, created, last_used, detail";

pub(super) fn parse_params(
    algorithm: &str,
    digits: u32,
    period: u32,
) -> Result<TotpParams, StoreError> {
    let algorithm: TotpAlgorithm = algorithm.parse().map_err(StoreError::BadRow)?;
    Ok(TotpParams {
        algorithm,
        digits,
        period,
    })
}

pub(super) fn info_by_id(tx: &rusqlite::Transaction<'_>, id: i64) -> Result<TokenInfo, StoreError> {
    Ok(tx.query_row(
        &format!("SELECT {INFO_COLUMNS} FROM tokens WHERE id = ?1"),
        [id],
        row_to_info,
    )?)
}

/// The id of `user`'s token whose id (decimal) or name is `token`; an id match wins.
fn find_token_id(
    tx: &rusqlite::Transaction<'_>,
    user: &str,
    token: &str,
) -> Result<Option<i64>, StoreError> {
    let by_id = token.parse::<i64>().ok();
    Ok(tx
        .query_row(
            "SELECT id FROM tokens WHERE user = ?1 AND (id = ?2 OR name = ?3) ORDER BY (id = ?2) DESC LIMIT 1",
            params![user, by_id, token],
            |r| r.get(0),
        )
        .optional()?)
}

impl Store {
    /// Saves a confirmed TOTP token. Fails with a constraint error if the name is taken.
    pub fn insert_totp(&self, t: &NewTotpToken<'_>, now: u64) -> Result<TokenInfo, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let p = t.key.params();
        let sealed = self
            .key
            .seal(&super::seal::totp_aad(t.user), t.key.secret())?;
        tx.execute(
            "INSERT INTO tokens (user, kind, name, secret, algorithm, digits, period, last_step, created)
             VALUES (?1, 'totp', ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                t.user,
                t.name,
                sealed,
                p.algorithm.as_str(),
                p.digits,
                p.period,
                t.confirmed_step as i64,
                now as i64
            ],
        )?;
        let id = tx.last_insert_rowid();
        let info = info_by_id(&tx, id)?;
        tx.commit()?;
        self.checkpoint_after_commit(&conn, "a TOTP enrollment");
        Ok(info)
    }

    /// Saves an SSH security key (`sk-…` public key) for `user`. Fails with a constraint
    /// error if the name is taken, and with [`StoreError::Duplicate`] if the user already has
    /// that key.
    pub fn insert_ssh_sk(
        &self,
        user: &str,
        name: &str,
        key: &SshSkPublicKey,
        now: u64,
    ) -> Result<TokenInfo, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let blob = key.wire_blob();
        let existing: Option<String> = tx
            .query_row(
                "SELECT name FROM tokens WHERE user = ?1 AND kind = 'ssh-sk' AND secret = ?2",
                params![user, blob],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(existing) = existing {
            return Err(StoreError::Duplicate(format!(
                "{user} already has this key, as {existing:?}"
            )));
        }
        tx.execute(
            "INSERT INTO tokens (user, kind, name, secret, algorithm, digits, period, created, detail)
             VALUES (?1, 'ssh-sk', ?2, ?3, ?4, 0, 0, ?5, ?6)",
            params![
                user,
                name,
                blob,
                key.key_type().algorithm(),
                now as i64,
                key.fingerprint()
            ],
        )?;
        let id = tx.last_insert_rowid();
        let info = info_by_id(&tx, id)?;
        tx.commit()?;
        self.checkpoint_after_commit(&conn, "an SSH security key enrollment");
        Ok(info)
    }

    /// `user`'s SSH security keys as (token id, wire blob).
    pub fn ssh_sk_keys(&self, user: &str) -> Result<Vec<(i64, Vec<u8>)>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(
            "SELECT id, secret FROM tokens WHERE user = ?1 AND kind = 'ssh-sk' ORDER BY id",
        )?;
        let rows = stmt.query_map([user], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Records that token `id` was just used (SSH security keys, which have no watermark).
    pub fn mark_used(&self, id: i64, now: u64) -> Result<(), StoreError> {
        self.lock().execute(
            "UPDATE tokens SET last_used = ?1 WHERE id = ?2",
            params![now as i64, id],
        )?;
        Ok(())
    }

    /// Whether `user` already has a token called `name`.
    pub fn token_name_taken(&self, user: &str, name: &str) -> Result<bool, StoreError> {
        Ok(self
            .lock()
            .query_row(
                "SELECT 1 FROM tokens WHERE user = ?1 AND name = ?2",
                params![user, name],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// `user`'s tokens, oldest first (never their secrets).
    pub fn list_tokens(&self, user: &str) -> Result<Vec<TokenInfo>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {INFO_COLUMNS} FROM tokens WHERE user = ?1 ORDER BY id"
        ))?;
        let rows = stmt.query_map([user], row_to_info)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// The code lengths of `user`'s TOTP tokens, each once, shortest first.
    pub fn totp_digits(&self, user: &str) -> Result<Vec<u32>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(
            "SELECT DISTINCT digits FROM tokens WHERE user = ?1 AND kind = 'totp' ORDER BY digits",
        )?;
        let rows = stmt.query_map([user], |r| r.get(0))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Number of tokens `user` has.
    pub fn count_tokens(&self, user: &str) -> Result<u32, StoreError> {
        Ok(self
            .lock()
            .query_row("SELECT COUNT(*) FROM tokens WHERE user = ?1", [user], |r| {
                r.get(0)
            })?)
    }

    /// Removes `user`'s token whose id (decimal) or name is `token`, in one transaction.
    /// Removing the last token is refused unless `allow_last`; when it happens, the user's
    /// always-require setting is cleared with it (it could no longer be satisfied).
    pub fn remove_token(
        &self,
        user: &str,
        token: &str,
        allow_last: bool,
    ) -> Result<Removal, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let Some(id) = find_token_id(&tx, user, token)? else {
            return Ok(Removal::NotFound);
        };
        let count: u32 =
            tx.query_row("SELECT COUNT(*) FROM tokens WHERE user = ?1", [user], |r| {
                r.get(0)
            })?;
        let last = count == 1;
        if last && !allow_last {
            return Ok(Removal::WouldRemoveLast);
        }
        let info = info_by_id(&tx, id)?;
        tx.execute("DELETE FROM tokens WHERE id = ?1", [id])?;
        let cleared_always_require = last && tx.execute(
            "UPDATE user_settings SET always_require = 0 WHERE user = ?1 AND always_require = 1",
            [user],
        )? > 0;
        tx.commit()?;
        // A removed token coming back with a lost WAL would let a lost phone log in again.
        self.checkpoint_after_commit(&conn, "a token removal");
        Ok(Removal::Removed {
            info,
            last,
            cleared_always_require,
        })
    }

    /// Renames `user`'s token whose id or name is `token`. `None` if there is no such token;
    /// a constraint error if `new_name` is taken.
    pub fn rename_token(
        &self,
        user: &str,
        token: &str,
        new_name: &str,
    ) -> Result<Option<TokenInfo>, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let Some(id) = find_token_id(&tx, user, token)? else {
            return Ok(None);
        };
        tx.execute(
            "UPDATE tokens SET name = ?1 WHERE id = ?2",
            params![new_name, id],
        )?;
        let info = info_by_id(&tx, id)?;
        tx.commit()?;
        self.checkpoint_after_commit(&conn, "a token rename");
        Ok(Some(info))
    }

    /// `user`'s TOTP tokens with their secrets unsealed (wiped on drop).
    pub(super) fn load_totp_keys(
        &self,
        tx: &rusqlite::Connection,
        user: &str,
    ) -> Result<Vec<StoredToken>, StoreError> {
        let mut stmt = tx.prepare_cached(
            "SELECT id, secret, algorithm, digits, period, last_step FROM tokens WHERE user = ?1 AND kind = 'totp' ORDER BY id",
        )?;
        let mut rows = stmt.query([user])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let id: i64 = r.get(0)?;
            let sealed: Vec<u8> = r.get(1)?;
            let secret = self.unseal(&super::seal::totp_aad(user), id, "secret", &sealed)?;
            let algorithm: String = r.get(2)?;
            let params = parse_params(&algorithm, r.get(3)?, r.get(4)?)?;
            let last_step: i64 = r.get(5)?;
            let key = TotpKey::new(secret, params)
                .map_err(|e| StoreError::BadRow(format!("token {id}: {e}")))?;
            out.push(StoredToken {
                id,
                key,
                last_step: u64::try_from(last_step).ok(),
            });
        }
        Ok(out)
    }
}
