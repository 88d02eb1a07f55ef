//! TOTP (RFC 6238) verification with a replay watermark, on top of totp-rs.
//!
//! totp-rs computes the codes; this module adds what a server needs and the library does
//! not do: it checks every step of the window in constant time (no early exit), and accepts
//! a code only for a step strictly after the last accepted one, so a code is good once.

use subtle::ConstantTimeEq;
use thiserror::Error;
use zeroize::Zeroizing;

use mfa_proto::TotpAlgorithm;

use crate::code::Code;

/// Shortest secret accepted: 128 bits (RFC 4226 R6). New secrets are 160 bits.
pub const MIN_SECRET_BYTES: usize = 16;
/// Longest secret accepted (SHA-512 block size).
pub const MAX_SECRET_BYTES: usize = 128;
/// Size of a newly generated secret: 160 bits, as RFC 4226 recommends.
pub const NEW_SECRET_BYTES: usize = 20;
/// Widest window allowed (±2 steps, security.md).
pub const MAX_WINDOW: u32 = 2;

/// Why TOTP parameters or a secret are unacceptable.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum TotpError {
    /// Not 6 or 8 digits.
    #[error("digits must be 6 or 8, not {0}")]
    Digits(u32),
    /// Not 30 or 60 seconds.
    #[error("period must be 30 or 60 seconds, not {0}")]
    Period(u32),
    /// Secret shorter than 128 bits or absurdly long.
    #[error("the secret must be {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes (got {0})")]
    SecretLength(usize),
    /// Not valid base32.
    #[error("the secret is not valid base32")]
    SecretEncoding,
    /// Issuer or account name cannot go into an otpauth URI.
    #[error("cannot build the otpauth URI: {0}")]
    Uri(String),
}

/// Algorithm, digits and period of a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TotpParams {
    /// HMAC algorithm.
    pub algorithm: TotpAlgorithm,
    /// 6 or 8.
    pub digits: u32,
    /// 30 or 60 seconds.
    pub period: u32,
}

impl Default for TotpParams {
    fn default() -> Self {
        TotpParams {
            algorithm: TotpAlgorithm::Sha1,
            digits: 6,
            period: 30,
        }
    }
}

impl TotpParams {
    /// Checks the parameters against what we accept.
    pub fn validate(&self) -> Result<(), TotpError> {
        if self.digits != 6 && self.digits != 8 {
            return Err(TotpError::Digits(self.digits));
        }
        if self.period != 30 && self.period != 60 {
            return Err(TotpError::Period(self.period));
        }
        Ok(())
    }
}

/// The outcome of checking one code against one token.
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    /// Valid for `step`, which is after the watermark: record `step` and let the user in.
    Accepted {
        /// The time step the code belongs to; becomes the new watermark.
        step: u64,
    },
    /// Valid, but for a step already used (or older): a replay.
    Replayed,
    /// Not a valid code for any step in the window.
    Rejected,
}

/// A TOTP secret with its parameters. The secret is wiped from memory on drop.
pub struct TotpKey {
    secret: Zeroizing<Vec<u8>>,
    params: TotpParams,
}

impl std::fmt::Debug for TotpKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpKey")
            .field("secret", &"<redacted>")
            .field("params", &self.params)
            .finish()
    }
}

impl TotpKey {
    /// A key from raw secret bytes.
    pub fn new(secret: Zeroizing<Vec<u8>>, params: TotpParams) -> Result<Self, TotpError> {
        params.validate()?;
        if !(MIN_SECRET_BYTES..=MAX_SECRET_BYTES).contains(&secret.len()) {
            return Err(TotpError::SecretLength(secret.len()));
        }
        Ok(TotpKey { secret, params })
    }

    /// A key from a base32 secret as authenticator apps show it (case, spaces and padding
    /// are tolerated).
    pub fn from_base32(encoded: &str, params: TotpParams) -> Result<Self, TotpError> {
        let cleaned: Zeroizing<String> = Zeroizing::new(
            encoded
                .chars()
                .filter(|c| !c.is_ascii_whitespace() && *c != '-' && *c != '=')
                .map(|c| c.to_ascii_uppercase())
                .collect(),
        );
        if cleaned.is_empty() || cleaned.len() > MAX_SECRET_BYTES * 8 / 5 + 1 {
            return Err(TotpError::SecretEncoding);
        }
        let secret = totp_rs::Secret::try_from_base32(cleaned.as_str())
            .map_err(|_| TotpError::SecretEncoding)?;
        Self::new(Zeroizing::new(secret.as_bytes().to_vec()), params)
    }

