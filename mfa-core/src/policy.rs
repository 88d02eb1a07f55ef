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
    /// Nobody is asked (`PAM_IGNORE`, never `PAM_SUCCESS`).
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

/// What `Begin` must do for a user on a service.
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    /// Ask for a factor (or deny if the user has none).
    Ask,
    /// No factor needed: the module returns `PAM_IGNORE`.
    NotRequired,
}

/// Decides for a service mode, whether the user has a token, and whether a group the user
/// belongs to is enforced (which makes every service that is not `off` required).
pub fn requirement(mode: ServiceMode, has_token: bool, group_enforced: bool) -> Requirement {
    match (mode, has_token, group_enforced) {
        (ServiceMode::Off, _, _) => Requirement::NotRequired,
        (ServiceMode::Required, _, _) | (ServiceMode::Optional, _, true) => Requirement::Ask,
        (ServiceMode::Optional, true, false) => Requirement::Ask,
        (ServiceMode::Optional, false, false) => Requirement::NotRequired,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cell_of_the_mode_by_token_by_group_matrix() {
        use Requirement::*;
        use ServiceMode::*;
        let cells = [
            (Required, true, false, Ask),
            (Required, false, false, Ask),
            (Required, true, true, Ask),
            (Required, false, true, Ask),
            (Optional, true, false, Ask),
            (Optional, false, false, NotRequired),
            (Optional, true, true, Ask),
            (Optional, false, true, Ask),
            (Off, true, false, NotRequired),
            (Off, false, false, NotRequired),
            (Off, true, true, NotRequired),
            (Off, false, true, NotRequired),
        ];
        for (mode, has, group, want) in cells {
            assert_eq!(
                requirement(mode, has, group),
                want,
                "{mode} has_token={has} group={group}"
            );
        }
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
