//! mfad: see the library crate.
use clap::Parser;

fn main() -> std::process::ExitCode {
    match mfad::run(mfad::Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("mfad: {msg}");
            std::process::ExitCode::FAILURE
        }
    }
}
