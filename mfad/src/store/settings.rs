//! Per-user settings (always-require, administrative lock), global settings and enrollment
//! deadlines, and the one read that gathers everything a login decision needs.

use rusqlite::{OptionalExtension, params};

use mfa_core::policy::{Method, MethodSet, ServiceMode};
use mfa_core::ratelimit::FailureState;

use super::Store;
use crate::error::StoreError;

/// Key of the always-require permission in `settings`.
const ALWAYS_REQUIRE_ALLOW: &str = "always_require_allow";
/// The permission when none is stored: users may only add a factor to their own logins,
/// never remove one, so allowing it by default is safe.
pub const DEFAULT_ALWAYS_REQUIRE_ALLOW: &str = "all";

/// A service rule as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRule {
    /// The service name, or `*`.
    pub service: String,
    /// Its mode.
    pub mode: ServiceMode,
    /// The methods it allows.
    pub methods: MethodSet,
}

/// A user's own settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserSettings {
    /// "Always require MFA" is on.
    pub always_require: bool,
    /// An administrator locked the user's second factor (Unix time; 0: not locked).
    pub locked_at: u64,
    /// Why (admins only).
    pub lock_reason: String,
}

/// Everything a login decision reads, in one pass under one lock.
#[derive(Debug, Clone, Default)]
pub struct LoginSnapshot {
    /// The rule for the service (or `*`), if any.
    pub rule: Option<ServiceRule>,
    /// Number of TOTP tokens.
    pub totp_tokens: u32,
    /// Number of SSH security keys.
    pub ssh_sk_keys: u32,
    /// Number of FIDO2 security keys.
    pub fido2_keys: u32,
    /// Unused recovery codes.
    pub recovery_left: u32,
    /// Has a verified email address for codes.
    pub email: bool,
    /// Has a verified phone number for codes.
    pub sms: bool,
    /// The user's settings.
    pub settings: UserSettings,
    /// The failure record.
    pub failures: FailureState,
    /// The enforced groups.
    pub enforced_groups: Vec<String>,
    /// The user's own deadline (`user:NAME`), if any.
    pub user_grace: Option<u64>,
    /// Every group deadline (`group:NAME` → until).
    pub group_grace: Vec<(String, u64)>,
}

impl LoginSnapshot {
    /// The methods the user has: TOTP when they have a token, FIDO2 and SSH security keys, recovery
    /// codes while some are unused.
    pub fn methods(&self) -> MethodSet {
        let mut m = MethodSet::EMPTY;
        if self.totp_tokens > 0 {
            m.insert(Method::Totp);
        }
        if self.fido2_keys > 0 {
            m.insert(Method::Fido2);
        }
        if self.ssh_sk_keys > 0 {
            m.insert(Method::SshSk);
        }
        if self.email {
            m.insert(Method::Email);
        }
        if self.sms {
            m.insert(Method::Sms);
        }
        if self.recovery_left > 0 {
            m.insert(Method::Recovery);
        }
        m
    }
}

fn read_settings(conn: &rusqlite::Connection, user: &str) -> Result<UserSettings, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT always_require, locked_at, lock_reason FROM user_settings WHERE user = ?1",
        )?
        .query_row([user], |r| {
            Ok(UserSettings {
                always_require: r.get::<_, i64>(0)? != 0,
                locked_at: r.get::<_, i64>(1)?.max(0) as u64,
                lock_reason: r.get(2)?,
            })
        })
        .optional()?
        .unwrap_or_default())
}

pub(super) fn parse_rule(
    service: String,
    mode: &str,
    methods: &str,
) -> Result<ServiceRule, StoreError> {
    Ok(ServiceRule {
        mode: mode.parse().map_err(StoreError::BadRow)?,
        methods: MethodSet::from_stored(methods).map_err(StoreError::BadRow)?,
        service,
    })
}

/// Whether `user` has an administrative lock, read inside a verifying transaction.
pub(super) fn admin_locked(conn: &rusqlite::Connection, user: &str) -> Result<bool, StoreError> {
    Ok(read_settings(conn, user)?.locked_at > 0)
}

