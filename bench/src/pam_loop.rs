//! Logins through the real libpam: in one process (`mfa-bench-pam`), interleaved in
//! shuffled blocks so that drift (other work on the machine, caches, the clock step) hits
//! every contender alike.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::codes::{BenchUser, Dealer, random_bytes};
use crate::error::{BenchError, Result};

/// `PAM_SUCCESS`.
pub const PAM_SUCCESS: i32 = 0;
/// `PAM_AUTHINFO_UNAVAIL`: what pam_mfa returns when mfad cannot be reached in time.
pub const PAM_AUTHINFO_UNAVAIL: i32 = 9;

/// One PAM service under comparison and where its codes come from.
pub struct Contender<'a> {
    /// Short label for tables (`permit`, `GA`, `pam_mfa`).
    pub label: &'static str,
    /// The PAM service name.
    pub service: String,
    /// Users with fresh codes, or `None` for a module that asks nothing (then
    /// `fixed_user` logs in every time).
    pub users: Option<&'a mut [BenchUser]>,
    /// The user when `users` is `None`.
    pub fixed_user: String,
    dealer: Dealer,
}

impl<'a> Contender<'a> {
    /// A contender drawing fresh codes from `users`.
    pub fn with_codes(label: &'static str, service: &str, users: &'a mut [BenchUser]) -> Self {
        Contender {
            label,
            service: service.to_owned(),
            users: Some(users),
            fixed_user: String::new(),
            dealer: Dealer::random(),
        }
    }

    /// A contender that asks for nothing (pam_permit), logging in `user`.
    pub fn without_codes(label: &'static str, service: &str, user: &str) -> Self {
        Contender {
            label,
            service: service.to_owned(),
            users: None,
            fixed_user: user.to_owned(),
            dealer: Dealer::random(),
        }
    }

    /// How many prompts one login must show.
    pub fn prompts(&self) -> u32 {
        u32::from(self.users.is_some())
    }

    /// The next login of this contender at `now`.
    pub fn next_login(&mut self, now: u64) -> Result<Login> {
        match self.users.as_deref_mut() {
            None => Ok(Login {
                service: self.service.clone(),
                user: self.fixed_user.clone(),
                code: None,
            }),
            Some(users) => {
                let (i, code) = self.dealer.deal(users, now).ok_or_else(|| {
                    BenchError::Setup(format!(
                        "{}: no fresh code left for {} users; lower the iteration count",
                        self.label,
                        users.len()
                    ))
                })?;
                Ok(Login {
                    service: self.service.clone(),
                    user: users[i].name.clone(),
                    code: Some(code),
                })
            }
        }
    }
}

/// One planned login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    /// PAM service.
    pub service: String,
    /// PAM user.
    pub user: String,
    /// The answer to every prompt.
    pub code: Option<String>,
}

/// What one login did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginResult {
    /// The PAM result (1000 + rc if pam_start itself failed).
    pub rc: i32,
    /// `pam_start_confdir` to the return of `pam_end` (or the whole process, for pamtester).
    pub elapsed: Duration,
    /// Prompts shown.
    pub prompts: u32,
    /// Threads of the PAM application right after `pam_end` (0 when not known).
    pub threads: u64,
}

/// A random order of `rounds` rounds, each running every one of `contenders` contenders
/// for a block of `block` logins, in a shuffled order per round.
pub fn interleave(contenders: usize, rounds: usize, block: usize) -> Result<Vec<usize>> {
    let seed = random_bytes(8)?;
    let mut x = u64::from_le_bytes(seed.try_into().unwrap_or([7; 8])) | 1;
    let mut order = Vec::with_capacity(contenders * rounds * block);
    for _ in 0..rounds {
        let mut round: Vec<usize> = (0..contenders).collect();
        // Fisher-Yates with xorshift64.
        for i in (1..round.len()).rev() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            round.swap(i, (x % (i as u64 + 1)) as usize);
        }
        for c in round {
            order.extend(std::iter::repeat_n(c, block));
        }
    }
    Ok(order)
}

