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

// The allocator: jemalloc. Under the steady soak (node/examples/soak.rs) the node's live heap
// levels off at about 22 MB, mostly the store's 16 MiB page cache, and under 1 MB is left at
// exit (heaptrack), yet with glibc malloc the RSS climbed for the whole run (60 -> 76 MiB
// from minute 3 to minute 10, still rising): freed memory stays in its arenas. jemalloc's
// RSS stays 25-30 MiB below mimalloc's and its idle RSS is 22 MiB (mimalloc: 30, the
// budget), but over ten minutes it still rose by 20-28 % with the request rate, where
// mimalloc swung by up to 25 % around a flatter level (+7 % end to end). Figures in
// docs/performance.md. `--no-default-features` builds with glibc malloc,
// `--no-default-features --features mimalloc` with mimalloc.
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[cfg(all(feature = "mimalloc", not(feature = "jemalloc")))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
