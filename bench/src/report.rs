//! The results: one structure (written as JSON), a printed table, and the verdict against
//! each target of the issue.

use std::fmt::Write as _;

use serde::Serialize;

use crate::busbench::{Op, Throughput};
use crate::failclosed::Scenario;
use crate::leak::LeakResult;
use crate::procfs::{Status, mib};
use crate::stats::{Summary, ratio};

/// The population and the machine.
#[derive(Debug, Clone, Serialize)]
pub struct Setup {
    /// Bench accounts.
    pub users: usize,
    /// mfad tokens.
    pub tokens: usize,
    /// Accounts with a GA secret file.
    pub ga_users: usize,
    /// Time to write the 20k tokens with mfad's store (one transaction each, on a tmpfs).
    pub seed_seconds: f64,
    /// Database size after seeding.
    pub db_bytes: u64,
    /// `/proc/loadavg` before the run.
    pub load_before: String,
    /// `/proc/loadavg` after the run.
    pub load_after: String,
    /// CPUs available.
    pub cores: usize,
}

/// pam_permit, GA and pam_mfa side by side.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// pam_permit: the floor (libpam, the stack, the application).
    pub permit: Summary,
    /// pam_google_authenticator.
    pub ga: Summary,
    /// pam_mfa.
    pub mfa: Summary,
    /// Median pam_mfa / median GA.
    pub ratio: f64,
    /// (median pam_mfa − median permit) / (median GA − median permit).
    pub added_ratio: f64,
}

impl Comparison {
    /// Computes the ratios.
    pub fn new(permit: Summary, ga: Summary, mfa: Summary) -> Comparison {
        Comparison {
            ratio: ratio(mfa.p50_us, ga.p50_us),
            added_ratio: ratio(mfa.p50_us - permit.p50_us, ga.p50_us - permit.p50_us),
            permit,
            ga,
            mfa,
        }
    }
}

/// mfad over the bus.
#[derive(Debug, Clone, Serialize)]
pub struct BusReport {
    /// `Peer.Ping` to mfad, one client.
    pub ping: Summary,
    /// `Begin` alone, one client.
    pub begin: Summary,
    /// `Begin` + `Answer`, one client on one connection.
    pub verify: Summary,
    /// A new connection per login, as the module does.
    pub verify_new_connection: Summary,
    /// Calls per second at 1, 16 and 64 clients.
    pub throughput: Vec<Throughput>,
    /// getpwnam of a bench account (10k accounts in /etc/passwd), in the bench process.
    pub nss_lookup: Summary,
    /// fdatasync of a 4 KiB write next to the database.
    pub disk_sync: Summary,
}

impl BusReport {
    /// The throughput of `op` at `clients`.
    pub fn rate(&self, op: Op, clients: usize) -> Option<&Throughput> {
        self.throughput
            .iter()
            .find(|t| t.op == op && t.clients == clients)
    }
}

/// Memory, start-up, size, threads.
#[derive(Debug, Clone, Serialize)]
pub struct Footprint {
    /// mfad after start, before any call.
    pub rss_idle: Status,
    /// Largest values sampled during the throughput runs.
    pub rss_load: Status,
    /// One second after the load and the fail-closed phase.
    pub rss_after_load: Status,
    /// Spawn to "started" (serving), five starts on the seeded database, ms.
    pub cold_start_ms: Vec<f64>,
    /// The stripped release-small module.
    pub module_bytes: u64,
    /// pam_google_authenticator.so, for scale.
    pub ga_module_bytes: u64,
    /// Threads of the PAM application before the first pam_start.
    pub threads_baseline: u64,
    /// Most threads seen right after any pam_end.
    pub threads_after_pam_end: u64,
    /// The long run.
    pub leak: LeakResult,
}

