//! One benchmark run, phase by phase (see the crate docs), producing a [`Report`].

use std::fs;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use crate::busbench::{self, Op, Throughput};
use crate::codes::{self, BenchUser, now};
use crate::error::{BenchError, Result};
use crate::failclosed::{self, Scenario};
use crate::leak::{self, LEAK_CONFIG, LeakPlan};
use crate::pam_loop::{self, Contender, PAM_SUCCESS};
use crate::pamtester;
use crate::report::{BusReport, Comparison, Footprint, Report, Setup};
use crate::seed::{self, account_name};
use crate::stack::{Bus, Mfad, MfadSpec, RssSampler, SyslogSink};
use crate::stats::Summary;
use crate::world::{self, Accounts};

/// What to run, and how much of it.
#[derive(Debug, Clone)]
pub struct Options {
    /// The cargo target directory (`target/`): `release/mfad`, `release/mfa-bench-pam`,
    /// `release-small/libpam_mfa.so`.
    pub target_dir: PathBuf,
    /// Bench accounts (each with two mfad tokens).
    pub users: usize,
    /// Accounts that also get a pam_google_authenticator secret.
    pub ga_users: usize,
    /// In-process logins per contender (after a few warm-up logins each).
    pub in_process_logins: usize,
    /// pamtester runs per contender.
    pub process_logins: usize,
    /// Single-client samples per bus call.
    pub bus_samples: usize,
    /// Seconds per throughput measurement.
    pub throughput_secs: f64,
    /// Verifications of the leak phase (`None`: a million if the measured throughput runs
    /// them within three minutes, else 100,000, extrapolated).
    pub leak_calls: Option<u64>,
}

impl Options {
    /// The defaults of `make bench`: a few minutes on 2 cores.
    pub fn new(target_dir: PathBuf) -> Options {
        Options {
            target_dir,
            users: 10_000,
            ga_users: 3_000,
            in_process_logins: 1_000,
            process_logins: 200,
            bus_samples: 1_000,
            throughput_secs: 3.0,
            leak_calls: None,
        }
    }
}

/// `(label, PAM service)` of every stack the run installs.
const PERMIT: &str = "bench-permit";
const GA: &str = "bench-ga";
const MFA: &str = "bench-mfa";
const MFA_NO_BUS: &str = "bench-mfa-nobus";
const MFA_NO_MFAD: &str = "bench-mfa-nomfad";
const MFA_HUNG: &str = "bench-mfa-hung";
const MFA_BUS_HUNG: &str = "bench-mfa-bushung";
/// The module's `timeout=` in the hung scenarios, ms.
pub const HUNG_TIMEOUT_MS: u64 = 1000;
/// Logins per contender run first and left out of the statistics (module loading, caches).
const WARMUP: usize = 5;
/// Group of the bench accounts.
const GROUP: (&str, u32) = ("mfabench", 700_000);
/// UID of the first bench account.
const FIRST_UID: u32 = 700_000;

fn progress(msg: &str) {
    eprintln!("==> {msg}");
}

fn require(path: &Path, hint: &str) -> Result<()> {
    if path.exists() {
        Ok(())
    } else {
        Err(BenchError::Setup(format!(
            "{} is missing: {hint}",
            path.display()
        )))
    }
}

/// Where libpam finds pam_google_authenticator.so.
fn ga_module() -> Result<PathBuf> {
    let mut dirs: Vec<PathBuf> = fs::read_dir("/usr/lib")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path().join("security"))
                .collect()
        })
        .unwrap_or_default();
    dirs.extend([
        PathBuf::from("/usr/lib/security"),
        PathBuf::from("/lib/security"),
    ]);
    dirs.into_iter()
        .map(|d| d.join("pam_google_authenticator.so"))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            BenchError::Setup(
                "pam_google_authenticator.so not found: apt-get install libpam-google-authenticator"
                    .into(),
            )
        })
}