    /// The raw secret, for sealing into storage. Never log or send it.
    pub fn secret(&self) -> &[u8] {
        &self.secret
    }

    /// The parameters.
    pub fn params(&self) -> TotpParams {
        self.params
    }

    fn totp(&self) -> totp_rs::Totp {
        let algorithm = match self.params.algorithm {
            TotpAlgorithm::Sha1 => totp_rs::Algorithm::SHA1,
            TotpAlgorithm::Sha256 => totp_rs::Algorithm::SHA256,
            TotpAlgorithm::Sha512 => totp_rs::Algorithm::SHA512,
        };
        // Parameters were validated in `new`, so the unchecked builder cannot produce a
        // Totp that panics (digits < 10, step > 0).
        totp_rs::Builder::new()
            .with_algorithm(algorithm)
            .with_digits(self.params.digits as u8)
            .with_step_duration(u64::from(self.params.period))
            .with_secret(self.secret.to_vec())
            .build_noncompliant()
    }

    /// The time step that `now` falls in.
    pub fn step_at(&self, now: u64) -> u64 {
        now / u64::from(self.params.period)
    }

    /// The code for time step `step`.
    pub fn code_for_step(&self, step: u64) -> Zeroizing<String> {
        let totp = self.totp();
        Zeroizing::new(
            totp.generate(step.saturating_mul(u64::from(self.params.period)))
                .to_string(),
        )
    }

    /// The code valid at `now`.
    pub fn code_at(&self, now: u64) -> Zeroizing<String> {
        self.code_for_step(self.step_at(now))
    }

    /// Checks `code` at `now` with ±`window` steps, accepting only steps after `last_step`.
    ///
    /// Every candidate step is computed and compared in constant time; the loop never
    /// exits early, so a right and a wrong code cost the same.
    pub fn verify(
        &self,
        code: &Code,
        now: u64,
        last_step: Option<u64>,
        window: u32,
    ) -> Verification {
        let window = u64::from(window.min(MAX_WINDOW));
        let current = self.step_at(now);
        let totp = self.totp();
        let period = u64::from(self.params.period);
        let length_ok = code.len() == self.params.digits as usize;
        let mut best_fresh: Option<u64> = None;
        let mut matched_old = false;
        for step in current.saturating_sub(window)..=current.saturating_add(window) {
            let candidate = Zeroizing::new(totp.generate(step.saturating_mul(period)).to_string());
            let same: bool = candidate.as_bytes().ct_eq(code.as_str().as_bytes()).into();
            if same && length_ok {
                if last_step.is_none_or(|last| step > last) {
                    best_fresh = Some(best_fresh.map_or(step, |b| b.max(step)));
                } else {
                    matched_old = true;
                }
            }
        }
        match (best_fresh, matched_old) {
            (Some(step), _) => Verification::Accepted { step },
            (None, true) => Verification::Replayed,
            (None, false) => Verification::Rejected,
        }
    }

    /// The `otpauth://totp/ISSUER:ACCOUNT?secret=…` URI for authenticator apps. It holds the
    /// secret: show it once, to the enrolling person only.
    pub fn otpauth_uri(&self, issuer: &str, account: &str) -> Result<Zeroizing<String>, TotpError> {
        let algorithm = match self.params.algorithm {
            TotpAlgorithm::Sha1 => totp_rs::Algorithm::SHA1,
            TotpAlgorithm::Sha256 => totp_rs::Algorithm::SHA256,
            TotpAlgorithm::Sha512 => totp_rs::Algorithm::SHA512,
        };
        let totp = totp_rs::Builder::new()
            .with_algorithm(algorithm)
            .with_digits(self.params.digits as u8)
            .with_step_duration(u64::from(self.params.period))
            .with_secret(self.secret.to_vec())
            .with_account_name(account)
            .with_issuer(Some(issuer))
            .build()
            .map_err(|e| TotpError::Uri(e.to_string()))?;
        totp.to_url()
            .map(Zeroizing::new)
            .map_err(|e| TotpError::Uri(e.to_string()))
    }
}

#[cfg(test)]
mod tests;
