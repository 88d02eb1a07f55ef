//! FIDO2 credentials: token rows of kind `fido2`.
//!
//! Per row: `secret` = the sealed [`Fido2Record`] (credential ID, COSE public key, RP ID,
//! whether UV is required), `algorithm` = `ES256` or `EdDSA`, `last_step` = the signature
//! counter of the last accepted assertion (or of the registration), `detail` = what `mfactl
//! list` shows. The key is public, yet sealed: the AEAD tag makes a key or counter policy
//! swapped in the database (or moved to another user's row) fail to open, so stored public
//! keys are protected against modification (NIST SP 800-63B 5.1.7.2) without a second
//! mechanism.
//!
//! A login is one IMMEDIATE transaction, like TOTP's ([`super::verify`]): gate, find the
//! credential, verify the assertion, and a conditional UPDATE of the counter that only
//! succeeds if nobody moved it meanwhile; so two racing assertions cannot both pass.

use rusqlite::{TransactionBehavior, params};

use mfa_core::fido2::{Expected, Fido2Error, Registration, StoredCredential, verify_assertion};
use mfa_core::ratelimit::RateLimit;
use mfa_proto::TokenInfo;

use super::Store;
use super::verify::{VerifyOutcome, accept, count_failure, gate};
use crate::error::StoreError;

const RECORD_VERSION: u8 = 1;

/// The associated data of a FIDO2 credential of `user`.
pub fn fido2_aad(user: &str) -> Vec<u8> {
    format!("pam_mfa fido2-credential v1 user={user}").into_bytes()
}

/// What is sealed in a FIDO2 row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fido2Record {
    /// The credential ID the key gave at registration.
    pub credential_id: Vec<u8>,
    /// The credential public key as the key encoded it (COSE_Key).
    pub public_key_cose: Vec<u8>,
    /// The relying-party ID it was made for.
    pub rp_id: String,
    /// Whether logins with it need user verification (PIN or built-in).
    pub require_uv: bool,
}

impl Fido2Record {
    /// `version ‖ (u16 BE length ‖ bytes) × 3 ‖ require_uv`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![RECORD_VERSION];
        for field in [
            &self.credential_id[..],
            &self.public_key_cose[..],
            self.rp_id.as_bytes(),
        ] {
            // Every field is far below 64 KiB (checked at enrollment).
            let len = u16::try_from(field.len()).unwrap_or(u16::MAX);
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(&field[..usize::from(len)]);
        }
        out.push(u8::from(self.require_uv));
        out
    }

    /// Reads [`Fido2Record::encode`]'s output; anything else is refused.
    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        let (&version, mut rest) = bytes.split_first().ok_or("empty record")?;
        if version != RECORD_VERSION {
            return Err(format!("unknown record version {version}"));
        }
        let mut field = || -> Result<Vec<u8>, String> {
            let (len, tail) = rest.split_at_checked(2).ok_or("truncated record")?;
            let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
            let (value, tail) = tail.split_at_checked(len).ok_or("truncated record")?;
            rest = tail;
            Ok(value.to_vec())
        };
        let credential_id = field()?;
        let public_key_cose = field()?;
        let rp_id = String::from_utf8(field()?).map_err(|_| "RP ID is not UTF-8")?;
        let require_uv = match rest {
            [0] => false,
            [1] => true,
            _ => return Err("bad trailer".into()),
        };
        Ok(Fido2Record {
            credential_id,
            public_key_cose,
            rp_id,
            require_uv,
        })
    }

    /// What `mfactl list` shows: `ES256, pam_mfa://host, PIN`.
    fn detail(&self, algorithm: &str) -> String {
        let check = if self.require_uv { "PIN/UV" } else { "touch" };
        format!("{algorithm}, {}, {check}", self.rp_id)
    }
}

/// A FIDO2 row with its record unsealed.
#[derive(Debug, Clone)]
pub struct Fido2Row {
    /// Token id.
    pub id: i64,
    /// The record.
    pub record: Fido2Record,
    /// The counter of the last accepted assertion.
    pub counter: u32,
}

/// What an assertion is checked against and with.
#[derive(Debug, Clone, Copy)]
pub struct Fido2Assertion<'a> {
    /// This host's RP ID (what the challenge was issued for).
    pub rp_id: &'a str,
    /// The challenge of the flow.
    pub challenge: &'a [u8],
    /// The credential the key used.
    pub credential_id: &'a [u8],
    /// The authenticator data it signed.
    pub authenticator_data: &'a [u8],
    /// The signature.
    pub signature: &'a [u8],
}

impl Store {
    /// `user`'s FIDO2 credentials, oldest first. A row that does not unseal or decode is a
    /// storage fault (never skipped: a skipped row could hide a tampered one).
    pub fn fido2_credentials(&self, user: &str) -> Result<Vec<Fido2Row>, StoreError> {
        let conn = self.lock();
        self.fido2_rows(&conn, user)
    }

