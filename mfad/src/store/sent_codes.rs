//! Codes sent by email and SMS: the verified addresses, the one live code per user and
//! method, and the record of sends behind the abuse limits.
//!
//! A code is stored only as HMAC-SHA-256 under a key derived from the seal key, so the
//! database alone does not reveal it (six digits are otherwise a million guesses away).
//! Sending, resending and verifying are each one transaction: a crash never leaves two live
//! codes, nor a used code that still works. The send record lives in the database, so the
//! hourly and global limits survive a restart.

use hmac::{KeyInit as _, Mac};
use rusqlite::{OptionalExtension, TransactionBehavior, params};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use mfa_core::code::Code;
use mfa_core::delivery::OtpConfig;
use mfa_core::policy::Method;
use mfa_core::ratelimit::RateLimit;
use mfa_proto::TokenInfo;

use super::Store;
use super::tokens::info_by_id;
use super::verify::{VerifyOutcome, accept, count_failure, gate};
use crate::error::StoreError;

/// Label of the derived key the code hashes use.
const CODE_KEY_LABEL: &[u8] = b"pam_mfa sent-code hash v1";

/// Seconds the hourly per-user limit looks back.
const HOUR: u64 = 3600;
/// Seconds the global limit looks back.
const MINUTE: u64 = 60;

/// The associated data sealing an address: names the method and the user, so a sealed
/// address moved to another row does not open.
fn address_aad(user: &str, method: Method) -> Vec<u8> {
    format!("pam_mfa {method}-address v1 user={user}").into_bytes()
}

/// The stored kind of a sent-code method.
fn kind(method: Method) -> Result<&'static str, StoreError> {
    match method {
        Method::Email => Ok("email"),
        Method::Sms => Ok("sms"),
        other => Err(StoreError::BadRow(format!(
            "{other} is not a sent-code method"
        ))),
    }
}

/// The live code of a user and method, without its hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveCode {
    /// When it was sent (Unix time).
    pub sent_at: u64,
    /// When it stops working (Unix time).
    pub expires_at: u64,
}

/// What [`Store::reserve_send`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendDecision {
    /// The new code is live (its hash stored, the old one gone) and may be sent now.
    Send {
        /// When it stops working.
        expires_at: u64,
    },
    /// The last code was sent less than the resend interval ago.
    TooSoon {
        /// Seconds until a new one may be sent.
        wait_secs: u64,
    },
    /// The user had the most codes allowed in the last hour.
    HourlyLimit {
        /// When the oldest of them leaves the hour.
        until: u64,
    },
    /// Everyone together sent the most codes allowed in the last minute.
    GlobalLimit,
}

/// An address as saved, opened for sending.
#[derive(Debug)]
pub struct SavedAddress {
    /// The token's id.
    pub token_id: i64,
    /// The address or number, in clear (wiped on drop).
    pub address: Zeroizing<String>,
}

