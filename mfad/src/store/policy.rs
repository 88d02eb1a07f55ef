//! Policy rows.

use rusqlite::params;

use mfa_core::policy::{MethodSet, ServiceMode};

use super::Store;
use super::settings::{ServiceRule, parse_rule};
use crate::error::StoreError;

impl Store {
    /// Sets (or with `None`, removes) the rule for `service` (`*` for the default).
    pub fn set_service_mode(
        &self,
        service: &str,
        rule: Option<(ServiceMode, MethodSet)>,
    ) -> Result<(), StoreError> {
        let conn = self.lock();
        match rule {
            Some((m, methods)) => conn.execute(
                "INSERT INTO service_policy (service, mode, methods) VALUES (?1, ?2, ?3)
                 ON CONFLICT (service) DO UPDATE SET mode = ?2, methods = ?3",
                params![service, m.as_str(), methods.to_stored()],
            )?,
            None => conn.execute("DELETE FROM service_policy WHERE service = ?1", [service])?,
        };
        // A `required` rule lost with the WAL would silently stop asking for a factor.
        self.checkpoint_after_commit(&conn, "a policy change");
        Ok(())
    }

    /// Every rule, `*` first, then by service name.
    pub fn service_modes(&self) -> Result<Vec<ServiceRule>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(
            "SELECT service, mode, methods FROM service_policy ORDER BY service != '*', service",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (s, m, methods) = row?;
            out.push(parse_rule(s, &m, &methods)?);
        }
        Ok(out)
    }

    /// Enforces MFA for `group`'s members, or stops. Returns whether anything changed.
    pub fn set_group_enforced(&self, group: &str, enforce: bool) -> Result<bool, StoreError> {
        let conn = self.lock();
        let n = if enforce {
            conn.execute(
                "INSERT OR IGNORE INTO enforced_groups (name) VALUES (?1)",
                [group],
            )?
        } else {
            conn.execute("DELETE FROM enforced_groups WHERE name = ?1", [group])?
        };
        self.checkpoint_after_commit(&conn, "a policy change");
        Ok(n > 0)
    }

    /// The enforced groups, sorted.
    pub fn enforced_groups(&self) -> Result<Vec<String>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached("SELECT name FROM enforced_groups ORDER BY name")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<Result<Vec<String>, _>>()?)
    }
}