    fn fido2_rows(
        &self,
        conn: &rusqlite::Connection,
        user: &str,
    ) -> Result<Vec<Fido2Row>, StoreError> {
        let mut stmt = conn.prepare_cached(
            "SELECT id, secret, last_step FROM tokens WHERE user = ?1 AND kind = 'fido2' ORDER BY id",
        )?;
        let mut rows = stmt.query([user])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let id: i64 = r.get(0)?;
            let sealed: Vec<u8> = r.get(1)?;
            let plain = self.unseal(&fido2_aad(user), id, "credential", &sealed)?;
            let record = Fido2Record::decode(&plain)
                .map_err(|e| StoreError::BadRow(format!("token {id}: {e}")))?;
            let counter = u32::try_from(r.get::<_, i64>(2)?)
                .map_err(|_| StoreError::BadRow(format!("token {id}: counter out of range")))?;
            out.push(Fido2Row {
                id,
                record,
                counter,
            });
        }
        Ok(out)
    }

    /// Saves a verified registration for `user` as token `name`, in one transaction.
    /// [`StoreError::Duplicate`] if the user already has this credential; a constraint
    /// error if the name is taken.
    pub fn insert_fido2(
        &self,
        user: &str,
        name: &str,
        registration: &Registration,
        rp_id: &str,
        require_uv: bool,
        now: u64,
    ) -> Result<TokenInfo, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if let Some(row) = self
            .fido2_rows(&tx, user)?
            .into_iter()
            .find(|r| r.record.credential_id == registration.credential_id)
        {
            return Err(StoreError::Duplicate(format!(
                "{user} already has this security key's credential, as token {}",
                row.id
            )));
        }
        let record = Fido2Record {
            credential_id: registration.credential_id.clone(),
            public_key_cose: registration.public_key_cose.clone(),
            rp_id: rp_id.to_owned(),
            require_uv,
        };
        let algorithm = registration.public_key.algorithm().name();
        let sealed = self.key.seal(&fido2_aad(user), &record.encode())?;
        tx.execute(
            "INSERT INTO tokens (user, kind, name, secret, algorithm, digits, period, last_step, created, detail)
             VALUES (?1, 'fido2', ?2, ?3, ?4, 0, 0, ?5, ?6, ?7)",
            params![
                user,
                name,
                sealed,
                algorithm,
                i64::from(registration.sign_count),
                now as i64,
                record.detail(algorithm)
            ],
        )?;
        let id = tx.last_insert_rowid();
        let info = super::tokens::info_by_id(&tx, id)?;
        tx.commit()?;
        self.checkpoint_after_commit(&conn, "a FIDO2 enrollment");
        Ok(info)
    }

    /// Verifies a FIDO2 assertion of `user` at `now` in one immediate transaction: the gate
    /// is checked, the credential found, the assertion verified ([`verify_assertion`]:
    /// signature, RP ID hash, UP/UV, counter) and the new counter stored by a conditional
    /// UPDATE; or one failure is counted. Also returns why a verified-looking answer was
    /// refused, for the audit line.
    pub fn verify_fido2(
        &self,
        user: &str,
        assertion: &Fido2Assertion<'_>,
        now: u64,
        limits: &RateLimit,
    ) -> Result<(VerifyOutcome, Option<Fido2Error>), StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let state = match gate(&tx, user, now, limits)? {
            Ok(state) => state,
            Err(refusal) => return Ok((refusal, None)),
        };
        let rows = self.fido2_rows(&tx, user)?;
        if rows.is_empty() {
            return Ok((VerifyOutcome::NotEnrolled, None));
        }
        let refuse = |tx: rusqlite::Transaction<'_>, e: Fido2Error| {
            count_failure(tx, user, state, now, limits, false).map(|o| (o, Some(e)))
        };
        let Some(row) = rows
            .iter()
            .find(|r| r.record.credential_id == assertion.credential_id)
        else {
            return refuse(tx, Fido2Error::UnknownCredential);
        };
        let stored = StoredCredential::new(
            row.record.credential_id.clone(),
            &row.record.public_key_cose,
            row.counter,
        )
        .map_err(|e| StoreError::BadRow(format!("token {}: {e}", row.id)))?;
        let expected =
            Expected::for_challenge(assertion.rp_id, assertion.challenge, row.record.require_uv);
        let verified = match verify_assertion(
            &stored,
            &expected,
            assertion.authenticator_data,
            assertion.signature,
        ) {
            Ok(v) => v,
            Err(e) => return refuse(tx, e),
        };
        // The counter read above must still be the stored one: the check and the update are
        // one statement, inside the transaction that holds the write lock.
        let changed = tx.execute(
            "UPDATE tokens SET last_step = ?1, last_used = ?2 WHERE id = ?3 AND last_step = ?4",
            params![
                i64::from(verified.new_counter),
                now as i64,
                row.id,
                i64::from(row.counter)
            ],
        )?;
        if changed != 1 {
            return refuse(
                tx,
                Fido2Error::CounterRegression {
                    stored: row.counter,
                    received: verified.new_counter,
                },
            );
        }
        accept(tx, user, row.id).map(|o| (o, None))
    }
}

#[cfg(test)]
mod tests;