impl Store {
    /// The keyed hash a code of `user` for `method` is stored as.
    fn code_hash(&self, user: &str, method: Method, code: &str) -> [u8; 32] {
        let key = self.key.derive(CODE_KEY_LABEL);
        let mut mac = <hmac::Hmac<sha2::Sha256>>::new_from_slice(&key[..])
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        for part in [user.as_bytes(), method.as_str().as_bytes(), code.as_bytes()] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    /// Saves a verified address (or phone number) for `user` as a token of `method`, sealed;
    /// `masked` is what lists and logs show. Fails with [`StoreError::Duplicate`] when the
    /// user already has one for this method, with a constraint error when the name is taken.
    pub fn insert_address(
        &self,
        user: &str,
        method: Method,
        name: &str,
        address: &str,
        masked: &str,
        now: u64,
    ) -> Result<TokenInfo, StoreError> {
        let kind = kind(method)?;
        let sealed = self
            .key
            .seal(&address_aad(user, method), address.as_bytes())?;
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let existing: Option<String> = tx
            .query_row(
                "SELECT name FROM tokens WHERE user = ?1 AND kind = ?2",
                params![user, kind],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(existing) = existing {
            return Err(StoreError::Duplicate(format!(
                "{user} already has an {method} address for codes ({existing:?}); remove it \
                 first with `mfactl remove {user} {existing}`"
            )));
        }
        tx.execute(
            "INSERT INTO tokens (user, kind, name, secret, algorithm, digits, period, created, detail)
             VALUES (?1, ?2, ?3, ?4, '', 6, 0, ?5, ?6)",
            params![user, kind, name, sealed, now as i64, masked],
        )?;
        let id = tx.last_insert_rowid();
        let info = info_by_id(&tx, id)?;
        tx.commit()?;
        self.checkpoint_after_commit(&conn, "an address enrollment");
        Ok(info)
    }

    /// `user`'s saved address for `method`, opened, if any.
    pub fn address(&self, user: &str, method: Method) -> Result<Option<SavedAddress>, StoreError> {
        let kind = kind(method)?;
        let row: Option<(i64, Vec<u8>)> = self
            .lock()
            .query_row(
                "SELECT id, secret FROM tokens WHERE user = ?1 AND kind = ?2",
                params![user, kind],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((token_id, sealed)) = row else {
            return Ok(None);
        };
        let opened = self.unseal(&address_aad(user, method), token_id, "address", &sealed)?;
        let address = String::from_utf8(opened.to_vec())
            .map_err(|_| StoreError::BadRow(format!("token {token_id}: address is not UTF-8")))?;
        Ok(Some(SavedAddress {
            token_id,
            address: Zeroizing::new(address),
        }))
    }

    /// The live (unexpired) code of `user` for `method`, if any.
    pub fn live_code(
        &self,
        user: &str,
        method: Method,
        now: u64,
    ) -> Result<Option<LiveCode>, StoreError> {
        let kind = kind(method)?;
        Ok(self
            .lock()
            .query_row(
                "SELECT sent_at, expires_at FROM sent_codes
                  WHERE user = ?1 AND method = ?2 AND expires_at > ?3",
                params![user, kind, now as i64],
                |r| {
                    Ok(LiveCode {
                        sent_at: r.get::<_, i64>(0)?.max(0) as u64,
                        expires_at: r.get::<_, i64>(1)?.max(0) as u64,
                    })
                },
            )
            .optional()?)
    }

    /// Records a send to `user` for `method` if the limits allow one now, in one
    /// transaction: the resend interval (see below), the user's sends in the last
    /// hour, everyone's sends in the last minute. With `live` = (token id, code), the code
    /// also becomes the one live login code (replacing the previous one); without, it is an
    /// enrollment's code, held in memory. The send is recorded even if delivery later
    /// fails: a broken gateway must not be hammered.
    pub fn reserve_send(
        &self,
        user: &str,
        method: Method,
        live: Option<(i64, &str)>,
        now: u64,
        otp: &OtpConfig,
    ) -> Result<SendDecision, StoreError> {
        let kind = kind(method)?;
        let live = live.map(|(token_id, code)| (token_id, self.code_hash(user, method, code)));
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // A login's resend waits for the interval since its live code (a used code leaves
        // none: the next login may send at once, within the hourly limit); an enrollment's,
        // since any send to the user for the method.
        let last_sent: Option<i64> = if live.is_some() {
            tx.query_row(
                "SELECT sent_at FROM sent_codes WHERE user = ?1 AND method = ?2",
                params![user, kind],
                |r| r.get(0),
            )
            .optional()?
        } else {
            tx.query_row(
                "SELECT MAX(at) FROM code_sends WHERE user = ?1 AND method = ?2",
                params![user, kind],
                |r| r.get(0),
            )
            .optional()?
            .flatten()
        };
        if let Some(last) = last_sent {
            let next = (last.max(0) as u64).saturating_add(otp.resend_after_secs);
            if next > now {
                return Ok(SendDecision::TooSoon {
                    wait_secs: next - now,
                });
            }
        }
        let hour_ago = now.saturating_sub(HOUR) as i64;
        let (in_hour, oldest): (u32, Option<i64>) = tx.query_row(
            "SELECT COUNT(*), MIN(at) FROM code_sends WHERE user = ?1 AND method = ?2 AND at > ?3",
            params![user, kind, hour_ago],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        if in_hour >= otp.max_sends_per_hour {
            return Ok(SendDecision::HourlyLimit {
                until: (oldest.unwrap_or(now as i64).max(0) as u64).saturating_add(HOUR),
            });
        }
        let in_minute: u32 = tx.query_row(
            "SELECT COUNT(*) FROM code_sends WHERE at > ?1",
            [now.saturating_sub(MINUTE) as i64],
            |r| r.get(0),
        )?;
        if in_minute >= otp.max_sends_per_minute {
            return Ok(SendDecision::GlobalLimit);
        }
        let expires_at = now.saturating_add(otp.validity_secs);
        tx.execute(
            "INSERT INTO code_sends (user, method, at) VALUES (?1, ?2, ?3)",
            params![user, kind, now as i64],
        )?;
        if let Some((token_id, hash)) = live {
            tx.execute(
                "INSERT INTO sent_codes (user, method, token_id, hash, sent_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (user, method) DO UPDATE
                   SET token_id = ?3, hash = ?4, sent_at = ?5, expires_at = ?6",
                params![
                    user,
                    kind,
                    token_id,
                    &hash[..],
                    now as i64,
                    expires_at as i64
                ],
            )?;
        }
        // The record only needs the last hour.
        tx.execute("DELETE FROM code_sends WHERE at <= ?1", [hour_ago])?;
        tx.commit()?;
        Ok(SendDecision::Send { expires_at })
    }

    /// Forgets the live code of `user` for `method` if it is still `code` (its delivery
    /// failed: nobody can know it, and a later resend must not wait for it).
    pub fn discard_code(&self, user: &str, method: Method, code: &str) -> Result<(), StoreError> {
        let kind = kind(method)?;
        let hash = self.code_hash(user, method, code);
        self.lock().execute(
            "DELETE FROM sent_codes WHERE user = ?1 AND method = ?2 AND hash = ?3",
            params![user, kind, &hash[..]],
        )?;
        Ok(())
    }

    /// Verifies `code` against the live code of `user` for `method` in one transaction,
    /// through the same gate and failure counter as TOTP: a match consumes the code (single
    /// use) and clears the failures; anything else is one failure. `code` is `None` for an
    /// answer that was not even six digits. The second value says the code had expired.
    pub fn verify_sent_code(
        &self,
        user: &str,
        method: Method,
        code: Option<&Code>,
        now: u64,
        limits: &RateLimit,
    ) -> Result<(VerifyOutcome, bool), StoreError> {
        let kind = kind(method)?;
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let state = match gate(&tx, user, now, limits)? {
            Ok(state) => state,
            Err(refusal) => return Ok((refusal, false)),
        };
        let live: Option<(i64, Vec<u8>, i64)> = tx
            .query_row(
                "SELECT token_id, hash, expires_at FROM sent_codes WHERE user = ?1 AND method = ?2",
                params![user, kind],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let Some((token_id, stored, expires_at)) = live else {
            let has_token: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM tokens WHERE user = ?1 AND kind = ?2)",
                params![user, kind],
                |r| r.get(0),
            )?;
            if !has_token {
                return Ok((VerifyOutcome::NotEnrolled, false));
            }
            return Ok((count_failure(tx, user, state, now, limits, false)?, false));
        };
        if expires_at.max(0) as u64 <= now {
            tx.execute(
                "DELETE FROM sent_codes WHERE user = ?1 AND method = ?2",
                params![user, kind],
            )?;
            return Ok((count_failure(tx, user, state, now, limits, false)?, true));
        }
        let matches = match code {
            Some(c) => {
                let hash = self.code_hash(user, method, c.as_str());
                bool::from(hash[..].ct_eq(&stored[..]))
            }
            None => false,
        };
        if !matches {
            return Ok((count_failure(tx, user, state, now, limits, false)?, false));
        }
        tx.execute(
            "DELETE FROM sent_codes WHERE user = ?1 AND method = ?2",
            params![user, kind],
        )?;
        tx.execute(
            "UPDATE tokens SET last_used = ?1 WHERE id = ?2",
            params![now as i64, token_id],
        )?;
        Ok((accept(tx, user, token_id)?, false))
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use mfa_core::code::parse_code;

    use super::*;

    const NOW: u64 = 1_800_000_000;

    fn otp() -> OtpConfig {
        OtpConfig::default()
    }

    fn with_email(store: &Store) -> i64 {
        let info = store
            .insert_address(
                "alice",
                Method::Email,
                "email",
                "alice@example.org",
                "a•••e@ex•••.org",
                NOW,
            )
            .unwrap();
        info.id.parse().unwrap()
    }

    fn verify(store: &Store, code: &str, now: u64) -> (VerifyOutcome, bool) {
        let c = parse_code(code).unwrap();
        store
            .verify_sent_code("alice", Method::Email, Some(&c), now, &RateLimit::default())
            .unwrap()
    }

    #[test]
    fn the_address_is_sealed_and_one_per_method() {
        let store = Store::open_in_memory().unwrap();
        let id = with_email(&store);
        let saved = store.address("alice", Method::Email).unwrap().unwrap();
        assert_eq!(
            (saved.token_id, saved.address.as_str()),
            (id, "alice@example.org")
        );
        let raw: Vec<u8> = store
            .lock()
            .query_row("SELECT secret FROM tokens WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .unwrap();
        assert!(
            !raw.windows(5).any(|w| w == b"alice"),
            "address stored in clear"
        );
        assert!(matches!(
            store.insert_address(
                "alice",
                Method::Email,
                "other",
                "b@c.de",
                "b•••@c•••.de",
                NOW
            ),
            Err(StoreError::Duplicate(_))
        ));
        assert!(store.address("alice", Method::Sms).unwrap().is_none());
        assert_eq!(
            store
                .login_snapshot("alice", "sshd")
                .unwrap()
                .methods()
                .names(),
            ["email"]
        );
    }

    #[test]
    fn a_sent_code_works_once_and_only_before_it_expires() {
        let store = Store::open_in_memory().unwrap();
        let id = with_email(&store);
        let decision = store
            .reserve_send("alice", Method::Email, Some((id, "123456")), NOW, &otp())
            .unwrap();
        assert_eq!(
            decision,
            SendDecision::Send {
                expires_at: NOW + 300
            }
        );
        assert_eq!(
            store.live_code("alice", Method::Email, NOW + 10).unwrap(),
            Some(LiveCode {
                sent_at: NOW,
                expires_at: NOW + 300
            })
        );
        assert!(matches!(
            verify(&store, "654321", NOW + 5).0,
            VerifyOutcome::Failed(_)
        ));
        assert_eq!(
            verify(&store, "123456", NOW + 6).0,
            VerifyOutcome::Accepted { token_id: id }
        );
        // Single use: the same code again is a failure, and no code is live.
        assert!(matches!(
            verify(&store, "123456", NOW + 7).0,
            VerifyOutcome::Failed(_)
        ));
        assert_eq!(
            store.live_code("alice", Method::Email, NOW + 7).unwrap(),
            None
        );

        // Expired: refused, flagged, counted, gone.
        let later = NOW + 100;
        store
            .reserve_send("alice", Method::Email, Some((id, "111111")), later, &otp())
            .unwrap();
        let (outcome, expired) = verify(&store, "111111", later + 300);
        assert!(matches!(outcome, VerifyOutcome::Failed(_)) && expired);
        assert_eq!(
            store.live_code("alice", Method::Email, later).unwrap(),
            None
        );
    }

    #[test]
    fn the_stored_hash_is_keyed_and_not_the_code() {
        let store = Store::open_in_memory().unwrap();
        let id = with_email(&store);
        store
            .reserve_send("alice", Method::Email, Some((id, "123456")), NOW, &otp())
            .unwrap();
        let hash: Vec<u8> = store
            .lock()
            .query_row("SELECT hash FROM sent_codes", [], |r| r.get(0))
            .unwrap();
        use sha2::Digest;
        assert_eq!(hash.len(), 32);
        assert_ne!(hash, sha2::Sha256::digest(b"123456").to_vec());
        assert!(!hash.windows(6).any(|w| w == b"123456"));
        // Another key (another store) gives another hash for the same code.
        let other = Store::open_in_memory().unwrap();
        assert_ne!(
            store.code_hash("alice", Method::Email, "123456"),
            other.code_hash("alice", Method::Email, "123456")
        );
    }

    #[test]
    fn a_resend_waits_for_the_interval_and_replaces_the_old_code() {
        let store = Store::open_in_memory().unwrap();
        let id = with_email(&store);
        let cfg = otp();
        store
            .reserve_send("alice", Method::Email, Some((id, "123456")), NOW, &cfg)
            .unwrap();
        assert_eq!(
            store
                .reserve_send("alice", Method::Email, Some((id, "222222")), NOW + 10, &cfg)
                .unwrap(),
            SendDecision::TooSoon { wait_secs: 20 }
        );
        // The refused resend changed nothing: the first code still works later...
        assert_eq!(
            store
                .reserve_send("alice", Method::Email, Some((id, "333333")), NOW + 30, &cfg)
                .unwrap(),
            SendDecision::Send {
                expires_at: NOW + 330
            }
        );
        // ...until replaced: now only the new one does.
        assert!(matches!(
            verify(&store, "123456", NOW + 31).0,
            VerifyOutcome::Failed(_)
        ));
        assert_eq!(
            verify(&store, "333333", NOW + 32).0,
            VerifyOutcome::Accepted { token_id: id }
        );
    }

    #[test]
    fn an_enrollment_resend_waits_but_a_login_right_after_enrolling_does_not() {
        let store = Store::open_in_memory().unwrap();
        let cfg = otp();
        let send = |live, at| {
            store
                .reserve_send("alice", Method::Email, live, at, &cfg)
                .unwrap()
        };
        assert!(matches!(send(None, NOW), SendDecision::Send { .. }));
        assert_eq!(
            send(None, NOW + 10),
            SendDecision::TooSoon { wait_secs: 20 }
        );
        let id = with_email(&store);
        assert!(matches!(
            send(Some((id, "123456")), NOW + 11),
            SendDecision::Send { .. }
        ));
        assert_eq!(
            send(Some((id, "654321")), NOW + 12),
            SendDecision::TooSoon { wait_secs: 29 }
        );
        // Once used, the next login sends at once.
        assert_eq!(
            verify(&store, "123456", NOW + 13).0,
            VerifyOutcome::Accepted { token_id: id }
        );
        assert!(matches!(
            send(Some((id, "111111")), NOW + 14),
            SendDecision::Send { .. }
        ));
    }

    #[test]
    fn the_hourly_and_global_limits_hold_across_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let path = dir.path().join("mfa.db");
        let cfg = OtpConfig {
            resend_after_secs: 0,
            max_sends_per_hour: 3,
            max_sends_per_minute: 1000,
            ..otp()
        };
        let id = with_email(&Store::open(&path).unwrap());
        for i in 0..3 {
            let store = Store::open(&path).unwrap();
            let d = store
                .reserve_send(
                    "alice",
                    Method::Email,
                    Some((id, "123456")),
                    NOW + i * 60,
                    &cfg,
                )
                .unwrap();
            assert!(matches!(d, SendDecision::Send { .. }), "{d:?}");
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(
            store
                .reserve_send("alice", Method::Email, None, NOW + 600, &cfg)
                .unwrap(),
            SendDecision::HourlyLimit { until: NOW + 3600 }
        );
        // An hour after the first send, one more may go.
        assert!(matches!(
            store
                .reserve_send("alice", Method::Email, None, NOW + 3601, &cfg)
                .unwrap(),
            SendDecision::Send { .. }
        ));
        // Everyone together: the global per-minute cap.
        let global = OtpConfig {
            max_sends_per_minute: 2,
            ..cfg
        };
        let t = NOW + 10_000;
        for user in ["u1", "u2"] {
            assert!(matches!(
                store
                    .reserve_send(user, Method::Sms, None, t, &global)
                    .unwrap(),
                SendDecision::Send { .. }
            ));
        }
        assert_eq!(
            store
                .reserve_send("u3", Method::Sms, None, t + 1, &global)
                .unwrap(),
            SendDecision::GlobalLimit
        );
    }

    #[test]
    fn a_discarded_code_no_longer_works_and_removing_the_token_drops_its_code() {
        let store = Store::open_in_memory().unwrap();
        let id = with_email(&store);
        store
            .reserve_send("alice", Method::Email, Some((id, "123456")), NOW, &otp())
            .unwrap();
        store
            .discard_code("alice", Method::Email, "654321")
            .unwrap();
        assert!(
            store
                .live_code("alice", Method::Email, NOW)
                .unwrap()
                .is_some()
        );
        store
            .discard_code("alice", Method::Email, "123456")
            .unwrap();
        assert!(
            store
                .live_code("alice", Method::Email, NOW)
                .unwrap()
                .is_none()
        );

        store
            .reserve_send(
                "alice",
                Method::Email,
                Some((id, "777777")),
                NOW + 60,
                &otp(),
            )
            .unwrap();
        store.remove_token("alice", "email", true).unwrap();
        let left: u32 = store
            .lock()
            .query_row("SELECT COUNT(*) FROM sent_codes", [], |r| r.get(0))
            .unwrap();
        assert_eq!(left, 0);
        assert_eq!(
            verify(&store, "777777", NOW + 61).0,
            VerifyOutcome::NotEnrolled
        );
    }
}
