//! `Manage1`: enrollment, listing, removal, unlock.

use std::time::Instant;

use zeroize::Zeroizing;

use mfa_core::code::parse_code;
use mfa_core::totp::{NEW_SECRET_BYTES, TotpKey, TotpParams, Verification};
use mfa_core::username::loggable;
use mfa_proto::{
    EnrollmentStart, MfaError, PolicyExplanation, ServicePolicy, TokenInfo, TotpAlgorithm,
    TotpEnrollOptions, UserStatus, WhoAmI,
};

use super::{Daemon, authorized_account, target_user};
use crate::audit::Level;
use crate::authz::Caller;
use crate::clock;
use crate::enroll::{ENROLL_TTL, Pending, check_issuer, check_token_name};
use crate::error::StoreError;

fn params_from(options: &TotpEnrollOptions) -> Result<TotpParams, MfaError> {
    let algorithm = if options.algorithm.is_empty() {
        TotpAlgorithm::Sha1
    } else {
        options
            .algorithm
            .parse()
            .map_err(MfaError::InvalidArgument)?
    };
    let params = TotpParams {
        algorithm,
        digits: if options.digits == 0 {
            6
        } else {
            options.digits
        },
        period: if options.period == 0 {
            30
        } else {
            options.period
        },
    };
    params
        .validate()
        .map_err(|e| MfaError::InvalidArgument(e.to_string()))?;
    Ok(params)
}

fn new_secret() -> Result<Zeroizing<Vec<u8>>, MfaError> {
    let mut secret = Zeroizing::new(vec![0u8; NEW_SECRET_BYTES]);
    getrandom::fill(&mut secret)
        .map_err(|e| MfaError::Internal(format!("the OS random generator failed: {e}")))?;
    Ok(secret)
}

fn rejected_message(why: &str, tries_left: u32) -> String {
    if tries_left == 0 {
        format!("{why}; nothing was saved and the enrollment was discarded")
    } else {
        format!("{why}; nothing was saved")
    }
}

impl Daemon {
    fn audit_admin(&self, caller: &Caller, event: &str, user: &str, detail: &str) {
        let line = format!(
            "{event} user={} by_uid={} {detail}",
            loggable(user),
            caller.uid
        );
        self.audit.log(Level::Notice, line.trim_end());
        if let Err(e) = self.store.audit(
            clock::now(),
            user,
            "",
            event,
            &format!("by_uid={} {detail}", caller.uid),
        ) {
            self.audit.log(
                Level::Error,
                &format!("cannot record audit event {event}: {e}"),
            );
        }
    }

    /// Who the caller is.
    pub fn who_am_i(&self, caller: &Caller) -> WhoAmI {
        WhoAmI {
            uid: caller.uid,
            user: caller.own_name().unwrap_or_default().to_owned(),
            admin: caller.admin,
        }
    }

    fn default_token_name(&self, user: &str) -> Result<String, MfaError> {
        for n in 1..=100u32 {
            let name = if n == 1 {
                "totp".to_owned()
            } else {
                format!("totp-{n}")
            };
            if !self.store.token_name_taken(user, &name)? {
                return Ok(name);
            }
        }
        Err(MfaError::InvalidArgument(
            "too many tokens; give one a --name".into(),
        ))
    }

    /// Creates a pending TOTP enrollment and returns its otpauth URI.
    pub fn begin_totp_enrollment(
        &self,
        caller: &Caller,
        user: &str,
        options: &TotpEnrollOptions,
    ) -> Result<EnrollmentStart, MfaError> {
        let user = target_user(caller, user)?;
        let account = authorized_account(caller, user)?;
        let params = params_from(options)?;
        let key = if options.secret_base32.is_empty() {
            TotpKey::new(new_secret()?, params)
        } else {
            TotpKey::from_base32(&options.secret_base32, params)
        }
        .map_err(|e| MfaError::InvalidArgument(e.to_string()))?;
        let issuer = if options.issuer.is_empty() {
            self.issuer.clone()
        } else {
            options.issuer.clone()
        };
        check_issuer(&issuer)?;
        let name = if options.name.is_empty() {
            self.default_token_name(&account.name)?
        } else {
            options.name.clone()
        };
        check_token_name(&name)?;
        if self.store.token_name_taken(&account.name, &name)? {
            return Err(MfaError::AlreadyExists(format!(
                "{} already has a token named {name:?}",
                account.name
            )));
        }
        let otpauth_uri = key
            .otpauth_uri(&issuer, &account.name)
            .map_err(|e| MfaError::InvalidArgument(e.to_string()))?;
        let imported = !options.secret_base32.is_empty();
        let enrollment = self.pending.start(Pending {
            owner: caller.sender.clone(),
            user: account.name.clone(),
            name,
            key,
            started: Instant::now(),
            tries: 0,
        })?;
        self.audit.log(
            Level::Info,
            &format!(
                "enroll-begin user={} by_uid={} kind=totp imported={imported}",
                loggable(&account.name),
                caller.uid
            ),
        );
        Ok(EnrollmentStart {
            enrollment,
            otpauth_uri: otpauth_uri.as_str().to_owned(),
            expires_at: (clock::now() + ENROLL_TTL.as_secs()) as i64,
        })
    }

