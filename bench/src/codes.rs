//! Fresh TOTP codes for many users, without touching anybody's clock.
//!
//! mfad accepts a code only for a time step after the token's last accepted one, within ±1
//! step (the default window). So at time `t`, in step `s`, a token whose last step is below
//! `s` has two fresh codes: for `s`, then for `s + 1`. Both stay valid for at least one full
//! period after they are handed out (a code for step `s` verifies until step `s + 2`
//! begins), which lets plans be computed just before a run. The steps handed out per token
//! only increase, so a plan executed in order never replays a step; callers running in
//! parallel give each thread its own users.
//!
//! pam_google_authenticator's `DISALLOW_REUSE` has the same shape (each step once, ±1
//! step), so its users draw codes the same way.

use std::process::Command;

use zeroize::Zeroizing;

use mfa_core::totp::{TotpKey, TotpParams};

use crate::error::{BenchError, Result};

/// The TOTP period of every bench token (the default), in seconds.
pub const PERIOD: u64 = 30;

/// Unix time now, in seconds.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `n` bytes from the OS random generator.
pub fn random_bytes(n: usize) -> Result<Vec<u8>> {
    let mut v = vec![0u8; n];
    getrandom::fill(&mut v)
        .map_err(|e| BenchError::Setup(format!("the OS random generator failed: {e}")))?;
    Ok(v)
}

/// One token (SHA-1, 6 digits, 30 s, as enrolled by default) and the last step it used.
#[derive(Debug)]
pub struct Token {
    /// The key, as stored in mfad's database or a GA secret file.
    pub key: TotpKey,
    /// The last step accepted (or confirmed at enrollment).
    pub last_step: u64,
}

impl Token {
    /// A new random 160-bit token whose steps up to `last_step` count as used.
    pub fn random(last_step: u64) -> Result<Token> {
        let key = TotpKey::new(Zeroizing::new(random_bytes(20)?), TotpParams::default())
            .map_err(|e| BenchError::Setup(format!("bench token: {e}")))?;
        Ok(Token { key, last_step })
    }

    /// The secret in base32 (RFC 4648, no padding), as authenticator apps and GA files hold it.
    pub fn base32(&self) -> String {
        let bytes: [u8; 20] = self.key.secret().try_into().unwrap_or([0; 20]);
        totp_rs::Secret::new_stack(bytes).to_base32()
    }

    /// The next fresh step at `now`, if any: after `last_step`, and the current or next.
    pub fn fresh_step(&self, now: u64) -> Option<u64> {
        let current = now / PERIOD;
        let step = (self.last_step + 1).max(current);
        (step <= current + 1).then_some(step)
    }

    /// The code for `step`.
    pub fn code(&self, step: u64) -> String {
        self.key.code_for_step(step).as_str().to_owned()
    }
}

/// A bench account and its tokens.
#[derive(Debug)]
pub struct BenchUser {
    /// Its login name.
    pub name: String,
    /// Its tokens (mfad: two; GA: one secret file).
    pub tokens: Vec<Token>,
}

impl BenchUser {
    /// A fresh code of one of the user's tokens at `now`, consuming that step in our
    /// bookkeeping; `None` if every token already used both steps available now.
    pub fn fresh_code(&mut self, now: u64) -> Option<String> {
        for t in &mut self.tokens {
            if let Some(step) = t.fresh_step(now) {
                t.last_step = step;
                return Some(t.code(step));
            }
        }
        None
    }

    /// A 6-digit code that none of the user's tokens accepts anywhere near `now` (±3
    /// steps), derived from `seed`.
    pub fn wrong_code(&self, now: u64, seed: u64) -> String {
        let current = now / PERIOD;
        let valid: Vec<String> = self
            .tokens
            .iter()
            .flat_map(|t| (current.saturating_sub(3)..=current + 3).map(|s| t.code(s)))
            .collect();
        let mut x = seed | 1;
        loop {
            // xorshift64: cheap, deterministic, good enough to spread over 10^6 codes.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let candidate = format!("{:06}", x % 1_000_000);
            if !valid.contains(&candidate) {
                return candidate;
            }
        }
    }
}

/// Hands out fresh codes round-robin over a set of users (a plan, or one client thread).
#[derive(Debug, Default)]
pub struct Dealer {
    cursor: usize,
}

impl Dealer {
    /// A dealer starting at a random user, so that successive phases spread over all the
    /// users instead of draining the first ones.
    pub fn random() -> Dealer {
        let start = random_bytes(8)
            .ok()
            .and_then(|b| b.try_into().ok())
            .map_or(0, u64::from_le_bytes);
        Dealer {
            cursor: start as usize,
        }
    }

