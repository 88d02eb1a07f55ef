//! Policy: whether a login on a service needs a second factor.

use std::fmt;
use std::str::FromStr;

/// What a service's rule says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceMode {
    /// Everybody must pass a second factor; users without a token are denied.
    Required,
    /// Users with a token are asked; users without one are not (`PAM_IGNORE`).
    Optional,
    /// Nobody is asked (`PAM_IGNORE`, never `PAM_SUCCESS`), except users who turned on
    /// always-require for themselves.
    Off,
}

/// The mode when neither the service nor `*` has a rule: fail safe.
pub const DEFAULT_MODE: ServiceMode = ServiceMode::Required;

impl ServiceMode {
    /// The stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceMode::Required => "required",
            ServiceMode::Optional => "optional",
            ServiceMode::Off => "off",
        }
    }
}

impl fmt::Display for ServiceMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ServiceMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "required" => Ok(ServiceMode::Required),
            "optional" => Ok(ServiceMode::Optional),
            "off" => Ok(ServiceMode::Off),
            _ => Err(format!(
                "unknown service mode {s:?} (expected required, optional or off)"
            )),
        }
    }
}

/// A kind of second factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// A TOTP authenticator app.
    Totp,
    /// A FIDO2 security key plugged into this host: the module runs get_assertion on it
    /// against a fresh challenge from mfad, which verifies the signed answer.
    Fido2,
    /// An SSH security key (`sk-` key) that sshd verified during public-key authentication
    /// of this login (`SSH_AUTH_INFO_0`). Never prompted for: it is proven upstream or not.
    SshSk,
    /// A one-time code mfad sends by email to the user's verified address.
    Email,
    /// A one-time code mfad sends by text message to the user's verified phone number.
    Sms,
    /// A one-time recovery code.
    Recovery,
}

impl Method {
    /// Every method, in the order the chooser offers them (recovery codes last: they are
    /// the fallback, not the habit).
    pub const ALL: [Method; 6] = [
        Method::Totp,
        Method::Fido2,
        Method::Email,
        Method::Sms,
        Method::SshSk,
        Method::Recovery,
    ];

    /// The stored and typed name (`mfa_proto::METHOD_NAMES`).
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Totp => "totp",
            Method::Fido2 => "fido2",
            Method::SshSk => "ssh-sk",
            Method::Email => "email",
            Method::Sms => "sms",
            Method::Recovery => "recovery",
        }
    }

    /// The line in the chooser.
    pub fn label(self) -> &'static str {
        match self {
            Method::Totp => "Authenticator app (TOTP code)",
            Method::Fido2 => "Security key (FIDO2 touch)",
            Method::SshSk => "SSH security key (sk- key used for this SSH login)",
            Method::Email => "Code sent by email",
            Method::Sms => "Code sent by text message (SMS)",
            Method::Recovery => "Recovery code",
        }
    }

    /// Whether it counts as an enrolled token (recovery codes are a fallback: having them
    /// alone opts nobody in on optional services, nor allows always-require).
    pub fn is_token(self) -> bool {
        !matches!(self, Method::Recovery)
    }

    /// Whether mfad sends the code to the user (email, SMS), so that it has a delivery
    /// step, a resend and abuse limits.
    pub fn is_sent_code(self) -> bool {
        matches!(self, Method::Email | Method::Sms)
    }

    /// Whether the user can answer it at a prompt (an SSH security key is proven by sshd
    /// before the PAM stack runs, or not at all).
    pub fn is_promptable(self) -> bool {
        !matches!(self, Method::SshSk)
    }

    fn bit(self) -> u8 {
        match self {
            Method::Totp => 1,
            Method::Recovery => 2,
            Method::SshSk => 4,
            Method::Fido2 => 8,
            Method::Email => 16,
            Method::Sms => 32,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Method {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Method::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown method {:?} (expected one of: {})",
                    s.chars().take(32).collect::<String>(),
                    Method::ALL.map(Method::as_str).join(", ")
                )
            })
    }
}

/// A set of methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MethodSet(u8);

impl MethodSet {
    /// No method.
    pub const EMPTY: MethodSet = MethodSet(0);

