//! The daemon's configuration file (`/etc/mfa/mfad.toml`), parsed strictly.
//!
//! Unknown keys are errors (`deny_unknown_fields`), so a typo never silently weakens a
//! setting. Every key has a safe default; an absent default file means "all defaults".

use serde::Deserialize;
use thiserror::Error;

use crate::delivery::{EmailConfig, OtpConfig, SmsConfig};
use crate::ratelimit::RateLimit;
use crate::totp::MAX_WINDOW;

/// Default path of the configuration file.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/mfa/mfad.toml";

/// Why a configuration file was refused.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// Not valid TOML, an unknown key, or a value of the wrong type; the message names it.
    #[error("{0}")]
    Parse(String),
    /// A value out of range.
    #[error("{key}: {why}")]
    Invalid {
        /// The offending key, e.g. `totp.window`.
        key: &'static str,
        /// What is wrong with it.
        why: String,
    },
}

/// The whole configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `[daemon]`
    pub daemon: DaemonConfig,
    /// `[totp]`
    pub totp: TotpConfig,
    /// `[rate_limit]`
    pub rate_limit: RateLimit,
    /// `[fido2]`
    pub fido2: Fido2Config,
    /// `[otp]`: lifetime and send limits of emailed and texted codes.
    pub otp: OtpConfig,
    /// `[email]`: SMTP delivery of codes; email is offered only when configured.
    pub email: EmailConfig,
    /// `[sms]`: text-message delivery of codes; SMS is offered only when configured.
    pub sms: SmsConfig,
}

/// Longest FIDO2 challenge lifetime accepted: well below the five minutes a login flow
/// lives, and above the 30 s keys wait for a touch.
pub const MAX_CHALLENGE_TTL_SECS: u64 = 300;
/// Default FIDO2 challenge lifetime: a touch (and a PIN) fits, a captured challenge is
/// soon useless.
pub const DEFAULT_CHALLENGE_TTL_SECS: u64 = 60;
/// Longest relying-party ID accepted (a host name is at most 253 characters).
pub const MAX_RP_ID_LEN: usize = 256;

/// `[fido2]`: local security keys.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Fido2Config {
    /// The relying-party ID credentials are made for; default `pam_mfa://<hostname>`
    /// ([`crate::fido2::host_rp_id`]). Changing it makes every enrolled key unusable.
    pub rp_id: Option<String>,
    /// Seconds a login challenge stays valid (1 to [`MAX_CHALLENGE_TTL_SECS`]).
    pub challenge_ttl_secs: u64,
}

impl Default for Fido2Config {
    fn default() -> Self {
        Fido2Config {
            rp_id: None,
            challenge_ttl_secs: DEFAULT_CHALLENGE_TTL_SECS,
        }
    }
}

/// `[daemon]`: who may administer, and how tokens are labelled.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DaemonConfig {
    /// Members of this Unix group (by NSS) may act on every account, like root. None by default.
    pub admin_group: Option<String>,
    /// Issuer shown in authenticator apps; default `pam_mfa@<hostname>`.
    pub issuer: Option<String>,
}

/// `[totp]`: verification window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TotpConfig {
    /// Steps accepted either side of the current one (0 to 2; default 1).
    pub window: u32,
}

impl Default for TotpConfig {
    fn default() -> Self {
        TotpConfig { window: 1 }
    }
}

