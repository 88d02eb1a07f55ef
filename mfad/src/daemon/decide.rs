//! The policy decision for one user on one service, shared by `Begin`, `Explain` and
//! `Status`, so that what `mfactl policy explain` prints is exactly what a login does.

use mfa_core::policy::{
    DEFAULT_MODE, Facts, Grace, Mandate, Method, MethodSet, Requirement, ServiceMode,
    group_matters, requirement,
};
use mfa_core::ratelimit::FailureState;
use mfa_core::username::loggable;

use super::Daemon;
use crate::error::StoreError;
use crate::store::{LoginSnapshot, UserSettings};
use crate::users::{self, Account};

/// What a login must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Ask for one of these methods (never empty).
    Ask(MethodSet),
    /// No factor needed: `PAM_IGNORE`.
    NotRequired,
    /// A factor is needed and the user cannot give one, but a deadline to enroll has not
    /// passed: let in with a warning (`PAM_IGNORE`, never `PAM_SUCCESS`).
    Grace(u64),
    /// A factor is needed and the user cannot give one: denied. Carries a passed deadline.
    DenyNoMethod(Option<u64>),
    /// An administrator locked the user's second factor.
    DenyLocked,
}

/// Everything the decision looked at, and the result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The service's mode.
    pub mode: ServiceMode,
    /// The methods the service allows.
    pub allowed: MethodSet,
    /// Which rule gave it: the service name, `*`, or `built-in default`.
    pub rule: String,
    /// Whether NSS knows the user.
    pub user_exists: bool,
    /// The methods the user has (tokens, and recovery codes left) and this host can use.
    pub enrolled: MethodSet,
    /// Email/SMS the user has, but no transport is configured for.
    pub undeliverable: MethodSet,
    /// TOTP tokens.
    pub totp_tokens: u32,
    /// FIDO2 security keys.
    pub fido2_keys: u32,
    /// Unused recovery codes.
    pub recovery_left: u32,
    /// The user's settings.
    pub settings: UserSettings,
    /// The failure record.
    pub failures: FailureState,
    /// The enforced groups the user belongs to, when looked up (`None`: not consulted).
    pub enforcing_groups: Option<Vec<String>>,
    /// All enforced groups (for the explanation).
    pub enforced_groups: Vec<String>,
    /// Why a factor is needed, if it is.
    pub mandate: Option<Mandate>,
    /// The enrollment deadline that applied, and whose it is (`user` or `group:NAME`).
    pub grace: Option<(String, u64)>,
    /// The outcome.
    pub verdict: Verdict,
}

