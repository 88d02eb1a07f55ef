//! `mfactl doctor`: the command-line side of [`crate::doctor`]. It needs no daemon
//! connection of its own (an unreachable mfad is one of its findings), so it runs before
//! `crate::run` connects.

use std::io;

use crate::cli::DoctorArgs;
use crate::doctor::{self, BusChoice, Options, Root};
use crate::error::CliError;

/// Checks the set-up, prints the findings, and returns the exit status (0 clean, 1 warnings,
/// 2 errors); a failure to check at all is an error with exit status 3.
pub(crate) fn run(
    args: &DoctorArgs,
    bus_address: Option<&str>,
    json: bool,
) -> Result<u8, CliError> {
    let root = Root::new(&args.root)
        .map_err(|e| CliError::Doctor(format!("--root {}: {e}", args.root.display())))?;
    if !root.dir().is_dir() {
        return Err(CliError::Doctor(format!(
            "--root {}: not a directory",
            root.dir().display()
        )));
    }
    let bus = BusChoice::choose(bus_address, &root)
        .map_err(|e| CliError::Doctor(format!("cannot check mfad: {e}")))?;
    let options = Options {
        root,
        db: args.db.clone(),
        bus,
    };
    doctor::run(options, json, &mut io::stdout().lock())
}