    /// The next user (index into `users`) with a fresh code at `now`, and the code; `None`
    /// when no user has one left until the next step.
    pub fn deal(&mut self, users: &mut [BenchUser], now: u64) -> Option<(usize, String)> {
        for _ in 0..users.len() {
            let i = self.cursor % users.len();
            self.cursor = self.cursor.wrapping_add(1);
            if let Some(code) = users[i].fresh_code(now) {
                return Some((i, code));
            }
        }
        None
    }

    /// The next user in turn, without drawing a code (for calls that send none).
    pub fn next_user<'u>(&mut self, users: &'u [BenchUser]) -> Option<&'u BenchUser> {
        let u = users.get(self.cursor % users.len().max(1))?;
        self.cursor = self.cursor.wrapping_add(1);
        Some(u)
    }
}

/// Checks our codes against `oathtool` (an independent implementation) for one random
/// token, at three instants: a wrong formula would otherwise show up as failed logins.
pub fn cross_check_with_oathtool() -> Result<()> {
    let token = Token::random(0)?;
    let secret = token.base32();
    for t in [59u64, 1_111_111_109, now()] {
        let out = Command::new("oathtool")
            .args(["--totp", "-d", "6", "-s", "30s", "-b", &secret])
            .arg("-N")
            .arg(format!("@{t}"))
            .output()
            .map_err(|e| BenchError::io("run oathtool (apt-get install oathtool)", e))?;
        let theirs = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let ours = token.code(t / PERIOD);
        if !out.status.success() || theirs != ours {
            return Err(BenchError::Invalid(format!(
                "TOTP mismatch at t={t}: oathtool says {theirs:?}, the bench computed {ours:?}"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(last_step: u64) -> BenchUser {
        BenchUser {
            name: "u".into(),
            tokens: vec![
                Token::random(last_step).unwrap(),
                Token::random(last_step).unwrap(),
            ],
        }
    }

    #[test]
    fn each_token_yields_the_current_then_the_next_step_then_nothing() {
        let now = 1_000 * PERIOD + 7;
        let t = Token::random(10).unwrap();
        assert_eq!(t.fresh_step(now), Some(1_000));
        let t = Token::random(1_000).unwrap();
        assert_eq!(t.fresh_step(now), Some(1_001));
        let t = Token::random(1_001).unwrap();
        assert_eq!(t.fresh_step(now), None);
        // One period later, one more.
        assert_eq!(t.fresh_step(now + PERIOD), Some(1_002));
    }

    #[test]
    fn a_user_with_two_tokens_gives_four_distinct_codes_per_period() {
        let now = 2_000 * PERIOD;
        let mut u = user(5);
        let codes: Vec<String> = std::iter::from_fn(|| u.fresh_code(now)).collect();
        assert_eq!(codes.len(), 4);
        // Steps only increase per token, so the same plan never replays.
        assert_eq!(u.tokens[0].last_step, 2_001);
        assert_eq!(u.tokens[1].last_step, 2_001);
        // The first code is token 0's code for the current step, as mfad would compute it.
        assert_eq!(codes[0], u.tokens[0].key.code_at(now).as_str());
    }

    #[test]
    fn wrong_codes_match_no_token_near_now() {
        let now = 3_000 * PERIOD;
        let u = user(0);
        for seed in 0..50 {
            let w = u.wrong_code(now, seed);
            assert_eq!(w.len(), 6);
            for t in &u.tokens {
                for s in 2_997..=3_003 {
                    assert_ne!(w, t.code(s));
                }
            }
        }
    }

    #[test]
    fn the_dealer_goes_round_robin_and_stops_when_all_are_used() {
        let now = 4_000 * PERIOD;
        let mut users = vec![user(0), user(0), user(0)];
        let mut d = Dealer::default();
        let order: Vec<usize> = (0..12)
            .map(|_| d.deal(&mut users, now).unwrap().0)
            .collect();
        assert_eq!(order, [0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2]);
        assert!(d.deal(&mut users, now).is_none());
        assert!(d.deal(&mut users, now + PERIOD).is_some());
    }

    #[test]
    fn base32_round_trips_through_mfa_core() {
        let t = Token::random(0).unwrap();
        let again = TotpKey::from_base32(&t.base32(), TotpParams::default()).unwrap();
        assert_eq!(again.secret(), t.key.secret());
    }

    #[test]
    fn our_codes_agree_with_oathtool() {
        cross_check_with_oathtool().unwrap();
    }
}