    /// Every method.
    pub fn all() -> Self {
        Method::ALL.into_iter().collect()
    }

    /// Parses a list of names; an empty list means every method.
    pub fn from_names<S: AsRef<str>>(names: &[S]) -> Result<Self, String> {
        if names.is_empty() {
            return Ok(MethodSet::all());
        }
        names.iter().map(|n| n.as_ref().parse::<Method>()).collect()
    }

    /// The stored form: names joined by commas, empty for every method.
    pub fn to_stored(self) -> String {
        if self == MethodSet::all() {
            String::new()
        } else {
            self.names().join(",")
        }
    }

    /// Reads the stored form.
    pub fn from_stored(s: &str) -> Result<Self, String> {
        if s.is_empty() {
            return Ok(MethodSet::all());
        }
        s.split(',').map(str::parse::<Method>).collect()
    }

    /// Adds `m`.
    pub fn insert(&mut self, m: Method) {
        self.0 |= m.bit();
    }

    /// Whether `m` is in the set.
    pub fn contains(self, m: Method) -> bool {
        self.0 & m.bit() != 0
    }

    /// Methods in both.
    pub fn intersect(self, other: MethodSet) -> MethodSet {
        MethodSet(self.0 & other.0)
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The methods that can be asked for at a prompt.
    pub fn promptable(self) -> MethodSet {
        self.iter().filter(|m| m.is_promptable()).collect()
    }

    /// Whether it holds a token method (not only recovery codes).
    pub fn has_token(self) -> bool {
        self.iter().any(Method::is_token)
    }

    /// The methods, in chooser order.
    pub fn iter(self) -> impl Iterator<Item = Method> {
        Method::ALL.into_iter().filter(move |m| self.contains(*m))
    }

    /// How many.
    pub fn len(self) -> usize {
        self.iter().count()
    }

    /// The names, in chooser order.
    pub fn names(self) -> Vec<String> {
        self.iter().map(|m| m.as_str().to_owned()).collect()
    }
}

impl FromIterator<Method> for MethodSet {
    fn from_iter<I: IntoIterator<Item = Method>>(iter: I) -> Self {
        let mut set = MethodSet::EMPTY;
        for m in iter {
            set.insert(m);
        }
        set
    }
}

/// What the policy knows about one user on one service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts {
    /// The service's mode.
    pub mode: ServiceMode,
    /// The methods the service allows.
    pub allowed: MethodSet,
    /// The methods the user can answer with (enrolled tokens, and recovery codes left).
    pub enrolled: MethodSet,
    /// The user turned on "always require MFA".
    pub always_require: bool,
    /// The user is a member of an enforced group (`None`: not looked up, see
    /// [`group_matters`]).
    pub group_enforced: Option<bool>,
}

/// Whether group membership can change the outcome, so that the NSS lookup (which may go
/// to a directory server) is made only then: on an optional service, for a user not already
/// asked by their own choice or their tokens.
pub fn group_matters(
    mode: ServiceMode,
    allowed: MethodSet,
    enrolled: MethodSet,
    always_require: bool,
) -> bool {
    mode == ServiceMode::Optional && !always_require && !enrolled.intersect(allowed).has_token()
}

/// What `Begin` must do for a user on a service.
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    /// A factor is needed; these are the methods the user can use here. When the set is
    /// empty the user cannot comply: grace or denial.
    Ask(MethodSet),
    /// No factor needed: the module returns `PAM_IGNORE`.
    NotRequired,
}

/// Why a factor is needed (for the explanation and the audit line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mandate {
    /// The service is `required`.
    Service,
    /// An enforced group.
    Group,
    /// The user's own always-require setting.
    AlwaysRequire,
    /// The user has a token allowed on this optional service.
    OptedIn,
}

impl Mandate {
    /// The name in audit lines.
    pub fn as_str(self) -> &'static str {
        match self {
            Mandate::Service => "service",
            Mandate::Group => "group",
            Mandate::AlwaysRequire => "always-require",
            Mandate::OptedIn => "opted-in",
        }
    }
}