impl Decision {
    /// The `Explain` wire code.
    pub fn code(&self) -> &'static str {
        match self.verdict {
            Verdict::Ask(_) => "ask",
            Verdict::NotRequired => "not-required",
            Verdict::Grace(_) => "grace",
            Verdict::DenyNoMethod(_) => "deny-not-enrolled",
            Verdict::DenyLocked => "deny-locked",
        }
    }

    /// The methods a login could use (empty unless asked).
    pub fn methods(&self) -> MethodSet {
        match self.verdict {
            Verdict::Ask(m) => m,
            _ => MethodSet::EMPTY,
        }
    }

    /// One line per rule consulted.
    pub fn reasons(&self, user: &str, service: &str) -> Vec<String> {
        let user = loggable(user);
        let allowed = if self.allowed == MethodSet::all() {
            "every method".to_owned()
        } else {
            format!("methods {}", self.allowed.names().join(", "))
        };
        let mut out = vec![match self.rule.as_str() {
            "built-in default" => format!(
                "service {service}: no rule for it and no '*' rule, so the built-in default applies: {} ({allowed})",
                self.mode
            ),
            "*" => format!(
                "service {service}: no rule for it; the '*' rule says {} ({allowed})",
                self.mode
            ),
            _ => format!("service {service}: its rule says {} ({allowed})", self.mode),
        }];
        if !self.user_exists {
            out.push(format!(
                "user {user}: not known on this host (prompted like anyone else, never let in)"
            ));
            return out;
        }
        out.push(if self.enrolled.is_empty() {
            format!("user {user}: no token enrolled and no recovery codes")
        } else {
            format!(
                "user {user}: {} TOTP token(s), {} FIDO2 security key(s), {} unused recovery code(s)",
                self.totp_tokens, self.fido2_keys, self.recovery_left
            )
        });
        for m in self.undeliverable.iter() {
            out.push(format!(
                "user {user}: has an {m} address for codes, but mfad has no [{m}] transport \
                 configured, so it is not offered"
            ));
        }
        out.push(format!(
            "always-require: {}",
            if self.settings.always_require {
                "on (asked on every service that stacks pam_mfa, even where it is off)"
            } else {
                "off"
            }
        ));
        if self.mode == ServiceMode::Off && !self.settings.always_require {
            out.push(format!(
                "service {service} is off: nobody is asked, group enforcement does not apply"
            ));
            return out;
        }
        out.push(
            match (&self.enforcing_groups, self.enforced_groups.is_empty()) {
                (_, true) => "group enforcement: no group is enforced".to_owned(),
                (None, false) => format!(
                    "group enforcement: not consulted ({})",
                    match self.mandate {
                        Some(Mandate::Service) =>
                            format!("the service is {} whatever the groups", self.mode),
                        Some(Mandate::AlwaysRequire) => "always-require already asks".to_owned(),
                        _ => "the user's token already opts them in".to_owned(),
                    }
                ),
                (Some(g), false) if g.is_empty() => format!(
                    "group enforcement: {user} is in none of the enforced groups ({})",
                    self.enforced_groups.join(", ")
                ),
                (Some(g), false) => format!(
                    "group enforcement: {user} is a member of enforced group {}",
                    g.join(", ")
                ),
            },
        );
        out.push(match self.mandate {
            None => format!("result: no second factor is needed on {service}"),
            Some(m) => format!(
                "result: a second factor is needed because {}",
                match m {
                    Mandate::Service => format!("service {service} is required"),
                    Mandate::Group => "the user is in an enforced group".to_owned(),
                    Mandate::AlwaysRequire => "the user turned on always-require".to_owned(),
                    Mandate::OptedIn =>
                        "the user has a token allowed on this optional service".to_owned(),
                }
            ),
        });
        match self.verdict {
            Verdict::Ask(m) => out.push(format!(
                "asked for: {}",
                m.names().join(" or ")
            )),
            Verdict::DenyLocked => out.push(format!(
                "locked by an administrator: denied until `mfactl unlock {user}`"
            )),
            Verdict::Grace(until) => out.push(format!(
                "no usable method, but the enrollment deadline ({}, from {}) has not passed: let in with a warning",
                crate::clock::format_utc(until),
                self.grace.as_ref().map_or("?", |g| g.0.as_str()),
            )),
            Verdict::DenyNoMethod(Some(until)) => out.push(format!(
                "no usable method, and the enrollment deadline passed on {}: denied",
                crate::clock::format_utc(until)
            )),
            Verdict::DenyNoMethod(None) => out.push(if self.enrolled.is_empty() {
                "no usable method and no enrollment deadline: denied".to_owned()
            } else {
                format!(
                    "none of the user's methods ({}) is allowed here: denied",
                    self.enrolled.names().join(", ")
                )
            }),
            Verdict::NotRequired => {}
        }
        out
    }
}