fn file_size(p: &Path) -> Result<u64> {
    Ok(fs::metadata(p)
        .map_err(|e| BenchError::path("stat", p, e))?
        .len())
}

fn loadavg() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Runs everything. Must be called on the main thread of a process that is still single-
/// threaded: it enters a private mount namespace first ([`world::enter`]).
pub fn run(opts: &Options) -> Result<Report> {
    world::enter()?;
    let release = opts.target_dir.join("release");
    let mfad_bin = release.join("mfad");
    let loop_bin = release.join("mfa-bench-pam");
    let module = opts.target_dir.join("release-small").join("libpam_mfa.so");
    require(&mfad_bin, "cargo build --release -p mfad")?;
    require(&loop_bin, "cargo build --release -p mfa-bench")?;
    require(&module, "cargo build --profile release-small -p pam_mfa")?;
    let ga_so = ga_module()?;
    let policy =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../contrib/dbus/org.pam_mfa.Mfad.conf");
    require(&policy, "run make bench from the source tree")?;
    codes::cross_check_with_oathtool()?;
    let load_before = loadavg();

    let work = tempfile::Builder::new()
        .prefix("mfa-bench.")
        .tempdir()
        .map_err(|e| BenchError::io("create a temporary directory", e))?;
    let dir = work.path().to_path_buf();

    // ----- the population and the private world ---------------------------------------
    progress(&format!(
        "{} users with 2 tokens each, {} GA secrets",
        opts.users, opts.ga_users
    ));
    let t0 = now();
    let mut users = seed::population(opts.users, 2, t0)?;
    let mut ga_users = seed::population(opts.ga_users.min(opts.users), 1, t0)?;
    let names: Vec<String> = users.iter().map(|u| u.name.clone()).collect();
    world::private_accounts(
        &dir,
        &Accounts {
            names: &names,
            first_uid: FIRST_UID,
            group: GROUP,
        },
    )?;
    world::private_dev()?;
    let sink = SyslogSink::bind(Path::new("/dev/log"))?;
    seed::write_ga_secrets(&dir.join("ga"), &ga_users)?;
    let bus_socket =
        |name: &str| format!("unix:path={}", dir.join(format!("{name}.socket")).display());
    let main_bus = bus_socket("bus");
    let second_bus = bus_socket("bus2");
    let mfa_line = |args: &str| {
        format!(
            "auth required {} {args}\naccount required pam_permit.so\n",
            module.display()
        )
    };
    let services: Vec<(String, String)> = vec![
        (
            PERMIT.into(),
            "auth required pam_permit.so\naccount required pam_permit.so\n".into(),
        ),
        (
            GA.into(),
            format!(
                "auth required pam_google_authenticator.so secret={}/${{USER}} user=root\naccount required pam_permit.so\n",
                dir.join("ga").display()
            ),
        ),
        (MFA.into(), mfa_line(&format!("bus={main_bus}"))),
        (
            MFA_NO_BUS.into(),
            mfa_line(&format!(
                "bus=unix:path={}",
                dir.join("no-such-bus.socket").display()
            )),
        ),
        (MFA_NO_MFAD.into(), mfa_line(&format!("bus={second_bus}"))),
        (
            MFA_HUNG.into(),
            mfa_line(&format!("bus={main_bus} timeout={HUNG_TIMEOUT_MS}")),
        ),
        (
            MFA_BUS_HUNG.into(),
            mfa_line(&format!("bus={second_bus} timeout={HUNG_TIMEOUT_MS}")),
        ),
    ];
    world::private_pam_d(&dir, &services)?;
    let confdir = world::private_confdir(&dir, &services)?;

    // The 20k enrollments are 20k committed transactions; on this disk each fsync costs
    // 0.3 to 3 ms, so the store writes to a tmpfs and the closed file is then copied to disk.
    progress("seeding mfad's database through its own store code (on a tmpfs, then copied)");
    let db = dir.join("state").join("mfa.db");
    let scratch = dir.join("seed-tmpfs");
    fs::create_dir(&scratch).map_err(|e| BenchError::path("mkdir", &scratch, e))?;
    world::tmpfs(&scratch)?;
    let scratch_db = scratch.join("state").join("mfa.db");
    let seeded = seed::seed_database(&scratch_db, &users, t0)
        .and_then(|t| seed::install_state(&scratch.join("state"), &dir.join("state")).map(|()| t));
    world::unmount(&scratch)?;
    let seed_time = seeded?;
    let setup = Setup {
        users: opts.users,
        tokens: opts.users * 2,
        ga_users: ga_users.len(),
        seed_seconds: seed_time.as_secs_f64(),
        db_bytes: file_size(&db)?,
        load_before,
        load_after: String::new(),
        cores: thread::available_parallelism().map_or(0, |n| n.get()),
    };

    // ----- bus, mfad, cold start ----------------------------------------------------------
    let bus = Bus::start(&dir, "bus", &policy)?;
    let config = dir.join("mfad.toml");
    fs::write(&config, "# make bench: every setting at its default\n")
        .map_err(|e| BenchError::path("write", &config, e))?;
    let spec = MfadSpec {
        binary: mfad_bin.clone(),
        db: db.clone(),
        bus: bus.address.clone(),
        config: config.clone(),
        log: dir.join("mfad.log"),
    };
    progress("cold starts of mfad on the seeded database");
    let mut cold = Vec::new();
    let mut mfad = None;
    for _ in 0..5 {
        if let Some(m) = mfad.take() {
            Mfad::stop(m);
        }
        let (m, took) = Mfad::start(&spec, &sink)?;
        cold.push(took.as_secs_f64() * 1e3);
        mfad = Some(m);
    }
    let mut mfad = mfad.ok_or_else(|| BenchError::Setup("mfad did not start".into()))?;
    thread::sleep(Duration::from_millis(300));
    let rss_idle = mfad.status()?;

    // ----- 1. in-process PAM -------------------------------------------------------------
    progress("in-process logins: pam_permit, pam_google_authenticator, pam_mfa (interleaved)");
    // Blocks of one login: GA rewrites and fsyncs a new file per login, which on ext4 forces
    // a journal commit; back to back, each waits for the previous one (about 4 ms instead of
    // 2 ms here), which would measure the disk's journal rather than the module.
    let block = 1;
    let rounds = opts.in_process_logins + WARMUP;
    let first_user = account_name(0);
    let (in_process, threads) = {
        let mut contenders = [
            Contender::without_codes("permit", PERMIT, &first_user),
            Contender::with_codes("GA", GA, &mut ga_users),
            Contender::with_codes("pam_mfa", MFA, &mut users),
        ];
        let order = pam_loop::interleave(3, rounds, block)?;
        let logins = pam_loop::plan(&order, &mut contenders, now())?;
        let run = pam_loop::run(&loop_bin, &confdir, &dir, &logins)?;
        pam_loop::check_all(&order, &logins, &run.results, &contenders, PAM_SUCCESS)?;
        let max_after = run.results.iter().map(|r| r.threads).max().unwrap_or(0);
        let of = |c| Summary::of(&pam_loop::samples_of(&order, &run.results, c, WARMUP));
        (
            Comparison::new(of(0), of(1), of(2)),
            (run.baseline_threads, max_after),
        )
    };
    let mfa_logins_in_process = (rounds * block) as u64;

    // ----- 2. process level ----------------------------------------------------------------
    progress("process-level logins through pamtester (interleaved)");
    let pblock = 1;
    let prounds = opts.process_logins + WARMUP;
    let process_level = {
        let mut contenders = [
            Contender::without_codes("permit", PERMIT, &first_user),
            Contender::with_codes("GA", GA, &mut ga_users),
            Contender::with_codes("pam_mfa", MFA, &mut users),
        ];
        let order = pam_loop::interleave(3, prounds, pblock)?;
        let logins = pam_loop::plan(&order, &mut contenders, now())?;
        let results = pamtester::run(&logins)?;
        pam_loop::check_all(&order, &logins, &results, &contenders, PAM_SUCCESS)?;
        let of = |c| Summary::of(&pam_loop::samples_of(&order, &results, c, WARMUP));
        Comparison::new(of(0), of(1), of(2))
    };
    let mfa_logins_process = (prounds * pblock) as u64;
    let ga_checked = seed::check_ga_state(&dir.join("ga"), &ga_users, t0 / codes::PERIOD - 2)?;

    // ----- 3. the daemon over the bus -----------------------------------------------------
    progress("mfad over the bus: latency (1 client), then throughput");
    let ops = [Op::Ping, Op::Begin, Op::Verify, Op::VerifyNewConnection];
    let bblock = 25;
    let samples = busbench::latency(
        &bus.address,
        &mut users,
        &ops,
        opts.bus_samples.div_ceil(bblock),
        bblock,
    )?;
    let bus_verifies = (samples[2].len() + samples[3].len()) as u64;
    let sampler = RssSampler::start(mfad.pid(), Duration::from_millis(50));
    let mut throughput: Vec<Throughput> = Vec::new();
    for clients in [1, 16, 64] {
        for op in [Op::Ping, Op::Verify] {
            let t = busbench::throughput(
                &bus.address,
                &mut users,
                op,
                clients,
                Duration::from_secs_f64(opts.throughput_secs),
            )?;
            progress(&format!(
                "  {op:?} x{clients}: {:.0}/s (p50 {:.3} ms)",
                t.per_second,
                t.latency.p50_ms()
            ));
            throughput.push(t);
        }
    }
    let rss_load = sampler.finish();
    let throughput_verifies: u64 = throughput
        .iter()
        .filter(|t| t.op == Op::Verify)
        .map(|t| t.calls)
        .sum();
    let nss = nss_lookups(&users);
    let disk_sync = sync_latency(&dir.join("state"))?;
    let bus_report = BusReport {
        ping: Summary::of(&samples[0]),
        begin: Summary::of(&samples[1]),
        verify: Summary::of(&samples[2]),
        verify_new_connection: Summary::of(&samples[3]),
        throughput,
        nss_lookup: nss,
        disk_sync,
    };

    // ----- 5. fail closed -------------------------------------------------------------------
    progress("fail-closed latency");
    let user0 = account_name(0);
    let mut fail_closed = Vec::new();
    let fc = |service: &str, n: usize| {
        failclosed::measure(&loop_bin, &confdir, &dir, service, &user0, n)
    };
    fail_closed.push(Scenario {
        label: "no bus socket".into(),
        timeout_ms: 10_000,
        denial: Summary::of(&fc(MFA_NO_BUS, 20)?),
    });
    {
        let mut bus2 = Bus::start(&dir, "bus2", &policy)?;
        fail_closed.push(Scenario {
            label: "bus up, mfad not running".into(),
            timeout_ms: 10_000,
            denial: Summary::of(&fc(MFA_NO_MFAD, 20)?),
        });
        bus2.stop()?;
        let hung_bus = fc(MFA_BUS_HUNG, 3);
        bus2.resume()?;
        fail_closed.push(Scenario {
            label: "dbus-daemon hung (SIGSTOP)".into(),
            timeout_ms: HUNG_TIMEOUT_MS,
            denial: Summary::of(&hung_bus?),
        });
    }
    mfad.stop_process()?;
    let hung = fc(MFA_HUNG, 3);
    mfad.resume()?;
    fail_closed.push(Scenario {
        label: "mfad hung (SIGSTOP)".into(),
        timeout_ms: HUNG_TIMEOUT_MS,
        denial: Summary::of(&hung?),
    });
    thread::sleep(Duration::from_secs(1));
    let rss_after_load = mfad.status()?;

    // ----- 4. leak ------------------------------------------------------------------------------
    let leak_calls = opts.leak_calls.unwrap_or_else(|| {
        let rate = bus_report
            .throughput
            .iter()
            .find(|t| t.op == Op::Verify && t.clients == 16)
            .map_or(0.0, |t| t.per_second);
        if rate > 0.0 && 1e6 / rate <= 180.0 {
            1_000_000
        } else {
            100_000
        }
    });
    let plan = LeakPlan::for_calls(leak_calls);
    progress(&format!(
        "leak phase: {leak_calls} verifications ({} wrong codes per accepted one), mfad restarted \
         with rate_limit.base_delay_secs = 0",
        plan.failures_per_success
    ));
    Mfad::stop(mfad);
    let leak_config = dir.join("mfad-leak.toml");
    fs::write(&leak_config, LEAK_CONFIG).map_err(|e| BenchError::path("write", &leak_config, e))?;
    let leak_spec = MfadSpec {
        config: leak_config,
        ..spec.clone()
    };
    let (leak_mfad, _) = Mfad::start(&leak_spec, &sink)?;
    thread::sleep(Duration::from_millis(300));
    let leak = leak::run(&bus.address, &mut users, leak_mfad.pid(), plan)?;
    Mfad::stop(leak_mfad);

    // ----- cross-checks and the report --------------------------------------------------
    thread::sleep(Duration::from_millis(300));
    let expected_allows = mfa_logins_in_process
        + mfa_logins_process
        + bus_verifies
        + throughput_verifies
        + leak.accepted;
    let footprint = Footprint {
        rss_idle,
        rss_load,
        rss_after_load,
        cold_start_ms: cold,
        module_bytes: file_size(&module)?,
        ga_module_bytes: file_size(&ga_so)?,
        threads_baseline: threads.0,
        threads_after_pam_end: threads.1,
        leak,
    };
    let mut setup = setup;
    setup.load_after = loadavg();
    drop(bus);
    Ok(Report {
        setup,
        in_process,
        process_level,
        bus: bus_report,
        footprint,
        fail_closed,
        ga_state_files_checked: ga_checked,
        mfad_allow_lines: sink.allows(),
        expected_allow_lines: expected_allows,
    })
}

