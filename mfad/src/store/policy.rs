//! Policy rows.

use rusqlite::{OptionalExtension, params};

use mfa_core::policy::ServiceMode;

use super::Store;
use crate::error::StoreError;

impl Store {
    /// Sets (or with `None`, removes) the rule for `service` (`*` for the default).
    pub fn set_service_mode(
        &self,
        service: &str,
        mode: Option<ServiceMode>,
    ) -> Result<(), StoreError> {
        let conn = self.lock();
        match mode {
            Some(m) => conn.execute(
                "INSERT INTO service_policy (service, mode) VALUES (?1, ?2)
                 ON CONFLICT (service) DO UPDATE SET mode = ?2",
                params![service, m.as_str()],
            )?,
            None => conn.execute("DELETE FROM service_policy WHERE service = ?1", [service])?,
        };
        Ok(())
    }

    /// The rule for `service`, falling back to the `*` rule; `None` when neither exists.
    pub fn service_mode(&self, service: &str) -> Result<Option<(String, ServiceMode)>, StoreError> {
        let row: Option<(String, String)> = self
            .lock()
            .query_row(
                "SELECT service, mode FROM service_policy WHERE service IN (?1, '*')
                 ORDER BY service = '*' LIMIT 1",
                [service],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        row.map(|(s, m)| m.parse().map(|m| (s, m)).map_err(StoreError::BadRow))
            .transpose()
    }

    /// Every rule, `*` first, then by service name.
    pub fn service_modes(&self) -> Result<Vec<(String, ServiceMode)>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(
            "SELECT service, mode FROM service_policy ORDER BY service != '*', service",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (s, m) = row?;
            out.push((s, m.parse().map_err(StoreError::BadRow)?));
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
