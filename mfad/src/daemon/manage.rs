//! `Manage1`: enrollment, listing, removal, unlock.

use std::time::Instant;

use zeroize::Zeroizing;

use mfa_core::code::parse_code;
use mfa_core::policy::MethodSet;
use mfa_core::recovery;
use mfa_core::ssh_sk::SshSkPublicKey;
use mfa_core::totp::{NEW_SECRET_BYTES, TotpKey, TotpParams, Verification};
use mfa_core::username::loggable;
use mfa_proto::{
    EnrollmentStart, GraceDeadline, MfaError, PolicyExplanation, PolicyOverview,
    RECOVERY_CODE_COUNT, ServicePolicy, TokenInfo, TotpAlgorithm, TotpEnrollOptions, UserStatus,
    WhoAmI,
};

use super::{Daemon, authorized_account, target_user};
use crate::audit::Level;
use crate::authz::Caller;
use crate::clock;
use crate::enroll::{ENROLL_TTL, Pending, check_issuer, check_token_name};
use crate::error::StoreError;
use crate::store::Removal;

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

/// A token write's result for the bus: a name the user already uses (`UNIQUE (user, name)`)
/// or a credential they already have is `AlreadyExists`; anything else is a storage error.
pub(super) fn token_saved(
    user: &str,
    name: &str,
    result: Result<TokenInfo, StoreError>,
) -> Result<TokenInfo, MfaError> {
    match result {
        Ok(info) => Ok(info),
        Err(StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _)))
            if e.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            Err(MfaError::AlreadyExists(format!(
                "{user} already has a token named {name:?}"
            )))
        }
        Err(StoreError::Duplicate(m)) => Err(MfaError::AlreadyExists(m)),
        Err(e) => Err(e.into()),
    }
}

