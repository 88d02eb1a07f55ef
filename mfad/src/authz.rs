//! Who is calling, and what they may do. The one place that authorises.
//!
//! The caller's UID comes from the bus (`GetConnectionUnixUser` on the message's sender),
//! never from an argument. Root and members of the configured admin group may act on any
//! account; everybody else only on their own.

use std::collections::HashMap;
use std::sync::Mutex;

use zbus::Connection;
use zbus::fdo::DBusProxy;
use zbus::message::Header;

use mfa_proto::MfaError;

use crate::users::{self, Account};

/// An identified caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The sender's unique bus name (`:1.42`): flows and enrollments are bound to it.
    pub sender: String,
    /// UID as reported by the bus.
    pub uid: u32,
    /// The account for that UID, if NSS has one.
    pub account: Option<Account>,
    /// Whether the caller may act on any account.
    pub admin: bool,
}

impl Caller {
    /// Allows the call if the caller is an admin or `target` is the caller's own account.
    pub fn may_act_on(&self, target: &str) -> Result<(), MfaError> {
        if self.admin || self.account.as_ref().is_some_and(|a| a.name == target) {
            Ok(())
        } else {
            Err(MfaError::AccessDenied(format!(
                "uid {} may only act on its own account; acting on another user needs root{}",
                self.uid,
                if self.account.is_some() {
                    " or the admin group"
                } else {
                    ""
                }
            )))
        }
    }

    /// Allows the call only for admins.
    pub fn require_admin(&self, what: &str) -> Result<(), MfaError> {
        if self.admin {
            Ok(())
        } else {
            Err(MfaError::AccessDenied(format!(
                "uid {} may not {what}: it needs root or the admin group",
                self.uid
            )))
        }
    }

    /// The caller's own user name, for self-service defaults.
    pub fn own_name(&self) -> Option<&str> {
        self.account.as_ref().map(|a| a.name.as_str())
    }
}

/// Resolves callers, caching UIDs per unique name (unique names are never reused during a
/// bus's lifetime, so the cache cannot be confused).
#[derive(Debug)]
pub struct Authorizer {
    admin_group: Option<String>,
    uid_cache: Mutex<HashMap<String, u32>>,
}

const UID_CACHE_MAX: usize = 4096;

impl Authorizer {
    /// `admin_group`: members may act on any account (None: only root).
    pub fn new(admin_group: Option<String>) -> Self {
        Authorizer {
            admin_group,
            uid_cache: Mutex::new(HashMap::new()),
        }
    }

    /// Identifies the sender of the message with header `hdr`.
    pub async fn caller(&self, conn: &Connection, hdr: &Header<'_>) -> Result<Caller, MfaError> {
        let sender = hdr
            .sender()
            .ok_or_else(|| {
                MfaError::AccessDenied(
                    "the message has no sender; cannot identify the caller".into(),
                )
            })?
            .to_string();
        let cached = self
            .uid_cache
            .lock()
            .ok()
            .and_then(|c| c.get(&sender).copied());
        let uid = match cached {
            Some(uid) => uid,
            None => {
                let proxy = DBusProxy::new(conn).await.map_err(MfaError::from)?;
                let bus_name = zbus::names::BusName::try_from(sender.as_str())
                    .map_err(|e| MfaError::Internal(format!("bad sender name: {e}")))?;
                let uid = proxy
                    .get_connection_unix_user(bus_name)
                    .await
                    .map_err(|e| {
                        MfaError::AccessDenied(format!("cannot identify the caller: {e}"))
                    })?;
                if let Ok(mut c) = self.uid_cache.lock() {
                    if c.len() >= UID_CACHE_MAX {
                        c.clear();
                    }
                    c.insert(sender.clone(), uid);
                }
                uid
            }
        };
        Ok(self.identify(sender, uid))
    }

    /// Builds a [`Caller`] from a known UID (also used by tests).
    pub fn identify(&self, sender: String, uid: u32) -> Caller {
        let account = users::by_uid(uid);
        let admin = uid == 0
            || match (&self.admin_group, &account) {
                // A failed lookup grants no admin rights (closed).
                (Some(group), Some(acc)) => users::in_group(acc, group).unwrap_or(false),
                _ => false,
            };
        Caller {
            sender,
            uid,
            account,
            admin,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_may_act_on_anyone_others_only_on_themselves() {
        let a = Authorizer::new(None);
        let root = a.identify(":1.1".into(), 0);
        assert!(root.admin);
        assert!(root.may_act_on("nobody").is_ok());
        let nobody_uid = users::lookup("nobody").unwrap().uid;
        let nobody = a.identify(":1.2".into(), nobody_uid);
        assert!(!nobody.admin);
        assert!(nobody.may_act_on("nobody").is_ok());
        assert!(matches!(
            nobody.may_act_on("root"),
            Err(MfaError::AccessDenied(_))
        ));
        assert!(nobody.require_admin("unlock").is_err());
    }

    #[test]
    fn admin_group_members_are_admins() {
        let nobody = users::lookup("nobody").unwrap();
        let group = nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(nobody.gid))
            .unwrap()
            .unwrap()
            .name;
        let a = Authorizer::new(Some(group));
        assert!(a.identify(":1.3".into(), nobody.uid).admin);
        let b = Authorizer::new(Some("no-such-group-mfa-test".into()));
        assert!(!b.identify(":1.4".into(), nobody.uid).admin);
    }

    #[test]
    fn a_uid_without_an_account_may_act_on_nobody() {
        let a = Authorizer::new(None);
        let ghost = a.identify(":1.5".into(), 4_000_000_000);
        assert!(ghost.account.is_none());
        assert!(ghost.may_act_on("root").is_err());
    }
}
