//! TOTP tokens whose codes come from `oathtool`, an implementation independent of ours.

use std::io::Read;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Unix time now, in seconds.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// Sleeps, if needed, until at least `min_left` seconds remain in the current step of
/// `period`, so a sequence that relies on "the current step" does not straddle a boundary.
pub fn wait_for_fresh_step(period: u64, min_left: u64) {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64();
    let into = t % period as f64;
    let left = period as f64 - into;
    if left < min_left as f64 {
        std::thread::sleep(Duration::from_secs_f64(left + 0.2));
    }
}

fn random_bytes(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut v))
        .expect("read /dev/urandom");
    v
}

/// RFC 4648 base32, upper case, without padding (callers pass multiples of 5 bytes).
fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let (mut buf, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buf = (buf << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            out.push(ALPHABET[((buf >> (bits - 5)) & 31) as usize] as char);
            bits -= 5;
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buf << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// A TOTP token as the tests know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Totp {
    /// Base32 secret.
    pub secret: String,
    /// `sha1`, `sha256` or `sha512`.
    pub algorithm: String,
    /// 6 or 8.
    pub digits: u32,
    /// 30 or 60 seconds.
    pub period: u64,
}

impl Totp {
    /// A fresh random token (20, 35 or 60 byte secret for SHA-1/256/512).
    pub fn random(algorithm: &str, digits: u32, period: u64) -> Self {
        let len = match algorithm {
            "sha256" => 35,
            "sha512" => 60,
            _ => 20,
        };
        Totp {
            secret: base32(&random_bytes(len)),
            algorithm: algorithm.into(),
            digits,
            period,
        }
    }

    /// A fresh SHA-1, 6 digit, 30 s token (the default kind).
    pub fn sha1() -> Self {
        Self::random("sha1", 6, 30)
    }

    /// A token with an explicit secret and default parameters.
    pub fn with_secret(secret: &str) -> Self {
        Totp {
            secret: secret.into(),
            algorithm: "sha1".into(),
            digits: 6,
            period: 30,
        }
    }

    /// The time step containing `unix`.
    pub fn step_of(&self, unix: u64) -> u64 {
        unix / self.period
    }

    /// The code for time `unix`, computed by oathtool.
    pub fn code_at(&self, unix: u64) -> String {
        let out = Command::new("oathtool")
            .arg(format!("--totp={}", self.algorithm))
            .arg("-d")
            .arg(self.digits.to_string())
            .arg("-s")
            .arg(format!("{}s", self.period))
            .arg("-N")
            .arg(format!("@{unix}"))
            .arg("-b")
            .arg(&self.secret)
            .output()
            .expect("run oathtool");
        assert!(
            out.status.success(),
            "oathtool failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let code = String::from_utf8(out.stdout)
            .expect("utf8")
            .trim()
            .to_string();
        assert_eq!(code.len(), self.digits as usize, "oathtool code {code:?}");
        code
    }

    /// The code of time step `step`.
    pub fn code_for_step(&self, step: u64) -> String {
        self.code_at(step * self.period)
    }

    /// The code of the current step.
    pub fn current_code(&self) -> String {
        self.code_at(now())
    }

    /// The code of the previous step (for enrolling, so the current one stays unused).
    pub fn previous_code(&self) -> String {
        self.code_at(now() - self.period)
    }

    /// A code of the right length that is not valid in any step from now−2 to now+2, so it
    /// is wrong whatever window (≤ 2) the daemon uses, even across a step boundary.
    pub fn wrong_code(&self) -> String {
        let step = self.step_of(now());
        let valid: Vec<String> = (step - 2..=step + 2)
            .map(|s| self.code_for_step(s))
            .collect();
        loop {
            let code: String = random_bytes(self.digits as usize)
                .iter()
                .map(|b| char::from(b'0' + b % 10))
                .collect();
            if !valid.contains(&code) {
                return code;
            }
        }
    }

    /// The `mfactl enroll totp` options describing this token (without `--code`).
    pub fn mfactl_options(&self) -> Vec<String> {
        vec![
            "--secret".into(),
            self.secret.clone(),
            "--digits".into(),
            self.digits.to_string(),
            "--algorithm".into(),
            self.algorithm.clone(),
            "--period".into(),
            self.period.to_string(),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_matches_rfc4648_vectors() {
        assert_eq!(base32(b"fooba"), "MZXW6YTB");
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(
            base32(b"12345678901234567890"),
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
        );
    }

    #[test]
    fn oathtool_matches_rfc6238_vector() {
        // RFC 6238 appendix B, SHA-1, T = 59 → 94287082 (8 digits).
        let t = Totp {
            digits: 8,
            ..Totp::with_secret("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ")
        };
        assert_eq!(t.code_at(59), "94287082");
    }
}