/// Everything one run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Population and machine.
    pub setup: Setup,
    /// In-process logins.
    pub in_process: Comparison,
    /// pamtester logins.
    pub process_level: Comparison,
    /// mfad over the bus.
    pub bus: BusReport,
    /// Footprint.
    pub footprint: Footprint,
    /// Time to a denial when mfad cannot answer.
    pub fail_closed: Vec<Scenario>,
    /// GA secret files whose recorded steps were checked after the PAM phases.
    pub ga_state_files_checked: usize,
    /// `login result=allow` lines mfad sent to /dev/log.
    pub mfad_allow_lines: u64,
    /// Logins the bench saw accepted by mfad.
    pub expected_allow_lines: u64,
}

/// One target of the issue and how this run did.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// What is measured.
    pub metric: String,
    /// The measured value, formatted.
    pub value: String,
    /// The target, formatted.
    pub target: String,
    /// Met or not.
    pub pass: bool,
}

fn verdict(metric: &str, value: String, target: &str, pass: bool) -> Verdict {
    Verdict {
        metric: metric.into(),
        value,
        target: target.into(),
        pass,
    }
}

/// Slack allowed after a hung scenario's timeout (the connection set-up before the hung
/// call, scheduling), ms.
pub const HUNG_SLACK_MS: f64 = 50.0;

/// Growth per million calls below which memory counts as flat, KiB.
pub const FLAT_KIB_PER_MILLION: f64 = 1024.0;

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    crate::stats::percentile(&s, 50.0)
}

impl Report {
    /// Every target of the issue, checked.
    pub fn verdicts(&self) -> Vec<Verdict> {
        let fp = &self.footprint;
        let mut v = vec![
            verdict(
                "in-process added cost, (pam_mfa − permit) / (GA − permit), medians",
                format!("{:.2}", self.in_process.added_ratio),
                "≤ 1.00",
                self.in_process.added_ratio <= 1.0,
            ),
            verdict(
                "process level (pamtester), pam_mfa / GA, medians",
                format!("{:.2}", self.process_level.ratio),
                "≤ 1.10",
                self.process_level.ratio <= 1.1,
            ),
            verdict(
                "Verify over the bus, p50 (1 client)",
                format!("{:.3} ms", self.bus.verify.p50_ms()),
                "≤ 0.4 ms",
                self.bus.verify.p50_ms() <= 0.4,
            ),
            verdict(
                "Verify over the bus, p99 (1 client)",
                format!("{:.3} ms", self.bus.verify.p99_ms()),
                "≤ 2 ms",
                self.bus.verify.p99_ms() <= 2.0,
            ),
        ];
        let rate64 = self.bus.rate(Op::Verify, 64).map_or(0.0, |t| t.per_second);
        v.push(verdict(
            "Verify throughput, 64 clients",
            format!("{rate64:.0}/s"),
            "≥ 5000/s",
            rate64 >= 5000.0,
        ));
        v.push(verdict(
            "mfad RSS idle",
            format!("{:.1} MiB", mib(fp.rss_idle.rss_kib)),
            "≤ 15 MiB",
            mib(fp.rss_idle.rss_kib) <= 15.0,
        ));
        let load = fp.rss_load.rss_kib.max(fp.leak.end.rss_kib);
        v.push(verdict(
            "mfad RSS under load (max sampled)",
            format!("{:.1} MiB", mib(load)),
            "≤ 30 MiB",
            mib(load) <= 30.0,
        ));
        let leak = &fp.leak;
        v.push(verdict(
            &format!(
                "mfad RSS growth per 1M verifications ({} run{})",
                leak.calls,
                if leak.calls < 1_000_000 {
                    ", extrapolated"
                } else {
                    ""
                }
            ),
            format!("{:+.0} KiB", leak.growth_kib_per_million),
            "flat (< 1 MiB)",
            leak.growth_kib_per_million < FLAT_KIB_PER_MILLION,
        ));
        let cold = median(&fp.cold_start_ms);
        v.push(verdict(
            &format!(
                "cold start to serving, {} users / {} tokens (median of {})",
                self.setup.users,
                self.setup.tokens,
                fp.cold_start_ms.len()
            ),
            format!("{cold:.1} ms"),
            "≤ 100 ms",
            cold <= 100.0,
        ));
        v.push(verdict(
            "module size, stripped (release-small)",
            format!("{:.2} MB", fp.module_bytes as f64 / 1e6),
            "≤ 2 MB",
            fp.module_bytes <= 2_000_000,
        ));
        v.push(verdict(
            "threads left in the PAM application after pam_end",
            format!(
                "{}",
                fp.threads_after_pam_end.saturating_sub(fp.threads_baseline)
            ),
            "0",
            fp.threads_after_pam_end <= fp.threads_baseline,
        ));
        for s in &self.fail_closed {
            let (target, pass) = if s.timeout_ms >= 10_000 {
                ("≤ 50 ms".to_owned(), s.denial.max_us <= 50_000.0)
            } else {
                (
                    format!("≤ timeout {} ms (+{HUNG_SLACK_MS:.0})", s.timeout_ms),
                    s.denial.max_us <= (s.timeout_ms as f64 + HUNG_SLACK_MS) * 1000.0,
                )
            };
            v.push(verdict(
                &format!("denial when {} (max of {})", s.label, s.denial.n),
                format!("{:.1} ms", s.denial.max_us / 1000.0),
                &target,
                pass,
            ));
        }
        v
    }