    /// Verifies the app's code for a pending enrollment and, only then, saves the token.
    pub fn confirm_totp_enrollment(
        &self,
        caller: &Caller,
        id: &str,
        code: &str,
    ) -> Result<TokenInfo, MfaError> {
        let pending = self.pending.take(id, &caller.sender)?;
        let now = clock::now();
        let verdict = match parse_code(code) {
            Ok(c) => pending.key.verify(&c, now, None, self.window),
            Err(e) => {
                let left = self.pending.put_back(id.to_owned(), pending);
                return Err(MfaError::CodeRejected(format!(
                    "{e}; nothing was saved ({left} tries left)"
                )));
            }
        };
        let Verification::Accepted { step } = verdict else {
            let left = self.pending.put_back(id.to_owned(), pending);
            return Err(MfaError::CodeRejected(rejected_message(
                "the code does not match the new secret (check the app and the clock)",
                left,
            )));
        };
        let new = crate::store::NewTotpToken {
            user: &pending.user,
            name: &pending.name,
            key: &pending.key,
            confirmed_step: step,
        };
        match self.store.insert_totp(&new, now) {
            Ok(info) => {
                self.audit_admin(
                    caller,
                    "enroll",
                    &pending.user,
                    &format!("kind=totp token={} name={:?}", info.id, info.name),
                );
                Ok(info)
            }
            Err(StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _)))
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                Err(MfaError::AlreadyExists(format!(
                    "{} already has a token named {:?}",
                    pending.user, pending.name
                )))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Discards a pending enrollment.
    pub fn cancel_enrollment(&self, caller: &Caller, id: &str) -> Result<(), MfaError> {
        self.pending.take(id, &caller.sender).map(drop)
    }