impl Store {
    /// Reads everything `Begin` needs for `user` on `service`.
    pub fn login_snapshot(&self, user: &str, service: &str) -> Result<LoginSnapshot, StoreError> {
        let conn = self.lock();
        let rule = conn
            .prepare_cached(
                "SELECT service, mode, methods FROM service_policy WHERE service IN (?1, '*')
                 ORDER BY service = '*' LIMIT 1",
            )?
            .query_row([service], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })
            .optional()?
            .map(|(s, m, methods)| parse_rule(s, &m, &methods))
            .transpose()?;
        let (totp_tokens, ssh_sk_keys, fido2_keys, recovery_left, email, sms): (
            u32,
            u32,
            u32,
            u32,
            bool,
            bool,
        ) = conn
            .prepare_cached(
                "SELECT (SELECT COUNT(*) FROM tokens WHERE user = ?1 AND kind = 'totp'),
                        (SELECT COUNT(*) FROM tokens WHERE user = ?1 AND kind = 'ssh-sk'),
                        (SELECT COUNT(*) FROM tokens WHERE user = ?1 AND kind = 'fido2'),
                        (SELECT COUNT(*) FROM recovery_codes WHERE user = ?1 AND used_at = 0),
                        EXISTS (SELECT 1 FROM tokens WHERE user = ?1 AND kind = 'email'),
                        EXISTS (SELECT 1 FROM tokens WHERE user = ?1 AND kind = 'sms')",
            )?
            .query_row([user], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            })?;
        let settings = read_settings(&conn, user)?;
        let failures = super::verify::read_state(&conn, user)?;
        let enforced_groups = conn
            .prepare_cached("SELECT name FROM enforced_groups ORDER BY name")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        let mut user_grace = None;
        let mut group_grace = Vec::new();
        let mut stmt = conn.prepare_cached(
            "SELECT subject, until FROM grace WHERE subject = 'user:' || ?1 OR subject LIKE 'group:%'",
        )?;
        let mut rows = stmt.query([user])?;
        while let Some(r) = rows.next()? {
            let subject: String = r.get(0)?;
            let until = r.get::<_, i64>(1)?.max(0) as u64;
            match subject.strip_prefix("group:") {
                Some(g) => group_grace.push((g.to_owned(), until)),
                None => user_grace = Some(until),
            }
        }
        Ok(LoginSnapshot {
            rule,
            totp_tokens,
            ssh_sk_keys,
            fido2_keys,
            recovery_left,
            email,
            sms,
            settings,
            failures,
            enforced_groups,
            user_grace,
            group_grace,
        })
    }

    /// `user`'s settings.
    pub fn user_settings(&self, user: &str) -> Result<UserSettings, StoreError> {
        read_settings(&self.lock(), user)
    }

    /// Turns always-require on or off. Turning it on fails with `Ok(false)` when the user has
    /// no token (checked in the same transaction, so a token removed meanwhile cannot race).
    pub fn set_always_require(&self, user: &str, on: bool) -> Result<bool, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        if on {
            let tokens: u32 =
                tx.query_row("SELECT COUNT(*) FROM tokens WHERE user = ?1", [user], |r| {
                    r.get(0)
                })?;
            if tokens == 0 {
                return Ok(false);
            }
        }
        tx.execute(
            "INSERT INTO user_settings (user, always_require) VALUES (?1, ?2)
             ON CONFLICT (user) DO UPDATE SET always_require = ?2",
            params![user, on as i64],
        )?;
        tx.commit()?;
        self.checkpoint_after_commit(&conn, "an always-require change");
        Ok(true)
    }

    /// Locks `user`'s second factor (administrative lock).
    pub fn lock_user(&self, user: &str, reason: &str, now: u64) -> Result<(), StoreError> {
        let conn = self.lock();
        conn.execute(
            "INSERT INTO user_settings (user, locked_at, lock_reason) VALUES (?1, ?2, ?3)
             ON CONFLICT (user) DO UPDATE SET locked_at = ?2, lock_reason = ?3",
            params![user, now.max(1) as i64, reason],
        )?;
        self.checkpoint_after_commit(&conn, "an administrative lock");
        Ok(())
    }

    /// Clears `user`'s administrative lock, failure counter and back-off in one transaction.
    /// Returns whether there was anything to clear.
    pub fn unlock_user(&self, user: &str) -> Result<bool, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let a = tx.execute(
            "UPDATE user_settings SET locked_at = 0, lock_reason = '' WHERE user = ?1 AND locked_at > 0",
            [user],
        )?;
        let b = tx.execute("DELETE FROM failures WHERE user = ?1", [user])?;
        tx.commit()?;
        self.checkpoint_after_commit(&conn, "an unlock");
        Ok(a + b > 0)
    }

    /// The always-require permission: `all`, `none` or `group:NAME`.
    pub fn always_require_allow(&self) -> Result<String, StoreError> {
        Ok(self
            .lock()
            .query_row(
                "SELECT value FROM settings WHERE key = ?1",
                [ALWAYS_REQUIRE_ALLOW],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or_else(|| DEFAULT_ALWAYS_REQUIRE_ALLOW.to_owned()))
    }

    /// Sets the always-require permission.
    pub fn set_always_require_allow(&self, value: &str) -> Result<(), StoreError> {
        let conn = self.lock();
        conn.execute(
            "INSERT INTO settings (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = ?2",
            params![ALWAYS_REQUIRE_ALLOW, value],
        )?;
        self.checkpoint_after_commit(&conn, "a policy change");
        Ok(())
    }

    /// Sets (or with `None`, removes) the deadline for `subject` (`user:NAME`/`group:NAME`).
    pub fn set_grace(&self, subject: &str, until: Option<u64>) -> Result<bool, StoreError> {
        let conn = self.lock();
        let n = match until {
            Some(u) => conn.execute(
                "INSERT INTO grace (subject, until) VALUES (?1, ?2)
                 ON CONFLICT (subject) DO UPDATE SET until = ?2",
                params![subject, u.min(i64::MAX as u64) as i64],
            )?,
            None => conn.execute("DELETE FROM grace WHERE subject = ?1", [subject])?,
        };
        self.checkpoint_after_commit(&conn, "a policy change");
        Ok(n > 0)
    }

    /// Every deadline, by subject.
    pub fn grace_deadlines(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached("SELECT subject, until FROM grace ORDER BY subject")?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?.max(0) as u64))
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }
}