impl Config {
    /// Parses and checks a configuration file's text.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let cfg: Config = toml::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))?;
        if cfg.totp.window > MAX_WINDOW {
            return Err(ConfigError::Invalid {
                key: "totp.window",
                why: format!("must be 0 to {MAX_WINDOW}, not {}", cfg.totp.window),
            });
        }
        let rl = cfg.rate_limit;
        if rl.lockout_after == 0
            || rl.lockout_after > crate::ratelimit::NIST_MAX_CONSECUTIVE_FAILURES
        {
            return Err(ConfigError::Invalid {
                key: "rate_limit.lockout_after",
                why: format!(
                    "must be 1 to 100 (NIST SP 800-63B), not {}",
                    rl.lockout_after
                ),
            });
        }
        if rl.max_delay_secs < rl.base_delay_secs {
            return Err(ConfigError::Invalid {
                key: "rate_limit.max_delay_secs",
                why: "must not be smaller than base_delay_secs".into(),
            });
        }
        if let Some(issuer) = &cfg.daemon.issuer
            && (issuer.is_empty() || issuer.contains(':') || issuer.len() > 64)
        {
            return Err(ConfigError::Invalid {
                key: "daemon.issuer",
                why: "must be 1 to 64 characters without ':'".into(),
            });
        }
        let ttl = cfg.fido2.challenge_ttl_secs;
        if ttl == 0 || ttl > MAX_CHALLENGE_TTL_SECS {
            return Err(ConfigError::Invalid {
                key: "fido2.challenge_ttl_secs",
                why: format!("must be 1 to {MAX_CHALLENGE_TTL_SECS}, not {ttl}"),
            });
        }
        if let Some(rp_id) = &cfg.fido2.rp_id
            && (rp_id.is_empty()
                || rp_id.len() > MAX_RP_ID_LEN
                || rp_id.chars().any(|c| c.is_control() || c.is_whitespace()))
        {
            return Err(ConfigError::Invalid {
                key: "fido2.rp_id",
                why: format!(
                    "must be 1 to {MAX_RP_ID_LEN} bytes without spaces or control characters"
                ),
            });
        }
        cfg.otp.check()?;
        cfg.email.check()?;
        cfg.sms.check()?;
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_means_defaults() {
        assert_eq!(Config::parse("").unwrap(), Config::default());
        assert_eq!(Config::default().totp.window, 1);
        assert_eq!(Config::default().rate_limit.lockout_after, 100);
    }

    #[test]
    fn full_file_parses() {
        let c = Config::parse(
            "[daemon]\nadmin_group = \"mfa-admins\"\nissuer = \"corp\"\n[totp]\nwindow = 2\n[rate_limit]\nfree_failures = 3\nbase_delay_secs = 1\nmax_delay_secs = 4\nlockout_after = 20\n",
        )
        .unwrap();
        assert_eq!(c.daemon.admin_group.as_deref(), Some("mfa-admins"));
        assert_eq!(c.rate_limit.free_failures, 3);
        assert_eq!(c.totp.window, 2);
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_key() {
        let e = Config::parse("[totp]\nwindw = 1\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("windw"), "{e}");
        let e = Config::parse("[totp]\nwindow = 3\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("totp.window"), "{e}");
        let e = Config::parse("[rate_limit]\nlockout_after = 101\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("lockout_after"), "{e}");
        let e = Config::parse("[daemon]\nissuer = \"a:b\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("daemon.issuer"), "{e}");
        assert!(Config::parse("[totp]\nwindow = \"one\"\n").is_err());
        for bad in [
            "challenge_ttl_secs = 0",
            "challenge_ttl_secs = 301",
            "rp_id = \"\"",
            "rp_id = \"a b\"",
        ] {
            let e = Config::parse(&format!("[fido2]\n{bad}\n"))
                .unwrap_err()
                .to_string();
            assert!(e.contains("fido2."), "{bad}: {e}");
        }
        let e = Config::parse("[fido2]\nttl = 5\n").unwrap_err().to_string();
        assert!(e.contains("ttl"), "{e}");
    }

    #[test]
    fn fido2_defaults_and_overrides() {
        let d = Config::default().fido2;
        assert_eq!((d.rp_id, d.challenge_ttl_secs), (None, 60));
        let c = Config::parse("[fido2]\nrp_id = \"pam_mfa://bastion\"\nchallenge_ttl_secs = 2\n")
            .unwrap();
        assert_eq!(c.fido2.rp_id.as_deref(), Some("pam_mfa://bastion"));
        assert_eq!(c.fido2.challenge_ttl_secs, 2);
    }

    #[test]
    fn the_shipped_example_config_parses() {
        let text = include_str!("../../contrib/mfad.toml");
        Config::parse(text).unwrap();
    }
}