    /// The table printed at the end of `make bench`.
    pub fn table(&self) -> String {
        let mut o = String::new();
        let s = &self.setup;
        let _ = writeln!(
            o,
            "\npam_mfa benchmark: {} cores, load {} (before) / {} (after)",
            s.cores, s.load_before, s.load_after
        );
        let _ = writeln!(
            o,
            "{} users, {} mfad tokens (seeded in {:.1} s, database {:.1} MB), {} GA secret files",
            s.users,
            s.tokens,
            s.seed_seconds,
            s.db_bytes as f64 / 1e6,
            s.ga_users
        );
        let _ = writeln!(
            o,
            "Absolute times drift on a shared machine; the ratios come from interleaved runs.\n"
        );
        comparison(
            &mut o,
            "1. In-process, real libpam (pam_start_confdir … pam_end per login)",
            &self.in_process,
        );
        comparison(
            &mut o,
            "2. Process level (one pamtester process per login)",
            &self.process_level,
        );
        let b = &self.bus;
        let _ = writeln!(
            o,
            "3. mfad over a private dbus-daemon, 1 client        p50 ms   p99 ms"
        );
        for (name, sum) in [
            ("Peer.Ping to mfad (bus floor)", &b.ping),
            ("Begin", &b.begin),
            ("Verify = Begin + Answer", &b.verify),
            (
                "Verify on a new connection (module's way)",
                &b.verify_new_connection,
            ),
            ("getpwnam of a bench user (NSS files, 10k)", &b.nss_lookup),
            ("fdatasync of 4 KiB next to the database", &b.disk_sync),
        ] {
            let _ = writeln!(
                o,
                "   {name:<46} {:>7.3}  {:>7.3}",
                sum.p50_ms(),
                sum.p99_ms()
            );
        }
        let _ = writeln!(
            o,
            "   Verify / bus floor (medians): {:.1}; Answer alone ≈ Verify − Begin = {:.3} ms",
            ratio(b.verify.p50_us, b.ping.p50_us),
            (b.verify.p50_us - b.begin.p50_us) / 1000.0
        );
        let _ = writeln!(
            o,
            "   throughput        clients   calls/s   p50 ms   p99 ms"
        );
        for t in &b.throughput {
            let _ = writeln!(
                o,
                "   {:<17} {:>7} {:>9.0} {:>8.3} {:>8.3}{}",
                format!("{:?}", t.op),
                t.clients,
                t.per_second,
                t.latency.p50_ms(),
                t.latency.p99_ms(),
                if t.exhausted > 0 {
                    "  (some clients ran out of fresh codes)"
                } else {
                    ""
                }
            );
        }
        let f = &self.footprint;
        let _ = writeln!(o, "\n4. Footprint");
        let _ = writeln!(
            o,
            "   mfad RSS: idle {:.1} MiB, under load {:.1} MiB (peak {:.1}), after load {:.1} MiB; {} threads under load",
            mib(f.rss_idle.rss_kib),
            mib(f.rss_load.rss_kib),
            mib(f.rss_load.hwm_kib),
            mib(f.rss_after_load.rss_kib),
            f.rss_load.threads
        );
        let l = &f.leak;
        let _ = writeln!(
            o,
            "   long run: {} verifications ({} accepted, {} wrong codes each in between) in {:.0} s with {} clients: RSS {:.1} → {:.1} MiB, fitted growth {:+.0} KiB per 1M{}",
            l.calls,
            l.accepted,
            l.plan.failures_per_success,
            l.seconds,
            l.plan.clients,
            mib(l.start.rss_kib),
            mib(l.end.rss_kib),
            l.growth_kib_per_million,
            if l.calls < 1_000_000 {
                " (extrapolated from this run)"
            } else {
                ""
            }
        );
        let _ = writeln!(
            o,
            "   cold start (spawn → serving) ms: {}",
            f.cold_start_ms
                .iter()
                .map(|c| format!("{c:.1}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let _ = writeln!(
            o,
            "   module {:.2} MB stripped (pam_google_authenticator.so: {:.2} MB); PAM application threads: {} before, at most {} after pam_end",
            f.module_bytes as f64 / 1e6,
            f.ga_module_bytes as f64 / 1e6,
            f.threads_baseline,
            f.threads_after_pam_end
        );
        let _ = writeln!(
            o,
            "\n5. Fail closed: time to PAM_AUTHINFO_UNAVAIL      p50 ms   max ms"
        );
        for sc in &self.fail_closed {
            let _ = writeln!(
                o,
                "   {:<46} {:>7.1}  {:>7.1}",
                format!("{} (timeout={})", sc.label, sc.timeout_ms),
                sc.denial.p50_ms(),
                sc.denial.max_us / 1000.0
            );
        }
        let _ = writeln!(
            o,
            "\nState commits: mfad logged {} accepted logins, the bench saw {} accepted; all {} GA \
             secret files used hold the step of their last login.",
            self.mfad_allow_lines, self.expected_allow_lines, self.ga_state_files_checked
        );
        if self.mfad_allow_lines != self.expected_allow_lines {
            let _ = writeln!(
                o,
                "MISMATCH: mfad's audit and the bench disagree on accepted logins; distrust this run."
            );
        }
        let _ = writeln!(o, "\nTargets");
        for v in self.verdicts() {
            let _ = writeln!(
                o,
                "   {}  {:<72} {:>12}   target {}",
                if v.pass { "PASS" } else { "FAIL" },
                v.metric,
                v.value,
                v.target
            );
        }
        o
    }
}

fn comparison(o: &mut String, title: &str, c: &Comparison) {
    let _ = writeln!(o, "{title}, {} logins each", c.mfa.n);
    let _ = writeln!(o, "                          p50 ms   p99 ms");
    for (name, s) in [
        ("pam_permit", &c.permit),
        ("pam_google_authenticator", &c.ga),
        ("pam_mfa", &c.mfa),
    ] {
        let _ = writeln!(o, "   {name:<24} {:>7.3}  {:>7.3}", s.p50_ms(), s.p99_ms());
    }
    let _ = writeln!(
        o,
        "   pam_mfa / GA: {:.2} (p99 {:.2});  added cost (pam_mfa − permit) / (GA − permit): {:.2}\n",
        c.ratio,
        ratio(c.mfa.p99_us, c.ga.p99_us),
        c.added_ratio
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn summary(us: u64) -> Summary {
        Summary::of(&[Duration::from_micros(us)])
    }

    #[test]
    fn added_cost_subtracts_the_floor_from_both() {
        let c = Comparison::new(summary(100), summary(600), summary(1100));
        assert!((c.ratio - 1100.0 / 600.0).abs() < 1e-9);
        assert!((c.added_ratio - 2.0).abs() < 1e-9);
    }
}
