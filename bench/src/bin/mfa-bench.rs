//! `make bench`: see the `mfa_bench` library. Prints the table and writes
//! `target/bench/results.json`.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Parser;

use mfa_bench::run::{self, Options};

/// pam_mfa measured side by side with pam_google_authenticator (needs root; changes
/// nothing on the host: everything runs in a private mount namespace).
#[derive(Debug, Parser)]
#[command(name = "mfa-bench")]
struct Cli {
    /// Cargo target directory with release/mfad, release/mfa-bench-pam and
    /// release-small/libpam_mfa.so (default: the one this program was built in).
    #[arg(long, value_name = "DIR")]
    target_dir: Option<PathBuf>,
    /// Where to write the results as JSON (default: TARGET_DIR/bench/results.json).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Verifications in the leak phase (default: 1,000,000 if this machine runs them within
    /// three minutes, else 100,000 with the growth extrapolated to 1M).
    #[arg(long, value_name = "N")]
    leak_calls: Option<u64>,
    /// A short run with small counts (checks that everything works; numbers are rough).
    #[arg(long)]
    quick: bool,
    /// Bench accounts, each with two mfad tokens (default 10,000; 2,000 with --quick). NSS
    /// `files` scans /etc/passwd line by line, so this sets the cost of each user lookup.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(100..=100_000))]
    users: Option<u32>,
    /// In-process logins per contender (default 1,000; 100 with --quick).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(10..=1_000_000))]
    logins: Option<u32>,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if !nix::unistd::geteuid().is_root() {
        bail!("make bench must run as root (private mount namespace, mfad owning its bus name)");
    }
    let target_dir = match cli.target_dir {
        Some(d) => d,
        None => {
            let exe = std::env::current_exe().context("locate this program")?;
            exe.parent()
                .and_then(|release| release.parent())
                .context("the program is not inside a cargo target directory; pass --target-dir")?
                .to_path_buf()
        }
    };
    // Absolute: the module's path goes into PAM files, where a relative one means
    // /lib/security.
    let target_dir = target_dir
        .canonicalize()
        .with_context(|| format!("{} (build first: make bench)", target_dir.display()))?;
    let out = cli
        .out
        .unwrap_or_else(|| target_dir.join("bench").join("results.json"));
    let mut opts = Options::new(target_dir);
    if cli.quick {
        opts.users = 2_000;
        opts.ga_users = 500;
        opts.in_process_logins = 100;
        opts.process_logins = 20;
        opts.bus_samples = 100;
        opts.throughput_secs = 1.0;
        opts.leak_calls = Some(10_000);
    }
    if let Some(users) = cli.users {
        opts.users = users as usize;
        opts.ga_users = opts.ga_users.min(opts.users);
    }
    if let Some(logins) = cli.logins {
        opts.in_process_logins = logins as usize;
    }
    if cli.leak_calls.is_some() {
        opts.leak_calls = cli.leak_calls;
    }
    let report = run::run(&opts)?;
    print!("{}", report.table());
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    }
    let json = serde_json::json!({ "report": report, "targets": report.verdicts() });
    std::fs::write(&out, serde_json::to_string_pretty(&json)?)
        .with_context(|| format!("write {}", out.display()))?;
    println!("\nResults written to {}", out.display());
    Ok(())
}
