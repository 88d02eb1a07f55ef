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

/// Decides for a service mode and whether the user has a token.
pub fn requirement(mode: ServiceMode, has_token: bool) -> Requirement {
    match (mode, has_token) {
        (ServiceMode::Off, _) => Requirement::NotRequired,
        (ServiceMode::Optional, false) => Requirement::NotRequired,
        (ServiceMode::Optional, true) | (ServiceMode::Required, _) => Requirement::Ask,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cell_of_the_mode_by_token_matrix() {
        use Requirement::*;
        use ServiceMode::*;
        let cells = [
            (Required, true, Ask),
            (Required, false, Ask),
            (Optional, true, Ask),
            (Optional, false, NotRequired),
            (Off, true, NotRequired),
            (Off, false, NotRequired),
        ];
        for (mode, has, want) in cells {
            assert_eq!(requirement(mode, has), want, "{mode} has_token={has}");
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