/// The logins of `order` (indices into `contenders`), codes drawn at `now`.
pub fn plan(order: &[usize], contenders: &mut [Contender<'_>], now: u64) -> Result<Vec<Login>> {
    order
        .iter()
        .map(|&c| contenders[c].next_login(now))
        .collect()
}

/// The output of one `mfa-bench-pam` run.
#[derive(Debug, Clone)]
pub struct LoopRun {
    /// Threads of the process before the first `pam_start`.
    pub baseline_threads: u64,
    /// One result per planned login, in order.
    pub results: Vec<LoginResult>,
}

/// Runs `logins` in one `mfa-bench-pam` process with the stacks of `confdir`.
pub fn run(binary: &Path, confdir: &Path, work: &Path, logins: &[Login]) -> Result<LoopRun> {
    let mut text = String::new();
    for l in logins {
        let _ = writeln!(
            text,
            "{} {} {}",
            l.service,
            l.user,
            l.code.as_deref().unwrap_or("-")
        );
    }
    let plan_path = work.join("plan.txt");
    std::fs::write(&plan_path, text).map_err(|e| BenchError::path("write", &plan_path, e))?;
    let out = Command::new(binary)
        .arg(confdir)
        .arg(&plan_path)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| BenchError::path("run", binary, e))?;
    if !out.status.success() {
        return Err(BenchError::Invalid(format!(
            "{} failed ({}): {}",
            binary.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    parse_output(&String::from_utf8_lossy(&out.stdout), logins.len())
}

fn field<T: std::str::FromStr>(line: &str, key: &str) -> Option<T> {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
}

/// Parses `mfa-bench-pam`'s output, expecting `expected` results.
pub fn parse_output(stdout: &str, expected: usize) -> Result<LoopRun> {
    let mut baseline = None;
    let mut results = Vec::with_capacity(expected);
    for line in stdout.lines() {
        if let Some(rest) = line.strip_prefix("BASELINE ") {
            baseline = field(rest, "threads");
        } else if let Some(rest) = line.strip_prefix("RESULT ") {
            let (Some(rc), Some(ns), Some(prompts), Some(threads)) = (
                field(rest, "rc"),
                field::<u64>(rest, "ns"),
                field(rest, "prompts"),
                field(rest, "threads"),
            ) else {
                return Err(BenchError::Invalid(format!(
                    "bad mfa-bench-pam line {line:?}"
                )));
            };
            results.push(LoginResult {
                rc,
                elapsed: Duration::from_nanos(ns),
                prompts,
                threads,
            });
        }
    }
    match baseline {
        Some(baseline_threads) if results.len() == expected => Ok(LoopRun {
            baseline_threads,
            results,
        }),
        _ => Err(BenchError::Invalid(format!(
            "mfa-bench-pam reported {} of {expected} logins",
            results.len()
        ))),
    }
}

/// Checks that every login of `order` returned `want` with the prompts its contender shows;
/// one that did not makes the whole run meaningless.
pub fn check_all(
    order: &[usize],
    logins: &[Login],
    results: &[LoginResult],
    contenders: &[Contender<'_>],
    want: i32,
) -> Result<()> {
    for (k, ((c, l), r)) in order.iter().zip(logins).zip(results).enumerate() {
        let expect_prompts = contenders[*c].prompts();
        if r.rc != want || r.prompts != expect_prompts {
            return Err(BenchError::Invalid(format!(
                "login {k} ({} as {}) returned {} with {} prompt(s); expected {want} with {expect_prompts}",
                l.service, l.user, r.rc, r.prompts
            )));
        }
    }
    Ok(())
}

/// The samples of contender `c`, skipping the first `skip` of them (warm-up).
pub fn samples_of(
    order: &[usize],
    results: &[LoginResult],
    c: usize,
    skip: usize,
) -> Vec<Duration> {
    order
        .iter()
        .zip(results)
        .filter(|(o, _)| **o == c)
        .skip(skip)
        .map(|(_, r)| r.elapsed)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_round_runs_every_contender_once_in_blocks() {
        let order = interleave(3, 20, 4).unwrap();
        assert_eq!(order.len(), 3 * 20 * 4);
        for round in order.chunks(12) {
            let mut firsts: Vec<usize> = round.chunks(4).map(|b| b[0]).collect();
            for b in round.chunks(4) {
                assert!(b.iter().all(|x| *x == b[0]), "{b:?}");
            }
            firsts.sort_unstable();
            assert_eq!(firsts, [0, 1, 2]);
        }
        // Shuffled: over 20 rounds not every round starts with the same contender.
        let starts: std::collections::BTreeSet<usize> = order.chunks(12).map(|r| r[0]).collect();
        assert!(starts.len() > 1);
    }

    #[test]
    fn output_lines_are_parsed_and_counted() {
        let out = "BASELINE threads=1\nRESULT rc=0 ns=1500 prompts=1 threads=1\nRESULT rc=9 ns=20 prompts=0 threads=2\n";
        let run = parse_output(out, 2).unwrap();
        assert_eq!(run.baseline_threads, 1);
        assert_eq!(
            run.results[1],
            LoginResult {
                rc: 9,
                elapsed: Duration::from_nanos(20),
                prompts: 0,
                threads: 2
            }
        );
        assert!(parse_output(out, 3).is_err());
        assert!(parse_output("RESULT rc=0 ns=1 prompts=0 threads=1\n", 1).is_err());
    }

    #[test]
    fn a_failed_login_or_a_missing_prompt_is_reported() {
        let mut users = crate::seed::population(2, 1, 1_000_000).unwrap();
        let contenders = [
            Contender::without_codes("permit", "p", "u"),
            Contender::with_codes("GA", "g", &mut users),
        ];
        let order = [0, 1];
        let logins = vec![
            Login {
                service: "p".into(),
                user: "u".into(),
                code: None,
            },
            Login {
                service: "g".into(),
                user: "x".into(),
                code: Some("1".into()),
            },
        ];
        let ok = LoginResult {
            rc: 0,
            elapsed: Duration::ZERO,
            prompts: 0,
            threads: 1,
        };
        let prompted = LoginResult { prompts: 1, ..ok };
        assert!(check_all(&order, &logins, &[ok, prompted], &contenders, 0).is_ok());
        let err = check_all(&order, &logins, &[ok, ok], &contenders, 0).unwrap_err();
        assert!(err.to_string().contains("login 1 (g as x)"), "{err}");
        let failed = LoginResult { rc: 7, ..prompted };
        assert!(check_all(&order, &logins, &[ok, failed], &contenders, 0).is_err());
    }
}
