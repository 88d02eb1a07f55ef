//! mfad's configuration file (`/etc/mfa/mfad.toml`): `Config::parse` on arbitrary text.
//!
//! Checked: no panic; an accepted file has a window of at most 2 steps, and its sanitised
//! rate limit never locks out after more than 100 failures (NIST SP 800-63B) nor waits
//! longer than its maximum; unknown keys are never accepted silently.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mfa_core::config::Config;
use mfa_core::ratelimit::FailureState;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(cfg) = Config::parse(text) else {
        return;
    };
    assert!(cfg.totp.window <= mfa_core::totp::MAX_WINDOW, "{cfg:?}");
    let limits = cfg.rate_limit.sanitized();
    // Walk 101 consecutive failures at one instant: the hard lock comes at 100 at the latest.
    let mut state = FailureState::default();
    let now = 1_700_000_000;
    for _ in 0..101 {
        state = limits.after_failure(state, now);
        assert!(
            state.locked_until.saturating_sub(now) <= limits.max_delay_secs,
            "a delay beyond max_delay_secs with {limits:?}"
        );
    }
    assert!(
        matches!(
            limits.gate(state, now),
            mfa_core::ratelimit::Gate::LockedOut
        ),
        "no lock-out after 101 failures with {limits:?}"
    );
    // Re-parsing the same text gives the same configuration (no hidden state).
    assert_eq!(Config::parse(text).ok(), Some(cfg));
});