    /// Lists a user's tokens. Admins may list users NSS no longer knows (to clean up).
    pub fn list_tokens(&self, caller: &Caller, user: &str) -> Result<Vec<TokenInfo>, MfaError> {
        let user = target_user(caller, user)?;
        match authorized_account(caller, user) {
            Ok(account) => Ok(self.store.list_tokens(&account.name)?),
            Err(MfaError::UnknownUser(m)) => {
                let tokens = self.store.list_tokens(user)?;
                if tokens.is_empty() {
                    Err(MfaError::UnknownUser(m))
                } else {
                    Ok(tokens)
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Removes one token by id or name.
    pub fn remove_token(&self, caller: &Caller, user: &str, token: &str) -> Result<(), MfaError> {
        let user = target_user(caller, user)?;
        super::check_token_ref(token)?;
        let name = match authorized_account(caller, user) {
            Ok(a) => a.name,
            // A deleted account's tokens can still be removed by an admin.
            Err(MfaError::UnknownUser(_)) if caller.admin => user.to_owned(),
            Err(e) => return Err(e),
        };
        match self.store.remove_token(&name, token)? {
            Some(info) => {
                self.audit_admin(
                    caller,
                    "remove",
                    &name,
                    &format!("token={} name={:?}", info.id, info.name),
                );
                Ok(())
            }
            None => Err(MfaError::UnknownToken(format!(
                "{name} has no token with id or name {:?}",
                loggable(token)
            ))),
        }
    }

    /// Clears a user's failure counter and back-off (admin only).
    pub fn reset_failures(&self, caller: &Caller, user: &str) -> Result<(), MfaError> {
        caller.require_admin("unlock accounts")?;
        mfa_core::username::check_user_name(user)
            .map_err(|e| MfaError::InvalidUser(e.to_string()))?;
        let had = self.store.reset_failures(user)?;
        if !had
            && matches!(
                crate::users::lookup(user),
                Err(crate::users::LookupError::Unknown)
            )
        {
            return Err(MfaError::UnknownUser(format!(
                "there is no user {:?} on this host",
                loggable(user)
            )));
        }
        self.audit_admin(caller, "unlock", user, &format!("had_failures={had}"));
        Ok(())
    }

    /// Sets or removes the rule for a service (`*`: the default). Admin only.
    pub fn set_service_policy(
        &self,
        caller: &Caller,
        service: &str,
        mode: &str,
    ) -> Result<(), MfaError> {
        caller.require_admin("change the policy")?;
        if service != "*" {
            super::check_service(service)?;
        }
        let mode = match mode {
            "unset" => None,
            m => Some(
                m.parse::<mfa_core::policy::ServiceMode>()
                    .map_err(MfaError::InvalidArgument)?,
            ),
        };
        self.store.set_service_mode(service, mode)?;
        let shown = mode.map_or("unset", |m| m.as_str());
        self.audit_admin(
            caller,
            "policy-service",
            "",
            &format!("service={service:?} mode={shown}"),
        );
        Ok(())
    }

    /// The service rules. Anyone may read them: they say when MFA is asked, nothing secret.
    pub fn service_policies(&self) -> Result<Vec<ServicePolicy>, MfaError> {
        Ok(self
            .store
            .service_modes()?
            .into_iter()
            .map(|(service, mode)| ServicePolicy {
                service,
                mode: mode.as_str().to_owned(),
            })
            .collect())
    }

    /// Enforces MFA for a group's members, or stops (admin only). Enforcing a group NSS
    /// does not know is refused (it would silently protect nobody).
    pub fn set_group_enforcement(
        &self,
        caller: &Caller,
        group: &str,
        enforce: bool,
    ) -> Result<(), MfaError> {
        caller.require_admin("change the policy")?;
        mfa_core::username::check_user_name(group)
            .map_err(|e| MfaError::InvalidArgument(format!("group name: {e}")))?;
        if enforce && !matches!(nix::unistd::Group::from_name(group), Ok(Some(_))) {
            return Err(MfaError::InvalidArgument(format!(
                "there is no group {:?} on this host",
                loggable(group)
            )));
        }
        let changed = self.store.set_group_enforced(group, enforce)?;
        self.audit_admin(
            caller,
            "policy-group",
            "",
            &format!("group={group:?} enforce={enforce} changed={changed}"),
        );
        Ok(())
    }

    /// The enforced groups.
    pub fn enforced_groups(&self) -> Result<Vec<String>, MfaError> {
        Ok(self.store.enforced_groups()?)
    }

    /// Explains what a login of `user` on `service` would need (admins, or users about
    /// themselves). Changes nothing.
    pub fn explain(
        &self,
        caller: &Caller,
        user: &str,
        service: &str,
    ) -> Result<PolicyExplanation, MfaError> {
        mfa_core::username::check_user_name(user)
            .map_err(|e| MfaError::InvalidUser(e.to_string()))?;
        caller.may_act_on(user)?;
        super::check_service(service)?;
        let account = match crate::users::lookup(user) {
            Ok(a) => Some(a),
            Err(crate::users::LookupError::Unknown) => None,
            Err(e) => return Err(super::lookup_error(user, e)),
        };
        let d = self.decide(account.as_ref(), user, service)?;
        Ok(PolicyExplanation {
            decision: d.code().to_owned(),
            reasons: d.reasons(user, service),
        })
    }

    /// Renames one of a user's tokens.
    pub fn rename_token(
        &self,
        caller: &Caller,
        user: &str,
        token: &str,
        new_name: &str,
    ) -> Result<TokenInfo, MfaError> {
        let user = target_user(caller, user)?;
        let account = authorized_account(caller, user)?;
        check_token_name(new_name)?;
        super::check_token_ref(token)?;
        match self.store.rename_token(&account.name, token, new_name) {
            Ok(Some(info)) => {
                self.audit_admin(
                    caller,
                    "rename",
                    &account.name,
                    &format!("token={} name={new_name:?}", info.id),
                );
                Ok(info)
            }
            Ok(None) => Err(MfaError::UnknownToken(format!(
                "{} has no token with id or name {:?}",
                account.name,
                loggable(token)
            ))),
            Err(StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _)))
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                Err(MfaError::AlreadyExists(format!(
                    "{} already has a token named {new_name:?}",
                    account.name
                )))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// A user's tokens, failure state and what each service with a rule would need.
    pub fn status(&self, caller: &Caller, user: &str) -> Result<UserStatus, MfaError> {
        let user = target_user(caller, user)?;
        let account = authorized_account(caller, user)?;
        let state = self.store.failure_state(&account.name)?;
        let mut services = Vec::new();
        for (service, _) in self.store.service_modes()? {
            let d = self.decide(Some(&account), &account.name, &service)?;
            services.push(mfa_proto::ServicePolicy {
                service,
                mode: d.code().to_owned(),
            });
        }
        Ok(UserStatus {
            user: account.name.clone(),
            tokens: self.store.list_tokens(&account.name)?,
            failures: state.consecutive,
            locked_until: state.locked_until.min(i64::MAX as u64) as i64,
            locked_out: state.consecutive >= self.limits.lockout_after,
            services,
        })
    }
}