/// Decides for a user on a service, and says which rule made a factor necessary.
pub fn requirement(f: &Facts) -> (Requirement, Option<Mandate>) {
    let usable = f.enrolled.intersect(f.allowed);
    // Always-require is the user's own choice to be asked on every service that stacks the
    // module, so it applies even where the admin turned MFA off.
    let mandate = match f.mode {
        _ if f.always_require => Some(Mandate::AlwaysRequire),
        ServiceMode::Off => None,
        ServiceMode::Required => Some(Mandate::Service),
        ServiceMode::Optional if usable.has_token() => Some(Mandate::OptedIn),
        ServiceMode::Optional if f.group_enforced == Some(true) => Some(Mandate::Group),
        ServiceMode::Optional => None,
    };
    match mandate {
        Some(m) => (Requirement::Ask(usable), Some(m)),
        None => (Requirement::NotRequired, None),
    }
}

/// Where an enrollment deadline stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grace {
    /// No deadline applies.
    None,
    /// Before the deadline: let in with a warning.
    Until(u64),
    /// The deadline has passed.
    Expired(u64),
}

impl Grace {
    /// Classifies `deadline` (Unix time) at `now`.
    pub fn at(deadline: Option<u64>, now: u64) -> Grace {
        match deadline {
            None => Grace::None,
            Some(d) if now < d => Grace::Until(d),
            Some(d) => Grace::Expired(d),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(
        mode: ServiceMode,
        allowed: MethodSet,
        enrolled: MethodSet,
        always: bool,
        group: bool,
    ) -> Facts {
        Facts {
            mode,
            allowed,
            enrolled,
            always_require: always,
            group_enforced: Some(group),
        }
    }

    #[test]
    fn every_cell_of_mode_by_token_by_group_by_always_require() {
        use ServiceMode::*;
        let totp: MethodSet = [Method::Totp].into_iter().collect();
        let none = MethodSet::EMPTY;
        let all = MethodSet::all();
        for mode in [Required, Optional, Off] {
            for has in [true, false] {
                for group in [true, false] {
                    for always in [true, false] {
                        let enrolled = if has { totp } else { none };
                        let (req, mandate) =
                            requirement(&facts(mode, all, enrolled, always, group));
                        let want = match mode {
                            _ if always => Requirement::Ask(enrolled),
                            Off => Requirement::NotRequired,
                            Required => Requirement::Ask(enrolled),
                            Optional if has || group || always => Requirement::Ask(enrolled),
                            Optional => Requirement::NotRequired,
                        };
                        assert_eq!(req, want, "{mode} has={has} group={group} always={always}");
                        assert_eq!(mandate.is_some(), want != Requirement::NotRequired);
                    }
                }
            }
        }
    }

    #[test]
    fn only_allowed_methods_are_offered_and_recovery_codes_alone_opt_nobody_in() {
        let totp: MethodSet = [Method::Totp].into_iter().collect();
        let recovery: MethodSet = [Method::Recovery].into_iter().collect();
        let both = MethodSet::all();
        // Required: offers what is both enrolled and allowed, even if that is nothing.
        let (r, _) = requirement(&facts(ServiceMode::Required, recovery, both, false, false));
        assert_eq!(r, Requirement::Ask(recovery));
        let (r, _) = requirement(&facts(ServiceMode::Required, totp, recovery, false, false));
        assert_eq!(r, Requirement::Ask(MethodSet::EMPTY));
        // Optional: recovery codes are a fallback, not an enrollment.
        let (r, _) = requirement(&facts(ServiceMode::Optional, both, recovery, false, false));
        assert_eq!(r, Requirement::NotRequired);
        // Optional with a token the service does not allow: not opted in here.
        let (r, _) = requirement(&facts(ServiceMode::Optional, recovery, both, false, false));
        assert_eq!(r, Requirement::NotRequired);
        let (r, m) = requirement(&facts(ServiceMode::Optional, both, both, false, false));
        assert_eq!((r, m), (Requirement::Ask(both), Some(Mandate::OptedIn)));
        let (_, m) = requirement(&facts(ServiceMode::Optional, both, none(), true, true));
        assert_eq!(m, Some(Mandate::AlwaysRequire));
        let (_, m) = requirement(&facts(ServiceMode::Optional, both, none(), false, true));
        assert_eq!(m, Some(Mandate::Group));
    }

    fn none() -> MethodSet {
        MethodSet::EMPTY
    }

    #[test]
    fn groups_are_looked_up_only_where_they_can_change_the_outcome() {
        let totp: MethodSet = [Method::Totp].into_iter().collect();
        let all = MethodSet::all();
        assert!(group_matters(ServiceMode::Optional, all, none(), false));
        assert!(!group_matters(ServiceMode::Optional, all, totp, false));
        assert!(!group_matters(ServiceMode::Optional, all, none(), true));
        assert!(!group_matters(ServiceMode::Required, all, none(), false));
        assert!(!group_matters(ServiceMode::Off, all, none(), false));
        // A token the service does not allow does not opt the user in: groups decide.
        let recovery: MethodSet = [Method::Recovery].into_iter().collect();
        assert!(group_matters(ServiceMode::Optional, recovery, totp, false));
    }

    #[test]
    fn method_sets_parse_store_and_refuse_unknown_names() {
        assert_eq!(MethodSet::from_names::<&str>(&[]), Ok(MethodSet::all()));
        let s = MethodSet::from_names(&["recovery", "sms", "ssh-sk", "email", "fido2", "totp"])
            .unwrap();
        assert_eq!(s, MethodSet::all());
        assert_eq!(s.to_stored(), "");
        let typed = MethodSet::from_names(&["recovery", "sms", "fido2", "email", "totp"]).unwrap();
        assert_eq!(typed.to_stored(), "totp,fido2,email,sms,recovery");
        assert!(Method::Email.is_sent_code() && Method::Sms.is_token());
        assert!(!Method::Totp.is_sent_code());
        assert_eq!(MethodSet::all().promptable(), typed);
        assert!(!Method::SshSk.is_promptable() && Method::SshSk.is_token());
        assert!(Method::Fido2.is_promptable() && Method::Fido2.is_token());
        assert_eq!(Method::Fido2.label(), "Security key (FIDO2 touch)");
        // An explicit list keeps its meaning: it does not grow when methods are added.
        assert!(
            !MethodSet::from_stored("totp,ssh-sk,recovery")
                .unwrap()
                .contains(Method::Fido2)
        );
        let t = MethodSet::from_names(&["totp"]).unwrap();
        assert_eq!(t.to_stored(), "totp");
        assert_eq!(MethodSet::from_stored("totp"), Ok(t));
        assert_eq!(MethodSet::from_stored(""), Ok(MethodSet::all()));
        assert!(
            MethodSet::from_names(&["voice"])
                .unwrap_err()
                .contains("unknown method")
        );
        assert!(MethodSet::from_names(&["TOTP"]).is_err());
        assert_eq!(t.names(), vec!["totp".to_owned()]);
        assert_eq!(
            MethodSet::all().iter().collect::<Vec<_>>(),
            Method::ALL.to_vec()
        );
        assert_eq!(Method::ALL.map(Method::as_str), mfa_proto::METHOD_NAMES);
    }

    #[test]
    fn grace_is_open_before_the_deadline_and_closed_from_it() {
        assert_eq!(Grace::at(None, 100), Grace::None);
        assert_eq!(Grace::at(Some(101), 100), Grace::Until(101));
        assert_eq!(Grace::at(Some(100), 100), Grace::Expired(100));
        assert_eq!(Grace::at(Some(5), 100), Grace::Expired(5));
    }

    #[test]
    fn modes_round_trip_and_unknown_modes_are_refused() {
        for m in [
            ServiceMode::Required,
            ServiceMode::Optional,
            ServiceMode::Off,
        ] {
            assert_eq!(m.as_str().parse::<ServiceMode>(), Ok(m));
        }
        assert!("Required".parse::<ServiceMode>().is_err());
        assert!("".parse::<ServiceMode>().is_err());
        assert_eq!(DEFAULT_MODE, ServiceMode::Required);
    }
}
