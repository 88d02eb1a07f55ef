//! Time to a denial when mfad cannot answer: pam_mfa must fail closed
//! (`PAM_AUTHINFO_UNAVAIL`, no prompt), fast when nobody is there, within its `timeout=`
//! when somebody is there but silent.

use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use crate::error::{BenchError, Result};
use crate::pam_loop::{self, Login, PAM_AUTHINFO_UNAVAIL};
use crate::stats::Summary;

/// One fail-closed scenario and its measured denials.
#[derive(Debug, Clone, Serialize)]
pub struct Scenario {
    /// What was broken.
    pub label: String,
    /// The module's `timeout=` in this scenario, ms.
    pub timeout_ms: u64,
    /// Time from `pam_start` to the denial returned by `pam_end`.
    pub denial: Summary,
}

/// Runs `count` logins of `user` on `service` in one PAM application; each must be denied
/// with `PAM_AUTHINFO_UNAVAIL` without a prompt.
pub fn measure(
    binary: &Path,
    confdir: &Path,
    work: &Path,
    service: &str,
    user: &str,
    count: usize,
) -> Result<Vec<Duration>> {
    let logins = vec![
        Login {
            service: service.to_owned(),
            user: user.to_owned(),
            code: None,
        };
        count
    ];
    let run = pam_loop::run(binary, confdir, work, &logins)?;
    for (i, r) in run.results.iter().enumerate() {
        if r.rc != PAM_AUTHINFO_UNAVAIL || r.prompts != 0 {
            return Err(BenchError::Invalid(format!(
                "{service}: attempt {i} returned {} with {} prompt(s); a daemon that cannot \
                 answer must give PAM_AUTHINFO_UNAVAIL ({PAM_AUTHINFO_UNAVAIL}) without a prompt",
                r.rc, r.prompts
            )));
        }
    }
    Ok(run.results.iter().map(|r| r.elapsed).collect())
}