impl Daemon {
    /// Evaluates the policy for `user` (with `account` if NSS knows it) on `service` at `now`.
    pub(super) fn decide(
        &self,
        account: Option<&Account>,
        user: &str,
        service: &str,
        now: u64,
    ) -> Result<Decision, StoreError> {
        let snap: LoginSnapshot = self.store.login_snapshot(user, service)?;
        let (rule, mode, allowed) = match &snap.rule {
            Some(r) => (r.service.clone(), r.mode, r.methods),
            None => (
                "built-in default".to_owned(),
                DEFAULT_MODE,
                MethodSet::all(),
            ),
        };
        let (enrolled, undeliverable) = match account {
            // Email and SMS without a configured transport cannot be used: as if not enrolled.
            Some(_) => {
                let offerable = self.offerable();
                let all = snap.methods();
                (
                    all.intersect(offerable),
                    all.iter().filter(|m| !offerable.contains(*m)).collect(),
                )
            }
            None => (MethodSet::EMPTY, MethodSet::EMPTY),
        };
        let always_require = account.is_some() && snap.settings.always_require;
        // Membership is looked up (NSS, maybe a directory server) only where it can change
        // the outcome.
        let enforcing_groups = match account {
            Some(a)
                if !snap.enforced_groups.is_empty()
                    && group_matters(mode, allowed, enrolled, always_require) =>
            {
                Some(users::member_groups(a, &snap.enforced_groups)?)
            }
            _ => None,
        };
        let (req, mandate) = requirement(&Facts {
            mode,
            allowed,
            enrolled,
            always_require,
            group_enforced: enforcing_groups.as_ref().map(|g| !g.is_empty()),
        });
        let mut grace = None;
        let verdict = match (req, account) {
            (Requirement::NotRequired, _) => Verdict::NotRequired,
            // Unknown users are prompted like a user with one token of the first code method
            // the service allows, so the prompt reveals nothing; the answer is always refused.
            (Requirement::Ask(_), None) => {
                Verdict::Ask([unknown_user_method(allowed)].into_iter().collect())
            }
            (Requirement::Ask(_), Some(_)) if snap.settings.locked_at > 0 => Verdict::DenyLocked,
            (Requirement::Ask(m), Some(_)) if !m.is_empty() => Verdict::Ask(m),
            (Requirement::Ask(_), Some(a)) => {
                grace = self.deadline_for(a, &snap)?;
                match Grace::at(grace.as_ref().map(|g| g.1), now) {
                    Grace::Until(u) => Verdict::Grace(u),
                    Grace::Expired(u) => Verdict::DenyNoMethod(Some(u)),
                    Grace::None => Verdict::DenyNoMethod(None),
                }
            }
        };
        Ok(Decision {
            mode,
            allowed,
            rule,
            user_exists: account.is_some(),
            enrolled,
            undeliverable,
            totp_tokens: snap.totp_tokens,
            fido2_keys: snap.fido2_keys,
            recovery_left: snap.recovery_left,
            settings: snap.settings,
            failures: snap.failures,
            enforcing_groups,
            enforced_groups: snap.enforced_groups,
            mandate,
            grace,
            verdict,
        })
    }

    /// The deadline that applies to `account`: its own if set (an admin may shorten or
    /// extend one person's), else the latest of its groups'.
    pub(super) fn deadline_for(
        &self,
        account: &Account,
        snap: &LoginSnapshot,
    ) -> Result<Option<(String, u64)>, StoreError> {
        if let Some(u) = snap.user_grace {
            return Ok(Some(("user".to_owned(), u)));
        }
        let names: Vec<&str> = snap.group_grace.iter().map(|(g, _)| g.as_str()).collect();
        let member = users::member_groups(account, &names)?;
        Ok(snap
            .group_grace
            .iter()
            .filter(|(g, _)| member.contains(g))
            .max_by_key(|(_, u)| *u)
            .map(|(g, u)| (format!("group:{g}"), *u)))
    }
}

/// What an unknown user is asked for: the first method of `allowed` that is answered by
/// typing a code (TOTP, else recovery codes), as a real user with such a token would be.
/// On a service that allows neither, TOTP: a security-key step cannot be faked without a
/// credential, so there a prompt does tell unknown names apart.
fn unknown_user_method(allowed: MethodSet) -> Method {
    [Method::Totp, Method::Recovery]
        .into_iter()
        .find(|m| allowed.contains(*m))
        .unwrap_or(Method::Totp)
}
