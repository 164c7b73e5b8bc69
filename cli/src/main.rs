//! tanso: the one binary. Parses arguments, sets up logging, and hands off to the `node` library.
//!
//! Exit codes: 0 success, 1 the operation failed, 2 usage error (clap), 64 invalid
//! configuration detected before anything was bound, 77 the node key is encrypted and the
//! passphrase is missing or wrong.

mod calc;
mod cmd;
mod dashboard;
mod directory;
mod pact;
mod relay;
mod telemetry;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cmd::Cli::parse();
    match cmd::run(cli) {
        Ok(code) => code,
        Err(err) => {
            if let Some(io) = err.downcast_ref::<std::io::Error>()
                && io.kind() == std::io::ErrorKind::BrokenPipe
            {
                return ExitCode::SUCCESS;
            }
            eprintln!("tanso: {err:#}");
            if err.downcast_ref::<cmd::KeyLocked>().is_some() {
                return ExitCode::from(cmd::EXIT_KEY_LOCKED);
            }
            match err.downcast_ref::<cmd::ConfigInvalid>() {
                Some(_) => ExitCode::from(64),
                None => ExitCode::FAILURE,
            }
        }
    }
}
