//! Per-user throttling of failed verifications (NIST SP 800-63B 5.2.2).
//!
//! The first `free_failures` consecutive failures cost nothing; each further one closes the
//! gate for an exponentially growing delay (capped), and after `lockout_after` consecutive
//! failures (at most 100, as NIST requires) the account stays locked until an admin resets
//! it. Attempts refused while the gate is closed are not checked, so they do not count: a
//! flood of wrong codes cannot push a victim into the hard lock faster than the delays allow,
//! and the rightful user's code works again as soon as the delay has passed.

use serde::Deserialize;

/// NIST SP 800-63B: never more than 100 consecutive failed attempts.
pub const NIST_MAX_CONSECUTIVE_FAILURES: u32 = 100;

/// Throttling settings (`[rate_limit]` in mfad.toml).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimit {
    /// Consecutive failures allowed before any delay.
    pub free_failures: u32,
    /// Delay after the first failure beyond the free ones, in seconds; doubles each time.
    pub base_delay_secs: u64,
    /// Longest delay, in seconds.
    pub max_delay_secs: u64,
    /// Consecutive failures after which only an admin reset reopens the account (≤ 100).
    pub lockout_after: u32,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit {
            free_failures: 5,
            base_delay_secs: 30,
            max_delay_secs: 3600,
            lockout_after: 100,
        }
    }
}

/// A user's failure record as stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FailureState {
    /// Consecutive failed verifications since the last success or reset.
    pub consecutive: u32,
    /// Unix time before which no code is checked (0: open).
    pub locked_until: u64,
}

/// Whether a verification may be attempted now.
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Check the code.
    Open,
    /// Refuse without checking until `until` (Unix time).
    Wait {
        /// When the gate opens again.
        until: u64,
    },
    /// Refuse until an admin resets the counter.
    LockedOut,
}

impl RateLimit {
    /// Clamps the settings to what is safe: the hard lock never later than NIST's 100.
    pub fn sanitized(mut self) -> Self {
        if self.lockout_after == 0 || self.lockout_after > NIST_MAX_CONSECUTIVE_FAILURES {
            self.lockout_after = NIST_MAX_CONSECUTIVE_FAILURES;
        }
        self.max_delay_secs = self.max_delay_secs.max(self.base_delay_secs);
        self
    }

    /// The gate for `state` at `now`.
    pub fn gate(&self, state: FailureState, now: u64) -> Gate {
        if state.consecutive >= self.lockout_after {
            Gate::LockedOut
        } else if now < state.locked_until {
            Gate::Wait {
                until: state.locked_until,
            }
        } else {
            Gate::Open
        }
    }

    /// The state after one more failed check at `now`.
    pub fn after_failure(&self, state: FailureState, now: u64) -> FailureState {
        let consecutive = state.consecutive.saturating_add(1);
        let locked_until = if consecutive > self.free_failures {
            let doublings = (consecutive - self.free_failures - 1).min(32);
            let delay = self
                .base_delay_secs
                .saturating_mul(1u64 << doublings)
                .min(self.max_delay_secs);
            now.saturating_add(delay)
        } else {
            0
        };
        FailureState {
            consecutive,
            locked_until,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_failures_then_doubling_delays_capped() {
        let rl = RateLimit {
            free_failures: 2,
            base_delay_secs: 10,
            max_delay_secs: 35,
            lockout_after: 100,
        };
        let mut s = FailureState::default();
        let now = 1000;
        let mut delays = vec![];
        for _ in 0..6 {
            s = rl.after_failure(s, now);
            delays.push(s.locked_until.saturating_sub(now));
        }
        assert_eq!(delays, vec![0, 0, 10, 20, 35, 35]);
    }

    #[test]
    fn gate_opens_when_the_delay_has_passed() {
        let rl = RateLimit {
            free_failures: 0,
            base_delay_secs: 30,
            ..RateLimit::default()
        };
        let s = rl.after_failure(FailureState::default(), 100);
        assert_eq!(rl.gate(s, 100), Gate::Wait { until: 130 });
        assert_eq!(rl.gate(s, 129), Gate::Wait { until: 130 });
        assert_eq!(rl.gate(s, 130), Gate::Open);
    }

    #[test]
    fn hard_lock_at_lockout_after_and_never_beyond_nist() {
        let rl = RateLimit {
            lockout_after: 500,
            ..RateLimit::default()
        }
        .sanitized();
        assert_eq!(rl.lockout_after, 100);
        let s = FailureState {
            consecutive: 100,
            locked_until: 0,
        };
        assert_eq!(rl.gate(s, u64::MAX), Gate::LockedOut);
        let s = FailureState {
            consecutive: 99,
            locked_until: 0,
        };
        assert_eq!(rl.gate(s, 0), Gate::Open);
        assert_eq!(
            RateLimit {
                lockout_after: 0,
                ..RateLimit::default()
            }
            .sanitized()
            .lockout_after,
            100
        );
    }

    #[test]
    fn huge_counts_do_not_overflow() {
        let rl = RateLimit::default();
        let s = FailureState {
            consecutive: u32::MAX - 1,
            locked_until: 0,
        };
        let s = rl.after_failure(s, u64::MAX - 5);
        assert_eq!(s.consecutive, u32::MAX);
        assert_eq!(s.locked_until, u64::MAX);
    }
}