/// `fdatasync` after a 4 KiB write, 200 times, in the database's directory: the floor of
/// one committed step (SQLite in WAL mode with `synchronous=FULL` syncs the WAL once per
/// commit; GA fsyncs its rewritten file once per login).
fn sync_latency(dir: &Path) -> Result<Summary> {
    use std::io::{Seek, SeekFrom, Write};
    let p = dir.join("sync-probe");
    let mut f = fs::File::create(&p).map_err(|e| BenchError::path("create", &p, e))?;
    let block = [0x5au8; 4096];
    let mut samples = Vec::with_capacity(200);
    for _ in 0..200 {
        f.seek(SeekFrom::Start(0))
            .and_then(|_| f.write_all(&block))
            .map_err(|e| BenchError::path("write", &p, e))?;
        let start = Instant::now();
        f.sync_data()
            .map_err(|e| BenchError::path("fdatasync", &p, e))?;
        samples.push(start.elapsed());
    }
    drop(f);
    let _ = fs::remove_file(&p);
    Ok(Summary::of(&samples))
}

/// getpwnam of bench accounts spread over the 10k, as mfad does once per Begin: the part of
/// a Verify that belongs to NSS ("files") rather than to mfad.
fn nss_lookups(users: &[BenchUser]) -> Summary {
    let n = users.len().max(1);
    let samples: Vec<Duration> = (0..1000usize)
        .map(|i| {
            let name = &users[(i * 7919) % n].name;
            let start = Instant::now();
            let found = nix::unistd::User::from_name(name).ok().flatten().is_some();
            let took = start.elapsed();
            if found { took } else { Duration::ZERO }
        })
        .collect();
    Summary::of(&samples)
}