impl Daemon {
    pub(super) fn audit_admin(&self, caller: &Caller, event: &str, user: &str, detail: &str) {
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

    /// Whether a non-admin `caller` needs a fresh step-up to add a factor to `user` who
    /// already has one: a new token, key or set of recovery codes is a new way in.
    pub(super) fn new_factor_needs_step_up(
        &self,
        caller: &Caller,
        user: &str,
    ) -> Result<bool, MfaError> {
        Ok(!caller.admin
            && (self.store.count_tokens(user)? > 0 || self.store.recovery_codes_left(user)? > 0))
    }

    /// Runs `save`, the write of a new factor for `user`, if `caller` may add one now:
    /// admins always; others who already have a factor only with a fresh step-up, which the
    /// write then uses up (a failed write keeps it). `what` names the change in the refusal.
    pub(super) fn add_new_factor<T>(
        &self,
        caller: &Caller,
        user: &str,
        what: &str,
        save: impl FnOnce() -> Result<T, MfaError>,
    ) -> Result<T, MfaError> {
        let needs_step_up = self.new_factor_needs_step_up(caller, user)?;
        self.with_step_up(caller, user, |fresh| {
            if needs_step_up && !fresh {
                return Err(MfaError::StepUpRequired(format!(
                    "{what} needs a fresh second factor first"
                )));
            }
            Ok((save()?, needs_step_up))
        })
    }

    /// Refuses at the start of an enrollment (nothing shown or sent, no grant used up) what
    /// [`Daemon::add_new_factor`] would refuse at its end.
    pub(super) fn check_new_factor(
        &self,
        caller: &Caller,
        user: &str,
        what: &str,
    ) -> Result<(), MfaError> {
        let needs_step_up = self.new_factor_needs_step_up(caller, user)?;
        self.with_step_up(caller, user, |fresh| {
            if needs_step_up && !fresh {
                return Err(MfaError::StepUpRequired(format!(
                    "{what} needs a fresh second factor first"
                )));
            }
            // Not relied on: the grant stays for the write at the end.
            Ok(((), false))
        })
    }

    /// The first free name of `kind`, `kind-2`, … among `user`'s tokens.
    pub(super) fn default_token_name(&self, user: &str, kind: &str) -> Result<String, MfaError> {
        for n in 1..=100u32 {
            let name = if n == 1 {
                kind.to_owned()
            } else {
                format!("{kind}-{n}")
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
        // A new token is a new way in: a user who already has a factor proves it first,
        // as for every other kind. Checked now (no secret is shown otherwise), used up when
        // the token is saved.
        let what = format!("adding a TOTP token for {}", account.name);
        self.check_new_factor(caller, &account.name, &what)?;
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
            self.default_token_name(&account.name, "totp")?
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
        let what = format!("adding a TOTP token for {}", pending.user);
        let saved = self.add_new_factor(caller, &pending.user, &what, || {
            let new = crate::store::NewTotpToken {
                user: &pending.user,
                name: &pending.name,
                key: &pending.key,
                confirmed_step: step,
            };
            token_saved(
                &pending.user,
                &pending.name,
                self.store.insert_totp(&new, now),
            )
        });
        let info = match saved {
            Ok(info) => info,
            // The step-up from the start ran out while the app was being set up: keep the
            // enrollment, so that it can be confirmed after a new step-up.
            Err(e @ MfaError::StepUpRequired(_)) => {
                self.pending.restore(id.to_owned(), pending);
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        self.audit_admin(
            caller,
            "enroll",
            &pending.user,
            &format!("kind=totp token={} name={:?}", info.id, info.name),
        );
        Ok(info)
    }

    /// Discards a pending enrollment.
    pub fn cancel_enrollment(&self, caller: &Caller, id: &str) -> Result<(), MfaError> {
        self.pending
            .take(id, &caller.sender)
            .map(drop)
            .or_else(|_| self.fido2_pending.take(id, &caller.sender).map(drop))
            .or_else(|_| self.code_pending.take(id, &caller.sender).map(drop))
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

    /// Removes one token by id or name. A non-admin removing their own last token needs a
    /// fresh step-up on this connection (it turns MFA off for them on optional services).
    pub fn remove_token(&self, caller: &Caller, user: &str, token: &str) -> Result<(), MfaError> {
        let user = target_user(caller, user)?;
        super::check_token_ref(token)?;
        let name = match authorized_account(caller, user) {
            Ok(a) => a.name,
            // A deleted account's tokens can still be removed by an admin.
            Err(MfaError::UnknownUser(_)) if caller.admin => user.to_owned(),
            Err(e) => return Err(e),
        };
        let removal = self.with_step_up(caller, &name, |fresh| {
            let r = self
                .store
                .remove_token(&name, token, caller.admin || fresh)?;
            let used = !caller.admin && matches!(r, Removal::Removed { last: true, .. });
            Ok((r, used))
        })?;
        match removal {
            Removal::Removed {
                info,
                last,
                cleared_always_require,
            } => {
                self.audit_admin(
                    caller,
                    "remove",
                    &name,
                    &format!(
                        "token={} name={:?} last={last} always_require_cleared={cleared_always_require}",
                        info.id, info.name
                    ),
                );
                Ok(())
            }
            Removal::WouldRemoveLast => Err(MfaError::StepUpRequired(format!(
                "{:?} is the last token of {name}: removing it needs a fresh second factor first",
                loggable(token)
            ))),
            Removal::NotFound => Err(MfaError::UnknownToken(format!(
                "{name} has no token with id or name {:?}",
                loggable(token)
            ))),
        }
    }

    /// Clears a user's failure counter, back-off and administrative lock (admin only).
    pub fn unlock(&self, caller: &Caller, user: &str) -> Result<(), MfaError> {
        caller.require_admin("unlock accounts")?;
        mfa_core::username::check_user_name(user)
            .map_err(|e| MfaError::InvalidUser(e.to_string()))?;
        let had = self.store.unlock_user(user)?;
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
        self.audit_admin(
            caller,
            "unlock",
            user,
            &format!("had_lock_or_failures={had}"),
        );
        Ok(())
    }

    /// Locks a user's second factor: every login that asks for one is denied (admin only).
    pub fn lock(&self, caller: &Caller, user: &str, reason: &str) -> Result<(), MfaError> {
        caller.require_admin("lock accounts")?;
        let account = authorized_account(caller, user)?;
        super::check_field("reason", reason, mfa_proto::MAX_FIELD_LEN)?;
        self.store.lock_user(&account.name, reason, clock::now())?;
        self.audit_admin(caller, "lock", &account.name, &format!("reason={reason:?}"));
        Ok(())
    }

    /// Sets or removes the rule for a service (`*`: the default), with the methods it
    /// allows (empty: every method). Admin only.
    pub fn set_service_policy(
        &self,
        caller: &Caller,
        service: &str,
        mode: &str,
        methods: &[String],
    ) -> Result<(), MfaError> {
        caller.require_admin("change the policy")?;
        if service != "*" {
            super::check_service(service)?;
        }
        if methods.len() > 16 {
            return Err(MfaError::InvalidArgument("too many methods".into()));
        }
        let methods = MethodSet::from_names(methods).map_err(MfaError::InvalidArgument)?;
        let rule = match mode {
            "unset" => None,
            m => Some((
                m.parse::<mfa_core::policy::ServiceMode>()
                    .map_err(MfaError::InvalidArgument)?,
                methods,
            )),
        };
        self.store.set_service_mode(service, rule)?;
        let shown = rule.map_or("unset", |(m, _)| m.as_str());
        self.audit_admin(
            caller,
            "policy-service",
            "",
            &format!(
                "service={service:?} mode={shown} methods={:?}",
                methods.names().join(",")
            ),
        );
        Ok(())
    }

    /// The service rules. Anyone may read them: they say when MFA is asked, nothing secret.
    pub fn service_policies(&self) -> Result<Vec<ServicePolicy>, MfaError> {
        Ok(self
            .store
            .service_modes()?
            .into_iter()
            .map(|r| ServicePolicy {
                service: r.service,
                mode: r.mode.as_str().to_owned(),
                methods: if r.methods == MethodSet::all() {
                    Vec::new()
                } else {
                    r.methods.names()
                },
            })
            .collect())
    }

    /// The whole policy.
    pub fn policy(&self) -> Result<PolicyOverview, MfaError> {
        let mut grace: Vec<GraceDeadline> = self
            .store
            .grace_deadlines()?
            .into_iter()
            .map(|(subject, until)| GraceDeadline {
                subject: subject
                    .strip_prefix("user:")
                    .map(str::to_owned)
                    .unwrap_or(subject),
                until: until.min(i64::MAX as u64) as i64,
            })
            .collect();
        // Sorted as shown: user names and `group:NAME` together.
        grace.sort_by(|a, b| a.subject.cmp(&b.subject));
        Ok(PolicyOverview {
            services: self.service_policies()?,
            enforced_groups: self.store.enforced_groups()?,
            always_require_allow: self.store.always_require_allow()?,
            grace,
        })
    }

    /// Who may turn always-require on for themselves (admin only).
    pub fn set_always_require_permission(
        &self,
        caller: &Caller,
        allow: &str,
    ) -> Result<(), MfaError> {
        caller.require_admin("change the policy")?;
        match allow.strip_prefix("group:") {
            None if allow == "all" || allow == "none" => {}
            Some(g) => {
                mfa_core::username::check_user_name(g)
                    .map_err(|e| MfaError::InvalidArgument(format!("group name: {e}")))?;
                if !matches!(nix::unistd::Group::from_name(g), Ok(Some(_))) {
                    return Err(MfaError::InvalidArgument(format!(
                        "there is no group {:?} on this host",
                        loggable(g)
                    )));
                }
            }
            None => {
                return Err(MfaError::InvalidArgument(
                    "expected all, none or group:NAME".into(),
                ));
            }
        }
        self.store.set_always_require_allow(allow)?;
        self.audit_admin(
            caller,
            "policy-always-require",
            "",
            &format!("allow={allow:?}"),
        );
        Ok(())
    }

    /// Turns always-require on or off for a user.
    pub fn set_always_require(
        &self,
        caller: &Caller,
        user: &str,
        on: bool,
    ) -> Result<(), MfaError> {
        let user = target_user(caller, user)?;
        let account = authorized_account(caller, user)?;
        let name = account.name.as_str();
        if on && !caller.admin {
            let allow = self.store.always_require_allow()?;
            let permitted = match allow.strip_prefix("group:") {
                Some(g) => crate::users::in_group(&account, g).map_err(StoreError::from)?,
                None => allow == "all",
            };
            if !permitted {
                return Err(MfaError::AccessDenied(format!(
                    "the administrator does not let {name} turn on always-require (allowed: {allow})"
                )));
            }
        }
        let changed = if !on && !caller.admin {
            if !self.store.user_settings(name)?.always_require {
                return Ok(());
            }
            self.with_step_up(caller, name, |fresh| {
                if !fresh {
                    return Err(MfaError::StepUpRequired(format!(
                        "turning always-require off for {name} needs a fresh second factor first"
                    )));
                }
                Ok((self.store.set_always_require(name, false)?, true))
            })?
        } else {
            self.store.set_always_require(name, on)?
        };
        if !changed {
            return Err(MfaError::NotEnrolled(format!(
                "{name} has no token: enroll one (`mfactl enroll totp`) before turning on always-require"
            )));
        }
        self.audit_admin(caller, "always-require", name, &format!("on={on}"));
        Ok(())
    }

    /// Sets or removes an enrollment deadline for a user or `group:NAME` (admin only).
    pub fn set_grace(&self, caller: &Caller, subject: &str, until: i64) -> Result<(), MfaError> {
        caller.require_admin("change the policy")?;
        let key = match subject.strip_prefix("group:") {
            Some(g) => {
                mfa_core::username::check_user_name(g)
                    .map_err(|e| MfaError::InvalidArgument(format!("group name: {e}")))?;
                if until != 0 && !matches!(nix::unistd::Group::from_name(g), Ok(Some(_))) {
                    return Err(MfaError::InvalidArgument(format!(
                        "there is no group {:?} on this host",
                        loggable(g)
                    )));
                }
                format!("group:{g}")
            }
            None => {
                mfa_core::username::check_user_name(subject)
                    .map_err(|e| MfaError::InvalidUser(e.to_string()))?;
                if until != 0 {
                    crate::users::lookup(subject).map_err(|e| super::lookup_error(subject, e))?;
                }
                format!("user:{subject}")
            }
        };
        let until = match until {
            0 => None,
            u if u < 0 || (u as u64) <= clock::now() => {
                return Err(MfaError::InvalidArgument(
                    "the deadline must be in the future (0 removes it)".into(),
                ));
            }
            u => Some(u as u64),
        };
        let changed = self.store.set_grace(&key, until)?;
        if until.is_none() && !changed {
            return Err(MfaError::InvalidArgument(format!(
                "{} has no enrollment deadline",
                loggable(subject)
            )));
        }
        self.audit_admin(
            caller,
            "policy-grace",
            "",
            &format!("subject={key:?} until={}", until.unwrap_or(0)),
        );
        Ok(())
    }

    /// Generates and stores a new set of recovery codes for `name`; returns them for display.
    fn new_recovery_codes(&self, name: &str) -> Result<Vec<String>, MfaError> {
        let mut salt = [0u8; recovery::SALT_BYTES];
        getrandom::fill(&mut salt)
            .map_err(|e| MfaError::Internal(format!("the OS random generator failed: {e}")))?;
        let mut shown = Vec::with_capacity(RECOVERY_CODE_COUNT);
        let mut hashes = Vec::with_capacity(RECOVERY_CODE_COUNT);
        while hashes.len() < RECOVERY_CODE_COUNT {
            let mut bytes = Zeroizing::new([0u8; recovery::CODE_BYTES]);
            getrandom::fill(bytes.as_mut())
                .map_err(|e| MfaError::Internal(format!("the OS random generator failed: {e}")))?;
            let code = recovery::RecoveryCode::from_random(&bytes);
            let hash = code.hash(&salt, recovery::KDF_ROUNDS);
            if hashes.contains(&hash) {
                continue; // 2^-80: only a broken RNG repeats
            }
            hashes.push(hash);
            shown.push(code.display().to_string());
        }
        self.store.replace_recovery_codes(
            name,
            &salt,
            recovery::KDF_ROUNDS,
            &hashes,
            clock::now(),
        )?;
        Ok(shown)
    }

    /// Creates a new set of recovery codes, replacing the old one, and returns them once.
    pub fn generate_recovery_codes(
        &self,
        caller: &Caller,
        user: &str,
    ) -> Result<Vec<String>, MfaError> {
        let user = target_user(caller, user)?;
        let account = authorized_account(caller, user)?;
        let name = account.name.as_str();
        // New codes are a new way in: someone at an unattended terminal must not mint them.
        let needs_step_up = self.new_factor_needs_step_up(caller, name)?;
        let shown = self.with_step_up(caller, name, |fresh| {
            if needs_step_up && !fresh {
                return Err(MfaError::StepUpRequired(format!(
                    "new recovery codes for {name} need a fresh second factor first"
                )));
            }
            Ok((self.new_recovery_codes(name)?, needs_step_up))
        })?;
        self.audit_admin(
            caller,
            "recovery-generate",
            name,
            &format!("count={RECOVERY_CODE_COUNT}"),
        );
        Ok(shown)
    }

    /// Enrolls an SSH security key (`sk-…` public key line) for a user.
    pub fn enroll_ssh_sk(
        &self,
        caller: &Caller,
        user: &str,
        name: &str,
        public_key: &str,
    ) -> Result<TokenInfo, MfaError> {
        let user = target_user(caller, user)?;
        let account = authorized_account(caller, user)?;
        let user = account.name.as_str();
        let key = SshSkPublicKey::parse_openssh(public_key)
            .map_err(|e| MfaError::InvalidArgument(format!("public key: {e}")))?;
        let name = match name {
            "" if crate::enroll::check_token_name(key.comment()).is_ok() => key.comment(),
            "" => "ssh-sk",
            given => given,
        };
        crate::enroll::check_token_name(name)?;
        let needs_step_up = self.new_factor_needs_step_up(caller, user)?;
        let info = self.with_step_up(caller, user, |fresh| {
            if needs_step_up && !fresh {
                return Err(MfaError::StepUpRequired(format!(
                    "adding an SSH security key for {user} needs a fresh second factor first"
                )));
            }
            let saved = self.store.insert_ssh_sk(user, name, &key, clock::now());
            Ok((token_saved(user, name, saved)?, needs_step_up))
        })?;
        self.audit_admin(
            caller,
            "enroll",
            user,
            &format!(
                "kind=ssh-sk token={} name={:?} fingerprint={}",
                info.id, info.name, info.detail
            ),
        );
        Ok(info)
    }

    /// How many unused recovery codes a user has.
    pub fn recovery_codes_left(&self, caller: &Caller, user: &str) -> Result<u32, MfaError> {
        let user = target_user(caller, user)?;
        let account = authorized_account(caller, user)?;
        Ok(self.store.recovery_codes_left(&account.name)?)
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
        let d = self.decide(account.as_ref(), user, service, clock::now())?;
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
        let renamed = self
            .store
            .rename_token(&account.name, token, new_name)
            .transpose()
            .ok_or_else(|| {
                MfaError::UnknownToken(format!(
                    "{} has no token with id or name {:?}",
                    account.name,
                    loggable(token)
                ))
            })?;
        let info = token_saved(&account.name, new_name, renamed)?;
        self.audit_admin(
            caller,
            "rename",
            &account.name,
            &format!("token={} name={new_name:?}", info.id),
        );
        Ok(info)
    }

    /// A user's tokens, failure state, settings and what each service with a rule would need.
    pub fn status(&self, caller: &Caller, user: &str) -> Result<UserStatus, MfaError> {
        let user = target_user(caller, user)?;
        let account = authorized_account(caller, user)?;
        let name = account.name.as_str();
        let now = clock::now();
        let state = self.store.failure_state(name)?;
        let settings = self.store.user_settings(name)?;
        let mut services = Vec::new();
        let mut grace_until = 0;
        for rule in self.store.service_modes()? {
            let d = self.decide(Some(&account), name, &rule.service, now)?;
            if let Some((_, u)) = d.grace {
                grace_until = u;
            }
            services.push(ServicePolicy {
                service: rule.service,
                mode: d.code().to_owned(),
                methods: d.methods().names(),
            });
        }
        if grace_until == 0 {
            // No service needed the deadline just now; still show the one that applies.
            let snap = self.store.login_snapshot(name, "")?;
            grace_until = self.deadline_for(&account, &snap)?.map_or(0, |g| g.1);
        }
        Ok(UserStatus {
            user: name.to_owned(),
            tokens: self.store.list_tokens(name)?,
            failures: state.consecutive,
            locked_until: state.locked_until.min(i64::MAX as u64) as i64,
            locked_out: state.consecutive >= self.limits.lockout_after,
            services,
            always_require: settings.always_require,
            admin_locked: settings.locked_at > 0,
            lock_reason: settings.lock_reason,
            recovery_codes_left: self.store.recovery_codes_left(name)?,
            grace_until: grace_until.min(i64::MAX as u64) as i64,
        })
    }
}
