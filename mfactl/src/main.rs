//! `mfactl`: parse the command line, run it, turn the outcome into an exit status.
//!
//! Exit status: 0 success, 1 refused or failed, 2 bad arguments (clap's own usage errors
//! included); `mfactl doctor` has its own (see its help).
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;

use mfactl::cli::Cli;

fn main() -> ExitCode {
    // clap prints usage errors and exits with status 2 (0 for --help and --version).
    let cli = Cli::parse();
    match mfactl::run(cli) {
        Ok(status) => ExitCode::from(status),
        // The reader went away (`mfactl list | head -1`); the request itself succeeded.
        Err(e) if e.is_broken_pipe() => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mfactl: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
