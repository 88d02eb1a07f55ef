//! mfad's memory along a long run of verifications: a leak shows as RSS growing with the
//! number of calls once caches have filled.
//!
//! A run of a million *accepted* codes would need a million fresh (token, step) pairs: with
//! 20k tokens that is 50 periods of 30 s. So most verifications here use wrong codes, which
//! take the same path through mfad (Begin: NSS, policy, flow; Answer: the gate, every
//! token's window computed, a committed write, the audit line), and every user's streak of
//! failures ends with an accepted fresh code before the hard lock (100). This phase runs
//! mfad with `rate_limit.base_delay_secs = 0` so that those failures are never throttled
//! (a throttled Answer would skip the check). Clients reconnect now and then, so that
//! per-connection state (caller cache, flows) is exercised as module logins do.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::busbench::Client;
use crate::codes::{BenchUser, Dealer, PERIOD, now};
use crate::error::{BenchError, Result};
use crate::procfs::Status;
use crate::stats::slope;

/// The configuration of mfad in this phase (everything else default).
pub const LEAK_CONFIG: &str = "# make bench, leak phase: failures are counted but never throttled.\n\
[rate_limit]\nbase_delay_secs = 0\nmax_delay_secs = 0\n";

/// How the phase runs.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct LeakPlan {
    /// Verifications (Begin + Answer) to run.
    pub calls: u64,
    /// Concurrent clients.
    pub clients: usize,
    /// Wrong codes per accepted one, per user (below the hard lock of 100).
    pub failures_per_success: u64,
    /// A client opens a new connection after this many calls.
    pub reconnect_every: u64,
}

impl LeakPlan {
    /// A plan for `calls` verifications that needs about 15,000 fresh codes whatever `calls`.
    pub fn for_calls(calls: u64) -> LeakPlan {
        LeakPlan {
            calls,
            clients: 16,
            failures_per_success: (calls / 15_000).clamp(4, 98),
            reconnect_every: 200,
        }
    }
}

/// What the phase measured.
#[derive(Debug, Clone, Serialize)]
pub struct LeakResult {
    /// The plan.
    pub plan: LeakPlan,
    /// Verifications run (a few more than planned: clients finish their streak).
    pub calls: u64,
    /// Of which accepted.
    pub accepted: u64,
    /// Wall time.
    pub seconds: f64,
    /// mfad just before the first call.
    pub start: Status,
    /// mfad after the last call.
    pub end: Status,
    /// (calls so far, RSS KiB) every quarter second.
    pub samples: Vec<(u64, u64)>,
    /// RSS growth per million calls, from a least-squares fit over the second half of the
    /// run (the first half lets bounded caches fill: SQLite's page cache, the caller table),
    /// KiB.
    pub growth_kib_per_million: f64,
}

/// Runs `plan` against mfad (`pid`) on `address`, with `users` split among the clients.
pub fn run(address: &str, users: &mut [BenchUser], pid: u32, plan: LeakPlan) -> Result<LeakResult> {
    let start_status = Status::of(pid)?;
    let done = AtomicU64::new(0);
    let accepted = AtomicU64::new(0);
    let abort = AtomicBool::new(false);
    let per_client = users.len().div_ceil(plan.clients).max(1);
    let began = Instant::now();
    let mut samples = Vec::new();
    let outcome: Result<()> = thread::scope(|s| {
        let handles: Vec<_> = users
            .chunks_mut(per_client)
            .enumerate()
            .map(|(k, mine)| {
                let counters = Counters {
                    done: &done,
                    accepted: &accepted,
                    abort: &abort,
                };
                s.spawn(move || {
                    let r = client(address, mine, plan, k as u64, &counters);
                    if r.is_err() {
                        // One failed client ends the phase: its numbers would be wrong.
                        counters.abort.store(true, Ordering::Relaxed);
                    }
                    r
                })
            })
            .collect();
        while !handles.iter().all(|h| h.is_finished()) {
            if let Ok(st) = Status::of(pid) {
                samples.push((done.load(Ordering::Relaxed), st.rss_kib));
            }
            thread::sleep(Duration::from_millis(250));
        }
        handles.into_iter().try_for_each(|h| {
            h.join()
                .unwrap_or_else(|_| Err(BenchError::Invalid("a leak client panicked".into())))
        })
    });
    outcome?;
    let end = Status::of(pid)?;
    let calls = done.load(Ordering::Relaxed);
    samples.push((calls, end.rss_kib));
    let after_warmup: Vec<(f64, f64)> = samples
        .iter()
        .filter(|(c, _)| *c >= calls / 2)
        .map(|&(c, r)| (c as f64, r as f64))
        .collect();
    Ok(LeakResult {
        plan,
        calls,
        accepted: accepted.load(Ordering::Relaxed),
        seconds: began.elapsed().as_secs_f64(),
        start: start_status,
        end,
        samples,
        growth_kib_per_million: slope(&after_warmup) * 1e6,
    })
}

/// Shared progress of the clients.
struct Counters<'a> {
    done: &'a AtomicU64,
    accepted: &'a AtomicU64,
    abort: &'a AtomicBool,
}

fn client(
    address: &str,
    users: &mut [BenchUser],
    plan: LeakPlan,
    seed: u64,
    counters: &Counters<'_>,
) -> Result<()> {
    let Counters {
        done,
        accepted,
        abort,
    } = *counters;
    zbus::block_on(async {
        let mut conn = Client::connect(address).await?;
        let mut dealer = Dealer::random();
        let mut since_connect = 0u64;
        let mut wrong_seed = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        while done.load(Ordering::Relaxed) < plan.calls && !abort.load(Ordering::Relaxed) {
            let t = now();
            let Some((i, code)) = dealer.deal(users, t) else {
                // Every user of this client used both steps open now: wait for the next one.
                let left = PERIOD - t % PERIOD;
                thread::sleep(Duration::from_secs(left) + Duration::from_millis(100));
                continue;
            };
            for _ in 0..plan.failures_per_success {
                wrong_seed = wrong_seed.wrapping_add(0x2545_f491_4f6c_dd1d);
                let wrong = users[i].wrong_code(now(), wrong_seed);
                if conn.verify(&users[i].name, &wrong).await? {
                    return Err(BenchError::Invalid(format!(
                        "a wrong code for {} was accepted",
                        users[i].name
                    )));
                }
            }
            if !conn.verify(&users[i].name, &code).await? {
                return Err(BenchError::Invalid(format!(
                    "a fresh code for {} was refused after {} wrong ones",
                    users[i].name, plan.failures_per_success
                )));
            }
            accepted.fetch_add(1, Ordering::Relaxed);
            let n = plan.failures_per_success + 1;
            done.fetch_add(n, Ordering::Relaxed);
            since_connect += n;
            if since_connect >= plan.reconnect_every {
                conn.close().await;
                conn = Client::connect(address).await?;
                since_connect = 0;
            }
        }
        conn.close().await;
        Ok(())
    })
}
