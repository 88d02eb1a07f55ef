//! The policy decision for one user on one service, shared by `Begin` and `Explain` so
//! that what `mfactl policy explain` prints is exactly what a login does.

use mfa_core::policy::{DEFAULT_MODE, Requirement, ServiceMode, requirement};
use mfa_core::username::loggable;

use super::Daemon;
use crate::error::StoreError;
use crate::users::{self, Account};

/// Everything the decision looked at, and the result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The service's mode.
    pub mode: ServiceMode,
    /// Which rule gave it: the service name, `*`, or `built-in default`.
    pub rule: String,
    /// Whether NSS knows the user.
    pub user_exists: bool,
    /// The user's token count.
    pub tokens: u32,
    /// The first enforced group the user belongs to, if any.
    pub enforcing_group: Option<String>,
    /// All enforced groups (for the explanation).
    pub enforced_groups: Vec<String>,
    /// The outcome.
    pub requirement: Requirement,
}

impl Decision {
    /// `ask`, `deny-not-enrolled` or `not-required` (the `Explain` wire codes).
    pub fn code(&self) -> &'static str {
        match self.requirement {
            Requirement::NotRequired => "not-required",
            Requirement::Ask if self.user_exists && self.tokens == 0 => "deny-not-enrolled",
            Requirement::Ask => "ask",
        }
    }

    /// One line per rule consulted.
    pub fn reasons(&self, user: &str, service: &str) -> Vec<String> {
        let user = loggable(user);
        let mut out = vec![match self.rule.as_str() {
            "built-in default" => format!(
                "service {service}: no rule for it and no '*' rule, so the built-in default applies: {}",
                self.mode
            ),
            "*" => format!(
                "service {service}: no rule for it; the '*' rule says {}",
                self.mode
            ),
            _ => format!("service {service}: its rule says {}", self.mode),
        }];
        out.push(if !self.user_exists {
            format!("user {user}: not known on this host (prompted like anyone else, never let in)")
        } else if self.tokens == 0 {
            format!("user {user}: no token enrolled")
        } else {
            format!("user {user}: {} token(s) enrolled", self.tokens)
        });
        out.push(
            match (&self.enforcing_group, self.enforced_groups.is_empty()) {
                _ if self.mode != ServiceMode::Optional && !self.enforced_groups.is_empty() => {
                    format!(
                        "group enforcement: not consulted, the service is {} whatever the groups",
                        self.mode
                    )
                }
                (Some(g), _) => {
                    format!("group enforcement: {user} is a member of enforced group {g}")
                }
                (None, true) => "group enforcement: no group is enforced".to_owned(),
                (None, false) => format!(
                    "group enforcement: {user} is in none of the enforced groups ({})",
                    self.enforced_groups.join(", ")
                ),
            },
        );
        if self.mode == ServiceMode::Off {
            out.push(format!(
                "service {service} is off: nobody is asked, group enforcement does not apply"
            ));
        }
        out
    }
}

impl Daemon {
    /// Evaluates the policy for `user` (with `account` if NSS knows it) on `service`.
    pub(super) fn decide(
        &self,
        account: Option<&Account>,
        user: &str,
        service: &str,
    ) -> Result<Decision, StoreError> {
        let (rule, mode) = self
            .store
            .service_mode(service)?
            .unwrap_or_else(|| ("built-in default".to_owned(), DEFAULT_MODE));
        let tokens = if account.is_some() {
            self.store.count_tokens(user)?
        } else {
            0
        };
        let enforced_groups = self.store.enforced_groups()?;
        // Membership can only change the outcome of an optional service (required already
        // asks, off never does), so the NSS lookup, which may go to a directory server, is
        // made only there.
        let enforcing_group = match (mode, account) {
            (ServiceMode::Optional, Some(a)) => users::first_member_group(a, &enforced_groups),
            _ => None,
        };
        Ok(Decision {
            mode,
            rule,
            user_exists: account.is_some(),
            tokens,
            requirement: requirement(mode, tokens > 0, enforcing_group.is_some()),
            enforcing_group,
            enforced_groups,
        })
    }
}
